"""Benchmark: the re-created 2012 engine (numpy backend) against the modern PyTorch port.

One command, both sides on the same machine in the same run::

    .venv/bin/python benchmarks/bench_original.py            # CIFAR 80sec + AlexNet2012
    .venv/bin/python benchmarks/bench_original.py --quick    # smaller, for a smoke test
    .venv/bin/python benchmarks/bench_original.py --json out.json

For each net and batch size it times a forward pass (test mode) and a training step
(forward, backward, 2012 weight update) of :class:`alexnet.original.engine.Engine`, and
the same for the modern port's model (``alexnet.modern.build_model``; forward under
``torch.no_grad`` in eval mode, and forward + cross-entropy + backward + the port's
2012 update, :class:`alexnet.modern.update.Update2012` with the cfg's per-layer rates, as
``alexnet train`` steps it). Ratios are numpy time / torch time; the goals are forward
within 2x and training within 3x. Timings are medians of a few repeats after one
warm-up, on whatever cores are free: other processes on the machine make them rough.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

if __name__ == "__main__" and "--threads" in " ".join(sys.argv):
    # BLAS reads its thread count when numpy is first imported
    for a in sys.argv:
        if a.startswith("--threads="):
            os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = a.split("=")[1]

import numpy as np  # noqa: E402
from timing import median_time  # noqa: E402  (benchmarks/timing.py, beside this script)

CLOCK = time.perf_counter


def bench_numpy(net: str, batch: int, repeats: int) -> dict[str, float]:
    from alexnet.original import cfgs
    from alexnet.original.engine import TEST, Engine
    from alexnet.original.initial_weights import init_weights
    from alexnet.original.layer import parse_layers

    g = parse_layers(*cfgs.pair(net))
    layers = {n: lay.d for n, lay in g.layers.items()}
    init_weights(layers, seed=0)
    e = Engine(layers, seed=0)
    rng = np.random.default_rng(0)
    c, h, w = g.input_shape
    x = (rng.standard_normal((c * h * w, batch)) * 50).astype(np.float32)
    y = rng.integers(0, g.num_classes, (1, batch)).astype(np.float32)
    fwd = median_time(lambda: (e.fprop([x, y], TEST), e.acts.clear()), repeats, CLOCK)
    step = median_time(lambda: e.train_minibatch([x, y], 0.0), repeats, CLOCK)
    return {"forward_s": fwd, "train_step_s": step}


def bench_torch(arch: str, batch: int, repeats: int) -> dict[str, float]:
    import torch

    from alexnet.modern import build_model
    from alexnet.modern.update import Update2012

    torch.manual_seed(0)
    model = build_model(arch)
    c, h, w = model.input_shape
    x = torch.randn(batch, c, h, w) * 50
    y = torch.randint(0, model.num_classes, (batch,))
    opt = Update2012(model.param_groups())  # the port's own update, the cfg's rates

    def forward():
        model.eval()
        with torch.no_grad():
            model(x)

    def step():
        model.train()
        model.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return {"forward_s": median_time(forward, repeats, CLOCK),
            "train_step_s": median_time(step, repeats, CLOCK)}


CASES = [  # (label, cfg net for the numpy engine, modern arch)
    ("cifar10-80sec", "80sec", "cifar10-80sec"),
    ("alexnet2012", "145", "alexnet2012"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="batch 16 only, one repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--nets", default=",".join(c[0] for c in CASES))
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for BLAS and torch alike (write it as --threads=N); "
                         "default: all cores")
    ap.add_argument("--cpu-time", action="store_true",
                    help="measure process CPU time instead of wall time (steadier on a busy "
                         "machine; sums all threads, so use it with --threads=1)")
    a = ap.parse_args()
    import torch

    global CLOCK
    if a.cpu_time:
        CLOCK = time.process_time

    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    wanted = set(a.nets.split(","))
    batches = [16] if a.quick else [128, 16]
    rows = []
    print(f"cores: {threads}; torch {torch.__version__} threads {torch.get_num_threads()}; "
          f"numpy {np.__version__}; clock: {'process CPU' if a.cpu_time else 'wall'}")
    print(f"{'net':<16}{'batch':>6}  {'numpy fwd':>10} {'torch fwd':>10} {'ratio':>6}   "
          f"{'numpy step':>10} {'torch step':>10} {'ratio':>6}")
    for label, net, arch in CASES:
        if label not in wanted:
            continue
        for b in batches:
            reps = 1 if a.quick or (label == "alexnet2012" and b == 128) else a.repeats
            n = bench_numpy(net, b, reps)
            try:
                t = bench_torch(arch, b, reps)
            except Exception as exc:  # the port may be missing in a partial checkout
                print(f"{label:<16}{b:>6}  torch side unavailable: {exc}")
                continue
            r = {"net": label, "batch": b, "numpy": n, "torch": t,
                 "forward_ratio": n["forward_s"] / t["forward_s"],
                 "train_ratio": n["train_step_s"] / t["train_step_s"]}
            rows.append(r)
            print(f"{label:<16}{b:>6}  {n['forward_s']:>9.3f}s {t['forward_s']:>9.3f}s "
                  f"{r['forward_ratio']:>6.2f}   {n['train_step_s']:>9.3f}s "
                  f"{t['train_step_s']:>9.3f}s {r['train_ratio']:>6.2f}")
    print("goals: forward ratio <= 2, training-step ratio <= 3 (rough: shared cores)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cores": threads, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
