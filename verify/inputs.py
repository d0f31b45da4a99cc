"""Deterministic inputs: generated images for the ImageNet-size suite.

The ImageNet-size suite must run offline from a clean clone, so its inputs are made
from a seed rather than shipped: smooth colour fields with edges and fine texture, in
the raw 0-255 pixel range, minus a constant mean of 128 ("mean-subtracted raw pixels",
the input convention of both implementations). numpy's legacy ``RandomState`` is used
because its streams are frozen across numpy versions, so the same seed gives the same
images everywhere.
"""

from __future__ import annotations

import numpy as np

PIXEL_MEAN = 128.0


def synthetic_images(n: int, size: int, seed: int) -> np.ndarray:
    """(n, 3, size, size) float32, mean-subtracted pixels in [-128, 127]."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    out = np.empty((n, 3, size, size), dtype=np.float32)
    for i in range(n):
        img = np.zeros((3, size, size))
        for c in range(3):
            field = np.zeros((size, size))
            for _ in range(4):  # low-frequency waves: shading and colour regions
                fy, fx = rng.uniform(0.5, 4.0, size=2)
                phase = rng.uniform(0, 2 * np.pi)
                field += rng.uniform(20, 50) * np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)
            img[c] = field
        # a few hard-edged rectangles (object boundaries)
        for _ in range(3):
            y0, x0 = rng.randint(0, size - 8, size=2)
            h, w = rng.randint(8, size // 2, size=2)
            img[:, y0:y0 + h, x0:x0 + w] += rng.uniform(-80, 80, size=(3, 1, 1))
        img += rng.normal(0.0, 8.0, size=img.shape)  # sensor noise / texture
        pixels = np.clip(np.round(128.0 + img), 0, 255)
        out[i] = (pixels - PIXEL_MEAN).astype(np.float32)
    return out


def synthetic_labels(n: int, classes: int, seed: int) -> np.ndarray:
    return np.random.RandomState(seed + 1).randint(0, classes, size=n).astype(np.int64)
