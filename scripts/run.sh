#!/usr/bin/env bash
# `make run`: starts a single-node Bosun cluster in the foreground with the demo app and
# prints what to try next. Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BOSUN="$root/build/bosun"
DATA=${BOSUN_DATA_DIR:-$root/.bosun-run}
LISTEN=${BOSUN_LISTEN:-127.0.0.1:6443}
mkdir -p "$DATA"

server_pid=""
cleanup() {
    trap - INT TERM EXIT
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    echo
    echo "bosun stopped (state kept in $DATA; remove it for a fresh cluster)"
}
trap cleanup INT TERM EXIT

# The demo runs programs installed on the machine; the process runtime gives every pod its own
# loopback IP without needing a pod network (BOSUN_RUNTIME=oci to use runc instead).
extra=(--runtime "${BOSUN_RUNTIME:-process}")
if [ "$(id -u)" = 0 ]; then gw_port=80; else gw_port=8080; fi
GW_PORT=${BOSUN_GATEWAY_PORT:-$gw_port}
extra+=(--gateway-listen ":$GW_PORT")
DNS=${BOSUN_CLUSTER_DNS:-127.0.0.1:10053}
extra+=(--cluster-dns "$DNS")
"$BOSUN" server --data-dir "$DATA" --listen "$LISTEN" "${extra[@]}" &
server_pid=$!
export KUBECONFIG="$DATA/kubeconfig"
for _ in $(seq 1 200); do
    [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1 && break
    sleep 0.05
done
kubectl apply -f "$root/examples/demo/hello.yaml"
kubectl rollout status deploy/hello --timeout=60s || true
cat <<MSG

  Bosun is running (API on https://$LISTEN).

  The demo app (examples/demo/hello.yaml) answers through the gateway:
      curl http://127.0.0.1:$GW_PORT/            # repeat: the replicas take turns

  Point kubectl at the cluster:
      export KUBECONFIG=$KUBECONFIG
      kubectl get deploy,rs,pods,svc,ingress -o wide
      kubectl scale deploy hello --replicas=5                  # scaling
      kubectl set env deploy/hello MESSAGE=bonjour             # rolling update
      kubectl rollout status deploy/hello && kubectl rollout undo deploy/hello
      kubectl delete pod -l app=hello --wait=false             # self-healing
      kubectl logs -l app=hello --tail=3
      dig @${DNS%:*} -p ${DNS##*:} +short hello.default.svc.cluster.local   # cluster DNS

  Press Ctrl-C to stop.
MSG
wait "$server_pid"
