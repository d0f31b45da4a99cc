"""``alexnet imagenet prepare``: the official ILSVRC-2012 files -> the 2012 preprocessing.

Input (``--source DIR``), each as the official archive or as its extracted folder:

* training, 1.28 M images: ``ILSVRC2012_img_train.tar``, one tar per class
  (``n01440764.tar``) inside; or a folder ``ILSVRC2012_img_train/`` or ``train/`` of
  ``<wnid>/`` folders or ``<wnid>.tar`` files;
* validation, 50,000 images: ``ILSVRC2012_img_val.tar``, flat
  ``ILSVRC2012_val_<8 digits>.JPEG``; or a folder ``ILSVRC2012_img_val/`` or ``val/``,
  flat or already sorted into ``<wnid>/`` folders;
* development kit: ``ILSVRC2012_devkit_t12.tar.gz`` or ``ILSVRC2012_devkit_t12/``
  (:mod:`alexnet.imagenet.devkit`), or ``--devkit PATH``.

Archives are read in place, never unpacked: the outer training tar and the validation tar
are uncompressed, so each worker seeks straight to its class tar (streamed member by
member) or to its validation images.

Output (``--out DIR``): ``train/<wnid>/<name>`` and ``val/<wnid>/<name>``, every image
brought to 256x256 the 2012 way (shorter side scaled to 256, then the central square;
:func:`alexnet.modern.data.decode_image`, the port's own decoder) and stored as a JPEG;
``classes.tsv`` (:func:`~alexnet.imagenet.devkit.class_file_text`); ``prepare.json``, the
report. The port's image-folder loader reads the result as it is.

Known quirks of the files, counted and named in the report: 22 training images and one
validation image are CMYK JPEGs, one training image (``n02105855_2933.JPEG``) is a PNG
under a .JPEG name, and many images are grayscale; all are converted to RGB. An image no
decoder can read is skipped and listed, as the port's loader does.

Bad input stops before anything is written, with one line: a devkit or its ground truth
missing, a validation image without a label, training classes that disagree with the
devkit's, a class file of another devkit already in the output folder.

Multi-process (``--workers``, default all cores; one task per training class or per
256 validation images) and resumable: images are written under a temporary name and
renamed; a finished task leaves a small record in ``.progress/`` (its counts, for the
report); a rerun skips finished tasks and images already written, and checks each such
image's header.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import tarfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from alexnet import archives
from alexnet.errors import DataError
from alexnet.imagenet.devkit import CLASS_FILE, Devkit, class_file_text, read_devkit, val_index
from alexnet.io import atomic_write_json, atomic_write_text, fsync_dir, fsync_path
from alexnet.limits import MAX_MEMBER_BYTES
from alexnet.modern.data import BadImage, decode_image

__all__ = ["prepare", "find_sources", "plan_train", "plan_val", "run_task", "Task",
           "KNOWN_CMYK", "KNOWN_PNG", "REPORT", "FORMAT"]

REPORT = "prepare.json"
FORMAT = "alexnet-imagenet-prepare"
PROGRESS = ".progress"
VAL_CHUNK = 256

#: the ILSVRC-2012 images stored as CMYK JPEGs (22 training, 1 validation), as listed by
#: the TensorFlow Inception data builder and others
KNOWN_CMYK = frozenset({
    "n01739381_1309.JPEG", "n02077923_14822.JPEG", "n02447366_23489.JPEG",
    "n02492035_15739.JPEG", "n02747177_10752.JPEG", "n03018349_4028.JPEG",
    "n03062245_4620.JPEG", "n03347037_9675.JPEG", "n03467068_12171.JPEG",
    "n03529860_11437.JPEG", "n03544143_17228.JPEG", "n03633091_5218.JPEG",
    "n03710637_5125.JPEG", "n03961711_5286.JPEG", "n04033995_2932.JPEG",
    "n04258138_17003.JPEG", "n04264628_27969.JPEG", "n04336792_7448.JPEG",
    "n04371774_5854.JPEG", "n04596742_4225.JPEG", "n07583066_647.JPEG",
    "n13037406_4650.JPEG", "ILSVRC2012_val_00019877.JPEG"})
#: the one PNG under a .JPEG name
KNOWN_PNG = frozenset({"n02105855_2933.JPEG"})

SOURCE_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_train", "train"),
    "val": ("ILSVRC2012_img_val.tar", "ILSVRC2012_img_val", "val"),
    "devkit": ("ILSVRC2012_devkit_t12.tar.gz", "ILSVRC2012_devkit_t12"),
}
SPLITS = ("train", "val")
_WNID = re.compile(r"n\d{8}")
_GRAY = frozenset({"1", "L", "LA", "I", "I;16", "F"})
_NAMES_KEPT = 20


@dataclass(frozen=True)
class Task:
    """One unit of work for a process: a class of the training set, or a chunk of
    validation images. ``items`` are (offset, size, name, wnid) for ``members`` (images
    inside an uncompressed tar) and (path, name, wnid) for ``files``."""

    split: str
    kind: str                   # "tar-in-tar" | "tar" | "members" | "files"
    path: str
    key: str                    # unique within the split: the wnid, or the first image
    wnid: str | None = None     # the class of every image (tar kinds)
    offset: int = 0
    size: int = 0
    items: tuple = ()

    @property
    def weight(self) -> int:
        """Progress units: images when known, else 1 (a class tar)."""
        return len(self.items) or 1


# --------------------------------------------------------------------------------------
# Finding and checking the input


def find_sources(source: Path) -> dict[str, Path | None]:
    """The train, val and devkit inputs present in ``source`` (None where absent)."""
    out: dict[str, Path | None] = {}
    for what, names in SOURCE_NAMES.items():
        out[what] = next((source / n for n in names if (source / n).exists()), None)
    return out


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and "." in name


def _disagree(found: set[str], devkit: Devkit, where: str) -> None:
    known = set(devkit.wnids)
    extra, missing = sorted(found - known), sorted(known - found)
    if extra or missing:
        parts = []
        if extra:
            parts.append(f"{len(extra)} not in the devkit ({', '.join(extra[:3])}"
                         f"{', ...' if len(extra) > 3 else ''})")
        if missing:
            parts.append(f"{len(missing)} of the devkit's missing ({', '.join(missing[:3])}"
                         f"{', ...' if len(missing) > 3 else ''})")
        raise DataError(f"{where}: its classes disagree with the devkit's: "
                        f"{'; '.join(parts)}")


def _tar_members(path: Path, *, max_bytes: int | None) -> list[tarfile.TarInfo]:
    """The regular files of an ILSVRC-2012 archive, each read whole unless ``max_bytes``
    is None (a class tar, streamed).

    Any other member (a link, a special file, an unsafe name: :mod:`alexnet.archives`) is
    refused with one line: the archives are pinned files of one publisher, so such a
    member means this is not the archive the pin names, and skipping it would make the
    counts of the prepared set differ from the 2012 ones without saying so.
    """
    try:
        with tarfile.open(path, "r:") as tf:
            return list(archives.files(tf.getmembers(), str(path), max_bytes=max_bytes))
    except tarfile.ReadError as exc:
        raise DataError(f"{path}: not an uncompressed tar archive ({exc})") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path}: unreadable tar archive ({exc})") from None


def plan_train(path: Path, devkit: Devkit) -> list[Task]:
    """One task per class; the classes must be the devkit's."""
    tasks: list[Task] = []
    if path.is_file():
        for m in _tar_members(path, max_bytes=None):
            base = Path(m.name).name
            wnid = base[:-4] if base.endswith(".tar") else ""
            if not _WNID.fullmatch(wnid):
                raise DataError(f"{path}: member {m.name!r} is not a class tar (<wnid>.tar)")
            tasks.append(Task("train", "tar-in-tar", str(path), wnid, wnid, m.offset_data,
                              m.size))
    else:
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_dir() and _WNID.fullmatch(child.name):
                items = tuple((str(f), f.name, child.name) for f in sorted(child.iterdir())
                              if f.is_file() and _is_image_name(f.name))
                tasks.append(Task("train", "files", str(child), child.name, child.name,
                                  items=items))
            elif child.is_file() and _WNID.fullmatch(child.stem) and child.suffix == ".tar":
                tasks.append(Task("train", "tar", str(child), child.stem, child.stem))
            else:
                raise DataError(f"{child}: expected a class folder <wnid>/ or <wnid>.tar")
    names = [t.wnid for t in tasks]
    if len(set(names)) != len(names):
        raise DataError(f"{path}: a class appears twice")
    _disagree(set(names), devkit, str(path))
    return tasks


def _chunks(split: str, kind: str, path: Path, items: list[tuple]) -> list[Task]:
    return [Task(split, kind, str(path), str(items[i][-2]), items=tuple(items[i:i + VAL_CHUNK]))
            for i in range(0, len(items), VAL_CHUNK)]


def plan_val(path: Path, devkit: Devkit) -> list[Task]:
    """Chunks of validation images, each labelled from the ground truth (or its folder,
    which must then agree with the ground truth)."""
    if path.is_file():
        members = sorted(_tar_members(path, max_bytes=MAX_MEMBER_BYTES),
                         key=lambda m: Path(m.name).name)
        items = [(m.offset_data, m.size, Path(m.name).name,
                  devkit.val_wnid(Path(m.name).name)) for m in members]
        if not items:
            raise DataError(f"{path}: no validation images")
        return _chunks("val", "members", path, items)
    files: list[tuple[str, str, str]] = []
    folders = set()
    for child in sorted(path.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            if not _WNID.fullmatch(child.name) or child.name not in devkit.by_id.values():
                raise DataError(f"{child}: not a class of the devkit")
            folders.add(child.name)
            for f in sorted(child.iterdir()):
                if f.is_file() and _is_image_name(f.name):
                    if val_index(f.name) is not None and devkit.val_wnid(f.name) != child.name:
                        raise DataError(f"{f}: in {child.name}/, the ground truth says "
                                        f"{devkit.val_wnid(f.name)}")
                    files.append((str(f), f.name, child.name))
        elif child.is_file() and _is_image_name(child.name):
            files.append((str(child), child.name, devkit.val_wnid(child.name)))
    if not files:
        raise DataError(f"{path}: no validation images")
    return _chunks("val", "files", path, files)


# --------------------------------------------------------------------------------------
# The work of one process


class _Slice(io.RawIOBase):
    """``size`` bytes of an open file from ``offset``: a class tar inside the outer tar."""

    def __init__(self, fh: io.BufferedReader, offset: int, size: int) -> None:
        super().__init__()
        fh.seek(offset)
        self.fh, self.left = fh, size

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.left)
        if n <= 0:
            return 0
        got = self.fh.readinto(memoryview(buf)[:n])
        self.left -= got
        return got


def _complete(dest: Path, size: int) -> bool:
    """An output from an earlier run: a readable JPEG header of the right size."""
    if not dest.is_file():
        return False
    try:
        with Image.open(dest) as img:
            return img.format == "JPEG" and img.size == (size, size)
    except Exception:
        return False


def _new_stats() -> dict[str, Any]:
    return {"images": 0, "written": 0, "already_there": 0, "unreadable": [], "cmyk": [],
            "png_named_jpeg": [], "grayscale": 0, "grayscale_first": [],
            "other_modes": {}, "other_formats": {}}


def _convert(data: bytes, name: str, where: str, dest: Path, opts: dict[str, Any],
             stats: dict[str, Any], written: list[Path]) -> None:
    stats["images"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as probe:
                fmt, mode = probe.format, probe.mode
    except Exception:
        fmt = mode = None
    try:
        arr = decode_image(data, opts["size"], name=name, fast_jpeg=opts["fast_jpeg"])
    except BadImage as exc:
        stats["unreadable"].append([where, exc.reason])
        return
    if fmt == "PNG" and name.upper().endswith((".JPEG", ".JPG")):
        stats["png_named_jpeg"].append(name)
    elif fmt not in ("JPEG", None):
        stats["other_formats"][fmt] = stats["other_formats"].get(fmt, 0) + 1
    if mode == "CMYK":
        stats["cmyk"].append(name)
    elif mode in _GRAY:
        stats["grayscale"] += 1
        if len(stats["grayscale_first"]) < _NAMES_KEPT:
            stats["grayscale_first"].append(name)
    elif mode not in ("RGB", None):
        stats["other_modes"][mode] = stats["other_modes"].get(mode, 0) + 1
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=opts["quality"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, dest)
    written.append(dest)
    stats["written"] += 1


def _images(task: Task) -> Iterator[tuple[str, str, Callable[[], bytes]]]:
    """(name, wnid, read) for every image of a task, in order."""
    if task.kind in ("tar-in-tar", "tar"):
        with open(task.path, "rb") as fh:
            stream = _Slice(fh, task.offset, task.size) if task.kind == "tar-in-tar" else fh
            where = f"{task.path}: {task.wnid}.tar"
            with tarfile.open(fileobj=stream, mode="r|") as tf:
                for m in archives.files(tf, where):  # refused as the outer archive's
                    if _is_image_name(Path(m.name).name):
                        def read(member=m) -> bytes:
                            return archives.read(tf, member, where)
                        yield Path(m.name).name, str(task.wnid), read
    elif task.kind == "members":
        with open(task.path, "rb") as fh:
            for offset, size, name, wnid in task.items:
                def read(offset=offset, size=size, name=name) -> bytes:
                    fh.seek(offset)
                    data = fh.read(size)
                    if len(data) != size:
                        raise DataError(f"{task.path}: {name} is cut short (truncated archive)")
                    return data
                yield name, wnid, read
    else:
        for path, name, wnid in task.items:
            yield name, wnid, lambda path=path: Path(path).read_bytes()


def run_task(task: Task, out_root: str, opts: dict[str, Any]) -> dict[str, Any]:
    """Convert one task's images; returns its counts (also kept in ``.progress/``)."""
    out = Path(out_root)
    record = out / PROGRESS / task.split / f"{task.key}.json"
    if record.is_file():
        try:
            done = json.loads(record.read_text(encoding="utf-8"))
            # counted again for the report, but nothing is written by this run
            return {**done, "written": 0, "resumed": True,
                    "already_there": done["already_there"] + done["written"]}
        except (OSError, ValueError, KeyError):
            pass   # an unreadable record: do the task again
    stats = _new_stats()
    written: list[Path] = []
    where = f"{task.split} {task.key}"
    try:
        for name, wnid, read in _images(task):
            dest = out / task.split / wnid / name
            if _complete(dest, opts["size"]):
                stats["images"] += 1
                stats["already_there"] += 1
                continue
            _convert(read(), name, f"{task.split}/{wnid}/{name}", dest, opts, stats, written)
    except (tarfile.TarError, EOFError) as exc:
        raise DataError(f"{task.path}: {where}: unreadable tar data ({exc})") from None
    except OSError as exc:
        raise DataError(f"{task.path}: {where}: {exc.strerror or exc}") from None
    for p in written:   # durable before the record says the task is done
        fsync_path(p)
    for d in {p.parent for p in written}:
        fsync_dir(d)
    record.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(record, stats, mode="umask")
    return stats


# --------------------------------------------------------------------------------------
# The whole run


def _merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    out = _new_stats()
    other_modes: Counter = Counter()
    other_formats: Counter = Counter()
    for r in reports:
        for k in ("images", "written", "already_there", "grayscale"):
            out[k] += r[k]
        for k in ("unreadable", "cmyk", "png_named_jpeg"):
            out[k] += r[k]
        out["grayscale_first"] += r["grayscale_first"]
        other_modes.update(r["other_modes"])
        other_formats.update(r["other_formats"])
    out["grayscale_first"] = sorted(out["grayscale_first"])[:_NAMES_KEPT]
    out["other_modes"], out["other_formats"] = dict(other_modes), dict(other_formats)
    out["resumed_tasks"] = sum(1 for r in reports if r.get("resumed"))
    return out


def _quirks(stats: dict[str, Any]) -> dict[str, Any]:
    def named(names: list[str], known: frozenset[str]) -> dict[str, Any]:
        names = sorted(names)
        return {"count": len(names), "names": names,
                "known": [n for n in names if n in known],
                "unexpected": [n for n in names if n not in known]}
    return {"cmyk": named(stats["cmyk"], KNOWN_CMYK),
            "png_named_jpeg": named(stats["png_named_jpeg"], KNOWN_PNG),
            "grayscale": {"count": stats["grayscale"], "first": stats["grayscale_first"]},
            "other_modes": stats["other_modes"], "other_formats": stats["other_formats"]}


def _run(tasks: list[Task], out: Path, opts: dict[str, Any], workers: int, progress: bool,
         desc: str) -> list[dict[str, Any]]:
    total = sum(t.weight for t in tasks)
    unit = "class" if tasks and tasks[0].kind in ("tar-in-tar", "tar") else "img"
    results: list[dict[str, Any]] = []
    with tqdm(total=total, desc=desc, unit=unit, disable=not progress) as bar:
        if workers <= 1 or len(tasks) <= 1:
            for t in tasks:
                results.append(run_task(t, str(out), opts))
                bar.update(t.weight)
            return results
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(run_task, t, str(out), opts): t for t in tasks}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in done:
                    exc = f.exception()
                    if exc is not None:
                        for p in pending:
                            p.cancel()
                        raise exc
                    results.append(f.result())
                    bar.update(futures[f].weight)
    return results


def prepare(
    source: str | Path,
    out: str | Path,
    *,
    splits: tuple[str, ...] | list[str] | None = None,
    devkit: str | Path | None = None,
    workers: int | None = None,
    size: int = 256,
    quality: int = 95,
    fast_jpeg: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Convert the ILSVRC-2012 files in ``source`` into ``out``; returns the report
    (also written as ``out/prepare.json``). ``splits`` defaults to those present."""
    src, dst = Path(source), Path(out)
    if not src.is_dir():
        raise DataError(f"{src}: no such folder (expected the ILSVRC-2012 files in it)")
    found = find_sources(src)
    dk_path = Path(devkit) if devkit is not None else found["devkit"]
    if dk_path is None:
        raise DataError(f"{src}: no devkit ({' or '.join(SOURCE_NAMES['devkit'])})")
    if splits:
        unknown = [s for s in splits if s not in SPLITS]
        if unknown:
            raise DataError(f"unknown split {unknown[0]!r} (train, val)")
        absent = [s for s in splits if found[s] is None]
        if absent:
            raise DataError(f"{src}: no {absent[0]} images "
                            f"({' or '.join(SOURCE_NAMES[absent[0]])})")
        chosen = [s for s in SPLITS if s in splits]
    else:
        chosen = [s for s in SPLITS if found[s] is not None]
        if not chosen:
            raise DataError(f"{src}: neither training nor validation images "
                            f"({', '.join(SOURCE_NAMES['train'] + SOURCE_NAMES['val'])})")
    if not 1 <= quality <= 100:
        raise DataError(f"JPEG quality {quality} outside 1..100")
    kit = read_devkit(dk_path)
    plans = {s: (plan_train if s == "train" else plan_val)(found[s], kit) for s in chosen}

    # every check passed: from here on the output folder is written
    classes_text = class_file_text(kit.classes)
    class_file = dst / CLASS_FILE
    if class_file.is_file() and class_file.read_text(encoding="utf-8") != classes_text:
        raise DataError(f"{class_file}: holds another devkit's classes; use an empty --out")
    if dst.exists() and not dst.is_dir():
        raise DataError(f"{dst}: exists and is not a folder")
    dst.mkdir(parents=True, exist_ok=True)
    atomic_write_text(class_file, classes_text, mode="umask")
    opts = {"size": int(size), "quality": int(quality), "fast_jpeg": bool(fast_jpeg)}
    n_workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    split_reports: dict[str, Any] = {}
    merged_all: list[dict[str, Any]] = []
    for s in chosen:
        results = _run(plans[s], dst, opts, n_workers, progress, f"prepare {s}")
        merged = _merge(results)
        merged_all.append(merged)
        split_reports[s] = {"source": str(found[s]), "tasks": len(plans[s]),
                            **{k: merged[k] for k in ("images", "written", "already_there",
                                                      "resumed_tasks", "unreadable")}}
    report = {
        "format": FORMAT, "version": 1, "source": str(src), "devkit": str(dk_path),
        "classes": len(kit.classes), "class_file": CLASS_FILE, "image_size": opts["size"],
        "jpeg_quality": opts["quality"], "fast_jpeg": opts["fast_jpeg"],
        "splits": split_reports, "quirks": _quirks(_merge(merged_all)),
    }
    atomic_write_json(dst / REPORT, report, mode="umask")
    return report
