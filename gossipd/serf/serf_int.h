/* serf_int.h: the Serf layer's private state and the calls between its
 * files. Files by concern: serf.c (life cycle, configuration, the core's
 * hooks, timers, join/leave/tags operations and their completions,
 * accessors), members.c (the member table, statuses, intents and the
 * recent-intent buffer, reaping, reconnects, force-leave), events.c (the
 * Lamport clocks' user events, the event ring, the push/pull user state),
 * query.c (queries out and in, filters, acks, responses, relays, internal
 * queries), bcast.c (the three transmit-limited queues) and snapshot.c
 * (the snapshot file, the only I/O). Times are ops->now() microseconds. */
#ifndef LICTOR_SERF_INT_H
#define LICTOR_SERF_INT_H

#include "serf.h"
#include "snapshot.h"

#define US_PER_MS	1000ULL
#define SERF_PMIN	2		/* delegate protocol Serf understands */
#define SERF_PMAX	5
#define WAITS_MAX	32		/* force-leaves waiting at once */
#define JOIN_MAX	64		/* addresses in one serf_join */

/* A name-keyed hash table of records that embed struct nent first. */
struct nent {
	char *name;			/* NUL-terminated copy */
	size_t len;
	uint32_t hash;
	struct nent *next;
};
struct ntab {
	struct nent **b;
	size_t cap, count;
};
uint32_t sfn_hash(const void *p, size_t len);
struct nent *sfn_find(const struct ntab *t, const void *name, size_t len);
/* Inserts e (its name fields set by sfn_name); -LE_NOMEM. */
int sfn_insert(struct ntab *t, struct nent *e);
void sfn_remove(struct ntab *t, struct nent *e);
int sfn_name(struct nent *e, const void *name, size_t len);
void sfn_free(struct ntab *t);

struct lclock {
	uint64_t v;
};
static inline uint64_t lc_time(const struct lclock *c) { return c->v; }
static inline uint64_t
lc_inc(struct lclock *c)
{
	return c->v == UINT64_MAX ? c->v : ++c->v;
}
/* Go's Witness wraps to 0 past the top (a hostile time resets the
 * clock); we stay at the top instead. */
static inline void
lc_witness(struct lclock *c, uint64_t v)
{
	if (v >= c->v)
		c->v = v == UINT64_MAX ? v : v + 1;
}

/* members.c: one member as Serf keeps it. */
struct smember {
	struct nent e;			/* first */
	size_t idx;			/* in sf->mv */
	struct swim_addr addr;
	uint8_t *meta;			/* tags point into it */
	size_t meta_len;
	struct serf_tag *tags;
	unsigned n_tags;
	uint8_t status;
	uint64_t status_ltime;
	uint64_t leave_time;		/* when it failed or left */
	uint8_t vsn[GW_VSN_LEN];
	uint64_t prune_at;		/* deferred prune of a leaving one */
};

/* members.c: an intent about a node we do not know yet. */
struct intent {
	struct nent e;
	uint8_t type;			/* GS_JOIN or GS_LEAVE */
	uint64_t ltime;
	uint64_t seen;
};

/* bcast.c: memberlist's TransmitLimitedQueue for Serf's messages. */
struct qmsg {
	uint8_t *msg;
	size_t len;
	unsigned transmits;
	uint64_t id;
	int wait;			/* index into sf->waits + 1, or 0 */
};
struct tlq {
	struct qmsg **v;		/* sorted: transmits asc, len desc,
					   id desc */
	size_t n, cap;
};

/* events.c: one slot of the user event ring. */
struct evslot {
	bool used;
	uint64_t ltime;
	unsigned n, cap;
	struct gs_event *ev;		/* names and payloads owned */
};

/* query.c: one slot of the query dedup ring. */
struct qslot {
	bool used;
	uint64_t ltime;
	unsigned n, cap;
	uint32_t *ids;
};

/* query.c: a query we sent, collecting acks and responses. */
struct qout {
	uint64_t qid;
	uint64_t ltime;
	uint32_t id;
	uint64_t deadline;
	bool want_acks;
	struct ntab acks, resps;	/* names seen (bare nents) */
	struct qout *next;
};

/* query.c: a query delivered to the daemon, awaiting its response. */
struct qin {
	uint64_t handle;
	uint64_t ltime;
	uint32_t id;
	struct swim_addr from;		/* where the answer goes */
	char *source;
	size_t source_len;
	uint8_t relay_factor;
	uint64_t deadline;
	bool responded;
	struct qin *next;
};

/* serf.c: a broadcast somebody waits for (leave, force-leave). */
struct bwait {
	bool active;
	bool sent;
	uint8_t op;			/* enum serf_op */
	uint64_t token;
	uint64_t deadline;
};

/* serf.c: a completion to report at the end of serf_tick. */
struct done_ev {
	uint8_t op;
	uint64_t token;
	int status;
	unsigned n;
};

enum leave_step {
	LS_NONE = 0,
	LS_INTENT,			/* waiting for the intent to go out */
	LS_SWIM,			/* call swim_leave */
	LS_SWIM_WAIT,			/* the core's leave is being sent */
	LS_PROPAGATE,			/* LeavePropagateDelay */
	LS_STUCK,			/* failed: Serf stays "leaving" */
	LS_DONE,
};

struct serf {
	struct serf_config cfg;
	struct serf_ops ops;
	void *arg;
	struct swim *sw;
	bool busy;
	bool started;
	uint64_t now;
	uint8_t state;			/* SERF_ALIVE, LEAVING, LEFT */

	char *name;
	size_t name_len;
	struct serf_tag *tags;		/* our own, owned copies */
	unsigned n_tags;
	uint8_t *meta;
	size_t meta_len;

	struct lclock clock, event_clock, query_clock;

	/* members.c */
	struct ntab members;
	struct smember **mv;		/* every member, any status */
	size_t mv_n, mv_cap;
	struct ntab intents;
	uint64_t reap_at, reconnect_at, queue_check_at;
	uint64_t prune_next;		/* earliest prune_at, or 0 */

	/* bcast.c */
	struct tlq intent_q, event_q, query_q;
	uint64_t q_id;

	/* events.c */
	struct evslot *ring;
	uint64_t event_min_time;
	bool join_ignore;		/* an ignore_old join is running */

	/* query.c */
	struct qslot *qring;
	uint64_t query_min_time;
	struct qout *qouts;
	struct qin *qins;
	size_t n_qins;
	uint64_t next_qid, next_handle;

	/* serf.c: operations */
	struct bwait waits[WAITS_MAX];
	struct done_ev *dones;
	size_t done_n, done_cap;
	struct {
		bool active;
		uint64_t token;
		uint64_t ids[JOIN_MAX];
		unsigned pending, ok, n;
		int last_err;
	} join;
	struct {
		uint8_t step;
		uint64_t token;
		uint64_t deadline;
		int wait;			/* waits[] index + 1 */
		int swim_status;
	} leave;
	struct {
		bool active;
		uint64_t token;
		uint64_t more;		/* a newer call's, while the older
					   one's wait ends */
		unsigned n_more;
	} tags_wait;
	struct {
		struct snap_prev *prev;
		size_t n, next;
		uint64_t id;
		bool active;
	} rejoin;

	struct serf_snap *snap;
	uint64_t snap_clock_at;

	struct gw_buf scratch;
	struct serf_stats st;
};

/* serf.c */
void sf_log(struct serf *sf, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t sf_rand(struct serf *sf, uint64_t n);	/* uniform in [0, n) */
void sf_done(struct serf *sf, uint8_t op, uint64_t token, int status,
    unsigned n);
/* Sends one Serf message to addr by UDP, framed as [8][msg]. */
void sf_send(struct serf *sf, const struct swim_addr *to,
    const uint8_t *msg, size_t len);
bool sf_is_self(const struct serf *sf, const void *name, size_t len);
int sf_broadcast_join(struct serf *sf, uint64_t ltime);
void sf_wait_sent(struct serf *sf, int wait);

/* members.c */
struct smember *sfm_get(const struct serf *sf, const void *name, size_t len);
void sfm_view(const struct smember *m, struct serf_member *out);
void sfm_on_swim(struct serf *sf, enum swim_event ev,
    const struct swim_member *m);
bool sfm_join_intent(struct serf *sf, const struct gs_join *j);
bool sfm_leave_intent(struct serf *sf, const struct gs_leave *l);
bool sfm_any_alive(const struct serf *sf);	/* others */
void sfm_counts(const struct serf *sf, size_t *failed, size_t *left);
void sfm_tick(struct serf *sf);
uint64_t sfm_next(const struct serf *sf);
void sfm_free_all(struct serf *sf);
int sfm_tags_decode(struct gw_bytes meta, struct serf_tag **tags,
    unsigned *n, uint8_t **copy);

/* bcast.c */
int sfq_push(struct serf *sf, struct tlq *q, const uint8_t *msg, size_t len,
    int wait);
void sfq_get(struct serf *sf, size_t overhead, size_t limit,
    struct swim_sink *k);
void sfq_prune(struct serf *sf, struct tlq *q, size_t keep);
void sfq_free(struct tlq *q);

/* events.c */
bool sfe_handle(struct serf *sf, const struct gs_user_event *e);
int sfe_local_state(struct serf *sf, struct gw_buf *out);
void sfe_merge_state(struct serf *sf, struct gs_push_pull *pp, bool join);
void sfe_free_all(struct serf *sf);

/* query.c */
bool sfr_handle(struct serf *sf, const struct gs_query *q);
void sfr_response(struct serf *sf, const struct gs_query_response *r);
void sfr_relay(struct serf *sf, const struct gs_relay *r);
void sfr_tick(struct serf *sf);
uint64_t sfr_next(const struct serf *sf);
void sfr_free_all(struct serf *sf);

#endif
