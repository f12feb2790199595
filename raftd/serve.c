/* serve.c: raft.sock (kvd's proposals, fetches and read indexes, httpd's
 * status and operator calls) and everything that waits: on the core (a
 * proposal's commit, a read index's quorum round), on the leader (a
 * request forwarded to it), or for a leader to exist at all (held for at
 * most RAFTD_HOLD_MS, then "No cluster leader", as Consul holds RPCs
 * during an election). */
#include "raftd.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_MAX_ENTRIES 4096
#define LEASE_REFRESH_MS 20	/* re-answer kvd when this little is left */
/* How long a follower's committed entries may wait for company before
 * kvd is woken to apply them, when kvd waits on none of them. */
#define FOLLOWER_APPLY_HOLD_MS 10

enum wkind {
	W_PROPOSE,	/* ours, appended as leader: wait for result() */
	W_READ,		/* ours, read index round: wait for read_done() */
	W_OP,		/* ours, membership change: wait for result() */
	W_FWD,		/* ours, forwarded to the leader: wait for its reply */
	W_HOLD,		/* ours, no leader yet: dispatch when one appears */
	W_R_PROPOSE,	/* a follower's, appended here */
	W_R_READ,	/* a follower's read index round */
	W_R_OP,		/* a follower's membership change */
};

struct waiter {
	struct waiter *next;
	enum wkind kind;
	uint32_t what;		/* MSG_RAFT_PROPOSE/READ_INDEX/OPERATOR */
	struct ipc_req *req;	/* ours */
	uint64_t id;		/* read id, or forward req id */
	uint64_t index, term;
	uint64_t deadline;
	uint32_t num;		/* consistency or operator op */
	bool leave;		/* our own leave: stop the agent after */
	uint64_t remote_id;	/* a follower's request id, for its reply */
	uint64_t peer;		/* that follower's server id */
	/* The core's outcome, noted inside its callback and answered from
	 * the loop (serve_complete): answering frees the waiter, which a
	 * caller up the stack may still hold. */
	bool done;
	int done_code;
	uint64_t done_index;
	void *data;		/* command or operator argument (copied) */
	size_t len;
	char reply_addr[RW_ADDR_MAX + 1]; /* remote: where to answer */
};

static void status_reply(struct raftd *d, struct ipc_req *r,
    const char *leader_view);
static void status_text(struct raftd *d, char *out, size_t len);

static struct waiter *
waiter_new(struct raftd *d, enum wkind kind, uint32_t what)
{
	struct waiter *w = xcalloc(1, sizeof(*w));

	w->kind = kind;
	w->what = what;
	w->deadline = mono_ms() + RAFTD_HOLD_MS * 2;
	w->next = d->waiters;
	d->waiters = w;
	return w;
}

static void
waiter_free(struct raftd *d, struct waiter *w)
{
	struct waiter **pp;

	for (pp = &d->waiters; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	free(w->data);
	free(w);
}

/* ---- answers ---- */

static void
reply_index(struct raftd *d, struct ipc_req *r, uint32_t what, int code,
    const char *text, uint64_t index)
{
	struct msg_raft_index_reply rep = { .code = code, .index = index };
	struct raft_status st;

	raft_status(d->r, &st);
	if (code != 0) {
		if (text == NULL)
			text = code == -LE_NOLEADER ? "No cluster leader" :
			    le_strerror(code);
		rep.text = text;
		rep.text_len = strlen(text);
	}
	rep.known_leader = st.leader != 0;
	rep.last_contact_ms = st.last_contact_ms == UINT64_MAX ? 0 :
	    st.last_contact_ms;
	/* kvd applies up to it before it answers its own client. */
	if (code == 0 && index > d->kvd_wants)
		d->kvd_wants = index;
	msg_raft_index_reply_enc(ipc_reply_begin(r, what), &rep);
	ipc_reply_send(r);
}

static void
reply_op(struct ipc_req *r, int code, const char *text)
{
	struct msg_admin_reply rep = { code, text ? text : "",
		text ? strlen(text) : 0 };

	if (code != 0 && (text == NULL || *text == '\0')) {
		rep.text = code == -LE_NOLEADER ? "No cluster leader" :
		    le_strerror(code);
		rep.text_len = strlen(rep.text);
	}
	msg_admin_reply_enc(ipc_reply_begin(r, MSG_RAFT_OPERATOR), &rep);
	ipc_reply_send(r);
}

/* Answers a waiter of ours with an outcome and frees it. */
static void
answer_local(struct raftd *d, struct waiter *w, int code, const char *text,
    uint64_t index)
{
	if (code == -LE_NOTLEADER)
		code = -LE_NOLEADER; /* lost leadership meanwhile */
	if (w->what == MSG_RAFT_STATUS) {
		/* The leader did not answer: our own view will do. */
		status_reply(d, w->req, NULL);
	} else if (w->what == MSG_RAFT_OPERATOR) {
		reply_op(w->req, code, text);
	} else {
		reply_index(d, w->req, w->what, code, text, index);
	}
	waiter_free(d, w);
}

static void
send_fwd_reply(struct raftd *d, const char *addr, uint32_t type,
    uint64_t req_id, int code, uint64_t index, const char *text)
{
	struct rw_fwd_reply r = { req_id, code, index, text,
		text ? strlen(text) : 0 };
	struct mpw w;

	mpw_init(&w);
	rw_fwd_reply_enc(&w, type, d->id, &r);
	node_send_raw(d, addr, &w);
	mpw_free(&w);
}

static void
answer_remote(struct raftd *d, struct waiter *w, int code, const char *text,
    uint64_t index)
{
	uint32_t type = w->kind == W_R_PROPOSE ? RW_FWD_PROPOSE_REPLY :
	    w->kind == W_R_READ ? RW_FWD_READ_REPLY : RW_FWD_OP_REPLY;

	if (code == -LE_NOTLEADER)
		code = -LE_NOLEADER;
	/* It waits to apply what it is answered: the commit goes first. */
	if (code == 0)
		(void)raft_tell_commit(d->r, w->peer, index);
	send_fwd_reply(d, w->reply_addr, type, w->remote_id, code, index, text);
	waiter_free(d, w);
}

/* ---- dispatch: leader does it, follower forwards, else hold ---- */

/* Appends a proposal's batch of commands; *last is the last entry's
 * index, whose commit answers the whole batch. */
static int
propose_batch(struct raftd *d, const void *blob, size_t len, uint64_t *last,
    uint64_t *term)
{
	struct raft_entry ents[64], *e = ents;
	struct proto_obj o;
	struct lerr err;
	uint64_t first = 0;
	uint32_t n = 0;
	int rv;

	if ((rv = msg_raft_batch_open(blob, len, &o, &n, &err)) != 0) {
		proto_obj_free(&o);
		log_warnx("proposal refused: %s", err.msg);
		return rv;
	}
	if (n > sizeof(ents) / sizeof(ents[0]))
		e = xcalloc(n, sizeof(*e));
	for (uint32_t i = 0; i < n; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].type = RAFT_ENTRY_NORMAL;
		(void)msg_raft_batch_item(&o, i, &e[i].data, &e[i].len);
	}
	rv = raft_propose_batch(d->r, e, n, &first, term);
	if (rv == 0) {
		*last = first + n - 1;
		d->st.proposals += n;
	}
	if (e != ents)
		free(e);
	proto_obj_free(&o);
	return rv;
}

static void dispatch(struct raftd *d, struct waiter *w);

static uint64_t
current_term(struct raftd *d)
{
	struct raft_status st;

	raft_status(d->r, &st);
	return st.term;
}

static bool
is_leader(struct raftd *d)
{
	struct raft_status st;

	raft_status(d->r, &st);
	return st.state == RAFT_LEADER;
}

/* Runs a read index request on the leader: the lease answers at once in
 * the default mode; ?consistent (or no lease) takes a quorum round. */
static int
leader_read(struct raftd *d, struct waiter *w)
{
	uint64_t idx;
	int rv;

	if (w->num != CONS_CONSISTENT && raft_lease_read(d->r, &idx) == 0) {
		d->st.lease_reads++;
		w->index = idx;
		return 1; /* answered now */
	}
	w->id = ++d->next_req;
	rv = raft_read_index(d->r, w->id);
	return rv == 0 ? 0 : rv;
}

static void
dispatch(struct raftd *d, struct waiter *w)
{
	char leader[RW_ADDR_MAX + 1];
	struct rw_fwd f = { 0 };
	struct mpw out;
	int rv;

	if (is_leader(d)) {
		switch (w->what) {
		case MSG_RAFT_PROPOSE:
			rv = propose_batch(d, w->data, w->len, &w->index,
			    &w->term);
			if (rv != 0) {
				d->st.proposals_failed++;
				answer_local(d, w, rv, rv == -RAFT_E_BUSY ?
				    "leadership transfer in progress" : NULL,
				    0);
				return;
			}
			w->kind = W_PROPOSE;
			free(w->data);
			w->data = NULL;
			return;
		case MSG_RAFT_READ_INDEX:
			d->st.reads++;
			w->kind = W_READ;
			rv = leader_read(d, w);
			if (rv == 1)
				answer_local(d, w, 0, NULL, w->index);
			else if (rv < 0)
				answer_local(d, w, rv, NULL, 0);
			return;
		default: {
			char text[256] = "";

			rv = cluster_op(d, w->num, w->data, w->len, text,
			    sizeof(text), &w->index);
			if (rv != 0 || w->index == 0) {
				answer_local(d, w, rv, text, 0);
				return;
			}
			/* The change was appended in the current term; its
			 * commit (result()) answers. */
			w->term = current_term(d);
			w->kind = W_OP;
			return;
		}
		}
	}
	if (!node_leader_addr(d, leader, sizeof(leader))) {
		w->kind = W_HOLD;
		return;
	}
	w->kind = W_FWD;
	w->id = ++d->next_req;
	f.req_id = w->id;
	f.reply_addr = d->addr;
	f.reply_addr_len = strlen(d->addr);
	f.num = w->num;
	f.data = w->data;
	f.data_len = w->len;
	if (w->what == MSG_RAFT_PROPOSE)
		d->st.proposals_forwarded++;
	else if (w->what == MSG_RAFT_READ_INDEX)
		d->st.reads_forwarded++;
	mpw_init(&out);
	rw_fwd_enc(&out, w->what == MSG_RAFT_PROPOSE ? RW_FWD_PROPOSE :
	    w->what == MSG_RAFT_READ_INDEX ? RW_FWD_READ : RW_FWD_OP, d->id,
	    &f);
	node_send_raw(d, leader, &out);
	mpw_free(&out);
}

static void
submit(struct raftd *d, struct ipc_req *r, uint32_t what, uint32_t num,
    const void *data, size_t len)
{
	struct waiter *w = waiter_new(d, W_HOLD, what);

	w->req = r;
	w->num = num;
	w->deadline = mono_ms() + RAFTD_HOLD_MS;
	if (len > 0) {
		w->data = xmalloc(len);
		memcpy(w->data, data, len);
		w->len = len;
	}
	dispatch(d, w);
}

/* ---- the core's outcomes ---- */

void
serve_result(struct raftd *d, uint64_t index, uint64_t term, int status)
{
	struct waiter *w;

	for (w = d->waiters; w != NULL; w = w->next) {
		if (w->done || w->index != index || w->term != term ||
		    (w->kind != W_PROPOSE && w->kind != W_R_PROPOSE &&
		    w->kind != W_OP && w->kind != W_R_OP))
			continue;
		w->done = true;
		w->done_code = status != 0 ? -LE_LOST : 0;
		w->done_index = index;
	}
}

void
serve_read_done(struct raftd *d, uint64_t id, uint64_t index, int status)
{
	struct waiter *w;

	for (w = d->waiters; w != NULL; w = w->next) {
		if (w->done || w->id != id ||
		    (w->kind != W_READ && w->kind != W_R_READ))
			continue;
		w->done = true;
		w->done_code = status == -RAFT_E_NOTLEADER ? -LE_NOLEADER :
		    status;
		w->done_index = index;
	}
}

/* Answers what the core's callbacks settled. From the loop only. */
void
serve_complete(struct raftd *d)
{
	struct waiter *w, *next;

	for (w = d->waiters; w != NULL; w = next) {
		next = w->next;
		if (!w->done)
			continue;
		if (d->fault_mute_kvd && (w->kind == W_PROPOSE ||
		    w->kind == W_READ || w->kind == W_OP))
			continue;
		if (w->kind == W_R_PROPOSE || w->kind == W_R_READ ||
		    w->kind == W_R_OP)
			answer_remote(d, w, w->done_code, NULL, w->done_index);
		else
			answer_local(d, w, w->done_code,
			    w->done_code == -LE_LOST ? "leadership lost while "
			    "committing log" : NULL, w->done_index);
	}
}

/* Leadership moved: dispatch what was held, and give up on what was
 * forwarded to a leader that may be gone (a proposal may still commit:
 * its outcome is unknown, as Consul reports it). Runs from the loop, never
 * inside a core callback (dispatch calls into the core). */
void
serve_leader_changed(struct raftd *d)
{
	struct waiter *w, *next;
	char leader[RW_ADDR_MAX + 1];
	bool known = node_leader_addr(d, leader, sizeof(leader)) ||
	    is_leader(d);

	for (w = d->waiters; w != NULL; w = next) {
		next = w->next;
		if (w->done)
			continue;
		if (w->kind == W_FWD && w->what == MSG_RAFT_READ_INDEX) {
			w->kind = W_HOLD;
		} else if (w->kind == W_FWD && w->what == MSG_RAFT_OPERATOR) {
			/* Membership changes move leadership themselves (a
			 * removed server stops hearing the leader): wait for
			 * the leader's answer or the deadline. */
			continue;
		} else if (w->kind == W_FWD) {
			answer_local(d, w, -LE_LOST, "leadership lost while "
			    "committing log", 0);
			continue;
		}
		if (w->kind == W_HOLD && known)
			dispatch(d, w);
	}
	serve_fetch_check(d);
}

/* Held requests go out as soon as a leader can be reached, even when no
 * leadership change announced it (a joiner learns where the leader is
 * from greetings or the configuration after it learned who it is). */
void
serve_retry_held(struct raftd *d)
{
	struct waiter *w, *next;
	char leader[RW_ADDR_MAX + 1];

	if (!is_leader(d) && !node_leader_addr(d, leader, sizeof(leader)))
		return;
	for (w = d->waiters; w != NULL; w = next) {
		next = w->next;
		if (!w->done && w->kind == W_HOLD)
			dispatch(d, w);
	}
}

void
serve_expire(struct raftd *d)
{
	struct waiter *w, *next;
	uint64_t now = mono_ms();

	for (w = d->waiters; w != NULL; w = next) {
		next = w->next;
		if (w->done || now < w->deadline)
			continue;
		switch (w->kind) {
		case W_HOLD:
			answer_local(d, w, -LE_NOLEADER, NULL, 0);
			break;
		case W_FWD:
		case W_READ:
		case W_PROPOSE:
		case W_OP:
			answer_local(d, w, -LE_TIMEOUT, "timed out waiting "
			    "for the cluster", 0);
			break;
		default:
			answer_remote(d, w, -LE_TIMEOUT, "timed out", 0);
			break;
		}
	}
}

void
serve_fail_all(struct raftd *d, int code, const char *text)
{
	while (d->waiters != NULL) {
		struct waiter *w = d->waiters;

		if (w->kind >= W_R_PROPOSE)
			answer_remote(d, w, code, text, 0);
		else
			answer_local(d, w, code, text, 0);
	}
	if (d->fetch != NULL) {
		ipc_reply_error(d->fetch, code, "%s", text);
		d->fetch = NULL;
	}
}

/* ---- forwarded requests from followers, and the leader's replies ---- */

void
serve_fwd_in(struct raftd *d, const struct rw_msg *m)
{
	const struct rw_fwd *f = &m->u.fwd;
	struct waiter *w;
	char addr[RW_ADDR_MAX + 1];
	uint32_t rtype = m->type == RW_FWD_PROPOSE ? RW_FWD_PROPOSE_REPLY :
	    m->type == RW_FWD_READ ? RW_FWD_READ_REPLY : RW_FWD_OP_REPLY;
	char text[256] = "";
	int rv;

	snprintf(addr, sizeof(addr), "%.*s", (int)f->reply_addr_len,
	    f->reply_addr);
	if (!is_leader(d)) {
		send_fwd_reply(d, addr, rtype, f->req_id, -LE_NOLEADER,
		    0, "not the leader");
		return;
	}
	if (m->type == RW_FWD_OP && f->num == RAFT_OP_STATUS) {
		char view[RW_TEXT_MAX];
		struct raft_status st;

		raft_status(d->r, &st);
		status_text(d, view, sizeof(view));
		send_fwd_reply(d, addr, rtype, f->req_id, 0, st.commit, view);
		return;
	}
	w = waiter_new(d, m->type == RW_FWD_PROPOSE ? W_R_PROPOSE :
	    m->type == RW_FWD_READ ? W_R_READ : W_R_OP, 0);
	snprintf(w->reply_addr, sizeof(w->reply_addr), "%s", addr);
	w->num = (uint32_t)f->num;
	w->remote_id = f->req_id;
	w->peer = m->from;
	switch (m->type) {
	case RW_FWD_PROPOSE:
		rv = propose_batch(d, f->data, f->data_len, &w->index,
		    &w->term);
		if (rv != 0)
			answer_remote(d, w, rv, NULL, 0);
		return;
	case RW_FWD_READ:
		d->st.reads++;
		/* The core may settle the read inside this call; it is
		 * answered from serve_complete then. */
		rv = leader_read(d, w);
		if (rv == 1)
			answer_remote(d, w, 0, NULL, w->index);
		else if (rv < 0)
			answer_remote(d, w, rv, NULL, 0);
		return;
	default:
		rv = cluster_op(d, w->num, f->data, f->data_len, text,
		    sizeof(text), &w->index);
		if (rv != 0 || w->index == 0)
			answer_remote(d, w, rv, text, 0);
		else
			w->term = current_term(d);
		return;
	}
}

void
serve_fwd_reply_in(struct raftd *d, const struct rw_msg *m)
{
	const struct rw_fwd_reply *r = &m->u.reply;
	char text[RW_TEXT_MAX + 1];
	struct waiter *w;

	for (w = d->waiters; w != NULL; w = w->next)
		if (!w->done && w->kind == W_FWD && w->id == r->req_id)
			break;
	if (w == NULL)
		return; /* late: answered or expired already */
	if (r->code == -LE_NOLEADER && mono_ms() < w->deadline &&
	    w->what != MSG_RAFT_PROPOSE) {
		w->kind = W_HOLD; /* it was not the leader any more */
		return;
	}
	snprintf(text, sizeof(text), "%.*s", (int)r->text_len, r->text);
	if (w->what == MSG_RAFT_STATUS && r->code == 0) {
		status_reply(d, w->req, text);
		waiter_free(d, w);
		return;
	}
	answer_local(d, w, r->code, text[0] ? text : NULL, r->index);
}

/* ---- raft.fetch: the apply stream kvd pulls ---- */

static void
fetch_reply(struct raftd *d, int code, uint64_t from, uint64_t upto)
{
	struct msg_raft_fetch_reply rep = { .code = code };
	struct raft_status st;
	char path[RAFT_PATH_MAX];
	struct mpw *w;
	uint64_t n = 0, bytes = 0, i;

	raft_status(d->r, &st);
	rep.commit = st.commit;
	rep.known_leader = st.leader != 0;
	rep.last_contact_ms = st.last_contact_ms == UINT64_MAX ? 0 :
	    st.last_contact_ms;
	rep.lease_until_ms = node_lease_ms(d) ? mono_ms() +
	    node_lease_ms(d) : 0;
	if (code == -LE_SNAPSHOT) {
		snapshot_path(d, d->snap_index, path, sizeof(path));
		rep.snap_index = d->snap_index;
		rep.snap_path = path;
		rep.snap_path_len = strlen(path);
	}
	for (i = from; code == 0 && i <= upto && n < FETCH_MAX_ENTRIES &&
	    bytes < d->fetch_max; i++) {
		const struct raft_entry *e = raft_log_entry(d->r, i);

		if (e == NULL)
			break;
		bytes += e->len + 32;
		n++;
	}
	rep.n_entries = (uint32_t)n;
	w = ipc_reply_begin(d->fetch, MSG_RAFT_FETCH);
	msg_raft_fetch_reply_begin(w, &rep);
	for (i = from; i < from + n; i++) {
		const struct raft_entry *e = raft_log_entry(d->r, i);
		struct msg_raft_entry me = { e->index, e->term, e->type,
			e->data, e->len };

		msg_raft_entry_enc(w, &me);
	}
	d->st.entries_served += n;
	d->fetch_lease_sent = rep.lease_until_ms;
	d->fetch_leader_sent = rep.known_leader;
	if (d->fetch_hold_until != 0 && n > 0)
		d->st.apply_held++;
	d->fetch_hold_until = 0;
	ipc_reply_send(d->fetch);
	d->fetch = NULL;
}

/* Whether a follower's committed entries from `from` on can wait for
 * more to join them: kvd waits on none of them (no proposal or read of
 * its own was answered with an index it has not applied), so nobody is
 * answered later for it, and one wake-up of kvd per FOLLOWER_APPLY_HOLD_MS
 * instead of one per commit leaves the leader's path the CPUs (with one
 * client, each follower's kvd woke for every write: 60 us of CPU and 1.5
 * context switches a write, 2026-12-06). A stale read on a follower
 * trails by that much more; Consul's trails by up to its CommitTimeout. */
static bool
apply_can_wait(struct raftd *d, const struct raft_status *st, uint64_t from,
    uint64_t now)
{
	if (st->state == RAFT_LEADER)
		return false;
	if (d->kvd_wants >= from) {
		d->st.apply_wanted++;
		return false;
	}
	if (d->fetch_hold_until == 0)
		d->fetch_hold_until = now + FOLLOWER_APPLY_HOLD_MS;
	return now < d->fetch_hold_until;
}

/* Answers kvd's parked fetch when there is something to say: entries to
 * apply, a snapshot to load, a change in leadership or lease, or the
 * end of its wait. */
void
serve_fetch_check(struct raftd *d)
{
	struct raft_status st;
	uint64_t now, from;
	bool lease, entries;

	if (d->fetch == NULL || d->stopping || d->fault_mute_kvd)
		return;
	from = d->fetch_from;
	if (from <= d->snap_index && raft_log_entry(d->r, from) == NULL) {
		fetch_reply(d, -LE_SNAPSHOT, from, 0);
		return;
	}
	raft_status(d->r, &st);
	now = mono_ms();
	entries = from <= d->apply_upto && raft_log_entry(d->r, from) != NULL;
	if (entries && !apply_can_wait(d, &st, from, now)) {
		fetch_reply(d, 0, from, d->apply_upto);
		return;
	}
	lease = node_lease_ms(d) > 0;
	if (now >= d->fetch_deadline ||
	    (st.leader != 0) != (d->fetch_leader_sent != 0) ||
	    (lease && (d->fetch_lease_sent == 0 ||
	    d->fetch_lease_sent < now + LEASE_REFRESH_MS)) ||
	    (!lease && d->fetch_lease_sent > now))
		fetch_reply(d, 0, from, entries ? d->apply_upto : 0);
}

static void
handle_fetch(struct raftd *d, struct ipc_req *r, const struct msg_raft_fetch *f)
{
	uint64_t done = f->from - 1;

	d->st.fetches++;
	if (d->fetch != NULL) {
		/* A restarted kvd asks again; the old request is dead. */
		ipc_reply_error(d->fetch, -LE_STATE, "superseded");
		d->fetch = NULL;
	}
	d->fetch = r;
	d->fetch_from = f->from;
	d->fetch_max = f->max_bytes ? f->max_bytes : (8u << 20);
	d->fetch_deadline = mono_ms() + (f->wait_ms < 60000 ? f->wait_ms :
	    60000);
	if (done > d->apply_upto)
		done = d->apply_upto;
	if (done > d->kvd_applied) {
		d->kvd_applied = done;
		raft_applied(d->r, done);
	}
	serve_fetch_check(d);
}

/* ---- raft.status ---- */

/* The last index the leader knows for a server: ours, or a follower's
 * match. */
static uint64_t
server_last_index(struct raftd *d, const struct raft_server *s,
    const struct raft_status *st)
{
	uint64_t match, contact;

	if (s->id == d->id)
		return st->last_index;
	if (raft_progress(d->r, s->id, &match, &contact) == 0)
		return match;
	return 0;
}

/* "<uuid>=<last index> ..." for a follower asking for the leader's view. */
static void
status_text(struct raftd *d, char *out, size_t len)
{
	struct raft_status st;
	struct raft_config c;
	size_t off = 0;

	raft_status(d->r, &st);
	raft_config_get(d->r, false, &c);
	out[0] = '\0';
	for (uint32_t i = 0; i < c.n; i++) {
		char uuid[64];
		int n;

		node_server_uuid(&c.servers[i], uuid, sizeof(uuid));
		n = snprintf(out + off, len - off, "%s%s=%llu", off ? " " : "",
		    uuid, (unsigned long long)server_last_index(d,
		    &c.servers[i], &st));
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

/* Answers raft.status. With leader_view (a follower's, from the leader)
 * the last indexes come from there; otherwise from what this server
 * knows (exact on the leader). */
static void
status_reply(struct raftd *d, struct ipc_req *r, const char *leader_view)
{
	struct msg_raft_status_reply *rep = xcalloc(1, sizeof(*rep));
	static char ids[RAFT_MAX_SERVERS][64], nodes[RAFT_MAX_SERVERS][128],
	    addrs[RAFT_MAX_SERVERS][RW_ADDR_MAX + 1];
	char lid[64] = "", laddr[RW_ADDR_MAX + 1] = "";
	struct raft_status st;
	struct raft_config c;

	raft_status(d->r, &st);
	raft_config_get(d->r, false, &c);
	rep->state = raft_state_name(st.state);
	rep->state_len = strlen(rep->state);
	rep->term = st.term;
	rep->commit = st.commit;
	rep->applied = d->kvd_applied;
	rep->last_index = st.last_index;
	rep->known_leader = st.leader != 0;
	rep->last_contact_ms = st.last_contact_ms == UINT64_MAX ? 0 :
	    st.last_contact_ms;
	for (uint32_t i = 0; i < c.n && i < RAFT_MAX_SERVERS; i++) {
		struct msg_raft_server *s = &rep->servers[i];

		node_server_uuid(&c.servers[i], ids[i], sizeof(ids[i]));
		node_server_name(&c.servers[i], nodes[i], sizeof(nodes[i]));
		node_server_addr(&c.servers[i], addrs[i], sizeof(addrs[i]));
		s->id = ids[i];
		s->id_len = strlen(ids[i]);
		s->node = nodes[i];
		s->node_len = strlen(nodes[i]);
		s->address = addrs[i];
		s->address_len = strlen(addrs[i]);
		s->voter = c.servers[i].role == RAFT_VOTER;
		s->last_index = server_last_index(d, &c.servers[i], &st);
		if (leader_view != NULL) {
			const char *p = strstr(leader_view, ids[i]);

			s->last_index = 0;
			if (p != NULL && p[s->id_len] == '=')
				s->last_index = strtoull(p + s->id_len + 1,
				    NULL, 10);
		}
		if (c.servers[i].id == st.leader) {
			snprintf(lid, sizeof(lid), "%s", ids[i]);
			snprintf(laddr, sizeof(laddr), "%s", addrs[i]);
		}
		rep->n_servers++;
	}
	rep->leader_id = lid;
	rep->leader_id_len = strlen(lid);
	rep->leader_addr = laddr;
	rep->leader_addr_len = strlen(laddr);
	if (st.leader != 0 && laddr[0] == '\0')
		rep->known_leader = false;
	msg_raft_status_reply_enc(ipc_reply_begin(r, MSG_RAFT_STATUS), rep);
	ipc_reply_send(r);
	free(rep);
}

/* raft.status: arg "stale" answers from this server; otherwise a
 * follower asks the leader for its view of the servers' logs, as Consul
 * forwards /v1/operator/raft/configuration to the leader. */
static void
handle_status(struct raftd *d, struct ipc_req *r, bool stale)
{
	char leader[RW_ADDR_MAX + 1];
	struct waiter *w;
	struct rw_fwd f = { 0 };
	struct mpw out;

	if (stale || is_leader(d) ||
	    !node_leader_addr(d, leader, sizeof(leader))) {
		status_reply(d, r, NULL);
		return;
	}
	w = waiter_new(d, W_FWD, MSG_RAFT_STATUS);
	w->req = r;
	w->id = ++d->next_req;
	w->deadline = mono_ms() + RAFTD_HOLD_MS;
	f.req_id = w->id;
	f.reply_addr = d->addr;
	f.reply_addr_len = strlen(d->addr);
	f.num = RAFT_OP_STATUS;
	mpw_init(&out);
	rw_fwd_enc(&out, RW_FWD_OP, d->id, &f);
	node_send_raw(d, leader, &out);
	mpw_free(&out);
}

/* Our own leave: the leader removes us from the configuration (we may be
 * it); the last server has nothing to leave. httpd then has gossipd leave
 * the pools, and gossipd stops the agent. */
static void
handle_leave(struct raftd *d, struct ipc_req *r)
{
	struct raft_config c;
	struct waiter *w;

	raft_config_get(d->r, false, &c);
	d->leaving = true;
	if (raft_config_find(&c, d->id) == NULL || c.n <= 1) {
		reply_op(r, 0, NULL);
		return;
	}
	submit(d, r, MSG_RAFT_OPERATOR, RAFT_OP_REMOVE_PEER, d->cfg.node_id,
	    strlen(d->cfg.node_id));
	for (w = d->waiters; w != NULL; w = w->next)
		if (w->req == r)
			w->leave = true;
}

void
serve_handle(void *arg, struct ipc_req *r)
{
	struct raftd *d = arg;
	struct lerr e;

	if (d->stopping) {
		ipc_reply_error(r, -LE_UNAVAIL, "raftd is stopping");
		return;
	}
	switch (r->msg.type) {
	case MSG_RAFT_PROPOSE: {
		struct msg_raft_propose p;

		if (msg_raft_propose_dec(&r->msg, &p, &e) != 0)
			fatalx("raft.propose: %s", e.msg);
		submit(d, r, MSG_RAFT_PROPOSE, 0, p.data, p.data_len);
		break;
	}
	case MSG_RAFT_READ_INDEX: {
		struct msg_raft_read_index q;

		if (msg_raft_read_index_dec(&r->msg, &q, &e) != 0)
			fatalx("raft.read_index: %s", e.msg);
		submit(d, r, MSG_RAFT_READ_INDEX, q.consistency, NULL, 0);
		break;
	}
	case MSG_RAFT_FETCH: {
		struct msg_raft_fetch f;

		if (msg_raft_fetch_dec(&r->msg, &f, &e) != 0)
			fatalx("raft.fetch: %s", e.msg);
		handle_fetch(d, r, &f);
		break;
	}
	case MSG_RAFT_STATUS: {
		struct msg_admin_req none;

		if (msg_admin_req_dec(&r->msg, &none, &e) != 0)
			fatalx("raft.status: %s", e.msg);
		handle_status(d, r, none.arg_len == 5 &&
		    memcmp(none.arg, "stale", 5) == 0);
		break;
	}
	case MSG_RAFT_OPERATOR: {
		struct msg_raft_operator o;

		if (msg_raft_operator_dec(&r->msg, &o, &e) != 0)
			fatalx("raft.operator: %s", e.msg);
		if (o.op == RAFT_OP_LEAVE) {
			handle_leave(d, r);
			break;
		}
		submit(d, r, MSG_RAFT_OPERATOR, o.op, o.arg, o.arg_len);
		break;
	}
	case MSG_RAFT_KV_FORWARD: {
		struct msg_raft_kv_forward f;

		if (msg_raft_kv_forward_dec(&r->msg, &f, &e) != 0)
			fatalx("raft.kv_forward: %s", e.msg);
		kvfwd_handle(d, r, &f);
		break;
	}
	default:
		fatalx("unexpected %s on raft.sock",
		    proto_type_name(r->msg.type));
	}
}
