/*
 * dcgan_train: train a DC-GAN, by default on Fashion-MNIST from Debian's
 * dataset-fashion-mnist package, and watch it learn.
 *
 * It prints the seed and the configuration, then a progress line at an
 * interval (the same figures go to progress.csv), writes a grid of
 * samples from a fixed batch of noise after every epoch and a checkpoint
 * from which --resume continues exactly as if the run had never stopped.
 * The health monitor (health.h) says in plain words when the run goes
 * wrong.
 *
 * Left out: multi-GPU, mixed precision, and every trick beyond the
 * DC-GAN paper's (no spectral norm, no gradient penalty).
 *
 *     dcgan_train --epochs 1 --out out
 *     dcgan_train --dataset synthetic --dry-run
 */
/* clock_gettime() and mkdir() are POSIX, not C11. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "data.h"
#include "dcgan.h"
#include "health.h"

#define FASHION_MNIST                                                          \
    "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

typedef struct options {
    const char *dataset, *data, *out, *resume;
    dcgan_config cfg;
    dcgan_train_options train;
    int64_t batch_size, epochs, interval, limit, max_batches;
    uint64_t seed;
    int threads;
    bool dry_run;
    /* On a NaN or infinity: stop (false) or skip the iteration (true). */
    bool skip_nonfinite;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: dcgan_train [options]\n"
               "  --dataset NAME     fashion-mnist (default), mnist, idx, "
               "folder, synthetic\n"
               "  --data PATH        IDX file or image folder (default: the "
               "Debian package's\n"
               "                     Fashion-MNIST training images)\n"
               "  --image-size N     32 (default) or 64\n"
               "  --channels N       colour channels for folder and synthetic "
               "data (default 1)\n"
               "  --batch-size N     images per iteration (default 64)\n"
               "  --nz N             length of the noise vector (default 100)\n"
               "  --ngf N, --ndf N   feature maps of G and D (default 64)\n"
               "  --epochs N         passes over the data (default 1)\n"
               "  --lr X             Adam's learning rate (default 0.0002)\n"
               "  --beta1 X          Adam's beta1 (default 0.5)\n"
               "  --real-label X     label of real images; 0.9 smooths it "
               "(default 1)\n"
               "  --seed N           random seed (default 1)\n"
               "  --threads N        threads, 0 for every core (default 0)\n"
               "  --out DIR          output folder (default out)\n"
               "  --resume FILE      continue from a checkpoint\n"
               "  --interval N       iterations between progress lines "
               "(default 50)\n"
               "  --limit N          use only the first N images\n"
               "  --max-batches N    stop each epoch after N iterations\n"
               "  --dry-run          run one iteration and stop\n"
               "  --on-nan WHAT      stop (default) or skip an iteration "
               "whose loss or\n"
               "                     gradient is NaN or infinite\n");
}

static bool parse_int(const char *s, int64_t lo, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo)
        return false;
    *v = x;
    return true;
}

static bool parse_float(const char *s, float *v)
{
    char *end;
    errno = 0;
    float x = strtof(s, &end);
    if (errno || end == s || *end)
        return false;
    *v = x;
    return true;
}

enum {
    OPT_DATASET = 256,
    OPT_DATA,
    OPT_IMAGE_SIZE,
    OPT_CHANNELS,
    OPT_BATCH,
    OPT_NZ,
    OPT_NGF,
    OPT_NDF,
    OPT_EPOCHS,
    OPT_LR,
    OPT_BETA1,
    OPT_REAL_LABEL,
    OPT_SEED,
    OPT_THREADS,
    OPT_OUT,
    OPT_RESUME,
    OPT_INTERVAL,
    OPT_LIMIT,
    OPT_MAX_BATCHES,
    OPT_DRY_RUN,
    OPT_ON_NAN,
    OPT_HELP
};

static const struct option long_options[] = {
        {"dataset", required_argument, NULL, OPT_DATASET},
        {"data", required_argument, NULL, OPT_DATA},
        {"image-size", required_argument, NULL, OPT_IMAGE_SIZE},
        {"channels", required_argument, NULL, OPT_CHANNELS},
        {"batch-size", required_argument, NULL, OPT_BATCH},
        {"nz", required_argument, NULL, OPT_NZ},
        {"ngf", required_argument, NULL, OPT_NGF},
        {"ndf", required_argument, NULL, OPT_NDF},
        {"epochs", required_argument, NULL, OPT_EPOCHS},
        {"lr", required_argument, NULL, OPT_LR},
        {"beta1", required_argument, NULL, OPT_BETA1},
        {"real-label", required_argument, NULL, OPT_REAL_LABEL},
        {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"out", required_argument, NULL, OPT_OUT},
        {"resume", required_argument, NULL, OPT_RESUME},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"max-batches", required_argument, NULL, OPT_MAX_BATCHES},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"on-nan", required_argument, NULL, OPT_ON_NAN},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
};

/* The choices getopt cannot check on its own. Returns 0 or 1. */
static int check_options(const options *o)
{
    static const char *const names[] = {"fashion-mnist", "mnist", "idx",
                                        "folder", "synthetic"};
    bool known = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        known = known || strcmp(o->dataset, names[i]) == 0;
    if (!known) {
        fprintf(stderr, "dcgan_train: unknown dataset '%s'\n", o->dataset);
        return 1;
    }
    bool has_default = strcmp(o->dataset, "fashion-mnist") == 0 ||
                       strcmp(o->dataset, "folder") == 0 ||
                       strcmp(o->dataset, "synthetic") == 0;
    if (o->data == NULL && !has_default) {
        fprintf(stderr, "dcgan_train: --dataset %s needs --data PATH\n",
                o->dataset);
        return 1;
    }
    if (o->cfg.image_size != 32 && o->cfg.image_size != 64) {
        fprintf(stderr, "dcgan_train: --image-size is 32 or 64, not %lld\n",
                (long long)o->cfg.image_size);
        return 1;
    }
    return 0;
}

/* Returns 0 to go on, 1 for an error, 2 after --help. */
static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.dataset = "fashion-mnist",
                   .out = "out",
                   .cfg = DCGAN_CONFIG_32,
                   .train = DCGAN_TRAIN_OPTIONS_DEFAULT,
                   .batch_size = 64,
                   .epochs = 1,
                   .interval = 50,
                   .seed = 1};
    int c;
    int64_t v = 0;
    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case OPT_DATASET:
            o->dataset = optarg;
            break;
        case OPT_DATA:
            o->data = optarg;
            break;
        case OPT_IMAGE_SIZE:
            ok = parse_int(optarg, 1, &o->cfg.image_size);
            break;
        case OPT_CHANNELS:
            ok = parse_int(optarg, 1, &o->cfg.channels);
            break;
        case OPT_BATCH:
            ok = parse_int(optarg, 2, &o->batch_size);
            break;
        case OPT_NZ:
            ok = parse_int(optarg, 1, &o->cfg.nz);
            break;
        case OPT_NGF:
            ok = parse_int(optarg, 1, &o->cfg.ngf);
            break;
        case OPT_NDF:
            ok = parse_int(optarg, 1, &o->cfg.ndf);
            break;
        case OPT_EPOCHS:
            ok = parse_int(optarg, 1, &o->epochs);
            break;
        case OPT_LR:
            ok = parse_float(optarg, &o->train.lr);
            break;
        case OPT_BETA1:
            ok = parse_float(optarg, &o->train.beta1);
            break;
        case OPT_REAL_LABEL:
            ok = parse_float(optarg, &o->train.real_label);
            break;
        case OPT_SEED:
            ok = parse_int(optarg, 0, &v);
            o->seed = (uint64_t)v;
            break;
        case OPT_THREADS:
            ok = parse_int(optarg, 0, &v);
            o->threads = (int)v;
            break;
        case OPT_OUT:
            o->out = optarg;
            break;
        case OPT_RESUME:
            o->resume = optarg;
            break;
        case OPT_INTERVAL:
            ok = parse_int(optarg, 1, &o->interval);
            break;
        case OPT_LIMIT:
            ok = parse_int(optarg, 1, &o->limit);
            break;
        case OPT_MAX_BATCHES:
            ok = parse_int(optarg, 1, &o->max_batches);
            break;
        case OPT_DRY_RUN:
            o->dry_run = true;
            break;
        case OPT_ON_NAN:
            ok = strcmp(optarg, "stop") == 0 || strcmp(optarg, "skip") == 0;
            o->skip_nonfinite = strcmp(optarg, "skip") == 0;
            break;
        case OPT_HELP:
            usage(stdout);
            return 2;
        default:
            usage(stderr);
            return 1;
        }
        if (!ok) {
            fprintf(stderr, "dcgan_train: bad value '%s' for --%s\n", optarg,
                    long_options[c - OPT_DATASET].name);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dcgan_train: unexpected argument '%s'\n",
                argv[optind]);
        return 1;
    }
    return check_options(o);
}

static ganet_status open_data(const options *o, ganet_context *ctx, dataset *d)
{
    const dcgan_config *cfg = &o->cfg;
    if (strcmp(o->dataset, "synthetic") == 0)
        return dataset_open_synthetic(ctx, o->limit ? o->limit : 1024,
                                      cfg->channels, cfg->image_size, d);
    if (strcmp(o->dataset, "folder") == 0)
        return dataset_open_folder(o->data ? o->data : ".", cfg->image_size,
                                   cfg->channels, o->limit, d);
    /* fashion-mnist, mnist or idx; check_options() made sure of a path. */
    const char *path = o->data ? o->data : FASHION_MNIST;
    return dataset_open_idx(path, cfg->image_size, o->limit, d);
}

/* Everything a run keeps, and the checkpoint that lists it. */
typedef struct run {
    options o;
    ganet_context *ctx;
    dataset data;
    dcgan gan;
    health health;
    ganet_tensor *real, *noise, *fixed_noise;
    ganet_checkpoint *ck;
    /* Saved in the checkpoint with the networks and the generator. */
    uint64_t epoch, step;
    /* The shape of the networks, so the sampler can rebuild them. */
    uint64_t shape[5];
    FILE *csv;
} run;

static const char *const shape_names[5] = {"config.image_size",
                                           "config.channels", "config.nz",
                                           "config.ngf", "config.ndf"};

static void shape_of(const dcgan_config *c, uint64_t *shape)
{
    const int64_t v[5] = {c->image_size, c->channels, c->nz, c->ngf, c->ndf};
    for (int i = 0; i < 5; i++)
        shape[i] = (uint64_t)v[i];
}

static void fail(const char *what, ganet_status st)
{
    fprintf(stderr, "dcgan_train: %s: %s: %s\n", what, ganet_status_name(st),
            ganet_last_error());
}

#define RUN_TRY(what, call)                                                    \
    do {                                                                       \
        ganet_status run_st_ = (call);                                         \
        if (run_st_ != GANET_OK) {                                             \
            fail((what), run_st_);                                             \
            return run_st_;                                                    \
        }                                                                      \
    } while (0)

static ganet_status setup(run *r)
{
    const options *o = &r->o;
    ganet_context_options copts = GANET_CONTEXT_OPTIONS_DEFAULT;
    copts.seed = o->seed;
    copts.num_threads = o->threads;
    RUN_TRY("context", ganet_context_create(&copts, &r->ctx));
    /* The data sources print what went wrong themselves. */
    ganet_status st = open_data(o, r->ctx, &r->data);
    if (st != GANET_OK) {
        fprintf(stderr, "dcgan_train: no training data (%s)\n",
                ganet_status_name(st));
        return st;
    }
    if (r->data.channels != o->cfg.channels) {
        /* IDX images are gray whatever --channels says. */
        r->o.cfg.channels = r->data.channels;
    }
    if (r->data.count < o->batch_size) {
        fprintf(stderr,
                "dcgan_train: %lld images are fewer than one batch "
                "of %lld\n",
                (long long)r->data.count, (long long)o->batch_size);
        return GANET_ERR_INVALID_ARGUMENT;
    }
    RUN_TRY("networks", dcgan_create(r->ctx, &r->o.cfg, &o->train, &r->gan));
    const dcgan_config *cfg = &r->o.cfg;
    RUN_TRY("tensors",
            ganet_tensor_create_4d(r->ctx, o->batch_size, cfg->channels,
                                   cfg->image_size, cfg->image_size, &r->real));
    RUN_TRY("tensors", ganet_tensor_create_4d(r->ctx, o->batch_size, cfg->nz, 1,
                                              1, &r->noise));
    /* 64 noise vectors fixed for the whole run: the sample grid of every
     * epoch shows the same z, so the grids can be compared. */
    RUN_TRY("tensors",
            ganet_tensor_create_4d(r->ctx, 64, cfg->nz, 1, 1, &r->fixed_noise));
    RUN_TRY("fixed noise", ganet_tensor_fill_normal(r->fixed_noise, 0, 1));

    RUN_TRY("checkpoint", ganet_checkpoint_create(r->ctx, &r->ck));
    RUN_TRY("checkpoint",
            ganet_checkpoint_add_layer(r->ck, "generator", r->gan.generator));
    RUN_TRY("checkpoint", ganet_checkpoint_add_layer(r->ck, "discriminator",
                                                     r->gan.discriminator));
    RUN_TRY("checkpoint",
            ganet_checkpoint_add_optimizer(r->ck, "opt_g", r->gan.opt_g));
    RUN_TRY("checkpoint",
            ganet_checkpoint_add_optimizer(r->ck, "opt_d", r->gan.opt_d));
    RUN_TRY("checkpoint",
            ganet_checkpoint_add_tensor(r->ck, "fixed_noise", r->fixed_noise));
    RUN_TRY("checkpoint", ganet_checkpoint_add_u64(r->ck, "epoch", &r->epoch));
    RUN_TRY("checkpoint", ganet_checkpoint_add_u64(r->ck, "step", &r->step));
    RUN_TRY("checkpoint", ganet_checkpoint_add_rng(r->ck));
    shape_of(cfg, r->shape);
    for (int i = 0; i < 5; i++)
        RUN_TRY("checkpoint",
                ganet_checkpoint_add_u64(r->ck, shape_names[i], &r->shape[i]));
    if (o->resume) {
        RUN_TRY(o->resume, ganet_checkpoint_load(r->ck, o->resume));
        uint64_t want[5];
        shape_of(cfg, want);
        if (memcmp(want, r->shape, sizeof want) != 0) {
            fprintf(stderr,
                    "dcgan_train: %s was made with other options "
                    "(image size %llu, nz %llu)\n",
                    o->resume, (unsigned long long)r->shape[0],
                    (unsigned long long)r->shape[2]);
            return GANET_ERR_SHAPE;
        }
    }
    health_init(&r->health, stdout);
    return GANET_OK;
}

static void teardown(run *r)
{
    if (r->csv)
        fclose(r->csv);
    ganet_checkpoint_destroy(r->ck);
    ganet_tensor_destroy(r->fixed_noise);
    ganet_tensor_destroy(r->noise);
    ganet_tensor_destroy(r->real);
    dcgan_destroy(&r->gan);
    dataset_close(&r->data);
    ganet_context_destroy(r->ctx);
}

static void print_config(const run *r)
{
    const options *o = &r->o;
    const dcgan_config *c = &o->cfg;
    printf("dcgan_train: libganet %s, seed %llu, %d threads\n",
           ganet_version_string(), (unsigned long long)o->seed,
           ganet_context_get_num_threads(r->ctx));
    printf("data: %s%s%s, %lld images of %lldx%lldx%lld\n", o->dataset,
           o->data ? " " : "", o->data ? o->data : "", (long long)r->data.count,
           (long long)c->channels, (long long)c->image_size,
           (long long)c->image_size);
    printf("model: nz %lld, ngf %lld, ndf %lld; batch %lld, lr %g, beta1 %g, "
           "real label %g\n",
           (long long)c->nz, (long long)c->ngf, (long long)c->ndf,
           (long long)o->batch_size, (double)o->train.lr,
           (double)o->train.beta1, (double)o->train.real_label);
    if (o->resume)
        printf("resumed from %s at epoch %llu, step %llu\n", o->resume,
               (unsigned long long)r->epoch, (unsigned long long)r->step);
    char text[4096];
    const int64_t z[4] = {o->batch_size, c->nz, 1, 1};
    if (ganet_layer_summary(r->gan.generator, z, text, sizeof text) == GANET_OK)
        printf("generator:\n%s\n", text);
    const int64_t x[4] = {o->batch_size, c->channels, c->image_size,
                          c->image_size};
    if (ganet_layer_summary(r->gan.discriminator, x, text, sizeof text) ==
        GANET_OK)
        printf("discriminator:\n%s\n", text);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress(run *r, int64_t batch, int64_t batches,
                     const dcgan_step_stats *s, double images_per_s,
                     double left)
{
    long long secs = (long long)left;
    printf("[%llu/%lld][%lld/%lld] Loss_D: %.4f Loss_G: %.4f D(x): %.4f "
           "D(G(z)): %.4f / %.4f | %.1f img/s | %lld:%02lld:%02lld left\n",
           (unsigned long long)r->epoch + 1, (long long)r->o.epochs,
           (long long)batch, (long long)batches, (double)s->loss_d,
           (double)s->loss_g, (double)s->d_x, (double)s->d_g_z1,
           (double)s->d_g_z2, images_per_s, secs / 3600, secs / 60 % 60,
           secs % 60);
    fflush(stdout);
    if (r->csv)
        fprintf(r->csv, "%llu,%lld,%llu,%.6f,%.6f,%.6f,%.6f,%.6f,%.1f\n",
                (unsigned long long)r->epoch + 1, (long long)batch,
                (unsigned long long)r->step, (double)s->loss_d,
                (double)s->loss_g, (double)s->d_x, (double)s->d_g_z1,
                (double)s->d_g_z2, images_per_s);
}

/* Samples of the fixed noise with BatchNorm in inference mode, so that a
 * sample depends on its z only, not on the rest of the batch. */
static ganet_status write_samples(run *r)
{
    const ganet_tensor *samples;
    RUN_TRY("samples", ganet_layer_forward(r->gan.generator, r->fixed_noise,
                                           GANET_MODE_INFERENCE, &samples));
    health_check_samples(&r->health, samples, (int64_t)r->epoch + 1);
    char path[1024];
    snprintf(path, sizeof path, "%s/samples_epoch_%03llu.png", r->o.out,
             (unsigned long long)r->epoch + 1);
    RUN_TRY(path, ganet_image_write_grid(samples, 8, path));
    printf("wrote %s\n", path);
    return GANET_OK;
}

/* With --on-nan skip, a run still stops after this many bad iterations in
 * a row: by then something is broken for good. */
#define MAX_SKIPPED_IN_A_ROW 10

static ganet_status train_epoch(run *r, double *elapsed, int64_t *done,
                                int64_t total)
{
    const options *o = &r->o;
    int64_t batches = r->data.count / o->batch_size;
    if (o->max_batches && o->max_batches < batches)
        batches = o->max_batches;
    RUN_TRY("shuffle", dataset_shuffle(&r->data, r->ctx));
    double t0 = now_seconds(), t_last = t0;
    int64_t since = 0, skipped = 0;
    for (int64_t b = 0; b < batches; b++) {
        dcgan_step_stats s;
        RUN_TRY("batch", dataset_batch(&r->data, b * o->batch_size, r->real));
        RUN_TRY("noise", ganet_tensor_fill_normal(r->noise, 0.0f, 1.0f));
        ganet_status st = dcgan_train_step(&r->gan, r->real, r->noise, &s);
        if (st == GANET_ERR_NUMERIC) {
            /* A loss or a gradient was NaN or infinite: the loss or the
             * optimizer refused it before any weight changed. */
            health_report_nonfinite(&r->health, &r->gan, ganet_last_error(),
                                    (int64_t)r->step + skipped + 1);
            if (!o->skip_nonfinite || ++skipped > MAX_SKIPPED_IN_A_ROW)
                return st;
            continue;
        }
        RUN_TRY("train step", st);
        skipped = 0;
        r->step++;
        since++;
        if (!health_check_step(&r->health, &r->gan, &s, (int64_t)r->step))
            return GANET_ERR_NUMERIC;
        if ((b + 1) % o->interval == 0 || b + 1 == batches || o->dry_run) {
            double t = now_seconds();
            double rate = (double)(since * o->batch_size) / (t - t_last);
            double per_step = (*elapsed + t - t0) / (double)(*done + b + 1);
            double left = per_step * (double)(total - *done - b - 1);
            progress(r, b + 1, batches, &s, rate, left);
            t_last = t;
            since = 0;
        }
        if (o->dry_run)
            break;
    }
    *elapsed += now_seconds() - t0;
    *done += batches;
    return GANET_OK;
}

static ganet_status train(run *r)
{
    const options *o = &r->o;
    if (mkdir(o->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "dcgan_train: cannot make %s: %s\n", o->out,
                strerror(errno));
        return GANET_ERR_IO;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/progress.csv", o->out);
    r->csv = fopen(path, o->resume ? "a" : "w");
    if (r->csv && !o->resume)
        fprintf(r->csv, "epoch,batch,step,loss_d,loss_g,d_x,d_g_z1,d_g_z2,"
                        "images_per_s\n");
    int64_t batches = r->data.count / o->batch_size;
    if (o->max_batches && o->max_batches < batches)
        batches = o->max_batches;
    int64_t total = (o->epochs - (int64_t)r->epoch) * batches;
    double elapsed = 0.0;
    int64_t done = 0;
    while ((int64_t)r->epoch < o->epochs) {
        DCGAN_TRY(train_epoch(r, &elapsed, &done, total));
        if (o->dry_run) {
            printf("dry run: one iteration done\n");
            return GANET_OK;
        }
        DCGAN_TRY(write_samples(r));
        r->epoch++;
        snprintf(path, sizeof path, "%s/dcgan.ckpt", o->out);
        RUN_TRY(path, ganet_checkpoint_save(r->ck, path));
        printf("wrote %s (epoch %llu, step %llu)\n", path,
               (unsigned long long)r->epoch, (unsigned long long)r->step);
        if (r->csv)
            fflush(r->csv);
    }
    printf("done: %lld iterations in %.1f s\n", (long long)done, elapsed);
    return GANET_OK;
}

int main(int argc, char **argv)
{
    run r = {0};
    int parsed = parse_options(argc, argv, &r.o);
    if (parsed)
        return parsed == 2 ? 0 : 2;
    ganet_status st = setup(&r);
    if (st == GANET_OK) {
        print_config(&r);
        st = train(&r);
    }
    teardown(&r);
    return st == GANET_OK ? 0 : 1;
}
