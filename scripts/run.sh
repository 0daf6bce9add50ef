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

extra=()
if [ -n "${BOSUN_SIMULATE_NODES:-}" ]; then extra+=(--simulate-nodes "$BOSUN_SIMULATE_NODES"); fi
"$BOSUN" server --data-dir "$DATA" --listen "$LISTEN" "${extra[@]}" &
server_pid=$!
export KUBECONFIG="$DATA/kubeconfig"
for _ in $(seq 1 200); do
    [ -f "$KUBECONFIG" ] && kubectl get --raw /readyz >/dev/null 2>&1 && break
    sleep 0.05
done
if [ -d "$root/examples/demo" ]; then
    kubectl apply -R -f "$root/examples/demo" || true
fi
cat <<MSG

  Bosun is running (API on https://$LISTEN).

  Point kubectl at it:
      export KUBECONFIG=$KUBECONFIG
      kubectl get namespaces
      kubectl apply -f ../shared/fixtures/k8s-examples/application/deployment.yaml
      kubectl get deploy,rs,pods -o wide
      kubectl get --raw /metrics | head

  Press Ctrl-C to stop.
MSG
wait "$server_pid"
