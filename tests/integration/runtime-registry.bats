#!/usr/bin/env bats
# runtime-registry.bats - pods pull from a real OCI distribution registry (Debian's
# docker-registry, the CNCF distribution registry) started here on loopback with its own config
# and storage: an image built here from the host's static busybox (an OCI layout made with tar +
# sha256sum) is pushed with skopeo and run by tag and by digest (oci runtime, root + runc); a
# missing tag shows ErrImagePull with containerd's message through kubelet, then
# ImagePullBackOff; a registry with basic auth (htpasswd) refuses an anonymous pull and serves
# a pod whose imagePullSecrets name a kubernetes.io/dockerconfigjson Secret.

load helpers
load oci-helpers

setup_file() {
    [ "$(id -u)" -eq 0 ] || skip "needs root for the oci runtime"
    command -v runc >/dev/null || skip "runc is not installed"
    command -v docker-registry >/dev/null || skip "needs Debian's docker-registry"
    command -v skopeo >/dev/null || skip "needs skopeo"
    command -v htpasswd >/dev/null || skip "needs htpasswd (apache2-utils)"
    BB="$(command -v busybox || true)"
    [ -n "$BB" ] && file -L "$BB" | grep -q "statically linked" || skip "needs a static busybox"
    MARK="6$(date +%s%N | tail -c 9)$RANDOM"
    BOSUN_DIR="$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/bosun.XXXXXX")"
    REG="$BOSUN_DIR/registry"
    mkdir -p "$REG/open" "$REG/auth"
    export MARK BOSUN_DIR REG
    # two registries: anonymous, and basic auth with a bcrypt htpasswd file
    REG_PORT="$(free_port)"
    AUTH_PORT="$(free_port)"
    htpasswd -Bbn "puller" "pw-$MARK" >"$REG/htpasswd"
    write_registry_config "$REG/open" "$REG_PORT" ""
    write_registry_config "$REG/auth" "$AUTH_PORT" "$REG/htpasswd"
    docker-registry serve "$REG/open/config.yml" >"$REG/open.log" 2>&1 3>&- &
    echo $! >"$REG/open.pid"
    docker-registry serve "$REG/auth/config.yml" >"$REG/auth.log" 2>&1 3>&- &
    echo $! >"$REG/auth.pid"
    export REG_PORT AUTH_PORT
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$REG_PORT/v2/" &&
            curl -s -o /dev/null "http://127.0.0.1:$AUTH_PORT/v2/" && break
        sleep 0.1
    done
    # the image: busybox and a few applets, entrypoint /bin/sh
    mkdir -p "$BOSUN_DIR/rootfs/bin"
    cp "$BB" "$BOSUN_DIR/rootfs/bin/busybox"
    for a in sh sleep echo cat; do ln -s busybox "$BOSUN_DIR/rootfs/bin/$a"; done
    echo "from-registry-$MARK" >"$BOSUN_DIR/rootfs/motd"
    build_layout "$BOSUN_DIR/rootfs" "$BOSUN_DIR/layout"
    # a second image (another manifest digest) for the pull by digest
    echo "from-digest-$MARK" >"$BOSUN_DIR/rootfs/motd"
    build_layout "$BOSUN_DIR/rootfs" "$BOSUN_DIR/layout2"
    local sk=(skopeo --insecure-policy copy -q --dest-tls-verify=false)
    "${sk[@]}" "oci:$BOSUN_DIR/layout:1" "docker://127.0.0.1:$REG_PORT/bb-$MARK:1"
    "${sk[@]}" "oci:$BOSUN_DIR/layout2:1" "docker://127.0.0.1:$REG_PORT/bbd-$MARK:1"
    "${sk[@]}" --dest-creds "puller:pw-$MARK" "oci:$BOSUN_DIR/layout:1" \
        "docker://127.0.0.1:$AUTH_PORT/priv-$MARK:1"
    DIGEST="$(skopeo --insecure-policy inspect --tls-verify=false --format '{{.Digest}}' \
        "docker://127.0.0.1:$REG_PORT/bbd-$MARK:1")"
    [[ "$DIGEST" == sha256:* ]]
    TAG_DIGEST="$(skopeo --insecure-policy inspect --tls-verify=false --format '{{.Digest}}' \
        "docker://127.0.0.1:$REG_PORT/bb-$MARK:1")"
    [[ "$TAG_DIGEST" == sha256:* ]] && [ "$TAG_DIGEST" != "$DIGEST" ]
    export DIGEST TAG_DIGEST
    # the server, on a pod network of its own
    oci_net_init
    local netflags
    read -ra netflags <<<"$(oci_net_flags)"
    BOSUN_PORT="$(free_port)"
    export HOME="$BOSUN_DIR/home"
    mkdir -p "$HOME"
    NODE="reg-$MARK"
    isolate_server
    "$BOSUN" server --data-dir "$BOSUN_DIR/data" --listen "127.0.0.1:$BOSUN_PORT" \
        --runtime oci --node-name "$NODE" --disable-gateway "${netflags[@]}" "${ISOLATION[@]}" \
        >"$BOSUN_DIR/server.log" 2>&1 3>&- &
    BOSUN_PID=$!
    echo "$BOSUN_PID" >"$BOSUN_DIR/pid"
    export BOSUN_PORT BOSUN_PID NODE KUBECONFIG="$BOSUN_DIR/data/kubeconfig"
    wait_ready
}

teardown_file() {
    [ -n "${BOSUN_DIR:-}" ] || { oci_net_cleanup; return 0; }
    local f rc=0
    # the registries first: stop_server removes BOSUN_DIR, where their pids are
    for f in "$BOSUN_DIR/registry/open.pid" "$BOSUN_DIR/registry/auth.pid"; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    stop_server || rc=1
    for _ in $(seq 1 40); do pgrep -f "$MARK" >/dev/null || break; sleep 0.1; done
    OCI_NET_STRICT=1 oci_net_cleanup || rc=1
    if pgrep -af "$MARK" >&2; then
        echo "processes left over" >&2
        rc=1
    fi
    return $rc
}

# write_registry_config DIR PORT [HTPASSWD]
write_registry_config() {
    local dir="$1" port="$2" htp="$3"
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog: {disabled: false}
storage:
  filesystem: {rootdirectory: $dir/storage}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$port
  secret: bosun-test-$MARK
EOF
    if [ -n "$htp" ]; then
        cat >>"$dir/config.yml" <<EOF
auth:
  htpasswd: {realm: bosun-test, path: $htp}
EOF
    fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# build_layout ROOTFS OUT: an OCI image layout (one uncompressed layer, tag "1").
build_layout() {
    local root="$1" out="$2" tmp="$BOSUN_DIR/lay.tmp"
    mkdir -p "$out/blobs/sha256"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
    tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tmp" .
    local ld ls cd cs md ms
    ld=$(sha "$tmp")
    ls=$(stat -c %s "$tmp")
    mv "$tmp" "$out/blobs/sha256/$ld"
    printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$ld" >"$tmp"
    cd=$(sha "$tmp")
    cs=$(stat -c %s "$tmp")
    mv "$tmp" "$out/blobs/sha256/$cd"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$cd" "$cs" "$ld" "$ls" >"$tmp"
    md=$(sha "$tmp")
    ms=$(stat -c %s "$tmp")
    mv "$tmp" "$out/blobs/sha256/$md"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' "$md" "$ms" >"$out/index.json"
}

# run_pod NAME IMAGE [extra spec lines]: a pod that prints /motd and sleeps.
run_pod() {
    kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 1
${3:-}
  containers:
  - name: c
    image: $2
    command: ["sh", "-c", "cat /motd; exec sleep 1000.$MARK"]
YAML
}

jp() { kubectl get pod "$1" -o jsonpath="$2"; }

# until_jp POD JSONPATH VALUE: waits up to 60 s for the value.
until_jp() {
    local v=""
    for _ in $(seq 1 300); do
        v="$(jp "$1" "$2" 2>/dev/null)"
        [ "$v" = "$3" ] && return 0
        sleep 0.2
    done
    echo "pod $1: $2 is '$v', never '$3'" >&2
    kubectl get pod "$1" -o yaml >&2
    return 1
}

@test "registry: a pushed image runs by tag" {
    run_pod tag "127.0.0.1:$REG_PORT/bb-$MARK:1"
    run kubectl wait --for=condition=Ready pod/tag --timeout=60s
    [ "$status" -eq 0 ]
    run kubectl logs tag
    [ "$output" = "from-registry-$MARK" ]
    # imageID is the manifest the registry served
    run jp tag '{.status.containerStatuses[0].imageID}'
    [ "$output" = "127.0.0.1:$REG_PORT/bb-$MARK@$TAG_DIGEST" ]
    grep -q "GET /v2/bb-$MARK/manifests/1 " "$REG/open.log"
    run kubectl delete pod tag --timeout=60s
    [ "$status" -eq 0 ]
}

@test "registry: a pushed image runs by digest" {
    local bytag
    bytag="$(grep -c "GET /v2/bbd-$MARK/manifests/1 " "$REG/open.log")"
    run_pod dig "127.0.0.1:$REG_PORT/bbd-$MARK@$DIGEST"
    run kubectl wait --for=condition=Ready pod/dig --timeout=60s
    [ "$status" -eq 0 ]
    run kubectl logs dig
    [ "$output" = "from-digest-$MARK" ]
    run jp dig '{.status.containerStatuses[0].imageID}'
    [ "$output" = "127.0.0.1:$REG_PORT/bbd-$MARK@$DIGEST" ]
    # the manifest was asked for by digest, never by tag
    grep -q "GET /v2/bbd-$MARK/manifests/$DIGEST " "$REG/open.log"
    run grep -c "GET /v2/bbd-$MARK/manifests/1 " "$REG/open.log"
    [ "$output" = "$bytag" ]
    run kubectl delete pod dig --timeout=60s
    [ "$status" -eq 0 ]
}

@test "registry: a missing tag shows ErrImagePull with upstream's message, then ImagePullBackOff" {
    local ref="127.0.0.1:$REG_PORT/bb-$MARK:nope"
    run_pod miss "$ref"
    until_jp miss '{.status.containerStatuses[0].state.waiting.reason}' ErrImagePull
    run jp miss '{.status.containerStatuses[0].state.waiting.message}'
    [ "$output" = "rpc error: code = NotFound desc = failed to pull and unpack image \"$ref\": failed to resolve reference \"$ref\": $ref: not found" ]
    run kubectl get pod miss --no-headers
    [[ "$output" == *" ErrImagePull "* ]]
    # the next sync inside the back-off shows ImagePullBackOff
    until_jp miss '{.status.containerStatuses[0].state.waiting.reason}' ImagePullBackOff
    run jp miss '{.status.containerStatuses[0].state.waiting.message}'
    [ "$output" = "Back-off pulling image \"$ref\"" ]
    run kubectl get pod miss --no-headers
    [[ "$output" == *" ImagePullBackOff "* ]]
    run kubectl delete pod miss --timeout=60s
    [ "$status" -eq 0 ]
}

@test "registry: basic auth refuses an anonymous pull and serves a pod with imagePullSecrets" {
    local ref="127.0.0.1:$AUTH_PORT/priv-$MARK:1"
    run_pod anon "$ref"
    until_jp anon '{.status.containerStatuses[0].state.waiting.reason}' ErrImagePull
    run jp anon '{.status.containerStatuses[0].state.waiting.message}'
    [[ "$output" == "rpc error: code = Unknown desc = failed to pull and unpack image \"$ref\": failed to resolve reference \"$ref\": pull access denied"* ]]
    # a wrong password is refused the same way
    kubectl create secret docker-registry bad --docker-server="127.0.0.1:$AUTH_PORT" \
        --docker-username=puller --docker-password=wrong
    run_pod wrong "$ref" "  imagePullSecrets: [{name: bad}]"
    until_jp wrong '{.status.containerStatuses[0].state.waiting.reason}' ErrImagePull
    # the right one, in a kubernetes.io/dockerconfigjson Secret (plus a missing one: ignored)
    kubectl create secret docker-registry regcred --docker-server="127.0.0.1:$AUTH_PORT" \
        --docker-username=puller --docker-password="pw-$MARK"
    [ "$(kubectl get secret regcred -o jsonpath='{.type}')" = "kubernetes.io/dockerconfigjson" ]
    run_pod priv "$ref" "  imagePullSecrets: [{name: nosuch}, {name: regcred}]"
    run kubectl wait --for=condition=Ready pod/priv --timeout=60s
    [ "$status" -eq 0 ]
    run kubectl logs priv
    [ "$output" = "from-registry-$MARK" ]
    # the registry saw the user
    grep -q "auth.user.name=puller\|auth.user.name=\"puller\"" "$REG/auth.log"
    run kubectl delete pod anon wrong priv --timeout=60s
    [ "$status" -eq 0 ]
}
