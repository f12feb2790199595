#!/usr/bin/env bash
# bench/gossip_bench.sh: failure detection and gossip traffic of lictor's
# gossipd next to memberlist (the real `serf agent` built from Debian's
# golang-github-hashicorp-serf-dev / -memberlist-dev), same LAN profile,
# same settings, on loopback, in the same run, for N = 3, 5 and 10 nodes;
# then the SWIM simulator's figures for 50 and 500 nodes (lictor only:
# there is no Go equivalent). A benchmark, not a test: it prints figures
# and fails only if something could not run.
#
#   bash bench/gossip_bench.sh [-q] [-n "3 5 10"] [-r REPS] [-w SECONDS]
#
#   -q  quick smoke run: N=3, one kill, a 10 s traffic window, no warm-up
#       (its traffic figures miss the push/pulls)
#   -n  cluster sizes; -r  kills per size (3); -w  traffic window (30 s)
#
# Environment: LICTOR_BUILD_DIR (default <repo>/build), SETTLE (5 s of
# quiet after every (re)join), PERIOD (0.1 s between polls), WARMUP (60 s
# from the start of a cluster to its traffic window: memberlist's first
# push/pull comes a random 0-30 s plus 30 s after start, so an earlier
# window would miss them; -q sets it to 0).
#
# Nodes: N lictor client agents (`lictor agent`, -log-level warn, own data
# dir, loopback ports, -retry-join to agent 0's serf_lan port with
# -retry-interval 1s) and N `serf agent`s joined the same way, tagged as
# Consul client agents are (role, dc, segment, id, vsn*, build) and named
# with as many characters (lnodeI, snodeI), so that their pings and
# push/pulls carry as much.
#
# Detection: SIGKILL of one node (lictor: init and all its daemons; serf:
# the agent), then every survivor is polled every PERIOD s until it reports
# the victim failed (lictor: GET /v1/agent/members Status 4; serf: `serf
# members -format json` status "failed"). One figure per kill: seconds from
# the kill until the last survivor reports it. The victim is restarted with
# the same name, port and data dir and rejoins before the next kill;
# victims rotate over agents 1..N-1.
#
# Traffic: both clusters run side by side and one tcpdump on lo, filtered
# on the LAN gossip ports of all nodes, records the window; the helper
# sums UDP payload plus TCP segment payload (no IP/UDP/TCP headers) of
# every packet from or to a cluster's gossip ports (on lo each packet is
# captured once), divided by the window and N: bytes sent per member per
# second. The same method for both sides; lictor's own counters
# (`lictor ctl gossipd stats`: lan.udp_bytes_out + lan.tcp_bytes_out) are
# printed beside as a check.
#
# Everything listens on 127.0.0.1 with free ports and keeps its data in one
# temporary directory; every process is stopped by pid at exit and the
# directory removed. Needs root for tcpdump and for apt-get install of
# what is missing (golang-go, golang-github-hashicorp-serf-dev,
# golang-github-hashicorp-memberlist-dev, tcpdump).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${LICTOR_BUILD_DIR:-$root/build}
LICTOR=$BUILD/init/lictor
SIM=$BUILD/tests/unit/unit_swim_sim
PY=/usr/bin/python3
LIB=$here/gossip_bench_lib.py
NS="3 5 10"
REPS=3
WINDOW=
SETTLE=${SETTLE:-5}
WARMUP=${WARMUP:-}
PERIOD=${PERIOD:-0.1}
QUICK=0

while getopts "qn:r:w:h" o; do
	case $o in
	q) QUICK=1 ;;
	n) NS=$OPTARG ;;
	r) REPS=$OPTARG ;;
	w) WINDOW=${OPTARG%s} ;;
	*) sed -n '2,16p' "$0"; exit 2 ;;
	esac
done
if [ $QUICK = 1 ]; then NS=3 REPS=1 WINDOW=${WINDOW:-10} WARMUP=${WARMUP:-0}; fi
WINDOW=${WINDOW:-30}
WARMUP=${WARMUP:-60}
for v in "$REPS" "$WINDOW" "$SETTLE" "$WARMUP"; do
	case $v in ''|*[!0-9]*) echo "-r, -w, SETTLE and WARMUP take whole numbers" >&2; exit 2 ;; esac
done
for n in $NS; do
	case $n in ''|*[!0-9]*|1|2) echo "cluster sizes are whole numbers >= 3" >&2; exit 2 ;; esac
done

if [ ! -x "$LICTOR" ] || [ ! -x "$SIM" ]; then
	[ -f "$BUILD/build.ninja" ] || { echo "no build at $BUILD: meson setup build" >&2; exit 1; }
	ninja -C "$BUILD" init/lictor tests/unit/unit_swim_sim gossipd/lictor-gossipd >/dev/null
fi

gosrc=/usr/share/gocode/src/github.com/hashicorp
missing=()
command -v go >/dev/null || missing+=(golang-go)
[ -d "$gosrc/serf/cmd/serf" ] || missing+=(golang-github-hashicorp-serf-dev)
[ -d "$gosrc/memberlist" ] || missing+=(golang-github-hashicorp-memberlist-dev)
command -v tcpdump >/dev/null || missing+=(tcpdump)
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "missing: apt-get install ${missing[*]}" >&2; exit 1; }
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y "${missing[@]}" >/dev/null; }
fi
[ "$(id -u)" = 0 ] || { echo "tcpdump on lo needs root" >&2; exit 1; }

tmp=$(mktemp -d /tmp/lictor-gossip-bench.XXXXXX)
lpid=() spid=() cap_pid=

stop_pid() {
	local pid=$1 i kids
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kids=$(pgrep -P "$pid" || true)
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for i in $kids; do kill -KILL "$i" 2>/dev/null || true; done
}

# TERM to all first so that the agents' leaves overlap, then reap each.
stop_all() {
	local p
	for p in "${lpid[@]}" "${spid[@]}"; do
		if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null || true; fi
	done
	for p in "${lpid[@]}" "${spid[@]}"; do stop_pid "$p"; done
	lpid=() spid=()
}

cleanup() {
	local rc=$? f
	trap - EXIT INT TERM
	stop_pid "$cap_pid"
	stop_all
	if [ $rc -ne 0 ]; then
		for f in "$tmp"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f (tail) ----" >&2
			tail -n 15 "$f" >&2 || true
		done
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The reference peer: the in-repo copy if there is one, else the shared
# one, built into the temporary directory.
if [ -x "$root/tools/serf-peer/bin/serf" ]; then
	SERF=$root/tools/serf-peer/bin/serf
else
	src=$root/tools/serf-peer
	[ -f "$src/build.sh" ] || src=/work/shared/tools/serf-peer
	[ -f "$src/build.sh" ] || { echo "no tools/serf-peer to build serf from" >&2; exit 1; }
	cp -r "$src" "$tmp/serf-peer"
	chmod -R u+w "$tmp/serf-peer"
	rm -rf "$tmp/serf-peer/bin"
	echo "building serf from $src ..."
	(cd "$tmp/serf-peer" && timeout 600 sh build.sh) >"$tmp/serf-build.log" 2>&1 ||
		{ cat "$tmp/serf-build.log" >&2; exit 1; }
	SERF=$tmp/serf-peer/bin/serf
fi

results=$tmp/results
echo "INFO reps=$REPS window=$WINDOW period=$PERIOD settle=$SETTLE warmup=$WARMUP" >"$results"
echo "machine:    $(nproc) CPUs, $(uname -sr)"
echo "lictor:     $("$LICTOR" version | head -1) ($LICTOR)"
echo "serf:       $("$SERF" version | head -1) ($SERF), Debian's serf $(dpkg-query -W -f='${Version}' golang-github-hashicorp-serf-dev), memberlist $(dpkg-query -W -f='${Version}' golang-github-hashicorp-memberlist-dev)"
echo "settings:   N in {$NS}, $REPS kill(s) per N, ${WINDOW} s traffic window after ${WARMUP} s, polls every ${PERIOD} s"

# Per size: lictor agent i has ports LP[i*5 .. i*5+4] (http, dns, serf_lan,
# server, serf_wan); serf agent i has SP[i*2] (gossip) and SP[i*2+1] (rpc).
LP=() SP=()
start_lictor() {
	local i=$1 b=$(($1 * 5)) j=()
	[ "$i" -gt 0 ] && j=(-retry-join "127.0.0.1:${LP[2]}" -retry-interval 1s)
	"$LICTOR" agent -node "lnode$i" -data-dir "$tmp/n$N/l$i" \
		-bind 127.0.0.1 -client 127.0.0.1 "${j[@]}" \
		-http-port "${LP[b]}" -dns-port "${LP[b + 1]}" \
		-serf-lan-port "${LP[b + 2]}" -server-port "${LP[b + 3]}" \
		-serf-wan-port "${LP[b + 4]}" -log-level warn \
		>>"$tmp/lictor-$N-$i.log" 2>&1 &
	lpid[i]=$!
}
SIDS=()
start_serf() {
	local i=$1 b=$(($1 * 2)) j=()
	[ "$i" -gt 0 ] && j=(-retry-join "127.0.0.1:${SP[0]}" -retry-interval 1s)
	"$SERF" agent -node "snode$i" -bind "127.0.0.1:${SP[b]}" \
		-rpc-addr "127.0.0.1:${SP[b + 1]}" "${j[@]}" -log-level warn \
		-tag role=node -tag dc=dc1 -tag segment= -tag "id=${SIDS[i]}" \
		-tag vsn=2 -tag vsn_min=2 -tag vsn_max=3 \
		-tag build=1.15.0-lictor:lictor \
		>>"$tmp/serf-$N-$i.log" 2>&1 &
	spid[i]=$!
}
laddr() { echo "127.0.0.1:${LP[$1 * 5]}"; }
saddr() { echo "127.0.0.1:${SP[$1 * 2 + 1]}"; }
addrs() {	# kind, index to leave out (-1: none)
	local k=$1 skip=$2 i
	for ((i = 0; i < N; i++)); do
		[ "$i" = "$skip" ] && continue
		if [ "$k" = lictor ]; then laddr "$i"; else saddr "$i"; fi
	done
}
converge() {	# kind
	local t
	# shellcheck disable=SC2046
	t=$($PY "$LIB" converge "$1" --n "$N" --serf "$SERF" \
		--timeout $((60 + N * 6)) --addrs $(addrs "$1" -1))
	echo "  $1: all $N agents list $N alive members (${t} s)"
}

kill_rounds() {	# kind
	local k=$1 r v p line
	for ((r = 1; r <= REPS; r++)); do
		v=$((1 + (r - 1) % (N - 1)))
		if [ "$k" = lictor ]; then p=${lpid[v]}; else p=${spid[v]}; fi
		# shellcheck disable=SC2046
		line=$($PY "$LIB" detect "$k" --victim "${k:0:1}node$v" --pid "$p" \
			--serf "$SERF" --timeout 90 --period "$PERIOD" \
			--label "n=$N round=$r" --addrs $(addrs "$k" "$v"))
		wait "$p" 2>/dev/null || true
		echo "$line" >>"$results"
		echo "  $k kill $r/$REPS: ${line#DETECT }"
		[ "$r" -lt "$REPS" ] || break
		if [ "$k" = lictor ]; then start_lictor "$v"; else start_serf "$v"; fi
		converge "$k"
		sleep "$SETTLE"
	done
}

for N in $NS; do
	echo
	echo "== N=$N =="
	mkdir -p "$tmp/n$N"
	read -r -a LP <<<"$($PY "$LIB" ports $((N * 5)))"
	read -r -a SP <<<"$($PY "$LIB" ports $((N * 2)))"
	SIDS=()
	started=$SECONDS
	for ((i = 0; i < N; i++)); do
		SIDS[i]=$(cat /proc/sys/kernel/random/uuid)
		start_lictor "$i"
		start_serf "$i"
	done
	converge lictor
	converge serf
	sleep "$SETTLE"
	if [ $((SECONDS - started)) -lt "$WARMUP" ]; then
		echo "  warm-up: $((WARMUP - (SECONDS - started))) s more, so that every node has done a push/pull"
		sleep $((WARMUP - (SECONDS - started)))
	fi

	# steady-state traffic, both clusters in the same window
	lports="" sports="" filt=""
	for ((i = 0; i < N; i++)); do
		lports+="${lports:+,}${LP[i * 5 + 2]}"
		sports+="${sports:+,}${SP[i * 2]}"
		filt+="${filt:+ or }port ${LP[i * 5 + 2]} or port ${SP[i * 2]}"
	done
	cap=$tmp/n$N/gossip.pcap
	tcpdump -i lo -nn -s 96 -U -w "$cap" "(udp or tcp) and ($filt)" \
		2>"$tmp/tcpdump-$N.log" &
	cap_pid=$!
	for i in $(seq 1 100); do
		grep -qs "listening on" "$tmp/tcpdump-$N.log" && break
		kill -0 "$cap_pid" 2>/dev/null || { echo "tcpdump failed" >&2; exit 1; }
		sleep 0.1
	done
	dirs=()
	for ((i = 0; i < N; i++)); do dirs+=("$tmp/n$N/l$i"); done
	c0=$($PY "$LIB" ctlbytes --lictor "$LICTOR" "${dirs[@]}")
	t0=$(date +%s.%N)
	echo "  traffic: capturing ${WINDOW} s ..."
	sleep "$WINDOW"
	t1=$(date +%s.%N)
	c1=$($PY "$LIB" ctlbytes --lictor "$LICTOR" "${dirs[@]}")
	stop_pid "$cap_pid"
	cap_pid=
	$PY "$LIB" pcap "$cap" --from "$t0" --to "$t1" \
		--group "lictor:$N:$lports" --group "serf:$N:$sports" | tee -a "$results" |
		sed 's/^BYTES /  /'
	$PY - "$c0" "$c1" "$t0" "$t1" "$N" >>"$results" <<-'EOF'
	import sys
	c0, c1, t0, t1, n = map(float, sys.argv[1:])
	print("SELF n=%d per_member=%.1f" % (n, (c1 - c0) / (t1 - t0) / n))
	EOF

	kill_rounds lictor
	kill_rounds serf
	stop_all
done

echo
echo "== simulator: SWIM_SIM_BENCH=1 $SIM =="
SWIM_SIM_BENCH=1 timeout 900 "$SIM" >"$tmp/sim.out" 2>&1 ||
	{ cat "$tmp/sim.out" >&2; echo "the simulator bench failed" >&2; exit 1; }
$PY "$LIB" report "$results" --sim "$tmp/sim.out"
