/* BatchNorm2d: values, gradients and running statistics against PyTorch,
 * gradient accumulation, finite differences in both modes, primitive
 * reuse, parameters and buffers, initialisation, and every error path. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ganet/batchnorm.h"
#include "layer_impl.h"
#include "ref_data.h"
#include "test_support.h"

/*
 * Tolerance against PyTorch: |a - b| <= atol + rtol * |b|. oneDNN and
 * PyTorch sum the N*H*W values of a channel (up to 105 here) in different
 * orders and with different vector widths, so the mean and variance differ
 * by a few float roundings of the sum; the normalised values are O(1), so
 * dst agrees to a few 1e-7. diff_src is gamma / sigma times the difference
 * of diff_dst, its mean and x_hat times the mean of diff_dst * x_hat,
 * terms that partly cancel, so its absolute error is that of the O(1)
 * terms: atol 1e-5. Sums such as diff_bias grow with N*H*W, and the
 * running variance multiplies by n / (n - 1): rtol 1e-4. Measured: under
 * 2% of this tolerance, 1.9e-6 absolute at most.
 */
#define REF_ATOL 1e-5
#define REF_RTOL 1e-4

/*
 * Finite differences: central, step 1e-2 on inputs and weights of order 1.
 * The loss sum(dst * R) is accumulated in double from 36 float outputs,
 * each rounded by about 6e-8; divided by 2 * step that is a noise of 2e-5
 * typically and 1e-4 at worst. The truncation error, step^2 / 6 times a
 * third derivative of order 1, is near 2e-5. Tolerance: 3e-4 absolute
 * plus 3e-3 relative (measured: under 3% of it).
 */
#define FD_STEP 1e-2f
#define FD_ATOL 3e-4
#define FD_RTOL 3e-3

static ganet_layer *make_bn(ganet_context *ctx, int64_t c, float eps,
                            float momentum, bool affine)
{
    ganet_batchnorm2d_options o = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
    o.num_features = c;
    o.eps = eps;
    o.momentum = momentum;
    o.affine = affine;
    ganet_layer *l = NULL;
    assert_int_equal(ganet_batchnorm2d_create(ctx, &o, &l), GANET_OK);
    return l;
}

static ganet_tensor *param(ganet_layer *l, const char *name, bool grad)
{
    ganet_tensor *v = NULL, *g = NULL;
    assert_int_equal(ganet_layer_find_param(l, name, &v, &g), GANET_OK);
    return grad ? g : v;
}

static ganet_tensor *buffer(ganet_layer *l, int index)
{
    ganet_tensor *v = NULL;
    assert_int_equal(ganet_layer_buffer(l, index, NULL, &v), GANET_OK);
    return v;
}

/* Fail unless a tensor is within the tolerance of an entry. worst[0]
 * keeps the largest error so far in units of the tolerance (<= 1 passes)
 * and worst[1] the largest absolute difference, for the log. */
static void compare(const ganet_tensor *t, const ref_entry *e, const char *what,
                    double *worst)
{
    double err = support_expect_close(t, e, REF_ATOL, REF_RTOL, what);
    double abs_err = support_max_error(t, e, 1.0, 0.0);
    worst[0] = fmax(worst[0], err);
    worst[1] = fmax(worst[1], abs_err);
}

static void run_reference_case(ganet_context *ctx, const char *name)
{
    ref_file *f = support_load_case("layers", name);
    const ref_entry *opt = support_entry(f, "options");
    assert_int_equal(opt->count, 5);
    bool affine = opt->data[3] != 0.0f;
    int steps = (int)opt->data[4];
    ganet_layer *l = make_bn(ctx, (int64_t)opt->data[0], opt->data[1],
                             opt->data[2], affine);
    if (affine) {
        const ref_entry *w = support_entry(f, "weight"),
                        *b = support_entry(f, "bias");
        assert_int_equal(ganet_tensor_copy_from(param(l, "weight", false),
                                                w->data, (size_t)w->count),
                         GANET_OK);
        assert_int_equal(ganet_tensor_copy_from(param(l, "bias", false),
                                                b->data, (size_t)b->count),
                         GANET_OK);
    }
    double worst[2] = {0.0, 0.0};
    compare(buffer(l, 0), support_entry(f, "running_mean.init"), name, worst);
    compare(buffer(l, 1), support_entry(f, "running_var.init"), name, worst);

    for (int k = 0; k < steps; k++) {
        ganet_tensor *src =
                support_tensor_from(ctx, support_entry_k(f, "src", k));
        ganet_tensor *dd =
                support_tensor_from(ctx, support_entry_k(f, "diff_dst", k));
        const ganet_tensor *dst = NULL, *ds = NULL;
        assert_int_equal(ganet_layer_zero_grad(l), GANET_OK);
        assert_int_equal(ganet_layer_forward(l, src, GANET_MODE_TRAINING, &dst),
                         GANET_OK);
        compare(dst, support_entry_k(f, "dst", k), "dst", worst);
        assert_int_equal(ganet_layer_backward(l, dd, &ds), GANET_OK);
        compare(ds, support_entry_k(f, "diff_src", k), "diff_src", worst);
        if (affine) {
            compare(param(l, "weight", true),
                    support_entry_k(f, "diff_weight", k), "diff_weight", worst);
            compare(param(l, "bias", true), support_entry_k(f, "diff_bias", k),
                    "diff_bias", worst);
        }
        compare(buffer(l, 0), support_entry_k(f, "running_mean", k),
                "running_mean", worst);
        compare(buffer(l, 1), support_entry_k(f, "running_var", k),
                "running_var", worst);
        ganet_tensor_destroy(src);
        ganet_tensor_destroy(dd);
    }

    ganet_tensor *src = support_tensor_from(ctx, support_entry(f, "eval.src"));
    ganet_tensor *dd =
            support_tensor_from(ctx, support_entry(f, "eval.diff_dst"));
    const ganet_tensor *dst = NULL, *ds = NULL;
    assert_int_equal(ganet_layer_forward(l, src, GANET_MODE_INFERENCE, &dst),
                     GANET_OK);
    compare(dst, support_entry(f, "eval.dst"), "eval.dst", worst);
    assert_int_equal(ganet_layer_backward(l, dd, &ds), GANET_OK);
    compare(ds, support_entry(f, "eval.diff_src"), "eval.diff_src", worst);
    print_message("%s: largest error %.3g of the tolerance, %.3g absolute\n",
                  name, worst[0], worst[1]);
    ganet_tensor_destroy(src);
    ganet_tensor_destroy(dd);
    ganet_layer_destroy(l);
    ref_file_free(f);
}

static void test_batchnorm_matches_pytorch(void **state)
{
    static const char *const cases[] = {
            "batchnorm2d_affine", "batchnorm2d_noaffine",
            "batchnorm2d_batch1_7x5", "batchnorm2d_eps1e-3_mom0.3"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_reference_case(*state, cases[i]);
}

/* Two backward passes without zero_grad add up the parameter gradients;
 * diff_src is the same each time. */
static void test_batchnorm_accumulates_gradients(void **state)
{
    ganet_context *ctx = *state;
    ref_file *f = support_load_case("layers", "batchnorm2d_affine");
    ganet_layer *l = make_bn(ctx, 3, 1e-5f, 0.1f, true);
    const ref_entry *w = support_entry(f, "weight");
    assert_int_equal(ganet_tensor_copy_from(param(l, "weight", false), w->data,
                                            (size_t)w->count),
                     GANET_OK);
    ganet_tensor *src = support_tensor_from(ctx, support_entry(f, "src.0"));
    ganet_tensor *dd = support_tensor_from(ctx, support_entry(f, "diff_dst.0"));
    const ganet_tensor *dst = NULL, *ds = NULL;
    float once_w[3], once_b[3], twice_w[3], twice_b[3];
    float once_ds[240], twice_ds[240];
    assert_int_equal(ganet_tensor_count(src), 240);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(ganet_layer_forward(l, src, GANET_MODE_TRAINING, &dst),
                         GANET_OK);
        assert_int_equal(ganet_layer_backward(l, dd, &ds), GANET_OK);
        assert_int_equal(
                ganet_tensor_copy_to(ds, pass ? twice_ds : once_ds, 240),
                GANET_OK);
        assert_int_equal(ganet_tensor_copy_to(param(l, "weight", true),
                                              pass ? twice_w : once_w, 3),
                         GANET_OK);
        assert_int_equal(ganet_tensor_copy_to(param(l, "bias", true),
                                              pass ? twice_b : once_b, 3),
                         GANET_OK);
    }
    for (int c = 0; c < 3; c++) {
        assert_float_equal(twice_w[c], 2.0f * once_w[c], 1e-6f);
        assert_float_equal(twice_b[c], 2.0f * once_b[c], 1e-6f);
    }
    assert_memory_equal(once_ds, twice_ds, sizeof once_ds);
    /* After zero_grad one more backward of the same forward pass gives
     * PyTorch's gradients again (the bias only shifts dst, so its value
     * does not matter). */
    double worst[2] = {0.0, 0.0};
    assert_int_equal(ganet_layer_zero_grad(l), GANET_OK);
    assert_int_equal(ganet_layer_backward(l, dd, NULL), GANET_OK);
    compare(param(l, "weight", true), support_entry(f, "diff_weight.0"),
            "diff_weight", worst);
    compare(param(l, "bias", true), support_entry(f, "diff_bias.0"),
            "diff_bias", worst);
    ganet_tensor_destroy(src);
    ganet_tensor_destroy(dd);
    ganet_layer_destroy(l);
    ref_file_free(f);
}

/* sum(dst * r) in double, after a forward pass in the given mode. */
static double weighted_sum(ganet_layer *l, const ganet_tensor *src,
                           ganet_mode mode, const float *r, float *buf,
                           int64_t n)
{
    const ganet_tensor *dst = NULL;
    assert_int_equal(ganet_layer_forward(l, src, mode, &dst), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(dst, buf, (size_t)n), GANET_OK);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)buf[i] * r[i];
    return s;
}

/* Central difference of the loss for values[i] of tensor t. */
static double central_difference(ganet_layer *l, ganet_tensor *t, float *values,
                                 int64_t count, int64_t i,
                                 const ganet_tensor *src, ganet_mode mode,
                                 const float *r, float *buf, int64_t n)
{
    float keep = values[i];
    values[i] = keep + FD_STEP;
    assert_int_equal(ganet_tensor_copy_from(t, values, (size_t)count),
                     GANET_OK);
    double up = weighted_sum(l, src, mode, r, buf, n);
    values[i] = keep - FD_STEP;
    assert_int_equal(ganet_tensor_copy_from(t, values, (size_t)count),
                     GANET_OK);
    double down = weighted_sum(l, src, mode, r, buf, n);
    values[i] = keep;
    assert_int_equal(ganet_tensor_copy_from(t, values, (size_t)count),
                     GANET_OK);
    return (up - down) / (2.0 * (double)FD_STEP);
}

static double fd_error(double numeric, float analytic)
{
    return fabs(numeric - analytic) / (FD_ATOL + FD_RTOL * fabs(numeric));
}

/* Finite differences of diff_src, diff_weight and diff_bias against the
 * loss sum(dst * R) for a fixed random R, in both modes. */
static void check_gradients(ganet_context *ctx, ganet_mode mode)
{
    enum { N = 3, C = 2, H = 3, W = 2, COUNT = N * C * H * W };
    float x[COUNT], r[COUNT], buf[COUNT], ds_v[COUNT], w_v[C], b_v[C];
    float dw[C], db[C];
    ganet_tensor *src, *rt;
    assert_int_equal(ganet_tensor_create_4d(ctx, N, C, H, W, &src), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, N, C, H, W, &rt), GANET_OK);
    assert_int_equal(ganet_tensor_fill_normal(src, 0.5f, 1.5f), GANET_OK);
    assert_int_equal(ganet_tensor_fill_normal(rt, 0.0f, 1.0f), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(src, x, COUNT), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(rt, r, COUNT), GANET_OK);

    ganet_layer *l = make_bn(ctx, C, 1e-5f, 0.1f, true);
    ganet_tensor *w = param(l, "weight", false), *b = param(l, "bias", false);
    const float w0[C] = {1.3f, -0.7f}, b0[C] = {0.2f, -0.4f};
    memcpy(w_v, w0, sizeof w_v);
    memcpy(b_v, b0, sizeof b_v);
    assert_int_equal(ganet_tensor_copy_from(w, w_v, C), GANET_OK);
    assert_int_equal(ganet_tensor_copy_from(b, b_v, C), GANET_OK);
    /* Running statistics away from 0 and 1 make inference mode a real
     * test; training passes change them but never read them. */
    const float rm[C] = {0.3f, -0.2f}, rv[C] = {1.7f, 0.6f};
    assert_int_equal(ganet_tensor_copy_from(buffer(l, 0), rm, C), GANET_OK);
    assert_int_equal(ganet_tensor_copy_from(buffer(l, 1), rv, C), GANET_OK);

    const ganet_tensor *dst = NULL, *ds = NULL;
    assert_int_equal(ganet_layer_zero_grad(l), GANET_OK);
    assert_int_equal(ganet_layer_forward(l, src, mode, &dst), GANET_OK);
    assert_int_equal(ganet_layer_backward(l, rt, &ds), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(ds, ds_v, COUNT), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(param(l, "weight", true), dw, C),
                     GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(param(l, "bias", true), db, C),
                     GANET_OK);

    double worst = 0.0;
    for (int64_t i = 0; i < COUNT; i++) {
        double num = central_difference(l, src, x, COUNT, i, src, mode, r, buf,
                                        COUNT);
        double e = fd_error(num, ds_v[i]);
        if (e > 1.0)
            fail_msg("diff_src[%lld]: %g by differences, %g by backward",
                     (long long)i, num, (double)ds_v[i]);
        worst = e > worst ? e : worst;
    }
    for (int64_t c = 0; c < C; c++) {
        double nw =
                central_difference(l, w, w_v, C, c, src, mode, r, buf, COUNT);
        double nb =
                central_difference(l, b, b_v, C, c, src, mode, r, buf, COUNT);
        if (fd_error(nw, dw[c]) > 1.0 || fd_error(nb, db[c]) > 1.0)
            fail_msg("channel %lld: diff_weight %g vs %g, diff_bias %g vs "
                     "%g",
                     (long long)c, nw, (double)dw[c], nb, (double)db[c]);
        worst = fmax(worst, fmax(fd_error(nw, dw[c]), fd_error(nb, db[c])));
    }
    print_message("%s: largest finite-difference error %.3g of the "
                  "tolerance\n",
                  mode == GANET_MODE_TRAINING ? "training" : "inference",
                  worst);
    ganet_tensor_destroy(src);
    ganet_tensor_destroy(rt);
    ganet_layer_destroy(l);
}

static void test_batchnorm_gradient_finite_differences(void **state)
{
    check_gradients(*state, GANET_MODE_TRAINING);
    check_gradients(*state, GANET_MODE_INFERENCE);
}

/* Once both modes have run at a shape, further passes create no primitive
 * and allocate nothing; a new shape builds again. */
static void test_batchnorm_reuses_primitives(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *l = make_bn(ctx, 4, 1e-5f, 0.1f, true);
    ganet_tensor *src, *dd, *other, *other_dd;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 4, 3, 3, &src), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 4, 3, 3, &dd), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 3, 4, 2, 2, &other), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 3, 4, 2, 2, &other_dd),
                     GANET_OK);
    assert_int_equal(ganet_tensor_fill_normal(src, 0.0f, 1.0f), GANET_OK);
    assert_int_equal(ganet_tensor_fill_normal(dd, 0.0f, 1.0f), GANET_OK);
    assert_int_equal(ganet_tensor_fill_normal(other, 0.0f, 1.0f), GANET_OK);
    assert_int_equal(ganet_tensor_fill(other_dd, 1.0f), GANET_OK);
    const ganet_tensor *dst = NULL, *ds = NULL;
    ganet_context_stats before, after;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(ganet_context_get_stats(ctx, &before), GANET_OK);
        for (int m = 0; m < 2; m++) {
            ganet_mode mode = m ? GANET_MODE_INFERENCE : GANET_MODE_TRAINING;
            assert_int_equal(ganet_layer_forward(l, src, mode, &dst), GANET_OK);
            assert_int_equal(ganet_layer_backward(l, dd, &ds), GANET_OK);
        }
        assert_int_equal(ganet_context_get_stats(ctx, &after), GANET_OK);
        if (round == 0) {
            /* forward and backward for each mode */
            assert_int_equal(
                    after.primitives_created - before.primitives_created, 4);
        } else {
            assert_int_equal(after.primitives_created,
                             before.primitives_created);
            assert_int_equal(after.allocations, before.allocations);
        }
    }
    assert_int_equal(ganet_context_get_stats(ctx, &before), GANET_OK);
    assert_int_equal(ganet_layer_forward(l, other, GANET_MODE_TRAINING, &dst),
                     GANET_OK);
    assert_int_equal(ganet_layer_backward(l, other_dd, &ds), GANET_OK);
    assert_int_equal(ganet_context_get_stats(ctx, &after), GANET_OK);
    assert_int_equal(after.primitives_created - before.primitives_created, 2);
    assert_int_equal(ganet_tensor_dim(dst, 0), 3);
    assert_int_equal(ganet_tensor_dim(ds, 2), 2);
    ganet_tensor_destroy(src);
    ganet_tensor_destroy(dd);
    ganet_tensor_destroy(other);
    ganet_tensor_destroy(other_dd);
    ganet_layer_destroy(l);
}

/* Without affine there are no parameters, only the two buffers. */
static void test_batchnorm_lists_params_and_buffers(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *l = make_bn(ctx, 5, 1e-5f, 0.1f, true);
    const char *name = NULL;
    ganet_tensor *v = NULL, *g = NULL;
    assert_string_equal(ganet_layer_kind(l), "BatchNorm2d");
    assert_int_equal(ganet_layer_param_count(l), 2);
    assert_int_equal(ganet_layer_param_values(l), 10);
    assert_int_equal(ganet_layer_param(l, 0, &name, &v, &g), GANET_OK);
    assert_string_equal(name, "weight");
    assert_int_equal(ganet_tensor_rank(v), 1);
    assert_int_equal(ganet_tensor_dim(v, 0), 5);
    assert_non_null(g);
    assert_int_equal(ganet_layer_param(l, 1, &name, &v, &g), GANET_OK);
    assert_string_equal(name, "bias");
    assert_int_equal(ganet_layer_buffer_count(l), 2);
    assert_int_equal(ganet_layer_buffer(l, 0, &name, &v), GANET_OK);
    assert_string_equal(name, "running_mean");
    assert_int_equal(ganet_layer_buffer(l, 1, &name, &v), GANET_OK);
    assert_string_equal(name, "running_var");
    assert_int_equal(ganet_tensor_dim(v, 0), 5);
    ganet_layer_destroy(l);

    l = make_bn(ctx, 2, 1e-5f, 0.1f, false);
    assert_int_equal(ganet_layer_param_count(l), 0);
    assert_int_equal(ganet_layer_buffer_count(l), 2);
    assert_int_equal(ganet_layer_find_param(l, "weight", &v, &g),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_layer_init(l, GANET_INIT_DCGAN), GANET_OK);
    ganet_layer_destroy(l);
}

/* PyTorch's init is weight 1, bias 0; DC-GAN's draws weight from
 * N(1, 0.02). Both reset the running statistics. */
static void test_batchnorm_init_schemes(void **state)
{
    ganet_context *ctx = *state;
    enum { C = 64 };
    ganet_layer *l = make_bn(ctx, C, 1e-5f, 0.1f, true);
    float w[C], b[C], rm[C], rv[C];
    ganet_tensor *src;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, C, 2, 2, &src), GANET_OK);
    assert_int_equal(ganet_tensor_fill_normal(src, 3.0f, 2.0f), GANET_OK);
    for (int scheme = 0; scheme < 2; scheme++) {
        const ganet_tensor *dst = NULL;
        assert_int_equal(ganet_layer_forward(l, src, GANET_MODE_TRAINING, &dst),
                         GANET_OK);
        assert_int_equal(ganet_layer_init(l, (ganet_init)scheme), GANET_OK);
        assert_int_equal(ganet_tensor_copy_to(param(l, "weight", false), w, C),
                         GANET_OK);
        assert_int_equal(ganet_tensor_copy_to(param(l, "bias", false), b, C),
                         GANET_OK);
        assert_int_equal(ganet_tensor_copy_to(buffer(l, 0), rm, C), GANET_OK);
        assert_int_equal(ganet_tensor_copy_to(buffer(l, 1), rv, C), GANET_OK);
        double sum = 0.0, sq = 0.0;
        for (int c = 0; c < C; c++) {
            assert_true(b[c] == 0.0f && rm[c] == 0.0f && rv[c] == 1.0f);
            if (scheme == GANET_INIT_PYTORCH)
                assert_true(w[c] == 1.0f);
            sum += w[c];
            sq += (w[c] - 1.0) * (w[c] - 1.0);
        }
        if (scheme == GANET_INIT_DCGAN) {
            /* 64 draws: the mean is within 4 standard errors of 1 and the
             * spread within a factor of 2 of 0.02. */
            assert_true(fabs(sum / C - 1.0) < 4 * 0.02 / 8);
            double sd = sqrt(sq / C);
            assert_true(sd > 0.01 && sd < 0.04);
        }
    }
    assert_int_equal(ganet_layer_init(l, (ganet_init)7),
                     GANET_ERR_INVALID_ARGUMENT);
    ganet_tensor_destroy(src);
    ganet_layer_destroy(l);
}

static void test_batchnorm_describes_options(void **state)
{
    ganet_layer *l = make_bn(*state, 4, 1e-3f, 0.3f, false);
    const int64_t dims[4] = {2, 4, 3, 3};
    char buf[128];
    l->ops->describe(l, dims, dims, buf, sizeof buf);
    assert_string_equal(buf,
                        "BatchNorm2d(4, eps 0.001, momentum 0.3, affine off)");
    ganet_layer_destroy(l);
}

/* Wrong channel counts and single-value batches in training are refused
 * with GANET_ERR_SHAPE; the layer keeps its last forward pass and its
 * running statistics. */
static void test_batchnorm_rejects_bad_input(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *l = make_bn(ctx, 4, 1e-5f, 0.1f, true);
    ganet_tensor *good, *dd, *three, *single;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 4, 2, 2, &good), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 4, 2, 2, &dd), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 3, 2, 2, &three), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 1, 4, 1, 1, &single),
                     GANET_OK);
    assert_int_equal(ganet_tensor_fill_normal(good, 0.0f, 1.0f), GANET_OK);
    assert_int_equal(ganet_tensor_fill_normal(dd, 0.0f, 1.0f), GANET_OK);
    const ganet_tensor *dst = NULL, *ds = NULL;
    float first[32], again[32], rm[4], rm_after[4];

    /* Backward before any forward pass. */
    assert_int_equal(ganet_layer_backward(l, dd, &ds), GANET_ERR_STATE);

    assert_int_equal(ganet_layer_forward(l, good, GANET_MODE_TRAINING, &dst),
                     GANET_OK);
    assert_int_equal(ganet_layer_backward(l, dd, &ds), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(ds, first, 32), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(buffer(l, 0), rm, 4), GANET_OK);

    dst = (const ganet_tensor *)1;
    assert_int_equal(ganet_layer_forward(l, three, GANET_MODE_TRAINING, &dst),
                     GANET_ERR_SHAPE);
    assert_null(dst);
    assert_string_equal(
            ganet_last_error(),
            "BatchNorm2d: input has 3 channels, the layer expects 4");
    int64_t out[4];
    assert_int_equal(ganet_layer_output_shape(l, three->dims, out),
                     GANET_ERR_SHAPE);

    assert_int_equal(ganet_layer_forward(l, single, GANET_MODE_TRAINING, &dst),
                     GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(), "N*H*W = 1"));
    /* Inference has no batch statistics to estimate. */
    assert_int_equal(ganet_layer_forward(l, single, GANET_MODE_INFERENCE, &dst),
                     GANET_OK);
    assert_int_equal(ganet_tensor_dim(dst, 0), 1);

    /* Back to the first input: the failures changed nothing. */
    assert_int_equal(ganet_tensor_copy_to(buffer(l, 0), rm_after, 4), GANET_OK);
    assert_memory_equal(rm, rm_after, sizeof rm);
    assert_int_equal(ganet_tensor_copy_from(buffer(l, 0), (float[4]){0}, 4),
                     GANET_OK);
    assert_int_equal(ganet_tensor_fill(buffer(l, 1), 1.0f), GANET_OK);
    assert_int_equal(ganet_layer_forward(l, good, GANET_MODE_TRAINING, &dst),
                     GANET_OK);
    assert_int_equal(ganet_layer_forward(l, three, GANET_MODE_INFERENCE, &dst),
                     GANET_ERR_SHAPE);
    assert_int_equal(ganet_layer_backward(l, dd, &ds), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(ds, again, 32), GANET_OK);
    assert_memory_equal(first, again, sizeof first);
    assert_int_equal(ganet_tensor_copy_to(buffer(l, 0), rm_after, 4), GANET_OK);
    assert_memory_equal(rm, rm_after, sizeof rm);

    /* A gradient of the wrong shape. */
    assert_int_equal(ganet_layer_backward(l, three, &ds), GANET_ERR_SHAPE);
    ganet_tensor_destroy(good);
    ganet_tensor_destroy(dd);
    ganet_tensor_destroy(three);
    ganet_tensor_destroy(single);
    ganet_layer_destroy(l);
}

static void test_batchnorm_create_rejects_bad_options(void **state)
{
    ganet_context *ctx = *state;
    static const struct {
        int64_t c;
        float eps, momentum;
        const char *message;
    } bad[] = {
            {0, 1e-5f, 0.1f, "num_features is 0"},
            {-3, 1e-5f, 0.1f, "num_features is -3"},
            {4, 0.0f, 0.1f, "eps is 0"},
            {4, -1e-5f, 0.1f, "eps is -1e-05"},
            {4, NAN, 0.1f, "eps is nan"},
            {4, INFINITY, 0.1f, "eps is inf"},
            {4, 1e-5f, -0.1f, "momentum is -0.1"},
            {4, 1e-5f, 1.5f, "momentum is 1.5"},
            {4, 1e-5f, NAN, "momentum is nan"},
    };
    ganet_batchnorm2d_options o = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
    ganet_layer *l = (ganet_layer *)1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o.num_features = bad[i].c;
        o.eps = bad[i].eps;
        o.momentum = bad[i].momentum;
        l = (ganet_layer *)1;
        assert_int_equal(ganet_batchnorm2d_create(ctx, &o, &l),
                         GANET_ERR_INVALID_ARGUMENT);
        assert_null(l);
        if (strstr(ganet_last_error(), bad[i].message) == NULL)
            fail_msg("expected '%s' in '%s'", bad[i].message,
                     ganet_last_error());
    }
    /* The limits themselves are accepted. */
    o.num_features = 1;
    o.eps = 1e-5f;
    for (int m = 0; m < 2; m++) {
        o.momentum = (float)m;
        assert_int_equal(ganet_batchnorm2d_create(ctx, &o, &l), GANET_OK);
        ganet_layer_destroy(l);
    }
    assert_int_equal(ganet_batchnorm2d_create(NULL, &o, &l),
                     GANET_ERR_NULL_POINTER);
    assert_null(l);
    assert_int_equal(ganet_batchnorm2d_create(ctx, NULL, &l),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_batchnorm2d_create(ctx, &o, NULL),
                     GANET_ERR_NULL_POINTER);
}

/* Momentum 0 keeps the running statistics; momentum 1 replaces them with
 * the batch's (the variance made unbiased). */
static void test_batchnorm_momentum_limits(void **state)
{
    ganet_context *ctx = *state;
    const float x[4] = {1.0f, 2.0f, 4.0f, 9.0f};
    ganet_tensor *src;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 1, 2, 1, &src), GANET_OK);
    assert_int_equal(ganet_tensor_copy_from(src, x, 4), GANET_OK);
    for (int m = 0; m < 2; m++) {
        ganet_layer *l = make_bn(ctx, 1, 1e-5f, (float)m, false);
        const ganet_tensor *dst = NULL;
        float rm, rv;
        assert_int_equal(ganet_layer_forward(l, src, GANET_MODE_TRAINING, &dst),
                         GANET_OK);
        assert_int_equal(ganet_tensor_copy_to(buffer(l, 0), &rm, 1), GANET_OK);
        assert_int_equal(ganet_tensor_copy_to(buffer(l, 1), &rv, 1), GANET_OK);
        /* mean 4, squared deviations 9 + 4 + 0 + 25 = 38, 38 / 3 */
        assert_float_equal(rm, m ? 4.0f : 0.0f, 1e-6f);
        assert_float_equal(rv, m ? 38.0f / 3.0f : 1.0f, 1e-5f);
        ganet_layer_destroy(l);
    }
    ganet_tensor_destroy(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_batchnorm_matches_pytorch),
            cmocka_unit_test(test_batchnorm_accumulates_gradients),
            cmocka_unit_test(test_batchnorm_gradient_finite_differences),
            cmocka_unit_test(test_batchnorm_reuses_primitives),
            cmocka_unit_test(test_batchnorm_lists_params_and_buffers),
            cmocka_unit_test(test_batchnorm_init_schemes),
            cmocka_unit_test(test_batchnorm_describes_options),
            cmocka_unit_test(test_batchnorm_rejects_bad_input),
            cmocka_unit_test(test_batchnorm_create_rejects_bad_options),
            cmocka_unit_test(test_batchnorm_momentum_limits),
    };
    return cmocka_run_group_tests_name("batchnorm", tests,
                                       support_context_setup,
                                       support_context_teardown);
}
