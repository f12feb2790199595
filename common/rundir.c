/* rundir.c: locating and creating the agent's private run directory. */
#include "rundir.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
rundir_root(char *out, size_t len)
{
	const char *r = getenv("LICTOR_RUN_ROOT");
	int n;

	if (r != NULL && *r != '\0')
		n = snprintf(out, len, "%s", r);
	else
		n = snprintf(out, len, "/tmp/lictor-%u", (unsigned)geteuid());
	return (n < 0 || (size_t)n >= len) ? -LE_RANGE : 0;
}

/* FNV-1a of the path, from a start value that is not FNV's offset basis
 * (a digit short of it since the first release); kept, because the
 * value names every agent's run directory, which the command-line tools
 * find the same way. */
static uint64_t
rundir_hash(const char *s)
{
	return fnv64(1469598103934665603ULL, s, strlen(s));
}

int
rundir_for_datadir(const char *data_dir, char *out, size_t len)
{
	char root[RUNDIR_MAX], abs[PATH_MAX];
	int n;

	if (rundir_root(root, sizeof(root)) != 0)
		return -LE_RANGE;
	if (realpath(data_dir, abs) == NULL) {
		if (data_dir[0] == '/')
			snprintf(abs, sizeof(abs), "%s", data_dir);
		else {
			char cwd[PATH_MAX];

			if (getcwd(cwd, sizeof(cwd)) == NULL)
				return -LE_IO;
			snprintf(abs, sizeof(abs), "%.2000s/%.2000s", cwd,
			    data_dir);
		}
	}
	n = snprintf(out, len, "%s/%016llx", root,
	    (unsigned long long)rundir_hash(abs));
	return (n < 0 || (size_t)n >= len) ? -LE_RANGE : 0;
}

static int
check_private(const char *dir, struct lerr *e)
{
	struct stat st;

	if (stat(dir, &st) != 0)
		return lerr_set(e, LE_IO, "stat %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return lerr_set(e, LE_IO, "%s is not a directory", dir);
	if (st.st_uid != geteuid())
		return lerr_set(e, LE_PERM, "%s is owned by uid %u, not us",
		    dir, (unsigned)st.st_uid);
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) != 0)
		return lerr_set(e, LE_PERM, "chmod 0700 %s: %s", dir,
		    strerror(errno));
	return 0;
}

int
rundir_create(const char *rundir, struct lerr *e)
{
	char root[RUNDIR_MAX];
	int rv;

	if (rundir_root(root, sizeof(root)) == 0 &&
	    strncmp(rundir, root, strlen(root)) == 0) {
		if (mkdir_p(root, 0700) != 0)
			return lerr_set(e, LE_IO, "mkdir %s: %s", root,
			    strerror(errno));
		if ((rv = check_private(root, e)) != 0)
			return rv;
	}
	if (mkdir_p(rundir, 0700) != 0)
		return lerr_set(e, LE_IO, "mkdir %s: %s", rundir,
		    strerror(errno));
	return check_private(rundir, e);
}

void
rundir_url(const char *rundir, const char *name, char *out, size_t len)
{
	snprintf(out, len, "ipc://%s/%s.sock", rundir, name);
}

int
rundir_set_dev(const char *rundir)
{
	char root[RUNDIR_MAX], link[RUNDIR_MAX + 8], tmp[RUNDIR_MAX + 32];

	if (rundir_root(root, sizeof(root)) != 0)
		return -LE_RANGE;
	snprintf(link, sizeof(link), "%s/dev", root);
	snprintf(tmp, sizeof(tmp), "%s/dev.%d", root, (int)getpid());
	unlink(tmp);
	if (symlink(rundir, tmp) != 0)
		return -LE_IO;
	if (rename(tmp, link) != 0) {
		unlink(tmp);
		return -LE_IO;
	}
	return 0;
}

int
rundir_get_dev(char *out, size_t len)
{
	char root[RUNDIR_MAX], link[RUNDIR_MAX + 8];
	ssize_t n;

	if (rundir_root(root, sizeof(root)) != 0)
		return -LE_RANGE;
	snprintf(link, sizeof(link), "%s/dev", root);
	n = readlink(link, out, len - 1);
	if (n < 0)
		return -LE_NOTFOUND;
	out[n] = '\0';
	return 0;
}

void
rundir_clear_dev(const char *rundir)
{
	char root[RUNDIR_MAX], link[RUNDIR_MAX + 8], cur[RUNDIR_MAX];

	if (rundir_get_dev(cur, sizeof(cur)) != 0 || strcmp(cur, rundir) != 0)
		return; /* a later -dev agent owns the pointer now */
	if (rundir_root(root, sizeof(root)) != 0)
		return;
	snprintf(link, sizeof(link), "%s/dev", root);
	unlink(link);
}
