/* Activations: values and gradients against PyTorch, finite differences,
 * the gradient at the kink, primitive reuse, every error path, and use in
 * place on its own. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ganet/activation.h"
#include "internal.h"
#include "ref_data.h"
#include "test_support.h"

/*
 * Tolerances against PyTorch. ReLU and LeakyReLU are one comparison and at
 * most one product, so they agree exactly (checked separately); Tanh and
 * Sigmoid use oneDNN's vectorised polynomial in place of PyTorch's, which may
 * differ by a few ulps (measured: 8.9e-8 absolute at worst): relative 1e-6 plus
 * absolute 1e-6 for all four.
 */
#define ACT_RTOL 1e-6
#define ACT_ATOL 1e-6

/*
 * Finite differences: central, with step 1e-2 applied to every element at
 * once, which is a valid per-element derivative because each output
 * depends on its own input only. The truncation error is h^2/6 * |f'''|
 * (at most 2 for tanh, so 3.4e-5) and the float rounding eps*|f|/h (at
 * most 1.2e-5); the tolerance is absolute 2e-4 plus relative 1e-3. Inputs
 * stay 0.05 or more from 0, farther than the step, so no difference
 * crosses the kink of ReLU or LeakyReLU.
 */
#define FD_STEP 1e-2f
#define FD_ATOL 2e-4
#define FD_RTOL 1e-3

typedef enum kind { RELU, LEAKY, TANH, SIGMOID } kind;

static ganet_tensor *tensor_from(ganet_context *ctx, const ref_entry *e)
{
    assert_int_equal(e->rank, 4);
    return support_tensor_from(ctx, e);
}

static ganet_tensor *tensor_4d(ganet_context *ctx, const int64_t *dims,
                               const float *v)
{
    ganet_tensor *t = NULL;
    assert_int_equal(ganet_tensor_create(ctx, 4, dims, &t), GANET_OK);
    if (v)
        assert_int_equal(
                ganet_tensor_copy_from(t, v, (size_t)ganet_tensor_count(t)),
                GANET_OK);
    return t;
}

static ganet_layer *make(ganet_context *ctx, kind k, float slope)
{
    ganet_layer *l = NULL;
    ganet_status st = GANET_ERR_STATE;
    switch (k) {
    case RELU:
        st = ganet_relu_create(ctx, &l);
        break;
    case LEAKY:
        st = ganet_leaky_relu_create(ctx, slope, &l);
        break;
    case TANH:
        st = ganet_tanh_create(ctx, &l);
        break;
    case SIGMOID:
        st = ganet_sigmoid_create(ctx, &l);
        break;
    }
    assert_int_equal(st, GANET_OK);
    assert_non_null(l);
    return l;
}

/* Every eltwise file in tests/data/layers: dst and diff_src. */
static void test_activation_matches_pytorch(void **state)
{
    ganet_context *ctx = *state;
    static const struct {
        const char *name;
        kind k;
    } cases[] = {
            {"relu", RELU},           {"relu_batch1_7x5", RELU},
            {"leakyrelu_0.2", LEAKY}, {"leakyrelu_default", LEAKY},
            {"tanh", TANH},           {"sigmoid", SIGMOID},
    };
    double worst = 0, worst_abs = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        ref_file *f = support_load_case("layers", cases[c].name);
        const ref_entry *opt = support_entry(f, "options");
        const ref_entry *src = support_entry(f, "src"),
                        *dst = support_entry(f, "dst");
        const ref_entry *dd = support_entry(f, "diff_dst"),
                        *ds = support_entry(f, "diff_src");
        ganet_layer *l = make(ctx, cases[c].k, opt->data[0]);
        if (cases[c].k == LEAKY &&
            strcmp(cases[c].name, "leakyrelu_default") == 0)
            assert_true(opt->data[0] == GANET_LEAKY_RELU_DEFAULT_SLOPE);
        ganet_tensor *x = tensor_from(ctx, src), *g = tensor_from(ctx, dd);
        const ganet_tensor *y = NULL, *gx = NULL;
        assert_int_equal(ganet_layer_forward(l, x, GANET_MODE_TRAINING, &y),
                         GANET_OK);
        assert_int_equal(ganet_layer_backward(l, g, &gx), GANET_OK);
        float *out = malloc((size_t)src->count * sizeof *out);
        float *grad = malloc((size_t)src->count * sizeof *grad);
        assert_non_null(out);
        assert_non_null(grad);
        support_read_values(y, out, dst->count);
        support_read_values(gx, grad, ds->count);
        double e1 =
                ref_max_error(out, dst->data, dst->count, ACT_ATOL, ACT_RTOL);
        double e2 =
                ref_max_error(grad, ds->data, ds->count, ACT_ATOL, ACT_RTOL);
        if (e1 > 1 || e2 > 1)
            fail_msg("%s: dst %.3g, diff_src %.3g of the tolerance",
                     cases[c].name, e1, e2);
        worst = fmax(worst, fmax(e1, e2));
        /* Exact for the piecewise-linear ones, as numbers: oneDNN's ReLU
         * writes -0 where PyTorch writes +0. */
        for (int64_t i = 0; i < src->count && cases[c].k <= LEAKY; i++)
            assert_true(out[i] == dst->data[i] && grad[i] == ds->data[i]);
        for (int64_t i = 0; i < src->count; i++) {
            worst_abs = fmax(worst_abs, fabs(out[i] - dst->data[i]));
            worst_abs = fmax(worst_abs, fabs(grad[i] - ds->data[i]));
        }
        free(out);
        free(grad);
        ganet_tensor_destroy(x);
        ganet_tensor_destroy(g);
        ganet_layer_destroy(l);
        ref_file_free(f);
    }
    print_message("against PyTorch: worst %.3g of the tolerance, largest "
                  "absolute error %.3g\n",
                  worst, worst_abs);
}

/* Central differences of L = sum(w * f(x)) against backward with w. */
static void test_activation_gradient_finite_differences(void **state)
{
    ganet_context *ctx = *state;
    enum { N = 2 * 3 * 4 * 5 };
    const int64_t dims[4] = {2, 3, 4, 5};
    float x[N], xp[N], xm[N], w[N], yp[N], ym[N], g[N];
    for (int i = 0; i < N; i++) {
        /* From -3 to 3, skipping (-0.05, 0.05). */
        float v = -3.0f + 6.0f * (float)i / (float)(N - 1);
        x[i] = fabsf(v) < 0.05f ? (v < 0 ? -0.05f : 0.05f) : v;
        xp[i] = x[i] + FD_STEP;
        xm[i] = x[i] - FD_STEP;
        w[i] = 0.5f + 0.25f * (float)(i % 5) - 0.3f * (float)(i % 3);
    }
    double worst = 0;
    const kind kinds[5] = {RELU, LEAKY, LEAKY, TANH, SIGMOID};
    const float slopes[5] = {0, 0.2f, 0.01f, 0, 0};
    for (int k = 0; k < 5; k++) {
        ganet_layer *l = make(ctx, kinds[k], slopes[k]);
        ganet_tensor *tp = tensor_4d(ctx, dims, xp),
                     *tm = tensor_4d(ctx, dims, xm);
        ganet_tensor *tx = tensor_4d(ctx, dims, x),
                     *tw = tensor_4d(ctx, dims, w);
        const ganet_tensor *y, *gx;
        assert_int_equal(ganet_layer_forward(l, tp, GANET_MODE_TRAINING, &y),
                         GANET_OK);
        support_read_values(y, yp, N);
        assert_int_equal(ganet_layer_forward(l, tm, GANET_MODE_TRAINING, &y),
                         GANET_OK);
        support_read_values(y, ym, N);
        assert_int_equal(ganet_layer_forward(l, tx, GANET_MODE_TRAINING, &y),
                         GANET_OK);
        assert_int_equal(ganet_layer_backward(l, tw, &gx), GANET_OK);
        support_read_values(gx, g, N);
        for (int i = 0; i < N; i++) {
            double fd = w[i] * ((double)yp[i] - ym[i]) / (2.0 * FD_STEP);
            double err = fabs(fd - g[i]) / (FD_ATOL + FD_RTOL * fabs(fd));
            if (err > 1)
                fail_msg("%s: x = %g, backward %g, differences %g",
                         ganet_layer_kind(l), (double)x[i], (double)g[i], fd);
            worst = fmax(worst, err);
        }
        ganet_tensor_destroy(tp);
        ganet_tensor_destroy(tm);
        ganet_tensor_destroy(tx);
        ganet_tensor_destroy(tw);
        ganet_layer_destroy(l);
    }
    print_message("finite differences: worst %.3g of the tolerance\n", worst);
}

/* At exactly 0, the derivative is the negative side's, as in PyTorch:
 * 0 for ReLU, the slope for LeakyReLU; and the value is 0. */
static void test_activation_gradient_at_zero(void **state)
{
    ganet_context *ctx = *state;
    const int64_t dims[4] = {1, 1, 1, 3};
    const float x[3] = {-1.0f, 0.0f, 2.0f}, ones[3] = {1, 1, 1};
    float y[3], g[3];
    for (int k = 0; k < 2; k++) {
        float slope = k ? 0.2f : 0.0f;
        ganet_layer *l = make(ctx, k ? LEAKY : RELU, slope);
        ganet_tensor *tx = tensor_4d(ctx, dims, x),
                     *t1 = tensor_4d(ctx, dims, ones);
        const ganet_tensor *ty, *tg;
        assert_int_equal(ganet_layer_forward(l, tx, GANET_MODE_INFERENCE, &ty),
                         GANET_OK);
        assert_int_equal(ganet_layer_backward(l, t1, &tg), GANET_OK);
        support_read_values(ty, y, 3);
        support_read_values(tg, g, 3);
        assert_true(y[0] == -slope && y[1] == 0.0f && y[2] == 2.0f);
        assert_true(g[0] == slope && g[1] == slope && g[2] == 1.0f);
        ganet_tensor_destroy(tx);
        ganet_tensor_destroy(t1);
        ganet_layer_destroy(l);
    }
}

/* A steady loop creates no primitive and allocates nothing; a new shape
 * builds a forward and a backward primitive, and backward without diff_src
 * builds none. */
static void test_activation_reuses_primitives(void **state)
{
    ganet_context *ctx = *state;
    const int64_t a[4] = {2, 3, 4, 4}, b[4] = {1, 3, 5, 2};
    ganet_layer *l = make(ctx, TANH, 0);
    ganet_tensor *xa = tensor_4d(ctx, a, NULL), *xb = tensor_4d(ctx, b, NULL);
    assert_int_equal(ganet_tensor_fill(xa, 0.3f), GANET_OK);
    assert_int_equal(ganet_tensor_fill(xb, -0.3f), GANET_OK);
    const ganet_tensor *y0, *g0, *y, *g;
    ganet_context_stats s0, s1, s2, s3;
    assert_int_equal(ganet_context_get_stats(ctx, &s0), GANET_OK);
    assert_int_equal(ganet_layer_forward(l, xa, GANET_MODE_TRAINING, &y0),
                     GANET_OK);
    assert_int_equal(ganet_layer_backward(l, xa, NULL), GANET_OK);
    assert_int_equal(ganet_context_get_stats(ctx, &s1), GANET_OK);
    assert_int_equal(s1.primitives_created, s0.primitives_created + 1);
    assert_int_equal(ganet_layer_backward(l, xa, &g0), GANET_OK);
    assert_int_equal(ganet_context_get_stats(ctx, &s1), GANET_OK);
    assert_int_equal(s1.primitives_created, s0.primitives_created + 2);

    for (int i = 0; i < 10; i++) {
        assert_int_equal(ganet_layer_forward(l, xa, GANET_MODE_TRAINING, &y),
                         GANET_OK);
        assert_int_equal(ganet_layer_backward(l, xa, &g), GANET_OK);
        assert_ptr_equal(y, y0);
        assert_ptr_equal(g, g0);
    }
    assert_int_equal(ganet_context_get_stats(ctx, &s2), GANET_OK);
    assert_int_equal(s2.primitives_created, s1.primitives_created);
    assert_int_equal(s2.allocations, s1.allocations);
    assert_int_equal(s2.bytes_in_use, s1.bytes_in_use);

    assert_int_equal(ganet_layer_forward(l, xb, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    assert_int_equal(ganet_layer_backward(l, xb, &g), GANET_OK);
    assert_int_equal(ganet_tensor_dim(g, 3), 2);
    assert_int_equal(ganet_context_get_stats(ctx, &s3), GANET_OK);
    assert_int_equal(s3.primitives_created, s2.primitives_created + 2);
    ganet_tensor_destroy(xa);
    ganet_tensor_destroy(xb);
    ganet_layer_destroy(l);
}

/* Rank 3 input, backward before forward, a gradient of the wrong shape and
 * tensors of another context, each with its exact status. */
static void test_activation_rejects_bad_input(void **state)
{
    ganet_context *ctx = *state, *other;
    assert_int_equal(ganet_context_create(NULL, &other), GANET_OK);
    const int64_t d3[3] = {2, 3, 4}, d4[4] = {2, 3, 4, 4},
                  bad[4] = {2, 3, 4, 5};
    ganet_tensor *x3, *x4 = tensor_4d(ctx, d4, NULL);
    ganet_tensor *wrong = tensor_4d(ctx, bad, NULL), *foreign;
    assert_int_equal(ganet_tensor_create(ctx, 3, d3, &x3), GANET_OK);
    assert_int_equal(ganet_tensor_create(other, 4, d4, &foreign), GANET_OK);
    ganet_layer *l = make(ctx, SIGMOID, 0);
    const ganet_tensor *y = x4, *g = x4;

    assert_int_equal(ganet_layer_backward(l, x4, &g), GANET_ERR_STATE);
    assert_null(g);
    assert_int_equal(ganet_layer_forward(l, x3, GANET_MODE_TRAINING, &y),
                     GANET_ERR_SHAPE);
    assert_null(y);
    assert_non_null(strstr(ganet_last_error(), "rank 3"));
    assert_int_equal(ganet_layer_forward(l, foreign, GANET_MODE_TRAINING, &y),
                     GANET_ERR_CONTEXT_MISMATCH);
    assert_int_equal(ganet_layer_forward(l, x4, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    assert_int_equal(ganet_layer_backward(l, wrong, &g), GANET_ERR_SHAPE);
    assert_null(g);
    assert_int_equal(ganet_layer_backward(l, foreign, &g),
                     GANET_ERR_CONTEXT_MISMATCH);
    assert_int_equal(ganet_layer_backward(l, NULL, &g), GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_layer_backward(l, x4, &g), GANET_OK);
    assert_non_null(g);

    ganet_tensor_destroy(x3);
    ganet_tensor_destroy(x4);
    ganet_tensor_destroy(wrong);
    ganet_tensor_destroy(foreign);
    ganet_layer_destroy(l);
    ganet_context_destroy(other);
}

/* LeakyReLU's slope must be finite and >= 0; 0 is allowed. */
static void test_activation_rejects_bad_slope(void **state)
{
    ganet_context *ctx = *state;
    const float bad[4] = {NAN, -0.1f, INFINITY, -INFINITY};
    for (int i = 0; i < 4; i++) {
        ganet_layer *l = (ganet_layer *)ctx;
        assert_int_equal(ganet_leaky_relu_create(ctx, bad[i], &l),
                         GANET_ERR_INVALID_ARGUMENT);
        assert_null(l);
    }
    ganet_layer *l = NULL;
    assert_int_equal(ganet_leaky_relu_create(ctx, 0.0f, &l), GANET_OK);
    ganet_layer_destroy(l);
    assert_int_equal(ganet_leaky_relu_create(ctx, 0.2f, NULL),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_leaky_relu_create(NULL, 0.2f, &l),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_relu_create(NULL, &l), GANET_ERR_NULL_POINTER);
    assert_null(l);
    assert_int_equal(ganet_tanh_create(ctx, NULL), GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_sigmoid_create(NULL, &l), GANET_ERR_NULL_POINTER);
}

/* PyTorch's names, no parameters, and a one-line summary. */
static void test_activation_kinds_and_summary(void **state)
{
    ganet_context *ctx = *state;
    const char *const names[4] = {"ReLU", "LeakyReLU", "Tanh", "Sigmoid"};
    const int64_t dims[4] = {1, 2, 3, 4};
    for (int k = 0; k < 4; k++) {
        ganet_layer *l = make(ctx, (kind)k, 0.2f);
        assert_string_equal(ganet_layer_kind(l), names[k]);
        assert_int_equal(ganet_layer_param_count(l), 0);
        assert_int_equal(ganet_layer_buffer_count(l), 0);
        assert_int_equal(ganet_layer_init(l, GANET_INIT_DCGAN), GANET_OK);
        assert_int_equal(ganet_layer_zero_grad(l), GANET_OK);
        int64_t out[4];
        assert_int_equal(ganet_layer_output_shape(l, dims, out), GANET_OK);
        assert_memory_equal(out, dims, sizeof out);
        char text[256], want[256];
        assert_int_equal(ganet_layer_summary(l, dims, text, sizeof text),
                         GANET_OK);
        snprintf(want, sizeof want,
                 "%s(%s): [1, 2, 3, 4] -> [1, 2, 3, 4], 0 parameters\n",
                 names[k], k == 1 ? "negative_slope 0.2" : "");
        assert_string_equal(text, want);
        ganet_layer_destroy(l);
    }
}

/* In place, a layer used on its own computes what it computes otherwise,
 * bit for bit, into tensors of its own: the caller's source and output
 * gradient keep their values. In a Sequential see test_sequential.c. */
static void test_activation_inplace_alone_keeps_caller_tensors(void **state)
{
    ganet_context *ctx = *state;
    const int64_t dims[4] = {2, 3, 4, 5};
    float xv[120], dv[120];
    for (int i = 0; i < 120; i++) {
        xv[i] = i % 7 == 0 ? 0.0f : 2.0f * sinf(0.9f * (float)i);
        dv[i] = cosf(0.4f * (float)i);
    }
    size_t bytes = sizeof xv;
    for (int k = 0; k < 4; k++) {
        ganet_layer *plain = make(ctx, (kind)k, 0.2f);
        ganet_layer *inplace = make(ctx, (kind)k, 0.2f);
        assert_false(ganet_layer_get_inplace(inplace));
        assert_int_equal(ganet_layer_set_inplace(inplace, true), GANET_OK);
        assert_true(ganet_layer_get_inplace(inplace));
        ganet_tensor *x = tensor_4d(ctx, dims, xv),
                     *dd = tensor_4d(ctx, dims, dv);
        const ganet_tensor *ya, *yb, *ga, *gb;
        assert_int_equal(
                ganet_layer_forward(plain, x, GANET_MODE_TRAINING, &ya),
                GANET_OK);
        assert_int_equal(
                ganet_layer_forward(inplace, x, GANET_MODE_TRAINING, &yb),
                GANET_OK);
        assert_int_equal(ganet_layer_backward(plain, dd, &ga), GANET_OK);
        assert_int_equal(ganet_layer_backward(inplace, dd, &gb), GANET_OK);
        assert_true(yb != x && gb != dd);
        float *a = support_values(ya), *b = support_values(yb);
        assert_memory_equal(a, b, bytes);
        free(a);
        free(b);
        a = support_values(ga);
        b = support_values(gb);
        assert_memory_equal(a, b, bytes);
        free(a);
        free(b);
        a = support_values(x);
        b = support_values(dd);
        assert_memory_equal(a, xv, bytes);
        assert_memory_equal(b, dv, bytes);
        free(a);
        free(b);
        assert_int_equal(ganet_layer_set_inplace(inplace, false), GANET_OK);
        assert_false(ganet_layer_get_inplace(inplace));
        ganet_tensor_destroy(x);
        ganet_tensor_destroy(dd);
        ganet_layer_destroy(plain);
        ganet_layer_destroy(inplace);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_activation_matches_pytorch),
            cmocka_unit_test(test_activation_gradient_finite_differences),
            cmocka_unit_test(test_activation_gradient_at_zero),
            cmocka_unit_test(test_activation_reuses_primitives),
            cmocka_unit_test(test_activation_rejects_bad_input),
            cmocka_unit_test(test_activation_rejects_bad_slope),
            cmocka_unit_test(test_activation_kinds_and_summary),
            cmocka_unit_test(
                    test_activation_inplace_alone_keeps_caller_tensors),
    };
    return cmocka_run_group_tests_name("activation", tests,
                                       support_context_setup,
                                       support_context_teardown);
}
