/* Conv2d and ConvTranspose2d: values and gradients against PyTorch and
 * against a direct loop, finite differences, accumulation, the skipped
 * backward-data pass, primitive reuse, initialisation, output shapes and
 * every error path. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ganet/conv.h"
#include "internal.h"
#include "ref_data.h"
#include "test_support.h"

/*
 * Tolerances against PyTorch. Every output is a float32 sum of K products:
 * K = C_in*kH*kW (at most 128 here) for dst and diff_src, N*OH*OW (at most
 * 144) for diff_weight and diff_bias. oneDNN and PyTorch add them in
 * different orders; the difference grows like sqrt(K)*2^-24 times the sum
 * of the terms' magnitudes (1 to 10 on this data: randn values, weights
 * within 1/sqrt(fan_in)), a few 1e-6, and the largest measured is 7.6e-6
 * on a diff_weight of size 1 to 10. Absolute 2e-5 plus relative 1e-4
 * keeps a margin of about 20 over that.
 */
#define REF_ATOL 2e-5
#define REF_RTOL 1e-4

static int setup(void **state)
{
    return support_context_setup_seeded(state, 20240611);
}

/* ---- helpers ---------------------------------------------------------- */

static ganet_tensor *tensor_4d(ganet_context *ctx, int64_t n, int64_t c,
                               int64_t h, int64_t w)
{
    ganet_tensor *t = NULL;
    assert_int_equal(ganet_tensor_create_4d(ctx, n, c, h, w, &t), GANET_OK);
    return t;
}

/* Deterministic values in [-1, 1) from a small LCG, independent of the
 * library's generator. */
static void fill_pattern(float *v, int64_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)((s >> 8) / 8388608.0 - 1.0);
    }
}

static void fill_tensor(ganet_tensor *t, uint32_t seed)
{
    int64_t n = ganet_tensor_count(t);
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    fill_pattern(v, n, seed);
    assert_int_equal(ganet_tensor_copy_from(t, v, (size_t)n), GANET_OK);
    free(v);
}

static ganet_tensor *param(ganet_layer *l, const char *name, bool grad)
{
    ganet_tensor *value = NULL, *g = NULL;
    assert_int_equal(ganet_layer_find_param(l, name, &value, &g), GANET_OK);
    return grad ? g : value;
}

static ganet_conv2d_options conv_options(int64_t cin, int64_t cout, int64_t k,
                                         int64_t s, int64_t p, int64_t d,
                                         int64_t op, bool bias)
{
    ganet_conv2d_options o = GANET_CONV2D_OPTIONS_DEFAULT;
    o.in_channels = cin;
    o.out_channels = cout;
    o.kernel[0] = o.kernel[1] = k;
    o.stride[0] = o.stride[1] = s;
    o.padding[0] = o.padding[1] = p;
    o.dilation[0] = o.dilation[1] = d;
    o.output_padding[0] = o.output_padding[1] = op;
    o.bias = bias;
    return o;
}

static ganet_layer *make_layer(ganet_context *ctx,
                               const ganet_conv2d_options *o, bool transposed)
{
    ganet_layer *l = NULL;
    ganet_status st = transposed ? ganet_conv_transpose2d_create(ctx, o, &l)
                                 : ganet_conv2d_create(ctx, o, &l);
    if (st != GANET_OK)
        fail_msg("cannot create the layer: %s", ganet_last_error());
    return l;
}

static ganet_context_stats stats_of(ganet_context *ctx)
{
    ganet_context_stats s;
    assert_int_equal(ganet_context_get_stats(ctx, &s), GANET_OK);
    return s;
}

static void forward_ok(ganet_layer *l, const ganet_tensor *src,
                       const ganet_tensor **dst)
{
    ganet_status st = ganet_layer_forward(l, src, GANET_MODE_TRAINING, dst);
    if (st != GANET_OK)
        fail_msg("forward failed: %s", ganet_last_error());
}

static void backward_ok(ganet_layer *l, const ganet_tensor *diff_dst,
                        const ganet_tensor **diff_src)
{
    ganet_status st = ganet_layer_backward(l, diff_dst, diff_src);
    if (st != GANET_OK)
        fail_msg("backward failed: %s", ganet_last_error());
}

/* ---- PyTorch reference data ------------------------------------------- */

static const char *const conv_cases[] = {
        "conv2d_k3s1p1",
        "conv2d_k1s1p0",
        "conv2d_k3s2p0_7x5_nobias",
        "conv2d_k5s1p2_9x7",
        "conv2d_k3s3p0_10x11",
        "conv2d_k3s1p2d2",
        "conv2d_k3x2s2x1p1x0_7x5",
        "conv2d_k3s1p1d2x1_6x7",
        "conv2d_k4s2p1_7x5",
        "conv2d_dcgan_k4s2p1",
        "conv2d_dcgan_k4s1p0_to1x1",
        "convt2d_dcgan_k4s1p0_1x1to4x4",
        "convt2d_dcgan_k4s2p1",
        "convt2d_k4s2p1_5x3",
        "convt2d_k3s1p1",
        "convt2d_k1s1p0",
        "convt2d_k3s2p1op1_4x5",
        "convt2d_k3s2p0op1_3x4",
        "convt2d_k5s3p2_4x3",
        "convt2d_k3s2p1d2",
        "convt2d_k3x5s2x1p1x2_5x4",
        "convt2d_k4s2p1op1x0_3x3",
        "convt2d_dcgan_k4s2p1_to1",
        "convt2d_k3s2p1op1_to1_4x3",
};

/* The options vector of a case file (layout in tests/data/README.md). */
static ganet_conv2d_options case_options(const ref_entry *e, bool transposed)
{
    assert_int_equal(e->count, transposed ? 13 : 11);
    const float *v = e->data;
    ganet_conv2d_options o = GANET_CONV2D_OPTIONS_DEFAULT;
    o.in_channels = (int64_t)v[0];
    o.out_channels = (int64_t)v[1];
    for (int a = 0; a < 2; a++) {
        o.kernel[a] = (int64_t)v[2 + a];
        o.stride[a] = (int64_t)v[4 + a];
        o.padding[a] = (int64_t)v[6 + a];
        o.dilation[a] = (int64_t)v[8 + a];
        o.output_padding[a] = transposed ? (int64_t)v[10 + a] : 0;
    }
    o.bias = v[transposed ? 12 : 10] != 0;
    return o;
}

/* Compare a tensor with a reference entry; return the error in units of
 * the tolerance and fail naming the case and the entry above 1. */
static double compare(const char *name, const char *what, const ganet_tensor *t,
                      const ref_entry *e)
{
    for (int i = 0; i < e->rank; i++)
        assert_int_equal(ganet_tensor_dim(t, i), e->dims[i]);
    double err = support_max_error(t, e, REF_ATOL, REF_RTOL);
    double worst = support_max_error(t, e, 1.0, 0.0);
    print_message("%-30s %-11s max |diff| %.3g, %.3g of the tolerance\n", name,
                  what, worst, err);
    if (err > 1.0)
        fail_msg("%s: %s is off by %.3g of the tolerance", name, what, err);
    return err;
}

/* Set a layer's weight (and bias, if it has one) to a case's values. */
static void set_params(ganet_layer *l, const ref_file *f, bool bias)
{
    support_load_entry(param(l, "weight", false), support_entry(f, "weight"));
    if (bias)
        support_load_entry(param(l, "bias", false), support_entry(f, "bias"));
}

/* Every conv2d_* and convt2d_* case: dst, diff_src, diff_weight and
 * diff_bias of one forward and backward pass. */
static void test_conv_matches_pytorch(void **state)
{
    ganet_context *ctx = *state;
    double worst = 0;
    for (size_t c = 0; c < sizeof conv_cases / sizeof *conv_cases; c++) {
        const char *name = conv_cases[c];
        bool transposed = strncmp(name, "convt2d", 7) == 0;
        ref_file *f = support_load_case("layers", name);
        ganet_conv2d_options o =
                case_options(support_entry(f, "options"), transposed);
        ganet_layer *l = make_layer(ctx, &o, transposed);
        assert_string_equal(ganet_layer_kind(l),
                            transposed ? "ConvTranspose2d" : "Conv2d");
        assert_int_equal(ganet_layer_param_count(l), o.bias ? 2 : 1);

        const ref_entry *w = support_entry(f, "weight");
        ganet_tensor *weight = param(l, "weight", false);
        for (int i = 0; i < 4; i++)
            assert_int_equal(ganet_tensor_dim(weight, i), w->dims[i]);
        set_params(l, f, o.bias);

        ganet_tensor *src = support_tensor_from(ctx, support_entry(f, "src"));
        ganet_tensor *diff_dst =
                support_tensor_from(ctx, support_entry(f, "diff_dst"));
        const ganet_tensor *dst = NULL, *diff_src = NULL;
        forward_ok(l, src, &dst);
        double e = compare(name, "dst", dst, support_entry(f, "dst"));
        worst = e > worst ? e : worst;
        backward_ok(l, diff_dst, &diff_src);
        e = compare(name, "diff_src", diff_src, support_entry(f, "diff_src"));
        worst = e > worst ? e : worst;
        e = compare(name, "diff_weight", param(l, "weight", true),
                    support_entry(f, "diff_weight"));
        worst = e > worst ? e : worst;
        if (o.bias) {
            e = compare(name, "diff_bias", param(l, "bias", true),
                        support_entry(f, "diff_bias"));
            worst = e > worst ? e : worst;
        } else {
            assert_null(ref_file_find(f, "diff_bias"));
        }
        ganet_tensor_destroy(src);
        ganet_tensor_destroy(diff_dst);
        ganet_layer_destroy(l);
        ref_file_free(f);
    }
    print_message("worst: %.3g of the tolerance\n", worst);
}

/* ---- a direct loop, in double ----------------------------------------- */

/*
 * dst, and for loss = sum(dst * r) the gradients of src, weight and bias,
 * by visiting every (output, input, tap) contribution once. A transposed
 * convolution scatters each input pixel through the kernel: output row
 * y = iy*s - p + ky*d.
 */
typedef struct direct_result {
    double *dst, *diff_src, *diff_weight, *diff_bias;
} direct_result;

static void direct_conv(const ganet_conv2d_options *o, bool transposed,
                        const int64_t *sd, const int64_t *dd, const float *src,
                        const float *w, const float *b, const float *r,
                        direct_result *out)
{
    int64_t n = sd[0], ci = o->in_channels, co = o->out_channels;
    int64_t kh = o->kernel[0], kw = o->kernel[1];
    for (int64_t i = 0; i < dd[0] * dd[1] * dd[2] * dd[3]; i++) {
        int64_t ch = (i / (dd[2] * dd[3])) % co;
        out->dst[i] = o->bias ? b[ch] : 0.0;
        out->diff_bias[ch] += r[i];
    }
    for (int64_t b_ = 0; b_ < n; b_++)
        for (int64_t oc = 0; oc < co; oc++)
            for (int64_t ic = 0; ic < ci; ic++)
                for (int64_t ky = 0; ky < kh; ky++)
                    for (int64_t kx = 0; kx < kw; kx++) {
                        int64_t wi =
                                transposed
                                        ? ((ic * co + oc) * kh + ky) * kw + kx
                                        : ((oc * ci + ic) * kh + ky) * kw + kx;
                        /* Loop over the grid whose stride applies: the
                         * output for Conv2d, the input for the transpose. */
                        int64_t gh = transposed ? sd[2] : dd[2];
                        int64_t gw = transposed ? sd[3] : dd[3];
                        for (int64_t gy = 0; gy < gh; gy++)
                            for (int64_t gx = 0; gx < gw; gx++) {
                                int64_t y = gy * o->stride[0] - o->padding[0] +
                                            ky * o->dilation[0];
                                int64_t x = gx * o->stride[1] - o->padding[1] +
                                            kx * o->dilation[1];
                                int64_t lh = transposed ? dd[2] : sd[2];
                                int64_t lw = transposed ? dd[3] : sd[3];
                                if (y < 0 || y >= lh || x < 0 || x >= lw)
                                    continue;
                                int64_t si, di;
                                if (transposed) {
                                    si = ((b_ * ci + ic) * sd[2] + gy) * sd[3] +
                                         gx;
                                    di = ((b_ * co + oc) * dd[2] + y) * dd[3] +
                                         x;
                                } else {
                                    si = ((b_ * ci + ic) * sd[2] + y) * sd[3] +
                                         x;
                                    di = ((b_ * co + oc) * dd[2] + gy) * dd[3] +
                                         gx;
                                }
                                out->dst[di] += (double)src[si] * w[wi];
                                out->diff_src[si] += (double)r[di] * w[wi];
                                out->diff_weight[wi] += (double)r[di] * src[si];
                            }
                    }
}

static double max_diff(const ganet_tensor *t, const double *ref, int64_t n,
                       double atol, double rtol)
{
    assert_int_equal(ganet_tensor_count(t), n);
    float *v = support_values(t);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(v[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        worst = e > worst ? e : worst;
    }
    free(v);
    return worst;
}

typedef struct geometry_case {
    bool transposed;
    int64_t n, cin, cout, h, w, k, s, p, d, op;
    bool bias;
} geometry_case;

/*
 * Geometries beyond the reference data, against the direct loop: padding
 * larger than the kernel, a transpose whose output_padding comes from the
 * dilation (stride 1), stride larger than the kernel, a 1x1 input. The
 * loop sums in double; oneDNN's float32 sums of up to 220 terms of size
 * below 1 round by a few 1e-6 at most. Absolute 1e-5 plus relative 1e-4.
 */
static void test_conv_unusual_geometry_matches_direct_loop(void **state)
{
    ganet_context *ctx = *state;
    static const geometry_case cases[] = {
            {false, 2, 2, 3, 5, 4, 1, 1, 3, 1, 0, true},
            {false, 1, 3, 2, 9, 8, 2, 4, 0, 1, 0, true},
            {false, 2, 2, 2, 6, 7, 3, 2, 2, 3, 0, false},
            {false, 1, 2, 2, 1, 1, 3, 1, 1, 1, 0, true},
            {true, 2, 2, 3, 3, 4, 3, 1, 1, 2, 1, true},
            {true, 1, 3, 2, 3, 3, 2, 4, 0, 1, 3, true},
            {true, 2, 2, 2, 4, 3, 3, 3, 2, 2, 2, false},
            {true, 1, 2, 3, 1, 1, 3, 2, 0, 1, 1, true},
            {true, 1, 2, 2, 5, 5, 1, 1, 1, 1, 0, true},
    };
    double worst = 0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const geometry_case *g = &cases[c];
        ganet_conv2d_options o = conv_options(g->cin, g->cout, g->k, g->s, g->p,
                                              g->d, g->op, g->bias);
        ganet_layer *l = make_layer(ctx, &o, g->transposed);
        const int64_t sd[4] = {g->n, g->cin, g->h, g->w};
        int64_t dd[4];
        assert_int_equal(ganet_layer_output_shape(l, sd, dd), GANET_OK);
        ganet_tensor *src = tensor_4d(ctx, sd[0], sd[1], sd[2], sd[3]);
        ganet_tensor *r = tensor_4d(ctx, dd[0], dd[1], dd[2], dd[3]);
        fill_tensor(src, 3 * (uint32_t)c + 1);
        fill_tensor(r, 3 * (uint32_t)c + 2);
        ganet_tensor *wt = param(l, "weight", false);
        float *sv = support_values(src), *rv = support_values(r),
              *wv = support_values(wt);
        float *bv = g->bias ? support_values(param(l, "bias", false)) : NULL;
        int64_t ns = ganet_tensor_count(src), nd = ganet_tensor_count(r);
        int64_t nw = ganet_tensor_count(wt);
        direct_result ref = {calloc((size_t)nd, sizeof(double)),
                             calloc((size_t)ns, sizeof(double)),
                             calloc((size_t)nw, sizeof(double)),
                             calloc((size_t)g->cout, sizeof(double))};
        assert_non_null(ref.dst);
        assert_non_null(ref.diff_src);
        assert_non_null(ref.diff_weight);
        assert_non_null(ref.diff_bias);
        direct_conv(&o, g->transposed, sd, dd, sv, wv, bv, rv, &ref);

        const ganet_tensor *dst, *diff_src;
        if (ganet_layer_forward(l, src, GANET_MODE_TRAINING, &dst) !=
                    GANET_OK ||
            ganet_layer_backward(l, r, &diff_src) != GANET_OK)
            fail_msg("geometry %zu: %s", c, ganet_last_error());
        double e[4] = {
                max_diff(dst, ref.dst, nd, 1e-5, 1e-4),
                max_diff(diff_src, ref.diff_src, ns, 1e-5, 1e-4),
                max_diff(param(l, "weight", true), ref.diff_weight, nw, 1e-5,
                         1e-4),
                g->bias ? max_diff(param(l, "bias", true), ref.diff_bias,
                                   g->cout, 1e-5, 1e-4)
                        : 0.0,
        };
        for (int i = 0; i < 4; i++) {
            worst = e[i] > worst ? e[i] : worst;
            if (e[i] > 1.0)
                fail_msg("geometry %zu (%s k%lld s%lld p%lld d%lld op%lld): "
                         "%s off by %.3g of the tolerance",
                         c, ganet_layer_kind(l), (long long)g->k,
                         (long long)g->s, (long long)g->p, (long long)g->d,
                         (long long)g->op,
                         (const char *[]){"dst", "diff_src", "diff_weight",
                                          "diff_bias"}[i],
                         e[i]);
        }
        free(ref.dst);
        free(ref.diff_src);
        free(ref.diff_weight);
        free(ref.diff_bias);
        free(sv);
        free(rv);
        free(wv);
        free(bv);
        ganet_tensor_destroy(src);
        ganet_tensor_destroy(r);
        ganet_layer_destroy(l);
    }
    print_message("worst: %.3g of the tolerance\n", worst);
}

/*
 * oneDNN cannot place more than stride - 1 output rows beyond the last
 * kernel tap, which ConvTranspose2d reaches when output_padding - padding
 * >= stride (possible only with dilation > stride). Such a layer is
 * refused at its forward pass, while output_shape still answers.
 */
static void test_conv_refuses_output_padding_beyond_stride(void **state)
{
    ganet_context *ctx = *state;
    ganet_conv2d_options o = conv_options(2, 3, 3, 1, 0, 2, 1, true);
    ganet_layer *l = make_layer(ctx, &o, true);
    ganet_tensor *src = tensor_4d(ctx, 1, 2, 3, 4);
    const ganet_tensor *dst = (const ganet_tensor *)l;
    uint64_t prims = stats_of(ctx).primitives_created;
    assert_int_equal(ganet_layer_forward(l, src, GANET_MODE_TRAINING, &dst),
                     GANET_ERR_UNIMPLEMENTED);
    assert_null(dst);
    assert_non_null(strstr(ganet_last_error(),
                           "ConvTranspose2d: output_padding height 1 exceeds "
                           "padding 0 by the stride 1 or more"));
    assert_int_equal(stats_of(ctx).primitives_created, prims);
    assert_int_equal(ganet_layer_backward(l, src, NULL), GANET_ERR_STATE);
    int64_t out[4];
    assert_int_equal(ganet_layer_output_shape(l, src->dims, out), GANET_OK);
    assert_int_equal(out[2], 8);
    ganet_tensor_destroy(src);
    ganet_layer_destroy(l);
}

/* ---- finite differences ----------------------------------------------- */

static double loss_of(ganet_layer *l, const ganet_tensor *src, const float *r)
{
    const ganet_tensor *dst;
    forward_ok(l, src, &dst);
    float *v = support_values(dst);
    double sum = 0;
    for (int64_t i = 0; i < ganet_tensor_count(dst); i++)
        sum += (double)v[i] * r[i];
    free(v);
    return sum;
}

/*
 * Perturb each value of t by +-h, recompute the loss, and compare the
 * central difference with the analytic gradient g. Returns the worst error
 * in units of the tolerance.
 */
static double check_fd(ganet_layer *l, const ganet_tensor *src, ganet_tensor *t,
                       const float *g, const float *r, const char *what)
{
    const double h = 1.0 / 64.0;
    int64_t n = ganet_tensor_count(t);
    float *v = support_values(t);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        float keep = v[i];
        float up = (float)(keep + h), down = (float)(keep - h);
        v[i] = up;
        assert_int_equal(ganet_tensor_copy_from(t, v, (size_t)n), GANET_OK);
        double hi = loss_of(l, src, r);
        v[i] = down;
        assert_int_equal(ganet_tensor_copy_from(t, v, (size_t)n), GANET_OK);
        double lo = loss_of(l, src, r);
        v[i] = keep;
        double fd = (hi - lo) / ((double)up - (double)down);
        double err = fabs(fd - g[i]) / (1e-3 + 1e-3 * fabs(fd));
        worst = err > worst ? err : worst;
        if (err > 1.0)
            fail_msg("%s %s[%lld]: backward %g, central difference %g",
                     ganet_layer_kind(l), what, (long long)i, (double)g[i], fd);
    }
    assert_int_equal(ganet_tensor_copy_from(t, v, (size_t)n), GANET_OK);
    free(v);
    return worst;
}

/*
 * loss = sum(dst * R) for a fixed R in [-1, 1), so backward with diff_dst
 * = R gives the exact gradients. The layer is linear in each of src,
 * weight and bias, so central differences have no truncation error; what
 * remains is the float rounding of the two losses, about 1e-6 for sums of
 * a few hundred terms of size 1, divided by 2h = 1/32: 3e-5. Step h =
 * 1/64; tolerance 1e-3 absolute plus 1e-3 relative.
 */
static void gradient_check(ganet_context *ctx, const ganet_conv2d_options *o,
                           bool transposed, const int64_t *sd)
{
    ganet_layer *l = make_layer(ctx, o, transposed);
    int64_t dd[4];
    assert_int_equal(ganet_layer_output_shape(l, sd, dd), GANET_OK);
    ganet_tensor *src = tensor_4d(ctx, sd[0], sd[1], sd[2], sd[3]);
    ganet_tensor *r = tensor_4d(ctx, dd[0], dd[1], dd[2], dd[3]);
    fill_tensor(src, 7);
    fill_tensor(r, 11);
    float *rv = support_values(r);

    const ganet_tensor *dst, *diff_src;
    forward_ok(l, src, &dst);
    backward_ok(l, r, &diff_src);
    float *gs = support_values(diff_src);
    float *gw = support_values(param(l, "weight", true));
    float *gb = support_values(param(l, "bias", true));

    double e_src = check_fd(l, src, src, gs, rv, "src");
    double e_w = check_fd(l, src, param(l, "weight", false), gw, rv, "weight");
    double e_b = check_fd(l, src, param(l, "bias", false), gb, rv, "bias");
    print_message("%s finite differences: src %.3g, weight %.3g, bias %.3g "
                  "of the tolerance\n",
                  ganet_layer_kind(l), e_src, e_w, e_b);
    free(rv);
    free(gs);
    free(gw);
    free(gb);
    ganet_tensor_destroy(src);
    ganet_tensor_destroy(r);
    ganet_layer_destroy(l);
}

static void test_conv_gradient_finite_differences(void **state)
{
    ganet_context *ctx = *state;
    /* (2, 2, 7, 6) -> (2, 3, 3, 2): stride 2, padding 1, dilation 2. */
    ganet_conv2d_options conv = conv_options(2, 3, 3, 2, 1, 2, 0, true);
    const int64_t conv_src[4] = {2, 2, 7, 6};
    gradient_check(ctx, &conv, false, conv_src);
    /* (2, 2, 3, 4) -> (2, 3, 8, 10): stride 2, padding 1, dilation 2,
     * output_padding 1. */
    ganet_conv2d_options convt = conv_options(2, 3, 3, 2, 1, 2, 1, true);
    const int64_t convt_src[4] = {2, 2, 3, 4};
    gradient_check(ctx, &convt, true, convt_src);
}

/* ---- accumulation, skipped backward-data, reuse ----------------------- */

static void check_accumulates(ganet_context *ctx, const char *name)
{
    bool transposed = strncmp(name, "convt2d", 7) == 0;
    ref_file *f = support_load_case("layers", name);
    ganet_conv2d_options o =
            case_options(support_entry(f, "options"), transposed);
    ganet_layer *l = make_layer(ctx, &o, transposed);
    ganet_tensor *src = support_tensor_from(ctx, support_entry(f, "src"));
    ganet_tensor *diff_dst =
            support_tensor_from(ctx, support_entry(f, "diff_dst"));
    /* Without a bias, the weight stands in for it below. */
    ganet_tensor *gw = param(l, "weight", true),
                 *gb = o.bias ? param(l, "bias", true) : gw;
    const ganet_tensor *dst, *diff_src;
    int64_t nw = ganet_tensor_count(gw), nb = ganet_tensor_count(gb);

    forward_ok(l, src, &dst);
    backward_ok(l, diff_dst, &diff_src);
    float *w1 = support_values(gw), *b1 = support_values(gb);
    forward_ok(l, src, &dst);
    backward_ok(l, diff_dst, &diff_src);
    float *w2 = support_values(gw), *b2 = support_values(gb);
    /* g + g is exact in float, and oneDNN repeats itself bit for bit. */
    for (int64_t i = 0; i < nw; i++)
        assert_true(w2[i] == 2.0f * w1[i]);
    for (int64_t i = 0; i < nb; i++)
        assert_true(b2[i] == 2.0f * b1[i]);

    assert_int_equal(ganet_layer_zero_grad(l), GANET_OK);
    float *w0 = support_values(gw), *b0 = support_values(gb);
    for (int64_t i = 0; i < nw; i++)
        assert_true(w0[i] == 0.0f);
    for (int64_t i = 0; i < nb; i++)
        assert_true(b0[i] == 0.0f);
    forward_ok(l, src, &dst);
    backward_ok(l, diff_dst, &diff_src);
    float *w3 = support_values(gw), *b3 = support_values(gb);
    assert_memory_equal(w3, w1, (size_t)nw * sizeof *w1);
    assert_memory_equal(b3, b1, (size_t)nb * sizeof *b1);

    free(w0);
    free(w1);
    free(w2);
    free(w3);
    free(b0);
    free(b1);
    free(b2);
    free(b3);
    ganet_tensor_destroy(src);
    ganet_tensor_destroy(diff_dst);
    ganet_layer_destroy(l);
    ref_file_free(f);
}

/* Two forward/backward passes give twice the parameter gradients;
 * zero_grad resets them. The 1x1 input runs as a matrix product. */
static void test_conv_gradients_accumulate(void **state)
{
    check_accumulates(*state, "conv2d_k3s1p1");
    check_accumulates(*state, "convt2d_k4s2p1_5x3");
    check_accumulates(*state, "convt2d_dcgan_k4s1p0_1x1to4x4");
}

static void check_no_diff_src(ganet_context *ctx, const char *name)
{
    bool transposed = strncmp(name, "convt2d", 7) == 0;
    ref_file *f = support_load_case("layers", name);
    ganet_conv2d_options o =
            case_options(support_entry(f, "options"), transposed);
    ganet_layer *l = make_layer(ctx, &o, transposed);
    set_params(l, f, o.bias);
    ganet_tensor *src = support_tensor_from(ctx, support_entry(f, "src"));
    ganet_tensor *diff_dst =
            support_tensor_from(ctx, support_entry(f, "diff_dst"));
    const ganet_tensor *dst;

    /* Forward creates one primitive, backward by weights one more, and
     * with diff_src NULL the backward-data one is never made. */
    uint64_t p0 = stats_of(ctx).primitives_created;
    forward_ok(l, src, &dst);
    assert_int_equal(stats_of(ctx).primitives_created, p0 + 1);
    backward_ok(l, diff_dst, NULL);
    assert_int_equal(stats_of(ctx).primitives_created, p0 + 2);
    compare(name, "diff_weight", param(l, "weight", true),
            support_entry(f, "diff_weight"));
    if (o.bias)
        compare(name, "diff_bias", param(l, "bias", true),
                support_entry(f, "diff_bias"));
    forward_ok(l, src, &dst);
    backward_ok(l, diff_dst, NULL);
    assert_int_equal(stats_of(ctx).primitives_created, p0 + 2);

    /* Asking for diff_src later builds the missing primitive then. */
    const ganet_tensor *diff_src = NULL;
    backward_ok(l, diff_dst, &diff_src);
    assert_int_equal(stats_of(ctx).primitives_created, p0 + 3);
    compare(name, "diff_src", diff_src, support_entry(f, "diff_src"));
    ganet_tensor_destroy(src);
    ganet_tensor_destroy(diff_dst);
    ganet_layer_destroy(l);
    ref_file_free(f);
}

static void test_conv_null_diff_src_skips_backward_data(void **state)
{
    check_no_diff_src(*state, "conv2d_k3s1p1");
    check_no_diff_src(*state, "conv2d_dcgan_k4s2p1");
    check_no_diff_src(*state, "convt2d_k3s2p1op1_4x5");
    check_no_diff_src(*state, "convt2d_dcgan_k4s1p0_1x1to4x4");
}

static void check_reuse(ganet_context *ctx, bool transposed)
{
    ganet_conv2d_options o = transposed
                                     ? conv_options(4, 3, 4, 2, 1, 1, 0, true)
                                     : conv_options(3, 4, 4, 2, 1, 1, 0, true);
    ganet_layer *l = make_layer(ctx, &o, transposed);
    ganet_tensor *a = tensor_4d(ctx, 2, o.in_channels, 8, 8);
    ganet_tensor *b = tensor_4d(ctx, 3, o.in_channels, 6, 10);
    fill_tensor(a, 1);
    fill_tensor(b, 2);
    int64_t da[4], db[4];
    assert_int_equal(ganet_layer_output_shape(l, a->dims, da), GANET_OK);
    assert_int_equal(ganet_layer_output_shape(l, b->dims, db), GANET_OK);
    ganet_tensor *ga = tensor_4d(ctx, da[0], da[1], da[2], da[3]);
    ganet_tensor *gb = tensor_4d(ctx, db[0], db[1], db[2], db[3]);
    fill_tensor(ga, 3);
    fill_tensor(gb, 4);
    const ganet_tensor *dst, *diff_src, *dst1, *diff_src1;

    forward_ok(l, a, &dst1);
    backward_ok(l, ga, &diff_src1);
    float *first = support_values(dst1);
    ganet_context_stats before = stats_of(ctx);
    for (int i = 0; i < 3; i++) {
        forward_ok(l, a, &dst);
        backward_ok(l, ga, &diff_src);
        assert_ptr_equal(dst, dst1);
        assert_ptr_equal(diff_src, diff_src1);
    }
    ganet_context_stats after = stats_of(ctx);
    assert_int_equal(after.primitives_created, before.primitives_created);
    assert_int_equal(after.reorders_created, before.reorders_created);
    assert_int_equal(after.allocations, before.allocations);
    assert_int_equal(after.bytes_in_use, before.bytes_in_use);

    /* Another shape rebuilds forward, backward-data and backward-weights,
     * and so does coming back: one shape is kept at a time. */
    forward_ok(l, b, &dst);
    backward_ok(l, gb, &diff_src);
    assert_int_equal(ganet_tensor_dim(dst, 0), db[0]);
    assert_int_equal(ganet_tensor_dim(dst, 2), db[2]);
    assert_int_equal(ganet_tensor_dim(dst, 3), db[3]);
    assert_int_equal(ganet_tensor_dim(diff_src, 3), 10);
    assert_int_equal(stats_of(ctx).primitives_created,
                     after.primitives_created + 3);
    forward_ok(l, a, &dst);
    assert_int_equal(stats_of(ctx).primitives_created,
                     after.primitives_created + 4);
    float *again = support_values(dst);
    assert_memory_equal(again, first,
                        (size_t)ganet_tensor_count(dst) * sizeof *first);
    free(first);
    free(again);
    ganet_tensor_destroy(a);
    ganet_tensor_destroy(b);
    ganet_tensor_destroy(ga);
    ganet_tensor_destroy(gb);
    ganet_layer_destroy(l);
}

/* After a first pass, the same shape creates no primitive and allocates
 * nothing; a new shape rebuilds. */
static void test_conv_reuses_primitives(void **state)
{
    check_reuse(*state, false);
    check_reuse(*state, true);
}

/* ---- initialisation ---------------------------------------------------- */

typedef struct moments {
    double mean, std, max_abs;
} moments;

static moments moments_of(const ganet_tensor *t)
{
    float *v = support_values(t);
    int64_t n = ganet_tensor_count(t);
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += v[i];
        s2 += (double)v[i] * v[i];
        m = fabs(v[i]) > m ? fabs(v[i]) : m;
    }
    free(v);
    double mean = s / (double)n;
    return (moments){mean, sqrt(s2 / (double)n - mean * mean), m};
}

/* Uniform in [-bound, bound): every value inside, the largest near the
 * bound (so a smaller fan_in would be caught), the std near
 * bound/sqrt(3). */
static void check_uniform(const ganet_tensor *t, double bound, bool big)
{
    moments m = moments_of(t);
    assert_true(m.max_abs <= bound);
    assert_true(m.max_abs > (big ? 0.99 : 0.5) * bound);
    if (big) {
        assert_true(fabs(m.mean) < 0.03 * bound);
        assert_true(fabs(m.std / (bound / sqrt(3.0)) - 1.0) < 0.03);
    }
}

/*
 * PyTorch's default: fan_in from the weight's dim 1 times the kernel area,
 * C_in*kH*kW for Conv2d (C_out, C_in, kH, kW) but C_out*kH*kW for
 * ConvTranspose2d (C_in, C_out, kH, kW); weights and bias within
 * 1/sqrt(fan_in).
 */
static void test_conv_pytorch_init_bounds(void **state)
{
    ganet_context *ctx = *state;
    /* fan_in = 16*4*4 = 256: bound 1/16. */
    ganet_conv2d_options o = conv_options(16, 48, 4, 2, 1, 1, 0, true);
    ganet_layer *conv = make_layer(ctx, &o, false);
    check_uniform(param(conv, "weight", false), 1.0 / 16.0, true);
    check_uniform(param(conv, "bias", false), 1.0 / 16.0, false);
    /* Transposed, fan_in = C_out*4*4 = 48*16 = 768, not 16*16. */
    ganet_layer *convt = make_layer(ctx, &o, true);
    assert_int_equal(ganet_tensor_dim(param(convt, "weight", false), 0), 16);
    assert_int_equal(ganet_tensor_dim(param(convt, "weight", false), 1), 48);
    check_uniform(param(convt, "weight", false), 1.0 / sqrt(768.0), true);
    check_uniform(param(convt, "bias", false), 1.0 / sqrt(768.0), false);
    /* Non-square kernel: Conv2d(3 -> 5, 3x2) has fan_in 18. */
    ganet_conv2d_options r = conv_options(3, 5, 3, 1, 0, 1, 0, true);
    r.kernel[1] = 2;
    ganet_layer *rect = make_layer(ctx, &r, false);
    check_uniform(param(rect, "weight", false), 1.0 / sqrt(18.0), false);
    /* ganet_layer_init with the default scheme draws new values in the
     * same range. */
    float *before = support_values(param(conv, "weight", false));
    assert_int_equal(ganet_layer_init(conv, GANET_INIT_PYTORCH), GANET_OK);
    float *after = support_values(param(conv, "weight", false));
    assert_memory_not_equal(before, after, 64 * sizeof *before);
    check_uniform(param(conv, "weight", false), 1.0 / 16.0, true);
    free(before);
    free(after);
    ganet_layer_destroy(conv);
    ganet_layer_destroy(convt);
    ganet_layer_destroy(rect);
}

/* DC-GAN's: weights N(0, 0.02), bias 0. Over 131072 values the mean is
 * within 5 standard errors (2.8e-4) of 0 and the std within 2% of 0.02. */
static void test_conv_dcgan_init(void **state)
{
    ganet_context *ctx = *state;
    ganet_conv2d_options o = conv_options(64, 128, 4, 2, 1, 1, 0, true);
    for (int t = 0; t < 2; t++) {
        ganet_layer *l = make_layer(ctx, &o, t == 1);
        assert_int_equal(ganet_layer_init(l, GANET_INIT_DCGAN), GANET_OK);
        moments m = moments_of(param(l, "weight", false));
        print_message("%s DC-GAN init: mean %.3g, std %.5f\n",
                      ganet_layer_kind(l), m.mean, m.std);
        assert_true(fabs(m.mean) < 2.8e-4);
        assert_true(fabs(m.std / 0.02 - 1.0) < 0.02);
        moments b = moments_of(param(l, "bias", false));
        assert_true(b.max_abs == 0.0);
        ganet_layer_destroy(l);
    }
    assert_int_equal(ganet_layer_init(NULL, GANET_INIT_DCGAN),
                     GANET_ERR_NULL_POINTER);
}

static float *weights_for_seed(uint64_t seed, bool transposed, bool dcgan)
{
    ganet_context_options co = GANET_CONTEXT_OPTIONS_DEFAULT;
    co.seed = seed;
    ganet_context *ctx;
    assert_int_equal(ganet_context_create(&co, &ctx), GANET_OK);
    ganet_conv2d_options o = conv_options(3, 4, 3, 1, 1, 1, 0, true);
    ganet_layer *l = make_layer(ctx, &o, transposed);
    if (dcgan)
        assert_int_equal(ganet_layer_init(l, GANET_INIT_DCGAN), GANET_OK);
    float *v = support_values(param(l, "weight", false));
    ganet_layer_destroy(l);
    ganet_context_destroy(ctx);
    return v;
}

/* The same seed gives the same weights, another seed other ones. */
static void test_conv_init_is_reproducible(void **state)
{
    (void)state;
    const size_t size = 4 * 3 * 3 * 3 * sizeof(float);
    for (int k = 0; k < 4; k++) {
        bool transposed = k & 1, dcgan = k & 2;
        float *a = weights_for_seed(7, transposed, dcgan);
        float *b = weights_for_seed(7, transposed, dcgan);
        float *c = weights_for_seed(8, transposed, dcgan);
        assert_memory_equal(a, b, size);
        assert_memory_not_equal(a, c, size);
        free(a);
        free(b);
        free(c);
    }
}

/* ---- output shapes ----------------------------------------------------- */

typedef struct shape_case {
    bool transposed;
    int64_t k[2], s[2], p[2], d[2], op[2];
    int64_t in[4], out[4];
} shape_case;

/*
 * Worked by hand from out = floor((in + 2p - d(k-1) - 1)/s) + 1 and
 * out = (in-1)s - 2p + d(k-1) + op + 1:
 *   Conv2d k4 s2 p1, 64x64:        (64+2-4)/2+1 = 32
 *   Conv2d k4 s1 p0, 4x4:          (4-4)/1+1 = 1
 *   Conv2d k3 s3 p0, 10x11:        7/3 = 2 -> 3, 8/3 = 2 -> 3
 *   Conv2d k3 s1 p2 d2, 9x8:       extent 5; 9+4-5+1 = 9, 8
 *   Conv2d k3x2 s2x1 p1x0, 7x5:    (7+2-3)/2+1 = 4, (5-2)/1+1 = 4
 *   Conv2d k5 s2 p0, 5x6:          0/2+1 = 1, 1/2+1 = 1
 *   ConvT k4 s1 p0, 1x1:           0 - 0 + 3 + 0 + 1 = 4
 *   ConvT k4 s2 p1, 16x16:         15*2 - 2 + 3 + 1 = 32
 *   ConvT k3 s2 p1 op1, 4x5:       3*2-2+2+1+1 = 8, 4*2-2+2+1+1 = 10
 *   ConvT k3 s2 p1 d2, 4x4:        6 - 2 + 4 + 1 = 9
 *   ConvT k5x3 s3x1 p2x0 op2x0, 4x3: 9-4+4+2+1 = 12, 2-0+2+0+1 = 5
 */
static void test_conv_output_shape_arithmetic(void **state)
{
    ganet_context *ctx = *state;
    static const shape_case cases[] = {
            {false,
             {4, 4},
             {2, 2},
             {1, 1},
             {1, 1},
             {0, 0},
             {8, 3, 64, 64},
             {8, 5, 32, 32}},
            {false,
             {4, 4},
             {1, 1},
             {0, 0},
             {1, 1},
             {0, 0},
             {2, 3, 4, 4},
             {2, 5, 1, 1}},
            {false,
             {3, 3},
             {3, 3},
             {0, 0},
             {1, 1},
             {0, 0},
             {1, 3, 10, 11},
             {1, 5, 3, 3}},
            {false,
             {3, 3},
             {1, 1},
             {2, 2},
             {2, 2},
             {0, 0},
             {2, 3, 9, 8},
             {2, 5, 9, 8}},
            {false,
             {3, 2},
             {2, 1},
             {1, 0},
             {1, 1},
             {0, 0},
             {2, 3, 7, 5},
             {2, 5, 4, 4}},
            {false,
             {5, 5},
             {2, 2},
             {0, 0},
             {1, 1},
             {0, 0},
             {1, 3, 5, 6},
             {1, 5, 1, 1}},
            {true,
             {4, 4},
             {1, 1},
             {0, 0},
             {1, 1},
             {0, 0},
             {4, 3, 1, 1},
             {4, 5, 4, 4}},
            {true,
             {4, 4},
             {2, 2},
             {1, 1},
             {1, 1},
             {0, 0},
             {4, 3, 16, 16},
             {4, 5, 32, 32}},
            {true,
             {3, 3},
             {2, 2},
             {1, 1},
             {1, 1},
             {1, 1},
             {2, 3, 4, 5},
             {2, 5, 8, 10}},
            {true,
             {3, 3},
             {2, 2},
             {1, 1},
             {2, 2},
             {0, 0},
             {2, 3, 4, 4},
             {2, 5, 9, 9}},
            {true,
             {5, 3},
             {3, 1},
             {2, 0},
             {1, 1},
             {2, 0},
             {1, 3, 4, 3},
             {1, 5, 12, 5}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const shape_case *s = &cases[c];
        ganet_conv2d_options o = GANET_CONV2D_OPTIONS_DEFAULT;
        o.in_channels = 3;
        o.out_channels = 5;
        for (int a = 0; a < 2; a++) {
            o.kernel[a] = s->k[a];
            o.stride[a] = s->s[a];
            o.padding[a] = s->p[a];
            o.dilation[a] = s->d[a];
            o.output_padding[a] = s->op[a];
        }
        ganet_layer *l = make_layer(ctx, &o, s->transposed);
        int64_t out[4] = {0, 0, 0, 0};
        assert_int_equal(ganet_layer_output_shape(l, s->in, out), GANET_OK);
        if (memcmp(out, s->out, sizeof out) != 0)
            fail_msg("shape case %zu: got [%lld, %lld, %lld, %lld]", c,
                     (long long)out[0], (long long)out[1], (long long)out[2],
                     (long long)out[3]);
        ganet_layer_destroy(l);
    }
}

/* ---- bad input ---------------------------------------------------------- */

/* A layer after one good pass, to prove that failures leave it as it was. */
typedef struct probe {
    ganet_context *ctx;
    ganet_layer *layer;
    ganet_tensor *src, *diff_dst;
    const ganet_tensor *dst;
    float *dst_values, *grad_values;
    uint64_t primitives;
} probe;

static probe probe_make(ganet_context *ctx, bool transposed)
{
    probe p = {ctx, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    ganet_conv2d_options o = conv_options(1, 4, 3, 1, 0, 1, 0, true);
    p.layer = make_layer(ctx, &o, transposed);
    p.src = tensor_4d(ctx, 2, 1, 6, 6);
    int64_t dd[4];
    assert_int_equal(ganet_layer_output_shape(p.layer, p.src->dims, dd),
                     GANET_OK);
    p.diff_dst = tensor_4d(ctx, dd[0], dd[1], dd[2], dd[3]);
    fill_tensor(p.src, 5);
    fill_tensor(p.diff_dst, 6);
    const ganet_tensor *diff_src;
    forward_ok(p.layer, p.src, &p.dst);
    backward_ok(p.layer, p.diff_dst, &diff_src);
    p.dst_values = support_values(p.dst);
    p.grad_values = support_values(param(p.layer, "weight", true));
    p.primitives = stats_of(ctx).primitives_created;
    return p;
}

/* The layer still has its output and gradients, creates nothing, and
 * still runs backward for its last good forward pass. */
static void probe_check_unchanged(probe *p)
{
    float *v = support_values(p->dst);
    assert_memory_equal(v, p->dst_values,
                        (size_t)ganet_tensor_count(p->dst) * sizeof *v);
    free(v);
    ganet_tensor *g = param(p->layer, "weight", true);
    v = support_values(g);
    assert_memory_equal(v, p->grad_values,
                        (size_t)ganet_tensor_count(g) * sizeof *v);
    free(v);
    assert_int_equal(stats_of(p->ctx).primitives_created, p->primitives);
}

static void probe_free(probe *p)
{
    /* A backward after all the failures still works and accumulates. */
    const ganet_tensor *diff_src;
    backward_ok(p->layer, p->diff_dst, &diff_src);
    ganet_tensor *g = param(p->layer, "weight", true);
    float *v = support_values(g);
    for (int64_t i = 0; i < ganet_tensor_count(g); i++)
        assert_true(v[i] == 2.0f * p->grad_values[i]);
    free(v);
    free(p->dst_values);
    free(p->grad_values);
    ganet_tensor_destroy(p->src);
    ganet_tensor_destroy(p->diff_dst);
    ganet_layer_destroy(p->layer);
}

static void expect_forward_fails(probe *p, const ganet_tensor *src,
                                 ganet_status status, const char *message)
{
    const ganet_tensor *dst = (const ganet_tensor *)p;
    assert_int_equal(
            ganet_layer_forward(p->layer, src, GANET_MODE_TRAINING, &dst),
            status);
    assert_null(dst);
    if (message && strstr(ganet_last_error(), message) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", message, ganet_last_error());
    probe_check_unchanged(p);
}

static void test_conv_rejects_wrong_channel_count(void **state)
{
    for (int t = 0; t < 2; t++) {
        probe p = probe_make(*state, t == 1);
        ganet_tensor *x = tensor_4d(p.ctx, 2, 3, 6, 6);
        expect_forward_fails(&p, x, GANET_ERR_SHAPE,
                             t ? "ConvTranspose2d: input has 3 channels, the "
                                 "layer expects 1"
                               : "Conv2d: input has 3 channels, the layer "
                                 "expects 1");
        int64_t out[4] = {-1, -1, -1, -1};
        assert_int_equal(ganet_layer_output_shape(p.layer, x->dims, out),
                         GANET_ERR_SHAPE);
        for (int i = 0; i < 4; i++)
            assert_int_equal(out[i], -1);
        ganet_tensor_destroy(x);
        probe_free(&p);
    }
}

static void test_conv_rejects_input_smaller_than_kernel(void **state)
{
    probe p = probe_make(*state, false);
    ganet_conv2d_options o = conv_options(1, 2, 5, 1, 0, 1, 0, true);
    ganet_layer *l = make_layer(p.ctx, &o, false);
    ganet_tensor *x = tensor_4d(p.ctx, 1, 1, 4, 6);
    const ganet_tensor *dst = (const ganet_tensor *)&p;
    assert_int_equal(ganet_layer_forward(l, x, GANET_MODE_TRAINING, &dst),
                     GANET_ERR_SHAPE);
    assert_null(dst);
    assert_non_null(strstr(ganet_last_error(),
                           "Conv2d: input height 4 plus padding 2*0 is "
                           "smaller than the kernel's extent 5"));
    /* A dilated kernel's extent counts: 3 taps at dilation 3 span 7. */
    ganet_conv2d_options od = conv_options(1, 2, 3, 1, 1, 3, 0, true);
    ganet_layer *ld = make_layer(p.ctx, &od, false);
    const int64_t sd[4] = {1, 1, 8, 4}, ok[4] = {1, 1, 5, 5};
    int64_t out[4];
    assert_int_equal(ganet_layer_output_shape(ld, sd, out), GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(), "input width 4"));
    assert_int_equal(ganet_layer_output_shape(ld, ok, out), GANET_OK);
    assert_int_equal(out[2], 1);
    /* A transpose whose padding eats the whole output. */
    ganet_conv2d_options ot = conv_options(1, 2, 3, 1, 2, 1, 0, true);
    ganet_layer *lt = make_layer(p.ctx, &ot, true);
    const int64_t one[4] = {1, 1, 1, 1};
    assert_int_equal(ganet_layer_output_shape(lt, one, out), GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(), "output height of -1"));
    /* The probe's layer (kernel 3, no padding) and a 2x2 input. */
    ganet_tensor *tiny = tensor_4d(p.ctx, 2, 1, 2, 2);
    expect_forward_fails(&p, tiny, GANET_ERR_SHAPE,
                         "input height 2 plus padding 2*0 is smaller");
    ganet_tensor_destroy(tiny);
    ganet_tensor_destroy(x);
    ganet_layer_destroy(l);
    ganet_layer_destroy(ld);
    ganet_layer_destroy(lt);
    probe_free(&p);
}

static void test_conv_rejects_rank3_input(void **state)
{
    for (int t = 0; t < 2; t++) {
        probe p = probe_make(*state, t == 1);
        const int64_t dims[3] = {1, 6, 6};
        ganet_tensor *x = NULL;
        assert_int_equal(ganet_tensor_create(p.ctx, 3, dims, &x), GANET_OK);
        expect_forward_fails(&p, x, GANET_ERR_SHAPE,
                             "input has rank 3, expected 4");
        ganet_tensor_destroy(x);
        /* An unknown mode is refused before anything runs. */
        const ganet_tensor *dst = (const ganet_tensor *)&p;
        assert_int_equal(
                ganet_layer_forward(p.layer, p.src, (ganet_mode)5, &dst),
                GANET_ERR_INVALID_ARGUMENT);
        assert_null(dst);
        probe_check_unchanged(&p);
        probe_free(&p);
    }
}

static void test_conv_rejects_backward_before_forward(void **state)
{
    ganet_context *ctx = *state;
    for (int t = 0; t < 2; t++) {
        ganet_conv2d_options o = conv_options(1, 4, 3, 1, 1, 1, 0, true);
        ganet_layer *l = make_layer(ctx, &o, t == 1);
        ganet_tensor *g = tensor_4d(ctx, 2, 4, 6, 6);
        const ganet_tensor *diff_src = (const ganet_tensor *)l;
        uint64_t prims = stats_of(ctx).primitives_created;
        assert_int_equal(ganet_layer_backward(l, g, &diff_src),
                         GANET_ERR_STATE);
        assert_null(diff_src);
        assert_non_null(strstr(ganet_last_error(),
                               "backward called before any forward pass"));
        assert_int_equal(ganet_layer_backward(l, g, NULL), GANET_ERR_STATE);
        assert_int_equal(stats_of(ctx).primitives_created, prims);
        moments m = moments_of(param(l, "weight", true));
        assert_true(m.max_abs == 0.0);
        ganet_tensor_destroy(g);
        ganet_layer_destroy(l);
    }
}

static void test_conv_rejects_diff_dst_of_another_shape(void **state)
{
    for (int t = 0; t < 2; t++) {
        probe p = probe_make(*state, t == 1);
        int64_t d[4];
        assert_int_equal(ganet_tensor_get_dims(p.diff_dst, d), GANET_OK);
        ganet_tensor *batch = tensor_4d(p.ctx, 3, d[1], d[2], d[3]);
        ganet_tensor *wide = tensor_4d(p.ctx, d[0], d[1], d[2], d[3] + 1);
        const ganet_tensor *diff_src = (const ganet_tensor *)&p;
        assert_int_equal(ganet_layer_backward(p.layer, batch, &diff_src),
                         GANET_ERR_SHAPE);
        assert_null(diff_src);
        char expected[96];
        snprintf(expected, sizeof expected,
                 "shape [3, 4, %lld, %lld], the forward pass produced "
                 "[2, 4, %lld, %lld]",
                 (long long)d[2], (long long)d[3], (long long)d[2],
                 (long long)d[3]);
        if (strstr(ganet_last_error(), expected) == NULL)
            fail_msg("expected \"%s\" in \"%s\"", expected, ganet_last_error());
        probe_check_unchanged(&p);
        assert_int_equal(ganet_layer_backward(p.layer, wide, NULL),
                         GANET_ERR_SHAPE);
        probe_check_unchanged(&p);
        ganet_tensor_destroy(batch);
        ganet_tensor_destroy(wide);
        probe_free(&p);
    }
}

static void test_conv_rejects_tensor_of_another_context(void **state)
{
    ganet_context *other;
    assert_int_equal(ganet_context_create(NULL, &other), GANET_OK);
    for (int t = 0; t < 2; t++) {
        probe p = probe_make(*state, t == 1);
        ganet_tensor *x = tensor_4d(other, 2, 1, 6, 6);
        int64_t d[4];
        assert_int_equal(ganet_tensor_get_dims(p.diff_dst, d), GANET_OK);
        ganet_tensor *g = tensor_4d(other, d[0], d[1], d[2], d[3]);
        expect_forward_fails(&p, x, GANET_ERR_CONTEXT_MISMATCH,
                             "the input belongs to another context");
        const ganet_tensor *diff_src = (const ganet_tensor *)&p;
        assert_int_equal(ganet_layer_backward(p.layer, g, &diff_src),
                         GANET_ERR_CONTEXT_MISMATCH);
        assert_null(diff_src);
        assert_non_null(strstr(ganet_last_error(),
                               "the gradient belongs to another context"));
        probe_check_unchanged(&p);
        ganet_tensor_destroy(x);
        ganet_tensor_destroy(g);
        probe_free(&p);
    }
    ganet_context_destroy(other);
}

typedef struct bad_options {
    bool transposed;
    ganet_conv2d_options o;
    const char *message;
} bad_options;

static void test_conv_create_rejects_bad_options(void **state)
{
    ganet_context *ctx = *state;
    const ganet_conv2d_options good = conv_options(2, 3, 3, 2, 1, 1, 0, true);
    bad_options cases[32];
    int n = 0;
    for (int t = 0; t < 2; t++) {
        bool tr = t == 1;
        ganet_conv2d_options o = good;
        o.in_channels = 0;
        cases[n++] = (bad_options){tr, o, "channels are 0 -> 3"};
        o = good;
        o.out_channels = 0;
        cases[n++] = (bad_options){tr, o, "channels are 2 -> 0"};
        o = good;
        o.out_channels = -4;
        cases[n++] = (bad_options){tr, o, "channels are 2 -> -4"};
        o = good;
        o.kernel[1] = 0;
        cases[n++] = (bad_options){tr, o, "kernel width is 0"};
        o = good;
        o.stride[0] = 0;
        cases[n++] = (bad_options){tr, o, "stride height is 0"};
        o = good;
        o.padding[1] = -1;
        cases[n++] = (bad_options){tr, o, "padding width is -1"};
        o = good;
        o.dilation[0] = 0;
        cases[n++] = (bad_options){tr, o, "dilation height is 0"};
    }
    ganet_conv2d_options o = good;
    o.output_padding[0] = 1;
    cases[n++] = (bad_options){false, o,
                               "output_padding height is 1; only "
                               "ConvTranspose2d has one"};
    /* ConvTranspose2d: output_padding must stay below max(stride,
     * dilation), as PyTorch demands. */
    o = good;
    o.output_padding[1] = 2;
    cases[n++] = (bad_options){true, o, "output_padding width is 2"};
    o = good;
    o.stride[0] = 1;
    o.output_padding[0] = 1;
    cases[n++] = (bad_options){true, o,
                               "smaller than the stride or the "
                               "dilation (1)"};
    o = good;
    o.dilation[1] = 3;
    o.output_padding[1] = 3;
    cases[n++] = (bad_options){true, o, "dilation (3)"};
    o = good;
    o.output_padding[0] = -1;
    cases[n++] = (bad_options){true, o, "output_padding height is -1"};

    for (int i = 0; i < n; i++) {
        ganet_layer *l = (ganet_layer *)&cases[i];
        const char *fn = cases[i].transposed ? "ganet_conv_transpose2d_create"
                                             : "ganet_conv2d_create";
        ganet_status st =
                cases[i].transposed
                        ? ganet_conv_transpose2d_create(ctx, &cases[i].o, &l)
                        : ganet_conv2d_create(ctx, &cases[i].o, &l);
        if (st != GANET_ERR_INVALID_ARGUMENT ||
            strstr(ganet_last_error(), cases[i].message) == NULL ||
            strstr(ganet_last_error(), fn) == NULL)
            fail_msg("bad options %d: status %s, message \"%s\"", i,
                     ganet_status_name(st), ganet_last_error());
        assert_null(l);
    }

    /* The limits themselves are accepted: output_padding max(s, d) - 1,
     * from the stride or from the dilation. */
    ganet_layer *l = NULL;
    o = good;
    o.output_padding[0] = o.output_padding[1] = 1;
    assert_int_equal(ganet_conv_transpose2d_create(ctx, &o, &l), GANET_OK);
    ganet_layer_destroy(l);
    o = good;
    o.stride[0] = 1;
    o.dilation[0] = 3;
    o.output_padding[0] = 2;
    assert_int_equal(ganet_conv_transpose2d_create(ctx, &o, &l), GANET_OK);
    ganet_layer_destroy(l);

    /* A weight too large to count. */
    o = good;
    o.in_channels = o.out_channels = INT64_C(1) << 40;
    l = (ganet_layer *)&o;
    assert_int_equal(ganet_conv2d_create(ctx, &o, &l), GANET_ERR_OVERFLOW);
    assert_null(l);
}

static void test_conv_rejects_null_arguments(void **state)
{
    ganet_context *ctx = *state;
    const ganet_conv2d_options o = conv_options(1, 2, 3, 1, 1, 1, 0, true);
    ganet_layer *l = (ganet_layer *)&o;
    assert_int_equal(ganet_conv2d_create(NULL, &o, &l), GANET_ERR_NULL_POINTER);
    assert_null(l);
    assert_non_null(strstr(ganet_last_error(), "'ctx' is NULL"));
    l = (ganet_layer *)&o;
    assert_int_equal(ganet_conv_transpose2d_create(ctx, NULL, &l),
                     GANET_ERR_NULL_POINTER);
    assert_null(l);
    assert_non_null(strstr(ganet_last_error(), "'options' is NULL"));
    assert_int_equal(ganet_conv2d_create(ctx, &o, NULL),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_conv_transpose2d_create(ctx, &o, NULL),
                     GANET_ERR_NULL_POINTER);

    probe p = probe_make(ctx, false);
    const ganet_tensor *out = (const ganet_tensor *)&p;
    assert_int_equal(
            ganet_layer_forward(NULL, p.src, GANET_MODE_TRAINING, &out),
            GANET_ERR_NULL_POINTER);
    assert_null(out);
    out = (const ganet_tensor *)&p;
    assert_int_equal(
            ganet_layer_forward(p.layer, NULL, GANET_MODE_TRAINING, &out),
            GANET_ERR_NULL_POINTER);
    assert_null(out);
    assert_int_equal(
            ganet_layer_forward(p.layer, p.src, GANET_MODE_TRAINING, NULL),
            GANET_ERR_NULL_POINTER);
    out = (const ganet_tensor *)&p;
    assert_int_equal(ganet_layer_backward(NULL, p.diff_dst, &out),
                     GANET_ERR_NULL_POINTER);
    assert_null(out);
    assert_int_equal(ganet_layer_backward(p.layer, NULL, NULL),
                     GANET_ERR_NULL_POINTER);
    int64_t dims[4];
    assert_int_equal(ganet_layer_output_shape(NULL, p.src->dims, dims),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_layer_output_shape(p.layer, NULL, dims),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_layer_output_shape(p.layer, p.src->dims, NULL),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_layer_zero_grad(NULL), GANET_ERR_NULL_POINTER);
    probe_check_unchanged(&p);
    probe_free(&p);
    ganet_layer_destroy(NULL);
}

/* Blocked weight layouts are cached inside the layer: a forward pass after
 * the weight changed (copy_from, fill, an optimizer's step) must use the
 * new values, for both the forward and the backward-data primitives, and
 * one with unchanged weights no conversion at all. */
static void check_weight_refresh(ganet_context *ctx, bool transposed)
{
    ganet_conv2d_options o = conv_options(8, 16, 4, 2, 1, 1, 0, false);
    ganet_layer *l = make_layer(ctx, &o, transposed);
    ganet_layer *fresh = make_layer(ctx, &o, transposed);
    ganet_tensor *x = tensor_4d(ctx, 2, 8, 6, 6);
    fill_tensor(x, 5);
    int64_t od[4];
    assert_int_equal(ganet_layer_output_shape(l, x->dims, od), GANET_OK);
    ganet_tensor *g = tensor_4d(ctx, od[0], od[1], od[2], od[3]);
    fill_tensor(g, 6);
    const ganet_tensor *y, *ds;
    forward_ok(l, x, &y);
    backward_ok(l, g, &ds);

    /* New weights by copy_from, then by fill: l must agree with a layer
     * that only ever saw them. */
    for (int round = 0; round < 2; round++) {
        ganet_tensor *w = param(l, "weight", false);
        if (round == 0)
            fill_tensor(w, 7);
        else
            assert_int_equal(ganet_tensor_fill(w, 0.01f), GANET_OK);
        assert_int_equal(ganet_tensor_copy(param(fresh, "weight", false), w),
                         GANET_OK);
        const ganet_tensor *y2, *ds2;
        forward_ok(l, x, &y);
        backward_ok(l, g, &ds);
        float *a = support_values(y), *da = support_values(ds);
        forward_ok(fresh, x, &y2);
        backward_ok(fresh, g, &ds2);
        float *b = support_values(y2), *db = support_values(ds2);
        assert_memory_equal(a, b, (size_t)ganet_tensor_count(y) * sizeof *a);
        assert_memory_equal(da, db,
                            (size_t)ganet_tensor_count(ds) * sizeof *da);
        free(a);
        free(b);
        free(da);
        free(db);
    }
    ganet_tensor_destroy(x);
    ganet_tensor_destroy(g);
    ganet_layer_destroy(l);
    ganet_layer_destroy(fresh);
}

static void test_conv_uses_changed_weights(void **state)
{
    check_weight_refresh(*state, false);
    check_weight_refresh(*state, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_conv_matches_pytorch),
            cmocka_unit_test(test_conv_unusual_geometry_matches_direct_loop),
            cmocka_unit_test(test_conv_refuses_output_padding_beyond_stride),
            cmocka_unit_test(test_conv_gradient_finite_differences),
            cmocka_unit_test(test_conv_gradients_accumulate),
            cmocka_unit_test(test_conv_null_diff_src_skips_backward_data),
            cmocka_unit_test(test_conv_reuses_primitives),
            cmocka_unit_test(test_conv_pytorch_init_bounds),
            cmocka_unit_test(test_conv_dcgan_init),
            cmocka_unit_test(test_conv_init_is_reproducible),
            cmocka_unit_test(test_conv_output_shape_arithmetic),
            cmocka_unit_test(test_conv_rejects_wrong_channel_count),
            cmocka_unit_test(test_conv_rejects_input_smaller_than_kernel),
            cmocka_unit_test(test_conv_rejects_rank3_input),
            cmocka_unit_test(test_conv_rejects_backward_before_forward),
            cmocka_unit_test(test_conv_rejects_diff_dst_of_another_shape),
            cmocka_unit_test(test_conv_rejects_tensor_of_another_context),
            cmocka_unit_test(test_conv_create_rejects_bad_options),
            cmocka_unit_test(test_conv_rejects_null_arguments),
            cmocka_unit_test(test_conv_uses_changed_weights),
    };
    return cmocka_run_group_tests_name("conv", tests, setup,
                                       support_context_teardown);
}
