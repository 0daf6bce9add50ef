#!/usr/bin/env bats
# gateway-security.bats - IP allow/deny lists (403), CORS (preflight 204/403, response headers
# for allowed origins only), and the retry budget (20% of active requests by default) keeping
# retries from multiplying load on a failing backend.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

@test "gateway security: ipAllow and ipDeny answer 403 to other clients" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        policy_ingress allow-lo allow.test s '  ipAllow: [127.0.0.0/8]'
        policy_ingress allow-other other.test s '  ipAllow: [10.0.0.0/8, "::1"]'
        policy_ingress deny-lo deny.test s '  ipDeny: [127.0.0.1/32]'
    } >"$cfg"
    start_gateway "$cfg"
    u=http://127.0.0.1:$GW_PORT/name
    [ "$(curl -s -H 'Host: allow.test' "$u")" = a ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: other.test' "$u")" = 403 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: deny.test' "$u")" = 403 ]
}

@test "gateway security: CORS preflight and response headers for allowed origins only" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        policy_ingress cors cors.test s '  cors:
    allowOrigins: ["https://shop.example"]
    allowMethods: [GET, POST]
    allowHeaders: [Content-Type]
    exposeHeaders: [X-Upstream]
    allowCredentials: true
    maxAge: 600'
    } >"$cfg"
    start_gateway "$cfg"
    u=http://127.0.0.1:$GW_PORT/name
    run curl -s -D - -o /dev/null -X OPTIONS -H 'Host: cors.test' -H 'Origin: https://shop.example' \
        -H 'Access-Control-Request-Method: POST' "$u"
    echo "$output"
    echo "$output" | grep -q '^HTTP/1.1 204'
    echo "$output" | grep -qi '^access-control-allow-origin: https://shop.example'
    echo "$output" | grep -qi '^access-control-allow-methods: GET, POST'
    echo "$output" | grep -qi '^access-control-max-age: 600'
    echo "$output" | grep -qi '^access-control-allow-credentials: true'
    # a foreign origin's preflight is refused
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS -H 'Host: cors.test' -H 'Origin: https://evil.example' \
        -H 'Access-Control-Request-Method: POST' "$u")" = 403 ]
    # actual requests: headers for the allowed origin, none for others
    run curl -s -D - -o /dev/null -H 'Host: cors.test' -H 'Origin: https://shop.example' "$u"
    echo "$output" | grep -qi '^access-control-allow-origin: https://shop.example'
    echo "$output" | grep -qi '^access-control-expose-headers: X-Upstream'
    run curl -s -D - -o /dev/null -H 'Host: cors.test' -H 'Origin: https://evil.example' "$u"
    ! echo "$output" | grep -qi '^access-control-allow-origin'
}

@test "gateway security: the retry budget caps retries under concurrent failures" {
    start_upstream bad -e 503; PB=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PB"
        policy_ingress budget budget.test s '  retries: {attempts: 5, on: [5xx], backoff: 1ms, budgetPercent: 20}
  outlierDetection: {consecutive5xx: 0}'
    } >"$cfg"
    start_gateway "$cfg" --threads 1
    command -v wrk >/dev/null || skip "wrk not installed"
    # 32 connections of failing requests: without a budget each would be tried 5 times
    wrk -t1 -c32 -d2s -H 'Host: budget.test' "http://127.0.0.1:$GW_PORT/x" >"$BATS_TEST_TMPDIR/wrk.txt" 2>&1
    reqs=$(awk '/requests in/ {print $1}' "$BATS_TEST_TMPDIR/wrk.txt")
    tries=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^bosun_gateway_upstream_requests_total/ {s += $2} END {print s}')
    echo "client requests: $reqs, upstream tries: $tries" >&3
    [ "$reqs" -gt 100 ]
    # at most ~20% of the active requests are retries (plus the minimum of 3 concurrent)
    [ "$tries" -lt $((reqs * 3 / 2)) ]
}
