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
