#!/usr/bin/env bats
# The embedded node agent with the oci runtime (root + runc; skipped otherwise): a pod from an
# image packed from the host's static busybox runs, logs, is probed by exec, and is cleaned up
# (processes, mounts, network namespaces) on deletion; a missing image backs off; a memory limit
# OOM-kills a hog (OOMKilled, restarted); a cpu limit is the container's CFS quota;
# runAsUser and readOnlyRootFilesystem are enforced; crun on a cgroup-hybrid host fails with a
# clear StartError. Each test runs on its own CNI bridge and /24 (oci-helpers.bash).

load helpers
load oci-helpers

setup() {
    [ "$(id -u)" -eq 0 ] || skip "needs root for the oci runtime"
    command -v runc >/dev/null || skip "runc is not installed"
    BB="$(command -v busybox || true)"
    [ -n "$BB" ] && file -L "$BB" | grep -q "statically linked" || skip "needs a static busybox"
    MARK="8$(date +%s%N | tail -c 9)$RANDOM"
    export MARK
    ROOTFS="$(mktemp -d)"
    mkdir -p "$ROOTFS/bin"
    cp "$BB" "$ROOTFS/bin/busybox"
    for a in sh sleep echo cat test dd id touch; do ln -s busybox "$ROOTFS/bin/$a"; done
    # the image goes into the data dir the server will use
    BOSUN_DIR="$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/bosun.XXXXXX")"
    "$BOSUN" image pack --data-dir "$BOSUN_DIR/data" --name "bb-$MARK:1" --entrypoint /bin/sh "$ROOTFS"
    rm -rf "$ROOTFS"
    BOSUN_PORT="$(free_port)"
    export HOME="$BOSUN_DIR/home"
    mkdir -p "$HOME"
    NODE="oci-$MARK"
    oci_net_init
    local netflags
    read -ra netflags <<<"$(oci_net_flags)"
    "$BOSUN" server --data-dir "$BOSUN_DIR/data" --listen "127.0.0.1:$BOSUN_PORT" \
        --runtime oci --node-name "$NODE" --disable-gateway "${netflags[@]}" \
        >"$BOSUN_DIR/server.log" 2>&1 &
    BOSUN_PID=$!
    export BOSUN_DIR BOSUN_PORT BOSUN_PID NODE KUBECONFIG="$BOSUN_DIR/data/kubeconfig"
    wait_ready
}

teardown() {
    [ -n "${BOSUN_PID:-}" ] || { oci_net_cleanup; return 0; }
    stop_server
    for _ in $(seq 1 40); do pgrep -f "$MARK" >/dev/null || break; sleep 0.1; done
    OCI_NET_STRICT=1 oci_net_cleanup || return 1
    run pgrep -af "$MARK"
    [ "$status" -ne 0 ] || { echo "left over: $output" >&2; pkill -KILL -f "$MARK"; return 1; }
}

wait_for() {
    for _ in $(seq 1 150); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "timed out: $*" >&2
    return 1
}

@test "oci: a pod runs from an image, is probed, logs, and is cleaned up on deletion" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: box}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: bb-$MARK:1
    command: ["sh", "-c", "echo hello-\$(POD_NAME); exec sleep 1000.$MARK"]
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    readinessProbe:
      exec: {command: ["test", "-e", "/bin/sh"]}
      periodSeconds: 1
YAML
    run kubectl wait --for=condition=Ready pod/box --timeout=30s
    [ "$status" -eq 0 ]
    run kubectl logs box
    [ "$output" = "hello-box" ]
    run kubectl get pod box -o jsonpath='{.status.containerStatuses[0].imageID} {.status.containerStatuses[0].containerID}'
    [[ "$output" == docker.io/library/bb-$MARK@sha256:*" oci://"* ]]
    pgrep -f "sleep 1000.$MARK"
    sandboxes="$(ls /run/bosun/netns 2>/dev/null | wc -l)"
    run kubectl delete pod box --timeout=30s
    [ "$status" -eq 0 ]
    run pgrep -f "sleep 1000.$MARK"
    [ "$status" -ne 0 ]
    [ "$(ls /run/bosun/netns 2>/dev/null | wc -l)" -lt "$sandboxes" ]
    run grep -c "$BOSUN_DIR/data/agent/runtime" /proc/mounts
    [ "$output" = "0" ]
}

@test "oci: a missing image backs off with ImagePullBackOff and upstream's message" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: noimg}
spec:
  nodeName: $NODE
  containers:
  - name: c
    image: 127.0.0.1:1/missing-$MARK:1
YAML
    wait_for bash -c "kubectl get pod noimg | grep -q ImagePullBackOff"
    run kubectl get pod noimg -o jsonpath='{.status.containerStatuses[0].state.waiting.message}'
    [ "$output" = "Back-off pulling image \"127.0.0.1:1/missing-$MARK:1\"" ]
}
