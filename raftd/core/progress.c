/* progress.c: what a leader knows of each peer (match, next, the window
 * of AppendEntries in flight, last contact, the latest heartbeat round it
 * acknowledged) and the quorum arithmetic over the voters of the latest
 * configuration: commit index, confirmed read round, lease start. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

int
prog_alloc(struct raft *r)
{
	r->prs = calloc(RAFT_MAX_SERVERS, sizeof(*r->prs));
	return r->prs == NULL ? -LE_NOMEM : 0;
}

struct progress *
prog_find(struct raft *r, uint64_t id)
{
	for (uint32_t i = 0; i < r->nprs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

static void
prog_init(struct raft *r, struct progress *p, uint64_t id, bool voter)
{
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->voter = voter;
	p->state = PROG_PROBE;
	p->next = rlog_last(&r->log) + 1;
	/* A grace period: check-quorum judges it after one timeout. */
	p->last_contact = r->now;
	p->progress_at = r->now;
}

void
prog_reset_all(struct raft *r)
{
	r->nprs = 0;
	prog_sync(r);
}

/* Follows the latest configuration: keeps what we know of servers that
 * stay, starts fresh for new ones, forgets removed ones. */
void
prog_sync(struct raft *r)
{
	const struct raft_config *c = confs_latest(&r->confs);
	const struct raft_server *s;
	uint32_t i, k = 0;

	for (i = 0; i < r->nprs; i++) {
		s = raft_config_find(c, r->prs[i].id);
		if (s == NULL || s->id == r->id)
			continue;
		if (k != i)
			r->prs[k] = r->prs[i];
		r->prs[k].voter = s->role == RAFT_VOTER;
		k++;
	}
	r->nprs = k;
	for (i = 0; i < c->n && r->nprs < RAFT_MAX_SERVERS; i++) {
		s = &c->servers[i];
		if (s->id == r->id || prog_find(r, s->id) != NULL)
			continue;
		prog_init(r, &r->prs[r->nprs++], s->id, s->role == RAFT_VOTER);
	}
}

void
prog_become_probe(struct raft *r, struct progress *p, uint64_t next)
{
	p->state = PROG_PROBE;
	p->paused = false;
	p->next = r_max(next, p->match + 1);
	p->if_n = 0;
	p->if_head = 0;
	p->progress_at = r->now;
}

void
prog_become_replicate(struct raft *r, struct progress *p)
{
	p->state = PROG_REPLICATE;
	p->paused = false;
	p->next = r_max(p->next, p->match + 1);
	p->if_n = 0;
	p->if_head = 0;
	p->progress_at = r->now;
}

bool
prog_inflight_full(const struct raft *r, const struct progress *p)
{
	return p->if_n >= r->opt.max_inflight;
}

void
prog_inflight_add(struct progress *p, uint64_t last)
{
	if (p->if_n >= RAFT_INFLIGHT_MAX)
		return;
	p->inflight[(p->if_head + p->if_n) % RAFT_INFLIGHT_MAX] = last;
	p->if_n++;
}

void
prog_inflight_free_to(struct progress *p, uint64_t idx)
{
	while (p->if_n > 0 && p->inflight[p->if_head] <= idx) {
		p->if_head = (p->if_head + 1) % RAFT_INFLIGHT_MAX;
		p->if_n--;
	}
}

uint32_t
prog_voters(const struct raft *r)
{
	const struct raft_config *c = confs_latest(&r->confs);
	uint32_t n = 0;

	for (uint32_t i = 0; i < c->n; i++)
		n += c->servers[i].role == RAFT_VOTER;
	return n;
}

/* The need-th largest of v[0..n): the value a quorum of need reached. */
uint64_t
prog_quorum_value(uint64_t *v, uint32_t n, uint32_t need)
{
	uint32_t i, j;
	uint64_t x;

	if (need == 0 || n < need)
		return 0;
	for (i = 1; i < n; i++) {
		x = v[i];
		for (j = i; j > 0 && v[j - 1] < x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	return v[need - 1];
}

/* Collects, per voter of the latest configuration, self's value or the
 * peer's; voters without progress count as 0. */
static uint64_t
quorum(const struct raft *r, uint64_t self, int what)
{
	const struct raft_config *c = confs_latest(&r->confs);
	uint64_t v[RAFT_MAX_SERVERS];
	uint32_t n = 0, i, k;

	for (i = 0; i < c->n; i++) {
		const struct raft_server *s = &c->servers[i];
		const struct progress *p = NULL;

		if (s->role != RAFT_VOTER)
			continue;
		if (s->id == r->id) {
			v[n++] = self;
			continue;
		}
		for (k = 0; k < r->nprs; k++)
			if (r->prs[k].id == s->id)
				p = &r->prs[k];
		if (p == NULL)
			v[n++] = 0;
		else
			v[n++] = what == 0 ? p->match : p->acked_round;
	}
	return prog_quorum_value(v, n, n / 2 + 1);
}

uint64_t
prog_quorum_match(const struct raft *r)
{
	return quorum(r, r->durable, 0);
}

uint64_t
prog_quorum_round(const struct raft *r)
{
	return quorum(r, r->round, 1);
}

/* When round started; false if unknown (never, or too old to remember). */
bool
prog_round_time(const struct raft *r, uint64_t round, uint64_t *at)
{
	if (round == 0 || round > r->round || r->round - round >= ROUND_RING)
		return false;
	*at = r->round_at[round % ROUND_RING];
	return true;
}

int
raft_progress(const struct raft *r, uint64_t id, uint64_t *match,
    uint64_t *last_contact_ms)
{
	const struct progress *p = NULL;

	if (r->state != RAFT_LEADER)
		return -LE_NOTFOUND;
	for (uint32_t i = 0; i < r->nprs; i++)
		if (r->prs[i].id == id)
			p = &r->prs[i];
	if (p == NULL)
		return -LE_NOTFOUND;
	if (match != NULL)
		*match = p->match;
	if (last_contact_ms != NULL)
		*last_contact_ms = r->now - p->last_contact;
	return 0;
}
