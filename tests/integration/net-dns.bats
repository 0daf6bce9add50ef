#!/usr/bin/env bats
# net-dns.bats - `bosun dns` served from a records file and queried with dig (dnsutils):
# A, SRV, PTR, NXDOMAIN/NODATA, TXT dns-version, TCP, and forwarding to a second
# `bosun dns` acting as the upstream (no traffic leaves 127.0.0.1).

setup_file() {
    : "${BOSUN:=bosun}"
    export BOSUN
}

setup() {
    if ! "$BOSUN" dns --help >/dev/null 2>&1; then
        skip "'$BOSUN dns' is not available (command not wired into src/main.c yet)"
    fi
    command -v dig >/dev/null || skip "dig not installed (apt-get install dnsutils)"
    TMP=$(mktemp -d /tmp/bsn-dns-bats.XXXXXX)
    cat >"$TMP/records.json" <<'JSON'
{"apiVersion": "v1", "kind": "List", "items": [
 {"kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"},
  "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}},
 {"kind": "Service", "metadata": {"name": "db", "namespace": "shop"},
  "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}},
 {"kind": "Endpoints", "metadata": {"name": "db", "namespace": "shop"},
  "subsets": [{"addresses": [{"ip": "10.42.0.7", "hostname": "db-0"}, {"ip": "10.42.0.8", "hostname": "db-1"}],
               "notReadyAddresses": [{"ip": "10.42.0.9", "hostname": "db-2"}],
               "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}]},
 {"kind": "Service", "metadata": {"name": "search", "namespace": "shop"},
  "spec": {"type": "ExternalName", "externalName": "search.example.org"}}
]}
JSON
    # a unique loopback address and a free port per test run
    ADDR=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
    PORT=0
    "$BOSUN" dns --listen "$ADDR:0" --records "$TMP/records.json" --no-forward \
        2>"$TMP/dns.log" 3>&- &
    PID=$!
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/.* port \([0-9]*\),.*/\1/p' "$TMP/dns.log")
        [ -n "$PORT" ] && break
        sleep 0.05
    done
    [ -n "$PORT" ] || { cat "$TMP/dns.log"; return 1; }
}

teardown() {
    [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [ -n "${UPID:-}" ] && kill "$UPID" 2>/dev/null && wait "$UPID" 2>/dev/null
    [ -n "${TMP:-}" ] && rm -rf "$TMP"
    true
}

q() {
    dig @"$ADDR" -p "$PORT" +tries=1 +time=2 "$@"
}

@test "A record of a ClusterIP service" {
    run q +short kubernetes.default.svc.cluster.local A
    [ "$status" -eq 0 ]
    [ "$output" = "10.43.0.1" ]
}

@test "headless service: ready endpoints only, and per-pod names" {
    run q +short db.shop.svc.cluster.local A
    [ "$(echo "$output" | sort | tr '\n' ' ')" = "10.42.0.7 10.42.0.8 " ]
    run q +short DB-1.db.shop.svc.cluster.local A
    [ "$output" = "10.42.0.8" ]
}

@test "SRV records" {
    run q +short _https._tcp.kubernetes.default.svc.cluster.local SRV
    [ "$output" = "0 100 443 kubernetes.default.svc.cluster.local." ]
    run q +short _pg._tcp.db.shop.svc.cluster.local SRV
    [ "$(echo "$output" | sort | tr '\n' ' ')" = "0 100 5432 db-0.db.shop.svc.cluster.local. 0 100 5432 db-1.db.shop.svc.cluster.local. " ]
}

@test "PTR records" {
    run q +short -x 10.43.0.1
    [ "$output" = "kubernetes.default.svc.cluster.local." ]
    run q +short -x 10.42.0.7
    [ "$output" = "db-0.db.shop.svc.cluster.local." ]
}

@test "NXDOMAIN and NODATA with SOA" {
    run q nope.default.svc.cluster.local A
    [[ "$output" == *"status: NXDOMAIN"* ]]
    [[ "$output" == *"IN	SOA	ns.dns.cluster.local. hostmaster.cluster.local."* ]]
    run q kubernetes.default.svc.cluster.local AAAA
    [[ "$output" == *"status: NOERROR"* ]]
    [[ "$output" == *"ANSWER: 0"* ]]
    [[ "$output" == *"SOA"* ]]
}

@test "TXT dns-version and ExternalName CNAME" {
    run q +short dns-version.cluster.local TXT
    [ "$output" = '"1.1.0"' ]
    run q +short search.shop.svc.cluster.local CNAME
    [ "$output" = "search.example.org." ]
}

@test "TCP" {
    run q +tcp +short kubernetes.default.svc.cluster.local A
    [ "$output" = "10.43.0.1" ]
    run q +tcp +short dns-version.cluster.local TXT
    [ "$output" = '"1.1.0"' ]
}

@test "SIGHUP reloads the records file" {
    echo '{"kind":"List","items":[{"kind":"Service","metadata":{"name":"new","namespace":"default"},"spec":{"clusterIP":"10.43.3.3"}}]}' >"$TMP/records.json"
    kill -HUP "$PID"
    for _ in $(seq 1 50); do
        grep -q reloaded "$TMP/dns.log" && break
        sleep 0.05
    done
    run q +short new.default.svc.cluster.local A
    [ "$output" = "10.43.3.3" ]
    run q kubernetes.default.svc.cluster.local A
    [[ "$output" == *"status: NXDOMAIN"* ]]
}

@test "out-of-zone names are refused without upstream, forwarded with one" {
    run q example.org A
    [[ "$output" == *"status: REFUSED"* ]]
    # a second server answers for the zone "upstream.test" and forwards nothing
    echo '{"kind":"List","items":[{"kind":"Service","metadata":{"name":"a","namespace":"b"},"spec":{"clusterIP":"10.43.9.9"}}]}' >"$TMP/up.json"
    "$BOSUN" dns --listen "$ADDR:0" --records "$TMP/up.json" --domain upstream.test --no-forward \
        2>"$TMP/up.log" 3>&- &
    UPID=$!
    for _ in $(seq 1 100); do
        UPORT=$(sed -n 's/.* port \([0-9]*\),.*/\1/p' "$TMP/up.log")
        [ -n "$UPORT" ] && break
        sleep 0.05
    done
    kill "$PID"; wait "$PID" 2>/dev/null || true
    "$BOSUN" dns --listen "$ADDR:0" --records "$TMP/records.json" --upstream "$ADDR:$UPORT" \
        2>"$TMP/dns2.log" 3>&- &
    PID=$!
    PORT=
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/.* port \([0-9]*\),.*/\1/p' "$TMP/dns2.log")
        [ -n "$PORT" ] && break
        sleep 0.05
    done
    run q +short a.b.svc.upstream.test A
    [ "$output" = "10.43.9.9" ]
    run q +short kubernetes.default.svc.cluster.local A
    [ "$output" = "10.43.0.1" ]
}
