/* Losses: values and gradients against PyTorch, the constant-target path,
 * finite differences, a steady loop that allocates nothing, and every
 * error path. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ganet/loss.h"
#include "internal.h"
#include "ref_data.h"
#include "test_support.h"

/*
 * Tolerances against PyTorch. The loss is summed in double here and in
 * float by PyTorch, so it agrees to a few float roundings (measured: 1.2e-7
 * relative at worst): relative 1e-5. The gradients use PyTorch's float
 * formulas and agree to the bit on this data; BCE with logits could differ
 * by an ulp of the sigmoid (expf here, a vectorised exp in PyTorch), which
 * (sigmoid - t) can make 1e-7 absolute where the two nearly cancel:
 * relative 1e-5 plus absolute 1e-7. The relative part also covers BCE's
 * 1e12 gradients at p = 0 or 1.
 */
#define LOSS_RTOL 1e-5
#define LOSS_ATOL 1e-7
#define GRAD_RTOL 1e-5
#define GRAD_ATOL 1e-7

/* A tensor of a reference entry's shape (rank 0 becomes [1]) and values. */
static ganet_tensor *tensor_from(ganet_context *ctx, const ref_entry *e)
{
    if (e->rank > 0)
        return support_tensor_from(ctx, e);
    const int64_t one[1] = {1};
    ganet_tensor *t = NULL;
    assert_int_equal(ganet_tensor_create(ctx, 1, one, &t), GANET_OK);
    support_load_entry(t, e);
    return t;
}

static ganet_tensor *tensor_1d(ganet_context *ctx, const float *v, int64_t n)
{
    ganet_tensor *t = NULL;
    assert_int_equal(ganet_tensor_create(ctx, 1, &n, &t), GANET_OK);
    assert_int_equal(ganet_tensor_copy_from(t, v, (size_t)n), GANET_OK);
    return t;
}

static ganet_loss *make_loss(ganet_context *ctx, ganet_loss_kind kind,
                             ganet_reduction reduction)
{
    ganet_loss *loss = NULL;
    assert_int_equal(ganet_loss_create(ctx, kind, reduction, &loss), GANET_OK);
    return loss;
}

static void read_grad(ganet_loss *loss, float *g, int64_t n)
{
    const ganet_tensor *d = NULL;
    assert_int_equal(ganet_loss_backward(loss, &d), GANET_OK);
    assert_int_equal(ganet_tensor_count(d), n);
    assert_int_equal(ganet_tensor_copy_to(d, g, (size_t)n), GANET_OK);
}

static bool all_equal(const float *v, int64_t n)
{
    for (int64_t i = 1; i < n; i++)
        if (v[i] != v[0])
            return false;
    return true;
}

static const char *const loss_cases[] = {
        "bce_mean",
        "bce_sum",
        "bce_p01_mean",
        "bce_p01_sum",
        "bce_smoothed_0.9_mean",
        "bce_target_ones_mean",
        "bcelogits_mean",
        "bcelogits_sum",
        "bcelogits_extreme_mean",
        "bcelogits_extreme_sum",
        "bcelogits_smoothed_0.9_mean",
        "bcelogits_target_ones_sum",
        "mse_mean",
        "mse_sum",
        "mse_target_ones_mean",
};

/* Every file in tests/data/losses: the loss and diff_input; where the
 * target is one value, the constant path gives the same bits. */
static void test_loss_matches_pytorch(void **state)
{
    ganet_context *ctx = *state;
    double worst_loss = 0, worst_grad = 0;
    for (size_t c = 0; c < sizeof loss_cases / sizeof *loss_cases; c++) {
        ref_file *f = support_load_case("losses", loss_cases[c]);
        const ref_entry *opt = support_entry(f, "options");
        const ref_entry *in = support_entry(f, "input"),
                        *tg = support_entry(f, "target");
        const ref_entry *ref_loss = support_entry(f, "loss");
        const ref_entry *ref_grad = support_entry(f, "diff_input");
        ganet_loss *loss = make_loss(ctx, (ganet_loss_kind)opt->data[0],
                                     (ganet_reduction)opt->data[1]);
        ganet_tensor *x = tensor_from(ctx, in), *t = tensor_from(ctx, tg);
        float value = NAN;
        assert_int_equal(ganet_loss_forward(loss, x, t, &value), GANET_OK);
        float *g = calloc((size_t)in->count, sizeof *g);
        assert_non_null(g);
        read_grad(loss, g, in->count);

        double el =
                ref_max_error(&value, ref_loss->data, 1, LOSS_ATOL, LOSS_RTOL);
        double eg = ref_max_error(g, ref_grad->data, in->count, GRAD_ATOL,
                                  GRAD_RTOL);
        print_message("%-28s loss %.9g (torch %.9g) error %.3g, diff_input "
                      "error %.3g (1 = tolerance)\n",
                      loss_cases[c], (double)value, (double)ref_loss->data[0],
                      el, eg);
        assert_true(el <= 1.0);
        assert_true(eg <= 1.0);
        worst_loss = el > worst_loss ? el : worst_loss;
        worst_grad = eg > worst_grad ? eg : worst_grad;

        if (all_equal(tg->data, tg->count)) {
            float cvalue = NAN;
            float *cg = calloc((size_t)in->count, sizeof *cg);
            assert_non_null(cg);
            assert_int_equal(
                    ganet_loss_forward_constant(loss, x, tg->data[0], &cvalue),
                    GANET_OK);
            read_grad(loss, cg, in->count);
            assert_memory_equal(&cvalue, &value, sizeof value);
            assert_memory_equal(cg, g, (size_t)in->count * sizeof *g);
            free(cg);
        }
        free(g);
        ganet_tensor_destroy(x);
        ganet_tensor_destroy(t);
        ganet_loss_destroy(loss);
        ref_file_free(f);
    }
    print_message("worst: loss %.3g, diff_input %.3g of the tolerance\n",
                  worst_loss, worst_grad);
}

/* The constant path equals a target tensor filled with the constant, to
 * the bit, for the targets a GAN uses. */
static void test_loss_constant_target_equals_tensor(void **state)
{
    ganet_context *ctx = *state;
    const float probs[6] = {0.1f, 0.35f, 0.5f, 0.77f, 0.9f, 0.999f};
    const float consts[3] = {1.0f, 0.0f, 0.9f};
    for (int kind = GANET_LOSS_BCE; kind <= GANET_LOSS_MSE; kind++) {
        for (int red = 0; red <= 1; red++) {
            ganet_loss *loss =
                    make_loss(ctx, (ganet_loss_kind)kind, (ganet_reduction)red);
            ganet_tensor *x = tensor_1d(ctx, probs, 6);
            for (int k = 0; k < 3; k++) {
                float tv[6], a, b, ga[6], gb[6];
                for (int i = 0; i < 6; i++)
                    tv[i] = consts[k];
                ganet_tensor *t = tensor_1d(ctx, tv, 6);
                assert_int_equal(ganet_loss_forward(loss, x, t, &a), GANET_OK);
                read_grad(loss, ga, 6);
                assert_int_equal(
                        ganet_loss_forward_constant(loss, x, consts[k], &b),
                        GANET_OK);
                read_grad(loss, gb, 6);
                assert_memory_equal(&a, &b, sizeof a);
                assert_memory_equal(ga, gb, sizeof ga);
                ganet_tensor_destroy(t);
            }
            ganet_tensor_destroy(x);
            ganet_loss_destroy(loss);
        }
    }
}

/*
 * Central differences of the library's own forward pass against its
 * backward pass, for every kind and reduction. The step is h = 2^-10 on
 * inputs of size 0.2 to 3, where it is exact in float; the quotient is
 * formed in double from the two float losses. Its error is the float
 * rounding of the losses (about 3e-7 / 2h = 1.5e-4 for a sum near 5) plus
 * the truncation h^2 |f'''| / 6 (below 3e-5 for p in [0.2, 0.8]); the
 * tolerance is 1e-3 absolute plus 1e-3 relative.
 */
static void test_loss_gradient_finite_differences(void **state)
{
    ganet_context *ctx = *state;
    const double h = 1.0 / 1024.0;
    /* Inputs per kind; BCE's stay in [0.2, 0.8], away from the clamps. */
    const float inputs[3][6] = {
            {0.2f, 0.31f, 0.47f, 0.55f, 0.68f, 0.8f},
            {-2.5f, -0.75f, 0.25f, 0.5f, 1.5f, 3.0f},
            {-1.5f, -0.5f, 0.3f, 0.9f, 1.25f, 2.0f},
    };
    const float targets[3][6] = {
            {0.0f, 1.0f, 0.9f, 0.0f, 1.0f, 0.3f},
            {0.0f, 1.0f, 0.9f, 0.0f, 1.0f, 0.3f},
            {0.5f, -1.0f, 0.0f, 2.0f, 1.0f, -0.25f},
    };
    double worst = 0;
    for (int kind = GANET_LOSS_BCE; kind <= GANET_LOSS_MSE; kind++) {
        for (int red = 0; red <= 1; red++) {
            ganet_loss *loss =
                    make_loss(ctx, (ganet_loss_kind)kind, (ganet_reduction)red);
            ganet_tensor *x = tensor_1d(ctx, inputs[kind], 6);
            ganet_tensor *t = tensor_1d(ctx, targets[kind], 6);
            float g[6], v[6], value, hi, lo;
            assert_int_equal(ganet_loss_forward(loss, x, t, &value), GANET_OK);
            read_grad(loss, g, 6);
            for (int i = 0; i < 6; i++) {
                memcpy(v, inputs[kind], sizeof v);
                v[i] = (float)(inputs[kind][i] + h);
                float up = v[i];
                assert_int_equal(ganet_tensor_copy_from(x, v, 6), GANET_OK);
                assert_int_equal(ganet_loss_forward(loss, x, t, &hi), GANET_OK);
                v[i] = (float)(inputs[kind][i] - h);
                float down = v[i];
                assert_int_equal(ganet_tensor_copy_from(x, v, 6), GANET_OK);
                assert_int_equal(ganet_loss_forward(loss, x, t, &lo), GANET_OK);
                double fd =
                        ((double)hi - (double)lo) / ((double)up - (double)down);
                double err = fabs(fd - g[i]) / (1e-3 + 1e-3 * fabs(fd));
                worst = err > worst ? err : worst;
                if (err > 1.0)
                    fail_msg("kind %d reduction %d element %d: backward %g, "
                             "central difference %g",
                             kind, red, i, (double)g[i], fd);
            }
            ganet_tensor_destroy(x);
            ganet_tensor_destroy(t);
            ganet_loss_destroy(loss);
        }
    }
    print_message("finite differences: worst %.3g of the tolerance\n", worst);
}

/* After a first pass, forward and backward allocate nothing, create no
 * primitive and hand back the same gradient tensor. */
static void test_loss_steady_loop_does_not_allocate(void **state)
{
    ganet_context *ctx = *state;
    const float p[4] = {0.2f, 0.7f, 0.4f, 0.9f}, real[4] = {1, 1, 1, 1};
    ganet_tensor *x, *t = NULL;
    assert_int_equal(ganet_tensor_create_4d(ctx, 4, 1, 1, 1, &x), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 4, 1, 1, 1, &t), GANET_OK);
    assert_int_equal(ganet_tensor_copy_from(x, p, 4), GANET_OK);
    assert_int_equal(ganet_tensor_copy_from(t, real, 4), GANET_OK);
    ganet_loss *loss = make_loss(ctx, GANET_LOSS_BCE, GANET_REDUCTION_MEAN);
    float value;
    const ganet_tensor *first, *d;
    assert_int_equal(ganet_loss_forward(loss, x, t, &value), GANET_OK);
    assert_int_equal(ganet_loss_backward(loss, &first), GANET_OK);

    ganet_context_stats before, after;
    assert_int_equal(ganet_context_get_stats(ctx, &before), GANET_OK);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(ganet_loss_forward(loss, x, t, &value), GANET_OK);
        assert_int_equal(ganet_loss_backward(loss, &d), GANET_OK);
        assert_ptr_equal(d, first);
        assert_int_equal(ganet_loss_forward_constant(loss, x, 0.0f, &value),
                         GANET_OK);
        assert_int_equal(ganet_loss_backward(loss, &d), GANET_OK);
        assert_ptr_equal(d, first);
    }
    assert_int_equal(ganet_context_get_stats(ctx, &after), GANET_OK);
    assert_int_equal(after.allocations, before.allocations);
    assert_int_equal(after.bytes_in_use, before.bytes_in_use);
    assert_int_equal(after.primitives_created, before.primitives_created);
    ganet_loss_destroy(loss);
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(t);
}

/* A new count or shape gets new buffers and a gradient of the new shape;
 * backward twice gives the same values. */
static void test_loss_follows_shape_changes(void **state)
{
    ganet_context *ctx = *state;
    const float a[4] = {1, 2, 3, 4}, b[6] = {1, 2, 3, 4, 5, 6};
    ganet_loss *loss = make_loss(ctx, GANET_LOSS_MSE, GANET_REDUCTION_SUM);
    ganet_tensor *x4 = tensor_1d(ctx, a, 4), *x6 = tensor_1d(ctx, b, 6);
    ganet_tensor *x23;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 3, 1, 1, &x23), GANET_OK);
    assert_int_equal(ganet_tensor_copy_from(x23, b, 6), GANET_OK);
    float value, g[6], g2[6];
    const ganet_tensor *d;

    assert_int_equal(ganet_loss_forward_constant(loss, x4, 1.0f, &value),
                     GANET_OK);
    assert_true(value == 0 + 1 + 4 + 9);
    assert_int_equal(ganet_loss_forward_constant(loss, x6, 1.0f, &value),
                     GANET_OK);
    assert_true(value == 0 + 1 + 4 + 9 + 16 + 25);
    read_grad(loss, g, 6);
    read_grad(loss, g2, 6);
    assert_memory_equal(g, g2, sizeof g);
    for (int i = 0; i < 6; i++)
        assert_true(g[i] == 2.0f * (b[i] - 1.0f));

    assert_int_equal(ganet_loss_forward_constant(loss, x23, 1.0f, &value),
                     GANET_OK);
    assert_int_equal(ganet_loss_backward(loss, &d), GANET_OK);
    assert_int_equal(ganet_tensor_rank(d), 4);
    assert_int_equal(ganet_tensor_dim(d, 1), 3);
    ganet_tensor_destroy(x4);
    ganet_tensor_destroy(x6);
    ganet_tensor_destroy(x23);
    ganet_loss_destroy(loss);
}

/* An input kept in a blocked layout (channels in blocks of 8) gives the
 * same loss and gradient as the plain one. */
static void test_loss_reads_blocked_input(void **state)
{
    ganet_context *ctx = *state;
    float v[12], g_plain[12], g_blocked[12], a, b;
    for (int i = 0; i < 12; i++)
        v[i] = 0.05f + 0.075f * (float)i;
    ganet_tensor *x;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 3, 2, 1, &x), GANET_OK);
    assert_int_equal(ganet_tensor_copy_from(x, v, 12), GANET_OK);
    ganet_loss *loss = make_loss(ctx, GANET_LOSS_BCE, GANET_REDUCTION_MEAN);
    assert_int_equal(ganet_loss_forward_constant(loss, x, 1.0f, &a), GANET_OK);
    read_grad(loss, g_plain, 12);

    dnnl_memory_desc_t blocked;
    dnnl_dims_t dims = {2, 3, 2, 1};
    assert_int_equal(dnnl_memory_desc_init_by_tag(&blocked, 4, dims, dnnl_f32,
                                                  dnnl_aBcd8b),
                     dnnl_success);
    assert_int_equal(ganet__tensor_set_layout(x, &blocked, true), GANET_OK);
    assert_false(x->plain);
    assert_int_equal(ganet_loss_forward_constant(loss, x, 1.0f, &b), GANET_OK);
    read_grad(loss, g_blocked, 12);
    assert_memory_equal(&a, &b, sizeof a);
    assert_memory_equal(g_plain, g_blocked, sizeof g_plain);
    ganet_loss_destroy(loss);
    ganet_tensor_destroy(x);
}

/* BCE refuses probabilities and targets outside [0, 1], and NaN, naming
 * the first bad element (a NaN probability as a numeric error); nothing
 * else is refused for the other kinds. */
static void test_loss_bce_rejects_out_of_range(void **state)
{
    ganet_context *ctx = *state;
    const float bad_inputs[3] = {-0.1f, 1.1f, NAN};
    const char *const messages[3] = {"input[2] is -0.1", "input[2] is 1.1",
                                     "input[2] is nan"};
    ganet_loss *loss = make_loss(ctx, GANET_LOSS_BCE, GANET_REDUCTION_MEAN);
    float value = 1.0f;
    for (int k = 0; k < 3; k++) {
        const float v[4] = {0.5f, 1.0f, bad_inputs[k], -3.0f};
        ganet_tensor *x = tensor_1d(ctx, v, 4);
        value = 1.0f;
        assert_int_equal(ganet_loss_forward_constant(loss, x, 1.0f, &value),
                         k == 2 ? GANET_ERR_NUMERIC
                                : GANET_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(ganet_last_error(), messages[k]));
        assert_true(value == 0.0f);
        ganet_tensor_destroy(x);
    }

    const float p[3] = {0.5f, 0.5f, 0.5f}, t_bad[3] = {1.0f, 0.0f, 1.5f};
    ganet_tensor *x = tensor_1d(ctx, p, 3), *t = tensor_1d(ctx, t_bad, 3);
    assert_int_equal(ganet_loss_forward(loss, x, t, &value),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "target[2] is 1.5"));
    assert_int_equal(ganet_loss_forward_constant(loss, x, -0.5f, &value),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "target is -0.5"));
    assert_int_equal(ganet_loss_forward_constant(loss, x, NAN, &value),
                     GANET_ERR_INVALID_ARGUMENT);

    /* BCE with logits and MSE take any finite target. */
    ganet_loss *logits =
            make_loss(ctx, GANET_LOSS_BCE_WITH_LOGITS, GANET_REDUCTION_SUM);
    assert_int_equal(ganet_loss_forward(logits, x, t, &value), GANET_OK);
    assert_int_equal(ganet_loss_forward_constant(logits, x, INFINITY, &value),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "target is inf"));
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(t);
    ganet_loss_destroy(logits);
    ganet_loss_destroy(loss);
}

/* A loss that is not finite in float is refused with GANET_ERR_NUMERIC. */
static void test_loss_rejects_nonfinite_loss(void **state)
{
    ganet_context *ctx = *state;
    const float big[2] = {1e30f, -1e30f}, nan_in[2] = {0.0f, NAN};
    const float inf_in[2] = {INFINITY, 0.0f};
    float value = 1.0f;
    ganet_loss *mse = make_loss(ctx, GANET_LOSS_MSE, GANET_REDUCTION_MEAN);
    ganet_loss *logits =
            make_loss(ctx, GANET_LOSS_BCE_WITH_LOGITS, GANET_REDUCTION_MEAN);
    ganet_tensor *x = tensor_1d(ctx, big, 2);
    assert_int_equal(ganet_loss_forward_constant(mse, x, 0.0f, &value),
                     GANET_ERR_NUMERIC);
    assert_non_null(strstr(ganet_last_error(), "mse: the loss is inf"));
    assert_true(value == 0.0f);
    assert_int_equal(ganet_tensor_copy_from(x, nan_in, 2), GANET_OK);
    assert_int_equal(ganet_loss_forward_constant(mse, x, 0.0f, &value),
                     GANET_ERR_NUMERIC);
    assert_non_null(strstr(ganet_last_error(), "mse: the loss is nan"));
    assert_int_equal(ganet_tensor_copy_from(x, inf_in, 2), GANET_OK);
    assert_int_equal(ganet_loss_forward_constant(logits, x, 1.0f, &value),
                     GANET_ERR_NUMERIC);
    assert_int_equal(ganet_loss_forward_constant(logits, x, 0.0f, &value),
                     GANET_ERR_NUMERIC);
    /* No forward pass succeeded, so there is nothing to differentiate. */
    const ganet_tensor *d = (const ganet_tensor *)1;
    assert_int_equal(ganet_loss_backward(mse, &d), GANET_ERR_STATE);
    assert_null(d);
    ganet_tensor_destroy(x);
    ganet_loss_destroy(mse);
    ganet_loss_destroy(logits);
}

/* A failing forward pass, with the same count or a new one, leaves the
 * last successful one for backward. */
static void test_loss_failed_forward_keeps_state(void **state)
{
    ganet_context *ctx = *state;
    const float good[3] = {0.25f, 0.5f, 0.75f}, bad3[3] = {0.5f, 2.0f, 0.5f};
    const float bad5[5] = {0.5f, 0.5f, 0.5f, 0.5f, -1.0f};
    ganet_loss *loss = make_loss(ctx, GANET_LOSS_BCE, GANET_REDUCTION_SUM);
    ganet_tensor *x = tensor_1d(ctx, good, 3), *y = tensor_1d(ctx, bad3, 3);
    ganet_tensor *z = tensor_1d(ctx, bad5, 5);
    float value, before[3], after[3];
    assert_int_equal(ganet_loss_forward_constant(loss, x, 1.0f, &value),
                     GANET_OK);
    read_grad(loss, before, 3);
    assert_int_equal(ganet_loss_forward_constant(loss, y, 1.0f, &value),
                     GANET_ERR_INVALID_ARGUMENT);
    read_grad(loss, after, 3);
    assert_memory_equal(before, after, sizeof before);
    assert_int_equal(ganet_loss_forward_constant(loss, z, 1.0f, &value),
                     GANET_ERR_INVALID_ARGUMENT);
    read_grad(loss, after, 3);
    assert_memory_equal(before, after, sizeof before);
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(y);
    ganet_tensor_destroy(z);
    ganet_loss_destroy(loss);
}

static void test_loss_rejects_shape_mismatch(void **state)
{
    ganet_context *ctx = *state;
    ganet_tensor *a, *b, *c;
    assert_int_equal(ganet_tensor_create_4d(ctx, 4, 1, 1, 1, &a), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 4, 1, 1, 2, &b), GANET_OK);
    const int64_t flat[1] = {4};
    assert_int_equal(ganet_tensor_create(ctx, 1, flat, &c), GANET_OK);
    ganet_loss *loss = make_loss(ctx, GANET_LOSS_MSE, GANET_REDUCTION_MEAN);
    float value = 1.0f;
    assert_int_equal(ganet_loss_forward(loss, a, b, &value), GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(), "[4, 1, 1, 1]"));
    assert_non_null(strstr(ganet_last_error(), "[4, 1, 1, 2]"));
    assert_true(value == 0.0f);
    /* The same count in another shape is refused too. */
    assert_int_equal(ganet_loss_forward(loss, a, c, &value), GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(), "target's [4]"));
    ganet_tensor_destroy(a);
    ganet_tensor_destroy(b);
    ganet_tensor_destroy(c);
    ganet_loss_destroy(loss);
}

static void test_loss_rejects_context_mismatch(void **state)
{
    ganet_context *ctx = *state, *other;
    assert_int_equal(ganet_context_create(NULL, &other), GANET_OK);
    ganet_tensor *mine, *theirs;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 1, 1, 1, &mine), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(other, 2, 1, 1, 1, &theirs),
                     GANET_OK);
    ganet_loss *loss = make_loss(ctx, GANET_LOSS_BCE, GANET_REDUCTION_MEAN);
    float value;
    assert_int_equal(ganet_loss_forward(loss, theirs, mine, &value),
                     GANET_ERR_CONTEXT_MISMATCH);
    assert_int_equal(ganet_loss_forward(loss, mine, theirs, &value),
                     GANET_ERR_CONTEXT_MISMATCH);
    assert_non_null(strstr(ganet_last_error(), "target"));
    assert_int_equal(ganet_loss_forward_constant(loss, theirs, 1.0f, &value),
                     GANET_ERR_CONTEXT_MISMATCH);
    ganet_tensor_destroy(mine);
    ganet_tensor_destroy(theirs);
    ganet_loss_destroy(loss);
    ganet_context_destroy(other);
}

static void test_loss_backward_before_forward(void **state)
{
    ganet_loss *loss =
            make_loss(*state, GANET_LOSS_BCE_WITH_LOGITS, GANET_REDUCTION_MEAN);
    const ganet_tensor *d = (const ganet_tensor *)1;
    assert_int_equal(ganet_loss_backward(loss, &d), GANET_ERR_STATE);
    assert_null(d);
    ganet_loss_destroy(loss);
}

static void test_loss_rejects_null_arguments(void **state)
{
    ganet_context *ctx = *state;
    ganet_loss *loss = make_loss(ctx, GANET_LOSS_BCE, GANET_REDUCTION_MEAN);
    ganet_tensor *x;
    assert_int_equal(ganet_tensor_create_4d(ctx, 1, 1, 1, 1, &x), GANET_OK);
    float value = 1.0f;
    const ganet_tensor *d = (const ganet_tensor *)1;
    assert_int_equal(ganet_loss_forward(NULL, x, x, &value),
                     GANET_ERR_NULL_POINTER);
    assert_true(value == 0.0f);
    assert_int_equal(ganet_loss_forward(loss, NULL, x, &value),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_loss_forward(loss, x, NULL, &value),
                     GANET_ERR_NULL_POINTER);
    assert_non_null(strstr(ganet_last_error(), "'target' is NULL"));
    assert_int_equal(ganet_loss_forward(loss, x, x, NULL),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_loss_forward_constant(NULL, x, 1.0f, &value),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_loss_forward_constant(loss, NULL, 1.0f, &value),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_loss_forward_constant(loss, x, 1.0f, NULL),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_loss_backward(NULL, &d), GANET_ERR_NULL_POINTER);
    assert_null(d);
    assert_int_equal(ganet_loss_backward(loss, NULL), GANET_ERR_NULL_POINTER);
    ganet_loss_destroy(NULL);
    ganet_tensor_destroy(x);
    ganet_loss_destroy(loss);
}

static void test_loss_create_rejects_bad_arguments(void **state)
{
    ganet_context *ctx = *state;
    ganet_loss *loss = (ganet_loss *)1;
    assert_int_equal(ganet_loss_create(ctx, (ganet_loss_kind)3,
                                       GANET_REDUCTION_MEAN, &loss),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_null(loss);
    assert_non_null(strstr(ganet_last_error(), "unknown kind 3"));
    assert_int_equal(ganet_loss_create(ctx, (ganet_loss_kind)-1,
                                       GANET_REDUCTION_MEAN, &loss),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(
            ganet_loss_create(ctx, GANET_LOSS_MSE, (ganet_reduction)2, &loss),
            GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "unknown reduction 2"));
    assert_int_equal(
            ganet_loss_create(NULL, GANET_LOSS_MSE, GANET_REDUCTION_SUM, &loss),
            GANET_ERR_NULL_POINTER);
    assert_null(loss);
    assert_int_equal(
            ganet_loss_create(ctx, GANET_LOSS_MSE, GANET_REDUCTION_SUM, NULL),
            GANET_ERR_NULL_POINTER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_loss_matches_pytorch),
            cmocka_unit_test(test_loss_constant_target_equals_tensor),
            cmocka_unit_test(test_loss_gradient_finite_differences),
            cmocka_unit_test(test_loss_steady_loop_does_not_allocate),
            cmocka_unit_test(test_loss_follows_shape_changes),
            cmocka_unit_test(test_loss_reads_blocked_input),
            cmocka_unit_test(test_loss_bce_rejects_out_of_range),
            cmocka_unit_test(test_loss_rejects_nonfinite_loss),
            cmocka_unit_test(test_loss_failed_forward_keeps_state),
            cmocka_unit_test(test_loss_rejects_shape_mismatch),
            cmocka_unit_test(test_loss_rejects_context_mismatch),
            cmocka_unit_test(test_loss_backward_before_forward),
            cmocka_unit_test(test_loss_rejects_null_arguments),
            cmocka_unit_test(test_loss_create_rejects_bad_arguments),
    };
    return cmocka_run_group_tests_name("loss", tests, support_context_setup,
                                       support_context_teardown);
}
