/* Optimizers: 20 training steps of a small net against PyTorch for every
 * Adam and SGD case in tests/data/optim, hyper-parameter checks, a NaN
 * gradient refused, state saved and restored, zero_grad, step count and
 * learning rate. */
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
#include "ganet/loss.h"
#include "ganet/optimizer.h"
#include "ganet/sequential.h"
#include "internal.h"
#include "ref_data.h"
#include "test_support.h"

/*
 * Tolerances against PyTorch after 20 steps. The optimizers' own
 * arithmetic matches PyTorch's to the bit, but oneDNN's convolutions and
 * batch normalisation sum in another order than PyTorch's, and 20 steps
 * carry those roundings into the parameters: relative 1e-4 plus absolute
 * 1e-6 for the per-step losses, the final parameters and the running
 * statistics.
 */
#define OPTIM_RTOL 1e-4
#define OPTIM_ATOL 1e-6
#define OPTIM_STEPS 20
#define NET_PARAMS 5

/* The child is passed by address: the constructor's call and a read of
 * the child in the same argument list would be unsequenced. */
static void add(ganet_layer *seq, ganet_status st, ganet_layer *const *made)
{
    assert_int_equal(st, GANET_OK);
    assert_int_equal(ganet_sequential_add(seq, *made), GANET_OK);
}

/* The net of tests/data/README.md: Conv2d(1,4,3,1,1, no bias) →
 * BatchNorm2d(4) → LeakyReLU(0.2) → Conv2d(4,1,4,2,1) → Sigmoid;
 * (N,1,8,8) → (N,4,8,8) → (N,1,4,4). */
static ganet_layer *make_net(ganet_context *ctx)
{
    ganet_layer *seq, *l = NULL;
    assert_int_equal(ganet_sequential_create(ctx, &seq), GANET_OK);
    ganet_conv2d_options c0 = GANET_CONV2D_OPTIONS_DEFAULT;
    c0.in_channels = 1;
    c0.out_channels = 4;
    c0.kernel[0] = c0.kernel[1] = 3;
    c0.padding[0] = c0.padding[1] = 1;
    c0.bias = false;
    add(seq, ganet_conv2d_create(ctx, &c0, &l), &l);
    ganet_batchnorm2d_options bn = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
    bn.num_features = 4;
    add(seq, ganet_batchnorm2d_create(ctx, &bn, &l), &l);
    add(seq, ganet_leaky_relu_create(ctx, 0.2f, &l), &l);
    ganet_conv2d_options c1 = GANET_CONV2D_OPTIONS_DEFAULT;
    c1.in_channels = 4;
    c1.out_channels = 1;
    c1.kernel[0] = c1.kernel[1] = 4;
    c1.stride[0] = c1.stride[1] = 2;
    c1.padding[0] = c1.padding[1] = 1;
    add(seq, ganet_conv2d_create(ctx, &c1, &l), &l);
    add(seq, ganet_sigmoid_create(ctx, &l), &l);
    assert_int_equal(ganet_layer_param_count(seq), NET_PARAMS);
    return seq;
}

static ganet_tensor *param(ganet_layer *net, int i, ganet_tensor **grad)
{
    ganet_tensor *value = NULL;
    assert_int_equal(ganet_layer_param(net, i, NULL, &value, grad), GANET_OK);
    return value;
}

static ganet_tensor *tensor_from(ganet_context *ctx, const ref_entry *e)
{
    assert_int_equal(e->rank, 4);
    return support_tensor_from(ctx, e);
}

/* Largest error of a tensor against a reference entry, in units of the
 * tolerance. */
static double tensor_error(const ganet_tensor *t, const ref_entry *e)
{
    return support_max_error(t, e, OPTIM_ATOL, OPTIM_RTOL);
}

/* The optimizer a case's options describe: [kind, lr, beta1 | momentum,
 * beta2 | dampening, eps | nesterov, weight_decay, amsgrad, steps]. */
static ganet_optimizer *optimizer_for(ganet_layer *net, const float *o)
{
    ganet_optimizer *opt = NULL;
    if (o[0] == 0.0f) {
        ganet_adam_options a = GANET_ADAM_OPTIONS_DEFAULT;
        a.lr = o[1];
        a.beta1 = o[2];
        a.beta2 = o[3];
        a.eps = o[4];
        a.weight_decay = o[5];
        a.amsgrad = o[6] != 0.0f;
        assert_int_equal(ganet_adam_create(net, &a, &opt), GANET_OK);
    } else {
        ganet_sgd_options s = GANET_SGD_OPTIONS_DEFAULT;
        s.lr = o[1];
        s.momentum = o[2];
        s.dampening = o[3];
        s.nesterov = o[4] != 0.0f;
        s.weight_decay = o[5];
        assert_int_equal(ganet_sgd_create(net, &s, &opt), GANET_OK);
    }
    return opt;
}

/* One training step as in make_reference.py: zero_grad, forward in
 * training mode, BCE mean loss, backward, step. */
static float train_step(ganet_layer *net, ganet_optimizer *opt,
                        ganet_loss *loss, const ganet_tensor *src,
                        const ganet_tensor *target)
{
    const ganet_tensor *out, *diff;
    float value = NAN;
    assert_int_equal(ganet_optimizer_zero_grad(opt), GANET_OK);
    assert_int_equal(ganet_layer_forward(net, src, GANET_MODE_TRAINING, &out),
                     GANET_OK);
    assert_int_equal(ganet_loss_forward(loss, out, target, &value), GANET_OK);
    assert_int_equal(ganet_loss_backward(loss, &diff), GANET_OK);
    assert_int_equal(ganet_layer_backward(net, diff, NULL), GANET_OK);
    assert_int_equal(ganet_optimizer_step(opt), GANET_OK);
    return value;
}

static const char *const optim_cases[] = {
        "adam_default",
        "adam_dcgan",
        "adam_wd0.01",
        "adam_amsgrad",
        "sgd_plain",
        "sgd_momentum0.9",
        "sgd_momentum0.9_damp0.1",
        "sgd_nesterov0.9",
        "sgd_momentum0.9_wd1e-3",
};

static void run_case(ganet_context *ctx, const char *name, double *worst)
{
    ref_file *f = support_load_case("optim", name);
    ganet_layer *net = make_net(ctx);
    char key[64];
    for (int i = 0; i < NET_PARAMS; i++) {
        snprintf(key, sizeof key, "param.%d.init", i);
        const ref_entry *e = support_entry(f, key);
        assert_int_equal(ganet_tensor_copy_from(param(net, i, NULL), e->data,
                                                (size_t)e->count),
                         GANET_OK);
    }
    ganet_tensor *src = tensor_from(ctx, support_entry(f, "src"));
    ganet_tensor *target = tensor_from(ctx, support_entry(f, "target"));
    ganet_optimizer *opt =
            optimizer_for(net, support_entry(f, "options")->data);
    ganet_loss *loss = NULL;
    assert_int_equal(
            ganet_loss_create(ctx, GANET_LOSS_BCE, GANET_REDUCTION_MEAN, &loss),
            GANET_OK);

    float losses[OPTIM_STEPS];
    for (int k = 0; k < OPTIM_STEPS; k++)
        losses[k] = train_step(net, opt, loss, src, target);
    const ref_entry *ref_losses = support_entry(f, "loss");
    assert_int_equal(ref_losses->count, OPTIM_STEPS);
    double errors[3] = {ref_max_error(losses, ref_losses->data, OPTIM_STEPS,
                                      OPTIM_ATOL, OPTIM_RTOL),
                        0, 0};
    for (int i = 0; i < NET_PARAMS; i++) {
        snprintf(key, sizeof key, "param.%d.final", i);
        double e = tensor_error(param(net, i, NULL), support_entry(f, key));
        errors[1] = e > errors[1] ? e : errors[1];
    }
    ganet_tensor *mean = NULL, *var = NULL;
    assert_int_equal(ganet_layer_buffer(net, 0, NULL, &mean), GANET_OK);
    assert_int_equal(ganet_layer_buffer(net, 1, NULL, &var), GANET_OK);
    errors[2] = fmax(tensor_error(mean, support_entry(f, "running_mean.final")),
                     tensor_error(var, support_entry(f, "running_var.final")));
    print_message("%-24s losses %.3g, parameters %.3g, running stats %.3g "
                  "(1 = tolerance)\n",
                  name, errors[0], errors[1], errors[2]);
    for (int k = 0; k < 3; k++) {
        assert_true(errors[k] <= 1.0);
        worst[k] = errors[k] > worst[k] ? errors[k] : worst[k];
    }
    assert_int_equal(ganet_optimizer_get_step_count(opt), OPTIM_STEPS);
    ganet_loss_destroy(loss);
    ganet_optimizer_destroy(opt);
    ganet_tensor_destroy(src);
    ganet_tensor_destroy(target);
    ganet_layer_destroy(net);
    ref_file_free(f);
}

/* Every file in tests/data/optim: per-step losses, final parameters and
 * running statistics. */
static void test_optimizer_matches_pytorch(void **state)
{
    double worst[3] = {0, 0, 0};
    for (size_t c = 0; c < sizeof optim_cases / sizeof *optim_cases; c++)
        run_case(*state, optim_cases[c], worst);
    print_message("worst: losses %.3g, parameters %.3g, running stats %.3g\n",
                  worst[0], worst[1], worst[2]);
}

/* Rows of hyper-parameters that creation must refuse, and what the
 * message must say. */
typedef struct bad_adam {
    float lr, beta1, beta2, eps, weight_decay;
    const char *message;
} bad_adam;

typedef struct bad_sgd {
    float lr, momentum, dampening, weight_decay;
    bool nesterov;
    const char *message;
} bad_sgd;

static void test_optimizer_rejects_bad_options(void **state)
{
    ganet_context *ctx = *state;
    const bad_adam adam[] = {
            /* lr, beta1, beta2, eps, weight_decay */
            {-1.0f, 0.9f, 0.999f, 1e-8f, 0.0f, "adam: lr is -1"},
            {NAN, 0.9f, 0.999f, 1e-8f, 0.0f, "adam: lr is nan"},
            {INFINITY, 0.9f, 0.999f, 1e-8f, 0.0f, "adam: lr is inf"},
            {1e-3f, 1.0f, 0.999f, 1e-8f, 0.0f, "adam: beta1 is 1,"},
            {1e-3f, -0.1f, 0.999f, 1e-8f, 0.0f, "adam: beta1 is -0.1"},
            {1e-3f, 0.9f, 1.0f, 1e-8f, 0.0f, "adam: beta2 is 1,"},
            {1e-3f, 0.9f, NAN, 1e-8f, 0.0f, "adam: beta2 is nan"},
            {1e-3f, 0.9f, 0.999f, 0.0f, 0.0f, "adam: eps is 0"},
            {1e-3f, 0.9f, 0.999f, -1e-8f, 0.0f, "adam: eps is -1e-08"},
            {1e-3f, 0.9f, 0.999f, NAN, 0.0f, "adam: eps is nan"},
            {1e-3f, 0.9f, 0.999f, 1e-8f, -0.1f, "adam: weight_decay is -0.1"},
            {1e-3f, 0.9f, 0.999f, 1e-8f, INFINITY, "weight_decay is inf"},
    };
    const bad_sgd sgd[] = {
            /* lr, momentum, dampening, weight_decay, nesterov */
            {-0.5f, 0.0f, 0.0f, 0.0f, false, "sgd: lr is -0.5"},
            {NAN, 0.0f, 0.0f, 0.0f, false, "sgd: lr is nan"},
            {0.1f, -0.9f, 0.0f, 0.0f, false, "sgd: momentum is -0.9"},
            {0.1f, INFINITY, 0.0f, 0.0f, false, "sgd: momentum is inf"},
            {0.1f, 0.9f, 1.5f, 0.0f, false, "sgd: dampening is 1.5"},
            {0.1f, 0.9f, -0.1f, 0.0f, false, "sgd: dampening is -0.1"},
            {0.1f, 0.0f, 0.0f, -1.0f, false, "sgd: weight_decay is -1"},
            {0.1f, 0.0f, 0.0f, 0.0f, true, "sgd: nesterov needs momentum"},
            {0.1f, 0.9f, 0.1f, 0.0f, true, "and dampening 0.1"},
    };
    ganet_layer *net = make_net(ctx);
    ganet_optimizer *opt = (ganet_optimizer *)1;
    for (size_t i = 0; i < sizeof adam / sizeof *adam; i++) {
        const ganet_adam_options o = {.lr = adam[i].lr,
                                      .beta1 = adam[i].beta1,
                                      .beta2 = adam[i].beta2,
                                      .eps = adam[i].eps,
                                      .weight_decay = adam[i].weight_decay};
        assert_int_equal(ganet_adam_create(net, &o, &opt),
                         GANET_ERR_INVALID_ARGUMENT);
        assert_null(opt);
        if (strstr(ganet_last_error(), adam[i].message) == NULL)
            fail_msg("adam case %zu: message '%s' lacks '%s'", i,
                     ganet_last_error(), adam[i].message);
    }
    for (size_t i = 0; i < sizeof sgd / sizeof *sgd; i++) {
        const ganet_sgd_options o = {.lr = sgd[i].lr,
                                     .momentum = sgd[i].momentum,
                                     .dampening = sgd[i].dampening,
                                     .weight_decay = sgd[i].weight_decay,
                                     .nesterov = sgd[i].nesterov};
        assert_int_equal(ganet_sgd_create(net, &o, &opt),
                         GANET_ERR_INVALID_ARGUMENT);
        assert_null(opt);
        if (strstr(ganet_last_error(), sgd[i].message) == NULL)
            fail_msg("sgd case %zu: message '%s' lacks '%s'", i,
                     ganet_last_error(), sgd[i].message);
    }

    /* The edges of the ranges are accepted. */
    const ganet_adam_options adam_ok = {
            .lr = 0.0f, .beta1 = 0.0f, .beta2 = 0.0f, .eps = 1e-8f};
    const ganet_sgd_options sgd_ok = {
            .lr = 0.0f, .momentum = 0.5f, .dampening = 1.0f};
    assert_int_equal(ganet_adam_create(net, &adam_ok, &opt), GANET_OK);
    ganet_optimizer_destroy(opt);
    assert_int_equal(ganet_sgd_create(net, &sgd_ok, &opt), GANET_OK);
    ganet_optimizer_destroy(opt);

    /* NULL options are the defaults; NULL handles are refused. */
    assert_int_equal(ganet_adam_create(net, NULL, &opt), GANET_OK);
    assert_true(ganet_optimizer_get_lr(opt) == 1e-3f);
    ganet_optimizer_destroy(opt);
    assert_int_equal(ganet_sgd_create(net, NULL, &opt), GANET_OK);
    assert_true(ganet_optimizer_get_lr(opt) == 1e-2f);
    assert_int_equal(ganet_optimizer_state_count(opt), 0);
    ganet_optimizer_destroy(opt);
    assert_int_equal(ganet_adam_create(NULL, NULL, &opt),
                     GANET_ERR_NULL_POINTER);
    assert_null(opt);
    assert_int_equal(ganet_sgd_create(net, NULL, NULL), GANET_ERR_NULL_POINTER);
    ganet_optimizer_destroy(NULL);
    ganet_layer_destroy(net);
}

/* A layer without parameters has nothing to optimize, as PyTorch's
 * "optimizer got an empty parameter list". */
static void test_optimizer_rejects_layer_without_parameters(void **state)
{
    ganet_layer *sigmoid;
    ganet_optimizer *opt = (ganet_optimizer *)1;
    assert_int_equal(ganet_sigmoid_create(*state, &sigmoid), GANET_OK);
    assert_int_equal(ganet_adam_create(sigmoid, NULL, &opt),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_null(opt);
    assert_non_null(strstr(ganet_last_error(), "no parameters"));
    assert_int_equal(ganet_sgd_create(sigmoid, NULL, &opt),
                     GANET_ERR_INVALID_ARGUMENT);
    ganet_layer_destroy(sigmoid);
}

/* Fill every gradient with a different pattern derived from seed. */
static void set_gradients(ganet_layer *net, float seed)
{
    for (int i = 0; i < ganet_layer_param_count(net); i++) {
        ganet_tensor *grad;
        param(net, i, &grad);
        int64_t n = ganet_tensor_count(grad);
        float *g = malloc((size_t)n * sizeof *g);
        assert_non_null(g);
        for (int64_t k = 0; k < n; k++)
            g[k] = sinf(seed + 0.7f * (float)k + (float)i) * 0.01f;
        assert_int_equal(ganet_tensor_copy_from(grad, g, (size_t)n), GANET_OK);
        free(g);
    }
}

/* Adam with AMSGrad, which has the most state, over net. */
static ganet_optimizer *amsgrad_adam(ganet_layer *net)
{
    ganet_adam_options o = GANET_ADAM_OPTIONS_DEFAULT;
    o.amsgrad = true;
    ganet_optimizer *opt = NULL;
    assert_int_equal(ganet_adam_create(net, &o, &opt), GANET_OK);
    return opt;
}

static void assert_tensor_equals(const ganet_tensor *t, const float *v)
{
    float *now = support_values(t);
    assert_memory_equal(now, v, (size_t)ganet_tensor_count(t) * sizeof *v);
    free(now);
}

/* A NaN or an infinity in any gradient stops the step before anything
 * changes: parameters, states and the step count. */
static void test_optimizer_refuses_nonfinite_gradient(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *net = make_net(ctx);
    ganet_optimizer *opt = amsgrad_adam(net);
    set_gradients(net, 1.0f);
    assert_int_equal(ganet_optimizer_step(opt), GANET_OK);

    float *before[NET_PARAMS], *states[3 * NET_PARAMS];
    for (int i = 0; i < NET_PARAMS; i++)
        before[i] = support_values(param(net, i, NULL));
    for (int i = 0; i < 3 * NET_PARAMS; i++) {
        ganet_tensor *s;
        assert_int_equal(ganet_optimizer_state(opt, i, NULL, &s), GANET_OK);
        states[i] = support_values(s);
    }
    const float bad[2] = {NAN, -INFINITY};
    for (int k = 0; k < 2; k++) {
        /* The bad value sits in the last parameter, "3.bias", so a step
         * that checked as it went would already have moved the others. */
        set_gradients(net, 2.0f);
        ganet_tensor *grad;
        param(net, NET_PARAMS - 1, &grad);
        assert_int_equal(ganet_tensor_copy_from(grad, &bad[k], 1), GANET_OK);
        assert_int_equal(ganet_optimizer_step(opt), GANET_ERR_NUMERIC);
        assert_non_null(strstr(ganet_last_error(), "gradient of 3.bias"));
        assert_int_equal(ganet_optimizer_get_step_count(opt), 1);
        for (int i = 0; i < NET_PARAMS; i++)
            assert_tensor_equals(param(net, i, NULL), before[i]);
        for (int i = 0; i < 3 * NET_PARAMS; i++) {
            ganet_tensor *s;
            assert_int_equal(ganet_optimizer_state(opt, i, NULL, &s), GANET_OK);
            assert_tensor_equals(s, states[i]);
        }
    }
    for (int i = 0; i < NET_PARAMS; i++)
        free(before[i]);
    for (int i = 0; i < 3 * NET_PARAMS; i++)
        free(states[i]);
    ganet_optimizer_destroy(opt);
    ganet_layer_destroy(net);
}

/* The state names, in order, of a net's first parameter "0.weight". */
static void test_optimizer_state_names_and_counts(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *net = make_net(ctx);
    ganet_adam_options ams = GANET_ADAM_OPTIONS_DEFAULT;
    ams.amsgrad = true;
    ganet_sgd_options mom = GANET_SGD_OPTIONS_DEFAULT;
    mom.momentum = 0.9f;
    ganet_optimizer *adam, *amsgrad, *sgd;
    assert_int_equal(ganet_adam_create(net, NULL, &adam), GANET_OK);
    assert_int_equal(ganet_adam_create(net, &ams, &amsgrad), GANET_OK);
    assert_int_equal(ganet_sgd_create(net, &mom, &sgd), GANET_OK);
    assert_int_equal(ganet_optimizer_state_count(adam), 2 * NET_PARAMS);
    assert_int_equal(ganet_optimizer_state_count(amsgrad), 3 * NET_PARAMS);
    assert_int_equal(ganet_optimizer_state_count(sgd), NET_PARAMS);
    assert_int_equal(ganet_optimizer_state_count(NULL), 0);

    const char *name;
    ganet_tensor *value;
    const char *const expected[3] = {"0.weight.exp_avg", "0.weight.exp_avg_sq",
                                     "0.weight.max_exp_avg_sq"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ganet_optimizer_state(amsgrad, i, &name, &value),
                         GANET_OK);
        assert_string_equal(name, expected[i]);
        /* Shaped like Conv2d(1,4,3)'s weight and zero-filled. */
        assert_int_equal(ganet_tensor_count(value), 4 * 1 * 3 * 3);
        float *v = support_values(value);
        for (int k = 0; k < 36; k++)
            assert_true(v[k] == 0.0f);
        free(v);
    }
    assert_int_equal(ganet_optimizer_state(amsgrad, 3, &name, NULL), GANET_OK);
    assert_string_equal(name, "1.weight.exp_avg");
    assert_int_equal(ganet_optimizer_state(adam, 9, &name, NULL), GANET_OK);
    assert_string_equal(name, "3.bias.exp_avg_sq");
    assert_int_equal(ganet_optimizer_state(sgd, 4, &name, &value), GANET_OK);
    assert_string_equal(name, "3.bias.momentum_buffer");

    assert_int_equal(ganet_optimizer_state(sgd, 5, &name, &value),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_null(name);
    assert_null(value);
    assert_int_equal(ganet_optimizer_state(sgd, -1, &name, &value),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_optimizer_state(NULL, 0, &name, &value),
                     GANET_ERR_NULL_POINTER);
    ganet_optimizer_destroy(adam);
    ganet_optimizer_destroy(amsgrad);
    ganet_optimizer_destroy(sgd);
    ganet_layer_destroy(net);
}

/* Save parameters, state and step count after 3 steps; step 4 from there,
 * then restore everything into a fresh optimizer and step 4 again: the
 * parameters come out identical. */
static void check_restore(ganet_layer *net, ganet_optimizer *first,
                          ganet_optimizer *second)
{
    int nstates = ganet_optimizer_state_count(first);
    for (int k = 0; k < 3; k++) {
        set_gradients(net, (float)k);
        assert_int_equal(ganet_optimizer_step(first), GANET_OK);
    }
    float *saved_params[NET_PARAMS], *saved_states[3 * NET_PARAMS];
    assert_true(nstates <= 3 * NET_PARAMS);
    for (int i = 0; i < NET_PARAMS; i++)
        saved_params[i] = support_values(param(net, i, NULL));
    for (int i = 0; i < nstates; i++) {
        ganet_tensor *s;
        assert_int_equal(ganet_optimizer_state(first, i, NULL, &s), GANET_OK);
        saved_states[i] = support_values(s);
    }
    int64_t steps = ganet_optimizer_get_step_count(first);

    set_gradients(net, 3.0f);
    assert_int_equal(ganet_optimizer_step(first), GANET_OK);
    float *expected[NET_PARAMS];
    for (int i = 0; i < NET_PARAMS; i++)
        expected[i] = support_values(param(net, i, NULL));

    for (int i = 0; i < NET_PARAMS; i++) {
        ganet_tensor *p = param(net, i, NULL);
        assert_int_equal(ganet_tensor_copy_from(p, saved_params[i],
                                                (size_t)ganet_tensor_count(p)),
                         GANET_OK);
    }
    for (int i = 0; i < nstates; i++) {
        ganet_tensor *s;
        assert_int_equal(ganet_optimizer_state(second, i, NULL, &s), GANET_OK);
        assert_int_equal(ganet_tensor_copy_from(s, saved_states[i],
                                                (size_t)ganet_tensor_count(s)),
                         GANET_OK);
    }
    assert_int_equal(ganet_optimizer_set_step_count(second, steps), GANET_OK);
    set_gradients(net, 3.0f);
    assert_int_equal(ganet_optimizer_step(second), GANET_OK);
    for (int i = 0; i < NET_PARAMS; i++) {
        assert_tensor_equals(param(net, i, NULL), expected[i]);
        free(expected[i]);
        free(saved_params[i]);
    }
    for (int i = 0; i < nstates; i++)
        free(saved_states[i]);
}

static void test_optimizer_state_save_and_restore(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *net = make_net(ctx);
    ganet_adam_options a = GANET_ADAM_OPTIONS_DEFAULT;
    a.amsgrad = true;
    a.weight_decay = 0.01f;
    ganet_sgd_options s = GANET_SGD_OPTIONS_DEFAULT;
    s.momentum = 0.9f;
    s.dampening = 0.1f;
    ganet_optimizer *first, *second;
    assert_int_equal(ganet_adam_create(net, &a, &first), GANET_OK);
    assert_int_equal(ganet_adam_create(net, &a, &second), GANET_OK);
    check_restore(net, first, second);
    ganet_optimizer_destroy(first);
    ganet_optimizer_destroy(second);
    assert_int_equal(ganet_sgd_create(net, &s, &first), GANET_OK);
    assert_int_equal(ganet_sgd_create(net, &s, &second), GANET_OK);
    check_restore(net, first, second);
    ganet_optimizer_destroy(first);
    ganet_optimizer_destroy(second);
    ganet_layer_destroy(net);
}

/* zero_grad zeroes the gradients of the optimizer's parameters only: an
 * optimizer of one child leaves the others alone, in zero_grad and step,
 * as a DC-GAN's two optimizers must. */
static void test_optimizer_touches_only_its_parameters(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *net = make_net(ctx);
    ganet_layer *last_conv = ganet_sequential_child(net, 3);
    assert_non_null(last_conv);
    ganet_optimizer *opt;
    assert_int_equal(ganet_sgd_create(last_conv, NULL, &opt), GANET_OK);
    set_gradients(net, 5.0f);
    float *before[NET_PARAMS], *grads[NET_PARAMS];
    for (int i = 0; i < NET_PARAMS; i++) {
        ganet_tensor *g;
        before[i] = support_values(param(net, i, &g));
        grads[i] = support_values(g);
    }
    assert_int_equal(ganet_optimizer_step(opt), GANET_OK);
    assert_int_equal(ganet_optimizer_zero_grad(opt), GANET_OK);
    for (int i = 0; i < NET_PARAMS; i++) {
        ganet_tensor *g, *p = param(net, i, &g);
        if (i < 3) {
            assert_tensor_equals(p, before[i]);
            assert_tensor_equals(g, grads[i]);
        } else {
            int64_t n = ganet_tensor_count(g);
            float *v = support_values(g), *pv = support_values(p);
            for (int64_t k = 0; k < n; k++)
                assert_true(v[k] == 0.0f);
            assert_memory_not_equal(pv, before[i], (size_t)n * sizeof *pv);
            free(v);
            free(pv);
        }
        free(before[i]);
        free(grads[i]);
    }
    assert_int_equal(ganet_optimizer_zero_grad(NULL), GANET_ERR_NULL_POINTER);
    ganet_optimizer_destroy(opt);
    ganet_layer_destroy(net);
}

static void test_optimizer_step_count_and_lr(void **state)
{
    ganet_layer *net = make_net(*state);
    ganet_optimizer *opt;
    assert_int_equal(ganet_adam_create(net, NULL, &opt), GANET_OK);
    assert_int_equal(ganet_optimizer_get_step_count(opt), 0);
    set_gradients(net, 0.5f);
    assert_int_equal(ganet_optimizer_step(opt), GANET_OK);
    assert_int_equal(ganet_optimizer_step(opt), GANET_OK);
    assert_int_equal(ganet_optimizer_get_step_count(opt), 2);
    assert_int_equal(ganet_optimizer_set_step_count(opt, 1000), GANET_OK);
    assert_int_equal(ganet_optimizer_get_step_count(opt), 1000);
    assert_int_equal(ganet_optimizer_set_step_count(opt, -1),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_optimizer_get_step_count(opt), 1000);
    assert_int_equal(ganet_optimizer_set_step_count(opt, INT64_MAX), GANET_OK);
    assert_int_equal(ganet_optimizer_step(opt), GANET_ERR_OVERFLOW);
    assert_int_equal(ganet_optimizer_set_step_count(NULL, 3),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_optimizer_get_step_count(NULL), 0);

    assert_true(ganet_optimizer_get_lr(opt) == 1e-3f);
    assert_int_equal(ganet_optimizer_set_lr(opt, 2e-4f), GANET_OK);
    assert_true(ganet_optimizer_get_lr(opt) == 2e-4f);
    assert_int_equal(ganet_optimizer_set_lr(opt, -1.0f),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "adam: lr is -1"));
    assert_int_equal(ganet_optimizer_set_lr(opt, NAN),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_true(ganet_optimizer_get_lr(opt) == 2e-4f);
    assert_int_equal(ganet_optimizer_set_lr(NULL, 0.1f),
                     GANET_ERR_NULL_POINTER);
    assert_true(ganet_optimizer_get_lr(NULL) == 0.0f);
    assert_int_equal(ganet_optimizer_step(NULL), GANET_ERR_NULL_POINTER);
    ganet_optimizer_destroy(opt);
    ganet_layer_destroy(net);
}

/* With lr 0 nothing moves; a new lr takes effect on the next step. */
static void test_optimizer_set_lr_takes_effect(void **state)
{
    ganet_layer *net = make_net(*state);
    ganet_sgd_options o = GANET_SGD_OPTIONS_DEFAULT;
    o.lr = 0.0f;
    ganet_optimizer *opt;
    assert_int_equal(ganet_sgd_create(net, &o, &opt), GANET_OK);
    set_gradients(net, 0.25f);
    ganet_tensor *grad, *p = param(net, 0, &grad);
    float *before = support_values(p), *g = support_values(grad);
    assert_int_equal(ganet_optimizer_step(opt), GANET_OK);
    assert_tensor_equals(p, before);
    assert_int_equal(ganet_optimizer_set_lr(opt, 0.5f), GANET_OK);
    assert_int_equal(ganet_optimizer_step(opt), GANET_OK);
    float *after = support_values(p);
    /* Plain SGD: p - lr * g, one rounding (PyTorch's add with alpha). */
    for (int64_t k = 0; k < ganet_tensor_count(p); k++)
        assert_true(after[k] == fmaf(-0.5f, g[k], before[k]));
    free(before);
    free(after);
    free(g);
    ganet_optimizer_destroy(opt);
    ganet_layer_destroy(net);
}

/* Steps allocate nothing: the state exists from creation. */
static void test_optimizer_steady_loop_does_not_allocate(void **state)
{
    ganet_context *ctx = *state;
    ganet_layer *net = make_net(ctx);
    ganet_optimizer *opt = amsgrad_adam(net);
    set_gradients(net, 0.1f);
    ganet_context_stats before, after;
    assert_int_equal(ganet_context_get_stats(ctx, &before), GANET_OK);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(ganet_optimizer_step(opt), GANET_OK);
        assert_int_equal(ganet_optimizer_zero_grad(opt), GANET_OK);
    }
    assert_int_equal(ganet_context_get_stats(ctx, &after), GANET_OK);
    assert_int_equal(after.allocations, before.allocations);
    assert_int_equal(after.bytes_in_use, before.bytes_in_use);
    ganet_optimizer_destroy(opt);
    ganet_layer_destroy(net);
}

/* An Adam over a BatchNorm2d of n features (weight and bias, n values
 * each), made with the vector kernel or, with GANET_NO_AVX2 set while it
 * is created, without it. */
static ganet_optimizer *adam_over(ganet_context *ctx, int64_t n, bool vector,
                                  float weight_decay, bool amsgrad,
                                  ganet_layer **layer)
{
    ganet_batchnorm2d_options b = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
    b.num_features = n;
    assert_int_equal(ganet_batchnorm2d_create(ctx, &b, layer), GANET_OK);
    ganet_adam_options o = GANET_ADAM_OPTIONS_DEFAULT;
    o.lr = 2e-4f;
    o.beta1 = 0.5f;
    o.weight_decay = weight_decay;
    o.amsgrad = amsgrad;
    if (!vector)
        assert_int_equal(setenv("GANET_NO_AVX2", "1", 1), 0);
    ganet_optimizer *opt = NULL;
    assert_int_equal(ganet_adam_create(*layer, &o, &opt), GANET_OK);
    assert_int_equal(unsetenv("GANET_NO_AVX2"), 0);
    return opt;
}

/* Adam's vector kernel (where the CPU has AVX2) gives the scalar
 * kernel's bits: lengths around the vector width and across the chunks
 * the threads share, with and without weight decay and AMSGrad, over
 * steps whose bias corrections differ. */
static void test_optimizer_adam_kernels_agree(void **state)
{
    ganet_context *ctx = *state;
    const int64_t lengths[] = {1, 7, 8, 9, 33, 70001};
    for (size_t k = 0; k < sizeof lengths / sizeof *lengths; k++) {
        int64_t n = lengths[k];
        float *g = malloc((size_t)n * sizeof *g);
        assert_non_null(g);
        for (int variant = 0; variant < 4; variant++) {
            float wd = variant & 1 ? 0.01f : 0.0f;
            bool ams = variant & 2;
            ganet_layer *la, *lb;
            ganet_optimizer *a = adam_over(ctx, n, true, wd, ams, &la);
            ganet_optimizer *b = adam_over(ctx, n, false, wd, ams, &lb);
            for (int step = 0; step < 3; step++) {
                for (int p = 0; p < 2; p++) {
                    for (int64_t i = 0; i < n; i++)
                        g[i] = sinf(0.7f * (float)(i + 31 * step + 7 * p)) *
                               (step == 1 ? 3e-3f : 1.0f);
                    ganet_tensor *ga, *gb;
                    assert_int_equal(ganet_layer_param(la, p, NULL, NULL, &ga),
                                     GANET_OK);
                    assert_int_equal(ganet_layer_param(lb, p, NULL, NULL, &gb),
                                     GANET_OK);
                    assert_int_equal(ganet_tensor_copy_from(ga, g, (size_t)n),
                                     GANET_OK);
                    assert_int_equal(ganet_tensor_copy_from(gb, g, (size_t)n),
                                     GANET_OK);
                }
                assert_int_equal(ganet_optimizer_step(a), GANET_OK);
                assert_int_equal(ganet_optimizer_step(b), GANET_OK);
            }
            for (int p = 0; p < 2; p++) {
                ganet_tensor *va, *vb;
                assert_int_equal(ganet_layer_param(la, p, NULL, &va, NULL),
                                 GANET_OK);
                assert_int_equal(ganet_layer_param(lb, p, NULL, &vb, NULL),
                                 GANET_OK);
                support_assert_same_values(va, vb);
            }
            assert_int_equal(ganet_optimizer_state_count(a),
                             ganet_optimizer_state_count(b));
            for (int s = 0; s < ganet_optimizer_state_count(a); s++) {
                ganet_tensor *sa, *sb;
                assert_int_equal(ganet_optimizer_state(a, s, NULL, &sa),
                                 GANET_OK);
                assert_int_equal(ganet_optimizer_state(b, s, NULL, &sb),
                                 GANET_OK);
                support_assert_same_values(sa, sb);
            }
            ganet_optimizer_destroy(a);
            ganet_optimizer_destroy(b);
            ganet_layer_destroy(la);
            ganet_layer_destroy(lb);
        }
        free(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_optimizer_matches_pytorch),
            cmocka_unit_test(test_optimizer_rejects_bad_options),
            cmocka_unit_test(test_optimizer_rejects_layer_without_parameters),
            cmocka_unit_test(test_optimizer_refuses_nonfinite_gradient),
            cmocka_unit_test(test_optimizer_state_names_and_counts),
            cmocka_unit_test(test_optimizer_state_save_and_restore),
            cmocka_unit_test(test_optimizer_touches_only_its_parameters),
            cmocka_unit_test(test_optimizer_step_count_and_lr),
            cmocka_unit_test(test_optimizer_set_lr_takes_effect),
            cmocka_unit_test(test_optimizer_steady_loop_does_not_allocate),
            cmocka_unit_test(test_optimizer_adam_kernels_agree),
    };
    return cmocka_run_group_tests_name("optimizer", tests,
                                       support_context_setup,
                                       support_context_teardown);
}
