/* Sequential: ownership and refusals, parameter names through nesting,
 * forward and backward against the children run by hand, skipping the
 * first source gradient, the empty Sequential, summaries, and in-place
 * activations. */
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
#include "ganet/batchnorm.h"
#include "ganet/conv.h"
#include "ganet/sequential.h"
#include "internal.h"
#include "test_support.h"

static ganet_layer *conv(ganet_context *ctx, bool transposed, int64_t cin,
                         int64_t cout, int64_t k, int64_t s, int64_t p,
                         bool bias)
{
    ganet_conv2d_options o = GANET_CONV2D_OPTIONS_DEFAULT;
    o.in_channels = cin;
    o.out_channels = cout;
    o.kernel[0] = o.kernel[1] = k;
    o.stride[0] = o.stride[1] = s;
    o.padding[0] = o.padding[1] = p;
    o.bias = bias;
    ganet_layer *l = NULL;
    assert_int_equal(transposed ? ganet_conv_transpose2d_create(ctx, &o, &l)
                                : ganet_conv2d_create(ctx, &o, &l),
                     GANET_OK);
    return l;
}

static ganet_layer *act(ganet_context *ctx, int which)
{
    ganet_layer *l = NULL;
    ganet_status st = which == 0   ? ganet_relu_create(ctx, &l)
                      : which == 1 ? ganet_leaky_relu_create(ctx, 0.2f, &l)
                      : which == 2 ? ganet_tanh_create(ctx, &l)
                                   : ganet_sigmoid_create(ctx, &l);
    assert_int_equal(st, GANET_OK);
    return l;
}

static ganet_layer *sequential(ganet_context *ctx)
{
    ganet_layer *s = NULL;
    assert_int_equal(ganet_sequential_create(ctx, &s), GANET_OK);
    return s;
}

static void add(ganet_layer *seq, ganet_layer *child)
{
    assert_int_equal(ganet_sequential_add(seq, child), GANET_OK);
}

static ganet_tensor *filled(ganet_context *ctx, const int64_t *dims,
                            float scale)
{
    ganet_tensor *t = NULL;
    assert_int_equal(ganet_tensor_create(ctx, 4, dims, &t), GANET_OK);
    int64_t n = ganet_tensor_count(t);
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = scale * sinf(0.7f * (float)i + 0.3f);
    assert_int_equal(ganet_tensor_copy_from(t, v, (size_t)n), GANET_OK);
    free(v);
    return t;
}

static void assert_param_name(ganet_layer *l, int index, const char *want)
{
    const char *name = NULL;
    assert_int_equal(ganet_layer_param(l, index, &name, NULL, NULL), GANET_OK);
    assert_string_equal(name, want);
}

/* An added child belongs to the Sequential, which destroys it (valgrind
 * checks that nothing leaks or is freed twice). */
static void test_sequential_takes_ownership(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *s = sequential(ctx), *c = act(ctx, 0);
    assert_string_equal(ganet_layer_kind(s), "Sequential");
    assert_int_equal(ganet_sequential_count(s), 0);
    add(s, c);
    assert_int_equal(ganet_sequential_count(s), 1);
    assert_ptr_equal(ganet_sequential_child(s, 0), c);
    assert_null(ganet_sequential_child(s, 1));
    assert_null(ganet_sequential_child(s, -1));
    assert_null(ganet_sequential_child(c, 0));
    assert_int_equal(ganet_sequential_count(c), 0);
    assert_int_equal(ganet_sequential_count(NULL), 0);
    ganet_layer_destroy(s);
}

/* Refusals change nothing, and the refused child stays the caller's. */
static void test_sequential_refuses_bad_children(void **state)
{
    ganet_context *ctx = *state, *other;
    assert_int_equal(ganet_context_create(NULL, &other), GANET_OK);
    ganet_layer *outer = sequential(ctx), *inner = sequential(ctx);
    ganet_layer *second = sequential(ctx), *relu = act(ctx, 0);
    ganet_layer *foreign = NULL;
    assert_int_equal(ganet_relu_create(other, &foreign), GANET_OK);
    add(inner, conv(ctx, false, 1, 2, 3, 1, 1, true));
    add(outer, inner);

    assert_int_equal(ganet_sequential_add(NULL, relu), GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_sequential_add(outer, NULL), GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_sequential_add(relu, second),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_sequential_add(outer, foreign),
                     GANET_ERR_CONTEXT_MISMATCH);
    assert_int_equal(ganet_sequential_add(second, inner),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "already belongs"));
    assert_int_equal(ganet_sequential_add(outer, outer),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_sequential_add(inner, outer),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "contain itself"));
    assert_int_equal(ganet_sequential_add(inner, inner),
                     GANET_ERR_INVALID_ARGUMENT);

    assert_int_equal(ganet_sequential_count(outer), 1);
    assert_int_equal(ganet_sequential_count(inner), 1);
    assert_int_equal(ganet_sequential_count(second), 0);
    assert_int_equal(ganet_layer_param_count(outer), 2);
    assert_param_name(outer, 0, "0.0.weight");

    ganet_layer_destroy(relu);
    ganet_layer_destroy(foreign);
    ganet_layer_destroy(second);
    ganet_layer_destroy(outer);
    ganet_context_destroy(other);
}

/* Names carry the index path, through nesting and through children added
 * to a Sequential after it was itself added; the tensors are the
 * children's own. */
static void test_sequential_names_params_through_nesting(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *model = sequential(ctx), *inner = sequential(ctx);
    ganet_layer *c0 = conv(ctx, false, 3, 4, 3, 1, 1, true);
    ganet_layer *c21 = conv(ctx, false, 4, 4, 1, 1, 0, true);
    add(model, c0);
    add(model, act(ctx, 1));
    add(inner, conv(ctx, true, 4, 4, 3, 1, 1, false));
    add(model, inner);
    add(inner, c21);
    add(model, act(ctx, 3));
    add(inner, act(ctx, 0));
    add(inner, conv(ctx, false, 4, 2, 1, 1, 0, true));

    static const char *const names[] = {"0.weight",   "0.bias",   "2.0.weight",
                                        "2.1.weight", "2.1.bias", "2.3.weight",
                                        "2.3.bias"};
    assert_int_equal(ganet_layer_param_count(model), 7);
    for (int i = 0; i < 7; i++)
        assert_param_name(model, i, names[i]);
    assert_int_equal(ganet_layer_param_count(inner), 5);
    assert_param_name(inner, 1, "1.weight");
    assert_int_equal(ganet_layer_buffer_count(model), 0);

    ganet_tensor *v, *g, *cv, *cg;
    assert_int_equal(ganet_layer_find_param(model, "2.1.bias", &v, &g),
                     GANET_OK);
    assert_int_equal(ganet_layer_find_param(c21, "bias", &cv, &cg), GANET_OK);
    assert_ptr_equal(v, cv);
    assert_ptr_equal(g, cg);
    assert_int_equal(ganet_layer_find_param(model, "0.weight", &v, NULL),
                     GANET_OK);
    assert_int_equal(ganet_layer_find_param(c0, "weight", &cv, NULL), GANET_OK);
    assert_ptr_equal(v, cv);
    assert_int_equal(ganet_layer_find_param(model, "1.weight", &v, NULL),
                     GANET_ERR_INVALID_ARGUMENT);
    /* 3*4*9+4, 4*4*9, 4*4+4, 4*2+2 */
    assert_int_equal(ganet_layer_param_values(model), 112 + 144 + 20 + 10);
    ganet_layer_destroy(model);
}

/* Two copies of a small model with the same weights: the Sequential's
 * forward and backward equal its children run by hand, to the bit. */
static void test_sequential_equals_children_by_hand(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *hand[4] = {conv(ctx, false, 2, 3, 3, 1, 1, true), act(ctx, 1),
                            conv(ctx, true, 3, 2, 4, 2, 1, true), act(ctx, 2)};
    ganet_layer *model = sequential(ctx);
    add(model, conv(ctx, false, 2, 3, 3, 1, 1, true));
    add(model, act(ctx, 1));
    add(model, conv(ctx, true, 3, 2, 4, 2, 1, true));
    add(model, act(ctx, 2));
    int k = 0;
    for (int i = 0; i < 4; i++)
        for (int p = 0; p < ganet_layer_param_count(hand[i]); p++, k++) {
            ganet_tensor *src, *dst;
            assert_int_equal(ganet_layer_param(hand[i], p, NULL, &src, NULL),
                             GANET_OK);
            assert_int_equal(ganet_layer_param(model, k, NULL, &dst, NULL),
                             GANET_OK);
            assert_int_equal(ganet_tensor_copy(dst, src), GANET_OK);
        }
    assert_int_equal(k, ganet_layer_param_count(model));

    const int64_t in[4] = {2, 2, 5, 4}, out[4] = {2, 2, 10, 8};
    ganet_tensor *x = filled(ctx, in, 1.0f), *dd = filled(ctx, out, 0.5f);
    const ganet_tensor *y, *ds, *h = x;
    int64_t shape[4];
    assert_int_equal(ganet_layer_output_shape(model, in, shape), GANET_OK);
    assert_memory_equal(shape, out, sizeof shape);
    assert_int_equal(ganet_layer_forward(model, x, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(
                ganet_layer_forward(hand[i], h, GANET_MODE_TRAINING, &h),
                GANET_OK);
    support_assert_same_values(y, h);

    /* Twice, so the gradients accumulate on both sides. */
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(ganet_layer_backward(model, dd, &ds), GANET_OK);
        const ganet_tensor *gh = dd;
        for (int i = 3; i >= 0; i--)
            assert_int_equal(ganet_layer_backward(hand[i], gh, &gh), GANET_OK);
        support_assert_same_values(ds, gh);
    }
    k = 0;
    for (int i = 0; i < 4; i++)
        for (int p = 0; p < ganet_layer_param_count(hand[i]); p++, k++) {
            ganet_tensor *a, *b;
            assert_int_equal(ganet_layer_param(hand[i], p, NULL, NULL, &a),
                             GANET_OK);
            assert_int_equal(ganet_layer_param(model, k, NULL, NULL, &b),
                             GANET_OK);
            support_assert_same_values(a, b);
        }

    /* zero_grad and init reach the children. */
    assert_int_equal(ganet_layer_zero_grad(model), GANET_OK);
    ganet_tensor *w, *gw;
    assert_int_equal(ganet_layer_param(ganet_sequential_child(model, 2), 0,
                                       NULL, &w, &gw),
                     GANET_OK);
    float *gv = support_values(gw);
    for (int64_t i = 0; i < ganet_tensor_count(gw); i++)
        assert_true(gv[i] == 0.0f);
    free(gv);
    assert_int_equal(ganet_layer_init(model, GANET_INIT_DCGAN), GANET_OK);
    ganet_tensor *bias;
    assert_int_equal(ganet_layer_find_param(model, "2.bias", &bias, NULL),
                     GANET_OK);
    float *bv = support_values(bias);
    assert_true(bv[0] == 0.0f && bv[1] == 0.0f);
    free(bv);

    for (int i = 0; i < 4; i++)
        ganet_layer_destroy(hand[i]);
    ganet_layer_destroy(model);
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(dd);
}

/* Without diff_src the first convolution builds no backward-data
 * primitive, and the parameter gradients are the same. */
static void test_sequential_skips_first_diff_src(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *model = sequential(ctx);
    add(model, conv(ctx, false, 1, 2, 3, 1, 1, false));
    add(model, act(ctx, 0));
    add(model, conv(ctx, false, 2, 1, 3, 1, 1, false));
    const int64_t in[4] = {1, 1, 6, 6};
    ganet_tensor *x = filled(ctx, in, 1.0f), *dd = filled(ctx, in, 1.0f);
    const ganet_tensor *y, *ds = x;
    ganet_tensor *g0;
    assert_int_equal(ganet_layer_find_param(model, "0.weight", NULL, &g0),
                     GANET_OK);
    assert_int_equal(ganet_layer_forward(model, x, GANET_MODE_TRAINING, &y),
                     GANET_OK);

    ganet_context_stats s0, s1, s2;
    assert_int_equal(ganet_context_get_stats(ctx, &s0), GANET_OK);
    assert_int_equal(ganet_layer_backward(model, dd, NULL), GANET_OK);
    assert_int_equal(ganet_context_get_stats(ctx, &s1), GANET_OK);
    /* conv 2: data and weights; ReLU: one; conv 0: weights only. */
    assert_int_equal(s1.primitives_created, s0.primitives_created + 4);
    float *first = support_values(g0);

    assert_int_equal(ganet_layer_zero_grad(model), GANET_OK);
    assert_int_equal(ganet_layer_backward(model, dd, &ds), GANET_OK);
    assert_non_null(ds);
    assert_int_equal(ganet_context_get_stats(ctx, &s2), GANET_OK);
    assert_int_equal(s2.primitives_created, s1.primitives_created + 1);
    float *second = support_values(g0);
    assert_memory_equal(first, second,
                        (size_t)ganet_tensor_count(g0) * sizeof *first);
    free(first);
    free(second);
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(dd);
    ganet_layer_destroy(model);
}

/* A plain copy of t, so a layer meets its input in the caller's layout. */
static ganet_tensor *plain_copy(ganet_context *ctx, const ganet_tensor *t)
{
    int64_t dims[4];
    assert_int_equal(ganet_tensor_get_dims(t, dims), GANET_OK);
    ganet_tensor *c = NULL;
    assert_int_equal(ganet_tensor_create(ctx, 4, dims, &c), GANET_OK);
    float *v = support_values(t);
    assert_int_equal(
            ganet_tensor_copy_from(c, v, (size_t)ganet_tensor_count(t)),
            GANET_OK);
    free(v);
    return c;
}

static void assert_close_values(const ganet_tensor *a, const ganet_tensor *b)
{
    int64_t n = ganet_tensor_count(a);
    assert_int_equal(n, ganet_tensor_count(b));
    float *va = support_values(a), *vb = support_values(b);
    for (int64_t i = 0; i < n; i++)
        assert_true(fabsf(va[i] - vb[i]) <= 1e-5f + 1e-4f * fabsf(vb[i]));
    free(va);
    free(vb);
}

/* With 8 and more channels the convolutions choose blocked layouts and the
 * children pass them on; each child fed plain copies by hand computes the
 * same, the caller reads plain values, and a steady loop creates and
 * allocates nothing. */
static void test_sequential_blocked_layouts_match_plain(void **state)
{
    ganet_context *ctx = *state;
    ganet_batchnorm2d_options bo = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
    bo.num_features = 16;
    ganet_layer *bn[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(ganet_batchnorm2d_create(ctx, &bo, &bn[i]), GANET_OK);
    ganet_layer *hand[5] = {conv(ctx, false, 3, 16, 4, 2, 1, false), bn[0],
                            act(ctx, 1), conv(ctx, true, 16, 8, 4, 2, 1, true),
                            act(ctx, 3)};
    ganet_layer *model = sequential(ctx);
    add(model, conv(ctx, false, 3, 16, 4, 2, 1, false));
    add(model, bn[1]);
    add(model, act(ctx, 1));
    add(model, conv(ctx, true, 16, 8, 4, 2, 1, true));
    add(model, act(ctx, 3));
    int k = 0;
    for (int i = 0; i < 5; i++)
        for (int p = 0; p < ganet_layer_param_count(hand[i]); p++, k++) {
            ganet_tensor *src, *dst;
            assert_int_equal(ganet_layer_param(hand[i], p, NULL, &src, NULL),
                             GANET_OK);
            assert_int_equal(ganet_layer_param(model, k, NULL, &dst, NULL),
                             GANET_OK);
            assert_int_equal(ganet_tensor_copy(dst, src), GANET_OK);
        }
    const int64_t in[4] = {4, 3, 8, 8}, out[4] = {4, 8, 8, 8};
    ganet_tensor *x = filled(ctx, in, 1.0f), *dd = filled(ctx, out, 0.1f);
    ganet_context_stats s0, s1;
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 2)
            assert_int_equal(ganet_context_get_stats(ctx, &s0), GANET_OK);
        const ganet_tensor *y, *ds;
        assert_int_equal(ganet_layer_forward(model, x, GANET_MODE_TRAINING, &y),
                         GANET_OK);
        assert_int_equal(ganet_layer_backward(model, dd, &ds), GANET_OK);
        if (pass == 2) {
            assert_int_equal(ganet_context_get_stats(ctx, &s1), GANET_OK);
            assert_int_equal(s1.primitives_created, s0.primitives_created);
            assert_int_equal(s1.reorders_created, s0.reorders_created);
            assert_int_equal(s1.allocations, s0.allocations);
            assert_int_equal(s1.bytes_in_use, s0.bytes_in_use);
        }
        /* The same pass, one child at a time on plain copies. */
        ganet_tensor *h[6] = {plain_copy(ctx, x)};
        for (int i = 0; i < 5; i++) {
            const ganet_tensor *o;
            assert_int_equal(
                    ganet_layer_forward(hand[i], h[i], GANET_MODE_TRAINING, &o),
                    GANET_OK);
            h[i + 1] = plain_copy(ctx, o);
        }
        assert_close_values(y, h[5]);
        ganet_tensor *g = plain_copy(ctx, dd);
        for (int i = 4; i >= 0; i--) {
            const ganet_tensor *o;
            assert_int_equal(ganet_layer_backward(hand[i], g, &o), GANET_OK);
            ganet_tensor_destroy(g);
            g = plain_copy(ctx, o);
        }
        assert_close_values(ds, g);
        ganet_tensor_destroy(g);
        for (int i = 0; i < 6; i++)
            ganet_tensor_destroy(h[i]);
    }
    k = 0;
    for (int i = 0; i < 5; i++)
        for (int p = 0; p < ganet_layer_param_count(hand[i]); p++, k++) {
            ganet_tensor *a, *b;
            assert_int_equal(ganet_layer_param(hand[i], p, NULL, NULL, &a),
                             GANET_OK);
            assert_int_equal(ganet_layer_param(model, k, NULL, NULL, &b),
                             GANET_OK);
            assert_close_values(b, a);
        }
    for (int i = 0; i < 5; i++)
        ganet_layer_destroy(hand[i]);
    ganet_layer_destroy(model);
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(dd);
}

/* Without requires_grad the parameter gradients stay as they were, the
 * source gradient is the same, and nested layers follow the setting. */
static void test_sequential_requires_grad_off_keeps_gradients(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *model = sequential(ctx), *inner = sequential(ctx);
    add(model, conv(ctx, false, 2, 8, 3, 1, 1, true));
    add(inner, act(ctx, 1));
    add(inner, conv(ctx, false, 8, 2, 3, 1, 1, true));
    add(model, inner);
    assert_true(ganet_layer_get_requires_grad(model));
    const int64_t in[4] = {2, 2, 5, 5};
    ganet_tensor *x = filled(ctx, in, 1.0f), *dd = filled(ctx, in, 0.5f);
    const ganet_tensor *y, *ds;
    assert_int_equal(ganet_layer_forward(model, x, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    assert_int_equal(ganet_layer_backward(model, dd, &ds), GANET_OK);
    float *with = support_values(ds);

    assert_int_equal(ganet_layer_zero_grad(model), GANET_OK);
    assert_int_equal(ganet_layer_set_requires_grad(model, false), GANET_OK);
    assert_false(
            ganet_layer_get_requires_grad(ganet_sequential_child(inner, 1)));
    assert_int_equal(ganet_layer_forward(model, x, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    assert_int_equal(ganet_layer_backward(model, dd, &ds), GANET_OK);
    float *without = support_values(ds);
    assert_memory_equal(with, without,
                        (size_t)ganet_tensor_count(ds) * sizeof *with);
    for (int i = 0; i < ganet_layer_param_count(model); i++) {
        ganet_tensor *g;
        assert_int_equal(ganet_layer_param(model, i, NULL, NULL, &g), GANET_OK);
        float *gv = support_values(g);
        for (int64_t j = 0; j < ganet_tensor_count(g); j++)
            assert_true(gv[j] == 0.0f);
        free(gv);
    }
    assert_int_equal(ganet_layer_set_requires_grad(model, true), GANET_OK);
    assert_true(
            ganet_layer_get_requires_grad(ganet_sequential_child(inner, 1)));
    assert_int_equal(ganet_layer_set_requires_grad(NULL, true),
                     GANET_ERR_NULL_POINTER);
    free(with);
    free(without);
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(dd);
    ganet_layer_destroy(model);
}

/* An empty Sequential hands back its input and its output gradient. */
static void test_sequential_empty_is_identity(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *s = sequential(ctx);
    const int64_t in[4] = {2, 3, 4, 5};
    int64_t out[4];
    ganet_tensor *x = filled(ctx, in, 1.0f), *g = filled(ctx, in, 2.0f);
    const ganet_tensor *y, *ds;
    assert_int_equal(ganet_layer_output_shape(s, in, out), GANET_OK);
    assert_memory_equal(in, out, sizeof out);
    assert_int_equal(ganet_layer_forward(s, x, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    assert_ptr_equal(y, x);
    assert_int_equal(ganet_layer_backward(s, g, &ds), GANET_OK);
    assert_ptr_equal(ds, g);
    assert_int_equal(ganet_layer_param_count(s), 0);
    char text[256];
    assert_int_equal(ganet_layer_summary(s, in, text, sizeof text), GANET_OK);
    assert_string_equal(text, "Sequential(0 layers): input [2, 3, 4, 5], "
                              "0 parameters\n"
                              "Total: output [2, 3, 4, 5], 0 parameters\n");
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(g);
    ganet_layer_destroy(s);
}

/* A backward pass after adding a child needs a new forward pass. */
static void test_sequential_add_needs_new_forward(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *s = sequential(ctx);
    add(s, act(ctx, 2));
    const int64_t in[4] = {1, 1, 2, 2};
    ganet_tensor *x = filled(ctx, in, 1.0f);
    const ganet_tensor *y, *ds;
    assert_int_equal(ganet_layer_forward(s, x, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    add(s, act(ctx, 3));
    assert_int_equal(ganet_layer_backward(s, x, &ds), GANET_ERR_STATE);
    assert_int_equal(ganet_layer_forward(s, x, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    assert_int_equal(ganet_layer_backward(s, x, &ds), GANET_OK);
    ganet_tensor_destroy(x);
    ganet_layer_destroy(s);
}

/* A small generator: ConvT(8, 16, 4, 1, 0), ReLU, ConvT(16, 1, 4, 2, 1),
 * Tanh, no biases, on noise (2, 8, 1, 1). By hand:
 *   layer 0: H = W = (1-1)*1 - 2*0 + 4 + 0 = 4, 8*16*4*4 = 2048 weights
 *   layer 2: H = W = (4-1)*2 - 2*1 + 4 + 0 = 8, 16*1*4*4 = 256 weights
 *   total 2304; output (2, 1, 8, 8). */
static ganet_layer *small_generator(ganet_context *ctx)
{
    ganet_layer *g = sequential(ctx);
    add(g, conv(ctx, true, 8, 16, 4, 1, 0, false));
    add(g, act(ctx, 0));
    add(g, conv(ctx, true, 16, 1, 4, 2, 1, false));
    add(g, act(ctx, 2));
    return g;
}

static void test_sequential_summary_shows_arithmetic(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *g = small_generator(ctx);
    const int64_t noise[4] = {2, 8, 1, 1};
    char text[4096];
    assert_int_equal(ganet_layer_summary(g, noise, text, sizeof text),
                     GANET_OK);
    static const char *const expected[] = {
            "Sequential(4 layers): input [2, 8, 1, 1], 2304 parameters\n",
            "\n  0: ConvTranspose2d(8 -> 16, kernel 4x4, stride 1x1, "
            "padding 0x0, output_padding 0x0, bias off): [2, 8, 1, 1] -> "
            "[2, 16, 4, 4], 2048 parameters\n",
            "\n      H: (in-1)*stride - 2*padding + kernel + output_padding "
            "= (1-1)*1 - 2*0 + 4 + 0 = 4\n",
            "\n      W: (in-1)*stride - 2*padding + kernel + output_padding "
            "= (1-1)*1 - 2*0 + 4 + 0 = 4\n",
            "\n  1: ReLU(): [2, 16, 4, 4] -> [2, 16, 4, 4], 0 parameters\n",
            "\n  2: ConvTranspose2d(16 -> 1, kernel 4x4, stride 2x2, "
            "padding 1x1, output_padding 0x0, bias off): [2, 16, 4, 4] -> "
            "[2, 1, 8, 8], 256 parameters\n",
            "\n      H: (in-1)*stride - 2*padding + kernel + output_padding "
            "= (4-1)*2 - 2*1 + 4 + 0 = 8\n",
            "\n  3: Tanh(): [2, 1, 8, 8] -> [2, 1, 8, 8], 0 parameters\n",
            "\nTotal: output [2, 1, 8, 8], 2304 parameters\n",
    };
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
        if (strstr(text, expected[i]) == NULL)
            fail_msg("the summary lacks \"%s\"; it is:\n%s", expected[i], text);
    assert_true(strncmp(text, expected[0], strlen(expected[0])) == 0);

    /* A Sequential inside: its children are labelled by index path. */
    ganet_layer *outer = sequential(ctx);
    add(outer, g);
    add(outer, act(ctx, 3));
    assert_int_equal(ganet_layer_summary(outer, noise, text, sizeof text),
                     GANET_OK);
    assert_non_null(strstr(text, "\n  0: Sequential(4 layers): input "
                                 "[2, 8, 1, 1], 2304 parameters\n"));
    assert_non_null(strstr(text, "\n    0.2: ConvTranspose2d(16 -> 1,"));
    assert_non_null(strstr(text, "\n        H: (in-1)*stride - 2*padding + "
                                 "kernel + output_padding = (4-1)*2 - 2*1 "
                                 "+ 4 + 0 = 8\n"));
    assert_non_null(strstr(text, "\n  1: Sigmoid(): [2, 1, 8, 8]"));
    ganet_layer_destroy(outer);
}

/* A small buffer gets the start of the text, NUL-terminated. */
static void test_sequential_summary_truncates(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *g = small_generator(ctx);
    const int64_t noise[4] = {2, 8, 1, 1};
    char full[4096], small[17];
    assert_int_equal(ganet_layer_summary(g, noise, full, sizeof full),
                     GANET_OK);
    memset(small, 'x', sizeof small);
    assert_int_equal(ganet_layer_summary(g, noise, small, 16), GANET_OK);
    assert_int_equal(strlen(small), 15);
    assert_true(strncmp(small, full, 15) == 0);
    assert_true(small[16] == 'x');
    char one = 'x';
    assert_int_equal(ganet_layer_summary(g, noise, &one, 1), GANET_OK);
    assert_true(one == '\0');
    assert_int_equal(ganet_layer_summary(g, noise, small, 0),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_layer_summary(g, NULL, small, 16),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_layer_summary(NULL, noise, small, 16),
                     GANET_ERR_NULL_POINTER);
    assert_true(small[0] == '\0');
    assert_int_equal(ganet_layer_summary(g, noise, NULL, 16),
                     GANET_ERR_NULL_POINTER);
    ganet_layer_destroy(g);
}

/* A shape that cannot work in the middle: the text ends at that layer with
 * the reason, and forward refuses it without running anything. */
static void test_sequential_summary_stops_at_shape_error(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *model = sequential(ctx);
    add(model, conv(ctx, false, 3, 4, 3, 1, 1, true));
    add(model, act(ctx, 1));
    add(model, conv(ctx, false, 5, 2, 3, 1, 1, true));
    add(model, act(ctx, 3));
    const int64_t in[4] = {1, 3, 8, 8};
    char text[4096];
    assert_int_equal(ganet_layer_summary(model, in, text, sizeof text),
                     GANET_ERR_SHAPE);
    assert_non_null(strstr(text, "\n  1: LeakyReLU(negative_slope 0.2): "
                                 "[1, 4, 8, 8] -> [1, 4, 8, 8], "
                                 "0 parameters\n"));
    const char *tail = "\n  2: input [1, 4, 8, 8] fails: Conv2d: input has "
                       "4 channels, the layer expects 5\n";
    const char *at = strstr(text, tail);
    assert_non_null(at);
    assert_int_equal(strlen(at), strlen(tail));
    assert_null(strstr(text, "Total"));

    int64_t out[4] = {0, 0, 0, 0};
    assert_int_equal(ganet_layer_output_shape(model, in, out), GANET_ERR_SHAPE);
    assert_true(out[0] == 0);
    ganet_tensor *x = filled(ctx, in, 1.0f);
    const ganet_tensor *y = x;
    assert_int_equal(ganet_layer_forward(model, x, GANET_MODE_TRAINING, &y),
                     GANET_ERR_SHAPE);
    assert_null(y);
    ganet_tensor_destroy(x);
    ganet_layer_destroy(model);
}

/* ---- in place ----------------------------------------------------------- */

/* A layer by letter: c Conv2d (3x3, padding 1, channels kept), b
 * BatchNorm2d, r ReLU, l LeakyReLU, h Tanh, s Sigmoid; all but the conv
 * set in place when inplace. */
static ganet_layer *layer_of(ganet_context *ctx, char kind, int64_t ch,
                             bool inplace)
{
    if (kind == 'c')
        return conv(ctx, false, ch, ch, 3, 1, 1, true);
    ganet_layer *l = NULL;
    if (kind == 'b') {
        ganet_batchnorm2d_options o = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
        o.num_features = ch;
        assert_int_equal(ganet_batchnorm2d_create(ctx, &o, &l), GANET_OK);
    } else {
        const char *acts = "rlhs";
        l = act(ctx, (int)(strchr(acts, kind) - acts));
    }
    assert_false(ganet_layer_get_inplace(l));
    assert_int_equal(ganet_layer_set_inplace(l, inplace), GANET_OK);
    assert_true(ganet_layer_get_inplace(l) == inplace);
    return l;
}

static uint64_t bytes_in_use(ganet_context *ctx)
{
    ganet_context_stats st;
    assert_int_equal(ganet_context_get_stats(ctx, &st), GANET_OK);
    return st.bytes_in_use;
}

/* Two training passes (forward, backward, forward, backward, as a DC-GAN's
 * discriminator runs) of the model; returns the bytes allocated. The
 * output, the source gradient and the parameter gradients are left for
 * the caller to compare. */
static uint64_t run_twice(ganet_context *ctx, ganet_layer *model,
                          const ganet_tensor *x, const ganet_tensor *dd,
                          float **out, float **grad)
{
    uint64_t before = bytes_in_use(ctx);
    const ganet_tensor *y = NULL, *ds = NULL;
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(ganet_layer_forward(model, x, GANET_MODE_TRAINING, &y),
                         GANET_OK);
        if (pass == 0)
            *out = support_values(y);
        assert_int_equal(ganet_layer_backward(model, dd, &ds), GANET_OK);
    }
    *grad = support_values(ds);
    return bytes_in_use(ctx) - before;
}

/* BatchNorm-ReLU pairs of a spelled model that the Sequential fuses: the
 * ReLU in place and a layer after it. */
static int fused_relus(const char *spec)
{
    int n = 0;
    for (const char *k = spec; k[0] && k[1]; k++)
        n += k[0] == 'b' && k[1] == 'r' && k[2] != '\0';
    return n;
}

/* Both models' outputs in inference mode are the same bit for bit. */
static void check_same_inference(ganet_layer *a, ganet_layer *b,
                                 const ganet_tensor *x)
{
    const ganet_tensor *ya, *yb;
    assert_int_equal(ganet_layer_forward(a, x, GANET_MODE_INFERENCE, &ya),
                     GANET_OK);
    assert_int_equal(ganet_layer_forward(b, x, GANET_MODE_INFERENCE, &yb),
                     GANET_OK);
    support_assert_same_values(ya, yb);
}

/* A model spelled by letters run with and without in-place layers (and so
 * with and without a BatchNorm applying the ReLU after it): the outputs
 * and every gradient are the same bit for bit, in training and inference
 * mode, the caller's source and output gradient keep their values, and
 * the in-place model allocates at least saved tensors of the activations'
 * size less. */
static void check_inplace(ganet_context *ctx, const char *spec, int64_t ch,
                          int saved)
{
    ganet_layer *plain = sequential(ctx), *inplace = sequential(ctx);
    for (const char *k = spec; *k; k++) {
        add(plain, layer_of(ctx, *k, ch, false));
        add(inplace, layer_of(ctx, *k, ch, true));
    }
    int np = ganet_layer_param_count(plain);
    for (int p = 0; p < np; p++) {
        ganet_tensor *a, *b;
        assert_int_equal(ganet_layer_param(plain, p, NULL, &a, NULL), GANET_OK);
        assert_int_equal(ganet_layer_param(inplace, p, NULL, &b, NULL),
                         GANET_OK);
        assert_int_equal(ganet_tensor_copy(b, a), GANET_OK);
    }
    const int64_t dims[4] = {2, ch, 6, 5};
    ganet_tensor *x = filled(ctx, dims, 1.0f), *dd = filled(ctx, dims, 0.5f);
    float *x0 = support_values(x), *dd0 = support_values(dd);
    size_t bytes = (size_t)ganet_tensor_count(x) * sizeof(float);

    float *out_a, *grad_a, *out_b, *grad_b;
    uint64_t used_a = run_twice(ctx, plain, x, dd, &out_a, &grad_a);
    uint64_t used_b = run_twice(ctx, inplace, x, dd, &out_b, &grad_b);
    assert_memory_equal(out_a, out_b, bytes);
    assert_memory_equal(grad_a, grad_b, bytes);
    for (int p = 0; p < np; p++) {
        ganet_tensor *a, *b;
        assert_int_equal(ganet_layer_param(plain, p, NULL, NULL, &a), GANET_OK);
        assert_int_equal(ganet_layer_param(inplace, p, NULL, NULL, &b),
                         GANET_OK);
        support_assert_same_values(a, b);
    }
    for (int i = 0; i < ganet_layer_buffer_count(plain); i++) {
        ganet_tensor *a, *b;
        assert_int_equal(ganet_layer_buffer(plain, i, NULL, &a), GANET_OK);
        assert_int_equal(ganet_layer_buffer(inplace, i, NULL, &b), GANET_OK);
        support_assert_same_values(a, b);
    }
    float *x1 = support_values(x), *dd1 = support_values(dd);
    assert_memory_equal(x0, x1, bytes);
    assert_memory_equal(dd0, dd1, bytes);
    check_same_inference(plain, inplace, x);
    /* A BatchNorm that applies the in-place ReLU after it keeps a mask of
     * the negative outputs: at most a byte per value. */
    uint64_t masks = (uint64_t)fused_relus(spec) * (bytes / sizeof(float));
    assert_true(used_b + (uint64_t)saved * bytes <= used_a + masks);
    if (saved > 0)
        assert_true(used_b < used_a);

    free(out_a);
    free(grad_a);
    free(out_b);
    free(grad_b);
    free(x0);
    free(x1);
    free(dd0);
    free(dd1);
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(dd);
    ganet_layer_destroy(plain);
    ganet_layer_destroy(inplace);
}

/* Between layers whose backward does not read their output, both sides
 * of an activation go in place: no output and no gradient of its own. A
 * BatchNorm before it writes its gradient over the activation's. */
static void test_sequential_inplace_between_conv_and_bn(void **state)
{
    ganet_context *ctx = *state;
    check_inplace(ctx, "cbrc", 8, 3);
    check_inplace(ctx, "clc", 8, 2);
    check_inplace(ctx, "cbrc", 16, 3);
    check_inplace(ctx, "chcsc", 8, 4);
    /* Three channels: the conv's gradient comes in another layout, which
     * the LeakyReLU stages (no saving there) and then overwrites. */
    check_inplace(ctx, "cblc", 3, 2);
}

/* First child: the caller's source is not overwritten, only the gradient
 * side goes in place. Last child: the caller's gradient is not
 * overwritten, only the forward side goes in place, and the layer before
 * overwrites its gradient. After another activation, whose backward reads
 * its output: only the gradient side. */
static void test_sequential_inplace_only_where_safe(void **state)
{
    ganet_context *ctx = *state;
    check_inplace(ctx, "rc", 8, 1);
    check_inplace(ctx, "cbr", 8, 2);
    check_inplace(ctx, "cbrlc", 8, 4);
    check_inplace(ctx, "chrc", 8, 3);
    check_inplace(ctx, "cshc", 8, 3);
    check_inplace(ctx, "l", 8, 0);
    check_inplace(ctx, "rl", 8, 1);
    check_inplace(ctx, "b", 8, 0);
}

/* Across a nested Sequential the neighbour is not known: the first child
 * of the inner one does not overwrite the outer conv's output, and a layer
 * after an inner Sequential does not overwrite its output. */
static void test_sequential_inplace_nested(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *plain = sequential(ctx), *inplace = sequential(ctx);
    ganet_layer *models[2] = {plain, inplace};
    for (int m = 0; m < 2; m++) {
        ganet_layer *inner = sequential(ctx);
        add(inner, layer_of(ctx, 'r', 8, m == 1));
        add(inner, layer_of(ctx, 'c', 8, false));
        add(inner, layer_of(ctx, 'h', 8, m == 1));
        add(models[m], layer_of(ctx, 'c', 8, false));
        add(models[m], inner);
        add(models[m], layer_of(ctx, 'l', 8, m == 1));
    }
    for (int p = 0; p < ganet_layer_param_count(plain); p++) {
        ganet_tensor *a, *b;
        assert_int_equal(ganet_layer_param(plain, p, NULL, &a, NULL), GANET_OK);
        assert_int_equal(ganet_layer_param(inplace, p, NULL, &b, NULL),
                         GANET_OK);
        assert_int_equal(ganet_tensor_copy(b, a), GANET_OK);
    }
    const int64_t dims[4] = {2, 8, 4, 4};
    ganet_tensor *x = filled(ctx, dims, 1.0f), *dd = filled(ctx, dims, 0.5f);
    float *out_a, *grad_a, *out_b, *grad_b;
    run_twice(ctx, plain, x, dd, &out_a, &grad_a);
    /* The inner Sequential's output is its Tanh's, which the Tanh's
     * backward reads: the LeakyReLU after it must not overwrite it. */
    run_twice(ctx, inplace, x, dd, &out_b, &grad_b);
    size_t bytes = (size_t)ganet_tensor_count(x) * sizeof(float);
    assert_memory_equal(out_a, out_b, bytes);
    assert_memory_equal(grad_a, grad_b, bytes);
    for (int p = 0; p < ganet_layer_param_count(plain); p++) {
        ganet_tensor *a, *b;
        assert_int_equal(ganet_layer_param(plain, p, NULL, NULL, &a), GANET_OK);
        assert_int_equal(ganet_layer_param(inplace, p, NULL, NULL, &b),
                         GANET_OK);
        support_assert_same_values(a, b);
    }
    free(out_a);
    free(grad_a);
    free(out_b);
    free(grad_b);
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(dd);
    ganet_layer_destroy(plain);
    ganet_layer_destroy(inplace);
}

/* Only activations and BatchNorm accept the setting. */
static void test_sequential_inplace_refused(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *s = sequential(ctx), *c = layer_of(ctx, 'c', 2, false);
    assert_int_equal(ganet_layer_set_inplace(s, true), GANET_ERR_UNIMPLEMENTED);
    assert_non_null(strstr(ganet_last_error(), "Sequential"));
    assert_int_equal(ganet_layer_set_inplace(c, true), GANET_ERR_UNIMPLEMENTED);
    assert_non_null(strstr(ganet_last_error(), "Conv2d"));
    assert_false(ganet_layer_get_inplace(s));
    assert_false(ganet_layer_get_inplace(c));
    assert_false(ganet_layer_get_inplace(NULL));
    assert_int_equal(ganet_layer_set_inplace(NULL, true),
                     GANET_ERR_NULL_POINTER);
    ganet_layer_destroy(s);
    ganet_layer_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sequential_takes_ownership),
            cmocka_unit_test(test_sequential_refuses_bad_children),
            cmocka_unit_test(test_sequential_names_params_through_nesting),
            cmocka_unit_test(test_sequential_equals_children_by_hand),
            cmocka_unit_test(test_sequential_skips_first_diff_src),
            cmocka_unit_test(test_sequential_blocked_layouts_match_plain),
            cmocka_unit_test(test_sequential_requires_grad_off_keeps_gradients),
            cmocka_unit_test(test_sequential_empty_is_identity),
            cmocka_unit_test(test_sequential_add_needs_new_forward),
            cmocka_unit_test(test_sequential_summary_shows_arithmetic),
            cmocka_unit_test(test_sequential_summary_truncates),
            cmocka_unit_test(test_sequential_summary_stops_at_shape_error),
            cmocka_unit_test(test_sequential_inplace_between_conv_and_bn),
            cmocka_unit_test(test_sequential_inplace_only_where_safe),
            cmocka_unit_test(test_sequential_inplace_nested),
            cmocka_unit_test(test_sequential_inplace_refused),
    };
    return cmocka_run_group_tests_name("sequential", tests,
                                       support_context_setup,
                                       support_context_teardown);
}
