#!/bin/sh
# Soak test: train the 32x32 DC-GAN on synthetic data for many iterations
# and watch the resident memory of the process, which a steady training
# loop must not grow.
#
#     sh scripts/soak.sh [BUILD_DIR] [ITERATIONS]
#
# BUILD_DIR defaults to build, ITERATIONS to 10000 (rounded up to whole
# epochs of SOAK_BATCHES iterations). Every SOAK_INTERVAL seconds it prints
# the iteration reached and VmRSS from /proc/PID/status. Warm-up is the
# first epoch, which creates every primitive and buffer and writes the
# first sample grid and checkpoint; growth is measured from the first
# sample after it to the last one. The script fails if the training fails
# or the growth exceeds SOAK_MAX_GROWTH_KB.
#
# Environment (defaults in brackets):
#   SOAK_BATCHES        iterations per epoch [100]
#   SOAK_BATCH_SIZE     images per iteration [64]
#   SOAK_INTERVAL       seconds between samples [5]
#   SOAK_MAX_GROWTH_KB  allowed growth after warm-up, in KiB [8192]
#   SOAK_ARGS           more dcgan_train options, e.g. "--ngf 16 --ndf 16"
#
# It is not part of scripts/check.sh: the default run takes hours.
set -u
build=${1:-build}
iterations=${2:-10000}
batches=${SOAK_BATCHES:-100}
batch_size=${SOAK_BATCH_SIZE:-64}
interval=${SOAK_INTERVAL:-5}
max_growth=${SOAK_MAX_GROWTH_KB:-8192}
extra=${SOAK_ARGS:-}

exe="$build/examples/dcgan_train"
if [ ! -x "$exe" ]; then
    echo "soak: $exe not found; build first (meson compile -C $build)" >&2
    exit 2
fi
if [ "$iterations" -lt "$batches" ]; then
    batches=$iterations
fi
epochs=$(((iterations + batches - 1) / batches))
total=$((epochs * batches))
# Progress lines every 10 iterations give the sampler the iteration count.
progress=10
if [ "$batches" -lt "$progress" ]; then
    progress=$batches
fi

work=$(mktemp -d)
log="$work/train.log"
cleanup() {
    if [ -n "${pid:-}" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: $total iterations ($epochs epochs of $batches, batch" \
    "$batch_size), sampling every $interval s, limit +$max_growth KiB"
# shellcheck disable=SC2086
"$exe" --dataset synthetic --image-size 32 --limit $((batches * batch_size)) \
    --batch-size "$batch_size" --epochs "$epochs" --max-batches "$batches" \
    --interval "$progress" --out "$work/out" $extra >"$log" 2>&1 &
pid=$!

# The iteration of the last progress line, "[epoch/E][batch/B] ...".
iteration() {
    sed -n 's/^\[\([0-9]*\)\/[0-9]*\]\[\([0-9]*\)\/[0-9]*\].*/\1 \2/p' \
        "$log" | tail -n 1 |
        awk -v b="$batches" '{print ($1 - 1) * b + $2} END {if (!NR) print 0}'
}

start=$(date +%s)
first=""
first_iter=0
last=""
last_iter=0
printf '%8s %10s %12s\n' "seconds" "iteration" "VmRSS_kB"
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    if [ -n "$rss" ]; then
        it=$(iteration)
        now=$(($(date +%s) - start))
        mark=""
        if [ -z "$first" ] && [ "$it" -gt "$batches" ]; then
            first=$rss
            first_iter=$it
            mark="  (first after warm-up)"
        fi
        printf '%8d %10d %12d%s\n' "$now" "$it" "$rss" "$mark"
        last=$rss
        last_iter=$it
        peak=$hwm
    fi
    sleep "$interval"
done
wait "$pid"
status=$?
pid=""

tail -n 3 "$log"
if [ "$status" -ne 0 ]; then
    echo "soak: dcgan_train failed with status $status:" >&2
    tail -n 20 "$log" >&2
    exit 1
fi
if [ -z "$first" ]; then
    echo "soak: no sample after warm-up (iteration $batches); run more" \
        "iterations or sample more often (SOAK_INTERVAL)" >&2
    exit 1
fi
growth=$((last - first))
echo "soak: VmRSS $first kB at iteration $first_iter, $last kB at" \
    "iteration $last_iter: growth $growth kB (limit $max_growth kB)," \
    "peak ${peak:-?} kB"
if [ "$growth" -gt "$max_growth" ]; then
    echo "soak: FAILED: resident memory grew by $growth kB" >&2
    exit 1
fi
echo "soak: ok"
