#!/usr/bin/env bats
# kubectl exec, cp, attach and port-forward through the API server to the embedded node agent
# (the WebSocket remotecommand protocol and SPDY-over-WebSocket port-forwarding of kubectl
# >= 1.31, plain SPDY/3.1 of older kubectl), with the real kubectl: the process runtime (no root), then the oci runtime (root
# + runc + a static busybox; skipped otherwise). Every process a test starts carries a unique
# marker and must be gone afterwards.

load helpers
load oci-helpers

KDIR="$(dirname "$(readlink -f "$(command -v kubectl)")")"

setup() {
    MARK="7$(date +%s%N | tail -c 9)$RANDOM"
    export MARK
}

teardown() {
    [ -n "${BOSUN_PID:-}" ] || { oci_net_cleanup; return 0; }
    stop_server
    oci_net_cleanup
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

# gone PATTERN: no process's command line matches (pgrep -f from this shell, whose own
# command line does not carry the pattern)
gone() {
    ! pgrep -f "$1" >/dev/null
}

# A process-runtime server with a two-container pod "p" (main: sleeps; side: echoes stdin).
process_pod() {
    start_server --runtime process --node-name "exec-$MARK"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: host
    command: ["sleep", "1000.$MARK"]
    workingDir: /tmp
    env: [{name: GREETING, value: hello-$MARK}]
  - name: side
    image: host
    command: ["sh", "-c", "while read l; do echo got:\$l; done; echo eof; exec sleep 1000.$MARK"]
    stdin: true
    stdinOnce: true
YAML
    kubectl wait --for=condition=Ready pod/p --timeout=30s
}

@test "exec: output, exit codes, stdin, -c, the container's env and working dir" {
    process_pod
    run kubectl exec p -c main -- echo hi
    [ "$status" -eq 0 ]
    [ "$output" = "hi" ]
    run kubectl exec p -c main -- sh -c 'echo out; echo err >&2; exit 3'
    [ "$status" -eq 3 ]
    [[ "$output" == *out* ]]
    [[ "$output" == *err* ]]
    [[ "$output" == *"command terminated with exit code 3"* ]]
    run bash -c "kubectl exec p -c main -- sh -c 'exit 3' 2>/dev/null >/dev/null; echo rc=\$?"
    [ "$output" = "rc=3" ]
    # stdout and stderr stay apart
    run bash -c "kubectl exec p -c main -- sh -c 'echo out; echo err >&2' 2>/dev/null"
    [ "$output" = "out" ]
    run bash -c "echo data-$MARK | kubectl exec -i p -c main -- cat"
    [ "$status" -eq 0 ]
    [ "$output" = "data-$MARK" ]
    run kubectl exec p -c side -- pwd
    [ "$output" = "/" ]
    run kubectl exec p -c main -- sh -c 'echo $GREETING; pwd'
    [ "${lines[0]}" = "hello-$MARK" ]
    [ "${lines[1]}" = "/tmp" ]
    # a megabyte through stdin and back, byte for byte
    head -c 1048576 /dev/urandom >"$BOSUN_DIR/rand"
    kubectl exec -i p -c main -- cat <"$BOSUN_DIR/rand" >"$BOSUN_DIR/back"
    cmp "$BOSUN_DIR/rand" "$BOSUN_DIR/back"
}

@test "exec: errors for a missing pod, container or command" {
    process_pod
    run kubectl exec nope-$MARK -- true
    [ "$status" -ne 0 ]
    [[ "$output" == *'pods "nope-'*'" not found'* ]]
    run kubectl exec p -c nope -- true
    [ "$status" -ne 0 ]
    [[ "$output" == *"container nope is not valid for pod p"* ]]
    run kubectl exec p -c main -- /nonexistent-$MARK
    [ "$status" -ne 0 ]
    [[ "$output" == *"/nonexistent-$MARK"* ]]
    # the API answers without kubectl too
    run api "/api/v1/namespaces/default/pods/p/exec?command=true&stdout=true"
    [[ "$output" == *'"a container name must be specified for pod p, choose one of: [main side]"'* ]]
}

@test "older kubectl (plain SPDY/3.1): exec with exit code and stdin, cp, a pty, port-forward" {
    [ -x "$KDIR/kubectl.1.27" ] || skip "kubectl 1.27 is not installed next to kubectl"
    process_pod
    local old="$KDIR/kubectl.1.27"
    run "$old" exec p -c main -- sh -c 'echo out; exit 5'
    [ "$status" -eq 5 ]
    [[ "$output" == *"command terminated with exit code 5"* ]]
    run bash -c "echo spdy-$MARK | $old exec -i p -c main -- cat"
    [ "$output" = "spdy-$MARK" ]
    echo "file-$MARK" >"$BOSUN_DIR/f.txt"
    "$old" cp "$BOSUN_DIR/f.txt" "p:$BOSUN_DIR/f2-$MARK.txt" -c main
    [ "$(cat "$BOSUN_DIR/f2-$MARK.txt")" = "file-$MARK" ]
    run script -qec "$old exec -it p -c main -- tty" /dev/null </dev/null
    [[ "$output" == *"/dev/pts/"* ]]
    # port-forward: 1.30 still speaks plain SPDY for it
    local pf="$KDIR/kubectl.1.30"
    [ -x "$pf" ] || pf="$old"
    local lp
    lp="$(free_port)"
    "$pf" port-forward pod/p "$lp:9" >"$BOSUN_DIR/pf.log" 2>&1 3>&- &
    local kpid=$!
    wait_for grep -q "Forwarding from" "$BOSUN_DIR/pf.log"
    curl -s -m 5 "http://127.0.0.1:$lp/" || true
    wait_for grep -q "error forwarding port 9 to pod p" "$BOSUN_DIR/pf.log"
    kill "$kpid" 2>/dev/null || true
    wait "$kpid" || true
}

@test "exec: a pty with -it; the process is killed when the client or the container goes" {
    process_pod
    run script -qec "kubectl exec -it p -c main -- sh -c 'tty; stty size'" /dev/null </dev/null
    [ "$status" -eq 0 ]
    [[ "$output" == *"/dev/pts/"* ]]
    # without -t there is no terminal
    run kubectl exec p -c main -- tty
    [[ "$output" == *"not a tty"* ]]
    kubectl exec p -c main -- sh -c "exec sleep 2000.$MARK" 3>&- &
    local kpid=$!
    wait_for pgrep -f "^sleep 2000.$MARK"
    kill -KILL "$kpid"
    wait "$kpid" || true
    wait_for gone "^sleep 2000.$MARK"
    # ... and when its container goes (the pod is deleted): kubectl sees 137 (SIGKILL)
    kubectl exec p -c main -- sh -c "exec sleep 2100.$MARK" 2>"$BOSUN_DIR/exec.err" 3>&- &
    kpid=$!
    wait_for pgrep -f "^sleep 2100.$MARK"
    kubectl delete pod p --timeout=30s
    wait_for gone "^sleep 2100.$MARK"
    wait "$kpid" || true
    grep -q "exit code 137" "$BOSUN_DIR/exec.err"
}

@test "cp: a file into the pod and back out" {
    process_pod
    head -c 300000 /dev/urandom >"$BOSUN_DIR/in.bin"
    kubectl cp "$BOSUN_DIR/in.bin" "p:$BOSUN_DIR/copied-$MARK.bin" -c main
    cmp "$BOSUN_DIR/in.bin" "$BOSUN_DIR/copied-$MARK.bin"
    kubectl cp "p:$BOSUN_DIR/copied-$MARK.bin" "$BOSUN_DIR/out.bin" -c main
    cmp "$BOSUN_DIR/in.bin" "$BOSUN_DIR/out.bin"
}

@test "attach: stdin reaches the container, its output comes back; stdinOnce closes it" {
    process_pod
    run bash -c "(echo one-$MARK; sleep 1.5) | timeout 20 kubectl attach -i p -c side"
    [[ "$output" == *"got:one-$MARK"* ]]
    # stdinOnce: the first attach's end closed the container's stdin
    wait_for bash -c "kubectl logs p -c side | grep -qx eof"
}

@test "port-forward: curl through kubectl to a server in the pod; a closed port is reported" {
    start_server --runtime process --node-name "exec-$MARK"
    mkdir -p "$BOSUN_DIR/www"
    echo "hello-$MARK" >"$BOSUN_DIR/www/index.txt"
    head -c 2000000 /dev/urandom >"$BOSUN_DIR/www/big.bin"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {mark: "$MARK"}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: host
    command: ["python3", "-m", "http.server", "8080", "--bind", "\$(POD_IP)", "--directory", "$BOSUN_DIR/www"]
    env: [{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
YAML
    kubectl wait --for=condition=Ready pod/web --timeout=30s
    local lp
    lp="$(free_port)"
    kubectl port-forward pod/web "$lp:8080" >"$BOSUN_DIR/pf.log" 2>&1 3>&- &
    local kpid=$!
    wait_for curl -sf "http://127.0.0.1:$lp/index.txt"
    run curl -sf "http://127.0.0.1:$lp/index.txt"
    [ "$output" = "hello-$MARK" ]
    curl -sf "http://127.0.0.1:$lp/big.bin" -o "$BOSUN_DIR/got.bin"
    cmp "$BOSUN_DIR/www/big.bin" "$BOSUN_DIR/got.bin"
    # several connections at once over the one WebSocket
    local pids=()
    for i in 1 2 3 4; do
        curl -sf "http://127.0.0.1:$lp/big.bin" -o "$BOSUN_DIR/got$i.bin" 3>&- &
        pids+=($!)
    done
    wait "${pids[@]}"
    for i in 1 2 3 4; do cmp "$BOSUN_DIR/www/big.bin" "$BOSUN_DIR/got$i.bin"; done
    kill "$kpid"
    wait "$kpid" || true
    # nothing listens on 8081: kubectl reports the agent's error
    lp="$(free_port)"
    kubectl port-forward pod/web "$lp:8081" >"$BOSUN_DIR/pf2.log" 2>&1 3>&- &
    kpid=$!
    wait_for grep -q "Forwarding from" "$BOSUN_DIR/pf2.log"
    curl -s -m 5 "http://127.0.0.1:$lp/" || true
    wait_for grep -q "error forwarding port 8081 to pod web" "$BOSUN_DIR/pf2.log"
    kill "$kpid" 2>/dev/null || true
    wait "$kpid" || true
}

# A minimal WebSocket client (TLS, bearer token) speaking the channel protocols directly,
# as clients other than kubectl do: prints the status line, the chosen subprotocol and what
# arrived per channel.
ws_client() {
    cat >"$BOSUN_DIR/wsclient.py" <<'PY'
import socket, ssl, os, sys, base64, struct
host, port, token, cafile, path, proto, mode = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {proto}\r\n"
           f"Authorization: Bearer {token}\r\n\r\n").encode())
buf = b''
while b'\r\n\r\n' not in buf:
    d = s.recv(4096)
    if not d: break
    buf += d
head, buf = buf.split(b'\r\n\r\n', 1)
lines = head.decode().split('\r\n')
print(lines[0])
for l in lines[1:]:
    if l.lower().startswith('sec-websocket-protocol'): print(l)
def send(ch, data):
    p = bytes([ch]) + data
    m = os.urandom(4)
    h = bytes([0x82]) + (bytes([0x80 | len(p)]) if len(p) < 126 else bytes([0x80 | 126]) + struct.pack('>H', len(p)))
    s.sendall(h + m + bytes(b ^ m[i % 4] for i, b in enumerate(p)))
def frames():
    global buf
    while True:
        while len(buf) >= 2:
            n = buf[1] & 0x7f; hl = 2
            if n == 126: n = struct.unpack('>H', buf[2:4])[0]; hl = 4
            elif n == 127: n = struct.unpack('>Q', buf[2:10])[0]; hl = 10
            if len(buf) < hl + n: break
            op, p = buf[0] & 0xf, buf[hl:hl + n]; buf = buf[hl + n:]
            yield op, p
        d = s.recv(65536)
        if not d: return
        buf += d
out = {}
if mode == 'pf':
    send(0, b"GET /index.txt HTTP/1.0\r\n\r\n")
for op, p in frames():
    if op == 8: break
    if op == 2 and p:
        out.setdefault(p[0], b'')
        out[p[0]] += p[1:]
for ch in sorted(out):
    v = out[ch]
    if mode == 'pf' and len(v) >= 2:
        print(f"{ch}: port={v[0] | v[1] << 8} {v[2:].decode(errors='replace').splitlines()[-1] if len(v) > 2 else ''}")
    else:
        print(f"{ch}: {v.decode(errors='replace').strip()}")
PY
    python3 "$BOSUN_DIR/wsclient.py" 127.0.0.1 "$BOSUN_PORT" "$(cat "$BOSUN_DIR/data/token")" \
        "$BOSUN_DIR/data/tls/ca.crt" "$@"
}

@test "channel protocols for other clients: exec v4 and v1 status, port-forward with ?ports=" {
    process_pod
    local q="container=main&command=sh&command=-c&command=echo%20hi%3B%20echo%20err%20%3E%262%3B%20exit%203&stdout=true&stderr=true"
    run ws_client "/api/v1/namespaces/default/pods/p/exec?$q" v4.channel.k8s.io exec
    [ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
    [ "${lines[1]}" = "Sec-WebSocket-Protocol: v4.channel.k8s.io" ]
    [ "${lines[2]}" = "1: hi" ]
    [ "${lines[3]}" = "2: err" ]
    [[ "${lines[4]}" == '3: {"metadata":{},"status":"Failure",'*'"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}' ]]
    run ws_client "/api/v1/namespaces/default/pods/p/exec?$q" channel.k8s.io exec
    [ "${lines[4]}" = "3: command terminated with non-zero exit code: error executing command [sh -c echo hi; echo err >&2; exit 3], exit code 3" ]
    # success: an empty Success status
    run ws_client "/api/v1/namespaces/default/pods/p/exec?container=main&command=true&stdout=true" v5.channel.k8s.io exec
    [ "${lines[2]}" = '3: {"metadata":{},"status":"Success"}' ]
    # port-forward, the kubelet's channel protocol: the port first on both channels
    mkdir -p "$BOSUN_DIR/www"
    echo "chan-$MARK" >"$BOSUN_DIR/www/index.txt"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: host
    command: ["python3", "-m", "http.server", "8080", "--bind", "\$(POD_IP)", "--directory", "$BOSUN_DIR/www"]
    env: [{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
YAML
    kubectl wait --for=condition=Ready pod/web --timeout=30s
    run ws_client "/api/v1/namespaces/default/pods/web/portforward?ports=8080" v4.channel.k8s.io pf
    [ "${lines[1]}" = "Sec-WebSocket-Protocol: v4.channel.k8s.io" ]
    [ "${lines[2]}" = "0: port=8080 chan-$MARK" ]
    [ "${lines[3]}" = "1: port=8080 " ]
}

# --- the oci runtime ---

oci_server() {
    [ "$(id -u)" -eq 0 ] || skip "needs root for the oci runtime"
    command -v runc >/dev/null || skip "runc is not installed"
    BB="$(command -v busybox || true)"
    [ -n "$BB" ] && file -L "$BB" | grep -q "statically linked" || skip "needs a static busybox"
    ROOTFS="$(mktemp -d)"
    mkdir -p "$ROOTFS/bin" "$ROOTFS/www" "$ROOTFS/tmp"
    cp "$BB" "$ROOTFS/bin/busybox"
    for a in sh sleep echo cat test tty stty httpd tar hostname; do ln -s busybox "$ROOTFS/bin/$a"; done
    echo "oci-hello-$MARK" >"$ROOTFS/www/index.html"
    BOSUN_DIR="$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/bosun.XXXXXX")"
    "$BOSUN" image pack --data-dir "$BOSUN_DIR/data" --name "bbx-$MARK:1" --entrypoint /bin/sh "$ROOTFS"
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
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: box}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: bbx-$MARK:1
    command: ["sh", "-c", "httpd -p 8080 -h /www; exec sleep 1000.$MARK"]
YAML
    kubectl wait --for=condition=Ready pod/box --timeout=60s
}

@test "oci: exec runs inside the container (hostname), exit codes, stdin, a pty with -it" {
    oci_server
    run kubectl exec box -- cat /etc/hostname
    [ "$status" -eq 0 ]
    [ "$output" = "box" ]
    run kubectl exec box -- sh -c 'exit 4'
    [ "$status" -eq 4 ]
    run bash -c "echo in-$MARK | kubectl exec -i box -- cat"
    [ "$output" = "in-$MARK" ]
    run script -qec "kubectl exec -it box -- tty" /dev/null </dev/null
    [ "$status" -eq 0 ]
    [[ "$output" == *"/dev/pts/"* ]]
    # a process whose client went away is killed inside the container too
    kubectl exec box -- sh -c "exec sleep 3000.$MARK" 3>&- &
    local kpid=$!
    wait_for pgrep -f "^sleep 3000.$MARK"
    kill -KILL "$kpid"
    wait "$kpid" || true
    wait_for gone "^sleep 3000.$MARK"
}

@test "oci: port-forward reaches a server on the pod's loopback (its network namespace)" {
    oci_server
    local lp
    lp="$(free_port)"
    kubectl port-forward pod/box "$lp:8080" >"$BOSUN_DIR/pf.log" 2>&1 3>&- &
    local kpid=$!
    wait_for curl -sf "http://127.0.0.1:$lp/index.html"
    run curl -sf "http://127.0.0.1:$lp/index.html"
    [ "$output" = "oci-hello-$MARK" ]
    kill "$kpid"
    wait "$kpid" || true
}
