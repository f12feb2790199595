/* catalog_reconcile.c: the Raft leader's reconcile of LAN gossip into the
 * catalog (decisions in catalog_diff.c). While raftd says this server
 * leads (a lease in its fetch replies), kvd keeps one gossip.members
 * long-poll parked in gossipd (<rundir>/gossip.sock), as it keeps one
 * raft.fetch in raftd. It reconciles when the membership changed, when it
 * became leader, and every 60 s (Consul's ReconcileInterval), once its
 * state has applied what raftd had committed, and only one round at a
 * time: a round's proposals must be applied before the next diff, so no
 * change is proposed twice. A catalog in step with gossip costs no write.
 *
 * gossipd may be absent (starting, restarting, not running): a failed
 * poll is retried after a backoff doubling from 1 s to 60 s, and an
 * outage is logged once, when a third poll in a row failed (so not for
 * the moment gossipd takes to come up), and once when it ends. A reply
 * kvd cannot decode is handled the same way rather than by exiting:
 * kvd's state machine must not stop for its reconcile's sake. */
#include "kvd.h"
#include "catalog_reconcile.h"
#include "gossip_ipc.h"
#include "log.h"
#include "rundir.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define POLL_WAIT_MS 30000		/* gossipd parks the poll this long */
#define POLL_SLACK_MS 5000
#define POLL_MIN_GAP_MS 1000		/* between two polls that saw no change */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define RECONCILE_INTERVAL_MS 60000
#define RETRY_ROUND_MS 1000		/* after a round's proposal failed */
#define ROUND_MAX RAFT_BATCH_MAX	/* commands per round */
#define OUTAGE_AFTER 3			/* failed polls in a row */

struct cat_rc {
	struct kvd *k;
	struct ipc_client *gossip;	/* opened on first leadership */
	bool stopping;
	bool leader;
	uint64_t gen;			/* bumped on each leadership change */
	/* the poll */
	bool polling;
	uint64_t backoff_ms;
	uint64_t last_poll_ms;
	unsigned fail_streak;
	bool outage_logged;
	struct loop_timer *poll_timer;
	/* the members as gossipd last said */
	struct rc_members members;
	bool have_members;
	/* rounds */
	bool dirty;			/* a round is wanted */
	bool inflight;			/* proposed, not yet applied */
	uint64_t wait_index;		/* ... applied must reach this */
	struct loop_timer *tick;	/* every RECONCILE_INTERVAL_MS */
	struct loop_timer *again;	/* a failed round's retry */
	/* counters */
	uint64_t polls, poll_errors, rounds, commands, round_errors;
};

struct rc_arg {
	struct cat_rc *rc;
	uint64_t gen;
};

static void poll_send(struct cat_rc *rc);
static void maybe_round(struct cat_rc *rc);

/* ---- the catalog view ---- */

struct view {
	struct rc_node *n;
	void **raw;			/* each node's record, owned */
	struct proto_obj *obj;
	struct msg_cat_node *node;
	size_t len, cap;
	int err;
};

static int
serf_of(struct kvd *k, const struct msg_cat_node *n)
{
	struct msg_cat_check c;
	struct proto_obj o;
	struct lerr e;
	void *raw;
	size_t len;
	int serf = RC_SERF_OTHER;

	if (cat_check_get(k->cat, n->node, n->node_len, CAT_SERF_CHECK_ID,
	    sizeof(CAT_SERF_CHECK_ID) - 1, &raw, &len) != 0)
		return RC_SERF_NONE;
	if (proto_obj_decode(raw, len, &o, &e) == 0 &&
	    msg_cat_check_dec(o.root, &c) == 0) {
		if (c.status_len == 7 && memcmp(c.status, "passing", 7) == 0)
			serf = RC_SERF_PASSING;
		else if (c.status_len == 8 &&
		    memcmp(c.status, "critical", 8) == 0)
			serf = RC_SERF_CRITICAL;
	}
	proto_obj_free(&o);
	free(raw);
	return serf;
}

struct view_walk {
	struct kvd *k;
	struct view *v;
};

static int
view_add(void *arg, const void *rec, size_t len)
{
	struct view_walk *w = arg;
	struct view *v = w->v;
	struct lerr e;
	size_t i = v->len;

	if (v->len == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;

		v->n = xrealloc(v->n, cap * sizeof(*v->n));
		v->raw = xrealloc(v->raw, cap * sizeof(*v->raw));
		v->obj = xrealloc(v->obj, cap * sizeof(*v->obj));
		v->node = xrealloc(v->node, cap * sizeof(*v->node));
		v->cap = cap;
	}
	/* Decoded strings point into the record: keep a copy of it. */
	v->raw[i] = xmalloc(len ? len : 1);
	memcpy(v->raw[i], rec, len);
	if (proto_obj_decode(v->raw[i], len, &v->obj[i], &e) != 0 ||
	    msg_cat_node_dec(v->obj[i].root, &v->node[i]) != 0) {
		proto_obj_free(&v->obj[i]);
		free(v->raw[i]);
		v->err++;
		return 0;
	}
	/* rc_node wants C strings: a name or address with a NUL cannot be
	 * stored, so these copies are exact. */
	v->n[i].name = xstrndup(v->node[i].node, v->node[i].node_len);
	v->n[i].address = xstrndup(v->node[i].address,
	    v->node[i].address_len);
	v->n[i].serf = serf_of(w->k, &v->node[i]);
	v->len++;
	return 0;
}

static void
view_free(struct view *v)
{
	for (size_t i = 0; i < v->len; i++) {
		free((char *)v->n[i].name);
		free((char *)v->n[i].address);
		proto_obj_free(&v->obj[i]);
		free(v->raw[i]);
	}
	free(v->n);
	free(v->raw);
	free(v->obj);
	free(v->node);
}

/* ---- a round ---- */

static void
on_round_proposed(void *arg, int rv, struct proto_msg *m)
{
	struct rc_arg *a = arg;
	struct cat_rc *rc = a->rc;
	struct msg_raft_index_reply rep = { .code = -LE_UNAVAIL };
	struct lerr e;
	bool mine = a->gen == rc->gen && !rc->stopping;

	free(a);
	if (rv == 0 && m->type == (MSG_RAFT_PROPOSE | PROTO_REPLY) &&
	    msg_raft_index_reply_dec(m, &rep, &e) != 0)
		rep.code = -LE_MALFORMED;
	if (!mine)
		return;
	if (rv == 0 && rep.code == 0) {
		/* Wait for our own apply before the next diff. */
		rc->wait_index = rep.index;
		cat_rc_kick(rc);
		return;
	}
	rc->round_errors++;
	rc->inflight = false;
	rc->dirty = true;
	log_debug("reconcile: proposal failed: %s",
	    le_strerror(rv != 0 ? rv : rep.code));
	loop_timer_arm(rc->again, RETRY_ROUND_MS);
}

static void
set_str(const char **p, size_t *len, const char *s)
{
	*p = s;
	*len = strlen(s);
}

/* The serfHealth check a command carries. */
static void
serf_check(struct msg_cat_check *c, const char *node, bool alive)
{
	memset(c, 0, sizeof(*c));
	set_str(&c->node, &c->node_len, node);
	set_str(&c->check_id, &c->check_id_len, CAT_SERF_CHECK_ID);
	set_str(&c->name, &c->name_len, CAT_SERF_CHECK_NAME);
	set_str(&c->status, &c->status_len, alive ? "passing" : "critical");
	set_str(&c->output, &c->output_len, alive ? CAT_SERF_ALIVE_OUTPUT :
	    CAT_SERF_FAILED_OUTPUT);
	set_str(&c->definition, &c->definition_len, "{}");
}

static void
run_round(struct cat_rc *rc)
{
	struct kvd *k = rc->k;
	struct view v = { 0 };
	struct view_walk w = { k, &v };
	struct rc_cmd *cmds;
	struct msg_sm_cmd *sm;
	struct msg_cat_check *chk;
	struct rc_arg *a;
	size_t n, max;
	char err[160];

	rc->dirty = false;
	if (cat_walk_nodes(k->cat, view_add, &w) != 0 || v.err > 0)
		log_warnx("reconcile: %d catalog records unreadable", v.err);
	max = rc->members.n + v.len;
	if (max > ROUND_MAX)
		max = ROUND_MAX;
	cmds = xcalloc(max ? max : 1, sizeof(*cmds));
	n = rc_diff(rc->members.m, rc->members.n, v.n, v.len,
	    k->cfg.node_name, k->cfg.datacenter, cmds, max);
	rc->rounds++;
	if (n == 0) {
		free(cmds);
		view_free(&v);
		return;
	}
	if (n == max && max < rc->members.n + v.len)
		rc->dirty = true;	/* more than one round's worth */
	sm = xcalloc(n, sizeof(*sm));
	chk = xcalloc(n, sizeof(*chk));
	for (size_t i = 0; i < n; i++) {
		const struct rc_member *mb = cmds[i].member != SIZE_MAX ?
		    &rc->members.m[cmds[i].member] : NULL;
		const struct msg_cat_node *old = cmds[i].node != SIZE_MAX ?
		    &v.node[cmds[i].node] : NULL;
		struct msg_cat_register *r = &sm[i].reg;
		const char *name = mb != NULL ? mb->name :
		    v.n[cmds[i].node].name;

		if (cmds[i].action == RC_DEREGISTER) {
			sm[i].type = SMC_CATALOG_DEREGISTER;
			set_str(&sm[i].dereg.node, &sm[i].dereg.node_len, name);
			set_str(&sm[i].dereg.service_id,
			    &sm[i].dereg.service_id_len, "");
			set_str(&sm[i].dereg.check_id,
			    &sm[i].dereg.check_id_len, "");
			log_info("reconcile: deregistering member %s (%s)",
			    name, mb != NULL ? "left" : "reaped");
			continue;
		}
		sm[i].type = SMC_CATALOG_REGISTER;
		set_str(&r->node.node, &r->node.node_len, mb->name);
		set_str(&r->node.address, &r->node.address_len, mb->addr);
		set_str(&r->node.dc, &r->node.dc_len, k->cfg.datacenter);
		/* An ID the state would refuse would fail every round: such
		 * a member is registered without one. */
		if (cat_uuid_check(mb->id, strlen(mb->id), err,
		    sizeof(err)) == 0)
			set_str(&r->node.id, &r->node.id_len, mb->id);
		else
			set_str(&r->node.id, &r->node.id_len, "");
		if (old != NULL && cmds[i].action == RC_ALIVE) {
			/* Keep what the node's own agent registered. */
			r->node.tagged = old->tagged;
			r->node.meta = old->meta;
		}
		r->skip_node_update = cmds[i].action == RC_FAILED;
		serf_check(&chk[i], mb->name, cmds[i].action == RC_ALIVE);
		r->n_checks = 1;
		r->checks = &chk[i];
		log_info("reconcile: member %s %s", mb->name,
		    cmds[i].action == RC_ALIVE ? "joined, marking health "
		    "alive" : "failed, marking health critical");
	}
	rc->commands += n;
	rc->inflight = true;
	rc->wait_index = 0;
	a = xcalloc(1, sizeof(*a));
	a->rc = rc;
	a->gen = rc->gen;
	kvd_propose_internal_cmds(k, sm, n, on_round_proposed, a);
	free(sm);
	free(chk);
	free(cmds);
	view_free(&v);
}

static void
maybe_round(struct cat_rc *rc)
{
	struct kvd *k = rc->k;
	uint64_t applied = kv_state_applied(k->kv);

	if (rc->stopping || !rc->leader || !rc->have_members)
		return;
	if (rc->inflight) {
		if (rc->wait_index == 0 || applied < rc->wait_index)
			return;
		rc->inflight = false;
	}
	/* Decide on what the leader had committed, not on a lagging
	 * view. */
	if (!rc->dirty || applied < k->commit_seen)
		return;
	run_round(rc);
}

static void
on_tick(void *arg)
{
	struct cat_rc *rc = arg;

	if (rc->stopping || !rc->leader)
		return;
	rc->dirty = true;
	maybe_round(rc);
	loop_timer_arm(rc->tick, RECONCILE_INTERVAL_MS);
}

static void
on_again(void *arg)
{
	maybe_round(arg);
}

/* ---- the poll ---- */

static void
poll_failed(struct cat_rc *rc, const char *why)
{
	rc->poll_errors++;
	if (!rc->outage_logged && ++rc->fail_streak >= OUTAGE_AFTER) {
		log_info("gossipd is not answering (%s); the catalog "
		    "reconcile waits for it", why);
		rc->outage_logged = true;
	}
	rc->backoff_ms = rc->backoff_ms == 0 ? BACKOFF_MIN_MS :
	    rc->backoff_ms * 2;
	if (rc->backoff_ms > BACKOFF_MAX_MS)
		rc->backoff_ms = BACKOFF_MAX_MS;
	loop_timer_arm(rc->poll_timer, rc->backoff_ms);
}

static void
on_members(void *arg, int rv, struct proto_msg *m)
{
	struct rc_arg *a = arg;
	struct cat_rc *rc = a->rc;
	struct rc_members ms;
	struct lerr e = { "" };
	bool mine = a->gen == rc->gen && !rc->stopping && rc->leader;
	bool changed;

	free(a);
	rc->polling = false;
	if (!mine) {
		/* A poll of an earlier leadership: start afresh if we lead
		 * again. */
		if (!rc->stopping && rc->leader)
			poll_send(rc);
		return;
	}
	if (rv != 0) {
		poll_failed(rc, le_strerror(rv));
		return;
	}
	if (m->type == (MSG_ERROR | PROTO_REPLY)) {
		struct msg_error me;

		if (msg_error_dec(m, &me, &e) == 0)
			snprintf(e.msg, sizeof(e.msg), "%.*s",
			    (int)me.text_len, me.text);
		poll_failed(rc, e.msg);
		return;
	}
	if (rc_members_decode(m, &ms, &e) != 0) {
		log_warnx("reconcile: bad gossip.members reply: %s", e.msg);
		poll_failed(rc, e.msg);
		return;
	}
	if (rc->outage_logged) {
		log_info("gossipd answers again");
		rc->outage_logged = false;
	}
	rc->fail_streak = 0;
	rc->backoff_ms = 0;
	rc->polls++;
	changed = !rc->have_members || ms.version != rc->members.version;
	if (changed) {
		rc_members_free(&rc->members);
		rc->members = ms;
		rc->have_members = true;
		rc->dirty = true;
		poll_send(rc);
	} else {
		rc_members_free(&ms);
		/* Nothing new: never ask faster than this. */
		loop_timer_arm(rc->poll_timer, POLL_MIN_GAP_MS);
	}
	maybe_round(rc);
}

/* Dialled from the start, so that it is connected when leadership
 * comes; nng redials a missing socket in the background. */
static void
gossip_open(struct cat_rc *rc)
{
	struct lerr e;
	char url[300];

	if (rc->gossip != NULL)
		return;
	rundir_url(rc->k->rundir, "gossip", url, sizeof(url));
	if (ipc_client_open_loop(&rc->gossip, url, rc->k->boot,
	    rc->k->loop, &e) != 0) {
		log_warnx("reconcile: %s", e.msg);
		rc->gossip = NULL;
	}
}

static void
poll_send(struct cat_rc *rc)
{
	struct kvd *k = rc->k;
	struct msg_gossip_members q = {
		.wan = false,
		.min_version = rc->have_members ? rc->members.version : 0,
		.wait_ms = POLL_WAIT_MS,
	};
	struct ipc_call *call;
	struct rc_arg *a;

	if (rc->stopping || !rc->leader || rc->polling)
		return;
	gossip_open(rc);
	if (rc->gossip == NULL) {
		poll_failed(rc, "cannot dial gossip.sock");
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->rc = rc;
	a->gen = rc->gen;
	rc->polling = true;
	rc->last_poll_ms = loop_now_ms(k->loop);
	call = ipc_call_new(rc->gossip, MSG_GOSSIP_MEMBERS);
	msg_gossip_members_enc(ipc_call_writer(call), &q);
	ipc_call_send_loop(call, POLL_WAIT_MS + POLL_SLACK_MS, k->loop,
	    on_members, a);
}

static void
on_poll_timer(void *arg)
{
	poll_send(arg);
}

/* ---- leadership ---- */

void
cat_rc_kick(struct cat_rc *rc)
{
	struct kvd *k;
	bool lead;

	if (rc == NULL || rc->stopping)
		return;
	k = rc->k;
	lead = k->lease_until_ms != 0;
	if (lead && !rc->leader) {
		rc->leader = true;
		rc->gen++;
		rc->dirty = true;
		rc->inflight = false;
		rc->backoff_ms = 0;
		log_debug("reconcile: leading, asking gossipd for members");
		poll_send(rc);
		loop_timer_arm(rc->tick, RECONCILE_INTERVAL_MS);
	} else if (!lead && rc->leader) {
		rc->leader = false;
		rc->gen++;
		rc->inflight = false;
		rc->have_members = false;
		rc_members_free(&rc->members);
		loop_timer_cancel(rc->tick);
		loop_timer_cancel(rc->again);
		loop_timer_cancel(rc->poll_timer);
		log_debug("reconcile: no longer leading");
		return;
	}
	maybe_round(rc);
}

struct cat_rc *
cat_rc_new(struct kvd *k)
{
	struct cat_rc *rc = xcalloc(1, sizeof(*rc));

	rc->k = k;
	rc->poll_timer = loop_timer_new(k->loop, on_poll_timer, rc);
	rc->tick = loop_timer_new(k->loop, on_tick, rc);
	rc->again = loop_timer_new(k->loop, on_again, rc);
	gossip_open(rc);
	return rc;
}

void
cat_rc_stop(struct cat_rc *rc)
{
	if (rc == NULL)
		return;
	rc->stopping = true;
	loop_timer_cancel(rc->poll_timer);
	loop_timer_cancel(rc->tick);
	loop_timer_cancel(rc->again);
	ipc_client_close(rc->gossip);
	rc->gossip = NULL;
}

void
cat_rc_free(struct cat_rc *rc)
{
	if (rc == NULL)
		return;
	loop_timer_free(rc->poll_timer);
	loop_timer_free(rc->tick);
	loop_timer_free(rc->again);
	rc_members_free(&rc->members);
	free(rc);
}

void
cat_rc_stats(const struct cat_rc *rc, struct sbuf *out)
{
	sbuf_printf(out, "reconcile.leader %d\nreconcile.members %zu\n"
	    "reconcile.members_version %llu\nreconcile.polls %llu\n"
	    "reconcile.poll_errors %llu\nreconcile.rounds %llu\n"
	    "reconcile.commands %llu\nreconcile.round_errors %llu\n",
	    rc->leader, rc->have_members ? rc->members.n : 0,
	    (unsigned long long)rc->members.version,
	    (unsigned long long)rc->polls,
	    (unsigned long long)rc->poll_errors,
	    (unsigned long long)rc->rounds,
	    (unsigned long long)rc->commands,
	    (unsigned long long)rc->round_errors);
}
