#!/usr/bin/env bats
# PersistentVolume binding, the default local-path StorageClass and its provisioner, and the
# scheduler's volume filter, with the real kubectl on simulated nodes.

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

pv_yaml() { # name size class modes [extra spec lines]
    cat <<YAML
apiVersion: v1
kind: PersistentVolume
metadata: {name: $1, labels: {size: "$2"}}
spec:
  capacity: {storage: $2}
  accessModes: [$4]
  storageClassName: "$3"
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /tmp/$1}
$5
YAML
}

pvc_yaml() { # name size class modes
    cat <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $1}
spec:
  storageClassName: "$3"
  accessModes: [$4]
  resources: {requests: {storage: $2}}
YAML
}

@test "the default local-path StorageClass exists and claims get it" {
    run kubectl get storageclass local-path -o jsonpath='{.provisioner} {.volumeBindingMode} {.reclaimPolicy} {.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}'
    [ "$output" = "bosun.dev/local-path WaitForFirstConsumer Delete true" ]
    kubectl apply -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: defclass}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
YAML
    run kubectl get pvc defclass -o jsonpath='{.spec.storageClassName}'
    [ "$output" = "local-path" ]
    # nothing uses it yet: it waits for its first consumer
    wait_for 'kubectl get events --field-selector involvedObject.name=defclass -o jsonpath="{.items[*].reason}" | grep -q WaitForFirstConsumer'
    [ "$(kubectl get pvc defclass -o jsonpath='{.status.phase}')" = Pending ]
    kubectl delete pvc defclass
}

@test "a claim binds to the smallest static volume that fits, by class and access modes" {
    pv_yaml st-small 1Gi manual ReadWriteOnce | kubectl apply -f -
    pv_yaml st-big 10Gi manual ReadWriteOnce | kubectl apply -f -
    pv_yaml st-rox 2Gi manual ReadOnlyMany | kubectl apply -f -
    pv_yaml st-other 2Gi other ReadWriteOnce | kubectl apply -f -
    wait_for 'test "$(kubectl get pv st-big -o jsonpath={.status.phase})" = Available'
    pvc_yaml claim1 2Gi manual ReadWriteOnce | kubectl apply -f -
    wait_for 'test "$(kubectl get pvc claim1 -o jsonpath={.status.phase})" = Bound'
    run kubectl get pvc claim1 -o jsonpath='{.spec.volumeName} {.status.capacity.storage} {.status.accessModes[0]}'
    [ "$output" = "st-big 10Gi ReadWriteOnce" ]
    wait_for 'test "$(kubectl get pv st-big -o jsonpath={.status.phase})" = Bound'
    run kubectl get pv st-big -o jsonpath='{.spec.claimRef.namespace}/{.spec.claimRef.name} {.spec.claimRef.uid}'
    [ "$output" = "default/claim1 $(kubectl get pvc claim1 -o jsonpath='{.metadata.uid}')" ]
    for pv in st-small st-rox st-other; do
        [ "$(kubectl get pv $pv -o jsonpath='{.status.phase}')" = Available ]
    done
    # Retain: deleting the claim releases the volume and keeps it
    kubectl delete pvc claim1
    wait_for 'test "$(kubectl get pv st-big -o jsonpath={.status.phase})" = Released'
    # a claim too large for every volume stays Pending
    pvc_yaml huge 100Gi manual ReadWriteOnce | kubectl apply -f -
    sleep 0.5
    [ "$(kubectl get pvc huge -o jsonpath='{.status.phase}')" = Pending ]
    kubectl delete pvc huge
}

@test "volumeName pre-binding and reclaimPolicy Delete" {
    pv_yaml pre-a 1Gi manual ReadWriteOnce | sed 's/Retain/Delete/' | kubectl apply -f -
    pv_yaml pre-b 1Gi manual ReadWriteOnce | kubectl apply -f -
    kubectl apply -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: pre}
spec:
  storageClassName: manual
  volumeName: pre-a
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
YAML
    wait_for 'test "$(kubectl get pvc pre -o jsonpath={.status.phase})" = Bound'
    [ "$(kubectl get pv pre-a -o jsonpath='{.spec.claimRef.name}')" = pre ]
    [ "$(kubectl get pv pre-b -o jsonpath='{.status.phase}')" = Available ]
    kubectl delete pvc pre
    wait_for '! kubectl get pv pre-a'
    kubectl delete pv pre-b
}

@test "unbound immediate claims make a pod unschedulable" {
    pvc_yaml nowhere 1Gi later ReadWriteOnce | kubectl apply -f -
    kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: needs-vol}
spec:
  containers: [{name: c, image: x}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: nowhere}}]
YAML
    wait_for 'kubectl get pod needs-vol -o jsonpath="{.status.conditions[0].message}" | grep -q "pod has unbound immediate PersistentVolumeClaims"'
    run kubectl get pod needs-vol -o jsonpath='{.status.conditions[0].reason} {.spec.nodeName}'
    [ "$output" = "Unschedulable " ]
    # a volume appears: the claim binds and the pod is scheduled
    pv_yaml late 1Gi later ReadWriteOnce | kubectl apply -f -
    wait_for 'test "$(kubectl get pod needs-vol -o jsonpath={.status.phase})" = Running'
    kubectl delete pod needs-vol --wait=false
    kubectl delete pvc nowhere
}

@test "a static volume's node affinity pins the pod" {
    pv_yaml pinned 1Gi pin ReadWriteOnce "  nodeAffinity: {required: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [sim-node-2]}]}]}}" | kubectl apply -f -
    pvc_yaml pinned-claim 1Gi pin ReadWriteOnce | kubectl apply -f -
    wait_for 'test "$(kubectl get pvc pinned-claim -o jsonpath={.spec.volumeName})" = pinned'
    for i in 1 2 3; do
        kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: pin-$i}
spec:
  containers: [{name: c, image: x}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: pinned-claim}}]
YAML
    done
    wait_for 'test "$(kubectl get pods pin-1 pin-2 pin-3 -o jsonpath={.items[*].spec.nodeName})" = "sim-node-2 sim-node-2 sim-node-2"'
    kubectl delete pod pin-1 pin-2 pin-3 --wait=false
}

@test "local-path: the claim binds when its pod is scheduled, on that node" {
    kubectl apply -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: lp}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 2Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: lp-pod}
spec:
  containers: [{name: c, image: x}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: lp}}]
YAML
    wait_for 'test "$(kubectl get pod lp-pod -o jsonpath={.status.phase})" = Running'
    node=$(kubectl get pod lp-pod -o jsonpath='{.spec.nodeName}')
    uid=$(kubectl get pvc lp -o jsonpath='{.metadata.uid}')
    run kubectl get pvc lp -o jsonpath='{.status.phase} {.spec.volumeName} {.metadata.annotations.volume\.kubernetes\.io/selected-node}'
    [ "$output" = "Bound pvc-$uid $node" ]
    run kubectl get pv "pvc-$uid" -o jsonpath='{.spec.hostPath.path} {.spec.hostPath.type} {.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]} {.spec.capacity.storage} {.spec.persistentVolumeReclaimPolicy} {.status.phase}'
    [ "$output" = "$BOSUN_DIR/data/storage/pvc-${uid}_default_lp DirectoryOrCreate $node 2Gi Delete Bound" ] ||
        [ "${output#* }" = "DirectoryOrCreate $node 2Gi Delete Bound" ]
    # the pod goes; the claim stays bound; deleting the claim deletes the volume
    kubectl delete pod lp-pod --timeout=30s
    [ "$(kubectl get pvc lp -o jsonpath='{.status.phase}')" = Bound ]
    kubectl delete pvc lp
    wait_for '! kubectl get pv "pvc-$uid"'
}

@test "statefulset claims bind on the pods' nodes and survive pod deletion" {
    kubectl apply -f - <<'YAML'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: vdb}
spec:
  serviceName: vdb
  replicas: 3
  selector: {matchLabels: {app: vdb}}
  template:
    metadata: {labels: {app: vdb}}
    spec:
      containers: [{name: c, image: pg:1}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
YAML
    run timeout 60 kubectl rollout status sts/vdb --timeout=60s
    [ "$status" -eq 0 ]
    for i in 0 1 2; do
        [ "$(kubectl get pvc data-vdb-$i -o jsonpath='{.status.phase}')" = Bound ]
        pv=$(kubectl get pvc data-vdb-$i -o jsonpath='{.spec.volumeName}')
        [ "$(kubectl get pv "$pv" -o jsonpath='{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}')" = "$(kubectl get pod vdb-$i -o jsonpath='{.spec.nodeName}')" ]
    done
    node=$(kubectl get pod vdb-1 -o jsonpath='{.spec.nodeName}')
    pv=$(kubectl get pvc data-vdb-1 -o jsonpath='{.spec.volumeName}')
    olduid=$(kubectl get pod vdb-1 -o jsonpath='{.metadata.uid}')
    kubectl delete pod vdb-1 --wait=false
    wait_for 'test "$(kubectl get pod vdb-1 -o jsonpath={.metadata.uid}{.status.phase})" != "${olduid}Running" && test "$(kubectl get pod vdb-1 -o jsonpath={.status.phase})" = Running'
    # same claim, same volume, same node
    [ "$(kubectl get pvc data-vdb-1 -o jsonpath='{.spec.volumeName}')" = "$pv" ]
    [ "$(kubectl get pod vdb-1 -o jsonpath='{.spec.nodeName}')" = "$node" ]
}
