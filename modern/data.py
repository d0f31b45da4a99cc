"""Datasets for the modern port: decode once, cache as uint8, train from memory.

The 2012 runs read pre-packed batch files (JPEG bytes in pickles) and decoded them in
a background thread every epoch. On a CPU that decode would dominate, so here every
source is decoded ONCE into a uint8 (N, H, W, 3) array and cached as ``.npy`` files
keyed by the source's checksum; epochs then only crop, flip and add colour noise.

Sources (detected from the path):

``cifar-python``
    The official ``cifar-10-python.tar.gz`` (read straight from the tarball) or its
    extracted ``cifar-10-batches-py`` folder. The batches are Python-2 pickles; they
    are read with a RESTRICTED unpickler that can only build numpy arrays, dtypes and
    plain containers, so a tampered file can never run code. The official md5 is
    checked when the file carries the official name or when an md5 is given.
``image-folder``
    ``train/<class>/*`` and ``test/<class>/*`` (``val/`` is accepted for ``test/``),
    as a folder or as a ``.tar``/``.tar.gz`` read directly; a folder holding only
    ``val/`` (or ``test/``) serves evaluation. Classes are the sorted folder names
    (for CIFAR-10 and ImageNet wnids that is the official order), or the class list
    the caller gives (a checkpoint's).
    Every image is brought to ``size`` x ``size`` the 2012 way: shorter side scaled
    to ``size``, then the central square (images already that size are untouched).
    ImageNet: ``size=256``; CIFAR: ``size=32``.

Bad images: grayscale, CMYK, palette and alpha images are converted to RGB; images
that cannot be decoded (truncated, not an image) are skipped, reported by name, and
counted (``Dataset.skipped``).

``batches-2012``
    The 2012 batch folders that ``alexnet original convert-cifar`` and
    ``convert-images`` write (``batches.meta`` + ``data_batch_N``, pixels one image per
    column; :mod:`.batchfolder`), of any square size; brought to ``size`` like an image
    folder when the net wants another one.

Only what is asked for is decoded: ``splits`` names the splits to load (evaluation asks
for ``test`` alone, so the training split of ImageNet is never read to score a model)
and ``limit`` stops each split after its first N images, in the split's sorted order.
Other formats can plug in with :func:`register_source`.

The cache under interruption and contention: an entry is built in a sibling staging
folder ``<entry>.tmp-*`` and renamed into place whole, while its builder holds the entry's
lock (``<entry>.lock``, :func:`alexnet.io.entry_lock_path`). A second process that wants
the same entry waits for the lock (one line on stderr names the holder) and then reads the
finished entry; every build sweeps the staging copies that no live builder owns, so a
killed decode does not leave its full-size copy behind for good.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alexnet import archives
from alexnet.cifar import check_batch, meta_label_names
from alexnet.errors import ChecksumError, DataError
from alexnet.images import to_rgb
from alexnet.io import (
    STAGING_MARK,
    atomic_write_text,
    entry_lock_path,
    file_digests,
    fsync_path,
    lock_file,
    sweep_unlocked_staging,
)
from alexnet.modern import batchfolder
from alexnet.registry import CIFAR10_PYTHON_MD5, CIFAR10_PYTHON_NAME

#: The official CIFAR-10 python tarball (docs/reference/recreation.md#recreation-datasets)
#: is pinned in alexnet.registry (CIFAR10_PYTHON_NAME, CIFAR10_PYTHON_MD5).

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff",
                    ".webp")
#: Bump when decoding changes, so old caches are not reused.
CACHE_FORMAT = 1
#: The splits a dataset can hold (``val/`` folders are served as ``test``).
SPLITS = ("train", "test")


# --------------------------------------------------------------------------------------
# Data containers


@dataclass
class Split:
    """One split: ``images`` uint8 (N, H, W, 3) (possibly memory-mapped), ``labels`` int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class Dataset:
    """The loaded splits; ``train`` is None when only the test split was asked for."""

    train: Split | None
    test: Split | None
    classes: list[str]
    source: dict[str, Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def image_size(self) -> int:
        split = self.train if self.train is not None else self.test
        if split is None:
            raise DataError(f"{self.source.get('path')}: no images loaded")
        return int(split.images.shape[1])


class BadImage(Exception):
    """An image that cannot be decoded (internal; turned into a skip or a DataError)."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


# --------------------------------------------------------------------------------------
# Decoding one image


def decode_image(data: bytes | str | Path, size: int | None, *, name: str = "",
                 fast_jpeg: bool = True) -> np.ndarray:
    """Decode to RGB uint8 (H, W, 3); with ``size``, shorter side -> size, central square.

    ``fast_jpeg`` lets libjpeg decode large JPEGs at 1/2, 1/4 or 1/8 scale (never below
    the target size) before the bicubic resize; it changes pixels slightly and speeds
    up ImageNet-size photos several times.
    """
    from PIL import Image, ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    name = name or (str(data) if isinstance(data, str | Path) else "<bytes>")
    try:
        fp: Any = io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb")
    except OSError as exc:
        raise BadImage(name, f"cannot open ({exc.strerror or exc})") from None
    try:
        with fp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's DecompressionBomb/EXIF warnings
            try:
                img = Image.open(fp)
                w, h = img.size
                if size is not None and fast_jpeg and img.format == "JPEG" and (w, h) != (
                    size, size
                ):
                    s = size / min(w, h)
                    img.draft("RGB", (max(1, int(w * s)), max(1, int(h * s))))
                img.load()
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
                msg = str(exc) or type(exc).__name__
                if "cannot identify image file" in msg:
                    msg = "not an image file"
                raise BadImage(name, msg) from None
            img = to_rgb(img)  # 16-bit and float images scaled, not clipped
            if size is not None and img.size != (size, size):
                w, h = img.size
                s = size / min(w, h)
                nw, nh = max(size, round(w * s)), max(size, round(h * s))
                img = img.resize((nw, nh), Image.Resampling.BICUBIC)
                left, top = (nw - size) // 2, (nh - size) // 2
                img = img.crop((left, top, left + size, top + size))
            arr = np.asarray(img, dtype=np.uint8)
    except BadImage:
        raise
    except Exception as exc:  # any other decoder failure is still a bad image, not a crash
        raise BadImage(name, f"{type(exc).__name__}: {exc}") from None
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise BadImage(name, f"decoded to shape {arr.shape}, expected (H, W, 3)")
    return arr


# --------------------------------------------------------------------------------------
# Checksums


def _digest_cached(path: Path, cache_dir: Path) -> dict[str, str]:
    """sha256 + md5 of a file, remembered by (path, size, mtime) so big files hash once."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    book = cache_dir / "checksums.json"
    known: dict[str, Any] = {}
    try:
        known = json.loads(book.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known and isinstance(known[key], dict):
        return known[key]
    d = file_digests(path, ("sha256", "md5"))
    known[key] = d
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(book, json.dumps(known, indent=0, sort_keys=True))
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return d


def _folder_manifest_digest(files: list[tuple[str, Path]]) -> str:
    """A checksum of an extracted folder: relative names, sizes and mtimes (not contents)."""
    h = hashlib.sha256()
    for rel, p in files:
        st = p.stat()
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def verify_md5(path: Path, expected: str, actual: str) -> None:
    if actual.lower() != expected.lower():
        raise ChecksumError(f"{path}: md5 {actual}, expected {expected.lower()} "
                            "(corrupt or a different file)")


# --------------------------------------------------------------------------------------
# Restricted unpickling (CIFAR-10 python batches)

_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits numpy arrays, dtypes and plain containers; any other global is refused."""

    def __init__(self, fp, source: str):
        super().__init__(fp, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _NUMPY_GLOBALS:
            raise DataError(
                f"{self.source}: pickle refers to {module}.{name}; only numpy arrays are "
                "allowed (refusing to run code from a data file)"
            )
        if name == "_reconstruct":
            return _np_core_multiarray()._reconstruct
        if name == "scalar":
            return _np_core_multiarray().scalar
        if name == "encode":
            import codecs

            return codecs.encode
        return getattr(np, name)


def _np_core_multiarray():
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    return multiarray


def safe_unpickle(data: bytes, source: str) -> Any:
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source).load()
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{source}: not a readable pickle ({type(exc).__name__}: {exc})") from None


def _cifar_batch(obj: Any, source: str) -> tuple[np.ndarray, np.ndarray]:
    data, labels = check_batch(obj, source)
    # rows: 1024 red, 1024 green, 1024 blue, each 32x32 row-major -> (N, 32, 32, 3)
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_TEST = "test_batch"


def _read_cifar_members(read: Callable[[str], bytes | None], source: str) -> dict[str, Any]:
    def need(name: str) -> bytes:
        b = read(name)
        if b is None:
            raise DataError(f"{source}: missing {name} (expected the CIFAR-10 python layout)")
        return b

    meta = safe_unpickle(need("batches.meta"), f"{source}:batches.meta")
    classes = meta_label_names(meta, f"{source}:batches.meta")
    tr = [_cifar_batch(safe_unpickle(need(n), f"{source}:{n}"), f"{source}:{n}")
          for n in CIFAR_TRAIN]
    te = _cifar_batch(safe_unpickle(need(CIFAR_TEST), f"{source}:{CIFAR_TEST}"),
                      f"{source}:{CIFAR_TEST}")
    for lab, n in [(t[1], "train") for t in tr] + [(te[1], "test")]:
        if lab.size and (lab.min() < 0 or lab.max() >= len(classes)):
            raise DataError(f"{source}: {n} labels outside 0..{len(classes) - 1}")
    return {
        "train": (np.concatenate([t[0] for t in tr]), np.concatenate([t[1] for t in tr])),
        "test": te,
        "classes": classes,
    }


# --------------------------------------------------------------------------------------
# Source detection


@dataclass
class SourceInfo:
    kind: str
    path: Path
    checksum: str  # "sha256:<hex>" of a file, or "manifest-sha256:<hex>" of a folder
    extra: dict[str, Any] = field(default_factory=dict)


#: Extra sources (e.g. the 2012 batch format from the re-creation): tried first, in order.
#: detect(path) -> bool; load(path, size, cache_dir, workers, progress) -> Dataset (uncached).
_EXTRA_SOURCES: list[tuple[str, Callable[[Path], bool], Callable[..., Dataset]]] = []


def register_source(kind: str, detect: Callable[[Path], bool],
                    load: Callable[..., Dataset]) -> None:
    """Plug in another dataset format (the 2012 ``data_batch_N`` files, for instance)."""
    _EXTRA_SOURCES.append((kind, detect, load))


def _is_tar(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith((".tar", ".tar.gz", ".tgz"))


def skipped_in(ds: Dataset, split: str) -> list[tuple[str, str]]:
    """The skipped images of one split (``train`` or ``test``): an evaluation reports the
    test images it could not score, not the training images that training skipped."""
    return [(a, b) for a, b in ds.skipped if (_split_of(a) or ("", "", ""))[0] == split]


def _split_of(rel: str) -> tuple[str, str, str] | None:
    """'train/cat/0001.jpg' (optionally under one top folder) -> ('train', 'cat', rel)."""
    parts = [p for p in rel.split("/") if p and p != "."]
    for off in (0, 1):
        if len(parts) == off + 3 and parts[off] in ("train", "test", "val"):
            if parts[-1].lower().endswith(IMAGE_EXTENSIONS) and not parts[-1].startswith("."):
                return ("test" if parts[off] == "val" else parts[off], parts[off + 1],
                        "/".join(parts[off:]))
    return None


def detect_source(path: Path) -> str:
    for kind, detect, _ in _EXTRA_SOURCES:
        if detect(path):
            return kind
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        if batchfolder.is_batch_folder(path):
            return batchfolder.KIND
        if (path / "batches.meta").is_file() and (path / "data_batch_1").is_file():
            return "cifar-python"
        if (path / "cifar-10-batches-py" / "batches.meta").is_file():
            return "cifar-python"
        if any((path / d).is_dir() for d in ("train", "test", "val")):
            return "image-folder"
        raise DataError(f"{path}: expected train/<class>/ (or val/<class>/) images, the "
                        "2012 batch files (batches.meta + data_batch_N) or the CIFAR-10 "
                        "python batches")
    if _is_tar(path):
        if path.name == CIFAR10_PYTHON_NAME:
            return "cifar-python"
        try:
            with tarfile.open(path) as tf:
                for i, m in enumerate(tf):
                    base = m.name.rsplit("/", 1)[-1]
                    if base in ("batches.meta", "data_batch_1"):
                        return "cifar-python"
                    if m.isfile() and _split_of(m.name):
                        return "image-folder"
                    if i > 200:
                        break
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable tar archive ({exc})") from None
        raise DataError(f"{path}: archive holds neither train/<class>/ images nor CIFAR batches")
    raise DataError(f"{path}: expected a folder, a .tar/.tar.gz archive or "
                    f"{CIFAR10_PYTHON_NAME}")


# --------------------------------------------------------------------------------------
# Loading with a cache


def default_cache_dir() -> Path:
    env = os.environ.get("ALEXNET_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alexnet"


def load_dataset(
    path: str | Path,
    *,
    size: int | None = None,
    cache_dir: str | Path | None = None,
    md5: str | None = None,
    workers: int | None = None,
    fast_jpeg: bool = True,
    progress: bool = True,
    use_cache: bool = True,
    splits: tuple[str, ...] = SPLITS,
    limit: int | None = None,
    classes: list[str] | None = None,
) -> Dataset:
    """Load (and cache) a dataset; ``size`` is the stored square size (32, or 256).

    ``size=None`` keeps CIFAR's native 32 and, for image folders, means 32 too.
    ``splits`` are the splits to read (``("test",)`` to evaluate); ``limit`` decodes
    only the first N images of each; ``classes`` labels an image folder by this list
    (a checkpoint's) instead of its sorted folder names, refusing other folders.
    """
    path = Path(path).expanduser()
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    splits = tuple(splits)
    if not splits or any(sp not in SPLITS for sp in splits):
        raise DataError(f"splits {splits!r}: expected some of {', '.join(SPLITS)}")
    if limit is not None and limit < 1:
        raise DataError(f"limit {limit}: expected an integer >= 1")
    kind = detect_source(path)
    for k, _, loader in _EXTRA_SOURCES:
        if k == kind:
            return loader(path, size=size, cache_dir=cache, workers=workers, progress=progress)
    if kind == batchfolder.KIND:
        return _load_batch_folder(path, size, cache, splits, limit, progress, use_cache)

    extra: dict[str, Any] = {}
    if path.is_file():
        need_md5 = md5 is not None or path.name == CIFAR10_PYTHON_NAME
        digests = _digest_cached(path, cache) if use_cache else file_digests(
            path, ("sha256", "md5"))
        if need_md5:
            verify_md5(path, md5 or CIFAR10_PYTHON_MD5, digests["md5"])
            extra["md5"] = digests["md5"]
        checksum = "sha256:" + digests["sha256"]
        files: list[tuple[str, Path]] = []
    else:
        if md5 is not None:
            raise DataError(f"{path}: --md5 applies to a file, this is a folder")
        files = (_list_folder(path, splits) if kind == "image-folder"
                 else _list_cifar_dir(path))
        checksum = "manifest-sha256:" + _folder_manifest_digest(files)

    if kind == "cifar-python":
        if size not in (None, 32):
            raise DataError(f"{path}: CIFAR-10 images are 32x32; cannot serve {size}x{size}")
        size = 32
    else:
        size = size or 32
    src = SourceInfo(kind=kind, path=path, checksum=checksum, extra=extra)
    if kind == "cifar-python":
        # small enough to decode whole; cached once for every choice of splits
        entry = _cache_entry(cache, kind, checksum, size, fast_jpeg)
        ds = _read_cache(entry, src) if use_cache else None
        if ds is None:
            parts = _load_cifar(path)
            whole = {"train": parts["train"], "test": parts["test"]}
            ds = (_write_cache(entry, src, size, parts["classes"], whole, [], fast_jpeg)
                  if use_cache else _make_dataset(src, size, parts["classes"], whole, [],
                                                  fast_jpeg))
        if classes is not None and list(classes) != ds.classes:
            raise DataError(f"{path}: classes {ds.classes[:3]}... do not match the expected "
                            f"{list(classes)[:3]}...")
        return select(ds, splits, limit)
    entry = _cache_entry(cache, kind, checksum, size, fast_jpeg, splits, limit, classes)
    if use_cache:
        ds = _read_cache(entry, src)
        if ds is not None:
            return ds
    return _load_image_folder(path, files, src, size, entry, workers, fast_jpeg, progress,
                              use_cache, splits, limit, classes)


def _cache_entry(cache: Path, kind: str, checksum: str, size: int, fast_jpeg: bool,
                 splits: tuple[str, ...] = SPLITS, limit: int | None = None,
                 classes: list[str] | None = None) -> Path:
    """The cache folder of one (source, size, splits, limit, class list) choice."""
    parts: list[Any] = [CACHE_FORMAT, kind, checksum, size, bool(fast_jpeg)]
    if tuple(splits) != SPLITS or limit is not None or classes is not None:
        parts += [list(splits), limit, list(classes) if classes is not None else None]
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]
    return cache / f"{kind}-{key}"


def select(ds: Dataset, splits: tuple[str, ...], limit: int | None) -> Dataset:
    """The dataset with only ``splits`` kept, each cut to its first ``limit`` images."""
    def cut(sp: Split | None, name: str) -> Split | None:
        if sp is None or name not in splits:
            return None
        if limit is None or limit >= len(sp):
            return sp
        return Split(sp.images[:limit], sp.labels[:limit])

    return Dataset(train=cut(ds.train, "train"), test=cut(ds.test, "test"),
                   classes=ds.classes, source=ds.source, skipped=ds.skipped)


def _load_batch_folder(path: Path, size: int | None, cache: Path, splits: tuple[str, ...],
                       limit: int | None, progress: bool, use_cache: bool) -> Dataset:
    """A 2012 batch folder -> cached (N, size, size, 3) splits, one batch file at a time.

    Images are written straight into the cache's memory-mapped arrays (an ImageNet-size
    folder never has to fit in memory); a folder of another image size than ``size`` is
    resized the way image folders are (shorter side, centre: the whole square).
    """
    from tqdm import tqdm

    folder = batchfolder.open_batch_folder(path)
    size = size or folder.size
    checksum = "manifest-sha256:" + _folder_manifest_digest([(p.name, p) for p in folder.files])
    src = SourceInfo(kind=batchfolder.KIND, path=path, checksum=checksum,
                     extra={"stored_size": folder.size, "split_rule": folder.split_rule,
                            "batches": {k: v for k, v in folder.splits.items()}})
    entry = _cache_entry(cache, batchfolder.KIND, checksum, size, False, splits, limit)
    if use_cache:
        ds = _read_cache(entry, src)
        if ds is not None:
            return ds
    wanted = [sp for sp in splits if folder.splits.get(sp)]
    if not wanted:
        raise DataError(f"{path}/batches.meta: no {' or '.join(splits)} batches")
    # the staging copy is this entry's even without use_cache: hold its lock either way
    with _building(entry, src, check=use_cache) as done:
        if done is not None:
            return done
        tmp_root = Path(tempfile.mkdtemp(prefix=entry.name + STAGING_MARK, dir=entry.parent))
        try:
            out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for sp in wanted:
                nums = folder.splits[sp]
                cap = (folder.cases_per_batch or 1) * len(nums)
                if limit is not None:
                    cap = min(cap, limit)
                arr = np.lib.format.open_memmap(tmp_root / f"{sp}_images.npy", mode="w+",
                                                dtype=np.uint8, shape=(cap, size, size, 3))
                labels: list[np.ndarray] = []
                n = 0
                bar = tqdm(total=len(nums), desc=f"reading {path.name} ({sp})", unit="batch",
                           disable=not progress, leave=False)
                for images, lab in batchfolder.iter_batches(folder, sp):
                    bar.update(1)
                    if limit is not None:
                        images, lab = images[: limit - n], lab[: limit - n]
                    if size != folder.size:
                        images = np.stack([_resize_square(im, size) for im in images])
                    if n + len(lab) > arr.shape[0]:  # a batch larger than num_cases_per_batch
                        arr.flush()
                        bigger = np.lib.format.open_memmap(
                            tmp_root / f"{sp}_images.grow.npy", mode="w+", dtype=np.uint8,
                            shape=(max(2 * arr.shape[0], n + len(lab)), size, size, 3))
                        bigger[:n] = arr[:n]
                        del arr
                        os.replace(tmp_root / f"{sp}_images.grow.npy",
                                   tmp_root / f"{sp}_images.npy")
                        arr = bigger
                    arr[n : n + len(lab)] = images
                    labels.append(lab)
                    n += len(lab)
                    if limit is not None and n >= limit:
                        break
                bar.close()
                arr.flush()
                out[sp] = (arr[:n], np.concatenate(labels) if labels else np.zeros(0, np.int64))
            if use_cache:
                return _finish_cache(entry, tmp_root, src, size, folder.classes, out, [], False)
            return _make_dataset(src, size, folder.classes,
                                 {k: (np.array(a), b) for k, (a, b) in out.items()}, [], False)
        finally:
            if tmp_root.exists():
                shutil.rmtree(tmp_root, ignore_errors=True)


def _resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """A square uint8 image to size x size (bicubic), as :func:`decode_image` would."""
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))


def _list_cifar_dir(path: Path) -> list[tuple[str, Path]]:
    d = path / "cifar-10-batches-py" if (path / "cifar-10-batches-py").is_dir() else path
    names = ["batches.meta", *CIFAR_TRAIN, CIFAR_TEST]
    return [(n, d / n) for n in names if (d / n).is_file()]


def _load_cifar(path: Path) -> dict[str, Any]:
    if path.is_dir():
        d = path / "cifar-10-batches-py" if (path / "cifar-10-batches-py").is_dir() else path

        def read(name: str) -> bytes | None:
            p = d / name
            return p.read_bytes() if p.is_file() else None

        return _read_cifar_members(read, str(path))
    # a CIFAR-10 tarball has one publisher and a fixed layout: a link, a special file or
    # an unsafe name in it means it is not that file, so it is refused, not skipped
    try:
        with tarfile.open(path) as tf:
            members = {m.name.rsplit("/", 1)[-1]: m
                       for m in archives.files(tf.getmembers(), str(path))}

            def read(name: str) -> bytes | None:
                m = members.get(name)
                return None if m is None else archives.read(tf, m, str(path))

            return _read_cifar_members(read, str(path))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: truncated or unreadable archive ({exc})") from None


def _list_folder(path: Path, splits: tuple[str, ...] = SPLITS) -> list[tuple[str, Path]]:
    out = []
    for split_dir in ("train", "test", "val"):
        root = path / split_dir
        if not root.is_dir() or ("test" if split_dir == "val" else split_dir) not in splits:
            continue
        for cls in sorted(p for p in root.iterdir() if p.is_dir()):
            for f in sorted(cls.iterdir()):
                rel = f"{split_dir}/{cls.name}/{f.name}"
                if f.is_file() and _split_of(rel):
                    out.append((rel, f))
    if not out:
        where = " or ".join("test/<class>/ or val/<class>/" if sp == "test"
                            else f"{sp}/<class>/" for sp in splits)
        raise DataError(f"{path}: no images under {where}")
    return out


def _iter_image_sources(path: Path, files: list[tuple[str, Path]], wanted: set[str]
                        ) -> Iterator[tuple[str, bytes | Path]]:
    """(relative name, bytes or file path) of the ``wanted`` images in a forward-only
    order (tar: archive order; the others are skipped without being read)."""
    if path.is_dir():
        yield from ((rel, p) for rel, p in files if rel in wanted)
        return
    try:
        with tarfile.open(path, mode="r|*") as tf:  # streaming: never seeks back in a .gz
            for m in archives.screen(tf, str(path), []):  # counted by _tar_names already
                if m.name in wanted:
                    yield m.name, archives.read(tf, m, str(path))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: truncated or unreadable archive ({exc})") from None


def _tar_names(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Image members of an archive, and the members named like images that are not read
    (links, special files, unsafe names), with why; reads the archive to the very end so
    truncation is noticed.

    An image-folder tarball is the user's own: one odd member (a symbolic link a ``tar``
    of a folder kept) should not cost the data set, so it is skipped and reported with
    the images that could not be decoded (``Dataset.skipped``), never followed.
    """
    skipped: list[tuple[str, str]] = []

    def names_of(tf: tarfile.TarFile) -> list[str]:
        found: list[tuple[str, str]] = []
        names = [m.name for m in archives.screen(tf, str(path), found) if _split_of(m.name)]
        skipped.extend(s for s in found if _split_of(s[0]))
        return names

    try:
        if path.name.lower().endswith((".gz", ".tgz")):
            with gzip.open(path, "rb") as g, tarfile.open(fileobj=g, mode="r|") as tf:
                names = names_of(tf)
                while g.read(1 << 20):  # a cut-off gzip stream raises EOFError here
                    pass
                return names, skipped
        with tarfile.open(path, mode="r|*") as tf:
            return names_of(tf), skipped
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or unreadable archive ({exc})") from None


def _load_image_folder(path, files, src, size, entry, workers, fast_jpeg, progress, use_cache,
                       wanted_splits=SPLITS, limit=None, given_classes=None):
    from tqdm import tqdm

    names, not_read = ([rel for rel, _ in files], []) if path.is_dir() else _tar_names(path)
    parsed = {n: _split_of(n) for n in names}
    by_split: dict[str, list[str]] = {"train": [], "test": []}
    for n in names:
        sp = parsed[n]
        assert sp is not None
        if sp[0] in wanted_splits:
            by_split[sp[0]].append(n)
    if "train" in wanted_splits and not by_split["train"]:
        raise DataError(f"{path}: no images under train/<class>/")
    if not any(by_split.values()):
        raise DataError(f"{path}: no images under test/<class>/ or val/<class>/")
    if given_classes is not None:
        classes = list(given_classes)
        where = "the expected classes"
    else:
        labelled = by_split["train"] or by_split["test"]
        classes = sorted({parsed[n][1] for n in labelled})  # type: ignore[index]
        where = "a train/ folder" if by_split["train"] else "the class list"
    cidx = {c: i for i, c in enumerate(classes)}
    for lst in by_split.values():
        for n in lst:
            if parsed[n][1] not in cidx:  # type: ignore[index]
                raise DataError(f"{path}: class folder {parsed[n][1]!r} is not in {where} "  # type: ignore[index]
                                f"({len(classes)} classes: {', '.join(classes[:3])}...)")
    # Sorted (class, name) order inside each split, whatever the archive order.
    slot: dict[str, tuple[str, int]] = {}
    counts = {}
    for sp, lst in list(by_split.items()):
        if not lst:
            del by_split[sp]
            continue
        lst.sort(key=lambda n: (parsed[n][1], parsed[n][2]))  # type: ignore[index]
        if limit is not None:
            del lst[limit:]
        for i, n in enumerate(lst):
            slot[n] = (sp, i)
        counts[sp] = len(lst)

    with _building(entry, src, check=True) if use_cache else nullcontext() as done:
        if done is not None:
            return done
        tmp_root = None
        if use_cache:
            tmp_root = Path(tempfile.mkdtemp(prefix=entry.name + STAGING_MARK,
                                             dir=entry.parent))
        try:
            arrays, labels, ok = {}, {}, {}
            for sp, n in counts.items():
                if tmp_root is not None:
                    arrays[sp] = np.lib.format.open_memmap(
                        tmp_root / f"{sp}_images.npy", mode="w+", dtype=np.uint8,
                        shape=(n, size, size, 3))
                else:
                    arrays[sp] = np.zeros((n, size, size, 3), np.uint8)
                labels[sp] = np.array([cidx[parsed[x][1]] for x in by_split[sp]],  # type: ignore[index]
                                      dtype=np.int64)
                ok[sp] = np.zeros(n, bool)
            skipped: list[tuple[str, str]] = list(not_read)
            nw = workers or min(8, os.cpu_count() or 1)

            def work(item):
                rel, data = item
                try:
                    return rel, decode_image(data, size, name=rel, fast_jpeg=fast_jpeg), None
                except BadImage as exc:
                    return rel, None, exc.reason

            bar = tqdm(total=len(slot), desc=f"decoding {path.name}", unit="img",
                       disable=not progress, leave=False)
            with ThreadPoolExecutor(max_workers=nw) as pool:
                pending: list = []
                for item in _iter_image_sources(path, files, set(slot)):
                    pending.append(pool.submit(work, item))
                    if len(pending) >= 4 * nw * 16:
                        _drain(pending[: len(pending) // 2], slot, arrays, ok, skipped, bar)
                        pending = pending[len(pending) // 2:]
                _drain(pending, slot, arrays, ok, skipped, bar)
            bar.close()
            splits = {}
            for sp in counts:
                keep = ok[sp]
                if keep.all():
                    splits[sp] = (arrays[sp], labels[sp])
                else:  # compact in place: every destination index is <= its source index
                    idx = np.flatnonzero(keep)
                    a = arrays[sp]
                    for dst, s in enumerate(idx):
                        if dst != s:
                            a[dst] = a[s]
                    splits[sp] = (a[: len(idx)], labels[sp][idx])
            skipped.sort()
            if tmp_root is not None:
                for a in arrays.values():
                    if isinstance(a, np.memmap):
                        a.flush()
                return _finish_cache(entry, tmp_root, src, size, classes, splits, skipped,
                                     fast_jpeg)
            return _make_dataset(src, size, classes, splits, skipped, fast_jpeg)
        finally:
            if tmp_root is not None and tmp_root.exists():
                shutil.rmtree(tmp_root, ignore_errors=True)


def _drain(futs, slot, arrays, ok, skipped, bar) -> None:
    for fu in futs:
        rel, arr, reason = fu.result()
        bar.update(1)
        if arr is None:
            skipped.append((rel, reason))
            continue
        sp, i = slot[rel]
        arrays[sp][i] = arr
        ok[sp][i] = True


def _source_json(src: SourceInfo, size: int, fast_jpeg: bool) -> dict[str, Any]:
    d = {"path": str(src.path), "kind": src.kind, "checksum": src.checksum, "size": size,
         "resize": "shorter-side-then-centre" if src.kind != "cifar-python" else "none",
         "fast_jpeg": bool(fast_jpeg) if src.kind != "cifar-python" else False}
    d.update(src.extra)
    return d


def _make_dataset(src, size, classes, splits, skipped, fast_jpeg) -> Dataset:
    tr = Split(*splits["train"]) if "train" in splits else None
    te = Split(*splits["test"]) if "test" in splits and len(splits["test"][1]) else None
    return Dataset(train=tr, test=te, classes=list(classes),
                   source=_source_json(src, size, fast_jpeg), skipped=list(skipped))


def _write_cache(entry, src, size, classes, splits, skipped, fast_jpeg) -> Dataset:
    with _building(entry, src, check=False):
        tmp_root = Path(tempfile.mkdtemp(prefix=entry.name + STAGING_MARK, dir=entry.parent))
        try:
            for sp, (imgs, _) in splits.items():
                np.save(tmp_root / f"{sp}_images.npy", imgs, allow_pickle=False)
            return _finish_cache(entry, tmp_root, src, size, classes, splits, skipped, fast_jpeg)
        finally:
            if tmp_root.exists():
                shutil.rmtree(tmp_root, ignore_errors=True)


def _finish_cache(entry, tmp_root, src, size, classes, splits, skipped, fast_jpeg) -> Dataset:
    """Labels + meta.json (written last) into tmp_root, then rename it into place."""
    counts = {}
    for sp, (_, lab) in splits.items():
        np.save(tmp_root / f"{sp}_labels.npy", np.asarray(lab, np.int64), allow_pickle=False)
        counts[sp] = int(len(lab))
    meta = {"format": CACHE_FORMAT, "classes": list(classes), "counts": counts,
            "source": _source_json(src, size, fast_jpeg), "skipped": [list(s) for s in skipped]}
    for f in tmp_root.iterdir():
        fsync_path(f)
    atomic_write_text(tmp_root / "meta.json", json.dumps(meta, indent=1))
    try:
        os.replace(tmp_root, entry)
    except OSError:
        if not (entry / "meta.json").is_file():  # a stale half-entry: replace it
            shutil.rmtree(entry, ignore_errors=True)
            os.replace(tmp_root, entry)
    ds = _read_cache(entry, src)
    if ds is None:
        raise DataError(f"{entry}: cache entry unreadable right after writing it")
    return ds


@contextmanager
def _building(entry: Path, src: SourceInfo, *, check: bool) -> Iterator[Dataset | None]:
    """Hold ``entry``'s build lock for the block; yield the entry if it is already built.

    A second process that wants an entry while another builds it waits, with one line
    saying for whom, rather than failing: what it waits for is exactly what it needs, and
    it then reads the finished entry instead of decoding the data set a second time (the
    kernel drops a dead builder's lock, so the wait ends). Once the lock is taken, staging
    copies that no live builder owns are swept, this entry's first (they are stale by the
    lock we hold), so an interrupted decode never leaves its full-size copy for good.
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    with lock_file(entry_lock_path(entry), owner=entry, what="cache entry", wait=True,
                   on_wait=lambda line: print(line, file=sys.stderr, flush=True)):
        done = _read_cache(entry, src) if check else None
        if done is None:
            sweep_unlocked_staging(entry.parent, held=entry)
        yield done


def _read_cache(entry: Path, src: SourceInfo) -> Dataset | None:
    meta_p = entry / "meta.json"
    if not meta_p.is_file():
        return None
    try:
        meta = json.loads(meta_p.read_text())
        if meta.get("format") != CACHE_FORMAT or meta["source"]["checksum"] != src.checksum:
            return None
        splits = {}
        for sp, n in meta["counts"].items():
            imgs = np.load(entry / f"{sp}_images.npy", mmap_mode="r", allow_pickle=False)
            labs = np.load(entry / f"{sp}_labels.npy", allow_pickle=False)
            if labs.shape != (n,) or imgs.shape[0] < n:
                return None
            splits[sp] = (imgs[:n], labs)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # damaged cache: rebuild it
    source = dict(meta["source"])
    source["path"] = str(src.path)
    return Dataset(
        train=Split(*splits["train"]) if "train" in splits else None,
        test=Split(*splits["test"]) if "test" in splits and meta["counts"]["test"] else None,
        classes=list(meta["classes"]), source=source,
        skipped=[(a, b) for a, b in meta.get("skipped", [])],
    )
