/* Tensors: logical row-major shape outside, any oneDNN layout inside. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

ganet_status ganet__dims_count(const char *fn, int rank, const int64_t *dims,
                               int64_t *count)
{
    GANET__CHECK(rank >= 1 && rank <= GANET_MAX_RANK,
                 GANET_ERR_INVALID_ARGUMENT, "%s: rank is %d, expected 1 to %d",
                 fn, rank, GANET_MAX_RANK);
    GANET__CHECK_NULL(fn, dims);
    /* The byte size must fit in both int64_t and size_t. */
    int64_t limit = (int64_t)((SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX) /
                              sizeof(float));
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        GANET__CHECK(dims[i] >= 1, GANET_ERR_INVALID_ARGUMENT,
                     "%s: dims[%d] is %lld, expected 1 or more", fn, i,
                     (long long)dims[i]);
        GANET__CHECK(n <= limit / dims[i], GANET_ERR_OVERFLOW,
                     "%s: %d dims up to dims[%d] = %lld hold more than %lld "
                     "floats",
                     fn, rank, i, (long long)dims[i], (long long)limit);
        n *= dims[i];
    }
    *count = n;
    return GANET_OK;
}

/* Replace the tensor's buffer and memory object with ones for md. */
static ganet_status rebind(ganet_tensor *t, const dnnl_memory_desc_t *md,
                           void *data, size_t capacity)
{
    dnnl_memory_t mem;
    ganet_status st = ganet__dnnl(
            dnnl_memory_create(&mem, md, t->ctx->engine, data), "tensor");
    if (st != GANET_OK)
        return st;
    if (t->mem)
        dnnl_memory_destroy(t->mem);
    if (t->data != data)
        ganet__free(t->ctx, t->data, t->capacity);
    t->mem = mem;
    t->data = data;
    t->capacity = capacity;
    t->md = *md;
    dnnl_memory_desc_t plain;
    t->plain = ganet__md_plain(&plain, t->rank, t->dims) == GANET_OK &&
               dnnl_memory_desc_equal(&plain, md);
    return GANET_OK;
}

/*
 * Layout conversion by hand rather than with oneDNN reorders: a reorder
 * is a primitive, and creating one at every copy at the boundary (or
 * caching one per pair of layouts) would break the promise that a steady
 * loop creates none. In a blocked layout the offset of an element is a sum
 * of one function of each logical index, so per-dim tables of offsets turn
 * the conversion into a gather with additions only.
 */
enum { OFFSET_STACK = 2048 };

/* tab[i] for i < dims[d]: the offset index i along dim d contributes. */
static void dim_offsets(const dnnl_memory_desc_t *md, int d, int64_t *tab)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int64_t outer_blk = 1;
    for (int k = 0; k < b->inner_nblks; k++)
        if (b->inner_idxs[k] == d)
            outer_blk *= b->inner_blks[k];
    for (int64_t i = 0; i < md->dims[d]; i++) {
        int64_t off = (i / outer_blk) * b->strides[d];
        /* Inner blocks are listed outermost first; walk them innermost
         * first, peeling the index's digits off in that order. */
        int64_t rest = i, stride = 1;
        for (int k = b->inner_nblks - 1; k >= 0; k--) {
            if (b->inner_idxs[k] == d) {
                off += (rest % b->inner_blks[k]) * stride;
                rest /= b->inner_blks[k];
            }
            stride *= b->inner_blks[k];
        }
        tab[i] = off;
    }
}

/* Fill four tables (dims of size 1 in front when the rank is below 4). */
static void all_offsets(const dnnl_memory_desc_t *md, int64_t *tab, int64_t **t,
                        int64_t *n)
{
    int lead = 4 - md->ndims;
    for (int d = 0; d < 4; d++) {
        t[d] = tab;
        if (d < lead) {
            n[d] = 1;
            tab[0] = d == 0 ? md->offset0 : 0;
            tab++;
            continue;
        }
        n[d] = md->dims[d - lead];
        dim_offsets(md, d - lead, tab);
        if (d == lead)
            for (int64_t i = 0; i < n[d]; i++)
                tab[i] += md->offset0;
        tab += n[d];
    }
}

static void gather(const ganet_context *ctx, int64_t *const *ft,
                   int64_t *const *tt, const int64_t *n, const float *src,
                   float *dst, bool accumulate)
{
    int64_t count = n[0] * n[1] * n[2] * n[3];
    int threads = count >= 65536 ? ctx->num_threads : 1;
#pragma omp parallel for collapse(2) num_threads(threads)
    for (int64_t a = 0; a < n[0]; a++) {
        for (int64_t b = 0; b < n[1]; b++) {
            for (int64_t c = 0; c < n[2]; c++) {
                int64_t fb = ft[0][a] + ft[1][b] + ft[2][c];
                int64_t tb = tt[0][a] + tt[1][b] + tt[2][c];
                const int64_t *f3 = ft[3], *t3 = tt[3];
                if (accumulate)
                    for (int64_t d = 0; d < n[3]; d++)
                        dst[tb + t3[d]] += src[fb + f3[d]];
                else
                    for (int64_t d = 0; d < n[3]; d++)
                        dst[tb + t3[d]] = src[fb + f3[d]];
            }
        }
    }
}

ganet_status ganet__convert(const ganet_context *ctx,
                            const dnnl_memory_desc_t *from, const void *src,
                            const dnnl_memory_desc_t *to, void *dst,
                            bool accumulate)
{
    bool same = from->ndims == to->ndims && from->ndims >= 1 &&
                from->ndims <= 4 &&
                memcmp(from->dims, to->dims,
                       (size_t)from->ndims * sizeof *from->dims) == 0;
    GANET__CHECK(same && from->format_kind == dnnl_blocked &&
                         to->format_kind == dnnl_blocked &&
                         from->data_type == dnnl_f32 &&
                         to->data_type == dnnl_f32,
                 GANET_ERR_UNIMPLEMENTED,
                 "tensor: cannot convert between these layouts");
    if (!accumulate && dnnl_memory_desc_equal(from, to)) {
        memcpy(dst, src, dnnl_memory_desc_get_size(from));
        return GANET_OK;
    }
    int64_t entries = 8;
    for (int d = 0; d < from->ndims; d++)
        entries += 2 * from->dims[d];
    int64_t stack[OFFSET_STACK];
    int64_t *tab = stack;
    if (entries > OFFSET_STACK) {
        tab = malloc((size_t)entries * sizeof *tab);
        GANET__CHECK(tab != NULL, GANET_ERR_OUT_OF_MEMORY,
                     "tensor: out of memory");
    }
    int64_t *ft[4], *tt[4], n[4];
    all_offsets(from, tab, ft, n);
    all_offsets(to, ft[3] + n[3], tt, n);
    gather(ctx, ft, tt, n, src, dst, accumulate);
    if (tab != stack)
        free(tab);
    return GANET_OK;
}

/* Convert between the tensor's memory and a plain caller buffer. */
static ganet_status exchange_plain(const ganet_tensor *t, float *buf,
                                   bool into_tensor)
{
    dnnl_memory_desc_t plain;
    GANET__TRY(ganet__md_plain(&plain, t->rank, t->dims));
    if (into_tensor)
        return ganet__convert(t->ctx, &plain, buf, &t->md, t->data, false);
    return ganet__convert(t->ctx, &t->md, t->data, &plain, buf, false);
}

ganet_status ganet__tensor_set_layout(ganet_tensor *t,
                                      const dnnl_memory_desc_t *md, bool keep)
{
    if (dnnl_memory_desc_equal(&t->md, md))
        return GANET_OK;
    size_t size = dnnl_memory_desc_get_size(md);
    if (!keep && size <= t->capacity) {
        GANET__TRY(rebind(t, md, t->data, t->capacity));
        return GANET_OK;
    }
    void *data = ganet__alloc(t->ctx, size);
    GANET__CHECK(data != NULL, GANET_ERR_OUT_OF_MEMORY,
                 "tensor: cannot allocate %zu bytes", size);
    /* Blocked layouts pad channels; the padding must read as zeros. */
    memset(data, 0, size);
    ganet_status st = GANET_OK;
    if (keep)
        st = ganet__convert(t->ctx, &t->md, t->data, md, data, false);
    if (st == GANET_OK)
        st = rebind(t, md, data, size);
    if (st != GANET_OK)
        ganet__free(t->ctx, data, size);
    return st;
}

ganet_status ganet__tensor_make_plain(ganet_tensor *t)
{
    t->version++;
    if (t->plain)
        return GANET_OK;
    dnnl_memory_desc_t plain;
    GANET__TRY(ganet__md_plain(&plain, t->rank, t->dims));
    return ganet__tensor_set_layout(t, &plain, true);
}

ganet_status ganet__tensor_as(const ganet_tensor *t,
                              const dnnl_memory_desc_t *md,
                              ganet_tensor **stage, const ganet_tensor **out)
{
    if (dnnl_memory_desc_equal(&t->md, md)) {
        *out = t;
        return GANET_OK;
    }
    ganet_tensor *s = *stage;
    if (s == NULL || s->rank != t->rank ||
        memcmp(s->dims, t->dims, (size_t)t->rank * sizeof *t->dims) != 0) {
        ganet_tensor *fresh;
        GANET__TRY(ganet_tensor_create(t->ctx, t->rank, t->dims, &fresh));
        ganet_tensor_destroy(*stage);
        *stage = s = fresh;
    }
    GANET__TRY(ganet__tensor_set_layout(s, md, false));
    GANET__TRY(ganet__reorder_run(t->ctx, &s->fill, &t->md, t->data, md,
                                  s->data, false));
    s->version++;
    *out = s;
    return GANET_OK;
}

dnnl_memory_t ganet__tensor_mem(const ganet_tensor *t)
{
    return t->mem;
}

float *ganet__tensor_data(const ganet_tensor *t)
{
    return (float *)t->data;
}

ganet_status ganet_tensor_create(ganet_context *ctx, int rank,
                                 const int64_t *dims, ganet_tensor **out)
{
    static const char fn[] = "ganet_tensor_create";
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, ctx);
    int64_t count;
    GANET__TRY(ganet__dims_count(fn, rank, dims, &count));

    ganet_tensor *t = calloc(1, sizeof *t);
    GANET__CHECK(t != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    t->ctx = ctx;
    t->rank = rank;
    t->count = count;
    memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    dnnl_memory_desc_t md;
    size_t size = (size_t)count * sizeof(float);
    void *data = NULL;
    ganet_status st = ganet__md_plain(&md, rank, dims);
    if (st == GANET_OK) {
        data = ganet__alloc(ctx, size);
        st = data ? GANET_OK
                  : ganet__fail(GANET_ERR_OUT_OF_MEMORY,
                                "%s: cannot allocate %zu bytes", fn, size);
    }
    if (st == GANET_OK) {
        memset(data, 0, size);
        st = rebind(t, &md, data, size);
    }
    if (st != GANET_OK) {
        ganet__free(ctx, data, size);
        free(t);
        return st;
    }
    *out = t;
    return GANET_OK;
}

ganet_status ganet_tensor_create_4d(ganet_context *ctx, int64_t n, int64_t c,
                                    int64_t h, int64_t w, ganet_tensor **out)
{
    const int64_t dims[4] = {n, c, h, w};
    return ganet_tensor_create(ctx, 4, dims, out);
}

void ganet_tensor_destroy(ganet_tensor *tensor)
{
    if (tensor == NULL)
        return;
    if (tensor->mem)
        dnnl_memory_destroy(tensor->mem);
    ganet__reorder_destroy(&tensor->fill);
    ganet__free(tensor->ctx, tensor->data, tensor->capacity);
    free(tensor);
}

int ganet_tensor_rank(const ganet_tensor *tensor)
{
    return tensor ? tensor->rank : 0;
}

int64_t ganet_tensor_dim(const ganet_tensor *tensor, int axis)
{
    if (tensor == NULL || axis < 0 || axis >= tensor->rank)
        return 0;
    return tensor->dims[axis];
}

ganet_status ganet_tensor_get_dims(const ganet_tensor *tensor, int64_t *dims)
{
    GANET__CHECK_NULL("ganet_tensor_get_dims", tensor);
    GANET__CHECK_NULL("ganet_tensor_get_dims", dims);
    memcpy(dims, tensor->dims, (size_t)tensor->rank * sizeof *dims);
    return GANET_OK;
}

int64_t ganet_tensor_count(const ganet_tensor *tensor)
{
    return tensor ? tensor->count : 0;
}

ganet_context *ganet_tensor_context(const ganet_tensor *tensor)
{
    return tensor ? tensor->ctx : NULL;
}

static ganet_status check_count(const char *fn, const ganet_tensor *t,
                                size_t count)
{
    GANET__CHECK(count == (size_t)t->count, GANET_ERR_SHAPE,
                 "%s: buffer holds %zu floats, the tensor has %lld", fn, count,
                 (long long)t->count);
    return GANET_OK;
}

ganet_status ganet_tensor_copy_from(ganet_tensor *tensor, const float *src,
                                    size_t count)
{
    static const char fn[] = "ganet_tensor_copy_from";
    GANET__CHECK_NULL(fn, tensor);
    GANET__CHECK_NULL(fn, src);
    GANET__TRY(check_count(fn, tensor, count));
    tensor->version++;
    if (tensor->plain) {
        memcpy(tensor->data, src, count * sizeof(float));
        return GANET_OK;
    }
    /* The conversion only reads the source; the cast lets it write
     * nothing. */
    return exchange_plain(tensor, (float *)src, true);
}

ganet_status ganet_tensor_copy_to(const ganet_tensor *tensor, float *dst,
                                  size_t count)
{
    static const char fn[] = "ganet_tensor_copy_to";
    GANET__CHECK_NULL(fn, tensor);
    GANET__CHECK_NULL(fn, dst);
    GANET__TRY(check_count(fn, tensor, count));
    if (tensor->plain) {
        memcpy(dst, tensor->data, count * sizeof(float));
        return GANET_OK;
    }
    return exchange_plain(tensor, dst, false);
}

ganet_status ganet_tensor_copy(ganet_tensor *dst, const ganet_tensor *src)
{
    static const char fn[] = "ganet_tensor_copy";
    GANET__CHECK_NULL(fn, dst);
    GANET__CHECK_NULL(fn, src);
    GANET__CHECK(dst->ctx == src->ctx, GANET_ERR_CONTEXT_MISMATCH,
                 "%s: the tensors belong to different contexts", fn);
    bool same = dst->rank == src->rank &&
                memcmp(dst->dims, src->dims,
                       (size_t)dst->rank * sizeof *dst->dims) == 0;
    GANET__CHECK(same, GANET_ERR_SHAPE,
                 "%s: shapes differ (rank %d and %d, %lld and %lld elements)",
                 fn, dst->rank, src->rank, (long long)dst->count,
                 (long long)src->count);
    if (dst == src)
        return GANET_OK;
    dst->version++;
    return ganet__convert(dst->ctx, &src->md, src->data, &dst->md, dst->data,
                          false);
}

ganet_status ganet_tensor_fill(ganet_tensor *tensor, float value)
{
    GANET__CHECK_NULL("ganet_tensor_fill", tensor);
    GANET__TRY(ganet__tensor_make_plain(tensor));
    float *d = tensor->data;
    for (int64_t i = 0; i < tensor->count; i++)
        d[i] = value;
    return GANET_OK;
}

ganet_status ganet_tensor_fill_uniform(ganet_tensor *tensor, float low,
                                       float high)
{
    static const char fn[] = "ganet_tensor_fill_uniform";
    GANET__CHECK_NULL(fn, tensor);
    GANET__CHECK(isfinite(low) && isfinite(high) && low <= high,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: range [%g, %g) is not a finite interval", fn, (double)low,
                 (double)high);
    GANET__TRY(ganet__tensor_make_plain(tensor));
    float *d = tensor->data;
    ganet_rng_state *rng = &tensor->ctx->rng;
    for (int64_t i = 0; i < tensor->count; i++)
        d[i] = low + (high - low) * ganet__rng_uniform(rng);
    return GANET_OK;
}

ganet_status ganet_tensor_fill_normal(ganet_tensor *tensor, float mean,
                                      float std)
{
    static const char fn[] = "ganet_tensor_fill_normal";
    const double two_pi = 6.283185307179586476925286766559;
    GANET__CHECK_NULL(fn, tensor);
    GANET__CHECK(isfinite(mean) && isfinite(std) && std >= 0,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: mean %g and std %g must be finite with std >= 0", fn,
                 (double)mean, (double)std);
    GANET__TRY(ganet__tensor_make_plain(tensor));
    float *d = tensor->data;
    ganet_rng_state *rng = &tensor->ctx->rng;
    for (int64_t i = 0; i < tensor->count; i += 2) {
        double u1 = ((ganet__rng_next(rng) >> 8) + 1) / 16777216.0;
        double u2 = (ganet__rng_next(rng) >> 8) / 16777216.0;
        double r = sqrt(-2.0 * log(u1));
        d[i] = (float)(mean + std * r * cos(two_pi * u2));
        if (i + 1 < tensor->count)
            d[i + 1] = (float)(mean + std * r * sin(two_pi * u2));
    }
    return GANET_OK;
}

ganet_status ganet_tensor_reshape(ganet_tensor *tensor, int rank,
                                  const int64_t *dims)
{
    static const char fn[] = "ganet_tensor_reshape";
    GANET__CHECK_NULL(fn, tensor);
    int64_t count;
    GANET__TRY(ganet__dims_count(fn, rank, dims, &count));
    GANET__CHECK(count == tensor->count, GANET_ERR_SHAPE,
                 "%s: the new shape has %lld elements, the tensor has %lld", fn,
                 (long long)count, (long long)tensor->count);
    GANET__TRY(ganet__tensor_make_plain(tensor));
    dnnl_memory_desc_t md;
    GANET__TRY(ganet__md_plain(&md, rank, dims));
    int old_rank = tensor->rank;
    int64_t old_dims[GANET_MAX_RANK];
    memcpy(old_dims, tensor->dims, sizeof old_dims);
    tensor->rank = rank;
    memcpy(tensor->dims, dims, (size_t)rank * sizeof *dims);
    ganet_status st = rebind(tensor, &md, tensor->data, tensor->capacity);
    if (st != GANET_OK) {
        tensor->rank = old_rank;
        memcpy(tensor->dims, old_dims, sizeof old_dims);
    }
    return st;
}

ganet_status ganet_tensor_summary(const ganet_tensor *tensor, char *buf,
                                  size_t size)
{
    static const char fn[] = "ganet_tensor_summary";
    GANET__CHECK_NULL(fn, tensor);
    GANET__CHECK_NULL(fn, buf);
    GANET__CHECK(size > 0, GANET_ERR_INVALID_ARGUMENT,
                 "%s: the buffer size is 0", fn);
    const float *v = tensor->data;
    float *copy = NULL;
    if (!tensor->plain) {
        copy = malloc((size_t)tensor->count * sizeof *copy);
        GANET__CHECK(copy != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory",
                     fn);
        ganet_status st = exchange_plain(tensor, copy, false);
        if (st != GANET_OK) {
            free(copy);
            return st;
        }
        v = copy;
    }
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (int64_t i = 0; i < tensor->count; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
        sum += v[i];
    }
    free(copy);
    int n = snprintf(buf, size, "tensor [");
    for (int i = 0; i < tensor->rank; i++) {
        size_t used = n < 0 || (size_t)n >= size ? size - 1 : (size_t)n;
        n = (int)used + snprintf(buf + used, size - used, "%s%lld",
                                 i ? ", " : "", (long long)tensor->dims[i]);
    }
    size_t used = n < 0 || (size_t)n >= size ? size - 1 : (size_t)n;
    snprintf(buf + used, size - used, "] min %.6g max %.6g mean %.6g", lo, hi,
             sum / (double)tensor->count);
    return GANET_OK;
}
