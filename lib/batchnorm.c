/*
 * BatchNorm2d on oneDNN's batch normalization. oneDNN computes the batch
 * statistics and the gradients; the running statistics are the layer's own,
 * because oneDNN keeps none.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ganet/batchnorm.h"
#include "layer_impl.h"

/* Primitives come in four variants: the mode, and whether the ReLU after
 * the layer is applied too (fuse_norm_relu, for a Sequential that fuses
 * the two: the forward pass then keeps which outputs were negative in a
 * workspace, and backward zeroes their gradient). */
enum { VARIANTS = 4 };

static int variant(ganet_mode mode, bool relu)
{
    return (int)mode * 2 + (relu ? 1 : 0);
}

/* What depends on the input shape and layout: the primitives of every
 * variant and the tensors they write. The layout is the input's (a
 * convolution's choice, channels in blocks of 8, in a DC-GAN): normalising
 * in place of converting keeps the convolutions on either side free of
 * conversions, and oneDNN's fast batch normalization needs a blocked
 * layout anyway. dst and diff_src take it too. */
typedef struct shape_state {
    bool built;
    int64_t dims[4];
    dnnl_memory_desc_t md;
    ganet__prim fwd[VARIANTS], bwd[VARIANTS];
    /* The ReLU variants' workspace: one buffer, a view per variant. */
    void *ws;
    size_t ws_size;
    dnnl_memory_t ws_view[VARIANTS];
    ganet_tensor *dst, *diff_src;
    /* The output's gradient converted to md, when it comes in another
     * layout. */
    ganet_tensor *diff_dst_stage;
} shape_state;

typedef struct bn_layer {
    ganet_layer base;
    ganet_batchnorm2d_options o;
    ganet_tensor *weight, *bias, *diff_weight, *diff_bias;
    ganet_tensor *running_mean, *running_var;
    /* The batch mean and biased variance (C) of the last training forward
     * pass, which backward reads. */
    ganet_tensor *mean, *var;
    /* oneDNN overwrites its scale and shift gradients; the layer adds. */
    ganet_tensor *wgrad_step, *bgrad_step;
    shape_state s;
    /* The source and variant of the last forward pass; src is borrowed
     * until backward. */
    const ganet_tensor *src;
    ganet_mode mode;
    bool relu;
} bn_layer;

static bn_layer *as_bn(const ganet_layer *l)
{
    return (bn_layer *)l;
}

static ganet_status output_shape(const ganet_layer *l, const int64_t *src,
                                 int64_t *dst)
{
    const bn_layer *b = as_bn(l);
    GANET__CHECK(src[1] == b->o.num_features, GANET_ERR_SHAPE,
                 "%s: input has %lld channels, the layer expects %lld",
                 l->ops->kind, (long long)src[1], (long long)b->o.num_features);
    memcpy(dst, src, 4 * sizeof *src);
    return GANET_OK;
}

static void free_shape_state(ganet_context *ctx, shape_state *s)
{
    for (int v = 0; v < VARIANTS; v++) {
        ganet__prim_destroy(&s->fwd[v]);
        ganet__prim_destroy(&s->bwd[v]);
        if (s->ws_view[v])
            dnnl_memory_destroy(s->ws_view[v]);
    }
    ganet__free(ctx, s->ws, s->ws_size);
    ganet_tensor_destroy(s->dst);
    ganet_tensor_destroy(s->diff_src);
    ganet_tensor_destroy(s->diff_dst_stage);
    memset(s, 0, sizeof *s);
}

static unsigned flags_for(const bn_layer *b, int v)
{
    unsigned flags = b->o.affine ? dnnl_use_scale | dnnl_use_shift : 0;
    if ((ganet_mode)(v / 2) == GANET_MODE_INFERENCE)
        flags |= dnnl_use_global_stats;
    if (v % 2)
        flags |= dnnl_fuse_norm_relu;
    return flags;
}

/* The workspace of variant v, which p (its forward primitive) defines;
 * none without the ReLU. */
static ganet_status make_workspace(ganet_context *ctx, shape_state *s, int v)
{
    const dnnl_memory_desc_t *md =
            ganet__prim_md(&s->fwd[v], dnnl_query_workspace_md, 0);
    size_t size = md ? dnnl_memory_desc_get_size(md) : 0;
    if (size == 0)
        return GANET_OK;
    if (size > s->ws_size) {
        void *p = ganet__alloc(ctx, size);
        GANET__CHECK(p != NULL, GANET_ERR_OUT_OF_MEMORY,
                     "BatchNorm2d: cannot allocate %zu bytes", size);
        ganet__free(ctx, s->ws, s->ws_size);
        s->ws = p;
        s->ws_size = size;
    }
    GANET__DNNL(dnnl_memory_create(&s->ws_view[v], md, ctx->engine,
                                   DNNL_MEMORY_NONE),
                "BatchNorm2d");
    return GANET_OK;
}

/* Both modes are built as forward training: with global statistics that
 * normalises exactly as inference does, and it stays a valid hint for the
 * backward pass that may follow an inference-mode forward. */
static ganet_status build_forward(bn_layer *b, shape_state *s, int v)
{
    dnnl_batch_normalization_desc_t d;
    GANET__DNNL(dnnl_batch_normalization_forward_desc_init(
                        &d, dnnl_forward_training, &s->md, b->o.eps,
                        flags_for(b, v)),
                b->base.ops->kind);
    GANET__TRY(ganet__prim_create(b->base.ctx, &s->fwd[v], &d, NULL,
                                  b->base.ops->kind));
    ganet_status st = make_workspace(b->base.ctx, s, v);
    if (st != GANET_OK)
        ganet__prim_destroy(&s->fwd[v]);
    return st;
}

/* Without scale and shift there is nothing but the data to differentiate,
 * and oneDNN always computes diff_src. */
static ganet_status build_backward(bn_layer *b, int v)
{
    shape_state *s = &b->s;
    dnnl_batch_normalization_desc_t d;
    GANET__DNNL(dnnl_batch_normalization_backward_desc_init(
                        &d, b->o.affine ? dnnl_backward : dnnl_backward_data,
                        &s->md, &s->md, b->o.eps, flags_for(b, v)),
                b->base.ops->kind);
    return ganet__prim_create(b->base.ctx, &s->bwd[v], &d, s->fwd[v].pd,
                              b->base.ops->kind);
}

/* Where diff_src goes: over dd (the gradient in md) when the layer is in
 * place and dd may be overwritten (oneDNN allows diff_src and diff_dst to
 * share memory), else the layer's own tensor, made on first use. */
static ganet_status diff_src_tensor(bn_layer *b, const ganet_tensor *dd,
                                    bool may_overwrite, ganet_tensor **out)
{
    if (b->base.inplace && may_overwrite) {
        *out = (ganet_tensor *)dd;
        return GANET_OK;
    }
    shape_state *s = &b->s;
    GANET__TRY(ganet__tensor_ensure(b->base.ctx, &s->diff_src, s->dims));
    GANET__TRY(ganet__tensor_set_layout(s->diff_src, &s->md, false));
    *out = s->diff_src;
    return GANET_OK;
}

/* Make sure the primitive for this shape, layout and mode exists. A new
 * shape is built aside and replaces the old one only once it works, so a
 * failure leaves the layer as it was. */
static ganet_status prepare_forward(bn_layer *b, const ganet_tensor *src, int v)
{
    const int64_t *dims = src->dims;
    if (b->s.built && memcmp(b->s.dims, dims, sizeof b->s.dims) == 0 &&
        dnnl_memory_desc_equal(&b->s.md, &src->md)) {
        if (b->s.fwd[v].prim)
            return GANET_OK;
        return build_forward(b, &b->s, v);
    }
    shape_state fresh;
    memset(&fresh, 0, sizeof fresh);
    memcpy(fresh.dims, dims, sizeof fresh.dims);
    fresh.md = src->md;
    ganet_status st = build_forward(b, &fresh, v);
    if (st == GANET_OK)
        st = ganet__tensor_ensure(b->base.ctx, &fresh.dst, fresh.dims);
    if (st == GANET_OK)
        st = ganet__tensor_set_layout(fresh.dst, &fresh.md, false);
    if (st != GANET_OK) {
        free_shape_state(b->base.ctx, &fresh);
        return st;
    }
    fresh.built = true;
    free_shape_state(b->base.ctx, &b->s);
    b->s = fresh;
    /* The last pass belongs to the old shape; forward sets it again once
     * this one has run. */
    b->src = NULL;
    return GANET_OK;
}

/* running = (1 - momentum) * running + momentum * batch, where the batch
 * variance is made unbiased: PyTorch's update, in double as PyTorch's CPU
 * code accumulates it. */
static void update_running_stats(bn_layer *b, int64_t m)
{
    const float *mean = ganet__tensor_data(b->mean);
    const float *var = ganet__tensor_data(b->var);
    float *rm = ganet__tensor_data(b->running_mean);
    float *rv = ganet__tensor_data(b->running_var);
    double mom = b->o.momentum, unbias = (double)m / (double)(m - 1);
    for (int64_t c = 0; c < b->o.num_features; c++) {
        rm[c] = (float)((1.0 - mom) * rm[c] + mom * mean[c]);
        rv[c] = (float)((1.0 - mom) * rv[c] + mom * var[c] * unbias);
    }
}

/* The statistics a pass in this mode normalises with: the batch's, which
 * training writes, or the running ones, which inference reads. Backward
 * after inference reads the running ones again, so they must not change in
 * between, as the source must not. */
static dnnl_memory_t stat(const bn_layer *b, ganet_mode mode, bool variance)
{
    if (mode == GANET_MODE_TRAINING)
        return variance ? b->var->mem : b->mean->mem;
    return variance ? b->running_var->mem : b->running_mean->mem;
}

/* Append variant v's workspace to args, when it has one. */
static ganet_status bind_workspace(shape_state *s, int v, dnnl_exec_arg_t *args,
                                   int *n)
{
    if (s->ws_view[v] == NULL)
        return GANET_OK;
    GANET__DNNL(dnnl_memory_set_data_handle(s->ws_view[v], s->ws),
                "BatchNorm2d");
    args[(*n)++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, s->ws_view[v]};
    return GANET_OK;
}

/* src: (N, C, H, W), any layout -> dst: (N, C, H, W), the same layout.
 * Training writes the batch mean and biased variance (C) to the layer and
 * updates the running ones. */
static ganet_status forward(ganet_layer *l, const ganet_tensor *src,
                            ganet_mode mode, const ganet_tensor **dst)
{
    bn_layer *b = as_bn(l);
    const int64_t *d = src->dims;
    int64_t m = d[0] * d[2] * d[3];
    GANET__CHECK(mode == GANET_MODE_INFERENCE || m > 1, GANET_ERR_SHAPE,
                 "%s: training needs more than 1 value per channel, the input "
                 "[%lld, %lld, %lld, %lld] has N*H*W = %lld",
                 l->ops->kind, (long long)d[0], (long long)d[1],
                 (long long)d[2], (long long)d[3], (long long)m);
    int v = variant(mode, l->relu_fused);
    GANET__TRY(prepare_forward(b, src, v));

    dnnl_exec_arg_t args[7] = {
            {DNNL_ARG_SRC, src->mem},
            {DNNL_ARG_DST, b->s.dst->mem},
            {DNNL_ARG_MEAN, stat(b, mode, false)},
            {DNNL_ARG_VARIANCE, stat(b, mode, true)},
    };
    int n = 4;
    if (b->o.affine) {
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCALE, b->weight->mem};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SHIFT, b->bias->mem};
    }
    GANET__TRY(bind_workspace(&b->s, v, args, &n));
    GANET__TRY(ganet__prim_execute(l->ctx, &b->s.fwd[v], n, args));
    if (mode == GANET_MODE_TRAINING)
        update_running_stats(b, m);
    b->src = src;
    b->mode = mode;
    b->relu = l->relu_fused;
    *dst = b->s.dst;
    return GANET_OK;
}

/* diff_dst: (N, C, H, W), any layout -> diff_src: (N, C, H, W), in the
 * forward input's layout; adds into diff_weight and diff_bias (C) when
 * affine and the parameters require gradients. oneDNN computes those as
 * part of diff_src anyway, so skipping them saves only the addition. */
static ganet_status backward(ganet_layer *l, const ganet_tensor *diff_dst,
                             const ganet_tensor **diff_src)
{
    bn_layer *b = as_bn(l);
    GANET__CHECK(b->src != NULL, GANET_ERR_STATE,
                 "%s: the last forward pass failed in oneDNN after a change "
                 "of shape; run forward again",
                 l->ops->kind);
    int v = variant(b->mode, b->relu);
    if (!b->s.bwd[v].prim)
        GANET__TRY(build_backward(b, v));
    const ganet_tensor *dd;
    ganet_tensor *ds;
    GANET__TRY(ganet__tensor_as(diff_dst, &b->s.md, &b->s.diff_dst_stage, &dd));
    /* A staged copy is the layer's own to overwrite. */
    GANET__TRY(diff_src_tensor(
            b, dd, dd != diff_dst || l->may_overwrite_diff_dst, &ds));

    /* oneDNN 2.6 refuses to run a backward pass made with dnnl_use_shift
     * unless the shift is among the arguments, though no gradient depends
     * on it. */
    dnnl_exec_arg_t args[10] = {
            {DNNL_ARG_SRC, b->src->mem},
            {DNNL_ARG_MEAN, stat(b, b->mode, false)},
            {DNNL_ARG_VARIANCE, stat(b, b->mode, true)},
            {DNNL_ARG_DIFF_DST, dd->mem},
            {DNNL_ARG_DIFF_SRC, ds->mem},
    };
    int n = 5;
    if (b->o.affine) {
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCALE, b->weight->mem};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SCALE, b->wgrad_step->mem};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SHIFT, b->bgrad_step->mem};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SHIFT, b->bias->mem};
    }
    GANET__TRY(bind_workspace(&b->s, v, args, &n));
    GANET__TRY(ganet__prim_execute(l->ctx, &b->s.bwd[v], n, args));
    ds->version++;
    if (b->o.affine && l->requires_grad) {
        ganet__accumulate(b->diff_weight, b->wgrad_step);
        ganet__accumulate(b->diff_bias, b->bgrad_step);
    }
    if (diff_src)
        *diff_src = ds;
    return GANET_OK;
}

static void describe(const ganet_layer *l, const int64_t *src,
                     const int64_t *dst, char *buf, size_t size)
{
    (void)src;
    (void)dst;
    const bn_layer *b = as_bn(l);
    size_t used = 0;
    ganet__appendf(buf, size, &used, "%s(%lld, eps %g, momentum %g, affine %s)",
                   l->ops->kind, (long long)b->o.num_features, (double)b->o.eps,
                   (double)b->o.momentum, b->o.affine ? "on" : "off");
}

static ganet_status init(ganet_layer *l, ganet_init scheme)
{
    bn_layer *b = as_bn(l);
    if (b->o.affine) {
        if (scheme == GANET_INIT_DCGAN)
            GANET__TRY(ganet_tensor_fill_normal(b->weight, 1.0f, 0.02f));
        else
            GANET__TRY(ganet_tensor_fill(b->weight, 1.0f));
        GANET__TRY(ganet_tensor_fill(b->bias, 0.0f));
    }
    GANET__TRY(ganet_tensor_fill(b->running_mean, 0.0f));
    return ganet_tensor_fill(b->running_var, 1.0f);
}

static void destroy(ganet_layer *l)
{
    bn_layer *b = as_bn(l);
    free_shape_state(b->base.ctx, &b->s);
    ganet_tensor *owned[] = {b->weight,    b->bias,         b->diff_weight,
                             b->diff_bias, b->running_mean, b->running_var,
                             b->mean,      b->var,          b->wgrad_step,
                             b->bgrad_step};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        ganet_tensor_destroy(owned[i]);
}

/* Backward reads the source and the statistics, never dst; in place it
 * writes only its diff_src over diff_dst. */
static const ganet__layer_ops bn_ops = {
        .kind = "BatchNorm2d",
        GANET__LAYER_FUNCTIONS,
        .can_inplace = true,
        .lends_outputs = true,
        .lends_diff_src = true,
        .absorbs_relu = true,
};

static ganet_status check_options(const char *fn,
                                  const ganet_batchnorm2d_options *o)
{
    GANET__CHECK(o->num_features >= 1, GANET_ERR_INVALID_ARGUMENT,
                 "%s: num_features is %lld, expected 1 or more", fn,
                 (long long)o->num_features);
    GANET__CHECK(o->eps > 0.0f && isfinite(o->eps), GANET_ERR_INVALID_ARGUMENT,
                 "%s: eps is %g, expected a finite value above 0", fn,
                 (double)o->eps);
    GANET__CHECK(o->momentum >= 0.0f && o->momentum <= 1.0f,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: momentum is %g, expected 0 to 1", fn,
                 (double)o->momentum);
    return GANET_OK;
}

static ganet_status setup(bn_layer *b)
{
    ganet_context *ctx = b->base.ctx;
    const int64_t cd[1] = {b->o.num_features};
    int64_t count;
    GANET__TRY(ganet__dims_count(b->base.ops->kind, 1, cd, &count));
    if (b->o.affine) {
        GANET__TRY(ganet_tensor_create(ctx, 1, cd, &b->weight));
        GANET__TRY(ganet_tensor_create(ctx, 1, cd, &b->bias));
        GANET__TRY(ganet_tensor_create(ctx, 1, cd, &b->diff_weight));
        GANET__TRY(ganet_tensor_create(ctx, 1, cd, &b->diff_bias));
        GANET__TRY(ganet_tensor_create(ctx, 1, cd, &b->wgrad_step));
        GANET__TRY(ganet_tensor_create(ctx, 1, cd, &b->bgrad_step));
        GANET__TRY(ganet__layer_add_tensor(&b->base, "weight", b->weight,
                                           b->diff_weight));
        GANET__TRY(ganet__layer_add_tensor(&b->base, "bias", b->bias,
                                           b->diff_bias));
    }
    GANET__TRY(ganet_tensor_create(ctx, 1, cd, &b->running_mean));
    GANET__TRY(ganet_tensor_create(ctx, 1, cd, &b->running_var));
    GANET__TRY(ganet_tensor_create(ctx, 1, cd, &b->mean));
    GANET__TRY(ganet_tensor_create(ctx, 1, cd, &b->var));
    GANET__TRY(ganet__layer_add_tensor(&b->base, "running_mean",
                                       b->running_mean, NULL));
    GANET__TRY(ganet__layer_add_tensor(&b->base, "running_var", b->running_var,
                                       NULL));
    return init(&b->base, GANET_INIT_PYTORCH);
}

ganet_status ganet_batchnorm2d_create(ganet_context *ctx,
                                      const ganet_batchnorm2d_options *options,
                                      ganet_layer **out)
{
    static const char fn[] = "ganet_batchnorm2d_create";
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, ctx);
    GANET__CHECK_NULL(fn, options);
    GANET__TRY(check_options(fn, options));
    bn_layer *b = calloc(1, sizeof *b);
    GANET__CHECK(b != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    ganet__layer_init_base(&b->base, &bn_ops, ctx);
    b->o = *options;
    ganet_status st = setup(b);
    if (st != GANET_OK) {
        ganet_layer_destroy(&b->base);
        return st;
    }
    *out = &b->base;
    return GANET_OK;
}
