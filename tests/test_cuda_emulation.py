"""The device-emulation host (cuda/emu/cuda_emu.h) and the two builds of the kernel library.

What is checked: the seeded schedules expose a missing barrier that ascending order hides;
the emulator reports kernel faults (divergent or partial barriers, bad launch shapes, launches
from device code) as errors, not crashes; unsupported CUDA features fail the build with a
message; the library builds with nvcc without a GPU; the build cache and the missing-compiler
error behave.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from alexnet.cuda import bindings_numpy, build
from alexnet.cuda.errors import KernelPreconditionError
from alexnet.errors import BackendUnavailable

HAVE_CXX = any(shutil.which(c) for c in ("g++", "c++", "clang++"))
pytestmark = pytest.mark.skipif(not HAVE_CXX, reason="no C++ compiler for the emulated kernels")

SEEDS = (0, 1, 2, 3, 4, 5, 6, 7)


@pytest.fixture(autouse=True)
def _reset_seed():
    yield
    bindings_numpy.set_schedule_seed(0)


def _pair_sums(x: np.ndarray, block: int) -> np.ndarray:
    out = x.copy()
    for i in range(x.size):
        if i % block:
            out[i] += x[i - 1]
    return out


def test_race_demo_is_right_with_its_barrier_under_every_schedule():
    x = np.random.default_rng(0).standard_normal(200).astype(np.float32)
    for seed in SEEDS:
        bindings_numpy.set_schedule_seed(seed)
        np.testing.assert_array_equal(bindings_numpy.race_demo(x, block_size=64), _pair_sums(x, 64))


def test_seeded_schedules_expose_the_missing_barrier_that_ascending_order_hides():
    x = np.random.default_rng(1).standard_normal(200).astype(np.float32)
    expected = _pair_sums(x, 64)
    bindings_numpy.set_schedule_seed(0)
    # ascending thread order: each thread's left neighbour already ran (the -deviceemu trap)
    np.testing.assert_array_equal(bindings_numpy.race_demo(x, block_size=64, with_barrier=False),
                                  expected)
    wrong = []
    for seed in SEEDS[1:]:
        bindings_numpy.set_schedule_seed(seed)
        got = bindings_numpy.race_demo(x, block_size=64, with_barrier=False)
        wrong.append(not np.array_equal(got, expected))
    assert all(wrong), "every random schedule should break the barrier-less kernel"


def test_schedule_seed_must_fit_64_bits():
    with pytest.raises(KernelPreconditionError, match="seed"):
        bindings_numpy.set_schedule_seed(-1)


# -- the emulator on its own: a small test program -------------------------------------------

EMU_PROGRAM = r"""
#include "cuda_emu.h"
#include <cstdio>
#include <vector>

__global__ void order_kernel(int* order, int* counter) {
    /* records the order in which threads of the block pass this point, in two phases */
    order[(*counter)++] = threadIdx.x + blockDim.x * threadIdx.y;
    __syncthreads();
    order[(*counter)++] = threadIdx.x + blockDim.x * threadIdx.y;
}
__global__ void shared_kernel(const int* in, int* out) {
    __shared__ int tile[64];
    tile[threadIdx.x] = in[blockIdx.x * 64 + threadIdx.x];
    __syncthreads();
    out[blockIdx.x * 64 + threadIdx.x] = tile[63 - threadIdx.x] + (int)(gridDim.x * 1000);
}
__global__ void divergent_kernel(int* out) {
    if (threadIdx.x % 2) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}
__global__ void partial_kernel(int* out) {
    if (threadIdx.x < 5) __syncthreads();
    out[threadIdx.x] = 1;
}
__global__ void inner_kernel(int*) {}
__global__ void nested_kernel(int* out) {
    cudaError_t rc = cuda_emu::launch_named("inner_kernel", inner_kernel, dim3(1), dim3(1),
                                            nullptr, out);
    out[threadIdx.x] = (int)rc;
}

int main() {
    std::vector<int> order(256), in(128), out(128);
    int counter = 0;
    cuda_emu::set_schedule_seed(0);
    cuda_emu::launch_named("order_kernel", order_kernel, dim3(1), dim3(8, 2), nullptr,
                           order.data(), &counter);
    std::printf("order0");
    for (int i = 0; i < 32; ++i) std::printf(" %d", order[i]);
    std::printf("\n");
    counter = 0;
    cuda_emu::set_schedule_seed(42);
    cuda_emu::launch_named("order_kernel", order_kernel, dim3(1), dim3(8, 2), nullptr,
                           order.data(), &counter);
    std::printf("order42");
    for (int i = 0; i < 32; ++i) std::printf(" %d", order[i]);
    std::printf("\n");

    for (int i = 0; i < 128; ++i) in[i] = i;
    cudaError_t rc = cuda_emu::launch_named("shared_kernel", shared_kernel, dim3(2), dim3(64),
                                            nullptr, in.data(), out.data());
    int bad = 0;
    for (int i = 0; i < 128; ++i) bad += out[i] != (i / 64) * 64 + 63 - i % 64 + 2000;
    std::printf("shared rc=%d bad=%d\n", (int)rc, bad);

    rc = cuda_emu::launch_named("divergent_kernel", divergent_kernel, dim3(1), dim3(32), nullptr,
                                out.data());
    std::printf("divergent rc=%d msg=%s\n", (int)rc, cudaGetErrorString(rc));
    rc = cuda_emu::launch_named("partial_kernel", partial_kernel, dim3(1), dim3(32), nullptr,
                                out.data());
    std::printf("partial rc=%d msg=%s\n", (int)rc, cudaGetErrorString(rc));
    rc = cuda_emu::launch_named("partial_kernel", partial_kernel, dim3(1), dim3(2048), nullptr,
                                out.data());
    std::printf("config rc=%d msg=%s\n", (int)rc, cudaGetErrorString(rc));
    rc = cuda_emu::launch_named("nested_kernel", nested_kernel, dim3(1), dim3(4), nullptr,
                                out.data());
    std::printf("nested rc=%d inner=%d\n", (int)rc, out[0]);
    cuda_emu::set_worker_threads(3);
    rc = cuda_emu::launch_named("shared_kernel", shared_kernel, dim3(2), dim3(64), nullptr,
                                in.data(), out.data());
    bad = 0;
    for (int i = 0; i < 128; ++i) bad += out[i] != (i / 64) * 64 + 63 - i % 64 + 2000;
    std::printf("workers-shared rc=%d bad=%d\n", (int)rc, bad);
    rc = cuda_emu::launch_named("partial_kernel", partial_kernel, dim3(7), dim3(32), nullptr,
                                out.data());
    std::printf("workers-partial rc=%d msg=%s\n", (int)rc, cudaGetErrorString(rc));
    return 0;
}
"""


@pytest.fixture(scope="module")
def emu_program_output(tmp_path_factory) -> dict[str, str]:
    cxx = build.find_compiler("emulation").path
    tmp = tmp_path_factory.mktemp("emu")
    src = tmp / "emu_test.cpp"
    src.write_text(EMU_PROGRAM)
    exe = tmp / "emu_test"
    subprocess.run([cxx, "-std=c++17", "-O1", "-pthread", f"-I{build.EMU_DIR}", str(src), "-o",
                    str(exe)],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {line.split()[0]: line for line in out.splitlines()}


def test_ascending_order_is_linear_thread_order_and_seeds_permute_it(emu_program_output):
    ascending = [int(v) for v in emu_program_output["order0"].split()[1:]]
    assert ascending == list(range(16)) * 2
    seeded = [int(v) for v in emu_program_output["order42"].split()[1:]]
    assert sorted(seeded[:16]) == list(range(16)) and sorted(seeded[16:]) == list(range(16))
    assert seeded[:16] != list(range(16))
    assert seeded[:16] != seeded[16:], "each barrier phase draws a fresh permutation"


def test_shared_memory_is_per_block_and_builtins_are_set(emu_program_output):
    assert emu_program_output["shared"] == "shared rc=0 bad=0"


def test_divergent_barriers_are_reported_not_crashed(emu_program_output):
    line = emu_program_output["divergent"]
    assert "rc=719" in line and "divergent __syncthreads()" in line
    assert "emu_test.cpp" in line  # names both barrier sites


def test_barrier_reached_by_part_of_the_block_is_reported(emu_program_output):
    line = emu_program_output["partial"]
    assert "rc=719" in line and "exited while thread" in line


def test_worker_threads_share_out_blocks_and_report_faults(emu_program_output):
    assert emu_program_output["workers-shared"] == "workers-shared rc=0 bad=0"
    line = emu_program_output["workers-partial"]
    assert "rc=719" in line and "exited while thread" in line


def test_results_do_not_depend_on_the_number_of_worker_threads():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((8, 7, 7, 33)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 32)).astype(np.float32)
    bindings_numpy.set_schedule_seed(9)
    try:
        bindings_numpy.set_worker_threads(1)
        y1 = bindings_numpy.filter_acts(x, w, padding_start=-1, groups=2)
        g1 = bindings_numpy.weight_acts(x, y1, filter_size=3, padding_start=-1, groups=2)
        bindings_numpy.set_worker_threads(3)
        y3 = bindings_numpy.filter_acts(x, w, padding_start=-1, groups=2)
        g3 = bindings_numpy.weight_acts(x, y3, filter_size=3, padding_start=-1, groups=2)
    finally:
        bindings_numpy.set_worker_threads(1)
    np.testing.assert_array_equal(y1, y3)
    np.testing.assert_array_equal(g1, g3)
    with pytest.raises(KernelPreconditionError, match=r"\[1, 256\]"):
        bindings_numpy.set_worker_threads(0)


def test_bad_launch_shape_and_nested_launch_are_refused(emu_program_output):
    assert "invalid launch configuration" in emu_program_output["config"]
    assert emu_program_output["nested"] == "nested rc=0 inner=801"


@pytest.mark.parametrize(
    "construct",
    [
        "atomicAdd(p, 1.0f);",
        "float v = __shfl_down_sync(0xffffffff, *p, 1); *p = v;",
        "__syncwarp();",
        "__threadfence();",
        "*p = warpSize;",
        "*p = __ldg(p);",
    ],
)
def test_unsupported_cuda_features_fail_the_build_with_a_message(tmp_path, construct):
    cxx = build.find_compiler("emulation").path
    src = tmp_path / "bad.cu"
    src.write_text(
        textwrap.dedent(
            f"""
            #include "cuda_emu.h"
            __global__ void k(float* p) {{ {construct} }}
            """
        )
    )
    proc = subprocess.run(
        [cxx, "-std=c++17", "-fsyntax-only", f"-I{build.EMU_DIR}", "-x", "c++", str(src)],
        capture_output=True, text=True,
    )
    assert proc.returncode != 0
    assert "not supported by the device emulator" in proc.stderr


def test_constant_memory_fails_the_build(tmp_path):
    cxx = build.find_compiler("emulation").path
    src = tmp_path / "const.cu"
    src.write_text('#include "cuda_emu.h"\n__constant__ float table[4];\n')
    proc = subprocess.run(
        [cxx, "-std=c++17", "-fsyntax-only", f"-I{build.EMU_DIR}", "-x", "c++", str(src)],
        capture_output=True, text=True,
    )
    assert proc.returncode != 0 and "not supported by the device emulator" in proc.stderr


# -- the library builds -----------------------------------------------------------------------


def test_emulation_library_is_cached_by_source_hash():
    first = build.build_library("emulation")
    assert first.exists() and first.parent.name.startswith("emulation-")
    mtime = first.stat().st_mtime_ns
    assert build.build_library("emulation") == first
    assert first.stat().st_mtime_ns == mtime, "a cached library must not be rebuilt"
    assert bindings_numpy.host() == "emulation"


def test_missing_compiler_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.delenv("NVCC", raising=False)
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.setattr(shutil, "which", lambda *_a, **_k: None)
    with pytest.raises(BackendUnavailable, match="no C\\+\\+ compiler found") as info:
        build.find_compiler("emulation")
    assert "\n" not in str(info.value)
    with pytest.raises(BackendUnavailable, match="nvcc not found"):
        build.find_compiler("cuda")


def test_compile_errors_name_the_first_error_and_the_log(tmp_path, monkeypatch):
    bad_kernels = tmp_path / "kernels"
    bad_kernels.mkdir()
    (bad_kernels / "broken.cu").write_text("int f( { return 0; }\n")
    monkeypatch.setattr(build, "KERNEL_DIR", bad_kernels)
    monkeypatch.setenv("ALEXNET_CUDA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(build.KernelBuildError, match="compiling the kernels failed: .*error"):
        build.build_library("emulation")
    assert not list((tmp_path / "cache").glob("*/libconvnet_kernels.so"))


NVCC = shutil.which("nvcc") or (
    "/usr/local/bin/nvcc" if Path("/usr/local/bin/nvcc").exists() else None
)


@pytest.mark.skipif(NVCC is None, reason="nvcc not installed: GPU build not checked")
def test_every_kernel_compiles_with_nvcc_for_sm80_sm90_and_ptx():
    """Builds the GPU library (no GPU needed) and calls its host-side argument checks, which
    run before any CUDA call, so this works on a machine without a GPU too."""
    path = build.build_library("cuda")
    cuobjdump = Path(build.find_compiler("cuda").path).with_name("cuobjdump")
    if cuobjdump.exists():
        listing = subprocess.run([str(cuobjdump), "--list-elf", "--list-ptx", str(path)],
                                 capture_output=True, text=True).stdout
        assert "sm_80" in listing and "sm_90" in listing and ".ptx" in listing
    lib = ctypes.CDLL(str(path))
    from alexnet.cuda import abi

    abi.declare(lib)
    assert lib.convnet_host() == b"cuda"
    with pytest.raises(KernelPreconditionError, match="multiple of 16"):
        abi.call(lib, "convnet_filter_acts", 1, 1, 1, 8, 8, 3, 8, 8, 24, 3, 6, 6, 0, 1, 1, 1,
                 0.0, 1.0, None)
    with pytest.raises(abi.KernelLaunchError, match="only the emulation host"):
        abi.call(lib, "convnet_emu_set_schedule_seed", 1)


def test_cli_builds_and_reports():
    from click.testing import CliRunner

    from alexnet.cli import cli

    result = CliRunner().invoke(cli, ["cuda", "build", "--host", "emulation"])
    assert result.exit_code == 0, result.output
    assert "libconvnet_kernels.so" in result.output
    result = CliRunner().invoke(cli, ["cuda", "info"])
    assert result.exit_code == 0
    assert "emulation:" in result.output and "library cached" in result.output


def test_cuda_emu_seed_environment_variable_sets_the_default_schedule():
    import os
    import sys

    code = (
        "import numpy as np; from alexnet.cuda import bindings_numpy as o;"
        "x = np.arange(1, 129, dtype=np.float32);"
        "y = o.race_demo(x, block_size=64, with_barrier=False);"
        "e = x.copy(); e[1:] += x[:-1]; e[64] = x[64];"
        "print(bool(np.array_equal(y, e)))"
    )
    results = {}
    for seed in ("0", "0x2012"):
        env = dict(os.environ, CUDA_EMU_SEED=seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        results[seed] = out.stdout.strip()
    assert results == {"0": "True", "0x2012": "False"}


def test_concurrent_launches_from_several_os_threads_do_not_interfere():
    """Scheduler, __shared__ storage and error messages are per OS thread."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 6, 6, 40)).astype(np.float32)
    w = rng.standard_normal((16, 3, 3, 32)).astype(np.float32)
    expected = bindings_numpy.filter_acts(x, w, padding_start=-1)

    def job(seed: int) -> np.ndarray:
        bindings_numpy.set_schedule_seed(seed)
        return bindings_numpy.filter_acts(x, w, padding_start=-1)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for got in pool.map(job, range(8)):
            np.testing.assert_array_equal(got, expected)
