/* raft.h: the Raft consensus core. No sockets, files, clocks, randomness
 * or threads: the clock and randomness come through struct raft_ops, and
 * every effect (a message to send, a write to make durable, an entry to
 * apply, a snapshot to take) leaves through a callback in the same table.
 * The daemon (raftd) and the deterministic simulator (tests/unit/raft_sim.c)
 * run the same code.
 *
 * Implemented: elections with pre-vote, check-quorum and leader stickiness;
 * leader lease (raft_lease_read) and read-index (raft_read_index) reads;
 * leadership transfer (TimeoutNow); single-server membership changes that
 * take effect when appended; snapshots (taken by the state machine,
 * installed whole on lagging followers) with log compaction; pipelined
 * replication (a window of AppendEntries in flight per follower, optimistic
 * next index, fall back to probing on a reject); asynchronous persistence
 * (group commit). Forwarding proposals to the leader is the daemon's job.
 *
 * THREADING. A struct raft is not thread-safe: every call on one instance
 * comes from one thread (raftd's loop). Callbacks run synchronously inside
 * the raft_* call that caused them. A callback must not call a mutating
 * raft_* function on the same instance (they return -LE_STATE if it does);
 * the read-only accessors (raft_status, raft_config_get, raft_log_term,
 * raft_log_entry, raft_progress, raft_stats, raft_snapshot_meta) may be
 * called anywhere, callbacks included. The daemon queues work from
 * callbacks and reports completion from its loop.
 *
 * OWNERSHIP. Every pointer the core passes to a callback (messages, entries
 * and their data, snapshots, configurations) points into memory the core
 * owns and stays valid only until that callback returns: copy what you keep.
 * Every pointer the daemon passes in (raft_step's message, raft_start's boot
 * state, proposal data, snapshot data) is only read during the call; the
 * core copies what it keeps and never frees the caller's memory.
 *
 * PERSISTENCE CONTRACT (asynchronous; lets the daemon group-commit).
 * persist_state, persist_entries and persist_snapshot each carry a sequence
 * number that grows by one per request across all three kinds. The daemon
 * makes requests durable in sequence order (it may put many in one write
 * batch and one fsync) and then calls raft_persisted(r, seq) with the
 * highest sequence number now durable. Each request must be atomic (a crash
 * leaves it wholly done or wholly undone). Until told, the core does not
 * count its own log toward a commit, grant a vote, count its own vote,
 * acknowledge entries to a leader, or apply entries. A crash may lose any
 * suffix of requests not yet reported; the daemon then restarts the core
 * with raft_start from whatever is durable.
 *
 * APPLY CONTRACT. apply() and restore() form one ordered stream: the
 * daemon hands them to the state machine in the order the core issued
 * them. Entries arrive in index order, each exactly once per state machine
 * (after a restart: from raft_boot.applied + 1), including no-op and
 * configuration entries, which the state machine skips but must count.
 * The daemon reports progress with raft_applied(r, index).
 *
 * SNAPSHOTS are whole, never chunked, in the core: an InstallSnapshot
 * message carries the complete snapshot bytes (the transport may split
 * them into chunks on the wire and must reassemble them before raft_step).
 * The core keeps a copy of its latest snapshot to send to followers; the
 * bytes are opaque to it.
 *
 * ERRORS: 0 or a negative LE_* code (common/err.def). The codes below name
 * what the core means; they map to the nearest existing LE_* code until
 * err.def grows dedicated ones (see docs/raft.md).
 */
#ifndef LICTOR_RAFT_H
#define LICTOR_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define RAFT_E_NOTLEADER	LE_NOTLEADER	/* not the leader */
#define RAFT_E_LOST		LE_LOST		/* leadership lost first */
#define RAFT_E_BUSY		LE_STATE	/* change/transfer under way */

struct raft;				/* opaque */

#define RAFT_MAX_SERVERS	16	/* voters and non-voters together */
#define RAFT_ADDR_MAX		255	/* bytes, excluding the NUL */
#define RAFT_INFLIGHT_MAX	256	/* cap on raft_options.max_inflight */
/* Terms and indexes at or above this are garbage from the network. */
#define RAFT_LIMIT		(UINT64_C(1) << 62)
#define RAFT_REAP_PER_TICK	8192	/* compacted entries freed per tick */

enum raft_state {
	RAFT_FOLLOWER = 0,
	RAFT_PRECANDIDATE = 1,
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3,
};

/* A server's membership role. */
enum raft_member {
	RAFT_VOTER = 1,
	RAFT_NONVOTER = 2,
};

struct raft_server {
	uint64_t id;			/* never 0 */
	uint8_t role;			/* enum raft_member */
	char addr[RAFT_ADDR_MAX + 1];	/* NUL-terminated, opaque to the core */
};

struct raft_config {
	uint32_t n;
	struct raft_server servers[RAFT_MAX_SERVERS];
};

enum raft_entry_type {
	RAFT_ENTRY_NORMAL = 1,		/* a state machine command */
	RAFT_ENTRY_CONFIG = 2,		/* data = raft_config_encode() */
	RAFT_ENTRY_NOOP = 3,		/* barrier a new leader appends */
};

struct raft_entry {
	uint64_t index;
	uint64_t term;
	uint8_t type;			/* enum raft_entry_type */
	size_t len;
	const void *data;		/* NULL when len == 0 */
};

struct raft_snapshot {
	uint64_t index;			/* last entry the snapshot covers */
	uint64_t term;			/* that entry's term */
	struct raft_config conf;	/* configuration as of index */
	size_t len;
	const void *data;		/* opaque state machine bytes */
};

enum raft_msg_type {
	RAFT_MSG_VOTE = 1,		/* RequestVote */
	RAFT_MSG_VOTE_RESP = 2,
	RAFT_MSG_PREVOTE = 3,		/* term = the sender's next term */
	RAFT_MSG_PREVOTE_RESP = 4,	/* granted: term = requested term */
	RAFT_MSG_APPEND = 5,		/* AppendEntries, also heartbeats */
	RAFT_MSG_APPEND_RESP = 6,
	RAFT_MSG_SNAPSHOT = 7,		/* InstallSnapshot, whole */
	RAFT_MSG_SNAPSHOT_RESP = 8,
	RAFT_MSG_TIMEOUT_NOW = 9,	/* leadership transfer: campaign now */
};

struct raft_vote {			/* VOTE, PREVOTE */
	uint64_t last_index;
	uint64_t last_term;
	bool transfer;			/* after TimeoutNow: no stickiness */
};

struct raft_vote_resp {			/* VOTE_RESP, PREVOTE_RESP */
	bool granted;
};

struct raft_append {			/* APPEND */
	uint64_t prev_index;
	uint64_t prev_term;
	uint64_t commit;
	/* Heartbeat round, echoed in responses: proves a follower was still
	 * in this term after the round started (lease, read-index). */
	uint64_t round;
	size_t n;
	const struct raft_entry *entries;	/* indexes prev_index+1 ... */
};

/* APPEND_RESP and SNAPSHOT_RESP. success: the follower's log matches the
 * leader's up to index (prev_index + n of the message answered, or what
 * it verified before), and it holds every entry up to match durably
 * (match <= index; acknowledgements of entries still being made durable
 * follow in later responses; a sender may leave index 0, the receiver
 * then uses match). !success: the entry at index (the message's
 * prev_index) did not match; hint_index/hint_term let the leader skip a
 * whole conflicting term at once. */
struct raft_append_resp {
	bool success;
	uint64_t index;
	uint64_t match;
	uint64_t hint_index;
	uint64_t hint_term;
	uint64_t round;			/* latest round seen from the leader */
};

struct raft_snapshot_msg {		/* SNAPSHOT */
	uint64_t round;
	struct raft_snapshot snap;
};

struct raft_msg {
	uint8_t type;			/* enum raft_msg_type */
	uint64_t from;
	uint64_t to;
	uint64_t term;
	union {
		struct raft_vote vote;
		struct raft_vote_resp vote_resp;
		struct raft_append append;
		struct raft_append_resp append_resp;
		struct raft_snapshot_msg snapshot;
		struct raft_append_resp snapshot_resp;
	} u;
};

struct raft_status {
	uint64_t id;
	uint8_t state;			/* enum raft_state */
	bool voter;			/* voter in the latest config */
	uint64_t term;
	uint64_t vote;
	uint64_t leader;		/* 0: none known */
	uint64_t commit;
	uint64_t applied;		/* as reported by raft_applied */
	uint64_t last_index;
	uint64_t last_term;
	uint64_t durable_index;		/* log prefix known durable */
	uint64_t snapshot_index;
	/* Milliseconds since the last message from the leader (0 on the
	 * leader; UINT64_MAX when no leader has been heard in this term):
	 * X-Consul-LastContact. */
	uint64_t last_contact_ms;
};

struct raft_stats {
	uint64_t msgs_in;
	uint64_t msgs_bad;		/* malformed or impossible; dropped */
	uint64_t msgs_stale;		/* old term or stale answer */
	uint64_t logs_lost;		/* a follower lost acknowledged entries */
	uint64_t msgs_out;
	uint64_t elections;		/* real elections started */
	uint64_t prevotes;
	uint64_t leader_terms;		/* times this server became leader */
	uint64_t stepdowns_quorum;	/* check-quorum step-downs */
	uint64_t snapshots_sent;
	uint64_t snapshots_installed;
	uint64_t snapshots_taken;
	uint64_t probes;		/* replicate -> probe fall-backs */
};

struct raft_options {
	uint32_t election_timeout_ms;	/* randomized in [t, 2t) */
	uint32_t heartbeat_ms;
	/* A follower with nothing more to receive learns a commit this long
	 * after it (at the next tick past it), unless an append carries it
	 * first or raft_tell_commit asks for it at once; 0 = at once.
	 * Consul's CommitTimeout (50 ms). */
	uint32_t commit_timeout_ms;
	/* A leader answers raft_lease_read for this long after a quorum
	 * acknowledged a round. Must stay below election_timeout_ms by more
	 * than the worst clock drift; 0 = 90% of the election timeout. */
	uint32_t lease_ms;
	bool prevote;
	bool check_quorum;
	uint32_t max_inflight;		/* AppendEntries in flight per peer */
	uint32_t max_batch_entries;	/* entries per AppendEntries */
	size_t max_batch_bytes;		/* data bytes per AppendEntries */
	size_t max_entry_bytes;		/* larger entries are refused */
	size_t max_msg_entries;		/* larger incoming messages are bad */
	/* Backpressure: proposals get -RAFT_E_BUSY while this many entries
	 * are appended but not committed (0: no limit). */
	uint64_t max_uncommitted;
	/* Ask for a snapshot when this many entries were applied since the
	 * last one (0: never), and keep this many entries behind it. */
	uint64_t snapshot_threshold;
	uint64_t snapshot_trailing;
};

struct raft_ops {
	uint64_t (*now)(void *ctx);	/* monotonic milliseconds */
	uint64_t (*rand)(void *ctx);	/* uniform 64 bits */

	void (*send)(void *ctx, const struct raft_msg *m);

	/* Durable storage (see PERSISTENCE CONTRACT). persist_entries
	 * deletes every stored entry with index >= first, then stores
	 * e[0..n). persist_snapshot stores the snapshot and deletes the whole
	 * log; the daemon must also keep it as the snapshot to load at the
	 * next start. */
	void (*persist_state)(void *ctx, uint64_t seq, uint64_t term,
	    uint64_t vote);
	void (*persist_entries)(void *ctx, uint64_t seq, uint64_t first,
	    const struct raft_entry *e, size_t n);
	void (*persist_snapshot)(void *ctx, uint64_t seq,
	    const struct raft_snapshot *s);
	/* Not sequenced, optional: entries up to index are covered by a
	 * durable snapshot and may be deleted from storage. */
	void (*compact)(void *ctx, uint64_t index);

	/* The apply stream (see APPLY CONTRACT). restore(): replace the
	 * state machine with the snapshot, then continue with its index+1. */
	void (*apply)(void *ctx, const struct raft_entry *e, size_t n);
	void (*restore)(void *ctx, const struct raft_snapshot *s);
	/* Optional: take a snapshot of the state machine at an applied index
	 * >= index (and no further than what apply() handed out), store it
	 * durably, never over a snapshot with a higher index, then call
	 * raft_snapshot_done. */
	void (*snapshot)(void *ctx, uint64_t index);

	/* Outcome of every entry this server appended as leader, once:
	 * status 0 = committed at (index, term); -RAFT_E_LOST = leadership
	 * was lost first (the outcome is unknown: a later leader may still
	 * commit it, as in Consul's "leadership lost while committing log"). */
	void (*result)(void *ctx, uint64_t index, uint64_t term, uint8_t type,
	    int status);
	/* raft_read_index outcome: status 0 = answer once applied >= index;
	 * -RAFT_E_NOTLEADER = leadership lost; -LE_TIMEOUT = no quorum. */
	void (*read_done)(void *ctx, uint64_t id, uint64_t index, int status);
	/* Optional: state, term, vote or leader changed. */
	void (*changed)(void *ctx, const struct raft_status *st);
};

/* What is durable, handed to raft_start. snap may be NULL. entries are
 * the stored log in index order (those covered by snap are skipped).
 * applied is the state machine's own durable applied index. */
struct raft_boot {
	uint64_t term;
	uint64_t vote;
	const struct raft_snapshot *snap;
	const struct raft_entry *entries;
	size_t n_entries;
	uint64_t applied;
};

void raft_options_default(struct raft_options *o);

/* Creates an instance; *out is freed with raft_free. ops and o are copied.
 * -LE_INVAL on bad options or a missing required op. */
int raft_new(uint64_t id, const struct raft_options *o,
    const struct raft_ops *ops, void *ctx, struct raft **out);
void raft_free(struct raft *r);

/* Loads the durable state (call once, before anything else). A brand new
 * server passes a zeroed struct raft_boot. -LE_CORRUPT if the stored state
 * is inconsistent (entries not contiguous after the snapshot, terms going
 * down or above the stored term, undecodable configurations, applied past
 * the log), which the persistence contract rules out. May issue restore()
 * when applied < snap->index. The server stays out of elections for one
 * election timeout: it may have acknowledged a leader whose lease that
 * protects. */
int raft_start(struct raft *r, const struct raft_boot *b);

/* Starts a new cluster on a server with an empty log: appends conf as the
 * entry at index 1, term 1. Every bootstrapping server must pass the same
 * configuration, and it must list this server as a voter. */
int raft_bootstrap(struct raft *r, const struct raft_config *conf);

/* Drives timers; call at least every heartbeat_ms / 2. Each tick also
 * frees the data of up to RAFT_REAP_PER_TICK entries a snapshot compacted
 * (a bounded piece of work, not all at once). */
int raft_tick(struct raft *r);

/* A message from a peer. Returns 0 (handled or ignored), -LE_MALFORMED
 * (garbage, counted and dropped) or -LE_NOMEM. Never aborts on input. */
int raft_step(struct raft *r, const struct raft_msg *m);

/* Requests up to and including seq are durable. */
int raft_persisted(struct raft *r, uint64_t seq);

/* The state machine applied everything up to index. */
int raft_applied(struct raft *r, uint64_t index);

/* The snapshot asked for by ops->snapshot. Protocol: the state machine
 * produces its bytes at some applied index M >= the index asked for; the
 * daemon gets the rest of the metadata with raft_snapshot_meta(r, M),
 * stores metadata and bytes durably (never over a snapshot with a higher
 * index), then calls raft_snapshot_done(r, M, bytes, len), after which the
 * core compacts (ops->compact). data is copied. Stale snapshots (M not
 * above the current snapshot) are ignored and return 0. */
int raft_snapshot_done(struct raft *r, uint64_t index, const void *data,
    size_t len);
/* The same without the copy: data (from malloc, or NULL when len is 0)
 * becomes the core's whatever the outcome (freed if not kept). */
int raft_snapshot_done_take(struct raft *r, uint64_t index, void *data,
    size_t len);
/* Read-only: index, term and configuration as of index (data NULL), for
 * a snapshot taken there. -LE_NOTFOUND if the entry is not in the log. */
int raft_snapshot_meta(const struct raft *r, uint64_t index,
    struct raft_snapshot *meta);

/* Leader only: appends a command (type RAFT_ENTRY_NORMAL or _NOOP) and
 * starts replicating it. index and term (may be NULL) identify it for the
 * result() callback. -RAFT_E_NOTLEADER, -RAFT_E_BUSY during a transfer or
 * past max_uncommitted, -LE_TOOBIG over max_entry_bytes. The batch form
 * appends n entries with consecutive indexes (their index/term fields are
 * ignored). */
int raft_propose(struct raft *r, uint8_t type, const void *data, size_t len,
    uint64_t *index, uint64_t *term);
int raft_propose_batch(struct raft *r, const struct raft_entry *e, size_t n,
    uint64_t *first_index, uint64_t *term);

/* Membership, leader only, one change at a time: -RAFT_E_BUSY while the
 * previous change is uncommitted or before the leader committed an entry
 * of its term. The change takes effect as soon as it is appended. Add a
 * server as a non-voter, wait until raft_progress shows it caught up,
 * then promote it with raft_assign. *index (may be NULL) is the entry's
 * index; result() reports its commit. */
int raft_add_server(struct raft *r, uint64_t id, const char *addr,
    uint8_t role, uint64_t *index);
int raft_assign(struct raft *r, uint64_t id, uint8_t role, uint64_t *index);
int raft_remove_server(struct raft *r, uint64_t id, uint64_t *index);

/* Leader only: hands leadership to `to` (0: the most up-to-date voter).
 * Proposals get -RAFT_E_BUSY until the transfer ends or times out (one
 * election timeout). */
int raft_transfer(struct raft *r, uint64_t to);

/* Leader only: confirms leadership with a quorum heartbeat round and then
 * calls read_done(id, index, 0); the daemon answers the read once the
 * state machine applied index. Batch many client reads under one id. */
int raft_read_index(struct raft *r, uint64_t id);

/* Leader only: follower id waits to learn that index (0: our commit) is
 * committed, because a proposal or read it forwarded was just answered:
 * it is told as soon as it holds the entry, without waiting for
 * commit_timeout_ms. No effect elsewhere. */
int raft_tell_commit(struct raft *r, uint64_t id, uint64_t index);

/* Leader only, no network round: *index is safe to read at (once applied)
 * while the leader's lease holds. -RAFT_E_NOTLEADER, or -LE_UNAVAIL when
 * the lease is not held (fall back to raft_read_index). */
int raft_lease_read(struct raft *r, uint64_t *index);

/* Read-only accessors. */
void raft_status(const struct raft *r, struct raft_status *st);
/* committed: the configuration as of the commit index, else the latest
 * (which is the one in effect). */
void raft_config_get(const struct raft *r, bool committed,
    struct raft_config *out);
/* 0 and *term, or -LE_NOTFOUND if index is compacted or beyond the log. */
int raft_log_term(const struct raft *r, uint64_t index, uint64_t *term);
/* The entry, valid until the next mutating call; NULL if not held. */
const struct raft_entry *raft_log_entry(const struct raft *r, uint64_t index);
/* Leader only: what the leader knows of a peer. -LE_NOTFOUND otherwise.
 * last_contact_ms: since its last response. */
int raft_progress(const struct raft *r, uint64_t id, uint64_t *match,
    uint64_t *last_contact_ms);
const struct raft_stats *raft_stats(const struct raft *r);
const char *raft_state_name(uint8_t state);

/* Configuration helpers. Encoding: version byte 1, count byte, then per
 * server: id (8 bytes big-endian), role byte, address length byte, address
 * bytes. decode validates everything (-LE_MALFORMED). */
int raft_config_check(const struct raft_config *c);
/* Returns the bytes needed; writes only if cap suffices. */
size_t raft_config_encode(const struct raft_config *c, uint8_t *buf,
    size_t cap);
int raft_config_decode(const void *buf, size_t len, struct raft_config *c);
const struct raft_server *raft_config_find(const struct raft_config *c,
    uint64_t id);
bool raft_config_is_voter(const struct raft_config *c, uint64_t id);

#endif
