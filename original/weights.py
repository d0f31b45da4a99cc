"""The 2012 weight-update rule and learning-rate schedules.

Re-creates ``src/weights.cu`` L146-L198 (``Weights::update``), the gradient-side halves
in ``src/layer.cu`` L581-L606 (``bpropCommon``/``updateWeights``), L653-L675 (FC),
L844-L879 (conv), L976-L990 (local), the weight constraints L677-L687, L907-L933, and
the schedules of ``src/lr.cu`` L35-L186
(docs/reference/recreation.md#recreation-schedules and #recreation-update).

The rule, with W a weight matrix, V its increment buffer (``weightsInc``, the momentum
state stored in checkpoints), eps the scheduled rate, mu the momentum, lambda the decay,
B the cases in the minibatch and G the minibatch SUM of the negative gradient:

* fc and local weights (2012 ``useGrad`` false) fold the rate into the increment while
  back-propagating:  V <- mu*V + (eps/B)*G
* conv weights and every bias (``useGrad`` true) keep G/B in a gradient buffer and in
  the update do      V <- mu*V + eps*(G/B)
* then, if lambda > 0:  V <- V - lambda*eps*W   (biases: lambda = 0 always)
* then                 W <- W + V
* a matrix whose schedule's BASE rate is 0 gets no gradient and no update at all, not
  even decay, and its V is left untouched.

The two forms are the same algebra; they are kept apart because they round differently
in float32, and that is what the 2012 code did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------
# Learning-rate schedules (src/lr.cu)


class LearningRateSchedule:
    """A rate as a function of training progress p in [0, 1]; ``base`` from the params file.

    2012's per-matrix learning-rate function (``src/lr.cu``), named apart from the port's
    :class:`alexnet.modern.update.Schedule`, which is an epoch-indexed list of rules.
    """

    def __init__(self, base: float, noise_stdev: float = 0.0,
                 rng: np.random.Generator | None = None):
        self.base = float(base)
        self.noise_stdev = float(noise_stdev)
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def _rate(self, progress: float) -> float:
        return self.base

    def rate(self, progress: float) -> float:
        r = self._rate(progress)
        if self.noise_stdev > 0:
            # a noisy schedule multiplies by (1 + |N(0,1)| * stdev) on every call (lr.cu L43-L46)
            r *= 1.0 + abs(float(self.rng.standard_normal())) * self.noise_stdev
        return r


class LinearSchedule(LearningRateSchedule):
    def __init__(self, base: float, tgt_factor: float, noise_stdev: float = 0.0, rng=None):
        super().__init__(base, noise_stdev, rng)
        self.final = self.base / tgt_factor

    def _rate(self, progress: float) -> float:
        return self.base * (1 - progress) + self.final * progress


class ExpSchedule(LearningRateSchedule):
    """Geometric interpolation written as base ** (1 + p * pow), as lr.cu did."""

    def __init__(self, base: float, tgt_factor: float, noise_stdev: float = 0.0, rng=None):
        super().__init__(base, noise_stdev, rng)
        final = self.base / tgt_factor
        self.pow = 1.0 if self.base == 0 else (math.log(final) / math.log(self.base) - 1)

    def _rate(self, progress: float) -> float:
        return self.base ** (1.0 + progress * self.pow)


class DiscreteExpSchedule(LearningRateSchedule):
    """numSteps constant levels sampled from the exp curve, the last one = base/tgtFactor."""

    def __init__(self, base: float, tgt_factor: float, noise_stdev: float = 0.0,
                 num_steps: int = 2, rng=None):
        super().__init__(base, noise_stdev, rng)
        curve = ExpSchedule(base, tgt_factor)
        self.rates = [curve._rate(i / (num_steps - 1)) for i in range(num_steps - 1)]
        self.rates.append(self.base / tgt_factor)

    def _index(self, progress: float) -> int:
        for i in range(len(self.rates)):
            if progress <= (i + 1) / len(self.rates):
                return i
        return len(self.rates) - 1

    def _rate(self, progress: float) -> float:
        return self.rates[self._index(progress)]


class JumpyDiscreteExpSchedule(DiscreteExpSchedule):
    """As dexp, but in the second half of each step (for 0.2 < p < 0.9) the geometric mean
    of this level and the previous one."""

    def _rate(self, progress: float) -> float:
        i = self._index(progress)
        mid = (i + 0.5) / len(self.rates)
        if i > 0 and 0.2 < progress < 0.9 and progress > mid:
            return math.sqrt(self.rates[i] * self.rates[i - 1])
        return self.rates[i]


def make_schedule(spec: dict[str, Any] | None, base: float,
                  rng: np.random.Generator | None = None) -> LearningRateSchedule:
    """Build a schedule from the parser's ``{'type': ..., 'params': {...}}``."""
    if not spec or spec.get("type", "default") == "default":
        return LearningRateSchedule(base, 0.0, rng)
    p = spec.get("params", {})
    kind = spec["type"]
    if kind == "linear":
        return LinearSchedule(base, p["tgtFactor"], p.get("noiseStdev", 0.0), rng)
    if kind == "exp":
        return ExpSchedule(base, p["tgtFactor"], p.get("noiseStdev", 0.0), rng)
    if kind == "dexp":
        return DiscreteExpSchedule(base, p["tgtFactor"], p.get("noiseStdev", 0.0),
                                   int(p["numSteps"]), rng)
    if kind == "jdexp":
        return JumpyDiscreteExpSchedule(base, p["tgtFactor"], p.get("noiseStdev", 0.0),
                                        int(p["numSteps"]), rng)
    raise ValueError(f"unknown schedule {kind!r}")


# --------------------------------------------------------------------------------------
# One weight matrix (or bias vector) and its update


@dataclass
class Param:
    """A 2012 ``Weights`` object: the arrays live in the layer dict and are updated in place."""

    name: str
    w: np.ndarray
    inc: np.ndarray
    schedule: LearningRateSchedule
    mom: float
    wc: float
    use_grad: bool
    wball: float = 0.0
    grad: np.ndarray | None = None
    contributions: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """2012 computes no gradient and does no update when the base rate is 0."""
        return self.schedule.base > 0


def accumulate(p: Param, g_sum: np.ndarray, cases: int, progress: float) -> None:
    """Fold one minibatch's summed negative gradient into the param (the bprop half).

    ``cases`` is the divisor B (the minibatch size, times --wupdate-freq when several
    minibatches feed one update).
    """
    if not p.active:
        return
    t = p.w.dtype.type
    g_sum = g_sum.reshape(p.w.shape)
    if p.use_grad:
        scaled = t(1.0 / cases) * g_sum
        if p.contributions == 0 or p.grad is None:
            p.grad = np.array(scaled, dtype=p.w.dtype, order="F" if p.w.flags.f_contiguous
                              and not p.w.flags.c_contiguous else "C")
        else:
            p.grad += scaled
    else:
        factor = t(p.schedule.rate(progress) / cases)
        if p.contributions == 0:
            p.inc *= t(p.mom)
        scaled = g_sum * factor if g_sum.base is not None or not g_sum.flags.writeable else \
            np.multiply(g_sum, factor, out=g_sum)
        p.inc += scaled
    p.contributions += 1


def update(p: Param, progress: float) -> bool:
    """Apply the update (Weights::update). Returns False when nothing was done."""
    if not p.active or p.contributions == 0:
        return False
    t = p.w.dtype.type
    if p.use_grad:
        p.inc *= t(p.mom)
        p.inc += t(p.schedule.rate(progress)) * p.grad
    if p.wc > 0:
        # the decay term asks the schedule again (a noisy schedule draws anew, as 2012 did)
        p.inc -= t(p.wc * p.schedule.rate(progress)) * p.w
    p.w += p.inc
    p.contributions = 0
    return True


def constrain_columns(w: np.ndarray, wball: float) -> None:
    """Max-norm (``wball``, the dict's ``wballNormed``): columns whose norm exceeds the
    limit are scaled to norm ``wball`` (WeightConstraintOperator, include/layer.cuh L61-L70)."""
    if wball <= 0:
        return
    norm2 = (w * w).sum(axis=0)
    t = w.dtype.type
    factor = np.where(norm2 > t(wball) * t(wball), t(wball) / np.sqrt(np.maximum(norm2, t(1e-30))),
                      t(1))
    w *= factor.astype(w.dtype)[None, :]


def constrain_filter_std(w: np.ndarray, lo: float, hi: float) -> None:
    """Conv ``wcNormMin``/``wcNormMax``: a filter whose standard deviation s lies outside
    [lo, hi] is multiplied by lo/s or hi/s (WeightContrastNormOperator, src/layer.cu
    L907-L924); the mean is removed only to measure s."""
    if hi <= 0:
        return
    fz = w.shape[0]
    centred = w - w.mean(axis=0, keepdims=True)
    std = np.sqrt((centred * centred).sum(axis=0)) / w.dtype.type(fz)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(std < lo, lo / std, np.where(std > hi, hi / std, 1.0))
    w *= factor.astype(w.dtype)[None, :]
