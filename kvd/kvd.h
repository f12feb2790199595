/* kvd.h: kvd's context, passed to every function. kvd owns the
 * replicated state machine (KV now; catalog, sessions later) and the
 * blocking-query waiters. One loop thread owns all of it. */
#ifndef LICTOR_KVD_H
#define LICTOR_KVD_H

#include <pthread.h>
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
struct read_wait;

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
	uint64_t proposals;
	uint64_t propose_errors;
	uint64_t fetches;
	uint64_t entries_applied;
	uint64_t bad_entries;
	uint64_t read_index_calls;
	uint64_t lease_reads;
	uint64_t snapshots_saved;
	uint64_t snapshots_restored;
};

struct kvd {
	struct lictor_config cfg;
	const char *rundir;
	uint64_t boot;
	struct loop *loop;
	struct store *store;
	struct kv_state *kv;
	struct ipc_server *srv;		/* from httpd and raftd: kvd.sock */
	struct ipc_client *raft;	/* to raftd: raft.sock */
	struct admin *admin;
	struct kv_watch *watch;
	/* writes proposed to raftd, oldest first, until applied */
	uint64_t seq;
	struct pending_write *pw_head, *pw_tail;
	size_t npending;
	size_t nqueued;			/* pending, not yet proposed */
	/* the apply loop: one raft.fetch outstanding at a time */
	bool fetching;
	struct loop_timer *fetch_retry;
	char **touched;			/* keys touched by the batch */
	size_t ntouched, cap_touched;
	bool tombstoned;		/* the batch left tombstones */
	/* what raftd last said about leadership */
	bool known_leader;
	uint64_t last_contact_ms, contact_at_ms;
	uint64_t lease_until_ms;	/* monotonic; 0: no lease */
	/* reads waiting for the applied index to reach their read index */
	struct read_wait *rw_head;
	size_t nreadwait;
	/* tombstone GC: (index, time) marks, oldest first */
	struct { uint64_t index, at_ms; } *marks;
	size_t nmarks, cap_marks;
	struct loop_timer *cron;
	pthread_t snap_thread;		/* writing a snapshot, when running */
	bool snap_running;
	struct kvd_stats st;
};

/* kvd_serve.c: requests from httpd */
void kvd_handle(void *arg, struct ipc_req *r);
void kvd_reply_read(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_read *q);
void kvd_serve_read(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_read *q);
/* kvd_write.c: writes become Raft proposals; answered once applied */
void kvd_write(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_write *w);
void kvd_propose_internal(struct kvd *k, const struct msg_kv_write *w);
void kvd_propose_flush(void *arg);	/* the loop's idle hook */
/* The entry at index carried our command seq: its Consul result. */
void kvd_write_applied(struct kvd *k, uint64_t seq, uint64_t index,
    int code, bool result);
/* After each applied batch is committed: answer and free what it did. */
void kvd_writes_flush(struct kvd *k);
void kvd_writes_fail_all(struct kvd *k, int code, const char *text);
void kvd_cron(void *arg);
void kvd_mark_tombstones(struct kvd *k, uint64_t index);
/* kvd_raft.c: the apply loop (raft.fetch), read indexes, snapshots */
void kvd_fetch(struct kvd *k);
void kvd_fetch_retry(void *arg);
void kvd_ask_read_index(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_read *q);
bool kvd_lease_valid(struct kvd *k);
uint64_t kvd_last_contact(struct kvd *k);
void kvd_read_waits_fail(struct kvd *k, int code, const char *text);
/* kv_snapshot.c: the state as one file, written by a thread from a
 * point-in-time view so the loop keeps applying; fn runs on the loop. */
typedef void (*kv_snap_done_fn)(void *arg, int rv, uint64_t index,
    const char *err);
int kv_snapshot_save_async(struct kvd *k, const char *path,
    kv_snap_done_fn fn, void *arg, struct lerr *e);
void kv_snapshot_wait(struct kvd *k);
int kv_snapshot_restore(struct kvd *k, const char *path, uint64_t *index,
    struct lerr *e);
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
