/* probe.c: failure detection (§9.1), memberlist's probe, probeNode,
 * handlePing, handleIndirectPing, handleAck and handleNack.
 *
 * One probe at a time, as in memberlist where the probe ticker's
 * goroutine runs probeNode to its end: ping the next node of the
 * round-robin list; no ack within ProbeTimeout, then ask IndirectChecks
 * random alive members to ping it for us (asking for a nack from those
 * that speak protocol 4) and have the daemon try a TCP ping; no ack by
 * the end of the probe interval (scaled by awareness), then suspect it.
 * The awareness score learns from the outcome: down after an ack, up by
 * the missing nacks after a failure (or by one when no nack was asked).
 *
 * Timing follows Go's ticker: ticks every ProbeInterval from start, at
 * most one kept while a probe runs. A probe that outlasts a tick is
 * followed at once by the next; one that ends early waits for the next
 * tick. */
#include <stdlib.h>
#include <string.h>

#include "swim_int.h"

#define RELAYS_MAX	4096	/* indirect pings served at once */

static uint64_t
interval_us(const struct swim *s)
{
	return s->cfg.probe_interval_ms * US_PER_MS;
}

/* The first ticker beat after t (beats at grid + k x interval). */
static uint64_t
next_beat(const struct swim *s, uint64_t t)
{
	uint64_t i = interval_us(s), g = s->probe_grid;

	if (t < g)
		return g + i;
	return g + ((t - g) / i + 1) * i;
}

static void
ping_msg(struct swim *s, struct gw_msg *m, uint32_t seq, const char *node,
    size_t node_len)
{
	memset(m, 0, sizeof(*m));
	m->type = GW_PING;
	m->u.ping.seq_no = seq;
	m->u.ping.node.p = (const uint8_t *)node;
	m->u.ping.node.len = node_len;
	m->u.ping.source_addr.p = s->addr.ip;
	m->u.ping.source_addr.len = s->addr.len;
	m->u.ping.source_port = s->addr.port;
	m->u.ping.source_node.p = (const uint8_t *)s->name;
	m->u.ping.source_node.len = s->name_len;
}

/* The probe is over at s->now: schedule the next one as the ticker
 * would deliver it. */
static void
probe_finish(struct swim *s)
{
	struct probe *p = &s->probe;
	uint64_t beat = next_beat(s, p->tick);

	p->active = false;
	free(p->name);
	p->name = NULL;
	s->probe_at = beat <= s->now ? s->now : beat;
}

static void
probe_node(struct swim *s, struct node *n)
{
	struct probe *p = &s->probe;
	struct gw_msg ping, sus;
	struct parts pk = { 0 };

	memset(p, 0, sizeof(*p));
	if ((p->name = malloc(n->name_len + 1)) == NULL)
		return;
	memcpy(p->name, n->name, n->name_len + 1);
	p->name_len = n->name_len;
	p->addr = n->addr;
	p->inc = n->inc;
	p->pmax = n->vsn[GW_VSN_PMAX];
	p->seq = ++s->seq_no;
	p->tick = s->now;
	p->sent = s->now;
	p->timeout_at = s->now + s->cfg.probe_timeout_ms * US_PER_MS;
	p->deadline = s->now + aw_scale(s, interval_us(s));
	p->active = true;
	s->st.probes++;
	ping_msg(s, &ping, p->seq, n->name, n->name_len);
	if (n->state == SWIM_ALIVE) {
		sw_send_msg(s, &n->addr, &ping);
		return;
	}
	/* A suspect target also gets the accusation, so it can refute at
	 * once instead of waiting for gossip to reach it. */
	memset(&sus, 0, sizeof(sus));
	sus.type = GW_SUSPECT;
	sus.u.suspect.incarnation = n->inc;
	sus.u.suspect.node.p = (const uint8_t *)n->name;
	sus.u.suspect.node.len = n->name_len;
	sus.u.suspect.from.p = (const uint8_t *)s->name;
	sus.u.suspect.from.len = s->name_len;
	if (sw_encode(s, &ping) == 0 &&
	    parts_add(&pk, -1, s->scratch.p, s->scratch.len) == 0 &&
	    sw_encode(s, &sus) == 0 &&
	    parts_add(&pk, -1, s->scratch.p, s->scratch.len) == 0)
		parts_send(s, &pk, &n->addr, p->pmax);
	gw_buf_free(&pk.buf);
}

/* memberlist's probe(): the next probeable node, reshuffling and reaping
 * at the end of the list; a tick may end with no probe at all (the
 * wrap-around quirk of §9.1). */
static void
probe_round(struct swim *s)
{
	size_t checked = 0;

	for (;;) {
		struct node *n;

		if (checked >= s->n_nodes)
			break;
		if (s->probe_index >= s->n_nodes) {
			mem_reset(s);
			s->probe_index = 0;
			checked++;
			continue;
		}
		n = s->nodes[s->probe_index++];
		if (n == s->self || n->state == SWIM_DEAD ||
		    n->state == SWIM_LEFT) {
			checked++;
			continue;
		}
		probe_node(s, n);
		if (s->probe.active)
			return;
		break;
	}
	s->probe_at = next_beat(s, s->now);
}

static bool
indirect_skip(struct swim *s, const struct node *n, void *arg)
{
	return n == s->self || n->state != SWIM_ALIVE ||
	    sw_bytes_eq(n->name, n->name_len, s->probe.name,
	    s->probe.name_len);
}

static void
go_indirect(struct swim *s)
{
	struct probe *p = &s->probe;
	struct node **peers;
	struct gw_msg m, ping;
	size_t k = 0;

	p->indirect = true;
	if (s->cfg.indirect_checks > 0 &&
	    (peers = calloc(s->cfg.indirect_checks, sizeof(*peers))) != NULL) {
		k = mem_random(s, s->cfg.indirect_checks, peers,
		    indirect_skip, NULL);
		memset(&m, 0, sizeof(m));
		m.type = GW_INDIRECT_PING;
		m.u.iping.seq_no = p->seq;
		m.u.iping.target.p = p->addr.ip;
		m.u.iping.target.len = p->addr.len;
		m.u.iping.port = p->addr.port;
		m.u.iping.node.p = (const uint8_t *)p->name;
		m.u.iping.node.len = p->name_len;
		m.u.iping.source_addr.p = s->addr.ip;
		m.u.iping.source_addr.len = s->addr.len;
		m.u.iping.source_port = s->addr.port;
		m.u.iping.source_node.p = (const uint8_t *)s->name;
		m.u.iping.source_node.len = s->name_len;
		for (size_t i = 0; i < k; i++) {
			/* Only protocol 4 peers know to nack. */
			m.u.iping.nack = peers[i]->vsn[GW_VSN_PMAX] >= 4;
			if (m.u.iping.nack)
				p->expected_nacks++;
			s->st.indirect_pings++;
			sw_send_msg(s, &peers[i]->addr, &m);
		}
		free(peers);
	}
	/* The TCP fallback catches a node whose UDP is broken but which is
	 * alive; it never suspects anyone by itself. */
	if (!s->cfg.disable_tcp_pings && p->pmax >= 3 &&
	    s->ops.tcp_ping != NULL) {
		ping_msg(s, &ping, p->seq, p->name, p->name_len);
		if (sw_encode(s, &ping) == 0) {
			p->tcp = TCP_PENDING;
			s->st.tcp_pings++;
			s->ops.tcp_ping(s->arg, p->seq, &p->addr, s->scratch.p,
			    s->scratch.len, p->deadline);
		}
	}
}

static void
probe_failed(struct swim *s)
{
	struct probe *p = &s->probe;
	struct gw_suspect sm;
	int delta;

	if (p->tcp == TCP_OK) {
		sw_log(s, 0, "was able to connect to %s but other probes "
		    "failed, network may be misconfigured", p->name);
		s->st.tcp_only++;
		aw_delta(s, -1);
		probe_finish(s);
		return;
	}
	/* Nacks tell us the relays were healthy and the target was not;
	 * missing ones point at us. */
	if (p->expected_nacks > 0)
		delta = p->nacks < p->expected_nacks ?
		    (int)(p->expected_nacks - p->nacks) : 0;
	else
		delta = 1;
	aw_delta(s, delta);
	s->st.probes_failed++;
	sw_log(s, 1, "suspect %s has failed, no acks received", p->name);
	memset(&sm, 0, sizeof(sm));
	sm.incarnation = p->inc;
	sm.node.p = (const uint8_t *)p->name;
	sm.node.len = p->name_len;
	sm.from.p = (const uint8_t *)s->name;
	sm.from.len = s->name_len;
	mem_suspect(s, &sm);
	probe_finish(s);
}

/* Ends the probe if its time is up and the TCP ping (if any) has
 * answered or is overdue. */
static void
probe_check_end(struct swim *s)
{
	struct probe *p = &s->probe;

	if (!p->active || s->now < p->deadline)
		return;
	if (p->tcp == TCP_PENDING &&
	    s->now < p->deadline + s->cfg.probe_timeout_ms * US_PER_MS)
		return;
	probe_failed(s);
}

static void
relay_tick(struct swim *s)
{
	struct relay **pp = &s->relays, *r;

	while ((r = *pp) != NULL) {
		if (r->expires > s->now) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		if (r->nack) {
			struct gw_msg m;

			memset(&m, 0, sizeof(m));
			m.type = GW_NACK;
			m.u.nack.seq_no = r->req_seq;
			s->st.nacks_sent++;
			sw_send_msg(s, &r->reply_to, &m);
		}
		free(r);
	}
}

void
probe_tick(struct swim *s)
{
	struct probe *p = &s->probe;

	relay_tick(s);
	if (p->active && !p->indirect && s->now >= p->timeout_at)
		go_indirect(s);
	probe_check_end(s);
	if (!p->active && s->now >= s->probe_at)
		probe_round(s);
}

uint64_t
probe_next(const struct swim *s)
{
	const struct probe *p = &s->probe;
	uint64_t t = UINT64_MAX;

	for (const struct relay *r = s->relays; r != NULL; r = r->next)
		if (r->expires < t)
			t = r->expires;
	if (!p->active)
		return s->probe_at < t ? s->probe_at : t;
	if (!p->indirect)
		return p->timeout_at < t ? p->timeout_at : t;
	if (p->tcp == TCP_PENDING && s->now >= p->deadline) {
		uint64_t late = p->deadline + s->cfg.probe_timeout_ms * US_PER_MS;

		return late < t ? late : t;
	}
	return p->deadline < t ? p->deadline : t;
}

int
probe_recv_ping(struct swim *s, const struct swim_addr *from,
    const struct gw_ping *ping)
{
	struct gw_buf payload = { 0 };
	struct swim_addr to = *from;
	struct gw_msg m;
	int rc;

	/* A ping for another name: a restarted process with a new name
	 * may sit on this address; do not answer for it. */
	if (ping->node.len > 0 && !sw_bytes_eq(ping->node.p, ping->node.len,
	    s->name, s->name_len))
		return 0;
	if (ping->source_addr.len > 0 && ping->source_port > 0 &&
	    sw_addr_from(&to, ping->source_addr, ping->source_port) != 0)
		return -LE_MALFORMED;
	memset(&m, 0, sizeof(m));
	m.type = GW_ACK;
	m.u.ack.seq_no = ping->seq_no;
	if (s->ops.ack_payload != NULL &&
	    s->ops.ack_payload(s->arg, &payload) == 0 && payload.len > 0) {
		m.u.ack.payload.p = payload.p;
		m.u.ack.payload.len = payload.len;
	}
	rc = sw_send_msg(s, &to, &m);
	gw_buf_free(&payload);
	return rc;
}

int
probe_recv_iping(struct swim *s, const struct swim_addr *from,
    const struct gw_indirect_ping *ip)
{
	struct swim_addr target, reply_to = *from;
	struct relay *r;
	struct gw_msg ping;
	size_t count = 0;

	/* Protocol 1 senders leave the port out: use ours, as memberlist. */
	if (sw_addr_from(&target, ip->target, ip->port ? ip->port :
	    s->addr.port) != 0)
		return -LE_MALFORMED;
	if (ip->source_addr.len > 0 && ip->source_port > 0 &&
	    sw_addr_from(&reply_to, ip->source_addr, ip->source_port) != 0)
		return -LE_MALFORMED;
	for (r = s->relays; r != NULL; r = r->next)
		count++;
	if (count >= RELAYS_MAX)
		return 0;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -LE_NOMEM;
	r->local_seq = ++s->seq_no;
	r->req_seq = ip->seq_no;
	r->reply_to = reply_to;
	r->nack = ip->nack;
	r->expires = s->now + s->cfg.probe_timeout_ms * US_PER_MS;
	r->next = s->relays;
	s->relays = r;
	s->st.relays++;
	ping_msg(s, &ping, r->local_seq, (const char *)ip->node.p,
	    ip->node.len);
	return sw_send_msg(s, &target, &ping);
}

int
probe_recv_ack(struct swim *s, const struct gw_ack *a)
{
	struct probe *p = &s->probe;
	struct relay **pp, *r;

	if (p->active && a->seq_no == p->seq && s->now < p->deadline) {
		struct node *n = mem_live(s, p->name, p->name_len);

		/* Only a direct answer measures the round trip. */
		if (!p->indirect && n != NULL && s->ops.ping_complete != NULL) {
			struct swim_member m;

			sw_member_view(n, &m);
			s->ops.ping_complete(s->arg, &m, s->now - p->sent,
			    a->payload);
		}
		aw_delta(s, -1);
		probe_finish(s);
		return 0;
	}
	for (pp = &s->relays; (r = *pp) != NULL; pp = &r->next) {
		if (r->local_seq == a->seq_no) {
			struct gw_msg m;
			int rc;

			/* Relay the ack under the requester's number; that
			 * also cancels our nack. */
			*pp = r->next;
			memset(&m, 0, sizeof(m));
			m.type = GW_ACK;
			m.u.ack.seq_no = r->req_seq;
			rc = sw_send_msg(s, &r->reply_to, &m);
			free(r);
			return rc;
		}
	}
	return 0;
}

int
probe_recv_nack(struct swim *s, const struct gw_nack *nk)
{
	struct probe *p = &s->probe;

	s->st.nacks_recv++;
	if (p->active && nk->seq_no == p->seq && s->now < p->deadline &&
	    p->nacks < s->cfg.indirect_checks + 1)
		p->nacks++;
	return 0;
}

int
probe_tcp_done(struct swim *s, uint32_t seq, const struct gw_msg *ack)
{
	struct probe *p = &s->probe;
	bool ok;

	if (!p->active || p->seq != seq || p->tcp != TCP_PENDING)
		return -LE_NOTFOUND;
	ok = ack != NULL && ack->type == GW_ACK && ack->u.ack.seq_no == seq;
	p->tcp = ok ? TCP_OK : TCP_FAILED;
	probe_check_end(s);
	return 0;
}

void
probe_free(struct swim *s)
{
	struct relay *r;

	free(s->probe.name);
	s->probe.name = NULL;
	while ((r = s->relays) != NULL) {
		s->relays = r->next;
		free(r);
	}
}
