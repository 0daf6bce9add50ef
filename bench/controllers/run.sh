#!/bin/sh
# Controllers + scheduler benchmark on 100 simulated nodes (kwok style); prints one line per
# measurement, each on a fresh server. Usage: bench/controllers/run.sh [path/to/bosun]
# (default build-bench/bosun; use a release build:
#  meson setup build-bench --buildtype=release -Dtests=false && ninja -C build-bench bosun)
# Env: STORE=sqlite|memory (default sqlite), NODES (100), SCHED_PODS (5000), REPLICAS (1000),
# RSS_PODS (10000).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BOSUN=${1:-$here/../../build-bench/bosun}
STORE=${STORE:-sqlite}
NODES=${NODES:-100}
dir=$(mktemp -d /tmp/bosun-bench-ctrl.XXXXXX)
SERVER_PID=
stop() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap 'stop; rm -rf "$dir"' EXIT
start() {
    stop
    rm -rf "$dir/data"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$BOSUN" server --data-dir "$dir/data" --listen "127.0.0.1:$PORT" --insecure-http \
        --store "$STORE" --simulate-nodes "$NODES" --disable-agent --log-level warn >"$dir/log" 2>&1 &
    SERVER_PID=$!
    export PORT SERVER_PID
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
    sleep 1
}
echo "store=$STORE nodes=$NODES cpus=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
start; python3 "$here/bench.py" sched "${SCHED_PODS:-5000}"
start; python3 "$here/bench.py" deploy "${REPLICAS:-1000}"
start; python3 "$here/bench.py" rss "${RSS_PODS:-10000}"; python3 "$here/bench.py" idle
