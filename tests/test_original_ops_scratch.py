"""The numpy engine's speed work changes no number: reused buffers and channel blocks.

The engine keeps its large conv temporaries in a :class:`Scratch` and accumulates
col2im and the max-pool undo a block of channels at a time. Both only move where values
are stored and in which order elements (not terms) are visited, so results must be
bit-identical (``np.array_equal``, no tolerance) to the unblocked, freshly allocated
computation and to plain loops.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from alexnet.original import ops_numpy as ops
from alexnet.original.engine import Engine
from alexnet.original.initial_weights import init_weights
from alexnet.original.layer import parse_layers
from alexnet.original.ops_numpy import ConvGeom, Scratch

GEOMS = [
    # channels, img, S, pad, stride, groups, filters, local
    (3, 8, 3, 0, 2, 1, 4, False),
    (4, 6, 3, 1, 1, 2, 4, False),
    (3, 7, 5, 2, 2, 1, 2, False),
    (2, 5, 3, 1, 1, 1, 3, True),
]


def _geom(spec) -> ConvGeom:
    c, img, s, pad, stride, groups, filters, local = spec
    mx = -(-(img + 2 * pad - s) // stride) + 1
    return ConvGeom(c, img, s, pad, stride, mx, groups, filters, local)


def test_scratch_hands_out_distinct_buffers_until_release():
    sc = Scratch()
    a, b = sc.take((3, 4), np.float32), sc.take((3, 4), np.float32)
    assert a is not b and not np.shares_memory(a, b)
    assert sc.zeros((2,), np.float64).tolist() == [0.0, 0.0]
    sc.release()
    again = [sc.take((3, 4), np.float32), sc.take((3, 4), np.float32)]
    assert {id(x) for x in again} == {id(a), id(b)}  # reused, not reallocated
    assert sc.take((3, 4), np.float64).dtype == np.float64  # dtype is part of the key


@pytest.mark.parametrize("spec", GEOMS)
def test_patches_and_img_acts_with_scratch_are_bit_identical(spec):
    g = _geom(spec)
    rng = np.random.default_rng(0)
    n = 5
    rows = g.k if not g.local else g.modules * g.k
    w = rng.standard_normal((rows, g.filters)).astype(np.float32)
    sc = Scratch()
    for _round in range(2):  # the second round gets the first round's (dirty) buffers
        x = rng.standard_normal((g.channels * g.img_size ** 2, n)).astype(np.float32)
        h = rng.standard_normal((g.filters * g.modules, n)).astype(np.float32)
        sc.release()
        for got, want in zip(ops.patches(x, g, sc), ops.patches(x, g), strict=True):
            assert np.array_equal(got, want)
        assert np.array_equal(ops.img_acts(h, w, g, sc), ops.img_acts(h, w, g))


def _max_undo_loops(x, out, grad, c, img, size, start, stride, ox):
    """Every input equal to its (clipped) window's max gets the window's gradient."""
    n = x.shape[1]
    x4, o4 = x.reshape(c, img, img, n), out.reshape(c, ox, ox, n)
    g4 = grad.reshape(c, ox, ox, n)
    dx = np.zeros_like(x4)
    for ch, oy, oxx, k in itertools.product(range(c), range(ox), range(ox), range(n)):
        y0, x0 = start + oy * stride, start + oxx * stride
        for yy, xx in itertools.product(range(max(0, y0), min(img, y0 + size)),
                                        range(max(0, x0), min(img, x0 + size))):
            if x4[ch, yy, xx, k] == o4[ch, oy, oxx, k]:
                dx[ch, yy, xx, k] += g4[ch, oy, oxx, k]
    return dx.reshape(-1, n)


def _max_undo_unblocked(x, out, grad, c, img, size, start, stride, ox):
    """The undo as first written: all channels at once, ``np.where`` per window."""
    n = x.shape[1]
    lo, hi = ops.pool_padding(img, size=size, stride=stride, start=start, outputs=ox)
    off, span = start + lo, stride * (ox - 1) + 1
    xp = np.full((c, img + lo + hi, img + lo + hi, n), -np.inf, dtype=x.dtype)
    xp[:, lo:lo + img, lo:lo + img] = x.reshape(c, img, img, n)
    o4, g4 = out.reshape(c, ox, ox, n), grad.reshape(c, ox, ox, n)
    dxp = np.zeros_like(xp)
    for dy, dx in itertools.product(range(size), range(size)):
        ys, xs = slice(off + dy, off + dy + span, stride), slice(off + dx, off + dx + span, stride)
        dxp[:, ys, xs] += np.where(xp[:, ys, xs] == o4, g4, 0)
    return np.ascontiguousarray(dxp[:, lo:lo + img, lo:lo + img]).reshape(-1, n)


@pytest.mark.parametrize("block", [1, 2, 99])
def test_max_pool_undo_in_channel_blocks_matches_loops_with_ties(block, monkeypatch):
    monkeypatch.setattr(ops, "_channel_block", lambda per_channel, channels: block)
    rng = np.random.default_rng(1)
    c, img, size, stride, n = 5, 9, 3, 2, 3
    ox = 4 + 1  # ceil rule: the last window reaches past the image
    # a ReLU's output: many exact zeros, so many windows have tied maxima
    x = np.maximum(rng.standard_normal((c * img * img, n)), 0).astype(np.float32)
    out = ops.pool_forward(x, c, img, size, 0, stride, ox, "max")
    grad = rng.standard_normal(out.shape).astype(np.float32)
    got = ops.pool_backward(x, out, grad, c, img, size, 0, stride, ox, "max")
    # the same bits as the unblocked formula ...
    assert np.array_equal(got, _max_undo_unblocked(x, out, grad, c, img, size, 0, stride, ox))
    # ... and the 2012 rule: loops add a pixel's (at most four) window gradients in
    # another order, so float32 rounding may differ by a few ulp
    want = _max_undo_loops(x.astype(np.float64), out.astype(np.float64),
                           grad.astype(np.float64), c, img, size, 0, stride, ox)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert np.array_equal(got != 0, want != 0)  # exactly the tied maxima get gradient


@pytest.mark.parametrize("net", ["tiny-gc", "tiny-misc", "tiny-side-path"])
def test_engine_steps_are_unchanged_by_buffer_reuse(tiny_cfg, net):
    """Kept patches in reused buffers vs patches recomputed freshly (conserve_mem)."""
    results = []
    for conserve in (False, True):
        g = parse_layers(*tiny_cfg(net).pair())
        layers = {name: lay.d for name, lay in g.layers.items()}
        init_weights(layers, seed=0)
        e = Engine(layers, seed=0, conserve_mem=conserve)
        rng = np.random.default_rng(2)
        c, h, w = g.input_shape
        for _ in range(3):
            x = (rng.standard_normal((c * h * w, 6)) * 20).astype(np.float32)
            y = rng.integers(0, g.num_classes, (1, 6)).astype(np.float32)
            e.train_minibatch([x, y], 0.0)
        results.append({f"{n}.{i}": a.copy() for n, d in layers.items()
                        if d["type"] in ("conv", "local", "fc")
                        for i, a in enumerate(d["weights"])})
    assert results[0].keys() == results[1].keys()
    for k in results[0]:
        assert np.array_equal(results[0][k], results[1][k]), k
