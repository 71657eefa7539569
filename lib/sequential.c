/*
 * Sequential: children run in order, backward in reverse. The container
 * has no tensors of its own; its parameter and buffer lists borrow the
 * children's tensors under names prefixed by the child's index, so that
 * optimizers reading layer->params see the whole model.
 *
 * A child set in place (ganet_layer_set_inplace()) is allowed to overwrite
 * its source only when that is the output of the child before it and that
 * child's backward does not read it (a convolution or a BatchNorm, whose
 * kinds say so with lends_outputs), and its diff_dst only when that is the
 * diff_src of a child after it that lends it (any kind but a Sequential,
 * lends_diff_src). The Sequential's own source and diff_dst, which belong
 * to the caller, are never overwritten.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ganet/sequential.h"
#include "layer_impl.h"

typedef struct seq_layer {
    ganet_layer base;
    /* The Sequential this one was added to, or NULL. */
    struct seq_layer *parent;
    ganet_layer **children;
    int n;
} seq_layer;

static const ganet__layer_ops seq_ops;

static seq_layer *as_seq(const ganet_layer *l)
{
    return l && l->ops == &seq_ops ? (seq_layer *)l : NULL;
}

/* ---- parameter lists --------------------------------------------------- */

typedef struct param_list {
    ganet__param *items;
    int n;
} param_list;

static void list_free(param_list *list)
{
    for (int i = 0; i < list->n; i++)
        free(list->items[i].name);
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

static ganet_status list_append(param_list *list, const char *prefix,
                                const ganet__param *p)
{
    ganet__param *grown =
            realloc(list->items, (size_t)(list->n + 1) * sizeof *grown);
    GANET__CHECK(grown != NULL, GANET_ERR_OUT_OF_MEMORY,
                 "Sequential: out of memory");
    list->items = grown;
    size_t len = strlen(prefix) + strlen(p->name) + 1;
    char *name = malloc(len);
    GANET__CHECK(name != NULL, GANET_ERR_OUT_OF_MEMORY,
                 "Sequential: out of memory");
    snprintf(name, len, "%s%s", prefix, p->name);
    grown[list->n++] = (ganet__param){name, p->value, p->grad};
    return GANET_OK;
}

/* Append every leaf tensor under s, named prefix + index path + name. The
 * walk reads only leaf layers, so it is right even while the lists of the
 * Sequentials in between are being rebuilt. */
static ganet_status collect(const seq_layer *s, const char *prefix,
                            param_list *params, param_list *buffers)
{
    size_t len = strlen(prefix) + 24;
    char *sub = malloc(len);
    GANET__CHECK(sub != NULL, GANET_ERR_OUT_OF_MEMORY,
                 "Sequential: out of memory");
    ganet_status st = GANET_OK;
    for (int i = 0; i < s->n && st == GANET_OK; i++) {
        const ganet_layer *c = s->children[i];
        snprintf(sub, len, "%s%d.", prefix, i);
        if (as_seq(c)) {
            st = collect(as_seq(c), sub, params, buffers);
            continue;
        }
        for (int k = 0; k < c->nparams && st == GANET_OK; k++)
            st = list_append(params, sub, &c->params[k]);
        for (int k = 0; k < c->nbuffers && st == GANET_OK; k++)
            st = list_append(buffers, sub, &c->buffers[k]);
    }
    free(sub);
    return st;
}

/* Rebuild the lists of s and of every Sequential holding it. All new lists
 * are made before any old one is replaced, so a failure changes nothing. */
static ganet_status rebuild_lists(seq_layer *s)
{
    int depth = 0;
    for (const seq_layer *p = s; p; p = p->parent)
        depth++;
    param_list *lists = calloc((size_t)depth * 2, sizeof *lists);
    GANET__CHECK(lists != NULL, GANET_ERR_OUT_OF_MEMORY,
                 "Sequential: out of memory");
    ganet_status st = GANET_OK;
    int k = 0;
    for (const seq_layer *p = s; p && st == GANET_OK; p = p->parent, k++)
        st = collect(p, "", &lists[2 * k], &lists[2 * k + 1]);
    k = 0;
    for (seq_layer *p = s; p; p = p->parent, k++) {
        if (st != GANET_OK) {
            list_free(&lists[2 * k]);
            list_free(&lists[2 * k + 1]);
            continue;
        }
        ganet__layer_free_base(&p->base);
        p->base.params = lists[2 * k].items;
        p->base.nparams = lists[2 * k].n;
        p->base.buffers = lists[2 * k + 1].items;
        p->base.nbuffers = lists[2 * k + 1].n;
    }
    free(lists);
    return st;
}

/* ---- layer operations -------------------------------------------------- */

static ganet_status output_shape(const ganet_layer *l, const int64_t *src,
                                 int64_t *dst)
{
    const seq_layer *s = as_seq(l);
    int64_t cur[4];
    memcpy(cur, src, sizeof cur);
    for (int i = 0; i < s->n; i++)
        GANET__TRY(ganet_layer_output_shape(s->children[i], cur, cur));
    memcpy(dst, cur, sizeof cur);
    return GANET_OK;
}

/* Whether child i applies the ReLU that follows it (BatchNorm's
 * fuse_norm_relu), so that the ReLU passes its input on: the ReLU is in
 * place, and the child after it lends its gradient, which the ReLU then
 * hands back untouched and the BatchNorm may overwrite. */
static bool fuses_relu(const seq_layer *s, int i)
{
    if (i < 0 || i + 2 >= s->n)
        return false;
    const ganet_layer *r = s->children[i + 1];
    return s->children[i]->ops->absorbs_relu && r->ops->is_relu && r->inplace &&
           s->children[i + 2]->ops->lends_diff_src;
}

/* src: (N, C_in, H, W) -> each child in turn -> dst: the last child's
 * output, or src itself when there is no child. */
static ganet_status forward(ganet_layer *l, const ganet_tensor *src,
                            ganet_mode mode, const ganet_tensor **dst)
{
    const seq_layer *s = as_seq(l);
    const ganet_tensor *x = src;
    for (int i = 0; i < s->n; i++) {
        ganet_layer *c = s->children[i];
        /* x is then the previous child's own output, unread by its
         * backward; never the caller's source. */
        c->may_overwrite_src = i > 0 && s->children[i - 1]->ops->lends_outputs;
        c->relu_fused = fuses_relu(s, i) || fuses_relu(s, i - 1);
        ganet_status st = ganet_layer_forward(c, x, mode, &x);
        c->may_overwrite_src = false;
        c->relu_fused = false;
        GANET__TRY(st);
    }
    *dst = x;
    return GANET_OK;
}

/* diff_dst: the last child's output shape -> each child in reverse, each
 * taking the diff_src of the one after it -> diff_src: src's shape. The
 * first child computes its diff_src only when the caller asked for it. */
static ganet_status backward(ganet_layer *l, const ganet_tensor *diff_dst,
                             const ganet_tensor **diff_src)
{
    const seq_layer *s = as_seq(l);
    const ganet_tensor *g = diff_dst;
    for (int i = s->n - 1; i >= 0; i--) {
        const ganet_tensor *next = NULL;
        bool want = i > 0 || diff_src != NULL;
        ganet_layer *c = s->children[i];
        /* g is then the next child's own diff_src, or one lent to it
         * further on; never the caller's diff_dst. */
        c->may_overwrite_diff_dst =
                i < s->n - 1 && s->children[i + 1]->ops->lends_diff_src;
        ganet_status st = ganet_layer_backward(c, g, want ? &next : NULL);
        c->may_overwrite_diff_dst = false;
        GANET__TRY(st);
        g = next;
    }
    if (diff_src)
        *diff_src = g;
    return GANET_OK;
}

static void describe(const ganet_layer *l, const int64_t *src,
                     const int64_t *dst, char *buf, size_t size)
{
    (void)src;
    (void)dst;
    int n = as_seq(l)->n;
    size_t used = 0;
    ganet__appendf(buf, size, &used, "Sequential(%d layer%s)", n,
                   n == 1 ? "" : "s");
}

static ganet_status init(ganet_layer *l, ganet_init scheme)
{
    const seq_layer *s = as_seq(l);
    for (int i = 0; i < s->n; i++)
        GANET__TRY(ganet_layer_init(s->children[i], scheme));
    return GANET_OK;
}

static void destroy(ganet_layer *l)
{
    seq_layer *s = as_seq(l);
    for (int i = 0; i < s->n; i++)
        ganet_layer_destroy(s->children[i]);
    free(s->children);
}

/* An empty Sequential returns its caller's own tensors: it lends none. */
static const ganet__layer_ops seq_ops = {
        .kind = "Sequential",
        GANET__LAYER_FUNCTIONS,
};

/* ---- public functions -------------------------------------------------- */

ganet_status ganet_sequential_create(ganet_context *ctx, ganet_layer **out)
{
    static const char fn[] = "ganet_sequential_create";
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, ctx);
    seq_layer *s = calloc(1, sizeof *s);
    GANET__CHECK(s != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    ganet__layer_init_base(&s->base, &seq_ops, ctx);
    *out = &s->base;
    return GANET_OK;
}

ganet_status ganet_sequential_add(ganet_layer *seq, ganet_layer *child)
{
    static const char fn[] = "ganet_sequential_add";
    GANET__CHECK_NULL(fn, seq);
    GANET__CHECK_NULL(fn, child);
    seq_layer *s = as_seq(seq);
    GANET__CHECK(s != NULL, GANET_ERR_INVALID_ARGUMENT,
                 "%s: the layer added to is a %s, not a Sequential", fn,
                 seq->ops->kind);
    GANET__CHECK(child->ctx == seq->ctx, GANET_ERR_CONTEXT_MISMATCH,
                 "%s: the %s belongs to another context than the Sequential",
                 fn, child->ops->kind);
    GANET__CHECK(!child->has_owner, GANET_ERR_INVALID_ARGUMENT,
                 "%s: the %s already belongs to a Sequential", fn,
                 child->ops->kind);
    for (const seq_layer *p = s; p; p = p->parent)
        GANET__CHECK(&p->base != child, GANET_ERR_INVALID_ARGUMENT,
                     "%s: the Sequential would contain itself", fn);

    ganet_layer **grown =
            realloc(s->children, (size_t)(s->n + 1) * sizeof *grown);
    GANET__CHECK(grown != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory",
                 fn);
    s->children = grown;
    s->children[s->n++] = child;
    ganet_status st = rebuild_lists(s);
    if (st != GANET_OK) {
        s->n--;
        return st;
    }
    child->has_owner = true;
    if (as_seq(child))
        as_seq(child)->parent = s;
    /* The output shape has changed: a backward pass needs a new forward
     * pass of the whole model first. */
    for (seq_layer *p = s; p; p = p->parent)
        p->base.has_forward = false;
    return GANET_OK;
}

int ganet_sequential_count(const ganet_layer *seq)
{
    const seq_layer *s = as_seq(seq);
    return s ? s->n : 0;
}

ganet_layer *ganet_sequential_child(const ganet_layer *seq, int index)
{
    const seq_layer *s = as_seq(seq);
    return s && index >= 0 && index < s->n ? s->children[index] : NULL;
}
