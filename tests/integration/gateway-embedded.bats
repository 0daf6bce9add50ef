#!/usr/bin/env bats
# The gateway embedded in `bosun server` follows the API: an Ingress applied with kubectl
# routes traffic within moments, a change re-routes, a delete removes the route.

load helpers

setup_file() {
    BACKEND_PORT="$(free_port)"
    BACKEND_DIR="$(mktemp -d)"
    echo "hello from the backend" >"$BACKEND_DIR/index.html"
    python3 -m http.server "$BACKEND_PORT" --bind 127.0.0.1 --directory "$BACKEND_DIR" \
        >/dev/null 2>&1 3>&- &
    BACKEND_PID=$!
    export BACKEND_PORT BACKEND_DIR BACKEND_PID
    start_server --disable-agent
}

teardown_file() {
    stop_server
    kill "$BACKEND_PID" 2>/dev/null || true
    wait "$BACKEND_PID" 2>/dev/null || true
    rm -rf "$BACKEND_DIR"
}

gw() {
    curl -s -o /dev/null -w '%{http_code}' -H "Host: $1" "http://127.0.0.1:$BOSUN_GW_PORT$2"
}

wait_code() { # wait_code HOST PATH CODE
    for _ in $(seq 1 50); do
        [ "$(gw "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    echo "expected $3 for $1$2, got $(gw "$1" "$2")" >&2
    return 1
}

manifests() {
    printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n'
    printf '  ports: [{name: http, port: 80, targetPort: %s}]\n---\n' "$BACKEND_PORT"
    printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n'
    printf '  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\n'
    printf 'ports: [{name: http, port: %s, protocol: TCP}]\n' "$BACKEND_PORT"
    printf 'endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]\n---\n'
    printf 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec:\n'
    printf '  rules:\n  - host: web.example\n    http:\n      paths:\n'
    printf '      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n'
}

@test "an Ingress applied with kubectl routes through the embedded gateway" {
    manifests | kubectl apply -f -
    wait_code web.example /index.html 200
    run curl -s -H 'Host: web.example' "http://127.0.0.1:$BOSUN_GW_PORT/index.html"
    [ "$output" = "hello from the backend" ]
    # no route for another host
    [ "$(gw other.example /index.html)" = 404 ]
}

@test "changing and deleting the Ingress re-routes without a restart" {
    kubectl patch ingress web --type=json -p '[{"op":"replace","path":"/spec/rules/0/host","value":"new.example"}]'
    wait_code new.example /index.html 200
    wait_code web.example /index.html 404
    kubectl delete ingress web
    wait_code new.example /index.html 404
}

@test "Ingresses get status.loadBalancer; the bosun IngressClass is the default" {
    manifests | kubectl apply -f - >/dev/null
    for _ in $(seq 1 50); do
        ip=$(kubectl get ingress web -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
        [ -n "$ip" ] && break
        sleep 0.1
    done
    [ "$ip" = 127.0.0.1 ]
    run kubectl get ingressclass bosun -o jsonpath='{.metadata.annotations.ingressclass\.kubernetes\.io/is-default-class} {.spec.controller}'
    [ "$output" = "true gateway.bosun.dev/controller" ]
    # the DefaultIngressClass admission filled in the class
    run kubectl get ingress web
    [[ "${lines[1]}" =~ ^web\ +bosun\ +web\.example\ +127\.0\.0\.1\ +80 ]]
}

@test "Gateway and HTTPRoute status: Accepted/Programmed, attachedRoutes, ResolvedRefs per parent" {
    manifests | kubectl apply -f - >/dev/null
    kubectl apply -f - >/dev/null <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: bosun
  listeners:
  - {name: http, protocol: HTTP, port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop}
spec:
  parentRefs: [{name: edge}]
  hostnames: [shop.example]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: broken}
spec:
  parentRefs: [{name: edge, sectionName: nosuch}]
  hostnames: [broken.example]
  rules: [{backendRefs: [{name: absent, port: 80}]}]
EOF
    wait_code shop.example /index.html 200
    jp='{.status.parents[0].controllerName} {.status.parents[0].conditions[?(@.type=="Accepted")].status} {.status.parents[0].conditions[?(@.type=="ResolvedRefs")].status}'
    for _ in $(seq 1 50); do
        run kubectl get httproute shop -o jsonpath="$jp"
        [ "$output" = "gateway.bosun.dev/controller True True" ] && break
        sleep 0.1
    done
    [ "$output" = "gateway.bosun.dev/controller True True" ]
    run kubectl get httproute broken -o jsonpath='{.status.parents[0].conditions[?(@.type=="Accepted")].reason} {.status.parents[0].conditions[?(@.type=="ResolvedRefs")].reason}'
    [ "$output" = "NoMatchingParent BackendNotFound" ]
    # not attached: no route for its host
    [ "$(gw broken.example /index.html)" = 404 ]
    run kubectl get gateway edge -o jsonpath='{.status.conditions[?(@.type=="Accepted")].status} {.status.conditions[?(@.type=="Programmed")].status} {.status.listeners[0].attachedRoutes} {.status.addresses[0].value}'
    [ "$output" = "True True 1 127.0.0.1" ]
    # the written status settles: no further writes (resourceVersion stays)
    rv1=$(kubectl get httproute shop -o jsonpath='{.metadata.resourceVersion}')
    sleep 1
    rv2=$(kubectl get httproute shop -o jsonpath='{.metadata.resourceVersion}')
    [ "$rv1" = "$rv2" ]
    # kubectl shows the Gateway as programmed with its address
    run kubectl get gateway edge
    echo "$output"
    kubectl delete httproute shop broken >/dev/null
    kubectl delete gateway edge >/dev/null
}
