#!/usr/bin/env bash
# raft-soak.sh [COUNT] [SECONDS] [JOBS]: runs the Raft simulator's chaos
# seeds (tests/unit/raft_sim.c) far beyond the unit test's default, until
# COUNT seeds (default 100000; each seed is a 3- and a 5-server cluster)
# or SECONDS (default 600) have passed, on JOBS processes (default: the
# number of CPUs). Prints seeds/s and every failing seed; exit 1 if any.
#
# Environment: RAFT_SIM_FIRST (first seed, default 1), RAFT_SIM_MS
# (simulated ms of chaos per seed, default 20000), BUILD (build dir,
# default build-raft), BIN (a prebuilt simulator test binary instead),
# CHUNK (seeds per process run, default 200).
# Replay a failure: RAFT_SIM_SEED=<n> [RAFT_SIM_VERBOSE=1] \
#   $BUILD/tests/unit/unit_raft_sim
set -euo pipefail
cd "$(dirname "$0")/.."

count=${1:-100000}
secs=${2:-600}
jobs=${3:-$(nproc)}
first=${RAFT_SIM_FIRST:-1}
chunk=${CHUNK:-200}
build=${BUILD:-build-raft}

bin=${BIN:-}
if [ -z "$bin" ]; then
	[ -d "$build" ] || meson setup "$build" >/dev/null
	ninja -C "$build" tests/unit/unit_raft_sim >/dev/null
	bin=$build/tests/unit/unit_raft_sim
fi
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

start=$(date +%s)
next=$first
end=$((first + count))
done_seeds=0
failed=0
declare -A size=()

finish() {		# collects one finished chunk
	local f=$1
	if grep -q "FAILED seed" "$f.log"; then
		failed=1
		grep -E "^raft_sim: (seed .* FAILED|[a-z].*:)" "$f.log" |
		    grep -v "replay with" || true
		grep -oE "FAILED seed [0-9]+" "$f.log" | sort -u |
		    while read -r _ _ sd; do
			echo "  replay: RAFT_SIM_SEED=$sd RAFT_SIM_VERBOSE=1 $bin"
		    done
	elif ! grep -q "PASSED" "$f.log"; then
		failed=1
		echo "chunk $f: the simulator did not finish:"
		tail -20 "$f.log"
	fi
	done_seeds=$((done_seeds + size[$f]))
	rm -f "$f.log"
}

running=()
while :; do
	now=$(date +%s)
	while [ ${#running[@]} -lt "$jobs" ] && [ "$next" -lt "$end" ] &&
	    [ $((now - start)) -lt "$secs" ]; do
		n=$chunk
		[ $((next + n)) -gt "$end" ] && n=$((end - next))
		f=$tmp/$next
		size[$f]=$n
		RAFT_SIM_FIRST=$next RAFT_SIM_SEEDS=$n "$bin" >"$f.log" 2>&1 &
		running+=("$!:$f")
		next=$((next + n))
	done
	[ ${#running[@]} -eq 0 ] && break
	wait -n || true
	still=()
	for pf in "${running[@]}"; do
		if kill -0 "${pf%%:*}" 2>/dev/null; then
			still+=("$pf")
		else
			wait "${pf%%:*}" 2>/dev/null || true
			finish "${pf#*:}"
		fi
	done
	running=("${still[@]+"${still[@]}"}")
done

el=$(( $(date +%s) - start ))
[ "$el" -eq 0 ] && el=1
echo "raft-soak: seeds $first..$((first + done_seeds - 1)) ($done_seeds x 3 and" \
    "5 servers) in ${el} s: $((done_seeds / el)) seeds/s," \
    "$([ $failed -eq 0 ] && echo "no failures" || echo "FAILURES above")"
exit $failed
