"""The 2012 weight matrices and the port's tensors: the one conversion, both directions.

Both implementations hold the same numbers in different shapes. The 2012 system keeps,
per weight layer, a list ``weights`` (one float32 matrix per input) and ``biases``; the
port keeps PyTorch-shaped tensors named by port parameter (the ``param_groups`` names,
e.g. ``conv3.weights[0]``). Every conversion between them — the 2012 checkpoint's
safetensors export and import, the verifier handing weights across, the pipeline running
trained weights in the 2012 engine — goes through this module, so a layout is written
down once. It needs numpy only: a port model is used through its own methods
(``matrix_pieces()``, ``param_tensors()``, ``named_parameters()``) and its tensors'
methods, so neither ``alexnet.original`` nor ``alexnet.modern`` is imported here.

Layouts (the 2012 name of a matrix is ``<layer>.weights[<i>]`` or ``<layer>.biases``):

================  ==========================================  ===========================
2012 matrix       2012 shape (memory order)                   port tensor
================  ==========================================  ===========================
conv weights[i]   (C'*S*S, F) C order, row c'*S*S + y*S + x   (F, C', S, S) = W.T reshaped
local weights[i]  (M*C'*S*S, F) C order                       (M, C'*S*S, F), same bytes
fc weights[i]     (numIn, numOut) Fortran                     (numOut, numIn) = W.T
conv biases       (F, 1); unshared (F*M, 1), row f*M + m      (F,); unshared (F, MY, MX)
local biases      (F*M, 1)                                    (F, MY, MX)
fc biases         (1, numOut) Fortran                         (numOut,)
================  ==========================================  ===========================

Each conversion is a transpose and/or a reshape, so a round trip is bit-exact.

A port tensor may hold several 2012 matrices: a :class:`Piece` names one 2012 matrix
and the block of a port tensor that holds it. The cfg-built port keeps one tensor per
2012 matrix (:func:`layer_pieces`). The hand-written AlexNet2012 joins the two GPU
towers of definition 145 into one tensor per layer (:data:`LAYERS_2012`,
:func:`alexnet2012_pieces`): e.g. ``conv3b.weights[1]`` is rows 192-383, input channels
128-255 of ``conv3.weights[0]``, and ``fc2048bb`` reads (hs1b, hs1a) in that order, so
its ``weights[0]`` is the second input half of fc7.

Files name port tensors in two ways: by port parameter (the per-cfg-layer names above;
momentum buffers as ``velocity/<name>``) or by a model's ``state_dict`` keys. A
:class:`PortLayout` holds what a conversion needs to know of a port network — its pieces,
tensor shapes and state_dict keys — as data, so the 2012 side can convert without
building the port (:func:`arch_layout`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from alexnet import registry
from alexnet.errors import CheckpointError, ConfigError

__all__ = [
    "WEIGHT_TYPES", "VELOCITY", "LAYERS_2012", "Piece", "PortLayout",
    "matrix_from_port", "matrix_to_port", "matrix_shape", "port_to_2012", "port_from_2012",
    "layer_pieces", "layer_shapes", "layer_matrices", "fill_layers", "layers_to_tensors",
    "tensors_to_layers", "alexnet2012_pieces", "alexnet2012_layout", "arch_layout",
    "model_layout", "layers_to_state_dict", "state_dict_to_layers", "to_2012_matrices",
    "from_2012_matrices", "layers_from_port",
]

#: 2012 layer types that hold weights (a ``treefc`` is parsed but never trained here)
WEIGHT_TYPES = ("conv", "local", "fc")

#: prefix of a momentum buffer (2012 ``weightsInc``/``biasesInc``) named by port parameter
VELOCITY = "velocity/"

#: The hand-written port's layer -> the def-145 layer names of its towers (GPU 0, GPU 1).
LAYERS_2012: dict[str, tuple[str, ...]] = {
    "conv1": ("conv1a", "conv1b"),
    "conv2": ("conv2a", "conv2b"),
    "conv3": ("conv3a", "conv3b"),
    "conv4": ("conv4a", "conv4b"),
    "conv5": ("conv5a", "conv5b"),
    "fc6": ("fc2048a", "fc2048b"),
    "fc7": ("fc2048ba", "fc2048bb"),
    "fc8": ("fc1000",),
}


class Piece(NamedTuple):
    """One 2012 matrix inside one port tensor: rows (outputs) and columns (inputs)."""

    param: str          # port parameter, e.g. "conv3.weights[0]"
    name2012: str       # e.g. "conv3b.weights[1]"
    kind: str           # "conv" | "fc" | "local" | "conv_bias" | "fc_bias" | "local_bias"
    rows: slice = slice(None)
    cols: slice = slice(None)


@dataclass(frozen=True)
class PortLayout:
    """A port network's tensors as the conversion sees them."""

    arch: str
    pieces: tuple[Piece, ...]
    shapes: dict[str, tuple[int, ...]]  # port parameter -> tensor shape
    keys: dict[str, str]                # port parameter -> state_dict key


# --------------------------------------------------------------------------------------
# One matrix


def matrix_shape(kind: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """The shape of the 2012 matrix held by a port block of ``shape``."""
    if kind == "conv":
        return math.prod(shape[1:]), shape[0]
    if kind == "fc":
        return shape[1], shape[0]
    if kind == "local":
        return shape[0] * shape[1], shape[2]
    if kind in ("conv_bias", "local_bias"):
        return math.prod(shape), 1
    if kind == "fc_bias":
        return 1, math.prod(shape)
    raise ValueError(f"unknown 2012 matrix kind {kind!r}")


def matrix_from_port(t: np.ndarray, kind: str) -> np.ndarray:
    """A port block as its 2012 matrix (shape and memory order of the table above)."""
    if kind == "conv":
        return np.ascontiguousarray(t.reshape(t.shape[0], -1).T)
    if kind == "fc":
        return np.asfortranarray(t.T)
    if kind == "local":
        m, k, f = t.shape
        return np.ascontiguousarray(t.reshape(m * k, f))
    if kind in ("conv_bias", "local_bias"):
        return np.ascontiguousarray(t.reshape(-1, 1))
    if kind == "fc_bias":
        return np.asfortranarray(t.reshape(1, -1))
    raise ValueError(f"unknown 2012 matrix kind {kind!r}")


def matrix_to_port(a: np.ndarray, kind: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """A 2012 matrix as a port block of ``shape`` (float32), or None when it does not fit.
    fc matrices are Fortran-ordered, so their transpose is the port layout without a copy."""
    a = np.asarray(a, dtype=np.float32)
    if a.shape != matrix_shape(kind, shape):
        return None
    if kind in ("conv", "fc"):
        return np.ascontiguousarray(a.T).reshape(shape)
    return np.ascontiguousarray(a).reshape(shape)


# --------------------------------------------------------------------------------------
# Pieces <-> port tensors


def _block(t: Any, p: Piece) -> Any:
    return t[p.rows, p.cols] if p.kind in ("conv", "fc") else t[p.rows]


def port_to_2012(pieces: Iterable[Piece], tensors: Mapping[str, np.ndarray]
                 ) -> dict[str, np.ndarray]:
    """2012 matrix name -> matrix, from port tensors (numpy) named by port parameter.
    A matrix may share memory with the tensor it comes from."""
    return {p.name2012: matrix_from_port(_block(tensors[p.param], p), p.kind) for p in pieces}


def port_from_2012(pieces: Iterable[Piece], mats: Mapping[str, np.ndarray],
                   shapes: Mapping[str, tuple[int, ...]], *, source: str = "2012 matrices"
                   ) -> dict[str, np.ndarray]:
    """Port parameter -> new float32 tensor of ``shapes``, assembled from 2012 matrices.

    Raises :class:`~alexnet.errors.CheckpointError` naming the first matrix that is
    missing or has the wrong shape.
    """
    pieces = list(pieces)
    missing = [p.name2012 for p in pieces if p.name2012 not in mats]
    if missing:
        raise CheckpointError(f"{source}: no matrix {missing[0]!r} "
                              f"({len(missing)} of {len(pieces)} missing)")
    out = {name: np.empty(shape, dtype=np.float32) for name, shape in shapes.items()}
    for p in pieces:
        view = _block(out[p.param], p)
        a = np.asarray(mats[p.name2012])
        t = matrix_to_port(a, p.kind, view.shape)
        if t is None:
            raise CheckpointError(f"{source}: {p.name2012} has shape {tuple(a.shape)}, this "
                                  f"model needs {matrix_shape(p.kind, view.shape)}")
        view[...] = t
    return out


# --------------------------------------------------------------------------------------
# 2012 layer dicts (engine form)


def _weight_layers(layers: Mapping[str, dict[str, Any]]) -> Iterable[tuple[str, dict]]:
    return ((name, d) for name, d in layers.items() if d["type"] in WEIGHT_TYPES)


def _bias_kind(d: dict[str, Any]) -> str:
    if d["type"] == "fc":
        return "fc_bias"
    return "conv_bias" if d["type"] == "conv" and d.get("sharedBiases", True) else "local_bias"


def layer_pieces(layers: Mapping[str, dict[str, Any]]) -> list[Piece]:
    """One piece per 2012 matrix, the port tensor named like it (the cfg-built port)."""
    pieces = []
    for name, d in _weight_layers(layers):
        for i in range(len(d["inputs"])):
            pieces.append(Piece(f"{name}.weights[{i}]", f"{name}.weights[{i}]", d["type"]))
        pieces.append(Piece(f"{name}.biases", f"{name}.biases", _bias_kind(d)))
    return pieces


def layer_shapes(layers: Mapping[str, dict[str, Any]]) -> dict[str, tuple[int, ...]]:
    """The port tensor shape of every 2012 matrix of the layer dicts (table above)."""
    out: dict[str, tuple[int, ...]] = {}
    for name, d in _weight_layers(layers):
        t, f = d["type"], d.get("filters")
        for i in range(len(d["inputs"])):
            if t == "conv":
                s = d["filterSize"][i]
                shape: tuple[int, ...] = (f, d["filterChannels"][i], s, s)
            elif t == "local":
                shape = (d["modules"], d["filterChannels"][i] * d["filterSize"][i] ** 2, f)
            else:
                shape = (d["outputs"], d["numInputs"][i])
            out[f"{name}.weights[{i}]"] = shape
        kind = _bias_kind(d)
        out[f"{name}.biases"] = ((d["outputs"],) if kind == "fc_bias" else (f,)
                                 if kind == "conv_bias" else (f, d["modulesX"], d["modulesX"]))
    return out


def layer_matrices(layers: Mapping[str, dict[str, Any]], key: str = "weights"
                   ) -> dict[str, np.ndarray]:
    """2012 matrix name -> array, for ``weights`` (with ``biases``) or ``weightsInc``
    (with ``biasesInc``); the arrays themselves, not copies."""
    bkey = "biases" if key == "weights" else "biasesInc"
    out: dict[str, np.ndarray] = {}
    for name, d in _weight_layers(layers):
        for i, w in enumerate(d[key]):
            out[f"{name}.weights[{i}]"] = w
        out[f"{name}.biases"] = d[bkey]
    return out


def fill_layers(layers: Mapping[str, dict[str, Any]], mats: Mapping[str, np.ndarray],
                incs: Mapping[str, np.ndarray] | None = None, *,
                source: str = "2012 matrices") -> None:
    """Set every weight layer's ``weights``/``biases`` from 2012 matrices by name, and
    ``weightsInc``/``biasesInc`` from ``incs`` (zeros where absent), in place."""
    incs = incs or {}

    def need(key: str) -> np.ndarray:
        if key not in mats:
            raise CheckpointError(f"{source}: no matrix {key!r} (is it from another network?)")
        return mats[key]

    for name, d in _weight_layers(layers):
        keys = [f"{name}.weights[{i}]" for i in range(len(d["inputs"]))]
        d["weights"] = [need(k) for k in keys]
        d["weightsInc"] = [incs[k] if k in incs else np.zeros_like(w)
                           for k, w in zip(keys, d["weights"], strict=True)]
        bkey = f"{name}.biases"
        d["biases"] = need(bkey)
        d["biasesInc"] = incs[bkey] if bkey in incs else np.zeros_like(d["biases"])


def layers_to_tensors(layers: Mapping[str, dict[str, Any]], *, velocity: bool = True
                      ) -> dict[str, np.ndarray]:
    """Per-cfg-layer port tensors of the layer dicts (their ``weightsInc``/``biasesInc``
    as ``velocity/<name>`` too): what the cfg-built port holds."""
    pieces, shapes = layer_pieces(layers), layer_shapes(layers)
    out = port_from_2012(pieces, layer_matrices(layers), shapes)
    if velocity:
        incs = port_from_2012(pieces, layer_matrices(layers, "weightsInc"), shapes)
        out.update({VELOCITY + k: v for k, v in incs.items()})
    return out


def tensors_to_layers(tensors: Mapping[str, np.ndarray], layers: Mapping[str, dict[str, Any]],
                      source: str) -> None:
    """Fill the weight arrays of ``layers`` (engine dicts of the right net) from tensors
    named as by :func:`layers_to_tensors`; velocities default to zeros when absent."""
    pieces, shapes = layer_pieces(layers), layer_shapes(layers)
    for p in pieces:
        for key in (p.param, VELOCITY + p.param):
            if key not in tensors:
                if key == p.param:
                    raise CheckpointError(f"{source}: tensor {key!r} missing (is it from "
                                          "another network?)")
                continue
            t = tensors[key]
            if tuple(t.shape) != shapes[p.param]:
                raise CheckpointError(f"{source}: tensor {key!r} has shape {tuple(t.shape)}, "
                                      f"this network needs {shapes[p.param]}")
            if t.dtype != np.float32:
                raise CheckpointError(f"{source}: tensor {key!r} has dtype {t.dtype}, "
                                      "expected float32")
    mats = port_to_2012(pieces, tensors)
    vel = [p for p in pieces if VELOCITY + p.param in tensors]
    incs = port_to_2012(vel, {p.param: tensors[VELOCITY + p.param] for p in vel})
    fill_layers(layers, mats, incs, source=source)


# --------------------------------------------------------------------------------------
# Port layouts


def alexnet2012_pieces() -> list[Piece]:
    """Where each def-145 matrix lives in the hand-written port's joined tensors."""
    half = slice(None, 2048), slice(2048, None)
    pieces = []
    tower_rows = {"conv1": 48, "conv2": 128, "conv3": 192, "conv4": 192, "conv5": 128,
                  "fc6": 2048, "fc7": 2048}
    for name, per in tower_rows.items():
        kind = "conv" if name.startswith("conv") else "fc"
        for t, lname in enumerate(LAYERS_2012[name]):
            rows = slice(t * per, (t + 1) * per)
            pieces.append(Piece(f"{name}.biases", f"{lname}.biases", kind + "_bias", rows))
            if name == "conv3":  # each tower reads both towers' pool2
                for i in range(2):
                    cols = slice(i * 128, (i + 1) * 128)
                    pieces.append(Piece("conv3.weights[0]", f"{lname}.weights[{i}]", "conv",
                                        rows, cols))
            elif name == "fc6":
                for i in range(2):
                    cols = slice(i * 4608, (i + 1) * 4608)
                    pieces.append(Piece("fc6.weights[0]", f"{lname}.weights[{i}]", "fc",
                                        rows, cols))
            elif name == "fc7":
                # fc2048ba reads (hs1a, hs1b); fc2048bb reads (hs1b, hs1a)
                order = (half[0], half[1]) if t == 0 else (half[1], half[0])
                for i, cols in enumerate(order):
                    pieces.append(Piece("fc7.weights[0]", f"{lname}.weights[{i}]", "fc",
                                        rows, cols))
            else:
                pieces.append(Piece(f"{name}.weights[0]", f"{lname}.weights[0]", kind, rows))
    pieces.append(Piece("fc8.biases", "fc1000.biases", "fc_bias"))
    for i in range(2):
        pieces.append(Piece("fc8.weights[0]", f"fc1000.weights[{i}]", "fc", slice(None),
                            half[i]))
    return pieces


def alexnet2012_layout(arch: str = "alexnet2012", num_classes: int = 1000) -> PortLayout:
    """The hand-written port's layout: joined towers, ``<layer>.weight``/``.bias`` keys."""
    weights = {"conv1": (96, 3, 11, 11), "conv2": (256, 48, 5, 5), "conv3": (384, 256, 3, 3),
               "conv4": (384, 192, 3, 3), "conv5": (256, 192, 3, 3), "fc6": (4096, 9216),
               "fc7": (4096, 4096), "fc8": (num_classes, 4096)}
    shapes: dict[str, tuple[int, ...]] = {}
    keys: dict[str, str] = {}
    for name, shape in weights.items():
        shapes[f"{name}.weights[0]"], keys[f"{name}.weights[0]"] = shape, f"{name}.weight"
        shapes[f"{name}.biases"], keys[f"{name}.biases"] = shape[:1], f"{name}.bias"
    return PortLayout(arch, tuple(alexnet2012_pieces()), shapes, keys)


def arch_layout(arch: str) -> PortLayout:
    """The layout of a port architecture known without building it: the hand-written
    module's (every variant holds the same tensors). A cfg-built net names its tensors
    like the 2012 matrices (:func:`layer_pieces`), which needs no architecture."""
    spec = registry.arch(arch)
    if spec.builder != "module":
        hand = ", ".join(a.name for a in registry.ARCHS.values() if a.builder == "module")
        raise ConfigError(f"arch {arch!r} is built from a cfg: its tensors are named like "
                          f"the 2012 matrices, the default naming (a fixed layout is known "
                          f"for the hand-written module: {hand})")
    return alexnet2012_layout(arch, spec.classes)


def model_layout(model: Any) -> PortLayout:
    """The layout of a built port model (any module with ``matrix_pieces()`` and
    ``param_tensors()``)."""
    if not hasattr(model, "matrix_pieces"):
        raise TypeError(f"{type(model).__name__} has no 2012 matrix layout")
    params = model.param_tensors()
    names = {id(p): k for k, p in model.named_parameters()}
    return PortLayout(str(getattr(model, "arch", type(model).__name__)),
                      tuple(model.matrix_pieces()),
                      {k: tuple(p.shape) for k, p in params.items()},
                      {k: names[id(p)] for k, p in params.items()})


def _layout(model_or_layout: Any) -> PortLayout:
    if isinstance(model_or_layout, PortLayout):
        return model_or_layout
    return model_layout(model_or_layout)


def layers_to_state_dict(model: Any, layers: Mapping[str, dict[str, Any]],
                         source: str = "2012 layers") -> dict[str, np.ndarray]:
    """The state_dict (numpy, by the layout's keys) holding the 2012 layers' weights;
    ``model`` is a port model or a :class:`PortLayout`."""
    lay = _layout(model)
    by_param = port_from_2012(lay.pieces, layer_matrices(layers), lay.shapes, source=source)
    return {lay.keys[k]: v for k, v in by_param.items()}


def state_dict_to_layers(model: Any, tensors: Mapping[str, np.ndarray],
                         layers: Mapping[str, dict[str, Any]], source: str = "state_dict"
                         ) -> None:
    """Fill 2012 layer dicts (zero increments) from a state_dict (numpy) of the layout of
    ``model`` (a port model or a :class:`PortLayout`)."""
    lay = _layout(model)
    values: dict[str, np.ndarray] = {}
    for param, key in lay.keys.items():
        if key not in tensors:
            raise CheckpointError(f"{source}: tensor {key!r} missing")
        t = np.asarray(tensors[key])
        if tuple(t.shape) != lay.shapes[param]:
            raise CheckpointError(f"{source}: tensor {key!r} has shape {tuple(t.shape)}, "
                                  f"{lay.arch} needs {lay.shapes[param]}")
        values[param] = t
    fill_layers(layers, port_to_2012(lay.pieces, values), source=source)


# --------------------------------------------------------------------------------------
# Port models (torch tensors, used through their own methods)


def _numpy(t: Any) -> np.ndarray:
    if isinstance(t, np.ndarray):
        return t
    return t.detach().cpu().float().contiguous().numpy()


def to_2012_matrices(model: Any, values: Mapping[str, Any] | None = None
                     ) -> dict[str, np.ndarray]:
    """``{"conv1a.weights[0]": (363, 48) array, "conv1a.biases": (48, 1), ...}``.

    ``values`` (port parameter -> tensor of the parameter's shape) converts something
    else than the parameters, e.g. the update rule's velocities or the gradients. The
    arrays may share memory with the tensors they come from.
    """
    if not hasattr(model, "matrix_pieces"):
        raise TypeError(f"{type(model).__name__} has no 2012 matrix layout")
    pieces = model.matrix_pieces()
    tensors = values if values is not None else model.param_tensors()
    arrays = {name: _numpy(tensors[name]) for name in dict.fromkeys(p.param for p in pieces)}
    return port_to_2012(pieces, arrays)


def from_2012_matrices(model: Any, mats: Mapping[str, np.ndarray], *, load: bool = True,
                       source: str = "2012 matrices") -> dict[str, Any]:
    """The inverse of :func:`to_2012_matrices`: port parameter -> new tensor (dtype and
    device of the parameter); with ``load`` the parameters are overwritten with them.

    Raises :class:`~alexnet.errors.CheckpointError` naming the first matrix that is
    missing or has the wrong shape.
    """
    if not hasattr(model, "matrix_pieces"):
        raise TypeError(f"{type(model).__name__} has no 2012 matrix layout")
    params = model.param_tensors()
    arrays = port_from_2012(model.matrix_pieces(), mats,
                            {k: tuple(p.shape) for k, p in params.items()}, source=source)
    result = {k: params[k].new_tensor(a) for k, a in arrays.items()}
    if load:
        for k, t in result.items():
            params[k].detach().copy_(t)  # detached: an in-place copy autograd does not track
    return result


def layers_from_port(model: Any, graph_layers: Mapping[str, dict[str, Any]],
                     velocities: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """A deep copy of ``graph_layers`` (engine form) holding the port's weights, and its
    ``velocities`` (port parameter -> tensor; zeros where absent) as the increments."""
    layers = copy.deepcopy(dict(graph_layers))
    pieces = [p for p in model.matrix_pieces() if p.param in (velocities or {})]
    incs = port_to_2012(pieces, {p.param: _numpy(velocities[p.param]) for p in pieces})
    fill_layers(layers, to_2012_matrices(model), incs, source="port weights")
    return layers
