#!/bin/sh
# Install what is needed, build libganet and train the DC-GAN on
# Fashion-MNIST (from Debian's dataset-fashion-mnist) for a short run:
# 300 iterations of 64 images, a few minutes on two cores.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null
./build/examples/dcgan_train --epochs 1 --max-batches 300 --out out
echo
echo "The generator's samples after this run: out/samples_epoch_001.png"
echo "Train longer with ./build/examples/dcgan_train --epochs 5 --out out,"
echo "draw new samples with ./build/examples/dcgan_sample --out out."
