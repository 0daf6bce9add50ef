#!/usr/bin/env bats
# The embedded node agent with the process runtime (no root needed): node registration and
# lease, a Deployment behind a readiness probe, kubectl logs, restarts and CrashLoopBackOff,
# liveness restarts, init containers, env expansion, graceful deletion and a Job to Completed.
# Every process a test starts carries a unique marker and must be gone afterwards.

load helpers

setup() {
    # digits only: it also serves as the fraction of `sleep 1000.$MARK`
    MARK="9$(date +%s%N | tail -c 9)$RANDOM"
    export MARK
    start_server --runtime process --node-name "agent-$MARK"
    NODE="agent-$MARK"
    export NODE
}

teardown() {
    stop_server
    # nothing a pod started may survive the server
    for _ in $(seq 1 40); do pgrep -f "$MARK" >/dev/null || break; sleep 0.1; done
    run pgrep -af "$MARK"
    [ "$status" -ne 0 ] || { echo "left over: $output" >&2; pkill -KILL -f "$MARK"; return 1; }
}

# wait_for CMD...: retries CMD for up to 30 s.
wait_for() {
    for _ in $(seq 1 150); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "timed out: $*" >&2
    return 1
}

pod_field() {
    kubectl get pod "$1" -o jsonpath="$2"
}

@test "registers its node with capacity, labels, conditions and a lease" {
    wait_for kubectl get node "$NODE"
    run kubectl get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.metadata.labels.kubernetes\.io/hostname} {.metadata.labels.kubernetes\.io/os} {.status.capacity.pods} {.status.allocatable.pods}'
    [ "$status" -eq 0 ]
    [ "$output" = "True $NODE linux 110 110" ]
    run kubectl get node "$NODE" -o jsonpath='{.status.capacity.cpu} {.status.capacity.memory} {.status.addresses[*].type} {.status.nodeInfo.operatingSystem}'
    [[ "$output" =~ ^[0-9]+\ [0-9]+Ki\ InternalIP\ Hostname\ linux$ ]]
    run kubectl get node "$NODE" --show-labels
    [[ "$output" == *"node-role.kubernetes.io/control-plane="* ]]
    [[ "$output" == *" Ready "* ]]
    wait_for kubectl -n kube-node-lease get lease "$NODE"
    run kubectl -n kube-node-lease get lease "$NODE" -o jsonpath='{.spec.holderIdentity} {.spec.leaseDurationSeconds}'
    [ "$output" = "$NODE 40" ]
    for c in MemoryPressure DiskPressure PIDPressure; do
        run kubectl get node "$NODE" -o jsonpath="{.status.conditions[?(@.type==\"$c\")].status}"
        [ "$output" = "False" ]
    done
}

@test "a Deployment behind a readiness probe becomes Ready and kubectl logs shows its output" {
    mkdir -p "$BOSUN_DIR/www-$MARK"
    kubectl apply -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeName: $NODE
      containers:
      - name: web
        image: python
        command: ["python3", "-m", "http.server", "--bind", "\$(POD_IP)", "8080", "--directory", "$BOSUN_DIR/www-$MARK"]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
YAML
    run kubectl rollout status deploy/web --timeout=60s
    [ "$status" -eq 0 ]
    run kubectl wait --for=condition=Ready pod -l app=web --timeout=30s
    [ "$status" -eq 0 ]
    # distinct loopback pod IPs, so both bind port 8080
    ips="$(kubectl get pods -l app=web -o jsonpath='{.items[*].status.podIP}')"
    [[ "$ips" =~ ^127\.[0-9.]+\ 127\.[0-9.]+$ ]]
    a="${ips% *}"; b="${ips#* }"
    [ "$a" != "$b" ]
    run curl -sf "http://$a:8080/"
    [ "$status" -eq 0 ]
    pod="$(kubectl get pods -l app=web -o jsonpath='{.items[0].metadata.name}')"
    run pod_field "$pod" '{.status.phase} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].started} {.status.hostIP}'
    [[ "$output" =~ ^Running\ true\ true\ [0-9.]+$ ]]
    run kubectl get pod "$pod" -o jsonpath='{.status.conditions[?(@.type=="ContainersReady")].status} {.status.conditions[?(@.type=="Initialized")].status} {.status.conditions[?(@.type=="PodReadyToStartContainers")].status}'
    [ "$output" = "True True True" ]
    # the probe's requests are in the server's log
    wait_for bash -c "kubectl logs $pod | grep -q 'GET / HTTP/1.1\" 200'"
    run kubectl logs "$pod" --tail=1 --timestamps
    [[ "$output" =~ ^20[0-9-]+T[0-9:.]+Z\ .*GET ]]
    [ "$(echo "$output" | wc -l)" -eq 1 ]
}

@test "a crashing container is restarted and shows CrashLoopBackOff; --previous has its output" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: $NODE
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo crashing-$MARK; exit 1"]
YAML
    wait_for bash -c "kubectl get pod crash | grep -q CrashLoopBackOff"
    run pod_field crash '{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.exitCode} {.status.containerStatuses[0].lastState.terminated.reason} {.status.phase}'
    [ "$output" = "1 1 Error Running" ]
    run pod_field crash '{.status.containerStatuses[0].state.waiting.message}'
    [[ "$output" == "back-off 10s restarting failed container=c pod=crash_"* ]]
    run kubectl logs crash --previous
    [ "$output" = "crashing-$MARK" ]
    run kubectl logs crash
    [ "$output" = "crashing-$MARK" ]
}

@test "a failing liveness probe restarts the container" {
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
    command: ["sleep", "1000.$MARK"]
    livenessProbe:
      exec: {command: ["test", "-e", "/nonexistent-$MARK"]}
      periodSeconds: 1
      failureThreshold: 2
YAML
    wait_for bash -c "[ \"\$(kubectl get pod live -o jsonpath='{.status.containerStatuses[0].restartCount}')\" -ge 1 ]"
    run pod_field live '{.status.containerStatuses[0].lastState.terminated.exitCode}'
    [ "$output" = "143" ] || [ "$output" = "137" ]
}

@test "init containers run first; env has \$(VAR) expansion and the downward API" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: init, labels: {tier: back}}
spec:
  nodeName: $NODE
  restartPolicy: Never
  initContainers:
  - name: wait
    image: busybox
    command: ["sh", "-c", "sleep 1; echo init-$MARK"]
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo \"\$GREETING \$TIER \$NS\" '\$\$(NOT)'"]
    env:
    - name: NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: GREETING
      value: "hello-\$(NAME)-\$\$(NAME)-\$(UNSET)"
    - name: TIER
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}
    - name: NS
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
YAML
    wait_for bash -c "kubectl get pod init | grep -q 'Init:0/1'"
    wait_for bash -c "kubectl get pod init | grep -q Completed"
    run kubectl logs init -c wait
    [ "$output" = "init-$MARK" ]
    run kubectl logs init -c main
    [ "$output" = "hello-init-\$(NAME)-\$(UNSET) back default \$(NOT)" ]
    run pod_field init '{.status.phase} {.status.initContainerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode}'
    [ "$output" = "Succeeded Completed 0" ]
}

@test "deleting a pod stops its processes gracefully and removes it" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  nodeName: $NODE
  containers:
  - name: c
    image: busybox
    command: ["sleep", "1000.$MARK"]
YAML
    wait_for bash -c "kubectl get pod sleeper | grep -q Running"
    pgrep -f "sleep 1000.$MARK"
    run kubectl delete pod sleeper --timeout=30s
    [ "$status" -eq 0 ]
    run kubectl get pod sleeper
    [ "$status" -ne 0 ]
    run pgrep -f "sleep 1000.$MARK"
    [ "$status" -ne 0 ]
}

@test "a Job's pod runs to Completed" {
    kubectl create job once --image=busybox -- sh -c "echo job-$MARK"
    run kubectl wait --for=condition=complete job/once --timeout=60s
    [ "$status" -eq 0 ]
    run kubectl get pods -l job-name=once --no-headers
    [[ "$output" == *Completed* ]]
    run kubectl logs job/once
    [ "$output" = "job-$MARK" ]
}

@test "kubectl logs -f streams until the container exits" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  nodeName: $NODE
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "for i in 1 2 3 4; do echo line-\$i-$MARK; sleep 0.5; done"]
YAML
    wait_for bash -c "kubectl logs talker | grep -q line-1"
    run timeout 20 kubectl logs -f talker
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf 'line-1-%s\nline-2-%s\nline-3-%s\nline-4-%s' "$MARK" "$MARK" "$MARK" "$MARK")" ]
    run kubectl logs talker --tail=2
    [ "$output" = "$(printf 'line-3-%s\nline-4-%s' "$MARK" "$MARK")" ]
}

@test "kubectl logs --since skips older lines" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: since}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo early; sleep 4; echo late; exec sleep 1000.$MARK"]
YAML
    wait_for bash -c "kubectl logs since | grep -q late"
    run kubectl logs since --since=2s
    [ "$output" = "late" ]
    run kubectl logs since
    [ "$output" = "$(printf 'early\nlate')" ]
}

@test "env from ConfigMaps and Secrets (keys, envFrom with prefix, optional, missing)" {
    kubectl create configmap cfg --from-literal=color=blue --from-literal=size=L
    kubectl create secret generic sec --from-literal=password='s3cr3t pass'
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: envs}
spec:
  nodeName: $NODE
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo \"\$COLOR|\$PASS|\$CFG_size|\${OPT:-unset}\""]
    envFrom:
    - configMapRef: {name: cfg}
      prefix: CFG_
    env:
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: cfg, key: color}}
    - name: PASS
      valueFrom: {secretKeyRef: {name: sec, key: password}}
    - name: OPT
      valueFrom: {configMapKeyRef: {name: nope, key: x, optional: true}}
YAML
    wait_for bash -c "kubectl get pod envs | grep -q Completed"
    run kubectl logs envs
    [ "$output" = "blue|s3cr3t pass|L|unset" ]
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: noenv}
spec:
  nodeName: $NODE
  containers:
  - name: c
    image: busybox
    command: ["sleep", "1000.$MARK"]
    env:
    - name: X
      valueFrom: {configMapKeyRef: {name: missing, key: x}}
YAML
    wait_for bash -c "kubectl get pod noenv | grep -q CreateContainerConfigError"
    run pod_field noenv '{.status.containerStatuses[0].state.waiting.message}'
    [ "$output" = 'configmap "missing" not found' ]
    # created later: the retry picks it up
    kubectl create configmap missing --from-literal=x=1
    wait_for bash -c "kubectl get pod noenv | grep -q Running"
}

@test "service environment variables as upstream (enableServiceLinks)" {
    kubectl create service clusterip my-svc --tcp=80:8080
    ip="$(kubectl get svc my-svc -o jsonpath='{.spec.clusterIP}')"
    kip="$(kubectl get svc kubernetes -o jsonpath='{.spec.clusterIP}')"
    kport="$(kubectl get svc kubernetes -o jsonpath='{.spec.ports[0].port}')"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: links}
spec:
  nodeName: $NODE
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "env | grep -E '^(MY_SVC|KUBERNETES)_' | sort"]
    env:
    - name: MY_SVC_SERVICE_PORT
      value: "overridden"
YAML
    wait_for bash -c "kubectl get pod links | grep -q Completed"
    run kubectl logs links
    expected="KUBERNETES_PORT=tcp://$kip:$kport
KUBERNETES_PORT_${kport}_TCP=tcp://$kip:$kport
KUBERNETES_PORT_${kport}_TCP_ADDR=$kip
KUBERNETES_PORT_${kport}_TCP_PORT=$kport
KUBERNETES_PORT_${kport}_TCP_PROTO=tcp
KUBERNETES_SERVICE_HOST=$kip
KUBERNETES_SERVICE_PORT=$kport
KUBERNETES_SERVICE_PORT_HTTPS=$kport
MY_SVC_PORT=tcp://$ip:80
MY_SVC_PORT_80_TCP=tcp://$ip:80
MY_SVC_PORT_80_TCP_ADDR=$ip
MY_SVC_PORT_80_TCP_PORT=80
MY_SVC_PORT_80_TCP_PROTO=tcp
MY_SVC_SERVICE_HOST=$ip
MY_SVC_SERVICE_PORT=overridden
MY_SVC_SERVICE_PORT_80_8080=80"
    [ "$output" = "$expected" ] || { diff <(echo "$output") <(echo "$expected") >&2; false; }

    # the agent shares its Service lists between pods: a Service created after the first
    # pod's start is in the environment of the next pod (the shared list is read again)
    kubectl create service clusterip my-svc2 --tcp=81:8081
    ip2="$(kubectl get svc my-svc2 -o jsonpath='{.spec.clusterIP}')"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: links2}
spec:
  nodeName: $NODE
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "env | grep -E '^MY_SVC' | sort"]
YAML
    wait_for bash -c "kubectl get pod links2 | grep -q Completed"
    run kubectl logs links2
    echo "$output" | grep -qx "MY_SVC2_SERVICE_HOST=$ip2"
    echo "$output" | grep -qx "MY_SVC_SERVICE_HOST=$ip"
}

@test "a preStop exec hook runs before the container is stopped" {
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
    env: [{name: WHO, value: hook-$MARK}]
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "echo \$WHO > $BOSUN_DIR/prestop; pgrep -f 'sleep 1000[.]$MARK' >> $BOSUN_DIR/prestop"]}
YAML
    wait_for bash -c "kubectl get pod hooked | grep -q Running"
    run kubectl delete pod hooked --timeout=30s
    [ "$status" -eq 0 ]
    # the hook saw the container still running, with its environment
    run cat "$BOSUN_DIR/prestop"
    [ "${lines[0]}" = "hook-$MARK" ]
    [[ "${lines[1]}" =~ ^[0-9]+$ ]]
    run pgrep -f "sleep 1000.$MARK"
    [ "$status" -ne 0 ]
}

@test "a postStart exec hook runs after the start; a failing one kills the container" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: poststart}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "while [ ! -f $BOSUN_DIR/started ]; do sleep 0.1; done; echo got-it; exec sleep 1000.$MARK"]
    lifecycle:
      postStart:
        exec: {command: ["touch", "$BOSUN_DIR/started"]}
---
apiVersion: v1
kind: Pod
metadata: {name: badhook}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sleep", "1000.$MARK"]
    lifecycle:
      postStart:
        exec: {command: ["false"]}
YAML
    run kubectl wait --for=condition=Ready pod/poststart --timeout=30s
    [ "$status" -eq 0 ]
    wait_for bash -c "kubectl logs poststart | grep -q got-it"
    wait_for bash -c "[ \"\$(kubectl get pod badhook -o jsonpath='{.status.containerStatuses[0].restartCount}')\" -ge 1 ]"
    run kubectl get pod badhook -o jsonpath='{.status.containerStatuses[0].ready}'
    [ "$output" = "false" ]
}

@test "a restartable init container (sidecar) runs next to the containers" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: withside}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: side
    image: busybox
    restartPolicy: Always
    command: ["sleep", "1000.${MARK}1"]
  - name: setup
    image: busybox
    command: ["sh", "-c", "pgrep -f 'sleep 1000[.]${MARK}1' >/dev/null && echo side-is-up"]
  containers:
  - name: main
    image: busybox
    command: ["sleep", "1000.${MARK}2"]
---
apiVersion: v1
kind: Pod
metadata: {name: jobside}
spec:
  nodeName: $NODE
  restartPolicy: Never
  initContainers:
  - name: side
    image: busybox
    restartPolicy: Always
    command: ["sleep", "1000.${MARK}3"]
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "sleep 0.5; echo done"]
YAML
    wait_for bash -c "kubectl get pod withside | grep -q '2/2 *Running'"
    run kubectl logs withside -c setup
    [ "$output" = "side-is-up" ]
    pgrep -f "sleep 1000.${MARK}1"
    # the main container finished: the pod completes and its sidecar is stopped
    wait_for bash -c "kubectl get pod jobside | grep -q Completed"
    wait_for bash -c "! pgrep -f 'sleep 1000[.]${MARK}3'"
}
