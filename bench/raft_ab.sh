#!/usr/bin/env bash
# bench/raft_ab.sh: one client's PUT latency through a 3-server cluster,
# two builds of lictor side by side: each round starts a fresh cluster of
# build A and one of build B (alternating which goes first, since the
# first of a pair gains a little), warms it up with 16 clients, then runs
# `wrk -c1` against its leader a few times and prints p50 and p99 of each
# run and the medians per build. For changes on a write's path whose gain
# is smaller than this machine's drift between bench/raft_bench.sh runs.
# A benchmark, not a test: it fails only if something could not run.
#
#   bash bench/raft_ab.sh [-r ROUNDS] [-w WARM_SECONDS] [-d SECONDS] [-n RUNS] BUILD_A BUILD_B
#
# BUILD_A and BUILD_B are meson build directories (with init/lictor).
# Everything listens on loopback with random ports and keeps its data in
# a temporary directory; every process is stopped by pid, the directory
# removed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
LIB=$here/kv_bench_lib.py
RLIB=$here/raft_bench_lib.py
# shellcheck source=lictor_servers.sh
. "$here/lictor_servers.sh"
ROUNDS=4 WARM=15 DURATION=6 RUNS=3

while getopts "r:w:d:n:h" o; do
	case $o in
	r) ROUNDS=$OPTARG ;;
	w) WARM=$OPTARG ;;
	d) DURATION=$OPTARG ;;
	n) RUNS=$OPTARG ;;
	*) sed -n '2,17p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 2 ] || { sed -n '2,17p' "$0"; exit 2; }
for v in "$ROUNDS" "$WARM" "$DURATION" "$RUNS"; do
	case $v in ''|*[!0-9]*) echo "numbers must be whole: $v" >&2; exit 2 ;; esac
done
for b in "$1" "$2"; do
	[ -x "$b/init/lictor" ] || { echo "no lictor binary in $b/init: build first" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is missing (bash scripts/install-deps.sh --bench)" >&2; exit 1; }
A=$(cd "$1" && pwd) B=$(cd "$2" && pwd)

tmp=$(mktemp -d /tmp/lictor-raft-ab.XXXXXX)
pids=()
stop_all() {
	local p i
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for i in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wrk_put() {	# conns seconds addr
	BENCH_TARGET=lictor BENCH_OP=PUT BENCH_KEYS=10000 BENCH_VSIZE=256 \
		timeout $(($2 + 60)) wrk -t1 -c"$1" -d"$2s" --timeout 5s \
		-s "$here/wrk_kv.lua" "http://$3" 2>&1
}

run_one() {	# label build
	local label=$1 build=$2 addrs=() i dir ll out
	dir=$(mktemp -d "$tmp/run.XXXXXX")
	read -r -a P <<<"$($PY "$LIB" ports 15)"
	start_lictor_servers "$build/init/lictor" "$dir" ab "${P[@]}"
	pids+=("${LS_PIDS[@]}")
	addrs=("${LS_ADDRS[@]}")
	for i in 0 1 2; do
		$PY "$LIB" wait lictor "${addrs[i]}" --timeout 60 --pid "${pids[i]}"
	done
	ll=$($PY "$RLIB" leader lictor "${addrs[@]}")
	[ "$WARM" = 0 ] || wrk_put 16 "$WARM" "${addrs[ll]}" >/dev/null
	for i in $(seq 1 "$RUNS"); do
		out=$(wrk_put 1 "$DURATION" "${addrs[ll]}" | grep '^RESULT ') || {
			echo "wrk failed against build $label" >&2; exit 1; }
		echo "$label $out" | sed 's/^\([AB]\) .*p50_us=\([0-9]*\) p99_us=\([0-9]*\).*/\1 \2 \3/' |
			tee -a "$tmp/results" | awk '{printf "  %s: p50 %d us, p99 %d us\n", $1, $2, $3}'
	done
	stop_all
	rm -rf "$dir"
}

echo "machine: $(nproc) CPUs, $(uname -sr), idle vCPUs poll $(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || echo "?") ns before halting"
echo "A: $A"
echo "B: $B"
for r in $(seq 1 "$ROUNDS"); do
	echo "round $r of $ROUNDS"
	if [ $((r % 2)) = 1 ]; then run_one A "$A"; run_one B "$B"
	else run_one B "$B"; run_one A "$A"; fi
done
$PY - "$tmp/results" <<'PYEOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for label in "AB":
    p50 = [int(r[1]) for r in rows if r[0] == label]
    p99 = [int(r[2]) for r in rows if r[0] == label]
    print("%s: %d runs, p50 median %d us (%d-%d), p99 median %d us (%d-%d)" % (
        label, len(p50), statistics.median(p50), min(p50), max(p50),
        statistics.median(p99), min(p99), max(p99)))
a = statistics.median(int(r[1]) for r in rows if r[0] == "A")
b = statistics.median(int(r[1]) for r in rows if r[0] == "B")
print("p50 B/A: %.3f" % (b / a))
PYEOF
