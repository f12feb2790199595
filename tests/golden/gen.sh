#!/bin/sh
# Regenerate tests/golden/lzw.vec and frame.vec with Go's own code (see
# gen/main.go). Offline, in GOPATH mode with Debian's packaged Go sources,
# as tools/serf-peer/build.sh builds the reference peers.
# Needs: apt-get install -y golang-go golang-github-hashicorp-memberlist-dev
# The unit tests read the committed .vec files and never need Go.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ml=/usr/share/gocode/src/github.com/hashicorp/memberlist
if ! command -v go >/dev/null 2>&1 || [ ! -d "$ml" ]; then
    echo "gen.sh: needs golang-go and golang-github-hashicorp-memberlist-dev" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/lictor-golden.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
# A scratch copy of memberlist with exported wrappers around its unexported
# codec and crypto functions; listed first in GOPATH so it shadows Debian's.
mkdir -p "$tmp/src/github.com/hashicorp"
cp -R "$ml" "$tmp/src/github.com/hashicorp/memberlist"
cp "$here/gen/memberlist_export.go.in" \
    "$tmp/src/github.com/hashicorp/memberlist/zz_golden_export.go"

export GO111MODULE=off GOFLAGS= GOPATH="$tmp:/usr/share/gocode" GOCACHE="$tmp/cache"
(cd "$here/gen" && go build -o "$tmp/gen" .)
"$tmp/gen" "$here"
echo "gen.sh: wrote $here/lzw.vec ($(wc -c <"$here/lzw.vec") bytes)," \
    "$here/frame.vec ($(wc -c <"$here/frame.vec") bytes) with $(go version)"
