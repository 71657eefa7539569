/**
 * @file sequential.h
 * @brief Sequential: a layer made of layers, run one after another.
 *
 * A Sequential is itself a ::ganet_layer, so a whole generator or
 * discriminator is one handle: forward runs the children in order, each
 * reading the output of the one before; backward runs them in reverse, each
 * taking the source gradient of the one after. ganet_layer_init(),
 * ganet_layer_zero_grad() and ganet_layer_destroy() reach every child.
 *
 * Parameters and buffers are the children's, listed in child order under
 * the names PyTorch gives them: the child's index, a dot, and the child's
 * own name ("0.weight", "1.running_mean", "3.1.bias" for a Sequential
 * inside a Sequential). The tensors are the children's own, so an
 * optimizer made for the Sequential updates every child.
 *
 * An empty Sequential is the identity, as in PyTorch: forward hands back
 * the source tensor itself and backward the output gradient itself.
 *
 * Thread safety: as its context (one thread at a time).
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
GANET_API ganet_status ganet_sequential_create(ganet_context *ctx,
                                               ganet_layer **out);

/**
 * @brief Append a layer; the Sequential takes ownership on success.
 *
 * On success the Sequential owns @p child and destroys it with itself; do
 * not destroy it yourself. On failure nothing changes: a child that had no
 * owner is still the caller's to destroy, and one that belongs to another
 * Sequential stays there.
 *
 * A layer belongs to one Sequential at most, and a Sequential cannot hold
 * itself, directly or through the Sequentials it is in. Layers may be added
 * to a Sequential that is already inside another one; the names of every
 * enclosing Sequential follow. After an add, a backward pass needs a new
 * forward pass first.
 *
 * @param[in,out] seq   the Sequential.
 * @param[in]     child the layer to append, of the same context.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         when @p seq is not a Sequential, @p child already belongs to a
 *         Sequential, or is @p seq or a Sequential that holds @p seq;
 *         #GANET_ERR_CONTEXT_MISMATCH; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_sequential_add(ganet_layer *seq,
                                            ganet_layer *child);

/**
 * @brief Return the number of children, or 0 for NULL or a non-Sequential.
 */
GANET_API int ganet_sequential_count(const ganet_layer *seq);

/**
 * @brief Return a child by index, or NULL for a bad index or a
 *        non-Sequential.
 *
 * The child is borrowed: owned by the Sequential, valid until it is
 * destroyed. Running the child on its own is allowed, but its next forward
 * or backward replaces the outputs the Sequential handed out.
 */
GANET_API ganet_layer *ganet_sequential_child(const ganet_layer *seq,
                                              int index);

#ifdef __cplusplus
}
#endif

#endif
