/* PNG through libpng's simplified API, JPEG through libjpeg, grids. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "atomic_file.h"
#include "ganet/image.h"
#include "internal.h"

/* Pixels between tiles and around the grid, as torchvision's default. */
#define GRID_PADDING 2

/* Check a size and compute its byte count; bounded, so it cannot overflow. */
static ganet_status image_size(const char *fn, const ganet_image *image,
                               size_t *bytes)
{
    GANET__CHECK(image->channels == 1 || image->channels == 3,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: image has %d channels, expected 1 or 3", fn,
                 image->channels);
    GANET__CHECK(image->height >= 1 && image->width >= 1,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: image is %lld x %lld, expected sizes of 1 or more", fn,
                 (long long)image->height, (long long)image->width);
    GANET__CHECK(image->height <= GANET_IMAGE_MAX_PIXELS / image->width,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: image is %lld x %lld, more than the %lld pixels "
                 "supported",
                 fn, (long long)image->height, (long long)image->width,
                 (long long)GANET_IMAGE_MAX_PIXELS);
    GANET__CHECK_NULL(fn, image->pixels);
    *bytes = (size_t)image->height * (size_t)image->width *
             (size_t)image->channels;
    return GANET_OK;
}

/* A declared size from a file: over the bound is the file's fault. */
static ganet_status check_declared(const char *path, uint64_t height,
                                   uint64_t width)
{
    GANET__CHECK(height >= 1 && width >= 1, GANET_ERR_FORMAT,
                 "%s: image is %llu x %llu", path, (unsigned long long)height,
                 (unsigned long long)width);
    GANET__CHECK(height <= (uint64_t)GANET_IMAGE_MAX_PIXELS / width,
                 GANET_ERR_FORMAT,
                 "%s: image is %llu x %llu, more than the %lld pixels "
                 "supported",
                 path, (unsigned long long)height, (unsigned long long)width,
                 (long long)GANET_IMAGE_MAX_PIXELS);
    return GANET_OK;
}

static ganet_status new_image(const char *path, int64_t height, int64_t width,
                              int channels, ganet_image **out)
{
    ganet_image *image = malloc(sizeof *image);
    size_t bytes = (size_t)height * (size_t)width * (size_t)channels;
    uint8_t *pixels = malloc(bytes);
    if (image == NULL || pixels == NULL) {
        free(image);
        free(pixels);
        return ganet__fail(GANET_ERR_OUT_OF_MEMORY,
                           "%s: cannot allocate %zu bytes of pixels", path,
                           bytes);
    }
    image->height = height;
    image->width = width;
    image->channels = channels;
    image->pixels = pixels;
    *out = image;
    return GANET_OK;
}

void ganet_image_destroy(ganet_image *image)
{
    if (image == NULL)
        return;
    free(image->pixels);
    free(image);
}

/* ---- PNG ---------------------------------------------------------------- */

/* The simplified API catches libpng's longjmp itself and frees its state on
 * failure, so no error escapes as a jump and nothing is left to clean. */
static ganet_status read_png(FILE *fp, const char *path, ganet_image **out)
{
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_stdio(&png, fp))
        return ganet__fail(ferror(fp) ? GANET_ERR_IO : GANET_ERR_FORMAT,
                           "%s: %s", path, png.message);
    ganet_status st = check_declared(path, png.height, png.width);
    int channels = png.format & PNG_FORMAT_FLAG_COLOR ? 3 : 1;
    ganet_image *image = NULL;
    if (st == GANET_OK)
        st = new_image(path, png.height, png.width, channels, &image);
    if (st != GANET_OK) {
        png_image_free(&png);
        return st;
    }
    png.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    const png_color black = {0, 0, 0};
    if (!png_image_finish_read(&png, &black, image->pixels,
                               (png_int_32)(png.width * (png_uint_32)channels),
                               NULL)) {
        ganet_image_destroy(image);
        return ganet__fail(ferror(fp) ? GANET_ERR_IO : GANET_ERR_FORMAT,
                           "%s: %s", path, png.message);
    }
    *out = image;
    return GANET_OK;
}

ganet_status ganet_image_write_png(const ganet_image *image, const char *path)
{
    static const char fn[] = "ganet_image_write_png";
    GANET__CHECK_NULL(fn, image);
    GANET__CHECK_NULL(fn, path);
    size_t bytes;
    GANET__TRY(image_size(fn, image, &bytes));

    ganet__atomic_file file;
    GANET__TRY(ganet__atomic_file_open(&file, fn, path));
    /* fclose() closes the duplicate; ours stays open for the sync. */
    int fd = dup(file.fd);
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fp == NULL) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        ganet__atomic_file_abort(&file);
        return ganet__fail(GANET_ERR_IO, "%s: cannot write %s: %s", fn, path,
                           strerror(err));
    }
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    png.width = (png_uint_32)image->width;
    png.height = (png_uint_32)image->height;
    png.format = image->channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    int ok = png_image_write_to_stdio(
            &png, fp, 0, image->pixels,
            (png_int_32)(image->width * image->channels), NULL);
    ganet_status st = GANET_OK;
    if (!ok)
        st = ganet__fail(GANET_ERR_IO, "%s: cannot write %s: %s", fn, path,
                         png.message);
    if (fflush(fp) != 0 && st == GANET_OK)
        st = ganet__fail(GANET_ERR_IO, "%s: cannot write %s: %s", fn, path,
                         strerror(errno));
    if (fclose(fp) != 0 && st == GANET_OK)
        st = ganet__fail(GANET_ERR_IO, "%s: cannot write %s: %s", fn, path,
                         strerror(errno));
    if (st != GANET_OK) {
        ganet__atomic_file_abort(&file);
        return st;
    }
    return ganet__atomic_file_commit(&file, fn);
}

/* ---- JPEG --------------------------------------------------------------- */

/* libjpeg reports errors by calling error_exit, which must not return; it
 * jumps back to read_jpeg's setjmp with the message saved. Everything the
 * jump must clean up lives in this struct, not in locals a longjmp could
 * leave stale. */
typedef struct jpeg_reader {
    struct jpeg_error_mgr err;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    struct jpeg_decompress_struct cinfo;
    ganet_image *image;
} jpeg_reader;

static void jpeg_error_jump(j_common_ptr cinfo)
{
    jpeg_reader *r =
            (jpeg_reader *)((char *)cinfo->err - offsetof(jpeg_reader, err));
    (*cinfo->err->format_message)(cinfo, r->message);
    longjmp(r->jump, 1);
}

/* Level -1 is a warning about corrupt data, which libjpeg would otherwise
 * paper over; the trace levels above are ignored. */
static void jpeg_message(j_common_ptr cinfo, int level)
{
    if (level < 0)
        jpeg_error_jump(cinfo);
}

/* The steps between setjmp and a normal return; any libjpeg error jumps. */
static ganet_status decode_jpeg(jpeg_reader *r, FILE *fp, const char *path)
{
    struct jpeg_decompress_struct *c = &r->cinfo;
    jpeg_create_decompress(c);
    jpeg_stdio_src(c, fp);
    jpeg_read_header(c, TRUE);
    int channels;
    switch (c->jpeg_color_space) {
    case JCS_GRAYSCALE:
        channels = 1;
        c->out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        channels = 3;
        c->out_color_space = JCS_RGB;
        break;
    default:
        return ganet__fail(GANET_ERR_UNIMPLEMENTED,
                           "%s: JPEG color space %d (CMYK or YCCK) is not "
                           "supported, only gray and RGB",
                           path, (int)c->jpeg_color_space);
    }
    GANET__TRY(check_declared(path, c->image_height, c->image_width));
    GANET__TRY(new_image(path, c->image_height, c->image_width, channels,
                         &r->image));
    jpeg_start_decompress(c);
    GANET__CHECK(c->output_components == channels &&
                         c->output_width == c->image_width &&
                         c->output_height == c->image_height,
                 GANET_ERR_FORMAT,
                 "%s: libjpeg decodes %d channels of %u x %u, expected %d "
                 "of %u x %u",
                 path, c->output_components, c->output_height, c->output_width,
                 channels, c->image_height, c->image_width);
    size_t stride = (size_t)c->output_width * (size_t)channels;
    while (c->output_scanline < c->output_height) {
        JSAMPROW row = r->image->pixels + c->output_scanline * stride;
        jpeg_read_scanlines(c, &row, 1);
    }
    jpeg_finish_decompress(c);
    return GANET_OK;
}

static ganet_status read_jpeg(FILE *fp, const char *path, ganet_image **out)
{
    jpeg_reader *r = calloc(1, sizeof *r);
    GANET__CHECK(r != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    r->cinfo.err = jpeg_std_error(&r->err);
    r->err.error_exit = jpeg_error_jump;
    r->err.emit_message = jpeg_message;
    ganet_status st;
    if (setjmp(r->jump) == 0)
        st = decode_jpeg(r, fp, path);
    else
        st = ganet__fail(ferror(fp) ? GANET_ERR_IO : GANET_ERR_FORMAT, "%s: %s",
                         path, r->message);
    jpeg_destroy_decompress(&r->cinfo);
    if (st == GANET_OK)
        *out = r->image;
    else
        ganet_image_destroy(r->image);
    free(r);
    return st;
}

/* ---- reading ------------------------------------------------------------ */

ganet_status ganet_image_read(const char *path, ganet_image **out)
{
    static const char fn[] = "ganet_image_read";
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, path);

    FILE *fp = fopen(path, "rb");
    GANET__CHECK(fp != NULL, GANET_ERR_IO, "%s: cannot open: %s", path,
                 strerror(errno));
    static const uint8_t png_sig[8] = {0x89, 'P',  'N',  'G',
                                       '\r', '\n', 0x1A, '\n'};
    static const uint8_t jpeg_sig[3] = {0xFF, 0xD8, 0xFF};
    uint8_t head[8];
    size_t got = fread(head, 1, sizeof head, fp);
    ganet_status st;
    if (ferror(fp))
        st = ganet__fail(GANET_ERR_IO, "%s: cannot read: %s", path,
                         strerror(errno));
    else if (fseek(fp, 0, SEEK_SET) != 0)
        st = ganet__fail(GANET_ERR_IO, "%s: cannot seek: %s", path,
                         strerror(errno));
    else if (got == sizeof png_sig && memcmp(head, png_sig, got) == 0)
        st = read_png(fp, path, out);
    else if (got >= sizeof jpeg_sig &&
             memcmp(head, jpeg_sig, sizeof jpeg_sig) == 0)
        st = read_jpeg(fp, path, out);
    else
        st = ganet__fail(GANET_ERR_FORMAT,
                         "%s: not a PNG or JPEG file (%zu bytes read)", path,
                         got);
    fclose(fp);
    return st;
}

/* ---- conversions and grids ---------------------------------------------- */

static uint8_t tanh_to_pixel(float x)
{
    float v = (x + 1.0f) * 0.5f * 255.0f;
    /* Written so that NaN takes the first branch. */
    if (!(v > 0.0f))
        return 0;
    if (v >= 255.0f)
        return 255;
    return (uint8_t)floorf(v + 0.5f);
}

ganet_status ganet_bytes_to_tanh(const uint8_t *src, float *dst, size_t count)
{
    static const char fn[] = "ganet_bytes_to_tanh";
    GANET__CHECK_NULL(fn, src);
    GANET__CHECK_NULL(fn, dst);
    for (size_t i = 0; i < count; i++)
        dst[i] = (float)src[i] / 127.5f - 1.0f;
    return GANET_OK;
}

ganet_status ganet_image_to_tanh(const ganet_image *image, float *dst,
                                 size_t count)
{
    static const char fn[] = "ganet_image_to_tanh";
    GANET__CHECK_NULL(fn, image);
    GANET__CHECK_NULL(fn, dst);
    size_t bytes = 0;
    GANET__TRY(image_size(fn, image, &bytes));
    GANET__CHECK(count == bytes, GANET_ERR_SHAPE,
                 "%s: room for %zu floats, the image has %zu values", fn, count,
                 bytes);
    size_t plane = (size_t)image->height * (size_t)image->width;
    size_t channels = (size_t)image->channels;
    for (size_t c = 0; c < channels; c++)
        for (size_t i = 0; i < plane; i++)
            dst[c * plane + i] =
                    (float)image->pixels[i * channels + c] / 127.5f - 1.0f;
    return GANET_OK;
}

ganet_status ganet_image_write_grid(const ganet_tensor *images, int columns,
                                    const char *path)
{
    static const char fn[] = "ganet_image_write_grid";
    GANET__CHECK_NULL(fn, images);
    GANET__CHECK_NULL(fn, path);
    int64_t d[GANET_MAX_RANK];
    GANET__TRY(ganet_tensor_get_dims(images, d));
    int rank = ganet_tensor_rank(images);
    GANET__CHECK(rank == 4, GANET_ERR_SHAPE,
                 "%s: images have rank %d, expected 4 (N, C, H, W)", fn, rank);
    const int64_t n = d[0], ch = d[1], h = d[2], w = d[3];
    GANET__CHECK(ch == 1 || ch == 3, GANET_ERR_SHAPE,
                 "%s: images have %lld channels, expected 1 or 3", fn,
                 (long long)ch);
    GANET__CHECK(columns >= 1, GANET_ERR_INVALID_ARGUMENT,
                 "%s: columns is %d, expected 1 or more", fn, columns);

    /* Grid size. The tensor's own count bounds n, h and w well below
     * 2^62, so these sums and products fit before the pixel check. */
    const int64_t cols = columns < n ? columns : n;
    const int64_t rows = (n + cols - 1) / cols;
    const int64_t p = GRID_PADDING;
    ganet_image grid = {.height = rows * (h + p) + p,
                        .width = cols * (w + p) + p,
                        .channels = (int)ch};
    GANET__CHECK(grid.height <= GANET_IMAGE_MAX_PIXELS / grid.width,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: a grid of %lld x %lld tiles of %lld x %lld is %lld x "
                 "%lld pixels, more than the %lld supported",
                 fn, (long long)rows, (long long)cols, (long long)h,
                 (long long)w, (long long)grid.height, (long long)grid.width,
                 (long long)GANET_IMAGE_MAX_PIXELS);

    size_t count = (size_t)ganet_tensor_count(images);
    float *values = malloc(count * sizeof *values);
    grid.pixels = calloc((size_t)(grid.height * grid.width * ch), 1);
    ganet_status st = GANET_OK;
    if (values == NULL || grid.pixels == NULL)
        st = ganet__fail(GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    if (st == GANET_OK)
        st = ganet_tensor_copy_to(images, values, count);

    /* Tile k at row k / cols, column k % cols; channel planes of the tensor
     * interleave into the grid's pixels. */
    for (int64_t k = 0; st == GANET_OK && k < n; k++) {
        int64_t top = p + (k / cols) * (h + p);
        int64_t left = p + (k % cols) * (w + p);
        for (int64_t c = 0; c < ch; c++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    float v = values[((k * ch + c) * h + y) * w + x];
                    int64_t at = ((top + y) * grid.width + left + x) * ch + c;
                    grid.pixels[at] = tanh_to_pixel(v);
                }
    }
    if (st == GANET_OK)
        st = ganet_image_write_png(&grid, path);
    free(values);
    free(grid.pixels);
    return st;
}
