#!/usr/bin/env bash
# Runs every benchmark in bench/ one after another against a release build and prints their
# output (with peers side by side where a peer exists). `make bench` calls this.
#   bench/run-all.sh [build-dir]        (default: build)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
cd "$root"
export BOSUN="$root/$build/bosun"
echo "# Bosun benchmarks, $(date -u +%FT%TZ), $(nproc) cores, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# binary: $(du -k "$BOSUN" | cut -f1) KiB ($BOSUN)"
for b in platform api store controllers agent dns net gateway; do
    echo
    echo "## $b"
    case $b in
    store) bench/store/run.sh "$build" ;;
    controllers) bench/controllers/run.sh "$BOSUN" ;;
    *) "bench/$b/run.sh" ;;
    esac || echo "(bench $b failed: exit $?)"
done
