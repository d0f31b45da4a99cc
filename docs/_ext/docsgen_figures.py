"""Figures drawn at build time from the bundled weights (Pillow, no matplotlib).

* The first-layer filter grid: the paper's Figure 3, for whichever bundled net has a
  first convolution on RGB input (the CIFAR-10 net trained by this project). Filters
  are scaled together to 0-255, as the 2012 ``shownet.py`` did by default, so their
  relative strengths stay visible; each is enlarged with nearest-neighbour pixels.
* Sample predictions: the bundled test images (one per class) run through a bundled
  net with the project's own loader (``alexnet.verify.bundled``: checksums verified,
  weights restored with the port's checkpoint checks), their five most probable
  classes drawn as bars.

Both figures are drawn from the bundled CIFAR-10 weights on every build; the filter
grid is also drawn from imported ImageNet weights when the build finds them (any
``*.safetensors`` under ``<cache>/weights/imagenet/``, the cache of ``alexnet original
fetch``; the port's ``alexnet-owt`` work imports them there). Each caption says which
weights it shows. Without bundled weights the pages say so; nothing is drawn from thin
air.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from docsgen_common import ROOT, Output, code, md_escape, not_available

BUNDLED = ROOT / "verify" / "bundled"
#: imported ImageNet weights, below the cache root of ``alexnet original fetch``
IMAGENET_SUBDIR = ("weights", "imagenet")


def imagenet_weights() -> list[Path]:
    """Imported ImageNet weight files, if this machine has any (never required)."""
    try:
        from alexnet.original.museum.upstream import cache_root
    except ImportError:
        return []
    folder = cache_root().joinpath(*IMAGENET_SUBDIR)
    return sorted(folder.glob("*.safetensors")) if folder.is_dir() else []


def weights_origin(path: Path) -> str:
    """What a caption says about where the weights come from."""
    if path.parent.resolve() == BUNDLED.resolve():
        return (f"the bundled CIFAR-10 weights {code(path.name)}, trained by this project "
                "(not the 2012 weights, which were never released)")
    return (f"imported ImageNet weights {code(path.name)} (from this machine's cache, not "
            "part of the repository)")


def _first_conv(tensors: dict[str, Any]) -> tuple[str, Any] | None:
    """The first RGB convolution in a checkpoint, as (name, array of N x 3 x k x k)."""
    import numpy as np

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
    import numpy as np
    from PIL import Image

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


def filters_section(out: Output) -> None:
    files = _bundled_weights()
    if not files:
        out.write_text(
            "fragments/figure-filters.md",
            not_available(
                "the first-layer filter grid.",
                "It is drawn at build time from bundled weights "
                "(`verify/bundled/*.safetensors`), which this checkout does not have yet.",
            ),
        )
        return
    from safetensors.numpy import load_file

    parts = []
    for path in files + imagenet_weights():
        found = _first_conv(load_file(str(path)))
        if found is None:
            continue
        name, w = found
        rel = f"figures/filters-{path.stem}.png"
        out.write_bytes(rel, filter_grid_png(w))
        n, _, k, _ = w.shape
        parts.append(
            f":::{{figure}} /_generated/{rel}\n:alt: {n} first-layer filters of {k} by {k} "
            f"pixels from {md_escape(path.name)}\n\n"
            f"The {n} first-layer filters ({k}\u00d7{k}\u00d73, tensor {code(name)}) "
            f"of {weights_origin(path)}, scaled together to the full colour range and "
            "enlarged. Drawn at build time.\n:::\n"
        )
    out.write_text(
        "fragments/figure-filters.md",
        "\n".join(parts)
        or not_available("the first-layer filter grid.",
                         "No bundled weight file has a first convolution on RGB input."),
    )


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def predictions_png(images: Any, labels: Any, probs: Any, classes: list[str]) -> bytes:
    """One row per image: the image enlarged, then its five best classes as bars."""
    import numpy as np
    from PIL import Image, ImageDraw

    scale = max(1, 96 // images.shape[1])
    thumb = images.shape[1] * scale
    bar_max, label_w, row_h = 200, 150, max(thumb, 5 * 19) + 14
    width = 12 + thumb + 16 + label_w + bar_max + 60
    canvas = Image.new("RGB", (width, row_h * len(images) + 10), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font(13)
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


def predictions_section(out: Output) -> None:
    bundles = _bundles()
    if not bundles:
        out.write_text(
            "fragments/figure-predictions.md",
            not_available("sample predictions.",
                          "They are computed at build time from a bundled net and the bundled "
                          "test images (`verify/bundled/`), which this checkout lacks."),
        )
        return
    import numpy as np
    import torch

    from alexnet.modern.build import build_model
    from alexnet.verify import bundled

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
    probs = probs.numpy()
    classes = list(b.meta.get("classes") or [str(i) for i in range(probs.shape[1])])
    out.write_bytes("figures/predictions.png",
                    predictions_png(images, np.asarray(labels), probs, classes))
    right = int((probs.argmax(1) == np.asarray(labels)).sum())
    recorded = (meta.get("metrics") or {}).get("top1_err")
    note = (f" Its recorded test top-1 error is {float(recorded):.1%}."
            if isinstance(recorded, int | float) else "")
    out.write_text(
        "fragments/figure-predictions.md",
        f":::{{figure}} /_generated/figures/predictions.png\n:alt: {len(images)} test images "
        f"with the five classes the bundled net finds most probable\n\n"
        f"The bundled CIFAR-10 test images, one per class, through the bundled net "
        f"{code(name)} (weights trained by this project on CIFAR-10, not the 2012 ImageNet "
        f"weights, which were never released), computed at build time: the five most "
        f"probable classes of each, the true class "
        f"in green; {right} of {len(images)} classified correctly.{note}\n:::\n",
    )


def generate(out: Output) -> None:
    filters_section(out)
    predictions_section(out)
