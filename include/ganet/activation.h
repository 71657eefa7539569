/**
 * @file activation.h
 * @brief Element-wise activations: ReLU, LeakyReLU, Tanh, Sigmoid.
 *
 * They have no parameters and keep the input's shape. Gradients are
 * PyTorch's, including at the kink: ReLU's and LeakyReLU's derivative at
 * exactly 0 is that of the negative side.
 *
 * Inside a Sequential they can run in place, as PyTorch's `inplace=True`,
 * writing their output over the previous layer's and their gradient over
 * the next layer's: see ganet_layer_set_inplace() for when that applies.
 * The layer's own output and gradient tensors are then not allocated.
 *
 * Thread safety: as its context (one thread at a time).
 */
#ifndef GANET_ACTIVATION_H
#define GANET_ACTIVATION_H

#include <ganet/context.h>
#include <ganet/export.h>
#include <ganet/layer.h>
#include <ganet/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief PyTorch's default LeakyReLU slope; DC-GAN uses 0.2. */
#define GANET_LEAKY_RELU_DEFAULT_SLOPE 0.01f

/**
 * @brief Create a ReLU layer: max(x, 0).
 * @param[in]  ctx the context.
 * @param[out] out the new layer, owned by the caller; NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_relu_create(ganet_context *ctx, ganet_layer **out);

/**
 * @brief Create a LeakyReLU layer: x for x > 0, slope * x otherwise.
 * @param[in]  ctx   the context.
 * @param[in]  slope the negative slope, finite and >= 0.
 * @param[out] out   the new layer, owned by the caller; NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for a negative or non-finite slope; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_leaky_relu_create(ganet_context *ctx, float slope,
                                               ganet_layer **out);

/**
 * @brief Create a Tanh layer.
 * @param[in]  ctx the context.
 * @param[out] out the new layer, owned by the caller; NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_tanh_create(ganet_context *ctx, ganet_layer **out);

/**
 * @brief Create a Sigmoid layer: 1 / (1 + exp(-x)).
 * @param[in]  ctx the context.
 * @param[out] out the new layer, owned by the caller; NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_sigmoid_create(ganet_context *ctx,
                                            ganet_layer **out);

#ifdef __cplusplus
}
#endif

#endif
