#!/usr/bin/env bash
# Installs the Debian packages Bosun needs to build, test and run.
# Idempotent and quick when everything is already there: apt is only called for
# packages that dpkg does not report as installed.
set -euo pipefail

BUILD_PKGS="build-essential meson ninja-build pkg-config clang clang-format libclang-rt-14-dev
libuv1-dev libjansson-dev libyaml-dev libsqlite3-dev libssl-dev libnghttp2-dev libnftables-dev
libcmocka-dev libarchive-dev zlib1g-dev libbrotli-dev"
TEST_PKGS="bats file curl jq openssl iproute2 nftables procps psmisc dnsutils busybox-static python3 wrk redis-server python3-flask python3-redis python3-grpcio iptables docker-registry skopeo apache2-utils bsdutils"
RUNTIME_PKGS="runc crun containernetworking-plugins"
BENCH_PKGS="wrk nginx-light haproxy dnsmasq-base unbound dnsperf hyperfine linux-perf"

want="$BUILD_PKGS $TEST_PKGS $RUNTIME_PKGS"
if [ "${BOSUN_BENCH_DEPS:-0}" = 1 ]; then want="$want $BENCH_PKGS"; fi

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing packages:$missing (run as root or install them)" >&2
        exit 1
    fi
    echo "install-deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi

# kubectl: the machine ships it (Google Cloud SDK); fall back to Debian's if absent.
if ! command -v kubectl >/dev/null 2>&1; then
    if [ -x /usr/lib/google-cloud-sdk/bin/kubectl ]; then
        ln -sf /usr/lib/google-cloud-sdk/bin/kubectl /usr/local/bin/kubectl
    else
        echo "install-deps: kubectl not found; install it (e.g. google-cloud-cli kubectl component)" >&2
        exit 1
    fi
fi
