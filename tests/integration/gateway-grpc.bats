#!/usr/bin/env bats
# gateway-grpc.bats - gRPC pass-through (h2sniff.c, h2grpc.c, h2upstream.c) with a real gRPC
# server and client (Debian's python3-grpcio, generic handlers, no generated code): unary and
# server-streaming calls over h2c and over TLS (ALPN h2), trailers with a non-OK status,
# 2 MB messages both ways through flow control, a bidirectional stream in lock step (request
# messages relayed as they arrive), concurrent calls on one channel sharing one
# upstream connection (closed after 30 s idle), UNAVAILABLE without a reachable endpoint, UNIMPLEMENTED without a route,
# plain HTTP/2 next to it still bridged to HTTP/1.1, and a Service port with appProtocol
# kubernetes.io/h2c taking plain HTTP/2 requests over h2c; access log and metrics; a drain
# that lets a streaming call finish.

load gateway-helpers

PY=/usr/bin/python3

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

need_grpc() {
    "$PY" -c 'import grpc' 2>/dev/null || skip "python3-grpcio not installed"
}

# The gRPC origin: /t.T/Unary answers "echo:<request>" plus the peer's x-forwarded-for,
# /t.T/Stream sends N messages "msg-000".., /t.T/Fail aborts with NOT_FOUND and a message,
# /t.T/Big answers the request reversed.
start_grpc_upstream() {
    GRPC_PORT=$(free_port)
    cat >"$BATS_TEST_TMPDIR/server.py" <<'EOF'
import grpc, sys, time
from concurrent import futures
def unary(req, ctx):
    md = dict(ctx.invocation_metadata())
    return b"echo:" + req + b" xff=" + md.get("x-forwarded-for", "-").encode()
def stream(req, ctx):
    n, _, delay = req.decode().partition(",")
    for i in range(int(n)):
        yield b"msg-%03d" % i
        if delay:
            time.sleep(float(delay))
def fail(req, ctx):
    ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + req.decode())
def big(req, ctx):
    return req[::-1]
def chat(reqs, ctx):
    for r in reqs:  # answers each message as it arrives
        yield b"re:" + r
ident = lambda b: b
h = grpc.method_handlers_generic_handler("t.T", {
    "Unary": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
    "Stream": grpc.unary_stream_rpc_method_handler(stream, ident, ident),
    "Fail": grpc.unary_unary_rpc_method_handler(fail, ident, ident),
    "Big": grpc.unary_unary_rpc_method_handler(big, ident, ident),
    "Chat": grpc.stream_stream_rpc_method_handler(chat, ident, ident)})
s = grpc.server(futures.ThreadPoolExecutor(8), handlers=[h],
                options=[("grpc.max_receive_message_length", 8 << 20)])
s.add_insecure_port("127.0.0.1:" + sys.argv[1])
s.start()
s.wait_for_termination()
EOF
    "$PY" "$BATS_TEST_TMPDIR/server.py" "$GRPC_PORT" 3>&- &
    echo $! >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$GRPC_PORT"
}

# client TARGET AUTHORITY METHOD ARG [CA]: prints the answer(s) or "ERR <CODE> <details>".
grpc_client() {
    cat >"$BATS_TEST_TMPDIR/client.py" <<'EOF'
import grpc, sys, hashlib, concurrent.futures
target, authority, method, arg = sys.argv[1:5]
ca = sys.argv[5] if len(sys.argv) > 5 else None
opts = [("grpc.max_receive_message_length", 8 << 20)]
if ca:
    opts.append(("grpc.ssl_target_name_override", authority))
    ch = grpc.secure_channel(target, grpc.ssl_channel_credentials(open(ca, "rb").read()), opts)
else:
    opts.append(("grpc.default_authority", authority))
    ch = grpc.insecure_channel(target, options=opts)
ident = lambda b: b
try:
    if method == "Stream":
        for m in ch.unary_stream("/t.T/Stream", ident, ident)(arg.encode(), timeout=20):
            print(m.decode())
    elif method == "Big":
        data = bytes((i * 7 + i // 1000) % 251 for i in range(int(arg)))
        out = ch.unary_unary("/t.T/Big", ident, ident)(data, timeout=20)
        print(len(out), out == data[::-1])
    elif method == "Chat":
        # ping-pong: the next message is sent only after the answer to the previous one came
        # back, which only works if the gateway streams the request instead of collecting it
        import queue
        q = queue.Queue()
        def gen():
            for i in range(int(arg)):
                yield b"m%d" % i
                q.get(timeout=10)
        n = 0
        for m in ch.stream_stream("/t.T/Chat", ident, ident)(gen(), timeout=20):
            assert m == b"re:m%d" % n, m
            n += 1
            q.put(1)
        print("chat", n)
    elif method == "Seq":
        # N calls one after the other: how many failed, and the last one that did
        f = ch.unary_unary("/t.T/Unary", ident, ident)
        bad, last = 0, -1
        for i in range(int(arg)):
            try:
                f(b"s", timeout=5)
            except grpc.RpcError:
                bad, last = bad + 1, i
        print("failed", bad, "last", last)
    elif method == "Par":
        f = ch.unary_unary("/t.T/Unary", ident, ident)
        futs = [f.future(b"p%d" % i, timeout=20) for i in range(int(arg))]
        ok = sum(1 for i, x in enumerate(futs) if x.result().startswith(b"echo:p%d " % i))
        print("parallel", ok)
    else:
        print(ch.unary_unary("/t.T/" + method, ident, ident)(arg.encode(), timeout=20).decode())
except grpc.RpcError as e:
    print("ERR", e.code().name, e.details())
EOF
    "$PY" "$BATS_TEST_TMPDIR/client.py" "$@" 2>/dev/null
}

setup_grpc_gateway() {
    need_grpc
    start_grpc_upstream
    DEAD_PORT=$(free_port) # nothing listens there
    d=$BATS_TEST_TMPDIR
    cfg=$d/cfg.yaml
    {
        service grpc "$GRPC_PORT"
        service dead "$DEAD_PORT"
        service mixed "$GRPC_PORT" "$DEAD_PORT"
        cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: h2app, namespace: default}
spec: {ports: [{name: grpc, port: 80, appProtocol: kubernetes.io/h2c}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: h2app-1, namespace: default, labels: {kubernetes.io/service-name: h2app}}
addressType: IPv4
ports: [{name: grpc, port: $GRPC_PORT}]
endpoints: [{addresses: ["127.0.0.1"]}]
---
apiVersion: v1
kind: Service
metadata: {name: h2empty, namespace: default}
spec: {ports: [{name: grpc, port: 80, appProtocol: grpc}]}
---
kind: Ingress
metadata: {name: g}
spec:
  tls: [{hosts: [grpc.test], secretName: grpc-tls}]
  rules:
  - host: grpc.test
    http:
      paths:
      - {path: /t.T/, pathType: Prefix, backend: {service: {name: grpc, port: {number: 80}}}}
  - host: dead.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: dead, port: {number: 80}}}}
  - host: mixed.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: mixed, port: {number: 80}}}}
  - host: h2app.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: h2app, port: {number: 80}}}}
  - host: h2empty.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: h2empty, port: {number: 80}}}}
  - host: empty.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: empty, port: {number: 80}}}}
EOF
    } >"$cfg"
    if [ -n "${WITH_TLS:-}" ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
            -subj "/CN=grpc.test" -addext "subjectAltName=DNS:grpc.test" \
            -keyout "$d/g.key" -out "$d/g.crt" 2>/dev/null
        cat >>"$cfg" <<EOF
---
kind: Secret
metadata: {name: grpc-tls}
type: kubernetes.io/tls
data: {tls.crt: $(base64 -w0 "$d/g.crt"), tls.key: $(base64 -w0 "$d/g.key")}
EOF
        TLS_PORT=$(free_port)
        start_gateway "$cfg" --threads 1 --tls-listen 127.0.0.1:$TLS_PORT --access-log "$d/access.log"
        wait_port "$TLS_PORT"
    else
        start_gateway "$cfg" --threads 1 --access-log "$d/access.log"
    fi
    GW=127.0.0.1:$GW_PORT
}

@test "gateway grpc: unary, 100 streamed messages in order, trailers with NOT_FOUND (h2c)" {
    setup_grpc_gateway
    run grpc_client "$GW" grpc.test Unary hello
    [ "$output" = "echo:hello xff=127.0.0.1" ]
    grpc_client "$GW" grpc.test Stream 100 >"$BATS_TEST_TMPDIR/stream.out"
    for i in $(seq 0 99); do printf 'msg-%03d\n' "$i"; done >"$BATS_TEST_TMPDIR/stream.expect"
    cmp "$BATS_TEST_TMPDIR/stream.out" "$BATS_TEST_TMPDIR/stream.expect"
    # grpc-status and grpc-message come back as trailers
    run grpc_client "$GW" grpc.test Fail widget
    [ "$output" = "ERR NOT_FOUND no such thing: widget" ]
    # an empty stream is a trailers-only answer with OK
    run grpc_client "$GW" grpc.test Stream 0
    [ "$output" = "" ]
    # access log lines (with the gRPC status) and per-route metrics, as for HTTP requests
    sleep 1.3
    log=$BATS_TEST_TMPDIR/access.log
    grep '"path":"/t.T/Unary"' "$log" | grep -q '"status":200,"protocol":"h2c","grpc_status":0,"route":"ingress:default/g:0:/t.T/","upstream":"127.0.0.1:'"$GRPC_PORT"'"'
    grep '"path":"/t.T/Fail"' "$log" | grep -q '"grpc_status":5,'
    [ "$(grep -c '"path":"/t.T/Stream"' "$log")" -eq 2 ]
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
        grep -q '^bosun_gateway_requests_total{route="ingress:default/g:0:/t.T/",code="2xx"} 4$'
}

@test "gateway grpc: no reachable endpoint is UNAVAILABLE, no route UNIMPLEMENTED" {
    setup_grpc_gateway
    run grpc_client "$GW" dead.test Unary x # an endpoint that refuses connections
    [ "${lines[0]%% *}" = ERR ]
    [[ "$output" == "ERR UNAVAILABLE "* ]]
    run grpc_client "$GW" empty.test Unary x # a Service without endpoints
    [ "$output" = "ERR UNAVAILABLE no healthy upstream" ]
    run grpc_client "$GW" nothere.test Unary x
    [ "$output" = "ERR UNIMPLEMENTED no route" ]
    sleep 1.3
    grep '"host":"nothere.test"' "$BATS_TEST_TMPDIR/access.log" | grep -q '"grpc_status":12,"route":""'
    # two endpoints, one refusing connections: passive outlier detection (5 consecutive
    # gateway errors, Envoy's default) ejects it, then every call succeeds
    run grpc_client "$GW" mixed.test Seq 40
    read -r _ bad _ last <<<"$output"
    [ "$bad" -ge 1 ] && [ "$bad" -le 5 ]
    [ "$last" -lt 12 ]
    # the working route still works after the failures
    run grpc_client "$GW" grpc.test Unary again
    [ "$output" = "echo:again xff=127.0.0.1" ]
}

@test "gateway grpc: 2 MB messages, bidi streaming, 50 concurrent calls, one upstream connection" {
    setup_grpc_gateway
    run grpc_client "$GW" grpc.test Big 2000000
    [ "$output" = "2000000 True" ]
    run grpc_client "$GW" grpc.test Par 50
    [ "$output" = "parallel 50" ]
    # bidirectional streaming in lock step: request messages are relayed as they come
    run grpc_client "$GW" grpc.test Chat 30
    [ "$output" = "chat 30" ]
    for i in 1 2 3; do
        [ "$(grpc_client "$GW" grpc.test Unary "n$i")" = "echo:n$i xff=127.0.0.1" ]
    done
    # one worker thread: every call above shared one h2c connection to the upstream
    n=$(ss -Htn state established "( dport = :$GRPC_PORT )" | wc -l)
    [ "$n" -eq 1 ]
    # idle for 30 s: closed by the worker's sweep; the next call opens a new one
    sleep 32
    n=$(ss -Htn state established "( dport = :$GRPC_PORT )" | wc -l)
    [ "$n" -eq 0 ]
    run grpc_client "$GW" grpc.test Unary later
    [ "$output" = "echo:later xff=127.0.0.1" ]
}

@test "gateway grpc: over TLS with ALPN h2; plain HTTP/2 requests still go the HTTP/1.1 way" {
    command -v openssl >/dev/null || skip "openssl not installed"
    WITH_TLS=1 setup_grpc_gateway
    CA=$BATS_TEST_TMPDIR/g.crt
    run grpc_client "127.0.0.1:$TLS_PORT" grpc.test Unary secure "$CA"
    [ "$output" = "echo:secure xff=127.0.0.1" ]
    run grpc_client "127.0.0.1:$TLS_PORT" grpc.test Stream 100 "$CA"
    [ "${#lines[@]}" -eq 100 ]
    [ "${lines[99]}" = msg-099 ]
    run grpc_client "127.0.0.1:$TLS_PORT" grpc.test Fail tls "$CA"
    [ "$output" = "ERR NOT_FOUND no such thing: tls" ]
    # a non-gRPC HTTP/2 request on the same listeners is bridged to HTTP/1.1 as before: the
    # gRPC server does not speak HTTP/1.1, so the gateway answers 502 itself
    run curl -s --http2-prior-knowledge -H 'Host: grpc.test' -o /dev/null -w '%{http_version} %{http_code}' \
        "http://$GW/t.T/Unary"
    [ "$output" = "2 502" ]
    run curl -s --http2 --cacert "$CA" --resolve "grpc.test:$TLS_PORT:127.0.0.1" -o /dev/null \
        -w '%{http_version} %{http_code}' "https://grpc.test:$TLS_PORT/t.T/Unary"
    [ "$output" = "2 502" ]
}

@test "gateway grpc: appProtocol kubernetes.io/h2c sends plain HTTP/2 requests over h2c too" {
    setup_grpc_gateway
    # a GET (not gRPC) reaches the gRPC server over h2c: it answers with its own gRPC error
    run curl -s --http2-prior-knowledge -H 'Host: h2app.test' -D - -o /dev/null "http://$GW/t.T/Unary"
    echo "$output" | grep -q '^HTTP/2 200'
    echo "$output" | tr -d '\r' | grep -qx 'grpc-message: Bad method header'
    # the same request to the Service without appProtocol is bridged to HTTP/1.1 (502)
    run curl -s --http2-prior-knowledge -H 'Host: grpc.test' -o /dev/null -w '%{http_code}' "http://$GW/t.T/Unary"
    [ "$output" = 502 ]
    # gRPC calls through the appProtocol Service work as well
    run grpc_client "$GW" h2app.test Unary app
    [ "$output" = "echo:app xff=127.0.0.1" ]
    # no endpoint behind an h2c backend, for a plain HTTP/2 client: an HTTP status, not gRPC
    # (the same answer as the HTTP/1.1 path gives)
    run curl -s --http2-prior-knowledge -H 'Host: h2empty.test' -w '%{http_code}' "http://$GW/x"
    [ "${lines[0]}" = "no healthy upstream" ]
    [ "${lines[1]}" = 503 ]
    run grpc_client "$GW" h2empty.test Unary x
    [ "$output" = "ERR UNAVAILABLE no healthy upstream" ]
}

@test "gateway grpc: a stopping gateway lets calls in flight finish" {
    setup_grpc_gateway
    # 20 messages 100 ms apart; SIGTERM after about 0.5 s
    grpc_client "$GW" grpc.test Stream 20,0.1 >"$BATS_TEST_TMPDIR/drain.out" 3>&- &
    cpid=$!
    sleep 0.8
    kill -TERM "$GW_PID"
    wait "$cpid"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/drain.out")" -eq 20 ]
    [ "$(tail -1 "$BATS_TEST_TMPDIR/drain.out")" = msg-019 ]
    # and new connections are refused meanwhile / afterwards
    wait "$GW_PID" || true
    run grpc_client "$GW" grpc.test Unary late
    [[ "$output" == "ERR UNAVAILABLE"* ]]
}
