/*
 * generator_block: how a DC-GAN generator grows an image out of noise.
 *
 * A batch of 100x1x1 noise vectors goes through the generator's first two
 * blocks, ConvTranspose2d -> BatchNorm2d -> ReLU, and every shape is
 * printed with the transposed-convolution arithmetic that produced it:
 *
 *     out = (in - 1) * stride - 2 * padding + kernel + output_padding
 *
 * The first block (stride 1, padding 0) turns 1x1 into 4x4; the second
 * (stride 2, padding 1) doubles 4x4 to 8x8. BatchNorm in training mode
 * normalises each channel with the mean and variance of this batch, then
 * scales it by its weight gamma and shifts it by its bias beta: the
 * program prints the channel's mean (beta, 0 at the start) and variance
 * (gamma squared, near 1 since DC-GAN's init draws gamma from
 * N(1, 0.02)). ReLU then keeps the positive half. Last, the program
 * shows why samples are drawn with BatchNorm in inference mode: only
 * then does an image depend on its own noise vector alone.
 *
 * Left out: training; see dcgan/train.c.
 */
#include <math.h>
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

static ganet_layer *conv_transpose(ganet_context *ctx, int64_t in, int64_t out,
                                   int64_t stride, int64_t padding)
{
    ganet_conv2d_options o = GANET_CONV2D_OPTIONS_DEFAULT;
    o.in_channels = in;
    o.out_channels = out;
    o.kernel[0] = o.kernel[1] = 4;
    o.stride[0] = o.stride[1] = stride;
    o.padding[0] = o.padding[1] = padding;
    o.bias = false;
    ganet_layer *l;
    CHECK(ganet_conv_transpose2d_create(ctx, &o, &l));
    return l;
}

static ganet_layer *batchnorm(ganet_context *ctx, int64_t channels)
{
    ganet_batchnorm2d_options o = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
    o.num_features = channels;
    ganet_layer *l;
    CHECK(ganet_batchnorm2d_create(ctx, &o, &l));
    return l;
}

/* Mean and variance of channel c over the batch and the pixels. */
static void channel_stats(const ganet_tensor *t, int64_t c, double *mean,
                          double *var)
{
    int64_t n = ganet_tensor_dim(t, 0), ch = ganet_tensor_dim(t, 1);
    int64_t hw = ganet_tensor_dim(t, 2) * ganet_tensor_dim(t, 3);
    float *v = malloc((size_t)ganet_tensor_count(t) * sizeof *v);
    CHECK(ganet_tensor_copy_to(t, v, (size_t)ganet_tensor_count(t)));
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < hw; p++) {
            double x = v[(i * ch + c) * hw + p];
            sum += x;
            sq += x * x;
        }
    *mean = sum / (double)(n * hw);
    *var = sq / (double)(n * hw) - *mean * *mean;
    free(v);
}

/* Channel c of a BatchNorm's weight gamma (parameter 0, "weight"). */
static float bn_weight(ganet_layer *bn, int64_t c)
{
    ganet_tensor *w;
    CHECK(ganet_layer_param(bn, 0, NULL, &w, NULL));
    int64_t n = ganet_tensor_count(w);
    float *v = malloc((size_t)n * sizeof *v);
    CHECK(ganet_tensor_copy_to(w, v, (size_t)n));
    float gamma = v[c];
    free(v);
    return gamma;
}

/* Run g on the batch and on its first vector alone, in one mode, and
 * return the largest difference between the two outputs for that vector. */
static double first_output_change(ganet_layer *g, const ganet_tensor *batch,
                                  const ganet_tensor *first, ganet_mode mode)
{
    const ganet_tensor *out;
    CHECK(ganet_layer_forward(g, batch, mode, &out));
    int64_t n = ganet_tensor_count(out), per = n / ganet_tensor_dim(out, 0);
    float *in_batch = malloc((size_t)n * sizeof *in_batch);
    float *alone = malloc((size_t)per * sizeof *alone);
    CHECK(ganet_tensor_copy_to(out, in_batch, (size_t)n));
    CHECK(ganet_layer_forward(g, first, mode, &out));
    CHECK(ganet_tensor_copy_to(out, alone, (size_t)per));
    double largest = 0.0;
    for (int64_t i = 0; i < per; i++)
        largest = fmax(largest, fabs((double)(in_batch[i] - alone[i])));
    free(alone);
    free(in_batch);
    return largest;
}

int main(void)
{
    ganet_context_options opts = GANET_CONTEXT_OPTIONS_DEFAULT;
    opts.seed = 7;
    ganet_context *ctx;
    CHECK(ganet_context_create(&opts, &ctx));

    /* 1. The two blocks, built as one Sequential with DC-GAN's init. */
    ganet_layer *g;
    CHECK(ganet_sequential_create(ctx, &g));
    CHECK(ganet_sequential_add(g, conv_transpose(ctx, 100, 512, 1, 0)));
    CHECK(ganet_sequential_add(g, batchnorm(ctx, 512)));
    ganet_layer *relu;
    CHECK(ganet_relu_create(ctx, &relu));
    CHECK(ganet_sequential_add(g, relu));
    CHECK(ganet_sequential_add(g, conv_transpose(ctx, 512, 256, 2, 1)));
    CHECK(ganet_sequential_add(g, batchnorm(ctx, 256)));
    CHECK(ganet_relu_create(ctx, &relu));
    CHECK(ganet_sequential_add(g, relu));
    CHECK(ganet_layer_init(g, GANET_INIT_DCGAN));

    /* 2. The shapes, with the arithmetic written out. */
    const int64_t z_dims[4] = {16, 100, 1, 1};
    char text[4096];
    CHECK(ganet_layer_summary(g, z_dims, text, sizeof text));
    printf("%s\n\n", text);

    /* 3. A batch of 16 noise vectors z ~ N(0, 1). */
    ganet_tensor *z;
    CHECK(ganet_tensor_create(ctx, 4, z_dims, &z));
    CHECK(ganet_tensor_fill_normal(z, 0.0f, 1.0f));

    /* 4. Forward block by block, to look inside. */
    const ganet_tensor *x = z;
    for (int i = 0; i < ganet_sequential_count(g); i++) {
        ganet_layer *l = ganet_sequential_child(g, i);
        CHECK(ganet_layer_forward(l, x, GANET_MODE_TRAINING, &x));
        char line[160];
        CHECK(ganet_tensor_summary(x, line, sizeof line));
        printf("after %d %-16s %s\n", i, ganet_layer_kind(l), line);
        if (i == 1 || i == 4) {
            double mean, var;
            channel_stats(x, 0, &mean, &var);
            float gamma = bn_weight(l, 0);
            printf("  BatchNorm in training mode: channel 0 has mean "
                   "%.2g and variance %.4f over the batch; "
                   "gamma^2 = %.4f\n",
                   mean, var, (double)gamma * (double)gamma);
        }
    }
    printf("\nA 100-number noise vector has become 256 feature maps of "
           "8x8; three more blocks would make a 64x64 image.\n\n");

    /* 5. Training mode normalises with the batch's statistics, so the
     *    output for z_0 depends on the 15 other vectors; inference mode
     *    uses the running statistics and does not. */
    const int64_t one_dims[4] = {1, 100, 1, 1};
    ganet_tensor *z0;
    CHECK(ganet_tensor_create(ctx, 4, one_dims, &z0));
    float z_values[100 * 16];
    CHECK(ganet_tensor_copy_to(z, z_values, 100 * 16));
    CHECK(ganet_tensor_copy_from(z0, z_values, 100));
    const ganet_mode modes[2] = {GANET_MODE_TRAINING, GANET_MODE_INFERENCE};
    const char *const mode_names[2] = {"training", "inference"};
    for (int m = 0; m < 2; m++) {
        double d = first_output_change(g, z, z0, modes[m]);
        printf("%-9s mode: z_0 alone vs in the batch of 16, largest "
               "difference of its output %.3g\n",
               mode_names[m], d);
    }

    ganet_tensor_destroy(z0);
    ganet_tensor_destroy(z);
    ganet_layer_destroy(g);
    ganet_context_destroy(ctx);
    return 0;
}
