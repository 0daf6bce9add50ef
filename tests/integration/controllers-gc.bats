#!/usr/bin/env bats
# The garbage collector: dependents whose owner (by uid) is gone, partial ownership,
# foreground deletion, with the real kubectl on simulated nodes.

load helpers

setup_file() {
    start_server --simulate-nodes 2 --disable-agent
}

teardown_file() {
    stop_server
}

setup() {
    export KUBECONFIG="$BOSUN_DIR/data/kubeconfig" HOME="$BOSUN_DIR/home"
}

rs_yaml() { # name owner-refs-json
    cat <<YAML
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: $1
  ownerReferences: $2
spec:
  replicas: 1
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec: {containers: [{name: c, image: x}]}
YAML
}

@test "a dependent whose owner uid does not exist is deleted, with its own dependents" {
    # an owner of that name exists, but with another uid: it does not count
    kubectl create deployment real --image=x --replicas=0
    rs_yaml orphan-rs '[{apiVersion: apps/v1, kind: Deployment, name: real, uid: 00000000-0000-0000-0000-000000000001, controller: true}]' | kubectl apply -f -
    wait_for '! kubectl get rs orphan-rs'
    wait_for 'test "$(kubectl get pods -l app=orphan-rs -o name | wc -l)" -eq 0'
    # the real Deployment is untouched
    kubectl get deploy real
    grep -q "gc.*orphan-rs" "$BOSUN_DIR/server.log"
}

@test "a dependent with another live owner only loses the dangling reference" {
    kubectl create deployment keeper --image=x --replicas=0
    uid=$(kubectl get deploy keeper -o jsonpath='{.metadata.uid}')
    rs_yaml shared-rs "[{apiVersion: apps/v1, kind: Deployment, name: keeper, uid: $uid}, {apiVersion: apps/v1, kind: Deployment, name: gone, uid: 00000000-0000-0000-0000-000000000002}]" | kubectl apply -f -
    wait_for 'test "$(kubectl get rs shared-rs -o jsonpath={.metadata.ownerReferences[*].name})" = keeper'
    kubectl get rs shared-rs
}

@test "an owner deleted while the API was not looking: its pods go" {
    # pods owned by a ReplicaSet uid that never existed (e.g. created by a restored backup)
    kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: lost-pod
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: lost, uid: 00000000-0000-0000-0000-000000000003, controller: true}]
spec: {containers: [{name: c, image: x}]}
YAML
    wait_for '! kubectl get pod lost-pod'
}

@test "foreground deletion removes the dependents, then the owner" {
    kubectl create deployment fg --image=x --replicas=3
    timeout 30 kubectl rollout status deploy/fg
    rs=$(kubectl get rs -l app=fg -o jsonpath='{.items[0].metadata.name}')
    run timeout 30 kubectl delete deploy fg --cascade=foreground --timeout=30s
    [ "$status" -eq 0 ]
    wait_for '! kubectl get deploy fg'
    ! kubectl get rs "$rs"
    [ "$(kubectl get pods -l app=fg -o name | wc -l)" -eq 0 ]
}

@test "orphan propagation keeps the dependents and removes the owner references" {
    kubectl create deployment orph --image=x --replicas=2
    timeout 30 kubectl rollout status deploy/orph
    rs=$(kubectl get rs -l app=orph -o jsonpath='{.items[0].metadata.name}')
    kubectl delete deploy orph --cascade=orphan
    sleep 3
    [ -z "$(kubectl get rs "$rs" -o jsonpath='{.metadata.ownerReferences}')" ]
    [ "$(kubectl get pods -l app=orph -o name | wc -l)" -eq 2 ]
}
