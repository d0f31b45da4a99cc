"""Training throughput of the PyTorch port against a plain eager PyTorch implementation.

    .venv/bin/python benchmarks/bench_train.py [--quick] [--nets alexnet2012,cifar10-80sec]

For each network it measures, in the same run and on the same machine, images per
second of a full training step (forward, backward, the 2012 momentum/weight-decay
update) at batch 128 for

* ``port``: ``alexnet.modern.build_model(net)`` as shipped: fused LRN/rnorm autograd
  functions, channels-last activations where the model uses them, in-place ReLUs, and
  the allocator setting of :func:`alexnet.modern.tune_allocator` (as the training entry
  point applies it);
* ``eager``: the same layers written here the obvious way: ``nn.Conv2d``/``F.conv2d``,
  ``F.local_response_norm`` per tower, the same-map normalisation as an autograd
  composition, default memory format, default allocator.

Each measurement runs in its own Python process (allocator settings are process-wide and
a fresh process gives both sides the same starting heap). Before timing, the script checks
that both implementations compute the same logits and gradients from the same weights
(fp32 tolerance) so the speed-up is not bought with different arithmetic.

Figures depend on the machine and on what else runs on it; treat them as rough unless
the machine is quiet. With more runnable processes than cores, multi-threaded OpenMP
regions wait for descheduled threads and both sides slow down erratically (10-20x on a
busy 2-core machine); ``--threads 1`` then gives steadier ratios, and the per-CPU-second
ratio printed under each net is the least sensitive figure. Results are printed and,
with ``--json PATH``, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections import OrderedDict
from pathlib import Path

import timing  # benchmarks/timing.py, beside this script
import torch
import torch.nn.functional as F
from torch import nn

GOALS = {"alexnet2012": (1.7, 2.0), "cifar10-80sec": (1.3, None)}


# --------------------------------------------------------------------------------------
# The plain eager implementations (the baseline)
# --------------------------------------------------------------------------------------


def _lrn_towers(x: torch.Tensor, towers: int) -> torch.Tensor:
    return torch.cat(
        [F.local_response_norm(t, 5, 1e-4, 0.75, 2.0) for t in x.chunk(towers, 1)], 1
    )


def _dropout2012(x: torch.Tensor, training: bool) -> torch.Tensor:
    if not training:
        return x * 0.5
    return x * torch.empty_like(x).bernoulli_(0.5)


class EagerAlexNet2012(nn.Module):
    """Definition 145 written plainly (two towers as groups, torch's LRN per tower)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6 = nn.Linear(9216, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.pad(x, (0, 3, 0, 3)))  # 224 -> 227: the 2012 ceil rule
        x = _lrn_towers(x, 2)
        x = F.relu(F.max_pool2d(x, 3, 2))
        x = F.relu(self.conv2(x))
        x = _lrn_towers(x, 2)
        d = F.avg_pool2d(x * x, 5, 1, 2, count_include_pad=True).mul(1e-3).add(1.0)
        x = x * d.pow(-0.75)
        x = F.max_pool2d(x, 3, 2)
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = self.conv5(x)
        x = F.relu(F.max_pool2d(x, 3, 2)).flatten(1)
        x = _dropout2012(F.relu(self.fc6(x)), self.training)
        x = _dropout2012(F.relu(self.fc7(x)), self.training)
        return self.fc8(x)


def eager_cifar80sec() -> nn.Sequential:
    """The 2011 CIFAR-10 "80 seconds" net written plainly, as an ``nn.Sequential``.

    The children carry the cfg's layer names (conv1, pool1, ...) so that the port's
    weights can be matched by name; the neurons and pools follow layers-80sec.cfg
    (pool1 is a max pool with a ReLU after it, pool2/pool3 average pools).
    """
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 32, 5, padding=2)),
        ("pool1", nn.MaxPool2d(3, 2, ceil_mode=True)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(32, 32, 5, padding=2)), ("relu2", nn.ReLU()),
        ("pool2", nn.AvgPool2d(3, 2, ceil_mode=True)),
        ("conv3", nn.Conv2d(32, 64, 5, padding=2)), ("relu3", nn.ReLU()),
        ("pool3", nn.AvgPool2d(3, 2, ceil_mode=True)),
        ("flatten", nn.Flatten()),
        ("fc64", nn.Linear(1024, 64)), ("relu4", nn.ReLU()),
        ("fc10", nn.Linear(64, 10)),
    ]))


EAGER = {"alexnet2012": EagerAlexNet2012, "cifar10-80sec": eager_cifar80sec}


def weight_pairs(port: nn.Module, eager: nn.Module) -> list[tuple[nn.Parameter, nn.Parameter]]:
    """(port tensor, eager tensor) pairs of corresponding parameters (both torch layouts)."""
    pairs = []
    for name, mod in eager.named_children():
        if getattr(mod, "weight", None) is None:
            continue  # pools, neurons, flatten
        if hasattr(port, "layers"):  # cfg-built: 2012 layer names, weights[0]/biases
            src = port.layers[name]
            pairs += [(src.weights[0], mod.weight), (src.biases, mod.bias)]
        else:
            src = getattr(port, name)
            pairs += [(src.weight, mod.weight), (src.bias, mod.bias)]
    return pairs


def copy_port_weights(port: nn.Module, eager: nn.Module) -> None:
    """Give the eager model the port's weights."""
    with torch.no_grad():
        for a, b in weight_pairs(port, eager):
            b.copy_(a)


# --------------------------------------------------------------------------------------
# One training step, shared by both sides
# --------------------------------------------------------------------------------------


class PlainUpdate2012:
    """The 2011/2012 update written plainly (per tensor):
    ``v <- mom * v - wc * eps * w - eps * grad; w <- w + v``.

    ``groups`` are dicts with ``param``, ``eps``, ``mom`` and ``wc``; a caller changes a
    group's ``eps`` between steps to follow a schedule (the velocity is kept, as in 2011).
    """

    def __init__(self, groups: list[dict]) -> None:
        self.groups = [dict(g) for g in groups]
        self.velocity = [torch.zeros_like(g["param"]) for g in self.groups]

    @torch.no_grad()
    def step(self) -> None:
        for g, v in zip(self.groups, self.velocity, strict=True):
            p = g["param"]
            v.mul_(g["mom"]).add_(p, alpha=-g["wc"] * g["eps"]).add_(p.grad, alpha=-g["eps"])
            p.add_(v)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.groups:
            g["param"].grad = None


def _update_rule(model: nn.Module, groups: list[dict] | None):
    """modern-train's Update2012 when present, else the same rule written here."""
    if groups is None:
        groups = [{"name": n, "param": p, "kind": "biases" if n.endswith("bias") else "weights",
                   "eps": 0.01 if not n.endswith("bias") else 0.02, "mom": 0.9,
                   "wc": 0.0005 if not n.endswith("bias") else 0.0}
                  for n, p in model.named_parameters()]
    try:
        from alexnet.modern.update import Update2012

        return Update2012(groups)
    except ImportError:
        return PlainUpdate2012(groups)


def worker(net: str, impl: str, batch: int, warmup: int, steps: int,
           threads: int | None = None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    if impl == "port":
        from alexnet.modern import build_model, tune_allocator

        tuned = tune_allocator()
        model = build_model(net)
        upd = _update_rule(model, model.param_groups())
        shape = model.input_shape
        classes = model.num_classes
    else:
        tuned = False
        model = EAGER[net]()
        upd = _update_rule(model, None)
        shape = (3, 224, 224) if net == "alexnet2012" else (3, 32, 32)
        classes = 1000 if net == "alexnet2012" else 10
    torch.manual_seed(0)
    x = torch.randn(batch, *shape) * 60.0
    y = torch.randint(0, classes, (batch,))
    model.train()
    times = []
    r0 = None
    t_start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t_start = time.perf_counter()
        t = time.perf_counter()
        upd.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        upd.step()
        times.append(time.perf_counter() - t)
    wall = time.perf_counter() - t_start
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    measured = times[warmup:]
    return {
        "net": net,
        "impl": impl,
        "batch": batch,
        "steps": steps,
        "allocator_tuned": tuned,
        "step_s_median": statistics.median(measured),
        "images_per_s": batch * steps / wall,
        "images_per_s_best": batch / min(measured),
        "user_s": r1.ru_utime - r0.ru_utime,
        "sys_s": r1.ru_stime - r0.ru_stime,
        "images_per_cpu_s": batch * steps / max(
            1e-9, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)),
        "threads": torch.get_num_threads(),
        "wall_s": wall,
        "final_loss": float(loss),
    }


# --------------------------------------------------------------------------------------
# Agreement check
# --------------------------------------------------------------------------------------


def agreement(net: str, batch: int = 4) -> dict:
    """Max relative differences of logits and of every gradient, port vs eager.

    Run with dropout at its test-time setting (x * keep on both sides) so the check is
    deterministic; the training-time masks are random on both sides by design.
    """
    from alexnet.modern import build_model

    port = build_model(net)
    eager = EAGER[net]()
    copy_port_weights(port, eager)
    torch.manual_seed(1)
    x = torch.randn(batch, *port.input_shape) * 60.0
    y = torch.randint(0, port.num_classes, (batch,))
    port.eval()
    eager.eval()
    out_p, out_e = port(x), eager(x)
    F.cross_entropy(out_p, y).backward()
    F.cross_entropy(out_e, y).backward()

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        a, b = a.detach(), b.detach()
        return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))

    worst = max(rel(a.grad, b.grad) for a, b in weight_pairs(port, eager))
    return {"logits_rel": rel(out_p, out_e), "grads_rel_max": worst}


# --------------------------------------------------------------------------------------


def run_worker(net: str, impl: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, "--nets", net, "--batch", str(args.batch),
           "--warmup", str(args.warmup), "--steps", str(args.steps)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    return timing.run_worker(cmd, args.threads)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (rougher figures)")
    ap.add_argument("--nets", default="alexnet2012,cifar10-80sec")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads per worker (default: torch's choice)")
    ap.add_argument("--json", type=Path, default=None, help="also write results here")
    ap.add_argument("--worker", choices=["port", "eager"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    for n in nets:
        if n not in EAGER:
            ap.error(f"no eager baseline for {n!r} (have: {', '.join(EAGER)})")

    if args.worker:
        print(json.dumps(worker(nets[0], args.worker, args.batch, args.warmup, args.steps,
                                args.threads)))
        return 0

    threads = args.threads or torch.get_num_threads()
    results = {"torch": torch.__version__, "threads": threads, "cpus": os.cpu_count(),
               "load_average": os.getloadavg(), "nets": {}}
    print(f"torch {torch.__version__}, {threads} threads, batch {args.batch}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus (figures are rough when busy)")
    ok = True
    for net in nets:
        small = net.startswith("cifar")
        args_net = argparse.Namespace(**vars(args))
        if args.warmup is None:
            args_net.warmup = 5 if small else 2
        if args.steps is None:
            args_net.steps = (20 if small else 3) if args.quick else (100 if small else 8)
        agree = agreement(net)
        # fp32: different summation orders and the fused LRN's rsqrt-based power give
        # differences of a few ulp per op; 1e-4 relative leaves room for ~20 layers.
        agree_ok = agree["logits_rel"] < 1e-4 and agree["grads_rel_max"] < 1e-3
        ok &= agree_ok
        print(f"\n{net}: agreement logits {agree['logits_rel']:.1e}, gradients "
              f"{agree['grads_rel_max']:.1e} (relative max) -> {'OK' if agree_ok else 'FAIL'}")
        r = {}
        for impl in ("eager", "port"):
            r[impl] = run_worker(net, impl, args_net)
            print(f"  {impl:5s}: {r[impl]['images_per_s']:8.1f} images/s "
                  f"(median step {r[impl]['step_s_median']:.3f} s, {args_net.steps} steps; "
                  f"cpu user {r[impl]['user_s']:.1f} s, sys {r[impl]['sys_s']:.1f} s)")
        ratio = r["port"]["images_per_s"] / r["eager"]["images_per_s"]
        cpu_ratio = r["port"]["images_per_cpu_s"] / r["eager"]["images_per_cpu_s"]
        goal, stretch = GOALS.get(net, (None, None))
        verdict = ""
        if goal:
            verdict = f"  goal {goal}x" + (f", stretch {stretch}x" if stretch else "")
            verdict += ": met" if ratio >= goal else ": NOT met"
        print(f"  speed-up port/eager: {ratio:.2f}x{verdict}")
        print(f"  (per CPU-second: {cpu_ratio:.2f}x; less sensitive to other processes)")
        results["nets"][net] = {**r, "speedup": ratio, "speedup_cpu_time": cpu_ratio,
                                "agreement": agree}
    if args.json:
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2))
        os.replace(tmp, args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
