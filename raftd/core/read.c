/* read.c: linearizable reads without log entries.
 *
 * Read-index (?consistent): the leader notes its commit index, starts a
 * heartbeat round and answers once a quorum acknowledged that round (or a
 * later one) and an entry of its own term is committed; the index is then
 * at least that entry's, which covers everything committed by earlier
 * leaders.
 *
 * Lease (default consistency): followers refuse to help any election for
 * an election timeout after hearing from the leader, so after a quorum
 * acknowledged a round that started at t no other leader can exist before
 * t + election timeout; the leader reads locally until t + lease_ms. A
 * leadership transfer bypasses that refusal, so it ends the lease for the
 * rest of the term. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

int
raft_read_index(struct raft *r, uint64_t id)
{
	struct readreq *nv, *q;
	size_t ncap;
	int rc;

	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if (r->state != RAFT_LEADER)
		return r_api_exit(r, -RAFT_E_NOTLEADER);
	if (r->ops.read_done == NULL)
		return r_api_exit(r, -LE_UNSUPPORTED);
	if (r->nreads == r->cap_reads) {
		ncap = r->cap_reads ? r->cap_reads * 2 : 16;
		if ((nv = realloc(r->reads, ncap * sizeof(*nv))) == NULL)
			return r_api_exit(r, -LE_NOMEM);
		r->reads = nv;
		r->cap_reads = ncap;
	}
	/* A round that starts after the request: acknowledgements of an
	 * earlier one could predate a newer leader. */
	r->round++;
	r->round_at[r->round % ROUND_RING] = r->now;
	q = &r->reads[r->nreads++];
	q->id = id;
	q->idx = r->commit;
	q->round = r->round;
	q->at = r->now;
	for (uint32_t i = 0; i < r->nprs; i++)
		repl_send_heartbeat(r, &r->prs[i]);
	return r_api_exit(r, 0);
}

void
read_check(struct raft *r)
{
	uint64_t q;
	size_t k = 0;

	if (r->state != RAFT_LEADER || r->nreads == 0 ||
	    r->commit < r->term_start)
		return;
	q = prog_quorum_round(r);
	/* Rounds grow with the queue: stop at the first unconfirmed one. */
	while (k < r->nreads && r->reads[k].round <= q) {
		r->ops.read_done(r->ctx, r->reads[k].id,
		    r_max(r->reads[k].idx, r->term_start), 0);
		k++;
	}
	if (k > 0) {
		memmove(r->reads, r->reads + k,
		    (r->nreads - k) * sizeof(*r->reads));
		r->nreads -= k;
	}
}

void
read_fail_all(struct raft *r, int status)
{
	for (size_t k = 0; k < r->nreads; k++)
		r->ops.read_done(r->ctx, r->reads[k].id, 0, status);
	r->nreads = 0;
}

void
read_tick(struct raft *r)
{
	uint64_t limit = 2 * (uint64_t)r->opt.election_timeout_ms;
	size_t k = 0;

	while (k < r->nreads && r->now - r->reads[k].at >= limit) {
		r->ops.read_done(r->ctx, r->reads[k].id, 0, -LE_TIMEOUT);
		k++;
	}
	if (k > 0) {
		memmove(r->reads, r->reads + k,
		    (r->nreads - k) * sizeof(*r->reads));
		r->nreads -= k;
	}
}

int
raft_lease_read(struct raft *r, uint64_t *idx)
{
	uint64_t q, start;
	int rc;

	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if (r->state != RAFT_LEADER)
		return r_api_exit(r, -RAFT_E_NOTLEADER);
	if (r->lease_off || r->commit < r->term_start)
		return r_api_exit(r, -LE_UNAVAIL);
	q = prog_quorum_round(r);
	if (!prog_round_time(r, q, &start) ||
	    r->now >= start + r->opt.lease_ms)
		return r_api_exit(r, -LE_UNAVAIL);
	*idx = r->commit;
	return r_api_exit(r, 0);
}
