"""Bounds on every size that comes from a file, checked before anything is allocated.

A file can claim any size: a cfg layer with 10**9 filters, a checkpoint JSON whose
``model_config`` asks for a network of terabytes, a pickled array header of shape
(2**40,), a FIFO or ``/dev/zero`` given where a cfg file is expected. Each reader asks
here before it trusts such a number, and the refusal names the file, the field, the value
and the bound (a :class:`~alexnet.errors.LimitError`), so nobody waits for a machine
that is swapping itself to death.

The bounds are generous multiples of the largest real input (AlexNet2012's biggest
tensor, fc6's weights, has 37,748,736 elements; an ILSVRC-2012 2012-format batch is
about 300 MB), so no genuine file comes near them.
"""

from __future__ import annotations

import os
import stat
from math import prod
from pathlib import Path

from alexnet.errors import AlexNetError, LimitError

#: Elements in one tensor/array read from a file (2**31: 8 GiB of float32; fc6 is 3.8e7).
MAX_ELEMENTS = 1 << 31
#: Bytes of all parameters a rebuilt network may need (16 GiB; AlexNet2012 needs 244 MB).
MAX_PARAM_BYTES = 16 << 30
#: Bytes of a text file a person writes (cfg files, params.yaml, a checkpoint's JSON).
MAX_TEXT_BYTES = 64 << 20
#: Length of one 2012 option expression kept in a checkpoint (eval'd there, parsed here).
MAX_EXPRESSION_CHARS = 4096
#: Any one dimension (channels, filters, image side, units) declared in a cfg or config.
MAX_DIMENSION = 1 << 20
#: Bytes of one archive member read whole into memory (256 MiB; the largest real one, a
#: CIFAR-10 python batch, is 31 MB; an ILSVRC-2012 photograph is a few MB).
MAX_MEMBER_BYTES = 256 << 20


def regular_file(path: str | Path, *, what: str = "file",
                 error: type[AlexNetError] = AlexNetError,
                 max_bytes: int | None = None) -> Path:
    """``path`` if it is a regular file (after symlinks) not larger than ``max_bytes``.

    A FIFO, a device (``/dev/zero``), a socket or a folder where a file is expected would
    hang the reader or read forever; they are refused with one line instead.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{path}: is a folder, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: not a regular file (a pipe, device or socket), expected a "
                    f"{what}")
    if max_bytes is not None and st.st_size > max_bytes:
        raise LimitError(f"{path}: {st.st_size:,} bytes, more than the {max_bytes:,} bytes "
                         f"this package accepts for a {what}")
    return path


def read_bytes(path: str | Path, *, what: str = "file",
               error: type[AlexNetError] = AlexNetError,
               max_bytes: int | None = None) -> bytes:
    """The content of a regular file (see :func:`regular_file`), as one clear error if not."""
    p = regular_file(path, what=what, error=error, max_bytes=max_bytes)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise error(f"{p}: cannot read {what}: {exc.strerror or exc}") from None


def read_text(path: str | Path, *, what: str = "file",
              error: type[AlexNetError] = AlexNetError,
              max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A bounded UTF-8 text file (see :func:`read_bytes`)."""
    data = read_bytes(path, what=what, error=error, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text at byte {exc.start}, expected a {what}") from None


def check_count(value: int, *, field: str, where: str, bound: int = MAX_DIMENSION,
                minimum: int = 0) -> int:
    """``value`` if ``minimum <= value <= bound``, else a :class:`LimitError` naming both."""
    if value < minimum:
        raise LimitError(f"{where}: {field} = {value}, must be at least {minimum}")
    if value > bound:
        raise LimitError(f"{where}: {field} = {value:,}, more than the bound {bound:,}")
    return value


def check_shape(shape: tuple[int, ...] | list[int], *, field: str, where: str,
                bound: int = MAX_ELEMENTS) -> tuple[int, ...]:
    """A tensor shape of non-negative dimensions whose element count is within ``bound``."""
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise LimitError(f"{where}: {field} has a negative dimension {dims}")
    n = prod(dims)
    if n > bound:
        raise LimitError(f"{where}: {field} of shape {dims} has {n:,} elements, more than "
                         f"the bound {bound:,}")
    return dims
