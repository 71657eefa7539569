/* Checkpoints: round trips of layers, optimizers, counters and the random
 * generator, bit for bit; every truncation and every flipped byte of a
 * small file refused with the objects untouched; wrong version, shape,
 * type and entries; the temporary file of a save; every error path. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <zlib.h>

#include "ganet/batchnorm.h"
#include "ganet/checkpoint.h"
#include "ganet/conv.h"
#include "ganet/sequential.h"
#include "internal.h"
#include "test_support.h"

typedef struct fixture {
    ganet_context *ctx;
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
    o.seed = 42;
    if (ganet_context_create(&o, &fx->ctx) != GANET_OK ||
        support_tmpdir_create(fx->dir, sizeof fx->dir, "ganet_checkpoint") !=
                0) {
        ganet_context_destroy(fx->ctx);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

/* Remove everything the tests left in the folder (files and empty
 * folders), then the folder. */
static int teardown(void **state)
{
    fixture *fx = *state;
    int rc = support_tmpdir_remove(fx->dir);
    ganet_context_destroy(fx->ctx);
    free(fx);
    return rc;
}

/* ---- helpers -------------------------------------------------------- */

static void path_in(const fixture *fx, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", fx->dir, name);
}

static void put_le32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* Rewrite the trailing CRC-32 after a deliberate change, so that only the
 * change is wrong. */
static void reseal(unsigned char *data, size_t size)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, data, (uInt)(size - 4));
    put_le32(data + size - 4, (uint32_t)crc);
}

static ganet_layer *make_conv(ganet_context *ctx, int64_t cin, int64_t cout,
                              int64_t k, bool transposed)
{
    ganet_conv2d_options o = GANET_CONV2D_OPTIONS_DEFAULT;
    o.in_channels = cin;
    o.out_channels = cout;
    o.kernel[0] = o.kernel[1] = k;
    ganet_layer *l = NULL;
    if (transposed)
        assert_int_equal(ganet_conv_transpose2d_create(ctx, &o, &l), GANET_OK);
    else
        assert_int_equal(ganet_conv2d_create(ctx, &o, &l), GANET_OK);
    return l;
}

/* Every value of a layer's parameters and buffers, in order, in one
 * array the caller frees. */
static float *layer_values(ganet_layer *l, size_t *count)
{
    int np = ganet_layer_param_count(l), nb = ganet_layer_buffer_count(l);
    size_t total = 0;
    for (int i = 0; i < np + nb; i++) {
        ganet_tensor *t;
        if (i < np)
            assert_int_equal(ganet_layer_param(l, i, NULL, &t, NULL), GANET_OK);
        else
            assert_int_equal(ganet_layer_buffer(l, i - np, NULL, &t), GANET_OK);
        total += (size_t)ganet_tensor_count(t);
    }
    float *v = malloc(total * sizeof *v + 1);
    assert_non_null(v);
    size_t at = 0;
    for (int i = 0; i < np + nb; i++) {
        ganet_tensor *t;
        if (i < np)
            assert_int_equal(ganet_layer_param(l, i, NULL, &t, NULL), GANET_OK);
        else
            assert_int_equal(ganet_layer_buffer(l, i - np, NULL, &t), GANET_OK);
        size_t n = (size_t)ganet_tensor_count(t);
        assert_int_equal(ganet_tensor_copy_to(t, v + at, n), GANET_OK);
        at += n;
    }
    *count = total;
    return v;
}

static void assert_same_values(ganet_layer *a, ganet_layer *b)
{
    size_t na, nb;
    float *va = layer_values(a, &na), *vb = layer_values(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(va, vb, na * sizeof *va);
    free(va);
    free(vb);
}

/* Give every parameter gradient uniform values from the context. */
static void random_gradients(ganet_layer *l)
{
    for (int i = 0; i < ganet_layer_param_count(l); i++) {
        ganet_tensor *g;
        assert_int_equal(ganet_layer_param(l, i, NULL, NULL, &g), GANET_OK);
        assert_int_equal(ganet_tensor_fill_uniform(g, -1.0f, 1.0f), GANET_OK);
    }
}

static void assert_rng_equal(const ganet_rng_state *a, const ganet_rng_state *b)
{
    assert_true(a->state == b->state);
    assert_true(a->increment == b->increment);
}

/*
 * A small model for the corruption tests: Conv2d 1 -> 2 with a 2x2 kernel
 * (10 values), an integer and the generator, about 210 bytes in a file.
 */
typedef struct small_model {
    ganet_layer *conv;
    uint64_t epoch;
    ganet_checkpoint *ck;
} small_model;

static void small_model_create(ganet_context *ctx, small_model *m)
{
    m->conv = make_conv(ctx, 1, 2, 2, false);
    m->epoch = 3;
    assert_int_equal(ganet_checkpoint_create(ctx, &m->ck), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_layer(m->ck, "m", m->conv), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_u64(m->ck, "epoch", &m->epoch),
                     GANET_OK);
    assert_int_equal(ganet_checkpoint_add_rng(m->ck), GANET_OK);
}

static void small_model_destroy(small_model *m)
{
    ganet_checkpoint_destroy(m->ck);
    ganet_layer_destroy(m->conv);
}

/* A new checkpoint that holds l under name. */
static ganet_checkpoint *layer_checkpoint(ganet_context *ctx, const char *name,
                                          ganet_layer *l)
{
    ganet_checkpoint *ck;
    assert_int_equal(ganet_checkpoint_create(ctx, &ck), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_layer(ck, name, l), GANET_OK);
    return ck;
}

/* Load a file with ck, expecting status and the values of l unchanged
 * afterwards. */
static void assert_load_keeps(ganet_checkpoint *ck, ganet_layer *l,
                              const char *path, ganet_status expected)
{
    size_t n;
    float *before = layer_values(l, &n);
    assert_int_equal(ganet_checkpoint_load(ck, path), expected);
    size_t n_after;
    float *after = layer_values(l, &n_after);
    assert_memory_equal(before, after, n * sizeof *before);
    free(before);
    free(after);
}

/* Load a file into m, expecting status and m unchanged afterwards. */
static void assert_refused(ganet_context *ctx, small_model *m, const char *path,
                           ganet_status expected)
{
    ganet_rng_state rng_before, rng_after;
    assert_int_equal(ganet_context_get_rng_state(ctx, &rng_before), GANET_OK);
    uint64_t epoch = m->epoch;

    assert_load_keeps(m->ck, m->conv, path, expected);

    assert_int_equal(ganet_context_get_rng_state(ctx, &rng_after), GANET_OK);
    assert_rng_equal(&rng_before, &rng_after);
    assert_true(m->epoch == epoch);
}

/* ---- round trips ---------------------------------------------------- */

/* Conv2d and ConvTranspose2d parameters come back bit for bit, including
 * a NaN payload, a negative zero, a subnormal and infinities. */
static void test_checkpoint_layer_round_trip(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "layers.ckpt", path, sizeof path);
    ganet_layer *conv = make_conv(fx->ctx, 3, 4, 3, false);
    ganet_layer *convt = make_conv(fx->ctx, 4, 2, 4, true);
    ganet_tensor *w;
    assert_int_equal(ganet_layer_find_param(conv, "weight", &w, NULL),
                     GANET_OK);
    float special[5];
    uint32_t nan_bits = 0x7fc01234u;
    memcpy(&special[0], &nan_bits, sizeof nan_bits);
    special[1] = -0.0f;
    special[2] = 1e-40f;
    special[3] = INFINITY;
    special[4] = -INFINITY;
    size_t n = (size_t)ganet_tensor_count(w);
    float *values = support_values(w);
    memcpy(values, special, sizeof special);
    assert_int_equal(ganet_tensor_copy_from(w, values, n), GANET_OK);
    free(values);

    ganet_checkpoint *ck = layer_checkpoint(fx->ctx, "generator", convt);
    assert_int_equal(ganet_checkpoint_add_layer(ck, "discriminator", conv),
                     GANET_OK);
    assert_int_equal(ganet_checkpoint_save(ck, path), GANET_OK);

    /* Fresh layers draw other initial values. */
    ganet_layer *conv2 = make_conv(fx->ctx, 3, 4, 3, false);
    ganet_layer *convt2 = make_conv(fx->ctx, 4, 2, 4, true);
    ganet_checkpoint *ck2 = layer_checkpoint(fx->ctx, "discriminator", conv2);
    assert_int_equal(ganet_checkpoint_add_layer(ck2, "generator", convt2),
                     GANET_OK);
    assert_int_equal(ganet_checkpoint_load(ck2, path), GANET_OK);
    assert_same_values(conv, conv2);
    assert_same_values(convt, convt2);

    ganet_checkpoint_destroy(ck);
    ganet_checkpoint_destroy(ck2);
    ganet_layer_destroy(conv);
    ganet_layer_destroy(convt);
    ganet_layer_destroy(conv2);
    ganet_layer_destroy(convt2);
}

/* BatchNorm's running statistics in a Sequential are saved as buffers. */
static void test_checkpoint_sequential_buffers_round_trip(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "seq.ckpt", path, sizeof path);
    ganet_layer *models[2];
    for (int m = 0; m < 2; m++) {
        ganet_batchnorm2d_options bo = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
        bo.num_features = 4;
        ganet_layer *bn;
        assert_int_equal(ganet_sequential_create(fx->ctx, &models[m]),
                         GANET_OK);
        assert_int_equal(ganet_sequential_add(
                                 models[m], make_conv(fx->ctx, 2, 4, 3, false)),
                         GANET_OK);
        assert_int_equal(ganet_batchnorm2d_create(fx->ctx, &bo, &bn), GANET_OK);
        assert_int_equal(ganet_sequential_add(models[m], bn), GANET_OK);
    }
    /* A training pass moves the running statistics off their defaults. */
    ganet_tensor *x;
    const ganet_tensor *y;
    assert_int_equal(ganet_tensor_create_4d(fx->ctx, 2, 2, 5, 5, &x), GANET_OK);
    assert_int_equal(ganet_tensor_fill_normal(x, 0.5f, 2.0f), GANET_OK);
    assert_int_equal(ganet_layer_forward(models[0], x, GANET_MODE_TRAINING, &y),
                     GANET_OK);
    ganet_tensor *mean;
    const char *name;
    assert_int_equal(ganet_layer_buffer_count(models[0]), 2);
    assert_int_equal(ganet_layer_buffer(models[0], 0, &name, &mean), GANET_OK);
    assert_string_equal(name, "1.running_mean");

    ganet_checkpoint *ck[2];
    for (int m = 0; m < 2; m++) {
        assert_int_equal(ganet_checkpoint_create(fx->ctx, &ck[m]), GANET_OK);
        assert_int_equal(ganet_checkpoint_add_layer(ck[m], "d", models[m]),
                         GANET_OK);
    }
    assert_int_equal(ganet_checkpoint_save(ck[0], path), GANET_OK);
    assert_int_equal(ganet_checkpoint_load(ck[1], path), GANET_OK);
    assert_same_values(models[0], models[1]);
    for (int m = 0; m < 2; m++) {
        ganet_checkpoint_destroy(ck[m]);
        ganet_layer_destroy(models[m]);
    }
    ganet_tensor_destroy(x);
}

/* Adam's moments, step count and learning rate come back, and the next
 * step of the restored optimizer equals the next step of the original. */
static void test_checkpoint_optimizer_round_trip(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "adam.ckpt", path, sizeof path);
    ganet_adam_options o = GANET_ADAM_OPTIONS_DEFAULT;
    o.lr = 2e-4f;
    o.beta1 = 0.5f;
    o.amsgrad = true;
    ganet_layer *layer[2];
    ganet_optimizer *opt[2];
    ganet_checkpoint *ck[2];
    for (int m = 0; m < 2; m++) {
        layer[m] = make_conv(fx->ctx, 2, 3, 3, true);
        assert_int_equal(ganet_adam_create(layer[m], &o, &opt[m]), GANET_OK);
        assert_int_equal(ganet_checkpoint_create(fx->ctx, &ck[m]), GANET_OK);
        assert_int_equal(ganet_checkpoint_add_layer(ck[m], "g", layer[m]),
                         GANET_OK);
        assert_int_equal(ganet_checkpoint_add_optimizer(ck[m], "opt_g", opt[m]),
                         GANET_OK);
    }
    for (int s = 0; s < 2; s++) {
        random_gradients(layer[0]);
        assert_int_equal(ganet_optimizer_step(opt[0]), GANET_OK);
    }
    assert_int_equal(ganet_optimizer_set_lr(opt[0], 1.5e-4f), GANET_OK);
    assert_int_equal(ganet_checkpoint_save(ck[0], path), GANET_OK);
    assert_int_equal(ganet_checkpoint_load(ck[1], path), GANET_OK);

    assert_int_equal(ganet_optimizer_get_step_count(opt[1]), 2);
    assert_true(ganet_optimizer_get_lr(opt[1]) == 1.5e-4f);
    assert_same_values(layer[0], layer[1]);
    assert_int_equal(ganet_optimizer_state_count(opt[1]), 6);
    for (int i = 0; i < ganet_optimizer_state_count(opt[0]); i++) {
        ganet_tensor *a, *b;
        assert_int_equal(ganet_optimizer_state(opt[0], i, NULL, &a), GANET_OK);
        assert_int_equal(ganet_optimizer_state(opt[1], i, NULL, &b), GANET_OK);
        support_assert_same_values(a, b);
    }

    /* The same gradients give the same next step. */
    random_gradients(layer[0]);
    for (int i = 0; i < ganet_layer_param_count(layer[0]); i++) {
        ganet_tensor *ga, *gb;
        assert_int_equal(ganet_layer_param(layer[0], i, NULL, NULL, &ga),
                         GANET_OK);
        assert_int_equal(ganet_layer_param(layer[1], i, NULL, NULL, &gb),
                         GANET_OK);
        assert_int_equal(ganet_tensor_copy(gb, ga), GANET_OK);
    }
    for (int m = 0; m < 2; m++)
        assert_int_equal(ganet_optimizer_step(opt[m]), GANET_OK);
    assert_same_values(layer[0], layer[1]);

    for (int m = 0; m < 2; m++) {
        ganet_checkpoint_destroy(ck[m]);
        ganet_optimizer_destroy(opt[m]);
        ganet_layer_destroy(layer[m]);
    }
}

/* Integers are written on save and set on load; after a load the
 * generator draws what it drew after the save. */
static void test_checkpoint_u64_and_rng_round_trip(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "counters.ckpt", path, sizeof path);
    uint64_t epoch = 7, step = UINT64_MAX;
    ganet_checkpoint *ck;
    assert_int_equal(ganet_checkpoint_create(fx->ctx, &ck), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_u64(ck, "epoch", &epoch), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_u64(ck, "step", &step), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_rng(ck), GANET_OK);
    assert_int_equal(ganet_checkpoint_save(ck, path), GANET_OK);

    uint32_t expected[16], got[16];
    for (int i = 0; i < 16; i++)
        assert_int_equal(ganet_context_random_u32(fx->ctx, &expected[i]),
                         GANET_OK);
    epoch = 0;
    step = 1;
    assert_int_equal(ganet_context_seed(fx->ctx, 99), GANET_OK);
    assert_int_equal(ganet_checkpoint_load(ck, path), GANET_OK);
    for (int i = 0; i < 16; i++)
        assert_int_equal(ganet_context_random_u32(fx->ctx, &got[i]), GANET_OK);
    assert_memory_equal(expected, got, sizeof got);
    assert_true(epoch == 7);
    assert_true(step == UINT64_MAX);
    ganet_checkpoint_destroy(ck);
}

/* A checkpoint of nothing is a 28-byte file that loads. */
static void test_checkpoint_empty_round_trip(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "empty.ckpt", path, sizeof path);
    ganet_checkpoint *ck;
    assert_int_equal(ganet_checkpoint_create(fx->ctx, &ck), GANET_OK);
    assert_int_equal(ganet_checkpoint_save(ck, path), GANET_OK);
    size_t size;
    unsigned char *data = support_read_file(path, &size);
    assert_int_equal(size, 28);
    assert_memory_equal(data, "GANETCKP\1\0\0\0\0\0\0\0\34\0\0\0\0\0\0\0", 24);
    free(data);
    assert_int_equal(ganet_checkpoint_load(ck, path), GANET_OK);
    ganet_checkpoint_destroy(ck);
}

/* ---- damaged files -------------------------------------------------- */

static void test_checkpoint_rejects_every_truncation(void **state)
{
    fixture *fx = *state;
    char path[256], cut[256];
    path_in(fx, "full.ckpt", path, sizeof path);
    path_in(fx, "cut.ckpt", cut, sizeof cut);
    small_model m;
    small_model_create(fx->ctx, &m);
    assert_int_equal(ganet_checkpoint_save(m.ck, path), GANET_OK);
    size_t size;
    unsigned char *data = support_read_file(path, &size);
    assert_true(size > 100 && size < 400);

    m.epoch = 11;
    assert_int_equal(ganet_layer_init(m.conv, GANET_INIT_DCGAN), GANET_OK);
    for (size_t len = 0; len < size; len++) {
        support_write_file(cut, data, len);
        assert_refused(fx->ctx, &m, cut, GANET_ERR_FORMAT);
        assert_non_null(strstr(ganet_last_error(), "cut.ckpt"));
        assert_non_null(strstr(ganet_last_error(), "truncated"));
    }
    /* One byte too many is refused as well. */
    unsigned char *longer = malloc(size + 1);
    assert_non_null(longer);
    memcpy(longer, data, size);
    longer[size] = 0;
    support_write_file(cut, longer, size + 1);
    assert_refused(fx->ctx, &m, cut, GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "1 bytes after"));

    /* The whole file still loads. */
    assert_int_equal(ganet_checkpoint_load(m.ck, path), GANET_OK);
    assert_true(m.epoch == 3);
    free(longer);
    free(data);
    small_model_destroy(&m);
}

static void test_checkpoint_rejects_every_flipped_byte(void **state)
{
    fixture *fx = *state;
    char path[256], bad[256];
    path_in(fx, "good.ckpt", path, sizeof path);
    path_in(fx, "bad.ckpt", bad, sizeof bad);
    small_model m;
    small_model_create(fx->ctx, &m);
    assert_int_equal(ganet_checkpoint_save(m.ck, path), GANET_OK);
    size_t size;
    unsigned char *data = support_read_file(path, &size);
    m.epoch = 11;
    assert_int_equal(ganet_layer_init(m.conv, GANET_INIT_DCGAN), GANET_OK);

    const unsigned char masks[2] = {0xff, 0x01};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < size; i++) {
            data[i] ^= masks[k];
            support_write_file(bad, data, size);
            data[i] ^= masks[k];
            assert_refused(fx->ctx, &m, bad, GANET_ERR_FORMAT);
        }
    }
    /* A flip in the values is caught by the checksum. */
    data[size - 10] ^= 0x01;
    support_write_file(bad, data, size);
    assert_refused(fx->ctx, &m, bad, GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "is corrupted"));
    assert_non_null(strstr(ganet_last_error(), "CRC-32"));
    free(data);
    small_model_destroy(&m);
}

static void test_checkpoint_rejects_wrong_version(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "v2.ckpt", path, sizeof path);
    small_model m;
    small_model_create(fx->ctx, &m);
    assert_int_equal(ganet_checkpoint_save(m.ck, path), GANET_OK);
    size_t size;
    unsigned char *data = support_read_file(path, &size);
    put_le32(data + 8, 2);
    reseal(data, size);
    support_write_file(path, data, size);
    assert_refused(fx->ctx, &m, path, GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "v2.ckpt' has format version "
                                               "2, this library reads "
                                               "version 1"));

    /* Not a checkpoint at all. */
    memcpy(data, "PNG", 3);
    support_write_file(path, data, size);
    assert_refused(fx->ctx, &m, path, GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "not a libganet checkpoint"));
    free(data);
    small_model_destroy(&m);
}

/* Reseal patched bytes, write them to path and expect ck to refuse them
 * as malformed with a message containing want. */
static void assert_patch_refused(ganet_checkpoint *ck, const char *path,
                                 unsigned char *data, size_t size,
                                 const char *want)
{
    reseal(data, size);
    support_write_file(path, data, size);
    assert_int_equal(ganet_checkpoint_load(ck, path), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), want));
}

/* Sizes declared beyond the file are refused before anything is
 * allocated for them, even with a correct checksum. */
static void test_checkpoint_rejects_oversized_declarations(void **state)
{
    fixture *fx = *state;
    char path[256], bad[256];
    path_in(fx, "t.ckpt", path, sizeof path);
    path_in(fx, "big.ckpt", bad, sizeof bad);
    ganet_tensor *t;
    const int64_t dims[1] = {4};
    assert_int_equal(ganet_tensor_create(fx->ctx, 1, dims, &t), GANET_OK);
    ganet_checkpoint *ck;
    assert_int_equal(ganet_checkpoint_create(fx->ctx, &ck), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_tensor(ck, "t", t), GANET_OK);
    assert_int_equal(ganet_checkpoint_save(ck, path), GANET_OK);
    size_t size;
    unsigned char *data = support_read_file(path, &size);
    /* header 24, type 4, name length 4, "t", rank 4, then the dim. */
    assert_int_equal(size, 24 + 4 + 4 + 1 + 4 + 8 + 16 + 4);

    const uint64_t huge_dims[3] = {1ull << 62, UINT64_MAX, 5};
    for (int k = 0; k < 3; k++) {
        unsigned char *copy = malloc(size);
        assert_non_null(copy);
        memcpy(copy, data, size);
        put_le64(copy + 37, huge_dims[k]);
        assert_patch_refused(ck, bad, copy, size, "entry 't' has dim 0");
        free(copy);
    }
    put_le32(data + 12, UINT32_MAX);
    assert_patch_refused(ck, bad, data, size, "4294967295 entries");
    put_le64(data + 16, UINT64_MAX);
    assert_patch_refused(ck, bad, data, size, "truncated");
    free(data);
    ganet_checkpoint_destroy(ck);
    ganet_tensor_destroy(t);
}

/* A layer with other channel counts is refused by shape and untouched. */
static void test_checkpoint_rejects_wrong_shape(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "shape.ckpt", path, sizeof path);
    ganet_layer *saved = make_conv(fx->ctx, 3, 4, 3, false);
    ganet_layer *other = make_conv(fx->ctx, 3, 5, 3, false);
    ganet_checkpoint *a = layer_checkpoint(fx->ctx, "d", saved);
    assert_int_equal(ganet_checkpoint_save(a, path), GANET_OK);
    ganet_checkpoint *b = layer_checkpoint(fx->ctx, "d", other);

    assert_load_keeps(b, other, path, GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(),
                           "shape.ckpt': entry 'd.weight' is [4, 3, 3, 3] "
                           "in the file, the registered tensor is "
                           "[5, 3, 3, 3]"));
    ganet_checkpoint_destroy(a);
    ganet_checkpoint_destroy(b);
    ganet_layer_destroy(saved);
    ganet_layer_destroy(other);
}

/* An entry registered after the layer is missing: nothing is loaded,
 * not even the layer that comes first. */
static void test_checkpoint_rejects_missing_entry(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "missing.ckpt", path, sizeof path);
    ganet_layer *conv = make_conv(fx->ctx, 1, 2, 2, false);
    ganet_checkpoint *a = layer_checkpoint(fx->ctx, "m", conv);
    assert_int_equal(ganet_checkpoint_save(a, path), GANET_OK);
    ganet_checkpoint_destroy(a);

    small_model m;
    small_model_create(fx->ctx, &m);
    assert_refused(fx->ctx, &m, path, GANET_ERR_FORMAT);
    assert_non_null(
            strstr(ganet_last_error(), "missing.ckpt' has no entry 'epoch'"));
    small_model_destroy(&m);
    ganet_layer_destroy(conv);
}

/* Entries nobody registered are refused unless allowed; an entry of the
 * wrong type is refused. */
static void test_checkpoint_rejects_extra_and_mistyped_entries(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "extra.ckpt", path, sizeof path);
    small_model m;
    small_model_create(fx->ctx, &m);
    assert_int_equal(ganet_checkpoint_save(m.ck, path), GANET_OK);

    ganet_layer *conv = make_conv(fx->ctx, 1, 2, 2, false);
    ganet_checkpoint *part = layer_checkpoint(fx->ctx, "m", conv);
    assert_load_keeps(part, conv, path, GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(),
                           "has the entry 'epoch', which nothing registered"));
    assert_int_equal(ganet_checkpoint_set_allow_extra(part, true), GANET_OK);
    assert_int_equal(ganet_checkpoint_load(part, path), GANET_OK);
    assert_same_values(conv, m.conv);

    ganet_checkpoint *typed;
    ganet_tensor *t;
    const int64_t dims[1] = {1};
    assert_int_equal(ganet_tensor_create(fx->ctx, 1, dims, &t), GANET_OK);
    assert_int_equal(ganet_checkpoint_create(fx->ctx, &typed), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_tensor(typed, "epoch", t), GANET_OK);
    assert_int_equal(ganet_checkpoint_set_allow_extra(typed, true), GANET_OK);
    assert_int_equal(ganet_checkpoint_load(typed, path), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(),
                           "entry 'epoch' is an integer in the file, "
                           "expected a float32 tensor"));
    ganet_tensor_destroy(t);
    ganet_checkpoint_destroy(typed);
    ganet_checkpoint_destroy(part);
    ganet_layer_destroy(conv);
    small_model_destroy(&m);
}

/* ---- files ---------------------------------------------------------- */

static void test_checkpoint_missing_file(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "absent.ckpt", path, sizeof path);
    small_model m;
    small_model_create(fx->ctx, &m);
    assert_refused(fx->ctx, &m, path, GANET_ERR_IO);
    assert_non_null(strstr(ganet_last_error(), "cannot open"));
    assert_non_null(strstr(ganet_last_error(), "absent.ckpt"));
    /* A folder is not a checkpoint file. */
    assert_refused(fx->ctx, &m, fx->dir, GANET_ERR_IO);
    small_model_destroy(&m);
}

static void test_checkpoint_save_into_missing_folder(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "no/such/folder/x.ckpt", path, sizeof path);
    small_model m;
    small_model_create(fx->ctx, &m);
    int before = support_count_entries(fx->dir);
    assert_int_equal(ganet_checkpoint_save(m.ck, path), GANET_ERR_IO);
    assert_non_null(strstr(ganet_last_error(), "x.ckpt"));
    assert_non_null(strstr(ganet_last_error(), "cannot create"));
    assert_int_equal(support_count_entries(fx->dir), before);
    small_model_destroy(&m);
}

/* Saving over a checkpoint replaces it and leaves no temporary file; a
 * save whose rename fails removes its temporary file. */
static void test_checkpoint_save_replaces_without_temp_file(void **state)
{
    fixture *fx = *state;
    char sub[256], path[512], folder_target[512];
    path_in(fx, "replace", sub, sizeof sub);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/run.ckpt", sub);
    small_model m;
    small_model_create(fx->ctx, &m);
    assert_int_equal(ganet_checkpoint_save(m.ck, path), GANET_OK);
    m.epoch = 4;
    assert_int_equal(ganet_checkpoint_save(m.ck, path), GANET_OK);
    assert_int_equal(support_count_entries(sub), 1);
    m.epoch = 0;
    assert_int_equal(ganet_checkpoint_load(m.ck, path), GANET_OK);
    assert_true(m.epoch == 4);

    /* The target is a folder: the rename fails after the writing. */
    snprintf(folder_target, sizeof folder_target, "%s/folder", sub);
    assert_int_equal(mkdir(folder_target, 0700), 0);
    assert_int_equal(ganet_checkpoint_save(m.ck, folder_target), GANET_ERR_IO);
    assert_non_null(strstr(ganet_last_error(), "cannot rename"));
    assert_int_equal(support_count_entries(sub), 2);
    assert_int_equal(support_count_entries(folder_target), 0);
    assert_int_equal(remove(folder_target), 0);
    assert_int_equal(remove(path), 0);
    small_model_destroy(&m);
}

/* ---- arguments ------------------------------------------------------ */

static void test_checkpoint_rejects_bad_registrations(void **state)
{
    fixture *fx = *state;
    char path[256];
    path_in(fx, "reg.ckpt", path, sizeof path);
    ganet_layer *conv = make_conv(fx->ctx, 1, 2, 2, false);
    ganet_checkpoint *ck;
    uint64_t v = 0;
    char long_name[GANET_CHECKPOINT_MAX_NAME + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(ganet_checkpoint_create(fx->ctx, &ck), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_u64(ck, "m.bias", &v), GANET_OK);

    /* The layer's second name is taken: neither of its names is added. */
    assert_int_equal(ganet_checkpoint_add_layer(ck, "m", conv),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "'m.bias' is already"));
    assert_int_equal(ganet_checkpoint_add_layer(ck, "", conv),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_checkpoint_add_u64(ck, "two words", &v),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "byte 0x20 at 3"));
    assert_int_equal(ganet_checkpoint_add_u64(ck, long_name, &v),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "256 bytes, expected 1 to 255"));
    long_name[GANET_CHECKPOINT_MAX_NAME] = '\0';
    assert_int_equal(ganet_checkpoint_add_u64(ck, long_name, &v), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_rng(ck), GANET_OK);
    assert_int_equal(ganet_checkpoint_add_rng(ck), GANET_ERR_INVALID_ARGUMENT);

    ganet_context *other;
    assert_int_equal(ganet_context_create(NULL, &other), GANET_OK);
    ganet_layer *foreign = make_conv(other, 1, 1, 1, false);
    assert_int_equal(ganet_checkpoint_add_layer(ck, "f", foreign),
                     GANET_ERR_CONTEXT_MISMATCH);

    /* Only the three accepted entries are in the file. */
    assert_int_equal(ganet_checkpoint_save(ck, path), GANET_OK);
    size_t size;
    unsigned char *data = support_read_file(path, &size);
    assert_int_equal(data[12], 3);
    free(data);
    ganet_checkpoint_destroy(ck);
    ganet_layer_destroy(foreign);
    ganet_context_destroy(other);
    ganet_layer_destroy(conv);
}

static void test_checkpoint_rejects_null_arguments(void **state)
{
    fixture *fx = *state;
    ganet_layer *conv = make_conv(fx->ctx, 1, 2, 2, false);
    ganet_optimizer *opt;
    assert_int_equal(ganet_adam_create(conv, NULL, &opt), GANET_OK);
    ganet_tensor *t;
    assert_int_equal(ganet_layer_param(conv, 0, NULL, &t, NULL), GANET_OK);
    uint64_t v;
    ganet_checkpoint *ck = (ganet_checkpoint *)1;
    assert_int_equal(ganet_checkpoint_create(NULL, &ck),
                     GANET_ERR_NULL_POINTER);
    assert_null(ck);
    assert_int_equal(ganet_checkpoint_create(fx->ctx, NULL),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_checkpoint_create(fx->ctx, &ck), GANET_OK);

    const ganet_status null = GANET_ERR_NULL_POINTER;
    assert_int_equal(ganet_checkpoint_add_layer(NULL, "m", conv), null);
    assert_int_equal(ganet_checkpoint_add_layer(ck, NULL, conv), null);
    assert_int_equal(ganet_checkpoint_add_layer(ck, "m", NULL), null);
    assert_non_null(strstr(ganet_last_error(), "'layer' is NULL"));
    assert_int_equal(ganet_checkpoint_add_optimizer(NULL, "o", opt), null);
    assert_int_equal(ganet_checkpoint_add_optimizer(ck, NULL, opt), null);
    assert_int_equal(ganet_checkpoint_add_optimizer(ck, "o", NULL), null);
    assert_int_equal(ganet_checkpoint_add_tensor(NULL, "t", t), null);
    assert_int_equal(ganet_checkpoint_add_tensor(ck, NULL, t), null);
    assert_int_equal(ganet_checkpoint_add_tensor(ck, "t", NULL), null);
    assert_int_equal(ganet_checkpoint_add_u64(NULL, "v", &v), null);
    assert_int_equal(ganet_checkpoint_add_u64(ck, NULL, &v), null);
    assert_int_equal(ganet_checkpoint_add_u64(ck, "v", NULL), null);
    assert_int_equal(ganet_checkpoint_add_rng(NULL), null);
    assert_int_equal(ganet_checkpoint_set_allow_extra(NULL, true), null);
    assert_int_equal(ganet_checkpoint_save(NULL, "x"), null);
    assert_int_equal(ganet_checkpoint_save(ck, NULL), null);
    assert_int_equal(ganet_checkpoint_save(ck, ""), GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_checkpoint_load(NULL, "x"), null);
    assert_int_equal(ganet_checkpoint_load(ck, NULL), null);
    ganet_checkpoint_destroy(NULL);
    ganet_checkpoint_destroy(ck);
    ganet_optimizer_destroy(opt);
    ganet_layer_destroy(conv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_checkpoint_layer_round_trip),
            cmocka_unit_test(test_checkpoint_sequential_buffers_round_trip),
            cmocka_unit_test(test_checkpoint_optimizer_round_trip),
            cmocka_unit_test(test_checkpoint_u64_and_rng_round_trip),
            cmocka_unit_test(test_checkpoint_empty_round_trip),
            cmocka_unit_test(test_checkpoint_rejects_every_truncation),
            cmocka_unit_test(test_checkpoint_rejects_every_flipped_byte),
            cmocka_unit_test(test_checkpoint_rejects_wrong_version),
            cmocka_unit_test(test_checkpoint_rejects_oversized_declarations),
            cmocka_unit_test(test_checkpoint_rejects_wrong_shape),
            cmocka_unit_test(test_checkpoint_rejects_missing_entry),
            cmocka_unit_test(
                    test_checkpoint_rejects_extra_and_mistyped_entries),
            cmocka_unit_test(test_checkpoint_missing_file),
            cmocka_unit_test(test_checkpoint_save_into_missing_folder),
            cmocka_unit_test(test_checkpoint_save_replaces_without_temp_file),
            cmocka_unit_test(test_checkpoint_rejects_bad_registrations),
            cmocka_unit_test(test_checkpoint_rejects_null_arguments),
    };
    return cmocka_run_group_tests_name("checkpoint", tests, setup, teardown);
}
