#!/usr/bin/env bats
# The oci runtime is the subreaper of its containers: a process whose `runc exec` died first (an
# exec probe that timed out, a killed `kubectl exec`) becomes the server's child. When its pod
# goes, that process dies with the pod's pid namespace and must be reaped by the server, or the
# namespace's init never finishes exiting. The pod must go, and the server keep answering.

load helpers
load oci-helpers

setup_file() {
    [ "$(id -u)" -eq 0 ] && command -v runc >/dev/null || return 0
    BB="$(command -v busybox || true)"
    [ -n "$BB" ] && file -L "$BB" | grep -q "statically linked" || return 0
    MARK="$(printf '%05d' $((RANDOM % 100000)))"
    export MARK
    oci_net_init
    local rootfs
    rootfs="$(mktemp -d)"
    mkdir -p "$rootfs/bin" "$rootfs/tmp"
    cp "$BB" "$rootfs/bin/busybox"
    for a in sh sleep; do ln -s busybox "$rootfs/bin/$a"; done
    read -ra netflags <<<"$(oci_net_flags)"
    start_server --runtime oci "${netflags[@]}" --node-name "orph-$MARK" --disable-gateway
    "$BOSUN" image pack --data-dir "$BOSUN_DIR/data" --name "orph-$MARK:1" --entrypoint /bin/sh \
        "$rootfs" >/dev/null
    rm -rf "$rootfs"
}

teardown_file() {
    [ -n "${BOSUN_DIR:-}" ] || return 0
    stop_server
    pkill -KILL -f "[.]$MARK" 2>/dev/null || true
    oci_net_cleanup
}

@test "oci: a pod whose exec'd process was orphaned to the server is deleted; the server keeps answering" {
    [ "$(id -u)" -eq 0 ] || skip "the oci runtime needs root"
    [ -n "${BOSUN_DIR:-}" ] || skip "needs runc and a static busybox"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: orph}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: orph-$MARK:1
    command: ["sh", "-c", "exec sleep 1000.$MARK"]
YAML
    kubectl wait --for=condition=Ready pod/orph --timeout=60s
    # an exec whose runc dies first leaves its process to the server (the subreaper)
    timeout 60 kubectl exec orph -- sh -c "exec sleep 2000.$MARK" 3>&- &
    local kpid=$!
    wait_for "pgrep -f '^runc .*sleep 2000[.]$MARK'"
    pkill -KILL -f "^runc .*sleep 2000[.]$MARK"
    wait_for "[ \"\$(ps -o ppid= -p \$(pgrep -f '^sleep 2000[.]$MARK') | tr -d ' ')\" = $BOSUN_PID ]"
    kill "$kpid" 2>/dev/null || true
    wait "$kpid" 2>/dev/null || true
    # the pod goes: its init cannot exit before the orphan, dead with it, is reaped
    run timeout 40 kubectl delete pod orph --timeout=30s
    echo "$output"
    [ "$status" -eq 0 ]
    run curl -sk -m 3 "https://127.0.0.1:$BOSUN_PORT/readyz"
    [ "$output" = ok ]
    wait_for "! pgrep -f 'sleep [12]000[.]$MARK'"
    # nothing of the pod is left as a zombie under the server
    run bash -c "ps -o stat=,args= --ppid $BOSUN_PID | grep '^Z'"
    echo "$output"
    [ "$status" -ne 0 ]
}
