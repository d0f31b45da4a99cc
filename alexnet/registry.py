"""The project's facts, each written once: architectures, weight sets, backends, class lists.

Every part of the package that needs one of these facts reads it here: ``build_model``
and ``alexnet model list`` (which architectures exist and how each is built), the
verifier (which 2012 layer definition the engine runs for an architecture, which
reported figure a reproduced error is judged against, which bundled file a suite loads
and its checksum), the reproduction pipeline (the reported figures its report shows,
the weight files ``fetch`` gets), the ``--backend`` options of both implementations,
and the data code (the CIFAR-10 class names). Before this module the same facts lived
in four tables that had drifted apart.

Plain frozen dataclasses and tuples, no torch and no file access: importing the
registry is cheap, and a test checks it against the files it names
(``tests/test_registry.py``).

Architectures (:data:`ARCHS`)
    one :class:`ArchSpec` per name ``--arch`` accepts: how the port builds it (the
    hand-written :class:`~alexnet.modern.net2012.AlexNet2012` with a variant, or
    :class:`~alexnet.modern.cfgnet.CfgNet` from a bundled cfg pair), the bundled 2012
    layer definition the verifier runs against it (or why there is none), input and
    classes, preprocessing, and the figures its authors reported.
Weight sets (:data:`WEIGHTS`)
    one :class:`WeightSet` per set of trained weights the package knows: where the file
    comes from (bundled with its sha256, or a URL with a pinned checksum), its licence,
    the figures reported for it, and how its network differs from definition 145.
    The published ImageNet sets (BVLC AlexNet, BVLC reference CaffeNet, torchvision's
    AlexNet) are read by the importers of :mod:`alexnet.modern.importers`. Their facts
    come from BVLC Caffe's ``models/bvlc_alexnet/readme.md`` and
    ``models/bvlc_reference_caffenet/readme.md`` (file, URL, sha1, figures, differences
    from the paper, licence: "released for unrestricted use" since Caffe's commits of
    29 December 2014 and 7 January 2015, the first model-zoo readmes of August 2014 said
    non-commercial use) and from torchvision's ``AlexNet_Weights.IMAGENET1K_V1`` (URL,
    figures, 61,100,840 parameters; the file name carries the first 8 hex digits of its
    sha256, all torchvision publishes and checks). None of these files is bundled.
Backends (:data:`BACKENDS`)
    one vocabulary for "where the kernel layers' arithmetic runs", with what each name
    means for the 2012 re-creation and for the port, and the older names kept as aliases.
Class lists
    :data:`CIFAR10_CLASSES`; the ILSVRC-2012 output order
    (:func:`imagenet_class_order`): output i of every ImageNet network here is the i-th
    class in sorted WordNet-id order, never the devkit's ``ILSVRC2012_ID`` order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from alexnet.errors import BackendUnavailable, ConfigError

__all__ = [
    "Figure", "Recipe", "ArchSpec", "BundledFile", "Download", "WeightSet", "BackendSpec",
    "ARCHS", "WEIGHTS", "TEST_IMAGES", "BACKENDS", "CIFAR10_CLASSES", "CLASS_LISTS",
    "imagenet_class_order",
    "arch", "recipe", "reference_net", "weight_set", "weight_set_for_digest", "backend",
    "backend_names", "reported", "judged_figures",
    "reported_summary", "figures_summary", "cfg_nets",
]

# --------------------------------------------------------------------------------------
# Reported figures


@dataclass(frozen=True)
class Figure:
    """One published figure: a metric's value, how it was measured and who says so.

    ``band`` (absolute error rates) is the range in which the verifier accepts a
    reproduced figure, and ``reason`` why the band is as wide as it is; a figure without
    a band is shown beside reproduced ones but never judged.
    """

    metric: str                 # "top1_err" or "top5_err"
    value: float
    protocol: str               # data split, test views, number of nets
    source: str                 # publication and section, or file of a release
    cite: str = ""              # the same citation, short, for one-line messages
    time: str = ""              # training time the source states
    hardware: str = ""          # hardware the source names
    band: tuple[float, float] | None = None
    reason: str = ""


# --------------------------------------------------------------------------------------
# Training recipes


@dataclass(frozen=True)
class Recipe:
    """How the authors trained a network: what ``alexnet train`` does unless told otherwise.

    ``schedule`` names a preset of :data:`alexnet.modern.update.PRESETS` (the rules live
    there, once); ``source`` says where the recipe is written down.
    """

    epochs: int
    schedule: str
    test_views: int = 1
    final_views: int | None = None
    source: str = ""


# --------------------------------------------------------------------------------------
# Architectures


@dataclass(frozen=True)
class ArchSpec:
    """One network of the port, by the name ``--arch`` and ``build_model`` take."""

    name: str
    description: str
    builder: str                # "module" (AlexNet2012), "cfg" (CfgNet from a cfg pair) or
    #                             "named" (the port's class for this name, found by
    #                             alexnet.modern.build: the imported weights' layouts)
    variant: str | None         # AlexNet2012 variant, for builder "module"
    cfg_net: str | None         # bundled cfg pair layers-<net>.cfg, for builder "cfg"
    reference_net: str | None   # the bundled 2012 definition the verifier runs against it
    no_reference: str           # why reference_net is None ("" when there is one)
    input_shape: tuple[int, int, int]
    classes: int
    preprocessing: str
    reported: tuple[Figure, ...] = ()
    recipe: Recipe | None = None


_IMAGENET_PREP = ("ILSVRC-2012 images stored at 256x256 (shorter side 256, centre crop), "
                  "the training mean image subtracted; training takes random 224x224 "
                  "crops and their mirrors with PCA colour noise, testing the centre crop "
                  "or 10 views (four corners and centre, and their mirrors)")
_CIFAR32_PREP = ("CIFAR-10 32x32 images, the training mean image subtracted; the whole "
                 "image is the input (one test view)")
_CIFAR24_PREP = ("CIFAR-10 32x32 images, the training mean image subtracted; training "
                 "takes random 24x24 crops and their mirrors, testing the centre crop or "
                 "averages crops and mirrors (9 views)")
_ONE_GTX580_2011 = "one GTX 580 (2011)"
_BVLC_PREP = ("images warped to 256x256 (Caffe's ImageNet recipe), Caffe's mean image "
              "subtracted, BGR channels, centre 227x227 crop; the port stores the shorter "
              "side at 256 and crops the centre square, and the net reverses the channels")
_TV_PREP = ("RGB scaled to [0, 1], normalised with mean (0.485, 0.456, 0.406) and std "
            "(0.229, 0.224, 0.225), shorter side 256, centre 224x224 crop; the port feeds "
            "0-255 values minus 255 x the mean and the net divides by 255 x the std")


_RECIPE_145 = Recipe(90, "alexnet2012", test_views=1, final_views=10,
                     source="layer-params-145 notes, run4.sh; paper section 6 (10 views)")
_RECIPE_80SEC = Recipe(10, "cifar10-80sec",
                       source="layer-params-80sec.cfg of the 2011 release (rates / 10 after "
                              "8 epochs, about 10 epochs in all)")
_RECIPE_18PCT = Recipe(140, "cifar10-18pct",
                       source="layer-params-18pct.cfg of the 2011 release (rates / 10 after "
                              "120 and 130 epochs)")
_RECIPE_11PCT = Recipe(520, "cifar10-conv-local-11pct", test_views=1, final_views=9,
                       source="layer-params-conv-local-11pct.cfg notes of the 2011 release "
                              "(all 50,000 images for 500 epochs, then epsW 0.0001 and "
                              "0.00001 for 10 epochs each; 9-view test)")

_PAPER = "Krizhevsky, Sutskever, Hinton, NIPS 2012, section 6 (ILSVRC-2012 val, 1 CNN)"
_PAPER_PROTOCOL = ("ILSVRC-2012 validation set (50,000 images), one CNN, predictions "
                   "averaged over 10 views (four corners and centre, and their mirrors)")
_PAPER_BAND_REASON = "10-view testing on ILSVRC-2012 val; ties counted fractionally"
_CIFAR_PROTOCOL = "CIFAR-10 test set (10,000 images), one view"

_ARCH_LIST: tuple[ArchSpec, ...] = (
    ArchSpec(
        "alexnet2012", "def 145, the paper's single net (2012 code), hand-written module",
        "module", "code", None, "145", "", (3, 224, 224), 1000, _IMAGENET_PREP, recipe=_RECIPE_145,
        reported=(
            Figure("top1_err", 0.407, _PAPER_PROTOCOL, _PAPER,
                   cite="paper §6, ILSVRC-2012 val, 1 CNN", time="five to six days",
                   hardware="two GTX 580 (2012)", band=(0.38, 0.45),
                   reason=_PAPER_BAND_REASON),
            Figure("top5_err", 0.182, _PAPER_PROTOCOL, _PAPER,
                   cite="paper §6, ILSVRC-2012 val, 1 CNN", time="five to six days",
                   hardware="two GTX 580 (2012)", band=(0.16, 0.21),
                   reason=_PAPER_BAND_REASON),
        )),
    ArchSpec(
        "alexnet2012-paper", "the same network as the paper's text describes it",
        "module", "paper", None, None,
        "the paper's text is not a 2012 layer definition and computes another function "
        "than definition 145: ReLU before the first LRN, the LRN's alpha not divided by "
        "the window, no same-map normalisation after conv2; use alexnet2012 or "
        "alexnet2012-cfg",
        (3, 224, 224), 1000, _IMAGENET_PREP, recipe=_RECIPE_145),
    ArchSpec(
        "alexnet2012-cfg", "def 145 built layer by layer from the cfg (2012 layer names)",
        "cfg", None, "145", "145", "", (3, 224, 224), 1000, _IMAGENET_PREP,
        recipe=_RECIPE_145),
    ArchSpec(
        "cifar10-80sec", "2011 CIFAR-10 example: 26% error in 80 s",
        "cfg", None, "80sec", "80sec", "", (3, 32, 32), 10, _CIFAR32_PREP, recipe=_RECIPE_80SEC,
        reported=(Figure(
            "top1_err", 0.26, _CIFAR_PROTOCOL,
            "header of example-layers/layers-80sec.cfg, cuda-convnet 2011 release",
            time="80 s", hardware=_ONE_GTX580_2011, band=(0.23, 0.31),
            reason="same cfg and recipe (10 epochs, every rate divided by 10 after epoch "
                   "8), but one seeded CPU run on the JPEG-q75 re-encoded CIFAR-10 copy (a "
                   "little harder than the official files) and one test view: allow 3 "
                   "points below and 5 above for the copy and run-to-run spread"),)),
    ArchSpec(
        "cifar10-18pct", "2011 CIFAR-10 example: 18% error",
        "cfg", None, "18pct", "18pct", "", (3, 32, 32), 10, _CIFAR32_PREP, recipe=_RECIPE_18PCT,
        reported=(Figure(
            "top1_err", 0.18, _CIFAR_PROTOCOL,
            "header of example-layers/layers-18pct.cfg, cuda-convnet 2011 release",
            time="20 min", hardware=_ONE_GTX580_2011, band=(0.15, 0.23),
            reason="same cfg and recipe (140 epochs, every rate divided by 10 after epochs "
                   "120 and 130), but one seeded CPU run on the JPEG-q75 re-encoded CIFAR-10 "
                   "copy (a little harder than the official files) and one test view: the "
                   "same allowance as the 80sec net, 3 points below and 5 above"),)),
    ArchSpec(
        "cifar10-19pct", "2011 CIFAR-10 example: 19% error",
        "cfg", None, "19pct", "19pct", "", (3, 32, 32), 10, _CIFAR32_PREP),
    ArchSpec(
        "cifar10-conv-local-13pct", "2011 CIFAR-10 example with local layers: 13% error",
        "cfg", None, "conv-local-13pct", "conv-local-13pct", "", (3, 24, 24), 10,
        _CIFAR24_PREP),
    ArchSpec(
        "cifar10-conv-local-11pct", "2011 CIFAR-10 example with local layers: 11% error",
        "cfg", None, "conv-local-11pct", "conv-local-11pct", "", (3, 24, 24), 10,
        _CIFAR24_PREP, recipe=_RECIPE_11PCT,
        reported=(Figure(
            "top1_err", 0.11,
            "CIFAR-10 test set (10,000 images), averaged over crops and mirrors of the "
            "24x24 input",
            "example-layers/layer-params-conv-local-11pct.cfg notes, cuda-convnet 2011 "
            "release",
            hardware=_ONE_GTX580_2011),)),
    ArchSpec(
        "summer-120", "summer-2012 competition family, def 120 (low-res side path, cnorm)",
        "cfg", None, "120", "120", "", (3, 224, 224), 1000, _IMAGENET_PREP),
    ArchSpec(
        "summer-131", "summer-2012 family, def 131 (LRN before pool1)",
        "cfg", None, "131", "131", "", (3, 224, 224), 1000, _IMAGENET_PREP),
    ArchSpec(
        "summer-135", "summer-2012 family, def 135 (LRN k = 2)",
        "cfg", None, "135", "135", "", (3, 224, 224), 1000, _IMAGENET_PREP),
    ArchSpec(
        "summer-137", "summer-2012 family, def 137 (rnorm instead of cnorm)",
        "cfg", None, "137", "137", "", (3, 224, 224), 1000, _IMAGENET_PREP),
    ArchSpec(
        name="bvlc-alexnet", description="BVLC AlexNet (Caffe, 2014): norm before pool, "
        "groups of 2, 227 input", builder="named", variant=None, cfg_net=None,
        reference_net="bvlc-alexnet", no_reference="",
        input_shape=(3, 227, 227), classes=1000, preprocessing=_BVLC_PREP),
    ArchSpec(
        name="bvlc-caffenet", description="BVLC CaffeNet (Caffe, 2014): pool before norm, "
        "groups of 2, 227 input", builder="named", variant=None,
        cfg_net=None, reference_net="bvlc-caffenet", no_reference="",
        input_shape=(3, 227, 227), classes=1000, preprocessing=_BVLC_PREP),
    ArchSpec(
        name="alexnet-owt", description="torchvision's one-tower AlexNet (2014), 224 input, "
        "no LRN", builder="named", variant=None, cfg_net=None,
        reference_net=None,
        no_reference="a 2014 network; the 2012 code has no definition of it",
        input_shape=(3, 224, 224), classes=1000, preprocessing=_TV_PREP),
)

#: every architecture by name, in listing order
ARCHS: dict[str, ArchSpec] = {a.name: a for a in _ARCH_LIST}


def arch(name: str) -> ArchSpec:
    """The spec of architecture ``name`` (ConfigError naming the known ones otherwise)."""
    try:
        return ARCHS[name]
    except KeyError:
        raise ConfigError(f"unknown arch {name!r} (known: {', '.join(ARCHS)})") from None


def recipe(arch_name: str) -> Recipe | None:
    """The authors' training recipe of ``arch_name``; None for a net without one (or a
    name the registry does not know, such as a test's toy net)."""
    spec = ARCHS.get(arch_name)
    return spec.recipe if spec is not None else None


def reference_net(arch_name: str) -> str:
    """The bundled 2012 definition run against an architecture: one answer for the
    verifier and the pipeline's evaluate stage (ConfigError saying why when there is
    none)."""
    spec = arch(arch_name)
    if spec.reference_net is None:
        raise ConfigError(f"no 2012 reference for arch {arch_name!r} ({spec.no_reference})")
    return spec.reference_net


def cfg_nets() -> tuple[str, ...]:
    """Every bundled cfg net an architecture is built from or verified against."""
    nets = [a.cfg_net for a in _ARCH_LIST if a.cfg_net] + [
        a.reference_net for a in _ARCH_LIST if a.reference_net]
    return tuple(dict.fromkeys(nets))


def reported(arch_name: str) -> tuple[Figure, ...]:
    """The figures reported for an architecture (empty for an unknown name)."""
    spec = ARCHS.get(arch_name)
    return spec.reported if spec is not None else ()


def judged_figures() -> dict[str, list[Figure]]:
    """Architecture -> the reported figures that carry a band (what the verifier judges)."""
    out: dict[str, list[Figure]] = {}
    for a in _ARCH_LIST:
        figs = [f for f in a.reported if f.band is not None]
        if figs:
            out[a.name] = figs
    return out


def reported_summary(arch_name: str) -> dict[str, object]:
    """The reported figures of an architecture as one flat mapping, for reports:
    ``{"top1_err", "top5_err", "time", "hardware", "source"}`` (keys present only where
    the source states them)."""
    return figures_summary(reported(arch_name))


def figures_summary(figs: tuple[Figure, ...]) -> dict[str, object]:
    """Reported figures (of an architecture, or of a weight set) as one flat mapping."""
    out: dict[str, object] = {f.metric: f.value for f in figs}
    if figs:
        first = figs[0]
        out.update({"time": first.time, "hardware": first.hardware, "source": first.source})
    return out


# --------------------------------------------------------------------------------------
# Weight sets


@dataclass(frozen=True)
class BundledFile:
    """A file shipped inside the package, in ``verify/bundled/`` (package data of
    ``alexnet.verify``)."""

    file: str
    sha256: str


@dataclass(frozen=True)
class Download:
    """A file fetched from ``url`` and accepted only with its pinned digest(s)."""

    file: str
    url: str
    digests: tuple[tuple[str, str], ...]   # (algorithm, hex digest), e.g. ("sha1", "...")


@dataclass(frozen=True)
class WeightSet:
    """One set of trained weights the package knows."""

    name: str
    arch: str | None            # the port architecture that reads it (None: none yet)
    about: str
    source: BundledFile | Download
    licence: str
    differs_from_145: str
    reported: tuple[Figure, ...] = ()
    provenance: str = ""        # where the training record is kept
    note: str = ""


_CIFAR_BUNDLED_DIFF = ("another network: a 2011 CIFAR-10 example net (32x32 input, 10 "
                       "classes, one GPU, no towers), not the ImageNet definition 145")
_PROJECT_LICENCE = "BSD-2-Clause (the project's own training run)"
_BVLC_PROTOCOL = "ILSVRC-2012 validation set (50,000 images), centre 227x227 crop only"
_TV_PROTOCOL = ("ILSVRC-2012 validation set (50,000 images), shorter side resized to 256 "
                "(bilinear), centre 224x224 crop, one view")
_BVLC_LICENCE = ("released for unrestricted use (BVLC Caffe, models/{dir}/readme.md, "
                 "since January 2015; the first model-zoo readmes of 2014 said "
                 "non-commercial use only, after ImageNet's terms of access); not bundled")

_WEIGHT_LIST: tuple[WeightSet, ...] = (
    WeightSet(
        "cifar10-80sec", "cifar10-80sec",
        "the 80sec net trained by the project's pipeline (10 epochs, seed 0)",
        BundledFile("cifar10-80sec.safetensors",
                    "9e7f6fb6733e68c5c9ebe4472d1fe11b0669871ecec4c8c4275b6c3a4c0a464c"),
        _PROJECT_LICENCE, _CIFAR_BUNDLED_DIFF,
        reported=(Figure("top1_err", 0.2746, _CIFAR_PROTOCOL + ", JPEG-q75 copy",
                         "bundled/cifar10-80sec.json (the run's final test)"),),
        provenance="bundled/cifar10-80sec.json"),
    WeightSet(
        "cifar10-18pct", "cifar10-18pct",
        "the 18pct net trained by the project's pipeline to its full 2011 recipe "
        "(140 epochs, seed 0)",
        BundledFile("cifar10-18pct.safetensors",
                    "d4b018d3a23afd7012193a085fcc047e421f9bf9a2dd5222dae92405645bc8be"),
        _PROJECT_LICENCE, _CIFAR_BUNDLED_DIFF,
        reported=(Figure("top1_err", 0.2103, _CIFAR_PROTOCOL + ", JPEG-q75 copy",
                         "bundled/cifar10-18pct.json (the run's final test)"),),
        provenance="bundled/cifar10-18pct.json"),
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

#: every weight set by name
WEIGHTS: dict[str, WeightSet] = {w.name: w for w in _WEIGHT_LIST}


#: test images bundled for the verifier's suites (one CIFAR-10 test image per class),
#: with their provenance beside them (``bundled/<name>.json``)
TEST_IMAGES: dict[str, BundledFile] = {
    "cifar10-sample": BundledFile(
        "cifar10-sample.npy",
        "e581750719c2c18c031e4e5af2d7c7df1a6c1b5eaec76aefdf8d8b79211b7a86"),
}


def weight_set_for_digest(algo: str, digest: str) -> WeightSet | None:
    """The weight set whose pinned ``algo`` digest is ``digest``, or None. A pin of
    algorithm ``sha256-prefix`` (all torchvision publishes: the first hex digits of the
    file's sha256, in its name) matches a full sha256 that starts with it."""
    for ws in WEIGHTS.values():
        if not isinstance(ws.source, Download):
            continue
        for a, d in ws.source.digests:
            if (a, d) == (algo, digest) or (
                    a == "sha256-prefix" and algo == "sha256" and digest.startswith(d)):
                return ws
    return None


def weight_set(name: str) -> WeightSet:
    """The weight set ``name`` (ConfigError naming the known ones otherwise)."""
    try:
        return WEIGHTS[name]
    except KeyError:
        raise ConfigError(f"no weights {name!r} (known: {', '.join(WEIGHTS)})") from None


# --------------------------------------------------------------------------------------
# Backends


@dataclass(frozen=True)
class BackendSpec:
    """Where the kernel layers' arithmetic runs (conv, local, pooling, normalisations).

    ``engine`` names the re-creation's implementation (``"numpy"``: the numpy reference;
    ``"kernels"``: the cuda/ kernels through their numpy bindings; None: not available)
    and ``port`` the port's (``"torch"``: PyTorch's own operators; ``"kernels"``: the
    cuda/ kernels through their torch bindings). Everything else (fc, neurons, softmax,
    costs) stays in numpy / PyTorch under every backend, as it was plain matrix code in
    2012.
    """

    name: str
    summary: str
    recreation: str
    port_meaning: str
    engine: str | None
    port: str
    needs_gpu: bool = False
    aliases: tuple[str, ...] = field(default=())


_BACKEND_LIST: tuple[BackendSpec, ...] = (
    BackendSpec(
        "numpy", "each implementation's own reference arithmetic",
        "the numpy reference operators in the 2012 memory layout "
        "(alexnet.original.ops_numpy)",
        "PyTorch's own operators (the port's default)",
        engine="numpy", port="torch", aliases=("torch",)),
    BackendSpec(
        "emulated", "the project's cuda/ kernels, executed on the CPU by the device emulation",
        "the kernels through alexnet.cuda.bindings_numpy, on the emulation host (needs a "
        "C++ compiler to build it)",
        "the kernels through alexnet.cuda.bindings_torch; on CPU tensors they run under "
        "the emulation",
        engine="kernels", port="kernels", aliases=("cuda-convnet",)),
    BackendSpec(
        "cuda", "the project's cuda/ kernels on an NVIDIA GPU",
        "not available: the engine has no GPU host (its kernel backend runs the emulation)",
        "the kernels through alexnet.cuda.bindings_torch on CUDA tensors (the nvcc build)",
        engine=None, port="kernels", needs_gpu=True),
)

#: every backend by canonical name
BACKENDS: dict[str, BackendSpec] = {b.name: b for b in _BACKEND_LIST}
_ALIASES: dict[str, str] = {a: b.name for b in _BACKEND_LIST for a in b.aliases}


def backend_names(*, aliases: bool = True) -> tuple[str, ...]:
    """The names ``--backend`` accepts: canonical first, then the kept aliases."""
    return tuple(BACKENDS) + (tuple(_ALIASES) if aliases else ())


def backend(name: str) -> BackendSpec:
    """The backend ``name`` or one of its aliases; BackendUnavailable for an unknown one."""
    spec = BACKENDS.get(_ALIASES.get(name, name))
    if spec is None:
        raise BackendUnavailable(f"unknown backend {name!r} (known: {', '.join(BACKENDS)}; "
                                 f"aliases: {', '.join(_ALIASES)})")
    return spec


# --------------------------------------------------------------------------------------
# Class lists

#: CIFAR-10's classes in label order (Krizhevsky 2009; the order of batches.meta)
CIFAR10_CLASSES: tuple[str, ...] = ("airplane", "automobile", "bird", "cat", "deer", "dog",
                                    "frog", "horse", "ship", "truck")

#: The official CIFAR-10 python tarball: its canonical file name and its published md5.
CIFAR10_PYTHON_NAME = "cifar-10-python.tar.gz"
CIFAR10_PYTHON_MD5 = "c58f30108f718f92721af3b95e74349a"

#: data set name -> its class names in label order
CLASS_LISTS: dict[str, tuple[str, ...]] = {"cifar10": CIFAR10_CLASSES}


def imagenet_class_order(wnids: Iterable[str]) -> list[str]:
    """ILSVRC-2012 classes in the order of a network's outputs: sorted WordNet ids.

    The one rule for ImageNet labels, because two numberings exist. BVLC's caffemodels
    (Caffe's ``synset_words.txt``, label i = line i), torchvision's weights and the
    port's image-folder loader (sorted ``<wnid>/`` folder names) all number the classes
    by sorted wnid: output 0 is ``n01440764``. The devkit's ``ILSVRC2012_ID`` (1..1000,
    the labels of its validation ground truth) follows the WordNet hierarchy instead;
    it is a look-up key (``classes.tsv`` keeps it beside each wnid), never an output
    index. The devkit reader, ``alexnet imagenet prepare``'s class file and the
    importers' class-file check all order classes with this function.
    """
    return sorted(wnids)
