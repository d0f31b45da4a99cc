"""The C ABI of the kernel library, declared for ctypes, and the one way to call it.

Every entry point returns an int status; :func:`call` turns a non-zero status into the
matching exception carrying the library's one-line message (kept per OS thread by the
library, so concurrent callers never see each other's errors).
"""

from __future__ import annotations

import ctypes

from alexnet.cuda.errors import KernelLaunchError, KernelPreconditionError

ABI_VERSION = 1
OK, ERR_PRECONDITION, ERR_LAUNCH = 0, 1, 2
POOL_TYPES = {"max": 0, "avg": 1, "maxabs": 2}

# p: pointer (host or device address as an int), i: int, f: float, u: unsigned long long.
_SIGNATURES: dict[str, str] = {
    "convnet_filter_acts": "ppp" + "i" * 13 + "ffp",
    "convnet_img_acts": "ppp" + "i" * 12 + "ffp",
    "convnet_weight_acts": "ppp" + "i" * 13 + "ffp",
    "convnet_agg_partial_sums": "ppiiffp",
    "convnet_local_pool": "pp" + "i" * 8 + "p",
    "convnet_local_max_undo": "pppp" + "i" * 7 + "ffp",
    "convnet_local_avg_undo": "pp" + "i" * 7 + "ffp",
    "convnet_response_norm_cross_map": "ppp" + "iiii" + "fff" + "ip",
    "convnet_response_norm_cross_map_undo": "ppppp" + "iiii" + "ff" + "i" + "ffp",
    "convnet_contrast_norm": "pppp" + "iiii" + "ffp",
    "convnet_response_norm_undo": "ppppp" + "iiii" + "ff" + "ffp",
    "convnet_race_demo": "ppiiip",
}
_CTYPES = {"p": ctypes.c_void_p, "i": ctypes.c_int, "f": ctypes.c_float}


def declare(lib: ctypes.CDLL) -> None:
    """Set argtypes/restype of every entry point and check the library's ABI version."""
    lib.convnet_abi_version.restype = ctypes.c_int
    lib.convnet_abi_version.argtypes = []
    lib.convnet_host.restype = ctypes.c_char_p
    lib.convnet_host.argtypes = []
    lib.convnet_last_error.restype = ctypes.c_char_p
    lib.convnet_last_error.argtypes = []
    lib.convnet_emu_set_schedule_seed.restype = ctypes.c_int
    lib.convnet_emu_set_schedule_seed.argtypes = [ctypes.c_ulonglong]
    lib.convnet_emu_set_worker_threads.restype = ctypes.c_int
    lib.convnet_emu_set_worker_threads.argtypes = [ctypes.c_int]
    lib.convnet_cuda_set_device.restype = ctypes.c_int
    lib.convnet_cuda_set_device.argtypes = [ctypes.c_int]
    for name, sig in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [_CTYPES[c] for c in sig]
    version = lib.convnet_abi_version()
    if version != ABI_VERSION:
        raise KernelLaunchError(
            f"kernel library ABI version {version}, bindings expect {ABI_VERSION}; rebuild it"
        )


def call(lib: ctypes.CDLL, name: str, *args: object) -> None:
    """Call entry point ``name``; raise with the library's message on a non-zero status."""
    rc = getattr(lib, name)(*args)
    if rc == OK:
        return
    message = lib.convnet_last_error().decode(errors="replace") or f"{name} failed ({rc})"
    if rc == ERR_PRECONDITION:
        raise KernelPreconditionError(message)
    raise KernelLaunchError(message)
