/* supervise.c: the children's lifecycle, after s6-supervise: spawn with
 * a readiness pipe on fd 3, restart on death (immediately if the child
 * had been ready for at least a second, else after a backoff that starts
 * at 1 s and doubles to 30 s), never restart after exit 100, stop in
 * reverse order with a grace period before SIGKILL. */
#include "init.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define STOP_GRACE_MS 5000

static const char *child_names[INIT_NCHILD] = { "gossipd", "raftd", "kvd",
    "httpd" };

const char *
sup_state_name(enum child_state s)
{
	switch (s) {
	case CH_DOWN: return "down";
	case CH_STARTING: return "starting";
	case CH_RUNNING: return "running";
	case CH_BACKOFF: return "backoff";
	case CH_STOPPING: return "stopping";
	case CH_FAILED: return "failed";
	}
	return "?";
}

/* True when a formatted candidate fit in its buffer and is executable. */
static bool
exe_ok(const char *path, int n, size_t len)
{
	return n > 0 && (size_t)n < len && access(path, X_OK) == 0;
}

/* Finds lictor-<name>: beside us (installed), or in the build tree. */
static void
find_exe(const char *self, const char *name, char *out, size_t len)
{
	char dir[PATH_MAX], *slash;
	const char *env = getenv("LICTOR_LIBEXEC");
	int n;

	if (env != NULL && *env != '\0') {
		n = snprintf(out, len, "%s/lictor-%s", env, name);
		if (n < 0 || (size_t)n >= len)
			out[0] = '\0';
		return;
	}
	/* Our own binary, wherever PATH found it: argv[0] may be a bare
	 * name. */
	if (realpath("/proc/self/exe", dir) == NULL &&
	    realpath(self, dir) == NULL) {
		n = snprintf(dir, sizeof(dir), "%s", self);
		if (n < 0 || (size_t)n >= sizeof(dir))
			dir[0] = '\0';
	}
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	n = snprintf(out, len, "%s/lictor-%s", dir, name);
	if (exe_ok(out, n, len))
		return;
	n = snprintf(out, len, "%s/../%s/lictor-%s", dir, name, name);
	if (exe_ok(out, n, len))
		return;
	n = snprintf(out, len, "%s/../libexec/lictor/lictor-%s", dir, name);
	if (n < 0 || (size_t)n >= len)
		out[0] = '\0';
}

static void child_start(struct child *c);

static void
child_timer(void *arg)
{
	struct child *c = arg;

	if (c->state == CH_BACKOFF)
		child_start(c);
	else if (c->state == CH_STOPPING && c->pid > 0) {
		log_warnx("%s (pid %d) did not stop in time; killing it",
		    c->name, (int)c->pid);
		kill(c->pid, SIGKILL);
	}
}

void
sup_init(struct initd *in, const char *self)
{
	for (int i = 0; i < INIT_NCHILD; i++) {
		struct child *c = &in->ch[i];

		c->name = child_names[i];
		c->init = in;
		c->notify_fd = -1;
		c->backoff_ms = BACKOFF_MIN_MS;
		find_exe(self, c->name, c->exe, sizeof(c->exe));
		c->timer = loop_timer_new(in->loop, child_timer, c);
	}
}

static void
all_ready_check(struct initd *in)
{
	for (int i = 0; i < INIT_NCHILD; i++)
		if (in->ch[i].state != CH_RUNNING)
			return;
	if (!in->announced) {
		in->announced = true;
		log_info("agent ready: node %s, datacenter %s, HTTP %s:%lld",
		    in->cfg.node_name, in->cfg.datacenter, in->cfg.client_addr,
		    (long long)in->cfg.port_http);
		notify_ready();
	}
}

static void
on_notify(void *arg, int fd, short revents)
{
	struct child *c = arg;
	struct initd *in = c->init;
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)revents;
	loop_unwatch_fd(in->loop, fd);
	close(fd);
	c->notify_fd = -1;
	if (n > 0 && memchr(buf, '\n', (size_t)n) != NULL &&
	    c->state == CH_STARTING) {
		c->state = CH_RUNNING;
		c->ready_ms = mono_ms();
		log_info("%s is ready (pid %d)", c->name, (int)c->pid);
		/* Start the next daemon in order once this one serves. */
		for (int i = 0; i < INIT_NCHILD - 1; i++)
			if (&in->ch[i] == c && in->ch[i + 1].state == CH_DOWN &&
			    !in->stopping)
				child_start(&in->ch[i + 1]);
		all_ready_check(in);
	}
}

static void
child_start(struct child *c)
{
	struct initd *in = c->init;
	int pfd[2];
	pid_t pid;

	if (in->stopping)
		return;
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		log_warn("pipe for %s", c->name);
		c->state = CH_BACKOFF;
		loop_timer_arm(c->timer, c->backoff_ms);
		return;
	}
	pid = fork();
	if (pid < 0) {
		log_warn("fork %s", c->name);
		close(pfd[0]);
		close(pfd[1]);
		c->state = CH_BACKOFF;
		loop_timer_arm(c->timer, c->backoff_ms);
		return;
	}
	if (pid == 0) {
		sigset_t none;
		char *argv[] = { c->exe, "-config", in->cfgpath, "-rundir",
			in->rundir, NULL };

		/* Our own process group: terminal signals reach init only,
		 * and init decides the order of shutdown. Die with init. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (pfd[1] != 3) {
			dup2(pfd[1], 3);
			close(pfd[1]);
		} else
			fcntl(3, F_SETFD, 0);
		setenv("LICTOR_NOTIFY_FD", "3", 1);
		execv(c->exe, argv);
		fprintf(stderr, "lictor: cannot execute %s: %s\n", c->exe,
		    strerror(errno));
		_exit(EXIT_PERMANENT);
	}
	close(pfd[1]);
	c->pid = pid;
	c->state = CH_STARTING;
	c->started_ms = mono_ms();
	c->notify_fd = pfd[0];
	loop_watch_fd(in->loop, pfd[0], POLLIN, on_notify, c);
	log_info("started %s (pid %d)", c->name, (int)pid);
}

void
sup_start_all(struct initd *in)
{
	child_start(&in->ch[0]);
}

static void
check_all_stopped(struct initd *in)
{
	for (int i = 0; i < INIT_NCHILD; i++)
		if (in->ch[i].pid > 0)
			return;
	loop_stop(in->loop);
}

/* Stops children in reverse order: the next one only once the previous
 * has exited, so httpd never outlives nothing behind it. */
static void
stop_next(struct initd *in)
{
	for (int i = INIT_NCHILD - 1; i >= 0; i--) {
		struct child *c = &in->ch[i];

		if (c->pid > 0) {
			/* A second stop request must not cancel the grace
			 * timer of a daemon already stopping. */
			if (c->state != CH_STOPPING) {
				loop_timer_cancel(c->timer);
				c->state = CH_STOPPING;
				kill(c->pid, SIGTERM);
				loop_timer_arm(c->timer, STOP_GRACE_MS);
			}
			return;
		}
		loop_timer_cancel(c->timer);
		if (c->state != CH_FAILED)
			c->state = CH_DOWN;
	}
	check_all_stopped(in);
}

void
sup_stop_all(struct initd *in)
{
	if (!in->stopping)
		log_info("stopping the agent");
	in->stopping = true;
	stop_next(in);
}

static void
child_died(struct child *c, int status)
{
	struct initd *in = c->init;
	uint64_t now = mono_ms();
	bool was_ready = c->state == CH_RUNNING;

	c->last_exit = WIFEXITED(status) ? WEXITSTATUS(status) :
	    -WTERMSIG(status);
	c->pid = 0;
	if (c->notify_fd >= 0) {
		loop_unwatch_fd(in->loop, c->notify_fd);
		close(c->notify_fd);
		c->notify_fd = -1;
	}
	loop_timer_cancel(c->timer);
	if (in->stopping) {
		log_info("%s stopped (%s %d)", c->name,
		    c->last_exit >= 0 ? "exit" : "signal",
		    c->last_exit >= 0 ? c->last_exit : -c->last_exit);
		c->state = CH_DOWN;
		stop_next(in);
		return;
	}
	if (c->last_exit == EXIT_PERMANENT) {
		log_error("%s failed permanently (exit 100); not restarting "
		    "it; stopping the agent", c->name);
		c->state = CH_FAILED;
		in->exit_code = 1;
		sup_stop_all(in);
		return;
	}
	c->restarts++;
	if (was_ready && now - c->ready_ms >= 1000) {
		/* It had been serving: restart at once, reset backoff. */
		c->backoff_ms = BACKOFF_MIN_MS;
		log_warnx("%s (exit %d) died; restarting it", c->name,
		    c->last_exit);
		child_start(c);
		return;
	}
	log_warnx("%s (exit %d) died %s; restarting in %llu ms (death %llu)",
	    c->name, c->last_exit, was_ready ? "soon after start" :
	    "before it was ready", (unsigned long long)c->backoff_ms,
	    (unsigned long long)c->restarts);
	c->state = CH_BACKOFF;
	loop_timer_arm(c->timer, c->backoff_ms);
	c->backoff_ms *= 2;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
}

void
sup_sigchld(struct initd *in)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < INIT_NCHILD; i++)
			if (in->ch[i].pid == pid)
				child_died(&in->ch[i], status);
	}
}

int
sup_restart(struct initd *in, const char *name)
{
	for (int i = 0; i < INIT_NCHILD; i++) {
		struct child *c = &in->ch[i];

		if (strcmp(c->name, name) != 0)
			continue;
		if (in->stopping)
			return -LE_STATE;
		if (c->pid > 0) {
			/* It comes back through child_died: ready, so at once. */
			c->ready_ms = 0;
			kill(c->pid, SIGTERM);
		} else {
			c->backoff_ms = BACKOFF_MIN_MS;
			loop_timer_cancel(c->timer);
			child_start(c);
		}
		return 0;
	}
	return -LE_NOTFOUND;
}
