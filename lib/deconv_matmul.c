/*
 * A 1x1-input ConvTranspose2d as oneDNN matrix products; see
 * deconv_matmul.h. With z the (N x C_in) input and W the (C_in x cols)
 * weights laid out like an output sample:
 *
 *   forward           y  = z   W       (N x cols)
 *   backward data     dz = dy  W^T     (N x C_in)
 *   backward weights  dW = z^T dy      (C_in x cols)
 *
 * The transposes are views with swapped strides, never copies.
 */
#include <string.h>

#include "deconv_matmul.h"

bool ganet__deconv_mm_applies(const int64_t *src_dims, const int64_t *padding,
                              const int64_t *dilation,
                              const int64_t *output_padding, bool bias)
{
    if (bias || src_dims[2] != 1 || src_dims[3] != 1)
        return false;
    for (int a = 0; a < 2; a++)
        if (padding[a] != 0 || dilation[a] != 1 || output_padding[a] != 0)
            return false;
    return true;
}

/* A rows x cols float matrix whose element (i, j) is at i*rs + j*cs. */
static ganet_status matrix_md(dnnl_memory_desc_t *md, int64_t rows,
                              int64_t cols, int64_t rs, int64_t cs)
{
    dnnl_dims_t d = {rows, cols}, s = {rs, cs};
    GANET__DNNL(dnnl_memory_desc_init_by_strides(md, 2, d, dnnl_f32, s),
                "matrix descriptor");
    return GANET_OK;
}

/* A view on memory handed over at every call. */
static ganet_status view(ganet_context *ctx, dnnl_memory_t *mem,
                         const dnnl_memory_desc_t *md)
{
    GANET__DNNL(dnnl_memory_create(mem, md, ctx->engine, DNNL_MEMORY_NONE),
                "matrix view");
    return GANET_OK;
}

/* The product c = a b and its three views. */
static ganet_status product(ganet_context *ctx, ganet__prim *p,
                            dnnl_memory_t *views, const dnnl_memory_desc_t *a,
                            const dnnl_memory_desc_t *b,
                            const dnnl_memory_desc_t *c)
{
    dnnl_matmul_desc_t d;
    GANET__DNNL(dnnl_matmul_desc_init(&d, a, b, NULL, c), "matmul");
    GANET__TRY(ganet__prim_create(ctx, p, &d, NULL, "ConvTranspose2d matmul"));
    const dnnl_memory_desc_t *mds[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        ganet_status st = view(ctx, &views[i], mds[i]);
        if (st != GANET_OK) {
            /* All or nothing: a primitive exists only with its views. */
            for (int k = 0; k < i; k++) {
                dnnl_memory_destroy(views[k]);
                views[k] = NULL;
            }
            ganet__prim_destroy(p);
            return st;
        }
    }
    return GANET_OK;
}

ganet_status ganet__deconv_mm_build(ganet_context *ctx, ganet__deconv_mm *m,
                                    int64_t n, int64_t cin,
                                    const dnnl_memory_desc_t *dst_md)
{
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    /* Each sample one block of cols floats, samples one after another: the
     * batch is the outermost dim and has no inner block. */
    const dnnl_blocking_desc_t *b = &dst_md->format_desc.blocking;
    size_t bytes = dnnl_memory_desc_get_size(dst_md);
    bool outer = dst_md->format_kind == dnnl_blocked && dst_md->ndims == 4 &&
                 dst_md->offset0 == 0 && dst_md->dims[0] == n;
    for (int k = 0; outer && k < b->inner_nblks; k++)
        outer = b->inner_idxs[k] != 0;
    int64_t cols = outer ? b->strides[0] : 0;
    GANET__CHECK(outer && (size_t)(n * cols) * sizeof(float) == bytes,
                 GANET_ERR_UNIMPLEMENTED,
                 "ConvTranspose2d: the output layout keeps samples apart");
    m->n = n;
    m->cin = cin;
    m->cols = cols;
    /* Rows a multiple of 1 KiB apart fall into the same cache sets, and
     * the product slows down by half or more (the DC-GAN's 512x4x4 output
     * has 32 KiB rows): 64 bytes between the rows avoid it. */
    m->w_ld = cols % 256 == 0 ? cols + 16 : cols;
    m->w_md = *dst_md;
    m->w_md.dims[0] = cin;
    m->w_md.padded_dims[0] = cin;
    m->w_md.format_desc.blocking.strides[0] = m->w_ld;

    dnnl_memory_desc_t z, w, y;
    GANET__TRY(matrix_md(&z, n, cin, cin, 1));
    GANET__TRY(matrix_md(&w, cin, cols, m->w_ld, 1));
    GANET__TRY(matrix_md(&y, n, cols, cols, 1));
    ganet_status st = product(ctx, &m->fwd, m->fwd_views, &z, &w, &y);
    if (st != GANET_OK)
        ganet__deconv_mm_destroy(m);
    return st;
}

ganet_status ganet__deconv_mm_build_backward(ganet_context *ctx,
                                             ganet__deconv_mm *m, bool data,
                                             bool weights)
{
    dnnl_memory_desc_t dy, wt, dz, zt, dw;
    GANET__TRY(matrix_md(&dy, m->n, m->cols, m->cols, 1));
    if (data && !m->bwd_data.prim) {
        GANET__TRY(matrix_md(&wt, m->cols, m->cin, 1, m->w_ld));
        GANET__TRY(matrix_md(&dz, m->n, m->cin, m->cin, 1));
        GANET__TRY(
                product(ctx, &m->bwd_data, m->bwd_data_views, &dy, &wt, &dz));
    }
    if (weights && !m->bwd_weights.prim) {
        /* The weight gradient goes to the context's transient buffer. */
        GANET__TRY(ganet__transient_reserve(
                ctx, dnnl_memory_desc_get_size(&m->w_md)));
        if (m->w_ld != m->cols && m->dy_copy == NULL) {
            size_t size = (size_t)(m->n * m->w_ld) * sizeof(float);
            m->dy_copy = ganet__alloc(ctx, size);
            GANET__CHECK(m->dy_copy != NULL, GANET_ERR_OUT_OF_MEMORY,
                         "ConvTranspose2d: cannot allocate %zu bytes", size);
            m->dy_copy_size = size;
        }
        GANET__TRY(matrix_md(&zt, m->cin, m->n, 1, m->cin));
        GANET__TRY(matrix_md(&dy, m->n, m->cols, m->w_ld, 1));
        GANET__TRY(matrix_md(&dw, m->cin, m->cols, m->w_ld, 1));
        GANET__TRY(product(ctx, &m->bwd_weights, m->bwd_weights_views, &zt, &dy,
                           &dw));
    }
    return GANET_OK;
}

/* c = a b on the views of p. */
static ganet_status run(ganet_context *ctx, ganet__prim *p,
                        dnnl_memory_t *views, const void *a, const void *b,
                        void *c)
{
    GANET__CHECK(p->prim != NULL, GANET_ERR_STATE,
                 "ConvTranspose2d: matrix product not built");
    /* oneDNN takes data handles as void *; it only reads a and b. */
    GANET__DNNL(dnnl_memory_set_data_handle(views[0], (void *)a), "matmul");
    GANET__DNNL(dnnl_memory_set_data_handle(views[1], (void *)b), "matmul");
    GANET__DNNL(dnnl_memory_set_data_handle(views[2], c), "matmul");
    dnnl_exec_arg_t args[3] = {
            {DNNL_ARG_SRC, views[0]},
            {DNNL_ARG_WEIGHTS, views[1]},
            {DNNL_ARG_DST, views[2]},
    };
    return ganet__prim_execute(ctx, p, 3, args);
}

ganet_status ganet__deconv_mm_forward(ganet_context *ctx, ganet__deconv_mm *m,
                                      const void *src, const void *wei,
                                      void *dst)
{
    return run(ctx, &m->fwd, m->fwd_views, src, wei, dst);
}

ganet_status ganet__deconv_mm_backward_data(ganet_context *ctx,
                                            ganet__deconv_mm *m,
                                            const void *diff_dst,
                                            const void *wei, void *diff_src)
{
    return run(ctx, &m->bwd_data, m->bwd_data_views, diff_dst, wei, diff_src);
}

ganet_status ganet__deconv_mm_backward_weights(ganet_context *ctx,
                                               ganet__deconv_mm *m,
                                               const void *src,
                                               const void *diff_dst,
                                               void *diff_wei)
{
    if (m->dy_copy) {
        /* Here the output's rows are the second operand, whose row
         * distance matters as the weights' does in forward. */
        const float *dy = diff_dst;
        for (int64_t i = 0; i < m->n; i++)
            memcpy(m->dy_copy + i * m->w_ld, dy + i * m->cols,
                   (size_t)m->cols * sizeof *dy);
        diff_dst = m->dy_copy;
    }
    return run(ctx, &m->bwd_weights, m->bwd_weights_views, src, diff_dst,
               diff_wei);
}

void ganet__deconv_mm_destroy(ganet__deconv_mm *m)
{
    if (m->dy_copy)
        ganet__free(m->ctx, m->dy_copy, m->dy_copy_size);
    ganet__prim_destroy(&m->fwd);
    ganet__prim_destroy(&m->bwd_data);
    ganet__prim_destroy(&m->bwd_weights);
    for (int i = 0; i < 3; i++) {
        dnnl_memory_t views[3] = {m->fwd_views[i], m->bwd_data_views[i],
                                  m->bwd_weights_views[i]};
        for (int k = 0; k < 3; k++)
            if (views[k])
                dnnl_memory_destroy(views[k]);
    }
    memset(m, 0, sizeof *m);
}
