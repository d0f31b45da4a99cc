"""Planted faults: known discrepancies the verifier must catch, at the right layer.

A verifier that cannot fail proves nothing. Each fault below is a mistake a port or a
converter could plausibly make; the self-test plants them one at a time on the PORT'S
side only — by changing an option of the built model, wrapping one module's forward
pass, corrupting the matrices the conversion hands over, or wrapping the optimizer's
step — always inside a context manager that undoes it, never by editing the port's
code. The 2012 reference is computed once and stays correct, so each fault must show
up as a failing check, and the FIRST failing check (in suite order: forward layer by
layer, loss, gradients, weight gradients, velocities, weights, predictions) must be the
layer and kind where the fault lives. That is what "detected at the right layer" means.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from alexnet.layouts2012 import from_2012_matrices, to_2012_matrices
from alexnet.modern.cfgnet import CfgNet


@dataclass
class Fault:
    name: str
    description: str
    #: suite -> (expected first failing layer, its check kind)
    expect: dict[str, tuple[str, str]]
    plant: Callable[[Any], contextlib.AbstractContextManager] | None = None
    optimizer_hook: Callable[[Any], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def applied(self, prep: Any) -> Iterator[None]:
        if self.plant is None:
            yield
            return
        with self.plant(prep):
            yield


# --------------------------------------------------------------------------------------
# Helpers to reach into the built port model (never its source)


def _is_cfgnet(model: Any) -> bool:
    return isinstance(model, CfgNet)


def _module(model: Any, layer: str) -> torch.nn.Module:
    """The module computing a layer (both port networks answer ``module_for``)."""
    return model.module_for(layer)


@contextlib.contextmanager
def _wrapped_forward(mod: torch.nn.Module, wrap: Callable) -> Iterator[None]:
    orig = mod.forward
    mod.forward = wrap(orig)  # instance attribute shadows the class method
    try:
        yield
    finally:
        del mod.forward


@contextlib.contextmanager
def _corrupted_matrices(prep: Any, corrupt: Callable[[dict[str, np.ndarray]], None]
                        ) -> Iterator[None]:
    """The conversion hands the port wrong 2012 matrices (the port then loads them)."""
    mats = {k: np.array(v, copy=True) for k, v in to_2012_matrices(prep.model).items()}
    corrupt(mats)
    from_2012_matrices(prep.model, mats, source="planted fault")
    prep.port_dirty = True
    try:
        yield
    finally:
        prep.restore_port()


@contextlib.contextmanager
def _option(model: Any, key: str, value: Any) -> Iterator[None]:
    old = model.options[key]
    model.options[key] = value
    try:
        yield
    finally:
        model.options[key] = old


# --------------------------------------------------------------------------------------
# The faults


def _lrn_alpha(prep: Any) -> contextlib.AbstractContextManager:
    """The paper's formula (alpha on the sum of squares) instead of the code's alpha/n."""
    model = prep.model
    if _is_cfgnet(model):
        stack = contextlib.ExitStack()
        for _name, mod in model.layer_modules():
            op = getattr(mod, "op", None)
            if op is None:
                continue
            if hasattr(op, "alpha") and hasattr(op, "size"):      # cross-map LRN
                stack.enter_context(_attr(op, "alpha", op.alpha * op.size))
            elif hasattr(op, "scale") and hasattr(op, "size"):    # same-map rnorm/cnorm
                stack.enter_context(_attr(op, "scale", op.scale * op.size ** 2))
        return stack
    return _option(model, "lrn_alpha_divided_by_n", False)


@contextlib.contextmanager
def _attr(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _padding_shift(layer: str) -> Callable[[Any], contextlib.AbstractContextManager]:
    """The layer sees its input shifted by one pixel (padding 1 short on the top/left and
    1 extra on the bottom/right): an off-by-one in the padding arithmetic."""
    def plant(prep: Any) -> contextlib.AbstractContextManager:
        def wrap(orig):
            def forward(*xs):
                shifted = [F.pad(x, (-1, 1, -1, 1)) if x.dim() == 4 else x for x in xs]
                return orig(*shifted)
            return forward
        return _wrapped_forward(_module(prep.model, layer), wrap)
    return plant


def _swap_towers(a: str, b: str) -> Callable[[Any], contextlib.AbstractContextManager]:
    """The converter puts GPU 1's matrices where GPU 0's belong and vice versa."""
    def corrupt(mats: dict[str, np.ndarray]) -> None:
        for suffix in ("weights[0]", "biases"):
            ka, kb = f"{a}.{suffix}", f"{b}.{suffix}"
            mats[ka], mats[kb] = mats[kb], mats[ka]
    return lambda prep: _corrupted_matrices(prep, corrupt)


def _fc_wrong_order(key: str) -> Callable[[Any], contextlib.AbstractContextManager]:
    """An fc matrix (2012: numIn x numOut, Fortran order) read as if it were C order: for a
    square matrix exactly the transpose, otherwise the same numbers scrambled."""
    def corrupt(mats: dict[str, np.ndarray]) -> None:
        w = mats[key]
        mats[key] = np.asfortranarray(np.ravel(w, order="F").reshape(w.shape))
    return lambda prep: _corrupted_matrices(prep, corrupt)


def _conv_layout(layer: str) -> Callable[[Any], contextlib.AbstractContextManager]:
    """A conv filter matrix read with rows in (y, x, channel) order — today's
    channels-last habit — instead of 2012's (channel, y, x)."""
    def plant(prep: Any) -> contextlib.AbstractContextManager:
        d = prep.graph.layers[layer]
        geometry = {f"{layer}.weights[{i}]": (c, s) for i, (c, s) in
                    enumerate(zip(d["filterChannels"], d["filterSize"], strict=True))}

        def corrupt(mats: dict[str, np.ndarray]) -> None:
            for key, (c, s) in geometry.items():
                w = mats[key]
                rows, f = w.shape
                mats[key] = np.ascontiguousarray(
                    w.reshape(s, s, c, f).transpose(2, 0, 1, 3).reshape(rows, f))
        return _corrupted_matrices(prep, corrupt)
    return plant


def _momentum_after_step(opt: Any) -> None:
    """w moves by the fresh step only; momentum is applied to the velocity afterwards
    (v_new = mom * v + step; w += step) instead of w += mom * v + step."""
    def step(closure=None):
        with torch.no_grad():
            for group in opt.param_groups:
                eps = group["eps"]
                if eps == 0.0:
                    continue
                p = group["params"][0]
                if p.grad is None:
                    continue
                v = opt.state[p]["velocity"]
                d = -eps * p.grad
                if group["wc"]:
                    d = d - group["wc"] * eps * p
                p.add_(d)
                v.mul_(group["mom"]).add_(d)
        return None
    opt.step = step


def _bias_decay(opt: Any) -> None:
    """Weight decay applied to the biases too (2012 never decays biases)."""
    wc = {g["layer"]: g["wc"] for g in opt.param_groups if g["kind"] == "weights"}
    for g in opt.param_groups:
        if g["kind"] == "biases":
            g["wc"] = wc.get(g["layer"], 0.0)


def _inverted_dropout(prep: Any) -> contextlib.AbstractContextManager:
    """Today's dropout convention (scale by 1/keep while training, identity at test)."""
    model = prep.model
    if _is_cfgnet(model):
        stack = contextlib.ExitStack()
        for _name, mod in model.layer_modules():
            if hasattr(mod, "keep") and hasattr(mod, "mode"):
                stack.enter_context(_attr(mod, "mode", "inverted"))
        return stack
    return _option(model, "dropout", "inverted")


FAULTS: dict[str, Fault] = {f.name: f for f in [
    Fault("lrn-alpha", "normalisation coefficient not divided by the window (paper formula: "
          "alpha, not alpha/n; for same-map rnorm: scale, not scale/size^2)",
          {"alexnet2012": ("rnorm1a", "forward"), "cifar10-18pct": ("rnorm1", "forward")},
          plant=_lrn_alpha),
    Fault("padding-shift", "one-pixel padding shift: the layer's input moved by one pixel",
          {"alexnet2012": ("conv2a", "forward"), "cifar10-80sec": ("conv2", "forward")},
          plant=None),
    Fault("swapped-towers", "the two GPUs' conv4 matrices exchanged by the converter",
          {"alexnet2012": ("conv4a", "forward")}, plant=_swap_towers("conv4a", "conv4b")),
    Fault("fc-transposed", "an fc matrix read in the wrong memory order (Fortran as C; a "
          "transpose for the square fc2048ba.weights[0])",
          {"alexnet2012": ("fc2048ba", "forward"), "cifar10-80sec": ("fc64", "forward")},
          plant=None),
    Fault("momentum-after-step", "momentum applied after instead of before the step "
          "(w += step; v = mom*v + step)",
          {"alexnet2012": ("conv1a", "weights"), "cifar10-80sec": ("conv1", "weights")},
          optimizer_hook=_momentum_after_step),
    Fault("conv-layout", "a conv layer's filters in the wrong layout (rows y, x, channel "
          "instead of channel, y, x)",
          {"alexnet2012": ("conv5a", "forward"), "cifar10-80sec": ("conv3", "forward")},
          plant=None),
    Fault("dropout-inverted", "inverted dropout (x/keep in training, identity at test) "
          "instead of 2012's (mask in training, x*keep at test)",
          {"alexnet2012": ("hs1a", "forward")}, plant=_inverted_dropout),
    Fault("bias-decay", "weight decay applied to the biases",
          {"alexnet2012": ("conv2a", "velocity")},
          optimizer_hook=_bias_decay),
]}


def _per_suite(prep: Any, choices: dict[str, Callable]) -> contextlib.AbstractContextManager:
    return choices[prep.suite.name](prep)


FAULTS["padding-shift"].plant = lambda prep: _per_suite(prep, {
    "alexnet2012": _padding_shift("conv2"), "cifar10-80sec": _padding_shift("conv2")})
FAULTS["fc-transposed"].plant = lambda prep: _per_suite(prep, {
    "alexnet2012": _fc_wrong_order("fc2048ba.weights[0]"),
    "cifar10-80sec": _fc_wrong_order("fc64.weights[0]")})
FAULTS["conv-layout"].plant = lambda prep: _per_suite(prep, {
    "alexnet2012": _conv_layout("conv5a"), "cifar10-80sec": _conv_layout("conv3")})
