"""Plain numpy statements of what each kernel computes, in the 2012 layouts.

These are the specification the tests hold the kernels to: written for clarity, not speed,
straight from the formulas of docs/reference/kernels.md (layouts and library routines; a
different formulation from the
tiled kernels, so a shared mistake is unlikely). They compute in the dtype they are given;
the tests pass float64 so that the reference error is negligible next to fp32.

Layouts: images (C, H, W, N); conv filters (C/G, S, S, F); local filters (M, C/G, S, S, F);
conv outputs (F, MY, MX, N); weight gradients (M/P, C/G, S, S, F); pooled/normalised maps
(C, size, size, N). ``padding_start`` is <= 0 (minus the configured padding).
"""

from __future__ import annotations

import numpy as np


def _patches(images: np.ndarray, S: int, p0: int, s: int, MY: int, MX: int) -> np.ndarray:
    """(C, S, S, MY, MX, N): the image value under filter pixel (u, v) of module (my, mx)."""
    C, H, W, N = images.shape
    ext_y = p0 + (MY - 1) * s + S  # one past the last row any module reads
    ext_x = p0 + (MX - 1) * s + S
    pad_lo = -p0
    padded = np.zeros((C, pad_lo + max(H, ext_y), pad_lo + max(W, ext_x), N), images.dtype)
    padded[:, pad_lo : pad_lo + H, pad_lo : pad_lo + W] = images
    out = np.empty((C, S, S, MY, MX, N), images.dtype)
    for u in range(S):
        for v in range(S):
            out[:, u, v] = padded[:, u : u + (MY - 1) * s + 1 : s, v : v + (MX - 1) * s + 1 : s]
    return out


def filter_acts(
    images: np.ndarray,
    filters: np.ndarray,
    *,
    num_modules_y: int,
    num_modules_x: int,
    padding_start: int,
    stride: int,
    groups: int,
    conv: bool,
) -> np.ndarray:
    """A[f, my, mx, n] = sum_{c', u, v} W[c', u, v, f] * I[g*C' + c', y0 + u, x0 + v, n]."""
    C, H, W, N = images.shape
    F = filters.shape[-1]
    S = filters.shape[-2]
    Cg = C // groups
    Fg = F // groups
    MY, MX = num_modules_y, num_modules_x
    P = _patches(images, S, padding_start, stride, MY, MX)
    out = np.zeros((F, MY, MX, N), images.dtype)
    for g in range(groups):
        pg = P[g * Cg : (g + 1) * Cg]  # (C', S, S, MY, MX, N)
        if conv:
            w = filters[:, :, :, g * Fg : (g + 1) * Fg]  # (C', S, S, Fg)
            out[g * Fg : (g + 1) * Fg] = np.einsum("cuvf,cuvyxn->fyxn", w, pg)
        else:
            w = filters.reshape(MY, MX, Cg, S, S, F)[..., g * Fg : (g + 1) * Fg]
            out[g * Fg : (g + 1) * Fg] = np.einsum("yxcuvf,cuvyxn->fyxn", w, pg)
    return out


def img_acts(
    hid_acts: np.ndarray,
    filters: np.ndarray,
    *,
    img_size_y: int,
    img_size_x: int,
    num_colors: int,
    padding_start: int,
    stride: int,
    groups: int,
    conv: bool,
) -> np.ndarray:
    """The adjoint of :func:`filter_acts` w.r.t. the images, restricted to in-image pixels."""
    F, MY, MX, N = hid_acts.shape
    S = filters.shape[-2]
    C = num_colors
    Cg, Fg = C // groups, F // groups
    p0, s = padding_start, stride
    ext_y = max(img_size_y, p0 + (MY - 1) * s + S)
    ext_x = max(img_size_x, p0 + (MX - 1) * s + S)
    padded = np.zeros((C, -p0 + ext_y, -p0 + ext_x, N), hid_acts.dtype)
    for g in range(groups):
        h = hid_acts[g * Fg : (g + 1) * Fg]
        if conv:
            w = filters[:, :, :, g * Fg : (g + 1) * Fg]
            contrib = np.einsum("cuvf,fyxn->cuvyxn", w, h)
        else:
            w = filters.reshape(MY, MX, Cg, S, S, F)[..., g * Fg : (g + 1) * Fg]
            contrib = np.einsum("yxcuvf,fyxn->cuvyxn", w, h)
        for u in range(S):
            for v in range(S):
                padded[g * Cg : (g + 1) * Cg, u : u + (MY - 1) * s + 1 : s,
                       v : v + (MX - 1) * s + 1 : s] += contrib[:, u, v]
    return padded[:, -p0 : -p0 + img_size_y, -p0 : -p0 + img_size_x]


def weight_acts(
    images: np.ndarray,
    hid_acts: np.ndarray,
    *,
    filter_size: int,
    padding_start: int,
    stride: int,
    groups: int,
    partial_sum: int,
) -> np.ndarray:
    """D[k, c', u, v, f] = sum over modules m in [kP, kP+P) and images of patch x hidActs."""
    C, H, W, N = images.shape
    F, MY, MX, _ = hid_acts.shape
    S = filter_size
    M = MY * MX
    P = M if partial_sum == 0 else partial_sum
    K = M // P
    Cg, Fg = C // groups, F // groups
    pat = _patches(images, S, padding_start, stride, MY, MX).reshape(C, S, S, K, P, N)
    h = hid_acts.reshape(F, K, P, N)
    out = np.zeros((K, Cg, S, S, F), images.dtype)
    for g in range(groups):
        out[..., g * Fg : (g + 1) * Fg] = np.einsum(
            "cuvkpn,fkpn->kcuvf", pat[g * Cg : (g + 1) * Cg], h[g * Fg : (g + 1) * Fg]
        )
    return out


def _windows(size: int, start: int, stride: int, count: int, img: int) -> list[tuple[int, int]]:
    return [
        (max(0, start + o * stride), min(img, start + o * stride + size)) for o in range(count)
    ]


def local_pool(
    images: np.ndarray, *, pool: str, size: int, start: int, stride: int, outputs: int
) -> np.ndarray:
    """Max, average (over the in-image pixels) or max-abs of each clipped window."""
    C, H, W, N = images.shape
    out = np.empty((C, outputs, outputs, N), images.dtype)
    wins = _windows(size, start, stride, outputs, H)
    for oy, (y0, y1) in enumerate(wins):
        for ox, (x0, x1) in enumerate(wins):
            region = images[:, y0:y1, x0:x1].reshape(C, -1, N)
            if pool == "max":
                out[:, oy, ox] = region.max(axis=1)
            elif pool == "avg":
                out[:, oy, ox] = region.sum(axis=1) / region.shape[1]
            elif pool == "maxabs":
                # the pixel of largest |value|; on ties the last visited (row-major) wins
                rev = region[:, ::-1]
                idx = region.shape[1] - 1 - np.abs(rev).argmax(axis=1)
                out[:, oy, ox] = np.take_along_axis(region, idx[:, None, :], axis=1)[:, 0]
            else:
                raise ValueError(pool)
    return out


def local_max_undo(
    images: np.ndarray,
    max_grads: np.ndarray,
    max_acts: np.ndarray,
    *,
    size: int,
    start: int,
    stride: int,
) -> np.ndarray:
    """Each window's gradient goes to every input equal to the window's maximum."""
    C, H, W, N = images.shape
    outputs = max_acts.shape[1]
    grad = np.zeros_like(images)
    wins = _windows(size, start, stride, outputs, H)
    for oy, (y0, y1) in enumerate(wins):
        for ox, (x0, x1) in enumerate(wins):
            region = images[:, y0:y1, x0:x1]
            hit = region == max_acts[:, oy, ox][:, None, None, :]
            grad[:, y0:y1, x0:x1] += hit * max_grads[:, oy, ox][:, None, None, :]
    return grad


def local_avg_undo(
    avg_grads: np.ndarray, *, img_size: int, size: int, start: int, stride: int
) -> np.ndarray:
    """Each window's gradient spread evenly over its in-image pixels."""
    C, outputs, _, N = avg_grads.shape
    grad = np.zeros((C, img_size, img_size, N), avg_grads.dtype)
    wins = _windows(size, start, stride, outputs, img_size)
    for oy, (y0, y1) in enumerate(wins):
        for ox, (x0, x1) in enumerate(wins):
            area = (y1 - y0) * (x1 - x0)
            grad[:, y0:y1, x0:x1] += (avg_grads[:, oy, ox] / area)[:, None, None, :]
    return grad


def _channel_windows(C: int, size: int, blocked: bool) -> list[tuple[int, int]]:
    if blocked:
        return [((c // size) * size, min(C, (c // size) * size + size)) for c in range(C)]
    return [(max(0, c - size // 2), min(C, c - size // 2 + size)) for c in range(C)]


def cross_map_norm(
    images: np.ndarray, *, size: int, add_scale: float, pow_: float, min_div: float,
    blocked: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(out, denoms): d = minDiv + addScale * sum over the channel window of x^2."""
    C = images.shape[0]
    sq = images**2
    denoms = np.empty_like(images)
    for c, (a, b) in enumerate(_channel_windows(C, size, blocked)):
        denoms[c] = min_div + add_scale * sq[a:b].sum(axis=0)
    return images * denoms ** (-pow_), denoms


def cross_map_norm_grad(
    out_grads: np.ndarray, images: np.ndarray, *, size: int, add_scale: float, pow_: float,
    min_div: float, blocked: bool = False,
) -> np.ndarray:
    """The exact gradient of :func:`cross_map_norm` (by the chain rule, not the 2012 steps)."""
    C = images.shape[0]
    out, denoms = cross_map_norm(
        images, size=size, add_scale=add_scale, pow_=pow_, min_div=min_div, blocked=blocked
    )
    grad = out_grads * denoms ** (-pow_)
    # d out[c] / d denoms[c] = -pow * out[c] / denoms[c]; d denoms[c] / d x[j] = 2*addScale*x[j]
    t = out_grads * (-pow_) * out / denoms
    for c, (a, b) in enumerate(_channel_windows(C, size, blocked)):
        grad[a:b] += t[c] * 2.0 * add_scale * images[a:b]
    return grad


def _box_sum(x: np.ndarray, size: int) -> np.ndarray:
    """Sum over the window rows/cols [p - size//2, p - size//2 + size), clipped."""
    C, H, W, N = x.shape
    out = np.zeros_like(x)
    for y in range(H):
        y0, y1 = max(0, y - size // 2), min(H, y - size // 2 + size)
        for xx in range(W):
            x0, x1 = max(0, xx - size // 2), min(W, xx - size // 2 + size)
            out[:, y, xx] = x[:, y0:y1, x0:x1].sum(axis=(1, 2))
    return out


def _box_sum_transposed(x: np.ndarray, size: int) -> np.ndarray:
    """sum over the pixels i whose window holds j of x[i]: the adjoint of :func:`_box_sum`."""
    C, H, W, N = x.shape
    out = np.zeros_like(x)
    for y in range(H):
        y0, y1 = max(0, y - size // 2), min(H, y - size // 2 + size)
        for xx in range(W):
            x0, x1 = max(0, xx - size // 2), min(W, xx - size // 2 + size)
            out[:, y0:y1, x0:x1] += x[:, y, xx][:, None, None, :]
    return out


def contrast_norm(
    images: np.ndarray, mean_diffs: np.ndarray, *, size: int, add_scale: float, pow_: float
) -> tuple[np.ndarray, np.ndarray]:
    """(out, denoms): d = 1 + addScale * boxsum(meanDiffs^2); out = images * d^-pow."""
    denoms = 1.0 + add_scale * _box_sum(mean_diffs**2, size)
    return images * denoms ** (-pow_), denoms


def response_norm_grad(
    out_grads: np.ndarray, images: np.ndarray, inputs: np.ndarray, *, size: int,
    add_scale: float, pow_: float,
) -> np.ndarray:
    """Gradient of ``images * (1 + addScale*boxsum(inputs^2))^-pow`` holding the inputs' link to
    images aside: exact for rnorm (inputs = images) when both terms are summed, the 2012
    "mean held constant" gradient for cnorm (inputs = meanDiffs)."""
    out, denoms = contrast_norm(images, inputs, size=size, add_scale=add_scale, pow_=pow_)
    t = out_grads * (-pow_) * out / denoms
    return out_grads * denoms ** (-pow_) + 2.0 * add_scale * inputs * _box_sum_transposed(t, size)


def local_mean(images: np.ndarray, size: int) -> np.ndarray:
    """The contrast layer's mean: average over the clipped size x size window starting at
    -size/2 (C truncation), divided by the in-image count."""
    start = -(size // 2)
    H = images.shape[1]
    return local_pool(images, pool="avg", size=size, start=start, stride=1, outputs=H)


def agg_partial_sums(partials: np.ndarray) -> np.ndarray:
    """Sum of the weight-gradient chunks over the first axis."""
    return partials.sum(axis=0)
