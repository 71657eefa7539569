/*
 * The generator and the discriminator, layer by layer, as in the DC-GAN
 * paper and PyTorch's example: no pooling and no fully connected layer,
 * strided (transposed) convolutions change the size, BatchNorm in every
 * hidden block, ReLU in G, LeakyReLU(0.2) in D, tanh and sigmoid at the
 * ends. The ReLUs and LeakyReLUs run in place, as PyTorch's example has
 * them (inplace=True): each follows a convolution or a BatchNorm and comes
 * before a convolution, so they need no tensors of their own. G's final
 * tanh writes over the last convolution's output too (its gradient is the
 * caller's, so that side keeps a tensor). The BatchNorms write their input
 * gradient in place of the one they receive, which nothing reads again.
 */
#include <stdio.h>

#include "dcgan.h"

/* Add the child *made by a constructor that returned st (a pointer,
 * since the constructor's call and the read of the child are arguments
 * of the same call). The Sequential owns the child once it is added; a
 * child it refused is still ours. */
static ganet_status add(ganet_layer *seq, ganet_status st,
                        ganet_layer *const *made)
{
    if (st == GANET_OK)
        st = ganet_sequential_add(seq, *made);
    if (st != GANET_OK)
        ganet_layer_destroy(*made);
    return st;
}

/* add() for a layer made by a constructor that returned st, set to run in
 * place first. */
static ganet_status add_inplace(ganet_layer *seq, ganet_status st,
                                ganet_layer *const *made)
{
    if (st == GANET_OK)
        st = ganet_layer_set_inplace(*made, true);
    return add(seq, st, made);
}

/* Kernel 4 everywhere. Stride 2, padding 1 doubles (G) or halves (D) the
 * size: (in-1)*2 - 2*1 + 4 = 2*in and (in + 2*1 - 4)/2 + 1 = in/2. */
static ganet_status conv(ganet_context *ctx, ganet_layer *seq, bool up,
                         int64_t in, int64_t out, int64_t stride,
                         int64_t padding)
{
    ganet_conv2d_options o = GANET_CONV2D_OPTIONS_DEFAULT;
    o.in_channels = in;
    o.out_channels = out;
    o.kernel[0] = o.kernel[1] = 4;
    o.stride[0] = o.stride[1] = stride;
    o.padding[0] = o.padding[1] = padding;
    /* A BatchNorm follows (or tanh/sigmoid ends the net, as in the paper):
     * a bias before BatchNorm is cancelled by its mean, so none. */
    o.bias = false;
    ganet_layer *l = NULL;
    ganet_status st = up ? ganet_conv_transpose2d_create(ctx, &o, &l)
                         : ganet_conv2d_create(ctx, &o, &l);
    return add(seq, st, &l);
}

static ganet_status batchnorm(ganet_context *ctx, ganet_layer *seq, int64_t c)
{
    ganet_batchnorm2d_options o = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
    o.num_features = c;
    ganet_layer *l = NULL;
    return add_inplace(seq, ganet_batchnorm2d_create(ctx, &o, &l), &l);
}

static ganet_status check_config(const dcgan_config *cfg)
{
    if (cfg->image_size != 32 && cfg->image_size != 64) {
        fprintf(stderr,
                "dcgan: image size %lld: the networks are built for "
                "32 or 64\n",
                (long long)cfg->image_size);
        return GANET_ERR_INVALID_ARGUMENT;
    }
    if (cfg->channels < 1 || cfg->nz < 1 || cfg->ngf < 1 || cfg->ndf < 1) {
        fprintf(stderr,
                "dcgan: channels, nz, ngf and ndf must be 1 or more "
                "(they are %lld, %lld, %lld, %lld)\n",
                (long long)cfg->channels, (long long)cfg->nz,
                (long long)cfg->ngf, (long long)cfg->ndf);
        return GANET_ERR_INVALID_ARGUMENT;
    }
    return GANET_OK;
}

/* G for 64x64 (mult 8):
 *   z (nz)x1x1 -> ConvT s1 p0 -> (ngf*8)x4x4 -> (ngf*4)x8x8
 *   -> (ngf*2)x16x16 -> (ngf)x32x32 -> ConvT -> (channels)x64x64, tanh.
 * For 32x32 the first block has ngf*4 maps and one block less. */
static ganet_status build_generator(ganet_context *ctx, const dcgan_config *cfg,
                                    ganet_layer *g)
{
    int64_t mult = cfg->image_size / 8;
    ganet_layer *l = NULL;
    DCGAN_TRY(conv(ctx, g, true, cfg->nz, cfg->ngf * mult, 1, 0));
    DCGAN_TRY(batchnorm(ctx, g, cfg->ngf * mult));
    DCGAN_TRY(add_inplace(g, ganet_relu_create(ctx, &l), &l));
    for (; mult > 1; mult /= 2) {
        int64_t in = cfg->ngf * mult, out = cfg->ngf * mult / 2;
        DCGAN_TRY(conv(ctx, g, true, in, out, 2, 1));
        DCGAN_TRY(batchnorm(ctx, g, out));
        DCGAN_TRY(add_inplace(g, ganet_relu_create(ctx, &l), &l));
    }
    DCGAN_TRY(conv(ctx, g, true, cfg->ngf, cfg->channels, 2, 1));
    DCGAN_TRY(add_inplace(g, ganet_tanh_create(ctx, &l), &l));
    return ganet_layer_init(g, GANET_INIT_DCGAN);
}

/* D mirrors G: (channels)x64x64 -> (ndf)x32x32, no BatchNorm on the
 * input block (the paper found it unstable) -> (ndf*2)x16x16 ->
 * (ndf*4)x8x8 -> (ndf*8)x4x4 -> Conv s1 p0 -> 1x1x1, sigmoid. */
static ganet_status build_discriminator(ganet_context *ctx,
                                        const dcgan_config *cfg, ganet_layer *d)
{
    const float slope = 0.2f;
    ganet_layer *l = NULL;
    DCGAN_TRY(conv(ctx, d, false, cfg->channels, cfg->ndf, 2, 1));
    DCGAN_TRY(add_inplace(d, ganet_leaky_relu_create(ctx, slope, &l), &l));
    int64_t mult = 1;
    for (; mult < cfg->image_size / 8; mult *= 2) {
        int64_t in = cfg->ndf * mult, out = cfg->ndf * mult * 2;
        DCGAN_TRY(conv(ctx, d, false, in, out, 2, 1));
        DCGAN_TRY(batchnorm(ctx, d, out));
        DCGAN_TRY(add_inplace(d, ganet_leaky_relu_create(ctx, slope, &l), &l));
    }
    DCGAN_TRY(conv(ctx, d, false, cfg->ndf * mult, 1, 1, 0));
    DCGAN_TRY(add(d, ganet_sigmoid_create(ctx, &l), &l));
    return ganet_layer_init(d, GANET_INIT_DCGAN);
}

typedef ganet_status (*builder)(ganet_context *, const dcgan_config *,
                                ganet_layer *);

static ganet_status create(ganet_context *ctx, const dcgan_config *cfg,
                           builder build, ganet_layer **out)
{
    *out = NULL;
    ganet_status st = check_config(cfg);
    if (st != GANET_OK)
        return st;
    ganet_layer *seq = NULL;
    st = ganet_sequential_create(ctx, &seq);
    if (st == GANET_OK)
        st = build(ctx, cfg, seq);
    if (st != GANET_OK) {
        ganet_layer_destroy(seq);
        return st;
    }
    *out = seq;
    return GANET_OK;
}

ganet_status dcgan_generator_create(ganet_context *ctx, const dcgan_config *cfg,
                                    ganet_layer **out)
{
    return create(ctx, cfg, build_generator, out);
}

ganet_status dcgan_discriminator_create(ganet_context *ctx,
                                        const dcgan_config *cfg,
                                        ganet_layer **out)
{
    return create(ctx, cfg, build_discriminator, out);
}
