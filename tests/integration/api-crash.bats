#!/usr/bin/env bats
# Crash safety: several concurrent writers, kill -9 of the server mid-stream, restart. Every
# acknowledged object is there with its acknowledged content, resourceVersions stay
# monotonic, and a watch resumes from a resourceVersion acknowledged before the crash.

load helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

writer() {
    local id="$1" out="$2" tok ca i code
    tok="$(cat "$BOSUN_DIR/data/token")"
    ca="$BOSUN_DIR/data/tls/ca.crt"
    for i in $(seq 1 100000); do
        code=$(curl -s -o "$out.body" -w '%{http_code}' --cacert "$ca" -H "Authorization: Bearer $tok" \
            -H 'Content-Type: application/json' -X POST \
            "https://127.0.0.1:$BOSUN_PORT/api/v1/namespaces/default/configmaps" \
            -d "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"w$id-$i\"},\"data\":{\"v\":\"$id-$i-payload\"}}") || break
        [ "$code" = 201 ] || break
        # acknowledged: record name and resourceVersion
        echo "w$id-$i $(jq -r .metadata.resourceVersion "$out.body")" >>"$out"
    done
}

@test "acknowledged writes survive kill -9; revisions stay monotonic; watch resumes" {
    local pids=()
    for w in 1 2 3 4; do
        writer "$w" "$BATS_TEST_TMPDIR/ack.$w" 3>&- &
        pids+=($!)
    done
    sleep 3
    kill -KILL "$BOSUN_PID"
    wait "$BOSUN_PID" 2>/dev/null || true
    # the writers only (a bare `wait` would also wait for bats' own timeout countdown)
    wait "${pids[@]}" 2>/dev/null || true
    cat "$BATS_TEST_TMPDIR"/ack.[0-9] >"$BATS_TEST_TMPDIR/ack.all"
    acked=$(wc -l <"$BATS_TEST_TMPDIR/ack.all")
    [ "$acked" -gt 20 ]
    maxrv=$(awk '{print $2}' "$BATS_TEST_TMPDIR/ack.all" | sort -n | tail -1)
    firstrv=$(awk '{print $2}' "$BATS_TEST_TMPDIR/ack.all" | sort -n | head -1)

    restart_server
    api "/api/v1/namespaces/default/configmaps" >"$BATS_TEST_TMPDIR/list.json"
    missing=0
    while read -r name rv; do
        got=$(jq -r --arg n "$name" '.items[] | select(.metadata.name == $n) | .data.v + " " + .metadata.resourceVersion' "$BATS_TEST_TMPDIR/list.json")
        want="${name#w}-payload $rv"
        if [ "$got" != "$want" ]; then
            echo "lost or changed: $name (want '$want', got '$got')" >&2
            missing=$((missing + 1))
        fi
    done <"$BATS_TEST_TMPDIR/ack.all"
    [ "$missing" -eq 0 ]

    # a new write gets a revision above everything acknowledged before the crash
    run api "/api/v1/namespaces/default/configmaps" -X POST -H 'Content-Type: application/json' \
        -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"after-crash"}}'
    newrv=$(echo "$output" | jq -r .metadata.resourceVersion)
    [ "$newrv" -gt "$maxrv" ]

    # a watch from a pre-crash revision replays what followed it
    run timeout 2 curl -sS -N --cacert "$BOSUN_DIR/data/tls/ca.crt" \
        -H "Authorization: Bearer $(cat "$BOSUN_DIR/data/token")" \
        "https://127.0.0.1:$BOSUN_PORT/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$firstrv"
    [[ "$output" == *'"name":"after-crash"'* ]]
    n=$(echo "$output" | grep -c '"type":"ADDED"')
    [ "$n" -ge "$((acked - 1))" ]
}
