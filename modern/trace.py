"""One layer's output as the port's models report it, for inspection and verification.

Both kinds of network in the port, the hand-written
:class:`~alexnet.modern.net2012.AlexNet2012` and the cfg-built
:class:`~alexnet.modern.cfgnet.CfgNet`, offer ``forward_with_trace(x)``, which returns the
logits and one :class:`LayerOutput` per layer in the order the layers run. The tensors are
the layers' own outputs, still part of the autograd graph and never changed afterwards by
an in-place operation, so a caller may read them after the pass and register gradient
hooks on them before calling ``backward``.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = ["LayerOutput"]


class LayerOutput(NamedTuple):
    """``name``: the layer's name in its model; ``kind``: the 2012 layer type it answers
    to (conv, fc, pool, cmrnorm, rnorm, relu, hs, ...; a cfg net gives the cfg's type);
    ``tensor``: what the layer produced, batch first."""

    name: str
    kind: str
    tensor: Tensor
