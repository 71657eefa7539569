/**
 * @file image.h
 * @brief Read PNG and JPEG images, write PNG images and grids of samples.
 *
 * Pixels are 8-bit, row-major, height x width x channels (interleaved,
 * "HWC"), with 1 channel (gray) or 3 (RGB). Reading converts what the file
 * holds to that form:
 *
 * - PNG, through libpng's simplified API: palette images are expanded;
 *   16-bit samples are reduced to 8 bits (gamma-aware, as libpng does);
 *   an alpha channel is removed by compositing onto black; gray files,
 *   with or without alpha, give 1 channel and everything else 3.
 * - JPEG, through libjpeg: gray files give 1 channel, YCbCr and RGB give
 *   3; CMYK and YCCK are refused. libjpeg's warnings (such as data ending
 *   early, which it would otherwise fill with gray) are treated as errors.
 *
 * Tensors in a generator's range [-1, 1] map to pixels by
 * p = round((x + 1) / 2 * 255) clamped to 0..255, NaN giving 0, and pixels
 * map back by x = p / 127.5 - 1, so 0 and 255 are -1 and 1 exactly.
 *
 * Thread safety: the functions keep no state; separate calls may run on
 * separate threads. ganet_image_write_grid() reads its tensor, so it follows
 * the tensor's context rule.
 */
#ifndef GANET_IMAGE_H
#define GANET_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <ganet/export.h>
#include <ganet/status.h>
#include <ganet/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Largest width x height read or written (2^26, e.g. 8192 x 8192).
 *
 * A file declaring more is refused before its pixels are allocated.
 */
#define GANET_IMAGE_MAX_PIXELS ((int64_t)1 << 26)

/**
 * @brief 8-bit pixels with their size.
 *
 * ganet_image_read() returns one the caller frees with ganet_image_destroy().
 * To write, a caller may fill one of its own over its own pixels, which
 * must then not be given to ganet_image_destroy().
 */
typedef struct ganet_image {
    /** Rows, at least 1. */
    int64_t height;
    /** Columns, at least 1. */
    int64_t width;
    /** 1 (gray) or 3 (RGB). */
    int channels;
    /** height * width * channels bytes, rows top first, channels
     *  interleaved, no padding between rows. */
    uint8_t *pixels;
} ganet_image;

/**
 * @brief Read a PNG or JPEG file, telling which by its first bytes.
 *
 * @param[in]  path the file; borrowed for the call only.
 * @param[out] out  the image, owned by the caller, freed with
 *                  ganet_image_destroy(); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_IO when the file
 *         cannot be opened or read; #GANET_ERR_FORMAT for a file that is
 *         neither PNG nor JPEG, is truncated or corrupt, or declares more
 *         than #GANET_IMAGE_MAX_PIXELS pixels; #GANET_ERR_UNIMPLEMENTED for
 *         a CMYK or YCCK JPEG; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_image_read(const char *path, ganet_image **out);

/** @brief Free what ganet_image_read() returned. Accepts NULL. */
GANET_API void ganet_image_destroy(ganet_image *image);

/**
 * @brief Write an 8-bit gray or RGB PNG file.
 *
 * The data goes to a temporary file in the same folder, is synced and
 * renamed over @p path; on failure @p path is untouched.
 *
 * @param[in] image the pixels; borrowed for the call only.
 * @param[in] path  the file to create or replace.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER for @p image, its pixels or
 *         @p path; #GANET_ERR_INVALID_ARGUMENT for a size below 1, more than
 *         #GANET_IMAGE_MAX_PIXELS pixels or channels other than 1 or 3;
 *         #GANET_ERR_IO; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_image_write_png(const ganet_image *image,
                                             const char *path);

/**
 * @brief Write a batch of images (N, C, H, W) in [-1, 1] as one PNG grid.
 *
 * Tiles go left to right, then top to bottom, k = min(@p columns, N) to a
 * row, in rows = ceil(N / k) rows. As torchvision's make_grid() with
 * padding 2 and save_image() lay them out, 2 black pixels separate the
 * tiles and frame the grid: it is k * (W + 2) + 2 pixels wide and
 * rows * (H + 2) + 2 high; places after the last tile stay black. Values become
 * pixels as stated in image.h (fixed range, not rescaled to the batch's minimum
 * and maximum). C = 1 gives a gray PNG, C = 3 an RGB one.
 *
 * @param[in] images  the batch; read with ganet_tensor_copy_to().
 * @param     columns tiles per row, at least 1.
 * @param[in] path    the file to create or replace, as in
 *                    ganet_image_write_png().
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_SHAPE unless
 *         @p images has rank 4 and C is 1 or 3;
 *         #GANET_ERR_INVALID_ARGUMENT for @p columns below 1 or a grid of
 *         more than #GANET_IMAGE_MAX_PIXELS pixels; #GANET_ERR_IO;
 *         #GANET_ERR_OUT_OF_MEMORY; #GANET_ERR_BACKEND.
 */
GANET_API ganet_status ganet_image_write_grid(const ganet_tensor *images,
                                              int columns, const char *path);

/**
 * @brief Convert bytes to floats in [-1, 1], keeping their order.
 *
 * dst[i] = src[i] / 127.5 - 1. For gray images, such as an IDX file's
 * (N, H, W) bytes, the order already is the tensor's (N, 1, H, W).
 *
 * @param[in]  src   @p count bytes.
 * @param[out] dst   room for @p count floats.
 * @param      count the number of values.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER.
 */
GANET_API ganet_status ganet_bytes_to_tanh(const uint8_t *src, float *dst,
                                           size_t count);

/**
 * @brief Convert an image to floats in [-1, 1] in tensor order (C, H, W).
 *
 * The interleaved channels become planes: dst[(c * H + y) * W + x] is
 * pixel (y, x, c) / 127.5 - 1. Together with ganet_tensor_copy_from(),
 * this fills one sample of a (N, C, H, W) batch.
 *
 * @param[in]  image the pixels.
 * @param[out] dst   room for @p count floats.
 * @param      count must equal channels * height * width.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_SHAPE when
 *         @p count differs; #GANET_ERR_INVALID_ARGUMENT for an image whose
 *         size or channels are out of range.
 */
GANET_API ganet_status ganet_image_to_tanh(const ganet_image *image, float *dst,
                                           size_t count);

#ifdef __cplusplus
}
#endif

#endif
