/* raftd: Raft among the servers. main() parses arguments, loads the
 * agent's effective config, opens the Raft store, starts the core from
 * it, opens the server port and raft.sock, signals readiness and runs the
 * loop. */
#include "raftd.h"
#include "daemon.h"
#include "gotime.h"
#include "log.h"
#include "rundir.h"
#include "util.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
raftd_stats(void *arg, struct sbuf *out)
{
	struct raftd *d = arg;
	const struct raft_stats *rs = raft_stats(d->r);
	struct raft_status st;
	struct transport_stats ts;

	raft_status(d->r, &st);
	transport_stats(d->tr, &ts);
	sbuf_printf(out, "raft.state %s\nraft.term %" PRIu64 "\n"
	    "raft.leader %016" PRIx64 "\nraft.commit %" PRIu64 "\n"
	    "raft.last_index %" PRIu64 "\nraft.applied %" PRIu64 "\n"
	    "raft.kvd_applied %" PRIu64 "\nraft.snapshot_index %" PRIu64 "\n"
	    "raft.elections %" PRIu64 "\nraft.leader_terms %" PRIu64 "\n"
	    "raft.msgs_in %" PRIu64 "\nraft.msgs_bad %" PRIu64 "\n"
	    "raft.msgs_stale %" PRIu64 "\nraft.msgs_out %" PRIu64 "\n"
	    "raft.logs_lost %" PRIu64 "\n"
	    "raft.snapshots_sent %" PRIu64 "\nraft.snapshots_installed %"
	    PRIu64 "\nraft.snapshots_taken %" PRIu64 "\n"
	    "raftd.proposals %" PRIu64 "\nraftd.proposals_forwarded %" PRIu64
	    "\nraftd.proposals_failed %" PRIu64 "\nraftd.reads %" PRIu64
	    "\nraftd.reads_forwarded %" PRIu64 "\nraftd.lease_reads %" PRIu64
	    "\nraftd.fetches %" PRIu64 "\nraftd.entries_served %" PRIu64
	    "\nraftd.persist_batches %" PRIu64 "\nraftd.persist_max_batch %"
	    PRIu64 "\nraftd.persist_inline %" PRIu64 "\nraftd.hellos %" PRIu64 "\nwire.in %" PRIu64
	    "\nwire.bad %" PRIu64 "\nwire.out %" PRIu64 "\n"
	    "transport.sent %" PRIu64 "\ntransport.dropped %" PRIu64 "\n"
	    "transport.received %" PRIu64 "\ntransport.peers %" PRIu64 "\n"
	    "cluster.known %zu\nraftd.snapshot_chunks_sent %" PRIu64
	    "\nraftd.snapshot_chunks_received %" PRIu64
	    "\nraftd.apply_held %" PRIu64 "\nraftd.apply_wanted %" PRIu64
	    "\nraftd.snapshots_refused %" PRIu64 "\n",
	    raft_state_name(st.state), st.term, st.leader, st.commit,
	    st.last_index, st.applied, d->kvd_applied, st.snapshot_index,
	    rs->elections, rs->leader_terms, rs->msgs_in, rs->msgs_bad,
	    rs->msgs_stale, rs->msgs_out, rs->logs_lost, rs->snapshots_sent,
	    rs->snapshots_installed, rs->snapshots_taken, d->st.proposals,
	    d->st.proposals_forwarded, d->st.proposals_failed, d->st.reads,
	    d->st.reads_forwarded, d->st.lease_reads, d->st.fetches,
	    d->st.entries_served, d->st.persist_batches,
	    d->st.persist_max_batch, d->st.persist_inline, d->st.hellos, d->st.wire_in,
	    d->st.wire_bad, d->st.wire_out, ts.sent, ts.dropped, ts.received,
	    ts.peers, d->nknown, d->st.snap_chunks_sent,
	    d->st.snap_chunks_received, d->st.apply_held,
	    d->st.apply_wanted, d->st.snaps_refused);
	kvfwd_stats(d, out);
}

#ifdef LICTOR_TEST_HOOKS
static int
raftd_fault(void *arg, const char *spec, struct sbuf *out)
{
	struct raftd *d = arg;

	if (strcmp(spec, "mute-kvd") == 0)
		d->fault_mute_kvd = true;
	else if (strcmp(spec, "damage-snapshots") == 0)
		d->fault_damage_snaps = true;
	else if (strcmp(spec, "clear") == 0)
		d->fault_mute_kvd = d->fault_damage_snaps = false;
	else {
		sbuf_printf(out, "unknown fault \"%s\" (want mute-kvd, "
		    "damage-snapshots or clear)", spec);
		return -LE_INVAL;
	}
	log_warnx("test fault: %s", spec);
	sbuf_printf(out, "%s\n", spec);
	return 0;
}
#endif

static const struct admin_ops raftd_admin_ops = {
	.stats = raftd_stats,
#ifdef LICTOR_TEST_HOOKS
	.fault = raftd_fault,
#endif
};

static void
on_signal(void *arg, int signo)
{
	struct raftd *d = arg;

	log_info("caught signal %d, stopping", signo);
	daemon_stopping();
	loop_stop(d->loop);
}

static void
tick(void *arg)
{
	struct raftd *d = arg;

	node_tick(d);
}

int
main(int argc, char **argv)
{
	static struct raftd d;
	struct daemon_args args;
	int rv;
	char path[4200], url[300];
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct lerr e = { "" };
	const char *host;

	if ((rv = daemon_start("raftd", argc, argv, &d.cfg, &args)) != 0)
		return rv;
	if (d.cfg.node_id == NULL || *d.cfg.node_id == '\0') {
		log_error("no node id in %s", args.cfgpath);
		return EXIT_PERMANENT;
	}
	d.rundir = args.rundir;
	d.boot = boot_id_new();
	d.started_ms = mono_ms();
	d.id = node_id_of(d.cfg.node_id);
	host = d.cfg.advertise_addr && *d.cfg.advertise_addr ?
	    d.cfg.advertise_addr : d.cfg.bind_addr;
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
		log_warnx("bind address %s: advertising 127.0.0.1 to other "
		    "servers; set -advertise for a cluster", host);
		host = "127.0.0.1";
	}
	snprintf(d.addr, sizeof(d.addr), strchr(host, ':') ? "[%s]:%lld" :
	    "%s:%lld", host, (long long)d.cfg.port_server);
	if (loop_new(&d.loop) != 0)
		fatal("loop");
	if (loop_signals(d.loop, sigs, 3, on_signal, &d) != 0)
		fatal("signals");
	snprintf(path, sizeof(path), "%s/raft", d.cfg.data_dir);
	if (mkdir_p(path, 0700) != 0)
		fatal("mkdir %s", path);
	/* The log's small synced writes overwrite reused files in place
	 * (docs/architecture.md, "The log's disk writes"). */
	if (store_open_rocks_opts(path, &(struct store_rocks_opts){
	    .reuse_log = true }, &d.store, &e) != 0)
		fatalx("%s", e.msg);
	if (node_start(&d, &e) != 0)
		fatalx("%s", e.msg);
	if (persist_start(&d.persist, d.loop, d.store, !d.cfg.dev,
	    node_persisted, &d) != 0)
		fatalx("persistence thread");
	loop_set_idle(d.loop, node_flush, &d);
	if (transport_open(&d.tr, d.loop, d.cfg.bind_addr, d.cfg.port_server,
	    node_on_wire, &d, &e) != 0) {
		log_error("%s", e.msg);
		return EXIT_TEMPORARY;
	}
	rundir_url(args.rundir, "kvd", url, sizeof(url));
	if (ipc_client_open_loop(&d.kvd, url, d.boot, d.loop, &e) != 0)
		fatalx("%s", e.msg);
	rundir_url(args.rundir, "raft", url, sizeof(url));
	if (ipc_server_open(&d.srv, url, d.loop, IPC_SIBLING, serve_handle,
	    &d, d.boot, &e) != 0)
		fatalx("%s", e.msg);
	if (admin_open(&d.admin, args.rundir, "raftd", d.loop, &raftd_admin_ops,
	    &d, d.boot, &e) != 0)
		fatalx("%s", e.msg);
	/* The first snapshot waits an interval after start too. */
	snapshot_schedule(&d);
	kvfwd_start(&d);
	if (discover_start(&d, args.rundir, &e) != 0)
		fatalx("%s", e.msg);
	cluster_start(&d);
	d.tick = loop_timer_new(d.loop, tick, &d);
	loop_timer_arm(d.tick, RAFTD_TICK_MS);
	log_info("ready: %s %s (%016" PRIx64 ") at %s", raftd_client(&d) ?
	    "client" : "server", d.cfg.node_name, d.id, d.addr);
	notify_ready();
	loop_run(d.loop);

	node_stop(&d);
	discover_stop(&d);
	serve_fail_all(&d, -LE_UNAVAIL, "raftd is stopping");
	kvfwd_fail_all(&d, -LE_UNAVAIL, "raftd is stopping");
	ipc_client_close(d.kvd);
	admin_close(d.admin);
	ipc_server_close(d.srv);
	transport_close(d.tr);
	persist_stop(d.persist);	/* the last batches reach the disk */
	snapshot_wait(&d);
	loop_drain(d.loop);
	loop_timer_free(d.tick);
	discover_free(&d);	/* its timer is the loop's */
	raft_free(d.r);
	store_close(d.store);
	loop_free(d.loop);
	free(d.known);
	kvfwd_free(&d);
	config_free(&d.cfg);
	daemon_args_free(&args);
	return 0;
}
