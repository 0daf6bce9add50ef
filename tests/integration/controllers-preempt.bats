#!/usr/bin/env bats
# Pod priority (PriorityClass admission) and scheduler preemption on simulated nodes.

load helpers

setup_file() {
    start_server --simulate-nodes 2 --sim-node-cpu 1 --disable-agent
}

teardown_file() {
    stop_server
}

setup() {
    export KUBECONFIG="$BOSUN_DIR/data/kubeconfig" HOME="$BOSUN_DIR/home"
}

pod_yaml() { # name class [extra spec]
    cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  priorityClassName: $2
  containers: [{name: c, image: x, resources: {requests: {cpu: 500m}}}]
YAML
}

@test "priority classes set the pod's priority; unknown ones are refused" {
    kubectl apply -f - <<'YAML'
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
value: 10
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: polite}
value: 2000
preemptionPolicy: Never
YAML
    run kubectl apply -f - <<<"$(pod_yaml nope missing)"
    [ "$status" -ne 0 ]
    [[ "$output" == *"no PriorityClass with name missing was found"* ]]
}

@test "a high-priority pod preempts a lower-priority one when nothing fits" {
    kubectl apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: filler}
spec:
  replicas: 4
  selector: {matchLabels: {app: filler}}
  template:
    metadata: {labels: {app: filler}}
    spec:
      priorityClassName: low
      containers: [{name: c, image: x, resources: {requests: {cpu: 500m}}}]
YAML
    timeout 30 kubectl rollout status deploy/filler
    [ "$(kubectl get pods -l app=filler -o jsonpath='{.items[0].spec.priority}')" = 10 ]
    # preemptionPolicy Never: waits instead
    pod_yaml polite polite | kubectl apply -f -
    wait_for 'kubectl get pod polite -o jsonpath="{.status.conditions[0].reason}" | grep -q Unschedulable'
    sleep 1
    [ "$(kubectl get pods -l app=filler --field-selector=status.phase=Running -o name | wc -l)" -eq 4 ]
    kubectl delete pod polite --wait=false
    pod_yaml vip high | kubectl apply -f -
    wait_for 'test "$(kubectl get pod vip -o jsonpath={.status.phase})" = Running'
    [ "$(kubectl get pod vip -o jsonpath='{.spec.priority}')" = 1000 ]
    [ -n "$(kubectl get pod vip -o jsonpath='{.spec.nodeName}')" ]
    wait_for 'kubectl get events --field-selector reason=Preempted -o jsonpath="{.items[*].message}" | grep -q "Preempted by pod"'
    # the victim's replacement cannot preempt back: it waits
    wait_for 'test "$(kubectl get pods -l app=filler --field-selector=status.phase=Pending -o name | wc -l)" -eq 1'
    [ "$(kubectl get pods -l app=filler --field-selector=status.phase=Running -o name | wc -l)" -eq 3 ]
}

pinned_deploy() { # name replicas class node
    cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      priorityClassName: $3
      nodeSelector: {kubernetes.io/hostname: $4}
      containers: [{name: c, image: x, resources: {requests: {cpu: 500m}}}]
YAML
}

@test "preemption spares pods a PodDisruptionBudget protects when another node has victims" {
    kubectl delete deploy filler --ignore-not-found >/dev/null
    kubectl delete pod vip --ignore-not-found >/dev/null
    wait_for '[ -z "$(kubectl get pods -o name)" ]'
    printf 'apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: lowest}\nvalue: 5\n' |
        kubectl apply -f - >/dev/null
    local n0 n1
    read -r n0 n1 <<<"$(kubectl get nodes -o jsonpath='{.items[*].metadata.name}')"
    # n0: two priority-5 pods whose budget allows no disruption; n1: two priority-10 pods.
    # Without the budget n0's victims would be the cheaper ones.
    pinned_deploy guarded 2 lowest "$n0" | kubectl apply -f - >/dev/null
    pinned_deploy free 2 low "$n1" | kubectl apply -f - >/dev/null
    kubectl apply -f - >/dev/null <<'YAML'
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: guarded}}
YAML
    timeout 30 kubectl rollout status deploy/guarded
    timeout 30 kubectl rollout status deploy/free
    wait_for '[ "$(kubectl get pdb guarded -o jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed})" = 2/0 ]'
    pod_yaml vip2 high | kubectl apply -f - >/dev/null
    wait_for '[ "$(kubectl get pod vip2 -o jsonpath={.status.phase})" = Running ]'
    [ "$(kubectl get pod vip2 -o jsonpath='{.spec.nodeName}')" = "$n1" ]
    # the guarded pods were not touched; one free pod went and its replacement waits
    [ "$(kubectl get pods -l app=guarded --field-selector=status.phase=Running -o name | wc -l)" -eq 2 ]
    wait_for '[ "$(kubectl get pods -l app=free --field-selector=status.phase=Pending -o name | wc -l)" -eq 1 ]'
    run kubectl get events --field-selector reason=Preempted -o jsonpath='{range .items[*]}{.involvedObject.name}{"\n"}{end}'
    [[ "$output" == *free-* ]]
    [[ "$output" != *guarded-* ]]
}
