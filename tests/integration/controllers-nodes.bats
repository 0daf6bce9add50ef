#!/usr/bin/env bats
# DaemonSets, node lifecycle, PodDisruptionBudgets and default ServiceAccounts.

load helpers

setup_file() {
    start_server --simulate-nodes 3 --disable-agent
}

teardown_file() {
    stop_server
}

setup() {
    export KUBECONFIG="$BOSUN_DIR/data/kubeconfig" HOME="$BOSUN_DIR/home"
}

@test "every namespace gets a default ServiceAccount" {
    kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: sa-test}
YAML
    wait_for 'kubectl -n sa-test get serviceaccount default'
    kubectl -n sa-test delete serviceaccount default
    wait_for 'kubectl -n sa-test get serviceaccount default'
    kubectl delete namespace sa-test --wait=false
}

@test "daemonset: one pod per eligible node, follows taints, rolls out" {
    kubectl taint node sim-node-2 special=yes:NoSchedule
    kubectl cordon sim-node-1
    kubectl apply -f - <<'YAML'
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: c, image: agent:1}]
YAML
    run timeout 30 kubectl rollout status ds/agent
    [ "$status" -eq 0 ]
    # cordoned nodes still run daemons; the tainted one does not
    run kubectl get pods -l app=agent -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}'
    [ "$(echo "$output" | sort | tr '\n' ' ')" = "sim-node-0 sim-node-1 " ]
    run kubectl get ds agent -o jsonpath='{.status.desiredNumberScheduled} {.status.numberReady}'
    [ "$output" = "2 2" ]
    kubectl taint node sim-node-2 special=yes:NoSchedule-
    wait_for 'test "$(kubectl get ds agent -o jsonpath="{.status.numberReady}")" = 3'
    kubectl set image ds/agent c=agent:2
    run timeout 30 kubectl rollout status ds/agent
    [ "$status" -eq 0 ]
    run kubectl get pods -l app=agent -o jsonpath='{.items[*].spec.containers[0].image}'
    [ "$output" = "agent:2 agent:2 agent:2" ]
    [ "$(kubectl get controllerrevisions -o name | grep -c agent-)" -eq 2 ]
    kubectl uncordon sim-node-1
    kubectl delete ds agent
    wait_for 'test "$(kubectl get pods -l app=agent -o name | wc -l)" -eq 0'
}

@test "PDB status counts healthy pods and blocks evictions beyond the budget" {
    kubectl apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: guarded}
spec:
  replicas: 3
  selector: {matchLabels: {app: guarded}}
  template:
    metadata: {labels: {app: guarded}}
    spec:
      containers: [{name: c, image: x}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: guarded}}
YAML
    timeout 30 kubectl rollout status deploy/guarded
    wait_for 'test "$(kubectl get pdb guarded -o jsonpath="{.status.disruptionsAllowed}")" = 1'
    run kubectl get pdb guarded -o jsonpath='{.status.currentHealthy} {.status.desiredHealthy} {.status.expectedPods} {.status.conditions[0].type}={.status.conditions[0].status}'
    [ "$output" = "3 2 3 DisruptionAllowed=True" ]
    # JSON eviction (kubectl drain sends protobuf); the first is allowed
    p1=$(kubectl get pods -l app=guarded -o jsonpath='{.items[0].metadata.name}')
    run api "/api/v1/namespaces/default/pods/$p1/eviction" -X POST -H 'Content-Type: application/json' \
        -d "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"$p1\"}}" -o /dev/null -w '%{http_code}'
    [ "$output" = "201" ]
    # a budget with no room left refuses the eviction (429)
    kubectl patch pdb guarded --type=merge -p '{"spec":{"minAvailable":3}}'
    wait_for 'test "$(kubectl get pdb guarded -o jsonpath="{.status.disruptionsAllowed}/{.status.desiredHealthy}")" = 0/3'
    p2=$(kubectl get pods -l app=guarded -o jsonpath='{.items[0].metadata.name}')
    run api "/api/v1/namespaces/default/pods/$p2/eviction" -X POST -H 'Content-Type: application/json' \
        -d "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"$p2\"}}" -o /dev/null -w '%{http_code}'
    [ "$output" = "429" ]
    kubectl delete pdb guarded
    kubectl delete deploy guarded
}

@test "a node whose lease is not renewed becomes Unknown and tainted unreachable" {
    old=$(date -u -d '-2 min' +%Y-%m-%dT%H:%M:%S.000000Z)
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Node
metadata: {name: ghost, labels: {kubernetes.io/hostname: ghost}}
status:
  conditions: [{type: Ready, status: "True", reason: KubeletReady, message: ok, lastHeartbeatTime: "$old", lastTransitionTime: "$old"}]
  allocatable: {cpu: "4", memory: 8Gi, pods: "10"}
  capacity: {cpu: "4", memory: 8Gi, pods: "10"}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: ghost, namespace: kube-node-lease}
spec: {holderIdentity: ghost, leaseDurationSeconds: 40, renewTime: "$old"}
YAML
    wait_for 'test "$(kubectl get node ghost -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].status}")" = Unknown'
    run kubectl get node ghost -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'
    [ "$output" = "NodeStatusUnknown" ]
    wait_for 'kubectl get node ghost -o jsonpath="{.spec.taints[*].key}" | grep -q unreachable'
    run kubectl get node ghost -o jsonpath='{.spec.taints[*].effect}'
    [ "$output" = "NoSchedule NoExecute" ]
    # a pod tolerating unreachable for 1 s is evicted after that second
    kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: stranded}
spec:
  nodeName: ghost
  tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}]
  containers: [{name: c, image: x}]
YAML
    wait_for '! kubectl get pod stranded -o name || test -n "$(kubectl get pod stranded -o jsonpath="{.metadata.deletionTimestamp}")"'
    # the simulated nodes stay Ready
    run kubectl get node sim-node-0 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'
    [ "$output" = "True" ]
    kubectl delete node ghost
}

@test "kubectl drain evicts a node's pods (protobuf Eviction) and they come back elsewhere" {
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: drainme, namespace: default}\nspec:\n  replicas: 4\n  selector: {matchLabels: {app: drainme}}\n  template:\n    metadata: {labels: {app: drainme}}\n    spec:\n      containers: [{name: c, image: nginx}]\n' |
        kubectl apply -f - >/dev/null
    wait_for '[ "$(kubectl get deploy drainme -o jsonpath={.status.readyReplicas})" = 4 ]'
    node=$(kubectl get pods -l app=drainme -o jsonpath='{.items[0].spec.nodeName}')
    run kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout=60s
    [ "$status" -eq 0 ]
    [[ "$output" == *"node/$node drained"* ]]
    wait_for '[ "$(kubectl get deploy drainme -o jsonpath={.status.readyReplicas})" = 4 ]'
    run kubectl get pods -l app=drainme -o jsonpath='{.items[*].spec.nodeName}'
    [[ "$output" != *"$node"* ]]
    kubectl uncordon "$node" >/dev/null
    kubectl delete deploy drainme >/dev/null
}
