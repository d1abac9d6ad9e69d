#!/usr/bin/env bash
# Install the Debian packages a profile needs, only those missing; quick when all are there.
#   scripts/system-deps.sh node   what `make run` needs on a node
#   scripts/system-deps.sh test   node + what the test suite needs (a real etcd, ...)
set -euo pipefail
profile=${1:-node}
# docker.io: the pods' runtime; gcc, libc6-dev, openssl: scripts/build-images.sh (pause, TLS cert)
node_pkgs=(nftables libnftables1 iproute2 docker.io gcc libc6-dev openssl)
test_pkgs=(etcd-server socat wrk haproxy)  # wrk: bench load generator; haproxy: bench/proxy.py's yardstick
pkgs=("${node_pkgs[@]}")
[ "$profile" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing system packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
