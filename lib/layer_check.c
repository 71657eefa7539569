/* Looking for NaN and infinity in a layer's tensors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ganet/sequential.h"
#include "layer_impl.h"

/* Index of the first non-finite value of t, or -1; *value gets it. */
static ganet_status first_nonfinite(const ganet_tensor *t, float **buf,
                                    int64_t *cap, int64_t *index, float *value)
{
    *index = -1;
    int64_t n = t->count;
    if (n > *cap) {
        float *grown = realloc(*buf, (size_t)n * sizeof *grown);
        GANET__CHECK(grown != NULL, GANET_ERR_OUT_OF_MEMORY,
                     "ganet_layer_find_nonfinite: out of memory");
        *buf = grown;
        *cap = n;
    }
    GANET__TRY(ganet_tensor_copy_to(t, *buf, (size_t)n));
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((*buf)[i])) {
            *index = i;
            *value = (*buf)[i];
            return GANET_OK;
        }
    return GANET_OK;
}

static const char *describe_value(float v)
{
    return isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf";
}

/* The outputs of the last forward pass, layer by layer in the order they
 * were computed: the first one holding a bad value names the layer that
 * produced it. A Sequential's own output is its last child's, and an
 * empty one's is its input, which it does not own: only leaves count. */
static ganet_status scan_outputs(const ganet_layer *l, const char *path,
                                 char *where, size_t size, float **buf,
                                 int64_t *cap, bool *found)
{
    if (strcmp(l->ops->kind, "Sequential") == 0) {
        for (int i = 0; !*found && i < ganet_sequential_count(l); i++) {
            char child[64];
            snprintf(child, sizeof child, "%s%s%d", path, *path ? "." : "", i);
            GANET__TRY(scan_outputs(ganet_sequential_child(l, i), child, where,
                                    size, buf, cap, found));
        }
        return GANET_OK;
    }
    if (l->last_dst == NULL)
        return GANET_OK;
    int64_t at;
    float v;
    GANET__TRY(first_nonfinite(l->last_dst, buf, cap, &at, &v));
    if (at >= 0) {
        snprintf(where, size, "output of %s%s%s: %s at index %lld", path,
                 *path ? " " : "", l->ops->kind, describe_value(v),
                 (long long)at);
        *found = true;
    }
    return GANET_OK;
}

/* Parameters first (a bad weight spoils every output after it), then the
 * outputs in forward order, then the gradients in backward order. */
static ganet_status scan(const ganet_layer *l, char *where, size_t size,
                         float **buf, int64_t *cap)
{
    int64_t at;
    float v;
    for (int i = 0; i < l->nparams; i++) {
        GANET__TRY(first_nonfinite(l->params[i].value, buf, cap, &at, &v));
        if (at >= 0) {
            snprintf(where, size, "%s: %s at index %lld", l->params[i].name,
                     describe_value(v), (long long)at);
            return GANET_OK;
        }
    }
    bool found = false;
    GANET__TRY(scan_outputs(l, "", where, size, buf, cap, &found));
    if (found)
        return GANET_OK;
    for (int i = l->nparams - 1; i >= 0; i--) {
        GANET__TRY(first_nonfinite(l->params[i].grad, buf, cap, &at, &v));
        if (at >= 0) {
            snprintf(where, size, "gradient of %s: %s at index %lld",
                     l->params[i].name, describe_value(v), (long long)at);
            return GANET_OK;
        }
    }
    return GANET_OK;
}

ganet_status ganet_layer_find_nonfinite(const ganet_layer *layer, char *where,
                                        size_t size)
{
    static const char fn[] = "ganet_layer_find_nonfinite";
    GANET__CHECK_NULL(fn, layer);
    GANET__CHECK_NULL(fn, where);
    GANET__CHECK(size > 0, GANET_ERR_INVALID_ARGUMENT,
                 "%s: the buffer size is 0", fn);
    where[0] = '\0';
    float *buf = NULL;
    int64_t cap = 0;
    ganet_status st = scan(layer, where, size, &buf, &cap);
    free(buf);
    return st;
}
