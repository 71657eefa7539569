/**
 * @file loss.h
 * @brief Losses: BCELoss, BCEWithLogitsLoss and MSELoss.
 *
 * A loss compares an input tensor with a target of the same shape and
 * returns one number; its backward pass returns the gradient of that
 * number with respect to the input, which is what a model's
 * ganet_layer_backward() takes as diff_dst. For n elements x_i with
 * targets t_i, each kind computes per element:
 *
 * - #GANET_LOSS_BCE, PyTorch's `BCELoss`, on probabilities x in [0, 1]:
 *   l = -(t * max(log x, -100) + (1 - t) * max(log(1 - x), -100)).
 *   Clamping the logarithms at -100 keeps the loss finite at x = 0 or 1:
 *   a wrong answer costs 100, a right one 0. The gradient is
 *   (x - t) / max((1 - x) * x, 1e-12), finite but as large as 1e12 there.
 * - #GANET_LOSS_BCE_WITH_LOGITS, PyTorch's `BCEWithLogitsLoss`, on logits
 *   x of any finite size: l = max(x, 0) - x * t + log(1 + exp(-|x|)),
 *   a form that never overflows; the gradient is sigmoid(x) - t.
 * - #GANET_LOSS_MSE, PyTorch's `MSELoss`: l = (x - t)^2; the gradient is
 *   2 (x - t).
 *
 * #GANET_REDUCTION_MEAN returns the mean of the l_i and divides each
 * gradient by n; #GANET_REDUCTION_SUM returns their sum. The sum is
 * accumulated in double precision and returned as a float. The gradient
 * is computed in float with PyTorch 1.13's formulas, so it matches
 * PyTorch's to the last bit or two.
 *
 * The loss is computed on the host: it reads the input's values into a
 * buffer it owns (whatever layout the input is kept in inside) and keeps
 * them, with the target's, for the backward pass. The input and target
 * are therefore borrowed for the forward call only. The buffers are
 * allocated the first time the loss meets an element count and reused
 * while the count stays the same; the gradient tensor is created the
 * first time backward meets a shape. A steady training loop allocates
 * nothing.
 *
 * Thread safety: as its context (one thread at a time).
 *
 * Destroy order: destroy the loss before its context.
 */
#ifndef GANET_LOSS_H
#define GANET_LOSS_H

#include <ganet/context.h>
#include <ganet/export.h>
#include <ganet/status.h>
#include <ganet/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Opaque loss handle; see loss.h. */
typedef struct ganet_loss ganet_loss;

/** @brief What a loss computes; see loss.h for the formulas. */
typedef enum ganet_loss_kind {
    /** Binary cross-entropy on probabilities, PyTorch's `BCELoss`. */
    GANET_LOSS_BCE = 0,
    /** Binary cross-entropy on logits, PyTorch's `BCEWithLogitsLoss`. */
    GANET_LOSS_BCE_WITH_LOGITS = 1,
    /** Mean squared error, PyTorch's `MSELoss`. */
    GANET_LOSS_MSE = 2,
} ganet_loss_kind;

/** @brief How the per-element losses become one number. */
typedef enum ganet_reduction {
    /** Their mean, PyTorch's default `reduction='mean'`. */
    GANET_REDUCTION_MEAN = 0,
    /** Their sum, PyTorch's `reduction='sum'`. */
    GANET_REDUCTION_SUM = 1,
} ganet_reduction;

/**
 * @brief Create a loss.
 *
 * @param[in]  ctx       the context.
 * @param[in]  kind      what the loss computes.
 * @param[in]  reduction mean or sum.
 * @param[out] out       the new loss, owned by the caller, freed with
 *                       ganet_loss_destroy(); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for an unknown kind or reduction; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_loss_create(ganet_context *ctx,
                                         ganet_loss_kind kind,
                                         ganet_reduction reduction,
                                         ganet_loss **out);

/**
 * @brief Destroy a loss and the gradient tensor it owns. Accepts NULL.
 */
GANET_API void ganet_loss_destroy(ganet_loss *loss);

/**
 * @brief Compute the loss of an input against a target tensor.
 *
 * Shapes: input and target have the same shape, any rank (for a DC-GAN
 * discriminator, (N, 1, 1, 1)).
 *
 * @param[in]  loss   the loss.
 * @param[in]  input  probabilities in [0, 1] for #GANET_LOSS_BCE, logits
 *                    or values otherwise; same context as @p loss;
 *                    borrowed for the call only.
 * @param[in]  target same shape and context; for #GANET_LOSS_BCE every
 *                    element in [0, 1]; borrowed for the call only.
 * @param[out] value  the loss; 0 on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER;
 *         #GANET_ERR_CONTEXT_MISMATCH when the tensors and the loss do not
 *         share a context; #GANET_ERR_SHAPE when the shapes differ (the
 *         message gives both); #GANET_ERR_INVALID_ARGUMENT for a BCE input
 *         element outside [0, 1] or a target element outside [0, 1] or
 *         NaN (the message gives the first one's index and value);
 *         #GANET_ERR_NUMERIC for a NaN BCE input element, and when the
 *         loss is NaN or infinite (in float); #GANET_ERR_OUT_OF_MEMORY;
 *         #GANET_ERR_BACKEND. On failure the loss keeps the state of its
 *         last successful forward pass.
 */
GANET_API ganet_status ganet_loss_forward(ganet_loss *loss,
                                          const ganet_tensor *input,
                                          const ganet_tensor *target,
                                          float *value);

/**
 * @brief Compute the loss of an input against one target for every
 *        element.
 *
 * The same as ganet_loss_forward() with a target tensor filled with
 * @p target: 1 for real images, 0 for fake ones, 0.9 for one-sided label
 * smoothing.
 *
 * @param[in]  loss   the loss.
 * @param[in]  input  as for ganet_loss_forward().
 * @param[in]  target finite; in [0, 1] for #GANET_LOSS_BCE.
 * @param[out] value  the loss; 0 on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER;
 *         #GANET_ERR_CONTEXT_MISMATCH; #GANET_ERR_INVALID_ARGUMENT for a
 *         non-finite target, a BCE target outside [0, 1] or a BCE input
 *         element outside [0, 1]; #GANET_ERR_NUMERIC for a NaN BCE input
 *         element, and when the loss is NaN or infinite;
 * #GANET_ERR_OUT_OF_MEMORY; #GANET_ERR_BACKEND. On failure the loss keeps the
 * state of its last successful forward pass.
 */
GANET_API ganet_status ganet_loss_forward_constant(ganet_loss *loss,
                                                   const ganet_tensor *input,
                                                   float target, float *value);

/**
 * @brief Compute the gradient of the last forward pass's loss with
 *        respect to its input.
 *
 * The gradient is that of the returned loss itself (a grad_output of 1),
 * so the mean divides by the element count. Calling it twice returns the
 * same values.
 *
 * @param[in]  loss       the loss.
 * @param[out] diff_input the gradient, same shape as the last input,
 *                        plain layout; owned by the loss, valid until its
 *                        next forward or backward call or its
 *                        destruction; NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_STATE when no
 *         forward pass succeeded yet; #GANET_ERR_OUT_OF_MEMORY;
 *         #GANET_ERR_BACKEND.
 */
GANET_API ganet_status ganet_loss_backward(ganet_loss *loss,
                                           const ganet_tensor **diff_input);

#ifdef __cplusplus
}
#endif

#endif
