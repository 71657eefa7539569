/*
 * Private declarations shared by the library's sources. Nothing here is
 * installed; names start with ganet__ so they never clash with the public
 * ganet_ ones.
 */
#ifndef GANET_INTERNAL_H
#define GANET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "ganet/context.h"
#include "ganet/status.h"
#include "ganet/tensor.h"

/* Record a failure message for ganet_last_error() and return status. */
ganet_status ganet__fail(ganet_status status, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Return status from the enclosing function, with a message, if !cond. */
#define GANET__CHECK(cond, status, ...)                                        \
    do {                                                                       \
        if (!(cond))                                                           \
            return ganet__fail((status), __VA_ARGS__);                         \
    } while (0)

/* Fail with GANET_ERR_NULL_POINTER naming the argument, if it is NULL. */
#define GANET__CHECK_NULL(fn, arg)                                             \
    GANET__CHECK((arg) != NULL, GANET_ERR_NULL_POINTER,                        \
                 "%s: argument '%s' is NULL", (fn), #arg)

/* Propagate a failed status from a call. */
#define GANET__TRY(expr)                                                       \
    do {                                                                       \
        ganet_status ganet__st = (expr);                                       \
        if (ganet__st != GANET_OK)                                             \
            return ganet__st;                                                  \
    } while (0)

/* Map a oneDNN status to ours at the one place oneDNN is called. */
ganet_status ganet__dnnl(dnnl_status_t st, const char *what);

#define GANET__DNNL(expr, what) GANET__TRY(ganet__dnnl((expr), (what)))

/* ---- context ---------------------------------------------------------- */

struct ganet_context {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int num_threads;
    ganet_rng_state rng;
    ganet_log_level log_level;
    ganet_log_fn log_fn;
    void *log_user_data;
    ganet_context_stats stats;
    /* One scratchpad shared by every primitive of the context: a context
     * runs one primitive at a time, so they never need it together. */
    void *scratch;
    size_t scratch_size;
    /* One buffer for a result that a layer consumes before the call that
     * made it returns (a convolution's weight gradient of one pass, before
     * it is added into the parameter's), shared for the same reason. */
    void *transient;
    size_t transient_size;
};

void ganet__log(const ganet_context *ctx, ganet_log_level level,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Make oneDNN use the context's thread count on the calling thread. */
void ganet__context_enter(const ganet_context *ctx);

/* Aligned allocation counted in the context's statistics. */
void *ganet__alloc(ganet_context *ctx, size_t size);
void ganet__free(ganet_context *ctx, void *ptr, size_t size);

uint32_t ganet__rng_next(ganet_rng_state *rng);
void ganet__rng_seed(ganet_rng_state *rng, uint64_t seed);
/* Uniform in [0, 1) with 24 random bits. */
float ganet__rng_uniform(ganet_rng_state *rng);

/* ---- primitives -------------------------------------------------------- */

/* A oneDNN primitive with its descriptor, run on the context's scratchpad. */
typedef struct ganet__prim {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_t scratch;
} ganet__prim;

/* Create a primitive from an operation descriptor; hint is the forward
 * primitive descriptor that backward ones need, or NULL. */
ganet_status ganet__prim_create(ganet_context *ctx, ganet__prim *p,
                                const void *op_desc,
                                const_dnnl_primitive_desc_t hint,
                                const char *what);

/* The two halves of ganet__prim_create(): the descriptor alone, which
 * says the layouts the primitive would choose, and then the primitive
 * (and the scratchpad it needs). A failed finish destroys p. */
ganet_status ganet__prim_describe(ganet_context *ctx, ganet__prim *p,
                                  const void *op_desc,
                                  const_dnnl_primitive_desc_t hint,
                                  const char *what);
ganet_status ganet__prim_finish(ganet_context *ctx, ganet__prim *p,
                                const char *what);

/* A layout conversion that runs at one place in a steady loop, with a
 * oneDNN reorder made there on first use (its jitted code is several
 * times faster than ganet__convert()'s gather) and made again only when
 * the layouts change. Zeroed, it is ready; ganet__reorder_destroy() frees
 * it. */
typedef struct ganet__reorder {
    ganet__prim p;
    dnnl_memory_desc_t from, to;
    bool accumulate;
    /* Views on the memory of each call. */
    dnnl_memory_t src, dst;
} ganet__reorder;

/* ganet__convert(), through r's reorder: src laid out as from into dst laid
 * out as to, added to dst's values with accumulate. Where oneDNN has no
 * reorder for the pair, ganet__convert() does the work. */
ganet_status ganet__reorder_run(ganet_context *ctx, ganet__reorder *r,
                                const dnnl_memory_desc_t *from, const void *src,
                                const dnnl_memory_desc_t *to, void *dst,
                                bool accumulate);
void ganet__reorder_destroy(ganet__reorder *r);

/* Grow the context's transient buffer to hold size bytes. Called when a
 * layer is built, so that steady loops never allocate; the buffer may move
 * then, so users take ctx->transient afresh at every call. */
ganet_status ganet__transient_reserve(ganet_context *ctx, size_t size);

/* Execute with the given arguments plus the scratchpad; waits for the
 * stream, so the host may read the results afterwards. */
ganet_status ganet__prim_execute(ganet_context *ctx, ganet__prim *p, int nargs,
                                 const dnnl_exec_arg_t *args);

void ganet__prim_destroy(ganet__prim *p);

/* Memory descriptor a primitive descriptor chose for a role. */
const dnnl_memory_desc_t *ganet__prim_md(const ganet__prim *p,
                                         dnnl_query_t what, int index);

/* Plain row-major f32 descriptor for dims. */
ganet_status ganet__md_plain(dnnl_memory_desc_t *md, int rank,
                             const int64_t *dims);

/* ---- tensors ----------------------------------------------------------- */

struct ganet_tensor {
    ganet_context *ctx;
    int rank;
    int64_t dims[GANET_MAX_RANK];
    int64_t count;
    /* The layout the data is in now: plain unless a primitive chose a
     * blocked one. */
    dnnl_memory_desc_t md;
    bool plain;
    dnnl_memory_t mem;
    void *data;
    size_t capacity;
    /* Bumped whenever the values may have changed, so that layers can
     * keep a copy in another layout and refresh it only when needed. */
    uint64_t version;
    /* For a layer's copy of another tensor in another layout (a stage, a
     * weight cache): the conversion that refreshes it. */
    ganet__reorder fill;
};

/* The tensor as oneDNN memory in its current layout. */
dnnl_memory_t ganet__tensor_mem(const ganet_tensor *t);

/* Put the tensor into the layout md, reordering its values when keep is
 * true; a no-op when it already is in that layout. */
ganet_status ganet__tensor_set_layout(ganet_tensor *t,
                                      const dnnl_memory_desc_t *md, bool keep);

/* Bring the tensor back to plain row-major layout, keeping values. It is
 * the gate to writing through ganet__tensor_data(), so it counts as a
 * change of the values (the version is bumped). */
ganet_status ganet__tensor_make_plain(ganet_tensor *t);

/* Copy the values of src, laid out as from, into dst, laid out as to; with
 * accumulate, add them to what dst holds. Both descriptors are blocked
 * (plain included) over the same logical dims; the padding of dst is left
 * as it is. No primitive and no buffer is created, so layers may call it
 * in a steady loop. */
ganet_status ganet__convert(const ganet_context *ctx,
                            const dnnl_memory_desc_t *from, const void *src,
                            const dnnl_memory_desc_t *to, void *dst,
                            bool accumulate);

/* The tensor's values as seen through md: t itself when it is already in
 * that layout, else *stage (created or re-laid out on first use, owned by
 * the caller) after a conversion. */
ganet_status ganet__tensor_as(const ganet_tensor *t,
                              const dnnl_memory_desc_t *md,
                              ganet_tensor **stage, const ganet_tensor **out);

/* Pointer to the plain data; the tensor must be plain. */
float *ganet__tensor_data(const ganet_tensor *t);

/* Check overflow of a product of dims times the float size. */
ganet_status ganet__dims_count(const char *fn, int rank, const int64_t *dims,
                               int64_t *count);

#endif
