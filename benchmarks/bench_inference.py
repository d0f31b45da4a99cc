"""Benchmark: AlexNet inference on the CPU, images per second at batch 1 and 128.

One command, each network against a baseline measured in the same run::

    .venv/bin/python benchmarks/bench_inference.py              # alexnet2012, bvlc-alexnet
    .venv/bin/python benchmarks/bench_inference.py --quick      # batch 1 and 8, 1 repeat
    .venv/bin/python benchmarks/bench_inference.py --json out.json --threads 4

For each architecture of the port (``alexnet.modern.build_model``, eval mode, under
``torch.inference_mode``) and each batch size it times a forward pass on random input
of the net's shape, and the same for a baseline of identical shapes written as one
plain ``nn.Sequential`` of PyTorch's own layers (``nn.Conv2d`` with the same groups,
``nn.LocalResponseNorm``, ``nn.MaxPool2d`` with ``ceil_mode`` as the 2012 pooling
rounds, ``nn.Linear``): what a user would write without the package. The ratio is
baseline time / port time (above 1: the port is faster). Timings are medians of a few
repeats after one warm-up, on whatever cores are free; on a shared machine they are
rough, so the figures the README quotes come from a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from timing import median_time  # noqa: E402  (benchmarks/timing.py, beside this script)
from torch import nn

from alexnet.modern import build_model

CLOCK = time.perf_counter

#: per architecture: conv layers (out, kernel, stride, pad, groups), then where LRN
#: and pooling go, as the baseline needs them (the port's own modules are not used)
_CONVS = [(96, 11, 4, 0, 1), (256, 5, 1, 2, 2), (384, 3, 1, 1, 1), (384, 3, 1, 1, 2),
          (256, 3, 1, 1, 2)]


def baseline(arch: str) -> nn.Module:
    """A plain ``nn.Sequential`` with the architecture's shapes and layer order."""
    # 224 input (definition 145): padding 2 gives conv1 the 55 positions of the 2012
    # ceil rule; 227 input (Caffe's nets): none needed. LRN: 145's k = 2, Caffe's k = 1.
    pad1, lrn = (2, (5, 5e-4, 0.75, 2.0)) if arch == "alexnet2012" else (0, (5, 1e-4, 0.75, 1.0))
    layers: list[nn.Module] = []
    cin = 3
    for i, (out, k, s, p, g) in enumerate(_CONVS, 1):
        layers += [nn.Conv2d(cin, out, k, s, pad1 if i == 1 else p, groups=g),
                   nn.ReLU(inplace=True)]
        if i in (1, 2):
            size, alpha, beta, kk = lrn
            layers += [nn.LocalResponseNorm(size, alpha, beta, kk),
                       nn.MaxPool2d(3, 2, ceil_mode=True)]
        cin = out
    layers += [nn.MaxPool2d(3, 2, ceil_mode=True), nn.Flatten(),
               nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
               nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
               nn.Linear(4096, 1000)]
    return nn.Sequential(*layers)


def images_per_s(model: nn.Module, shape: tuple[int, int, int], batch: int,
                 repeats: int) -> float:
    model.eval()
    x = torch.randn(batch, *shape) * 50

    def run():
        with torch.inference_mode():
            model(x)

    return batch / median_time(run, repeats, CLOCK)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", action="append",
                    help="architecture(s) to time (default: alexnet2012 and bvlc-alexnet)")
    ap.add_argument("--batch", type=int, action="append", help="batch size(s) (default 1, 128)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, help="torch.set_num_threads")
    ap.add_argument("--quick", action="store_true", help="batch 1 and 8, one repeat")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    archs = args.arch or ["alexnet2012", "bvlc-alexnet"]
    batches = args.batch or ([1, 8] if args.quick else [1, 128])
    repeats = 1 if args.quick else args.repeats
    torch.manual_seed(0)
    rows = []
    for arch in archs:
        port = build_model(arch)
        base = baseline(arch)
        shape = tuple(port.input_shape)
        with torch.inference_mode():  # same output shape, or the baseline is not a peer
            x = torch.zeros(1, *shape)
            base.eval(), port.eval()
            if base(x).shape != port(x).shape:
                raise SystemExit(f"{arch}: baseline output {tuple(base(x).shape)} differs "
                                 f"from the port's {tuple(port(x).shape)}")
        for b in batches:
            ours = images_per_s(port, shape, b, repeats)
            theirs = images_per_s(base, shape, b, repeats)
            rows.append({"arch": arch, "batch": b, "port_images_per_s": ours,
                         "baseline_images_per_s": theirs, "ratio": ours / theirs})
            print(f"{arch:14s} batch {b:4d}: port {ours:9.1f} img/s, plain nn.Sequential "
                  f"{theirs:9.1f} img/s, port/baseline {ours / theirs:5.2f}x", flush=True)
    result = {"device": "cpu", "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(),
              "torch": torch.__version__, "repeats": repeats, "rows": rows}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
