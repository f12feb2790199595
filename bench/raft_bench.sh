#!/usr/bin/env bash
# bench/raft_bench.sh: durable PUT throughput and latency of a 3-server
# lictor cluster next to a 3-member etcd cluster (Debian's etcd-server,
# its v3 JSON gateway), in the same run, at 1, 16 and 64 concurrent
# clients, then failover: SIGKILL of each cluster's leader and the time
# to the first acknowledged write; and, before and after the runs, the
# floors under one client's latency on this machine: the disk's
# (bench/fsync_floor.c: three appenders syncing together on the same
# disk) and the processes' (bench/hop_floor.c: lictor's nine processes,
# and a one-process-per-server shape such as etcd's, passing one
# client's writes with nothing but their messages and log syncs). A
# benchmark, not a test: it prints figures and fails only if something
# could not run.
#
#   bash bench/raft_bench.sh [-d SECONDS] [-c "1 16 64"] [-r ROUNDS] [-w SECONDS]
#
# -w (default 3) first writes through both clusters with 64 clients,
# unrecorded, for at least that long and until every lictor server's
# raftd reuses its log files (at most 30 s), etcd for as long, then lets
# them settle for 5 s, so that each is measured as a server that has
# been running: lictor's Raft log reuses a file only from its third
# 8 MiB log on (docs/architecture.md, "The log's disk writes"), and a
# fresh cluster's first minutes would measure the appending files it
# starts with, whose every sync also writes the inode. -w 0 skips it.
#
# -r runs every client count ROUNDS times, lictor and etcd alternating
# which goes first, and reports the medians with the spread of the
# per-round ratios (this shared machine drifts by 10-20% within minutes;
# one round's ratio can be off by that much).
#
# -P NS sets the guest's idle polling (the cpuidle-haltpoll driver's
# guest_halt_poll_ns: how long an idle vCPU polls for work before it
# halts) to NS for the run, and puts the old value back at exit. This
# machine's kernel command line sets it to 0 (no polling), so every
# wake-up onto an idle vCPU pays a halt exit; the driver's own default
# is 200000. Every run prints the setting it ran with. Needs root.
#
# Environment: LICTOR_BUILD_DIR (default <repo>/build), NKEYS (10000),
# VSIZE (256), DURATION (10); PERF_OUT=prefix records a whole-machine
# `perf record -g` profile during each lictor run (prefix-CONNS.data).
# Everything listens on loopback with random ports and keeps its data in
# one temporary directory; every process is stopped by pid at exit and
# the directory removed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${LICTOR_BUILD_DIR:-$root/build}
LICTOR=$BUILD/init/lictor
PY=/usr/bin/python3
LIB=$here/kv_bench_lib.py
RLIB=$here/raft_bench_lib.py
# shellcheck source=lictor_servers.sh
. "$here/lictor_servers.sh"
DURATION=${DURATION:-10}
NKEYS=${NKEYS:-10000}
VSIZE=${VSIZE:-256}
CONNS_LIST="1 16 64"
ROUNDS=1
WARM=3
POLL=
HALTPOLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns

while getopts "d:c:r:w:P:h" o; do
	case $o in
	d) DURATION=${OPTARG%s} ;;
	c) CONNS_LIST=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	w) WARM=${OPTARG%s} ;;
	P) POLL=$OPTARG ;;
	*) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 2 ;;
	esac
done
case $DURATION in ''|*[!0-9]*) echo "duration must be whole seconds" >&2; exit 2 ;; esac
case $WARM in ''|*[!0-9]*) echo "warm-up must be whole seconds" >&2; exit 2 ;; esac
case $ROUNDS in ''|*[!0-9]*|0) echo "rounds must be a whole number from 1" >&2; exit 2 ;; esac
if [ -n "$POLL" ]; then
	case $POLL in *[!0-9]*) echo "-P takes nanoseconds, a whole number" >&2; exit 2 ;; esac
	[ -w "$HALTPOLL" ] || { echo "-P: cannot write $HALTPOLL (no haltpoll driver, or not root)" >&2; exit 2; }
fi

[ -x "$LICTOR" ] || { echo "no lictor binary at $LICTOR: build first" >&2; exit 1; }
for t in wrk etcd; do
	if ! command -v $t >/dev/null && [ "$(id -u)" = 0 ]; then
		apt-get install -y wrk etcd-server >/dev/null
	fi
	command -v $t >/dev/null || { echo "$t is missing (bash scripts/install-deps.sh --bench)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/lictor-raft-bench.XXXXXX)
lpids=() epids=()
poll_was=

stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${lpids[@]}" "${epids[@]}"; do stop_pid "$p"; done
	[ -z "$poll_was" ] || echo "$poll_was" >"$HALTPOLL" || true
	if [ $rc -ne 0 ]; then
		for f in "$tmp"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f (tail) ----" >&2
			tail -n 20 "$f" >&2 || true
		done
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 3 lictor servers x 5 ports, 3 etcd members x 2 ports
read -r -a P <<<"$($PY "$LIB" ports 21)"
eaddrs=()
start_lictor_servers "$LICTOR" "$tmp" lictor "${P[@]:0:15}"
lpids+=("${LS_PIDS[@]}")
laddrs=("${LS_ADDRS[@]}")
cluster=""
for i in 0 1 2; do
	cluster+="${cluster:+,}e$i=http://127.0.0.1:${P[15 + i * 2 + 1]}"
done
for i in 0 1 2; do
	c=127.0.0.1:${P[15 + i * 2]} p=127.0.0.1:${P[15 + i * 2 + 1]}
	etcd --name "e$i" --data-dir "$tmp/e$i" \
		--listen-client-urls "http://$c" --advertise-client-urls "http://$c" \
		--listen-peer-urls "http://$p" --initial-advertise-peer-urls "http://$p" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token bench --logger zap --log-level warn \
		>"$tmp/etcd$i.log" 2>&1 &
	epids+=($!)
	eaddrs+=("$c")
done

if [ -n "$POLL" ]; then
	poll_was=$(cat "$HALTPOLL")
	echo "$POLL" >"$HALTPOLL"
fi
echo "machine: $(nproc) CPUs, $(uname -sr), idle vCPUs poll for $(cat "$HALTPOLL" 2>/dev/null || echo "?") ns before halting${POLL:+ (set by -P for this run; was $poll_was)}"
echo "lictor:  $("$LICTOR" version | head -1)"
echo "etcd:    $(etcd --version 2>/dev/null | head -1)"
for i in 0 1 2; do
	$PY "$LIB" wait lictor "${laddrs[i]}" --timeout 60 --pid "${lpids[i]}"
	$PY "$LIB" wait etcd "${eaddrs[i]}" --timeout 60 --pid "${epids[i]}"
done
ll=$($PY "$RLIB" leader lictor "${laddrs[@]}")
el=$($PY "$RLIB" leader etcd "${eaddrs[@]}")
echo "leaders: lictor ${laddrs[ll]}, etcd ${eaddrs[el]}"
$PY "$LIB" preload lictor "${laddrs[ll]}" --keys "$NKEYS" --size "$VSIZE"
$PY "$LIB" preload etcd "${eaddrs[el]}" --keys "$NKEYS" --size "$VSIZE"
if [ "$WARM" -gt 0 ]; then
	# lictor first, in 1 s slices, until every server's raftd has reused
	# a log file (RocksDB prints "reusing log" in raft/LOG) and at least
	# WARM s have passed, at most 30 s; then etcd for as long.
	warm_put() { # target addr seconds
		BENCH_TARGET=$1 BENCH_OP=PUT BENCH_KEYS=$NKEYS BENCH_VSIZE=$VSIZE \
			timeout $(($3 + 60)) wrk -t2 -c64 -d"${3}s" --timeout 5s \
			-s "$here/wrk_kv.lua" "http://$2" >"$tmp/warm-$1.out" 2>&1 || {
			echo "wrk failed for $1:" >&2; cat "$tmp/warm-$1.out" >&2; exit 1; }
	}
	reused() {
		local i
		for i in 0 1 2; do
			grep -q "reusing log" "$tmp/l$i/raft/LOG" 2>/dev/null || return 1
		done
	}
	ws=0
	while [ $ws -lt 30 ] && { [ $ws -lt "$WARM" ] || ! reused; }; do
		warm_put lictor "${laddrs[ll]}" 1
		ws=$((ws + 1))
	done
	reused_ok=0
	if reused; then note="every raftd reusing its log files"; reused_ok=1
	else note="raftd's log files NOT yet reused: figures are of appending logs"; fi
	echo "warm-up: PUT x 64 against lictor for $ws s ($note), then etcd for $ws s (not recorded)"
	warm_put etcd "${eaddrs[el]}" "$ws"
	sleep 5
fi

# What the disk alone costs a commit here, and what one client's write
# costs with no work but the messages and syncs, before and after the
# runs (the machine is shared and drifts): bench/fsync_floor.c and
# bench/hop_floor.c.
FLOOR=$BUILD/bench/fsync_floor
HOPS=$BUILD/bench/hop_floor
floor() {
	[ -x "$FLOOR" ] || { echo "(no $FLOOR: build first for the disk floor)"; return 0; }
	"$FLOOR" "$tmp" 2000 "$((VSIZE + 50))" | sed "s/^disk floor:/disk floor ($1):/"
	[ -x "$HOPS" ] || { echo "(no $HOPS: build first for the hop floor)"; return 0; }
	for shape in cluster merged; do
		"$HOPS" "$tmp" 2000 "$shape" | sed "s/^hop floor (/hop floor ($1, /"
	done
}
floor "before the runs" >"$tmp/floor"

results=$tmp/results
echo "INFO nkeys=$NKEYS vsize=$VSIZE duration=$DURATION rounds=$ROUNDS warm=${ws:-0} reused=${reused_ok:-0} poll=$(cat "$HALTPOLL" 2>/dev/null || echo "?") conns_list=$(echo $CONNS_LIST | tr ' ' ,)" >"$results"
for c in $CONNS_LIST; do
	t=2; [ "$c" -lt 2 ] && t=1
	for r in $(seq 1 "$ROUNDS"); do
		# Odd rounds lictor first, even rounds etcd first.
		order="lictor etcd"; [ $((r % 2)) = 0 ] && order="etcd lictor"
		for target in $order; do
			if [ $target = lictor ]; then addr=${laddrs[ll]}; else addr=${eaddrs[el]}; fi
			out=$tmp/wrk-$target-$c-$r.out
			echo "wrk: PUT x $c against $target (round $r of $ROUNDS) ..."
			perf_pid=
			if [ -n "${PERF_OUT:-}" ] && [ $target = lictor ] && [ "$r" = 1 ]; then
				# A CPU profile of the whole machine during this run.
				perf record -a -g -F 499 -o "$PERF_OUT-$c.data" -- \
					sleep "$DURATION" >/dev/null 2>&1 &
				perf_pid=$!
			fi
			BENCH_TARGET=$target BENCH_OP=PUT BENCH_KEYS=$NKEYS BENCH_VSIZE=$VSIZE \
				timeout $((DURATION + 60)) wrk -t$t -c"$c" -d"${DURATION}s" \
				--timeout 5s -s "$here/wrk_kv.lua" "http://$addr" >"$out" 2>&1 || {
				echo "wrk failed for $target:" >&2; cat "$out" >&2; exit 1; }
			[ -z "$perf_pid" ] || wait "$perf_pid" || true
			grep '^RESULT ' "$out" | sed "s/^RESULT /RESULT conns=$c round=$r /" >>"$results"
		done
	done
done

floor "after the runs" >>"$tmp/floor"

# the lictor leader agent: init and its daemons
lk=(${lpids[ll]} $(pgrep -P "${lpids[ll]}" || true))
echo "failover: SIGKILL of the lictor leader (pids ${lk[*]}) ..."
fl=$($PY "$RLIB" failover lictor --addrs "${laddrs[@]}" --pids "${lk[@]}" --leader "$ll")
echo "failover: SIGKILL of the etcd leader (pid ${epids[el]}) ..."
fe=$($PY "$RLIB" failover etcd --addrs "${eaddrs[@]}" --pids "${epids[el]}" --leader "$el")
echo "INFO failover_lictor=$fl failover_etcd=$fe" >>"$results"
$PY "$RLIB" report "$results"
cat "$tmp/floor"
