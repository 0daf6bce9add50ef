#!/usr/bin/env bats
# Job podFailurePolicy on simulated nodes (a simulated failing pod exits with code 1).

load helpers

setup_file() {
    export BOSUN_JOB_BACKOFF_BASE=100ms
    start_server --simulate-nodes 2 --disable-agent
}

teardown_file() {
    stop_server
}

setup() {
    export KUBECONFIG="$BOSUN_DIR/data/kubeconfig" HOME="$BOSUN_DIR/home"
}

job_yaml() { # name backoffLimit rules-yaml [extra spec]
    cat <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: $1}
spec:
  completions: 1
  backoffLimit: $2
$4
  podFailurePolicy:
    rules:
$3
  template:
    metadata: {annotations: {bosun.dev/simulate: fail}}
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
YAML
}

@test "FailJob on a matching exit code fails the job at the first failure" {
    job_yaml fj 6 "    - {action: FailJob, onExitCodes: {containerName: main, operator: In, values: [1, 42]}}" | kubectl apply -f -
    run timeout 30 kubectl wait --for=condition=failed job/fj --timeout=30s
    [ "$status" -eq 0 ]
    run kubectl get job fj -o jsonpath='{.status.failed} {.status.conditions[?(@.type=="Failed")].reason}'
    [ "$output" = "1 PodFailurePolicy" ]
    run kubectl get job fj -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}'
    [[ "$output" == "Container main for pod default/fj-"*" failed with exit code 1 matching FailJob rule at index 0" ]]
}

@test "Ignore does not count failures against backoffLimit" {
    job_yaml ign 0 "    - {action: Ignore, onExitCodes: {operator: In, values: [1]}}" | kubectl apply -f -
    wait_for 'test "$(kubectl get pods -l job-name=ign -o name | wc -l)" -ge 3'
    run kubectl get job ign -o jsonpath='{.status.failed}{.status.conditions[*].type}'
    [ "$output" = "" ]
    kubectl delete job ign --wait=false
}

@test "a rule that does not match counts the failure as usual" {
    job_yaml cnt 0 "    - {action: FailJob, onExitCodes: {operator: NotIn, values: [1]}}" | kubectl apply -f -
    run timeout 30 kubectl wait --for=condition=failed job/cnt --timeout=30s
    [ "$status" -eq 0 ]
    [ "$(kubectl get job cnt -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}')" = BackoffLimitExceeded ]
}

@test "FailIndex fails the index for good" {
    cat <<'YAML' | kubectl apply -f -
apiVersion: batch/v1
kind: Job
metadata: {name: fi}
spec:
  completions: 2
  parallelism: 2
  completionMode: Indexed
  backoffLimit: 6
  podFailurePolicy:
    rules:
    - {action: FailIndex, onExitCodes: {operator: In, values: [1]}}
  template:
    metadata: {annotations: {bosun.dev/simulate: fail}}
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
YAML
    run timeout 30 kubectl wait --for=condition=failed job/fi --timeout=30s
    [ "$status" -eq 0 ]
    run kubectl get job fi -o jsonpath='{.status.failedIndexes} {.status.conditions[?(@.type=="Failed")].reason}'
    [ "$output" = "0,1 FailedIndexes" ]
    [ "$(kubectl get pods -l job-name=fi -o name | wc -l)" -eq 2 ]
}
