#include "ganet/version.h"

int ganet_version_number(void)
{
    return GANET_VERSION_NUMBER;
}

const char *ganet_version_string(void)
{
    return GANET_VERSION_STRING;
}
