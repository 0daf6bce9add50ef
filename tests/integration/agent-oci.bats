#!/usr/bin/env bats
# The embedded node agent with the oci runtime (root + runc; skipped otherwise): a pod from an
# image packed from the host's static busybox runs, logs, is probed by exec, and is cleaned up
# (processes, mounts, network namespaces) on deletion; a missing image backs off; a memory limit
# OOM-kills a hog (OOMKilled, restarted); a cpu limit is the container's CFS quota;
# runAsUser and readOnlyRootFilesystem are enforced; crun (BOSUN_OCI_RUNTIME=crun) runs a pod,
# or on a cgroup-hybrid host fails with a clear StartError and backs off. Each test runs on its own CNI bridge and /24 (oci-helpers.bash).

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
    read -ra NETFLAGS <<<"$(oci_net_flags)"
    isolate_server
    "$BOSUN" server --data-dir "$BOSUN_DIR/data" --listen "127.0.0.1:$BOSUN_PORT" \
        --runtime oci --node-name "$NODE" --disable-gateway "${NETFLAGS[@]}" "${ISOLATION[@]}" \
        >"$BOSUN_DIR/server.log" 2>&1 3>&- &
    BOSUN_PID=$!
    echo "$BOSUN_PID" >"$BOSUN_DIR/pid"
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
    pid="$(pgrep -f "sleep 1000.$MARK" | head -1)"
    # the pod's network namespace file (other runs share /run/bosun/netns: find ours by inode)
    ino="$(readlink "/proc/$pid/ns/net" | tr -dc 0-9)"
    nsfile=""
    for f in /run/bosun/netns/*; do
        [ "$(stat -c %i "$f" 2>/dev/null)" = "$ino" ] && nsfile="$f"
    done
    [ -n "$nsfile" ]
    run kubectl delete pod box --timeout=30s
    [ "$status" -eq 0 ]
    run pgrep -f "sleep 1000.$MARK"
    [ "$status" -ne 0 ]
    [ ! -e "$nsfile" ]
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

# host_cgroup_file PATTERN CONTROLLER FILE: the FILE of the (v1) CONTROLLER cgroup or the v2
# cgroup of the process whose command line matches PATTERN.
host_cgroup_file() {
    local pid line path
    pid="$(pgrep -f "$1" | head -1)"
    [ -n "$pid" ] || return 1
    line="$(grep -E "^[0-9]+:([^:]*,)?$2(,[^:]*)?:" "/proc/$pid/cgroup")"
    if [ -n "$line" ]; then
        path="${line#*:*:}"
        for d in /sys/fs/cgroup/"$2" /sys/fs/cgroup/"$2",* /sys/fs/cgroup/*,"$2"; do
            [ -f "$d$path/$3" ] && { cat "$d$path/$3"; return 0; }
        done
        return 1
    fi
    path="$(sed -n 's/^0:://p' "/proc/$pid/cgroup")"
    cat "/sys/fs/cgroup$path/$3"
}

@test "oci: a memory limit OOM-kills a hog: OOMKilled, restarted" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: bb-$MARK:1
    # dd's 64 MiB block buffer is filled from /dev/zero: far above the 32 MiB limit
    command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]
    resources:
      limits: {memory: 32Mi}
YAML
    for _ in $(seq 1 150); do
        reason="$(kubectl get pod hog -o jsonpath='{.status.containerStatuses[0].lastState.terminated.reason}')"
        restarts="$(kubectl get pod hog -o jsonpath='{.status.containerStatuses[0].restartCount}')"
        [ "$reason" = OOMKilled ] && [ "${restarts:-0}" -ge 1 ] && break
        sleep 0.2
    done
    [ "$reason" = OOMKilled ]
    [ "$restarts" -ge 1 ]
    # the kernel's SIGKILL: exit code 137
    [ "$(kubectl get pod hog -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode}')" = 137 ]
    # kubectl shows the reason while it crash-loops
    run kubectl get pod hog --no-headers
    [[ "$output" == *OOMKilled* || "$output" == *CrashLoopBackOff* ]]
    run kubectl delete pod hog --timeout=30s
    [ "$status" -eq 0 ]
}

@test "oci: cpu and memory limits are the container's cgroup; runAsUser and readOnlyRootFilesystem hold" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: sec}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: bb-$MARK:1
    command: ["sh", "-c", "echo uid=\$(id -u) gid=\$(id -g); touch /probe-file && echo rootfs-writable || echo rootfs-readonly; exec sleep 1000.$MARK"]
    resources:
      limits: {cpu: 250m, memory: 48Mi}
    securityContext:
      runAsUser: 4321
      runAsGroup: 4322
      readOnlyRootFilesystem: true
YAML
    run kubectl wait --for=condition=Ready pod/sec --timeout=30s
    [ "$status" -eq 0 ]
    for _ in $(seq 1 50); do kubectl logs sec | grep -q rootfs- && break; sleep 0.1; done
    # (stdout and stderr are separate pipes: their lines may interleave either way)
    run kubectl logs sec
    grep -qx "uid=4321 gid=4322" <<<"$output"
    grep -qx "touch: /probe-file: Read-only file system" <<<"$output"
    grep -qx "rootfs-readonly" <<<"$output"
    [[ "$output" != *rootfs-writable* ]]
    # the limits, as the host sees the container's cgroup (v1 files, else v2)
    if quota="$(host_cgroup_file "sleep 1000.$MARK" cpu cpu.cfs_quota_us)"; then
        [ "$quota" = 25000 ]
        [ "$(host_cgroup_file "sleep 1000.$MARK" cpu cpu.cfs_period_us)" = 100000 ]
        [ "$(host_cgroup_file "sleep 1000.$MARK" memory memory.limit_in_bytes)" = $((48 << 20)) ]
    else
        [ "$(host_cgroup_file "sleep 1000.$MARK" cpu cpu.max)" = "25000 100000" ]
        [ "$(host_cgroup_file "sleep 1000.$MARK" memory memory.max)" = $((48 << 20)) ]
    fi
    # the process really runs as that user
    pid="$(pgrep -f "sleep 1000.$MARK" | head -1)"
    [ "$(stat -c %u "/proc/$pid")" = 4321 ]
    # the container's and the pod's cgroups go with the pod
    # (v1: the memory hierarchy; v2: the unified one)
    local base=/sys/fs/cgroup/memory
    cg="$(grep -E '^[0-9]+:([^:]*,)?memory(,[^:]*)?:' "/proc/$pid/cgroup" | cut -d: -f3)"
    [ -n "$cg" ] || { base=/sys/fs/cgroup; cg="$(sed -n 's/^0:://p' "/proc/$pid/cgroup")"; }
    [ -n "$cg" ] && [ -d "$base$cg" ]
    run kubectl delete pod sec --timeout=30s
    [ "$status" -eq 0 ]
    for _ in $(seq 1 50); do [ -d "$base${cg%/*}" ] || break; sleep 0.1; done
    [ ! -d "$base$cg" ]
    [ ! -d "$base${cg%/*}" ]
}

@test "oci: crun runs pods, or on a cgroup hybrid host fails with a clear StartError and backs off" {
    command -v crun >/dev/null || skip "crun is not installed"
    local hybrid=0
    [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] &&
        [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] && hybrid=1
    # the same server, now with crun
    kill -TERM "$BOSUN_PID"
    for _ in $(seq 1 100); do kill -0 "$BOSUN_PID" 2>/dev/null || break; sleep 0.05; done
    BOSUN_OCI_RUNTIME=crun "$BOSUN" server --data-dir "$BOSUN_DIR/data" \
        --listen "127.0.0.1:$BOSUN_PORT" --runtime oci --node-name "$NODE" --disable-gateway \
        "${NETFLAGS[@]}" "${ISOLATION[@]}" >>"$BOSUN_DIR/server.log" 2>&1 3>&- &
    BOSUN_PID=$!
    echo "$BOSUN_PID" >"$BOSUN_DIR/pid"
    wait_ready
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: cr}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: bb-$MARK:1
    command: ["sh", "-c", "echo crun-ok; exec sleep 1000.$MARK"]
YAML
    if [ "$hybrid" = 0 ]; then
        run kubectl wait --for=condition=Ready pod/cr --timeout=30s
        [ "$status" -eq 0 ]
        [ "$(kubectl logs cr)" = crun-ok ]
    else
        grep -q "crun refuses this cgroup hybrid host" "$BOSUN_DIR/server.log"
        wait_for bash -c "kubectl get pod cr -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' | grep -qx CrashLoopBackOff"
        run kubectl get pod cr -o jsonpath='{.status.containerStatuses[0].lastState.terminated.reason} {.status.containerStatuses[0].lastState.terminated.message}'
        [[ "$output" == "StartError crun run: cgroups in hybrid mode not supported"* ]]
        # it never ran: startedAt is the epoch, as upstream
        [ "$(kubectl get pod cr -o jsonpath='{.status.containerStatuses[0].lastState.terminated.startedAt}')" = 1970-01-01T00:00:00Z ]
        # the back-off holds: no restart storm
        sleep 3
        [ "$(kubectl get pod cr -o jsonpath='{.status.containerStatuses[0].restartCount}')" -le 2 ]
        run kubectl get pod cr --no-headers
        [[ "$output" == *CrashLoopBackOff* ]]
    fi
    run kubectl delete pod cr --timeout=30s
    [ "$status" -eq 0 ]
}
