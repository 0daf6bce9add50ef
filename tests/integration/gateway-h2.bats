#!/usr/bin/env bats
# gateway-h2.bats - HTTP/2 to clients on the gateway's TLS listeners (ALPN h2, h2front.c):
# routing and forwarded headers, a 5 MB response and a streaming (chunked, slow) response
# through HTTP/2 flow control, concurrent streams on one connection, request bodies, HEAD,
# a client cutting a stream short, and HTTP/1.1 over TLS next to it.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

# A Python origin: /big = 5 MiB with Content-Length, /stream = 20 chunks of 100 kB, 20 ms apart.
start_py_upstream() {
    PY_PORT=$(free_port)
    python3 - "$PY_PORT" <<'EOF' 3>&- &
import http.server, sys, time
BIG = bytes((i * 7 + i // 4096) % 251 for i in range(5 << 20))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.endswith("/big"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(BIG)))
            self.end_headers()
            self.wfile.write(BIG)
        elif self.path.endswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(20):
                data = ("line %02d " % i).encode() + b"x" * 100000 + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
    echo $! >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$PY_PORT"
}

setup_h2_gateway() {
    command -v openssl >/dev/null || skip "openssl not installed"
    curl -V | grep -q HTTP2 || skip "curl without HTTP/2"
    start_upstream small
    start_py_upstream
    d=$BATS_TEST_TMPDIR
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj "/CN=h2.test" -addext "subjectAltName=DNS:h2.test" \
        -keyout "$d/h2.key" -out "$d/h2.crt" 2>/dev/null
    cfg=$d/cfg.yaml
    {
        service small "$UP_PORT"
        service py "$PY_PORT"
        cat <<EOF
---
kind: Secret
metadata: {name: h2-tls}
type: kubernetes.io/tls
data: {tls.crt: $(base64 -w0 "$d/h2.crt"), tls.key: $(base64 -w0 "$d/h2.key")}
---
kind: Ingress
metadata: {name: h2}
spec:
  tls: [{hosts: [h2.test], secretName: h2-tls}]
  rules:
  - host: h2.test
    http:
      paths:
      - {path: /py, pathType: Prefix, backend: {service: {name: py, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: small, port: {number: 80}}}}
EOF
    } >"$cfg"
    TLS_PORT=$(free_port)
    start_gateway "$cfg" --tls-listen 127.0.0.1:$TLS_PORT --access-log "$d/access.log"
    wait_port "$TLS_PORT"
    CURL=(curl -s --cacert "$d/h2.crt" --resolve "h2.test:$TLS_PORT:127.0.0.1")
    BASE=https://h2.test:$TLS_PORT
}

@test "gateway h2: ALPN h2 requests are routed with the HTTP/1.1 semantics (headers, HEAD, bodies)" {
    setup_h2_gateway
    run "${CURL[@]}" --http2 -w '\n%{http_version}' "$BASE/name"
    [ "${lines[0]}" = small ]
    [ "${lines[1]}" = 2 ]
    # what the upstream received: HTTP/1.1 with the forwarded headers of a TLS client
    out=$("${CURL[@]}" --http2 -H 'X-Custom: yes' "$BASE/echo")
    echo "$out" | grep -q '^GET /echo HTTP/1.1'
    echo "$out" | grep -q '^Host: h2.test'
    echo "$out" | grep -q '^x-custom: yes'
    echo "$out" | grep -q '^X-Forwarded-Proto: https'
    echo "$out" | grep -q '^X-Forwarded-For: 127.0.0.1'
    # response headers come through (lower-cased by HTTP/2), hop-by-hop ones do not
    hdrs=$("${CURL[@]}" --http2 -D - -o /dev/null "$BASE/name")
    echo "$hdrs" | grep -q '^HTTP/2 200'
    echo "$hdrs" | grep -qi '^x-upstream: small'
    ! echo "$hdrs" | grep -qi '^connection:'
    # HEAD: headers only
    run "${CURL[@]}" --http2 -I "$BASE/name"
    echo "$output" | grep -qi '^content-length: 6'
    # a request body of 2 MB reaches the upstream whole
    head -c 2000000 /dev/urandom >"$BATS_TEST_TMPDIR/body"
    "${CURL[@]}" --http2 -D - -o /dev/null --data-binary @"$BATS_TEST_TMPDIR/body" "$BASE/x" |
        grep -qi '^x-body-bytes: 2000000'
    # unknown routes and upstream statuses keep their codes
    [ "$("${CURL[@]}" --http2 -o /dev/null -w '%{http_code}' "$BASE/status/418")" = 418 ]
    # the access log has the requests with their routes
    sleep 1.2
    grep -q '"path":"/name".*"route":"ingress:default/h2:0:/"' "$BATS_TEST_TMPDIR/access.log"
}

@test "gateway h2: a 5 MB response and a slow streamed response arrive intact" {
    setup_h2_gateway
    python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + i // 4096) % 251 for i in range(5 << 20)))' \
        >"$BATS_TEST_TMPDIR/big.expect"
    for i in 1 2 3; do
        run "${CURL[@]}" --http2 -o "$BATS_TEST_TMPDIR/big.out" -w '%{http_version} %{http_code} %{size_download}' "$BASE/py/big"
        [ "$output" = "2 200 5242880" ]
        cmp "$BATS_TEST_TMPDIR/big.out" "$BATS_TEST_TMPDIR/big.expect"
    done
    # a slow reader: flow control and the gateway's backpressure, not buffering, pace it
    run "${CURL[@]}" --http2 --limit-rate 1M -o "$BATS_TEST_TMPDIR/big.out" -w '%{http_code} %{size_download}' "$BASE/py/big"
    [ "$output" = "200 5242880" ]
    cmp "$BATS_TEST_TMPDIR/big.out" "$BATS_TEST_TMPDIR/big.expect"
    # streaming: 20 chunks over ~0.4 s, the first bytes arrive before the end
    "${CURL[@]}" --http2 -N "$BASE/py/stream" | while read -r l; do
        echo "$(date +%s%N) ${l:0:7}"
    done >"$BATS_TEST_TMPDIR/stream.out"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/stream.out")" -eq 20 ]
    first=$(head -1 "$BATS_TEST_TMPDIR/stream.out" | cut -d' ' -f1)
    last=$(tail -1 "$BATS_TEST_TMPDIR/stream.out" | cut -d' ' -f1)
    [ $(((last - first) / 1000000)) -ge 200 ]
    grep -q 'line 19' "$BATS_TEST_TMPDIR/stream.out"
}

@test "gateway h2: concurrent streams on one connection, a cut stream, HTTP/1.1 over TLS too" {
    setup_h2_gateway
    urls=()
    for i in $(seq 1 40); do urls+=("$BASE/name?i=$i"); done
    out=$("${CURL[@]}" --http2 --parallel --parallel-max 40 --no-progress-meter "${urls[@]}" 2>/dev/null)
    [ "$(echo "$out" | grep -o small | wc -l)" -eq 40 ]
    # a client that goes away in the middle of 5 MB streams
    for i in 1 2 3; do
        timeout 0.3 "${CURL[@]}" --http2 --limit-rate 500k -o /dev/null "$BASE/py/big" || true
    done
    [ "$("${CURL[@]}" --http2 "$BASE/name")" = small ]
    run "${CURL[@]}" --http1.1 -o /dev/null -w '%{http_version} %{size_download}' "$BASE/py/big"
    [ "$output" = "1.1 5242880" ]
    # HTTP/2 connections and their streams are gone after use (nothing leaks in the gateway)
    sleep 0.5
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q '^bosun_gateway_connections 0'
}

@test "gateway h2: HTTP/2 with prior knowledge (h2c) on the plain listener" {
    setup_h2_gateway
    run curl -s --http2-prior-knowledge -H 'Host: h2.test' -w '\n%{http_version}' "http://127.0.0.1:$GW_PORT/name"
    [ "${lines[0]}" = small ]
    [ "${lines[1]}" = 2 ]
    out=$(curl -s --http2-prior-knowledge -H 'Host: h2.test' "http://127.0.0.1:$GW_PORT/echo")
    echo "$out" | tr -d '\r' | grep -qx 'X-Forwarded-Proto: http'
    run curl -s --http2-prior-knowledge -H 'Host: h2.test' -o /dev/null -w '%{size_download}' "http://127.0.0.1:$GW_PORT/py/big"
    [ "$output" = 5242880 ]
    # HTTP/1.1 on the same listener is unaffected (including a POST, which starts with P)
    [ "$(curl -s -H 'Host: h2.test' -d x "http://127.0.0.1:$GW_PORT/name")" = small ]
}
