/* Optimizers: Adam and SGD, mirroring PyTorch 1.13's single-tensor code
 * (torch/optim/adam.py, sgd.py) one tensor operation at a time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ganet/optimizer.h"
#include "internal.h"

enum { MAX_STATES = 3 };

typedef enum opt_kind { OPT_ADAM, OPT_SGD } opt_kind;

typedef struct opt_param {
    /* Borrowed from the layer, which outlives the optimizer. */
    const char *name;
    ganet_tensor *value;
    ganet_tensor *grad;
    /* Owned: the state tensors and their names. */
    ganet_tensor *state[MAX_STATES];
    char *state_name[MAX_STATES];
} opt_param;

struct ganet_optimizer {
    ganet_context *ctx;
    opt_kind kind;
    ganet_adam_options adam;
    ganet_sgd_options sgd;
    /* The hyper-parameters as the doubles Python would hold; see
     * decimal_double(). lr is the options' lr. */
    double lr, beta1, beta2, eps, momentum, dampening, weight_decay;
    int64_t steps;
    opt_param *params;
    int nparams;
    int states_per_param;
    /* Whether the processor has FMA, so the fused kernels may run. */
    bool fma;
    /* Adam eight values at a time (GANET_NO_AVX2 in the environment turns
     * it off, to compare). */
    bool avx2;
};

static const char *const adam_states[] = {"exp_avg", "exp_avg_sq",
                                          "max_exp_avg_sq"};
static const char *const sgd_states[] = {"momentum_buffer"};

static const char *kind_name(const ganet_optimizer *opt)
{
    return opt->kind == OPT_ADAM ? "adam" : "sgd";
}

/*
 * The double a Python user means by a float: the shortest decimal that
 * reads back as f, as a double. 0.9f becomes 0.9 rather than
 * 0.89999997615814209, so 1 - beta1 and beta1^t come out as PyTorch
 * computed them from Python's 0.9.
 */
static double decimal_double(float f)
{
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f)
            return d;
    }
    return f;
}

/* ---- kernels -------------------------------------------------------- */

/*
 * PyTorch's CPU kernels compute add(alpha), mul-then-add and addcmul with
 * a fused multiply-add on processors that have one, rounding once; fmaf()
 * rounds once everywhere, which gives PyTorch's bits on such processors and
 * the same bits on every machine. Each kernel is also compiled for FMA and
 * chosen at run time, because without the instruction enabled fmaf() is a
 * library call, several times slower than the rest of the loop.
 */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define GANET_FMA_DISPATCH 1
#define FMA_TARGET __attribute__((target("fma")))
#define AVX2_TARGET __attribute__((target("avx2,fma")))
#include <immintrin.h>
#endif
#define KERNEL static inline __attribute__((always_inline))

/* Scalar factors of one step, rounded to float as PyTorch hands them to
 * its float kernels. */
typedef struct step_scalars {
    bool decay;
    float weight_decay;
    /* Adam */
    float beta1, one_minus_beta1, beta2, one_minus_beta2;
    float bc2_sqrt, eps, neg_step_size;
    bool amsgrad;
    /* SGD */
    float momentum, one_minus_dampening, neg_lr;
    bool first, nesterov;
} step_scalars;

/* Shapes: p, g, m, v and v_max all have the parameter's n values. */
KERNEL void adam_kernel(const step_scalars *s, int64_t n, float *p,
                        const float *g, float *m, float *v, float *v_max)
{
    for (int64_t i = 0; i < n; i++) {
        /* grad.add(param, alpha=weight_decay) */
        float gi = s->decay ? fmaf(s->weight_decay, p[i], g[i]) : g[i];
        /* exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1) */
        m[i] = fmaf(s->one_minus_beta1, gi, m[i] * s->beta1);
        /* exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2) */
        v[i] = fmaf(s->one_minus_beta2 * gi, gi, v[i] * s->beta2);
        float vi = v[i];
        if (s->amsgrad) {
            v_max[i] = fmaxf(v_max[i], v[i]);
            vi = v_max[i];
        }
        /* (v.sqrt() / bias_correction2_sqrt).add_(eps) */
        float denom = sqrtf(vi) / s->bc2_sqrt + s->eps;
        /* param.addcdiv_(exp_avg, denom, value=-step_size) */
        p[i] = p[i] + s->neg_step_size * m[i] / denom;
    }
}

/* Shapes: p, g and b (the momentum buffer, NULL without momentum) all
 * have the parameter's n values. */
KERNEL void sgd_kernel(const step_scalars *s, int64_t n, float *p,
                       const float *g, float *b)
{
    for (int64_t i = 0; i < n; i++) {
        /* d_p = d_p.add(param, alpha=weight_decay) */
        float d = s->decay ? fmaf(s->weight_decay, p[i], g[i]) : g[i];
        if (b != NULL) {
            /* buf = clone(d_p), or buf.mul_(momentum).add_(d_p,
             * alpha=1 - dampening) */
            b[i] = s->first ? d
                            : fmaf(s->one_minus_dampening, d,
                                   b[i] * s->momentum);
            /* d_p = d_p.add(buf, alpha=momentum) or d_p = buf */
            d = s->nesterov ? fmaf(s->momentum, b[i], d) : b[i];
        }
        /* param.add_(d_p, alpha=-lr) */
        p[i] = fmaf(s->neg_lr, d, p[i]);
    }
}

static void adam_generic(const step_scalars *s, int64_t n, float *p,
                         const float *g, float *m, float *v, float *v_max)
{
    adam_kernel(s, n, p, g, m, v, v_max);
}

static void sgd_generic(const step_scalars *s, int64_t n, float *p,
                        const float *g, float *b)
{
    sgd_kernel(s, n, p, g, b);
}

#ifdef GANET_FMA_DISPATCH
FMA_TARGET static void adam_fma(const step_scalars *s, int64_t n, float *p,
                                const float *g, float *m, float *v,
                                float *v_max)
{
    adam_kernel(s, n, p, g, m, v, v_max);
}

FMA_TARGET static void sgd_fma(const step_scalars *s, int64_t n, float *p,
                               const float *g, float *b)
{
    sgd_kernel(s, n, p, g, b);
}

/* adam_kernel() eight values at a time: the same operations in the same
 * order, each rounding as the scalar one does (sqrt, division and fma are
 * exact-rounded in both), so the bits are the same. The compiler does not
 * vectorise the scalar loop itself: sqrtf may set errno. */
AVX2_TARGET static void adam_avx2(const step_scalars *s, int64_t n, float *p,
                                  const float *g, float *m, float *v,
                                  float *v_max)
{
    const __m256 wd = _mm256_set1_ps(s->weight_decay),
                 b1 = _mm256_set1_ps(s->beta1),
                 omb1 = _mm256_set1_ps(s->one_minus_beta1),
                 b2 = _mm256_set1_ps(s->beta2),
                 omb2 = _mm256_set1_ps(s->one_minus_beta2),
                 bc2 = _mm256_set1_ps(s->bc2_sqrt),
                 eps = _mm256_set1_ps(s->eps),
                 nss = _mm256_set1_ps(s->neg_step_size);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 pi = _mm256_loadu_ps(p + i), gi = _mm256_loadu_ps(g + i);
        if (s->decay)
            gi = _mm256_fmadd_ps(wd, pi, gi);
        __m256 mi = _mm256_fmadd_ps(omb1, gi,
                                    _mm256_mul_ps(_mm256_loadu_ps(m + i), b1));
        __m256 vi = _mm256_fmadd_ps(_mm256_mul_ps(omb2, gi), gi,
                                    _mm256_mul_ps(_mm256_loadu_ps(v + i), b2));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        if (s->amsgrad) {
            /* Finite values only (the step refuses others): max_ps and
             * fmaxf agree. */
            vi = _mm256_max_ps(_mm256_loadu_ps(v_max + i), vi);
            _mm256_storeu_ps(v_max + i, vi);
        }
        __m256 denom =
                _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
        pi = _mm256_add_ps(pi, _mm256_div_ps(_mm256_mul_ps(nss, mi), denom));
        _mm256_storeu_ps(p + i, pi);
    }
    adam_kernel(s, n - i, p + i, g + i, m + i, v + i, v_max ? v_max + i : NULL);
}
#endif

static bool cpu_has_fma(void)
{
#ifdef GANET_FMA_DISPATCH
    __builtin_cpu_init();
    return __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

static bool cpu_has_avx2(void)
{
#ifdef GANET_FMA_DISPATCH
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

/* ---- creation ------------------------------------------------------- */

static ganet_status check_finite_at_least(const char *kind, const char *what,
                                          float value, float low, bool open)
{
    bool ok = isfinite(value) && (open ? value > low : value >= low);
    GANET__CHECK(ok, GANET_ERR_INVALID_ARGUMENT,
                 "%s: %s is %g, expected a finite value %s %g", kind, what,
                 (double)value, open ? ">" : ">=", (double)low);
    return GANET_OK;
}

static ganet_status check_unit(const char *kind, const char *what, float value,
                               bool closed)
{
    bool ok = value >= 0.0f && (closed ? value <= 1.0f : value < 1.0f);
    GANET__CHECK(ok, GANET_ERR_INVALID_ARGUMENT,
                 "%s: %s is %g, expected a value in [0, 1%s", kind, what,
                 (double)value, closed ? "]" : ")");
    return GANET_OK;
}

static ganet_status check_adam(const ganet_adam_options *o)
{
    GANET__TRY(check_finite_at_least("adam", "lr", o->lr, 0.0f, false));
    GANET__TRY(check_unit("adam", "beta1", o->beta1, false));
    GANET__TRY(check_unit("adam", "beta2", o->beta2, false));
    GANET__TRY(check_finite_at_least("adam", "eps", o->eps, 0.0f, true));
    GANET__TRY(check_finite_at_least("adam", "weight_decay", o->weight_decay,
                                     0.0f, false));
    return GANET_OK;
}

static ganet_status check_sgd(const ganet_sgd_options *o)
{
    GANET__TRY(check_finite_at_least("sgd", "lr", o->lr, 0.0f, false));
    GANET__TRY(
            check_finite_at_least("sgd", "momentum", o->momentum, 0.0f, false));
    GANET__TRY(check_unit("sgd", "dampening", o->dampening, true));
    GANET__TRY(check_finite_at_least("sgd", "weight_decay", o->weight_decay,
                                     0.0f, false));
    GANET__CHECK(!o->nesterov || (o->momentum > 0.0f && o->dampening == 0.0f),
                 GANET_ERR_INVALID_ARGUMENT,
                 "sgd: nesterov needs momentum > 0 and dampening 0, got "
                 "momentum %g and dampening %g",
                 (double)o->momentum, (double)o->dampening);
    return GANET_OK;
}

void ganet_optimizer_destroy(ganet_optimizer *opt)
{
    if (opt == NULL)
        return;
    for (int i = 0; i < opt->nparams; i++) {
        for (int k = 0; k < MAX_STATES; k++) {
            ganet_tensor_destroy(opt->params[i].state[k]);
            free(opt->params[i].state_name[k]);
        }
    }
    free(opt->params);
    free(opt);
}

/* Create a zero-filled state tensor shaped like the parameter, and its
 * name "<parameter>.<state>". */
static ganet_status add_state(ganet_optimizer *opt, opt_param *p, int k,
                              const char *state)
{
    size_t len = strlen(p->name) + 1 + strlen(state) + 1;
    p->state_name[k] = malloc(len);
    GANET__CHECK(p->state_name[k] != NULL, GANET_ERR_OUT_OF_MEMORY,
                 "%s: out of memory", kind_name(opt));
    snprintf(p->state_name[k], len, "%s.%s", p->name, state);
    return ganet_tensor_create(opt->ctx, p->value->rank, p->value->dims,
                               &p->state[k]);
}

/* List the layer's parameters and create the states of each. */
static ganet_status fill_params(ganet_optimizer *opt, ganet_layer *layer,
                                const char *const *states)
{
    for (int i = 0; i < opt->nparams; i++) {
        opt_param *p = &opt->params[i];
        GANET__TRY(ganet_layer_param(layer, i, &p->name, &p->value, &p->grad));
        for (int k = 0; k < opt->states_per_param; k++)
            GANET__TRY(add_state(opt, p, k, states[k]));
    }
    return GANET_OK;
}

static ganet_status create(ganet_layer *layer, ganet_optimizer *proto,
                           const char *const *states, ganet_optimizer **out)
{
    const char *name = kind_name(proto);
    int n = ganet_layer_param_count(layer);
    GANET__CHECK(n > 0, GANET_ERR_INVALID_ARGUMENT,
                 "%s: the %s layer has no parameters to optimize", name,
                 ganet_layer_kind(layer));
    ganet_optimizer *opt = malloc(sizeof *opt);
    GANET__CHECK(opt != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory",
                 name);
    *opt = *proto;
    opt->ctx = ganet_layer_context(layer);
    opt->fma = cpu_has_fma();
    opt->avx2 = cpu_has_avx2() && getenv("GANET_NO_AVX2") == NULL;
    opt->nparams = n;
    opt->params = calloc((size_t)n, sizeof *opt->params);
    ganet_status st = opt->params != NULL
                              ? fill_params(opt, layer, states)
                              : ganet__fail(GANET_ERR_OUT_OF_MEMORY,
                                            "%s: out of memory", name);
    if (st != GANET_OK) {
        ganet_optimizer_destroy(opt);
        return st;
    }
    *out = opt;
    return GANET_OK;
}

ganet_status ganet_adam_create(ganet_layer *layer,
                               const ganet_adam_options *options,
                               ganet_optimizer **out)
{
    static const char fn[] = "ganet_adam_create";
    static const ganet_adam_options defaults = GANET_ADAM_OPTIONS_DEFAULT;
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, layer);
    const ganet_adam_options *o = options ? options : &defaults;
    GANET__TRY(check_adam(o));

    ganet_optimizer proto = {.kind = OPT_ADAM, .adam = *o};
    proto.lr = decimal_double(o->lr);
    proto.beta1 = decimal_double(o->beta1);
    proto.beta2 = decimal_double(o->beta2);
    proto.eps = decimal_double(o->eps);
    proto.weight_decay = decimal_double(o->weight_decay);
    proto.states_per_param = o->amsgrad ? 3 : 2;
    return create(layer, &proto, adam_states, out);
}

ganet_status ganet_sgd_create(ganet_layer *layer,
                              const ganet_sgd_options *options,
                              ganet_optimizer **out)
{
    static const char fn[] = "ganet_sgd_create";
    static const ganet_sgd_options defaults = GANET_SGD_OPTIONS_DEFAULT;
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, layer);
    const ganet_sgd_options *o = options ? options : &defaults;
    GANET__TRY(check_sgd(o));

    ganet_optimizer proto = {.kind = OPT_SGD, .sgd = *o};
    proto.lr = decimal_double(o->lr);
    proto.momentum = decimal_double(o->momentum);
    proto.dampening = decimal_double(o->dampening);
    proto.weight_decay = decimal_double(o->weight_decay);
    proto.states_per_param = o->momentum != 0.0f ? 1 : 0;
    return create(layer, &proto, sgd_states, out);
}

/* ---- steps ---------------------------------------------------------- */

ganet_status ganet_optimizer_zero_grad(ganet_optimizer *opt)
{
    GANET__CHECK_NULL("ganet_optimizer_zero_grad", opt);
    for (int i = 0; i < opt->nparams; i++)
        GANET__TRY(ganet_tensor_fill(opt->params[i].grad, 0.0f));
    return GANET_OK;
}

/* Whether no value is an infinity or a NaN (all exponent bits set): a
 * test on the bits, which the compiler vectorises, on the context's
 * threads. */
static bool all_finite(const float *g, int64_t n, int threads)
{
    uint32_t bad = 0;
#pragma omp parallel for reduction(| : bad) num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &g[i], sizeof bits);
        bad |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
    }
    return bad == 0;
}

static ganet_status check_gradient(const ganet_optimizer *opt,
                                   const opt_param *p)
{
    const float *g = ganet__tensor_data(p->grad);
    int64_t n = p->grad->count;
    if (all_finite(g, n, n >= 65536 ? opt->ctx->num_threads : 1))
        return GANET_OK;
    for (int64_t i = 0; i < n; i++)
        GANET__CHECK(isfinite(g[i]), GANET_ERR_NUMERIC,
                     "%s: the gradient of %s is %g at element %lld; no "
                     "parameter was changed",
                     kind_name(opt), p->name, (double)g[i], (long long)i);
    return GANET_OK;
}

/* Bring every tensor the kernels touch to plain layout and check every
 * gradient, before anything changes. */
static ganet_status prepare(ganet_optimizer *opt)
{
    for (int i = 0; i < opt->nparams; i++) {
        opt_param *p = &opt->params[i];
        GANET__TRY(ganet__tensor_make_plain(p->grad));
        GANET__TRY(check_gradient(opt, p));
    }
    for (int i = 0; i < opt->nparams; i++) {
        opt_param *p = &opt->params[i];
        GANET__TRY(ganet__tensor_make_plain(p->value));
        for (int k = 0; k < opt->states_per_param; k++)
            GANET__TRY(ganet__tensor_make_plain(p->state[k]));
    }
    return GANET_OK;
}

/* Adam's scalars for step t, computed in double as adam.py computes
 * them in Python. */
static step_scalars adam_scalars(const ganet_optimizer *opt, int64_t t)
{
    double bias_correction1 = 1.0 - pow(opt->beta1, (double)t);
    double bias_correction2 = 1.0 - pow(opt->beta2, (double)t);
    double step_size = opt->lr / bias_correction1;
    return (step_scalars){
            .decay = opt->weight_decay != 0.0,
            .weight_decay = (float)opt->weight_decay,
            .beta1 = (float)opt->beta1,
            .one_minus_beta1 = (float)(1.0 - opt->beta1),
            .beta2 = (float)opt->beta2,
            .one_minus_beta2 = (float)(1.0 - opt->beta2),
            .bc2_sqrt = (float)sqrt(bias_correction2),
            .eps = (float)opt->eps,
            .neg_step_size = (float)-step_size,
            .amsgrad = opt->adam.amsgrad,
    };
}

static step_scalars sgd_scalars(const ganet_optimizer *opt)
{
    return (step_scalars){
            .decay = opt->weight_decay != 0.0,
            .weight_decay = (float)opt->weight_decay,
            .momentum = (float)opt->momentum,
            .one_minus_dampening = (float)(1.0 - opt->dampening),
            .neg_lr = (float)-opt->lr,
            .first = opt->steps == 0,
            .nesterov = opt->sgd.nesterov,
    };
}

/* The values [lo, lo + n) of one parameter, with the best kernel the CPU
 * runs; every kernel gives the same bits. */
static void update_range(const ganet_optimizer *opt, const step_scalars *s,
                         int64_t lo, int64_t n, float *v, const float *g,
                         float *const *st)
{
    float *st_at[MAX_STATES];
    for (int k = 0; k < MAX_STATES; k++)
        st_at[k] = st[k] ? st[k] + lo : NULL;
#ifdef GANET_FMA_DISPATCH
    if (opt->kind == OPT_ADAM && opt->avx2) {
        adam_avx2(s, n, v + lo, g + lo, st_at[0], st_at[1], st_at[2]);
        return;
    }
    if (opt->fma) {
        if (opt->kind == OPT_ADAM)
            adam_fma(s, n, v + lo, g + lo, st_at[0], st_at[1], st_at[2]);
        else
            sgd_fma(s, n, v + lo, g + lo, st_at[0]);
        return;
    }
#endif
    if (opt->kind == OPT_ADAM)
        adam_generic(s, n, v + lo, g + lo, st_at[0], st_at[1], st_at[2]);
    else
        sgd_generic(s, n, v + lo, g + lo, st_at[0]);
}

static void update(const ganet_optimizer *opt, const step_scalars *s,
                   opt_param *p)
{
    /* Values per task: a multiple of the vector width, large enough to
     * pay for a thread's start. */
    enum { CHUNK = 32768 };
    int64_t n = p->value->count;
    float *v = ganet__tensor_data(p->value);
    const float *g = ganet__tensor_data(p->grad);
    float *st[MAX_STATES] = {NULL, NULL, NULL};
    for (int k = 0; k < opt->states_per_param; k++)
        st[k] = ganet__tensor_data(p->state[k]);
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
    int threads = chunks > 1 ? opt->ctx->num_threads : 1;
#pragma omp parallel for num_threads(threads)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t lo = c * CHUNK;
        update_range(opt, s, lo, n - lo < CHUNK ? n - lo : CHUNK, v, g, st);
    }
}

ganet_status ganet_optimizer_step(ganet_optimizer *opt)
{
    GANET__CHECK_NULL("ganet_optimizer_step", opt);
    GANET__CHECK(opt->steps < INT64_MAX, GANET_ERR_OVERFLOW,
                 "%s: the step count %lld cannot grow", kind_name(opt),
                 (long long)opt->steps);
    GANET__TRY(prepare(opt));

    int64_t t = opt->steps + 1;
    step_scalars s =
            opt->kind == OPT_ADAM ? adam_scalars(opt, t) : sgd_scalars(opt);
    for (int i = 0; i < opt->nparams; i++)
        update(opt, &s, &opt->params[i]);
    opt->steps = t;
    return GANET_OK;
}

/* ---- settings and state --------------------------------------------- */

ganet_status ganet_optimizer_set_lr(ganet_optimizer *opt, float lr)
{
    GANET__CHECK_NULL("ganet_optimizer_set_lr", opt);
    GANET__TRY(check_finite_at_least(kind_name(opt), "lr", lr, 0.0f, false));
    if (opt->kind == OPT_ADAM)
        opt->adam.lr = lr;
    else
        opt->sgd.lr = lr;
    opt->lr = decimal_double(lr);
    return GANET_OK;
}

float ganet_optimizer_get_lr(const ganet_optimizer *opt)
{
    if (opt == NULL)
        return 0.0f;
    return opt->kind == OPT_ADAM ? opt->adam.lr : opt->sgd.lr;
}

int64_t ganet_optimizer_get_step_count(const ganet_optimizer *opt)
{
    return opt ? opt->steps : 0;
}

ganet_status ganet_optimizer_set_step_count(ganet_optimizer *opt, int64_t steps)
{
    GANET__CHECK_NULL("ganet_optimizer_set_step_count", opt);
    GANET__CHECK(steps >= 0, GANET_ERR_INVALID_ARGUMENT,
                 "%s: the step count is %lld, expected 0 or more",
                 kind_name(opt), (long long)steps);
    opt->steps = steps;
    return GANET_OK;
}

int ganet_optimizer_state_count(const ganet_optimizer *opt)
{
    return opt ? opt->nparams * opt->states_per_param : 0;
}

ganet_status ganet_optimizer_state(ganet_optimizer *opt, int index,
                                   const char **name, ganet_tensor **value)
{
    static const char fn[] = "ganet_optimizer_state";
    if (name)
        *name = NULL;
    if (value)
        *value = NULL;
    GANET__CHECK_NULL(fn, opt);
    int count = ganet_optimizer_state_count(opt);
    GANET__CHECK(index >= 0 && index < count, GANET_ERR_INVALID_ARGUMENT,
                 "%s: index %d is out of range, the %s optimizer has %d "
                 "state tensors",
                 fn, index, kind_name(opt), count);
    const opt_param *p = &opt->params[index / opt->states_per_param];
    int k = index % opt->states_per_param;
    if (name)
        *name = p->state_name[k];
    if (value)
        *value = p->state[k];
    return GANET_OK;
}
