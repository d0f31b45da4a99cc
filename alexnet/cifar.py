"""What a CIFAR-10 python batch must hold, checked once for every reader.

The official tarball's members are Python-2 pickles of a dict with ``data`` (uint8,
one row of 3072 values per image: 1024 red, 1024 green, 1024 blue) and ``labels``
(a list of class indices 0..9); ``batches.meta`` holds ``label_names``. Keys may be
byte strings (Python 2). The port's data loader (:mod:`alexnet.modern.data`) and the 2012
batch converter (:mod:`alexnet.original.batches`) both read these files; a tampered or
damaged one must fail the same way in both, as one line naming the member and what it
should hold, instead of a ``KeyError`` or a silently wrong label.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alexnet.errors import DataError
from alexnet.registry import CIFAR10_CLASSES

#: Values per image in a CIFAR batch row (3 x 32 x 32).
ROW = 3 * 32 * 32


def _text_keys(obj: dict) -> dict:
    return {(k.decode("latin-1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def check_batch(obj: Any, source: str, *, n_classes: int = len(CIFAR10_CLASSES)
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(data (N, 3072) uint8, labels (N,) int64)`` of one unpickled batch, or DataError."""
    if not isinstance(obj, dict):
        raise DataError(f"{source}: expected a dict with 'data' and 'labels' (a CIFAR-10 "
                        f"batch), got {type(obj).__name__}")
    obj = _text_keys(obj)
    if "data" not in obj or "labels" not in obj:
        raise DataError(f"{source}: expected a dict with 'data' and 'labels' (a CIFAR-10 "
                        "batch)")
    data = obj["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != ROW:
        what = (f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(f"{source}: 'data' is {what}, expected a uint8 array (N, {ROW})")
    raw = obj["labels"]
    if not isinstance(raw, list | tuple | np.ndarray) or not all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for v in raw):
        raise DataError(f"{source}: 'labels' must be a list of integers")
    labels = np.asarray(raw, dtype=np.int64).reshape(-1)
    if labels.shape != (data.shape[0],):
        raise DataError(f"{source}: {labels.shape[0]} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(f"{source}: labels outside 0..{n_classes - 1} (found "
                        f"{int(labels.min())}..{int(labels.max())})")
    return data, labels


def meta_label_names(meta: Any, source: str) -> list[str]:
    """The class names of an unpickled ``batches.meta``, or DataError."""
    names = _text_keys(meta).get("label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list | tuple) or not names or not all(
            isinstance(n, str | bytes) for n in names):
        raise DataError(f"{source}: expected a dict with 'label_names' (a list of class "
                        "names)")
    return [n.decode("latin-1") if isinstance(n, bytes) else n for n in names]
