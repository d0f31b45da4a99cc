"""Run the 2012 re-creation (``alexnet.original.engine``) on one minibatch, recording all.

The engine, like the 2012 C++ side, keeps no gradients once it has used them: each
layer's incoming gradient is consumed by its backward step and weight gradients are
folded into the momentum buffers (fc) or a per-matrix buffer (conv) on the way. The
verifier needs them, so it runs the engine with an observer
(:class:`~alexnet.original.engine.EngineObserver`, the engine's public hook) that copies
what passes through; the engine computes exactly what it computes without one. It also
asks the engine for the gradient with respect to the input images (2012 never computed
it; the engine's ``needs_grad`` map says which layers receive one), so that conv1's
input gradient can be compared too. For max pools' near-tie windows the observer hands
the pools' backward steps the port's choice (:mod:`.routing`), through the observer's
one steering hook.

Dropout (``hs``) runs in its test-time form on both sides (see :mod:`.record_port`): the
hs layers' ``enable`` flag, a 2012 layer-params key, is switched off in this run's copy
of the layer dicts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from alexnet.original.engine import TRAIN, Engine, EngineObserver
from alexnet.original.weights import Param
from alexnet.verify.sides import SideResult


class _Recorder(EngineObserver):
    """Keeps what the verifier compares; steers max pools at near-ties (``hints``)."""

    def __init__(self, layers: dict[str, dict[str, Any]]) -> None:
        self.layers = layers
        self.acts: dict[str, np.ndarray] = {}   # the engine's own arrays, by reference
        self.grads: dict[str, np.ndarray] = {}
        self.wsums: dict[str, np.ndarray] = {}
        #: pool layer -> (flat indices into its output matrix, values to use there)
        self.hints: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def activation(self, layer: str, value: np.ndarray) -> None:
        # converted after the forward pass, when every layer has run
        self.acts[layer] = value

    def gradient(self, layer: str, value: np.ndarray) -> None:
        if self.layers[layer]["type"] != "softmax":
            self.grads[layer] = _to_cases(value)  # a copy, already in (cases, features)

    def weight_gradient(self, param: Param, value: np.ndarray) -> None:
        g = np.asarray(value).reshape(param.w.shape)
        prev = self.wsums.get(param.name)
        self.wsums[param.name] = (np.array(g, dtype=np.float32, copy=True) if prev is None
                                  else prev + g)

    def pooled_for_backward(self, layer: str, pooled: np.ndarray) -> np.ndarray | None:
        if layer not in self.hints:
            return None
        # near-tie windows: route as the port did (see alexnet.verify.routing)
        routed = pooled.copy()
        flat, values = self.hints[layer]
        routed.reshape(-1)[flat] = values
        return routed


def _to_cases(a: np.ndarray) -> np.ndarray:
    """(features, cases) -> a new (cases, features) array."""
    return np.array(np.asarray(a).reshape(a.shape[0], -1).T, order="C", copy=True)


def run_reference(
    layers: dict[str, dict[str, Any]],
    x: np.ndarray,
    labels: np.ndarray,
    *,
    backend: Any = "numpy",
    routes_from: Callable[[dict[str, np.ndarray]], Any] | None = None,
) -> SideResult:
    """Forward, backward and one update of the engine on (cases, C, H, W) inputs.

    ``layers`` are engine-form dicts holding the weights; they are updated in place
    (the update is part of what is verified) and the result refers to their arrays, so
    pass dicts that nothing else will use. ``routes_from`` maps the recorded forward
    activations to :class:`~alexnet.verify.routing.Routes` whose near-tie hints steer the
    max pools' backward (kept in ``result.routes``).
    """
    res = SideResult(name="reference")
    n = x.shape[0]
    for d in layers.values():
        if d["type"] == "hs":
            d["enable"] = False
    data_name = next(nm for nm, d in layers.items()
                     if d["type"] == "data" and d.get("dataIdx") == 0)
    label_name = next(nm for nm, d in layers.items()
                      if d["type"] == "data" and d.get("dataIdx") == 1)
    feats = np.ascontiguousarray(x.reshape(n, -1).T, dtype=np.float32)
    labs = np.ascontiguousarray(labels.reshape(1, n), dtype=np.float32)
    rec = _Recorder(layers)
    e = Engine(layers, backend=backend, seed=0, observer=rec)
    e.needs_grad[data_name] = True
    t0 = time.perf_counter()
    costs = e.fprop([feats, labs], TRAIN)
    res.seconds["forward"] = time.perf_counter() - t0
    for name, a in rec.acts.items():
        if name != label_name and layers[name]["type"] != "softmax":
            res.acts[name] = _to_cases(a)
    if routes_from is not None:
        res.routes = routes_from(res.acts)
        rec.hints.update(res.routes.hints)
    t0 = time.perf_counter()
    e.bprop(0.0, n)
    res.seconds["backward"] = time.perf_counter() - t0
    cost_name, cost = next((nm, d) for nm, d in layers.items() if d["type"] == "cost.logreg")
    coeff = float(cost.get("coeff", 1.0))
    res.loss = coeff * costs[cost_name][0] / n
    softmax = layers[cost["inputs"][1]]
    res.logits = res.acts[softmax["inputs"][0]].copy()
    # one float32 rounding (none when the batch is a power of two)
    scale = np.float32(-1.0 / n)
    for name, g in rec.grads.items():
        g *= scale
        res.grads[name] = g
    for name, g in rec.wsums.items():
        g *= scale  # wsums holds the recording's own copies
        res.wgrads[name] = g
    for ps in e.params.values():
        for p in ps:
            res.hyper[p.name] = (float(p.schedule.base), float(p.mom), float(p.wc))
    t0 = time.perf_counter()
    e.update(0.0)
    res.seconds["update"] = time.perf_counter() - t0
    # the arrays themselves: ``layers`` belongs to this run and nothing updates it again
    for name, d in layers.items():
        if d["type"] not in ("conv", "local", "fc"):
            continue
        for i, (w, v) in enumerate(zip(d["weights"], d["weightsInc"], strict=True)):
            res.weights_after[f"{name}.weights[{i}]"] = w
            res.velocity_after[f"{name}.weights[{i}]"] = v
        res.weights_after[f"{name}.biases"] = d["biases"]
        res.velocity_after[f"{name}.biases"] = d["biasesInc"]
    return res
