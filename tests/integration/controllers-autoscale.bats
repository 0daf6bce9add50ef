#!/usr/bin/env bats
# The resource metrics API (kubectl top) fed by the simulated nodes' synthetic usage, and the
# HorizontalPodAutoscaler scaling a Deployment up under load and down after its stabilization
# window (a movable clock: no test waits minutes).

load helpers

setup_file() {
    export BOSUN_HPA_SYNC_PERIOD=1s
    export BOSUN_DEBUG_CLOCK_FILE="${BATS_FILE_TMPDIR:-/tmp}/clock-as-$$"
    echo 0 >"$BOSUN_DEBUG_CLOCK_FILE"
    start_server --simulate-nodes 3 --disable-agent
}

teardown_file() {
    stop_server
    rm -f "$BOSUN_DEBUG_CLOCK_FILE"
}

setup() {
    export KUBECONFIG="$BOSUN_DIR/data/kubeconfig" HOME="$BOSUN_DIR/home"
}

deploy_yaml() { # name replicas sim-cpu
    cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata:
      labels: {app: $1}
      annotations: {bosun.dev/sim-cpu: "$3", bosun.dev/sim-memory: 64Mi}
    spec:
      containers:
      - {name: c, image: x, resources: {requests: {cpu: 100m, memory: 128Mi}}}
YAML
}

@test "kubectl top shows the simulated usage of pods and nodes" {
    deploy_yaml topper 2 250m | kubectl apply -f -
    timeout 30 kubectl rollout status deploy/topper
    wait_for 'test "$(kubectl top pods -l app=topper --no-headers | wc -l)" -eq 2'
    run kubectl top pods -l app=topper --no-headers
    [ "$(echo "$output" | awk '{print $2, $3}' | sort -u)" = "250m 64Mi" ]
    run kubectl top pods -l app=topper --containers --no-headers
    [ "$(echo "$output" | awk '{print $2, $3}' | sort -u)" = "c 250m" ]
    # the node usage is the sum of its pods
    node=$(kubectl get pods -l app=topper -o jsonpath='{.items[0].spec.nodeName}')
    n=$(kubectl get pods -l app=topper --field-selector spec.nodeName="$node" -o name | wc -l)
    wait_for "kubectl top node $node --no-headers | awk '{print \$2}' | grep -qx $((n * 250))m"
    [ "$(kubectl top nodes --no-headers | wc -l)" -eq 3 ]
    # the raw API: one PodMetrics per pod, cpu in nanocores
    run kubectl get --raw "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dtopper"
    [[ "$output" == *'"kind":"PodMetricsList"'* ]]
    [[ "$output" == *'"cpu":"250000000n"'* ]]
    run kubectl get --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope
    [ "$status" -ne 0 ]
    kubectl delete deploy topper
}

@test "the metrics API validates node samples" {
    run api /apis/bosun.dev/v1/nodemetrics/sim-node-0 -X PUT -H 'Content-Type: application/json' -d '{"timestamp":"x","node":{"cpu":"1n","memory":"1Ki"}}'
    [[ "$output" == *'"code":400'* ]]
    run api /apis/bosun.dev/v1/nodemetrics/sim-node-0 -X PUT -H 'Content-Type: application/json' -d '{"timestamp":"2026-01-01T00:00:00Z","node":{"cpu":"lots","memory":"1Ki"}}'
    [[ "$output" == *'"code":400'* ]]
}

@test "HPA scales a deployment up under load and down after the stabilization window" {
    deploy_yaml web 1 200m | kubectl apply -f -
    timeout 30 kubectl rollout status deploy/web
    kubectl autoscale deployment web --cpu-percent=50 --min=1 --max=10
    # 200 % of the request against a 50 % target: 4x, limited by the scale-up policies
    wait_for 'test "$(kubectl get deploy web -o jsonpath={.spec.replicas})" -gt 1'
    first=$(kubectl get deploy web -o jsonpath='{.spec.replicas}')
    [ "$first" -le 5 ]
    # the scale-up policies allow 4 pods or 100 % per 15 s: move the clock past that period
    echo 20 >"$BOSUN_DEBUG_CLOCK_FILE"
    wait_for 'test "$(kubectl get deploy web -o jsonpath={.spec.replicas})" -eq 10'
    wait_for 'test "$(kubectl get hpa web -o jsonpath={.status.currentMetrics[0].resource.current.averageUtilization})" = 200'
    run kubectl get hpa web -o jsonpath='{.status.desiredReplicas} {.status.conditions[?(@.type=="ScalingLimited")].reason} {.status.conditions[?(@.type=="ScalingActive")].reason}'
    [ "$output" = "10 TooManyReplicas ValidMetricFound" ]
    run kubectl get events --field-selector involvedObject.name=web,reason=SuccessfulRescale -o jsonpath='{.items[*].message}'
    [[ "$output" == *"New size: 10; reason: cpu resource utilization (percentage of request) above target"* ]]
    # the load drops: the count stays during the 300 s scale-down window ...
    kubectl patch deploy web -p '{"spec":{"template":{"metadata":{"annotations":{"bosun.dev/sim-cpu":"10m"}}}}}'
    timeout 60 kubectl rollout status deploy/web
    wait_for 'test "$(kubectl get hpa web -o jsonpath={.status.currentMetrics[0].resource.current.averageUtilization})" = 10'
    sleep 2
    [ "$(kubectl get deploy web -o jsonpath='{.spec.replicas}')" -eq 10 ]
    [ "$(kubectl get hpa web -o jsonpath='{.status.desiredReplicas}')" -eq 10 ]
    # ... and it scales down once the clock has moved past it
    echo 330 >"$BOSUN_DEBUG_CLOCK_FILE"
    wait_for 'test "$(kubectl get deploy web -o jsonpath={.spec.replicas})" -le 2'
    run kubectl get events --field-selector involvedObject.name=web,reason=SuccessfulRescale -o jsonpath='{.items[*].message}'
    [[ "$output" == *"reason: All metrics below target"* ]]
    run kubectl get hpa web -o jsonpath='{.status.conditions[?(@.type=="AbleToScale")].status}'
    [ "$output" = True ]
}

@test "HPA without a target reports FailedGetScale" {
    kubectl autoscale deployment ghost --cpu-percent=50 --max=3 2>/dev/null ||
        kubectl apply -f - <<'YAML'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ghost}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}
  maxReplicas: 3
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]
YAML
    wait_for 'test "$(kubectl get hpa ghost -o jsonpath={.status.conditions[0].reason})" = FailedGetScale'
    run kubectl get hpa ghost -o jsonpath='{.status.conditions[0].status} {.status.conditions[0].message}'
    [ "$output" = 'False the HPA controller was unable to get the target'"'"'s current scale: deployments.apps "ghost" not found' ]
}

@test "an autoscaling/v1 create is answered in v1 (kubectl autoscale without --cpu-percent)" {
    kubectl create deployment v1web --image=nginx --replicas=1 >/dev/null
    run kubectl autoscale deployment v1web --min=1 --max=3
    [ "$status" -eq 0 ]
    [ "$output" = "horizontalpodautoscaler.autoscaling/v1web autoscaled" ]
    run api /apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/v1web
    [ "$(jq -r .apiVersion <<<"$output")" = autoscaling/v1 ]
    [ "$(jq -r .spec.maxReplicas <<<"$output")" = 3 ]
    kubectl delete hpa v1web >/dev/null
    kubectl delete deployment v1web --wait=false >/dev/null
}
