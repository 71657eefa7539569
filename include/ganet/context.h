/**
 * @file context.h
 * @brief The context: oneDNN engine and stream, threads, random numbers and
 *        logging.
 *
 * Every tensor, layer, loss and optimizer belongs to the context it was
 * created from and may only be used with objects of the same context.
 *
 * Thread safety: a context and everything created from it must be used by
 * one thread at a time. Separate contexts are independent and may be used
 * from separate threads at the same time.
 *
 * Destroy order: destroy every object created from a context before the
 * context itself.
 */
#ifndef GANET_CONTEXT_H
#define GANET_CONTEXT_H

#include <stdint.h>

#include <ganet/export.h>
#include <ganet/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Opaque context handle; see context.h. */
typedef struct ganet_context ganet_context;

/** @brief Severity of a log message; a level shows itself and all below. */
typedef enum ganet_log_level {
    /** Show nothing. */
    GANET_LOG_NONE = 0,
    /** Failures the library cannot hide from the caller. */
    GANET_LOG_ERROR = 1,
    /** Suspicious situations: numbers that look wrong, slow paths taken. */
    GANET_LOG_WARN = 2,
    /** What the library decided: layouts, primitives, thread counts. */
    GANET_LOG_INFO = 3,
    /** Everything, including each primitive created. */
    GANET_LOG_DEBUG = 4,
} ganet_log_level;

/**
 * @brief Receives one log message.
 *
 * @param level     severity of the message.
 * @param message   one line without a trailing newline; borrowed, valid
 *                  only during the call.
 * @param user_data the pointer given with the callback.
 */
typedef void (*ganet_log_fn)(ganet_log_level level, const char *message,
                             void *user_data);

/**
 * @brief Options of ganet_context_create().
 *
 * Start from #GANET_CONTEXT_OPTIONS_DEFAULT and change what you need.
 */
typedef struct ganet_context_options {
    /** Threads oneDNN may use; 0 means every core of the machine. */
    int num_threads;
    /** Seed of the context's random generator. */
    uint64_t seed;
    /**
     * Log level, or -1 to take it from the environment variable
     * `GANET_LOG_LEVEL` (none, error, warn, info, debug or 0-4), falling
     * back to #GANET_LOG_WARN.
     */
    int log_level;
    /** Log callback; NULL writes to stderr. */
    ganet_log_fn log_fn;
    /** Passed to ganet_context_options::log_fn unchanged. */
    void *log_user_data;
} ganet_context_options;

/** @brief Default context options: every core, seed 0, level from env. */
#define GANET_CONTEXT_OPTIONS_DEFAULT                                          \
    {                                                                          \
        .num_threads = 0, .seed = 0, .log_level = -1, .log_fn = 0,             \
        .log_user_data = 0                                                     \
    }

/**
 * @brief State of a context's random generator, for saving and restoring.
 *
 * The generator is PCG32 (O'Neill's permuted congruential generator, XSH-RR
 * output, 64-bit state): ganet_rng_state::state is the LCG state and
 * ganet_rng_state::increment the odd stream constant. Both are plain integers,
 * so a saved state restores the same sequence on any machine.
 */
typedef struct ganet_rng_state {
    /** Current 64-bit state of the linear congruential step. */
    uint64_t state;
    /** Odd increment of the linear congruential step. */
    uint64_t increment;
} ganet_rng_state;

/**
 * @brief Counters a context keeps, to prove that steady loops do no
 *        set-up work.
 */
typedef struct ganet_context_stats {
    /** oneDNN primitives that compute (convolutions, batch norms, ...)
     *  created by objects of this context so far. */
    uint64_t primitives_created;
    /** oneDNN reorders (layout conversions inside layers, each made once
     *  for its pair of layouts) created by objects of this context so
     *  far. */
    uint64_t reorders_created;
    /** Buffers allocated for tensors, layers and scratchpads so far. */
    uint64_t allocations;
    /** Bytes currently allocated for those buffers. */
    uint64_t bytes_in_use;
} ganet_context_stats;

/**
 * @brief Create a context with a CPU engine and stream.
 *
 * @param[in]  options NULL for #GANET_CONTEXT_OPTIONS_DEFAULT; copied.
 * @param[out] ctx     the new context, owned by the caller, freed with
 *                     ganet_context_destroy(); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER if @p ctx is NULL;
 *         #GANET_ERR_INVALID_ARGUMENT for a negative thread count or a log
 *         level outside -1..4; #GANET_ERR_OUT_OF_MEMORY;
 *         #GANET_ERR_BACKEND if oneDNN has no CPU engine.
 */
GANET_API ganet_status
ganet_context_create(const ganet_context_options *options, ganet_context **ctx);

/**
 * @brief Destroy a context. Accepts NULL.
 *
 * Every object created from the context must be destroyed first.
 */
GANET_API void ganet_context_destroy(ganet_context *ctx);

/**
 * @brief Set the number of threads oneDNN uses for this context's work.
 *
 * @param ctx         the context.
 * @param num_threads 1 or more, or 0 for every core.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for a negative count.
 */
GANET_API ganet_status ganet_context_set_num_threads(ganet_context *ctx,
                                                     int num_threads);

/**
 * @brief Return the number of threads used for this context's work.
 * @return the count (never 0), or 0 if @p ctx is NULL.
 */
GANET_API int ganet_context_get_num_threads(const ganet_context *ctx);

/**
 * @brief Set the log level; this wins over `GANET_LOG_LEVEL`.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for a level outside #GANET_LOG_NONE..#GANET_LOG_DEBUG.
 */
GANET_API ganet_status ganet_context_set_log_level(ganet_context *ctx,
                                                   ganet_log_level level);

/**
 * @brief Return the context's log level, or #GANET_LOG_NONE for NULL.
 */
GANET_API ganet_log_level ganet_context_get_log_level(const ganet_context *ctx);

/**
 * @brief Replace the log callback.
 *
 * @param ctx       the context.
 * @param fn        the callback, or NULL to write to stderr.
 * @param user_data passed to @p fn unchanged; borrowed.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER if @p ctx is NULL.
 */
GANET_API ganet_status ganet_context_set_log_callback(ganet_context *ctx,
                                                      ganet_log_fn fn,
                                                      void *user_data);

/**
 * @brief Restart the random generator from a seed.
 *
 * The same seed gives the same numbers on every machine and for every
 * thread count: random fills run sequentially on the calling thread.
 *
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER.
 */
GANET_API ganet_status ganet_context_seed(ganet_context *ctx, uint64_t seed);

/**
 * @brief Copy out the random generator's state.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER.
 */
GANET_API ganet_status ganet_context_get_rng_state(const ganet_context *ctx,
                                                   ganet_rng_state *state);

/**
 * @brief Restore a state obtained from ganet_context_get_rng_state().
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         if the increment is even (no PCG32 state has one).
 */
GANET_API ganet_status
ganet_context_set_rng_state(ganet_context *ctx, const ganet_rng_state *state);

/**
 * @brief Draw one 32-bit random number from the context's generator.
 *
 * @param[in]  ctx   the context.
 * @param[out] value the number; 0 on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER.
 */
GANET_API ganet_status ganet_context_random_u32(ganet_context *ctx,
                                                uint32_t *value);

/**
 * @brief Read the context's counters.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER.
 */
GANET_API ganet_status ganet_context_get_stats(const ganet_context *ctx,
                                               ganet_context_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
