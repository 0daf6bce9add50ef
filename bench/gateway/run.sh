#!/bin/bash
# bench/gateway/run.sh - Bosun's gateway vs nginx vs HAProxy as reverse proxies, side by side,
# in one run, on loopback.
#
# Same upstream for all (bench/gateway/upstream.c, 13-byte body, keep-alive), equivalent proxy
# configs (keep-alive to the upstream, access logging off), wrk with a fixed client load, at 1
# and 2 worker threads/processes each. Reports req/s, p99 latency, RSS and ratios, plus Bosun
# with 1,000 routes (1,000 hosts x 1 path) vs 1 route (back to back in each round, same
# requests; bench/gateway/routes.sh is the dedicated A/B), and p99 latency of each at the same
# paced load of about half the better peer's peak. The machine may be shared, so every
# configuration is measured ROUNDS times, interleaved, and the median is reported. Takes
# about 2.5 minutes.
#
#   bench/gateway/run.sh            # builds build-bench (release) if BOSUN_GATEWAY is unset
#   ROUNDS=5 DURATION=5 CONNS=100 bench/gateway/run.sh
#
# Needs: wrk, nginx (nginx-light), haproxy, gcc, meson/ninja.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-1}
BASE_PORT=${BASE_PORT:-19100}
UP_PORT=$((BASE_PORT + 1))
NGX_PORT=$((BASE_PORT + 2))
HAP_PORT=$((BASE_PORT + 3))
BSN_PORT=$((BASE_PORT + 4))
TMP=$(mktemp -d /tmp/bsn-gw-bench.XXXXXX)
PIDS=()

. "$ROOT/bench/gateway/common.sh"
trap bench_cleanup EXIT

for tool in wrk nginx haproxy gcc; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done

build_gateway
start_upstream

start_nginx() { # workers
    mkdir -p "$TMP/nginx"
    cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes $1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log crit;
events { worker_connections 4096; }
http {
    access_log off;
    upstream u { server 127.0.0.1:$UP_PORT; keepalive 128; }
    server {
        listen 127.0.0.1:$NGX_PORT reuseport;
        location / {
            proxy_pass http://u;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }
    }
}
EOF
    nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' 2>/dev/null &
    NGX_PID=$!
    PIDS+=($NGX_PID)
    wait_port "$NGX_PORT"
}

start_haproxy() { # threads
    cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread $1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
frontend f
    bind 127.0.0.1:$HAP_PORT
    default_backend b
backend b
    http-reuse always
    server s1 127.0.0.1:$UP_PORT
EOF
    haproxy -f "$TMP/haproxy.cfg" -db 2>/dev/null &
    HAP_PID=$!
    PIDS+=($HAP_PID)
    wait_port "$HAP_PORT"
}

write_bosun_config 1 "$TMP/bosun-1.yaml"
write_bosun_config 1000 "$TMP/bosun-1000.yaml"

declare -A RPS P99 RSS ALL
add() { RPS[$1]="${RPS[$1]:-} $2"; P99[$1]="${P99[$1]:-} $3"; }
ROUTE_RATIOS=""
for round in $(seq 1 "$ROUNDS"); do
    for w in 1 2; do
        start_nginx "$w"
        add nginx$w $(run_wrk "$NGX_PORT")
        RSS[nginx$w]=$(rss_kb "$NGX_PID")
        stop "$NGX_PID"

        start_haproxy "$w"
        add haproxy$w $(run_wrk "$HAP_PORT")
        RSS[haproxy$w]=$(rss_kb "$HAP_PID")
        stop "$HAP_PID"

        start_bosun "$w" "$TMP/bosun-1.yaml" "$BSN_PORT"
        add bosun$w $(run_wrk "$BSN_PORT")
        RSS[bosun$w]=$(rss_kb "$BSN_PID")
        if [ "$w" = 1 ]; then
            # 1 route vs 1,000 routes back to back, under the same load, with the same
            # requests (the catch-all route of bosun-1 takes them too)
            set -- $(run_wrk "$BSN_PORT" h500.example.com /svc500/x)
            add bosun1h "$1" "$2"
            one=$1
            stop "$BSN_PID"
            start_bosun 1 "$TMP/bosun-1000.yaml" "$BSN_PORT"
            set -- $(run_wrk "$BSN_PORT" h500.example.com /svc500/x)
            add bosun1000 "$1" "$2"
            ROUTE_RATIOS="$ROUTE_RATIOS $(ratio "$1" "$one")"
            RSS[bosun1000]=$(rss_kb "$BSN_PID")
        fi
        stop "$BSN_PID"
    done
    echo "round $round done" >&2
done
for k in "${!RPS[@]}"; do
    ALL[$k]=${RPS[$k]}
    RPS[$k]=$(median ${RPS[$k]})
    P99[$k]=$(median ${P99[$k]})
done

# p99 at about 50% of the better peer's peak (1 worker each): every proxy gets the same paced
# load, PACED_CONNS connections each sending one request per millisecond (wrk's delay()), so the
# offered rate is about half the better peer's median peak (calibrated against the upstream).
best=${RPS[nginx1]}
[ "${RPS[haproxy1]}" -gt "$best" ] && best=${RPS[haproxy1]}
echo 'function delay() return 1 end' >"$TMP/pace.lua"
# calibrate: what one paced connection sends per second here (the timer is not exact)
per_conn=$(wrk -t1 -c10 -d1s -s "$TMP/pace.lua" "http://127.0.0.1:$UP_PORT/" 2>&1 |
    awk '/Requests\/sec/ {printf "%d", $2 / 10}')
[ "${per_conn:-0}" -lt 100 ] && per_conn=1000
PACED_CONNS=$(((best / 2 + per_conn / 2) / per_conn))
[ "$PACED_CONNS" -lt 1 ] && PACED_CONNS=1
run_paced() { # PORT -> "rps p99_ms"
    local out
    out=$(wrk -t1 -c"$PACED_CONNS" -d"${DURATION}s" --latency -s "$TMP/pace.lua" \
        "http://127.0.0.1:$1/" 2>&1)
    echo "$out" | awk '/Requests\/sec/ {r = $2}
        $1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000}
        else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}
        p = v}
        END {printf "%d %.2f\n", r, p}'
}
declare -A HRPS HP99
addh() { HRPS[$1]="${HRPS[$1]:-} $2"; HP99[$1]="${HP99[$1]:-} $3"; }
for round in $(seq 1 "$ROUNDS"); do
    start_nginx 1
    addh nginx $(run_paced "$NGX_PORT")
    stop "$NGX_PID"
    start_haproxy 1
    addh haproxy $(run_paced "$HAP_PORT")
    stop "$HAP_PID"
    start_bosun 1 "$TMP/bosun-1.yaml" "$BSN_PORT"
    addh bosun $(run_paced "$BSN_PORT")
    stop "$BSN_PID"
done
for k in nginx haproxy bosun; do
    HRPS[$k]=$(median ${HRPS[$k]})
    HP99[$k]=$(median ${HP99[$k]})
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

{
    echo "# Gateway benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs"
    echo "# wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s x $ROUNDS rounds (median), 13-byte body, keep-alive both sides, logs off"
    printf "%-22s %10s %9s %9s\n" "proxy (workers)" "req/s" "p99 ms" "RSS KiB"
    for w in 1 2; do
        for p in nginx haproxy bosun; do
            printf "%-22s %10s %9s %9s\n" "$p ($w)" "${RPS[$p$w]}" "${P99[$p$w]}" "${RSS[$p$w]}"
        done
    done
    printf "%-22s %10s %9s %9s\n" "bosun 1 route, h500 (1)" "${RPS[bosun1h]}" "${P99[bosun1h]}" \
        "${RSS[bosun1]}"
    printf "%-22s %10s %9s %9s\n" "bosun 1000 routes (1)" "${RPS[bosun1000]}" "${P99[bosun1000]}" \
        "${RSS[bosun1000]}"
    for w in 1 2; do
        echo "ratio ($w worker): bosun/nginx $(ratio "${RPS[bosun$w]}" "${RPS[nginx$w]}")," \
            "bosun/haproxy $(ratio "${RPS[bosun$w]}" "${RPS[haproxy$w]}")"
    done
    echo "bosun 1000 routes / 1 route (same requests, back to back): $(ratio "${RPS[bosun1000]}" \
        "${RPS[bosun1h]}") (median of the rounds' ratios $(median $ROUTE_RATIOS);" \
        "bench/gateway/routes.sh measures this alone)"
    echo "p99 at ~50% of the better peer's peak ($PACED_CONNS conns x 1 req/ms, 1 worker):"
    for p in nginx haproxy bosun; do
        printf "  %-8s %9s req/s  p99 %s ms\n" "$p" "${HRPS[$p]}" "${HP99[$p]}"
    done
    echo "# all rounds (req/s):"
    for k in nginx1 haproxy1 bosun1 nginx2 haproxy2 bosun2 bosun1h bosun1000; do
        echo "#   $k:${ALL[$k]}"
    done
    echo "# bosun 1000 routes / 1 route by round:$ROUTE_RATIOS"
    echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$ROOT/bench/gateway/last-run.txt"
