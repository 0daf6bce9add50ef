#!/usr/bin/env bash
# Platform-wide figures (issue 7): binary size, cold start to a Ready node, idle RSS of a
# single-node cluster with everything on (API, store, controllers, scheduler, node agent with
# the process runtime, gateway, cluster DNS), pod startup latency over 100 pods, RSS with them,
# and `kubectl apply` of the demo app to all pods Ready. Release build; prints one line each.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BOSUN=${BOSUN:-$root/build/bosun}
work=$(mktemp -d /tmp/bosun-bench-platform.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) gwport=$(free_port) dnsport=$(free_port)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work/home" KUBECONFIG="$work/d/kubeconfig"
mkdir -p "$HOME"
node="bench-$$"

echo "# machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $(du -k "$BOSUN" | cut -f1) KiB ($BOSUN)"
t0=$(date +%s%N)
"$BOSUN" server --data-dir "$work/d" --listen "127.0.0.1:$port" --runtime process \
    --node-name "$node" --gateway-listen "127.0.0.1:$gwport" --cluster-dns "127.0.0.1:$dnsport" \
    --log-level warn >"$work/log" 2>&1 &
pid=$!
until [ -f "$KUBECONFIG" ] &&
    [ "$(kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/log"; exit 1; }
    sleep 0.005
done
t1=$(date +%s%N)
echo "cold start to a Ready node: $(((t1 - t0) / 1000000)) ms (target <= 200 ms; k3s: tens of seconds; includes kubectl's own start)"
sleep 5
echo "idle RSS, everything on: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) KiB (target <= 20 MB; k3s server ~1.5 GB)"
python3 "$root/bench/platform/podlat.py" "https://127.0.0.1:$port" "$(cat "$work/d/token")" \
    "$work/d/tls/ca.crt" "$node" 100
t0=$(date +%s%N)
kubectl apply -f "$root/examples/demo/hello.yaml" >/dev/null
kubectl rollout status deploy/hello --timeout=120s >/dev/null
t1=$(date +%s%N)
echo "kubectl apply of the demo app to all 3 pods Ready (readiness probe every 2 s): $(((t1 - t0) / 1000000)) ms"
echo "RSS with the demo running: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) KiB"

# The shop (seed 004) as `make run` deploys it: oci runtime, CNI pod network, nftables service
# proxy, cluster DNS at 10.43.0.10 (root and runc only), from `kubectl apply` to every pod
# Ready, and the server's RSS with it running.
if [ "$(id -u)" = 0 ] && command -v runc >/dev/null && [ -x "$(dirname "$BOSUN")/examples/shop/shop-auth" ]; then
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    pid=""
    n=$((RANDOM % 200 + 20))
    bridge="bsn-bp$n" subnet="10.217.$n.0/24" table="bsnbp$$"
    port=$(free_port) gwport=$(free_port) dnsport=$(free_port)
    export KUBECONFIG="$work/o/kubeconfig"
    "$BOSUN" server --data-dir "$work/o" --listen "127.0.0.1:$port" --runtime oci \
        --node-name "$node-oci" --gateway-listen "127.0.0.1:$gwport" \
        --cluster-dns "0.0.0.0:$dnsport" --cni-bridge "$bridge" --cluster-cidr "$subnet" \
        --pod-cidr "$subnet" --proxy-table "$table" --log-level warn >"$work/log-oci" 2>&1 &
    pid=$!
    until [ -f "$KUBECONFIG" ] &&
        [ "$(kubectl get node "$node-oci" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
        kill -0 "$pid" 2>/dev/null || { cat "$work/log-oci"; exit 1; }
        sleep 0.01
    done
    sleep 3
    echo "idle RSS, everything on with the oci runtime, pod network and service proxy: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) KiB"
    t0=$(date +%s%N)
    "$root/examples/render.sh" "$root/examples/shop/shop.yaml" "$(dirname "$BOSUN")" | kubectl apply -f - >/dev/null
    for d in auth catalog purchase-v1 purchase-v2; do
        kubectl -n shop rollout status "deploy/$d" --timeout=120s >/dev/null
    done
    t1=$(date +%s%N)
    echo "kubectl apply of the shop (6 pods, oci) to all pods Ready: $(((t1 - t0) / 1000000)) ms"
    echo "RSS with the shop running: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) KiB"
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    pid=""
    ip link del "$bridge" 2>/dev/null || true
    nft delete table ip "$table" 2>/dev/null || true
else
    echo "(the shop figure needs root, runc and the examples built next to $BOSUN)"
fi
echo "RSS per 1,000 pods: see bench/controllers (server RSS with 10,000 simulated pods / 10)"
