/* kvd.h: kvd's context, passed to every function. kvd owns the
 * replicated state machine (KV now; catalog, sessions later) and the
 * blocking-query waiters. One loop thread owns all of it. */
#ifndef LICTOR_KVD_H
#define LICTOR_KVD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "admin.h"
#include "catalog_state.h"
#include "config.h"
#include "ipc.h"
#include "kv_state.h"
#include "loop.h"
#include "store.h"

struct kv_watch;
struct cat_watch;
struct cat_rc;
struct pending_write;
struct read_wait;
struct fwd_call;

struct kvd_stats {
	uint64_t reads;
	uint64_t writes;
	uint64_t write_errors;
	uint64_t batches;
	uint64_t batch_max;
	uint64_t blocked_total;
	uint64_t wakeups;
	uint64_t timeouts;
	uint64_t canceled;	/* parked queries whose caller went away */
	uint64_t reaps;
	uint64_t proposals;
	uint64_t propose_errors;
	uint64_t writes_held;		/* waited for raftd to come back */
	uint64_t writes_expired;	/* answered with an error at their
					 * deadline */
	uint64_t fwd_held;		/* a client's forwards held so */
	uint64_t fwd_expired;
	uint64_t reads_held;		/* waited for raftd to come back */
	uint64_t reads_expired;		/* failed at the end of that wait */
	uint64_t fetches;
	uint64_t entries_applied;
	uint64_t bad_entries;
	uint64_t read_index_calls;
	uint64_t lease_reads;
	uint64_t snapshots_saved;
	uint64_t snapshots_restored;
	uint64_t cat_reads;
	uint64_t cat_writes;
	uint64_t cat_refused;		/* commands the state refused */
	uint64_t fwd, fwd_errors;	/* a client's, sent to a server */
};

/* A catalog change waiting for the batch's commit to wake queries. */
struct cat_touched {
	int topic;
	char *lcnode;
	size_t len;
};

struct kvd {
	struct lictor_config cfg;
	const char *rundir;
	uint64_t boot;
	struct loop *loop;
	struct store *store;
	struct kv_state *kv;
	struct cat_state *cat;		/* the catalog, in the same store */
	struct ipc_server *srv;		/* from httpd and raftd: kvd.sock */
	struct ipc_client *raft;	/* to raftd: raft.sock */
	struct admin *admin;
	struct kv_watch *watch;
	struct cat_watch *cwatch;
	struct cat_touched *ctouched;	/* catalog changes of the batch */
	size_t nctouched, cap_ctouched;
	struct cat_rc *rc;		/* the leader's gossip reconcile */
	/* writes proposed to raftd, oldest first, until applied */
	uint64_t seq;
	struct pending_write *pw_head, *pw_tail;
	size_t npending;
	size_t nqueued;			/* pending, not yet proposed */
	struct loop_timer *hold;	/* requests held while raftd is down */
	struct fwd_call *fwd_held;	/* a client's, kvd_client.c */
	/* the apply loop: one raft.fetch outstanding at a time */
	bool fetching;
	struct loop_timer *fetch_retry;
	char **touched;			/* keys touched by the batch */
	size_t ntouched, cap_touched;
	bool tombstoned;		/* the batch left tombstones */
	/* what raftd last said about leadership */
	uint64_t commit_seen;		/* its commit index */
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

/* kvd_client.c: on a client agent kvd holds no state and forwards every
 * request to a server through raftd; kvd_client_run serves until
 * stopped, then frees everything main() set up. */
struct daemon_args;
bool kvd_is_client(const struct lictor_config *cfg);
int kvd_client_run(struct kvd *k, struct daemon_args *args);

/* kvd_serve.c: requests from httpd */
void kvd_handle(void *arg, struct ipc_req *r);
void kvd_reply_read(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_read *q);
void kvd_serve_read(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_read *q);
/* kvd_write.c: writes become Raft proposals; answered once applied */
void kvd_write(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_write *w);
/* Proposes a checked command for r; r is answered (msg_kv_write_reply,
 * of r's type) once the entry is applied, with the state's verdict. */
void kvd_propose(struct kvd *k, struct ipc_req *r,
    const struct msg_sm_cmd *cmd);
void kvd_propose_internal(struct kvd *k, const struct msg_kv_write *w);
/* Commands of kvd's own (the reconcile), in one proposal; fn (may be
 * NULL) hears raftd's answer (msg_raft_index_reply: the index of the
 * last entry once committed), on the loop. */
void kvd_propose_internal_cmds(struct kvd *k, const struct msg_sm_cmd *cmds,
    size_t n, ipc_reply_fn fn, void *arg);
void kvd_propose_flush(void *arg);	/* the loop's idle hook */
/* The entry at index carried our command seq: its Consul result (text:
 * the state's reason for a refusal, or NULL). */
void kvd_write_applied(struct kvd *k, uint64_t seq, uint64_t index,
    int code, bool result, const char *text);
/* After each applied batch is committed: answer and free what it did. */
void kvd_writes_flush(struct kvd *k);
void kvd_writes_expire(struct kvd *k);
void kvd_hold_tick(void *arg);
void kvd_read_waits_hold(struct kvd *k);

/* How long a request waits for raftd to come back while init restarts
 * it: as long as raftd holds a request while there is no leader
 * (Consul's servers retry an RPC through an election for
 * rpc_hold_timeout, 7 s; httpd waits 10 s for kvd); and how often a
 * held request looks for it. */
#define RAFTD_HOLD_MS 5000
#define RAFTD_HOLD_POLL_MS 20
/* A write whose proposal raftd took with it may still commit: it waits
 * for its entry this long after it came, and is answered before httpd's
 * own 10 s run out. */
#define RAFTD_LOST_WAIT_MS 8000

/* Arms the hold timer unless it is armed already (re-arming would push
 * it back: under steady traffic it would never fire). */
static inline void
kvd_hold_arm(struct kvd *k)
{
	if (!loop_timer_armed(k->hold))
		loop_timer_arm(k->hold, RAFTD_HOLD_POLL_MS);
}
void kvd_writes_fail_all(struct kvd *k, int code, const char *text);
void kvd_cron(void *arg);
void kvd_mark_tombstones(struct kvd *k, uint64_t index);
/* kvd_raft.c: the apply loop (raft.fetch), read indexes, snapshots */
void kvd_fetch(struct kvd *k);
void kvd_fetch_retry(void *arg);
void kvd_ask_read_index(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_read *q);
void kvd_ask_read_index_cat(struct kvd *k, struct ipc_req *r,
    const struct msg_cat_read *q);
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

/* catalog_serve.c: catalog requests from httpd */
void cat_handle(struct kvd *k, struct ipc_req *r);
void cat_serve_read(struct kvd *k, struct ipc_req *r,
    const struct msg_cat_read *q);
void cat_reply_read(struct kvd *k, struct ipc_req *r,
    const struct msg_cat_read *q);
uint64_t cat_read_index(struct kvd *k, const struct msg_cat_read *q);
/* An answer built once (body: the items; the caller frees it) and sent to
 * any number of requests. */
void cat_answer_encode(struct kvd *k, const struct msg_cat_read *q,
    struct msg_kv_read_reply *rep, struct mpw *body);
void cat_reply_with(struct ipc_req *r, const struct msg_kv_read_reply *rep,
    const struct mpw *body);
/* catalog_watch.c: parked catalog queries */
struct cat_watch *cat_watch_new(struct kvd *k);
void cat_watch_free(struct cat_watch *w);
void cat_watch_park(struct cat_watch *w, struct ipc_req *r,
    const struct msg_cat_read *q);
void cat_watch_touch(struct cat_watch *w, int topic, const char *lcnode,
    size_t len);
void cat_watch_touch_all(struct cat_watch *w);
size_t cat_watch_parked(const struct cat_watch *w);
/* catalog_reconcile.c: on the leader, gossip membership into the catalog */
struct cat_rc *cat_rc_new(struct kvd *k);
/* Stops talking to gossipd (its calls still in flight fail into the
 * loop: loop_drain them before cat_rc_free). */
void cat_rc_stop(struct cat_rc *rc);
void cat_rc_free(struct cat_rc *rc);
/* After each applied batch or leadership news from raftd. */
void cat_rc_kick(struct cat_rc *rc);
void cat_rc_stats(const struct cat_rc *rc, struct sbuf *out);

#endif
