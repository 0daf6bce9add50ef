#!/usr/bin/env bats
# gateway-mtls.bats - client-certificate authentication on TLS listeners (Ingress annotation
# gateway.bosun.dev/client-ca-secret): a certificate from the CA is required, over HTTP/2 and
# HTTP/1.1; hosts without the annotation on the same listener stay open.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

@test "gateway mtls: a client certificate signed by the configured CA is required" {
    command -v openssl >/dev/null || skip "openssl not installed"
    start_upstream a; PA=$UP_PORT
    d=$BATS_TEST_TMPDIR
    mk() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$1" \
        -addext "subjectAltName=DNS:$1" -keyout "$d/$1.key" -out "$d/$1.crt" 2>/dev/null; }
    mk secure.test; mk open.test; mk clients-ca; mk rogue-ca
    for who in alice:clients-ca mallory:rogue-ca; do
        u=${who%%:*} ca=${who##*:}
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$u" \
            -keyout "$d/$u.key" -out "$d/$u.csr" 2>/dev/null
        openssl x509 -req -in "$d/$u.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
            -days 1 -out "$d/$u.crt" 2>/dev/null
    done
    cfg=$d/cfg.yaml
    {
        service s "$PA"
        for h in secure.test open.test; do
            cat <<EOF
---
kind: Secret
metadata: {name: $h}
type: kubernetes.io/tls
data: {tls.crt: $(base64 -w0 "$d/$h.crt"), tls.key: $(base64 -w0 "$d/$h.key")}
EOF
        done
        cat <<EOF
---
kind: Secret
metadata: {name: clients}
data: {ca.crt: $(base64 -w0 "$d/clients-ca.crt")}
---
kind: Ingress
metadata: {name: secure, annotations: {gateway.bosun.dev/client-ca-secret: clients}}
spec:
  tls: [{hosts: [secure.test], secretName: secure.test}]
  rules:
  - host: secure.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}
---
kind: Ingress
metadata: {name: open}
spec:
  tls: [{hosts: [open.test], secretName: open.test}]
  rules:
  - host: open.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}]}
EOF
    } >"$cfg"
    TLS_PORT=$(free_port)
    start_gateway "$cfg" --tls-listen 127.0.0.1:$TLS_PORT
    wait_port "$TLS_PORT"
    S=(curl -s --cacert "$d/secure.test.crt" --resolve "secure.test:$TLS_PORT:127.0.0.1")
    for v in --http2 --http1.1; do
        [ "$("${S[@]}" $v --cert "$d/alice.crt" --key "$d/alice.key" "https://secure.test:$TLS_PORT/name")" = a ]
        run "${S[@]}" $v "https://secure.test:$TLS_PORT/name"
        [ "$status" -ne 0 ] || [ -z "$output" ]
        [ "$output" != a ]
        run "${S[@]}" $v --cert "$d/mallory.crt" --key "$d/mallory.key" "https://secure.test:$TLS_PORT/name"
        [ "$output" != a ]
    done
    # the other host on the same listener needs no certificate
    [ "$(curl -s --cacert "$d/open.test.crt" --resolve "open.test:$TLS_PORT:127.0.0.1" "https://open.test:$TLS_PORT/name")" = a ]
}
