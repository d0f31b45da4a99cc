/*
 * norm.cu -- response normalisation across maps (cmrnorm, the paper's LRN), within maps
 * (rnorm) and contrast normalisation (cnorm), with their gradients. Answers to
 * docs/reference/kernels.md, the two normalisation sections.
 *
 *   cross-map:  d = minDiv + addScale * sum_{c'' in window(c)} x[c'']^2,  out = x * d^-pow
 *               window(c) = [c - size/2, c - size/2 + size) clipped to [0, C), or the aligned
 *               block [(c/size)*size, +size) when `blocked`.
 *   within-map: d = 1 + addScale * sum over the size x size window (rows and columns
 *               [p - size/2, p - size/2 + size), clipped) of meanDiffs^2, out = images * d^-pow.
 *   undo (both): a = -2*addScale*pow * g * out / d is written over `acts` (the 2012 in-place
 *               prelim), then grad = inputs * sum_{i whose window holds j} a[i] + g * d^-pow.
 *
 * Layout (C, size, size, N). Block: 32 x 4 threads; threadIdx.x picks images (tx + 32*i),
 * threadIdx.y picks channels (ty + 4*k); blockIdx.x = x * imageBlocks + imageBlock,
 * blockIdx.y = y * channelBlocks + channelBlock. As in the 2012 kernels used by AlexNet these
 * read their windows straight from global memory: no shared memory, no barrier.
 */
#include "common.cuh"
#include "conv_geom.cuh"

namespace convnet {
namespace {

constexpr int kNormBX = 32;
constexpr int kNormBY = 4;

struct NormGeom {
    int numImages, numChannels, imgSize, size, blocked;
    float addScale, powScale, minDiv;
};

/* Channel window of c (forward), as [begin, end). */
__device__ __forceinline__ void channel_window(int c, const NormGeom& g, int& begin, int& end) {
    if (g.blocked) {
        begin = (c / g.size) * g.size;
        end = imin(g.numChannels, begin + g.size);
    } else {
        begin = imax(0, c - g.size / 2);
        end = imin(g.numChannels, c - g.size / 2 + g.size);
    }
}

/* Channels whose forward window contains c, as [begin, end). */
__device__ __forceinline__ void channel_window_transposed(int c, const NormGeom& g, int& begin,
                                                          int& end) {
    if (g.blocked) {
        begin = (c / g.size) * g.size;
        end = imin(g.numChannels, begin + g.size);
    } else {
        begin = imax(0, c - g.size + g.size / 2 + 1);
        end = imin(g.numChannels, c + g.size / 2 + 1);
    }
}

/* Decode the block's pixel, images and channels; shared by all kernels of this file. */
struct NormBlock {
    int y, x, blockImg, blockChan;
};

template <int imgsPerThread, int chansPerThread>
__device__ __forceinline__ NormBlock decode_block(const NormGeom& g) {
    constexpr int kBlockImgs = kNormBX * imgsPerThread;
    constexpr int kBlockChans = kNormBY * chansPerThread;
    const int imageBlocks = (g.numImages + kBlockImgs - 1) / kBlockImgs;
    const int channelBlocks = (g.numChannels + kBlockChans - 1) / kBlockChans;
    NormBlock b;
    b.x = blockIdx.x / imageBlocks;
    b.blockImg = (blockIdx.x % imageBlocks) * kBlockImgs;
    b.y = blockIdx.y / channelBlocks;
    b.blockChan = (blockIdx.y % channelBlocks) * kBlockChans;
    return b;
}

template <int imgsPerThread>
__global__ void cross_map_norm_kernel(const float* images, float* denoms, float* target,
                                      NormGeom g) {
    const NormBlock b = decode_block<imgsPerThread, 1>(g);
    const int c = b.blockChan + threadIdx.y;
    if (c >= g.numChannels) return; /* no barrier in this kernel */
    const int pixStride = g.imgSize * g.imgSize * g.numImages;
    const int pix = (b.y * g.imgSize + b.x) * g.numImages;
    int cBegin, cEnd;
    channel_window(c, g, cBegin, cEnd);
#pragma unroll
    for (int i = 0; i < imgsPerThread; ++i) {
        const int n = b.blockImg + threadIdx.x + i * kNormBX;
        if (n >= g.numImages) continue;
        float sum = 0.0f;
        for (int cc = cBegin; cc < cEnd; ++cc) {
            const float v = images[cc * pixStride + pix + n];
            sum += v * v;
        }
        const float d = g.minDiv + g.addScale * sum;
        const int at = c * pixStride + pix + n;
        denoms[at] = d;
        target[at] = images[at] * __powf(d, -g.powScale);
    }
}

template <int imgsPerThread>
__global__ void cross_map_norm_undo_kernel(const float* outGrads, const float* denoms,
                                           const float* inputs, const float* prelim, float* target,
                                           NormGeom g, float scaleTargets, float scaleOutput) {
    const NormBlock b = decode_block<imgsPerThread, 1>(g);
    const int c = b.blockChan + threadIdx.y;
    if (c >= g.numChannels) return;
    const int pixStride = g.imgSize * g.imgSize * g.numImages;
    const int pix = (b.y * g.imgSize + b.x) * g.numImages;
    int cBegin, cEnd;
    channel_window_transposed(c, g, cBegin, cEnd);
#pragma unroll
    for (int i = 0; i < imgsPerThread; ++i) {
        const int n = b.blockImg + threadIdx.x + i * kNormBX;
        if (n >= g.numImages) continue;
        float sum = 0.0f;
        for (int cc = cBegin; cc < cEnd; ++cc) sum += prelim[cc * pixStride + pix + n];
        const int at = c * pixStride + pix + n;
        const float grad = inputs[at] * sum + outGrads[at] * __powf(denoms[at], -g.powScale);
        target[at] = scaleTargets == 0.0f ? scaleOutput * grad
                                          : scaleTargets * target[at] + scaleOutput * grad;
    }
}

template <int imgsPerThread>
__global__ void contrast_norm_kernel(const float* images, const float* meanDiffs, float* denoms,
                                     float* target, NormGeom g) {
    const NormBlock b = decode_block<imgsPerThread, 1>(g);
    const int c = b.blockChan + threadIdx.y;
    if (c >= g.numChannels) return;
    const int yBegin = imax(0, b.y - g.size / 2);
    const int yEnd = imin(g.imgSize, b.y - g.size / 2 + g.size);
    const int xBegin = imax(0, b.x - g.size / 2);
    const int xEnd = imin(g.imgSize, b.x - g.size / 2 + g.size);
    const int chanOffset = c * g.imgSize * g.imgSize * g.numImages;
#pragma unroll
    for (int i = 0; i < imgsPerThread; ++i) {
        const int n = b.blockImg + threadIdx.x + i * kNormBX;
        if (n >= g.numImages) continue;
        float sum = 0.0f;
        for (int y = yBegin; y < yEnd; ++y) {
            for (int x = xBegin; x < xEnd; ++x) {
                const float v = meanDiffs[chanOffset + (y * g.imgSize + x) * g.numImages + n];
                sum += v * v;
            }
        }
        const float d = 1.0f + g.addScale * sum;
        const int at = chanOffset + (b.y * g.imgSize + b.x) * g.numImages + n;
        denoms[at] = d;
        target[at] = images[at] * __powf(d, -g.powScale);
    }
}

template <int imgsPerThread>
__global__ void response_norm_undo_kernel(const float* outGrads, const float* denoms,
                                          const float* inputs, const float* prelim, float* target,
                                          NormGeom g, float scaleTargets, float scaleOutput) {
    const NormBlock b = decode_block<imgsPerThread, 1>(g);
    const int c = b.blockChan + threadIdx.y;
    if (c >= g.numChannels) return;
    /* Pixels i whose window [i - size/2, i - size/2 + size) holds this pixel. */
    const int yBegin = imax(0, b.y - g.size + g.size / 2 + 1);
    const int yEnd = imin(g.imgSize, b.y + g.size / 2 + 1);
    const int xBegin = imax(0, b.x - g.size + g.size / 2 + 1);
    const int xEnd = imin(g.imgSize, b.x + g.size / 2 + 1);
    const int chanOffset = c * g.imgSize * g.imgSize * g.numImages;
#pragma unroll
    for (int i = 0; i < imgsPerThread; ++i) {
        const int n = b.blockImg + threadIdx.x + i * kNormBX;
        if (n >= g.numImages) continue;
        float sum = 0.0f;
        for (int y = yBegin; y < yEnd; ++y) {
            for (int x = xBegin; x < xEnd; ++x) {
                sum += prelim[chanOffset + (y * g.imgSize + x) * g.numImages + n];
            }
        }
        const int at = chanOffset + (b.y * g.imgSize + b.x) * g.numImages + n;
        const float grad = inputs[at] * sum + outGrads[at] * __powf(denoms[at], -g.powScale);
        target[at] = scaleTargets == 0.0f ? scaleOutput * grad
                                          : scaleTargets * target[at] + scaleOutput * grad;
    }
}

/* The 2012 prelim, in place: acts := -2*addScale*powScale * outGrads * acts / denoms. */
__global__ void norm_undo_prelims_kernel(const float* outGrads, const float* denoms, float* acts,
                                         int numElements, float coeff) {
    const int stride = gridDim.x * blockDim.x;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < numElements; i += stride) {
        acts[i] = coeff * outGrads[i] * acts[i] / denoms[i];
    }
}

int check_norm(const char* routine, const NormGeom& g) {
    CONVNET_REQUIRE(g.numImages > 0 && g.numChannels > 0 && g.imgSize > 0,
                    "%s: numImages (%d), numChannels (%d) and imgSize (%d) must be positive",
                    routine, g.numImages, g.numChannels, g.imgSize);
    CONVNET_REQUIRE(static_cast<long long>(g.numChannels) * g.imgSize * g.imgSize * g.numImages <=
                        kMaxElements,
                    "%s: more than 2^31-1 elements", routine);
    return CONVNET_OK;
}

/* Grid for the per-pixel norm kernels; one channel per thread. */
template <int imgsPerThread>
int norm_grid(const char* routine, const NormGeom& g, dim3& grid) {
    const long long gx =
        static_cast<long long>(ceil_div(g.numImages, kNormBX * imgsPerThread)) * g.imgSize;
    const long long gy = static_cast<long long>(ceil_div(g.numChannels, kNormBY)) * g.imgSize;
    CONVNET_REQUIRE(gy <= 65535, "%s: grid y (%lld) exceeds 65535", routine, gy);
    grid = dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
    return CONVNET_OK;
}

int launch_prelims(const char* routine, const float* outGrads, const float* denoms, float* acts,
                   const NormGeom& g, void* stream) {
    const int numElements = g.numChannels * g.imgSize * g.imgSize * g.numImages;
    constexpr int kThreads = 256;
    const int blocks = imin(ceil_div(numElements, kThreads), 4096);
    (void)routine;
    return launch("norm_undo_prelims_kernel", norm_undo_prelims_kernel, dim3(blocks),
                  dim3(kThreads), stream, outGrads, denoms, acts, numElements,
                  -2.0f * g.addScale * g.powScale);
}

/* Run `fn<ipt>` with imgsPerThread 4, 2 or 1 as the 2012 kernels chose it. */
#define CONVNET_BY_IPT(numImages, CALL) \
    ((numImages) % 128 == 0 ? CALL(4) : (numImages) % 64 == 0 ? CALL(2) : CALL(1))

template <int ipt>
int run_cross_map(const float* images, float* denoms, float* target, const NormGeom& g,
                  void* stream) {
    dim3 grid;
    CONVNET_TRY(norm_grid<ipt>("response_norm_cross_map", g, grid));
    return launch("cross_map_norm_kernel", cross_map_norm_kernel<ipt>, grid,
                  dim3(kNormBX, kNormBY), stream, images, denoms, target, g);
}

template <int ipt>
int run_cross_map_undo(const float* outGrads, const float* denoms, const float* inputs,
                       float* acts, float* target, const NormGeom& g, float scaleTargets,
                       float scaleOutput, void* stream) {
    dim3 grid;
    CONVNET_TRY(norm_grid<ipt>("response_norm_cross_map_undo", g, grid));
    CONVNET_TRY(launch_prelims("response_norm_cross_map_undo", outGrads, denoms, acts, g, stream));
    return launch("cross_map_norm_undo_kernel", cross_map_norm_undo_kernel<ipt>, grid,
                  dim3(kNormBX, kNormBY), stream, outGrads, denoms, inputs,
                  static_cast<const float*>(acts), target, g, scaleTargets, scaleOutput);
}

template <int ipt>
int run_contrast(const float* images, const float* meanDiffs, float* denoms, float* target,
                 const NormGeom& g, void* stream) {
    dim3 grid;
    CONVNET_TRY(norm_grid<ipt>("contrast_norm", g, grid));
    return launch("contrast_norm_kernel", contrast_norm_kernel<ipt>, grid, dim3(kNormBX, kNormBY),
                  stream, images, meanDiffs, denoms, target, g);
}

template <int ipt>
int run_response_undo(const float* outGrads, const float* denoms, const float* inputs, float* acts,
                      float* target, const NormGeom& g, float scaleTargets, float scaleOutput,
                      void* stream) {
    dim3 grid;
    CONVNET_TRY(norm_grid<ipt>("response_norm_undo", g, grid));
    CONVNET_TRY(launch_prelims("response_norm_undo", outGrads, denoms, acts, g, stream));
    return launch("response_norm_undo_kernel", response_norm_undo_kernel<ipt>, grid,
                  dim3(kNormBX, kNormBY), stream, outGrads, denoms, inputs,
                  static_cast<const float*>(acts), target, g, scaleTargets, scaleOutput);
}

}  // namespace
}  // namespace convnet

extern "C" int convnet_response_norm_cross_map(const float* images, float* denoms, float* target,
                                               int numImages, int numChannels, int imgSize,
                                               int sizeF, float addScale, float powScale,
                                               float minDiv, int blocked, void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(images && denoms && target, "response_norm_cross_map: null pointer argument");
    const NormGeom g{numImages, numChannels, imgSize, sizeF, blocked ? 1 : 0,
                     addScale,  powScale,    minDiv};
    CONVNET_TRY(check_norm("response_norm_cross_map", g));
    CONVNET_REQUIRE(numChannels % 16 == 0,
                    "response_norm_cross_map: numChannels must be a multiple of 16, got %d",
                    numChannels);
    CONVNET_REQUIRE(sizeF > 0 && sizeF <= numChannels,
                    "response_norm_cross_map: size must be in [1, numChannels=%d], got %d",
                    numChannels, sizeF);
#define CALL(ipt) run_cross_map<ipt>(images, denoms, target, g, stream)
    return CONVNET_BY_IPT(numImages, CALL);
#undef CALL
}

extern "C" int convnet_response_norm_cross_map_undo(const float* outGrads, const float* denoms,
                                                    const float* inputs, float* acts,
                                                    float* target, int numImages, int numChannels,
                                                    int imgSize, int sizeF, float addScale,
                                                    float powScale, int blocked,
                                                    float scaleTargets, float scaleOutput,
                                                    void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(outGrads && denoms && inputs && acts && target,
                    "response_norm_cross_map_undo: null pointer argument");
    const NormGeom g{numImages, numChannels, imgSize, sizeF, blocked ? 1 : 0,
                     addScale,  powScale,    1.0f};
    CONVNET_TRY(check_norm("response_norm_cross_map_undo", g));
    CONVNET_REQUIRE(numChannels % 16 == 0,
                    "response_norm_cross_map_undo: numChannels must be a multiple of 16, got %d",
                    numChannels);
    CONVNET_REQUIRE(sizeF > 0 && sizeF <= numChannels,
                    "response_norm_cross_map_undo: size must be in [1, numChannels=%d], got %d",
                    numChannels, sizeF);
#define CALL(ipt) \
    run_cross_map_undo<ipt>(outGrads, denoms, inputs, acts, target, g, scaleTargets, scaleOutput, stream)
    return CONVNET_BY_IPT(numImages, CALL);
#undef CALL
}

extern "C" int convnet_contrast_norm(const float* images, const float* meanDiffs, float* denoms,
                                     float* target, int numImages, int numChannels, int imgSize,
                                     int sizeX, float addScale, float powScale, void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(images && meanDiffs && denoms && target, "contrast_norm: null pointer argument");
    const NormGeom g{numImages, numChannels, imgSize, sizeX, 0, addScale, powScale, 1.0f};
    CONVNET_TRY(check_norm("contrast_norm", g));
    CONVNET_REQUIRE(numChannels % 16 == 0 || numChannels <= 8,
                    "contrast_norm: numChannels must be <= 8 or a multiple of 16, got %d",
                    numChannels);
    CONVNET_REQUIRE(sizeX > 0, "contrast_norm: size must be positive, got %d", sizeX);
#define CALL(ipt) run_contrast<ipt>(images, meanDiffs, denoms, target, g, stream)
    return CONVNET_BY_IPT(numImages, CALL);
#undef CALL
}

extern "C" int convnet_response_norm_undo(const float* outGrads, const float* denoms,
                                          const float* inputs, float* acts, float* target,
                                          int numImages, int numChannels, int imgSize, int sizeX,
                                          float addScale, float powScale, float scaleTargets,
                                          float scaleOutput, void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(outGrads && denoms && inputs && acts && target,
                    "response_norm_undo: null pointer argument");
    const NormGeom g{numImages, numChannels, imgSize, sizeX, 0, addScale, powScale, 1.0f};
    CONVNET_TRY(check_norm("response_norm_undo", g));
    CONVNET_REQUIRE(numChannels % 16 == 0,
                    "response_norm_undo: numChannels must be a multiple of 16, got %d", numChannels);
    CONVNET_REQUIRE(sizeX > 0, "response_norm_undo: size must be positive, got %d", sizeX);
#define CALL(ipt) \
    run_response_undo<ipt>(outGrads, denoms, inputs, acts, target, g, scaleTargets, scaleOutput, stream)
    return CONVNET_BY_IPT(numImages, CALL);
#undef CALL
}
