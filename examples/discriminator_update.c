/*
 * discriminator_update: one update of the discriminator, written out
 * call by call, and what "detaching" the fake batch means.
 *
 * D learns to say 1 for real images and 0 for generated ones:
 *
 *     loss_D = BCE(D(x), 1) + BCE(D(G(z)), 0)
 *            = -log D(x) - log(1 - D(G(z)))
 *
 * In PyTorch the fake batch is passed as G(z).detach(), so that this loss
 * does not reach G. With libganet's explicit backward passes the same
 * thing is simply not calling G's backward: the gradient stops at D's
 * input. The program checks that every gradient of G is still exactly
 * zero after the update, and that D's step moved D's weights.
 *
 * Left out: G's own update and the loop; see dcgan/train_step.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dcgan.h"

#define CHECK(call)                                                            \
    do {                                                                       \
        ganet_status st_ = (call);                                             \
        if (st_ != GANET_OK) {                                                 \
            fprintf(stderr, "%s failed: %s (%s)\n", #call,                     \
                    ganet_status_name(st_), ganet_last_error());               \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* Largest |value| over every gradient of a layer. */
static double largest_gradient(ganet_layer *net)
{
    double largest = 0.0;
    for (int i = 0; i < ganet_layer_param_count(net); i++) {
        ganet_tensor *grad;
        CHECK(ganet_layer_param(net, i, NULL, NULL, &grad));
        int64_t n = ganet_tensor_count(grad);
        float *v = malloc((size_t)n * sizeof *v);
        CHECK(ganet_tensor_copy_to(grad, v, (size_t)n));
        for (int64_t k = 0; k < n; k++)
            largest = fmax(largest, fabs((double)v[k]));
        free(v);
    }
    return largest;
}

/* The first value of D's first weight, to see the step move it. */
static float first_weight(ganet_layer *net)
{
    ganet_tensor *w;
    CHECK(ganet_layer_param(net, 0, NULL, &w, NULL));
    float v[1];
    int64_t n = ganet_tensor_count(w);
    float *all = malloc((size_t)n * sizeof *all);
    CHECK(ganet_tensor_copy_to(w, all, (size_t)n));
    v[0] = all[0];
    free(all);
    return v[0];
}

int main(void)
{
    ganet_context_options opts = GANET_CONTEXT_OPTIONS_DEFAULT;
    opts.seed = 3;
    ganet_context *ctx;
    CHECK(ganet_context_create(&opts, &ctx));
    dcgan_config cfg = DCGAN_CONFIG_32;
    cfg.ngf = cfg.ndf = 16;
    dcgan gan;
    const dcgan_train_options train = DCGAN_TRAIN_OPTIONS_DEFAULT;
    CHECK(dcgan_create(ctx, &cfg, &train, &gan));

    /* Stand-ins for a real batch: uniform noise in [-1, 1]. */
    const int64_t n = 16;
    ganet_tensor *real, *z;
    CHECK(ganet_tensor_create_4d(ctx, n, 1, 32, 32, &real));
    CHECK(ganet_tensor_fill_uniform(real, -1.0f, 1.0f));
    CHECK(ganet_tensor_create_4d(ctx, n, cfg.nz, 1, 1, &z));
    CHECK(ganet_tensor_fill_normal(z, 0.0f, 1.0f));
    CHECK(ganet_layer_zero_grad(gan.generator));
    float before = first_weight(gan.discriminator);

    /* 1. Zero D's gradients: they add up over the two batches below. */
    CHECK(ganet_optimizer_zero_grad(gan.opt_d));

    /* 2. Real batch, label 1: loss -log D(x). */
    const ganet_tensor *out, *diff;
    float loss_real, loss_fake;
    CHECK(ganet_layer_forward(gan.discriminator, real, GANET_MODE_TRAINING,
                              &out));
    CHECK(ganet_loss_forward_constant(gan.bce, out, 1.0f, &loss_real));
    CHECK(ganet_loss_backward(gan.bce, &diff));
    CHECK(ganet_layer_backward(gan.discriminator, diff, NULL));

    /* 3. Fake batch, label 0: loss -log(1 - D(G(z))). D's backward gets
     *    NULL for the input gradient: nobody needs it, because G's
     *    backward is not called. That is the detach. */
    const ganet_tensor *fake;
    CHECK(ganet_layer_forward(gan.generator, z, GANET_MODE_TRAINING, &fake));
    CHECK(ganet_layer_forward(gan.discriminator, fake, GANET_MODE_TRAINING,
                              &out));
    CHECK(ganet_loss_forward_constant(gan.bce, out, 0.0f, &loss_fake));
    CHECK(ganet_loss_backward(gan.bce, &diff));
    CHECK(ganet_layer_backward(gan.discriminator, diff, NULL));

    /* 4. D's Adam step on the sum of both gradients. */
    CHECK(ganet_optimizer_step(gan.opt_d));

    printf("loss_D = BCE(D(x), 1) + BCE(D(G(z)), 0) = %.4f + %.4f = %.4f\n",
           (double)loss_real, (double)loss_fake,
           (double)(loss_real + loss_fake));
    printf("a start with D guessing: each term is near -log(0.5) = %.4f\n",
           log(2.0));
    double g_grad = largest_gradient(gan.generator);
    float after = first_weight(gan.discriminator);
    printf("largest gradient in G after D's update: %g (detached: "
           "must be 0)\n",
           g_grad);
    printf("D's first weight: %.6f -> %.6f (Adam's first step moves "
           "it by about lr = %g)\n",
           (double)before, (double)after, (double)train.lr);
    int failed = g_grad != 0.0 || before == after;

    ganet_tensor_destroy(z);
    ganet_tensor_destroy(real);
    dcgan_destroy(&gan);
    ganet_context_destroy(ctx);
    if (failed)
        fprintf(stderr, "discriminator_update: the check failed\n");
    return failed;
}
