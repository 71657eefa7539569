/**
 * @file optimizer.h
 * @brief Optimizers: Adam and SGD, as PyTorch 1.13 computes them.
 *
 * An optimizer updates the learnable parameters of one layer (usually a
 * whole Sequential model) from the gradients its backward passes left in
 * them. A training step is:
 *
 *     ganet_optimizer_zero_grad(opt);
 *     forward, loss, loss backward, model backward;
 *     ganet_optimizer_step(opt);
 *
 * Each step mirrors the single-tensor implementation of `torch.optim.Adam`
 * and `torch.optim.SGD` in PyTorch 1.13, operation by operation (see
 * ganet_adam_create() and ganet_sgd_create() for the formulas). The tensor
 * arithmetic is float32, with a multiply-add rounded once (as PyTorch's
 * CPU kernels do on processors with FMA) so the results are the same on
 * every machine; the scalar factors (bias corrections, step size) are
 * computed in double as Python computes them. The float hyper-parameters
 * are widened to double through their shortest decimal form, so 0.9f
 * counts as Python's 0.9. A step runs on the context's threads, and Adam
 * eight values at a time where the CPU has AVX2 and FMA; each value goes
 * through the same roundings either way, so the bits do not depend on
 * either (the environment variable GANET_NO_AVX2, read when an optimizer
 * is created, turns the eight-wide kernel off, to compare).
 *
 * State: Adam keeps "exp_avg" and "exp_avg_sq" per parameter (and
 * "max_exp_avg_sq" with AMSGrad); SGD with momentum keeps
 * "momentum_buffer". The state tensors are created, zero-filled, when the
 * optimizer is created, so they can be restored before the first step and
 * a training loop allocates nothing. Where PyTorch creates a state on the
 * first step, the step count plays its part: with a step count of 0, SGD
 * starts the momentum buffer from the gradient, as PyTorch does when it
 * has none. To resume training, write the state tensors (see
 * ganet_optimizer_state()) and set the step count.
 *
 * Ownership: the optimizer borrows the layer. It lists the layer's
 * parameters when it is created and only ever changes those, so add
 * nothing to a Sequential after creating its optimizer. Destroy the
 * optimizer before the layer.
 *
 * Thread safety: as its context (one thread at a time).
 */
#ifndef GANET_OPTIMIZER_H
#define GANET_OPTIMIZER_H

#include <stdbool.h>
#include <stdint.h>

#include <ganet/export.h>
#include <ganet/layer.h>
#include <ganet/status.h>
#include <ganet/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Opaque optimizer handle; see optimizer.h. */
typedef struct ganet_optimizer ganet_optimizer;

/**
 * @brief Options of Adam, with PyTorch's names and defaults.
 *
 * Start from #GANET_ADAM_OPTIONS_DEFAULT; DC-GAN uses lr 2e-4 and
 * beta1 0.5.
 */
typedef struct ganet_adam_options {
    /** Learning rate, finite and >= 0; default 1e-3. */
    float lr;
    /** Decay of the gradient's running mean, in [0, 1); default 0.9. */
    float beta1;
    /** Decay of the squared gradient's running mean, in [0, 1); default
     *  0.999. */
    float beta2;
    /** Added to the denominator, finite and > 0; default 1e-8. */
    float eps;
    /** L2 penalty added to the gradient (not AdamW's decoupled decay),
     *  finite and >= 0; default 0. */
    float weight_decay;
    /** Use the running maximum of the squared gradient's mean (AMSGrad);
     *  default false. */
    bool amsgrad;
} ganet_adam_options;

/** @brief Default Adam options: PyTorch's. */
#define GANET_ADAM_OPTIONS_DEFAULT                                             \
    {                                                                          \
        .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,             \
        .weight_decay = 0.0f, .amsgrad = false                                 \
    }

/**
 * @brief Options of SGD, with PyTorch's names.
 *
 * Start from #GANET_SGD_OPTIONS_DEFAULT. PyTorch has no default learning
 * rate; this one is 1e-2.
 */
typedef struct ganet_sgd_options {
    /** Learning rate, finite and >= 0; default 1e-2. */
    float lr;
    /** Momentum factor, finite and >= 0; 0 (the default) means none. */
    float momentum;
    /** Dampening of the momentum, in [0, 1]; default 0. */
    float dampening;
    /** L2 penalty added to the gradient, finite and >= 0; default 0. */
    float weight_decay;
    /** Nesterov momentum; needs momentum > 0 and dampening 0; default
     *  false. */
    bool nesterov;
} ganet_sgd_options;

/** @brief Default SGD options: lr 1e-2, no momentum, no weight decay. */
#define GANET_SGD_OPTIONS_DEFAULT                                              \
    {                                                                          \
        .lr = 1e-2f, .momentum = 0.0f, .dampening = 0.0f,                      \
        .weight_decay = 0.0f, .nesterov = false                                \
    }

/**
 * @brief Create an Adam optimizer for a layer's parameters.
 *
 * At step t (counted from 1), for each parameter p with gradient g:
 *
 *     g = g + weight_decay * p                 (when weight_decay != 0)
 *     m = beta1 * m + (1 - beta1) * g
 *     v = beta2 * v + (1 - beta2) * g * g
 *     v_max = max(v_max, v)                    (AMSGrad only)
 *     denom = sqrt(v or v_max) / sqrt(1 - beta2^t) + eps
 *     p = p - lr / (1 - beta1^t) * m / denom
 *
 * @param[in]  layer   the layer whose parameters to update; borrowed, it
 *                     must outlive the optimizer.
 * @param[in]  options the options, or NULL for
 *                     #GANET_ADAM_OPTIONS_DEFAULT; copied.
 * @param[out] out     the new optimizer, owned by the caller, freed with
 *                     ganet_optimizer_destroy(); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         naming the first option out of range, or when the layer has no
 *         parameters (as PyTorch refuses an empty parameter list);
 *         #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_adam_create(ganet_layer *layer,
                                         const ganet_adam_options *options,
                                         ganet_optimizer **out);

/**
 * @brief Create an SGD optimizer for a layer's parameters.
 *
 * For each parameter p with gradient g:
 *
 *     d = g + weight_decay * p                 (when weight_decay != 0)
 *     when momentum != 0:
 *         b = d                                (at step count 0)
 *         b = momentum * b + (1 - dampening) * d   (after)
 *         d = nesterov ? d + momentum * b : b
 *     p = p - lr * d
 *
 * @param[in]  layer   the layer whose parameters to update; borrowed, it
 *                     must outlive the optimizer.
 * @param[in]  options the options, or NULL for #GANET_SGD_OPTIONS_DEFAULT;
 *                     copied.
 * @param[out] out     the new optimizer, owned by the caller, freed with
 *                     ganet_optimizer_destroy(); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         naming the first option out of range (Nesterov without momentum
 *         or with dampening is refused, as in PyTorch), or when the layer
 *         has no parameters; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_sgd_create(ganet_layer *layer,
                                        const ganet_sgd_options *options,
                                        ganet_optimizer **out);

/**
 * @brief Destroy an optimizer and its state tensors. Accepts NULL.
 *
 * The layer is not touched.
 */
GANET_API void ganet_optimizer_destroy(ganet_optimizer *opt);

/**
 * @brief Set the gradients of the optimizer's parameters to zero.
 *
 * @param opt the optimizer.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_BACKEND.
 */
GANET_API ganet_status ganet_optimizer_zero_grad(ganet_optimizer *opt);

/**
 * @brief Update the parameters from their gradients, and count a step.
 *
 * Every gradient is checked before any parameter changes.
 *
 * @param opt the optimizer.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_NUMERIC when a
 *         gradient holds a NaN or an infinity (the message names the
 *         parameter, e.g. "0.weight", and the element); then no
 *         parameter, state or step count changes; #GANET_ERR_OVERFLOW
 *         when the step count would overflow; #GANET_ERR_BACKEND.
 */
GANET_API ganet_status ganet_optimizer_step(ganet_optimizer *opt);

/**
 * @brief Change the learning rate, e.g. for a schedule.
 *
 * @param opt the optimizer.
 * @param lr  finite and >= 0.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT.
 */
GANET_API ganet_status ganet_optimizer_set_lr(ganet_optimizer *opt, float lr);

/** @brief Return the learning rate, or 0 for NULL. */
GANET_API float ganet_optimizer_get_lr(const ganet_optimizer *opt);

/**
 * @brief Return the number of steps taken (or set), or 0 for NULL.
 *
 * Adam's bias correction uses it: step t is the (count + 1)-th.
 */
GANET_API int64_t ganet_optimizer_get_step_count(const ganet_optimizer *opt);

/**
 * @brief Set the step count, to resume training from saved state.
 *
 * @param opt   the optimizer.
 * @param steps the steps already taken, >= 0.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for a negative count.
 */
GANET_API ganet_status ganet_optimizer_set_step_count(ganet_optimizer *opt,
                                                      int64_t steps);

/**
 * @brief Return the number of state tensors, or 0 for NULL.
 *
 * Adam has 2 per parameter (3 with AMSGrad), SGD 1 with momentum and 0
 * without.
 */
GANET_API int ganet_optimizer_state_count(const ganet_optimizer *opt);

/**
 * @brief Reach a state tensor by index, to save or restore it.
 *
 * The states of parameter 0 come first, in the order of optimizer.h; the
 * names join the parameter's name and the state's PyTorch name:
 * "0.weight.exp_avg", "0.weight.exp_avg_sq", "0.weight.max_exp_avg_sq",
 * "0.weight.momentum_buffer". Each has its parameter's shape. Write one
 * with ganet_tensor_copy_from() to restore it.
 *
 * @param[in]  opt   the optimizer.
 * @param[in]  index 0 to ganet_optimizer_state_count() - 1.
 * @param[out] name  the name, owned by the optimizer and valid while it
 *                   lives; may be NULL if not wanted.
 * @param[out] value the tensor, owned by the optimizer and valid while it
 *                   lives; may be NULL if not wanted.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for an index out of range.
 */
GANET_API ganet_status ganet_optimizer_state(ganet_optimizer *opt, int index,
                                             const char **name,
                                             ganet_tensor **value);

#ifdef __cplusplus
}
#endif

#endif
