"""``alexnet-owt``: the one-tower AlexNet of 2014 that torchvision ships as ``alexnet``.

Krizhevsky's "One weird trick for parallelizing convolutional neural networks" (2014)
trained a single-tower variant of the 2012 network; torchvision's ``AlexNet`` follows it
(torchvision ``models/alexnet.py``) and its published weights (``alexnet-owt-7be5be79.pth``)
are read by :func:`alexnet.modern.importers.import_torchvision`.

=========  ==============================================  ===============
layer      operation                                       output (C,H,W)
=========  ==============================================  ===============
conv1      64 filters 11x11 stride 4 pad 2, ReLU           64 x 55 x 55
pool1      max 3x3 stride 2                                64 x 27 x 27
conv2      192 filters 5x5 pad 2, ReLU                     192 x 27 x 27
pool2      max 3x3 stride 2                                192 x 13 x 13
conv3-5    384, 256, 256 filters 3x3 pad 1, ReLU           256 x 13 x 13
pool5      max 3x3 stride 2                                256 x 6 x 6
avgpool    adaptive average pool to 6x6 (identity at 224)  256 x 6 x 6
fc6, fc7   dropout 0.5, then 4096 units, ReLU              4096
fc8        1000 logits                                     1000
=========  ==============================================  ===============

No response normalisation, no groups; 61,100,840 parameters. Dropout comes *before*
fc6 and fc7 (torchvision's order), PyTorch's inverted dropout. Convolutions and pooling
round output sizes down (PyTorch's default): at 224 input conv1 gives 55 positions where
the 2012 ceil rule would give 56, so the layers here are PyTorch's own, not the 2012 ones.

Input. torchvision feeds RGB values scaled to [0, 1], minus the mean (0.485, 0.456,
0.406), divided by the standard deviation (0.229, 0.224, 0.225). The port feeds raw
0-255 values minus the checkpoint's ``data/mean``; the importer stores 255 x that mean as
``data/mean`` and the net divides by ``input_scale`` = 255 x the standard deviation, so
``(x - 255 m) / (255 s) = (x / 255 - m) / s`` exactly, with the published weights kept
unchanged. ``input_scale=None`` feeds the values unscaled (training from scratch on the
port's data path).

The state dict names the layers conv1..conv5 and fc6..fc8 like the port's other nets;
:data:`TORCHVISION_NAMES` maps torchvision's ``features.N`` / ``classifier.N`` to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexnet.modern.steps import Step, StepNet

__all__ = ["AlexNetOWT", "TORCHVISION_NAMES", "TORCHVISION_MEAN", "TORCHVISION_STD",
           "WEIGHT_LAYERS"]

#: torchvision's module path -> our layer name
TORCHVISION_NAMES: dict[str, str] = {
    "features.0": "conv1", "features.3": "conv2", "features.6": "conv3",
    "features.8": "conv4", "features.10": "conv5",
    "classifier.1": "fc6", "classifier.4": "fc7", "classifier.6": "fc8",
}
#: torchvision's ImageNet normalisation of [0, 1] RGB values
TORCHVISION_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
TORCHVISION_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

WEIGHT_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")

#: torchvision's ImageNet training recipe for AlexNet (its references/classification
#: README: SGD, lr 0.01, momentum 0.9, weight decay 1e-4)
_SOLVER = {"eps": 0.01, "mom": 0.9, "wc": 1e-4}
DROPOUT = 0.5


class AlexNetOWT(StepNet):
    """torchvision's AlexNet layout (see the module docstring)."""

    weight_layers = WEIGHT_LAYERS
    config_options = ("num_classes", "hidden", "input_scale", "seed")

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        hidden: int = 4096,
        input_scale: Sequence[float] | None = tuple(255.0 * s for s in TORCHVISION_STD),
        seed: int | None = 0,
        init: bool = True,
    ) -> None:
        super().__init__()
        self.arch = "alexnet-owt"
        self.input_scale = None if input_scale is None else [float(v) for v in input_scale]
        if self.input_scale is not None and len(self.input_scale) != 3:
            raise ValueError("input_scale needs one value per colour channel")
        self.seed = seed
        self.input_shape = (3, 224, 224)
        self.cost = {"type": "cost.logreg", "coeff": 1.0, "topk": 5}
        self.conv1 = nn.Conv2d(3, 64, 11, stride=4, padding=2)
        self.conv2 = nn.Conv2d(64, 192, 5, padding=2)
        self.conv3 = nn.Conv2d(192, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 256, 3, padding=1)
        self.conv5 = nn.Conv2d(256, 256, 3, padding=1)
        self.add_classifier(256 * 6 * 6, hidden, num_classes)
        if init:
            self.reset_parameters(seed)

    @torch.no_grad()
    def reset_parameters(self, seed: int | None = 0) -> None:
        """PyTorch's default initialisation of each layer (what torchvision uses), drawn
        from ``seed`` (the global generator when None)."""
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(int(seed))
            for name in WEIGHT_LAYERS:
                getattr(self, name).reset_parameters()

    def steps(self) -> list[Step]:
        def pool(x: Tensor) -> Tensor:
            return F.max_pool2d(x, 3, 2)

        def drop(x: Tensor) -> Tensor:
            return F.dropout(x, DROPOUT, self.training)

        s: list[Step] = []
        if self.input_scale is not None:
            scale = self.input_scale
            s.append(Step("scale", "scale", lambda x: x / x.new_tensor(scale).view(1, 3, 1, 1)))
        s += [Step("conv1", "conv", self.conv1), Step("relu1", "relu", F.relu),
              Step("pool1", "pool", pool),
              Step("conv2", "conv", self.conv2), Step("relu2", "relu", F.relu),
              Step("pool2", "pool", pool)]
        for i in (3, 4, 5):
            s += [Step(f"conv{i}", "conv", getattr(self, f"conv{i}")),
                  Step(f"relu{i}", "relu", F.relu)]
        s += [Step("pool5", "pool", pool),
              Step("avgpool", "pool", lambda x: F.adaptive_avg_pool2d(x, (6, 6))),
              Step("flatten", "flatten", lambda x: x.flatten(1))]
        for i in (6, 7):
            s += [Step(f"drop{i}", "dropout", drop), Step(f"fc{i}", "fc", getattr(self, f"fc{i}")),
                  Step(f"relu{i}", "relu", F.relu)]
        s.append(Step("fc8", "fc", self.fc8))
        return s

    def param_groups(self) -> list[dict[str, Any]]:
        """torchvision's recipe (the 2012 update rule applies no decay to biases,
        torchvision's SGD did)."""
        return self.solver_groups(dict(_SOLVER), {**_SOLVER, "wc": 0.0})
