#!/usr/bin/env bash
# Node agent figures (issue 4): pod startup latency over 100 pods (creation -> Ready as seen
# through a watch, no image pull, no probes) for the oci runtime (root + runc) and the process
# runtime, and the RSS of the standalone `bosun agent` idle and with 100 pods. The agent runs
# as its own process against a `bosun server --disable-agent`, so its RSS is the agent alone
# (runc's own processes and the containers are not counted: they are not the agent's).
# Last, the embedded agent: a `bosun server --runtime oci` (same flags otherwise) is measured
# the same way; its RSS minus the --disable-agent server's is the embedded agent's share.
# The oci pods use a static-busybox image packed here and a private CNI bridge and /24.
#   bench/agent/run.sh [N]          (BOSUN: a release binary; default build/bosun)
# To iterate on one part: RUNTIMES="oci" GAPS="20" EMBEDDED=0 bench/agent/run.sh
# (LOG_LEVEL=info KEEP_LOGS=DIR: the agents' logs, with each CNI ADD's time, copied to DIR;
# LOG_LEVEL=debug: every step of each pod's start, broken down by bench/agent/timeline.py;
# OCI_RUNTIME=crun: the oci runtime's --oci-runtime, default runc; BOSUN_CNI_WORKERS=N: the
# agent's CNI worker threads, see src/net/cni.h)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BOSUN=${BOSUN:-$root/build/bosun}
N=${1:-100}
RUNTIMES=${RUNTIMES:-process oci}
GAPS=${GAPS:-250 20}
EMBEDDED=${EMBEDDED:-1}
LOG_LEVEL=${LOG_LEVEL:-warn}
OCI_RUNTIME=${OCI_RUNTIME:-runc}
work=$(mktemp -d /tmp/bosun-bench-agent.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
spid="" apid="" bridge=""
stop() { # pid: TERM, then wait up to 30 s
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 1 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
    echo "(pid $1 still running 30 s after SIGTERM: killed)" >&2
    kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
    stop "$apid"
    stop "$spid"
    [ -n "$bridge" ] && ip link del "$bridge" 2>/dev/null
    [ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" && cp "$work"/*.log "$KEEP_LOGS"/ 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work/home" KUBECONFIG="$work/s/kubeconfig"
mkdir -p "$HOME"
# settle DATA-DIR NODE: waits until the agent has released every pod network (CNI DELs run
# after the pods left the API), so one round's teardown does not delay the next round
settle() {
    local d="$1/cni/nodes/$2/attachments" t0
    t0=$(date +%s%N)
    for _ in $(seq 1 1200); do
        [ -d "$d" ] && [ -n "$(ls -A "$d")" ] || break
        sleep 0.05
    done
    echo "pod networks released $(( ($(date +%s%N) - t0) / 1000000 )) ms after the last pod left the API"
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# "RSS (anon A, file F)": file pages are mostly shared libraries (libssl, libcrypto, jansson...)
rss_split() { awk '/VmRSS/ {r=$2} /RssAnon/ {a=$2} /RssFile/ {f=$2} END {printf "%d KiB (anon %d, file %d)", r, a, f}' "/proc/$1/status"; }

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
base=$(rss "$spid")
echo "server --disable-agent idle RSS: $(rss_split "$spid")"
token=$(cat "$work/s/token")

# run_agent RUNTIME NODE [flags...]: starts the standalone agent, waits for its Ready node
run_agent() {
    local rt=$1 node=$2
    shift 2
    "$BOSUN" agent --server "https://127.0.0.1:$port" --token "$token" \
        --ca-file "$work/s/tls/ca.crt" --data-dir "$work/a-$rt" --node-name "$node" \
        --runtime "$rt" --kubelet-address 127.0.0.1 --kubelet-port 0 --metrics-interval 15 \
        --log-level "$LOG_LEVEL" "$@" >"$work/agent-$rt.log" 2>&1 &
    apid=$!
    until [ "$(kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
        kill -0 "$apid" 2>/dev/null || { cat "$work/agent-$rt.log"; exit 1; }
        sleep 0.05
    done
}

for rt in $RUNTIMES; do
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
        flags=(--oci-runtime "$OCI_RUNTIME" --cni-bridge "$bridge" --cluster-cidr "10.216.$n.0/24" --pod-cidr "10.216.$n.0/24")
    fi
    run_agent "$rt" "$node" "${flags[@]}"
    sleep 5
    echo "agent idle RSS: $(rss_split "$apid") (target <= 10 MB)"
    # paced (a pod every 250 ms: one pod's own cost) and a burst (every 20 ms: queueing shows)
    for gap in $GAPS; do
        echo "pods posted every $gap ms:"
        python3 "$root/bench/agent/podlat.py" "https://127.0.0.1:$port" "$token" \
            "$work/s/tls/ca.crt" "$node" "$N" "$image" --rss "$apid" --gap-ms "$gap"
        [ "$rt" = oci ] && settle "$work/a-oci" "$node"
    done
    sleep 2
    echo "agent RSS after the pods are gone: $(rss_split "$apid")"
    stop "$apid"
    apid=""
    kubectl delete node "$node" >/dev/null 2>&1 || true
done

# the embedded agent (oci): the same server with the agent on
if [ "$EMBEDDED" = 1 ] && [ "$(id -u)" = 0 ] && command -v runc >/dev/null && [ -n "$bridge" ]; then
    echo
    echo "## embedded agent (oci runtime, in bosun server)"
    stop "$spid"
    spid=""
    eport=$(free_port)
    export KUBECONFIG="$work/e/kubeconfig"
    "$BOSUN" image pack --data-dir "$work/e" --name bench-bb:1 --entrypoint /bin/sh \
        "$work/rootfs" >/dev/null 2>&1
    "$BOSUN" server --data-dir "$work/e" --listen "127.0.0.1:$eport" --runtime oci \
        --node-name "bench-emb-$$" --disable-gateway --log-level "$LOG_LEVEL" "${flags[@]}" \
        >"$work/server-e.log" 2>&1 &
    spid=$!
    until [ "$(kubectl get node "bench-emb-$$" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
        kill -0 "$spid" 2>/dev/null || { cat "$work/server-e.log"; exit 1; }
        sleep 0.05
    done
    sleep 5
    idle=$(rss "$spid")
    echo "server with the agent idle RSS: $(rss_split "$spid"); without (--disable-agent, idle, above): $base KiB; difference: $((idle - base)) KiB"
    for gap in $GAPS; do
        echo "pods posted every $gap ms:"
        python3 "$root/bench/agent/podlat.py" "https://127.0.0.1:$eport" "$(cat "$work/e/token")" \
            "$work/e/tls/ca.crt" "bench-emb-$$" "$N" bench-bb:1 --rss "$spid" --gap-ms "$gap"
        settle "$work/e" "bench-emb-$$"
    done
fi
