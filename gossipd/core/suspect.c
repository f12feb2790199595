/* suspect.c: Lifeguard suspicion timers (§9.2), memberlist's suspicion.go.
 *
 * A suspect node gets a timer that starts at max = SuspicionMaxTimeoutMult
 * x min (or at min when no confirmations are expected) and shrinks towards
 * min as distinct other members report the same suspicion: after c of the
 * k expected confirmations the timeout is
 *     max - (ln(c + 1) / ln(k + 1)) x (max - min), never below min,
 * counted from when the suspicion began. The accuser that started the
 * timer is not a confirmation (our own suspicion may be gossiped back to
 * us), and neither is a repeat. When the timer fires the node is declared
 * dead with From = us. The timers live on the nodes; s->suspects lists
 * the nodes that have one so ticks do not walk the whole table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "swim_int.h"

/* min = SuspicionMult x max(1, log10(n)) x ProbeInterval, with Go's
 * integer steps: the scale is kept to three decimals. */
uint64_t
susp_min_us(const struct swim_config *c, size_t n)
{
	double scale = fmax(1.0, log10(fmax(1.0, (double)n)));
	uint64_t milli = (uint64_t)(scale * 1000.0);

	return (uint64_t)c->suspicion_mult * milli *
	    (c->probe_interval_ms * US_PER_MS) / 1000;
}

/* Confirmations wanted: SuspicionMult - 2, which puts the nominal timeout
 * two probe intervals short of what the multiplier suggests; none when
 * there are not that many other nodes to give them (n - 2: less us and
 * the suspect). */
unsigned
susp_k(const struct swim_config *c, size_t n)
{
	long k = (long)c->suspicion_mult - 2;

	if (k < 0 || (long)n - 2 < k)
		return 0;
	return (unsigned)k;
}

/* The whole timeout after n confirmations, in us; whole milliseconds as
 * memberlist's remainingSuspicionTime floors them. */
uint64_t
susp_timeout_us(uint64_t min, uint64_t max, unsigned n, unsigned k)
{
	double frac, raw;
	uint64_t t;

	if (k == 0)
		return min;
	frac = log((double)n + 1.0) / log((double)k + 1.0);
	raw = (double)max / 1e6 - frac * ((double)max - (double)min) / 1e6;
	if (raw <= 0)
		return min;
	t = (uint64_t)floor(1000.0 * raw) * US_PER_MS;
	return t < min ? min : t;
}

static void
susp_release(struct suspicion *sp)
{
	for (unsigned i = 0; i < sp->nfrom; i++)
		free((void *)sp->from[i].p);
	free(sp);
}

static bool
add_from(struct suspicion *sp, struct gw_bytes from)
{
	uint8_t *p;

	if (sp->nfrom == CONFIRM_MAX)
		return false;
	if ((p = malloc(from.len ? from.len : 1)) == NULL)
		return false;
	if (from.len)
		memcpy(p, from.p, from.len);
	sp->from[sp->nfrom].p = p;
	sp->from[sp->nfrom].len = from.len;
	sp->nfrom++;
	return true;
}

int
susp_start(struct swim *s, struct node *n, struct gw_bytes from)
{
	struct suspicion *sp = calloc(1, sizeof(*sp));

	if (sp == NULL)
		return -LE_NOMEM;
	sp->k = susp_k(&s->cfg, s->n_nodes);
	if (sp->k > CONFIRM_MAX - 1)
		sp->k = CONFIRM_MAX - 1;
	sp->min_us = susp_min_us(&s->cfg, s->n_nodes);
	sp->max_us = sp->min_us * s->cfg.suspicion_max_timeout_mult;
	sp->start = s->now;
	sp->fire_at = s->now + (sp->k < 1 ? sp->min_us : sp->max_us);
	if (!add_from(sp, from)) {
		susp_release(sp);
		return -LE_NOMEM;
	}
	n->susp = sp;
	n->snext = s->suspects;
	s->suspects = n;
	return 0;
}

bool
susp_confirm(struct swim *s, struct node *n, struct gw_bytes from)
{
	struct suspicion *sp = n->susp;
	uint64_t t;

	/* Enough confirmations: the timer is at min already. */
	if (sp->n >= sp->k)
		return false;
	for (unsigned i = 0; i < sp->nfrom; i++)
		if (sw_bytes_eq(sp->from[i].p, sp->from[i].len, from.p,
		    from.len))
			return false;
	if (!add_from(sp, from))
		return false;
	sp->n++;
	t = susp_timeout_us(sp->min_us, sp->max_us, sp->n, sp->k);
	/* Past due: fire at the next tick, which is now. */
	sp->fire_at = sp->start + t > s->now ? sp->start + t : s->now;
	return true;
}

void
susp_stop(struct swim *s, struct node *n)
{
	struct node **pp;

	if (n->susp == NULL)
		return;
	for (pp = &s->suspects; *pp != n; pp = &(*pp)->snext)
		;
	*pp = n->snext;
	n->snext = NULL;
	susp_release(n->susp);
	n->susp = NULL;
}

void
susp_tick(struct swim *s)
{
	struct node *n;

	/* Firing changes the list: find one due timer at a time. */
	for (;;) {
		struct gw_suspect d;

		for (n = s->suspects; n != NULL && n->susp->fire_at > s->now;
		    n = n->snext)
			;
		if (n == NULL)
			return;
		sw_log(s, 1, "marking %s as failed, suspect timeout reached "
		    "(%u peer confirmations)", n->name, n->susp->n);
		susp_stop(s, n);
		memset(&d, 0, sizeof(d));
		d.incarnation = n->inc;
		d.node.p = (const uint8_t *)n->name;
		d.node.len = n->name_len;
		d.from.p = (const uint8_t *)s->name;
		d.from.len = s->name_len;
		s->st.deaths++;
		mem_dead(s, &d);
	}
}

uint64_t
susp_next(const struct swim *s)
{
	uint64_t t = UINT64_MAX;

	for (const struct node *n = s->suspects; n != NULL; n = n->snext)
		if (n->susp->fire_at < t)
			t = n->susp->fire_at;
	return t;
}

void
susp_free_all(struct swim *s)
{
	while (s->suspects != NULL)
		susp_stop(s, s->suspects);
}
