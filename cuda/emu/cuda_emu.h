/*
 * cuda_emu.h -- a small CUDA device-emulation host for CPUs.
 *
 * Why this exists: nvcc 1.x-3.0 had a `-deviceemu` switch that compiled kernels for the host
 * CPU, so people without a GPU could run (slowly) the same kernel text they shipped. CUDA 3.1
 * removed it. This header gives the project that switch back for the subset of CUDA that the
 * 2012 convolution kernels need, so one kernel source runs on real GPUs (nvcc) and on any
 * Linux machine with a C++17 compiler (g++/clang++), e.g. CI.
 *
 * Execution model (see cuda/README.md, "Device emulation"):
 *   - blocks of a grid run one after another, in blockIdx order (z, y, x; x fastest), or,
 *     when $CUDA_EMU_THREADS (or set_worker_threads) asks for n > 1, on n OS threads that
 *     take blocks from a shared counter (results do not change: blocks are independent);
 *   - the threads of a block are cooperative coroutines (one small stack each, reused);
 *   - __syncthreads() is a barrier: the calling thread is suspended and the scheduler resumes
 *     the next one; when every thread of the block waits at the barrier they all continue;
 *   - between two barriers the threads run one at a time, in ascending linear thread order
 *     (schedule seed 0) or in a seeded pseudo-random permutation drawn afresh for every
 *     block and every phase (seed != 0). A kernel that lacks a barrier, or races through
 *     shared memory, then gives different answers under different seeds. The seed is per OS
 *     thread: cuda_emu::set_schedule_seed(), initially $CUDA_EMU_SEED (default 0).
 *   - __shared__ variables are static per OS thread: every block of a launch sees the same
 *     storage, which keeps whatever the previous block left there (like the stale contents of
 *     real shared memory). They are zero at program start, never zeroed again.
 *   - the kernel faults the emulator detects (a barrier reached by only part of the block,
 *     threads waiting at different barriers, a launch inside a kernel, a bad launch
 *     configuration) end the launch with an error code and a message; they never abort
 *     the process.
 *
 * Supported: __global__/__device__/__host__/__forceinline__/__launch_bounds__, __shared__
 * (static sizes), __syncthreads(), threadIdx/blockIdx/blockDim/gridDim, dim3/uint3,
 * device-side printf, the float math of <cmath> and the fast-math intrinsics the 2012
 * kernels used (__expf, __logf, __powf, __fdividef, __int2float_rn, __float2int_rd,
 * __fmul_rn, __fadd_rn, __fmaf_rn, rsqrtf), and the host calls the launchers use
 * (cudaGetLastError, cudaGetErrorString, cudaStream_t as an opaque pointer).
 *
 * Rejected at compile time with a message (warp-level and memory-model features the
 * emulator does not model): atomics, warp vote/shuffle/match/sync, __syncthreads_count/
 * and/or, __threadfence*, texture/surface fetches, __ldg, __constant__, clock(),
 * warpSize, cooperative groups. `extern __shared__` (dynamic shared memory) fails to
 * compile as well ("multiple storage classes"). Kernel launches use
 * cuda_emu::launch(kernel, grid, block, stream, args...) because `<<< >>>` is not C++.
 */
#ifndef ALEXNET_CUDA_EMU_H
#define ALEXNET_CUDA_EMU_H

#ifdef __CUDACC__
#error "cuda_emu.h is the CPU emulation host; an nvcc build must use the real CUDA runtime"
#endif
#if !defined(__cplusplus) || __cplusplus < 201703L
#error "cuda_emu.h needs C++17 (compile with -std=c++17)"
#endif
#if !defined(__GNUC__)
#error "cuda_emu.h needs GCC or Clang (it uses _Pragma(\"GCC error\") and GNU attributes)"
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

/* ------------------------------------------------------------------------------------- */
/* Function and variable qualifiers                                                       */
/* ------------------------------------------------------------------------------------- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
/* One storage per OS thread, shared by the coroutines (CUDA threads) of the running block. */
#define __shared__ static thread_local
#ifndef __restrict__
#define __restrict__ __restrict
#endif

/* ------------------------------------------------------------------------------------- */
/* Constructs outside the supported subset: loud compile errors where they are used.        */
/* ------------------------------------------------------------------------------------- */
#define CUDA_EMU_UNSUPPORTED(what) \
    _Pragma("GCC error \"cuda_emu: this CUDA feature is not supported by the device emulator (see cuda/README.md)\"")
#define __constant__ CUDA_EMU_UNSUPPORTED(constant)
#define __managed__ CUDA_EMU_UNSUPPORTED(managed)
#define warpSize (CUDA_EMU_UNSUPPORTED(warpSize) 32)
#define atomicAdd(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define atomicSub(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define atomicExch(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define atomicMin(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define atomicMax(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define atomicInc(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define atomicDec(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define atomicCAS(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define atomicAnd(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define atomicOr(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define atomicXor(...) (CUDA_EMU_UNSUPPORTED(atomics) 0)
#define __all(...) (CUDA_EMU_UNSUPPORTED(vote) 0)
#define __any(...) (CUDA_EMU_UNSUPPORTED(vote) 0)
#define __ballot(...) (CUDA_EMU_UNSUPPORTED(vote) 0)
#define __all_sync(...) (CUDA_EMU_UNSUPPORTED(vote) 0)
#define __any_sync(...) (CUDA_EMU_UNSUPPORTED(vote) 0)
#define __ballot_sync(...) (CUDA_EMU_UNSUPPORTED(vote) 0)
#define __activemask(...) (CUDA_EMU_UNSUPPORTED(vote) 0)
#define __match_any_sync(...) (CUDA_EMU_UNSUPPORTED(match) 0)
#define __match_all_sync(...) (CUDA_EMU_UNSUPPORTED(match) 0)
#define __shfl(...) (CUDA_EMU_UNSUPPORTED(shuffle) 0)
#define __shfl_up(...) (CUDA_EMU_UNSUPPORTED(shuffle) 0)
#define __shfl_down(...) (CUDA_EMU_UNSUPPORTED(shuffle) 0)
#define __shfl_xor(...) (CUDA_EMU_UNSUPPORTED(shuffle) 0)
#define __shfl_sync(...) (CUDA_EMU_UNSUPPORTED(shuffle) 0)
#define __shfl_up_sync(...) (CUDA_EMU_UNSUPPORTED(shuffle) 0)
#define __shfl_down_sync(...) (CUDA_EMU_UNSUPPORTED(shuffle) 0)
#define __shfl_xor_sync(...) (CUDA_EMU_UNSUPPORTED(shuffle) 0)
#define __reduce_add_sync(...) (CUDA_EMU_UNSUPPORTED(warp_reduce) 0)
#define __syncwarp(...) (CUDA_EMU_UNSUPPORTED(syncwarp) 0)
#define __syncthreads_count(...) (CUDA_EMU_UNSUPPORTED(syncthreads_count) 0)
#define __syncthreads_and(...) (CUDA_EMU_UNSUPPORTED(syncthreads_and) 0)
#define __syncthreads_or(...) (CUDA_EMU_UNSUPPORTED(syncthreads_or) 0)
#define __threadfence(...) (CUDA_EMU_UNSUPPORTED(threadfence) 0)
#define __threadfence_block(...) (CUDA_EMU_UNSUPPORTED(threadfence) 0)
#define __threadfence_system(...) (CUDA_EMU_UNSUPPORTED(threadfence) 0)
#define __ldg(...) (CUDA_EMU_UNSUPPORTED(ldg) 0)
#define tex1Dfetch(...) (CUDA_EMU_UNSUPPORTED(texture) 0)
#define tex1D(...) (CUDA_EMU_UNSUPPORTED(texture) 0)
#define tex2D(...) (CUDA_EMU_UNSUPPORTED(texture) 0)
#define tex3D(...) (CUDA_EMU_UNSUPPORTED(texture) 0)
#define surf2Dread(...) (CUDA_EMU_UNSUPPORTED(surface) 0)
#define surf2Dwrite(...) (CUDA_EMU_UNSUPPORTED(surface) 0)
#define clock64(...) (CUDA_EMU_UNSUPPORTED(clock) 0)
#define __nanosleep(...) (CUDA_EMU_UNSUPPORTED(nanosleep) 0)
#define cooperative_groups CUDA_EMU_UNSUPPORTED(cooperative_groups) cooperative_groups
#define cudaLaunchKernel(...) (CUDA_EMU_UNSUPPORTED(cudaLaunchKernel) 0)

/* ------------------------------------------------------------------------------------- */
/* Built-in vector types, errors and streams                                                */
/* ------------------------------------------------------------------------------------- */
struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
        : x(vx), y(vy), z(vz) {}
};

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorLaunchFailure = 719,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorNotSupported = 801,
} cudaError_t;

typedef struct CUstream_emu* cudaStream_t; /* opaque; every launch is synchronous */

/* ------------------------------------------------------------------------------------- */
/* Device math: the intrinsics map to the accurate host functions (documented difference). */
/* ------------------------------------------------------------------------------------- */
namespace cuda_emu {
namespace math {
inline float expf_(float x) { return std::exp(x); }
inline float logf_(float x) { return std::log(x); }
inline float powf_(float x, float y) { return std::pow(x, y); }
inline float fdividef_(float a, float b) { return a / b; }
inline float fmul_rn_(float a, float b) { return a * b; }
inline float fadd_rn_(float a, float b) { return a + b; }
inline float fmaf_rn_(float a, float b, float c) { return std::fma(a, b, c); }
inline float int2float_rn_(int i) { return static_cast<float>(i); }
inline int float2int_rd_(float x) { return static_cast<int>(std::floor(x)); }
inline float rsqrtf_(float x) { return 1.0f / std::sqrt(x); }
}  // namespace math
}  // namespace cuda_emu
/* Macros, not functions: glibc declares its own __expf/__logf/__powf. */
#define __expf(x) (::cuda_emu::math::expf_(x))
#define __logf(x) (::cuda_emu::math::logf_(x))
#define __powf(x, y) (::cuda_emu::math::powf_((x), (y)))
#define __fdividef(a, b) (::cuda_emu::math::fdividef_((a), (b)))
#define __fmul_rn(a, b) (::cuda_emu::math::fmul_rn_((a), (b)))
#define __fadd_rn(a, b) (::cuda_emu::math::fadd_rn_((a), (b)))
#define __fmaf_rn(a, b, c) (::cuda_emu::math::fmaf_rn_((a), (b), (c)))
#define __int2float_rn(i) (::cuda_emu::math::int2float_rn_(i))
#define __float2int_rd(x) (::cuda_emu::math::float2int_rd_(x))
#define rsqrtf(x) (::cuda_emu::math::rsqrtf_(x))

namespace cuda_emu {

/* ------------------------------------------------------------------------------------- */
/* Context switching between the scheduler and the CUDA threads (coroutines)               */
/* ------------------------------------------------------------------------------------- */
namespace detail {

#if defined(__x86_64__)
/* Save the callee-saved registers on the current stack, store the stack pointer in *from,
 * load `to` as the new stack pointer, restore that stack's registers and return into it.
 * (System V AMD64: rbx, rbp, r12-r15 are callee-saved; the x87/SSE control words are
 * shared by all coroutines and never changed by the kernels.) */
__attribute__((naked, noinline, used)) static void switch_stack(void** /*from: rdi*/, void* /*to: rsi*/) {
    __asm__ volatile(
        "pushq %rbp\n\t"
        "pushq %rbx\n\t"
        "pushq %r12\n\t"
        "pushq %r13\n\t"
        "pushq %r14\n\t"
        "pushq %r15\n\t"
        "movq %rsp, (%rdi)\n\t"
        "movq %rsi, %rsp\n\t"
        "popq %r15\n\t"
        "popq %r14\n\t"
        "popq %r13\n\t"
        "popq %r12\n\t"
        "popq %rbx\n\t"
        "popq %rbp\n\t"
        "ret\n\t");
}
#endif

enum FiberState { kReady = 0, kAtBarrier = 1, kDone = 2 };

struct Fiber {
    char* stack = nullptr; /* lowest mapped address (guard page first) */
    std::size_t mapped = 0;
#if defined(__x86_64__)
    void* sp = nullptr;
#else
    ucontext_t uc;
#endif
    FiberState state = kReady;
    const char* bar_file = nullptr;
    int bar_line = 0;
    uint3 tid{0, 0, 0};
};

/* The schedule seed a new OS thread starts with: $CUDA_EMU_SEED (decimal or 0x-hex), else 0. */
inline unsigned long long initial_seed() {
    const char* env = std::getenv("CUDA_EMU_SEED");
    return env ? std::strtoull(env, nullptr, 0) : 0ULL;
}

struct Scheduler {
    std::vector<Fiber> fibers; /* stacks are kept and reused across blocks and launches */
#if defined(__x86_64__)
    void* sched_sp = nullptr;
#else
    ucontext_t sched_uc;
#endif
    Fiber* cur = nullptr;
    bool in_kernel = false;
    uint3 threadIdx_{0, 0, 0};
    uint3 blockIdx_{0, 0, 0};
    dim3 blockDim_{1, 1, 1};
    dim3 gridDim_{1, 1, 1};
    void (*thunk)(void*) = nullptr;
    void* thunk_ctx = nullptr;
    unsigned long long seed = initial_seed();
    unsigned long long launches = 0;
    std::string error;
    cudaError_t last_error = cudaSuccess;
    ~Scheduler() {
        for (Fiber& f : fibers) {
            if (f.stack) munmap(f.stack, f.mapped);
        }
    }
};

inline Scheduler& sched() {
    static thread_local Scheduler s;
    return s;
}

/* Per-thread coroutine stack. 64 KiB is ample for the kernels (a few hundred bytes of
 * registers each); only the touched pages become resident. A PROT_NONE guard page below
 * each stack turns an overflow into a clean SIGSEGV instead of silent corruption. */
constexpr std::size_t kStackBytes = 64 * 1024;

inline bool ensure_stack(Fiber& f) {
    if (f.stack) return true;
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t total = kStackBytes + page;
    void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return false;
    mprotect(mem, page, PROT_NONE);
    f.stack = static_cast<char*>(mem);
    f.mapped = total;
    return true;
}

[[noreturn]] inline void fiber_main();

#if defined(__x86_64__)
inline void fiber_start_trampoline() { fiber_main(); }

inline void prepare_fiber(Fiber& f) {
    std::uintptr_t top = reinterpret_cast<std::uintptr_t>(f.stack + f.mapped);
    top &= ~static_cast<std::uintptr_t>(15);
    void** sp = reinterpret_cast<void**>(top);
    *--sp = nullptr; /* fake return address of the entry function: it never returns */
    *--sp = reinterpret_cast<void*>(&fiber_start_trampoline);
    for (int i = 0; i < 6; ++i) *--sp = nullptr; /* rbp rbx r12 r13 r14 r15 */
    f.sp = sp;
}
inline void resume(Fiber& f) { switch_stack(&sched().sched_sp, f.sp); }
inline void yield_to_scheduler() {
    Scheduler& s = sched();
    switch_stack(&s.cur->sp, s.sched_sp);
}
#else
extern "C" inline void cuda_emu_fiber_entry_c() { fiber_main(); }
inline void prepare_fiber(Fiber& f) {
    getcontext(&f.uc);
    f.uc.uc_stack.ss_sp = f.stack + (f.mapped - kStackBytes);
    f.uc.uc_stack.ss_size = kStackBytes;
    f.uc.uc_link = nullptr;
    makecontext(&f.uc, reinterpret_cast<void (*)()>(&cuda_emu_fiber_entry_c), 0);
}
inline void resume(Fiber& f) { swapcontext(&sched().sched_uc, &f.uc); }
inline void yield_to_scheduler() {
    Scheduler& s = sched();
    swapcontext(&s.cur->uc, &s.sched_uc);
}
#endif

[[noreturn]] inline void fiber_main() {
    Scheduler& s = sched();
    s.thunk(s.thunk_ctx);
    s.cur->state = kDone;
    yield_to_scheduler();
    /* A finished fiber is never resumed: prepare_fiber() rebuilds it for the next block. */
    __builtin_trap();
}

/* splitmix64: a tiny, well-mixed generator for the seeded thread orders. */
inline unsigned long long mix(unsigned long long x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

inline cudaError_t fail(cudaError_t code, const std::string& msg) {
    Scheduler& s = sched();
    s.error = msg;
    s.last_error = code;
    return code;
}

inline std::string thread_name(const uint3& t) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "(%u,%u,%u)", t.x, t.y, t.z);
    return buf;
}

/* Run one block to completion; returns cudaSuccess or a launch failure with a message. */
inline cudaError_t run_block(const char* kernel_name) {
    Scheduler& s = sched();
    const unsigned nthreads = s.blockDim_.x * s.blockDim_.y * s.blockDim_.z;
    for (unsigned i = 0; i < nthreads; ++i) {
        Fiber& f = s.fibers[i];
        f.state = kReady;
        f.tid = uint3{i % s.blockDim_.x, (i / s.blockDim_.x) % s.blockDim_.y,
                      i / (s.blockDim_.x * s.blockDim_.y)};
        prepare_fiber(f);
    }
    std::vector<unsigned> order(nthreads);
    unsigned long long phase = 0;
    for (;;) {
        for (unsigned i = 0; i < nthreads; ++i) order[i] = i;
        if (s.seed != 0) {
            /* Fisher-Yates with a stream keyed by (seed, launch, block, phase). */
            unsigned long long st = mix(s.seed ^ mix(s.launches) ^
                                        mix((static_cast<unsigned long long>(s.blockIdx_.z) << 42) ^
                                            (static_cast<unsigned long long>(s.blockIdx_.y) << 21) ^
                                            s.blockIdx_.x) ^
                                        mix(phase + 0x51ED));
            for (unsigned i = nthreads; i > 1; --i) {
                st = mix(st);
                unsigned j = static_cast<unsigned>(st % i);
                unsigned tmp = order[i - 1];
                order[i - 1] = order[j];
                order[j] = tmp;
            }
        }
        for (unsigned k = 0; k < nthreads; ++k) {
            Fiber& f = s.fibers[order[k]];
            if (f.state != kReady) continue;
            s.cur = &f;
            s.threadIdx_ = f.tid;
            resume(f);
        }
        s.cur = nullptr;
        unsigned waiting = 0, done = 0;
        const Fiber* first_wait = nullptr;
        const Fiber* first_done = nullptr;
        for (unsigned i = 0; i < nthreads; ++i) {
            const Fiber& f = s.fibers[i];
            if (f.state == kAtBarrier) {
                ++waiting;
                if (!first_wait) first_wait = &f;
            } else if (f.state == kDone) {
                ++done;
                if (!first_done) first_done = &f;
            }
        }
        if (waiting == 0) return cudaSuccess;
        char where[160];
        std::snprintf(where, sizeof where, "kernel %s, block (%u,%u,%u)", kernel_name,
                      s.blockIdx_.x, s.blockIdx_.y, s.blockIdx_.z);
        if (done > 0) {
            return fail(cudaErrorLaunchFailure,
                        std::string("cuda_emu: ") + where + ": thread " + thread_name(first_done->tid) +
                            " exited while thread " + thread_name(first_wait->tid) +
                            " waits at __syncthreads() (" + first_wait->bar_file + ":" +
                            std::to_string(first_wait->bar_line) +
                            "); a barrier must be reached by every thread of the block");
        }
        for (unsigned i = 0; i < nthreads; ++i) {
            const Fiber& f = s.fibers[i];
            if (f.bar_line != first_wait->bar_line || std::strcmp(f.bar_file, first_wait->bar_file) != 0) {
                return fail(cudaErrorLaunchFailure,
                            std::string("cuda_emu: ") + where + ": divergent __syncthreads(): thread " +
                                thread_name(first_wait->tid) + " waits at " + first_wait->bar_file + ":" +
                                std::to_string(first_wait->bar_line) + ", thread " + thread_name(f.tid) +
                                " at " + f.bar_file + ":" + std::to_string(f.bar_line));
            }
        }
        for (unsigned i = 0; i < nthreads; ++i) s.fibers[i].state = kReady;
        ++phase;
    }
}

/* Worker OS threads per launch: $CUDA_EMU_THREADS, default 1 (blocks strictly in order). */
inline unsigned initial_workers() {
    const char* env = std::getenv("CUDA_EMU_THREADS");
    const unsigned long v = env ? std::strtoul(env, nullptr, 10) : 1UL;
    return v < 1 ? 1u : (v > 256 ? 256u : static_cast<unsigned>(v));
}
inline std::atomic<unsigned>& worker_setting() {
    static std::atomic<unsigned> workers{initial_workers()};
    return workers;
}

/* Blocks handed out by linear index (x fastest) to the calling OS thread until none remain. */
struct GridJob {
    const char* name;
    dim3 grid, block;
    void (*thunk)(void*);
    void* ctx;
    unsigned long long seed, launch, total;
    std::atomic<unsigned long long> next{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    cudaError_t rc = cudaSuccess;
    std::string error;
};

inline void run_job(GridJob& job) {
    Scheduler& s = sched();
    const unsigned long long nthreads =
        static_cast<unsigned long long>(job.block.x) * job.block.y * job.block.z;
    if (s.fibers.size() < nthreads) s.fibers.resize(nthreads);
    for (unsigned long long i = 0; i < nthreads; ++i) {
        if (!ensure_stack(s.fibers[i])) {
            std::lock_guard<std::mutex> lock(job.mu);
            if (!job.failed.exchange(true)) {
                job.rc = cudaErrorLaunchFailure;
                job.error = "cuda_emu: cannot map coroutine stacks";
            }
            return;
        }
    }
    s.thunk = job.thunk;
    s.thunk_ctx = job.ctx;
    s.blockDim_ = job.block;
    s.gridDim_ = job.grid;
    s.seed = job.seed;
    s.launches = job.launch;
    s.in_kernel = true;
    for (;;) {
        const unsigned long long b = job.next.fetch_add(1);
        if (b >= job.total || job.failed.load()) break;
        s.blockIdx_ = uint3{static_cast<unsigned>(b % job.grid.x),
                            static_cast<unsigned>((b / job.grid.x) % job.grid.y),
                            static_cast<unsigned>(b / (static_cast<unsigned long long>(job.grid.x) *
                                                       job.grid.y))};
        const cudaError_t rc = run_block(job.name);
        if (rc != cudaSuccess) {
            std::lock_guard<std::mutex> lock(job.mu);
            if (!job.failed.exchange(true)) {
                job.rc = rc;
                job.error = s.error;
            }
            break;
        }
    }
    s.in_kernel = false;
}

inline cudaError_t run_grid(const char* kernel_name, dim3 grid, dim3 block, void (*thunk)(void*),
                            void* ctx) {
    Scheduler& s = sched();
    if (s.in_kernel) {
        return fail(cudaErrorNotSupported, std::string("cuda_emu: kernel ") + kernel_name +
                                               " launched from device code (dynamic parallelism "
                                               "is not supported by the emulator)");
    }
    const unsigned long long nthreads =
        static_cast<unsigned long long>(block.x) * block.y * block.z;
    if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
        block.x > 1024 || block.y > 1024 || block.z > 64 || nthreads > 1024 || grid.y > 65535 ||
        grid.z > 65535 || grid.x > 2147483647u) {
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "cuda_emu: kernel %s: invalid launch configuration grid (%u,%u,%u) block "
                      "(%u,%u,%u) (limits: block <= 1024 threads, grid.y/z <= 65535)",
                      kernel_name, grid.x, grid.y, grid.z, block.x, block.y, block.z);
        return fail(cudaErrorInvalidConfiguration, buf);
    }
    GridJob job;
    job.name = kernel_name;
    job.grid = grid;
    job.block = block;
    job.thunk = thunk;
    job.ctx = ctx;
    job.seed = s.seed;
    job.launch = ++s.launches;
    job.total = static_cast<unsigned long long>(grid.x) * grid.y * grid.z;
    unsigned long long workers = worker_setting().load();
    if (workers > job.total) workers = job.total;
    /* Extra OS threads (each with its own scheduler, stacks and __shared__ storage) take
     * blocks from the same counter; the launching thread takes part too. Results do not
     * depend on the worker count: blocks are independent and each block's schedule is keyed
     * by its own index. */
    std::vector<std::thread> pool;
    for (unsigned long long w = 1; w < workers; ++w) pool.emplace_back([&job] { run_job(job); });
    run_job(job);
    for (std::thread& t : pool) t.join();
    if (job.rc != cudaSuccess) return fail(job.rc, job.error);
    return cudaSuccess;
}

template <typename F>
void call_thunk(void* p) {
    (*static_cast<F*>(p))();
}

}  // namespace detail

/* Schedule seed for the thread order between barriers (per OS thread): 0 = ascending linear
 * thread order, anything else = seeded random permutations. */
inline void set_schedule_seed(unsigned long long seed) { detail::sched().seed = seed; }
inline unsigned long long schedule_seed() { return detail::sched().seed; }

/* OS threads that run the blocks of each launch (process-wide; 1 = strictly in order). */
inline void set_worker_threads(unsigned n) {
    detail::worker_setting().store(n < 1 ? 1u : (n > 256 ? 256u : n));
}

/* The launch that `kernel<<<grid, block, 0, stream>>>(args...)` performs on a GPU. The
 * arguments are converted to the kernel's parameter types once, on the host, and every
 * emulated thread calls the kernel with those copies, as the hardware does. */
template <typename... KArgs, typename... Args>
cudaError_t launch_named(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block,
                         cudaStream_t /*stream: launches are synchronous*/, Args... args) {
    static_assert(sizeof...(KArgs) == sizeof...(Args), "cuda_emu: wrong number of kernel arguments");
    auto body = [kernel, params = std::make_tuple(static_cast<KArgs>(args)...)]() {
        std::apply(kernel, params);
    };
    cudaError_t rc = detail::run_grid(name, grid, block, &detail::call_thunk<decltype(body)>, &body);
    if (rc != cudaSuccess) detail::sched().last_error = rc;
    return rc;
}

/* The current thread's barrier: suspend until every thread of the block arrives here. */
inline void syncthreads(const char* file, int line) {
    detail::Scheduler& s = detail::sched();
    if (!s.in_kernel || !s.cur) {
        std::fprintf(stderr, "cuda_emu: __syncthreads() called outside a kernel (%s:%d)\n", file, line);
        __builtin_trap();
    }
    s.cur->state = detail::kAtBarrier;
    s.cur->bar_file = file;
    s.cur->bar_line = line;
    detail::yield_to_scheduler();
}

inline const uint3& cur_threadIdx() { return detail::sched().threadIdx_; }
inline const uint3& cur_blockIdx() { return detail::sched().blockIdx_; }
inline const dim3& cur_blockDim() { return detail::sched().blockDim_; }
inline const dim3& cur_gridDim() { return detail::sched().gridDim_; }

}  // namespace cuda_emu

#define threadIdx (::cuda_emu::cur_threadIdx())
#define blockIdx (::cuda_emu::cur_blockIdx())
#define blockDim (::cuda_emu::cur_blockDim())
#define gridDim (::cuda_emu::cur_gridDim())
#define __syncthreads() ::cuda_emu::syncthreads(__FILE__, __LINE__)

inline cudaError_t cudaGetLastError() {
    cudaError_t e = ::cuda_emu::detail::sched().last_error;
    ::cuda_emu::detail::sched().last_error = cudaSuccess;
    return e;
}
inline cudaError_t cudaPeekAtLastError() { return ::cuda_emu::detail::sched().last_error; }
inline const char* cudaGetErrorString(cudaError_t e) {
    if (e == cudaSuccess) return "no error";
    const std::string& msg = ::cuda_emu::detail::sched().error;
    return msg.empty() ? "cuda_emu: launch failed" : msg.c_str();
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

#endif /* ALEXNET_CUDA_EMU_H */
