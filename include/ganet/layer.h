/**
 * @file layer.h
 * @brief Layers: one handle type for every kind, and for models made of
 *        layers.
 *
 * Every layer computes what its `torch.nn` namesake computes, with the same
 * options and defaults. A ::ganet_layer is made by the constructor of its
 * kind (conv.h, batchnorm.h, activation.h, sequential.h) and used through
 * the functions here.
 *
 * Forward and backward: there is no tape. ganet_layer_forward() reads a
 * source tensor and returns the layer's own output tensor;
 * ganet_layer_backward() takes the gradient of that output and returns the
 * gradient of the source, and adds (never overwrites) into the gradients of
 * the parameters. Running a model twice, as a DC-GAN discriminator does on
 * a real and a fake batch, is forward, backward, forward, backward; the
 * parameter gradients hold the sum until ganet_layer_zero_grad().
 *
 * The source of a forward pass is borrowed: it must stay alive and
 * unchanged until the backward pass that follows it. Tensors returned by
 * forward and backward are owned by the layer and stay valid until the next
 * forward (or backward) of the same layer or its destruction. An
 * activation or batch norm set in place (ganet_layer_set_inplace()) inside
 * a Sequential overwrites its neighbours' tensors instead, never the
 * caller's.
 *
 * A layer creates its oneDNN primitives the first time it meets an input
 * shape and reuses them while the shape stays the same; a steady training
 * loop creates no primitive and allocates no memory.
 *
 * Thread safety: as its context (one thread at a time).
 */
#ifndef GANET_LAYER_H
#define GANET_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ganet/context.h>
#include <ganet/export.h>
#include <ganet/status.h>
#include <ganet/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Opaque layer handle; see layer.h. */
typedef struct ganet_layer ganet_layer;

/** @brief Whether a forward pass trains or infers. */
typedef enum ganet_mode {
    /** BatchNorm normalises with its running statistics. */
    GANET_MODE_INFERENCE = 0,
    /** BatchNorm normalises with the batch's statistics and updates the
     *  running ones. */
    GANET_MODE_TRAINING = 1,
} ganet_mode;

/** @brief Weight initialisation schemes for ganet_layer_init(). */
typedef enum ganet_init {
    /**
     * PyTorch's default, applied by every constructor: convolution weights
     * and biases uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming
     * uniform with a = sqrt(5)), where fan_in = C_in*kH*kW for Conv2d and
     * C_out*kH*kW for ConvTranspose2d, as PyTorch computes it from the
     * weight's second dimension; BatchNorm weight 1, bias 0.
     */
    GANET_INIT_PYTORCH = 0,
    /**
     * The DC-GAN paper's: convolution weights N(0, 0.02), biases 0;
     * BatchNorm weight N(1, 0.02), bias 0.
     */
    GANET_INIT_DCGAN = 1,
} ganet_init;

/**
 * @brief Destroy a layer and everything it owns. Accepts NULL.
 *
 * Do not destroy a layer that was added to a Sequential: the Sequential
 * owns it. Tensors returned by the layer become invalid.
 */
GANET_API void ganet_layer_destroy(ganet_layer *layer);

/**
 * @brief Return the kind's PyTorch name, e.g. "Conv2d", "Sequential".
 * @return a static string; "" for NULL.
 */
GANET_API const char *ganet_layer_kind(const ganet_layer *layer);

/**
 * @brief Run the forward pass.
 *
 * Shapes: src is (N, C_in, H, W); the output shape follows from the kind
 * (see ganet_layer_output_shape()).
 *
 * @param[in]  layer the layer.
 * @param[in]  src   the source, same context; borrowed until the backward
 *                   pass that follows (see layer.h).
 * @param[in]  mode  #GANET_MODE_TRAINING or #GANET_MODE_INFERENCE.
 * @param[out] dst   the output, owned by the layer, valid until the
 *                   layer's next forward or backward or its destruction;
 *                   NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_CONTEXT_MISMATCH;
 *         #GANET_ERR_SHAPE when src is not rank 4, has the wrong channel
 *         count or is too small for the kernel; #GANET_ERR_INVALID_ARGUMENT
 *         for an unknown mode; #GANET_ERR_UNIMPLEMENTED; #GANET_ERR_BACKEND.
 *         On failure the layer is unchanged.
 */
GANET_API ganet_status ganet_layer_forward(ganet_layer *layer,
                                           const ganet_tensor *src,
                                           ganet_mode mode,
                                           const ganet_tensor **dst);

/**
 * @brief Run the backward pass of the last forward pass.
 *
 * Adds the gradients of the parameters into their gradient tensors.
 *
 * @param[in]  layer    the layer.
 * @param[in]  diff_dst gradient of the loss with respect to the output of
 *                      the last forward pass; same shape as that output.
 * @param[out] diff_src gradient with respect to the source, owned by the
 *                      layer (valid as for forward); pass NULL when nobody
 *                      needs it, which skips computing it where possible.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_CONTEXT_MISMATCH;
 *         #GANET_ERR_STATE when no forward pass preceded it (running
 *         backward twice adds the parameter gradients twice);
 *         #GANET_ERR_SHAPE when diff_dst's shape
 *         (batch size included) differs from the output's;
 *         #GANET_ERR_BACKEND. On failure the gradients are unchanged.
 */
GANET_API ganet_status ganet_layer_backward(ganet_layer *layer,
                                            const ganet_tensor *diff_dst,
                                            const ganet_tensor **diff_src);

/**
 * @brief Compute the output shape for an input shape, checking it.
 *
 * @param[in]  layer the layer.
 * @param[in]  src_dims (N, C_in, H, W).
 * @param[out] dst_dims the output's 4 dims; untouched on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_SHAPE with a
 *         message naming the layer and the numbers when the shape cannot
 *         work.
 */
GANET_API ganet_status ganet_layer_output_shape(const ganet_layer *layer,
                                                const int64_t *src_dims,
                                                int64_t *dst_dims);

/**
 * @brief Describe the layer for an input shape, with the arithmetic.
 *
 * One line per layer (for a Sequential, per child): its index and kind,
 * options, input and output shape and parameter count; for (transposed)
 * convolutions a second line writes out the output-size arithmetic with
 * the numbers, e.g. `H: (4-1)*2 - 2*1 + 4 + 0 = 8`. A Sequential ends with
 * the total parameter count. The text is truncated to fit @p size and
 * always NUL-terminated.
 *
 * @param layer    the layer.
 * @param src_dims (N, C_in, H, W).
 * @param buf      the caller's buffer.
 * @param size     its size in bytes, at least 1.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for @p size 0; #GANET_ERR_SHAPE when some layer cannot take the
 *         shape it would receive (the text then ends at that layer).
 */
GANET_API ganet_status ganet_layer_summary(const ganet_layer *layer,
                                           const int64_t *src_dims, char *buf,
                                           size_t size);

/**
 * @brief Return the number of learnable parameters (tensors, not values),
 *        or 0 for NULL.
 */
GANET_API int ganet_layer_param_count(const ganet_layer *layer);

/**
 * @brief Return the total number of learnable values, or 0 for NULL.
 */
GANET_API int64_t ganet_layer_param_values(const ganet_layer *layer);

/**
 * @brief Reach a learnable parameter and its gradient by index.
 *
 * Names and layouts are PyTorch's: "weight" (Conv2d (C_out, C_in, kH, kW);
 * ConvTranspose2d (C_in, C_out, kH, kW); BatchNorm (C)), "bias"; in a
 * Sequential the child's index comes first, "0.weight", "3.1.bias". Write a
 * parameter with ganet_tensor_copy_from() to load weights trained
 * elsewhere.
 *
 * @param[in]  layer the layer.
 * @param[in]  index 0 to ganet_layer_param_count() - 1.
 * @param[out] name  borrowed name, valid while the layer lives; may be
 *                   NULL if not wanted.
 * @param[out] value the parameter, owned by the layer; may be NULL.
 * @param[out] grad  its gradient, owned by the layer; may be NULL.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for an index out of range.
 */
GANET_API ganet_status ganet_layer_param(ganet_layer *layer, int index,
                                         const char **name,
                                         ganet_tensor **value,
                                         ganet_tensor **grad);

/**
 * @brief Find a learnable parameter by name (see ganet_layer_param()).
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         when no parameter has that name.
 */
GANET_API ganet_status ganet_layer_find_param(ganet_layer *layer,
                                              const char *name,
                                              ganet_tensor **value,
                                              ganet_tensor **grad);

/**
 * @brief Return the number of non-learnable state tensors (BatchNorm's
 *        running statistics), or 0 for NULL.
 */
GANET_API int ganet_layer_buffer_count(const ganet_layer *layer);

/**
 * @brief Reach a state tensor by index: "running_mean", "running_var"
 *        (prefixed by the child's index in a Sequential).
 *
 * @param[in]  layer the layer.
 * @param[in]  index 0 to ganet_layer_buffer_count() - 1.
 * @param[out] name  borrowed name, valid while the layer lives; may be NULL.
 * @param[out] value the tensor, owned by the layer; may be NULL.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT.
 */
GANET_API ganet_status ganet_layer_buffer(ganet_layer *layer, int index,
                                          const char **name,
                                          ganet_tensor **value);

/**
 * @brief Set every parameter gradient to zero.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER.
 */
GANET_API ganet_status ganet_layer_zero_grad(ganet_layer *layer);

/**
 * @brief Re-initialise the parameters from the context's generator.
 *
 * Also resets BatchNorm's running statistics (mean 0, variance 1).
 *
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for an unknown scheme.
 */
GANET_API ganet_status ganet_layer_init(ganet_layer *layer, ganet_init init);

/**
 * @brief Say whether backward computes the gradients of the layer's
 *        parameters, as PyTorch's `requires_grad_()`.
 *
 * With false, ganet_layer_backward() leaves the parameter gradients as
 * they are and skips the work where it can: a convolution then runs only
 * its backward pass by data, and not even that when the caller passes a
 * NULL diff_src. The gradient of the source is computed as before, so a
 * frozen model still passes gradients through, as a DC-GAN's
 * discriminator does during the generator's update. A Sequential applies
 * the setting to every layer it holds, recursively; a layer added later
 * keeps its own. Layers are created with true.
 *
 * @param[in] layer         the layer.
 * @param[in] requires_grad true to accumulate parameter gradients in
 *                          backward, false to skip them.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER.
 */
GANET_API ganet_status ganet_layer_set_requires_grad(ganet_layer *layer,
                                                     bool requires_grad);

/**
 * @brief Return whether backward computes the layer's parameter
 *        gradients (see ganet_layer_set_requires_grad()); false for NULL.
 */
GANET_API bool ganet_layer_get_requires_grad(const ganet_layer *layer);

/**
 * @brief Let an activation or a batch norm write its results over its
 *        inputs, as PyTorch's `inplace=True`, to save the memory of its
 *        output and gradient.
 *
 * ReLU, LeakyReLU, Tanh and Sigmoid accept it for both passes (their
 * backward reads only their output). BatchNorm2d accepts it for backward
 * only: its backward reads its source, so its forward always writes an
 * output of its own. An in-place layer takes effect only as a child of a
 * Sequential, which decides at every pass whether overwriting is safe:
 *
 * - forward writes the output over the source only when the child before
 *   it is a Conv2d, ConvTranspose2d or BatchNorm2d, whose backward does not
 *   read its output; never for the first child, whose source is the
 *   caller's, nor after an activation, whose backward reads its output,
 *   nor after a nested Sequential;
 * - backward writes diff_src over diff_dst only when the child after it is
 *   a layer other than a nested Sequential: diff_dst is then that child's
 *   diff_src, which it never reads again; never for the last child, whose
 *   diff_dst is the caller's, nor before a nested Sequential.
 *
 * Where it is not safe the layer computes into its own tensors, as without
 * the setting; a layer used on its own never overwrites the caller's
 * tensors. An in-place ReLU right after a BatchNorm2d, with another layer
 * (not a nested Sequential) after it, goes one step further: the
 * BatchNorm applies the ReLU as part of its own pass (oneDNN's
 * fuse_norm_relu, with a mask of the negative outputs kept for backward)
 * and the ReLU passes its input and its gradient on untouched. The values
 * computed are the same bit for bit in every case. When
 * it does overwrite, the tensor returned by forward is the previous
 * child's output tensor, now holding this layer's output, and that of
 * backward is the next child's diff_src, now holding this layer's: the
 * previous child's output no longer holds its own values, which
 * ganet_layer_find_nonfinite() then reports as they are. The rules of
 * layer.h hold for the Sequential as a whole. Layers are created with
 * false.
 *
 * @param[in] layer   the layer.
 * @param[in] inplace true to let the layer overwrite its inputs where the
 *                    Sequential holding it allows, false never to.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_UNIMPLEMENTED for
 *         any other kind, a Sequential included (set its children instead).
 */
GANET_API ganet_status ganet_layer_set_inplace(ganet_layer *layer,
                                               bool inplace);

/**
 * @brief Return whether the layer is set in place (see
 *        ganet_layer_set_inplace()); false for NULL.
 */
GANET_API bool ganet_layer_get_inplace(const ganet_layer *layer);

/**
 * @brief Return the context the layer belongs to (borrowed), or NULL.
 */
GANET_API ganet_context *ganet_layer_context(const ganet_layer *layer);

/**
 * @brief Find the first NaN or infinity in a layer's parameters, its
 *        last outputs, then its parameters' gradients.
 *
 * Parameters are searched in order ("0.weight", "1.weight", ...), then the
 * output of each layer's last successful forward pass in the order they
 * were computed (in a Sequential, child by child), then the gradients in
 * the order the backward pass writes them (last layer first), so the
 * answer names where a bad value appeared first. Use it after a call
 * failed with #GANET_ERR_NUMERIC to learn which layer produced the value.
 *
 * @param[in]  layer the layer.
 * @param[out] where the caller's buffer: "" when every value is finite,
 *                   otherwise e.g. "3.weight: NaN at index 17",
 *                   "output of 4 BatchNorm2d: inf at index 0" or
 *                   "gradient of 0.weight: inf at index 2"; truncated to
 *                   fit and always NUL-terminated.
 * @param      size  the buffer's size in bytes, at least 1.
 * @return #GANET_OK (whether or not a value was found);
 *         #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT for
 *         @p size 0; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_layer_find_nonfinite(const ganet_layer *layer,
                                                  char *where, size_t size);

#ifdef __cplusplus
}
#endif

#endif
