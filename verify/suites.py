"""The bundled suites: which network, which weights, which inputs.

``alexnet2012``
    AlexNet2012 (layer definition 145, the paper's net; the port's hand-written module
    against the engine running the cfg) on generated images (:mod:`.inputs`). Weights:
    the 2012 initial distribution, N(0, initW²) per matrix and the constant initB biases
    of ``layers-145.cfg``, then every weight matrix multiplied by a per-layer gain
    (``bundled/alexnet2012-suite.json``, made by :func:`calibrate`) so that on these
    inputs the conv layers' outputs have an RMS of about 30 (the scale of raw-pixel
    inputs), the hidden fc layers about 10 and the logits about 4. At the raw 2012 init
    the deep layers' outputs are tiny beside the biases and the normalisations' sums of
    squares are negligible against their constant k; scaled like this, the LRN, the
    same-map normalisation and every weight matter, as in a trained net, and the softmax
    is neither uniform nor saturated. The momentum buffers start non-zero (a normal
    draw at 1e-3 of the matrix's weight spread, about the size of one step of a run in
    progress), so the update rule's momentum term is exercised too.
``cifar10-80sec``, ``cifar10-18pct``
    the 2011 release's CIFAR-10 example nets (cfg-built port) with weights trained by the
    project's own pipeline (``bundled/<name>.safetensors``, provenance and sha256 in
    ``bundled/<name>.json``), on ten CIFAR-10 test images stored in
    ``bundled/cifar10-sample.npy`` (one per class; the list is in
    ``bundled/cifar10-sample.json``), mean-subtracted with the training mean stored
    beside the weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from alexnet import registry
from alexnet.errors import ConfigError
from alexnet.original import cfgs
from alexnet.original.engine import TEST, Engine
from alexnet.original.initial_weights import matrix_shapes
from alexnet.original.layer import parse_layers
from alexnet.verify.inputs import synthetic_images, synthetic_labels


@dataclass(frozen=True)
class Suite:
    name: str
    arch: str
    net: str          # bundled cfg pair of the reference graph (layers-<net>.cfg)
    origin: str       # "synthetic" (weights made on the 2012 side) or "bundled"
    description: str


def _suite(arch: str, origin: str, description: str) -> Suite:
    """A suite named after its arch; the reference net and, for a bundled suite, the
    weight set of the same name come from the registry."""
    if origin == "bundled" and registry.weight_set(arch).arch != arch:
        raise ConfigError(f"bundled weights {arch!r} are not for arch {arch!r}")
    return Suite(arch, arch, reference_net(arch), origin, description)


def reference_net(arch: str) -> str:
    """The bundled cfg net the 2012 engine runs for a port arch (from the registry)."""
    if arch not in registry.ARCHS:
        raise ConfigError(f"unknown --arch {arch!r} (known: {', '.join(registry.ARCHS)})")
    return registry.reference_net(arch)


SUITES: dict[str, Suite] = {s.name: s for s in (
    _suite("alexnet2012", "synthetic",
           "AlexNet2012 (def 145; port: hand-written module) on generated 224x224 images, "
           "2012-distributed weights scaled to realistic activations"),
    _suite("cifar10-80sec", "bundled",
           "CIFAR-10 80sec net (2011 example; port: cfg-built) with bundled trained weights "
           "on 10 CIFAR-10 test images"),
    _suite("cifar10-18pct", "bundled",
           "CIFAR-10 18pct net (2011 example; port: cfg-built) with bundled trained weights "
           "on 10 CIFAR-10 test images"),
)}

DEFAULT_SUITES = ("alexnet2012", "cifar10-80sec", "cifar10-18pct")


def bundled_dir() -> Path:
    return Path(str(resources.files("alexnet.verify") / "bundled"))


@cache
def synthetic_spec() -> dict[str, Any]:
    p = bundled_dir() / "alexnet2012-suite.json"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{p}: unreadable suite definition ({exc})") from None


# --------------------------------------------------------------------------------------
# The graph and synthetic weights


@dataclass
class Graph:
    """The reference graph: parsed once, copied per run (the engine updates in place)."""

    graph: Any
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def for_net(cls, net: str) -> Graph:

        g = parse_layers(*cfgs.pair(net))
        return cls(graph=g, layers={n: lay.d for n, lay in g.layers.items()})

    def fresh(self) -> dict[str, dict[str, Any]]:
        """Engine-form dicts without arrays (shallow copies; nested values are read-only)."""
        out = {}
        for n, d in self.layers.items():
            c = dict(d)
            for k in ("weights", "weightsInc", "biases", "biasesInc"):
                c.pop(k, None)
            out[n] = c
        return out

    def sizes(self) -> dict[str, int]:
        return {n: int(lay.shape[0]) if lay.shape else 0 for n, lay in self.graph.layers.items()}


def synthetic_weights(layers: dict[str, dict[str, Any]], seed: int, gains: dict[str, float],
                      velocity_fraction: float) -> None:
    """Fill engine-form dicts with the suite's weights (see the module docstring).

    Draws with numpy's PCG64 generator in float32 (the 2012 code drew float64 with
    ``RandomState``; for 61 M weights that is several times slower, and the verifier only
    needs the distribution and determinism).
    """

    rng = np.random.Generator(np.random.PCG64(seed))
    for name, d in layers.items():
        if d["type"] not in ("conv", "local", "fc"):
            continue
        shapes, bshape, order = matrix_shapes(d)
        g = float(gains.get(name, 1.0))
        ws, incs = [], []
        for (rows, cols), std in zip(shapes, d["initW"], strict=True):
            # drawn directly in the matrix's memory order (Fortran for fc: a transposed
            # C draw), so no copy is needed to lay it out
            if order == "F":
                z = rng.standard_normal((cols, rows), dtype=np.float32).T
            else:
                z = rng.standard_normal((rows, cols), dtype=np.float32)
            # the velocity reuses the draw in reversed order: independent of the weight at
            # the same position, and half the cost of a second draw
            v = np.multiply(z[::-1, ::-1], np.float32(velocity_fraction * std * g),
                            order=order)
            z *= np.float32(std * g)
            ws.append(z)
            incs.append(v)
        d["weights"], d["weightsInc"] = ws, incs
        d["biases"] = np.asarray(np.full(bshape, d["initB"], np.float32), order=order)
        # bias velocities: the first values of the first matrix's velocity (same spread)
        nb = int(np.prod(bshape))
        head = incs[0].ravel(order="K")[:nb]
        d["biasesInc"] = np.asarray(np.resize(head, bshape), order=order)


def synthetic_setup(graph: Graph, spec: dict[str, Any] | None = None
                    ) -> tuple[dict[str, dict[str, Any]], np.ndarray, np.ndarray]:
    """Reference layers with weights, images and labels of the synthetic suite."""

    spec = spec or synthetic_spec()
    layers = graph.fresh()
    # the gains were calibrated for definition 145; other nets get the plain 2012 init
    gains = spec.get("gains", {}) if graph.graph.def_path.endswith("layers-145.cfg") else {}
    synthetic_weights(layers, int(spec["seed"]), gains, float(spec["velocity_fraction"]))
    c, h, _w = graph.graph.input_shape
    n = int(spec["batch"])
    x = synthetic_images(n, h, int(spec["seed"]))
    labels = synthetic_labels(n, int(graph.graph.num_classes or 1000), int(spec["seed"]))
    return layers, x, labels


def calibrate(targets: dict[str, float] | None = None, *, seed: int = 2012, batch: int = 2,
              velocity_fraction: float = 1e-3) -> dict[str, Any]:
    """Compute the per-layer gains of the synthetic suite (a maintainer step).

    Walks the weight layers in depth order; at each depth, runs the engine forward and
    scales that depth's weight matrices so the RMS of their output (biases excluded)
    equals the target. Returns the suite definition to store in
    ``bundled/alexnet2012-suite.json``.
    """

    targets = targets or {"conv": 30.0, "fc": 10.0, "logits": 4.0}
    graph = Graph.for_net("145")
    g = graph.graph
    x = synthetic_images(batch, g.input_shape[1], seed)
    labels = synthetic_labels(batch, int(g.num_classes or 1000), seed)
    gains: dict[str, float] = {}
    layers = graph.fresh()
    synthetic_weights(layers, seed, gains, velocity_fraction)
    depth: dict[str, int] = {}
    for name, d in layers.items():
        ins = d.get("inputs", [])
        depth[name] = max((depth[i] for i in ins), default=0) + (
            1 if d["type"] in ("conv", "local", "fc") else 0)
    weight_layers = [n for n, d in layers.items() if d["type"] in ("conv", "local", "fc")]
    logits = layers[next(n for n, d in layers.items() if d["type"] == "softmax")]["inputs"][0]
    feats = np.ascontiguousarray(x.reshape(batch, -1).T)
    labs = labels.reshape(1, -1).astype(np.float32)
    for level in sorted({depth[n] for n in weight_layers}):
        group = [n for n in weight_layers if depth[n] == level]
        e = Engine(layers, seed=0)
        e.fprop([feats, labs], TEST)
        for name in group:
            d = layers[name]
            out = e.acts[name].astype(np.float64)
            bias = d["biases"].astype(np.float64).reshape(-1)
            if d["type"] == "fc":
                out = out - bias[:, None]
            else:
                out = out.reshape(d["filters"], -1) - bias[:, None]
            rms = float(np.sqrt(np.mean(out * out)))
            kind = "logits" if name == logits else ("fc" if d["type"] == "fc" else "conv")
            factor = targets[kind] / rms
            gains[name] = factor
            for i, w in enumerate(d["weights"]):
                w *= np.float32(factor)
                d["weightsInc"][i] *= np.float32(factor)
            d["biasesInc"] *= np.float32(factor)
    return {"seed": seed, "batch": batch, "velocity_fraction": velocity_fraction,
            "targets_rms": targets,
            "gains": {k: float(f"{v:.6g}") for k, v in gains.items()},
            "note": "made by alexnet.verify.suites.calibrate(); gains multiply the 2012 "
                    "initial standard deviation initW of each weight matrix"}
