#!/usr/bin/env bats
# gateway-soak.bats - hot reconfiguration under load: wrk against the gateway while routes and
# endpoints change every 10 ms (a new configuration file + SIGHUP each time), plus a WebSocket
# that must keep echoing across 50 route changes. Zero failed requests allowed.
# SOAK_SECONDS (default 20) sets the length of the wrk run.

load gateway-helpers

setup_file() {
    gw_setup_file
}

teardown() {
    gw_teardown
}

# churn.py CFG GW_PID PORT_A PORT_B PORT_C SECONDS|-N: rewrites CFG and sends SIGHUP every 10 ms.
# Step i: the / route goes to service "sa" or "sb" (alternating), sa's endpoints rotate
# between {A}, {A, C}, {C}, an extra Ingress with host h<i>.test comes and goes, and every
# 7th step adds 20 more throw-away routes. Every variant keeps a ready endpoint behind /.
ingress_for_soak() { # NAME PATH SERVICE
    cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $1, namespace: default}
spec:
  ingressClassName: bosun
  rules:
  - http: {paths: [{path: "$2", pathType: Prefix, backend: {service: {name: $3, port: {number: 80}}}}]}
EOF
}

write_churn() {
    cat >"$BATS_TEST_TMPDIR/churn.py" <<'EOF'
import os, signal, sys, time
cfg, pid, pa, pb, pc, dur = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def svc(name, ports):
    out = ["---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: default}\nspec: {ports: [{name: http, port: 80}]}\n" % name]
    for i, p in enumerate(ports):
        out.append("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                   "metadata: {name: %s-%d, namespace: default, labels: {kubernetes.io/service-name: %s}}\n"
                   "addressType: IPv4\nports: [{name: http, port: %s}]\nendpoints: [{addresses: [\"127.0.0.1\"]}]\n" % (name, i, name, p))
    return "".join(out)
def ing(name, host, path, svc_name):
    h = "host: \"%s\"\n    " % host if host else ""
    return ("---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: %s, namespace: default}\n"
            "spec:\n  ingressClassName: bosun\n  rules:\n  - %shttp: {paths: [{path: \"%s\", pathType: Prefix, "
            "backend: {service: {name: %s, port: {number: 80}}}}]}\n" % (name, h, path, svc_name))
end = time.time() + float(dur) if not dur.startswith("-") else None
steps = int(dur[1:]) if dur.startswith("-") else 1 << 30
i = 0
while i < steps and (end is None or time.time() < end):
    eps = [[pa], [pa, pc], [pc]][i % 3]
    doc = svc("sa", eps) + svc("sb", [pb]) + svc("ws", [pa] if i % 2 else [pc])
    doc += ing("main", "", "/", "sa" if i % 2 else "sb")
    doc += ing("wsr", "", "/ws", "ws")
    if i % 2:
        doc += ing("extra", "h%d.test" % i, "/", "sb")
    if i % 7 == 0:
        for k in range(20):
            doc += ing("many-%d" % k, "m%d-%d.test" % (k, i), "/p%d" % k, "sa")
    with open(cfg + ".new", "w") as f:
        f.write(doc)
    os.rename(cfg + ".new", cfg)
    os.kill(pid, signal.SIGHUP)
    i += 1
    time.sleep(0.01)
print(i)
EOF
}

@test "gateway soak: wrk while routes and endpoints change every 10 ms, zero failed requests" {
    command -v wrk >/dev/null || skip "wrk not installed"
    start_upstream a; PA=$UP_PORT
    start_upstream b; PB=$UP_PORT
    start_upstream c; PC=$UP_PORT
    write_churn
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    { service sa "$PA"; service sb "$PB"; service ws "$PA"; ingress_for_soak main / sa; } >"$cfg"
    # ASan's quarantine would hold every freed snapshot; measure memory without it
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
    start_gateway "$cfg" --threads 2
    secs=${SOAK_SECONDS:-20}
    wrk -t2 -c32 -d"${secs}s" "http://127.0.0.1:$GW_PORT/name" >"$BATS_TEST_TMPDIR/wrk.txt" 2>&1 3>&- &
    WRK=$!
    rss0=$(awk '/VmRSS/ {print $2}' /proc/$GW_PID/status)
    steps=$(python3 "$BATS_TEST_TMPDIR/churn.py" "$cfg" "$GW_PID" "$PA" "$PB" "$PC" "$((secs - 1))")
    wait "$WRK"
    cat "$BATS_TEST_TMPDIR/wrk.txt"
    echo "configuration changes: $steps"
    grep -q 'Requests/sec' "$BATS_TEST_TMPDIR/wrk.txt"
    ! grep -q 'Non-2xx\|Socket errors' "$BATS_TEST_TMPDIR/wrk.txt"
    reqs=$(awk '/requests in/ {print $1}' "$BATS_TEST_TMPDIR/wrk.txt")
    [ "$reqs" -gt 1000 ]
    # at least ~30 changes a second got applied (SIGHUP reloads are not debounced)
    reloads=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^bosun_gateway_config_reloads_total/ {print $2}')
    echo "reloads applied: $reloads"
    [ "$reloads" -ge $((secs * 30)) ]
    # memory does not grow with the number of reloads (allow for pools and arenas)
    rss1=$(awk '/VmRSS/ {print $2}' /proc/$GW_PID/status)
    echo "RSS before $rss0 kB, after $rss1 kB"
    [ "$rss1" -lt $((rss0 + 30000)) ]
    # the gateway still routes and the last configuration is in force
    run curl -s "http://127.0.0.1:$GW_PORT/name"
    [ "$status" -eq 0 ] && [[ "$output" =~ ^(a|b|c)$ ]]
}

@test "gateway soak: a WebSocket keeps echoing across 50 route and endpoint changes" {
    start_upstream a; PA=$UP_PORT
    start_upstream b; PB=$UP_PORT
    start_upstream c; PC=$UP_PORT
    write_churn
    cfg=$BATS_TEST_TMPDIR/cfg.yaml
    { service sa "$PA"; service sb "$PB"; service ws "$PA"; ingress_for_soak main / sa; ingress_for_soak wsr /ws ws; } >"$cfg"
    start_gateway "$cfg"
    run python3 - "$GW_PORT" "$BATS_TEST_TMPDIR/churn.py" "$cfg" "$GW_PID" "$PA" "$PB" "$PC" <<'EOF'
import socket, subprocess, sys
port, churn = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(4096)
print(head.split(b"\r\n")[0].decode())
ok = 0
for i in range(50):
    # one configuration change (route + endpoints + the /ws backend), then an echo
    subprocess.run([sys.executable, churn] + sys.argv[3:] + ["-1"], check=True, stdout=subprocess.DEVNULL)
    msg = b"msg-%d-" % i + b"x" * (i * 100)
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        d = s.recv(65536)
        if not d:
            break
        got += d
    ok += got == msg
print(ok)
EOF
    echo "$output"
    [ "${lines[0]}" = "HTTP/1.1 101 Switching Protocols" ]
    [ "${lines[1]}" = 50 ]
    reloads=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^bosun_gateway_config_reloads_total/ {print $2}')
    [ "$reloads" -ge 50 ]
}
