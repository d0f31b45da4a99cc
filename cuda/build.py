"""Compile the kernels into shared libraries, once per source version, and load them.

One kernel source, two hosts: ``emulation`` compiles the ``.cu`` files as C++ with the
device-emulation header (runs on any CPU, slowly), ``cuda`` compiles them with nvcc for
sm_80 and sm_90 plus compute_90 PTX (runs on a GPU; building needs no GPU).

Libraries are cached under ``$ALEXNET_CUDA_CACHE`` when it is set, else under ``cuda/`` of
the package's one cache root (``$ALEXNET_CACHE``, default ``$XDG_CACHE_HOME/alexnet`` or
``~/.cache/alexnet``, :func:`alexnet.download.cache_root`) in a folder named by a hash
of the sources, the compiler's identity and the flags, so an edited kernel or a new compiler
rebuilds automatically and concurrent processes never see a half-written library (they take
a file lock; the result is renamed into place atomically).
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alexnet.cuda.abi import declare
from alexnet.cuda.errors import KernelBuildError
from alexnet.download import cache_root as download_cache_root
from alexnet.errors import BackendUnavailable
from alexnet.io import commit_file

Host = Literal["emulation", "cuda"]
HOSTS: tuple[Host, ...] = ("emulation", "cuda")

#: Bumped when the way libraries are built changes (not needed for source edits: hashed).
BUILD_FORMAT = 1

PACKAGE_DIR = Path(__file__).resolve().parent
KERNEL_DIR = PACKAGE_DIR / "kernels"
INCLUDE_DIR = PACKAGE_DIR / "include"
EMU_DIR = PACKAGE_DIR / "emu"
LIBRARY_NAME = "libconvnet_kernels.so"

#: GPU targets: Ampere and Hopper machine code, plus PTX that newer GPUs can JIT-compile.
#: ``$ALEXNET_CUDA_ARCHS`` (e.g. "75,80,90") replaces them: machine code for each, PTX of the last.
DEFAULT_ARCHS = ("80", "90")
NVCC_BASE_FLAGS = ("-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC", "-lineinfo")


def nvcc_gencode() -> tuple[str, ...]:
    """The -gencode flags for the GPU library (see DEFAULT_ARCHS)."""
    env = os.environ.get("ALEXNET_CUDA_ARCHS", "")
    archs = tuple(a.strip() for a in env.split(",") if a.strip()) or DEFAULT_ARCHS
    for a in archs:
        if not a.isdigit():
            raise BackendUnavailable(
                f"ALEXNET_CUDA_ARCHS: expected comma-separated compute capabilities like "
                f"'80,90', got {env!r}"
            )
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    flags.append(f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}")
    return tuple(flags)


# -ffp-contract=off: no silent fused multiply-adds on CPUs that have them, so emulated results
# do not depend on the build machine's instruction set.
CXX_FLAGS = (
    "-O2",
    "-std=c++17",
    "-fPIC",
    "-ffp-contract=off",
    "-pthread",
    "-Wall",
    "-Wextra",
    "-Wno-unknown-pragmas",
)


@dataclass(frozen=True)
class Compiler:
    """A compiler executable and the version text that identifies it in the cache key."""

    path: str
    version: str


def kernel_sources() -> list[Path]:
    """The translation units, in a fixed order."""
    return sorted(KERNEL_DIR.glob("*.cu"))


def _all_source_files() -> list[Path]:
    files = [*kernel_sources(), *KERNEL_DIR.glob("*.cuh"), *INCLUDE_DIR.glob("*.h")]
    files += EMU_DIR.glob("*.h")
    return sorted(set(files))


def cache_root() -> Path:
    """Where built libraries live (see the module docstring)."""
    env = os.environ.get("ALEXNET_CUDA_CACHE")
    if env:
        return Path(env).expanduser()
    return download_cache_root() / "cuda"


def _version_of(path: str) -> str:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendUnavailable(f"compiler {path} does not run: {exc}") from exc
    return (out.stdout or out.stderr).strip()


def find_compiler(host: Host) -> Compiler:
    """The compiler for ``host``; BackendUnavailable (one line, naming it) when absent."""
    if host == "emulation":
        candidates = [os.environ.get("CXX"), "g++", "c++", "clang++"]
        for cand in candidates:
            if cand and (path := shutil.which(cand)):
                return Compiler(path, _version_of(path))
        raise BackendUnavailable(
            "cuda-convnet emulation backend: no C++ compiler found (looked for $CXX, g++, c++, "
            "clang++); install g++ (Debian/Ubuntu: apt-get install g++) or set CXX"
        )
    if host == "cuda":
        candidates = [
            os.environ.get("NVCC"),
            "nvcc",
            "/usr/local/cuda/bin/nvcc",
            "/usr/local/bin/nvcc",
        ]
        if cuda_home := os.environ.get("CUDA_HOME"):
            candidates.insert(1, str(Path(cuda_home) / "bin" / "nvcc"))
        for cand in candidates:
            if cand and (path := shutil.which(cand)):
                return Compiler(path, _version_of(path))
        raise BackendUnavailable(
            "cuda-convnet GPU backend: nvcc not found (looked for $NVCC, $CUDA_HOME/bin/nvcc, "
            "nvcc on PATH, /usr/local/cuda/bin/nvcc); install the CUDA toolkit or set NVCC"
        )
    raise ValueError(f"unknown kernel host {host!r}; expected one of {HOSTS}")


def _flags(host: Host) -> tuple[str, ...]:
    return CXX_FLAGS if host == "emulation" else (*NVCC_BASE_FLAGS, *nvcc_gencode())


def build_key(host: Host, compiler: Compiler) -> str:
    """Hash of everything that determines the library's bytes."""
    h = hashlib.sha256()
    h.update(f"format={BUILD_FORMAT}\nhost={host}\n".encode())
    h.update(f"compiler={compiler.path}\n{compiler.version}\n".encode())
    h.update(("flags=" + " ".join(_flags(host)) + "\n").encode())
    for f in _all_source_files():
        h.update(f"{f.parent.name}/{f.name}\n".encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def library_path(host: Host, compiler: Compiler | None = None) -> Path:
    """Where the library for ``host`` is (or will be) cached."""
    compiler = compiler or find_compiler(host)
    return cache_root() / f"{host}-{build_key(host, compiler)}" / LIBRARY_NAME


def _run(cmd: list[str], log: Path) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr + "\n")
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if "error" in ln]
        first = lines[0].strip() if lines else f"exit status {proc.returncode}"
        raise KernelBuildError(f"compiling the kernels failed: {first} (full log: {log})")


def _compile(host: Host, compiler: Compiler, out: Path, log: Path) -> None:
    sources = [str(s) for s in kernel_sources()]
    includes = [f"-I{INCLUDE_DIR}", f"-I{KERNEL_DIR}"]
    if host == "cuda":
        cmd = [compiler.path, *_flags(host), "--threads", "0", *includes, *sources]
        _run([*cmd, "-o", str(out)], log)
        return
    includes.append(f"-I{EMU_DIR}")
    objdir = out.parent / "obj"
    objdir.mkdir(exist_ok=True)

    def one(src: str) -> str:
        obj = objdir / (Path(src).stem + ".o")
        _run([compiler.path, *CXX_FLAGS, *includes, "-x", "c++", "-c", src, "-o", str(obj)], log)
        return str(obj)

    workers = max(1, min(len(sources), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        objs = list(pool.map(one, sources))
    _run([compiler.path, "-shared", "-pthread", "-o", str(out), *objs], log)


def build_library(host: Host, *, force: bool = False) -> Path:
    """Build (or find in the cache) the library for ``host`` and return its path.

    Needs only a compiler: the ``cuda`` host builds on machines without a GPU.
    """
    compiler = find_compiler(host)
    target = library_path(host, compiler)
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / ".lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if target.exists() and not force:
                return target  # another process built it while we waited
            with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
                tmp_out = Path(tmp) / LIBRARY_NAME
                log = target.parent / "build.log"
                log.write_text("")
                _compile(host, compiler, tmp_out, log)
                commit_file(tmp_out, target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


_loaded: dict[Host, ctypes.CDLL] = {}
_load_lock = threading.Lock()


def load_library(host: Host) -> ctypes.CDLL:
    """The loaded library for ``host`` (built on first use), with its C signatures declared."""
    with _load_lock:
        lib = _loaded.get(host)
        if lib is None:
            path = build_library(host)
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as exc:
                raise BackendUnavailable(
                    f"cuda-convnet {host} library {path} does not load: {exc}"
                ) from exc

            declare(lib)
            _loaded[host] = lib
        return lib
