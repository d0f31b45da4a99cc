/*
 * pool.cu -- local pooling (convLocalPool with the max, average and max-abs poolers) and its
 * gradients (convLocalMaxUndo, convLocalAvgUndo). Answers to docs/reference/kernels.md, Pooling.
 *
 * Layout (C, size, size, N) for inputs and outputs; one (startX, strideX, subsX) for both axes
 * and square images, as in 2012. These kernels, like the 2012 ones on the AlexNet path, need
 * no shared memory: every thread reads its own window. Block: 32 x 4 threads;
 * threadIdx.x picks images (tx + 32*i), threadIdx.y picks channels (ty + 4*k).
 *   forward: blockIdx.x = ox * imageBlocks + imageBlock, blockIdx.y = oy * channelBlocks + cb
 *   undo:    blockIdx.x = x  * imageBlocks + imageBlock, blockIdx.y = y  * channelBlocks + cb
 */
#include "common.cuh"
#include "conv_geom.cuh"

namespace convnet {
namespace {

constexpr int kPoolBX = 32;
constexpr int kPoolBY = 4;

struct PoolGeom {
    int numImages, numChannels, imgSize, subsX, startX, strideX, outputsX;
};

template <int poolType>
__device__ __forceinline__ float pool_base() {
    return poolType == CONVNET_POOL_MAX ? -2e38f : 0.0f;
}

template <int poolType>
__device__ __forceinline__ float pool_step(float acc, float v) {
    if (poolType == CONVNET_POOL_MAX) return fmaxf(acc, v);
    if (poolType == CONVNET_POOL_AVG) return acc + v;
    return fabsf(v) >= fabsf(acc) ? v : acc; /* max-abs: on equal |.| the newer pixel wins */
}

template <int poolType, int imgsPerThread, int chansPerThread>
__global__ void local_pool_kernel(const float* images, float* targets, PoolGeom g) {
    constexpr int kBlockImgs = kPoolBX * imgsPerThread;
    constexpr int kBlockChans = kPoolBY * chansPerThread;
    const int imageBlocks = (g.numImages + kBlockImgs - 1) / kBlockImgs;
    const int channelBlocks = (g.numChannels + kBlockChans - 1) / kBlockChans;
    const int ox = blockIdx.x / imageBlocks;
    const int blockImg = (blockIdx.x % imageBlocks) * kBlockImgs;
    const int oy = blockIdx.y / channelBlocks;
    const int blockChan = (blockIdx.y % channelBlocks) * kBlockChans;
    const int tx = threadIdx.x;
    const int ty = threadIdx.y;

    const int y0 = g.startX + oy * g.strideX;
    const int x0 = g.startX + ox * g.strideX;
    const int yBegin = imax(0, y0), yEnd = imin(g.imgSize, y0 + g.subsX);
    const int xBegin = imax(0, x0), xEnd = imin(g.imgSize, x0 + g.subsX);
    const int regionSize = (yEnd - yBegin) * (xEnd - xBegin);

    for (int k = 0; k < chansPerThread; ++k) {
        const int c = blockChan + ty + k * kPoolBY;
        if (c >= g.numChannels) continue;
        float acc[imgsPerThread];
#pragma unroll
        for (int i = 0; i < imgsPerThread; ++i) acc[i] = pool_base<poolType>();
        for (int y = yBegin; y < yEnd; ++y) {
            for (int x = xBegin; x < xEnd; ++x) {
                const float* src = images + ((c * g.imgSize + y) * g.imgSize + x) * g.numImages;
#pragma unroll
                for (int i = 0; i < imgsPerThread; ++i) {
                    const int n = blockImg + tx + i * kPoolBX;
                    if (n < g.numImages) acc[i] = pool_step<poolType>(acc[i], src[n]);
                }
            }
        }
        float* dst = targets + ((c * g.outputsX + oy) * g.outputsX + ox) * g.numImages;
#pragma unroll
        for (int i = 0; i < imgsPerThread; ++i) {
            const int n = blockImg + tx + i * kPoolBX;
            if (n < g.numImages) {
                dst[n] = poolType == CONVNET_POOL_AVG ? acc[i] / static_cast<float>(regionSize)
                                                      : acc[i];
            }
        }
    }
}

/* Output windows o whose span [start + o*stride, + subs) contains pixel p, as [begin, end). */
__device__ __forceinline__ void covering_windows(int p, const PoolGeom& g, int& begin, int& end) {
    const int rel = p - g.startX;
    if (rel < 0 || rel >= g.strideX * (g.outputsX - 1) + g.subsX) {
        begin = 0;
        end = 0;
        return;
    }
    begin = rel < g.subsX ? 0 : 1 + (rel - g.subsX) / g.strideX;
    end = imin(g.outputsX, 1 + rel / g.strideX);
}

/* isAvg = false: max undo (images/maxActs compared for equality); true: average undo. */
template <bool isAvg, int imgsPerThread, int chansPerThread>
__global__ void local_pool_undo_kernel(const float* images, const float* outGrads,
                                       const float* outActs, float* target, PoolGeom g,
                                       float scaleTargets, float scaleOutput) {
    constexpr int kBlockImgs = kPoolBX * imgsPerThread;
    constexpr int kBlockChans = kPoolBY * chansPerThread;
    const int imageBlocks = (g.numImages + kBlockImgs - 1) / kBlockImgs;
    const int channelBlocks = g.numChannels / kBlockChans;
    const int x = blockIdx.x / imageBlocks;
    const int blockImg = (blockIdx.x % imageBlocks) * kBlockImgs;
    const int y = blockIdx.y / channelBlocks;
    const int blockChan = (blockIdx.y % channelBlocks) * kBlockChans;
    const int tx = threadIdx.x;
    const int ty = threadIdx.y;

    int oyBegin, oyEnd, oxBegin, oxEnd;
    covering_windows(y, g, oyBegin, oyEnd);
    covering_windows(x, g, oxBegin, oxEnd);

    for (int k = 0; k < chansPerThread; ++k) {
        const int c = blockChan + ty + k * kPoolBY;
        float grad[imgsPerThread];
        float in[imgsPerThread];
        const int pixOffset = ((c * g.imgSize + y) * g.imgSize + x) * g.numImages;
#pragma unroll
        for (int i = 0; i < imgsPerThread; ++i) {
            const int n = blockImg + tx + i * kPoolBX;
            grad[i] = 0.0f;
            in[i] = (!isAvg && n < g.numImages) ? images[pixOffset + n] : 0.0f;
        }
        for (int oy = oyBegin; oy < oyEnd; ++oy) {
            for (int ox = oxBegin; ox < oxEnd; ++ox) {
                const int outOffset = ((c * g.outputsX + oy) * g.outputsX + ox) * g.numImages;
                float area = 1.0f;
                if (isAvg) {
                    const int wy = g.startX + oy * g.strideX;
                    const int wx = g.startX + ox * g.strideX;
                    area = static_cast<float>((imin(g.imgSize, wy + g.subsX) - imax(0, wy)) *
                                              (imin(g.imgSize, wx + g.subsX) - imax(0, wx)));
                }
#pragma unroll
                for (int i = 0; i < imgsPerThread; ++i) {
                    const int n = blockImg + tx + i * kPoolBX;
                    if (n < g.numImages) {
                        if (isAvg) {
                            grad[i] += outGrads[outOffset + n] / area;
                        } else if (in[i] == outActs[outOffset + n]) {
                            grad[i] += outGrads[outOffset + n];
                        }
                    }
                }
            }
        }
#pragma unroll
        for (int i = 0; i < imgsPerThread; ++i) {
            const int n = blockImg + tx + i * kPoolBX;
            if (n < g.numImages) {
                float* t = target + pixOffset + n;
                *t = scaleTargets == 0.0f ? scaleOutput * grad[i]
                                          : scaleTargets * *t + scaleOutput * grad[i];
            }
        }
    }
}

int check_pool(const char* routine, const PoolGeom& g) {
    CONVNET_REQUIRE(g.numImages > 0 && g.numChannels > 0 && g.imgSize > 0,
                    "%s: numImages (%d), numChannels (%d) and imgSize (%d) must be positive",
                    routine, g.numImages, g.numChannels, g.imgSize);
    CONVNET_REQUIRE(g.subsX > 0 && g.strideX > 0 && g.outputsX > 0,
                    "%s: sizeX (%d), stride (%d) and outputsX (%d) must be positive", routine,
                    g.subsX, g.strideX, g.outputsX);
    /* Not asserted in 2012: a window entirely outside the image would pool nothing (max:
     * -2e38, average: 0/0). Refuse instead of returning such garbage. */
    CONVNET_REQUIRE(g.startX + g.subsX > 0 && g.startX + (g.outputsX - 1) * g.strideX < g.imgSize,
                    "%s: start %d, size %d, stride %d, %d outputs: a window lies outside the "
                    "%d-pixel image",
                    routine, g.startX, g.subsX, g.strideX, g.outputsX, g.imgSize);
    const long long imgElems =
        static_cast<long long>(g.numChannels) * g.imgSize * g.imgSize * g.numImages;
    const long long outElems =
        static_cast<long long>(g.numChannels) * g.outputsX * g.outputsX * g.numImages;
    CONVNET_REQUIRE(imgElems <= kMaxElements && outElems <= kMaxElements,
                    "%s: more than 2^31-1 elements", routine);
    return CONVNET_OK;
}

template <int poolType, int imgsPerThread>
int launch_pool(const float* images, float* targets, const PoolGeom& g, void* stream) {
    const int chans = g.numChannels % 8 == 0 ? 2 : 1;
    const long long gx =
        static_cast<long long>(ceil_div(g.numImages, kPoolBX * imgsPerThread)) * g.outputsX;
    const long long gy =
        static_cast<long long>(ceil_div(g.numChannels, kPoolBY * chans)) * g.outputsX;
    CONVNET_REQUIRE(gy <= 65535, "local_pool: grid y (%lld) exceeds 65535", gy);
    const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
    const dim3 block(kPoolBX, kPoolBY);
    if (chans == 2) {
        return launch("local_pool_kernel", local_pool_kernel<poolType, imgsPerThread, 2>, grid,
                      block, stream, images, targets, g);
    }
    return launch("local_pool_kernel", local_pool_kernel<poolType, imgsPerThread, 1>, grid, block,
                  stream, images, targets, g);
}

template <int poolType>
int dispatch_pool(const float* images, float* targets, const PoolGeom& g, void* stream) {
    if (g.numImages % 128 == 0) return launch_pool<poolType, 4>(images, targets, g, stream);
    if (g.numImages % 64 == 0) return launch_pool<poolType, 2>(images, targets, g, stream);
    return launch_pool<poolType, 1>(images, targets, g, stream);
}

template <bool isAvg, int imgsPerThread>
int launch_undo(const float* images, const float* grads, const float* acts, float* target,
                const PoolGeom& g, float scaleTargets, float scaleOutput, void* stream) {
    constexpr int kChans = isAvg ? 4 : 2;
    const long long gx =
        static_cast<long long>(ceil_div(g.numImages, kPoolBX * imgsPerThread)) * g.imgSize;
    const long long gy = static_cast<long long>(g.numChannels / (kPoolBY * kChans)) * g.imgSize;
    CONVNET_REQUIRE(gy <= 65535, "%s: grid y (%lld) exceeds 65535",
                    isAvg ? "local_avg_undo" : "local_max_undo", gy);
    return launch(isAvg ? "local_avg_undo_kernel" : "local_max_undo_kernel",
                  local_pool_undo_kernel<isAvg, imgsPerThread, kChans>,
                  dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy)),
                  dim3(kPoolBX, kPoolBY), stream, images, grads, acts, target, g, scaleTargets,
                  scaleOutput);
}

template <bool isAvg>
int dispatch_undo(const float* images, const float* grads, const float* acts, float* target,
                  const PoolGeom& g, float scaleTargets, float scaleOutput, void* stream) {
    const char* routine = isAvg ? "local_avg_undo" : "local_max_undo";
    CONVNET_TRY(check_pool(routine, g));
    CONVNET_REQUIRE(g.numChannels % 16 == 0,
                    "%s: numChannels must be a multiple of 16, got %d", routine, g.numChannels);
    CONVNET_REQUIRE(g.strideX <= g.subsX, "%s: stride (%d) must not exceed sizeX (%d)", routine,
                    g.strideX, g.subsX);
    if (g.numImages % 128 == 0) {
        return launch_undo<isAvg, 4>(images, grads, acts, target, g, scaleTargets, scaleOutput,
                                     stream);
    }
    if (g.numImages % 64 == 0) {
        return launch_undo<isAvg, 2>(images, grads, acts, target, g, scaleTargets, scaleOutput,
                                     stream);
    }
    return launch_undo<isAvg, 1>(images, grads, acts, target, g, scaleTargets, scaleOutput, stream);
}

}  // namespace
}  // namespace convnet

extern "C" int convnet_local_pool(const float* images, float* targets, int numImages,
                                  int numChannels, int imgSize, int poolType, int subsX,
                                  int startX, int strideX, int outputsX, void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(images && targets, "local_pool: null pointer argument");
    const PoolGeom g{numImages, numChannels, imgSize, subsX, startX, strideX, outputsX};
    CONVNET_TRY(check_pool("local_pool", g));
    switch (poolType) {
        case CONVNET_POOL_MAX:
            return dispatch_pool<CONVNET_POOL_MAX>(images, targets, g, stream);
        case CONVNET_POOL_AVG:
            return dispatch_pool<CONVNET_POOL_AVG>(images, targets, g, stream);
        case CONVNET_POOL_MAXABS:
            return dispatch_pool<CONVNET_POOL_MAXABS>(images, targets, g, stream);
        default:
            return set_error(CONVNET_ERR_PRECONDITION,
                             "local_pool: poolType must be 0 (max), 1 (avg) or 2 (maxabs), got %d",
                             poolType);
    }
}

extern "C" int convnet_local_max_undo(const float* images, const float* maxGrads,
                                      const float* maxActs, float* target, int numImages,
                                      int numChannels, int imgSize, int subsX, int startX,
                                      int strideX, int outputsX, float scaleTargets,
                                      float scaleOutput, void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(images && maxGrads && maxActs && target, "local_max_undo: null pointer argument");
    const PoolGeom g{numImages, numChannels, imgSize, subsX, startX, strideX, outputsX};
    return dispatch_undo<false>(images, maxGrads, maxActs, target, g, scaleTargets, scaleOutput,
                                stream);
}

extern "C" int convnet_local_avg_undo(const float* avgGrads, float* target, int numImages,
                                      int numChannels, int imgSize, int subsX, int startX,
                                      int strideX, int outputsX, float scaleTargets,
                                      float scaleOutput, void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(avgGrads && target, "local_avg_undo: null pointer argument");
    const PoolGeom g{numImages, numChannels, imgSize, subsX, startX, strideX, outputsX};
    return dispatch_undo<true>(avgGrads, avgGrads, avgGrads, target, g, scaleTargets, scaleOutput,
                               stream);
}
