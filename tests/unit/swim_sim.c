/* swim_sim.c: the deterministic simulator described in swim_sim.h.
 *
 * Everything that happens is an event in one heap ordered by (time,
 * sequence): timer ticks, UDP deliveries, the two halves of each TCP
 * exchange, node starts and Serf's reconnects. Callbacks from a core only
 * queue events, so every call into a core comes from the event loop (or
 * from a test between runs). Nothing depends on the wall clock or on
 * pointers: the PRNG is xoshiro256** seeded through splitmix64, and the
 * digest hashes the event trace. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swim_sim.h"

#define TRACE_LEN	64
#define FNV0		UINT64_C(0xcbf29ce484222325)
#define SIM_PORT	7946
#define BUSY_MAX	10000	/* calls into one core at one instant */

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
	return hi <= lo ? lo : lo + rng_next(g) % (hi - lo + 1);
}

static bool
rng_pm(struct rng *g, unsigned pm)
{
	return pm > 0 && rng_next(g) % 1000 < pm;
}

static uint64_t
fnv_u64(uint64_t h, uint64_t v)
{
	for (int k = 0; k < 8; k++) {
		h ^= (uint8_t)(v >> (8 * k));
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL) {
		fprintf(stderr, "swim_sim: out of memory\n");
		abort();
	}
	return p;
}

static uint8_t *
xdup(const void *p, size_t n)
{
	uint8_t *d = xcalloc(1, n);

	memcpy(d, p, n);
	return d;
}

/* ---- structures ---- */

enum ev_kind {
	EV_TICK, EV_UDP, EV_PP_ARRIVE, EV_PP_REPLY, EV_TP_ARRIVE, EV_TP_REPLY,
	EV_START, EV_RECONNECT, EV_RETRY_JOIN,
};

static const char *const ev_names[] = { "tick", "udp", "pp-arrive",
	"pp-reply", "tcpping-arrive", "tcpping-reply", "start", "reconnect",
	"retry-join" };

struct ev {
	uint64_t at;
	uint64_t seq;
	uint8_t kind;
	int node;			/* whose event it is */
	int from;
	uint32_t gen;			/* node's life when scheduled */
	uint64_t id;			/* push/pull id, ping seq */
	int status;
	bool join;
	uint64_t deadline;
	uint8_t *buf;
	size_t len;
};

struct snode {
	struct ssim *sim;
	int idx;
	char name[16];
	struct swim_addr addr;
	struct swim *sw;
	bool up;
	uint32_t gen;			/* bumped at every crash */
	uint32_t tick_gen;
	bool tick_pending;
	uint64_t tick_at;
	uint64_t busy_at;
	unsigned busy_n;
	int group;
	uint64_t bytes;
	int leave_status;		/* 0 none, 1 pending, 2 done, <0 */
	bool rj_pending;		/* retry_join until a join works */
	uint64_t rj_id;
	uint8_t *meta;
};

struct trace {
	uint64_t at;
	uint8_t kind;
	int node, from;
};

struct ssim {
	struct ssim_opts o;
	struct rng rng;
	uint64_t now;
	uint64_t seq;
	struct ev **heap;
	size_t hn, hcap;
	int n;
	struct snode *nodes;
	int8_t *view;			/* n x n */
	ssim_event_fn hook;
	void *hook_arg;
	bool failed;
	char err[512];
	struct ssim_stats st;
	struct trace trace[TRACE_LEN];
	uint64_t ntrace;
};

static const struct swim_ops sim_ops;

/* ---- heap ---- */

static bool
ev_less(const struct ev *a, const struct ev *b)
{
	return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static struct ev *
ev_new(struct ssim *s, uint64_t at, uint8_t kind, int node)
{
	struct ev *e = xcalloc(1, sizeof(*e));
	size_t i;

	e->at = at < s->now ? s->now : at;
	e->seq = ++s->seq;
	e->kind = kind;
	e->node = node;
	e->from = -1;
	if (node >= 0)
		e->gen = s->nodes[node].gen;
	if (s->hn == s->hcap) {
		s->hcap = s->hcap ? s->hcap * 2 : 1024;
		s->heap = realloc(s->heap, s->hcap * sizeof(*s->heap));
		if (s->heap == NULL)
			abort();
	}
	i = s->hn++;
	while (i > 0 && ev_less(e, s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = e;
	return e;
}

static struct ev *
ev_pop(struct ssim *s)
{
	struct ev *top = s->heap[0], *last = s->heap[--s->hn];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->hn)
			break;
		if (c + 1 < s->hn && ev_less(s->heap[c + 1], s->heap[c]))
			c++;
		if (!ev_less(s->heap[c], last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->hn > 0)
		s->heap[i] = last;
	return top;
}

static void
ev_free(struct ev *e)
{
	free(e->buf);
	free(e);
}

/* ---- failures and reports ---- */

void
ssim_fail(struct ssim *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	s->failed = true;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	if (!s->o.quiet)
		ssim_report(s, stderr);
}

void
ssim_report(const struct ssim *s, FILE *f)
{
	uint64_t first = s->ntrace > TRACE_LEN ? s->ntrace - TRACE_LEN : 0;

	fprintf(f, "swim_sim: seed %llu, %d nodes, t=%.6f s, events %llu: "
	    "%s\n", (unsigned long long)s->o.seed, s->n, s->now / 1e6,
	    (unsigned long long)s->st.events,
	    s->failed ? s->err : "ok");
	fprintf(f, "  replay: SWIM_SIM_SEED=%llu\n",
	    (unsigned long long)s->o.seed);
	for (uint64_t i = first; i < s->ntrace; i++) {
		const struct trace *t = &s->trace[i % TRACE_LEN];

		fprintf(f, "  %.6f %-14s node %d from %d\n", t->at / 1e6,
		    ev_names[t->kind], t->node, t->from);
	}
}

bool
ssim_failed(const struct ssim *s)
{
	return s->failed;
}

const char *
ssim_error(const struct ssim *s)
{
	return s->err;
}

/* ---- addresses ---- */

static struct swim_addr
node_addr(int i)
{
	struct swim_addr a;

	memset(&a, 0, sizeof(a));
	a.len = 4;
	a.ip[0] = 10;
	a.ip[1] = 1;
	a.ip[2] = (uint8_t)(i >> 8);
	a.ip[3] = (uint8_t)i;
	a.port = SIM_PORT;
	return a;
}

static int
addr_node(const struct ssim *s, const struct swim_addr *a)
{
	int i;

	if (a->len != 4 || a->ip[0] != 10 || a->ip[1] != 1 ||
	    a->port != SIM_PORT)
		return -1;
	i = a->ip[2] << 8 | a->ip[3];
	return i < s->n ? i : -1;
}

static int
name_node(const struct ssim *s, struct gw_bytes name)
{
	int i = 0;

	if (name.len < 2 || name.p[0] != 'n')
		return -1;
	for (size_t k = 1; k < name.len; k++) {
		if (name.p[k] < '0' || name.p[k] > '9')
			return -1;
		i = i * 10 + (name.p[k] - '0');
	}
	return i < s->n ? i : -1;
}

static uint64_t
delay(struct ssim *s)
{
	return rng_range(&s->rng, s->o.net.delay_min_us, s->o.net.delay_max_us);
}

static bool
linked(const struct ssim *s, int a, int b)
{
	return s->nodes[a].group == s->nodes[b].group;
}

/* ---- calling into a core (or the layer above it) ---- */

static const struct ssim_layer *
layer(const struct ssim *s)
{
	return s->o.layer;
}

static uint64_t
core_next_deadline(struct ssim *s, struct snode *nd)
{
	return layer(s) ? layer(s)->next_deadline(s->o.layer_arg, nd->idx) :
	    swim_next_deadline(nd->sw);
}

static int
core_join(struct ssim *s, struct snode *nd, const struct swim_addr *a,
    uint64_t *id)
{
	uint64_t dummy = 0;
	int rc;

	if (!layer(s))
		return swim_join(nd->sw, a, id);
	rc = layer(s)->join(s->o.layer_arg, nd->idx, a, id ? id : &dummy);
	if (id != NULL && *id == 0)
		nd->rj_pending = false;
	return rc;
}

static void
core_down(struct ssim *s, struct snode *nd)
{
	if (nd->sw == NULL)
		return;
	if (layer(s))
		layer(s)->down(s->o.layer_arg, nd->idx);
	else
		swim_free(nd->sw);
	nd->sw = NULL;
}

static void
resched(struct ssim *s, int i)
{
	struct snode *nd = &s->nodes[i];
	uint64_t d;
	struct ev *e;

	if (!nd->up)
		return;
	d = core_next_deadline(s, nd);
	if (d == UINT64_MAX)
		return;
	if (d < s->now)
		d = s->now;
	if (nd->tick_pending && nd->tick_at <= d)
		return;
	e = ev_new(s, d, EV_TICK, i);
	e->id = ++nd->tick_gen;
	nd->tick_pending = true;
	nd->tick_at = d;
}

/* A core that keeps asking for ticks at the same instant is looping. */
static void
busy_check(struct ssim *s, struct snode *nd)
{
	if (nd->busy_at != s->now) {
		nd->busy_at = s->now;
		nd->busy_n = 0;
	}
	if (++nd->busy_n > BUSY_MAX)
		ssim_fail(s, "%s: %u calls at one instant", nd->name,
		    nd->busy_n);
}

static void
deliver_msg(struct ssim *s, struct snode *to, const struct swim_addr *from,
    const uint8_t *p, size_t len)
{
	struct gw_msg m;
	const char *why = NULL;
	int rc;

	if ((rc = gw_decode_msg(p, len, &m, &why)) != 0) {
		ssim_fail(s, "%s: undecodable message type %u from a core: %s",
		    to->name, len ? p[0] : 0, why ? why : le_strerror(rc));
		return;
	}
	if (!to->up)
		return;
	busy_check(s, to);
	if ((rc = swim_recv(to->sw, from, &m)) != 0)
		ssim_fail(s, "%s: swim_recv type %u: %s", to->name, m.type,
		    le_strerror(rc));
}

static void
deliver_udp(struct ssim *s, struct ev *e)
{
	struct snode *to = &s->nodes[e->node];
	struct swim_addr from = node_addr(e->from);
	struct gw_bytes parts[GW_COMPOUND_MAX];
	unsigned n = 0, trunc = 0;
	const char *why = NULL;

	if (!to->up || !linked(s, e->from, e->node))
		return;
	if (e->buf[0] != GW_COMPOUND) {
		deliver_msg(s, to, &from, e->buf, e->len);
	} else if (gw_compound_split(e->buf + 1, e->len - 1, parts,
	    GW_COMPOUND_MAX, &n, &trunc, &why) != 0 || trunc != 0) {
		ssim_fail(s, "%s: bad compound from a core: %s", to->name,
		    why ? why : "truncated");
	} else {
		for (unsigned i = 0; i < n && !s->failed; i++)
			deliver_msg(s, to, &from, parts[i].p, parts[i].len);
	}
	resched(s, e->node);
}

/* ---- ops ---- */

static uint64_t
op_now(void *arg)
{
	return ((struct snode *)arg)->sim->now;
}

static uint64_t
op_rand(void *arg)
{
	return rng_next(&((struct snode *)arg)->sim->rng);
}

static void
op_send_udp(void *arg, const struct swim_addr *to, uint8_t pmax,
    const uint8_t *pkt, size_t len)
{
	struct snode *nd = arg;
	struct ssim *s = nd->sim;
	const struct swim_config *c = &s->o.cfg;
	int dst = addr_node(s, to), copies = 1;

	if (len == 0 || len > c->udp_budget - c->layer_overhead) {
		ssim_fail(s, "%s: packet of %zu bytes (budget %zu)", nd->name,
		    len, c->udp_budget - c->layer_overhead);
		return;
	}
	s->st.packets++;
	s->st.bytes += len;
	nd->bytes += len;
	if (dst < 0)
		return;
	if (rng_pm(&s->rng, s->o.net.dup_pm))
		copies++;
	for (int k = 0; k < copies; k++) {
		struct ev *e;

		if (rng_pm(&s->rng, s->o.net.drop_pm)) {
			s->st.dropped++;
			continue;
		}
		e = ev_new(s, s->now + delay(s), EV_UDP, dst);
		e->from = nd->idx;
		e->buf = xdup(pkt, len);
		e->len = len;
	}
}

static void
op_tcp_ping(void *arg, uint32_t seq, const struct swim_addr *to,
    const uint8_t *msg, size_t len, uint64_t deadline_us)
{
	struct snode *nd = arg;
	struct ssim *s = nd->sim;
	int dst = addr_node(s, to);
	struct ev *e;

	s->st.tcp++;
	s->st.tcp_bytes += len;
	if (dst < 0) {
		e = ev_new(s, s->now + delay(s), EV_TP_REPLY, nd->idx);
		e->id = seq;
		return;
	}
	e = ev_new(s, s->now + delay(s), EV_TP_ARRIVE, dst);
	e->from = nd->idx;
	e->gen = nd->gen;	/* the initiator's life */
	e->id = seq;
	e->deadline = deadline_us;
	e->buf = xdup(msg, len);
	e->len = len;
}

static void
op_push_pull(void *arg, uint64_t id, const struct swim_addr *to, bool join,
    const uint8_t *msg, size_t len)
{
	struct snode *nd = arg;
	struct ssim *s = nd->sim;
	int dst = addr_node(s, to);
	struct ev *e;

	s->st.tcp++;
	s->st.tcp_bytes += len;
	if (dst < 0) {
		e = ev_new(s, s->now + delay(s), EV_PP_REPLY, nd->idx);
		e->id = id;
		e->status = -LE_IO;
		return;
	}
	e = ev_new(s, s->now + delay(s), EV_PP_ARRIVE, dst);
	e->from = nd->idx;
	e->gen = nd->gen;
	e->id = id;
	e->join = join;
	e->buf = xdup(msg, len);
	e->len = len;
}

static void
op_event(void *arg, enum swim_event ev, const struct swim_member *m,
    const struct swim_member *other)
{
	struct snode *nd = arg;
	struct ssim *s = nd->sim;
	int subj = name_node(s, m->name);
	int8_t *v;

	if (ev == SWIM_EV_CONFLICT) {
		ssim_fail(s, "%s: conflict event about %.*s", nd->name,
		    (int)m->name.len, (const char *)m->name.p);
		return;
	}
	if (subj < 0) {
		ssim_fail(s, "%s: event about unknown name %.*s", nd->name,
		    (int)m->name.len, (const char *)m->name.p);
		return;
	}
	v = &s->view[(size_t)nd->idx * s->n + subj];
	switch (ev) {
	case SWIM_EV_JOIN:
		*v = SWIM_ALIVE;
		break;
	case SWIM_EV_FAIL:
		*v = SWIM_DEAD;
		if (s->o.check_false_fail && s->nodes[subj].up)
			ssim_fail(s, "%s declared %s failed while it is up",
			    nd->name, s->nodes[subj].name);
		break;
	case SWIM_EV_LEAVE:
		*v = SWIM_LEFT;
		break;
	default:
		break;		/* Serf keeps reaped members: view stays */
	}
	if (s->o.verbose)
		fprintf(stderr, "%.6f %s: event %d about %s\n", s->now / 1e6,
		    nd->name, ev, s->nodes[subj].name);
	if (s->hook != NULL)
		s->hook(s->hook_arg, nd->idx, ev, subj, m);
}

static void
op_done(void *arg, enum swim_wait what, int status)
{
	struct snode *nd = arg;

	if (what == SWIM_WAIT_LEAVE)
		nd->leave_status = status == 0 ? 2 : status;
}

static void
op_log(void *arg, int level, const char *msg)
{
	struct snode *nd = arg;

	if (nd->sim->o.verbose)
		fprintf(stderr, "%.6f %s: %s\n", nd->sim->now / 1e6, nd->name,
		    msg);
}

static const struct swim_ops sim_ops = {
	.now = op_now, .rand = op_rand, .send_udp = op_send_udp,
	.tcp_ping = op_tcp_ping, .push_pull = op_push_pull,
	.event = op_event, .done = op_done, .log = op_log,
};

/* ---- TCP exchanges ---- */

static void
pp_arrive(struct ssim *s, struct ev *e)
{
	struct snode *to = &s->nodes[e->node];
	struct gw_buf reply = { 0 };
	struct ev *r;
	int rc;

	if (!to->up) {			/* refused */
		r = ev_new(s, s->now + delay(s), EV_PP_REPLY, e->from);
		r->status = -LE_IO;
	} else if (!linked(s, e->from, e->node) ||
	    rng_pm(&s->rng, s->o.net.tcp_fail_pm)) {
		r = ev_new(s, s->now + s->o.cfg.tcp_timeout_ms * 1000ULL,
		    EV_PP_REPLY, e->from);
		r->status = -LE_TIMEOUT;
	} else {
		busy_check(s, to);
		rc = swim_push_pull_serve(to->sw, e->buf, e->len, &reply);
		resched(s, e->node);
		if (rc == -LE_MALFORMED)
			ssim_fail(s, "%s: push/pull from %s malformed",
			    to->name, s->nodes[e->from].name);
		r = ev_new(s, s->now + delay(s), EV_PP_REPLY, e->from);
		r->status = reply.len > 0 ? 0 : rc < 0 ? rc : -LE_IO;
		if (reply.len > 0) {
			r->buf = xdup(reply.p, reply.len);
			r->len = reply.len;
			s->st.tcp_bytes += reply.len;
		}
		gw_buf_free(&reply);
	}
	r->gen = e->gen;
	r->id = e->id;
}

static void
pp_reply(struct ssim *s, struct ev *e)
{
	struct snode *nd = &s->nodes[e->node];
	int rc;

	if (!nd->up || nd->gen != e->gen)
		return;
	rc = layer(s) ? layer(s)->push_pull_done(s->o.layer_arg, e->node, e->id,
	    e->status, e->buf, e->len) :
	    swim_push_pull_done(nd->sw, e->id, e->status, e->buf, e->len);
	if (rc == -LE_MALFORMED || rc == -LE_NOTFOUND)
		ssim_fail(s, "%s: push/pull %llu reply: %s", nd->name,
		    (unsigned long long)e->id, le_strerror(rc));
	if (nd->rj_pending && e->id == nd->rj_id) {
		if (rc == 0)
			nd->rj_pending = false;
		else
			ev_new(s, s->now + s->o.retry_ms * 1000ULL,
			    EV_RETRY_JOIN, e->node);
	}
	resched(s, e->node);
}

static void
tp_arrive(struct ssim *s, struct ev *e)
{
	struct snode *to = &s->nodes[e->node];
	struct gw_buf reply = { 0 };
	struct gw_msg m;
	struct ev *r;

	if (!to->up) {
		r = ev_new(s, s->now + delay(s), EV_TP_REPLY, e->from);
	} else if (!linked(s, e->from, e->node) ||
	    rng_pm(&s->rng, s->o.net.tcp_fail_pm)) {
		r = ev_new(s, e->deadline, EV_TP_REPLY, e->from);
	} else {
		uint64_t at = s->now + delay(s);

		if (gw_decode_msg(e->buf, e->len, &m, NULL) != 0 ||
		    swim_tcp_ping_serve(to->sw, &m, &reply) != 0) {
			ssim_fail(s, "%s: bad TCP ping", to->name);
			gw_buf_free(&reply);
			return;
		}
		/* Late answers are lost: the daemon's deadline has passed. */
		r = ev_new(s, at <= e->deadline ? at : e->deadline,
		    EV_TP_REPLY, e->from);
		if (at <= e->deadline && reply.len > 0) {
			r->buf = xdup(reply.p, reply.len);
			r->len = reply.len;
		}
		gw_buf_free(&reply);
	}
	r->gen = e->gen;
	r->id = e->id;
}

static void
tp_reply(struct ssim *s, struct ev *e)
{
	struct snode *nd = &s->nodes[e->node];
	struct gw_msg m;

	if (!nd->up || nd->gen != e->gen)
		return;
	if (e->buf != NULL && gw_decode_msg(e->buf, e->len, &m, NULL) != 0) {
		ssim_fail(s, "%s: undecodable TCP ack", nd->name);
		return;
	}
	swim_tcp_ping_done(nd->sw, (uint32_t)e->id, e->buf ? &m : NULL);
	resched(s, e->node);
}

/* ---- nodes ---- */

static int
node_boot(struct ssim *s, int i, int join_to)
{
	struct snode *nd = &s->nodes[i];
	struct swim_self self;
	int rc;

	memset(&self, 0, sizeof(self));
	self.name = nd->name;
	self.name_len = strlen(nd->name);
	self.addr = nd->addr;
	self.meta = nd->meta;
	self.meta_len = s->o.meta_len;
	rc = layer(s) ? layer(s)->boot(s->o.layer_arg, i, &s->o.cfg, &self,
	    &sim_ops, nd, &nd->sw) :
	    swim_new(&s->o.cfg, &self, &sim_ops, nd, &nd->sw);
	if (rc != 0) {
		ssim_fail(s, "%s: swim_new: %s", nd->name, le_strerror(rc));
		return rc;
	}
	nd->up = true;
	nd->leave_status = 0;
	nd->rj_pending = false;
	memset(&s->view[(size_t)i * s->n], -1, (size_t)s->n);
	if ((rc = layer(s) ? layer(s)->start(s->o.layer_arg, i) :
	    swim_start(nd->sw)) != 0) {
		ssim_fail(s, "%s: swim_start: %s", nd->name, le_strerror(rc));
		return rc;
	}
	if (join_to >= 0) {
		struct swim_addr a = s->nodes[join_to].addr;

		/* With retry_join configured a failed first join is
		 * retried, as Consul does. */
		nd->rj_pending = s->o.retry_join > 0;
		if ((rc = core_join(s, nd, &a, &nd->rj_id)) != 0)
			ssim_fail(s, "%s: swim_join: %s", nd->name,
			    le_strerror(rc));
	}
	/* Serf's reconnect loop starts at a random point of its period. */
	if (s->o.serf_reconnect)
		ev_new(s, s->now + rng_range(&s->rng, 1,
		    s->o.reconnect_ms * 1000ULL), EV_RECONNECT, i);
	resched(s, i);
	return rc;
}

/* Serf's handleReconnect: with probability failed / alive, join one
 * random failed member (§10.4). */
static void
reconnect(struct ssim *s, int i)
{
	const int8_t *row = &s->view[(size_t)i * s->n];
	int failed = 0, alive = 0, pick;

	ev_new(s, s->now + s->o.reconnect_ms * 1000ULL, EV_RECONNECT, i);
	for (int j = 0; j < s->n; j++) {
		if (row[j] == SWIM_DEAD)
			failed++;
		else if (row[j] == SWIM_ALIVE || row[j] == SWIM_SUSPECT)
			alive++;
	}
	if (failed == 0)
		return;
	if (alive == 0)
		alive = 1;
	if ((double)(rng_next(&s->rng) >> 11) / (double)(1ULL << 53) >
	    (double)failed / (double)alive)
		return;
	pick = (int)(rng_next(&s->rng) % (uint64_t)failed);
	for (int j = 0; j < s->n; j++) {
		if (row[j] == SWIM_DEAD && pick-- == 0) {
			struct swim_addr a = s->nodes[j].addr;

			core_join(s, &s->nodes[i], &a, NULL);
			resched(s, i);
			return;
		}
	}
}

/* Consul's retry_join: one of the configured servers, until it works. */
static void
retry_join(struct ssim *s, int i)
{
	struct snode *nd = &s->nodes[i];
	int k = s->o.retry_join, to;
	struct swim_addr a;

	do
		to = (int)(rng_next(&s->rng) % (uint64_t)k);
	while (to == i && k > 1);
	if (to == i) {
		nd->rj_pending = false;
		return;
	}
	a = s->nodes[to].addr;
	nd->rj_pending = true;
	if (core_join(s, nd, &a, &nd->rj_id) != 0)
		ssim_fail(s, "%s: retry join failed to start", nd->name);
	resched(s, i);
}

static void
step(struct ssim *s, struct ev *e)
{
	struct snode *nd = e->node >= 0 ? &s->nodes[e->node] : NULL;
	struct trace *t = &s->trace[s->ntrace++ % TRACE_LEN];

	s->now = e->at;
	s->st.events++;
	t->at = e->at;
	t->kind = e->kind;
	t->node = e->node;
	t->from = e->from;
	s->st.digest = fnv_u64(fnv_u64(fnv_u64(s->st.digest ? s->st.digest :
	    FNV0, e->at), e->kind), (uint64_t)(e->node + 1) << 16 |
	    (uint64_t)(e->from + 1));
	switch (e->kind) {
	case EV_TICK:
		if (!nd->up || e->id != nd->tick_gen)
			break;
		nd->tick_pending = false;
		busy_check(s, nd);
		if (layer(s))
			layer(s)->tick(s->o.layer_arg, e->node);
		else
			swim_tick(nd->sw);
		resched(s, e->node);
		break;
	case EV_UDP:
		deliver_udp(s, e);
		break;
	case EV_PP_ARRIVE:
		pp_arrive(s, e);
		break;
	case EV_PP_REPLY:
		pp_reply(s, e);
		break;
	case EV_TP_ARRIVE:
		tp_arrive(s, e);
		break;
	case EV_TP_REPLY:
		tp_reply(s, e);
		break;
	case EV_START:
		if (!nd->up)
			node_boot(s, e->node, e->from);
		break;
	case EV_RECONNECT:
		if (nd->up && nd->gen == e->gen)
			reconnect(s, e->node);
		break;
	case EV_RETRY_JOIN:
		if (nd->up && nd->gen == e->gen && nd->rj_pending)
			retry_join(s, e->node);
		break;
	}
}

/* ---- public ---- */

void
ssim_opts_default(struct ssim_opts *o, uint64_t seed, int nodes)
{
	memset(o, 0, sizeof(*o));
	o->seed = seed;
	o->nodes = nodes;
	swim_config_lan(&o->cfg);
	o->net.delay_min_us = 200;
	o->net.delay_max_us = 1000;
	o->reconnect_ms = 30000;
	o->retry_join = 3;
	o->retry_ms = 30000;
}

int
ssim_new(const struct ssim_opts *o, struct ssim **out)
{
	struct ssim *s;
	uint64_t x;

	*out = NULL;
	if (o->nodes < 1 || o->nodes > SSIM_MAX_NODES)
		return -LE_INVAL;
	s = xcalloc(1, sizeof(*s));
	s->o = *o;
	x = o->seed;
	for (int i = 0; i < 4; i++)
		s->rng.s[i] = splitmix64(&x);
	s->n = o->nodes;
	s->now = 1000000;	/* no node event at time 0 */
	s->nodes = xcalloc((size_t)s->n, sizeof(*s->nodes));
	s->view = xcalloc((size_t)s->n * s->n, 1);
	memset(s->view, -1, (size_t)s->n * s->n);
	for (int i = 0; i < s->n; i++) {
		struct snode *nd = &s->nodes[i];

		nd->sim = s;
		nd->idx = i;
		snprintf(nd->name, sizeof(nd->name), "n%04d", i);
		nd->addr = node_addr(i);
		/* Serf-like tags: a 0xFF prefix then bytes that vary. */
		nd->meta = xcalloc(1, o->meta_len);
		for (size_t k = 0; k < o->meta_len; k++)
			nd->meta[k] = k == 0 ? 0xFF : (uint8_t)('a' + (i + k) % 26);
	}
	*out = s;
	return 0;
}

void
ssim_free(struct ssim *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->n; i++) {
		core_down(s, &s->nodes[i]);
		free(s->nodes[i].meta);
	}
	while (s->hn > 0)
		ev_free(ev_pop(s));
	free(s->heap);
	free(s->nodes);
	free(s->view);
	free(s);
}

int
ssim_start_all(struct ssim *s, uint32_t spread_ms)
{
	for (int i = 0; i < s->n; i++) {
		uint64_t at = s->now + (uint64_t)spread_ms * 1000ULL * i / s->n;
		struct ev *e = ev_new(s, at, EV_START, i);

		e->from = i == 0 ? -1 : (int)(rng_next(&s->rng) % (uint64_t)i);
	}
	return s->failed ? -1 : 0;
}

int
ssim_run_until(struct ssim *s, uint64_t t)
{
	while (!s->failed && s->hn > 0 && s->heap[0]->at <= t) {
		struct ev *e = ev_pop(s);

		if (s->o.verbose && e->kind != EV_TICK)
			fprintf(stderr, "%.6f %s node %d from %d\n",
			    e->at / 1e6, ev_names[e->kind], e->node, e->from);
		step(s, e);
		ev_free(e);
	}
	if (!s->failed && t > s->now)
		s->now = t;
	return s->failed ? -1 : 0;
}

int
ssim_run_for(struct ssim *s, uint64_t ms)
{
	return ssim_run_until(s, s->now + ms * 1000ULL);
}

int
ssim_run_while(struct ssim *s, bool (*pred)(struct ssim *, void *),
    void *arg, uint64_t max_ms)
{
	uint64_t end = s->now + max_ms * 1000ULL;

	/* Checked every 10 ms of simulated time. */
	while (s->now < end) {
		if (pred(s, arg))
			return 1;
		if (ssim_run_until(s, s->now + 10000 < end ? s->now + 10000 :
		    end) != 0)
			return -1;
	}
	return pred(s, arg) ? 1 : 0;
}

uint64_t
ssim_now(const struct ssim *s)
{
	return s->now;
}

int
ssim_nodes(const struct ssim *s)
{
	return s->n;
}

struct swim *
ssim_swim(struct ssim *s, int i)
{
	return s->nodes[i].up ? s->nodes[i].sw : NULL;
}

bool
ssim_up(const struct ssim *s, int i)
{
	return s->nodes[i].up;
}

const char *
ssim_name(const struct ssim *s, int i)
{
	return s->nodes[i].name;
}

struct swim_addr
ssim_addr(const struct ssim *s, int i)
{
	return s->nodes[i].addr;
}

void
ssim_set_event_hook(struct ssim *s, ssim_event_fn fn, void *arg)
{
	s->hook = fn;
	s->hook_arg = arg;
}

int
ssim_view(const struct ssim *s, int obs, int subj)
{
	return s->view[(size_t)obs * s->n + subj];
}

bool
ssim_converged(struct ssim *s)
{
	/* The event views first: cheap, and false for most of a run. */
	for (int o = 0; o < s->n; o++) {
		if (!s->nodes[o].up)
			continue;
		for (int j = 0; j < s->n; j++) {
			int v = ssim_view(s, o, j);

			if (j == o || !linked(s, o, j))
				continue;
			if (s->nodes[j].up ? v != SWIM_ALIVE : v == SWIM_ALIVE)
				return false;
		}
	}
	/* Then nobody suspect in any table. */
	for (int o = 0; o < s->n; o++) {
		if (!s->nodes[o].up)
			continue;
		for (int j = 0; j < s->n; j++) {
			struct swim_member m;

			if (j == o || !linked(s, o, j) || !s->nodes[j].up)
				continue;
			if (swim_member(s->nodes[o].sw, s->nodes[j].name,
			    strlen(s->nodes[j].name), &m) != 0 ||
			    m.state != SWIM_ALIVE)
				return false;
		}
	}
	return true;
}

void
ssim_crash(struct ssim *s, int i)
{
	struct snode *nd = &s->nodes[i];

	if (!nd->up)
		return;
	core_down(s, nd);
	nd->up = false;
	nd->gen++;
	nd->tick_gen++;
	nd->tick_pending = false;
	s->st.crashes++;
}

int
ssim_restart(struct ssim *s, int i)
{
	int cand[SSIM_MAX_NODES], nc = 0, rc;

	if (s->nodes[i].up)
		return -LE_STATE;
	if (s->o.retry_join > 0) {
		if ((rc = node_boot(s, i, -1)) == 0)
			retry_join(s, i);
		return rc;
	}
	for (int j = 0; j < s->n; j++)
		if (j != i && s->nodes[j].up && linked(s, i, j))
			cand[nc++] = j;
	return node_boot(s, i, nc ? cand[rng_next(&s->rng) % (uint64_t)nc] :
	    -1);
}

int
ssim_leave(struct ssim *s, int i, uint32_t timeout_ms)
{
	int rc;

	if (!s->nodes[i].up)
		return -LE_STATE;
	s->nodes[i].leave_status = 1;
	rc = layer(s) ? layer(s)->leave(s->o.layer_arg, i, timeout_ms) :
	    swim_leave(s->nodes[i].sw, timeout_ms);
	resched(s, i);
	return rc;
}

void
ssim_resched(struct ssim *s, int i)
{
	resched(s, i);
}

int
ssim_leave_status(const struct ssim *s, int i)
{
	return s->nodes[i].leave_status;
}

void
ssim_partition(struct ssim *s, const int *group)
{
	for (int i = 0; i < s->n; i++)
		s->nodes[i].group = group[i];
}

void
ssim_heal(struct ssim *s)
{
	for (int i = 0; i < s->n; i++)
		s->nodes[i].group = 0;
}

void
ssim_set_net(struct ssim *s, const struct ssim_net *n)
{
	s->o.net = *n;
}

int
ssim_inject(struct ssim *s, int to, int from, const struct gw_msg *m)
{
	struct gw_buf b = { 0 };
	struct swim_addr a = s->nodes[from].addr;
	int rc;

	if (!s->nodes[to].up)
		return -LE_STATE;
	if ((rc = gw_encode_msg(&b, m)) == 0) {
		deliver_msg(s, &s->nodes[to], &a, b.p, b.len);
		resched(s, to);
	}
	gw_buf_free(&b);
	return s->failed ? -1 : rc;
}

void
ssim_stats(const struct ssim *s, struct ssim_stats *st)
{
	*st = s->st;
}

uint64_t
ssim_node_bytes(const struct ssim *s, int i)
{
	return s->nodes[i].bytes;
}

void
ssim_dump_unconverged(struct ssim *s, FILE *f, int max)
{
	int shown = 0;

	for (int o = 0; o < s->n && shown < max; o++) {
		if (!s->nodes[o].up)
			continue;
		for (int j = 0; j < s->n && shown < max; j++) {
			struct swim_member m;
			int rc, v = ssim_view(s, o, j);

			if (j == o || !linked(s, o, j))
				continue;
			rc = swim_member(s->nodes[o].sw, s->nodes[j].name,
			    strlen(s->nodes[j].name), &m);
			if (!s->nodes[j].up ? v != SWIM_ALIVE :
			    (v == SWIM_ALIVE && rc == 0 && m.state == SWIM_ALIVE))
				continue;
			fprintf(f, "  %s sees %s (%s): view %d, table %s inc %u "
			    "reaped %d\n", s->nodes[o].name, s->nodes[j].name,
			    s->nodes[j].up ? "up" : "down", v,
			    rc ? "none" : swim_state_name(m.state),
			    rc ? 0 : m.incarnation, rc ? 0 : m.reaped);
			shown++;
		}
	}
}
