/* Helpers shared by the unit tests; see test_support.h. */
#include "test_support.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

int support_context_setup(void **state)
{
    ganet_context *ctx;
    if (ganet_context_create(NULL, &ctx) != GANET_OK)
        return -1;
    *state = ctx;
    return 0;
}

int support_context_setup_seeded(void **state, uint64_t seed)
{
    ganet_context_options o = GANET_CONTEXT_OPTIONS_DEFAULT;
    o.seed = seed;
    ganet_context *ctx;
    if (ganet_context_create(&o, &ctx) != GANET_OK)
        return -1;
    *state = ctx;
    return 0;
}

int support_context_teardown(void **state)
{
    ganet_context_destroy(*state);
    return 0;
}

void support_data_path(char *buf, size_t size, const char *folder,
                       const char *name)
{
    const char *dir = getenv("GANET_TEST_DATA");
    if (dir == NULL)
        dir = "tests/data";
    if (folder != NULL)
        snprintf(buf, size, "%s/%s/%s.gref", dir, folder, name);
    else
        snprintf(buf, size, "%s/%s.gref", dir, name);
}

ref_file *support_load_case(const char *folder, const char *name)
{
    char path[1024];
    support_data_path(path, sizeof path, folder, name);
    ref_file *f = ref_file_load(path);
    if (f == NULL)
        fail_msg("cannot load %s", path);
    return f;
}

const ref_entry *support_entry(const ref_file *f, const char *name)
{
    const ref_entry *e = ref_file_find(f, name);
    if (e == NULL)
        fail_msg("reference entry '%s' is missing", name);
    return e;
}

const ref_entry *support_entry_k(const ref_file *f, const char *name, int k)
{
    char full[64];
    snprintf(full, sizeof full, "%s.%d", name, k);
    return support_entry(f, full);
}

ganet_tensor *support_tensor_from(ganet_context *ctx, const ref_entry *e)
{
    ganet_tensor *t = NULL;
    assert_true(e->rank >= 1 && e->rank <= GANET_MAX_RANK);
    assert_int_equal(ganet_tensor_create(ctx, e->rank, e->dims, &t), GANET_OK);
    support_load_entry(t, e);
    return t;
}

void support_load_entry(ganet_tensor *t, const ref_entry *e)
{
    assert_int_equal(ganet_tensor_count(t), e->count);
    assert_int_equal(ganet_tensor_copy_from(t, e->data, (size_t)e->count),
                     GANET_OK);
}

float *support_values(const ganet_tensor *t)
{
    int64_t n = ganet_tensor_count(t);
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    assert_int_equal(ganet_tensor_copy_to(t, v, (size_t)n), GANET_OK);
    return v;
}

void support_assert_same_values(const ganet_tensor *a, const ganet_tensor *b)
{
    assert_int_equal(ganet_tensor_count(a), ganet_tensor_count(b));
    float *va = support_values(a), *vb = support_values(b);
    assert_memory_equal(va, vb, (size_t)ganet_tensor_count(a) * sizeof *va);
    free(va);
    free(vb);
}

void support_read_values(const ganet_tensor *t, float *v, int64_t n)
{
    assert_int_equal(ganet_tensor_count(t), n);
    assert_int_equal(ganet_tensor_copy_to(t, v, (size_t)n), GANET_OK);
}

double support_max_error(const ganet_tensor *t, const ref_entry *e, double atol,
                         double rtol)
{
    assert_int_equal(ganet_tensor_count(t), e->count);
    float *v = support_values(t);
    double err = ref_max_error(v, e->data, e->count, atol, rtol);
    free(v);
    return err;
}

double support_expect_close(const ganet_tensor *t, const ref_entry *e,
                            double atol, double rtol, const char *what)
{
    double err = support_max_error(t, e, atol, rtol);
    if (err > 1.0)
        fail_msg("%s: error %.3g times the tolerance",
                 what != NULL ? what : e->name, err);
    return err;
}

int support_tmpdir_create(char *dir, size_t size, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(dir, size, "%s/%s-XXXXXX",
                     tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp", prefix);
    if (n < 0 || (size_t)n >= size || mkdtemp(dir) == NULL)
        return -1;
    return 0;
}

int support_tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *de;
        char path[512];
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            remove(path);
        }
        closedir(d);
    }
    return remove(dir);
}

int support_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

void support_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

unsigned char *support_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}
