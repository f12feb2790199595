/* daemon.c: see daemon.h. */
#include "daemon.h"
#include "flags.h"
#include "log.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>

int
daemon_start(const char *name, int argc, char **argv,
    struct lictor_config *cfg, struct daemon_args *a)
{
	struct flag_def defs[] = {
		{ "config", FLAG_STRING, &a->cfgpath, "effective config file" },
		{ "rundir", FLAG_STRING, &a->rundir, "agent run directory" },
		{ NULL },
	};
	struct lerr e = { "" };
	enum log_level lvl;
	int rest;

	a->cfgpath = a->rundir = NULL;
	log_procinit(name);
	if (flags_parse(defs, argc - 1, argv + 1, &rest, &e) != 0 ||
	    a->cfgpath == NULL || a->rundir == NULL) {
		log_error("usage: lictor-%s -config FILE -rundir DIR %s", name,
		    e.msg);
		return EXIT_PERMANENT;
	}
	config_defaults(cfg);
	if (config_load_file(cfg, a->cfgpath, &e) != 0) {
		log_error("%s", e.msg);
		return EXIT_PERMANENT;
	}
	if (log_parse_level(cfg->log_level, &lvl) == 0)
		log_setlevel(lvl);
	return 0;
}

void
daemon_args_free(struct daemon_args *a)
{
	free(a->cfgpath);
	free(a->rundir);
	a->cfgpath = a->rundir = NULL;
}

void
daemon_stopping(void)
{
	signal(SIGALRM, SIG_DFL);
	alarm(DAEMON_STOP_MAX_S);
}
