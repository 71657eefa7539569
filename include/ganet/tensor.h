/**
 * @file tensor.h
 * @brief Float32 tensors with a logical NCHW shape.
 *
 * A tensor has a rank from 1 to #GANET_MAX_RANK and positive dims. What the
 * caller reads and writes is always plain row-major order (NCHW for rank 4).
 * Inside, a tensor may be kept in a blocked layout that oneDNN's primitives
 * prefer; conversion happens only in the calls that cross the boundary
 * (copy in, copy out, reshape, summary), never in the caller's view.
 *
 * Thread safety: as its context (one thread at a time).
 */
#ifndef GANET_TENSOR_H
#define GANET_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include <ganet/context.h>
#include <ganet/export.h>
#include <ganet/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Largest supported rank. */
#define GANET_MAX_RANK 4

/** @brief Opaque tensor handle; see tensor.h. */
typedef struct ganet_tensor ganet_tensor;

/**
 * @brief Create a tensor filled with zeros.
 *
 * @param[in]  ctx  the context the tensor belongs to.
 * @param[in]  rank 1 to #GANET_MAX_RANK.
 * @param[in]  dims @p rank positive sizes, outermost first (N, C, H, W);
 *                  copied.
 * @param[out] out  the new tensor, owned by the caller, freed with
 *                  ganet_tensor_destroy(); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for a rank outside 1..#GANET_MAX_RANK or a dim below 1;
 *         #GANET_ERR_OVERFLOW if the byte size does not fit in memory;
 *         #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_tensor_create(ganet_context *ctx, int rank,
                                           const int64_t *dims,
                                           ganet_tensor **out);

/**
 * @brief Create a 4-D tensor (N, C, H, W) filled with zeros.
 *
 * Same as ganet_tensor_create() with rank 4.
 */
GANET_API ganet_status ganet_tensor_create_4d(ganet_context *ctx, int64_t n,
                                              int64_t c, int64_t h, int64_t w,
                                              ganet_tensor **out);

/** @brief Destroy a tensor. Accepts NULL. */
GANET_API void ganet_tensor_destroy(ganet_tensor *tensor);

/** @brief Return the rank, or 0 for NULL. */
GANET_API int ganet_tensor_rank(const ganet_tensor *tensor);

/**
 * @brief Return the size of one dimension.
 * @param tensor the tensor.
 * @param axis   0 to rank-1.
 * @return the size, or 0 for NULL or an axis out of range.
 */
GANET_API int64_t ganet_tensor_dim(const ganet_tensor *tensor, int axis);

/**
 * @brief Copy the dims into a caller's array.
 * @param[in]  tensor the tensor.
 * @param[out] dims   room for #GANET_MAX_RANK values; the first rank are
 *                    written.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER.
 */
GANET_API ganet_status ganet_tensor_get_dims(const ganet_tensor *tensor,
                                             int64_t *dims);

/** @brief Return the element count, or 0 for NULL. */
GANET_API int64_t ganet_tensor_count(const ganet_tensor *tensor);

/** @brief Return the context the tensor belongs to (borrowed), or NULL. */
GANET_API ganet_context *ganet_tensor_context(const ganet_tensor *tensor);

/**
 * @brief Copy values in from a plain row-major (NCHW) buffer.
 *
 * @param tensor the tensor to overwrite.
 * @param src    @p count floats; borrowed for the call only.
 * @param count  must equal ganet_tensor_count().
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_SHAPE when
 *         @p count differs; #GANET_ERR_BACKEND.
 */
GANET_API ganet_status ganet_tensor_copy_from(ganet_tensor *tensor,
                                              const float *src, size_t count);

/**
 * @brief Copy values out into a plain row-major (NCHW) buffer.
 *
 * @param tensor the tensor to read.
 * @param dst    room for @p count floats.
 * @param count  must equal ganet_tensor_count().
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_SHAPE when
 *         @p count differs; #GANET_ERR_BACKEND.
 */
GANET_API ganet_status ganet_tensor_copy_to(const ganet_tensor *tensor,
                                            float *dst, size_t count);

/**
 * @brief Copy the values of one tensor into another of the same shape.
 *
 * Both must belong to the same context.
 *
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_CONTEXT_MISMATCH;
 *         #GANET_ERR_SHAPE when the shapes differ; #GANET_ERR_BACKEND.
 */
GANET_API ganet_status ganet_tensor_copy(ganet_tensor *dst,
                                         const ganet_tensor *src);

/**
 * @brief Set every element to @p value.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER.
 */
GANET_API ganet_status ganet_tensor_fill(ganet_tensor *tensor, float value);

/**
 * @brief Fill with uniform random numbers in [low, high).
 *
 * Draws from the context's generator in plain row-major order, one 32-bit
 * number per element: u = (x >> 8) * 2^-24, value = low + (high - low) * u.
 *
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         unless low <= high and both are finite.
 */
GANET_API ganet_status ganet_tensor_fill_uniform(ganet_tensor *tensor,
                                                 float low, float high);

/**
 * @brief Fill with normal random numbers of a mean and standard deviation.
 *
 * Box-Muller in double precision on pairs of uniform numbers from the
 * context's generator, u1 = ((x1 >> 8) + 1) * 2^-24 (never 0) and
 * u2 = (x2 >> 8) * 2^-24: r = sqrt(-2 ln u1), the pair is
 * (r cos 2 pi u2, r sin 2 pi u2), written in row-major order; an odd count
 * drops the last sine.
 *
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         unless std >= 0 and both are finite.
 */
GANET_API ganet_status ganet_tensor_fill_normal(ganet_tensor *tensor,
                                                float mean, float std);

/**
 * @brief Give the tensor a new shape with the same element count.
 *
 * The row-major order of the values is kept.
 *
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for a bad rank or dim; #GANET_ERR_SHAPE when the count differs;
 *         #GANET_ERR_BACKEND.
 */
GANET_API ganet_status ganet_tensor_reshape(ganet_tensor *tensor, int rank,
                                            const int64_t *dims);

/**
 * @brief Write a one-line summary: shape, min, max, mean.
 *
 * For example "tensor [64, 1, 32, 32] min -0.998 max 1 mean 0.0123".
 * The line is truncated to fit and always NUL-terminated.
 *
 * @param tensor the tensor.
 * @param buf    the caller's buffer.
 * @param size   its size in bytes, at least 1.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for @p size 0; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_tensor_summary(const ganet_tensor *tensor,
                                            char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
