#!/usr/bin/env bash
# README command 1: install what is missing, build, and start a dev agent
# (a throwaway single server; HTTP API on 127.0.0.1:8500, Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build
exec build/init/lictor agent -dev "$@"
