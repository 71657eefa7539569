#!/bin/sh
# Install what is needed, then build and run every check: the CMocka suite
# (warnings as errors), the docs with warnings as errors, the suite again
# under AddressSanitizer + UndefinedBehaviorSanitizer and under valgrind,
# then each file reader's libFuzzer harness for 30 s (clang, build-fuzz).
# The last line reads "N passed, N failed" over all runs.
set -u
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh || exit 1

failed_steps=0
results=$(mktemp)
trap 'rm -f "$results"' EXIT

step() {
    echo "==> $1"
}

# Count the results of the last meson test run from its JSON log (meson
# names it after the wrapper, e.g. testlog-valgrind.json).
tally() {
    log=$(ls -t "$1"/meson-logs/testlog*.json | head -n 1)
    python3 - "$log" >>"$results" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    ok += r in ("OK", "EXPECTEDFAIL", "SKIP")
    bad += r not in ("OK", "EXPECTEDFAIL", "SKIP")
print(ok, bad)
PY
}

run_suite() {
    dir=$1
    shift
    if meson test -C "$dir" --print-errorlogs --verbose "$@"; then :; else
        failed_steps=$((failed_steps + 1))
    fi
    tally "$dir"
}

step "build with warnings as errors"
if [ ! -d build ]; then
    meson setup build --werror >/dev/null || exit 1
fi
meson configure build -Dwerror=true >/dev/null
meson compile -C build || exit 1

step "unit tests"
run_suite build

step "docs (doxygen, warnings as errors)"
if ! meson compile -C build docs; then
    echo "docs: doxygen reported warnings"
    failed_steps=$((failed_steps + 1))
    echo "0 1" >>"$results"
fi

step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
if [ ! -d build-asan ]; then
    meson setup build-asan --werror -Ddocs=false -Db_lundef=false \
        -Db_sanitize=address,undefined >/dev/null || exit 1
fi
meson compile -C build-asan || exit 1
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ASAN_OPTIONS=detect_leaks=1 run_suite build-asan --no-suite install

step "unit tests under valgrind memcheck"
# The program tests are shell scripts: valgrind would check the shell.
run_suite build --no-suite install --no-suite programs \
    --timeout-multiplier 10 \
    --wrap="valgrind --quiet --error-exitcode=1 --leak-check=full \
--errors-for-leak-kinds=definite,indirect \
--suppressions=$(pwd)/tests/valgrind.supp"

step "fuzzing the file readers (libFuzzer, 30 s per harness)"
# A separate clang build; only the harnesses are compiled in it.
if [ ! -d build-fuzz ]; then
    CC=clang meson setup build-fuzz -Dfuzzing=true -Ddocs=false \
        >/dev/null || exit 1
fi
meson compile -C build-fuzz tests/fuzz/fuzz_checkpoint tests/fuzz/fuzz_idx \
    tests/fuzz/fuzz_png tests/fuzz/fuzz_jpeg || exit 1
fuzz_log=$(mktemp)
{
    sh tests/fuzz/run.sh build-fuzz 30
    echo "fuzz exit status $?"
} | tee "$fuzz_log"
grep -q '^fuzz exit status 0$' "$fuzz_log" ||
    failed_steps=$((failed_steps + 1))
# One result per harness, from run.sh's last line.
if grep -q '^fuzz: [0-9]* passed, [0-9]* failed$' "$fuzz_log"; then
    sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' \
        "$fuzz_log" >>"$results"
else
    echo "0 1" >>"$results"
fi
rm -f "$fuzz_log"

passed=$(awk '{s += $1} END {print s + 0}' "$results")
failed=$(awk '{s += $2} END {print s + 0}' "$results")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$failed_steps" -eq 0 ]
