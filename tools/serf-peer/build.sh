#!/bin/sh
# Builds the reference gossip peers for the interop and integ suites from
# Debian's packaged Go sources, offline (GOPATH mode, no module proxy):
#   bin/serf      the real HashiCorp Serf agent and CLI (Serf 0.9.4,
#                 memberlist 0.2.2: github.com/hashicorp/serf/cmd/serf)
#   bin/serfpeer  a JSON-lines Serf node on the same libraries
#                 (serfpeer/main.go)
# Only the test path needs Go: `bash scripts/install-deps.sh --test`
# installs the packages; run alone, this script installs what is missing.
# POSIX sh (bench/gossip_bench.sh runs it with sh). bin/ is ignored by git.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=/usr/share/gocode/src/github.com/hashicorp
pkgs="golang-go golang-github-hashicorp-serf-dev golang-github-hashicorp-memberlist-dev"

if ! command -v go >/dev/null 2>&1 || [ ! -d "$src/serf/cmd/serf" ] ||
    [ ! -d "$src/memberlist" ]; then
  echo "serf-peer/build.sh: installing $pkgs" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq $pkgs >/dev/null
fi

mkdir -p "$here/bin"
tmp=$(mktemp -d /tmp/serf-peer-gopath.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# Debian ships the libraries under /usr/share/gocode/src; the build cache
# stays in bin/ so that a second build takes a second.
export GO111MODULE=off GOFLAGS= GOPATH="/usr/share/gocode:$tmp" \
  GOCACHE="$here/bin/.gocache"

go build -o "$here/bin/serf" github.com/hashicorp/serf/cmd/serf
(cd "$here/serfpeer" && go build -o "$here/bin/serfpeer" .)
echo "built $here/bin/serf ($("$here/bin/serf" version | head -1))," \
  "$here/bin/serfpeer"
