/* The per-process input file and the checkpoint harness's model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "ganet/batchnorm.h"
#include "ganet/conv.h"
#include "ganet/sequential.h"

static char input_dir[256];
static char input_path[300];

static void remove_input(void)
{
    if (input_path[0] != '\0')
        unlink(input_path);
    if (input_dir[0] != '\0')
        rmdir(input_dir);
}

static int make_input_dir(void)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    int n = snprintf(input_dir, sizeof input_dir, "%s/ganet_fuzz_XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof input_dir || mkdtemp(input_dir) == NULL) {
        input_dir[0] = '\0';
        return -1;
    }
    snprintf(input_path, sizeof input_path, "%s/input", input_dir);
    atexit(remove_input);
    return 0;
}

const char *fuzz_write_input(const uint8_t *data, size_t size)
{
    if (input_dir[0] == '\0' && make_input_dir() != 0)
        return NULL;
    /* A new file each time: truncating one that holds data makes some
     * file systems (ext4) flush it to the disk on close, which is slow. */
    unlink(input_path);
    FILE *f = fopen(input_path, "wb");
    if (f == NULL)
        return NULL;
    size_t written = size ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || written != size)
        return NULL;
    return input_path;
}

static int add_layers(fuzz_model *m)
{
    ganet_conv2d_options co = GANET_CONV2D_OPTIONS_DEFAULT;
    co.in_channels = 1;
    co.out_channels = 2;
    co.kernel[0] = co.kernel[1] = 1;
    co.bias = false;
    ganet_batchnorm2d_options bo = GANET_BATCHNORM2D_OPTIONS_DEFAULT;
    bo.num_features = 2;
    ganet_layer *conv = NULL, *bn = NULL;
    if (ganet_conv2d_create(m->ctx, &co, &conv) != GANET_OK ||
        ganet_sequential_add(m->model, conv) != GANET_OK) {
        ganet_layer_destroy(conv);
        return -1;
    }
    if (ganet_batchnorm2d_create(m->ctx, &bo, &bn) != GANET_OK ||
        ganet_sequential_add(m->model, bn) != GANET_OK) {
        ganet_layer_destroy(bn);
        return -1;
    }
    return 0;
}

int fuzz_model_create(fuzz_model *m)
{
    memset(m, 0, sizeof *m);
    ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
    o.num_threads = 1;
    o.seed = 7;
    o.log_level = GANET_LOG_NONE;
    if (ganet_context_create(&o, &m->ctx) != GANET_OK ||
        ganet_sequential_create(m->ctx, &m->model) != GANET_OK ||
        add_layers(m) != 0 ||
        ganet_adam_create(m->model, NULL, &m->opt) != GANET_OK ||
        ganet_checkpoint_create(m->ctx, &m->ck) != GANET_OK ||
        ganet_checkpoint_add_layer(m->ck, "m", m->model) != GANET_OK ||
        ganet_checkpoint_add_optimizer(m->ck, "o", m->opt) != GANET_OK ||
        ganet_checkpoint_add_u64(m->ck, "n", &m->counter) != GANET_OK ||
        ganet_checkpoint_add_rng(m->ck) != GANET_OK) {
        fuzz_model_destroy(m);
        return -1;
    }
    return 0;
}

void fuzz_model_destroy(fuzz_model *m)
{
    ganet_checkpoint_destroy(m->ck);
    ganet_optimizer_destroy(m->opt);
    ganet_layer_destroy(m->model);
    ganet_context_destroy(m->ctx);
    memset(m, 0, sizeof *m);
}
