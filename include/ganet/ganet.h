/**
 * @file ganet.h
 * @brief Include every public header of libganet.
 */
#ifndef GANET_GANET_H
#define GANET_GANET_H

#include <ganet/activation.h>
#include <ganet/batchnorm.h>
#include <ganet/checkpoint.h>
#include <ganet/context.h>
#include <ganet/conv.h>
#include <ganet/export.h>
#include <ganet/idx.h>
#include <ganet/image.h>
#include <ganet/layer.h>
#include <ganet/loss.h>
#include <ganet/optimizer.h>
#include <ganet/sequential.h>
#include <ganet/status.h>
#include <ganet/tensor.h>
#include <ganet/version.h>

#endif
