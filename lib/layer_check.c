/* Looking for NaN and infinity in a layer's tensors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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

static ganet_status scan(const ganet_layer *l, char *where, size_t size,
                         float **buf, int64_t *cap)
{
    int64_t at;
    float v;
    for (int i = 0; i < l->nparams; i++) {
        GANET__TRY(first_nonfinite(l->params[i].value, buf, cap, &at, &v));
        if (at >= 0) {
            snprintf(where, size, "%s: %s at index %lld", l->params[i].name,
                     isnan(v) ? "NaN"
                     : v > 0  ? "inf"
                              : "-inf",
                     (long long)at);
            return GANET_OK;
        }
    }
    for (int i = l->nparams - 1; i >= 0; i--) {
        GANET__TRY(first_nonfinite(l->params[i].grad, buf, cap, &at, &v));
        if (at >= 0) {
            snprintf(where, size, "gradient of %s: %s at index %lld",
                     l->params[i].name,
                     isnan(v) ? "NaN"
                     : v > 0  ? "inf"
                              : "-inf",
                     (long long)at);
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
