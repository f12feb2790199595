/* kvd_write.c: the write path. A write from httpd is checked, wrapped as
 * a state machine command tagged with (our boot id, a sequence number)
 * and proposed to raftd; the writes of one loop turn go in one proposal
 * (a batch of entries: one message each way instead of one per write).
 * A write is answered when kvd applies the entry that carries it
 * (kvd_raft.c), with Consul's result for it, after the batch holding it
 * is committed; or with an error if raftd says the proposal failed. The
 * order of the two (raftd's reply, the apply) does not matter: the
 * pending write lives until both have happened.
 *
 * raftd is restartable on its own (init restarts it), so a write that
 * comes while it is down is held, not failed: it goes once kvd is
 * connected to raftd again, or fails after RAFTD_HOLD_MS. A write whose
 * proposal was on its way when raftd went away may or may not have been
 * committed: it waits for its entry to come back applied (its (boot id,
 * sequence) tag matches it) until RAFTD_LOST_WAIT_MS after it came, and
 * fails only if it does not. Held writes count against nothing but the
 * hold: httpd's connection limits bound how many there can be. */
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
#define PROPOSE_BATCH_BYTES (4u << 20)

struct propose_batch {
	struct kvd *k;
	size_t n;
	struct pending_write **pw;
};

struct pending_write {
	struct pending_write *next, *prev;
	struct kvd *k;
	struct ipc_req *req;	/* NULL once answered */
	uint64_t seq;
	uint64_t since_ms;
	uint64_t deadline_ms;	/* answered with an error past this */
	bool linked;		/* on k's pending list */
	bool queued;		/* waiting for the turn's proposal */
	bool reply_seen;	/* raftd answered the proposal */
	bool held;		/* queued while raftd was down */
	bool lost;		/* raftd went away before answering it */
	bool applied;		/* applied; answer at the next flush */
	bool result;
	int code;
	char *text;		/* the state's reason for a refusal */
	uint64_t index;
	void *cmd;		/* the encoded command (a bin), until sent */
	size_t wlen;
};

/* Every write (KV, catalog) is answered with its own type. */
static void
reply_write(struct ipc_req *r, int code, const char *text, bool result,
    uint64_t index)
{
	struct msg_kv_write_reply rep = { code, text, text ? strlen(text) : 0,
		result, index };

	msg_kv_write_reply_enc(ipc_reply_begin(r, r->msg.type), &rep);
	ipc_reply_send(r);
}

static void
pw_free(struct pending_write *pw)
{
	free(pw->text);
	free(pw);
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
			reply_write(pw->req, code, text ? text : pw->text ?
			    pw->text : le_strerror(code), false, pw->index);
		pw->req = NULL;
	}
	pw_unlink(k, pw);
	if (pw->queued) {
		/* Never sent: no reply will come for it. */
		pw->queued = false;
		k->nqueued--;
		free(pw->cmd);
		pw->reply_seen = true;
	}
	if (pw->reply_seen)
		pw_free(pw);
}

/* raftd's answer for a whole batch: an error fails every write in it
 * that has not been applied; success leaves them to the apply. */
static void
on_propose_reply(void *arg, int rv, struct proto_msg *m)
{
	struct propose_batch *b = arg;
	struct kvd *k = b->k;
	struct msg_raft_index_reply rep = { 0 };
	struct lerr e;
	const char *text = NULL;
	int code = 0;

	if (rv == 0 && m->type == (MSG_ERROR | PROTO_REPLY)) {
		struct msg_error me;

		if (msg_error_dec(m, &me, &e) != 0)
			fatalx("raft.propose: bad error reply: %s", e.msg);
		code = me.code;
	} else if (rv == 0) {
		if (msg_raft_index_reply_dec(m, &rep, &e) != 0)
			fatalx("raft.propose reply from raftd: %s", e.msg);
		code = rep.code;
	} else {
		code = rv == -LE_CLOSED || rv == -LE_MALFORMED ?
		    -LE_UNAVAIL : rv;
		text = "raftd is not available";
	}
	if (code != 0)
		k->st.propose_errors++;
	for (size_t i = 0; i < b->n; i++) {
		struct pending_write *pw = b->pw[i];

		pw->reply_seen = true;
		if (!pw->linked) {
			pw_free(pw); /* answered already */
			continue;
		}
		if (pw->applied)
			; /* the turn's flush answers it with its result */
		else if (rv == -LE_UNAVAIL) {
			/* raftd went away (or was gone when it was sent):
			 * committed or not, its entry tells when raftd is
			 * back. */
			pw->deadline_ms = pw->since_ms + RAFTD_LOST_WAIT_MS;
			pw->lost = true;
			k->st.writes_held++;
			kvd_hold_arm(k);
		} else if (code != 0)
			pw_answer(k, pw, code, text);
		else if (kv_state_applied(k->kv) >= rep.index) {
			/* Its entry went by without our command in it. */
			log_warnx("proposal %llu committed by %llu but not "
			    "applied", (unsigned long long)pw->seq,
			    (unsigned long long)rep.index);
			pw_answer(k, pw, -LE_LOST, NULL);
		}
	}
	free(b->pw);
	free(b);
}

/* The command as a Raft entry's bytes (a bin in the batch blob). */
static void
encode_cmd(struct kvd *k, struct mpw *out, const struct msg_sm_cmd *c,
    uint64_t seq)
{
	struct msg_sm_cmd cmd = *c;
	struct mpw data;

	cmd.origin = seq != 0 ? k->boot : 0;
	cmd.seq = seq;
	mpw_init(&data);
	msg_sm_cmd_enc(&data, &cmd);
	mpw_bin(out, mpw_data(&data), mpw_len(&data));
	mpw_free(&data);
}

/* Sends one proposal: the batch blob (an array of commands). */
static void
send_proposal(struct kvd *k, struct mpw *blob, ipc_reply_fn fn, void *arg)
{
	struct ipc_call *call = ipc_call_new(k->raft, MSG_RAFT_PROPOSE);
	struct mpw *out = ipc_call_writer(call);

	mpw_array(out, 1);
	mpw_bin(out, mpw_data(blob), mpw_len(blob));
	k->st.proposals++;
	ipc_call_send_loop(call, PROPOSE_TIMEOUT_MS, k->loop, fn, arg);
}

/* The loop's idle hook: every write queued this turn, in one proposal
 * (or a few, past PROPOSE_BATCH_BYTES or RAFT_BATCH_MAX). */
void
kvd_propose_flush(void *arg)
{
	struct kvd *k = arg;
	struct pending_write *pw;

	if (k->nqueued > 0 && ipc_client_peers(k->raft) == 0) {
		/* raftd is down (restarting): the writes wait for it. */
		uint64_t until = loop_now_ms(k->loop) + RAFTD_HOLD_MS;

		for (pw = k->pw_head; pw != NULL; pw = pw->next)
			if (pw->queued && !pw->held) {
				pw->held = true;
				pw->deadline_ms = until;
				k->st.writes_held++;
			}
		kvd_writes_expire(k);
		if (k->nqueued > 0)
			kvd_hold_arm(k);
		return;
	}
	while (k->nqueued > 0) {
		struct propose_batch *b = xcalloc(1, sizeof(*b));
		struct mpw blob;
		size_t n = 0, bytes = 0;

		b->k = k;
		b->pw = xcalloc(k->nqueued < RAFT_BATCH_MAX ? k->nqueued :
		    RAFT_BATCH_MAX, sizeof(*b->pw));
		for (pw = k->pw_head; pw != NULL && n < RAFT_BATCH_MAX;
		    pw = pw->next) {
			if (!pw->queued)
				continue;
			if (n > 0 && bytes + pw->wlen > PROPOSE_BATCH_BYTES)
				break;
			bytes += pw->wlen;
			b->pw[n++] = pw;
		}
		mpw_init(&blob);
		mpw_array(&blob, (uint32_t)n);
		for (size_t i = 0; i < n; i++) {
			pw = b->pw[i];
			mpw_raw(&blob, pw->cmd, pw->wlen);
			free(pw->cmd);
			pw->cmd = NULL;
			pw->queued = false;
			pw->deadline_ms = loop_now_ms(k->loop) +
			    APPLY_TIMEOUT_MS;
		}
		k->nqueued -= n;
		b->n = n;
		send_proposal(k, &blob, on_propose_reply, b);
		mpw_free(&blob);
	}
}

void
kvd_write(struct kvd *k, struct ipc_req *r, const struct msg_kv_write *w)
{
	struct msg_sm_cmd cmd = { .type = SMC_KV };

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
	cmd.kv = *w;
	kvd_propose(k, r, &cmd);
}

void
kvd_propose(struct kvd *k, struct ipc_req *r, const struct msg_sm_cmd *cmd)
{
	struct pending_write *pw;
	struct mpw c;

	mpw_init(&c);
	encode_cmd(k, &c, cmd, k->seq + 1);
	if (c.err != 0 || mpw_len(&c) > RAFT_ENTRY_MAX) {
		mpw_free(&c);
		reply_write(r, -LE_TOOBIG, "Request too large for one Raft "
		    "entry", false, 0);
		return;
	}
	pw = xcalloc(1, sizeof(*pw));
	pw->k = k;
	pw->req = r;
	pw->seq = ++k->seq;
	pw->since_ms = loop_now_ms(k->loop);
	pw->deadline_ms = pw->since_ms + APPLY_TIMEOUT_MS;
	pw->linked = true;
	pw->prev = k->pw_tail;
	if (k->pw_tail != NULL)
		k->pw_tail->next = pw;
	else
		k->pw_head = pw;
	k->pw_tail = pw;
	k->npending++;
	pw->wlen = mpw_len(&c);
	pw->cmd = xmalloc(pw->wlen);
	memcpy(pw->cmd, mpw_data(&c), pw->wlen);
	mpw_free(&c);
	pw->queued = true;
	k->nqueued++;
}

/* Commands of kvd's own (tombstone reaping): proposed alone, answered to
 * nobody. */
void
kvd_propose_internal(struct kvd *k, const struct msg_kv_write *w)
{
	struct msg_sm_cmd cmd = { .type = SMC_KV, .kv = *w };

	kvd_propose_internal_cmds(k, &cmd, 1, NULL, NULL);
}

void
kvd_propose_internal_cmds(struct kvd *k, const struct msg_sm_cmd *cmds,
    size_t n, ipc_reply_fn fn, void *arg)
{
	struct mpw blob;

	mpw_init(&blob);
	mpw_array(&blob, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		encode_cmd(k, &blob, &cmds[i], 0);
	send_proposal(k, &blob, fn, arg);
	mpw_free(&blob);
}

void
kvd_write_applied(struct kvd *k, uint64_t seq, uint64_t index, int code,
    bool result, const char *text)
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
	if (text != NULL)
		pw->text = xstrdup(text);
}

/* Answers the writes whose wait is over: held for raftd too long, or
 * committed and never applied. */
void
kvd_writes_expire(struct kvd *k)
{
	struct pending_write *pw, *next;
	uint64_t now = loop_now_ms(k->loop);

	for (pw = k->pw_head; pw != NULL; pw = next) {
		next = pw->next;
		if (pw->applied || now < pw->deadline_ms)
			continue;
		k->st.writes_expired++;
		if (pw->queued)
			pw_answer(k, pw, -LE_UNAVAIL, "raftd is not "
			    "available");
		else if (pw->lost)
			pw_answer(k, pw, -LE_UNAVAIL, "raftd is not "
			    "available (the write may still be applied)");
		else
			pw_answer(k, pw, -LE_TIMEOUT,
			    "timed out waiting for the write to apply");
	}
}

/* The hold timer: raftd may be back (kvd.h, RAFTD_HOLD_MS). Runs again
 * while anything is still held. */
void
kvd_hold_tick(void *arg)
{
	struct kvd *k = arg;
	struct pending_write *pw;

	kvd_propose_flush(k);
	kvd_writes_expire(k);
	kvd_read_waits_hold(k);
	for (pw = k->pw_head; pw != NULL; pw = pw->next)
		if (pw->lost && !pw->applied) {
			kvd_hold_arm(k);
			break;
		}
}

void
kvd_writes_flush(struct kvd *k)
{
	struct pending_write *pw, *next;

	for (pw = k->pw_head; pw != NULL; pw = next) {
		next = pw->next;
		if (pw->applied)
			pw_answer(k, pw, pw->code, NULL);
	}
	kvd_writes_expire(k);
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
	kvd_writes_expire(k);
	loop_timer_arm(k->cron, 1000);
}
