#!/usr/bin/env bash
# API server benchmark (issue 2 figures), one run:
#   cold start to ready, idle RSS, durable creates/s (1 KiB ConfigMaps, concurrent keep-alive
#   clients), single GET latency, LIST of 10,000 pods, watch fan-out to 100 watchers, RSS with
#   10,000 pods stored. Uses the release build (make build) and wrk. Not a test: it measures.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BOSUN=${BOSUN:-$root/build/bosun}
DUR=${DUR:-10}
# API server figures: the control plane without the embedded agent and controllers (as
# kube-apiserver is measured); set SERVER_FLAGS="" to measure everything together.
SERVER_FLAGS=${SERVER_FLAGS---disable-agent --disable-controllers all --disable-gateway}
work=$(mktemp -d /tmp/bosun-bench-api.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "# bosun: $($BOSUN version), binary $(du -k "$BOSUN" | cut -f1) KiB, server flags: ${SERVER_FLAGS:-none}"

start() { # start a server on $1 (data dir); sets pid and ms (until /readyz answers)
    local t0 t1
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    "$BOSUN" server --data-dir "$1" --listen "127.0.0.1:$port" --log-level warn $SERVER_FLAGS >"$work/log" 2>&1 &
    pid=$!
    until curl -sk "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || { echo "server failed to start:" >&2; cat "$work/log" >&2; exit 1; }
        sleep 0.001
    done
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

start "$work/d1"; first=$ms; stop
warm=()
for i in 1 2 3 4 5; do start "$work/d1"; warm+=("$ms"); [ $i -lt 5 ] && stop; done
echo "cold start to ready: first start (creates CA, certs, db) ${first} ms; warm restarts ${warm[*]} ms (target <= 100 ms)"
sleep 1
echo "idle RSS: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) KiB (target <= 15 MB; k3s server ~1.5 GB)"

export BOSUN_TOKEN=$(cat "$work/d1/token")
url="https://127.0.0.1:$port"
for c in 16 64; do
    out=$(BENCH_RUN=$c wrk -t2 -c$c -d${DUR}s -s "$root/bench/api/create.lua" "$url/api/v1/namespaces/default/configmaps" 2>&1)
    echo "durable creates, $c clients: $(echo "$out" | awk '/Requests\/sec/ {print $2}') /s (target >= 10,000/s), latency $(echo "$out" | awk '/Latency/ {print $2; exit}') avg"
done
curl -sk -H "Authorization: Bearer $BOSUN_TOKEN" -H 'Content-Type: application/json' \
    -X POST "$url/api/v1/namespaces/default/configmaps" \
    -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"getme"},"data":{"k":"v"}}' >/dev/null
out=$(wrk -t2 -c16 -d${DUR}s --latency -s "$root/bench/api/get.lua" "$url/api/v1/namespaces/default/configmaps/getme" 2>&1)
echo "single GET: $(echo "$out" | awk '/Requests\/sec/ {print $2}') /s; p50 $(echo "$out" | awk '$1=="50%" {print $2}'), p99 $(echo "$out" | awk '$1=="99%" {print $2}') (target p99 <= 2 ms)"

python3 "$root/bench/api/watchlat.py" 127.0.0.1 "$port" "$BOSUN_TOKEN" "$work/d1/tls/ca.crt" 100 20

# 10,000 pods on a fresh server
stop
start "$work/d2"
export BOSUN_TOKEN=$(cat "$work/d2/token")
python3 - "$url" "$BOSUN_TOKEN" "$work/d2/tls/ca.crt" <<'PY'
import http.client, json, ssl, sys, threading
url, tok, ca = sys.argv[1:4]
host, port = url.split("//")[1].split(":")
ctx = ssl.create_default_context(cafile=ca)
def worker(k):
    c = http.client.HTTPSConnection(host, int(port), context=ctx)
    for i in range(k, 10000, 8):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "labels": {"app": "bench"}},
               "spec": {"containers": [{"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}}
        c.request("POST", "/api/v1/namespaces/default/pods", body=json.dumps(pod),
                  headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        assert r.status == 201, r.status
ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
sleep 1
t=()
for i in 1 2 3; do
    t+=("$(curl -sk -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $BOSUN_TOKEN" "$url/api/v1/pods")")
done
echo "LIST 10,000 pods: ${t[*]} s (target <= 0.150 s)"
t=$(curl -sk -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $BOSUN_TOKEN" -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io' "$url/api/v1/pods")
echo "LIST 10,000 pods as Table (kubectl get pods -A): $t s"
echo "RSS with 10,000 pods stored: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) KiB (target <= 100 MB)"
