"""torch bindings of the kernels: custom operators with autograd, for the modern port.

Two levels:

* ``torch.ops.alexnet_cuda.*`` -- one custom operator per kernel routine, on tensors in the
  2012 layouts (images (C, H, W, N) and so on; see :mod:`alexnet.cuda.bindings_numpy`), float32
  and contiguous. The forward operators carry their 2012 gradients (``register_autograd``):
  filter_acts -> img_acts + weight_acts, local_pool -> max/avg undo, the norms -> their
  undo routines. CUDA tensors run the nvcc-built library on the tensor's device and current
  stream; CPU tensors run the same kernels through device emulation.
* NCHW functions (:func:`conv2d`, :func:`local_conv2d`, :func:`max_pool2d`,
  :func:`avg_pool2d`, :func:`cross_map_norm`, :func:`response_norm`, :func:`contrast_norm`)
  that take ordinary PyTorch tensors and parameters, convert to the 2012 layout, call the
  operators and convert back (as views: chaining them keeps the data images-minor with no
  extra copies). These are what the ``cuda-convnet`` backend of ``alexnet.modern`` wires in.

Bad input (wrong dtype, mixed devices, a non-contiguous tensor at the operator level, a
violated 2012 precondition) raises :class:`~alexnet.cuda.errors.KernelPreconditionError`
with one line before any kernel runs.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from alexnet.cuda import abi
from alexnet.cuda.build import load_library
from alexnet.cuda.errors import KernelPreconditionError
from alexnet.geometry import conv_output_size, pool_output_size

NS = "alexnet_cuda"


# -- plumbing -------------------------------------------------------------------------------


def _check(name: str, t: object, ndim: int | tuple[int, ...], *, contiguous: bool = True) -> Tensor:
    if not isinstance(t, Tensor):
        raise KernelPreconditionError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if t.dim() not in dims:
        want = " or ".join(str(d) for d in dims)
        raise KernelPreconditionError(
            f"{name}: expected {want} dimensions, got shape {tuple(t.shape)}"
        )
    if t.dtype != torch.float32:
        raise KernelPreconditionError(f"{name}: expected dtype torch.float32, got {t.dtype}")
    if t.device.type not in ("cpu", "cuda"):
        raise KernelPreconditionError(
            f"{name}: tensors must be on the CPU (emulated kernels) or a CUDA GPU, got {t.device}"
        )
    if contiguous and not t.is_contiguous():
        raise KernelPreconditionError(f"{name}: expected a contiguous tensor (call .contiguous())")
    return t


def _same_device(name: str, *tensors: Tensor) -> None:
    first = tensors[0].device
    for t in tensors[1:]:
        if t.device != first:
            raise KernelPreconditionError(
                f"{name}: all tensors must be on one device, got {first} and {t.device}"
            )


def _launch_target(t: Tensor) -> tuple[ctypes.CDLL, int | None]:
    """(library, stream) for tensors on t's device: emulation on CPU, nvcc build on CUDA."""
    if t.device.type == "cpu":
        return load_library("emulation"), None
    lib = load_library("cuda")
    index = t.device.index if t.device.index is not None else torch.cuda.current_device()
    abi.call(lib, "convnet_cuda_set_device", index)
    return lib, torch.cuda.current_stream(t.device).cuda_stream


def _p(t: Tensor) -> int:
    return t.data_ptr()


# -- convolution operators ------------------------------------------------------------------


def _filter_dims(name: str, filters: Tensor, conv: bool) -> tuple[int, int, int]:
    """(C', S, F) of a conv (C', S, S, F) or local (M, C', S, S, F) filter bank."""
    _check(f"{name} filters", filters, 4 if conv else 5)
    cg, s1, s2, f = filters.shape[-4:]
    if s1 != s2:
        raise KernelPreconditionError(f"{name}: filters must be square, got {s1} x {s2}")
    return cg, s1, f


@torch.library.custom_op(f"{NS}::filter_acts", mutates_args=())
def filter_acts(
    images: Tensor,
    filters: Tensor,
    num_modules_y: int,
    num_modules_x: int,
    padding_start: int,
    stride: int,
    groups: int,
    conv: bool,
    partial_sum: int,
) -> Tensor:
    """(C, H, W, N) images x filters -> (F, MY, MX, N); ``partial_sum`` is used by backward."""
    name = "filter_acts"
    _check(f"{name} images", images, 4)
    cg, S, F = _filter_dims(name, filters, conv)
    _same_device(name, images, filters)
    C, H, W, N = images.shape
    if cg * groups != C:
        raise KernelPreconditionError(
            f"{name}: filters have {cg} channels per group x {groups} groups, images have {C}"
        )
    if not conv and filters.shape[0] != num_modules_y * num_modules_x:
        raise KernelPreconditionError(
            f"{name}: local filters have {filters.shape[0]} modules, geometry gives "
            f"{num_modules_y} x {num_modules_x}"
        )
    out = images.new_empty((F, num_modules_y, num_modules_x, N))
    lib, stream = _launch_target(images)
    abi.call(lib, "convnet_filter_acts", _p(images), _p(filters), _p(out), N, N, C, H, W, F, S,
             num_modules_y, num_modules_x, padding_start, stride, groups, int(conv), 0.0, 1.0,
             stream)
    return out


@filter_acts.register_fake
def _(images, filters, num_modules_y, num_modules_x, padding_start, stride, groups, conv,
      partial_sum):
    return images.new_empty((filters.shape[-1], num_modules_y, num_modules_x, images.shape[3]))


@torch.library.custom_op(f"{NS}::img_acts", mutates_args=())
def img_acts(
    hid_acts: Tensor,
    filters: Tensor,
    img_size_y: int,
    img_size_x: int,
    padding_start: int,
    stride: int,
    groups: int,
    conv: bool,
) -> Tensor:
    """Gradient w.r.t. the images: hid_acts (F, MY, MX, N) -> (C, H, W, N)."""
    name = "img_acts"
    _check(f"{name} hid_acts", hid_acts, 4)
    cg, S, F = _filter_dims(name, filters, conv)
    _same_device(name, hid_acts, filters)
    F2, MY, MX, N = hid_acts.shape
    if F2 != F:
        raise KernelPreconditionError(f"{name}: hid_acts have {F2} filters, filters have {F}")
    C = cg * groups
    out = hid_acts.new_empty((C, img_size_y, img_size_x, N))
    lib, stream = _launch_target(hid_acts)
    abi.call(lib, "convnet_img_acts", _p(hid_acts), _p(filters), _p(out), N, C, img_size_y,
             img_size_x, F, S, MY, MX, padding_start, stride, groups, int(conv), 0.0, 1.0, stream)
    return out


@img_acts.register_fake
def _(hid_acts, filters, img_size_y, img_size_x, padding_start, stride, groups, conv):
    c = filters.shape[-4] * groups
    return hid_acts.new_empty((c, img_size_y, img_size_x, hid_acts.shape[3]))


def _weight_acts_shape(images: Tensor, hid_acts: Tensor, filter_size: int, groups: int,
                       conv: bool) -> tuple[int, ...]:
    cg = images.shape[0] // groups
    F, MY, MX, _ = hid_acts.shape
    base = (cg, filter_size, filter_size, F)
    return base if conv else (MY * MX, *base)


@torch.library.custom_op(f"{NS}::weight_acts", mutates_args=())
def weight_acts(
    images: Tensor,
    hid_acts: Tensor,
    filter_size: int,
    padding_start: int,
    stride: int,
    groups: int,
    partial_sum: int,
    conv: bool,
) -> Tensor:
    """Gradient w.r.t. the filters: (C/G, S, S, F) for conv (partialSum chunks summed in
    order), (M, C/G, S, S, F) for local (partialSum 1)."""
    name = "weight_acts"
    _check(f"{name} images", images, 4)
    _check(f"{name} hid_acts", hid_acts, 4)
    _same_device(name, images, hid_acts)
    C, H, W, N = images.shape
    F, MY, MX, N2 = hid_acts.shape
    if N2 != N:
        raise KernelPreconditionError(f"{name}: images have {N} cases, hid_acts have {N2}")
    if groups <= 0 or C % groups:
        raise KernelPreconditionError(f"{name}: {C} channels do not split into {groups} groups")
    M = MY * MX
    P = 1 if not conv else (M if partial_sum == 0 else partial_sum)
    if P <= 0 or M % P:
        raise KernelPreconditionError(
            f"{name}: partial_sum ({partial_sum}) must divide the number of modules ({M})"
        )
    chunks = M // P
    out = images.new_empty(_weight_acts_shape(images, hid_acts, filter_size, groups, conv))
    lib, stream = _launch_target(images)
    args = (N, N, C, H, W, F, filter_size, MY, MX, padding_start, stride, groups, P)
    if not conv or chunks == 1:
        abi.call(lib, "convnet_weight_acts", _p(images), _p(hid_acts), _p(out), *args, 0.0, 1.0,
                 stream)
        return out
    partials = images.new_empty((chunks, *out.shape))
    abi.call(lib, "convnet_weight_acts", _p(images), _p(hid_acts), _p(partials), *args, 0.0,
             1.0, stream)
    abi.call(lib, "convnet_agg_partial_sums", _p(partials), _p(out), chunks, out.numel(), 0.0,
             1.0, stream)
    return out


@weight_acts.register_fake
def _(images, hid_acts, filter_size, padding_start, stride, groups, partial_sum, conv):
    return images.new_empty(_weight_acts_shape(images, hid_acts, filter_size, groups, conv))


def _filter_acts_setup(ctx, inputs, output) -> None:
    images, filters, _my, _mx, padding_start, stride, groups, conv, partial_sum = inputs
    ctx.save_for_backward(images, filters)
    ctx.geom = (padding_start, stride, groups, conv, partial_sum)


def _filter_acts_backward(ctx, grad: Tensor):
    images, filters = ctx.saved_tensors
    padding_start, stride, groups, conv, partial_sum = ctx.geom
    grad = grad.contiguous()
    g_images = g_filters = None
    if ctx.needs_input_grad[0]:
        g_images = img_acts(grad, filters, images.shape[1], images.shape[2], padding_start,
                            stride, groups, conv)
    if ctx.needs_input_grad[1]:
        g_filters = weight_acts(images, grad, filters.shape[-2], padding_start, stride, groups,
                                partial_sum, conv)
    return g_images, g_filters, None, None, None, None, None, None, None


torch.library.register_autograd(
    f"{NS}::filter_acts", _filter_acts_backward, setup_context=_filter_acts_setup
)


# -- pooling operators ------------------------------------------------------------------------


def _square(name: str, t: Tensor) -> int:
    if t.shape[1] != t.shape[2]:
        raise KernelPreconditionError(
            f"{name}: the 2012 pooling/normalisation kernels need square maps, got "
            f"{t.shape[1]} x {t.shape[2]}"
        )
    return t.shape[1]


@torch.library.custom_op(f"{NS}::local_pool", mutates_args=())
def local_pool(images: Tensor, pool: str, size: int, start: int, stride: int,
               outputs: int) -> Tensor:
    """Pool (C, S, S, N) -> (C, outputs, outputs, N); pool is "max", "avg" or "maxabs"."""
    name = "local_pool"
    _check(f"{name} images", images, 4)
    if pool not in abi.POOL_TYPES:
        raise KernelPreconditionError(f"{name}: pool must be max, avg or maxabs, got {pool!r}")
    C, S, _, N = images.shape
    S = _square(name, images)
    out = images.new_empty((C, outputs, outputs, N))
    lib, stream = _launch_target(images)
    abi.call(lib, "convnet_local_pool", _p(images), _p(out), N, C, S, abi.POOL_TYPES[pool], size,
             start, stride, outputs, stream)
    return out


@local_pool.register_fake
def _(images, pool, size, start, stride, outputs):
    return images.new_empty((images.shape[0], outputs, outputs, images.shape[3]))


@torch.library.custom_op(f"{NS}::local_max_undo", mutates_args=())
def local_max_undo(images: Tensor, max_grads: Tensor, max_acts: Tensor, size: int, start: int,
                   stride: int) -> Tensor:
    """Max-pool gradient (every tied maximum credited) -> images' shape."""
    name = "local_max_undo"
    for key, t in (("images", images), ("max_grads", max_grads), ("max_acts", max_acts)):
        _check(f"{name} {key}", t, 4)
    _same_device(name, images, max_grads, max_acts)
    C, S, _, N = images.shape
    S = _square(name, images)
    if max_grads.shape != max_acts.shape:
        raise KernelPreconditionError(
            f"{name}: max_grads {tuple(max_grads.shape)} != max_acts {tuple(max_acts.shape)}"
        )
    out = torch.empty_like(images)
    lib, stream = _launch_target(images)
    abi.call(lib, "convnet_local_max_undo", _p(images), _p(max_grads), _p(max_acts), _p(out), N,
             C, S, size, start, stride, max_acts.shape[1], 0.0, 1.0, stream)
    return out


@local_max_undo.register_fake
def _(images, max_grads, max_acts, size, start, stride):
    return torch.empty_like(images)


@torch.library.custom_op(f"{NS}::local_avg_undo", mutates_args=())
def local_avg_undo(avg_grads: Tensor, img_size: int, size: int, start: int,
                   stride: int) -> Tensor:
    """Average-pool gradient: (C, O, O, N) -> (C, img_size, img_size, N)."""
    name = "local_avg_undo"
    _check(f"{name} avg_grads", avg_grads, 4)
    C, O, _, N = avg_grads.shape
    O = _square(name, avg_grads)
    out = avg_grads.new_empty((C, img_size, img_size, N))
    lib, stream = _launch_target(avg_grads)
    abi.call(lib, "convnet_local_avg_undo", _p(avg_grads), _p(out), N, C, img_size, size, start,
             stride, O, 0.0, 1.0, stream)
    return out


@local_avg_undo.register_fake
def _(avg_grads, img_size, size, start, stride):
    c, _, _, n = avg_grads.shape
    return avg_grads.new_empty((c, img_size, img_size, n))


def _pool_setup(ctx, inputs, output) -> None:
    images, pool, size, start, stride, _outputs = inputs
    ctx.save_for_backward(images, output)
    ctx.geom = (pool, size, start, stride)


def _pool_backward(ctx, grad: Tensor):
    images, output = ctx.saved_tensors
    pool, size, start, stride = ctx.geom
    grad = grad.contiguous()
    if pool == "max":
        g = local_max_undo(images, grad, output, size, start, stride)
    elif pool == "avg":
        g = local_avg_undo(grad, images.shape[1], size, start, stride)
    else:
        raise KernelPreconditionError(
            "local_pool: max-abs pooling has no gradient kernel (none existed in 2012)"
        )
    return g, None, None, None, None, None


torch.library.register_autograd(f"{NS}::local_pool", _pool_backward, setup_context=_pool_setup)


# -- normalisation operators -----------------------------------------------------------------


@torch.library.custom_op(f"{NS}::cross_map_norm", mutates_args=())
def cross_map_norm_op(images: Tensor, size: int, add_scale: float, power: float, min_div: float,
                      blocked: bool) -> tuple[Tensor, Tensor]:
    """(out, denoms) of cross-map normalisation; add_scale is the cfg scale / size."""
    name = "cross_map_norm"
    _check(f"{name} images", images, 4)
    C, S, _, N = images.shape
    S = _square(name, images)
    out = torch.empty_like(images)
    denoms = torch.empty_like(images)
    lib, stream = _launch_target(images)
    abi.call(lib, "convnet_response_norm_cross_map", _p(images), _p(denoms), _p(out), N, C, S,
             size, add_scale, power, min_div, int(blocked), stream)
    return out, denoms


@cross_map_norm_op.register_fake
def _(images, size, add_scale, power, min_div, blocked):
    return torch.empty_like(images), torch.empty_like(images)


@torch.library.custom_op(f"{NS}::cross_map_norm_undo", mutates_args=())
def cross_map_norm_undo(grads: Tensor, denoms: Tensor, inputs: Tensor, acts: Tensor, size: int,
                        add_scale: float, power: float, blocked: bool) -> Tensor:
    """Gradient of cross_map_norm (``acts`` is copied: the kernel overwrites its argument)."""
    name = "cross_map_norm_undo"
    ts = {"grads": grads, "denoms": denoms, "inputs": inputs, "acts": acts}
    for key, t in ts.items():
        _check(f"{name} {key}", t, 4)
        if t.shape != grads.shape:
            raise KernelPreconditionError(f"{name}: {key} shape {tuple(t.shape)} != grads shape")
    _same_device(name, *ts.values())
    C, S, _, N = grads.shape
    S = _square(name, grads)
    work = acts.clone()
    out = torch.empty_like(grads)
    lib, stream = _launch_target(grads)
    abi.call(lib, "convnet_response_norm_cross_map_undo", _p(grads), _p(denoms), _p(inputs),
             _p(work), _p(out), N, C, S, size, add_scale, power, int(blocked), 0.0, 1.0, stream)
    return out


@cross_map_norm_undo.register_fake
def _(grads, denoms, inputs, acts, size, add_scale, power, blocked):
    return torch.empty_like(grads)


def _cross_map_setup(ctx, inputs, output) -> None:
    images, size, add_scale, power, _min_div, blocked = inputs
    out, denoms = output
    ctx.mark_non_differentiable(denoms)
    ctx.save_for_backward(images, out, denoms)
    ctx.geom = (size, add_scale, power, blocked)


def _cross_map_backward(ctx, grad_out: Tensor, _grad_denoms: Tensor | None):
    images, out, denoms = ctx.saved_tensors
    size, add_scale, power, blocked = ctx.geom
    g = cross_map_norm_undo(grad_out.contiguous(), denoms, images, out, size, add_scale, power,
                            blocked)
    return g, None, None, None, None, None


torch.library.register_autograd(
    f"{NS}::cross_map_norm", _cross_map_backward, setup_context=_cross_map_setup
)


def _within_map_forward(name: str, images: Tensor, mean_diffs: Tensor, size: int,
                        add_scale: float, power: float) -> tuple[Tensor, Tensor]:
    C, S, _, N = images.shape
    out = torch.empty_like(images)
    denoms = torch.empty_like(images)
    lib, stream = _launch_target(images)
    abi.call(lib, "convnet_contrast_norm", _p(images), _p(mean_diffs), _p(denoms), _p(out), N, C,
             S, size, add_scale, power, stream)
    return out, denoms


@torch.library.custom_op(f"{NS}::response_norm", mutates_args=())
def response_norm_op(images: Tensor, size: int, add_scale: float,
                     power: float) -> tuple[Tensor, Tensor]:
    """(out, denoms) of within-map response normalisation; add_scale = cfg scale / size^2."""
    _check("response_norm images", images, 4)
    _square("response_norm", images)
    return _within_map_forward("response_norm", images, images, size, add_scale, power)


@response_norm_op.register_fake
def _(images, size, add_scale, power):
    return torch.empty_like(images), torch.empty_like(images)


@torch.library.custom_op(f"{NS}::contrast_norm", mutates_args=())
def contrast_norm_op(images: Tensor, size: int, add_scale: float,
                     power: float) -> tuple[Tensor, Tensor, Tensor]:
    """(out, denoms, mean_diffs) of contrast normalisation; the local mean is an average pool
    (size, stride 1, start -size/2) of the same kernels."""
    name = "contrast_norm"
    _check(f"{name} images", images, 4)
    S = _square(name, images)
    mean = local_pool(images, "avg", size, -(size // 2), 1, S)
    mean_diffs = images - mean
    out, denoms = _within_map_forward(name, images, mean_diffs, size, add_scale, power)
    return out, denoms, mean_diffs


@contrast_norm_op.register_fake
def _(images, size, add_scale, power):
    return torch.empty_like(images), torch.empty_like(images), torch.empty_like(images)


@torch.library.custom_op(f"{NS}::response_norm_undo", mutates_args=())
def response_norm_undo(grads: Tensor, denoms: Tensor, inputs: Tensor, acts: Tensor, size: int,
                       add_scale: float, power: float) -> Tensor:
    """Gradient of response_norm (inputs = images) or contrast_norm (inputs = mean_diffs, the
    mean held constant as in 2012). ``acts`` is copied: the kernel overwrites its argument."""
    name = "response_norm_undo"
    ts = {"grads": grads, "denoms": denoms, "inputs": inputs, "acts": acts}
    for key, t in ts.items():
        _check(f"{name} {key}", t, 4)
        if t.shape != grads.shape:
            raise KernelPreconditionError(f"{name}: {key} shape {tuple(t.shape)} != grads shape")
    _same_device(name, *ts.values())
    C, S, _, N = grads.shape
    S = _square(name, grads)
    work = acts.clone()
    out = torch.empty_like(grads)
    lib, stream = _launch_target(grads)
    abi.call(lib, "convnet_response_norm_undo", _p(grads), _p(denoms), _p(inputs), _p(work),
             _p(out), N, C, S, size, add_scale, power, 0.0, 1.0, stream)
    return out


@response_norm_undo.register_fake
def _(grads, denoms, inputs, acts, size, add_scale, power):
    return torch.empty_like(grads)


def _rnorm_setup(ctx, inputs, output) -> None:
    images, size, add_scale, power = inputs
    out, denoms = output
    ctx.mark_non_differentiable(denoms)
    ctx.save_for_backward(images, out, denoms)
    ctx.geom = (size, add_scale, power)


def _rnorm_backward(ctx, grad_out: Tensor, _grad_denoms: Tensor | None):
    images, out, denoms = ctx.saved_tensors
    size, add_scale, power = ctx.geom
    g = response_norm_undo(grad_out.contiguous(), denoms, images, out, size, add_scale, power)
    return g, None, None, None


def _cnorm_setup(ctx, inputs, output) -> None:
    _images, size, add_scale, power = inputs
    out, denoms, mean_diffs = output
    ctx.mark_non_differentiable(denoms, mean_diffs)
    ctx.save_for_backward(mean_diffs, out, denoms)
    ctx.geom = (size, add_scale, power)


def _cnorm_backward(ctx, grad_out: Tensor, _grad_denoms: Tensor | None,
                    _grad_mean_diffs: Tensor | None):
    mean_diffs, out, denoms = ctx.saved_tensors
    size, add_scale, power = ctx.geom
    g = response_norm_undo(grad_out.contiguous(), denoms, mean_diffs, out, size, add_scale, power)
    return g, None, None, None


torch.library.register_autograd(
    f"{NS}::response_norm", _rnorm_backward, setup_context=_rnorm_setup
)
torch.library.register_autograd(
    f"{NS}::contrast_norm", _cnorm_backward, setup_context=_cnorm_setup
)


# -- NCHW functions for the modern port ----------------------------------------------------------


def _nchw(name: str, x: object) -> Tensor:
    return _check(name, x, 4, contiguous=False)


def _to_2012(x: Tensor) -> Tensor:
    """NCHW -> (C, H, W, N), contiguous (free when x came from one of these functions)."""
    return x.permute(1, 2, 3, 0).contiguous()


def _from_2012(t: Tensor) -> Tensor:
    """(C, H, W, N) -> an NCHW view (no copy)."""
    return t.permute(3, 0, 1, 2)


def _add_bias(name: str, y: Tensor, bias: Tensor | None) -> Tensor:
    if bias is None:
        return y
    _check(f"{name} bias", bias, (1, 3), contiguous=False)
    _same_device(name, y, bias)
    f, my, mx = y.shape[1:]
    if bias.dim() == 1 and bias.shape[0] == f:
        return y + bias.view(1, f, 1, 1)
    if bias.dim() == 3 and tuple(bias.shape) == (f, my, mx):
        return y + bias
    raise KernelPreconditionError(
        f"{name}: bias must have shape ({f},) or ({f}, {my}, {mx}), got {tuple(bias.shape)}"
    )


def _ints(name: str, **values: object) -> None:
    for key, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool):
            raise KernelPreconditionError(f"{name}: {key} must be an int, got {v!r}")


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
    partial_sum: int = 0,
) -> Tensor:
    """cfg ``type=conv`` with the 2012 kernels: x (N, C, H, W), weight (F, C/groups, S, S),
    bias (F,) or (F, MY, MX); output (N, F, MY, MX) with MY, MX by the 2012 ceil rule (so the
    bottom/right may read up to stride-1 extra zero rows/columns). ``partial_sum`` only
    changes the summation order of the weight gradient, as in 2012."""
    name = "conv2d"
    _nchw(f"{name} x", x)
    _check(f"{name} weight", weight, 4, contiguous=False)
    _same_device(name, x, weight)
    _ints(name, stride=stride, padding=padding, groups=groups, partial_sum=partial_sum)
    if padding < 0:
        raise KernelPreconditionError(f"{name}: padding must be >= 0, got {padding}")
    S = weight.shape[-1]
    H, W = x.shape[2], x.shape[3]
    my = conv_output_size(H, filter_size=S, stride=stride, padding=padding)
    mx = conv_output_size(W, filter_size=S, stride=stride, padding=padding)
    filters = weight.permute(1, 2, 3, 0).contiguous()
    out = filter_acts(_to_2012(x), filters, my, mx, -padding, stride, groups, True, partial_sum)
    return _add_bias(name, _from_2012(out), bias)


def local_conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    *,
    filter_size: int,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> Tensor:
    """cfg ``type=local`` (unshared filters): weight (M, C/groups*S*S, F) -- the 2012 matrix
    (M*C'*S*S, F) viewed 3-D, as ``alexnet.modern`` keeps it -- or (M, C/groups, S, S, F);
    bias (F, MY, MX) or (F,). Output (N, F, MY, MX)."""
    name = "local_conv2d"
    _nchw(f"{name} x", x)
    _check(f"{name} weight", weight, (3, 5), contiguous=False)
    _same_device(name, x, weight)
    _ints(name, filter_size=filter_size, stride=stride, padding=padding, groups=groups)
    if padding < 0:
        raise KernelPreconditionError(f"{name}: padding must be >= 0, got {padding}")
    N, C, H, W = x.shape
    S = filter_size
    if groups <= 0 or C % groups:
        raise KernelPreconditionError(f"{name}: {C} channels do not split into {groups} groups")
    cg = C // groups
    my = conv_output_size(H, filter_size=S, stride=stride, padding=padding)
    mx = conv_output_size(W, filter_size=S, stride=stride, padding=padding)
    if weight.dim() == 3:
        m, k, f = weight.shape
        if k != cg * S * S:
            raise KernelPreconditionError(
                f"{name}: weight has {k} rows per module, expected C/groups*S*S = {cg * S * S}"
            )
        weight = weight.reshape(m, cg, S, S, f)
    filters = weight.contiguous()
    out = filter_acts(_to_2012(x), filters, my, mx, -padding, stride, groups, False, 1)
    return _add_bias(name, _from_2012(out), bias)


def pool2d(
    x: Tensor, mode: str, size: int, stride: int, start: int = 0, outputs: int | None = None
) -> Tensor:
    """cfg ``type=pool`` (``pool=max|avg``, plus "maxabs" forward only): clipped windows
    starting at ``start``; ``outputs`` defaults to the 2012 ceil rule."""
    name = f"{mode}_pool2d"
    _nchw(f"{name} x", x)
    _ints(name, size=size, stride=stride, start=start)
    if x.shape[2] != x.shape[3]:
        raise KernelPreconditionError(f"{name}: maps must be square, got {tuple(x.shape[2:])}")
    if outputs is None:
        outputs = pool_output_size(x.shape[2], size=size, stride=stride, start=start)
    return _from_2012(local_pool(_to_2012(x), mode, size, start, stride, outputs))


def max_pool2d(x: Tensor, size: int, stride: int, start: int = 0,
               outputs: int | None = None) -> Tensor:
    """Max pooling; backward credits every tied maximum (2012), unlike torch's."""
    return pool2d(x, "max", size, stride, start, outputs)


def avg_pool2d(x: Tensor, size: int, stride: int, start: int = 0,
               outputs: int | None = None) -> Tensor:
    """Average pooling dividing by the in-image pixel count of each window."""
    return pool2d(x, "avg", size, stride, start, outputs)


def cross_map_norm(x: Tensor, size: int, scale: float, power: float, min_div: float = 1.0,
                   blocked: bool = False) -> Tensor:
    """cfg ``type=cmrnorm`` (the paper's LRN) with the cfg's ``scale``, ``pow``, ``minDiv``:
    d = minDiv + (scale/size) * sum over the channel window of x^2, out = x * d^-pow."""
    _nchw("cross_map_norm x", x)
    _ints("cross_map_norm", size=size)
    out, _denoms = cross_map_norm_op(_to_2012(x), size, scale / size, power, min_div, blocked)
    return _from_2012(out)


def response_norm(x: Tensor, size: int, scale: float, power: float) -> Tensor:
    """cfg ``type=rnorm``: d = 1 + (scale/size^2) * sum of x^2 over the size x size window."""
    _nchw("response_norm x", x)
    _ints("response_norm", size=size)
    out, _denoms = response_norm_op(_to_2012(x), size, scale / (size * size), power)
    return _from_2012(out)


def contrast_norm(x: Tensor, size: int, scale: float, power: float) -> Tensor:
    """cfg ``type=cnorm``: as rnorm on x minus its clipped local mean (numerator x); the
    backward holds the mean constant, as the 2012 kernels did."""
    _nchw("contrast_norm x", x)
    _ints("contrast_norm", size=size)
    out, _denoms, _md = contrast_norm_op(_to_2012(x), size, scale / (size * size), power)
    return _from_2012(out)


def available_devices() -> list[str]:
    """Device types these ops can run on here: always "cpu" (emulation); "cuda" when torch
    sees a GPU (the nvcc library is then built on first use)."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


__all__ = [
    "avg_pool2d",
    "available_devices",
    "contrast_norm",
    "contrast_norm_op",
    "conv2d",
    "cross_map_norm",
    "cross_map_norm_op",
    "cross_map_norm_undo",
    "filter_acts",
    "img_acts",
    "local_avg_undo",
    "local_conv2d",
    "local_max_undo",
    "local_pool",
    "max_pool2d",
    "pool2d",
    "response_norm",
    "response_norm_op",
    "response_norm_undo",
    "weight_acts",
]
