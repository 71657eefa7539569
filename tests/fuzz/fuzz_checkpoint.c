/* Fuzz ganet_checkpoint_load() with a registered Conv2d + BatchNorm2d
 * Sequential, its Adam optimizer, a counter and the generator.
 *
 * Each input is loaded as it is, which mostly exercises the header and
 * checksum checks, and then with its size field and CRC-32 rewritten to
 * fit, so that mutations reach the entry parser and the matching of
 * entries to what is registered: once refusing unknown entries and once
 * allowing them. */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz_common.h"

/* Offsets of the header's size field and the checksum's size, as the
 * format in checkpoint.h defines them. */
enum { SIZE_OFFSET = 16, HEADER_SIZE = 24, CRC_SIZE = 4 };

static fuzz_model strict, lenient;
static int ready;

static void destroy_models(void)
{
    fuzz_model_destroy(&strict);
    fuzz_model_destroy(&lenient);
}

static int init(void)
{
    if (fuzz_model_create(&strict) != 0 || fuzz_model_create(&lenient) != 0 ||
        ganet_checkpoint_set_allow_extra(lenient.ck, true) != GANET_OK)
        abort();
    atexit(destroy_models);
    return 1;
}

static void load(ganet_checkpoint *ck, const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size);
    if (path == NULL)
        abort();
    ganet_checkpoint_load(ck, path);
}

/* Make the declared size and the checksum agree with the bytes. */
static void reseal(uint8_t *data, size_t size)
{
    uint64_t n = size;
    for (int i = 0; i < 8; i++)
        data[SIZE_OFFSET + i] = (uint8_t)(n >> (8 * i));
    uLong crc = crc32_z(crc32_z(0L, Z_NULL, 0), data, size - CRC_SIZE);
    for (int i = 0; i < 4; i++)
        data[size - CRC_SIZE + i] = (uint8_t)(crc >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        ready = init();
    load(strict.ck, data, size);
    if (size < HEADER_SIZE + CRC_SIZE)
        return 0;
    uint8_t *copy = malloc(size);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    reseal(copy, size);
    load(strict.ck, copy, size);
    load(lenient.ck, copy, size);
    free(copy);
    return 0;
}
