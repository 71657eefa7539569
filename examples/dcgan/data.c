/* The image sources of the training program; see data.h. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "dcgan.h"

/* Allocate the pixels and the order of count images. */
static ganet_status alloc_images(dataset *d, int64_t count, int64_t channels,
                                 int64_t size)
{
    *d = (dataset){.count = count, .channels = channels, .size = size};
    d->pixels = malloc((size_t)(count * channels * size * size));
    d->order = malloc((size_t)count * sizeof *d->order);
    if (d->pixels == NULL || d->order == NULL) {
        dataset_close(d);
        return GANET_ERR_OUT_OF_MEMORY;
    }
    for (int64_t i = 0; i < count; i++)
        d->order[i] = i;
    return GANET_OK;
}

void dataset_close(dataset *d)
{
    free(d->pixels);
    free(d->order);
    free(d->batch);
    *d = (dataset){0};
}

/* Sample the crop (x0, y0, side x side) of an h x w plane into a
 * size x size plane, bilinearly, pixel centres aligned as in
 * torchvision's resize. */
static void resample(const uint8_t *src, int64_t h, int64_t w, int64_t step,
                     double x0, double y0, double side, uint8_t *dst,
                     int64_t size)
{
    double scale = side / (double)size;
    for (int64_t y = 0; y < size; y++) {
        double sy = y0 + ((double)y + 0.5) * scale - 0.5;
        sy = sy < 0 ? 0 : sy > (double)(h - 1) ? (double)(h - 1) : sy;
        int64_t iy = (int64_t)sy, jy = iy + 1 < h ? iy + 1 : iy;
        double fy = sy - (double)iy;
        for (int64_t x = 0; x < size; x++) {
            double sx = x0 + ((double)x + 0.5) * scale - 0.5;
            sx = sx < 0 ? 0 : sx > (double)(w - 1) ? (double)(w - 1) : sx;
            int64_t ix = (int64_t)sx, jx = ix + 1 < w ? ix + 1 : ix;
            double fx = sx - (double)ix;
            double top = src[(iy * w + ix) * step] * (1 - fx) +
                         src[(iy * w + jx) * step] * fx;
            double bottom = src[(jy * w + ix) * step] * (1 - fx) +
                            src[(jy * w + jx) * step] * fx;
            dst[y * size + x] = (uint8_t)lround(top * (1 - fy) + bottom * fy);
        }
    }
}

ganet_status dataset_open_idx(const char *path, int64_t size, int64_t limit,
                              dataset *d)
{
    ganet_idx *idx;
    ganet_status st = ganet_idx_read(path, &idx);
    if (st != GANET_OK) {
        fprintf(stderr, "%s\n", ganet_last_error());
        return st;
    }
    if (idx->rank != 3) {
        fprintf(stderr,
                "%s: an image file has 3 dims (N, H, W), this one "
                "has %d\n",
                path, idx->rank);
        ganet_idx_destroy(idx);
        return GANET_ERR_FORMAT;
    }
    int64_t n = idx->dims[0], h = idx->dims[1], w = idx->dims[2];
    if (limit > 0 && limit < n)
        n = limit;
    st = alloc_images(d, n, 1, size);
    if (st != GANET_OK) {
        ganet_idx_destroy(idx);
        return st;
    }
    /* 28x28 into 32x32: a border of 2 background pixels. */
    bool pad = size - h == 4 && size - w == 4;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *src = idx->data + i * h * w;
        uint8_t *dst = d->pixels + i * size * size;
        if (pad) {
            memset(dst, 0, (size_t)(size * size));
            for (int64_t y = 0; y < h; y++)
                memcpy(dst + (y + 2) * size + 2, src + y * w, (size_t)w);
        } else {
            resample(src, h, w, 1, 0, 0, (double)(h < w ? h : w), dst, size);
        }
    }
    ganet_idx_destroy(idx);
    return GANET_OK;
}

static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcmp(dot, ".png") == 0 || strcmp(dot, ".jpg") == 0 ||
                   strcmp(dot, ".jpeg") == 0 || strcmp(dot, ".PNG") == 0 ||
                   strcmp(dot, ".JPG") == 0);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The image file names of a folder, sorted; the caller frees each and
 * the list. */
static ganet_status list_images(const char *dir, char ***names, int64_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *folder = opendir(dir);
    if (folder == NULL) {
        fprintf(stderr, "%s: cannot open the folder\n", dir);
        return GANET_ERR_IO;
    }
    int64_t cap = 0;
    struct dirent *e;
    while ((e = readdir(folder)) != NULL) {
        if (!is_image_name(e->d_name))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(*names, (size_t)cap * sizeof *grown);
            if (grown == NULL)
                break;
            *names = grown;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(len);
        if (path == NULL)
            break;
        snprintf(path, len, "%s/%s", dir, e->d_name);
        (*names)[(*n)++] = path;
    }
    closedir(folder);
    if (*n)
        qsort(*names, (size_t)*n, sizeof **names, compare_names);
    return GANET_OK;
}

/* Scale the shorter side to size, crop the centre, convert channels. */
static void place_image(const ganet_image *img, int64_t size, int64_t channels,
                        uint8_t *dst, uint8_t *gray)
{
    int64_t h = img->height, w = img->width, c = img->channels;
    double side = (double)(h < w ? h : w);
    double x0 = ((double)w - side) / 2, y0 = ((double)h - side) / 2;
    if (channels == 1 && c == 3) {
        for (int64_t i = 0; i < h * w; i++) {
            const uint8_t *p = img->pixels + 3 * i;
            gray[i] =
                    (uint8_t)lround(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
        }
        resample(gray, h, w, 1, x0, y0, side, dst, size);
        return;
    }
    for (int64_t k = 0; k < channels; k++)
        resample(img->pixels + (c == 3 ? k : 0), h, w, c, x0, y0, side,
                 dst + k * size * size, size);
}

ganet_status dataset_open_folder(const char *dir, int64_t size,
                                 int64_t channels, int64_t limit, dataset *d)
{
    if (channels != 1 && channels != 3) {
        fprintf(stderr,
                "%s: images are read as 1 (gray) or 3 (RGB) "
                "channels, not %lld\n",
                dir, (long long)channels);
        return GANET_ERR_INVALID_ARGUMENT;
    }
    char **names;
    int64_t total;
    DCGAN_TRY(list_images(dir, &names, &total));
    int64_t n = limit > 0 && limit < total ? limit : total;
    ganet_status st =
            n ? alloc_images(d, n, channels, size) : GANET_ERR_INVALID_ARGUMENT;
    if (n == 0)
        fprintf(stderr, "%s: no .png or .jpg file\n", dir);
    for (int64_t i = 0; st == GANET_OK && i < n; i++) {
        ganet_image *img;
        st = ganet_image_read(names[i], &img);
        if (st != GANET_OK) {
            fprintf(stderr, "%s\n", ganet_last_error());
            break;
        }
        uint8_t *gray = malloc((size_t)(img->height * img->width));
        if (gray == NULL) {
            st = GANET_ERR_OUT_OF_MEMORY;
        } else {
            place_image(img, size, channels,
                        d->pixels + i * channels * size * size, gray);
        }
        free(gray);
        ganet_image_destroy(img);
    }
    for (int64_t i = 0; i < total; i++)
        free(names[i]);
    free(names);
    if (st != GANET_OK)
        dataset_close(d);
    return st;
}

static double uniform(ganet_context *ctx)
{
    uint32_t u = 0;
    ganet_context_random_u32(ctx, &u);
    return (double)u / 4294967296.0;
}

ganet_status dataset_open_synthetic(ganet_context *ctx, int64_t count,
                                    int64_t channels, int64_t size, dataset *d)
{
    DCGAN_TRY(alloc_images(d, count, channels, size));
    for (int64_t i = 0; i < count; i++) {
        /* One soft disc per image, its place, radius and colour random. */
        double cx = size * (0.25 + 0.5 * uniform(ctx));
        double cy = size * (0.25 + 0.5 * uniform(ctx));
        double r = size * (0.15 + 0.2 * uniform(ctx));
        for (int64_t k = 0; k < channels; k++) {
            double level = 128 + 127 * uniform(ctx);
            uint8_t *plane = d->pixels + (i * channels + k) * size * size;
            for (int64_t y = 0; y < size; y++)
                for (int64_t x = 0; x < size; x++) {
                    double dx = (double)x - cx, dy = (double)y - cy;
                    double v = exp(-(dx * dx + dy * dy) / (2 * r * r));
                    plane[y * size + x] = (uint8_t)lround(level * v);
                }
        }
    }
    return GANET_OK;
}

ganet_status dataset_shuffle(dataset *d, ganet_context *ctx)
{
    /* Start from 0..count-1, not from the last epoch's order: the order
     * then depends on the generator's state only, which a checkpoint
     * saves, so a resumed run draws the same order as an unbroken one. */
    for (int64_t i = 0; i < d->count; i++)
        d->order[i] = i;
    for (int64_t i = d->count - 1; i > 0; i--) {
        uint32_t hi, lo;
        DCGAN_TRY(ganet_context_random_u32(ctx, &hi));
        DCGAN_TRY(ganet_context_random_u32(ctx, &lo));
        uint64_t r = ((uint64_t)hi << 32 | lo) % (uint64_t)(i + 1);
        int64_t t = d->order[i];
        d->order[i] = d->order[r];
        d->order[r] = t;
    }
    return GANET_OK;
}

ganet_status dataset_batch(dataset *d, int64_t first, ganet_tensor *batch)
{
    int64_t n = ganet_tensor_dim(batch, 0);
    int64_t image = d->channels * d->size * d->size;
    if (first < 0 || first + n > d->count ||
        ganet_tensor_count(batch) != n * image)
        return GANET_ERR_SHAPE;
    if (d->batch_capacity < n * image) {
        float *grown = realloc(d->batch, (size_t)(n * image) * sizeof *grown);
        if (grown == NULL)
            return GANET_ERR_OUT_OF_MEMORY;
        d->batch = grown;
        d->batch_capacity = n * image;
    }
    for (int64_t i = 0; i < n; i++)
        DCGAN_TRY(ganet_bytes_to_tanh(d->pixels + d->order[first + i] * image,
                                      d->batch + i * image, (size_t)image));
    return ganet_tensor_copy_from(batch, d->batch, (size_t)(n * image));
}
