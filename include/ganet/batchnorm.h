/**
 * @file batchnorm.h
 * @brief BatchNorm2d layer.
 *
 * For each channel c of an (N, C, H, W) input, with n = N*H*W values:
 *
 * - training: y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c,
 *   with the batch's mean and biased variance (divided by n); the running
 *   statistics become (1 - momentum) * running + momentum * batch, where
 *   the variance fed to them is the unbiased one, var_c * n / (n - 1), as
 *   in PyTorch. A training batch with n = 1 is refused with
 *   #GANET_ERR_SHAPE, as PyTorch refuses it.
 * - inference: the same with running_mean and running_var, which are left
 *   unchanged; any n is accepted.
 *
 * The output has the input's shape. Backward follows either mode: after a
 * training pass it differentiates through the batch statistics, after an
 * inference pass it treats the running ones as constants, which must then
 * stay unchanged until the backward pass, as the source must. The
 * gradient of the source is always computed, even when the caller of
 * ganet_layer_backward() passes NULL for it. Set in place
 * (ganet_layer_set_inplace()) inside a Sequential, backward writes that
 * gradient over the one it was given, where the Sequential allows it.
 *
 * Parameters "weight" and "bias" (C) when affine; buffers "running_mean"
 * (starts at 0) and "running_var" (starts at 1). PyTorch's
 * num_batches_tracked and momentum = None (a cumulative average) have no
 * counterpart.
 *
 * Thread safety: as its context (one thread at a time).
 */
#ifndef GANET_BATCHNORM_H
#define GANET_BATCHNORM_H

#include <stdbool.h>
#include <stdint.h>

#include <ganet/context.h>
#include <ganet/export.h>
#include <ganet/layer.h>
#include <ganet/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Options of BatchNorm2d, PyTorch's defaults. */
typedef struct ganet_batchnorm2d_options {
    /** Channels C >= 1. */
    int64_t num_features;
    /** Added to the variance before the square root; > 0, default 1e-5. */
    float eps;
    /** Weight of the batch in the running statistics; 0..1, default 0.1. */
    float momentum;
    /** Whether the layer has a learnable weight and bias; default true. */
    bool affine;
} ganet_batchnorm2d_options;

/** @brief Default BatchNorm2d options: eps 1e-5, momentum 0.1, affine. */
#define GANET_BATCHNORM2D_OPTIONS_DEFAULT                                      \
    {                                                                          \
        .num_features = 0, .eps = 1e-5f, .momentum = 0.1f, .affine = true      \
    }

/**
 * @brief Create a BatchNorm2d layer.
 *
 * @param[in]  ctx     the context.
 * @param[in]  options the options; copied.
 * @param[out] out     the new layer, owned by the caller (or by the
 *                     Sequential it is added to); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for num_features < 1, eps not finite and > 0, or momentum
 *         outside [0, 1] (NaN included); #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_batchnorm2d_create(
        ganet_context *ctx, const ganet_batchnorm2d_options *options,
        ganet_layer **out);

#ifdef __cplusplus
}
#endif

#endif
