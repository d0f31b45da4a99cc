"""The emulated kernels against the numpy reference (cuda/reference.py), in the 2012 layouts.

Every code path of the kernels is exercised on small shapes: colour counts 1/2/3 (the
"color" variants) and grouped/many-colour ones, filters per group 16/32/64 (the per-block
filter counts), image counts not a multiple of 32 and multiples of 64/128 (the images-per-
thread variants and bounds checks), padding, strides with the one-sided ceil overhang,
non-square images, local (unshared) filters, every partialSum, strided images, the
accumulate modes, pooling with ties and clipped windows, and the normalisations' edges.
Each comparison runs under two thread schedules (ascending and seeded-random).

Tolerances. The reference computes in float64 from the same float32 inputs. A float32 sum of
K products is within gamma_K * sum|terms| of the exact value (gamma_K = K*u / (1 - K*u),
u = 2**-24; Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., section 3.1),
whatever the summation order; we allow gamma_{K+2} (the product and the final scaling round
too) times the reference evaluated on |inputs|. This bound cannot flake, and a missing or
wrong term (of the size of a term) exceeds it by orders of magnitude. Pooling max is exact;
the normalisations (powf, sums of at most a few dozen terms) are held to 1e-5 relative.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from alexnet.cuda import bindings_numpy as ops
from alexnet.cuda import reference as ref
from alexnet.cuda.errors import KernelPreconditionError
from alexnet.geometry import conv_output_size

pytestmark = pytest.mark.skipif(
    not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
    reason="no C++ compiler for the emulated kernels",
)

U = 2.0**-24
SEEDS = (0, 0x2012)


@pytest.fixture(params=SEEDS, ids=["ascending", "seeded"])
def seed(request):
    ops.set_schedule_seed(request.param)
    yield request.param
    ops.set_schedule_seed(0)


def _gamma(k: int) -> float:
    return k * U / (1 - k * U)


def assert_sum_close(got: np.ndarray, exact: np.ndarray, abs_sum: np.ndarray, terms: int) -> None:
    """|got - exact| <= gamma_{terms+2} * abs_sum elementwise (see the module docstring)."""
    assert got.shape == exact.shape, (got.shape, exact.shape)
    bound = _gamma(terms + 2) * abs_sum + 1e-30
    err = np.abs(got.astype(np.float64) - exact)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), (
        f"error {err[worst]:.3g} > bound {bound[worst]:.3g} at {worst}"
    )


def f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def f64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64)


# (C, H, W, N, F, S, padding, stride, groups, conv): each row names the path it covers
CONV_CASES = [
    pytest.param(3, 8, 8, 5, 16, 3, 1, 1, 1, True, id="rgb-pad1-N5"),
    pytest.param(3, 10, 10, 64, 32, 3, 0, 2, 1, True, id="rgb-ceil-overhang-N64"),
    pytest.param(3, 9, 9, 128, 16, 4, 1, 2, 1, True, id="rgb-N128-even-filter"),
    pytest.param(1, 7, 9, 3, 16, 4, 0, 2, 1, True, id="grey-nonsquare"),
    pytest.param(2, 6, 6, 4, 16, 3, 1, 1, 1, True, id="two-colours"),
    pytest.param(4, 6, 5, 3, 64, 3, 2, 3, 1, True, id="4ch-stride3-pad2-F64"),
    pytest.param(8, 6, 6, 33, 32, 3, 1, 2, 2, True, id="groups2-cg4"),
    pytest.param(16, 5, 5, 7, 32, 3, 1, 1, 1, True, id="16ch-cg16"),
    pytest.param(32, 4, 4, 3, 64, 2, 0, 2, 2, True, id="groups2-cg16-F64"),
    pytest.param(16, 5, 5, 4, 128, 3, 1, 1, 2, True, id="groups2-cg8-Fg64"),
    pytest.param(3, 6, 6, 4, 16, 3, 1, 2, 1, False, id="local-rgb"),
    pytest.param(8, 5, 5, 3, 32, 3, 0, 1, 2, False, id="local-groups2"),
]


def _conv_setup(rng, C, H, W, N, F, S, pad, stride, groups, conv):
    MY = conv_output_size(H, filter_size=S, stride=stride, padding=pad)
    MX = conv_output_size(W, filter_size=S, stride=stride, padding=pad)
    cg = C // groups
    shape = (cg, S, S, F) if conv else (MY * MX, cg, S, S, F)
    return f32(rng, C, H, W, N), f32(rng, *shape), MY, MX


@pytest.mark.parametrize("C,H,W,N,F,S,pad,stride,groups,conv", CONV_CASES)
def test_filter_img_weight_acts_match_reference(seed, C, H, W, N, F, S, pad, stride, groups,
                                                conv):
    rng = np.random.default_rng(C * 1000 + N)
    x, w, MY, MX = _conv_setup(rng, C, H, W, N, F, S, pad, stride, groups, conv)
    geo = dict(padding_start=-pad, stride=stride, groups=groups, conv=conv)
    rgeo = dict(num_modules_y=MY, num_modules_x=MX, padding_start=-pad, stride=stride,
                groups=groups, conv=conv)
    cg = C // groups

    y = ops.filter_acts(x, w, **geo)
    assert y.shape == (F, MY, MX, N)
    assert_sum_close(y, ref.filter_acts(f64(x), f64(w), **rgeo),
                     ref.filter_acts(np.abs(f64(x)), np.abs(f64(w)), **rgeo), cg * S * S)

    g = f32(rng, F, MY, MX, N)
    gi = ops.img_acts(g, w, image_size=(H, W), **geo)
    rgi = dict(img_size_y=H, img_size_x=W, num_colors=C, padding_start=-pad, stride=stride,
               groups=groups, conv=conv)
    terms = (F // groups) * (-(-S // stride)) ** 2
    assert_sum_close(gi, ref.img_acts(f64(g), f64(w), **rgi),
                     ref.img_acts(np.abs(f64(g)), np.abs(f64(w)), **rgi), terms)

    if groups == 1 and C > 3 and C % 4:
        return  # weightActs refuses these channel counts (checked below)
    M = MY * MX
    sums = [0, 1, M] + [p for p in range(2, M) if M % p == 0][:2] if conv else [1]
    for partial_sum in sums:
        gw = ops.weight_acts(x, g, filter_size=S, partial_sum=partial_sum, reduce=False,
                             padding_start=-pad, stride=stride, groups=groups, conv=conv)
        rw = dict(filter_size=S, padding_start=-pad, stride=stride, groups=groups,
                  partial_sum=partial_sum if conv else 1)
        P = (M if partial_sum == 0 else partial_sum) if conv else 1
        assert_sum_close(gw, ref.weight_acts(f64(x), f64(g), **rw),
                         ref.weight_acts(np.abs(f64(x)), np.abs(f64(g)), **rw), P * N)
    if conv:
        for partial_sum in (0, sums[-1]):
            gw = ops.weight_acts(x, g, filter_size=S, partial_sum=partial_sum,
                                 padding_start=-pad, stride=stride, groups=groups)
            rw = dict(filter_size=S, padding_start=-pad, stride=stride, groups=groups,
                      partial_sum=0)
            assert gw.shape == (cg, S, S, F)
            assert_sum_close(gw, ref.weight_acts(f64(x), f64(g), **rw)[0],
                             ref.weight_acts(np.abs(f64(x)), np.abs(f64(g)), **rw)[0], M * N)


def test_accumulate_modes_and_garbage_targets():
    rng = np.random.default_rng(7)
    x, w, MY, MX = _conv_setup(rng, 3, 7, 7, 5, 16, 3, 1, 2, 1, True)
    geo = dict(padding_start=-1, stride=2)
    fresh = ops.filter_acts(x, w, **geo)
    # scaleTargets == 0: the old target is never read, so NaN garbage must not leak
    garbage = np.full_like(fresh, np.nan)
    out = ops.filter_acts(x, w, out=garbage, scale_output=2.0, **geo)
    assert out is garbage
    np.testing.assert_allclose(out, 2.0 * fresh, rtol=1e-6)  # exact up to the scaling rounding
    old = f32(rng, *fresh.shape)
    acc = ops.filter_acts(x, w, out=old.copy(), scale_targets=0.5, scale_output=-1.0, **geo)
    np.testing.assert_allclose(acc, 0.5 * old - fresh, rtol=1e-5, atol=1e-5)

    g = f32(rng, *fresh.shape)
    gi = ops.img_acts(g, w, image_size=7, **geo)
    old_i = f32(rng, *gi.shape)
    acc_i = ops.img_acts(g, w, image_size=7, out=old_i.copy(), scale_targets=1.0, **geo)
    np.testing.assert_allclose(acc_i, old_i + gi, rtol=1e-5, atol=1e-5)

    gw = ops.weight_acts(x, g, filter_size=3, partial_sum=2, **geo)
    old_w = f32(rng, *gw.shape)
    acc_w = ops.weight_acts(x, g, filter_size=3, partial_sum=2, out=old_w.copy(),
                            scale_targets=1.0, scale_output=0.25, **geo)
    np.testing.assert_allclose(acc_w, old_w + 0.25 * gw, rtol=1e-5, atol=1e-5)
    with pytest.raises(KernelPreconditionError, match="needs out="):
        ops.filter_acts(x, w, scale_targets=1.0, **geo)


def test_strided_images_are_read_with_their_row_stride():
    rng = np.random.default_rng(8)
    wide = f32(rng, 3, 6, 6, 40)
    x = wide[..., :27]  # the 2012 image stride: rows of 40, 27 images used
    assert not x.flags.c_contiguous
    w = f32(rng, 3, 3, 3, 16)
    y = ops.filter_acts(x, w, padding_start=-1)
    np.testing.assert_array_equal(y, ops.filter_acts(np.ascontiguousarray(x), w,
                                                     padding_start=-1))
    g = f32(rng, *y.shape)
    np.testing.assert_array_equal(
        ops.weight_acts(x, g, filter_size=3, padding_start=-1),
        ops.weight_acts(np.ascontiguousarray(x), g, filter_size=3, padding_start=-1),
    )


def test_agg_partial_sums_adds_chunks_in_order():
    rng = np.random.default_rng(9)
    parts = f32(rng, 5, 3, 7)
    np.testing.assert_allclose(ops.agg_partial_sums(parts), ref.agg_partial_sums(f64(parts)),
                               rtol=1e-6, atol=1e-6)  # 5 terms of O(1): a few ulp


# -- pooling ---------------------------------------------------------------------------------

POOL_CASES = [  # (C, size_img, N, size, stride, start)
    pytest.param(16, 7, 5, 3, 2, 0, id="overlap-3-2"),
    pytest.param(32, 9, 64, 3, 3, 0, id="tiles-N64"),
    pytest.param(16, 8, 130, 2, 2, 0, id="N130"),
    pytest.param(16, 7, 3, 3, 2, 0, id="ceil-clipped-last"),
    pytest.param(16, 6, 4, 4, 1, -2, id="negative-start"),
    pytest.param(5, 5, 3, 3, 2, 0, id="odd-channels"),
]


@pytest.mark.parametrize("C,S,N,size,stride,start", POOL_CASES)
def test_pooling_and_undo_match_reference(seed, C, S, N, size, stride, start):
    rng = np.random.default_rng(C + S + N)
    x = f32(rng, C, S, S, N)
    x[:, 1, 1] = x[:, 1, 2]  # exact ties inside windows
    x[:, 0, :2] = 7.0
    for pool in ("max", "avg", "maxabs"):
        y = ops.local_pool(x, pool=pool, size=size, stride=stride, start=start)
        r = ref.local_pool(f64(x), pool=pool, size=size, stride=stride, start=start,
                           outputs=y.shape[1])
        if pool == "avg":
            assert_sum_close(y, r, ref.local_pool(np.abs(f64(x)), pool=pool, size=size,
                                                  stride=stride, start=start, outputs=y.shape[1]),
                             size * size)
        else:
            np.testing.assert_array_equal(y, r.astype(np.float32))  # a selection: exact
    if C % 16:
        return
    y = ops.local_pool(x, pool="max", size=size, stride=stride, start=start)
    g = f32(rng, *y.shape)
    gm = ops.local_max_undo(x, g, y, size=size, stride=stride, start=start)
    windows = (-(-size // stride)) ** 2
    exact = ref.local_max_undo(f64(x), f64(g), f64(y), size=size, stride=stride, start=start)
    bound = ref.local_max_undo(f64(x), np.abs(f64(g)), f64(y), size=size, stride=stride,
                               start=start)
    assert_sum_close(gm, exact, bound, windows)
    assert np.count_nonzero(gm[:, 0, :2]) > 0  # both tied 7.0 pixels are credited
    ga = ops.local_avg_undo(g, image_size=S, size=size, stride=stride, start=start)
    exact = ref.local_avg_undo(f64(g), img_size=S, size=size, stride=stride, start=start)
    bound = ref.local_avg_undo(np.abs(f64(g)), img_size=S, size=size, stride=stride, start=start)
    assert_sum_close(ga, exact, bound, 2 * windows)


def test_max_undo_credits_every_tie():
    x = np.zeros((16, 4, 4, 3), np.float32)  # every window is all ties
    y = ops.local_pool(x, pool="max", size=2, stride=2)
    g = np.ones_like(y)
    np.testing.assert_array_equal(ops.local_max_undo(x, g, y, size=2, stride=2),
                                  np.ones_like(x))


# -- normalisation ---------------------------------------------------------------------------


def _close(got, exact, rtol=1e-5):
    np.testing.assert_allclose(got, exact, rtol=rtol, atol=rtol * np.abs(exact).max())


@pytest.mark.parametrize(
    "C,S,N,size,blocked",
    [
        pytest.param(16, 4, 5, 5, False, id="size5"),
        pytest.param(32, 3, 130, 5, False, id="N130"),
        pytest.param(16, 3, 64, 4, False, id="even-size"),
        pytest.param(16, 3, 4, 3, True, id="blocked"),
        pytest.param(16, 2, 3, 16, False, id="size-equals-channels"),
    ],
)
def test_cross_map_norm_and_undo_match_reference(seed, C, S, N, size, blocked):
    rng = np.random.default_rng(C * S + N)
    x = f32(rng, C, S, S, N)
    kw = dict(size=size, power=0.75, blocked=blocked)
    y, d = ops.cross_map_norm(x, scale=0.01, min_div=2.0, **kw)
    ry, rd = ref.cross_map_norm(f64(x), size=size, add_scale=0.01 / size, pow_=0.75,
                                min_div=2.0, blocked=blocked)
    _close(d, rd)
    _close(y, ry)
    g = f32(rng, *y.shape)
    y_saved = y.copy()
    gi = ops.cross_map_norm_undo(g, d, x, y, scale=0.01, **kw)
    np.testing.assert_array_equal(y, y_saved)  # the binding protects acts from the kernel
    _close(gi, ref.cross_map_norm_grad(f64(g), f64(x), size=size, add_scale=0.01 / size,
                                       pow_=0.75, min_div=2.0, blocked=blocked))
    ops.cross_map_norm_undo(g, d, x, y, scale=0.01, overwrite_acts=True, **kw)
    assert not np.array_equal(y, y_saved)  # 2012 behaviour on request: acts overwritten


@pytest.mark.parametrize(
    "C,S,N,size",
    [
        pytest.param(16, 6, 5, 5, id="odd-size"),
        pytest.param(16, 7, 3, 4, id="even-size"),
        pytest.param(32, 5, 66, 6, id="size6-N66"),
        pytest.param(3, 5, 4, 3, id="few-channels-forward"),
    ],
)
def test_response_and_contrast_norm_match_reference(seed, C, S, N, size):
    rng = np.random.default_rng(C * S + N + 1)
    x = f32(rng, C, S, S, N)
    kw = dict(size=size, power=0.75)
    add = 0.5 / size**2
    y, d = ops.response_norm(x, scale=0.5, **kw)
    ry, rd = ref.contrast_norm(f64(x), f64(x), size=size, add_scale=add, pow_=0.75)
    _close(d, rd)
    _close(y, ry)
    y2, d2, md = ops.contrast_norm(x, scale=0.5, **kw)
    rmd = f64(x) - ref.local_mean(f64(x), size)
    _close(md, rmd)
    ry2, rd2 = ref.contrast_norm(f64(x), rmd, size=size, add_scale=add, pow_=0.75)
    _close(d2, rd2)
    _close(y2, ry2)
    if C % 16:
        with pytest.raises(KernelPreconditionError, match="multiple of 16"):
            ops.response_norm_undo(y, d, x, y, scale=0.5, **kw)
        return
    g = f32(rng, *y.shape)
    _close(ops.response_norm_undo(g, d, x, y, scale=0.5, **kw),
           ref.response_norm_grad(f64(g), f64(x), f64(x), size=size, add_scale=add, pow_=0.75))
    _close(ops.contrast_norm_undo(g, d2, md, y2, scale=0.5, **kw),
           ref.response_norm_grad(f64(g), f64(x), rmd, size=size, add_scale=add, pow_=0.75))


# -- preconditions: one clear line, never a crash -----------------------------------------------


def _conv(C=3, F=16, groups=1, S=3, pad=0, stride=1, N=4, H=6, modules=None, conv=True):
    rng = np.random.default_rng(0)
    x = f32(rng, C, H, H, N)
    cg = C // groups if C % groups == 0 else 1
    w = f32(rng, cg, S, S, F) if conv else f32(rng, 99, cg, S, S, F)
    return ops.filter_acts(x, w, padding_start=-pad, stride=stride, groups=groups,
                           modules=modules, conv=conv)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(F=24), "multiple of 16\\*numGroups"),
        (dict(C=5), "<= 3 or even"),
        (dict(C=6, groups=2, F=32), "must be even"),
        (dict(pad=-1), "paddingStart must be <= 0"),
        (dict(S=2, stride=3), "must not exceed filterSize"),
        (dict(modules=(2, 2)), "do not cover"),
        (dict(C=4, groups=3), "channels per group x 3 groups"),
        (dict(conv=False), "local filters have 99 modules"),
    ],
)
def test_filter_acts_preconditions(kwargs, match):
    with pytest.raises(KernelPreconditionError, match=match) as info:
        _conv(**kwargs)
    assert "\n" not in str(info.value)


def test_weight_and_img_acts_preconditions():
    rng = np.random.default_rng(1)
    x6 = f32(rng, 6, 5, 5, 4)
    g = f32(rng, 16, 5, 5, 4)
    ops.filter_acts(x6, f32(rng, 6, 3, 3, 16), padding_start=-1)  # 6 colours: filterActs ok
    with pytest.raises(KernelPreconditionError, match="multiple of 4"):
        ops.weight_acts(x6, g, filter_size=3, padding_start=-1)  # 2012 quirk: weightActs not
    with pytest.raises(KernelPreconditionError, match="partial_sum"):
        ops.weight_acts(f32(rng, 4, 5, 5, 4), g, filter_size=3, padding_start=-1, partial_sum=7)
    with pytest.raises(KernelPreconditionError, match="multiple of 4"):
        ops.img_acts(f32(rng, 32, 5, 5, 4), f32(rng, 2, 3, 3, 32), image_size=5,
                     padding_start=-1, groups=2)
    with pytest.raises(KernelPreconditionError, match="cases"):
        ops.weight_acts(f32(rng, 4, 5, 5, 3), g, filter_size=3, padding_start=-1)


def test_array_checks():
    rng = np.random.default_rng(2)
    x = f32(rng, 3, 6, 6, 4)
    w = f32(rng, 3, 3, 3, 16)
    with pytest.raises(KernelPreconditionError, match="float32"):
        ops.filter_acts(x.astype(np.float64), w)
    with pytest.raises(KernelPreconditionError, match="C-contiguous"):
        ops.filter_acts(x, np.asfortranarray(w))
    with pytest.raises(KernelPreconditionError, match="C-contiguous"):
        ops.filter_acts(x.transpose(0, 2, 1, 3), w)
    with pytest.raises(KernelPreconditionError, match="4 dimensions"):
        ops.filter_acts(x[0], w)
    with pytest.raises(KernelPreconditionError, match="numpy array"):
        ops.filter_acts(x.tolist(), w)
    with pytest.raises(KernelPreconditionError, match="square"):
        ops.filter_acts(x, f32(rng, 3, 3, 2, 16))
    with pytest.raises(KernelPreconditionError, match="out has shape"):
        ops.filter_acts(x, w, out=np.empty((16, 4, 4, 5), np.float32))
    with pytest.raises(ValueError):  # KernelPreconditionError is a ValueError too
        ops.filter_acts(x, w, stride=0)


def test_pool_and_norm_preconditions():
    rng = np.random.default_rng(3)
    x = f32(rng, 8, 6, 6, 4)
    y = ops.local_pool(x, size=3, stride=2)
    with pytest.raises(KernelPreconditionError, match="multiple of 16"):
        ops.local_max_undo(x, y, y, size=3, stride=2)
    x16 = f32(rng, 16, 6, 6, 4)
    y16 = ops.local_pool(x16, size=2, stride=3, outputs=2)
    with pytest.raises(KernelPreconditionError, match="stride \\(3\\) must not exceed"):
        ops.local_max_undo(x16, y16, y16, size=2, stride=3)
    with pytest.raises(KernelPreconditionError, match="outside"):
        ops.local_pool(x, size=3, stride=2, outputs=5)
    with pytest.raises(KernelPreconditionError, match="square"):
        ops.local_pool(f32(rng, 8, 6, 5, 4), size=3, stride=2)
    with pytest.raises(KernelPreconditionError, match="max, avg or maxabs"):
        ops.local_pool(x, pool="min", size=3, stride=2)
    with pytest.raises(KernelPreconditionError, match="multiple of 16"):
        ops.cross_map_norm(x, size=5, scale=1e-4, power=0.75)
    with pytest.raises(KernelPreconditionError, match="size must be in"):
        ops.cross_map_norm(x16, size=17, scale=1e-4, power=0.75)
    with pytest.raises(KernelPreconditionError, match="<= 8 or a multiple of 16"):
        ops.response_norm(f32(rng, 12, 4, 4, 2), size=3, scale=1.0, power=0.75)


def test_c_abi_rejects_null_pointers_with_a_message():
    from alexnet.cuda import abi
    from alexnet.cuda.build import load_library

    lib = load_library("emulation")
    rc = lib.convnet_local_pool(None, None, 4, 16, 6, 0, 3, 0, 2, 3, None)
    assert rc == abi.ERR_PRECONDITION
    assert lib.convnet_last_error() == b"local_pool: null pointer argument"
    with pytest.raises(KernelPreconditionError, match="poolType"):
        x = np.zeros((16, 6, 6, 4), np.float32)
        abi.call(lib, "convnet_local_pool", x.ctypes.data, x.ctypes.data, 4, 16, 6, 9, 3, 0, 2,
                 3, None)
