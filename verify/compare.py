"""One comparison: a reference tensor, the port's tensor, a tolerance -> a check row."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from alexnet.verify import policy

#: check kinds, in the order a suite runs them
KINDS = ("hyperparams", "forward", "pool-routing", "loss", "grad", "weight-grad", "velocity",
         "weights", "top1")

#: what each kind compares, for reports
KIND_TEXT = {
    "hyperparams": "learning rate, momentum and weight decay of each matrix",
    "forward": "the layer's output on the suite's inputs",
    "pool-routing": "which element each max-pool window passes its gradient to (the port's "
                    "choice must be a maximum of the reference's values up to rounding)",
    "loss": "the logistic-regression cost (mean over the minibatch, times coeff)",
    "grad": "the gradient of the loss w.r.t. the layer's output (= its consumers' input)",
    "weight-grad": "the gradient of the loss w.r.t. a weight matrix or bias vector",
    "velocity": "the momentum buffer (2012 weightsInc) after one update",
    "weights": "the weights after one update",
    "top1": "the top-1 prediction of every case",
}


@dataclass
class Check:
    """One row of the report."""

    layer: str
    kind: str
    max_abs: float | None
    max_rel: float | None
    tolerance: float
    passed: bool
    tensor: str | None = None
    scale: float | None = None
    terms: float | None = None
    elements: int | None = None
    masked: int | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.layer}.{self.tensor}" if self.tensor else self.layer

    @property
    def ratio(self) -> float:
        """max_rel / tolerance (inf when non-finite or failed without a number)."""
        if self.max_rel is None:
            return math.inf
        if self.tolerance <= 0:
            return 0.0 if self.max_rel == 0 else math.inf
        return self.max_rel / self.tolerance

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return {k: v for k, v in d.items() if v is not None}


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def compare(
    layer: str,
    kind: str,
    ref: np.ndarray,
    got: np.ndarray,
    *,
    terms: float,
    tensor: str | None = None,
    mask: np.ndarray | None = None,
    note: str | None = None,
    tol: float | None = None,
) -> Check:
    """Compare ``got`` (the port) with ``ref`` (the 2012 re-creation) under the policy.

    ``mask`` (True = compare) excludes positions for a documented reason; their count is
    reported. Shapes must agree exactly: a shape difference is itself a failure. ``tol``
    overrides the policy's tolerance where it is derived from another check's.

    Differences are taken in float32: for two close float32 numbers the difference is
    exact (Sterbenz), and for distant ones its rounding cannot change a verdict.
    """
    tol = policy.tolerance(terms) if tol is None else float(tol)
    ref = np.asarray(ref)
    got = np.asarray(got)
    if ref.shape != got.shape:
        return Check(layer, kind, None, None, tol, False, tensor=tensor, terms=terms,
                     note=f"shape {got.shape} in the port, {ref.shape} in the reference")
    dt = np.result_type(ref.dtype, got.dtype, np.float32)
    r = ref.astype(dt, copy=False)
    g = got.astype(dt, copy=False)
    if r.size == 0:
        return Check(layer, kind, 0.0, 0.0, tol, True, tensor=tensor, scale=0.0,
                     terms=float(terms), elements=0, note=note)
    # one temporary: the difference, made absolute in place; NaN and inf propagate
    # through max/min, so finiteness is read off the reductions
    diff = np.subtract(g, r)
    np.abs(diff, out=diff)
    masked = None
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)
        masked = int(keep.size - np.count_nonzero(keep))
        diff[~keep] = 0
        kept = r[keep]
        scale = float(max(kept.max(initial=0.0), -kept.min(initial=0.0)))
    else:
        scale = float(max(r.max(), -r.min()))
    max_abs = float(diff.max())
    if not (math.isfinite(max_abs) and math.isfinite(scale)):
        bad_ref = int(r.size - np.count_nonzero(np.isfinite(r)))
        bad_got = int(g.size - np.count_nonzero(np.isfinite(g)))
        return Check(layer, kind, None, None, tol, False, tensor=tensor, terms=terms,
                     elements=int(r.size),
                     note=f"non-finite values (reference {bad_ref}, port {bad_got})")
    max_rel = max_abs / max(scale, policy.TINY)
    if scale <= policy.TINY and max_abs <= policy.TINY:
        max_rel = 0.0
    passed = max_rel <= tol
    return Check(layer, kind, _finite(max_abs), _finite(max_rel), tol, passed, tensor=tensor,
                 scale=scale, terms=float(terms), elements=int(r.size), masked=masked,
                 note=note)


def exact(layer: str, kind: str, ref: float, got: float, *, tensor: str | None = None,
          note: str | None = None) -> Check:
    """A value that must agree exactly (hyper-parameters)."""
    diff = abs(float(got) - float(ref))
    rel = diff / max(abs(float(ref)), policy.TINY) if diff else 0.0
    return Check(layer, kind, diff, rel, 0.0, diff == 0.0, tensor=tensor,
                 scale=abs(float(ref)), note=note)


def first_failure(checks: list[Check]) -> Check | None:
    """The first failing check in suite order (where a fault shows first)."""
    return next((c for c in checks if not c.passed), None)
