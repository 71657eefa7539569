/* Checkpoints: a list of named, borrowed values and the versioned file that
 * holds them. The format is described in checkpoint.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "atomic_file.h"
#include "ganet/checkpoint.h"
#include "internal.h"

enum {
    HEADER_SIZE = 24,
    CRC_SIZE = 4,
    /* type, name length, a 1-byte name and the smallest body (a scalar,
     * an integer or an empty byte string each take 8 or fewer). */
    ENTRY_MIN_SIZE = 4 + 4 + 1 + 8,
    RNG_SIZE = 16,
};

static const unsigned char magic[8] = {'G', 'A', 'N', 'E', 'T', 'C', 'K', 'P'};

typedef enum entry_type {
    TYPE_TENSOR = 1,
    TYPE_U64 = 2,
    TYPE_BYTES = 3,
} entry_type;

typedef enum slot_kind {
    SLOT_TENSOR,
    SLOT_U64,
    SLOT_OPT_STEP,
    SLOT_OPT_LR,
    SLOT_RNG,
} slot_kind;

/* One registered entry. The name is owned; the object is borrowed. */
typedef struct slot {
    char *name;
    slot_kind kind;
    ganet_tensor *tensor;
    uint64_t *u64;
    ganet_optimizer *opt;
} slot;

struct ganet_checkpoint {
    ganet_context *ctx;
    slot *slots;
    size_t nslots;
    size_t capacity;
    bool allow_extra;
};

/* An entry of a file being loaded; pointers go into the file's bytes. */
typedef struct entry {
    const unsigned char *name;
    uint32_t name_len;
    uint32_t type;
    int rank;
    int64_t dims[GANET_MAX_RANK];
    /* Tensors: the value count; bytes: the byte count. */
    uint64_t count;
    const unsigned char *data;
    uint64_t u64;
    bool used;
} entry;

/* ---- little-endian encoding ---------------------------------------- */

static void put_le32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *b)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)b[i] << (8 * i);
    return v;
}

static uint64_t get_le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static float get_f32(const unsigned char *b)
{
    uint32_t u = get_le32(b);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Turn n floats into their little-endian bytes in place. Each value is
 * read before its own four bytes are written. */
static void floats_to_le(float *v, size_t n)
{
    unsigned char *b = (unsigned char *)v;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], sizeof u);
        put_le32(b + 4 * i, u);
    }
}

static void floats_from_le(float *dst, const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = get_f32(src + 4 * i);
}

/* "[8, 3, 4, 4]", or "[]" for a scalar. */
static const char *dims_str(char *buf, size_t size, int rank,
                            const int64_t *dims)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "",
                                (long long)dims[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}

/* ---- registration --------------------------------------------------- */

static entry_type slot_type(const slot *s)
{
    switch (s->kind) {
    case SLOT_U64:
    case SLOT_OPT_STEP:
        return TYPE_U64;
    case SLOT_RNG:
        return TYPE_BYTES;
    case SLOT_TENSOR:
    case SLOT_OPT_LR:
        break;
    }
    return TYPE_TENSOR;
}

static void free_slots_from(ganet_checkpoint *ck, size_t first)
{
    for (size_t i = first; i < ck->nslots; i++)
        free(ck->slots[i].name);
    ck->nslots = first;
}

void ganet_checkpoint_destroy(ganet_checkpoint *ck)
{
    if (ck == NULL)
        return;
    free_slots_from(ck, 0);
    free(ck->slots);
    free(ck);
}

ganet_status ganet_checkpoint_create(ganet_context *ctx, ganet_checkpoint **out)
{
    static const char fn[] = "ganet_checkpoint_create";
    GANET__CHECK_NULL(fn, out);
    *out = NULL;
    GANET__CHECK_NULL(fn, ctx);
    ganet_checkpoint *ck = calloc(1, sizeof *ck);
    GANET__CHECK(ck != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    ck->ctx = ctx;
    *out = ck;
    return GANET_OK;
}

static ganet_status check_name(const char *fn, const char *name, size_t len)
{
    GANET__CHECK(len >= 1 && len <= GANET_CHECKPOINT_MAX_NAME,
                 GANET_ERR_INVALID_ARGUMENT,
                 "%s: the entry name '%s' has %zu bytes, expected 1 to %d", fn,
                 name, len, GANET_CHECKPOINT_MAX_NAME);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        GANET__CHECK(c >= 0x21 && c <= 0x7e, GANET_ERR_INVALID_ARGUMENT,
                     "%s: the entry name '%s' has byte 0x%02x at %zu, "
                     "expected printable ASCII without spaces",
                     fn, name, c, i);
    }
    return GANET_OK;
}

static ganet_status grow(ganet_checkpoint *ck, const char *fn)
{
    if (ck->nslots < ck->capacity)
        return GANET_OK;
    size_t capacity = ck->capacity ? 2 * ck->capacity : 16;
    slot *slots = realloc(ck->slots, capacity * sizeof *slots);
    GANET__CHECK(slots != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory",
                 fn);
    ck->slots = slots;
    ck->capacity = capacity;
    return GANET_OK;
}

/* Register s under "<prefix>.<name>", or under name when prefix is NULL. */
static ganet_status add_slot(ganet_checkpoint *ck, const char *fn,
                             const char *prefix, const char *name, slot s)
{
    size_t len = prefix ? strlen(prefix) + 1 + strlen(name) : strlen(name);
    char *full = malloc(len + 1);
    GANET__CHECK(full != NULL, GANET_ERR_OUT_OF_MEMORY, "%s: out of memory",
                 fn);
    if (prefix)
        snprintf(full, len + 1, "%s.%s", prefix, name);
    else
        memcpy(full, name, len + 1);

    ganet_status st = check_name(fn, full, len);
    for (size_t i = 0; st == GANET_OK && i < ck->nslots; i++)
        if (strcmp(ck->slots[i].name, full) == 0)
            st = ganet__fail(GANET_ERR_INVALID_ARGUMENT,
                             "%s: the entry '%s' is already registered", fn,
                             full);
    if (st == GANET_OK)
        st = grow(ck, fn);
    if (st != GANET_OK) {
        free(full);
        return st;
    }
    s.name = full;
    ck->slots[ck->nslots++] = s;
    return GANET_OK;
}

static ganet_status check_prefix(const char *fn, const char *prefix)
{
    GANET__CHECK(prefix[0] != '\0', GANET_ERR_INVALID_ARGUMENT,
                 "%s: the prefix is empty", fn);
    return GANET_OK;
}

static ganet_status check_context(const ganet_checkpoint *ck, const char *fn,
                                  const char *what, const ganet_context *ctx)
{
    GANET__CHECK(ctx == ck->ctx, GANET_ERR_CONTEXT_MISMATCH,
                 "%s: the %s belongs to another context than the checkpoint",
                 fn, what);
    return GANET_OK;
}

static ganet_status add_layer_entries(ganet_checkpoint *ck, const char *fn,
                                      const char *prefix, ganet_layer *layer)
{
    for (int i = 0; i < ganet_layer_param_count(layer); i++) {
        slot s = {.kind = SLOT_TENSOR};
        const char *name;
        GANET__TRY(ganet_layer_param(layer, i, &name, &s.tensor, NULL));
        GANET__TRY(add_slot(ck, fn, prefix, name, s));
    }
    for (int i = 0; i < ganet_layer_buffer_count(layer); i++) {
        slot s = {.kind = SLOT_TENSOR};
        const char *name;
        GANET__TRY(ganet_layer_buffer(layer, i, &name, &s.tensor));
        GANET__TRY(add_slot(ck, fn, prefix, name, s));
    }
    return GANET_OK;
}

ganet_status ganet_checkpoint_add_layer(ganet_checkpoint *ck,
                                        const char *prefix, ganet_layer *layer)
{
    static const char fn[] = "ganet_checkpoint_add_layer";
    GANET__CHECK_NULL(fn, ck);
    GANET__CHECK_NULL(fn, prefix);
    GANET__CHECK_NULL(fn, layer);
    GANET__TRY(check_prefix(fn, prefix));
    GANET__TRY(check_context(ck, fn, "layer", ganet_layer_context(layer)));

    size_t first = ck->nslots;
    ganet_status st = add_layer_entries(ck, fn, prefix, layer);
    if (st != GANET_OK)
        free_slots_from(ck, first);
    return st;
}

static ganet_status add_optimizer_entries(ganet_checkpoint *ck, const char *fn,
                                          const char *prefix,
                                          ganet_optimizer *opt)
{
    for (int i = 0; i < ganet_optimizer_state_count(opt); i++) {
        slot s = {.kind = SLOT_TENSOR};
        const char *name;
        GANET__TRY(ganet_optimizer_state(opt, i, &name, &s.tensor));
        GANET__TRY(check_context(ck, fn, "optimizer",
                                 ganet_tensor_context(s.tensor)));
        GANET__TRY(add_slot(ck, fn, prefix, name, s));
    }
    GANET__TRY(add_slot(ck, fn, prefix, "step",
                        (slot){.kind = SLOT_OPT_STEP, .opt = opt}));
    return add_slot(ck, fn, prefix, "lr",
                    (slot){.kind = SLOT_OPT_LR, .opt = opt});
}

ganet_status ganet_checkpoint_add_optimizer(ganet_checkpoint *ck,
                                            const char *prefix,
                                            ganet_optimizer *opt)
{
    static const char fn[] = "ganet_checkpoint_add_optimizer";
    GANET__CHECK_NULL(fn, ck);
    GANET__CHECK_NULL(fn, prefix);
    GANET__CHECK_NULL(fn, opt);
    GANET__TRY(check_prefix(fn, prefix));

    size_t first = ck->nslots;
    ganet_status st = add_optimizer_entries(ck, fn, prefix, opt);
    if (st != GANET_OK)
        free_slots_from(ck, first);
    return st;
}

ganet_status ganet_checkpoint_add_tensor(ganet_checkpoint *ck, const char *name,
                                         ganet_tensor *tensor)
{
    static const char fn[] = "ganet_checkpoint_add_tensor";
    GANET__CHECK_NULL(fn, ck);
    GANET__CHECK_NULL(fn, name);
    GANET__CHECK_NULL(fn, tensor);
    GANET__TRY(check_context(ck, fn, "tensor", ganet_tensor_context(tensor)));
    return add_slot(ck, fn, NULL, name,
                    (slot){.kind = SLOT_TENSOR, .tensor = tensor});
}

ganet_status ganet_checkpoint_add_u64(ganet_checkpoint *ck, const char *name,
                                      uint64_t *value)
{
    static const char fn[] = "ganet_checkpoint_add_u64";
    GANET__CHECK_NULL(fn, ck);
    GANET__CHECK_NULL(fn, name);
    GANET__CHECK_NULL(fn, value);
    return add_slot(ck, fn, NULL, name, (slot){.kind = SLOT_U64, .u64 = value});
}

ganet_status ganet_checkpoint_add_rng(ganet_checkpoint *ck)
{
    static const char fn[] = "ganet_checkpoint_add_rng";
    GANET__CHECK_NULL(fn, ck);
    return add_slot(ck, fn, NULL, "context.rng", (slot){.kind = SLOT_RNG});
}

ganet_status ganet_checkpoint_set_allow_extra(ganet_checkpoint *ck, bool allow)
{
    GANET__CHECK_NULL("ganet_checkpoint_set_allow_extra", ck);
    ck->allow_extra = allow;
    return GANET_OK;
}

/* ---- saving --------------------------------------------------------- */

/* Bytes of an entry after its type and name. */
static uint64_t body_size(const slot *s)
{
    switch (slot_type(s)) {
    case TYPE_U64:
        return 8;
    case TYPE_BYTES:
        return 8 + RNG_SIZE;
    case TYPE_TENSOR:
        break;
    }
    if (s->kind == SLOT_OPT_LR)
        return 4 + 4;
    /* A live tensor's byte size fits in memory, so this cannot wrap. */
    int rank = ganet_tensor_rank(s->tensor);
    return 4 + 8 * (uint64_t)rank + 4 * (uint64_t)ganet_tensor_count(s->tensor);
}

/* Size of the whole file and the largest tensor's value count. */
static ganet_status plan_file(const ganet_checkpoint *ck, const char *fn,
                              uint64_t *size, size_t *max_count)
{
    GANET__CHECK(ck->nslots <= UINT32_MAX, GANET_ERR_OVERFLOW,
                 "%s: %zu entries, the format holds at most %lu", fn,
                 ck->nslots, (unsigned long)UINT32_MAX);
    uint64_t total = HEADER_SIZE + CRC_SIZE;
    *max_count = 0;
    for (size_t i = 0; i < ck->nslots; i++) {
        const slot *s = &ck->slots[i];
        uint64_t n = 8 + strlen(s->name) + body_size(s);
        GANET__CHECK(total <= UINT64_MAX - n, GANET_ERR_OVERFLOW,
                     "%s: the file would exceed 2^64 bytes", fn);
        total += n;
        if (s->kind == SLOT_TENSOR &&
            (size_t)ganet_tensor_count(s->tensor) > *max_count)
            *max_count = (size_t)ganet_tensor_count(s->tensor);
    }
    *size = total;
    return GANET_OK;
}

/* Writes through a FILE while keeping the running CRC-32. */
typedef struct writer {
    FILE *f;
    uLong crc;
    bool failed;
    int err;
} writer;

static void put(writer *w, const void *data, size_t size)
{
    if (w->failed || size == 0)
        return;
    w->crc = crc32_z(w->crc, data, size);
    if (fwrite(data, 1, size, w->f) != size) {
        w->failed = true;
        w->err = errno;
    }
}

static void put_u32(writer *w, uint32_t v)
{
    unsigned char b[4];
    put_le32(b, v);
    put(w, b, sizeof b);
}

static void put_u64(writer *w, uint64_t v)
{
    unsigned char b[8];
    put_le64(b, v);
    put(w, b, sizeof b);
}

static ganet_status write_tensor(writer *w, const ganet_tensor *t,
                                 float *scratch)
{
    int64_t dims[GANET_MAX_RANK];
    int rank = ganet_tensor_rank(t);
    size_t count = (size_t)ganet_tensor_count(t);
    GANET__TRY(ganet_tensor_get_dims(t, dims));
    GANET__TRY(ganet_tensor_copy_to(t, scratch, count));
    floats_to_le(scratch, count);
    put_u32(w, (uint32_t)rank);
    for (int i = 0; i < rank; i++)
        put_u64(w, (uint64_t)dims[i]);
    put(w, scratch, 4 * count);
    return GANET_OK;
}

static ganet_status write_entry(writer *w, const ganet_checkpoint *ck,
                                const slot *s, float *scratch)
{
    size_t len = strlen(s->name);
    put_u32(w, (uint32_t)slot_type(s));
    put_u32(w, (uint32_t)len);
    put(w, s->name, len);
    switch (s->kind) {
    case SLOT_TENSOR:
        return write_tensor(w, s->tensor, scratch);
    case SLOT_U64:
        put_u64(w, *s->u64);
        break;
    case SLOT_OPT_STEP:
        put_u64(w, (uint64_t)ganet_optimizer_get_step_count(s->opt));
        break;
    case SLOT_OPT_LR: {
        float lr = ganet_optimizer_get_lr(s->opt);
        floats_to_le(&lr, 1);
        put_u32(w, 0);
        put(w, &lr, sizeof lr);
        break;
    }
    case SLOT_RNG: {
        ganet_rng_state rng;
        GANET__TRY(ganet_context_get_rng_state(ck->ctx, &rng));
        put_u64(w, RNG_SIZE);
        put_u64(w, rng.state);
        put_u64(w, rng.increment);
        break;
    }
    }
    return GANET_OK;
}

static ganet_status write_all(writer *w, const ganet_checkpoint *ck,
                              uint64_t size, float *scratch)
{
    put(w, magic, sizeof magic);
    put_u32(w, GANET_CHECKPOINT_VERSION);
    put_u32(w, (uint32_t)ck->nslots);
    put_u64(w, size);
    for (size_t i = 0; i < ck->nslots; i++)
        GANET__TRY(write_entry(w, ck, &ck->slots[i], scratch));
    unsigned char crc[4];
    put_le32(crc, (uint32_t)w->crc);
    put(w, crc, sizeof crc);
    return GANET_OK;
}

/* Write the file into the open temporary file f and close f. */
static ganet_status write_temp(const ganet_checkpoint *ck, const char *fn,
                               const char *path, const char *tmp, FILE *f)
{
    uint64_t size = 0;
    size_t max_count = 0;
    ganet_status st = plan_file(ck, fn, &size, &max_count);
    float *scratch = NULL;
    if (st == GANET_OK) {
        scratch = malloc(max_count ? max_count * sizeof *scratch : 1);
        if (scratch == NULL)
            st = ganet__fail(GANET_ERR_OUT_OF_MEMORY,
                             "%s: '%s': out of "
                             "memory for %zu values",
                             fn, path, max_count);
    }
    writer w = {.f = f, .crc = crc32_z(0, NULL, 0)};
    if (st == GANET_OK)
        st = write_all(&w, ck, size, scratch);
    free(scratch);

    /* Close in every case, so the caller only has to remove the file. */
    if (!w.failed && fflush(f) != 0) {
        w.failed = true;
        w.err = errno;
    }
    if (fclose(f) != 0 && !w.failed) {
        w.failed = true;
        w.err = errno;
    }
    if (st == GANET_OK && w.failed)
        st = ganet__fail(GANET_ERR_IO, "%s: '%s': writing '%s' failed: %s", fn,
                         path, tmp, strerror(w.err));
    return st;
}

ganet_status ganet_checkpoint_save(ganet_checkpoint *ck, const char *path)
{
    static const char fn[] = "ganet_checkpoint_save";
    GANET__CHECK_NULL(fn, ck);
    GANET__CHECK_NULL(fn, path);
    GANET__CHECK(path[0] != '\0', GANET_ERR_INVALID_ARGUMENT,
                 "%s: the path is empty", fn);

    ganet__atomic_file file;
    GANET__TRY(ganet__atomic_file_open(&file, fn, path));
    /* fclose() closes the descriptor it is given; the duplicate leaves
     * the temporary file's own open for the sync of the commit. */
    int fd = dup(file.fd);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (f == NULL) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        ganet__atomic_file_abort(&file);
        return ganet__fail(GANET_ERR_IO,
                           "%s: '%s': cannot write a temporary file: %s", fn,
                           path, strerror(err));
    }
    ganet_status st = write_temp(ck, fn, path, file.tmp_path, f);
    if (st != GANET_OK) {
        ganet__atomic_file_abort(&file);
        return st;
    }
    return ganet__atomic_file_commit(&file, fn);
}

/* ---- loading: reading and checking the file ------------------------- */

/* Check magic, version and the declared size from the first HEADER_SIZE
 * bytes, knowing the file's real size. */
static ganet_status check_header(const char *fn, const char *path,
                                 const unsigned char *head, size_t size)
{
    GANET__CHECK(size >= HEADER_SIZE + CRC_SIZE, GANET_ERR_FORMAT,
                 "%s: '%s' is truncated: %zu bytes, a checkpoint has at "
                 "least %d",
                 fn, path, size, HEADER_SIZE + CRC_SIZE);
    GANET__CHECK(memcmp(head, magic, sizeof magic) == 0, GANET_ERR_FORMAT,
                 "%s: '%s' is not a libganet checkpoint: it does not start "
                 "with \"GANETCKP\"",
                 fn, path);
    uint32_t version = get_le32(head + 8);
    GANET__CHECK(version == GANET_CHECKPOINT_VERSION, GANET_ERR_FORMAT,
                 "%s: '%s' has format version %lu, this library reads "
                 "version %d",
                 fn, path, (unsigned long)version, GANET_CHECKPOINT_VERSION);
    uint64_t declared = get_le64(head + 16);
    GANET__CHECK(declared <= size, GANET_ERR_FORMAT,
                 "%s: '%s' is truncated: the header says %llu bytes, the "
                 "file has %zu",
                 fn, path, (unsigned long long)declared, size);
    GANET__CHECK(declared == size, GANET_ERR_FORMAT,
                 "%s: '%s' has %llu bytes after the %llu the header says", fn,
                 path, (unsigned long long)(size - declared),
                 (unsigned long long)declared);
    return GANET_OK;
}

/* The size of an open regular file. */
static ganet_status file_size(const char *fn, const char *path, FILE *f,
                              size_t *size)
{
    struct stat sb;
    GANET__CHECK(fstat(fileno(f), &sb) == 0, GANET_ERR_IO,
                 "%s: cannot read '%s': %s", fn, path, strerror(errno));
    GANET__CHECK(S_ISREG(sb.st_mode), GANET_ERR_IO,
                 "%s: '%s' is not a regular file", fn, path);
    GANET__CHECK((uintmax_t)sb.st_size <= SIZE_MAX, GANET_ERR_OUT_OF_MEMORY,
                 "%s: '%s' is %lld bytes, more than memory holds", fn, path,
                 (long long)sb.st_size);
    *size = (size_t)sb.st_size;
    return GANET_OK;
}

static ganet_status read_bytes(const char *fn, const char *path, FILE *f,
                               unsigned char *buf, size_t n)
{
    GANET__CHECK(fread(buf, 1, n, f) == n, GANET_ERR_IO,
                 "%s: cannot read '%s': %s", fn, path,
                 ferror(f) ? strerror(errno) : "the file shrank");
    return GANET_OK;
}

/* Read a file whose header is right, allocating only once the header
 * agrees with the file's size. */
static ganet_status read_checked(const char *fn, const char *path, FILE *f,
                                 unsigned char **data, size_t *size)
{
    size_t n = 0;
    GANET__TRY(file_size(fn, path, f, &n));
    unsigned char head[HEADER_SIZE];
    size_t head_size = n < HEADER_SIZE ? n : HEADER_SIZE;
    GANET__TRY(read_bytes(fn, path, f, head, head_size));
    GANET__TRY(check_header(fn, path, head, n));

    unsigned char *buf = malloc(n);
    GANET__CHECK(buf != NULL, GANET_ERR_OUT_OF_MEMORY,
                 "%s: '%s': out of memory for %zu bytes", fn, path, n);
    memcpy(buf, head, HEADER_SIZE);
    ganet_status st =
            read_bytes(fn, path, f, buf + HEADER_SIZE, n - HEADER_SIZE);
    if (st != GANET_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    *size = n;
    return GANET_OK;
}

static ganet_status read_file(const char *fn, const char *path,
                              unsigned char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    GANET__CHECK(f != NULL, GANET_ERR_IO, "%s: cannot open '%s': %s", fn, path,
                 strerror(errno));
    ganet_status st = read_checked(fn, path, f, data, size);
    fclose(f);
    return st;
}

static ganet_status check_crc(const char *fn, const char *path,
                              const unsigned char *data, size_t size)
{
    uint32_t stored = get_le32(data + size - CRC_SIZE);
    uint32_t computed =
            (uint32_t)crc32_z(crc32_z(0, NULL, 0), data, size - CRC_SIZE);
    GANET__CHECK(stored == computed, GANET_ERR_FORMAT,
                 "%s: '%s' is corrupted: its CRC-32 is 0x%08lx, the content "
                 "gives 0x%08lx",
                 fn, path, (unsigned long)stored, (unsigned long)computed);
    return GANET_OK;
}

/* A bounded cursor over the entries. */
typedef struct reader {
    const char *fn, *path;
    const unsigned char *p;
    uint64_t left;
    uint32_t index;
} reader;

static ganet_status take(reader *r, uint64_t n, const char *what,
                         const unsigned char **out)
{
    GANET__CHECK(n <= r->left, GANET_ERR_FORMAT,
                 "%s: '%s': entry %lu needs %llu bytes for its %s, %llu are "
                 "left",
                 r->fn, r->path, (unsigned long)r->index, (unsigned long long)n,
                 what, (unsigned long long)r->left);
    *out = r->p;
    r->p += n;
    r->left -= n;
    return GANET_OK;
}

static ganet_status parse_tensor(reader *r, entry *e)
{
    const unsigned char *b = NULL;
    GANET__TRY(take(r, 4, "rank", &b));
    uint32_t rank = get_le32(b);
    GANET__CHECK(rank <= GANET_MAX_RANK, GANET_ERR_FORMAT,
                 "%s: '%s': entry '%.*s' has rank %lu, at most %d is "
                 "supported",
                 r->fn, r->path, (int)e->name_len, (const char *)e->name,
                 (unsigned long)rank, GANET_MAX_RANK);
    e->rank = (int)rank;
    GANET__TRY(take(r, 8 * (uint64_t)rank, "dims", &b));
    /* Bound the count by the bytes left before multiplying further, so
     * no product can wrap and nothing larger than the file is believed. */
    uint64_t count = 1, limit = r->left / 4;
    for (uint32_t i = 0; i < rank; i++) {
        uint64_t d = get_le64(b + 8 * i);
        GANET__CHECK(d >= 1 && d <= limit / count, GANET_ERR_FORMAT,
                     "%s: '%s': entry '%.*s' has dim %lu of %llu, expected "
                     "1 to %llu for the %llu bytes left",
                     r->fn, r->path, (int)e->name_len, (const char *)e->name,
                     (unsigned long)i, (unsigned long long)d,
                     (unsigned long long)(limit / count),
                     (unsigned long long)r->left);
        e->dims[i] = (int64_t)d;
        count *= d;
    }
    e->count = count;
    return take(r, 4 * count, "values", &e->data);
}

static ganet_status parse_entry(reader *r, entry *e)
{
    const unsigned char *b = NULL;
    GANET__TRY(take(r, 8, "type and name length", &b));
    e->type = get_le32(b);
    e->name_len = get_le32(b + 4);
    GANET__CHECK(e->name_len >= 1 && e->name_len <= GANET_CHECKPOINT_MAX_NAME,
                 GANET_ERR_FORMAT,
                 "%s: '%s': entry %lu has a name of %lu bytes, expected 1 "
                 "to %d",
                 r->fn, r->path, (unsigned long)r->index,
                 (unsigned long)e->name_len, GANET_CHECKPOINT_MAX_NAME);
    GANET__TRY(take(r, e->name_len, "name", &e->name));
    for (uint32_t i = 0; i < e->name_len; i++)
        GANET__CHECK(e->name[i] >= 0x21 && e->name[i] <= 0x7e, GANET_ERR_FORMAT,
                     "%s: '%s': entry %lu has byte 0x%02x in its name", r->fn,
                     r->path, (unsigned long)r->index, e->name[i]);

    switch (e->type) {
    case TYPE_TENSOR:
        return parse_tensor(r, e);
    case TYPE_U64:
        GANET__TRY(take(r, 8, "value", &b));
        e->u64 = get_le64(b);
        return GANET_OK;
    case TYPE_BYTES:
        GANET__TRY(take(r, 8, "size", &b));
        e->count = get_le64(b);
        return take(r, e->count, "bytes", &e->data);
    }
    return ganet__fail(GANET_ERR_FORMAT,
                       "%s: '%s': entry '%.*s' has the unknown type %lu", r->fn,
                       r->path, (int)e->name_len, (const char *)e->name,
                       (unsigned long)e->type);
}

static bool same_name(const entry *a, const entry *b)
{
    return a->name_len == b->name_len &&
           memcmp(a->name, b->name, a->name_len) == 0;
}

/* Split the checked content into entries, refusing leftover bytes and
 * repeated names. */
static ganet_status parse_entries(const char *fn, const char *path,
                                  const unsigned char *data, size_t size,
                                  uint32_t n, entry *entries)
{
    reader r = {.fn = fn,
                .path = path,
                .p = data + HEADER_SIZE,
                .left = size - HEADER_SIZE - CRC_SIZE};
    for (r.index = 0; r.index < n; r.index++)
        GANET__TRY(parse_entry(&r, &entries[r.index]));
    GANET__CHECK(r.left == 0, GANET_ERR_FORMAT,
                 "%s: '%s' has %llu bytes after its %lu entries", fn, path,
                 (unsigned long long)r.left, (unsigned long)n);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < i; j++)
            GANET__CHECK(!same_name(&entries[i], &entries[j]), GANET_ERR_FORMAT,
                         "%s: '%s' has the entry '%.*s' twice", fn, path,
                         (int)entries[i].name_len,
                         (const char *)entries[i].name);
    return GANET_OK;
}

/* ---- loading: matching entries to what is registered ----------------- */

static const char *type_name(uint32_t type)
{
    return type == TYPE_TENSOR ? "a float32 tensor"
           : type == TYPE_U64  ? "an integer"
                               : "bytes";
}

static entry *find_entry(entry *entries, uint32_t n, const char *name)
{
    size_t len = strlen(name);
    for (uint32_t i = 0; i < n; i++)
        if (entries[i].name_len == len &&
            memcmp(entries[i].name, name, len) == 0)
            return &entries[i];
    return NULL;
}

static ganet_status check_shape(const char *fn, const char *path, const slot *s,
                                const entry *e)
{
    int64_t dims[GANET_MAX_RANK] = {0};
    int rank = 0;
    if (s->kind == SLOT_TENSOR) {
        rank = ganet_tensor_rank(s->tensor);
        GANET__TRY(ganet_tensor_get_dims(s->tensor, dims));
    }
    bool same = rank == e->rank;
    for (int i = 0; same && i < rank; i++)
        same = dims[i] == e->dims[i];
    char want[96], got[96];
    GANET__CHECK(same, GANET_ERR_SHAPE,
                 "%s: '%s': entry '%s' is %s in the file, the registered "
                 "%s is %s",
                 fn, path, s->name, dims_str(got, sizeof got, e->rank, e->dims),
                 s->kind == SLOT_TENSOR ? "tensor" : "learning rate",
                 dims_str(want, sizeof want, rank, dims));
    return GANET_OK;
}

/* Check that the entry can be put into the slot as it is. */
static ganet_status check_value(const char *fn, const char *path, const slot *s,
                                const entry *e)
{
    GANET__CHECK(e->type == (uint32_t)slot_type(s), GANET_ERR_FORMAT,
                 "%s: '%s': entry '%s' is %s in the file, expected %s", fn,
                 path, s->name, type_name(e->type),
                 type_name((uint32_t)slot_type(s)));
    switch (s->kind) {
    case SLOT_TENSOR:
        return check_shape(fn, path, s, e);
    case SLOT_U64:
        return GANET_OK;
    case SLOT_OPT_STEP:
        GANET__CHECK(e->u64 <= INT64_MAX, GANET_ERR_FORMAT,
                     "%s: '%s': entry '%s' is %llu, more than a step count "
                     "holds",
                     fn, path, s->name, (unsigned long long)e->u64);
        return GANET_OK;
    case SLOT_OPT_LR: {
        GANET__TRY(check_shape(fn, path, s, e));
        float lr = get_f32(e->data);
        GANET__CHECK(isfinite(lr) && lr >= 0.0f, GANET_ERR_FORMAT,
                     "%s: '%s': entry '%s' is %g, expected a finite "
                     "learning rate >= 0",
                     fn, path, s->name, (double)lr);
        return GANET_OK;
    }
    case SLOT_RNG:
        GANET__CHECK(e->count == RNG_SIZE, GANET_ERR_FORMAT,
                     "%s: '%s': entry '%s' has %llu bytes, expected %d", fn,
                     path, s->name, (unsigned long long)e->count, RNG_SIZE);
        GANET__CHECK(get_le64(e->data + 8) % 2 == 1, GANET_ERR_FORMAT,
                     "%s: '%s': entry '%s' has the even increment %llu", fn,
                     path, s->name, (unsigned long long)get_le64(e->data + 8));
        return GANET_OK;
    }
    return GANET_OK;
}

/* Pair every slot with its entry (match[i] for slot i) and refuse what is
 * missing, mistyped, misshapen or, unless allowed, left over. */
static ganet_status match_entries(const ganet_checkpoint *ck, const char *fn,
                                  const char *path, entry *entries, uint32_t n,
                                  entry **match)
{
    for (size_t i = 0; i < ck->nslots; i++) {
        const slot *s = &ck->slots[i];
        entry *e = find_entry(entries, n, s->name);
        GANET__CHECK(e != NULL, GANET_ERR_FORMAT, "%s: '%s' has no entry '%s'",
                     fn, path, s->name);
        GANET__TRY(check_value(fn, path, s, e));
        e->used = true;
        match[i] = e;
    }
    for (uint32_t i = 0; i < n && !ck->allow_extra; i++)
        GANET__CHECK(entries[i].used, GANET_ERR_FORMAT,
                     "%s: '%s' has the entry '%.*s', which nothing "
                     "registered (see ganet_checkpoint_set_allow_extra)",
                     fn, path, (int)entries[i].name_len,
                     (const char *)entries[i].name);
    return GANET_OK;
}

/* ---- loading: putting the values in place ---------------------------- */

/* Tensors first: they are the only copies that can fail, so a failure
 * leaves at least the counters, rates and generator as they were. */
static ganet_status commit(ganet_checkpoint *ck, entry **match, float *scratch)
{
    for (size_t i = 0; i < ck->nslots; i++) {
        const slot *s = &ck->slots[i];
        if (s->kind != SLOT_TENSOR)
            continue;
        floats_from_le(scratch, match[i]->data, (size_t)match[i]->count);
        GANET__TRY(ganet_tensor_copy_from(s->tensor, scratch,
                                          (size_t)match[i]->count));
    }
    for (size_t i = 0; i < ck->nslots; i++) {
        const slot *s = &ck->slots[i];
        const entry *e = match[i];
        if (s->kind == SLOT_U64)
            *s->u64 = e->u64;
        else if (s->kind == SLOT_OPT_STEP)
            GANET__TRY(ganet_optimizer_set_step_count(s->opt, (int64_t)e->u64));
        else if (s->kind == SLOT_OPT_LR)
            GANET__TRY(ganet_optimizer_set_lr(s->opt, get_f32(e->data)));
        else if (s->kind == SLOT_RNG) {
            ganet_rng_state rng = {.state = get_le64(e->data),
                                   .increment = get_le64(e->data + 8)};
            GANET__TRY(ganet_context_set_rng_state(ck->ctx, &rng));
        }
    }
    return GANET_OK;
}

/* Check the read file completely, then copy it into the slots. */
static ganet_status load_from(ganet_checkpoint *ck, const char *fn,
                              const char *path, const unsigned char *data,
                              size_t size)
{
    GANET__TRY(check_crc(fn, path, data, size));
    uint32_t n = get_le32(data + 12);
    GANET__CHECK(n <= (size - HEADER_SIZE - CRC_SIZE) / ENTRY_MIN_SIZE,
                 GANET_ERR_FORMAT,
                 "%s: '%s' says it has %lu entries, more than its %zu bytes "
                 "can hold",
                 fn, path, (unsigned long)n, size);

    entry *entries = calloc(n ? n : 1, sizeof *entries);
    entry **match = calloc(ck->nslots ? ck->nslots : 1, sizeof *match);
    float *scratch = NULL;
    ganet_status st = GANET_OK;
    if (entries == NULL || match == NULL)
        st = ganet__fail(GANET_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    if (st == GANET_OK)
        st = parse_entries(fn, path, data, size, n, entries);
    if (st == GANET_OK)
        st = match_entries(ck, fn, path, entries, n, match);

    size_t max_count = 0;
    for (size_t i = 0; st == GANET_OK && i < ck->nslots; i++)
        if (ck->slots[i].kind == SLOT_TENSOR && match[i]->count > max_count)
            max_count = (size_t)match[i]->count;
    if (st == GANET_OK &&
        (scratch = malloc(max_count ? max_count * sizeof *scratch : 1)) == NULL)
        st = ganet__fail(GANET_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for %zu values", fn, max_count);
    if (st == GANET_OK)
        st = commit(ck, match, scratch);
    free(scratch);
    free(match);
    free(entries);
    return st;
}

ganet_status ganet_checkpoint_load(ganet_checkpoint *ck, const char *path)
{
    static const char fn[] = "ganet_checkpoint_load";
    GANET__CHECK_NULL(fn, ck);
    GANET__CHECK_NULL(fn, path);
    unsigned char *data = NULL;
    size_t size = 0;
    GANET__TRY(read_file(fn, path, &data, &size));
    ganet_status st = load_from(ck, fn, path, data, size);
    free(data);
    return st;
}
