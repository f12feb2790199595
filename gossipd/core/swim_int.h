/* swim_int.h: the core's private state and the calls between its files.
 * Files by concern: swim.c (life cycle, timers, dispatch, leave and meta,
 * accessors), members.c (the member table and its state precedence:
 * alive, suspect, dead, refutation, reaping), probe.c (the probe cycle,
 * pings, acks, nacks, indirect pings, the TCP fallback), suspect.c
 * (Lifeguard suspicion timers), awareness.c, broadcast.c (the
 * transmit-limited queue, piggybacking, periodic gossip) and pushpull.c
 * (local state, merge, version check, join). Nothing here is visible to
 * the daemon. All times are microseconds of ops->now(). */
#ifndef LICTOR_SWIM_INT_H
#define LICTOR_SWIM_INT_H

#include "swim.h"

#define US_PER_MS		1000ULL
#define COMPOUND_HDR		2	/* [7][n] */
#define COMPOUND_PART		2	/* u16 length per part */
#define USER_MSG_HDR		1	/* [8] */
#define CONFIRM_MAX		16	/* suspicion: distinct confirmers kept */
#define PP_OUT_MAX		64	/* push/pulls in flight */
/* At most 127 parts a packet (the lead included): memberlist 0.2.2, as
 * Debian ships it, counts the length table in a uint8 and misreads a
 * compound of 128 parts or more. */
#define PARTS_MAX		126	/* +1 for the lead */

/* suspect.c: a Lifeguard timer for one suspect node. */
struct suspicion {
	unsigned n;			/* confirmations so far */
	unsigned k;			/* wanted to reach min */
	uint64_t min_us, max_us;
	uint64_t start;
	uint64_t fire_at;
	unsigned nfrom;
	struct gw_bytes from[CONFIRM_MAX];	/* owned copies */
};

/* members.c: one record per known node. */
struct node {
	char *name;			/* NUL-terminated copy */
	size_t name_len;
	uint32_t hash;
	struct node *hnext;		/* hash chain */
	struct swim_addr addr;
	uint8_t *meta;
	size_t meta_len;
	uint8_t vsn[GW_VSN_LEN];
	uint32_t inc;
	uint8_t state;
	uint64_t state_change;
	bool reaped;			/* out of the protocol table */
	uint64_t reaped_at;
	size_t idx;			/* in s->nodes when !reaped */
	struct suspicion *susp;
	struct node *snext;		/* list of suspicions */
};

/* broadcast.c: one queued memberlist broadcast. */
enum bnote { BN_NONE = 0, BN_LEAVE = 1, BN_META = 2 };

struct bcast {
	char *node;			/* invalidation key */
	size_t node_len;
	uint8_t *msg;
	size_t len;
	unsigned transmits;
	uint64_t id;
	uint8_t note;			/* enum bnote */
};

/* A packet being assembled: messages as offsets into buf. */
struct parts {
	struct gw_buf buf;
	size_t off[PARTS_MAX + 1];
	size_t len[PARTS_MAX + 1];
	unsigned n;
};

struct swim_sink {
	struct parts *p;
	size_t room;
	size_t overhead;
};

/* probe.c: the probe in progress (memberlist's probeNode, one at a time). */
struct probe {
	bool active;
	char *name;			/* copy of the target */
	size_t name_len;
	struct swim_addr addr;
	uint32_t inc;			/* as when the probe began */
	uint8_t pmax;
	uint32_t seq;
	uint64_t tick;			/* the probe ticker's time */
	uint64_t sent;
	uint64_t timeout_at;		/* ProbeTimeout: go indirect */
	uint64_t deadline;		/* scaled probe interval */
	bool indirect;
	unsigned expected_nacks;
	unsigned nacks;
	uint8_t tcp;			/* enum tcp_state */
};

enum tcp_state { TCP_NONE = 0, TCP_PENDING = 1, TCP_OK = 2, TCP_FAILED = 3 };

/* probe.c: an indirect ping we relay for another prober. */
struct relay {
	uint32_t local_seq;
	uint32_t req_seq;
	struct swim_addr reply_to;
	bool nack;
	uint64_t expires;
	struct relay *next;
};

struct pp_out {
	uint64_t id;
	bool join;
	bool periodic;
};

struct wait {
	bool active;
	uint64_t deadline;		/* 0: none */
};

struct swim {
	struct swim_config cfg;
	struct swim_ops ops;
	void *arg;
	bool busy;			/* inside a mutating call */
	bool started;
	bool left;
	uint64_t now;			/* clock read at the start of the call */

	char *name;
	size_t name_len;
	struct swim_addr addr;
	uint8_t *meta;
	size_t meta_len;
	uint32_t incarnation;
	uint32_t seq_no;

	/* members.c */
	struct node **nodes;		/* protocol table, probe order */
	size_t n_nodes, cap_nodes;
	struct node **htab;
	size_t hcap, hcount;		/* hcount: every record */
	struct node *self;
	struct node *suspects;		/* nodes with a running timer */

	/* probe.c */
	size_t probe_index;
	uint64_t probe_grid;		/* when the probe ticker began */
	uint64_t probe_at;
	struct probe probe;
	struct relay *relays;

	int awareness;

	/* broadcast.c: sorted by (transmits asc, len desc, id desc) */
	struct bcast **bq;
	size_t bq_n, bq_cap;
	uint64_t bq_id;
	uint64_t gossip_at;

	/* pushpull.c */
	uint64_t pp_at;
	uint64_t pp_id;
	struct pp_out pp[PP_OUT_MAX];
	unsigned pp_n;

	struct wait wait_leave, wait_meta;

	struct gw_buf scratch;		/* encoding one message */
	struct swim_stats st;
};

/* swim.c */
uint64_t sw_rand(struct swim *s, uint64_t n);	/* uniform in [0, n) */
void sw_log(struct swim *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sw_send(struct swim *s, const struct swim_addr *to, uint8_t pmax,
    const uint8_t *pkt, size_t len);
void sw_note_done(struct swim *s, uint8_t note);
bool sw_addr_eq(const struct swim_addr *a, const struct swim_addr *b);
int sw_addr_from(struct swim_addr *a, struct gw_bytes ip, uint16_t port);
size_t sw_budget(const struct swim *s);
void sw_member_view(const struct node *n, struct swim_member *m);
bool sw_bytes_eq(const void *a, size_t alen, const void *b, size_t blen);

/* members.c */
struct node *mem_find(const struct swim *s, const void *name, size_t len);
/* In the protocol table (not reaped). */
struct node *mem_live(const struct swim *s, const void *name, size_t len);
bool mem_is_self(const struct swim *s, const struct node *n);
int mem_alive(struct swim *s, const struct gw_alive *a, uint8_t note,
    bool bootstrap);
int mem_suspect(struct swim *s, const struct gw_suspect *m);
int mem_dead(struct swim *s, const struct gw_suspect *m);
void mem_reset(struct swim *s);		/* reap + shuffle (wrap-around) */
size_t mem_random(struct swim *s, size_t k, struct node **out,
    bool (*skip)(struct swim *s, const struct node *n, void *arg),
    void *arg);
bool mem_any_alive(const struct swim *s);
int mem_forget(struct swim *s, struct node *n);
void mem_free_all(struct swim *s);
int mem_refute(struct swim *s, uint32_t accused);

/* suspect.c */
uint64_t susp_min_us(const struct swim_config *c, size_t n);
unsigned susp_k(const struct swim_config *c, size_t n);
uint64_t susp_timeout_us(uint64_t min, uint64_t max, unsigned n,
    unsigned k);
int susp_start(struct swim *s, struct node *n, struct gw_bytes from);
/* true if from is a new confirmation (the caller re-gossips). */
bool susp_confirm(struct swim *s, struct node *n, struct gw_bytes from);
void susp_stop(struct swim *s, struct node *n);
void susp_tick(struct swim *s);
uint64_t susp_next(const struct swim *s);
void susp_free_all(struct swim *s);

/* awareness.c */
void aw_delta(struct swim *s, int delta);
uint64_t aw_scale(const struct swim *s, uint64_t t);

/* broadcast.c */
int bq_queue(struct swim *s, const void *node, size_t node_len,
    const struct gw_msg *m, uint8_t note);
void bq_free_all(struct swim *s);
/* Appends queued and user broadcasts to p while they fit in limit, each
 * counted with overhead. */
int bq_get(struct swim *s, size_t overhead, size_t limit, struct parts *p);
unsigned bq_limit(const struct swim *s);
int sw_send_msg(struct swim *s, const struct swim_addr *to,
    const struct gw_msg *m);
void gossip_tick(struct swim *s);
void parts_reset(struct parts *p);
int parts_add(struct parts *p, int type, const void *msg, size_t len);
int parts_send(struct swim *s, struct parts *p, const struct swim_addr *to,
    uint8_t pmax);
int sw_encode(struct swim *s, const struct gw_msg *m);	/* -> scratch */

/* probe.c */
void probe_tick(struct swim *s);
uint64_t probe_next(const struct swim *s);
int probe_recv_ping(struct swim *s, const struct swim_addr *from,
    const struct gw_ping *p);
int probe_recv_iping(struct swim *s, const struct swim_addr *from,
    const struct gw_indirect_ping *p);
int probe_recv_ack(struct swim *s, const struct gw_ack *a);
int probe_recv_nack(struct swim *s, const struct gw_nack *n);
int probe_tcp_done(struct swim *s, uint32_t seq, const struct gw_msg *ack);
void probe_free(struct swim *s);

/* pushpull.c */
int pp_local_state(struct swim *s, bool join, struct gw_buf *out);
/* Checks a whole push/pull message (from its [6]); -LE_MALFORMED. */
int pp_decode(struct swim *s, const uint8_t *msg, size_t len,
    struct gw_push_header *hdr, struct gw_push_reader *rd,
    struct gw_bytes *us);
/* join: the exchange's (the initiator merges with its own flag, as
 * memberlist's pushPullNode does). */
int pp_merge(struct swim *s, bool join, struct gw_push_reader rd,
    struct gw_bytes us);
int pp_start(struct swim *s, const struct swim_addr *to, bool join,
    bool periodic, uint64_t *id);
void pp_tick(struct swim *s);
uint64_t pp_interval_us(const struct swim *s);

#endif
