"""Stratified, seeded subsets of a split (``--limit-train`` / ``--limit-test``).

The CIFAR-10 image-folder copy stores its images class by class, so "the first N
images" of it is one class only (and a test error of 0% on it means nothing). A limit
therefore keeps every class in its share of the split, chosen by a generator seeded
from the run's seed, and keeps the chosen images in their stored order.
"""

from __future__ import annotations

import numpy as np

from alexnet.modern.data import Split


def stratified_indices(labels: np.ndarray, n: int, seed: int, stream: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` items of ``labels`` with each class in proportion.

    Each class gets ``n * count / len(labels)`` items, the fractional remainders going
    to the classes with the largest ones (ties: the smaller label), and its items are
    drawn uniformly by a generator seeded from ``(seed, stream)``; the same arguments
    always give the same indices.
    """
    labels = np.asarray(labels)
    total = int(labels.shape[0])
    if n >= total:
        return np.arange(total)
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / total
    quota = np.floor(exact).astype(np.int64)
    short = n - int(quota.sum())
    if short:
        # largest remainders first; lexsort's last key is the primary one
        order = np.lexsort((classes, -(exact - quota)))
        quota[order[:short]] += 1
    rng = np.random.default_rng([seed, 3, stream])
    perm = rng.permutation(total)
    chosen = []
    for c, q in zip(classes, quota, strict=True):
        members = perm[labels[perm] == c]
        chosen.append(members[:q])
    return np.sort(np.concatenate(chosen))


def stratified_subset(split: Split | None, n: int | None, seed: int,
                      stream: int = 0) -> Split | None:
    """``split`` cut to ``n`` images by :func:`stratified_indices` (unchanged if ``n`` is
    None or not smaller)."""
    if split is None or n is None or n >= len(split):
        return split
    idx = stratified_indices(split.labels, n, seed, stream)
    return Split(np.asarray(split.images[idx]), np.asarray(split.labels[idx]))
