"""Compute backends for the engine: where the 2012 C++/CUDA layer arithmetic now runs.

In 2012 every layer called the cudaconv2 library (``src/layer.cu`` L815-L1006,
L1273-L1623) through NVMatrix. The engine here calls a backend object with the same
vocabulary instead: conv filter/image/weight "acts", pooling and its undo, the three
normalisations. Two backends exist:

``numpy``
    :mod:`alexnet.original.ops_numpy`, a reference in the 2012 memory layout (the
    part of the 2012 tree closest to it is the CPU reference code ``src/cpuCNN.cu``).

``cuda-convnet``
    the project's own cudaconv2-style kernels (``cuda/``, C ABI declared in
    ``cuda/include/convnet_kernels.h``), reached through their Python bindings when
    those are built (the module named in :data:`CUDA_BINDINGS`). It takes the same
    arrays in the same layouts; operations the kernels do not cover (fc GEMMs, neurons,
    softmax, costs, blur, nailbed) stay in numpy, as in 2012 NVMatrix did those.

A backend is any object with the attributes of :class:`Backend`; the engine never
looks further than that.
"""

from __future__ import annotations

import importlib
from typing import Any

from alexnet.original import ops_numpy

from alexnet.errors import BackendUnavailable

#: where the cuda helper's bindings are expected (a module exposing the ops_numpy names)
CUDA_BINDINGS = ("alexnet.cuda.ops_numpy", "alexnet.cuda.bindings")

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

    name = "cuda-convnet"

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
                "backend 'cuda-convnet' needs the Python bindings of the cuda/ kernels, which "
                "are not importable here (" + "; ".join(errors) + "); use --backend=numpy"
            )
        available = getattr(mod, "available", None)
        if callable(available) and not available():
            why = getattr(mod, "unavailable_reason", lambda: "no usable kernel library")()
            raise BackendUnavailable(f"backend 'cuda-convnet' is not usable here: {why}")
        super().__init__(mod)
        self.module = mod


BACKENDS = {"numpy": NumpyBackend, "cuda-convnet": CudaConvnetBackend}


def get_backend(name: str | Backend) -> Backend:
    """A backend by name ("numpy" or "cuda-convnet"), or pass an instance through."""
    if isinstance(name, Backend):
        return name
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    return BACKENDS[name]()
