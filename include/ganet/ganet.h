/**
 * @file ganet.h
 * @brief Include every public header of libganet.
 */
#ifndef GANET_GANET_H
#define GANET_GANET_H

#include <ganet/context.h>
#include <ganet/export.h>
#include <ganet/status.h>
#include <ganet/tensor.h>
#include <ganet/version.h>

#endif
