#!/usr/bin/env bash
# bench/kv_bench.sh: KV throughput and latency of lictor next to etcd
# (Debian's etcd-server) on this machine, in the same run, and the memory
# of the agent while 10k blocking queries are parked. A benchmark, not a
# test: it prints figures and fails only if something could not run.
#
#   bash bench/kv_bench.sh [-d SECONDS] [-t THREADS] [-c CONNS]
#
# Environment: LICTOR_BUILD_DIR (default <repo>/build), NKEYS (10000),
# VSIZE (256), WATCHERS (10000), DURATION (10), THREADS (2), CONNS (64).
#
# Both servers are single members with durable writes: lictor as
# `agent -server -bootstrap -data-dir D`, etcd with its default fsync.
# Both listen on random loopback ports with their data in one temporary
# directory; both are stopped by pid and the directory removed at exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${LICTOR_BUILD_DIR:-$root/build}
LICTOR=$BUILD/init/lictor
PY=/usr/bin/python3
LIB=$here/kv_bench_lib.py
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
NKEYS=${NKEYS:-10000}
VSIZE=${VSIZE:-256}
WATCHERS=${WATCHERS:-10000}

while getopts "d:t:c:h" o; do
	case $o in
	d) DURATION=${OPTARG%s} ;;
	t) THREADS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	*) sed -n '2,16p' "$0"; exit 2 ;;
	esac
done
case $DURATION in ''|*[!0-9]*) echo "duration must be whole seconds" >&2; exit 2 ;; esac

if [ ! -x "$LICTOR" ]; then
	echo "no lictor binary at $LICTOR: build first (meson setup build && ninja -C build)" >&2
	exit 1
fi
if ! command -v wrk >/dev/null; then
	[ "$(id -u)" = 0 ] && apt-get install -y wrk >/dev/null
fi
if ! command -v etcd >/dev/null; then
	[ "$(id -u)" = 0 ] && apt-get install -y etcd-server >/dev/null
fi
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
command -v etcd >/dev/null || { echo "etcd is missing (apt-get install etcd-server)" >&2; exit 1; }

# 10k parked queries need 10k descriptors in the agent and in the client.
want_fds=$((WATCHERS + 1024))
if [ "$(ulimit -n)" -lt "$want_fds" ]; then
	ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi

tmp=$(mktemp -d /tmp/lictor-bench.XXXXXX)
agent_pid=
etcd_pid=

stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "pid $pid did not stop in 15 s; SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_pid "$agent_pid"
	stop_pid "$etcd_pid"
	if [ $rc -ne 0 ]; then
		echo "---- lictor agent log (tail) ----" >&2
		tail -n 40 "$tmp/agent.log" 2>/dev/null >&2 || true
		echo "---- etcd log (tail) ----" >&2
		tail -n 20 "$tmp/etcd.log" 2>/dev/null >&2 || true
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r p_http p_dns p_server p_lan p_wan e_client e_peer <<<"$($PY "$LIB" ports 7)"
laddr=127.0.0.1:$p_http
eaddr=127.0.0.1:$e_client

echo "machine: $(nproc) CPUs, $(uname -sr); open files limit $(ulimit -n); idle vCPUs poll $(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || echo "?") ns before halting"
echo "lictor:  $("$LICTOR" version | head -1) ($LICTOR)"
echo "etcd:    $(etcd --version 2>/dev/null | head -1)"
echo "wrk:     -t$THREADS -c$CONNS -d${DURATION}s; $NKEYS keys x $VSIZE bytes"
echo

# The parked queries all come from 127.0.0.1: lift Consul's default of
# 200 connections per client address, as an operator would.
printf '{"limits": {"http_max_conns_per_client": 0}}\n' >"$tmp/limits.json"
"$LICTOR" agent -server -bootstrap -data-dir "$tmp/lictor-data" -node bench \
	-config-file "$tmp/limits.json" \
	-client 127.0.0.1 -bind 127.0.0.1 -http-port "$p_http" \
	-dns-port "$p_dns" -server-port "$p_server" -serf-lan-port "$p_lan" \
	-serf-wan-port "$p_wan" -log-level warn >"$tmp/agent.log" 2>&1 &
agent_pid=$!

etcd --name bench --data-dir "$tmp/etcd-data" \
	--listen-client-urls "http://$eaddr" \
	--advertise-client-urls "http://$eaddr" \
	--listen-peer-urls "http://127.0.0.1:$e_peer" \
	--initial-advertise-peer-urls "http://127.0.0.1:$e_peer" \
	--initial-cluster "bench=http://127.0.0.1:$e_peer" \
	--initial-cluster-state new --logger zap --log-level warn \
	>"$tmp/etcd.log" 2>&1 &
etcd_pid=$!

$PY "$LIB" wait lictor "$laddr" --timeout 30 --pid "$agent_pid"
$PY "$LIB" wait etcd "$eaddr" --timeout 30 --pid "$etcd_pid"

$PY "$LIB" preload lictor "$laddr" --keys "$NKEYS" --size "$VSIZE"
$PY "$LIB" preload etcd "$eaddr" --keys "$NKEYS" --size "$VSIZE"

results=$tmp/results
echo "INFO nkeys=$NKEYS vsize=$VSIZE wrk=-t${THREADS}/-c${CONNS}/-d${DURATION}s" >"$results"

run_wrk() {
	local target=$1 op=$2 addr=$3 out=$tmp/wrk-$1-$2.out
	echo "wrk: $op against $target ..."
	BENCH_TARGET=$target BENCH_OP=$op BENCH_KEYS=$NKEYS BENCH_VSIZE=$VSIZE \
		timeout $((DURATION + 60)) wrk -t"$THREADS" -c"$CONNS" \
		-d"${DURATION}s" --timeout 5s -s "$here/wrk_kv.lua" \
		"http://$addr" >"$out" 2>&1 || {
		echo "wrk failed for $target $op:" >&2; cat "$out" >&2; return 1; }
	grep '^RESULT ' "$out" >>"$results" || {
		echo "no RESULT from wrk for $target $op:" >&2; cat "$out" >&2; return 1; }
}

run_wrk lictor PUT "$laddr"
run_wrk etcd PUT "$eaddr"
run_wrk lictor GET "$laddr"
run_wrk etcd GET "$eaddr"

# sanity: what wrk wrote reads back from lictor
st=$(curl -s -o /dev/null -w '%{http_code}' "http://$laddr/v1/kv/bench/key00001")
[ "$st" = 200 ] || { echo "lictor lost bench/key00001 after the run ($st)" >&2; exit 1; }

echo "INFO etcd_rss_kib=$(awk '/^VmRSS:/ {print $2}' /proc/$etcd_pid/status)" >>"$results"

echo "parking $WATCHERS blocking queries on lictor (?index=<current>&wait=5m) ..."
timeout 180 $PY "$LIB" park "$laddr" --pid "$agent_pid" --n "$WATCHERS" \
	--keys "$NKEYS" --timeout 90 | tee -a "$results" | grep -v '^PARK proc' || true

kill -0 "$agent_pid" 2>/dev/null || { echo "the lictor agent died during the run" >&2; exit 1; }
$PY "$LIB" report "$results"
