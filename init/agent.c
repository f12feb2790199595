/* agent.c: `lictor agent`: load and check the config, prepare the data
 * and run directories (lock, node id, effective config file), then
 * supervise the daemons until told to stop. */
#include "init.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void
on_signal(void *arg, int signo)
{
	struct initd *in = arg;

	switch (signo) {
	case SIGCHLD:
		sup_sigchld(in);
		break;
	case SIGHUP:
		log_warnx("config reload (SIGHUP) is not supported yet; "
		    "restart the agent to apply config changes");
		break;
	default:
		log_info("caught signal %d", signo);
		sup_stop_all(in);
		break;
	}
}

/* The node's UUID persists in <data_dir>/node-id, as Consul's does. */
static int
node_id_setup(struct lictor_config *c, struct lerr *e)
{
	char path[4200], buf[64];
	unsigned char r[16];
	FILE *f;

	snprintf(path, sizeof(path), "%s/node-id", c->data_dir);
	if (c->node_id != NULL && *c->node_id != '\0')
		return 0;
	if ((f = fopen(path, "r")) != NULL) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		fclose(f);
		buf[n] = '\0';
		buf[strcspn(buf, " \r\n")] = '\0';
		if (strlen(buf) == 36) {
			free(c->node_id);
			c->node_id = xstrdup(buf);
			return 0;
		}
		log_warnx("%s is not a UUID; generating a new node id", path);
	}
	random_bytes(r, sizeof(r));
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(buf, sizeof(buf), "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
	    r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
	    r[15]);
	if ((f = fopen(path, "w")) == NULL)
		return lerr_set(e, LE_IO, "write %s: %s", path,
		    strerror(errno));
	fprintf(f, "%s", buf);
	fclose(f);
	chmod(path, 0600);
	free(c->node_id);
	c->node_id = xstrdup(buf);
	return 0;
}

static int
prepare_dirs(struct initd *in, struct lerr *e)
{
	struct lictor_config *c = &in->cfg;
	char path[4200];
	FILE *f;
	int rv, fd;

	if (c->dev && c->data_dir == NULL) {
		char tmpl[] = "/tmp/lictor-dev-XXXXXX";

		if (mkdtemp(tmpl) == NULL)
			return lerr_set(e, LE_IO, "mkdtemp: %s",
			    strerror(errno));
		in->dev_dir = xstrdup(tmpl);
		c->data_dir = xstrdup(tmpl);
	}
	if (mkdir_p(c->data_dir, 0700) != 0)
		return lerr_set(e, LE_IO, "cannot create data dir %s: %s",
		    c->data_dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/lictor.lock", c->data_dir);
	if ((in->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) <
	    0)
		return lerr_set(e, LE_IO, "open %s: %s", path,
		    strerror(errno));
	if (flock(in->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return lerr_set(e, LE_EXISTS, "data dir %s is in use by "
		    "another agent (lock %s is held)", c->data_dir, path);
	if ((rv = node_id_setup(c, e)) != 0)
		return rv;
	if ((rv = rundir_for_datadir(c->data_dir, in->rundir,
	    sizeof(in->rundir))) != 0)
		return lerr_set(e, -rv, "run dir path too long");
	if ((rv = rundir_create(in->rundir, e)) != 0)
		return rv;
	snprintf(in->cfgpath, sizeof(in->cfgpath), "%s/agent.json",
	    in->rundir);
	fd = open(in->cfgpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
		return lerr_set(e, LE_IO, "write %s: %s", in->cfgpath,
		    strerror(errno));
	rv = config_write(c, f);
	if (fclose(f) != 0 || rv != 0)
		return lerr_set(e, LE_IO, "write %s failed", in->cfgpath);
	if (c->dev)
		rundir_set_dev(in->rundir);
	if (c->pid_file != NULL && *c->pid_file != '\0') {
		if ((f = fopen(c->pid_file, "w")) == NULL)
			return lerr_set(e, LE_IO, "write pid file %s: %s",
			    c->pid_file, strerror(errno));
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	return 0;
}

static void
banner(const struct initd *in)
{
	const struct lictor_config *c = &in->cfg;

	printf("==> Starting lictor agent...\n"
	    "           Version: '%s'\n"
	    "           Node ID: '%s'\n"
	    "         Node name: '%s'\n"
	    "        Datacenter: '%s' (Segment: '<all>')\n"
	    "            Server: %s (Bootstrap: %s)\n"
	    "       Client Addr: [%s] (HTTP: %lld, HTTPS: -1, gRPC: -1, "
	    "DNS: %lld)\n"
	    "      Cluster Addr: %s (LAN: %lld, WAN: %lld)\n"
	    "          Data Dir: '%s'%s\n"
	    "           Run Dir: '%s'\n\n"
	    "==> Log data will now stream in as it occurs:\n\n",
	    LICTOR_VERSION, c->node_id, c->node_name, c->datacenter,
	    c->server ? "true" : "false", c->bootstrap ? "true" : "false",
	    c->client_addr, (long long)c->port_http, (long long)c->port_dns,
	    c->bind_addr, (long long)c->port_serf_lan,
	    (long long)c->port_serf_wan, c->data_dir,
	    in->dev_dir ? " (dev mode: removed at exit)" : "", in->rundir);
	fflush(stdout);
}

int
agent_main(int argc, char **argv, const char *self)
{
	static struct initd in;
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	struct lerr e = { "" };
	enum log_level lvl;
	int rv;

	log_procinit("agent");
	in.lock_fd = -1;
	signal(SIGPIPE, SIG_IGN);
	config_defaults(&in.cfg);
	if ((rv = config_from_args(&in.cfg, argc, argv, &e)) != 0) {
		if (e.msg[0] == '\0') { /* -h */
			config_agent_usage(stdout);
			config_free(&in.cfg);
			return 0;
		}
		fprintf(stderr, "lictor agent: %s\n", e.msg);
		config_free(&in.cfg);
		return 1;
	}
	if (log_parse_level(in.cfg.log_level, &lvl) == 0)
		log_setlevel(lvl);
	if (in.cfg.log_file != NULL && *in.cfg.log_file != '\0') {
		int fd = open(in.cfg.log_file, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0600);

		if (fd < 0) {
			fprintf(stderr, "lictor agent: cannot open log file "
			    "%s: %s\n", in.cfg.log_file, strerror(errno));
			return 1;
		}
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	if ((rv = prepare_dirs(&in, &e)) != 0) {
		fprintf(stderr, "lictor agent: %s\n", e.msg);
		rv = 1;
		goto out;
	}
	banner(&in);
	in.boot = boot_id_new();
	if (loop_new(&in.loop) != 0)
		fatal("loop");
	/* Before nng starts threads, so they inherit the blocked mask. */
	if (loop_signals(in.loop, sigs, 4, on_signal, &in) != 0)
		fatal("signals");
	if ((rv = control_open(&in, &e)) != 0) {
		fprintf(stderr, "lictor agent: %s\n", e.msg);
		rv = 1;
		goto out;
	}
	sup_init(&in, self);
	sup_start_all(&in);
	loop_run(in.loop);
	control_close(&in);
	rv = in.exit_code;
	log_info("agent stopped");
out:
	if (in.rundir[0] != '\0') {
		if (in.dev_dir != NULL)
			rundir_clear_dev(in.rundir);
		rm_rf(in.rundir);
	}
	if (in.dev_dir != NULL)
		rm_rf(in.dev_dir);
	if (in.cfg.pid_file != NULL && *in.cfg.pid_file != '\0' && rv == 0)
		unlink(in.cfg.pid_file);
	for (int i = 0; i < INIT_NCHILD; i++)
		if (in.ch[i].timer != NULL)
			loop_timer_free(in.ch[i].timer);
	loop_free(in.loop);
	free(in.dev_dir);
	config_free(&in.cfg);
	return rv;
}
