"""What each implementation hands the comparison: one layout, one sign, one scale.

Both sides are reduced to the same conventions before anything is compared:

* activations and their gradients keyed by 2012 layer name, as ``(cases, features)``
  float32 arrays with features in (channel, row, column) order; the 2012 engine stores
  ``(features, cases)`` and the port NCHW, and both flatten to this without reordering
  features;
* gradients of the loss ``coeff * mean over the minibatch of -log p(true)`` — the 2012
  engine propagates the NEGATIVE gradient summed over the minibatch (the 1/B is applied
  in the update), so its values are multiplied by ``-1/B``;
* weight matrices, their gradients and velocities keyed ``"<2012 layer>.weights[i]"`` /
  ``"<2012 layer>.biases"`` in the 2012 matrix layout
  (docs/reference/formats.md#formats-checkpoints), the port's
  tensors converted by :func:`alexnet.layouts2012.to_2012_matrices`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SideResult:
    name: str
    acts: dict[str, np.ndarray] = field(default_factory=dict)
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    wgrads: dict[str, np.ndarray] = field(default_factory=dict)
    weights_after: dict[str, np.ndarray] = field(default_factory=dict)
    velocity_after: dict[str, np.ndarray] = field(default_factory=dict)
    hyper: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    logits: np.ndarray | None = None
    loss: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    routes: Any = None  # alexnet.verify.routing.Routes the reference followed (if any)
