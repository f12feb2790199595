#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test:
#  0. the real Serf agent and serfpeer, from Debian's Go sources
#     (tools/serf-peer), which the integ and interop suites gossip with;
#  1. the normal build: unit, integration and Serf interop suites;
#  2. an AddressSanitizer + UndefinedBehaviorSanitizer build: the same
#     suites, failing on any sanitizer report from any process;
#  3. a clang libFuzzer build: a bounded run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run_suites() {
  local dir=$1; shift
  ninja -C "$dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"
}

# tests/interop/meson.build defines the interop suite only if the peer was
# there when meson configured the build directory: configure again if not.
has_interop() {
  meson introspect --tests "$1" | grep '"name": "serf_interop"' >/dev/null
}
with_interop() {
  local dir=$1; shift
  [ -d "$dir" ] || meson setup "$dir" "$@"
  has_interop "$dir" || meson setup --reconfigure "$dir" >/dev/null
  has_interop "$dir" || {
    echo "$dir: no serf_interop test although the peer is built" >&2
    exit 1
  }
}

echo "== the real Serf agent (tools/serf-peer)"
bash tools/serf-peer/build.sh

echo "== normal build"
with_interop build
run_suites build --suite unit --suite integ --suite interop

echo "== sanitizer build (address, undefined)"
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
LICTOR_SANITIZED=1 run_suites build-asan --suite unit --suite integ

echo "== fuzz build (clang, libFuzzer)"
[ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true \
  -Db_sanitize=address,undefined -Db_lundef=false \
  -Dc_args=-fsanitize=fuzzer-no-link
run_suites build-fuzz --suite fuzz

echo "all suites passed"
