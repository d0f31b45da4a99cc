"""End to end: the 80sec recipe's wall time, the port against a plain PyTorch loop.

    .venv/bin/python benchmarks/bench_end_to_end.py [--quick] [--data PATH] [--json PATH]
        [--device cuda]

What ``bench_train.py`` measures per minibatch, this measures for a whole run, from
reading the prepared (decoded) data to the final test error, so that everything a user
waits for is counted: data handling, the epochs, the per-epoch bookkeeping and the
final test pass. In the same run, each side in its own fresh process:

* ``port``: :func:`alexnet.modern.train.train` with the ``cifar10-80sec`` recipe, as
  ``alexnet train --arch cifar10-80sec`` runs it (the allocator setting the command
  makes, the recipe's epochs and learning-rate drop, the 2011 data order, a test pass
  and a checkpoint after every epoch, metrics.json and report.md);
* ``plain``: a training loop written here the way one would write it without this
  package: an ``nn.Sequential`` of the same layers (``bench_train.eager_cifar80sec``)
  initialised the 2011 way (zero-mean Gaussians of the cfg's ``initW``, zero biases),
  the 2011 update rule (``bench_train.PlainUpdate2012``) with the cfg's rates and the
  recipe's schedule, a ``DataLoader`` over the same decoded images (mean image
  subtracted per minibatch, shuffled once and then read in the same order every
  epoch), the same batch size and epochs, and one test pass at the end.

Printed for each: wall seconds, training images per second (images seen in training
over the whole wall time), CPU seconds and the final top-1 error; then the ratio
port/plain of the wall times (above 1: the port is slower) and of the CPU times. The
port's per-epoch test passes are reported separately: its recipe scores every epoch,
the plain loop only the last one.

Data: the shared CIFAR-10 image-folder tarball (``$ALEXNET_SHARED/datasets/
cifar10-jpg.tar.gz`` or the ``shared/datasets`` folder beside the checkout, found the
way ``alexnet verify`` finds it), or ``--data``. Absent data: one line, exit 0 (nothing
measured). The data set is decoded into the cache (``--cache``) before anything is timed.
``--quick`` trains one epoch on a stratified subset (a smoke test, not a figure).
``--device cuda`` puts both sides on the GPU (the port as ``alexnet train --device cuda``
runs; the plain loop moves each minibatch there and synchronises before the clock stops);
a device the machine lacks is one line and exit 2, before anything is decoded.
Figures depend on what else runs on the machine; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import bench_train  # benchmarks/bench_train.py, beside this script
import numpy as np
import timing  # benchmarks/timing.py, beside this script
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from alexnet import registry
from alexnet.errors import AlexNetError
from alexnet.io import atomic_write_json
from alexnet.modern.allocator import tune_allocator
from alexnet.modern.data import Split, load_dataset
from alexnet.modern.device import resolve_device
from alexnet.modern.subset import stratified_subset
from alexnet.modern.train import TrainConfig, train
from alexnet.modern.update import load_schedule
from alexnet.original import cfgs
from alexnet.original.layer import parse_layers
from alexnet.verify.accuracy import find_cifar

ARCH = "cifar10-80sec"
CFG_NET = "80sec"  # the cfg pair the arch is built from (layers-80sec.cfg)
QUICK = {"epochs": 1, "limit_train": 1280, "limit_test": 500}


# --------------------------------------------------------------------------------------
# The two sides (each runs in its own process)


def _splits(data: str, cache: str | None, seed: int, limit_train: int | None,
            limit_test: int | None) -> tuple[Split, Split]:
    """The decoded splits, cut to the same stratified subsets the port's limits take."""
    ds = load_dataset(data, size=32, cache_dir=cache, progress=False)
    if ds.train is None or ds.test is None:
        raise AlexNetError(f"{data}: needs both a train and a test split")
    train = stratified_subset(ds.train, limit_train, seed, stream=0)
    test = stratified_subset(ds.test, limit_test, seed, stream=1)
    return train, test


def run_port(p: dict) -> dict:
    """``alexnet train --arch cifar10-80sec`` in this process, timed from the call."""
    tune_allocator()  # as the `alexnet train` command does before training
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        cfg = TrainConfig(arch=ARCH, data=p["data"], out=str(Path(tmp) / "run"),
                          epochs=p["epochs"], seed=p["seed"], cache_dir=p["cache"],
                          limit_train=p["limit_train"], limit_test=p["limit_test"],
                          device=p["device"], progress=False)
        c0, t0 = timing.cpu_seconds(), time.perf_counter()
        res = train(cfg, log=lambda line: print(line, file=sys.stderr))
        wall, cpu = time.perf_counter() - t0, timing.cpu_seconds() - c0
    epochs = res.metrics.get("epochs", [])
    final = res.metrics.get("final") or {}
    # each epoch's row gives its images/s over its training seconds: their product is
    # the number of images it trained on
    seen = round(sum(e["train_s"] * e["images_per_s"] for e in epochs))
    return {"impl": "port", "status": res.status, "wall_s": wall, "cpu_s": cpu,
            "epochs": len(epochs), "train_images": seen,
            "train_s": sum(e["train_s"] for e in epochs),
            "test_s": sum(e["eval_s"] for e in epochs),
            "test_passes": len(epochs), "final_top1_err": final.get("top1_err"),
            "final_loss": epochs[-1]["train_loss"] if epochs else None,
            "threads": torch.get_num_threads(), "device": str(resolve_device(p["device"]))}


def _init_2011(model: nn.Sequential, layers: dict) -> None:
    """Weights ~ N(0, initW) from the cfg, biases zero (the 2011 initialisation)."""
    with torch.no_grad():
        for name, mod in model.named_children():
            if getattr(mod, "weight", None) is not None:
                mod.weight.normal_(0.0, float(layers[name]["initW"][0]))
                mod.bias.zero_()


def _groups(model: nn.Sequential, layers: dict) -> list[dict]:
    """Per-tensor rates from the cfg: epsW/momW/wc for weights, epsB/momB for biases."""
    groups = []
    for name, mod in model.named_children():
        if getattr(mod, "weight", None) is None:
            continue
        d = layers[name]
        groups.append({"layer": name, "name": f"{name}.weight", "kind": "weights",
                       "param": mod.weight, "eps": d["epsW"][0], "base_eps": d["epsW"][0],
                       "mom": d["momW"][0], "wc": d["wc"][0]})
        groups.append({"layer": name, "name": f"{name}.bias", "kind": "biases",
                       "param": mod.bias, "eps": d["epsB"], "base_eps": d["epsB"],
                       "mom": d["momB"], "wc": 0.0})
    return groups


def run_plain(p: dict) -> dict:
    """The plain loop: read the decoded data, train the recipe's epochs, test once."""
    recipe = registry.recipe(ARCH)
    assert recipe is not None
    epochs = p["epochs"] if p["epochs"] is not None else recipe.epochs
    schedule = load_schedule(recipe.schedule)
    layers = {n: lay.d for n, lay in parse_layers(*cfgs.pair(CFG_NET)).layers.items()}
    c0, t0 = timing.cpu_seconds(), time.perf_counter()

    train_split, test_split = _splits(p["data"], p["cache"], p["seed"], p["limit_train"],
                          p["limit_test"])
    device = resolve_device(p["device"])
    x_train = torch.from_numpy(np.array(train_split.images))  # N, H, W, 3 uint8
    y_train = torch.from_numpy(np.asarray(train_split.labels, np.int64))
    mean = x_train.float().mean(0).to(device)
    torch.manual_seed(p["seed"])
    model = bench_train.eager_cifar80sec()
    _init_2011(model, layers)  # drawn on the CPU, as the port draws them, then moved
    model.to(device)
    opt = bench_train.PlainUpdate2012(_groups(model, layers))
    order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(p["seed"]))
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=p["batch"],
                        sampler=order.tolist())  # shuffled once: the 2011 data order

    def prepare(xb: torch.Tensor) -> torch.Tensor:
        return (xb.to(device).float() - mean).permute(0, 3, 1, 2).contiguous()

    seen, loss_v = 0, float("nan")
    t_train = time.perf_counter()
    for epoch in range(epochs):
        for g in opt.groups:
            g["eps"] = schedule.eps_for(g["base_eps"], g["layer"], g["name"], g["kind"], epoch)
        model.train()
        for xb, yb in loader:
            loss = F.cross_entropy(model(prepare(xb)), yb.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(yb)
        loss_v = float(loss)
        if not math.isfinite(loss_v):
            break  # reported as diverged: no error figure below
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # the epochs' kernels have run, not only been queued
    train_s = time.perf_counter() - t_train

    t_test = time.perf_counter()
    wrong = 0
    model.eval()
    x_test = torch.from_numpy(np.array(test_split.images))
    y_test = torch.from_numpy(np.asarray(test_split.labels, np.int64))
    with torch.no_grad():
        for xb, yb in DataLoader(TensorDataset(x_test, y_test), batch_size=256):
            wrong += int((model(prepare(xb)).argmax(1).cpu() != yb).sum())
    test_s = time.perf_counter() - t_test
    wall, cpu = time.perf_counter() - t0, timing.cpu_seconds() - c0
    ok = math.isfinite(loss_v)
    return {"impl": "plain", "status": "finished" if ok else "diverged", "wall_s": wall,
            "cpu_s": cpu, "epochs": epochs, "train_images": seen, "train_s": train_s,
            "test_s": test_s, "test_passes": 1,
            "final_top1_err": wrong / len(y_test) if ok else None, "final_loss": loss_v,
            "threads": torch.get_num_threads(), "device": str(device)}


WORKERS = {"port": run_port, "plain": run_plain}


# --------------------------------------------------------------------------------------
# The driver


def _line(r: dict) -> str:
    err = r.get("final_top1_err")
    err_s = f"{100 * err:.2f}%" if err is not None and math.isfinite(err) else "none"
    extra = (f"train {r['train_s']:.1f} s, {r['test_passes']} test pass(es) "
             f"{r['test_s']:.1f} s, rest {r['wall_s'] - r['train_s'] - r['test_s']:.1f} s")
    return (f"{r['wall_s']:8.1f} s wall ({extra}), {r['images_per_s']:7.1f} images/s, "
            f"{r['cpu_s']:.1f} CPU s; final top-1 error {err_s} ({r['status']})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="CIFAR-10 image folder or tarball (default: "
                    "the shared copy, $ALEXNET_SHARED/datasets/cifar10-jpg.tar.gz)")
    ap.add_argument("--cache", default=None, help="decoded-image cache (default: the "
                    "package's, ~/.cache/alexnet or $ALEXNET_CACHE)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=128, help="minibatch (the port: its default)")
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke test: {QUICK['epochs']} epoch on a stratified subset of "
                         f"{QUICK['limit_train']} train / {QUICK['limit_test']} test images")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads per worker (default: torch's choice)")
    ap.add_argument("--device", default="cpu",
                    help="cpu, cuda, cuda:N or auto, for both sides (default: cpu)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        if args.threads:
            torch.set_num_threads(args.threads)
        try:
            print(json.dumps(WORKERS[args.worker](json.loads(args.params))))
        except AlexNetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0

    try:
        resolve_device(args.device)  # a device this machine lacks: one line, before any work
        data = find_cifar(args.data)
    except AlexNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if data is None:
        print("skipped: no CIFAR-10 image-folder tarball (pass --data, or place the shared "
              "copy at $ALEXNET_SHARED/datasets/cifar10-jpg.tar.gz); nothing measured",
              file=sys.stderr)
        return 0
    if args.batch != 128:
        ap.error("--batch: the port is measured as `alexnet train` runs it, at batch 128")
    params = {"data": str(data), "cache": args.cache, "seed": args.seed, "batch": args.batch,
              "epochs": args.epochs, "limit_train": None, "limit_test": None,
              "device": args.device}
    if args.quick:
        params.update({k: v for k, v in QUICK.items() if k != "epochs" or args.epochs is None})

    # decode once, untimed: both sides then read the same prepared images
    try:
        ds = load_dataset(data, size=32, cache_dir=args.cache, progress=True)
    except AlexNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    threads = args.threads or torch.get_num_threads()
    load0 = os.getloadavg()
    print(f"torch {torch.__version__}, {threads} threads per worker, {os.cpu_count()} cpus, "
          f"load average {load0[0]:.1f} (figures are rough when the machine is busy)")
    print(f"data: {data} ({len(ds.train) if ds.train is not None else 0} train, "
          f"{len(ds.test) if ds.test is not None else 0} test images decoded); "
          f"{'quick: ' + str(QUICK) if args.quick else 'the full recipe'}, seed {args.seed}")
    results: dict = {"arch": ARCH, "torch": torch.__version__, "threads": threads,
                     "cpus": os.cpu_count(), "load_average_before": load0,
                     "params": params, "quick": args.quick}
    ok = True
    for impl in ("plain", "port"):
        cmd = [sys.executable, __file__, "--worker", impl, "--params", json.dumps(params)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        try:
            r = timing.run_worker(cmd, args.threads)
        except RuntimeError as exc:
            print(f"  {impl:5s}: FAILED: {exc}", file=sys.stderr)
            return 1
        r["images_per_s"] = r["train_images"] / r["wall_s"]
        err = r.get("final_top1_err")
        ok &= r["status"] == "finished" and err is not None and math.isfinite(err)
        results[impl] = r
        print(f"  {impl:5s}: {_line(r)}")
    results["load_average_after"] = os.getloadavg()
    ratio = results["port"]["wall_s"] / results["plain"]["wall_s"]
    cpu_ratio = results["port"]["cpu_s"] / results["plain"]["cpu_s"]
    train_ratio = results["port"]["train_s"] / results["plain"]["train_s"]
    results.update({"ratio_port_plain": ratio, "ratio_port_plain_cpu": cpu_ratio,
                    "ratio_port_plain_train_epochs": train_ratio, "valid": ok})
    print(f"  port/plain wall time: {ratio:.2f}x (CPU time {cpu_ratio:.2f}x; training epochs "
          f"alone {train_ratio:.2f}x); above 1: the port is slower")
    if not ok:
        print("  NOT a valid comparison: a side did not finish with a finite error",
              file=sys.stderr)
    if args.json:
        atomic_write_json(args.json, results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
