/* Losses: a host loop over plain copies of the input and the target. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ganet/loss.h"
#include "internal.h"

/* Indexed by ganet_loss_kind; the prefix of the loss's messages. */
static const char *const kind_names[] = {"bce", "bce_with_logits", "mse"};

struct ganet_loss {
    ganet_context *ctx;
    ganet_loss_kind kind;
    ganet_reduction reduction;
    /* 4 * block_count floats in two halves, each an input and a target.
     * One half holds the last successful forward pass's values, which
     * backward reads; the next forward pass stages its values in the other
     * half and adopts it only when it succeeds, so a failing forward pass
     * leaves the loss as it was. */
    float *block;
    int64_t block_count;
    int current;
    bool has_forward;
    int rank;
    int64_t dims[GANET_MAX_RANK];
    /* Created the first time backward meets a shape, kept after. */
    ganet_tensor *diff_input;
};

static size_t block_bytes(int64_t count)
{
    return (size_t)count * 4 * sizeof(float);
}

/* The input and target of one half of a block of count elements. */
static float *half_input(float *block, int64_t count, int half)
{
    return block + (size_t)half * 2 * (size_t)count;
}

static float *half_target(float *block, int64_t count, int half)
{
    return half_input(block, count, half) + count;
}

ganet_status ganet_loss_create(ganet_context *ctx, ganet_loss_kind kind,
                               ganet_reduction reduction, ganet_loss **out)
{
    static const char fn[] = "ganet_loss_create";
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, ctx);
    GANET__CHECK(kind >= GANET_LOSS_BCE && kind <= GANET_LOSS_MSE,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: unknown kind %d, expected 0 (BCE), 1 (BCE with "
                 "logits) or 2 (MSE)",
                 fn, (int)kind);
    GANET__CHECK(reduction == GANET_REDUCTION_MEAN ||
                         reduction == GANET_REDUCTION_SUM,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: unknown reduction %d, expected 0 (mean) or 1 (sum)", fn,
                 (int)reduction);
    ganet_loss *loss = calloc(1, sizeof *loss);
    GANET__CHECK(loss != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory",
                 fn);
    loss->ctx = ctx;
    loss->kind = kind;
    loss->reduction = reduction;
    *out = loss;
    return GANET_OK;
}

void ganet_loss_destroy(ganet_loss *loss)
{
    if (loss == NULL)
        return;
    ganet__free(loss->ctx, loss->block, block_bytes(loss->block_count));
    ganet_tensor_destroy(loss->diff_input);
    free(loss);
}

/* Write a shape as "[2, 3, 5]". */
static void format_dims(const ganet_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    for (int i = 0; i < t->rank && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%lld", i ? ", " : "[",
                         (long long)t->dims[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static ganet_status check_same_shape(const ganet_loss *loss,
                                     const ganet_tensor *input,
                                     const ganet_tensor *target)
{
    bool same = input->rank == target->rank &&
                memcmp(input->dims, target->dims,
                       (size_t)input->rank * sizeof *input->dims) == 0;
    if (same)
        return GANET_OK;
    char a[96], b[96];
    format_dims(input, a, sizeof a);
    format_dims(target, b, sizeof b);
    return ganet__fail(GANET_ERR_SHAPE,
                       "%s: the input's shape %s differs from the target's %s",
                       kind_names[loss->kind], a, b);
}

/* BCE takes probabilities and targets in [0, 1]. A NaN input is what a
 * diverging network produces, so it fails as a numeric error, which a
 * training loop can tell from a caller's mistake. */
static ganet_status check_unit_range(const ganet_loss *loss, const char *what,
                                     const float *v, int64_t count)
{
    bool input = strcmp(what, "input") == 0;
    for (int64_t i = 0; i < count; i++)
        GANET__CHECK(v[i] >= 0.0f && v[i] <= 1.0f,
                     input && isnan(v[i]) ? GANET_ERR_NUMERIC
                                          : GANET_ERR_INVALID_ARGUMENT,
                     "%s: %s[%lld] is %g, expected a value in [0, 1]",
                     kind_names[loss->kind], what, (long long)i, (double)v[i]);
    return GANET_OK;
}

/* The per-element losses of loss.h, summed in double. */
static double loss_sum(ganet_loss_kind kind, const float *x, const float *t,
                       int64_t count)
{
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++) {
        double xi = x[i], ti = t[i];
        switch (kind) {
        case GANET_LOSS_BCE:
            /* Clamped before the product: 0 * log(0) counts as 0. */
            sum -= ti * fmax(log(xi), -100.0) +
                   (1.0 - ti) * fmax(log(1.0 - xi), -100.0);
            break;
        case GANET_LOSS_BCE_WITH_LOGITS:
            sum += fmax(xi, 0.0) - xi * ti + log1p(exp(-fabs(xi)));
            break;
        case GANET_LOSS_MSE:
            sum += (xi - ti) * (xi - ti);
            break;
        }
    }
    return sum;
}

/*
 * Shapes: input and target (any rank, same dims), or input and a constant
 * target when target is NULL; writes the loss to *value.
 */
static ganet_status forward(ganet_loss *loss, const ganet_tensor *input,
                            const ganet_tensor *target, float constant,
                            float *value)
{
    const char *name = kind_names[loss->kind];
    int64_t n = input->count;

    /* Stage into the free half, or into a new block for a new count. */
    float *fresh = NULL;
    int half = 1 - loss->current;
    if (n != loss->block_count) {
        GANET__CHECK((uint64_t)n <= SIZE_MAX / (4 * sizeof(float)),
                     GANET_ERR_OVERFLOW, "%s: %lld elements are too many", name,
                     (long long)n);
        fresh = ganet__alloc(loss->ctx, block_bytes(n));
        GANET__CHECK(fresh != NULL, GANET_ERR_OUT_OF_MEMORY,
                     "%s: cannot allocate %zu bytes", name, block_bytes(n));
        half = 0;
    }
    float *base = fresh ? fresh : loss->block;
    float *x = half_input(base, n, half);
    float *t = half_target(base, n, half);

    /* Read the values, check them, add up the loss. */
    ganet_status st = ganet_tensor_copy_to(input, x, (size_t)n);
    if (st == GANET_OK && target != NULL)
        st = ganet_tensor_copy_to(target, t, (size_t)n);
    for (int64_t i = 0; target == NULL && i < n; i++)
        t[i] = constant;
    if (st == GANET_OK && loss->kind == GANET_LOSS_BCE) {
        st = check_unit_range(loss, "input", x, n);
        if (st == GANET_OK && target != NULL)
            st = check_unit_range(loss, "target", t, n);
    }
    float result = 0.0f;
    if (st == GANET_OK) {
        double sum = loss_sum(loss->kind, x, t, n);
        if (loss->reduction == GANET_REDUCTION_MEAN)
            sum /= (double)n;
        result = (float)sum;
        if (!isfinite(result))
            st = ganet__fail(GANET_ERR_NUMERIC, "%s: the loss is %g", name,
                             (double)result);
    }
    if (st != GANET_OK) {
        ganet__free(loss->ctx, fresh, block_bytes(n));
        return st;
    }

    /* Adopt the staged values as the last forward pass's. */
    if (fresh != NULL) {
        ganet__free(loss->ctx, loss->block, block_bytes(loss->block_count));
        loss->block = fresh;
        loss->block_count = n;
    }
    loss->current = half;
    loss->has_forward = true;
    loss->rank = input->rank;
    memcpy(loss->dims, input->dims, sizeof loss->dims);
    *value = result;
    return GANET_OK;
}

static ganet_status check_context(const ganet_loss *loss, const ganet_tensor *t,
                                  const char *what)
{
    GANET__CHECK(t->ctx == loss->ctx, GANET_ERR_CONTEXT_MISMATCH,
                 "%s: the %s belongs to another context than the loss",
                 kind_names[loss->kind], what);
    return GANET_OK;
}

ganet_status ganet_loss_forward(ganet_loss *loss, const ganet_tensor *input,
                                const ganet_tensor *target, float *value)
{
    static const char fn[] = "ganet_loss_forward";
    GANET__CHECK_NULL(fn, value);
    *value = 0.0f;
    GANET__CHECK_NULL(fn, loss);
    GANET__CHECK_NULL(fn, input);
    GANET__CHECK_NULL(fn, target);
    GANET__TRY(check_context(loss, input, "input"));
    GANET__TRY(check_context(loss, target, "target"));
    GANET__TRY(check_same_shape(loss, input, target));
    return forward(loss, input, target, 0.0f, value);
}

ganet_status ganet_loss_forward_constant(ganet_loss *loss,
                                         const ganet_tensor *input,
                                         float target, float *value)
{
    static const char fn[] = "ganet_loss_forward_constant";
    GANET__CHECK_NULL(fn, value);
    *value = 0.0f;
    GANET__CHECK_NULL(fn, loss);
    GANET__CHECK_NULL(fn, input);
    GANET__TRY(check_context(loss, input, "input"));
    const char *name = kind_names[loss->kind];
    GANET__CHECK(isfinite(target), GANET_ERR_INVALID_ARGUMENT,
                 "%s: the target is %g, expected a finite value", name,
                 (double)target);
    GANET__CHECK(loss->kind != GANET_LOSS_BCE ||
                         (target >= 0.0f && target <= 1.0f),
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: the target is %g, expected a value in [0, 1]", name,
                 (double)target);
    return forward(loss, input, NULL, target, value);
}

/*
 * The gradients as PyTorch 1.13's CPU kernels compute them, in float and
 * in the same order, so the bits agree: BCE divides by the clamped
 * (1 - x) x and then by n; BCE with logits subtracts the target from the
 * sigmoid and divides by n; MSE multiplies (x - t) by 2/n rounded to float.
 */
static void gradient(const ganet_loss *loss, const float *x, const float *t,
                     int64_t n, float *g)
{
    bool mean = loss->reduction == GANET_REDUCTION_MEAN;
    float count = (float)n;
    float mse_scale = mean ? (float)(2.0 / (double)n) : 2.0f;
    for (int64_t i = 0; i < n; i++) {
        float d;
        switch (loss->kind) {
        case GANET_LOSS_BCE:
            d = (x[i] - t[i]) / fmaxf((1.0f - x[i]) * x[i], 1e-12f);
            g[i] = mean ? d / count : d;
            break;
        case GANET_LOSS_BCE_WITH_LOGITS:
            d = 1.0f / (1.0f + expf(-x[i])) - t[i];
            g[i] = mean ? d / count : d;
            break;
        case GANET_LOSS_MSE:
            g[i] = mse_scale * (x[i] - t[i]);
            break;
        }
    }
}

/* Keep the gradient tensor while the shape stays; else replace it. */
static ganet_status ensure_diff_input(ganet_loss *loss)
{
    ganet_tensor *d = loss->diff_input;
    if (d != NULL && d->rank == loss->rank &&
        memcmp(d->dims, loss->dims, (size_t)d->rank * sizeof *d->dims) == 0)
        return ganet__tensor_make_plain(d);
    ganet_tensor *fresh;
    GANET__TRY(ganet_tensor_create(loss->ctx, loss->rank, loss->dims, &fresh));
    ganet_tensor_destroy(loss->diff_input);
    loss->diff_input = fresh;
    return GANET_OK;
}

ganet_status ganet_loss_backward(ganet_loss *loss,
                                 const ganet_tensor **diff_input)
{
    static const char fn[] = "ganet_loss_backward";
    GANET__CHECK_NULL(fn, diff_input);
    *diff_input = NULL;
    GANET__CHECK_NULL(fn, loss);
    GANET__CHECK(loss->has_forward, GANET_ERR_STATE,
                 "%s: backward before any successful forward pass",
                 kind_names[loss->kind]);
    GANET__TRY(ensure_diff_input(loss));

    /* Shapes: x, t and the gradient all have the last input's shape. */
    int64_t n = loss->block_count;
    const float *x = half_input(loss->block, n, loss->current);
    const float *t = half_target(loss->block, n, loss->current);
    gradient(loss, x, t, n, ganet__tensor_data(loss->diff_input));
    *diff_input = loss->diff_input;
    return GANET_OK;
}
