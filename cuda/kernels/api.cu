/*
 * api.cu -- the library-level parts of the C ABI: version, host name, per-thread error
 * messages and the emulator's schedule seed.
 */
#include <cstdarg>
#include <cstdio>

#include "common.cuh"

namespace {
/* One message per OS thread, so concurrent callers (e.g. autograd worker threads) never read
 * each other's errors. */
thread_local char g_error[512] = "";
}  // namespace

namespace convnet {

int set_error(int code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return code;
}

void clear_error() { g_error[0] = '\0'; }

}  // namespace convnet

extern "C" {

int convnet_abi_version(void) { return CONVNET_ABI_VERSION; }

const char* convnet_host(void) { return CONVNET_HOST_NAME; }

const char* convnet_last_error(void) { return g_error; }

int convnet_emu_set_schedule_seed(unsigned long long seed) {
#ifdef __CUDACC__
    (void)seed;
    return convnet::set_error(CONVNET_ERR_LAUNCH,
                              "convnet_emu_set_schedule_seed: only the emulation host has a "
                              "thread schedule; this library was built by nvcc");
#else
    ::cuda_emu::set_schedule_seed(seed);
    return CONVNET_OK;
#endif
}

int convnet_emu_set_worker_threads(int threads) {
#ifdef __CUDACC__
    (void)threads;
    return convnet::set_error(CONVNET_ERR_LAUNCH,
                              "convnet_emu_set_worker_threads: only the emulation host has "
                              "worker threads; this library was built by nvcc");
#else
    if (threads < 1 || threads > 256) {
        return convnet::set_error(CONVNET_ERR_PRECONDITION,
                                  "emulation worker threads must be in [1, 256], got %d", threads);
    }
    ::cuda_emu::set_worker_threads(static_cast<unsigned>(threads));
    return CONVNET_OK;
#endif
}

int convnet_cuda_set_device(int device) {
#ifdef __CUDACC__
    convnet::clear_error();
    cudaError_t rc = cudaSetDevice(device);
    if (rc != cudaSuccess) {
        return convnet::set_error(CONVNET_ERR_LAUNCH, "cudaSetDevice(%d) failed: %s", device,
                                  cudaGetErrorString(rc));
    }
    return CONVNET_OK;
#else
    (void)device;
    return convnet::set_error(CONVNET_ERR_LAUNCH,
                              "convnet_cuda_set_device: this library is the emulation host "
                              "(CPU pointers only)");
#endif
}

}  // extern "C"
