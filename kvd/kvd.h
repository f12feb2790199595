/* kvd.h: kvd's context, passed to every function. kvd owns the
 * replicated state machine (KV now; catalog, sessions later) and the
 * blocking-query waiters. One loop thread owns all of it. */
#ifndef LICTOR_KVD_H
#define LICTOR_KVD_H

#include <stdbool.h>
#include <stdint.h>

#include "admin.h"
#include "config.h"
#include "ipc.h"
#include "kv_state.h"
#include "loop.h"
#include "store.h"

struct kv_watch;
struct pending_write;

struct kvd_stats {
	uint64_t reads;
	uint64_t writes;
	uint64_t write_errors;
	uint64_t batches;
	uint64_t batch_max;
	uint64_t blocked_total;
	uint64_t wakeups;
	uint64_t timeouts;
	uint64_t reaps;
};

struct kvd {
	struct lictor_config cfg;
	const char *rundir;
	uint64_t boot;
	bool sync;			/* fsync each group commit */
	struct loop *loop;
	struct store *store;
	struct kv_state *kv;
	struct ipc_server *srv;		/* from httpd: kvd.sock */
	struct admin *admin;
	struct kv_watch *watch;
	/* the open group commit */
	bool batch_open;
	struct pending_write *pw_head, *pw_tail;
	size_t npending;
	char **touched;			/* keys touched in the batch */
	size_t ntouched, cap_touched;
	bool tombstoned;		/* the batch left tombstones */
	/* tombstone GC: (index, time) marks, oldest first */
	struct { uint64_t index, at_ms; } *marks;
	size_t nmarks, cap_marks;
	struct loop_timer *cron;
	struct kvd_stats st;
};

/* kvd_serve.c: requests from httpd */
void kvd_handle(void *arg, struct ipc_req *r);
void kvd_reply_read(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_read *q);
/* kvd_write.c: group commit */
void kvd_write(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_write *w);
void kvd_commit(void *arg); /* the loop's idle hook */
void kvd_cron(void *arg);
/* kv_watch.c: parked blocking queries */
struct kv_watch *kv_watch_new(struct kvd *k);
void kv_watch_free(struct kv_watch *w);
void kv_watch_park(struct kv_watch *w, struct ipc_req *r,
    const struct msg_kv_read *q);
void kv_watch_touched(struct kv_watch *w, const char *key, size_t klen);
size_t kv_watch_parked(const struct kv_watch *w);
size_t kv_watch_sets(const struct kv_watch *w);
/* The current index a read reports. */
uint64_t kvd_read_index(struct kvd *k, const struct msg_kv_read *q);

#endif
