/* IDX files: plain and gzip round trips, atomic writes, and refusal of
 * missing, malformed, truncated and oversized files. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "ganet/idx.h"
#include "test_support.h"

#define FASHION_LABELS                                                         \
    "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"

/* A fresh temporary folder per test, removed with what it holds. */
typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    if (support_tmpdir_create(f->dir, sizeof f->dir, "ganet-idx") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    support_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static const char *file_in(fixture *f, const char *name)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    return f->path;
}

static void write_gzip(const char *path, const void *data, size_t size)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)size), (int)size);
    assert_int_equal(gzclose(gz), Z_OK);
}

static long file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (long)sb.st_size;
}

static void roundtrip(fixture *f, const char *name,
                      ganet_idx_compression compression)
{
    uint8_t data[24];
    for (int i = 0; i < 24; i++)
        data[i] = (uint8_t)(i * 11);
    const ganet_idx src = {
            .rank = 3, .dims = {2, 3, 4}, .count = 24, .data = data};
    const char *path = file_in(f, name);
    assert_int_equal(ganet_idx_write(&src, path, compression), GANET_OK);
    /* The temporary file is gone: only the result is left. */
    assert_int_equal(support_count_entries(f->dir), 1);

    ganet_idx *got = NULL;
    assert_int_equal(ganet_idx_read(path, &got), GANET_OK);
    assert_int_equal(got->rank, 3);
    assert_int_equal(got->dims[0], 2);
    assert_int_equal(got->dims[1], 3);
    assert_int_equal(got->dims[2], 4);
    assert_int_equal(got->count, 24);
    assert_memory_equal(got->data, data, 24);
    ganet_idx_destroy(got);
}

static void test_idx_roundtrip_plain(void **state)
{
    fixture *f = *state;
    roundtrip(f, "plain.idx", GANET_IDX_PLAIN);
    /* 4 magic bytes, 3 dims of 4 bytes, 24 data bytes, uncompressed. */
    assert_int_equal(file_size(f->path), 40);
    FILE *fp = fopen(f->path, "rb");
    assert_non_null(fp);
    uint8_t head[8];
    assert_int_equal(fread(head, 1, 8, fp), 8);
    fclose(fp);
    const uint8_t expect[8] = {0, 0, 0x08, 3, 0, 0, 0, 2};
    assert_memory_equal(head, expect, 8);
}

static void test_idx_roundtrip_gzip(void **state)
{
    fixture *f = *state;
    roundtrip(f, "packed.idx.gz", GANET_IDX_GZIP);
    FILE *fp = fopen(f->path, "rb");
    assert_non_null(fp);
    uint8_t head[2];
    assert_int_equal(fread(head, 1, 2, fp), 2);
    fclose(fp);
    assert_int_equal(head[0], 0x1f);
    assert_int_equal(head[1], 0x8b);
}

static void test_idx_write_replaces_whole_file(void **state)
{
    fixture *f = *state;
    const char *path = file_in(f, "labels.idx");
    support_write_file(path, "old contents", 12);
    uint8_t labels[5] = {1, 2, 3, 4, 5};
    ganet_idx src = {.rank = 1, .dims = {5}, .count = 5, .data = labels};
    assert_int_equal(ganet_idx_write(&src, path, GANET_IDX_PLAIN), GANET_OK);
    assert_int_equal(file_size(path), 4 + 4 + 5);
    assert_int_equal(support_count_entries(f->dir), 1);

    /* A refused write leaves the old file as it was. */
    src.count = 4;
    assert_int_equal(ganet_idx_write(&src, path, GANET_IDX_PLAIN),
                     GANET_ERR_SHAPE);
    assert_non_null(strstr(ganet_last_error(), "count is 4"));
    assert_int_equal(file_size(path), 13);
    assert_int_equal(support_count_entries(f->dir), 1);
}

static void test_idx_write_rejects_bad_arguments(void **state)
{
    fixture *f = *state;
    const char *path = file_in(f, "bad.idx");
    uint8_t data[4] = {0};
    ganet_idx src = {.rank = 1, .dims = {4}, .count = 4, .data = data};
    assert_int_equal(ganet_idx_write(NULL, path, GANET_IDX_PLAIN),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_idx_write(&src, NULL, GANET_IDX_PLAIN),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(ganet_idx_write(&src, path, (ganet_idx_compression)7),
                     GANET_ERR_INVALID_ARGUMENT);
    src.rank = 0;
    assert_int_equal(ganet_idx_write(&src, path, GANET_IDX_PLAIN),
                     GANET_ERR_INVALID_ARGUMENT);
    src.rank = 2;
    src.dims[1] = 0;
    assert_int_equal(ganet_idx_write(&src, path, GANET_IDX_PLAIN),
                     GANET_ERR_INVALID_ARGUMENT);
    src.dims[0] = 1 << 20;
    src.dims[1] = 1 << 20;
    assert_int_equal(ganet_idx_write(&src, path, GANET_IDX_PLAIN),
                     GANET_ERR_INVALID_ARGUMENT);
    src.rank = 1;
    src.dims[0] = 4;
    src.data = NULL;
    assert_int_equal(ganet_idx_write(&src, path, GANET_IDX_PLAIN),
                     GANET_ERR_NULL_POINTER);
    assert_int_equal(support_count_entries(f->dir), 0);

    /* A folder that does not exist cannot hold the temporary file. */
    src.data = data;
    assert_int_equal(
            ganet_idx_write(&src, file_in(f, "none/x.idx"), GANET_IDX_PLAIN),
            GANET_ERR_IO);
}

static void test_idx_read_rejects_null_pointers(void **state)
{
    fixture *f = *state;
    ganet_idx *got = (ganet_idx *)1;
    assert_int_equal(ganet_idx_read(NULL, &got), GANET_ERR_NULL_POINTER);
    assert_null(got);
    assert_int_equal(ganet_idx_read(file_in(f, "x"), NULL),
                     GANET_ERR_NULL_POINTER);
    ganet_idx_destroy(NULL);
}

static void test_idx_read_missing_file(void **state)
{
    fixture *f = *state;
    ganet_idx *got = (ganet_idx *)1;
    assert_int_equal(ganet_idx_read(file_in(f, "absent.idx"), &got),
                     GANET_ERR_IO);
    assert_null(got);
    assert_non_null(strstr(ganet_last_error(), "absent.idx: cannot open"));
    /* A folder opens but cannot be read. */
    assert_int_equal(ganet_idx_read(f->dir, &got), GANET_ERR_IO);
}

/* Write bytes to a file, read it, and return the status. */
static ganet_status read_raw(fixture *f, const void *bytes, size_t size)
{
    const char *path = file_in(f, "raw.idx");
    support_write_file(path, bytes, size);
    ganet_idx *got = (ganet_idx *)1;
    ganet_status st = ganet_idx_read(path, &got);
    if (st != GANET_OK)
        assert_null(got);
    ganet_idx_destroy(got);
    return st;
}

static void test_idx_read_rejects_bad_magic(void **state)
{
    fixture *f = *state;
    const uint8_t png[12] = {0x89, 'P', 'N', 'G', 0, 0, 0, 1, 7};
    assert_int_equal(read_raw(f, png, sizeof png), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "not an IDX file"));
    assert_int_equal(read_raw(f, "", 0), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "found 0 bytes"));
    assert_int_equal(read_raw(f, "\0\0", 2), GANET_ERR_FORMAT);
}

static void test_idx_read_rejects_unsupported_type(void **state)
{
    fixture *f = *state;
    const uint8_t floats[12] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0x80, 0x3f};
    assert_int_equal(read_raw(f, floats, sizeof floats),
                     GANET_ERR_UNIMPLEMENTED);
    assert_non_null(strstr(ganet_last_error(), "0x0d (float32)"));
    const uint8_t unknown[9] = {0, 0, 0x07, 1, 0, 0, 0, 1, 5};
    assert_int_equal(read_raw(f, unknown, sizeof unknown), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "unknown"));
}

static void test_idx_read_rejects_bad_rank_and_zero_dims(void **state)
{
    fixture *f = *state;
    const uint8_t zero[13] = {0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 0};
    assert_int_equal(read_raw(f, zero, 12), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "dims[1] is 0"));
    const uint8_t rank0[5] = {0, 0, 8, 0, 9};
    assert_int_equal(read_raw(f, rank0, 5), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "rank is 0"));
    const uint8_t rank5[24] = {0, 0, 8, 5, 0, 0, 0, 1};
    assert_int_equal(read_raw(f, rank5, 24), GANET_ERR_FORMAT);
    /* The header ends inside the dims. */
    const uint8_t short_dims[10] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0};
    assert_int_equal(read_raw(f, short_dims, 10), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "expected 12 bytes of dims"));
}

static void test_idx_read_rejects_truncated_data(void **state)
{
    fixture *f = *state;
    const uint8_t bytes[12] = {0, 0, 8, 1, 0, 0, 0, 10, 1, 2, 3, 4};
    assert_int_equal(read_raw(f, bytes, sizeof bytes), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(),
                           "raw.idx: expected 10 bytes of data, found 4"));
}

static void test_idx_read_rejects_trailing_data(void **state)
{
    fixture *f = *state;
    const uint8_t bytes[14] = {0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4, 5, 6};
    assert_int_equal(read_raw(f, bytes, sizeof bytes), GANET_ERR_FORMAT);
    assert_non_null(
            strstr(ganet_last_error(), "expected 4 bytes of data, found 6"));
}

static void test_idx_read_rejects_huge_dims(void **state)
{
    fixture *f = *state;
    /* The product of four dims of 2^32 - 1 overflows 64 bits. */
    uint8_t overflow[20] = {0, 0, 8, 4};
    memset(overflow + 4, 0xff, 16);
    assert_int_equal(read_raw(f, overflow, sizeof overflow), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(), "more than the 1073741824"));
    /* 2^16 x 2^16 bytes is above the bound. */
    const uint8_t big[12] = {0, 0, 8, 2, 0, 1, 0, 0, 0, 1, 0, 0};
    assert_int_equal(read_raw(f, big, sizeof big), GANET_ERR_FORMAT);
    /* Exactly the bound is allowed by the header, but the few bytes present
     * are all that gets allocated before the shortfall is found. */
    const uint8_t at_limit[11] = {0, 0, 8, 1, 0x40, 0, 0, 0, 1, 2, 3};
    assert_int_equal(read_raw(f, at_limit, sizeof at_limit), GANET_ERR_FORMAT);
    assert_non_null(strstr(ganet_last_error(),
                           "expected 1073741824 bytes of data, found 3"));
}

static void test_idx_read_rejects_truncated_gzip(void **state)
{
    fixture *f = *state;
    uint8_t bytes[8 + 4096] = {0, 0, 8, 1, 0, 0, 0x10, 0};
    for (int i = 0; i < 4096; i++)
        bytes[8 + i] = (uint8_t)(i * 7919 >> 3);
    const char *path = file_in(f, "whole.gz");
    write_gzip(path, bytes, sizeof bytes);
    ganet_idx *got = NULL;
    assert_int_equal(ganet_idx_read(path, &got), GANET_OK);
    assert_memory_equal(got->data, bytes + 8, 4096);
    ganet_idx_destroy(got);

    /* Cut the compressed file in half. */
    long size = file_size(path);
    uint8_t *packed = malloc((size_t)size);
    assert_non_null(packed);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(packed, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    assert_int_equal(read_raw(f, packed, (size_t)size / 2), GANET_ERR_FORMAT);
    /* Damage the deflate data after the 10-byte gzip header. */
    for (long i = 12; i < size - 8; i++)
        packed[i] ^= 0x5a;
    assert_int_equal(read_raw(f, packed, (size_t)size), GANET_ERR_FORMAT);
    free(packed);
}

static void test_idx_read_fashion_mnist_labels(void **state)
{
    (void)state;
    if (access(FASHION_LABELS, R_OK) != 0)
        skip();
    ganet_idx *labels = NULL;
    assert_int_equal(ganet_idx_read(FASHION_LABELS, &labels), GANET_OK);
    assert_int_equal(labels->rank, 1);
    assert_int_equal(labels->dims[0], 60000);
    assert_int_equal(labels->count, 60000);
    int seen[10] = {0};
    for (size_t i = 0; i < labels->count; i++) {
        assert_in_range(labels->data[i], 0, 9);
        seen[labels->data[i]]++;
    }
    /* Fashion-MNIST's training set is balanced. */
    for (int k = 0; k < 10; k++)
        assert_int_equal(seen[k], 6000);
    ganet_idx_destroy(labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_idx_roundtrip_plain, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_idx_roundtrip_gzip, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_idx_write_replaces_whole_file,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(
                    test_idx_write_rejects_bad_arguments, setup, teardown),
            cmocka_unit_test_setup_teardown(test_idx_read_rejects_null_pointers,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(test_idx_read_missing_file, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_idx_read_rejects_bad_magic,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(
                    test_idx_read_rejects_unsupported_type, setup, teardown),
            cmocka_unit_test_setup_teardown(
                    test_idx_read_rejects_bad_rank_and_zero_dims, setup,
                    teardown),
            cmocka_unit_test_setup_teardown(
                    test_idx_read_rejects_truncated_data, setup, teardown),
            cmocka_unit_test_setup_teardown(test_idx_read_rejects_trailing_data,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(test_idx_read_rejects_huge_dims,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(
                    test_idx_read_rejects_truncated_gzip, setup, teardown),
            cmocka_unit_test(test_idx_read_fashion_mnist_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
