#!/usr/bin/env bats
# gateway-aggregate.bats - request aggregation (GatewayPolicy aggregate): one GET fans out to
# several Services and the JSON bodies come back merged by part name; failing parts become
# null with a reason under "errors"; the query string and auth headers are passed on.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

# A JSON origin: /user -> {"id":..,"q":<query>}, /orders -> [..], /slow -> after 3 s, /text -> not JSON
start_json_upstream() {
    JS_PORT=$(free_port)
    python3 - "$JS_PORT" <<'EOF' 3>&- &
import http.server, json, sys, time, urllib.parse
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/slow":
            time.sleep(3)
        if u.path == "/user":
            body = json.dumps({"id": 7, "q": u.query, "auth": self.headers.get("Authorization"),
                               "xff": self.headers.get("X-Forwarded-For")})
        elif u.path == "/orders":
            body = json.dumps([{"order": 1}, {"order": 2}])
        elif u.path == "/text":
            body = "hello, not json"
        elif u.path == "/slow":
            body = "{}"
        else:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        b = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
    echo $! >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$JS_PORT"
}

@test "gateway aggregate: one request fans out and the JSON bodies are merged" {
    start_json_upstream
    start_upstream plain; PP=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service users "$JS_PORT"
        service orders "$JS_PORT"
        service web "$PP"
        cat <<EOF
---
kind: Ingress
metadata: {name: bff}
spec:
  rules:
  - http:
      paths:
      - {path: /profile, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /broken, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /slowagg, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: gateway.bosun.dev/v1alpha1
kind: GatewayPolicy
metadata: {name: profile}
spec:
  targetRefs: [{kind: Ingress, name: bff}]
  aggregate:
    timeout: 1s
    parts:
    - {name: user, service: users, port: 80, path: /user}
    - {name: orders, service: orders, port: 80, path: /orders}
EOF
    } >"$cfg"
    start_gateway "$cfg"
    run curl -s -D "$BATS_TEST_TMPDIR/h" -H 'Authorization: Bearer t0k' "http://127.0.0.1:$GW_PORT/profile?lang=en"
    echo "$output"
    grep -qi '^content-type: application/json' "$BATS_TEST_TMPDIR/h"
    python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["user"]["id"] == 7 and d["user"]["q"] == "lang=en", d
assert d["user"]["auth"] == "Bearer t0k" and d["user"]["xff"] == "127.0.0.1", d
assert d["orders"] == [{"order": 1}, {"order": 2}], d
assert "errors" not in d
' "$output"
    # HEAD: headers only; POST is refused
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$GW_PORT/profile")" = 405 ]
    run curl -s -I "http://127.0.0.1:$GW_PORT/profile"
    echo "$output" | grep -q '^HTTP/1.1 200'
}

@test "gateway aggregate: failing, slow and non-JSON parts become null with errors" {
    start_json_upstream
    start_upstream plain; PP=$UP_PORT
    dead=$(free_port)
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service users "$JS_PORT"
        service gone "$dead"
        service web "$PP"
        cat <<EOF
---
kind: Ingress
metadata: {name: bff}
spec:
  rules:
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
---
apiVersion: gateway.bosun.dev/v1alpha1
kind: GatewayPolicy
metadata: {name: agg}
spec:
  targetRefs: [{kind: Ingress, name: bff}]
  aggregate:
    timeout: 1s
    parts:
    - {name: user, service: users, port: 80, path: /user}
    - {name: text, service: users, port: 80, path: /text}
    - {name: slow, service: users, port: 80, path: /slow}
    - {name: down, service: gone, port: 80, path: /x}
    - {name: missing, service: nosuch, port: 80, path: /x}
EOF
    } >"$cfg"
    start_gateway "$cfg"
    start=$(date +%s%N)
    run curl -s -w '\n%{http_code}' "http://127.0.0.1:$GW_PORT/anything"
    end=$(date +%s%N)
    echo "$output"
    [ "${lines[1]}" = 200 ]
    python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["user"]["id"] == 7, d
for k in ("text", "slow", "down", "missing"):
    assert d[k] is None and k in d["errors"], (k, d)
assert d["errors"]["slow"] == "timeout" and d["errors"]["text"].startswith("invalid JSON"), d
assert d["errors"]["missing"] == "no healthy upstream", d
assert d["errors"]["down"] == "upstream connect error", d
' "${lines[0]}"
    # bounded by the 1 s timeout, not the 3 s part
    [ $(((end - start) / 1000000)) -lt 2500 ]
    # clients that give up while parts are running (the calls are cancelled)
    for i in 1 2 3; do curl -s -m 0.2 "http://127.0.0.1:$GW_PORT/anything" >/dev/null || true; done
    sleep 1.2
    # the connection stays usable and the gateway keeps working
    [ "$(curl -s "http://127.0.0.1:$GW_PORT/anything" -o /dev/null -w '%{http_code}')" = 200 ]
}
