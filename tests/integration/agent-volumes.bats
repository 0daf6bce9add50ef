#!/usr/bin/env bats
# Pod volumes in the node agent. Process runtime (any user; as root the volumes are also bound
# at their mountPath in a private mount namespace): configMap/secret/downwardAPI/projected
# files, a configMap update reaching a running pod, emptyDir shared by two containers,
# hostPath, a PVC bound to a static hostPath PV (and waiting while unbound), subPath,
# resourceFieldRef env, a missing configMap (FailedMount). OCI runtime (root + runc + static
# busybox, skipped otherwise): the same values inside a container, readOnly enforced, Memory
# emptyDir on tmpfs, terminationMessagePath. After each test no mount and no pod directory
# is left.

load helpers
load oci-helpers

setup() {
    MARK="7$(date +%s%N | tail -c 9)$RANDOM"
    export MARK
}

start_process() {
    start_server --runtime process --node-name "vol-$MARK"
    NODE="vol-$MARK"
    export NODE
}

start_oci() {
    [ "$(id -u)" -eq 0 ] || skip "needs root for the oci runtime"
    command -v runc >/dev/null || skip "runc is not installed"
    BB="$(command -v busybox || true)"
    [ -n "$BB" ] && file -L "$BB" | grep -q "statically linked" || skip "needs a static busybox"
    local rootfs
    rootfs="$(mktemp -d)"
    mkdir -p "$rootfs/bin"
    cp "$BB" "$rootfs/bin/busybox"
    for a in sh sleep echo cat test touch grep ls; do ln -s busybox "$rootfs/bin/$a"; done
    BOSUN_DIR="$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/bosun.XXXXXX")"
    "$BOSUN" image pack --data-dir "$BOSUN_DIR/data" --name "bb-$MARK:1" --entrypoint /bin/sh "$rootfs" >/dev/null
    rm -rf "$rootfs"
    BOSUN_PORT="$(free_port)"
    export HOME="$BOSUN_DIR/home"
    mkdir -p "$HOME"
    NODE="voci-$MARK"
    # a pod network of its own (oci-helpers.bash): runs in parallel with other oci tests
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
    [ -n "${BOSUN_PID:-}" ] || return 0
    stop_server
    for _ in $(seq 1 40); do pgrep -f "$MARK" >/dev/null || break; sleep 0.1; done
    run pgrep -af "$MARK"
    [ "$status" -ne 0 ] || { echo "left over: $output" >&2; pkill -KILL -f "$MARK"; return 1; }
    oci_net_cleanup
    no_mounts
    rm -rf "/tmp/hp-$MARK"
}

wait_for() {
    for _ in $(seq 1 150); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "timed out: $*" >&2
    return 1
}

no_mounts() {
    run grep -e "$MARK" -e "${BOSUN_DIR:-/nonexistent}" /proc/mounts
    [ "$status" -ne 0 ] || { echo "mounts left: $output" >&2; return 1; }
}

logs_have() { kubectl logs "$1" ${3:+-c "$3"} 2>/dev/null | grep -qF -- "$2"; }

# deletes pod $1 and checks that its volume directories and mounts are gone
delete_clean() {
    local uid
    uid="$(kubectl get pod "$1" -o jsonpath='{.metadata.uid}')"
    kubectl delete pod "$1" --timeout=60s >/dev/null
    wait_for sh -c "! ls -d '$BOSUN_DIR'/data/agent/pods/*_$1_$uid 2>/dev/null"
    no_mounts
}

@test "process: configMap, secret, downwardAPI and projected files; values readable" {
    start_process
    kubectl create configmap cfg --from-literal=greeting=hello-cm --from-literal=other=x >/dev/null
    kubectl create secret generic sec --from-literal=password=s3cr3t >/dev/null
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: files, labels: {app: files, tier: web}}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "cat \$BOSUN_VOLUME_CFG/greeting; echo; cat \$BOSUN_VOLUME_SEC/pw; echo; cat \$BOSUN_VOLUME_INFO/labels; echo; cat \$BOSUN_VOLUME_INFO/name; echo; cat \$BOSUN_VOLUME_ALL/g/cm; echo; ls \$BOSUN_VOLUME_CFG; stat -c %a \$BOSUN_VOLUME_SEC/..data/pw; exec sleep 1000.$MARK"]
    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg-$MARK}
    - {name: sec, mountPath: /etc/sec-$MARK}
    - {name: info, mountPath: /etc/info-$MARK}
    - {name: all, mountPath: /etc/all-$MARK}
  volumes:
  - name: cfg
    configMap: {name: cfg}
  - name: sec
    secret:
      secretName: sec
      defaultMode: 0400
      items: [{key: password, path: pw}]
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
  - name: all
    projected:
      sources:
      - configMap: {name: cfg, items: [{key: greeting, path: g/cm}]}
      - secret: {name: sec}
YAML
    run kubectl wait --for=condition=Ready pod/files --timeout=30s
    [ "$status" -eq 0 ]
    wait_for logs_have files 400
    run kubectl logs files
    [ "${lines[0]}" = "hello-cm" ]
    [ "${lines[1]}" = "s3cr3t" ]
    [ "${lines[2]}" = 'app="files"' ]
    [ "${lines[3]}" = 'tier="web"' ]
    [ "${lines[4]}" = "files" ]
    [ "${lines[5]}" = "hello-cm" ]
    [ "${lines[6]}" = "greeting" ]
    [ "${lines[7]}" = "other" ]
    [ "${lines[8]}" = "400" ]
    # the atomic writer's layout on the node
    dir="$(ls -d "$BOSUN_DIR"/data/agent/pods/default_files_*/.volumes/cfg)"
    [ "$(readlink "$dir/greeting")" = "..data/greeting" ]
    [[ "$(readlink "$dir/..data")" == ..20* ]]
    delete_clean files
}

@test "process: a configMap update reaches a running pod; a missing one waits with FailedMount" {
    start_process
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "while true; do echo v=\$(cat \$BOSUN_VOLUME_CFG/key); sleep 0.5; done; : $MARK"]
    volumeMounts: [{name: cfg, mountPath: /cfg}]
  volumes:
  - name: cfg
    configMap: {name: later}
YAML
    wait_for sh -c "kubectl get events --field-selector involvedObject.name=live -o jsonpath='{.items[*].reason}' | grep -q FailedMount"
    run kubectl get events --field-selector involvedObject.name=live -o jsonpath='{.items[0].message}'
    [ "$output" = 'MountVolume.SetUp failed for volume "cfg" : configmap "later" not found' ]
    run kubectl get pod live
    [[ "$output" == *ContainerCreating* ]]
    kubectl create configmap later --from-literal=key=one >/dev/null
    run kubectl wait --for=condition=Ready pod/live --timeout=30s
    [ "$status" -eq 0 ]
    wait_for logs_have live "v=one"
    kubectl create configmap later --from-literal=key=two --dry-run=client -o yaml | kubectl apply -f - >/dev/null
    wait_for logs_have live "v=two"
    # no reader ever saw a half-written file
    run sh -c "kubectl logs live | grep -v -e '^v=one$' -e '^v=two$'"
    [ "$output" = "" ]
    delete_clean live
}

@test "process: emptyDir shared by two containers, hostPath, subPath, resourceFieldRef env" {
    start_process
    mkdir -p "/tmp/hp-$MARK/host"
    echo from-host >"/tmp/hp-$MARK/host/file"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: writer
    image: busybox
    command: ["sh", "-c", "echo shared-data > \$BOSUN_VOLUME_SCRATCH/f; exec sleep 1000.$MARK"]
    resources: {limits: {cpu: 500m, memory: 32Mi}}
    env:
    - name: CPU_M
      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
    - name: MEM_MI
      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
    - name: REQ_MEM
      valueFrom: {resourceFieldRef: {resource: requests.memory}}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  - name: reader
    image: busybox
    command: ["sh", "-c", "while [ ! -s \$BOSUN_VOLUME_SCRATCH/f ]; do sleep 0.2; done; cat \$BOSUN_VOLUME_SCRATCH/f; cat \$BOSUN_VOLUME_HOST/file; echo expr=\$BOSUN_VOLUME_EXPR; echo sub=\$BOSUN_VOLUME_SUB; exec sleep 1000.$MARK"]
    env:
    - name: NODE_CPU
      valueFrom: {resourceFieldRef: {resource: limits.cpu}}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
    - {name: host, mountPath: /host-$MARK, readOnly: true}
    - {name: sub, mountPath: /sub, subPath: a/b}
    - {name: expr, mountPath: /expr, subPathExpr: "per-\$(POD_NAME)"}
    - {name: made, mountPath: /made}
  volumes:
  - {name: scratch, emptyDir: {}}
  - name: host
    hostPath: {path: /tmp/hp-$MARK/host, type: Directory}
  - {name: sub, emptyDir: {}}
  - {name: expr, emptyDir: {}}
  - name: made
    hostPath: {path: /tmp/hp-$MARK/made/here}
YAML
    run kubectl wait --for=condition=Ready pod/shared --timeout=30s
    [ "$status" -eq 0 ]
    wait_for logs_have shared "sub=" reader
    run kubectl logs shared -c reader
    [ "${lines[0]}" = "shared-data" ]
    [ "${lines[1]}" = "from-host" ]
    [[ "${lines[2]}" == expr=*/.volumes/expr/per-shared ]]
    [ -d "${lines[2]#expr=}" ]
    [[ "${lines[3]}" == sub=*/.volumes/sub/a/b ]]
    [ -d "${lines[3]#sub=}" ]
    # a hostPath without a type that does not exist is created as a directory
    [ -d "/tmp/hp-$MARK/made/here" ]
    pid="$(pgrep -f "sleep 1000.$MARK" | head -1)"
    for p in $(pgrep -f "sleep 1000.$MARK"); do
        tr '\0' '\n' <"/proc/$p/environ" | grep -q '^CPU_M=' && pid=$p
    done
    run sh -c "tr '\0' '\n' </proc/$pid/environ | grep -e ^CPU_M= -e ^MEM_MI= -e ^REQ_MEM= | sort"
    [ "${lines[0]}" = "CPU_M=500" ]
    [ "${lines[1]}" = "MEM_MI=32" ]
    [ "${lines[2]}" = "REQ_MEM=33554432" ]
    # NODE_CPU: no limit -> the node's allocatable cpu (whole cores)
    for p in $(pgrep -f "sleep 1000.$MARK"); do
        v="$(tr '\0' '\n' <"/proc/$p/environ" | sed -n 's/^NODE_CPU=//p')"
        [ -z "$v" ] || [ "$v" = "$(nproc)" ]
    done
    # a hostPath of the wrong type keeps a pod ContainerCreating
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: badhost}
spec:
  nodeName: $NODE
  containers:
  - {name: c, image: busybox, command: ["sleep", "1000.$MARK"], volumeMounts: [{name: h, mountPath: /h}]}
  volumes:
  - name: h
    hostPath: {path: /tmp/hp-$MARK/host/file, type: Directory}
YAML
    wait_for sh -c "kubectl get events --field-selector involvedObject.name=badhost -o jsonpath='{.items[*].message}' | grep -q 'is not a directory'"
    run kubectl get pod badhost
    [[ "$output" == *ContainerCreating* ]]
    delete_clean badhost
    delete_clean shared
    # the hostPath content is untouched, the emptyDir is gone
    [ "$(cat "/tmp/hp-$MARK/host/file")" = "from-host" ]
}

@test "process: a PVC bound to a static hostPath PV; the pod waits while the claim is unbound" {
    start_process
    kubectl apply -f - <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: pv-$MARK
  resources: {requests: {storage: 1Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: pvc}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo persisted > \$BOSUN_VOLUME_DATA/out; exec sleep 1000.$MARK"]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: claim}
YAML
    # no PV yet: the claim stays unbound and the pod waits
    wait_for sh -c "kubectl get events --field-selector involvedObject.name=pvc -o jsonpath='{.items[*].message}' | grep -q 'non-bound phase'"
    run kubectl get pod pvc
    [[ "$output" == *ContainerCreating* ]]
    kubectl apply -f - <<YAML
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-$MARK}
spec:
  capacity: {storage: 1Mi}
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  claimRef: {namespace: default, name: claim}
  hostPath: {path: /tmp/hp-$MARK/pv, type: DirectoryOrCreate}
YAML
    # bind it (the PV controller does the same when it runs)
    kubectl patch pvc claim --subresource=status --type=merge -p '{"status":{"phase":"Bound"}}' >/dev/null
    run kubectl wait --for=condition=Ready pod/pvc --timeout=40s
    [ "$status" -eq 0 ]
    wait_for test -s "/tmp/hp-$MARK/pv/out"
    [ "$(cat "/tmp/hp-$MARK/pv/out")" = "persisted" ]
    delete_clean pvc
    [ "$(cat "/tmp/hp-$MARK/pv/out")" = "persisted" ]
}

@test "process as root: volumes are bound at their mountPath in a private mount namespace" {
    [ "$(id -u)" -eq 0 ] || skip "mount namespaces need root"
    start_process
    mkdir -p "/tmp/hp-$MARK/mnt" "/tmp/hp-$MARK/ro"
    kubectl create configmap cfg --from-literal=k=inside >/dev/null
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: ns}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "cat /tmp/hp-$MARK/mnt/k; echo; if touch /tmp/hp-$MARK/ro/x 2>/dev/null; then echo rw; else echo ro; fi; exec sleep 1000.$MARK"]
    volumeMounts:
    - {name: cfg, mountPath: /tmp/hp-$MARK/mnt}
    - {name: e, mountPath: /tmp/hp-$MARK/ro, readOnly: true}
  volumes:
  - {name: cfg, configMap: {name: cfg}}
  - {name: e, emptyDir: {}}
YAML
    run kubectl wait --for=condition=Ready pod/ns --timeout=30s
    [ "$status" -eq 0 ]
    wait_for logs_have ns "ro"
    run kubectl logs ns
    [ "${lines[0]}" = "inside" ]
    [ "${lines[1]}" = "ro" ]
    # the host's directories stay empty: the binds live only in the container's namespace
    [ -z "$(ls -A "/tmp/hp-$MARK/mnt")" ]
    run grep "hp-$MARK" /proc/mounts
    [ "$status" -ne 0 ]
    delete_clean ns
}

@test "process: httpGet postStart and preStop hooks reach their server" {
    command -v python3 >/dev/null || skip "needs python3"
    start_process
    # a port of its own: pod IPs of the process runtime repeat across servers on one host
    PORT="$(free_port)"
    mkdir -p "/tmp/hp-$MARK/www"
    echo ok >"/tmp/hp-$MARK/www/post"
    echo ok >"/tmp/hp-$MARK/www/pre"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["python3", "-m", "http.server", "$PORT", "--bind", "\$(POD_IP)", "--directory", "/tmp/hp-$MARK/www"]
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    readinessProbe:
      tcpSocket: {port: $PORT}
      periodSeconds: 1
YAML
    run kubectl wait --for=condition=Ready pod/web --timeout=30s
    [ "$status" -eq 0 ]
    ip="$(kubectl get pod web -o jsonpath='{.status.podIP}')"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hooked}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: busybox
    command: ["sleep", "1000.$MARK"]
    ports: [{name: web, containerPort: $PORT}]
    lifecycle:
      postStart:
        httpGet: {host: "$ip", port: $PORT, path: /post, httpHeaders: [{name: X-Hook, value: post-$MARK}]}
      preStop:
        httpGet: {host: "$ip", port: web, path: /pre}
YAML
    run kubectl wait --for=condition=Ready pod/hooked --timeout=30s
    [ "$status" -eq 0 ]
    wait_for logs_have web "GET /post HTTP/1.1\" 200"
    run kubectl logs web
    [[ "$output" != *"GET /pre "* ]]
    kubectl delete pod hooked --timeout=30s >/dev/null
    wait_for logs_have web "GET /pre HTTP/1.1\" 200"
    # a failing postStart hook (404) kills the container, as upstream
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: badhook}
spec:
  nodeName: $NODE
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sleep", "1000.$MARK"]
    lifecycle:
      postStart:
        httpGet: {host: "$ip", port: $PORT, path: /missing}
YAML
    wait_for sh -c "kubectl get pod badhook -o jsonpath='{.status.phase}' | grep -q Failed"
    delete_clean badhook
    delete_clean web
}

@test "process: a disk emptyDir above its sizeLimit gets the pod evicted" {
    start_process
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "head -c 3000000 /dev/urandom > \$BOSUN_VOLUME_D/f; exec sleep 1000.$MARK"]
    volumeMounts: [{name: d, mountPath: /d}]
  volumes:
  - {name: d, emptyDir: {sizeLimit: 1Mi}}
YAML
    run kubectl wait --for=condition=Ready pod/hog --timeout=30s
    [ "$status" -eq 0 ]
    uid="$(kubectl get pod hog -o jsonpath='{.metadata.uid}')"
    wait_for sh -c "! kubectl get pod hog 2>/dev/null"
    run kubectl get events --field-selector involvedObject.name=hog,reason=Evicted -o jsonpath='{.items[0].message}'
    [ "$output" = 'Usage of EmptyDir volume "d" exceeds the limit "1Mi". ' ]
    wait_for sh -c "! ls -d '$BOSUN_DIR'/data/agent/pods/*_hog_$uid 2>/dev/null"
    no_mounts
}

@test "oci: volumes inside the container, readOnly, Memory emptyDir on tmpfs, termination message" {
    start_oci
    kubectl create configmap cfg --from-literal=greeting=hello-oci >/dev/null
    kubectl create secret generic sec --from-literal=password=s3cr3t >/dev/null
    mkdir -p "/tmp/hp-$MARK/host"
    echo from-host >"/tmp/hp-$MARK/host/file"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: box, labels: {app: box}}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: bb-$MARK:1
    command:
    - sh
    - -c
    - |
      cat /cfg/greeting; echo; cat /sec/password; echo; cat /info/labels; echo
      cat /host/file; cat /sub/file
      grep ' /mem ' /proc/mounts | cut -d' ' -f3
      if touch /cfg/x 2>/dev/null; then echo cfg-rw; else echo cfg-ro; fi
      if touch /ro/x 2>/dev/null; then echo ro-rw; else echo ro-ro; fi
      echo hi > /mem/f && echo shared > /work/f && echo mem-ok
      echo CPU=\$CPU
      exec sleep 1000.$MARK
    env:
    - name: CPU
      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
    resources: {limits: {cpu: 250m}}
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: sec, mountPath: /sec}
    - {name: info, mountPath: /info}
    - {name: host, mountPath: /host, readOnly: true}
    - {name: host, mountPath: /sub/file, subPath: file}
    - {name: mem, mountPath: /mem}
    - {name: work, mountPath: /work}
    - {name: work, mountPath: /ro, readOnly: true}
  - name: peer
    image: bb-$MARK:1
    command: ["sh", "-c", "while [ ! -s /w/f ]; do sleep 0.2; done; cat /w/f; exec sleep 1000.$MARK"]
    volumeMounts: [{name: work, mountPath: /w}]
  volumes:
  - {name: cfg, configMap: {name: cfg}}
  - {name: sec, secret: {secretName: sec}}
  - name: info
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
  - name: host
    hostPath: {path: /tmp/hp-$MARK/host}
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
  - {name: work, emptyDir: {}}
YAML
    run kubectl wait --for=condition=Ready pod/box --timeout=60s
    [ "$status" -eq 0 ]
    wait_for logs_have box "CPU="
    run kubectl logs box -c c
    [ "${lines[0]}" = "hello-oci" ]
    [ "${lines[1]}" = "s3cr3t" ]
    [ "${lines[2]}" = 'app="box"' ]
    [ "${lines[3]}" = "from-host" ]
    [ "${lines[4]}" = "from-host" ]
    [ "${lines[5]}" = "tmpfs" ]
    [ "${lines[6]}" = "cfg-ro" ]
    [ "${lines[7]}" = "ro-ro" ]
    [ "${lines[8]}" = "mem-ok" ]
    [ "${lines[9]}" = "CPU=250" ]
    wait_for logs_have box shared peer
    # the Memory emptyDir is a tmpfs on the node too, sized by sizeLimit
    run grep "$BOSUN_DIR.*/.volumes/mem tmpfs" /proc/mounts
    [ "$status" -eq 0 ]
    [[ "$output" == *size=8192k* ]]
    delete_clean box
}

@test "oci: terminationMessagePath and FallbackToLogsOnError in the container status" {
    start_oci
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: msg}
spec:
  nodeName: $NODE
  restartPolicy: Never
  containers:
  - name: file
    image: bb-$MARK:1
    command: ["sh", "-c", "echo -n 'all done $MARK' > /dev/termination-log"]
  - name: custom
    image: bb-$MARK:1
    terminationMessagePath: /tmp/why
    command: ["sh", "-c", "echo custom-path > /tmp/why; exit 3"]
  - name: logs
    image: bb-$MARK:1
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["sh", "-c", "echo line1; echo last-words; exit 2"]
YAML
    wait_for sh -c "kubectl get pod msg -o jsonpath='{.status.phase}' | grep -q Failed"
    run kubectl get pod msg -o jsonpath='{.status.containerStatuses[?(@.name=="file")].state.terminated.message}'
    [ "$output" = "all done $MARK" ]
    run kubectl get pod msg -o jsonpath='{.status.containerStatuses[?(@.name=="custom")].state.terminated.message}'
    [ "$output" = "custom-path" ]
    run kubectl get pod msg -o jsonpath='{.status.containerStatuses[?(@.name=="logs")].state.terminated.message}'
    [ "$output" = "line1
last-words" ]
    delete_clean msg
}
