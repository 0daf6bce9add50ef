#!/usr/bin/env bats
# net-services.bats - Service virtual IPs on the kernel data path (root; skipped otherwise).
#
# "Pods" are network namespaces with a veth made by the test (busybox httpd and a python3 UDP
# echo inside) behind selectorless Services with hand-written EndpointSlices, plus process
# runtime pods behind a selector Service. Two more namespaces are clients. Asserts: ClusterIP
# spreads over all ready endpoints; a not-ready endpoint stops receiving; ClientIP affinity per
# client; hairpin; UDP; NodePort and LoadBalancer on the node address; cluster DNS at kube-dns;
# deleting a Service removes its rules; stopping the server removes the table; the userspace
# proxy (and DNS answering its addresses) after a restart with --proxy-mode userspace.
# Everything (namespaces, veths, processes, table, sysctl) is undone in teardown_file.

load helpers

need_root() {
    [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, nftables)"
    command -v nft >/dev/null || skip "nft is not installed"
    command -v busybox >/dev/null || skip "busybox is not installed"
}

# mkns NAME INDEX: a namespace with eth0 = 10.$NET.INDEX.2/24, the host side 10.$NET.INDEX.1
mkns() {
    local ns="$1" i="$2"
    ip netns add "$ns"
    ip link add "v$MARK$i" type veth peer name eth0 netns "$ns"
    ip addr add "10.$NET.$i.1/24" dev "v$MARK$i"
    ip link set "v$MARK$i" up
    ip -n "$ns" addr add "10.$NET.$i.2/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "10.$NET.$i.1"
}

# a busybox httpd answering its own name on :80, a UDP echo prefixing its name on :5300
mkpod() {
    local ns="$1" i="$2"
    mkns "$ns" "$i"
    mkdir -p "$WORK/$ns"
    echo "$ns" >"$WORK/$ns/index.html"
    ip netns exec "$ns" busybox httpd -f -p 80 -h "$WORK/$ns" 3>&- &
    echo $! >>"$WORK/pids"
    ip netns exec "$ns" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5300))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(sys.argv[1].encode() + b" " + d, a)' "$ns" 3>&- &
    echo $! >>"$WORK/pids"
}

setup_file() {
    [ "$(id -u)" -eq 0 ] && command -v nft >/dev/null && command -v busybox >/dev/null || return 0
    MARK="$(printf '%05d' $((RANDOM % 100000)))"
    NET=$((200 + RANDOM % 50))
    TABLE="bsnt$MARK"
    # process pods share 127.1.x.y addresses with other servers' pods, and the userspace proxy
    # shares the host's port space with wildcard listeners: an unusual port for both
    PPORT=$((21000 + RANDOM % 8000))
    WORK="$(mktemp -d)"
    export MARK NET TABLE WORK PPORT
    sysctl -n net.ipv4.ip_forward >"$WORK/ip_forward"
    sysctl -qw net.ipv4.ip_forward=1
    for i in 1 2 3; do mkpod "p$MARK-$i" "$i"; done
    for i in 4 5; do mkns "c$MARK-$i" "$i"; done
    DNS_PORT="$(free_port)"
    export DNS_PORT
    start_server --runtime process --node-name "svc-$MARK" --disable-gateway \
        --proxy-table "$TABLE" --proxy-mode nftables --cluster-dns "0.0.0.0:$DNS_PORT"
    NODE_IP="$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
    grep -q "node address" "$BOSUN_DIR/server.log" &&
        NODE_IP="$(sed -n 's/.*node address \([0-9.]*\).*/\1/p' "$BOSUN_DIR/server.log" | head -1)"
    export NODE_IP
    # the pods' Service: selectorless, endpoints written by hand
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
  - {name: http, port: 80, targetPort: 80, protocol: TCP}
  - {name: echo, port: 53, targetPort: 5300, protocol: UDP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-hand
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports:
- {name: http, port: 80, protocol: TCP}
- {name: echo, port: 5300, protocol: UDP}
endpoints:
- {addresses: ["10.$NET.1.2"], conditions: {ready: true}}
- {addresses: ["10.$NET.2.2"], conditions: {ready: true}}
- {addresses: ["10.$NET.3.2"], conditions: {ready: true}}
YAML
    wait_for "slot_eps svc-default/web/tcp/http | grep -q 10.$NET.3.2"
}

teardown_file() {
    [ -n "${WORK:-}" ] || return 0
    stop_server || true
    if [ -f "$WORK/pids" ]; then
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$WORK/pids"
    fi
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^[pc]$MARK-" || true); do
        ip netns pids "$ns" | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns"
    done
    for i in 1 2 3 4 5; do ip link del "v$MARK$i" 2>/dev/null || true; done
    nft delete table ip "$TABLE" 2>/dev/null || true
    [ -f "$WORK/ip_forward" ] && sysctl -qw net.ipv4.ip_forward="$(cat "$WORK/ip_forward")"
    rm -rf "$WORK"
}

svc_ip() {
    kubectl get svc "$1" -o jsonpath='{.spec.clusterIP}'
}

# slot_eps CHAIN: the endpoints the service chain's slots lead to, "COUNT ADDRESS . PORT" a line
# (a service port's rule: dnat to numgen random mod S offset B map @tcp-slots-I; its endpoints are
# the elements B .. B+S-1 of that map)
slot_eps() {
    local rule mod off map
    rule="$(nft list chain ip "$TABLE" "$1" 2>/dev/null |
        grep -o 'mod [0-9]* offset [0-9]* map @[a-z]*-slots-[0-9]*')" || return 0
    read -r _ mod _ off _ map <<<"$rule"
    nft -j list map ip "$TABLE" "${map#@}" | jq -r --argjson lo "$off" --argjson n "$mod" \
        '.nftables[] | select(.map) | (.map.elem // [])[] | select(.[0] >= $lo and .[0] < $lo + $n)
         | .[1].concat | "\(.[0]) . \(.[1])"' | sort | uniq -c
}

# hits N CMD...: runs CMD N times, prints the distinct answers with counts
hits() {
    local n="$1"
    shift
    for _ in $(seq 1 "$n"); do "$@" 2>/dev/null || echo FAIL; done | sort | uniq -c
}

@test "services: ClusterIP spreads over all ready endpoints (host and pod clients)" {
    need_root
    ip="$(svc_ip web)"
    run hits 30 curl -s -m 2 "http://$ip/"
    echo "$output"
    for i in 1 2 3; do [[ "$output" == *"p$MARK-$i"* ]]; done
    [[ "$output" != *FAIL* ]]
    run hits 30 ip netns exec "c$MARK-4" curl -s -m 2 "http://$ip/"
    echo "$output"
    for i in 1 2 3; do [[ "$output" == *"p$MARK-$i"* ]]; done
    # the rules: a verdict map entry leading to the service chain, whose 12 slots are shared
    # evenly by the 3 endpoints
    run nft list map ip "$TABLE" service-ips
    [[ "$output" == *"$ip . tcp . 80 : goto svc-default/web/tcp/http"* ]]
    run slot_eps svc-default/web/tcp/http
    echo "$output"
    [ "$(echo "$output" | grep -c "^ *4 10.$NET.[123].2 . 80$")" -eq 3 ]
}

@test "services: an endpoint marked not ready stops receiving" {
    need_root
    ip="$(svc_ip web)"
    kubectl patch endpointslice web-hand --type=json -p \
        '[{"op":"replace","path":"/endpoints/1/conditions/ready","value":false}]'
    wait_for "! slot_eps svc-default/web/tcp/http | grep -q 10.$NET.2.2"
    run hits 30 curl -s -m 2 "http://$ip/"
    echo "$output"
    [[ "$output" != *"p$MARK-2"* ]]
    [[ "$output" == *"p$MARK-1"* && "$output" == *"p$MARK-3"* ]]
    # an endpoint change is element changes only: the rule and its slot count stay
    run slot_eps svc-default/web/tcp/http
    [ "$(echo "$output" | grep -c "^ *6 10.$NET.[13].2 . 80$")" -eq 2 ]
    nft list chain ip "$TABLE" svc-default/web/tcp/http | grep -q 'numgen random mod 12 offset'
    kubectl patch endpointslice web-hand --type=json -p \
        '[{"op":"replace","path":"/endpoints/1/conditions/ready","value":true}]'
    wait_for "slot_eps svc-default/web/tcp/http | grep -q 10.$NET.2.2"
}

@test "services: a Service without endpoints refuses connections at once" {
    need_root
    kubectl create service clusterip empty --tcp=80:80
    ip="$(svc_ip empty)"
    wait_for "nft list map ip $TABLE no-endpoint-services | grep -q '$ip . tcp . 80'"
    run curl -sS -m 5 "http://$ip/"
    echo "$output"
    [ "$status" -eq 7 ] # refused, not a timeout (28)
    kubectl delete svc empty
    wait_for "! nft list map ip $TABLE no-endpoint-services | grep -q '$ip . tcp . 80'"
}

@test "services: hairpin: a pod reaches itself through its Service" {
    need_root
    ip="$(svc_ip web)"
    run hits 30 ip netns exec "p$MARK-1" curl -s -m 2 "http://$ip/"
    echo "$output"
    [[ "$output" != *FAIL* ]]
    [[ "$output" == *"p$MARK-1"* ]]
}

@test "services: UDP through the ClusterIP from the host and from a pod" {
    need_root
    ip="$(svc_ip web)"
    udp='import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b"ping",(sys.argv[1],53)); print(s.recv(2048).decode())'
    run python3 -c "$udp" "$ip"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == "p$MARK-"*" ping" ]]
    run ip netns exec "c$MARK-5" python3 -c "$udp" "$ip"
    [ "$status" -eq 0 ]
    [[ "$output" == "p$MARK-"*" ping" ]]
}

@test "services: sessionAffinity ClientIP keeps each client on one endpoint" {
    need_root
    kubectl patch svc web -p '{"spec":{"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":60}}}}'
    wait_for "nft list table ip $TABLE | grep -q 'ip saddr timeout 1m'"
    ip="$(svc_ip web)"
    for c in 4 5; do
        run hits 15 ip netns exec "c$MARK-$c" curl -s -m 2 "http://$ip/"
        echo "client $c: $output"
        [ "$(echo "$output" | wc -l)" -eq 1 ]
        [[ "$output" == *"15 p$MARK-"* ]]
    done
    kubectl patch svc web -p '{"spec":{"sessionAffinity":"None"}}'
    wait_for "! nft list table ip $TABLE | grep -q 'ip saddr timeout 1m'"
    run hits 30 ip netns exec "c$MARK-4" curl -s -m 2 "http://$ip/"
    [ "$(echo "$output" | wc -l)" -gt 1 ]
}

@test "services: NodePort answers on the node address" {
    need_root
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: webnp}
spec:
  type: NodePort
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: webnp-hand, labels: {kubernetes.io/service-name: webnp}}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints: [{addresses: ["10.$NET.1.2"]}]
YAML
    np="$(kubectl get svc webnp -o jsonpath='{.spec.ports[0].nodePort}')"
    [ "$np" -ge 30000 ] && [ "$np" -le 32767 ]
    wait_for "nft list map ip $TABLE service-nodeports | grep -q 'tcp . $np'"
    run curl -s -m 2 "http://$NODE_IP:$np/"
    [ "$output" = "p$MARK-1" ]
    run ip netns exec "c$MARK-4" curl -s -m 2 "http://$NODE_IP:$np/"
    [ "$output" = "p$MARK-1" ]
}

@test "services: a LoadBalancer gets status.loadBalancer.ingress and answers on it" {
    need_root
    port=$((20000 + RANDOM % 9000))
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: weblb}
spec:
  type: LoadBalancer
  ports: [{name: http, port: $port, targetPort: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: weblb-hand, labels: {kubernetes.io/service-name: weblb}}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints: [{addresses: ["10.$NET.2.2"]}]
YAML
    wait_for "[ \"\$(kubectl get svc weblb -o jsonpath='{.status.loadBalancer.ingress[0].ip}')\" = $NODE_IP ]"
    wait_for "curl -sf -m 2 http://$NODE_IP:$port/"
    run curl -s -m 2 "http://$NODE_IP:$port/"
    [ "$output" = "p$MARK-2" ]
}

@test "services: process-runtime pods behind a selector Service" {
    need_root
    mkdir -p "$WORK/www"
    kubectl apply -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: proc}
spec:
  replicas: 2
  selector: {matchLabels: {app: proc}}
  template:
    metadata: {labels: {app: proc}}
    spec:
      nodeName: svc-$MARK
      containers:
      - name: web
        image: busybox
        command: ["sh", "-c", "mkdir -p $WORK/www/\$(POD_NAME) && echo \$(POD_NAME) > $WORK/www/\$(POD_NAME)/index.html && exec busybox httpd -f -p \$(POD_IP):$PPORT -h $WORK/www/\$(POD_NAME)"]
        env:
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        ports: [{name: http, containerPort: $PPORT}]
        readinessProbe:
          tcpSocket: {port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: proc}
spec:
  selector: {app: proc}
  ports: [{name: http, port: $PPORT, targetPort: http}]
YAML
    run kubectl rollout status deploy/proc --timeout=60s
    [ "$status" -eq 0 ]
    ip="$(svc_ip proc)"
    wait_for "[ \$(slot_eps svc-default/proc/tcp/http | wc -l) -eq 2 ]"
    run hits 20 curl -s -m 2 "http://$ip:$PPORT/"
    echo "$output"
    for p in $(kubectl get pods -l app=proc -o jsonpath='{.items[*].metadata.name}'); do
        [[ "$output" == *"$p"* ]]
    done
    [[ "$output" != *FAIL* ]]
}

@test "services: cluster DNS through kube-dns at the service CIDR's .10" {
    need_root
    command -v dig >/dev/null || skip "dig is not installed"
    run kubectl -n kube-system get svc kube-dns -o jsonpath='{.spec.clusterIP}'
    [ "$output" = "$DNS_SVC_IP" ]
    wait_for "nft list map ip $TABLE service-ips | grep -q '$DNS_SVC_IP . udp . 53'"
    ip="$(svc_ip web)"
    run dig @$DNS_SVC_IP +short +tries=1 +time=2 web.default.svc.cluster.local
    [ "$output" = "$ip" ]
    run ip netns exec "c$MARK-5" dig @$DNS_SVC_IP +tcp +short +tries=1 +time=2 web.default.svc.cluster.local
    [ "$output" = "$ip" ]
}

@test "services: headless and ExternalName get no rules; deleting a Service removes its rules" {
    need_root
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Service
metadata: {name: hl}
spec:
  clusterIP: None
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  type: ExternalName
  externalName: example.com
YAML
    kubectl get svc hl ext
    sleep 1
    run nft list table ip "$TABLE"
    [[ "$output" != *"default/hl/"* && "$output" != *"default/ext/"* ]]
    [[ "$output" == *"default/webnp/"* ]]
    kubectl delete svc webnp
    wait_for "! nft list table ip $TABLE | grep -q default/webnp/"
    run nft list table ip "$TABLE"
    [[ "$output" == *"default/web/"* ]]
}

# The oci runtime on the CNI pod network: a second server of its own (own bridge, subnet,
# table, DNS port), stopped in teardown.
teardown() {
    [ -n "${WORK:-}" ] && [ -f "$WORK/oci/pid" ] || return 0
    local pid
    pid="$(cat "$WORK/oci/pid")"
    KUBECONFIG="$WORK/oci/data/kubeconfig" kubectl delete pod --all --timeout=30s >/dev/null 2>&1 || true
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    pkill -KILL -f "oci-$MARK" 2>/dev/null || true
    nft delete table ip "bosun-masq-$(cat "$WORK/oci/bridge")" 2>/dev/null || true
    ip link del "$(cat "$WORK/oci/bridge")" 2>/dev/null || true
    nft delete table ip "bsno$MARK" 2>/dev/null || true
    rm -f "$WORK/oci/pid"
}

@test "services: oci pods on the pod network resolve a Service through kube-dns and reach it" {
    need_root
    command -v runc >/dev/null || skip "runc is not installed"
    [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || skip "needs containernetworking-plugins"
    bb="$(command -v busybox)"
    file -L "$bb" | grep -q "statically linked" || skip "needs a static busybox"
    n=$((RANDOM % 250 + 2))
    while ip -4 route | grep -q "^10\.214\.$n\." || ip link show "bsn-s$n" >/dev/null 2>&1; do
        n=$((RANDOM % 250 + 2))
    done
    d="$WORK/oci"
    mkdir -p "$d/rootfs/bin"
    echo "bsn-s$n" >"$d/bridge"
    cp "$bb" "$d/rootfs/bin/busybox"
    for a in sh sleep echo mkdir httpd wget nslookup; do ln -s busybox "$d/rootfs/bin/$a"; done
    "$BOSUN" image pack --data-dir "$d/data" --name "bb-$MARK:1" --entrypoint /bin/sh "$d/rootfs"
    port="$(free_port)"
    dns="$(free_port)"
    local cidr
    cidr="$(unique_service_cidr)"
    svc_ips "$cidr"
    "$BOSUN" server --data-dir "$d/data" --listen "127.0.0.1:$port" --runtime oci \
        --node-name "oci-$MARK" --disable-gateway --cluster-cidr "10.214.$n.0/24" \
        --cni-bridge "bsn-s$n" --proxy-table "bsno$MARK" --cluster-dns "0.0.0.0:$dns" \
        --service-cidr "$cidr" >"$d/server.log" 2>&1 3>&- &
    echo $! >"$d/pid"
    export KUBECONFIG="$d/data/kubeconfig"
    wait_for "kubectl get ns default"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: srv, labels: {app: osvc}}
spec:
  nodeName: oci-$MARK
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: bb-$MARK:1
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "mkdir -p /w && echo oci-srv-$MARK > /w/index.html && exec httpd -f -p 8080 -h /w"]
---
apiVersion: v1
kind: Service
metadata: {name: osvc}
spec:
  selector: {app: osvc}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: cli}
spec:
  nodeName: oci-$MARK
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: bb-$MARK:1
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "while true; do nslookup osvc.default.svc.cluster.local $DNS_SVC_IP; wget -q -O- http://\$(nslookup osvc.default.svc.cluster.local $DNS_SVC_IP | sed -n 's/^Address: *//p' | tail -1)/; sleep 1; done"]
YAML
    ip="$(kubectl get svc osvc -o jsonpath='{.spec.clusterIP}')"
    for _ in $(seq 1 150); do
        kubectl logs cli 2>/dev/null | grep -q "oci-srv-$MARK" && break
        sleep 0.2
    done
    run kubectl logs cli
    echo "$output" | tail -20
    [[ "$output" == *"$ip"* ]]              # cluster DNS answered through $DNS_SVC_IP
    [[ "$output" == *"oci-srv-$MARK"* ]]    # and the ClusterIP reached the pod
}

@test "services: stopping the server removes the table; userspace mode serves loopback addresses" {
    need_root
    ip="$(svc_ip proc)"
    restart_server --proxy-mode userspace
    run nft list table ip "$TABLE"
    [ "$status" -ne 0 ]
    # ClusterIP 10.43.X.Y is served on 127.43.X.Y at the service port
    uip="127.${ip#*.}"
    # the agent restarted with the server: both pods ready again, both endpoints in the slice
    kubectl wait --for=condition=Ready pod -l app=proc --timeout=60s
    wait_for "[ \"\$(kubectl get endpointslices -l kubernetes.io/service-name=proc -o jsonpath='{.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}' | wc -w)\" -eq 2 ]"
    wait_for "curl -sf -m 2 http://$uip:$PPORT/"
    sleep 0.5
    run hits 20 curl -s -m 2 "http://$uip:$PPORT/"
    echo "$output"
    [ "$(echo "$output" | wc -l)" -eq 2 ]
    [[ "$output" != *FAIL* ]]
    # and cluster DNS answers the Service name with that address
    if command -v dig >/dev/null; then
        wait_for "[ \"\$(dig @127.0.0.1 -p $DNS_PORT +short +tries=1 +time=2 proc.default.svc.cluster.local)\" = $uip ]"
    fi
    # UDP through the userspace proxy to the namespace pods
    wip="$(svc_ip web)"
    run python3 -c 'import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b"ping",(sys.argv[1],53)); print(s.recv(2048).decode())' "127.${wip#*.}"
    [[ "$output" == "p$MARK-"*" ping" ]]
}
