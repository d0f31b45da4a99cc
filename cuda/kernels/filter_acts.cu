/*
 * filter_acts.cu -- forward convolution (convFilterActs / localFilterActs of 2012).
 *
 * Answers to docs/reference/kernels.md, Forward convolution (semantics, preconditions, launch shape). One kernel
 * template covers the 2012 "color" (C/G <= 3) and "sparse"/grouped (C/G even) variants: the
 * colour-cache width is a template argument (3, 2 or 1 colours staged per step).
 *
 * Block: 32 x 4 threads. threadIdx.x picks images (tx + 32*i, i < imgsPerThread),
 * threadIdx.y picks filters (ty + 4*j, j < filtersPerThread). A block computes one module
 * (output pixel) for 4*filtersPerThread filters of one group and 32*imgsPerThread images.
 * blockIdx.y = module * (numFilters / (4*filtersPerThread)) + filterBlock.
 *
 * Each step stages, for `colorCache` colours and 4 consecutive filter pixels, the block's
 * filter weights and the matching image values in shared memory (zeros for filter pixels
 * past S*S, for image positions outside the image -- that is the padding -- and for images
 * past N), waits at a barrier, accumulates the staged rows in order row = colour*4 + pixel,
 * and waits again before the next step overwrites the tiles.
 */
#include "conv_geom.cuh"

namespace convnet {
namespace {

constexpr int kFaBX = 32;        /* threads per block along x: images */
constexpr int kFaBY = 4;         /* threads per block along y: filters */
constexpr int kFaPixelStep = 4;  /* filter pixels staged per step */

template <int imgsPerThread, int filtersPerThread, int colorCache>
__global__ void filter_acts_kernel(const float* images, const float* filters, float* targets,
                                   ConvGeom g, float scaleTargets, float scaleOutput) {
    constexpr int kBlockFilters = kFaBY * filtersPerThread;
    constexpr int kBlockImgs = kFaBX * imgsPerThread;
    constexpr int kRows = colorCache * kFaPixelStep;
    __shared__ float shFilters[kRows][kBlockFilters];
    __shared__ float shImages[kRows][kBlockImgs];
    static_assert(sizeof(shFilters) + sizeof(shImages) <= 48 * 1024, "shared memory > 48 KiB");

    const int tx = threadIdx.x;
    const int ty = threadIdx.y;
    const int tid = ty * kFaBX + tx;

    const int filterPixels = g.filterSize * g.filterSize;
    const int numModules = g.numModulesY * g.numModulesX;
    const int filterBlocks = g.numFilters / kBlockFilters;
    const int module = blockIdx.y / filterBlocks;
    const int blockFilter = (blockIdx.y % filterBlocks) * kBlockFilters;
    const int group = blockFilter / (g.numFilters / g.numGroups);
    const int colorBase = group * g.numFilterColors;
    const int imgY0 = g.paddingStart + (module / g.numModulesX) * g.moduleStride;
    const int imgX0 = g.paddingStart + (module % g.numModulesX) * g.moduleStride;
    const int blockImg = blockIdx.x * kBlockImgs;

    const float* bank =
        g.conv ? filters : filters + module * g.numFilterColors * filterPixels * g.numFilters;

    float prod[filtersPerThread][imgsPerThread];
#pragma unroll
    for (int j = 0; j < filtersPerThread; ++j) {
#pragma unroll
        for (int i = 0; i < imgsPerThread; ++i) prod[j][i] = 0.0f;
    }

    for (int c0 = 0; c0 < g.numFilterColors; c0 += colorCache) {
        for (int p0 = 0; p0 < filterPixels; p0 += kFaPixelStep) {
            /* Filter tile: consecutive threads read consecutive filters (coalesced). */
            for (int idx = tid; idx < kRows * kBlockFilters; idx += kFaBX * kFaBY) {
                const int r = idx / kBlockFilters;
                const int col = idx % kBlockFilters;
                const int p = p0 + r % kFaPixelStep;
                const int c = c0 + r / kFaPixelStep;
                shFilters[r][col] =
                    p < filterPixels ? bank[(c * filterPixels + p) * g.numFilters + blockFilter + col]
                                     : 0.0f;
            }
            /* Image tile: thread row ty loads rows ty, ty+4, ...; consecutive images. */
            for (int r = ty; r < kRows; r += kFaBY) {
                const int p = p0 + r % kFaPixelStep;
                const int c = colorBase + c0 + r / kFaPixelStep;
                const int y = imgY0 + p / g.filterSize;
                const int x = imgX0 + p % g.filterSize;
                const bool inside =
                    p < filterPixels && y >= 0 && y < g.imgSizeY && x >= 0 && x < g.imgSizeX;
                const float* src =
                    inside ? images + ((c * g.imgSizeY + y) * g.imgSizeX + x) * g.imgStride : images;
#pragma unroll
                for (int i = 0; i < imgsPerThread; ++i) {
                    const int n = blockImg + tx + i * kFaBX;
                    shImages[r][tx + i * kFaBX] = (inside && n < g.numImages) ? src[n] : 0.0f;
                }
            }
            __syncthreads();
#pragma unroll
            for (int r = 0; r < kRows; ++r) {
#pragma unroll
                for (int j = 0; j < filtersPerThread; ++j) {
                    const float w = shFilters[r][ty + j * kFaBY];
#pragma unroll
                    for (int i = 0; i < imgsPerThread; ++i) {
                        prod[j][i] += w * shImages[r][tx + i * kFaBX];
                    }
                }
            }
            __syncthreads();
        }
    }

#pragma unroll
    for (int j = 0; j < filtersPerThread; ++j) {
        float* dst = targets + ((blockFilter + ty + j * kFaBY) * numModules + module) * g.numImages;
#pragma unroll
        for (int i = 0; i < imgsPerThread; ++i) {
            const int n = blockImg + tx + i * kFaBX;
            if (n < g.numImages) {
                dst[n] = scaleTargets == 0.0f ? scaleOutput * prod[j][i]
                                              : scaleTargets * dst[n] + scaleOutput * prod[j][i];
            }
        }
    }
}

template <int imgsPerThread, int filtersPerThread>
int launch_filter_acts(const float* images, const float* filters, float* targets,
                       const ConvGeom& g, float scaleTargets, float scaleOutput, void* stream) {
    const int numModules = g.numModulesY * g.numModulesX;
    const dim3 block(kFaBX, kFaBY);
    const dim3 grid(ceil_div(g.numImages, kFaBX * imgsPerThread),
                    numModules * (g.numFilters / (kFaBY * filtersPerThread)));
    CONVNET_REQUIRE(grid.y <= 65535,
                    "filter_acts: %d modules x %d filters need %u blocks in grid y (limit 65535)",
                    numModules, g.numFilters, grid.y);
    const int colors = g.numFilterColors;
    if (colors % 3 == 0 && colors <= 3) {
        return launch("filter_acts_kernel", filter_acts_kernel<imgsPerThread, filtersPerThread, 3>,
                      grid, block, stream, images, filters, targets, g, scaleTargets, scaleOutput);
    }
    if (colors % 2 == 0) {
        return launch("filter_acts_kernel", filter_acts_kernel<imgsPerThread, filtersPerThread, 2>,
                      grid, block, stream, images, filters, targets, g, scaleTargets, scaleOutput);
    }
    return launch("filter_acts_kernel", filter_acts_kernel<imgsPerThread, filtersPerThread, 1>,
                  grid, block, stream, images, filters, targets, g, scaleTargets, scaleOutput);
}

template <int imgsPerThread>
int dispatch_filter_acts(const float* images, const float* filters, float* targets,
                         const ConvGeom& g, float scaleTargets, float scaleOutput, void* stream) {
    if ((g.numFilters / g.numGroups) % 32 == 0) {
        return launch_filter_acts<imgsPerThread, 8>(images, filters, targets, g, scaleTargets,
                                                    scaleOutput, stream);
    }
    return launch_filter_acts<imgsPerThread, 4>(images, filters, targets, g, scaleTargets,
                                                scaleOutput, stream);
}

}  // namespace
}  // namespace convnet

extern "C" int convnet_filter_acts(const float* images, const float* filters, float* targets,
                                   int numImages, int imgStride, int numImgColors, int imgSizeY,
                                   int imgSizeX, int numFilters, int filterSize, int numModulesY,
                                   int numModulesX, int paddingStart, int moduleStride,
                                   int numGroups, int conv, float scaleTargets, float scaleOutput,
                                   void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(images && filters && targets, "filter_acts: null pointer argument");
    ConvGeom g{numImages,   imgStride,    numImgColors, imgSizeY,     imgSizeX,
               numFilters,  filterSize,   numModulesY,  numModulesX,  paddingStart,
               moduleStride, numGroups,   0,            conv ? 1 : 0};
    CONVNET_TRY(check_conv_geometry("filter_acts", g, kColorsEven, false));
    if (numImages % 128 == 0) {
        return dispatch_filter_acts<4>(images, filters, targets, g, scaleTargets, scaleOutput,
                                       stream);
    }
    if (numImages % 64 == 0) {
        return dispatch_filter_acts<2>(images, filters, targets, g, scaleTargets, scaleOutput,
                                       stream);
    }
    return dispatch_filter_acts<1>(images, filters, targets, g, scaleTargets, scaleOutput, stream);
}
