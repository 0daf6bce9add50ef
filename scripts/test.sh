#!/usr/bin/env bash
# Runs every test against an already built (sanitized) build directory:
# formatting, the release build of `make run` (when its directory is given), cmocka unit tests
# (+ fuzz corpora as regression tests), bats integration tests.
#   scripts/test.sh [sanitized-build-dir] [release-build-dir]
# Prints one closing line "tests: N passed, N failed".
set -uo pipefail
build=${1:-build-asan}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export BOSUN="$root/$build/bosun"
export BOSUN_SHARED="${BOSUN_SHARED:-$root/../shared}"

passed=0 failed=0

echo "== format check"
if make -s format-check; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "format check FAILED (run make format)"; fi

# make run's release build (-O3 finds warnings the debug build does not): must build cleanly
if [ -n "${2:-}" ]; then
    echo "== release build ($2)"
    if { [ -f "$2/build.ninja" ] || meson setup "$2" --buildtype=release -Dtests=false >/dev/null; } &&
        ninja -C "$2" >"$build/release-build.out" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "release build FAILED"
        grep -E "error|FAILED" -A3 "$build/release-build.out" | head -40
    fi
fi

echo "== unit tests"
meson test -C "$build" --print-errorlogs --num-processes 2 >"$build/meson-test.out" 2>&1
rc=$?
cat "$build/meson-test.out" | grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Expected Fail|Unexpected Pass|Skipped|Timeout):' || true
ok=$(awk '/^Ok:/ {print $2}' "$build/meson-test.out"); ok=${ok:-0}
fl=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {s+=$2} END {print s+0}' "$build/meson-test.out")
passed=$((passed + ok)); failed=$((failed + fl))
if [ $rc -ne 0 ] && [ "$fl" = 0 ]; then failed=$((failed + 1)); cat "$build/meson-test.out"; fi
if [ "$fl" != 0 ]; then sed -n '/Summary of Failures/,$p' "$build/meson-test.out"; fi

echo "== integration tests (bats)"
# One bats process per file, each bounded in time, its output shown as soon as the file ends:
# a test that hangs fails with its name printed instead of stalling the whole run. Tests never
# read the caller's stdin. BATS_TEST_TIMEOUT bounds each test; the file limit backs it up and
# the budget bounds the whole stage.
if [ -d tests/integration ] && ls tests/integration/*.bats >/dev/null 2>&1; then
    export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-300}
    file_limit=${BOSUN_BATS_FILE_LIMIT:-900}
    deadline=$((SECONDS + ${BOSUN_BATS_BUDGET:-3600}))
    : >"$build/bats.out"
    bp=0 bf=0
    for f in tests/integration/*.bats; do
        left=$((deadline - SECONDS))
        if [ "$left" -le 30 ]; then
            echo "not ok - $f not run: the integration budget is spent" | tee -a "$build/bats.out"
            bf=$((bf + 1))
            continue
        fi
        [ "$left" -lt "$file_limit" ] && limit=$left || limit=$file_limit
        start=$SECONDS
        timeout -k 15 "$limit" bats --formatter tap "$f" </dev/null >"$build/bats-file.out" 2>&1
        rc=$?
        if [ $rc = 124 ] || [ $rc = 137 ]; then
            echo "not ok - $f timed out after $limit s" >>"$build/bats-file.out"
            # what the killed file left running
            pkill -KILL -f "^$BOSUN " 2>/dev/null || true
        fi
        cat "$build/bats-file.out"
        cat "$build/bats-file.out" >>"$build/bats.out"
        echo "# $f: $((SECONDS - start)) s"
        bp=$((bp + $(grep -c '^ok ' "$build/bats-file.out")))
        bf=$((bf + $(grep -c '^not ok ' "$build/bats-file.out")))
        if [ $rc != 0 ] && ! grep -q '^not ok ' "$build/bats-file.out"; then
            echo "not ok - $f: bats exited with $rc" | tee -a "$build/bats.out"
            bf=$((bf + 1))
        fi
    done
    # every tool the tests use is installed by scripts/install-deps.sh, so as root a skipped
    # test means something is missing: it counts as a failure (BOSUN_ALLOW_SKIP=1 to allow)
    skipped=$(grep -c '^ok .* # skip' "$build/bats.out")
    if [ "$skipped" != 0 ]; then
        echo "skipped tests: $skipped"
        grep '^ok .* # skip' "$build/bats.out"
        if [ "$(id -u)" = 0 ] && [ "${BOSUN_ALLOW_SKIP:-0}" != 1 ]; then
            bp=$((bp - skipped)); bf=$((bf + skipped))
            echo "(as root nothing may be skipped: counted as failed)"
        fi
    fi
    passed=$((passed + bp)); failed=$((failed + bf))
    if [ "$bp" = 0 ] && [ "$bf" = 0 ]; then failed=$((failed + 1)); echo "bats ran nothing"; fi
fi

echo
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
