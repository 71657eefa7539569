/*
 * Helpers shared by the unit tests: the context fixture, reference data
 * from $GANET_TEST_DATA, tensors made from and compared with reference
 * entries, and temporary folders with small files. A failed check ends
 * the current test through CMocka. Only the public API is used, so any
 * test executable can link this file.
 */
#ifndef GANET_TESTS_TEST_SUPPORT_H
#define GANET_TESTS_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ganet/context.h"
#include "ganet/tensor.h"
#include "ref_data.h"

/* CMocka setup: a context with the default options in *state. */
int support_context_setup(void **state);

/* CMocka setup: a context with the default options but seed, in *state. */
int support_context_setup_seeded(void **state, uint64_t seed);

/* CMocka teardown: destroy the context of *state. */
int support_context_teardown(void **state);

/* $GANET_TEST_DATA/folder/name.gref into buf (tests/data when the
 * variable is unset; no folder part when folder is NULL). */
void support_data_path(char *buf, size_t size, const char *folder,
                       const char *name);

/* Load folder/name.gref of the test data; fail the test if it cannot. */
ref_file *support_load_case(const char *folder, const char *name);

/* The entry of a reference file by name; fail the test if it is absent. */
const ref_entry *support_entry(const ref_file *f, const char *name);

/* The entry name.k (the k-th step of a sequence); fail if absent. */
const ref_entry *support_entry_k(const ref_file *f, const char *name, int k);

/* A new tensor of an entry's shape (rank 1 to GANET_MAX_RANK) and
 * values, owned by the caller. */
ganet_tensor *support_tensor_from(ganet_context *ctx, const ref_entry *e);

/* Copy an entry's values into a tensor of the same element count. */
void support_load_entry(ganet_tensor *t, const ref_entry *e);

/* All values of a tensor in a malloc'd buffer, freed by the caller. */
float *support_values(const ganet_tensor *t);

/* Fail unless two tensors have the same element count and the same
 * values, bit for bit. */
void support_assert_same_values(const ganet_tensor *a, const ganet_tensor *b);

/* Copy a tensor's values into v after checking it holds exactly n. */
void support_read_values(const ganet_tensor *t, float *v, int64_t n);

/* Fail unless a tensor has an entry's element count; return the largest
 * error against it in units of atol + rtol * |ref| (see ref_max_error). */
double support_max_error(const ganet_tensor *t, const ref_entry *e, double atol,
                         double rtol);

/* support_max_error, failing the test naming what (the entry's name when
 * NULL) when the error is above 1; return the error. */
double support_expect_close(const ganet_tensor *t, const ref_entry *e,
                            double atol, double rtol, const char *what);

/* Make a fresh folder $TMPDIR/prefix-XXXXXX (or under /tmp) in dir, which
 * holds size bytes; return 0, or -1 if it cannot. */
int support_tmpdir_create(char *dir, size_t size, const char *prefix);

/* Remove what a folder holds (files and empty folders), then the folder;
 * return the status of removing the folder (0 on success). */
int support_tmpdir_remove(const char *dir);

/* Entries of a folder other than "." and "..". */
int support_count_entries(const char *dir);

/* Write size bytes to a new file at path. */
void support_write_file(const char *path, const void *data, size_t size);

/* The whole file in a malloc'd buffer (one spare byte at the end), its
 * size in *size. */
unsigned char *support_read_file(const char *path, size_t *size);

#endif /* GANET_TESTS_TEST_SUPPORT_H */
