"""Convert between our tensors and the weight matrices of a 2012 checkpoint.

A 2012 model state (``original-2012.md`` §4.3-§4.4) holds, per weight layer, a list
``weights`` (one float32 matrix per input) and ``biases``, named here
``"<layer>.weights[i]"`` and ``"<layer>.biases"``:

* conv ``weights[i]``: ``(filterChannels * S * S, filters)``, C order, row index
  ``c * S² + y * S + x``; torch ``(F, C', S, S)`` is its transpose, reshaped;
* conv biases ``(F, 1)``; unshared (``sharedBiases=0``) and local biases ``(F * M, 1)``,
  index ``f * M + m``;
* local ``weights[i]``: ``(M * C' * S * S, F)``; ours is the same data as ``(M, C'S², F)``;
* fc ``weights[i]``: ``(inputs_i, outputs)``, Fortran order; torch ``(outputs, inputs_i)``
  is its transpose; fc biases ``(1, outputs)``.

For :class:`~alexnet.modern.net2012.AlexNet2012`, whose tensors join both towers, each
model lists where every def-145 matrix sits (``matrix_pieces()``): e.g. ``conv3b.weights[1]``
is rows 192-383, input channels 128-255 of ``conv3.weights[0]``, and ``fc2048bb`` reads
(hs1b, hs1a) in that order, so its ``weights[0]`` is the second input half of fc7.

The same functions convert any tensor laid out like the parameters (momentum buffers
``weightsInc``/``biasesInc``) by passing ``values``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from alexnet.errors import CheckpointError, ConfigError

__all__ = ["to_2012_matrices", "from_2012_matrices"]


def _params_by_name(model: nn.Module) -> dict[str, Tensor]:
    return {g["name"]: g["param"] for g in _groups(model)}


def _groups(model: nn.Module) -> list[dict]:
    if not hasattr(model, "matrix_pieces"):
        raise TypeError(f"{type(model).__name__} has no 2012 matrix layout")
    try:
        return model.param_groups()
    except ConfigError:  # no learning parameters: names and tensors are still known
        return [{"name": p.param, "param": _lookup_param(model, p.param)}
                for p in model.matrix_pieces()]


def _lookup_param(model: nn.Module, name: str) -> Tensor:
    layer, _, rest = name.partition(".")
    from alexnet.modern.cfgnet import CfgNet

    if isinstance(model, CfgNet):
        mod = model._weight_module(layer, model.graph.layers[layer])
        if rest == "biases":
            return mod.biases
        return mod.weights[int(rest[len("weights["):-1])]
    mod = getattr(model, layer)
    return mod.bias if rest == "biases" else mod.weight


def _to_np(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).contiguous().numpy()


def _piece_to_2012(t: Tensor, kind: str) -> np.ndarray:
    if kind == "conv":
        f = t.shape[0]
        return np.ascontiguousarray(_to_np(t.reshape(f, -1)).T)
    if kind == "fc":
        return np.asfortranarray(_to_np(t).T)
    if kind == "local":
        m, k, f = t.shape
        return np.ascontiguousarray(_to_np(t).reshape(m * k, f))
    if kind == "conv_bias":
        return np.ascontiguousarray(_to_np(t).reshape(-1, 1))
    if kind == "local_bias":
        return np.ascontiguousarray(_to_np(t).reshape(-1, 1))
    if kind == "fc_bias":
        return np.asfortranarray(_to_np(t).reshape(1, -1))
    raise ValueError(kind)


def _piece_from_2012(a: np.ndarray, like: Tensor, kind: str) -> Tensor | None:
    """The 2012 array in the torch layout of ``like`` (the destination slice), or None
    when its shape does not fit. fc matrices are Fortran-ordered, so their transpose is
    the torch layout without a copy."""
    a = np.asarray(a, dtype=np.float32)
    if kind == "conv":
        f, k = like.shape[0], like[0].numel()
        if a.shape != (k, f):
            return None
        return torch.from_numpy(np.ascontiguousarray(a.T)).reshape(like.shape)
    if kind == "fc":
        if a.shape != (like.shape[1], like.shape[0]):
            return None
        return torch.from_numpy(np.ascontiguousarray(a.T))
    if kind == "local":
        m, k, f = like.shape
        return torch.from_numpy(np.ascontiguousarray(a)).reshape(m, k, f) if a.shape == (
            m * k, f) else None
    if kind in ("conv_bias", "local_bias"):
        return torch.from_numpy(a.reshape(-1).copy()).reshape(like.shape) if a.shape == (
            like.numel(), 1) else None
    if kind == "fc_bias":
        return torch.from_numpy(a.reshape(-1).copy()).reshape(like.shape) if a.shape == (
            1, like.numel()) else None
    raise ValueError(kind)


def to_2012_matrices(
    model: nn.Module, values: Mapping[str, Tensor] | None = None
) -> dict[str, np.ndarray]:
    """``{"conv1a.weights[0]": (363, 48) array, "conv1a.biases": (48, 1), ...}``.

    ``values`` (param_groups name -> tensor of the parameter's shape) converts something
    else than the parameters, e.g. the update rule's velocities.
    """
    tensors = dict(values) if values is not None else _params_by_name(model)
    out: dict[str, np.ndarray] = {}
    for p in model.matrix_pieces():
        t = tensors[p.param]
        t = t[p.rows, p.cols] if p.kind in ("conv", "fc") else t[p.rows]
        out[p.name2012] = _piece_to_2012(t, p.kind)
    return out


def from_2012_matrices(
    model: nn.Module,
    mats: Mapping[str, np.ndarray],
    *,
    load: bool = True,
    source: str = "2012 matrices",
) -> dict[str, Tensor]:
    """The inverse of :func:`to_2012_matrices`: returns param_groups name -> tensor, and
    with ``load`` copies them into the model's parameters.

    Raises :class:`~alexnet.errors.CheckpointError` naming the first matrix that is
    missing or has the wrong shape.
    """
    params = _params_by_name(model)
    result = {name: torch.empty_like(p, memory_format=torch.contiguous_format)
              for name, p in params.items()}
    pieces = model.matrix_pieces()
    missing = [p.name2012 for p in pieces if p.name2012 not in mats]
    if missing:
        raise CheckpointError(f"{source}: no matrix {missing[0]!r} "
                              f"({len(missing)} of {len(pieces)} missing)")
    for p in pieces:
        dst = result[p.param]
        view = dst[p.rows, p.cols] if p.kind in ("conv", "fc") else dst[p.rows]
        a = np.asarray(mats[p.name2012])
        t = _piece_from_2012(a, view, p.kind)
        if t is None:
            raise CheckpointError(
                f"{source}: {p.name2012} has shape {tuple(a.shape)}, this model needs "
                f"{tuple(_piece_to_2012(view, p.kind).shape)}"
            )
        view.copy_(t)
    if load:
        with torch.no_grad():
            for name, t in result.items():
                params[name].copy_(t)
    return result
