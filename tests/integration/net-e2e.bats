#!/usr/bin/env bats
# net-e2e.bats - issue 5's "Shown by" list end to end on one real oci cluster (root + runc +
# the CNI plugins; skipped otherwise): the CNI pod network (own bridge and /24, oci-helpers),
# the nftables service proxy in a table of its own, the cluster DNS behind kube-dns at
# 10.43.0.10. Backends are busybox httpd pods (the host's static busybox packed as an image)
# with a python3 UDP echo beside them (image: host); clients are real pods in two namespaces
# (image: host, for curl, dig and python3). Asserts: the short and long Service names from the
# same and another namespace; spreading over all ready replicas and a replica leaving within
# about one readiness period; nslookup kubernetes.default from the admin/dns busybox fixture;
# SRV records list the endpoints; StatefulSet pod names through their headless Service;
# NodePort and LoadBalancer; ClientIP affinity and UDP from two client pods; deleting a
# Service removes its rules and its records. Everything is removed in teardown_file.

load helpers
load oci-helpers

need() {
    [ "$(id -u)" -eq 0 ] || { echo "needs root (pod network, nftables)"; return 1; }
    command -v runc >/dev/null || { echo "runc is not installed"; return 1; }
    command -v nft >/dev/null || { echo "nft is not installed"; return 1; }
    [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || { echo "needs containernetworking-plugins"; return 1; }
    command -v dig >/dev/null || { echo "needs dig (bind9-dnsutils)"; return 1; }
    [ -x /usr/bin/python3 ] && [ -x /usr/bin/curl ] || { echo "needs /usr/bin/python3 and /usr/bin/curl"; return 1; }
    local bb
    bb="$(command -v busybox || true)"
    [ -n "$bb" ] && file -L "$bb" | grep -q "statically linked" || { echo "needs a static busybox (busybox-static)"; return 1; }
}

setup_file() {
    need >/dev/null || return 0
    E2E_MARK="$(printf '%05d' $((RANDOM % 100000)))"
    E2E_TABLE="bsne$E2E_MARK"
    E2E_NODE="e2e-$E2E_MARK"
    E2E_IMG="bb-e2e-$E2E_MARK:1"
    NSA="e2ea-$E2E_MARK" # the backends' namespace
    NSB="e2eb-$E2E_MARK" # another namespace with a client
    export E2E_MARK E2E_TABLE E2E_NODE E2E_IMG NSA NSB
    oci_net_init
    read -ra netflags <<<"$(oci_net_flags)"
    start_server --runtime oci "${netflags[@]}" --node-name "$E2E_NODE" --disable-gateway \
        --proxy-mode nftables --proxy-table "$E2E_TABLE" --cluster-dns "0.0.0.0:$(free_port)"
    NODE_IP="$(sed -n 's/.*node address \([0-9.]*\).*/\1/p' "$BOSUN_DIR/server.log" | head -1)"
    export NODE_IP
    # the busybox image: every applet of the host's static busybox
    local rootfs
    rootfs="$(mktemp -d)"
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/www"
    cp "$(command -v busybox)" "$rootfs/bin/busybox"
    for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$rootfs/bin/$a"; done
    "$BOSUN" image pack --data-dir "$BOSUN_DIR/data" --name "$E2E_IMG" --env PATH=/bin \
        --entrypoint /bin/sh "$rootfs" >/dev/null
    rm -rf "$rootfs"
    kubectl create ns "$NSA" >/dev/null
    kubectl create ns "$NSB" >/dev/null
    # 3 replicas of a busybox httpd answering its pod name, ready while /tmp/ready exists, and
    # a python3 UDP echo prefixing the pod name; a client pod in each namespace
    kubectl apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $NSA}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: $E2E_IMG
        # SIGTERM: keep serving 2 s while the endpoint drains (what a preStop sleep does)
        command: ["sh", "-c", "echo \$(POD_NAME) > /www/index.html; trap 'sleep 2; exit 0' TERM; httpd -f -p 8080 -h /www & sleep 0.3; touch /tmp/ready; wait"]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          exec: {command: ["test", "-f", "/tmp/ready"]}
          periodSeconds: 1
          failureThreshold: 1
          successThreshold: 1
      - name: echo
        image: host
        command: ["/usr/bin/python3", "-c", "import socket,os\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5300))\nwhile True:\n  d,a=s.recvfrom(2048); s.sendto(os.environ['POD_NAME'].encode()+b' '+d,a)"]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{name: echo, containerPort: 5300, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $NSA}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: echo, port: 53, targetPort: echo, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata: {name: cli, namespace: $NSA}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: host, command: ["/bin/sleep", "100000"]}
---
apiVersion: v1
kind: Pod
metadata: {name: cli, namespace: $NSB}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: host, command: ["/bin/sleep", "100000"]}
YAML
    kubectl -n "$NSA" rollout status deploy/web --timeout=120s >/dev/null
    kubectl -n "$NSA" wait --for=condition=Ready pod/cli --timeout=60s >/dev/null
    kubectl -n "$NSB" wait --for=condition=Ready pod/cli --timeout=60s >/dev/null
    E2E_READY=1
    export E2E_READY
}

teardown_file() {
    [ -n "${E2E_MARK:-}" ] || return 0
    if [ -n "${E2E_READY:-}" ]; then
        kubectl delete ns "$NSA" "$NSB" --wait=false >/dev/null 2>&1 || true
        kubectl -n default delete pod "busybox-$E2E_MARK" "dnsutils-$E2E_MARK" --grace-period=1 \
            --wait=false >/dev/null 2>&1 || true
    fi
    stop_server
    oci_net_cleanup
    ! nft list table ip "$E2E_TABLE" >/dev/null 2>&1
}

setup() {
    local why
    why="$(need)" || skip "$why"
    [ -n "${E2E_READY:-}" ] || skip "the cluster did not start"
}

svc_ip() { kubectl -n "$1" get svc "$2" -o jsonpath='{.spec.clusterIP}'; }

# inpod NS POD CMD...: runs CMD in the pod
inpod() {
    local ns="$1" pod="$2"
    shift 2
    kubectl -n "$ns" exec "$pod" -- "$@"
}

# fetches NS POD N URL: N requests from inside the pod, answers counted ("FAIL" for errors)
fetches() {
    inpod "$1" "$2" /bin/sh -c 'for i in $(seq 1 '"$3"'); do curl -s -m 2 "'"$4"'" || echo FAIL; done' |
        sort | uniq -c
}

web_pods() { kubectl -n "$NSA" get pods -l app=web -o jsonpath='{.items[*].metadata.name}'; }

@test "e2e: pods reach a Service by svc (same namespace), svc.ns and svc.ns.svc.cluster.local" {
    # same namespace: all three forms (the search list <ns>.svc.cluster.local does the short one)
    for name in web "web.$NSA" "web.$NSA.svc.cluster.local"; do
        run inpod "$NSA" cli curl -s -m 5 "http://$name/"
        echo "$NSA/cli -> $name: $output"
        [ "$status" -eq 0 ]
        [[ " $(web_pods) " == *" $output "* ]]
    done
    # another namespace: svc.ns and the full name work, the bare name does not (it means
    # web.$NSB there, which does not exist)
    for name in "web.$NSA" "web.$NSA.svc.cluster.local"; do
        run inpod "$NSB" cli curl -s -m 5 "http://$name/"
        echo "$NSB/cli -> $name: $output"
        [ "$status" -eq 0 ]
        [[ " $(web_pods) " == *" $output "* ]]
    done
    run inpod "$NSB" cli curl -s -m 5 "http://web/"
    echo "$NSB/cli -> web: $status $output"
    [ "$status" -eq 6 ] # could not resolve host
    # and the names resolve to the ClusterIP
    run inpod "$NSB" cli /usr/bin/python3 -c "import socket; print(socket.gethostbyname('web.$NSA'))"
    [ "$output" = "$(svc_ip "$NSA" web)" ]
}

@test "e2e: requests spread over all 3 ready replicas; a replica failing readiness stops receiving within a probe period" {
    ip="$(svc_ip "$NSA" web)"
    run fetches "$NSA" cli 60 "http://$ip/"
    echo "$output"
    [[ "$output" != *FAIL* ]]
    for p in $(web_pods); do [[ "$output" == *" $p"* ]]; done
    [ "$(wc -l <<<"$output")" -eq 3 ]
    # one replica's readiness file goes away: it leaves the rules about one period (1 s) later
    # (its address is in the table only as the Service's endpoint: slot map and hairpin elements)
    victim="$(web_pods | awk '{print $2}')"
    vip="$(kubectl -n "$NSA" get pod "$victim" -o jsonpath='{.status.podIP}')"
    nft list table ip "$E2E_TABLE" | grep -q "$vip"
    t0="$(date +%s%N)"
    kubectl -n "$NSA" exec "$victim" -c httpd -- rm /tmp/ready
    for _ in $(seq 1 100); do
        nft list table ip "$E2E_TABLE" | grep -q "$vip" || break
        sleep 0.05
    done
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "# replica left the rules $ms ms after its readiness file (probe period 1000 ms)" >&3
    ! nft list table ip "$E2E_TABLE" | grep -q "$vip"
    [ "$ms" -le 2500 ]
    run kubectl -n "$NSA" get pod "$victim" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'
    [ "$output" = False ]
    run fetches "$NSA" cli 30 "http://$ip/"
    echo "$output"
    [[ "$output" != *FAIL* && "$output" != *"$victim"* ]]
    [ "$(wc -l <<<"$output")" -eq 2 ]
    # and it comes back
    kubectl -n "$NSA" exec "$victim" -c httpd -- touch /tmp/ready
    wait_for "nft list table ip $E2E_TABLE | grep -q '$vip'"
    # hairpin: a replica reaches itself through its own Service (busybox wget, by address)
    run kubectl -n "$NSA" exec "$victim" -c httpd -- sh -c "for i in \$(seq 1 30); do timeout 3 wget -q -O- http://$ip/ || echo FAIL; done"
    echo "$output"
    [[ "$output" != *FAIL* && "$output" == *"$victim"* ]]
}

@test "e2e: nslookup kubernetes.default from the admin/dns busybox pod; dig from the dnsutils pod" {
    # the fixtures' images (busybox:1.28, jessie-dnsutils) cannot be pulled here: busybox runs
    # the host's static busybox packed as an image, dnsutils the host image (dig, nslookup);
    # the pods get unique names
    sed -e "s|\"busybox:1.28\"|\"$E2E_IMG\"|" -e "s|name: \"busybox\",|name: \"busybox-$E2E_MARK\",|" \
        "$FIXTURES/admin/dns/busybox.yaml" | kubectl apply -f -
    sed -e "s|image: registry.k8s.io/e2e-test-images/jessie-dnsutils:1.3|image: host|" \
        -e "s|^  name: dnsutils$|  name: dnsutils-$E2E_MARK|" -e "s|- sleep|- /bin/sleep|" \
        "$FIXTURES/admin/dns/dnsutils.yaml" | kubectl apply -f -
    kubectl wait --for=condition=Ready "pod/busybox-$E2E_MARK" "pod/dnsutils-$E2E_MARK" --timeout=60s
    kip="$(svc_ip default kubernetes)"
    [ "$kip" = "$KUBE_SVC_IP" ]
    # busybox >= 1.29's nslookup applies the search list only to names without a dot (the
    # fixture pins busybox 1.28 for that reason; Debian 12 ships 1.35): the short name goes
    # through the search list, the dotted one is asked as the full name. Busybox's other
    # applets resolve through the C library, which honours ndots:5 and the search list: its
    # wget finds kubernetes.default (and says so before connecting; busybox 1.35's `wget -T`
    # crashes, hence `timeout`). The dnsutils pod's nslookup and dig do the same.
    # (its exit status is 1 when any name it tried was NXDOMAIN: not asserted)
    for name in kubernetes kubernetes.default.svc.cluster.local; do
        run inpod default "busybox-$E2E_MARK" nslookup "$name"
        echo "$output"
        [[ "$output" == *"Server:"*"$DNS_SVC_IP"* ]] # answered by the cluster DNS
        [[ "$output" == *"Name:"*"kubernetes.default.svc.cluster.local"*"Address: $kip"* ]]
    done
    run inpod default "busybox-$E2E_MARK" timeout 3 wget -O /dev/null http://kubernetes.default:443/
    echo "$output"
    [[ "$output" == *"Connecting to kubernetes.default:443 ($kip:443)"* ]]
    run inpod default "dnsutils-$E2E_MARK" nslookup kubernetes.default
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"Address: $kip"* ]]
    run inpod default "dnsutils-$E2E_MARK" dig +short +search kubernetes.default
    [ "$output" = "$kip" ]
    run inpod default "busybox-$E2E_MARK" cat /etc/resolv.conf
    [[ "$output" == *"nameserver $DNS_SVC_IP"* && "$output" == *"search default.svc.cluster.local svc.cluster.local cluster.local"* ]]
    kubectl delete pod "busybox-$E2E_MARK" "dnsutils-$E2E_MARK" --grace-period=1 --wait=false
}

@test "e2e: StatefulSet pod names resolve through their headless Service; SRV lists the endpoints" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: $NSA, labels: {app: nginx}}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: $NSA}
spec:
  serviceName: nginx
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: $E2E_IMG
        command: ["sh", "-c", "hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
YAML
    kubectl -n "$NSA" rollout status sts/web --timeout=120s
    for i in 0 1; do
        pip="$(kubectl -n "$NSA" get pod "web-$i" -o jsonpath='{.status.podIP}')"
        fq="web-$i.nginx.$NSA.svc.cluster.local"
        wait_for "[ \"\$(dig @$DNS_SVC_IP +short +tries=1 +time=2 $fq)\" = $pip ]"
        # from a pod: the full name and the short one through the search list
        run inpod "$NSA" cli /usr/bin/python3 -c "import socket; print(socket.gethostbyname('$fq'), socket.gethostbyname('web-$i.nginx'))"
        [ "$output" = "$pip $pip" ]
        run inpod "$NSB" cli curl -s -m 5 "http://$fq:8080/"
        [ "$output" = "web-$i" ]
    done
    # the headless Service: one A record per pod, one SRV record per endpoint
    run dig @$DNS_SVC_IP +short "nginx.$NSA.svc.cluster.local"
    [ "$(wc -l <<<"$output")" -eq 2 ]
    run dig @$DNS_SVC_IP +short SRV "_http._tcp.nginx.$NSA.svc.cluster.local"
    echo "$output"
    [ "$(wc -l <<<"$output")" -eq 2 ]
    # (the endpoints' port, which clients of a headless Service connect to, as CoreDNS)
    [[ "$output" == *" 8080 web-0.nginx.$NSA.svc.cluster.local."* ]]
    [[ "$output" == *" 8080 web-1.nginx.$NSA.svc.cluster.local."* ]]
    # the ClusterIP Service: its named ports, each one record to the Service name; from a pod
    run inpod "$NSB" cli dig +short SRV "_http._tcp.web.$NSA.svc.cluster.local"
    echo "$output"
    [ "$output" = "0 100 80 web.$NSA.svc.cluster.local." ]
    run inpod "$NSB" cli dig +short SRV "_echo._udp.web.$NSA.svc.cluster.local"
    [ "$output" = "0 100 53 web.$NSA.svc.cluster.local." ]
    run dig @$DNS_SVC_IP SRV "_nope._tcp.web.$NSA.svc.cluster.local"
    [[ "$output" == *"status: NXDOMAIN"* ]]
    kubectl -n "$NSA" delete sts web --wait=false
    kubectl -n "$NSA" delete svc nginx
}

@test "e2e: a NodePort answers on the node address; a LoadBalancer gets its status and answers" {
    [ -n "$NODE_IP" ]
    port=$((20000 + RANDOM % 9000))
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: webnp, namespace: $NSA}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: weblb, namespace: $NSA}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: $port, targetPort: 8080}]
YAML
    np="$(kubectl -n "$NSA" get svc webnp -o jsonpath='{.spec.ports[0].nodePort}')"
    [ "$np" -ge 30000 ] && [ "$np" -le 32767 ]
    wait_for "curl -sf -m 2 http://$NODE_IP:$np/"
    run curl -s -m 2 "http://$NODE_IP:$np/"
    [[ " $(web_pods) " == *" $output "* ]]
    run inpod "$NSB" cli curl -s -m 2 "http://$NODE_IP:$np/"
    [[ " $(web_pods) " == *" $output "* ]]
    wait_for "[ \"\$(kubectl -n $NSA get svc weblb -o jsonpath='{.status.loadBalancer.ingress[0].ip}')\" = $NODE_IP ]"
    wait_for "curl -sf -m 2 http://$NODE_IP:$port/"
    run curl -s -m 2 "http://$NODE_IP:$port/"
    [[ " $(web_pods) " == *" $output "* ]]
    run inpod "$NSB" cli curl -s -m 2 "http://$NODE_IP:$port/"
    [[ " $(web_pods) " == *" $output "* ]]
    kubectl -n "$NSA" delete svc webnp weblb
}

@test "e2e: two client pods: ClientIP affinity keeps each on one replica; UDP through the ClusterIP" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: webaff, namespace: $NSA}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports: [{name: http, port: 80, targetPort: http}]
YAML
    ip="$(svc_ip "$NSA" webaff)"
    wait_for "[ \$(nft list chain ip $E2E_TABLE 'svc-$NSA/webaff/tcp/http' | grep -c 'goto ep-') -ge 6 ]"
    for c in "$NSA" "$NSB"; do
        run fetches "$c" cli 20 "http://$ip/"
        echo "client $c: $output"
        [ "$(wc -l <<<"$output")" -eq 1 ]
        [[ "$output" == *"20 web-"* ]]
    done
    # without affinity the same client spreads
    run fetches "$NSB" cli 30 "http://$(svc_ip "$NSA" web)/"
    [ "$(wc -l <<<"$output")" -ge 2 ]
    kubectl -n "$NSA" delete svc webaff
    # UDP: the echo answers through the ClusterIP from both client pods, over all replicas
    udp='import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b"ping",(sys.argv[1],53)); print(s.recv(2048).decode())'
    ip="$(svc_ip "$NSA" web)"
    for c in "$NSA" "$NSB"; do
        run inpod "$c" cli /bin/sh -c "for i in \$(seq 1 15); do /usr/bin/python3 -c '$udp' $ip || echo FAIL; done"
        echo "client $c: $output"
        [[ "$output" != *FAIL* ]]
        [ "$(sort -u <<<"$output" | grep -c '^web-.* ping$')" -ge 2 ]
    done
    # and by name, through the cluster DNS
    run inpod "$NSB" cli /usr/bin/python3 -c "$udp" "web.$NSA"
    [[ "$output" == "web-"*" ping" ]]
}

@test "e2e: deleting a Service removes its rules and its DNS records" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: webdel, namespace: $NSA}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
YAML
    ip="$(svc_ip "$NSA" webdel)"
    fq="webdel.$NSA.svc.cluster.local"
    wait_for "nft list table ip $E2E_TABLE | grep -q '$NSA/webdel/'"
    wait_for "[ \"\$(dig @$DNS_SVC_IP +short +tries=1 +time=2 $fq)\" = $ip ]"
    run inpod "$NSB" cli curl -s -m 5 "http://webdel.$NSA/"
    [[ " $(web_pods) " == *" $output "* ]]
    kubectl -n "$NSA" delete svc webdel
    wait_for "! nft list table ip $E2E_TABLE | grep -q '$NSA/webdel/'"
    run nft list table ip "$E2E_TABLE"
    [[ "$output" != *"$ip "* ]]
    [[ "$output" == *"$NSA/web/"* ]] # the other Services keep theirs
    wait_for "dig @$DNS_SVC_IP +tries=1 +time=2 $fq | grep -q 'status: NXDOMAIN'"
    run dig @$DNS_SVC_IP +tries=1 +time=2 "_http._tcp.$fq" SRV
    [[ "$output" == *"status: NXDOMAIN"* ]]
    # pods see it gone as well
    run inpod "$NSB" cli curl -s -m 5 "http://webdel.$NSA/"
    [ "$status" -eq 6 ]
}

@test "e2e: a rolling update through the ClusterIP loses no request (terminating endpoints drain)" {
    old="$(web_pods)"
    inpod "$NSB" cli /bin/sh -c "for i in \$(seq 1 300); do curl -s -m 2 http://web.$NSA/ || echo FAIL; sleep 0.05; done" \
        >"$BATS_TEST_TMPDIR/roll" 2>&1 3>&- &
    loop=$!
    sleep 1
    kubectl -n "$NSA" rollout restart deploy/web
    kubectl -n "$NSA" rollout status deploy/web --timeout=120s
    wait "$loop"
    run sort "$BATS_TEST_TMPDIR/roll"
    uniq -c <<<"$output"
    [[ "$output" != *FAIL* ]]
    [ "$(grep -c . <<<"$output")" -eq 300 ]
    # answered by old and new replicas
    grep -qxF -f <(tr ' ' '\n' <<<"$old") <<<"$output"
    grep -vxF -f <(tr ' ' '\n' <<<"$old") <<<"$output" | grep -q '^web-'
}
