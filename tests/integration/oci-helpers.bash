# Helpers for bats files that start a server with `--runtime oci`: every run gets a pod network
# nobody else uses (its own CNI bridge and /24) and removes it afterwards, so oci tests can run
# in parallel with each other and with a node that uses the default bosun0 / 10.42.0.0/16.
#
#   load helpers
#   load oci-helpers
#   setup_file() {
#       oci_net_init                      # picks OCI_NET, sets OCI_BRIDGE, OCI_SUBNET, OCI_PREFIX
#       read -ra netflags <<<"$(oci_net_flags)"
#       start_server --runtime oci "${netflags[@]}" ...
#   }
#   teardown_file() { stop_server; oci_net_cleanup; }
#
# The subnet is 10.215.<n>.0/24 (net-cni.bats uses 10.213.x), the bridge bsn-o<n>. The bridge is
# created by oci_net_init itself: `ip link add` either creates it or fails, so two runs can never
# pick the same <n> (the CNI bridge plugin adopts an existing bridge). Without root, or without
# `ip`, oci_net_init sets nothing and oci_net_flags prints nothing (the oci tests skip anyway).

# oci_net_init: claims a free <n> and exports OCI_NET, OCI_BRIDGE, OCI_SUBNET, OCI_PREFIX.
oci_net_init() {
    [ -n "${OCI_BRIDGE:-}" ] && return 0
    [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null || return 0
    local n tries
    for tries in $(seq 1 60); do
        n=$((RANDOM % 250 + 2))
        # a route or address in the subnet means somebody uses it
        if ip -4 route | grep -q "^10\.215\.$n\." || ip -4 addr | grep -q "inet 10\.215\.$n\."; then
            continue
        fi
        if ip link add "bsn-o$n" type bridge 2>/dev/null; then
            OCI_NET="$n"
            OCI_BRIDGE="bsn-o$n"
            OCI_SUBNET="10.215.$n.0/24"
            OCI_PREFIX="10.215.$n."
            export OCI_NET OCI_BRIDGE OCI_SUBNET OCI_PREFIX
            return 0
        fi
    done
    echo "oci_net_init: no free 10.215.x.0/24 after $tries tries" >&2
    return 1
}

# oci_net_flags: the server flags of the claimed network, one word each (empty without one).
oci_net_flags() {
    [ -n "${OCI_BRIDGE:-}" ] || return 0
    echo "--cni-bridge $OCI_BRIDGE --cluster-cidr $OCI_SUBNET --pod-cidr $OCI_SUBNET"
}

# oci_net_cleanup: removes the bridge and every iptables rule or per-pod chain still naming the
# subnet (the plugins' DEL normally removed them already; a crashed server leaves them).
# Call it after the server has stopped. Returns 1 (after cleaning) when rules were left over
# and OCI_NET_STRICT=1, so a test can assert that DEL did its job.
oci_net_cleanup() {
    [ -n "${OCI_BRIDGE:-}" ] || return 0
    local left=0 table line chain chains=""
    if command -v iptables-save >/dev/null; then
        for table in nat filter; do
            while IFS= read -r line; do
                [ -n "$line" ] || continue
                left=1
                # "-A CHAIN spec" -> "-D CHAIN spec"; remember per-pod chains it jumps to
                chain="$(sed -n 's/.* -j \(CNI-[0-9a-f]\{24\}\)\b.*/\1/p' <<<"$line")"
                [ -n "$chain" ] && chains="$chains $chain"
                eval "iptables -t $table -D ${line#-A }" 2>/dev/null || true
            done < <(iptables-save -t "$table" 2>/dev/null | grep -E "^-A " | grep -F "10.215.$OCI_NET.")
        done
        for chain in $chains; do
            iptables -t nat -F "$chain" 2>/dev/null && iptables -t nat -X "$chain" 2>/dev/null || true
        done
    fi
    ip link del "$OCI_BRIDGE" 2>/dev/null || true
    # the node's masquerade table for the bridge (a server that was killed leaves it)
    nft delete table ip "bosun-masq-$OCI_BRIDGE" 2>/dev/null || true
    unset OCI_NET OCI_BRIDGE OCI_SUBNET OCI_PREFIX
    if [ "$left" = 1 ] && [ "${OCI_NET_STRICT:-0}" = 1 ]; then
        echo "oci_net_cleanup: iptables rules of the pod subnet were left over" >&2
        return 1
    fi
    return 0
}
