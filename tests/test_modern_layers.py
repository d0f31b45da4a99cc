"""The 2012 layer operations of the PyTorch port against hand computations and torch.

Hand numbers come from the formulas of docs/reference/kernels.md,
worked out in the comments so a reader can check them without running anything.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from alexnet import geometry as G
from alexnet.modern import layers as L

torch.manual_seed(0)


# ------------------------------------------------------------------ convolution, ceil rule


def test_conv_output_size_uses_ceil_like_2012():
    # 1 + ceil((2*0 + 224 - 11) / 4) = 1 + ceil(53.25) = 55; torch's floor gives 54
    assert G.conv_output_size(224, filter_size=11, padding=0, stride=4) == 55
    assert (224 - 11) // 4 + 1 == 54
    # 224 + 3 = 227 = 54*4 + 11
    assert G.conv_extra_padding(224, filter_size=11, padding=0, stride=4) == 3
    assert (G.conv_output_size(27, filter_size=5, padding=2, stride=1) == 27
            and G.conv_extra_padding(27, filter_size=5, padding=2, stride=1) == 0)


def test_conv_ceil_rule_reads_zeros_past_the_image_by_hand():
    # 1 channel 5x5 image of ones, 2x2 filter of ones, stride 2, no padding:
    # modules = 1 + ceil((5 - 2) / 2) = 3; the last column of modules covers image
    # column 4 and a zero column 5, so it sums 2 pixels per row instead of 2x2.
    x = torch.ones(1, 1, 5, 5)
    w = torch.ones(1, 1, 2, 2)
    y = L.conv2d_2012(x, w, stride=2)
    expected = torch.tensor([[4.0, 4.0, 2.0], [4.0, 4.0, 2.0], [2.0, 2.0, 1.0]])
    assert torch.equal(y[0, 0], expected)


def test_conv1_of_alexnet_equals_zero_padding_to_227_right_bottom():
    x = torch.randn(2, 3, 224, 224)
    w = torch.randn(8, 3, 11, 11)
    b = torch.randn(8)
    y = L.conv2d_2012(x, w, b, stride=4)
    ref = F.conv2d(F.pad(x, (0, 3, 0, 3)), w, b, stride=4)
    assert y.shape == (2, 8, 55, 55)
    assert torch.equal(y, ref)


def test_conv_unshared_bias_is_added_per_position():
    x = torch.randn(1, 4, 6, 6)
    w = torch.randn(16, 4, 3, 3)
    b = torch.randn(16, 6, 6)
    y = L.conv2d_2012(x, w, b, padding=1)
    assert torch.allclose(y, F.conv2d(x, w, padding=1) + b, atol=1e-5)


def test_local_unshared_layer_against_an_explicit_loop():
    # two groups, 3x3 filters, padding 1: out[f, my, mx] = sum over the group's channels
    # and taps of x * W[module, (c, u, v), f]
    torch.manual_seed(3)
    n, c, s, f, g, size = 2, 4, 3, 6, 2, 5
    x = torch.randn(n, c, size, size, dtype=torch.float64)
    m = size * size
    w = torch.randn(m, (c // g) * s * s, f, dtype=torch.float64)
    y = L.local_unshared(x, w, filter_size=s, stride=1, padding=1, groups=g, modules_x=size)
    xp = F.pad(x, (1, 1, 1, 1))
    ref = torch.zeros(n, f, size, size, dtype=torch.float64)
    for fi in range(f):
        grp = fi // (f // g)
        for my in range(size):
            for mx in range(size):
                patch = xp[:, grp * 2:(grp + 1) * 2, my:my + s, mx:mx + s].reshape(n, -1)
                ref[:, fi, my, mx] = patch @ w[my * size + mx, :, fi]
    assert torch.allclose(y, ref, atol=1e-12)


# ------------------------------------------------------------------ cross-map LRN


def test_cross_map_lrn_by_hand():
    # channels [1, 2, 3, 4] at one pixel, size 3, alpha 0.3 (alpha/size = 0.1), k 2,
    # beta 1: windows clipped to the channels:
    #   c0: 1+4 = 5      -> d = 2 + 0.5 = 2.5 -> 1/2.5 = 0.4
    #   c1: 1+4+9 = 14   -> d = 3.4           -> 2/3.4
    #   c2: 4+9+16 = 29  -> d = 4.9           -> 3/4.9
    #   c3: 9+16 = 25    -> d = 4.5           -> 4/4.5
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64).view(1, 4, 1, 1)
    y = L.cross_map_lrn(x, 3, 0.3, 1.0, 2.0).flatten()
    expected = torch.tensor([0.4, 2 / 3.4, 3 / 4.9, 4 / 4.5], dtype=torch.float64)
    assert torch.allclose(y, expected, rtol=1e-12)
    # two towers of 2 channels: windows never cross the tower boundary (2012's GPUs)
    #   c1: 1+4 = 5 -> 2/2.5 = 0.8;  c2: 9+16 = 25 -> 3/4.5
    y2 = L.cross_map_lrn(x, 3, 0.3, 1.0, 2.0, groups=2).flatten()
    expected2 = torch.tensor([0.4, 0.8, 3 / 4.5, 4 / 4.5], dtype=torch.float64)
    assert torch.allclose(y2, expected2, rtol=1e-12)


def test_cross_map_lrn_blocked_window_by_hand():
    # blocked, size 2: windows are {0,1} and {2,3}; alpha 0.2 -> 0.1 per square, k 1, beta 1
    #   c0, c1: 1 + 0.1*(1+4) = 1.5;  c2, c3: 1 + 0.1*(9+16) = 3.5
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64).view(1, 4, 1, 1)
    y = L.cross_map_lrn(x, 2, 0.2, 1.0, 1.0, blocked=True).flatten()
    expected = torch.tensor([1 / 1.5, 2 / 1.5, 3 / 3.5, 4 / 3.5], dtype=torch.float64)
    assert torch.allclose(y, expected, rtol=1e-12)


@pytest.mark.parametrize("size", [2, 3, 4, 5, 9])
@pytest.mark.parametrize("channels_last", [False, True])
def test_cross_map_lrn_matches_torch_local_response_norm(size, channels_last):
    x = torch.randn(3, 32, 7, 7) * 20
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = L.cross_map_lrn(x, size, 1e-3, 0.75, 2.0, groups=2)
    ref = torch.cat([F.local_response_norm(t, size, 1e-3, 0.75, 2.0) for t in x.chunk(2, 1)], 1)
    # fp32: the fused version computes d^-0.75 as rsqrt(d)*sqrt(rsqrt(d)) and sums the
    # window by a matrix product; a few ulp apart from torch's pow/avg_pool3d.
    assert torch.allclose(y, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size,groups,beta", [(3, 1, 0.75), (4, 2, 0.75), (5, 2, 0.6)])
def test_fused_lrn_gradcheck_float64(size, groups, beta):
    x = torch.randn(2, 8, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: L.cross_map_lrn(t, size, 0.5, beta, 2.0, groups=groups), (x,)
    )


@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_lrn_backward_equals_torch_autograd(channels_last):
    x = torch.randn(2, 32, 6, 6, dtype=torch.float64) * 10
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(2, 32, 6, 6, dtype=torch.float64)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    (ga,) = torch.autograd.grad(L.cross_map_lrn(a, 5, 1e-2, 0.75, 2.0), a, g)
    (gb,) = torch.autograd.grad(F.local_response_norm(b, 5, 1e-2, 0.75, 2.0), b, g)
    # float64: only summation order differs
    assert torch.allclose(ga, gb, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ rnorm / cnorm


def test_rnorm_by_hand_odd_size():
    # 3x3 image 1..9, size 3, cfg scale 0.9 (2012 uses 0.9/9 = 0.1 per square), beta 1:
    #   centre: window = all 9 pixels, sum of squares 285 -> d = 1 + 28.5 = 29.5 -> 5/29.5
    #   corner (0,0): pixels 1, 2, 4, 5 -> 46 -> d = 5.6 -> 1/5.6 (the full 9 area divides)
    x = torch.arange(1.0, 10.0, dtype=torch.float64).view(1, 1, 3, 3)
    y = L.response_norm(x, 3, 0.9, 1.0)
    assert math.isclose(y[0, 0, 1, 1].item(), 5 / 29.5, rel_tol=1e-12)
    assert math.isclose(y[0, 0, 0, 0].item(), 1 / 5.6, rel_tol=1e-12)


def test_rnorm_by_hand_even_size_window_starts_half_before():
    # 1x3 image [1, 2, 3], size 2: window [x-1, x] (2012: start = x - size/2), rows {0}
    #   sums 1, 1+4 = 5, 4+9 = 13; cfg scale 0.4 -> 0.1 per square; beta 1
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64).view(1, 1, 1, 3)
    y = L.response_norm(x, 2, 0.4, 1.0).flatten()
    expected = torch.tensor([1 / 1.1, 2 / 1.5, 3 / 2.3], dtype=torch.float64)
    assert torch.allclose(y, expected, rtol=1e-12)


def test_cnorm_by_hand():
    # 1x3 image [1, 2, 3], size 3: local means over the in-image part of the window:
    #   (1+2)/2 = 1.5, 2, 2.5 -> deviations u = -0.5, 0, 0.5
    #   sums of u² over the window: 0.25, 0.5, 0.25; cfg scale 0.9 -> 0.1 per square
    #   d = 1.025, 1.05, 1.025; beta 1; the numerator is the raw x
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64).view(1, 1, 1, 3)
    y = L.response_norm(x, 3, 0.9, 1.0, centered=True).flatten()
    expected = torch.tensor([1 / 1.025, 2 / 1.05, 3 / 1.025], dtype=torch.float64)
    assert torch.allclose(y, expected, rtol=1e-12)


@pytest.mark.parametrize("size", [3, 4, 5])
def test_rnorm_gradcheck_float64(size):
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: L.response_norm(t, size, 0.7, 0.75), (x,))


@pytest.mark.parametrize("size", [3, 4])
def test_cnorm_backward_holds_the_mean_constant(size):
    # 2012's cnorm backward ignores the local mean's dependence on x
    # (docs/reference/kernels.md#kernels-rnorm):
    # equal to autograd of the same formula with the mean detached, and NOT equal to the
    # full gradient.
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    g = torch.randn(2, 3, 6, 6, dtype=torch.float64)

    def composed(t, detach):
        mean = L._clipped_local_mean(t, size)
        u = t - (mean.detach() if detach else mean)
        d = 1 + 0.7 * L._box_mean(u * u, size)
        return t * d.pow(-0.75)

    a = x.clone().requires_grad_()
    (ga,) = torch.autograd.grad(L.response_norm(a, size, 0.7, 0.75, centered=True), a, g)
    b = x.clone().requires_grad_()
    (gb,) = torch.autograd.grad(composed(b, True), b, g)
    c = x.clone().requires_grad_()
    (gc,) = torch.autograd.grad(composed(c, False), c, g)
    assert torch.allclose(ga, gb, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(ga, gc, rtol=1e-4)
    assert torch.allclose(composed(x, True), L.response_norm(x, size, 0.7, 0.75, centered=True))


# ------------------------------------------------------------------ pooling


def test_avg_pool_divides_by_the_in_image_count():
    # 6x6 image 0..35, 3x3 windows at stride 2: outputs = ceil((6-3)/2)+1 = 3; the last
    # column of windows covers columns 4-5 only. Window (0, 2): rows 0-2, cols 4-5 =
    # 4, 5, 10, 11, 16, 17 -> mean 10.5 (divided by 6, not 9).
    x = torch.arange(36.0).view(1, 1, 6, 6)
    y = L.pool2012(x, "avg", 3, 2)
    assert y.shape == (1, 1, 3, 3)
    assert y[0, 0, 0, 2].item() == pytest.approx(10.5)
    assert y[0, 0, 2, 2].item() == pytest.approx((28 + 29 + 34 + 35) / 4)


def test_max_pool_sizes_of_alexnet():
    for size, out in ((55, 27), (27, 13), (13, 6)):
        assert G.pool_output_size(size, size=3, stride=2) == out
        assert L.pool2012(torch.randn(1, 1, size, size), "max", 3, 2).shape[-1] == out


def test_pool_general_path_start_and_outputs():
    # start -1, size 3, stride 2, 3 outputs on 5 pixels: windows [-1,2) [1,4) [3,6)
    # clipped to [0,2) [1,4) [3,5)
    x = torch.tensor([1.0, 5.0, 2.0, 7.0, 3.0]).view(1, 1, 1, 5).expand(1, 1, 5, 5).clone()
    y = L.pool2012(x, "max", 3, 2, start=-1, outputs=3)
    assert y[0, 0, 0].tolist() == [5.0, 7.0, 7.0]
    a = L.pool2012(x, "avg", 3, 2, start=-1, outputs=3)
    assert a[0, 0, 0].tolist() == pytest.approx([3.0, 14 / 3, 5.0])


def test_maxabs_pool_keeps_the_sign():
    x = torch.tensor([[1.0, -4.0], [2.0, 3.0]]).view(1, 1, 2, 2)
    assert L.pool2012(x, "maxabs", 2, 2).item() == -4.0


# ------------------------------------------------------------------ dropout


def test_dropout_2012_masks_without_rescaling_and_halves_at_test():
    torch.manual_seed(5)
    x = torch.full((100, 200), 3.0)
    y = L.dropout2012(x, 0.5, training=True)
    assert set(torch.unique(y).tolist()) <= {0.0, 3.0}
    kept = (y != 0).float().mean().item()
    assert 0.47 < kept < 0.53  # 20,000 Bernoulli(0.5) draws: std 0.0035
    assert torch.equal(L.dropout2012(x, 0.5, training=False), x * 0.5)


def test_dropout_inverted_rescales_in_training_and_is_identity_at_test():
    torch.manual_seed(6)
    x = torch.full((50, 50), 3.0)
    y = L.dropout2012(x, 0.5, training=True, mode="inverted")
    assert set(torch.unique(y).tolist()) <= {0.0, 6.0}
    assert torch.equal(L.dropout2012(x, 0.5, training=False, mode="inverted"), x)


def test_dropout_module_disabled_acts_as_test_time():
    m = L.Dropout2012(0.5, enable=False).train()
    x = torch.ones(4, 4)
    assert torch.equal(m(x), x * 0.5)


def test_dropout_gradient_is_the_mask():
    torch.manual_seed(7)
    x = torch.ones(10, 10, requires_grad=True)
    y = L.dropout2012(x, 0.5, training=True)
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float())


# ------------------------------------------------------------------ neurons


def _grad(kind, params, x):
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    L.Neuron(kind, params)(t).sum().backward()
    return t.grad.tolist()


def test_neuron_forward_values():
    x = torch.tensor([-2.0, 0.0, 0.5, 5.0], dtype=torch.float64)
    cases = {
        ("ident", ()): x,
        ("relu", ()): torch.tensor([0.0, 0.0, 0.5, 5.0]),
        ("abs", ()): torch.tensor([2.0, 0.0, 0.5, 5.0]),
        ("square", ()): torch.tensor([4.0, 0.0, 0.25, 25.0]),
        ("logistic", ()): 1 / (1 + torch.exp(-x)),
        ("tanh", (1.7, 0.5)): 1.7 * torch.tanh(0.5 * x),
        ("brelu", (2.0,)): torch.tensor([0.0, 0.0, 0.5, 2.0]),
        ("linear", (3.0, -1.0)): 3 * x - 1,
        ("drelu", (2.0,)): x - 2 * torch.tanh(x / 2),
        # x > 4 is passed through; below, log(1 + e^x)
        ("softrelu", ()): torch.tensor([math.log1p(math.exp(-2)), math.log(2),
                                        math.log1p(math.exp(0.5)), 5.0]),
    }
    for (kind, params), expected in cases.items():
        got = L.Neuron(kind, params)(x)
        assert torch.allclose(got, expected.to(torch.float64), atol=1e-12), kind
    assert torch.allclose(L.Neuron("sqrt")(x.abs()), x.abs().sqrt())


def test_softrelu_switches_to_identity_above_4_not_20():
    x = torch.tensor([4.5], dtype=torch.float64)
    assert L.Neuron("softrelu")(x).item() == 4.5  # torch's default threshold would not


def test_neuron_gradients_follow_2012():
    assert _grad("relu", (), [-1.0, 0.0, 2.0]) == [0.0, 0.0, 1.0]
    assert _grad("abs", (), [-1.0, 0.0, 2.0]) == [-1.0, -1.0, 1.0]  # -1 at 0, as 2012
    assert _grad("brelu", (1.0,), [-0.5, 0.5, 1.5]) == [0.0, 1.0, 0.0]
    assert _grad("linear", (3.0, 1.0), [2.0]) == [3.0]
    assert _grad("square", (), [1.5]) == [3.0]
    t = math.tanh(0.5)
    assert _grad("drelu", (2.0,), [1.0]) == pytest.approx([t * t])
    assert _grad("tanh", (2.0, 0.5), [1.0]) == pytest.approx([2 * 0.5 * (1 - t * t)])


def test_nrelu_is_noisy_in_training_and_relu_at_test():
    torch.manual_seed(8)
    m = L.Neuron("nrelu")
    x = torch.linspace(-2, 2, 1000, requires_grad=True)
    y = m.train()(x)
    assert (y >= 0).all() and not torch.equal(y, F.relu(x))
    y.sum().backward()
    assert torch.equal(x.grad, (y > 0).float())  # relu gradient read from the output
    assert torch.equal(m.eval()(x), F.relu(x))


def test_neuron_rejects_bad_specs():
    with pytest.raises(ValueError):
        L.Neuron("tanh", (1.0,))
    with pytest.raises(ValueError):
        L.Neuron("swish")


# ------------------------------------------------------------------ blur, nailbed


def test_gaussian_taps_and_blur():
    taps = L.gaussian_taps(9, 4.0)
    assert sum(taps) == pytest.approx(1.0)
    assert taps == pytest.approx(taps[::-1])
    assert taps[4] / taps[0] == pytest.approx(math.exp(16 / 32))  # exp(4²/(2·4²))
    blur = L.GaussianBlur(3, taps)
    x = torch.ones(1, 3, 20, 20)
    y = blur(x)
    assert torch.allclose(y[..., 4:16, 4:16], torch.ones(1, 3, 12, 12), atol=1e-6)
    assert y[0, 0, 0, 0].item() < 1.0  # zeros outside the image


def test_nailbed_samples_centred_grid():
    # 224 input, stride 4: outputs ceil(224/4) = 56, start (224 - 4*55)/2 = 2
    x = torch.arange(224.0).view(1, 1, 1, 224).expand(1, 1, 224, 224)
    y = L.Nailbed(2, 4, 56)(x)
    assert y.shape == (1, 1, 56, 56)
    assert y[0, 0, 0, :3].tolist() == [2.0, 6.0, 10.0] and y[0, 0, 0, -1].item() == 222.0


# ---- max-pool backward on tied maxima (ledger maxpool-tie-gradient)


def test_max_pool_all_ties_credits_every_tied_maximum():
    from alexnet.modern.layers import pool2012

    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    (g_all,) = torch.autograd.grad(pool2012(x, "max", 2, 2, ties="all").sum(), x)
    (g_one,) = torch.autograd.grad(pool2012(x, "max", 2, 2, ties="one").sum(), x)
    assert torch.equal(g_all, torch.ones_like(x))  # 2012: all four tied inputs of each window
    assert g_one.sum() == 4 and int((g_one != 0).sum()) == 4  # torch: one per window
    # overlapping windows (size 3, stride 2): a tied input in two windows gets both
    x2 = torch.zeros(1, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    (g2,) = torch.autograd.grad(pool2012(x2, "max", 3, 2, ties="all").sum(), x2)
    assert g2[0, 0, 2, 2] == 4 and g2[0, 0, 0, 0] == 1 and g2[0, 0, 0, 2] == 2


@pytest.mark.parametrize("img, size, stride, start, outputs", [
    (9, 3, 2, 0, 0), (8, 3, 2, 0, 0), (32, 3, 2, 0, 0), (10, 3, 2, 1, 4), (7, 2, 2, 0, 4),
])
def test_max_pool_all_ties_equals_torch_without_ties(img, size, stride, start, outputs):
    from alexnet.modern.layers import pool2012

    torch.manual_seed(0)
    x = torch.randn(2, 3, img, img, dtype=torch.float64, requires_grad=True)  # no ties
    gy = None
    grads = {}
    for ties in ("one", "all"):
        y = pool2012(x, "max", size, stride, start, outputs, ties=ties)
        gy = torch.randn_like(y, generator=torch.Generator().manual_seed(1)) if gy is None else gy
        grads[ties] = (y.detach(), torch.autograd.grad(y, x, gy)[0])
    assert torch.equal(grads["one"][0], grads["all"][0])  # forward identical
    # sums of the same gy values in another order: float64, rel 1e-12
    torch.testing.assert_close(grads["all"][1], grads["one"][1], rtol=1e-12, atol=0)


def _all_ties_reference(x, size, stride, start, outputs):
    """The 2012 rule written plainly: pad with -inf, compare every window offset's strided
    slice with the pooled value, add in offset order (the order the port must keep)."""
    from alexnet.geometry import pool_output_size, pool_padding

    x = x[..., start:, start:] if start > 0 else x
    img = x.shape[-1]
    outputs = outputs or pool_output_size(img, size=size, stride=stride,
                                          start=min(start, 0))
    before, after = pool_padding(img, size=size, stride=stride, start=min(start, 0),
                                 outputs=outputs)
    xp = torch.nn.functional.pad(x.detach(), (before, after, before, after),
                                 value=-math.inf)
    y = torch.nn.functional.max_pool2d(xp, size, stride)[..., :outputs, :outputs]

    def backward(gy):
        gx = torch.zeros_like(xp)
        span = stride * (outputs - 1) + 1
        for dy in range(size):
            for dx in range(size):
                win = (..., slice(dy, dy + span, stride), slice(dx, dx + span, stride))
                gx[win] += torch.where(xp[win] == y, gy, 0.0)
        return gx[..., before:before + img, before:before + img]
    return y, backward


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("img, size, stride, start, outputs", [
    (32, 3, 2, 0, 0), (16, 3, 2, 0, 0), (8, 3, 2, 0, 0), (9, 3, 2, 0, 0), (10, 3, 2, 1, 4),
    (7, 2, 2, 0, 4), (12, 3, 3, 0, 0), (11, 2, 3, 0, 0), (13, 3, 2, 0, 8), (9, 3, 2, -1, 0),
])
def test_max_pool_all_ties_is_bitwise_the_padded_rule(img, size, stride, start, outputs,
                                                      channels_last):
    # float32 values on a coarse grid (many exact ties, zeros as after a ReLU): the fast
    # backward must give exactly the bits of the plain padded loop, since training runs
    # recorded in dvc.lock were made with it
    from alexnet.modern.layers import pool2012

    g = torch.Generator().manual_seed(img * 100 + size * 10 + stride)
    x = torch.relu(torch.randint(-3, 4, (4, 8, img, img), generator=g).float() * 0.5)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    y = pool2012(x, "max", size, stride, start, outputs, ties="all")
    gy = torch.randn(y.shape, generator=g)
    (gx,) = torch.autograd.grad(y, x, gy)
    y_ref, backward = _all_ties_reference(x, size, stride, start, outputs)
    assert torch.equal(y.detach(), y_ref)
    ref = backward(gy)
    if start > 0:
        ref = torch.nn.functional.pad(ref, (start, 0, start, 0))
    assert gx.shape == x.shape
    # equal as bit patterns too (torch.equal alone would let -0.0 pass for 0.0)
    assert torch.equal(gx.contiguous().view(torch.int32), ref.contiguous().view(torch.int32))


def test_code_nets_use_the_2012_tie_rule_and_the_paper_variant_torchs():
    from alexnet.modern.build import build_model

    assert build_model("alexnet2012", init=False).pool_ties == "all"
    assert build_model("alexnet2012-paper", init=False).pool_ties == "one"
    assert build_model("cifar10-80sec", init=False).pool_ties == "all"
    with pytest.raises(ValueError, match="pool_ties"):
        build_model("alexnet2012", init=False, pool_ties="some")
