"""The ILSVRC-2012 development kit: the 1000 classes and the validation labels.

The devkit (``ILSVRC2012_devkit_t12.tar.gz``, or its extracted folder) holds two files we
need, both under ``data/``:

``meta.mat``
    a MATLAB struct array ``synsets``, one entry per WordNet synset of the hierarchy
    (1860 in the official kit). The leaves (``num_children`` 0) are the 1000 classes;
    each has ``ILSVRC2012_ID`` (1..1000, the label the ground-truth file uses), ``WNID``
    (``n01440764``) and ``words`` (``tench, Tinca tinca``). Read with
    ``scipy.io.loadmat``: MATLAB's format is not ours to re-implement.
``ILSVRC2012_validation_ground_truth.txt``
    one ``ILSVRC2012_ID`` per line; line i labels ``ILSVRC2012_val_<i, 8 digits>.JPEG``.

Class order: :func:`alexnet.registry.imagenet_class_order` (sorted WordNet ids, the
output order of the BVLC Caffe models, of torchvision's weights and of the port's
image-folder loader), NOT the devkit's ``ILSVRC2012_ID`` order. The class file written
by :func:`write_class_file` lists the classes in that order with their devkit ids, so
both numberings stay one look-up apart; the validation ground truth is read through the
ids (:meth:`Devkit.val_wnid`), so an image lands in its wnid's folder either way.
"""

from __future__ import annotations

import io
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from alexnet import archives
from alexnet.errors import DataError
from alexnet.io import atomic_write_text
from alexnet.registry import imagenet_class_order

__all__ = ["Synset", "Devkit", "read_devkit", "parse_meta_mat", "parse_ground_truth",
           "write_class_file", "class_file_text", "META", "GROUND_TRUTH", "CLASS_FILE",
           "val_index"]

META = "data/meta.mat"
GROUND_TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"
#: the class file written beside train/ and val/
CLASS_FILE = "classes.tsv"
_WNID = re.compile(r"n\d{8}")
_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")


@dataclass(frozen=True)
class Synset:
    ilsvrc_id: int     # the devkit's label, 1..1000
    wnid: str          # WordNet id, e.g. n01440764
    words: str         # e.g. "tench, Tinca tinca"


@dataclass
class Devkit:
    """The classes in output order (:func:`~alexnet.registry.imagenet_class_order`) and
    the validation labels
    (``val_labels[i - 1]`` is the devkit id of validation image i)."""

    classes: list[Synset]
    val_labels: list[int]
    source: str
    by_id: dict[int, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {s.ilsvrc_id: s.wnid for s in self.classes}

    @property
    def wnids(self) -> list[str]:
        return [s.wnid for s in self.classes]

    def val_wnid(self, name: str) -> str:
        """The class of a validation image by its file name; DataError when the ground
        truth has no line for it."""
        index = val_index(name)
        if index is None:
            raise DataError(f"{name}: not a validation image name "
                            "(ILSVRC2012_val_<8 digits>.JPEG)")
        if not 1 <= index <= len(self.val_labels):
            raise DataError(f"{name}: validation image without a label (the ground truth "
                            f"has {len(self.val_labels)} lines)")
        return self.by_id[self.val_labels[index - 1]]


def val_index(name: str) -> int | None:
    """The 1-based index in a validation image's name, or None."""
    m = _VAL_NAME.fullmatch(Path(name).name)
    return int(m.group(1)) if m else None


def _scalar(value, what: str, source: str):
    arr = np.asarray(value)
    if arr.size != 1:
        raise DataError(f"{source}: synset field {what} is not a single value")
    return arr.reshape(()).item()


def parse_meta_mat(data: bytes, source: str = "meta.mat") -> list[Synset]:
    """The leaf synsets (the classes) of a devkit ``meta.mat``, in output order
    (:func:`~alexnet.registry.imagenet_class_order`)."""
    try:
        mat = loadmat(io.BytesIO(data), squeeze_me=True)
    except Exception as exc:  # scipy raises several types for a file that is not MATLAB's
        raise DataError(f"{source}: not a readable MATLAB file ({exc})") from None
    synsets = mat.get("synsets")
    names = getattr(getattr(synsets, "dtype", None), "names", None) or ()
    need = ("ILSVRC2012_ID", "WNID", "words", "num_children")
    missing = [f for f in need if f not in names]
    if synsets is None or missing:
        raise DataError(f"{source}: no 'synsets' struct array with fields {', '.join(need)} "
                        f"(missing {', '.join(missing) or 'synsets'})")
    classes = []
    for entry in np.atleast_1d(synsets):
        if int(_scalar(entry["num_children"], "num_children", source)) != 0:
            continue
        wnid = str(_scalar(entry["WNID"], "WNID", source))
        if not _WNID.fullmatch(wnid):
            raise DataError(f"{source}: {wnid!r} is not a WordNet id")
        classes.append(Synset(int(_scalar(entry["ILSVRC2012_ID"], "ILSVRC2012_ID", source)),
                              wnid, str(_scalar(entry["words"], "words", source))))
    if not classes:
        raise DataError(f"{source}: no leaf synsets (classes)")
    ids = sorted(s.ilsvrc_id for s in classes)
    if ids != list(range(1, len(classes) + 1)):
        raise DataError(f"{source}: the classes' ILSVRC2012_ID values are not 1..{len(classes)}")
    if len({s.wnid for s in classes}) != len(classes):
        raise DataError(f"{source}: a WordNet id appears twice among the classes")
    by_wnid = {s.wnid: s for s in classes}
    return [by_wnid[w] for w in imagenet_class_order(by_wnid)]


def parse_ground_truth(text: str, n_classes: int, source: str = GROUND_TRUTH) -> list[int]:
    """The validation labels (devkit ids), one per line, each in 1..n_classes."""
    labels = []
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = int(line)
        except ValueError:
            raise DataError(f"{source}:{no}: expected a class id, got {line.strip()!r}"
                            ) from None
        if not 1 <= value <= n_classes:
            raise DataError(f"{source}:{no}: class id {value} outside 1..{n_classes}")
        labels.append(value)
    if not labels:
        raise DataError(f"{source}: no labels")
    return labels


def _from_tar(path: Path) -> tuple[bytes, bytes]:
    try:
        with tarfile.open(path, "r:*") as tf:
            found: dict[str, bytes] = {}
            for m in tf:
                for want in (META, GROUND_TRUTH):
                    if m.name == want or m.name.endswith("/" + want):
                        # the two files read are refused unless regular (a link would
                        # hand out another member); the rest of the devkit is not read
                        found[want] = archives.read(tf, archives.check(m, str(path)),
                                                    str(path))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path}: unreadable devkit archive ({exc})") from None
    for want in (META, GROUND_TRUTH):
        if want not in found:
            raise DataError(f"{path}: the devkit has no {want}")
    return found[META], found[GROUND_TRUTH]


def _from_folder(path: Path) -> tuple[bytes, bytes]:
    out = []
    for want in (META, GROUND_TRUTH):
        p = path / want
        if not p.is_file():
            raise DataError(f"{path}: the devkit has no {want}")
        out.append(p.read_bytes())
    return out[0], out[1]


def read_devkit(path: str | Path) -> Devkit:
    """Read a devkit archive (``.tar.gz``, streamed, nothing unpacked) or folder."""
    p = Path(path)
    if p.is_dir():
        meta, gt = _from_folder(p)
    elif p.is_file():
        meta, gt = _from_tar(p)
    else:
        raise DataError(f"{p}: no devkit (ILSVRC2012_devkit_t12.tar.gz or its folder)")
    classes = parse_meta_mat(meta, f"{p}:{META}")
    try:
        text = gt.decode("ascii")
    except UnicodeDecodeError:
        raise DataError(f"{p}:{GROUND_TRUTH}: not a text file") from None
    labels = parse_ground_truth(text, len(classes), f"{p}:{GROUND_TRUTH}")
    return Devkit(classes, labels, str(p))


def class_file_text(classes: list[Synset]) -> str:
    """``ILSVRC2012_ID<TAB>wnid<TAB>words`` per class in output order, one header line."""
    rows = ["ILSVRC2012_ID\twnid\twords"]
    rows += [f"{s.ilsvrc_id}\t{s.wnid}\t{s.words}" for s in classes]
    return "\n".join(rows) + "\n"


def write_class_file(path: str | Path, classes: list[Synset]) -> None:
    atomic_write_text(path, class_file_text(classes), mode="umask")
