"""Crops, flips, mean image, PCA colour noise and test views (modern/augment.py)."""

from __future__ import annotations

import numpy as np
import pytest

from alexnet.errors import ConfigError
from alexnet.modern.augment import Augmenter, default_crop_chunk, mean_image, rgb_pca

S, O = 8, 4  # stored 8x8, net input 4x4 -> border b = 2, offsets 0..4


def _coded(n: int) -> np.ndarray:
    """Images whose pixel (y, x) holds 10*y + x in every channel (so a crop reveals its offset)."""
    yx = (10 * np.arange(S)[:, None] + np.arange(S)[None, :]).astype(np.uint8)
    return np.broadcast_to(yx[None, :, :, None], (n, S, S, 3)).copy()


def _aug(**kw) -> Augmenter:
    kw.setdefault("pca_noise", "off")
    return Augmenter(mean=np.zeros((S, S, 3), np.float32), out_size=O, **kw)


def _offset(crop: np.ndarray) -> tuple[int, int, bool]:
    ch = crop[0]  # (O, O)
    flipped = ch[0, 0] > ch[0, -1]
    tl = ch[0, -1] if flipped else ch[0, 0]
    return int(tl) // 10, int(tl) % 10, bool(flipped)


def test_crop_offsets_cover_0_to_2b_inclusive_and_flip_half_the_time():
    aug = _aug(crop_chunk=1)
    out = aug.train_batch(_coded(4000), np.random.default_rng(0))
    offs = [_offset(c) for c in out]
    assert {y for y, _, _ in offs} == set(range(5)) and {x for _, x, _ in offs} == set(range(5))
    flips = np.mean([f for *_, f in offs])
    assert 0.45 < flips < 0.55  # 4000 fair coin tosses: 5 sigma is 0.04


def test_crop_chunk_shares_offset_and_flip():
    aug = _aug(crop_chunk=32)
    out = aug.train_batch(_coded(96), np.random.default_rng(3))
    offs = [_offset(c) for c in out]
    for c in range(0, 96, 32):
        assert len(set(offs[c : c + 32])) == 1
    assert len(set(offs)) > 1  # ...but chunks differ (three draws from 50 combinations)
    assert default_crop_chunk(256) == 32 and default_crop_chunk(32) == 1


def test_mean_is_the_central_window_whatever_the_crop():
    mean = np.random.default_rng(1).uniform(0, 255, (S, S, 3)).astype(np.float32)
    aug = Augmenter(mean=mean, out_size=O, pca_noise="off")
    out = aug.train_batch(np.zeros((50, S, S, 3), np.uint8), np.random.default_rng(0))
    want = -mean[2:6, 2:6].transpose(2, 0, 1)
    for img in out:  # neither cropped at the image's offset nor mirrored with it
        np.testing.assert_array_equal(img, want)


def test_no_border_means_no_crop_and_layout_is_nchw():
    imgs = np.random.default_rng(2).integers(0, 255, (3, 4, 4, 3)).astype(np.uint8)
    aug = Augmenter(mean=np.zeros((4, 4, 3), np.float32), out_size=4, pca_noise="off",
                    flip=False)
    out = aug.train_batch(imgs, np.random.default_rng(0))
    assert out.shape == (3, 3, 4, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out, imgs.transpose(0, 3, 1, 2).astype(np.float32))


def _pca_parts(mode: str, c: float):
    rng = np.random.default_rng(5)
    pix = rng.multivariate_normal([120, 110, 100], [[900, 300, 100], [300, 700, 50],
                                                    [100, 50, 400]], size=(200, S, S))
    imgs = pix.clip(0, 255).astype(np.uint8)
    vals, vecs = rgb_pca(imgs)
    base = Augmenter(mean=mean_image(imgs), out_size=O, pca_noise="off")
    noisy = Augmenter(mean=mean_image(imgs), out_size=O, pca_noise=mode, color_noise=c,
                      pca_vals=vals, pca_vecs=vecs)
    big = np.repeat(imgs, 10, axis=0)
    a = base.train_batch(big, np.random.default_rng(9))
    b = noisy.train_batch(big, np.random.default_rng(9))  # same crops: noise is drawn after
    return a, b, vals, vecs


def test_pca_noise_code_mode_is_std_scaled_then_rescaled():
    c = 0.1
    a, b, vals, vecs = _pca_parts("code", c)
    shift = b * (1 + c) - a  # undo the 2012 division by 1 + c
    per_img = shift.reshape(len(shift), 3, -1)
    # one 3-vector per image, the same at every pixel (float32 round-off: 1e-3)
    np.testing.assert_allclose(per_img, per_img[:, :, :1].repeat(per_img.shape[2], 2), atol=1e-3)
    z = (per_img[:, :, 0] @ vecs) / (c * np.sqrt(vals))
    # z ~ N(0, I) over 2000 images: std within 10%, components uncorrelated
    assert np.allclose(z.std(axis=0), 1.0, atol=0.1)
    assert abs(np.corrcoef(z.T)[0, 1]) < 0.1


def test_pca_noise_paper_mode_is_eigenvalue_scaled_without_rescale():
    c = 0.1
    a, b, vals, vecs = _pca_parts("paper", c)
    shift = (b - a).reshape(len(a), 3, -1)[:, :, 0]
    alpha = (shift @ vecs) / vals
    assert np.allclose(alpha.std(axis=0), c, rtol=0.1)  # alpha ~ N(0, 0.1), 2000 draws


def test_rgb_pca_matches_numpy_covariance():
    imgs = np.random.default_rng(4).integers(0, 256, (20, 6, 6, 3)).astype(np.uint8)
    vals, vecs = rgb_pca(imgs)
    cov = np.cov(imgs.reshape(-1, 3).astype(np.float64).T, bias=True)
    np.testing.assert_allclose(vecs @ np.diag(vals) @ vecs.T, cov, rtol=1e-9, atol=1e-6)
    assert vals[0] >= vals[1] >= vals[2]


def test_mean_image_is_exact():
    imgs = np.random.default_rng(6).integers(0, 256, (7, 5, 5, 3)).astype(np.uint8)
    np.testing.assert_allclose(mean_image(imgs, chunk=3), imgs.mean(axis=0), rtol=1e-6)


def test_views_match_the_2012_providers():
    aug = _aug()
    imgs = _coded(1)
    def offs(v):
        return [_offset(aug.view_batch(imgs, y, x, m)[0]) for y, x, m in aug.view_offsets(v)]
    assert offs(1) == [(2, 2, False)]
    assert offs(9) == [(y, x, False) for y in (0, 2, 4) for x in (0, 2, 4)]
    five = [(0, 0), (0, 4), (2, 2), (4, 0), (4, 4)]
    assert offs(10) == [(y, x, False) for y, x in five] + [(y, x, True) for y, x in five]
    with pytest.raises(ConfigError):
        aug.view_offsets(5)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="stored"):
        Augmenter(mean=np.zeros((8, 8, 3), np.float32), out_size=10, pca_noise="off")
    with pytest.raises(ConfigError, match="pca_noise"):
        Augmenter(mean=np.zeros((8, 8, 3), np.float32), out_size=4, pca_noise="both")
    with pytest.raises(ConfigError, match="eigen"):
        Augmenter(mean=np.zeros((8, 8, 3), np.float32), out_size=4, pca_noise="code")
