#!/bin/sh
# Install what is needed, build libganet and run the main example.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null
./build/examples/tensor_basics
