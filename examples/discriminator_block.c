/*
 * discriminator_block: how a DC-GAN discriminator shrinks an image to a
 * verdict.
 *
 * A batch of 3x64x64 images goes through the discriminator's first two
 * blocks and every shape is printed with the convolution arithmetic:
 *
 *     out = floor((in + 2 * padding - kernel) / stride) + 1
 *
 * Kernel 4, stride 2, padding 1 halves the size: 64 -> 32 -> 16. The first
 * block has no BatchNorm (the DC-GAN paper found it unstable on the
 * input); the second has one. Both use LeakyReLU with slope 0.2: a
 * negative input x gives 0.2 x instead of ReLU's 0, so the gradient that
 * reaches G through D never dies on the negative side. The program counts
 * how many outputs are negative to show it.
 *
 * Left out: training; see dcgan/train.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include <ganet/ganet.h>

#define CHECK(call)                                                            \
    do {                                                                       \
        ganet_status st_ = (call);                                             \
        if (st_ != GANET_OK) {                                                 \
            fprintf(stderr, "%s failed: %s (%s)\n", #call,                     \
                    ganet_status_name(st_), ganet_last_error());               \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static ganet_layer *conv(ganet_context *ctx, int64_t in, int64_t out)
{
    ganet_conv2d_options o = GANET_CONV2D_OPTIONS_DEFAULT;
    o.in_channels = in;
    o.out_channels = out;
    o.kernel[0] = o.kernel[1] = 4;
    o.stride[0] = o.stride[1] = 2;
    o.padding[0] = o.padding[1] = 1;
    o.bias = false;
    ganet_layer *l;
    CHECK(ganet_conv2d_create(ctx, &o, &l));
    return l;
}

static ganet_layer *leaky(ganet_context *ctx)
{
    ganet_layer *l;
    CHECK(ganet_leaky_relu_create(ctx, 0.2f, &l));
    return l;
}

/* Share of negative values: LeakyReLU keeps them, scaled by 0.2. */
static double negative_share(const ganet_tensor *t)
{
    int64_t n = ganet_tensor_count(t), neg = 0;
    float *v = malloc((size_t)n * sizeof *v);
    CHECK(ganet_tensor_copy_to(t, v, (size_t)n));
    for (int64_t i = 0; i < n; i++)
        neg += v[i] < 0.0f;
    free(v);
    return (double)neg / (double)n;
}

int main(void)
{
    ganet_context_options opts = GANET_CONTEXT_OPTIONS_DEFAULT;
    opts.seed = 7;
    ganet_context *ctx;
    CHECK(ganet_context_create(&opts, &ctx));

    /* 1. Conv -> LeakyReLU, then Conv -> BatchNorm -> LeakyReLU. */
    ganet_layer *d;
    CHECK(ganet_sequential_create(ctx, &d));
    CHECK(ganet_sequential_add(d, conv(ctx, 3, 64)));
    CHECK(ganet_sequential_add(d, leaky(ctx)));
    CHECK(ganet_sequential_add(d, conv(ctx, 64, 128)));
    ganet_batchnorm2d_options bn = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
    bn.num_features = 128;
    ganet_layer *l;
    CHECK(ganet_batchnorm2d_create(ctx, &bn, &l));
    CHECK(ganet_sequential_add(d, l));
    CHECK(ganet_sequential_add(d, leaky(ctx)));
    CHECK(ganet_layer_init(d, GANET_INIT_DCGAN));

    /* 2. The shapes, with the arithmetic written out. */
    const int64_t dims[4] = {8, 3, 64, 64};
    char text[4096];
    CHECK(ganet_layer_summary(d, dims, text, sizeof text));
    printf("%s\n\n", text);

    /* 3. Eight images with pixels in [-1, 1], the range of G's tanh. */
    ganet_tensor *x;
    CHECK(ganet_tensor_create(ctx, 4, dims, &x));
    CHECK(ganet_tensor_fill_uniform(x, -1.0f, 1.0f));

    /* 4. Forward block by block. */
    const ganet_tensor *y = x;
    for (int i = 0; i < ganet_sequential_count(d); i++) {
        ganet_layer *child = ganet_sequential_child(d, i);
        CHECK(ganet_layer_forward(child, y, GANET_MODE_TRAINING, &y));
        char line[160];
        CHECK(ganet_tensor_summary(y, line, sizeof line));
        printf("after %d %-12s %s\n", i, ganet_layer_kind(child), line);
        if (i == 1 || i == 4)
            printf("  %.0f%% of the values are negative and still carry "
                   "a gradient (times 0.2)\n",
                   100.0 * negative_share(y));
    }
    printf("\nTwo more blocks and a last 4x4 convolution would turn this "
           "into one number per image, and a sigmoid into a probability.\n");

    ganet_tensor_destroy(x);
    ganet_layer_destroy(d);
    ganet_context_destroy(ctx);
    return 0;
}
