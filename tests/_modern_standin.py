"""A tiny network that honours the model contract (MODEL_CONTRACT.md), for fast tests.

The training-side tests must not depend on the real nets' size or speed; this module
gives them something with the same interface: ``param_groups()`` with per-tensor
eps/mom/wc, ``input_shape``, ``num_classes``, ``config`` (rebuilds it), ``arch``, and a
2012-style dropout (mask without rescale) so that resume tests exercise torch's RNG.
"""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, arch: str = "tiny", side: int = 32, classes: int = 10, maps: int = 4,
                 eps: float = 0.01, mom: float = 0.9, wc: float = 0.0005, dropout: bool = True):
        super().__init__()
        self.arch = arch
        self.input_shape = (3, side, side)
        self.num_classes = classes
        self.config = {"arch": arch, "side": side, "classes": classes, "maps": maps,
                       "eps": eps, "mom": mom, "wc": wc, "dropout": dropout}
        self.conv1 = nn.Conv2d(3, maps, 5, padding=2)
        self.fc = nn.Linear(maps * 16, classes)
        nn.init.normal_(self.conv1.weight, std=0.01)
        nn.init.normal_(self.fc.weight, std=0.1)
        nn.init.zeros_(self.conv1.bias)
        nn.init.zeros_(self.fc.bias)
        self.dropout = dropout
        self._hp = (eps, mom, wc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))
        h = nn.functional.adaptive_avg_pool2d(h, 4).flatten(1)
        if self.dropout:
            h = h * (torch.rand_like(h) < 0.5) if self.training else h * 0.5
        return self.fc(h)

    def param_groups(self) -> list[dict]:
        eps, mom, wc = self._hp
        out = []
        for layer, mod in (("conv1", self.conv1), ("fc", self.fc)):
            out.append({"name": f"{layer}.weights[0]", "layer": layer, "param": mod.weight,
                        "kind": "weights", "eps": eps, "mom": mom, "wc": wc})
            out.append({"name": f"{layer}.biases", "layer": layer, "param": mod.bias,
                        "kind": "biases", "eps": 2 * eps, "mom": mom, "wc": 0.0})
        return out


def build(arch: str = "tiny", **kwargs) -> TinyNet:
    return TinyNet(arch=arch, **kwargs)
