#!/usr/bin/env bats
# --service-cidr: the ClusterIP range of a server. Its .1 is the `kubernetes` Service (and in
# the serving certificate), its .10 kube-dns; new Services get addresses inside it, addresses
# outside it are refused with upstream's message, and a malformed range stops the server at
# start with a clear error. Each run picks its own range, as concurrent clusters on one host do.

load helpers

setup_file() {
    SC_B=$((100 + RANDOM % 100))
    SC_C=$((16 * (RANDOM % 16)))
    SC_CIDR="10.$SC_B.$SC_C.0/20"
    DNS_PORT="$(free_port)"
    export SC_B SC_C SC_CIDR DNS_PORT
    start_server --simulate-nodes 1 --service-cidr "$SC_CIDR" --cluster-dns "127.0.0.1:$DNS_PORT"
}

teardown_file() {
    stop_server
}

@test "service CIDR: kubernetes is its .1, kube-dns its .10, and both resolve" {
    run kubectl get svc kubernetes -o jsonpath='{.spec.clusterIP}'
    [ "$output" = "10.$SC_B.$SC_C.1" ]
    wait_for '[ "$(kubectl -n kube-system get svc kube-dns -o jsonpath={.spec.clusterIP} 2>/dev/null)" = "10.$SC_B.$SC_C.10" ]'
    run dig @127.0.0.1 -p "$DNS_PORT" +short +time=1 +tries=2 kubernetes.default.svc.cluster.local
    [ "$output" = "10.$SC_B.$SC_C.1" ]
    # the serving certificate names the kubernetes Service's address
    run bash -c "openssl x509 -in '$BOSUN_DIR/data/tls/server.crt' -noout -text | grep -o 'IP Address:10\.$SC_B\.$SC_C\.1\b'"
    [ "$status" -eq 0 ]
}

@test "service CIDR: new ClusterIPs come from it; an address outside it is refused" {
    local i ip
    for i in 1 2 3 4 5; do
        kubectl create service clusterip "sc$i" --tcp=80 >/dev/null
        ip="$(kubectl get svc "sc$i" -o jsonpath='{.spec.clusterIP}')"
        echo "sc$i: $ip"
        [[ "$ip" =~ ^10\.$SC_B\.([0-9]+)\.([0-9]+)$ ]]
        [ "${BASH_REMATCH[1]}" -ge "$SC_C" ] && [ "${BASH_REMATCH[1]}" -lt $((SC_C + 16)) ]
    done
    kubectl create service clusterip fixed --tcp=80 --clusterip="10.$SC_B.$SC_C.77" >/dev/null
    [ "$(kubectl get svc fixed -o jsonpath='{.spec.clusterIP}')" = "10.$SC_B.$SC_C.77" ]
    run kubectl create service clusterip outside --tcp=80 --clusterip=10.43.0.77
    [ "$status" -ne 0 ]
    [[ "$output" == *"The range of valid IPs is $SC_CIDR"* ]]
    run kubectl get svc outside
    [ "$status" -ne 0 ]
}

@test "service CIDR: a malformed range stops the server with a clear message" {
    local d
    d="$(mktemp -d)"
    for bad in 10.43.0.1/16 10.43.0.0/8 10.43.0.0/25 10.43.0.0 fd00::/108 nonsense; do
        run "$BOSUN" server --data-dir "$d" --listen 127.0.0.1:0 --service-cidr "$bad"
        [ "$status" -eq 2 ]
        [[ "$output" == *"--service-cidr: want an IPv4 network address with a prefix of /12 to /24"*"'$bad'"* ]]
    done
    rm -rf "$d"
}
