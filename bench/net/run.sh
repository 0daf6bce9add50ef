#!/usr/bin/env bash
# run.sh - service proxy benchmarks (root; nftables data path).
#  (a) wrk through a Service VIP vs the pod IP directly: nginx in a network namespace behind a
#      selectorless Service programmed by `bosun server`'s proxy, wrk in a second namespace
#      (a client pod with an address in the pod CIDR, so forwarded through the host as pod
#      traffic is) and on the host itself (output hook); keep-alive and one connection per
#      request (every request a new conntrack entry + DNAT); ROUNDS (5) back-to-back pairs of
#      SECONDS each, the median of the per-pair loss.
#  (b) time to program one endpoint change with 100 / 1,000 / 5,000 Services in the table
#      (bench/net/nft_update.c, built with -O2 from the sources).
#
# usage: bench/net/run.sh [SECONDS=5]
# env:   BOSUN=path to bosun (default build/bosun)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-5}
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespace, nftables)"; exit 1; }
for t in wrk nginx nft kubectl cc; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "missing $t"; exit 1; }
done
PATH=$PATH:/usr/sbin
BOSUN=${BOSUN:-$PWD/build/bosun}
ID=$((RANDOM % 10000))
NS=bnb$ID
VETH=vbnb$ID
CNS=bnc$ID
CVETH=vbnc$ID
TABLE=bsnbench$ID
NET=$((200 + RANDOM % 50))
TMP=$(mktemp -d /tmp/bsn-net-bench.XXXXXX)
SRV=""
cleanup() {
    set +e # a step that fails (a veth already gone with its namespace) must not skip the rest
    [ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
    ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    ip netns del "$CNS" 2>/dev/null
    ip link del "$VETH" 2>/dev/null
    ip link del "$CVETH" 2>/dev/null
    nft delete table ip "$TABLE" 2>/dev/null
    [ -n "${OLD_FWD:-}" ] && sysctl -qw net.ipv4.ip_forward="$OLD_FWD"
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "### (a) wrk: Service VIP vs pod IP (nginx in a netns, 1 wrk thread, ${SECS}s runs, load $(cut -d' ' -f1 /proc/loadavg))"
ip netns add "$NS"
ip link add "$VETH" type veth peer name eth0 netns "$NS"
ip addr add "10.$NET.0.1/24" dev "$VETH"
ip link set "$VETH" up
ip -n "$NS" addr add "10.$NET.0.2/24" dev eth0
ip -n "$NS" link set lo up
ip -n "$NS" link set eth0 up
ip -n "$NS" route add default via "10.$NET.0.1"
# the client: 10.42.2xx.2 is inside the default cluster CIDR (10.42.0.0/16), no masquerade
CNET=$((200 + RANDOM % 50))
ip netns add "$CNS"
ip link add "$CVETH" type veth peer name eth0 netns "$CNS"
ip addr add "10.42.$CNET.1/24" dev "$CVETH"
ip link set "$CVETH" up
ip -n "$CNS" addr add "10.42.$CNET.2/24" dev eth0
ip -n "$CNS" link set lo up
ip -n "$CNS" link set eth0 up
ip -n "$CNS" route add default via "10.42.$CNET.1"
# TCP timestamps without the per-destination random offset: otherwise a SYN to the VIP can hit
# the server's TIME_WAIT left by a direct-IP run (different offset -> PAWS reject -> 1 s SYN
# retransmit), which measures the benchmark, not the data path
ip netns exec "$CNS" sysctl -qw net.ipv4.tcp_timestamps=2
OLD_FWD=$(sysctl -n net.ipv4.ip_forward)
sysctl -qw net.ipv4.ip_forward=1
mkdir -p "$TMP/www"
chmod 755 "$TMP" "$TMP/www" # nginx workers run as nobody
head -c 600 /dev/zero | tr '\0' x >"$TMP/www/index.html"
cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    server { listen 80; root $TMP/www; }
}
EOF
ip netns exec "$NS" nginx -c "$TMP/nginx.conf" &
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BOSUN" server --data-dir "$TMP/data" --listen "127.0.0.1:$PORT" --store memory \
    --disable-agent --disable-gateway --disable-controllers all \
    --proxy-mode nftables --proxy-table "$TABLE" --log-level warn >"$TMP/server.log" 2>&1 &
SRV=$!
export KUBECONFIG=$TMP/data/kubeconfig
for _ in $(seq 100); do [ -f "$KUBECONFIG" ] && kubectl get ns default >/dev/null 2>&1 && break; sleep 0.1; done
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: bench}
spec:
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bench-1, labels: {kubernetes.io/service-name: bench}}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints: [{addresses: ["10.$NET.0.2"]}]
EOF
for _ in $(seq 50); do curl -sf -m 1 "http://10.$NET.0.2/" >/dev/null && break; sleep 0.1; done
VIP=$(kubectl get svc bench -o jsonpath='{.spec.clusterIP}')
for _ in $(seq 100); do curl -sf -m 1 "http://$VIP/" >/dev/null && break; sleep 0.1; done
curl -sf -m 2 "http://$VIP/" >/dev/null || { echo "VIP $VIP does not answer"; cat "$TMP/server.log"; exit 1; }

rps() { $IN wrk -t1 "$@" | awk '/Requests\/sec/ {print $2}'; }
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ROUNDS=${ROUNDS:-5}
for client in pod host; do
    IN=""
    [ $client = pod ] && IN="ip netns exec $CNS"
    for mode in keepalive close; do
        [ $client = host ] && [ $mode = close ] && continue # see tcp_timestamps above
        hdr=()
        conns=32
        [ $mode = close ] && hdr=(-H "Connection: close") && conns=8
        d=() v=() r=()
        # back-to-back pairs, the order alternating: the machine's load drifts between rounds
        for i in $(seq "$ROUNDS"); do
            if [ $((i % 2)) -eq 1 ]; then
                a=$(rps -c$conns -d"${SECS}s" "${hdr[@]}" "http://10.$NET.0.2/")
                b=$(rps -c$conns -d"${SECS}s" "${hdr[@]}" "http://$VIP/")
            else
                b=$(rps -c$conns -d"${SECS}s" "${hdr[@]}" "http://$VIP/")
                a=$(rps -c$conns -d"${SECS}s" "${hdr[@]}" "http://10.$NET.0.2/")
            fi
            d+=("$a") v+=("$b") r+=("$(echo "(1 - $b / $a) * 100" | bc -l)")
        done
        printf '%-4s client %-9s c=%-2d median direct %8.0f req/s  via VIP %8.0f req/s  loss per pair: median %5.1f%% (%s)\n' \
            "$client" "$mode" "$conns" "$(med "${d[@]}")" "$(med "${v[@]}")" "$(med "${r[@]}")" \
            "$(printf '%.0f ' "${r[@]}")"
    done
done
kill "$SRV"
wait "$SRV" 2>/dev/null || true
SRV=""
nft list table ip "$TABLE" >/dev/null 2>&1 && echo "WARNING: table $TABLE left after SIGTERM"

echo
echo "### (b) one endpoint change with N Services in the table"
cc -O2 -std=gnu17 -D_GNU_SOURCE -Isrc -o "$TMP/nft_update" bench/net/nft_update.c \
    src/net/proxy_nft.c src/net/proxy_model.c src/base/buf.c src/base/mem.c src/base/map.c \
    src/base/log.c src/base/err.c src/base/time.c -lnftables -ljansson
"$TMP/nft_update" "$TABLE"
