/* kvd_raft.c: kvd under raftd.
 *
 * The apply loop: kvd keeps one raft.fetch outstanding, asking for the
 * committed entries after its applied index. raftd answers when there are
 * some (or after a second, or when leadership moves). kvd applies them in
 * one batch, persists the applied index in the same batch, then answers
 * the writes and wakes the blocking queries the batch touched, and asks
 * again. Since kvd always asks from its own durable applied index, every
 * entry is applied exactly once, in order, across restarts of either
 * daemon. The batch needs no fsync: raftd's log is the durable copy, and a
 * kvd that lost its tail re-fetches it.
 *
 * Reads: ?stale reads answer from local state. Default reads answer from
 * local state while raftd says this server leads under a valid lease;
 * otherwise, and for ?consistent, kvd asks raftd for a read index (the
 * leader's commit index, confirmed as Consul's modes require) and answers
 * once it has applied that far. */
#include "kvd.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define FETCH_WAIT_MS 1000
#define FETCH_MAX_BYTES (8u << 20)
#define FETCH_RPC_SLACK_MS 5000
#define FETCH_RETRY_MS 100
#define READ_INDEX_TIMEOUT_MS 10000
#define READ_WAIT_TIMEOUT_MS 10000

struct read_wait {
	struct read_wait *next;
	struct kvd *k;
	struct ipc_req *req;	/* NULL once cancelled (answered already) */
	bool catalog;		/* which of the two reads */
	struct msg_kv_read q;	/* borrow from req's message */
	struct msg_cat_read cq;
	uint64_t index;		/* serve once applied >= index */
	uint64_t since_ms;
	uint32_t consistency;
	uint64_t hold_until;	/* waiting for raftd to come back */
	bool asked;		/* a raft.read_index call is out */
	bool indexed;		/* raftd has answered with an index */
};

static void send_read_index(struct kvd *k, struct read_wait *w);

static void
touched_cb(void *arg, const char *key, size_t klen)
{
	struct kvd *k = arg;
	char *copy;

	if (k->ntouched == k->cap_touched) {
		size_t cap = k->cap_touched ? k->cap_touched * 2 : 64;

		k->touched = xrealloc(k->touched, cap * sizeof(*k->touched));
		k->cap_touched = cap;
	}
	copy = xmalloc(klen + 1);
	memcpy(copy, key, klen);
	copy[klen] = '\0';
	k->touched[k->ntouched++] = copy;
}

static void
cat_touched_cb(void *arg, int topic, const char *lcnode, size_t len)
{
	struct kvd *k = arg;
	struct cat_touched *t;

	if (k->nctouched == k->cap_ctouched) {
		size_t cap = k->cap_ctouched ? k->cap_ctouched * 2 : 16;

		k->ctouched = xrealloc(k->ctouched, cap * sizeof(*t));
		k->cap_ctouched = cap;
	}
	t = &k->ctouched[k->nctouched++];
	t->topic = topic;
	t->lcnode = xstrndup(lcnode, len);
	t->len = len;
}

/* Wakes the catalog queries the committed batch touched. */
static void
cat_touched_flush(struct kvd *k)
{
	for (size_t i = 0; i < k->nctouched; i++) {
		cat_watch_touch(k->cwatch, k->ctouched[i].topic,
		    k->ctouched[i].lcnode, k->ctouched[i].len);
		free(k->ctouched[i].lcnode);
	}
	k->nctouched = 0;
}

/* A catalog command: the state's verdict, the applied index moved either
 * way (a refusal is the same on every replica). */
static void
apply_catalog(struct kvd *k, const struct msg_raft_entry *ent,
    const struct msg_sm_cmd *cmd)
{
	struct lerr e = { "" };
	int rv;

	if (cmd->type == SMC_CATALOG_REGISTER)
		rv = cat_apply_register(k->cat, kv_state_batch(k->kv),
		    ent->index, &cmd->reg, cat_touched_cb, k, &e);
	else
		rv = cat_apply_deregister(k->cat, kv_state_batch(k->kv),
		    ent->index, &cmd->dereg, cat_touched_cb, k, &e);
	if (rv != 0 && rv != -LE_INVAL)
		fatalx("apply %llu: %s", (unsigned long long)ent->index,
		    le_strerror(rv));
	if (kv_apply_noop(k->kv, ent->index) != 0)
		fatalx("apply %llu failed", (unsigned long long)ent->index);
	if (rv != 0) {
		k->st.cat_refused++;
		log_debug("entry %llu: %s", (unsigned long long)ent->index,
		    e.msg);
	}
	if (cmd->origin == k->boot && cmd->seq != 0)
		kvd_write_applied(k, cmd->seq, ent->index, rv, rv == 0,
		    rv != 0 ? e.msg : NULL);
	k->st.entries_applied++;
}

/* Applies one command entry into the open batch. Every replica reaches
 * the same verdict on the same bytes, so a command that cannot apply
 * (undecodable, invalid) still consumes its index as a no-op. */
static void
apply_command(struct kvd *k, const struct msg_raft_entry *ent)
{
	struct proto_obj o;
	struct msg_sm_cmd cmd;
	struct kv_cmd kc;
	struct lerr e;
	bool result = false;
	int rv;

	if (proto_obj_decode(ent->data, ent->data_len, &o, &e) != 0 ||
	    msg_sm_cmd_dec(o.root, &cmd, &e) != 0) {
		log_warnx("entry %llu: %s; skipped",
		    (unsigned long long)ent->index, e.msg);
		k->st.bad_entries++;
		proto_obj_free(&o);
		if ((rv = kv_apply_noop(k->kv, ent->index)) != 0)
			fatalx("apply %llu: %s", (unsigned long long)ent->index,
			    le_strerror(rv));
		return;
	}
	if (cmd.type != SMC_KV) {
		apply_catalog(k, ent, &cmd);
		proto_obj_free(&o);
		return;
	}
	kc = (struct kv_cmd){
		.op = (enum kv_op)cmd.kv.op, .key = cmd.kv.key,
		.key_len = cmd.kv.key_len, .value = cmd.kv.value,
		.value_len = cmd.kv.value_len, .flags = cmd.kv.flags,
		.index = cmd.kv.index,
	};
	rv = kv_apply(k->kv, ent->index, &kc, &result, touched_cb, k);
	if (rv == -LE_INVAL || rv == -LE_TOOBIG || rv == -LE_RANGE) {
		k->st.bad_entries++;
		if (kv_apply_noop(k->kv, ent->index) != 0)
			fatalx("apply %llu failed",
			    (unsigned long long)ent->index);
	} else if (rv != 0) {
		/* The store failed: restart and fetch again from the last
		 * committed index. */
		fatalx("apply %llu: %s", (unsigned long long)ent->index,
		    le_strerror(rv));
	} else if (kc.op == KV_OP_DELETE || kc.op == KV_OP_DELETE_CAS ||
	    kc.op == KV_OP_DELETE_TREE) {
		k->tombstoned = true;
	}
	if (cmd.origin == k->boot && cmd.seq != 0)
		kvd_write_applied(k, cmd.seq, ent->index, rv == 0 ? 0 : rv,
		    result, NULL);
	k->st.entries_applied++;
	proto_obj_free(&o);
}

static void
read_waits_check(struct kvd *k)
{
	struct read_wait **pp = &k->rw_head, *w;
	uint64_t applied = kv_state_applied(k->kv);
	uint64_t now = loop_now_ms(k->loop);

	while ((w = *pp) != NULL) {
		if (w->indexed && w->req == NULL) {
			*pp = w->next;	/* cancelled while it waited */
			k->nreadwait--;
			free(w);
		} else if (w->indexed && w->index <= applied) {
			*pp = w->next;
			k->nreadwait--;
			/* served or parked: either replaces the hook */
			if (w->catalog)
				cat_serve_read(k, w->req, &w->cq);
			else
				kvd_serve_read(k, w->req, &w->q);
			free(w);
		} else if (w->indexed && now - w->since_ms >
		    READ_WAIT_TIMEOUT_MS) {
			*pp = w->next;
			k->nreadwait--;
			ipc_reply_error(w->req, -LE_TIMEOUT,
			    "timed out waiting to apply index %llu",
			    (unsigned long long)w->index);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

static void
note_leadership(struct kvd *k, bool known, uint64_t last_contact,
    uint64_t lease_until_ms)
{
	uint64_t now = loop_now_ms(k->loop);

	k->known_leader = known;
	k->last_contact_ms = last_contact;
	k->contact_at_ms = now;
	k->lease_until_ms = lease_until_ms;
}

/* The live clock, not the loop's cached one: a lease must never look
 * longer than it is. */
bool
kvd_lease_valid(struct kvd *k)
{
	return k->lease_until_ms != 0 && mono_ms() < k->lease_until_ms;
}

uint64_t
kvd_last_contact(struct kvd *k)
{
	if (kvd_lease_valid(k) || k->last_contact_ms == 0)
		return 0;
	return k->last_contact_ms + (loop_now_ms(k->loop) - k->contact_at_ms);
}

static void
on_fetch_reply(void *arg, int rv, struct proto_msg *m)
{
	struct kvd *k = arg;
	struct msg_raft_fetch_reply rep;
	struct msg_raft_entry ent;
	struct lerr e;
	uint64_t applied;
	int n = 0;

	k->fetching = false;
	k->st.fetches++;
	if (rv != 0) {
		/* raftd is restarting: no leader as far as we know. */
		note_leadership(k, false, 0, 0);
		loop_timer_arm(k->fetch_retry, FETCH_RETRY_MS);
		return;
	}
	if (m->type == (MSG_ERROR | PROTO_REPLY)) {
		/* raftd is stopping, or took a newer fetch of ours: ask
		 * again shortly. */
		loop_timer_arm(k->fetch_retry, FETCH_RETRY_MS);
		return;
	}
	if (msg_raft_fetch_reply_dec(m, &rep, &e) != 0)
		fatalx("raft.fetch reply from raftd is malformed: %s", e.msg);
	note_leadership(k, rep.known_leader, rep.last_contact_ms,
	    rep.lease_until_ms);
	if (rep.commit > k->commit_seen)
		k->commit_seen = rep.commit;
	if (rep.code == -LE_SNAPSHOT) {
		char path[RAFT_PATH_MAX + 1];
		uint64_t idx;

		if (rep.snap_path_len == 0 || rep.snap_path_len >= sizeof(path))
			fatalx("raft.fetch: bad snapshot path");
		memcpy(path, rep.snap_path, rep.snap_path_len);
		path[rep.snap_path_len] = '\0';
		if (kv_snapshot_restore(k, path, &idx, &e) != 0)
			fatalx("%s", e.msg);
		k->st.snapshots_restored++;
		/* Every parked query may have changed. */
		kv_watch_touched(k->watch, "", 0);
		for (size_t i = 0; i < k->nctouched; i++)
			free(k->ctouched[i].lcnode);
		k->nctouched = 0;
		cat_watch_touch_all(k->cwatch);
		read_waits_check(k);
		cat_rc_kick(k->rc);
		kvd_fetch(k);
		return;
	}
	if (rep.code != 0) {
		log_warnx("raft.fetch: %.*s", (int)rep.text_len, rep.text);
		loop_timer_arm(k->fetch_retry, FETCH_RETRY_MS);
		return;
	}
	if (rep.n_entries > 0) {
		if ((rv = kv_batch_begin(k->kv)) != 0)
			fatalx("batch: %s", le_strerror(rv));
		for (uint32_t i = 0; i < rep.n_entries; i++) {
			if (msg_raft_entry_dec(&rep.entries[i], &ent) != 0)
				fatalx("raft.fetch: malformed entry %u", i);
			applied = kv_state_applied(k->kv);
			if (ent.index <= applied)
				continue; /* a repeat after a restart */
			if (ent.index != applied + 1)
				fatalx("raft.fetch: entry %llu after %llu",
				    (unsigned long long)ent.index,
				    (unsigned long long)applied);
			if (ent.type == RAFT_ENT_COMMAND)
				apply_command(k, &ent);
			else if ((rv = kv_apply_noop(k->kv, ent.index)) != 0)
				fatalx("apply %llu: %s",
				    (unsigned long long)ent.index,
				    le_strerror(rv));
			n++;
		}
		if ((rv = kv_batch_commit(k->kv, false)) != 0)
			fatalx("commit of %d entries: %s", n, le_strerror(rv));
		if (k->tombstoned)
			kvd_mark_tombstones(k, kv_state_applied(k->kv));
		k->tombstoned = false;
		k->st.batches++;
		if ((uint64_t)n > k->st.batch_max)
			k->st.batch_max = (uint64_t)n;
	}
	kvd_writes_flush(k);
	cat_touched_flush(k);
	read_waits_check(k);
	cat_rc_kick(k->rc);
	/* The next fetch goes after this turn's replies: sending it now
	 * would wake raftd (a costly cross-CPU wake-up in a VM) before the
	 * writes just applied are answered. loop_defer keeps order, and the
	 * replies' flush was deferred first. */
	loop_defer(k->loop, kvd_fetch_retry, k);
}

void
kvd_fetch(struct kvd *k)
{
	struct msg_raft_fetch f = {
		.from = kv_state_applied(k->kv) + 1,
		.max_bytes = FETCH_MAX_BYTES,
		.wait_ms = FETCH_WAIT_MS,
	};
	struct ipc_call *call;

	if (k->fetching)
		return;
	k->fetching = true;
	call = ipc_call_new(k->raft, MSG_RAFT_FETCH);
	msg_raft_fetch_enc(ipc_call_writer(call), &f);
	ipc_call_send_loop(call, FETCH_WAIT_MS + FETCH_RPC_SLACK_MS, k->loop,
	    on_fetch_reply, k);
}

void
kvd_fetch_retry(void *arg)
{
	kvd_fetch(arg);
}

static void
on_read_index(void *arg, int rv, struct proto_msg *m)
{
	struct read_wait *w = arg, **pp;
	struct kvd *k = w->k;
	struct msg_raft_index_reply rep = { 0 };
	struct lerr e;
	int code;

	if (rv == 0 && m->type == (MSG_ERROR | PROTO_REPLY)) {
		struct msg_error me;

		if (msg_error_dec(m, &me, &e) != 0)
			fatalx("raft.read_index: bad error reply: %s", e.msg);
		rep.code = me.code != 0 ? me.code : -LE_UNAVAIL;
	} else if (rv == 0 && msg_raft_index_reply_dec(m, &rep, &e) != 0) {
		fatalx("raft.read_index reply from raftd: %s", e.msg);
	}
	w->asked = false;
	code = rv != 0 ? -LE_UNAVAIL : rep.code;
	if (code == 0) {
		w->indexed = true;
		w->index = rep.index;
		w->since_ms = loop_now_ms(k->loop);
		read_waits_check(k);
		return;
	}
	if (rv == -LE_UNAVAIL && w->req != NULL) {
		/* raftd went away: a read can simply be asked again once it
		 * is back; the hold timer does (kvd_read_waits_hold). */
		if (w->hold_until == 0) {
			w->hold_until = loop_now_ms(k->loop) + RAFTD_HOLD_MS;
			k->st.reads_held++;
		}
		kvd_hold_arm(k);
		return;
	}
	for (pp = &k->rw_head; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	k->nreadwait--;
	if (w->req == NULL)
		;		/* cancelled: answered already */
	else if (code == -LE_NOLEADER)
		ipc_reply_error(w->req, code, "No cluster leader");
	else
		ipc_reply_error(w->req, code, "%s", rv != 0 ?
		    "raftd is not available" : le_strerror(code));
	free(w);
}

/* Asks raftd for w's read index, or, while raftd is down (restarting),
 * holds w for up to RAFTD_HOLD_MS: the hold timer asks again. */
static void
send_read_index(struct kvd *k, struct read_wait *w)
{
	struct msg_raft_read_index ri = { .consistency = w->consistency };
	struct ipc_call *call;

	if (ipc_client_peers(k->raft) == 0) {
		if (w->hold_until == 0) {
			w->hold_until = loop_now_ms(k->loop) + RAFTD_HOLD_MS;
			k->st.reads_held++;
		}
		kvd_hold_arm(k);
		return;
	}
	/* Sent: should raftd go away again, a new hold starts. */
	w->hold_until = 0;
	w->asked = true;
	k->st.read_index_calls++;
	call = ipc_call_new(k->raft, MSG_RAFT_READ_INDEX);
	msg_raft_read_index_enc(ipc_call_writer(call), &ri);
	ipc_call_send_loop(call, READ_INDEX_TIMEOUT_MS, k->loop, on_read_index,
	    w);
}

/* The hold timer's part for reads: the held ones are asked again once
 * raftd is back, fail past their hold, and go if cancelled. */
void
kvd_read_waits_hold(struct kvd *k)
{
	struct read_wait **pp = &k->rw_head, *w;
	uint64_t now = loop_now_ms(k->loop);

	while ((w = *pp) != NULL) {
		if (w->indexed || w->asked || w->hold_until == 0) {
			pp = &w->next;
			continue;
		}
		if (w->req != NULL && now < w->hold_until) {
			send_read_index(k, w);
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		k->nreadwait--;
		if (w->req != NULL) {
			k->st.reads_expired++;
			ipc_reply_error(w->req, -LE_UNAVAIL,
			    "raftd is not available");
		}
		free(w);
	}
}

/* httpd's client hung up on a blocking query still waiting for its read
 * index: answered now; the wait stays until raftd's answer frees it. */
static void
read_wait_cancel(void *arg, struct ipc_req *r)
{
	struct read_wait *w = arg;

	w->k->st.canceled++;
	w->req = NULL;
	ipc_reply_canceled(r);
}

static void
ask_read_index(struct kvd *k, struct read_wait *w, uint32_t consistency)
{
	w->since_ms = loop_now_ms(k->loop);
	w->consistency = consistency;
	w->next = k->rw_head;
	k->rw_head = w;
	k->nreadwait++;
	if (w->catalog ? w->cq.min_index > 0 : w->q.min_index > 0)
		ipc_req_on_cancel(w->req, read_wait_cancel, w);
	send_read_index(k, w);
}

void
kvd_ask_read_index(struct kvd *k, struct ipc_req *r,
    const struct msg_kv_read *q)
{
	struct read_wait *w = xcalloc(1, sizeof(*w));

	w->k = k;
	w->req = r;
	w->q = *q;
	ask_read_index(k, w, q->consistency);
}

void
kvd_ask_read_index_cat(struct kvd *k, struct ipc_req *r,
    const struct msg_cat_read *q)
{
	struct read_wait *w = xcalloc(1, sizeof(*w));

	w->k = k;
	w->req = r;
	w->catalog = true;
	w->cq = *q;
	ask_read_index(k, w, q->consistency);
}

void
kvd_read_waits_fail(struct kvd *k, int code, const char *text)
{
	struct read_wait **pp = &k->rw_head, *w;

	/* Only those raftd has answered, or held for it: the others'
	 * calls still hold them and fail on their own. */
	while ((w = *pp) != NULL) {
		if (!w->indexed && w->asked) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		k->nreadwait--;
		if (w->req != NULL)
			ipc_reply_error(w->req, code, "%s", text);
		free(w);
	}
}
