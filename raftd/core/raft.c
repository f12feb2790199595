/* raft.c: the instance's life (new, start, bootstrap, free), the entry
 * points that dispatch to the other files (tick, step), the bookkeeping of
 * asynchronous persistence (which prefix of the log is durable), handing
 * committed entries to the state machine, and the read-only accessors.
 *
 * Durability. The core keeps the persistence requests that change the log
 * and are not yet reported done. After the requests up to seq are done the
 * disk holds the log as it was when that request was issued, up to its
 * last index (disk_last). A pending request rewrites everything from its
 * `first` on, so an entry is durable for good only below every pending
 * request's first: durable = min(disk_last, min(first) - 1, last). Checking
 * (index, term) of the completed request instead would be fooled when a
 * later request rewrites the same (index, term) after a truncation. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

uint64_t
r_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t
r_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void
raft_options_default(struct raft_options *o)
{
	memset(o, 0, sizeof(*o));
	o->election_timeout_ms = 1000;
	o->heartbeat_ms = 100;
	o->commit_timeout_ms = 50;
	o->lease_ms = 0;
	o->prevote = true;
	o->check_quorum = true;
	o->max_inflight = 32;
	o->max_batch_entries = 512;
	o->max_batch_bytes = 1 << 20;
	o->max_entry_bytes = 16 << 20;
	o->max_msg_entries = 1 << 16;
	o->max_uncommitted = 1 << 14;
	o->snapshot_threshold = 8192;
	o->snapshot_trailing = 1024;
}

static int
options_check(struct raft_options *o)
{
	if (o->heartbeat_ms == 0 ||
	    o->election_timeout_ms < 2 * o->heartbeat_ms)
		return -LE_INVAL;
	if (o->lease_ms == 0)
		o->lease_ms = o->election_timeout_ms / 10 * 9;
	if (o->lease_ms >= o->election_timeout_ms)
		return -LE_INVAL;
	if (o->max_inflight == 0 || o->max_inflight > RAFT_INFLIGHT_MAX)
		return -LE_INVAL;
	if (o->max_batch_entries == 0 || o->max_batch_bytes == 0 ||
	    o->max_msg_entries == 0)
		return -LE_INVAL;
	return 0;
}

int
raft_new(uint64_t id, const struct raft_options *o, const struct raft_ops *ops,
    void *ctx, struct raft **out)
{
	struct raft *r;
	struct raft_options opt;

	*out = NULL;
	if (id == 0 || ops == NULL || ops->now == NULL || ops->rand == NULL ||
	    ops->send == NULL || ops->persist_state == NULL ||
	    ops->persist_entries == NULL || ops->persist_snapshot == NULL ||
	    ops->apply == NULL || ops->restore == NULL)
		return -LE_INVAL;
	if (o != NULL)
		opt = *o;
	else
		raft_options_default(&opt);
	if (options_check(&opt) != 0)
		return -LE_INVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -LE_NOMEM;
	r->id = id;
	r->opt = opt;
	r->ops = *ops;
	r->ctx = ctx;
	rlog_init(&r->log);
	confs_init(&r->confs);
	if (prog_alloc(r) != 0) {
		free(r);
		return -LE_NOMEM;
	}
	*out = r;
	return 0;
}

void
raft_free(struct raft *r)
{
	if (r == NULL)
		return;
	rlog_free(&r->log);
	confs_free(&r->confs);
	free(r->pw);
	free(r->prs);
	free(r->reads);
	free(r->snap_buf);
	free(r);
}

static int
boot_check(const struct raft_boot *b, uint64_t *first_out)
{
	const struct raft_snapshot *s = b->snap;
	uint64_t base = 0, base_term = 0, prev_term;
	struct raft_config c;
	size_t i;

	if (b->term >= RAFT_LIMIT || b->applied >= RAFT_LIMIT)
		return -LE_CORRUPT;
	if (s != NULL) {
		if (s->index == 0 || s->index >= RAFT_LIMIT || s->term == 0 ||
		    s->term > b->term || raft_config_check(&s->conf) != 0 ||
		    (s->len > 0 && s->data == NULL))
			return -LE_CORRUPT;
		base = s->index;
		base_term = s->term;
	}
	if (b->n_entries > 0 && b->entries == NULL)
		return -LE_CORRUPT;
	/* Skip what the snapshot covers; the rest must continue it. */
	for (i = 0; i < b->n_entries && b->entries[i].index <= base; i++)
		;
	*first_out = i;
	prev_term = base_term;
	for (; i < b->n_entries; i++) {
		const struct raft_entry *e = &b->entries[i];

		if (e->index != base + 1 + (i - *first_out) || e->term == 0 ||
		    e->term < prev_term || e->term > b->term ||
		    (e->len > 0 && e->data == NULL))
			return -LE_CORRUPT;
		if (e->type == RAFT_ENTRY_CONFIG &&
		    raft_config_decode(e->data, e->len, &c) != 0)
			return -LE_CORRUPT;
		if (e->type != RAFT_ENTRY_NORMAL &&
		    e->type != RAFT_ENTRY_CONFIG && e->type != RAFT_ENTRY_NOOP)
			return -LE_CORRUPT;
		prev_term = e->term;
	}
	/* The state machine only ever saw durable committed entries. */
	if (b->applied > base + (b->n_entries - *first_out))
		return -LE_CORRUPT;
	return 0;
}

int
raft_start(struct raft *r, const struct raft_boot *b)
{
	const struct raft_snapshot *s = b->snap;
	uint64_t first;
	int rc;

	if (r->started || r->busy)
		return -LE_STATE;
	if ((rc = boot_check(b, &first)) != 0)
		return rc;
	r->busy = true;
	r->now = r->ops.now(r->ctx);
	r->term = b->term;
	r->vote = b->vote;
	if (s != NULL) {
		if (s->len > 0) {
			if ((r->snap_buf = malloc(s->len)) == NULL) {
				r->busy = false;
				return -LE_NOMEM;
			}
			memcpy(r->snap_buf, s->data, s->len);
		}
		r->snap = *s;
		r->snap.data = r->snap_buf;
		rlog_reset(&r->log, s->index, s->term);
		if (confs_reserve(&r->confs, 1) != 0)
			goto nomem;
		confs_push(&r->confs, s->index, &s->conf);
	}
	if ((rc = r_append(r, b->entries + first, b->n_entries - first,
	    rlog_last(&r->log) + 1, 0)) != 0)
		goto nomem;
	r->disk_last = r->durable = rlog_last(&r->log);
	r->commit = r_max(r->snap.index, b->applied);
	r->verified = r->commit;
	r->applied = b->applied;
	r->applying = b->applied;
	r->state = RAFT_FOLLOWER;
	r->seen_state = RAFT_FOLLOWER;
	r->seen_term = r->term;
	r->seen_vote = r->vote;
	/* We may have acknowledged a leader just before a restart: keep out of
	 * elections for one timeout so its lease stays sound. */
	r->sticky_until = r->now + r->opt.election_timeout_ms;
	elect_reset_timer(r);
	r->started = true;
	if (r->applying < r->snap.index) {
		r->applying = r->snap.index;
		r->ops.restore(r->ctx, &r->snap);
	}
	return r_api_exit(r, 0);
nomem:
	rlog_reset(&r->log, 0, 0);
	confs_free(&r->confs);
	free(r->snap_buf);
	r->snap_buf = NULL;
	memset(&r->snap, 0, sizeof(r->snap));
	r->busy = false;
	return -LE_NOMEM;
}

int
raft_bootstrap(struct raft *r, const struct raft_config *conf)
{
	struct raft_entry e;
	uint8_t buf[2 + RAFT_MAX_SERVERS * (10 + RAFT_ADDR_MAX)];
	int rc;

	if (raft_config_check(conf) != 0 ||
	    !raft_config_is_voter(conf, r->id))
		return -LE_INVAL;
	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if (rlog_last(&r->log) != 0 || r->term != 0 || r->confs.n != 0)
		return r_api_exit(r, -LE_EXISTS);
	memset(&e, 0, sizeof(e));
	e.type = RAFT_ENTRY_CONFIG;
	e.len = raft_config_encode(conf, buf, sizeof(buf));
	e.data = buf;
	if ((rc = r_pw_reserve(r)) != 0 || (rc = r_append(r, &e, 1, 1, 1)) != 0)
		return r_api_exit(r, rc);
	elect_term_update(r, 1, 0);
	r_persist_log(r, 1, 1);
	return r_api_exit(r, 0);
}

/* ---- guard, notification ---- */

int
r_api_enter(struct raft *r)
{
	if (r->busy || !r->started)
		return -LE_STATE;
	r->busy = true;
	/* A clock that steps back must not stretch leases or timers. */
	r->now = r_max(r->now, r->ops.now(r->ctx));
	return 0;
}

int
r_api_exit(struct raft *r, int rc)
{
	struct raft_status st;

	r_maybe_apply(r);
	snap_maybe_request(r);
	read_check(r);
	if (r->ops.changed != NULL && (r->state != r->seen_state ||
	    r->term != r->seen_term || r->vote != r->seen_vote ||
	    r->leader != r->seen_leader)) {
		r->seen_state = r->state;
		r->seen_term = r->term;
		r->seen_vote = r->vote;
		r->seen_leader = r->leader;
		raft_status(r, &st);
		r->ops.changed(r->ctx, &st);
	}
	r->busy = false;
	return rc;
}

/* m->term: 0 means ours (pre-votes carry a future term). */
void
r_send(struct raft *r, struct raft_msg *m)
{
	m->from = r->id;
	if (m->term == 0)
		m->term = r->term;
	r->stats.msgs_out++;
	r->ops.send(r->ctx, m);
}

/* ---- persistence ---- */

void
r_persist_state(struct raft *r)
{
	r->state_seq = ++r->seq_last;
	r->ops.persist_state(r->ctx, r->state_seq, r->term, r->vote);
}

bool
r_term_durable(const struct raft *r)
{
	return r->seq_done >= r->state_seq;
}

int
r_pw_reserve(struct raft *r)
{
	struct pending_write *nv;
	size_t ncap;

	if (r->pw_head > 0 && r->pw_head + r->pw_n == r->pw_cap) {
		memmove(r->pw, r->pw + r->pw_head, r->pw_n * sizeof(*r->pw));
		r->pw_head = 0;
	}
	if (r->pw_head + r->pw_n < r->pw_cap)
		return 0;
	ncap = r->pw_cap ? r->pw_cap * 2 : 16;
	if ((nv = realloc(r->pw, ncap * sizeof(*nv))) == NULL)
		return -LE_NOMEM;
	r->pw = nv;
	r->pw_cap = ncap;
	return 0;
}

static void
durable_update(struct raft *r)
{
	uint64_t d = r_min(r->disk_last, rlog_last(&r->log));

	for (size_t i = 0; i < r->pw_n; i++)
		d = r_min(d, r->pw[r->pw_head + i].first - 1);
	r->durable = d;
}

/* The caller reserved room (r_pw_reserve) before changing anything. */
void
r_pw_push(struct raft *r, uint64_t seq, uint64_t first, uint64_t last)
{
	struct pending_write *w;

	if (r->pw_head + r->pw_n >= r->pw_cap && r_pw_reserve(r) != 0)
		return;
	w = &r->pw[r->pw_head + r->pw_n++];
	w->seq = seq;
	w->first = first;
	w->last = last;
	durable_update(r);
}

/* Entries first..last are in the window: ask for them to be written. */
void
r_persist_log(struct raft *r, uint64_t first, uint64_t last)
{
	uint64_t seq = ++r->seq_last;

	r_pw_push(r, seq, first, last);
	r->ops.persist_entries(r->ctx, seq, first, rlog_get(&r->log, first),
	    (size_t)(last - first + 1));
}

int
raft_persisted(struct raft *r, uint64_t seq)
{
	int rc;

	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if (seq > r->seq_last)
		return r_api_exit(r, -LE_RANGE);
	if (seq <= r->seq_done)
		return r_api_exit(r, 0);
	r->seq_done = seq;
	while (r->pw_n > 0 && r->pw[r->pw_head].seq <= seq) {
		r->disk_last = r->pw[r->pw_head].last;
		r->pw_head++;
		r->pw_n--;
	}
	if (r->pw_n == 0)
		r->pw_head = 0;
	durable_update(r);
	snap_after_persist(r);
	switch (r->state) {
	case RAFT_CANDIDATE:
		elect_tally(r);
		break;
	case RAFT_FOLLOWER:
		elect_grant_flush(r);
		repl_follower_ack(r);
		break;
	case RAFT_LEADER:
		repl_maybe_commit(r);
		break;
	}
	return r_api_exit(r, 0);
}

/* ---- the log, with the configuration history kept in step ---- */

int
r_append(struct raft *r, const struct raft_entry *e, size_t n, uint64_t first,
    uint64_t term)
{
	struct raft_config c;
	size_t i, nconf = 0;
	int rc;

	for (i = 0; i < n; i++)
		nconf += e[i].type == RAFT_ENTRY_CONFIG;
	if (confs_reserve(&r->confs, nconf) != 0)
		return -LE_NOMEM;
	if ((rc = rlog_append(&r->log, e, n, first, term)) != 0)
		return rc;
	for (i = 0; i < n && nconf > 0; i++) {
		/* Callers validated configuration entries already. */
		if (e[i].type == RAFT_ENTRY_CONFIG &&
		    raft_config_decode(e[i].data, e[i].len, &c) == 0)
			confs_push(&r->confs, first + i, &c);
	}
	if (nconf > 0 && r->state == RAFT_LEADER)
		prog_sync(r);
	return 0;
}

void
r_truncate(struct raft *r, uint64_t from)
{
	rlog_truncate(&r->log, from);
	confs_truncate(&r->confs, from);
	if (r->verified >= from)
		r->verified = from - 1;
	durable_update(r);
}

/* ---- applying ---- */

void
r_maybe_apply(struct raft *r)
{
	uint64_t upto, first, last;
	const struct raft_entry *e;

	if (r->restore_pending)
		return;
	upto = r_min(r->commit, r->durable);
	while (r->applying < upto) {
		first = r->applying + 1;
		last = r_min(upto, first + r->opt.max_batch_entries - 1);
		if ((e = rlog_get(&r->log, first)) == NULL ||
		    rlog_get(&r->log, last) == NULL)
			return;	/* cannot be: compaction stays <= applying */
		r->applying = last;
		r->ops.apply(r->ctx, e, (size_t)(last - first + 1));
	}
}

int
raft_applied(struct raft *r, uint64_t idx)
{
	int rc;

	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if (idx > r->applying)
		return r_api_exit(r, -LE_RANGE);
	if (idx > r->applied)
		r->applied = idx;
	return r_api_exit(r, 0);
}

void
r_commit_to(struct raft *r, uint64_t idx)
{
	uint64_t old = r->commit, i;
	const struct raft_entry *e;

	if (idx <= old)
		return;
	r->commit = idx;
	if (r->verified < idx)
		r->verified = idx;
	if (r->state == RAFT_LEADER && r->ops.result != NULL) {
		/* Only this leader creates entries of its term. */
		for (i = old + 1; i <= idx; i++)
			if ((e = rlog_get(&r->log, i)) != NULL &&
			    e->term == r->term)
				r->ops.result(r->ctx, i, e->term, e->type, 0);
	}
	memb_after_commit(r);
}

/* ---- driving ---- */

int
raft_tick(struct raft *r)
{
	int rc;

	if ((rc = r_api_enter(r)) != 0)
		return rc;
	elect_tick(r);
	if (r->state == RAFT_LEADER) {
		if (r->now >= r->hb_at)
			repl_heartbeat_tick(r);
		repl_commit_tick(r);
		read_tick(r);
	}
	rlog_reap(&r->log, RAFT_REAP_PER_TICK);
	return r_api_exit(r, 0);
}

static bool
entries_ok(const struct raft *r, const struct raft_msg *m)
{
	const struct raft_append *a = &m->u.append;
	uint64_t prev_term = a->prev_term;
	struct raft_config c;

	if (a->n > r->opt.max_msg_entries || (a->n > 0 && a->entries == NULL))
		return false;
	if (a->prev_index >= RAFT_LIMIT - a->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct raft_entry *e = &a->entries[i];

		if (e->index != a->prev_index + 1 + i || e->term < prev_term ||
		    e->term > m->term || e->term == 0 ||
		    e->len > r->opt.max_entry_bytes ||
		    (e->len > 0 && e->data == NULL))
			return false;
		switch (e->type) {
		case RAFT_ENTRY_NORMAL:
		case RAFT_ENTRY_NOOP:
			break;
		case RAFT_ENTRY_CONFIG:
			if (raft_config_decode(e->data, e->len, &c) != 0)
				return false;
			break;
		default:
			return false;
		}
		prev_term = e->term;
	}
	return true;
}

/* What can be checked without state: ranges, shapes, addressing. */
static bool
msg_ok(const struct raft *r, const struct raft_msg *m)
{
	const struct raft_append *a = &m->u.append;
	const struct raft_append_resp *ar = &m->u.append_resp;
	const struct raft_snapshot *s = &m->u.snapshot.snap;

	if (m->to != r->id || m->from == 0 || m->from == r->id ||
	    m->term >= RAFT_LIMIT)
		return false;
	switch (m->type) {
	case RAFT_MSG_VOTE:
	case RAFT_MSG_PREVOTE:
		return m->term > 0 && m->u.vote.last_index < RAFT_LIMIT &&
		    m->u.vote.last_term <= m->term;
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_PREVOTE_RESP:
	case RAFT_MSG_TIMEOUT_NOW:
		return m->term > 0;
	case RAFT_MSG_APPEND:
		if (m->term == 0 || a->prev_index >= RAFT_LIMIT ||
		    a->prev_term > m->term || a->commit >= RAFT_LIMIT ||
		    a->round >= RAFT_LIMIT ||
		    (a->prev_index == 0 && a->prev_term != 0))
			return false;
		return entries_ok(r, m);
	case RAFT_MSG_APPEND_RESP:
	case RAFT_MSG_SNAPSHOT_RESP:
		return m->term > 0 && ar->index < RAFT_LIMIT &&
		    ar->match < RAFT_LIMIT && ar->hint_index < RAFT_LIMIT &&
		    ar->hint_term < RAFT_LIMIT && ar->round < RAFT_LIMIT;
	case RAFT_MSG_SNAPSHOT:
		return m->term > 0 && s->index > 0 && s->index < RAFT_LIMIT &&
		    s->term > 0 && s->term <= m->term &&
		    raft_config_check(&s->conf) == 0 &&
		    (s->len == 0 || s->data != NULL) &&
		    m->u.snapshot.round < RAFT_LIMIT;
	default:
		return false;
	}
}

static void
reply_stale(struct raft *r, const struct raft_msg *m)
{
	struct raft_msg out;

	memset(&out, 0, sizeof(out));
	out.to = m->from;
	if (m->type == RAFT_MSG_PREVOTE) {
		out.type = RAFT_MSG_PREVOTE_RESP;
	} else if (m->type == RAFT_MSG_VOTE) {
		/* The candidate must learn our term: otherwise a voter it
		 * needs can stay ahead of it for ever. */
		out.type = RAFT_MSG_VOTE_RESP;
	} else {
		/* Tells a deposed leader about the newer term. */
		out.type = RAFT_MSG_APPEND_RESP;
		out.u.append_resp.index = m->type == RAFT_MSG_APPEND ?
		    m->u.append.prev_index : 0;
	}
	r_send(r, &out);
}

int
raft_step(struct raft *r, const struct raft_msg *m)
{
	int rc;

	if (m == NULL)
		return -LE_INVAL;
	if ((rc = r_api_enter(r)) != 0)
		return rc;
	r->stats.msgs_in++;
	if (!msg_ok(r, m)) {
		r->stats.msgs_bad++;
		return r_api_exit(r, -LE_MALFORMED);
	}
	if (m->term > r->term) {
		if (m->type == RAFT_MSG_VOTE && !m->u.vote.transfer &&
		    (r->state == RAFT_LEADER || r->now < r->sticky_until)) {
			/* A leader is alive (or may be, just after a restart):
			 * do not let a disruptive candidate raise our term. */
			r->stats.msgs_stale++;
			return r_api_exit(r, 0);
		}
		if (m->type == RAFT_MSG_PREVOTE ||
		    (m->type == RAFT_MSG_PREVOTE_RESP &&
		    m->u.vote_resp.granted)) {
			/* Pre-votes live in the future term; ours stays. */
		} else if (m->type == RAFT_MSG_APPEND ||
		    m->type == RAFT_MSG_SNAPSHOT ||
		    m->type == RAFT_MSG_TIMEOUT_NOW) {
			/* Only a leader sends these. */
			elect_become_follower(r, m->term, m->from);
		} else {
			elect_become_follower(r, m->term, 0);
		}
	} else if (m->term < r->term) {
		r->stats.msgs_stale++;
		if (m->type == RAFT_MSG_APPEND ||
		    m->type == RAFT_MSG_SNAPSHOT ||
		    m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE)
			reply_stale(r, m);
		return r_api_exit(r, 0);
	}
	switch (m->type) {
	case RAFT_MSG_VOTE:
	case RAFT_MSG_PREVOTE:
		elect_handle_vote(r, m);
		break;
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_PREVOTE_RESP:
		elect_handle_vote_resp(r, m);
		break;
	case RAFT_MSG_APPEND:
		repl_handle_append(r, m);
		break;
	case RAFT_MSG_APPEND_RESP:
	case RAFT_MSG_SNAPSHOT_RESP:
		repl_handle_append_resp(r, m);
		break;
	case RAFT_MSG_SNAPSHOT:
		snap_handle(r, m);
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		elect_handle_timeout_now(r, m);
		break;
	}
	return r_api_exit(r, 0);
}

/* ---- accessors ---- */

void
raft_status(const struct raft *r, struct raft_status *st)
{
	memset(st, 0, sizeof(*st));
	st->id = r->id;
	st->state = r->state;
	st->voter = r_is_voter(r, r->id);
	st->term = r->term;
	st->vote = r->vote;
	st->leader = r->leader;
	st->commit = r->commit;
	st->applied = r->applied;
	st->last_index = rlog_last(&r->log);
	st->last_term = rlog_last_term(&r->log);
	st->durable_index = r->durable;
	st->snapshot_index = r->snap.index;
	if (r->state == RAFT_LEADER)
		st->last_contact_ms = 0;
	else if (r->leader != 0 && r->heard_at != 0)
		st->last_contact_ms = r->now - r->heard_at;
	else
		st->last_contact_ms = UINT64_MAX;
}

int
raft_log_term(const struct raft *r, uint64_t idx, uint64_t *term)
{
	return rlog_term(&r->log, idx, term) ? 0 : -LE_NOTFOUND;
}

const struct raft_entry *
raft_log_entry(const struct raft *r, uint64_t idx)
{
	return rlog_get(&r->log, idx);
}

const struct raft_stats *
raft_stats(const struct raft *r)
{
	return &r->stats;
}

const char *
raft_state_name(uint8_t state)
{
	switch (state) {
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_PRECANDIDATE:
		return "precandidate";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_LEADER:
		return "leader";
	default:
		return "unknown";
	}
}
