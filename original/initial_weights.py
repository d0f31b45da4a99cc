"""Weight and bias creation from a parsed layer graph, the 2012 way.

Re-creates ``make_weights``/``make_biases`` of the 2012 ``layer.py`` (L777-L825) with the
per-type shapes and memory orders of L878-L886 (fc), L1068-L1076 (conv) and L1078-L1090
(local). The 2012 parser made weights as a side effect of parsing; here the parser
(:mod:`alexnet.original.layer`) stays pure and this module adds the arrays to the layer
dicts afterwards, in definition order, so one seed gives one network.

Shapes and orders (docs/reference/formats.md#formats-checkpoints):

=========  =======================================  =======  ======================
type       weights[i]                               order    biases
=========  =======================================  =======  ======================
conv       (filterChannels*filterSize^2, filters)   C        (filters, 1), or
                                                             (modules*filters, 1)
                                                             when not sharedBiases
local      (modules*filterChannels*filterSize^2,    C        (modules*filters, 1)
           filters)
fc         (numInputs[i], outputs)                  Fortran  (1, outputs) Fortran
=========  =======================================  =======  ======================

Values: N(0,1) * initW[i] drawn in float64 then stored as float32 (2012: ``n.array(initW *
nr.randn(rows, cols), dtype=single)``); biases the constant initB; the increment
buffers (``weightsInc``/``biasesInc``) zeros of the same shape and order. The normal
draws come from numpy's Generator (ziggurat) rather than the legacy ``randn``: 2012's
seed is unknown anyway, and the legacy generator needs ~20 s for AlexNet's 61M values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alexnet.errors import ConfigError


def matrix_shapes(d: dict[str, Any]) -> tuple[list[tuple[int, int]], tuple[int, int], str]:
    """(weight shapes per input, bias shape, memory order) of a weight layer dict."""
    t = d["type"]
    if t == "conv":
        shapes = [(fc * fp, d["filters"]) for fc, fp in zip(d["filterChannels"],
                                                            d["filterPixels"], strict=True)]
        nb = d["filters"] if d.get("sharedBiases", True) else d["modules"] * d["filters"]
        return shapes, (nb, 1), "C"
    if t == "local":
        shapes = [(d["modules"] * fc * fp, d["filters"])
                  for fc, fp in zip(d["filterChannels"], d["filterPixels"], strict=True)]
        return shapes, (d["modules"] * d["filters"], 1), "C"
    if t == "fc":
        return [(ni, d["outputs"]) for ni in d["numInputs"]], (1, d["outputs"]), "F"
    raise ConfigError(f"layer [{d['name']}] of type {t!r}: this engine cannot create weights "
                      "for it")


def init_layer(d: dict[str, Any], rng: np.random.Generator) -> None:
    """Add weights, weightsInc, biases, biasesInc to one layer dict (in place)."""
    shapes, bshape, order = matrix_shapes(d)
    if any(d.get("weightSourceLayers", [])):
        raise ConfigError(f"layer [{d['name']}]: shared weight matrices (weightSource) are not "
                          "supported by this engine")
    if d.get("initWFunc") or d.get("initBFunc"):
        raise ConfigError(f"layer [{d['name']}]: initWFunc/initBFunc hooks are never called "
                          "(reading a cfg must not run code); initialise from a checkpoint")
    d["weights"], d["weightsInc"] = [], []
    for (rows, cols), std in zip(shapes, d["initW"], strict=True):
        w = np.array(std * rng.standard_normal((rows, cols)), dtype=np.float32, order=order)
        d["weights"].append(w)
        d["weightsInc"].append(np.zeros_like(w))
    d["biases"] = np.array(d["initB"] * np.ones(bshape), dtype=np.float32, order=order)
    d["biasesInc"] = np.zeros_like(d["biases"])


def init_weights(layers: dict[str, dict[str, Any]], seed: int = 0) -> None:
    """Create the arrays of every weight layer, in definition order, from one seed."""
    rng = np.random.default_rng(seed)
    for d in layers.values():
        if d["type"] in ("conv", "local", "fc"):
            init_layer(d, rng)
        elif d["type"] == "treefc":
            raise ConfigError(f"layer [{d['name']}]: treefc is not supported by this engine")


def check_arrays(layers: dict[str, dict[str, Any]], where: str) -> None:
    """Refuse weight arrays of the wrong shape, dtype or order (e.g. another net's checkpoint)."""
    for d in layers.values():
        if d["type"] not in ("conv", "local", "fc"):
            continue
        shapes, bshape, order = matrix_shapes(d)
        for key, want in (("weights", shapes), ("weightsInc", shapes)):
            arrs = d.get(key)
            if not isinstance(arrs, list) or len(arrs) != len(want):
                raise ConfigError(f"{where}: layer [{d['name']}] {key}: expected a list of "
                                  f"{len(want)} matrices")
            for i, (a, shp) in enumerate(zip(arrs, want, strict=True)):
                _check_one(a, shp, order, f"{where}: layer [{d['name']}] {key}[{i}]")
        for key in ("biases", "biasesInc"):
            _check_one(d.get(key), bshape, order, f"{where}: layer [{d['name']}] {key}")


def _check_one(a: Any, shape: tuple[int, int], order: str, what: str) -> None:
    if not isinstance(a, np.ndarray):
        raise ConfigError(f"{what}: expected a float32 array, got {type(a).__name__}")
    if a.shape != shape:
        raise ConfigError(f"{what}: shape {a.shape}, expected {shape}")
    if a.dtype != np.float32:
        raise ConfigError(f"{what}: dtype {a.dtype}, expected float32")
    ok = a.flags.c_contiguous if order == "C" else a.flags.f_contiguous
    if not ok:
        raise ConfigError(f"{what}: expected {'C' if order == 'C' else 'Fortran'} memory order")
