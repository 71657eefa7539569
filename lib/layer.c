/* The functions every layer kind shares: argument checks, parameters,
 * summaries. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ganet/sequential.h"
#include "layer_impl.h"

void ganet__layer_init_base(ganet_layer *l, const ganet__layer_ops *ops,
                            ganet_context *ctx)
{
    memset(l, 0, sizeof *l);
    l->ops = ops;
    l->ctx = ctx;
    l->requires_grad = true;
}

ganet_status ganet__layer_add_tensor(ganet_layer *l, const char *name,
                                     ganet_tensor *value, ganet_tensor *grad)
{
    ganet__param **list = grad ? &l->params : &l->buffers;
    int *n = grad ? &l->nparams : &l->nbuffers;
    ganet__param *grown = realloc(*list, (size_t)(*n + 1) * sizeof **list);
    GANET__CHECK(grown != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory",
                 l->ops->kind);
    *list = grown;
    size_t len = strlen(name) + 1;
    char *copy = malloc(len);
    GANET__CHECK(copy != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory",
                 l->ops->kind);
    memcpy(copy, name, len);
    grown[(*n)++] = (ganet__param){copy, value, grad};
    return GANET_OK;
}

void ganet__layer_free_base(ganet_layer *l)
{
    for (int i = 0; i < l->nparams; i++)
        free(l->params[i].name);
    for (int i = 0; i < l->nbuffers; i++)
        free(l->buffers[i].name);
    free(l->params);
    free(l->buffers);
}

void ganet__accumulate(ganet_tensor *dst, const ganet_tensor *src)
{
    float *d = ganet__tensor_data(dst);
    const float *s = ganet__tensor_data(src);
    for (int64_t i = 0; i < dst->count; i++)
        d[i] += s[i];
    dst->version++;
}

ganet_status ganet__tensor_ensure(ganet_context *ctx, ganet_tensor **t,
                                  const int64_t *dims)
{
    if (*t && (*t)->rank == 4 &&
        memcmp((*t)->dims, dims, 4 * sizeof *dims) == 0)
        return GANET_OK;
    ganet_tensor *fresh;
    GANET__TRY(ganet_tensor_create(ctx, 4, dims, &fresh));
    ganet_tensor_destroy(*t);
    *t = fresh;
    return GANET_OK;
}

void ganet__appendf(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    if (*used + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}

void ganet_layer_destroy(ganet_layer *layer)
{
    if (layer == NULL)
        return;
    layer->ops->destroy(layer);
    ganet__layer_free_base(layer);
    free(layer);
}

const char *ganet_layer_kind(const ganet_layer *layer)
{
    return layer ? layer->ops->kind : "";
}

ganet_status ganet_layer_set_requires_grad(ganet_layer *layer,
                                           bool requires_grad)
{
    GANET__CHECK_NULL("ganet_layer_set_requires_grad", layer);
    layer->requires_grad = requires_grad;
    int n = ganet_sequential_count(layer);
    for (int i = 0; i < n; i++)
        GANET__TRY(ganet_layer_set_requires_grad(
                ganet_sequential_child(layer, i), requires_grad));
    return GANET_OK;
}

bool ganet_layer_get_requires_grad(const ganet_layer *layer)
{
    return layer ? layer->requires_grad : false;
}

ganet_status ganet_layer_set_inplace(ganet_layer *layer, bool inplace)
{
    static const char fn[] = "ganet_layer_set_inplace";
    GANET__CHECK_NULL(fn, layer);
    GANET__CHECK(layer->ops->can_inplace, GANET_ERR_UNIMPLEMENTED,
                 "%s: a %s cannot run in place; only ReLU, LeakyReLU, Tanh, "
                 "Sigmoid and BatchNorm2d can",
                 fn, layer->ops->kind);
    layer->inplace = inplace;
    return GANET_OK;
}

bool ganet_layer_get_inplace(const ganet_layer *layer)
{
    return layer ? layer->inplace : false;
}

ganet_context *ganet_layer_context(const ganet_layer *layer)
{
    return layer ? layer->ctx : NULL;
}

ganet_status ganet_layer_output_shape(const ganet_layer *layer,
                                      const int64_t *src_dims,
                                      int64_t *dst_dims)
{
    static const char fn[] = "ganet_layer_output_shape";
    GANET__CHECK_NULL(fn, layer);
    GANET__CHECK_NULL(fn, src_dims);
    GANET__CHECK_NULL(fn, dst_dims);
    int64_t count, out[4];
    GANET__TRY(ganet__dims_count(layer->ops->kind, 4, src_dims, &count));
    GANET__TRY(layer->ops->output_shape(layer, src_dims, out));
    memcpy(dst_dims, out, sizeof out);
    return GANET_OK;
}

ganet_status ganet_layer_forward(ganet_layer *layer, const ganet_tensor *src,
                                 ganet_mode mode, const ganet_tensor **dst)
{
    static const char fn[] = "ganet_layer_forward";
    GANET__CHECK_NULL(fn, dst);
    *dst = NULL;
    GANET__CHECK_NULL(fn, layer);
    GANET__CHECK_NULL(fn, src);
    const char *kind = layer->ops->kind;
    GANET__CHECK(src->ctx == layer->ctx, GANET_ERR_CONTEXT_MISMATCH,
                 "%s: the input belongs to another context than the layer",
                 kind);
    GANET__CHECK(mode == GANET_MODE_TRAINING || mode == GANET_MODE_INFERENCE,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: mode %d is neither training "
                 "nor inference",
                 kind, (int)mode);
    GANET__CHECK(src->rank == 4, GANET_ERR_SHAPE,
                 "%s: input has rank %d, expected 4 (N, C, H, W)", kind,
                 src->rank);
    int64_t out[4];
    GANET__TRY(layer->ops->output_shape(layer, src->dims, out));
    const ganet_tensor *result = NULL;
    /* A failed forward pass may free the previous output. */
    layer->last_dst = NULL;
    GANET__TRY(layer->ops->forward(layer, src, mode, &result));
    layer->last_dst = result;
    layer->has_forward = true;
    memcpy(layer->dst_dims, out, sizeof out);
    *dst = result;
    return GANET_OK;
}

ganet_status ganet_layer_backward(ganet_layer *layer,
                                  const ganet_tensor *diff_dst,
                                  const ganet_tensor **diff_src)
{
    static const char fn[] = "ganet_layer_backward";
    if (diff_src)
        *diff_src = NULL;
    GANET__CHECK_NULL(fn, layer);
    GANET__CHECK_NULL(fn, diff_dst);
    const char *kind = layer->ops->kind;
    GANET__CHECK(diff_dst->ctx == layer->ctx, GANET_ERR_CONTEXT_MISMATCH,
                 "%s: the gradient belongs to another context than the layer",
                 kind);
    GANET__CHECK(layer->has_forward, GANET_ERR_STATE,
                 "%s: backward called before any forward pass", kind);
    const int64_t *e = layer->dst_dims, *g = diff_dst->dims;
    GANET__CHECK(diff_dst->rank == 4 && memcmp(e, g, 4 * sizeof *e) == 0,
                 GANET_ERR_SHAPE,
                 "%s: the output gradient has shape [%lld, %lld, %lld, %lld], "
                 "the forward pass produced [%lld, %lld, %lld, %lld]",
                 kind, (long long)ganet_tensor_dim(diff_dst, 0),
                 (long long)ganet_tensor_dim(diff_dst, 1),
                 (long long)ganet_tensor_dim(diff_dst, 2),
                 (long long)ganet_tensor_dim(diff_dst, 3), (long long)e[0],
                 (long long)e[1], (long long)e[2], (long long)e[3]);
    const ganet_tensor *result = NULL;
    GANET__TRY(
            layer->ops->backward(layer, diff_dst, diff_src ? &result : NULL));
    if (diff_src)
        *diff_src = result;
    return GANET_OK;
}

static void append_dims(char *buf, size_t size, size_t *used, const int64_t *d)
{
    ganet__appendf(buf, size, used, "[%lld, %lld, %lld, %lld]", (long long)d[0],
                   (long long)d[1], (long long)d[2], (long long)d[3]);
}

/* One layer's line, "label: describe: [in] -> [out], P parameters", then
 * the further lines of its description indented to the line's depth. */
static ganet_status summarize_leaf(const ganet_layer *l, const char *label,
                                   int depth, const int64_t *src, int64_t *dst,
                                   char *buf, size_t size, size_t *used)
{
    int indent = 2 * depth;
    ganet__appendf(buf, size, used, "%*s%s%s", indent, "", label,
                   *label ? ": " : "");
    ganet_status st = l->ops->output_shape(l, src, dst);
    if (st != GANET_OK) {
        ganet__appendf(buf, size, used, "input ");
        append_dims(buf, size, used, src);
        ganet__appendf(buf, size, used, " fails: %s\n", ganet_last_error());
        return st;
    }
    char text[1024] = "";
    l->ops->describe(l, src, dst, text, sizeof text);
    char *rest = strchr(text, '\n');
    if (rest)
        *rest++ = '\0';
    ganet__appendf(buf, size, used, "%s: ", text);
    append_dims(buf, size, used, src);
    ganet__appendf(buf, size, used, " -> ");
    append_dims(buf, size, used, dst);
    ganet__appendf(buf, size, used, ", %lld parameters",
                   (long long)ganet_layer_param_values(l));
    for (char *line = rest; line; line = rest) {
        rest = strchr(line, '\n');
        if (rest)
            *rest++ = '\0';
        ganet__appendf(buf, size, used, "\n%*s%s", indent, "", line);
    }
    ganet__appendf(buf, size, used, "\n");
    return GANET_OK;
}

/* A Sequential's header line, then its children one level deeper, labelled
 * by their index path ("3.1"); a leaf's line otherwise. */
static ganet_status summarize(const ganet_layer *l, const char *label,
                              int depth, const int64_t *src, int64_t *dst,
                              char *buf, size_t size, size_t *used)
{
    if (strcmp(l->ops->kind, "Sequential") != 0)
        return summarize_leaf(l, label, depth, src, dst, buf, size, used);
    char text[64] = "";
    l->ops->describe(l, src, src, text, sizeof text);
    ganet__appendf(buf, size, used, "%*s%s%s%s: input ", 2 * depth, "", label,
                   *label ? ": " : "", text);
    append_dims(buf, size, used, src);
    ganet__appendf(buf, size, used, ", %lld parameters\n",
                   (long long)ganet_layer_param_values(l));
    int64_t cur[4];
    memcpy(cur, src, sizeof cur);
    for (int i = 0; i < ganet_sequential_count(l); i++) {
        char sub[256];
        /* Bounded, so that the index always fits. */
        snprintf(sub, sizeof sub, "%.200s%s%d", label, *label ? "." : "", i);
        int64_t next[4];
        GANET__TRY(summarize(ganet_sequential_child(l, i), sub, depth + 1, cur,
                             next, buf, size, used));
        memcpy(cur, next, sizeof cur);
    }
    memcpy(dst, cur, sizeof cur);
    return GANET_OK;
}

ganet_status ganet_layer_summary(const ganet_layer *layer,
                                 const int64_t *src_dims, char *buf,
                                 size_t size)
{
    static const char fn[] = "ganet_layer_summary";
    GANET__CHECK_NULL(fn, buf);
    GANET__CHECK(size >= 1, GANET_ERR_INVALID_ARGUMENT,
                 "%s: the buffer size is 0", fn);
    buf[0] = '\0';
    GANET__CHECK_NULL(fn, layer);
    GANET__CHECK_NULL(fn, src_dims);
    int64_t count, dst[4];
    size_t used = 0;
    GANET__TRY(ganet__dims_count(layer->ops->kind, 4, src_dims, &count));
    GANET__TRY(summarize(layer, "", 0, src_dims, dst, buf, size, &used));
    if (strcmp(layer->ops->kind, "Sequential") == 0) {
        ganet__appendf(buf, size, &used, "Total: output ");
        append_dims(buf, size, &used, dst);
        ganet__appendf(buf, size, &used, ", %lld parameters\n",
                       (long long)ganet_layer_param_values(layer));
    }
    return GANET_OK;
}

int ganet_layer_param_count(const ganet_layer *layer)
{
    return layer ? layer->nparams : 0;
}

int64_t ganet_layer_param_values(const ganet_layer *layer)
{
    int64_t n = 0;
    for (int i = 0; layer && i < layer->nparams; i++)
        n += layer->params[i].value->count;
    return n;
}

ganet_status ganet_layer_param(ganet_layer *layer, int index, const char **name,
                               ganet_tensor **value, ganet_tensor **grad)
{
    static const char fn[] = "ganet_layer_param";
    if (name)
        *name = NULL;
    if (value)
        *value = NULL;
    if (grad)
        *grad = NULL;
    GANET__CHECK_NULL(fn, layer);
    GANET__CHECK(index >= 0 && index < layer->nparams,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: index %d is out of range, the %s has %d parameters", fn,
                 index, layer->ops->kind, layer->nparams);
    const ganet__param *p = &layer->params[index];
    if (name)
        *name = p->name;
    if (value)
        *value = p->value;
    if (grad)
        *grad = p->grad;
    return GANET_OK;
}

ganet_status ganet_layer_find_param(ganet_layer *layer, const char *name,
                                    ganet_tensor **value, ganet_tensor **grad)
{
    static const char fn[] = "ganet_layer_find_param";
    if (value)
        *value = NULL;
    if (grad)
        *grad = NULL;
    GANET__CHECK_NULL(fn, layer);
    GANET__CHECK_NULL(fn, name);
    for (int i = 0; i < layer->nparams; i++)
        if (strcmp(layer->params[i].name, name) == 0)
            return ganet_layer_param(layer, i, NULL, value, grad);
    return ganet__fail(GANET_ERR_INVALID_ARGUMENT,
                       "%s: the %s has no parameter named '%s'", fn,
                       layer->ops->kind, name);
}

int ganet_layer_buffer_count(const ganet_layer *layer)
{
    return layer ? layer->nbuffers : 0;
}

ganet_status ganet_layer_buffer(ganet_layer *layer, int index,
                                const char **name, ganet_tensor **value)
{
    static const char fn[] = "ganet_layer_buffer";
    if (name)
        *name = NULL;
    if (value)
        *value = NULL;
    GANET__CHECK_NULL(fn, layer);
    GANET__CHECK(index >= 0 && index < layer->nbuffers,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: index %d is out of range, the %s has %d buffers", fn,
                 index, layer->ops->kind, layer->nbuffers);
    if (name)
        *name = layer->buffers[index].name;
    if (value)
        *value = layer->buffers[index].value;
    return GANET_OK;
}

ganet_status ganet_layer_zero_grad(ganet_layer *layer)
{
    GANET__CHECK_NULL("ganet_layer_zero_grad", layer);
    for (int i = 0; i < layer->nparams; i++)
        GANET__TRY(ganet_tensor_fill(layer->params[i].grad, 0.0f));
    return GANET_OK;
}

ganet_status ganet_layer_init(ganet_layer *layer, ganet_init init)
{
    static const char fn[] = "ganet_layer_init";
    GANET__CHECK_NULL(fn, layer);
    GANET__CHECK(init == GANET_INIT_PYTORCH || init == GANET_INIT_DCGAN,
                 GANET_ERR_INVALID_ARGUMENT, "%s: unknown scheme %d", fn,
                 (int)init);
    return layer->ops->init(layer, init);
}
