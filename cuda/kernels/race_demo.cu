/*
 * race_demo.cu -- a kernel whose barrier can be switched off, for the emulator's self-test.
 *
 * Each thread stores its input in shared memory and then reads its left neighbour's slot.
 * Without the barrier in between, the neighbour may not have stored yet: on a GPU warps run
 * in any order; under the emulator the seeded schedules reproduce that. In ascending thread
 * order (seed 0, and nvcc -deviceemu before CUDA 3.1) the neighbour always ran first, so the
 * bug stays hidden: that is the case the seeded schedules exist for.
 */
#include "common.cuh"

namespace {

constexpr int kMaxDemoBlock = 256;

__global__ void race_demo_kernel(const float* in, float* out, int n, int withBarrier) {
    __shared__ float shVals[kMaxDemoBlock];
    const int t = threadIdx.x;
    const int i = blockIdx.x * blockDim.x + t;
    shVals[t] = i < n ? in[i] : 0.0f;
    if (withBarrier) {
        __syncthreads();
    }
    if (i < n) {
        out[i] = shVals[t] + (t > 0 ? shVals[t - 1] : 0.0f);
    }
}

}  // namespace

extern "C" int convnet_race_demo(const float* in, float* out, int n, int blockSize,
                                 int withBarrier, void* stream) {
    convnet::clear_error();
    CONVNET_REQUIRE(in != nullptr && out != nullptr, "race_demo: null pointer");
    CONVNET_REQUIRE(n > 0, "race_demo: n must be positive, got %d", n);
    CONVNET_REQUIRE(blockSize > 0 && blockSize <= kMaxDemoBlock,
                    "race_demo: blockSize must be in [1, %d], got %d", kMaxDemoBlock, blockSize);
    const int blocks = convnet::ceil_div(n, blockSize);
    return convnet::launch("race_demo_kernel", race_demo_kernel, dim3(blocks), dim3(blockSize),
                           stream, in, out, n, withBarrier);
}
