/* raft_int.h: the core's private state and the calls between its files.
 * Files by concern: raft.c (lifecycle, dispatch, persistence bookkeeping,
 * applying), log.c (the in-memory log window), membership.c (configuration
 * codec and history, membership changes), election.c (roles, votes,
 * transfer), replicate.c (AppendEntries both ways, commit), progress.c
 * (per-peer replication state, quorum arithmetic), snapshot.c and read.c
 * (read-index and lease). Nothing here is visible to the daemon. */
#ifndef LICTOR_RAFT_INT_H
#define LICTOR_RAFT_INT_H

#include "raft.h"

#define ROUND_RING	64

/* log.c: entries (offset, offset + n] in ents[head .. head + n). */
struct rlog {
	struct raft_entry *ents;
	size_t dead;		/* [dead, head): compacted, data not freed */
	size_t head;
	size_t n;
	size_t cap;
	uint64_t offset;	/* index just before the window */
	uint64_t offset_term;
	size_t bytes;		/* data bytes held */
};

void rlog_init(struct rlog *l);
void rlog_free(struct rlog *l);
uint64_t rlog_last(const struct rlog *l);
uint64_t rlog_last_term(const struct rlog *l);
const struct raft_entry *rlog_get(const struct rlog *l, uint64_t idx);
bool rlog_term(const struct rlog *l, uint64_t idx, uint64_t *term);
/* Appends copies of e[0..n) at indexes first... (first == last + 1); with
 * term != 0 every copy gets that term. All or nothing: -LE_NOMEM. */
int rlog_append(struct rlog *l, const struct raft_entry *e, size_t n,
    uint64_t first, uint64_t term);
void rlog_truncate(struct rlog *l, uint64_t from);
/* Drops entries up to upto from the window; their data is freed later,
 * by rlog_reap. */
void rlog_compact(struct rlog *l, uint64_t upto);
/* Frees the data of up to max compacted entries; how many it freed. */
size_t rlog_reap(struct rlog *l, size_t max);
/* Compacted entries whose data is still held. */
size_t rlog_dead(const struct rlog *l);
void rlog_reset(struct rlog *l, uint64_t idx, uint64_t term);
/* Largest index in [offset, hi] whose term <= term (offset if none). */
uint64_t rlog_find_le_term(const struct rlog *l, uint64_t hi, uint64_t term);

/* membership.c: one record per configuration still in the log, plus the
 * base one (from the snapshot or the compacted prefix). */
struct conf_rec {
	uint64_t idx;
	struct raft_config conf;
};

struct confs {
	struct conf_rec *v;
	size_t n;
	size_t cap;
};

enum prog_state {
	PROG_PROBE = 0,		/* one message at a time: find the match */
	PROG_REPLICATE = 1,	/* pipeline up to max_inflight */
	PROG_SNAPSHOT = 2,	/* InstallSnapshot sent, wait for it */
};

struct progress {
	uint64_t id;
	bool voter;
	uint8_t state;
	bool paused;		/* probe outstanding */
	uint64_t match;
	uint64_t match_round;	/* our round when match last moved up */
	uint64_t next;
	uint64_t last_contact;	/* our clock when it last answered */
	uint64_t acked_round;
	uint64_t progress_at;	/* match last advanced, or state reset */
	uint64_t sent_at;
	uint64_t commit_sent;	/* highest commit index told to it */
	uint64_t commit_due;	/* when to tell it an untold commit; 0: none */
	uint64_t commit_known;	/* it was told the commit up to here */
	uint64_t commit_wanted;	/* it waits to learn this index committed */
	uint64_t snap_index;
	uint32_t if_head;
	uint32_t if_n;
	uint64_t inflight[RAFT_INFLIGHT_MAX];	/* last index of each */
};

/* A log-changing persistence request not yet reported durable. */
struct pending_write {
	uint64_t seq;
	uint64_t first;		/* lowest index it (re)writes; 1 = whole log */
	uint64_t last;		/* the disk's last index once it is done */
};

struct readreq {
	uint64_t id;
	uint64_t idx;
	uint64_t round;
	uint64_t at;
};

struct raft {
	uint64_t id;
	struct raft_options opt;
	struct raft_ops ops;
	void *ctx;
	bool busy;		/* inside a mutating call */
	bool started;
	uint64_t now;		/* clock read at the start of the call */

	/* Persistent state as the core sees it; the disk may lag. */
	uint64_t term;
	uint64_t vote;

	/* Persistence pipeline. durable: every entry up to it is on disk
	 * and will stay there whatever pending requests do. */
	uint64_t seq_last;
	uint64_t seq_done;
	uint64_t state_seq;	/* request holding the current term/vote */
	struct pending_write *pw;
	size_t pw_head;
	size_t pw_n;
	size_t pw_cap;
	uint64_t disk_last;
	uint64_t durable;

	struct rlog log;
	struct confs confs;
	uint64_t commit;
	uint64_t applying;	/* handed to apply()/restore() */
	uint64_t applied;	/* reported by raft_applied */

	/* Latest snapshot (bytes owned). */
	struct raft_snapshot snap;
	void *snap_buf;
	bool restore_pending;	/* installed, restore() once durable */
	uint64_t restore_seq;
	uint64_t snap_asked;	/* applied index we asked at; 0: none */

	uint8_t state;
	uint64_t leader;
	uint64_t heard_at;	/* last message from the current leader */
	uint64_t sticky_until;	/* refuse to help elections until then */
	uint64_t elect_at;
	/* Follower: highest index known to match the current leader's log
	 * (the commit index counts: committed entries match every leader). */
	uint64_t verified;
	uint64_t ack_sent;
	uint64_t leader_round;

	/* Candidate. */
	uint64_t self_vote_seq;
	uint32_t nvotes;
	uint64_t vote_from[RAFT_MAX_SERVERS];
	bool vote_granted[RAFT_MAX_SERVERS];
	/* Follower: a granted vote waits for its persistence. */
	bool grant_pending;
	uint64_t grant_to;
	uint64_t grant_term;
	uint64_t grant_seq;

	/* Leader. */
	struct progress *prs;	/* RAFT_MAX_SERVERS slots */
	uint32_t nprs;
	uint64_t round;
	uint64_t round_at[ROUND_RING];
	uint64_t lead_since;
	uint64_t hb_at;
	uint64_t term_start;	/* index of this term's no-op */
	bool lease_off;		/* after a transfer began, for the term */
	uint64_t transfer_to;
	uint64_t transfer_until;
	bool timeout_sent;
	struct readreq *reads;
	size_t nreads;
	size_t cap_reads;

	/* Last state reported through changed(). */
	uint8_t seen_state;
	uint64_t seen_term;
	uint64_t seen_vote;
	uint64_t seen_leader;

	struct raft_stats stats;
};

/* raft.c */
int r_api_enter(struct raft *r);	/* guard + clock for mutating calls */
int r_api_exit(struct raft *r, int rc);	/* settle, notify, unguard */
uint64_t r_min(uint64_t a, uint64_t b);
uint64_t r_max(uint64_t a, uint64_t b);
void r_send(struct raft *r, struct raft_msg *m);
void r_persist_state(struct raft *r);
int r_pw_reserve(struct raft *r);
void r_pw_push(struct raft *r, uint64_t seq, uint64_t first, uint64_t last);
int r_append(struct raft *r, const struct raft_entry *e, size_t n,
    uint64_t first, uint64_t term);
void r_persist_log(struct raft *r, uint64_t first, uint64_t last);
void r_truncate(struct raft *r, uint64_t from);
void r_maybe_apply(struct raft *r);
bool r_term_durable(const struct raft *r);
uint64_t r_ack_value(const struct raft *r);
void r_commit_to(struct raft *r, uint64_t idx);

/* membership.c */
void confs_init(struct confs *c);
void confs_free(struct confs *c);
int confs_reserve(struct confs *c, size_t extra);
void confs_push(struct confs *c, uint64_t idx, const struct raft_config *conf);
void confs_truncate(struct confs *c, uint64_t from);
void confs_compact(struct confs *c, uint64_t upto);
void confs_reset(struct confs *c, uint64_t idx, const struct raft_config *conf);
const struct raft_config *confs_latest(const struct confs *c);
uint64_t confs_latest_idx(const struct confs *c);
const struct raft_config *confs_at(const struct confs *c, uint64_t idx);
bool r_is_voter(const struct raft *r, uint64_t id);
void memb_after_commit(struct raft *r);

/* election.c */
void elect_reset_timer(struct raft *r);
void elect_term_update(struct raft *r, uint64_t term, uint64_t vote);
void elect_become_follower(struct raft *r, uint64_t term, uint64_t leader);
void elect_campaign(struct raft *r, bool transfer);
void elect_tally(struct raft *r);
void elect_handle_vote(struct raft *r, const struct raft_msg *m);
void elect_handle_vote_resp(struct raft *r, const struct raft_msg *m);
void elect_handle_timeout_now(struct raft *r, const struct raft_msg *m);
void elect_grant_flush(struct raft *r);
void elect_tick(struct raft *r);
void transfer_check(struct raft *r);
bool elect_learn_leader(struct raft *r, uint64_t from, uint64_t round);

/* replicate.c */
void repl_send_append(struct raft *r, struct progress *p);
void repl_send_heartbeat(struct raft *r, struct progress *p);
void repl_broadcast(struct raft *r);
void repl_heartbeat_tick(struct raft *r);
void repl_commit_tick(struct raft *r);
int repl_leader_append(struct raft *r, const struct raft_entry *e, size_t n);
void repl_handle_append(struct raft *r, const struct raft_msg *m);
void repl_handle_append_resp(struct raft *r, const struct raft_msg *m);
void repl_maybe_commit(struct raft *r);
void repl_follower_ack(struct raft *r);
void repl_respond(struct raft *r, uint8_t type, bool success, uint64_t idx,
    uint64_t hint, uint64_t hint_term);

/* progress.c */
int prog_alloc(struct raft *r);
struct progress *prog_find(struct raft *r, uint64_t id);
void prog_sync(struct raft *r);
void prog_reset_all(struct raft *r);
void prog_become_probe(struct raft *r, struct progress *p, uint64_t next);
void prog_become_replicate(struct raft *r, struct progress *p);
bool prog_inflight_full(const struct raft *r, const struct progress *p);
void prog_inflight_add(struct progress *p, uint64_t last);
void prog_inflight_free_to(struct progress *p, uint64_t idx);
uint32_t prog_voters(const struct raft *r);
uint64_t prog_quorum_match(const struct raft *r);
uint64_t prog_quorum_round(const struct raft *r);
bool prog_round_time(const struct raft *r, uint64_t round, uint64_t *at);
uint64_t prog_quorum_value(uint64_t *v, uint32_t n, uint32_t need);

/* snapshot.c */
void snap_send(struct raft *r, struct progress *p);
void snap_handle(struct raft *r, const struct raft_msg *m);
void snap_maybe_request(struct raft *r);
void snap_after_persist(struct raft *r);

/* read.c */
void read_check(struct raft *r);
void read_fail_all(struct raft *r, int status);
void read_tick(struct raft *r);

#endif
