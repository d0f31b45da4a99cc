"""The numpy reference of every layer computation, in the 2012 memory layout.

Re-creates the numerics of the 2012 C++/CUDA side for the layer types the AlexNet2012
cfgs and the CIFAR-10 example nets use: the cudaconv2 routines the 2012 layers called
(``src/layer.cu`` L815-L1006 conv/local, L1273-L1357 pooling, L1440-L1475 nailbed and
blur, L1560-L1623 normalisation; semantics from cc2011 ``src/cudaconv2/filter_acts.cu``,
``img_acts.cu``, ``weight_acts.cu``, ``conv_util.cu``), the neurons
(``include/neuron.cuh`` L64-L527), softmax (``src/layer.cu`` L1016-L1046), dropout
(``src/layer.cu`` L1121-L1160) and the logistic-regression cost with its top-k counting
(``src/layer_kernels.cu`` L387-L471, L96-L169). It plays the part the 2012 tree gave its
CPU reference code (``src/cpuCNN.cu``): slow enough to read, exact enough to test against.

Layout (docs/reference/kernels.md#kernels-layouts): every activation or gradient
is a C-contiguous 2-D
array ``(features, cases)`` with the case index fastest ("images minor"); image-like
features are ordered (channel, row, column). Conv filters are ``(C/G * S * S, F)``,
local filters ``(M * C/G * S * S, F)``, conv/local outputs ``(F, MY, MX, N)``.

Two conventions of 2012 are kept on purpose because they decide numbers:

* the output-size rule with a ceiling: modules reaching past the (padded) image read
  zeros there, so a 224 crop gives 55x55 conv1 maps (``layer.py`` L1004);
* gradients flowing down the net are NEGATIVE gradients of the cost (the cost layers
  start with ``coeff * (onehot - p)``), and weight gradients are sums over the minibatch
  (the 1/B appears in the update, :mod:`alexnet.original.weights`).

Every function is dtype-generic (float32 for training, float64 in the tests).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from alexnet.geometry import pool_padding

# --------------------------------------------------------------------------------------
# Geometry


# The output-size rules themselves (layer.py L1004, L1163-L1164) are
# alexnet.geometry's; the layer dicts carry their results (modulesX, outputsX).


class Scratch:
    """Large working buffers kept from one minibatch to the next.

    Why: at batch 128 the conv patch matrices and their gradients are 25-110 MB each.
    glibc serves blocks that large with a fresh ``mmap`` and returns them on free, so
    every step the kernel zero-fills every page again, which cost as much time as the
    arithmetic around it. The engine owns one ``Scratch``, hands it to the operations
    whose temporaries are that large, and calls :meth:`release` when a new forward pass
    begins (the point where the 2012 engine, too, let go of the previous step's
    buffers). The buffers only hold values; what is computed does not change.
    """

    def __init__(self) -> None:
        self._free: dict[tuple, list[np.ndarray]] = {}
        self._taken: list[tuple[tuple, np.ndarray]] = []

    def take(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised buffer that nobody else holds until the next :meth:`release`."""
        key = (tuple(int(v) for v in shape), np.dtype(dtype).str)
        free = self._free.setdefault(key, [])
        buf = free.pop() if free else np.empty(key[0], dtype=key[1])
        self._taken.append((key, buf))
        return buf

    def zeros(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        buf = self.take(shape, dtype)
        buf.fill(0)
        return buf

    def release(self) -> None:
        """Every buffer handed out becomes free again (their contents are garbage)."""
        for key, buf in self._taken:
            self._free[key].append(buf)
        self._taken.clear()

    def nbytes(self) -> int:
        return sum(b.nbytes for bufs in self._free.values() for b in bufs) + sum(
            b.nbytes for _, b in self._taken)


def _pad4(x4: np.ndarray, lo: int, hi: int, value: float = 0.0,
          scratch: Scratch | None = None) -> np.ndarray:
    """Pad the two spatial axes of a (C, H, W, N) array by lo before and hi after."""
    if lo == 0 and hi == 0:
        return x4
    c, h, w, n = x4.shape
    shape = (c, h + lo + hi, w + lo + hi, n)
    if scratch is None:
        out = np.full(shape, value, dtype=x4.dtype)
    else:
        out = scratch.take(shape, x4.dtype)
        out.fill(value)
    out[:, lo:lo + h, lo:lo + w, :] = x4
    return out


def _channel_block(per_channel_bytes: int, channels: int) -> int:
    """Channels per block so that one block of the array being accumulated stays in a
    core's cache (about 256 KB) while every tap is added to it. Blocking over channels
    leaves each element's sequence of additions, hence its value, unchanged."""
    return max(1, min(channels, (256 * 1024) // max(1, per_channel_bytes)))


def _conv_pad(img_size: int, filter_size: int, padding: int, stride: int, mx: int):
    """(lo, hi) zero padding covering every tap, the ceil rule's extra right/bottom rows."""
    need = (mx - 1) * stride + filter_size
    hi = max(0, need - img_size - padding)
    return padding, hi


# --------------------------------------------------------------------------------------
# Convolution and locally connected filtering (convFilterActs / ImgActs / WeightActs)


def im2col(
    images: np.ndarray, channels: int, img_size: int, filter_size: int, padding: int,
    stride: int, mx: int, channel_range: tuple[int, int] | None = None,
    scratch: Scratch | None = None,
) -> np.ndarray:
    """Patches of ``images`` (C*H*W, N) as a ``(C'*S*S, MY*MX*N)`` matrix.

    Row order (c', u, v) matches the filter rows; column order (my, mx, n) matches the
    output rows of one filter, so one GEMM gives the output in the 2012 layout. With a
    ``scratch``, the matrix (and the padded copy it is read from) are its buffers.
    """
    n = images.shape[1]
    x4 = images.reshape(channels, img_size, img_size, n)
    if channel_range is not None:
        x4 = x4[channel_range[0]:channel_range[1]]
    lo, hi = _conv_pad(img_size, filter_size, padding, stride, mx)
    xp = np.ascontiguousarray(_pad4(x4, lo, hi, scratch=scratch))
    c = xp.shape[0]
    s0, s1, s2, s3 = xp.strides
    shape6 = (c, filter_size, filter_size, mx, mx, n)
    view = as_strided(xp, shape=shape6, strides=(s0, s1, s2, s1 * stride, s2 * stride, s3),
                      writeable=False)
    rows, cols = c * filter_size * filter_size, mx * mx * n
    if scratch is None:
        return view.reshape(rows, cols)
    out = scratch.take((rows, cols), xp.dtype)
    np.copyto(out.reshape(shape6), view)
    return out


def col2im(
    cols: np.ndarray, channels: int, img_size: int, filter_size: int, padding: int,
    stride: int, mx: int, n: int, scratch: Scratch | None = None,
) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add patch gradients into a (C, H, W, N) array.

    Taps that fell on padding are dropped, which is what convImgActs does by never
    producing padded positions (docs/reference/kernels.md#kernels-img-acts). The taps
    are added in (u, v) order to every element, a block of channels at a time (see
    :func:`_channel_block`); the result is a view into the padded accumulator.
    """
    lo, hi = _conv_pad(img_size, filter_size, padding, stride, mx)
    size_p = img_size + lo + hi
    shape = (channels, size_p, size_p, n)
    out = np.zeros(shape, cols.dtype) if scratch is None else scratch.zeros(shape, cols.dtype)
    c6 = cols.reshape(channels, filter_size, filter_size, mx, mx, n)
    span = stride * (mx - 1) + 1
    step = _channel_block(size_p * size_p * n * cols.itemsize, channels)
    for c0 in range(0, channels, step):
        blk, src = out[c0:c0 + step], c6[c0:c0 + step]
        for u in range(filter_size):
            for v in range(filter_size):
                blk[:, u:u + span:stride, v:v + span:stride, :] += src[:, u, v]
    return out[:, lo:lo + img_size, lo:lo + img_size, :]


class ConvGeom:
    """The geometry of one input of a conv/local layer (one entry of the per-input lists)."""

    __slots__ = ("channels", "img_size", "filter_size", "padding", "stride", "mx", "groups",
                 "filters", "local", "partial_sum")

    def __init__(self, channels: int, img_size: int, filter_size: int, padding: int,
                 stride: int, mx: int, groups: int, filters: int, local: bool,
                 partial_sum: int = 0):
        self.channels, self.img_size, self.filter_size = channels, img_size, filter_size
        self.padding, self.stride, self.mx = padding, stride, mx
        self.groups, self.filters, self.local = groups, filters, local
        self.partial_sum = partial_sum

    @classmethod
    def from_dict(cls, d: dict, i: int) -> ConvGeom:
        """Geometry of input ``i`` of a parsed conv/local layer dict (padding positive)."""
        return cls(d["channels"][i], d["imgSize"][i], d["filterSize"][i], abs(d["padding"][i]),
                   d["stride"][i], d["modulesX"], d["groups"][i], d["filters"],
                   d["type"] == "local", d.get("partialSum", 0))

    @property
    def modules(self) -> int:
        return self.mx * self.mx

    @property
    def group_channels(self) -> int:
        return self.channels // self.groups

    @property
    def group_filters(self) -> int:
        return self.filters // self.groups

    @property
    def k(self) -> int:
        return self.group_channels * self.filter_size ** 2


def patches(images: np.ndarray, g: ConvGeom, scratch: Scratch | None = None
            ) -> list[np.ndarray]:
    """One im2col matrix per group (what a layer may keep for its weight gradient)."""
    cg = g.group_channels
    return [
        im2col(images, g.channels, g.img_size, g.filter_size, g.padding, g.stride, g.mx,
               None if g.groups == 1 else (k * cg, (k + 1) * cg), scratch)
        for k in range(g.groups)
    ]


def filter_acts(
    images: np.ndarray, filters: np.ndarray, g: ConvGeom, cols: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Forward conv (shared filters) or local (per-module filters): ``(F*M, N)``.

    A cross-correlation (no filter flip), summed over the group's channels only.
    """
    n = images.shape[1]
    if cols is None:
        cols = patches(images, g)
    m, fg, k = g.modules, g.group_filters, g.k
    out = np.empty((g.filters, m * n), dtype=images.dtype)
    for grp, pc in enumerate(cols):
        fs = slice(grp * fg, (grp + 1) * fg)
        if not g.local:
            np.matmul(filters[:, fs].T, pc, out=out[fs])
        else:
            w = filters[:, fs].reshape(m, k, fg).transpose(0, 2, 1)      # (M, Fg, K)
            p = pc.reshape(k, m, n).transpose(1, 0, 2)                      # (M, K, N)
            out[fs] = np.matmul(w, p).transpose(1, 0, 2).reshape(fg, m * n)
    return out.reshape(g.filters * m, n)


def img_acts(hid: np.ndarray, filters: np.ndarray, g: ConvGeom,
             scratch: Scratch | None = None) -> np.ndarray:
    """Gradient with respect to the input images: ``(C*H*W, N)`` (convImgActs)."""
    n = hid.shape[1]
    m, fg, k, cg = g.modules, g.group_filters, g.k, g.group_channels
    h3 = hid.reshape(g.filters, m * n)
    out = np.empty((g.channels, g.img_size, g.img_size, n), dtype=hid.dtype)
    for grp in range(g.groups):
        fs = slice(grp * fg, (grp + 1) * fg)
        if not g.local:
            dcols = np.matmul(filters[:, fs], h3[fs],                       # (K, M*N)
                              out=None if scratch is None else scratch.take(
                                  (k, m * n), np.result_type(filters, hid)))
        else:
            w = filters[:, fs].reshape(m, k, fg)                            # (M, K, Fg)
            hh = h3[fs].reshape(fg, m, n).transpose(1, 0, 2)                # (M, Fg, N)
            dcols = np.matmul(w, hh).transpose(1, 0, 2).reshape(k, m * n)
        out[grp * cg:(grp + 1) * cg] = col2im(dcols, cg, g.img_size, g.filter_size, g.padding,
                                              g.stride, g.mx, n, scratch)
    return out.reshape(-1, n)


def weight_acts(
    images: np.ndarray, hid: np.ndarray, g: ConvGeom, cols: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Sum over the minibatch (and modules, for conv) of patch x output gradient.

    Returns the filter-shaped matrix, ``(C'*S*S, F)`` or ``(M*C'*S*S, F)``; unscaled
    (2012 passed scaleOutput = 1/numCases; the update applies it here). 2012 summed conv
    gradients in chunks of ``partialSum`` modules and added the chunks afterwards; that
    changes only the order of the float additions, so one GEMM over all modules stands
    in for it here (the cuda-convnet backend keeps the chunks).
    """
    n = images.shape[1]
    if cols is None:
        cols = patches(images, g)
    m, fg, k = g.modules, g.group_filters, g.k
    h3 = hid.reshape(g.filters, m * n)
    rows = k if not g.local else m * k
    out = np.empty((rows, g.filters), dtype=hid.dtype)
    for grp, pc in enumerate(cols):
        fs = slice(grp * fg, (grp + 1) * fg)
        if not g.local:
            out[:, fs] = pc @ h3[fs].T
        else:
            p = pc.reshape(k, m, n).transpose(1, 0, 2)                      # (M, K, N)
            hh = h3[fs].reshape(fg, m, n).transpose(1, 2, 0)                # (M, N, Fg)
            out[:, fs] = np.matmul(p, hh).reshape(m * k, fg)
    return out


def add_biases(acts: np.ndarray, biases: np.ndarray, filters: int, shared: bool) -> None:
    """In place: shared biases per filter map, unshared per (filter, module) row."""
    n = acts.shape[1]
    if shared:
        a = acts.reshape(filters, -1)
        a += biases.reshape(filters, 1)
        return
    acts += biases.reshape(-1, 1)
    del n


def bias_grad(grad: np.ndarray, filters: int, shared: bool) -> np.ndarray:
    """Sum of the output gradient per bias, shaped like the conv/local bias column."""
    if shared:
        return grad.reshape(filters, -1).sum(axis=1).reshape(filters, 1)
    return grad.sum(axis=1).reshape(-1, 1)


# --------------------------------------------------------------------------------------
# Fully connected layers (weights (numIn, numOut), Fortran order)


def fc_forward(inputs: list[np.ndarray], weights: list[np.ndarray], biases: np.ndarray):
    """``sum_i W_i^T x_i + b``; W_i is (numIn_i, numOut), x_i (numIn_i, N)."""
    out = weights[0].T @ inputs[0]
    for w, x in zip(weights[1:], inputs[1:], strict=True):
        out += w.T @ x
    out += biases.reshape(-1, 1)
    return out


# --------------------------------------------------------------------------------------
# Pooling (convLocalPool, convLocalMaxUndo, convLocalAvgUndo)


def _window_counts(img_size: int, start: int, size: int, stride: int, ox: int) -> np.ndarray:
    o = np.arange(ox)
    first = start + o * stride
    return np.minimum(img_size, first + size) - np.maximum(0, first)


def pool_forward(
    x: np.ndarray, channels: int, img_size: int, size: int, start: int, stride: int, ox: int,
    kind: str,
) -> np.ndarray:
    """Max / average / max-abs pooling over windows clipped at the image edge."""
    n = x.shape[1]
    x4 = x.reshape(channels, img_size, img_size, n)
    lo, hi = pool_padding(img_size, size=size, stride=stride, start=start, outputs=ox)
    fill = -np.inf if kind == "max" else 0.0
    xp = _pad4(x4, lo, hi, fill)
    off = start + lo
    span = stride * (ox - 1) + 1
    out = None
    for dy in range(size):
        for dx in range(size):
            sl = xp[:, off + dy:off + dy + span:stride, off + dx:off + dx + span:stride, :]
            if out is None:
                out = sl.copy()
            elif kind == "max":
                np.maximum(out, sl, out=out)
            elif kind == "avg":
                out += sl
            elif kind == "maxabs":
                # the newly visited pixel wins on equal magnitude (MaxAbsPooler)
                take = np.abs(sl) >= np.abs(out)
                out[take] = sl[take]
            else:
                raise ValueError(f"unknown pooling {kind!r}")
    if kind == "avg":
        cnt = _window_counts(img_size, start, size, stride, ox).astype(x.dtype)
        out /= (cnt[:, None] * cnt[None, :])[None, :, :, None]
    return out.reshape(channels * ox * ox, n)


def pool_backward(
    x: np.ndarray, out: np.ndarray, grad: np.ndarray, channels: int, img_size: int, size: int,
    start: int, stride: int, ox: int, kind: str,
) -> np.ndarray:
    """Max: every input equal to its window's max gets that window's gradient (ties all
    do). Average: each window's gradient divided by its in-image pixel count."""
    n = grad.shape[1]
    lo, hi = pool_padding(img_size, size=size, stride=stride, start=start, outputs=ox)
    off = start + lo
    span = stride * (ox - 1) + 1
    size_p = img_size + lo + hi
    g4 = grad.reshape(channels, ox, ox, n)
    dxp = np.zeros((channels, size_p, size_p, n), dtype=grad.dtype)
    if kind == "avg":
        cnt = _window_counts(img_size, start, size, stride, ox).astype(grad.dtype)
        g4 = g4 / (cnt[:, None] * cnt[None, :])[None, :, :, None]
        for dy in range(size):
            for dx in range(size):
                dxp[:, off + dy:off + dy + span:stride, off + dx:off + dx + span:stride, :] += g4
    elif kind == "max":
        xp = _pad4(x.reshape(channels, img_size, img_size, n), lo, hi, -np.inf)
        o4 = out.reshape(channels, ox, ox, n)
        # a block of channels at a time, all windows (see _channel_block); each window
        # adds its gradient times [input == the window's max] (+0 or -0 elsewhere, which
        # leaves every sum as it was; a non-finite gradient poisons its whole window)
        step = _channel_block(size_p * size_p * n * grad.itemsize, channels)
        mask = np.empty((min(step, channels), ox, ox, n), dtype=bool)
        part = np.empty(mask.shape, dtype=grad.dtype)
        for c0 in range(0, channels, step):
            cs = slice(c0, c0 + step)
            dblk, xblk, oblk, gblk = dxp[cs], xp[cs], o4[cs], g4[cs]
            m, t = mask[:dblk.shape[0]], part[:dblk.shape[0]]
            for dy in range(size):
                for dx in range(size):
                    ys = slice(off + dy, off + dy + span, stride)
                    xs = slice(off + dx, off + dx + span, stride)
                    np.equal(xblk[:, ys, xs, :], oblk, out=m)
                    np.multiply(gblk, m, out=t)
                    dblk[:, ys, xs, :] += t
    else:
        raise ValueError(f"no backward for pooling {kind!r}")
    return np.ascontiguousarray(dxp[:, lo:lo + img_size, lo:lo + img_size, :]).reshape(-1, n)


# --------------------------------------------------------------------------------------
# Normalisation


def _channel_window_sum(sq: np.ndarray, size: int, blocked: bool, transpose: bool) -> np.ndarray:
    """Sum over the channel window of each channel (axis 0).

    Forward window [c - size//2, c - size//2 + size); ``transpose`` gives the set of
    channels whose window contains c (for the backward pass); blocked windows are fixed
    blocks of ``size`` channels and are their own transpose.
    """
    c = sq.shape[0]
    if blocked:
        starts = np.arange(0, c, size)
        sums = np.add.reduceat(sq, starts, axis=0)
        return np.repeat(sums, np.diff(np.append(starts, c)), axis=0)
    before = size // 2 if not transpose else size - 1 - size // 2
    after = size - 1 - before
    pad = np.zeros((before + c + after,) + sq.shape[1:], dtype=sq.dtype)
    pad[before:before + c] = sq
    out = pad[0:c].copy()
    for k in range(1, size):
        out += pad[k:k + c]
    return out


def _spatial_window_sum(s4: np.ndarray, size: int, transpose: bool) -> np.ndarray:
    """Sum over a size x size window (clipped at the border) of a (C, H, W, N) array."""
    before = size // 2 if not transpose else size - 1 - size // 2
    after = size - 1 - before
    c, h, w, n = s4.shape
    pad = np.zeros((c, h + before + after, w, n), dtype=s4.dtype)
    pad[:, before:before + h] = s4
    rows = pad[:, 0:h].copy()
    for k in range(1, size):
        rows += pad[:, k:k + h]
    pad = np.zeros((c, h, w + before + after, n), dtype=s4.dtype)
    pad[:, :, before:before + w] = rows
    out = pad[:, :, 0:w].copy()
    for k in range(1, size):
        out += pad[:, :, k:k + w]
    return out


def cmrnorm_forward(
    x: np.ndarray, channels: int, size: int, scale: float, pow_: float, min_div: float,
    blocked: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-map response norm: x * (minDiv + scale * sum of x^2 over the channel window)^-pow.

    ``scale`` is the layer dict's value, already divided by ``size`` (layer.py L1183).
    Returns (output, denoms).
    """
    x2 = x.reshape(channels, -1)
    d = _channel_window_sum(x2 * x2, size, blocked, transpose=False)
    d *= x.dtype.type(scale)
    d += x.dtype.type(min_div)
    out = x2 * np.power(d, x.dtype.type(-pow_))
    return out.reshape(x.shape), d.reshape(x.shape)


def cmrnorm_backward(
    grad: np.ndarray, x: np.ndarray, out: np.ndarray, denoms: np.ndarray, channels: int,
    size: int, scale: float, pow_: float, blocked: bool = False,
) -> np.ndarray:
    """Exact gradient of :func:`cmrnorm_forward` (the kFRNormUndo two-step form)."""
    t = x.dtype.type
    a = (t(-2.0 * scale * pow_) * grad * out / denoms).reshape(channels, -1)
    back = _channel_window_sum(a, size, blocked, transpose=True).reshape(x.shape)
    return x * back + grad * np.power(denoms, t(-pow_))


def rnorm_forward(
    x: np.ndarray, channels: int, img_size: int, size: int, scale: float, pow_: float,
    mean_diffs: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Within-map norm: x * (1 + scale * sum of m^2 over the size x size window)^-pow.

    m = x for ``rnorm``; for ``cnorm`` pass ``mean_diffs`` = x minus its local mean.
    ``scale`` is already divided by size^2. Returns (output, denoms).
    """
    n = x.shape[1]
    m = x if mean_diffs is None else mean_diffs
    m4 = m.reshape(channels, img_size, img_size, n)
    d = _spatial_window_sum(m4 * m4, size, transpose=False)
    d *= x.dtype.type(scale)
    d += x.dtype.type(1.0)
    d = d.reshape(x.shape)
    return x * np.power(d, x.dtype.type(-pow_)), d


def rnorm_backward(
    grad: np.ndarray, inputs: np.ndarray, out: np.ndarray, denoms: np.ndarray, channels: int,
    img_size: int, size: int, scale: float, pow_: float,
) -> np.ndarray:
    """Gradient of :func:`rnorm_forward`; ``inputs`` = x (exact for rnorm) or meanDiffs
    (cnorm: the local mean is held constant, as 2012 did)."""
    n = grad.shape[1]
    t = grad.dtype.type
    a = t(-2.0 * scale * pow_) * grad * out / denoms
    back = _spatial_window_sum(a.reshape(channels, img_size, img_size, n), size, transpose=True)
    return inputs * back.reshape(grad.shape) + grad * np.power(denoms, t(-pow_))


def local_mean(x: np.ndarray, channels: int, img_size: int, size: int) -> np.ndarray:
    """The contrast-norm mean: average over the clipped size x size window (an avg pool
    with start -size//2, stride 1; 2012 ``src/layer.cu`` L1605-L1612)."""
    return pool_forward(x, channels, img_size, size, -(size // 2), 1, img_size, "avg")


# --------------------------------------------------------------------------------------
# Blur and bed of nails (the low-resolution side path of the summer-2012 nets)


def blur_pass(x: np.ndarray, channels: int, img_size: int, taps: np.ndarray,
              horizontal: bool) -> np.ndarray:
    """One separable pass: out[p] = sum_k in[p - r + k] * f[k], zero outside the image."""
    n = x.shape[1]
    x4 = x.reshape(channels, img_size, img_size, n)
    r = len(taps) // 2
    axis = 2 if horizontal else 1
    pad_width = [(0, 0)] * 4
    pad_width[axis] = (r, r)
    xp = np.pad(x4, pad_width)
    out = np.zeros_like(x4)
    for k, f in enumerate(taps):
        sl = [slice(None)] * 4
        sl[axis] = slice(k, k + img_size)
        out += x.dtype.type(f) * xp[tuple(sl)]
    return out.reshape(x.shape)


def blur(x: np.ndarray, channels: int, img_size: int, taps) -> np.ndarray:
    """Horizontal then vertical pass (GaussianBlurLayer); the backward is the same two
    passes on the gradient, which is exact because the filter is symmetric."""
    f = np.asarray(taps, dtype=x.dtype)
    return blur_pass(blur_pass(x, channels, img_size, f, True), channels, img_size, f, False)


def nailbed_forward(x: np.ndarray, channels: int, img_size: int, start: int, stride: int,
                    ox: int) -> np.ndarray:
    """Keep every stride-th pixel from ``start`` in both axes."""
    n = x.shape[1]
    x4 = x.reshape(channels, img_size, img_size, n)
    sl = slice(start, start + stride * (ox - 1) + 1, stride)
    return np.ascontiguousarray(x4[:, sl, sl, :]).reshape(-1, n)


def nailbed_backward(grad: np.ndarray, channels: int, img_size: int, start: int, stride: int,
                     ox: int) -> np.ndarray:
    n = grad.shape[1]
    out = np.zeros((channels, img_size, img_size, n), dtype=grad.dtype)
    sl = slice(start, start + stride * (ox - 1) + 1, stride)
    out[:, sl, sl, :] = grad.reshape(channels, ox, ox, n)
    return out.reshape(-1, n)


# --------------------------------------------------------------------------------------
# Neurons (include/neuron.cuh): forward, and backward from (grad, input, output)


def neuron_forward(kind: str, params: dict, x: np.ndarray) -> np.ndarray:
    t = x.dtype.type
    if kind == "ident":
        return x.copy()
    if kind == "relu":
        return np.maximum(x, t(0))
    if kind == "logistic":
        return t(1) / (t(1) + np.exp(-x))
    if kind == "tanh":
        a, b = t(params["a"]), t(params["b"])
        return a * np.tanh(b * x)
    if kind == "brelu":
        return np.minimum(np.maximum(x, t(0)), t(params["a"]))
    if kind == "abs":
        return np.abs(x)
    if kind == "square":
        return x * x
    if kind == "sqrt":
        return np.sqrt(x)
    if kind == "linear":
        return t(params["a"]) * x + t(params["b"])
    if kind == "softrelu":
        return np.where(x > 4, x, np.log1p(np.exp(np.minimum(x, t(4)))))
    if kind == "drelu":
        a = t(params["a"])
        return x - a * np.tanh(x / a)
    raise ValueError(f"neuron {kind!r} is not implemented by this engine")


def neuron_backward(kind: str, params: dict, grad: np.ndarray, x: np.ndarray,
                    y: np.ndarray) -> np.ndarray:
    t = grad.dtype.type
    if kind == "ident":
        return grad.copy()
    if kind == "relu":
        # taken where the OUTPUT is positive, strictly (include/neuron.cuh L167-L172)
        return np.where(y > 0, grad, t(0))
    if kind == "logistic":
        return grad * y * (t(1) - y)
    if kind == "tanh":
        a, b = t(params["a"]), t(params["b"])
        return grad * b * (a - y * y / a)
    if kind == "brelu":
        return np.where((y > 0) & (y < t(params["a"])), grad, t(0))
    if kind == "abs":
        return grad * np.where(x > 0, t(1), t(-1))
    if kind == "square":
        return t(2) * grad * x
    if kind == "sqrt":
        return grad / (t(2) * y)
    if kind == "linear":
        return t(params["a"]) * grad
    if kind == "softrelu":
        e = np.exp(np.minimum(x, t(4)))
        return grad * np.where(x > 4, t(1), e / (t(1) + e))
    if kind == "drelu":
        th = np.tanh(x / t(params["a"]))
        return grad * th * th
    raise ValueError(f"neuron {kind!r} is not implemented by this engine")


# --------------------------------------------------------------------------------------
# Softmax, logistic-regression cost, dropout


def softmax(x: np.ndarray) -> np.ndarray:
    """Per case (column): subtract the max, exponentiate, divide by the sum."""
    e = np.exp(x - x.max(axis=0, keepdims=True))
    e /= e.sum(axis=0, keepdims=True)
    return e


def softmax_backward(grad: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dx_i = y_i * (g_i - sum_j g_j y_j): the generic Jacobian product (kSoftmaxGrad)."""
    return y * (grad - (grad * y).sum(axis=0, keepdims=True))


def logreg_cost(labels: np.ndarray, probs: np.ndarray, topk: int = 1) -> dict[str, np.ndarray]:
    """Per-case log p(true), top-1 credit and top-k credit, 2012 style.

    Top-1 credit is 1/(number of classes tied at the max) when the true class is a max,
    else 0 (kLogregCost); top-k gives fractional credit for ties at the boundary: with
    B classes strictly above p(true) and E classes equal to it, credit is 0 if k <= B,
    1 if E <= k - B, else (k - B)/E (kMultiSoftmaxCost).
    """
    lab = labels.reshape(-1).astype(np.int64)
    n = lab.shape[0]
    cols = np.arange(n)
    p_true = probs[lab, cols]
    pmax = probs.max(axis=0)
    with np.errstate(divide="ignore"):
        logp = np.log(p_true)
    ties_at_max = (probs == pmax).sum(axis=0)
    top1 = np.where(p_true == pmax, 1.0 / ties_at_max, 0.0)
    if topk == 1:
        topk_credit = top1
    else:
        above = (probs > p_true).sum(axis=0)
        equal = (probs == p_true).sum(axis=0)
        slots = topk - above
        topk_credit = np.where(slots <= 0, 0.0, np.where(equal <= slots, 1.0,
                                                         slots / np.maximum(equal, 1)))
    return {"logp": logp, "top1": top1, "topk": topk_credit}


def logreg_cost_vector(labels: np.ndarray, probs: np.ndarray, topk: int) -> list[float]:
    """The three numbers a logreg layer reports per minibatch (summed, not averaged):
    [-sum log p(true), cases - sum top-1 credit, cases - sum top-k credit]."""
    c = logreg_cost(labels, probs, topk)
    n = probs.shape[1]
    return [float(-c["logp"].sum(dtype=np.float64)), float(n - c["top1"].sum()),
            float(n - c["topk"].sum())]


def onehot(labels: np.ndarray, classes: int, dtype) -> np.ndarray:
    lab = labels.reshape(-1).astype(np.int64)
    out = np.zeros((classes, lab.shape[0]), dtype=dtype)
    out[lab, np.arange(lab.shape[0])] = 1
    return out


def logreg_softmax_grad(labels: np.ndarray, probs: np.ndarray, coeff: float) -> np.ndarray:
    """Fused softmax + logreg: coeff * (onehot - p), the NEGATIVE gradient (kLogregSoftmaxGrad)."""
    t = probs.dtype.type
    return t(coeff) * (onehot(labels, probs.shape[0], probs.dtype) - probs)


def logreg_grad(labels: np.ndarray, probs: np.ndarray, coeff: float) -> np.ndarray:
    """Unfused: coeff * [i = label] / p_i into the softmax output (kLogregCostGrad)."""
    t = probs.dtype.type
    return t(coeff) * onehot(labels, probs.shape[0], probs.dtype) / probs


def dropout_mask(shape: tuple[int, ...], keep: float, rng: np.random.Generator,
                 dtype=np.float32) -> np.ndarray:
    """mask = [u < keep]; 2012 multiplied by the mask without rescaling by 1/keep."""
    return (rng.random(shape, dtype=np.float32) < np.float32(keep)).astype(dtype)
