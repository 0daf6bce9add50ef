#!/usr/bin/env bats
# Jobs, CronJobs (with a movable clock) and Endpoints/EndpointSlices on simulated nodes.

load helpers

setup_file() {
    export BOSUN_JOB_BACKOFF_BASE=100ms
    export BOSUN_DEBUG_CLOCK_FILE="${BATS_FILE_TMPDIR:-/tmp}/clock-$$"
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

job_yaml() { # name completions parallelism simulate [extra spec lines]
    cat <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: $1}
spec:
  completions: $2
  parallelism: $3
$5
  template:
    metadata: {annotations: {bosun.dev/simulate: "$4"}}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
YAML
}

@test "a job completes with the right counts and conditions" {
    job_yaml count 4 2 succeed-after=200ms | kubectl apply -f -
    run timeout 30 kubectl wait --for=condition=complete job/count --timeout=30s
    [ "$status" -eq 0 ]
    run kubectl get job count -o jsonpath='{.status.succeeded} {.status.active} {.status.conditions[*].type} {.status.conditions[*].reason}'
    [ "$output" = "4  SuccessCriteriaMet Complete CompletionsReached CompletionsReached" ]
    [ -n "$(kubectl get job count -o jsonpath='{.status.completionTime}')" ]
    [ "$(kubectl get pods -l job-name=count -o name | wc -l)" -eq 4 ]
}

@test "indexed job: one pod per index with env, annotation and hostname" {
    job_yaml idx 3 3 succeed "  completionMode: Indexed" | kubectl apply -f -
    timeout 30 kubectl wait --for=condition=complete job/idx --timeout=30s
    run kubectl get job idx -o jsonpath='{.status.completedIndexes}'
    [ "$output" = "0-2" ]
    run kubectl get pods -l job-name=idx -o jsonpath='{range .items[*]}{.metadata.annotations.batch\.kubernetes\.io/job-completion-index}:{.spec.hostname}:{.spec.containers[0].env[0].name}{"\n"}{end}'
    [ "$(echo "$output" | sort | tr '\n' ' ')" = "0:idx-0:JOB_COMPLETION_INDEX 1:idx-1:JOB_COMPLETION_INDEX 2:idx-2:JOB_COMPLETION_INDEX " ]
}

@test "failing pods exhaust backoffLimit" {
    job_yaml bad 1 1 fail "  backoffLimit: 2" | kubectl apply -f -
    run timeout 30 kubectl wait --for=condition=failed job/bad --timeout=30s
    [ "$status" -eq 0 ]
    run kubectl get job bad -o jsonpath='{.status.failed} {.status.conditions[?(@.type=="Failed")].reason}'
    [ "$output" = "3 BackoffLimitExceeded" ]
}

@test "suspended job starts no pods until resumed; ttl deletes a finished job" {
    job_yaml sus 1 1 succeed "  suspend: true
  ttlSecondsAfterFinished: 3" | kubectl apply -f -
    wait_for 'test "$(kubectl get job sus -o jsonpath="{.status.conditions[?(@.type==\"Suspended\")].status}")" = True'
    [ "$(kubectl get pods -l job-name=sus -o name | wc -l)" -eq 0 ]
    kubectl patch job sus --type=merge -p '{"spec":{"suspend":false}}'
    wait_for 'test "$(kubectl get job sus -o jsonpath="{.status.conditions[?(@.type==\"Complete\")].status}")" = True'
    wait_for 'test "$(kubectl get jobs -o name | grep -c "^job.batch/sus$")" -eq 0'
}

@test "a cronjob fires when the clock passes its schedule" {
    kubectl apply -f - <<'YAML'
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "*/5 * * * *"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        metadata: {annotations: {bosun.dev/simulate: succeed}}
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox}]
YAML
    sleep 0.5
    [ "$(kubectl get jobs -o name | grep -c tick-)" -eq 0 ]
    echo 301 >"$BOSUN_DEBUG_CLOCK_FILE"
    wait_for 'test "$(kubectl get jobs -o name | grep -c tick-)" -eq 1'
    first=$(kubectl get jobs -o name | grep tick-)
    timeout 30 kubectl wait --for=condition=complete "$first" --timeout=30s
    wait_for 'test -n "$(kubectl get cronjob tick -o jsonpath="{.status.lastSuccessfulTime}")"'
    echo 602 >"$BOSUN_DEBUG_CLOCK_FILE"
    # a second run; history limit 1 removes the first once the second succeeds
    wait_for 'test "$(kubectl get jobs -o name | grep tick- | grep -vc "$first")" -eq 1'
    wait_for 'test "$(kubectl get jobs -o name | grep -c "$first")" -eq 0'
    run kubectl get cronjob tick -o jsonpath='{.status.lastScheduleTime}'
    [[ "$output" == *:0[05]:00Z || "$output" == *:[1-5][05]:00Z ]]
}

@test "endpoints and endpointslices follow a service's pods" {
    kubectl apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{name: web, port: 80, targetPort: http}]
YAML
    timeout 30 kubectl rollout status deploy/api
    wait_for 'test "$(kubectl get endpoints api -o jsonpath="{.subsets[0].addresses[*].ip}" | wc -w)" -eq 3'
    run kubectl get endpoints api -o jsonpath='{.subsets[0].ports[0].port} {.subsets[0].ports[0].name}'
    [ "$output" = "8080 web" ]
    wait_for 'test "$(kubectl get endpointslices -l kubernetes.io/service-name=api -o jsonpath="{.items[0].endpoints[*].addresses[0]}" | wc -w)" -eq 3'
    run kubectl get endpointslices -l kubernetes.io/service-name=api -o jsonpath='{.items[0].endpoints[0].conditions.ready} {.items[0].ports[0].port} {.items[0].metadata.ownerReferences[0].kind}'
    [ "$output" = "true 8080 Service" ]
    kubectl scale deploy/api --replicas=1
    wait_for 'test "$(kubectl get endpoints api -o jsonpath="{.subsets[0].addresses[*].ip}" | wc -w)" -eq 1'
    wait_for 'test "$(kubectl get endpointslices -l kubernetes.io/service-name=api -o jsonpath="{.items[0].endpoints[*].addresses[0]}" | wc -w)" -eq 1'
    [ "$(kubectl get endpointslices -l kubernetes.io/service-name=api -o name | wc -l)" -eq 1 ]
}

