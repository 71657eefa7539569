#!/bin/sh
# Compare libganet's DC-GAN with the same work in PyTorch on this machine.
#
#     benchmarks/run.sh [BUILD_DIR] [--image-size 32|64] [--batch N]
#                       [--threads N] [--iters N] [--warmup N] [--rounds N]
#
# BUILD_DIR (default: build) must already hold a built bench_dcgan; this
# script builds nothing. The C program and, when /usr/bin/python3 can
# import torch, dcgan_torch.py run in turns (C, torch, C, torch, ...) with
# the same settings, so that a noisy stretch of the machine hits both. Each
# run reports medians over its iterations; the table takes the median of
# the rounds' medians.
set -eu

build=build
size=64
batch=64
threads=2
iters=10
warmup=2
rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
    --image-size) size=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
bench="$build/benchmarks/bench_dcgan"
if [ ! -x "$bench" ]; then
    echo "run.sh: $bench not found; build first (ninja -C $build)" >&2
    exit 1
fi
python=/usr/bin/python3
torch=yes
if ! "$python" -c 'import torch' 2>/dev/null; then
    torch=no
    echo "run.sh: $python cannot import torch: libganet only" \
        "(scripts/install-deps.sh --torch installs it)"
fi

settings="--image-size $size --batch $batch --threads $threads \
--iters $iters --warmup $warmup"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# PyTorch's convolutions run in its bundled oneDNN, but whatever reaches
# BLAS should get OpenBLAS's OpenMP build, not the reference BLAS.
if [ "$torch" = yes ]; then
    alt=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu \
        2>/dev/null | sed -n 's/^Value: //p' || true)
    echo "libblas.so.3 alternative: ${alt:-unknown}"
fi

# Some machines set OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for older
# OpenBLAS builds; they slow a current one down. They are unset for the
# PyTorch runs only, and the kernel OpenBLAS then picks is printed.
i=1
while [ "$i" -le "$rounds" ]; do
    extra=--no-layers
    if [ "$i" = 1 ]; then
        extra=--measure-peak
    fi
    echo "== round $i/$rounds: libganet"
    # shellcheck disable=SC2086
    "$bench" $settings $extra | tee "$out/c.$i"
    if [ "$torch" = yes ]; then
        echo "== round $i/$rounds: pytorch"
        # shellcheck disable=SC2086
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
            "$python" "$here/dcgan_torch.py" $settings | tee "$out/t.$i"
    fi
    i=$((i + 1))
done

# The value of a numeric key in a run's JSON line.
field() {
    tail -n 1 "$2" | sed -n "s/.*\"$1\": *\([-0-9.e+]*\).*/\1/p"
}

# The median of one key over the rounds of one side (c or t).
median() {
    for f in "$out/$2".*; do
        field "$1" "$f"
    done | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) print "";
              else if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# b / a, or "-" when either is missing.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "" || b == "" || a + 0 == 0) print "-";
        else printf "%.2f\n", b / a }'
}

num() {
    if [ -z "$1" ]; then echo -; else printf "%.1f" "$1"; fi
}

c_train=$(median train_ms c)
c_ips=$(median sample_ips c)
c_rss=$(median peak_rss_mib c)
t_train=
t_ips=
t_rss=
if [ "$torch" = yes ]; then
    t_train=$(median train_ms t)
    t_ips=$(median sample_ips t)
    t_rss=$(median peak_rss_mib t)
    echo
    echo "PyTorch's BLAS: $(tail -n 1 "$out/t.1" |
        sed -n 's/.*"blas": \(.*\)}$/\1/p')"
fi

echo
echo "DC-GAN ${size}x$size, batch $batch, $threads thread(s): median of" \
    "$rounds rounds x $iters iterations"
printf '%-22s %12s %12s %8s\n' "" libganet pytorch ratio
printf '%-22s %12s %12s %8s\n' "train ms/iteration" "$(num "$c_train")" \
    "$(num "$t_train")" "$(ratio "$c_train" "$t_train")"
printf '%-22s %12s %12s %8s\n' "sample images/s" "$(num "$c_ips")" \
    "$(num "$t_ips")" "$(ratio "$t_ips" "$c_ips")"
printf '%-22s %12s %12s %8s\n' "peak RSS MiB" "$(num "$c_rss")" \
    "$(num "$t_rss")" "$(ratio "$c_rss" "$t_rss")"
echo "ratio: PyTorch's figure over libganet's for time and memory, and" \
    "libganet's over PyTorch's for images/s: above 1, libganet is better."
