/*
 * weight_acts.cu -- gradient of the convolution w.r.t. its filters (convWeightActs /
 * localWeightActs), and the reduction of its partial sums.
 *
 * Answers to docs/reference/kernels.md, Gradient with respect to the filters. The 2012 library had a kernel for C/G <= 3
 * ("c") and one for more colours ("mc_mf"); this template covers both in the mc_mf shape:
 *
 * Block: B_X x (128 / B_X) threads, B_X = 32 (filters per group a multiple of 32) or 16.
 * threadIdx.x picks filters (tx + B_X*j, j < filtersPerThread), threadIdx.y picks one filter
 * pixel; each thread keeps colorsPerThread colours. blockIdx.x = chunk * filterBlocks +
 * filterBlock (chunk = the partialSum group of modules), blockIdx.y = colourBlock *
 * pixelBlocks + pixelBlock.
 *
 * For every module of the chunk (ascending) and every 32 images, the block stages the image
 * values under its filter pixels (zeros outside the image, past S*S and past N) and the hidActs
 * of its filters (zeros past N), waits at a barrier, accumulates the 32 cases in order, and
 * waits again. Each chunk k writes its own slice of the (M/P, C/G, S, S, F) target; the
 * reduction over chunks is agg_partial_sums_kernel (one thread per column, chunks in order,
 * like the 2012 column aggregation).
 */
#include "conv_geom.cuh"

namespace convnet {
namespace {

constexpr int kWaThreads = 128;
constexpr int kWaCases = 32; /* images staged per step */

template <int B_X, int filtersPerThread, int colorsPerThread>
__global__ void weight_acts_kernel(const float* images, const float* hidActs, float* targets,
                                   ConvGeom g, int partialSum, float scaleTargets,
                                   float scaleOutput) {
    constexpr int B_Y = kWaThreads / B_X;
    constexpr int kBlockFilters = B_X * filtersPerThread;
    /* +1 on the case axis: threads of one warp reading different rows hit different banks. */
    __shared__ float shImages[colorsPerThread][B_Y][kWaCases + 1];
    __shared__ float shHidActs[kBlockFilters][kWaCases + 1];
    static_assert(sizeof(shImages) + sizeof(shHidActs) <= 48 * 1024, "shared memory > 48 KiB");

    const int tx = threadIdx.x;
    const int ty = threadIdx.y;
    const int tid = ty * B_X + tx;

    const int S = g.filterSize;
    const int filterPixels = S * S;
    const int numModules = g.numModulesY * g.numModulesX;
    const int filterBlocks = g.numFilters / kBlockFilters;
    const int chunk = blockIdx.x / filterBlocks;
    const int blockFilter = (blockIdx.x % filterBlocks) * kBlockFilters;
    const int group = blockFilter / (g.numFilters / g.numGroups);
    const int pixelBlocks = (filterPixels + B_Y - 1) / B_Y;
    const int blockPixel = (blockIdx.y % pixelBlocks) * B_Y;
    const int blockColor = (blockIdx.y / pixelBlocks) * colorsPerThread; /* inside group */
    const int imgColorBase = group * g.numFilterColors + blockColor;
    const int pixel = blockPixel + ty;

    float prod[colorsPerThread][filtersPerThread];
#pragma unroll
    for (int c = 0; c < colorsPerThread; ++c) {
#pragma unroll
        for (int j = 0; j < filtersPerThread; ++j) prod[c][j] = 0.0f;
    }

    const int mStart = chunk * partialSum;
    for (int m = mStart; m < mStart + partialSum; ++m) {
        const int imgY0 = g.paddingStart + (m / g.numModulesX) * g.moduleStride;
        const int imgX0 = g.paddingStart + (m % g.numModulesX) * g.moduleStride;
        for (int n0 = 0; n0 < g.numImages; n0 += kWaCases) {
            for (int idx = tid; idx < colorsPerThread * B_Y * kWaCases; idx += kWaThreads) {
                const int cs = idx % kWaCases;
                const int pp = (idx / kWaCases) % B_Y;
                const int cc = idx / (kWaCases * B_Y);
                const int p = blockPixel + pp;
                const int n = n0 + cs;
                const int y = imgY0 + p / S;
                const int x = imgX0 + p % S;
                float v = 0.0f;
                if (p < filterPixels && n < g.numImages && y >= 0 && y < g.imgSizeY && x >= 0 &&
                    x < g.imgSizeX) {
                    v = images[(((imgColorBase + cc) * g.imgSizeY + y) * g.imgSizeX + x) *
                                   g.imgStride +
                               n];
                }
                shImages[cc][pp][cs] = v;
            }
            for (int idx = tid; idx < kBlockFilters * kWaCases; idx += kWaThreads) {
                const int cs = idx % kWaCases;
                const int fi = idx / kWaCases;
                const int n = n0 + cs;
                shHidActs[fi][cs] =
                    n < g.numImages
                        ? hidActs[((blockFilter + fi) * numModules + m) * g.numImages + n]
                        : 0.0f;
            }
            __syncthreads();
#pragma unroll 4
            for (int cs = 0; cs < kWaCases; ++cs) {
#pragma unroll
                for (int c = 0; c < colorsPerThread; ++c) {
                    const float iv = shImages[c][ty][cs];
#pragma unroll
                    for (int j = 0; j < filtersPerThread; ++j) {
                        prod[c][j] += iv * shHidActs[tx + j * B_X][cs];
                    }
                }
            }
            __syncthreads();
        }
    }

    if (pixel < filterPixels) {
#pragma unroll
        for (int c = 0; c < colorsPerThread; ++c) {
            float* dst = targets +
                         ((chunk * g.numFilterColors + blockColor + c) * filterPixels + pixel) *
                             g.numFilters +
                         blockFilter + tx;
#pragma unroll
            for (int j = 0; j < filtersPerThread; ++j) {
                float* t = dst + j * B_X;
                *t = scaleTargets == 0.0f ? scaleOutput * prod[c][j]
                                          : scaleTargets * *t + scaleOutput * prod[c][j];
            }
        }
    }
}

template <int B_X, int filtersPerThread, int colorsPerThread>
int launch_weight_acts(const float* images, const float* hidActs, float* targets, const ConvGeom& g,
                       int partialSum, float scaleTargets, float scaleOutput, void* stream) {
    constexpr int B_Y = kWaThreads / B_X;
    const int numModules = g.numModulesY * g.numModulesX;
    const int filterPixels = g.filterSize * g.filterSize;
    const long long gx = static_cast<long long>(numModules / partialSum) *
                         (g.numFilters / (B_X * filtersPerThread));
    const long long gy =
        static_cast<long long>(ceil_div(filterPixels, B_Y)) * (g.numFilterColors / colorsPerThread);
    CONVNET_REQUIRE(gx <= 2147483647LL && gy <= 65535,
                    "weight_acts: grid (%lld, %lld) exceeds the launch limits", gx, gy);
    return launch("weight_acts_kernel", weight_acts_kernel<B_X, filtersPerThread, colorsPerThread>,
                  dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy)), dim3(B_X, B_Y),
                  stream, images, hidActs, targets, g, partialSum, scaleTargets, scaleOutput);
}

template <int B_X, int filtersPerThread>
int dispatch_colors(const float* images, const float* hidActs, float* targets, const ConvGeom& g,
                    int partialSum, float scaleTargets, float scaleOutput, void* stream) {
    switch (g.numFilterColors) {
        case 1:
            return launch_weight_acts<B_X, filtersPerThread, 1>(images, hidActs, targets, g,
                                                                 partialSum, scaleTargets,
                                                                 scaleOutput, stream);
        case 2:
            return launch_weight_acts<B_X, filtersPerThread, 2>(images, hidActs, targets, g,
                                                                 partialSum, scaleTargets,
                                                                 scaleOutput, stream);
        case 3:
            return launch_weight_acts<B_X, filtersPerThread, 3>(images, hidActs, targets, g,
                                                                 partialSum, scaleTargets,
                                                                 scaleOutput, stream);
        default:
            break;
    }
    if (g.numFilterColors % 8 == 0) {
        return launch_weight_acts<B_X, filtersPerThread, 8>(images, hidActs, targets, g,
                                                             partialSum, scaleTargets, scaleOutput,
                                                             stream);
    }
    return launch_weight_acts<B_X, filtersPerThread, 4>(images, hidActs, targets, g, partialSum,
                                                         scaleTargets, scaleOutput, stream);
}

__global__ void agg_partial_sums_kernel(const float* partials, float* target, int numChunks,
                                        int chunkSize, float scaleTargets, float scaleOutput) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= chunkSize) return; /* no barrier in this kernel */
    float sum = 0.0f;
    for (int k = 0; k < numChunks; ++k) sum += partials[k * chunkSize + col];
    target[col] = scaleTargets == 0.0f ? scaleOutput * sum
                                       : scaleTargets * target[col] + scaleOutput * sum;
}

}  // namespace
}  // namespace convnet

extern "C" int convnet_weight_acts(const float* images, const float* hidActs, float* targets,
                                   int numImages, int imgStride, int numImgColors, int imgSizeY,
                                   int imgSizeX, int numFilters, int filterSize, int numModulesY,
                                   int numModulesX, int paddingStart, int moduleStride,
                                   int numGroups, int partialSum, float scaleTargets,
                                   float scaleOutput, void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(images && hidActs && targets, "weight_acts: null pointer argument");
    ConvGeom g{numImages,   imgStride,    numImgColors, imgSizeY,     imgSizeX,
               numFilters,  filterSize,   numModulesY,  numModulesX,  paddingStart,
               moduleStride, numGroups,   0,            1};
    CONVNET_TRY(check_conv_geometry("weight_acts", g, kColorsQuad, true));
    const int numModules = numModulesY * numModulesX;
    CONVNET_REQUIRE(partialSum >= 0, "weight_acts: partialSum must be >= 0, got %d", partialSum);
    const int P = partialSum == 0 ? numModules : partialSum;
    CONVNET_REQUIRE(numModules % P == 0,
                    "weight_acts: partialSum (%d) must divide the number of modules (%d x %d = %d)",
                    partialSum, numModulesY, numModulesX, numModules);
    const long long outElems = static_cast<long long>(numModules / P) * g.numFilterColors *
                               filterSize * filterSize * numFilters;
    CONVNET_REQUIRE(outElems <= kMaxElements,
                    "weight_acts: the target has %lld elements (more than 2^31-1)", outElems);
    const int filtersPerGroup = numFilters / numGroups;
    if (filtersPerGroup % 64 == 0) {
        return dispatch_colors<32, 2>(images, hidActs, targets, g, P, scaleTargets, scaleOutput,
                                      stream);
    }
    if (filtersPerGroup % 32 == 0) {
        return dispatch_colors<32, 1>(images, hidActs, targets, g, P, scaleTargets, scaleOutput,
                                      stream);
    }
    return dispatch_colors<16, 1>(images, hidActs, targets, g, P, scaleTargets, scaleOutput,
                                  stream);
}

extern "C" int convnet_agg_partial_sums(const float* partials, float* target, int numChunks,
                                        int chunkSize, float scaleTargets, float scaleOutput,
                                        void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(partials && target, "agg_partial_sums: null pointer argument");
    CONVNET_REQUIRE(numChunks > 0 && chunkSize > 0,
                    "agg_partial_sums: numChunks (%d) and chunkSize (%d) must be positive",
                    numChunks, chunkSize);
    CONVNET_REQUIRE(static_cast<long long>(numChunks) * chunkSize <= kMaxElements,
                    "agg_partial_sums: more than 2^31-1 elements");
    constexpr int kThreads = 128;
    return launch("agg_partial_sums_kernel", agg_partial_sums_kernel,
                  dim3(ceil_div(chunkSize, kThreads)), dim3(kThreads), stream, partials, target,
                  numChunks, chunkSize, scaleTargets, scaleOutput);
}
