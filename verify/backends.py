"""``--backend``: where the 2012 re-creation's layer arithmetic runs.

The names are the project's one backend vocabulary (:data:`alexnet.registry.BACKENDS`);
for the verifier, which runs the port with PyTorch's operators throughout, they choose
the re-creation's side:

``numpy``
    the engine's numpy reference (:mod:`alexnet.original.ops_numpy`); always available.
``emulated`` (alias ``cuda-convnet``)
    the project's cudaconv2-style kernels (``cuda/``) executed on the CPU by the device
    emulation host, reached through the engine's kernel backend. Available when
    the kernels' bindings load and the emulation library builds (a C++ compiler is needed).
``cuda``
    the same kernels on an NVIDIA GPU. Needs a GPU with a working driver and an engine
    backend that drives the GPU host.

A backend that cannot run raises :class:`~alexnet.errors.BackendUnavailable` naming the
backend and the reason; ``--fallback`` runs numpy instead and records why in the report.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from alexnet import registry
from alexnet.errors import AlexNetError, BackendUnavailable
from alexnet.original.backends import get_backend

#: what ``--backend`` accepts: the registry's names, then the aliases it keeps
NAMES = registry.backend_names()


@dataclass
class Resolved:
    requested: str
    name: str          # what actually runs
    engine: Any        # what alexnet.original.engine.Engine(backend=...) takes
    note: str | None = None


def _gpu_reason() -> str | None:
    """None when an NVIDIA GPU looks usable, else why not."""
    try:
        import torch

        if torch.cuda.is_available():
            return None
        torch_says = "torch.cuda.is_available() is False"
        if torch.version.cuda is None:
            torch_says += " (this torch is a CPU-only build)"
    except Exception as exc:  # pragma: no cover - torch always imports here
        torch_says = f"torch cannot query CUDA ({exc})"
    smi = "nvidia-smi found" if shutil.which("nvidia-smi") else "no nvidia-smi on PATH"
    return f"no usable NVIDIA GPU on this machine ({torch_says}; {smi})"


def _engine_backend(name: str) -> Any:

    return get_backend(name)


def _check(requested: str) -> Any:
    """The engine backend for a canonical name, or BackendUnavailable saying why not."""
    if requested == "numpy":
        return _engine_backend("numpy")
    if requested == "emulated":
        try:
            be = _engine_backend("emulated")
        except AlexNetError as exc:
            raise BackendUnavailable(f"backend 'emulated' is not available: {exc}") from None
        except Exception as exc:
            raise BackendUnavailable(f"backend 'emulated' is not available: the kernels' "
                                     f"bindings failed to load ({type(exc).__name__}: {exc})"
                                     ) from None
        host = getattr(getattr(be, "module", None), "host", None)
        if callable(host):
            try:
                where = host()
            except Exception as exc:
                raise BackendUnavailable(f"backend 'emulated': the emulation library does not "
                                         f"load ({type(exc).__name__}: {exc})") from None
            if where != "emulation":
                raise BackendUnavailable(f"backend 'emulated': the kernel bindings run on "
                                         f"{where!r}, not the CPU emulation")
        return be
    if requested == "cuda":
        why = _gpu_reason()
        if why is not None:
            raise BackendUnavailable(f"backend 'cuda' is not available: {why}")
        raise BackendUnavailable("backend 'cuda' is not available: a GPU is present but the "
                                 "2012 engine has no GPU backend in this installation (its "
                                 "backends: numpy, emulated via the CPU emulation)")
    raise BackendUnavailable(f"unknown backend {requested!r} (known: {', '.join(NAMES)})")


def resolve(requested: str, *, fallback: bool = False) -> Resolved:
    """The backend to run, or BackendUnavailable; with ``fallback``, numpy plus a note.

    An alias resolves to its canonical name, which is what the report records.
    """
    name = registry.backend(requested).name
    try:
        return Resolved(requested, name, _check(name))
    except BackendUnavailable as exc:
        if not fallback or name == "numpy":
            raise
        return Resolved(requested, "numpy", _check("numpy"),
                        note=f"{exc}; ran the numpy backend instead (--fallback)")
