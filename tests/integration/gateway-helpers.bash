# gateway-helpers.bash - shared setup for tests/integration/gateway-*.bats.
#
# The gateway binary: $BOSUN_GATEWAY, else `$BOSUN gateway` when the subcommand is wired,
# else the stand-alone bosun-gateway from a build directory. Backends are the small C origin
# server of bench/gateway/upstream.c, compiled once per file.

GW_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

gw_find_binary() {
    if [ -n "${BOSUN_GATEWAY:-}" ]; then
        GW_CMD=("$BOSUN_GATEWAY")
        return
    fi
    if [ -n "${BOSUN:-}" ] && "$BOSUN" gateway --help >/dev/null 2>&1; then
        GW_CMD=("$BOSUN" gateway)
        return
    fi
    local d
    for d in build-asan build-gateway build; do
        if [ -x "$GW_ROOT/$d/src/gateway/bosun-gateway" ]; then
            GW_CMD=("$GW_ROOT/$d/src/gateway/bosun-gateway")
            return
        fi
    done
    skip "no gateway binary (set BOSUN_GATEWAY or build src/gateway/bosun-gateway)"
}

gw_setup_file() {
    gcc -O2 -o "$BATS_FILE_TMPDIR/upstream" "$GW_ROOT/bench/gateway/upstream.c" -lpthread
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
    local i
    for i in $(seq 1 200); do
        if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listening on port $1" >&2
    return 1
}

# start_upstream NAME [upstream flags...] -> sets UP_PORT
start_upstream() {
    local name=$1
    shift
    UP_PORT=$(free_port)
    "$BATS_FILE_TMPDIR/upstream" -p "$UP_PORT" -n "$name" "$@" 3>&- &
    echo $! >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$UP_PORT"
}

# start_gateway CONFIG [flags...] -> sets GW_PORT, ADMIN_PORT, GW_PID
start_gateway() {
    local cfg=$1
    shift
    gw_find_binary
    GW_PORT=$(free_port)
    ADMIN_PORT=$(free_port)
    "${GW_CMD[@]}" --listen 127.0.0.1:"$GW_PORT" --admin 127.0.0.1:"$ADMIN_PORT" \
        --config "$cfg" --log-level warn "$@" 2>>"$BATS_TEST_TMPDIR/gateway.log" 3>&- &
    GW_PID=$!
    echo "$GW_PID" >>"$BATS_TEST_TMPDIR/pids"
    wait_port "$GW_PORT"
}

gw_teardown() {
    if [ -f "$BATS_TEST_TMPDIR/pids" ]; then
        while read -r p; do kill "$p" 2>/dev/null || true; done <"$BATS_TEST_TMPDIR/pids"
        while read -r p; do
            for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        done <"$BATS_TEST_TMPDIR/pids"
    fi
    if [ -f "$BATS_TEST_TMPDIR/gateway.log" ] && grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error" \
        "$BATS_TEST_TMPDIR/gateway.log"; then
        cat "$BATS_TEST_TMPDIR/gateway.log" >&2
        return 1
    fi
}

# service NAME PORT... : a Service + EndpointSlice with one 127.0.0.1 endpoint per port
service() {
    local name=$1
    shift
    cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: default}
spec: {ports: [{name: http, port: 80}]}
EOF
    local i=0 p
    for p in "$@"; do
        i=$((i + 1))
        cat <<EOF
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $name-$i, namespace: default, labels: {kubernetes.io/service-name: $name}}
addressType: IPv4
ports: [{name: http, port: $p}]
endpoints: [{addresses: ["127.0.0.1"]}]
EOF
    done
}

# count_names URL N [HEADER] -> "name count" lines for N requests over one keep-alive connection
count_names() {
    python3 - "$@" <<'EOF'
import http.client, sys, collections, urllib.parse
url, n = sys.argv[1], int(sys.argv[2])
hdrs = {}
if len(sys.argv) > 3:
    k, v = sys.argv[3].split(":", 1)
    hdrs[k.strip()] = v.strip()
u = urllib.parse.urlsplit(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
counts = collections.Counter()
for _ in range(n):
    c.request("GET", u.path or "/", headers=hdrs)
    r = c.getresponse()
    body = r.read().decode().strip()
    counts[body if r.status == 200 else "status-%d" % r.status] += 1
for k, v in sorted(counts.items()):
    print(k, v)
EOF
}

# policy_ingress NAME HOST SERVICE POLICY-SPEC-YAML: an Ingress for HOST -> SERVICE:80 and the
# GatewayPolicy NAME (spec given as YAML) it names through its annotation.
policy_ingress() {
    cat <<EOF
---
kind: Ingress
metadata: {name: $1, annotations: {gateway.bosun.dev/policy: $1}}
spec:
  rules:
  - host: $2
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: $3, port: {number: 80}}}}]}
---
apiVersion: gateway.bosun.dev/v1alpha1
kind: GatewayPolicy
metadata: {name: $1}
spec:
$4
EOF
}
