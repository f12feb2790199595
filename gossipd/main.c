/* gossipd: membership. main() parses arguments, loads the agent's
 * effective config, opens the LAN pool (and the WAN pool on a server),
 * gossip.sock and the admin socket, signals readiness and runs the loop.
 * A stop signal leaves the pools gracefully when Consul would
 * (leave_on_terminate, default true for clients and false for servers;
 * skip_leave_on_interrupt for SIGINT), else just stops. */
#include "gossipd.h"
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

#define TICK_MS 250
#define STOP_LEAVE_MAX_MS 4000	/* init kills a child 5 s after SIGTERM */

static void
gossipd_stats(void *arg, struct sbuf *out)
{
	struct gossipd *d = arg;

	for (int i = 0; i < d->npools; i++)
		pool_stats(&d->pools[i], out);
	sbuf_printf(out, "events.received %" PRIu64 "\nevents.filtered %"
	    PRIu64 "\nevents.kept %u\nevents.index %" PRIu64 "\n"
	    "events.list_parked %zu\nipc.canceled %" PRIu64 "\n",
	    d->events_received, d->events_filtered, d->ev_count, d->ev_index,
	    serve_events_parked(), ipc_server_canceled(d->srv));
}

static void
gossipd_dump(void *arg, struct sbuf *out)
{
	struct gossipd *d = arg;

	for (int i = 0; i < d->npools; i++)
		pool_dump(&d->pools[i], out);
}

static const struct admin_ops gossipd_admin_ops = {
	.stats = gossipd_stats,
	.dump = gossipd_dump,
};

static void
payload_none(struct mpw *w, void *arg)
{
	struct msg_admin_req none = { "", 0 };

	(void)arg;
	msg_admin_req_enc(w, &none);
}

/* After `lictor leave` the agent stops, as `consul leave` does; raftd
 * asks init when a server's leave is done, gossipd when a client's is. */
static void
stop_agent(struct gossipd *d)
{
	char url[300];
	struct proto_msg rep;
	struct lerr e = { "" };
	void *keep;

	rundir_url(d->rundir, "init.ctl", url, sizeof(url));
	if (ipc_request_sync(url, MSG_CTL_STOP, payload_none, NULL, 2000,
	    &rep, &keep, &e) == 0) {
		proto_msg_free(&rep);
		ipc_buf_free(keep);
	} else {
		log_warnx("cannot ask init to stop: %s", e.msg);
	}
}

static void
tick(void *arg)
{
	struct gossipd *d = arg;

	serve_tick(d);
	pool_leave_check(d);
	flood_check(d);
	if (d->leave_at_ms != 0 && mono_ms() >= d->leave_at_ms) {
		d->leave_at_ms = 0;
		log_info("left the cluster; stopping the agent");
		stop_agent(d);
	}
	loop_timer_arm(d->tick, TICK_MS);
}

static bool
leave_on_stop(struct gossipd *d, int signo)
{
	if (signo == SIGINT)
		return !d->cfg.skip_leave_on_interrupt;
	return d->cfg.leave_on_terminate;
}

/* A graceful stop: leave first when configured, then stop the loop once
 * the leave has spread or STOP_LEAVE_MAX_MS passed. */
static void
stop_wait(void *arg)
{
	struct gossipd *d = arg;

	pool_leave_check(d);
	if (d->leave_req == NULL && !pool_leave_pending(d))
		loop_stop(d->loop);
	else if (mono_ms() >= d->stop_deadline_ms)
		loop_stop(d->loop);
	else
		loop_timer_arm(d->stop_timer, 50);
}

static void
on_signal(void *arg, int signo)
{
	struct gossipd *d = arg;

	if (signo == SIGHUP) {
		log_info("SIGHUP: nothing to reload in gossipd");
		return;
	}
	log_info("caught signal %d, stopping", signo);
	daemon_stopping();
	if (d->stop_timer != NULL && loop_timer_armed(d->stop_timer)) {
		loop_stop(d->loop);
		return;
	}
	if (leave_on_stop(d, signo)) {
		for (int i = d->npools - 1; i >= 0; i--)
			(void)pool_leave(&d->pools[i]);
		d->stop_deadline_ms = mono_ms() + STOP_LEAVE_MAX_MS;
		d->stop_timer = loop_timer_new(d->loop, stop_wait, d);
		loop_timer_arm(d->stop_timer, 10);
		return;
	}
	loop_stop(d->loop);
}

int
main(int argc, char **argv)
{
	static struct gossipd d;
	struct daemon_args args;
	int rv;
	char url[300];
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct lerr e = { "" };

	if ((rv = daemon_start("gossipd", argc, argv, &d.cfg, &args)) != 0)
		return rv;
	if (d.cfg.node_id == NULL || *d.cfg.node_id == '\0') {
		log_error("no node id in %s", args.cfgpath);
		return EXIT_PERMANENT;
	}
	d.rundir = args.rundir;
	d.boot = boot_id_new();
	if (loop_new(&d.loop) != 0)
		fatal("loop");
	if (loop_signals(d.loop, sigs, 3, on_signal, &d) != 0)
		fatal("signals");
	if (pool_open(&d, POOL_LAN, &e) != 0) {
		log_error("%s", e.msg);
		return EXIT_TEMPORARY;
	}
	d.npools = 1;
	if (d.cfg.server && d.cfg.port_serf_wan > 0) {
		if (pool_open(&d, POOL_WAN, &e) != 0) {
			log_error("%s", e.msg);
			pool_close(&d.pools[POOL_LAN]);
			return EXIT_TEMPORARY;
		}
		d.npools = 2;
	}
	rundir_url(args.rundir, "gossip", url, sizeof(url));
	if (ipc_server_open(&d.srv, url, d.loop, IPC_SIBLING, serve_handle,
	    &d, d.boot, &e) != 0)
		fatalx("%s", e.msg);
	if (admin_open(&d.admin, args.rundir, "gossipd", d.loop,
	    &gossipd_admin_ops, &d, d.boot, &e) != 0)
		fatalx("%s", e.msg);
	for (int i = 0; i < d.npools; i++)
		pool_start(&d.pools[i]);
	d.tick = loop_timer_new(d.loop, tick, &d);
	loop_timer_arm(d.tick, TICK_MS);
	log_info("ready: %s in the LAN pool at port %d%s", d.pools[0].name,
	    gnet_port(d.pools[0].net), d.npools > 1 ? ", and the WAN pool" :
	    "");
	notify_ready();
	loop_run(d.loop);

	serve_fail_all(&d);
	admin_close(d.admin);
	ipc_server_close(d.srv);
	for (int i = d.npools - 1; i >= 0; i--)
		pool_close(&d.pools[i]);
	loop_drain(d.loop);
	loop_timer_free(d.tick);
	if (d.stop_timer != NULL)
		loop_timer_free(d.stop_timer);
	events_free(&d);
	loop_free(d.loop);
	config_free(&d.cfg);
	daemon_args_free(&args);
	return 0;
}
