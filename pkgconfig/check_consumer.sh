#!/bin/sh
# Install the built library into a temporary folder and build the consumer
# against it with pkg-config alone, as a user's program would be built.
# Usage: check_consumer.sh BUILD_DIR CONSUMER_SOURCE
set -eu
build=$1
source=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --no-rebuild --destdir "$tmp/root" >/dev/null
pc=$(find "$tmp/root" -name ganet.pc | head -n 1)
[ -n "$pc" ] || { echo "ganet.pc was not installed"; exit 1; }
# The sysroot makes pkg-config prefix its -I and -L paths with the
# temporary root, as if the install had gone to the real prefix.
export PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"
cc -std=c11 -Wall -Wextra -Werror "$source" -o "$tmp/consumer" \
    $(pkg-config --cflags --libs ganet)
# The loader needs the temporary libdir, which a real install would not.
libdir=$(dirname "$(find "$tmp/root" -name libganet.so | head -n 1)")
LD_LIBRARY_PATH="$libdir" "$tmp/consumer"
