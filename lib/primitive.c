/*
 * oneDNN primitives as the library uses them: user-mode scratchpad on the
 * context's shared buffer, thread count from the context, and creation
 * counted so tests can prove that steady loops create none.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static ganet_status make_attr(dnnl_primitive_attr_t *attr)
{
    GANET__DNNL(dnnl_primitive_attr_create(attr), "primitive attributes");
    dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(
            *attr, dnnl_scratchpad_mode_user);
    if (st != dnnl_success) {
        dnnl_primitive_attr_destroy(*attr);
        return ganet__dnnl(st, "scratchpad mode");
    }
    return GANET_OK;
}

/* Grow one of the context's shared buffers to hold size bytes. */
static ganet_status reserve(ganet_context *ctx, void **buf, size_t *buf_size,
                            size_t size, const char *what)
{
    if (size <= *buf_size)
        return GANET_OK;
    void *p = ganet__alloc(ctx, size);
    GANET__CHECK(p != NULL, GANET_ERR_OUT_OF_MEMORY,
                 "%s: cannot allocate %zu bytes", what, size);
    ganet__free(ctx, *buf, *buf_size);
    *buf = p;
    *buf_size = size;
    return GANET_OK;
}

/* Grow the scratchpad when a primitive is created, so execution never
 * allocates. */
static ganet_status reserve_scratch(ganet_context *ctx, size_t size)
{
    return reserve(ctx, &ctx->scratch, &ctx->scratch_size, size, "scratchpad");
}

ganet_status ganet__transient_reserve(ganet_context *ctx, size_t size)
{
    return reserve(ctx, &ctx->transient, &ctx->transient_size, size,
                   "transient buffer");
}

/* Finish p, counted in *count. */
static ganet_status finish(ganet_context *ctx, ganet__prim *p, const char *what,
                           uint64_t *count)
{
    const dnnl_memory_desc_t *smd =
            ganet__prim_md(p, dnnl_query_scratchpad_md, 0);
    size_t size = smd ? dnnl_memory_desc_get_size(smd) : 0;
    ganet_status st = GANET_OK;
    if (size > 0) {
        st = reserve_scratch(ctx, size);
        if (st == GANET_OK)
            st = ganet__dnnl(dnnl_memory_create(&p->scratch, smd, ctx->engine,
                                                ctx->scratch),
                             what);
    }
    if (st == GANET_OK)
        st = ganet__dnnl(dnnl_primitive_create(&p->prim, p->pd), what);
    if (st != GANET_OK) {
        ganet__prim_destroy(p);
        return st;
    }
    (*count)++;
    ganet__log(ctx, GANET_LOG_DEBUG, "created primitive for %s", what);
    return GANET_OK;
}

ganet_status ganet__prim_describe(ganet_context *ctx, ganet__prim *p,
                                  const void *op_desc,
                                  const_dnnl_primitive_desc_t hint,
                                  const char *what)
{
    memset(p, 0, sizeof *p);
    ganet__context_enter(ctx);
    dnnl_primitive_attr_t attr;
    GANET__TRY(make_attr(&attr));
    dnnl_status_t st = dnnl_primitive_desc_create(&p->pd, op_desc, attr,
                                                  ctx->engine, hint);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) {
        p->pd = NULL;
        return ganet__dnnl(st, what);
    }
    return GANET_OK;
}

ganet_status ganet__prim_finish(ganet_context *ctx, ganet__prim *p,
                                const char *what)
{
    return finish(ctx, p, what, &ctx->stats.primitives_created);
}

ganet_status ganet__prim_create(ganet_context *ctx, ganet__prim *p,
                                const void *op_desc,
                                const_dnnl_primitive_desc_t hint,
                                const char *what)
{
    GANET__TRY(ganet__prim_describe(ctx, p, op_desc, hint, what));
    return ganet__prim_finish(ctx, p, what);
}

ganet_status ganet__prim_execute(ganet_context *ctx, ganet__prim *p, int nargs,
                                 const dnnl_exec_arg_t *args)
{
    enum { MAX_ARGS = 16 };
    dnnl_exec_arg_t all[MAX_ARGS + 1];
    if (nargs > MAX_ARGS)
        return ganet__fail(GANET_ERR_BACKEND, "too many primitive arguments");
    memcpy(all, args, (size_t)nargs * sizeof *args);
    if (p->scratch) {
        /* The shared buffer may have moved since this primitive was made. */
        GANET__DNNL(dnnl_memory_set_data_handle(p->scratch, ctx->scratch),
                    "scratchpad");
        all[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch};
    }
    ganet__context_enter(ctx);
    GANET__DNNL(dnnl_primitive_execute(p->prim, ctx->stream, nargs, all),
                "execute");
    GANET__DNNL(dnnl_stream_wait(ctx->stream), "stream wait");
    return GANET_OK;
}

/* A reorder for r's layouts, adding into dst when r->accumulate (a sum
 * post-op: dst = src + dst). */
static ganet_status build_reorder(ganet_context *ctx, ganet__reorder *r)
{
    ganet__context_enter(ctx);
    dnnl_primitive_attr_t attr;
    GANET__TRY(make_attr(&attr));
    dnnl_post_ops_t ops = NULL;
    dnnl_status_t st = dnnl_success;
    if (r->accumulate) {
        st = dnnl_post_ops_create(&ops);
        if (st == dnnl_success)
            st = dnnl_post_ops_append_sum(ops, 1.0f);
        if (st == dnnl_success)
            st = dnnl_primitive_attr_set_post_ops(attr, ops);
    }
    if (st == dnnl_success)
        st = dnnl_reorder_primitive_desc_create(&r->p.pd, &r->from, ctx->engine,
                                                &r->to, ctx->engine, attr);
    if (ops)
        dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) {
        r->p.pd = NULL;
        return ganet__dnnl(st, "reorder");
    }
    GANET__TRY(finish(ctx, &r->p, "reorder", &ctx->stats.reorders_created));
    GANET__DNNL(dnnl_memory_create(&r->src, &r->from, ctx->engine,
                                   DNNL_MEMORY_NONE),
                "reorder");
    GANET__DNNL(
            dnnl_memory_create(&r->dst, &r->to, ctx->engine, DNNL_MEMORY_NONE),
            "reorder");
    return GANET_OK;
}

ganet_status ganet__reorder_run(ganet_context *ctx, ganet__reorder *r,
                                const dnnl_memory_desc_t *from, const void *src,
                                const dnnl_memory_desc_t *to, void *dst,
                                bool accumulate)
{
    if (!accumulate && dnnl_memory_desc_equal(from, to))
        return ganet__convert(ctx, from, src, to, dst, false);
    bool same = r->accumulate == accumulate &&
                dnnl_memory_desc_equal(&r->from, from) &&
                dnnl_memory_desc_equal(&r->to, to);
    if (!same) {
        ganet__reorder_destroy(r);
        r->from = *from;
        r->to = *to;
        r->accumulate = accumulate;
        if (build_reorder(ctx, r) != GANET_OK) {
            /* Keep the layouts, so that the failure is not tried again
             * at every call. */
            ganet__prim_destroy(&r->p);
        }
    }
    if (r->p.prim == NULL || r->src == NULL || r->dst == NULL)
        return ganet__convert(ctx, from, src, to, dst, accumulate);
    /* oneDNN takes data handles as void *; it only reads src. */
    GANET__DNNL(dnnl_memory_set_data_handle(r->src, (void *)src), "reorder");
    GANET__DNNL(dnnl_memory_set_data_handle(r->dst, dst), "reorder");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, r->src}, {DNNL_ARG_TO, r->dst}};
    return ganet__prim_execute(ctx, &r->p, 2, args);
}

void ganet__reorder_destroy(ganet__reorder *r)
{
    ganet__prim_destroy(&r->p);
    if (r->src)
        dnnl_memory_destroy(r->src);
    if (r->dst)
        dnnl_memory_destroy(r->dst);
    memset(r, 0, sizeof *r);
}

void ganet__prim_destroy(ganet__prim *p)
{
    if (p->prim)
        dnnl_primitive_destroy(p->prim);
    if (p->scratch)
        dnnl_memory_destroy(p->scratch);
    if (p->pd)
        dnnl_primitive_desc_destroy(p->pd);
    memset(p, 0, sizeof *p);
}

const dnnl_memory_desc_t *ganet__prim_md(const ganet__prim *p,
                                         dnnl_query_t what, int index)
{
    return dnnl_primitive_desc_query_md(p->pd, what, index);
}

ganet_status ganet__md_plain(dnnl_memory_desc_t *md, int rank,
                             const int64_t *dims)
{
    static const dnnl_format_tag_t tags[] = {dnnl_format_tag_undef, dnnl_a,
                                             dnnl_ab, dnnl_abc, dnnl_abcd};
    dnnl_dims_t d;
    for (int i = 0; i < rank; i++)
        d[i] = dims[i];
    GANET__DNNL(dnnl_memory_desc_init_by_tag(md, rank, d, dnnl_f32, tags[rank]),
                "plain memory descriptor");
    return GANET_OK;
}
