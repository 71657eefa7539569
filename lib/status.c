/* Status names and the per-thread message of the last failure. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char last_error[512];

const char *ganet_status_name(ganet_status status)
{
    switch (status) {
    case GANET_OK:
        return "GANET_OK";
    case GANET_ERR_NULL_POINTER:
        return "GANET_ERR_NULL_POINTER";
    case GANET_ERR_INVALID_ARGUMENT:
        return "GANET_ERR_INVALID_ARGUMENT";
    case GANET_ERR_SHAPE:
        return "GANET_ERR_SHAPE";
    case GANET_ERR_OVERFLOW:
        return "GANET_ERR_OVERFLOW";
    case GANET_ERR_OUT_OF_MEMORY:
        return "GANET_ERR_OUT_OF_MEMORY";
    case GANET_ERR_CONTEXT_MISMATCH:
        return "GANET_ERR_CONTEXT_MISMATCH";
    case GANET_ERR_STATE:
        return "GANET_ERR_STATE";
    case GANET_ERR_UNIMPLEMENTED:
        return "GANET_ERR_UNIMPLEMENTED";
    case GANET_ERR_BACKEND:
        return "GANET_ERR_BACKEND";
    case GANET_ERR_IO:
        return "GANET_ERR_IO";
    case GANET_ERR_FORMAT:
        return "GANET_ERR_FORMAT";
    case GANET_ERR_NUMERIC:
        return "GANET_ERR_NUMERIC";
    }
    return "GANET_ERR_UNKNOWN";
}

const char *ganet_status_str(ganet_status status)
{
    switch (status) {
    case GANET_OK:
        return "success";
    case GANET_ERR_NULL_POINTER:
        return "a required pointer was NULL";
    case GANET_ERR_INVALID_ARGUMENT:
        return "an argument is out of range";
    case GANET_ERR_SHAPE:
        return "shapes do not fit together";
    case GANET_ERR_OVERFLOW:
        return "a size is too large";
    case GANET_ERR_OUT_OF_MEMORY:
        return "out of memory";
    case GANET_ERR_CONTEXT_MISMATCH:
        return "objects of different contexts were mixed";
    case GANET_ERR_STATE:
        return "the call is out of order";
    case GANET_ERR_UNIMPLEMENTED:
        return "not supported";
    case GANET_ERR_BACKEND:
        return "oneDNN failed";
    case GANET_ERR_IO:
        return "a file could not be read or written";
    case GANET_ERR_FORMAT:
        return "a file is malformed";
    case GANET_ERR_NUMERIC:
        return "a NaN or infinity appeared";
    }
    return "unknown status";
}

const char *ganet_last_error(void)
{
    return last_error;
}

ganet_status ganet__fail(ganet_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

ganet_status ganet__dnnl(dnnl_status_t st, const char *what)
{
    switch (st) {
    case dnnl_success:
        return GANET_OK;
    case dnnl_out_of_memory:
        return ganet__fail(GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    case dnnl_unimplemented:
        return ganet__fail(
                GANET_ERR_UNIMPLEMENTED,
                "%s: oneDNN has no implementation for this configuration",
                what);
    case dnnl_invalid_arguments:
        return ganet__fail(GANET_ERR_INVALID_ARGUMENT,
                           "%s: oneDNN rejected the arguments", what);
    default:
        return ganet__fail(GANET_ERR_BACKEND, "%s: oneDNN status %d", what,
                           (int)st);
    }
}
