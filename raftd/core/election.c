/* election.c: roles and terms. Election timers, pre-vote (a server that
 * cannot win does not raise terms), votes granted only once durable,
 * the candidate's own vote counted only once durable, leader stickiness
 * (no help to candidates while a leader is heard from: keeps removed or
 * partitioned servers from disrupting, and is what makes the lease safe),
 * check-quorum, and leadership transfer (TimeoutNow). */
#include <string.h>

#include "raft_int.h"

void
elect_reset_timer(struct raft *r)
{
	uint64_t et = r->opt.election_timeout_ms;

	r->elect_at = r->now + et + r->ops.rand(r->ctx) % et;
}

/* Every change of term or vote goes to disk before it is relied on. */
void
elect_term_update(struct raft *r, uint64_t term, uint64_t vote)
{
	if (term != r->term) {
		/* What we knew about the old leader's log says nothing about
		 * the next one's, except the committed prefix. */
		r->verified = r->commit;
		r->ack_sent = 0;
		r->leader_round = 0;
		r->grant_pending = false;
		r->lease_off = false;
	}
	r->term = term;
	r->vote = vote;
	r_persist_state(r);
}

static void
leader_cleanup(struct raft *r)
{
	const struct raft_entry *e;
	uint64_t i, last = rlog_last(&r->log);

	/* Our own uncommitted proposals: a later leader may still commit
	 * them, but this server can no longer tell. */
	if (r->ops.result != NULL)
		for (i = r->commit + 1; i <= last; i++)
			if ((e = rlog_get(&r->log, i)) != NULL &&
			    e->term == r->term)
				r->ops.result(r->ctx, i, e->term, e->type,
				    -RAFT_E_LOST);
	read_fail_all(r, -RAFT_E_NOTLEADER);
	r->transfer_to = 0;
	r->nprs = 0;
}

void
elect_become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
	if (r->state == RAFT_LEADER)
		leader_cleanup(r);
	if (term > r->term)
		elect_term_update(r, term, 0);
	r->state = RAFT_FOLLOWER;
	r->leader = leader;
	r->nvotes = 0;
	if (leader != 0) {
		r->heard_at = r->now;
		r->sticky_until = r_max(r->sticky_until,
		    r->now + r->opt.election_timeout_ms);
	}
	elect_reset_timer(r);
}

/* AppendEntries or InstallSnapshot from the leader of our term. */
bool
elect_learn_leader(struct raft *r, uint64_t from, uint64_t round)
{
	if (r->state == RAFT_LEADER || (r->leader != 0 && r->leader != from))
		return false;	/* two leaders in one term: not a real peer */
	if (r->state != RAFT_FOLLOWER || r->leader != from)
		elect_become_follower(r, r->term, from);
	r->heard_at = r->now;
	r->sticky_until = r_max(r->sticky_until,
	    r->now + r->opt.election_timeout_ms);
	if (round > r->leader_round)
		r->leader_round = round;
	elect_reset_timer(r);
	return true;
}

static void
send_votes(struct raft *r, bool pre, bool transfer)
{
	const struct raft_config *c = confs_latest(&r->confs);
	struct raft_msg m;

	for (uint32_t i = 0; i < c->n; i++) {
		if (c->servers[i].id == r->id ||
		    c->servers[i].role != RAFT_VOTER)
			continue;
		memset(&m, 0, sizeof(m));
		m.type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE;
		m.to = c->servers[i].id;
		m.term = pre ? r->term + 1 : r->term;
		m.u.vote.last_index = rlog_last(&r->log);
		m.u.vote.last_term = rlog_last_term(&r->log);
		m.u.vote.transfer = transfer;
		r_send(r, &m);
	}
}

static void
become_precandidate(struct raft *r)
{
	r->state = RAFT_PRECANDIDATE;
	r->leader = 0;
	r->nvotes = 0;
	r->stats.prevotes++;
	elect_reset_timer(r);
	send_votes(r, true, false);
	elect_tally(r);
}

static void
become_candidate(struct raft *r, bool transfer)
{
	elect_term_update(r, r->term + 1, r->id);
	r->self_vote_seq = r->state_seq;
	r->state = RAFT_CANDIDATE;
	r->leader = 0;
	r->nvotes = 0;
	r->stats.elections++;
	elect_reset_timer(r);
	send_votes(r, false, transfer);
	elect_tally(r);
}

static void
become_leader(struct raft *r)
{
	struct raft_entry e;

	r->state = RAFT_LEADER;
	r->leader = r->id;
	r->stats.leader_terms++;
	r->lead_since = r->now;
	r->hb_at = r->now + r->opt.heartbeat_ms;
	memset(r->round_at, 0, sizeof(r->round_at));
	r->round = 1;
	r->round_at[1] = r->now;
	r->lease_off = false;
	r->transfer_to = 0;
	r->nreads = 0;
	prog_reset_all(r);
	/* Committing an entry of our own term also commits everything
	 * before it; until then reads and membership changes wait. */
	r->term_start = rlog_last(&r->log) + 1;
	memset(&e, 0, sizeof(e));
	e.type = RAFT_ENTRY_NOOP;
	repl_leader_append(r, &e, 1);
}

void
elect_campaign(struct raft *r, bool transfer)
{
	if (!r_is_voter(r, r->id) || r->term + 1 >= RAFT_LIMIT) {
		elect_reset_timer(r);
		return;
	}
	if (r->opt.prevote && !transfer)
		become_precandidate(r);
	else
		become_candidate(r, transfer);
}

void
elect_tally(struct raft *r)
{
	const struct raft_config *c = confs_latest(&r->confs);
	uint32_t nv = 0, granted = 0, rejected = 0, i, k;

	if (r->state != RAFT_PRECANDIDATE && r->state != RAFT_CANDIDATE)
		return;
	for (i = 0; i < c->n; i++) {
		const struct raft_server *s = &c->servers[i];

		if (s->role != RAFT_VOTER)
			continue;
		nv++;
		if (s->id == r->id) {
			/* A vote we could forget in a crash must not count. */
			if (r->state == RAFT_PRECANDIDATE ||
			    r->seq_done >= r->self_vote_seq)
				granted++;
			continue;
		}
		for (k = 0; k < r->nvotes; k++)
			if (r->vote_from[k] == s->id) {
				if (r->vote_granted[k])
					granted++;
				else
					rejected++;
			}
	}
	if (nv == 0)
		return;
	if (granted >= nv / 2 + 1) {
		if (r->state == RAFT_PRECANDIDATE)
			become_candidate(r, false);
		else
			become_leader(r);
	} else if (nv - rejected < nv / 2 + 1) {
		elect_become_follower(r, r->term, 0);
	}
}

void
elect_handle_vote(struct raft *r, const struct raft_msg *m)
{
	bool pre = m->type == RAFT_MSG_PREVOTE, uptodate, grant;
	uint64_t lt = rlog_last_term(&r->log), li = rlog_last(&r->log);
	struct raft_msg out;

	uptodate = m->u.vote.last_term > lt ||
	    (m->u.vote.last_term == lt && m->u.vote.last_index >= li);
	memset(&out, 0, sizeof(out));
	out.to = m->from;
	if (pre) {
		grant = m->term > r->term && uptodate &&
		    r->state != RAFT_LEADER && r->now >= r->sticky_until;
		out.type = RAFT_MSG_PREVOTE_RESP;
		out.term = grant ? m->term : r->term;
		out.u.vote_resp.granted = grant;
		r_send(r, &out);
		return;
	}
	/* Same term here: higher terms were adopted by raft_step. The
	 * candidate's membership is not ours to judge: our configuration may
	 * be stale, and refusing would let a lagging server block the newer
	 * majority. */
	grant = (r->vote == m->from || (r->vote == 0 && r->leader == 0)) &&
	    uptodate;
	if (!grant) {
		out.type = RAFT_MSG_VOTE_RESP;
		r_send(r, &out);
		return;
	}
	if (r->vote != m->from) {
		r->vote = m->from;
		r_persist_state(r);
	}
	elect_reset_timer(r);
	r->grant_pending = true;
	r->grant_to = m->from;
	r->grant_term = r->term;
	r->grant_seq = r->state_seq;
	elect_grant_flush(r);
}

/* A granted vote leaves only once the vote is on disk. */
void
elect_grant_flush(struct raft *r)
{
	struct raft_msg out;

	if (!r->grant_pending || r->seq_done < r->grant_seq)
		return;
	r->grant_pending = false;
	if (r->term != r->grant_term || r->vote != r->grant_to)
		return;
	memset(&out, 0, sizeof(out));
	out.type = RAFT_MSG_VOTE_RESP;
	out.to = r->grant_to;
	out.u.vote_resp.granted = true;
	r_send(r, &out);
}

void
elect_handle_vote_resp(struct raft *r, const struct raft_msg *m)
{
	bool pre = m->type == RAFT_MSG_PREVOTE_RESP;
	uint32_t k;

	if (pre ? r->state != RAFT_PRECANDIDATE : r->state != RAFT_CANDIDATE)
		return;
	if (pre && m->u.vote_resp.granted && m->term != r->term + 1)
		return;
	if (!r_is_voter(r, m->from))
		return;
	for (k = 0; k < r->nvotes; k++)
		if (r->vote_from[k] == m->from)
			return;	/* duplicate */
	if (r->nvotes >= RAFT_MAX_SERVERS)
		return;
	r->vote_from[r->nvotes] = m->from;
	r->vote_granted[r->nvotes] = m->u.vote_resp.granted;
	r->nvotes++;
	elect_tally(r);
}

void
elect_handle_timeout_now(struct raft *r, const struct raft_msg *m)
{
	if (r->state != RAFT_FOLLOWER || r->leader != m->from ||
	    !r_is_voter(r, r->id))
		return;
	elect_campaign(r, true);
}

static void
check_quorum(struct raft *r)
{
	uint32_t nv = 0, alive = 0;
	uint64_t et = r->opt.election_timeout_ms;

	if (!r->opt.check_quorum || r->now - r->lead_since < et)
		return;
	if (r_is_voter(r, r->id)) {
		nv++;
		alive++;
	}
	for (uint32_t i = 0; i < r->nprs; i++) {
		if (!r->prs[i].voter)
			continue;
		nv++;
		if (r->now - r->prs[i].last_contact < et)
			alive++;
	}
	if (nv > 0 && alive < nv / 2 + 1) {
		r->stats.stepdowns_quorum++;
		elect_become_follower(r, r->term, 0);
	}
}

void
elect_tick(struct raft *r)
{
	if (r->state == RAFT_LEADER) {
		check_quorum(r);
		if (r->state == RAFT_LEADER && r->transfer_to != 0 &&
		    r->now >= r->transfer_until)
			r->transfer_to = 0;
		return;
	}
	if (r->now >= r->elect_at)
		elect_campaign(r, false);
}

/* ---- leadership transfer ---- */

void
transfer_check(struct raft *r)
{
	struct progress *p;
	struct raft_msg m;

	if (r->state != RAFT_LEADER || r->transfer_to == 0 || r->timeout_sent)
		return;
	if ((p = prog_find(r, r->transfer_to)) == NULL || !p->voter) {
		r->transfer_to = 0;
		return;
	}
	if (p->match < rlog_last(&r->log)) {
		repl_send_append(r, p);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_TIMEOUT_NOW;
	m.to = p->id;
	r->timeout_sent = true;
	r_send(r, &m);
}

int
raft_transfer(struct raft *r, uint64_t to)
{
	struct progress *p, *best = NULL;
	int rc;

	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if (r->state != RAFT_LEADER)
		return r_api_exit(r, -RAFT_E_NOTLEADER);
	if (r->transfer_to != 0)
		return r_api_exit(r, -RAFT_E_BUSY);
	if (to == r->id)
		return r_api_exit(r, -LE_INVAL);
	if (to == 0) {
		for (uint32_t i = 0; i < r->nprs; i++) {
			p = &r->prs[i];
			if (p->voter &&
			    (best == NULL || p->match > best->match))
				best = p;
		}
		if (best == NULL)
			return r_api_exit(r, -LE_NOTFOUND);
		to = best->id;
	}
	if ((p = prog_find(r, to)) == NULL || !p->voter)
		return r_api_exit(r, -LE_NOTFOUND);
	r->transfer_to = to;
	r->transfer_until = r->now + r->opt.election_timeout_ms;
	r->timeout_sent = false;
	/* The target will be elected past its peers' stickiness, which the
	 * lease relies on: no lease reads for the rest of this term. */
	r->lease_off = true;
	transfer_check(r);
	return r_api_exit(r, 0);
}
