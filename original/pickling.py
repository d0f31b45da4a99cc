"""Reading and writing 2012-style pickles without ever running code from them.

The 2012 system kept everything in pickles: data batches, ``batches.meta`` and the
checkpoints (cc2011 ``util.py`` L36-L83: ``cPickle.dump(..., HIGHEST_PROTOCOL)``, i.e.
protocol 2 under Python 2). A pickle is a program: unpickling may import and call any
global it names (``os.system`` included). So this module reads them with a
:class:`RestrictedUnpickler` whose ``find_class`` allows only

* numpy array / dtype / scalar reconstruction, under both the numpy-1 names that a
  2012 pickle carries (``numpy.core.multiarray``) and the numpy-2 ones;
* ``collections.OrderedDict`` and a few harmless builtins (set, frozenset, complex,
  slice, and ``_codecs.encode`` limited to the latin-1 codec that protocol 2 uses for
  bytes);
* the option classes of :mod:`alexnet.original.options`, also when a genuine 2012
  checkpoint names them by their old module name ``options``;

and refuses anything else with one line naming the file and the refused global. The
allowed callables are wrapped so they cannot be steered into something else either
(no object arrays, only ndarray subclasses numpy itself names), and the unpickler's
BUILD step (``__setstate__``) is checked before it runs: an array's state must name a
plain dtype, a shape within :data:`alexnet.limits.MAX_ELEMENTS` and exactly as many
bytes as that shape needs (an object array's state is a list: refused), and a dtype's
state may not set the flags that make numpy treat bytes as object pointers
(``hasobject``). Nothing of an object dtype is ever built, not even briefly. This needs
the pure-Python unpickler (``pickle._Unpickler``, whose opcode table can be extended);
its speed is no concern, since the big arrays arrive as single byte strings.

Writing uses protocol 2 so that Python 2 can read the files. Array data is written the
way Python 2's cPickle wrote it (a byte string, BINSTRING) instead of Python 3's
latin-1 detour, and arrays name ``numpy.core.multiarray._reconstruct``, the path a
2012-era numpy knows; reading therefore decodes legacy strings as latin-1 (numpy's
documented way to read Python 2 array pickles).
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

from alexnet.errors import AlexNetError, CheckpointError, LimitError
from alexnet.io import atomic_write_bytes
from alexnet.limits import check_shape, read_bytes
from alexnet.original import options

# --------------------------------------------------------------------------------------
# Reading


#: dtype flags that make numpy read an array's bytes as object pointers or through
#: Python calls (NPY_ITEM_HASOBJECT/REFCOUNT 0x01, NPY_LIST_PICKLE 0x02,
#: NPY_ITEM_IS_POINTER 0x04, NPY_NEEDS_PYAPI 0x10, NPY_USE_GETITEM 0x20,
#: NPY_USE_SETITEM 0x40); a genuine plain-data dtype has none of them.
_OBJECT_FLAGS = 0x01 | 0x02 | 0x04 | 0x10 | 0x20 | 0x40


def _plain_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, tuple | list) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise pickle.UnpicklingError(f"array shape {shape!r} is not a tuple of integers")
    return check_shape(shape, field="array shape", where="pickled array")


def _safe_ndarray(shape, dtype="f8", *args, **kwargs):
    """``numpy.ndarray`` as a pickle may call it: plain dtypes and bounded shapes only."""
    if args or kwargs:
        raise pickle.UnpicklingError("numpy.ndarray with a buffer or strides is refused")
    dt = _safe_dtype(dtype)
    return np.ndarray.__new__(np.ndarray, _plain_shape(shape), dt)


def _safe_reconstruct(cls, shape, dtype_char):
    if cls is not _safe_ndarray:
        raise pickle.UnpicklingError("array reconstruction of a class other than numpy.ndarray")
    return _safe_ndarray(shape, _safe_dtype(dtype_char))


def _safe_dtype(spec, *args):
    if isinstance(spec, np.dtype):
        dt = spec
    else:
        if not isinstance(spec, str | bytes):
            raise pickle.UnpicklingError(f"dtype spec {spec!r} is not a type code")
        if isinstance(spec, bytes):
            spec = spec.decode("latin-1")
        align = bool(args[0]) if args else False
        try:
            # copy=True: a later BUILD must never alter numpy's shared builtin dtypes
            dt = np.dtype(spec, align, True)
        except (TypeError, ValueError) as exc:
            raise pickle.UnpicklingError(f"bad dtype {spec!r} ({exc})") from None
    if dt.hasobject:
        raise pickle.UnpicklingError("object arrays are refused (they could hold any object)")
    return dt


def _check_dtype_state(state: Any) -> None:
    if not isinstance(state, tuple) or len(state) not in (8, 9):
        raise pickle.UnpicklingError(f"dtype state {state!r:.80} is not numpy's")
    flags = state[-1] if len(state) == 8 else state[7]
    if not isinstance(flags, int) or flags & _OBJECT_FLAGS:
        raise pickle.UnpicklingError("a dtype state that sets object flags (hasobject) is "
                                     "refused")


def _check_array_state(state: Any) -> None:
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise pickle.UnpicklingError("array state is not (version, shape, dtype, fortran, "
                                     "data)")
    _version, shape, dtype, _fortran, data = state if len(state) == 5 else (1, *state)
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("object arrays are refused (they could hold any object)")
    dims = _plain_shape(shape)
    if not isinstance(data, bytes | bytearray | str):
        raise pickle.UnpicklingError("array data that is not a byte string (an object "
                                     "array's list) is refused")
    need = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != need:
        raise pickle.UnpicklingError(f"array of shape {dims} and dtype {dtype} needs {need} "
                                     f"bytes, its data has {len(data)}")


def _safe_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("numpy scalar of an object dtype is refused")
    if isinstance(data, str):
        data = data.encode("latin-1")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _safe_encode(text, encoding="utf-8"):
    if encoding.lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with codec {encoding!r} is refused")
    return codecs.encode(text, "latin-1")


def _options_classes() -> dict[str, Any]:

    return {name: getattr(options, name) for name in options.PICKLABLE}


_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")


def _allowed(module: str, name: str) -> Any:
    if module in _NUMPY_MODULES:
        if name == "_reconstruct":
            return _safe_reconstruct
        if name == "scalar":
            return _safe_scalar
    if module == "numpy" and name == "ndarray":
        return _safe_ndarray
    if module == "numpy" and name == "dtype":
        return _safe_dtype
    if module in ("collections", "ordereddict") and name == "OrderedDict":
        return collections.OrderedDict
    if module in ("builtins", "__builtin__") and name in ("set", "frozenset", "complex", "slice"):
        return {"set": set, "frozenset": frozenset, "complex": complex, "slice": slice}[name]
    if module == "_codecs" and name == "encode":
        return _safe_encode
    if module in ("alexnet.original.options", "options"):
        classes = _options_classes()
        if name in classes:
            return classes[name]
    return None


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that can only build data (see the module docstring)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, *, source: str = "<pickle>"):
        super().__init__(file, encoding="latin1")
        self.source = source

    def load_build(self) -> None:
        """BUILD, checked first: numpy states are validated before ``__setstate__`` runs;
        any other object may only receive a plain dict of attributes (options classes)."""
        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, np.dtype):
            _check_dtype_state(state)
        elif isinstance(inst, np.ndarray):
            _check_array_state(state)
        super().load_build()
        if isinstance(inst, np.dtype | np.ndarray) and (
                inst.hasobject if isinstance(inst, np.dtype) else inst.dtype.hasobject):
            raise pickle.UnpicklingError("object arrays are refused")

    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed(module, name)
        if obj is None:
            raise CheckpointError(
                f"{self.source}: refused to load global {module}.{name} (only numpy arrays, "
                "plain containers and the options classes may appear in a 2012 pickle; "
                "nothing was executed)"
            )
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(f"{self.source}: persistent ids are not allowed in a 2012 pickle")


def load(path: str | Path, *, what: str = "pickle", error: type[AlexNetError] = CheckpointError):
    """Read one pickle file safely; any problem becomes ``error`` naming the file."""
    path = Path(path)
    data = read_bytes(path, what=what, error=error)
    return loads(data, source=str(path), what=what, error=error)


def loads(data: bytes, *, source: str = "<bytes>", what: str = "pickle",
          error: type[AlexNetError] = CheckpointError):
    if data[:2] == b"PK":
        data = _unzip(data, source, what, error)
    elif data[:2] == b"\x1f\x8b":
        import gzip
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise error(f"{source}: damaged gzip {what}: {exc}") from None
    if not data:
        raise error(f"{source}: empty file, expected a {what}")
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=source).load()
    except CheckpointError as exc:
        if error is CheckpointError:
            raise
        raise error(str(exc)) from None
    except LimitError as exc:
        raise error(f"{source}: {what}: {exc}") from None
    except (EOFError, pickle.UnpicklingError, struct.error, ValueError, TypeError, IndexError,
            KeyError, AttributeError, MemoryError, UnicodeDecodeError, RecursionError,
            OverflowError) as exc:
        kind = "truncated" if isinstance(exc, EOFError) or "truncated" in str(exc) else "damaged"
        raise error(f"{source}: {kind} {what} ({type(exc).__name__}: {exc})") from None


def _unzip(data: bytes, source: str, what: str, error) -> bytes:
    # --zip-save=1 wrote a zip archive with one member named 'data' (cc2011 util.py L60-L67)
    import zipfile
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return z.read("data")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise error(f"{source}: damaged zip {what}: {exc}") from None


# --------------------------------------------------------------------------------------
# Writing (protocol 2, Python-2 friendly)


class _Py2Global:
    """A reference to a global by module and name, written as a GLOBAL opcode."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle wants a callable; only its name is written
        raise TypeError(f"{self.module}.{self.name} is a name for the pickle stream only")


_RECONSTRUCT = _Py2Global("numpy.core.multiarray", "_reconstruct")
_NDARRAY = _Py2Global("numpy", "ndarray")
_DTYPE = _Py2Global("numpy", "dtype")
_SCALAR = _Py2Global("numpy.core.multiarray", "scalar")


class Py2Pickler(pickle._Pickler):
    """The pure-Python pickler, taught to write numpy arrays as Python 2 did."""

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file):
        super().__init__(file, protocol=2)

    def save_py2global(self, obj: _Py2Global) -> None:
        self.write(pickle.GLOBAL + obj.module.encode("ascii") + b"\n"
                   + obj.name.encode("ascii") + b"\n")
        self.memoize(obj)

    dispatch[_Py2Global] = save_py2global

    def save_bytes(self, obj: bytes) -> None:
        # Python 2's str: SHORT_BINSTRING / BINSTRING
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes

    def save_ndarray(self, arr: np.ndarray) -> None:
        if arr.dtype.hasobject:
            raise pickle.PicklingError("object arrays cannot be written to a 2012 pickle")
        fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
        data = (arr.T if fortran else arr).tobytes()
        state = (1, arr.shape, arr.dtype, fortran, data)
        self.save_reduce(_RECONSTRUCT, (_NDARRAY, (0,), b"b"), state, obj=arr)

    dispatch[np.ndarray] = save_ndarray

    def save_dtype(self, dt: np.dtype) -> None:
        _, args, state = dt.__reduce__()
        self.save_reduce(_DTYPE, args, state, obj=dt)

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, np.dtype):
            return self.save_dtype(obj)
        if isinstance(obj, np.generic) and not isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise pickle.PicklingError("object scalars cannot be written")
            return self.save_reduce(_SCALAR, (obj.dtype, obj.tobytes()), obj=obj)
        return super().save(obj, save_persistent_id)


def dumps(obj: Any) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf).dump(obj)
    return buf.getvalue()


def dump_atomic(obj: Any, path: str | Path, *, zipped: bool = False) -> None:
    """Pickle ``obj`` to ``path`` so that an interruption leaves the old file or none,
    never half a file (:func:`alexnet.io.atomic_write_bytes`, with the usual file mode).
    ``zipped`` writes a zip archive with one member ``data`` (2011 ``--zip-save=1``)."""
    payload = dumps(obj)
    if zipped:
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("data", payload)
        payload = buf.getvalue()
    atomic_write_bytes(path, payload, mode="umask")
