#!/usr/bin/env bats
# gateway-jwks.bats - JWT keys from a JWK Set URL (spec.auth.jwt.jwksUri): fetched in the
# background and compiled in (claims forwarded), tokens rejected until the first fetch (fail
# closed) and with a wrong key.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

@test "gateway jwks: keys fetched from jwksUri verify tokens" {
    start_upstream a; PA=$UP_PORT
    JW_PORT=$(free_port)
    d=$BATS_TEST_TMPDIR
    jwk() { python3 -c 'import base64,json,sys; print(json.dumps({"keys": [{"kty": "oct", "kid": sys.argv[1], "alg": "HS256", "k": base64.urlsafe_b64encode(sys.argv[2].encode()).rstrip(b"=").decode()}]}))' "$@"; }
    jwk k1 first-secret >"$d/jwks.json"
    # the JWKS server answers slowly at first, so the first requests come before the keys
    python3 - "$JW_PORT" "$d/jwks.json" <<'EOF' 3>&- &
import http.server, sys, time
start = time.time()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if time.time() - start < 1.0:
            time.sleep(1.0)
        body = open(sys.argv[2], "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
    echo $! >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$JW_PORT"
    cfg=$d/cfg.yaml
    {
        service s "$PA"
        cat <<EOF
---
kind: Ingress
metadata: {name: i}
spec:
  rules:
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}
---
kind: GatewayPolicy
metadata: {name: jwt}
spec:
  targetRefs: [{kind: Ingress, name: i}]
  auth:
    jwt:
      jwksUri: http://127.0.0.1:$JW_PORT/.well-known/jwks.json
      issuer: bosun
      claimsToHeaders: [{claim: sub, header: X-User}]
EOF
    } >"$cfg"
    token() {
        python3 - "$@" <<'EOF'
import base64, hashlib, hmac, json, sys, time
def b(x): return base64.urlsafe_b64encode(x).rstrip(b"=")
claims = {"sub": "alice", "iss": "bosun", "exp": int(time.time()) + 300}
m = b(json.dumps({"alg": "HS256", "typ": "JWT", "kid": sys.argv[1]}).encode()) + b"." + b(json.dumps(claims).encode())
print((m + b"." + b(hmac.new(sys.argv[2].encode(), m, hashlib.sha256).digest())).decode())
EOF
    }
    start_gateway "$cfg"
    u=http://127.0.0.1:$GW_PORT/echo
    t1=$(token k1 first-secret)
    # before the JWK Set arrived: rejected, never let through
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $t1" "$u")" = 401 ]
    for _ in $(seq 1 50); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $t1" "$u")" = 200 ] && break
        sleep 0.1
    done
    curl -s -H "Authorization: Bearer $t1" "$u" | grep -q '^X-User: alice'
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(token k1 wrong)" "$u")" = 401 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$u")" = 401 ]
}
