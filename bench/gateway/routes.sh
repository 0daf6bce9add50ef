#!/bin/bash
# bench/gateway/routes.sh - does the gateway's throughput depend on the number of routes?
#
# Two gateways run side by side (bench/gateway/upstream.c behind each, keep-alive, access
# logging off, 1 worker thread): A with one catch-all route, B with NROUTES routes (one host
# and one Prefix path each, as in run.sh). Both get byte-identical requests (A's catch-all
# route accepts B's hosts and paths), so only the configuration differs. Each series is
# ROUNDS short rounds; the script prints every round, the median of the rounds' ratios B/A
# with a 95% confidence interval (the figure to quote: a round pairs A and B under the same
# conditions), the ratio of the medians, and the ratio of CPU time per request. Two ways of
# pairing A with B (MODES):
#
#   paired       A and B are measured at the same time (two wrk, two upstreams), the two
#                gateways pinned to the same CPU (PIN=1, the default; wrk and the upstreams
#                on the other): whatever else the machine does hits both alike, so the ratio
#                of a round is robust on a shared machine, and req/s follows the gateways'
#                own cost per request.
#   interleaved  A B, B A, A B, ... one after the other; the order alternates so a load that
#                rises or falls during the run favours neither side. Only meaningful on a
#                quiet machine.
#
# and two traffic patterns (PATTERNS):
#   one          every request to route NROUTES/2 (hN.example.com /svcN/x), as run.sh
#   spread       requests cycle through all NROUTES routes (each connection from its own
#                offset): per-route state (table entries, route, counters) cannot all stay in
#                the CPU cache as the one route of A does
#
# Besides req/s it reports each gateway's CPU time per request (all its threads, from
# /proc/PID/task/*/schedstat).
#
#   bench/gateway/routes.sh                          # about 2.5 minutes with the defaults
#   ROUNDS=21 DURATION=2 MODES=paired PATTERNS=spread NROUTES=10000 bench/gateway/routes.sh
#   PIN=0 MODES=interleaved bench/gateway/routes.sh   # no CPU pinning
#
# Needs: wrk, gcc, meson/ninja. Writes bench/gateway/last-routes.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-2}
ROUNDS=${ROUNDS:-11}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-1}
NROUTES=${NROUTES:-1000}
PATTERNS=${PATTERNS:-one spread}
MODES=${MODES:-paired interleaved}
BASE_PORT=${BASE_PORT:-19300}
UP_PORT=$((BASE_PORT + 1))
A_PORT=$((BASE_PORT + 2))
B_PORT=$((BASE_PORT + 3))
TMP=$(mktemp -d /tmp/bsn-gw-routes.XXXXXX)
PIDS=()

. "$ROOT/bench/gateway/common.sh"
trap bench_cleanup EXIT

for tool in wrk gcc; do
    command -v "$tool" >/dev/null || { echo "routes.sh: $tool is required" >&2; exit 1; }
done

build_gateway
start_upstream
write_bosun_config 1 "$TMP/a.yaml"
B_UP_PORT=$((BASE_PORT + 4)) # B's own upstream: in paired rounds neither waits for the other's
UP_PORT=$B_UP_PORT start_upstream
UP_PORT=$B_UP_PORT write_bosun_config "$NROUTES" "$TMP/b.yaml"
write_spread_script "$NROUTES" "$TMP/spread.lua"
start_bosun 1 "$TMP/a.yaml" "$A_PORT"
A_PID=$BSN_PID
start_bosun 1 "$TMP/b.yaml" "$B_PORT"
B_PID=$BSN_PID
# PIN=1 (the default): both gateways on CPU 0, wrk and the upstreams on CPU 1.
PIN_LOAD=""
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    PIN_LOAD="taskset -c 1"
    for p in "${PIDS[@]}"; do taskset -a -pc 1 "$p" >/dev/null; done # the upstreams
    taskset -a -pc 0 "$A_PID" >/dev/null
    taskset -a -pc 0 "$B_PID" >/dev/null
fi
export WARMUP=0
MID=$((NROUTES / 2))
[ "$MID" -lt 1 ] && MID=1

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

# series MODE PATTERN: ROUNDS rounds, a table of them, and the ratios
series() {
    local mode=$1 pat=$2 ra="" rb="" ca="" cb="" rr="" a b order
    echo "## $mode, pattern $pat"
    WARMUP=1 measure "$pat" A >/dev/null # warm both up once, then short rounds back to back
    WARMUP=1 measure "$pat" B >/dev/null
    printf "%-6s %-5s %9s %9s %9s %9s %7s  %s\n" round order "A req/s" "B req/s" "A us/req" \
        "B us/req" "B/A" "load average"
    for round in $(seq 1 "$ROUNDS"); do
        if [ "$mode" = paired ]; then
            measure "$pat" A >"$TMP/a.out" &
            local pa=$!
            measure "$pat" B >"$TMP/b.out"
            wait "$pa"
            a=$(cat "$TMP/a.out") b=$(cat "$TMP/b.out") order="A+B"
        elif [ $((round % 2)) -eq 1 ]; then
            a=$(measure "$pat" A) b=$(measure "$pat" B) order="A B"
        else
            b=$(measure "$pat" B) a=$(measure "$pat" A) order="B A"
        fi
        set -- $a $b
        ra="$ra $1" ca="$ca $2" rb="$rb $3" cb="$cb $4"
        local r
        r=$(ratio "$3" "$1")
        rr="$rr $r"
        printf "%-6s %-5s %9s %9s %9s %9s %7s  %s\n" "$round" "$order" "$1" "$3" "$2" "$4" "$r" \
            "$(cut -d' ' -f1-3 /proc/loadavg)"
    done
    local ma mb mca mcb
    ma=$(median $ra) mb=$(median $rb) mca=$(median $ca) mcb=$(median $cb)
    echo "median: A $ma req/s ($mca us/req), B $mb req/s ($mcb us/req)"
    echo "RESULT $mode $pat: $NROUTES routes / 1 route: median of the rounds' ratios" \
        "$(median $rr) (95% CI $(median_ci $rr | tr ' ' '-')), ratio of the medians" \
        "$(ratio "$mb" "$ma"), gateway CPU per request $(ratio "$mcb" "$mca")"
}

{
    echo "# Gateway routes A/B $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs," \
        "gateway $BOSUN_GATEWAY"
    echo "# A: 1 catch-all route, B: $NROUTES routes; wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s" \
        "x $ROUNDS rounds, 1 worker thread each, keep-alive both sides, logs off"
    echo "# RSS after start: A $(rss_kb "$A_PID") KiB, B $(rss_kb "$B_PID") KiB"
    echo "# load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)${PIN_LOAD:+; gateways on CPU 0, wrk and upstreams on CPU 1}"
    for mode in $MODES; do
        for pat in $PATTERNS; do series "$mode" "$pat"; done
    done
    echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$ROOT/bench/gateway/last-routes.txt"
