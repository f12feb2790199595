/* httpd: the HTTP API front. main() parses arguments, loads the
 * effective config, dials kvd, raftd and gossipd, opens the admin socket,
 * starts listening, signals readiness and runs the loop, on which all of
 * httpd runs. */
#include "httpd.h"
#include "daemon.h"
#include "log.h"
#include "rundir.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void
httpd_stats(void *arg, struct sbuf *out)
{
	struct httpd *h = arg;

	sbuf_printf(out, "http.requests %llu\nhttp.inflight %llu\n"
	    "http.blocking %llu\nhttp.errors_4xx %llu\nhttp.errors_5xx %llu\n"
	    "http.kvd_unavailable %llu\nhttp.conns %llu\n"
	    "http.conns_refused %llu\nhttp.conns_stalled %llu\n"
	    "http.bad_requests %llu\nhttp.blocking_canceled %llu\n"
	    "ipc.kvd_peers %d\n",
	    (unsigned long long)atomic_load(&h->requests),
	    (unsigned long long)atomic_load(&h->inflight),
	    (unsigned long long)atomic_load(&h->blocking),
	    (unsigned long long)atomic_load(&h->errors_4xx),
	    (unsigned long long)atomic_load(&h->errors_5xx),
	    (unsigned long long)atomic_load(&h->kvd_unavailable),
	    (unsigned long long)atomic_load(&h->conns),
	    (unsigned long long)atomic_load(&h->conns_refused),
	    (unsigned long long)atomic_load(&h->conns_stalled),
	    (unsigned long long)atomic_load(&h->bad_requests),
	    (unsigned long long)atomic_load(&h->blocking_canceled),
	    ipc_client_peers(h->kvd));
}

static const struct admin_ops httpd_admin_ops = {
	.stats = httpd_stats,
};

static void
on_signal(void *arg, int signo)
{
	struct httpd *h = arg;

	log_info("caught signal %d, stopping", signo);
	daemon_stopping();
	if (httpd_begin_stop(h))
		loop_stop(h->loop);
}

int
main(int argc, char **argv)
{
	static struct httpd h;
	struct daemon_args args;
	int rv;
	char url[300];
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct lerr e = { "" };

	if ((rv = daemon_start("httpd", argc, argv, &h.cfg, &args)) != 0)
		return rv;
	signal(SIGPIPE, SIG_IGN);
	h.rundir = args.rundir;
	h.boot = boot_id_new();
	if (loop_new(&h.loop) != 0)
		fatal("loop");
	if (loop_signals(h.loop, sigs, 3, on_signal, &h) != 0)
		fatal("signals");
	rundir_url(args.rundir, "raft", url, sizeof(url));
	if (ipc_client_open_loop(&h.raft, url, h.boot, h.loop, &e) != 0)
		fatalx("%s", e.msg);
	rundir_url(args.rundir, "kvd", url, sizeof(url));
	if (ipc_client_open_loop(&h.kvd, url, h.boot, h.loop, &e) != 0)
		fatalx("%s", e.msg);
	rundir_url(args.rundir, "gossip", url, sizeof(url));
	if (ipc_client_open_loop(&h.gossip, url, h.boot, h.loop, &e) != 0)
		fatalx("%s", e.msg);
	if (admin_open(&h.admin, args.rundir, "httpd", h.loop, &httpd_admin_ops,
	    &h, h.boot, &e) != 0)
		fatalx("%s", e.msg);
	if (h.cfg.port_http > 0 && httpd_start(&h, &e) != 0) {
		log_error("%s", e.msg);
		/* A port in use may free up: let init retry with backoff. */
		return EXIT_TEMPORARY;
	}
	notify_ready();
	loop_run(h.loop);
	/* Requests still in flight lose their connection; closing the IPC
	 * clients fails their calls, whose callbacks the drain runs. */
	httpd_stop(&h);
	admin_close(h.admin);
	ipc_client_close(h.kvd);
	ipc_client_close(h.raft);
	ipc_client_close(h.gossip);
	loop_drain(h.loop);
	if (atomic_load(&h.inflight) != 0)
		log_warnx("%llu requests still in flight at exit",
		    (unsigned long long)atomic_load(&h.inflight));
	httpd_free(&h);
	loop_free(h.loop);
	config_free(&h.cfg);
	daemon_args_free(&args);
	return 0;
}
