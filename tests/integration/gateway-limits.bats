#!/usr/bin/env bats
# gateway-limits.bats - GatewayPolicy limits.maxRequestBodySize: 413 for a Content-Length over
# the limit (before anything reaches the upstream) and for a chunked body that grows past it.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

@test "gateway limits: request bodies over maxRequestBodySize get 413" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        cat <<EOF
---
kind: Ingress
metadata: {name: lim, annotations: {gateway.bosun.dev/policy: small-bodies}}
spec:
  rules:
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}
---
apiVersion: gateway.bosun.dev/v1alpha1
kind: GatewayPolicy
metadata: {name: small-bodies}
spec:
  limits: {maxRequestBodySize: 1Ki}
EOF
    } >"$cfg"
    start_gateway "$cfg"
    head -c 1024 /dev/zero >"$BATS_TEST_TMPDIR/ok"
    head -c 1025 /dev/zero >"$BATS_TEST_TMPDIR/big"
    url=http://127.0.0.1:$GW_PORT/echo
    [ "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$BATS_TEST_TMPDIR/ok" "$url")" = 200 ]
    run curl -s -D - --data-binary @"$BATS_TEST_TMPDIR/big" "$url"
    echo "$output"
    echo "$output" | grep -q '^HTTP/1.1 413'
    echo "$output" | grep -q '^Connection: close'
    # chunked: the body is streamed until it passes the limit
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$BATS_TEST_TMPDIR/ok" "$url")" = 200 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$BATS_TEST_TMPDIR/big" "$url")" = 413 ]
    # requests without a body are not affected, and the gateway keeps serving
    [ "$(curl -s "http://127.0.0.1:$GW_PORT/name")" = a ]
}
