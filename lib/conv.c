/*
 * Conv2d and ConvTranspose2d on oneDNN's convolution and deconvolution.
 * The two share everything but the shape arithmetic, the weight layout and
 * the oneDNN functions that make their descriptors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ganet/conv.h"
#include "layer_impl.h"

/* What depends on the input shape: built on the first forward pass of a
 * shape, the backward primitives on the first backward pass after it. */
typedef struct shape_state {
    int64_t src_dims[4], dst_dims[4];
    dnnl_memory_desc_t src_md, dst_md;
    ganet__prim fwd, bwd_data, bwd_weights;
    ganet_tensor *dst, *diff_src;
} shape_state;

typedef struct conv_layer {
    ganet_layer base;
    ganet_conv2d_options o;
    bool transposed;
    ganet_tensor *weight, *bias, *diff_weight, *diff_bias;
    dnnl_memory_desc_t w_md, b_md;
    ganet_tensor *wgrad_step, *bgrad_step;
    /* Built for the input shape s.src_dims; rebuilt when it changes. */
    bool built;
    shape_state s;
    /* The source of the last forward pass, borrowed until backward. */
    const ganet_tensor *src;
} conv_layer;

static conv_layer *as_conv(const ganet_layer *l)
{
    return (conv_layer *)l;
}

/* Padding oneDNN adds after the last row (or column), so that its output
 * size equals PyTorch's. Negative when PyTorch drops trailing input rows
 * (Conv2d) or output_padding exceeds padding (ConvTranspose2d). */
static int64_t padding_after(const conv_layer *c, int axis, int64_t in,
                             int64_t out)
{
    const ganet_conv2d_options *o = &c->o;
    int64_t extent = o->dilation[axis] * (o->kernel[axis] - 1) + 1;
    if (c->transposed)
        return o->padding[axis] - o->output_padding[axis];
    return (out - 1) * o->stride[axis] + extent - in - o->padding[axis];
}

static ganet_status output_shape(const ganet_layer *l, const int64_t *src,
                                 int64_t *dst)
{
    const conv_layer *c = as_conv(l);
    const ganet_conv2d_options *o = &c->o;
    const char *kind = l->ops->kind;
    GANET__CHECK(src[1] == o->in_channels, GANET_ERR_SHAPE,
                 "%s: input has %lld channels, the layer expects %lld", kind,
                 (long long)src[1], (long long)o->in_channels);
    dst[0] = src[0];
    dst[1] = o->out_channels;
    for (int a = 0; a < 2; a++) {
        const char *axis = a ? "width" : "height";
        int64_t in = src[2 + a], s = o->stride[a], p = o->padding[a];
        int64_t extent = o->dilation[a] * (o->kernel[a] - 1) + 1;
        if (c->transposed) {
            int64_t out = (in - 1) * s - 2 * p + extent + o->output_padding[a];
            GANET__CHECK(out >= 1, GANET_ERR_SHAPE,
                         "%s: input %s %lld gives an output %s of %lld", kind,
                         axis, (long long)in, axis, (long long)out);
            dst[2 + a] = out;
        } else {
            GANET__CHECK(
                    in + 2 * p >= extent, GANET_ERR_SHAPE,
                    "%s: input %s %lld plus padding 2*%lld is smaller than "
                    "the kernel's extent %lld",
                    kind, axis, (long long)in, (long long)p, (long long)extent);
            dst[2 + a] = (in + 2 * p - extent) / s + 1;
        }
    }
    return GANET_OK;
}

static void free_shape_state(shape_state *s)
{
    ganet__prim_destroy(&s->fwd);
    ganet__prim_destroy(&s->bwd_data);
    ganet__prim_destroy(&s->bwd_weights);
    ganet_tensor_destroy(s->dst);
    ganet_tensor_destroy(s->diff_src);
    memset(s, 0, sizeof *s);
}

/* The geometry arrays oneDNN's descriptor functions take. */
typedef struct geometry {
    dnnl_dims_t strides, dilates, pad_l, pad_r;
} geometry;

static geometry make_geometry(const conv_layer *c, const shape_state *s)
{
    geometry g;
    for (int a = 0; a < 2; a++) {
        g.strides[a] = c->o.stride[a];
        /* oneDNN counts dilation from 0, PyTorch from 1. */
        g.dilates[a] = c->o.dilation[a] - 1;
        g.pad_l[a] = c->o.padding[a];
        g.pad_r[a] =
                padding_after(c, a, s->src_dims[2 + a], s->dst_dims[2 + a]);
    }
    return g;
}

/* Build into a fresh state s, so that a failure leaves the layer's current
 * one (and the backward pass it allows) untouched. */
static ganet_status build_forward(const conv_layer *c, const int64_t *src_dims,
                                  shape_state *s)
{
    ganet_context *ctx = c->base.ctx;
    memcpy(s->src_dims, src_dims, sizeof s->src_dims);
    GANET__TRY(output_shape(&c->base, src_dims, s->dst_dims));
    GANET__TRY(ganet__md_plain(&s->src_md, 4, s->src_dims));
    GANET__TRY(ganet__md_plain(&s->dst_md, 4, s->dst_dims));

    geometry g = make_geometry(c, s);
    /* oneDNN needs padding_after > -stride. ConvTranspose2d falls short
     * when output_padding - padding >= stride, which PyTorch allows only
     * with a dilation larger than the stride. Missing: those output rows
     * (bias only) would have to be added outside oneDNN; until then such
     * a layer is refused here rather than computed wrongly. */
    for (int a = 0; a < 2; a++)
        GANET__CHECK(g.pad_r[a] > -g.strides[a], GANET_ERR_UNIMPLEMENTED,
                     "%s: output_padding %s %lld exceeds padding %lld by the "
                     "stride %lld or more, which is not supported",
                     c->base.ops->kind, a ? "width" : "height",
                     (long long)c->o.output_padding[a],
                     (long long)c->o.padding[a], (long long)c->o.stride[a]);
    const dnnl_memory_desc_t *b = c->o.bias ? &c->b_md : NULL;
    dnnl_convolution_desc_t d;
    dnnl_status_t st = c->transposed
                               ? dnnl_dilated_deconvolution_forward_desc_init(
                                         &d, dnnl_forward_training,
                                         dnnl_deconvolution_direct, &s->src_md,
                                         &c->w_md, b, &s->dst_md, g.strides,
                                         g.dilates, g.pad_l, g.pad_r)
                               : dnnl_dilated_convolution_forward_desc_init(
                                         &d, dnnl_forward_training,
                                         dnnl_convolution_direct, &s->src_md,
                                         &c->w_md, b, &s->dst_md, g.strides,
                                         g.dilates, g.pad_l, g.pad_r);
    GANET__DNNL(st, c->base.ops->kind);
    GANET__TRY(ganet__prim_create(ctx, &s->fwd, &d, NULL, c->base.ops->kind));
    return ganet__tensor_ensure(ctx, &s->dst, s->dst_dims);
}

static ganet_status build_backward_data(conv_layer *c)
{
    shape_state *s = &c->s;
    geometry g = make_geometry(c, s);
    dnnl_convolution_desc_t d;
    dnnl_status_t st =
            c->transposed ? dnnl_dilated_deconvolution_backward_data_desc_init(
                                    &d, dnnl_deconvolution_direct, &s->src_md,
                                    &c->w_md, &s->dst_md, g.strides, g.dilates,
                                    g.pad_l, g.pad_r)
                          : dnnl_dilated_convolution_backward_data_desc_init(
                                    &d, dnnl_convolution_direct, &s->src_md,
                                    &c->w_md, &s->dst_md, g.strides, g.dilates,
                                    g.pad_l, g.pad_r);
    GANET__DNNL(st, c->base.ops->kind);
    GANET__TRY(ganet__tensor_ensure(c->base.ctx, &s->diff_src, s->src_dims));
    return ganet__prim_create(c->base.ctx, &s->bwd_data, &d, s->fwd.pd,
                              c->base.ops->kind);
}

static ganet_status build_backward_weights(conv_layer *c)
{
    shape_state *s = &c->s;
    geometry g = make_geometry(c, s);
    const dnnl_memory_desc_t *b = c->o.bias ? &c->b_md : NULL;
    dnnl_convolution_desc_t d;
    dnnl_status_t st =
            c->transposed
                    ? dnnl_dilated_deconvolution_backward_weights_desc_init(
                              &d, dnnl_deconvolution_direct, &s->src_md,
                              &c->w_md, b, &s->dst_md, g.strides, g.dilates,
                              g.pad_l, g.pad_r)
                    : dnnl_dilated_convolution_backward_weights_desc_init(
                              &d, dnnl_convolution_direct, &s->src_md, &c->w_md,
                              b, &s->dst_md, g.strides, g.dilates, g.pad_l,
                              g.pad_r);
    GANET__DNNL(st, c->base.ops->kind);
    return ganet__prim_create(c->base.ctx, &s->bwd_weights, &d, s->fwd.pd,
                              c->base.ops->kind);
}

/* src: (N, C_in, H, W) -> dst: (N, C_out, OH, OW) */
static ganet_status forward(ganet_layer *l, const ganet_tensor *src,
                            ganet_mode mode, const ganet_tensor **dst)
{
    (void)mode;
    conv_layer *c = as_conv(l);
    GANET__CHECK(src->plain, GANET_ERR_UNIMPLEMENTED,
                 "%s: input in a blocked layout is not supported yet",
                 l->ops->kind);
    if (!c->built || memcmp(c->s.src_dims, src->dims, sizeof c->s.src_dims)) {
        shape_state fresh = {0};
        ganet_status st = build_forward(c, src->dims, &fresh);
        if (st != GANET_OK) {
            free_shape_state(&fresh);
            return st;
        }
        free_shape_state(&c->s);
        c->s = fresh;
        c->built = true;
    }
    dnnl_exec_arg_t args[4] = {
            {DNNL_ARG_SRC, src->mem},
            {DNNL_ARG_WEIGHTS, c->weight->mem},
            {DNNL_ARG_DST, c->s.dst->mem},
            {DNNL_ARG_BIAS, c->o.bias ? c->bias->mem : NULL},
    };
    ganet_status st =
            ganet__prim_execute(l->ctx, &c->s.fwd, c->o.bias ? 4 : 3, args);
    if (st != GANET_OK) {
        /* The output is half written and the primitives may be for another
         * shape than the last good pass: refuse backward until the next
         * forward pass succeeds. */
        l->has_forward = false;
        return st;
    }
    c->src = src;
    *dst = c->s.dst;
    return GANET_OK;
}

/* diff_dst: (N, C_out, OH, OW) -> diff_src: (N, C_in, H, W); adds into
 * diff_weight (weight's layout) and diff_bias (C_out). */
static ganet_status backward(ganet_layer *l, const ganet_tensor *diff_dst,
                             const ganet_tensor **diff_src)
{
    conv_layer *c = as_conv(l);
    ganet_context *ctx = l->ctx;
    GANET__CHECK(diff_dst->plain, GANET_ERR_UNIMPLEMENTED,
                 "%s: gradient in a blocked layout is not supported yet",
                 l->ops->kind);
    if (diff_src && !c->s.bwd_data.prim)
        GANET__TRY(build_backward_data(c));
    if (!c->s.bwd_weights.prim)
        GANET__TRY(build_backward_weights(c));

    /* The weight gradient of this pass goes to a scratch tensor first,
     * because oneDNN overwrites and the layer must accumulate. */
    dnnl_exec_arg_t wargs[5] = {
            {DNNL_ARG_SRC, c->src->mem},
            {DNNL_ARG_DIFF_DST, diff_dst->mem},
            {DNNL_ARG_DIFF_WEIGHTS, c->wgrad_step->mem},
            {DNNL_ARG_DIFF_BIAS, c->o.bias ? c->bgrad_step->mem : NULL},
    };
    GANET__TRY(ganet__prim_execute(ctx, &c->s.bwd_weights, c->o.bias ? 4 : 3,
                                   wargs));
    if (diff_src) {
        dnnl_exec_arg_t dargs[3] = {
                {DNNL_ARG_DIFF_DST, diff_dst->mem},
                {DNNL_ARG_WEIGHTS, c->weight->mem},
                {DNNL_ARG_DIFF_SRC, c->s.diff_src->mem},
        };
        GANET__TRY(ganet__prim_execute(ctx, &c->s.bwd_data, 3, dargs));
        *diff_src = c->s.diff_src;
    }
    ganet__accumulate(c->diff_weight, c->wgrad_step);
    if (c->o.bias)
        ganet__accumulate(c->diff_bias, c->bgrad_step);
    return GANET_OK;
}

static void describe(const ganet_layer *l, const int64_t *src,
                     const int64_t *dst, char *buf, size_t size)
{
    const conv_layer *c = as_conv(l);
    const ganet_conv2d_options *o = &c->o;
    size_t used = 0;
    ganet__appendf(buf, size, &used,
                   "%s(%lld -> %lld, kernel %lldx%lld, stride %lldx%lld, "
                   "padding %lldx%lld",
                   l->ops->kind, (long long)o->in_channels,
                   (long long)o->out_channels, (long long)o->kernel[0],
                   (long long)o->kernel[1], (long long)o->stride[0],
                   (long long)o->stride[1], (long long)o->padding[0],
                   (long long)o->padding[1]);
    if (o->dilation[0] != 1 || o->dilation[1] != 1)
        ganet__appendf(buf, size, &used, ", dilation %lldx%lld",
                       (long long)o->dilation[0], (long long)o->dilation[1]);
    if (c->transposed)
        ganet__appendf(buf, size, &used, ", output_padding %lldx%lld",
                       (long long)o->output_padding[0],
                       (long long)o->output_padding[1]);
    ganet__appendf(buf, size, &used, ", bias %s)", o->bias ? "on" : "off");
    for (int a = 0; a < 2; a++) {
        long long in = src[2 + a], out = dst[2 + a], s = o->stride[a],
                  p = o->padding[a], k = o->kernel[a], d = o->dilation[a];
        char extent[48];
        if (d == 1)
            snprintf(extent, sizeof extent, "%lld", k);
        else
            snprintf(extent, sizeof extent, "%lld*(%lld-1)+1", d, k);
        ganet__appendf(buf, size, &used, "\n    %s: ", a ? "W" : "H");
        if (c->transposed) {
            ganet__appendf(
                    buf, size, &used,
                    "(in-1)*stride - 2*padding + kernel + output_padding "
                    "= (%lld-1)*%lld - 2*%lld + %s + %lld = %lld",
                    in, s, p, extent, (long long)o->output_padding[a], out);
        } else {
            long long span = in + 2 * p - ((d * (k - 1)) + 1);
            ganet__appendf(buf, size, &used,
                           "(in + 2*padding - kernel)/stride + 1 "
                           "= (%lld + 2*%lld - %s)/%lld + 1 = %lld%s",
                           in, p, extent, s, out,
                           span % s ? " (the division rounds down)" : "");
        }
    }
}

static ganet_status init(ganet_layer *l, ganet_init scheme)
{
    conv_layer *c = as_conv(l);
    const ganet_conv2d_options *o = &c->o;
    if (scheme == GANET_INIT_DCGAN) {
        GANET__TRY(ganet_tensor_fill_normal(c->weight, 0.0f, 0.02f));
        if (c->bias)
            GANET__TRY(ganet_tensor_fill(c->bias, 0.0f));
        return GANET_OK;
    }
    /* PyTorch's fan_in is the weight's dim 1 times the kernel area: C_in
     * for Conv2d, but C_out for ConvTranspose2d's (C_in, C_out, k, k). */
    int64_t fan = (c->transposed ? o->out_channels : o->in_channels) *
                  o->kernel[0] * o->kernel[1];
    float bound = (float)(1.0 / sqrt((double)fan));
    GANET__TRY(ganet_tensor_fill_uniform(c->weight, -bound, bound));
    if (c->bias)
        GANET__TRY(ganet_tensor_fill_uniform(c->bias, -bound, bound));
    return GANET_OK;
}

static void destroy(ganet_layer *l)
{
    conv_layer *c = as_conv(l);
    free_shape_state(&c->s);
    ganet_tensor_destroy(c->weight);
    ganet_tensor_destroy(c->bias);
    ganet_tensor_destroy(c->diff_weight);
    ganet_tensor_destroy(c->diff_bias);
    ganet_tensor_destroy(c->wgrad_step);
    ganet_tensor_destroy(c->bgrad_step);
}

static const ganet__layer_ops conv_ops = {
        "Conv2d", output_shape, forward, backward, describe, init, destroy};
static const ganet__layer_ops deconv_ops = {
        "ConvTranspose2d", output_shape, forward, backward,
        describe,          init,         destroy};

static ganet_status check_options(const char *fn, const ganet_conv2d_options *o,
                                  bool transposed)
{
    GANET__CHECK(o->in_channels >= 1 && o->out_channels >= 1,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: channels are %lld -> %lld, both must be 1 or more", fn,
                 (long long)o->in_channels, (long long)o->out_channels);
    for (int a = 0; a < 2; a++) {
        const char *axis = a ? "width" : "height";
        GANET__CHECK(o->kernel[a] >= 1, GANET_ERR_INVALID_ARGUMENT,
                     "%s: kernel %s is %lld, expected 1 or more", fn, axis,
                     (long long)o->kernel[a]);
        GANET__CHECK(o->stride[a] >= 1, GANET_ERR_INVALID_ARGUMENT,
                     "%s: stride %s is %lld, expected 1 or more", fn, axis,
                     (long long)o->stride[a]);
        GANET__CHECK(o->padding[a] >= 0, GANET_ERR_INVALID_ARGUMENT,
                     "%s: padding %s is %lld, expected 0 or more", fn, axis,
                     (long long)o->padding[a]);
        GANET__CHECK(o->dilation[a] >= 1, GANET_ERR_INVALID_ARGUMENT,
                     "%s: dilation %s is %lld, expected 1 or more (1 = none)",
                     fn, axis, (long long)o->dilation[a]);
        int64_t op = o->output_padding[a];
        if (!transposed) {
            GANET__CHECK(op == 0, GANET_ERR_INVALID_ARGUMENT,
                         "%s: output_padding %s is %lld; only ConvTranspose2d "
                         "has one",
                         fn, axis, (long long)op);
            continue;
        }
        int64_t limit =
                o->stride[a] > o->dilation[a] ? o->stride[a] : o->dilation[a];
        GANET__CHECK(op >= 0 && op < limit, GANET_ERR_INVALID_ARGUMENT,
                     "%s: output_padding %s is %lld, it must be 0 or more and "
                     "smaller than the stride or the dilation (%lld)",
                     fn, axis, (long long)op, (long long)limit);
    }
    return GANET_OK;
}

static ganet_status setup(conv_layer *c)
{
    ganet_context *ctx = c->base.ctx;
    const ganet_conv2d_options *o = &c->o;
    /* oneDNN names weight dims (out, in, kh, kw); PyTorch stores a
     * transposed convolution's as (in, out, kh, kw), which is oneDNN's
     * iohw tag on the same dims. */
    int64_t w[4] = {o->out_channels, o->in_channels, o->kernel[0],
                    o->kernel[1]};
    int64_t stored[4] = {w[0], w[1], w[2], w[3]};
    if (c->transposed) {
        stored[0] = w[1];
        stored[1] = w[0];
    }
    int64_t count;
    GANET__TRY(ganet__dims_count(c->base.ops->kind, 4, w, &count));
    dnnl_dims_t wd = {w[0], w[1], w[2], w[3]};
    GANET__DNNL(
            dnnl_memory_desc_init_by_tag(&c->w_md, 4, wd, dnnl_f32,
                                         c->transposed ? dnnl_iohw : dnnl_oihw),
            "weights");
    GANET__TRY(ganet_tensor_create(ctx, 4, stored, &c->weight));
    GANET__TRY(ganet_tensor_create(ctx, 4, stored, &c->diff_weight));
    GANET__TRY(ganet_tensor_create(ctx, 4, stored, &c->wgrad_step));
    GANET__TRY(ganet__layer_add_tensor(&c->base, "weight", c->weight,
                                       c->diff_weight));
    if (o->bias) {
        const int64_t bd[1] = {o->out_channels};
        GANET__TRY(ganet__md_plain(&c->b_md, 1, bd));
        GANET__TRY(ganet_tensor_create(ctx, 1, bd, &c->bias));
        GANET__TRY(ganet_tensor_create(ctx, 1, bd, &c->diff_bias));
        GANET__TRY(ganet_tensor_create(ctx, 1, bd, &c->bgrad_step));
        GANET__TRY(ganet__layer_add_tensor(&c->base, "bias", c->bias,
                                           c->diff_bias));
    }
    return init(&c->base, GANET_INIT_PYTORCH);
}

static ganet_status create(ganet_context *ctx,
                           const ganet_conv2d_options *options, bool transposed,
                           ganet_layer **out, const char *fn)
{
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, ctx);
    /* The message names the argument as the public functions do. */
    GANET__CHECK_NULL(fn, options);
    GANET__TRY(check_options(fn, options, transposed));
    conv_layer *c = calloc(1, sizeof *c);
    GANET__CHECK(c != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    ganet__layer_init_base(&c->base, transposed ? &deconv_ops : &conv_ops, ctx);
    c->o = *options;
    c->transposed = transposed;
    ganet_status st = setup(c);
    if (st != GANET_OK) {
        ganet_layer_destroy(&c->base);
        return st;
    }
    *out = &c->base;
    return GANET_OK;
}

ganet_status ganet_conv2d_create(ganet_context *ctx,
                                 const ganet_conv2d_options *options,
                                 ganet_layer **out)
{
    return create(ctx, options, false, out, "ganet_conv2d_create");
}

ganet_status ganet_conv_transpose2d_create(ganet_context *ctx,
                                           const ganet_conv2d_options *options,
                                           ganet_layer **out)
{
    return create(ctx, options, true, out, "ganet_conv_transpose2d_create");
}
