"""Build a PyTorch network from a cuda-convnet layer-definition / layer-params pair.

The files are read by the project's one cfg parser (:func:`alexnet.original.layer.
parse_layers`); this module only turns its :class:`~alexnet.original.layer.LayerGraph`
into modules. Every layer keeps its 2012 name, and every weight matrix stays a separate
tensor (``conv3a.weights[0]``, ``conv3a.weights[1]``, ``conv3a.biases``) with its own
learning parameters, because that is how 2012 trained them. Towers (``gpu=``) are not
modelled: all layers run on one device, which changes nothing numerically.

What the builder cannot express raises :class:`~alexnet.errors.ConfigError` naming the
cfg file and line of the layer (``Layer.source``); nothing is silently approximated.

Numerics (``docs/reference/recreation.md#recreation-numerics``,
``docs/reference/kernels.md#kernels-torch``) come from
:mod:`alexnet.modern.layers`: the ceil output-size rule of conv/local layers, clipped
pooling windows, cmrnorm as ``local_response_norm`` per layer, rnorm/cnorm as box sums
with ``scale/size²`` (cnorm's mean constant in backward), 2012 dropout. Multi-input
conv/local/fc layers sum their per-input products and add the bias once, in 2012's float
order ``(input_0 * W_0 + b) + input_1 * W_1 + ...`` (docs/reference/kernels.md#kernels-accumulate).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexnet.errors import ConfigError
from alexnet.layouts2012 import Piece
from alexnet.modern import layers as L
from alexnet.modern.trace import LayerOutput
from alexnet.original.layer import Layer, LayerGraph

__all__ = ["CfgNet", "SUPPORTED_TYPES"]

#: Layer types the builder turns into modules (the cost layer becomes the loss, the
#: softmax feeding it is folded into that loss).
SUPPORTED_TYPES = (
    "data", "conv", "local", "fc", "pool", "cmrnorm", "rnorm", "cnorm", "blur", "nailbed",
    "href", "neuron", "hs", "softmax", "concat", "eltsum", "eltmax", "cost.logreg",
)


def _error(layer: Layer, message: str) -> ConfigError:
    path, line = layer.source
    return ConfigError(message, path=path, line=line, section=layer.name)


def _as_image(x: Tensor, shape: Sequence[int]) -> Tensor:
    """Flat outputs (fc, concat) feeding an image layer are read as (C, H, W), as in 2012."""
    if x.dim() == 4:
        return x
    return x.reshape(x.shape[0], *shape)


# --------------------------------------------------------------------------------------
# Modules for layers with several inputs or 2012-specific parameter layouts
# --------------------------------------------------------------------------------------


class MultiConv(nn.Module):
    """cfg ``conv``/``local`` with one or more inputs: Σ_i conv_i(x_i) + bias.

    ``weights[i]`` is ``(F, C_i/groups_i, S_i, S_i)`` for conv and ``(M, C_i/groups_i *
    S_i², F)`` for local; ``biases`` is ``(F,)`` (shared) or ``(F, MY, MX)``.
    """

    def __init__(self, layer: Layer, in_shapes: Sequence[Sequence[int]]):
        super().__init__()
        d = layer.d
        self.local = layer.type == "local"
        self.filters, self.modules_x = d["filters"], d["modulesX"]
        self.spec = []
        ws = []
        for i, shape in enumerate(in_shapes):
            s, g = d["filterSize"][i], d["groups"][i]
            cg = d["filterChannels"][i]
            self.spec.append((s, d["stride"][i], d["padding"][i], g, tuple(shape)))
            if self.local:
                ws.append(nn.Parameter(torch.empty(self.modules_x ** 2, cg * s * s, self.filters)))
            else:
                ws.append(nn.Parameter(torch.empty(self.filters, cg, s, s)))
        self.weights = nn.ParameterList(ws)
        shared = (not self.local) and bool(d.get("sharedBiases", True))
        bshape = (self.filters,) if shared else (self.filters, self.modules_x, self.modules_x)
        self.biases = nn.Parameter(torch.zeros(bshape))

    def forward(self, *xs: Tensor) -> Tensor:
        y = None
        for i, x in enumerate(xs):
            s, stride, pad, g, shape = self.spec[i]
            x = _as_image(x, shape)
            w = self.weights[i]
            if self.local:
                t = L.local_unshared(x, w, filter_size=s, stride=stride, padding=pad, groups=g,
                                     modules_x=self.modules_x)
                t = t + self.biases if i == 0 else t
            else:
                # bias with input 0, later inputs accumulate: (conv_0 + b) + conv_1 + ...
                t = L.conv2d_2012(x, w, self.biases if i == 0 else None, stride=stride,
                                  padding=pad, groups=g)
            y = t if y is None else y + t
        return y


class MultiFC(nn.Module):
    """cfg ``fc``: Σ_i x_i W_iᵀ + b; ``weights[i]`` is ``(outputs, inputs_i)`` (torch layout)."""

    def __init__(self, layer: Layer):
        super().__init__()
        d = layer.d
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.empty(d["outputs"], n)) for n in d["numInputs"]]
        )
        self.biases = nn.Parameter(torch.zeros(d["outputs"]))

    def forward(self, *xs: Tensor) -> Tensor:
        y = F.linear(xs[0].flatten(1), self.weights[0], self.biases)
        for x, w in zip(xs[1:], list(self.weights)[1:], strict=True):
            y = y + F.linear(x.flatten(1), w)
        return y


class ImageOp(nn.Module):
    """Wraps a one-input image operation so flat inputs are viewed as (C, H, W) first."""

    def __init__(self, op: nn.Module, in_shape: Sequence[int]):
        super().__init__()
        self.op, self.in_shape = op, tuple(in_shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.op(_as_image(x, self.in_shape))


class Concat(nn.Module):
    """cfg ``concat``: 2012 concatenates the flat outputs; image inputs with equal H, W
    concatenate along channels, which is the same memory order, and stay images."""

    def forward(self, *xs: Tensor) -> Tensor:
        if all(x.dim() == 4 for x in xs) and len({x.shape[2:] for x in xs}) == 1:
            return torch.cat(xs, 1).flatten(1)
        return torch.cat([x.flatten(1) for x in xs], 1)


class EltSum(nn.Module):
    def __init__(self, coeffs: Sequence[float]):
        super().__init__()
        self.coeffs = [float(c) for c in coeffs]

    def forward(self, *xs: Tensor) -> Tensor:
        y = xs[0] * self.coeffs[0] if self.coeffs[0] != 1.0 else xs[0]
        for c, x in zip(self.coeffs[1:], xs[1:], strict=True):
            y = y + (x * c if c != 1.0 else x)
        return y


class EltMax(nn.Module):
    """cfg ``eltmax`` (2012 credits every tied input in backward; torch splits ties)."""

    def forward(self, *xs: Tensor) -> Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = torch.maximum(y, x)
        return y


class Softmax(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.softmax(x.flatten(1), 1)


class _Quantize(torch.autograd.Function):
    """``quantF=half`` / ``quantB=half``: activations / gradients rounded to fp16."""

    @staticmethod
    def forward(ctx, x, fwd, bwd):  # type: ignore[override]
        ctx.bwd = bwd
        return x.half().to(x.dtype) if fwd else x.clone()

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        return (g.half().to(g.dtype) if ctx.bwd else g), None, None


class Quantized(nn.Module):
    def __init__(self, op: nn.Module, fwd: bool, bwd: bool):
        super().__init__()
        self.op, self.fwd, self.bwd = op, fwd, bwd

    def forward(self, *xs: Tensor) -> Tensor:
        return _Quantize.apply(self.op(*xs), self.fwd, self.bwd)


# --------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------


def _module_key(name: str) -> str:
    # nn.ModuleDict keys may not contain '.', which detached neurons can ("x_neuron.1")
    return name.replace(".", "__")


class CfgNet(nn.Module):
    """A network built from a parsed cfg pair; ``model(x)`` returns the logits (the input of
    the softmax that the ``cost.logreg`` layer reads).

    ``channels_last`` is a speed option (same numbers). ``dropout`` replaces the 2012
    dropout convention of every ``hs`` layer ("2012" keeps it, "inverted" uses
    ``F.dropout``). ``seed`` makes the initialisation reproducible (None: global RNG).
    ``init=False`` allocates the parameters without initialising them (no random numbers
    drawn), for callers that load weights right after.

    Layers by name: :meth:`module_for` gives the module computing a layer,
    :meth:`layer_modules` all of them in run order, :meth:`forward_with_trace` every
    layer's output.
    """

    def __init__(
        self,
        graph: LayerGraph,
        *,
        arch: str | None = None,
        config: dict[str, Any] | None = None,
        seed: int | None = 0,
        channels_last: bool = True,
        dropout: str = "2012",
        init: bool = True,
    ) -> None:
        super().__init__()
        if dropout not in ("2012", "inverted"):
            raise ValueError(f"dropout must be '2012' or 'inverted', not {dropout!r}")
        self.graph = graph
        self.arch = arch or "cfg"
        self._config = dict(config or {})
        self.seed = seed
        self.channels_last = channels_last
        self.dropout_mode = dropout
        #: max pools back-propagate to every tied maximum, as the 2012 kernel does
        self.pool_ties = "all"
        self.input_shape = tuple(graph.input_shape)
        self.layers = nn.ModuleDict()
        self._init = init
        self._inplace: set[str] = set()   # module keys that overwrite their input
        self._shared: dict[tuple[str, int], tuple[str, int]] = {}

        self.logits_layer, self.cost = self._find_logits()
        self.num_classes = int(graph.layers[self.logits_layer].outputs)
        needed = self._ancestors(self.logits_layer)
        self.plan: list[tuple[str, str, tuple[str, ...]]] = []
        self.input_layer = None
        for lay in graph:
            if lay.name not in needed:
                continue
            if lay.type == "data":
                if lay.d.get("dataIdx") != 0:
                    raise _error(lay, "the logits depend on a data layer other than dataIdx 0")
                self.input_layer = lay.name
                continue
            mod = self._build(lay)
            key = _module_key(lay.name)
            self.layers[key] = mod
            self.plan.append((lay.name, key, tuple(lay.inputs)))
        if self.input_layer is None:
            raise ConfigError("no data layer with dataIdx 0 feeds the logits",
                              path=graph.def_path)
        # activation lifetimes: drop each from the dict after its last use
        last_use: dict[str, int] = {}
        for i, (_, _, ins) in enumerate(self.plan):
            for n in ins:
                last_use[n] = i
        self._free_after = [
            tuple(n for n in set(ins) if last_use.get(n) == i) for i, (_, _, ins) in
            enumerate(self.plan)
        ]
        self._nchw_steps = self._nchw_data_steps()
        self._tie_shared_weights()
        self._relu_in_place()
        if init:
            self.reset_parameters(seed)

    # ----------------------------------------------------------------------------------
    def _find_logits(self) -> tuple[str, dict[str, Any]]:
        g = self.graph
        costs = g.cost_layers
        for c in costs:
            if c.type != "cost.logreg":
                raise _error(c, f"the builder supports cost.logreg only, not {c.type}")
        if not costs:
            raise ConfigError("no cost.logreg layer: cannot tell which layer gives the logits",
                              path=g.def_path)
        if len(costs) > 1:
            raise _error(costs[1], "more than one cost layer; the builder trains one cost")
        cost = costs[0]
        softmax = g.layers[cost.inputs[1]]
        logits = softmax.inputs[0]
        info = {"type": cost.type, "layer": cost.name, "coeff": cost.d.get("coeff", 1.0),
                "topk": cost.d.get("topk", 1)}
        return logits, info

    def _ancestors(self, name: str) -> set[str]:
        seen: set[str] = set()
        stack = [name]
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(self.graph.layers[n].inputs)
        return seen

    def _in_shapes(self, lay: Layer) -> list[tuple[int, ...]]:
        """Input shapes as the layer reads them (flat inputs reinterpreted as images)."""
        d = lay.d
        shapes = []
        for i, name in enumerate(lay.inputs):
            src = self.graph.layers[name].shape
            if lay.type in ("conv", "local") and len(src) != 3:
                c = d["channels"][i]
                s = d["imgSize"][i]
                src = (c, s, s)
            elif lay.type in ("pool", "cmrnorm", "rnorm", "cnorm", "blur", "nailbed",
                              "href") and len(src) != 3:
                c, s = d["channels"], d["imgSize"]
                src = (c, s, s)
            shapes.append(tuple(src))
        return shapes

    def _build(self, lay: Layer) -> nn.Module:
        d, t = lay.d, lay.type
        if t not in SUPPORTED_TYPES:
            raise _error(lay, f"layer type {t!r} is not supported by the PyTorch builder "
                              f"(supported: {', '.join(SUPPORTED_TYPES)})")
        mod = self._build_op(lay)
        qf = (d.get("quantF") or {}).get("type", "default") == "half"
        qb = (d.get("quantB") or {}).get("type", "default") == "half"
        if qf or qb:
            mod = Quantized(mod, qf, qb)
        return mod

    def _build_op(self, lay: Layer) -> nn.Module:
        d, t = lay.d, lay.type
        shapes = self._in_shapes(lay)
        if t in ("conv", "local"):
            if any(d.get("randSparse", [])):
                raise _error(lay, "random sparse connectivity (randSparse) is not supported")
            self._check_init_funcs(lay)
            return MultiConv(lay, shapes)
        if t == "fc":
            self._check_init_funcs(lay)
            return MultiFC(lay)
        if t == "pool":
            if d["pool"] == "rand":
                raise _error(lay, "pool=rand (stochastic pooling) is not supported")
            op = L.Pool2012(d["pool"], d["sizeX"], d["stride"], d["start"], d["outputsX"],
                            ties="all")  # the 2012 backward rule (ledger maxpool-tie-gradient)
            return ImageOp(op, shapes[0])
        if t == "cmrnorm":
            self._need(lay, "scale", "pow")
            op = L.CrossMapLRN(d["size"], d["scale"] * d["size"], d["pow"],
                               d.get("minDiv", 1.0), blocked=bool(d.get("blocked")))
            return ImageOp(op, shapes[0])
        if t in ("rnorm", "cnorm"):
            self._need(lay, "scale", "pow")
            if d.get("blocked"):
                raise _error(lay, f"blocked {t} is not supported")
            cls = L.ContrastNorm if t == "cnorm" else L.ResponseNorm
            return ImageOp(cls(d["size"], d["scale"] * d["size"] ** 2, d["pow"]), shapes[0])
        if t == "blur":
            taps = d.get("filter") or L.gaussian_taps(d["filterSize"], d["stdev"])
            taps = [float(v) for v in (taps.ravel() if hasattr(taps, "ravel") else taps)]
            return ImageOp(L.GaussianBlur(d["channels"], taps), shapes[0])
        if t == "nailbed":
            return ImageOp(L.Nailbed(d["start"], d["stride"], d["outputsX"]), shapes[0])
        if t == "href":
            return ImageOp(L.HorizontalReflection(), shapes[0])
        if t == "neuron":
            return L.neuron_from_spec(d["neuron"], where=lay.source)
        if t == "hs":
            self._need(lay, "enable")
            return L.Dropout2012(d["keep"], mode=self.dropout_mode, enable=bool(d["enable"]))
        if t == "softmax":
            return Softmax()
        if t == "concat":
            return Concat()
        if t == "eltsum":
            return EltSum(d["coeffs"])
        if t == "eltmax":
            return EltMax()
        raise _error(lay, f"layer type {t!r} cannot appear below the logits")

    def _need(self, lay: Layer, *keys: str) -> None:
        missing = [k for k in keys if k not in lay.d]
        if missing:
            raise _error(lay, f"needs {', '.join(missing)} from a layer-params file "
                              "(build with the params file too)")

    def _check_init_funcs(self, lay: Layer) -> None:
        if not self._init:
            return  # nothing is initialised: the caller loads the weights
        for key in ("initWFunc", "initBFunc", "initCFunc"):
            if lay.d.get(key):
                path, line = lay.source
                warnings.warn(
                    f"{path}:{line}: [{lay.name}] {key}={lay.d[key]!r} is not run (it loaded "
                    "weights from another 2012 checkpoint); random init used instead — load "
                    "weights with alexnet.layouts2012.from_2012_matrices",
                    stacklevel=3,
                )

    def _tie_shared_weights(self) -> None:
        """``weightSource``: the same Parameter object in both places (2012 shared matrices)."""
        for lay in self.graph:
            key = _module_key(lay.name)
            if key not in self.layers or lay.type not in ("conv", "local", "fc"):
                continue
            srcs = lay.d.get("weightSourceLayers") or []
            idxs = lay.d.get("weightSourceMatrixIndices") or []
            for i, (src, j) in enumerate(zip(srcs, idxs, strict=False)):
                if not src:
                    continue
                owner = self._shared.get((src, j), (src, j))
                src_mod = self._weight_module(owner[0], lay)
                mine = self._weight_module(lay.name, lay)
                if src_mod.weights[owner[1]].shape != mine.weights[i].shape:
                    raise _error(lay, f"weight source {src}[{j}] has another shape")
                mine.weights[i] = src_mod.weights[owner[1]]
                self._shared[(lay.name, i)] = owner

    def _relu_in_place(self) -> None:
        """ReLU in place when its input is read by nobody else and its producer's backward
        does not need its own output (conv/local/fc/pool/norms/eltsum save inputs only)."""
        safe = {"conv", "local", "fc", "pool", "cmrnorm", "rnorm", "cnorm", "eltsum"}
        for name, key, ins in self.plan:
            mod = self.layers[key]
            if not isinstance(mod, L.Neuron) or mod.kind != "relu":
                continue
            src = self.graph.layers[ins[0]]
            quantized = isinstance(self.layers[_module_key(src.name)], Quantized) if (
                _module_key(src.name) in self.layers) else True
            if src.type in safe and not quantized and self.graph.consumers(src.name) == [name]:
                mod.inplace = True
                self._inplace.add(key)

    def _weight_module(self, name: str, lay: Layer) -> nn.Module:
        mod = self.layers[_module_key(name)] if _module_key(name) in self.layers else None
        if isinstance(mod, Quantized):
            mod = mod.op
        if mod is None:
            raise _error(lay, f"weight source {name!r} is not part of the network")
        return mod

    # ----------------------------------------------------------------------------------
    @torch.no_grad()
    def reset_parameters(self, seed: int | None = 0) -> None:
        """Weights ~ N(0, initW[i]²) per matrix, biases = initB (2012 ``make_weights``)."""
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        for lay in self.graph:
            key = _module_key(lay.name)
            if key not in self.layers or lay.type not in ("conv", "local", "fc"):
                continue
            mod = self._weight_module(lay.name, lay)
            for i, w in enumerate(mod.weights):
                if (lay.name, i) in self._shared:
                    continue
                w.normal_(0.0, float(lay.d["initW"][i]), generator=gen)
            mod.biases.fill_(float(lay.d.get("initB", 0.0)))

    def module_for(self, layer: str) -> nn.Module:
        """The module computing 2012 layer ``layer`` (as named in the cfg)."""
        key = _module_key(layer)
        if key not in self.layers:
            raise KeyError(f"{layer!r} is not a layer of this network below its logits")
        return self.layers[key]

    def layer_modules(self) -> list[tuple[str, nn.Module]]:
        """(2012 layer name, module) for every layer the logits depend on, in run order."""
        return [(name, self.layers[key]) for name, key, _ins in self.plan]

    def forward(self, x: Tensor) -> Tensor:
        return self._forward(x, None)

    def forward_with_trace(self, x: Tensor) -> tuple[Tensor, list[LayerOutput]]:
        """Logits and the output of every layer of :meth:`layer_modules`, in run order.

        The same computation as ``forward``, except that layers which work in place
        (ReLUs whose input nobody else reads) get a copy of their input, so each entry
        keeps its own values and stays a node of the autograd graph: a caller may read the
        entries after the pass and register gradient hooks on them before ``backward``.
        """
        trace: list[LayerOutput] = []
        return self._forward(x, trace), trace

    def _forward(self, x: Tensor, trace: list[LayerOutput] | None) -> Tensor:
        acts: dict[str, Tensor] = {self.input_layer: x.contiguous()}
        cl = self.channels_last
        data_cl = None
        for (name, key, ins), free, nchw in zip(self.plan, self._free_after, self._nchw_steps,
                                                strict=True):
            args = [acts[i] for i in ins]
            if cl and not nchw and self.input_layer in ins:
                if data_cl is None:
                    data_cl = x.contiguous(memory_format=torch.channels_last)
                args = [data_cl if i == self.input_layer else a for i, a in zip(ins, args,
                                                                                 strict=True)]
            if trace is not None and key in self._inplace:
                args = [a.clone() for a in args]
            y = self.layers[key](*args)
            if trace is not None:
                trace.append(LayerOutput(name, self.graph.layers[name].type, y))
            if cl and y.dim() == 4 and self.input_layer in ins:
                y = y.contiguous(memory_format=torch.channels_last)
            acts[name] = y
            for n in free:
                del acts[n]
        return acts[self.logits_layer].flatten(1)

    def _nchw_data_steps(self) -> list[bool]:
        """Steps that read the data in NCHW even in channels-last mode: strided conv on
        the 3-channel image (ImageNet conv1), whose oneDNN weight gradient is ~1.5x slower
        channels-last; stride-1 convs (CIFAR) are faster channels-last."""
        flags = []
        for name, _, ins in self.plan:
            lay = self.graph.layers[name]
            nchw = False
            if self.input_layer in ins and lay.type in ("conv", "local"):
                strides = [lay.d["stride"][i] for i, n in enumerate(ins)
                           if n == self.input_layer]
                nchw = all(s > 1 for s in strides)
            flags.append(nchw)
        return flags

    # ----------------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """Rebuilds this network: ``build_model(**model.config)``."""
        cfg = dict(self._config)
        cfg.update(seed=self.seed, channels_last=self.channels_last, dropout=self.dropout_mode)
        return cfg

    def _weight_layers(self):
        for lay in self.graph:
            key = _module_key(lay.name)
            if key in self.layers and lay.type in ("conv", "local", "fc"):
                yield lay, self._weight_module(lay.name, lay)

    def param_groups(self) -> list[dict[str, Any]]:
        """One entry per parameter tensor, with eps/mom/wc from the layer-params file."""
        out = []
        for lay, mod in self._weight_layers():
            d = lay.d
            if "epsW" not in d:
                raise _error(lay, "no learning parameters: build the model with its "
                                  "layer-params file")
            for i, w in enumerate(mod.weights):
                if (lay.name, i) in self._shared:
                    continue
                out.append({"name": f"{lay.name}.weights[{i}]", "layer": lay.name, "param": w,
                            "kind": "weights", "eps": float(d["epsW"][i]),
                            "mom": float(d["momW"][i]), "wc": float(d["wc"][i])})
            out.append({"name": f"{lay.name}.biases", "layer": lay.name, "param": mod.biases,
                        "kind": "biases", "eps": float(d["epsB"]), "mom": float(d["momB"]),
                        "wc": 0.0})
        return out

    def summary(self) -> list[dict[str, Any]]:
        """Every layer of the cfg in file order with output shape and parameter count."""
        rows = []
        for lay in self.graph:
            key = _module_key(lay.name)
            n = 0
            if key in self.layers and lay.type in ("conv", "local", "fc"):
                mod = self._weight_module(lay.name, lay)
                n = mod.biases.numel() + sum(
                    w.numel() for i, w in enumerate(mod.weights) if (lay.name, i) not in
                    self._shared)
            rows.append({"name": lay.name, "type": lay.type, "output_shape": list(lay.shape),
                         "params": n, "line": lay.source[1],
                         "used": key in self.layers or lay.name == self.input_layer})
        return rows

    def param_tensors(self) -> dict[str, Tensor]:
        """Port parameter (``param_groups`` name) -> its tensor; needs no layer-params."""
        out: dict[str, Tensor] = {}
        for lay, mod in self._weight_layers():
            for i, w in enumerate(mod.weights):
                if (lay.name, i) not in self._shared:
                    out[f"{lay.name}.weights[{i}]"] = w
            out[f"{lay.name}.biases"] = mod.biases
        return out

    def matrix_pieces(self) -> list[Piece]:
        """One piece per 2012 matrix: the tensors keep the 2012 layout and names."""
        pieces = []
        for lay, mod in self._weight_layers():
            kind = lay.type
            for i in range(len(mod.weights)):
                if (lay.name, i) in self._shared:
                    continue
                pieces.append(Piece(f"{lay.name}.weights[{i}]", f"{lay.name}.weights[{i}]",
                                    kind))
            bkind = "fc_bias" if kind == "fc" else (
                "conv_bias" if mod.biases.dim() == 1 else "local_bias")
            pieces.append(Piece(f"{lay.name}.biases", f"{lay.name}.biases", bkind))
        return pieces
