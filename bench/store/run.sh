#!/bin/sh
# bench/store/run.sh - builds and runs the store benchmark (durable creates/s by batch size,
# get latency, list of 10,000 keys, compaction step cost, raw SQLite baseline).
# Usage: bench/store/run.sh [build-dir] [-- bench args, e.g. -d /var/tmp/x -n 51200]
# Use a release build for meaningful numbers (e.g. `meson setup build --buildtype=release`).
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
ninja -C "$BUILD" src/store/bsn_store_bench >/dev/null
exec "$BUILD/src/store/bsn_store_bench" "$@"
