#!/usr/bin/env bats
# The README's walkthrough, exactly as documented: scripts/run.sh (what `make run` starts) runs
# in the background on private addresses, every command between the README's walkthrough
# markers runs against it and must succeed, then SIGTERM must leave nothing behind.
# Needs root and runc (make run's full mode: oci runtime, pod network, service proxy, shop).

load helpers
load oci-helpers

setup_file() {
    [ "$(id -u)" -eq 0 ] && command -v runc >/dev/null || return 0
    [ -x "$(dirname "$BOSUN")/examples/shop/shop-auth" ] || return 0
    oci_net_init
    WT_DIR="$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/walk.XXXXXX")"
    WT_GW="$(free_port)"
    WT_DNS="$(free_port)"
    WT_TABLE="bsnw$$"
    export WT_DIR WT_GW WT_DNS WT_TABLE
    # OCI_BRIDGE exists already (oci_net_init claims it); run.sh takes it as the pod bridge
    BOSUN="$BOSUN" BOSUN_DATA_DIR="$WT_DIR/data" BOSUN_LISTEN="0.0.0.0:$(free_port)" \
        BOSUN_GATEWAY_PORT="$WT_GW" BOSUN_CLUSTER_DNS="0.0.0.0:$WT_DNS" \
        BOSUN_CNI_BRIDGE="$OCI_BRIDGE" \
        BOSUN_SERVER_ARGS="--cluster-cidr $OCI_SUBNET --pod-cidr $OCI_SUBNET --proxy-table $WT_TABLE --node-name walk-$$ --service-cidr 10.$((100 + RANDOM % 100)).0.0/16" \
        HOME="$WT_DIR" "$REPO_ROOT/scripts/run.sh" >"$WT_DIR/run.log" 2>&1 3>&- &
    WT_PID=$!
    export WT_PID
    for _ in $(seq 1 1200); do
        grep -q "Press Ctrl-C to stop" "$WT_DIR/run.log" && break
        kill -0 "$WT_PID" 2>/dev/null || break
        sleep 0.1
    done
}

teardown_file() {
    [ -n "${WT_PID:-}" ] || return 0
    kill -TERM "$WT_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$WT_PID" 2>/dev/null || break; sleep 0.1; done
    pkill -KILL -f "data-dir $WT_DIR/data" 2>/dev/null || true
    oci_net_cleanup
    nft delete table ip "$WT_TABLE" 2>/dev/null || true
    rm -rf "$WT_DIR"
}

setup() {
    [ "$(id -u)" -eq 0 ] || skip "needs root (make run's full mode: pod network, nftables)"
    command -v runc >/dev/null || skip "runc not installed"
    [ -x "$(dirname "$BOSUN")/examples/shop/shop-auth" ] || skip "examples not built next to $BOSUN"
    [ -n "${WT_PID:-}" ] || skip "run.sh did not start"
}

@test "scripts/run.sh starts the cluster with the demo and the shop, and says what to try" {
    cat "$WT_DIR/run.log"
    grep -q "Press Ctrl-C to stop" "$WT_DIR/run.log"
    grep -q 'deployment "hello" successfully rolled out' "$WT_DIR/run.log"
    grep -q 'deployment "purchase-v2" successfully rolled out' "$WT_DIR/run.log"
    grep -q "curl http://127.0.0.1:$WT_GW/products" "$WT_DIR/run.log"
}

@test "every command of the README walkthrough succeeds" {
    sed -n '/<!-- walkthrough:begin -->/,/<!-- walkthrough:end -->/p' "$REPO_ROOT/README.md" |
        sed '1,2d;$d' | sed '$d' >"$WT_DIR/walk.sh"
    # the first line sets the addresses make run uses; point them at this run
    head -1 "$WT_DIR/walk.sh" | grep -q '^export KUBECONFIG='
    {
        echo "set -euo pipefail"
        echo "export HOME=$WT_DIR"
        echo "export KUBECONFIG=$WT_DIR/data/kubeconfig GW=http://127.0.0.1:$WT_GW DNS_PORT=$WT_DNS"
        tail -n +2 "$WT_DIR/walk.sh" | while IFS= read -r line; do
            printf 'echo %q\n%s\n' "+ $line" "$line"
        done
    } >"$WT_DIR/walk-run.sh"
    [ "$(grep -c '^kubectl\|^curl\|^dig\|^for\|^TOKEN' "$WT_DIR/walk.sh")" -ge 20 ]
    run bash "$WT_DIR/walk-run.sh"
    echo "$output"
    [ "$status" -eq 0 ]
    # what the commands should have shown
    [[ "$output" == *"bonjour from hello-"* ]]
    [[ "$output" == *"401"* ]]
    [[ "$output" == *'"promoCode"'* || "$output" == *'"version":1'* ]]
    [[ "$output" == *'"id":"p1"'* ]] # the catalogue answered the auth pod by DNS name
    [[ "$output" =~ [0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ ]]
    # self-healing: five hello pods are back and Ready
    export KUBECONFIG="$WT_DIR/data/kubeconfig"
    wait_for '[ "$(kubectl get deploy hello -o jsonpath={.status.readyReplicas})" = 5 ]'
    # pods reach the API server through the kubernetes Service (its endpoint is the node address)
    run kubectl -n shop exec deploy/auth -- python3 -c 'import ssl, urllib.request as u; print(u.urlopen("https://kubernetes.default.svc/healthz", context=ssl._create_unverified_context(), timeout=5).read().decode())'
    echo "kubernetes.default from a pod: $output"
    [ "$output" = ok ]
    # the canary patch took effect
    [ "$(kubectl -n shop get httproute api -o jsonpath='{.spec.rules[0].backendRefs[1].weight}')" = 50 ]
}

@test "SIGTERM (Ctrl-C) stops everything and leaves no processes, mounts or rules" {
    kill -TERM "$WT_PID"
    for _ in $(seq 1 300); do kill -0 "$WT_PID" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$WT_PID" 2>/dev/null
    grep -q "bosun stopped" "$WT_DIR/run.log"
    ! pgrep -f "data-dir $WT_DIR/data"
    ! grep -q "$WT_DIR" /proc/mounts
    ! nft list table ip "$WT_TABLE" >/dev/null 2>&1
    ! ip link show "$OCI_BRIDGE" >/dev/null 2>&1
    [ -z "$(iptables-save -t nat 2>/dev/null | grep -F "$OCI_PREFIX")" ]
    WT_PID=""
}
