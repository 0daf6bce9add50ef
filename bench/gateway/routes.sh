#!/bin/bash
# bench/gateway/routes.sh - does the gateway's throughput depend on the number of routes?
#
# Two gateways run side by side on the same upstream (bench/gateway/upstream.c, keep-alive,
# access logging off): A with one catch-all route, B with NROUTES routes (one host and one
# Prefix path each, as in run.sh). wrk measures them alternately, ROUNDS times (A B, B A,
# A B, ...: the order alternates so a load that rises or falls during the run does not
# favour either), and the script prints every round and the ratio of the medians B/A, plus
# the median of the per-round ratios. Both gateways get byte-identical requests (A's
# catch-all route accepts B's hosts and paths), so only the configuration differs.
#
# Two traffic patterns, each its own A/B series:
#   one     every request to route NROUTES/2 (hN.example.com /svcN/x), as run.sh
#   spread  requests cycle through all NROUTES routes (each connection from its own offset):
#           per-route state (route, policy, counters, table slots) does not stay in cache
#
# Besides req/s it reports each gateway's CPU time per request (all its threads, from
# /proc/PID/task/*/schedstat), which depends less on what else the 2..n cores are doing.
#
#   bench/gateway/routes.sh                          # ~1 minute with the defaults
#   ROUNDS=7 DURATION=3 NROUTES=1000 PATTERNS="one spread" bench/gateway/routes.sh
#
# Needs: wrk, gcc, meson/ninja. Writes bench/gateway/last-routes.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-1}
NROUTES=${NROUTES:-1000}
PATTERNS=${PATTERNS:-one spread}
BASE_PORT=${BASE_PORT:-19300}
UP_PORT=$((BASE_PORT + 1))
A_PORT=$((BASE_PORT + 2))
B_PORT=$((BASE_PORT + 3))
TMP=$(mktemp -d /tmp/bsn-gw-routes.XXXXXX)
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

for tool in wrk gcc; do
    command -v "$tool" >/dev/null || { echo "routes.sh: $tool is required" >&2; exit 1; }
done
. "$ROOT/bench/gateway/common.sh"

build_gateway
start_upstream
write_bosun_config 1 "$TMP/a.yaml"
write_bosun_config "$NROUTES" "$TMP/b.yaml"
write_spread_script "$NROUTES" "$TMP/spread.lua"
start_bosun 1 "$TMP/a.yaml" "$A_PORT"
A_PID=$BSN_PID
start_bosun 1 "$TMP/b.yaml" "$B_PORT"
B_PID=$BSN_PID
MID=$((NROUTES / 2))
[ "$MID" -lt 1 ] && MID=1

declare -A RPS CPU
measure() { # pattern A|B -> prints "req/s cpu_us_per_request"
    local pat=$1 which=$2 port pid res
    if [ "$which" = A ]; then port=$A_PORT pid=$A_PID; else port=$B_PORT pid=$B_PID; fi
    if [ "$pat" = one ]; then
        res=$(CPU_PID=$pid run_wrk "$port" "h$MID.example.com" "/svc$MID/x")
    else
        res=$(CPU_PID=$pid run_wrk "$port" "" "/" "$TMP/spread.lua")
    fi
    set -- $res
    echo "$1 $4"
}

{
    echo "# Gateway routes A/B $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs," \
        "gateway $BOSUN_GATEWAY"
    echo "# A: 1 catch-all route, B: $NROUTES routes; wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s," \
        "1 worker thread each, keep-alive both sides, logs off"
    echo "# RSS after start: A $(rss_kb "$A_PID") KiB, B $(rss_kb "$B_PID") KiB"
    for pat in $PATTERNS; do
        echo "## pattern $pat"
        printf "%-6s %-5s %9s %9s %9s %9s %7s  %s\n" round order "A req/s" "B req/s" "A us/req" \
            "B us/req" "B/A" "uptime"
        ROUND_RATIOS=""
        for round in $(seq 1 "$ROUNDS"); do
            if [ $((round % 2)) -eq 1 ]; then
                a=$(measure "$pat" A)
                b=$(measure "$pat" B)
                order="A B"
            else
                b=$(measure "$pat" B)
                a=$(measure "$pat" A)
                order="B A"
            fi
            set -- $a $b
            RPS[${pat}A]="${RPS[${pat}A]:-} $1"
            CPU[${pat}A]="${CPU[${pat}A]:-} $2"
            RPS[${pat}B]="${RPS[${pat}B]:-} $3"
            CPU[${pat}B]="${CPU[${pat}B]:-} $4"
            r=$(ratio "$3" "$1")
            ROUND_RATIOS="$ROUND_RATIOS $r"
            printf "%-6s %-5s %9s %9s %9s %9s %7s  %s\n" "$round" "$order" "$1" "$3" "$2" "$4" "$r" \
                "$(cut -d' ' -f1-3 /proc/loadavg)"
        done
        ma=$(median ${RPS[${pat}A]}) mb=$(median ${RPS[${pat}B]})
        ca=$(median ${CPU[${pat}A]}) cb=$(median ${CPU[${pat}B]})
        echo "median: A $ma req/s ($ca us/req), B $mb req/s ($cb us/req)"
        echo "$pat: $NROUTES routes / 1 route: throughput $(ratio "$mb" "$ma") (median of rounds" \
            "$(median $ROUND_RATIOS)), CPU per request $(ratio "$cb" "$ca")"
    done
    echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$ROOT/bench/gateway/last-routes.txt"
