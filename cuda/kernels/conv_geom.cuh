/*
 * conv_geom.cuh -- the geometry shared by filterActs, imgActs and weightActs, and the host-side
 * checks of the preconditions the 2012 library asserted (docs/reference/kernels.md: Geometry and the three convolution sections).
 */
#ifndef ALEXNET_CONVNET_CONV_GEOM_CUH
#define ALEXNET_CONVNET_CONV_GEOM_CUH

#include "common.cuh"

namespace convnet {

/* Passed by value to the kernels. Sizes in the notation of docs/reference/kernels.md. */
struct ConvGeom {
    int numImages;       /* N */
    int imgStride;       /* row stride of the images matrix, >= N */
    int numImgColors;    /* C */
    int imgSizeY;        /* H */
    int imgSizeX;        /* W */
    int numFilters;      /* F, all groups */
    int filterSize;      /* S */
    int numModulesY;     /* MY */
    int numModulesX;     /* MX */
    int paddingStart;    /* p0 <= 0 */
    int moduleStride;    /* s */
    int numGroups;       /* G */
    int numFilterColors; /* C' = C / G */
    int conv;            /* 1: shared filters, 0: one bank per module (local layer) */
};

enum ColorRule {
    kColorsEven,  /* filterActs/imgActs: G > 1 or C <= 3 or C even */
    kColorsQuad,  /* weightActs: G > 1 or C <= 3 or C % 4 == 0 */
};

/* Check everything a conv routine needs before a launch; fill g.numFilterColors. */
inline int check_conv_geometry(const char* routine, ConvGeom& g, ColorRule colorRule,
                               bool filterGroupsNeedQuad) {
    CONVNET_REQUIRE(g.numImages > 0, "%s: numImages must be positive, got %d", routine,
                    g.numImages);
    CONVNET_REQUIRE(g.imgStride >= g.numImages,
                    "%s: imgStride (%d) must be at least numImages (%d)", routine, g.imgStride,
                    g.numImages);
    CONVNET_REQUIRE(g.numImgColors > 0 && g.imgSizeY > 0 && g.imgSizeX > 0,
                    "%s: image shape (C=%d, H=%d, W=%d) must be positive", routine, g.numImgColors,
                    g.imgSizeY, g.imgSizeX);
    CONVNET_REQUIRE(g.numFilters > 0 && g.filterSize > 0,
                    "%s: numFilters (%d) and filterSize (%d) must be positive", routine,
                    g.numFilters, g.filterSize);
    CONVNET_REQUIRE(g.numModulesY > 0 && g.numModulesX > 0,
                    "%s: numModulesY (%d) and numModulesX (%d) must be positive", routine,
                    g.numModulesY, g.numModulesX);
    CONVNET_REQUIRE(g.moduleStride > 0, "%s: moduleStride must be positive, got %d", routine,
                    g.moduleStride);
    CONVNET_REQUIRE(g.numGroups > 0, "%s: numGroups must be positive, got %d", routine,
                    g.numGroups);
    CONVNET_REQUIRE(g.numImgColors % g.numGroups == 0,
                    "%s: numImgColors (%d) must be divisible by numGroups (%d)", routine,
                    g.numImgColors, g.numGroups);
    g.numFilterColors = g.numImgColors / g.numGroups;
    if (colorRule == kColorsEven) {
        CONVNET_REQUIRE(g.numGroups > 1 || g.numImgColors <= 3 || g.numImgColors % 2 == 0,
                        "%s: with one group numImgColors must be <= 3 or even, got %d", routine,
                        g.numImgColors);
    } else {
        CONVNET_REQUIRE(g.numGroups > 1 || g.numImgColors <= 3 || g.numImgColors % 4 == 0,
                        "%s: with one group numImgColors must be <= 3 or a multiple of 4, got %d",
                        routine, g.numImgColors);
    }
    if (filterGroupsNeedQuad) {
        CONVNET_REQUIRE(g.numGroups == 1 || g.numFilterColors % 4 == 0,
                        "%s: with %d groups the channels per group (%d) must be a multiple of 4",
                        routine, g.numGroups, g.numFilterColors);
    } else {
        CONVNET_REQUIRE(g.numGroups == 1 || g.numFilterColors % 2 == 0,
                        "%s: with %d groups the channels per group (%d) must be even", routine,
                        g.numGroups, g.numFilterColors);
    }
    CONVNET_REQUIRE(g.numFilters % (16 * g.numGroups) == 0,
                    "%s: numFilters (%d) must be a multiple of 16*numGroups (%d)", routine,
                    g.numFilters, 16 * g.numGroups);
    CONVNET_REQUIRE(g.paddingStart <= 0, "%s: paddingStart must be <= 0, got %d", routine,
                    g.paddingStart);
    CONVNET_REQUIRE(g.moduleStride <= g.filterSize,
                    "%s: moduleStride (%d) must not exceed filterSize (%d)", routine,
                    g.moduleStride, g.filterSize);
    CONVNET_REQUIRE(g.paddingStart + (g.numModulesY - 1) * g.moduleStride + g.filterSize >=
                        g.imgSizeY,
                    "%s: %d module rows of size %d, stride %d from %d do not cover %d image rows",
                    routine, g.numModulesY, g.filterSize, g.moduleStride, g.paddingStart,
                    g.imgSizeY);
    CONVNET_REQUIRE(g.paddingStart + (g.numModulesX - 1) * g.moduleStride + g.filterSize >=
                        g.imgSizeX,
                    "%s: %d module columns of size %d, stride %d from %d do not cover %d image "
                    "columns",
                    routine, g.numModulesX, g.filterSize, g.moduleStride, g.paddingStart,
                    g.imgSizeX);
    const int64_t modules = static_cast<int64_t>(g.numModulesY) * g.numModulesX;
    const int64_t imageElems =
        static_cast<int64_t>(g.numImgColors) * g.imgSizeY * g.imgSizeX * g.imgStride;
    const int64_t hidElems = static_cast<int64_t>(g.numFilters) * modules * g.numImages;
    const int64_t filterElems = static_cast<int64_t>(g.conv ? 1 : modules) * g.numFilterColors *
                                g.filterSize * g.filterSize * g.numFilters;
    CONVNET_REQUIRE(imageElems <= kMaxElements && hidElems <= kMaxElements &&
                        filterElems <= kMaxElements,
                    "%s: a tensor has more than 2^31-1 elements (images %lld, outputs %lld, "
                    "filters %lld); the kernels use 32-bit indices",
                    routine, static_cast<long long>(imageElems), static_cast<long long>(hidElems),
                    static_cast<long long>(filterElems));
    return CONVNET_OK;
}

__host__ __device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__host__ __device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }

}  // namespace convnet

#endif /* ALEXNET_CONVNET_CONV_GEOM_CUH */
