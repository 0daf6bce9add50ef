#!/usr/bin/env bats
# The `make run` demo end to end: the hello app from examples/demo runs (process runtime),
# is reachable through the embedded gateway by Service/Ingress, spreads over its replicas,
# rolls to a new version, rolls back, and heals when a pod is deleted.

load helpers

setup_file() {
    start_server --runtime process --node-name "demo-$$"
    kubectl apply -f "$REPO_ROOT/examples/demo/hello.yaml" >/dev/null
    kubectl rollout status deploy/hello --timeout=90s >/dev/null
}

# descendants PID: every process below PID
descendants() {
    local c
    for c in $(pgrep -P "$1"); do
        echo "$c"
        descendants "$c"
    done
}

teardown_file() {
    # this server's pod processes (the demo's hello replicas run below it)
    local pods
    pods="$(descendants "$BOSUN_PID")"
    kubectl delete -f "$REPO_ROOT/examples/demo/hello.yaml" --wait=false >/dev/null 2>&1 || true
    stop_server
    [ -n "$pods" ]
    # no pod process outlives the server
    local p
    for p in $pods; do
        ! kill -0 "$p" 2>/dev/null || { echo "pod process $p outlived the server: $(tr '\0' ' ' </proc/$p/cmdline)"; return 1; }
    done
}

get() {
    curl -s --max-time 2 "http://127.0.0.1:$BOSUN_GW_PORT/"
}

wait_message() {
    for _ in $(seq 1 100); do
        [[ "$(get)" == "$1 from hello-"* ]] && return 0
        sleep 0.1
    done
    echo "never saw '$1', last answer: $(get)" >&2
    return 1
}

@test "the demo answers through the gateway and spreads over its replicas" {
    wait_message hello
    seen=$(for _ in $(seq 1 30); do get; done | sort -u | wc -l)
    [ "$seen" -ge 2 ]
}

@test "a rolling update changes the answer; rollout undo brings it back" {
    kubectl set env deploy/hello MESSAGE=bonjour >/dev/null
    kubectl rollout status deploy/hello --timeout=90s
    wait_message bonjour
    kubectl rollout undo deploy/hello >/dev/null
    kubectl rollout status deploy/hello --timeout=90s
    wait_message hello
}

@test "a deleted pod is replaced and the service keeps answering" {
    victim=$(kubectl get pods -l app=hello -o jsonpath='{.items[0].metadata.name}')
    kubectl delete pod "$victim" --wait=true >/dev/null
    for _ in $(seq 1 100); do
        ready=$(kubectl get deploy hello -o jsonpath='{.status.readyReplicas}')
        [ "$ready" = 3 ] && break
        sleep 0.2
    done
    [ "$ready" = 3 ]
    run kubectl get pods -l app=hello -o name
    [[ "$output" != *"$victim"* ]]
    wait_message hello
}
