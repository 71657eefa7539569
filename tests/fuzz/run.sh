#!/bin/sh
# Run each libFuzzer harness of a fuzzing build for a bounded time:
#
#     sh tests/fuzz/run.sh BUILD_DIR SECONDS
#
# BUILD_DIR was set up with CC=clang and -Dfuzzing=true. Each harness
# starts from its committed seeds and regression inputs (tests/fuzz/seeds
# and tests/fuzz/regressions, read only) and keeps what it discovers in a
# scratch corpus under BUILD_DIR/fuzz-corpus. A crash, a sanitizer report,
# a leak or an input slower than the time-out fails the harness; the input
# that did it is kept in BUILD_DIR/fuzz-artifacts, to be fixed and then
# committed under tests/fuzz/regressions/<harness>/.
#
# Prints one line per harness with its executions and executions per
# second, then "fuzz: N passed, N failed"; exits non-zero if any failed.
set -u
if [ $# -ne 2 ]; then
    echo "usage: run.sh BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
seconds=$2
src=$(cd "$(dirname "$0")" && pwd)
harnesses="checkpoint idx png jpeg"

artifacts="$build/fuzz-artifacts"
# Memory-backed when possible: every input is written to a file first.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    scratch=$(mktemp -d /dev/shm/ganet-fuzz.XXXXXX)
else
    scratch=$(mktemp -d)
fi
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"

# Leaks and undefined behaviour are failures too; the inputs' temporary
# files go to a folder that is removed afterwards.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export GANET_LOG_LEVEL=none
export TMPDIR="$scratch"

passed=0
failed=0
for h in $harnesses; do
    exe="$build/tests/fuzz/fuzz_$h"
    if [ ! -x "$exe" ]; then
        echo "fuzz $h: FAILED: $exe is missing (set up with CC=clang" \
            "-Dfuzzing=true)"
        failed=$((failed + 1))
        continue
    fi
    corpus="$build/fuzz-corpus/$h"
    mkdir -p "$corpus"
    dirs="$corpus $src/seeds/$h"
    if [ -d "$src/regressions/$h" ]; then
        dirs="$dirs $src/regressions/$h"
    fi
    log="$scratch/$h.log"
    # shellcheck disable=SC2086
    if "$exe" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 \
        -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$h-" $dirs >"$log" 2>&1; then
        result=ok
        passed=$((passed + 1))
    else
        result=FAILED
        failed=$((failed + 1))
        # The report: the sanitizer's or libFuzzer's own lines.
        grep -E "ERROR|SUMMARY|^    #[0-9]|Test unit written|deadly" "$log" |
            head -n 40
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 |
        sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    echo "fuzz $h: $result: ${runs:-?} runs in ${seconds} s," \
        "${rate:-?} execs/s, coverage ${cov:-?} edges"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
