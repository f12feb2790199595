/* raft_sim.c: the deterministic simulator described in raft_sim.h.
 *
 * Everything that happens is an event in one heap ordered by (time,
 * sequence): message deliveries, timer ticks, fsync completions, state
 * machine work, snapshots, chaos actions and client requests. Callbacks
 * from a core only queue events (the core forbids re-entry), so every
 * call into a core comes from the event loop. Nothing depends on wall
 * clock or addresses: hashing is FNV over values, the PRNG is xoshiro256**
 * seeded through splitmix64. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft_sim.h"

#define TRACE_LEN	64
#define FNV0		UINT64_C(0xcbf29ce484222325)
#define SNAP_HDR	16

/* ---- PRNG and hashing ---- */

struct rng {
	uint64_t s[4];
};

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void
rng_seed(struct rng *g, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix64(&x);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(struct rng *g)
{
	uint64_t *s = g->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

static uint64_t
rng_range(struct rng *g, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + rng_next(g) % (hi - lo + 1);
}

static bool
rng_pct(struct rng *g, unsigned pct)
{
	return pct > 0 && rng_next(g) % 100 < pct;
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static uint64_t
fnv_u64(uint64_t h, uint64_t v)
{
	uint8_t b[8];

	for (int k = 0; k < 8; k++)
		b[k] = (uint8_t)(v >> (8 * k));
	return fnv(h, b, 8);
}

static uint64_t
ent_hash(const struct raft_entry *e)
{
	uint64_t h = fnv_u64(FNV0, e->term);

	h = fnv_u64(h, e->type);
	h = fnv_u64(h, e->len);
	return fnv(h, e->data, e->len);
}

static uint64_t
chain_next(uint64_t chain, uint64_t idx, uint64_t ehash)
{
	return fnv_u64(fnv_u64(chain, idx), ehash);
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int k = 7; k >= 0; k--)
		v = (v << 8) | p[k];
	return v;
}

static void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL) {
		fprintf(stderr, "raft_sim: out of memory\n");
		abort();
	}
	return p;
}

static void *
xrealloc(void *p, size_t sz)
{
	if ((p = realloc(p, sz ? sz : 1)) == NULL) {
		fprintf(stderr, "raft_sim: out of memory\n");
		abort();
	}
	return p;
}

/* ---- structures ---- */

enum ev_kind {
	EV_TICK, EV_DELIVER, EV_DISK, EV_APPLY, EV_SNAP, EV_RESTART, EV_HEAL,
	EV_CHAOS_CRASH, EV_CHAOS_PART, EV_CHAOS_MEMBER, EV_CHAOS_TRANSFER,
	EV_CLIENT,
};

struct ev {
	uint64_t at;
	uint64_t seq;
	uint8_t kind;
	int node;
	uint32_t gen;
	void *p;
};

struct sent {				/* an entry owned by the simulator */
	uint64_t index;
	uint64_t term;
	uint8_t type;
	size_t len;
	uint8_t *data;
};

struct dsnap {
	bool has;
	struct raft_snapshot meta;	/* meta.data points at buf */
	uint8_t *buf;
};

enum dreq_kind { DR_STATE, DR_ENTRIES, DR_SNAP };

struct dreq {
	uint64_t seq;
	uint64_t done_at;
	uint8_t kind;
	uint64_t term;
	uint64_t vote;
	uint64_t first;
	struct sent *ents;
	size_t n;
	struct dsnap snap;
};

enum smi_kind { SMI_ENTRY, SMI_RESTORE };

struct smitem {
	uint8_t kind;
	uint64_t index;
	uint64_t term;
	uint64_t ehash;			/* entry hash, or snapshot chain */
};

struct node {
	struct sim *sim;
	int i;
	uint64_t id;
	bool up;
	uint32_t gen;
	struct raft *r;
	struct rng rng;
	int group;

	/* The disk: what survives a crash. */
	uint64_t term;
	uint64_t vote;
	uint64_t dbase;			/* dlog holds dbase+1 ... */
	struct sent *dlog;
	size_t dn;
	size_t dcap;
	struct dsnap snap;

	/* Requests not yet durable, in order. */
	struct dreq *q;
	size_t qn;
	size_t qcap;
	uint64_t last_done_at;

	/* The state machine (kvd), with its own durability. */
	uint64_t sm_index;
	uint64_t sm_hash;
	uint64_t handed;		/* last index handed over by apply() */
	struct smitem *aq;
	size_t aqn;
	size_t aqcap;
	bool apply_ev;
	bool snap_ev;

	uint64_t seen_commit;
};

struct reg {				/* one (index, term) ever written */
	uint64_t idx;
	uint64_t term;
	uint64_t ehash;
	uint64_t prev_term;
	uint8_t prop;			/* enum sim_prop */
	bool used;
};

struct slot {				/* per index, across the cluster */
	uint64_t chain;			/* state machine hash after it */
	uint64_t aterm;			/* term of the entry applied there */
	uint64_t ehash;
	uint64_t cterm;			/* term committed there */
	uint64_t cmin;			/* lowest term that saw it committed */
	uint64_t pterm;			/* a proposal reported committed */
	uint64_t phash;
};

struct sread {
	uint64_t id;
	int node;
	uint64_t min_idx;
	uint64_t idx;
	int status;			/* 0 pending, 1 done, <0 failed */
};

struct trec {
	uint64_t step;
	uint64_t at;
	int node;
	char what[80];
};

struct sim {
	struct sim_opts o;
	struct rng rng;
	uint64_t now;
	uint64_t steps;
	uint64_t link_at[SIM_MAX_NODES][SIM_MAX_NODES];	/* FIFO links */
	uint64_t ev_seq;
	struct ev *heap;
	size_t hn;
	size_t hcap;
	int nn;
	struct node nodes[SIM_MAX_NODES];
	bool chaos_on;

	bool (*filter)(void *arg, const struct raft_msg *m);
	void *filter_arg;

	struct reg *reg;
	size_t reg_n;
	size_t reg_cap;
	struct slot *slots;
	size_t nslots;
	uint64_t *leaders;		/* by term: id */
	size_t nleaders;
	struct sread *reads;
	size_t nreads;
	size_t cap_reads;
	uint64_t next_read_id;
	uint64_t prop_counter;
	uint64_t max_commit;

	struct sim_stats st;
	bool failed;
	char err[512];
	struct trec trace[TRACE_LEN];
	uint64_t ntrace;
};

/* ---- failure and trace ---- */

void
sim_fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	s->failed = true;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

static void trace(struct sim *s, int node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
trace(struct sim *s, int node, const char *fmt, ...)
{
	struct trec *t = &s->trace[s->ntrace % TRACE_LEN];
	va_list ap;

	t->step = s->steps;
	t->at = s->now;
	t->node = node;
	va_start(ap, fmt);
	vsnprintf(t->what, sizeof(t->what), fmt, ap);
	va_end(ap);
	s->st.digest = fnv(fnv_u64(fnv_u64(s->st.digest, s->now),
	    (uint64_t)node), t->what, strlen(t->what));
	s->ntrace++;
	if (s->o.verbose)
		fprintf(stderr, "  #%-8llu %7llu ms  n%d  %s\n",
		    (unsigned long long)t->step, (unsigned long long)t->at,
		    node + 1, t->what);
}

void
sim_report(const struct sim *s, FILE *f)
{
	uint64_t first = s->ntrace > TRACE_LEN ? s->ntrace - TRACE_LEN : 0;

	fprintf(f, "raft_sim: seed %llu (%d voters, %d spares) %s at step "
	    "%llu, t=%llu ms\n", (unsigned long long)s->o.seed, s->o.voters,
	    s->o.spares, s->failed ? "FAILED" : "ok",
	    (unsigned long long)s->steps, (unsigned long long)s->now);
	if (s->failed)
		fprintf(f, "raft_sim: %s\n", s->err);
	for (int i = 0; i < s->nn; i++) {
		const struct node *n = &s->nodes[i];
		struct raft_status st;
		struct raft_config c;

		if (!n->up) {
			fprintf(f, "  n%d: down\n", i + 1);
			continue;
		}
		raft_status(n->r, &st);
		raft_config_get(n->r, false, &c);
		fprintf(f, "  n%d: %s term %llu vote %llu leader %llu log "
		    "%llu/%llu commit %llu durable %llu snap %llu applied %llu "
		    "conf", i + 1, raft_state_name(st.state),
		    (unsigned long long)st.term, (unsigned long long)st.vote,
		    (unsigned long long)st.leader,
		    (unsigned long long)st.last_index,
		    (unsigned long long)st.last_term,
		    (unsigned long long)st.commit,
		    (unsigned long long)st.durable_index,
		    (unsigned long long)st.snapshot_index,
		    (unsigned long long)n->sm_index);
		for (uint32_t k = 0; k < c.n; k++)
			fprintf(f, " %llu%s",
			    (unsigned long long)c.servers[k].id,
			    c.servers[k].role == RAFT_VOTER ? "" : "(nv)");
		fprintf(f, "\n");
	}
	fprintf(f, "raft_sim: replay with RAFT_SIM_SEED=%llu; last events:\n",
	    (unsigned long long)s->o.seed);
	for (uint64_t k = first; k < s->ntrace; k++) {
		const struct trec *t = &s->trace[k % TRACE_LEN];

		fprintf(f, "  #%-8llu %7llu ms  n%d  %s\n",
		    (unsigned long long)t->step, (unsigned long long)t->at,
		    t->node + 1, t->what);
	}
}

static const char *
msg_name(uint8_t t)
{
	static const char *names[] = { "?", "vote", "vote-resp", "prevote",
	    "prevote-resp", "append", "append-resp", "snapshot",
	    "snapshot-resp", "timeout-now" };

	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* ---- event heap ---- */

static bool
ev_less(const struct ev *a, const struct ev *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void
ev_push(struct sim *s, uint64_t at, uint8_t kind, int node, uint32_t gen,
    void *p)
{
	struct ev e = { at, s->ev_seq++, kind, node, gen, p }, t;
	size_t i;

	if (s->hn == s->hcap) {
		s->hcap = s->hcap ? s->hcap * 2 : 256;
		s->heap = xrealloc(s->heap, s->hcap * sizeof(*s->heap));
	}
	i = s->hn++;
	s->heap[i] = e;
	while (i > 0 && ev_less(&s->heap[i], &s->heap[(i - 1) / 2])) {
		t = s->heap[i];
		s->heap[i] = s->heap[(i - 1) / 2];
		s->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct ev
ev_pop(struct sim *s)
{
	struct ev top = s->heap[0], t;
	size_t i = 0, c;

	s->heap[0] = s->heap[--s->hn];
	for (;;) {
		c = 2 * i + 1;
		if (c >= s->hn)
			break;
		if (c + 1 < s->hn && ev_less(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_less(&s->heap[c], &s->heap[i]))
			break;
		t = s->heap[i];
		s->heap[i] = s->heap[c];
		s->heap[c] = t;
		i = c;
	}
	return top;
}

/* ---- global bookkeeping ---- */

static struct slot *
slot_get(struct sim *s, uint64_t idx)
{
	size_t n;

	if (idx >= s->nslots) {
		n = s->nslots ? s->nslots : 1024;
		while (n <= idx)
			n *= 2;
		s->slots = xrealloc(s->slots, n * sizeof(*s->slots));
		memset(s->slots + s->nslots, 0, (n - s->nslots) *
		    sizeof(*s->slots));
		s->nslots = n;
	}
	return &s->slots[idx];
}

static uint64_t
reg_hash(uint64_t idx, uint64_t term)
{
	uint64_t x = idx * UINT64_C(0x9e3779b97f4a7c15) ^ term;

	return splitmix64(&x);
}

static struct reg *
reg_find(struct sim *s, uint64_t idx, uint64_t term, bool add)
{
	size_t mask, i;

	if (add && (s->reg_n + 1) * 2 > s->reg_cap) {
		struct reg *old = s->reg;
		size_t ocap = s->reg_cap;

		s->reg_cap = ocap ? ocap * 2 : 4096;
		s->reg = xcalloc(s->reg_cap, sizeof(*s->reg));
		mask = s->reg_cap - 1;
		for (size_t k = 0; k < ocap; k++) {
			if (!old[k].used)
				continue;
			i = reg_hash(old[k].idx, old[k].term) & mask;
			while (s->reg[i].used)
				i = (i + 1) & mask;
			s->reg[i] = old[k];
		}
		free(old);
	}
	if (s->reg_cap == 0)
		return NULL;
	mask = s->reg_cap - 1;
	i = reg_hash(idx, term) & mask;
	while (s->reg[i].used) {
		if (s->reg[i].idx == idx && s->reg[i].term == term)
			return &s->reg[i];
		i = (i + 1) & mask;
	}
	if (!add)
		return NULL;
	s->reg[i].used = true;
	s->reg[i].idx = idx;
	s->reg[i].term = term;
	s->reg_n++;
	return &s->reg[i];
}

static int
node_of(const struct sim *s, uint64_t id)
{
	for (int i = 0; i < s->nn; i++)
		if (s->nodes[i].id == id)
			return i;
	return -1;
}

/* ---- the simulated disk ---- */

static void
sent_free(struct sent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].data);
}

static void
dsnap_free(struct dsnap *d)
{
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

static void
dsnap_copy(struct dsnap *d, const struct raft_snapshot *m)
{
	d->has = true;
	d->meta = *m;
	d->buf = xcalloc(1, m->len);
	if (m->len > 0)
		memcpy(d->buf, m->data, m->len);
	d->meta.data = d->buf;
}

static void
dreq_free(struct dreq *q)
{
	sent_free(q->ents, q->n);
	free(q->ents);
	dsnap_free(&q->snap);
}

static uint64_t
dlog_last(const struct node *n)
{
	return n->dbase + n->dn;
}

static void
dlog_truncate(struct node *n, uint64_t from)
{
	size_t keep;

	if (from > dlog_last(n))
		return;
	keep = from <= n->dbase ? 0 : (size_t)(from - n->dbase - 1);
	sent_free(n->dlog + keep, n->dn - keep);
	n->dn = keep;
}

static void
dlog_drop_upto(struct node *n, uint64_t upto)
{
	size_t k;

	if (upto <= n->dbase)
		return;
	if (upto >= dlog_last(n)) {
		sent_free(n->dlog, n->dn);
		n->dn = 0;
		n->dbase = upto;
		return;
	}
	k = (size_t)(upto - n->dbase);
	sent_free(n->dlog, k);
	memmove(n->dlog, n->dlog + k, (n->dn - k) * sizeof(*n->dlog));
	n->dn -= k;
	n->dbase = upto;
}

static void
disk_apply(struct sim *s, struct node *n, struct dreq *q)
{
	switch (q->kind) {
	case DR_STATE:
		n->term = q->term;
		n->vote = q->vote;
		break;
	case DR_ENTRIES:
		if (n->dn == 0 && q->first > n->dbase + 1)
			n->dbase = q->first - 1;	/* empty log restarts */
		if (q->first <= n->dbase || q->first > dlog_last(n) + 1) {
			sim_fail(s, "n%d: write at %llu leaves a hole in the "
			    "stored log (%llu..%llu)", n->i + 1,
			    (unsigned long long)q->first,
			    (unsigned long long)n->dbase + 1,
			    (unsigned long long)dlog_last(n));
			return;
		}
		dlog_truncate(n, q->first);
		if (n->dn + q->n > n->dcap) {
			n->dcap = (n->dn + q->n) * 2;
			n->dlog = xrealloc(n->dlog, n->dcap * sizeof(*n->dlog));
		}
		memcpy(n->dlog + n->dn, q->ents, q->n * sizeof(*q->ents));
		n->dn += q->n;
		free(q->ents);
		q->ents = NULL;
		q->n = 0;
		break;
	case DR_SNAP:
		if (n->snap.has && n->snap.meta.index >= q->snap.meta.index) {
			sim_fail(s, "n%d: installed snapshot %llu does not "
			    "supersede stored %llu", n->i + 1,
			    (unsigned long long)q->snap.meta.index,
			    (unsigned long long)n->snap.meta.index);
			return;
		}
		dsnap_free(&n->snap);
		n->snap = q->snap;
		memset(&q->snap, 0, sizeof(q->snap));
		sent_free(n->dlog, n->dn);
		n->dn = 0;
		n->dbase = n->snap.meta.index;
		break;
	}
}

static struct dreq *
dreq_new(struct node *n, uint64_t seq, uint8_t kind)
{
	struct sim *s = n->sim;
	struct dreq *q;
	uint64_t lat;

	if (n->qn == n->qcap) {
		n->qcap = n->qcap ? n->qcap * 2 : 16;
		n->q = xrealloc(n->q, n->qcap * sizeof(*n->q));
	}
	q = &n->q[n->qn++];
	memset(q, 0, sizeof(*q));
	q->seq = seq;
	q->kind = kind;
	/* Requests finish in order; one arriving while an fsync is pending
	 * rides along with it (group commit). */
	lat = rng_range(&s->rng, s->o.chaos.fsync_min_ms,
	    s->o.chaos.fsync_max_ms);
	q->done_at = s->now + lat;
	if (q->done_at < n->last_done_at)
		q->done_at = n->last_done_at;
	n->last_done_at = q->done_at;
	ev_push(s, q->done_at, EV_DISK, n->i, n->gen, NULL);
	return q;
}

/* ---- core callbacks ---- */

static uint64_t
cb_now(void *ctx)
{
	return ((struct node *)ctx)->sim->now;
}

static uint64_t
cb_rand(void *ctx)
{
	return rng_next(&((struct node *)ctx)->rng);
}

static bool
linked(const struct sim *s, int a, int b)
{
	return s->nodes[a].group == s->nodes[b].group;
}

static struct raft_msg *
msg_copy(const struct raft_msg *m)
{
	size_t sz = sizeof(*m), n = 0, i;
	struct raft_entry *ents;
	struct raft_msg *c;
	uint8_t *p;

	if (m->type == RAFT_MSG_APPEND) {
		n = m->u.append.n;
		sz += n * sizeof(struct raft_entry);
		for (i = 0; i < n; i++)
			sz += m->u.append.entries[i].len;
	} else if (m->type == RAFT_MSG_SNAPSHOT) {
		sz += m->u.snapshot.snap.len;
	}
	c = xcalloc(1, sz);
	*c = *m;
	p = (uint8_t *)(c + 1);
	if (m->type == RAFT_MSG_APPEND) {
		ents = (struct raft_entry *)p;
		p += n * sizeof(*ents);
		for (i = 0; i < n; i++) {
			ents[i] = m->u.append.entries[i];
			if (ents[i].len > 0) {
				memcpy(p, ents[i].data, ents[i].len);
				ents[i].data = p;
				p += ents[i].len;
			} else {
				ents[i].data = NULL;
			}
		}
		c->u.append.entries = n > 0 ? ents : NULL;
	} else if (m->type == RAFT_MSG_SNAPSHOT) {
		if (m->u.snapshot.snap.len > 0)
			memcpy(p, m->u.snapshot.snap.data,
			    m->u.snapshot.snap.len);
		c->u.snapshot.snap.data = m->u.snapshot.snap.len > 0 ? p : NULL;
	}
	return c;
}

static void
cb_send(void *ctx, const struct raft_msg *m)
{
	struct node *n = ctx;
	struct sim *s = n->sim;
	const struct sim_chaos *c = &s->o.chaos;
	int to = node_of(s, m->to), copies;
	uint64_t delay;

	s->st.msgs++;
	if (to < 0) {
		sim_fail(s, "n%d sent %s to unknown id %llu", n->i + 1,
		    msg_name(m->type), (unsigned long long)m->to);
		return;
	}
	if (m->from != n->id) {
		sim_fail(s, "n%d sent a message from %llu", n->i + 1,
		    (unsigned long long)m->from);
		return;
	}
	if (!linked(s, n->i, to) || (s->filter != NULL &&
	    s->filter(s->filter_arg, m)) || rng_pct(&s->rng, c->drop_pct))
		return;
	copies = rng_pct(&s->rng, c->dup_pct) ? 2 : 1;
	while (copies-- > 0) {
		delay = rng_range(&s->rng, c->delay_min_ms, c->delay_max_ms);
		if (rng_pct(&s->rng, c->slow_pct))
			delay += c->slow_ms;
		if (c->fifo) {
			if (s->now + delay < s->link_at[n->i][to])
				delay = s->link_at[n->i][to] - s->now;
			s->link_at[n->i][to] = s->now + delay;
		}
		ev_push(s, s->now + delay, EV_DELIVER, to, 0, msg_copy(m));
	}
}

static void
cb_persist_state(void *ctx, uint64_t seq, uint64_t term, uint64_t vote)
{
	struct node *n = ctx;
	struct dreq *q = dreq_new(n, seq, DR_STATE);

	q->term = term;
	q->vote = vote;
}

/* Log matching, checked as entries are written anywhere: an (index,
 * term) always has the same content and follows the same term. */
static void
check_written(struct sim *s, struct node *n, const struct raft_entry *e,
    uint64_t prev_term, bool prev_known)
{
	struct reg *g = reg_find(s, e->index, e->term, true);
	uint64_t h = ent_hash(e);

	if (g->ehash == 0) {
		g->ehash = h;
		g->prev_term = prev_known ? prev_term : UINT64_MAX;
		return;
	}
	if (g->ehash != h)
		sim_fail(s, "log matching: n%d writes a different entry at "
		    "index %llu term %llu", n->i + 1,
		    (unsigned long long)e->index, (unsigned long long)e->term);
	else if (prev_known && g->prev_term != UINT64_MAX &&
	    g->prev_term != prev_term)
		sim_fail(s, "log matching: n%d has term %llu before %llu/%llu, "
		    "another log has %llu", n->i + 1,
		    (unsigned long long)prev_term, (unsigned long long)e->index,
		    (unsigned long long)e->term,
		    (unsigned long long)g->prev_term);
	else if (prev_known && g->prev_term == UINT64_MAX)
		g->prev_term = prev_term;
}

static void
cb_persist_entries(void *ctx, uint64_t seq, uint64_t first,
    const struct raft_entry *e, size_t cnt)
{
	struct node *n = ctx;
	struct sim *s = n->sim;
	struct dreq *q = dreq_new(n, seq, DR_ENTRIES);
	uint64_t pt = 0;
	bool known;

	q->first = first;
	q->n = cnt;
	q->ents = xcalloc(cnt, sizeof(*q->ents));
	known = raft_log_term(n->r, first - 1, &pt) == 0;
	for (size_t i = 0; i < cnt; i++) {
		if (e[i].index != first + i)
			sim_fail(s, "n%d: persist_entries index %llu at %zu "
			    "(first %llu)", n->i + 1,
			    (unsigned long long)e[i].index, i,
			    (unsigned long long)first);
		check_written(s, n, &e[i], i == 0 ? pt : e[i - 1].term,
		    i == 0 ? known : true);
		q->ents[i].index = e[i].index;
		q->ents[i].term = e[i].term;
		q->ents[i].type = e[i].type;
		q->ents[i].len = e[i].len;
		if (e[i].len > 0) {
			q->ents[i].data = xcalloc(1, e[i].len);
			memcpy(q->ents[i].data, e[i].data, e[i].len);
		}
	}
}

static void
cb_persist_snapshot(void *ctx, uint64_t seq, const struct raft_snapshot *sn)
{
	struct node *n = ctx;
	struct dreq *q = dreq_new(n, seq, DR_SNAP);

	dsnap_copy(&q->snap, sn);
	trace(n->sim, n->i, "install snapshot %llu/%llu",
	    (unsigned long long)sn->index, (unsigned long long)sn->term);
	n->sim->st.snapshots_installed++;
}

static void
cb_compact(void *ctx, uint64_t idx)
{
	struct node *n = ctx;

	if (!n->snap.has || n->snap.meta.index < idx) {
		sim_fail(n->sim, "n%d: compact to %llu beyond the stored "
		    "snapshot", n->i + 1, (unsigned long long)idx);
		return;
	}
	dlog_drop_upto(n, idx);
}

static void
aq_push(struct node *n, const struct smitem *it)
{
	struct sim *s = n->sim;

	if (n->aqn == n->aqcap) {
		n->aqcap = n->aqcap ? n->aqcap * 2 : 64;
		n->aq = xrealloc(n->aq, n->aqcap * sizeof(*n->aq));
	}
	n->aq[n->aqn++] = *it;
	if (!n->apply_ev) {
		n->apply_ev = true;
		ev_push(s, s->now + rng_range(&s->rng, 0,
		    s->o.chaos.apply_max_ms), EV_APPLY, n->i, n->gen, NULL);
	}
}

static void
cb_apply(void *ctx, const struct raft_entry *e, size_t cnt)
{
	struct node *n = ctx;
	struct smitem it;

	for (size_t i = 0; i < cnt; i++) {
		if (e[i].index != n->handed + 1) {
			sim_fail(n->sim, "n%d: apply() handed %llu after %llu",
			    n->i + 1, (unsigned long long)e[i].index,
			    (unsigned long long)n->handed);
			return;
		}
		n->handed = e[i].index;
		it.kind = SMI_ENTRY;
		it.index = e[i].index;
		it.term = e[i].term;
		it.ehash = ent_hash(&e[i]);
		aq_push(n, &it);
	}
}

static void
cb_restore(void *ctx, const struct raft_snapshot *sn)
{
	struct node *n = ctx;
	struct smitem it;

	if (sn->len < SNAP_HDR || get_u64(sn->data) != sn->index) {
		sim_fail(n->sim, "n%d: restore of a snapshot whose bytes do "
		    "not match its index %llu", n->i + 1,
		    (unsigned long long)sn->index);
		return;
	}
	if (sn->index < n->handed) {
		sim_fail(n->sim, "n%d: restore to %llu after handing out %llu",
		    n->i + 1, (unsigned long long)sn->index,
		    (unsigned long long)n->handed);
		return;
	}
	n->handed = sn->index;
	it.kind = SMI_RESTORE;
	it.index = sn->index;
	it.term = sn->term;
	it.ehash = get_u64((const uint8_t *)sn->data + 8);
	aq_push(n, &it);
}

static void
cb_snapshot(void *ctx, uint64_t idx)
{
	struct node *n = ctx;
	struct sim *s = n->sim;

	if (n->snap_ev)
		return;
	n->snap_ev = true;
	ev_push(s, s->now + rng_range(&s->rng, 1, 30), EV_SNAP, n->i, n->gen,
	    NULL);
}

static void
cb_result(void *ctx, uint64_t idx, uint64_t term, uint8_t type, int status)
{
	struct node *n = ctx;
	struct sim *s = n->sim;
	struct reg *g = reg_find(s, idx, term, false);
	struct slot *sl;

	if (g == NULL) {
		sim_fail(s, "n%d: result for %llu/%llu, never written",
		    n->i + 1, (unsigned long long)idx,
		    (unsigned long long)term);
		return;
	}
	if (g->prop == SIM_PROP_COMMITTED || g->prop == SIM_PROP_LOST) {
		sim_fail(s, "n%d: second result for %llu/%llu", n->i + 1,
		    (unsigned long long)idx, (unsigned long long)term);
		return;
	}
	if (status != 0) {
		g->prop = SIM_PROP_LOST;
		if (type == RAFT_ENTRY_NORMAL)
			s->st.lost++;
		return;
	}
	g->prop = SIM_PROP_COMMITTED;
	if (type == RAFT_ENTRY_NORMAL)
		s->st.committed++;
	sl = slot_get(s, idx);
	if ((sl->aterm != 0 && (sl->aterm != term || sl->ehash != g->ehash)) ||
	    (sl->cterm != 0 && sl->cterm != term))
		sim_fail(s, "n%d reports %llu/%llu committed, but index %llu "
		    "holds term %llu", n->i + 1, (unsigned long long)idx,
		    (unsigned long long)term, (unsigned long long)idx,
		    (unsigned long long)(sl->aterm ? sl->aterm : sl->cterm));
	sl->pterm = term;
	sl->phash = g->ehash;
}

static void
cb_read_done(void *ctx, uint64_t id, uint64_t idx, int status)
{
	struct node *n = ctx;
	struct sim *s = n->sim;

	for (size_t k = 0; k < s->nreads; k++) {
		struct sread *rd = &s->reads[k];

		if (rd->id != id)
			continue;
		if (rd->status != 0) {
			sim_fail(s, "read %llu answered twice",
			    (unsigned long long)id);
			return;
		}
		if (status != 0) {
			rd->status = status;
			return;
		}
		rd->status = 1;
		rd->idx = idx;
		s->st.reads_ok++;
		if (idx < rd->min_idx)
			sim_fail(s, "n%d: read index %llu behind commit %llu "
			    "made before the read began", n->i + 1,
			    (unsigned long long)idx,
			    (unsigned long long)rd->min_idx);
		return;
	}
	sim_fail(s, "n%d: read_done for unknown id %llu", n->i + 1,
	    (unsigned long long)id);
}

static void
cb_changed(void *ctx, const struct raft_status *st)
{
	struct node *n = ctx;

	trace(n->sim, n->i, "%s term %llu vote %llu leader %llu",
	    raft_state_name(st->state), (unsigned long long)st->term,
	    (unsigned long long)st->vote, (unsigned long long)st->leader);
}

static const struct raft_ops sim_ops = {
	.now = cb_now,
	.rand = cb_rand,
	.send = cb_send,
	.persist_state = cb_persist_state,
	.persist_entries = cb_persist_entries,
	.persist_snapshot = cb_persist_snapshot,
	.compact = cb_compact,
	.apply = cb_apply,
	.restore = cb_restore,
	.snapshot = cb_snapshot,
	.result = cb_result,
	.read_done = cb_read_done,
	.changed = cb_changed,
};

/* ---- checks after every event ---- */

static void
check_leader(struct sim *s, struct node *n, const struct raft_status *st)
{
	uint64_t t, idx;
	struct slot *sl;

	if (st->term >= s->nleaders) {
		size_t nl = s->nleaders ? s->nleaders : 64;

		while (nl <= st->term)
			nl *= 2;
		s->leaders = xrealloc(s->leaders, nl * sizeof(*s->leaders));
		memset(s->leaders + s->nleaders, 0,
		    (nl - s->nleaders) * sizeof(*s->leaders));
		s->nleaders = nl;
	}
	if (s->leaders[st->term] == n->id)
		return;
	if (s->leaders[st->term] != 0) {
		sim_fail(s, "election safety: n%d and n%d both lead term %llu",
		    node_of(s, s->leaders[st->term]) + 1, n->i + 1,
		    (unsigned long long)st->term);
		return;
	}
	s->leaders[st->term] = n->id;
	s->st.leaders++;
	trace(s, n->i, "leader of term %llu, log %llu/%llu",
	    (unsigned long long)st->term, (unsigned long long)st->last_index,
	    (unsigned long long)st->last_term);
	/* Leader completeness: everything committed in earlier terms. */
	for (idx = st->snapshot_index + 1; idx <= s->max_commit; idx++) {
		sl = slot_get(s, idx);
		if (sl->cmin == 0 || sl->cmin >= st->term)
			continue;
		if (raft_log_term(n->r, idx, &t) != 0) {
			sim_fail(s, "leader completeness: n%d leads term %llu "
			    "without committed index %llu", n->i + 1,
			    (unsigned long long)st->term,
			    (unsigned long long)idx);
			return;
		}
		if (sl->cterm != 0 && t != sl->cterm) {
			sim_fail(s, "leader completeness: n%d leads term %llu "
			    "with term %llu at committed index %llu (term "
			    "%llu)", n->i + 1, (unsigned long long)st->term,
			    (unsigned long long)t, (unsigned long long)idx,
			    (unsigned long long)sl->cterm);
			return;
		}
	}
}

static void
check_durable(struct sim *s, struct node *n, const struct raft_status *st)
{
	uint64_t d = st->durable_index, t;
	const struct sent *e;

	for (size_t k = 0; k < n->qn; k++) {
		if ((n->q[k].kind == DR_ENTRIES && n->q[k].first <= d) ||
		    (n->q[k].kind == DR_SNAP && d > 0)) {
			sim_fail(s, "n%d: durable index %llu but a pending "
			    "write rewrites from %llu", n->i + 1,
			    (unsigned long long)d,
			    (unsigned long long)n->q[k].first);
			return;
		}
	}
	if (d == 0 || (n->snap.has && d <= n->snap.meta.index))
		return;
	if (d <= n->dbase || d > dlog_last(n)) {
		sim_fail(s, "n%d: durable index %llu not on disk (%llu..%llu)",
		    n->i + 1, (unsigned long long)d,
		    (unsigned long long)n->dbase + 1,
		    (unsigned long long)dlog_last(n));
		return;
	}
	e = &n->dlog[d - n->dbase - 1];
	if (raft_log_term(n->r, d, &t) == 0 && t != e->term)
		sim_fail(s, "n%d: durable index %llu has term %llu in memory, "
		    "%llu on disk", n->i + 1, (unsigned long long)d,
		    (unsigned long long)t, (unsigned long long)e->term);
}

static void
observe(struct sim *s, struct node *n)
{
	struct raft_status st;
	struct slot *sl;
	uint64_t idx, t;

	if (!n->up || s->failed)
		return;
	raft_status(n->r, &st);
	if (st.commit > st.last_index || st.durable_index > st.last_index) {
		sim_fail(s, "n%d: commit %llu / durable %llu beyond last %llu",
		    n->i + 1, (unsigned long long)st.commit,
		    (unsigned long long)st.durable_index,
		    (unsigned long long)st.last_index);
		return;
	}
	check_durable(s, n, &st);
	if (st.state == RAFT_LEADER)
		check_leader(s, n, &st);
	if (st.commit > n->seen_commit) {
		for (idx = n->seen_commit + 1; idx <= st.commit; idx++) {
			sl = slot_get(s, idx);
			if (sl->cmin == 0 || st.term < sl->cmin)
				sl->cmin = st.term;
			if (raft_log_term(n->r, idx, &t) != 0)
				continue;
			if (sl->cterm == 0)
				sl->cterm = t;
			else if (sl->cterm != t)
				sim_fail(s, "n%d commits term %llu at %llu, "
				    "others committed term %llu", n->i + 1,
				    (unsigned long long)t,
				    (unsigned long long)idx,
				    (unsigned long long)sl->cterm);
			if (sl->pterm != 0 && sl->pterm != t)
				sim_fail(s, "n%d commits term %llu at %llu "
				    "where proposal %llu was reported "
				    "committed", n->i + 1,
				    (unsigned long long)t,
				    (unsigned long long)idx,
				    (unsigned long long)sl->pterm);
		}
		n->seen_commit = st.commit;
		if (st.commit > s->max_commit)
			s->max_commit = st.commit;
	}
}

/* ---- node life ---- */

static int
node_boot(struct sim *s, struct node *n)
{
	struct raft_entry *ents;
	struct raft_status st;
	struct raft_boot b;
	int rc;

	rng_seed(&n->rng, s->o.seed * 1000003 + (uint64_t)n->i * 7919 + n->gen);
	if ((rc = raft_new(n->id, &s->o.ropt, &sim_ops, n, &n->r)) != 0)
		return rc;
	ents = xcalloc(n->dn, sizeof(*ents));
	for (size_t i = 0; i < n->dn; i++) {
		ents[i].index = n->dlog[i].index;
		ents[i].term = n->dlog[i].term;
		ents[i].type = n->dlog[i].type;
		ents[i].len = n->dlog[i].len;
		ents[i].data = n->dlog[i].data;
	}
	memset(&b, 0, sizeof(b));
	b.term = n->term;
	b.vote = n->vote;
	b.snap = n->snap.has ? &n->snap.meta : NULL;
	b.entries = ents;
	b.n_entries = n->dn;
	b.applied = n->sm_index;
	n->up = true;
	n->handed = n->sm_index;
	n->seen_commit = 0;
	n->last_done_at = 0;
	rc = raft_start(n->r, &b);
	free(ents);
	if (rc != 0) {
		raft_free(n->r);
		n->r = NULL;
		n->up = false;
		return rc;
	}
	raft_status(n->r, &st);
	n->seen_commit = st.commit;
	ev_push(s, s->now + rng_range(&s->rng, 1, 10), EV_TICK, n->i, n->gen,
	    NULL);
	return 0;
}

void
sim_crash(struct sim *s, int i)
{
	struct node *n = &s->nodes[i];
	size_t k, keep;

	if (!n->up)
		return;
	/* Writes finished but not yet reported survive; the rest is lost.
	 * Writes are whole: a request is on disk entirely or not at all. */
	keep = rng_pct(&s->rng, s->o.chaos.crash_lose_all_pct) ? 0 :
	    (size_t)rng_range(&s->rng, 0, n->qn);
	for (k = 0; k < n->qn; k++) {
		if (k < keep)
			disk_apply(s, n, &n->q[k]);
		dreq_free(&n->q[k]);
	}
	n->qn = 0;
	n->aqn = 0;
	n->apply_ev = false;
	n->snap_ev = false;
	raft_free(n->r);
	n->r = NULL;
	n->up = false;
	n->gen++;
	s->st.crashes++;
	trace(s, i, "crash (%zu of the pending writes survive)", keep);
}

int
sim_restart(struct sim *s, int i)
{
	struct node *n = &s->nodes[i];
	int rc;

	if (n->up)
		return 0;
	/* kvd may have kept its state, or lost it and start over from the
	 * stored snapshot (or from nothing). */
	if (rng_pct(&s->rng, 40)) {
		if (n->snap.has) {
			n->sm_index = n->snap.meta.index;
			n->sm_hash = get_u64(n->snap.buf + 8);
		} else {
			n->sm_index = 0;
			n->sm_hash = FNV0;
		}
	}
	n->gen++;
	trace(s, i, "restart: term %llu, log %llu..%llu, snapshot %llu, "
	    "applied %llu", (unsigned long long)n->term,
	    (unsigned long long)n->dbase + 1,
	    (unsigned long long)dlog_last(n),
	    (unsigned long long)(n->snap.has ? n->snap.meta.index : 0),
	    (unsigned long long)n->sm_index);
	if ((rc = node_boot(s, n)) != 0)
		sim_fail(s, "n%d: restart failed: %s", i + 1, le_strerror(rc));
	observe(s, n);
	return rc;
}

bool
sim_up(const struct sim *s, int i)
{
	return s->nodes[i].up;
}

/* ---- event handlers ---- */

static void
on_disk(struct sim *s, struct node *n)
{
	uint64_t seq = 0;
	size_t k = 0;

	while (k < n->qn && n->q[k].done_at <= s->now && !s->failed) {
		disk_apply(s, n, &n->q[k]);
		seq = n->q[k].seq;
		dreq_free(&n->q[k]);
		k++;
	}
	if (k == 0)
		return;
	memmove(n->q, n->q + k, (n->qn - k) * sizeof(*n->q));
	n->qn -= k;
	if (raft_persisted(n->r, seq) != 0)
		sim_fail(s, "n%d: raft_persisted(%llu) failed", n->i + 1,
		    (unsigned long long)seq);
}

static void
on_apply(struct sim *s, struct node *n)
{
	struct slot *sl;
	size_t k;

	n->apply_ev = false;
	for (k = 0; k < n->aqn && !s->failed; k++) {
		const struct smitem *it = &n->aq[k];

		if (it->kind == SMI_RESTORE) {
			sl = slot_get(s, it->index);
			if (sl->chain == 0)
				sl->chain = it->ehash;
			else if (sl->chain != it->ehash)
				sim_fail(s, "state machine safety: n%d "
				    "restores a snapshot at %llu that differs "
				    "from what others applied", n->i + 1,
				    (unsigned long long)it->index);
			n->sm_index = it->index;
			n->sm_hash = it->ehash;
			trace(s, n->i, "restore snapshot %llu",
			    (unsigned long long)it->index);
			continue;
		}
		if (it->index != n->sm_index + 1) {
			sim_fail(s, "state machine safety: n%d applies %llu "
			    "after %llu", n->i + 1,
			    (unsigned long long)it->index,
			    (unsigned long long)n->sm_index);
			break;
		}
		sl = slot_get(s, it->index);
		if (it->index > s->max_commit ||
		    (sl->cterm != 0 && sl->cterm != it->term)) {
			sim_fail(s, "n%d applies %llu/%llu, not committed "
			    "(max commit %llu, committed term %llu)", n->i + 1,
			    (unsigned long long)it->index,
			    (unsigned long long)it->term,
			    (unsigned long long)s->max_commit,
			    (unsigned long long)sl->cterm);
			break;
		}
		n->sm_hash = chain_next(n->sm_hash, it->index, it->ehash);
		n->sm_index = it->index;
		if (sl->chain == 0) {
			sl->chain = n->sm_hash;
			sl->aterm = it->term;
			sl->ehash = it->ehash;
		} else if (sl->chain != n->sm_hash) {
			sim_fail(s, "state machine safety: n%d applied term "
			    "%llu at %llu, state differs from other servers "
			    "(they applied term %llu)", n->i + 1,
			    (unsigned long long)it->term,
			    (unsigned long long)it->index,
			    (unsigned long long)sl->aterm);
		}
		if (sl->aterm == 0) {
			sl->aterm = it->term;
			sl->ehash = it->ehash;
		}
		if (sl->pterm != 0 && (sl->pterm != it->term ||
		    sl->phash != it->ehash))
			sim_fail(s, "n%d applies term %llu at %llu where a "
			    "proposal of term %llu was reported committed",
			    n->i + 1, (unsigned long long)it->term,
			    (unsigned long long)it->index,
			    (unsigned long long)sl->pterm);
	}
	n->aqn = 0;
	if (!s->failed && raft_applied(n->r, n->sm_index) != 0)
		sim_fail(s, "n%d: raft_applied(%llu) refused", n->i + 1,
		    (unsigned long long)n->sm_index);
}

static void
on_snap(struct sim *s, struct node *n)
{
	struct raft_snapshot meta;
	uint8_t buf[SNAP_HDR + 64];
	size_t len;

	n->snap_ev = false;
	if (n->sm_index == 0 || (n->snap.has &&
	    n->snap.meta.index >= n->sm_index))
		return;
	if (raft_snapshot_meta(n->r, n->sm_index, &meta) != 0)
		return;		/* overtaken by an installed snapshot */
	len = SNAP_HDR + (size_t)rng_range(&s->rng, 0, 64);
	memset(buf, (int)(n->sm_index & 0xff), sizeof(buf));
	put_u64(buf, n->sm_index);
	put_u64(buf + 8, n->sm_hash);
	meta.data = buf;
	meta.len = len;
	dsnap_free(&n->snap);
	dsnap_copy(&n->snap, &meta);
	s->st.snapshots_taken++;
	trace(s, n->i, "snapshot at %llu", (unsigned long long)n->sm_index);
	if (raft_snapshot_done(n->r, n->sm_index, buf, len) != 0)
		sim_fail(s, "n%d: raft_snapshot_done(%llu) refused", n->i + 1,
		    (unsigned long long)n->sm_index);
}

static void
on_deliver(struct sim *s, int to, struct raft_msg *m)
{
	struct node *n = &s->nodes[to];
	int from = node_of(s, m->from), rc;

	if (!n->up || from < 0 || !linked(s, from, to))
		return;
	if (m->type == RAFT_MSG_APPEND && (m->u.append.n > 0 || s->o.verbose))
		trace(s, to, "<- n%d append %llu/%llu+%zu commit %llu "
		    "term %llu", from + 1,
		    (unsigned long long)m->u.append.prev_index,
		    (unsigned long long)m->u.append.prev_term,
		    m->u.append.n, (unsigned long long)m->u.append.commit,
		    (unsigned long long)m->term);
	else if (m->type == RAFT_MSG_APPEND_RESP && s->o.verbose)
		trace(s, to, "<- n%d append-resp %s index %llu match %llu "
		    "hint %llu/%llu term %llu", from + 1,
		    m->u.append_resp.success ? "ok" : "reject",
		    (unsigned long long)m->u.append_resp.index,
		    (unsigned long long)m->u.append_resp.match,
		    (unsigned long long)m->u.append_resp.hint_index,
		    (unsigned long long)m->u.append_resp.hint_term,
		    (unsigned long long)m->term);
	else if (m->type != RAFT_MSG_APPEND &&
	    m->type != RAFT_MSG_APPEND_RESP)
		trace(s, to, "<- n%d %s term %llu", from + 1,
		    msg_name(m->type), (unsigned long long)m->term);
	rc = raft_step(n->r, m);
	if (rc != 0 && rc != -LE_NOMEM)
		sim_fail(s, "n%d: raft_step(%s from n%d) = %s", to + 1,
		    msg_name(m->type), from + 1, le_strerror(rc));
}

/* ---- client workload ---- */

static uint64_t
gen_data(struct sim *s, char *buf, size_t cap)
{
	return (uint64_t)snprintf(buf, cap, "s%llu-p%llu",
	    (unsigned long long)s->o.seed,
	    (unsigned long long)++s->prop_counter);
}

int
sim_propose(struct sim *s, int i, uint64_t *idx, uint64_t *term)
{
	char buf[64];
	uint64_t len = gen_data(s, buf, sizeof(buf)), ix = 0, tm = 0;
	struct reg *g;
	int rc;

	if (!s->nodes[i].up)
		return -LE_UNAVAIL;
	rc = raft_propose(s->nodes[i].r, RAFT_ENTRY_NORMAL, buf, (size_t)len,
	    &ix, &tm);
	if (rc == 0) {
		s->st.proposals++;
		if ((g = reg_find(s, ix, tm, false)) != NULL &&
		    g->prop == SIM_PROP_UNKNOWN)
			g->prop = SIM_PROP_PENDING;
		trace(s, i, "propose %s at %llu/%llu", buf,
		    (unsigned long long)ix, (unsigned long long)tm);
	}
	if (idx != NULL)
		*idx = ix;
	if (term != NULL)
		*term = tm;
	observe(s, &s->nodes[i]);
	return rc;
}

enum sim_prop
sim_prop_status(struct sim *s, uint64_t idx, uint64_t term)
{
	struct reg *g = reg_find(s, idx, term, false);

	return g == NULL ? SIM_PROP_UNKNOWN : (enum sim_prop)g->prop;
}

int
sim_read_index(struct sim *s, int i, uint64_t *id)
{
	struct sread *rd;
	int rc;

	if (!s->nodes[i].up)
		return -LE_UNAVAIL;
	if (s->nreads == s->cap_reads) {
		s->cap_reads = s->cap_reads ? s->cap_reads * 2 : 64;
		s->reads = xrealloc(s->reads, s->cap_reads * sizeof(*s->reads));
	}
	rd = &s->reads[s->nreads];
	memset(rd, 0, sizeof(*rd));
	rd->id = ++s->next_read_id;
	rd->node = i;
	rd->min_idx = s->max_commit;
	s->nreads++;
	rc = raft_read_index(s->nodes[i].r, rd->id);
	if (rc != 0) {
		s->nreads--;
		return rc;
	}
	if (id != NULL)
		*id = rd->id;
	observe(s, &s->nodes[i]);
	return 0;
}

int
sim_read_status(struct sim *s, uint64_t id, uint64_t *idx)
{
	for (size_t k = 0; k < s->nreads; k++)
		if (s->reads[k].id == id) {
			if (s->reads[k].status == 1 && idx != NULL)
				*idx = s->reads[k].idx;
			return s->reads[k].status;
		}
	return -LE_NOTFOUND;
}

static void
on_client(struct sim *s)
{
	int l = sim_leader(s), i = (int)rng_range(&s->rng, 0,
	    (uint64_t)s->nn - 1);
	uint64_t r = rng_next(&s->rng) % 100, idx;

	if (l >= 0 && r < 75) {
		sim_propose(s, l, NULL, NULL);
	} else if (r < 85) {
		if (s->nodes[i].up)
			sim_propose(s, i, NULL, NULL);
	} else if (l >= 0 && r < 93) {
		/* Keep the table of reads short in long runs. */
		if (s->nreads > 4096) {
			size_t k = 0;

			for (size_t j = 0; j < s->nreads; j++)
				if (s->reads[j].status == 0)
					s->reads[k++] = s->reads[j];
			s->nreads = k;
		}
		sim_read_index(s, l, NULL);
	} else if (l >= 0) {
		if (raft_lease_read(s->nodes[l].r, &idx) == 0) {
			s->st.lease_ok++;
			if (idx < s->max_commit)
				sim_fail(s, "n%d: lease read at %llu behind "
				    "commit %llu", l + 1,
				    (unsigned long long)idx,
				    (unsigned long long)s->max_commit);
		}
		observe(s, &s->nodes[l]);
	}
}

/* ---- chaos ---- */

static uint64_t
every(struct sim *s, uint32_t mean)
{
	return s->now + rng_range(&s->rng, mean / 2, mean + mean / 2);
}

static void
chaos_crash(struct sim *s)
{
	int i = (int)rng_range(&s->rng, 0, (uint64_t)s->nn - 1);

	if (!s->nodes[i].up)
		return;
	sim_crash(s, i);
	ev_push(s, s->now + rng_range(&s->rng, s->o.chaos.down_min_ms,
	    s->o.chaos.down_max_ms), EV_RESTART, i, 0, NULL);
}

static void
chaos_partition(struct sim *s)
{
	int group[SIM_MAX_NODES];

	for (int i = 0; i < s->nn; i++)
		group[i] = (int)(rng_next(&s->rng) % 2);
	if (rng_pct(&s->rng, 30)) {
		int k = (int)rng_range(&s->rng, 0, (uint64_t)s->nn - 1);

		for (int i = 0; i < s->nn; i++)
			group[i] = i == k;
	}
	sim_partition(s, group);
	ev_push(s, s->now + rng_range(&s->rng, 100, 3000), EV_HEAL, 0, 0, NULL);
}

static void
chaos_member(struct sim *s)
{
	int l = sim_leader(s), cand[SIM_MAX_NODES], nc = 0, i, pick;
	struct raft_config c;
	const struct raft_server *sv;
	struct raft *r;
	struct raft_status st;
	uint64_t match, voters = 0, action = rng_next(&s->rng) % 3;
	char addr[32];
	int rc = 0;

	if (l < 0)
		return;
	r = s->nodes[l].r;
	raft_config_get(r, false, &c);
	raft_status(r, &st);
	for (uint32_t k = 0; k < c.n; k++)
		voters += c.servers[k].role == RAFT_VOTER;
	for (i = 0; i < s->nn; i++) {
		sv = raft_config_find(&c, s->nodes[i].id);
		if ((action == 0 && sv == NULL) ||
		    (action == 1 && sv != NULL && sv->role == RAFT_NONVOTER &&
		    raft_progress(r, s->nodes[i].id, &match, NULL) == 0 &&
		    match >= st.commit) ||
		    (action == 2 && sv != NULL &&
		    (sv->role == RAFT_NONVOTER || voters > 2)))
			cand[nc++] = i;
	}
	if (nc == 0)
		return;
	pick = cand[rng_next(&s->rng) % (uint64_t)nc];
	snprintf(addr, sizeof(addr), "10.0.0.%d:8300", pick + 1);
	if (action == 0)
		rc = raft_add_server(r, s->nodes[pick].id, addr, RAFT_NONVOTER,
		    NULL);
	else if (action == 1)
		rc = raft_assign(r, s->nodes[pick].id, RAFT_VOTER, NULL);
	else
		rc = raft_remove_server(r, s->nodes[pick].id, NULL);
	trace(s, l, "%s n%d: %s", action == 0 ? "add nonvoter" :
	    action == 1 ? "promote" : "remove", pick + 1,
	    rc == 0 ? "ok" : le_strerror(rc));
	observe(s, &s->nodes[l]);
}

static void
chaos_transfer(struct sim *s)
{
	int l = sim_leader(s), rc;
	uint64_t to;

	if (l < 0)
		return;
	to = rng_pct(&s->rng, 50) ? 0 :
	    s->nodes[rng_range(&s->rng, 0, (uint64_t)s->nn - 1)].id;
	if (to == s->nodes[l].id)
		to = 0;
	rc = raft_transfer(s->nodes[l].r, to);
	trace(s, l, "transfer to %llu: %s", (unsigned long long)to,
	    rc == 0 ? "ok" : le_strerror(rc));
	observe(s, &s->nodes[l]);
}

static void
schedule_chaos(struct sim *s)
{
	const struct sim_chaos *c = &s->o.chaos;

	if (c->crash_every_ms)
		ev_push(s, every(s, c->crash_every_ms), EV_CHAOS_CRASH, 0, 0,
		    NULL);
	if (c->partition_every_ms)
		ev_push(s, every(s, c->partition_every_ms), EV_CHAOS_PART, 0,
		    0, NULL);
	if (c->member_every_ms)
		ev_push(s, every(s, c->member_every_ms), EV_CHAOS_MEMBER, 0, 0,
		    NULL);
	if (c->transfer_every_ms)
		ev_push(s, every(s, c->transfer_every_ms), EV_CHAOS_TRANSFER,
		    0, 0, NULL);
	if (c->client_every_ms)
		ev_push(s, every(s, c->client_every_ms), EV_CLIENT, 0, 0, NULL);
}

void
sim_set_chaos(struct sim *s, const struct sim_chaos *c)
{
	s->o.chaos = *c;
}

/* ---- the loop ---- */

static void
step(struct sim *s)
{
	struct ev e = ev_pop(s);
	const struct sim_chaos *c = &s->o.chaos;
	struct node *n = &s->nodes[e.node];

	s->now = e.at;
	s->steps++;
	switch (e.kind) {
	case EV_TICK:
		if (!n->up || e.gen != n->gen)
			break;
		raft_tick(n->r);
		ev_push(s, s->now + s->o.ropt.heartbeat_ms / 5, EV_TICK, n->i,
		    n->gen, NULL);
		break;
	case EV_DELIVER:
		on_deliver(s, e.node, e.p);
		free(e.p);
		break;
	case EV_DISK:
		if (n->up && e.gen == n->gen)
			on_disk(s, n);
		break;
	case EV_APPLY:
		if (n->up && e.gen == n->gen)
			on_apply(s, n);
		break;
	case EV_SNAP:
		if (n->up && e.gen == n->gen)
			on_snap(s, n);
		break;
	case EV_RESTART:
		if (s->chaos_on)
			sim_restart(s, e.node);
		break;
	case EV_HEAL:
		if (s->chaos_on)
			sim_heal(s);
		break;
	case EV_CHAOS_CRASH:
		if (s->chaos_on && c->crash_every_ms) {
			chaos_crash(s);
			ev_push(s, every(s, c->crash_every_ms), e.kind, 0, 0,
			    NULL);
		}
		break;
	case EV_CHAOS_PART:
		if (s->chaos_on && c->partition_every_ms) {
			chaos_partition(s);
			ev_push(s, every(s, c->partition_every_ms), e.kind, 0,
			    0, NULL);
		}
		break;
	case EV_CHAOS_MEMBER:
		if (s->chaos_on && c->member_every_ms) {
			chaos_member(s);
			ev_push(s, every(s, c->member_every_ms), e.kind, 0, 0,
			    NULL);
		}
		break;
	case EV_CHAOS_TRANSFER:
		if (s->chaos_on && c->transfer_every_ms) {
			chaos_transfer(s);
			ev_push(s, every(s, c->transfer_every_ms), e.kind, 0,
			    0, NULL);
		}
		break;
	case EV_CLIENT:
		if (s->chaos_on && c->client_every_ms) {
			on_client(s);
			ev_push(s, every(s, c->client_every_ms), e.kind, 0, 0,
			    NULL);
		}
		break;
	}
	observe(s, n);
}

int
sim_run_until(struct sim *s, uint64_t t)
{
	while (!s->failed && s->hn > 0 && s->heap[0].at <= t)
		step(s);
	if (!s->failed && s->now < t)
		s->now = t;
	return s->failed ? -1 : 0;
}

int
sim_run_for(struct sim *s, uint64_t ms)
{
	return sim_run_until(s, s->now + ms);
}

int
sim_run_while(struct sim *s, bool (*pred)(struct sim *, void *), void *arg,
    uint64_t max_ms)
{
	uint64_t end = s->now + max_ms;

	while (!s->failed) {
		if (pred(s, arg))
			return 1;
		if (s->hn == 0 || s->heap[0].at > end)
			break;
		step(s);
	}
	if (s->failed)
		return -1;
	return pred(s, arg) ? 1 : 0;
}

/* ---- setup ---- */

void
sim_opts_default(struct sim_opts *o, uint64_t seed)
{
	memset(o, 0, sizeof(*o));
	o->seed = seed;
	o->voters = 3;
	raft_options_default(&o->ropt);
	o->ropt.election_timeout_ms = 300;
	o->ropt.heartbeat_ms = 50;
	o->ropt.max_inflight = 8;
	o->ropt.max_batch_entries = 16;
	o->ropt.snapshot_threshold = 64;
	o->ropt.snapshot_trailing = 8;
	o->ropt.max_uncommitted = 256;
	o->chaos.fifo = true;
	o->chaos.delay_min_ms = 1;
	o->chaos.delay_max_ms = 5;
	o->chaos.fsync_min_ms = 1;
	o->chaos.fsync_max_ms = 3;
	o->chaos.apply_max_ms = 2;
}

void
sim_chaos_default(struct sim_chaos *c)
{
	memset(c, 0, sizeof(*c));
	c->drop_pct = 5;
	c->dup_pct = 2;
	c->delay_min_ms = 1;
	c->delay_max_ms = 30;
	c->slow_pct = 2;
	c->slow_ms = 250;
	c->fsync_min_ms = 1;
	c->fsync_max_ms = 15;
	c->apply_max_ms = 5;
	c->crash_every_ms = 1500;
	c->down_min_ms = 20;
	c->down_max_ms = 2000;
	c->crash_lose_all_pct = 30;
	c->partition_every_ms = 2000;
	c->member_every_ms = 1500;
	c->transfer_every_ms = 3000;
	c->client_every_ms = 10;
}

#define PICK(g, ...) ({ \
	const uint32_t _v[] = { __VA_ARGS__ }; \
	_v[rng_next(g) % (sizeof(_v) / sizeof(_v[0]))]; })

void
sim_opts_random(struct sim_opts *o, uint64_t seed, int voters, int spares)
{
	/* Window x batch >= 4: one entry per round trip cannot drain the
	 * backlog a partition leaves within the liveness bound. */
	static const uint32_t wb[][2] = { { 1, 16 }, { 4, 1 }, { 4, 4 },
	    { 32, 1 }, { 8, 8 }, { 32, 64 } };
	struct sim_chaos *c = &o->chaos;
	const uint32_t *pick;
	struct rng g;

	sim_opts_default(o, seed);
	o->voters = voters;
	o->spares = spares;
	rng_seed(&g, seed ^ UINT64_C(0x5eed5eed5eed5eed));
	c->fifo = rng_pct(&g, 60);
	c->drop_pct = (unsigned)rng_range(&g, 0, 20);
	c->dup_pct = (unsigned)rng_range(&g, 0, 5);
	c->delay_min_ms = (uint32_t)rng_range(&g, 0, 2);
	c->delay_max_ms = PICK(&g, 2, 10, 30, 80);
	c->slow_pct = (unsigned)rng_range(&g, 0, 5);
	c->slow_ms = (uint32_t)rng_range(&g, 100, 600);
	c->fsync_min_ms = (uint32_t)rng_range(&g, 0, 2);
	c->fsync_max_ms = PICK(&g, 1, 5, 20, 60);
	c->apply_max_ms = (uint32_t)rng_range(&g, 0, 10);
	c->crash_every_ms = PICK(&g, 150, 300, 800, 2000, 5000, 0);
	if (rng_pct(&g, 50)) {
		c->down_min_ms = 0;	/* crash storms: back at once */
		c->down_max_ms = 30;
	} else {
		c->down_min_ms = 20;
		c->down_max_ms = 2000;
	}
	c->crash_lose_all_pct = PICK(&g, 0, 50, 100);
	c->partition_every_ms = PICK(&g, 500, 1500, 4000, 0);
	c->member_every_ms = PICK(&g, 500, 1500, 4000, 0);
	c->transfer_every_ms = PICK(&g, 1000, 3000, 0);
	c->client_every_ms = PICK(&g, 2, 10, 30);
	o->ropt.prevote = rng_pct(&g, 80);
	pick = wb[rng_next(&g) % 6];
	o->ropt.max_inflight = pick[0];
	o->ropt.max_batch_entries = pick[1];
	o->ropt.snapshot_threshold = PICK(&g, 16, 64, 1000);
	o->ropt.snapshot_trailing = PICK(&g, 0, 4, 32);
	o->ropt.max_uncommitted = PICK(&g, 16, 64, 256);
	o->ropt.commit_timeout_ms = PICK(&g, 0, 10, 50);
}

int
sim_new(const struct sim_opts *o, struct sim **out)
{
	struct raft_config conf;
	struct sim *s;
	int i, rc;

	*out = NULL;
	if (o->voters < 1 || o->spares < 0 ||
	    o->voters + o->spares > SIM_MAX_NODES)
		return -LE_INVAL;
	s = xcalloc(1, sizeof(*s));
	s->o = *o;
	s->nn = o->voters + o->spares;
	s->now = 1000;
	s->st.digest = FNV0;
	rng_seed(&s->rng, o->seed);
	memset(&conf, 0, sizeof(conf));
	for (i = 0; i < o->voters; i++) {
		conf.servers[i].id = (uint64_t)i + 1;
		conf.servers[i].role = RAFT_VOTER;
		snprintf(conf.servers[i].addr, sizeof(conf.servers[i].addr),
		    "10.0.0.%d:8300", i + 1);
	}
	conf.n = (uint32_t)o->voters;
	for (i = 0; i < s->nn; i++) {
		struct node *n = &s->nodes[i];

		n->sim = s;
		n->i = i;
		n->id = (uint64_t)i + 1;
		n->sm_hash = FNV0;
		if ((rc = node_boot(s, n)) != 0 || (i < o->voters &&
		    (rc = raft_bootstrap(n->r, &conf)) != 0)) {
			sim_free(s);
			return rc;
		}
	}
	s->chaos_on = true;
	schedule_chaos(s);
	*out = s;
	return 0;
}

void
sim_free(struct sim *s)
{
	if (s == NULL)
		return;
	for (size_t k = 0; k < s->hn; k++)
		if (s->heap[k].kind == EV_DELIVER)
			free(s->heap[k].p);
	for (int i = 0; i < s->nn; i++) {
		struct node *n = &s->nodes[i];

		raft_free(n->r);
		for (size_t k = 0; k < n->qn; k++)
			dreq_free(&n->q[k]);
		free(n->q);
		sent_free(n->dlog, n->dn);
		free(n->dlog);
		dsnap_free(&n->snap);
		free(n->aq);
	}
	free(s->heap);
	free(s->reg);
	free(s->slots);
	free(s->leaders);
	free(s->reads);
	free(s);
}

/* ---- accessors and controls ---- */

uint64_t
sim_now(const struct sim *s)
{
	return s->now;
}

int
sim_nodes(const struct sim *s)
{
	return s->nn;
}

uint64_t
sim_id(const struct sim *s, int i)
{
	return s->nodes[i].id;
}

struct raft *
sim_raft(struct sim *s, int i)
{
	return s->nodes[i].up ? s->nodes[i].r : NULL;
}

int
sim_leader(struct sim *s)
{
	struct raft_status st;
	uint64_t best = 0;
	int l = -1;

	for (int i = 0; i < s->nn; i++) {
		if (!s->nodes[i].up)
			continue;
		raft_status(s->nodes[i].r, &st);
		if (st.state == RAFT_LEADER && st.term > best) {
			best = st.term;
			l = i;
		}
	}
	return l;
}

bool
sim_failed(const struct sim *s)
{
	return s->failed;
}

const char *
sim_error(const struct sim *s)
{
	return s->err;
}

void
sim_stats(const struct sim *s, struct sim_stats *st)
{
	*st = s->st;
	st->steps = s->steps;
	st->now = s->now;
	st->max_commit = s->max_commit;
}

void
sim_partition(struct sim *s, const int *group)
{
	char buf[64];
	size_t off = 0;

	for (int i = 0; i < s->nn; i++) {
		s->nodes[i].group = group[i];
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%d",
		    group[i]);
		if (off >= sizeof(buf))
			off = sizeof(buf) - 1;
	}
	s->st.partitions++;
	trace(s, 0, "partition %s", buf);
}

void
sim_isolate(struct sim *s, int i)
{
	int group[SIM_MAX_NODES] = { 0 };

	group[i] = 1;
	sim_partition(s, group);
}

void
sim_heal(struct sim *s)
{
	for (int i = 0; i < s->nn; i++)
		s->nodes[i].group = 0;
	trace(s, 0, "heal");
}

void
sim_set_filter(struct sim *s, bool (*f)(void *arg, const struct raft_msg *m),
    void *arg)
{
	s->filter = f;
	s->filter_arg = arg;
}

uint64_t
sim_applied(const struct sim *s, int i)
{
	return s->nodes[i].sm_index;
}

uint64_t
sim_max_commit(const struct sim *s)
{
	return s->max_commit;
}

bool
sim_logs_agree(struct sim *s)
{
	struct raft_status st;
	uint64_t lo = 0, hi = UINT64_MAX, t0, t;
	int i, first = -1;

	for (i = 0; i < s->nn; i++) {
		if (!s->nodes[i].up)
			continue;
		raft_status(s->nodes[i].r, &st);
		if (st.snapshot_index > lo)
			lo = st.snapshot_index;
		if (st.last_index < hi)
			hi = st.last_index;
		if (first < 0)
			first = i;
	}
	if (first < 0)
		return true;
	for (uint64_t idx = lo + 1; idx <= hi; idx++) {
		if (raft_log_term(s->nodes[first].r, idx, &t0) != 0)
			return false;
		for (i = first + 1; i < s->nn; i++)
			if (s->nodes[i].up &&
			    (raft_log_term(s->nodes[i].r, idx, &t) != 0 ||
			    t != t0))
				return false;
	}
	return true;
}

/* ---- the chaos run ---- */

struct live {
	uint64_t idx;
	uint64_t term;
};

static bool
live_committed(struct sim *s, void *arg)
{
	struct live *lv = arg;
	int l;

	if (lv->idx != 0) {
		switch (sim_prop_status(s, lv->idx, lv->term)) {
		case SIM_PROP_COMMITTED:
			return true;
		case SIM_PROP_PENDING:
			return false;
		default:
			lv->idx = 0;	/* lost: propose again */
		}
	}
	if ((l = sim_leader(s)) >= 0 &&
	    sim_propose(s, l, &lv->idx, &lv->term) != 0)
		lv->idx = 0;
	return false;
}

static bool
live_applied(struct sim *s, void *arg)
{
	struct live *lv = arg;
	struct raft_config c;
	int l = sim_leader(s), i;

	if (l < 0)
		return false;
	raft_config_get(s->nodes[l].r, true, &c);
	for (i = 0; i < s->nn; i++)
		if (raft_config_find(&c, s->nodes[i].id) != NULL &&
		    s->nodes[i].sm_index < lv->idx)
			return false;
	return true;
}

/* Time for the furthest member to fetch the entries it lacks: a window
 * of window x batch entries per round trip (twice the worst latency plus
 * an fsync), doubled for probing; a snapshot takes about one round trip. */
static uint64_t
catchup_ms(struct sim *s, uint64_t idx)
{
	const struct sim_chaos *c = &s->o.chaos;
	uint64_t lag = 0, per;

	for (int i = 0; i < s->nn; i++)
		if (s->nodes[i].sm_index < idx &&
		    idx - s->nodes[i].sm_index > lag)
			lag = idx - s->nodes[i].sm_index;
	if (lag > s->o.ropt.snapshot_threshold + s->o.ropt.snapshot_trailing)
		lag = s->o.ropt.snapshot_threshold +
		    s->o.ropt.snapshot_trailing;
	per = 2 * (2 * (uint64_t)c->delay_max_ms + c->fsync_max_ms + 1);
	return lag * per / ((uint64_t)s->o.ropt.max_inflight *
	    s->o.ropt.max_batch_entries) + per;
}

int
sim_chaos_run(const struct sim_opts *o, uint64_t duration_ms,
    struct sim_stats *st, FILE *f)
{
	struct sim_chaos calm;
	struct live lv = { 0, 0 };
	struct sim *s;
	uint64_t bound = 60 * (uint64_t)o->ropt.election_timeout_ms, catchup;
	int rc;

	if ((rc = sim_new(o, &s)) != 0) {
		if (f != NULL)
			fprintf(f, "raft_sim: seed %llu: setup failed: %s\n",
			    (unsigned long long)o->seed, le_strerror(rc));
		return -1;
	}
	rc = sim_run_for(s, duration_ms);
	if (rc == 0) {
		/* Calm: heal, restart, no loss; delays stay. */
		s->chaos_on = false;
		calm = s->o.chaos;
		calm.drop_pct = calm.dup_pct = calm.slow_pct = 0;
		calm.fifo = true;
		s->o.chaos = calm;
		sim_heal(s);
		for (int i = 0; i < s->nn; i++)
			if (!s->nodes[i].up)
				sim_restart(s, i);
		trace(s, 0, "calm: liveness check");
		rc = sim_run_while(s, live_committed, &lv, bound);
		if (rc == 0)
			sim_fail(s, "liveness: no proposal committed within "
			    "%llu ms of healing", (unsigned long long)bound);
		else if (rc == 1 && (rc = sim_run_while(s, live_applied, &lv,
		    (catchup = bound + catchup_ms(s, lv.idx)))) == 0)
			sim_fail(s, "liveness: index %llu not applied by every "
			    "member within %llu ms", (unsigned long long)lv.idx,
			    (unsigned long long)catchup);
		rc = s->failed ? -1 : 0;
	}
	if (st != NULL)
		sim_stats(s, st);
	if (rc != 0 && f != NULL && !o->quiet)
		sim_report(s, f);
	sim_free(s);
	return rc;
}
