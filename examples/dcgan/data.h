/*
 * Where the real images come from: an IDX file (MNIST, Fashion-MNIST), a
 * folder of PNG or JPEG images, or a synthetic source for quick tries.
 * Every source ends up as 8-bit pixels of the training size in memory;
 * batches are made from them in the generator's tanh range [-1, 1].
 */
#ifndef DCGAN_DATA_H
#define DCGAN_DATA_H

#include <stdint.h>

#include <ganet/ganet.h>

typedef struct dataset {
    int64_t count, channels, size;
    /* count images of channels x size x size bytes, NCHW. */
    uint8_t *pixels;
    /* The order of the current epoch, a permutation of 0..count-1. */
    int64_t *order;
    /* Host buffer of one batch, filled before the copy into a tensor. */
    float *batch;
    int64_t batch_capacity;
} dataset;

/*
 * Read the images of an IDX file (gzip or plain). 28x28 images become
 * 32x32 by a border of 2 background pixels, which keeps every stroke as
 * it is; other sizes are scaled bilinearly. limit > 0 keeps the first
 * limit images.
 */
ganet_status dataset_open_idx(const char *path, int64_t size, int64_t limit,
                              dataset *d);

/*
 * Read every .png, .jpg and .jpeg file of a folder (sorted by name), each
 * scaled so its shorter side is size and cropped to the centre square, as
 * torchvision's Resize + CenterCrop do. channels 1 converts to gray.
 */
ganet_status dataset_open_folder(const char *dir, int64_t size,
                                 int64_t channels, int64_t limit, dataset *d);

/*
 * count images of soft random blobs, drawn from the context's generator:
 * something with structure for G to learn in seconds.
 */
ganet_status dataset_open_synthetic(ganet_context *ctx, int64_t count,
                                    int64_t channels, int64_t size, dataset *d);

void dataset_close(dataset *d);

/* Draw a new order for an epoch from the context's generator: a
 * Fisher-Yates shuffle of 0..count-1, so the order depends on the
 * generator's state only and a resumed run draws the same one. */
ganet_status dataset_shuffle(dataset *d, ganet_context *ctx);

/* Fill batch (N, channels, size, size) with images order[first ..
 * first + N - 1], pixel p becoming p / 127.5 - 1, as torchvision's
 * ToTensor + Normalize(0.5, 0.5) do. */
ganet_status dataset_batch(dataset *d, int64_t first, ganet_tensor *batch);

#endif
