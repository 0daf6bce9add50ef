#!/usr/bin/env bats
# gateway-compress.bats - brotli next to gzip (compression: {gzip: true, brotli: true}): br is
# chosen when the client accepts it, gzip otherwise, identity for clients that accept neither;
# the decoded bodies equal the upstream's.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

@test "gateway compress: brotli preferred when accepted, gzip otherwise, bodies intact" {
    curl -V | grep -qi brotli || skip "curl without brotli"
    gw_find_binary
    ldd "${GW_CMD[0]}" 2>/dev/null | grep -q brotlienc || skip "gateway built without brotli"
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        cat <<EOF
---
kind: Ingress
metadata: {name: z, annotations: {gateway.bosun.dev/policy: z}}
spec:
  rules:
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}
---
apiVersion: gateway.bosun.dev/v1alpha1
kind: GatewayPolicy
metadata: {name: z}
spec:
  compression: {gzip: true, brotli: true, minSize: 100}
EOF
    } >"$cfg"
    start_gateway "$cfg"
    u=http://127.0.0.1:$GW_PORT/gzip-text
    plain=$(curl -s -H 'Accept-Encoding: identity' "$u")
    [ "${#plain}" -gt 1000 ]
    run curl -s -D - -o "$BATS_TEST_TMPDIR/br" -H 'Accept-Encoding: gzip, deflate, br' "$u"
    echo "$output" | grep -qi '^content-encoding: br'
    echo "$output" | grep -qi '^vary: accept-encoding'
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/br")" -lt $((${#plain} / 3)) ]
    [ "$(curl -s --compressed -H 'Accept-Encoding: br' "$u")" = "$plain" ]
    run curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' "$u"
    echo "$output" | grep -qi '^content-encoding: gzip'
    [ "$(curl -s --compressed -H 'Accept-Encoding: gzip' "$u")" = "$plain" ]
    run curl -s -D - -o /dev/null -H 'Accept-Encoding: br;q=0, gzip' "$u"
    echo "$output" | grep -qi '^content-encoding: gzip'
    run curl -s -D - -o /dev/null "$u"
    ! echo "$output" | grep -qi '^content-encoding'
}
