/*
 * convnet_kernels.h -- the one C ABI over the project's cudaconv2-style kernels.
 *
 * The same declarations are implemented twice from one source: by nvcc for real GPUs (pointers
 * are device pointers, `stream` is a cudaStream_t or NULL for the default stream, launches are
 * asynchronous) and by g++ with the device-emulation header (pointers are host pointers,
 * `stream` is ignored, launches run to completion before the call returns).
 *
 * Conventions (the 2012 ones, see docs/reference/kernels.md, Memory layouts and Geometry):
 *   - every tensor is dense fp32, row-major, in the 2012 layouts, images-minor:
 *       images          (C, H, W, N), row stride imgStride >= N where noted
 *       conv filters    (C/G, S, S, F)              local filters (M, C/G, S, S, F)
 *       conv outputs    (F, MY, MX, N)              M = MY*MX, module m = my*MX + mx
 *       weight grads    (M/P, C/G, S, S, F)         P = partialSum (0 means M)
 *       pool/norm maps  (C, size, size, N)
 *   - paddingStart <= 0 is minus the configured padding; module (my, mx) reads image rows
 *     paddingStart + my*moduleStride ... + S-1 (and the same for columns), zero outside.
 *   - results are combined as target := scaleTargets*target + scaleOutput*result; when
 *     scaleTargets == 0 the old target is never read (it may hold garbage, even NaN).
 *   - every entry point checks its arguments (the preconditions the 2012 library asserted,
 *     plus null pointers and 32-bit index overflow) before launching anything and returns
 *     CONVNET_ERR_PRECONDITION with a one-line message instead of crashing.
 */
#ifndef ALEXNET_CONVNET_KERNELS_H
#define ALEXNET_CONVNET_KERNELS_H

#ifdef __cplusplus
extern "C" {
#endif

#define CONVNET_ABI_VERSION 1

#define CONVNET_OK 0
#define CONVNET_ERR_PRECONDITION 1 /* bad arguments: a 2012 precondition or a shape check */
#define CONVNET_ERR_LAUNCH 2       /* the CUDA runtime or the emulator refused or failed the launch */

#define CONVNET_POOL_MAX 0
#define CONVNET_POOL_AVG 1
#define CONVNET_POOL_MAXABS 2

/* ---- library facts ------------------------------------------------------------------- */
int convnet_abi_version(void);
/* "cuda" (nvcc build) or "emulation" (g++ build with the device-emulation header). */
const char* convnet_host(void);
/* Message of the last failed call made by this OS thread ("" if none). */
const char* convnet_last_error(void);
/* Emulation only (no-op returning CONVNET_ERR_LAUNCH on the cuda host): thread order between
 * barriers for launches made by this OS thread; 0 = ascending, other = seeded permutations. */
int convnet_emu_set_schedule_seed(unsigned long long seed);
/* Emulation only: OS threads running the blocks of each launch, process-wide (1 = blocks
 * strictly one after another, the default unless $CUDA_EMU_THREADS says otherwise). */
int convnet_emu_set_worker_threads(int threads);
/* CUDA host only: make `device` current for this OS thread's launches (the library has its own
 * CUDA runtime state, so a caller such as torch must say which GPU its pointers live on). */
int convnet_cuda_set_device(int device);

/* ---- convolution (section 2.1-2.3) ------------------------------------------------------ */
/* targets (F, MY, MX, N) := scaleTargets*targets + scaleOutput*conv(images, filters).
 * conv != 0: filters (C/G, S, S, F); conv == 0 (local layer): filters (MY*MX, C/G, S, S, F). */
int convnet_filter_acts(const float* images, const float* filters, float* targets, int numImages,
                        int imgStride, int numImgColors, int imgSizeY, int imgSizeX, int numFilters,
                        int filterSize, int numModulesY, int numModulesX, int paddingStart,
                        int moduleStride, int numGroups, int conv, float scaleTargets,
                        float scaleOutput, void* stream);

/* targets (C, H, W, N) := scaleTargets*targets + scaleOutput*(gradient w.r.t. the images of
 * the convolution above, given hidActs (F, MY, MX, N)). */
int convnet_img_acts(const float* hidActs, const float* filters, float* targets, int numImages,
                     int numImgColors, int imgSizeY, int imgSizeX, int numFilters, int filterSize,
                     int numModulesY, int numModulesX, int paddingStart, int moduleStride,
                     int numGroups, int conv, float scaleTargets, float scaleOutput, void* stream);

/* targets (M/P, C/G, S, S, F) := scaleTargets*targets + scaleOutput*(per-chunk sums over
 * modules [kP, kP+P) and images of image patch x hidActs). partialSum 0 means P = M; a local
 * layer's weight gradient is partialSum 1 (its layout is then the local filter layout). */
int convnet_weight_acts(const float* images, const float* hidActs, float* targets, int numImages,
                        int imgStride, int numImgColors, int imgSizeY, int imgSizeX, int numFilters,
                        int filterSize, int numModulesY, int numModulesX, int paddingStart,
                        int moduleStride, int numGroups, int partialSum, float scaleTargets,
                        float scaleOutput, void* stream);

/* The partial-sum reduction: target[l] := scaleTargets*target[l] + scaleOutput *
 * sum_k partials[k*chunkSize + l], k = 0, 1, ... in order (one thread per column). */
int convnet_agg_partial_sums(const float* partials, float* target, int numChunks, int chunkSize,
                             float scaleTargets, float scaleOutput, void* stream);

/* ---- pooling (section 2.4) --------------------------------------------------------------- */
/* targets (C, outputsX, outputsX, N) := pool over the clipped windows
 * [startX + o*strideX, + subsX) of images (C, imgSize, imgSize, N). */
int convnet_local_pool(const float* images, float* targets, int numImages, int numChannels,
                       int imgSize, int poolType, int subsX, int startX, int strideX, int outputsX,
                       void* stream);

/* target (C, imgSize, imgSize, N) := scaleTargets*target + scaleOutput * max-pool gradient;
 * every input equal to its window's maximum gets that window's gradient (ties included). */
int convnet_local_max_undo(const float* images, const float* maxGrads, const float* maxActs,
                           float* target, int numImages, int numChannels, int imgSize, int subsX,
                           int startX, int strideX, int outputsX, float scaleTargets,
                           float scaleOutput, void* stream);

/* target (C, imgSize, imgSize, N) := ... + scaleOutput * average-pool gradient (each window's
 * gradient divided by its in-image pixel count). */
int convnet_local_avg_undo(const float* avgGrads, float* target, int numImages, int numChannels,
                           int imgSize, int subsX, int startX, int strideX, int outputsX,
                           float scaleTargets, float scaleOutput, void* stream);

/* ---- normalisation (sections 2.5, 2.6) --------------------------------------------------- */
/* Cross-map: denoms = minDiv + addScale * sum over the channel window of images^2,
 * target = images * denoms^-powScale. addScale is the config scale / sizeF. */
int convnet_response_norm_cross_map(const float* images, float* denoms, float* target,
                                    int numImages, int numChannels, int imgSize, int sizeF,
                                    float addScale, float powScale, float minDiv, int blocked,
                                    void* stream);

/* Gradient of the above. `acts` (the forward output) is OVERWRITTEN with the intermediate
 * -2*addScale*powScale*outGrads*acts/denoms, as in 2012. `inputs` is the forward input. */
int convnet_response_norm_cross_map_undo(const float* outGrads, const float* denoms,
                                         const float* inputs, float* acts, float* target,
                                         int numImages, int numChannels, int imgSize, int sizeF,
                                         float addScale, float powScale, int blocked,
                                         float scaleTargets, float scaleOutput, void* stream);

/* Spatial (within-map): denoms = 1 + addScale * sum over the sizeX x sizeX window of
 * meanDiffs^2, target = images * denoms^-powScale. Response norm passes meanDiffs = images;
 * contrast norm passes images minus their local mean. addScale is the config scale/sizeX^2. */
int convnet_contrast_norm(const float* images, const float* meanDiffs, float* denoms,
                          float* target, int numImages, int numChannels, int imgSize, int sizeX,
                          float addScale, float powScale, void* stream);

/* Gradient of the above, with `inputs` = images (response norm: exact gradient) or meanDiffs
 * (contrast norm: the local mean held constant). `acts` is OVERWRITTEN as above. */
int convnet_response_norm_undo(const float* outGrads, const float* denoms, const float* inputs,
                               float* acts, float* target, int numImages, int numChannels,
                               int imgSize, int sizeX, float addScale, float powScale,
                               float scaleTargets, float scaleOutput, void* stream);

/* ---- emulator self-test ------------------------------------------------------------------ */
/* A deliberately breakable kernel: out[i] = in[i-1] + in[i] within blocks of blockSize threads
 * (the first thread of a block adds 0), each thread reading its left neighbour's value through
 * shared memory. withBarrier == 0 drops the __syncthreads() between the store and the load:
 * the result is then still right in ascending thread order (why -deviceemu hid such bugs) and
 * wrong under most seeded orders, which is what the emulator's tests demonstrate. */
int convnet_race_demo(const float* in, float* out, int n, int blockSize, int withBarrier,
                      void* stream);

#ifdef __cplusplus
}
#endif

#endif /* ALEXNET_CONVNET_KERNELS_H */
