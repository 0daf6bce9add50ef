# Shared helpers for the bats integration tests: start a real `bosun server` in a private
# temporary directory on a free loopback port, point the real kubectl at it, and stop and
# clean everything up afterwards.
#
# BOSUN       path of the bosun binary (make test sets it; default build-asan/bosun)
# BOSUN_SHARED path of the shared fixtures (default <repo>/../shared)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${BOSUN:=$REPO_ROOT/build-asan/bosun}"
: "${BOSUN_SHARED:=$REPO_ROOT/../shared}"
FIXTURES="$BOSUN_SHARED/fixtures/k8s-examples"
export BOSUN BOSUN_SHARED FIXTURES
# leaks are checked by the unit tests; the server under test only reports real errors
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# unique_service_cidr: a /20 in 10.100.0.0-10.199.255.255 for one server. Clusters on one
# host must not share Service addresses (each programs its own into the kernel).
unique_service_cidr() {
    echo "10.$((100 + RANDOM % 100)).$((16 * (RANDOM % 16))).0/20"
}

# svc_ips CIDR: exports KUBE_SVC_IP (the `kubernetes` Service, .1) and DNS_SVC_IP (kube-dns,
# .10) of a service CIDR whose network address ends in .0 (default 10.43.0.0/16).
svc_ips() {
    local base="${1:-10.43.0.0/16}"
    base="${base%/*}"
    KUBE_SVC_IP="${base%.*}.$((${base##*.} + 1))"
    DNS_SVC_IP="${base%.*}.$((${base##*.} + 10))"
    export KUBE_SVC_IP DNS_SVC_IP
}

# isolate_server: for a test that starts `bosun server` itself. Sets ISOLATION to the flags
# that keep that server apart from every other one on the host (its own nftables table,
# removed by stop_server, and its own service CIDR) and exports BOSUN_PROXY_TABLE,
# KUBE_SVC_IP and DNS_SVC_IP.
isolate_server() {
    BOSUN_PROXY_TABLE="bsnt$$_$RANDOM"
    local cidr
    cidr="$(unique_service_cidr)"
    ISOLATION=(--proxy-table "$BOSUN_PROXY_TABLE" --service-cidr "$cidr")
    svc_ips "$cidr"
    export BOSUN_PROXY_TABLE
}

# start_server [extra flags...]: starts bosun server, waits until /readyz answers. Unless the
# flags name them, the server gets its own service CIDR (KUBE_SVC_IP, DNS_SVC_IP), nftables
# table and gateway port.
start_server() {
    BOSUN_DIR="$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/bosun.XXXXXX")"
    BOSUN_PORT="$(free_port)"
    # the embedded gateway gets its own free port (never :80, so runs do not collide)
    BOSUN_GW_PORT="$(free_port)"
    local gwflags=(--gateway-listen "127.0.0.1:$BOSUN_GW_PORT")
    case " $* " in *" --gateway-listen "* | *" --disable-gateway "*) gwflags=() ;; esac
    # no embedded node agent unless the test asks for one (API tests need no running pods)
    local agentflags=(--disable-agent)
    case " $* " in *" --runtime "* | *" --node-name "* | *" --disable-agent "* | *" --simulate-nodes "*) agentflags=() ;; esac
    # as root the service proxy programs nftables: each server gets its own table (removed by
    # stop_server even after a kill -9), so concurrent runs never replace each other's rules
    local proxyflags=(--proxy-table "bsnt$$_$RANDOM")
    case " $* " in *" --proxy-table "*) proxyflags=() ;; esac
    BOSUN_PROXY_TABLE="${proxyflags[1]:-}"
    local svccidr
    svccidr="$(unique_service_cidr)"
    local svcflags=(--service-cidr "$svccidr")
    case " $* " in *" --service-cidr "*) svcflags=() ;; esac
    local i j
    for ((i = 1; i <= $#; i++)); do
        [ "${!i}" = --proxy-table ] && j=$((i + 1)) && BOSUN_PROXY_TABLE="${!j}"
        [ "${!i}" = --service-cidr ] && j=$((i + 1)) && svccidr="${!j}"
    done
    export BOSUN_PROXY_TABLE
    svc_ips "$svccidr"
    local flags=("${gwflags[@]}" "${agentflags[@]}" "${proxyflags[@]}" "${svcflags[@]}" "$@")
    # exported as a quoted string: setup_file and the tests run in different shells
    BOSUN_SERVER_FLAGS="$(printf '%q ' "${flags[@]}")"
    export BOSUN_SERVER_FLAGS
    export HOME="$BOSUN_DIR/home" # kubectl's discovery cache stays private to this run
    mkdir -p "$HOME"
    "$BOSUN" server --data-dir "$BOSUN_DIR/data" --listen "127.0.0.1:$BOSUN_PORT" \
        "${flags[@]}" >"$BOSUN_DIR/server.log" 2>&1 3>&- &
    BOSUN_PID=$!
    echo "$BOSUN_PID" >"$BOSUN_DIR/pid" # tests that restart it update this for teardown
    export BOSUN_DIR BOSUN_PORT BOSUN_PID BOSUN_GW_PORT
    export KUBECONFIG="$BOSUN_DIR/data/kubeconfig"
    wait_ready
}

wait_ready() {
    for _ in $(seq 1 200); do
        if [ -f "$KUBECONFIG" ] && curl -sk "https://127.0.0.1:$BOSUN_PORT/readyz" 2>/dev/null | grep -q ok; then
            return 0
        fi
        if ! kill -0 "$BOSUN_PID" 2>/dev/null; then
            echo "bosun server exited:" >&2
            cat "$BOSUN_DIR/server.log" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "bosun server not ready; log:" >&2
    cat "$BOSUN_DIR/server.log" >&2
    return 1
}

# restart_server: SIGTERM and start again on the same data dir and port.
restart_server() {
    local flags
    eval "flags=($BOSUN_SERVER_FLAGS)"
    kill -TERM "$BOSUN_PID" 2>/dev/null || true
    # the server may have been started by another shell (setup_file): poll, do not wait
    for _ in $(seq 1 200); do kill -0 "$BOSUN_PID" 2>/dev/null || break; sleep 0.05; done
    wait "$BOSUN_PID" 2>/dev/null || true
    "$BOSUN" server --data-dir "$BOSUN_DIR/data" --listen "127.0.0.1:$BOSUN_PORT" \
        "${flags[@]}" "$@" >>"$BOSUN_DIR/server.log" 2>&1 3>&- &
    BOSUN_PID=$!
    echo "$BOSUN_PID" >"$BOSUN_DIR/pid"
    export BOSUN_PID
    wait_ready
}

stop_server() {
    # the server may have been restarted by a test in another shell: its pid is in the file
    if [ -n "${BOSUN_DIR:-}" ] && [ -f "$BOSUN_DIR/pid" ]; then
        BOSUN_PID="$(cat "$BOSUN_DIR/pid")"
    fi
    if [ -n "${BOSUN_PID:-}" ]; then
        kill -TERM "$BOSUN_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$BOSUN_PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$BOSUN_PID" 2>/dev/null || true
        wait "$BOSUN_PID" 2>/dev/null || true
    fi
    if [ -n "${BOSUN_DIR:-}" ] && [ -f "$BOSUN_DIR/server.log" ] &&
        grep -q "ERROR: AddressSanitizer\|runtime error:" "$BOSUN_DIR/server.log"; then
        echo "sanitizer report in server log:" >&2
        grep -A20 "ERROR: AddressSanitizer\|runtime error:" "$BOSUN_DIR/server.log" >&2
        rm -rf "$BOSUN_DIR"
        [ -z "${BOSUN_PROXY_TABLE:-}" ] || nft delete table ip "$BOSUN_PROXY_TABLE" 2>/dev/null || true
        return 1
    fi
    [ -n "${BOSUN_DIR:-}" ] && rm -rf "$BOSUN_DIR"
    if [ -n "${BOSUN_PROXY_TABLE:-}" ] && [ "$(id -u)" -eq 0 ] && command -v nft >/dev/null; then
        nft delete table ip "$BOSUN_PROXY_TABLE" 2>/dev/null || true
    fi
    return 0
}

# api PATH [curl args...]: authenticated request to the API server, body on stdout.
api() {
    local path="$1"
    shift
    curl -sS --cacert "$BOSUN_DIR/data/tls/ca.crt" \
        -H "Authorization: Bearer $(cat "$BOSUN_DIR/data/token")" \
        "https://127.0.0.1:$BOSUN_PORT$path" "$@"
}

# unique_ns: a namespace name unique to this run.
unique_ns() {
    echo "t-$(date +%s%N | tail -c 7)-$RANDOM"
}

# wait_for 'SHELL CONDITION': re-evaluates the condition for up to 20 s.
wait_for() {
    for _ in $(seq 1 200); do
        if eval "$1" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "timed out waiting for: $*" >&2
    return 1
}
