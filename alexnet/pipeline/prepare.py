"""The ``prepare`` stage: the training set's statistics, and the data in the 2012 format.

Paper section 2 subtracts "the mean activity over the training set from each pixel";
section 4.1 adds colour noise along the principal components of the training set's RGB
values. This stage computes both once, from the same decoded pixels the trainer reads
(:func:`alexnet.modern.data.load_dataset`, whose decode cache the train stage then
reuses), with the trainer's own functions, so the numbers written here are the numbers
training used:

``mean.npy``
    float32 (H, W, 3), the per-pixel mean image (:func:`alexnet.modern.augment.mean_image`);
``pca.json``
    eigenvalues (descending) and eigenvectors (columns) of the 3x3 RGB covariance
    (:func:`alexnet.modern.augment.rgb_pca`), plus the 2012 ``color_pca`` pair
    (square roots of the eigenvalues, the same eigenvectors);
``dataset.json``
    classes, image counts, stored size, the data's checksum, skipped images;
``batches/``
    the data in the 2011/2012 batch format (``batches.meta`` + ``data_batch_1..5``
    training, ``data_batch_6`` test for CIFAR-10), written with the re-creation's own
    writers (:mod:`alexnet.original.batches`) so that ``alexnet original`` commands and
    the evaluate stage's 2012 side can read them. The training batches are shuffled once
    (seeded, as the 2012 batch files were); the test batch keeps the data set's order so
    that its predictions line up image by image with the port's.

A data set with no training split (``ilsvrc2012-val``, for a profile that imports its
weights) gets only ``dataset.json`` (and the image tree): there is nothing to compute the
statistics from, and the imported net subtracts the mean it was trained with.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from alexnet.download import verify
from alexnet.errors import ConfigError
from alexnet.imagenet.prepare import SOURCE_NAMES as IMAGENET_SOURCES
from alexnet.imagenet.prepare import prepare as imagenet_prepare
from alexnet.io import staging_dir
from alexnet.modern.augment import mean_image, rgb_pca
from alexnet.modern.data import load_dataset
from alexnet.original import batches
from alexnet.pipeline.fetch import IMAGES_DIR, FetchedData, pin_of, read_fetched
from alexnet.pipeline.params import check_keys

#: Images per 2012 batch file (the CIFAR-10 batches of the 2011 release held 10,000).
BATCH_SIZE = 10000
PREPARE_KEYS = ("image_size", "batches", "batch_size", "seed")


def to_columns(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (3*H*W, N): one image per column, channel-row-column order."""
    n, h, w, c = images.shape
    return np.ascontiguousarray(np.asarray(images).transpose(3, 1, 2, 0).reshape(c * h * w, n))


def load_fetched_dataset(fetched: str | Path, *, size: int | None, cache_dir: str | None = None,
                         progress: bool = True, data: Path | None = None,
                         splits: tuple[str, ...] = ("train", "test")):
    """The fetched data set through the port's loader (decoded once, then cached).

    Every fetched file is checked against its pin again first (the manifest's checksums):
    a file changed or damaged since the fetch stage stops here with both checksums,
    instead of being decoded into batches that look genuine. (The ILSVRC-2012 archives,
    ~150 GB, are not hashed again here: prepare reads the image tree made from them.)
    """

    fd = read_fetched(fetched)
    if fd.kind != "ilsvrc2012":
        for entry in fd.manifest["files"]:
            verify(fd.files[entry["file"]], pin_of(entry), progress=progress)
    return load_dataset(data or fd.data, size=size, cache_dir=cache_dir, md5=fd.md5,
                        progress=progress, splits=splits), fd


def imagenet_images(fd: FetchedData, out: Path, *, progress: bool = True) -> Path:
    """``alexnet imagenet prepare`` on the fetched ILSVRC-2012 archives (train/<wnid>/,
    val/<wnid>/, classes.tsv), built in a folder beside ``out`` that survives an
    interruption: the next run resumes it (finished images are kept), and a previous
    run's complete tree in ``out/images`` is taken over rather than redone."""
    partial = out.with_name(f".{out.name}-{IMAGES_DIR}-partial")
    done = out / IMAGES_DIR
    if done.is_dir() and not partial.exists():
        os.replace(done, partial)
    sources = out.with_name(f".{out.name}-sources")
    shutil.rmtree(sources, ignore_errors=True)
    sources.mkdir(parents=True)
    try:
        for name, path in fd.files.items():   # the archives by their official names
            (sources / name).symlink_to(path.resolve())
        imagenet_prepare(sources, partial, progress=progress)
    finally:
        shutil.rmtree(sources, ignore_errors=True)
    return partial


def write_batches(ds, out: Path, *, mean: np.ndarray, pca_vals: np.ndarray,
                  pca_vecs: np.ndarray, batch_size: int = BATCH_SIZE, seed: int = 0
                  ) -> dict[str, Any]:
    """The data set as 2012 batch files in ``out`` (training shuffled once, test in order)."""

    out.mkdir(parents=True, exist_ok=True)
    size = ds.image_size
    n = len(ds.train)
    perm = np.random.default_rng([seed, 2012]).permutation(n)
    nums = []
    for k, s in enumerate(range(0, n, batch_size), start=1):
        idx = perm[s:s + batch_size]
        batches.write_batch(out, k, to_columns(ds.train.images[idx]), ds.train.labels[idx],
                            batch_label=f"training batch {k} of {-(-n // batch_size)}")
        nums.append(k)
    test_num = None
    if ds.test is not None:
        test_num = nums[-1] + 1
        batches.write_batch(out, test_num, to_columns(ds.test.images), ds.test.labels,
                            batch_label="testing batch")
    mean_cols = np.ascontiguousarray(mean.transpose(2, 0, 1)).reshape(-1)
    dp_type = "cifar" if size == 32 else "inet-lr-cropped"
    batches.write_meta(out, label_names=list(ds.classes), data_mean=mean_cols,
                       num_cases_per_batch=batch_size,
                       extra={"img_size": size, "dp_type": dp_type, "train_batches": nums,
                              "test_batches": [test_num] if test_num else [],
                              "color_pca": (np.sqrt(np.maximum(pca_vals, 0)).astype(np.float32),
                                            np.asarray(pca_vecs, np.float32))})
    return {"folder": "batches", "train_batches": nums, "test_batch": test_num,
            "train_range": f"{nums[0]}-{nums[-1]}" if len(nums) > 1 else str(nums[0]),
            "test_range": str(test_num) if test_num else "", "batch_size": batch_size,
            "train_order_seed": [seed, 2012], "dp_type": dp_type}


def write_test_batch(images: np.ndarray, labels: np.ndarray, out: Path, *,
                     classes: list[str], mean: np.ndarray) -> int:
    """A test-only 2012 batch folder (``batches.meta`` + ``data_batch_1``) of ``images``
    in the order given, for the re-creation to read when the prepare stage wrote none
    (ImageNet: ``batches: false``). ``mean`` is the (H, W, 3) mean image of the NET that
    will read it (its checkpoint's), since the 2012 providers subtract the meta's
    ``data_mean``: for imported weights that is Caffe's mean, not the prepare stage's.
    Returns the test batch's number."""

    out.mkdir(parents=True, exist_ok=True)
    n, size = int(images.shape[0]), int(images.shape[1])
    batches.write_batch(out, 1, to_columns(images), labels,
                        batch_label=f"testing batch ({n} images)")
    mean_cols = np.ascontiguousarray(np.asarray(mean, np.float32).transpose(2, 0, 1))
    batches.write_meta(out, label_names=list(classes), data_mean=mean_cols.reshape(-1),
                       num_cases_per_batch=max(n, 1),
                       extra={"img_size": size, "train_batches": [], "test_batches": [1],
                              "dp_type": "cifar" if size == 32 else "inet-lr-cropped"})
    return 1


def prepare(fetched: str | Path, out: str | Path, settings: dict[str, Any], *,
            params_path: str = "params.yaml", key: str = "prepare",
            cache_dir: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Write the stage's files into ``out`` (atomically, as one folder); return dataset.json."""

    check_keys(settings, PREPARE_KEYS, params_path, key)
    size = settings.get("image_size")
    if size is not None and (not isinstance(size, int) or size < 8):
        raise ConfigError("image_size must be an integer >= 8", path=params_path,
                          key=f"{key}.image_size")
    out = Path(out)
    images = None
    fd0 = read_fetched(fetched)
    splits = data_splits(fd0)
    if "train" not in splits and settings.get("batches", False):
        raise ConfigError(f"data set {fd0.name!r} has no training split, so there are no "
                          "2012 training batches to write; set batches: false",
                          path=params_path, key=f"{key}.batches")
    if fd0.kind == "ilsvrc2012" and fd0.images is None:
        images = imagenet_images(fd0, out, progress=progress)
    ds, fd = load_fetched_dataset(fetched, size=size, cache_dir=cache_dir, progress=progress,
                                  data=images, splits=splits)
    with staging_dir(out) as staging:
        if images is not None:
            os.replace(images, staging / IMAGES_DIR)
        if ds.train is None:
            info = _dataset_info(ds, fd, mean=None)
            info["statistics"] = ("none: the data set has no training split (imported "
                                  "weights subtract the mean they were trained with)")
            (staging / "dataset.json").write_text(json.dumps(info, indent=2) + "\n",
                                                  encoding="utf-8")
            return info
        mean = mean_image(ds.train.images)
        vals, vecs = rgb_pca(ds.train.images)
        np.save(staging / "mean.npy", mean, allow_pickle=False)
        pca = {
            "eigenvalues": [float(v) for v in vals],
            "eigenvectors_columns": [[float(x) for x in row] for row in np.asarray(vecs)],
            "color_pca_2012": {"stdevs": [float(np.sqrt(max(v, 0.0))) for v in vals],
                               "eigenvectors_columns": [[float(x) for x in row]
                                                        for row in np.asarray(vecs)]},
            "space": "RGB, 0-255 pixel values of the training set",
        }
        (staging / "pca.json").write_text(json.dumps(pca, indent=2) + "\n", encoding="utf-8")
        info = _dataset_info(ds, fd, mean=mean)
        if settings.get("batches", False):
            info["batches"] = write_batches(
                ds, staging / "batches", mean=mean, pca_vals=vals, pca_vecs=vecs,
                batch_size=int(settings.get("batch_size", BATCH_SIZE)),
                seed=int(settings.get("seed", 0)))
        (staging / "dataset.json").write_text(json.dumps(info, indent=2) + "\n",
                                              encoding="utf-8")
    return info


def data_splits(fd: FetchedData) -> tuple[str, ...]:
    """The splits prepare reads: both, except for ILSVRC-2012 fetched without its
    training archive (the ``ilsvrc2012-val`` data set of the imported-weights profile),
    whose 138 GB of training images a net that is not trained here never needs."""
    if fd.kind == "ilsvrc2012" and not any(name in IMAGENET_SOURCES["train"]
                                           for name in fd.files):
        return ("test",)
    return ("train", "test")


def _dataset_info(ds, fd: FetchedData, *, mean: np.ndarray | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "dataset": fd.name,
        "kind": fd.kind,
        "checksum": ds.source.get("checksum"),
        "image_size": ds.image_size,
        "classes": list(ds.classes),
        "train_images": len(ds.train) if ds.train is not None else 0,
        "test_images": len(ds.test) if ds.test is not None else 0,
        "skipped_images": [list(s) for s in ds.skipped],
    }
    if mean is not None:
        info["mean_rgb"] = [float(v) for v in mean.reshape(-1, 3).mean(axis=0)]
    return info
