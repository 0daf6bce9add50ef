#!/usr/bin/env bats
# gateway-otlp.bats - spans of traced routes exported as OTLP/HTTP JSON (--otlp-endpoint) to a
# small collector: ids match the traceparent sent upstream, the client's span is the parent,
# attributes and status are set, untraced routes export nothing, a dead collector costs nothing.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

start_collector() {
    COL_PORT=$(free_port)
    python3 - "$COL_PORT" "$BATS_TEST_TMPDIR/spans.jsonl" <<'EOF' 3>&- &
import http.server, json, sys
out = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        doc = json.loads(body)
        with open(out, "a") as f:
            for rs in doc["resourceSpans"]:
                svc = rs["resource"]["attributes"][0]["value"]["stringValue"]
                for ss in rs["scopeSpans"]:
                    for sp in ss["spans"]:
                        sp["service"] = svc
                        sp["path"] = self.path
                        f.write(json.dumps(sp) + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
    echo $! >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$COL_PORT"
}

otlp_config() { # CFG UPSTREAM_PORT
    {
        service s "$2"
        cat <<EOF
---
kind: Ingress
metadata: {name: traced, annotations: {gateway.bosun.dev/policy: trace}}
spec:
  rules:
  - host: traced.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}
---
kind: Ingress
metadata: {name: plain}
spec:
  rules:
  - host: plain.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}
---
apiVersion: gateway.bosun.dev/v1alpha1
kind: GatewayPolicy
metadata: {name: trace}
spec:
  tracing: {traceparent: true, requestId: true}
EOF
    } >"$1"
}

@test "gateway otlp: traced requests become OTLP spans with the forwarded ids" {
    start_upstream a; PA=$UP_PORT
    start_collector
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    otlp_config "$cfg" "$PA"
    start_gateway "$cfg" --otlp-endpoint "http://127.0.0.1:$COL_PORT"
    tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
    echo=$(curl -s -H "Host: traced.test" -H "traceparent: $tp" "http://127.0.0.1:$GW_PORT/echo")
    fwd=$(echo "$echo" | grep -i '^traceparent:' | tr -d '\r' | awk '{print $2}')
    [ "${fwd:3:32}" = 4bf92f3577b34da6a3ce929d0e0e4736 ]
    span_id=${fwd:36:16}
    curl -s -H "Host: traced.test" "http://127.0.0.1:$GW_PORT/status/503" >/dev/null
    curl -s -H "Host: plain.test" -H "traceparent: $tp" "http://127.0.0.1:$GW_PORT/name" >/dev/null
    for _ in $(seq 1 60); do
        [ -f "$BATS_TEST_TMPDIR/spans.jsonl" ] && [ "$(wc -l <"$BATS_TEST_TMPDIR/spans.jsonl")" -ge 2 ] && break
        sleep 0.1
    done
    cat "$BATS_TEST_TMPDIR/spans.jsonl"
    run python3 - "$BATS_TEST_TMPDIR/spans.jsonl" "$span_id" <<'EOF'
import json, sys
spans = [json.loads(l) for l in open(sys.argv[1])]
assert len(spans) == 2, len(spans)
a = spans[0] if spans[0]["spanId"] == sys.argv[2] else spans[1]
b = spans[1] if a is spans[0] else spans[0]
attrs = lambda s: {x["key"]: list(x["value"].values())[0] for x in s["attributes"]}
assert a["path"] == "/v1/traces" and a["service"] == "bosun-gateway"
assert a["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736", a
assert a["parentSpanId"] == "00f067aa0ba902b7", a
assert a["kind"] == 2 and a["name"] == "GET ingress:default/traced:0:/", a["name"]
assert int(a["endTimeUnixNano"]) >= int(a["startTimeUnixNano"]) > 1.7e18
at = attrs(a)
assert at["http.request.method"] == "GET" and at["url.path"] == "/echo", at
assert at["http.response.status_code"] == "200" and at["server.address"] == "traced.test", at
assert at["bosun.upstream"].startswith("127.0.0.1:") and a["status"]["code"] == 0
# a request without traceparent starts a trace: no parent; a 503 is an error span
assert "parentSpanId" not in b and len(b["traceId"]) == 32 and b["traceId"] != a["traceId"]
assert attrs(b)["http.response.status_code"] == "503" and b["status"]["code"] == 2
print("ok")
EOF
    echo "$output"
    [ "$output" = ok ]
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q '^bosun_gateway_otlp_spans_exported_total 2'
}

@test "gateway otlp: an unreachable collector drops spans without hurting requests" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    otlp_config "$cfg" "$PA"
    dead=$(free_port)
    start_gateway "$cfg" --otlp-endpoint "http://127.0.0.1:$dead/v1/traces"
    for i in $(seq 1 50); do
        [ "$(curl -s -H 'Host: traced.test' "http://127.0.0.1:$GW_PORT/name")" = a ]
    done
    for _ in $(seq 1 50); do
        curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q '^bosun_gateway_otlp_spans_dropped_total 50' && break
        sleep 0.1
    done
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep '^bosun_gateway_otlp'
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q '^bosun_gateway_otlp_spans_dropped_total 50'
}
