#!/usr/bin/env bats
# runtime-image.bats - `bosun image pack|import|ls|rm` against a private data dir: a packed
# directory, an OCI image layout built here with tar + sha256sum (as a directory and as a
# tar), a `docker save` style archive, digest verification and garbage collection.

setup_file() {
    : "${BOSUN:=bosun}"
    export BOSUN
}

setup() {
    if ! "$BOSUN" image --help >/dev/null 2>&1; then
        skip "'$BOSUN image' is not available (command not wired into src/main.c yet)"
    fi
    TMP=$(mktemp -d "/tmp/bsn-image-bats.$$.XXXXXX")
    DATA="$TMP/data"
    mkdir -p "$TMP/src/bin" "$TMP/src/etc"
    echo "hello from bats" >"$TMP/src/etc/motd"
    printf '#!/bin/sh\necho app\n' >"$TMP/src/bin/app"
    chmod 755 "$TMP/src/bin/app"
}

teardown() {
    if [ -n "${REG_PID:-}" ]; then
        kill "$REG_PID" 2>/dev/null || true
        wait "$REG_PID" 2>/dev/null || true
    fi
    if [ -n "${TMP:-}" ]; then rm -rf "$TMP"; fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# build_layout DIR: an OCI image layout whose only manifest carries ref.name "2.0".
build_layout() {
    local out=$1
    mkdir -p "$out/blobs/sha256"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
    tar -C "$TMP/src" -cf "$TMP/layer.tar" .
    local ld; ld=$(sha "$TMP/layer.tar"); local ls; ls=$(stat -c %s "$TMP/layer.tar")
    mv "$TMP/layer.tar" "$out/blobs/sha256/$ld"
    printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/app"],"Env":["FROM=layout"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$ld" >"$TMP/cfg"
    local cd; cd=$(sha "$TMP/cfg"); local cs; cs=$(stat -c %s "$TMP/cfg")
    mv "$TMP/cfg" "$out/blobs/sha256/$cd"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$cd" "$cs" "$ld" "$ls" >"$TMP/man"
    local md; md=$(sha "$TMP/man"); local ms; ms=$(stat -c %s "$TMP/man")
    mv "$TMP/man" "$out/blobs/sha256/$md"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"2.0"}}]}' "$md" "$ms" >"$out/index.json"
    LAYER_DIGEST=$ld
}

@test "pack, ls and rm a directory image" {
    run "$BOSUN" image pack --data-dir "$DATA" --name tools:1 --entrypoint /bin/app --env A=1 "$TMP/src"
    [ "$status" -eq 0 ]
    [[ "$output" == *"packed docker.io/library/tools:1 sha256:"* ]]
    run "$BOSUN" image ls --data-dir "$DATA"
    [ "$status" -eq 0 ]
    [[ "$output" == *"docker.io/library/tools:1"* ]]
    # the unpacked layer holds the files
    grep -rq "hello from bats" "$DATA/images/layers"
    run "$BOSUN" image rm --data-dir "$DATA" tools:1
    [ "$status" -eq 0 ]
    [ -z "$(ls -A "$DATA/images/layers")" ]
    [ -z "$(ls -A "$DATA/images/blobs/sha256")" ]
    run "$BOSUN" image rm --data-dir "$DATA" tools:1
    [ "$status" -eq 1 ]
}

@test "import an OCI layout directory and tar" {
    build_layout "$TMP/layout"
    run "$BOSUN" image import --data-dir "$DATA" "$TMP/layout"
    [ "$status" -eq 1 ]   # ref.name is only a tag: a name is needed
    [[ "$output" == *"give a name"* ]]
    run "$BOSUN" image import --data-dir "$DATA" --name registry.local:5000/team/web "$TMP/layout"
    [ "$status" -eq 0 ]
    [[ "$output" == *"imported registry.local:5000/team/web:2.0"* ]]
    tar -C "$TMP/layout" -cf "$TMP/layout.tar" .
    run "$BOSUN" image import --data-dir "$DATA" --name web "$TMP/layout.tar"
    [ "$status" -eq 0 ]
    [[ "$output" == *"imported docker.io/library/web:2.0"* ]]
    [ -f "$DATA/images/layers/$LAYER_DIGEST/etc/motd" ]
    run "$BOSUN" image ls --data-dir "$DATA"
    [[ "$output" == *"registry.local:5000/team/web:2.0"* ]]
    [[ "$output" == *"docker.io/library/web:2.0"* ]]
}

@test "a corrupted blob is refused" {
    build_layout "$TMP/layout"
    echo garbage >>"$TMP/layout/blobs/sha256/$LAYER_DIGEST"
    run "$BOSUN" image import --data-dir "$DATA" --name broken "$TMP/layout"
    [ "$status" -eq 1 ]
    [[ "$output" == *"digest mismatch"* ]]
}

@test "import a docker save archive" {
    mkdir -p "$TMP/save/abc"
    tar -C "$TMP/src" -cf "$TMP/save/abc/layer.tar" .
    local ld; ld=$(sha "$TMP/save/abc/layer.tar")
    printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/app"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$ld" >"$TMP/save/cfg.json"
    echo '[{"Config":"cfg.json","RepoTags":["saved/app:7","saved/app:latest"],"Layers":["abc/layer.tar"]}]' >"$TMP/save/manifest.json"
    tar -C "$TMP/save" -cf "$TMP/save.tar" .
    run "$BOSUN" image import --data-dir "$DATA" "$TMP/save.tar"
    [ "$status" -eq 0 ]
    [[ "$output" == *"imported docker.io/saved/app:7"* ]]
    [[ "$output" == *"imported docker.io/saved/app:latest"* ]]
    [ -f "$DATA/images/layers/$ld/bin/app" ]
}

@test "pull from a registry (static OCI distribution tree served on 127.0.0.1)" {
    command -v python3 >/dev/null || skip "python3 not installed"
    build_layout "$TMP/layout"
    # GET /v2/<name>/manifests/<tag> and /v2/<name>/blobs/<digest> as plain files
    mkdir -p "$TMP/reg/v2/team/app/manifests" "$TMP/reg/v2/team/app/blobs"
    local md; md=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$TMP/layout/index.json")
    cp "$TMP/layout/blobs/sha256/${md#sha256:}" "$TMP/reg/v2/team/app/manifests/2.0"
    for b in "$TMP/layout/blobs/sha256/"*; do cp "$b" "$TMP/reg/v2/team/app/blobs/sha256:$(basename "$b")"; done
    local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$TMP/reg" >"$TMP/reg.log" 2>&1 3>&- &
    REG_PID=$!
    for _ in $(seq 1 50); do
        curl -s "http://127.0.0.1:$port/v2/team/app/manifests/2.0" >/dev/null 2>&1 && break
        sleep 0.1
    done
    run "$BOSUN" image pull --data-dir "$DATA" "127.0.0.1:$port/team/app:2.0"
    [ "$status" -eq 0 ]
    [[ "$output" == *"pulled 127.0.0.1:$port/team/app:2.0"* ]]
    [ -f "$DATA/images/layers/$LAYER_DIGEST/etc/motd" ]
    run "$BOSUN" image pull --data-dir "$DATA" "127.0.0.1:$port/team/app:nope"
    [ "$status" -eq 1 ]
    [[ "$output" == *"HTTP 404"* ]]
}

@test "usage errors" {
    run "$BOSUN" image frobnicate
    [ "$status" -eq 2 ]
    run "$BOSUN" image pack --data-dir "$DATA" "$TMP/src"
    [ "$status" -eq 2 ]
    run "$BOSUN" image import --data-dir "$DATA" "$TMP/does-not-exist"
    [ "$status" -eq 1 ]
}
