"""Compute backends for the engine: where the 2012 C++/CUDA layer arithmetic now runs.

In 2012 every layer called the cudaconv2 library (``src/layer.cu`` L815-L1006,
L1273-L1623) through NVMatrix. The engine here calls a backend object with the same
vocabulary instead: conv filter/image/weight "acts", pooling and its undo, the three
normalisations. The backend names are the project's one vocabulary
(:data:`alexnet.registry.BACKENDS`, which also says what each name means for the port);
for the engine they mean:

``numpy``
    :mod:`alexnet.original.ops_numpy`, a reference in the 2012 memory layout (the
    part of the 2012 tree closest to it is the CPU reference code ``src/cpuCNN.cu``).

``emulated`` (alias ``cuda-convnet``, the engine's earlier name)
    the project's own cudaconv2-style kernels (``cuda/``, C ABI declared in
    ``cuda/include/convnet_kernels.h``) through their numpy bindings
    ``alexnet.cuda.bindings_numpy``: the same kernel text a GPU runs, executed on the CPU by
    the project's device emulator (slow: it is for checking numerics, not for speed).
    Same arrays, same 2012 layouts; conv filter/image/weight acts (with partialSum
    chunks summed in order), pooling and its undo, and the three normalisations run in
    the kernels; what the kernels do not cover (fc GEMMs, neurons, softmax, costs,
    blur, nailbed) stays in numpy, as in 2012 NVMatrix did those.

``cuda``
    not available to the engine: it has no GPU host (the port can run the kernels on a
    GPU; see :mod:`alexnet.modern.backend`).

A backend is any object with the attributes of :class:`Backend`; the engine never
looks further than that.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np

from alexnet import registry
from alexnet.errors import AlexNetError, BackendUnavailable
from alexnet.original import ops_numpy
from alexnet.original.ops_numpy import ConvGeom

#: where the cuda helper's bindings are expected (a module exposing the ops_numpy names)
CUDA_BINDINGS = ("alexnet.cuda.bindings_numpy",)

#: the operations a backend provides (same signatures as in ops_numpy)
OPERATIONS = (
    "patches", "filter_acts", "img_acts", "weight_acts", "pool_forward", "pool_backward",
    "cmrnorm_forward", "cmrnorm_backward", "rnorm_forward", "rnorm_backward", "local_mean",
)


class Backend:
    """A named bundle of layer operations (defaults: the numpy reference)."""

    name = "numpy"

    def __init__(self, overrides: Any = None):
        for op in OPERATIONS:
            impl = getattr(overrides, op, None) if overrides is not None else None
            setattr(self, op, impl if impl is not None else getattr(ops_numpy, op))
        # everything else (fc, neurons, softmax, costs, blur, nailbed) is numpy in all backends
        self.np = ops_numpy

    def describe(self) -> str:
        return self.name


class NumpyBackend(Backend):
    name = "numpy"


class CudaConvnetBackend(Backend):
    """The shared cuda/ kernels; refuses clearly when their bindings are not importable."""

    name = "emulated"

    def __init__(self) -> None:
        mod = None
        errors = []
        for modname in CUDA_BINDINGS:
            try:
                mod = importlib.import_module(modname)
                break
            except ImportError as exc:
                errors.append(f"{modname}: {exc}")
        if mod is None:
            raise BackendUnavailable(
                f"backend {self.name!r} needs the Python bindings of the cuda/ kernels, which "
                "are not importable here (" + "; ".join(errors) + "); use --backend=numpy"
            )
        try:
            host = mod.host()            # builds (or finds) the kernel library
        except AlexNetError as exc:
            raise BackendUnavailable(f"backend {self.name!r} is not usable here: {exc}") from None
        super().__init__(_KernelOps(mod))
        self.module = mod
        self.host = host

    def describe(self) -> str:
        return f"{self.name} (the cuda/ kernels on the {self.host} host)"


class _KernelOps:
    """Adapts the kernels' bindings (4-D arrays, keyword arguments, cfg-valued norm
    constants) to the engine's vocabulary (2-D ``(features, cases)`` arrays, the parsed
    dict's constants, already divided by the window as 2012's parser did)."""

    def __init__(self, k: Any):
        self.k = k

    @staticmethod
    def _img(x: np.ndarray, channels: int) -> np.ndarray:
        n = x.shape[1]
        size = int(round(math.sqrt(x.shape[0] // channels)))
        return np.ascontiguousarray(x, dtype=np.float32).reshape(channels, size, size, n)

    @staticmethod
    def _filters(w: np.ndarray, g: ConvGeom) -> np.ndarray:
        s, cg = g.filter_size, g.group_channels
        shape = (cg, s, s, g.filters) if not g.local else (g.modules, cg, s, s, g.filters)
        return np.ascontiguousarray(w, dtype=np.float32).reshape(shape)

    def patches(self, images: np.ndarray, g: ConvGeom, scratch=None) -> None:
        return None                      # the kernels stage patches in shared memory

    def filter_acts(self, images, filters, g: ConvGeom, cols=None) -> np.ndarray:
        out = self.k.filter_acts(self._img(images, g.channels), self._filters(filters, g),
                                 padding_start=-g.padding, stride=g.stride, groups=g.groups,
                                 conv=not g.local, modules=(g.mx, g.mx))
        return out.reshape(-1, images.shape[1])

    def img_acts(self, hid, filters, g: ConvGeom, scratch=None) -> np.ndarray:
        n = hid.shape[1]
        h4 = np.ascontiguousarray(hid, dtype=np.float32).reshape(g.filters, g.mx, g.mx, n)
        out = self.k.img_acts(h4, self._filters(filters, g), image_size=g.img_size,
                              padding_start=-g.padding, stride=g.stride, groups=g.groups,
                              conv=not g.local)
        return out.reshape(-1, n)

    def weight_acts(self, images, hid, g: ConvGeom, cols=None) -> np.ndarray:
        n = hid.shape[1]
        h4 = np.ascontiguousarray(hid, dtype=np.float32).reshape(g.filters, g.mx, g.mx, n)
        out = self.k.weight_acts(self._img(images, g.channels), h4, filter_size=g.filter_size,
                                 padding_start=-g.padding, stride=g.stride, groups=g.groups,
                                 partial_sum=g.partial_sum, conv=not g.local)
        return out.reshape(-1, g.filters)

    def pool_forward(self, x, channels, img_size, size, start, stride, ox, kind):
        out = self.k.local_pool(self._img(x, channels), pool=kind, size=size, stride=stride,
                                start=start, outputs=ox)
        return out.reshape(-1, x.shape[1])

    def pool_backward(self, x, out, grad, channels, img_size, size, start, stride, ox, kind):
        n = grad.shape[1]
        g4 = np.ascontiguousarray(grad, dtype=np.float32).reshape(channels, ox, ox, n)
        if kind == "max":
            o4 = np.ascontiguousarray(out, dtype=np.float32).reshape(channels, ox, ox, n)
            res = self.k.local_max_undo(self._img(x, channels), g4, o4, size=size,
                                        stride=stride, start=start)
        else:
            res = self.k.local_avg_undo(g4, image_size=img_size, size=size, stride=stride,
                                        start=start)
        return res.reshape(-1, n)

    def cmrnorm_forward(self, x, channels, size, scale, pow_, min_div, blocked=False):
        out, d = self.k.cross_map_norm(self._img(x, channels), size=size, scale=scale * size,
                                       power=pow_, min_div=min_div, blocked=blocked)
        return out.reshape(x.shape), d.reshape(x.shape)

    def cmrnorm_backward(self, grad, x, out, denoms, channels, size, scale, pow_, blocked=False):
        res = self.k.cross_map_norm_undo(self._img(grad, channels), self._img(denoms, channels),
                                         self._img(x, channels), self._img(out, channels),
                                         size=size, scale=scale * size, power=pow_,
                                         blocked=blocked)
        return res.reshape(grad.shape)

    def rnorm_forward(self, x, channels, img_size, size, scale, pow_, mean_diffs=None):
        x4 = self._img(x, channels)
        if mean_diffs is None:
            out, d = self.k.response_norm(x4, size=size, scale=scale * size * size, power=pow_)
        else:   # the kernels recompute the same local mean (local_mean below is theirs)
            out, d, _ = self.k.contrast_norm(x4, size=size, scale=scale * size * size,
                                             power=pow_)
        return out.reshape(x.shape), d.reshape(x.shape)

    def rnorm_backward(self, grad, inputs, out, denoms, channels, img_size, size, scale, pow_):
        res = self.k.response_norm_undo(self._img(grad, channels), self._img(denoms, channels),
                                        self._img(inputs, channels), self._img(out, channels),
                                        size=size, scale=scale * size * size, power=pow_)
        return res.reshape(grad.shape)

    def local_mean(self, x, channels, img_size, size):
        return self.k.local_mean(self._img(x, channels), size=size).reshape(x.shape)


#: the registry's engine implementations -> the classes that provide them
IMPLEMENTATIONS: dict[str, type[Backend]] = {"numpy": NumpyBackend,
                                             "kernels": CudaConvnetBackend}


def get_backend(name: str | Backend) -> Backend:
    """A backend by a name of :data:`alexnet.registry.BACKENDS` (or an alias), or pass an
    instance through; BackendUnavailable for an unknown name or one the engine cannot run."""
    if isinstance(name, Backend):
        return name
    spec = registry.backend(name)
    if spec.engine is None:
        raise BackendUnavailable(f"backend {spec.name!r} is not available to the 2012 engine: "
                                 f"{spec.recreation}")
    return IMPLEMENTATIONS[spec.engine]()
