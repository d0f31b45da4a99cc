"""Data-pipeline throughput against the rate a training step consumes images.

    .venv/bin/python benchmarks/bench_data.py [--datasets DIR]
        [--consume-cifar N] [--consume-imagenet N] [--no-measure] [--device cpu]

Two paths, each in two stages:

* CIFAR image folder (``cifar10-jpg.tar.gz``): decoding JPEGs from the tarball (what
  the first run pays once, to fill the cache), then building training minibatches from
  the cached uint8 array (what every epoch pays: mean, crop/flip, to NCHW float).
* ImageNet-style JPEGs (``imagenet-samples/``): decode + shorter side 256 + central
  256x256 (with and without libjpeg's reduced-size decoding), then 224x224 crops, flips
  and PCA colour noise in chunks of 32 as in 2012.

The consumption rate is what one training step of the matching network eats per
second (cifar10-80sec, alexnet2012; measured here with a few steps unless given).
A stage whose rate is below the consumer's is the bottleneck. Timings on a shared
machine are rough; run it alone for figures worth quoting.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from alexnet.devdata import datasets_dir
from alexnet.modern.augment import Augmenter, mean_image, rgb_pca
from alexnet.modern.data import decode_image


def _rate(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def bench_cifar_decode(tarball: Path, n: int, workers: int) -> float:
    blobs = []
    with tarfile.open(tarball, "r|gz") as tf:
        for m in tf:
            if m.isfile() and m.name.endswith(".jpg"):
                blobs.append(tf.extractfile(m).read())
                if len(blobs) >= n:
                    break
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        out = list(pool.map(lambda b: decode_image(b, 32), blobs))
    return _rate(len(out), time.perf_counter() - t)


def bench_batches(images: np.ndarray, out_size: int, batch: int, steps: int, *,
                  pca: str, chunk: int) -> float:
    vals, vecs = rgb_pca(images)
    aug = Augmenter(mean=mean_image(images), out_size=out_size, pca_vals=vals, pca_vecs=vecs,
                    pca_noise=pca, crop_chunk=chunk, flip=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(images))
    t = time.perf_counter()
    done = 0
    for s in range(steps):
        idx = order[(s * batch) % len(images):][:batch]
        if len(idx) < batch:
            idx = rng.integers(0, len(images), batch)
        aug.train_batch(np.asarray(images[idx]), np.random.default_rng([0, s]))
        done += len(idx)
    return _rate(done, time.perf_counter() - t)


def bench_imagenet_decode(files: list[Path], fast: bool, workers: int, repeat: int) -> float:
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for _ in range(repeat):
            list(pool.map(lambda p: decode_image(p, 256, fast_jpeg=fast), files))
    return _rate(len(files) * repeat, time.perf_counter() - t)


def measure_consumer(arch: str, batch: int, steps: int, device: str) -> float:
    import torch

    from alexnet.modern import build_model

    model = build_model(arch).to(device).train()
    c, h, w = model.input_shape
    x = (torch.randn(batch, c, h, w) * 60).to(device)
    y = torch.randint(0, model.num_classes, (batch,)).to(device)

    def step():
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()

    step()  # warm-up (allocator, kernels)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return _rate(batch * steps, time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, default=datasets_dir(),
                    help="the development data sets (default: $ALEXNET_SHARED/datasets, "
                    "else shared/datasets beside the checkout)")
    ap.add_argument("--consume-cifar", type=float, help="images/s a cifar10-80sec step eats")
    ap.add_argument("--consume-imagenet", type=float, help="images/s an alexnet2012 step eats")
    ap.add_argument("--no-measure", action="store_true", help="do not time training steps")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cifar-n", type=int, default=5000, help="JPEGs to decode")
    args = ap.parse_args(argv)

    rows: list[tuple[str, str, float, float | None]] = []
    tb = args.datasets / "cifar10-jpg.tar.gz"
    inet = args.datasets / "imagenet-samples"
    if not tb.is_file() and not inet.is_dir():
        print(f"no datasets under {args.datasets}; nothing to measure", file=sys.stderr)
        return 1

    cons_c = args.consume_cifar
    cons_i = args.consume_imagenet
    if not args.no_measure:
        if cons_c is None:
            cons_c = measure_consumer("cifar10-80sec", 128, 3, args.device)
        if cons_i is None:
            cons_i = measure_consumer("alexnet2012", 16 if args.device == "cpu" else 128,
                                      2, args.device)

    if tb.is_file():
        rows.append(("CIFAR folder (tar.gz)", "decode JPEG 32x32 (cache fill, once)",
                     bench_cifar_decode(tb, args.cifar_n, args.workers), cons_c))
        imgs = np.random.default_rng(0).integers(0, 256, (10000, 32, 32, 3)).astype(np.uint8)
        rows.append(("CIFAR folder (tar.gz)", "minibatch from cache: 32x32, mean",
                     bench_batches(imgs, 32, 128, 200, pca="off", chunk=1), cons_c))
        rows.append(("CIFAR folder (tar.gz)", "minibatch from cache: 24x24 crop+flip",
                     bench_batches(imgs, 24, 128, 200, pca="off", chunk=1), cons_c))
    if inet.is_dir():
        files = sorted(p for p in inet.iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))
        for fast in (False, True):
            rows.append(("ImageNet JPEGs", "decode + short side 256 + centre"
                         + (" (reduced-size JPEG decode)" if fast else ""),
                         bench_imagenet_decode(files, fast, args.workers, 2), cons_i))
        dec = np.stack([decode_image(p, 256) for p in files])
        rows.append(("ImageNet JPEGs", "224 crop+flip+PCA noise (chunk 32) from cache",
                     bench_batches(dec, 224, 128, 10, pca="code", chunk=32), cons_i))

    print(f"\ndata pipeline vs training consumption ({args.workers} decode threads, "
          f"device {args.device})\n")
    print(f"{'path':24} {'stage':60} {'images/s':>10} {'step eats':>10} {'headroom':>9}")
    for path, stage, rate, cons in rows:
        c = f"{cons:10.0f}" if cons else f"{'-':>10}"
        h = f"{rate / cons:8.1f}x" if cons else f"{'-':>9}"
        print(f"{path:24} {stage:60} {rate:10.0f} {c} {h}")
    print("\nheadroom < 1x: that stage cannot keep the training step fed.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
