/* Context creation, threads, logging, the random generator and counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ganet/ganet.h>

static void test_context_create_defaults(void **state)
{
    (void)state;
    ganet_context *ctx = NULL;
    assert_int_equal(ganet_context_create(NULL, &ctx), GANET_OK);
    assert_non_null(ctx);
    assert_true(ganet_context_get_num_threads(ctx) >= 1);
    ganet_context_destroy(ctx);
    ganet_context_destroy(NULL);
}

static void test_context_create_rejects_bad_options(void **state)
{
    (void)state;
    ganet_context *ctx = (ganet_context *)1;
    assert_int_equal(ganet_context_create(NULL, NULL), GANET_ERR_NULL_POINTER);
    ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
    o.log_level = 5;
    assert_int_equal(ganet_context_create(&o, &ctx),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_non_null(strstr(ganet_last_error(), "log_level is 5"));
}

static void test_context_threads(void **state)
{
    (void)state;
    ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
    o.num_threads = 1;
    ganet_context *ctx;
    assert_int_equal(ganet_context_create(&o, &ctx), GANET_OK);
    assert_int_equal(ganet_context_get_num_threads(ctx), 1);
    assert_int_equal(ganet_context_set_num_threads(ctx, 2), GANET_OK);
    assert_int_equal(ganet_context_get_num_threads(ctx), 2);
    assert_int_equal(ganet_context_set_num_threads(ctx, -1),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_context_get_num_threads(ctx), 2);
    assert_int_equal(ganet_context_set_num_threads(NULL, 1),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_context_get_num_threads(NULL), 0);
    ganet_context_destroy(ctx);
}

typedef struct log_capture {
    int count;
    ganet_log_level last_level;
    char last[256];
} log_capture;

static void capture(ganet_log_level level, const char *msg, void *user)
{
    log_capture *c = user;
    c->count++;
    c->last_level = level;
    strncpy(c->last, msg, sizeof c->last - 1);
}

static void test_context_log_callback_and_levels(void **state)
{
    (void)state;
    log_capture cap = {0};
    ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
    o.log_level = GANET_LOG_INFO;
    o.log_fn = capture;
    o.log_user_data = &cap;
    ganet_context *ctx;
    assert_int_equal(ganet_context_create(&o, &ctx), GANET_OK);
    /* Creation reports the thread count and seed at info level. */
    assert_int_equal(cap.count, 1);
    assert_int_equal(cap.last_level, GANET_LOG_INFO);
    assert_non_null(strstr(cap.last, "threads"));
    assert_int_equal(ganet_context_get_log_level(ctx), GANET_LOG_INFO);
    assert_int_equal(ganet_context_set_log_level(ctx, GANET_LOG_DEBUG),
                     GANET_OK);
    assert_int_equal(ganet_context_get_log_level(ctx), GANET_LOG_DEBUG);
    assert_int_equal(ganet_context_set_log_level(ctx, (ganet_log_level)9),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_context_set_log_callback(NULL, capture, &cap),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_context_set_log_callback(ctx, NULL, NULL), GANET_OK);
    ganet_context_destroy(ctx);
}

static void test_context_log_level_from_environment(void **state)
{
    (void)state;
    ganet_context *ctx;
    setenv("GANET_LOG_LEVEL", "debug", 1);
    assert_int_equal(ganet_context_create(NULL, &ctx), GANET_OK);
    assert_int_equal(ganet_context_get_log_level(ctx), GANET_LOG_DEBUG);
    ganet_context_destroy(ctx);

    /* An explicit level in the options is an API call: it wins. */
    ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
    o.log_level = GANET_LOG_ERROR;
    assert_int_equal(ganet_context_create(&o, &ctx), GANET_OK);
    assert_int_equal(ganet_context_get_log_level(ctx), GANET_LOG_ERROR);
    ganet_context_destroy(ctx);

    setenv("GANET_LOG_LEVEL", "1", 1);
    assert_int_equal(ganet_context_create(NULL, &ctx), GANET_OK);
    assert_int_equal(ganet_context_get_log_level(ctx), GANET_LOG_ERROR);
    ganet_context_destroy(ctx);

    setenv("GANET_LOG_LEVEL", "loud", 1);
    assert_int_equal(ganet_context_create(NULL, &ctx), GANET_OK);
    assert_int_equal(ganet_context_get_log_level(ctx), GANET_LOG_WARN);
    ganet_context_destroy(ctx);
    setenv("GANET_LOG_LEVEL", "none", 1);
}

/* The published PCG32 demo (seed 42, stream 54) prints these first six
 * numbers; the generator must reproduce them from the same state. */
static void test_context_rng_matches_pcg32_reference(void **state)
{
    (void)state;
    const uint64_t mult = 6364136223846793005ULL, inc = 54u * 2 + 1;
    ganet_rng_state s = {.state = (inc + 42) * mult + inc, .increment = inc};
    const uint32_t expected[6] = {0xa15c02b7, 0x7b47f409, 0xba1d3330,
                                  0x83d2f293, 0xbfa4784b, 0xcbed606e};
    ganet_context *ctx;
    assert_int_equal(ganet_context_create(NULL, &ctx), GANET_OK);
    assert_int_equal(ganet_context_set_rng_state(ctx, &s), GANET_OK);
    for (int i = 0; i < 6; i++) {
        uint32_t v;
        assert_int_equal(ganet_context_random_u32(ctx, &v), GANET_OK);
        assert_int_equal(v, expected[i]);
    }
    ganet_context_destroy(ctx);
}

static void test_context_rng_state_roundtrip(void **state)
{
    (void)state;
    ganet_context *ctx;
    assert_int_equal(ganet_context_create(NULL, &ctx), GANET_OK);
    assert_int_equal(ganet_context_seed(ctx, 7), GANET_OK);
    ganet_rng_state saved;
    assert_int_equal(ganet_context_get_rng_state(ctx, &saved), GANET_OK);
    uint32_t a[4], b[4];
    for (int i = 0; i < 4; i++)
        ganet_context_random_u32(ctx, &a[i]);
    assert_int_equal(ganet_context_set_rng_state(ctx, &saved), GANET_OK);
    for (int i = 0; i < 4; i++)
        ganet_context_random_u32(ctx, &b[i]);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(ganet_context_seed(ctx, 8), GANET_OK);
    ganet_context_random_u32(ctx, &b[0]);
    assert_int_not_equal(a[0], b[0]);

    ganet_rng_state even = {.state = 1, .increment = 2};
    assert_int_equal(ganet_context_set_rng_state(ctx, &even),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_context_get_rng_state(ctx, NULL),
                     GANET_ERR_NULL_POINTER);
    uint32_t v = 5;
    assert_int_equal(ganet_context_random_u32(NULL, &v),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(v, 0);
    assert_int_equal(ganet_context_seed(NULL, 1), GANET_ERR_NULL_POINTER);
    ganet_context_destroy(ctx);
}

static void test_context_stats_count_allocations(void **state)
{
    (void)state;
    ganet_context *ctx;
    ganet_context_stats s0, s1, s2;
    assert_int_equal(ganet_context_create(NULL, &ctx), GANET_OK);
    assert_int_equal(ganet_context_get_stats(ctx, &s0), GANET_OK);
    ganet_tensor *t;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 3, 4, 5, &t), GANET_OK);
    assert_int_equal(ganet_context_get_stats(ctx, &s1), GANET_OK);
    assert_int_equal(s1.allocations, s0.allocations + 1);
    assert_int_equal(s1.bytes_in_use, s0.bytes_in_use + 120 * sizeof(float));
    ganet_tensor_destroy(t);
    assert_int_equal(ganet_context_get_stats(ctx, &s2), GANET_OK);
    assert_int_equal(s2.bytes_in_use, s0.bytes_in_use);
    assert_int_equal(ganet_context_get_stats(ctx, NULL),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_context_get_stats(NULL, &s2),
                     GANET_ERR_NULL_POINTER);
    ganet_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_context_create_defaults),
            cmocka_unit_test(test_context_create_rejects_bad_options),
            cmocka_unit_test(test_context_threads),
            cmocka_unit_test(test_context_log_callback_and_levels),
            cmocka_unit_test(test_context_log_level_from_environment),
            cmocka_unit_test(test_context_rng_matches_pcg32_reference),
            cmocka_unit_test(test_context_rng_state_roundtrip),
            cmocka_unit_test(test_context_stats_count_allocations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
