/*
 * One DC-GAN training iteration with explicit forward and backward
 * passes. The BCE min-max game:
 *
 *   D maximises  log D(x) + log(1 - D(G(z)))
 *                = minimises BCE(D(x), 1) + BCE(D(G(z)), 0)
 *   G maximises  log D(G(z))
 *                = minimises BCE(D(G(z)), 1)
 *
 * G's loss is the "non-saturating" one of the paper: minimising
 * log(1 - D(G(z))) instead would give G almost no gradient early on,
 * when D easily rejects its images.
 */
#include <stdlib.h>

#include "dcgan.h"

ganet_status dcgan_create(ganet_context *ctx, const dcgan_config *cfg,
                          const dcgan_train_options *opts, dcgan *gan)
{
    *gan = (dcgan){.ctx = ctx, .cfg = *cfg, .real_label = opts->real_label};
    ganet_adam_options adam = GANET_ADAM_OPTIONS_DEFAULT;
    adam.lr = opts->lr;
    adam.beta1 = opts->beta1;
    adam.beta2 = opts->beta2;
    ganet_status st = dcgan_generator_create(ctx, cfg, &gan->generator);
    if (st == GANET_OK)
        st = dcgan_discriminator_create(ctx, cfg, &gan->discriminator);
    if (st == GANET_OK)
        st = ganet_adam_create(gan->generator, &adam, &gan->opt_g);
    if (st == GANET_OK)
        st = ganet_adam_create(gan->discriminator, &adam, &gan->opt_d);
    if (st == GANET_OK)
        st = ganet_loss_create(ctx, GANET_LOSS_BCE, GANET_REDUCTION_MEAN,
                               &gan->bce);
    if (st != GANET_OK)
        dcgan_destroy(gan);
    return st;
}

void dcgan_destroy(dcgan *gan)
{
    ganet_loss_destroy(gan->bce);
    ganet_optimizer_destroy(gan->opt_d);
    ganet_optimizer_destroy(gan->opt_g);
    ganet_layer_destroy(gan->discriminator);
    ganet_layer_destroy(gan->generator);
    free(gan->d_out);
    *gan = (dcgan){0};
}

/* The mean of D's output, (N, 1, 1, 1): D's average belief that the
 * batch is real. */
static ganet_status mean_output(dcgan *gan, const ganet_tensor *out,
                                float *mean)
{
    int64_t n = ganet_tensor_count(out);
    if (n > gan->d_out_capacity) {
        float *grown = realloc(gan->d_out, (size_t)n * sizeof *grown);
        if (grown == NULL)
            return GANET_ERR_OUT_OF_MEMORY;
        gan->d_out = grown;
        gan->d_out_capacity = n;
    }
    DCGAN_TRY(ganet_tensor_copy_to(out, gan->d_out, n));
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += gan->d_out[i];
    *mean = (float)(sum / (double)n);
    return GANET_OK;
}

/* D on a batch against one label; the loss gradient flows back through
 * D, whose parameter gradients grow by this batch's share. diff_src is
 * the gradient with respect to the batch, or NULL when nobody needs it. */
static ganet_status judge(dcgan *gan, const ganet_tensor *batch, float label,
                          float *loss, float *mean,
                          const ganet_tensor **diff_src)
{
    const ganet_tensor *out, *diff_out;
    DCGAN_TRY(ganet_layer_forward(gan->discriminator, batch,
                                  GANET_MODE_TRAINING, &out));
    DCGAN_TRY(ganet_loss_forward_constant(gan->bce, out, label, loss));
    DCGAN_TRY(mean_output(gan, out, mean));
    DCGAN_TRY(ganet_loss_backward(gan->bce, &diff_out));
    return ganet_layer_backward(gan->discriminator, diff_out, diff_src);
}

ganet_status dcgan_train_step(dcgan *gan, const ganet_tensor *real,
                              const ganet_tensor *noise, dcgan_step_stats *s)
{
    /* 1. D on real images: BCE(D(x), 1). */
    DCGAN_TRY(ganet_optimizer_zero_grad(gan->opt_d));
    DCGAN_TRY(
            judge(gan, real, gan->real_label, &s->loss_d_real, &s->d_x, NULL));

    /* 2. D on fake images: BCE(D(G(z)), 0). Only D's backward runs, so
     *    G's gradients stay untouched: the "detach" of PyTorch. */
    const ganet_tensor *fake;
    DCGAN_TRY(ganet_layer_forward(gan->generator, noise, GANET_MODE_TRAINING,
                                  &fake));
    DCGAN_TRY(judge(gan, fake, 0.0f, &s->loss_d_fake, &s->d_g_z1, NULL));
    s->loss_d = s->loss_d_real + s->loss_d_fake;

    /* 3. D's step on the sum of both batches' gradients. */
    DCGAN_TRY(ganet_optimizer_step(gan->opt_d));

    /* 4. G wants D to call its images real: BCE(D(G(z)), 1), judged by
     *    the D just updated. The gradient now flows on into G. D's own
     *    parameter gradients are not wanted here (step 1 of the next
     *    iteration would zero them), so D computes only the gradient of
     *    its input: PyTorch's requires_grad_(False) on D. */
    DCGAN_TRY(ganet_optimizer_zero_grad(gan->opt_g));
    const ganet_tensor *diff_fake;
    DCGAN_TRY(ganet_layer_set_requires_grad(gan->discriminator, false));
    ganet_status st =
            judge(gan, fake, 1.0f, &s->loss_g, &s->d_g_z2, &diff_fake);
    DCGAN_TRY(ganet_layer_set_requires_grad(gan->discriminator, true));
    DCGAN_TRY(st);
    DCGAN_TRY(ganet_layer_backward(gan->generator, diff_fake, NULL));

    /* 5. G's step. */
    return ganet_optimizer_step(gan->opt_g);
}
