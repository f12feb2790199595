/* replicate.c: AppendEntries in both directions and the commit rule.
 *
 * Leader: proposals are appended, handed to storage and sent to followers
 * at once, in parallel with the leader's own fsync. A follower in
 * REPLICATE gets a window of messages in flight with an optimistic next
 * index; a reject (or a window that stops moving) falls back to PROBE,
 * one message at a time, jumping back a whole term per round trip with
 * the follower's hint. The commit index only advances by counting
 * replicas of an entry of the current term; the leader counts its own
 * log only as far as it is durable.
 *
 * Follower: an entry is acknowledged only once it, and the term it was
 * accepted in, are durable; acknowledgements for entries still being
 * written go out when raft_persisted reports them. */
#include <string.h>

#include "raft_int.h"

/* A message anchored at prev (or carrying entries up to it) with our
 * commit tells the follower the commit up to there only. */
static void
commit_told(struct raft *r, struct progress *p, uint64_t prev)
{
	uint64_t k = r_min(prev, r->commit);

	if (k > p->commit_known)
		p->commit_known = k;
}

void
repl_send_append(struct raft *r, struct progress *p)
{
	const struct raft_entry *e;
	struct raft_msg m;
	uint64_t prev, prev_term, last = rlog_last(&r->log), i;
	size_t n = 0, bytes = 0;

	if (p->state == PROG_SNAPSHOT ||
	    (p->state == PROG_PROBE && p->paused) ||
	    (p->state == PROG_REPLICATE && prog_inflight_full(r, p)))
		return;
	prev = p->next - 1;
	if (!rlog_term(&r->log, prev, &prev_term)) {
		snap_send(r, p);	/* the entries it needs are compacted */
		return;
	}
	for (i = p->next; i <= last && n < r->opt.max_batch_entries; i++) {
		e = rlog_get(&r->log, i);
		if (n > 0 && bytes + e->len > r->opt.max_batch_bytes)
			break;
		bytes += e->len;
		n++;
	}
	if (p->state == PROG_REPLICATE && n == 0)
		return;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND;
	m.to = p->id;
	m.u.append.prev_index = prev;
	m.u.append.prev_term = prev_term;
	m.u.append.commit = r->commit;
	m.u.append.round = r->round;
	m.u.append.n = n;
	m.u.append.entries = n > 0 ? rlog_get(&r->log, p->next) : NULL;
	r_send(r, &m);
	p->sent_at = r->now;
	if (p->commit_sent < r->commit)
		p->commit_sent = r->commit;
	p->commit_due = 0;
	commit_told(r, p, prev + n);
	if (p->state == PROG_REPLICATE) {
		prog_inflight_add(p, prev + n);
		p->next = prev + n + 1;
	} else {
		p->paused = true;
	}
}

/* Anchored at the follower's acknowledged match, which it is known to
 * hold durably, so a heartbeat never fails because of entries still in
 * flight; when that entry is compacted, index 0 matches everywhere. */
void
repl_send_heartbeat(struct raft *r, struct progress *p)
{
	struct raft_msg m;
	uint64_t prev = p->match, prev_term;

	if (!rlog_term(&r->log, prev, &prev_term))
		prev = prev_term = 0;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND;
	m.to = p->id;
	m.u.append.prev_index = prev;
	m.u.append.prev_term = prev_term;
	m.u.append.commit = r->commit;
	m.u.append.round = r->round;
	r_send(r, &m);
	if (p->commit_sent < r->commit)
		p->commit_sent = r->commit;
	p->commit_due = 0;
	commit_told(r, p, prev);
}

/* Followers apply (and answer their clients) only once they learn the
 * commit. Most learn it from their next append; one with nothing else
 * coming is told commit_timeout_ms later, as Consul's CommitTimeout does,
 * or at once when it waits on the commit (raft_tell_commit). Told at
 * once every time, each commit woke both followers' raftd and kvd while
 * the leader answered its client, competing with that answer for the
 * CPUs: 0.1 ms of a one-client write's 0.72 ms on 2 cores
 * (docs/architecture.md, "When followers learn a commit"). */
static void
tell_commit(struct raft *r, struct progress *p)
{
	if (p->state != PROG_REPLICATE)
		return;
	/* A heartbeat is anchored at its match: once that covers what the
	 * follower waits on, it tells it. */
	if (p->commit_wanted > p->commit_known &&
	    p->match >= p->commit_wanted && r->commit >= p->commit_wanted) {
		repl_send_heartbeat(r, p);
		return;
	}
	if (p->commit_sent >= r->commit)
		return;
	if (p->if_n != 0 || p->next <= rlog_last(&r->log))
		return;		/* its next append tells it */
	if (r->opt.commit_timeout_ms == 0)
		repl_send_heartbeat(r, p);
	else if (p->commit_due == 0)
		p->commit_due = r->now + r->opt.commit_timeout_ms;
}

void
repl_commit_tick(struct raft *r)
{
	for (uint32_t i = 0; i < r->nprs; i++) {
		struct progress *p = &r->prs[i];

		if (p->commit_due == 0 || r->now < p->commit_due)
			continue;
		p->commit_due = 0;
		if (p->id != r->id && p->commit_sent < r->commit)
			repl_send_heartbeat(r, p);
	}
}

int
raft_tell_commit(struct raft *r, uint64_t id, uint64_t index)
{
	struct progress *p;
	int rc;

	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if (r->state == RAFT_LEADER && id != r->id &&
	    (p = prog_find(r, id)) != NULL) {
		if (index == 0 || index > r->commit)
			index = r->commit;
		if (index > p->commit_wanted)
			p->commit_wanted = index;
		tell_commit(r, p);
	}
	return r_api_exit(r, 0);
}

void
repl_broadcast(struct raft *r)
{
	for (uint32_t i = 0; i < r->nprs; i++)
		repl_send_append(r, &r->prs[i]);
}

void
repl_heartbeat_tick(struct raft *r)
{
	uint64_t et = r->opt.election_timeout_ms;

	r->hb_at = r->now + r->opt.heartbeat_ms;
	r->round++;
	r->round_at[r->round % ROUND_RING] = r->now;
	for (uint32_t i = 0; i < r->nprs; i++) {
		struct progress *p = &r->prs[i];

		switch (p->state) {
		case PROG_PROBE:
			/* Resend the probe: it or its answer may be lost. */
			p->paused = false;
			repl_send_append(r, p);
			break;
		case PROG_SNAPSHOT:
			if (r->now - p->sent_at >= 2 * et) {
				prog_become_probe(r, p, p->match + 1);
				repl_send_append(r, p);
			} else {
				repl_send_heartbeat(r, p);
			}
			break;
		case PROG_REPLICATE:
			if (p->if_n > 0 && r->now - p->progress_at >= et / 2) {
				/* The window stopped moving: messages lost. */
				r->stats.probes++;
				prog_become_probe(r, p, p->match + 1);
				repl_send_append(r, p);
			} else {
				repl_send_heartbeat(r, p);
				repl_send_append(r, p);
			}
			break;
		}
	}
}

int
repl_leader_append(struct raft *r, const struct raft_entry *e, size_t n)
{
	uint64_t first = rlog_last(&r->log) + 1;
	int rc;

	if ((rc = r_pw_reserve(r)) != 0)
		return rc;
	if ((rc = r_append(r, e, n, first, r->term)) != 0)
		return rc;
	r_persist_log(r, first, first + n - 1);
	repl_broadcast(r);
	return 0;
}

int
raft_propose_batch(struct raft *r, const struct raft_entry *e, size_t n,
    uint64_t *first, uint64_t *term)
{
	size_t i;
	int rc;

	if (n == 0 || e == NULL)
		return -LE_INVAL;
	for (i = 0; i < n; i++) {
		if (e[i].type != RAFT_ENTRY_NORMAL &&
		    e[i].type != RAFT_ENTRY_NOOP)
			return -LE_INVAL;
		if (e[i].len > 0 && e[i].data == NULL)
			return -LE_INVAL;
	}
	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if (r->state != RAFT_LEADER)
		return r_api_exit(r, -RAFT_E_NOTLEADER);
	if (r->transfer_to != 0 || (r->opt.max_uncommitted != 0 &&
	    rlog_last(&r->log) - r->commit + n > r->opt.max_uncommitted))
		return r_api_exit(r, -RAFT_E_BUSY);
	for (i = 0; i < n; i++)
		if (e[i].len > r->opt.max_entry_bytes)
			return r_api_exit(r, -LE_TOOBIG);
	if (rlog_last(&r->log) + n >= RAFT_LIMIT)
		return r_api_exit(r, -LE_RANGE);
	if ((rc = repl_leader_append(r, e, n)) != 0)
		return r_api_exit(r, rc);
	if (first != NULL)
		*first = rlog_last(&r->log) - n + 1;
	if (term != NULL)
		*term = r->term;
	return r_api_exit(r, 0);
}

int
raft_propose(struct raft *r, uint8_t type, const void *data, size_t len,
    uint64_t *idx, uint64_t *term)
{
	struct raft_entry e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.len = len;
	e.data = data;
	return raft_propose_batch(r, &e, 1, idx, term);
}

void
repl_maybe_commit(struct raft *r)
{
	uint64_t n, t;

	if (r->state != RAFT_LEADER)
		return;
	n = prog_quorum_match(r);
	/* Older terms' entries commit only under one of ours (Raft §5.4.2):
	 * counting their replicas could commit what a later leader erases. */
	if (n <= r->commit || !rlog_term(&r->log, n, &t) || t != r->term)
		return;
	r_commit_to(r, n);
	if (r->state != RAFT_LEADER)
		return;		/* our removal committed */
	for (uint32_t i = 0; i < r->nprs; i++)
		tell_commit(r, &r->prs[i]);
}

/* ---- follower ---- */

uint64_t
r_ack_value(const struct raft *r)
{
	return r_term_durable(r) ? r_min(r->verified, r->durable) : 0;
}

void
repl_respond(struct raft *r, uint8_t type, bool success, uint64_t idx,
    uint64_t hint, uint64_t hint_term)
{
	struct raft_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.to = r->leader;
	m.u.append_resp.success = success;
	m.u.append_resp.round = r->leader_round;
	if (success) {
		m.u.append_resp.index = r->verified;
		m.u.append_resp.match = r_ack_value(r);
		r->ack_sent = r_max(r->ack_sent, m.u.append_resp.match);
	} else {
		m.u.append_resp.index = idx;
		m.u.append_resp.hint_index = hint;
		m.u.append_resp.hint_term = hint_term;
	}
	r_send(r, &m);
}

void
repl_follower_ack(struct raft *r)
{
	if (r->state == RAFT_FOLLOWER && r->leader != 0 &&
	    r_ack_value(r) > r->ack_sent)
		repl_respond(r, RAFT_MSG_APPEND_RESP, true, 0, 0, 0);
}

void
repl_handle_append(struct raft *r, const struct raft_msg *m)
{
	const struct raft_append *a = &m->u.append;
	const struct raft_entry *e = a->entries;
	uint64_t prev = a->prev_index, prev_term = a->prev_term, t, hint;
	uint64_t last_new = a->prev_index + a->n, first, skip;
	size_t n = a->n, i;

	if (!elect_learn_leader(r, m->from, a->round)) {
		r->stats.msgs_bad++;
		return;
	}
	if (prev < r->log.offset) {
		/* Entries up to our offset are committed, hence the leader's
		 * too: skip them. */
		skip = r->log.offset - prev;
		if (skip >= n) {
			r->verified = r_max(r->verified, last_new);
			repl_respond(r, RAFT_MSG_APPEND_RESP, true, 0, 0, 0);
			return;
		}
		if (e[skip - 1].term != r->log.offset_term) {
			r->stats.msgs_bad++;
			return;
		}
		e += skip;
		n -= (size_t)skip;
		prev = r->log.offset;
		prev_term = r->log.offset_term;
	}
	if (!rlog_term(&r->log, prev, &t) || t != prev_term) {
		hint = rlog_find_le_term(&r->log,
		    r_min(prev, rlog_last(&r->log)), prev_term);
		rlog_term(&r->log, hint, &t);
		repl_respond(r, RAFT_MSG_APPEND_RESP, false, a->prev_index,
		    hint, t);
		return;
	}
	/* Truncate only at a real conflict: a stale or duplicated message
	 * whose entries all match must not cut off newer ones. */
	for (i = 0; i < n; i++) {
		if (!rlog_term(&r->log, prev + 1 + i, &t))
			break;
		if (t != e[i].term) {
			if (prev + 1 + i <= r->commit) {
				/* It would erase a committed entry. */
				r->stats.msgs_bad++;
				return;
			}
			break;
		}
	}
	if (i < n) {
		first = prev + 1 + i;
		if (r_pw_reserve(r) != 0)
			return;
		if (first <= rlog_last(&r->log))
			r_truncate(r, first);
		if (r_append(r, &e[i], n - i, first, 0) != 0)
			return;
		r_persist_log(r, first, prev + n);
	}
	r->verified = r_max(r->verified, last_new);
	r_commit_to(r, r_min(a->commit, last_new));
	/* With new entries not yet durable, the acknowledgement follows
	 * from raft_persisted; heartbeats are answered at once. */
	if (a->n == 0 || r_ack_value(r) >= last_new)
		repl_respond(r, RAFT_MSG_APPEND_RESP, true, 0, 0, 0);
}

/* ---- leader: responses (AppendEntries and InstallSnapshot) ---- */

static void
on_success(struct raft *r, struct progress *p,
    const struct raft_append_resp *ar)
{
	/* A durable match also matches: tolerate senders that leave index
	 * out (0). */
	uint64_t idx = r_max(ar->index, ar->match);

	if (idx > rlog_last(&r->log)) {
		r->stats.msgs_bad++;
		return;
	}
	if (ar->match > p->match) {
		p->match = ar->match;
		p->match_round = r->round;
		p->progress_at = r->now;
	}
	if (p->next <= p->match)
		p->next = p->match + 1;
	prog_inflight_free_to(p, p->match);
	if (p->state == PROG_PROBE ||
	    (p->state == PROG_SNAPSHOT && idx >= p->snap_index)) {
		p->next = idx + 1;
		prog_become_replicate(r, p);
	}
	repl_maybe_commit(r);
	if (r->state != RAFT_LEADER)
		return;		/* our removal committed */
	if (r->transfer_to == p->id)
		transfer_check(r);
	repl_send_append(r, p);
	tell_commit(r, p);
}

void
repl_handle_append_resp(struct raft *r, const struct raft_msg *m)
{
	const struct raft_append_resp *ar = &m->u.append_resp;
	struct progress *p;
	uint64_t probe;

	if (r->state != RAFT_LEADER)
		return;
	if ((p = prog_find(r, m->from)) == NULL) {
		r->stats.msgs_stale++;
		return;
	}
	p->last_contact = r->now;
	if (ar->round <= r->round && ar->round > p->acked_round)
		p->acked_round = ar->round;
	if (ar->success) {
		on_success(r, p, ar);
		return;
	}
	/* A reject of its acknowledged match itself, answering a message
	 * sent a round after the match was acknowledged, from a log that
	 * ends before it: the follower lost entries it had made durable
	 * (its data was wiped and it kept its identity, which Raft assumes
	 * never happens). Taken as stale, as an old answer would be, every
	 * probe and heartbeat would be refused forever; hashicorp/raft moves
	 * its nextIndex back then, and so does this, through the match. The
	 * commit index never moves back. */
	if (ar->index == p->match && p->match > 0 &&
	    ar->hint_index < p->match && ar->round > p->match_round &&
	    p->state != PROG_SNAPSHOT) {
		r->stats.logs_lost++;
		p->match = 0;
		p->match_round = r->round;
	}
	/* A reject at or below what it acknowledged, or for another probe
	 * than the outstanding one, is a stale answer. */
	if (ar->index <= p->match || p->state == PROG_SNAPSHOT ||
	    (p->state == PROG_PROBE && ar->index != p->next - 1)) {
		r->stats.msgs_stale++;
		return;
	}
	if (p->state == PROG_REPLICATE)
		r->stats.probes++;
	probe = rlog_find_le_term(&r->log, r_min(ar->hint_index, ar->index),
	    ar->hint_term);
	prog_become_probe(r, p, r_min(ar->index, probe + 1));
	repl_send_append(r, p);
}
