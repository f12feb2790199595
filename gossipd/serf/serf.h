/* serf.h: Serf's layer of gossipd, behaving as HashiCorp Serf 0.9.4 does
 * on top of memberlist (docs: ../shared/reference/memberlist-wire.md §10,
 * "the spec" below). It owns one SWIM core (gossipd/core/swim.h) as Go's
 * Serf owns its memberlist, and adds what Serf adds: node tags in the
 * memberlist meta, member statuses (alive, leaving, left, failed) driven
 * by join/leave intents ordered by a Lamport clock, reaping of left and
 * failed members, reconnects to failed members, user events deduplicated
 * in a ring, queries with filters, acks, responses and relays, Serf's
 * push/pull user state, and the snapshot file that lets a restarted agent
 * rejoin (snapshot.c: the only part that does I/O, plain file writes).
 *
 * No sockets, no clock, no randomness: like the core, everything comes
 * through struct serf_ops. The daemon (gossipd/main.c) runs the sockets,
 * the framing (compound, compression, CRC, encryption, label) and the IPC;
 * the simulator (tests/unit/serf_sim_test.c) runs the same code.
 *
 * HOW THE DAEMON DRIVES IT.
 *  - serf_new, then serf_start (starts the core: our own member joins,
 *    timers start, a snapshot's known nodes are rejoined one by one).
 *  - Timers: call serf_tick(sf) when ops->now() reaches
 *    serf_next_deadline(sf) (it covers the core's timers too: serf_tick
 *    runs swim_tick). Re-read the deadline after every call into serf_*
 *    or into the core.
 *  - Network input goes straight to the core, serf_swim(sf): swim_recv
 *    for each message of a UDP packet, swim_tcp_ping_serve,
 *    swim_tcp_ping_done and swim_push_pull_serve for streams. Serf's
 *    messages reach this layer from inside the core (user messages,
 *    push/pull user state).
 *  - EXCEPT push/pull outcomes: call serf_push_pull_done, not
 *    swim_push_pull_done, for every ops->push_pull id (joins are counted
 *    there; ids this layer did not start pass straight through).
 *  - The core's I/O ops (now, rand, send_udp, tcp_ping, push_pull, log)
 *    are serf_ops' own, passed through with the daemon's arg; Serf's
 *    direct sends (query acks and responses, relays) use the same
 *    send_udp with pmax 0, each one complete [8][serf message] packet.
 *
 * THREADING. As the core: one thread per instance; callbacks run inside
 * the serf_* or swim_* call that caused them. From a callback the daemon
 * may call only the read-only functions (serf_member, serf_members_each,
 * serf_num_members, serf_local_member, serf_stats, serf_next_deadline,
 * serf_swim's read-only accessors); mutating calls return -LE_STATE. The
 * one exception is ops->done, which is called only at the very end of
 * serf_tick, outside every other call, where anything may be called.
 *
 * OWNERSHIP. Pointers handed to callbacks (members, names, tags,
 * payloads) stay valid only until the callback returns. Everything the
 * daemon passes in is copied (config, tags, names, payloads, addresses).
 * serf_free frees the core as well.
 *
 * ERRORS: 0 or a negative LE_* code (common/err.def): -LE_INVAL (bad
 * argument or configuration), -LE_TOOBIG (tags, event or query over
 * Serf's limit; nothing is sent), -LE_STATE (wrong state: not started,
 * leaving or left, a call from a callback), -LE_NOTFOUND (unknown member,
 * query or handle), -LE_UNSUPPORTED (queries below protocol 4), -LE_IO
 * (snapshot file), -LE_NOMEM.
 *
 * NOT IMPLEMENTED (yet): network coordinates (ack payloads are the
 * daemon's through ops->ack_payload, Vivaldi is later); name-conflict
 * resolution (Consul turns it off; conflicts are logged; _serf_conflict
 * queries from others are answered); member-event coalescing (Consul
 * does none in the library; the daemon may batch). The key rotation
 * queries (_serf_install-key, use-key, remove-key, list-keys) are
 * answered through ops->keyring when the daemon sets it, and left
 * unanswered (counted) otherwise.
 *
 * DIFFERENT FROM SERF ON PURPOSE: relays forward only query responses
 * (Go forwards any message: a reflector); Lamport clocks stop at the top
 * instead of wrapping to 0; at most 4096 delivered queries await an
 * answer (the oldest handle goes first); a prune of a leaving member is
 * deferred by BroadcastTimeout + LeavePropagateDelay instead of sleeping
 * with the member lock held (a member back alive by then stays); serf_join
 * runs one join at a time (-LE_STATE, where Go's joinLock would block);
 * the snapshot file is created 0600 (Go: 0644) and flushed every 500 ms
 * even without new lines. */
#ifndef LICTOR_SERF_H
#define LICTOR_SERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "gossip_wire.h"
#include "swim.h"

struct serf;				/* opaque */

/* Member statuses: Consul's numbers (/v1/agent/members "Status"). */
enum serf_status {
	SERF_NONE = 0,
	SERF_ALIVE = 1,
	SERF_LEAVING = 2,
	SERF_LEFT = 3,
	SERF_FAILED = 4,
};

/* Member events (Serf's EventMember*). */
enum serf_event {
	SERF_EV_JOIN = 1,
	SERF_EV_LEAVE = 2,		/* left gracefully (or forced) */
	SERF_EV_FAILED = 3,
	SERF_EV_UPDATE = 4,		/* tags changed */
	SERF_EV_REAP = 5,		/* forgotten (timeouts, prune) */
};

/* Asynchronous operations reported through ops->done. */
enum serf_op {
	SERF_OP_JOIN = 1,		/* n: nodes contacted */
	SERF_OP_LEAVE = 2,
	SERF_OP_FORCE_LEAVE = 3,
	SERF_OP_TAGS = 4,
};

struct serf_tag {
	struct gw_bytes key, val;
};

/* A member as Serf sees it. Valid during the callback, or until the next
 * mutating call when returned by an accessor. */
struct serf_member {
	struct gw_bytes name;
	struct swim_addr addr;
	unsigned n_tags;
	const struct serf_tag *tags;	/* Go map order: unspecified */
	uint8_t status;			/* enum serf_status */
	uint64_t status_ltime;		/* Lamport time of the last intent */
	uint8_t vsn[GW_VSN_LEN];	/* pmin pmax pcur dmin dmax dcur */
};
/* The value of tag key (p == NULL when absent). */
struct gw_bytes serf_member_tag(const struct serf_member *m, const char *key);

/* A user event delivered to the daemon (Serf's UserEvent). */
struct serf_user_event {
	uint64_t ltime;
	struct gw_bytes name;
	struct gw_bytes payload;
	bool coalesce;
};

/* A query delivered to the daemon (Serf's Query event). Answer it with
 * serf_query_respond(handle) before deadline_us; the handle is
 * forgotten after the deadline or the one response. */
struct serf_query_in {
	uint64_t handle;
	uint64_t ltime;
	struct gw_bytes name;
	struct gw_bytes payload;
	struct gw_bytes source_node;
	uint64_t deadline_us;		/* ops->now() time */
};

/* The keyring behind the key rotation queries (the daemon's). */
enum serf_key_op {
	SERF_KEY_INSTALL = 1,
	SERF_KEY_USE = 2,
	SERF_KEY_REMOVE = 3,
	SERF_KEY_LIST = 4,
};
#define SERF_KEYS_MAX 16
struct serf_keys {
	unsigned n;
	struct gw_bytes key[SERF_KEYS_MAX];	/* raw keys, primary first */
};

/* Parameters of an outgoing query (Serf's QueryParam). */
struct serf_query_params {
	const struct gw_bytes *filter_nodes;	/* only these answer */
	unsigned n_filter_nodes;
	/* tag -> regular expression; all must match (POSIX ERE, which
	 * agrees with Go's RE2 for the simple patterns people use). */
	const struct serf_tag *filter_tags;
	unsigned n_filter_tags;
	bool request_ack;
	uint8_t relay_factor;
	uint64_t timeout_ms;		/* 0: GossipInterval x
					   QueryTimeoutMult x ceil(log10(n+1)) */
};

struct serf_config {
	struct swim_config swim;	/* serf_config_default: LAN profile;
					   vsn is set by serf_new */
	const char *name;		/* node name, NUL-terminated */
	struct swim_addr addr;		/* advertised address */
	const struct serf_tag *tags;	/* initial tags (copied) */
	unsigned n_tags;
	uint8_t protocol;		/* Serf protocol 2..5; Consul: 4 */
	uint32_t broadcast_timeout_ms;	/* 5 s */
	uint32_t leave_propagate_delay_ms;	/* 1 s; Consul 3 s */
	uint32_t reap_interval_ms;	/* 15 s */
	uint32_t reconnect_interval_ms;	/* 30 s */
	uint64_t reconnect_timeout_ms;	/* 24 h; Consul LAN 72 h */
	uint64_t tombstone_timeout_ms;	/* 24 h */
	uint64_t recent_intent_timeout_ms;	/* 5 min */
	uint32_t queue_check_interval_ms;	/* 30 s */
	unsigned max_queue_depth;	/* 4096 */
	unsigned min_queue_depth;	/* 0; Consul 4096: then the limit is
					   max(min, 2 x members) */
	unsigned event_buffer;		/* 512 */
	unsigned query_buffer;		/* 512 */
	unsigned query_timeout_mult;	/* 16 */
	size_t query_size_limit;	/* 1024 */
	size_t query_response_size_limit;	/* 1024 */
	size_t user_event_size_limit;	/* 512, at most 9216 */
	const char *snapshot_path;	/* NULL: no snapshot */
	bool rejoin_after_leave;	/* Consul's -rejoin */
};

/* Serf's DefaultConfig with the LAN profile (name and addr left empty). */
void serf_config_default(struct serf_config *c);

struct serf_ops {
	/* The core's I/O, passed through (swim.h OPS CONTRACT). */
	uint64_t (*now)(void *arg);
	uint64_t (*rand)(void *arg);
	void (*send_udp)(void *arg, const struct swim_addr *to, uint8_t pmax,
	    const uint8_t *pkt, size_t len);
	void (*tcp_ping)(void *arg, uint32_t seq, const struct swim_addr *to,
	    const uint8_t *msg, size_t len, uint64_t deadline_us);
	void (*push_pull)(void *arg, uint64_t id, const struct swim_addr *to,
	    bool join, const uint8_t *msg, size_t len);
	void (*log)(void *arg, int level, const char *msg);	/* optional;
								   0 warn,
								   1 info,
								   2 debug */
	/* Optional, passed through: Consul's merge delegate (§11.3) and
	 * coordinates in acks (§10.9). */
	int (*merge_check)(void *arg, const struct gw_push_node *nodes,
	    size_t n, bool join);
	int (*ack_payload)(void *arg, struct gw_buf *out);
	void (*ping_complete)(void *arg, const struct swim_member *m,
	    uint64_t rtt_us, struct gw_bytes payload);

	/* Serf's events; all optional. */
	void (*member_event)(void *arg, enum serf_event ev,
	    const struct serf_member *m);
	void (*user_event)(void *arg, const struct serf_user_event *ev);
	/* A query that passed its filters (internal _serf_ queries are
	 * handled here and never delivered). */
	void (*query)(void *arg, const struct serf_query_in *q);
	/* Our own query qid (serf_query): an ack, a response (each node
	 * once), and the end at its timeout. */
	void (*query_ack)(void *arg, uint64_t qid, struct gw_bytes from);
	void (*query_response)(void *arg, uint64_t qid, struct gw_bytes from,
	    struct gw_bytes payload);
	void (*query_done)(void *arg, uint64_t qid);
	/* Optional: Serf's KeyManager side of a node. install, use and
	 * remove get the raw key and return 0, or -LE_* with *msg the text
	 * to report (memberlist's, e.g. "Requested key is not in the
	 * keyring"; NULL: le_strerror); list fills *keys (valid until it
	 * returns). -LE_UNSUPPORTED: encryption is off (Serf's "No keyring
	 * to modify (encryption not enabled)"). Keyring files are the
	 * daemon's too. */
	int (*keyring)(void *arg, enum serf_key_op op, struct gw_bytes key,
	    struct serf_keys *keys, const char **msg);
	/* The end of serf_join / serf_leave / serf_force_leave /
	 * serf_set_tags, called at the end of serf_tick (see THREADING).
	 * status 0 or -LE_*; n: for SERF_OP_JOIN, nodes contacted (status
	 * is the last failure when n is 0). */
	void (*done)(void *arg, enum serf_op op, uint64_t token, int status,
	    unsigned n);
};

struct serf_stats {
	/* Serf's Stats() */
	size_t members, failed, left;
	uint64_t member_time, event_time, query_time;
	size_t intent_queue, event_queue, query_queue;
	/* counters */
	uint64_t msgs_in;		/* Serf messages received */
	uint64_t msgs_bad;		/* undecodable; dropped */
	uint64_t intents_in;
	uint64_t events_in;		/* user events delivered */
	uint64_t events_old;		/* dropped as older than the ring */
	uint64_t queries_in;		/* delivered or internal */
	uint64_t queries_filtered;	/* not for us */
	uint64_t queries_unanswered;	/* internal ones we don't serve */
	uint64_t responses_in;
	uint64_t relays;		/* relayed for others */
	uint64_t reconnects;
	uint64_t reaped;
	uint64_t queue_pruned;
};

/* Creates an instance and its core (not started). c, c->tags and c->name
 * are copied. With a snapshot path the file is opened (created 0600)
 * and replayed here: clocks restored, known nodes kept for serf_start.
 * -LE_INVAL bad configuration or missing op (now, rand, send_udp,
 * push_pull), -LE_TOOBIG tags over 512 bytes encoded, -LE_IO snapshot. */
int serf_new(const struct serf_config *c, const struct serf_ops *ops,
    void *arg, struct serf **out);
/* Closes the snapshot (flushed and synced) and frees the core. */
void serf_free(struct serf *sf);

/* Starts the core; rejoins the snapshot's alive nodes (one at a time
 * until one answers, as Serf's handleRejoin; no join intent). */
int serf_start(struct serf *sf);

/* The core, for the network input calls listed above. */
struct swim *serf_swim(struct serf *sf);

int serf_tick(struct serf *sf);
uint64_t serf_next_deadline(const struct serf *sf);

/* The outcome of ops->push_pull(id), instead of swim_push_pull_done. */
int serf_push_pull_done(struct serf *sf, uint64_t id, int status,
    const uint8_t *msg, size_t len);

/* Serf's Join: a push/pull join with each address (in parallel); once
 * all have answered, if any did, a join intent is broadcast, and
 * done(SERF_OP_JOIN, token, status, n). ignore_old: user events older
 * than the join are not delivered (Serf's eventJoinIgnore). One join at
 * a time: -LE_STATE (as Go's joinLock would make it wait) while one is
 * running. */
int serf_join(struct serf *sf, const struct swim_addr *addrs, unsigned n,
    bool ignore_old, uint64_t token);

/* Serf's Leave: status leaving, a leave intent (waits for it to be sent,
 * at most broadcast_timeout), the core's leave (same bound), then
 * leave_propagate_delay, then left and done(SERF_OP_LEAVE). The snapshot
 * records "leave". -LE_STATE if a leave is running; once left, 0 and a
 * done with status 0. */
int serf_leave(struct serf *sf, uint64_t token);

/* Serf's force-leave (RemoveFailedNode[Prune]): a leave intent about
 * node, processed here (a failed member becomes left; prune erases it),
 * then broadcast; done(SERF_OP_FORCE_LEAVE) once sent or after
 * broadcast_timeout (-LE_TIMEOUT). */
int serf_force_leave(struct serf *sf, struct gw_bytes node, bool prune,
    uint64_t token);

/* New tags (replacing all): the core gossips new meta;
 * done(SERF_OP_TAGS) once sent (or -LE_TIMEOUT). -LE_TOOBIG over 512
 * bytes encoded. */
int serf_set_tags(struct serf *sf, const struct serf_tag *tags, unsigned n,
    uint64_t token);

/* Serf's UserEvent: name + payload <= user_event_size_limit and the
 * encoded message too, else -LE_TOOBIG; -LE_STATE unless started and
 * alive (not leaving or left). Delivered locally at once
 * (ops->user_event) and gossiped. *ltime (may be NULL): its time. */
int serf_user_event(struct serf *sf, struct gw_bytes name,
    struct gw_bytes payload, bool coalesce, uint64_t *ltime);

/* Serf's Query (protocol >= 4): gossiped and processed locally; acks and
 * responses come back through ops->query_ack/query_response with *qid,
 * until ops->query_done at the timeout. -LE_TOOBIG over
 * query_size_limit, -LE_INVAL a bad filter regex. */
int serf_query(struct serf *sf, struct gw_bytes name, struct gw_bytes payload,
    const struct serf_query_params *p, uint64_t *qid);
/* Ends an outgoing query early (no query_done). */
int serf_query_close(struct serf *sf, uint64_t qid);

/* Answers a delivered query (once): sent to the querier directly and
 * through relay_factor random members. -LE_NOTFOUND unknown or past its
 * deadline, -LE_EXISTS already answered, -LE_TOOBIG over
 * query_response_size_limit. */
int serf_query_respond(struct serf *sf, uint64_t handle,
    struct gw_bytes payload);

/* Read-only accessors. */
int serf_member(const struct serf *sf, struct gw_bytes name,
    struct serf_member *out);
size_t serf_members_each(const struct serf *sf,
    void (*each)(void *arg, const struct serf_member *m), void *arg);
size_t serf_num_members(const struct serf *sf);	/* every status */
int serf_local_member(const struct serf *sf, struct serf_member *out);
/* Our own state: SERF_ALIVE, SERF_LEAVING or SERF_LEFT. */
enum serf_status serf_state(const struct serf *sf);
void serf_stats(const struct serf *sf, struct serf_stats *out);
const char *serf_status_name(uint8_t status);
/* The default query timeout for the current size, ms. */
uint64_t serf_default_query_timeout_ms(const struct serf *sf);

#endif
