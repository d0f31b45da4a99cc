"""The published weight sets the importers read, and the architectures they need.

Entries in the registry's own types (:class:`alexnet.registry.WeightSet`,
:class:`~alexnet.registry.ArchSpec`), kept here until they join :mod:`alexnet.registry`
(the one home of such facts); :func:`all_weight_sets` shows the registry's sets and these
together, these taking precedence by name.

Facts and their sources:

* ``bvlc-alexnet`` / ``bvlc-caffenet``: BVLC Caffe, ``models/bvlc_alexnet/readme.md`` and
  ``models/bvlc_reference_caffenet/readme.md`` (file name, URL, sha1, the figures, the
  differences from the paper, the licence). The licence line of both readmes reads "This
  model is released for unrestricted use." since Caffe's commits of 29 December 2014 and
  7 January 2015; the first model-zoo readmes (August 2014) said "this model is
  distributed under a non-commercial license", following ImageNet's terms of access.
  The files are never bundled: a user fetches them.
* ``torchvision-alexnet``: torchvision's ``AlexNet_Weights.IMAGENET1K_V1`` (URL, the
  figures, 61,100,840 parameters); the file name carries the first 8 hex digits of the
  file's sha256, which is all torchvision publishes and checks; torchvision's docs say
  its pre-trained models "may have their own licenses or terms and conditions derived
  from the dataset used for training".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from alexnet import registry
from alexnet.errors import ConfigError
from alexnet.modern.caffenets import CAFFE_ARCHS, BVLCNet
from alexnet.modern.owt import AlexNetOWT
from alexnet.registry import ArchSpec, Download, Figure, WeightSet

__all__ = ["WEIGHTS", "ARCHS", "BUILDERS", "build_pretrained_arch", "all_weight_sets",
           "weight_set_for_digest"]

_BVLC_PROTOCOL = "ILSVRC-2012 validation set (50,000 images), centre 227x227 crop only"
_TV_PROTOCOL = ("ILSVRC-2012 validation set (50,000 images), shorter side resized to 256 "
                "(bilinear), centre 224x224 crop, one view")
_BVLC_LICENCE = ("released for unrestricted use (BVLC Caffe, models/{dir}/readme.md, "
                 "since January 2015; the first model-zoo readmes of 2014 said "
                 "non-commercial use only, after ImageNet's terms of access); not bundled")
_BVLC_PREP = ("images warped to 256x256 (Caffe's ImageNet recipe), Caffe's mean image "
              "subtracted, BGR channels, centre 227x227 crop; the port stores the shorter "
              "side at 256 and crops the centre square, and the net reverses the channels")
_TV_PREP = ("RGB scaled to [0, 1], normalised with mean (0.485, 0.456, 0.406) and std "
            "(0.229, 0.224, 0.225), shorter side 256, centre 224x224 crop; the port feeds "
            "0-255 values minus 255 x the mean and the net divides by 255 x the std")

_WEIGHT_LIST: tuple[WeightSet, ...] = (
    WeightSet(
        name="bvlc-alexnet", arch="bvlc-alexnet",
        about="BVLC AlexNet (Caffe model zoo); the 2012 layout, trained again in 2014",
        source=Download("bvlc_alexnet.caffemodel",
                        "http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel",
                        (("sha1", "9116a64c0fbe4459d18f4bb6b56d647b63920377"),)),
        licence=_BVLC_LICENCE.format(dir="bvlc_alexnet"),
        differs_from_145=(
            "Caffe's replication of the paper's network: one process with groups of 2 in "
            "conv2, conv4 and conv5 where definition 145 has two GPUs (the same "
            "connections); 227x227 input; ReLU before each LRN; LRN k = 1 with one window "
            "across both groups (145: k = 2, per tower); no same-map normalisation after "
            "conv2; Caffe's inverted dropout; trained without the PCA colour noise, "
            "non-zero biases started at 0.1 instead of 1"),
        reported=(
            Figure("top1_err", 0.429, _BVLC_PROTOCOL,
                   "BVLC Caffe, models/bvlc_alexnet/readme.md (top-1 accuracy 57.1%)"),
            Figure("top5_err", 0.198, _BVLC_PROTOCOL,
                   "BVLC Caffe, models/bvlc_alexnet/readme.md (top-5 accuracy 80.2%)"),
        ),
        provenance="iteration 360,000 snapshot, trained by Evan Shelhamer"),
    WeightSet(
        name="bvlc-caffenet", arch="bvlc-caffenet",
        about="BVLC reference CaffeNet (Caffe model zoo): AlexNet with pooling before "
              "normalisation",
        source=Download("bvlc_reference_caffenet.caffemodel",
                        "http://dl.caffe.berkeleyvision.org/bvlc_reference_caffenet.caffemodel",
                        (("sha1", "4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46"),)),
        licence=_BVLC_LICENCE.format(dir="bvlc_reference_caffenet"),
        differs_from_145=(
            "as bvlc-alexnet (groups of 2, 227x227 input, ReLU before LRN, LRN k = 1 "
            "across both groups, no same-map normalisation, no PCA colour noise), and "
            "each of the first two layers pools before it normalises "
            "(conv -> ReLU -> pool -> LRN); biases started at 1 as in the paper"),
        reported=(
            Figure("top1_err", 0.426, _BVLC_PROTOCOL,
                   "BVLC Caffe, models/bvlc_reference_caffenet/readme.md (top-1 accuracy "
                   "57.4%)"),
            Figure("top5_err", 0.196, _BVLC_PROTOCOL,
                   "BVLC Caffe, models/bvlc_reference_caffenet/readme.md (top-5 accuracy "
                   "80.4%)"),
        ),
        provenance="iteration 310,000 snapshot, trained by Jeff Donahue"),
    WeightSet(
        name="torchvision-alexnet", arch="alexnet-owt",
        about="torchvision's AlexNet weights (AlexNet_Weights.IMAGENET1K_V1): the one-tower "
              "2014 variant",
        source=Download("alexnet-owt-7be5be79.pth",
                        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                        (("sha256-prefix", "7be5be79"),)),
        licence=("not stated for the file; torchvision's docs: pre-trained models may have "
                 "their own licenses or terms derived from the dataset used for training "
                 "(ImageNet: non-commercial research and education); not bundled"),
        differs_from_145=(
            "another network: one tower (64, 192, 384, 256, 256 kernels), conv1 with "
            "padding 2 on 224x224 input and PyTorch's round-down sizes, no response "
            "normalisation, ReLU before every pooling, dropout before fc6 and fc7, an "
            "adaptive average pool to 6x6; 61,100,840 parameters"),
        reported=(
            Figure("top1_err", 0.43478, _TV_PROTOCOL,
                   "torchvision AlexNet_Weights.IMAGENET1K_V1 (acc@1 56.522)"),
            Figure("top5_err", 0.20934, _TV_PROTOCOL,
                   "torchvision AlexNet_Weights.IMAGENET1K_V1 (acc@5 79.066)"),
        ),
        provenance="torchvision references/classification: SGD lr 0.01, momentum 0.9, "
                   "weight decay 1e-4, 90 epochs"),
)

#: the weight sets the importers know, by name
WEIGHTS: dict[str, WeightSet] = {w.name: w for w in _WEIGHT_LIST}

_ARCH_LIST: tuple[ArchSpec, ...] = (
    ArchSpec(
        name="bvlc-alexnet", description="BVLC AlexNet (Caffe, 2014): norm before pool, "
        "groups of 2, 227 input", builder="pretrained", variant="bvlc-alexnet", cfg_net=None,
        reference_net=None, no_reference="no cfg pair written for Caffe's layout yet",
        input_shape=(3, 227, 227), classes=1000, preprocessing=_BVLC_PREP),
    ArchSpec(
        name="bvlc-caffenet", description="BVLC CaffeNet (Caffe, 2014): pool before norm, "
        "groups of 2, 227 input", builder="pretrained", variant="bvlc-caffenet",
        cfg_net=None, reference_net=None,
        no_reference="no cfg pair written for Caffe's layout yet",
        input_shape=(3, 227, 227), classes=1000, preprocessing=_BVLC_PREP),
    ArchSpec(
        name="alexnet-owt", description="torchvision's one-tower AlexNet (2014), 224 input, "
        "no LRN", builder="pretrained", variant="alexnet-owt", cfg_net=None,
        reference_net=None,
        no_reference="a 2014 network; the 2012 code has no definition of it",
        input_shape=(3, 224, 224), classes=1000, preprocessing=_TV_PREP),
)

#: the architectures the imported weights need, by name
ARCHS: dict[str, ArchSpec] = {a.name: a for a in _ARCH_LIST}


def _build_caffe(arch: str) -> Callable[..., nn.Module]:
    def build(**options: Any) -> nn.Module:
        return BVLCNet(arch, **options)
    return build


#: arch -> a function building it from its options (``model.config`` minus ``arch``)
BUILDERS: dict[str, Callable[..., nn.Module]] = {
    **{a: _build_caffe(a) for a in CAFFE_ARCHS},
    "alexnet-owt": lambda **options: AlexNetOWT(**options),
}


def build_pretrained_arch(arch: str, **options: Any) -> nn.Module:
    """Build one of :data:`ARCHS`; ``build_pretrained_arch(**model.config)`` rebuilds a
    model (a ``build=`` for :func:`alexnet.modern.checkpoint.build_for`)."""
    try:
        builder = BUILDERS[arch]
    except KeyError:
        raise ConfigError(f"unknown arch {arch!r} (known here: {', '.join(BUILDERS)})"
                          ) from None
    try:
        return builder(**options)
    except TypeError as exc:
        raise ConfigError(f"arch {arch!r}: {exc}") from None


def all_weight_sets() -> dict[str, WeightSet]:
    """The registry's weight sets and these, these replacing same-named ones."""
    return {**registry.WEIGHTS, **WEIGHTS}


def weight_set_for_digest(algo: str, digest: str) -> WeightSet | None:
    """The known weight set whose pinned ``algo`` digest is ``digest`` (prefix digests
    match the start of a full sha256), or None."""
    for ws in all_weight_sets().values():
        src = ws.source
        if not isinstance(src, Download):
            continue
        for a, d in src.digests:
            if a == algo and d == digest:
                return ws
            if a == "sha256-prefix" and algo == "sha256" and digest.startswith(d):
                return ws
    return None
