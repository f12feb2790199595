/* ctl.c: `lictor ctl`, the operator's client for init's control socket
 * and every daemon's admin socket:
 *   lictor ctl [-data-dir D] status | restart <daemon> | stop
 *   lictor ctl [-data-dir D] <daemon> status|stats|loglevel [L]|dump|digest
 * Without -data-dir it reaches $LICTOR_DATA_DIR's agent, else the most
 * recent -dev agent. */
#include "init.h"
#include "flags.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CTL_TIMEOUT_MS 10000

static void
ctl_usage(FILE *f)
{
	fprintf(f, "Usage: lictor ctl [-data-dir DIR] <command>\n\n"
	    "Commands:\n"
	    "  status                    each daemon's pid, state, uptime and "
	    "restarts\n"
	    "  restart <daemon>          restart one daemon (gossipd, raftd, "
	    "kvd, httpd)\n"
	    "  stop                      stop the agent\n"
	    "  <daemon> status           the daemon's own status\n"
	    "  <daemon> stats            the daemon's counters\n"
	    "  <daemon> loglevel [LEVEL] get or set its log level\n"
	    "  <daemon> dump             a dump of its state\n"
	    "  <daemon> digest           a digest of its replicated state\n"
	    "  <daemon> fault SPEC       test builds: inject a fault\n");
}

struct arg_payload {
	const char *s;
};

static void
write_arg(struct mpw *w, void *arg)
{
	struct arg_payload *a = arg;
	struct msg_admin_req req = { a->s, strlen(a->s) };

	msg_admin_req_enc(w, &req);
}

static int
find_rundir(const char *data_dir, char *out, size_t len)
{
	const char *env = getenv("LICTOR_DATA_DIR");

	if (data_dir == NULL && env != NULL && *env != '\0')
		data_dir = env;
	if (data_dir != NULL)
		return rundir_for_datadir(data_dir, out, len);
	if (rundir_get_dev(out, len) != 0) {
		fprintf(stderr, "lictor ctl: no -data-dir given and no -dev "
		    "agent is known\n");
		return -1;
	}
	return 0;
}

static int
check_error(const struct proto_msg *m)
{
	struct msg_error me;
	struct lerr e;

	if (m->type != (MSG_ERROR | PROTO_REPLY))
		return 0;
	if (msg_error_dec(m, &me, &e) == 0)
		fprintf(stderr, "lictor ctl: %.*s\n", (int)me.text_len,
		    me.text);
	return 1;
}

static int
print_status(const struct proto_msg *m)
{
	struct msg_ctl_status_reply rep;
	struct lerr e;

	if (check_error(m))
		return 1;
	if (msg_ctl_status_reply_dec(m, &rep, &e) != 0) {
		fprintf(stderr, "lictor ctl: bad reply: %s\n", e.msg);
		return 1;
	}
	printf("%-8s %-8s %-10s %-12s %-8s %s\n", "NAME", "PID", "STATE",
	    "UPTIME", "RESTARTS", "LAST_EXIT");
	for (uint32_t i = 0; i < rep.n; i++) {
		const struct msg_ctl_daemon *d = &rep.d[i];
		char up[32];

		snprintf(up, sizeof(up), "%.1fs", (double)d->uptime_ms / 1000);
		printf("%-8.*s %-8lld %-10.*s %-12s %-8llu %lld\n",
		    (int)d->name_len, d->name, (long long)d->pid,
		    (int)d->state_len, d->state, up,
		    (unsigned long long)d->restarts, (long long)d->last_exit);
	}
	return 0;
}

static int
print_text(const struct proto_msg *m)
{
	struct msg_admin_reply rep;
	struct lerr e;

	if (check_error(m))
		return 1;
	if (msg_admin_reply_dec(m, &rep, &e) != 0) {
		fprintf(stderr, "lictor ctl: bad reply: %s\n", e.msg);
		return 1;
	}
	if (rep.code != 0) {
		fprintf(stderr, "lictor ctl: %.*s\n", (int)rep.text_len,
		    rep.text);
		return 1;
	}
	fwrite(rep.text, 1, rep.text_len, stdout);
	if (rep.text_len > 0 && rep.text[rep.text_len - 1] != '\n')
		putchar('\n');
	return 0;
}

static int
call(const char *rundir, const char *sock, uint32_t type, const char *arg,
    int (*print)(const struct proto_msg *))
{
	char url[RUNDIR_MAX + 64];
	struct arg_payload a = { arg };
	struct proto_msg reply;
	struct lerr e = { "" };
	void *keep;
	struct stat st;
	int rv;

	rundir_url(rundir, sock, url, sizeof(url));
	if (stat(url + 6, &st) != 0) {
		fprintf(stderr, "lictor ctl: no agent is running there "
		    "(no socket %s)\n", url + 6);
		return 1;
	}
	if (ipc_request_sync(url, type, write_arg, &a, CTL_TIMEOUT_MS, &reply,
	    &keep, &e) != 0) {
		fprintf(stderr, "lictor ctl: %s\n", e.msg);
		return 1;
	}
	rv = print(&reply);
	proto_msg_free(&reply);
	ipc_buf_free(keep);
	return rv;
}

int
ctl_main(int argc, char **argv)
{
	char *data_dir = NULL, rundir[RUNDIR_MAX], sock[64];
	struct flag_def defs[] = {
		{ "data-dir", FLAG_STRING, &data_dir,
		  "data directory of the agent to reach" },
		{ NULL },
	};
	struct lerr e = { "" };
	const char *cmd, *sub;
	int rest, rv = 1;

	log_procinit("ctl");
	if (flags_parse(defs, argc, argv, &rest, &e) != 0) {
		if (e.msg[0] != '\0')
			fprintf(stderr, "%s\n", e.msg);
		ctl_usage(stderr);
		goto out;
	}
	argc -= rest;
	argv += rest;
	if (argc < 1) {
		ctl_usage(stderr);
		goto out;
	}
	if (find_rundir(data_dir, rundir, sizeof(rundir)) != 0)
		goto out;
	cmd = argv[0];
	if (strcmp(cmd, "status") == 0 && argc == 1)
		rv = call(rundir, "init.ctl", MSG_CTL_STATUS, "", print_status);
	else if (strcmp(cmd, "restart") == 0 && argc == 2)
		rv = call(rundir, "init.ctl", MSG_CTL_RESTART, argv[1],
		    print_text);
	else if (strcmp(cmd, "stop") == 0 && argc == 1)
		rv = call(rundir, "init.ctl", MSG_CTL_STOP, "", print_text);
	else if ((strcmp(cmd, "gossipd") == 0 || strcmp(cmd, "raftd") == 0 ||
	    strcmp(cmd, "kvd") == 0 ||
	    strcmp(cmd, "httpd") == 0) &&
	    argc >= 2 && argc <= 3) {
		uint32_t type = 0;

		sub = argv[1];
		snprintf(sock, sizeof(sock), "%s.admin", cmd);
		if (strcmp(sub, "status") == 0)
			type = MSG_ADMIN_STATUS;
		else if (strcmp(sub, "stats") == 0)
			type = MSG_ADMIN_STATS;
		else if (strcmp(sub, "loglevel") == 0)
			type = MSG_ADMIN_LOGLEVEL;
		else if (strcmp(sub, "dump") == 0)
			type = MSG_ADMIN_DUMP;
		else if (strcmp(sub, "digest") == 0)
			type = MSG_ADMIN_DIGEST;
		else if (strcmp(sub, "fault") == 0)
			type = MSG_ADMIN_FAULT;
		if (type == 0) {
			fprintf(stderr, "lictor ctl: unknown command \"%s\"\n",
			    sub);
			ctl_usage(stderr);
		} else
			rv = call(rundir, sock, type, argc == 3 ? argv[2] : "",
			    print_text);
	} else {
		fprintf(stderr, "lictor ctl: unknown command \"%s\"\n", cmd);
		ctl_usage(stderr);
	}
out:
	free(data_dir);
	return rv;
}
