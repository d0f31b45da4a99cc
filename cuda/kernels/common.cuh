/*
 * common.cuh -- what every kernel file shares: the choice of host (nvcc or the emulator),
 * the launch helper, argument checking and the per-thread error message of the C ABI.
 */
#ifndef ALEXNET_CONVNET_COMMON_CUH
#define ALEXNET_CONVNET_COMMON_CUH

#ifdef __CUDACC__
#include <cuda_runtime.h>
#define CONVNET_HOST_NAME "cuda"
#else
#include "cuda_emu.h"
#define CONVNET_HOST_NAME "emulation"
#endif

#include <cstdarg>
#include <cstdint>
#include <cstdio>

#include "convnet_kernels.h"

namespace convnet {

/* Set the calling thread's error message (printf-style) and return `code`. */
int set_error(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void clear_error();

/* Launch `kernel` on (grid, block): `kernel<<<grid, block, 0, stream>>>(args...)` on a GPU,
 * a synchronous emulated launch otherwise. Returns CONVNET_OK or CONVNET_ERR_LAUNCH with the
 * runtime's message. The name only labels error messages. */
template <typename... KArgs, typename... Args>
int launch(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, void* stream,
           Args... args) {
    static_assert(sizeof...(KArgs) == sizeof...(Args), "wrong number of kernel arguments");
#ifdef __CUDACC__
    kernel<<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(static_cast<KArgs>(args)...);
    cudaError_t rc = cudaGetLastError();
    if (rc != cudaSuccess) {
        return set_error(CONVNET_ERR_LAUNCH, "%s: CUDA launch failed: %s", name,
                         cudaGetErrorString(rc));
    }
    return CONVNET_OK;
#else
    cudaError_t rc = ::cuda_emu::launch_named(name, kernel, grid, block,
                                              static_cast<cudaStream_t>(stream), args...);
    if (rc != cudaSuccess) {
        return set_error(CONVNET_ERR_LAUNCH, "%s", cudaGetErrorString(rc));
    }
    return CONVNET_OK;
#endif
}

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

/* Reject sizes whose flat index would overflow the kernels' 32-bit int arithmetic. */
constexpr int64_t kMaxElements = 2147483647LL;

}  // namespace convnet

/* Return a precondition error from the enclosing C ABI function when `cond` is false. */
#define CONVNET_REQUIRE(cond, ...)                                                 \
    do {                                                                           \
        if (!(cond)) return ::convnet::set_error(CONVNET_ERR_PRECONDITION, __VA_ARGS__); \
    } while (0)

/* Run a launch and propagate its error code. */
#define CONVNET_TRY(expr)              \
    do {                               \
        int convnet_rc_ = (expr);      \
        if (convnet_rc_ != CONVNET_OK) return convnet_rc_; \
    } while (0)

#endif /* ALEXNET_CONVNET_COMMON_CUH */
