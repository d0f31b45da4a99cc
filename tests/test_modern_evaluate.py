"""Top-k with fractional ties, multi-view probability averaging (modern/evaluate.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alexnet.modern.augment import Augmenter
from alexnet.modern.evaluate import predict_probs, score
from alexnet.modern.metrics import topk_credit


def test_fractional_ties_as_the_2012_kernels():
    p = np.array([[0.25, 0.25, 0.25, 0.25],   # all tied (a dead net)
                  [0.5, 0.2, 0.2, 0.1],        # true class tied with one other, one above
                  [0.1, 0.2, 0.3, 0.4]])       # clean ranking
    y = np.array([0, 1, 1])
    assert topk_credit(p, y, 1).tolist() == [0.25, 0.0, 0.0]
    assert topk_credit(p, y, 2).tolist() == [0.5, 0.5, 0.0]
    assert topk_credit(p, y, 3).tolist() == [0.75, 1.0, 1.0]
    assert topk_credit(p, y, 4).tolist() == [1.0, 1.0, 1.0]


def test_a_non_finite_case_gets_no_credit(recwarn):
    # NaN compares false with everything: without the rule, a NaN row has "no rival" and
    # would count as right, making a failed computation look like a perfect score
    p = np.array([[np.nan] * 4, [0.7, np.nan, 0.2, 0.1], [0.7, np.inf, 0.2, 0.1],
                  [0.7, 0.1, 0.1, 0.1]])
    y = np.array([0, 0, 0, 0])
    for k in (1, 2, 4):
        assert topk_credit(p, y, k).tolist() == [0.0, 0.0, 0.0, 1.0]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_score_reports_errors_and_loss():
    p = np.full((2, 10), 0.1, np.float32)
    r = score(p, np.array([3, 4]))
    assert r["top1_err"] == pytest.approx(0.9) and r["top5_err"] == pytest.approx(0.5)
    assert r["loss"] == pytest.approx(np.log(10), rel=1e-6)  # float32 probabilities


class _PixelNet(torch.nn.Module):
    """Logits = the four corner pixels of channel 0 (so every view gives different logits)."""

    input_shape = (3, 4, 4)
    num_classes = 4

    def forward(self, x):
        c = x[:, 0]
        return torch.stack([c[:, 0, 0], c[:, 0, -1], c[:, -1, 0], c[:, -1, -1]], 1) / 20


@pytest.mark.parametrize("views", [1, 9, 10])
def test_multiview_averages_softmax_probabilities(views):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 8, 8, 3)).astype(np.uint8)
    aug = Augmenter(mean=np.full((8, 8, 3), 100, np.float32), out_size=4, pca_noise="off")
    net = _PixelNet()
    got = predict_probs(net, imgs, aug, views=views, batch_size=2)
    want = np.zeros((5, 4))
    for y, x, m in aug.view_offsets(views):
        logits = net(torch.from_numpy(aug.view_batch(imgs, y, x, m))).double()
        want += torch.softmax(logits, 1).numpy()
    want /= len(aug.view_offsets(views))
    # averaging probabilities (not logits): float32 vs float64 reference, 1e-6
    np.testing.assert_allclose(got, want, atol=1e-6)
    if views > 1:  # and it is not the same as averaging logits
        mean_logits = np.mean([net(torch.from_numpy(aug.view_batch(imgs, y, x, m))).numpy()
                               for y, x, m in aug.view_offsets(views)], axis=0)
        assert not np.allclose(got, torch.softmax(torch.from_numpy(mean_logits), 1).numpy(),
                               atol=1e-4)


def test_eval_mode_is_restored():
    net = _PixelNet().train()
    aug = Augmenter(mean=np.zeros((4, 4, 3), np.float32), out_size=4, pca_noise="off")
    predict_probs(net, np.zeros((1, 4, 4, 3), np.uint8), aug)
    assert net.training
