/*
 * Conv2d and ConvTranspose2d on oneDNN's convolution and deconvolution.
 * The two share everything but the shape arithmetic, the weight layout and
 * the oneDNN functions that make their descriptors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deconv_matmul.h"
#include "ganet/conv.h"
#include "layer_impl.h"

/* A copy of the weights in the layout one primitive chose, and the
 * parameter's version it was made from (0: never), so that it is refreshed
 * only after copy_from, fill or an optimizer step changed the parameter. */
typedef struct weight_cache {
    ganet_tensor *t;
    uint64_t made_from;
} weight_cache;

/* What depends on the input shape: built on the first forward pass of a
 * shape, the backward primitives on the first backward pass after it.
 * Every primitive chooses its own layouts (format "any"): oneDNN's fast
 * convolutions want channels in blocks of 8 (AVX2's width), and plain NCHW
 * leaves only its slow GEMM-based or reference code. The outputs are kept
 * in the chosen layouts, so the next layer reads them as they are; an
 * input in another layout (the caller's plain images) is converted into a
 * stage tensor first. */
typedef struct shape_state {
    int64_t src_dims[4], dst_dims[4];
    ganet__prim fwd, bwd_data, bwd_weights;
    ganet_tensor *dst, *diff_src;
    /* Inputs converted to the layout a primitive wants; NULL until an
     * input comes in another one. */
    ganet_tensor *src_stage, *bwd_src_stage, *diff_dst_stage, *wdiff_dst_stage;
    weight_cache w_fwd;
    /* Backward by data reads the weights in yet another layout; they are
     * converted into the context's transient buffer at every pass (the
     * weight gradient goes there only after), which costs less than the
     * memory of a second copy. */
    dnnl_memory_t w_bwd;
    ganet__reorder w_bwd_fill;
    /* Backward by weights overwrites, in its own layout, so it writes to
     * the context's transient buffer, which the layer then adds into the
     * parameter's gradient in the parameter's layout. */
    dnnl_memory_t wgrad_step;
    ganet__reorder wgrad_add;
    /* A transposed convolution that is a matrix product runs as one
     * (deconv_matmul.h): fwd then only says the output's layout, w_fwd
     * holds the product's weights, and the source and its gradient are
     * plain. */
    bool as_matmul;
    ganet__deconv_mm mm;
} shape_state;

typedef struct conv_layer {
    ganet_layer base;
    ganet_conv2d_options o;
    bool transposed;
    ganet_tensor *weight, *bias, *diff_weight, *diff_bias;
    /* The parameter's layout on oneDNN's (C_out, C_in, kH, kW) dims. */
    dnnl_memory_desc_t w_md, b_md;
    int64_t w_dims[4];
    ganet_tensor *bgrad_step;
    /* Built for the input shape s.src_dims; rebuilt when it changes. */
    bool built;
    shape_state s;
    /* The source of the last forward pass, borrowed until backward, and
     * what forward read: src or its staged copy. */
    const ganet_tensor *src, *src_used;
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
    ganet__deconv_mm_destroy(&s->mm);
    if (s->wgrad_step)
        dnnl_memory_destroy(s->wgrad_step);
    if (s->w_bwd)
        dnnl_memory_destroy(s->w_bwd);
    ganet__reorder_destroy(&s->w_bwd_fill);
    ganet__reorder_destroy(&s->wgrad_add);
    ganet_tensor *owned[] = {
            s->dst,           s->diff_src,       s->src_stage,
            s->bwd_src_stage, s->diff_dst_stage, s->wdiff_dst_stage,
            s->w_fwd.t};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        ganet_tensor_destroy(owned[i]);
    memset(s, 0, sizeof *s);
}

/* A descriptor that lets the primitive choose the layout. */
static ganet_status md_any(dnnl_memory_desc_t *md, const int64_t *dims)
{
    dnnl_dims_t d = {dims[0], dims[1], dims[2], dims[3]};
    GANET__DNNL(dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32,
                                             dnnl_format_tag_any),
                "memory descriptor");
    return GANET_OK;
}

/* src, weights and dst descriptors that leave every layout to oneDNN. */
static ganet_status mds_any(const conv_layer *c, const shape_state *s,
                            dnnl_memory_desc_t *src, dnnl_memory_desc_t *w,
                            dnnl_memory_desc_t *dst)
{
    GANET__TRY(md_any(src, s->src_dims));
    GANET__TRY(md_any(w, c->w_dims));
    return md_any(dst, s->dst_dims);
}

/* A layer-owned tensor of dims in the layout md. */
static ganet_status tensor_in(ganet_context *ctx, ganet_tensor **t,
                              const int64_t *dims, const dnnl_memory_desc_t *md)
{
    GANET__TRY(ganet__tensor_ensure(ctx, t, dims));
    return ganet__tensor_set_layout(*t, md, false);
}

/* The weights in the layout md: the parameter itself when that is its
 * layout, else the cache, converted again only when the parameter has
 * changed since. from is the parameter's layout on md's dims. */
static ganet_status weights_in(conv_layer *c, const dnnl_memory_desc_t *from,
                               const dnnl_memory_desc_t *md,
                               weight_cache *cache, const ganet_tensor **out)
{
    GANET__CHECK(c->weight->plain, GANET_ERR_STATE,
                 "%s: the weight is not in its plain layout",
                 c->base.ops->kind);
    if (dnnl_memory_desc_equal(md, from)) {
        *out = c->weight;
        return GANET_OK;
    }
    /* A fresh tensor reads as zeros in its padding, as oneDNN needs. */
    if (cache->t == NULL)
        GANET__TRY(tensor_in(c->base.ctx, &cache->t, md->dims, md));
    if (cache->made_from != c->weight->version + 1) {
        GANET__TRY(ganet__reorder_run(c->base.ctx, &cache->t->fill, from,
                                      c->weight->data, md, cache->t->data,
                                      false));
        cache->made_from = c->weight->version + 1;
    }
    *out = cache->t;
    return GANET_OK;
}

/* The weights as the primitive p wants them. */
static ganet_status weights_for(conv_layer *c, const ganet__prim *p,
                                weight_cache *cache, const ganet_tensor **out)
{
    return weights_in(c, &c->w_md, ganet__prim_md(p, dnnl_query_weights_md, 0),
                      cache, out);
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
    dnnl_memory_desc_t src_md, w_md, dst_md;
    GANET__TRY(mds_any(c, s, &src_md, &w_md, &dst_md));

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
    dnnl_status_t st =
            c->transposed
                    ? dnnl_dilated_deconvolution_forward_desc_init(
                              &d, dnnl_forward_training,
                              dnnl_deconvolution_direct, &src_md, &w_md, b,
                              &dst_md, g.strides, g.dilates, g.pad_l, g.pad_r)
                    : dnnl_dilated_convolution_forward_desc_init(
                              &d, dnnl_forward_training,
                              dnnl_convolution_direct, &src_md, &w_md, b,
                              &dst_md, g.strides, g.dilates, g.pad_l, g.pad_r);
    GANET__DNNL(st, c->base.ops->kind);
    GANET__TRY(ganet__prim_describe(ctx, &s->fwd, &d, NULL, c->base.ops->kind));
    const dnnl_memory_desc_t *dst =
            ganet__prim_md(&s->fwd, dnnl_query_dst_md, 0);
    GANET__TRY(tensor_in(ctx, &s->dst, s->dst_dims, dst));
    const ganet_conv2d_options *o = &c->o;
    if (c->transposed &&
        ganet__deconv_mm_applies(src_dims, o->padding, o->dilation,
                                 o->output_padding, o->bias)) {
        /* The output in the layout the deconvolution chose, for the next
         * layer; one that does not suit the product leaves the
         * deconvolution in charge. */
        s->as_matmul = ganet__deconv_mm_build(ctx, &s->mm, src_dims[0],
                                              src_dims[1], dst) == GANET_OK;
        if (s->as_matmul)
            return GANET_OK;
    }
    return ganet__prim_finish(ctx, &s->fwd, c->base.ops->kind);
}

static ganet_status build_backward_data(conv_layer *c)
{
    shape_state *s = &c->s;
    geometry g = make_geometry(c, s);
    /* Free choice again, with the forward primitive as the hint: it
     * usually picks the forward layouts, so the gradient that comes back
     * through the next layer needs no conversion. */
    dnnl_memory_desc_t src_md, w_md, dst_md;
    GANET__TRY(mds_any(c, s, &src_md, &w_md, &dst_md));
    dnnl_convolution_desc_t d;
    dnnl_status_t st =
            c->transposed
                    ? dnnl_dilated_deconvolution_backward_data_desc_init(
                              &d, dnnl_deconvolution_direct, &src_md, &w_md,
                              &dst_md, g.strides, g.dilates, g.pad_l, g.pad_r)
                    : dnnl_dilated_convolution_backward_data_desc_init(
                              &d, dnnl_convolution_direct, &src_md, &w_md,
                              &dst_md, g.strides, g.dilates, g.pad_l, g.pad_r);
    GANET__DNNL(st, c->base.ops->kind);
    ganet_context *ctx = c->base.ctx;
    GANET__TRY(ganet__prim_create(ctx, &s->bwd_data, &d, s->fwd.pd,
                                  c->base.ops->kind));
    const dnnl_memory_desc_t *w =
            ganet__prim_md(&s->bwd_data, dnnl_query_weights_md, 0);
    GANET__TRY(ganet__transient_reserve(ctx, dnnl_memory_desc_get_size(w)));
    GANET__DNNL(dnnl_memory_create(&s->w_bwd, w, ctx->engine, DNNL_MEMORY_NONE),
                c->base.ops->kind);
    return tensor_in(ctx, &s->diff_src, s->src_dims,
                     ganet__prim_md(&s->bwd_data, dnnl_query_diff_src_md, 0));
}

/* The weights as backward by data wants them: the parameter itself or the
 * forward pass's copy when either is in that layout and current, else a
 * conversion into the transient buffer. */
static ganet_status weights_for_bwd_data(conv_layer *c, dnnl_memory_t *out)
{
    shape_state *s = &c->s;
    ganet_context *ctx = c->base.ctx;
    const dnnl_memory_desc_t *md =
            ganet__prim_md(&s->bwd_data, dnnl_query_weights_md, 0);
    const ganet_tensor *f = s->w_fwd.t;
    if (dnnl_memory_desc_equal(md, &c->w_md)) {
        *out = c->weight->mem;
    } else if (f && dnnl_memory_desc_equal(md, &f->md) &&
               s->w_fwd.made_from == c->weight->version + 1) {
        *out = f->mem;
    } else {
        GANET__TRY(ganet__reorder_run(ctx, &s->w_bwd_fill, &c->w_md,
                                      c->weight->data, md, ctx->transient,
                                      false));
        GANET__DNNL(dnnl_memory_set_data_handle(s->w_bwd, ctx->transient),
                    c->base.ops->kind);
        *out = s->w_bwd;
    }
    return GANET_OK;
}

static ganet_status build_backward_weights(conv_layer *c)
{
    shape_state *s = &c->s;
    geometry g = make_geometry(c, s);
    const dnnl_memory_desc_t *b = c->o.bias ? &c->b_md : NULL;
    dnnl_memory_desc_t src_md, w_md, dst_md;
    GANET__TRY(mds_any(c, s, &src_md, &w_md, &dst_md));
    if (c->transposed && c->o.out_channels == 1) {
        /* The blocked kernels pad the one output channel to a block (of 8
         * on AVX2) and waste the rest of it; on plain layouts oneDNN's
         * GEMM code does not: a 64x1x32x32 output's weight gradient, 2.1
         * -> 0.7 ms with the conversion of the source. */
        GANET__TRY(ganet__md_plain(&src_md, 4, s->src_dims));
        GANET__TRY(ganet__md_plain(&dst_md, 4, s->dst_dims));
    }
    dnnl_convolution_desc_t d;
    dnnl_status_t st =
            c->transposed
                    ? dnnl_dilated_deconvolution_backward_weights_desc_init(
                              &d, dnnl_deconvolution_direct, &src_md, &w_md, b,
                              &dst_md, g.strides, g.dilates, g.pad_l, g.pad_r)
                    : dnnl_dilated_convolution_backward_weights_desc_init(
                              &d, dnnl_convolution_direct, &src_md, &w_md, b,
                              &dst_md, g.strides, g.dilates, g.pad_l, g.pad_r);
    GANET__DNNL(st, c->base.ops->kind);
    ganet_context *ctx = c->base.ctx;
    GANET__TRY(ganet__prim_create(ctx, &s->bwd_weights, &d, s->fwd.pd,
                                  c->base.ops->kind));
    const dnnl_memory_desc_t *md =
            ganet__prim_md(&s->bwd_weights, dnnl_query_diff_weights_md, 0);
    GANET__TRY(ganet__transient_reserve(ctx, dnnl_memory_desc_get_size(md)));
    GANET__DNNL(dnnl_memory_create(&s->wgrad_step, md, ctx->engine,
                                   DNNL_MEMORY_NONE),
                c->base.ops->kind);
    return GANET_OK;
}

/* src: (N, C_in, H, W), any layout -> dst: (N, C_out, OH, OW), in the
 * layout the forward primitive chose. */
static ganet_status forward(ganet_layer *l, const ganet_tensor *src,
                            ganet_mode mode, const ganet_tensor **dst)
{
    (void)mode;
    conv_layer *c = as_conv(l);
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
    shape_state *s = &c->s;
    const ganet_tensor *x, *w;
    ganet_status st;
    if (s->as_matmul) {
        dnnl_memory_desc_t plain;
        GANET__TRY(ganet__md_plain(&plain, 4, src->dims));
        GANET__TRY(ganet__tensor_as(src, &plain, &s->src_stage, &x));
        GANET__TRY(weights_in(c, &c->weight->md, &s->mm.w_md, &s->w_fwd, &w));
        st = ganet__deconv_mm_forward(l->ctx, &s->mm, x->data, w->data,
                                      s->dst->data);
    } else {
        GANET__TRY(ganet__tensor_as(
                src, ganet__prim_md(&s->fwd, dnnl_query_src_md, 0),
                &s->src_stage, &x));
        GANET__TRY(weights_for(c, &s->fwd, &s->w_fwd, &w));
        dnnl_exec_arg_t args[4] = {
                {DNNL_ARG_SRC, x->mem},
                {DNNL_ARG_WEIGHTS, w->mem},
                {DNNL_ARG_DST, s->dst->mem},
                {DNNL_ARG_BIAS, c->o.bias ? c->bias->mem : NULL},
        };
        st = ganet__prim_execute(l->ctx, &s->fwd, c->o.bias ? 4 : 3, args);
    }
    if (st != GANET_OK) {
        /* The output is half written and the primitives may be for another
         * shape than the last good pass: refuse backward until the next
         * forward pass succeeds. */
        l->has_forward = false;
        return st;
    }
    /* The staged copy stays as it is until the next forward pass, as the
     * caller's source must. */
    c->src = src;
    c->src_used = x;
    *dst = s->dst;
    return GANET_OK;
}

/* Tensor t in the layout md: a copy already made in that layout, t
 * itself, or a new copy in stage. */
static ganet_status reuse_as(const ganet_tensor *t, const ganet_tensor *made,
                             const dnnl_memory_desc_t *md, ganet_tensor **stage,
                             const ganet_tensor **out)
{
    if (made && dnnl_memory_desc_equal(&made->md, md)) {
        *out = made;
        return GANET_OK;
    }
    return ganet__tensor_as(t, md, stage, out);
}

/* diff_dst: (N, C_out, OH, OW), any layout -> diff_src: (N, C_in, H, W),
 * in the layout backward by data chose. Adds into diff_weight (the
 * parameter's plain layout) and diff_bias (C_out) unless the layer's
 * parameters need no gradient; with neither wanted there is nothing to
 * do. */
/* backward() for a layer that runs as a matrix product: diff_dst in the
 * output's layout, diff_src plain. */
static ganet_status backward_matmul(conv_layer *c, const ganet_tensor *diff_dst,
                                    const ganet_tensor **diff_src)
{
    ganet_context *ctx = c->base.ctx;
    shape_state *s = &c->s;
    bool want_weights = c->base.requires_grad;
    GANET__TRY(ganet__deconv_mm_build_backward(ctx, &s->mm, diff_src != NULL,
                                               want_weights));
    const ganet_tensor *dd, *w;
    GANET__TRY(reuse_as(diff_dst, NULL, &s->dst->md, &s->diff_dst_stage, &dd));
    if (diff_src) {
        dnnl_memory_desc_t plain;
        GANET__TRY(ganet__md_plain(&plain, 4, s->src_dims));
        GANET__TRY(tensor_in(ctx, &s->diff_src, s->src_dims, &plain));
        GANET__TRY(weights_in(c, &c->weight->md, &s->mm.w_md, &s->w_fwd, &w));
        GANET__TRY(ganet__deconv_mm_backward_data(ctx, &s->mm, dd->data,
                                                  w->data, s->diff_src->data));
        *diff_src = s->diff_src;
    }
    if (want_weights) {
        /* The product writes to the transient buffer, reserved when it
         * was built. */
        const dnnl_memory_desc_t *md = &s->mm.w_md;
        GANET__TRY(ganet__deconv_mm_backward_weights(
                ctx, &s->mm, c->src_used->data, dd->data, ctx->transient));
        GANET__TRY(ganet__reorder_run(ctx, &s->wgrad_add, md, ctx->transient,
                                      &c->diff_weight->md, c->diff_weight->data,
                                      true));
        c->diff_weight->version++;
    }
    return GANET_OK;
}

static ganet_status backward(ganet_layer *l, const ganet_tensor *diff_dst,
                             const ganet_tensor **diff_src)
{
    conv_layer *c = as_conv(l);
    ganet_context *ctx = l->ctx;
    shape_state *s = &c->s;
    bool want_weights = l->requires_grad;
    GANET__CHECK(c->diff_weight->plain && (!c->o.bias || c->diff_bias->plain),
                 GANET_ERR_STATE,
                 "%s: the gradients are not in their plain "
                 "layout",
                 l->ops->kind);
    if (s->as_matmul)
        return backward_matmul(c, diff_dst, diff_src);
    if (diff_src && !s->bwd_data.prim)
        GANET__TRY(build_backward_data(c));
    if (want_weights && !s->bwd_weights.prim)
        GANET__TRY(build_backward_weights(c));

    const ganet_tensor *dd = NULL;
    if (diff_src) {
        dnnl_memory_t w;
        GANET__TRY(reuse_as(
                diff_dst, NULL,
                ganet__prim_md(&s->bwd_data, dnnl_query_diff_dst_md, 0),
                &s->diff_dst_stage, &dd));
        GANET__TRY(weights_for_bwd_data(c, &w));
        dnnl_exec_arg_t dargs[3] = {
                {DNNL_ARG_DIFF_DST, dd->mem},
                {DNNL_ARG_WEIGHTS, w},
                {DNNL_ARG_DIFF_SRC, s->diff_src->mem},
        };
        GANET__TRY(ganet__prim_execute(ctx, &s->bwd_data, 3, dargs));
    }
    if (want_weights) {
        const ganet__prim *p = &s->bwd_weights;
        const ganet_tensor *x, *wdd;
        GANET__TRY(reuse_as(c->src, c->src_used,
                            ganet__prim_md(p, dnnl_query_src_md, 0),
                            &s->bwd_src_stage, &x));
        GANET__TRY(reuse_as(diff_dst, dd,
                            ganet__prim_md(p, dnnl_query_diff_dst_md, 0),
                            &s->wdiff_dst_stage, &wdd));
        /* oneDNN overwrites its output and the layer must accumulate, so
         * the gradient of this pass goes to the transient buffer first. */
        GANET__DNNL(dnnl_memory_set_data_handle(s->wgrad_step, ctx->transient),
                    l->ops->kind);
        dnnl_exec_arg_t wargs[4] = {
                {DNNL_ARG_SRC, x->mem},
                {DNNL_ARG_DIFF_DST, wdd->mem},
                {DNNL_ARG_DIFF_WEIGHTS, s->wgrad_step},
                {DNNL_ARG_DIFF_BIAS, c->o.bias ? c->bgrad_step->mem : NULL},
        };
        GANET__TRY(ganet__prim_execute(ctx, &s->bwd_weights, c->o.bias ? 4 : 3,
                                       wargs));
        /* Back to the parameter's layout, added in the same pass. */
        GANET__TRY(ganet__reorder_run(
                ctx, &s->wgrad_add,
                ganet__prim_md(p, dnnl_query_diff_weights_md, 0),
                ctx->transient, &c->w_md, c->diff_weight->data, true));
        c->diff_weight->version++;
        if (c->o.bias)
            ganet__accumulate(c->diff_bias, c->bgrad_step);
    }
    if (diff_src)
        *diff_src = s->diff_src;
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
    ganet_tensor_destroy(c->bgrad_step);
}

/* Backward reads the source and the weights, never dst. */
static const ganet__layer_ops conv_ops = {
        .kind = "Conv2d",
        GANET__LAYER_FUNCTIONS,
        .lends_outputs = true,
        .lends_diff_src = true,
};
static const ganet__layer_ops deconv_ops = {
        .kind = "ConvTranspose2d",
        GANET__LAYER_FUNCTIONS,
        .lends_outputs = true,
        .lends_diff_src = true,
};

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
    memcpy(c->w_dims, w, sizeof c->w_dims);
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
