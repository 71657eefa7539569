#!/bin/sh
# Install what is needed, build libganet and train the DC-GAN on
# Fashion-MNIST (from Debian's dataset-fashion-mnist) for one epoch:
# 937 iterations of 64 images, about three minutes on two cores, after
# which the samples show recognisable clothes.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build >/dev/null
./build/examples/dcgan_train --epochs 1 --out out
echo
echo "The generator's samples after this run: out/samples_epoch_001.png"
echo "Train on with ./build/examples/dcgan_train --epochs 5 --out out \\"
echo "    --resume out/dcgan.ckpt, and"
echo "draw new samples with ./build/examples/dcgan_sample --out out."
