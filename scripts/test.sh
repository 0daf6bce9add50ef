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
if [ -d tests/integration ] && ls tests/integration/*.bats >/dev/null 2>&1; then
    bats --formatter tap tests/integration >"$build/bats.out" 2>&1
    cat "$build/bats.out"
    bp=$(grep -c '^ok ' "$build/bats.out"); bf=$(grep -c '^not ok ' "$build/bats.out")
    passed=$((passed + bp)); failed=$((failed + bf))
    if [ "$bp" = 0 ] && [ "$bf" = 0 ]; then failed=$((failed + 1)); echo "bats ran nothing"; fi
fi

echo
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
