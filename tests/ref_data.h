/*
 * Reader for the PyTorch reference data in tests/data (".gref" files).
 *
 * The files are written by tests/reference/make_reference.py; the
 * format is described there and in tests/data/README.md.  This reader
 * depends on libc only, so a test that fails on the data never fails
 * because of the library it is testing.
 */
#ifndef GANET_TESTS_REF_DATA_H
#define GANET_TESTS_REF_DATA_H

#include <stdint.h>

#define REF_MAX_RANK 5

typedef struct ref_entry {
    char *name; /* NUL-terminated copy of the name */
    int rank; /* 0..REF_MAX_RANK */
    int64_t dims[REF_MAX_RANK]; /* dims[rank..] are 0 */
    int64_t count; /* product of dims; 1 for rank 0 */
    float *data; /* count values, row-major */
} ref_entry;

typedef struct ref_file {
    int n;
    ref_entry *entries;
} ref_file;

/*
 * Load a .gref file; return NULL and print why on stderr on any error
 * (missing, truncated, bad magic/version, absurd sizes).
 */
ref_file *ref_file_load(const char *path);

/* Free a file from ref_file_load; NULL is allowed. */
void ref_file_free(ref_file *f);

/* Borrowed, NULL when absent. */
const ref_entry *ref_file_find(const ref_file *f, const char *name);

/*
 * Largest |a-b| / (atol + rtol*|b|) over count values; <= 1 means within
 * tolerance.  A NaN on either side, or an infinity not matched exactly,
 * gives INFINITY; count <= 0 gives 0.
 */
double ref_max_error(const float *actual, const float *expected, int64_t count,
                     double atol, double rtol);

#endif /* GANET_TESTS_REF_DATA_H */
