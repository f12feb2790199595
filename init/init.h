/* init.h: the agent's supervisor (`lictor agent`). It owns the config,
 * the data and run directories, and one child per daemon: starting them
 * in order, restarting any that dies (at least 1 s apart when it never
 * became ready, with a growing backoff and a death tally; exit 100 means
 * a permanent error and is not restarted), stopping them in reverse order
 * on SIGTERM/SIGINT, and answering `lictor ctl` on its control socket. */
#ifndef LICTOR_INIT_H
#define LICTOR_INIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "ipc.h"
#include "loop.h"
#include "rundir.h"

enum child_state {
	CH_DOWN,	/* not running, not scheduled */
	CH_STARTING,	/* running, not ready yet */
	CH_RUNNING,	/* ready */
	CH_BACKOFF,	/* died; restart scheduled */
	CH_STOPPING,	/* SIGTERM sent */
	CH_FAILED,	/* exited 100: permanent */
};

struct child {
	const char *name;	/* "kvd" */
	char exe[4096];
	enum child_state state;
	pid_t pid;
	int notify_fd;		/* read end of the readiness pipe */
	uint64_t started_ms;
	uint64_t ready_ms;
	uint64_t restarts;
	uint64_t backoff_ms;
	int last_exit;		/* exit code, or -signal */
	struct loop_timer *timer; /* restart, or kill after stop grace */
	struct initd *init;
};

#define INIT_NCHILD 4

struct initd {
	struct lictor_config cfg;
	char rundir[RUNDIR_MAX];
	char cfgpath[RUNDIR_MAX + 32];
	char *dev_dir;		/* -dev: the throwaway data dir */
	int lock_fd;
	uint64_t boot;
	struct loop *loop;
	struct ipc_server *ctl;
	struct child ch[INIT_NCHILD];
	bool stopping;
	int exit_code;
	bool announced;
};

/* supervise.c */
void sup_init(struct initd *in, const char *self);
void sup_start_all(struct initd *in);
void sup_stop_all(struct initd *in);
void sup_sigchld(struct initd *in);
int sup_restart(struct initd *in, const char *name);
const char *sup_state_name(enum child_state s);
/* control.c */
int control_open(struct initd *in, struct lerr *e);
void control_close(struct initd *in);
/* agent.c */
int agent_main(int argc, char **argv, const char *self);
/* ctl.c */
int ctl_main(int argc, char **argv);

#endif
