"""The colour PCA of a training set: one computation for every route into the 2012 format.

The paper's colour augmentation (section 4.1) adds multiples of the principal components
of the RGB pixel values "throughout the training set"; the 2012 data provider read them
from ``batches.meta`` as ``color_pca`` = (square roots of the eigenvalues, eigenvectors
as columns). Three places need them: the PyTorch port's training, the pipeline's
``prepare`` stage (``pca.json`` and the batch files) and the re-creation's converters
(``alexnet original convert-cifar`` / ``convert-images``). They all call this module, so
the same images give the same numbers whichever route wrote them.

The choices, and why:

* **Which pixels.** Every pixel of every training image, as the paper says, while that is
  at most :data:`MAX_PIXELS` (20 million: all of CIFAR-10 at 32x32 would be 51 million);
  beyond that an evenly spaced subset of the IMAGES (every ``step``-th, in the data set's
  sorted order, :func:`image_step`), never a random one, so the result needs no seed.
  20 million pixels pin a 3x3 covariance far below the noise the augmentation adds.
* **Accumulation.** Sums of ``x`` and ``x x^T`` in float64 (:class:`PixelMoments`). For
  0-255 pixel values every partial sum is an integer below 2^53, so the sums are EXACT:
  the result does not depend on the order in which images or chunks arrive, which is what
  lets a streaming converter and an in-memory stage agree bit for bit.
* **Normalisation.** The population covariance (divide by the pixel count): it is the
  PCA of the pixel set itself; with millions of pixels n versus n-1 is immaterial.
* **Eigen order.** Descending eigenvalues (the first component is the largest, as the
  paper and the 2012 ``color_pca`` list them); eigenvalues clipped at 0 (rounding can make
  the smallest a hair negative, and the noise takes their square roots).
* **Signs.** As ``numpy.linalg.eigh`` returns them. Either sign of an eigenvector is an
  equally correct PCA and the noise distribution is symmetric, but the sign decides which
  colour shift a given random draw makes: imposing a convention now would change the noise
  of every seeded run and with it every trained number already recorded.
"""

from __future__ import annotations

import numpy as np

#: Pixels used at most; beyond this an evenly spaced subset of the images.
MAX_PIXELS = 20_000_000


class PixelMoments:
    """Running float64 sums of RGB pixels and their outer products (exact for 0-255)."""

    def __init__(self) -> None:
        self.s1 = np.zeros(3, np.float64)
        self.s2 = np.zeros((3, 3), np.float64)
        self.count = 0

    def add(self, pixels: np.ndarray) -> None:
        """Add pixels given as a ``(k, 3)`` array (any numeric dtype)."""
        px = np.asarray(pixels, dtype=np.float64).reshape(-1, 3)
        self.s1 += px.sum(axis=0)
        self.s2 += px.T @ px
        self.count += px.shape[0]

    def add_columns(self, data: np.ndarray) -> None:
        """Add the images of a 2012 batch matrix, ``(3*H*W, cases)`` one image per column."""
        self.add(np.asarray(data).reshape(3, -1).T)

    def pca(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (descending, >= 0) and eigenvectors (columns) of the covariance."""
        if self.count == 0:
            raise ValueError("colour PCA of no pixels")
        mu = self.s1 / self.count
        cov = self.s2 / self.count - np.outer(mu, mu)
        vals, vecs = np.linalg.eigh(cov)
        order = np.argsort(vals)[::-1]
        return np.clip(vals[order], 0, None), vecs[:, order]


def image_step(n_images: int, pixels_per_image: int, max_pixels: int | None = None) -> int:
    """Use every ``step``-th image so that at most ``max_pixels`` pixels are summed."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    return max(1, int(np.ceil(n_images * pixels_per_image / limit)))


def rgb_pca(images: np.ndarray, max_pixels: int | None = None, chunk: int = 1024
            ) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns) of the RGB pixel covariance.

    ``images`` is ``(N, H, W, 3)`` in the data set's order; every ``step``-th image is
    used (:func:`image_step`), read ``chunk`` images at a time.
    """
    n, h, w, _ = images.shape
    step = image_step(n, h * w, max_pixels)
    moments = PixelMoments()
    idx = np.arange(0, n, step)
    for i in range(0, len(idx), chunk):
        moments.add(images[idx[i : i + chunk]])
    return moments.pca()


def color_pca_2012(vals: np.ndarray, vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``batches.meta`` pair: float32 square roots of the eigenvalues, float32 vectors."""
    return (np.sqrt(np.maximum(vals, 0)).astype(np.float32), np.asarray(vecs, np.float32))
