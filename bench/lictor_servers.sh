# bench/lictor_servers.sh: sourced by the bench scripts (raft_bench.sh,
# raft_ab.sh), not run.
#
#   start_lictor_servers LICTOR DIR NAME PORT0 ... PORT14
#
# Starts three lictor servers in the background that form one cluster
# (-bootstrap-expect 3, joining through server 0's serf_lan port), each
# with five of the ports (http, dns, server, serf_lan, serf_wan), its data
# in DIR/l<i> and its output in DIR/<NAME><i>.log. Sets LS_PIDS (their
# pids) and LS_ADDRS (their HTTP addresses); waiting for them and
# stopping them is the caller's.
start_lictor_servers() {
	local lictor=$1 dir=$2 name=$3 i b
	shift 3
	local p=("$@")
	[ ${#p[@]} -ge 15 ] || { echo "start_lictor_servers: 15 ports needed" >&2; return 2; }
	LS_PIDS=() LS_ADDRS=()
	for i in 0 1 2; do
		b=$((i * 5))
		"$lictor" agent -server -bootstrap-expect 3 \
			-retry-join "127.0.0.1:${p[3]}" -data-dir "$dir/l$i" \
			-node "$name$i" -bind 127.0.0.1 -client 127.0.0.1 \
			-http-port "${p[b]}" -dns-port "${p[b + 1]}" \
			-server-port "${p[b + 2]}" -serf-lan-port "${p[b + 3]}" \
			-serf-wan-port "${p[b + 4]}" -log-level warn \
			>"$dir/$name$i.log" 2>&1 &
		LS_PIDS+=($!)
		LS_ADDRS+=("127.0.0.1:${p[b]}")
	done
}
