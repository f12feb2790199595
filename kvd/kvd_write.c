/* kvd_write.c: the write path. A write from httpd is checked, wrapped as
 * a state machine command tagged with (our boot id, a sequence number)
 * and proposed to raftd. It is answered when kvd applies the entry that
 * carries it (kvd_raft.c), with Consul's result for it, after the batch
 * holding it is committed; or with an error if raftd says the proposal
 * failed. The order of the two (raftd's reply, the apply) does not
 * matter: the pending write lives until both have happened. */
#include "kvd.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define PROPOSE_TIMEOUT_MS 10000
/* A committed write not applied within this long is answered with an
 * error (raftd will still hand it over; the client just stops waiting). */
#define APPLY_TIMEOUT_MS 30000
#define TOMBSTONE_GRANULARITY_MS 30000

struct pending_write {
	struct pending_write *next, *prev;
	struct kvd *k;
	struct ipc_req *req;	/* NULL once answered */
	uint64_t seq;
	uint64_t since_ms;
	bool linked;		/* on k's pending list */
	bool reply_seen;	/* raftd answered the proposal */
	bool applied;		/* applied; answer at the next flush */
	bool result;
	int code;
	uint64_t index;
};

static void
reply_write(struct ipc_req *r, int code, const char *text, bool result,
    uint64_t index)
{
	struct msg_kv_write_reply rep = { code, text, text ? strlen(text) : 0,
		result, index };

	msg_kv_write_reply_enc(ipc_reply_begin(r, MSG_KV_WRITE), &rep);
	ipc_reply_send(r);
}

static void
pw_unlink(struct kvd *k, struct pending_write *pw)
{
	if (!pw->linked)
		return;
	if (pw->prev != NULL)
		pw->prev->next = pw->next;
	else
		k->pw_head = pw->next;
	if (pw->next != NULL)
		pw->next->prev = pw->prev;
	else
		k->pw_tail = pw->prev;
	pw->linked = false;
	k->npending--;
}

/* Answers (once) and frees when raftd's reply has been seen too. */
static void
pw_answer(struct kvd *k, struct pending_write *pw, int code,
    const char *text)
{
	if (pw->req != NULL) {
		if (code == 0)
			reply_write(pw->req, 0, NULL, pw->result, pw->index);
		else
			reply_write(pw->req, code, text ? text :
			    le_strerror(code), false, 0);
		pw->req = NULL;
	}
	pw_unlink(k, pw);
	if (pw->reply_seen)
		free(pw);
}

static void
on_propose_reply(void *arg, int rv, struct proto_msg *m)
{
	struct pending_write *pw = arg;
	struct kvd *k = pw->k;
	struct msg_raft_index_reply rep;
	struct lerr e;

	pw->reply_seen = true;
	if (!pw->linked) {
		free(pw); /* answered already */
		return;
	}
	if (rv == 0 && m->type == (MSG_ERROR | PROTO_REPLY)) {
		struct msg_error me;

		if (msg_error_dec(m, &me, &e) != 0)
			fatalx("raft.propose: bad error reply: %s", e.msg);
		k->st.propose_errors++;
		pw_answer(k, pw, me.code, NULL);
		return;
	}
	if (rv == 0 && msg_raft_index_reply_dec(m, &rep, &e) != 0)
		fatalx("raft.propose reply from raftd: %s", e.msg);
	if (rv != 0 || rep.code != 0) {
		int code = rv != 0 ? rv : rep.code;

		k->st.propose_errors++;
		if (code == -LE_CLOSED || code == -LE_MALFORMED)
			code = -LE_UNAVAIL;
		pw_answer(k, pw, code, rv != 0 ? "raftd is not available" :
		    NULL);
		return;
	}
	/* Committed at rep.index: the apply answers it, unless it already
	 * went by without our command in it. */
	if (kv_state_applied(k->kv) >= rep.index && !pw->applied) {
		log_warnx("proposal %llu committed at %llu but not applied "
		    "there", (unsigned long long)pw->seq,
		    (unsigned long long)rep.index);
		pw_answer(k, pw, -LE_LOST, NULL);
	}
}

static void
propose(struct kvd *k, const struct msg_kv_write *w, struct pending_write *pw)
{
	struct msg_sm_cmd cmd = { .type = SMC_KV, .kv = *w };
	struct ipc_call *call;
	struct mpw data;
	struct mpw *out;

	cmd.origin = pw != NULL ? k->boot : 0;
	cmd.seq = pw != NULL ? pw->seq : 0;
	mpw_init(&data);
	msg_sm_cmd_enc(&data, &cmd);
	call = ipc_call_new(k->raft, MSG_RAFT_PROPOSE);
	out = ipc_call_writer(call);
	mpw_array(out, 1);
	mpw_bin(out, mpw_data(&data), mpw_len(&data));
	mpw_free(&data);
	k->st.proposals++;
	if (pw != NULL)
		ipc_call_send_loop(call, PROPOSE_TIMEOUT_MS, k->loop,
		    on_propose_reply, pw);
	else
		ipc_call_send_loop(call, PROPOSE_TIMEOUT_MS, k->loop,
		    NULL, NULL);
}

void
kvd_write(struct kvd *k, struct ipc_req *r, const struct msg_kv_write *w)
{
	struct pending_write *pw;

	k->st.writes++;
	if (w->session != NULL) {
		reply_write(r, -LE_UNSUPPORTED,
		    "sessions are not supported yet", false, 0);
		return;
	}
	if (w->op == KVW_TOMBSTONE_REAP) {
		reply_write(r, -LE_PERM, "tombstone reaping is internal",
		    false, 0);
		return;
	}
	if (w->key_len == 0 && w->op != KVW_DELETE_TREE) {
		reply_write(r, -LE_INVAL, "Missing key name", false, 0);
		return;
	}
	if (w->key_len > KV_MAX_KEY) {
		reply_write(r, -LE_INVAL, "Key too long", false, 0);
		return;
	}
	if (w->value_len > (uint64_t)k->cfg.kv_max_value_size) {
		reply_write(r, -LE_TOOBIG, "Value exceeds limit", false, 0);
		return;
	}
	pw = xcalloc(1, sizeof(*pw));
	pw->k = k;
	pw->req = r;
	pw->seq = ++k->seq;
	pw->since_ms = loop_now_ms(k->loop);
	pw->linked = true;
	pw->prev = k->pw_tail;
	if (k->pw_tail != NULL)
		k->pw_tail->next = pw;
	else
		k->pw_head = pw;
	k->pw_tail = pw;
	k->npending++;
	propose(k, w, pw);
}

void
kvd_propose_internal(struct kvd *k, const struct msg_kv_write *w)
{
	propose(k, w, NULL);
}

void
kvd_write_applied(struct kvd *k, uint64_t seq, uint64_t index, int code,
    bool result)
{
	struct pending_write *pw;

	/* Applied in proposal order almost always: the head matches. */
	for (pw = k->pw_head; pw != NULL; pw = pw->next)
		if (pw->seq == seq)
			break;
	if (pw == NULL || pw->applied)
		return; /* answered already (timed out), or a duplicate */
	pw->applied = true;
	pw->index = index;
	pw->result = result;
	pw->code = code;
}

void
kvd_writes_flush(struct kvd *k)
{
	struct pending_write *pw, *next;
	uint64_t now = loop_now_ms(k->loop);

	for (pw = k->pw_head; pw != NULL; pw = next) {
		next = pw->next;
		if (pw->applied)
			pw_answer(k, pw, pw->code, NULL);
		else if (now - pw->since_ms > APPLY_TIMEOUT_MS)
			pw_answer(k, pw, -LE_TIMEOUT,
			    "timed out waiting for the write to apply");
	}
	for (size_t i = 0; i < k->ntouched; i++) {
		kv_watch_touched(k->watch, k->touched[i],
		    strlen(k->touched[i]));
		free(k->touched[i]);
	}
	k->ntouched = 0;
}

void
kvd_writes_fail_all(struct kvd *k, int code, const char *text)
{
	while (k->pw_head != NULL)
		pw_answer(k, k->pw_head, code, text);
}

void
kvd_mark_tombstones(struct kvd *k, uint64_t index)
{
	uint64_t now = loop_now_ms(k->loop);

	/* Coalesce marks within the granularity, as Consul does. */
	if (k->nmarks > 0 && now - k->marks[k->nmarks - 1].at_ms <
	    TOMBSTONE_GRANULARITY_MS) {
		k->marks[k->nmarks - 1].index = index;
		return;
	}
	if (k->nmarks == k->cap_marks) {
		size_t cap = k->cap_marks ? k->cap_marks * 2 : 16;

		k->marks = xrealloc(k->marks, cap * sizeof(k->marks[0]));
		k->cap_marks = cap;
	}
	k->marks[k->nmarks].index = index;
	k->marks[k->nmarks].at_ms = now;
	k->nmarks++;
}

/* Once a tombstone has outlived tombstone_ttl it can go: blocking
 * queries older than that must have returned by now (max wait is 10
 * minutes, the TTL 15). Reaping is a command like any write, proposed by
 * whichever server's clock says so; a repeat is harmless. Also times out
 * writes that committed but never came back applied. */
void
kvd_cron(void *arg)
{
	struct kvd *k = arg;
	uint64_t now = loop_now_ms(k->loop), bound = 0;
	size_t drop = 0;

	while (drop < k->nmarks && now - k->marks[drop].at_ms >=
	    (uint64_t)k->cfg.tombstone_ttl_ms)
		bound = k->marks[drop++].index;
	if (drop > 0) {
		struct msg_kv_write w = { .op = KVW_TOMBSTONE_REAP,
			.key = "", .index = bound };

		memmove(k->marks, k->marks + drop,
		    (k->nmarks - drop) * sizeof(k->marks[0]));
		k->nmarks -= drop;
		kvd_propose_internal(k, &w);
		k->st.reaps++;
		log_debug("reaping tombstones up to index %llu",
		    (unsigned long long)bound);
	}
	if (k->pw_head != NULL && now - k->pw_head->since_ms >
	    APPLY_TIMEOUT_MS)
		kvd_writes_flush(k);
	loop_timer_arm(k->cron, 1000);
}
