"""Any decoded image as 8-bit RGB, the one conversion every image reader uses.

``PIL.Image.convert("RGB")`` clips the integer modes of 16-bit images (``I;16``, ``I``)
at 255 instead of scaling them, so a 16-bit grayscale PNG came out nearly white. Here
16-bit values are scaled to 8 bits (the top byte) and float images (``F``, assumed in
0..1) are scaled by 255; palettes with transparency go through RGBA as PIL advises.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def to_rgb(img: Image.Image) -> Image.Image:
    """``img`` in mode RGB with 8-bit channels, scaled (not clipped) from deeper modes."""
    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT:
        a = np.asarray(img, dtype=np.int64)
        a = np.clip(a, 0, 65535) >> 8
        return Image.fromarray(a.astype(np.uint8), mode="L").convert("RGB")
    if img.mode == "F":
        a = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0)
        a = np.clip(np.rint(a * 255.0), 0, 255)
        return Image.fromarray(a.astype(np.uint8), mode="L").convert("RGB")
    if img.mode in ("P", "PA") and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")
