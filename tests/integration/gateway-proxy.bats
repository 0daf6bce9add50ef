#!/usr/bin/env bats
# gateway-proxy.bats - the gateway as a reverse proxy against real backends: routing tables
# (Ingress + HTTPRoute), weights, retries, outlier ejection, rate limiting, auth, failure
# statuses, request limits, pipelining, chunked bodies, WebSocket tunnels, metrics, hot reload.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

ingress_for() { # NAME HOST PATH SERVICE [pathType]
    cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $1, namespace: default}
spec:
  ingressClassName: bosun
  rules:
  - host: "$2"
    http: {paths: [{path: "$3", pathType: ${5:-Prefix}, backend: {service: {name: $4, port: {number: 80}}}}]}
EOF
}

@test "gateway: routes Ingress and HTTPRoute by host and path, 404 without a route" {
    start_upstream a; PA=$UP_PORT
    start_upstream b; PB=$UP_PORT
    start_upstream c; PC=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service sa "$PA"; service sb "$PB"; service sc "$PC"
        ingress_for i1 a.test / sa
        ingress_for i2 a.test /b sb
        ingress_for i3 a.test /b/exact sc Exact
        cat <<EOF
---
kind: Ingress
metadata: {name: rw, annotations: {gateway.bosun.dev/rewrite-target: /new}}
spec:
  rules: [{host: rw.test, http: {paths: [{path: /old, pathType: Prefix, backend: {service: {name: sa, port: {number: 80}}}}]}}]
EOF
        cat <<EOF
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec: {gatewayClassName: bosun, listeners: [{name: http, port: 80, protocol: HTTP}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [api.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v2}, headers: [{name: x-env, value: canary}]}]
    backendRefs: [{name: sc, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /v2}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]
    backendRefs: [{name: sb, port: 80}]
EOF
    } >"$cfg"
    start_gateway "$cfg"
    u=http://127.0.0.1:$GW_PORT
    [ "$(curl -s -H 'Host: a.test' $u/name)" = a ]
    [ "$(curl -s -H 'Host: a.test' $u/b/name)" = b ]
    [ "$(curl -s -H 'Host: a.test' $u/bname/name)" = a ]
    [ "$(curl -s -H 'Host: A.TEST:80' $u/b/exact)" = "$(curl -s -H 'Host: a.test' $u/b/exact)" ]
    [ "$(curl -s -H 'Host: a.test' $u/b/exact -D - -o /dev/null | grep -i x-upstream | tr -d '\r')" = "X-Upstream: c" ]
    [ "$(curl -s -H 'Host: api.test' $u/v2/name)" = b ]
    [ "$(curl -s -H 'Host: api.test' -H 'x-env: canary' $u/v2/name -D - -o /dev/null | grep -i x-upstream | tr -d '\r')" = "X-Upstream: c" ]
    # an Ingress annotation rewrites the matched prefix
    curl -s -H 'Host: rw.test' "$u/old/echo" | grep -q '^GET /new/echo HTTP/1.1'
    # the rewrite strips /v2: the upstream sees /echo
    curl -s -H 'Host: api.test' "$u/v2/echo?q=1" | grep -q '^GET /echo?q=1 HTTP/1.1'
    # forwarded headers
    curl -s -H 'Host: a.test' -H 'X-Forwarded-For: 10.1.1.1' $u/echo | grep -q '^X-Forwarded-For: 10.1.1.1, 127.0.0.1'
    curl -s -H 'Host: a.test' $u/echo | grep -q '^X-Forwarded-Host: a.test'
    run curl -s -o /dev/null -w '%{http_code}' -H 'Host: nope.test' $u/
    [ "$output" = 404 ]
    run curl -s -o /dev/null -w '%{http_code}' -H 'Host: api.test' $u/v3
    [ "$output" = 404 ]
}

@test "gateway: weighted backends split 2,000 requests within 5%" {
    start_upstream v1; P1=$UP_PORT
    start_upstream v2; P2=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s1 "$P1"; service s2 "$P2"
        cat <<EOF
---
kind: Gateway
metadata: {name: gw}
spec: {gatewayClassName: bosun, listeners: [{name: http, port: 80}]}
---
kind: HTTPRoute
metadata: {name: canary}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: s1, port: 80, weight: 75}, {name: s2, port: 80, weight: 25}]}]
EOF
    } >"$cfg"
    start_gateway "$cfg"
    run count_names "http://127.0.0.1:$GW_PORT/name" 2000
    echo "$output"
    v1=$(echo "$output" | awk '$1 == "v1" {print $2}')
    v2=$(echo "$output" | awk '$1 == "v2" {print $2}')
    [ $((v1 + v2)) -eq 2000 ]
    [ "$v1" -ge 1400 ] && [ "$v1" -le 1600 ]
}

@test "gateway: round robin over endpoints, retries reach a healthy replica" {
    start_upstream good; PG=$UP_PORT
    start_upstream bad -e 503; PBAD=$UP_PORT
    DEAD=$(free_port) # nothing listens: connect refused
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PG" "$PBAD" "$DEAD"
        ingress_for i "" / s
        cat <<EOF
---
kind: GatewayPolicy
apiVersion: gateway.bosun.dev/v1alpha1
metadata: {name: p}
spec:
  targetRefs: [{kind: Service, name: s}]
  retries: {attempts: 3, on: [5xx, connect-failure, reset]}
  outlierDetection: {consecutive5xx: 0}
EOF
    } >"$cfg"
    start_gateway "$cfg" --threads 1
    run count_names "http://127.0.0.1:$GW_PORT/name" 300
    echo "$output"
    [ "$output" = "good 300" ]
}

@test "gateway: passive outlier detection ejects a failing endpoint" {
    start_upstream good; PG=$UP_PORT
    start_upstream bad -e 500; PBAD=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PG" "$PBAD"
        ingress_for i "" / s
        cat <<EOF
---
kind: GatewayPolicy
metadata: {name: p}
spec:
  targetRefs: [{kind: Service, name: s}]
  retries: {attempts: 1}
  outlierDetection: {consecutive5xx: 5, baseEjectionTime: 30s, maxEjectionPercent: 50}
EOF
    } >"$cfg"
    start_gateway "$cfg" --threads 1
    run count_names "http://127.0.0.1:$GW_PORT/name" 200
    echo "$output"
    fails=$(echo "$output" | awk '$1 == "status-500" {print $2}')
    [ "$fails" -eq 5 ] # round robin alternates: 5 failures, then the endpoint is ejected
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep "upstream_ejections_total{endpoint=\"127.0.0.1:$PBAD\"} 1"
}

@test "gateway: local rate limit answers 429 with Retry-After and RateLimit headers" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        ingress_for limited "" / s
        cat <<EOF
---
kind: GatewayPolicy
metadata: {name: rl}
spec:
  targetRefs: [{group: networking.k8s.io, kind: Ingress, name: limited}]
  rateLimit: {requests: 5, per: 1m, key: clientIP}
EOF
    } >"$cfg"
    start_gateway "$cfg"
    run count_names "http://127.0.0.1:$GW_PORT/name" 12
    echo "$output"
    [ "$(echo "$output" | awk '$1 == "a" {print $2}')" = 5 ]
    [ "$(echo "$output" | awk '$1 == "status-429" {print $2}')" = 7 ]
    run curl -s -D - -o /dev/null "http://127.0.0.1:$GW_PORT/"
    echo "$output" | grep -q '^HTTP/1.1 429'
    echo "$output" | grep -qi '^Retry-After: [0-9]'
    echo "$output" | grep -qi '^RateLimit-Remaining: 0'
}

@test "gateway: API key and Basic auth accept valid credentials and reject others" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        ingress_for keyed key.test / s
        ingress_for basic basic.test / s
        cat <<EOF
---
kind: Secret
metadata: {name: keys}
data: {ci: $(printf 's3cr3t' | base64)}
---
kind: Secret
metadata: {name: users}
type: kubernetes.io/basic-auth
stringData: {username: alice, password: wonderland}
---
kind: GatewayPolicy
metadata: {name: key}
spec:
  targetRefs: [{kind: Ingress, name: keyed}]
  auth: {apiKey: {header: X-API-Key, secretRef: {name: keys}}}
---
kind: GatewayPolicy
metadata: {name: basic}
spec:
  targetRefs: [{kind: Ingress, name: basic}]
  auth: {basic: {realm: shop, secretRef: {name: users}}}
EOF
    } >"$cfg"
    start_gateway "$cfg"
    u=http://127.0.0.1:$GW_PORT
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: key.test' $u/)" = 401 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: key.test' -H 'X-API-Key: nope' $u/)" = 401 ]
    curl -s -H 'Host: key.test' -H 'X-API-Key: s3cr3t' $u/echo | grep -q '^X-Auth-User: ci'
    run curl -s -D - -o /dev/null -H 'Host: basic.test' $u/
    echo "$output" | grep -q '^HTTP/1.1 401'
    echo "$output" | grep -qi 'WWW-Authenticate: Basic realm="shop"'
    [ "$(curl -s -o /dev/null -w '%{http_code}' -u alice:wrong -H 'Host: basic.test' $u/)" = 401 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -u alice:wonderland -H 'Host: basic.test' $u/)" = 200 ]
}

@test "gateway: 503 without endpoints, 503 on refused connects, 504 on timeout, 502 on bad responses" {
    start_upstream slow; PS=$UP_PORT
    DEAD=$(free_port)
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service slow "$PS"; service dead "$DEAD"
        cat <<EOF
---
kind: Service
metadata: {name: empty}
spec: {ports: [{port: 80}]}
EOF
        ingress_for slow slow.test / slow
        ingress_for dead dead.test / dead
        ingress_for empty empty.test / empty
        cat <<EOF
---
kind: GatewayPolicy
metadata: {name: t}
spec:
  targetRefs: [{kind: Ingress, name: slow}]
  timeouts: {request: 500ms}
EOF
    } >"$cfg"
    start_gateway "$cfg"
    u=http://127.0.0.1:$GW_PORT
    run curl -s -w ' %{http_code}' -H 'Host: empty.test' $u/
    [ "$output" = "no healthy upstream
 503" ]
    run curl -s -w ' %{http_code}' -H 'Host: dead.test' $u/
    [ "$output" = "upstream connect error
 503" ]
    run curl -s -w ' %{http_code}' -H 'Host: slow.test' $u/sleep/1500
    [ "$output" = "upstream timeout
 504" ]
    sleep 1.2 # the single-threaded upstream is still sleeping
    [ "$(curl -s -H 'Host: slow.test' $u/name)" = slow ]
}

@test "gateway: request limits (431, 400) and hop-by-hop headers" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    { service s "$PA"; ingress_for i "" / s; } >"$cfg"
    start_gateway "$cfg"
    big=$(head -c 20000 /dev/zero | tr '\0' a)
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" http://127.0.0.1:$GW_PORT/)" = 431 ]
    run python3 - "$GW_PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
print(s.recv(4096).split(b"\r\n")[0].decode())
EOF
    [ "$output" = "HTTP/1.1 400 Bad Request" ]
    run curl -s -H 'Connection: keep-alive, X-Secret' -H 'X-Secret: 1' -H 'Keep-Alive: 5' http://127.0.0.1:$GW_PORT/echo
    ! echo "$output" | grep -qi '^x-secret'
    ! echo "$output" | grep -qi '^keep-alive'
    ! echo "$output" | grep -qi '^connection'
}

@test "gateway: pipelined requests, chunked bodies both ways, close-delimited responses" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    { service s "$PA"; ingress_for i "" / s; } >"$cfg"
    start_gateway "$cfg"
    run python3 - "$GW_PORT" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /name HTTP/1.1\r\nHost: x\r\n\r\n"
          b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"
          b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n"
          b"GET /name HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
print(data.count(b"HTTP/1.1 200"), b"X-Body-Bytes: 8" in data, b"hello chunky" in data,
      data.endswith(b"upstream\n") or data.endswith(b"a\n"))
EOF
    echo "$output"
    [ "$output" = "4 True True True" ]
    [ "$(curl -s http://127.0.0.1:$GW_PORT/close)" = "close-delimited body" ]
    [ "$(curl -s --http1.0 http://127.0.0.1:$GW_PORT/close)" = "close-delimited body" ]
    # a large Content-Length body streams through
    head -c 3000000 /dev/urandom >"$BATS_TEST_TMPDIR/big"
    run curl -s -D - -o /dev/null --data-binary @"$BATS_TEST_TMPDIR/big" http://127.0.0.1:$GW_PORT/x
    echo "$output" | grep -q 'X-Body-Bytes: 3000000'
}

@test "gateway: WebSocket upgrade becomes a tunnel" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    { service s "$PA"; ingress_for i "" / s; } >"$cfg"
    start_gateway "$cfg"
    run python3 - "$GW_PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(4096)
print(head.split(b"\r\n")[0].decode())
for msg in (b"ping-1", b"ping-2" * 1000):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        got += s.recv(65536)
    print(got == msg)
EOF
    echo "$output"
    [ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
    [ "${lines[1]}" = True ]
    [ "${lines[2]}" = True ]
}

@test "gateway: hot reload under load drops no request and applies the new routes" {
    command -v wrk >/dev/null || skip "wrk not installed"
    start_upstream a; PA=$UP_PORT
    start_upstream b; PB=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    { service sa "$PA"; service sb "$PB"; ingress_for i "" / sa; } >"$cfg"
    start_gateway "$cfg" --threads 2
    wrk -t2 -c20 -d3s "http://127.0.0.1:$GW_PORT/name" >"$BATS_TEST_TMPDIR/wrk.txt" 2>&1 3>&- &
    WRK=$!
    for n in 1 2 3 4 5 6; do
        sleep 0.4
        if [ $((n % 2)) -eq 1 ]; then
            { service sa "$PA"; service sb "$PB"; ingress_for i "" / sb; ingress_for j "x$n.test" / sa; } >"$cfg.new"
        else
            { service sa "$PA"; service sb "$PB"; ingress_for i "" / sa; } >"$cfg.new"
        fi
        mv "$cfg.new" "$cfg" # inotify picks it up
    done
    kill -HUP "$GW_PID"
    wait "$WRK"
    cat "$BATS_TEST_TMPDIR/wrk.txt"
    grep -q 'Requests/sec' "$BATS_TEST_TMPDIR/wrk.txt"
    ! grep -q 'Non-2xx\|Socket errors' "$BATS_TEST_TMPDIR/wrk.txt"
    [ "$(curl -s http://127.0.0.1:$GW_PORT/name)" = a ]
    { service sa "$PA"; service sb "$PB"; ingress_for i "" / sb; } >"$cfg.new"
    mv "$cfg.new" "$cfg"
    for _ in $(seq 1 40); do
        [ "$(curl -s http://127.0.0.1:$GW_PORT/name)" = b ] && break
        sleep 0.05
    done
    [ "$(curl -s http://127.0.0.1:$GW_PORT/name)" = b ]
    reloads=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^bosun_gateway_config_reloads_total/ {print $2}')
    [ "$reloads" -ge 8 ]
}

@test "gateway: Prometheus metrics per route and access log" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    { service s "$PA"; ingress_for web "" / s; } >"$cfg"
    start_gateway "$cfg" --access-log "$BATS_TEST_TMPDIR/access.log"
    for _ in 1 2 3; do curl -s http://127.0.0.1:$GW_PORT/name >/dev/null; done
    curl -s http://127.0.0.1:$GW_PORT/status/404 >/dev/null
    run curl -s "http://127.0.0.1:$ADMIN_PORT/metrics"
    echo "$output" | grep -q 'bosun_gateway_requests_total{route="ingress:default/web:0:/",code="2xx"} 3'
    echo "$output" | grep -q 'bosun_gateway_requests_total{route="ingress:default/web:0:/",code="4xx"} 1'
    [ "$(curl -s http://127.0.0.1:$ADMIN_PORT/healthz)" = ok ]
    for _ in $(seq 1 30); do [ -s "$BATS_TEST_TMPDIR/access.log" ] && break; sleep 0.1; done
    [ "$(wc -l <"$BATS_TEST_TMPDIR/access.log")" -eq 4 ]
    python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$BATS_TEST_TMPDIR/access.log"
    grep -q '"status":404' "$BATS_TEST_TMPDIR/access.log"
}

@test "gateway: active health checks take a failing endpoint out and bring it back" {
    start_upstream good; PG=$UP_PORT
    start_upstream bad -e 503; PBAD=$UP_PORT
    BAD_PID=$(tail -1 "$BATS_TEST_TMPDIR/pids")
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PG" "$PBAD"
        ingress_for i "" / s
        cat <<EOF2
---
kind: GatewayPolicy
metadata: {name: hc}
spec:
  targetRefs: [{kind: Ingress, name: i}]
  retries: {attempts: 1}
  outlierDetection: {consecutive5xx: 0}
  healthCheck: {path: /healthz, interval: 100ms, timeout: 500ms, unhealthyThreshold: 2, healthyThreshold: 1}
EOF2
    } >"$cfg"
    start_gateway "$cfg"
    for _ in $(seq 1 40); do
        curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q "upstream_healthy{endpoint=\"127.0.0.1:$PBAD\"} 0" && break
        sleep 0.1
    done
    run count_names "http://127.0.0.1:$GW_PORT/name" 100
    echo "$output"
    [ "$output" = "good 100" ]
    # replace the failing replica by a healthy one on the same port: it comes back
    kill "$BAD_PID"; sleep 0.2
    "$BATS_FILE_TMPDIR/upstream" -p "$PBAD" -n revived 3>&- &
    echo $! >>"$BATS_TEST_TMPDIR/pids"
    for _ in $(seq 1 40); do
        curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q "upstream_healthy{endpoint=\"127.0.0.1:$PBAD\"} 1" && break
        sleep 0.1
    done
    run count_names "http://127.0.0.1:$GW_PORT/name" 100
    echo "$output"
    [ "$output" = "good 50
revived 50" ]
}

@test "gateway: gzip compression of compressible responses" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        ingress_for i "" / s
        cat <<EOF2
---
kind: GatewayPolicy
metadata: {name: gz}
spec:
  targetRefs: [{kind: Ingress, name: i}]
  compression: {gzip: true, minSize: 100}
EOF2
    } >"$cfg"
    start_gateway "$cfg"
    u=http://127.0.0.1:$GW_PORT
    run curl -s -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/body.gz" -H 'Accept-Encoding: gzip' $u/gzip-text
    grep -qi '^Content-Encoding: gzip' "$BATS_TEST_TMPDIR/h"
    grep -qi '^Vary: Accept-Encoding' "$BATS_TEST_TMPDIR/h"
    ! grep -qi '^Content-Length' "$BATS_TEST_TMPDIR/h"
    curl -s "http://127.0.0.1:$PA/gzip-text" >"$BATS_TEST_TMPDIR/plain"
    gunzip -c "$BATS_TEST_TMPDIR/body.gz" | cmp - "$BATS_TEST_TMPDIR/plain"
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/body.gz")" -lt $(($(stat -c %s "$BATS_TEST_TMPDIR/plain") / 4)) ]
    # not accepted, refused with q=0, or too small: passed through as is
    ! curl -s -D - -o /dev/null $u/gzip-text | grep -qi '^Content-Encoding'
    ! curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip;q=0' $u/gzip-text | grep -qi '^Content-Encoding'
    ! curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' $u/name | grep -qi '^Content-Encoding'
    # keep-alive still works after a compressed response
    run curl -s --compressed $u/gzip-text $u/name
    echo "$output" | tail -1 | grep -qx a
}

@test "gateway: response cache serves hits from memory, honours no-store and expiry" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        ingress_for i "" / s
        cat <<EOF2
---
kind: GatewayPolicy
metadata: {name: cache}
spec:
  targetRefs: [{kind: Ingress, name: i}]
  cache: {maxBytes: 1Mi, ttl: 1s}
EOF2
    } >"$cfg"
    start_gateway "$cfg" --threads 1
    u=http://127.0.0.1:$GW_PORT
    curl -s -D - -o /dev/null $u/name | grep -q '^X-Cache: MISS'
    for _ in 1 2 3 4; do
        run curl -s -D - $u/name
        echo "$output" | grep -q '^X-Cache: HIT'
        echo "$output" | grep -q '^Age: [0-9]'
        [ "${lines[${#lines[@]}-1]}" = a ]
    done
    curl -s -D - -o /dev/null -H 'Cache-Control: no-cache' $u/name | grep -q '^X-Cache' && false
    curl -s -D - -o /dev/null -X POST $u/name | grep -q '^X-Cache' && false
    # the upstream saw the first GET, the no-cache GET and the POST only
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q "upstream_requests_total{endpoint=\"127.0.0.1:$PA\"} 3"
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q '^bosun_gateway_cache_hits_total 4'
    sleep 1.1
    curl -s -D - -o /dev/null $u/name | grep -q '^X-Cache: MISS'
    # upstream Cache-Control: no-store is never stored (the 404 path has no max-age either)
    curl -s -D - -o /dev/null $u/status/404 | grep -q '^X-Cache: MISS'
    curl -s -D - -o /dev/null $u/status/404 | grep -q '^X-Cache: MISS'
}

@test "gateway: JWT auth (HS256 from a Secret) forwards claims and rejects bad tokens" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        ingress_for i "" / s
        cat <<EOF2
---
kind: Secret
metadata: {name: jwt-key}
stringData: {hmac: integration-secret}
---
kind: GatewayPolicy
metadata: {name: jwt}
spec:
  targetRefs: [{kind: Ingress, name: i}]
  auth:
    jwt:
      secretRef: {name: jwt-key}
      issuer: bosun
      audiences: [shop]
      claimsToHeaders: [{claim: sub, header: X-User}]
EOF2
    } >"$cfg"
    start_gateway "$cfg"
    token() {
        python3 - "$@" <<'EOF2'
import base64, hashlib, hmac, json, sys, time
def b(x): return base64.urlsafe_b64encode(x).rstrip(b"=")
claims = {"sub": "alice", "iss": "bosun", "aud": sys.argv[1], "exp": int(time.time()) + int(sys.argv[2])}
m = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b(json.dumps(claims).encode())
print((m + b"." + b(hmac.new(sys.argv[3].encode(), m, hashlib.sha256).digest())).decode())
EOF2
    }
    u=http://127.0.0.1:$GW_PORT
    good=$(token shop 300 integration-secret)
    curl -s -H "Authorization: Bearer $good" $u/echo | grep -q '^X-User: alice'
    [ "$(curl -s -o /dev/null -w '%{http_code}' $u/)" = 401 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(token shop 300 wrong)" $u/)" = 401 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(token other 300 integration-secret)" $u/)" = 401 ]
    run curl -s -D - -o /dev/null -H "Authorization: Bearer $(token shop -600 integration-secret)" $u/
    echo "$output" | grep -q 'error_description="token expired"'
    # a client cannot smuggle its own X-User: only the verified claim is forwarded
    run curl -s -H "Authorization: Bearer $good" -H 'X-User: root' $u/echo
    [ "$(echo "$output" | grep -ci '^X-User:')" = 1 ]
}

@test "gateway: RequestMirror sends a copy of each request to the mirror backend" {
    start_upstream a; PA=$UP_PORT
    MP=$(free_port)
    (cd "$BATS_TEST_TMPDIR" && exec python3 -m http.server "$MP" --bind 127.0.0.1 2>"$BATS_TEST_TMPDIR/mirror.log") 3>&- &
    echo $! >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$MP"
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"; service m "$MP"
        cat <<EOF2
---
kind: Gateway
metadata: {name: gw}
spec: {gatewayClassName: bosun, listeners: [{name: http, port: 80}]}
---
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules:
  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}}}]
    backendRefs: [{name: s, port: 80}]
EOF2
    } >"$cfg"
    start_gateway "$cfg"
    run count_names "http://127.0.0.1:$GW_PORT/mirrored/name" 20
    [ "$output" = "a 20" ]
    for _ in $(seq 1 40); do
        [ "$(grep -c 'GET /mirrored/name' "$BATS_TEST_TMPDIR/mirror.log")" -ge 20 ] && break
        sleep 0.1
    done
    [ "$(grep -c 'GET /mirrored/name' "$BATS_TEST_TMPDIR/mirror.log")" -eq 20 ]
}

@test "gateway: traceparent is continued (same trace, new span) or started, X-Request-Id kept or set" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"; ingress_for i "" / s; ingress_for plain plain.test / s
        cat <<EOF2
---
kind: GatewayPolicy
metadata: {name: trace}
spec:
  targetRefs: [{kind: Ingress, name: i}]
  tracing: {requestId: true, traceparent: true}
EOF2
    } >"$cfg"
    start_gateway "$cfg"
    # without the tracing policy: passed through untouched, nothing generated
    run curl -s -H 'Host: plain.test' -H 'traceparent: garbage' http://127.0.0.1:$GW_PORT/echo
    echo "$output" | tr -d '\r' | grep -qx 'traceparent: garbage'
    ! echo "$output" | grep -qi '^X-Request-Id'
    in=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
    run curl -s -H "traceparent: $in" -H 'X-Request-Id: req-1' http://127.0.0.1:$GW_PORT/echo
    tp=$(echo "$output" | tr -d '\r' | awk '/^traceparent:/ {print $2}')
    [[ "$tp" =~ ^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$ ]]
    [ "$tp" != "$in" ]
    [ "$(echo "$output" | grep -c '^traceparent:')" = 1 ]
    echo "$output" | grep -q '^X-Request-Id: req-1'
    run curl -s -H 'traceparent: garbage' http://127.0.0.1:$GW_PORT/echo
    tp=$(echo "$output" | tr -d '\r' | awk '/^traceparent:/ {print $2}')
    [[ "$tp" =~ ^00-[0-9a-f]{32}-[0-9a-f]{16}-01$ ]]
    echo "$output" | tr -d '\r' | grep -Eq '^X-Request-Id: [0-9a-f]{32}$'
}

@test "gateway: TLS termination picks the certificate by SNI from Secrets" {
    command -v openssl >/dev/null || skip "openssl not installed"
    start_upstream a; PA=$UP_PORT
    d=$BATS_TEST_TMPDIR
    for h in a.test b.test; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
            -subj "/CN=$h" -addext "subjectAltName=DNS:$h" \
            -keyout "$d/$h.key" -out "$d/$h.crt" 2>/dev/null
    done
    cfg=$d/cfg.yaml
    {
        service s "$PA"
        for h in a.test b.test; do
            cat <<EOF2
---
kind: Secret
metadata: {name: $h}
type: kubernetes.io/tls
data: {tls.crt: $(base64 -w0 "$d/$h.crt"), tls.key: $(base64 -w0 "$d/$h.key")}
EOF2
        done
        cat <<EOF2
---
kind: Ingress
metadata: {name: secure}
spec:
  tls:
  - {hosts: [a.test], secretName: a.test}
  - {hosts: [b.test], secretName: b.test}
  rules:
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}
EOF2
    } >"$cfg"
    gw_find_binary
    TLS_PORT=$(free_port)
    start_gateway "$cfg" --tls-listen 127.0.0.1:$TLS_PORT
    wait_port "$TLS_PORT"
    for h in a.test b.test; do
        run curl -s --cacert "$d/$h.crt" --resolve "$h:$TLS_PORT:127.0.0.1" "https://$h:$TLS_PORT/name"
        [ "$output" = a ]
    done
    curl -s --cacert "$d/a.test.crt" --resolve "a.test:$TLS_PORT:127.0.0.1" "https://a.test:$TLS_PORT/echo" |
        grep -q '^X-Forwarded-Proto: https'
    # keep-alive over TLS: several requests on one connection, and a large body
    run curl -s --cacert "$d/b.test.crt" --resolve "b.test:$TLS_PORT:127.0.0.1" \
        "https://b.test:$TLS_PORT/name" "https://b.test:$TLS_PORT/gzip-text" "https://b.test:$TLS_PORT/name"
    [ "${lines[0]}" = a ] && [ "${lines[${#lines[@]}-1]}" = a ]
    head -c 2000000 /dev/urandom >"$d/big"
    curl -s -D - -o /dev/null --cacert "$d/a.test.crt" --resolve "a.test:$TLS_PORT:127.0.0.1" \
        --data-binary @"$d/big" "https://a.test:$TLS_PORT/x" | grep -qi 'X-Body-Bytes: 2000000'
    # a wrong name gets the default (first) certificate, which does not verify for it
    run curl -s --cacert "$d/b.test.crt" --resolve "c.test:$TLS_PORT:127.0.0.1" "https://c.test:$TLS_PORT/name"
    [ "$status" -ne 0 ]
    # plain HTTP keeps working next to it
    [ "$(curl -s http://127.0.0.1:$GW_PORT/name)" = a ]
}

@test "gateway: retries back off exponentially and stop after the configured attempts" {
    start_upstream bad -e 503; PB=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PB"
        ingress_for i "" / s
        cat <<EOF2
---
kind: GatewayPolicy
metadata: {name: p}
spec:
  targetRefs: [{kind: Service, name: s}]
  retries: {attempts: 3, on: [5xx], backoff: 100ms}
  outlierDetection: {consecutive5xx: 0}
EOF2
    } >"$cfg"
    start_gateway "$cfg" --threads 1
    run curl -s -o /dev/null -w '%{http_code} %{time_total}' http://127.0.0.1:$GW_PORT/
    echo "$output"
    [ "${output%% *}" = 503 ]
    awk -v t="${output##* }" 'BEGIN { exit !(t >= 0.15 && t < 2) }'
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -q "upstream_requests_total{endpoint=\"127.0.0.1:$PB\"} 3"
}

@test "gateway: running out of file descriptors pauses accepts instead of spinning" {
    start_upstream a; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    { service s "$PA"; ingress_for i "" / s; } >"$cfg"
    gw_find_binary
    GW_PORT=$(free_port)
    (ulimit -n 48; exec "${GW_CMD[@]}" --listen 127.0.0.1:"$GW_PORT" --config "$cfg" --threads 1 \
        2>>"$BATS_TEST_TMPDIR/gateway.log") 3>&- &
    GW_PID=$!
    echo "$GW_PID" >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$GW_PORT"
    run python3 - "$GW_PORT" "$GW_PID" <<'EOF2'
import os, socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
def cpu():
    f = open("/proc/%s/stat" % pid).read().split(")")[1].split()
    return int(f[11]) + int(f[12])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(80)]
time.sleep(0.3)
c0 = cpu(); time.sleep(1.0); used = cpu() - c0
for s in socks:
    s.close()
time.sleep(0.5)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /name HTTP/1.1\r\nHost: x\r\n\r\n")
print(used, s.recv(4096).split(b"\r\n")[0].decode())
EOF2
    echo "$output"
    [ "${lines[0]##* }" != "" ]
    ticks=${output%% *}
    [ "$ticks" -lt 50 ]   # well under one CPU-second per second
    [[ "$output" == *"HTTP/1.1 200"* ]]
    grep -q "pausing accepts" "$BATS_TEST_TMPDIR/gateway.log"
}

@test "gateway: SIGTERM drains: in-flight requests complete, new connections are refused" {
    start_upstream a -t 2; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    { service s "$PA"; ingress_for i "" / s; } >"$cfg"
    start_gateway "$cfg"
    curl -s -o "$BATS_TEST_TMPDIR/slow.out" -w '%{http_code}' http://127.0.0.1:$GW_PORT/sleep/1000 >"$BATS_TEST_TMPDIR/slow.code" 3>&- &
    SLOW=$!
    # an idle keep-alive connection is closed at once
    exec 5<>/dev/tcp/127.0.0.1/$GW_PORT
    printf 'GET /name HTTP/1.1\r\nHost: x\r\n\r\n' >&5
    sleep 0.3
    kill -TERM "$GW_PID"
    sleep 0.2
    run curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$GW_PORT/name
    [ "$output" = 000 ] # refused: the listeners are closed
    wait "$SLOW"
    [ "$(cat "$BATS_TEST_TMPDIR/slow.code")" = 200 ]
    for _ in $(seq 1 60); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.05; done
    ! kill -0 "$GW_PID" 2>/dev/null
    exec 5<&-
}

@test "gateway: circuit breaker answers 503 beyond maxRequests in flight" {
    start_upstream a -t 4; PA=$UP_PORT
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$PA"
        ingress_for i "" / s
        cat <<EOF2
---
kind: GatewayPolicy
metadata: {name: cb}
spec:
  targetRefs: [{kind: Service, name: s}]
  circuitBreaker: {maxRequests: 2}
EOF2
    } >"$cfg"
    start_gateway "$cfg" --threads 1
    pids=()
    for n in 1 2 3 4 5 6; do
        curl -s -o /dev/null -D "$BATS_TEST_TMPDIR/h$n" -w '%{http_code}\n' \
            http://127.0.0.1:$GW_PORT/sleep/600 >"$BATS_TEST_TMPDIR/c$n" 3>&- &
        pids+=($!)
    done
    wait "${pids[@]}"
    [ "$(cat "$BATS_TEST_TMPDIR"/c? | grep -c 200)" = 2 ]
    [ "$(cat "$BATS_TEST_TMPDIR"/c? | grep -c 503)" = 4 ]
    [ "$(cat "$BATS_TEST_TMPDIR"/h? | grep -c 'X-Bosun-Overflow: requests')" = 4 ]
    [ "$(curl -s http://127.0.0.1:$GW_PORT/name)" = a ]
}

@test "gateway: survives malformed upstream responses and abrupt clients" {
    EP=$(free_port)
    python3 - "$EP" >"$BATS_TEST_TMPDIR/evil.log" 2>&1 <<'EOF2' 3>&- &
import socket, sys, threading
answers = {
    b"/garbage": b"NOT HTTP AT ALL\r\n\r\n",
    b"/badcl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    b"/badchunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"/short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
    b"/midhead": b"HTTP/1.1 200 OK\r\nContent-Le",
    b"/huge": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    b"/nothing": b"",
    b"/ok": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n",
}
def serve(c):
    try:
        req = c.recv(65536)
        path = req.split(b" ")[1] if b" " in req else b"/"
        c.sendall(answers.get(path, answers[b"/ok"]))
    except Exception:
        pass
    c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(128)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF2
    echo $! >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$EP"
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    {
        service s "$EP"; ingress_for i "" / s
        cat <<EOF2
---
kind: GatewayPolicy
metadata: {name: p}
spec:
  targetRefs: [{kind: Service, name: s}]
  retries: {attempts: 1}
  timeouts: {request: 2s}
EOF2
    } >"$cfg"
    start_gateway "$cfg"
    u=http://127.0.0.1:$GW_PORT
    [ "$(curl -s -o /dev/null -w '%{http_code}' $u/garbage)" = 502 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' $u/badcl)" = 502 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' $u/midhead)" = 502 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' $u/huge)" = 502 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' $u/nothing)" = 502 ]
    run curl -s $u/short      # truncated body: the client sees the connection cut
    [ "$status" -ne 0 ]
    run curl -s $u/badchunk
    [ "$status" -ne 0 ]
    # abrupt clients: half a head, a body that never comes, garbage, then close
    python3 - "$GW_PORT" <<'EOF2'
import socket, sys
port = int(sys.argv[1])
for payload in [b"GET /ok HTTP/1.1\r\nHo", b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
                b"\x00\xff" * 100, b"GET /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"]:
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(payload)
        s.close()
EOF2
    [ "$(curl -s $u/ok)" = ok ]
    kill -0 "$GW_PID"
}
