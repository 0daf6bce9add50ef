#!/usr/bin/env bats
# The seeds' systems on a real one-node cluster: the oci runtime with the CNI pod network, the
# nftables service proxy and the cluster DNS at 10.43.0.10, the examples applied from their
# manifests (examples/render.sh) and exercised through the gateway, NodePorts and DNS names.
# Needs root, runc and the built examples; skips cleanly otherwise.

load helpers
load oci-helpers

EXB="$(dirname "$BOSUN")"

setup_file() {
    [ "$(id -u)" -eq 0 ] || return 0
    command -v runc >/dev/null || return 0
    [ -x "$EXB/examples/shop/shop-auth" ] || return 0
    oci_net_init
    read -ra netflags <<<"$(oci_net_flags)"
    EX_TABLE="bsnex$$"
    export EX_TABLE
    start_server --runtime oci "${netflags[@]}" --node-name "ex-$$" --proxy-table "$EX_TABLE" \
        --proxy-mode nftables --cluster-dns "0.0.0.0:$(free_port)"
    EX_READY=1
    export EX_READY
}

teardown_file() {
    [ -n "${EX_READY:-}" ] || return 0
    for ns in shop default; do
        kubectl -n "$ns" delete deploy --all --wait=false >/dev/null 2>&1 || true
    done
    stop_server
    oci_net_cleanup
    ! nft list table ip "$EX_TABLE" >/dev/null 2>&1
}

setup() {
    [ "$(id -u)" -eq 0 ] || skip "needs root (pod network, nftables)"
    command -v runc >/dev/null || skip "runc not installed"
    [ -x "$EXB/examples/shop/shop-auth" ] || skip "examples not built in $EXB"
    [ -n "${EX_READY:-}" ] || skip "cluster did not start"
    EXT="$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/exc.XXXXXX")"
}

teardown() {
    rm -rf "${EXT:-/nonexistent}"
}

render() { "$REPO_ROOT/examples/render.sh" "$REPO_ROOT/examples/$1" "$EXB"; }

rollout() {
    local ns="$1"
    shift
    for d in "$@"; do
        kubectl -n "$ns" rollout status "deploy/$d" --timeout=120s >/dev/null || {
            kubectl -n "$ns" get pods -o wide >&2
            kubectl -n "$ns" describe pods >&2
            return 1
        }
    done
}

@test "gateway-101: the gateway reaches the model services by DNS name; LoadBalancer on 30080" {
    render gateway-101/gateway-101.yaml | kubectl apply -f - >/dev/null
    rollout default ml-service1 ml-service2 ml-inference-service
    wait_for '[ -n "$(kubectl get svc ml-inference-service -o jsonpath="{.status.loadBalancer.ingress[0].ip}")" ]'
    lb="$(kubectl get svc ml-inference-service -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
    [ "$(kubectl get svc ml-inference-service -o jsonpath='{.spec.ports[0].nodePort}')" = 30080 ]
    run curl -s --max-time 5 "http://$lb:30080/api/v1/models/services/service_1"
    [ "$(jq -r .service <<<"$output")" = service_1 ]
    # the LoadBalancer address answers on the service port too
    run curl -s --max-time 5 -XPOST "http://$lb/api/v1/models/services/service_2/predict" -d '{"inputs":[1,2,3]}'
    [ "$(jq -r .score <<<"$output")" = 6 ]
    # and the model pod that answered is a pod of ml-service1
    host="$(curl -s --max-time 5 "http://$lb:30080/api/v1/models/services/service_1" | jq -r .hostname)"
    [[ "$(kubectl get pods -l app=ml-service1 -o name)" == "pod/$host" ]]
    kubectl delete -f <(render gateway-101/gateway-101.yaml) --wait=false >/dev/null
}

@test "shop: JWT login, cached catalogue, purchases through a 90/10 canary, rate limits" {
    render shop/shop.yaml | kubectl apply -f - >/dev/null
    rollout shop auth catalog purchase-v1 purchase-v2
    gw="http://127.0.0.1:$BOSUN_GW_PORT"
    wait_for '[ "$(curl -s -o /dev/null -w "%{http_code}" '"$gw"'/products)" = 200 ]'
    tok="$(curl -s "$gw/login" -d '{"username":"alice","password":"wonderland"}' | jq -r .token)"
    [ -n "$tok" ] && [ "$tok" != null ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$gw/login" -d '{"username":"alice","password":"no"}')" = 401 ]
    # the catalogue is public and cached by the gateway
    curl -s -o /dev/null "$gw/products/p2"
    hits="$(for _ in 1 2 3 4 5 6; do curl -s -D - -o /dev/null "$gw/products/p2"; done | grep -c "X-Cache: HIT")"
    [ "$hits" -ge 1 ]
    # purchases need the token; the gateway forwards the JWT's subject as X-User
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$gw/purchases" -d '{"productId":"p1","quantity":1}')" = 401 ]
    run curl -s -H "Authorization: Bearer $tok" "$gw/purchases" -d '{"productId":"p1","quantity":2}'
    [ "$(jq -r .user <<<"$output")" = alice ]
    [ "$(jq -r .totalCents <<<"$output")" = 2400 ] # the price came from the catalogue by DNS
    # the canary: about 10% of purchases reach version 2 (binomial, n=100: 1..25 holds with
    # overwhelming probability and fails for 0% or 50%)
    v2=0
    for _ in $(seq 1 100); do
        v="$(curl -s -H "Authorization: Bearer $tok" "$gw/purchases" \
            -d '{"productId":"p3","quantity":1,"promoCode":"WELCOME10"}' | jq -r .version)"
        [ "$v" = 2 ] && v2=$((v2 + 1))
    done
    echo "v2 answered $v2 of 100"
    [ "$v2" -ge 1 ] && [ "$v2" -le 25 ]
    # the public route's rate limit (20/s, burst 40) answers 429 with Retry-After
    codes="$(for _ in $(seq 1 80); do curl -s -o /dev/null -w '%{http_code}\n' "$gw/products"; done | sort | uniq -c)"
    echo "$codes"
    grep -q ' 429$' <<<"$codes"
    # services find each other by name from inside a pod as well
    pod="$(kubectl -n shop get pods -l app=auth -o jsonpath='{.items[0].metadata.name}')"
    run kubectl -n shop exec "$pod" -- python3 -c \
        'import socket; print(socket.gethostbyname("catalog.shop.svc.cluster.local"))'
    [ "$output" = "$(kubectl -n shop get svc catalog -o jsonpath='{.spec.clusterIP}')" ]
    kubectl delete ns shop --wait=false >/dev/null
}

@test "flask-redis: seed 001's counter from Debian's packages, scaled to 4 and rolled to v2" {
    /usr/bin/python3 -c 'import flask, redis' 2>/dev/null || skip "python3-flask/python3-redis not installed"
    command -v redis-server >/dev/null || skip "redis-server not installed"
    kubectl create configmap flask-app --from-file="$REPO_ROOT/examples/flask-redis/app.py" >/dev/null
    kubectl apply -f "$REPO_ROOT/examples/flask-redis/flask-redis.yaml" >/dev/null
    rollout default redis flask-app
    gw="http://127.0.0.1:$BOSUN_GW_PORT"
    wait_for '[ "$(curl -s -o /dev/null -w "%{http_code}" '"$gw"'/)" = 200 ]'
    a="$(curl -s "$gw/")"
    b="$(curl -s "$gw/")"
    [[ "$a" =~ ^\[flask-app-[a-z0-9-]+\]\ Redis\ counter\ value=([0-9]+)$ ]]
    n="${BASH_REMATCH[1]}"
    [[ "$b" == *"value=$((n + 1))" ]]
    kubectl scale deploy flask-app --replicas=4 >/dev/null
    rollout default flask-app
    [ "$(kubectl get deploy flask-app -o jsonpath='{.status.readyReplicas}')" = 4 ]
    hosts="$(for _ in $(seq 1 40); do curl -s "$gw/" | sed 's/^\[\([^]]*\)\].*/\1/'; done | sort -u | wc -l)"
    [ "$hosts" -ge 2 ]
    kubectl set env deploy/flask-app APP_VERSION=v2 >/dev/null
    rollout default flask-app
    wait_for '[[ "$(curl -s '"$gw"'/)" == "v2 ["* ]]'
    kubectl delete -f "$REPO_ROOT/examples/flask-redis/flask-redis.yaml" --wait=false >/dev/null
    kubectl delete configmap flask-app >/dev/null
}

@test "pets: SQLite on a local-path PersistentVolumeClaim survives the pod" {
    render pets/pets.yaml | kubectl apply -f - >/dev/null
    rollout default pets
    [ "$(kubectl get pvc pets-data -o jsonpath='{.status.phase}')" = Bound ]
    pv="$(kubectl get pvc pets-data -o jsonpath='{.spec.volumeName}')"
    dir="$(kubectl get pv "$pv" -o jsonpath='{.spec.hostPath.path}')"
    [ "$(kubectl get pv "$pv" -o jsonpath='{.spec.storageClassName}')" = local-path ]
    vip="$(kubectl get svc pets -o jsonpath='{.spec.clusterIP}')"
    wait_for '[ "$(curl -s -o /dev/null -w "%{http_code}" http://'"$vip"'/pets)" = 200 ]'
    curl -s -XPOST "http://$vip/pets" -d '{"name":"rex","owner":"ann"}' >/dev/null
    [ -s "$dir/pets.db" ] # the database lives on the claim's directory on the node
    old="$(kubectl get pods -l app=pets -o jsonpath='{.items[0].metadata.name}')"
    kubectl delete pod "$old" >/dev/null
    rollout default pets
    wait_for '[ "$(curl -s http://'"$vip"'/pets/1 | jq -r .name)" = rex ]'
    [ "$(kubectl get pods -l app=pets -o jsonpath='{.items[0].metadata.name}')" != "$old" ]
    kubectl delete deploy/pets svc/pets pvc/pets-data --wait=false >/dev/null
}
