"""Figures drawn at build time from the bundled weights (Pillow, no matplotlib).

* The first-layer filter grid: the paper's Figure 3, for whichever bundled net has a
  first convolution on RGB input (the CIFAR-10 net trained by this project). Filters
  are scaled together to 0-255, as the 2012 ``shownet.py`` did by default, so their
  relative strengths stay visible; each is enlarged with nearest-neighbour pixels.
* Sample predictions: images with their five most probable classes, when the bundled
  verifier run supplies them (``verify/bundled/predictions.json``).

Without bundled weights the pages say so; nothing is drawn from thin air.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from docsgen_common import ROOT, Output, code, md_escape, not_available

BUNDLED = ROOT / "verify" / "bundled"


def _first_conv(tensors: dict[str, Any]) -> tuple[str, Any] | None:
    """The first RGB convolution in a checkpoint, as (name, array of N x 3 x k x k)."""
    import numpy as np

    candidates = []
    for name, t in tensors.items():
        a = np.asarray(t)
        if "bias" in name.lower():
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
    if len(candidates) > 1 and all("conv1" in c[0].lower() for c in candidates[:2]):
        # a two-tower net: conv1a above conv1b, as in the paper's figure
        same = [c for c in candidates if c[1].shape[1:] == candidates[0][1].shape[1:]]
        names = [c[0] for c in same if "conv1" in c[0].lower()]
        return " + ".join(names), np.concatenate([c[1] for c in same if c[0] in names])
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
    for path in files:
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
            f"of {code(path.name)}, scaled together to the full colour range and "
            "enlarged. Drawn at build time.\n:::\n"
        )
    out.write_text(
        "fragments/figure-filters.md",
        "\n".join(parts)
        or not_available("the first-layer filter grid.",
                         "No bundled weight file has a first convolution on RGB input."),
    )


def predictions_png(records: list[dict[str, Any]], base: Path) -> bytes:
    """Images on the left, their top-5 classes as bars on the right (one row each)."""
    from PIL import Image, ImageDraw

    thumb, bar_w, row_h = 96, 260, 112
    canvas = Image.new("RGB", (thumb + bar_w + 40, row_h * len(records) + 8), "white")
    draw = ImageDraw.Draw(canvas)
    for i, rec in enumerate(records):
        y = 8 + i * row_h
        img = Image.open(base / rec["image"]).convert("RGB")
        img.thumbnail((thumb, thumb), Image.Resampling.NEAREST)
        canvas.paste(img, (8, y))
        truth = rec.get("label")
        for j, (cls, prob) in enumerate((rec.get("top5") or [])[:5]):
            by = y + 4 + j * 20
            colour = (46, 125, 50) if cls == truth else (96, 125, 139)
            draw.rectangle((thumb + 24, by, thumb + 24 + int(prob * (bar_w - 110)), by + 14),
                           fill=colour)
            draw.text((thumb + 28 + int(prob * (bar_w - 110)), by + 1),
                      f"{cls} {prob:.0%}", fill=(33, 33, 33))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def predictions_section(out: Output) -> None:
    src = BUNDLED / "predictions.json"
    if not src.is_file():
        out.write_text(
            "fragments/figure-predictions.md",
            not_available(
                "sample predictions.",
                "They are drawn from the bundled verifier run "
                "(`verify/bundled/predictions.json`), which this checkout does not have yet.",
            ),
        )
        return
    data = json.loads(src.read_text(encoding="utf-8"))
    records = data.get("predictions", data) if isinstance(data, dict) else data
    out.write_bytes("figures/predictions.png", predictions_png(records[:8], src.parent))
    out.write_text(
        "fragments/figure-predictions.md",
        ":::{figure} /_generated/figures/predictions.png\n:alt: sample images with their "
        "five most probable classes\n\nSample test images and the five classes the bundled "
        "net finds most probable; green marks the true class. Drawn at build time.\n:::\n",
    )


def generate(out: Output) -> None:
    filters_section(out)
    predictions_section(out)
