/*
 * A ConvTranspose2d whose input is 1x1, with no padding, dilation or
 * output padding, and no bias, as one matrix product: every input pixel
 * spreads over the whole kH x kW output, so output sample n is row n of
 * z (N x C_in) times W (C_in x C_out*kH*kW). The DC-GAN's first layer is
 * one. oneDNN's deconvolution runs it as a general strided convolution,
 * four times slower than its matrix product in the DC-GAN (forward, batch
 * 64, 100 -> 512x4x4).
 *
 * The weights are laid out like one output sample (columns in the order of
 * the output's memory, zero where the output layout pads channels), so
 * that the product writes the output in the layout the next layer reads.
 */
#ifndef GANET_DECONV_MATMUL_H
#define GANET_DECONV_MATMUL_H

#include "internal.h"

typedef struct ganet__deconv_mm {
    ganet_context *ctx;
    /* Batch, input channels, floats per output sample (padding included),
     * and floats from one row of the weights (and of dy_copy) to the
     * next. */
    int64_t n, cin, cols, w_ld;
    /* The output gradient copied with rows w_ld apart, for the weights'
     * product when the output's rows are a multiple of 1 KiB apart; NULL
     * when they are not. */
    float *dy_copy;
    size_t dy_copy_size;
    /* The weights (C_in, C_out, kH, kW), each row laid out like an output
     * sample. */
    dnnl_memory_desc_t w_md;
    ganet__prim fwd, bwd_data, bwd_weights;
    /* Two-dimensional views of what each product reads and writes (a, b,
     * c of c = a b); their data handles are set at every call. */
    dnnl_memory_t fwd_views[3], bwd_data_views[3], bwd_weights_views[3];
} ganet__deconv_mm;

/* Whether the layer's geometry on this input is a matrix product:
 * transposed, input 1x1, padding 0, dilation 1, output padding 0, no
 * bias. */
bool ganet__deconv_mm_applies(const int64_t *src_dims, const int64_t *padding,
                              const int64_t *dilation,
                              const int64_t *output_padding, bool bias);

/* Build the forward product for a batch of n inputs of cin channels and
 * an output laid out as dst_md, whose samples must each be one contiguous
 * block (GANET_ERR_UNIMPLEMENTED otherwise, and the caller keeps its
 * general path). */
ganet_status ganet__deconv_mm_build(ganet_context *ctx, ganet__deconv_mm *m,
                                    int64_t n, int64_t cin,
                                    const dnnl_memory_desc_t *dst_md);

/* Build the backward products on first use. */
ganet_status ganet__deconv_mm_build_backward(ganet_context *ctx,
                                             ganet__deconv_mm *m, bool data,
                                             bool weights);

/* dst = src (plain N x C_in) times wei (laid out as w_md). */
ganet_status ganet__deconv_mm_forward(ganet_context *ctx, ganet__deconv_mm *m,
                                      const void *src, const void *wei,
                                      void *dst);

/* diff_src (plain N x C_in) = diff_dst (the output's layout) times wei
 * transposed. */
ganet_status ganet__deconv_mm_backward_data(ganet_context *ctx,
                                            ganet__deconv_mm *m,
                                            const void *diff_dst,
                                            const void *wei, void *diff_src);

/* diff_wei (laid out as w_md; the context's transient buffer, which
 * building the backward products reserved) = src transposed times
 * diff_dst. */
ganet_status ganet__deconv_mm_backward_weights(ganet_context *ctx,
                                               ganet__deconv_mm *m,
                                               const void *src,
                                               const void *diff_dst,
                                               void *diff_wei);

void ganet__deconv_mm_destroy(ganet__deconv_mm *m);

#endif
