/* Shared pieces of the fuzz harnesses: the file every input is written to,
 * and the small model the checkpoint harness and the seed generator both
 * register, so that the committed seed fits the harness exactly. */
#ifndef GANET_FUZZ_COMMON_H
#define GANET_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "ganet/checkpoint.h"
#include "ganet/context.h"
#include "ganet/layer.h"
#include "ganet/optimizer.h"

/* The entry point libFuzzer calls, and replay_main.c in ordinary builds. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write data to this process's input file and return its path, or NULL
 * when the file cannot be written. The folder is made on the first call,
 * under $TMPDIR (or /dev/shm, or /tmp), and removed at exit. */
const char *fuzz_write_input(const uint8_t *data, size_t size);

/* What a checkpoint of the fuzz model holds: Conv2d(1, 2, 1) without
 * bias and BatchNorm2d(2) in a Sequential "m", its Adam optimizer "o", the
 * counter "n" and the context's generator. */
typedef struct fuzz_model {
    ganet_context *ctx;
    ganet_layer *model;
    ganet_optimizer *opt;
    uint64_t counter;
    ganet_checkpoint *ck;
} fuzz_model;

/* Build the model and register it; 0 on success. */
int fuzz_model_create(fuzz_model *m);

void fuzz_model_destroy(fuzz_model *m);

#endif
