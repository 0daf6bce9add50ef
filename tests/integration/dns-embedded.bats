#!/usr/bin/env bats
# The cluster DNS embedded in `bosun server` (--cluster-dns) answers from the API's Services and
# EndpointSlices, per the Kubernetes DNS specification, and follows changes.

load helpers

setup_file() {
    DNS_PORT="$(free_port)"
    export DNS_PORT
    start_server --simulate-nodes 1 --cluster-dns "127.0.0.1:$DNS_PORT"
}

teardown_file() {
    stop_server
}

q() { # q NAME [TYPE]
    dig @127.0.0.1 -p "$DNS_PORT" +short +time=1 +tries=2 "$1" "${2:-A}"
}

@test "the kubernetes service resolves; dns-version is 1.1.0" {
    run q kubernetes.default.svc.cluster.local
    [ "$output" = "$KUBE_SVC_IP" ]
    run q dns-version.cluster.local TXT
    [ "$output" = '"1.1.0"' ]
}

@test "a new Service resolves, its SRV record lists the port, deleting it removes it" {
    printf 'apiVersion: v1\nkind: Service\nmetadata: {name: dnsweb}\nspec:\n  ports: [{name: http, port: 8080}]\n' |
        kubectl apply -f - >/dev/null
    ip=$(kubectl get svc dnsweb -o jsonpath='{.spec.clusterIP}')
    for _ in $(seq 1 30); do [ "$(q dnsweb.default.svc.cluster.local)" = "$ip" ] && break; sleep 0.1; done
    [ "$(q dnsweb.default.svc.cluster.local)" = "$ip" ]
    run q _http._tcp.dnsweb.default.svc.cluster.local SRV
    [[ "$output" == *"8080 dnsweb.default.svc.cluster.local."* ]]
    kubectl delete svc dnsweb >/dev/null
    for _ in $(seq 1 30); do [ -z "$(q dnsweb.default.svc.cluster.local)" ] && break; sleep 0.1; done
    run dig @127.0.0.1 -p "$DNS_PORT" +time=1 dnsweb.default.svc.cluster.local A
    [[ "$output" == *"status: NXDOMAIN"* ]]
}

@test "headless service: one record per ready pod from the EndpointSlice controller" {
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: hl}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: hl}}\n  template:\n    metadata: {labels: {app: hl}}\n    spec:\n      containers: [{name: c, image: nginx}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: hl}\nspec:\n  clusterIP: None\n  selector: {app: hl}\n  ports: [{port: 80}]\n' |
        kubectl apply -f - >/dev/null
    for _ in $(seq 1 50); do [ "$(q hl.default.svc.cluster.local | wc -l)" = 2 ] && break; sleep 0.1; done
    run q hl.default.svc.cluster.local
    [ "${#lines[@]}" -eq 2 ]
    pods=$(kubectl get pods -l app=hl -o jsonpath='{.items[*].status.podIP}' | tr ' ' '\n' | sort)
    [ "$(echo "$output" | sort)" = "$pods" ]
}
