#!/usr/bin/env bash
# `make run`: starts a single-node Bosun cluster in the foreground with the demo app and
# prints what to try next. Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BOSUN=${BOSUN:-$root/build/bosun}
BUILD_DIR=$(dirname "$BOSUN")
DATA=${BOSUN_DATA_DIR:-$root/.bosun-run}
mkdir -p "$DATA"

server_pid=""

# As root with runc: the oci runtime with the CNI pod network, the nftables service proxy and
# the cluster DNS reachable from pods at 10.43.0.10, and the demo plus the shop (seed 004).
# Otherwise the process runtime (every pod its own loopback IP, no pod network) and the demo.
full=0
if [ "$(id -u)" = 0 ] && command -v runc >/dev/null 2>&1 && [ "${BOSUN_RUNTIME:-oci}" = oci ]; then
    full=1
fi
if [ "$full" = 1 ]; then
    # on all addresses (token-authenticated TLS): pods reach the API through 10.43.0.1
    LISTEN=${BOSUN_LISTEN:-0.0.0.0:6443}
    extra=(--runtime oci)
    DNS=${BOSUN_CLUSTER_DNS:-0.0.0.0:10053}
    BRIDGE=${BOSUN_CNI_BRIDGE:-bosun0}
    extra+=(--cni-bridge "$BRIDGE")
else
    LISTEN=${BOSUN_LISTEN:-127.0.0.1:6443}
    extra=(--runtime "${BOSUN_RUNTIME:-process}")
    DNS=${BOSUN_CLUSTER_DNS:-127.0.0.1:10053}
fi
if [ "$(id -u)" = 0 ]; then gw_port=80; else gw_port=8080; fi
GW_PORT=${BOSUN_GATEWAY_PORT:-$gw_port}
extra+=(--gateway-listen ":$GW_PORT")
extra+=(--cluster-dns "$DNS")
# more server flags (tests give each run its own addresses): BOSUN_SERVER_ARGS="--flag value ..."
read -ra more <<<"${BOSUN_SERVER_ARGS:-}"
extra+=("${more[@]}")
dns_port=${DNS##*:}

# Ctrl-C: the server stops its pods, releases their networks and removes its nftables table;
# the bridge of the pod network is the one thing a CNI runtime leaves, so remove it here.
cleanup() {
    trap - INT TERM EXIT
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$full" = 1 ]; then ip link del "$BRIDGE" 2>/dev/null || true; fi
    echo
    echo "bosun stopped (state kept in $DATA; remove it for a fresh cluster)"
}
trap cleanup INT TERM EXIT

"$BOSUN" server --data-dir "$DATA" --listen "$LISTEN" "${extra[@]}" &
server_pid=$!
export KUBECONFIG="$DATA/kubeconfig"
for _ in $(seq 1 200); do
    [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1 && break
    sleep 0.05
done
kubectl apply -f "$root/examples/demo/hello.yaml"
if [ "$full" = 1 ]; then
    "$root/examples/render.sh" "$root/examples/shop/shop.yaml" "$BUILD_DIR" | kubectl apply -f -
fi
kubectl rollout status deploy/hello --timeout=60s || true
if [ "$full" = 1 ]; then
    for d in auth catalog purchase-v1 purchase-v2; do
        kubectl -n shop rollout status "deploy/$d" --timeout=60s || true
    done
fi
gw="http://127.0.0.1:$GW_PORT"
cat <<MSG

  Bosun is running (API on https://$LISTEN).

  The demo app (examples/demo/hello.yaml) answers through the gateway:
      curl $gw/            # repeat: the replicas take turns

  Point kubectl at the cluster:
      export KUBECONFIG=$KUBECONFIG
      kubectl get deploy,rs,pods,svc,ingress -A -o wide
      kubectl scale deploy hello --replicas=5                  # scaling
      kubectl set env deploy/hello MESSAGE=bonjour             # rolling update
      kubectl rollout status deploy/hello && kubectl rollout undo deploy/hello
      kubectl delete pod -l app=hello --wait=false             # self-healing
      kubectl logs -l app=hello --tail=3
      dig @127.0.0.1 -p $dns_port +short hello.default.svc.cluster.local   # cluster DNS
MSG
if [ "$full" = 1 ]; then
    cat <<MSG

  The shop (examples/shop, seed 004) behind the gateway, with JWT auth and a 90/10 canary:
      curl $gw/products
      TOKEN=\$(curl -s $gw/login -d '{"username":"alice","password":"wonderland"}' | jq -r .token)
      curl -H "Authorization: Bearer \$TOKEN" $gw/purchases -d '{"productId":"p2","quantity":1,"promoCode":"WELCOME10"}'
      # repeat the purchase: about 1 in 10 answers "version": 2 (the canary, with the discount)
      kubectl -n shop scale deploy purchase-v2 --replicas=2    # grow the canary
MSG
else
    cat <<MSG

  (As root with runc installed, make run also starts the pod network, the service proxy and
   the shop example: sudo make run.)
MSG
fi
cat <<MSG

  Press Ctrl-C to stop.
MSG
wait "$server_pid"
