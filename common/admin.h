/* admin.h: the admin socket every daemon answers, written once
 * (<rundir>/<daemon>.admin.sock): status, stats, log level (get/set),
 * dump, digest, and test-only fault hooks. Handlers run on the daemon's
 * loop, so the daemon's callbacks may read its state without locks.
 * `lictor ctl [-data-dir D] <daemon> <command> [arg]` is the client. */
#ifndef LICTOR_ADMIN_H
#define LICTOR_ADMIN_H

#include <stdint.h>

#include "err.h"
#include "loop.h"
#include "util.h"

struct admin_ops {
	/* Appends "name value\n" lines. */
	void (*stats)(void *arg, struct sbuf *out);
	/* Appends a human-readable dump of the daemon's state (optional). */
	void (*dump)(void *arg, struct sbuf *out);
	/* A digest of replicated state, to compare servers (optional). */
	uint64_t (*digest)(void *arg);
	/* Test builds: "drop <type>", "delay <ms>", "clear" (optional). */
	int (*fault)(void *arg, const char *spec, struct sbuf *out);
};

struct admin;
int admin_open(struct admin **out, const char *rundir, const char *daemon,
    struct loop *l, const struct admin_ops *ops, void *arg,
    uint64_t boot_id, struct lerr *e);
void admin_close(struct admin *a);

#endif
