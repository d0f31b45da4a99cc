"""Stratified, seeded subsets for --limit-train / --limit-test (alexnet.modern.subset)."""

from __future__ import annotations

import numpy as np

from alexnet.modern.data import Split
from alexnet.modern.subset import stratified_indices, stratified_subset


def _class_ordered(per_class: int, classes: int = 10) -> np.ndarray:
    # the image-folder copy's layout: all of class 0, then all of class 1, ...
    return np.repeat(np.arange(classes), per_class)


def test_class_ordered_labels_give_every_class_its_share():
    labels = _class_ordered(500)
    idx = stratified_indices(labels, 2000, seed=0)
    assert len(idx) == 2000 and len(np.unique(idx)) == 2000
    assert np.all(np.diff(idx) > 0)  # stored order kept
    assert np.bincount(labels[idx], minlength=10).tolist() == [200] * 10


def test_remainders_go_to_the_largest_fractions_and_sizes_add_up():
    labels = np.array([0] * 5 + [1] * 3 + [2] * 2)
    idx = stratified_indices(labels, 5, seed=1)
    # exact shares 2.5, 1.5, 1.0: floors 2, 1, 1, one left over for the tie 0/1 -> class 0
    assert np.bincount(labels[idx], minlength=3).tolist() == [3, 1, 1]


def test_same_seed_same_subset_other_seed_or_stream_other_subset():
    labels = _class_ordered(100)
    a = stratified_indices(labels, 50, seed=7)
    assert np.array_equal(a, stratified_indices(labels, 50, seed=7))
    assert not np.array_equal(a, stratified_indices(labels, 50, seed=8))
    assert not np.array_equal(a, stratified_indices(labels, 50, seed=7, stream=1))


def test_subset_of_a_split_and_no_limit():
    labels = _class_ordered(4, classes=3)
    images = np.arange(12, dtype=np.uint8).reshape(12, 1, 1, 1) * np.ones((1, 2, 2, 3), np.uint8)
    split = Split(images, labels)
    part = stratified_subset(split, 6, seed=0)
    assert len(part) == 6 and np.bincount(part.labels).tolist() == [2, 2, 2]
    # each kept image is still paired with its own label
    assert np.array_equal(part.images[:, 0, 0, 0] // 4, part.labels)
    assert stratified_subset(split, None, seed=0) is split
    assert stratified_subset(split, 99, seed=0) is split
    assert stratified_subset(None, 5, seed=0) is None
