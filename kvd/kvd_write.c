/* kvd_write.c: the write path. Writes arriving in one turn of the loop
 * are applied into one batch and made durable with one fsync (group
 * commit) in the loop's idle hook; only then are they answered and the
 * blocking queries they touched woken. Until raftd sits underneath, kvd
 * assigns the indexes itself: applied + 1 per command. */
#include "kvd.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define BATCH_MAX 4096		/* commands per group commit */
#define TOMBSTONE_GRANULARITY_MS 30000

struct pending_write {
	struct pending_write *next;
	struct ipc_req *req;	/* NULL for internal commands (reap) */
	bool result;
	uint64_t index;
};

static void
touched_cb(void *arg, const char *key, size_t klen)
{
	struct kvd *k = arg;
	char *copy;

	if (k->ntouched == k->cap_touched) {
		size_t cap = k->cap_touched ? k->cap_touched * 2 : 64;
		char **t = realloc(k->touched, cap * sizeof(*t));

		if (t == NULL)
			fatalx("out of memory");
		k->touched = t;
		k->cap_touched = cap;
	}
	copy = xmalloc(klen + 1);
	memcpy(copy, key, klen);
	copy[klen] = '\0';
	k->touched[k->ntouched++] = copy;
}

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
apply_one(struct kvd *k, struct ipc_req *req, const struct kv_cmd *cmd)
{
	struct pending_write *pw;
	uint64_t index;
	bool result = false;
	int rv;

	if (!k->batch_open) {
		if ((rv = kv_batch_begin(k->kv)) != 0) {
			if (req != NULL)
				reply_write(req, rv, le_strerror(rv), false, 0);
			return;
		}
		k->batch_open = true;
	}
	index = kv_state_applied(k->kv) + 1;
	rv = kv_apply(k->kv, index, cmd, &result, touched_cb, k);
	if (rv != 0) {
		/* Bad input the validator missed (a key too long): the
		 * command did not change the state. */
		k->st.write_errors++;
		if (req != NULL)
			reply_write(req, rv, le_strerror(rv), false, 0);
		return;
	}
	if (cmd->op == KV_OP_DELETE || cmd->op == KV_OP_DELETE_CAS ||
	    cmd->op == KV_OP_DELETE_TREE)
		k->tombstoned = true;
	pw = xcalloc(1, sizeof(*pw));
	pw->req = req;
	pw->result = result;
	pw->index = index;
	if (k->pw_tail != NULL)
		k->pw_tail->next = pw;
	else
		k->pw_head = pw;
	k->pw_tail = pw;
	k->npending++;
	if (k->npending >= BATCH_MAX)
		kvd_commit(k);
}

void
kvd_write(struct kvd *k, struct ipc_req *r, const struct msg_kv_write *w)
{
	struct kv_cmd cmd = {
		.op = (enum kv_op)w->op, .key = w->key, .key_len = w->key_len,
		.value = w->value, .value_len = w->value_len,
		.flags = w->flags, .index = w->index,
	};

	k->st.writes++;
	if (w->session != NULL) {
		reply_write(r, -LE_UNSUPPORTED,
		    "sessions are not supported yet", false, 0);
		return;
	}
	if (w->op == KV_OP_TOMBSTONE_REAP) {
		reply_write(r, -LE_PERM, "tombstone reaping is internal",
		    false, 0);
		return;
	}
	if (w->key_len == 0 && w->op != KV_OP_DELETE_TREE) {
		reply_write(r, -LE_INVAL, "Missing key name", false, 0);
		return;
	}
	if (w->value_len > (uint64_t)k->cfg.kv_max_value_size) {
		reply_write(r, -LE_TOOBIG, "Value exceeds limit", false, 0);
		return;
	}
	apply_one(k, r, &cmd);
}

static void
mark_tombstones(struct kvd *k, uint64_t index)
{
	uint64_t now = mono_ms();

	/* Coalesce marks within the granularity, as Consul does. */
	if (k->nmarks > 0 && now - k->marks[k->nmarks - 1].at_ms <
	    TOMBSTONE_GRANULARITY_MS) {
		k->marks[k->nmarks - 1].index = index;
		return;
	}
	if (k->nmarks == k->cap_marks) {
		size_t cap = k->cap_marks ? k->cap_marks * 2 : 16;
		void *m = realloc(k->marks, cap * sizeof(k->marks[0]));

		if (m == NULL)
			fatalx("out of memory");
		k->marks = m;
		k->cap_marks = cap;
	}
	k->marks[k->nmarks].index = index;
	k->marks[k->nmarks].at_ms = now;
	k->nmarks++;
}

void
kvd_commit(void *arg)
{
	struct kvd *k = arg;
	struct pending_write *pw, *next;
	int rv;

	if (!k->batch_open)
		return;
	k->batch_open = false;
	rv = kv_batch_commit(k->kv, k->sync);
	if (rv != 0) {
		log_error("commit of %zu writes failed: %s", k->npending,
		    le_strerror(rv));
		kv_state_abort(k->kv);
	} else {
		k->st.batches++;
		if (k->npending > k->st.batch_max)
			k->st.batch_max = k->npending;
		if (k->tombstoned)
			mark_tombstones(k, kv_state_applied(k->kv));
	}
	k->tombstoned = false;
	for (pw = k->pw_head; pw != NULL; pw = next) {
		next = pw->next;
		if (pw->req != NULL) {
			if (rv == 0)
				reply_write(pw->req, 0, NULL, pw->result,
				    pw->index);
			else
				reply_write(pw->req, rv, le_strerror(rv),
				    false, 0);
		}
		free(pw);
	}
	k->pw_head = k->pw_tail = NULL;
	k->npending = 0;
	for (size_t i = 0; i < k->ntouched; i++) {
		if (rv == 0)
			kv_watch_touched(k->watch, k->touched[i],
			    strlen(k->touched[i]));
		free(k->touched[i]);
	}
	k->ntouched = 0;
}

/* Once a tombstone has outlived tombstone_ttl it can go: blocking
 * queries older than that must have returned by now (max wait is 10
 * minutes, the TTL 15). Reaping is a command like any write. */
void
kvd_cron(void *arg)
{
	struct kvd *k = arg;
	uint64_t now = mono_ms(), bound = 0;
	size_t drop = 0;

	while (drop < k->nmarks && now - k->marks[drop].at_ms >=
	    (uint64_t)k->cfg.tombstone_ttl_ms)
		bound = k->marks[drop++].index;
	if (drop > 0) {
		struct kv_cmd cmd = { .op = KV_OP_TOMBSTONE_REAP,
			.index = bound };

		memmove(k->marks, k->marks + drop,
		    (k->nmarks - drop) * sizeof(k->marks[0]));
		k->nmarks -= drop;
		apply_one(k, NULL, &cmd);
		k->st.reaps++;
		log_debug("reaping tombstones up to index %llu",
		    (unsigned long long)bound);
	}
	loop_timer_arm(k->cron, 1000);
}
