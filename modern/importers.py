"""Published AlexNet weights -> a normal checkpoint of the port.

:func:`import_caffe` reads a ``.caffemodel`` (BVLC AlexNet or BVLC CaffeNet, current or
legacy V1 format; :mod:`alexnet.modern.caffemodel`), :func:`import_torchvision` a
torchvision state dict (``torch.load(..., weights_only=True)`` and nothing else: a file
carrying pickled code is refused without running it). Both write the checkpoint every
other command reads (:func:`alexnet.modern.checkpoint.save_checkpoint`): the weights
under ``model/``, the mean the data path subtracts under ``data/mean`` (a 256x256 RGB
image, as for a trained run), and a config saying where the weights came from, with the
file's checksums and the known weight set they match.

Checks, each a one-line :class:`~alexnet.errors.AlexNetError` before anything is written:

* a file carrying the name of a known weight set must carry its pinned checksum
  (:class:`~alexnet.errors.ChecksumError` naming both), so a truncated or tampered
  download is not imported; a file of another name is imported as "unpinned";
* every layer of the architecture must be present with the right type, parameters and
  blob shapes, the file may hold no weights the architecture has no place for, and the
  order of pooling and normalisation tells AlexNet from CaffeNet: the message names the
  layer or blob that does not fit and why;
* the output folder must not already hold a checkpoint (nothing is overwritten).
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from alexnet.download import cache_root
from alexnet.errors import CheckpointError, ChecksumError, ConfigError, DataError
from alexnet.io import file_digests
from alexnet.modern.build import build_model
from alexnet.modern.caffemodel import Blob, CaffeNet, read_blobproto, read_caffemodel
from alexnet.modern.caffenets import CAFFE_ARCHS, CAFFE_MEAN_BGR, LRN
from alexnet.modern.checkpoint import find_checkpoint, save_checkpoint
from alexnet.modern.owt import TORCHVISION_MEAN, TORCHVISION_NAMES
from alexnet.registry import WEIGHTS, Download, imagenet_class_order, weight_set_for_digest

__all__ = ["ImportResult", "import_caffe", "import_torchvision", "caffe_layer_plan",
           "read_class_file", "MEAN_SIZE", "imported_dir", "resolve_weights"]

#: side of the stored images and of the mean image an imported checkpoint carries
MEAN_SIZE = 256


@dataclass
class ImportResult:
    checkpoint: Path              # the checkpoint JSON written
    arch: str
    weight_set: str | None        # the known weight set the file's checksum matched
    digests: dict[str, str]
    parameters: int
    mapped: list[str] = field(default_factory=list)   # "source -> state-dict key"

    def as_dict(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "arch": self.arch,
                "weight_set": self.weight_set, "digests": self.digests,
                "parameters": self.parameters, "mapped": self.mapped}


# --------------------------------------------------------------------------------------
# Where imported weight sets live


def imported_dir(name: str, cache_dir: str | Path | None = None) -> Path:
    """The folder an import of the known weight set ``name`` goes to by default
    (``<cache>/weights/<name>``), so that ``--weights NAME`` finds it afterwards."""
    return cache_root(cache_dir) / "weights" / name


def _import_hint(name: str) -> str:
    ws = WEIGHTS[name]
    kind = "torchvision" if ws.arch == "alexnet-owt" else "caffe"
    src = ws.source
    where = f"{src.file} from {src.url}" if isinstance(src, Download) else src.file
    return f"get {where}, then run `alexnet weights import {kind} {src.file}`"


def resolve_weights(name_or_dir: str | Path, cache_dir: str | Path | None = None) -> Path:
    """A checkpoint path for ``--weights``: an existing file or folder as it is, or the
    import of a known weight set by its name (ConfigError saying how to import it when
    it has not been, or naming the known sets for an unknown name)."""
    p = Path(name_or_dir).expanduser()
    if p.exists():
        return p
    name = str(name_or_dir)
    if name not in WEIGHTS:
        raise ConfigError(f"--weights {name!r}: no such checkpoint file or folder, and no "
                          f"known weight set of that name (known: {', '.join(WEIGHTS)})")
    if not isinstance(WEIGHTS[name].source, Download):
        raise ConfigError(f"--weights {name!r}: these weights ship inside the package for "
                          "the verifier (alexnet verify); give a run folder or an imported "
                          "checkpoint instead")
    folder = imported_dir(name, cache_dir)
    try:
        find_checkpoint(folder)
    except CheckpointError:
        raise ConfigError(f"--weights {name!r}: not imported here ({folder} holds no "
                          f"checkpoint); {_import_hint(name)}") from None
    return folder


# --------------------------------------------------------------------------------------
# Shared steps


def _digests(path: Path) -> dict[str, str]:
    try:
        return file_digests(path, ("sha1", "sha256"))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _pinned(path: Path, digests: dict[str, str]) -> str | None:
    """The known weight set the file is, or None for an unpinned file; ChecksumError when
    the file carries a known set's name but not its checksum."""
    ws = weight_set_for_digest("sha1", digests["sha1"]) or weight_set_for_digest(
        "sha256", digests["sha256"])
    if ws is not None:
        return ws.name
    for ws in WEIGHTS.values():
        src = ws.source
        if isinstance(src, Download) and src.file == path.name:
            algo, want = src.digests[0]
            have = digests["sha256"] if algo.startswith("sha256") else digests[algo]
            raise ChecksumError(f"{path}: {algo} {have}, the weight set {ws.name!r} pins "
                                f"{want} (truncated or modified download)")
    m = re.fullmatch(r"[\w.-]+-([0-9a-f]{8,64})\.pth", path.name)
    if m and not digests["sha256"].startswith(m.group(1)):
        raise ChecksumError(f"{path}: sha256 {digests['sha256']}, the name promises one "
                            f"starting {m.group(1)} (truncated or modified download)")
    return None


def _out_dir(out_dir: str | Path | None, known: str | None, src: Path) -> Path:
    """The folder to import into (by default :func:`imported_dir` of the known set),
    refused when it already holds a checkpoint."""
    if out_dir is None:
        if known is None:
            raise ConfigError(f"{src}: matches no known weight set; give --out DIR")
        out_dir = imported_dir(known)
    out = Path(out_dir)
    _check_out_dir(out)
    return out


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")
    try:
        find_checkpoint(out_dir)
    except CheckpointError:
        return
    raise ConfigError(f"{out_dir}: already holds a checkpoint; import into an empty folder")


def read_class_file(path: str | Path) -> list[tuple[str, str]]:
    """``[(wnid, words), ...]`` in class-index order from ``alexnet imagenet prepare``'s
    ``classes.tsv`` (``ILSVRC2012_ID<TAB>wnid<TAB>words``, one header line) or Caffe's
    ``synset_words.txt`` (``wnid words``)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot read the class file ({exc})") from None
    out: list[tuple[str, str]] = []
    for no, line in enumerate(lines, 1):
        if not line.strip() or (no == 1 and line.startswith("ILSVRC2012_ID")):
            continue
        cols = line.split("\t")
        if len(cols) == 3:
            wnid, words = cols[1].strip(), cols[2].strip()
        else:
            wnid, _, words = line.strip().partition(" ")
        if not re.fullmatch(r"n\d{8}", wnid):
            raise DataError(f"{p}:{no}: expected a WordNet id (n########), got {wnid!r}")
        out.append((wnid, words.strip()))
    if len({w for w, _ in out}) != len(out):
        raise DataError(f"{p}: a WordNet id appears twice")
    return out


def _fc_sizes(blobs: list[Any]) -> dict[str, int]:
    """``num_classes`` and ``hidden`` read from fc8's weights (a fine-tuned net may have
    other sizes than the published one; every other shape is still checked against the
    architecture). Empty when fc8 is absent or odd: the layer checks then name it."""
    if not blobs:
        return {}
    b = blobs[0]
    shape = b.squeezed_shape(2) if isinstance(b, Blob) else tuple(b.shape)
    if len(shape) != 2 or min(shape) < 1:
        return {}
    return {"num_classes": int(shape[0]), "hidden": int(shape[1])}


def _constant_mean(rgb: tuple[float, float, float]) -> np.ndarray:
    return np.broadcast_to(np.asarray(rgb, np.float32), (MEAN_SIZE, MEAN_SIZE, 3)).copy()


def _write(out_dir: Path, model: nn.Module, mean: np.ndarray, config: dict[str, Any]
           ) -> Path:
    return save_checkpoint(
        out_dir, model=model, optimizer=None, position={"epoch": 0, "batch": 0, "step": 0},
        config=config, extra_tensors={"data/mean": torch.from_numpy(mean)}, keep=1)


def _classes_config(classes: str | Path | None, n: int, known: str | None) -> dict[str, Any]:
    """The class list a checkpoint keeps: the class file's lines in order, output i
    named by line i. For a known weight set the lines must follow the order of its
    outputs (:func:`alexnet.registry.imagenet_class_order`), so a class file in the
    devkit's ILSVRC2012_ID order is refused instead of naming every prediction wrongly;
    an unpinned (fine-tuned) file's class file is taken in the order given."""
    if classes is None:
        return {}
    pairs = read_class_file(classes)
    if len(pairs) != n:
        raise DataError(f"{classes}: {len(pairs)} classes, the network has {n} outputs")
    wnids = [w for w, _ in pairs]
    want = imagenet_class_order(wnids)
    if known is not None and wnids != want:
        i = next(i for i, (a, b) in enumerate(zip(wnids, want, strict=True)) if a != b)
        raise DataError(f"{classes}: class {i + 1} is {wnids[i]}, expected {want[i]}: the "
                        f"outputs of {known!r} follow sorted WordNet ids (the devkit's "
                        "ILSVRC2012_ID order is another one); use classes.tsv of `alexnet "
                        "imagenet prepare` or Caffe's synset_words.txt")
    return {"classes": wnids, "class_words": [t for _, t in pairs]}


# --------------------------------------------------------------------------------------
# Caffe


@dataclass(frozen=True)
class _Expect:
    name: str
    type: str
    params: dict[str, Any]


def caffe_layer_plan(arch: str) -> list[_Expect]:
    """The layers (with weights or with arithmetic settings) a Caffe net of ``arch``
    must have, in order: what :func:`import_caffe` checks a file against."""
    size, alpha, beta, k = LRN
    conv = {1: (96, 11, 4, 0, 1), 2: (256, 5, 1, 2, 2), 3: (384, 3, 1, 1, 1),
            4: (384, 3, 1, 1, 2), 5: (256, 3, 1, 1, 2)}
    lrn = {"local_size": size, "alpha": alpha, "beta": beta, "k": k, "norm_region": 0}
    pool = {"pool": 0, "kernel_size": 3, "stride": 2, "pad": 0}
    plan: list[_Expect] = []
    for i in range(1, 6):
        n, ks, st, pad, grp = conv[i]
        plan.append(_Expect(f"conv{i}", "Convolution", {"num_output": n, "kernel_size": ks,
                                                         "stride": st, "pad": pad,
                                                         "group": grp}))
        if i in (1, 2):
            pair = [_Expect(f"norm{i}", "LRN", lrn), _Expect(f"pool{i}", "Pooling", pool)]
            plan += pair if CAFFE_ARCHS[arch] == "norm-pool" else pair[::-1]
    plan.append(_Expect("pool5", "Pooling", pool))
    for i in (6, 7, 8):
        plan.append(_Expect(f"fc{i}", "InnerProduct", {}))
    return plan


_ORDER_TYPES = ("Convolution", "LRN", "Pooling", "InnerProduct")


def _detect_caffe_arch(net: CaffeNet, source: str) -> str:
    """bvlc-alexnet or bvlc-caffenet from the order of the first LRN and pooling layers."""
    kinds = [lay.type for lay in net.layers if lay.type in ("LRN", "Pooling")]
    if "LRN" not in kinds:
        raise CheckpointError(f"{source}: no LRN layer, so neither BVLC AlexNet nor "
                              f"CaffeNet (net {net.name!r}, layer types "
                              f"{sorted({lay.type for lay in net.layers})})")
    return "bvlc-alexnet" if kinds[0] == "LRN" else "bvlc-caffenet"


def _conv_setting(params: dict[str, Any], key: str, default: int) -> int:
    """A ConvolutionParameter value as Caffe reads it: the repeated field's one value,
    or the _h/_w pair when both are equal; the default when absent."""
    vals = params.get(key)
    if isinstance(vals, list) and vals:
        if len(set(vals)) != 1:
            return -1
        return int(vals[0])
    h, w = params.get(f"{key}_h"), params.get(f"{key}_w")
    if h is not None or w is not None:
        return int(h) if h == w else -1
    return default


def _check_params(lay, exp: _Expect, arch: str, source: str) -> None:
    where = f"{source}: layer {lay.name!r}"
    if exp.type == "Convolution":
        p = lay.params.get("convolution", {})
        got = {"num_output": int(p.get("num_output", exp.params["num_output"])),
               "kernel_size": _conv_setting(p, "kernel_size", exp.params["kernel_size"]),
               "stride": _conv_setting(p, "stride", 1), "pad": _conv_setting(p, "pad", 0),
               "group": int(p.get("group", 1))}
        if p.get("dilation") and set(p["dilation"]) != {1}:
            raise CheckpointError(f"{where}: dilation {p['dilation']}, {arch} uses none")
    elif exp.type == "LRN":
        p = lay.params.get("lrn", {})
        got = {"local_size": int(p.get("local_size", 5)), "alpha": float(p.get("alpha", 1.0)),
               "beta": float(p.get("beta", 0.75)), "k": float(p.get("k", 1.0)),
               "norm_region": int(p.get("norm_region", 0))}
    elif exp.type == "Pooling":
        p = lay.params.get("pooling", {})
        got = {"pool": int(p.get("pool", 0)), "kernel_size": int(p.get("kernel_size", 0)),
               "stride": int(p.get("stride", 1)), "pad": int(p.get("pad", 0))}
        if p.get("global_pooling"):
            raise CheckpointError(f"{where}: global pooling, {arch} pools 3x3 stride 2")
    else:
        p = lay.params.get("inner_product", {})
        if p.get("transpose"):
            raise CheckpointError(f"{where}: transposed inner-product weights are not "
                                  "supported")
        return
    for key, want in exp.params.items():
        have = got[key]
        same = abs(have - want) <= 1e-6 * abs(want) if isinstance(want, float) else have == want
        if not same:
            raise CheckpointError(f"{where} ({exp.type}): {key} {have}, {arch} needs {want}")


def _blob_tensor(blob: Blob, want: tuple[int, ...], where: str, arch: str) -> torch.Tensor:
    shape = blob.squeezed_shape(len(want))
    if shape != want:
        raise CheckpointError(f"{where}: shape {blob.shape}, {arch} needs {want}")
    return torch.from_numpy(blob.data.reshape(want))


def _caffe_mean(mean: str | Path | None) -> tuple[np.ndarray, str]:
    """The RGB (256, 256, 3) mean image and a description of where it came from."""
    if mean is None:
        b, g, r = CAFFE_MEAN_BGR
        return _constant_mean((r, g, b)), "Caffe's ILSVRC-2012 per-channel mean (B, G, R) " \
            f"= ({b:.4f}, {g:.4f}, {r:.4f})"
    p = Path(mean)
    if p.suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{p}: not a readable .npy mean ({exc})") from None
    else:
        blob = read_blobproto(p)
        arr = blob.data.reshape(blob.shape)
    arr = np.asarray(arr, np.float32)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[0] != 3 or arr.shape[1] != arr.shape[2]:
        raise DataError(f"{p}: mean of shape {arr.shape}, expected (3, H, H) in BGR order")
    if arr.shape[1] != MEAN_SIZE:
        raise DataError(f"{p}: mean image of {arr.shape[1]}x{arr.shape[2]}, the port stores "
                        f"images at {MEAN_SIZE}x{MEAN_SIZE}")
    rgb = np.ascontiguousarray(arr[::-1].transpose(1, 2, 0))
    return rgb, f"mean image {p.name} (BGR, {arr.shape[1]}x{arr.shape[2]})"


def import_caffe(
    path: str | Path,
    out_dir: str | Path | None,
    *,
    arch: str | None = None,
    mean: str | Path | None = None,
    classes: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> ImportResult:
    """Import a BVLC AlexNet / CaffeNet ``.caffemodel`` as a checkpoint in ``out_dir``.

    ``arch`` defaults to what the file's layer order says; ``mean`` is Caffe's mean
    image (``.binaryproto`` or ``.npy``, BGR) instead of its per-channel values;
    ``classes`` a class file (:func:`read_class_file`) whose names the checkpoint keeps.
    ``options`` are architecture options (``num_classes``, ``hidden``); by default
    they are read from fc8's weights, so a fine-tuned net (another number of classes)
    imports too, while every other layer must have the published shape.
    """
    src = Path(path)
    if arch is not None and arch not in CAFFE_ARCHS:
        raise ConfigError(f"--arch must be one of {', '.join(CAFFE_ARCHS)}, not {arch!r}")
    digests = _digests(src)
    known = _pinned(src, digests)
    out = _out_dir(out_dir, known, src)
    net = read_caffemodel(src)
    detected = _detect_caffe_arch(net, str(src))
    if known is not None:
        pinned_arch = WEIGHTS[known].arch
        if arch is not None and arch != pinned_arch:
            raise ConfigError(f"{src}: is the weight set {known!r} of arch {pinned_arch!r}, "
                              f"not {arch!r}")
        arch = pinned_arch
    arch = arch or detected
    if detected != arch:
        order = "normalises before it pools" if detected == "bvlc-alexnet" else \
            "pools before it normalises"
        raise CheckpointError(f"{src}: the net {order}, which is {detected}, not {arch}")
    if options is None:
        fc8 = net.layer("fc8")
        options = _fc_sizes(fc8.blobs if fc8 is not None else [])
    try:
        model = build_model(arch, init=False, **dict(options or {}))
    except TypeError as exc:
        raise ConfigError(f"arch {arch!r}: {exc}") from None

    # order of the arithmetic layers, then every layer's settings and blobs
    plan = caffe_layer_plan(arch)
    plan_names = {e.name for e in plan}
    with_blobs = [lay for lay in net.layers if lay.blobs]
    for lay in with_blobs:
        if lay.name not in plan_names:
            raise CheckpointError(f"{src}: layer {lay.name!r} ({lay.type}) holds "
                                  f"{len(lay.blobs)} blobs that {arch} has no place for")
    expected_types = [e.type for e in plan]
    file_types = [lay.type for lay in net.layers if lay.type in _ORDER_TYPES]
    if file_types != expected_types:
        names = " ".join(lay.name for lay in net.layers if lay.type in _ORDER_TYPES)
        raise CheckpointError(f"{src}: layer sequence {names} ({len(file_types)} conv/LRN/"
                              f"pool/fc layers) is not {arch}'s {' '.join(e.name for e in plan)}")
    own = model.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    mapped: list[str] = []
    for exp in plan:
        lay = net.layer(exp.name)
        if lay is None:
            have = ", ".join(f"{x.name} ({x.type})" for x in with_blobs) or "none"
            raise CheckpointError(f"{src}: no layer named {exp.name!r} ({exp.type}) that "
                                  f"{arch} needs (layers with weights: {have})")
        if lay.type != exp.type:
            raise CheckpointError(f"{src}: layer {lay.name!r} is {lay.type}, {arch} needs "
                                  f"{exp.type}")
        _check_params(lay, exp, arch, str(src))
        if exp.type not in ("Convolution", "InnerProduct"):
            if lay.blobs:
                raise CheckpointError(f"{src}: layer {lay.name!r} ({lay.type}) holds blobs")
            continue
        if len(lay.blobs) != 2:
            raise CheckpointError(f"{src}: layer {lay.name!r} holds {len(lay.blobs)} blobs, "
                                  f"{arch} needs 2 (weights and biases)")
        for i, suffix in enumerate(("weight", "bias")):
            key = f"{exp.name}.{suffix}"
            what = "weights" if i == 0 else "biases"
            want = tuple(own[key].shape)
            tensors[key] = _blob_tensor(lay.blobs[i], want,
                                        f"{src}: layer {lay.name!r} blob {i} ({what})", arch)
            mapped.append(f"{lay.name} blob {i} -> {key}")
    model.load_state_dict(tensors, strict=True)
    mean_img, mean_about = _caffe_mean(mean)
    config = {
        "imported": {"format": "caffemodel", "file": src.name, "net_name": net.name,
                     "net_format": net.format, "weight_set": known, **digests},
        "input": {"channels": "RGB in, reversed to BGR by the net", "mean": mean_about,
                  "stored_size": MEAN_SIZE},
        **_classes_config(classes, model.num_classes, known),
    }
    ckpt = _write(out, model, mean_img, config)
    n = sum(p.numel() for p in model.parameters())
    return ImportResult(ckpt, arch, known, digests, n, mapped)


# --------------------------------------------------------------------------------------
# torchvision


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers only."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError,
            AttributeError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: refused by weights-only loading, nothing was run "
                              f"({first[:200]})") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(obj, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise CheckpointError(f"{path}: not a state dict (a mapping of names to tensors), "
                              f"found {type(obj).__name__}")
    return dict(obj)


def import_torchvision(
    path: str | Path,
    out_dir: str | Path | None,
    *,
    classes: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> ImportResult:
    """Import torchvision's AlexNet state dict (``alexnet-owt-*.pth``) as a checkpoint of
    architecture ``alexnet-owt`` in ``out_dir`` (``classes``/``options`` as for
    :func:`import_caffe`)."""
    src = Path(path)
    digests = _digests(src)
    known = _pinned(src, digests)
    out = _out_dir(out_dir, known, src)
    state = _load_state_dict(src)
    if options is None:
        options = _fc_sizes([state["classifier.6.weight"]]
                            if "classifier.6.weight" in state else [])
    try:
        model = build_model("alexnet-owt", init=False, **dict(options or {}))
    except TypeError as exc:
        raise ConfigError(f"arch 'alexnet-owt': {exc}") from None
    own = model.state_dict()
    names = {f"{tv}.{s}": f"{ours}.{s}" for tv, ours in TORCHVISION_NAMES.items()
             for s in ("weight", "bias")}
    missing = [k for k in names if k not in state]
    extra = sorted(k for k in state if k not in names)
    if extra:
        raise CheckpointError(f"{src}: tensor {extra[0]!r} has no place in alexnet-owt "
                              f"({len(extra)} unexpected; is this torchvision's AlexNet?)")
    if missing:
        raise CheckpointError(f"{src}: no tensor {missing[0]!r} ({len(missing)} of "
                              f"torchvision's AlexNet tensors missing)")
    tensors: dict[str, torch.Tensor] = {}
    mapped = []
    for tv, ours in names.items():
        t = state[tv]
        want = tuple(own[ours].shape)
        if tuple(t.shape) != want:
            raise CheckpointError(f"{src}: {tv} has shape {tuple(t.shape)}, alexnet-owt "
                                  f"needs {want}")
        if not t.is_floating_point():
            raise CheckpointError(f"{src}: {tv} holds {t.dtype} values, expected floats")
        tensors[ours] = t.to(torch.float32).contiguous()
        mapped.append(f"{tv} -> {ours}")
    model.load_state_dict(tensors, strict=True)
    config = {
        "imported": {"format": "torchvision state dict", "file": src.name,
                     "weight_set": known, **digests},
        "input": {"channels": "RGB", "mean": "255 x torchvision's (0.485, 0.456, 0.406)",
                  "scale": "divided by 255 x (0.229, 0.224, 0.225) inside the net",
                  "stored_size": MEAN_SIZE},
        **_classes_config(classes, model.num_classes, known),
    }
    mean_img = _constant_mean(tuple(255.0 * m for m in TORCHVISION_MEAN))
    ckpt = _write(out, model, mean_img, config)
    n = sum(p.numel() for p in model.parameters())
    return ImportResult(ckpt, "alexnet-owt", known, digests, n, mapped)
