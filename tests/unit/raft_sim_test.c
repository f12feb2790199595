/* raft_sim_test.c: the Raft core (raftd/core) under test.
 *
 * Three kinds of test:
 *  - contract tests on one instance with every output captured: a vote
 *    leaves only after it is durable, a candidate counts its own vote only
 *    once durable, a follower acknowledges entries (and the term it took
 *    them in) only once durable, a leader counts its own log only as far
 *    as it is durable, a restarted server stays out of elections
 *    for a timeout, previous-term entries never commit by counting, stale
 *    AppendEntries never truncate, configurations take effect on append,
 *    rejects cannot drive next_index below 1, garbage is counted and
 *    dropped;
 *  - scenarios in the simulator (raft_sim.c): elections, pre-vote,
 *    check-quorum, divergence repair, leader completeness after crashes,
 *    snapshot installation, membership changes, leadership transfer,
 *    read-index in a minority, proposals on a deposed leader;
 *  - chaos seeds: RAFT_SIM_SEEDS (default 800) seeds each of 3- and 5-server
 *    clusters with one spare server, RAFT_SIM_MS (default 20000) simulated
 *    milliseconds of chaos each. RAFT_SIM_SEED=<n> replays one seed
 *    (RAFT_SIM_VERBOSE=1 prints every event); RAFT_SIM_FIRST=<n> runs only
 *    the seeds, from n (scripts/raft-soak.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft.h"
#include "raft_sim.h"

/* ---- a single instance with its outputs captured ---- */

#define CAP_MSGS 256

struct cap {
	struct raft *r;
	uint64_t now;
	uint64_t rnd;
	struct raft_msg msgs[CAP_MSGS];	/* entries/data pointers cleared */
	size_t nmsgs;
	uint64_t last_seq;
	uint64_t state_seq;
	uint64_t state_term;
	uint64_t state_vote;
	uint64_t entries_seq;
	uint64_t applied_to;
	uint64_t results_ok;
	uint64_t results_lost;
	uint64_t last_result_idx;
	int nreads_done;
	int read_status;
	uint64_t read_idx;
};

static uint64_t c_now(void *ctx) { return ((struct cap *)ctx)->now; }

static uint64_t
c_rand(void *ctx)
{
	struct cap *c = ctx;

	c->rnd = c->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
	return c->rnd >> 11;
}

static void
c_send(void *ctx, const struct raft_msg *m)
{
	struct cap *c = ctx;

	if (c->nmsgs < CAP_MSGS) {
		c->msgs[c->nmsgs] = *m;
		c->msgs[c->nmsgs].u.append.entries = NULL;
		c->nmsgs++;
	}
}

static void
c_pstate(void *ctx, uint64_t seq, uint64_t term, uint64_t vote)
{
	struct cap *c = ctx;

	c->last_seq = c->state_seq = seq;
	c->state_term = term;
	c->state_vote = vote;
}

static void
c_pentries(void *ctx, uint64_t seq, uint64_t first, const struct raft_entry *e,
    size_t n)
{
	struct cap *c = ctx;

	c->last_seq = c->entries_seq = seq;
}

static void
c_psnap(void *ctx, uint64_t seq, const struct raft_snapshot *s)
{
	((struct cap *)ctx)->last_seq = seq;
}

static void
c_apply(void *ctx, const struct raft_entry *e, size_t n)
{
	((struct cap *)ctx)->applied_to = e[n - 1].index;
}

static void c_restore(void *ctx, const struct raft_snapshot *s) { }

static void
c_result(void *ctx, uint64_t idx, uint64_t term, uint8_t type, int status)
{
	struct cap *c = ctx;

	if (status == 0)
		c->results_ok++;
	else
		c->results_lost++;
	c->last_result_idx = idx;
}

static void
c_read(void *ctx, uint64_t id, uint64_t idx, int status)
{
	struct cap *c = ctx;

	c->nreads_done++;
	c->read_status = status;
	c->read_idx = idx;
}

static const struct raft_ops cap_ops = {
	.now = c_now, .rand = c_rand, .send = c_send,
	.persist_state = c_pstate, .persist_entries = c_pentries,
	.persist_snapshot = c_psnap, .apply = c_apply, .restore = c_restore,
	.result = c_result, .read_done = c_read,
};

static void
conf3(struct raft_config *c, int voters)
{
	memset(c, 0, sizeof(*c));
	c->n = 3;
	for (uint32_t i = 0; i < 3; i++) {
		c->servers[i].id = i + 1;
		c->servers[i].role = (int)i < voters ? RAFT_VOTER :
		    RAFT_NONVOTER;
		snprintf(c->servers[i].addr, sizeof(c->servers[i].addr),
		    "10.0.0.%u:8300", i + 1);
	}
}

/* Server 1 booted from disk: term, a log of `terms` (index 1 is the
 * configuration with voters 1..voters), all durable. */
static struct cap *
cap_boot(uint64_t term, const uint64_t *terms, size_t n, int voters)
{
	struct cap *c = calloc(1, sizeof(*c));
	struct raft_options o;
	struct raft_config conf;
	struct raft_entry e[16];
	struct raft_boot b;
	uint8_t buf[512];

	assert_non_null(c);
	c->now = 10000;
	c->rnd = 42;
	raft_options_default(&o);
	o.election_timeout_ms = 300;
	o.heartbeat_ms = 50;
	o.commit_timeout_ms = 20;
	assert_int_equal(raft_new(1, &o, &cap_ops, c, &c->r), 0);
	conf3(&conf, voters);
	memset(e, 0, sizeof(e));
	for (size_t i = 0; i < n; i++) {
		e[i].index = i + 1;
		e[i].term = terms[i];
		e[i].type = RAFT_ENTRY_NORMAL;
		e[i].data = "x";
		e[i].len = 1;
	}
	e[0].type = RAFT_ENTRY_CONFIG;
	e[0].len = raft_config_encode(&conf, buf, sizeof(buf));
	e[0].data = buf;
	memset(&b, 0, sizeof(b));
	b.term = term;
	b.entries = e;
	b.n_entries = n;
	assert_int_equal(raft_start(c->r, &b), 0);
	return c;
}

static void
cap_free(struct cap *c)
{
	raft_free(c->r);
	free(c);
}

static const struct raft_msg *
cap_find(struct cap *c, uint8_t type, size_t from)
{
	for (size_t i = from; i < c->nmsgs; i++)
		if (c->msgs[i].type == type)
			return &c->msgs[i];
	return NULL;
}

static struct raft_msg
mk(uint8_t type, uint64_t from, uint64_t term)
{
	struct raft_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = from;
	m.to = 1;
	m.term = term;
	return m;
}

static struct raft_msg
mk_vote(uint64_t from, uint64_t term, uint64_t li, uint64_t lt)
{
	struct raft_msg m = mk(RAFT_MSG_VOTE, from, term);

	m.u.vote.last_index = li;
	m.u.vote.last_term = lt;
	return m;
}

/* ---- contract tests ---- */

static void
test_vote_waits_for_disk(void **state)
{
	uint64_t terms[] = { 1 };
	struct cap *c = cap_boot(1, terms, 1, 3);
	struct raft_msg m = mk_vote(2, 2, 1, 1);
	const struct raft_msg *out;

	c->now += 1000;			/* past the boot stickiness */
	assert_int_equal(raft_step(c->r, &m), 0);
	assert_int_equal(c->state_term, 2);
	assert_int_equal(c->state_vote, 2);
	assert_null(cap_find(c, RAFT_MSG_VOTE_RESP, 0));
	assert_int_equal(raft_persisted(c->r, c->state_seq), 0);
	out = cap_find(c, RAFT_MSG_VOTE_RESP, 0);
	assert_non_null(out);
	assert_true(out->u.vote_resp.granted);
	assert_int_equal(out->to, 2);
	/* Another candidate of the same term is refused. */
	c->nmsgs = 0;
	m = mk_vote(3, 2, 1, 1);
	assert_int_equal(raft_step(c->r, &m), 0);
	out = cap_find(c, RAFT_MSG_VOTE_RESP, 0);
	assert_non_null(out);
	assert_false(out->u.vote_resp.granted);
	/* A candidate behind our term is told the term, or it could keep
	 * asking with stale terms for ever. */
	c->nmsgs = 0;
	m = mk_vote(3, 1, 5, 1);
	assert_int_equal(raft_step(c->r, &m), 0);
	out = cap_find(c, RAFT_MSG_VOTE_RESP, 0);
	assert_non_null(out);
	assert_false(out->u.vote_resp.granted);
	assert_int_equal(out->term, 2);
	cap_free(c);
}

static void
test_restart_is_sticky(void **state)
{
	uint64_t terms[] = { 1 };
	struct cap *c = cap_boot(1, terms, 1, 3);
	struct raft_msg m = mk_vote(2, 2, 1, 1);
	struct raft_status st;

	/* We may have acknowledged a leader just before the restart: its
	 * lease must not be broken by our vote. */
	c->now += 100;
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.term, 1);
	assert_int_equal(c->nmsgs, 0);
	/* A transfer's vote is not held back. */
	m.u.vote.transfer = true;
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.term, 2);
	cap_free(c);
}

static void
test_candidate_waits_for_own_vote(void **state)
{
	uint64_t terms[] = { 1 };
	struct cap *c = cap_boot(1, terms, 1, 1);	/* single voter */
	struct raft_status st;
	uint64_t idx;

	c->now += 1000;
	assert_int_equal(raft_tick(c->r), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.state, RAFT_CANDIDATE);
	assert_int_equal(st.term, 2);
	assert_int_equal(raft_propose(c->r, RAFT_ENTRY_NORMAL, "a", 1, &idx,
	    NULL), -RAFT_E_NOTLEADER);
	assert_int_equal(raft_persisted(c->r, c->state_seq), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.state, RAFT_LEADER);
	/* A single server commits on its own persistence, not before. */
	assert_int_equal(st.last_index, 2);		/* the no-op */
	assert_int_equal(st.commit, 0);
	assert_int_equal(raft_propose(c->r, RAFT_ENTRY_NORMAL, "a", 1, &idx,
	    NULL), 0);
	assert_int_equal(idx, 3);
	raft_status(c->r, &st);
	assert_int_equal(st.commit, 0);
	assert_int_equal(c->results_ok, 0);
	assert_int_equal(raft_persisted(c->r, c->last_seq), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.commit, 3);
	assert_int_equal(c->results_ok, 2);		/* no-op and ours */
	assert_int_equal(c->applied_to, 3);
	/* Reads: confirmed at once with one voter. */
	assert_int_equal(raft_read_index(c->r, 7), 0);
	assert_int_equal(c->nreads_done, 1);
	assert_int_equal(c->read_status, 0);
	assert_int_equal(c->read_idx, 3);
	assert_int_equal(raft_lease_read(c->r, &idx), 0);
	assert_int_equal(idx, 3);
	cap_free(c);
}

static struct raft_msg
mk_append(uint64_t from, uint64_t term, uint64_t prev, uint64_t prev_term,
    const struct raft_entry *e, size_t n, uint64_t commit)
{
	struct raft_msg m = mk(RAFT_MSG_APPEND, from, term);

	m.u.append.prev_index = prev;
	m.u.append.prev_term = prev_term;
	m.u.append.entries = e;
	m.u.append.n = n;
	m.u.append.commit = commit;
	return m;
}

static uint64_t
max_acked(struct cap *c, size_t from)
{
	uint64_t best = 0;

	for (size_t i = from; i < c->nmsgs; i++)
		if (c->msgs[i].type == RAFT_MSG_APPEND_RESP &&
		    c->msgs[i].u.append_resp.success &&
		    c->msgs[i].u.append_resp.match > best)
			best = c->msgs[i].u.append_resp.match;
	return best;
}

static void
test_follower_acks_durable_only(void **state)
{
	uint64_t terms[] = { 1 };
	struct cap *c = cap_boot(1, terms, 1, 3);
	struct raft_entry e[3];
	struct raft_msg m;
	uint64_t term_seq;

	memset(e, 0, sizeof(e));
	for (int i = 0; i < 3; i++) {
		e[i].index = 2 + (uint64_t)i;
		e[i].term = 2;
		e[i].type = RAFT_ENTRY_NORMAL;
	}
	m = mk_append(2, 2, 1, 1, e, 3, 0);
	assert_int_equal(raft_step(c->r, &m), 0);
	term_seq = c->state_seq;
	assert_true(c->entries_seq > term_seq);
	assert_true(max_acked(c, 0) < 2);
	/* The term alone is not enough. */
	assert_int_equal(raft_persisted(c->r, term_seq), 0);
	assert_true(max_acked(c, 0) < 2);
	assert_int_equal(raft_persisted(c->r, c->entries_seq), 0);
	assert_int_equal(max_acked(c, 0), 4);

	/* A new leader (term 3): the entries are durable, the term is not.
	 * Acknowledging now would let a stale term-2 leader overwrite them
	 * after a crash that loses term 3. */
	c->nmsgs = 0;
	m = mk_append(3, 3, 4, 2, NULL, 0, 0);
	assert_int_equal(raft_step(c->r, &m), 0);
	assert_non_null(cap_find(c, RAFT_MSG_APPEND_RESP, 0));
	assert_int_equal(max_acked(c, 0), 0);
	assert_int_equal(raft_persisted(c->r, c->state_seq), 0);
	assert_int_equal(max_acked(c, 0), 4);
	cap_free(c);
}

static void
test_stale_append_keeps_log(void **state)
{
	uint64_t terms[] = { 1, 2, 2, 2, 2 };
	struct cap *c = cap_boot(2, terms, 5, 3);
	struct raft_entry e[2];
	struct raft_msg m;
	struct raft_status st;

	memset(e, 0, sizeof(e));
	e[0].index = 3;
	e[0].term = 2;
	e[0].type = RAFT_ENTRY_NORMAL;
	e[1] = e[0];
	e[1].index = 4;
	/* A delayed duplicate of an old message, same leader and term. */
	m = mk_append(2, 2, 2, 2, e, 2, 0);
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.last_index, 5);
	cap_free(c);
}

static void
test_config_on_append(void **state)
{
	uint64_t terms[] = { 1 };
	struct cap *c = cap_boot(1, terms, 1, 3);
	struct raft_config conf, got;
	struct raft_entry e[2];
	struct raft_msg m;
	uint8_t buf[512];

	conf3(&conf, 3);
	conf.n = 2;			/* server 3 removed */
	memset(e, 0, sizeof(e));
	e[0].index = 2;
	e[0].term = 2;
	e[0].type = RAFT_ENTRY_CONFIG;
	e[0].len = raft_config_encode(&conf, buf, sizeof(buf));
	e[0].data = buf;
	m = mk_append(2, 2, 1, 1, e, 1, 1);
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_config_get(c->r, false, &got);
	assert_int_equal(got.n, 2);		/* in effect, uncommitted */
	raft_config_get(c->r, true, &got);
	assert_int_equal(got.n, 3);
	/* A new leader overwrites it: the old configuration is back. */
	e[0].term = 3;
	e[0].type = RAFT_ENTRY_NORMAL;
	e[0].len = 0;
	e[0].data = NULL;
	m = mk_append(3, 3, 1, 1, e, 1, 0);
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_config_get(c->r, false, &got);
	assert_int_equal(got.n, 3);
	cap_free(c);
}

/* Leader with an entry of term 2 it did not write, then its no-op. */
static struct cap *
leader_term3(void)
{
	uint64_t terms[] = { 1, 2 };
	struct cap *c = cap_boot(2, terms, 2, 3);
	struct raft_msg m;
	struct raft_status st;

	c->now += 1000;
	raft_tick(c->r);			/* pre-vote */
	m = mk(RAFT_MSG_PREVOTE_RESP, 2, 3);
	m.u.vote_resp.granted = true;
	assert_int_equal(raft_step(c->r, &m), 0);
	assert_int_equal(raft_persisted(c->r, c->state_seq), 0);
	m = mk(RAFT_MSG_VOTE_RESP, 2, 3);
	m.u.vote_resp.granted = true;
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.state, RAFT_LEADER);
	assert_int_equal(st.term, 3);
	assert_int_equal(st.last_index, 3);
	assert_int_equal(raft_persisted(c->r, c->last_seq), 0);
	return c;
}

static struct raft_msg
mk_ack(uint64_t from, uint64_t term, uint64_t match)
{
	struct raft_msg m = mk(RAFT_MSG_APPEND_RESP, from, term);

	m.u.append_resp.success = true;
	m.u.append_resp.index = match;
	m.u.append_resp.match = match;
	return m;
}

static void
test_previous_term_needs_current(void **state)
{
	struct cap *c = leader_term3();
	struct raft_msg m = mk_ack(2, 3, 2);
	struct raft_status st;

	/* Entry 2 (term 2) is now on a majority, but counting replicas of
	 * an older term's entry can commit what a later leader erases. */
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.commit, 0);
	m = mk_ack(2, 3, 3);
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.commit, 3);
	assert_int_equal(c->results_ok, 1);	/* only our no-op is ours */
	cap_free(c);
}

static void
test_leader_counts_own_durable(void **state)
{
	struct cap *c = leader_term3();
	struct raft_msg m;
	struct raft_status st;
	uint64_t idx;

	m = mk_ack(2, 3, 3);
	assert_int_equal(raft_step(c->r, &m), 0);
	assert_int_equal(raft_propose(c->r, RAFT_ENTRY_NORMAL, "p", 1, &idx,
	    NULL), 0);
	assert_int_equal(idx, 4);
	/* One follower holds it; our copy is still being written: that is
	 * one of three, not a majority. */
	m = mk_ack(2, 3, 4);
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.commit, 3);
	assert_int_equal(raft_persisted(c->r, c->last_seq), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.commit, 4);
	cap_free(c);
}

/* How many appends to `to` since message `from` carry a commit of at
 * least `commit`, anchored at or past `prev` (what the follower can use). */
static int
commit_msgs(struct cap *c, size_t from, uint64_t to, uint64_t commit,
    uint64_t prev)
{
	int n = 0;

	for (size_t i = from; i < c->nmsgs; i++)
		if (c->msgs[i].type == RAFT_MSG_APPEND && c->msgs[i].to == to &&
		    c->msgs[i].u.append.commit >= commit &&
		    c->msgs[i].u.append.prev_index +
		    c->msgs[i].u.append.n >= prev)
			n++;
	return n;
}

static void
test_commit_told(void **state)
{
	struct cap *c = leader_term3();
	struct raft_msg m;
	struct raft_status st;
	uint64_t idx;
	size_t mark = c->nmsgs;

	/* Followers with nothing more coming learn a commit
	 * commit_timeout_ms later, not at once (it cost the leader's client
	 * a wake-up of every follower per write). */
	m = mk_ack(2, 3, 3);
	assert_int_equal(raft_step(c->r, &m), 0);
	m = mk_ack(3, 3, 3);
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.commit, 3);
	assert_int_equal(commit_msgs(c, mark, 2, 3, 3), 0);
	assert_int_equal(commit_msgs(c, mark, 3, 3, 3), 0);
	c->now += 19;
	assert_int_equal(raft_tick(c->r), 0);
	assert_int_equal(commit_msgs(c, mark, 2, 3, 3), 0);
	c->now += 1;
	assert_int_equal(raft_tick(c->r), 0);
	assert_int_equal(commit_msgs(c, mark, 2, 3, 3), 1);
	assert_int_equal(commit_msgs(c, mark, 3, 3, 3), 1);

	/* Follower 2 forwarded entry 4 and waits on it; 3's ack commits it
	 * while 2's is still on its way: 2 is told the moment its ack shows
	 * it holds the entry (a heartbeat anchored before it would not tell
	 * it), 3 only later. */
	assert_int_equal(raft_propose(c->r, RAFT_ENTRY_NORMAL, "p", 1, &idx,
	    NULL), 0);
	assert_int_equal(idx, 4);
	assert_int_equal(raft_persisted(c->r, c->last_seq), 0);
	m = mk_ack(3, 3, 4);
	assert_int_equal(raft_step(c->r, &m), 0);
	raft_status(c->r, &st);
	assert_int_equal(st.commit, 4);
	mark = c->nmsgs;
	assert_int_equal(raft_tell_commit(c->r, 2, 4), 0);
	assert_int_equal(commit_msgs(c, mark, 2, 4, 4), 0);
	m = mk_ack(2, 3, 4);
	assert_int_equal(raft_step(c->r, &m), 0);
	assert_int_equal(commit_msgs(c, mark, 2, 4, 4), 1);
	assert_int_equal(commit_msgs(c, mark, 3, 4, 4), 0);
	/* Told already: asking again sends nothing. */
	mark = c->nmsgs;
	assert_int_equal(raft_tell_commit(c->r, 2, 4), 0);
	assert_int_equal(commit_msgs(c, mark, 2, 4, 4), 0);
	c->now += 20;
	assert_int_equal(raft_tick(c->r), 0);
	assert_int_equal(commit_msgs(c, mark, 3, 4, 4), 1);
	assert_int_equal(commit_msgs(c, mark, 2, 4, 4), 0);

	/* A follower that holds the entry already is told at once. */
	assert_int_equal(raft_propose(c->r, RAFT_ENTRY_NORMAL, "q", 1, &idx,
	    NULL), 0);
	assert_int_equal(raft_persisted(c->r, c->last_seq), 0);
	m = mk_ack(2, 3, 5);
	assert_int_equal(raft_step(c->r, &m), 0);
	m = mk_ack(3, 3, 5);
	assert_int_equal(raft_step(c->r, &m), 0);
	mark = c->nmsgs;
	assert_int_equal(raft_tell_commit(c->r, 3, 5), 0);
	assert_int_equal(commit_msgs(c, mark, 3, 5, 5), 1);
	assert_int_equal(commit_msgs(c, mark, 2, 5, 5), 0);
	/* Not the leader's to tell: an unknown server, or ourselves. */
	assert_int_equal(raft_tell_commit(c->r, 9, 5), 0);
	assert_int_equal(raft_tell_commit(c->r, 1, 5), 0);
	cap_free(c);
}

static void
test_reject_floor(void **state)
{
	struct cap *c = leader_term3();
	struct raft_msg m;
	size_t i, before;

	/* Garbage hints and indexes never push next below 1. */
	for (i = 0; i < 4; i++) {
		m = mk(RAFT_MSG_APPEND_RESP, 3, 3);
		m.u.append_resp.index = 3 - i;
		m.u.append_resp.hint_index = i == 0 ? 1000 : 0;
		m.u.append_resp.hint_term = i;
		before = c->nmsgs;
		assert_int_equal(raft_step(c->r, &m), 0);
		for (size_t k = before; k < c->nmsgs; k++)
			if (c->msgs[k].type == RAFT_MSG_APPEND &&
			    c->msgs[k].to == 3)
				assert_true(c->msgs[k].u.append.prev_index < 3);
	}
	m = mk_ack(3, 3, 3);
	assert_int_equal(raft_step(c->r, &m), 0);
	cap_free(c);
}

static void
test_garbage(void **state)
{
	uint64_t terms[] = { 1, 1, 1 };
	struct cap *c = cap_boot(1, terms, 3, 3);
	struct raft_entry e[4];
	struct raft_snapshot *sn;
	struct raft_msg m;
	uint64_t x = 12345, bad0;
	uint8_t junk[64];
	int rc;

	memset(junk, 0xa5, sizeof(junk));
	/* Hand-made bad messages. */
	m = mk_append(2, UINT64_MAX, 1, 1, NULL, 0, 0);
	assert_int_equal(raft_step(c->r, &m), -LE_MALFORMED);
	m = mk_append(2, 2, 1, 1, NULL, 3, 0);	/* n without entries */
	assert_int_equal(raft_step(c->r, &m), -LE_MALFORMED);
	memset(e, 0, sizeof(e));
	e[0].index = 2;
	e[0].term = 2;
	e[0].type = RAFT_ENTRY_NORMAL;
	e[1] = e[0];
	e[1].index = 4;			/* not contiguous */
	m = mk_append(2, 2, 1, 1, e, 2, 0);
	assert_int_equal(raft_step(c->r, &m), -LE_MALFORMED);
	e[1].index = 3;
	e[1].term = 1;			/* terms going down */
	assert_int_equal(raft_step(c->r, &m), -LE_MALFORMED);
	e[1].term = 2;
	e[1].type = RAFT_ENTRY_CONFIG;	/* undecodable configuration */
	e[1].data = junk;
	e[1].len = sizeof(junk);
	assert_int_equal(raft_step(c->r, &m), -LE_MALFORMED);
	e[1].type = 77;
	assert_int_equal(raft_step(c->r, &m), -LE_MALFORMED);
	m = mk_append(1, 2, 1, 1, NULL, 0, 0);	/* from ourselves */
	assert_int_equal(raft_step(c->r, &m), -LE_MALFORMED);
	m = mk_append(2, 2, RAFT_LIMIT - 1, 1, e, 2, 0);
	assert_int_equal(raft_step(c->r, &m), -LE_MALFORMED);
	m = mk(RAFT_MSG_SNAPSHOT, 2, 2);
	sn = &m.u.snapshot.snap;
	sn->index = 10;
	sn->term = 2;
	sn->conf.n = RAFT_MAX_SERVERS + 1;
	assert_int_equal(raft_step(c->r, &m), -LE_MALFORMED);
	m = mk(99, 2, 2);
	assert_int_equal(raft_step(c->r, &m), -LE_MALFORMED);
	/* Random ones: counted and dropped, never a crash. */
	bad0 = raft_stats(c->r)->msgs_bad;
	for (int k = 0; k < 200000; k++) {
		uint8_t *p = (uint8_t *)&m;

		for (size_t j = 0; j < sizeof(m); j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[j] = (uint8_t)x;
		}
		m.type = (uint8_t)(x % 11);
		m.to = x % 3 ? 1 : x;
		m.from = 1 + (x >> 8) % 4;
		m.term = (x >> 16) % 8;
		switch (m.type) {
		case RAFT_MSG_APPEND:
			m.u.append.n = (x >> 20) % 5;
			m.u.append.entries = m.u.append.n ? e : NULL;
			m.u.append.prev_index = (x >> 24) % 6;
			m.u.append.prev_term = (x >> 28) % 4;
			m.u.append.commit = (x >> 32) % 8;
			for (size_t j = 0; j < 4; j++) {
				e[j].index = m.u.append.prev_index + 1 +
				    ((x >> 40) % 7 == 0 ? 2 : j);
				e[j].term = m.u.append.prev_term +
				    ((x >> (44 + j)) & 1);
				e[j].type = 1 + (x >> (48 + j)) % 3;
				e[j].data = junk;
				e[j].len = (x >> 52) % 8;
			}
			break;
		case RAFT_MSG_SNAPSHOT:
			sn->conf.n = (uint32_t)((x >> 20) % 4);
			for (uint32_t j = 0; j < RAFT_MAX_SERVERS; j++) {
				sn->conf.servers[j].id = 1 + j;
				sn->conf.servers[j].role = 1 + j % 2;
				sn->conf.servers[j].addr[0] = 0;
			}
			sn->index = (x >> 24) % 10;
			sn->term = (x >> 28) % 4;
			sn->data = junk;
			sn->len = (x >> 32) % 32;
			break;
		case RAFT_MSG_APPEND_RESP:
		case RAFT_MSG_SNAPSHOT_RESP:
			m.u.append_resp.index = (x >> 20) % 8;
			m.u.append_resp.match = (x >> 24) % 8;
			m.u.append_resp.hint_index = (x >> 28) % 9;
			m.u.append_resp.hint_term = (x >> 32) % 4;
			m.u.append_resp.round = (x >> 36) % 4;
			break;
		default:
			m.u.vote.last_index = (x >> 20) % 6;
			m.u.vote.last_term = (x >> 24) % 4;
			break;
		}
		if (k % 64 == 0)
			c->now += 40;
		rc = raft_step(c->r, &m);
		assert_true(rc == 0 || rc == -LE_MALFORMED);
		if (k % 97 == 0) {
			raft_tick(c->r);
			raft_persisted(c->r, c->last_seq);
			raft_applied(c->r, c->applied_to);
		}
	}
	assert_true(raft_stats(c->r)->msgs_bad > bad0);
	cap_free(c);
}

/* ---- simulator scenarios ---- */

static struct sim *
quiet_sim(uint64_t seed, int voters, int spares)
{
	struct sim_opts o;
	struct sim *s;

	sim_opts_default(&o, seed);
	o.voters = voters;
	o.spares = spares;
	o.verbose = getenv("RAFT_SIM_VERBOSE") != NULL;
	assert_int_equal(sim_new(&o, &s), 0);
	return s;
}

static void
sim_ok(struct sim *s, int rc)
{
	if (rc < 0 || sim_failed(s)) {
		sim_report(s, stderr);
		fail_msg("simulation check failed: %s", sim_error(s));
	}
}

static bool
has_leader(struct sim *s, void *arg)
{
	return sim_leader(s) >= 0;
}

static int
wait_leader(struct sim *s)
{
	int rc = sim_run_while(s, has_leader, NULL, 5000);

	sim_ok(s, rc);
	assert_int_equal(rc, 1);
	return sim_leader(s);
}

struct want {
	uint64_t idx;
	uint64_t term;
	int node;			/* -1: every up node */
};

static bool
is_committed(struct sim *s, void *arg)
{
	struct want *w = arg;

	return sim_prop_status(s, w->idx, w->term) == SIM_PROP_COMMITTED;
}

static bool
is_applied(struct sim *s, void *arg)
{
	struct want *w = arg;

	for (int i = 0; i < sim_nodes(s); i++)
		if ((w->node < 0 ? sim_up(s, i) : i == w->node) &&
		    sim_applied(s, i) < w->idx)
			return false;
	return true;
}

static void
wait_applied(struct sim *s, struct want w, int node)
{
	int rc;

	w.node = node;
	rc = sim_run_while(s, is_applied, &w, 5000);
	sim_ok(s, rc);
	assert_int_equal(rc, 1);
}

/* Proposes on the leader, waits until it is committed and applied there. */
static struct want
commit_one(struct sim *s)
{
	struct want w = { 0, 0, -1 };
	int l = wait_leader(s), rc;

	assert_int_equal(sim_propose(s, l, &w.idx, &w.term), 0);
	rc = sim_run_while(s, is_committed, &w, 5000);
	sim_ok(s, rc);
	assert_int_equal(rc, 1);
	wait_applied(s, w, l);
	return w;
}

static void
election(int voters)
{
	struct sim *s = quiet_sim(1, voters, 0);
	struct raft_status st;
	int l, followers = 0;

	l = wait_leader(s);
	sim_ok(s, sim_run_for(s, 1000));
	assert_int_equal(sim_leader(s), l);	/* stable, no churn */
	for (int i = 0; i < voters; i++) {
		raft_status(sim_raft(s, i), &st);
		if (i != l && st.state == RAFT_FOLLOWER &&
		    st.leader == sim_id(s, l) && st.last_contact_ms < 300)
			followers++;
	}
	assert_int_equal(followers, voters - 1);
	wait_applied(s, commit_one(s), -1);
	assert_true(sim_logs_agree(s));
	sim_free(s);
}

static void test_election_3(void **state) { election(3); }
static void test_election_5(void **state) { election(5); }

static void
test_single_node(void **state)
{
	struct sim *s = quiet_sim(2, 1, 0);

	commit_one(s);
	wait_applied(s, commit_one(s), -1);
	sim_free(s);
}

static void
prevote_partition(bool prevote, uint64_t *term_rise, bool *disrupted)
{
	struct sim_opts o;
	struct raft_status st;
	struct sim *s;
	uint64_t t0;
	int l, f;

	sim_opts_default(&o, 3);
	o.voters = 5;
	o.ropt.prevote = prevote;
	assert_int_equal(sim_new(&o, &s), 0);
	l = wait_leader(s);
	f = (l + 1) % 5;
	raft_status(sim_raft(s, l), &st);
	t0 = st.term;
	sim_isolate(s, f);
	sim_ok(s, sim_run_for(s, 5000));
	raft_status(sim_raft(s, f), &st);
	*term_rise = st.term - t0;
	sim_heal(s);
	sim_ok(s, sim_run_for(s, 2000));
	raft_status(sim_raft(s, l), &st);
	*disrupted = st.state != RAFT_LEADER || st.term != t0;
	commit_one(s);
	sim_free(s);
}

static void
test_prevote(void **state)
{
	uint64_t rise;
	bool disrupted;

	prevote_partition(true, &rise, &disrupted);
	assert_int_equal(rise, 0);
	assert_false(disrupted);
	/* Without pre-vote the same partition inflates the term and the
	 * returning server deposes a healthy leader. */
	prevote_partition(false, &rise, &disrupted);
	assert_true(rise > 3);
	assert_true(disrupted);
}

static void
test_check_quorum(void **state)
{
	struct sim *s = quiet_sim(4, 3, 0);
	struct raft_status st;
	int l, l2;

	l = wait_leader(s);
	sim_isolate(s, l);
	/* It steps down within about one election timeout of silence. */
	sim_ok(s, sim_run_for(s, 450));
	raft_status(sim_raft(s, l), &st);
	assert_int_not_equal(st.state, RAFT_LEADER);
	assert_true(raft_stats(sim_raft(s, l))->stepdowns_quorum >= 1);
	l2 = wait_leader(s);
	assert_int_not_equal(l2, l);
	sim_heal(s);
	commit_one(s);
	sim_free(s);
}

static void
test_deposed_proposal(void **state)
{
	struct sim *s = quiet_sim(5, 3, 0);
	struct want w;
	uint64_t t, pidx, pterm;
	int l;

	l = wait_leader(s);
	commit_one(s);
	sim_isolate(s, l);
	assert_int_equal(sim_propose(s, l, &pidx, &pterm), 0);
	assert_int_equal(sim_prop_status(s, pidx, pterm), SIM_PROP_PENDING);
	sim_ok(s, sim_run_for(s, 1000));
	assert_int_equal(sim_prop_status(s, pidx, pterm), SIM_PROP_LOST);
	/* The majority moved on and wrote its own entries there. */
	for (int i = 0; i < 3; i++)
		w = commit_one(s);
	sim_heal(s);
	wait_applied(s, w, l);
	assert_int_equal(raft_log_term(sim_raft(s, l), pidx, &t), 0);
	assert_int_not_equal(t, pterm);
	assert_int_equal(sim_prop_status(s, pidx, pterm), SIM_PROP_LOST);
	sim_free(s);
}

static void
test_divergence_repair(void **state)
{
	struct sim *s = quiet_sim(6, 5, 0);
	int group[5], l, l2, i;
	uint64_t idx[5], term[5];
	struct want w;

	l = wait_leader(s);
	commit_one(s);
	for (i = 0; i < 5; i++)
		group[i] = i == l || i == (l + 1) % 5;
	sim_partition(s, group);
	/* The old leader and one follower take entries that never commit. */
	for (i = 0; i < 5; i++)
		assert_int_equal(sim_propose(s, l, &idx[i], &term[i]), 0);
	sim_ok(s, sim_run_for(s, 1500));
	l2 = sim_leader(s);
	assert_true(l2 >= 0 && group[l2] == 0);
	for (i = 0; i < 8; i++)
		w = commit_one(s);
	sim_heal(s);
	wait_applied(s, w, -1);
	assert_true(sim_logs_agree(s));
	for (i = 0; i < 5; i++) {
		uint64_t t;

		assert_int_equal(sim_prop_status(s, idx[i], term[i]),
		    SIM_PROP_LOST);
		assert_int_equal(raft_log_term(sim_raft(s, l), idx[i], &t), 0);
		assert_int_not_equal(t, term[i]);
	}
	sim_free(s);
}

static void
test_completeness_after_crash(void **state)
{
	struct sim *s = quiet_sim(7, 5, 0);
	struct want w[4];
	uint64_t t;
	int l, f, l2, i;

	l = wait_leader(s);
	for (i = 0; i < 4; i++)
		w[i] = commit_one(s);
	f = (l + 1) % 5;
	sim_crash(s, l);
	sim_crash(s, f);
	l2 = wait_leader(s);
	for (i = 0; i < 4; i++) {
		assert_int_equal(raft_log_term(sim_raft(s, l2), w[i].idx, &t),
		    0);
		assert_int_equal(t, w[i].term);
	}
	commit_one(s);
	assert_int_equal(sim_restart(s, l), 0);
	assert_int_equal(sim_restart(s, f), 0);
	wait_applied(s, commit_one(s), -1);
	assert_true(sim_logs_agree(s));
	sim_free(s);
}

static void
test_snapshot_install(void **state)
{
	struct sim_opts o;
	struct raft_status st;
	struct sim *s;
	struct want w;
	uint64_t midx;
	int l, f, i, spare = 3;

	sim_opts_default(&o, 8);
	o.voters = 3;
	o.spares = 1;
	o.ropt.snapshot_threshold = 16;
	o.ropt.snapshot_trailing = 4;
	assert_int_equal(sim_new(&o, &s), 0);
	l = wait_leader(s);
	f = (l + 1) % 3;
	sim_crash(s, f);			/* lagging, then empty-handed */
	for (i = 0; i < 60; i++)
		w = commit_one(s);
	raft_status(sim_raft(s, l), &st);
	assert_true(st.snapshot_index > 16);
	assert_int_equal(sim_restart(s, f), 0);
	wait_applied(s, w, f);
	assert_true(raft_stats(sim_raft(s, f))->snapshots_installed >= 1);
	/* A brand-new server joins as a non-voter through a snapshot, is
	 * promoted once caught up, and then counts. */
	l = wait_leader(s);
	assert_int_equal(raft_add_server(sim_raft(s, l), sim_id(s, spare),
	    "10.0.0.4:8300", RAFT_NONVOTER, NULL), 0);
	w = commit_one(s);
	wait_applied(s, w, spare);
	assert_true(raft_stats(sim_raft(s, spare))->snapshots_installed >= 1);
	sim_ok(s, sim_run_for(s, 100));		/* its ack in flight */
	l = wait_leader(s);
	assert_int_equal(raft_progress(sim_raft(s, l), sim_id(s, spare), &midx,
	    NULL), 0);
	assert_true(midx >= w.idx);
	assert_int_equal(raft_assign(sim_raft(s, l), sim_id(s, spare),
	    RAFT_VOTER, NULL), 0);
	wait_applied(s, commit_one(s), -1);
	assert_true(sim_logs_agree(s));
	sim_free(s);
}

static bool
config_committed(struct sim *s, void *arg)
{
	int l = sim_leader(s);
	struct raft_config c;
	const uint32_t *want = arg;

	if (l < 0)
		return false;
	raft_config_get(sim_raft(s, l), true, &c);
	return c.n == *want;
}

static void
test_membership(void **state)
{
	struct sim *s = quiet_sim(9, 3, 1);
	struct raft_config c;
	struct raft_status st;
	uint32_t want;
	int l, f, rc, old;

	l = wait_leader(s);
	commit_one(s);
	/* Add the spare as a voter directly, then remove a follower. */
	assert_int_equal(raft_add_server(sim_raft(s, l), sim_id(s, 3),
	    "10.0.0.4:8300", RAFT_VOTER, NULL), 0);
	/* One change at a time. */
	assert_int_equal(raft_remove_server(sim_raft(s, l), sim_id(s, 1),
	    NULL), -RAFT_E_BUSY);
	want = 4;
	rc = sim_run_while(s, config_committed, &want, 3000);
	sim_ok(s, rc);
	assert_int_equal(rc, 1);
	commit_one(s);
	l = wait_leader(s);
	f = (l + 1) % 4;
	assert_int_equal(raft_remove_server(sim_raft(s, l), sim_id(s, f),
	    NULL), 0);
	want = 3;
	rc = sim_run_while(s, config_committed, &want, 3000);
	sim_ok(s, rc);
	assert_int_equal(rc, 1);
	commit_one(s);
	/* The removed server must not disrupt the rest. */
	sim_ok(s, sim_run_for(s, 3000));
	raft_status(sim_raft(s, wait_leader(s)), &st);
	commit_one(s);
	/* Remove the leader itself: it steps down once that commits. */
	old = wait_leader(s);
	assert_int_equal(raft_remove_server(sim_raft(s, old),
	    sim_id(s, old), NULL), 0);
	want = 2;
	rc = sim_run_while(s, config_committed, &want, 3000);
	sim_ok(s, rc);
	assert_int_equal(rc, 1);
	sim_ok(s, sim_run_for(s, 1000));
	l = wait_leader(s);
	assert_int_not_equal(l, old);
	raft_status(sim_raft(s, old), &st);
	assert_int_not_equal(st.state, RAFT_LEADER);
	assert_false(st.voter);
	raft_config_get(sim_raft(s, l), true, &c);
	assert_null(raft_config_find(&c, sim_id(s, old)));
	commit_one(s);
	sim_free(s);
}

static void
test_transfer(void **state)
{
	struct sim *s = quiet_sim(10, 3, 0);
	int l, target;
	uint64_t idx;

	l = wait_leader(s);
	commit_one(s);
	target = (l + 2) % 3;
	assert_int_equal(raft_transfer(sim_raft(s, l), sim_id(s, target)), 0);
	assert_int_equal(raft_propose(sim_raft(s, l), RAFT_ENTRY_NORMAL, "x",
	    1, &idx, NULL), -RAFT_E_BUSY);
	assert_int_equal(raft_lease_read(sim_raft(s, l), &idx), -LE_UNAVAIL);
	sim_ok(s, sim_run_for(s, 200));		/* < one election timeout */
	assert_int_equal(sim_leader(s), target);
	commit_one(s);
	sim_free(s);
}

static void
test_read_index_minority(void **state)
{
	struct sim *s = quiet_sim(11, 5, 0);
	int group[5], l, i, st;
	uint64_t id, idx, lease;
	struct want w;

	l = wait_leader(s);
	w = commit_one(s);
	assert_int_equal(sim_read_index(s, l, &id), 0);
	sim_ok(s, sim_run_for(s, 100));
	assert_int_equal(sim_read_status(s, id, &idx), 1);
	assert_true(idx >= w.idx);
	assert_int_equal(raft_lease_read(sim_raft(s, l), &lease), 0);
	/* Leader and one follower cut off: no quorum to confirm with. */
	for (i = 0; i < 5; i++)
		group[i] = i == l || i == (l + 1) % 5;
	sim_partition(s, group);
	assert_int_equal(sim_read_index(s, l, &id), 0);
	sim_ok(s, sim_run_for(s, 2000));
	st = sim_read_status(s, id, &idx);
	assert_true(st < 0);
	assert_int_equal(raft_lease_read(sim_raft(s, l), &lease),
	    -RAFT_E_NOTLEADER);
	sim_heal(s);
	commit_one(s);
	sim_free(s);
}

static void
test_determinism(void **state)
{
	struct sim_stats a, b;
	struct sim_opts o;

	sim_opts_random(&o, 77, 5, 1);
	o.quiet = true;
	assert_int_equal(sim_chaos_run(&o, 8000, &a, stderr), 0);
	assert_int_equal(sim_chaos_run(&o, 8000, &b, stderr), 0);
	assert_int_equal(a.steps, b.steps);
	assert_int_equal(a.digest, b.digest);
	assert_int_equal(a.max_commit, b.max_commit);
}

/* ---- chaos seeds ---- */

static int
seed_run(uint64_t seed, int voters, bool verbose)
{
	const char *ms = getenv("RAFT_SIM_MS");
	struct sim_opts o;

	sim_opts_random(&o, seed, voters, 1);
	o.verbose = verbose;
	return sim_chaos_run(&o, ms != NULL ? strtoull(ms, NULL, 10) : 20000,
	    NULL, stderr);
}

static void
test_seeds(void **state)
{
	const char *one = getenv("RAFT_SIM_SEED");
	const char *ns = getenv("RAFT_SIM_SEEDS");
	const char *first = getenv("RAFT_SIM_FIRST");
	uint64_t n = ns != NULL ? strtoull(ns, NULL, 10) : 800;
	uint64_t base = first != NULL ? strtoull(first, NULL, 10) : 1, sd;
	struct timespec t0, t1;
	int fails = 0;

	if (one != NULL) {
		sd = strtoull(one, NULL, 10);
		for (int v = 3; v <= 5; v += 2)
			if (seed_run(sd, v, getenv("RAFT_SIM_VERBOSE") != NULL))
				fails++;
		assert_int_equal(fails, 0);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (sd = base; sd < base + n && fails < 3; sd++)
		for (int v = 3; v <= 5; v += 2)
			if (seed_run(sd, v, false) != 0) {
				fprintf(stderr, "raft_sim: FAILED seed %llu "
				    "(%d voters)\n", (unsigned long long)sd, v);
				fails++;
			}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "raft_sim: %llu seeds x 2 cluster sizes in %.1f s\n",
	    (unsigned long long)n, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	assert_int_equal(fails, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vote_waits_for_disk),
		cmocka_unit_test(test_restart_is_sticky),
		cmocka_unit_test(test_candidate_waits_for_own_vote),
		cmocka_unit_test(test_follower_acks_durable_only),
		cmocka_unit_test(test_stale_append_keeps_log),
		cmocka_unit_test(test_config_on_append),
		cmocka_unit_test(test_previous_term_needs_current),
		cmocka_unit_test(test_leader_counts_own_durable),
		cmocka_unit_test(test_commit_told),
		cmocka_unit_test(test_reject_floor),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_election_3),
		cmocka_unit_test(test_election_5),
		cmocka_unit_test(test_single_node),
		cmocka_unit_test(test_prevote),
		cmocka_unit_test(test_check_quorum),
		cmocka_unit_test(test_deposed_proposal),
		cmocka_unit_test(test_divergence_repair),
		cmocka_unit_test(test_completeness_after_crash),
		cmocka_unit_test(test_snapshot_install),
		cmocka_unit_test(test_membership),
		cmocka_unit_test(test_transfer),
		cmocka_unit_test(test_read_index_minority),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_seeds),
	};

	/* Replaying one seed, or soaking (scripts/raft-soak.sh): seeds only. */
	if (getenv("RAFT_SIM_SEED") != NULL ||
	    getenv("RAFT_SIM_FIRST") != NULL) {
		const struct CMUnitTest only[] = {
			cmocka_unit_test(test_seeds),
		};
		return cmocka_run_group_tests(only, NULL, NULL);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
