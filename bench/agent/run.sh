#!/usr/bin/env bash
# Node agent figures (issue 4): pod startup latency over 100 pods (creation -> Ready as seen
# through a watch, no image pull, no probes) for the oci runtime (root + runc) and the process
# runtime, and the RSS of the standalone `bosun agent` idle and with 100 pods. The agent runs
# as its own process against a `bosun server --disable-agent`, so its RSS is the agent alone
# (runc's own processes and the containers are not counted: they are not the agent's).
# The oci pods use a static-busybox image packed here and a private CNI bridge and /24.
#   bench/agent/run.sh [N]          (BOSUN: a release binary; default build/bosun)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BOSUN=${BOSUN:-$root/build/bosun}
N=${1:-100}
work=$(mktemp -d /tmp/bosun-bench-agent.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
spid="" apid="" bridge=""
stop() { # pid: TERM, then wait up to 10 s
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
    kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
    stop "$apid"
    stop "$spid"
    [ -n "$bridge" ] && ip link del "$bridge" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work/home" KUBECONFIG="$work/s/kubeconfig"
mkdir -p "$HOME"
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

echo "# machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
port=$(free_port)
"$BOSUN" server --data-dir "$work/s" --listen "127.0.0.1:$port" --disable-agent \
    --disable-gateway --log-level warn >"$work/server.log" 2>&1 &
spid=$!
until [ -f "$KUBECONFIG" ] && kubectl get ns default >/dev/null 2>&1; do
    kill -0 "$spid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.05
done
sleep 1
echo "server --disable-agent idle RSS: $(rss "$spid") KiB"
token=$(cat "$work/s/token")

# run_agent RUNTIME NODE [flags...]: starts the standalone agent, waits for its Ready node
run_agent() {
    local rt=$1 node=$2
    shift 2
    "$BOSUN" agent --server "https://127.0.0.1:$port" --token "$token" \
        --ca-file "$work/s/tls/ca.crt" --data-dir "$work/a-$rt" --node-name "$node" \
        --runtime "$rt" --kubelet-address 127.0.0.1 --kubelet-port 0 --metrics-interval 15 \
        --log-level warn "$@" >"$work/agent-$rt.log" 2>&1 &
    apid=$!
    until [ "$(kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
        kill -0 "$apid" 2>/dev/null || { cat "$work/agent-$rt.log"; exit 1; }
        sleep 0.05
    done
}

for rt in process oci; do
    echo
    echo "## $rt runtime"
    node="bench-$rt-$$"
    flags=()
    image=host
    if [ "$rt" = oci ]; then
        if [ "$(id -u)" != 0 ] || ! command -v runc >/dev/null; then
            echo "(skipped: the oci runtime needs root and runc)"
            continue
        fi
        bb=$(command -v busybox)
        mkdir -p "$work/rootfs/bin"
        cp "$bb" "$work/rootfs/bin/busybox"
        ln -s busybox "$work/rootfs/bin/sleep"
        ln -s busybox "$work/rootfs/bin/sh"
        "$BOSUN" image pack --data-dir "$work/a-oci" --name bench-bb:1 --entrypoint /bin/sh \
            "$work/rootfs" >/dev/null 2>&1
        image=bench-bb:1
        for _ in $(seq 1 50); do
            n=$((RANDOM % 250 + 2))
            ip link add "bsn-b$n" type bridge 2>/dev/null && { bridge="bsn-b$n"; break; }
        done
        flags=(--cni-bridge "$bridge" --cluster-cidr "10.216.$n.0/24" --pod-cidr "10.216.$n.0/24")
    fi
    run_agent "$rt" "$node" "${flags[@]}"
    sleep 5
    echo "agent idle RSS: $(rss "$apid") KiB (target <= 10 MB)"
    python3 "$root/bench/agent/podlat.py" "https://127.0.0.1:$port" "$token" \
        "$work/s/tls/ca.crt" "$node" "$N" "$image" --rss "$apid"
    sleep 2
    echo "agent RSS after the pods are gone: $(rss "$apid") KiB"
    stop "$apid"
    apid=""
    kubectl delete node "$node" >/dev/null 2>&1 || true
done
