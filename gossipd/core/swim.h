/* swim.h: the SWIM core of gossipd, behaving as HashiCorp memberlist 0.2.2
 * does (docs: ../shared/reference/memberlist-wire.md, "the spec" below;
 * section numbers refer to it). No sockets, clocks, randomness or
 * threads: the clock and randomness come through struct swim_ops, and
 * every effect (a UDP packet, a TCP fallback ping, a push/pull exchange, a
 * member event) leaves through a callback in the same table. gossipd and
 * the deterministic simulator (tests/unit/swim_sim.c) run the same code.
 *
 * Implemented: round-robin probing over a shuffled member list (reshuffle
 * and reap at wrap-around) with the probe interval scaled by the Lifeguard
 * awareness score; ping (ping + suspect as one compound packet when the
 * target is suspect), indirect pings through IndirectChecks random members
 * (with nacks when their pmax >= 4), the TCP fallback ping (pmax >= 3) run
 * by the daemon; Lifeguard suspicion timers that start long and shrink with
 * independent confirmations; incarnations, refutation and state
 * precedence; dead-node reclaim; graceful leave; piggybacked dissemination
 * from a transmit-limited queue with invalidation plus the user delegate's
 * broadcasts; periodic push/pull and join with the version check (§8) and
 * the merge rules (§7.1). Not here (the daemon's): framing below one
 * message (compound splitting on receive, compression, CRC, encryption,
 * label), sockets, TCP streams, name resolution.
 *
 * THREADING. A struct swim is not thread-safe: every call on one instance
 * comes from one thread (gossipd's loop). Callbacks run synchronously
 * inside the swim_* call that caused them. A callback must not call a
 * mutating swim_* function on the same instance (they return -LE_STATE if
 * it does); the read-only accessors (swim_member, swim_members_each,
 * swim_num_members, swim_health, swim_stats, swim_self_incarnation,
 * swim_next_deadline) may be called anywhere, callbacks included. The
 * daemon queues work from callbacks and reports completion from its loop.
 *
 * OWNERSHIP. Every pointer the core passes to a callback (packets,
 * messages, members and their names and meta) points into memory the core
 * owns and stays valid only until that callback returns: copy what you
 * keep. Every pointer the daemon passes in (a decoded message and the
 * packet it borrows from, push/pull bytes, addresses, meta) is only read
 * during the call; the core copies what it keeps and never frees the
 * caller's memory. Output buffers (struct gw_buf) handed to the core are
 * appended to and stay the caller's.
 *
 * OPS CONTRACT.
 *  - now() is monotonic, in microseconds; rand() uniform 64 bits.
 *  - send_udp(): one packet to send as is, after the daemon's own framing
 *    (compression when smaller, CRC when pmax >= 5, encryption, label).
 *    The core keeps every packet within cfg.udp_budget - cfg.layer_overhead
 *    bytes before that framing. pmax is the destination's protocol maximum
 *    when memberlist would have looked the node up for this packet
 *    (gossip, ping + suspect), 0 when it would not (pings, acks, nacks,
 *    indirect pings: memberlist's lookup by address misses, §6.3).
 *  - tcp_ping(): run the TCP fallback ping (§7.3): connect to `to`, send
 *    msg (a complete [0][ping]), read one message back; then, no later
 *    than deadline_us, call swim_tcp_ping_done(seq, ack) with the decoded
 *    reply, or with NULL if the connection or the read failed. A result
 *    that comes later than deadline + probe_timeout is counted as failed.
 *  - push_pull(): run a push/pull exchange (§7.1) with `to`: connect, send
 *    msg (a complete [6] push/pull message), read the reply, peel its
 *    framing, then call swim_push_pull_done(id, 0, reply) or
 *    swim_push_pull_done(id, -LE_*, NULL) on failure (connect, timeout
 *    cfg.tcp_timeout_ms, an err message, garbage). Every call must be
 *    answered exactly once, before swim_free at the latest.
 *  - event(): member events (enum swim_event); other is non-NULL only for
 *    SWIM_EV_CONFLICT (the node that claimed m's name from elsewhere).
 *  - done(): completion of a wait started by swim_leave or swim_set_meta.
 *  - The user delegate (the Serf layer; every hook optional):
 *    get_broadcasts(overhead, limit, sink) adds queued user messages (each
 *    a complete Serf message [serf type][body]; the core frames it as
 *    [8][...]) with swim_sink_add while their lengths, each plus
 *    overhead, fit in limit; notify_user() gets the bytes of every GW_USER
 *    message received (after the [8]); local_state(join, out) appends the
 *    push/pull user state; merge_remote_state(bytes, join) gets the remote
 *    one; merge_check(nodes, join) may veto a join (Consul's merge
 *    delegate, §11.3) by returning non-zero; ack_payload(out) fills ack
 *    payloads (Serf's coordinate, §10.9); ping_complete() reports a direct
 *    probe's round trip and the ack's payload.
 *
 * ERRORS: 0 or a negative LE_* code (common/err.def): -LE_INVAL for bad
 * arguments or configuration, -LE_MALFORMED for garbage from the network
 * (counted in stats, never fatal), -LE_VERSION for a push/pull that fails
 * the version check, -LE_PERM for a vetoed join, -LE_STATE for a call in
 * the wrong state (not started, left, or from inside a callback),
 * -LE_NOTFOUND for an unknown id or name, -LE_NOMEM. */
#ifndef LICTOR_SWIM_H
#define LICTOR_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "gossip_wire.h"

struct swim;				/* opaque */

/* A UDP/TCP endpoint: raw IP bytes as on the wire (§2). */
struct swim_addr {
	uint8_t ip[16];
	uint8_t len;			/* 4 or 16 */
	uint16_t port;
};

/* Same values as enum gw_node_state (push/pull State). */
enum swim_state {
	SWIM_ALIVE = 0,
	SWIM_SUSPECT = 1,
	SWIM_DEAD = 2,
	SWIM_LEFT = 3,
};

/* A member as the core knows it. Pointers valid during the callback or
 * until the next mutating call. */
struct swim_member {
	struct gw_bytes name;
	struct swim_addr addr;
	struct gw_bytes meta;
	uint8_t vsn[GW_VSN_LEN];
	uint32_t incarnation;
	uint8_t state;			/* enum swim_state */
	uint64_t state_change_us;	/* when state last changed */
	bool reaped;			/* forgotten by the protocol, kept for
					   the user (cfg.dead_retain_ms) */
};

enum swim_event {
	SWIM_EV_JOIN = 1,		/* new, or back from dead/left */
	SWIM_EV_UPDATE = 2,		/* meta changed */
	SWIM_EV_FAIL = 3,		/* declared dead */
	SWIM_EV_LEAVE = 4,		/* left gracefully */
	SWIM_EV_REAP = 5,		/* dead/left member dropped from the
					   protocol table (memberlist forgets) */
	SWIM_EV_CONFLICT = 6,		/* another address claims the name */
};

enum swim_wait {
	SWIM_WAIT_LEAVE = 1,		/* our leave has been gossiped */
	SWIM_WAIT_META = 2,		/* our new meta has been gossiped */
};

/* Timing and limits; swim_config_lan/wan/local fill the §12 profiles and
 * every field may be changed after. */
struct swim_config {
	uint32_t probe_interval_ms;
	uint32_t probe_timeout_ms;
	unsigned indirect_checks;
	unsigned suspicion_mult;
	unsigned suspicion_max_timeout_mult;
	unsigned retransmit_mult;
	uint32_t gossip_interval_ms;
	unsigned gossip_nodes;		/* 0: no periodic gossip */
	uint32_t gossip_to_dead_ms;
	uint32_t push_pull_interval_ms;	/* 0: no periodic push/pull */
	uint32_t tcp_timeout_ms;	/* for the daemon's push/pull */
	unsigned awareness_max;		/* AwarenessMaxMultiplier */
	size_t udp_budget;		/* UDPBufferSize, 1400 */
	/* Bytes the daemon's framing adds to a packet (encryption 29, label
	 * 2 + its length, CRC 5); the core packs udp_budget minus this. */
	size_t layer_overhead;
	/* A dead node's name may move to a new address after this long
	 * (memberlist: 0 = never; Consul: 30 s). Left ones always may. */
	uint32_t dead_reclaim_ms;
	bool disable_tcp_pings;
	/* After the protocol forgets a dead (or left) member, keep it
	 * readable through swim_member for this long (0: drop it at once,
	 * as memberlist; UINT64_MAX: until swim_forget). */
	uint64_t dead_retain_ms;
	/* memberlist 0.2.2 never reaps left members (they stay in its table
	 * and in every push/pull); true reaps them like dead ones. */
	bool reap_left;
	uint8_t vsn[GW_VSN_LEN];	/* 1,5,2, 2,5,4 (§8) */
};

void swim_config_lan(struct swim_config *c);
void swim_config_wan(struct swim_config *c);
void swim_config_local(struct swim_config *c);

/* Who we are. Copied by swim_new. */
struct swim_self {
	const char *name;
	size_t name_len;
	struct swim_addr addr;		/* advertised */
	const uint8_t *meta;
	size_t meta_len;		/* <= GW_META_MAX */
};

/* Collects the user delegate's broadcasts (see OPS CONTRACT). 0, or
 * -LE_TOOBIG when msg does not fit (nothing is added). */
struct swim_sink;
int swim_sink_add(struct swim_sink *k, const void *msg, size_t len);

struct swim_ops {
	uint64_t (*now)(void *arg);
	uint64_t (*rand)(void *arg);
	void (*send_udp)(void *arg, const struct swim_addr *to, uint8_t pmax,
	    const uint8_t *pkt, size_t len);
	/* Optional (without it the fallback is not tried). */
	void (*tcp_ping)(void *arg, uint32_t seq, const struct swim_addr *to,
	    const uint8_t *msg, size_t len, uint64_t deadline_us);
	void (*push_pull)(void *arg, uint64_t id, const struct swim_addr *to,
	    bool join, const uint8_t *msg, size_t len);
	/* Optional from here on. */
	void (*event)(void *arg, enum swim_event ev,
	    const struct swim_member *m, const struct swim_member *other);
	void (*done)(void *arg, enum swim_wait what, int status);
	void (*log)(void *arg, int level, const char *msg);	/* 0 warn,
								   1 info */
	void (*get_broadcasts)(void *arg, size_t overhead, size_t limit,
	    struct swim_sink *k);
	void (*notify_user)(void *arg, const uint8_t *msg, size_t len);
	int (*local_state)(void *arg, bool join, struct gw_buf *out);
	void (*merge_remote_state)(void *arg, const uint8_t *buf, size_t len,
	    bool join);
	int (*merge_check)(void *arg, const struct gw_push_node *nodes,
	    size_t n, bool join);
	int (*ack_payload)(void *arg, struct gw_buf *out);
	void (*ping_complete)(void *arg, const struct swim_member *m,
	    uint64_t rtt_us, struct gw_bytes payload);
};

struct swim_stats {
	uint64_t msgs_in;
	uint64_t msgs_bad;		/* malformed or impossible; dropped */
	uint64_t packets_out;
	uint64_t bytes_out;		/* UDP, before the daemon's framing */
	uint64_t gossip_packets;	/* periodic gossip only */
	uint64_t gossip_bytes;
	uint64_t piggybacked;		/* broadcasts riding pings/acks */
	uint64_t probes;
	uint64_t probes_failed;
	uint64_t indirect_pings;	/* sent as prober */
	uint64_t relays;		/* indirect pings served */
	uint64_t nacks_sent;
	uint64_t nacks_recv;
	uint64_t tcp_pings;
	uint64_t tcp_only;		/* only the TCP fallback got through */
	uint64_t suspects;		/* nodes we marked suspect */
	uint64_t deaths;		/* dead by our own suspicion timer */
	uint64_t refutes;
	uint64_t push_pulls;		/* started, periodic and join */
	uint64_t push_pulls_failed;
	uint64_t push_pulls_served;
	uint64_t conflicts;
};

/* Creates an instance; *out is freed with swim_free. c, self and ops are
 * copied. -LE_INVAL on a bad configuration, name or missing required op
 * (now, rand, send_udp, push_pull). */
int swim_new(const struct swim_config *c, const struct swim_self *self,
    const struct swim_ops *ops, void *arg, struct swim **out);
void swim_free(struct swim *s);

/* Marks ourselves alive (incarnation 1, a SWIM_EV_JOIN about ourselves,
 * an alive in the queue) and starts the probe, gossip and push/pull
 * timers, each with a random first delay within its interval. */
int swim_start(struct swim *s);

/* Drives every timer due by now(). Call when now() reaches
 * swim_next_deadline(), or more often. */
int swim_tick(struct swim *s);
/* The earliest time (us) at which swim_tick has work. */
uint64_t swim_next_deadline(const struct swim *s);

/* One decoded memberlist message from a UDP packet whose source was
 * `from` (the parts of a compound one by one, in order). m borrows from
 * the packet only during the call. -LE_MALFORMED for impossible content
 * (also counted); unknown or stream-only types are ignored (0). */
int swim_recv(struct swim *s, const struct swim_addr *from,
    const struct gw_msg *m);

/* A TCP stream that began with a ping (§7.3): the ack to send back is
 * appended to reply ([2][ack]); nothing is appended if the ping names
 * another node. */
int swim_tcp_ping_serve(struct swim *s, const struct gw_msg *ping,
    struct gw_buf *reply);
/* The outcome of ops->tcp_ping(seq): ack is the decoded reply, or NULL. */
int swim_tcp_ping_done(struct swim *s, uint32_t seq, const struct gw_msg *ack);

/* A TCP stream that began with a push/pull (msg: from the [6] on, framing
 * peeled). Appends our state to reply (send it whenever reply->len grew,
 * even when the call then fails), then merges the remote state.
 * -LE_MALFORMED (reply untouched: answer with an err message),
 * -LE_VERSION, -LE_PERM. */
int swim_push_pull_serve(struct swim *s, const uint8_t *msg, size_t len,
    struct gw_buf *reply);
/* The outcome of ops->push_pull(id): status 0 and the reply (from [6]),
 * or a negative status. Returns the merge's result. */
int swim_push_pull_done(struct swim *s, uint64_t id, int status,
    const uint8_t *msg, size_t len);

/* Joins through addr: a push/pull with Join=true (§7.1); *id (may be
 * NULL) names the ops->push_pull call whose outcome, through
 * swim_push_pull_done, is the join's. Call once per address. */
int swim_join(struct swim *s, const struct swim_addr *addr, uint64_t *id);

/* Graceful leave (§9.4): gossips dead about ourselves with From = our
 * name, then done(SWIM_WAIT_LEAVE, 0) once that message has been sent
 * RetransmitMult * ceil(log10(n + 1)) times, at once if no other member
 * is alive, or done(SWIM_WAIT_LEAVE, -LE_TIMEOUT) after timeout_ms (0:
 * no limit). The instance keeps answering pings until swim_free. A
 * second call returns 0 and reports nothing more. */
int swim_leave(struct swim *s, uint32_t timeout_ms);

/* New node meta (Serf tags): gossips an alive with a higher incarnation;
 * done(SWIM_WAIT_META, ...) as for swim_leave. */
int swim_set_meta(struct swim *s, const void *meta, size_t len,
    uint32_t timeout_ms);

/* Drops a dead or left member now (the Serf layer's reap). -LE_NOTFOUND,
 * -LE_STATE if it is alive or suspect. */
int swim_forget(struct swim *s, const void *name, size_t len);

/* Read-only accessors. */
int swim_member(const struct swim *s, const void *name, size_t len,
    struct swim_member *out);
/* Calls each() for every member in the table (reaped-but-retained ones
 * too); returns how many. */
size_t swim_members_each(const struct swim *s,
    void (*each)(void *arg, const struct swim_member *m), void *arg);
/* Members in the protocol table (memberlist's estNumNodes) and how many
 * of them are alive or suspect. */
size_t swim_num_members(const struct swim *s, size_t *alive);
int swim_health(const struct swim *s);		/* awareness score */
uint32_t swim_self_incarnation(const struct swim *s);
const struct swim_stats *swim_stats(const struct swim *s);
const char *swim_state_name(uint8_t state);

/* The Lifeguard suspicion timeout in ms (§9.2) for n known nodes after c
 * independent confirmations (exposed for tests and docs). */
uint64_t swim_suspicion_ms(const struct swim_config *cfg, size_t n,
    unsigned c);

#endif
