/* Finding the first NaN or infinity in a model: parameters, the outputs
 * of the last forward pass in the order they were computed, then the
 * gradients. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ganet/ganet.h"
#include "test_support.h"

/* Conv2d(1 -> 2, kernel 3, padding 1) -> ReLU -> Conv2d(2 -> 1, kernel
 * 3, padding 1): parameters "0.weight", "0.bias", "2.weight", "2.bias". */
static ganet_layer *make_net(ganet_context *ctx)
{
    ganet_layer *seq, *l;
    assert_int_equal(ganet_sequential_create(ctx, &seq), GANET_OK);
    ganet_conv2d_options o = GANET_CONV2D_OPTIONS_DEFAULT;
    o.in_channels = 1;
    o.out_channels = 2;
    o.kernel[0] = o.kernel[1] = 3;
    o.padding[0] = o.padding[1] = 1;
    assert_int_equal(ganet_conv2d_create(ctx, &o, &l), GANET_OK);
    assert_int_equal(ganet_sequential_add(seq, l), GANET_OK);
    assert_int_equal(ganet_relu_create(ctx, &l), GANET_OK);
    assert_int_equal(ganet_sequential_add(seq, l), GANET_OK);
    o.in_channels = 2;
    o.out_channels = 1;
    assert_int_equal(ganet_conv2d_create(ctx, &o, &l), GANET_OK);
    assert_int_equal(ganet_sequential_add(seq, l), GANET_OK);
    return seq;
}

static void set_value(ganet_tensor *t, int64_t index, float value)
{
    float v[64];
    int64_t n = ganet_tensor_count(t);
    assert_true(n <= 64);
    assert_int_equal(ganet_tensor_copy_to(t, v, (size_t)n), GANET_OK);
    v[index] = value;
    assert_int_equal(ganet_tensor_copy_from(t, v, (size_t)n), GANET_OK);
}

static void expect_where(ganet_layer *net, const char *expected)
{
    char where[128];
    assert_int_equal(ganet_layer_find_nonfinite(net, where, sizeof where),
                     GANET_OK);
    assert_string_equal(where, expected);
}

static void test_layer_check_all_finite_gives_empty(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *net = make_net(ctx);
    expect_where(net, "");
    ganet_tensor *x;
    assert_int_equal(ganet_tensor_create_4d(ctx, 2, 1, 4, 4, &x), GANET_OK);
    assert_int_equal(ganet_tensor_fill_normal(x, 0.0f, 1.0f), GANET_OK);
    const ganet_tensor *y;
    assert_int_equal(ganet_layer_forward(net, x, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    expect_where(net, "");
    ganet_tensor_destroy(x);
    ganet_layer_destroy(net);
}

static void test_layer_check_names_a_bad_parameter(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *net = make_net(ctx);
    ganet_tensor *w;
    assert_int_equal(ganet_layer_find_param(net, "2.weight", &w, NULL),
                     GANET_OK);
    set_value(w, 5, NAN);
    expect_where(net, "2.weight: NaN at index 5");
    ganet_layer_destroy(net);
}

/* Finite weights, an input with an infinity: the first conv's output is
 * the first place it shows, though the last conv's is bad too. */
static void test_layer_check_names_the_first_bad_output(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *net = make_net(ctx);
    ganet_tensor *x;
    assert_int_equal(ganet_tensor_create_4d(ctx, 1, 1, 4, 4, &x), GANET_OK);
    assert_int_equal(ganet_tensor_fill(x, 0.5f), GANET_OK);
    set_value(x, 0, INFINITY);
    const ganet_tensor *y;
    assert_int_equal(ganet_layer_forward(net, x, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    char where[128];
    assert_int_equal(ganet_layer_find_nonfinite(net, where, sizeof where),
                     GANET_OK);
    assert_non_null(strstr(where, "output of 0 Conv2d: "));
    ganet_tensor_destroy(x);
    ganet_layer_destroy(net);
}

static void test_layer_check_names_a_bad_gradient(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *net = make_net(ctx);
    ganet_tensor *g;
    assert_int_equal(ganet_layer_find_param(net, "0.bias", NULL, &g), GANET_OK);
    set_value(g, 1, -INFINITY);
    expect_where(net, "gradient of 0.bias: -inf at index 1");
    ganet_layer_destroy(net);
}

static void test_layer_check_rejects_bad_arguments(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *net = make_net(ctx);
    char where[8] = "x";
    assert_int_equal(ganet_layer_find_nonfinite(NULL, where, sizeof where),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_layer_find_nonfinite(net, NULL, 8),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_layer_find_nonfinite(net, where, 0),
                     GANET_ERR_INVALID_ARGUMENT);
    /* A short buffer truncates and stays terminated. */
    ganet_tensor *w;
    assert_int_equal(ganet_layer_find_param(net, "0.weight", &w, NULL),
                     GANET_OK);
    set_value(w, 0, NAN);
    assert_int_equal(ganet_layer_find_nonfinite(net, where, sizeof where),
                     GANET_OK);
    assert_string_equal(where, "0.weigh");
    ganet_layer_destroy(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_layer_check_all_finite_gives_empty),
            cmocka_unit_test(test_layer_check_names_a_bad_parameter),
            cmocka_unit_test(test_layer_check_names_the_first_bad_output),
            cmocka_unit_test(test_layer_check_names_a_bad_gradient),
            cmocka_unit_test(test_layer_check_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, support_context_setup,
                                  support_context_teardown);
}
