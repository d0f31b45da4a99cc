"""The layer operations of the 2012 networks, as PyTorch functions and modules.

Each operation reproduces the arithmetic of the cuda-convnet layer of the same name
(``docs/reference/kernels.md``; ``docs/reference/recreation.md#recreation-numerics``), written for
NCHW tensors. Where PyTorch already has the exact operation we call it; where it does
not (output-size rule of conv, the same-map normalisations, 2012 dropout, a few neuron
gradients) or where the eager composition is slow (cross-map LRN), the operation is a
small custom autograd function whose backward is the 2012 formula.

Why not ``torch.nn.LocalResponseNorm``: it computes the right values (same window, same
``alpha / n``), but as six autograd nodes, each allocating a full activation-sized
tensor; in the AlexNet2012 training step it took about 38% of the time on a CPU. The
fused version below needs one matrix product for the channel window in each direction
and a handful of element-wise passes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alexnet.errors import ConfigError
from alexnet.geometry import conv_extra_padding, pool_output_size, pool_padding

__all__ = [
    "conv2d_2012",
    "Conv2012",
    "LocalUnshared2012",
    "cross_map_lrn",
    "CrossMapLRN",
    "response_norm",
    "ResponseNorm",
    "ContrastNorm",
    "pool2012",
    "Pool2012",
    "dropout2012",
    "Dropout2012",
    "gaussian_taps",
    "GaussianBlur",
    "Nailbed",
    "HorizontalReflection",
    "NEURON_TYPES",
    "Neuron",
]


# --------------------------------------------------------------------------------------
# Convolution with the 2012 output-size rule
# --------------------------------------------------------------------------------------


def _pad_for_conv(x: Tensor, filter_size: int, padding: int, stride: int) -> tuple[Tensor, int]:
    """Returns (input, padding left for conv2d): pads one-sidedly only when the ceil rule
    needs it, so the common case costs no copy. The 2012 parser rounds the output size
    UP (:func:`alexnet.geometry.conv_output_size`) where PyTorch rounds down, so the last
    position may overhang the symmetric padding; the kernel read the overhang as zeros."""
    extra_y = conv_extra_padding(x.shape[-2], filter_size=filter_size, stride=stride,
                                 padding=padding)
    extra_x = conv_extra_padding(x.shape[-1], filter_size=filter_size, stride=stride,
                                 padding=padding)
    if extra_x == 0 and extra_y == 0:
        return x, padding
    p = padding
    return F.pad(x, (p, p + extra_x, p, p + extra_y)), 0


def conv2d_2012(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> Tensor:
    """Cross-correlation with cuda-convnet's ceil output rule
    (docs/reference/kernels.md#kernels-torch-conv).

    ``bias`` may be per filter ``(F,)`` (shared biases) or per output position
    ``(F, MY, MX)`` (``sharedBiases=0``).
    """
    xp, p = _pad_for_conv(x, weight.shape[-1], padding, stride)
    if bias is not None and bias.dim() == 1:
        return F.conv2d(xp, weight, bias, stride=stride, padding=p, groups=groups)
    y = F.conv2d(xp, weight, None, stride=stride, padding=p, groups=groups)
    return y if bias is None else y + bias


class Conv2012(nn.Module):
    """A convolution (cfg ``type=conv``) over one input, towers expressed as ``groups``.

    Parameters are kept in PyTorch layout ``(F, C/groups, S, S)``; the 2012 matrix is its
    transpose (``alexnet.layouts2012``).
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        filter_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.stride, self.padding, self.groups = stride, padding, groups
        self.weight = nn.Parameter(
            torch.empty(filters, in_channels // groups, filter_size, filter_size)
        )
        self.bias = nn.Parameter(torch.zeros(filters)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return conv2d_2012(
            x, self.weight, self.bias, stride=self.stride, padding=self.padding,
            groups=self.groups,
        )

    def extra_repr(self) -> str:
        f, c, s, _ = self.weight.shape
        return (f"{c * self.groups}, {f}, size={s}, stride={self.stride}, "
                f"padding={self.padding} (+ceil rule), groups={self.groups}")


def local_unshared(
    x: Tensor, weight: Tensor, *, filter_size: int, stride: int, padding: int, groups: int,
    modules_x: int,
) -> Tensor:
    """Locally connected layer (cfg ``type=local``): one filter bank per output position.

    ``weight`` has shape ``(M, C/groups * S * S, F)``, M = modules_x², which is the 2012
    matrix ``(M * C' * S * S, F)`` reshaped without moving data. ``F.unfold`` orders patch
    features (channel, row, column) like cuda-convnet
    (docs/reference/kernels.md#kernels-torch-local).
    """
    n = x.shape[0]
    xp, p = _pad_for_conv(x, filter_size, padding, stride)
    patches = F.unfold(xp, filter_size, padding=p, stride=stride)  # (N, C*S*S, M)
    m, k, f = weight.shape
    patches = patches.view(n, groups, k, m)
    w = weight.view(m, k, groups, f // groups)
    out = torch.einsum("ngkm,mkgf->ngfm", patches, w)
    return out.reshape(n, f, modules_x, modules_x)


class LocalUnshared2012(nn.Module):
    """cfg ``type=local``: unshared weights and unshared biases ``(F, MY, MX)``."""

    def __init__(
        self, in_channels: int, filters: int, filter_size: int, *, stride: int, padding: int,
        groups: int, modules_x: int,
    ) -> None:
        super().__init__()
        self.filter_size, self.stride, self.padding = filter_size, stride, padding
        self.groups, self.modules_x = groups, modules_x
        k = in_channels // groups * filter_size * filter_size
        self.weight = nn.Parameter(torch.empty(modules_x * modules_x, k, filters))
        self.bias = nn.Parameter(torch.zeros(filters, modules_x, modules_x))

    def forward(self, x: Tensor) -> Tensor:
        y = local_unshared(
            x, self.weight, filter_size=self.filter_size, stride=self.stride,
            padding=self.padding, groups=self.groups, modules_x=self.modules_x,
        )
        return y + self.bias


# --------------------------------------------------------------------------------------
# Cross-map response normalisation (cmrnorm, the paper's LRN), fused
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _channel_window_matrix(
    channels: int, size: int, blocked: bool, dtype: torch.dtype, device: str
) -> Tensor:
    """0/1 matrix B with B[j, c] = 1 when channel j is in the window of channel c.

    Window of c: [c - size//2, c - size//2 + size) clipped to the channels (non-blocked),
    or the block of ``size`` channels that holds c (blocked), as in
    docs/reference/kernels.md#kernels-lrn.
    The channel-window sum of a (rows = positions, cols = channels) matrix A is A @ B and
    its adjoint is A @ B.T, so one GEMM serves each direction, for any size.
    """
    c = torch.arange(channels)
    j = c[:, None]
    if blocked:
        start = (c // size) * size
    else:
        start = c - size // 2
    return ((j >= start) & (j < start + size)).to(dtype=dtype, device=device)


def _window_matmul(t: Tensor, groups: int, b: Tensor, add: float | None = None) -> Tensor:
    """Sum over the channel window (t @ b per position and tower) for NCHW or channels-last
    tensors; with ``add`` the constant is added inside the GEMM (channels-last)."""
    n, c, h, w = t.shape
    cg = c // groups
    if t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        rows = t.permute(0, 2, 3, 1).reshape(-1, cg)
        if add is None:
            out = rows @ b
        else:
            out = torch.addmm(torch.full((cg,), add, dtype=t.dtype, device=t.device), rows, b)
        return out.view(n, h, w, c).permute(0, 3, 1, 2)
    v = t.contiguous().view(n * groups, cg, h * w)
    out = torch.matmul(b.t(), v).view(n, c, h, w)
    return out if add is None else out.add_(add)


def _neg_pow(d: Tensor, beta: float) -> Tensor:
    """d ** -beta; beta 0.75 (every 2012 net) via rsqrt and sqrt, about 3x faster than pow."""
    if beta == 0.75:
        p = torch.rsqrt(d)
        return p.mul_(torch.sqrt(p))
    if beta == 0.5:
        return torch.rsqrt(d)
    if beta == 1.0:
        return torch.reciprocal(d)
    return d.pow(-beta)


class _CrossMapLRNFunction(torch.autograd.Function):
    """y = x * (k + alpha/size * window_sum(x²)) ** -beta over channels, per tower.

    Backward (the 2012 formula, docs/reference/kernels.md#kernels-lrn, exact for any window):
    gx = g * d^-beta - 2 * beta * alpha/size * x * window_sumᵀ(g * x * d^-beta / d).
    """

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k, groups, blocked):  # type: ignore[override]
        cg = x.shape[1] // groups
        b = _channel_window_matrix(cg, size, blocked, x.dtype, str(x.device))
        d = _window_matmul(x * x, groups, b * (alpha / size), add=k)
        p = _neg_pow(d, beta)
        ctx.save_for_backward(x, d, p)
        ctx.cfg = (size, alpha, beta, groups, blocked)
        return x * p

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, d, p = ctx.saved_tensors
        size, alpha, beta, groups, blocked = ctx.cfg
        cg = x.shape[1] // groups
        b = _channel_window_matrix(cg, size, blocked, x.dtype, str(x.device))
        q = g * p
        t = q * x
        t.div_(d)
        s = _window_matmul(t, groups, b.t())
        gx = torch.addcmul(q, x, s, value=-2.0 * beta * alpha / size)
        return gx, None, None, None, None, None, None


def cross_map_lrn(
    x: Tensor,
    size: int,
    alpha: float,
    beta: float,
    k: float,
    *,
    groups: int = 1,
    blocked: bool = False,
) -> Tensor:
    """Cross-map LRN, numerically ``F.local_response_norm(x, size, alpha, beta, k)`` per tower.

    ``alpha`` is divided by ``size`` inside, as PyTorch does and as the 2012 parser does
    to the cfg's ``scale`` (docs/reference/kernels.md#kernels-lrn). ``groups`` splits the channels
    into towers whose windows never cross (the two GPUs of 2012: rnorm1a sees only
    conv1a's 48 maps). ``blocked`` is the 2012 blocked window (no PyTorch equivalent).
    """
    if x.shape[1] % groups:
        raise ValueError(f"{x.shape[1]} channels do not split into {groups} towers")
    return _CrossMapLRNFunction.apply(x, size, alpha, beta, k, groups, blocked)


class CrossMapLRN(nn.Module):
    """cfg ``type=cmrnorm``; ``alpha`` = the cfg ``scale`` (divided by size inside)."""

    def __init__(
        self, size: int, alpha: float, beta: float, k: float = 1.0, *, groups: int = 1,
        blocked: bool = False,
    ) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self.groups, self.blocked = groups, blocked

    def forward(self, x: Tensor) -> Tensor:
        return cross_map_lrn(
            x, self.size, self.alpha, self.beta, self.k, groups=self.groups, blocked=self.blocked
        )

    def extra_repr(self) -> str:
        return (f"size={self.size}, alpha={self.alpha} (/size), beta={self.beta}, k={self.k}, "
                f"groups={self.groups}" + (", blocked" if self.blocked else ""))


# --------------------------------------------------------------------------------------
# Same-map response normalisation (rnorm) and contrast normalisation (cnorm)
# --------------------------------------------------------------------------------------


def _box_mean(t: Tensor, size: int, transpose: bool = False) -> Tensor:
    """Zero-padded box sum over a size x size window divided by size² (the full area).

    The 2012 window of pixel y is [y - size//2, y - size//2 + size); its adjoint (used in
    backward) is the mirror window, which differs only for even sizes.
    """
    lo = size // 2
    hi = size - 1 - lo
    if lo == hi:
        return F.avg_pool2d(t, size, 1, padding=lo, count_include_pad=True)
    if transpose:
        lo, hi = hi, lo
    return F.avg_pool2d(F.pad(t, (lo, hi, lo, hi)), size, 1)


def _clipped_local_mean(x: Tensor, size: int) -> Tensor:
    """Mean over the in-image part of the size x size window (2012 cnorm's avg pool)."""
    lo = size // 2
    hi = size - 1 - lo
    if lo == hi:
        return F.avg_pool2d(x, size, 1, padding=lo, count_include_pad=False)
    ones = torch.ones_like(x[:1, :1])
    num = F.avg_pool2d(F.pad(x, (lo, hi, lo, hi)), size, 1)
    den = F.avg_pool2d(F.pad(ones, (lo, hi, lo, hi)), size, 1)
    return num / den


class _ResponseNormFunction(torch.autograd.Function):
    """Same-map normalisation: y = x * (1 + scale * boxmean(u²)) ** -beta.

    u = x for rnorm; u = x - (clipped local mean) for cnorm, with the mean held constant
    in backward exactly as the 2012 kernel does (docs/reference/kernels.md#kernels-rnorm):
    gx = g * d^-beta - 2 * beta * scale * u * boxmeanᵀ(g * x * d^-beta / d).
    ``scale`` is the cfg value; dividing the box sum by size² is the 2012 ``scale/size²``.
    """

    @staticmethod
    def forward(ctx, x, size, scale, beta, centered):  # type: ignore[override]
        u = x - _clipped_local_mean(x, size) if centered else x
        d = _box_mean(u * u, size)
        d.mul_(scale).add_(1.0)
        p = _neg_pow(d, beta)
        ctx.save_for_backward(x, u, d, p)
        ctx.cfg = (size, scale, beta)
        return x * p

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, u, d, p = ctx.saved_tensors
        size, scale, beta = ctx.cfg
        q = g * p
        t = q * x
        t.div_(d)
        s = _box_mean(t, size, transpose=True)
        return torch.addcmul(q, u, s, value=-2.0 * beta * scale), None, None, None, None


def response_norm(x: Tensor, size: int, scale: float, beta: float, *, centered: bool = False
                  ) -> Tensor:
    """cfg ``rnorm`` (``centered=False``) or ``cnorm`` (``centered=True``); ``scale`` as in the
    cfg (the 2012 parser divides it by size², which the box mean does here)."""
    return _ResponseNormFunction.apply(x, size, scale, beta, centered)


class ResponseNorm(nn.Module):
    """cfg ``type=rnorm``: same-map normalisation over a size x size window, k = 1."""

    centered = False

    def __init__(self, size: int, scale: float, beta: float) -> None:
        super().__init__()
        self.size, self.scale, self.beta = size, scale, beta

    def forward(self, x: Tensor) -> Tensor:
        return response_norm(x, self.size, self.scale, self.beta, centered=self.centered)

    def extra_repr(self) -> str:
        return f"size={self.size}, scale={self.scale} (/size²), beta={self.beta}"


class ContrastNorm(ResponseNorm):
    """cfg ``type=cnorm``: as rnorm on (x - local mean); numerator x; mean constant in backward."""

    centered = True


# --------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------


def _window_range(img: int, d: int, stride: int, before: int, outputs: int
                  ) -> tuple[int, int, int]:
    """For window offset ``d``: (first output, count, first image index) of the windows
    whose element ``d`` lies inside the image (windows start ``before`` pixels out)."""
    first = max(0, -((d - before) // stride))            # ceil((before - d) / stride)
    last = min(outputs - 1, (img - 1 - d + before) // stride)
    return first, last - first + 1, first * stride + d - before


class _MaxPoolAllTiesFunction(torch.autograd.Function):
    """Max pooling whose backward gives a window's gradient to EVERY input equal to its
    maximum, as the 2012 kernel does (docs/reference/kernels.md#kernels-torch-pool),
    not to one of them as ``F.max_pool2d`` does.

    ``outputs`` windows per axis, window ``o`` covering ``[o * stride - before,
    o * stride - before + size)`` of the image; the parts outside it are ignored (-inf).
    The backward pass visits the ``size**2`` window offsets in order: for each, the
    strided slice of ``x`` holding that offset of every window is compared with the
    pooled values, and the output gradient is added where they are equal (overlapping
    windows add up, as in 2012, in the same order for every input). The slices are read
    from one contiguous copy per column offset, so each comparison runs over whole rows:
    strided comparisons cost about five times as much, and the 2012 rule used to take
    40% of a CIFAR training step on a CPU (benchmarks/bench_pool_ties.py). For finite
    gradients the result is bit for bit what comparing against a -inf-padded input and
    selecting with ``where`` gives; a non-finite gradient now spreads as NaN to the
    window's other inputs instead of stopping there (a diverged run shows as diverged).
    """

    @staticmethod
    def forward(ctx, x: Tensor, size: int, stride: int, outputs: int, before: int,
                after: int, ceil: bool) -> Tensor:
        if ceil:  # pool2012's fast-path geometry: clipped windows are the -inf padding
            y = F.max_pool2d(x, size, stride, ceil_mode=True)
        else:
            pad = (before, after, before, after)
            y = F.max_pool2d(F.pad(x, pad, value=-math.inf), size, stride)
            y = y[..., :outputs, :outputs]
        y = y.contiguous(memory_format=_memory_format(x))
        # a copy of y is kept: callers may apply an in-place ReLU to the returned tensor
        ctx.save_for_backward(x, y.clone())
        ctx.geom = (size, stride, outputs, before)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy: Tensor) -> tuple[Tensor, None, None, None, None, None, None]:
        x, y = ctx.saved_tensors
        size, stride, outputs, before = ctx.geom
        img = x.shape[-1]
        fmt = _memory_format(x)
        ranges = [_window_range(img, d, stride, before, outputs) for d in range(size)]
        cols = [x[..., :, c0:c0 + stride * (n - 1) + 1:stride].contiguous(memory_format=fmt)
                if n > 0 else None for _, n, c0 in ranges]
        gx = torch.zeros_like(x)
        for oy, ny, r0 in ranges:
            if ny <= 0:
                continue
            rows = slice(r0, r0 + stride * (ny - 1) + 1, stride)
            for (ox, nx, c0), col in zip(ranges, cols, strict=True):
                if nx <= 0:
                    continue
                out = (..., slice(oy, oy + ny), slice(ox, ox + nx))
                tied = col[..., rows, :] == y[out]
                # gy * tied, not where(tied, gy, 0): three times as fast here, and the
                # -0.0 it gives for a negative gy that is not tied adds as +0.0 does
                gx[..., rows, c0:c0 + stride * (nx - 1) + 1:stride] += gy[out] * tied
        return gx, None, None, None, None, None, None


def _memory_format(x: Tensor) -> torch.memory_format:
    return (torch.channels_last if x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last)
            else torch.contiguous_format)


def pool2012(
    x: Tensor, mode: str, size: int, stride: int, start: int = 0, outputs: int = 0,
    ties: str = "one",
) -> Tensor:
    """cuda-convnet pooling: windows [start + o*stride, +size) clipped to the image.

    ``avg`` divides by the in-image count of each window; ``max`` ignores the outside;
    ``maxabs`` returns the element of largest magnitude. With start 0 and the default
    output count this is torch's ceil-mode pooling
    (docs/reference/kernels.md#kernels-torch-pool), the fast path.
    ``ties`` decides the max-pool backward on exactly tied maxima: ``"all"`` gives the
    gradient to every tied element (the 2012 rule), ``"one"`` to a single one (PyTorch's,
    the faster path). The forward values are the same either way.
    """
    if ties not in ("one", "all"):
        raise ValueError(f"ties must be 'one' or 'all', not {ties!r}")
    img = x.shape[-1]
    default = pool_output_size(img, size=size, stride=stride, start=start)
    outputs = outputs or default
    all_ties = mode == "max" and ties == "all"
    if start == 0 and outputs == default and mode in ("max", "avg") and not all_ties:
        if mode == "max":
            return F.max_pool2d(x, size, stride, ceil_mode=True)
        return F.avg_pool2d(x, size, stride, ceil_mode=True, count_include_pad=False)
    if start > 0:
        x = x[..., start:, start:]
        img -= start
        start = 0
    left, right = pool_padding(img, size=size, stride=stride, start=start, outputs=outputs)
    pad = (left, right, left, right)
    if all_ties:
        return _MaxPoolAllTiesFunction.apply(x, size, stride, outputs, left, right,
                                             left == 0 and outputs == default)
    if mode == "max":
        y = F.max_pool2d(F.pad(x, pad, value=-math.inf), size, stride)
    elif mode == "avg":
        ones = torch.ones_like(x[:1, :1])
        y = F.avg_pool2d(F.pad(x, pad), size, stride) / F.avg_pool2d(F.pad(ones, pad), size, stride)
    elif mode == "maxabs":
        xp = F.pad(x, pad)
        _, idx = F.max_pool2d(xp.abs(), size, stride, return_indices=True)
        y = xp.flatten(2).gather(2, idx.flatten(2)).view_as(idx)
    else:
        raise ValueError(f"unknown pooling mode {mode!r}")
    return y[..., :outputs, :outputs]


class Pool2012(nn.Module):
    """cfg ``type=pool`` (``pool=max|avg|maxabs``); ``ties`` as in :func:`pool2012`
    (the cfg nets are 2012 code, so the builder passes ``"all"``)."""

    def __init__(self, mode: str, size: int, stride: int, start: int = 0, outputs: int = 0,
                 ties: str = "one"):
        super().__init__()
        self.mode, self.size, self.stride, self.start, self.outputs = (
            mode, size, stride, start, outputs)
        self.ties = ties

    def forward(self, x: Tensor) -> Tensor:
        return pool2012(x, self.mode, self.size, self.stride, self.start, self.outputs,
                        self.ties)

    def extra_repr(self) -> str:
        return (f"{self.mode}, size={self.size}, stride={self.stride}, start={self.start}, "
                f"ties={self.ties}")


def dropout2012(x: Tensor, keep: float, training: bool, mode: str = "2012") -> Tensor:
    """``mode="2012"``: training x * [u < keep], otherwise keep * x
    (docs/reference/kernels.md#kernels-dropout).
    ``mode="inverted"``: today's convention, training x * mask / keep, otherwise x."""
    if mode == "2012":
        if not training:
            return x * keep
        mask = torch.empty_like(x).bernoulli_(keep)
        return x * mask
    if mode == "inverted":
        return F.dropout(x, 1.0 - keep, training)
    raise ValueError(f"dropout mode must be '2012' or 'inverted', not {mode!r}")


class Dropout2012(nn.Module):
    """cfg ``type=hs``. ``enable=False`` (params file) behaves as at test time always."""

    def __init__(self, keep: float = 0.5, *, mode: str = "2012", enable: bool = True) -> None:
        super().__init__()
        if mode not in ("2012", "inverted"):
            raise ValueError(f"dropout mode must be '2012' or 'inverted', not {mode!r}")
        self.keep, self.mode, self.enable = keep, mode, enable

    def forward(self, x: Tensor) -> Tensor:
        return dropout2012(x, self.keep, self.training and self.enable, self.mode)

    def extra_repr(self) -> str:
        return f"keep={self.keep}, mode={self.mode}" + ("" if self.enable else ", disabled")


# --------------------------------------------------------------------------------------
# Low-resolution side path of the summer-2012 nets: blur and nailbed; reflection
# --------------------------------------------------------------------------------------


def gaussian_taps(filter_size: int, stdev: float) -> list[float]:
    """Normalised 1-D Gaussian, tap i ∝ exp(-(filter_size//2 - i)² / (2 stdev²))."""
    raw = [math.exp(-((filter_size // 2 - i) ** 2) / (2.0 * stdev * stdev))
           for i in range(filter_size)]
    total = sum(raw)
    return [v / total for v in raw]


class GaussianBlur(nn.Module):
    """cfg ``type=blur``: separable Gaussian, horizontal then vertical, zeros outside.

    The 2012 backward applies the same two passes to the gradient, which is the adjoint
    because the filter is symmetric; autograd gives the same.
    """

    def __init__(self, channels: int, taps: Sequence[float]) -> None:
        super().__init__()
        t = torch.tensor(list(taps), dtype=torch.float32)
        self.channels, self.radius = channels, len(taps) // 2
        self.register_buffer("taps", t.view(1, 1, 1, -1).repeat(channels, 1, 1, 1),
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        w = self.taps.to(dtype=x.dtype)
        r = self.radius
        x = F.conv2d(x, w, padding=(0, r), groups=self.channels)
        return F.conv2d(x, w.transpose(2, 3), padding=(r, 0), groups=self.channels)


class Nailbed(nn.Module):
    """cfg ``type=nailbed``: every stride-th pixel from ``start`` (centred sampling)."""

    def __init__(self, start: int, stride: int, outputs: int) -> None:
        super().__init__()
        self.start, self.stride, self.outputs = start, stride, outputs

    def forward(self, x: Tensor) -> Tensor:
        s, k, o = self.start, self.stride, self.outputs
        return x[..., s::k, s::k][..., :o, :o]

    def extra_repr(self) -> str:
        return f"start={self.start}, stride={self.stride}, outputs={self.outputs}"


class HorizontalReflection(nn.Module):
    """cfg ``type=href``: left-right mirror image."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flip(-1)


# --------------------------------------------------------------------------------------
# Neurons
# --------------------------------------------------------------------------------------


class _Abs2012(torch.autograd.Function):
    """|x| whose gradient at 0 is -1 as in 2012 (torch uses 0)."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return x.abs()

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, g, -g)


class _NoisyReLU(torch.autograd.Function):
    """nrelu in training: r = relu(x); y = relu(r + r * z), z ~ N(0, 1) (the noise's
    standard deviation is the activation, docs/reference/kernels.md#kernels-neurons). The 2012
    backward is the
    relu gradient read from the output, g * [y > 0], ignoring the noise factor."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        r = torch.relu(x)
        y = torch.relu(torch.addcmul(r, r, torch.randn_like(r)))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return g * (y > 0)


NEURON_TYPES: dict[str, tuple[str, ...]] = {
    "ident": (),
    "logistic": (),
    "abs": (),
    "relu": (),
    "nrelu": (),
    "softrelu": (),
    "square": (),
    "sqrt": (),
    "tanh": ("a", "b"),
    "brelu": ("a",),
    "linear": ("a", "b"),
    "drelu": ("a",),
    "abstanh": ("a", "b"),
}
"""Neuron type -> names of its positional parameters (2012 ``layer.py`` L1397-L1409)."""


class Neuron(nn.Module):
    """An element-wise activation layer (cfg ``neuron=`` or a detached neuron layer).

    Forward values and gradients follow docs/reference/kernels.md#kernels-neurons; where torch's own
    gradient
    differs (abs at 0, nrelu's noise) a custom function supplies the 2012 one.
    """

    def __init__(self, kind: str, params: Mapping[str, float] | Sequence[float] | None = None
                 ) -> None:
        super().__init__()
        if kind not in NEURON_TYPES:
            raise ValueError(f"unknown neuron type {kind!r}; known: {', '.join(NEURON_TYPES)}")
        names = NEURON_TYPES[kind]
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            params = dict(zip(names, params, strict=True))
        missing = [n for n in names if n not in params]
        if missing:
            raise ValueError(f"neuron {kind} needs parameters {', '.join(names)}")
        self.kind = kind
        self.a = float(params.get("a", 0.0))
        self.b = float(params.get("b", 0.0))
        # set by a builder that knows nobody else reads the input (saves a pass and a
        # tensor; autograd still refuses if the producer needed its output)
        self.inplace = False

    def forward(self, x: Tensor) -> Tensor:
        k, a, b = self.kind, self.a, self.b
        if k == "relu":
            return F.relu_(x) if self.inplace else F.relu(x)
        if k == "ident":
            return x
        if k == "logistic":
            return torch.sigmoid(x)
        if k == "abs":
            return _Abs2012.apply(x)
        if k == "nrelu":
            return _NoisyReLU.apply(x) if self.training else F.relu(x)
        if k == "softrelu":
            return F.softplus(x, beta=1.0, threshold=4.0)
        if k == "square":
            return x * x
        if k == "sqrt":
            return torch.sqrt(x)
        if k == "tanh":
            return a * torch.tanh(b * x)
        if k == "brelu":
            return F.hardtanh(x, 0.0, a)
        if k == "linear":
            return a * x + b
        if k == "drelu":
            return x - a * torch.tanh(x / a)
        if k == "abstanh":
            return a * torch.tanh(abs(b) * x).abs()
        raise AssertionError(k)

    def extra_repr(self) -> str:
        names = NEURON_TYPES[self.kind]
        vals = ",".join(f"{getattr(self, n):g}" for n in names)
        return self.kind + (f"[{vals}]" if names else "")


def neuron_from_spec(spec: Mapping, *, where: tuple[str, int] | None = None) -> Neuron:
    """Builds a Neuron from the parser's ``{'type': ..., 'params': {...}}`` dict."""
    try:
        return Neuron(str(spec["type"]), spec.get("params") or {})
    except (KeyError, ValueError, TypeError) as exc:
        path, line = where if where else (None, None)
        raise ConfigError(f"cannot build neuron {spec!r}: {exc}", path=path, line=line) from None
