/* snapshot.c: snapshots and log compaction. The core asks the state
 * machine for a snapshot every snapshot_threshold applied entries, keeps
 * the bytes it gets back (to send to followers that fell behind the
 * compacted log) and drops the entries it covers except a trailing few.
 * A follower installs the leader's snapshot whole: the log is replaced at
 * once in memory, and the state machine is restored only after the
 * snapshot is durable, in order with the entries applied before it. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

void
snap_send(struct raft *r, struct progress *p)
{
	struct raft_msg m;

	if (r->snap.index == 0)
		return;		/* nothing compacted: cannot happen */
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_SNAPSHOT;
	m.to = p->id;
	m.u.snapshot.round = r->round;
	m.u.snapshot.snap = r->snap;
	r_send(r, &m);
	r->stats.snapshots_sent++;
	p->state = PROG_SNAPSHOT;
	p->snap_index = r->snap.index;
	p->sent_at = r->now;
	p->paused = false;
	p->if_n = 0;
	p->if_head = 0;
}

void
snap_handle(struct raft *r, const struct raft_msg *m)
{
	const struct raft_snapshot *s = &m->u.snapshot.snap;
	void *buf = NULL;
	uint64_t t, seq;

	if (!elect_learn_leader(r, m->from, m->u.snapshot.round)) {
		r->stats.msgs_bad++;
		return;
	}
	if (s->index <= r->commit) {
		repl_respond(r, RAFT_MSG_SNAPSHOT_RESP, true, 0, 0, 0);
		return;
	}
	if (rlog_term(&r->log, s->index, &t) && t == s->term) {
		/* We hold its last entry: the snapshot tells us it is
		 * committed; keep our log. */
		r->verified = r_max(r->verified, s->index);
		r_commit_to(r, s->index);
		repl_respond(r, RAFT_MSG_SNAPSHOT_RESP, true, 0, 0, 0);
		return;
	}
	if (s->len > 0 && (buf = malloc(s->len)) == NULL)
		return;
	if (r_pw_reserve(r) != 0 || confs_reserve(&r->confs, 1) != 0) {
		free(buf);
		return;
	}
	if (s->len > 0)
		memcpy(buf, s->data, s->len);
	free(r->snap_buf);
	r->snap_buf = buf;
	r->snap = *s;
	r->snap.data = buf;
	rlog_reset(&r->log, s->index, s->term);
	confs_reset(&r->confs, s->index, &s->conf);
	seq = ++r->seq_last;
	r_pw_push(r, seq, 1, s->index);
	r->ops.persist_snapshot(r->ctx, seq, &r->snap);
	r->restore_pending = true;
	r->restore_seq = seq;
	r->snap_asked = 0;
	r->verified = s->index;
	r_commit_to(r, s->index);
	r->stats.snapshots_installed++;
	/* Lets the leader stream what follows at once; the durable
	 * acknowledgement comes from raft_persisted. */
	repl_respond(r, RAFT_MSG_SNAPSHOT_RESP, true, 0, 0, 0);
}

/* From raft_persisted: an installed snapshot became durable. */
void
snap_after_persist(struct raft *r)
{
	if (!r->restore_pending || r->seq_done < r->restore_seq)
		return;
	r->restore_pending = false;
	r->applying = r_max(r->applying, r->snap.index);
	r->ops.restore(r->ctx, &r->snap);
}

void
snap_maybe_request(struct raft *r)
{
	uint64_t th = r->opt.snapshot_threshold;

	if (r->ops.snapshot == NULL || th == 0 || r->restore_pending)
		return;
	if (r->applied < r->snap.index + th)
		return;
	/* Asked already: ask again only if it seems lost. */
	if (r->snap_asked != 0 && r->applied < r->snap_asked + th)
		return;
	r->snap_asked = r->applied;
	r->ops.snapshot(r->ctx, r->applied);
}

/* Takes buf (malloc'd, len bytes) when it returns 0 with *taken set. */
static int
snapshot_done(struct raft *r, uint64_t idx, void *buf, size_t len,
    bool *taken)
{
	const struct raft_config *c;
	uint64_t t, upto;
	int rc;

	*taken = false;
	if (len > 0 && buf == NULL)
		return -LE_INVAL;
	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if (idx <= r->snap.index) {
		/* Overtaken by an installed or newer snapshot. */
		r->snap_asked = 0;
		return r_api_exit(r, 0);
	}
	if (idx > r->applying || idx > r->commit ||
	    !rlog_term(&r->log, idx, &t))
		return r_api_exit(r, -LE_RANGE);
	*taken = true;
	c = confs_at(&r->confs, idx);
	free(r->snap_buf);
	r->snap_buf = len > 0 ? buf : NULL;
	if (len == 0)
		free(buf);
	r->snap.index = idx;
	r->snap.term = t;
	r->snap.conf = *c;
	r->snap.len = len;
	r->snap.data = r->snap_buf;
	r->snap_asked = 0;
	r->stats.snapshots_taken++;
	/* Keep a trailing run so a follower slightly behind gets entries,
	 * not the whole snapshot. */
	upto = idx > r->opt.snapshot_trailing ?
	    idx - r->opt.snapshot_trailing : 0;
	if (upto > r->log.offset) {
		rlog_compact(&r->log, upto);
		confs_compact(&r->confs, upto);
		if (r->ops.compact != NULL)
			r->ops.compact(r->ctx, upto);
	}
	return r_api_exit(r, 0);
}

int
raft_snapshot_done(struct raft *r, uint64_t idx, const void *data, size_t len)
{
	void *buf = NULL;
	bool taken;
	int rc;

	if (len > 0 && data == NULL)
		return -LE_INVAL;
	if (len > 0) {
		if ((buf = malloc(len)) == NULL)
			return -LE_NOMEM;
		memcpy(buf, data, len);
	}
	rc = snapshot_done(r, idx, buf, len, &taken);
	if (!taken)
		free(buf);
	return rc;
}

int
raft_snapshot_done_take(struct raft *r, uint64_t idx, void *data, size_t len)
{
	bool taken;
	int rc;

	rc = snapshot_done(r, idx, data, len, &taken);
	if (!taken)
		free(data);
	return rc;
}

int
raft_snapshot_meta(const struct raft *r, uint64_t idx,
    struct raft_snapshot *meta)
{
	uint64_t t;

	memset(meta, 0, sizeof(*meta));
	if (idx == 0 || !rlog_term(&r->log, idx, &t))
		return -LE_NOTFOUND;
	meta->index = idx;
	meta->term = t;
	meta->conf = *confs_at(&r->confs, idx);
	return 0;
}
