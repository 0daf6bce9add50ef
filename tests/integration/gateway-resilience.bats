#!/usr/bin/env bats
# gateway-resilience.bats - GatewayPolicy fallback responses (instead of the gateway's own
# 502/503/504), per-route concurrency limits (503 + Retry-After beyond maxRequests in flight),
# and the rejection counters in /metrics.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

@test "gateway resilience: fallback response replaces the gateway's 503, not the upstream's statuses" {
    start_upstream a; PA=$UP_PORT
    dead=$(free_port)
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        service gone "$dead"
        policy_ingress fb-dead dead.test gone '  fallback: {status: 200, body: "{\"items\":[]}", contentType: application/json}'
        policy_ingress fb-live live.test s '  fallback: {status: 200, body: "fallback"}'
    } >"$cfg"
    start_gateway "$cfg"
    run curl -s -D "$BATS_TEST_TMPDIR/h" -H 'Host: dead.test' "http://127.0.0.1:$GW_PORT/x"
    [ "$output" = '{"items":[]}' ]
    grep -q '^HTTP/1.1 200' "$BATS_TEST_TMPDIR/h"
    grep -qi '^content-type: application/json' "$BATS_TEST_TMPDIR/h"
    grep -qi '^x-bosun-fallback: 503' "$BATS_TEST_TMPDIR/h"
    # an upstream's own 502 passes through untouched
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: live.test' "http://127.0.0.1:$GW_PORT/status/502")" = 502 ]
    [ "$(curl -s -H 'Host: live.test' "http://127.0.0.1:$GW_PORT/name")" = a ]
}

@test "gateway resilience: concurrency limit answers 503 beyond maxRequests in flight" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        policy_ingress conc conc.test s '  concurrency: {maxRequests: 2}'
        policy_ingress rl rl.test s '  rateLimit: {requests: 2, per: 1m, burst: 2, key: route}'
    } >"$cfg"
    start_gateway "$cfg" --threads 1
    pids=()
    for i in 1 2 3 4 5; do
        curl -s -o /dev/null -D "$BATS_TEST_TMPDIR/h$i" -w '%{http_code}\n' -H 'Host: conc.test' \
            "http://127.0.0.1:$GW_PORT/sleep/600" >"$BATS_TEST_TMPDIR/code$i" 3>&- &
        pids+=($!)
    done
    wait "${pids[@]}"
    cat "$BATS_TEST_TMPDIR"/code*
    [ "$(cat "$BATS_TEST_TMPDIR"/code* | grep -c 200)" -eq 2 ]
    [ "$(cat "$BATS_TEST_TMPDIR"/code* | grep -c 503)" -eq 3 ]
    cat "$BATS_TEST_TMPDIR"/h* | grep -qi '^x-bosun-overflow: concurrency'
    cat "$BATS_TEST_TMPDIR"/h* | grep -qi '^retry-after: 1'
    # the slots are released once the requests finish
    [ "$(curl -s -H 'Host: conc.test' "http://127.0.0.1:$GW_PORT/name")" = a ]
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q '^bosun_gateway_concurrency_rejected_total{route="ingress:default/conc:0:/"} 3'
    # rate-limit rejections are counted per route too
    for i in 1 2 3; do curl -s -o /dev/null -H 'Host: rl.test' "http://127.0.0.1:$GW_PORT/name"; done
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q '^bosun_gateway_ratelimited_total{route="ingress:default/rl:0:/"} 1'
}
