"""Benchmark: what the 2012 max-pool tie rule costs the port's training step.

    .venv/bin/python benchmarks/bench_pool_ties.py                 # 80sec, 18pct, 1 thread
    .venv/bin/python benchmarks/bench_pool_ties.py --json out.json

The 2012 kernel sends a window's gradient to every input equal to its maximum; PyTorch's
``max_pool2d`` sends it to one. The port follows 2012 (``ties="all"``, ledger row
``maxpool-tie-gradient``), which it computes with nine strided comparisons per pool in
plain torch, where the one-winner rule is a single fused kernel. The rule changes results
(exact ties occur in uniform image regions), so it stays the default; this measures its
price: the same net, the same batch, one training step (forward, cross-entropy,
backward) with every pool set to each rule in turn, in the same process. CPU time per
step, median of the repeats after a warm-up (``benchmarks/timing.py``), so other
processes on the machine disturb it little.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from timing import median_time  # benchmarks/timing.py, beside this script

from alexnet.modern import build_model
from alexnet.modern.layers import Pool2012


def step_times(arch: str, batch: int, repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = build_model(arch)
    model.train()
    x = torch.randn(batch, *model.input_shape) * 50
    labels = torch.randint(0, model.num_classes, (batch,))
    pools = [m for m in model.modules() if isinstance(m, Pool2012) and m.mode == "max"]

    def step() -> None:
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), labels).backward()

    out = {}
    for ties in ("all", "one"):
        for p in pools:
            p.ties = ties
        out[ties] = median_time(step, repeats, time.process_time)
    for p in pools:
        p.ties = "all"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="cifar10-80sec,cifar10-18pct")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {a.batch}, "
          "CPU time per training step")
    print(f"{'net':<28}{'2012 rule (all)':>16}{'one winner':>12}{'ratio':>8}")
    rows = []
    for arch in a.nets.split(","):
        t = step_times(arch, a.batch, a.repeats)
        r = {"net": arch, "batch": a.batch, "threads": a.threads, "all_s": t["all"],
             "one_s": t["one"], "ratio": t["all"] / t["one"]}
        rows.append(r)
        print(f"{arch:<28}{t['all'] * 1e3:>13.1f} ms{t['one'] * 1e3:>9.1f} ms"
              f"{r['ratio']:>7.2f}x")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"what": "port training step, max pools with the 2012 tie rule vs one "
                       "winner", "results": rows}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
