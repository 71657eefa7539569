/**
 * @file status.h
 * @brief Status codes and the per-thread message of the last failure.
 *
 * Every libganet call that can fail returns a ::ganet_status. On failure
 * the call leaves its objects as they were, sets its out-parameters to NULL
 * (or zero), and records a message naming the object and the numbers
 * involved, which ganet_last_error() returns on the same thread.
 */
#ifndef GANET_STATUS_H
#define GANET_STATUS_H

#include <ganet/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Result of a libganet call; #GANET_OK is zero. */
typedef enum ganet_status {
    /** The call succeeded. */
    GANET_OK = 0,
    /** A required pointer argument was NULL. */
    GANET_ERR_NULL_POINTER = 1,
    /** An argument is out of its documented range. */
    GANET_ERR_INVALID_ARGUMENT = 2,
    /** Tensor shapes or element counts do not fit together. */
    GANET_ERR_SHAPE = 3,
    /** A size computation would overflow 64-bit or addressable memory. */
    GANET_ERR_OVERFLOW = 4,
    /** Memory could not be allocated. */
    GANET_ERR_OUT_OF_MEMORY = 5,
    /** Objects created from different contexts were used together. */
    GANET_ERR_CONTEXT_MISMATCH = 6,
    /** The call is out of order, e.g. a backward pass before a forward. */
    GANET_ERR_STATE = 7,
    /** The configuration is valid but not supported by this build or CPU. */
    GANET_ERR_UNIMPLEMENTED = 8,
    /** oneDNN reported a failure that is not the caller's mistake. */
    GANET_ERR_BACKEND = 9,
    /** A file could not be opened, read or written. */
    GANET_ERR_IO = 10,
    /** A file's contents are malformed, truncated or of another version. */
    GANET_ERR_FORMAT = 11,
    /** A NaN or an infinity appeared where a finite number is required. */
    GANET_ERR_NUMERIC = 12,
} ganet_status;

/**
 * @brief Return the name of a status, such as "GANET_ERR_SHAPE".
 *
 * @param status any value; unknown values give "GANET_ERR_UNKNOWN".
 * @return a static string, never NULL.
 */
GANET_API const char *ganet_status_name(ganet_status status);

/**
 * @brief Return a one-line description of a status in plain words.
 *
 * @param status any value; unknown values give a generic description.
 * @return a static string, never NULL.
 */
GANET_API const char *ganet_status_str(ganet_status status);

/**
 * @brief Return the message of the last failed call on this thread.
 *
 * The message names the function, the object and the numbers involved,
 * e.g. "conv2d: input has 3 channels, the layer expects 1".
 *
 * @return a thread-local string owned by the library, valid until the next
 *         failing libganet call on this thread; "" when nothing failed yet.
 *         Successful calls do not clear it.
 */
GANET_API const char *ganet_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
