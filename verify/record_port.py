"""Run the modern port (``alexnet.modern``) on one minibatch and record every layer.

The port is treated as a black box with three documented entry points: the model's
``forward_with_trace`` (every layer's output, :mod:`alexnet.modern.trace`), its parameter
groups and its update rule (:class:`~alexnet.modern.update.Update2012`). Both kinds of
port network, the hand-written AlexNet2012 and the cfg-built CfgNet, offer the trace.

Values are copied when recorded, and a gradient hook is registered on each traced tensor
before the backward pass; the trace guarantees that no later in-place operation changed
those tensors, so each hook receives the gradient of exactly that layer's output.

Dropout runs in its test-time form (x * keep) on both sides: the two implementations
draw masks from different generators, so training-time masks cannot be compared
element by element; the rest of the training step (the 2012 update rule) is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from alexnet.layouts2012 import to_2012_matrices
from alexnet.modern.update import Update2012
from alexnet.verify.sides import SideResult


class _Recorder:
    def __init__(self) -> None:
        self.values: dict[str, np.ndarray] = {}
        self.grads: dict[str, torch.Tensor] = {}

    def record(self, name: str, t: torch.Tensor) -> None:
        self.values[name] = t.detach().contiguous().cpu().numpy().copy()
        if t.requires_grad:
            t.register_hook(lambda g, name=name: self._grad(name, g))

    def _grad(self, name: str, g: torch.Tensor) -> None:
        g = g.detach().clone()
        self.grads[name] = g if name not in self.grads else self.grads[name] + g


def forward_recorded(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, _Recorder]:
    """Logits and a recorder holding every layer's output (and, after backward, grads)."""
    trace_fn = getattr(model, "forward_with_trace", None)
    if trace_fn is None:
        raise TypeError(f"{type(model).__name__}: the verifier cannot record its layers "
                        "(the model has no forward_with_trace)")
    rec = _Recorder()
    logits, trace = trace_fn(x)
    for name, _kind, t in trace:
        rec.record(name, t)
    return logits, rec


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().cpu().numpy()


def _flat(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.reshape(a.shape[0], -1))


def _split(name: str, a: np.ndarray, names: tuple[str, ...],
           sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Cut a joined-tower array (cases, channels, ...) into its 2012 layers."""
    if len(names) == 1:
        return {names[0]: _flat(a)}
    out, start = {}, 0
    for n in names:
        per = sizes[n]
        out[n] = _flat(a[:, start:start + per])
        start += per
    if start != a.shape[1]:
        raise ValueError(f"port layer {name!r} has {a.shape[1]} channels, its 2012 layers "
                         f"{names} have {start}")
    return out


def run_port(
    model: torch.nn.Module,
    x: np.ndarray,
    labels: np.ndarray,
    *,
    mapping: dict[str, tuple[str, ...]],
    sizes: dict[str, int],
    data_layer: str = "data",
    velocities: dict[str, torch.Tensor] | None = None,
    optimizer_hook: Callable[[Any], None] | None = None,
) -> SideResult:
    """Forward, backward and one 2012 update on the port; everything in 2012 names.

    ``x``: (cases, C, H, W) float32 mean-subtracted pixels; ``labels``: (cases,) ints.
    ``sizes``: channels (or units) of every 2012 layer, to cut joined towers apart.
    ``velocities``: param_groups name -> initial momentum buffer. ``optimizer_hook`` may
    wrap the optimizer before it steps (the self-test plants faults this way).
    """
    res = SideResult(name="port")
    t0 = time.perf_counter()
    model.eval()
    for p in model.parameters():
        p.grad = None
    xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(True)
    logits, rec = forward_recorded(model, xt)
    coeff = float((getattr(model, "cost", None) or {}).get("coeff", 1.0))
    loss = coeff * F.cross_entropy(logits.float(), torch.from_numpy(labels.astype(np.int64)))
    res.seconds["forward"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    loss.backward()
    res.seconds["backward"] = time.perf_counter() - t0
    res.loss = float(loss.detach())
    res.logits = _np(logits).astype(np.float32)

    for pname, names in mapping.items():
        if pname in rec.values:
            res.acts.update(_split(pname, rec.values[pname], names, sizes))
        if pname in rec.grads:
            res.grads.update(_split(pname, _np(rec.grads[pname]), names, sizes))
    if xt.grad is not None:
        res.grads[data_layer] = _flat(_np(xt.grad))

    groups = model.param_groups()
    grads = {g["name"]: (g["param"].grad if g["param"].grad is not None
                         else torch.zeros_like(g["param"])) for g in groups}
    # copies: the converter may return views of the port's own storage
    res.wgrads = _copies(to_2012_matrices(model, values=grads))
    by_name = {g["name"]: g for g in groups}
    for piece in model.matrix_pieces():
        g = by_name[piece.param]
        res.hyper[piece.name2012] = (float(g["eps"]), float(g["mom"]), float(g["wc"]))

    t0 = time.perf_counter()
    opt = Update2012(groups)
    if velocities is not None:
        opt.load_velocities(velocities, source="verifier")
    if optimizer_hook is not None:
        optimizer_hook(opt)
    opt.step()
    res.seconds["update"] = time.perf_counter() - t0
    res.weights_after = _copies(to_2012_matrices(model))
    res.velocity_after = _copies(to_2012_matrices(model, values=opt.velocities()))
    return res


def _copies(mats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Own every array: the converter returns views of the port's storage where the
    layouts coincide (fc matrices, biases), which the next load would overwrite."""
    return {k: v if v.flags.owndata else v.copy(order="K") for k, v in mats.items()}

