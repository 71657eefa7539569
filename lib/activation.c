/*
 * ReLU, LeakyReLU, Tanh and Sigmoid on oneDNN's eltwise primitive. The four
 * differ only in the algorithm, its alpha and their names.
 *
 * Backward reads the forward output, not the input: every algorithm here has
 * a *_use_dst_for_bwd form whose gradient is a function of dst alone,
 *   ReLU, LeakyReLU (alpha = slope >= 0): ds = dd if d > 0, alpha*dd else
 *   Tanh:                                 ds = dd * (1 - d*d)
 *   Sigmoid:                              ds = dd * d * (1 - d)
 * With alpha >= 0, d > 0 exactly when s > 0, so at s = 0 the gradient is
 * the negative side's, as in PyTorch. The layer owns dst, so backward does
 * not depend on the caller's source staying alive for these kinds.
 *
 * The primitives run on the input's layout (a convolution's blocked
 * choice, in a DC-GAN), and dst and diff_src take it too: elementwise work
 * gains nothing from a conversion. The exception is a blocked layout with
 * padding (one channel in a block of 8, after a DC-GAN's last
 * convolution), which oneDNN runs with its slow reference code: such an
 * input is copied to plain NCHW first, which also hands the model's
 * output to the caller in plain form.
 *
 * In place (ganet_layer_set_inplace()), forward writes dst over the input
 * it ran on and backward writes diff_src over the diff_dst it ran on: the
 * primitives allow src == dst and diff_dst == diff_src, and backward reads
 * only dst. The caller's tensors are overwritten only when the Sequential
 * running the layer allows it (may_overwrite_*); a staged copy is the
 * layer's own and always may be. The layer's dst and diff_src tensors are
 * then not allocated at all.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ganet/activation.h"
#include "layer_impl.h"

typedef struct eltwise_layer {
    ganet_layer base;
    dnnl_alg_kind_t alg;
    float alpha;
    /* Built for the input shape dims; rebuilt when it changes. */
    bool built;
    int64_t dims[4];
    /* The layout of the input the primitives were built for, and the one
     * they run on. */
    dnnl_memory_desc_t src_md, md;
    ganet__prim fwd, bwd;
    ganet_tensor *dst, *diff_src;
    /* The output of the last forward pass: dst, or the tensor it was
     * written over in place; what backward reads. */
    const ganet_tensor *out;
    /* Whether the last forward pass was a ReLU that the BatchNorm before
     * it applied (relu_fused): this layer then passes both directions on
     * untouched. */
    bool passed_on;
    /* The input and the output's gradient converted to md, when they come
     * in another layout. */
    ganet_tensor *src_stage, *diff_dst_stage;
} eltwise_layer;

static eltwise_layer *as_eltwise(const ganet_layer *l)
{
    return (eltwise_layer *)l;
}

static ganet_status output_shape(const ganet_layer *l, const int64_t *src,
                                 int64_t *dst)
{
    (void)l;
    memcpy(dst, src, 4 * sizeof *src);
    return GANET_OK;
}

static void free_shape_state(eltwise_layer *e)
{
    ganet__prim_destroy(&e->fwd);
    ganet__prim_destroy(&e->bwd);
    ganet_tensor_destroy(e->dst);
    ganet_tensor_destroy(e->diff_src);
    ganet_tensor_destroy(e->src_stage);
    ganet_tensor_destroy(e->diff_dst_stage);
    e->dst = e->diff_src = e->src_stage = e->diff_dst_stage = NULL;
    e->out = NULL;
    e->built = false;
}

static ganet_status build_forward(eltwise_layer *e, const ganet_tensor *src)
{
    ganet_context *ctx = e->base.ctx;
    const char *kind = e->base.ops->kind;
    free_shape_state(e);
    memcpy(e->dims, src->dims, sizeof e->dims);
    e->src_md = src->md;
    e->md = src->md;
    bool padded = memcmp(src->md.dims, src->md.padded_dims,
                         (size_t)src->md.ndims * sizeof *src->md.dims) != 0;
    if (padded)
        GANET__TRY(ganet__md_plain(&e->md, 4, e->dims));
    /* Training, whatever the mode: eltwise keeps no workspace, so the one
     * primitive serves both and backward may follow an inference pass. */
    dnnl_eltwise_desc_t d;
    GANET__DNNL(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training,
                                               e->alg, &e->md, e->alpha, 0.0f),
                kind);
    GANET__TRY(ganet__prim_create(ctx, &e->fwd, &d, NULL, kind));
    e->built = true;
    return GANET_OK;
}

static ganet_status build_backward(eltwise_layer *e)
{
    const char *kind = e->base.ops->kind;
    /* The data descriptor describes dst, which the algorithm reads. */
    dnnl_eltwise_desc_t d;
    GANET__DNNL(dnnl_eltwise_backward_desc_init(&d, e->alg, &e->md, &e->md,
                                                e->alpha, 0.0f),
                kind);
    return ganet__prim_create(e->base.ctx, &e->bwd, &d, e->fwd.pd, kind);
}

/* The tensor a result goes to: in (the input the primitive reads) when
 * the layer is in place and may overwrite it, else the layer's own *own,
 * created in md on first use. */
static ganet_status result_tensor(eltwise_layer *e, const ganet_tensor *in,
                                  bool may_overwrite, ganet_tensor **own,
                                  ganet_tensor **out)
{
    if (e->base.inplace && may_overwrite) {
        /* The caller allowed it, or in is a staged copy of the layer's. */
        *out = (ganet_tensor *)in;
        return GANET_OK;
    }
    GANET__TRY(ganet__tensor_ensure(e->base.ctx, own, e->dims));
    GANET__TRY(ganet__tensor_set_layout(*own, &e->md, false));
    *out = *own;
    return GANET_OK;
}

/* src: (N, C, H, W), any layout -> dst: (N, C, H, W), the same layout */
static ganet_status forward(ganet_layer *l, const ganet_tensor *src,
                            ganet_mode mode, const ganet_tensor **dst)
{
    (void)mode;
    eltwise_layer *e = as_eltwise(l);
    e->passed_on = l->relu_fused;
    if (e->passed_on) {
        /* max(0, x) of what already is max(0, x): nothing to do, and the
         * BatchNorm's backward masks the gradient. */
        e->out = src;
        *dst = src;
        return GANET_OK;
    }
    if (!e->built || memcmp(e->dims, src->dims, sizeof e->dims) ||
        !dnnl_memory_desc_equal(&e->src_md, &src->md)) {
        ganet_status st = build_forward(e, src);
        if (st != GANET_OK) {
            free_shape_state(e);
            return st;
        }
    }
    const ganet_tensor *x;
    ganet_tensor *y;
    e->out = NULL;
    GANET__TRY(ganet__tensor_as(src, &e->md, &e->src_stage, &x));
    GANET__TRY(
            result_tensor(e, x, x != src || l->may_overwrite_src, &e->dst, &y));
    dnnl_exec_arg_t args[2] = {
            {DNNL_ARG_SRC, x->mem},
            {DNNL_ARG_DST, y->mem},
    };
    GANET__TRY(ganet__prim_execute(l->ctx, &e->fwd, 2, args));
    y->version++;
    e->out = y;
    *dst = y;
    return GANET_OK;
}

/* diff_dst: (N, C, H, W), any layout, with dst of the last forward ->
 * diff_src: (N, C, H, W) in dst's layout. No parameters, so without
 * diff_src there is nothing to do. */
static ganet_status backward(ganet_layer *l, const ganet_tensor *diff_dst,
                             const ganet_tensor **diff_src)
{
    eltwise_layer *e = as_eltwise(l);
    if (diff_src == NULL)
        return GANET_OK;
    if (e->passed_on) {
        *diff_src = diff_dst;
        return GANET_OK;
    }
    GANET__CHECK(e->out != NULL, GANET_ERR_STATE,
                 "%s: the last forward pass failed; run forward again",
                 l->ops->kind);
    if (!e->bwd.prim)
        GANET__TRY(build_backward(e));
    const ganet_tensor *dd;
    ganet_tensor *ds;
    GANET__TRY(ganet__tensor_as(diff_dst, &e->md, &e->diff_dst_stage, &dd));
    GANET__TRY(result_tensor(e, dd, dd != diff_dst || l->may_overwrite_diff_dst,
                             &e->diff_src, &ds));
    dnnl_exec_arg_t args[3] = {
            {DNNL_ARG_DST, e->out->mem},
            {DNNL_ARG_DIFF_DST, dd->mem},
            {DNNL_ARG_DIFF_SRC, ds->mem},
    };
    GANET__TRY(ganet__prim_execute(l->ctx, &e->bwd, 3, args));
    ds->version++;
    *diff_src = ds;
    return GANET_OK;
}

static void describe(const ganet_layer *l, const int64_t *src,
                     const int64_t *dst, char *buf, size_t size)
{
    (void)src;
    (void)dst;
    const eltwise_layer *e = as_eltwise(l);
    size_t used = 0;
    if (strcmp(l->ops->kind, "LeakyReLU") != 0)
        ganet__appendf(buf, size, &used, "%s()", l->ops->kind);
    else
        ganet__appendf(buf, size, &used, "%s(negative_slope %g)", l->ops->kind,
                       (double)e->alpha);
}

static ganet_status init(ganet_layer *l, ganet_init scheme)
{
    (void)l;
    (void)scheme;
    return GANET_OK;
}

static void destroy(ganet_layer *l)
{
    free_shape_state(as_eltwise(l));
}

/* An activation's backward reads its output, which it therefore never
 * lends; its diff_src is its own or one lent to it by the layer after. */
static const ganet__layer_ops relu_ops = {
        .kind = "ReLU",
        GANET__LAYER_FUNCTIONS,
        .can_inplace = true,
        .lends_diff_src = true,
        .is_relu = true,
};
static const ganet__layer_ops leaky_relu_ops = {
        .kind = "LeakyReLU",
        GANET__LAYER_FUNCTIONS,
        .can_inplace = true,
        .lends_diff_src = true,
};
static const ganet__layer_ops tanh_ops = {
        .kind = "Tanh",
        GANET__LAYER_FUNCTIONS,
        .can_inplace = true,
        .lends_diff_src = true,
};
static const ganet__layer_ops sigmoid_ops = {
        .kind = "Sigmoid",
        GANET__LAYER_FUNCTIONS,
        .can_inplace = true,
        .lends_diff_src = true,
};

static ganet_status create(ganet_context *ctx, const ganet__layer_ops *ops,
                           dnnl_alg_kind_t alg, float alpha, ganet_layer **out,
                           const char *fn)
{
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, ctx);
    eltwise_layer *e = calloc(1, sizeof *e);
    GANET__CHECK(e != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    ganet__layer_init_base(&e->base, ops, ctx);
    e->alg = alg;
    e->alpha = alpha;
    *out = &e->base;
    return GANET_OK;
}

ganet_status ganet_relu_create(ganet_context *ctx, ganet_layer **out)
{
    return create(ctx, &relu_ops, dnnl_eltwise_relu_use_dst_for_bwd, 0.0f, out,
                  "ganet_relu_create");
}

ganet_status ganet_leaky_relu_create(ganet_context *ctx, float slope,
                                     ganet_layer **out)
{
    static const char fn[] = "ganet_leaky_relu_create";
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    /* Reading the gradient from dst needs slope >= 0: a negative slope
     * would make d > 0 for negative s. */
    GANET__CHECK(isfinite(slope) && slope >= 0.0f, GANET_ERR_INVALID_ARGUMENT,
                 "%s: slope is %g, expected a finite value >= 0", fn,
                 (double)slope);
    return create(ctx, &leaky_relu_ops, dnnl_eltwise_relu_use_dst_for_bwd,
                  slope, out, fn);
}

ganet_status ganet_tanh_create(ganet_context *ctx, ganet_layer **out)
{
    return create(ctx, &tanh_ops, dnnl_eltwise_tanh_use_dst_for_bwd, 0.0f, out,
                  "ganet_tanh_create");
}

ganet_status ganet_sigmoid_create(ganet_context *ctx, ganet_layer **out)
{
    return create(ctx, &sigmoid_ops, dnnl_eltwise_logistic_use_dst_for_bwd,
                  0.0f, out, "ganet_sigmoid_create");
}
