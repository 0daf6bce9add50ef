#!/usr/bin/env bats
# A standalone `bosun agent` joined to a `bosun server --disable-agent` over HTTPS (process
# runtime, no root needed): node registration with its Lease and kubelet endpoint, a pod the
# scheduler puts on it runs and becomes Ready, `kubectl logs` (also -f) through the API
# server's proxy to the agent's kubelet server, the kubelet's token check, NotReady once the
# agent is gone (test clock) and a restarted agent (joined through a kubeconfig) running its
# pods again, gRPC readiness probes, and the metrics push. Every process a test starts carries
# a unique marker and must be gone afterwards.

load helpers

setup() {
    # digits only: it also serves as the fraction of `sleep 1000.$MARK`
    MARK="8$(date +%s%N | tail -c 9)$RANDOM"
    NODE="remote-$MARK"
    export MARK NODE
    export BOSUN_DEBUG_CLOCK_FILE="$BATS_TEST_TMPDIR/clock"
    echo 0 >"$BOSUN_DEBUG_CLOCK_FILE"
    start_server
    KPORT="$(free_port)"
    export KPORT
}

teardown() {
    stop_agent
    stop_server
    for _ in $(seq 1 40); do pgrep -f "$MARK" >/dev/null || break; sleep 0.1; done
    run pgrep -af "$MARK"
    [ "$status" -ne 0 ] || { echo "left over: $output" >&2; pkill -KILL -f "$MARK"; return 1; }
}

# start_agent [flags...]: the agent with the server's node token and CA unless flags say else.
start_agent() {
    local join=(--server "https://127.0.0.1:$BOSUN_PORT" --token "$(cat "$BOSUN_DIR/data/node-token")"
        --ca-file "$BOSUN_DIR/data/tls/ca.crt")
    case " $* " in
    *" --kubeconfig "*) join=() ;;
    *" --token-file "*) join=(--server "https://127.0.0.1:$BOSUN_PORT" --ca-file "$BOSUN_DIR/data/tls/ca.crt") ;;
    esac
    "$BOSUN" agent "${join[@]}" --data-dir "$BOSUN_DIR/agent" --node-name "$NODE" \
        --runtime process --kubelet-address 127.0.0.1 --kubelet-port "$KPORT" \
        --node-ip 127.0.0.1 --metrics-interval 1 --log-level debug "$@" \
        >>"$BOSUN_DIR/agent.log" 2>&1 3>&- &
    AGENT_PID=$!
    echo "$AGENT_PID" >"$BOSUN_DIR/agent.pid"
}

stop_agent() {
    [ -f "${BOSUN_DIR:-/nonexistent}/agent.pid" ] || return 0
    local pid
    pid="$(cat "$BOSUN_DIR/agent.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$BOSUN_DIR/agent.pid"
    if grep -q "ERROR: AddressSanitizer\|runtime error:" "$BOSUN_DIR/agent.log"; then
        grep -A20 "ERROR: AddressSanitizer\|runtime error:" "$BOSUN_DIR/agent.log" >&2
        return 1
    fi
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

node_ready() {
    [ "$(kubectl get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = "$1" ]
}

pod_ready() {
    [ "$(kubectl get pod "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = "$2" ]
}

hello_pod() {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo hello-$MARK; echo second line; exec sleep 1000.$MARK"]
YAML
}

@test "a standalone agent registers its node and lease, runs a scheduled pod, and serves its logs through the API server" {
    start_agent
    wait_for node_ready True
    run kubectl get node "$NODE" -o jsonpath='{.metadata.annotations.bosun\.dev/kubelet-server} {.status.daemonEndpoints.kubeletEndpoint.Port} {.status.addresses[?(@.type=="InternalIP")].address} {.status.nodeInfo.containerRuntimeVersion}'
    [ "$output" = "true $KPORT 127.0.0.1 process://0.1.0" ]
    wait_for kubectl -n kube-node-lease get lease "$NODE"
    run kubectl -n kube-node-lease get lease "$NODE" -o jsonpath='{.spec.holderIdentity}'
    [ "$output" = "$NODE" ]

    hello_pod # no nodeName: the scheduler binds it to the only node
    wait_for pod_ready hello True
    run kubectl get pod hello -o jsonpath='{.spec.nodeName} {.status.phase} {.status.podIP}'
    [[ "$output" =~ ^$NODE\ Running\ 127\.1\. ]]

    run kubectl logs hello
    [ "$status" -eq 0 ]
    [ "$output" = "hello-$MARK
second line" ]
    run kubectl logs hello --tail=1 --timestamps
    [[ "$output" =~ ^20[0-9-]+T[0-9:.]+Z\ second\ line$ ]]
    # -f streams through the proxy until the client goes away
    run timeout 3 kubectl logs -f hello
    [ "$status" -eq 124 ]
    [[ "$output" == *"hello-$MARK"* ]]
    # errors of the node's handler come back through the proxy
    run kubectl logs hello -c nope
    [ "$status" -ne 0 ]
    [[ "$output" == *"container nope is not valid for pod hello"* ]]

    # the kubelet server: token required, health open
    run curl -sk "https://127.0.0.1:$KPORT/healthz"
    [ "$output" = "ok" ]
    run curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" \
        "https://127.0.0.1:$KPORT/api/v1/namespaces/default/pods/hello/log"
    [ "$output" = "401" ]
    run curl -sk -H "Authorization: Bearer $(cat "$BOSUN_DIR/data/node-token")" \
        "https://127.0.0.1:$KPORT/api/v1/namespaces/default/pods/hello/log?tailLines=1"
    [ "$output" = "second line" ]

    # the pod is deleted for good by the agent (graceful stop)
    kubectl delete pod hello --wait=false
    wait_for bash -c "! kubectl get pod hello"
}

@test "a stopped agent's node goes NotReady; restarted from a kubeconfig it runs its pods again" {
    start_agent
    wait_for node_ready True
    hello_pod
    wait_for pod_ready hello True
    stop_agent
    # the container went with the agent
    run pgrep -f "sleep 1000.$MARK"
    [ "$status" -ne 0 ]
    # move the server's clock past the lease duration instead of waiting 40 s
    echo 60 >"$BOSUN_DEBUG_CLOCK_FILE"
    wait_for node_ready Unknown
    echo 0 >"$BOSUN_DEBUG_CLOCK_FILE"
    start_agent --kubeconfig "$KUBECONFIG"
    wait_for node_ready True
    wait_for pgrep -f "sleep 1000.$MARK"
    wait_for pod_ready hello True
    run kubectl logs hello --tail=1
    [ "$output" = "second line" ]
}

@test "a gRPC readiness probe follows the server's health status" {
    /usr/bin/python3 -c 'import grpc' 2>/dev/null || skip "python3-grpcio is not installed"
    cat >"$BOSUN_DIR/health-$MARK.py" <<'PY'
import sys
from concurrent import futures
import grpc

host, port, statusfile = sys.argv[1], sys.argv[2], sys.argv[3]
codes = {"SERVING": 1, "NOT_SERVING": 2}

def check(request, context):
    # HealthCheckRequest {string service = 1}: answer per service name if one is asked for
    service = request[2:].decode() if request[:1] == b"\x0a" else ""
    state = open(statusfile).read().strip()
    if service and service != "web":
        return bytes([0x08, 3])  # SERVICE_UNKNOWN
    return bytes([0x08, codes.get(state, 0)])

handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
    "Check": grpc.unary_unary_rpc_method_handler(
        check, request_deserializer=lambda b: b, response_serializer=lambda b: b)})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port(f"{host}:{port}")
server.start()
server.wait_for_termination()
PY
    echo SERVING >"$BOSUN_DIR/status-$MARK"
    start_agent
    wait_for node_ready True
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: grpc}
spec:
  containers:
  - name: health
    image: python
    command: ["/usr/bin/python3", "$BOSUN_DIR/health-$MARK.py", "\$(POD_IP)", "50051", "$BOSUN_DIR/status-$MARK"]
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    readinessProbe:
      grpc: {port: 50051}
      periodSeconds: 1
      failureThreshold: 1
  - name: named
    image: python
    command: ["sh", "-c", "exec sleep 1000.$MARK"]
    readinessProbe:
      grpc: {port: 50051, service: other}
      periodSeconds: 1
YAML
    # the second container asks for a service the server does not know: never ready
    wait_for bash -c "[ \"\$(kubectl get pod grpc -o jsonpath='{.status.containerStatuses[?(@.name==\"health\")].ready}')\" = true ]"
    run kubectl get pod grpc -o jsonpath='{.status.containerStatuses[?(@.name=="named")].ready}'
    [ "$output" = "false" ]
    echo NOT_SERVING >"$BOSUN_DIR/status-$MARK"
    wait_for bash -c "[ \"\$(kubectl get pod grpc -o jsonpath='{.status.containerStatuses[?(@.name==\"health\")].ready}')\" = false ]"
    grep -q 'service unhealthy (responded with \\"NOT_SERVING\\")\|service unhealthy (responded with "NOT_SERVING")' "$BOSUN_DIR/agent.log"
    grep -q 'responded with "SERVICE_UNKNOWN"' "$BOSUN_DIR/agent.log"
    echo SERVING >"$BOSUN_DIR/status-$MARK"
    wait_for bash -c "[ \"\$(kubectl get pod grpc -o jsonpath='{.status.containerStatuses[?(@.name==\"health\")].ready}')\" = true ]"
    kubectl delete pod grpc --wait=false
    wait_for bash -c "! kubectl get pod grpc"
}

@test "the agent pushes per-pod metrics; the metrics API and kubectl top show them" {
    start_agent --token-file "$BOSUN_DIR/data/node-token"
    wait_for node_ready True
    hello_pod
    wait_for pod_ready hello True
    # a few sampling periods (--metrics-interval 1): the pod's usage reaches metrics.k8s.io
    wait_for bash -c "kubectl get --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods/hello | grep -q '\"usage\"'"
    run kubectl get --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods/hello
    [ "$(jq -r '.containers[0].name' <<<"$output")" = main ]
    [[ "$(jq -r '.containers[0].usage.cpu' <<<"$output")" =~ ^[0-9]+n$ ]]
    [[ "$(jq -r '.containers[0].usage.memory' <<<"$output")" =~ ^[0-9]+Ki$ ]]
    run kubectl get --raw "/apis/metrics.k8s.io/v1beta1/nodes/$NODE"
    [[ "$(jq -r '.usage.memory' <<<"$output")" =~ ^[0-9]+Ki$ ]]
    run kubectl top pod hello --no-headers
    [[ "$output" == hello* ]]
    ! grep -q 'pushing node metrics: HTTP' "$BOSUN_DIR/agent.log"
    run kubectl logs hello --tail=1
    [ "$output" = "second line" ]
    node_ready True
}

@test "kubectl exec and port-forward reach a pod on the standalone node through the proxy" {
    start_agent
    wait_for node_ready True
    mkdir -p "$BOSUN_DIR/www-$MARK"
    echo "pf-$MARK" >"$BOSUN_DIR/www-$MARK/index.html"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: web
    image: python
    command: ["/usr/bin/python3", "-m", "http.server", "--bind", "\$(POD_IP)", "18080", "--directory", "$BOSUN_DIR/www-$MARK"]
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    readinessProbe:
      tcpSocket: {port: 18080}
      periodSeconds: 1
YAML
    wait_for pod_ready web True
    # the streaming subresources are wired when the kubelet answers a plain GET with 400
    # (not an upgrade request) rather than 404 (not served)
    code="$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$BOSUN_DIR/data/node-token")" \
        "https://127.0.0.1:$KPORT/api/v1/namespaces/default/pods/web/exec?command=true&stdout=true")"
    [ "$code" != 404 ] || skip "exec is not in this build"
    run kubectl exec web -- sh -c "echo out-$MARK; echo err-$MARK >&2; exit 3"
    [ "$status" -eq 3 ]
    [[ "$output" == *"out-$MARK"* ]]
    [[ "$output" == *"err-$MARK"* ]]
    run bash -c "echo in-$MARK | kubectl exec -i web -- cat"
    [ "$status" -eq 0 ]
    [ "$output" = "in-$MARK" ]
    lport="$(free_port)"
    kubectl port-forward pod/web "$lport:18080" >"$BOSUN_DIR/pf.log" 2>&1 3>&- &
    pf=$!
    wait_for curl -sf "http://127.0.0.1:$lport/index.html"
    run curl -s "http://127.0.0.1:$lport/index.html"
    kill "$pf" 2>/dev/null || true
    wait "$pf" 2>/dev/null || true
    [ "$output" = "pf-$MARK" ]
}

@test "bosun agent refuses bad flags and a taken kubelet port with clear messages" {
    run "$BOSUN" agent --data-dir "$BOSUN_DIR/agent"
    [ "$status" -eq 2 ]
    [[ "$output" == *"--server (or --kubeconfig) is required"* ]]
    run "$BOSUN" agent --server "https://127.0.0.1:$BOSUN_PORT" --kubelet-port 70000
    [ "$status" -eq 2 ]
    [[ "$output" == *"--kubelet-port: expected 0-65535, not '70000'"* ]]
    run "$BOSUN" agent --server "ftp://127.0.0.1:$BOSUN_PORT" --data-dir "$BOSUN_DIR/agent"
    [ "$status" -eq 1 ]
    [[ "$output" == *"expected https://HOST:PORT, not 'ftp://"* ]]
    # the API server's own port is taken: the kubelet server cannot listen there
    run "$BOSUN" agent --server "https://127.0.0.1:$BOSUN_PORT" --token-file "$BOSUN_DIR/data/node-token" \
        --ca-file "$BOSUN_DIR/data/tls/ca.crt" --data-dir "$BOSUN_DIR/agent" --node-name "$NODE" \
        --runtime process --kubelet-address 127.0.0.1 --kubelet-port "$BOSUN_PORT"
    [ "$status" -eq 1 ]
    [[ "$output" == *"kubelet server on 127.0.0.1:$BOSUN_PORT"* ]]
}
