/**
 * @file checkpoint.h
 * @brief Save and restore the state of a training run in one file.
 *
 * A ::ganet_checkpoint lists what belongs in a file: the parameters and
 * buffers of layers, the state of optimizers, the context's random
 * generator, integer counters and single tensors. ganet_checkpoint_save()
 * writes their current values; ganet_checkpoint_load() puts the values of a
 * file back into them. A run that saves everything it changes (models,
 * optimizers, counters, the generator) and later loads it continues bit for
 * bit as if it had never stopped.
 *
 *     ganet_checkpoint *ck;
 *     ganet_checkpoint_create(ctx, &ck);
 *     ganet_checkpoint_add_layer(ck, "generator", generator);
 *     ganet_checkpoint_add_layer(ck, "discriminator", discriminator);
 *     ganet_checkpoint_add_optimizer(ck, "opt_g", opt_g);
 *     ganet_checkpoint_add_optimizer(ck, "opt_d", opt_d);
 *     ganet_checkpoint_add_u64(ck, "epoch", &epoch);
 *     ganet_checkpoint_add_rng(ck);
 *     ...
 *     ganet_checkpoint_save(ck, "dcgan.ckpt");    (each epoch)
 *     ganet_checkpoint_load(ck, "dcgan.ckpt");    (to resume)
 *
 * ## Entries and their names
 *
 * Every value is stored as a named entry. The names are:
 *
 * - ganet_checkpoint_add_layer(ck, "generator", layer): "generator." and
 *   each parameter's and buffer's name, "generator.0.weight",
 *   "generator.1.running_mean" (float32 tensors).
 * - ganet_checkpoint_add_optimizer(ck, "opt_g", opt): "opt_g." and each
 *   state's name, "opt_g.0.weight.exp_avg" (float32 tensors);
 *   "opt_g.step" (integer); "opt_g.lr" (float32 scalar).
 * - ganet_checkpoint_add_rng(ck): "context.rng" (16 bytes).
 * - ganet_checkpoint_add_u64(ck, "epoch", &epoch): "epoch" (integer).
 * - ganet_checkpoint_add_tensor(ck, "fixed_noise", noise): "fixed_noise"
 *   (float32 tensor).
 *
 * A name is 1 to #GANET_CHECKPOINT_MAX_NAME bytes of printable ASCII
 * without spaces (0x21 to 0x7E). Two registrations that would produce the
 * same name are refused when the second is added.
 *
 * Gradients are not stored: an optimizer step zeroes them before they are
 * used again. Optimizer hyper-parameters other than the learning rate
 * (betas, eps, momentum, ...) are not stored either: create the optimizer
 * with the same options before loading.
 *
 * ## Loading is all or nothing
 *
 * ganet_checkpoint_load() reads the whole file and checks it before it
 * changes anything: the magic, the version, every size against the file's
 * length, the checksum, and that every registered entry is present with
 * the same type and exact shape. Entries in the file that nothing
 * registered are refused too (#GANET_ERR_FORMAT), so that loading the file
 * of another model fails loudly; a program that wants only part of a file,
 * such as a sampler that needs the generator of a training checkpoint,
 * allows them with ganet_checkpoint_set_allow_extra(). Only when every check
 * passed are the values copied into the registered objects.
 *
 * ## Saving never destroys the previous file
 *
 * ganet_checkpoint_save() writes a temporary file in the target's folder
 * (the target's name followed by ".tmp.", the process id and a counter),
 * syncs it to the disk, renames it over the target and syncs the folder.
 * A crash or a failure at any point leaves either the previous file or the
 * new one under the target's name, never a half-written one; on failure
 * the temporary file is removed. The file gets the permissions of any file
 * the program creates (0666 less the umask).
 *
 * ## File format, version 1
 *
 * Integers are unsigned and little-endian; floats are IEEE 754 binary32,
 * little-endian. A file is a header, the entries back to back without
 * padding, and a checksum:
 *
 *     offset  size  field
 *     0       8     magic: the ASCII bytes "GANETCKP"
 *     8       4     format version: 1
 *     12      4     number of entries E
 *     16      8     size of the whole file in bytes, checksum included
 *     24      ...   E entries
 *     size-4  4     CRC-32 of every byte before it, as zlib's crc32()
 *                   computes it (polynomial 0xEDB88320, initial and final
 *                   XOR 0xFFFFFFFF)
 *
 * Each entry is:
 *
 *     size  field
 *     4     type: 1 float32 tensor, 2 64-bit integer, 3 bytes
 *     4     name length L, 1 to 255
 *     L     name, no terminating NUL
 *     then, for type 1:
 *       4     rank R, 0 to 4 (0 is a scalar of 1 value)
 *       8*R   dims, outermost first (N, C, H, W), each at least 1
 *       4*n   the n = product of the dims values, row-major (NCHW) order
 *     for type 2:
 *       8     the value
 *     for type 3:
 *       8     byte count S
 *       S     the bytes
 *
 * "context.rng" holds the generator's ganet_rng_state::state then
 * ganet_rng_state::increment, 8 bytes each, little-endian. Entries appear
 * in the order they were registered; a reader does not depend on it. A
 * change to this layout gets a new version number, and a reader refuses
 * versions and entry types it does not know.
 *
 * ## Ownership and threads
 *
 * Everything registered is borrowed: the layers, optimizers, tensors,
 * integer variables and the context must outlive the checkpoint handle.
 * The checkpoint lists a layer's parameters and an optimizer's states when
 * they are added, so add nothing to a Sequential after registering it.
 * Destroy the checkpoint before the objects it names.
 *
 * Thread safety: as its context (one thread at a time).
 */
#ifndef GANET_CHECKPOINT_H
#define GANET_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include <ganet/context.h>
#include <ganet/export.h>
#include <ganet/layer.h>
#include <ganet/optimizer.h>
#include <ganet/status.h>
#include <ganet/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Version of the file format written by this library. */
#define GANET_CHECKPOINT_VERSION 1

/** @brief Longest entry name in bytes. */
#define GANET_CHECKPOINT_MAX_NAME 255

/** @brief Opaque checkpoint handle; see checkpoint.h. */
typedef struct ganet_checkpoint ganet_checkpoint;

/**
 * @brief Create an empty checkpoint for objects of a context.
 *
 * @param[in]  ctx the context of every object to be registered; borrowed,
 *                 it must outlive the checkpoint.
 * @param[out] out the new checkpoint, owned by the caller, freed with
 *                 ganet_checkpoint_destroy(); NULL on failure.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_checkpoint_create(ganet_context *ctx,
                                               ganet_checkpoint **out);

/**
 * @brief Destroy a checkpoint. Accepts NULL.
 *
 * The registered objects are not touched.
 */
GANET_API void ganet_checkpoint_destroy(ganet_checkpoint *ck);

/**
 * @brief Register a layer's parameters and buffers.
 *
 * Each becomes the float32 tensor entry "<prefix>.<name>", e.g.
 * "generator.0.weight" or "generator.1.running_var". A layer without
 * parameters or buffers adds nothing.
 *
 * @param ck     the checkpoint.
 * @param prefix the first part of the names; copied.
 * @param layer  the layer, of the checkpoint's context; borrowed.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER;
 *         #GANET_ERR_CONTEXT_MISMATCH; #GANET_ERR_INVALID_ARGUMENT for a
 *         name that is empty, too long, has a character outside 0x21 to
 *         0x7E, or is already registered (nothing is added then);
 *         #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_checkpoint_add_layer(ganet_checkpoint *ck,
                                                  const char *prefix,
                                                  ganet_layer *layer);

/**
 * @brief Register an optimizer's state tensors, step count and learning
 *        rate.
 *
 * The entries are "<prefix>.<state name>" (float32 tensors, e.g.
 * "opt_g.0.weight.exp_avg"), "<prefix>.step" (integer) and "<prefix>.lr"
 * (float32 scalar). Loading sets them with ganet_tensor_copy_from(),
 * ganet_optimizer_set_step_count() and ganet_optimizer_set_lr().
 *
 * @param ck     the checkpoint.
 * @param prefix the first part of the names; copied.
 * @param opt    the optimizer, of the checkpoint's context; borrowed.
 * @return as ganet_checkpoint_add_layer().
 */
GANET_API ganet_status ganet_checkpoint_add_optimizer(ganet_checkpoint *ck,
                                                      const char *prefix,
                                                      ganet_optimizer *opt);

/**
 * @brief Register one tensor as the float32 tensor entry @p name.
 *
 * @param ck     the checkpoint.
 * @param name   the entry's whole name; copied.
 * @param tensor the tensor, of the checkpoint's context; borrowed.
 * @return as ganet_checkpoint_add_layer().
 */
GANET_API ganet_status ganet_checkpoint_add_tensor(ganet_checkpoint *ck,
                                                   const char *name,
                                                   ganet_tensor *tensor);

/**
 * @brief Register an integer variable as the integer entry @p name.
 *
 * Saving writes the variable's value at the time of the save; loading sets
 * it.
 *
 * @param ck    the checkpoint.
 * @param name  the entry's whole name, e.g. "epoch"; copied.
 * @param value the caller's variable; borrowed, it must stay valid while
 *              the checkpoint lives.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for a bad or already registered name; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_checkpoint_add_u64(ganet_checkpoint *ck,
                                                const char *name,
                                                uint64_t *value);

/**
 * @brief Register the state of the context's random generator as the
 *        entry "context.rng".
 *
 * After loading, the context draws the same numbers it would have drawn
 * after the save.
 *
 * @param ck the checkpoint.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         when it is already registered; #GANET_ERR_OUT_OF_MEMORY.
 */
GANET_API ganet_status ganet_checkpoint_add_rng(ganet_checkpoint *ck);

/**
 * @brief Choose whether loading accepts entries that nothing registered.
 *
 * By default they are refused with #GANET_ERR_FORMAT. When allowed, they
 * are checked like the others (sizes, types, names) and then ignored.
 *
 * @param ck    the checkpoint.
 * @param allow true to ignore such entries.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER.
 */
GANET_API ganet_status ganet_checkpoint_set_allow_extra(ganet_checkpoint *ck,
                                                        bool allow);

/**
 * @brief Write the current value of every registered entry to a file.
 *
 * See "Saving never destroys the previous file" above. Registering
 * nothing writes a valid file of no entries.
 *
 * @param ck   the checkpoint.
 * @param path the file to create or replace; its folder must exist.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_INVALID_ARGUMENT
 *         for an empty path; #GANET_ERR_IO naming the file, the step that
 *         failed and the system's reason, with the target as it was;
 *         #GANET_ERR_OUT_OF_MEMORY; #GANET_ERR_OVERFLOW when the file would
 *         exceed 2^64 bytes; #GANET_ERR_BACKEND when a tensor cannot be
 *         read.
 */
GANET_API ganet_status ganet_checkpoint_save(ganet_checkpoint *ck,
                                             const char *path);

/**
 * @brief Read a file and put its values into the registered objects.
 *
 * See "Loading is all or nothing" above. The messages name the file, the
 * entry and the numbers, e.g. "ganet_checkpoint_load: 'run.ckpt': entry
 * 'generator.0.weight' is [8, 4, 4, 4] in the file, the registered
 * tensor is [8, 3, 4, 4]".
 *
 * @param ck   the checkpoint.
 * @param path the file to read.
 * @return #GANET_OK; #GANET_ERR_NULL_POINTER; #GANET_ERR_IO when the file
 *         cannot be opened or read; #GANET_ERR_FORMAT when it is not a
 *         checkpoint, is truncated or has extra bytes, has another
 *         version, fails the checksum, lacks a registered entry, holds an
 *         entry of another type or one that nothing registered (unless
 *         allowed), or holds a value the object cannot take (a negative
 *         learning rate, a step count above INT64_MAX, an even generator
 *         increment); #GANET_ERR_SHAPE when a tensor's rank or dims differ
 *         from the registered one's; #GANET_ERR_OUT_OF_MEMORY. On any of
 *         these the registered objects are unchanged. #GANET_ERR_BACKEND
 *         when writing a tensor fails, which may leave the objects partly
 *         loaded.
 */
GANET_API ganet_status ganet_checkpoint_load(ganet_checkpoint *ck,
                                             const char *path);

#ifdef __cplusplus
}
#endif

#endif
