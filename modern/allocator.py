"""Keep freed activation memory in the process (glibc) instead of returning it to the OS.

Why: a training step of AlexNet2012 at batch 128 allocates and frees dozens of
activation tensors of 10-150 MB. glibc serves every block above its mmap threshold
(at most 32 MB) with a fresh ``mmap`` and hands it back with ``munmap`` on free, so the
kernel zero-fills every page again on the next step. Measured on a 2-core CPU, that
was more system time than compute (56 of 91 s) and halved throughput. PyTorch has no
caching allocator for CPU tensors, so the fix is at the C library: stop using mmap for
large blocks and never trim the heap. Memory then stays at the step's peak, which is
what a training process needs anyway.

Call :func:`tune_allocator` once at the start of a training or benchmark entry point.
It is process-wide and deliberately not done on import of the library. Another way,
without code, is the environment variable ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:
glibc.malloc.trim_threshold=...`` set before Python starts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_done: bool | None = None


def tune_allocator() -> bool:
    """Disable mmap for large blocks and heap trimming; True when glibc accepted both.

    A no-op (False) on non-glibc systems. Safe to call more than once.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    return _done
