#!/usr/bin/env bash
# Installs what lictor needs to build and test on Debian 12, from Debian's
# archive only. Safe to run again: it skips apt when all is present.
# --test adds Go and Debian's Serf and memberlist sources, from which
# tools/serf-peer/build.sh builds the real Serf agent the interop and
# integ suites gossip with; --bench adds the benchmarks' tools.
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
  libnng-dev libmsgpack-dev librocksdb-dev libldns-dev libyaml-dev
  libjansson-dev libcmocka-dev libmbedtls-dev libhttp-parser-dev
  curl dnsutils python3 python3-pytest python3-consul python3-dnspython
  python3-requests
)
for arg in "$@"; do
  case "$arg" in
    --test) pkgs+=(golang-go golang-github-hashicorp-serf-dev
                   golang-github-hashicorp-memberlist-dev) ;;
    --bench) pkgs+=(wrk etcd-server etcd-client) ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
