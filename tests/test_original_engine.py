"""The re-created 2012 engine: each layer against hand computations and finite
differences, the 2012 update rule, the schedules, and AlexNet2012 end to end.

Most checks run in float64 so that a mismatch means a wrong formula, not rounding.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from alexnet.errors import BackendUnavailable, DataError
from alexnet.geometry import conv_output_size, pool_output_size
from alexnet.original import cfgs
from alexnet.original import ops_numpy as ops
from alexnet.original.engine import TEST, TRAIN, Engine
from alexnet.original.initial_weights import init_weights
from alexnet.original.layer import parse_layers
from alexnet.original.ops_numpy import ConvGeom
from alexnet.original.weights import (
    DiscreteExpSchedule,
    ExpSchedule,
    JumpyDiscreteExpSchedule,
    LearningRateSchedule,
    LinearSchedule,
    Param,
    accumulate,
    update,
)

RNG = np.random.default_rng(1234)


# ---------------------------------------------------------------- direct-loop references


def conv_reference(x, w, g: ConvGeom):
    """Plain loops over the 2012 definition (docs/reference/kernels.md#kernels-filter-acts),
    float64."""
    n = x.shape[1]
    c, s, mx, fg, cg = g.channels, g.filter_size, g.mx, g.group_filters, g.group_channels
    x4 = x.reshape(c, g.img_size, g.img_size, n)
    out = np.zeros((g.filters, mx, mx, n))
    for f in range(g.filters):
        grp = f // fg
        for my, mxx in itertools.product(range(mx), range(mx)):
            m = my * mx + mxx
            y0, x0 = -g.padding + my * g.stride, -g.padding + mxx * g.stride
            for cc, u, v in itertools.product(range(cg), range(s), range(s)):
                yy, xx = y0 + u, x0 + v
                if 0 <= yy < g.img_size and 0 <= xx < g.img_size:
                    row = (cc * s + u) * s + v
                    if g.local:
                        row += m * cg * s * s
                    out[f, my, mxx] += w[row, f] * x4[grp * cg + cc, yy, xx]
    return out.reshape(-1, n)


GEOMS = [
    # channels, img, S, pad, stride, groups, filters, local
    (3, 8, 3, 0, 2, 1, 4, False),     # ceil rule: last module reads past the image
    (4, 6, 3, 1, 1, 2, 4, False),     # groups
    (3, 7, 5, 2, 2, 1, 2, False),     # padding + stride
    (2, 5, 3, 1, 1, 1, 3, True),      # local (unshared)
    (4, 5, 3, 1, 2, 2, 4, True),      # grouped local
]


@pytest.mark.parametrize("spec", GEOMS)
def test_conv_forward_matches_loops_and_backward_is_its_adjoint(spec):
    c, img, s, pad, stride, groups, filters, local = spec
    mx = conv_output_size(img, filter_size=s, stride=stride, padding=pad)
    g = ConvGeom(c, img, s, pad, stride, mx, groups, filters, local)
    n = 3
    x = RNG.standard_normal((c * img * img, n))
    rows = g.k * (g.modules if local else 1)
    w = RNG.standard_normal((rows, filters))
    out = ops.filter_acts(x, w, g)
    # float64 throughout: agreement to 1e-12 means the same sum of products
    np.testing.assert_allclose(out, conv_reference(x, w, g), rtol=0, atol=1e-12)
    # img_acts and weight_acts are the adjoints of the forward map:
    # <conv(x), h> = <x, imgActs(h)> = <w, weightActs(x, h)>
    h = RNG.standard_normal(out.shape)
    lhs = float((out * h).sum())
    assert math.isclose(lhs, float((x * ops.img_acts(h, w, g)).sum()), rel_tol=1e-10)
    assert math.isclose(lhs, float((w * ops.weight_acts(x, h, g)).sum()), rel_tol=1e-10)


def test_ceil_rule_gives_55_from_224():
    # layer.py L1004: the 224/227 puzzle
    assert conv_output_size(224, filter_size=11, stride=4, padding=0) == 55
    assert conv_output_size(32, filter_size=5, stride=1, padding=2) == 32
    assert (pool_output_size(55, start=0, size=3, stride=2) == 27
            and pool_output_size(32, start=0, size=3, stride=2) == 16)


def test_pooling_windows_are_clipped_and_max_ties_all_get_the_gradient():
    # one channel 3x3 image, 2x2 windows at stride 2 -> outputs 2x2 (ceil), last windows clipped
    x = np.array([[1, 5, 2], [5, 0, 3], [4, 4, 9]], dtype=np.float64).reshape(9, 1)
    mx = ops.pool_forward(x, 1, 3, 2, 0, 2, 2, "max")
    assert mx.reshape(2, 2).tolist() == [[5, 3], [4, 9]]
    avg = ops.pool_forward(x, 1, 3, 2, 0, 2, 2, "avg")
    # averages over the in-image pixels only: 4, 2, 1 pixels
    assert avg.reshape(2, 2).tolist() == [[11 / 4, 5 / 2], [8 / 2, 9]]
    g = np.ones((4, 1))
    dmax = ops.pool_backward(x, mx, g, 1, 3, 2, 0, 2, 2, "max").reshape(3, 3)
    # both 5s tie for the first window's max, both 4s for the third: all four get 1
    assert dmax.tolist() == [[0, 1, 0], [1, 0, 1], [1, 1, 1]]
    davg = ops.pool_backward(x, avg, g, 1, 3, 2, 0, 2, 2, "avg").reshape(3, 3)
    assert davg.tolist() == [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]]


def test_pool_backward_matches_finite_differences_for_overlapping_windows():
    x = RNG.standard_normal((2 * 7 * 7, 2))
    out = ops.pool_forward(x, 2, 7, 3, 0, 2, 3, "avg")
    g = RNG.standard_normal(out.shape)
    dx = ops.pool_backward(x, out, g, 2, 7, 3, 0, 2, 3, "avg")
    _check_fd(lambda z: float((ops.pool_forward(z, 2, 7, 3, 0, 2, 3, "avg") * g).sum()), x, dx)


def _check_fd(f, x, analytic, n_points=12, h=1e-6, tol=1e-6):
    """Central differences at random points; float64, so 1e-6 relative is plenty."""
    idx = RNG.choice(x.size, size=min(n_points, x.size), replace=False)
    for i in idx:
        ii = np.unravel_index(i, x.shape)
        old = x[ii]
        x[ii] = old + h
        fp = f(x)
        x[ii] = old - h
        fm = f(x)
        x[ii] = old
        num = (fp - fm) / (2 * h)
        assert abs(num - analytic[ii]) <= tol * max(1.0, abs(num)), (ii, num, analytic[ii])


def test_cmrnorm_matches_the_formula_with_min_div_and_clipped_windows():
    c, n = 16, 2
    x = RNG.standard_normal((c * 2 * 2, n))
    size, scale, p, k = 5, 1e-1 / 5, 0.75, 2.0
    out, d = ops.cmrnorm_forward(x, c, size, scale, p, k)
    x3 = x.reshape(c, -1)
    for ch in range(c):
        lo, hi = max(0, ch - 2), min(c, ch + 3)       # window c-2 .. c+2, clipped
        want_d = k + scale * (x3[lo:hi] ** 2).sum(axis=0)
        np.testing.assert_allclose(d.reshape(c, -1)[ch], want_d, rtol=1e-14)
        np.testing.assert_allclose(out.reshape(c, -1)[ch], x3[ch] * want_d ** -p, rtol=1e-14)
    g = RNG.standard_normal(x.shape)
    dx = ops.cmrnorm_backward(g, x, out, d, c, size, scale, p)
    _check_fd(lambda z: float((ops.cmrnorm_forward(z, c, size, scale, p, k)[0] * g).sum()), x, dx)
    # blocked windows: fixed blocks of `size` channels
    outb, db = ops.cmrnorm_forward(x, c, 4, scale, p, 1.0, blocked=True)
    np.testing.assert_allclose(db.reshape(c, -1)[5], 1 + scale * (x3[4:8] ** 2).sum(axis=0))
    gb = ops.cmrnorm_backward(g, x, outb, db, c, 4, scale, p, blocked=True)
    _check_fd(lambda z: float((ops.cmrnorm_forward(z, c, 4, scale, p, 1.0, True)[0] * g).sum()),
              x, gb)


def test_rnorm_and_cnorm_follow_2012():
    c, img, n, size, scale, p = 4, 5, 2, 3, 0.5 / 9, 0.75
    x = RNG.standard_normal((c * img * img, n))
    out, d = ops.rnorm_forward(x, c, img, size, scale, p)
    x4 = x.reshape(c, img, img, n)
    # pixel (0, 0): window rows/cols -1..1 clipped to 0..1; the divisor keeps size^2
    want = 1 + scale * (x4[:, 0:2, 0:2] ** 2).sum(axis=(1, 2))
    np.testing.assert_allclose(d.reshape(c, img, img, n)[:, 0, 0], want, rtol=1e-14)
    g = RNG.standard_normal(x.shape)
    dx = ops.rnorm_backward(g, x, out, d, c, img, size, scale, p)
    _check_fd(lambda z: float((ops.rnorm_forward(z, c, img, size, scale, p)[0] * g).sum()), x, dx)
    # cnorm: squares of (x - clipped local mean); its 2012 gradient holds the mean fixed
    mean = ops.local_mean(x, c, img, size)
    np.testing.assert_allclose(mean.reshape(c, img, img, n)[:, 0, 0],
                               x4[:, 0:2, 0:2].mean(axis=(1, 2)), rtol=1e-14)
    diffs = x - mean
    cout, cd = ops.rnorm_forward(x, c, img, size, scale, p, diffs)
    cdx = ops.rnorm_backward(g, diffs, cout, cd, c, img, size, scale, p)

    def frozen_mean(z):
        return float((ops.rnorm_forward(z, c, img, size, scale, p, z - mean)[0] * g).sum())

    _check_fd(frozen_mean, x, cdx)


def test_blur_and_nailbed():
    taps = np.array([0.25, 0.5, 0.25])
    x = np.zeros((1 * 5 * 5, 1))
    x[12] = 16.0                                   # the centre pixel
    b = ops.blur(x, 1, 5, taps).reshape(5, 5)
    np.testing.assert_allclose(b[1:4, 1:4], 16 * np.outer(taps, taps))
    assert b.sum() == pytest.approx(16.0)
    y = np.arange(2 * 7 * 7, dtype=np.float64).reshape(-1, 1)
    ox = math.ceil(7 / 3)
    start = (7 - 3 * (ox - 1)) // 2
    nb = ops.nailbed_forward(y, 2, 7, start, 3, ox).reshape(2, 3, 3)
    assert nb[0].tolist() == [[0, 3, 6], [21, 24, 27], [42, 45, 48]]
    back = ops.nailbed_backward(np.ones((18, 1)), 2, 7, start, 3, ox)
    assert back.sum() == 18 and back.reshape(2, 7, 7)[0, 0, 3] == 1


def test_logreg_counts_ties_fractionally():
    probs = np.array([[0.4, 0.3, 0.3],
                      [0.4, 0.5, 0.3],
                      [0.1, 0.1, 0.3],
                      [0.1, 0.1, 0.1]])               # 4 classes x 3 cases
    labels = np.array([[0, 1, 2]])
    c = ops.logreg_cost(labels, probs, topk=1)
    # case 0: two classes tie at 0.4 -> 1/2; case 1: unique max -> 1; case 2: three-way tie
    np.testing.assert_allclose(c["top1"], [1 / 2, 1, 1 / 3])
    probs2 = np.array([[0.3], [0.3], [0.3], [0.1]])
    c2 = ops.logreg_cost(np.array([[1]]), probs2, topk=2)
    # no class above, three equal, two slots -> 2/3 credit
    np.testing.assert_allclose(c2["topk"], [2 / 3])
    vec = ops.logreg_cost_vector(labels, probs, 1)
    assert vec[0] == pytest.approx(-(math.log(0.4) + math.log(0.5) + math.log(0.3)))
    assert vec[1] == pytest.approx(3 - (1 / 2 + 1 + 1 / 3))


def test_dropout_masks_without_rescaling_and_scales_at_test():
    g = parse_layers(cfgs.path("layers-145.cfg"), cfgs.path("layer-params-145.cfg"))
    d = dict(g["hs1a"].d)
    e = Engine.__new__(Engine)
    e.rng = np.random.default_rng(0)
    e.saved = {}
    x = np.full((2048, 4), 3.0, dtype=np.float32)
    e.pass_type = TRAIN
    from alexnet.original.engine import _fprop_hs

    y = _fprop_hs(e, "hs1a", d, [x])
    assert set(np.unique(y)) <= {0.0, 3.0}            # no 1/keep factor
    assert 0.4 < (y > 0).mean() < 0.6
    e.pass_type = TEST
    assert np.all(_fprop_hs(e, "hs1a", d, [x]) == 1.5)


# ---------------------------------------------------------------- the engine as a whole

def _float64(layers):
    for d in layers.values():
        for key in ("weights", "weightsInc"):
            if key in d:
                d[key] = [np.array(a, dtype=np.float64, order="K") for a in d[key]]
        for key in ("biases", "biasesInc"):
            if key in d:
                d[key] = np.array(d[key], dtype=np.float64, order="K")


def test_engine_weight_gradients_match_finite_differences_for_every_layer_type(tiny_cfg):
    """conv (groups, unshared biases, two inputs), local, fc with two inputs, blur,
    nailbed, cmrnorm with minDiv, rnorm, max/avg pooling (start -1), tanh/logistic/relu,
    hs (disabled), fused softmax + logreg, across two logical GPUs."""
    g = parse_layers(*tiny_cfg("tiny-gc").pair())
    layers = {n: lay.d for n, lay in g.layers.items()}
    init_weights(layers, seed=3)
    _float64(layers)
    e = Engine(layers)
    n = 4
    x = RNG.standard_normal((3 * 8 * 8, n))
    y = RNG.integers(0, 5, (1, n)).astype(np.float64)

    def cost():
        return e.fprop([x, y], TRAIN)["logprob"][0]

    cost()
    e.bprop(0.0, n)
    for ps in e.params.values():
        for p in ps:
            # with eps=1, mom=0: grad = G/B (conv, biases) or inc = G/B (fc, local), and
            # G is the NEGATIVE gradient of the summed cost
            analytic = -(p.grad if p.use_grad else p.inc) * n
            _check_fd(lambda _w, p=p: cost(), p.w, analytic, n_points=5, tol=1e-5)
    # the two-tower bookkeeping saw the cross-device edges
    rows = {(r["kind"], r["layer"], r["from"], r["to"]) for r in e.copies.report()}
    assert ("acts", "nails0", "gpu0", "gpu1") in rows
    assert ("acts", "pool", "gpu1", "gpu0") in rows
    assert ("grad", "pool", "gpu0", "gpu1") in rows
    assert ("data", "data", "host", "gpu1") in rows


def test_alexnet2012_forward_and_backward_at_batch_2():
    g = parse_layers(*cfgs.pair("145"))
    layers = {n: lay.d for n, lay in g.layers.items()}
    init_weights(layers, seed=0)
    e = Engine(layers)
    assert sorted(e.towers) == [-1, 0, 1]
    assert "conv1b" in e.towers[1] and "fc1000" in e.towers[0]
    x = (RNG.standard_normal((3 * 224 * 224, 2)) * 50).astype(np.float32)
    y = np.array([[3, 997]], dtype=np.float32)
    before = layers["conv1a"]["weights"][0].copy()
    costs = e.fprop([x, y], TRAIN)
    assert e.acts["conv1a"].shape == (48 * 55 * 55, 2)
    assert e.acts["pool3b_neuron"].shape == (128 * 6 * 6, 2)
    assert e.acts["probs"].shape == (1000, 2)
    np.testing.assert_allclose(e.acts["probs"].sum(axis=0), 1.0, rtol=1e-5)
    nll, top1, top5 = costs["logprob"]
    assert math.isfinite(nll) and 0 <= top1 <= 2 and 0 <= top5 <= top1
    e.bprop(0.0, 2)
    for ps in e.params.values():
        for p in ps:
            buf = p.grad if p.use_grad else p.inc
            assert buf is not None and np.all(np.isfinite(buf)), p.name
    e.update(0.0)
    assert not np.array_equal(before, layers["conv1a"]["weights"][0])
    # the model-parallel flow: conv3 and the fc layers read the other tower
    edges = {(r["layer"], r["from"], r["to"]) for r in e.copies.report() if r["kind"] == "acts"}
    assert ("pool2a", "gpu0", "gpu1") in edges and ("pool2b", "gpu1", "gpu0") in edges
    assert ("hs2b", "gpu1", "gpu0") in edges


def test_engine_refuses_bad_input_with_one_line():
    g = parse_layers(*cfgs.pair("80sec"))
    layers = {n: lay.d for n, lay in g.layers.items()}
    init_weights(layers, seed=0)
    e = Engine(layers)
    with pytest.raises(DataError, match="expects \\(3072, cases\\)"):
        e.fprop([np.zeros((100, 2), np.float32), np.zeros((1, 2), np.float32)])
    with pytest.raises(BackendUnavailable, match="unknown backend 'opencl'"):
        Engine(layers, backend="opencl")


# ---------------------------------------------------------------- the update rule


def _param(use_grad, eps=0.1, mom=0.9, wc=0.01):
    w = np.array([[1.0, -2.0]], dtype=np.float64)
    inc = np.array([[0.5, 0.25]], dtype=np.float64)
    return Param("p", w, inc, LearningRateSchedule(eps), mom, wc, use_grad)


@pytest.mark.parametrize("use_grad", [True, False])
def test_update_rule_by_hand(use_grad):
    p = _param(use_grad)
    g_sum = np.array([[4.0, -8.0]])     # summed negative gradient over B = 4 cases
    accumulate(p, g_sum, 4, 0.0)
    assert update(p, 0.0)
    # V <- 0.9 V + 0.1 * G/4 - 0.01 * 0.1 * W ; W <- W + V
    v = 0.9 * np.array([0.5, 0.25]) + 0.1 * np.array([1.0, -2.0]) - 0.001 * np.array([1.0, -2.0])
    np.testing.assert_allclose(p.inc[0], v, rtol=1e-15)
    np.testing.assert_allclose(p.w[0], np.array([1.0, -2.0]) + v, rtol=1e-15)


def test_zero_learning_rate_means_no_update_at_all():
    p = _param(True, eps=0.0)
    w0, v0 = p.w.copy(), p.inc.copy()
    accumulate(p, np.ones((1, 2)), 4, 0.0)
    assert not update(p, 0.0)
    assert np.array_equal(p.w, w0) and np.array_equal(p.inc, v0)   # no decay, no momentum


def test_biases_never_decay_and_frozen_layers_are_skipped_in_the_engine():
    g = parse_layers(*cfgs.pair("80sec"))
    layers = {n: lay.d for n, lay in g.layers.items()}
    init_weights(layers, seed=0)
    layers["conv1"]["epsW"] = [0.0]
    layers["conv1"]["epsB"] = 0.0
    e = Engine(layers)
    assert all(p.wc == 0 for ps in e.params.values() for p in ps if p.name.endswith("biases"))
    w0 = layers["conv1"]["weights"][0].copy()
    x = RNG.standard_normal((3072, 8)).astype(np.float32) * 40
    y = RNG.integers(0, 10, (1, 8)).astype(np.float32)
    e.train_minibatch([x, y], 0.0)
    assert np.array_equal(w0, layers["conv1"]["weights"][0])
    assert not e.needs_grad["data"]
    assert np.count_nonzero(layers["conv2"]["weightsInc"][0]) > 0


def test_schedules():
    assert LinearSchedule(1.0, 10.0).rate(0.5) == pytest.approx(0.55)
    exp = ExpSchedule(0.01, 100.0)
    assert exp.rate(0.0) == pytest.approx(0.01) and exp.rate(1.0) == pytest.approx(1e-4)
    assert exp.rate(0.5) == pytest.approx(1e-3)
    d = DiscreteExpSchedule(0.01, 100.0, 0.0, 3)
    assert [d.rate(p) for p in (0.1, 0.5, 0.9)] == pytest.approx([0.01, 1e-3, 1e-4])
    j = JumpyDiscreteExpSchedule(0.01, 100.0, 0.0, 3)
    # second half of the middle step: the geometric mean of 0.01 and 0.001
    assert j.rate(0.6) == pytest.approx(math.sqrt(1e-2 * 1e-3))
    assert j.rate(0.4) == pytest.approx(1e-3)


def test_cuda_convnet_backend_matches_numpy(tiny_cfg):
    """The shared cuda/ kernels (run by the device emulator) inside the same engine: one
    training step of the mixed test net agrees with the numpy backend to float32
    rounding (different summation orders; 1e-5 absolute on weights of size ~1)."""
    import copy

    from alexnet.original.backends import get_backend

    try:
        backend = get_backend("cuda-convnet")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    g = parse_layers(*tiny_cfg("tiny-gc").pair())
    a = {n: lay.d for n, lay in g.layers.items()}
    init_weights(a, seed=3)
    b = copy.deepcopy(a)
    x = RNG.standard_normal((192, 32)).astype(np.float32)
    y = RNG.integers(0, 5, (1, 32)).astype(np.float32)
    ca = Engine(a, seed=5).train_minibatch([x, y], 0.0)
    cb = Engine(b, backend=backend, seed=5).train_minibatch([x, y], 0.0)
    assert ca["logprob"][0] == pytest.approx(cb["logprob"][0], rel=1e-5)
    for name, d in a.items():
        for wa, wb in zip(d.get("weights", []), b[name].get("weights", []), strict=True):
            np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-5, err_msg=name)


def _count(g) -> int:
    total = 0
    for lay in g.weight_layers:
        d = lay.d
        if lay.type == "conv":
            total += sum(fp * fc * d["filters"] for fp, fc in zip(d["filterPixels"],
                                                                  d["filterChannels"],
                                                                  strict=True))
            total += d["filters"] if d["sharedBiases"] else d["filters"] * d["modules"]
        elif lay.type == "local":
            total += sum(d["modules"] * fp * fc * d["filters"]
                         for fp, fc in zip(d["filterPixels"], d["filterChannels"], strict=True))
            total += d["modules"] * d["filters"]
        else:
            total += sum(n * d["outputs"] for n in d["numInputs"]) + d["outputs"]
    return total


@pytest.mark.parametrize("net,params", [("120", 60_870_376), ("131", 60_870_376),
                                        ("135", 60_870_376), ("137", 60_870_376),
                                        ("146", 61_555_304)])
def test_bundled_imagenet_nets_have_the_2012_parameter_counts(net, params):
    g = parse_layers(*cfgs.pair(net))
    assert not g.warnings and _count(g) == params
    if net != "146":                       # the summer family's low-resolution side path
        assert g["nails0"].shape == (3, 56, 56) and g["conv2a"].inputs[0] == "nails0"
        assert g["fc1000"].gpu == (1 if net == "120" else 0)
        assert g["cnorm2a"].type == ("rnorm" if net == "137" else "cnorm")
        assert g["rnorm1a"].d["minDiv"] == (2.0 if net in ("135", "137") else 1.0)
    else:
        assert g["conv6b"].gpu == 1 and g["fc2048a"].inputs == ["conv6a_neuron", "conv6b_neuron"]


def test_the_145_stages_replay_the_notes():
    want = {2: (0.001, 0.02, 0.001), 3: (0.0001, 0.02, 0.0001), 4: (1e-5, 0.02, 0.0001),
            5: (0.0, 0.0, 0.0001), 6: (0.0, 0.0, 1e-5)}
    for k, (c1w, c1b, fcw) in want.items():
        g = parse_layers(cfgs.path("layers-145.cfg"), cfgs.path(f"layer-params-145-stage{k}.cfg"))
        assert g["conv1a"].d["epsW"] == [c1w] and g["conv1b"].d["epsB"] == c1b
        assert g["fc1000"].d["epsW"] == [fcw, fcw] and g["conv3b"].d["epsB"] == 0.02


@pytest.mark.parametrize("net", ["80sec", "18pct", "19pct", "conv-local-13pct",
                                 "conv-local-11pct"])
def test_cifar_example_nets_train_a_step(net):
    g = parse_layers(*cfgs.pair(net))
    layers = {n: lay.d for n, lay in g.layers.items()}
    init_weights(layers, seed=0)
    e = Engine(layers)
    c, h, w = g.input_shape
    x = (RNG.standard_normal((c * h * w, 4)) * 40).astype(np.float32)
    y = RNG.integers(0, 10, (1, 4)).astype(np.float32)
    costs = e.train_minibatch([x, y], 0.0)
    assert math.isfinite(costs["logprob"][0])
    assert all(np.all(np.isfinite(wt)) for d in layers.values() for wt in d.get("weights", []))
