/*
 * The DC-GAN of Radford, Metz and Chintala (2015) on libganet: the two
 * networks and one training iteration, shared by the training and the
 * sampling programs and by the tests.
 *
 * The generator G turns a noise vector z (nz x 1 x 1) into an image; the
 * discriminator D turns an image into the probability that it is real.
 * Training is a two-player game: D learns to tell real images from G's,
 * G learns to make D call its images real.
 */
#ifndef DCGAN_H
#define DCGAN_H

#include <stdint.h>

#include <ganet/ganet.h>

/* Return the status of a call from the enclosing function if it failed;
 * ganet_last_error() then says why. */
#define DCGAN_TRY(call)                                                        \
    do {                                                                       \
        ganet_status dcgan_st_ = (call);                                       \
        if (dcgan_st_ != GANET_OK)                                             \
            return dcgan_st_;                                                  \
    } while (0)

/* The shape of both networks. */
typedef struct dcgan_config {
    /* 32 or 64: the image is size x size. */
    int64_t image_size;
    /* Colour channels of the images: 1 for Fashion-MNIST, 3 for RGB. */
    int64_t channels;
    /* Length of the noise vector z. */
    int64_t nz;
    /* Feature maps of G's last hidden block and D's first block. */
    int64_t ngf, ndf;
} dcgan_config;

/* PyTorch's example: 64x64 RGB, nz 100, ngf and ndf 64. */
#define DCGAN_CONFIG_64                                                        \
    {                                                                          \
        .image_size = 64, .channels = 3, .nz = 100, .ngf = 64, .ndf = 64       \
    }

/* Fashion-MNIST padded from 28x28 to 32x32, one channel. */
#define DCGAN_CONFIG_32                                                        \
    {                                                                          \
        .image_size = 32, .channels = 1, .nz = 100, .ngf = 64, .ndf = 64       \
    }

/* Build G: (N, nz, 1, 1) -> (N, channels, size, size), values in (-1, 1).
 * The caller owns the result. */
ganet_status dcgan_generator_create(ganet_context *ctx, const dcgan_config *cfg,
                                    ganet_layer **out);

/* Build D: (N, channels, size, size) -> (N, 1, 1, 1), probabilities. */
ganet_status dcgan_discriminator_create(ganet_context *ctx,
                                        const dcgan_config *cfg,
                                        ganet_layer **out);

/* Everything one training iteration touches. */
typedef struct dcgan {
    ganet_context *ctx;
    dcgan_config cfg;
    ganet_layer *generator, *discriminator;
    ganet_optimizer *opt_g, *opt_d;
    ganet_loss *bce;
    /* Label for real images: 1, or e.g. 0.9 for one-sided smoothing. */
    float real_label;
    /* Host copy of D's output for one batch, for D(x) and D(G(z)). */
    float *d_out;
    int64_t d_out_capacity;
} dcgan;

/* Hyper-parameters of both Adam optimizers; the paper's are lr 2e-4,
 * beta1 0.5, beta2 0.999. */
typedef struct dcgan_train_options {
    float lr, beta1, beta2;
    float real_label;
} dcgan_train_options;

#define DCGAN_TRAIN_OPTIONS_DEFAULT                                            \
    {                                                                          \
        .lr = 2e-4f, .beta1 = 0.5f, .beta2 = 0.999f, .real_label = 1.0f        \
    }

/* Create both networks with DC-GAN's weight init, both optimizers and the
 * loss. On failure everything made so far is freed. */
ganet_status dcgan_create(ganet_context *ctx, const dcgan_config *cfg,
                          const dcgan_train_options *opts, dcgan *gan);

void dcgan_destroy(dcgan *gan);

/* The numbers of one iteration that tell how the game goes. */
typedef struct dcgan_step_stats {
    /* BCE of D on the real batch and on the fake batch; loss_d is their
     * sum, which D minimises. */
    float loss_d_real, loss_d_fake, loss_d;
    /* BCE of D(G(z)) against the real label, which G minimises. */
    float loss_g;
    /* Mean of D(x) on the real batch: near 1 means D recognises reals. */
    float d_x;
    /* Mean of D(G(z)) before and after D's step. */
    float d_g_z1, d_g_z2;
} dcgan_step_stats;

/*
 * One iteration in the order of PyTorch's example:
 *   1. D on the real batch, label real; backward.
 *   2. G makes a fake batch; D on it, label fake; backward through D only
 *      (G's backward is not called: this is PyTorch's fake.detach()).
 *   3. D's Adam step.
 *   4. D on the same fake batch, label real; backward through D into G.
 *   5. G's Adam step.
 * real is (N, channels, size, size) in [-1, 1]; noise is (N, nz, 1, 1).
 */
ganet_status dcgan_train_step(dcgan *gan, const ganet_tensor *real,
                              const ganet_tensor *noise,
                              dcgan_step_stats *stats);

#endif
