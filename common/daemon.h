/* daemon.h: what every lictor daemon does first: name its log lines, read
 * its arguments (-config FILE -rundir DIR, as init passes them), load the
 * agent's effective config with the one loader, and take its log level. */
#ifndef LICTOR_DAEMON_H
#define LICTOR_DAEMON_H

#include "config.h"

struct daemon_args {
	char *cfgpath;	/* <rundir>/agent.json */
	char *rundir;
};

/* 0, or the exit code to return (EXIT_PERMANENT: init will not restart a
 * daemon that cannot read its arguments or config) after logging why. */
int daemon_start(const char *name, int argc, char **argv,
    struct lictor_config *cfg, struct daemon_args *a);
void daemon_args_free(struct daemon_args *a);
/* Called when a stop signal arrives: if the cleanup that follows hangs,
 * the process ends by SIGALRM after DAEMON_STOP_MAX_S rather than
 * outlive its agent. */
#define DAEMON_STOP_MAX_S 10
void daemon_stopping(void);

#endif
