/* bcast.c: Serf's three broadcast queues (intents, events, queries), each
 * a memberlist TransmitLimitedQueue (queue.go): least transmitted first,
 * among equals the largest that fits, then the newest; a message is
 * dropped after RetransmitMult x ceil(log10(n + 1)) transmissions, n being
 * Serf's member count (every status). Serf's messages never invalidate
 * each other. The core asks for them through get_broadcasts when it has
 * room in a packet: intents first, then queries, then events, as Serf's
 * delegate does. A message may carry a wait (leave, force-leave) that
 * ends when it is sent its last time or pruned. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "serf_int.h"

static bool
before(const struct qmsg *a, const struct qmsg *b)
{
	if (a->transmits != b->transmits)
		return a->transmits < b->transmits;
	if (a->len != b->len)
		return a->len > b->len;
	return a->id > b->id;
}

static int
insert(struct tlq *q, struct qmsg *m)
{
	size_t lo = 0, hi = q->n;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct qmsg **v = realloc(q->v, cap * sizeof(*v));

		if (v == NULL)
			return -LE_NOMEM;
		q->v = v;
		q->cap = cap;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (before(q->v[mid], m))
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&q->v[lo + 1], &q->v[lo], (q->n - lo) * sizeof(*q->v));
	q->v[lo] = m;
	q->n++;
	return 0;
}

static void
qmsg_free(struct qmsg *m)
{
	free(m->msg);
	free(m);
}

int
sfq_push(struct serf *sf, struct tlq *q, const uint8_t *msg, size_t len,
    int wait)
{
	struct qmsg *m = calloc(1, sizeof(*m));
	int rc;

	if (m == NULL || (m->msg = malloc(len ? len : 1)) == NULL) {
		free(m);
		return -LE_NOMEM;
	}
	memcpy(m->msg, msg, len);
	m->len = len;
	m->id = ++sf->q_id;
	m->wait = wait;
	if ((rc = insert(q, m)) != 0)
		qmsg_free(m);
	return rc;
}

static unsigned
transmit_limit(const struct serf *sf)
{
	double scale = ceil(log10((double)sf->mv_n + 1.0));

	return sf->cfg.swim.retransmit_mult * (unsigned)scale;
}

/* One queue's share of the packet; *used counts bytes with overhead. */
static void
take(struct serf *sf, struct tlq *q, size_t overhead, size_t limit,
    size_t *used, struct swim_sink *k)
{
	struct qmsg *sent[GW_COMPOUND_MAX];
	unsigned nsent = 0, tl = transmit_limit(sf);
	size_t keep = 0;

	for (size_t i = 0; i < q->n; i++) {
		struct qmsg *m = q->v[i];

		if (nsent < GW_COMPOUND_MAX && *used + overhead < limit &&
		    m->len <= limit - *used - overhead &&
		    swim_sink_add(k, m->msg, m->len) == 0) {
			*used += overhead + m->len;
			sent[nsent++] = m;
		} else {
			q->v[keep++] = m;
		}
	}
	q->n = keep;
	for (unsigned i = 0; i < nsent; i++) {
		struct qmsg *m = sent[i];

		if (m->transmits + 1 >= tl) {
			sf_wait_sent(sf, m->wait);
			qmsg_free(m);
		} else {
			m->transmits++;
			if (insert(q, m) != 0)
				qmsg_free(m);
		}
	}
}

void
sfq_get(struct serf *sf, size_t overhead, size_t limit, struct swim_sink *k)
{
	size_t used = 0;

	take(sf, &sf->intent_q, overhead, limit, &used, k);
	take(sf, &sf->query_q, overhead, limit, &used, k);
	take(sf, &sf->event_q, overhead, limit, &used, k);
}

/* memberlist's Prune: keep the first `keep` in queue order, finish the
 * rest (most transmitted, smallest, oldest go first). */
void
sfq_prune(struct serf *sf, struct tlq *q, size_t keep)
{
	while (q->n > keep) {
		struct qmsg *m = q->v[--q->n];

		sf_wait_sent(sf, m->wait);
		qmsg_free(m);
	}
}

void
sfq_free(struct tlq *q)
{
	for (size_t i = 0; i < q->n; i++)
		qmsg_free(q->v[i]);
	free(q->v);
	q->v = NULL;
	q->n = q->cap = 0;
}
