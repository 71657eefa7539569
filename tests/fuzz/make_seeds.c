/* Write the fuzz harnesses' seed inputs with the library itself (and with
 * libpng and libjpeg for the kinds of image the library does not write):
 *
 *     make_seeds OUT_DIR
 *
 * makes OUT_DIR/checkpoint, OUT_DIR/idx, OUT_DIR/png and OUT_DIR/jpeg,
 * each holding a few valid files of a few hundred bytes at most. The
 * committed tests/fuzz/seeds were made this way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

#include "fuzz_common.h"
#include "ganet/idx.h"
#include "ganet/image.h"

static char out_dir[1024];

static const char *path_of(const char *kind, const char *name)
{
    static char path[2048];
    snprintf(path, sizeof path, "%s/%s", out_dir, kind);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_seeds: cannot make %s: %s\n", path,
                strerror(errno));
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, kind, name);
    return path;
}

static void check(ganet_status st, const char *what)
{
    if (st != GANET_OK) {
        fprintf(stderr, "make_seeds: %s: %s\n", what, ganet_last_error());
        exit(1);
    }
}

static void checkpoints(void)
{
    fuzz_model m;
    if (fuzz_model_create(&m) != 0) {
        fprintf(stderr, "make_seeds: cannot build the model: %s\n",
                ganet_last_error());
        exit(1);
    }
    m.counter = 3;
    check(ganet_checkpoint_save(m.ck, path_of("checkpoint", "model.ckpt")),
          "model.ckpt");
    ganet_checkpoint *empty = NULL;
    check(ganet_checkpoint_create(m.ctx, &empty), "empty checkpoint");
    check(ganet_checkpoint_save(empty, path_of("checkpoint", "empty.ckpt")),
          "empty.ckpt");
    ganet_checkpoint_destroy(empty);
    fuzz_model_destroy(&m);
}

static void idx_files(void)
{
    uint8_t bytes[18];
    for (int i = 0; i < 18; i++)
        bytes[i] = (uint8_t)(i * 14);
    ganet_idx images = {
            .rank = 3, .dims = {2, 3, 3}, .count = 18, .data = bytes};
    check(ganet_idx_write(&images, path_of("idx", "images.idx"),
                          GANET_IDX_PLAIN),
          "images.idx");
    ganet_idx labels = {.rank = 1, .dims = {5}, .count = 5, .data = bytes};
    check(ganet_idx_write(&labels, path_of("idx", "labels.idx.gz"),
                          GANET_IDX_GZIP),
          "labels.idx.gz");
    ganet_idx four = {
            .rank = 4, .dims = {1, 1, 2, 2}, .count = 4, .data = bytes};
    check(ganet_idx_write(&four, path_of("idx", "rank4.idx"), GANET_IDX_PLAIN),
          "rank4.idx");
}

/* A PNG of a format the library does not write, through libpng. */
static void png_format(const char *name, png_uint_32 format, int width,
                       int height, const void *pixels, const void *colormap,
                       png_uint_32 colors)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = (png_uint_32)width;
    png.height = (png_uint_32)height;
    png.format = format;
    png.colormap_entries = colors;
    if (!png_image_write_to_file(&png, path_of("png", name), 0, pixels, 0,
                                 colormap)) {
        fprintf(stderr, "make_seeds: %s: %s\n", name, png.message);
        exit(1);
    }
}

static void png_files(void)
{
    uint8_t px[48];
    for (int i = 0; i < 48; i++)
        px[i] = (uint8_t)(i * 5);
    ganet_image gray = {.height = 2, .width = 3, .channels = 1, .pixels = px};
    check(ganet_image_write_png(&gray, path_of("png", "gray.png")), "gray.png");
    ganet_image rgb = {.height = 2, .width = 2, .channels = 3, .pixels = px};
    check(ganet_image_write_png(&rgb, path_of("png", "rgb.png")), "rgb.png");
    png_format("rgba.png", PNG_FORMAT_RGBA, 2, 2, px, NULL, 0);
    const uint16_t deep[4] = {0, 20000, 40000, 65535};
    png_format("gray16.png", PNG_FORMAT_LINEAR_Y, 2, 2, deep, NULL, 0);
    const uint8_t map[6] = {0, 0, 0, 255, 128, 0};
    const uint8_t index[4] = {0, 1, 1, 0};
    png_format("palette.png", PNG_FORMAT_RGB_COLORMAP, 2, 2, index, map, 2);
}

static void jpeg_file(const char *name, int channels, int progressive)
{
    enum { SIDE = 8 };
    uint8_t px[SIDE * SIDE * 3];
    for (int i = 0; i < SIDE * SIDE * channels; i++)
        px[i] = (uint8_t)(i * 3);
    FILE *f = fopen(path_of("jpeg", name), "wb");
    if (f == NULL) {
        fprintf(stderr, "make_seeds: cannot write %s\n", name);
        exit(1);
    }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = SIDE;
    c.image_height = SIDE;
    c.input_components = channels;
    c.in_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 50, TRUE);
    c.optimize_coding = TRUE;
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = px + c.next_scanline * SIDE * channels;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    if (fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", name);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds OUT_DIR\n");
        return 2;
    }
    snprintf(out_dir, sizeof out_dir, "%s", argv[1]);
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_seeds: cannot make %s: %s\n", out_dir,
                strerror(errno));
        return 1;
    }
    checkpoints();
    idx_files();
    png_files();
    jpeg_file("gray.jpg", 1, 0);
    jpeg_file("rgb.jpg", 3, 0);
    jpeg_file("progressive.jpg", 3, 1);
    return 0;
}
