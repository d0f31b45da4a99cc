"""The 2012 data-batch format on disk, and converters into it.

A data folder of the 2011/2012 system (cc2011 ``data.py`` L30-L33, L69-L102;
docs/reference/formats.md#formats-batches) holds

``batches.meta``
    a pickled dict: ``label_names`` (its length is the class count), ``num_vis`` (values
    per image, 3*size*size), ``data_mean`` (float32, ``(num_vis, 1)``: the mean image in
    channel, row, column order), ``num_cases_per_batch``; ImageNet folders also carry
    ``color_pca`` = (per-component standard deviations (3,), eigenvectors as the columns
    of a 3x3 matrix) for the colour noise, and ``img_size``.
``data_batch_<N>``
    a pickled dict: ``data`` uint8 ``(num_vis, cases)`` (ONE IMAGE PER COLUMN, pixel
    index c*size*size + y*size + x, RGB), ``labels`` (list of 0-based class indices),
    ``batch_label``, ``filenames``. A batch may also be split into
    ``data_batch_<N>.1``, ``.2``, ... whose columns are concatenated.

CIFAR-10 conventionally becomes batches 1-5 (training, 10,000 images each) and batch 6
(the test set), the numbering of the 2011 example nets' notes (``--train-range=1-5
--test-range=6``). ImageNet-style photographs become 256x256 images: shorter side scaled
to 256, then the central 256x256 square, as the paper describes (section 2).

Everything is written with :func:`alexnet.original.pickling.dump_atomic` (protocol 2,
Python-2 readable) and read back through the restricted unpickler.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from alexnet import archives
from alexnet.cifar import check_batch, meta_label_names
from alexnet.color_pca import PixelMoments, color_pca_2012, image_step
from alexnet.errors import ChecksumError, DataError
from alexnet.images import to_rgb
from alexnet.io import file_digests
from alexnet.original import pickling
from alexnet.registry import CIFAR10_CLASSES, CIFAR10_PYTHON_MD5, CIFAR10_PYTHON_NAME

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp")

# --------------------------------------------------------------------------------------
# Reading and writing


def batch_path(folder: str | Path, num: int) -> Path:
    return Path(folder) / f"data_batch_{num}"


def write_batch(folder: str | Path, num: int, data: np.ndarray, labels: Iterable[int], *,
                batch_label: str = "", filenames: list[str] | None = None) -> Path:
    """Write ``data_batch_<num>``; ``data`` is uint8 (num_vis, cases)."""
    data = np.ascontiguousarray(data)
    labels = [int(v) for v in labels]
    if data.ndim != 2 or data.dtype != np.uint8:
        raise DataError(f"batch {num}: data must be a uint8 (values, cases) matrix, got "
                        f"{data.dtype} {data.shape}")
    if len(labels) != data.shape[1]:
        raise DataError(f"batch {num}: {len(labels)} labels for {data.shape[1]} images")
    dic = {"data": data, "labels": labels, "batch_label": batch_label or f"batch {num}",
           "filenames": list(filenames) if filenames else []}
    path = batch_path(folder, num)
    pickling.dump_atomic(dic, path)
    return path


def write_meta(folder: str | Path, *, label_names: list[str], data_mean: np.ndarray,
               num_cases_per_batch: int, extra: dict[str, Any] | None = None) -> Path:
    mean = np.asarray(data_mean, dtype=np.float32).reshape(-1, 1)
    dic: dict[str, Any] = {"label_names": list(label_names), "num_vis": int(mean.shape[0]),
                           "data_mean": mean, "num_cases_per_batch": int(num_cases_per_batch)}
    dic.update(extra or {})
    path = Path(folder) / "batches.meta"
    pickling.dump_atomic(dic, path)
    return path


def read_meta(folder: str | Path) -> dict[str, Any]:
    """Read and check ``batches.meta`` (DataError naming the file on any problem)."""
    path = Path(folder) / "batches.meta"
    if not path.is_file():
        raise DataError(f"{path}: no batches.meta in the data folder (expected the 2012 "
                        "format: batches.meta + data_batch_N files)")
    meta = pickling.load(path, what="batches.meta", error=DataError)
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a dict, got {type(meta).__name__}")
    for key in ("num_vis", "data_mean", "label_names"):
        if key not in meta:
            raise DataError(f"{path}: key {key!r} missing")
    mean = meta["data_mean"]
    if not isinstance(mean, np.ndarray) or mean.size != int(meta["num_vis"]):
        raise DataError(f"{path}: data_mean must be an array of num_vis={meta['num_vis']} "
                        f"values, got {getattr(mean, 'shape', type(mean).__name__)}")
    meta["data_mean"] = np.asarray(mean, dtype=np.float32).reshape(-1, 1)
    return meta


def _batch_parts(folder: Path, num: int) -> list[Path]:
    whole = batch_path(folder, num)
    if whole.is_file():
        return [whole]
    parts = []
    k = 1
    while (folder / f"data_batch_{num}.{k}").is_file():
        parts.append(folder / f"data_batch_{num}.{k}")
        k += 1
    if not parts:
        raise DataError(f"{whole}: no such batch file (nor split parts {whole.name}.1, ...)")
    return parts


def read_batch(folder: str | Path, num: int, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read ``data_batch_<num>`` (or its split parts) and check it against the meta."""
    folder = Path(folder)
    meta = meta if meta is not None else read_meta(folder)
    datas, labels = [], []
    for path in _batch_parts(folder, num):
        dic = pickling.load(path, what="data batch", error=DataError)
        if not isinstance(dic, dict) or "data" not in dic or "labels" not in dic:
            raise DataError(f"{path}: expected a dict with 'data' and 'labels'")
        data = dic["data"]
        if not isinstance(data, np.ndarray) or data.ndim != 2:
            raise DataError(f"{path}: 'data' must be a 2-D array (values, cases), got "
                            f"{getattr(data, 'shape', type(data).__name__)}")
        if data.dtype not in (np.uint8, np.float32):
            raise DataError(f"{path}: 'data' has dtype {data.dtype}, expected uint8 (or float32)")
        if data.shape[0] != int(meta["num_vis"]):
            raise DataError(f"{path}: 'data' has {data.shape[0]} values per image, batches.meta "
                            f"says num_vis={meta['num_vis']}")
        lab = np.asarray(dic["labels"]).reshape(-1)
        if lab.shape[0] != data.shape[1]:
            raise DataError(f"{path}: {lab.shape[0]} labels for {data.shape[1]} images")
        n_classes = len(meta["label_names"])
        if lab.size and (lab.min() < 0 or lab.max() >= n_classes or
                         not np.all(np.equal(np.mod(lab, 1), 0))):
            raise DataError(f"{path}: labels must be integers in 0-{n_classes - 1}")
        datas.append(data)
        labels.append(lab.astype(np.int64))
    data = datas[0] if len(datas) == 1 else np.concatenate(datas, axis=1)
    return {"data": data, "labels": np.concatenate(labels)}


def batch_numbers(folder: str | Path) -> list[int]:
    nums = set()
    for p in Path(folder).iterdir():
        m = re.match(r"^data_batch_(\d+)(?:\.\d+)?$", p.name)
        if m:
            nums.add(int(m.group(1)))
    return sorted(nums)


# --------------------------------------------------------------------------------------
# Pixels


def image_to_column(img) -> np.ndarray:
    """A PIL RGB image -> uint8 vector in channel, row, column order."""
    a = np.asarray(to_rgb(img), dtype=np.uint8)
    return np.ascontiguousarray(a.transpose(2, 0, 1)).reshape(-1)


def column_to_image(col: np.ndarray, size: int) -> np.ndarray:
    """Inverse of :func:`image_to_column`: (size, size, 3) uint8-able array."""
    return np.asarray(col).reshape(3, size, size).transpose(1, 2, 0)


def resize_center(img, size: int = 256):
    """Shorter side to ``size`` (bicubic), then the central size x size square."""
    from PIL import Image

    img = to_rgb(img)
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


# --------------------------------------------------------------------------------------
# CIFAR-10


def _cifar_from_python_tarball(path: Path, md5: str | None = None
                               ) -> tuple[list[tuple[np.ndarray, list[int]]],
                                          tuple[np.ndarray, list[int]], list[str]]:
    """The official cifar-10-python.tar.gz: row-per-image uint8 batches (Python 2 pickles).

    The file's md5 is checked first, against ``md5`` or, when the file carries the
    official name, against the published one (:data:`alexnet.registry.CIFAR10_PYTHON_MD5`);
    every batch is checked by :func:`alexnet.cifar.check_batch` (structure, labels 0..9).
    A member that is not a regular file with a relative name (:mod:`alexnet.archives`) is
    refused: the tarball has one publisher and a fixed layout, so such a member means it
    is not that file.
    """
    expected = md5 or (CIFAR10_PYTHON_MD5 if path.name == CIFAR10_PYTHON_NAME else None)
    if expected:
        actual = file_digests(path, ("md5",))["md5"]
        if actual != expected.lower():
            raise ChecksumError(f"{path}: md5 {actual}, expected {expected.lower()} (a "
                                "damaged or different download; fetch it again)")
    train, test, names = [], None, list(CIFAR10_CLASSES)
    try:
        with tarfile.open(path) as tar:
            members = {Path(m.name).name: m
                       for m in archives.files(tar.getmembers(), str(path))}
            for k in range(1, 6):
                if f"data_batch_{k}" not in members:
                    raise DataError(f"{path}: member data_batch_{k} missing (not the CIFAR-10 "
                                    "python tarball?)")
            if "test_batch" not in members:
                raise DataError(f"{path}: member test_batch missing (not the CIFAR-10 python "
                                "tarball?)")

            def load(name):
                raw = archives.read(tar, members[name], str(path))
                d = pickling.loads(raw, source=f"{path}:{name}", what="CIFAR batch",
                                   error=DataError)
                data, labels = check_batch(d, f"{path}:{name}")
                return data.T, [int(v) for v in labels]

            for k in range(1, 6):
                train.append(load(f"data_batch_{k}"))
            test = load("test_batch")
            if "batches.meta" in members:
                raw = archives.read(tar, members["batches.meta"], str(path))
                m = pickling.loads(raw, source=f"{path}:batches.meta", what="meta",
                                   error=DataError)
                names = meta_label_names(m, f"{path}:batches.meta")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or unreadable archive ({exc})") from None
    if len(names) != len(CIFAR10_CLASSES):
        raise DataError(f"{path}:batches.meta: {len(names)} label names, CIFAR-10 has "
                        f"{len(CIFAR10_CLASSES)}")
    return train, test, names


def _iter_image_folder(source: Path, split: str) -> Iterator[tuple[str, str, bytes]]:
    """(class, relative name, file bytes) from <split>/<class>/<file> in a dir or a tarball.

    In a tarball, a member that is not a regular file with a relative name
    (:mod:`alexnet.archives`) is refused with one line: the 2012 batches written from it
    claim to hold the archive's images, and this converter keeps no list of what it
    passed over, so it does not pass over anything silently.
    """
    if source.is_dir():
        root = source / split
        if not root.is_dir():
            raise DataError(f"{source}: no {split}/ folder (expected {split}/<class>/<image>)")
        for cls_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for f in sorted(cls_dir.iterdir()):
                if f.suffix.lower() in IMAGE_EXTS:
                    yield cls_dir.name, f"{split}/{cls_dir.name}/{f.name}", f.read_bytes()
        return
    # read in archive order (a compressed tarball cannot seek backwards cheaply), then sort
    found = []
    try:
        with tarfile.open(source, mode="r|*") as tar:
            for m in archives.files(tar, str(source)):
                parts = Path(m.name).parts
                parts = parts[1:] if parts and parts[0] == "." else parts
                if (len(parts) >= 3 and parts[-3] == split
                        and Path(m.name).suffix.lower() in IMAGE_EXTS):
                    found.append((parts[-2], "/".join(parts[-3:]),
                                  archives.read(tar, m, str(source))))
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataError(f"{source}: truncated or unreadable archive ({exc})") from None
    yield from sorted(found, key=lambda t: t[1])


def _load_split(source: Path, split: str, classes: list[str], size: int):
    from PIL import Image

    cols, labels, names = [], [], []
    for cls, name, raw in _iter_image_folder(source, split):
        if cls not in classes:
            raise DataError(f"{source}: {name}: unknown class folder {cls!r} (expected one of "
                            f"{', '.join(classes)})")
        try:
            img = Image.open(io.BytesIO(raw))
            img.load()
        except Exception as exc:  # PIL raises many types for broken files
            raise DataError(f"{source}: {name}: cannot decode image ({exc})") from None
        if img.size != (size, size):
            raise DataError(f"{source}: {name}: image is {img.size[0]}x{img.size[1]}, expected "
                            f"{size}x{size}")
        cols.append(image_to_column(img))
        labels.append(classes.index(cls))
        names.append(name)
    if not cols:
        raise DataError(f"{source}: no images found under {split}/<class>/")
    return np.stack(cols, axis=1), labels, names


def convert_cifar10(source: str | Path, out: str | Path, *, batch_size: int = 10000,
                    seed: int = 0, limit: int | None = None,
                    md5: str | None = None, progress: bool = True) -> dict[str, Any]:
    """CIFAR-10 (official python tarball, or an image-folder dir/tarball) -> 2012 batches.

    The python tarball is checked against ``md5`` (or the published md5 when it has the
    official name) before anything is written.

    Training images become ``data_batch_1..k`` (``batch_size`` each, shuffled once with
    ``seed`` when they come from class folders, which are sorted by class), the test set
    the next number. ``limit`` keeps only that many images per split (for quick tests).
    ``batches.meta`` records the split (``train_batches``, ``test_batches``).
    Returns a summary dict (folder, batch numbers, counts, train/test ranges).
    """
    from tqdm import tqdm

    source, out = Path(source), Path(out)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if md5 is not None and not source.is_file():
        raise DataError(f"{source}: --md5 applies to a tarball, this is a folder")
    names = list(CIFAR10_CLASSES)
    official = source.is_file() and _looks_like_python_tarball(source)
    if official:
        train_batches, test, names = _cifar_from_python_tarball(source, md5)
        tr_data = np.concatenate([b[0] for b in train_batches], axis=1)
        tr_labels = [v for b in train_batches for v in b[1]]
        tr_names: list[str] = []
        te_data, te_labels, te_names = test[0], test[1], []
    else:
        tr_data, tr_labels, tr_names = _load_split(source, "train", names, 32)
        te_data, te_labels, te_names = _load_split(source, "test", names, 32)
        rng = np.random.default_rng(seed)
        for which in ("train", "test"):
            data, labels, fn = (tr_data, tr_labels, tr_names) if which == "train" else \
                (te_data, te_labels, te_names)
            perm = rng.permutation(data.shape[1])
            data = data[:, perm]
            labels = [labels[i] for i in perm]
            fn = [fn[i] for i in perm]
            if which == "train":
                tr_data, tr_labels, tr_names = data, labels, fn
            else:
                te_data, te_labels, te_names = data, labels, fn
    if limit is not None:
        tr_data, tr_labels, tr_names = tr_data[:, :limit], tr_labels[:limit], tr_names[:limit]
        te_data, te_labels, te_names = te_data[:, :limit], te_labels[:limit], te_names[:limit]
    out.mkdir(parents=True, exist_ok=True)  # only now: a refused source leaves no folder
    nums = []
    n = tr_data.shape[1]
    starts = range(0, n, batch_size)
    bar = tqdm(total=len(starts) + 1, desc=f"writing {out.name}", unit="batch",
               disable=not progress, leave=False)
    for k, s in enumerate(starts, start=1):
        write_batch(out, k, tr_data[:, s:s + batch_size], tr_labels[s:s + batch_size],
                    batch_label=f"training batch {k}", filenames=tr_names[s:s + batch_size])
        nums.append(k)
        bar.update(1)
    test_num = nums[-1] + 1
    write_batch(out, test_num, te_data, te_labels, batch_label="testing batch",
                filenames=te_names)
    bar.update(1)
    bar.close()
    mean = tr_data.astype(np.float64).mean(axis=1)
    write_meta(out, label_names=names, data_mean=mean, num_cases_per_batch=batch_size,
               extra={"img_size": 32, "dp_type": "cifar", "source": source.name,
                      "train_batches": nums, "test_batches": [test_num]})
    return {"folder": str(out), "train_batches": nums, "test_batch": test_num,
            "train_images": int(n), "test_images": int(te_data.shape[1]),
            "train_range": f"{nums[0]}-{nums[-1]}" if len(nums) > 1 else str(nums[0]),
            "test_range": str(test_num), "official": official}


def _looks_like_python_tarball(path: Path) -> bool:
    try:
        with tarfile.open(path) as tar:
            return any(Path(m.name).name == "data_batch_1" for m in tar.getmembers())
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"{path}: not a readable tarball ({exc})") from None


# --------------------------------------------------------------------------------------
# Larger photographs (ImageNet-style)


def _photo_label(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    if len(rel.parts) >= 2:
        return rel.parts[-2]
    # flat folder: <wnid>_<name>.JPEG (the ILSVRC naming)
    m = re.match(r"^(n\d{8})", path.name)
    if m:
        return m.group(1)
    raise DataError(f"{path}: cannot tell its class (put images in <class>/ folders or name "
                    "them <wnid>_<anything>)")


def _existing_split(source: Path) -> dict[str, Path] | None:
    """``train/`` with ``val/`` and/or ``test/`` beside it (class folders inside): a split
    the photographs already have (ILSVRC's, as ``alexnet imagenet prepare`` writes it)."""
    found = {sp: source / sp for sp in SPLIT_FOLDERS if (source / sp).is_dir()}
    if "train" not in found:
        return None
    return found


#: Split folders a photo collection may already have, in the order their batches are written.
SPLIT_FOLDERS = ("train", "val", "test")


def convert_image_folder(source: str | Path, out: str | Path, *, batch_size: int = 1024,
                         size: int = 256, test_fraction: float = 0.0, seed: int = 0,
                         label_names: list[str] | None = None,
                         progress: bool = True) -> dict[str, Any]:
    """A folder of photographs -> 2012 batches of size x size images.

    Classes come from sub-folders (``<class>/<image>``) or, in a flat folder, from an
    ILSVRC ``n########`` prefix of the file name. Each image: shorter side to ``size``,
    central square (grayscale and palette images become RGB).

    A folder that is already split (``train/`` with ``val/`` and/or ``test/``, class
    folders inside) keeps its split: the training batches come first, then the
    validation and the test batches, each split shuffled once on its own; ``batches.meta``
    records which numbers hold which split (``train_batches``, ``test_batches`` — the
    validation batches when there are any, as ILSVRC scores on them — and
    ``split_batches`` with all three). Otherwise all images are pooled and, with
    ``test_fraction`` > 0, the last batches hold a held-out share. The meta gets
    data_mean and color_pca over the training images (:mod:`alexnet.color_pca`).

    The batches are written into a temporary folder beside ``out`` and moved into
    place at the end, so an unreadable image leaves nothing half-written.
    """
    from PIL import Image
    from tqdm import tqdm

    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise DataError(f"{source}: not a folder of images")
    given = _existing_split(source)
    if given and test_fraction:
        raise DataError(f"{source}: already split into {'/, '.join(given)}/; a test "
                        "fraction applies only to a folder that is not split")
    roots = given or {"": source}
    found: dict[str, list[tuple[Path, str]]] = {}
    for sp, root in roots.items():
        files = sorted(p for p in root.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
        found[sp] = [(p, _photo_label(p, root)) for p in files]
    if not any(found.values()) or (given and not found["train"]):
        raise DataError(f"{source}: no images found"
                        + (" under train/<class>/" if given else ""))
    seen = sorted({lab for items in found.values() for _, lab in items})
    classes = list(label_names) if label_names else (
        sorted({lab for _, lab in found["train"]}) if given else seen)
    for items in found.values():
        for p, lab in items:
            if lab not in classes:
                where = "the given label names" if label_names else "train/"
                raise DataError(f"{p}: class {lab!r} is not in {where}")
    rng = np.random.default_rng(seed)
    plan: list[tuple[str, list[tuple[Path, str]]]] = []  # (split, shuffled images)
    for sp, items in found.items():
        perm = rng.permutation(len(items))
        plan.append((sp, [items[i] for i in perm]))
    if not given:
        items = plan[0][1]
        n_test = int(round(len(items) * test_fraction))
        plan = [("train", items[: len(items) - n_test]), ("test", items[len(items) - n_test:])]
    n_train = len(plan[0][1])
    step = image_step(n_train, size * size)
    moments = PixelMoments()
    mean_acc = np.zeros(3 * size * size, dtype=np.float64)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    split_batches: dict[str, list[int]] = {}
    num = 0
    bar = tqdm(total=sum(len(items) for _, items in plan), desc=f"converting {source.name}",
               unit="img", disable=not progress, leave=False)
    try:
        for sp, items in plan:
            for start, stop in _spans(len(items), batch_size):
                cols = []
                for p, _ in items[start:stop]:
                    try:
                        with Image.open(p) as img:
                            img.load()
                            cols.append(image_to_column(resize_center(img, size)))
                    except Exception as exc:  # PIL raises many types for broken files
                        raise DataError(f"{p}: cannot decode image ({exc})") from None
                    bar.update(1)
                data = np.stack(cols, axis=1)
                if sp == "train":
                    mean_acc += data.sum(axis=1, dtype=np.float64)
                    for k in range(start, stop):
                        if k % step == 0:
                            moments.add_columns(data[:, k - start : k - start + 1])
                num += 1
                write_batch(tmp, num, data, [classes.index(lab) for _, lab in items[start:stop]],
                            batch_label=f"{sp or 'training'} batch {num}",
                            filenames=[str(p.relative_to(source)) for p, _ in items[start:stop]])
                split_batches.setdefault(sp, []).append(num)
        bar.close()
        stdevs, vecs = color_pca_2012(*moments.pca()) if moments.count else (
            np.zeros(3, np.float32), np.eye(3, dtype=np.float32))
        test_nums = split_batches.get("val") or split_batches.get("test") or []
        write_meta(tmp, label_names=classes, data_mean=mean_acc / max(n_train, 1),
                   num_cases_per_batch=batch_size,
                   extra={"img_size": size, "color_pca": (stdevs, vecs),
                          "batch_size": batch_size, "dp_type": "inet-lr-cropped",
                          "source": source.name,
                          "train_batches": split_batches.get("train", []),
                          "test_batches": test_nums, "split_batches": split_batches,
                          "kept_split": bool(given)})
        _move_into(tmp, out)
    finally:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
    counts = {sp: len(items) for sp, items in plan}
    return {"folder": str(out), "batches": list(range(1, num + 1)),
            "train_images": counts.get("train", 0),
            "test_images": counts.get("val", 0) or counts.get("test", 0),
            "images": counts, "kept_split": bool(given), "classes": len(classes),
            "train_range": _range(split_batches.get("train", [])),
            "test_range": _range(test_nums),
            "ranges": {sp: _range(v) for sp, v in split_batches.items()}}


def _move_into(tmp: Path, out: Path) -> None:
    """Move the finished files of ``tmp`` into ``out`` (batches first, the meta last)."""
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in tmp.iterdir())
    names.sort(key=lambda n: n == "batches.meta")
    for name in names:
        os.replace(tmp / name, out / name)


def _spans(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + size)) for s in range(0, n, size)]


def _range(nums: list[int]) -> str:
    if not nums:
        return ""
    return f"{nums[0]}-{nums[-1]}" if len(nums) > 1 else str(nums[0])
