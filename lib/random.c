/*
 * The context's random generator: PCG32 (64-bit LCG state, XSH-RR output).
 * Integer arithmetic only, so a seed gives the same stream everywhere.
 */
#include "internal.h"

#define PCG_MULTIPLIER 6364136223846793005ULL
#define PCG_DEFAULT_INCREMENT 1442695040888963407ULL

uint32_t ganet__rng_next(ganet_rng_state *rng)
{
    uint64_t old = rng->state;
    rng->state = old * PCG_MULTIPLIER + rng->increment;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32 - rot) & 31));
}

void ganet__rng_seed(ganet_rng_state *rng, uint64_t seed)
{
    rng->state = 0;
    rng->increment = PCG_DEFAULT_INCREMENT;
    ganet__rng_next(rng);
    rng->state += seed;
    ganet__rng_next(rng);
}

float ganet__rng_uniform(ganet_rng_state *rng)
{
    return (float)(ganet__rng_next(rng) >> 8) * (1.0f / 16777216.0f);
}

ganet_status ganet_context_seed(ganet_context *ctx, uint64_t seed)
{
    GANET__CHECK_NULL("ganet_context_seed", ctx);
    ganet__rng_seed(&ctx->rng, seed);
    return GANET_OK;
}

ganet_status ganet_context_get_rng_state(const ganet_context *ctx,
                                         ganet_rng_state *state)
{
    GANET__CHECK_NULL("ganet_context_get_rng_state", ctx);
    GANET__CHECK_NULL("ganet_context_get_rng_state", state);
    *state = ctx->rng;
    return GANET_OK;
}

ganet_status ganet_context_set_rng_state(ganet_context *ctx,
                                         const ganet_rng_state *state)
{
    static const char fn[] = "ganet_context_set_rng_state";
    GANET__CHECK_NULL(fn, ctx);
    GANET__CHECK_NULL(fn, state);
    GANET__CHECK(state->increment % 2 == 1, GANET_ERR_INVALID_ARGUMENT,
                 "%s: increment %llu is even; a PCG32 increment is always odd",
                 fn, (unsigned long long)state->increment);
    ctx->rng = *state;
    return GANET_OK;
}

ganet_status ganet_context_random_u32(ganet_context *ctx, uint32_t *value)
{
    GANET__CHECK_NULL("ganet_context_random_u32", value);
    *value = 0;
    GANET__CHECK_NULL("ganet_context_random_u32", ctx);
    *value = ganet__rng_next(&ctx->rng);
    return GANET_OK;
}
