#!/usr/bin/env bats
# The API server driven by the real kubectl: apply, get in every output format, selectors,
# watch, describe, patch (all three types), label, annotate, scale, edit, replace, diff,
# delete with cascade, wait, create generators, api-resources, explain.

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

# deploy NAME REPLICAS [drop-env]: a Deployment manifest on stdout
deploy_yaml() {
    local name="${1:-web}" replicas="${2:-2}"
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  labels: {app: web}\n' "$name"
    printf 'spec:\n  replicas: %s\n  selector:\n    matchLabels: {app: web}\n  template:\n' "$replicas"
    printf '    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n'
    printf '      - name: web\n        image: nginx:1.25\n        ports:\n        - containerPort: 80\n'
    if [ -z "${3:-}" ]; then
        printf '        env:\n        - name: MODE\n          value: prod\n'
    fi
}

# mkcm NAME [KEY VALUE]: a ConfigMap through kubectl apply (JSON on the wire)
mkcm() {
    if [ -n "${2:-}" ]; then
        printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s"},"data":{"%s":"%s"}}' "$1" "$2" "$3"
    else
        printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s"}}' "$1"
    fi | kubectl apply -n "$NS" -f - >/dev/null
}

apply_deploy() {
    deploy_yaml "$@" | kubectl apply -n "$NS" -f -
}

@test "bootstrap objects exist: namespaces and the kubernetes service" {
    run kubectl get ns -o name
    [ "$status" -eq 0 ]
    for ns in default kube-system kube-public kube-node-lease; do
        [[ "$output" == *"namespace/$ns"* ]]
    done
    run kubectl get svc kubernetes -n default -o jsonpath='{.spec.clusterIP} {.spec.ports[0].port}'
    [ "$output" = "$KUBE_SVC_IP 443" ]
}

@test "apply creates, re-apply is unchanged, changed apply is configured" {
    run apply_deploy
    [ "$status" -eq 0 ]
    [ "$output" = "deployment.apps/web created" ]
    run apply_deploy
    [ "$output" = "deployment.apps/web unchanged" ]
    run apply_deploy web 3
    [ "$output" = "deployment.apps/web configured" ]
    run kubectl get deploy web -n "$NS" -o jsonpath='{.spec.replicas} {.metadata.generation}'
    [ "$output" = "3 2" ]
}

@test "defaults are applied as upstream does" {
    apply_deploy >/dev/null
    run kubectl get deploy web -n "$NS" -o jsonpath='{.spec.strategy.type} {.spec.strategy.rollingUpdate.maxSurge} {.spec.revisionHistoryLimit} {.spec.progressDeadlineSeconds} {.spec.template.spec.containers[0].imagePullPolicy} {.spec.template.spec.restartPolicy} {.spec.template.spec.dnsPolicy}'
    [ "$output" = "RollingUpdate 25% 10 600 IfNotPresent Always ClusterFirst" ]
}

@test "3-way merge keeps out-of-band changes and removes dropped fields" {
    apply_deploy >/dev/null
    kubectl label deploy web -n "$NS" oob=kept >/dev/null
    # the env var is dropped from the manifest: apply removes it, the out-of-band label stays
    apply_deploy web 2 drop-env >/dev/null
    run kubectl get deploy web -n "$NS" -o jsonpath='{.metadata.labels.oob}|{.spec.template.spec.containers[0].env}'
    [ "$output" = "kept|" ]
}

@test "apply a directory, recursively, multi-document and from stdin" {
    d="$BATS_TEST_TMPDIR/m"
    mkdir -p "$d/sub"
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n' >"$d/ab.yaml"
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n' >"$d/sub/c.yaml"
    run kubectl apply -n "$NS" -f "$d"
    [[ "$output" == *"configmap/a created"* && "$output" == *"configmap/b created"* ]]
    [[ "$output" != *"configmap/c"* ]]
    run kubectl apply -n "$NS" -R -f "$d"
    [[ "$output" == *"configmap/c created"* ]]
    run bash -c "printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n' | kubectl apply -n $NS -f -"
    [ "$output" = "configmap/d created" ]
}

@test "get in every output format" {
    apply_deploy >/dev/null
    run kubectl get deploy -n "$NS"
    [[ "${lines[0]}" =~ ^NAME\ +READY\ +UP-TO-DATE\ +AVAILABLE\ +AGE$ ]]
    [[ "${lines[1]}" =~ ^web\ +0/2 ]]
    run kubectl get deploy -n "$NS" -o wide
    [[ "${lines[0]}" == *"CONTAINERS"*"IMAGES"*"SELECTOR"* ]]
    [[ "${lines[1]}" == *"nginx:1.25"*"app=web"* ]]
    run kubectl get deploy web -n "$NS" -o yaml
    [[ "$output" == *"kind: Deployment"* && "$output" == *"  replicas: 2"* ]]
    run kubectl get deploy web -n "$NS" -o json
    [ "$(echo "$output" | jq -r '.spec.template.spec.containers[0].name')" = web ]
    run kubectl get deploy -n "$NS" -o name
    [ "$output" = "deployment.apps/web" ]
    run kubectl get deploy -n "$NS" -o custom-columns=N:.metadata.name,R:.spec.replicas --no-headers
    [[ "$output" =~ ^web\ +2$ ]]
    run kubectl get deploy -n "$NS" -o jsonpath='{.items[*].metadata.name}'
    [ "$output" = web ]
}

@test "label selectors, field selectors and limit/continue" {
    for i in 1 2 3 4 5; do
        tier=b
        [ "$i" -le 2 ] && tier=a
        printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%s\n  labels: {idx: "%s", tier: %s}\n' "$i" "$i" "$tier" |
            kubectl apply -n "$NS" -f - >/dev/null
    done
    run kubectl get cm -n "$NS" -l tier=a -o name
    [ "$output" = "$(printf 'configmap/cm1\nconfigmap/cm2')" ]
    run kubectl get cm -n "$NS" -l 'tier!=a,idx in (3,5)' -o name
    [ "$output" = "$(printf 'configmap/cm3\nconfigmap/cm5')" ]
    run kubectl get cm -n "$NS" --field-selector metadata.name=cm4 -o name
    [ "$output" = "configmap/cm4" ]
    # kubectl pages through with --chunk-size
    run kubectl get cm -n "$NS" --chunk-size=2 -l idx -o name
    [ "${#lines[@]}" -eq 5 ]
    run api "/api/v1/namespaces/$NS/configmaps?limit=2&labelSelector=idx"
    [ "$(echo "$output" | jq '.items | length')" = 2 ]
    [ "$(echo "$output" | jq '.metadata.remainingItemCount')" = 3 ]
    run kubectl get cm -n "$NS" -l 'bad key=x'
    [ "$status" -ne 0 ]
    run kubectl get cm -n "$NS" --field-selector spec.bogus=x
    [ "$status" -ne 0 ]
    [[ "$output" == *"field label not supported: spec.bogus"* ]]
}

@test "watch streams changes (kubectl get -w)" {
    mkcm w1
    timeout 6 kubectl get cm -n "$NS" -w --output-watch-events >"$BATS_TEST_TMPDIR/w.out" 2>&1 3>&- &
    wpid=$!
    sleep 1.5
    mkcm w2
    kubectl label cm w1 -n "$NS" x=y >/dev/null
    kubectl delete cm w2 -n "$NS" >/dev/null
    sleep 1
    kill "$wpid" 2>/dev/null || true
    wait "$wpid" 2>/dev/null || true
    run cat "$BATS_TEST_TMPDIR/w.out"
    [[ "$output" == *"ADDED"*"w1"* ]]
    [[ "$output" == *"ADDED"*"w2"* ]]
    [[ "$output" == *"MODIFIED"*"w1"* ]]
    [[ "$output" == *"DELETED"*"w2"* ]]
}

@test "watch resumes from a resourceVersion" {
    mkcm r1
    rv=$(kubectl get cm r1 -n "$NS" -o jsonpath='{.metadata.resourceVersion}')
    kubectl label cm r1 -n "$NS" step=2 >/dev/null
    run timeout 2 curl -sS -N --cacert "$BOSUN_DIR/data/tls/ca.crt" \
        -H "Authorization: Bearer $(cat "$BOSUN_DIR/data/token")" \
        "https://127.0.0.1:$BOSUN_PORT/api/v1/namespaces/$NS/configmaps?watch=1&resourceVersion=$rv"
    [[ "$output" == *'"type":"MODIFIED"'*'"step":"2"'* ]]
    [[ "$output" != *'"type":"ADDED"'* ]]
}

@test "describe shows the object" {
    apply_deploy >/dev/null
    run kubectl describe deploy web -n "$NS"
    [ "$status" -eq 0 ]
    [[ "$output" == *"Name:"*"web"* ]]
    [[ "$output" == *"RollingUpdateStrategy:  25% max unavailable, 25% max surge"* ]]
}

@test "patch: strategic merge, JSON merge and JSON patch" {
    apply_deploy >/dev/null
    # strategic: containers merge by name (the image changes, env stays)
    kubectl patch deploy web -n "$NS" -p '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}' >/dev/null
    run kubectl get deploy web -n "$NS" -o jsonpath='{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value}'
    [ "$output" = "nginx:1.26 prod" ]
    kubectl patch deploy web -n "$NS" --type=merge -p '{"metadata":{"labels":{"m":"1"}}}' >/dev/null
    run kubectl get deploy web -n "$NS" -o jsonpath='{.metadata.labels.m}'
    [ "$output" = 1 ]
    kubectl patch deploy web -n "$NS" --type=json -p '[{"op":"replace","path":"/spec/replicas","value":5}]' >/dev/null
    run kubectl get deploy web -n "$NS" -o jsonpath='{.spec.replicas}'
    [ "$output" = 5 ]
    run kubectl patch deploy web -n "$NS" --type=json -p '[{"op":"test","path":"/spec/replicas","value":9}]'
    [ "$status" -ne 0 ]
    run kubectl get deploy web -n "$NS" -o jsonpath='{.spec.replicas}'
    [ "$output" = 5 ]
}

@test "label, annotate, scale" {
    apply_deploy >/dev/null
    kubectl label deploy web -n "$NS" team=core >/dev/null
    kubectl annotate deploy web -n "$NS" owner=alice >/dev/null
    kubectl scale deploy web -n "$NS" --replicas=4 >/dev/null
    run kubectl get deploy web -n "$NS" -o jsonpath='{.metadata.labels.team} {.metadata.annotations.owner} {.spec.replicas}'
    [ "$output" = "core alice 4" ]
    kubectl label deploy web -n "$NS" team- >/dev/null
    run kubectl get deploy web -n "$NS" -o jsonpath='{.metadata.labels.team}'
    [ -z "$output" ]
    run api "/apis/apps/v1/namespaces/$NS/deployments/web/scale"
    [ "$(echo "$output" | jq -r '.kind + " " + (.spec.replicas|tostring)')" = "Scale 4" ]
}

@test "edit with a scripted EDITOR, replace and diff" {
    apply_deploy >/dev/null
    EDITOR="sed -i s/replicas:\ 2/replicas:\ 7/" run kubectl edit deploy web -n "$NS"
    [ "$status" -eq 0 ]
    run kubectl get deploy web -n "$NS" -o jsonpath='{.spec.replicas}'
    [ "$output" = 7 ]
    kubectl get deploy web -n "$NS" -o yaml | sed 's/replicas: 7/replicas: 3/' | kubectl replace -f - >/dev/null
    run kubectl get deploy web -n "$NS" -o jsonpath='{.spec.replicas}'
    [ "$output" = 3 ]
    run bash -c "deploy_yaml() { $(declare -f deploy_yaml | tail -n +3); deploy_yaml web 6 | kubectl diff -n $NS -f -"
    [ "$status" -eq 1 ] # 1 = differences found
    [[ "$output" == *"-  replicas: 3"* && "$output" == *"+  replicas: 6"* ]]
}

@test "optimistic concurrency: a stale resourceVersion is a 409 Conflict" {
    mkcm occ
    obj=$(api "/api/v1/namespaces/$NS/configmaps/occ")
    kubectl label cm occ -n "$NS" bump=1 >/dev/null
    run api "/api/v1/namespaces/$NS/configmaps/occ" -X PUT -H 'Content-Type: application/json' -d "$obj"
    [ "$(echo "$output" | jq -r '.code, .reason')" = "$(printf '409\nConflict')" ]
}

@test "delete: --cascade removes dependents, --cascade=orphan keeps them, --wait returns" {
    mkcm owner
    uid=$(kubectl get cm owner -n "$NS" -o jsonpath='{.metadata.uid}')
    for d in dep1 dep2; do
        printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  ownerReferences:\n  - {apiVersion: v1, kind: ConfigMap, name: owner, uid: %s}\n' "$d" "$uid" |
            kubectl apply -n "$NS" -f - >/dev/null
    done
    run kubectl delete cm owner -n "$NS" --wait
    [ "$status" -eq 0 ]
    run kubectl get cm -n "$NS" -o name
    [[ "$output" != *dep1* && "$output" != *dep2* ]]
    mkcm owner2
    uid=$(kubectl get cm owner2 -n "$NS" -o jsonpath='{.metadata.uid}')
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: orphan\n  ownerReferences:\n  - {apiVersion: v1, kind: ConfigMap, name: owner2, uid: %s}\n' "$uid" |
        kubectl apply -n "$NS" -f - >/dev/null
    kubectl delete cm owner2 -n "$NS" --cascade=orphan >/dev/null
    run kubectl get cm orphan -n "$NS" -o jsonpath='{.metadata.ownerReferences}'
    [ "$status" -eq 0 ]
    [ -z "$output" ]
}

@test "wait --for=delete and --for=jsonpath" {
    mkcm gone
    (sleep 0.5; kubectl delete cm gone -n "$NS" >/dev/null) 3>&- &
    run kubectl wait --for=delete cm/gone -n "$NS" --timeout=10s
    [ "$status" -eq 0 ]
    mkcm val k ready
    run kubectl wait --for=jsonpath='{.data.k}'=ready cm/val -n "$NS" --timeout=5s
    [ "$status" -eq 0 ]
}

@test "wait --for=condition; status and spec writes stay apart" {
    apply_deploy >/dev/null
    (sleep 0.5; api "/apis/apps/v1/namespaces/$NS/deployments/web/status" -X PATCH \
        -H 'Content-Type: application/merge-patch+json' \
        -d '{"spec":{"replicas":9},"status":{"conditions":[{"type":"Available","status":"True","reason":"Test"}]}}' >/dev/null) 3>&- &
    run kubectl wait --for=condition=Available deploy/web -n "$NS" --timeout=10s
    [ "$status" -eq 0 ]
    run kubectl get deploy web -n "$NS" -o jsonpath='{.metadata.generation} {.spec.replicas} {.status.conditions[0].type}'
    [ "$output" = "1 2 Available" ]
    kubectl scale deploy web -n "$NS" --replicas=3 >/dev/null
    run kubectl get deploy web -n "$NS" -o jsonpath='{.metadata.generation} {.status.conditions[0].type}'
    [ "$output" = "2 Available" ]
}

@test "create generators: namespace, configmap, secret generic, deployment" {
    run kubectl create configmap gen -n "$NS" --from-literal=a=1
    [ "$status" -eq 0 ]
    run kubectl create secret generic s1 -n "$NS" --from-literal=pw=hunter2
    [ "$status" -eq 0 ]
    run kubectl get secret s1 -n "$NS" -o jsonpath='{.data.pw}'
    [ "$(echo "$output" | base64 -d)" = hunter2 ]
    run kubectl create deployment gd -n "$NS" --image=nginx:1.25 --replicas=2
    [ "$status" -eq 0 ]
    run kubectl get deploy gd -n "$NS" -o jsonpath='{.spec.replicas}'
    [ "$output" = 2 ]
}

@test "api-resources, api-versions and explain" {
    run kubectl api-resources
    [[ "$output" == *"deployments"*"deploy"*"apps/v1"*"true"*"Deployment"* ]]
    run kubectl api-versions
    for gv in v1 apps/v1 batch/v1 networking.k8s.io/v1 autoscaling/v2 policy/v1 discovery.k8s.io/v1; do
        echo "$output" | grep -qx "$gv"
    done
    run kubectl explain deployment
    [ "$status" -eq 0 ]
    [[ "$output" == *"KIND:"*"Deployment"* ]]
    # nested fields, all the way down
    run kubectl explain deployment.spec.template.spec.containers
    [ "$status" -eq 0 ]
    [[ "$output" == *"imagePullPolicy"*"<string>"* ]]
    [[ "$output" == *"readinessProbe"*"<Probe>"* ]]
    run kubectl explain pod.spec.containers.ports.containerPort
    [[ "$output" == *"<integer>"* ]]
}

@test "dry-run=server writes nothing" {
    run kubectl apply -n "$NS" --dry-run=server -f - <<<'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dry"}}'
    [ "$status" -eq 0 ]
    run kubectl get cm dry -n "$NS"
    [ "$status" -ne 0 ]
}

@test "server-side apply creates and updates" {
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: "1"}\n' >"$BATS_TEST_TMPDIR/ssa.yaml"
    run kubectl apply --server-side -n "$NS" -f "$BATS_TEST_TMPDIR/ssa.yaml"
    [ "$status" -eq 0 ]
    sed -i 's/"1"/"2"/' "$BATS_TEST_TMPDIR/ssa.yaml"
    run kubectl apply --server-side -n "$NS" -f "$BATS_TEST_TMPDIR/ssa.yaml"
    [ "$status" -eq 0 ]
    run kubectl get cm ssa -n "$NS" -o jsonpath='{.data.a}'
    [ "$output" = 2 ]
}

@test "state survives a restart" {
    mkcm keep k v
    rv=$(kubectl get cm keep -n "$NS" -o jsonpath='{.metadata.resourceVersion}')
    restart_server
    run kubectl get cm keep -n "$NS" -o jsonpath='{.data.k} {.metadata.resourceVersion}'
    [ "$output" = "v $rv" ]
    kubectl label cm keep -n "$NS" after=restart >/dev/null
    rv2=$(kubectl get cm keep -n "$NS" -o jsonpath='{.metadata.resourceVersion}')
    [ "$rv2" -gt "$rv" ]
}

@test "large lists: 1,500 objects of 2 KiB come back whole (kubectl get, paging)" {
    python3 - "$BOSUN_PORT" "$(cat "$BOSUN_DIR/data/token")" "$BOSUN_DIR/data/tls/ca.crt" "$NS" <<'PY'
import http.client, json, ssl, sys
port, tok, ca, ns = sys.argv[1:5]
c = http.client.HTTPSConnection("127.0.0.1", int(port), context=ssl.create_default_context(cafile=ca))
for i in range(1500):
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"big{i}"},
                       "data": {"d": "x" * 2048}})
    c.request("POST", f"/api/v1/namespaces/{ns}/configmaps", body=body,
              headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
PY
    run kubectl get cm -n "$NS" -o name --chunk-size=0
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | grep -c '^configmap/big')" -eq 1500 ]
    run kubectl get cm -n "$NS" -o name --chunk-size=400
    [ "$(echo "$output" | grep -c '^configmap/big')" -eq 1500 ]
}
