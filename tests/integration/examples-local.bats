#!/usr/bin/env bats
# The example services (examples/) run as plain processes, wired by environment variables, and
# `bosun new service`. The cluster-level runs of the same examples are in examples-cluster.bats.

load helpers

EX="$(dirname "$BOSUN")/examples"

setup() {
    [[ -x "$EX/shop/shop-auth" ]] || skip "examples not built in $(dirname "$BOSUN")"
    EXT="$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/ex.XXXXXX")"
    PIDS=()
    STARTED=""
}

teardown() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$EXT"
    [[ -z "$STARTED" ]] || stop_server
}

# run_svc NAME BINARY [VAR=value...]: starts a service on a free port; sets PORT_<NAME>.
run_svc() {
    local name="$1" bin="$2" port
    shift 2
    port="$(free_port)"
    env HOST=127.0.0.1 PORT="$port" "$@" "$bin" 2>>"$EXT/$name.log" 3>&- &
    PIDS+=($!)
    printf -v "PORT_$name" '%s' "$port"
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
        sleep 0.05
    done
    cat "$EXT/$name.log" >&2
    return 1
}

# b64url-decodes a JWT segment
jwt_part() { local s="${1//-/+}"; s="${s//_//}"; while (( ${#s} % 4 )); do s+="="; done; base64 -d <<<"$s"; }

@test "gateway-101: the gateway answers for each model service, 404 for others, 502 when one is down" {
    run_svc m1 "$EX/gateway-101/gw101-model" MODEL_NAME=service_1 MODEL_WEIGHTS=0.5,2
    run_svc m2 "$EX/gateway-101/gw101-model" MODEL_NAME=service_2 MODEL_WEIGHTS=1,1,1
    run_svc gw "$EX/gateway-101/gw101-gateway" ML_SERVICE1_URL="http://127.0.0.1:$PORT_m1" \
        ML_SERVICE2_URL="http://localhost:$PORT_m2" CALL_TIMEOUT_MS=500
    u="http://127.0.0.1:$PORT_gw/api/v1/models/services"
    [ "$(curl -s "$u/service_1" | jq -r .service)" = service_1 ]
    [ "$(curl -s "$u/service_2" | jq -r .inputs)" = 3 ]
    [ "$(curl -s -XPOST "$u/service_1/predict" -d '{"inputs":[2,3]}' | jq -r .score)" = 7 ]
    run curl -s -w '\n%{http_code}' -XPOST "$u/service_2/predict" -d '{"inputs":[1]}'
    [ "${lines[1]}" = 400 ]
    [ "$(jq -r .error <<<"${lines[0]}")" = BadInput ]
    run curl -s -w '\n%{http_code}' "$u/service_9"
    [ "${lines[1]}" = 404 ]
    [ "$(jq -r .error <<<"${lines[0]}")" = ServiceNotFound ]
    # the request id given to the gateway reaches the model service's access log
    curl -s -H 'X-Request-Id: gw101-trace-42' "$u/service_1" >/dev/null
    grep -q '"requestId":"gw101-trace-42"' "$EXT/m1.log"
    kill -KILL "${PIDS[0]}"
    run curl -s -o /dev/null -w '%{http_code}' "$u/service_1"
    [[ "$output" =~ ^50[234]$ ]]
    [ "$(curl -s "$u/service_2" | jq -r .service)" = service_2 ]
}

@test "shop: login issues a verifiable HS256 JWT, wrong passwords get 401" {
    run_svc auth "$EX/shop/shop-auth" JWT_SECRET=0123456789abcdef-secret SHOP_USERS=ann:pw1,bob:pw2
    u="http://127.0.0.1:$PORT_auth/login"
    tok="$(curl -s "$u" -d '{"username":"ann","password":"pw1"}' | jq -r .token)"
    IFS=. read -r h p s <<<"$tok"
    [ "$(jwt_part "$h" | jq -r .alg)" = HS256 ]
    [ "$(jwt_part "$p" | jq -r .sub)" = ann ]
    [ "$(jwt_part "$p" | jq -r .aud)" = shop ]
    exp="$(jwt_part "$p" | jq -r .exp)"
    [ "$exp" -gt "$(date +%s)" ]
    # the signature checks out with the shared secret
    want="$(printf '%s' "$h.$p" | openssl dgst -sha256 -hmac 0123456789abcdef-secret -binary |
        base64 -w0 | tr '+/' '-_' | tr -d '=')"
    [ "$s" = "$want" ]
    run curl -s -w '\n%{http_code}' "$u" -d '{"username":"ann","password":"pw2"}'
    [ "${lines[1]}" = 401 ]
    [ "$(jq -r .error <<<"${lines[0]}")" = InvalidCredentials ]
    run curl -s -o /dev/null -w '%{http_code}' "$u" -d '{"username":"ann"}'
    [ "$output" = 400 ]
    # no secret: refuses to start
    run env PORT="$(free_port)" "$EX/shop/shop-auth"
    [ "$status" -ne 0 ]
    [[ "$output" == *JWT_SECRET* ]]
}

@test "shop: purchase v1 and v2 stay compatible; v2 applies promotion codes" {
    run_svc cat "$EX/shop/shop-catalog" "SHOP_PRODUCTS=a1:Mug:1000:5;b2:Cap:1999:50"
    run_svc v1 "$EX/shop/shop-purchase" PURCHASE_VERSION=1 CATALOG_URL="http://127.0.0.1:$PORT_cat"
    run_svc v2 "$EX/shop/shop-purchase" PURCHASE_VERSION=2 CATALOG_URL="http://127.0.0.1:$PORT_cat"
    [ "$(curl -s "http://127.0.0.1:$PORT_cat/products?q=cap" | jq -r '.items|map(.id)|join(",")')" = b2 ]
    body='{"productId":"b2","quantity":3,"promoCode":"HALF"}'
    for v in v1 v2; do
        pv="PORT_$v"
        run curl -s -w '\n%{http_code}' "http://127.0.0.1:${!pv}/purchases" -H 'X-User: ann' -d "$body"
        [ "${lines[1]}" = 201 ]
        echo "${lines[0]}" >"$EXT/$v.json"
        # every v1 field is present with the same meaning in both versions
        for f in id user productId quantity unitPriceCents totalCents; do
            [ "$(jq -r "has(\"$f\")" "$EXT/$v.json")" = true ]
        done
        [ "$(jq -r .unitPriceCents "$EXT/$v.json")" = 1999 ]
    done
    [ "$(jq -r .totalCents "$EXT/v1.json")" = 5997 ] # v1 ignores the code
    [ "$(jq -r .totalCents "$EXT/v2.json")" = 2998 ] # 5997 minus a 2998.5 discount rounded up
    [ "$(jq -r .discountPercent "$EXT/v2.json")" = 50 ]
    run curl -s -w '\n%{http_code}' "http://127.0.0.1:$PORT_v2/purchases" -H 'X-User: ann' \
        -d '{"productId":"b2","quantity":1,"promoCode":"NOPE"}'
    [ "${lines[1]}" = 400 ]
    [ "$(jq -r .error <<<"${lines[0]}")" = InvalidPromoCode ]
    run curl -s -w '\n%{http_code}' "http://127.0.0.1:$PORT_v1/purchases" -H 'X-User: ann' \
        -d '{"productId":"a1","quantity":6}'
    [ "${lines[1]}" = 409 ]
    run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT_v1/purchases" \
        -d '{"productId":"a1","quantity":1}'
    [ "$output" = 401 ]
    [ "$(curl -s "http://127.0.0.1:$PORT_v1/purchases" -H 'X-User: ann' | jq '.items|length')" = 1 ]
    [ "$(curl -s "http://127.0.0.1:$PORT_v1/purchases" -H 'X-User: bob' | jq '.items|length')" = 0 ]
}

@test "pets: the Redis store keeps pets across restarts of the service and reports readiness" {
    command -v redis-server >/dev/null || skip "redis-server not installed"
    rport="$(free_port)"
    redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$EXT/redis.log" 2>&1 3>&- &
    PIDS+=($!)
    for _ in $(seq 1 100); do redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
    run_svc pets "$EX/pets/pets" PETS_STORE=redis PETS_REDIS="127.0.0.1:$rport"
    u="http://127.0.0.1:$PORT_pets"
    curl -s -XPOST "$u/pets" -d '{"name":"rex","owner":"ann"}' >/dev/null
    curl -s -XPOST "$u/pets" -d '{"name":"tom","owner":"bob"}' >/dev/null
    [ "$(redis-cli -p "$rport" zcard pets:ids)" = 2 ]
    kill -TERM "${PIDS[1]}"
    wait "${PIDS[1]}"
    run_svc pets "$EX/pets/pets" PETS_STORE=redis PETS_REDIS="127.0.0.1:$rport"
    u="http://127.0.0.1:$PORT_pets"
    [ "$(curl -s "$u/pets" | jq -r 'map(.name)|join(",")')" = rex,tom ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -XDELETE "$u/pets/1")" = 204 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$u/pets/1")" = 404 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$u/readyz")" = 200 ]
    redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$u/readyz")" = 503 ] && break; sleep 0.1; done
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$u/readyz")" = 503 ]
    [ "$(curl -s "$u/pets" | jq -r .error)" = StoreUnavailable ]
}

@test "bosun new service: scaffolds a service that compiles, refuses bad names and overwrites" {
    [[ -x "$BOSUN" ]] || skip "bosun binary not found"
    mkdir -p "$EXT/ex"
    echo "subdir('pets')" >"$EXT/ex/meson.build"
    run "$BOSUN" new service orders --dir "$EXT/ex"
    [ "$status" -eq 0 ]
    for f in main.c meson.build orders.yaml README.md; do [ -s "$EXT/ex/orders/$f" ]; done
    grep -qx "subdir('orders')" "$EXT/ex/meson.build"
    grep -q 'bsn_kit_app_new("orders")' "$EXT/ex/orders/main.c"
    # the manifest passes the API server's validation
    start_server
    STARTED=1
    run kubectl apply --dry-run=server -f "$EXT/ex/orders/orders.yaml"
    [ "$status" -eq 0 ]
    [[ "$output" == *"deployment.apps/orders created (server dry run)"* ]]
    [[ "$output" == *"service/orders created (server dry run)"* ]]
    # the C compiles against the kit's header
    cc -std=c17 -Wall -Werror -fsyntax-only -I"$REPO_ROOT/src" $(pkg-config --cflags jansson) \
        "$EXT/ex/orders/main.c"
    # again: refused, nothing changed
    before="$(md5sum "$EXT/ex/orders/main.c")"
    run "$BOSUN" new service orders --dir "$EXT/ex"
    [ "$status" -eq 1 ]
    [[ "$output" == *"already exists"* ]]
    [ "$(md5sum "$EXT/ex/orders/main.c")" = "$before" ]
    [ "$(grep -c "subdir('orders')" "$EXT/ex/meson.build")" = 1 ]
    run "$BOSUN" new service Bad_Name --dir "$EXT/ex"
    [ "$status" -eq 2 ]
    [[ "$output" == *"invalid service name"* ]]
    [ ! -e "$EXT/ex/Bad_Name" ]
}
