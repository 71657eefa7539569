/* Images: PNG and JPEG reading, PNG writing, sample grids pixel by pixel,
 * conversions to the tanh range, and refusal of broken files. */
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
#include <unistd.h>

#include <cmocka.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "ganet/context.h"
#include "ganet/image.h"
#include "ganet/tensor.h"
#include "test_support.h"

typedef struct fixture {
    ganet_context *ctx;
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    if (support_tmpdir_create(f->dir, sizeof f->dir, "ganet-image") != 0)
        goto fail;
    if (ganet_context_create(NULL, &f->ctx) != GANET_OK) {
        support_tmpdir_remove(f->dir);
        goto fail;
    }
    *state = f;
    return 0;
fail:
    free(f);
    return -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_tmpdir_remove(f->dir);
    ganet_context_destroy(f->ctx);
    free(f);
    return 0;
}

static const char *file_in(fixture *f, const char *name)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    return f->path;
}

/* Write bytes, read them as an image, return the status. */
static ganet_status read_raw(fixture *f, const void *bytes, size_t size)
{
    const char *path = file_in(f, "raw.img");
    support_write_file(path, bytes, size);
    ganet_image *got = (ganet_image *)1;
    ganet_status st = ganet_image_read(path, &got);
    if (st != GANET_OK)
        assert_null(got);
    ganet_image_destroy(got);
    return st;
}

static void png_roundtrip(fixture *f, int64_t height, int64_t width,
                          int channels)
{
    size_t n = (size_t)(height * width * channels);
    uint8_t *pixels = malloc(n);
    assert_non_null(pixels);
    for (size_t i = 0; i < n; i++)
        pixels[i] = (uint8_t)(i * 37 + 5);
    const ganet_image src = {.height = height,
                             .width = width,
                             .channels = channels,
                             .pixels = pixels};
    const char *path = file_in(f, "roundtrip.png");
    assert_int_equal(ganet_image_write_png(&src, path), GANET_OK);
    assert_int_equal(support_count_entries(f->dir), 1);
    ganet_image *got = NULL;
    assert_int_equal(ganet_image_read(path, &got), GANET_OK);
    assert_int_equal(got->height, height);
    assert_int_equal(got->width, width);
    assert_int_equal(got->channels, channels);
    assert_memory_equal(got->pixels, pixels, n);
    ganet_image_destroy(got);
    free(pixels);
}

static void test_image_png_roundtrip_gray(void **state)
{
    png_roundtrip(*state, 3, 5, 1);
}

static void test_image_png_roundtrip_rgb(void **state)
{
    png_roundtrip(*state, 4, 3, 3);
}

/* Write a PNG of any libpng format with the simplified API. */
static void write_png_format(const char *path, png_uint_32 format,
                             png_uint_32 width, const void *buffer)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = width;
    png.height = 1;
    png.format = format;
    assert_true(png_image_write_to_file(&png, path, 0, buffer, 0, NULL));
}

static void test_image_png_read_converts_alpha_and_16_bit(void **state)
{
    fixture *f = *state;
    const char *path = file_in(f, "formats.png");
    ganet_image *got = NULL;

    /* RGBA: opaque pixels stay, transparent ones become black. */
    const uint8_t rgba[8] = {200, 100, 50, 255, 90, 80, 70, 0};
    write_png_format(path, PNG_FORMAT_RGBA, 2, rgba);
    assert_int_equal(ganet_image_read(path, &got), GANET_OK);
    assert_int_equal(got->channels, 3);
    const uint8_t rgb[6] = {200, 100, 50, 0, 0, 0};
    assert_memory_equal(got->pixels, rgb, 6);
    ganet_image_destroy(got);

    /* Gray with alpha gives one channel. */
    const uint8_t ga[4] = {77, 255, 180, 0};
    write_png_format(path, PNG_FORMAT_GA, 2, ga);
    assert_int_equal(ganet_image_read(path, &got), GANET_OK);
    assert_int_equal(got->channels, 1);
    assert_int_equal(got->pixels[0], 77);
    assert_int_equal(got->pixels[1], 0);
    ganet_image_destroy(got);

    /* 16-bit gray: the ends of the range map to the ends of 8 bits. */
    const uint16_t deep[2] = {0, 65535};
    write_png_format(path, PNG_FORMAT_LINEAR_Y, 2, deep);
    assert_int_equal(ganet_image_read(path, &got), GANET_OK);
    assert_int_equal(got->channels, 1);
    assert_int_equal(got->pixels[0], 0);
    assert_int_equal(got->pixels[1], 255);
    ganet_image_destroy(got);
}

/* Compress pixels to a JPEG in memory with libjpeg. */
static uint8_t *make_jpeg(const uint8_t *pixels, int height, int width,
                          int channels, unsigned long *size)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    *size = 0;
    jpeg_mem_dest(&c, &out, size);
    c.image_width = (JDIMENSION)width;
    c.image_height = (JDIMENSION)height;
    c.input_components = channels;
    c.in_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row =
                (JSAMPROW)(pixels + (size_t)c.next_scanline * (size_t)width *
                                            (size_t)channels);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return out;
}

static void jpeg_roundtrip(fixture *f, int channels)
{
    enum { H = 16, W = 24 };
    uint8_t pixels[H * W * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < channels; c++)
                pixels[(y * W + x) * channels + c] =
                        (uint8_t)(10 + 4 * x + 3 * y + 40 * c);
    unsigned long size;
    uint8_t *jpeg = make_jpeg(pixels, H, W, channels, &size);
    const char *path = file_in(f, "photo.jpg");
    support_write_file(path, jpeg, size);
    free(jpeg);

    ganet_image *got = NULL;
    assert_int_equal(ganet_image_read(path, &got), GANET_OK);
    assert_int_equal(got->height, H);
    assert_int_equal(got->width, W);
    assert_int_equal(got->channels, channels);
    /* A smooth ramp at quality 95 comes back within a few levels. */
    for (int i = 0; i < H * W * channels; i++)
        assert_in_range(got->pixels[i] - pixels[i] + 8, 0, 16);
    ganet_image_destroy(got);
}

static void test_image_jpeg_read_rgb(void **state)
{
    jpeg_roundtrip(*state, 3);
}

static void test_image_jpeg_read_gray(void **state)
{
    jpeg_roundtrip(*state, 1);
}

static void test_image_read_rejects_null_and_missing(void **state)
{
    fixture *f = *state;
    ganet_image *got = (ganet_image *)1;
    assert_int_equal(ganet_image_read(NULL, &got), GANET_ERR_NULL_POINTER);
    assert_null(got);
    assert_int_equal(ganet_image_read(file_in(f, "a.png"), NULL),
                     GANET_ERR_NULL_POINTER);
    got = (ganet_image *)1;
    assert_int_equal(ganet_image_read(file_in(f, "absent.png"), &got),
                     GANET_ERR_IO);
    assert_null(got);
    assert_non_null(strstr(ganet_last_error(), "absent.png: cannot open"));
    assert_int_equal(ganet_image_read(f->dir, &got), GANET_ERR_IO);
    ganet_image_destroy(NULL);
}

static void test_image_read_rejects_non_images(void **state)
{
    fixture *f = *state;
    assert_int_equal(read_raw(f, "hello, world", 12), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "not a PNG or JPEG"));
    assert_int_equal(read_raw(f, "", 0), GANET_ERR_FORMAT);
    /* Signatures alone. */
    const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    assert_int_equal(read_raw(f, sig, 8), GANET_ERR_FORMAT);
    const uint8_t soi[3] = {0xFF, 0xD8, 0xFF};
    assert_int_equal(read_raw(f, soi, 3), GANET_ERR_FORMAT);
}

static void test_image_read_rejects_truncated_png(void **state)
{
    fixture *f = *state;
    uint8_t pixels[32 * 32];
    for (int i = 0; i < 32 * 32; i++)
        pixels[i] = (uint8_t)(i * 7919 >> 4);
    const ganet_image src = {
            .height = 32, .width = 32, .channels = 1, .pixels = pixels};
    const char *path = file_in(f, "whole.png");
    assert_int_equal(ganet_image_write_png(&src, path), GANET_OK);
    size_t size;
    uint8_t *bytes = support_read_file(path, &size);
    /* Inside the header, inside the data, and just before the end. */
    assert_int_equal(read_raw(f, bytes, 20), GANET_ERR_FORMAT);
    assert_int_equal(read_raw(f, bytes, size / 2), GANET_ERR_FORMAT);
    assert_int_equal(read_raw(f, bytes, size - 13), GANET_ERR_FORMAT);
    /* A damaged data chunk fails its CRC. */
    bytes[size / 2] ^= 0x40;
    assert_int_equal(read_raw(f, bytes, size), GANET_ERR_FORMAT);
    free(bytes);
}

static void test_image_read_rejects_truncated_jpeg(void **state)
{
    fixture *f = *state;
    uint8_t pixels[32 * 32 * 3];
    for (int i = 0; i < 32 * 32 * 3; i++)
        pixels[i] = (uint8_t)(i * 7919 >> 4);
    unsigned long size;
    uint8_t *jpeg = make_jpeg(pixels, 32, 32, 3, &size);
    assert_int_equal(read_raw(f, jpeg, size), GANET_OK);
    assert_int_equal(read_raw(f, jpeg, 40), GANET_ERR_FORMAT);
    assert_int_equal(read_raw(f, jpeg, size / 2), GANET_ERR_FORMAT);
    assert_int_equal(read_raw(f, jpeg, size - 2), GANET_ERR_FORMAT);
    free(jpeg);
}

/* A PNG chunk: length, type, data, CRC of type and data. */
static size_t put_chunk(uint8_t *at, const char *type, const uint8_t *data,
                        uint32_t len)
{
    for (int i = 0; i < 4; i++)
        at[i] = (uint8_t)(len >> (24 - 8 * i));
    memcpy(at + 4, type, 4);
    if (len > 0)
        memcpy(at + 8, data, len);
    uLong crc = crc32(0L, at + 4, 4 + len);
    for (int i = 0; i < 4; i++)
        at[8 + len + i] = (uint8_t)(crc >> (24 - 8 * i));
    return 12 + len;
}

static void test_image_read_rejects_huge_png(void **state)
{
    fixture *f = *state;
    /* 100000 x 100000 gray, 8-bit: valid for libpng, above our bound. */
    uint8_t file[64] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    const uint8_t ihdr[13] = {0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 8, 0};
    const uint8_t idat[2] = {0x78, 0x9c};
    size_t size = 8;
    size += put_chunk(file + size, "IHDR", ihdr, 13);
    size += put_chunk(file + size, "IDAT", idat, 2);
    assert_int_equal(read_raw(f, file, size), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "100000 x 100000, more than"));
}

static void test_image_write_png_rejects_bad_arguments(void **state)
{
    fixture *f = *state;
    uint8_t pixels[6] = {0};
    ganet_image img = {
            .height = 1, .width = 3, .channels = 2, .pixels = pixels};
    const char *path = file_in(f, "bad.png");
    assert_int_equal(ganet_image_write_png(&img, path),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ganet_last_error(), "2 channels"));
    img.channels = 1;
    img.width = 0;
    assert_int_equal(ganet_image_write_png(&img, path),
                     GANET_ERR_INVALID_ARGUMENT);
    img.width = 1 << 20;
    img.height = 1 << 20;
    assert_int_equal(ganet_image_write_png(&img, path),
                     GANET_ERR_INVALID_ARGUMENT);
    img.width = 3;
    img.height = 1;
    img.pixels = NULL;
    assert_int_equal(ganet_image_write_png(&img, path), GANET_ERR_NULL_POINTER);
    img.pixels = pixels;
    assert_int_equal(ganet_image_write_png(NULL, path), GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_image_write_png(&img, NULL), GANET_ERR_NULL_POINTER);
    assert_int_equal(support_count_entries(f->dir), 0);
    assert_int_equal(ganet_image_write_png(&img, file_in(f, "no/dir.png")),
                     GANET_ERR_IO);
}

static void test_image_write_grid_gray_values(void **state)
{
    fixture *f = *state;
    /* Three 2 x 2 tiles, two to a row: the grid is 2 * (2 + 2) + 2 = 10
     * pixels on each side, tile k's top-left at (2 + 4 (k / 2), 2 + 4 (k % 2)).
     * Pixel = floor((x + 1) / 2 * 255 + 0.5), clamped, NaN -> 0:
     *   -1 -> 0, 1 -> 255, 0 -> 127.5 -> 128, NaN -> 0,
     *   2 -> 382.5 -> 255, -2 -> 0, 0.5 -> 191.25 -> 191, -0.5 -> 63.75 -> 64,
     *   0.01 -> 128.775 -> 129, -0.99 -> 1.275 -> 1, 0.9 -> 242.25 -> 242,
     *   +inf -> 255. */
    const float values[12] = {-1,   1,     0,     NAN,    2,    -2,
                              0.5f, -0.5f, 0.01f, -0.99f, 0.9f, INFINITY};
    ganet_tensor *t;
    assert_int_equal(ganet_tensor_create_4d(f->ctx, 3, 1, 2, 2, &t), GANET_OK);
    assert_int_equal(ganet_tensor_copy_from(t, values, 12), GANET_OK);
    const char *path = file_in(f, "grid.png");
    assert_int_equal(ganet_image_write_grid(t, 2, path), GANET_OK);
    ganet_tensor_destroy(t);

    uint8_t expect[10][10] = {{0}};
    expect[2][2] = 0, expect[2][3] = 255, expect[3][2] = 128, expect[3][3] = 0;
    expect[2][6] = 255, expect[2][7] = 0, expect[3][6] = 191, expect[3][7] = 64;
    expect[6][2] = 129, expect[6][3] = 1, expect[7][2] = 242,
    expect[7][3] = 255;
    ganet_image *got = NULL;
    assert_int_equal(ganet_image_read(path, &got), GANET_OK);
    assert_int_equal(got->height, 10);
    assert_int_equal(got->width, 10);
    assert_int_equal(got->channels, 1);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++)
            assert_int_equal(got->pixels[y * 10 + x], expect[y][x]);
    ganet_image_destroy(got);
}

static void test_image_write_grid_rgb_values(void **state)
{
    fixture *f = *state;
    /* One 1 x 2 RGB tile with 8 columns asked: one column, so the grid is
     * 1 * (2 + 2) + 2 = 6 wide and 1 * (1 + 2) + 2 = 5 high. Planes
     * R = (1, -1), G = (0, 1), B = (-1, 0) give pixel (2, 2) =
     * (255, 128, 0) and pixel (2, 3) = (0, 255, 128). */
    const float values[6] = {1, -1, 0, 1, -1, 0};
    ganet_tensor *t;
    assert_int_equal(ganet_tensor_create_4d(f->ctx, 1, 3, 1, 2, &t), GANET_OK);
    assert_int_equal(ganet_tensor_copy_from(t, values, 6), GANET_OK);
    const char *path = file_in(f, "rgb.png");
    assert_int_equal(ganet_image_write_grid(t, 8, path), GANET_OK);
    ganet_tensor_destroy(t);

    const int left[3] = {255, 128, 0}, right[3] = {0, 255, 128};
    ganet_image *got = NULL;
    assert_int_equal(ganet_image_read(path, &got), GANET_OK);
    assert_int_equal(got->height, 5);
    assert_int_equal(got->width, 6);
    assert_int_equal(got->channels, 3);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 6; x++)
            for (int c = 0; c < 3; c++) {
                int v = got->pixels[(y * 6 + x) * 3 + c];
                if (y == 2 && x == 2)
                    assert_int_equal(v, left[c]);
                else if (y == 2 && x == 3)
                    assert_int_equal(v, right[c]);
                else
                    assert_int_equal(v, 0);
            }
    ganet_image_destroy(got);
}

static void test_image_write_grid_rejects_bad_arguments(void **state)
{
    fixture *f = *state;
    const char *path = file_in(f, "bad.png");
    ganet_tensor *flat, *two;
    const int64_t dims[3] = {1, 4, 4};
    assert_int_equal(ganet_tensor_create(f->ctx, 3, dims, &flat), GANET_OK);
    assert_int_equal(ganet_tensor_create_4d(f->ctx, 1, 2, 4, 4, &two),
                     GANET_OK);
    assert_int_equal(ganet_image_write_grid(flat, 1, path), GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(), "rank 3"));
    assert_int_equal(ganet_image_write_grid(two, 1, path), GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(), "2 channels"));
    ganet_tensor_destroy(two);
    assert_int_equal(ganet_tensor_create_4d(f->ctx, 1, 1, 4, 4, &two),
                     GANET_OK);
    assert_int_equal(ganet_image_write_grid(two, 0, path),
                     GANET_ERR_INVALID_ARGUMENT);
    assert_int_equal(ganet_image_write_grid(NULL, 1, path),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_image_write_grid(two, 1, NULL),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(support_count_entries(f->dir), 0);
    ganet_tensor_destroy(flat);
    ganet_tensor_destroy(two);
}

static void test_image_conversions_to_tanh(void **state)
{
    (void)state;
    const uint8_t bytes[3] = {0, 255, 51};
    float out[6];
    assert_int_equal(ganet_bytes_to_tanh(bytes, out, 3), GANET_OK);
    assert_true(out[0] == -1.0f);
    assert_true(out[1] == 1.0f);
    assert_float_equal(out[2], -0.6f, 1e-6f);
    assert_int_equal(ganet_bytes_to_tanh(NULL, out, 3), GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_bytes_to_tanh(bytes, NULL, 3),
                     GANET_ERR_NULL_POINTER);

    /* Interleaved (y, x, c) becomes planes (c, y, x). */
    uint8_t rgb[6] = {0, 255, 51, 255, 0, 102};
    const ganet_image img = {
            .height = 1, .width = 2, .channels = 3, .pixels = rgb};
    assert_int_equal(ganet_image_to_tanh(&img, out, 6), GANET_OK);
    const float expect[6] = {-1, 1, 1, -1, -0.6f, -0.2f};
    for (int i = 0; i < 6; i++)
        assert_float_equal(out[i], expect[i], 1e-6f);
    assert_int_equal(ganet_image_to_tanh(&img, out, 5), GANET_ERR_SHAPE);
    assert_int_equal(ganet_image_to_tanh(NULL, out, 6), GANET_ERR_NULL_POINTER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_image_png_roundtrip_gray,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(test_image_png_roundtrip_rgb, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(
                    test_image_png_read_converts_alpha_and_16_bit, setup,
                    teardown),
            cmocka_unit_test_setup_teardown(test_image_jpeg_read_rgb, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_image_jpeg_read_gray, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(
                    test_image_read_rejects_null_and_missing, setup, teardown),
            cmocka_unit_test_setup_teardown(test_image_read_rejects_non_images,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(
                    test_image_read_rejects_truncated_png, setup, teardown),
            cmocka_unit_test_setup_teardown(
                    test_image_read_rejects_truncated_jpeg, setup, teardown),
            cmocka_unit_test_setup_teardown(test_image_read_rejects_huge_png,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(
                    test_image_write_png_rejects_bad_arguments, setup,
                    teardown),
            cmocka_unit_test_setup_teardown(test_image_write_grid_gray_values,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(test_image_write_grid_rgb_values,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(
                    test_image_write_grid_rejects_bad_arguments, setup,
                    teardown),
            cmocka_unit_test_setup_teardown(test_image_conversions_to_tanh,
                                            setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
