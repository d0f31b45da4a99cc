"""Training-time augmentation and test-time views (paper section 4.1;
docs/reference/recreation.md#recreation-augmentation and #recreation-test-views).

What the 2012 code did, and this module does by default:

* mean subtraction with the CENTRAL window of the per-pixel mean image, whatever the
  crop offset or flip (the mean is not cropped along with the image);
* random crops with offsets drawn from 0..2b INCLUSIVE (2b+1 positions per axis, where
  b is the border, ``(stored - input) / 2``; 0..stored - input when that is odd) and a
  left-right flip with probability 1/2;
* ``crop_chunk``: how many consecutive images share one offset and one flip. The
  ImageNet JPEG provider used 32; the CIFAR providers drew per image (1). The
  defaults follow that (:func:`default_crop_chunk`);
* PCA colour noise, ``pca_noise``:
    - ``"code"`` (2012 code): per image ``c * V (z * s)`` with ``z ~ N(0, I)``,
      ``s`` the square roots of the eigenvalues, then the whole crop divided by
      ``1 + c`` (c = 0.1);
    - ``"paper"`` (as written): ``V (a * lambda)`` with ``a ~ N(0, c)``,
      eigenvalue-scaled and no rescale. Taken literally on 0-255 pixels this is a
      large shift (lambda_1 is in the thousands), which is why it is not the default;
    - ``"off"``.
* test views: 1 (centre), 9 (3x3 grid of offsets 0, b, 2b; the 2012 CIFAR provider,
  no mirrors) or 10 (four corners + centre and their mirrors; the ImageNet provider).

The network sees float32 NCHW raw 0-255 values minus the mean (no division by 255).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alexnet.errors import ConfigError

PCA_MODES = ("code", "paper", "off")
VIEW_COUNTS = (1, 9, 10)


def default_crop_chunk(stored_size: int) -> int:
    """32 for the ImageNet path (2012 JPEG provider), 1 (per image) for CIFAR."""
    return 32 if stored_size > 32 else 1


def mean_image(images: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Per-pixel mean over the training set, float32 (H, W, 3); accumulated in float64."""
    n = images.shape[0]
    if n == 0:
        raise ConfigError("cannot compute a mean image of an empty training set")
    acc = np.zeros(images.shape[1:], np.float64)
    for i in range(0, n, chunk):
        acc += images[i : i + chunk].sum(axis=0, dtype=np.float64)
    return (acc / n).astype(np.float32)


def rgb_pca(images: np.ndarray, max_pixels: int = 20_000_000, chunk: int = 1024
            ) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns) of the RGB pixel covariance.

    Uses every pixel of every image when there are at most ``max_pixels``; otherwise
    an evenly spaced subset of the images (deterministic), enough for a 3x3 matrix.
    """
    n, h, w, _ = images.shape
    step = max(1, int(np.ceil(n * h * w / max_pixels)))
    s1 = np.zeros(3, np.float64)
    s2 = np.zeros((3, 3), np.float64)
    count = 0
    idx = np.arange(0, n, step)
    for i in range(0, len(idx), chunk):
        px = np.asarray(images[idx[i : i + chunk]], dtype=np.float64).reshape(-1, 3)
        s1 += px.sum(axis=0)
        s2 += px.T @ px
        count += px.shape[0]
    mu = s1 / count
    cov = s2 / count - np.outer(mu, mu)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    return np.clip(vals[order], 0, None), vecs[:, order]


@dataclass
class Augmenter:
    """Turns uint8 (B, S, S, 3) images into the float32 NCHW batches the net reads."""

    mean: np.ndarray  # float32 (S, S, 3), S = stored size
    out_size: int  # the net's input side
    pca_vals: np.ndarray | None = None
    pca_vecs: np.ndarray | None = None
    pca_noise: str = "code"
    color_noise: float = 0.1
    crop_chunk: int = 1
    flip: bool = True
    crop: bool = True

    def __post_init__(self) -> None:
        s = self.mean.shape[0]
        if self.mean.shape != (s, s, 3):
            raise ConfigError(f"mean image has shape {self.mean.shape}, expected (S, S, 3)")
        if self.out_size > s:
            raise ConfigError(
                f"the net reads {self.out_size}x{self.out_size} but images are stored "
                f"{s}x{s}; need a stored size >= the input"
            )
        if self.pca_noise not in PCA_MODES:
            raise ConfigError(f"pca_noise must be one of {PCA_MODES}, got {self.pca_noise!r}")
        if self.crop_chunk < 1:
            raise ConfigError(f"crop_chunk must be >= 1, got {self.crop_chunk}")
        if self.pca_noise != "off" and (self.pca_vals is None or self.pca_vecs is None):
            raise ConfigError("PCA colour noise needs the training set's eigen-decomposition")
        # an odd difference (Caffe's 227 crops of 256 images) puts the centre at the
        # floor, as Caffe's centre crop does, and the far corners at the last offset
        self.span = s - self.out_size
        self.border = self.span // 2
        b, o = self.border, self.out_size
        self.mean_window = np.ascontiguousarray(self.mean[b : b + o, b : b + o])

    @property
    def stored_size(self) -> int:
        return int(self.mean.shape[0])

    # ---- training

    def train_batch(self, images: np.ndarray, rng: np.random.Generator,
                    color_noise: float | None = None) -> np.ndarray:
        """Random crops + flips (shared per ``crop_chunk``), mean, colour noise -> NCHW."""
        n = images.shape[0]
        o, b, span = self.out_size, self.border, self.span
        out = np.empty((n, o, o, 3), np.float32)
        for c0 in range(0, n, self.crop_chunk):
            c1 = min(c0 + self.crop_chunk, n)
            if self.crop and b > 0:
                y, x = int(rng.integers(0, span + 1)), int(rng.integers(0, span + 1))
            else:
                y = x = b
            flip = bool(rng.integers(0, 2)) if self.flip else False
            pic = images[c0:c1, y : y + o, x : x + o]
            if flip:
                pic = pic[:, :, ::-1]
            out[c0:c1] = pic
        out -= self.mean_window
        c = self.color_noise if color_noise is None else color_noise
        if self.pca_noise != "off" and c > 0:
            z = rng.standard_normal((n, 3))
            if self.pca_noise == "code":
                noise = (z * np.sqrt(self.pca_vals)) @ self.pca_vecs.T * c
            else:  # paper: alpha ~ N(0, c), eigenvalue-scaled, no rescale
                noise = (z * c * self.pca_vals) @ self.pca_vecs.T
            out += noise.astype(np.float32)[:, None, None, :]
            if self.pca_noise == "code":
                out /= np.float32(1.0 + c)
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    # ---- testing

    def view_offsets(self, views: int) -> list[tuple[int, int, bool]]:
        """(y, x, mirrored) of each test view, in the 2012 providers' order."""
        b, e = self.border, self.span
        if views == 1:
            return [(b, b, False)]
        if views == 9:
            return [(y, x, False) for y in (0, b, e) for x in (0, b, e)]
        if views == 10:
            five = [(0, 0), (0, e), (b, b), (e, 0), (e, e)]
            return [(y, x, False) for y, x in five] + [(y, x, True) for y, x in five]
        raise ConfigError(f"views must be one of {VIEW_COUNTS}, got {views}")

    def view_batch(self, images: np.ndarray, y: int, x: int, mirrored: bool) -> np.ndarray:
        o = self.out_size
        pic = images[:, y : y + o, x : x + o]
        if mirrored:
            pic = pic[:, :, ::-1]
        out = pic.astype(np.float32)
        out -= self.mean_window
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
