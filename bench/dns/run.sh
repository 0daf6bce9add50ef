#!/usr/bin/env bash
# run.sh - cluster DNS benchmark: `bosun dns` vs dnsmasq vs unbound, one thread each, on
# loopback ports, the same records (N services, 1/5 headless with 3 pods each) and the same
# dnsperf query mix; then bosun with 2 threads. Prints QPS, p99 latency, ratio to the peers
# and RSS. Needs: dnsperf dnsmasq-base unbound (Debian packages), python3.
#
# usage: bench/dns/run.sh [N_SERVICES=1000] [SECONDS=10]
#        bench/dns/run.sh --zone [N_SERVICES=5000]   (zone update cost and memory only)
# env:   LAT_QPS=fixed load for the p99 measurement (default 10000)
#        BOSUN=path to a bosun binary with the dns command (default: a release build of the
#        standalone helper in build-dns-rel/), BASE_PORT (default 25300)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "--zone" ]; then
    [ -d build-dns-rel ] || meson setup build-dns-rel --buildtype=release -Dtests=true >/dev/null
    ninja -C build-dns-rel src/net/libbsn_net.a src/base/libbsn_base.a >/dev/null
    out=$(mktemp /tmp/bsn-dns-zone.XXXXXX)
    cc -O2 -D_GNU_SOURCE -Isrc bench/dns/zone_update.c build-dns-rel/src/net/libbsn_net.a \
        build-dns-rel/src/base/libbsn_base.a -ljansson -lpthread -o "$out"
    "$out" "${2:-5000}"
    rm -f "$out"
    exit 0
fi
N=${1:-1000}
SECS=${2:-10}
BASE=${BASE_PORT:-25300}
LAT_QPS=${LAT_QPS:-10000}
for t in dnsperf dnsmasq unbound python3; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "missing $t"; exit 1; }
done
PATH=$PATH:/usr/sbin

if [ -z "${BOSUN:-}" ]; then
    if [ ! -d build-dns-rel ]; then
        meson setup build-dns-rel --buildtype=release -Dtests=true >/dev/null
    fi
    ninja -C build-dns-rel tests/unit/net/bosun-dns >/dev/null
    BOSUN=$PWD/build-dns-rel/tests/unit/net/bosun-dns
fi

TMP=$(mktemp -d /tmp/bsn-dns-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

P_BOSUN=$BASE P_BOSUN2=$((BASE + 1)) P_DNSMASQ=$((BASE + 2)) P_UNBOUND=$((BASE + 3))
python3 bench/dns/gen.py "$TMP" "$N" "$P_DNSMASQ" "$P_UNBOUND"

start() { # name port cmd...
    local name=$1 port=$2
    shift 2
    "$@" >"$TMP/$name.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$name=$!"
    for _ in $(seq 1 100); do
        dig @127.0.0.1 -p "$port" +tries=1 +time=1 +short dns-version.cluster.local TXT \
            >/dev/null 2>&1 && ss -lun | grep -q ":$port " && return 0
        sleep 0.1
    done
    echo "$name did not start:"; cat "$TMP/$name.log"; exit 1
}

start bosun "$P_BOSUN" "$BOSUN" dns --listen "127.0.0.1:$P_BOSUN" --records "$TMP/records.json" \
    --threads 1 --no-forward
start bosun2 "$P_BOSUN2" "$BOSUN" dns --listen "127.0.0.1:$P_BOSUN2" \
    --records "$TMP/records.json" --threads 2 --no-forward
start dnsmasq "$P_DNSMASQ" dnsmasq --keep-in-foreground --conf-file="$TMP/dnsmasq.conf" \
    --user=root --pid-file="$TMP/dnsmasq.pid"
start unbound "$P_UNBOUND" unbound -d -c "$TMP/unbound.conf"

# sanity: the three answer the same names
for port in "$P_BOSUN" "$P_DNSMASQ" "$P_UNBOUND"; do
    a=$(dig @127.0.0.1 -p "$port" +short svc-1.ns1.svc.cluster.local A)
    [ "$a" = "10.43.0.2" ] || { echo "port $port answered '$a' for svc-1"; exit 1; }
done

declare -A QPS P99 P50 RSS AVG
bench() { # name port
    local name=$1 port=$2
    # throughput: as fast as the server answers
    dnsperf -s 127.0.0.1 -p "$port" -d "$TMP/queries.txt" -l "$SECS" -c 4 -q 200 \
        >"$TMP/$name.perf" 2>&1 || true
    QPS[$name]=$(awk '/Queries per second/ {print int($4)}' "$TMP/$name.perf")
    AVG[$name]=$(awk '/Average Latency/ {printf "%.3f", $4 * 1000}' "$TMP/$name.perf")
    # latency: p99 at a fixed load every server sustains (per-query latencies from -v)
    dnsperf -s 127.0.0.1 -p "$port" -d "$TMP/queries.txt" -l 5 -c 4 -Q "$LAT_QPS" -v \
        2>/dev/null | awk '$1 == ">" {print $NF}' | sort -g >"$TMP/$name.lat" || true
    local n
    n=$(wc -l <"$TMP/$name.lat")
    P99[$name]=$(awk -v n="$n" 'NR == int(n * 0.99) {printf "%.3f", $1 * 1000}' "$TMP/$name.lat")
    P50[$name]=$(awk -v n="$n" 'NR == int(n * 0.5) {printf "%.3f", $1 * 1000}' "$TMP/$name.lat")
    local pid
    eval "pid=\$PID_$name"
    RSS[$name]=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
}
for s in bosun dnsmasq unbound bosun2; do
    bench "$s" "$(eval echo "\$P_${s^^}")"
done

echo
echo "DNS benchmark: $N services, $(wc -l <"$TMP/queries.txt") queries in the mix, ${SECS}s per server"
printf "%-18s %10s %12s %14s %14s %10s\n" server "max QPS" "avg@max(ms)" "p50@${LAT_QPS}(ms)" \
    "p99@${LAT_QPS}(ms)" "RSS(KB)"
for s in bosun dnsmasq unbound bosun2; do
    label=$s
    [ "$s" = bosun ] && label="bosun (1 thread)"
    [ "$s" = bosun2 ] && label="bosun (2 threads)"
    printf "%-18s %10s %12s %14s %14s %10s\n" "$label" "${QPS[$s]}" "${AVG[$s]}" "${P50[$s]}" \
        "${P99[$s]}" "${RSS[$s]}"
done
awk -v b="${QPS[bosun]}" -v d="${QPS[dnsmasq]}" -v u="${QPS[unbound]}" 'BEGIN {
    printf "ratio bosun/dnsmasq %.2fx, bosun/unbound %.2fx\n", b / d, b / u }'
