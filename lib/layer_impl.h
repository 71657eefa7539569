/*
 * What every layer kind shares: the handle's common part, the operations a
 * kind provides, and helpers for parameters. A kind's own struct starts
 * with a struct ganet_layer, so a ganet_layer * converts to it.
 */
#ifndef GANET_LAYER_IMPL_H
#define GANET_LAYER_IMPL_H

#include "ganet/layer.h"
#include "internal.h"

/* A named tensor of a layer: a parameter (with a gradient) or a buffer
 * (grad NULL). The names are owned by the layer listing them; the tensors
 * by the kind that created them. */
typedef struct ganet__param {
    char *name;
    ganet_tensor *value;
    ganet_tensor *grad;
} ganet__param;

typedef struct ganet__layer_ops {
    const char *kind;
    /* Check an input shape and derive the output shape; the message of a
     * failure names the layer and the numbers. */
    ganet_status (*output_shape)(const ganet_layer *l, const int64_t *src,
                                 int64_t *dst);
    /* src has been checked: rank 4, same context, a shape output_shape
     * accepts. */
    ganet_status (*forward)(ganet_layer *l, const ganet_tensor *src,
                            ganet_mode mode, const ganet_tensor **dst);
    /* diff_dst has been checked against the last forward's output;
     * diff_src is NULL when nobody needs it. */
    ganet_status (*backward)(ganet_layer *l, const ganet_tensor *diff_dst,
                             const ganet_tensor **diff_src);
    /* Write the options (one line, no newline) and, when there is any,
     * output-size arithmetic as further indented lines. */
    void (*describe)(const ganet_layer *l, const int64_t *src,
                     const int64_t *dst, char *buf, size_t size);
    ganet_status (*init)(ganet_layer *l, ganet_init init);
    /* Free the kind's own state; the common part is freed after. */
    void (*destroy)(ganet_layer *l);
    /* Whether ganet_layer_set_inplace() accepts the kind. */
    bool can_inplace;
    /* Whether the forward output is a tensor of the layer's own that its
     * backward does not read, so that an in-place activation after it in
     * a Sequential may overwrite it. */
    bool lends_outputs;
    /* Whether the diff_src of backward is never the caller's diff_dst and
     * never read again by the layer, so that an in-place layer before it
     * in a Sequential may overwrite it. */
    bool lends_diff_src;
    /* Whether the kind can apply a ReLU to its output itself (and mask its
     * backward with it), and whether the kind is that ReLU: a Sequential
     * fuses the two. */
    bool absorbs_relu, is_relu;
} ganet__layer_ops;

/* The function members of a kind whose file names its functions after
 * them, for its ops table: {.kind = "ReLU", GANET__LAYER_FUNCTIONS, ...}. */
#define GANET__LAYER_FUNCTIONS                                                 \
    .output_shape = output_shape, .forward = forward, .backward = backward,    \
    .describe = describe, .init = init, .destroy = destroy

struct ganet_layer {
    const ganet__layer_ops *ops;
    ganet_context *ctx;
    /* Set once the layer was added to a Sequential, which then owns it. */
    bool has_owner;
    ganet__param *params;
    int nparams;
    ganet__param *buffers;
    int nbuffers;
    /* The output shape of the last successful forward pass; backward is
     * refused until there is one. */
    bool has_forward;
    int64_t dst_dims[4];
    /* The output of the last successful forward pass, owned by the kind;
     * NULL before one and while a forward pass runs. */
    const ganet_tensor *last_dst;
    /* False when backward should leave the parameter gradients alone
     * (and skip computing them where it can). */
    bool requires_grad;
    /* Asked for with ganet_layer_set_inplace(). */
    bool inplace;
    /* Set by the Sequential holding the layer for the length of one call:
     * the forward source, or the backward diff_dst, may be overwritten. */
    bool may_overwrite_src, may_overwrite_diff_dst;
    /* Set by the Sequential for one forward call: this layer applies the
     * ReLU after it (absorbs_relu), or this ReLU's input already went
     * through it (is_relu). */
    bool relu_fused;
};

/* Fill the common part of a new layer. */
void ganet__layer_init_base(ganet_layer *l, const ganet__layer_ops *ops,
                            ganet_context *ctx);

/* Append a named tensor to the parameter (grad != NULL) or buffer list;
 * the name is copied. */
ganet_status ganet__layer_add_tensor(ganet_layer *l, const char *name,
                                     ganet_tensor *value, ganet_tensor *grad);

/* Free the common part (names and lists, not the tensors). */
void ganet__layer_free_base(ganet_layer *l);

/* dst += src, element by element; both plain with the same count. */
void ganet__accumulate(ganet_tensor *dst, const ganet_tensor *src);

/* Create (or keep, when the shape is the same) a layer-owned tensor. */
ganet_status ganet__tensor_ensure(ganet_context *ctx, ganet_tensor **t,
                                  const int64_t *dims);

/* snprintf that appends at *used and never overruns size. */
void ganet__appendf(char *buf, size_t size, size_t *used, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#endif
