/* httpd: the HTTP API front (nng's HTTP server). main() parses
 * arguments, loads the effective config, dials kvd, opens the admin
 * socket, starts listening, signals readiness and runs the loop. */
#include "httpd.h"
#include "flags.h"
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
	    "http.kvd_unavailable %llu\nipc.kvd_peers %d\n",
	    (unsigned long long)atomic_load(&h->requests),
	    (unsigned long long)atomic_load(&h->inflight),
	    (unsigned long long)atomic_load(&h->blocking),
	    (unsigned long long)atomic_load(&h->errors_4xx),
	    (unsigned long long)atomic_load(&h->errors_5xx),
	    (unsigned long long)atomic_load(&h->kvd_unavailable),
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
	loop_stop(h->loop);
}

int
main(int argc, char **argv)
{
	static struct httpd h;
	char *cfgpath = NULL, *rundir = NULL, url[300];
	struct flag_def defs[] = {
		{ "config", FLAG_STRING, &cfgpath, "effective config file" },
		{ "rundir", FLAG_STRING, &rundir, "agent run directory" },
		{ NULL },
	};
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct lerr e = { "" };
	enum log_level lvl;
	int rest;

	log_procinit("httpd");
	signal(SIGPIPE, SIG_IGN);
	if (flags_parse(defs, argc - 1, argv + 1, &rest, &e) != 0 ||
	    cfgpath == NULL || rundir == NULL) {
		log_error("usage: lictor-httpd -config FILE -rundir DIR %s",
		    e.msg);
		return EXIT_PERMANENT;
	}
	config_defaults(&h.cfg);
	if (config_load_file(&h.cfg, cfgpath, &e) != 0) {
		log_error("%s", e.msg);
		return EXIT_PERMANENT;
	}
	if (log_parse_level(h.cfg.log_level, &lvl) == 0)
		log_setlevel(lvl);
	h.rundir = rundir;
	h.boot = boot_id_new();
	if (loop_new(&h.loop) != 0)
		fatal("loop");
	if (loop_signals(h.loop, sigs, 3, on_signal, &h) != 0)
		fatal("signals");
	rundir_url(rundir, "raft", url, sizeof(url));
	if (ipc_client_open(&h.raft, url, h.boot, &e) != 0)
		fatalx("%s", e.msg);
	rundir_url(rundir, "kvd", url, sizeof(url));
	if (ipc_client_open(&h.kvd, url, h.boot, &e) != 0)
		fatalx("%s", e.msg);
	if (admin_open(&h.admin, rundir, "httpd", h.loop, &httpd_admin_ops,
	    &h, h.boot, &e) != 0)
		fatalx("%s", e.msg);
	if (h.cfg.port_http > 0 && httpd_start(&h, &e) != 0) {
		log_error("%s", e.msg);
		/* A port in use may free up: let init retry with backoff. */
		return EXIT_TEMPORARY;
	}
	notify_ready();
	loop_run(h.loop);
	httpd_stop(&h);
	admin_close(h.admin);
	ipc_client_close(h.kvd);
	ipc_client_close(h.raft);
	loop_free(h.loop);
	config_free(&h.cfg);
	free(cfgpath);
	free(rundir);
	return 0;
}
