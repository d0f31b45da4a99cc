"""Max pooling's gradient at near-ties: the one place where rounding decides a route.

A max pool passes its output gradient to the element that holds the window's maximum.
When two elements of a window are equal to within the forward pass's rounding error,
the two implementations may legitimately disagree on which one is larger, and then send
that window's whole gradient to different elements: a discrete difference caused by a
rounding-level one, which shows in every gradient below the pool (the conv weights
feeding it included). With trained CIFAR-10 weights this happens to a couple of windows
in 80,000; it is a property of max pooling, not of either implementation.

The verifier therefore compares, for every max pool, which element each implementation
chose in each window (from both sides' recorded pool inputs), and

* reports one ``pool-routing`` check per max pool: the windows where the port's choice
  is not a maximum of the reference's values, and the largest gap, relative to the
  pool input's scale, between the reference's maximum and the port's choice. The check
  passes when every such gap is within the pool input's forward tolerance (a near-tie);
  a larger gap means the port pooled the wrong element, which is a real error;
* for the near-tie windows only, runs the reference's backward pass with the port's
  choice (the reference's pooled value for that window is replaced, for the backward
  step only, by the value of the element the port chose; the 2012 undo credits the
  elements equal to it), so that every gradient below is compared with the same routes.

Exact ties (equal values, e.g. the zeros after a ReLU) are not near-tie flips: the
reference credits every tied element there, by the 2012 rule (see :mod:`.policy`).
A ReLU right before the pool (Caffe's nets) adds one more rounding-level case: an input
within rounding of 0 that one side's ReLU passes and the other's zeroes. When the port's
window is all zeros and the reference's maximum is such a value, the reference's
backward pools the port's 0 there as well (counted as ``relu_kinks`` in the check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alexnet.verify import policy
from alexnet.verify.compare import Check


@dataclass
class Routes:
    """Per max-pool layer: (flat index into the engine's output matrix, value) to use as
    the pooled value in the reference's backward pass."""

    hints: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def key(self) -> tuple:
        return tuple((k, v[0].tobytes(), v[1].tobytes()) for k, v in sorted(self.hints.items()))


def _window_index(img: int, size: int, start: int, stride: int, outputs: int) -> np.ndarray:
    """(outputs², size²) flat input positions of each window, -1 outside the image."""
    o = np.arange(outputs)
    k = np.arange(size)
    pos = start + o[:, None] * stride + k[None, :]              # (outputs, size) per axis
    valid = (pos >= 0) & (pos < img)
    iy = pos[:, None, :, None]
    ix = pos[None, :, None, :]
    flat = iy * img + ix                                         # (oy, ox, ky, kx)
    ok = valid[:, None, :, None] & valid[None, :, None, :]
    flat = np.where(ok, flat, -1)
    return flat.reshape(outputs * outputs, size * size)


def analyse(layers: dict[str, dict[str, Any]], ref_acts: dict[str, np.ndarray],
            port_acts: dict[str, np.ndarray], fwd_terms: dict[str, float]) -> Routes:
    """Compare the two sides' choices in every max pool; hints for the near-ties."""
    routes = Routes()
    for name, d in layers.items():
        if d["type"] != "pool" or d.get("pool") != "max":
            continue
        inp = d["inputs"][0]
        tol = policy.tolerance(fwd_terms[inp])
        xr, xp = ref_acts.get(inp), port_acts.get(inp)
        if xr is None or xp is None or xr.shape != xp.shape:
            routes.checks.append(Check(name, "pool-routing", None, None, tol, False,
                                       note="pool input missing on one side"))
            continue
        c, img, out = int(d["channels"]), int(d["imgSize"]), int(d["outputsX"])
        idx = _window_index(img, int(d["sizeX"]), int(d["start"]), int(d["stride"]), out)
        n = xr.shape[0]
        inside = idx >= 0
        safe = np.where(inside, idx, 0)
        r = xr.reshape(n, c, img * img)[:, :, safe]              # (n, c, windows, taps)
        p = xp.reshape(n, c, img * img)[:, :, safe]
        r = np.where(inside, r, -np.inf)
        p = np.where(inside, p, -np.inf)
        choice = p.argmax(axis=3)                                 # the port's element
        rmax = r.max(axis=3)
        chosen = np.take_along_axis(r, choice[..., None], axis=3)[..., 0]
        flipped = chosen < rmax
        scale = float(np.abs(xr).max(initial=0.0))
        gaps = (rmax - chosen)[flipped] / max(scale, policy.TINY)
        worst = float(gaps.max(initial=0.0))
        count = int(flipped.sum())
        near = flipped & ((rmax - chosen) <= tol * scale)
        # a ReLU before the pool: where the port's window is all zeros and the
        # reference's maximum is a rounding-level positive value, the two sides' ReLUs
        # disagree on the sign of one near-zero input, and the reference would pass the
        # window's gradient through it while the port's ReLU stops it; the reference's
        # backward then pools the port's value (0) there too
        kink = ~flipped & (p.max(axis=3) == 0) & (rmax > 0) & (rmax <= tol * scale)
        steer = near | kink
        if steer.any():
            cn, ch, w = np.nonzero(steer)
            flat = (ch * out * out + w) * n + cn                  # engine matrix (C*out*out, N)
            value = np.where(kink, 0.0, chosen)[steer]
            routes.hints[name] = (flat.astype(np.int64), value.astype(xr.dtype))
        far = count - int(near.sum())
        note = ("no window routed differently" if count == 0 else
                f"{count} of {flipped.size} windows routed differently"
                + (", all near-ties: the reference's backward followed the port there"
                   if far == 0 else f", {far} beyond rounding (the port pooled another "
                                    "element)"))
        kinks = int(kink.sum())
        if kinks:
            note += (f"; {kinks} window(s) at the ReLU's kink (the port's all zero, the "
                     "reference's maximum within rounding of 0): the reference's backward "
                     "pooled 0 there, as the port")
        abs_gap = float((rmax - chosen)[flipped].max(initial=0.0))
        routes.checks.append(Check(name, "pool-routing", abs_gap, worst, tol, far == 0,
                                   scale=scale, terms=float(fwd_terms[inp]),
                                   elements=int(flipped.size), note=note,
                                   extra={"rerouted": count, "near_ties": int(near.sum()),
                                          "relu_kinks": kinks}))
    return routes
