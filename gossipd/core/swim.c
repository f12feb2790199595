/* swim.c: the instance's life (new, start, free), the timer loop
 * (swim_tick, swim_next_deadline), dispatch of received messages to
 * probe.c and members.c, graceful leave and meta updates with their
 * waits, the configuration profiles of §12, and the read-only accessors.
 * Every mutating entry point reads the clock once and marks the instance
 * busy, so a callback that calls back in gets -LE_STATE instead of
 * corrupting state half-way through an update. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swim_int.h"

static const uint8_t default_vsn[GW_VSN_LEN] = { 1, 5, 2, 2, 5, 4 };

/* ---- profiles (§12) ---- */

void
swim_config_lan(struct swim_config *c)
{
	memset(c, 0, sizeof(*c));
	c->probe_interval_ms = 1000;
	c->probe_timeout_ms = 500;
	c->indirect_checks = 3;
	c->suspicion_mult = 4;
	c->suspicion_max_timeout_mult = 6;
	c->retransmit_mult = 4;
	c->gossip_interval_ms = 200;
	c->gossip_nodes = 3;
	c->gossip_to_dead_ms = 30000;
	c->push_pull_interval_ms = 30000;
	c->tcp_timeout_ms = 10000;
	c->awareness_max = 8;
	c->udp_budget = GW_UDP_BUDGET;
	c->dead_reclaim_ms = 30000;	/* Consul's; memberlist's is 0 */
	memcpy(c->vsn, default_vsn, GW_VSN_LEN);
}

void
swim_config_wan(struct swim_config *c)
{
	swim_config_lan(c);
	c->probe_interval_ms = 5000;
	c->probe_timeout_ms = 3000;
	c->suspicion_mult = 6;
	c->gossip_interval_ms = 500;
	c->gossip_nodes = 4;
	c->gossip_to_dead_ms = 60000;
	c->push_pull_interval_ms = 60000;
	c->tcp_timeout_ms = 30000;
}

void
swim_config_local(struct swim_config *c)
{
	swim_config_lan(c);
	c->probe_timeout_ms = 200;
	c->indirect_checks = 1;
	c->suspicion_mult = 3;
	c->retransmit_mult = 2;
	c->gossip_interval_ms = 100;
	c->gossip_to_dead_ms = 15000;
	c->push_pull_interval_ms = 15000;
	c->tcp_timeout_ms = 1000;
}

static int
config_check(const struct swim_config *c)
{
	if (c->probe_interval_ms == 0 || c->probe_timeout_ms == 0 ||
	    c->probe_timeout_ms > c->probe_interval_ms)
		return -LE_INVAL;
	/* k = SuspicionMult - 2 confirmers are remembered per suspect. */
	if (c->suspicion_mult == 0 || c->suspicion_mult > CONFIRM_MAX + 1 ||
	    c->suspicion_max_timeout_mult == 0 || c->retransmit_mult == 0 ||
	    c->awareness_max == 0)
		return -LE_INVAL;
	if (c->gossip_nodes > 0 && c->gossip_interval_ms == 0)
		return -LE_INVAL;
	/* Room for a ping with its compound header, at least. */
	if (c->udp_budget > GW_UDP_MAX || c->layer_overhead >= c->udp_budget ||
	    c->udp_budget - c->layer_overhead < 128)
		return -LE_INVAL;
	if (c->vsn[GW_VSN_PMIN] == 0 || c->vsn[GW_VSN_PMIN] > c->vsn[GW_VSN_PMAX])
		return -LE_INVAL;
	return 0;
}

/* ---- small helpers shared by the other files ---- */

uint64_t
sw_rand(struct swim *s, uint64_t n)
{
	return n == 0 ? 0 : s->ops.rand(s->arg) % n;
}

void
sw_log(struct swim *s, int level, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (s->ops.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->ops.log(s->arg, level, buf);
}

void
sw_send(struct swim *s, const struct swim_addr *to, uint8_t pmax,
    const uint8_t *pkt, size_t len)
{
	s->st.packets_out++;
	s->st.bytes_out += len;
	s->ops.send_udp(s->arg, to, pmax, pkt, len);
}

bool
sw_addr_eq(const struct swim_addr *a, const struct swim_addr *b)
{
	return a->len == b->len && a->port == b->port &&
	    memcmp(a->ip, b->ip, a->len) == 0;
}

int
sw_addr_from(struct swim_addr *a, struct gw_bytes ip, uint16_t port)
{
	if (ip.p == NULL || (ip.len != 4 && ip.len != 16))
		return -LE_MALFORMED;
	memset(a, 0, sizeof(*a));
	memcpy(a->ip, ip.p, ip.len);
	a->len = (uint8_t)ip.len;
	a->port = port;
	return 0;
}

bool
sw_bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* What one packet may hold before the daemon's framing. */
size_t
sw_budget(const struct swim *s)
{
	return s->cfg.udp_budget - s->cfg.layer_overhead;
}

void
sw_member_view(const struct node *n, struct swim_member *m)
{
	memset(m, 0, sizeof(*m));
	m->name.p = (const uint8_t *)n->name;
	m->name.len = n->name_len;
	m->addr = n->addr;
	m->meta.p = n->meta;
	m->meta.len = n->meta_len;
	memcpy(m->vsn, n->vsn, GW_VSN_LEN);
	m->incarnation = n->inc;
	m->state = n->state;
	m->state_change_us = n->state_change;
	m->reaped = n->reaped;
}

/* A broadcast carrying a note has been sent as often as it will be (or
 * was invalidated): the wait it belongs to is over. */
void
sw_note_done(struct swim *s, uint8_t note)
{
	struct wait *w = note == BN_LEAVE ? &s->wait_leave :
	    note == BN_META ? &s->wait_meta : NULL;

	if (w == NULL || !w->active)
		return;
	w->active = false;
	if (s->ops.done != NULL)
		s->ops.done(s->arg, note == BN_LEAVE ? SWIM_WAIT_LEAVE :
		    SWIM_WAIT_META, 0);
}

static int
enter(struct swim *s)
{
	if (s->busy)
		return -LE_STATE;
	s->busy = true;
	s->now = s->ops.now(s->arg);
	return 0;
}

static int
leave_call(struct swim *s, int rc)
{
	s->busy = false;
	return rc;
}

/* ---- life cycle ---- */

int
swim_new(const struct swim_config *c, const struct swim_self *self,
    const struct swim_ops *ops, void *arg, struct swim **out)
{
	struct swim *s;
	int rc;

	*out = NULL;
	if ((rc = config_check(c)) != 0)
		return rc;
	if (ops->now == NULL || ops->rand == NULL || ops->send_udp == NULL ||
	    ops->push_pull == NULL)
		return -LE_INVAL;
	if (self->name == NULL || self->name_len == 0 ||
	    self->name_len > GW_NAME_MAX || self->meta_len > GW_META_MAX ||
	    (self->addr.len != 4 && self->addr.len != 16))
		return -LE_INVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -LE_NOMEM;
	s->cfg = *c;
	s->ops = *ops;
	s->arg = arg;
	s->addr = self->addr;
	s->name = malloc(self->name_len + 1);
	s->meta = malloc(self->meta_len ? self->meta_len : 1);
	if (s->name == NULL || s->meta == NULL) {
		swim_free(s);
		return -LE_NOMEM;
	}
	memcpy(s->name, self->name, self->name_len);
	s->name[self->name_len] = '\0';
	s->name_len = self->name_len;
	if (self->meta_len)
		memcpy(s->meta, self->meta, self->meta_len);
	s->meta_len = self->meta_len;
	*out = s;
	return 0;
}

void
swim_free(struct swim *s)
{
	if (s == NULL)
		return;
	probe_free(s);
	bq_free_all(s);
	mem_free_all(s);
	gw_buf_free(&s->scratch);
	free(s->name);
	free(s->meta);
	free(s);
}

/* An alive about ourselves as memberlist's setAlive/UpdateNode build it. */
static int
self_alive(struct swim *s, uint8_t note)
{
	struct gw_alive a;

	memset(&a, 0, sizeof(a));
	a.incarnation = ++s->incarnation;
	a.node.p = (const uint8_t *)s->name;
	a.node.len = s->name_len;
	a.addr.p = s->addr.ip;
	a.addr.len = s->addr.len;
	a.port = s->addr.port;
	a.meta.p = s->meta;
	a.meta.len = s->meta_len;
	memcpy(a.vsn, s->cfg.vsn, GW_VSN_LEN);
	return mem_alive(s, &a, note, true);
}

int
swim_start(struct swim *s)
{
	uint64_t pp;
	int rc;

	if ((rc = enter(s)) != 0)
		return rc;
	if (s->started)
		return leave_call(s, -LE_STATE);
	if ((rc = self_alive(s, BN_NONE)) != 0)
		return leave_call(s, rc);
	if ((s->self = mem_live(s, s->name, s->name_len)) == NULL)
		return leave_call(s, -LE_NOMEM);
	s->started = true;
	/* Go's tickers first fire one period after they are made. */
	s->probe_grid = s->now;
	s->probe_at = s->now + s->cfg.probe_interval_ms * US_PER_MS;
	s->gossip_at = s->now + s->cfg.gossip_interval_ms * US_PER_MS;
	pp = s->cfg.push_pull_interval_ms * US_PER_MS;
	/* The push/pull loop staggers its start by a random part of the
	 * interval so that nodes started together do not synchronise. */
	s->pp_at = s->now + sw_rand(s, pp ? pp : 1) + pp_interval_us(s);
	return leave_call(s, 0);
}

/* ---- timers ---- */

static void
wait_tick(struct swim *s, struct wait *w, enum swim_wait what)
{
	if (!w->active || w->deadline == 0 || s->now < w->deadline)
		return;
	w->active = false;
	if (s->ops.done != NULL)
		s->ops.done(s->arg, what, -LE_TIMEOUT);
}

int
swim_tick(struct swim *s)
{
	int rc;

	if ((rc = enter(s)) != 0)
		return rc;
	if (!s->started)
		return leave_call(s, -LE_STATE);
	probe_tick(s);
	susp_tick(s);
	if (s->cfg.gossip_nodes > 0 && s->now >= s->gossip_at) {
		gossip_tick(s);
		/* A ticker: the next beat stays on the grid, missed beats
		 * are skipped. */
		s->gossip_at += s->cfg.gossip_interval_ms * US_PER_MS;
		if (s->gossip_at <= s->now)
			s->gossip_at = s->now +
			    s->cfg.gossip_interval_ms * US_PER_MS;
	}
	if (s->cfg.push_pull_interval_ms > 0 && s->now >= s->pp_at)
		pp_tick(s);
	wait_tick(s, &s->wait_leave, SWIM_WAIT_LEAVE);
	wait_tick(s, &s->wait_meta, SWIM_WAIT_META);
	return leave_call(s, 0);
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t
swim_next_deadline(const struct swim *s)
{
	uint64_t t = UINT64_MAX;

	if (!s->started)
		return t;
	t = min_u64(t, probe_next(s));
	t = min_u64(t, susp_next(s));
	if (s->cfg.gossip_nodes > 0)
		t = min_u64(t, s->gossip_at);
	if (s->cfg.push_pull_interval_ms > 0)
		t = min_u64(t, s->pp_at);
	if (s->wait_leave.active && s->wait_leave.deadline)
		t = min_u64(t, s->wait_leave.deadline);
	if (s->wait_meta.active && s->wait_meta.deadline)
		t = min_u64(t, s->wait_meta.deadline);
	return t;
}

/* ---- input ---- */

static int
recv_one(struct swim *s, const struct swim_addr *from, const struct gw_msg *m)
{
	struct gw_alive a;

	switch (m->type) {
	case GW_PING:
		return probe_recv_ping(s, from, &m->u.ping);
	case GW_INDIRECT_PING:
		return probe_recv_iping(s, from, &m->u.iping);
	case GW_ACK:
		return probe_recv_ack(s, &m->u.ack);
	case GW_NACK:
		return probe_recv_nack(s, &m->u.nack);
	case GW_SUSPECT:
		return mem_suspect(s, &m->u.suspect);
	case GW_DEAD:
		return mem_dead(s, &m->u.suspect);
	case GW_ALIVE:
		a = m->u.alive;
		/* Protocol 1 senders leave the port out (§8). */
		if (a.port == 0)
			a.port = s->addr.port;
		return mem_alive(s, &a, BN_NONE, false);
	case GW_USER:
		if (s->ops.notify_user != NULL && m->u.user.len > 0)
			s->ops.notify_user(s->arg, m->u.user.p, m->u.user.len);
		return 0;
	default:
		/* Framing and stream types never reach here from a correct
		 * daemon; memberlist logs and drops unknown ones. */
		return 0;
	}
}

int
swim_recv(struct swim *s, const struct swim_addr *from, const struct gw_msg *m)
{
	int rc;

	if ((rc = enter(s)) != 0)
		return rc;
	if (!s->started)
		return leave_call(s, -LE_STATE);
	s->st.msgs_in++;
	rc = recv_one(s, from, m);
	if (rc == -LE_MALFORMED)
		s->st.msgs_bad++;
	return leave_call(s, rc);
}

int
swim_tcp_ping_serve(struct swim *s, const struct gw_msg *ping,
    struct gw_buf *reply)
{
	struct gw_msg ack;
	int rc;

	if (ping->type != GW_PING)
		return -LE_MALFORMED;
	if (ping->u.ping.node.len > 0 &&
	    !sw_bytes_eq(ping->u.ping.node.p, ping->u.ping.node.len, s->name,
	    s->name_len))
		return 0;
	memset(&ack, 0, sizeof(ack));
	ack.type = GW_ACK;
	ack.u.ack.seq_no = ping->u.ping.seq_no;
	if ((rc = gw_encode_msg(reply, &ack)) != 0)
		return rc;
	return 0;
}

int
swim_tcp_ping_done(struct swim *s, uint32_t seq, const struct gw_msg *ack)
{
	int rc;

	if ((rc = enter(s)) != 0)
		return rc;
	return leave_call(s, probe_tcp_done(s, seq, ack));
}

int
swim_push_pull_serve(struct swim *s, const uint8_t *msg, size_t len,
    struct gw_buf *reply)
{
	struct gw_push_header hdr;
	struct gw_push_reader rd;
	struct gw_bytes us;
	int rc;

	if ((rc = enter(s)) != 0)
		return rc;
	if (!s->started)
		return leave_call(s, -LE_STATE);
	/* Read the remote state fully before answering, as memberlist
	 * does: garbage gets no state of ours. */
	if ((rc = pp_decode(s, msg, len, &hdr, &rd, &us)) != 0)
		return leave_call(s, rc);
	s->st.push_pulls_served++;
	if ((rc = pp_local_state(s, hdr.join, reply)) != 0)
		return leave_call(s, rc);
	return leave_call(s, pp_merge(s, hdr.join, rd, us));
}

int
swim_push_pull_done(struct swim *s, uint64_t id, int status,
    const uint8_t *msg, size_t len)
{
	struct gw_push_header hdr;
	struct gw_push_reader rd;
	struct gw_bytes us;
	unsigned i;
	bool join;
	int rc;

	if ((rc = enter(s)) != 0)
		return rc;
	for (i = 0; i < s->pp_n && s->pp[i].id != id; i++)
		;
	if (i == s->pp_n)
		return leave_call(s, -LE_NOTFOUND);
	join = s->pp[i].join;
	s->pp[i] = s->pp[--s->pp_n];
	if (status < 0 || !s->started) {
		s->st.push_pulls_failed++;
		return leave_call(s, status < 0 ? status : -LE_STATE);
	}
	if ((rc = pp_decode(s, msg, len, &hdr, &rd, &us)) == 0)
		rc = pp_merge(s, join, rd, us);
	if (rc != 0)
		s->st.push_pulls_failed++;
	return leave_call(s, rc);
}

int
swim_join(struct swim *s, const struct swim_addr *addr, uint64_t *id)
{
	int rc;

	if ((rc = enter(s)) != 0)
		return rc;
	if (!s->started || s->left)
		return leave_call(s, -LE_STATE);
	if (addr->len != 4 && addr->len != 16)
		return leave_call(s, -LE_INVAL);
	return leave_call(s, pp_start(s, addr, true, false, id));
}

/* ---- leave and meta ---- */

/* memberlist's Leave and UpdateNode wait for the broadcast only if some
 * other member is alive to hear it; otherwise they return at once. */
static void
wait_or_done(struct swim *s, struct wait *w, enum swim_wait what,
    uint32_t timeout_ms)
{
	if (mem_any_alive(s)) {
		w->active = true;
		w->deadline = timeout_ms ? s->now + timeout_ms * US_PER_MS : 0;
	} else if (s->ops.done != NULL) {
		s->ops.done(s->arg, what, 0);
	}
}

int
swim_leave(struct swim *s, uint32_t timeout_ms)
{
	struct gw_suspect d;
	int rc;

	if ((rc = enter(s)) != 0)
		return rc;
	if (!s->started)
		return leave_call(s, -LE_STATE);
	if (s->left)		/* memberlist: safe to call twice */
		return leave_call(s, 0);
	s->left = true;
	/* Dead about ourselves with From = our name: others mark us left,
	 * not failed (§5). */
	memset(&d, 0, sizeof(d));
	d.incarnation = s->self->inc;
	d.node.p = d.from.p = (const uint8_t *)s->name;
	d.node.len = d.from.len = s->name_len;
	if ((rc = mem_dead(s, &d)) != 0)
		return leave_call(s, rc);
	wait_or_done(s, &s->wait_leave, SWIM_WAIT_LEAVE, timeout_ms);
	return leave_call(s, 0);
}

int
swim_set_meta(struct swim *s, const void *meta, size_t len,
    uint32_t timeout_ms)
{
	uint8_t *m;
	int rc;

	if (len > GW_META_MAX)
		return -LE_TOOBIG;
	if ((rc = enter(s)) != 0)
		return rc;
	if (!s->started || s->left)
		return leave_call(s, -LE_STATE);
	if ((m = malloc(len ? len : 1)) == NULL)
		return leave_call(s, -LE_NOMEM);
	if (len)
		memcpy(m, meta, len);
	free(s->meta);
	s->meta = m;
	s->meta_len = len;
	/* Queue first: the new alive invalidates an older one about us,
	 * which ends the wait of an earlier call, not this one. */
	if ((rc = self_alive(s, BN_META)) != 0)
		return leave_call(s, rc);
	wait_or_done(s, &s->wait_meta, SWIM_WAIT_META, timeout_ms);
	return leave_call(s, 0);
}

int
swim_forget(struct swim *s, const void *name, size_t len)
{
	struct node *n;
	int rc;

	if ((rc = enter(s)) != 0)
		return rc;
	if ((n = mem_find(s, name, len)) == NULL)
		return leave_call(s, -LE_NOTFOUND);
	return leave_call(s, mem_forget(s, n));
}

/* ---- accessors ---- */

int
swim_member(const struct swim *s, const void *name, size_t len,
    struct swim_member *out)
{
	const struct node *n = mem_find(s, name, len);

	if (n == NULL)
		return -LE_NOTFOUND;
	sw_member_view(n, out);
	return 0;
}

size_t
swim_members_each(const struct swim *s,
    void (*each)(void *arg, const struct swim_member *m), void *arg)
{
	struct swim_member m;
	size_t count = 0;

	for (size_t b = 0; b < s->hcap; b++) {
		for (const struct node *n = s->htab[b]; n != NULL; n = n->hnext) {
			sw_member_view(n, &m);
			each(arg, &m);
			count++;
		}
	}
	return count;
}

size_t
swim_num_members(const struct swim *s, size_t *alive)
{
	size_t a = 0;

	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i]->state == SWIM_ALIVE ||
		    s->nodes[i]->state == SWIM_SUSPECT)
			a++;
	if (alive != NULL)
		*alive = a;
	return s->n_nodes;
}

int
swim_health(const struct swim *s)
{
	return s->awareness;
}

uint32_t
swim_self_incarnation(const struct swim *s)
{
	return s->self != NULL ? s->self->inc : 0;
}

const struct swim_stats *
swim_stats(const struct swim *s)
{
	return &s->st;
}

const char *
swim_state_name(uint8_t state)
{
	static const char *const names[] = { "alive", "suspect", "dead",
	    "left" };

	return state < 4 ? names[state] : "unknown";
}

uint64_t
swim_suspicion_ms(const struct swim_config *cfg, size_t n, unsigned c)
{
	uint64_t min = susp_min_us(cfg, n);
	uint64_t max = min * cfg->suspicion_max_timeout_mult;
	unsigned k = susp_k(cfg, n);

	return (k == 0 ? min : susp_timeout_us(min, max, c, k)) / US_PER_MS;
}
