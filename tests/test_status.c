/* Status names, descriptions, the last-error message and the version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <ganet/ganet.h>

static void test_status_names_are_distinct(void **state)
{
    (void)state;
    const char *seen[GANET_ERR_NUMERIC + 1];
    for (int s = GANET_OK; s <= GANET_ERR_NUMERIC; s++) {
        seen[s] = ganet_status_name((ganet_status)s);
        assert_non_null(strstr(seen[s], "GANET_"));
        assert_string_not_equal(ganet_status_str((ganet_status)s),
                                "unknown status");
        for (int t = 0; t < s; t++)
            assert_string_not_equal(seen[s], seen[t]);
    }
    assert_string_equal(ganet_status_name(GANET_OK), "GANET_OK");
    assert_string_equal(ganet_status_name(GANET_ERR_SHAPE), "GANET_ERR_SHAPE");
}

static void test_status_unknown_value(void **state)
{
    (void)state;
    assert_string_equal(ganet_status_name((ganet_status)999),
                        "GANET_ERR_UNKNOWN");
    assert_string_equal(ganet_status_str((ganet_status)-1), "unknown status");
}

static void test_status_last_error_names_the_call(void **state)
{
    (void)state;
    ganet_context *ctx = NULL;
    ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
    o.num_threads = -3;
    assert_int_equal(ganet_context_create(&o, &ctx),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_null(ctx);
    assert_non_null(strstr(ganet_last_error(), "ganet_context_create"));
    assert_non_null(strstr(ganet_last_error(), "-3"));
}

static void test_status_version_matches_headers(void **state)
{
    (void)state;
    assert_int_equal(ganet_version_number(), GANET_VERSION_NUMBER);
    assert_string_equal(ganet_version_string(), GANET_VERSION_STRING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_status_names_are_distinct),
            cmocka_unit_test(test_status_unknown_value),
            cmocka_unit_test(test_status_last_error_names_the_call),
            cmocka_unit_test(test_status_version_matches_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
