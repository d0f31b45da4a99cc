"""The cfg language of 2012: layer-definition and layer-params files -> a layer graph.

Re-creates ``layer.py`` of the 2012 release (computerhistory/AlexNet-Source-Code @
2f8b81f7): the reader (L95-L133), the parse driver and neuron detaching (L271-L319),
the per-type parsers (L404-L1360) and their registry (L1363-L1392), the neuron specs
(L16-L66, L1397-L1409) and the schedule/quantiser specs (L68-L92, L1411-L1418).

This is the project's ONE cfg parser. Its output, :class:`LayerGraph`, is plain data:
each :class:`Layer` carries the dictionary the 2012 parser would have built (same key
names, same derived values such as ``scale`` already divided by the window), so the
re-creation's engine, the modern port's builder, the checkpoint writer and the CLI all
read the same facts. Weights are not made here (the 2012 parser made them as a side
effect); :mod:`alexnet.original.initial_weights` does that from the graph.

Deliberate differences from 2012, each to give users a clear answer instead of a
silent one:

* unknown keys are errors (2012 ignored them), except a short list of keys that real
  2012 files carry and the shipped parser ignored (:data:`IGNORED_KEYS`), which become
  warnings;
* positional learning-rate schedules (``dexp[250,0,4]``), which the shipped parser
  rejects but the unreleased earlier parser of the December-2012 runs accepted, are
  read with a warning;
* pre-June-2012 norm sections that carry ``sizeX``/``scale``/``pow`` in the definition
  file (the 2011 example nets) are read with a warning;
* ``initWFunc``/``initBFunc``/``initCFunc`` hooks are recorded but never imported or
  called: reading a cfg must not execute code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alexnet.errors import ConfigError
from alexnet.geometry import conv_output_size, nailbed_geometry, pool_output_size
from alexnet.limits import MAX_DIMENSION, MAX_ELEMENTS, MAX_PARAM_BYTES
from alexnet.original.cfgreader import CfgFile, Section, read_cfg
from alexnet.original.initial_weights import matrix_shapes

# --------------------------------------------------------------------------------------
# Neuron, schedule and quantiser specs (upstream layer.py L16-L92, L1397-L1418)

#: neuron name -> (parameter names, formula, usesActs, usesInputs)
NEURONS: dict[str, tuple[tuple[str, ...], str, bool, bool]] = {
    "ident": ((), "f(x) = x", False, False),
    "logistic": ((), "f(x) = 1 / (1 + exp(-x))", True, False),
    "abs": ((), "f(x) = |x|", False, True),
    "relu": ((), "f(x) = max(0, x)", True, False),
    "nrelu": ((), "f(x) = max(0, x) + gaussian noise with variance max(0, x)", True, False),
    "softrelu": ((), "f(x) = log(1 + exp(x))", True, False),
    "square": ((), "f(x) = x^2", False, True),
    "sqrt": ((), "f(x) = sqrt(x)", True, False),
    "tanh": (("a", "b"), "f(x) = a * tanh(b * x)", True, False),
    "brelu": (("a",), "f(x) = min(a, max(0, x))", True, False),
    "linear": (("a", "b"), "f(x) = a * x + b", True, False),
    "drelu": (("a",), "f(x) = x - a * tanh(x / a)", False, True),
}

#: schedule name -> ordered (parameter name, type)
SCHEDULES: dict[str, tuple[tuple[str, type], ...]] = {
    "default": (),
    "linear": (("tgtFactor", float), ("noiseStdev", float)),
    "exp": (("tgtFactor", float), ("noiseStdev", float)),
    "dexp": (("tgtFactor", float), ("noiseStdev", float), ("numSteps", int)),
    "jdexp": (("tgtFactor", float), ("noiseStdev", float), ("numSteps", int)),
}
QUANTIZERS: dict[str, tuple[tuple[str, type], ...]] = {"default": (), "half": ()}

_SPEC = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*(?:\[(?P<args>[^\]]*)\])?\s*$")


def parse_neuron(spec: str) -> dict[str, Any] | None:
    """``relu`` or ``tanh[1.7,0.66]`` -> the 2012 neuron dict, or None if malformed."""
    m = _SPEC.match(spec)
    if not m or m.group("name") not in NEURONS:
        return None
    names, _, uses_acts, uses_inputs = NEURONS[m.group("name")]
    args = m.group("args")
    if names and args is None:
        return None
    values: list[float] = []
    if args is not None:
        if not names:
            return None
        try:
            values = [float(v) for v in args.split(",")]
        except ValueError:
            return None
    if len(values) != len(names):
        return None
    return {
        "type": m.group("name"),
        "params": dict(zip(names, values, strict=True)),
        "usesActs": uses_acts,
        "usesInputs": uses_inputs,
    }


def parse_param_spec(
    spec: str, table: Mapping[str, tuple[tuple[str, type], ...]]
) -> tuple[dict[str, Any] | None, bool]:
    """Read ``exp[tgtFactor=100,noiseStdev=0]`` (named, 2012) or ``exp[100,0]`` (positional).

    Returns ``({'type', 'params'}, positional_used)`` or ``(None, False)`` when the text
    does not match any declared spec.
    """
    m = _SPEC.match(spec)
    if not m:
        return None, False
    name = m.group("name").lower()
    if name not in table:
        return None, False
    declared = table[name]
    args = m.group("args")
    if args is None or not args.strip():
        if declared and args is None:
            # A bare name with declared parameters does not match (2012 behaviour).
            return None, False
        return ({"type": name, "params": {}}, False) if not declared else (None, False)
    parts = [a.strip() for a in args.split(",")]
    positional = all("=" not in p for p in parts)
    if positional and len(parts) == len(declared) - 1 and name in ("dexp", "jdexp"):
        # The December-2012 files write dexp[factor,steps] with no noise term.
        parts = [parts[0], "0", parts[1]]
    if len(parts) != len(declared):
        return None, False
    params: dict[str, Any] = {}
    try:
        for (pname, ptype), part in zip(declared, parts, strict=True):
            if positional:
                params[pname] = ptype(part)
                continue
            key, _, val = part.partition("=")
            if key.strip().lower() != pname.lower():
                return None, False
            params[pname] = ptype(val.strip())
    except ValueError:
        return None, False
    return {"type": name, "params": params}, positional


# --------------------------------------------------------------------------------------
# The graph


@dataclass
class Layer:
    """One layer: its 2012 dictionary ``d`` plus where it came from and its output shape."""

    name: str
    type: str
    inputs: list[str]
    gpu: int
    outputs: int
    shape: tuple[int, ...]
    d: dict[str, Any]
    source: tuple[str, int]
    params_source: tuple[str, int] | None = None

    @property
    def is_image(self) -> bool:
        """True when the output is a stack of square maps (channels, size, size)."""
        return len(self.shape) == 3


@dataclass
class LayerGraph:
    """The parsed network: layers in definition order (detached neurons right after
    their source layer's consumers are rewired, as 2012 did)."""

    layers: dict[str, Layer]
    def_path: str
    params_path: str | None
    input_shape: tuple[int, int, int]
    num_classes: int | None
    num_gpus: int
    warnings: list[str] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)

    def __iter__(self):
        return iter(self.layers.values())

    def __getitem__(self, name: str) -> Layer:
        return self.layers[name]

    def consumers(self, name: str) -> list[str]:
        return [lay.name for lay in self.layers.values() if name in lay.inputs]

    @property
    def cost_layers(self) -> list[Layer]:
        return [lay for lay in self.layers.values() if lay.type.startswith("cost.")]

    @property
    def weight_layers(self) -> list[Layer]:
        return [lay for lay in self.layers.values() if lay.type in WEIGHT_TYPES]

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly summary (what ``alexnet original parse --json`` prints)."""
        out = []
        for lay in self.layers.values():
            out.append(
                {
                    "name": lay.name,
                    "type": lay.type,
                    "inputs": lay.inputs,
                    "gpu": lay.gpu,
                    "output_shape": list(lay.shape),
                    "line": lay.source[1],
                    "params": key_parameters(lay),
                }
            )
        return {
            "layer_def": self.def_path,
            "layer_params": self.params_path,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "num_gpus": self.num_gpus,
            "layers": out,
            "warnings": self.warnings,
        }


WEIGHT_TYPES = frozenset({"conv", "local", "fc", "treefc"})
IMAGE_TYPES = frozenset(
    {"conv", "local", "pool", "rnorm", "cnorm", "cmrnorm", "blur", "nailbed", "href",
     "resize", "rscale", "rgb2yuv", "rgb2lab"}
)

#: keys that real 2012 files carry but the shipped parser never read
#: (see docs/reference/recreation.md#recreation-parser-limits)
IGNORED_KEYS: dict[str, str] = {
    "wcnorm": "never read by the 2012 parser (wcNormMin/wcNormMax replaced it)",
    "sched": "never read by the shipped 2012 parser (an earlier parser's schedule key)",
}


def key_parameters(lay: Layer) -> dict[str, Any]:
    """The few values a reader wants to see for each layer type (for listings)."""
    d = lay.d
    keys: tuple[str, ...] = ()
    if lay.type in ("conv", "local"):
        keys = ("filters", "filterSize", "stride", "padding", "groups", "channels")
    elif lay.type == "pool":
        keys = ("pool", "sizeX", "stride", "start")
    elif lay.type in ("cmrnorm", "rnorm", "cnorm"):
        keys = ("size", "scale", "pow", "minDiv", "blocked")
    elif lay.type in ("fc", "treefc"):
        keys = ("outputs",)
    elif lay.type == "hs":
        keys = ("keep", "enable")
    elif lay.type == "neuron":
        return {"neuron": d["neuron"]["type"], **d["neuron"]["params"]}
    elif lay.type == "blur":
        keys = ("filterSize", "stdev")
    elif lay.type == "nailbed":
        keys = ("stride", "start")
    elif lay.type.startswith("cost."):
        keys = ("coeff", "topk")
    elif lay.type == "data":
        keys = ("dataIdx",)
    return {k: d[k] for k in keys if k in d}


# --------------------------------------------------------------------------------------
# Reading typed values with precise errors


class _Reader:
    """Typed access to one section of one file, raising ConfigError with file:line."""

    def __init__(self, cfg: CfgFile, section: Section, graph_warnings: list[str]):
        self.cfg = cfg
        self.sec = section
        self.used: set[str] = set()
        self.warnings = graph_warnings

    def error(self, message: str, key: str | None = None) -> ConfigError:
        entry = self.sec.get(key) if key else None
        line = entry.line if entry else self.sec.line
        return ConfigError(message, path=self.cfg.path, line=line, section=self.sec.name, key=key)

    def has(self, key: str) -> bool:
        return self.sec.has(key)

    def raw(self, key: str, default: Any = None, *, required: bool = True) -> Any:
        self.used.add(key.lower())
        entry = self.sec.get(key)
        if entry is None:
            if default is not None or not required:
                return default
            raise self.error("required key is missing", key)
        return entry.value

    def _convert(self, key: str, text: str, conv: Callable[[str], Any], what: str) -> Any:
        try:
            return conv(text)
        except (ValueError, TypeError):
            raise self.error(f"expected {what}, got {text!r}", key) from None

    def int(self, key: str, default: int | None = None) -> int:
        v = self.raw(key, default)
        v = v if isinstance(v, int) and not isinstance(v, bool) else self._convert(
            key, str(v), _to_int, "an integer"
        )
        if abs(v) > MAX_DIMENSION:  # sizes are allocated from these: bound them first
            raise self.error(f"{v:,} is beyond the bound of {MAX_DIMENSION:,} this package "
                             "accepts for a size in a cfg file", key)
        return v

    def float(self, key: str, default: float | None = None) -> float:
        v = self.raw(key, default)
        return v if isinstance(v, float) else self._convert(key, str(v), float, "a number")

    def bool(self, key: str, default: bool | None = None) -> bool:
        v = self.raw(key, default)
        return v if isinstance(v, bool) else self._convert(key, str(v), _to_bool, "a boolean")

    def str(self, key: str, default: str | None = None) -> str:
        return str(self.raw(key, default))

    def list(
        self, key: str, n: int, conv: Callable[[str], Any], what: str, default: Any = None
    ) -> list[Any]:
        """A comma list with one value per input (checks the count, 2012 L333-L336)."""
        v = self.raw(key, default)
        if isinstance(v, list):
            values = v
        else:
            parts = [p.strip() for p in str(v).split(",")]
            values = [self._convert(key, p, conv, what) for p in parts]
        if len(values) != n:
            raise self.error(
                f"expected {n} comma-separated value{'s' if n != 1 else ''} (one per input), "
                f"got {len(values)}",
                key,
            )
        return values

    def check_known(self, allowed: set[str]) -> None:
        allowed_lower = {a.lower() for a in allowed}
        for key, entry in self.sec.entries.items():
            if key in allowed_lower:
                continue
            if key in IGNORED_KEYS:
                self.warnings.append(
                    f"{self.cfg.path}:{entry.line}: [{self.sec.name}] {key}: ignored "
                    f"({IGNORED_KEYS[key]})"
                )
                continue
            raise self.error(
                f"unknown key for a layer of this type (known: {', '.join(sorted(allowed))})",
                key,
            )


def _check_sizes(r: _Reader, d: dict[str, Any], so_far: int) -> int:
    """Refuse a layer whose outputs or weights exceed the bounds, before any allocation;
    return its weight count (the bounds and why: :mod:`alexnet.limits`)."""
    outputs = int(d.get("outputs", 0) or 0)
    if outputs > MAX_ELEMENTS:
        raise r.error(f"produces {outputs:,} values per image, beyond the bound of "
                      f"{MAX_ELEMENTS:,}")
    if d["type"] not in ("conv", "local", "fc"):
        return 0
    shapes, bshape, _ = matrix_shapes(d)
    n = sum(a * b for a, b in shapes) + bshape[0] * bshape[1]
    if max([a * b for a, b in shapes] + [0]) > MAX_ELEMENTS:
        raise r.error(f"weights of shapes {shapes} exceed the bound of {MAX_ELEMENTS:,} "
                      "elements per matrix")
    if 4 * (so_far + n) > MAX_PARAM_BYTES:
        raise r.error(f"the net's weights would pass {MAX_PARAM_BYTES >> 30} GiB (the bound "
                      "this package accepts for a cfg net)")
    return n


def _to_int(text: str) -> int:
    return int(text.strip())


def _to_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "yes", "true", "on"):
        return True
    if t in ("0", "no", "false", "off"):
        return False
    raise ValueError(text)


def _to_list_bool(text: str) -> bool:
    # 2012 read per-input boolean lists as "true or 1 means True" (layer.py L132-L133).
    return text.strip().lower() in ("true", "1")


def _isqrt_exact(n: int) -> int | None:
    if n < 0:  # a negative size in a cfg file: not a square, reported by the caller
        return None
    r = math.isqrt(n)
    return r if r * r == n else None


# --------------------------------------------------------------------------------------
# Per-type definition parsers. Each gets (reader, partial dict, graph so far, ctx) and
# fills the 2012 keys; it returns the output shape.

_COMMON_DEF = {"type", "inputs", "gpu", "neuron"}
_WEIGHT_DEF = {"initW", "initB", "initWFunc", "initBFunc", "weightSource"}
_LOCAL_DEF = {"channels", "padding", "stride", "filterSize", "filters", "groups",
              "randSparse", "initCFunc", "filterChannels"}
_WEIGHT_PARAMS = {"epsW", "epsB", "momW", "momB", "superEps", "superMom", "wc", "wball",
                  "schedW", "schedB"}
_COMMON_PARAMS = {"quantF", "quantB"}


@dataclass
class _Ctx:
    graph: dict[str, Layer]
    data_dims: Mapping[int, int]
    input_shape: tuple[int, int, int]
    num_classes: int | None
    warnings: list[str]
    compat: bool


def _image_geometry(r: _Reader, d: dict, numin: int, channels: int, idx: int | None = None):
    """imgPixels/imgSize as 2012 derived them, with its 'not square images' check."""
    label = "" if idx is None else f" (input {idx})"
    if channels < 1:
        raise r.error("must be at least 1", "channels")
    if numin % channels:
        raise r.error(
            f"input{label} has {numin} values, not divisible into {channels} channels", "channels"
        )
    pixels = numin // channels
    size = _isqrt_exact(pixels)
    if size is None:
        raise r.error(
            f"input{label} has {numin} values, not interpretable as square "
            f"{channels}-channel images",
            "channels",
        )
    return pixels, size


def _check_range(r: _Reader, key: str, v: float, lo: float | None, hi: float | None) -> None:
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        if lo is not None and hi is not None:
            rng = f"in the range {lo}-{hi}"
        elif lo is not None:
            rng = f">= {lo}"
        else:
            rng = f"<= {hi}"
        raise r.error(f"must be {rng}, got {v}", key)


def _grad_consumers_below(graph: Mapping[str, Layer], names: list[str]) -> bool:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        lay = graph[n]
        if lay.d.get("gradConsumer"):
            return True
        stack.extend(lay.inputs)
    return False


def _def_data(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    r.check_known({"type", "dataIdx"})
    idx = r.int("dataIdx")
    d["dataIdx"] = idx
    if idx not in ctx.data_dims:
        raise r.error(
            f"no data of index {idx} (this run provides indices "
            f"{sorted(ctx.data_dims)}); pass data dimensions for it",
            "dataIdx",
        )
    d["outputs"] = ctx.data_dims[idx]
    if idx == 0:
        return tuple(ctx.input_shape)
    return (ctx.data_dims[idx],)


def _def_weight_common(r: _Reader, d: dict, ctx: _Ctx, n: int) -> None:
    d["requiresParams"] = True
    d["gradConsumer"] = True
    d["usesActs"] = False
    d["initW"] = r.list("initW", n, float, "a number", default=[0.01] * n)
    d["initB"] = r.float("initB", 0.0)
    d["initWFunc"] = r.str("initWFunc", "")
    d["initBFunc"] = r.str("initBFunc", "")
    d["weightSource"] = r.list("weightSource", n, str, "a layer name", default=[""] * n)
    d["weightSourceLayers"] = []
    d["weightSourceMatrixIndices"] = []
    for i, src in enumerate(d["weightSource"]):
        src = src.strip()
        if not src:
            d["weightSourceLayers"].append("")
            d["weightSourceMatrixIndices"].append(-1)
            continue
        m = re.match(r"^([^\s\[]+)(?:\[(\d+)\])?$", src)
        if not m:
            raise r.error(f"cannot read weight source {src!r}: expected layer or layer[idx]",
                          "weightSource")
        lname, lidx = m.group(1), int(m.group(2) or 0)
        if lname != d["name"] and lname not in ctx.graph:
            raise r.error(f"weight source layer {lname!r} is not defined above", "weightSource")
        if lname == d["name"]:
            if lidx >= i:
                raise r.error(f"weight source {lname}[{lidx}] is not defined yet", "weightSource")
        else:
            src_layer = ctx.graph[lname]
            if src_layer.type != d["type"]:
                raise r.error(
                    f"weight source {lname!r} is a {src_layer.type} layer, expected {d['type']}",
                    "weightSource",
                )
            if src_layer.gpu != d["gpu"]:
                raise r.error(
                    f"weight source {lname!r} runs on gpu {src_layer.gpu}, this layer on "
                    f"gpu {d['gpu']}",
                    "weightSource",
                )
            if lidx >= len(src_layer.inputs):
                raise r.error(
                    f"weight source {lname!r} has {len(src_layer.inputs)} weight matrices, "
                    f"index {lidx} requested",
                    "weightSource",
                )
        d["weightSourceLayers"].append(lname)
        d["weightSourceMatrixIndices"].append(lidx)


def _def_fc(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    r.check_known(_COMMON_DEF | _WEIGHT_DEF | {"outputs"})
    n = len(d["inputs"])
    _def_weight_common(r, d, ctx, n)
    d["outputs"] = r.int("outputs")
    _check_range(r, "outputs", d["outputs"], 1, None)
    d["weightsPerFilter"] = list(d["numInputs"])
    _check_shared_shapes(r, d, ctx, [(ni, d["outputs"]) for ni in d["numInputs"]])
    return (d["outputs"],)


def _def_treefc(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    r.check_known(_COMMON_DEF | _WEIGHT_DEF)
    _def_weight_common(r, d, ctx, 1)
    if any(d["weightSourceLayers"]):
        raise r.error("weight sharing is not allowed in tree-fc layers", "weightSource")
    if ctx.num_classes is None:
        raise r.error("a treefc layer needs the number of classes (pass num_classes)", "type")
    d["outputs"] = ctx.num_classes
    d["weightsPerFilter"] = list(d["numInputs"])
    return (d["outputs"],)


def _matrix_shapes(d: dict) -> list[tuple[int, int]]:
    if d["type"] == "conv":
        return [(fp * fc, d["filters"]) for fp, fc in zip(d["filterPixels"], d["filterChannels"],
                                                           strict=True)]
    return [(d["modules"] * fp * fc, d["filters"])
            for fp, fc in zip(d["filterPixels"], d["filterChannels"], strict=True)]


def _check_shared_shapes(r: _Reader, d: dict, ctx: _Ctx, shapes: list[tuple[int, int]]) -> None:
    for i, (lname, lidx) in enumerate(
        zip(d["weightSourceLayers"], d["weightSourceMatrixIndices"], strict=True)
    ):
        if not lname:
            continue
        if lname == d["name"]:
            other = shapes[lidx]
        else:
            src = ctx.graph[lname]
            other = (_matrix_shapes(src.d)[lidx] if src.type in ("conv", "local")
                     else (src.d["numInputs"][lidx], src.d["outputs"]))
        if other != shapes[i]:
            raise r.error(
                f"weight source {lname}[{lidx}] has shape {other[0]}x{other[1]}, "
                f"this input needs {shapes[i][0]}x{shapes[i][1]}",
                "weightSource",
            )


def _def_local(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    extra = {"partialSum", "sharedBiases"} if d["type"] == "conv" else set()
    r.check_known(_COMMON_DEF | _WEIGHT_DEF | _LOCAL_DEF | extra)
    n = len(d["inputs"])
    _def_weight_common(r, d, ctx, n)
    d["channels"] = r.list("channels", n, _to_int, "an integer")
    d["padding"] = r.list("padding", n, _to_int, "an integer", default=[0] * n)
    d["stride"] = r.list("stride", n, _to_int, "an integer", default=[1] * n)
    d["filterSize"] = r.list("filterSize", n, _to_int, "an integer")
    filters = r.list("filters", n, _to_int, "an integer")
    d["groups"] = r.list("groups", n, _to_int, "an integer", default=[1] * n)
    d["randSparse"] = r.list("randSparse", n, _to_list_bool, "a boolean", default=[False] * n)
    d["initW"] = r.list("initW", n, float, "a number")
    d["initCFunc"] = r.str("initCFunc", "")
    for key, lo in (("stride", 1), ("filterSize", 1), ("padding", 0), ("channels", 1),
                    ("groups", 1)):
        for v in d[key]:
            _check_range(r, key, v, lo, None)
    d["imgPixels"], d["imgSize"] = [], []
    for i, (ni, ch) in enumerate(zip(d["numInputs"], d["channels"], strict=True)):
        pixels, size = _image_geometry(r, d, ni, ch, i)
        d["imgPixels"].append(pixels)
        d["imgSize"].append(size)
    totals = [f * g for f, g in zip(filters, d["groups"], strict=True)]
    d["filterPixels"] = [s * s for s in d["filterSize"]]
    # The ceiling in the output-size rule (2012 layer.py L1004) is how a 224 crop gives
    # 55x55 conv1 outputs: the last module reaches past the image and reads zeros.
    modules_x = [
        conv_output_size(size, filter_size=fs, stride=s, padding=p)
        for p, size, fs, s in zip(d["padding"], d["imgSize"], d["filterSize"], d["stride"],
                                  strict=True)
    ]
    d["filterChannels"] = [c // g for c, g in zip(d["channels"], d["groups"], strict=True)]
    if any(d["randSparse"]):
        d["filterChannels"] = r.list("filterChannels", n, _to_int, "an integer",
                                     default=d["filterChannels"])
    if len(set(modules_x)) != 1 or len(set(totals)) != 1:
        dims = ", ".join(f"{f}x{m}x{m}" for f, m in zip(totals, modules_x, strict=True))
        raise r.error(f"all inputs must produce equally sized outputs, got {dims}", "inputs")
    d["modulesX"] = modules_x[0]
    d["modules"] = d["modulesX"] ** 2
    d["filters"] = totals[0]
    d["outputs"] = d["modules"] * d["filters"]
    d["filterConns"] = [[] for _ in range(n)]
    for i in range(n):
        ch, g, fs = d["channels"][i], d["groups"][i], d["filterSize"][i]
        if ch > 3 and ch % 4:
            raise r.error(f"input {i} has {ch} channels: must be at most 3 or divisible by 4",
                          "channels")
        if fs > 2 * d["padding"][i] + d["imgSize"][i]:
            raise r.error(
                f"filter size {fs} exceeds image size {d['imgSize'][i]} + 2 * padding "
                f"{d['padding'][i]}",
                "filterSize",
            )
        if d["randSparse"][i]:
            fc = d["filterChannels"][i]
            if g == 1:
                raise r.error("random sparse connectivity needs more than one group", "groups")
            if ch % fc or fc % 4 or (g * fc) % ch:
                raise r.error(
                    f"with randSparse, channels ({ch}) must be divisible by filterChannels "
                    f"({fc}), filterChannels by 4, and groups*filterChannels by channels",
                    "filterChannels",
                )
        else:
            if g > 1 and ch % (4 * g):
                raise r.error(f"channels ({ch}) must be divisible by 4 * groups ({4 * g})",
                              "channels")
            if ch % g:
                raise r.error(f"channels ({ch}) must be divisible by groups ({g})", "channels")
        if d["filters"] % (16 * g):
            raise r.error(
                f"filters * groups ({d['filters']}) must be divisible by 16 * groups ({16 * g})",
                "filters",
            )
    d["overSample"] = [
        g * fc // c for g, fc, c in zip(d["groups"], d["filterChannels"], d["channels"],
                                        strict=True)
    ]
    d["weightsPerFilter"] = [
        fc * fs * fs for fc, fs in zip(d["filterChannels"], d["filterSize"], strict=True)
    ]
    if d["type"] == "conv":
        d["partialSum"] = r.int("partialSum")
        d["sharedBiases"] = r.bool("sharedBiases", True)
        if d["partialSum"] and d["modules"] % d["partialSum"]:
            raise r.error(
                f"must divide the {d['modulesX']}x{d['modulesX']}={d['modules']} outputs per "
                f"filter (or be 0)",
                "partialSum",
            )
    _check_shared_shapes(r, d, ctx, _matrix_shapes(d))
    return (d["filters"], d["modulesX"], d["modulesX"])


def _def_single_image(r: _Reader, d: dict, extra: set[str]) -> None:
    r.check_known(_COMMON_DEF | extra)
    if len(d["inputs"]) != 1:
        raise r.error(f"this layer type takes exactly 1 input, got {len(d['inputs'])}", "inputs")


def _def_pool(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_single_image(r, d, {"channels", "sizeX", "start", "stride", "outputsX", "pool"})
    d["channels"] = r.int("channels")
    d["sizeX"] = r.int("sizeX")
    d["start"] = r.int("start", 0)
    d["stride"] = r.int("stride")
    d["outputsX"] = r.int("outputsX", 0)
    d["pool"] = r.str("pool")
    if d["pool"] not in ("max", "maxabs", "avg", "rand"):
        raise r.error(f"must be one of max, maxabs, avg, rand; got {d['pool']!r}", "pool")
    d["requiresParams"] = d["pool"] == "rand"
    # 2012 compared the literal 'pool' with 'avg' here (L1146-L1147), so these were
    # always True; we keep its values, which only disabled a memory optimisation.
    d["usesActs"] = True
    d["usesInputs"] = True
    _check_range(r, "channels", d["channels"], 1, None)
    d["imgPixels"], d["imgSize"] = _image_geometry(r, d, d["numInputs"][0], d["channels"])
    _check_range(r, "sizeX", d["sizeX"], 1, d["imgSize"])
    _check_range(r, "stride", d["stride"], 1, d["sizeX"])
    _check_range(r, "outputsX", d["outputsX"], 0, None)
    if _grad_consumers_below(ctx.graph, d["inputs"]) and d["channels"] % 16:
        raise r.error(
            f"must be divisible by 16 when layers with weights lie below, got {d['channels']}",
            "channels",
        )
    if d["outputsX"] <= 0:  # the 2012 default (layer.py L1163-L1164)
        d["outputsX"] = pool_output_size(d["imgSize"], size=d["sizeX"], stride=d["stride"],
                                         start=d["start"])
    d["outputs"] = d["outputsX"] ** 2 * d["channels"]
    return (d["channels"], d["outputsX"], d["outputsX"])


def _def_norm(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    legacy = {"sizeX", "scale", "pow"} if ctx.compat else set()
    _def_single_image(r, d, {"channels", "size", "blocked"} | legacy)
    d["requiresParams"] = True
    d["channels"] = r.int("channels")
    if not r.has("size") and ctx.compat and r.has("sizeX"):
        d["size"] = r.int("sizeX")
        ctx.warnings.append(
            f"{r.cfg.path}:{r.sec.line}: [{r.sec.name}] pre-June-2012 norm section "
            "(sizeX/scale/pow in the definition file) read in compatibility mode"
        )
        for k in ("scale", "pow"):
            if r.has(k):
                d["_legacy_" + k] = r.float(k)
    else:
        d["size"] = r.int("size")
    d["blocked"] = r.bool("blocked", False)
    _check_range(r, "channels", d["channels"], 1, None)
    d["imgPixels"], d["imgSize"] = _image_geometry(r, d, d["numInputs"][0], d["channels"])
    d["usesInputs"] = d["type"] != "cnorm"
    if d["type"] == "cmrnorm":
        _check_range(r, "size", d["size"], 2, d["channels"])
        if d["channels"] % 16:
            raise r.error(f"must be divisible by 16 for cross-map normalisation, got "
                          f"{d['channels']}", "channels")
    else:
        _check_range(r, "size", d["size"], 1, d["imgSize"])
        if d["channels"] > 3 and d["channels"] % 4:
            raise r.error(f"must be at most 3 or divisible by 4, got {d['channels']}", "channels")
    d["outputs"] = d["imgPixels"] * d["channels"]
    return (d["channels"], d["imgSize"], d["imgSize"])


def _def_hs(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_single_image(r, d, {"keep"})
    d["requiresParams"] = True
    d["usesInputs"] = d["usesActs"] = d["forceOwnActs"] = False
    d["outputs"] = d["numInputs"][0]
    d["keep"] = r.float("keep")
    _check_range(r, "keep", d["keep"], 0.0, 1.0)
    return ctx.graph[d["inputs"][0]].shape


def _def_softmax(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_single_image(r, d, set())
    d["outputs"] = d["numInputs"][0]
    return (d["outputs"],)


def _def_concat(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    r.check_known(_COMMON_DEF)
    d["outputs"] = sum(d["numInputs"])
    d["copyOffsets"] = [sum(d["numInputs"][:i]) for i in range(len(d["numInputs"]))]
    return (d["outputs"],)


def _same_sized_inputs(r: _Reader, d: dict) -> None:
    if len(set(d["numInputs"])) != 1:
        sizes = ", ".join(str(s) for s in d["numInputs"])
        raise r.error(f"all inputs must have the same size, got {sizes}", "inputs")


def _def_eltsum(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    r.check_known(_COMMON_DEF | {"coeffs"})
    _same_sized_inputs(r, d)
    d["outputs"] = d["numInputs"][0]
    d["usesInputs"] = d["usesActs"] = d["forceOwnActs"] = False
    n = len(d["inputs"])
    d["coeffs"] = r.list("coeffs", n, float, "a number", default=[1.0] * n)
    return ctx.graph[d["inputs"][0]].shape


def _def_eltmax(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    r.check_known(_COMMON_DEF)
    if len(d["inputs"]) < 2:
        raise r.error(f"needs at least 2 inputs, got {len(d['inputs'])}", "inputs")
    _same_sized_inputs(r, d)
    d["outputs"] = d["numInputs"][0]
    return ctx.graph[d["inputs"][0]].shape


def _def_nailbed(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_single_image(r, d, {"channels", "stride"})
    d["forceOwnActs"] = d["usesActs"] = d["usesInputs"] = False
    d["channels"] = r.int("channels")
    d["stride"] = r.int("stride")
    _check_range(r, "channels", d["channels"], 1, None)
    d["imgPixels"], d["imgSize"] = _image_geometry(r, d, d["numInputs"][0], d["channels"])
    d["outputsX"], d["start"] = nailbed_geometry(d["imgSize"], stride=d["stride"])  # L422-L423
    d["outputs"] = d["channels"] * d["outputsX"] ** 2
    return (d["channels"], d["outputsX"], d["outputsX"])


def _def_blur(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_single_image(r, d, {"channels", "filterSize", "stdev"})
    d["forceOwnActs"] = d["usesActs"] = d["usesInputs"] = False
    d["outputs"] = d["numInputs"][0]
    d["channels"] = r.int("channels")
    d["filterSize"] = r.int("filterSize")
    d["stdev"] = r.float("stdev")
    _check_range(r, "channels", d["channels"], 1, None)
    if d["filterSize"] not in (3, 5, 7, 9):
        raise r.error(f"must be one of 3, 5, 7, 9; got {d['filterSize']}", "filterSize")
    d["imgPixels"], d["imgSize"] = _image_geometry(r, d, d["numInputs"][0], d["channels"])
    if d["filterSize"] > d["imgSize"]:
        raise r.error(f"must not exceed the image size {d['imgSize']}", "filterSize")
    half = d["filterSize"] // 2
    taps = [math.exp(-((half - i) ** 2) / (2.0 * d["stdev"] ** 2)) for i in range(d["filterSize"])]
    total = sum(taps)
    d["filter"] = [t / total for t in taps]
    return (d["channels"], d["imgSize"], d["imgSize"])


def _def_href(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_single_image(r, d, {"channels"})
    d["outputs"] = d["numInputs"][0]
    d["channels"] = r.int("channels")
    _check_range(r, "channels", d["channels"], 1, 3)
    d["imgPixels"], d["imgSize"] = _image_geometry(r, d, d["numInputs"][0], d["channels"])
    return (d["channels"], d["imgSize"], d["imgSize"])


def _no_grads_below(r: _Reader, d: dict, ctx: _Ctx) -> None:
    if _grad_consumers_below(ctx.graph, d["inputs"]):
        raise r.error(
            f"a {d['type']} layer cannot propagate gradients, so it must not sit above layers "
            "with weights",
            "inputs",
        )


def _def_resize(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_single_image(r, d, {"channels", "scale"})
    d["forceOwnActs"] = d["usesActs"] = d["usesInputs"] = False
    d["channels"] = r.int("channels")
    _check_range(r, "channels", d["channels"], 1, None)
    d["imgPixels"], d["imgSize"] = _image_geometry(r, d, d["numInputs"][0], d["channels"])
    d["scale"] = r.float("scale")
    _check_range(r, "scale", d["scale"], 0.5, 2.0)
    d["tgtSize"] = int(math.floor(d["imgSize"] / d["scale"]))
    d["tgtPixels"] = d["tgtSize"] ** 2
    d["outputs"] = d["channels"] * d["tgtPixels"]
    _no_grads_below(r, d, ctx)
    return (d["channels"], d["tgtSize"], d["tgtSize"])


def _def_rscale(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_single_image(r, d, {"channels", "maxScale", "tgtSize"})
    d["forceOwnActs"] = d["usesActs"] = d["usesInputs"] = False
    d["channels"] = r.int("channels")
    _check_range(r, "channels", d["channels"], 1, None)
    d["imgPixels"], d["imgSize"] = _image_geometry(r, d, d["numInputs"][0], d["channels"])
    d["maxScale"] = r.float("maxScale")
    _check_range(r, "maxScale", d["maxScale"], 1.0, 2.0)
    d["tgtSize"] = r.int("tgtSize")
    _check_range(r, "tgtSize", d["tgtSize"], int(math.floor(d["imgSize"] / d["maxScale"])),
                 d["imgSize"])
    d["tgtPixels"] = d["tgtSize"] ** 2
    d["outputs"] = d["channels"] * d["tgtPixels"]
    _no_grads_below(r, d, ctx)
    return (d["channels"], d["tgtSize"], d["tgtSize"])


def _def_color(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_single_image(r, d, {"center"} if d["type"] == "rgb2lab" else set())
    d["forceOwnActs"] = d["usesActs"] = d["usesInputs"] = False
    d["channels"] = 3
    d["imgPixels"], d["imgSize"] = _image_geometry(r, d, d["numInputs"][0], 3)
    d["outputs"] = d["numInputs"][0]
    if d["type"] == "rgb2lab":
        d["center"] = r.bool("center", False)
    _no_grads_below(r, d, ctx)
    return (3, d["imgSize"], d["imgSize"])


def _def_cost(r: _Reader, d: dict, ctx: _Ctx, n_inputs: int | None,
              extra: set[str] = frozenset()) -> None:
    r.check_known({"type", "inputs", "gpu"} | set(extra))
    d["requiresParams"] = True
    d.pop("neuron", None)
    if n_inputs is not None and len(d["inputs"]) != n_inputs:
        raise r.error(f"this cost takes exactly {n_inputs} inputs, got {len(d['inputs'])}",
                      "inputs")


def _classes_check(r: _Reader, d: dict, ctx: _Ctx, idx: int) -> None:
    if ctx.num_classes is not None and d["numInputs"][idx] != ctx.num_classes:
        raise r.error(
            f"input {d['inputs'][idx]!r} produces {d['numInputs'][idx]} outputs, but the data "
            f"has {ctx.num_classes} classes",
            "inputs",
        )


def _def_logreg(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_cost(r, d, ctx, 2)
    if d["numInputs"][0] != 1:
        raise r.error(f"first input must be the labels (1 value per case), "
                      f"got {d['numInputs'][0]}", "inputs")
    if ctx.graph[d["inputs"][1]].type != "softmax":
        raise r.error("second input must be a softmax layer", "inputs")
    _classes_check(r, d, ctx, 1)
    return ()


def _def_crossent(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_cost(r, d, ctx, 2)
    if ctx.graph[d["inputs"][1]].type != "softmax":
        raise r.error("second input must be a softmax layer", "inputs")
    _classes_check(r, d, ctx, 0)
    _classes_check(r, d, ctx, 1)
    return ()


def _def_flickr(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_cost(r, d, ctx, 2)
    _classes_check(r, d, ctx, 0)
    _classes_check(r, d, ctx, 1)
    src = ctx.graph[d["inputs"][1]]
    if not (src.type == "neuron" and src.d["neuron"]["type"] == "logistic") and \
            src.d.get("neuron") != "logistic":
        ctx.warnings.append(
            f"{r.cfg.path}:{r.sec.line}: [{r.sec.name}] second input is not a logistic layer"
        )
    return ()


def _def_msm(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_cost(r, d, ctx, 2)
    if d["numInputs"][0] != 1:
        raise r.error("first input must be the labels (1 value per case)", "inputs")
    _classes_check(r, d, ctx, 1)
    d["numOut"] = d["numInputs"][1]
    return ()


def _def_sum2(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_cost(r, d, ctx, 1)
    return ()


def _def_gsum2(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_cost(r, d, ctx, 2)
    if d["numInputs"][0] != 1:
        raise r.error("first input must be the gate (1 value per case)", "inputs")
    return ()


def _def_tica(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_cost(r, d, ctx, 1, {"channels", "sizeX"})
    d["channels"] = r.int("channels")
    d["sizeX"] = r.int("sizeX")
    d["imgPixels"], d["imgSize"] = _image_geometry(r, d, d["numInputs"][0], d["channels"])
    return ()


def _def_neuron(r: _Reader, d: dict, ctx: _Ctx) -> tuple[int, ...]:
    _def_single_image(r, d, set())
    d["outputs"] = d["numInputs"][0]
    spec = d["neuron"]
    parsed = parse_neuron(spec) if isinstance(spec, str) else spec
    if parsed is None:
        raise r.error(f"cannot read neuron {spec!r}; known: {', '.join(_neuron_help())}",
                      "neuron")
    d["neuron"] = parsed
    d["usesActs"], d["usesInputs"] = parsed["usesActs"], parsed["usesInputs"]
    d["forceOwnActs"] = False
    return ctx.graph[d["inputs"][0]].shape


def _neuron_help() -> list[str]:
    return [n + (f"[{','.join(p)}]" if p else "") for n, (p, *_rest) in NEURONS.items()]


_DEF_PARSERS: dict[str, Callable[[_Reader, dict, _Ctx], tuple[int, ...]]] = {
    "data": _def_data,
    "fc": _def_fc,
    "treefc": _def_treefc,
    "conv": _def_local,
    "local": _def_local,
    "softmax": _def_softmax,
    "eltsum": _def_eltsum,
    "eltmax": _def_eltmax,
    "neuron": _def_neuron,
    "pool": _def_pool,
    "rnorm": _def_norm,
    "cnorm": _def_norm,
    "cmrnorm": _def_norm,
    "nailbed": _def_nailbed,
    "blur": _def_blur,
    "href": _def_href,
    "resize": _def_resize,
    "rgb2yuv": _def_color,
    "rgb2lab": _def_color,
    "rscale": _def_rscale,
    "concat": _def_concat,
    "hs": _def_hs,
    "cost.logreg": _def_logreg,
    "cost.msm": _def_msm,
    "cost.crossent": _def_crossent,
    "cost.crossent2": _def_flickr,
    "cost.sum2": _def_sum2,
    "cost.gsum2": _def_gsum2,
    "cost.tica": _def_tica,
    "cost.rflickr": _def_flickr,
}
LAYER_TYPES = tuple(_DEF_PARSERS)


def _base_dict(name: str, ltype: str) -> dict[str, Any]:
    """The bookkeeping keys every 2012 layer dict starts with (layer.py L186-L223)."""
    return {
        "name": name,
        "type": ltype,
        "outputs": 0,
        "requiresParams": False,
        "usesActs": True,
        "usesInputs": True,
        "forceOwnActs": True,
        "gradConsumer": False,
        "gpu": -1,
    }


# --------------------------------------------------------------------------------------
# Params-file readers


def _params_weight(r: _Reader, d: dict, ctx: _Ctx) -> None:
    extra = {"wcNormMax", "wcNormMin"} if d["type"] == "conv" else set()
    r.check_known(_COMMON_PARAMS | _WEIGHT_PARAMS | extra)
    n = len(d["inputs"])
    d["epsW"] = r.list("epsW", n, float, "a number")
    d["epsB"] = r.float("epsB")
    d["momW"] = r.list("momW", n, float, "a number")
    d["momB"] = r.float("momB")
    d["superEps"] = r.float("superEps", 0.0)
    d["superMom"] = r.float("superMom", 0.0)
    d["wc"] = r.list("wc", n, float, "a number", default=[0.0] * n)
    d["wball"] = r.list("wball", n, float, "a number", default=[0.0] * n)
    d["wballNormed"] = [w * k for w, k in zip(d["wball"], d["weightsPerFilter"], strict=True)]
    d["schedW"] = _schedule(r, "schedW", ctx)
    d["schedB"] = _schedule(r, "schedB", ctx)
    d["gradConsumer"] = d["epsB"] > 0 or any(e > 0 for e in d["epsW"])
    if d["type"] == "conv":
        d["wcNormMax"] = r.list("wcNormMax", n, float, "a number", default=[0.0] * n)
        d["wcNormMin"] = r.list("wcNormMin", n, float, "a number", default=[0.0] * n)
        for lo, hi in zip(d["wcNormMin"], d["wcNormMax"], strict=True):
            if lo > hi:
                raise r.error("wcNormMin must not exceed wcNormMax", "wcNormMin")


def _schedule(r: _Reader, key: str, ctx: _Ctx) -> dict[str, Any]:
    text = r.str(key, "default")
    spec, positional = parse_param_spec(text, SCHEDULES)
    if spec is None:
        forms = ", ".join(
            n + (f"[{','.join(p for p, _ in a)}]" if a else "") for n, a in SCHEDULES.items()
        )
        raise r.error(f"cannot read schedule {text!r}; expected one of {forms}", key)
    if positional:
        if not ctx.compat:
            raise r.error(f"positional schedule {text!r}: name each parameter (key=value)", key)
        ctx.warnings.append(
            f"{r.cfg.path}:{r.sec.get(key).line}: [{r.sec.name}] {key}: positional schedule "
            "read in compatibility mode (the shipped 2012 parser wanted named parameters)"
        )
    return spec


def _quantizer(r: _Reader | None, key: str, ctx: _Ctx) -> dict[str, Any]:
    text = r.str(key, "default") if r is not None else "default"
    spec, _ = parse_param_spec(text, QUANTIZERS)
    if spec is None:
        raise r.error(f"cannot read quantiser {text!r}; expected default or half", key)
    return spec


def _params_norm(r: _Reader, d: dict, ctx: _Ctx) -> None:
    keys = _COMMON_PARAMS | {"scale", "pow"} | ({"minDiv"} if d["type"] == "cmrnorm" else set())
    r.check_known(keys)
    scale = r.float("scale", d.get("_legacy_scale"))
    d["pow"] = r.float("pow", d.get("_legacy_pow"))
    # 2012 divided the configured scale by the window before use (layer.py L1183): by
    # size for cross-map, by size^2 for the spatial norms. The paper's alpha is not.
    d["scale"] = scale / (d["size"] if d["type"] == "cmrnorm" else d["size"] ** 2)
    if d["type"] == "cmrnorm":
        d["minDiv"] = r.float("minDiv", 1.0)


def _params_hs(r: _Reader, d: dict, ctx: _Ctx) -> None:
    r.check_known(_COMMON_PARAMS | {"enable"})
    d["enable"] = r.bool("enable")


def _params_pool(r: _Reader, d: dict, ctx: _Ctx) -> None:
    r.check_known(_COMMON_PARAMS | ({"doMax"} if d["pool"] == "rand" else set()))
    if d["pool"] == "rand":
        d["doMax"] = r.bool("doMax", False)


def _params_cost(r: _Reader, d: dict, ctx: _Ctx) -> None:
    extra = {"topk"} if d["type"] == "cost.logreg" else set()
    if d["type"] == "cost.msm":
        extra = {"setSize", "threads"}
    if d["type"] != "cost.logreg" and r.has("topk"):
        ctx.warnings.append(f"{r.cfg.path}:{r.sec.get('topk').line}: [{r.sec.name}] topk: "
                            f"ignored (only cost.logreg reads it; 2012 ignored it too)")
        extra = extra | {"topk"}
    r.check_known(_COMMON_PARAMS | {"coeff"} | extra)
    d["coeff"] = r.float("coeff")
    if d["type"] == "cost.logreg":
        d["topk"] = r.int("topk", 1)
        if ctx.num_classes is not None:
            _check_range(r, "topk", d["topk"], 1, ctx.num_classes)
    if d["type"] == "cost.msm":
        d["setSize"] = r.int("setSize")
        d["threads"] = r.int("threads")
        _check_range(r, "setSize", d["setSize"], 1, d["numOut"] - 1)
        _check_range(r, "threads", d["threads"], 1, 32)


def _params_plain(r: _Reader, d: dict, ctx: _Ctx) -> None:
    r.check_known(_COMMON_PARAMS)


def _params_for(ltype: str) -> Callable[[_Reader, dict, _Ctx], None]:
    if ltype in WEIGHT_TYPES:
        return _params_weight
    if ltype in ("cmrnorm", "rnorm", "cnorm"):
        return _params_norm
    if ltype == "hs":
        return _params_hs
    if ltype == "pool":
        return _params_pool
    if ltype.startswith("cost."):
        return _params_cost
    return _params_plain


# --------------------------------------------------------------------------------------
# The driver


def parse_layers(
    def_path: str | Path,
    params_path: str | Path | None = None,
    *,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    num_gpus: int | None = None,
    data_dims: Mapping[int, int] | None = None,
    compat: bool = True,
    def_text: str | None = None,
    params_text: str | None = None,
    require_all_params: bool = True,
) -> LayerGraph:
    """Parse a layer-definition file (and optionally its layer-params file).

    ``input_shape`` is what the data provider would report for ``dataIdx=0`` (the
    2012 parser asked the provider); when omitted, an ``# @input CxHxW`` line in the
    definition file decides (our bundled cfgs carry one), else 3x224x224. Likewise
    ``# @classes N`` supplies ``num_classes``. ``data_dims`` overrides the flat size of any data
    index (default: index 0 the image, index 1 one label per case). ``num_classes``
    enables the class-count checks of the cost layers; ``num_gpus`` the range check of
    ``gpu=`` (default: as many as the file uses). ``compat=False`` refuses the
    historical forms listed in the module docstring instead of warning.
    """
    warnings: list[str] = []
    cfg = read_cfg(def_path, def_text)
    _warn_duplicates(cfg, warnings)
    pragmas = read_pragmas(cfg)
    if input_shape is None:
        input_shape = pragmas.get("input", (3, 224, 224))
    if num_classes is None:
        num_classes = pragmas.get("classes")
    input_shape = tuple(int(v) for v in input_shape)  # type: ignore[assignment]
    dims = {0: math.prod(input_shape), 1: 1}
    if data_dims:
        dims.update({int(k): int(v) for k, v in data_dims.items()})
    ctx = _Ctx(graph={}, data_dims=dims, input_shape=input_shape,  # type: ignore[arg-type]
               num_classes=num_classes, warnings=warnings, compat=compat)
    if not cfg.sections:
        raise ConfigError("no layer sections found; expected [name] blocks with type=...",
                          path=cfg.path, line=1)

    param_elements = 0
    for name, sec in cfg.sections.items():
        r = _Reader(cfg, sec, warnings)
        if not sec.has("type"):
            raise ConfigError("layer has no type= key", path=cfg.path, line=sec.line,
                              section=name)
        ltype = r.str("type").strip()
        if ltype not in _DEF_PARSERS:
            raise r.error(
                f"unknown layer type {ltype!r} (known: {', '.join(sorted(_DEF_PARSERS))})",
                "type",
            )
        d = _base_dict(name, ltype)
        if ltype != "data":
            if not sec.has("inputs"):
                raise r.error("required key is missing", "inputs")
            inputs = [i.strip() for i in r.str("inputs").split(",")]
            for inp in inputs:
                if inp == name:
                    raise r.error(f"layer reads itself ({inp!r}): cycles are not allowed",
                                  "inputs")
                if inp not in ctx.graph:
                    later = " (it is defined below; inputs must be defined above, so cycles " \
                            "are impossible)" if inp in cfg.sections else ""
                    raise r.error(f"input layer {inp!r} is not defined{later}", "inputs")
                if ctx.graph[inp].outputs == 0:
                    raise r.error(f"input layer {inp!r} produces no output", "inputs")
            d["inputs"] = inputs
            d["numInputs"] = [ctx.graph[i].outputs for i in inputs]
            if not ltype.startswith("cost."):
                d["neuron"] = r.str("neuron", "") if ltype != "neuron" else r.str("neuron")
            default_gpu = ctx.graph[inputs[0]].gpu
            d["gpu"] = r.int("gpu", default_gpu) if sec.has("gpu") else default_gpu
        shape = _DEF_PARSERS[ltype](r, d, ctx)
        param_elements += _check_sizes(r, d, param_elements)
        if ltype != "data" and d["gpu"] < 0:
            if not compat:
                raise r.error(
                    "layers whose first input is a data layer must say which gpu they run on",
                    "gpu",
                )
            # 2011-style single-GPU files have no gpu= keys at all.
            d["gpu"] = 0
            warnings.append(f"{cfg.path}:{sec.line}: [{name}] no gpu= on a layer reading data: "
                            "assumed gpu 0 (2011-style single-GPU file)")
        ctx.graph[name] = Layer(
            name=name, type=ltype, inputs=list(d.get("inputs", [])), gpu=d["gpu"],
            outputs=d["outputs"], shape=tuple(shape), d=d, source=(cfg.path, sec.line),
        )

    _detach_neurons(ctx, cfg)

    used_gpus = {lay.gpu for lay in ctx.graph.values() if lay.gpu >= 0}
    n_gpus = num_gpus if num_gpus is not None else (max(used_gpus) + 1 if used_gpus else 1)
    for lay in ctx.graph.values():
        if lay.type != "data" and not 0 <= lay.gpu < n_gpus:
            sec = cfg.sections.get(lay.name) or cfg.sections[lay.d.get("src_layer", lay.name)]
            raise _Reader(cfg, sec, warnings).error(
                f"must be in the range 0-{n_gpus - 1} (this run has {n_gpus} gpu(s))", "gpu"
            )

    # Every non-cost layer needs a consumer (2012 layer.py L301-L305).
    consumed = {i for lay in ctx.graph.values() for i in lay.inputs}
    for lay in ctx.graph.values():
        if not lay.type.startswith("cost.") and lay.name not in consumed:
            raise ConfigError(
                f"layer of type {lay.type!r} is never used as an input (dangling); "
                "connect it or remove it",
                path=cfg.path, line=lay.source[1], section=lay.name,
            )

    graph = LayerGraph(
        layers=ctx.graph, def_path=cfg.path, params_path=None, input_shape=input_shape,
        num_classes=num_classes, num_gpus=n_gpus, warnings=warnings, notes=cfg.comments,
    )
    if params_path is not None or params_text is not None:
        apply_params(graph, params_path if params_path is not None else "<params>",
                     text=params_text, compat=compat, require_all=require_all_params)
    return graph


_PRAGMA = re.compile(r"^#\s*@(?P<key>input|classes)\s+(?P<value>\S+)\s*$")


def read_pragmas(cfg: CfgFile) -> dict[str, Any]:
    """Our own ``# @input 3x32x32`` / ``# @classes 10`` comment lines (not a 2012 feature).

    The 2012 parser asked the data provider for these; a cfg file on its own cannot
    say them, so the project's bundled cfgs record them in comments that 2012 would
    have ignored.
    """
    found: dict[str, Any] = {}
    for line, text in cfg.comments:
        m = _PRAGMA.match(text)
        if not m:
            continue
        value = m.group("value")
        try:
            if m.group("key") == "input":
                parts = tuple(int(v) for v in value.lower().split("x"))
                if len(parts) != 3:
                    raise ValueError
                found["input"] = parts
            else:
                found["classes"] = int(value)
        except ValueError:
            raise ConfigError(
                f"cannot read @{m.group('key')} {value!r}: expected CxHxW or an integer",
                path=cfg.path, line=line,
            ) from None
    return found


def _warn_duplicates(cfg: CfgFile, warnings: list[str]) -> None:
    for line, name in cfg.duplicates:
        warnings.append(f"{cfg.path}:{line}: [{name}] section repeated; merged into the first "
                        "(later keys win), as ConfigParser did")


def _detach_neurons(ctx: _Ctx, cfg: CfgFile) -> None:
    """Turn ``neuron=`` keys into layers of their own (2012 layer.py L271-L275, L594-L653)."""
    for name in list(ctx.graph):
        lay = ctx.graph[name]
        spec = lay.d.get("neuron")
        if lay.type == "neuron" or not spec:
            continue
        parsed = parse_neuron(spec)
        if parsed is None:
            sec = cfg.sections[name]
            raise _Reader(cfg, sec, ctx.warnings).error(
                f"cannot read neuron {spec!r}; known: {', '.join(_neuron_help())}", "neuron"
            )
        new = f"{name}_neuron"
        k = 1
        while new in ctx.graph:
            new = f"{name}_neuron.{k}"
            k += 1
        d = _base_dict(new, "neuron")
        d.update(inputs=[name], numInputs=[lay.outputs], gpu=lay.gpu, outputs=lay.outputs,
                 neuron=parsed, usesActs=parsed["usesActs"], usesInputs=parsed["usesInputs"],
                 forceOwnActs=False, src_layer=name)
        for other in ctx.graph.values():
            if name in other.inputs:
                other.inputs = [new if i == name else i for i in other.inputs]
                other.d["inputs"] = list(other.inputs)
        ctx.graph[new] = Layer(name=new, type="neuron", inputs=[name], gpu=lay.gpu,
                               outputs=lay.outputs, shape=lay.shape, d=d, source=lay.source)
    # Keep definition order, with each detached neuron right after its source layer.
    ordered: dict[str, Layer] = {}
    detached = {lay.d["src_layer"]: lay for lay in ctx.graph.values() if "src_layer" in lay.d}
    for name, lay in ctx.graph.items():
        if "src_layer" in lay.d:
            continue
        ordered[name] = lay
        if name in detached:
            ordered[detached[name].name] = detached[name]
    ctx.graph.clear()
    ctx.graph.update(ordered)


def apply_params(
    graph: LayerGraph,
    params_path: str | Path,
    *,
    text: str | None = None,
    compat: bool = True,
    require_all: bool = True,
) -> LayerGraph:
    """Read a layer-params file into an already parsed graph (2012 layer.py L307-L316).

    This is also how a resumed 2012 run picked up edited learning rates: the
    definition was fixed at model creation, the params file re-read every session.
    """
    cfg = read_cfg(params_path, text)
    _warn_duplicates(cfg, graph.warnings)
    ctx = _Ctx(graph=graph.layers, data_dims={}, input_shape=graph.input_shape,
               num_classes=graph.num_classes, warnings=graph.warnings, compat=compat)
    for lay in graph.layers.values():
        sec = cfg.section(lay.name)
        src = lay.d.get("src_layer")
        if sec is None and src is not None:
            # a detached neuron reads quantF/quantB from its source layer's section
            src_sec = cfg.section(src)
            lay.d["quantF"] = _quantizer(_Reader(cfg, src_sec, ctx.warnings) if src_sec else None,
                                         "quantF", ctx)
            lay.d["quantB"] = _quantizer(_Reader(cfg, src_sec, ctx.warnings) if src_sec else None,
                                         "quantB", ctx)
            continue
        if sec is None and "_legacy_scale" in lay.d and "_legacy_pow" in lay.d:
            # a 2011-style norm layer carried its constants in the definition file
            sec = Section(name=lay.name, line=lay.source[1])
        if sec is None:
            if lay.d.get("requiresParams") and not require_all:
                graph.warnings.append(f"{cfg.path}: no section for [{lay.name}]")
            elif lay.d.get("requiresParams"):
                raise ConfigError(
                    f"layer [{lay.name}] of type {lay.type!r} (defined at "
                    f"{lay.source[0]}:{lay.source[1]}) needs a section in this params file",
                    path=cfg.path,
                )
            lay.d["quantF"] = lay.d["quantB"] = {"type": "default", "params": {}}
            continue
        r = _Reader(cfg, sec, ctx.warnings)
        _params_for(lay.type)(r, lay.d, ctx)
        lay.d["quantF"] = _quantizer(r, "quantF", ctx)
        lay.d["quantB"] = _quantizer(r, "quantB", ctx)
        lay.params_source = (cfg.path, sec.line)
    known = set(graph.layers)
    for name, sec in cfg.sections.items():
        if name not in known:
            graph.warnings.append(
                f"{cfg.path}:{sec.line}: [{name}] params for a layer the definition does not have"
            )
    graph.params_path = cfg.path
    graph.notes = graph.notes + [(ln, f"{Path(cfg.path).name}: {t}") for ln, t in cfg.comments]
    return graph
