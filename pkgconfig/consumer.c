/*
 * A program built the way a user builds one: against an installed
 * libganet, found with pkg-config. It checks that the headers and the
 * library it loaded agree and that a tensor round-trips its values.
 */
#include <stdio.h>

#include <ganet/ganet.h>

int main(void)
{
    if (ganet_version_number() != GANET_VERSION_NUMBER) {
        fprintf(stderr, "headers %s but library %s\n", GANET_VERSION_STRING,
                ganet_version_string());
        return 1;
    }
    ganet_context *ctx;
    ganet_tensor *t;
    if (ganet_context_create(NULL, &ctx) != GANET_OK ||
        ganet_tensor_create_4d(ctx, 1, 2, 2, 2, &t) != GANET_OK) {
        fprintf(stderr, "setup failed: %s\n", ganet_last_error());
        return 1;
    }
    float in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8] = {0};
    int ok = ganet_tensor_copy_from(t, in, 8) == GANET_OK &&
             ganet_tensor_copy_to(t, out, 8) == GANET_OK && out[7] == 8;
    ganet_tensor_destroy(t);
    ganet_context_destroy(ctx);
    printf("consumer: libganet %s %s\n", ganet_version_string(),
           ok ? "works" : "FAILED");
    return ok ? 0 : 1;
}
