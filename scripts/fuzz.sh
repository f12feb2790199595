#!/usr/bin/env bash
# Runs every libFuzzer target for a while (default 60 s each) on its
# corpus. Not part of the test run; finds go to build-fuzz/crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
bash scripts/install-deps.sh
[ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true \
  -Db_sanitize=address,undefined -Db_lundef=false \
  -Dc_args=-fsanitize=fuzzer-no-link
ninja -C build-fuzz
for t in proto config http_query raft_wire gossip_packet go_json sp_stream \
    http_conn wal_trim; do
  corpus=tests/fuzz/corpus/$t
  work=$(mktemp -d)
  cp -r "$corpus"/. "$work"/
  echo "== fuzz_$t for ${secs}s"
  (cd build-fuzz && ./tests/fuzz/fuzz_$t -max_total_time="$secs" -max_len=4096 "$work")
  rm -rf "$work"
done
