/*
 * dcgan_sample: draw images from a trained generator.
 *
 * It rebuilds the generator from a checkpoint of dcgan_train and writes
 *   samples.png         a grid of --count samples,
 *   samples.idx         the same samples as an IDX file of bytes, (N, H, W)
 *                       for gray images, (N, C, H, W) for colour, so other
 *                       tools can evaluate them,
 *   interpolation.png   --steps images on the straight line between two
 *                       noise vectors: a smooth change shows that G learnt
 *                       a continuous latent space rather than memorising.
 * BatchNorm runs in inference mode, with the running statistics learnt in
 * training: a sample depends on its own z only, never on the batch.
 *
 *     dcgan_sample --checkpoint out/dcgan.ckpt --out out
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcgan.h"

typedef struct options {
    const char *checkpoint, *out;
    int64_t count, steps;
    uint64_t seed;
} options;

static const char *const shape_names[5] = {"config.image_size",
                                           "config.channels", "config.nz",
                                           "config.ngf", "config.ndf"};

static ganet_status report(const char *what, ganet_status st)
{
    if (st != GANET_OK)
        fprintf(stderr, "dcgan_sample: %s: %s: %s\n", what,
                ganet_status_name(st), ganet_last_error());
    return st;
}

#define SAMPLE_TRY(what, call) DCGAN_TRY(report((what), (call)))

/* The networks' shape, from the entries dcgan_train stores beside them. */
static ganet_status read_config(ganet_context *ctx, const char *path,
                                dcgan_config *cfg)
{
    uint64_t v[5] = {0};
    ganet_checkpoint *ck;
    SAMPLE_TRY("checkpoint", ganet_checkpoint_create(ctx, &ck));
    ganet_status st = ganet_checkpoint_set_allow_extra(ck, true);
    for (int i = 0; st == GANET_OK && i < 5; i++)
        st = ganet_checkpoint_add_u64(ck, shape_names[i], &v[i]);
    if (st == GANET_OK)
        st = ganet_checkpoint_load(ck, path);
    ganet_checkpoint_destroy(ck);
    SAMPLE_TRY(path, st);
    *cfg = (dcgan_config){.image_size = (int64_t)v[0],
                          .channels = (int64_t)v[1],
                          .nz = (int64_t)v[2],
                          .ngf = (int64_t)v[3],
                          .ndf = (int64_t)v[4]};
    return GANET_OK;
}

static ganet_status load_generator(ganet_context *ctx, const char *path,
                                   const dcgan_config *cfg, ganet_layer **g)
{
    SAMPLE_TRY("generator", dcgan_generator_create(ctx, cfg, g));
    ganet_checkpoint *ck;
    SAMPLE_TRY("checkpoint", ganet_checkpoint_create(ctx, &ck));
    ganet_status st = ganet_checkpoint_set_allow_extra(ck, true);
    if (st == GANET_OK)
        st = ganet_checkpoint_add_layer(ck, "generator", *g);
    if (st == GANET_OK)
        st = ganet_checkpoint_load(ck, path);
    ganet_checkpoint_destroy(ck);
    return report(path, st);
}

/* Samples in [-1, 1] as bytes: round((x + 1) * 127.5), clamped. */
static ganet_status write_idx(const ganet_tensor *samples, const char *path)
{
    int64_t n = ganet_tensor_count(samples);
    float *v = malloc((size_t)n * sizeof *v);
    ganet_idx idx = {.count = (size_t)n, .data = malloc((size_t)n)};
    ganet_status st = v && idx.data ? GANET_OK : GANET_ERR_OUT_OF_MEMORY;
    if (st == GANET_OK)
        st = ganet_tensor_copy_to(samples, v, (size_t)n);
    for (int64_t i = 0; st == GANET_OK && i < n; i++) {
        double p = round(((double)v[i] + 1.0) * 127.5);
        idx.data[i] = (uint8_t)(p < 0 || isnan(p) ? 0 : p > 255 ? 255 : p);
    }
    /* Gray samples drop the channel axis, as MNIST's files have none. */
    bool gray = ganet_tensor_dim(samples, 1) == 1;
    idx.rank = 0;
    for (int axis = 0; axis < 4; axis++)
        if (axis != 1 || !gray)
            idx.dims[idx.rank++] = ganet_tensor_dim(samples, axis);
    if (st == GANET_OK)
        st = ganet_idx_write(&idx, path, GANET_IDX_PLAIN);
    free(idx.data);
    free(v);
    return report(path, st);
}

/* Noise rows z_t = (1 - t) z_0 + t z_1 for t = 0, 1/(steps-1), ..., 1. */
static ganet_status interpolate(ganet_context *ctx, const dcgan_config *cfg,
                                int64_t steps, ganet_tensor *noise)
{
    int64_t nz = cfg->nz;
    ganet_tensor *ends;
    SAMPLE_TRY("noise", ganet_tensor_create_4d(ctx, 2, nz, 1, 1, &ends));
    float *z = malloc((size_t)((2 + steps) * nz) * sizeof *z);
    ganet_status st = z ? ganet_tensor_fill_normal(ends, 0.0f, 1.0f)
                        : GANET_ERR_OUT_OF_MEMORY;
    if (st == GANET_OK)
        st = ganet_tensor_copy_to(ends, z, (size_t)(2 * nz));
    for (int64_t s = 0; st == GANET_OK && s < steps; s++) {
        float t = (float)s / (float)(steps - 1);
        for (int64_t k = 0; k < nz; k++)
            z[(2 + s) * nz + k] = (1 - t) * z[k] + t * z[nz + k];
    }
    if (st == GANET_OK)
        st = ganet_tensor_copy_from(noise, z + 2 * nz, (size_t)(steps * nz));
    free(z);
    ganet_tensor_destroy(ends);
    return report("interpolation", st);
}

static ganet_status sample(const options *o)
{
    ganet_context_options copts = GANET_CONTEXT_OPTIONS_DEFAULT;
    copts.seed = o->seed;
    ganet_context *ctx;
    SAMPLE_TRY("context", ganet_context_create(&copts, &ctx));
    dcgan_config cfg;
    ganet_layer *g = NULL;
    ganet_tensor *noise = NULL, *line = NULL;
    char path[1024];
    ganet_status st = read_config(ctx, o->checkpoint, &cfg);
    if (st == GANET_OK)
        st = load_generator(ctx, o->checkpoint, &cfg, &g);
    if (st == GANET_OK)
        st = report("noise", ganet_tensor_create_4d(ctx, o->count, cfg.nz, 1, 1,
                                                    &noise));
    if (st == GANET_OK)
        st = report("noise", ganet_tensor_fill_normal(noise, 0.0f, 1.0f));
    const ganet_tensor *images;
    if (st == GANET_OK)
        st = report(
                "generator",
                ganet_layer_forward(g, noise, GANET_MODE_INFERENCE, &images));
    if (st == GANET_OK) {
        snprintf(path, sizeof path, "%s/samples.png", o->out);
        int columns = (int)ceil(sqrt((double)o->count));
        st = report(path, ganet_image_write_grid(images, columns, path));
    }
    if (st == GANET_OK) {
        printf("wrote %s\n", path);
        snprintf(path, sizeof path, "%s/samples.idx", o->out);
        st = write_idx(images, path);
    }
    if (st == GANET_OK) {
        printf("wrote %s\n", path);
        st = report("noise",
                    ganet_tensor_create_4d(ctx, o->steps, cfg.nz, 1, 1, &line));
    }
    if (st == GANET_OK)
        st = interpolate(ctx, &cfg, o->steps, line);
    if (st == GANET_OK)
        st = report(
                "generator",
                ganet_layer_forward(g, line, GANET_MODE_INFERENCE, &images));
    if (st == GANET_OK) {
        snprintf(path, sizeof path, "%s/interpolation.png", o->out);
        st = report(path, ganet_image_write_grid(images, (int)o->steps, path));
        if (st == GANET_OK)
            printf("wrote %s\n", path);
    }
    ganet_tensor_destroy(line);
    ganet_tensor_destroy(noise);
    ganet_layer_destroy(g);
    ganet_context_destroy(ctx);
    return st;
}

static bool parse_count(const char *s, int64_t lo, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > 4096)
        return false;
    *v = x;
    return true;
}

int main(int argc, char **argv)
{
    options o = {.checkpoint = "out/dcgan.ckpt",
                 .out = "out",
                 .count = 64,
                 .steps = 10,
                 .seed = 1};
    static const struct option longs[] = {
            {"checkpoint", required_argument, NULL, 'c'},
            {"out", required_argument, NULL, 'o'},
            {"count", required_argument, NULL, 'n'},
            {"steps", required_argument, NULL, 's'},
            {"seed", required_argument, NULL, 'r'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
    };
    int c;
    int64_t seed = 1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'c':
            o.checkpoint = optarg;
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'n':
            ok = parse_count(optarg, 1, &o.count);
            break;
        case 's':
            ok = parse_count(optarg, 2, &o.steps);
            break;
        case 'r':
            ok = parse_count(optarg, 0, &seed);
            o.seed = (uint64_t)seed;
            break;
        case 'h':
            printf("usage: dcgan_sample [--checkpoint FILE] [--out DIR] "
                   "[--count N] [--steps N] [--seed N]\n");
            return 0;
        default:
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "dcgan_sample: bad value '%s'\n", optarg);
            return 2;
        }
    }
    return sample(&o) == GANET_OK ? 0 : 1;
}
