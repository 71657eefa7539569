/* The DC-GAN example's networks and training iteration against one
 * iteration of PyTorch's DC-GAN example at a fixed seed (dcgan_step.gref:
 * 32x32x1 images, nz = ngf = ndf = 8, batch 4). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dcgan.h"
#include "ref_data.h"
#include "test_support.h"

/*
 * Tolerances. The forward values go through eight layers of float sums in
 * a different order than PyTorch's: absolute 1e-5 plus relative 1e-4. The
 * parameters after one Adam step move by about lr = 2e-4 each, whatever
 * the gradient's size (Adam's first step is lr * g / |g|), so they agree as
 * long as the gradients agree in sign; absolute 2e-6 (1% of a step).
 */
#define VALUE_ATOL 1e-5
#define VALUE_RTOL 1e-4
#define PARAM_ATOL 2e-6
#define PARAM_RTOL 1e-5

static const dcgan_config ref_config = {
        .image_size = 32, .channels = 1, .nz = 8, .ngf = 8, .ndf = 8};

typedef struct fixture {
    ganet_context *ctx;
    ref_file *ref;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    char path[1024];
    support_data_path(path, sizeof path, NULL, "dcgan_step");
    f->ref = ref_file_load(path);
    if (f->ref == NULL || ganet_context_create(NULL, &f->ctx) != GANET_OK) {
        ref_file_free(f->ref);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ganet_context_destroy(f->ctx);
    ref_file_free(f->ref);
    free(f);
    return 0;
}

static const ref_entry *entry(const fixture *f, const char *name)
{
    return support_entry(f->ref, name);
}

static void expect_scalar(float got, const ref_entry *e)
{
    double err = ref_max_error(&got, e->data, 1, VALUE_ATOL, VALUE_RTOL);
    if (err > 1.0)
        fail_msg("%s: %.9g, PyTorch %.9g", e->name, got, e->data[0]);
}

/* Set (or, with expect, compare) every parameter of net to tag.<i>.what,
 * i in PyTorch's model.parameters() order, which is the Sequential's. */
static void each_param(const fixture *f, ganet_layer *net, const char *tag,
                       const char *what, bool expect)
{
    for (int i = 0; i < ganet_layer_param_count(net); i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%d.%s", tag, i, what);
        ganet_tensor *value;
        assert_int_equal(ganet_layer_param(net, i, NULL, &value, NULL),
                         GANET_OK);
        if (expect)
            support_expect_close(value, entry(f, name), PARAM_ATOL, PARAM_RTOL,
                                 NULL);
        else
            support_load_entry(value, entry(f, name));
    }
}

/* BatchNorm running statistics: buffers come in pairs (mean, var), one
 * pair per BatchNorm, in order. */
static void expect_running_stats(const fixture *f, ganet_layer *net,
                                 const char *tag)
{
    assert_int_equal(ganet_layer_buffer_count(net) % 2, 0);
    for (int j = 0; j < ganet_layer_buffer_count(net) / 2; j++) {
        ganet_tensor *mean, *var;
        assert_int_equal(ganet_layer_buffer(net, 2 * j, NULL, &mean), GANET_OK);
        assert_int_equal(ganet_layer_buffer(net, 2 * j + 1, NULL, &var),
                         GANET_OK);
        char name[64];
        snprintf(name, sizeof name, "%s.bn%d.running_mean", tag, j);
        support_expect_close(mean, entry(f, name), VALUE_ATOL, VALUE_RTOL,
                             NULL);
        snprintf(name, sizeof name, "%s.bn%d.running_var", tag, j);
        support_expect_close(var, entry(f, name), VALUE_ATOL, VALUE_RTOL, NULL);
    }
}

static ganet_tensor *tensor_of(const fixture *f, const char *name)
{
    const ref_entry *e = entry(f, name);
    ganet_tensor *t;
    assert_int_equal(ganet_tensor_create(f->ctx, e->rank, e->dims, &t),
                     GANET_OK);
    support_load_entry(t, e);
    return t;
}

static void test_dcgan_shapes_follow_the_arithmetic(void **state)
{
    fixture *f = *state;
    const dcgan_config configs[2] = {DCGAN_CONFIG_32, DCGAN_CONFIG_64};
    for (int c = 0; c < 2; c++) {
        const dcgan_config *cfg = &configs[c];
        ganet_layer *g, *d;
        assert_int_equal(dcgan_generator_create(f->ctx, cfg, &g), GANET_OK);
        assert_int_equal(dcgan_discriminator_create(f->ctx, cfg, &d), GANET_OK);
        const int64_t z[4] = {5, cfg->nz, 1, 1};
        int64_t image[4], judged[4];
        assert_int_equal(ganet_layer_output_shape(g, z, image), GANET_OK);
        assert_int_equal(image[0], 5);
        assert_int_equal(image[1], cfg->channels);
        assert_int_equal(image[2], cfg->image_size);
        assert_int_equal(image[3], cfg->image_size);
        assert_int_equal(ganet_layer_output_shape(d, image, judged), GANET_OK);
        assert_int_equal(judged[1] * judged[2] * judged[3], 1);
        ganet_layer_destroy(d);
        ganet_layer_destroy(g);
    }
}

/* Parameter counts of PyTorch's example at 64x64x3, nz 100, ngf = ndf =
 * 64: G 3,576,704 and D 2,765,568 (printed by summing p.numel()). */
static void test_dcgan_parameter_counts_match_pytorch(void **state)
{
    fixture *f = *state;
    const dcgan_config cfg = DCGAN_CONFIG_64;
    ganet_layer *g, *d;
    assert_int_equal(dcgan_generator_create(f->ctx, &cfg, &g), GANET_OK);
    assert_int_equal(dcgan_discriminator_create(f->ctx, &cfg, &d), GANET_OK);
    assert_int_equal(ganet_layer_param_values(g), 3576704);
    assert_int_equal(ganet_layer_param_values(d), 2765568);
    ganet_layer_destroy(d);
    ganet_layer_destroy(g);
}

static void test_dcgan_step_matches_pytorch(void **state)
{
    fixture *f = *state;
    dcgan gan;
    const dcgan_train_options opts = DCGAN_TRAIN_OPTIONS_DEFAULT;
    assert_int_equal(dcgan_create(f->ctx, &ref_config, &opts, &gan), GANET_OK);
    each_param(f, gan.generator, "G", "init", false);
    each_param(f, gan.discriminator, "D", "init", false);
    ganet_tensor *real = tensor_of(f, "real");
    ganet_tensor *noise = tensor_of(f, "noise");

    dcgan_step_stats s;
    assert_int_equal(dcgan_train_step(&gan, real, noise, &s), GANET_OK);

    expect_scalar(s.loss_d_real, entry(f, "errD_real"));
    expect_scalar(s.loss_d_fake, entry(f, "errD_fake"));
    expect_scalar(s.loss_g, entry(f, "errG"));
    expect_scalar(s.d_x, entry(f, "D_x"));
    expect_scalar(s.d_g_z1, entry(f, "D_G_z1"));
    expect_scalar(s.d_g_z2, entry(f, "D_G_z2"));
    each_param(f, gan.generator, "G", "final", true);
    each_param(f, gan.discriminator, "D", "final", true);
    expect_running_stats(f, gan.generator, "G");
    expect_running_stats(f, gan.discriminator, "D");

    ganet_tensor_destroy(noise);
    ganet_tensor_destroy(real);
    dcgan_destroy(&gan);
}

/* The generator's output of the step, before any update of G: the same
 * forward pass in training mode on the initial weights. */
static void test_dcgan_fake_batch_matches_pytorch(void **state)
{
    fixture *f = *state;
    ganet_layer *g;
    assert_int_equal(dcgan_generator_create(f->ctx, &ref_config, &g), GANET_OK);
    each_param(f, g, "G", "init", false);
    ganet_tensor *noise = tensor_of(f, "noise");
    const ganet_tensor *fake;
    assert_int_equal(ganet_layer_forward(g, noise, GANET_MODE_TRAINING, &fake),
                     GANET_OK);
    support_expect_close(fake, entry(f, "fake"), VALUE_ATOL, VALUE_RTOL, NULL);
    ganet_tensor_destroy(noise);
    ganet_layer_destroy(g);
}

/* During D's update G's backward is never called, so G's gradients stay
 * zero: what fake.detach() does in PyTorch. */
static void test_dcgan_discriminator_update_leaves_generator_alone(void **state)
{
    fixture *f = *state;
    dcgan gan;
    const dcgan_train_options opts = DCGAN_TRAIN_OPTIONS_DEFAULT;
    assert_int_equal(dcgan_create(f->ctx, &ref_config, &opts, &gan), GANET_OK);
    ganet_tensor *real = tensor_of(f, "real");
    ganet_tensor *noise = tensor_of(f, "noise");
    assert_int_equal(ganet_layer_zero_grad(gan.generator), GANET_OK);
    const ganet_tensor *fake, *out, *diff;
    float loss;
    assert_int_equal(ganet_layer_forward(gan.generator, noise,
                                         GANET_MODE_TRAINING, &fake),
                     GANET_OK);
    assert_int_equal(ganet_layer_forward(gan.discriminator, fake,
                                         GANET_MODE_TRAINING, &out),
                     GANET_OK);
    assert_int_equal(ganet_loss_forward_constant(gan.bce, out, 0.0f, &loss),
                     GANET_OK);
    assert_int_equal(ganet_loss_backward(gan.bce, &diff), GANET_OK);
    assert_int_equal(ganet_layer_backward(gan.discriminator, diff, NULL),
                     GANET_OK);
    for (int i = 0; i < ganet_layer_param_count(gan.generator); i++) {
        ganet_tensor *grad;
        assert_int_equal(ganet_layer_param(gan.generator, i, NULL, NULL, &grad),
                         GANET_OK);
        int64_t n = ganet_tensor_count(grad);
        float *g = malloc((size_t)n * sizeof *g);
        assert_int_equal(ganet_tensor_copy_to(grad, g, (size_t)n), GANET_OK);
        for (int64_t k = 0; k < n; k++)
            assert_true(g[k] == 0.0f);
        free(g);
    }
    ganet_tensor_destroy(noise);
    ganet_tensor_destroy(real);
    dcgan_destroy(&gan);
}

/* After the first iteration has met every shape, the next ones create no
 * oneDNN primitive and allocate nothing: the steady loop of the design.
 * Sampling in inference mode in between builds its own primitives once. */
static void test_dcgan_steady_loop_creates_and_allocates_nothing(void **state)
{
    fixture *f = *state;
    dcgan gan;
    const dcgan_train_options opts = DCGAN_TRAIN_OPTIONS_DEFAULT;
    assert_int_equal(dcgan_create(f->ctx, &ref_config, &opts, &gan), GANET_OK);
    ganet_tensor *real = tensor_of(f, "real");
    ganet_tensor *noise = tensor_of(f, "noise");
    dcgan_step_stats s;
    const ganet_tensor *samples;
    for (int warm = 0; warm < 2; warm++) {
        assert_int_equal(dcgan_train_step(&gan, real, noise, &s), GANET_OK);
        assert_int_equal(ganet_layer_forward(gan.generator, noise,
                                             GANET_MODE_INFERENCE, &samples),
                         GANET_OK);
    }
    ganet_context_stats before, after;
    assert_int_equal(ganet_context_get_stats(f->ctx, &before), GANET_OK);
    for (int step = 0; step < 3; step++) {
        assert_int_equal(ganet_tensor_fill_normal(noise, 0.0f, 1.0f), GANET_OK);
        assert_int_equal(dcgan_train_step(&gan, real, noise, &s), GANET_OK);
    }
    assert_int_equal(ganet_layer_forward(gan.generator, noise,
                                         GANET_MODE_INFERENCE, &samples),
                     GANET_OK);
    assert_int_equal(ganet_context_get_stats(f->ctx, &after), GANET_OK);
    assert_int_equal(after.primitives_created, before.primitives_created);
    assert_int_equal(after.reorders_created, before.reorders_created);
    assert_int_equal(after.allocations, before.allocations);
    assert_int_equal(after.bytes_in_use, before.bytes_in_use);
    ganet_tensor_destroy(noise);
    ganet_tensor_destroy(real);
    dcgan_destroy(&gan);
}

static void test_dcgan_rejects_bad_config(void **state)
{
    fixture *f = *state;
    dcgan_config cfg = DCGAN_CONFIG_32;
    ganet_layer *g = (ganet_layer *)&cfg;
    cfg.image_size = 48;
    assert_int_equal(dcgan_generator_create(f->ctx, &cfg, &g),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_null(g);
    cfg.image_size = 32;
    cfg.nz = 0;
    assert_int_equal(dcgan_discriminator_create(f->ctx, &cfg, &g),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_null(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_dcgan_shapes_follow_the_arithmetic),
            cmocka_unit_test(test_dcgan_parameter_counts_match_pytorch),
            cmocka_unit_test(test_dcgan_fake_batch_matches_pytorch),
            cmocka_unit_test(test_dcgan_step_matches_pytorch),
            cmocka_unit_test(
                    test_dcgan_discriminator_update_leaves_generator_alone),
            cmocka_unit_test(
                    test_dcgan_steady_loop_creates_and_allocates_nothing),
            cmocka_unit_test(test_dcgan_rejects_bad_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
