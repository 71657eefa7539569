/**
 * @file conv.h
 * @brief Conv2d and ConvTranspose2d layers.
 *
 * Options have PyTorch's meanings: a dilation of 1 means none, padding is
 * added on both sides, output_padding (ConvTranspose2d only) adds rows and
 * columns at the bottom and right of the output. With kernel k, stride s,
 * padding p, dilation d and output padding op, for each of H and W:
 *
 *     Conv2d:          out = floor((in + 2p - d(k-1) - 1) / s) + 1
 *     ConvTranspose2d: out = (in-1)s - 2p + d(k-1) + op + 1
 *
 * Weights are stored in PyTorch's layout: Conv2d (C_out, C_in, kH, kW),
 * ConvTranspose2d (C_in, C_out, kH, kW); bias (C_out). Groups are not
 * supported.
 *
 * Not supported yet: a ConvTranspose2d whose output_padding exceeds its
 * padding by the stride or more (possible in PyTorch only when the
 * dilation is larger than the stride, e.g. stride 1, dilation 2, padding 0,
 * output_padding 1). oneDNN cannot compute those extra rows; the first
 * forward pass returns #GANET_ERR_UNIMPLEMENTED naming the numbers. No
 * DC-GAN uses such a layer.
 *
 * Thread safety: as its context (one thread at a time).
 */
#ifndef GANET_CONV_H
#define GANET_CONV_H

#include <stdbool.h>
#include <stdint.h>

#include <ganet/context.h>
#include <ganet/export.h>
#include <ganet/layer.h>
#include <ganet/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Options of Conv2d and ConvTranspose2d; pairs are (H, W).
 *
 * Start from #GANET_CONV2D_OPTIONS_DEFAULT and set the channels and kernel.
 */
typedef struct ganet_conv2d_options {
    /** Channels of the input, C_in >= 1. */
    int64_t in_channels;
    /** Channels of the output, C_out >= 1. */
    int64_t out_channels;
    /** Kernel size, >= 1. */
    int64_t kernel[2];
    /** Stride, >= 1; default 1. */
    int64_t stride[2];
    /** Zero padding on each side, >= 0; default 0. */
    int64_t padding[2];
    /** Spacing between kernel taps, >= 1; default 1 (none). */
    int64_t dilation[2];
    /** ConvTranspose2d only: extra output size, 0 <= op < max(s, d). */
    int64_t output_padding[2];
    /** Whether the layer adds a learnable bias; default true. */
    bool bias;
} ganet_conv2d_options;

/** @brief Default convolution options: stride 1, no padding, bias on. */
#define GANET_CONV2D_OPTIONS_DEFAULT                                           \
    {                                                                          \
        .in_channels = 0, .out_channels = 0, .kernel = {0, 0},                 \
        .stride = {1, 1}, .padding = {0, 0}, .dilation = {1, 1},               \
        .output_padding = {0, 0}, .bias = true                                 \
    }

/**
 * @brief Create a Conv2d layer, initialised as PyTorch does.
 *
 * @param[in]  ctx     the context.
 * @param[in]  options the options; copied. output_padding must be 0.
 * @param[out] out     the new layer, owned by the caller (or by the
 *                     Sequential it is added to); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         naming the first option out of range; #GANET_ERR_OVERFLOW;
 *         #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_conv2d_create(ganet_context *ctx,
                                           const ganet_conv2d_options *options,
                                           ganet_layer **out);

/**
 * @brief Create a ConvTranspose2d layer, initialised as PyTorch does.
 *
 * @param[in]  ctx     the context.
 * @param[in]  options the options; copied.
 * @param[out] out     the new layer, owned by the caller (or by the
 *                     Sequential it is added to); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         naming the first option out of range (output_padding must be
 *         smaller than the stride or the dilation, as in PyTorch);
 *         #GANET_ERR_OVERFLOW; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_conv_transpose2d_create(
        ganet_context *ctx, const ganet_conv2d_options *options,
        ganet_layer **out);

#ifdef __cplusplus
}
#endif

#endif
