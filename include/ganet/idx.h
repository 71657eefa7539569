/**
 * @file idx.h
 * @brief Read and write IDX files, the format of MNIST and Fashion-MNIST.
 *
 * An IDX file is a 4-byte magic (0, 0, element type, rank), then rank
 * big-endian 32-bit dims, outermost first, then the elements in row-major
 * order. Fashion-MNIST's training images are (60000, 28, 28) unsigned bytes
 * and its labels (60000) unsigned bytes in 0..9.
 *
 * Only unsigned bytes (type 0x08) are supported. Files may be plain or
 * gzip-compressed; reading detects which.
 *
 * Thread safety: the functions keep no state; separate calls may run on
 * separate threads. Writing the same path from two threads at once leaves
 * one of the two complete files.
 */
#ifndef GANET_IDX_H
#define GANET_IDX_H

#include <stddef.h>
#include <stdint.h>

#include <ganet/export.h>
#include <ganet/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Largest rank read or written. */
#define GANET_IDX_MAX_RANK 4

/**
 * @brief Largest data size read, in bytes (1 GiB).
 *
 * A file declaring more is refused before anything is allocated, so a
 * malformed header cannot make the reader allocate without bound. Memory
 * for the data grows only as the data actually arrives.
 */
#define GANET_IDX_MAX_BYTES ((size_t)1 << 30)

/**
 * @brief An array of unsigned bytes with its shape.
 *
 * ganet_idx_read() returns one the caller frees with ganet_idx_destroy().
 * To write, a caller may also fill one of its own, e.g.
 * `ganet_idx labels = {.rank = 1, .dims = {n}, .count = n, .data = buf};`,
 * which must then not be given to ganet_idx_destroy().
 */
typedef struct ganet_idx {
    /** 1 to #GANET_IDX_MAX_RANK. */
    int rank;
    /** The first @c rank entries are the sizes, outermost first. */
    int64_t dims[GANET_IDX_MAX_RANK];
    /** The product of the dims: the number of bytes in @c data. */
    size_t count;
    /** The elements in row-major order. */
    uint8_t *data;
} ganet_idx;

/** @brief How ganet_idx_write() stores the file. */
typedef enum ganet_idx_compression {
    /** Uncompressed, as the format defines it. */
    GANET_IDX_PLAIN = 0,
    /** Compressed with gzip, as MNIST and Fashion-MNIST are distributed. */
    GANET_IDX_GZIP = 1,
} ganet_idx_compression;

/**
 * @brief Read an IDX file of unsigned bytes, plain or gzip-compressed.
 *
 * The file must hold exactly the number of bytes its dims declare: fewer
 * or more is an error.
 *
 * @param[in]  path the file; borrowed for the call only.
 * @param[out] out  the contents, owned by the caller, freed with
 *                  ganet_idx_destroy(); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_IO when the file
 *         cannot be opened or read; #GANET_ERR_UNIMPLEMENTED for an element
 *         type other than unsigned bytes; #GANET_ERR_FORMAT for a bad magic,
 *         an unknown type, a rank outside 1..#GANET_IDX_MAX_RANK, a zero
 *         dim, a size above #GANET_IDX_MAX_BYTES, truncated or trailing data,
 *         or corrupt gzip data; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_idx_read(const char *path, ganet_idx **out);

/** @brief Free what ganet_idx_read() returned. Accepts NULL. */
GANET_API void ganet_idx_destroy(ganet_idx *idx);

/**
 * @brief Write an IDX file of unsigned bytes.
 *
 * The data goes to a temporary file in the same folder, is synced to disk
 * and renamed over @p path, so a crash never leaves a half-written file
 * where a good one stood; on failure @p path is untouched.
 *
 * @param[in] idx         rank, dims, count and data; borrowed for the call.
 * @param[in] path        the file to create or replace.
 * @param     compression #GANET_IDX_PLAIN or #GANET_IDX_GZIP, whatever the
 *                        name of @p path says.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER for @p idx, its data or
 *         @p path; #GANET_ERR_INVALID_ARGUMENT for a rank outside
 *         1..#GANET_IDX_MAX_RANK, a dim outside 1..2^32-1, a count above
 *         #GANET_IDX_MAX_BYTES (which could not be read back) or an unknown
 *         compression; #GANET_ERR_SHAPE when count is not the product of
 *         the dims; #GANET_ERR_IO; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_idx_write(const ganet_idx *idx, const char *path,
                                       ganet_idx_compression compression);

#ifdef __cplusplus
}
#endif

#endif
