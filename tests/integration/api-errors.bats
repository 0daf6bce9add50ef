#!/usr/bin/env bats
# Bad input gets upstream's class of error with a message naming the problem, and nothing
# partial is stored.

load helpers

setup_file() {
    start_server
}

teardown_file() {
    stop_server
}

setup() {
    NS="$(unique_ns)"
    printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s"}}' "$NS" | kubectl apply -f - >/dev/null
}

post() {
    api "$1" -X POST -H "Content-Type: ${3:-application/json}" --data-binary "$2"
}

@test "malformed JSON is a 400 naming the position" {
    run post "/api/v1/namespaces/$NS/configmaps" '{"apiVersion":"v1","kind":"ConfigMap",'
    [ "$(echo "$output" | jq -r .code)" = 400 ]
    [ "$(echo "$output" | jq -r .kind)" = Status ]
    [[ "$(echo "$output" | jq -r .message)" == *"line 1"* ]]
}

@test "malformed YAML is a 400 naming line and column" {
    run post "/api/v1/namespaces/$NS/configmaps" $'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n' application/yaml
    [ "$(echo "$output" | jq -r .code)" = 400 ]
    [[ "$(echo "$output" | jq -r .message)" == *"line"*"column"* ]]
}

@test "YAML bodies are accepted" {
    run post "/api/v1/namespaces/$NS/configmaps" $'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fromyaml\ndata:\n  k: "on"\n' application/yaml
    [ "$(echo "$output" | jq -r .metadata.name)" = fromyaml ]
    [ "$(echo "$output" | jq -r .data.k)" = on ]
}

@test "invalid names are 422 Invalid with the field in details.causes" {
    run post "/api/v1/namespaces/$NS/configmaps" '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}'
    [ "$(echo "$output" | jq -r .code)" = 422 ]
    [ "$(echo "$output" | jq -r .reason)" = Invalid ]
    [ "$(echo "$output" | jq -r '.details.causes[0].field')" = metadata.name ]
    [[ "$(echo "$output" | jq -r .message)" == *"RFC 1123"* ]]
    run kubectl get cm -n "$NS" -o name
    [[ "$output" != *Bad_Name* ]]
}

@test "kubectl reports invalid objects like upstream" {
    run kubectl apply -n "$NS" -f - <<<'{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":-1,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c"}]}}}}'
    [ "$status" -ne 0 ]
    [[ "$output" == *'is invalid'* ]]
    [[ "$output" == *"spec.replicas"* ]]
    [[ "$output" == *"spec.template.spec.containers[0].image"* ]]
}

@test "wrong apiVersion and unknown kinds are refused" {
    run kubectl apply -f - <<<'{"apiVersion":"batch/v1beta1","kind":"CronJob","metadata":{"name":"c"},"spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"busybox"}]}}}}}}'
    [ "$status" -ne 0 ]
    [[ "$output" == *'no matches for kind "CronJob" in version "batch/v1beta1"'* ]]
    run api "/apis/batch/v1beta1/namespaces/$NS/cronjobs"
    [ "$(echo "$output" | jq -r .code)" = 404 ]
    run post "/api/v1/namespaces/$NS/configmaps" '{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}'
    [ "$(echo "$output" | jq -r .code)" = 400 ]
    [[ "$(echo "$output" | jq -r .message)" == *"does not match the expected API version"* ]]
}

@test "bodies over 3 MiB get 413 and nothing is stored" {
    big="$BATS_TEST_TMPDIR/big.json"
    python3 -c "import json,sys; json.dump({'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'big'},'data':{'k':'x'*(3*1024*1024+10)}}, open(sys.argv[1],'w'))" "$big"
    run api "/api/v1/namespaces/$NS/configmaps" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$big"
    [ "$output" = 413 ]
    run kubectl get cm big -n "$NS"
    [ "$status" -ne 0 ]
}

@test "creating an existing object is 409 AlreadyExists; a missing one is 404 NotFound" {
    post "/api/v1/namespaces/$NS/configmaps" '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"}}' >/dev/null
    run post "/api/v1/namespaces/$NS/configmaps" '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"}}'
    [ "$(echo "$output" | jq -r '.code, .reason')" = "$(printf '409\nAlreadyExists')" ]
    [ "$(echo "$output" | jq -r .message)" = 'configmaps "dup" already exists' ]
    run api "/api/v1/namespaces/$NS/configmaps/nope"
    [ "$(echo "$output" | jq -r .message)" = 'configmaps "nope" not found' ]
    run post "/api/v1/namespaces/nonexistent-ns-$RANDOM/configmaps" '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}'
    [ "$(echo "$output" | jq -r .code)" = 404 ]
    [[ "$(echo "$output" | jq -r .message)" == 'namespaces "nonexistent-ns-'* ]]
}

@test "generateName makes a unique name" {
    run post "/api/v1/namespaces/$NS/configmaps" '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"gen-"}}'
    name=$(echo "$output" | jq -r .metadata.name)
    [[ "$name" =~ ^gen-[a-z0-9]{5}$ ]]
}

@test "unknown patch content type is 415; strategic merge patch of a bad document is an error" {
    run api "/api/v1/namespaces/$NS/configmaps/x" -X PATCH -H 'Content-Type: text/plain' -d 'x'
    [ "$(echo "$output" | jq -r .code)" = 415 ]
}

@test "broken HTTP gets 400 and the server keeps serving" {
    run bash -c "printf 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n' | timeout 3 openssl s_client -quiet -connect 127.0.0.1:$BOSUN_PORT 2>/dev/null | head -1"
    [[ "$output" == "HTTP/1.1 400"* ]]
    run curl -sk "https://127.0.0.1:$BOSUN_PORT/readyz"
    [ "$output" = ok ]
}

@test "requests without the token are 401" {
    run curl -sk "https://127.0.0.1:$BOSUN_PORT/api/v1/namespaces"
    [ "$(echo "$output" | jq -r .code)" = 401 ]
}

@test "duplicate fields with fieldValidation=Strict are rejected; bad fieldValidation values are 400" {
    run post "/api/v1/namespaces/$NS/configmaps?fieldValidation=Strict" '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dupf","name":"x"}}'
    [ "$(echo "$output" | jq -r .code)" = 400 ]
    [[ "$(echo "$output" | jq -r .message)" == *'duplicate field'* ]]
    run post "/api/v1/namespaces/$NS/configmaps?fieldValidation=Bogus" '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"y"}}'
    [ "$(echo "$output" | jq -r .code)" = 400 ]
}

@test "unknown fields: kubectl's Strict validation rejects them with the path, Warn warns" {
    run kubectl apply -n "$NS" -f - <<<'{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"typo"},"spec":{"replicass":2,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"nginx","imagePullPolicyy":"Always"}]}}}}'
    [ "$status" -ne 0 ]
    [[ "$output" == *'strict decoding error'* ]]
    [[ "$output" == *'unknown field "spec.replicass"'* ]]
    [[ "$output" == *'unknown field "spec.template.spec.containers[0].imagePullPolicyy"'* ]]
    run kubectl get deploy typo -n "$NS"
    [ "$status" -ne 0 ]
    run kubectl apply --validate=warn -n "$NS" -f - <<<'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"warned"},"extra":1}'
    [ "$status" -eq 0 ]
    [[ "$output" == *'unknown field "extra"'* ]]
    run kubectl apply --validate=false -n "$NS" -f - <<<'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ignored"},"extra":1}'
    [ "$status" -eq 0 ]
    [[ "$output" != *'unknown field'* ]]
}
