/* rundir.h: where an agent's sockets live. One private directory (0700,
 * owned by us) per data directory, under /tmp/lictor-<uid>/ (or
 * $LICTOR_RUN_ROOT), named by a hash of the data dir's absolute path, so
 * `lictor ctl -data-dir D` finds the agent running on D and socket paths
 * stay short enough for sockaddr_un. The most recent -dev agent is also
 * reachable as <root>/dev (a symlink), which `lictor ctl` uses when no
 * -data-dir is given. */
#ifndef LICTOR_RUNDIR_H
#define LICTOR_RUNDIR_H

#include <stddef.h>

#include "err.h"

#define RUNDIR_MAX 200

/* The run root (/tmp/lictor-<uid> or $LICTOR_RUN_ROOT). */
int rundir_root(char *out, size_t len);
/* The run dir for a data dir (made absolute with realpath if it exists). */
int rundir_for_datadir(const char *data_dir, char *out, size_t len);
/* Creates root and dir with mode 0700 and checks ownership and mode. */
int rundir_create(const char *rundir, struct lerr *e);
/* "ipc://<rundir>/<name>.sock" */
void rundir_url(const char *rundir, const char *name, char *out, size_t len);
/* The -dev pointer. */
int rundir_set_dev(const char *rundir);
int rundir_get_dev(char *out, size_t len);
/* Removes the -dev pointer if it still points at rundir. */
void rundir_clear_dev(const char *rundir);

#endif
