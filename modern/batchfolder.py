"""The 2012 batch folders (``batches.meta`` + ``data_batch_N``) as a source for the port.

``alexnet original convert-cifar`` and ``convert-images`` write the data the way the
2012 driver read it (docs/reference/formats.md#formats-batches): one image per column,
channel-major, of any square size the converter chose (32 for CIFAR, 256 for photos).
The port trains from (N, H, W, 3) arrays instead, so this module reads the columns back
into images, batch by batch, through the re-creation's own checked reader
(:mod:`alexnet.original.batches`, which unpickles with the restricted unpickler).

Which batches are training and which are test: the converters record it in
``batches.meta`` (``train_batches``, ``test_batches``). A folder written before they did
(or by hand) follows the 2011 convention of the example nets (``--train-range=1-5
--test-range=6``): every batch but the last trains, the last is the test set; the source
description says which rule was used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alexnet.errors import DataError
from alexnet.original import batches as b2012

KIND = "batches-2012"


@dataclass
class BatchFolder:
    """What ``batches.meta`` and the file names say about a batch folder."""

    path: Path
    classes: list[str]
    size: int
    splits: dict[str, list[int]]  # "train"/"test" -> batch numbers
    split_rule: str  # "batches.meta" or "last batch is the test set"
    cases_per_batch: int  # num_cases_per_batch (0 when the meta does not say)
    files: list[Path] = field(default_factory=list)


def is_batch_folder(path: Path) -> bool:
    """A folder with ``batches.meta`` and at least one ``data_batch_N`` (not CIFAR python).

    The CIFAR-10 python folder has the same two names; its ``test_batch`` tells them apart.
    """
    return (path.is_dir() and (path / "batches.meta").is_file()
            and not (path / "test_batch").is_file() and bool(b2012.batch_numbers(path)))


def _numbers(meta: dict[str, Any], key: str, path: Path, present: list[int]) -> list[int]:
    value = meta[key]
    if not isinstance(value, list | tuple) or not all(
            isinstance(v, int | np.integer) for v in value):
        raise DataError(f"{path}: {key} must be a list of batch numbers, got {value!r}")
    missing = [int(v) for v in value if int(v) not in present]
    if missing:
        raise DataError(f"{path}: {key} names batch {missing[0]}, but there is no "
                        f"data_batch_{missing[0]}")
    return [int(v) for v in value]


def open_batch_folder(path: str | Path) -> BatchFolder:
    """Read and check ``batches.meta``; DataError naming the file and field otherwise."""
    path = Path(path)
    meta_path = path / "batches.meta"
    meta = b2012.read_meta(path)
    names = meta["label_names"]
    if not isinstance(names, list | tuple) or not names:
        raise DataError(f"{meta_path}: label_names must be a non-empty list of class names")
    num_vis = int(meta["num_vis"])
    side = int(meta.get("img_size") or round((num_vis / 3) ** 0.5))
    if 3 * side * side != num_vis:
        raise DataError(f"{meta_path}: num_vis={num_vis} is not 3 x {side} x {side} (square "
                        "RGB images, as the converters write them)")
    present = b2012.batch_numbers(path)
    if "train_batches" in meta or "test_batches" in meta:
        splits = {k: _numbers(meta, f"{k}_batches", meta_path, present)
                  for k in ("train", "test") if f"{k}_batches" in meta}
        rule = "batches.meta"
    elif len(present) > 1:
        splits = {"train": present[:-1], "test": present[-1:]}
        rule = "last batch is the test set"
    else:
        splits = {"train": present}
        rule = "one batch, no test set"
    if not splits.get("train"):
        raise DataError(f"{meta_path}: no training batches (train_batches is empty)")
    files = sorted(p for p in path.iterdir() if p.is_file() and (
        p.name == "batches.meta" or p.name.startswith("data_batch_")))
    per = int(meta.get("num_cases_per_batch") or 0)
    return BatchFolder(path, [str(n) for n in names], side, splits, rule, per, files)


def iter_batches(folder: BatchFolder, split: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(images uint8 (n, side, side, 3), labels int64 (n,)) for each batch of a split."""
    meta = b2012.read_meta(folder.path)
    for num in folder.splits.get(split, []):
        batch = b2012.read_batch(folder.path, num, meta)
        data = batch["data"]
        if data.dtype != np.uint8:
            raise DataError(f"{b2012.batch_path(folder.path, num)}: data is {data.dtype}; the "
                            "port reads uint8 pixel batches")
        n = data.shape[1]
        images = data.reshape(3, folder.size, folder.size, n).transpose(3, 1, 2, 0)
        yield np.ascontiguousarray(images), batch["labels"]
