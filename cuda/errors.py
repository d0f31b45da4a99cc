"""Errors of the kernel bindings, all :class:`~alexnet.errors.AlexNetError` subclasses.

A precondition failure is also a :class:`ValueError`, so callers that validate arguments the
ordinary Python way catch it too; the message is the one line the kernel library (or the
Python-side check) wrote, naming the routine, the argument and what was expected.
"""

from __future__ import annotations

from alexnet.errors import AlexNetError, BackendUnavailable


class KernelPreconditionError(AlexNetError, ValueError):
    """Arguments a kernel refuses: a 2012 precondition, a shape, dtype, device or layout."""


class KernelLaunchError(AlexNetError, RuntimeError):
    """The CUDA runtime or the device emulator failed a launch (names the kernel and why)."""


class KernelBuildError(BackendUnavailable):
    """The kernels did not compile (the message gives the first error and the log's path)."""
