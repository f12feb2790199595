#!/bin/sh
# Regenerates tests/golden/serf/vectors.inc from Debian's Serf sources
# (golang-github-hashicorp-serf-dev, GOPATH mode, no module proxy), as
# tools/serf-peer/build.sh builds its peers. Serf's
# package is copied with vectors_gen.go.in added to it, so the bytes come
# from Serf's own encoders. The unit test reads the committed file and
# needs no Go.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=/usr/share/gocode/src/github.com/hashicorp/serf/serf
if ! command -v go >/dev/null 2>&1 || [ ! -d "$src" ]; then
    echo "gen.sh: needs golang-go and golang-github-hashicorp-serf-dev" >&2
    exit 1
fi
tmp=$(mktemp -d /tmp/serfgen.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
pkg="$tmp/src/github.com/hashicorp/serf/serf"
mkdir -p "$pkg" "$tmp/src/serfgen"
for f in "$src"/*.go; do
    case "$f" in *_test.go) ;; *) cp "$f" "$pkg/" ;; esac
done
cp "$here/vectors_gen.go.in" "$pkg/vectors_gen.go"
cp "$here/main.go" "$tmp/src/serfgen/"
export GO111MODULE=off GOFLAGS= GOPATH="$tmp:/usr/share/gocode" GOCACHE="$tmp/cache"
(cd "$tmp/src/serfgen" && go build -o "$tmp/serfgen" .)
"$tmp/serfgen" > "$here/../vectors.inc"
echo "gen.sh: wrote $(grep -c '^V(' "$here/../vectors.inc") vectors" >&2
