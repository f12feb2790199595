#!/usr/bin/env bash
# Builds the reference gossip peers for the interop and integ suites from
# Debian's packaged Go sources, offline (GOPATH mode, no module proxy):
#   bin/serf      the real HashiCorp Serf agent and CLI (Serf 0.9.4,
#                 memberlist 0.2.2: github.com/hashicorp/serf/cmd/serf)
#   bin/serfpeer  a JSON-lines Serf node on the same libraries
#                 (serfpeer/main.go)
# The packages come from `bash scripts/install-deps.sh --test`; only the
# test path needs Go. bin/ is ignored by git.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=/usr/share/gocode/src/github.com/hashicorp

if ! command -v go >/dev/null 2>&1 || [ ! -d "$src/serf/cmd/serf" ] ||
    [ ! -d "$src/memberlist" ]; then
  echo "serf-peer/build.sh: needs golang-go, golang-github-hashicorp-serf-dev" \
    "and golang-github-hashicorp-memberlist-dev:" \
    "run bash scripts/install-deps.sh --test" >&2
  exit 1
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
