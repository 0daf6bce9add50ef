#!/usr/bin/env bats
# Workload controllers and the scheduler on simulated nodes, driven by the real kubectl.

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

deploy_yaml() { # name replicas image
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
      containers: [{name: c, image: "$3", resources: {requests: {cpu: 100m}}}]
YAML
}

pods_of() { kubectl get pods -l "app=$1" -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} {.spec.nodeName}{"\n"}{end}'; }

@test "simulated nodes register Ready with capacity and leases" {
    wait_for 'test "$(kubectl get nodes -o name | wc -l)" -eq 3'
    run kubectl get node sim-node-1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.allocatable.cpu} {.metadata.labels.kubernetes\.io/hostname}'
    [ "$status" -eq 0 ]
    [ "$output" = "True 32 sim-node-1" ]
    run kubectl -n kube-node-lease get lease sim-node-2 -o jsonpath='{.spec.holderIdentity}'
    [ "$output" = "sim-node-2" ]
}

@test "deployment rolls out, set image, undo restores the previous template" {
    deploy_yaml web 4 nginx:1.0 | kubectl apply -f -
    run timeout 30 kubectl rollout status deploy/web
    [ "$status" -eq 0 ]
    [[ "$output" == *"successfully rolled out"* ]]
    [ "$(pods_of web | grep -c Running)" -eq 4 ]
    # pods spread over the three nodes
    [ "$(pods_of web | awk '{print $3}' | sort -u | wc -l)" -eq 3 ]
    rs1=$(kubectl get rs -l app=web -o jsonpath='{.items[0].metadata.name}')
    [[ "$rs1" == web-* ]]
    kubectl set image deploy/web c=nginx:2.0
    run timeout 30 kubectl rollout status deploy/web
    [ "$status" -eq 0 ]
    run kubectl get rs "$rs1" -o jsonpath='{.spec.replicas}'
    [ "$output" = "0" ]
    run kubectl get deploy web -o jsonpath='{.status.updatedReplicas}/{.status.availableReplicas}/{.metadata.annotations.deployment\.kubernetes\.io/revision}'
    [ "$output" = "4/4/2" ]
    kubectl rollout undo deploy/web
    run timeout 30 kubectl rollout status deploy/web
    [ "$status" -eq 0 ]
    run kubectl get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}'
    [ "$output" = "nginx:1.0" ]
    # the first ReplicaSet is current again, with revision 3
    run kubectl get rs "$rs1" -o jsonpath='{.spec.replicas} {.metadata.annotations.deployment\.kubernetes\.io/revision}'
    [ "$output" = "4 3" ]
    run kubectl rollout history deploy/web
    [[ "$output" == *"2 "* && "$output" == *"3 "* ]]
}

@test "scale up and down; a deleted pod is replaced" {
    deploy_yaml sc 2 app:1 | kubectl apply -f -
    timeout 30 kubectl rollout status deploy/sc
    kubectl scale deploy/sc --replicas=5
    wait_for 'test "$(kubectl get deploy sc -o jsonpath="{.status.availableReplicas}")" = 5'
    kubectl scale deploy/sc --replicas=1
    wait_for 'test "$(pods_of sc | wc -l)" -eq 1'
    victim=$(pods_of sc | awk '{print $1}')
    kubectl delete pod "$victim" --wait=false
    wait_for 'test "$(pods_of sc | grep -v "^$victim " | grep -c Running)" -eq 1'
    run kubectl get deploy sc -o jsonpath='{.status.readyReplicas}'
    [ "$output" = "1" ]
}

@test "recreate strategy, pause and resume, restart" {
    deploy_yaml rc 3 app:1 | sed 's/^spec:/spec:\n  strategy: {type: Recreate}/' | kubectl apply -f -
    timeout 30 kubectl rollout status deploy/rc
    kubectl rollout pause deploy/rc
    kubectl set image deploy/rc c=app:2
    sleep 0.5
    # paused: no new ReplicaSet
    [ "$(kubectl get rs -l app=rc -o name | wc -l)" -eq 1 ]
    run kubectl get deploy rc -o jsonpath='{.status.conditions[?(@.type=="Progressing")].reason}'
    [ "$output" = "DeploymentPaused" ]
    kubectl rollout resume deploy/rc
    run timeout 30 kubectl rollout status deploy/rc
    [ "$status" -eq 0 ]
    [ "$(kubectl get rs -l app=rc -o name | wc -l)" -eq 2 ]
    kubectl rollout restart deploy/rc
    run timeout 30 kubectl rollout status deploy/rc
    [ "$status" -eq 0 ]
    [ "$(kubectl get rs -l app=rc -o name | wc -l)" -eq 3 ]
}

@test "unschedulable pod gets upstream's message and a FailedScheduling event" {
    kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers: [{name: c, image: x, resources: {requests: {cpu: "100"}}}]
YAML
    wait_for 'test -n "$(kubectl get pod huge -o jsonpath="{.status.conditions[?(@.type==\"PodScheduled\")].message}")"'
    run kubectl get pod huge -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}: {.status.conditions[?(@.type=="PodScheduled")].message}'
    [ "$output" = "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod." ]
    run kubectl get events -o jsonpath='{range .items[?(@.reason=="FailedScheduling")]}{.involvedObject.name}{"\n"}{end}'
    [[ "$output" == *huge* ]]
    kubectl delete pod huge --wait=false
}

@test "nodeSelector and taints steer placement" {
    kubectl taint node sim-node-0 dedicated=db:NoSchedule
    kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: pinned}
spec:
  nodeSelector: {kubernetes.io/hostname: sim-node-0}
  containers: [{name: c, image: x}]
YAML
    wait_for 'test -n "$(kubectl get pod pinned -o jsonpath="{.status.conditions[?(@.type==\"PodScheduled\")].message}")"'
    run kubectl get pod pinned -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}'
    [ "$output" = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling." ]
    # tolerating the taint: the pending pod cannot change, a new one lands on sim-node-0
    kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: tolerant}
spec:
  nodeSelector: {kubernetes.io/hostname: sim-node-0}
  tolerations: [{key: dedicated, operator: Equal, value: db, effect: NoSchedule}]
  containers: [{name: c, image: x}]
YAML
    wait_for 'test "$(kubectl get pod tolerant -o jsonpath="{.status.phase}")" = Running'
    run kubectl get pod tolerant -o jsonpath='{.spec.nodeName}'
    [ "$output" = "sim-node-0" ]
    # removing the taint lets the pending pod schedule (retried on node change)
    kubectl taint node sim-node-0 dedicated=db:NoSchedule-
    wait_for 'test "$(kubectl get pod pinned -o jsonpath="{.status.phase}")" = Running'
    kubectl delete pod pinned tolerant --wait=false
}

@test "cordon and evict move a deployment's pods to other nodes" {
    deploy_yaml mv 6 app:1 | kubectl apply -f -
    timeout 30 kubectl rollout status deploy/mv
    kubectl cordon sim-node-2
    # kubectl drain sends Eviction bodies as protobuf; evict through the API with JSON
    for p in $(kubectl get pods -l app=mv --field-selector spec.nodeName=sim-node-2 -o name); do
        n=${p#pod/}
        api "/api/v1/namespaces/default/pods/$n/eviction" -X POST -H 'Content-Type: application/json' \
            -d "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"$n\"}}"
    done
    wait_for 'test "$(kubectl get pods -l app=mv --field-selector spec.nodeName=sim-node-2 -o name | wc -l)" -eq 0'
    wait_for 'test "$(kubectl get deploy mv -o jsonpath="{.status.availableReplicas}")" = 6'
    [ "$(pods_of mv | grep -c sim-node-2)" -eq 0 ]
    kubectl uncordon sim-node-2
}

@test "deleting a deployment cascades to its ReplicaSets and pods" {
    deploy_yaml gone 2 app:1 | kubectl apply -f -
    timeout 30 kubectl rollout status deploy/gone
    kubectl delete deploy gone
    wait_for 'test "$(kubectl get rs -l app=gone -o name | wc -l)" -eq 0'
    wait_for 'test "$(kubectl get pods -l app=gone -o name | wc -l)" -eq 0'
}

@test "--cascade=orphan keeps the ReplicaSet; a new Deployment adopts it" {
    deploy_yaml orph 2 app:1 | kubectl apply -f -
    timeout 30 kubectl rollout status deploy/orph
    rs=$(kubectl get rs -l app=orph -o jsonpath='{.items[0].metadata.name}')
    kubectl delete deploy orph --cascade=orphan
    sleep 0.5
    [ "$(kubectl get pods -l app=orph -o name | wc -l)" -eq 2 ]
    deploy_yaml orph 2 app:1 | kubectl apply -f -
    timeout 30 kubectl rollout status deploy/orph
    wait_for 'test "$(kubectl get rs $rs -o jsonpath="{.metadata.ownerReferences[0].kind}")" = Deployment'
    [ "$(kubectl get rs -l app=orph -o name | wc -l)" -eq 1 ]
    [ "$(kubectl get pods -l app=orph -o name | wc -l)" -eq 2 ]
}

@test "statefulset pods appear in order with stable names, PVCs and rolling update" {
    kubectl get pods -l app=db -w --output-watch-events -o jsonpath='{.type} {.object.metadata.name} {.object.status.phase}{"\n"}' >"$BOSUN_DIR/sts-watch" 2>&1 3>&- &
    watcher=$!
    sleep 0.5
    kubectl apply -f - <<'YAML'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: c, image: pg:1}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
YAML
    run timeout 30 kubectl rollout status sts/db
    [ "$status" -eq 0 ]
    kill "$watcher" 2>/dev/null || true
    wait "$watcher" 2>/dev/null || true
    # creation order is 0, 1, 2 and each pod was Running before the next one was created
    run awk '$1 == "ADDED" {print $2}' "$BOSUN_DIR/sts-watch"
    [ "$(echo "$output" | tr '\n' ' ')" = "db-0 db-1 db-2 " ]
    for i in 0 1; do
        next=$((i + 1))
        added=$(grep -n "^ADDED db-$next " "$BOSUN_DIR/sts-watch" | cut -d: -f1)
        running=$(grep -n "^MODIFIED db-$i Running" "$BOSUN_DIR/sts-watch" | head -1 | cut -d: -f1)
        [ -n "$running" ] && [ "$running" -lt "$added" ]
    done
    run kubectl get pod db-1 -o jsonpath='{.spec.hostname}.{.spec.subdomain} {.spec.volumes[0].persistentVolumeClaim.claimName}'
    [ "$output" = "db-1.db data-db-1" ]
    [ "$(kubectl get pvc -o name | grep -c data-db-)" -eq 3 ]
    kubectl set image sts/db c=pg:2
    run timeout 30 kubectl rollout status sts/db
    [ "$status" -eq 0 ]
    run kubectl get pods -l app=db -o jsonpath='{.items[*].spec.containers[0].image}'
    [ "$output" = "pg:2 pg:2 pg:2" ]
    run kubectl get sts db -o jsonpath='{.status.currentRevision} {.status.updateRevision} {.status.updatedReplicas}'
    read -r cur upd n <<<"$output"
    [ "$cur" = "$upd" ] && [ "$n" = 3 ]
    [ "$(kubectl get controllerrevisions -o name | grep -c db-)" -eq 2 ]
    kubectl scale sts db --replicas=1
    wait_for 'test "$(kubectl get pods -l app=db -o name | tr "\n" " ")" = "pod/db-0 "'
    # claims survive scale-down
    [ "$(kubectl get pvc -o name | grep -c data-db-)" -eq 3 ]
}

@test "kubectl delete pod of a StatefulSet returns; the pod comes back under its name" {
    kubectl apply -f - <<'YAML'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: kv}
spec:
  serviceName: kv
  replicas: 2
  selector: {matchLabels: {app: kv}}
  template:
    metadata: {labels: {app: kv}}
    spec:
      containers: [{name: c, image: kv:1}]
YAML
    run timeout 30 kubectl rollout status sts/kv
    [ "$status" -eq 0 ]
    local uid
    uid="$(kubectl get pod kv-0 -o jsonpath='{.metadata.uid}')"
    # kubectl waits for the deletion: it must see it, although the controller recreates kv-0
    run timeout 20 kubectl delete pod kv-0
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *'pod "kv-0" deleted'* ]]
    wait_for '[ -n "$(kubectl get pod kv-0 -o jsonpath={.metadata.uid} 2>/dev/null)" ]'
    [ "$(kubectl get pod kv-0 -o jsonpath='{.metadata.uid}')" != "$uid" ]
    run timeout 30 kubectl rollout status sts/kv
    [ "$status" -eq 0 ]
    kubectl delete sts kv >/dev/null
}

@test "pod anti-affinity and topology spread constraints" {
    kubectl apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: anti}
spec:
  replicas: 4
  selector: {matchLabels: {app: anti}}
  template:
    metadata: {labels: {app: anti}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: anti}}
            topologyKey: kubernetes.io/hostname
      containers: [{name: c, image: x}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: 6
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: DoNotSchedule
        labelSelector: {matchLabels: {app: spread}}
      containers: [{name: c, image: x, resources: {requests: {cpu: "6"}}}]
YAML
    wait_for 'test "$(kubectl get pods -l app=anti --field-selector=status.phase=Running -o name | wc -l)" -eq 3'
    wait_for 'test -n "$(kubectl get pods -l app=anti --field-selector=status.phase=Pending -o jsonpath="{.items[0].status.conditions[0].message}")"'
    run kubectl get pods -l app=anti --field-selector=status.phase=Pending -o jsonpath='{.items[0].status.conditions[0].message}'
    [ "$output" = "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod." ]
    [ "$(pods_of anti | awk '$3 != "" {print $3}' | sort -u | wc -l)" -eq 3 ]
    wait_for 'test "$(kubectl get pods -l app=spread --field-selector=status.phase=Running -o name | wc -l)" -eq 6'
    # three zones (one per simulated node): two pods each
    run sh -c "kubectl get pods -l app=spread -o jsonpath='{range .items[*]}{.spec.nodeName}{\"\\n\"}{end}' | sort | uniq -c | awk '{print \$1}' | tr '\\n' ' '"
    [ "$output" = "2 2 2 " ]
    kubectl delete deploy anti spread
}
