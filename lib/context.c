/* The context: engine, stream, threads, random generator, log, counters. */
#include <ctype.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* GANET_LOG_LEVEL as a name or a digit; -1 when unset or unreadable. */
static int log_level_from_env(void)
{
    static const char *names[] = {"none", "error", "warn", "info", "debug"};
    const char *v = getenv("GANET_LOG_LEVEL");
    if (v == NULL || *v == '\0')
        return -1;
    if (isdigit((unsigned char)v[0]) && v[1] == '\0' && v[0] <= '4')
        return v[0] - '0';
    for (int i = 0; i < 5; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    return -1;
}

static int default_threads(void)
{
    int n = omp_get_num_procs();
    return n > 0 ? n : 1;
}

ganet_status ganet_context_create(const ganet_context_options *options,
                                  ganet_context **ctx)
{
    static const char fn[] = "ganet_context_create";
    ganet_context_options defaults = GANET_CONTEXT_OPTIONS_DEFAULT;
    GANET__CHECK_NULL(fn, ctx);
    *ctx = NULL;
    const ganet_context_options *o = options ? options : &defaults;
    GANET__CHECK(o->num_threads >= 0, GANET_ERR_INVALID_ARGUMENT,
                 "%s: num_threads is %d, expected 0 (every core) or more", fn,
                 o->num_threads);
    GANET__CHECK(o->log_level >= -1 && o->log_level <= GANET_LOG_DEBUG,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: log_level is %d, expected -1 (from the environment) to 4",
                 fn, o->log_level);

    ganet_context *c = calloc(1, sizeof *c);
    GANET__CHECK(c != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    c->num_threads = o->num_threads ? o->num_threads : default_threads();
    c->log_fn = o->log_fn;
    c->log_user_data = o->log_user_data;
    int env = log_level_from_env();
    if (o->log_level >= 0)
        c->log_level = (ganet_log_level)o->log_level;
    else
        c->log_level = env >= 0 ? (ganet_log_level)env : GANET_LOG_WARN;
    ganet__rng_seed(&c->rng, o->seed);

    ganet_status st = ganet__dnnl(dnnl_engine_create(&c->engine, dnnl_cpu, 0),
                                  "cpu engine");
    if (st == GANET_OK)
        st = ganet__dnnl(dnnl_stream_create(&c->stream, c->engine,
                                            dnnl_stream_default_flags),
                         "cpu stream");
    if (st != GANET_OK) {
        ganet_context_destroy(c);
        return st;
    }
    ganet__log(c, GANET_LOG_INFO, "context: %d threads, seed %llu",
               c->num_threads, (unsigned long long)o->seed);
    *ctx = c;
    return GANET_OK;
}

void ganet_context_destroy(ganet_context *ctx)
{
    if (ctx == NULL)
        return;
    free(ctx->scratch);
    free(ctx->transient);
    if (ctx->stream)
        dnnl_stream_destroy(ctx->stream);
    if (ctx->engine)
        dnnl_engine_destroy(ctx->engine);
    free(ctx);
}

ganet_status ganet_context_set_num_threads(ganet_context *ctx, int num_threads)
{
    static const char fn[] = "ganet_context_set_num_threads";
    GANET__CHECK_NULL(fn, ctx);
    GANET__CHECK(num_threads >= 0, GANET_ERR_INVALID_ARGUMENT,
                 "%s: num_threads is %d, expected 0 (every core) or more", fn,
                 num_threads);
    ctx->num_threads = num_threads ? num_threads : default_threads();
    return GANET_OK;
}

int ganet_context_get_num_threads(const ganet_context *ctx)
{
    return ctx ? ctx->num_threads : 0;
}

ganet_status ganet_context_set_log_level(ganet_context *ctx,
                                         ganet_log_level level)
{
    static const char fn[] = "ganet_context_set_log_level";
    GANET__CHECK_NULL(fn, ctx);
    GANET__CHECK(level >= GANET_LOG_NONE && level <= GANET_LOG_DEBUG,
                 GANET_ERR_INVALID_ARGUMENT, "%s: level is %d, expected 0 to 4",
                 fn, (int)level);
    ctx->log_level = level;
    return GANET_OK;
}

ganet_log_level ganet_context_get_log_level(const ganet_context *ctx)
{
    return ctx ? ctx->log_level : GANET_LOG_NONE;
}

ganet_status ganet_context_set_log_callback(ganet_context *ctx, ganet_log_fn fn,
                                            void *user_data)
{
    GANET__CHECK_NULL("ganet_context_set_log_callback", ctx);
    ctx->log_fn = fn;
    ctx->log_user_data = user_data;
    return GANET_OK;
}

ganet_status ganet_context_get_stats(const ganet_context *ctx,
                                     ganet_context_stats *stats)
{
    GANET__CHECK_NULL("ganet_context_get_stats", ctx);
    GANET__CHECK_NULL("ganet_context_get_stats", stats);
    *stats = ctx->stats;
    return GANET_OK;
}

void ganet__log(const ganet_context *ctx, ganet_log_level level,
                const char *fmt, ...)
{
    static const char *tags[] = {"", "error", "warn", "info", "debug"};
    if (ctx == NULL || level > ctx->log_level || level == GANET_LOG_NONE)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (ctx->log_fn)
        ctx->log_fn(level, line, ctx->log_user_data);
    else
        fprintf(stderr, "ganet %s: %s\n", tags[level], line);
}

void ganet__context_enter(const ganet_context *ctx)
{
    /* With oneDNN's OpenMP runtime the thread count is the calling
     * thread's OpenMP setting, so each context sets its own before work. */
    if (omp_get_max_threads() != ctx->num_threads)
        omp_set_num_threads(ctx->num_threads);
}

void *ganet__alloc(ganet_context *ctx, size_t size)
{
    /* 64-byte alignment suits every vector width oneDNN uses. */
    size_t rounded = (size + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (p != NULL) {
        ctx->stats.allocations++;
        ctx->stats.bytes_in_use += size;
    }
    return p;
}

void ganet__free(ganet_context *ctx, void *ptr, size_t size)
{
    if (ptr == NULL)
        return;
    free(ptr);
    ctx->stats.bytes_in_use -= size;
}
