"""The tolerance policy: how far apart two fp32 implementations may be, and why.

Both implementations compute in float32 but add their products in different orders
(numpy's GEMM after an im2col in the 2012 layout, oneDNN/ATen kernels in NCHW), use
different ``pow``/``exp`` implementations and, in backward, sum gradient contributions
in different orders. None of this is an error; the verifier must accept it and still
catch every real difference, which is at least thousands of times larger (see the
self-test). The policy is written down once, here, and printed in every report.

Error measure, per compared tensor (``ref`` = the 2012 re-creation, ``got`` = the port)::

    max_abs = max |got - ref|
    scale   = max |ref|                             (the tensor's own activation scale)
    max_rel = max_abs / max(scale, TINY)

Relative to the largest magnitude of the tensor, not element by element: an element
that is tiny because of cancellation carries an absolute rounding error of the size of
the terms that cancelled, so an element-wise relative error would flag noise. (The
differences are taken in float32: for two nearby float32 numbers the difference is
exact, and for distant ones its rounding cannot change a verdict.)

Tolerance, per tensor::

    tolerance = SAFETY * U * sqrt(terms)

``U = 2**-24`` is the fp32 unit roundoff. ``terms`` counts the floating-point additions
that stand between the network's input and this tensor along the longest path through
the layer graph (:func:`count_terms`): a conv layer adds its fan-in (channels x filter
size², summed over its inputs), an fc layer its number of inputs, a normalisation its
window, an average pool its window, a softmax its classes. Rounding errors of different
summation orders behave like independent random errors, so their spread grows like the
square root of the number of terms (the probabilistic form of the inner-product error
bound, sqrt(n) u instead of the worst case n u: N. J. Higham and T. Mary, "A New Approach
to Probabilistic Rounding Error Analysis", SIAM J. Sci. Comput. 41(5), 2019).
Gradients count the forward path to the loss, then the path back down (a conv layer's
input gradient sums filters x (size/stride)² terms, an fc layer's its outputs), and
weight gradients add the sum over the minibatch and the output positions. The update
rule adds three terms; the weights after the update (W + V) inherit the velocity's
tolerance, rescaled from the velocity's scale to the weights', plus 4 U for the rounding
of that one addition.

``SAFETY`` absorbs what the square root does not model: the ratio between the summed
magnitudes and the largest result (cancellation), a few ulp from transcendental
functions, and the growth of a perturbation through the layers above. It was set by
measurement: on the default suites the largest error found is 0.9 U sqrt(terms) (the
forward pass of AlexNet2012's conv1, whose inputs are raw pixel values), most tensors
stay below 0.3 U sqrt(terms), so SAFETY = 16 leaves a margin of more than 15 for other
BLAS builds, processors and thread counts. The planted faults of the self-test are
caught at about 50 (momentum applied after the step, whose size is set by the suite's starting
velocity) to about 24,000 times their tolerance.

Two comparisons are masked, each for a reason of definition rather than arithmetic:

* Ties in max pooling, for a port built with PyTorch's rule (``pool_ties="one"``, the
  paper variant) only: the 2012 kernel gives the gradient to EVERY element equal to a
  window's maximum (docs/reference/kernels.md#kernels-torch-pool), as the port's
  ``pool_ties="all"`` (variant "code" and the cfg nets) does; PyTorch gives it
  to one. Exact ties occur
  where a ReLU produced zeros that reach a max pool through normalisations (pool2 of
  AlexNet2012). The two conventions then differ only at positions whose forward value is
  exactly 0, and those positions pass no gradient below the ReLU, so weight gradients
  are unaffected. Gradient checks of the tensors between such a ReLU and its max pool
  skip the positions whose reference forward value is 0 and report how many.
* Top-1 predictions. A case whose two best reference logits are closer than the logits'
  tolerance may legitimately swap; it is reported as a near-tie, not a disagreement.

One comparison is aligned rather than masked: max-pool routing at near-ties. Where two
elements of a pooling window are equal to within the forward tolerance, rounding decides
which one receives the window's gradient, and the two sides may choose differently;
every gradient below would then differ by a whole routed gradient. The verifier reports
each such window (``pool-routing`` checks: the port's choice must be a maximum of the
reference's values up to the forward tolerance) and runs the reference's backward with
the port's choice in those windows only (:mod:`alexnet.verify.routing`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: fp32 unit roundoff
U = 2.0 ** -24
#: slack factor on top of the sqrt(terms) growth (see the module docstring)
SAFETY = 16.0
#: below this scale a tensor is treated as all zeros
TINY = 1e-30


def tolerance(terms: float) -> float:
    """The relative tolerance for a tensor that accumulated ``terms`` additions."""
    return SAFETY * U * math.sqrt(max(terms, 1.0))


def describe() -> dict[str, Any]:
    """The policy as data, for reports."""
    return {
        "measure": "max_rel = max|port - reference| / max(max|reference|, 1e-30)",
        "tolerance": "SAFETY * U * sqrt(terms)",
        "U": U,
        "SAFETY": SAFETY,
        "terms": "floating-point additions on the longest path from the input to the "
                 "tensor (forward), then back down to it (gradients), plus the minibatch "
                 "and position sums (weight gradients) and 3 for the update rule",
        "masks": [
            "gradients between a ReLU and a max pool, only for a port with "
            "pool_ties='one': positions whose forward value is exactly 0 on either side (2012 "
            "credits every tied maximum, PyTorch one)",
            "top-1: cases whose two best reference logits are closer than the logits' "
            "tolerance count as near-ties, not disagreements",
            "max pooling: in windows whose two largest inputs are within the forward "
            "tolerance and that the port routes to the other one, the reference's backward "
            "follows the port's choice (reported as pool-routing checks)",
        ],
        "precision": "float32 on both sides (differences of float32 values are exact when "
                     "they are close)",
    }


# --------------------------------------------------------------------------------------
# Counting terms on the layer graph


@dataclass
class Terms:
    """Per layer: additions up to its output (``fwd``) and down to its output's gradient
    (``bwd``); per weight matrix: additions in its gradient (``wgrad``)."""

    fwd: dict[str, float]
    bwd: dict[str, float]
    wgrad: dict[str, float]
    top: float


def _own_forward(d: dict[str, Any]) -> float:
    t = d["type"]
    if t in ("conv", "local"):
        return float(sum(c * s * s for c, s in zip(d["filterChannels"], d["filterSize"],
                                                    strict=True)))
    if t == "fc":
        return float(sum(d["numInputs"]))
    if t == "cmrnorm":
        return float(d["size"])
    if t in ("rnorm", "cnorm"):
        return float(d["size"] ** 2)
    if t == "pool":
        return float(d["sizeX"] ** 2) if d.get("pool") == "avg" else 0.0
    if t == "softmax":
        return float(d["outputs"])
    if t == "blur":
        return float(2 * d["filterSize"])
    if t == "eltsum":
        return float(len(d.get("inputs", [])))
    return 0.0


def _own_backward(d: dict[str, Any], i: int = 0) -> float:
    """Additions that the gradient of input ``i`` of this layer sums."""
    t = d["type"]
    if t in ("conv", "local"):
        s, st = d["filterSize"][i], d["stride"][i]
        return float(d["filters"] * math.ceil(s / st) ** 2)
    if t == "fc":
        return float(d["outputs"])
    if t in ("cmrnorm",):
        return float(2 * d["size"])
    if t in ("rnorm", "cnorm"):
        return float(2 * d["size"] ** 2)
    if t == "pool":
        return float(math.ceil(d["sizeX"] / d["stride"]) ** 2)
    if t == "softmax":
        return float(d["outputs"])
    return 0.0


def count_terms(layers: dict[str, dict[str, Any]], batch: int) -> Terms:
    """Terms for every layer of a 2012 layer-dict graph (definition order)."""
    fwd: dict[str, float] = {}
    for name, d in layers.items():
        ins = [i for i in d.get("inputs", []) if i in fwd]
        base = max((fwd[i] for i in ins), default=0.0)
        fwd[name] = base + _own_forward(d)
    outputs = [n for n, d in layers.items() if not d["type"].startswith("cost.")]
    top = max((fwd[n] for n in outputs), default=1.0)
    bwd: dict[str, float] = {}
    for name in reversed(list(layers)):
        d = layers[name]
        if d["type"].startswith("cost."):
            continue
        consumers = [(c, cd) for c, cd in layers.items() if name in cd.get("inputs", [])
                     and not cd["type"].startswith("cost.")]
        if not consumers:
            bwd[name] = top
            continue
        bwd[name] = max(bwd.get(c, top) + _own_backward(cd, cd["inputs"].index(name))
                        for c, cd in consumers)
    wgrad: dict[str, float] = {}
    for name, d in layers.items():
        t = d["type"]
        if t not in ("conv", "local", "fc"):
            continue
        positions = float(batch * (d["modulesX"] ** 2 if t in ("conv", "local") else 1))
        for i in range(len(d["inputs"])):
            wgrad[f"{name}.weights[{i}]"] = bwd[name] + positions
        wgrad[f"{name}.biases"] = bwd[name] + positions
    return Terms(fwd=fwd, bwd=bwd, wgrad=wgrad, top=top)


def tie_masked_layers(layers: dict[str, dict[str, Any]]) -> set[str]:
    """Layers whose output gradient may differ at exact zeros because of max-pool ties.

    Walks down from each max pool's input through normalisations and neurons, up to and
    including the first ReLU (the source of the zeros).
    """
    out: set[str] = set()
    for d in layers.values():
        if d["type"] != "pool" or d.get("pool") != "max":
            continue
        name = d["inputs"][0]
        while name in layers:
            ld = layers[name]
            t = ld["type"]
            if t not in ("cmrnorm", "rnorm", "cnorm", "neuron"):
                break
            out.add(name)
            if t == "neuron" and ld["neuron"]["type"] == "relu":
                break
            name = ld["inputs"][0]
    return out
