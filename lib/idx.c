/* IDX files of unsigned bytes, plain or gzip, read through zlib. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "atomic_file.h"
#include "ganet/idx.h"
#include "internal.h"

/* Element type codes of the format; only unsigned bytes are read. */
#define IDX_UBYTE 0x08

/* Reads are issued in chunks zlib's unsigned lengths always hold. */
#define IO_CHUNK ((size_t)1 << 20)

static const char *type_name(int type)
{
    switch (type) {
    case 0x09:
        return "signed byte";
    case 0x0B:
        return "int16";
    case 0x0C:
        return "int32";
    case 0x0D:
        return "float32";
    case 0x0E:
        return "float64";
    default:
        return NULL;
    }
}

/* Turn zlib's state after a short or failed read into a status; GANET_OK
 * when the stream simply ended. */
static ganet_status stream_status(gzFile gz, const char *path)
{
    int err;
    const char *msg = gzerror(gz, &err);
    if (err == Z_OK)
        return GANET_OK;
    if (err == Z_ERRNO)
        return ganet__fail(GANET_ERR_IO, "%s: cannot read: %s", path,
                           strerror(errno));
    if (err == Z_MEM_ERROR)
        return ganet__fail(GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    return ganet__fail(GANET_ERR_FORMAT, "%s: corrupt gzip data: %s", path,
                       msg);
}

/* Read up to size bytes; *got is what arrived before the end or an error. */
static ganet_status read_some(gzFile gz, const char *path, uint8_t *buf,
                              size_t size, size_t *got)
{
    *got = 0;
    while (*got < size) {
        size_t want = size - *got < IO_CHUNK ? size - *got : IO_CHUNK;
        int n = gzread(gz, buf + *got, (unsigned)want);
        if (n <= 0)
            return stream_status(gz, path);
        *got += (size_t)n;
    }
    return GANET_OK;
}

/* Check the 4-byte magic, then read and check the dims. */
static ganet_status read_header(gzFile gz, const char *path, ganet_idx *idx)
{
    uint8_t magic[4];
    size_t got;
    GANET__TRY(read_some(gz, path, magic, 4, &got));
    GANET__CHECK(got == 4, GANET_ERR_FORMAT,
                 "%s: expected a 4-byte IDX magic, found %zu bytes", path, got);
    GANET__CHECK(magic[0] == 0 && magic[1] == 0, GANET_ERR_FORMAT,
                 "%s: not an IDX file: magic %02x %02x %02x %02x, expected "
                 "00 00 08 <rank>",
                 path, magic[0], magic[1], magic[2], magic[3]);
    if (magic[2] != IDX_UBYTE) {
        const char *name = type_name(magic[2]);
        if (name != NULL)
            return ganet__fail(GANET_ERR_UNIMPLEMENTED,
                               "%s: element type 0x%02x (%s) is not "
                               "supported, only unsigned bytes (0x08)",
                               path, magic[2], name);
        return ganet__fail(GANET_ERR_FORMAT,
                           "%s: unknown IDX element type 0x%02x", path,
                           magic[2]);
    }
    int rank = magic[3];
    GANET__CHECK(rank >= 1 && rank <= GANET_IDX_MAX_RANK, GANET_ERR_FORMAT,
                 "%s: rank is %d, expected 1 to %d", path, rank,
                 GANET_IDX_MAX_RANK);

    uint8_t raw[4 * GANET_IDX_MAX_RANK];
    size_t want = 4 * (size_t)rank;
    GANET__TRY(read_some(gz, path, raw, want, &got));
    GANET__CHECK(got == want, GANET_ERR_FORMAT,
                 "%s: expected %zu bytes of dims, found %zu", path, want, got);
    /* Each dim is below 2^32 and the running count stays at or below the
     * limit, so the product never overflows. */
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        const uint8_t *b = raw + 4 * i;
        uint32_t d = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
                     (uint32_t)b[2] << 8 | (uint32_t)b[3];
        GANET__CHECK(d >= 1, GANET_ERR_FORMAT, "%s: dims[%d] is 0", path, i);
        GANET__CHECK(count <= GANET_IDX_MAX_BYTES / d, GANET_ERR_FORMAT,
                     "%s: dims up to dims[%d] = %lu declare more than the "
                     "%zu bytes supported",
                     path, i, (unsigned long)d, GANET_IDX_MAX_BYTES);
        count *= d;
        idx->dims[i] = d;
    }
    idx->rank = rank;
    idx->count = count;
    return GANET_OK;
}

/* Read exactly idx->count bytes. The buffer grows as data arrives, so a
 * short file that declares a large size costs only what it holds. */
static ganet_status read_data(gzFile gz, const char *path, ganet_idx *idx)
{
    size_t cap = 0, have = 0;
    for (;;) {
        if (have == cap) {
            if (cap == idx->count)
                break;
            size_t next = cap == 0 ? IO_CHUNK : 2 * cap;
            if (next > idx->count)
                next = idx->count;
            uint8_t *grown = realloc(idx->data, next);
            GANET__CHECK(grown != NULL, GANET_ERR_OUT_OF_MEMORY,
                         "%s: cannot allocate %zu bytes", path, next);
            idx->data = grown;
            cap = next;
        }
        size_t got;
        GANET__TRY(read_some(gz, path, idx->data + have, cap - have, &got));
        have += got;
        if (have < cap)
            break;
    }
    GANET__CHECK(have == idx->count, GANET_ERR_FORMAT,
                 "%s: expected %zu bytes of data, found %zu", path, idx->count,
                 have);

    /* Count what follows, up to the limit, to name it in the message. */
    uint8_t extra[4096];
    size_t trailing = 0, got;
    do {
        GANET__TRY(read_some(gz, path, extra, sizeof extra, &got));
        trailing += got;
    } while (got == sizeof extra && trailing <= GANET_IDX_MAX_BYTES);
    GANET__CHECK(trailing == 0, GANET_ERR_FORMAT,
                 "%s: expected %zu bytes of data, found %s%zu", path,
                 idx->count, trailing > GANET_IDX_MAX_BYTES ? "more than " : "",
                 idx->count + trailing);
    return stream_status(gz, path);
}

ganet_status ganet_idx_read(const char *path, ganet_idx **out)
{
    static const char fn[] = "ganet_idx_read";
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, path);

    errno = 0;
    gzFile gz = gzopen(path, "rb");
    GANET__CHECK(gz != NULL, GANET_ERR_IO, "%s: cannot open: %s", path,
                 errno ? strerror(errno) : "out of memory");
    ganet_idx *idx = calloc(1, sizeof *idx);
    ganet_status st = GANET_OK;
    if (idx == NULL)
        st = ganet__fail(GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    if (st == GANET_OK)
        st = read_header(gz, path, idx);
    if (st == GANET_OK)
        st = read_data(gz, path, idx);
    gzclose_r(gz);
    if (st != GANET_OK) {
        ganet_idx_destroy(idx);
        return st;
    }
    *out = idx;
    return GANET_OK;
}

void ganet_idx_destroy(ganet_idx *idx)
{
    if (idx == NULL)
        return;
    free(idx->data);
    free(idx);
}

/* Check what the caller asks to write; builds the 4 + 4 * rank header. */
static ganet_status make_header(const char *fn, const ganet_idx *idx,
                                ganet_idx_compression compression,
                                uint8_t *header, size_t *size)
{
    GANET__CHECK(compression == GANET_IDX_PLAIN ||
                         compression == GANET_IDX_GZIP,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: compression is %d, expected "
                 "GANET_IDX_PLAIN or GANET_IDX_GZIP",
                 fn, (int)compression);
    GANET__CHECK(idx->rank >= 1 && idx->rank <= GANET_IDX_MAX_RANK,
                 GANET_ERR_INVALID_ARGUMENT, "%s: rank is %d, expected 1 to %d",
                 fn, idx->rank, GANET_IDX_MAX_RANK);
    size_t count = 1;
    bool over = false;
    header[0] = 0;
    header[1] = 0;
    header[2] = IDX_UBYTE;
    header[3] = (uint8_t)idx->rank;
    for (int i = 0; i < idx->rank; i++) {
        int64_t d = idx->dims[i];
        GANET__CHECK(d >= 1 && d <= (int64_t)UINT32_MAX,
                     GANET_ERR_INVALID_ARGUMENT,
                     "%s: dims[%d] is %lld, expected 1 to %lu", fn, i,
                     (long long)d, (unsigned long)UINT32_MAX);
        if (!over && count <= GANET_IDX_MAX_BYTES / (size_t)d)
            count *= (size_t)d;
        else
            over = true;
        for (int b = 0; b < 4; b++)
            header[4 + 4 * i + b] = (uint8_t)(d >> (24 - 8 * b));
    }
    GANET__CHECK(!over, GANET_ERR_INVALID_ARGUMENT,
                 "%s: the dims hold more than the %zu bytes supported", fn,
                 GANET_IDX_MAX_BYTES);
    GANET__CHECK(count == idx->count, GANET_ERR_SHAPE,
                 "%s: count is %zu, the dims hold %zu", fn, idx->count, count);
    *size = 4 + 4 * (size_t)idx->rank;
    return GANET_OK;
}

static ganet_status write_all(gzFile gz, const char *path, const uint8_t *buf,
                              size_t size)
{
    for (size_t done = 0; done < size;) {
        size_t want = size - done < IO_CHUNK ? size - done : IO_CHUNK;
        int n = gzwrite(gz, buf + done, (unsigned)want);
        if (n <= 0) {
            int err;
            const char *msg = gzerror(gz, &err);
            return ganet__fail(GANET_ERR_IO, "%s: cannot write: %s", path,
                               err == Z_ERRNO ? strerror(errno) : msg);
        }
        done += (size_t)n;
    }
    return GANET_OK;
}

ganet_status ganet_idx_write(const ganet_idx *idx, const char *path,
                             ganet_idx_compression compression)
{
    static const char fn[] = "ganet_idx_write";
    GANET__CHECK_NULL(fn, idx);
    GANET__CHECK_NULL(fn, path);
    GANET__CHECK(idx->data != NULL, GANET_ERR_NULL_POINTER,
                 "%s: argument 'idx->data' is NULL", fn);
    uint8_t header[4 + 4 * GANET_IDX_MAX_RANK];
    size_t header_size = 0;
    GANET__TRY(make_header(fn, idx, compression, header, &header_size));

    ganet__atomic_file file;
    GANET__TRY(ganet__atomic_file_open(&file, fn, path));
    /* zlib closes the descriptor it is given; the duplicate leaves ours
     * open for the sync. "T" writes without compression. */
    int fd = dup(file.fd);
    gzFile gz =
            fd >= 0 ? gzdopen(fd, compression == GANET_IDX_GZIP ? "wb6" : "wbT")
                    : NULL;
    if (gz == NULL) {
        if (fd >= 0)
            close(fd);
        ganet__atomic_file_abort(&file);
        return ganet__fail(GANET_ERR_IO, "%s: cannot write %s", fn, path);
    }
    ganet_status st = write_all(gz, path, header, header_size);
    if (st == GANET_OK)
        st = write_all(gz, path, idx->data, idx->count);
    int err = gzclose_w(gz);
    if (st == GANET_OK && err != Z_OK)
        st = ganet__fail(GANET_ERR_IO, "%s: cannot write: %s", path,
                         err == Z_ERRNO ? strerror(errno) : "zlib error");
    if (st != GANET_OK) {
        ganet__atomic_file_abort(&file);
        return st;
    }
    return ganet__atomic_file_commit(&file, fn);
}
