/*
 * img_acts.cu -- gradient of the convolution w.r.t. its images (convImgActs / localImgActs).
 *
 * Answers to docs/reference/kernels.md, Gradient with respect to the images. The 2012 library picked one of three kernels by the
 * channels per group (<= 3, not a multiple of 8, multiple of 8); this one template covers all
 * of them in the shape of the 2012 "manycolor" kernel: one block per output pixel.
 *
 * Block: 32 x 4 threads. threadIdx.x picks images (tx + 32*i, i < imgsPerThread), threadIdx.y
 * picks colours (ty + 4*k, k < colorsPerThread) inside a block of 4*colorsPerThread colours of
 * one group (colours past the group's end idle: the C/G <= 3 and C/G = 6 cases).
 * blockIdx.x = colourBlock * imageBlocks + imageBlock, blockIdx.y = y * W + x.
 *
 * For every module whose window contains the pixel (rows my ascending, then columns) and every
 * chunk of 16 filters of the group, the block stages the 16 x (32*imgsPerThread) slice of hidActs
 * (zeros past N) and the 16 filter weights of each of its colours at this pixel's position in
 * the module's window, waits at a barrier, accumulates the 16 filters in order and waits again.
 * Padding positions are never produced: the result is the adjoint of filterActs restricted to
 * in-image pixels.
 */
#include "conv_geom.cuh"

namespace convnet {
namespace {

constexpr int kIaBX = 32;          /* threads along x: images */
constexpr int kIaBY = 4;           /* threads along y: colours */
constexpr int kIaFilterStep = 16;  /* filters staged per step (F/G is a multiple of 16) */

template <int imgsPerThread, int colorsPerThread>
__global__ void img_acts_kernel(const float* hidActs, const float* filters, float* targets,
                                ConvGeom g, float scaleTargets, float scaleOutput) {
    constexpr int kBlockColors = kIaBY * colorsPerThread;
    constexpr int kBlockImgs = kIaBX * imgsPerThread;
    __shared__ float shFilters[kBlockColors][kIaFilterStep + 1]; /* +1: no bank conflicts */
    __shared__ float shHidActs[kIaFilterStep][kBlockImgs];
    static_assert(sizeof(shFilters) + sizeof(shHidActs) <= 48 * 1024, "shared memory > 48 KiB");

    const int tx = threadIdx.x;
    const int ty = threadIdx.y;
    const int tid = ty * kIaBX + tx;

    const int S = g.filterSize;
    const int filterPixels = S * S;
    const int numModules = g.numModulesY * g.numModulesX;
    const int filtersPerGroup = g.numFilters / g.numGroups;
    const int imageBlocks = (g.numImages + kBlockImgs - 1) / kBlockImgs;
    const int colorBlocksPerGroup = (g.numFilterColors + kBlockColors - 1) / kBlockColors;
    const int blockImg = (blockIdx.x % imageBlocks) * kBlockImgs;
    const int colorBlock = blockIdx.x / imageBlocks;
    const int group = colorBlock / colorBlocksPerGroup;
    const int blockColor = (colorBlock % colorBlocksPerGroup) * kBlockColors; /* inside group */
    const int groupFilter = group * filtersPerGroup;
    const int y = blockIdx.y / g.imgSizeX;
    const int x = blockIdx.y % g.imgSizeX;

    /* Modules whose window [p0 + m*s, p0 + m*s + S) contains y (y - p0 >= 0 as p0 <= 0). */
    const int ry = y - g.paddingStart;
    const int rx = x - g.paddingStart;
    const int myStart = ry < S ? 0 : 1 + (ry - S) / g.moduleStride;
    const int myEnd = imin(g.numModulesY, 1 + ry / g.moduleStride);
    const int mxStart = rx < S ? 0 : 1 + (rx - S) / g.moduleStride;
    const int mxEnd = imin(g.numModulesX, 1 + rx / g.moduleStride);

    float prod[colorsPerThread][imgsPerThread];
#pragma unroll
    for (int k = 0; k < colorsPerThread; ++k) {
#pragma unroll
        for (int i = 0; i < imgsPerThread; ++i) prod[k][i] = 0.0f;
    }

    for (int my = myStart; my < myEnd; ++my) {
        for (int mx = mxStart; mx < mxEnd; ++mx) {
            const int module = my * g.numModulesX + mx;
            const int pixel = (ry - my * g.moduleStride) * S + (rx - mx * g.moduleStride);
            const float* bank = g.conv
                                    ? filters
                                    : filters + module * g.numFilterColors * filterPixels * g.numFilters;
            for (int f0 = 0; f0 < filtersPerGroup; f0 += kIaFilterStep) {
                for (int r = ty; r < kIaFilterStep; r += kIaBY) {
                    const float* src =
                        hidActs + ((groupFilter + f0 + r) * numModules + module) * g.numImages;
#pragma unroll
                    for (int i = 0; i < imgsPerThread; ++i) {
                        const int n = blockImg + tx + i * kIaBX;
                        shHidActs[r][tx + i * kIaBX] = n < g.numImages ? src[n] : 0.0f;
                    }
                }
                for (int idx = tid; idx < kBlockColors * kIaFilterStep; idx += kIaBX * kIaBY) {
                    const int cc = idx / kIaFilterStep;
                    const int w = idx % kIaFilterStep;
                    const int c = blockColor + cc;
                    shFilters[cc][w] =
                        c < g.numFilterColors
                            ? bank[(c * filterPixels + pixel) * g.numFilters + groupFilter + f0 + w]
                            : 0.0f;
                }
                __syncthreads();
#pragma unroll
                for (int w = 0; w < kIaFilterStep; ++w) {
#pragma unroll
                    for (int k = 0; k < colorsPerThread; ++k) {
                        const float fw = shFilters[ty + k * kIaBY][w];
#pragma unroll
                        for (int i = 0; i < imgsPerThread; ++i) {
                            prod[k][i] += fw * shHidActs[w][tx + i * kIaBX];
                        }
                    }
                }
                __syncthreads();
            }
        }
    }

#pragma unroll
    for (int k = 0; k < colorsPerThread; ++k) {
        const int c = blockColor + ty + k * kIaBY;
        if (c < g.numFilterColors) {
            float* dst = targets + (((group * g.numFilterColors + c) * g.imgSizeY + y) * g.imgSizeX + x) *
                                       g.numImages;
#pragma unroll
            for (int i = 0; i < imgsPerThread; ++i) {
                const int n = blockImg + tx + i * kIaBX;
                if (n < g.numImages) {
                    dst[n] = scaleTargets == 0.0f ? scaleOutput * prod[k][i]
                                                  : scaleTargets * dst[n] + scaleOutput * prod[k][i];
                }
            }
        }
    }
}

template <int imgsPerThread, int colorsPerThread>
int launch_img_acts(const float* hidActs, const float* filters, float* targets, const ConvGeom& g,
                    float scaleTargets, float scaleOutput, void* stream) {
    constexpr int kBlockColors = kIaBY * colorsPerThread;
    const int imageBlocks = ceil_div(g.numImages, kIaBX * imgsPerThread);
    const int colorBlocks = g.numGroups * ceil_div(g.numFilterColors, kBlockColors);
    const long long pixels = static_cast<long long>(g.imgSizeY) * g.imgSizeX;
    CONVNET_REQUIRE(pixels <= 65535,
                    "img_acts: %d x %d images need %lld blocks in grid y (one per pixel, limit "
                    "65535)",
                    g.imgSizeY, g.imgSizeX, pixels);
    const dim3 grid(imageBlocks * colorBlocks, static_cast<unsigned>(pixels));
    return launch("img_acts_kernel", img_acts_kernel<imgsPerThread, colorsPerThread>, grid,
                  dim3(kIaBX, kIaBY), stream, hidActs, filters, targets, g, scaleTargets,
                  scaleOutput);
}

template <int imgsPerThread>
int dispatch_img_acts(const float* hidActs, const float* filters, float* targets, const ConvGeom& g,
                      float scaleTargets, float scaleOutput, void* stream) {
    if (g.numFilterColors % 16 == 0) {
        return launch_img_acts<imgsPerThread, 4>(hidActs, filters, targets, g, scaleTargets,
                                                 scaleOutput, stream);
    }
    if (g.numFilterColors % 8 == 0) {
        return launch_img_acts<imgsPerThread, 2>(hidActs, filters, targets, g, scaleTargets,
                                                 scaleOutput, stream);
    }
    return launch_img_acts<imgsPerThread, 1>(hidActs, filters, targets, g, scaleTargets,
                                             scaleOutput, stream);
}

}  // namespace
}  // namespace convnet

extern "C" int convnet_img_acts(const float* hidActs, const float* filters, float* targets,
                                int numImages, int numImgColors, int imgSizeY, int imgSizeX,
                                int numFilters, int filterSize, int numModulesY, int numModulesX,
                                int paddingStart, int moduleStride, int numGroups, int conv,
                                float scaleTargets, float scaleOutput, void* stream) {
    using namespace convnet;
    clear_error();
    CONVNET_REQUIRE(hidActs && filters && targets, "img_acts: null pointer argument");
    ConvGeom g{numImages,   numImages,    numImgColors, imgSizeY,     imgSizeX,
               numFilters,  filterSize,   numModulesY,  numModulesX,  paddingStart,
               moduleStride, numGroups,   0,            conv ? 1 : 0};
    CONVNET_TRY(check_conv_geometry("img_acts", g, kColorsEven, true));
    if (numImages % 128 == 0) {
        return dispatch_img_acts<4>(hidActs, filters, targets, g, scaleTargets, scaleOutput, stream);
    }
    if (numImages % 64 == 0) {
        return dispatch_img_acts<2>(hidActs, filters, targets, g, scaleTargets, scaleOutput, stream);
    }
    return dispatch_img_acts<1>(hidActs, filters, targets, g, scaleTargets, scaleOutput, stream);
}
