"""numpy bindings of the kernels, in the 2012 layouts, on the CPU through device emulation.

This is what the re-creation's engine (``alexnet.original``) calls for its ``cuda-convnet``
backend: the very kernel text a GPU runs, executed by the emulator. Arrays are float32 and
C-contiguous in the 2012 layouts (see :mod:`alexnet.cuda.reference` for the list); anything
else -- another dtype, a non-contiguous view, inconsistent shapes, a violated 2012
precondition -- raises :class:`~alexnet.cuda.errors.KernelPreconditionError` (a ValueError)
with one line naming the argument, before any kernel runs.

Accumulate semantics: the conv routines and the undo routines take ``out``,
``scale_targets`` and ``scale_output`` and compute
``out := scale_targets*out + scale_output*result`` in place (with ``scale_targets == 0`` the
old contents are never read), as the 2012 library did for layers with several inputs.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from alexnet.cuda import abi
from alexnet.cuda.build import load_library
from alexnet.cuda.errors import KernelPreconditionError
from alexnet.geometry import conv_output_size, pool_output_size


@functools.cache
def _lib() -> ctypes.CDLL:
    return load_library("emulation")


def set_schedule_seed(seed: int) -> None:
    """Thread order between barriers for this OS thread's emulated launches.

    0 runs the threads of a block in ascending order; any other value draws a seeded random
    permutation for every block and every barrier phase. Correct kernels give identical
    results under every seed; the tests use several to expose races.
    """
    if not 0 <= int(seed) < 2**64:
        raise KernelPreconditionError(f"schedule seed must be in [0, 2**64), got {seed}")
    abi.call(_lib(), "convnet_emu_set_schedule_seed", ctypes.c_ulonglong(int(seed)))


def set_worker_threads(threads: int) -> None:
    """OS threads that run the blocks of each emulated launch (process-wide).

    1 (the default, unless ``$CUDA_EMU_THREADS`` says otherwise) runs blocks strictly one
    after another, as ``-deviceemu`` did; more threads only speed things up: blocks are
    independent and each block's thread schedule depends on its own index, so results are
    identical for any count.
    """
    abi.call(_lib(), "convnet_emu_set_worker_threads", int(threads))


# -- argument checking -----------------------------------------------------------------------


def _check(name: str, arr: object, ndim: int | tuple[int, ...]) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise KernelPreconditionError(f"{name}: expected a numpy array, got {type(arr).__name__}")
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in dims:
        want = " or ".join(str(d) for d in dims)
        raise KernelPreconditionError(f"{name}: expected {want} dimensions, got shape {arr.shape}")
    if arr.dtype != np.float32:
        raise KernelPreconditionError(f"{name}: expected dtype float32, got {arr.dtype}")
    if not arr.flags.c_contiguous:
        raise KernelPreconditionError(
            f"{name}: expected a C-contiguous array (use np.ascontiguousarray)"
        )
    return arr


def _images_stride(name: str, images: object) -> tuple[np.ndarray, int]:
    """(images, imgStride): C-contiguous (C, H, W, N), or a slice [..., :N] of a C-contiguous
    (C, H, W, stride) array (the 2012 strided-images case)."""
    if isinstance(images, np.ndarray) and images.ndim == 4 and not images.flags.c_contiguous:
        if images.dtype != np.float32:
            raise KernelPreconditionError(f"{name}: expected dtype float32, got {images.dtype}")
        s0, s1, s2, s3 = images.strides
        C, H, W, N = images.shape
        if s3 == 4 and s2 % 4 == 0 and s2 // 4 >= N and s1 == W * s2 and s0 == H * s1:
            return images, s2 // 4
        raise KernelPreconditionError(
            f"{name}: expected a C-contiguous (C, H, W, N) array or a slice [..., :N] of one"
        )
    arr = _check(name, images, 4)
    return arr, arr.shape[3]


def _out(
    name: str, out: np.ndarray | None, shape: tuple[int, ...], scale_targets: float
) -> np.ndarray:
    if out is None:
        if scale_targets != 0:
            raise KernelPreconditionError(f"{name}: scale_targets={scale_targets} needs out=")
        return np.empty(shape, np.float32)
    _check(f"{name} out", out, len(shape))
    if out.shape != shape:
        raise KernelPreconditionError(f"{name}: out has shape {out.shape}, expected {shape}")
    return out


def _ptr(arr: np.ndarray) -> int:
    return arr.ctypes.data


def _ints(name: str, **values: int) -> None:
    for key, v in values.items():
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise KernelPreconditionError(f"{name}: {key} must be an int, got {v!r}")


# -- convolution --------------------------------------------------------------------------


def _conv_filter_shape(
    name: str, filters: np.ndarray, conv: bool
) -> tuple[int, int, int, int | None]:
    """(C', S, F, M or None) from a conv (C', S, S, F) or local (M, C', S, S, F) bank."""
    _check(f"{name} filters", filters, 4 if conv else 5)
    if conv:
        cg, s1, s2, f = filters.shape
        m = None
    else:
        m, cg, s1, s2, f = filters.shape
    if s1 != s2:
        raise KernelPreconditionError(
            f"{name}: filters must be square, got {s1} x {s2} (shape {filters.shape})"
        )
    return cg, s1, f, m


def filter_acts(
    images: np.ndarray,
    filters: np.ndarray,
    *,
    padding_start: int = 0,
    stride: int = 1,
    groups: int = 1,
    conv: bool = True,
    modules: tuple[int, int] | None = None,
    out: np.ndarray | None = None,
    scale_targets: float = 0.0,
    scale_output: float = 1.0,
) -> np.ndarray:
    """Convolution (``conv=True``, filters (C/G, S, S, F)) or local layer (``conv=False``,
    filters (MY*MX, C/G, S, S, F)) of images (C, H, W, N) -> (F, MY, MX, N).

    ``modules`` (MY, MX) defaults to the 2012 ceil rule; images may be a slice ``[..., :N]``
    of a wider C-contiguous array (the kernels' image stride).
    """
    name = "filter_acts"
    images, img_stride = _images_stride(f"{name} images", images)
    cg, S, F, m = _conv_filter_shape(name, filters, conv)
    C, H, W, N = images.shape
    _ints(name, padding_start=padding_start, stride=stride, groups=groups)
    if groups <= 0 or cg * groups != C:
        raise KernelPreconditionError(
            f"{name}: filters have {cg} channels per group x {groups} groups, images have {C}"
        )
    MY, MX = modules or (
        conv_output_size(H, filter_size=S, stride=stride, padding=-padding_start),
        conv_output_size(W, filter_size=S, stride=stride, padding=-padding_start),
    )
    if m is not None and m != MY * MX:
        raise KernelPreconditionError(
            f"{name}: local filters have {m} modules, the geometry gives {MY} x {MX} = {MY * MX}"
        )
    target = _out(name, out, (F, MY, MX, N), scale_targets)
    abi.call(
        _lib(), "convnet_filter_acts", _ptr(images), _ptr(filters), _ptr(target), N, img_stride,
        C, H, W, F, S, MY, MX, padding_start, stride, groups, int(conv), scale_targets,
        scale_output, None,
    )
    return target


def img_acts(
    hid_acts: np.ndarray,
    filters: np.ndarray,
    *,
    image_size: int | tuple[int, int],
    padding_start: int = 0,
    stride: int = 1,
    groups: int = 1,
    conv: bool = True,
    out: np.ndarray | None = None,
    scale_targets: float = 0.0,
    scale_output: float = 1.0,
) -> np.ndarray:
    """Gradient w.r.t. the images of :func:`filter_acts`: hid_acts (F, MY, MX, N) ->
    (C, H, W, N) with C = channels per group x groups, (H, W) = ``image_size``."""
    name = "img_acts"
    _check(f"{name} hid_acts", hid_acts, 4)
    cg, S, F, m = _conv_filter_shape(name, filters, conv)
    F2, MY, MX, N = hid_acts.shape
    _ints(name, padding_start=padding_start, stride=stride, groups=groups)
    if F2 != F:
        raise KernelPreconditionError(f"{name}: hid_acts have {F2} filters, filters have {F}")
    if m is not None and m != MY * MX:
        raise KernelPreconditionError(
            f"{name}: local filters have {m} modules, hid_acts have {MY} x {MX}"
        )
    H, W = (image_size, image_size) if isinstance(image_size, int) else image_size
    C = cg * groups
    target = _out(name, out, (C, H, W, N), scale_targets)
    abi.call(
        _lib(), "convnet_img_acts", _ptr(hid_acts), _ptr(filters), _ptr(target), N, C, H, W, F,
        S, MY, MX, padding_start, stride, groups, int(conv), scale_targets, scale_output, None,
    )
    return target


def weight_acts(
    images: np.ndarray,
    hid_acts: np.ndarray,
    *,
    filter_size: int,
    padding_start: int = 0,
    stride: int = 1,
    groups: int = 1,
    partial_sum: int = 0,
    conv: bool = True,
    reduce: bool = True,
    out: np.ndarray | None = None,
    scale_targets: float = 0.0,
    scale_output: float = 1.0,
) -> np.ndarray:
    """Gradient w.r.t. the filters of :func:`filter_acts`.

    conv, reduce (default): (C/G, S, S, F), the partialSum chunks summed in chunk order.
    conv, ``reduce=False``: the chunks themselves, (M/P, C/G, S, S, F).
    local (``conv=False``): (M, C/G, S, S, F) (partialSum 1, as in 2012).
    ``scale_output`` multiplies inside the kernel (the 2012 layers pass 1/numCases there);
    ``scale_targets`` applies to ``out`` (after the chunk sum).
    """
    name = "weight_acts"
    images, img_stride = _images_stride(f"{name} images", images)
    _check(f"{name} hid_acts", hid_acts, 4)
    C, H, W, N = images.shape
    F, MY, MX, N2 = hid_acts.shape
    _ints(name, filter_size=filter_size, padding_start=padding_start, stride=stride,
              groups=groups, partial_sum=partial_sum)
    if N2 != N:
        raise KernelPreconditionError(f"{name}: images have {N} cases, hid_acts have {N2}")
    if groups <= 0 or C % groups:
        raise KernelPreconditionError(f"{name}: {C} channels do not split into {groups} groups")
    S, M, cg = filter_size, MY * MX, C // groups
    if not conv:
        partial_sum, reduce = 1, False
    P = M if partial_sum == 0 else partial_sum
    if P <= 0 or M % P:
        raise KernelPreconditionError(
            f"{name}: partial_sum ({partial_sum}) must divide the number of modules ({M})"
        )
    chunks = M // P
    args = (N, img_stride, C, H, W, F, S, MY, MX, padding_start, stride, groups, P)
    if not reduce or chunks == 1:
        shape = (chunks, cg, S, S, F) if not reduce else (cg, S, S, F)
        target = _out(name, out, shape, scale_targets)
        abi.call(_lib(), "convnet_weight_acts", _ptr(images), _ptr(hid_acts), _ptr(target),
                 *args, scale_targets, scale_output, None)
        return target
    target = _out(name, out, (cg, S, S, F), scale_targets)
    partials = np.empty((chunks, cg, S, S, F), np.float32)
    abi.call(_lib(), "convnet_weight_acts", _ptr(images), _ptr(hid_acts), _ptr(partials), *args,
             0.0, scale_output, None)
    abi.call(_lib(), "convnet_agg_partial_sums", _ptr(partials), _ptr(target), chunks,
             partials[0].size, scale_targets, 1.0, None)
    return target


def agg_partial_sums(
    partials: np.ndarray,
    *,
    out: np.ndarray | None = None,
    scale_targets: float = 0.0,
    scale_output: float = 1.0,
) -> np.ndarray:
    """Sum weight-gradient chunks (K, ...) over K, in order: out := st*out + so*sum."""
    if not isinstance(partials, np.ndarray) or partials.ndim < 2:
        raise KernelPreconditionError("agg_partial_sums: expected an array of at least 2 dims")
    _check("agg_partial_sums partials", partials, partials.ndim)
    target = _out("agg_partial_sums", out, partials.shape[1:], scale_targets)
    abi.call(_lib(), "convnet_agg_partial_sums", _ptr(partials), _ptr(target),
             partials.shape[0], partials[0].size, scale_targets, scale_output, None)
    return target


# -- pooling ----------------------------------------------------------------------------


def _square(name: str, arr: np.ndarray) -> int:
    if arr.shape[1] != arr.shape[2]:
        raise KernelPreconditionError(
            f"{name}: the 2012 pooling/normalisation kernels need square maps, got "
            f"{arr.shape[1]} x {arr.shape[2]}"
        )
    return arr.shape[1]


def local_pool(
    images: np.ndarray,
    *,
    pool: str = "max",
    size: int,
    stride: int,
    start: int = 0,
    outputs: int | None = None,
) -> np.ndarray:
    """Pool (C, S, S, N) over clipped windows -> (C, outputs, outputs, N).

    ``pool``: "max", "avg" (divides by the in-image pixel count) or "maxabs".
    ``outputs`` defaults to the 2012 rule ``ceil((S - start - size) / stride) + 1``.
    """
    name = "local_pool"
    _check(f"{name} images", images, 4)
    if pool not in abi.POOL_TYPES:
        raise KernelPreconditionError(f"{name}: pool must be max, avg or maxabs, got {pool!r}")
    _ints(name, size=size, stride=stride, start=start)
    C, S, _, N = images.shape
    S = _square(name, images)
    if outputs is None:
        outputs = pool_output_size(S, size=size, stride=stride, start=start)
    target = np.empty((C, outputs, outputs, N), np.float32)
    abi.call(_lib(), "convnet_local_pool", _ptr(images), _ptr(target), N, C, S,
             abi.POOL_TYPES[pool], size, start, stride, outputs, None)
    return target


def local_max_undo(
    images: np.ndarray,
    max_grads: np.ndarray,
    max_acts: np.ndarray,
    *,
    size: int,
    stride: int,
    start: int = 0,
    out: np.ndarray | None = None,
    scale_targets: float = 0.0,
    scale_output: float = 1.0,
) -> np.ndarray:
    """Max-pool gradient: every input equal to its window's maximum gets the window's
    gradient (all ties). images (C, S, S, N); max_grads, max_acts (C, O, O, N)."""
    name = "local_max_undo"
    _check(f"{name} images", images, 4)
    _check(f"{name} max_grads", max_grads, 4)
    _check(f"{name} max_acts", max_acts, 4)
    _ints(name, size=size, stride=stride, start=start)
    C, S, _, N = images.shape
    S = _square(name, images)
    if max_grads.shape != max_acts.shape or max_grads.shape[0] != C or max_grads.shape[3] != N:
        raise KernelPreconditionError(
            f"{name}: max_grads {max_grads.shape} and max_acts {max_acts.shape} must both be "
            f"({C}, O, O, {N})"
        )
    outputs = _square(f"{name} max_acts", max_acts)
    target = _out(name, out, images.shape, scale_targets)
    abi.call(_lib(), "convnet_local_max_undo", _ptr(images), _ptr(max_grads), _ptr(max_acts),
             _ptr(target), N, C, S, size, start, stride, outputs, scale_targets, scale_output,
             None)
    return target


def local_avg_undo(
    avg_grads: np.ndarray,
    *,
    image_size: int,
    size: int,
    stride: int,
    start: int = 0,
    out: np.ndarray | None = None,
    scale_targets: float = 0.0,
    scale_output: float = 1.0,
) -> np.ndarray:
    """Average-pool gradient: avg_grads (C, O, O, N) -> (C, image_size, image_size, N)."""
    name = "local_avg_undo"
    _check(f"{name} avg_grads", avg_grads, 4)
    _ints(name, image_size=image_size, size=size, stride=stride, start=start)
    C, O, _, N = avg_grads.shape
    O = _square(name, avg_grads)
    target = _out(name, out, (C, image_size, image_size, N), scale_targets)
    abi.call(_lib(), "convnet_local_avg_undo", _ptr(avg_grads), _ptr(target), N, C, image_size,
             size, start, stride, O, scale_targets, scale_output, None)
    return target


# -- normalisation ------------------------------------------------------------------------


def _undo_acts(name: str, acts: np.ndarray, overwrite_acts: bool) -> np.ndarray:
    _check(f"{name} acts", acts, 4)
    return acts if overwrite_acts else acts.copy()


def _same_shapes(name: str, ref: np.ndarray, **others: np.ndarray) -> None:
    for key, arr in others.items():
        _check(f"{name} {key}", arr, 4)
        if arr.shape != ref.shape:
            raise KernelPreconditionError(
                f"{name}: {key} has shape {arr.shape}, expected {ref.shape}"
            )


def cross_map_norm(
    images: np.ndarray,
    *,
    size: int,
    scale: float,
    power: float,
    min_div: float = 1.0,
    blocked: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """cmrnorm (the paper's LRN) over channels: returns (out, denoms), both (C, S, S, N).

    ``scale``, ``power``, ``min_div`` are the cfg values ``scale``, ``pow``, ``minDiv``; the
    kernel gets addScale = scale / size (the 2012 parser's division).
    """
    name = "cross_map_norm"
    _check(f"{name} images", images, 4)
    _ints(name, size=size)
    C, S, _, N = images.shape
    S = _square(name, images)
    out = np.empty_like(images)
    denoms = np.empty_like(images)
    abi.call(_lib(), "convnet_response_norm_cross_map", _ptr(images), _ptr(denoms), _ptr(out), N,
             C, S, size, scale / size, power, min_div, int(blocked), None)
    return out, denoms


def cross_map_norm_undo(
    out_grads: np.ndarray,
    denoms: np.ndarray,
    inputs: np.ndarray,
    acts: np.ndarray,
    *,
    size: int,
    scale: float,
    power: float,
    blocked: bool = False,
    out: np.ndarray | None = None,
    scale_targets: float = 0.0,
    scale_output: float = 1.0,
    overwrite_acts: bool = False,
) -> np.ndarray:
    """Gradient of :func:`cross_map_norm` given its input ``inputs`` and output ``acts``.

    The 2012 kernel overwrites ``acts`` with an intermediate; this binding passes a copy
    unless ``overwrite_acts=True`` (saves memory when the forward output is no longer needed).
    """
    name = "cross_map_norm_undo"
    _check(f"{name} out_grads", out_grads, 4)
    _same_shapes(name, out_grads, denoms=denoms, inputs=inputs, acts=acts)
    _ints(name, size=size)
    C, S, _, N = out_grads.shape
    S = _square(name, out_grads)
    work = _undo_acts(name, acts, overwrite_acts)
    target = _out(name, out, out_grads.shape, scale_targets)
    abi.call(_lib(), "convnet_response_norm_cross_map_undo", _ptr(out_grads), _ptr(denoms),
             _ptr(inputs), _ptr(work), _ptr(target), N, C, S, size, scale / size, power,
             int(blocked), scale_targets, scale_output, None)
    return target


def _within_map(
    name: str, images: np.ndarray, mean_diffs: np.ndarray, size: int, scale: float, power: float
) -> tuple[np.ndarray, np.ndarray]:
    C, S, _, N = images.shape
    out = np.empty_like(images)
    denoms = np.empty_like(images)
    abi.call(_lib(), "convnet_contrast_norm", _ptr(images), _ptr(mean_diffs), _ptr(denoms),
             _ptr(out), N, C, S, size, scale / (size * size), power, None)
    return out, denoms


def response_norm(
    images: np.ndarray, *, size: int, scale: float, power: float
) -> tuple[np.ndarray, np.ndarray]:
    """rnorm (within-map response normalisation): returns (out, denoms).

    addScale = scale / size^2 (the full window area, even where the window is clipped).
    """
    name = "response_norm"
    _check(f"{name} images", images, 4)
    _ints(name, size=size)
    _square(name, images)
    return _within_map(name, images, images, size, scale, power)


def local_mean(images: np.ndarray, *, size: int) -> np.ndarray:
    """The contrast layer's local mean: average pool of size ``size``, stride 1, start
    -size/2 (C truncation), over the clipped window, one output per pixel."""
    _check("local_mean images", images, 4)
    S = _square("local_mean", images)
    return local_pool(images, pool="avg", size=size, stride=1, start=-(size // 2), outputs=S)


def contrast_norm(
    images: np.ndarray, *, size: int, scale: float, power: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cnorm: returns (out, denoms, mean_diffs); out = images * (1 + addScale *
    boxsum((images - local mean)^2))^-power -- the raw input on top, as in 2012."""
    name = "contrast_norm"
    _check(f"{name} images", images, 4)
    _ints(name, size=size)
    _square(name, images)
    mean_diffs = images - local_mean(images, size=size)
    out, denoms = _within_map(name, images, mean_diffs, size, scale, power)
    return out, denoms, mean_diffs


def response_norm_undo(
    out_grads: np.ndarray,
    denoms: np.ndarray,
    inputs: np.ndarray,
    acts: np.ndarray,
    *,
    size: int,
    scale: float,
    power: float,
    out: np.ndarray | None = None,
    scale_targets: float = 0.0,
    scale_output: float = 1.0,
    overwrite_acts: bool = False,
) -> np.ndarray:
    """Gradient of :func:`response_norm` (``inputs`` = its input images: exact) or of
    :func:`contrast_norm` (``inputs`` = its mean_diffs: the local mean held constant, as in
    2012). ``acts`` is the forward output (copied unless ``overwrite_acts``)."""
    name = "response_norm_undo"
    _check(f"{name} out_grads", out_grads, 4)
    _same_shapes(name, out_grads, denoms=denoms, inputs=inputs, acts=acts)
    _ints(name, size=size)
    C, S, _, N = out_grads.shape
    S = _square(name, out_grads)
    work = _undo_acts(name, acts, overwrite_acts)
    target = _out(name, out, out_grads.shape, scale_targets)
    abi.call(_lib(), "convnet_response_norm_undo", _ptr(out_grads), _ptr(denoms), _ptr(inputs),
             _ptr(work), _ptr(target), N, C, S, size, scale / (size * size), power,
             scale_targets, scale_output, None)
    return target


contrast_norm_undo = response_norm_undo


# -- emulator self-test ---------------------------------------------------------------------


def race_demo(values: np.ndarray, *, block_size: int = 64, with_barrier: bool = True) -> np.ndarray:
    """out[i] = values[i-1] + values[i] within blocks of ``block_size`` (see the C header):
    a kernel whose barrier can be removed, to show that seeded schedules expose the race."""
    _check("race_demo values", values, 1)
    out = np.empty_like(values)
    abi.call(_lib(), "convnet_race_demo", _ptr(values), _ptr(out), values.size, block_size,
             int(with_barrier), None)
    return out


def host() -> str:
    """'emulation': the library these bindings load."""
    return _lib().convnet_host().decode()


__all__ = [
    "agg_partial_sums",
    "contrast_norm",
    "contrast_norm_undo",
    "cross_map_norm",
    "cross_map_norm_undo",
    "filter_acts",
    "host",
    "img_acts",
    "local_avg_undo",
    "local_max_undo",
    "local_mean",
    "local_pool",
    "race_demo",
    "response_norm",
    "response_norm_undo",
    "set_schedule_seed",
    "set_worker_threads",
    "weight_acts",
]
