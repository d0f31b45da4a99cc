"""BVLC AlexNet and BVLC CaffeNet: Caffe's two ImageNet reference nets, in the port.

Both are Caffe's 2014 re-trainings of the paper's network (BVLC Caffe,
``models/bvlc_alexnet`` and ``models/bvlc_reference_caffenet``); their published weights
are read by :func:`alexnet.modern.importers.import_caffe`. The facts below are those of
Caffe's ``deploy.prototxt`` files and of its layer implementations:

==========  ===========================================  ======================
layer       operation                                    output (C, H, W)
==========  ===========================================  ======================
conv1       96 filters 11x11 stride 4, ReLU              96 x 55 x 55
norm1       LRN over all 96 maps (one window, no towers) 96 x 55 x 55
pool1       max 3x3 stride 2                             96 x 27 x 27
conv2       256 filters 5x5 pad 2, groups of 2, ReLU     256 x 27 x 27
norm2/pool2 as norm1/pool1                               256 x 13 x 13
conv3       384 filters 3x3 pad 1, ReLU                  384 x 13 x 13
conv4       384 filters 3x3 pad 1, groups of 2, ReLU     384 x 13 x 13
conv5       256 filters 3x3 pad 1, groups of 2, ReLU     256 x 13 x 13
pool5       max 3x3 stride 2                             256 x 6 x 6
fc6, fc7    4096 each, ReLU, dropout 0.5                 4096
fc8         1000 logits                                  1000
==========  ===========================================  ======================

* ``bvlc-alexnet`` normalises then pools (conv -> ReLU -> norm -> pool), as the paper;
  ``bvlc-caffenet`` pools then normalises (conv -> ReLU -> pool -> norm), the one
  difference between the two nets (``models/bvlc_reference_caffenet/readme.md``).
* Caffe's LRN (``lrn_layer.cpp``) divides each value by ``(k + alpha/n * sum)^beta``
  with the sum of squares over a window of ``n = local_size`` maps centred on the map,
  ``k = 1`` (the ``LRNParameter`` default; the prototxt sets only local_size 5,
  alpha 1e-4, beta 0.75). That is :func:`~alexnet.modern.layers.cross_map_lrn` with
  ``k=1`` and ``groups=1``: Caffe's window runs across the group boundary, unlike the
  2012 towers (definition 145 uses k = 2 and per-tower windows).
* Caffe's convolution counts output positions rounding down and its pooling rounding
  up; at 227x227 input every division is exact, so both rules agree here.
* Input: 227x227 crops of images stored at 256x256, Caffe's ImageNet mean subtracted,
  channels in BGR order (Caffe reads images with OpenCV). The port's data path hands
  every network RGB values minus the checkpoint's ``data/mean``; with
  ``rgb_input=True`` (the default) the net reverses the channels first, so conv1 keeps
  Caffe's blob unchanged and an imported checkpoint holds exactly the published numbers.
* Dropout is Caffe's: scaled by 1/(1 - ratio) while training, identity at test time.

Options: ``num_classes`` (fc8's outputs, 1000) and ``hidden`` (fc6/fc7 width, 4096) for
fine-tuning experiments and small test files; ``seed`` draws the initial weights with
Caffe's fillers of ``train_val.prototxt`` (Gaussian std 0.01, fc6/fc7 0.005; biases 0 in
conv1, conv3, fc8 and 0.1 (AlexNet) or 1 (CaffeNet) elsewhere); ``init=False`` skips the
draw for callers that load weights next.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexnet.layouts2012 import Piece
from alexnet.modern.layers import cross_map_lrn, pool2012
from alexnet.modern.steps import Step, StepNet

__all__ = ["BVLCNet", "CAFFE_ARCHS", "CAFFE_MEAN_BGR", "LRN", "WEIGHT_LAYERS"]

#: arch name -> the order of pooling and normalisation after conv1 and conv2
CAFFE_ARCHS: dict[str, str] = {"bvlc-alexnet": "norm-pool", "bvlc-caffenet": "pool-norm"}

#: per-channel mean (B, G, R) of Caffe's ILSVRC-2012 mean image
#: (``python/caffe/imagenet/ilsvrc_2012_mean.npy``, as printed by Caffe's classification
#: example notebook); the mean image itself can be given to the importer instead
CAFFE_MEAN_BGR: tuple[float, float, float] = (104.0069879317889, 116.66876761696767,
                                              122.6789143406786)

#: Caffe's LRN settings in both nets: local_size, alpha, beta, k
LRN: tuple[int, float, float, float] = (5, 1e-4, 0.75, 1.0)

WEIGHT_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")

#: Caffe's fillers (train_val.prototxt): layer -> (weight std, bias of AlexNet, of CaffeNet)
_FILLERS = {"conv1": (0.01, 0.0, 0.0), "conv2": (0.01, 0.1, 1.0), "conv3": (0.01, 0.0, 0.0),
            "conv4": (0.01, 0.1, 1.0), "conv5": (0.01, 0.1, 1.0), "fc6": (0.005, 0.1, 1.0),
            "fc7": (0.005, 0.1, 1.0), "fc8": (0.01, 0.0, 0.0)}

#: Caffe's solver for both nets (solver.prototxt, train_val.prototxt): base_lr 0.01,
#: momentum 0.9, weight_decay 0.0005; biases learn at twice the rate, without decay
_SOLVER = {"eps": 0.01, "mom": 0.9, "wc": 0.0005, "bias_lr_mult": 2.0}

DROPOUT_RATIO = 0.5


class BVLCNet(StepNet):
    """``bvlc-alexnet`` or ``bvlc-caffenet`` (see the module docstring)."""

    weight_layers = WEIGHT_LAYERS
    config_options = ("num_classes", "hidden", "rgb_input", "seed")

    def __init__(
        self,
        arch: str = "bvlc-alexnet",
        *,
        num_classes: int = 1000,
        hidden: int = 4096,
        rgb_input: bool = True,
        seed: int | None = 0,
        init: bool = True,
    ) -> None:
        super().__init__()
        if arch not in CAFFE_ARCHS:
            raise ValueError(f"arch must be one of {', '.join(CAFFE_ARCHS)}, not {arch!r}")
        self.arch = arch
        self.order = CAFFE_ARCHS[arch]
        self.rgb_input = bool(rgb_input)
        self.seed = seed
        self.input_shape = (3, 227, 227)
        self.cost = {"type": "cost.logreg", "coeff": 1.0, "topk": 5}
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.add_classifier(256 * 6 * 6, hidden, num_classes)
        if init:
            self.reset_parameters(seed)

    @torch.no_grad()
    def reset_parameters(self, seed: int | None = 0) -> None:
        """Caffe's Gaussian and constant fillers (global generator when ``seed`` is None)."""
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        col = 1 if self.arch == "bvlc-alexnet" else 2
        for name in WEIGHT_LAYERS:
            mod = getattr(self, name)
            mod.weight.normal_(0.0, _FILLERS[name][0], generator=gen)
            mod.bias.fill_(_FILLERS[name][col])

    def steps(self) -> list[Step]:
        size, alpha, beta, k = LRN

        def norm(x: Tensor) -> Tensor:
            return cross_map_lrn(x, size, alpha, beta, k)

        def pool(x: Tensor) -> Tensor:
            return pool2012(x, "max", 3, 2)

        def drop(x: Tensor) -> Tensor:
            return F.dropout(x, DROPOUT_RATIO, self.training)

        s: list[Step] = []
        if self.rgb_input:
            s.append(Step("bgr", "channels", lambda x: x.flip(1)))
        for i in (1, 2):
            s += [Step(f"conv{i}", "conv", getattr(self, f"conv{i}")),
                  Step(f"relu{i}", "relu", F.relu)]
            pair = [Step(f"norm{i}", "lrn", norm), Step(f"pool{i}", "pool", pool)]
            s += pair if self.order == "norm-pool" else pair[::-1]
        for i in (3, 4, 5):
            s += [Step(f"conv{i}", "conv", getattr(self, f"conv{i}")),
                  Step(f"relu{i}", "relu", F.relu)]
        s += [Step("pool5", "pool", pool), Step("flatten", "flatten", lambda x: x.flatten(1))]
        for i in (6, 7):
            s += [Step(f"fc{i}", "fc", getattr(self, f"fc{i}")),
                  Step(f"relu{i}", "relu", F.relu), Step(f"drop{i}", "dropout", drop)]
        s.append(Step("fc8", "fc", self.fc8))
        return s

    def param_groups(self) -> list[dict[str, Any]]:
        """Caffe's solver settings: biases learn at twice the rate, without decay."""
        return self.solver_groups(
            {"eps": _SOLVER["eps"], "mom": _SOLVER["mom"], "wc": _SOLVER["wc"]},
            {"eps": _SOLVER["eps"] * _SOLVER["bias_lr_mult"], "mom": _SOLVER["mom"],
             "wc": 0.0})

    # ----------------------------------------------------------------------------------
    # The 2012 side: layers-<arch>.cfg names the layers as the steps here

    def matrix_pieces(self) -> list[Piece]:
        """Each weight layer is one 2012 matrix of the same name (the cfg's groups hold
        Caffe's grouped blobs as they are). With ``rgb_input`` conv1's input channels are
        reversed: the net here flips RGB to BGR before Caffe's conv1, the cfg net reads
        RGB, and a convolution of flipped input is the convolution with flipped filters."""
        pieces = []
        for name in WEIGHT_LAYERS:
            kind = "conv" if name.startswith("conv") else "fc"
            cols = slice(None, None, -1) if name == "conv1" and self.rgb_input else slice(None)
            pieces.append(Piece(f"{name}.weights[0]", f"{name}.weights[0]", kind,
                                slice(None), cols))
            pieces.append(Piece(f"{name}.biases", f"{name}.biases", kind + "_bias"))
        return pieces

    def layers_2012(self) -> dict[str, tuple[str, ...]]:
        """Step name -> the layer of layers-<arch>.cfg that computes the same values (a
        ReLU is the 2012 ``<layer>_neuron`` of the layer it follows)."""
        out: dict[str, tuple[str, ...]] = {}
        last = ""
        for step in self.steps():
            if step.kind in ("conv", "fc"):
                last = step.name
                out[step.name] = (step.name,)
            elif step.kind == "relu":
                out[step.name] = (f"{last}_neuron",)
            elif step.kind in ("lrn", "pool"):
                out[step.name] = (step.name,)
        return out
