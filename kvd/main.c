/* kvd: the KV/catalog state machine daemon. main() parses arguments,
 * loads the agent's effective config, opens the store and its channels,
 * signals readiness and runs the loop. */
#include "kvd.h"
#include "daemon.h"
#include "log.h"
#include "rundir.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
kvd_stats(void *arg, struct sbuf *out)
{
	struct kvd *k = arg;

	sbuf_printf(out, "kv.applied_index %llu\nkv.index %llu\n"
	    "kv.reads %llu\nkv.writes %llu\nkv.write_errors %llu\n"
	    "kv.batches %llu\nkv.batch_max %llu\n"
	    "kv.blocking.parked %zu\nkv.blocking.sets %zu\n"
	    "kv.blocking.total %llu\nkv.blocking.wakeups %llu\n"
	    "kv.blocking.timeouts %llu\nkv.blocking.canceled %llu\n"
	    "kv.tombstones %zu\n"
	    "kv.tombstone_reaps %llu\nipc.bad %llu\nipc.inflight %llu\n"
	    "raft.proposals %llu\nraft.propose_errors %llu\n"
	    "raft.writes_held %llu\nraft.writes_expired %llu\n"
	    "raft.reads_held %llu\nraft.reads_expired %llu\n"
	    "raft.fetches %llu\nraft.entries_applied %llu\n"
	    "raft.bad_entries %llu\nraft.read_index_calls %llu\n"
	    "raft.lease_reads %llu\nraft.pending_writes %zu\n"
	    "raft.read_waits %zu\nraft.known_leader %d\n"
	    "snapshots.saved %llu\nsnapshots.restored %llu\n",
	    (unsigned long long)kv_state_applied(k->kv),
	    (unsigned long long)kv_state_kv_index(k->kv),
	    (unsigned long long)k->st.reads, (unsigned long long)k->st.writes,
	    (unsigned long long)k->st.write_errors,
	    (unsigned long long)k->st.batches,
	    (unsigned long long)k->st.batch_max, kv_watch_parked(k->watch),
	    kv_watch_sets(k->watch), (unsigned long long)k->st.blocked_total,
	    (unsigned long long)k->st.wakeups,
	    (unsigned long long)k->st.timeouts,
	    (unsigned long long)k->st.canceled, kv_tombstone_count(k->kv),
	    (unsigned long long)k->st.reaps,
	    (unsigned long long)ipc_server_bad(k->srv),
	    (unsigned long long)ipc_server_inflight(k->srv),
	    (unsigned long long)k->st.proposals,
	    (unsigned long long)k->st.propose_errors,
	    (unsigned long long)k->st.writes_held,
	    (unsigned long long)k->st.writes_expired,
	    (unsigned long long)k->st.reads_held,
	    (unsigned long long)k->st.reads_expired,
	    (unsigned long long)k->st.fetches,
	    (unsigned long long)k->st.entries_applied,
	    (unsigned long long)k->st.bad_entries,
	    (unsigned long long)k->st.read_index_calls,
	    (unsigned long long)k->st.lease_reads, k->npending, k->nreadwait,
	    k->known_leader, (unsigned long long)k->st.snapshots_saved,
	    (unsigned long long)k->st.snapshots_restored);
	sbuf_printf(out, "catalog.nodes_index %llu\ncatalog.checks_index %llu\n"
	    "catalog.reads %llu\ncatalog.writes %llu\ncatalog.refused %llu\n"
	    "catalog.blocking.parked %zu\n",
	    (unsigned long long)cat_table_index(k->cat, CAT_TABLE_NODES),
	    (unsigned long long)cat_table_index(k->cat, CAT_TABLE_CHECKS),
	    (unsigned long long)k->st.cat_reads,
	    (unsigned long long)k->st.cat_writes,
	    (unsigned long long)k->st.cat_refused,
	    cat_watch_parked(k->cwatch));
	cat_rc_stats(k->rc, out);
}

/* KV then catalog: with an empty catalog, the KV digest as before. */
static uint64_t
kvd_digest(void *arg)
{
	struct kvd *k = arg;

	return cat_state_digest(k->cat, kv_state_digest(k->kv));
}

static const struct admin_ops kvd_admin_ops = {
	.stats = kvd_stats,
	.digest = kvd_digest,
};

static void
on_signal(void *arg, int signo)
{
	struct kvd *k = arg;

	log_info("caught signal %d, stopping", signo);
	daemon_stopping();
	kvd_writes_fail_all(k, -LE_UNAVAIL, "kvd is stopping");
	kvd_read_waits_fail(k, -LE_UNAVAIL, "kvd is stopping");
	loop_stop(k->loop);
}

int
main(int argc, char **argv)
{
	static struct kvd k;
	struct daemon_args args;
	int rv;
	char path[4200], url[300];
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct lerr e = { "" };

	if ((rv = daemon_start("kvd", argc, argv, &k.cfg, &args)) != 0)
		return rv;
	k.rundir = args.rundir;
	k.boot = boot_id_new();
	if (loop_new(&k.loop) != 0)
		fatal("loop");
	if (loop_signals(k.loop, sigs, 3, on_signal, &k) != 0)
		fatal("signals");
	if (kvd_is_client(&k.cfg))
		return kvd_client_run(&k, &args);
	snprintf(path, sizeof(path), "%s/kv", k.cfg.data_dir);
	if (mkdir_p(k.cfg.data_dir, 0700) != 0)
		fatal("mkdir %s", k.cfg.data_dir);
	if (store_open_rocks(path, &k.store, &e) != 0)
		fatalx("%s", e.msg);
	if (kv_state_open(k.store, &k.kv, &e) != 0)
		fatalx("kv state: %s", e.msg);
	if (cat_state_open(k.store, &k.cat) != 0)
		fatalx("catalog state: out of memory");
	k.watch = kv_watch_new(&k);
	k.cwatch = cat_watch_new(&k);
	k.fetch_retry = loop_timer_new(k.loop, kvd_fetch_retry, &k);
	k.hold = loop_timer_new(k.loop, kvd_hold_tick, &k);
	loop_set_idle(k.loop, kvd_propose_flush, &k);
	k.cron = loop_timer_new(k.loop, kvd_cron, &k);
	loop_timer_arm(k.cron, 1000);
	if (kv_tombstone_count(k.kv) > 0) {
		/* Times are not persisted: restart the TTL for them all. */
		k.marks = xcalloc(1, sizeof(k.marks[0]));
		k.cap_marks = k.nmarks = 1;
		k.marks[0].index = kv_state_applied(k.kv);
		k.marks[0].at_ms = loop_now_ms(k.loop);
	}
	rundir_url(args.rundir, "raft", url, sizeof(url));
	if (ipc_client_open_loop(&k.raft, url, k.boot, k.loop, &e) != 0)
		fatalx("%s", e.msg);
	rundir_url(args.rundir, "kvd", url, sizeof(url));
	if (ipc_server_open(&k.srv, url, k.loop, IPC_SIBLING, kvd_handle, &k,
	    k.boot, &e) != 0)
		fatalx("%s", e.msg);
	if (admin_open(&k.admin, args.rundir, "kvd", k.loop, &kvd_admin_ops, &k,
	    k.boot, &e) != 0)
		fatalx("%s", e.msg);
	k.rc = cat_rc_new(&k);
	log_info("ready: applied index %llu, store %s",
	    (unsigned long long)kv_state_applied(k.kv), path);
	notify_ready();
	kvd_fetch(&k);
	loop_run(k.loop);
	/* Replies already queued for the loop run (and release what they
	 * hold) before the state they touch goes. */
	kv_snapshot_wait(&k);
	cat_rc_stop(k.rc);
	ipc_client_close(k.raft);
	loop_drain(k.loop);
	kvd_writes_fail_all(&k, -LE_UNAVAIL, "kvd is stopping");
	kvd_read_waits_fail(&k, -LE_UNAVAIL, "kvd is stopping");
	admin_close(k.admin);
	ipc_server_close(k.srv);
	loop_drain(k.loop);
	cat_rc_free(k.rc);
	loop_timer_free(k.fetch_retry);
	loop_timer_free(k.hold);
	kv_watch_free(k.watch);
	cat_watch_free(k.cwatch);
	loop_timer_free(k.cron);
	cat_state_close(k.cat);
	kv_state_close(k.kv);
	store_close(k.store);
	loop_free(k.loop);
	free(k.marks);
	free(k.touched);
	for (size_t i = 0; i < k.nctouched; i++)
		free(k.ctouched[i].lcnode);
	free(k.ctouched);
	config_free(&k.cfg);
	daemon_args_free(&args);
	return 0;
}
