"""Data providers: 2012 batch files -> the float32 matrices the engine consumes.

Re-creates the provider machinery of the 2012 driver: the base classes it took from
the public release (cc2011 ``data.py`` L28-L234: batch ranges, epoch wrap-around,
split batches, the provider registry), the CIFAR providers (``convdata_cifar.py``
L6-L99), the raw-pixel ImageNet providers (``convdata.py`` L32-L268: crops, flips,
10-view test, colour noise) and the dummy provider (``convdata.py`` L311-L336). The
registry names are those of ``convnet.py`` L199-L209.

Every provider returns ``(epoch, batchnum, [data, labels])`` with ``data`` float32
``(dims, cases)`` (one image per column, channel-major pixels, mean subtracted, raw
0-255 scale) and ``labels`` float32 ``(1, cases)``, as the 2012 C++ side wanted.

Randomness (crop offsets, flips, colour noise) comes from a generator seeded by
``(seed, epoch, batchnum)``, so a resumed run draws exactly what an uninterrupted one
would have drawn. 2012 used numpy's global generator and a background thread; the
thread (which overlapped loading with training and sometimes reused a noise batch)
is left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alexnet.errors import DataError
from alexnet.original import batches


class DataProvider:
    """Walks a batch range in file order, wrapping into the next epoch (cc2011 data.py)."""

    def __init__(self, data_dir: str, batch_range: list[int] | None = None, init_epoch: int = 1,
                 init_batchnum: int | None = None, dp_params: dict[str, Any] | None = None,
                 test: bool = False):
        self.data_dir = data_dir
        self.dp_params = dict(dp_params or {})
        self.test = test
        self.batch_meta = batches.read_meta(data_dir)
        if batch_range is None:
            batch_range = batches.batch_numbers(data_dir)
        if not batch_range:
            raise DataError(f"{data_dir}: no data_batch_N files")
        self.batch_range = list(batch_range)
        if init_batchnum is None or init_batchnum not in self.batch_range:
            init_batchnum = self.batch_range[0]
        self.curr_epoch = init_epoch
        self.curr_batchnum = init_batchnum
        self.batch_idx = self.batch_range.index(init_batchnum)
        self.seed = int(self.dp_params.get("seed", 0))
        self._cache: tuple[int, dict[str, Any]] | None = None

    # ---------------------------------------------------------------- iteration
    def get_batch(self, num: int) -> dict[str, Any]:
        if self._cache is not None and self._cache[0] == num:
            return self._cache[1]
        dic = batches.read_batch(self.data_dir, num, self.batch_meta)
        self._cache = (num, dic)
        return dic

    def advance_batch(self) -> None:
        self.batch_idx = (self.batch_idx + 1) % len(self.batch_range)
        self.curr_batchnum = self.batch_range[self.batch_idx]
        if self.batch_idx == 0:
            self.curr_epoch += 1

    def get_next_batch(self) -> tuple[int, int, list[np.ndarray]]:
        epoch, num = self.curr_epoch, self.curr_batchnum
        dic = self.get_batch(num)
        self.advance_batch()
        rng = np.random.default_rng([self.seed, epoch, num, int(self.test)])
        return epoch, num, self.prepare(dic, rng)

    def prepare(self, dic: dict[str, Any], rng: np.random.Generator) -> list[np.ndarray]:
        raise NotImplementedError

    # ---------------------------------------------------------------- facts
    def get_num_classes(self) -> int:
        return len(self.batch_meta["label_names"])

    def get_data_dims(self, idx: int = 0) -> int:
        return int(self.batch_meta["num_vis"]) if idx == 0 else 1

    @property
    def num_views(self) -> int:
        return 1

    @property
    def image_shape(self) -> tuple[int, int, int]:
        size = int(round((self.get_data_dims(0) / 3) ** 0.5))
        return (3, size, size)

    def label_names(self) -> list[str]:
        return [str(n) for n in self.batch_meta["label_names"]]

    def plottable(self, data: np.ndarray) -> np.ndarray:
        """(cases, H, W, 3) float in [0, 1] with the mean added back (for shownet)."""
        c, h, w = self.image_shape
        img = (data + self.mean_for_plot()).T.reshape(-1, c, h, w).transpose(0, 2, 3, 1)
        return np.clip(img / 255.0, 0, 1)

    def mean_for_plot(self) -> np.ndarray:
        return self.batch_meta["data_mean"]


def _labels(dic: dict[str, Any], mult: int = 1) -> np.ndarray:
    lab = np.asarray(dic["labels"], dtype=np.float32).reshape(1, -1)
    return np.ascontiguousarray(np.tile(lab, (1, mult)))


def _mean(meta: dict[str, Any], dp_params: dict[str, Any]) -> np.ndarray:
    """The mean image, or with --scalar-mean its average over all pixels and channels."""
    mean = meta["data_mean"]
    if dp_params.get("scalar_mean"):
        return np.full_like(mean, mean.mean(dtype=np.float64))
    return mean


class CIFARDataProvider(DataProvider):
    """``cifar``: whole 32x32 images minus the mean image."""

    def prepare(self, dic, rng):
        mean = _mean(self.batch_meta, self.dp_params)
        data = np.ascontiguousarray(dic["data"].astype(np.float32) - mean)
        return [data, _labels(dic)]


class CroppedDataProvider(DataProvider):
    """Shared crop logic: inner = size - 2*border; random crop + mirror for training,
    centre crop (or the multiview set) for testing; mean = centre crop of the mean.

    ``crop_size`` (a dp_param the 2012 providers did not have) sets the inner size
    directly, for nets whose input leaves an odd margin: Caffe's 227 crops of 256
    images (the BVLC nets). The span ``size - crop_size`` is then split as Caffe and
    the port's test views split it: the centre at ``span // 2``, the far corners and
    the last training offset at ``span``. Without it the span is ``2 * border``, the
    2012 rule, and nothing changes.
    """

    crop_chunk = 1
    view_kind = "grid9"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.img_size = int(self.batch_meta.get("img_size") or
                            round((int(self.batch_meta["num_vis"]) / 3) ** 0.5))
        crop_size = self.dp_params.get("crop_size")
        if crop_size:
            self.inner = int(crop_size)
            self.span = self.img_size - self.inner
            self.border = self.span // 2
            if not 1 <= self.inner <= self.img_size:
                raise DataError(f"crop size {self.inner} does not fit a "
                                f"{self.img_size}x{self.img_size} image")
        else:
            self.border = int(self.dp_params.get("crop_border", 4))
            self.inner = self.img_size - 2 * self.border
            self.span = 2 * self.border
            if self.inner < 1:
                raise DataError(f"--crop-border={self.border} leaves nothing of a "
                                f"{self.img_size}x{self.img_size} image")
        self.multiview = bool(self.dp_params.get("multiview_test", 0)) and self.test
        mean = _mean(self.batch_meta, self.dp_params).reshape(3, self.img_size, self.img_size)
        b, i = self.border, self.inner
        self.mean_crop = np.ascontiguousarray(mean[:, b:b + i, b:b + i]).reshape(-1, 1)

    def get_data_dims(self, idx: int = 0) -> int:
        return self.inner * self.inner * 3 if idx == 0 else 1

    @property
    def num_views(self) -> int:
        if not self.multiview:
            return 1
        return 9 if self.view_kind == "grid9" else 10

    def mean_for_plot(self):
        return self.mean_crop

    def _views(self) -> list[tuple[int, int, bool]]:
        b, e = self.border, self.span
        if self.view_kind == "grid9":
            return [(y, x, False) for y in (0, b, e) for x in (0, b, e)]
        five = [(0, 0), (0, e), (b, b), (e, 0), (e, e)]
        return [(y, x, False) for y, x in five] + [(y, x, True) for y, x in five]

    def crop(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = x.shape[1]
        y = x.reshape(3, self.img_size, self.img_size, n)
        i = self.inner
        if self.test:
            if not self.multiview:
                b = self.border
                return np.ascontiguousarray(y[:, b:b + i, b:b + i, :]).reshape(-1, n)
            out = np.empty((3 * i * i, n * self.num_views), dtype=x.dtype)
            for v, (sy, sx, flip) in enumerate(self._views()):
                pic = y[:, sy:sy + i, sx:sx + i, :]
                if flip:
                    pic = pic[:, :, ::-1, :]
                out[:, v * n:(v + 1) * n] = pic.reshape(-1, n)
            return out
        out = np.empty((3 * i * i, n), dtype=x.dtype)
        for c in range(0, n, self.crop_chunk):
            e = min(n, c + self.crop_chunk)
            sy, sx = rng.integers(0, self.span + 1, size=2)
            pic = y[:, sy:sy + i, sx:sx + i, c:e]
            if rng.integers(2) == 0:
                pic = pic[:, :, ::-1, :]
            out[:, c:e] = pic.reshape(-1, e - c)
        return out

    def prepare(self, dic, rng):
        data = self.crop(dic["data"], rng).astype(np.float32)
        data -= self.mean_crop
        return [np.ascontiguousarray(data), _labels(dic, self.num_views)]


class CroppedCIFARDataProvider(CroppedDataProvider):
    """``cifar-cropped``: one random crop and mirror per image; 9 test views on a 3x3 grid."""

    crop_chunk = 1
    view_kind = "grid9"


class CroppedImageNetLogRegDP(CroppedDataProvider):
    """``inet-lr-cropped``: 256x256 raw-pixel batches, crops shared by chunks of 32 images,
    10 test views (4 corners + centre, and their mirrors), optional colour noise."""

    crop_chunk = 32
    view_kind = "ten"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.color_noise = float(self.dp_params.get("color_noise", 0.0))
        pca = self.batch_meta.get("color_pca")
        if self.color_noise > 0 and pca is None:
            raise DataError(f"{self.data_dir}/batches.meta has no color_pca, needed by "
                            "--color-noise")
        if pca is not None:
            self.color_stdevs = np.asarray(pca[0], dtype=np.float32).reshape(3)
            self.color_eig = np.asarray(pca[1], dtype=np.float32).reshape(3, 3)

    def prepare(self, dic, rng):
        data, labels = super().prepare(dic, rng)
        c = self.color_noise
        if c > 0 and not self.test:
            n = data.shape[1]
            # one 3-vector per image: (z * stdevs) in the eigenvector basis; the whole crop is
            # then divided by 1 + c (convdata.py L155-L179)
            z = rng.standard_normal((n, 3)).astype(np.float32)
            noise = (z * self.color_stdevs[None, :]) @ self.color_eig.T      # (n, 3)
            d3 = data.reshape(3, -1, n)
            d3 += np.float32(c) * noise.T[:, None, :]
            data /= np.float32(1.0 + c)
        return [data, labels]


class ImageNetLogRegDP(DataProvider):
    """``inet-lr``: whole (uncropped) images minus the mean image."""

    def prepare(self, dic, rng):
        mean = _mean(self.batch_meta, self.dp_params)
        data = np.ascontiguousarray(dic["data"].astype(np.float32) - mean)
        return [data, _labels(dic)]


class DummyConvNetLogRegDP:
    """``dummy-lr-N``: random data of N values per case, 10 classes, no files needed."""

    def __init__(self, dims: int, num_classes: int = 10, cases: int = 128, seed: int = 0):
        self.dims, self.classes, self.cases, self.seed = dims, num_classes, cases, seed
        self.curr_epoch, self.curr_batchnum, self.batch_range = 1, 1, [1]
        self.test = False
        self.batch_meta = {"label_names": [str(i) for i in range(num_classes)], "num_vis": dims,
                           "data_mean": np.zeros((dims, 1), np.float32)}

    def get_next_batch(self):
        rng = np.random.default_rng([self.seed, self.curr_epoch])
        data = rng.standard_normal((self.dims, self.cases)).astype(np.float32)
        labels = rng.integers(0, self.classes, (1, self.cases)).astype(np.float32)
        epoch = self.curr_epoch
        self.curr_epoch += 1
        return epoch, 1, [data, labels]

    def advance_batch(self) -> None:
        self.curr_epoch += 1

    def get_num_classes(self) -> int:
        return self.classes

    def get_data_dims(self, idx: int = 0) -> int:
        return self.dims if idx == 0 else 1

    num_views = 1


#: registry: --data-provider name -> (class, description)   (convnet.py L199-L209)
PROVIDERS: dict[str, tuple[type, str]] = {
    "cifar": (CIFARDataProvider, "CIFAR"),
    "cifar-cropped": (CroppedCIFARDataProvider, "Cropped CIFAR"),
    "inet-lr": (ImageNetLogRegDP, "ImageNet logistic regression"),
    "inet-lr-cropped": (CroppedImageNetLogRegDP, "ImageNet logistic regression cropped"),
    "dummy-lr-n": (DummyConvNetLogRegDP, "Dummy ConvNet logistic regression"),
}


def get_instance(data_dir: str, batch_range: list[int] | None = None, init_epoch: int = 1,
                 init_batchnum: int | None = None, type: str | None = None,
                 dp_params: dict[str, Any] | None = None, test: bool = False):
    """Make a provider by registry name; with no name the meta's ``dp_type`` decides."""
    if not type:
        type = batches.read_meta(data_dir).get("dp_type")
        if not type:
            raise DataError(f"{data_dir}/batches.meta names no dp_type; pass --data-provider "
                            f"(one of {', '.join(PROVIDERS)})")
    if type.startswith("dummy-lr-"):
        try:
            dims = int(type.rsplit("-", 1)[1])
        except ValueError:
            raise DataError(f"data provider {type!r}: expected dummy-lr-<dims>") from None
        return DummyConvNetLogRegDP(dims, seed=int((dp_params or {}).get("seed", 0)))
    if type not in PROVIDERS:
        raise DataError(f"no such data provider {type!r} (known: {', '.join(PROVIDERS)})")
    cls = PROVIDERS[type][0]
    return cls(data_dir, batch_range, init_epoch, init_batchnum, dp_params, test)
