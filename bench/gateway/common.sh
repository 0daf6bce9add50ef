# bench/gateway/common.sh - helpers shared by bench/gateway/run.sh and bench/gateway/routes.sh
# (sourced, not run). Expects ROOT, TMP, CONNS, DURATION, WRK_THREADS, UP_PORT and a PIDS array.

# The EXIT trap of both scripts: stops what they started (PIDS) and removes TMP.
bench_cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}

# Builds the release gateway (build-bench) unless BOSUN_GATEWAY names one.
build_gateway() {
    if [ -z "${BOSUN_GATEWAY:-}" ]; then
        if [ ! -f "$ROOT/build-bench/build.ninja" ]; then
            meson setup "$ROOT/build-bench" --buildtype=release -Dtests=false >/dev/null
        fi
        ninja -C "$ROOT/build-bench" src/gateway/bosun-gateway >/dev/null
        BOSUN_GATEWAY=$ROOT/build-bench/src/gateway/bosun-gateway
    fi
}

start_upstream() {
    gcc -O2 -o "$TMP/upstream" "$ROOT/bench/gateway/upstream.c" -lpthread
    "$TMP/upstream" -p "$UP_PORT" -t 1 3>&- &
    PIDS+=($!)
    wait_port "$UP_PORT"
}

wait_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "bench: nothing listening on port $1" >&2
    return 1
}

rss_kb() { # sum of VmRSS of the given pids and their children
    local total=0 p
    for p in "$@" $(for q in "$@"; do pgrep -P "$q" || true; done); do
        local r
        r=$(awk '/VmRSS/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
        total=$((total + ${r:-0}))
    done
    echo "$total"
}

cpu_ns() { # CPU time (ns) used so far by every thread of pid
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'
}

# run_wrk PORT [HOST PATH [SCRIPT]] -> prints "rps p99_ms requests cpu_us_per_request"
# (the last is the CPU time of process CPU_PID per request during the run, 0 without CPU_PID).
# A 1 s warm-up run comes first unless WARMUP=0. PIN_LOAD (e.g. "taskset -c 1") prefixes wrk.
run_wrk() {
    local port=$1 host=${2:-} path=${3:-/} script=${4:-}
    local opt=()
    [ -n "$host" ] && opt+=(-H "Host: $host")
    [ -n "$script" ] && opt+=(-s "$script")
    if [ "${WARMUP:-1}" = 1 ]; then
        ${PIN_LOAD:-} wrk -t1 -c"$CONNS" -d1s "${opt[@]}" "http://127.0.0.1:$port$path" >/dev/null 2>&1 || true
    fi
    local out c0=0 c1=0
    [ -n "${CPU_PID:-}" ] && c0=$(cpu_ns "$CPU_PID")
    out=$(${PIN_LOAD:-} wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "${opt[@]}" \
        "http://127.0.0.1:$port$path" 2>&1)
    [ -n "${CPU_PID:-}" ] && c1=$(cpu_ns "$CPU_PID")
    local rps p99 n errs cpu
    rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}')
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    p99=$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000}
        else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}
        printf "%.2f", v}')
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    [ -n "$errs" ] && echo "  ($errs)" >&2
    cpu=$(awk -v d=$((c1 - c0)) -v n="${n:-0}" 'BEGIN { printf "%.2f", (n > 0 ? d / n / 1000 : 0) }')
    echo "${rps:-0} ${p99:-0} ${n:-0} $cpu"
}

# write_bosun_config NROUTES FILE: one Service "up" on the upstream, and an Ingress with
# either one catch-all rule (NROUTES 1) or NROUTES rules "hI.example.com" + Prefix "/svcI".
write_bosun_config() {
    local n=$1 f=$2
    {
        cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: up, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: $UP_PORT}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: up-1, namespace: default, labels: {kubernetes.io/service-name: up}}
addressType: IPv4
ports: [{name: http, port: $UP_PORT}]
endpoints: [{addresses: ["127.0.0.1"]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench, namespace: default}
spec:
  rules:
EOF
        if [ "$n" -eq 1 ]; then
            echo "  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: up, port: {number: 80}}}}]}"
        else
            for i in $(seq 1 "$n"); do
                echo "  - host: h$i.example.com"
                echo "    http: {paths: [{path: /svc$i, pathType: Prefix, backend: {service: {name: up, port: {number: 80}}}}]}"
            done
        fi
    } >"$f"
}

# write_spread_script NROUTES FILE: a wrk script whose requests cycle through the hosts and
# paths of write_bosun_config's NROUTES rules (every route in turn, each connection offset).
write_spread_script() {
    cat >"$2" <<EOF
local n, i = $1, 0
local reqs = {}
function init(args)
  for k = 1, n do
    reqs[k] = wrk.format("GET", "/svc" .. k .. "/x", {Host = "h" .. k .. ".example.com"})
  end
  i = math.random(n)
end
function request()
  i = i % n + 1
  return reqs[i]
end
EOF
}

start_bosun() { # threads config port -> BSN_PID
    "$BOSUN_GATEWAY" --listen "127.0.0.1:$3" --config "$2" --threads "$1" \
        --access-log off --log-level error 3>&- &
    BSN_PID=$!
    PIDS+=($BSN_PID)
    wait_port "$3"
}

stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

median() { echo "$@" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# median_ci VALUES...: "lo hi", a ~95% confidence interval of the median (order statistics)
median_ci() {
    echo "$@" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {
        n = NR; j = int(n / 2 - 0.98 * sqrt(n)); k = int(1 + n / 2 + 0.98 * sqrt(n) + 0.999)
        if (j < 1) j = 1; if (k > n) k = n; print a[j], a[k] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
