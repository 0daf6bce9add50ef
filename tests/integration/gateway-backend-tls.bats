#!/usr/bin/env bats
# gateway-backend-tls.bats - TLS to upstreams (GatewayPolicy backendTLS): SNI and certificate
# verification against a CA from a Secret, keep-alive reuse, a wrong hostname or an untrusted
# CA refused (502), insecureSkipVerify, and large bodies both ways through the TLS shim.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

make_pki() { # -> $D/ca.crt, $D/srv.crt, $D/srv.key for DNS:auth.internal
    D=$BATS_TEST_TMPDIR
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=test CA" \
        -keyout "$D/ca.key" -out "$D/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=auth.internal" \
        -keyout "$D/srv.key" -out "$D/srv.csr" 2>/dev/null
    printf 'subjectAltName=DNS:auth.internal\n' >"$D/ext"
    openssl x509 -req -in "$D/srv.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial -days 1 \
        -extfile "$D/ext" -out "$D/srv.crt" 2>/dev/null
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=other CA" \
        -keyout "$D/other.key" -out "$D/other.crt" 2>/dev/null
}

start_tls_upstream() { # HTTPS origin: /name -> "tls <SNI>", /echo -> request body length, /big -> 3 MB
    TLS_UP=$(free_port)
    python3 - "$TLS_UP" "$D/srv.crt" "$D/srv.key" <<'EOF' 3>&- &
import http.server, ssl, sys
sni = {}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.endswith("/big"):
            self.reply(b"b" * 3000000)
        else:
            self.reply(("tls %s %s\n" % (sni.get("name"), self.headers.get("Host"))).encode())
    def do_POST(self):
        n = int(self.headers["Content-Length"])
        data = self.rfile.read(n)
        self.reply(("%d\n" % len(data)).encode())
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
def cb(sock, name, c):
    sni["name"] = name
ctx.sni_callback = cb
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
    echo $! >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$TLS_UP"
}

backend_tls_config() { # TLS-SPEC-YAML
    service auth "$TLS_UP"
    cat <<EOF
---
kind: Secret
metadata: {name: auth-ca}
stringData:
  ca.crt: |
$(sed 's/^/    /' "$D/ca.crt")
---
kind: Ingress
metadata: {name: auth}
spec:
  rules:
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: auth, port: {number: 80}}}}]}
---
apiVersion: gateway.bosun.dev/v1alpha1
kind: GatewayPolicy
metadata: {name: auth-tls}
spec:
  targetRefs: [{kind: Service, name: auth}]
  backendTLS: $1
EOF
}

@test "gateway backend TLS: verified against the CA from a Secret, with SNI, bodies both ways" {
    command -v openssl >/dev/null || skip "openssl not installed"
    make_pki
    start_tls_upstream
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    backend_tls_config '{hostname: auth.internal, caSecretRef: {name: auth-ca}}' >"$cfg"
    start_gateway "$cfg"
    run curl -s "http://127.0.0.1:$GW_PORT/name"
    echo "$output"
    [ "$output" = "tls auth.internal 127.0.0.1:$GW_PORT" ]
    # keep-alive: several requests, one TLS connection reused
    for i in 1 2 3 4 5; do [ "$(curl -s "http://127.0.0.1:$GW_PORT/name")" = "$output" ]; done
    connects=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^bosun_gateway_upstream_connects_total/ {s += $2} END {print s}')
    [ "$connects" -le 2 ]
    # 3 MB down, 2 MB up
    [ "$(curl -s "http://127.0.0.1:$GW_PORT/big" | wc -c)" -eq 3000000 ]
    head -c 2000000 /dev/urandom >"$BATS_TEST_TMPDIR/body"
    [ "$(curl -s --data-binary @"$BATS_TEST_TMPDIR/body" "http://127.0.0.1:$GW_PORT/echo")" = 2000000 ]
}

@test "gateway backend TLS: a wrong hostname or an untrusted CA is refused (502); insecureSkipVerify connects" {
    command -v openssl >/dev/null || skip "openssl not installed"
    make_pki
    start_tls_upstream
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    backend_tls_config '{hostname: wrong.internal, caSecretRef: {name: auth-ca}}' >"$cfg"
    start_gateway "$cfg"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_PORT/name")" = 502 ]
    grep -q 'handshake failed' "$BATS_TEST_TMPDIR/gateway.log"
    # the System CAs do not know our test CA
    backend_tls_config '{hostname: auth.internal, wellKnownCACertificates: System}' >"$cfg.new"
    mv "$cfg.new" "$cfg"
    kill -HUP "$GW_PID"
    sleep 0.3
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_PORT/name")" = 502 ]
    backend_tls_config '{hostname: auth.internal, insecureSkipVerify: true}' >"$cfg.new"
    mv "$cfg.new" "$cfg"
    kill -HUP "$GW_PID"
    sleep 0.3
    [ "$(curl -s "http://127.0.0.1:$GW_PORT/name")" = "tls auth.internal 127.0.0.1:$GW_PORT" ]
}
