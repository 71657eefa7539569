/*
 * bench_dcgan: time the DC-GAN of examples/dcgan on libganet.
 *
 * It measures what a user waits for:
 *   - one training iteration, dcgan_train_step() (D on real, D on fake,
 *     D's Adam step, D on fake into G, G's Adam step), in ms and in
 *     GFLOP/s of the convolutions it computes;
 *   - generator inference (BatchNorm with running statistics), in images
 *     per second;
 *   - each child of G and D forward and backward on its own, to show
 *     where the time goes;
 *   - the peak resident memory of the process.
 * Times are the median over --iters iterations after --warmup untimed
 * ones, with min and max beside them: the machine is shared and noisy,
 * and the median is the figure to quote. The last line is JSON, for
 * benchmarks/run.sh to read. The same work in PyTorch is dcgan_torch.py.
 *
 * It leaves out data loading (the batch is fixed random numbers) and
 * drawing new noise per iteration, which PyTorch's example does inside
 * the loop: neither is the library's arithmetic, and dcgan_torch.py
 * leaves them out too.
 *
 *     bench_dcgan --image-size 64 --batch 64 --threads 2 --iters 20
 */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

#include "dcgan.h"

typedef struct options {
    int64_t image_size, batch;
    int threads, iters, warmup;
    bool train, sample, layers, measure_peak;
    double peak_gflops;
} options;

static ganet_status report(const char *what, ganet_status st)
{
    if (st != GANET_OK)
        fprintf(stderr, "bench_dcgan: %s: %s: %s\n", what,
                ganet_status_name(st), ganet_last_error());
    return st;
}

#define BENCH_TRY(what, call) DCGAN_TRY(report((what), (call)))

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of n samples; sorts them in place. */
typedef struct summary {
    double median, min, max;
} summary;

static summary summarise(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return (summary){.median = med, .min = v[0], .max = v[n - 1]};
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    /* Linux counts ru_maxrss in KiB. */
    return (double)ru.ru_maxrss / 1024.0;
}

/*
 * Convolution FLOPs, counted analytically, a multiply-add being 2 FLOPs.
 * Conv2d with weight (C_out, C_in, kH, kW) from (N, C_in, H, W) to
 * (N, C_out, OH, OW):
 *     forward = 2 * N * C_out * OH * OW * C_in * kH * kW.
 * ConvTranspose2d with weight (C_in, C_out, kH, kW) from (N, C_in, H, W)
 * to (N, C_out, OH, OW) is the backward-data pass of a Conv2d from the
 * output to the input, so the roles swap:
 *     forward = 2 * N * C_in * H * W * C_out * kH * kW.
 * Backward data and backward weights each cost exactly the forward count
 * (the same products, summed over other indices). BatchNorm, the
 * activations, the loss and Adam are a few FLOPs per element and are left
 * out: they are bandwidth, not arithmetic.
 */
typedef struct net_flops {
    /* Sum of the forward counts of every convolution. */
    double all;
    /* The same for the first child only, whose backward-data pass is
     * skipped when nobody asks for the gradient of the net's input. */
    double first;
} net_flops;

/* The forward count of one child taking in_dims to out_dims; 0 for a
 * child that is not a convolution. */
static ganet_status conv_flops(ganet_layer *l, const int64_t *in_dims,
                               const int64_t *out_dims, double *flops)
{
    const char *kind = ganet_layer_kind(l);
    bool conv = strcmp(kind, "Conv2d") == 0;
    *flops = 0.0;
    if (!conv && strcmp(kind, "ConvTranspose2d") != 0)
        return GANET_OK;
    ganet_tensor *weight;
    int64_t w[4];
    BENCH_TRY("weight", ganet_layer_find_param(l, "weight", &weight, NULL));
    BENCH_TRY("weight", ganet_tensor_get_dims(weight, w));
    /* Every weight value meets every pixel of the larger side: the
     * output of a conv, the input of a deconv. */
    const int64_t *big = conv ? out_dims : in_dims;
    *flops = 2.0 * (double)big[0] * (double)(big[2] * big[3]) *
             (double)(w[0] * w[1] * w[2] * w[3]);
    return GANET_OK;
}

static ganet_status count_flops(ganet_layer *net, const int64_t *in_dims,
                                net_flops *f)
{
    int64_t dims[4], out[4];
    memcpy(dims, in_dims, sizeof dims);
    *f = (net_flops){0};
    for (int i = 0; i < ganet_sequential_count(net); i++) {
        ganet_layer *l = ganet_sequential_child(net, i);
        double fl;
        BENCH_TRY("shape", ganet_layer_output_shape(l, dims, out));
        DCGAN_TRY(conv_flops(l, dims, out, &fl));
        f->all += fl;
        if (i == 0)
            f->first = fl;
        memcpy(dims, out, sizeof dims);
    }
    return GANET_OK;
}

/*
 * FLOPs of one dcgan_train_step(), as the library computes it (and as
 * PyTorch's autograd does, which skips the gradients of inputs that do
 * not require one):
 *   D forward             3x (real, fake, fake again for G's loss)
 *   D backward weights    3x
 *   D backward data       3x for every conv but the first, which runs
 *                         once: in step 4, into G
 *   G forward             1x
 *   G backward weights    1x
 *   G backward data       1x for every conv but the first (the noise
 *                         needs no gradient)
 */
static double iteration_flops(const net_flops *g, const net_flops *d)
{
    double dd =
            3.0 * d->all + 3.0 * d->all + 3.0 * (d->all - d->first) + d->first;
    double gg = g->all + g->all + (g->all - g->first);
    return dd + gg;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_dcgan [--image-size 32|64] [--batch N] "
               "[--threads N]\n"
               "                   [--iters N] [--warmup N] "
               "[--mode train|sample|both]\n"
               "                   [--peak-gflops X] [--measure-peak] "
               "[--no-layers]\n");
}

static bool parse_int(const char *s, long lo, long hi, long *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || x < lo || x > hi)
        return false;
    *v = x;
    return true;
}

static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
            {"image-size", required_argument, 0, 's'},
            {"batch", required_argument, 0, 'b'},
            {"threads", required_argument, 0, 't'},
            {"iters", required_argument, 0, 'i'},
            {"warmup", required_argument, 0, 'w'},
            {"mode", required_argument, 0, 'm'},
            {"peak-gflops", required_argument, 0, 'p'},
            {"measure-peak", no_argument, 0, 'P'},
            {"no-layers", no_argument, 0, 'L'},
            {"help", no_argument, 0, 'h'},
            {0, 0, 0, 0},
    };
    *o = (options){.image_size = 64,
                   .batch = 64,
                   .threads = 2,
                   .iters = 20,
                   .warmup = 3,
                   .train = true,
                   .sample = true,
                   .layers = true};
    int c;
    long v = 0;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 's':
            ok = parse_int(optarg, 32, 64, &v) && (v == 32 || v == 64);
            o->image_size = v;
            break;
        case 'b':
            ok = parse_int(optarg, 1, 1 << 16, &v);
            o->batch = v;
            break;
        case 't':
            ok = parse_int(optarg, 1, 1024, &v);
            o->threads = (int)v;
            break;
        case 'i':
            ok = parse_int(optarg, 1, 1 << 20, &v);
            o->iters = (int)v;
            break;
        case 'w':
            ok = parse_int(optarg, 0, 1 << 20, &v);
            o->warmup = (int)v;
            break;
        case 'm':
            o->train = strcmp(optarg, "train") == 0;
            o->sample = strcmp(optarg, "sample") == 0;
            if (strcmp(optarg, "both") == 0)
                o->train = o->sample = true;
            ok = o->train || o->sample;
            break;
        case 'p':
            o->peak_gflops = strtod(optarg, NULL);
            ok = o->peak_gflops > 0.0;
            break;
        case 'P':
            o->measure_peak = true;
            break;
        case 'L':
            o->layers = false;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            ok = false;
        }
        if (!ok) {
            if (c != '?')
                fprintf(stderr, "bench_dcgan: bad value '%s'\n", optarg);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    return 0;
}

/* A practical peak: oneDNN's SGEMM on square 1024 matrices, the best
 * the same library reaches on this machine with these threads. */
static double measure_peak_gflops(int threads)
{
    const dnnl_dim_t n = 1024;
    float *a = malloc((size_t)(n * n) * sizeof *a);
    float *b = malloc((size_t)(n * n) * sizeof *b);
    float *c = malloc((size_t)(n * n) * sizeof *c);
    double best = 0.0;
    if (a && b && c) {
        for (dnnl_dim_t i = 0; i < n * n; i++) {
            a[i] = (float)(i % 7) * 0.25f;
            b[i] = (float)(i % 5) * 0.5f;
        }
        omp_set_num_threads(threads);
        for (int r = 0; r < 8; r++) {
            double t0 = now_ms();
            if (dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n) !=
                dnnl_success)
                break;
            double gf = 2.0 * (double)(n * n * n) / ((now_ms() - t0) * 1e6);
            best = gf > best ? gf : best;
        }
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static void print_times(const char *what, summary s, const char *extra)
{
    printf("%-22s median %9.2f ms   min %9.2f   max %9.2f   %s\n", what,
           s.median, s.min, s.max, extra);
}

static ganet_status bench_train(dcgan *gan, const options *o,
                                const ganet_tensor *real,
                                const ganet_tensor *noise, double flops,
                                summary *out)
{
    dcgan_step_stats st;
    for (int i = 0; i < o->warmup; i++)
        BENCH_TRY("train step", dcgan_train_step(gan, real, noise, &st));
    double *t = malloc((size_t)o->iters * sizeof *t);
    if (t == NULL)
        return report("times", GANET_ERR_OUT_OF_MEMORY);
    ganet_status s = GANET_OK;
    for (int i = 0; s == GANET_OK && i < o->iters; i++) {
        double t0 = now_ms();
        s = dcgan_train_step(gan, real, noise, &st);
        t[i] = now_ms() - t0;
    }
    if (s == GANET_OK) {
        *out = summarise(t, o->iters);
        char extra[96];
        snprintf(extra, sizeof extra, "%.1f GFLOP/s (loss_d %.3f loss_g %.3f)",
                 flops / (out->median * 1e6), st.loss_d, st.loss_g);
        print_times("train iteration", *out, extra);
    }
    free(t);
    return report("train step", s);
}

static ganet_status bench_sample(dcgan *gan, const options *o,
                                 const ganet_tensor *noise, summary *out)
{
    const ganet_tensor *fake;
    for (int i = 0; i < o->warmup; i++)
        BENCH_TRY("sample", ganet_layer_forward(gan->generator, noise,
                                                GANET_MODE_INFERENCE, &fake));
    double *t = malloc((size_t)o->iters * sizeof *t);
    if (t == NULL)
        return report("times", GANET_ERR_OUT_OF_MEMORY);
    ganet_status s = GANET_OK;
    for (int i = 0; s == GANET_OK && i < o->iters; i++) {
        double t0 = now_ms();
        s = ganet_layer_forward(gan->generator, noise, GANET_MODE_INFERENCE,
                                &fake);
        t[i] = now_ms() - t0;
    }
    if (s == GANET_OK) {
        *out = summarise(t, o->iters);
        char extra[64];
        snprintf(extra, sizeof extra, "%.1f images/s",
                 (double)o->batch * 1e3 / out->median);
        print_times("generator inference", *out, extra);
    }
    free(t);
    return report("sample", s);
}

/* Per child of one net: its output shape, a gradient for that output,
 * and the forward and backward times of every round. */
typedef struct child_bench {
    ganet_layer *layer;
    int64_t out[4];
    double fwd_flops;
    ganet_tensor *diff_dst;
    double *fwd, *bwd;
} child_bench;

static void free_children(child_bench *c, int n)
{
    for (int i = 0; c && i < n; i++) {
        ganet_tensor_destroy(c[i].diff_dst);
        free(c[i].fwd);
        free(c[i].bwd);
    }
    free(c);
}

static ganet_status prepare_children(ganet_context *ctx, ganet_layer *net,
                                     const int64_t *in_dims, int rounds,
                                     child_bench *c)
{
    int64_t dims[4];
    memcpy(dims, in_dims, sizeof dims);
    for (int i = 0; i < ganet_sequential_count(net); i++) {
        c[i].layer = ganet_sequential_child(net, i);
        BENCH_TRY("shape",
                  ganet_layer_output_shape(c[i].layer, dims, c[i].out));
        DCGAN_TRY(conv_flops(c[i].layer, dims, c[i].out, &c[i].fwd_flops));
        BENCH_TRY("gradient",
                  ganet_tensor_create(ctx, 4, c[i].out, &c[i].diff_dst));
        BENCH_TRY("gradient",
                  ganet_tensor_fill_uniform(c[i].diff_dst, -1e-3f, 1e-3f));
        c[i].fwd = malloc((size_t)rounds * sizeof *c[i].fwd);
        c[i].bwd = malloc((size_t)rounds * sizeof *c[i].bwd);
        if (c[i].fwd == NULL || c[i].bwd == NULL)
            return report("times", GANET_ERR_OUT_OF_MEMORY);
        memcpy(dims, c[i].out, sizeof dims);
    }
    return GANET_OK;
}

/* One round: every child forward in training mode, then every child
 * backward in reverse, as the Sequential runs them. want_first says
 * whether the first child computes the gradient of the net's input. */
static ganet_status run_children(child_bench *c, int n, const ganet_tensor *src,
                                 bool want_first, int round)
{
    const ganet_tensor *x = src;
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        BENCH_TRY("forward",
                  ganet_layer_forward(c[i].layer, x, GANET_MODE_TRAINING, &x));
        if (round >= 0)
            c[i].fwd[round] = now_ms() - t0;
    }
    for (int i = n - 1; i >= 0; i--) {
        const ganet_tensor *g;
        double t0 = now_ms();
        BENCH_TRY("backward",
                  ganet_layer_backward(c[i].layer, c[i].diff_dst,
                                       i > 0 || want_first ? &g : NULL));
        if (round >= 0)
            c[i].bwd[round] = now_ms() - t0;
    }
    return GANET_OK;
}

static void print_children(const char *net, child_bench *c, int n, int rounds,
                           double *fwd_total, double *bwd_total)
{
    for (int i = 0; i < n; i++) {
        summary f = summarise(c[i].fwd, rounds);
        summary b = summarise(c[i].bwd, rounds);
        *fwd_total += f.median;
        *bwd_total += b.median;
        char gf[40] = "";
        /* Backward is data plus weights, twice the forward count (the
         * first child of G computes weights only). */
        bool no_data = net[0] == 'G' && i == 0;
        double bflops = c[i].fwd_flops * (no_data ? 1.0 : 2.0);
        if (c[i].fwd_flops > 0.0)
            snprintf(gf, sizeof gf, "%7.1f %7.1f",
                     c[i].fwd_flops / (f.median * 1e6),
                     bflops / (b.median * 1e6));
        char shape[40];
        snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lld",
                 (long long)c[i].out[0], (long long)c[i].out[1],
                 (long long)c[i].out[2], (long long)c[i].out[3]);
        printf("%s.%-2d %-16s %-16s %9.3f %9.3f   %s\n", net, i,
               ganet_layer_kind(c[i].layer), shape, f.median, b.median, gf);
    }
}

static ganet_status bench_net(ganet_context *ctx, const char *name,
                              ganet_layer *net, const ganet_tensor *src,
                              bool want_first, const options *o,
                              double *fwd_total, double *bwd_total)
{
    int n = ganet_sequential_count(net);
    int64_t dims[4];
    BENCH_TRY("dims", ganet_tensor_get_dims(src, dims));
    child_bench *c = calloc((size_t)n, sizeof *c);
    ganet_status st = c ? prepare_children(ctx, net, dims, o->iters, c)
                        : GANET_ERR_OUT_OF_MEMORY;
    for (int r = 0; st == GANET_OK && r < o->warmup; r++)
        st = run_children(c, n, src, want_first, -1);
    for (int r = 0; st == GANET_OK && r < o->iters; r++)
        st = run_children(c, n, src, want_first, r);
    if (st == GANET_OK)
        print_children(name, c, n, o->iters, fwd_total, bwd_total);
    free_children(c, n);
    return report(name, st);
}

static ganet_status bench_layers(dcgan *gan, const options *o,
                                 const ganet_tensor *real,
                                 const ganet_tensor *noise)
{
    printf("\nper layer, median ms over %d rounds (training mode; G.0 "
           "backward computes\nweights only, D.0 backward also computes "
           "the gradient of the images):\n",
           o->iters);
    printf("%-5s %-16s %-16s %9s %9s   %s\n", "layer", "kind", "output",
           "fwd ms", "bwd ms", "GFLOP/s fwd bwd");
    double gf = 0.0, gb = 0.0, df = 0.0, db = 0.0;
    DCGAN_TRY(bench_net(gan->ctx, "G", gan->generator, noise, false, o, &gf,
                        &gb));
    DCGAN_TRY(bench_net(gan->ctx, "D", gan->discriminator, real, true, o, &df,
                        &db));
    printf("sum G: fwd %.2f ms, bwd %.2f ms; sum D: fwd %.2f ms, bwd %.2f "
           "ms\n",
           gf, gb, df, db);
    /* What an iteration would cost if it were only these passes: G once,
     * D three times (the first D conv's data gradient is in all three
     * here, so this slightly overestimates). */
    printf("G fwd+bwd + 3 x D fwd+bwd = %.2f ms (the rest of an iteration "
           "is loss, Adam, zeroing)\n",
           gf + gb + 3.0 * (df + db));
    return GANET_OK;
}

static ganet_status run(const options *o)
{
    ganet_context_options co = GANET_CONTEXT_OPTIONS_DEFAULT;
    co.num_threads = o->threads;
    co.seed = 1;
    ganet_context *ctx;
    BENCH_TRY("context", ganet_context_create(&co, &ctx));
    dcgan_config cfg64 = DCGAN_CONFIG_64, cfg32 = DCGAN_CONFIG_32;
    dcgan_config cfg = o->image_size == 64 ? cfg64 : cfg32;
    dcgan_train_options to = DCGAN_TRAIN_OPTIONS_DEFAULT;
    dcgan gan;
    ganet_tensor *real = NULL, *noise = NULL;
    ganet_status st = report("dcgan", dcgan_create(ctx, &cfg, &to, &gan));
    if (st != GANET_OK) {
        ganet_context_destroy(ctx);
        return st;
    }

    /* Fixed data: images uniform in [-1, 1], noise N(0, 1). */
    int64_t n = o->batch, s = cfg.image_size;
    st = ganet_tensor_create_4d(ctx, n, cfg.channels, s, s, &real);
    if (st == GANET_OK)
        st = ganet_tensor_fill_uniform(real, -1.0f, 1.0f);
    if (st == GANET_OK)
        st = ganet_tensor_create_4d(ctx, n, cfg.nz, 1, 1, &noise);
    if (st == GANET_OK)
        st = ganet_tensor_fill_normal(noise, 0.0f, 1.0f);
    report("data", st);

    /* Convolution FLOPs of one iteration. */
    net_flops fg = {0}, fd = {0};
    int64_t zdims[4] = {n, cfg.nz, 1, 1}, xdims[4] = {n, cfg.channels, s, s};
    if (st == GANET_OK)
        st = count_flops(gan.generator, zdims, &fg);
    if (st == GANET_OK)
        st = count_flops(gan.discriminator, xdims, &fd);
    double flops = iteration_flops(&fg, &fd);

    printf("bench_dcgan: %lldx%lld, %lld channel(s), nz %lld, ngf %lld, "
           "ndf %lld, batch %lld, %d thread(s), %d iterations after %d "
           "warm-up\n",
           (long long)s, (long long)s, (long long)cfg.channels,
           (long long)cfg.nz, (long long)cfg.ngf, (long long)cfg.ndf,
           (long long)n, o->threads, o->iters, o->warmup);
    printf("convolution work: %.2f GFLOP per iteration, %.2f GFLOP per "
           "generator forward\n",
           flops * 1e-9, fg.all * 1e-9);

    double peak = o->peak_gflops;
    if (st == GANET_OK && o->measure_peak) {
        peak = measure_peak_gflops(o->threads);
        printf("measured peak: %.1f GFLOP/s (oneDNN sgemm 1024^3, %d "
               "thread(s))\n",
               peak, o->threads);
    }

    summary train = {0}, sample = {0};
    if (st == GANET_OK && o->train)
        st = bench_train(&gan, o, real, noise, flops, &train);
    if (st == GANET_OK && o->train && peak > 0.0)
        printf("share of peak: %.1f%% of %.1f GFLOP/s\n",
               100.0 * flops / (train.median * 1e6) / peak, peak);
    if (st == GANET_OK && o->sample)
        st = bench_sample(&gan, o, noise, &sample);
    double rss = peak_rss_mib();
    ganet_context_stats cs = {0};
    if (st == GANET_OK)
        st = ganet_context_get_stats(ctx, &cs);
    if (st == GANET_OK && o->layers)
        st = bench_layers(&gan, o, real, noise);

    if (st == GANET_OK) {
        printf("\npeak resident memory: %.1f MiB after the timed runs "
               "(%.1f MiB in libganet's buffers), %.1f MiB at the end\n",
               rss, (double)cs.bytes_in_use / (1024.0 * 1024.0),
               peak_rss_mib());
        double ips =
                sample.median > 0.0 ? (double)n * 1e3 / sample.median : 0.0;
        printf("{\"impl\": \"libganet\", \"image_size\": %lld, \"batch\": "
               "%lld, \"threads\": %d, \"iters\": %d, \"train_ms\": %.3f, "
               "\"train_min_ms\": %.3f, \"train_max_ms\": %.3f, "
               "\"gflops\": %.2f, \"sample_ms\": %.3f, \"sample_ips\": %.1f, "
               "\"peak_rss_mib\": %.1f}\n",
               (long long)s, (long long)n, o->threads, o->iters, train.median,
               train.min, train.max,
               train.median > 0.0 ? flops / (train.median * 1e6) : 0.0,
               sample.median, ips, rss);
    }
    ganet_tensor_destroy(noise);
    ganet_tensor_destroy(real);
    dcgan_destroy(&gan);
    ganet_context_destroy(ctx);
    return st;
}

int main(int argc, char **argv)
{
    /* Line by line even into a pipe, so run.sh shows progress. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc;
    return run(&o) == GANET_OK ? 0 : 1;
}
