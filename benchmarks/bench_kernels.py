"""Speed of the cudaconv2-style kernels (alexnet.cuda).

    .venv/bin/python benchmarks/bench_kernels.py [--json out.json] [--reps 20]

On a machine where torch sees a CUDA GPU (and nvcc is installed to build the kernels), every
kernel runs on AlexNet's layer shapes at batch 128 and is timed against PyTorch's own
implementation of the same operation -- cuDNN for the convolutions (fp32, TF32 off), ATen for
pooling and LRN -- and the ratio ours/theirs is reported (lower is better; > 1 means slower
than cuDNN). Without a GPU that part is skipped with a message, and the emulated kernels
(the CPU device-emulation host) are timed on the small shapes of the test suite, for
information only: emulation is meant to be faithful, not fast.
"""

# Every lambda below is timed inside the loop iteration that defines it, so late binding of
# the loop variables (B023) cannot bite.
# ruff: noqa: B023

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from alexnet.geometry import conv_output_size, pool_output_size

BATCH = 128

# AlexNet (one-tower form, towers as groups; paper section 3.5): (name, C, size, F, S, stride,
# padding, groups)
CONV_LAYERS = [
    ("conv1", 3, 224, 96, 11, 4, 0, 1),
    ("conv2", 96, 27, 256, 5, 1, 2, 2),
    ("conv3", 256, 13, 384, 3, 1, 1, 1),
    ("conv4", 384, 13, 384, 3, 1, 1, 2),
    ("conv5", 384, 13, 256, 3, 1, 1, 2),
]
POOL_LAYERS = [("pool1", 96, 55), ("pool2", 256, 27), ("pool5", 256, 13)]
NORM_LAYERS = [("rnorm1", 96, 55), ("rnorm2", 256, 27)]
PARTIAL_SUM = {"conv1": 5, "conv2": 3, "conv3": 13, "conv4": 13, "conv5": 13}  # layers-145


def _time_cuda(fn: Callable[[], object], reps: int) -> float:
    """Median milliseconds of ``fn`` on the current stream (CUDA events)."""
    import torch

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def bench_gpu(reps: int) -> list[dict]:
    import torch
    import torch.nn.functional as F
    from torch.nn.grad import conv2d_input, conv2d_weight

    from alexnet.cuda import bindings_torch  # noqa: F401  (registers torch.ops.alexnet_cuda)

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    ops = torch.ops.alexnet_cuda
    dev = torch.device("cuda")
    rows = []

    def row(layer: str, op: str, ours: float, theirs: float, ref: str) -> None:
        rows.append({"layer": layer, "op": op, "ours_ms": ours, "ref_ms": theirs,
                     "ratio": ours / theirs, "reference": ref})
        print(f"{layer:7s} {op:14s} ours {ours:8.3f} ms  {ref:6s} {theirs:8.3f} ms  "
              f"ratio {ours / theirs:6.2f}", flush=True)

    for name, C, size, Fo, S, stride, pad, groups in CONV_LAYERS:
        m = conv_output_size(size, filter_size=S, stride=stride, padding=pad)
        extra = (m - 1) * stride + S - size - 2 * pad
        x = torch.randn(BATCH, C, size, size, device=dev)
        w = torch.randn(Fo, C // groups, S, S, device=dev) * 0.01
        xc = x.permute(1, 2, 3, 0).contiguous()
        wc = w.permute(1, 2, 3, 0).contiguous()
        xp = F.pad(x, (pad, pad + extra, pad, pad + extra))
        y = F.conv2d(xp, w, stride=stride, groups=groups)
        gy = torch.randn_like(y)
        gyc = gy.permute(1, 2, 3, 0).contiguous()
        ours = _time_cuda(lambda: ops.filter_acts(xc, wc, m, m, -pad, stride, groups, True, 0),
                          reps)
        theirs = _time_cuda(lambda: F.conv2d(xp, w, stride=stride, groups=groups), reps)
        row(name, "filterActs", ours, theirs, "cuDNN")
        if name != "conv1":  # the data layer takes no gradient (as in 2012)
            ours = _time_cuda(lambda: ops.img_acts(gyc, wc, size, size, -pad, stride, groups,
                                                   True), reps)
            theirs = _time_cuda(lambda: conv2d_input(xp.shape, w, gy, stride=stride,
                                                     groups=groups), reps)
            row(name, "imgActs", ours, theirs, "cuDNN")
        ps = PARTIAL_SUM[name]
        ours = _time_cuda(lambda: ops.weight_acts(xc, gyc, S, -pad, stride, groups, ps, True),
                          reps)
        theirs = _time_cuda(lambda: conv2d_weight(xp, w.shape, gy, stride=stride,
                                                  groups=groups), reps)
        row(name, f"weightActs P={ps}", ours, theirs, "cuDNN")

    for name, C, size in POOL_LAYERS:
        x = torch.randn(BATCH, C, size, size, device=dev)
        xc = x.permute(1, 2, 3, 0).contiguous()
        o = pool_output_size(size, size=3, stride=2)
        y = ops.local_pool(xc, "max", 3, 0, 2, o)
        g = torch.randn_like(y)
        ours = _time_cuda(lambda: ops.local_pool(xc, "max", 3, 0, 2, o), reps)
        theirs = _time_cuda(lambda: F.max_pool2d(x, 3, 2, ceil_mode=True), reps)
        row(name, "maxPool", ours, theirs, "ATen")
        xr = x.detach().requires_grad_()
        yr = F.max_pool2d(xr, 3, 2, ceil_mode=True)
        gr = torch.randn_like(yr)
        ours = _time_cuda(lambda: ops.local_max_undo(xc, g, y, 3, 0, 2), reps)
        theirs = _time_cuda(lambda: torch.autograd.grad(yr, xr, gr, retain_graph=True), reps)
        row(name, "maxUndo", ours, theirs, "ATen")

    for name, C, size in NORM_LAYERS:
        x = torch.randn(BATCH, C, size, size, device=dev)
        xc = x.permute(1, 2, 3, 0).contiguous()
        ours = _time_cuda(lambda: ops.cross_map_norm(xc, 5, 1e-4 / 5, 0.75, 2.0, False), reps)
        theirs = _time_cuda(lambda: F.local_response_norm(x, 5, 1e-4, 0.75, 2.0), reps)
        row(name, "cmrNorm", ours, theirs, "ATen")
        out, den = ops.cross_map_norm(xc, 5, 1e-4 / 5, 0.75, 2.0, False)
        g = torch.randn_like(out)
        xr = x.detach().requires_grad_()
        yr = F.local_response_norm(xr, 5, 1e-4, 0.75, 2.0)
        gr = torch.randn_like(yr)
        ours = _time_cuda(lambda: ops.cross_map_norm_undo(g, den, xc, out, 5, 1e-4 / 5, 0.75,
                                                          False), reps)
        theirs = _time_cuda(lambda: torch.autograd.grad(yr, xr, gr, retain_graph=True), reps)
        row(name, "cmrNormUndo", ours, theirs, "ATen")
    return rows


def _time_cpu(fn: Callable[[], object], reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench_emulation(reps: int) -> list[dict]:
    from alexnet.cuda import bindings_numpy as ops

    rng = np.random.default_rng(0)
    rows = []
    # the shapes of tests/test_cuda_kernels.py (a few representative ones)
    for C, size, N, Fo, S, stride, pad, groups in [
        (3, 8, 32, 16, 3, 1, 1, 1),
        (8, 6, 33, 32, 3, 2, 1, 2),
        (16, 5, 64, 64, 3, 1, 1, 1),
    ]:
        x = rng.standard_normal((C, size, size, N)).astype(np.float32)
        w = rng.standard_normal((C // groups, S, S, Fo)).astype(np.float32)
        m = conv_output_size(size, filter_size=S, stride=stride, padding=pad)
        g = rng.standard_normal((Fo, m, m, N)).astype(np.float32)
        flops = 2.0 * Fo * m * m * N * (C // groups) * S * S
        geo = dict(padding_start=-pad, stride=stride, groups=groups)
        for op, fn in (
            ("filterActs", lambda: ops.filter_acts(x, w, **geo)),
            ("imgActs", lambda: ops.img_acts(g, w, image_size=size, **geo)),
            ("weightActs", lambda: ops.weight_acts(x, g, filter_size=S, **geo)),
        ):
            ms = _time_cpu(fn, reps)
            shape = f"C{C} {size}x{size} N{N} F{Fo} S{S}/{stride}"
            rows.append({"shape": shape, "op": op, "ms": ms, "mflops": flops / ms / 1e3})
            print(f"emulated {op:11s} {shape:26s} {ms:8.2f} ms  {flops / ms / 1e3:8.1f} MFLOP/s",
                  flush=True)
    x = rng.standard_normal((32, 9, 9, 64)).astype(np.float32)
    for op, fn in (
        ("maxPool 3/2", lambda: ops.local_pool(x, size=3, stride=2)),
        ("cmrNorm 5", lambda: ops.cross_map_norm(x, size=5, scale=1e-4, power=0.75)),
        ("rNorm 5", lambda: ops.response_norm(x, size=5, scale=1e-3, power=0.75)),
    ):
        ms = _time_cpu(fn, reps)
        rows.append({"shape": "C32 9x9 N64", "op": op, "ms": ms})
        print(f"emulated {op:11s} {'C32 9x9 N64':26s} {ms:8.2f} ms", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--reps", type=int, default=20, help="timed repetitions per kernel")
    args = parser.parse_args(argv)
    report: dict = {"python": sys.version.split()[0], "machine": platform.machine()}
    try:
        import torch

        gpu = torch.cuda.is_available()
        report["torch"] = torch.__version__
    except ImportError:
        gpu = False
    if gpu:
        report["device"] = torch.cuda.get_device_name()
        print(f"GPU: {report['device']} -- batch {BATCH}, fp32, TF32 off; ratio = ours / ref")
        report["gpu"] = bench_gpu(args.reps)
    else:
        print("GPU benchmark skipped: torch sees no CUDA device on this machine.")
        report["gpu"] = None
    print("Emulated kernels on the CPU (information only; one OS thread, blocks in order):")
    report["emulation"] = bench_emulation(max(3, args.reps // 4))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=2))
        tmp.replace(args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
