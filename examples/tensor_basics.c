/*
 * tensor_basics: the first thing to run. Shows a context, tensors in NCHW
 * order, seeded random fills, reshaping and the one-line summary, and what
 * a mistake looks like: a status and a message, never a crash.
 *
 * It leaves out layers and training; the DC-GAN examples cover those.
 */
#include <stdio.h>
#include <stdlib.h>

#include <ganet/ganet.h>

#define CHECK(call)                                                            \
    do {                                                                       \
        ganet_status st_ = (call);                                             \
        if (st_ != GANET_OK) {                                                 \
            fprintf(stderr, "%s failed: %s (%s)\n", #call,                     \
                    ganet_status_name(st_), ganet_last_error());               \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

int main(void)
{
    printf("libganet %s\n", ganet_version_string());

    /* 1. A context owns the oneDNN engine, the threads and the seed. */
    ganet_context_options opts = GANET_CONTEXT_OPTIONS_DEFAULT;
    opts.seed = 42;
    ganet_context *ctx;
    CHECK(ganet_context_create(&opts, &ctx));
    printf("context: %d threads, seed %llu\n",
           ganet_context_get_num_threads(ctx), (unsigned long long)opts.seed);

    /* 2. A batch of 16 noise vectors of length 100, shaped N x C x 1 x 1
     *    as a DC-GAN generator expects, drawn from N(0, 1). */
    ganet_tensor *noise;
    CHECK(ganet_tensor_create_4d(ctx, 16, 100, 1, 1, &noise));
    CHECK(ganet_tensor_fill_normal(noise, 0.0f, 1.0f));
    char line[160];
    CHECK(ganet_tensor_summary(noise, line, sizeof line));
    printf("noise:   %s\n", line);

    /* 3. Values go in and out in plain NCHW order. */
    ganet_tensor *image;
    CHECK(ganet_tensor_create_4d(ctx, 1, 1, 2, 3, &image));
    const float pixels[6] = {-1.0f, -0.5f, 0.0f, 0.25f, 0.5f, 1.0f};
    CHECK(ganet_tensor_copy_from(image, pixels, 6));
    CHECK(ganet_tensor_summary(image, line, sizeof line));
    printf("image:   %s\n", line);

    /* 4. Reshape keeps the row-major order of the values. */
    const int64_t flat[2] = {1, 6};
    CHECK(ganet_tensor_reshape(image, 2, flat));
    CHECK(ganet_tensor_summary(image, line, sizeof line));
    printf("flat:    %s\n", line);

    /* 5. A mistake: six floats do not fit a tensor of 1600. */
    ganet_status st = ganet_tensor_copy_from(noise, pixels, 6);
    printf("mistake: %s: %s\n", ganet_status_name(st), ganet_last_error());

    ganet_tensor_destroy(image);
    ganet_tensor_destroy(noise);
    ganet_context_destroy(ctx);
    return 0;
}
