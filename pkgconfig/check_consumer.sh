#!/bin/sh
# Install the built library into a temporary folder and build the consumer
# against it with pkg-config alone, as a user's program would be built;
# with EXAMPLES_DIR, build the example programs the same way too.
# Usage: check_consumer.sh BUILD_DIR CONSUMER_SOURCE [EXAMPLES_DIR]
set -eu
build=$1
source=$2
examples=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --no-rebuild --destdir "$tmp/root" >/dev/null
pc=$(find "$tmp/root" -name ganet.pc | head -n 1)
[ -n "$pc" ] || { echo "ganet.pc was not installed"; exit 1; }
# The sysroot makes pkg-config prefix its -I and -L paths with the
# temporary root, as if the install had gone to the real prefix.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR="$tmp/root"
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$source" -o "$tmp/consumer" \
    $(pkg-config --cflags --libs ganet)
# The loader needs the temporary libdir, which a real install would not.
libdir=$(dirname "$(find "$tmp/root" -name libganet.so | head -n 1)")
LD_LIBRARY_PATH="$libdir" "$tmp/consumer"
[ -n "$examples" ] || exit 0

# build NAME SOURCES...: one example, as its README tells a user to.
build() {
    name=$1
    shift
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror -I"$examples/dcgan" "$@" \
        -o "$tmp/$name" $(pkg-config --cflags --libs ganet) -lm
}
build tensor_basics "$examples/tensor_basics.c"
build generator_block "$examples/generator_block.c"
build discriminator_block "$examples/discriminator_block.c"
dcgan="$examples/dcgan/model.c $examples/dcgan/train_step.c"
# shellcheck disable=SC2086
{
    build discriminator_update "$examples/discriminator_update.c" $dcgan
    build dcgan_train "$examples/dcgan/train.c" "$examples/dcgan/data.c" \
        "$examples/dcgan/health.c" $dcgan
    build dcgan_sample "$examples/dcgan/sample.c" $dcgan
}
LD_LIBRARY_PATH="$libdir" "$tmp/generator_block" >"$tmp/generator_block.out"
grep -qF "(4-1)*2 - 2*1 + 4 + 0 = 8" "$tmp/generator_block.out"
LD_LIBRARY_PATH="$libdir" "$tmp/dcgan_train" --help >/dev/null
