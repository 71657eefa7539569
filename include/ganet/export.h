/**
 * @file export.h
 * @brief Symbol visibility of the public API.
 */
#ifndef GANET_EXPORT_H
#define GANET_EXPORT_H

/**
 * @brief Marks a function as part of libganet's exported interface.
 *
 * The library is built with hidden visibility; only declarations carrying
 * this macro are visible to programs that link `-lganet`.
 */
#if defined(GANET_BUILDING) && defined(__GNUC__)
#define GANET_API __attribute__((visibility("default")))
#else
#define GANET_API
#endif

#endif
