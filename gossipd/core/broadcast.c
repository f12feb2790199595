/* broadcast.c: dissemination (§9.5). memberlist's TransmitLimitedQueue
 * (queue.go), getBroadcasts and sendMsg (piggybacking on pings and acks)
 * and the periodic gossip.
 *
 * The queue holds encoded alive/suspect/dead messages, each keyed by the
 * node it is about: a newer message about a node replaces the queued one
 * (it would contradict it). It hands out the least transmitted messages
 * first, among equals the largest that still fits, then the newest, and
 * drops a message once sent RetransmitMult x ceil(log10(n + 1)) times.
 * Kept as an array in that order: a packet is filled by one pass (a
 * message too big for the space left stays too big as the space shrinks),
 * and the sent ones are put back one transmission further on. Room left
 * after our own messages goes to the user delegate's (Serf's) messages.
 * A queued message may carry a note: when it is finished (sent its last
 * time, or replaced) the leave or meta wait it belongs to ends. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "swim_int.h"

static bool
before(const struct bcast *a, const struct bcast *b)
{
	if (a->transmits != b->transmits)
		return a->transmits < b->transmits;
	if (a->len != b->len)
		return a->len > b->len;
	return a->id > b->id;
}

static void
bcast_free(struct bcast *b)
{
	free(b->node);
	free(b->msg);
	free(b);
}

static int
bq_insert(struct swim *s, struct bcast *b)
{
	size_t lo = 0, hi = s->bq_n;

	if (s->bq_n == s->bq_cap) {
		size_t cap = s->bq_cap ? s->bq_cap * 2 : 32;
		struct bcast **v = realloc(s->bq, cap * sizeof(*v));

		if (v == NULL)
			return -LE_NOMEM;
		s->bq = v;
		s->bq_cap = cap;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (before(s->bq[mid], b))
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&s->bq[lo + 1], &s->bq[lo], (s->bq_n - lo) * sizeof(*s->bq));
	s->bq[lo] = b;
	s->bq_n++;
	return 0;
}

static void
bq_remove_at(struct swim *s, size_t i)
{
	memmove(&s->bq[i], &s->bq[i + 1], (s->bq_n - i - 1) * sizeof(*s->bq));
	s->bq_n--;
}

int
sw_encode(struct swim *s, const struct gw_msg *m)
{
	s->scratch.len = 0;
	return gw_encode_msg(&s->scratch, m);
}

int
bq_queue(struct swim *s, const void *node, size_t node_len,
    const struct gw_msg *m, uint8_t note)
{
	struct bcast *b;
	int rc;

	if ((rc = sw_encode(s, m)) != 0)
		return rc;
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->node = malloc(node_len + 1)) == NULL ||
	    (b->msg = malloc(s->scratch.len)) == NULL) {
		if (b != NULL)
			bcast_free(b);
		return -LE_NOMEM;
	}
	memcpy(b->node, node, node_len);
	b->node_len = node_len;
	memcpy(b->msg, s->scratch.p, s->scratch.len);
	b->len = s->scratch.len;
	b->id = ++s->bq_id;
	b->note = note;
	for (size_t i = 0; i < s->bq_n; i++) {
		struct bcast *o = s->bq[i];

		if (sw_bytes_eq(o->node, o->node_len, node, node_len)) {
			bq_remove_at(s, i);
			sw_note_done(s, o->note);
			bcast_free(o);
			break;
		}
	}
	if ((rc = bq_insert(s, b)) != 0) {
		bcast_free(b);
		return rc;
	}
	return 0;
}

void
bq_free_all(struct swim *s)
{
	for (size_t i = 0; i < s->bq_n; i++)
		bcast_free(s->bq[i]);
	free(s->bq);
	s->bq = NULL;
	s->bq_n = s->bq_cap = 0;
}

unsigned
bq_limit(const struct swim *s)
{
	double scale = ceil(log10((double)s->n_nodes + 1.0));

	return s->cfg.retransmit_mult * (unsigned)scale;
}

/* ---- packets under assembly ---- */

void
parts_reset(struct parts *p)
{
	p->buf.len = 0;
	p->n = 0;
}

/* type < 0: msg is a complete [type][body] already. */
int
parts_add(struct parts *p, int type, const void *msg, size_t len)
{
	int rc;

	if (p->n == PARTS_MAX + 1)
		return -LE_TOOBIG;
	p->off[p->n] = p->buf.len;
	if (type >= 0) {
		uint8_t t = (uint8_t)type;

		if ((rc = gw_buf_append(&p->buf, &t, 1)) != 0)
			return rc;
	}
	if ((rc = gw_buf_append(&p->buf, msg, len)) != 0)
		return rc;
	p->len[p->n] = p->buf.len - p->off[p->n];
	p->n++;
	return 0;
}

int
parts_send(struct swim *s, struct parts *p, const struct swim_addr *to,
    uint8_t pmax)
{
	struct gw_bytes v[PARTS_MAX + 1];
	struct gw_buf out = { 0 };
	int rc;

	if (p->n == 0)
		return 0;
	if (p->n == 1) {
		sw_send(s, to, pmax, p->buf.p, p->buf.len);
		return 0;
	}
	for (unsigned i = 0; i < p->n; i++) {
		v[i].p = p->buf.p + p->off[i];
		v[i].len = p->len[i];
	}
	if ((rc = gw_compound_encode(&out, v, p->n)) == 0)
		sw_send(s, to, pmax, out.p, out.len);
	gw_buf_free(&out);
	return rc;
}

int
swim_sink_add(struct swim_sink *k, const void *msg, size_t len)
{
	if (len == 0 || len + k->overhead > k->room)
		return -LE_TOOBIG;
	if (parts_add(k->p, GW_USER, msg, len) != 0)
		return -LE_TOOBIG;
	k->room -= len + k->overhead;
	return 0;
}

int
bq_get(struct swim *s, size_t overhead, size_t limit, struct parts *p)
{
	struct bcast *taken[PARTS_MAX + 1];
	unsigned ntaken = 0, tlimit = bq_limit(s);
	size_t used = 0, keep = 0;
	int rc = 0;

	for (size_t i = 0; i < s->bq_n; i++) {
		struct bcast *b = s->bq[i];

		if (used + overhead >= limit || p->n == PARTS_MAX + 1) {
			s->bq[keep++] = b;
			continue;
		}
		if (b->len > limit - used - overhead ||
		    parts_add(p, -1, b->msg, b->len) != 0) {
			s->bq[keep++] = b;
			continue;
		}
		used += overhead + b->len;
		taken[ntaken++] = b;
	}
	s->bq_n = keep;
	for (unsigned i = 0; i < ntaken; i++) {
		struct bcast *b = taken[i];

		if (b->transmits + 1 >= tlimit) {
			sw_note_done(s, b->note);
			bcast_free(b);
		} else {
			b->transmits++;
			if ((rc = bq_insert(s, b)) != 0)
				bcast_free(b);
		}
	}
	/* Serf's messages go in the room our own left, each to be framed
	 * as a user message (one more byte). */
	if (s->ops.get_broadcasts != NULL && limit > used &&
	    limit - used > overhead + USER_MSG_HDR && p->n < PARTS_MAX + 1) {
		struct swim_sink k = { p, limit - used, overhead + USER_MSG_HDR };

		s->ops.get_broadcasts(s->arg, overhead + USER_MSG_HDR,
		    limit - used, &k);
	}
	return rc;
}

/* memberlist's sendMsg: one message, plus whatever broadcasts fit. */
int
sw_send_msg(struct swim *s, const struct swim_addr *to, const struct gw_msg *m)
{
	struct parts p = { 0 };
	size_t budget = sw_budget(s);
	int rc;

	if ((rc = sw_encode(s, m)) != 0)
		return rc;
	/* memberlist leaves the lead message's own length entry out of the
	 * sum and may pack two bytes past its budget; we count it. */
	if ((rc = parts_add(&p, -1, s->scratch.p, s->scratch.len)) == 0) {
		size_t used = s->scratch.len + COMPOUND_HDR + COMPOUND_PART;

		if (used < budget)
			rc = bq_get(s, COMPOUND_PART, budget - used, &p);
		s->st.piggybacked += p.n - 1;
		if (rc == 0)
			rc = parts_send(s, &p, to, 0);
	}
	gw_buf_free(&p.buf);
	return rc;
}

/* Gossip goes to alive and suspect nodes, and to the recently dead so
 * that a node wrongly declared dead hears it and refutes. */
static bool
gossip_skip(struct swim *s, const struct node *n, void *arg)
{
	if (n == s->self)
		return true;
	switch (n->state) {
	case SWIM_ALIVE:
	case SWIM_SUSPECT:
		return false;
	case SWIM_DEAD:
		return s->now - n->state_change >
		    s->cfg.gossip_to_dead_ms * US_PER_MS;
	default:
		return true;
	}
}

void
gossip_tick(struct swim *s)
{
	struct node **targets;
	struct parts p = { 0 };
	size_t k;

	if (s->n_nodes == 0 ||
	    (targets = calloc(s->cfg.gossip_nodes, sizeof(*targets))) == NULL)
		return;
	k = mem_random(s, s->cfg.gossip_nodes, targets, gossip_skip, NULL);
	for (size_t i = 0; i < k; i++) {
		uint64_t before_bytes = s->st.bytes_out;

		parts_reset(&p);
		if (bq_get(s, COMPOUND_PART, sw_budget(s) - COMPOUND_HDR,
		    &p) != 0 || p.n == 0)
			break;
		parts_send(s, &p, &targets[i]->addr,
		    targets[i]->vsn[GW_VSN_PMAX]);
		s->st.gossip_packets++;
		s->st.gossip_bytes += s->st.bytes_out - before_bytes;
	}
	gw_buf_free(&p.buf);
	free(targets);
}
