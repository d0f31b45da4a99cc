"""Compute backends for the port: PyTorch's own operators, or the project's 2012 kernels.

The package promises that the re-creation and the port share one set of kernels. The
port's layer modules (:mod:`alexnet.modern.layers`, :mod:`alexnet.modern.cfgnet`)
compute with PyTorch by default (backend ``numpy``, alias ``torch``: each
implementation's own reference arithmetic); :func:`use_backend` with ``emulated`` (alias
``cuda-convnet``) or ``cuda`` re-routes the layers that were CUDA kernels in 2012 —
convolution (shared and local), pooling, cross-map, same-map and contrast normalisation —
to :mod:`alexnet.cuda.bindings_torch`. On a CPU those run under the project's device
emulation (slowly, faithfully); on CUDA tensors the nvcc build runs.
Elementwise layers (neurons, dropout, softmax, fc) stay in PyTorch, as they were plain
matrix code in 2012 too. The names are the project's one backend vocabulary
(:data:`alexnet.registry.BACKENDS`, which also says what each means for the re-creation).

The switch is per module instance, so one model can be compared against itself: build
it, copy it, put the copy on the other backend.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import torch
from torch import Tensor, nn

from alexnet import registry
from alexnet.errors import BackendUnavailable
from alexnet.modern import cfgnet, layers


def _ops():
    try:
        from alexnet.cuda import bindings_torch
    except ImportError as exc:  # pragma: no cover - the package ships with the project
        raise BackendUnavailable(
            f"cuda-convnet backend: cannot import the kernels ({exc})") from None
    return bindings_torch


def _dense(x: Tensor) -> Tensor:
    # The kernels want plain NCHW memory; the port may run channels-last.
    return x.contiguous(memory_format=torch.contiguous_format)


def _conv2012(self: layers.Conv2012, x: Tensor) -> Tensor:
    return _ops().conv2d(_dense(x), self.weight, self.bias, stride=self.stride,
                         padding=self.padding, groups=self.groups)


def _local2012(self: layers.LocalUnshared2012, x: Tensor) -> Tensor:
    return _ops().local_conv2d(_dense(x), self.weight, self.bias, filter_size=self.filter_size,
                               stride=self.stride, padding=self.padding, groups=self.groups)


def _multiconv(self: cfgnet.MultiConv, *xs: Tensor) -> Tensor:
    ops = _ops()
    y = None
    for i, x in enumerate(xs):
        s, stride, pad, g, shape = self.spec[i]
        x = _dense(cfgnet._as_image(x, shape))
        bias = self.biases if i == 0 else None
        if self.local:
            t = ops.local_conv2d(x, self.weights[i], bias, filter_size=s, stride=stride,
                                 padding=pad, groups=g)
        else:
            t = ops.conv2d(x, self.weights[i], bias, stride=stride, padding=pad, groups=g)
        y = t if y is None else y + t
    return y


def _lrn(self: layers.CrossMapLRN, x: Tensor) -> Tensor:
    ops = _ops()
    towers = torch.chunk(_dense(x), self.groups, dim=1) if self.groups > 1 else (_dense(x),)
    out = [ops.cross_map_norm(_dense(t), self.size, self.alpha, self.beta, self.k, self.blocked)
           for t in towers]
    return _own(out[0]) if len(out) == 1 else torch.cat(out, dim=1)


def _rnorm(self: layers.ResponseNorm, x: Tensor) -> Tensor:
    op = _ops().contrast_norm if self.centered else _ops().response_norm
    return _own(op(_dense(x), self.size, self.scale, self.beta))


def _pool(self: layers.Pool2012, x: Tensor) -> Tensor:
    out = _ops().pool2d(_dense(x), self.mode, self.size, self.stride, self.start,
                        self.outputs or None)
    return _own(out)


def _own(out: Tensor) -> Tensor:
    # The kernels' backward reads the forward output (max-undo, norm-undo). The port
    # applies some ReLUs in place; give it a copy so the saved output stays intact.
    return out.clone()


# Order matters: ContrastNorm is a ResponseNorm, handled by the same function.
_ROUTES: tuple[tuple[type, Callable], ...] = (
    (cfgnet.MultiConv, _multiconv),
    (layers.Conv2012, _conv2012),
    (layers.LocalUnshared2012, _local2012),
    (layers.CrossMapLRN, _lrn),
    (layers.ResponseNorm, _rnorm),
    (layers.Pool2012, _pool),
)


def use_backend(model: nn.Module, backend: str) -> nn.Module:
    """Route ``model``'s kernel layers to ``backend`` (a name of
    :data:`alexnet.registry.BACKENDS` or an alias), in place.

    Returns the model; the name as given is kept as ``model.backend``. Switching back to
    "numpy" (or "torch") restores the modules' own forward methods. ``emulated`` and
    ``cuda`` route the same way (the tensors' device picks the emulation or the GPU
    build); ``cuda`` is refused on a machine without a usable GPU.
    """
    spec = registry.backend(backend)
    if spec.needs_gpu and not torch.cuda.is_available():
        raise BackendUnavailable(f"backend {backend!r} is not available: no usable NVIDIA "
                                 "GPU (torch.cuda.is_available() is False)")
    if spec.port == "kernels":
        _ops()  # fail early, with the kernels' own message, if they cannot load
    for module in model.modules():
        for cls, fn in _ROUTES:
            if isinstance(module, cls):
                if spec.port == "torch":
                    module.__dict__.pop("forward", None)
                else:
                    module.forward = types.MethodType(fn, module)
                break
    model.backend = backend
    return model
