/* Tensors: shapes, copies, fills, reshape, summary, blocked layouts and
 * every error path. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "test_support.h"

/* The plain index of (a, b, c, d) in dims. */
static int64_t plain_index(const int64_t *dims, int a, int b, int c, int d)
{
    return ((a * dims[1] + b) * dims[2] + c) * dims[3] + d;
}

static void test_tensor_create_and_query(void **state)
{
    ganet_context *ctx = *state;
    const int64_t dims[3] = {2, 3, 5};
    ganet_tensor *t = NULL;
    assert_int_equal(ganet_tensor_create(ctx, 3, dims, &t), GANET_OK);
    assert_int_equal(ganet_tensor_rank(t), 3);
    assert_int_equal(ganet_tensor_count(t), 30);
    assert_int_equal(ganet_tensor_dim(t, 2), 5);
    assert_int_equal(ganet_tensor_dim(t, 3), 0);
    assert_int_equal(ganet_tensor_dim(t, -1), 0);
    assert_ptr_equal(ganet_tensor_context(t), ctx);
    int64_t got[GANET_MAX_RANK] = {0};
    assert_int_equal(ganet_tensor_get_dims(t, got), GANET_OK);
    assert_memory_equal(got, dims, sizeof dims);
    float out[30];
    assert_int_equal(ganet_tensor_copy_to(t, out, 30), GANET_OK);
    for (int i = 0; i < 30; i++)
        assert_true(out[i] == 0.0f);
    ganet_tensor_destroy(t);
    ganet_tensor_destroy(NULL);
    assert_int_equal(ganet_tensor_rank(NULL), 0);
    assert_int_equal(ganet_tensor_count(NULL), 0);
    assert_null(ganet_tensor_context(NULL));
}

static void test_tensor_create_rejects_bad_shapes(void **state)
{
    ganet_context *ctx = *state;
    ganet_tensor *t = (ganet_tensor *)1;
    const int64_t zero[2] = {3, 0}, neg[1] = {-4}, ok[5] = {1, 1, 1, 1, 1};
    const int64_t huge[4] = {INT64_MAX / 2, 4, 1, 1};
    assert_int_equal(ganet_tensor_create(ctx, 2, zero, &t),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_null(t);
    assert_non_null(strstr(ganet_last_error(), "dims[1] is 0"));
    assert_int_equal(ganet_tensor_create(ctx, 1, neg, &t),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_tensor_create(ctx, 5, ok, &t),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "rank is 5"));
    assert_int_equal(ganet_tensor_create(ctx, 0, ok, &t),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_tensor_create(ctx, 4, huge, &t), GANET_ERR_OVERFLOW);
    assert_int_equal(ganet_tensor_create(ctx, 2, NULL, &t),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_tensor_create(NULL, 1, ok, &t),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_tensor_create(ctx, 1, ok, NULL),
                     GANET_ERR_NULL_POINTER);
    assert_null(t);
}

static void test_tensor_copy_roundtrip_and_errors(void **state)
{
    ganet_context *ctx = *state;
    ganet_tensor *t;
    assert_int_equal(ganet_tensor_create_4d(ctx, 1, 2, 1, 3, &t), GANET_OK);
    const float in[6] = {1, -2, 3.5f, 4, 5, -6};
    float out[7] = {0};
    assert_int_equal(ganet_tensor_copy_from(t, in, 6), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(t, out, 6), GANET_OK);
    assert_memory_equal(in, out, sizeof in);

    assert_int_equal(ganet_tensor_copy_from(t, in, 5), GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(), "5 floats"));
    assert_int_equal(ganet_tensor_copy_to(t, out, 7), GANET_ERR_SHAPE);
    assert_int_equal(ganet_tensor_copy_from(t, NULL, 6),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_tensor_copy_to(NULL, out, 6),
                     GANET_ERR_NULL_POINTER);
    /* A failed call leaves the tensor as it was. */
    assert_int_equal(ganet_tensor_copy_to(t, out, 6), GANET_OK);
    assert_memory_equal(in, out, sizeof in);
    ganet_tensor_destroy(t);
}

static void test_tensor_copy_between_tensors(void **state)
{
    ganet_context *ctx = *state, *other;
    ganet_tensor *a, *b, *c, *d;
    assert_int_equal(ganet_context_create(NULL, &other), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 1, 1, 2, 2, &a), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 1, 1, 2, 2, &b), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 1, 1, 4, 1, &c), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(other, 1, 1, 2, 2, &d), GANET_OK);
    assert_int_equal(ganet_tensor_fill(a, 3.0f), GANET_OK);
    assert_int_equal(ganet_tensor_copy(b, a), GANET_OK);
    float out[4];
    assert_int_equal(ganet_tensor_copy_to(b, out, 4), GANET_OK);
    assert_true(out[3] == 3.0f);
    /* Same count, other shape: refused. */
    assert_int_equal(ganet_tensor_copy(c, a), GANET_ERR_SHAPE);
    assert_int_equal(ganet_tensor_copy(d, a), GANET_ERR_CONTEXT_MISMATCH);
    assert_int_equal(ganet_tensor_copy(NULL, a), GANET_ERR_NULL_POINTER);
    ganet_tensor_destroy(a);
    ganet_tensor_destroy(b);
    ganet_tensor_destroy(c);
    ganet_tensor_destroy(d);
    ganet_context_destroy(other);
}

static void moments(const float *v, int n, double *mean, double *std)
{
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++)
        s2 += (v[i] - *mean) * (v[i] - *mean);
    *std = sqrt(s2 / n);
}

static void test_tensor_fill_random_statistics(void **state)
{
    ganet_context *ctx = *state;
    enum { N = 100001 };
    const int64_t dims[1] = {N};
    ganet_tensor *t;
    float *v = malloc(N * sizeof *v);
    assert_non_null(v);
    assert_int_equal(ganet_tensor_create(ctx, 1, dims, &t), GANET_OK);

    assert_int_equal(ganet_tensor_fill_uniform(t, -2.0f, 6.0f), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(t, v, N), GANET_OK);
    double mean, std;
    for (int i = 0; i < N; i++)
        assert_true(v[i] >= -2.0f && v[i] < 6.0f);
    moments(v, N, &mean, &std);
    /* Uniform(-2, 6): mean 2, std 8/sqrt(12); 5-sigma bounds. */
    assert_true(fabs(mean - 2.0) < 0.04);
    assert_true(fabs(std - 8.0 / sqrt(12.0)) < 0.03);

    assert_int_equal(ganet_tensor_fill_normal(t, 1.0f, 0.02f), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(t, v, N), GANET_OK);
    moments(v, N, &mean, &std);
    assert_true(fabs(mean - 1.0) < 0.0004);
    assert_true(fabs(std - 0.02) < 0.0003);
    for (int i = 0; i < N; i++)
        assert_true(isfinite(v[i]));

    assert_int_equal(ganet_tensor_fill_uniform(t, 1.0f, 0.0f),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_tensor_fill_uniform(t, 0.0f, INFINITY),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_tensor_fill_normal(t, 0.0f, -1.0f),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_tensor_fill_normal(t, NAN, 1.0f),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_tensor_fill_normal(NULL, 0.0f, 1.0f),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_tensor_fill(NULL, 0.0f), GANET_ERR_NULL_POINTER);
    ganet_tensor_destroy(t);
    free(v);
}

/* The same seed gives the same numbers whatever the thread count. */
static void test_tensor_fill_same_seed_same_numbers(void **state)
{
    (void)state;
    float v[2][7];
    for (int k = 0; k < 2; k++) {
        ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
        o.seed = 1234;
        o.num_threads = k + 1;
        ganet_context *ctx;
        ganet_tensor *t;
        assert_int_equal(ganet_context_create(&o, &ctx), GANET_OK);
        assert_int_equal(ganet_tensor_create_4d(ctx, 1, 7, 1, 1, &t), GANET_OK);
        assert_int_equal(ganet_tensor_fill_normal(t, 0.0f, 1.0f), GANET_OK);
        assert_int_equal(ganet_tensor_copy_to(t, v[k], 7), GANET_OK);
        ganet_tensor_destroy(t);
        ganet_context_destroy(ctx);
    }
    assert_memory_equal(v[0], v[1], sizeof v[0]);
}

static void test_tensor_reshape(void **state)
{
    ganet_context *ctx = *state;
    ganet_tensor *t;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 3, 1, 1, &t), GANET_OK);
    const float in[6] = {0, 1, 2, 3, 4, 5};
    assert_int_equal(ganet_tensor_copy_from(t, in, 6), GANET_OK);
    const int64_t flat[1] = {6}, bad[2] = {4, 2}, neg[2] = {-2, -3};
    assert_int_equal(ganet_tensor_reshape(t, 1, flat), GANET_OK);
    assert_int_equal(ganet_tensor_rank(t), 1);
    assert_int_equal(ganet_tensor_dim(t, 0), 6);
    float out[6];
    assert_int_equal(ganet_tensor_copy_to(t, out, 6), GANET_OK);
    assert_memory_equal(in, out, sizeof in);
    assert_int_equal(ganet_tensor_reshape(t, 2, bad), GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(), "8 elements"));
    assert_int_equal(ganet_tensor_reshape(t, 2, neg),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_tensor_rank(t), 1);
    ganet_tensor_destroy(t);
}

static void test_tensor_summary(void **state)
{
    ganet_context *ctx = *state;
    ganet_tensor *t;
    assert_int_equal(ganet_tensor_create_4d(ctx, 1, 1, 2, 2, &t), GANET_OK);
    const float in[4] = {-1, 0, 2, 3};
    assert_int_equal(ganet_tensor_copy_from(t, in, 4), GANET_OK);
    char buf[128];
    assert_int_equal(ganet_tensor_summary(t, buf, sizeof buf), GANET_OK);
    assert_string_equal(buf, "tensor [1, 1, 2, 2] min -1 max 3 mean 1");
    char tiny[8];
    assert_int_equal(ganet_tensor_summary(t, tiny, sizeof tiny), GANET_OK);
    assert_string_equal(tiny, "tensor ");
    assert_int_equal(ganet_tensor_summary(t, buf, 0),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_tensor_summary(t, NULL, 4), GANET_ERR_NULL_POINTER);
    ganet_tensor_destroy(t);
}

/* A tensor kept in a blocked layout (channels in blocks of 8, so 3 real
 * channels and 5 of padding) still reads and writes as plain NCHW. */
static void test_tensor_blocked_layout_is_invisible(void **state)
{
    ganet_context *ctx = *state;
    ganet_tensor *t;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 3, 2, 2, &t), GANET_OK);
    float in[24], out[24];
    for (int i = 0; i < 24; i++)
        in[i] = (float)i - 7.5f;
    assert_int_equal(ganet_tensor_copy_from(t, in, 24), GANET_OK);

    dnnl_memory_desc_t blocked;
    dnnl_dims_t d = {2, 3, 2, 2};
    assert_int_equal(
            dnnl_memory_desc_init_by_tag(&blocked, 4, d, dnnl_f32, dnnl_aBcd8b),
            dnnl_success);
    assert_int_equal(ganet__tensor_set_layout(t, &blocked, true), GANET_OK);
    assert_false(t->plain);
    assert_true(t->capacity >= 2 * 8 * 2 * 2 * sizeof(float));
    /* Element (n=0, c=1, h=0, w=1) sits at block offset c*1 + w*8. */
    assert_true(((float *)t->data)[1 + 1 * 8] == in[1 * 4 + 1]);

    assert_int_equal(ganet_tensor_copy_to(t, out, 24), GANET_OK);
    assert_memory_equal(in, out, sizeof in);
    char buf[96];
    assert_int_equal(ganet_tensor_summary(t, buf, sizeof buf), GANET_OK);
    assert_string_equal(buf, "tensor [2, 3, 2, 2] min -7.5 max 15.5 mean 4");

    for (int i = 0; i < 24; i++)
        in[i] = -in[i];
    assert_int_equal(ganet_tensor_copy_from(t, in, 24), GANET_OK);
    assert_false(t->plain);
    assert_int_equal(ganet_tensor_copy_to(t, out, 24), GANET_OK);
    assert_memory_equal(in, out, sizeof in);

    ganet_tensor *plain;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 3, 2, 2, &plain), GANET_OK);
    assert_int_equal(ganet_tensor_copy(plain, t), GANET_OK);
    assert_int_equal(ganet_tensor_copy_to(plain, out, 24), GANET_OK);
    assert_memory_equal(in, out, sizeof in);

    const int64_t flat[2] = {6, 4};
    assert_int_equal(ganet_tensor_reshape(t, 2, flat), GANET_OK);
    assert_true(t->plain);
    assert_int_equal(ganet_tensor_copy_to(t, out, 24), GANET_OK);
    assert_memory_equal(in, out, sizeof in);
    ganet_tensor_destroy(plain);
    ganet_tensor_destroy(t);
}

/* A weight layout with two blocks on one dim (OIhw2i8o4i: i split as
 * 2 x 4 around a block of 8 o), round trip and accumulation; the padding
 * keeps its zeros. */
static void test_tensor_convert_blocked_weights(void **state)
{
    ganet_context *ctx = *state;
    const int64_t dims[4] = {5, 7, 2, 3};
    dnnl_memory_desc_t plain, blocked;
    assert_int_equal(ganet__md_plain(&plain, 4, dims), GANET_OK);
    dnnl_dims_t d = {5, 7, 2, 3};
    assert_int_equal(dnnl_memory_desc_init_by_tag(&blocked, 4, d, dnnl_f32,
                                                  dnnl_OIhw2i8o4i),
                     dnnl_success);
    size_t size = dnnl_memory_desc_get_size(&blocked);
    float *b = calloc(1, size), in[210], out[210];
    assert_non_null(b);
    for (int i = 0; i < 210; i++)
        in[i] = (float)i * 0.5f - 3.0f;
    ganet_context_stats s0, s1;
    assert_int_equal(ganet_context_get_stats(ctx, &s0), GANET_OK);
    assert_int_equal(ganet__convert(ctx, &plain, in, &blocked, b, false),
                     GANET_OK);
    /* (o=3, i=5, h=1, w=2): in the first block of 8 o and 8 i, (h, w)
     * steps by 64 floats; inside, i = 5 is (1, 1) in 2i x 4i around o:
     * offset (1*8 + 3)*4 + 1. */
    int64_t off = (1 * 3 + 2) * 64 + (1 * 8 + 3) * 4 + 1;
    assert_true(b[off] == in[plain_index(dims, 3, 5, 1, 2)]);
    size_t count = size / sizeof(float), nonzero = 0;
    for (size_t i = 0; i < count; i++)
        nonzero += b[i] != 0.0f;
    assert_true(nonzero <= 210);
    assert_int_equal(ganet__convert(ctx, &blocked, b, &plain, out, false),
                     GANET_OK);
    assert_memory_equal(in, out, sizeof in);
    assert_int_equal(ganet__convert(ctx, &blocked, b, &plain, out, true),
                     GANET_OK);
    for (int i = 0; i < 210; i++)
        assert_true(out[i] == 2.0f * in[i]);
    assert_int_equal(ganet_context_get_stats(ctx, &s1), GANET_OK);
    assert_int_equal(s1.primitives_created, s0.primitives_created);
    assert_int_equal(s1.allocations, s0.allocations);

    dnnl_memory_desc_t other;
    const int64_t odims[4] = {5, 7, 3, 2};
    assert_int_equal(ganet__md_plain(&other, 4, odims), GANET_OK);
    assert_int_equal(ganet__convert(ctx, &plain, in, &other, out, false),
                     GANET_ERR_UNIMPLEMENTED);
    free(b);
}

/* The cached reorder gives what the gather gives, bit for bit, with and
 * without accumulation; it is made once per pair of layouts and made
 * again when they change; where oneDNN refuses the pair, the gather
 * takes over. */
static void test_tensor_reorder_matches_convert(void **state)
{
    ganet_context *ctx = *state;
    const int64_t dims[4] = {3, 13, 4, 5};
    dnnl_dims_t d = {3, 13, 4, 5};
    dnnl_memory_desc_t plain, blocked, nhwc;
    assert_int_equal(ganet__md_plain(&plain, 4, dims), GANET_OK);
    assert_int_equal(
            dnnl_memory_desc_init_by_tag(&blocked, 4, d, dnnl_f32, dnnl_aBcd8b),
            dnnl_success);
    assert_int_equal(
            dnnl_memory_desc_init_by_tag(&nhwc, 4, d, dnnl_f32, dnnl_acdb),
            dnnl_success);
    enum { N = 3 * 13 * 4 * 5 };
    size_t size = dnnl_memory_desc_get_size(&blocked);
    float in[N], *viaconv = calloc(1, size), *viareorder = calloc(1, size);
    float back_a[N], back_b[N];
    assert_non_null(viaconv);
    assert_non_null(viareorder);
    for (int i = 0; i < N; i++)
        in[i] = sinf(0.37f * (float)i) * 5.0f;
    ganet__reorder r = {0};
    ganet_context_stats s0, s1, s2;
    assert_int_equal(ganet_context_get_stats(ctx, &s0), GANET_OK);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(
                ganet__convert(ctx, &plain, in, &blocked, viaconv, false),
                GANET_OK);
        assert_int_equal(ganet__reorder_run(ctx, &r, &plain, in, &blocked,
                                            viareorder, false),
                         GANET_OK);
        assert_memory_equal(viaconv, viareorder, size);
    }
    assert_int_equal(ganet_context_get_stats(ctx, &s1), GANET_OK);
    assert_int_equal(s1.reorders_created, s0.reorders_created + 1);
    assert_int_equal(s1.primitives_created, s0.primitives_created);

    /* Back, added to what is there: the same sums either way. */
    for (int i = 0; i < N; i++)
        back_a[i] = back_b[i] = (float)i;
    assert_int_equal(
            ganet__convert(ctx, &blocked, viaconv, &plain, back_a, true),
            GANET_OK);
    assert_int_equal(ganet__reorder_run(ctx, &r, &blocked, viareorder, &plain,
                                        back_b, true),
                     GANET_OK);
    assert_memory_equal(back_a, back_b, sizeof back_a);
    for (int i = 0; i < N; i++)
        assert_true(back_b[i] == (float)i + in[i]);
    assert_int_equal(ganet_context_get_stats(ctx, &s2), GANET_OK);
    assert_int_equal(s2.reorders_created, s1.reorders_created + 1);

    /* Another layout pair rebuilds. */
    assert_int_equal(ganet__reorder_run(ctx, &r, &blocked, viareorder, &nhwc,
                                        back_b, false),
                     GANET_OK);
    assert_int_equal(
            ganet__convert(ctx, &blocked, viaconv, &nhwc, back_a, false),
            GANET_OK);
    assert_memory_equal(back_a, back_b, sizeof back_a);
    assert_int_equal(ganet_context_get_stats(ctx, &s1), GANET_OK);
    assert_int_equal(s1.reorders_created, s2.reorders_created + 1);

    /* Mismatched dims: oneDNN refuses, and so does the gather. */
    dnnl_memory_desc_t other;
    const int64_t odims[4] = {3, 13, 5, 4};
    assert_int_equal(ganet__md_plain(&other, 4, odims), GANET_OK);
    assert_int_equal(
            ganet__reorder_run(ctx, &r, &plain, in, &other, back_b, false),
            GANET_ERR_UNIMPLEMENTED);
    ganet__reorder_destroy(&r);
    free(viaconv);
    free(viareorder);
}

/* Every way of writing a tensor's values bumps its version, which layers
 * use to refresh their copies of weights in other layouts. */
static void test_tensor_version_counts_changes(void **state)
{
    ganet_context *ctx = *state;
    ganet_tensor *t, *u;
    assert_int_equal(ganet_tensor_create_4d(ctx, 1, 2, 2, 2, &t), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(ctx, 1, 2, 2, 2, &u), GANET_OK);
    float v[8] = {0};
    uint64_t last = t->version;
    assert_int_equal(ganet_tensor_copy_from(t, v, 8), GANET_OK);
    assert_true(t->version > last);
    last = t->version;
    assert_int_equal(ganet_tensor_fill(t, 1.0f), GANET_OK);
    assert_true(t->version > last);
    last = t->version;
    assert_int_equal(ganet_tensor_fill_normal(t, 0.0f, 1.0f), GANET_OK);
    assert_true(t->version > last);
    last = t->version;
    assert_int_equal(ganet_tensor_copy(t, u), GANET_OK);
    assert_true(t->version > last);
    last = t->version;
    assert_int_equal(ganet__tensor_make_plain(t), GANET_OK);
    assert_true(t->version > last);
    last = t->version;
    assert_int_equal(ganet_tensor_copy_to(t, v, 8), GANET_OK);
    assert_true(t->version == last);
    ganet_tensor_destroy(t);
    ganet_tensor_destroy(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tensor_create_and_query),
            cmocka_unit_test(test_tensor_create_rejects_bad_shapes),
            cmocka_unit_test(test_tensor_copy_roundtrip_and_errors),
            cmocka_unit_test(test_tensor_copy_between_tensors),
            cmocka_unit_test(test_tensor_fill_random_statistics),
            cmocka_unit_test(test_tensor_fill_same_seed_same_numbers),
            cmocka_unit_test(test_tensor_reshape),
            cmocka_unit_test(test_tensor_summary),
            cmocka_unit_test(test_tensor_blocked_layout_is_invisible),
            cmocka_unit_test(test_tensor_convert_blocked_weights),
            cmocka_unit_test(test_tensor_reorder_matches_convert),
            cmocka_unit_test(test_tensor_version_counts_changes),
    };
    return cmocka_run_group_tests_name("tensor", tests, support_context_setup,
                                       support_context_teardown);
}
