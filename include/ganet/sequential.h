/**
 * @file sequential.h
 * @brief Sequential: a layer made of layers, run one after another.
 *
 * A Sequential is itself a ::ganet_layer, so a whole generator or
 * discriminator is one handle: forward runs the children in order,
 * backward in reverse, and parameters are named by child index as PyTorch
 * names them ("0.weight", "1.running_mean").
 */
#ifndef GANET_SEQUENTIAL_H
#define GANET_SEQUENTIAL_H

#include <ganet/context.h>
#include <ganet/export.h>
#include <ganet/layer.h>
#include <ganet/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Create an empty Sequential.
 * @param[in]  ctx the context.
 * @param[out] out the new layer, owned by the caller; NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_sequential_create(
        ganet_context *ctx, ganet_layer **out);

/**
 * @brief Append a layer; the Sequential takes ownership on success.
 *
 * On failure the caller still owns @p child. A layer can belong to one
 * Sequential only, and a Sequential cannot be added to itself.
 *
 * @param seq   the Sequential.
 * @param child the layer to append, of the same context.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         when @p seq is not a Sequential, @p child already has an owner or
 *         is @p seq; #GANET_ERR_CONTEXT_MISMATCH; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_sequential_add(
        ganet_layer *seq, ganet_layer *child);

/**
 * @brief Return the number of children, or 0 for NULL or a non-Sequential.
 */
GANET_API int ganet_sequential_count(const ganet_layer *seq);

/**
 * @brief Return a child by index (borrowed, owned by the Sequential), or
 *        NULL for a bad index or a non-Sequential.
 */
GANET_API ganet_layer *ganet_sequential_child(const ganet_layer *seq, int index);

#ifdef __cplusplus
}
#endif

#endif
