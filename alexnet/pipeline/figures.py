"""The report's figures, drawn without a plotting library: PNG with Pillow, SVG by hand.

The project's dependencies stop at numpy, Pillow and torch, and the report must build on
any machine that can run the pipeline, so the two kinds of chart the report needs (line
charts of per-epoch values, and a confusion matrix) are drawn here in a few dozen lines
each. Each chart is described once (:class:`LineChart`, :class:`Heatmap`) and rendered
twice: ``png()`` for the Markdown report, ``svg()`` for the HTML one (sharp at any zoom).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import numpy as np

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
WIDTH, HEIGHT = 640, 360
MARGIN = {"left": 64, "right": 20, "top": 36, "bottom": 48}


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, count: int = 5, *, min_step: float = 0.0) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = max(min_step, next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw))
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 0.5:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


@dataclass
class LineChart:
    """Series of (x, y) points on shared axes; None values are gaps."""

    title: str
    xlabel: str
    ylabel: str
    series: dict[str, tuple[list[float], list[float | None]]] = field(default_factory=dict)
    percent: bool = False  # y values are fractions shown as percentages

    def _bounds(self) -> tuple[list[float], list[float]]:
        xs = [x for s in self.series.values() for x, y in zip(*s, strict=True) if y is not None]
        ys = [y for s in self.series.values() for y in s[1] if y is not None]
        if not xs:
            xs, ys = [0.0, 1.0], [0.0, 1.0]
        xt = (nice_ticks(min(xs), max(xs), 6, min_step=1.0) if max(xs) > min(xs)
              else [min(xs) - 1, max(xs) + 1])
        yt = nice_ticks(min(0.0, min(ys)) if self.percent else min(ys), max(ys), 5)
        return xt, yt

    def _mapper(self):
        xt, yt = self._bounds()
        x0, x1 = MARGIN["left"], WIDTH - MARGIN["right"]
        y0, y1 = HEIGHT - MARGIN["bottom"], MARGIN["top"]

        def fx(x: float) -> float:
            return x0 + (x - xt[0]) / (xt[-1] - xt[0]) * (x1 - x0)

        def fy(y: float) -> float:
            return y0 - (y - yt[0]) / (yt[-1] - yt[0]) * (y0 - y1)

        return xt, yt, fx, fy

    def _ytext(self, v: float) -> str:
        return f"{100 * v:g}%" if self.percent else _fmt(v)

    def _segments(self, xs, ys) -> list[list[tuple[float, float]]]:
        segs: list[list[tuple[float, float]]] = [[]]
        for x, y in zip(xs, ys, strict=True):
            if y is None or not math.isfinite(y):
                segs.append([])
            else:
                segs[-1].append((x, y))
        return [s for s in segs if s]

    def png(self, path: str | Path) -> Path:
        from PIL import Image, ImageDraw

        xt, yt, fx, fy = self._mapper()
        img = Image.new("RGB", (WIDTH, HEIGHT), "white")
        d = ImageDraw.Draw(img)
        f, fs = _font(13), _font(11)
        left, right = MARGIN["left"], WIDTH - MARGIN["right"]
        top, bottom = MARGIN["top"], HEIGHT - MARGIN["bottom"]
        for t in yt:
            y = fy(t)
            d.line([(left, y), (right, y)], fill="#e5e5e5")
            d.text((left - 6, y), self._ytext(t), fill="#333", font=fs, anchor="rm")
        for t in xt:
            x = fx(t)
            d.line([(x, bottom), (x, bottom + 4)], fill="#333")
            d.text((x, bottom + 6), _fmt(t), fill="#333", font=fs, anchor="mt")
        d.rectangle([left, top, right, bottom], outline="#333")
        d.text((WIDTH / 2, 10), self.title, fill="black", font=f, anchor="mt")
        d.text((WIDTH / 2, HEIGHT - 16), self.xlabel, fill="#333", font=fs, anchor="mt")
        d.text((8, top - 6), self.ylabel, fill="#333", font=fs, anchor="ls")
        for k, (name, (xs, ys)) in enumerate(self.series.items()):
            color = PALETTE[k % len(PALETTE)]
            for seg in self._segments(xs, ys):
                pts = [(fx(x), fy(y)) for x, y in seg]
                if len(pts) > 1:
                    d.line(pts, fill=color, width=2)
                for px, py in pts:
                    d.ellipse([px - 2.5, py - 2.5, px + 2.5, py + 2.5], fill=color)
            ly = top + 10 + 16 * k
            d.line([(right - 190, ly), (right - 170, ly)], fill=color, width=2)
            d.text((right - 165, ly), name, fill="#333", font=fs, anchor="lm")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
        return path

    def svg(self) -> str:
        xt, yt, fx, fy = self._mapper()
        left, right = MARGIN["left"], WIDTH - MARGIN["right"]
        top, bottom = MARGIN["top"], HEIGHT - MARGIN["bottom"]
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
               f'width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">',
               f'<title>{escape(self.title)}</title>',
               f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
        for t in yt:
            y = fy(t)
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
                       'stroke="#e5e5e5"/>')
            out.append(f'<text x="{left - 6}" y="{y:.1f}" text-anchor="end" '
                       f'dominant-baseline="middle">{escape(self._ytext(t))}</text>')
        for t in xt:
            x = fx(t)
            out.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
                       f'{escape(_fmt(t))}</text>')
        out.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
                   'fill="none" stroke="#333"/>')
        out.append(f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="13">'
                   f'{escape(self.title)}</text>')
        out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
                   f'{escape(self.xlabel)}</text>')
        out.append(f'<text x="8" y="{top - 6}">{escape(self.ylabel)}</text>')
        for k, (name, (xs, ys)) in enumerate(self.series.items()):
            color = PALETTE[k % len(PALETTE)]
            for seg in self._segments(xs, ys):
                pts = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in seg)
                out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" '
                           'stroke-width="2"/>')
                for x, y in seg:
                    out.append(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="2.5" '
                               f'fill="{color}"><title>{escape(name)}: epoch {_fmt(x)}, '
                               f'{escape(self._ytext(y))}</title></circle>')
            ly = top + 10 + 16 * k
            out.append(f'<line x1="{right - 190}" y1="{ly}" x2="{right - 170}" y2="{ly}" '
                       f'stroke="{color}" stroke-width="2"/>')
            out.append(f'<text x="{right - 165}" y="{ly}" dominant-baseline="middle">'
                       f'{escape(name)}</text>')
        out.append("</svg>")
        return "\n".join(out)


@dataclass
class Heatmap:
    """A confusion matrix: rows = true class, columns = predicted class, cells = counts."""

    title: str
    labels: list[str]
    counts: np.ndarray

    CELL = 34
    LEFT = 96
    TOP = 110

    def _shade(self, v: float, vmax: float) -> tuple[int, int, int]:
        a = 0.0 if vmax <= 0 else min(1.0, v / vmax)
        return (int(255 - a * (255 - 31)), int(255 - a * (255 - 119)), int(255 - a * (255 - 180)))

    def _size(self) -> tuple[int, int]:
        n = len(self.labels)
        return self.LEFT + n * self.CELL + 20, self.TOP + n * self.CELL + 40

    def png(self, path: str | Path) -> Path:
        from PIL import Image, ImageDraw

        n = len(self.labels)
        w, h = self._size()
        img = Image.new("RGB", (w, h), "white")
        d = ImageDraw.Draw(img)
        f, fs = _font(13), _font(10)
        vmax = float(self.counts.max()) if self.counts.size else 0.0
        for i in range(n):
            for j in range(n):
                v = float(self.counts[i, j])
                x, y = self.LEFT + j * self.CELL, self.TOP + i * self.CELL
                d.rectangle([x, y, x + self.CELL - 1, y + self.CELL - 1],
                            fill=self._shade(v, vmax))
                d.text((x + self.CELL / 2, y + self.CELL / 2), str(int(v)), font=fs,
                       fill="white" if vmax and v / vmax > 0.6 else "#222", anchor="mm")
        for k, lab in enumerate(self.labels):
            d.text((self.LEFT - 6, self.TOP + k * self.CELL + self.CELL / 2), lab[:12], font=fs,
                   fill="#333", anchor="rm")
            txt = Image.new("RGBA", (90, 14), (255, 255, 255, 0))
            ImageDraw.Draw(txt).text((0, 7), lab[:12], font=fs, fill="#333", anchor="lm")
            rot = txt.rotate(60, expand=True)
            img.paste(rot, (int(self.LEFT + k * self.CELL + self.CELL / 2 - 8),
                            self.TOP - rot.size[1] - 2), rot)
        d.text((w / 2, 8), self.title, font=f, fill="black", anchor="mt")
        d.text((self.LEFT + n * self.CELL / 2, h - 20), "rows: true class, columns: predicted",
               font=fs, fill="#333", anchor="mt")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
        return path

    def svg(self) -> str:
        n = len(self.labels)
        w, h = self._size()
        vmax = float(self.counts.max()) if self.counts.size else 0.0
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" '
               f'height="{h}" font-family="sans-serif" font-size="10">',
               f'<title>{escape(self.title)}</title>',
               f'<rect width="{w}" height="{h}" fill="white"/>',
               f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="13">'
               f'{escape(self.title)}</text>']
        for i in range(n):
            for j in range(n):
                v = float(self.counts[i, j])
                x, y = self.LEFT + j * self.CELL, self.TOP + i * self.CELL
                r, g, b = self._shade(v, vmax)
                color = "white" if vmax and v / vmax > 0.6 else "#222"
                out.append(f'<rect x="{x}" y="{y}" width="{self.CELL - 1}" '
                           f'height="{self.CELL - 1}" fill="rgb({r},{g},{b})"><title>true '
                           f'{escape(self.labels[i])}, predicted {escape(self.labels[j])}: '
                           f'{int(v)}</title></rect>')
                out.append(f'<text x="{x + self.CELL / 2}" y="{y + self.CELL / 2}" '
                           f'text-anchor="middle" dominant-baseline="middle" fill="{color}">'
                           f'{int(v)}</text>')
        for k, lab in enumerate(self.labels):
            y = self.TOP + k * self.CELL + self.CELL / 2
            out.append(f'<text x="{self.LEFT - 6}" y="{y}" text-anchor="end" '
                       f'dominant-baseline="middle">{escape(lab)}</text>')
            x = self.LEFT + k * self.CELL + self.CELL / 2
            out.append(f'<text transform="translate({x},{self.TOP - 6}) rotate(-60)">'
                       f'{escape(lab)}</text>')
        out.append(f'<text x="{self.LEFT + n * self.CELL / 2}" y="{h - 12}" '
                   'text-anchor="middle">rows: true class, columns: predicted</text>')
        out.append("</svg>")
        return "\n".join(out)


def image_png(pixels: np.ndarray, path: str | Path, *, scale: int = 1) -> Path:
    """An (H, W, 3) array in [0, 255] as a PNG, optionally enlarged (nearest neighbour)."""
    from PIL import Image

    arr = np.clip(np.asarray(pixels, np.float64), 0, 255).round().astype(np.uint8)
    img = Image.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
