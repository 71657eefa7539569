#!/bin/sh
# Install the Debian 12 packages libganet needs to build, test and document
# itself. Run as root. With --torch, also PyTorch and its fast BLAS, which
# only the reference-data script and the benchmarks use.
set -eu

packages="gcc meson ninja-build pkg-config libdnnl-dev libcmocka-dev \
doxygen zlib1g-dev libpng-dev libjpeg62-turbo-dev valgrind \
dataset-fashion-mnist clang libclang-rt-14-dev"
if [ "${1:-}" = "--torch" ]; then
    packages="$packages python3-torch libopenblas0-openmp"
fi

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
        grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: run as root to install:$missing" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
