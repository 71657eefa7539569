/*
 * Reader for ".gref" reference files; see ref_data.h.
 *
 * The whole file is read into memory first and then parsed with a
 * bounds-checked cursor, so no read can run past the end however the
 * file is damaged, and every size is checked against the bytes left
 * before anything is allocated from it.
 */
#include "ref_data.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values are decoded by copying the IEEE-754 bits of a float32. */
_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24,
               "ref_data needs IEEE-754 single precision float");

/* The data files are a few hundred kB; anything far larger is damage. */
#define REF_MAX_FILE_BYTES ((size_t)1 << 30)
#define REF_MAX_NAME_LEN 4096u
#define REF_VERSION 1u

static const char ref_magic[8] = {'G', 'A', 'N', 'E', 'T', 'R', 'E', 'F'};

typedef struct cursor {
    const unsigned char *p;
    size_t left;
    const char *path; /* for messages only */
} cursor;

static void *read_all(const char *path, size_t *size_out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "ref_data: cannot open %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    /* Grow a buffer as we go: ftell() on a huge file can overflow long,
     * and a pipe or special file has no size at all. */
    size_t cap = 1 << 16, size = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "ref_data: out of memory reading %s\n", path);
        fclose(fp);
        return NULL;
    }
    for (;;) {
        if (size == cap) {
            if (cap >= REF_MAX_FILE_BYTES) {
                fprintf(stderr, "ref_data: %s is larger than %zu bytes\n", path,
                        (size_t)REF_MAX_FILE_BYTES);
                goto fail;
            }
            unsigned char *grown = realloc(buf, cap * 2);
            if (!grown) {
                fprintf(stderr, "ref_data: out of memory reading %s\n", path);
                goto fail;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + size, 1, cap - size, fp);
        size += got;
        if (got == 0) {
            if (ferror(fp)) {
                fprintf(stderr, "ref_data: read error on %s\n", path);
                goto fail;
            }
            break;
        }
    }
    fclose(fp);
    *size_out = size;
    return buf;
fail:
    free(buf);
    fclose(fp);
    return NULL;
}

static int take(cursor *c, size_t n, const unsigned char **out,
                const char *what)
{
    if (n > c->left) {
        fprintf(stderr, "ref_data: %s: truncated reading %s\n", c->path, what);
        return -1;
    }
    *out = c->p;
    c->p += n;
    c->left -= n;
    return 0;
}

/* Explicit little-endian decoding, so the host's byte order is moot. */
static int read_u32(cursor *c, uint32_t *v, const char *what)
{
    const unsigned char *b;
    if (take(c, 4, &b, what) != 0)
        return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
         (uint32_t)b[3] << 24;
    return 0;
}

static uint64_t decode_u64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static void free_entries(ref_entry *e, int n)
{
    for (int i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].data);
    }
    free(e);
}

/* Parse one entry into *e; on failure *e owns nothing. */
static int read_entry(cursor *c, ref_entry *e, int index)
{
    const unsigned char *b;
    uint32_t len, rank;

    memset(e, 0, sizeof(*e));
    if (read_u32(c, &len, "an entry name length") != 0)
        return -1;
    if (len == 0 || len > REF_MAX_NAME_LEN) {
        fprintf(stderr, "ref_data: %s: entry %d has name length %lu\n", c->path,
                index, (unsigned long)len);
        return -1;
    }
    if (take(c, len, &b, "an entry name") != 0)
        return -1;
    /* A NUL inside would silently shorten the name seen by find. */
    if (memchr(b, '\0', len)) {
        fprintf(stderr, "ref_data: %s: entry %d name holds a NUL\n", c->path,
                index);
        return -1;
    }
    e->name = malloc((size_t)len + 1);
    if (!e->name) {
        fprintf(stderr, "ref_data: out of memory\n");
        return -1;
    }
    memcpy(e->name, b, len);
    e->name[len] = '\0';

    if (read_u32(c, &rank, "a rank") != 0)
        goto fail;
    if (rank > REF_MAX_RANK) {
        fprintf(stderr, "ref_data: %s: entry '%s' has rank %lu > %d\n", c->path,
                e->name, (unsigned long)rank, REF_MAX_RANK);
        goto fail;
    }
    e->rank = (int)rank;

    /* Bound the element count by the bytes left, checking at every
     * multiplication, so a damaged dim can neither overflow the product
     * nor make us allocate more than the file could possibly hold. */
    uint64_t limit = c->left / 4;
    uint64_t count = 1;
    for (uint32_t i = 0; i < rank; i++) {
        if (take(c, 8, &b, "a dim") != 0)
            goto fail;
        uint64_t d = decode_u64(b);
        if (d > (uint64_t)INT64_MAX) {
            fprintf(stderr,
                    "ref_data: %s: entry '%s' has a negative "
                    "dim\n",
                    c->path, e->name);
            goto fail;
        }
        e->dims[i] = (int64_t)d;
        if (d != 0 && count > limit / d) {
            fprintf(stderr,
                    "ref_data: %s: entry '%s' is larger than the "
                    "file\n",
                    c->path, e->name);
            goto fail;
        }
        count *= d;
    }
    if (count > c->left / 4) {
        fprintf(stderr, "ref_data: %s: entry '%s' is truncated\n", c->path,
                e->name);
        goto fail;
    }
    e->count = (int64_t)count;

    /* malloc(0) may return NULL; keep a valid pointer for empty data. */
    e->data = malloc(count ? (size_t)count * sizeof(float) : 1);
    if (!e->data) {
        fprintf(stderr, "ref_data: out of memory\n");
        goto fail;
    }
    if (take(c, (size_t)count * 4, &b, "values") != 0)
        goto fail;
    for (uint64_t i = 0; i < count; i++, b += 4) {
        uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 |
                        (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&e->data[i], &bits, sizeof(float));
    }
    return 0;
fail:
    free(e->name);
    free(e->data);
    memset(e, 0, sizeof(*e));
    return -1;
}

ref_file *ref_file_load(const char *path)
{
    size_t size;
    unsigned char *buf;
    const unsigned char *b;
    uint32_t version, n;
    ref_file *f = NULL;
    ref_entry *entries = NULL;
    int done = 0;

    if (!path) {
        fprintf(stderr, "ref_data: NULL path\n");
        return NULL;
    }
    buf = read_all(path, &size);
    if (!buf)
        return NULL;
    cursor c = {buf, size, path};

    if (take(&c, sizeof(ref_magic), &b, "the magic") != 0)
        goto fail;
    if (memcmp(b, ref_magic, sizeof(ref_magic)) != 0) {
        fprintf(stderr, "ref_data: %s: not a .gref file (bad magic)\n", path);
        goto fail;
    }
    if (read_u32(&c, &version, "the version") != 0)
        goto fail;
    if (version != REF_VERSION) {
        fprintf(stderr, "ref_data: %s: format version %lu, expected %u\n", path,
                (unsigned long)version, REF_VERSION);
        goto fail;
    }
    if (read_u32(&c, &n, "the entry count") != 0)
        goto fail;
    /* The smallest entry is 13 bytes (name length, 1-byte name, rank 0,
     * one value), so a larger count cannot be real.  Checking it before
     * calloc() also keeps a damaged count from allocating gigabytes. */
    if (n > c.left / 13 || n > INT_MAX) {
        fprintf(stderr,
                "ref_data: %s: %lu entries cannot fit in %zu "
                "bytes\n",
                path, (unsigned long)n, c.left);
        goto fail;
    }
    entries = calloc(n ? n : 1, sizeof(*entries));
    if (!entries) {
        fprintf(stderr, "ref_data: out of memory\n");
        goto fail;
    }
    for (; done < (int)n; done++) {
        if (read_entry(&c, &entries[done], done) != 0)
            goto fail;
        /* Duplicates would make ref_file_find ambiguous. */
        for (int j = 0; j < done; j++) {
            if (strcmp(entries[j].name, entries[done].name) == 0) {
                fprintf(stderr, "ref_data: %s: duplicate entry '%s'\n", path,
                        entries[done].name);
                done++; /* so that it is freed too */
                goto fail;
            }
        }
    }
    if (c.left != 0) {
        fprintf(stderr, "ref_data: %s: %zu bytes of trailing garbage\n", path,
                c.left);
        goto fail;
    }
    f = malloc(sizeof(*f));
    if (!f) {
        fprintf(stderr, "ref_data: out of memory\n");
        goto fail;
    }
    f->n = (int)n;
    f->entries = entries;
    free(buf);
    return f;
fail:
    free_entries(entries, done);
    free(buf);
    return NULL;
}

void ref_file_free(ref_file *f)
{
    if (!f)
        return;
    free_entries(f->entries, f->n);
    free(f);
}

const ref_entry *ref_file_find(const ref_file *f, const char *name)
{
    if (!f || !name)
        return NULL;
    for (int i = 0; i < f->n; i++) {
        if (strcmp(f->entries[i].name, name) == 0)
            return &f->entries[i];
    }
    return NULL;
}

double ref_max_error(const float *actual, const float *expected, int64_t count,
                     double atol, double rtol)
{
    double worst = 0.0;

    for (int64_t i = 0; i < count; i++) {
        double a = actual[i], b = expected[i];
        double err;

        if (isnan(a) || isnan(b))
            return INFINITY;
        if (isinf(a) || isinf(b)) {
            /* inf - inf is NaN; an infinity only matches itself. */
            if (a != b)
                return INFINITY;
            continue;
        }
        double diff = fabs(a - b);
        double tol = atol + rtol * fabs(b);
        if (tol > 0.0)
            err = diff / tol;
        else
            err = diff == 0.0 ? 0.0 : INFINITY; /* exact match asked */
        if (err > worst)
            worst = err;
    }
    return worst;
}
