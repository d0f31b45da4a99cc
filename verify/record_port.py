"""Run the modern port (``alexnet.modern``) on one minibatch and record every layer.

The port is treated as a black box with two documented entry points: the model's
forward pass and its update rule (:class:`~alexnet.modern.update.Update2012`). Layer
outputs are recorded without changing the port's code:

* cfg-built nets (:class:`~alexnet.modern.cfgnet.CfgNet`) run one module per 2012 layer,
  so a forward hook on each module records its output;
* the hand-written AlexNet2012 computes most layers with functions, not modules. Its
  forward pass reports each layer to an optional ``trace`` list (used by its
  ``summary()``); the verifier passes a list that, when a layer is reported, takes the
  tensor the layer has just produced, which a ``TorchFunctionMode`` sees as the last
  tensor returned by a torch function. The captured tensor's shape is checked against
  the reported one, so a change in the port that broke this would be an error, never a
  silent mis-attribution.

Values are copied when recorded (the port applies ReLUs in place afterwards), and a
gradient hook is registered on the recorded tensor at that moment, which PyTorch
defines to receive the gradient of that version of the tensor, before any later in-place
change.

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
from alexnet.verify.sides import SideResult
from torch.overrides import TorchFunctionMode


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


class _LastTensor(TorchFunctionMode):
    """Remembers the last tensor any torch function returned."""

    def __init__(self) -> None:
        super().__init__()
        self.last: torch.Tensor | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor):
            self.last = out
        return out


class _TraceList(list):
    """The ``trace`` argument of AlexNet2012's forward: records each reported layer."""

    def __init__(self, spy: _LastTensor, rec: _Recorder) -> None:
        super().__init__()
        self.spy, self.rec = spy, rec

    def append(self, item: Any) -> None:
        super().append(item)
        name, _kind, shape = item
        t = self.spy.last
        if t is None or tuple(t.shape[1:]) != tuple(shape):
            got = None if t is None else tuple(t.shape[1:])
            raise RuntimeError(f"cannot record the port's layer {name!r}: expected a tensor "
                               f"of shape {tuple(shape)}, the last one computed was {got}")
        self.rec.record(name, t)


def forward_recorded(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, _Recorder]:
    """Logits and a recorder holding every layer's output (and, after backward, grads)."""
    from alexnet.modern.cfgnet import CfgNet

    rec = _Recorder()
    if isinstance(model, CfgNet):
        handles = []
        for name, key, _ins in model.plan:
            mod = model.layers[key]
            handles.append(mod.register_forward_hook(
                lambda _m, _i, out, name=name: rec.record(name, out)))
        try:
            logits = model(x)
        finally:
            for h in handles:
                h.remove()
        return logits, rec
    if hasattr(model, "_run"):
        spy = _LastTensor()
        trace = _TraceList(spy, rec)
        with spy:
            logits = model._run(x, trace)
        return logits, rec
    raise TypeError(f"{type(model).__name__}: the verifier cannot record its layers")


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
    from alexnet.modern import to_2012_matrices
    from alexnet.modern.update import Update2012

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

