/* Fuzz ganet_idx_read() with plain and gzip-compressed IDX files. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "ganet/idx.h"

/* Reads go here, so that the compiler keeps them. */
static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_input(data, size);
    if (path == NULL)
        abort();
    ganet_idx *idx = NULL;
    if (ganet_idx_read(path, &idx) == GANET_OK) {
        /* What the header promises must hold: the dims' product is the
         * count, and every byte of it can be read. */
        size_t count = 1;
        if (idx->rank < 1 || idx->rank > GANET_IDX_MAX_RANK)
            abort();
        for (int i = 0; i < idx->rank; i++)
            count *= (size_t)idx->dims[i];
        if (count != idx->count || count > GANET_IDX_MAX_BYTES)
            abort();
        for (size_t i = 0; i < idx->count; i++)
            sink ^= idx->data[i];
    }
    ganet_idx_destroy(idx);
    return 0;
}
