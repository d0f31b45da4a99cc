"""Run a suite: same weights and inputs into both implementations, compare everything.

A suite run has three stages, and the self-test reuses the first two:

1. :func:`prepare` builds the reference graph, the weights (on the 2012 side for the
   synthetic suite, on the port side for bundled or user weights), the inputs, and the
   port model holding the converted weights;
2. :func:`reference_result` runs the 2012 engine once;
3. :func:`port_result` runs the port (optionally with a planted fault) and
   :func:`compare_results` turns the two into check rows, in this order: hyper-parameters,
   forward per layer (definition order), loss, gradient per layer (input first), then per
   weight matrix its gradient, velocity and value after the update, then top-1.
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alexnet.errors import CheckpointError
from alexnet.layouts2012 import (
    WEIGHT_TYPES,
    from_2012_matrices,
    layer_matrices,
    layers_from_port,
)
from alexnet.modern import checkpoint as ck
from alexnet.modern.build import build_model
from alexnet.original import checkpoint as checkpoint2012
from alexnet.verify import backends, bundled, policy
from alexnet.verify.compare import Check, compare
from alexnet.verify.inputs import synthetic_images, synthetic_labels
from alexnet.verify.namemap import port_map
from alexnet.verify.record_original import run_reference
from alexnet.verify.record_port import run_port
from alexnet.verify.report import SuiteResult
from alexnet.verify.routing import analyse
from alexnet.verify.scratch import scratch
from alexnet.verify.sides import SideResult
from alexnet.verify.suite_choice import suite_for
from alexnet.verify.suites import (
    SUITES,
    Graph,
    Suite,
    reference_net,
    synthetic_setup,
    synthetic_spec,
)


@dataclass
class Prepared:
    suite: Suite
    graph: Graph
    ref_layers: dict[str, dict[str, Any]]
    x: np.ndarray
    labels: np.ndarray
    model: torch.nn.Module
    pristine: dict[str, torch.Tensor]
    velocities: dict[str, torch.Tensor]
    mapping: dict[str, tuple[str, ...]]
    backend: Any
    info: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    port_dirty: bool = False

    def restore_port(self) -> None:
        """Put the port back to the suite's weights (after a run or a planted fault)."""
        if self.port_dirty:
            self.model.load_state_dict(self.pristine, strict=True)
            self.port_dirty = False


def build_port(arch: str, **config: Any) -> torch.nn.Module:
    """``build_model(arch, init=False)``: the verifier loads converted weights right after
    building, so the random initialisation (61 M normal numbers for AlexNet2012) is not
    paid for. Any parameter the conversion failed to fill would then hold garbage, which
    the comparison reports. ``config``: a model's ``config`` (its ``arch`` is ignored).
    """
    config = {k: v for k, v in config.items() if k != "arch"}
    with torch.no_grad():
        return build_model(arch, init=False, **config)


def _clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def prepare(suite: Suite | str, *, backend: Any = "numpy", weights: str | Path | None = None,
            arch: str | None = None) -> Prepared:
    """Everything a suite run needs; see the module docstring."""
    if isinstance(suite, str):
        if suite in SUITES and (arch is None or arch == SUITES[suite].arch):
            suite = SUITES[suite]
        else:
            resolved = suite_for(arch or suite, weights)
            suite = SUITES[resolved] if isinstance(resolved, str) else resolved
    elif arch is not None and arch != suite.arch:
        net = reference_net(arch)
        suite = Suite(arch, arch, net, "user" if weights is not None else "synthetic",
                      f"{arch} (port) against the 2012 engine running layers-{net}.cfg")
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    graph = Graph.for_net(suite.net)
    info: dict[str, Any] = {"reference": f"alexnet.original.engine on layers-{suite.net}.cfg "
                                         f"+ layer-params-{suite.net}.cfg"}
    if weights is not None:
        return _prepare_user(suite, graph, Path(weights), backend, info)
    if suite.origin == "synthetic":
        spec = synthetic_spec()
        ref_layers, x, labels = synthetic_setup(graph, spec)
        times["weights"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = build_port(suite.arch)
        from_2012_matrices(model, layer_matrices(ref_layers), source="suite weights")
        vel = from_2012_matrices(model, layer_matrices(ref_layers, "weightsInc"), load=False,
                                 source="suite velocities")
        times["conversion"] = time.perf_counter() - t0
        gained = suite.net == "145"
        info.update({
            "weights": (f"2012 init distribution N(0, initW^2) x per-layer gains, seed "
                        f"{spec['seed']} (bundled/alexnet2012-suite.json)" if gained else
                        f"2012 init distribution N(0, initW^2) of the cfg, seed {spec['seed']}"),
            "target_rms": spec.get("targets_rms") if gained else None,
            "velocity": f"non-zero start: N(0, 1) x {spec['velocity_fraction']:g} x initW x gain",
            "inputs": f"{x.shape[0]} generated images {x.shape[2]}x{x.shape[3]}, seed "
                      f"{spec['seed']}, raw pixels - 128",
            "labels": [int(v) for v in labels],
            "conversion": "2012 matrices -> port tensors in memory with "
                          "alexnet.layouts2012.from_2012_matrices (the function the "
                          "2012-checkpoint export uses for this model); the pickled-checkpoint "
                          "file path is "
                          "exercised by the CIFAR-10 suites and by --weights",
        })
    else:
        b = bundled.load(suite.name)
        model = build_port(**{**b.model_config, "arch": b.arch})
        bundled.restore_into(b, model)
        vel = b.velocities(model)
        x, labels = bundled.sample_inputs(b, model)
        times["weights"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with scratch() as tmp:
            ref_layers = checkpoint2012.through_checkpoint(
                layers_from_port(model, graph.layers, vel), tmp)
        times["conversion"] = time.perf_counter() - t0
        info.update(b.info())
        info["inputs"] = (f"{x.shape[0]} CIFAR-10 test images (bundled/cifar10-sample.npy), "
                          "minus the training mean stored with the weights")
        info["labels"] = [int(v) for v in labels]
        info["conversion"] = ("port tensors -> 2012 layer dicts (alexnet.layouts2012."
                              "layers_from_port) -> pickled 2012 checkpoint -> restricted "
                              "unpickler -> engine")
    mapping = port_map(model, graph.layers)
    return Prepared(suite, graph, ref_layers, x, labels, model, _clone_state(model),
                    {k: v.detach().clone() for k, v in vel.items()}, mapping, backend,
                    info, times)


def _checkpoint_config(path: Path, kind: str, arch: str) -> dict[str, Any]:
    """The options a modern checkpoint of ``arch`` was built with (e.g. an imported
    Caffe net's ``rgb_input``), so the port is rebuilt as it was saved; none for a 2012
    checkpoint or a bare safetensors file."""
    if kind != "modern" or path.suffix == ".safetensors":
        return {}
    try:
        meta = ck.read_checkpoint(path).meta
    except CheckpointError:
        return {}
    cfg = meta.get("model_config")
    return dict(cfg) if isinstance(cfg, dict) and meta.get("arch") == arch else {}


def _prepare_user(suite: Suite, graph: Graph, path: Path, backend: Any,
                  info: dict[str, Any]) -> Prepared:
    """``--weights``: a 2012 checkpoint, or a modern safetensors checkpoint/bundle."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    kind = bundled.weights_kind(path)
    model = build_port(**{**_checkpoint_config(path, kind, suite.arch), "arch": suite.arch})
    if kind == "2012":
        ref_layers = checkpoint2012.load_layers(path, graph.layers)
        with scratch() as tmp:
            bundled.load_modern_into(checkpoint2012.export_safetensors(
                path, tmp / "port.safetensors", model=model), model)
        # the state_dict export carries no velocities: the checkpoint's, converted
        vel = from_2012_matrices(model, layer_matrices(ref_layers, "weightsInc"), load=False,
                                 source=f"{path} (weightsInc)")
        info["weights"] = f"2012 checkpoint {path}"
        info["conversion"] = ("2012 checkpoint -> restricted unpickler -> engine; the same "
                              "checkpoint -> safetensors export (alexnet.original.checkpoint) "
                              "-> port")
    else:
        vel, _mean = bundled.load_modern_into(path, model)
        with scratch() as tmp:
            ref_layers = checkpoint2012.through_checkpoint(
                layers_from_port(model, graph.layers, vel), tmp)
        info["weights"] = f"modern safetensors {path}"
        info["conversion"] = ("port tensors -> 2012 layer dicts -> pickled 2012 checkpoint -> "
                              "restricted unpickler -> engine")
    times["weights+conversion"] = time.perf_counter() - t0
    c, h, _w = graph.graph.input_shape
    seed = 2012
    n = 4 if h <= 64 else 2
    x = synthetic_images(n, h, seed)
    labels = synthetic_labels(n, int(graph.graph.num_classes or 10), seed)
    info["inputs"] = f"{n} generated images {h}x{h}, seed {seed}, raw pixels - 128"
    info["labels"] = [int(v) for v in labels]
    mapping = port_map(model, graph.layers)
    return Prepared(suite, graph, ref_layers, x, labels, model, _clone_state(model),
                    {k: v.detach().clone() for k, v in vel.items()}, mapping, backend,
                    info, times)


def reference_result(prep: Prepared, *, consume: bool = False,
                     port: SideResult | None = None) -> SideResult:
    """The engine's run. ``consume`` lets it update ``prep.ref_layers`` in place instead
    of a copy (when nothing needs the suite's reference weights afterwards). With the
    ``port``'s result, the max pools' near-tie windows are routed as the port routed
    them (:mod:`.routing`)."""
    graph = prep.graph.layers
    fwd = policy.count_terms(graph, prep.x.shape[0]).fwd
    routes_from = None
    if port is not None:
        def routes_from(acts):
            return analyse(graph, acts, port.acts, fwd)
    layers = prep.ref_layers if consume else copy.deepcopy(prep.ref_layers)
    if consume:
        prep.ref_layers = {}
    return run_reference(layers, prep.x, prep.labels, backend=prep.backend,
                         routes_from=routes_from)


def port_result(prep: Prepared, fault: Any = None) -> SideResult:
    prep.restore_port()
    prep.port_dirty = True  # the update (or a fault) changes the weights from here on
    ctx = fault.applied(prep) if fault is not None else contextlib.nullcontext()
    with ctx:
        data = next(n for n, d in prep.graph.layers.items()
                    if d["type"] == "data" and d.get("dataIdx") == 0)
        res = run_port(prep.model, prep.x, prep.labels, mapping=prep.mapping,
                       sizes=prep.graph.sizes(), data_layer=data, velocities=prep.velocities,
                       optimizer_hook=getattr(fault, "optimizer_hook", None))
    return res


# --------------------------------------------------------------------------------------
# Comparing


def compare_results(prep: Prepared, ref: SideResult, port: SideResult,
                    routes: Any = None) -> list[Check]:
    """All check rows. ``routes``: the max-pool routing analysis of this port run (by
    default the one the reference made, or a fresh one)."""
    layers = prep.graph.layers
    n = prep.x.shape[0]
    terms = policy.count_terms(layers, n)
    if routes is None:
        routes = ref.routes if ref.routes is not None else analyse(
            layers, ref.acts, port.acts, terms.fwd)
    # a port whose max pools credit every tied maximum (the 2012 rule) needs no mask
    tie_layers = (set() if getattr(prep.model, "pool_ties", "one") == "all"
                  else policy.tie_masked_layers(layers))
    checks: list[Check] = [_hyper_check(ref, port)]
    skip = {"data", "softmax"}
    for name, d in layers.items():
        if d["type"] in skip or d["type"].startswith("cost."):
            continue
        checks.append(_pair(name, "forward", ref.acts.get(name), port.acts.get(name),
                            terms.fwd[name]))
    checks.extend(routes.checks)
    checks.append(_loss_check(ref, port, terms.top))
    for name, d in layers.items():
        if d["type"] == "softmax" or d["type"].startswith("cost.") or name not in ref.grads:
            continue
        mask = None
        note = None
        if name in tie_layers and name in ref.acts:
            mask = ref.acts[name] != 0
            theirs = port.acts.get(name)
            if theirs is not None and theirs.shape == mask.shape:
                mask &= theirs != 0   # a ReLU's near-zero input zeroed on the port's side
            note = None
        t = terms.bwd.get(name, terms.top)
        if d["type"] == "data":
            first = next(c for c, cd in layers.items() if name in cd.get("inputs", []))
            t = terms.bwd[first] + policy._own_backward(layers[first],
                                                        layers[first]["inputs"].index(name))
        checks.append(_pair(name, "grad", ref.grads[name], port.grads.get(name), t,
                            mask=mask, note=note))
    for name, d in layers.items():
        if d["type"] not in WEIGHT_TYPES:
            continue
        tensors = [f"weights[{i}]" for i in range(len(d["inputs"]))] + ["biases"]
        for kind, r_map, p_map in (("weight-grad", ref.wgrads, port.wgrads),
                                   ("velocity", ref.velocity_after, port.velocity_after)):
            for t in tensors:
                key = f"{name}.{t}"
                checks.append(_pair(name, kind, r_map.get(key), p_map.get(key),
                                    terms.wgrad[key] + (3 if kind == "velocity" else 0),
                                    tensor=t))
        for t in tensors:
            key = f"{name}.{t}"
            checks.append(_weights_check(name, t, ref, port, terms.wgrad[key] + 3))
    checks.append(_top1_check(ref, port, terms.fwd[_logits_layer(layers)]))
    return checks


def _pair(layer: str, kind: str, ref: np.ndarray | None, got: np.ndarray | None,
          terms: float, *, tensor: str | None = None, mask: np.ndarray | None = None,
          note: str | None = None) -> Check:
    if ref is None or got is None:
        side = "reference" if ref is None else "port"
        return Check(layer, kind, None, None, policy.tolerance(terms), False, tensor=tensor,
                     terms=float(terms), note=f"the {side} produced no value for this")
    return compare(layer, kind, ref, got, terms=terms, tensor=tensor, mask=mask, note=note)


def _weights_check(layer: str, tensor: str, ref: SideResult, port: SideResult,
                   terms: float) -> Check:
    """Weights after the update. W1 = W0 + V1, so the tolerance is the velocity's,
    carried over to the weights' scale, plus the rounding of that one addition."""
    key = f"{layer}.{tensor}"
    r, g = ref.weights_after.get(key), port.weights_after.get(key)
    if r is None or g is None:
        return _pair(layer, "weights", r, g, terms, tensor=tensor)
    v = ref.velocity_after[key]
    vscale = float(np.abs(v).max(initial=0.0))
    wscale = float(np.abs(r).max(initial=0.0))
    tol = policy.tolerance(terms) * vscale / max(wscale, policy.TINY) + 4 * policy.U
    return compare(layer, "weights", r, g, terms=terms, tensor=tensor, tol=tol)


def _hyper_check(ref: SideResult, port: SideResult) -> Check:
    bad = []
    worst = 0.0
    for key, (eps, mom, wc) in ref.hyper.items():
        mine = port.hyper.get(key)
        if mine is None:
            bad.append(f"{key}: not in the port")
            continue
        diffs = [abs(a - b) for a, b in zip((eps, mom, wc), mine, strict=True)]
        worst = max(worst, *diffs)
        if any(diffs):
            bad.append(f"{key}: eps/mom/wc {mine} in the port, {(eps, mom, wc)} in the "
                       "reference")
    for key in port.hyper:
        if key not in ref.hyper:
            bad.append(f"{key}: not in the reference")
    note = (f"{len(ref.hyper)} matrices: eps, momentum, weight decay equal" if not bad
            else "; ".join(bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""))
    return Check("all", "hyperparams", worst, worst, 0.0, not bad, note=note)


def _loss_check(ref: SideResult, port: SideResult, terms: float) -> Check:
    r = np.array([ref.loss], dtype=np.float64)
    g = np.array([port.loss], dtype=np.float64)
    return compare("logprob", "loss", r, g, terms=terms)


def _logits_layer(layers: dict[str, dict[str, Any]]) -> str:
    sm = next(n for n, d in layers.items() if d["type"] == "softmax")
    return layers[sm]["inputs"][0]


def _top1_check(ref: SideResult, port: SideResult, terms: float) -> Check:
    rl, pl = ref.logits, port.logits
    tol = policy.tolerance(terms)
    if rl is None or pl is None or rl.shape != pl.shape:
        return Check("predictions", "top1", None, None, 0.0, False,
                     note="logits missing or of different shapes")
    scale = float(np.abs(rl).max(initial=0.0))
    srt = np.sort(rl, axis=1)
    margin = srt[:, -1] - srt[:, -2] if rl.shape[1] > 1 else np.full(rl.shape[0], np.inf)
    near = margin <= tol * max(scale, policy.TINY)
    differ = rl.argmax(axis=1) != pl.argmax(axis=1)
    bad = int((differ & ~near).sum())
    n = int(rl.shape[0])
    frac = bad / max(n, 1)
    note = f"{n - int(differ.sum())}/{n} cases agree"
    if int((differ & near).sum()):
        note += f", {int((differ & near).sum())} near-tie(s) swapped"
    return Check("predictions", "top1", frac, frac, 0.0, bad == 0, note=note,
                 extra={"cases": n, "disagreements": bad, "near_ties": int(near.sum())})


# --------------------------------------------------------------------------------------


def run_suite(suite: Suite | str, *, backend: Any = "numpy", weights: str | Path | None = None,
              arch: str | None = None, backend_name: str = "numpy") -> SuiteResult:
    """Prepare, run both sides, compare. User errors surface as AlexNetError.

    ``backend`` may be a verifier backend name (numpy, emulated, cuda; resolved without
    fallback) or what the engine takes.
    """
    if isinstance(backend, str) and backend in backends.NAMES:
        resolved = backends.resolve(backend)
        backend, backend_name = resolved.engine, resolved.name
    t_start = time.perf_counter()
    prep = prepare(suite, backend=backend, weights=weights, arch=arch)
    port = port_result(prep)
    ref = reference_result(prep, consume=True, port=port)
    checks = compare_results(prep, ref, port)
    info = {k: v for k, v in prep.info.items() if v is not None}
    info["batch"] = int(prep.x.shape[0])
    secs = {**prep.seconds,
            **{f"reference {k}": v for k, v in ref.seconds.items()},
            **{f"port {k}": v for k, v in port.seconds.items()},
            "total": time.perf_counter() - t_start}
    info["seconds"] = {k: round(v, 3) for k, v in secs.items()}
    return SuiteResult(prep.suite.name, prep.suite.arch, backend_name, prep.suite.description,
                       checks, info)


__all__ = ["Prepared", "prepare", "reference_result", "port_result", "compare_results",
           "run_suite", "build_port"]
