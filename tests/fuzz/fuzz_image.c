/* Fuzz ganet_image_read(). Built twice: with FUZZ_PNG the input's first
 * bytes are set to the PNG signature, with FUZZ_JPEG to the JPEG start of
 * image, so that each harness stays on its own decoder. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "ganet/image.h"

#if defined(FUZZ_PNG)
static const uint8_t signature[] = {0x89, 'P',  'N',  'G',
                                    '\r', '\n', 0x1A, '\n'};
#elif defined(FUZZ_JPEG)
static const uint8_t signature[] = {0xFF, 0xD8, 0xFF};
#else
#error "define FUZZ_PNG or FUZZ_JPEG"
#endif

/* Reads go here, so that the compiler keeps them. */
static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size + sizeof signature);
    if (copy == NULL)
        abort();
    memcpy(copy, signature, sizeof signature);
    size_t n = size < sizeof signature ? sizeof signature : size;
    if (size > sizeof signature)
        memcpy(copy + sizeof signature, data + sizeof signature,
               size - sizeof signature);
    const char *path = fuzz_write_input(copy, n);
    free(copy);
    if (path == NULL)
        abort();
    ganet_image *image = NULL;
    if (ganet_image_read(path, &image) == GANET_OK) {
        /* The size must be within the stated bounds, and every pixel of it
         * readable. */
        if ((image->channels != 1 && image->channels != 3) ||
            image->height < 1 || image->width < 1 ||
            image->height > GANET_IMAGE_MAX_PIXELS / image->width)
            abort();
        size_t bytes = (size_t)image->height * (size_t)image->width *
                       (size_t)image->channels;
        for (size_t i = 0; i < bytes; i++)
            sink ^= image->pixels[i];
    }
    ganet_image_destroy(image);
    return 0;
}
