#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test:
#  1. the normal build: unit and integration suites;
#  2. an AddressSanitizer + UndefinedBehaviorSanitizer build: the same
#     suites, failing on any sanitizer report from any process;
#  3. a clang libFuzzer build: a bounded run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run_suites() {
  local dir=$1; shift
  ninja -C "$dir"
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"
}

echo "== normal build"
[ -d build ] || meson setup build
run_suites build --suite unit --suite integ

echo "== sanitizer build (address, undefined)"
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
LICTOR_SANITIZED=1 run_suites build-asan --suite unit --suite integ

echo "== fuzz build (clang, libFuzzer)"
[ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true \
  -Db_sanitize=address,undefined -Db_lundef=false \
  -Dc_args=-fsanitize=fuzzer-no-link
run_suites build-fuzz --suite fuzz

echo "all suites passed"
