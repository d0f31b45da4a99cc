"""Figures drawn at build time from whichever weights the build finds (Pillow, no matplotlib).

The paper's Figures 3 and 4 in spirit, from weights that exist: no trained weights of
2012 were ever released, so nothing here pretends to show them.

* The first-layer filter grid (Figure 3): for every bundled net with a first
  convolution on RGB input (the CIFAR-10 nets trained by this project), and for every
  imported ImageNet checkpoint the build finds. Filters are scaled together to 0-255,
  as the 2012 ``shownet.py`` did by default, so their relative strengths stay visible;
  each is enlarged with nearest-neighbour pixels.
* Predictions (Figure 4): the bundled CIFAR-10 test images (one per class) through the
  best bundled net, with the project's own loader (``alexnet.verify.bundled``:
  checksums verified, weights restored with the port's checkpoint checks); and, for an
  imported ImageNet checkpoint, the photographs of a folder the builder names, through
  the same inference path as ``alexnet predict``. Five most probable classes as bars.

Where the build looks for ImageNet weights (never required):

* ``$ALEXNET_DOCS_IMAGENET``: one checkpoint, anything ``alexnet predict --checkpoint``
  accepts (e.g. the ``--out`` folder of ``alexnet weights import``); a path that holds
  no readable checkpoint fails the build with a line naming it;
* otherwise every folder under ``<cache>/weights/`` that holds a checkpoint written by
  ``alexnet weights import``, ``<cache>`` being the cache root of ``alexnet original
  fetch`` (``$ALEXNET_CACHE``, else ``~/.cache/alexnet``): ``alexnet weights import
  torchvision FILE --out ~/.cache/alexnet/weights/alexnet-owt`` puts one there (and
  is where the import of a known weight set goes by default).

``$ALEXNET_DOCS_IMAGES`` names the folder of photographs (``*.jpg``, ``*.jpeg``,
``*.png``; the first eight by name) for the ImageNet predictions; a file whose name
starts with a WordNet id of the checkpoint's classes (``n01440764_tench.JPEG``) has
its true class marked. Each caption says which weights it shows. Without weights the
pages say so; nothing is drawn from thin air, and a net whose outputs are not finite
fails the build rather than drawing bars.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from docsgen_common import ROOT, Output, code, md_escape, not_available
from PIL import Image, ImageDraw, ImageFont
from safetensors.numpy import load_file

from alexnet.errors import CheckpointError, DataError
from alexnet.modern.build import build_model
from alexnet.modern.checkpoint import find_checkpoint
from alexnet.modern.data import decode_image
from alexnet.modern.evaluate import Inference, load_for_inference, predict_files
from alexnet.original.museum.upstream import cache_root
from alexnet.verify import bundled

try:  # the published nets' builders, until alexnet.modern.build builds them by name
    from alexnet.modern import weightsets as published
except ImportError:
    published = None

BUNDLED = ROOT / "verify" / "bundled"
#: one imported ImageNet checkpoint for the figures (overrides the cache folder)
IMAGENET_ENV = "ALEXNET_DOCS_IMAGENET"
#: a folder of photographs for the ImageNet predictions figure
IMAGES_ENV = "ALEXNET_DOCS_IMAGES"
#: imported weight sets, one checkpoint folder each, below the cache root
IMPORTED_SUBDIR = "weights"
#: photographs drawn at most (the figure is one row per image)
MAX_PHOTOS = 8
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def imagenet_checkpoints() -> list[Path]:
    """The checkpoint JSONs of the imported ImageNet weights this build finds (or none)."""
    env = os.environ.get(IMAGENET_ENV)
    if env:
        try:
            return [find_checkpoint(env)]
        except CheckpointError as exc:
            raise CheckpointError(f"${IMAGENET_ENV}: {exc}") from None
    folder = cache_root() / IMPORTED_SUBDIR
    found = []
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        if sub.is_dir():
            try:
                found.append(find_checkpoint(sub))
            except CheckpointError:
                continue  # a folder of something else: this is only a place to look
    return found


def build_net(arch: str | None = None, **options: Any) -> torch.nn.Module:
    """Rebuild a checkpoint's net: the published layouts by their builders, others as
    ``alexnet.modern.build.build_model`` does."""
    if published is not None and arch in published.BUILDERS:
        return published.build_pretrained_arch(arch, **options)
    return build_model(arch, **options)


def load_nets() -> list[Inference]:
    """The imported ImageNet nets of this build, ready for inference (checksums verified).

    From the cache folder only imports count (their config records ``imported``); the
    checkpoint ``$ALEXNET_DOCS_IMAGENET`` names counts whatever it is.
    """
    explicit = bool(os.environ.get(IMAGENET_ENV))
    nets = [load_for_inference(path, build=build_net) for path in imagenet_checkpoints()]
    return [n for n in nets if explicit or n.ckpt.config.get("imported")]


def photographs() -> list[Path]:
    """The photographs named by ``$ALEXNET_DOCS_IMAGES`` (first ones by name), or none."""
    env = os.environ.get(IMAGES_ENV)
    if not env:
        return []
    folder = Path(env).expanduser()
    if not folder.is_dir():
        raise DataError(f"${IMAGES_ENV}={env}: not a folder (expected a folder of "
                        "photographs, *.jpg/*.jpeg/*.png)")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise DataError(f"${IMAGES_ENV}={env}: no *.jpg, *.jpeg or *.png files in it")
    return photos[:MAX_PHOTOS]


def weights_origin(path: Path) -> str:
    """What a caption says about the bundled weights it shows."""
    return (f"the bundled CIFAR-10 weights {code(path.name)}, trained by this project "
            "(not the 2012 weights, which were never released)")


def imagenet_origin(inf: Inference) -> str:
    """What a caption says about imported ImageNet weights: which set, which net, where."""
    imported = inf.ckpt.config.get("imported") or {}
    ws = imported.get("weight_set")
    what = (f"the published weight set {code(ws)}" if ws else
            f"an unpinned file {code(imported.get('file', inf.ckpt.path.name))}"
            if imported else f"the checkpoint {code(inf.ckpt.path.name)}")
    return (f"ImageNet weights: {what}, architecture {code(inf.ckpt.arch)}, imported into "
            f"this machine's folder {code(inf.ckpt.path.parent.name)} (not part of the "
            "repository, and not the 2012 weights, which were never released)")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "net"


def _first_conv(tensors: dict[str, Any]) -> tuple[str, Any] | None:
    """The first RGB convolution in a checkpoint, as (name, array of N x 3 x k x k)."""
    candidates = []
    for name, t in tensors.items():
        a = np.asarray(t)
        low = name.lower()
        # weights only: not biases, not the momentum ("velocity", 2012 "Inc") buffers
        if "bias" in low or any(w in low for w in ("velocity", "momentum", "inc", "grad")):
            continue
        if a.ndim == 4 and a.shape[1] == 3 and a.shape[2] == a.shape[3]:
            candidates.append((name, a))
        elif a.ndim == 2 and a.shape[0] % 3 == 0 and "conv1" in name.lower():
            k2 = a.shape[0] // 3  # 2012 layout: (3*k*k, filters), channel-major rows
            k = int(round(k2**0.5))
            if k * k == k2:
                candidates.append((name, a.T.reshape(a.shape[1], 3, k, k)))
    if not candidates:
        return None
    candidates.sort(key=lambda c: ("conv1" not in c[0].lower(), c[0]))
    towers = [c for c in candidates if re.search(r"conv1[ab]\b", c[0].lower())]
    if len(towers) == 2 and towers[0][1].shape[1:] == towers[1][1].shape[1:]:
        # a two-tower net: conv1a above conv1b, as in the paper's figure
        return " + ".join(c[0] for c in towers), np.concatenate([c[1] for c in towers])
    return candidates[0]


def filter_grid_png(weights: Any, cols: int = 16, scale: int = 0) -> bytes:
    """A PNG grid of RGB filters (N x 3 x k x k), scaled together to 0-255."""
    w = np.asarray(weights, dtype=np.float64)
    n, _, k, _ = w.shape
    scale = scale or max(2, 64 // k)
    lo, hi = float(w.min()), float(w.max())
    norm = (w - lo) / (hi - lo) if hi > lo else np.zeros_like(w)
    rows = (n + cols - 1) // cols
    cell = k * scale
    gap = max(1, scale // 2)
    canvas = np.full(
        (rows * (cell + gap) + gap, cols * (cell + gap) + gap, 3), 255, dtype=np.uint8
    )
    for i in range(n):
        img = (norm[i].transpose(1, 2, 0) * 255).round().astype(np.uint8)
        img = img.repeat(scale, axis=0).repeat(scale, axis=1)
        r, c = divmod(i, cols)
        y, x = gap + r * (cell + gap), gap + c * (cell + gap)
        canvas[y : y + cell, x : x + cell] = img
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _bundled_weights() -> list[Path]:
    return sorted(BUNDLED.glob("*.safetensors")) if BUNDLED.is_dir() else []


def _filter_figure(out: Output, stem: str, found: tuple[str, Any], source: str,
                   origin: str) -> str:
    name, w = found
    rel = f"figures/filters-{_slug(stem)}.png"
    out.write_bytes(rel, filter_grid_png(w))
    n, _, k, _ = w.shape
    return (
        f":::{{figure}} /_generated/{rel}\n:alt: {n} first-layer filters of {k} by {k} "
        f"pixels from {md_escape(source)}\n\n"
        f"The {n} first-layer filters ({k}\u00d7{k}\u00d73, tensor {code(name)}) "
        f"of {origin}, scaled together to the full colour range and "
        "enlarged. Drawn at build time.\n:::\n"
    )


def filters_section(out: Output, nets: list[Inference]) -> None:
    files = _bundled_weights()
    parts = []
    for path in files:
        found = _first_conv(load_file(str(path)))
        if found is not None:
            parts.append(_filter_figure(out, path.stem, found, path.name,
                                        weights_origin(path)))
    for inf in nets:
        weights = {k: v.numpy() for k, v in inf.ckpt.group("model").items()}
        found = _first_conv(weights)
        if found is not None:
            parts.append(_filter_figure(out, f"imagenet-{inf.ckpt.path.parent.name}", found,
                                        inf.ckpt.path.parent.name, imagenet_origin(inf)))
    if not files:
        parts.insert(0, not_available(
            "the first-layer filter grid of the CIFAR-10 nets.",
            "It is drawn at build time from bundled weights "
            "(`verify/bundled/*.safetensors`), which this checkout does not have yet."))
    if not nets:
        parts.append(_imagenet_note("first-layer filters"))
    out.write_text(
        "fragments/figure-filters.md",
        "\n".join(parts)
        or not_available("the first-layer filter grid.",
                         "No bundled weight file has a first convolution on RGB input."),
    )


def _imagenet_note(what: str) -> str:
    return (
        f":::{{note}}\nNo ImageNet {what} on this build: it found no imported ImageNet "
        f"checkpoint (`${IMAGENET_ENV}`, or a folder under `<cache>/weights/` "
        "written by `alexnet weights import`). The 2012 weights themselves were never "
        "released.\n:::\n"
    )


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def predictions_png(images: Any, labels: Any, probs: Any, classes: list[str]) -> bytes:
    """One row per image: the image enlarged, then its five best classes as bars."""
    scale = max(1, 96 // images.shape[1])
    thumb = images.shape[1] * scale
    font = _font(13)
    shown = {int(c) for p in probs for c in np.argsort(-p)[:5]}
    # the label column fits the longest name shown (ImageNet's words run long)
    longest = max(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(classes[c], font=font)
                  for c in shown)
    bar_max, label_w, row_h = 200, max(150, int(longest) + 14), max(thumb, 5 * 19) + 14
    width = 12 + thumb + 16 + label_w + bar_max + 60
    canvas = Image.new("RGB", (width, row_h * len(images) + 10), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (img, label, p) in enumerate(zip(images, labels, probs, strict=True)):
        y = 8 + i * row_h
        big = Image.fromarray(np.asarray(img, dtype=np.uint8)).resize(
            (thumb, thumb), Image.Resampling.NEAREST)
        canvas.paste(big, (12, y))
        x0 = 12 + thumb + 16
        for j, cls in enumerate(np.argsort(-p)[:5]):
            by = y + j * 19
            colour = (46, 125, 50) if cls == label else (120, 144, 156)
            draw.text((x0, by + 1), classes[cls], fill=(33, 33, 33), font=font)
            bx = x0 + label_w
            draw.rectangle((bx, by + 3, bx + max(1, int(float(p[cls]) * bar_max)), by + 15),
                           fill=colour)
            draw.text((bx + int(float(p[cls]) * bar_max) + 6, by + 1), f"{float(p[cls]):.0%}",
                      fill=(66, 66, 66), font=font)
        draw.line((12, y + row_h - 7, width - 12, y + row_h - 7), fill=(224, 224, 224))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _bundles() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for meta_path in sorted(BUNDLED.glob("*.json")) if BUNDLED.is_dir() else []:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        w = meta.get("weights") if isinstance(meta, dict) else None
        if isinstance(w, dict) and str(w.get("file", "")).endswith(".safetensors"):
            out.append((meta_path.stem, meta))
    return out


def _finite(probs: np.ndarray, what: str) -> np.ndarray:
    """Refuse to draw bars for a net whose outputs are not numbers."""
    if probs.size == 0 or not np.isfinite(probs).all():
        raise DataError(f"{what}: the net's outputs are not all finite numbers; no "
                        "predictions figure is drawn from them")
    return probs


def _cifar_predictions(out: Output) -> str:
    bundles = _bundles()
    if not bundles:
        return not_available("sample predictions of the CIFAR-10 nets.",
                             "They are computed at build time from a bundled net and the "
                             "bundled test images (`verify/bundled/`), which this checkout "
                             "lacks.")

    def err(meta: dict[str, Any]) -> float:
        v = (meta.get("metrics") or {}).get("top1_err")
        return float(v) if isinstance(v, int | float) else 1.0

    name, meta = min(bundles, key=lambda b: (err(b[1]), b[0]))
    b = bundled.load(name)  # checksum-verified
    model = build_model(**{**b.model_config, "arch": b.arch})
    bundled.restore_into(b, model)
    model.eval()
    x, labels = bundled.sample_inputs(b, model)
    images, _, _ = bundled.sample_images()
    with torch.no_grad():
        scores = model(torch.as_tensor(x)).double()
    sums = scores.sum(dim=1)
    probs = scores if bool(((sums - 1).abs() < 1e-4).all() and (scores >= 0).all()) else \
        torch.softmax(scores, dim=1)
    probs = _finite(probs.numpy(), f"bundled net {name}")
    classes = list(b.meta.get("classes") or [str(i) for i in range(probs.shape[1])])
    out.write_bytes("figures/predictions.png",
                    predictions_png(images, np.asarray(labels), probs, classes))
    right = int((probs.argmax(1) == np.asarray(labels)).sum())
    recorded = (meta.get("metrics") or {}).get("top1_err")
    note = (f" Its recorded test top-1 error is {float(recorded):.1%}."
            if isinstance(recorded, int | float) else "")
    return (
        f":::{{figure}} /_generated/figures/predictions.png\n:alt: {len(images)} test images "
        f"with the five classes the bundled net finds most probable\n\n"
        f"The bundled CIFAR-10 test images, one per class, through the bundled net "
        f"{code(name)} (weights trained by this project on CIFAR-10, not the 2012 ImageNet "
        f"weights, which were never released), computed at build time: the five most "
        f"probable classes of each, the true class "
        f"in green; {right} of {len(images)} classified correctly.{note}\n:::\n"
    )


def class_names(inf: Inference) -> list[str]:
    """Readable class names: the first of each class's words when the checkpoint keeps
    them (``--classes`` at import), else its stored class names."""
    words = [str(w) for w in inf.ckpt.config.get("class_words") or []]
    if len(words) == len(inf.classes):
        return [w.split(",")[0].strip() or c for w, c in zip(words, inf.classes, strict=True)]
    return list(inf.classes)


def true_class(photo: Path, classes: list[str]) -> int:
    """The class a photograph's name gives (``<wnid>_...``), or -1 when it gives none."""
    m = re.match(r"(n\d{8})", photo.name)
    return classes.index(m.group(1)) if m and m.group(1) in classes else -1


def _imagenet_predictions(out: Output, inf: Inference, photos: list[Path]) -> str:
    folder = inf.ckpt.path.parent.name
    res = predict_files(inf, photos, top=len(inf.classes))
    probs = np.zeros((len(photos), len(inf.classes)))
    for i, r in enumerate(res):
        for t in r["top"]:
            probs[i, t["index"]] = t["prob"]
    probs = _finite(probs, f"checkpoint {inf.ckpt.path}")
    images = np.stack([decode_image(p, 96, name=str(p)) for p in photos])
    labels = np.asarray([true_class(p, inf.classes) for p in photos])
    rel = f"figures/predictions-imagenet-{_slug(folder)}.png"
    out.write_bytes(rel, predictions_png(images, labels, probs, class_names(inf)))
    known = labels >= 0
    tally = (f" {int((probs.argmax(1) == labels)[known].sum())} of {int(known.sum())} "
             "photographs whose names give their class are classified correctly (true "
             "class in green)." if known.any() else "")
    return (
        f":::{{figure}} /_generated/{rel}\n:alt: {len(photos)} photographs with the five "
        f"classes the imported ImageNet net finds most probable\n\n"
        f"{len(photos)} photographs from this machine's `${IMAGES_ENV}` folder through "
        f"{imagenet_origin(inf)}, one centre view each, as `alexnet predict` computes "
        f"it at build time: the five most probable classes of each.{tally}\n:::\n"
    )


def predictions_section(out: Output, nets: list[Inference]) -> None:
    parts = [_cifar_predictions(out)]
    if not nets:
        parts.append(_imagenet_note("predictions"))
    else:
        photos = photographs()
        if not photos:
            parts.append(
                f":::{{note}}\nThis build found imported ImageNet weights but no photographs "
                f"to classify: set `${IMAGES_ENV}` to a folder of JPEG or PNG files to draw "
                "their predictions.\n:::\n")
        for inf in nets if photos else []:
            parts.append(_imagenet_predictions(out, inf, photos))
    out.write_text("fragments/figure-predictions.md", "\n".join(parts))


def generate(out: Output) -> None:
    nets = load_nets()
    filters_section(out, nets)
    predictions_section(out, nets)
