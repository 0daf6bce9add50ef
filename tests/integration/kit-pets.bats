#!/usr/bin/env bats
# The microservice kit end to end: the pets example (built in the build dir next to $BOSUN)
# runs standalone on a free port and is driven with curl: CRUD, PetNotFound as 404 JSON,
# validation 400, /healthz, /readyz, /metrics counters, /openapi.json, /docs, request ids,
# the SQLite store surviving a restart, and SIGTERM draining to exit code 0.

load helpers

# PETS overrides the binary (default: next to $BOSUN in the same build dir)
: "${PETS:=$(dirname "$BOSUN")/examples/pets/pets}"

setup() {
    [[ -x "$PETS" ]] || skip "pets binary not built at $PETS (build the examples in $(dirname "$BOSUN"))"
    PETS_TMP="$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/pets.XXXXXX")"
    PETS_PID=""
    KIT_CLUSTER=""
}

teardown() {
    if [[ -n "$PETS_PID" ]] && kill -0 "$PETS_PID" 2>/dev/null; then
        kill -KILL "$PETS_PID" 2>/dev/null || true
        wait "$PETS_PID" 2>/dev/null || true
    fi
    rm -rf "$PETS_TMP"
    if [[ -n "${KIT_CLUSTER:-}" ]]; then
        kubectl delete deploy/pets svc/pets pvc/pets-data --wait=false >/dev/null 2>&1 || true
        stop_server
    fi
}

# start_pets [VAR=value...]: runs pets in the background on a free port, waits for /healthz.
start_pets() {
    PETS_PORT="$(free_port)"
    env HOST=127.0.0.1 PORT="$PETS_PORT" "$@" "$PETS" 2>>"$PETS_TMP/log" 3>&- &
    PETS_PID=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$PETS_PORT/healthz" >/dev/null && return 0
        sleep 0.05
    done
    cat "$PETS_TMP/log" >&2
    return 1
}

# stop_pets: SIGTERM, must exit 0.
stop_pets() {
    kill -TERM "$PETS_PID"
    local rc=0
    wait "$PETS_PID" || rc=$?
    PETS_PID=""
    [[ "$rc" -eq 0 ]] || { echo "pets exited $rc" >&2; cat "$PETS_TMP/log" >&2; return 1; }
}

u() { echo "http://127.0.0.1:$PETS_PORT$1"; }

@test "pets: create, list, get, delete and PetNotFound" {
    start_pets
    run curl -s -w '\n%{http_code}' -XPOST "$(u /pets)" -d '{"name":"rex","owner":"ann","description":"good dog"}'
    [[ "${lines[1]}" == 201 ]]
    [[ "$(jq -r .id <<<"${lines[0]}")" == 1 ]]
    curl -s -XPOST "$(u /pets)" -d '{"name":"tom","owner":"bob"}' >/dev/null
    run curl -s "$(u /pets)"
    [[ "$(jq -r 'map(.name)|join(",")' <<<"$output")" == "rex,tom" ]]
    run curl -s "$(u /pets/2)"
    [[ "$(jq -r .owner <<<"$output")" == bob ]]
    run curl -s -w '\n%{http_code}' "$(u /pets/99)"
    [[ "${lines[1]}" == 404 ]]
    [[ "$(jq -r .error <<<"${lines[0]}")" == PetNotFound ]]
    [[ "$(jq -r .message <<<"${lines[0]}")" == "pet 99 not found" ]]
    run curl -s -o /dev/null -w '%{http_code}' -XDELETE "$(u /pets/1)"
    [[ "$output" == 204 ]]
    run curl -s -o /dev/null -w '%{http_code}' "$(u /pets/1)"
    [[ "$output" == 404 ]]
    run curl -s -o /dev/null -w '%{http_code}' -XDELETE "$(u /pets/1)"
    [[ "$output" == 404 ]]
    run curl -s -o /dev/null -w '%{http_code}' -XPATCH "$(u /pets/2)"
    [[ "$output" == 405 ]]
    stop_pets
}

@test "pets: validation errors are 400 JSON with details" {
    start_pets
    run curl -s -w '\n%{http_code}' -XPOST "$(u /pets)" -d '{"name":7}'
    [[ "${lines[1]}" == 400 ]]
    [[ "$(jq -r .error <<<"${lines[0]}")" == ValidationError ]]
    [[ "$(jq -r '.details|map(.field)|sort|join(",")' <<<"${lines[0]}")" == "name,owner" ]]
    run curl -s -w '\n%{http_code}' -XPOST "$(u /pets)" -d '{"name":'
    [[ "${lines[1]}" == 400 ]]
    [[ "$(jq -r .error <<<"${lines[0]}")" == BadRequest ]]
    run curl -s -w '\n%{http_code}' -XPOST "$(u /pets)" -d '{"name":"","owner":"x"}'
    [[ "${lines[1]}" == 400 ]]
    [[ "$(jq -r .error <<<"${lines[0]}")" == InvalidPet ]]
    # nothing was stored
    [[ "$(curl -s "$(u /pets)")" == "[]" ]]
    stop_pets
}

@test "pets: healthz, readyz, metrics, openapi, docs, request ids and access log" {
    start_pets
    [[ "$(curl -s "$(u /healthz)" | jq -r .status)" == ok ]]
    [[ "$(curl -s "$(u /readyz)" | jq -r .status)" == ready ]]
    for _ in 1 2 3; do curl -s "$(u /pets/5)" >/dev/null; done
    curl -s "$(u /pets)" >/dev/null
    run curl -s "$(u /metrics)"
    grep -qF 'kit_http_requests_total{service="pets",route="/pets/{id}",method="GET",status="404"} 3' <<<"$output"
    grep -qF 'kit_http_requests_total{service="pets",route="/pets",method="GET",status="200"} 1' <<<"$output"
    grep -qF 'kit_http_request_duration_seconds_count{service="pets",route="/pets/{id}",method="GET"} 3' <<<"$output"
    run curl -s "$(u /openapi.json)"
    [[ "$(jq -r .openapi <<<"$output")" == 3.0.3 ]]
    [[ "$(jq -r '.paths["/pets"]|keys|join(",")' <<<"$output")" == "get,post" ]]
    [[ "$(jq -r '.paths["/pets/{id}"]|keys|join(",")' <<<"$output")" == "delete,get" ]]
    [[ "$(jq -r '.components.schemas.NewPet.required|join(",")' <<<"$output")" == "name,owner" ]]
    run curl -s "$(u /docs)"
    [[ "$output" == *"openapi.json"* ]]
    # request id propagated, traceparent echoed, both in the access log
    tp="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    run curl -s -D - -o /dev/null -H "X-Request-Id: req-$$" -H "traceparent: $tp" "$(u /pets)"
    [[ "$output" == *"X-Request-Id: req-$$"* ]]
    [[ "$output" == *"traceparent: $tp"* ]]
    stop_pets
    line="$(grep "\"requestId\":\"req-$$\"" "$PETS_TMP/log")"
    [[ "$(jq -r .traceparent <<<"$line")" == "$tp" ]]
    [[ "$(jq -r .status <<<"$line")" == 200 ]]
    [[ "$(jq -r .route <<<"$line")" == /pets ]]
}

@test "pets: the SQLite store keeps pets across a restart" {
    start_pets PETS_STORE=sqlite PETS_DB="$PETS_TMP/pets.db"
    curl -s -XPOST "$(u /pets)" -d '{"name":"kit","owner":"cat"}' >/dev/null
    stop_pets
    start_pets PETS_STORE=sqlite PETS_DB="$PETS_TMP/pets.db"
    [[ "$(curl -s "$(u /pets/1)" | jq -r .name)" == kit ]]
    stop_pets
    grep -q '"store: sqlite"' "$PETS_TMP/log"
}

@test "pets: SIGTERM finishes an in-flight request and exits 0" {
    start_pets
    # a slow client: the request body arrives after SIGTERM; it must still be answered
    python3 - "$PETS_PORT" "$PETS_TMP/sent" >"$PETS_TMP/resp" <<'PY' 3>&- &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
body = b'{"name":"late","owner":"me"}'
s.sendall(b"POST /pets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body))
open(sys.argv[2], "w").close()  # the head is out: the test may send SIGTERM now
time.sleep(0.5)
s.sendall(body)
s.settimeout(5)
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode())
PY
    local nc_pid=$!
    # SIGTERM only once the request's head was sent (python may start slowly under load)
    for _ in $(seq 1 100); do [ -e "$PETS_TMP/sent" ] && break; sleep 0.05; done
    [ -e "$PETS_TMP/sent" ]
    sleep 0.1
    kill -TERM "$PETS_PID"
    local rc=0
    wait "$PETS_PID" || rc=$?
    PETS_PID=""
    wait "$nc_pid" || true
    [[ "$rc" -eq 0 ]]
    grep -q "201 Created" "$PETS_TMP/resp"
    # and nothing listens any more
    ! curl -s --max-time 1 "$(u /healthz)"
}

@test "pets: deployed from examples/pets/pets.yaml on a process-runtime cluster" {
    [[ -x "$BOSUN" ]] || skip "bosun binary not found at $BOSUN"
    start_server --runtime process --node-name "kitpets-$$"
    KIT_CLUSTER=1
    # the process runtime: the memory store (the claim still binds through local-path)
    "$REPO_ROOT/examples/render.sh" "$REPO_ROOT/examples/pets/pets.yaml" "$(dirname "$BOSUN")" |
        sed 's|value: sqlite|value: memory|' >"$PETS_TMP/pets.yaml"
    kubectl apply -f "$PETS_TMP/pets.yaml" >/dev/null
    kubectl rollout status deploy/pets --timeout=60s >/dev/null
    ip="$(kubectl get pods -l app=pets -o jsonpath='{.items[0].status.podIP}')"
    curl -s -XPOST "http://$ip:8080/pets" -d '{"name":"rex","owner":"ann"}' >/dev/null
    got="$(curl -s "http://$ip:8080/pets/1" | jq -r .name)"
    [[ "$got" == rex ]]
    [[ "$(kubectl get svc pets -o jsonpath='{.spec.ports[0].port}')" == 80 ]]
    # the pod's access log went to the pod's log
    kubectl logs deploy/pets | grep -q '"route":"/pets/{id}"' 
}
