#!/usr/bin/env bats
# The CNI pod network of the oci runtime (root + runc + containernetworking-plugins; skipped
# otherwise): the default bridge network on a unique bridge and subnet, pod IPs in the node's
# slice, pod to pod by IP, a pod to itself (hairpin), hostPort through portmap on the node
# address, the outside world through masquerade, resolv.conf per dnsPolicy, the IP kept across
# a server restart or crash, and everything released on deletion (netns, veths, host-local
# allocations, iptables rules).

load helpers

setup_file() {
    [ "$(id -u)" -eq 0 ] || skip "needs root for the oci runtime"
    command -v runc >/dev/null || skip "runc is not installed"
    [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/portmap ] ||
        skip "needs containernetworking-plugins in /usr/lib/cni"
    command -v iptables-save >/dev/null || skip "needs iptables"
    BB="$(command -v busybox || true)"
    [ -n "$BB" ] && file -L "$BB" | grep -q "statically linked" || skip "needs a static busybox"
    MARK="7$(date +%s%N | tail -c 9)$RANDOM"
    # a subnet and bridge nobody else uses: 10.213.<n>.0/24, bosun-t<n>
    NET=$((RANDOM % 250 + 2))
    while ip -4 route | grep -q "^10\.213\.$NET\." || ip link show "bsn-t$NET" >/dev/null 2>&1; do
        NET=$((RANDOM % 250 + 2))
    done
    SUBNET="10.213.$NET.0/24"
    PREFIX="10.213.$NET."
    BRIDGE="bsn-t$NET"
    HOSTPORT=$((20000 + RANDOM % 9000))
    ROOTFS="$(mktemp -d)"
    mkdir -p "$ROOTFS/bin"
    cp "$BB" "$ROOTFS/bin/busybox"
    for a in sh sleep echo cat mkdir httpd wget ip; do ln -s busybox "$ROOTFS/bin/$a"; done
    BOSUN_DIR="$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/bosun.XXXXXX")"
    "$BOSUN" image pack --data-dir "$BOSUN_DIR/data" --name "bb-$MARK:1" --entrypoint /bin/sh "$ROOTFS"
    rm -rf "$ROOTFS"
    BOSUN_PORT="$(free_port)"
    export HOME="$BOSUN_DIR/home"
    mkdir -p "$HOME"
    NODE="cni-$MARK"
    isolate_server
    local flags=(--runtime oci --node-name "$NODE" --disable-gateway --cluster-cidr "$SUBNET"
        --cni-bridge "$BRIDGE" "${ISOLATION[@]}")
    BOSUN_SERVER_FLAGS="$(printf '%q ' "${flags[@]}")"
    "$BOSUN" server --data-dir "$BOSUN_DIR/data" --listen "127.0.0.1:$BOSUN_PORT" "${flags[@]}" \
        >"$BOSUN_DIR/server.log" 2>&1 3>&- &
    BOSUN_PID=$!
    echo "$BOSUN_PID" >"$BOSUN_DIR/pid"
    export BOSUN_DIR BOSUN_PORT BOSUN_PID BOSUN_SERVER_FLAGS NODE MARK SUBNET PREFIX BRIDGE HOSTPORT NET
    export KUBECONFIG="$BOSUN_DIR/data/kubeconfig"
    wait_ready
    IPAM="$BOSUN_DIR/data/cni/nodes/$NODE/ipam/bosun"
    export IPAM
}

teardown_file() {
    [ -n "${BOSUN_DIR:-}" ] || return 0
    if [ -f "$BOSUN_DIR/outside.pid" ]; then
        kill "$(cat "$BOSUN_DIR/outside.pid")" 2>/dev/null || true
    fi
    ip netns del "bsnout$NET" 2>/dev/null || true
    ip link del "bsvo$NET" 2>/dev/null || true
    stop_server
    for _ in $(seq 1 40); do pgrep -f "$MARK" >/dev/null || break; sleep 0.1; done
    pkill -KILL -f "$MARK" 2>/dev/null || true
    # the bridge is the one thing the plugins leave on purpose (shared by all pods)
    ip link del "$BRIDGE" 2>/dev/null || true
    # the node's masquerade table went with the server's clean stop
    if nft list table ip "bosun-masq-$BRIDGE" >/dev/null 2>&1; then
        nft delete table ip "bosun-masq-$BRIDGE" 2>/dev/null || true
        echo "table bosun-masq-$BRIDGE left after the server stopped" >&2
        return 1
    fi
    # portmap's shared chains stay once created; drop them when no pod uses them any more
    if [ "$(iptables -t nat -S CNI-HOSTPORT-DNAT 2>/dev/null | wc -l)" = 1 ]; then
        iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null || true
        iptables -t nat -D OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null || true
        iptables -t nat -D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" \
            -j CNI-HOSTPORT-MASQ 2>/dev/null || true
        for ch in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do
            iptables -t nat -F "$ch" 2>/dev/null && iptables -t nat -X "$ch" 2>/dev/null || true
        done
    fi
    # every rule the plugins added for our pods went with their DEL
    run sh -c "iptables-save | grep -F '10.213.$NET.' ; iptables-save -t nat | grep -F -- '--dport $HOSTPORT '"
    [ -z "$output" ] || { echo "rules left over: $output" >&2; return 1; }
}

# eventually CONDITION: DEL runs on the agent's worker thread, after the pod is gone
eventually() {
    for _ in $(seq 1 100); do
        sh -c "$1" && return 0
        sleep 0.1
    done
    echo "never true: $1" >&2
    return 1
}

pod_ip() {
    kubectl get pod "$1" -o jsonpath='{.status.podIP}'
}

wait_log() { # pod text
    for _ in $(seq 1 150); do
        kubectl logs "$1" 2>/dev/null | grep -qF "$2" && return 0
        sleep 0.2
    done
    echo "pod $1 never logged '$2':" >&2
    kubectl logs "$1" >&2 || true
    return 1
}

@test "cni: pods get distinct IPs in the node's subnet and reach each other, themselves and the hostPort" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  dnsConfig:
    nameservers: [10.213.$NET.54]
    searches: [extra.test]
  containers:
  - name: c
    image: bb-$MARK:1
    ports: [{containerPort: 80, hostPort: $HOSTPORT}]
    readinessProbe: # the agent reaches the pod IP across the bridge
      httpGet: {path: /index.html, port: 80}
      periodSeconds: 1
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    command: ["sh", "-c", "mkdir -p /www; echo hello-\$(hostname) > /www/index.html; httpd -p 80 -h /www; sleep 0.5; wget -q -O- http://\$(POD_IP)/ && echo self-ok; cat /etc/resolv.conf; ip -4 addr show eth0; cat /etc/hosts; exec sleep 1000.$MARK"]
YAML
    run kubectl wait --for=condition=Ready pod/web --timeout=60s
    [ "$status" -eq 0 ]
    WEB_IP="$(pod_ip web)"
    [[ "$WEB_IP" == "$PREFIX"* ]]
    # hairpin: the pod reaches its own IP through the bridge
    wait_log web "self-ok"
    kubectl logs web | grep -q "inet $WEB_IP/24"
    kubectl logs web | grep -qP "^$WEB_IP\tweb$"
    # status, Node spec and hosts file agree
    [ "$(kubectl get pod web -o jsonpath='{.status.podIPs[0].ip}')" = "$WEB_IP" ]
    [ "$(kubectl get node "$NODE" -o jsonpath='{.spec.podCIDR}')" = "$SUBNET" ]
    # resolv.conf for ClusterFirst with dnsConfig appended
    run sh -c "kubectl logs web | grep -E '^(nameserver|search|options) '"
    host_search="$(grep -E '^(search|domain) ' /etc/resolv.conf | tail -1 | cut -d' ' -f2- | tr -s ' \t' '  ')"
    expected="nameserver $DNS_SVC_IP
nameserver 10.213.$NET.54
search default.svc.cluster.local svc.cluster.local cluster.local${host_search:+ $host_search} extra.test
options ndots:5"
    [ "$output" = "$expected" ]

    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  dnsPolicy: None
  dnsConfig:
    nameservers: [10.213.$NET.53]
    searches: [example.test]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  containers:
  - name: c
    image: bb-$MARK:1
    command: ["sh", "-c", "wget -q -O- http://$WEB_IP/; cat /etc/resolv.conf; exec sleep 1000.$MARK"]
YAML
    wait_log client "hello-web"
    CLIENT_IP="$(pod_ip client)"
    [[ "$CLIENT_IP" == "$PREFIX"* ]]
    [ "$CLIENT_IP" != "$WEB_IP" ]
    kubectl logs client | grep -qx "nameserver 10.213.$NET.53"
    kubectl logs client | grep -qx "search example.test"
    kubectl logs client | grep -qx "options ndots:2 edns0"
    run grep -c nameserver <(kubectl logs client)
    [ "$output" = "1" ]

    # hostPort on the node's address (portmap DNAT)
    NODE_IP="$(kubectl get node "$NODE" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')"
    run curl -s --max-time 5 "http://$NODE_IP:$HOSTPORT/"
    [ "$output" = "hello-web" ]
    # masquerade: the node's one nftables rule for the pod subnet (its own table, named
    # after the bridge), no iptables chain per pod; host-local allocations on disk
    run nft list table ip "bosun-masq-$BRIDGE"
    [ "$status" -eq 0 ]
    echo "$output" | grep -q "hook postrouting priority srcnat"
    echo "$output" | grep -qF "ip saddr $SUBNET ip daddr != $SUBNET ip daddr != 224.0.0.0/4 masquerade"
    run sh -c "iptables-save -t nat | grep -F -e '-s $WEB_IP/32' -e '-s $CLIENT_IP/32'"
    [ -z "$output" ]
    [ -f "$IPAM/$WEB_IP" ] && [ -f "$IPAM/$CLIENT_IP" ]
    [ "$(ls /sys/class/net/"$BRIDGE"/brif | wc -l)" -eq 2 ]

    # deletion: DEL releases everything
    SB="$(ls "$BOSUN_DIR/data/cni/nodes/$NODE/attachments" | wc -l)"
    [ "$SB" -eq 2 ]
    run kubectl delete pod web client --timeout=60s
    [ "$status" -eq 0 ]
    eventually "[ ! -e '$IPAM/$WEB_IP' ] && [ ! -e '$IPAM/$CLIENT_IP' ]"
    eventually "[ \$(ls /sys/class/net/$BRIDGE/brif | wc -l) -eq 0 ]"
    eventually "[ \$(ls $BOSUN_DIR/data/cni/nodes/$NODE/attachments | wc -l) -eq 0 ]"
    eventually "! iptables-save | grep -q -F -e '$WEB_IP ' -e '$WEB_IP/' -e '$CLIENT_IP ' -e '$CLIENT_IP/'"
    run curl -s --max-time 2 "http://$NODE_IP:$HOSTPORT/"
    [ "$output" != "hello-web" ]
}

@test "cni: a server restart keeps a running pod's IP; its network is released once" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: keep}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  dnsPolicy: Default
  containers:
  - name: c
    image: bb-$MARK:1
    command: ["sh", "-c", "cat /etc/resolv.conf; exec sleep 1000.$MARK"]
YAML
    run kubectl wait --for=condition=Ready pod/keep --timeout=60s
    [ "$status" -eq 0 ]
    IP1="$(pod_ip keep)"
    [[ "$IP1" == "$PREFIX"* ]]
    # Default: the host's nameservers
    host_ns="$(grep -m1 '^nameserver' /etc/resolv.conf)"
    wait_log keep "$host_ns"
    # masquerade tables of other agents: one whose agent and bridge are gone (a killed
    # server's) goes at our start; one whose agent still runs stays, bridge or not
    sleep 0.01 & dead=$!
    wait "$dead" || true
    nft add table ip "bosun-masq-bsxd$NET" "{ comment \"bosun agent pid $dead\"; }"
    nft add table ip "bosun-masq-bsxl$NET" "{ comment \"bosun agent pid $$\"; }"
    # our own table names this server's pid
    nft list table ip "bosun-masq-$BRIDGE" | grep -q "comment \"bosun agent pid $BOSUN_PID\""
    restart_server
    run nft list table ip "bosun-masq-bsxd$NET"
    [ "$status" -ne 0 ]
    run nft list table ip "bosun-masq-bsxl$NET"
    [ "$status" -eq 0 ]
    nft delete table ip "bosun-masq-bsxl$NET"
    nft list table ip "bosun-masq-$BRIDGE" | grep -q "comment \"bosun agent pid $BOSUN_PID\""
    for _ in $(seq 1 150); do
        ip2="$(pod_ip keep)"
        st="$(kubectl get pod keep -o jsonpath='{.status.containerStatuses[0].state.running.startedAt}')"
        [ -n "$st" ] && [ "$(ls /sys/class/net/"$BRIDGE"/brif | wc -l)" -eq 1 ] && break
        sleep 0.2
    done
    [ "$ip2" = "$IP1" ]
    [ -f "$IPAM/$IP1" ]
    # one allocation, one attachment, one veth: the earlier run's were released
    [ "$(ls "$IPAM" | grep -c '^10\.')" -eq 1 ]
    [ "$(ls "$BOSUN_DIR/data/cni/nodes/$NODE/attachments" | wc -l)" -eq 1 ]
    [ "$(ls /sys/class/net/"$BRIDGE"/brif | wc -l)" -eq 1 ]
    run kubectl delete pod keep --timeout=60s
    [ "$status" -eq 0 ]
    eventually "[ ! -e '$IPAM/$IP1' ] && [ \$(ls /sys/class/net/$BRIDGE/brif | wc -l) -eq 0 ]"
    # DEL exactly once per attachment: no DEL errors in the log
    run grep -c "DEL:" "$BOSUN_DIR/server.log"
    [ "$output" = "0" ]
}

@test "cni: after a crash the next start releases the stale network before reattaching" {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: bb-$MARK:1
    command: ["sh", "-c", "exec sleep 1000.$MARK"]
YAML
    run kubectl wait --for=condition=Ready pod/crash --timeout=60s
    [ "$status" -eq 0 ]
    IP1="$(pod_ip crash)"
    att="$(ls "$BOSUN_DIR/data/cni/nodes/$NODE/attachments")"
    [ -n "$att" ]
    # no DEL ran: the old sandbox's veth, allocation and rules are still there
    kill -KILL "$(cat "$BOSUN_DIR/pid")"
    sleep 0.5
    [ "$(ls /sys/class/net/"$BRIDGE"/brif | wc -l)" -eq 1 ]
    [ -f "$IPAM/$IP1" ]
    restart_server
    for _ in $(seq 1 150); do
        [ -f "$BOSUN_DIR/data/cni/nodes/$NODE/attachments/$att" ] ||
            { [ "$(ls "$BOSUN_DIR/data/cni/nodes/$NODE/attachments" | wc -l)" -eq 1 ] && break; }
        sleep 0.2
    done
    grep -q "released the network of stale sandbox ${att:0:12}" "$BOSUN_DIR/server.log"
    run kubectl wait --for=condition=Ready pod/crash --timeout=60s
    [ "$status" -eq 0 ]
    [ "$(pod_ip crash)" = "$IP1" ]
    [ "$(ls "$IPAM" | grep -c '^10\.')" -eq 1 ]
    [ "$(ls /sys/class/net/"$BRIDGE"/brif | wc -l)" -eq 1 ]
    run kubectl delete pod crash --timeout=60s
    [ "$status" -eq 0 ]
    eventually "[ ! -e '$IPAM/$IP1' ] && [ \$(ls /sys/class/net/$BRIDGE/brif | wc -l) -eq 0 ]"
}

@test "cni: pods reach the outside world through masquerade" {
    # "outside": a namespace behind a veth on another subnet, with a web server that logs
    # its clients; a pod's request reaches it from the node's address, not the pod IP (the
    # node's masquerade rule: the bridge plugin runs without ipMasq)
    grep -q '"ipMasq": false' "$BOSUN_DIR/data/cni/net.d/99-bosun.conflist"
    nft list table ip "bosun-masq-$BRIDGE" | grep -qF "ip saddr $SUBNET"
    ip netns add "bsnout$NET"
    ip link add "bsvo$NET" type veth peer name "bsvi$NET" netns "bsnout$NET"
    ip addr add "10.214.$NET.1/30" dev "bsvo$NET"
    ip link set "bsvo$NET" up
    ip -n "bsnout$NET" addr add "10.214.$NET.2/30" dev "bsvi$NET"
    ip -n "bsnout$NET" link set "bsvi$NET" up
    mkdir -p "$BOSUN_DIR/outside"
    echo "outside-$MARK" >"$BOSUN_DIR/outside/index.html"
    ip netns exec "bsnout$NET" python3 -m http.server 8099 --bind "10.214.$NET.2" \
        --directory "$BOSUN_DIR/outside" >"$BOSUN_DIR/outside.log" 2>&1 3>&- &
    echo $! >"$BOSUN_DIR/outside.pid"
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: out}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: c
    image: bb-$MARK:1
    command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://10.214.$NET.2:8099/ && break; sleep 0.5; done; exec sleep 1000.$MARK"]
YAML
    wait_log out "outside-$MARK"
    grep -q "^10\.214\.$NET\.1 .*GET / " "$BOSUN_DIR/outside.log"
    run grep -c "^$PREFIX" "$BOSUN_DIR/outside.log"
    [ "$output" = "0" ]
    run kubectl delete pod out --timeout=60s
    [ "$status" -eq 0 ]
}
