/* members.c: Serf's member table (§10.4): members with their tags,
 * statuses and intent times, the memberlist events that move them
 * (handleNodeJoin, handleNodeLeave, handleNodeUpdate), the join and leave
 * intents (handleNodeJoinIntent, handleNodeLeaveIntent) with the buffer of
 * intents about members not known yet, prune, reaping of failed and left
 * members, and the reconnect loop. A member's place in Go's failedMembers
 * and leftMembers lists is its status here (failed, left). */
#include <stdlib.h>
#include <string.h>

#include "serf_int.h"

struct smember *
sfm_get(const struct serf *sf, const void *name, size_t len)
{
	return (struct smember *)sfn_find(&sf->members, name, len);
}

void
sfm_view(const struct smember *m, struct serf_member *out)
{
	memset(out, 0, sizeof(*out));
	out->name.p = (const uint8_t *)m->e.name;
	out->name.len = m->e.len;
	out->addr = m->addr;
	out->n_tags = m->n_tags;
	out->tags = m->tags;
	out->status = m->status;
	out->status_ltime = m->status_ltime;
	memcpy(out->vsn, m->vsn, GW_VSN_LEN);
}

/* ---- tags ---- */

struct tag_fill {
	struct serf_tag *t;
	unsigned n, max;
};

static int
tag_count(void *arg, struct gw_bytes k, struct gw_bytes v)
{
	(void)k;
	(void)v;
	((struct tag_fill *)arg)->n++;
	return 0;
}

static int
tag_fill(void *arg, struct gw_bytes k, struct gw_bytes v)
{
	struct tag_fill *f = arg;

	if (f->n < f->max) {
		f->t[f->n].key = k;
		f->t[f->n].val = v;
		f->n++;
	}
	return 0;
}

/* Tags decoded from meta; they point into *copy, a copy of meta. Bad
 * tags leave none (Go logs and keeps what it decoded so far). */
int
sfm_tags_decode(struct gw_bytes meta, struct serf_tag **tags, unsigned *n,
    uint8_t **copy)
{
	struct tag_fill f = { NULL, 0, 0 };
	uint8_t *c = malloc(meta.len ? meta.len : 1);
	struct gw_bytes m;

	*tags = NULL;
	*n = 0;
	*copy = NULL;
	if (c == NULL)
		return -LE_NOMEM;
	if (meta.len)
		memcpy(c, meta.p, meta.len);
	m.p = meta.p ? c : NULL;
	m.len = meta.len;
	if (gs_tags_decode(m, tag_count, &f, NULL) != 0)
		f.n = 0;
	if (f.n > 0) {
		f.max = f.n;
		f.n = 0;
		if ((f.t = calloc(f.max, sizeof(*f.t))) == NULL) {
			free(c);
			return -LE_NOMEM;
		}
		gs_tags_decode(m, tag_fill, &f, NULL);
	}
	*tags = f.t;
	*n = f.n;
	*copy = c;
	return 0;
}

static void
set_tags(struct serf *sf, struct smember *sm, struct gw_bytes meta)
{
	struct serf_tag *t;
	unsigned n;
	uint8_t *c;

	if (sfm_tags_decode(meta, &t, &n, &c) != 0) {
		sf_log(sf, 0, "out of memory decoding the tags of %s",
		    sm->e.name);
		return;
	}
	free(sm->tags);
	free(sm->meta);
	sm->tags = t;
	sm->n_tags = n;
	sm->meta = c;
	sm->meta_len = meta.len;
}

/* ---- table ---- */

static void
member_free(struct smember *sm)
{
	free(sm->e.name);
	free(sm->tags);
	free(sm->meta);
	free(sm);
}

static struct smember *
member_new(struct serf *sf, struct gw_bytes name)
{
	struct smember *sm = calloc(1, sizeof(*sm));

	if (sm == NULL)
		return NULL;
	if (sf->mv_n == sf->mv_cap) {
		size_t cap = sf->mv_cap ? sf->mv_cap * 2 : 16;
		struct smember **v = realloc(sf->mv, cap * sizeof(*v));

		if (v == NULL) {
			free(sm);
			return NULL;
		}
		sf->mv = v;
		sf->mv_cap = cap;
	}
	if (sfn_name(&sm->e, name.p, name.len) != 0 ||
	    sfn_insert(&sf->members, &sm->e) != 0) {
		free(sm->e.name);
		free(sm);
		return NULL;
	}
	sm->idx = sf->mv_n;
	sf->mv[sf->mv_n++] = sm;
	return sm;
}

static void
emit(struct serf *sf, enum serf_event ev, const struct smember *sm)
{
	struct serf_member v;

	if (sf->snap != NULL) {
		if (ev == SERF_EV_JOIN)
			snap_alive_member(sf->snap, sm->e.name, &sm->addr);
		else if (ev == SERF_EV_LEAVE || ev == SERF_EV_FAILED)
			snap_not_alive(sf->snap, sm->e.name);
		if (ev != SERF_EV_UPDATE)
			snap_clock(sf->snap, lc_time(&sf->clock));
	}
	if (sf->ops.member_event == NULL)
		return;
	sfm_view(sm, &v);
	sf->ops.member_event(sf->arg, ev, &v);
}

/* Serf's eraseNode: forgotten, with a reap event. */
static void
erase(struct serf *sf, struct smember *sm)
{
	size_t i = sm->idx;

	sfn_remove(&sf->members, &sm->e);
	sf->mv[i] = sf->mv[--sf->mv_n];
	sf->mv[i]->idx = i;
	sf->st.reaped++;
	sf_log(sf, 1, "EventMemberReap: %s", sm->e.name);
	emit(sf, SERF_EV_REAP, sm);
	member_free(sm);
}

void
sfm_free_all(struct serf *sf)
{
	for (size_t i = 0; i < sf->mv_n; i++)
		member_free(sf->mv[i]);
	free(sf->mv);
	sf->mv = NULL;
	sf->mv_n = sf->mv_cap = 0;
	sfn_free(&sf->members);
	for (size_t b = 0; b < sf->intents.cap; b++) {
		struct nent *e = sf->intents.b[b], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e->name);
			free(e);
		}
	}
	sfn_free(&sf->intents);
}

bool
sfm_any_alive(const struct serf *sf)
{
	for (size_t i = 0; i < sf->mv_n; i++)
		if (sf->mv[i]->status == SERF_ALIVE &&
		    !sf_is_self(sf, sf->mv[i]->e.name, sf->mv[i]->e.len))
			return true;
	return false;
}

void
sfm_counts(const struct serf *sf, size_t *failed, size_t *left)
{
	*failed = *left = 0;
	for (size_t i = 0; i < sf->mv_n; i++) {
		if (sf->mv[i]->status == SERF_FAILED)
			(*failed)++;
		else if (sf->mv[i]->status == SERF_LEFT)
			(*left)++;
	}
}

/* ---- recent intents ---- */

static bool
upsert_intent(struct serf *sf, struct gw_bytes node, uint8_t type,
    uint64_t ltime)
{
	struct intent *in = (struct intent *)sfn_find(&sf->intents, node.p,
	    node.len);

	if (in != NULL && ltime <= in->ltime)
		return false;
	if (in == NULL) {
		if ((in = calloc(1, sizeof(*in))) == NULL)
			return false;
		if (sfn_name(&in->e, node.p, node.len) != 0 ||
		    sfn_insert(&sf->intents, &in->e) != 0) {
			free(in->e.name);
			free(in);
			return false;
		}
	}
	in->type = type;
	in->ltime = ltime;
	in->seen = sf->now;
	return true;
}

static bool
recent_intent(struct serf *sf, struct gw_bytes node, uint8_t type,
    uint64_t *ltime)
{
	struct intent *in = (struct intent *)sfn_find(&sf->intents, node.p,
	    node.len);

	if (in == NULL || in->type != type)
		return false;
	*ltime = in->ltime;
	return true;
}

/* ---- memberlist's events ---- */

static void
handle_join(struct serf *sf, const struct swim_member *m)
{
	struct smember *sm = sfm_get(sf, m->name.p, m->name.len);
	uint64_t lt;

	if (sm == NULL) {
		if ((sm = member_new(sf, m->name)) == NULL) {
			sf_log(sf, 0, "out of memory: member %.*s not added",
			    (int)m->name.len, (const char *)m->name.p);
			return;
		}
		sm->status = SERF_ALIVE;
		/* An intent that came before the member: the newest one
		 * (the buffer holds one per node) decides. */
		if (recent_intent(sf, m->name, GS_JOIN, &lt))
			sm->status_ltime = lt;
		if (recent_intent(sf, m->name, GS_LEAVE, &lt)) {
			sm->status = SERF_LEAVING;
			sm->status_ltime = lt;
		}
	} else {
		sm->status = SERF_ALIVE;
		sm->leave_time = 0;
		sm->prune_at = 0;
	}
	sm->addr = m->addr;
	set_tags(sf, sm, m->meta);
	memcpy(sm->vsn, m->vsn, GW_VSN_LEN);
	sf_log(sf, 1, "EventMemberJoin: %s", sm->e.name);
	emit(sf, SERF_EV_JOIN, sm);
}

static void
handle_leave(struct serf *sf, const struct swim_member *m)
{
	struct smember *sm = sfm_get(sf, m->name.p, m->name.len);

	if (sm == NULL)
		return;
	switch (sm->status) {
	case SERF_LEAVING:
		sm->status = SERF_LEFT;
		break;
	case SERF_ALIVE:
		sm->status = SERF_FAILED;
		break;
	default:
		sf_log(sf, 0, "bad state when leave: %s is %s", sm->e.name,
		    serf_status_name(sm->status));
		return;
	}
	sm->leave_time = sf->now;
	sf_log(sf, 1, "%s: %s", sm->status == SERF_LEFT ? "EventMemberLeave" :
	    "EventMemberFailed", sm->e.name);
	emit(sf, sm->status == SERF_LEFT ? SERF_EV_LEAVE : SERF_EV_FAILED, sm);
}

static void
handle_update(struct serf *sf, const struct swim_member *m)
{
	struct smember *sm = sfm_get(sf, m->name.p, m->name.len);

	if (sm == NULL)
		return;
	sm->addr = m->addr;
	set_tags(sf, sm, m->meta);
	memcpy(sm->vsn, m->vsn, GW_VSN_LEN);
	sf_log(sf, 1, "EventMemberUpdate: %s", sm->e.name);
	emit(sf, SERF_EV_UPDATE, sm);
}

void
sfm_on_swim(struct serf *sf, enum swim_event ev, const struct swim_member *m)
{
	switch (ev) {
	case SWIM_EV_JOIN:
		handle_join(sf, m);
		break;
	case SWIM_EV_UPDATE:
		handle_update(sf, m);
		break;
	case SWIM_EV_FAIL:
	case SWIM_EV_LEAVE:
		/* memberlist's NotifyLeave: Serf tells them apart by the
		 * leave intent that came first. */
		handle_leave(sf, m);
		break;
	default:
		/* memberlist forgetting a dead node is no Serf event. */
		break;
	}
}

/* ---- intents ---- */

/* Serf's handlePrune: a leaving member is erased once its leave has had
 * time to finish (Go sleeps holding the member lock; we defer), others at
 * once. */
static void
prune(struct serf *sf, struct smember *sm)
{
	if (sm->status == SERF_LEAVING) {
		sm->prune_at = sf->now + (sf->cfg.broadcast_timeout_ms +
		    sf->cfg.leave_propagate_delay_ms) * US_PER_MS;
		if (sf->prune_next == 0 || sm->prune_at < sf->prune_next)
			sf->prune_next = sm->prune_at;
		return;
	}
	sf_log(sf, 1, "EventMemberReap (forced): %s", sm->e.name);
	erase(sf, sm);
}

bool
sfm_leave_intent(struct serf *sf, const struct gs_leave *l)
{
	struct smember *sm;

	lc_witness(&sf->clock, l->ltime);
	if ((sm = sfm_get(sf, l->node.p, l->node.len)) == NULL)
		return upsert_intent(sf, l->node, GS_LEAVE, l->ltime);
	if (l->ltime <= sm->status_ltime)
		return false;
	/* An old leave about us while we are alive: refute it. */
	if (sf_is_self(sf, l->node.p, l->node.len) &&
	    sf->state == SERF_ALIVE) {
		sf_log(sf, 2, "refuting an older leave intent");
		sf_broadcast_join(sf, lc_time(&sf->clock));
		return false;
	}
	/* The time moves even when the status does not, so that two
	 * leaves for one member are not rebroadcast forever (Consul
	 * issues 8179, 7960). */
	sm->status_ltime = l->ltime;
	switch (sm->status) {
	case SERF_ALIVE:
		sm->status = SERF_LEAVING;
		if (l->prune)
			prune(sf, sm);
		return true;
	case SERF_FAILED:
		sm->status = SERF_LEFT;
		sf_log(sf, 1, "EventMemberLeave (forced): %s", sm->e.name);
		emit(sf, SERF_EV_LEAVE, sm);
		if (l->prune)
			prune(sf, sm);
		return true;
	case SERF_LEAVING:
	case SERF_LEFT:
		if (l->prune)
			prune(sf, sm);
		return true;
	default:
		return false;
	}
}

bool
sfm_join_intent(struct serf *sf, const struct gs_join *j)
{
	struct smember *sm;

	lc_witness(&sf->clock, j->ltime);
	if ((sm = sfm_get(sf, j->node.p, j->node.len)) == NULL)
		return upsert_intent(sf, j->node, GS_JOIN, j->ltime);
	if (j->ltime <= sm->status_ltime)
		return false;
	sm->status_ltime = j->ltime;
	/* The leave was for an older life. */
	if (sm->status == SERF_LEAVING)
		sm->status = SERF_ALIVE;
	return true;
}

/* ---- timers: reap, prune, reconnect ---- */

static void
reap(struct serf *sf)
{
	uint64_t rt = sf->cfg.reconnect_timeout_ms * US_PER_MS;
	uint64_t tt = sf->cfg.tombstone_timeout_ms * US_PER_MS;
	uint64_t it = sf->cfg.recent_intent_timeout_ms * US_PER_MS;

	for (size_t i = 0; i < sf->mv_n;) {
		struct smember *sm = sf->mv[i];
		uint64_t limit = sm->status == SERF_FAILED ? rt :
		    sm->status == SERF_LEFT ? tt : 0;

		if (limit > 0 && sf->now - sm->leave_time > limit)
			erase(sf, sm);		/* the last one moved to i */
		else
			i++;
	}
	for (size_t b = 0; b < sf->intents.cap; b++) {
		struct nent *e = sf->intents.b[b], *next;

		for (; e != NULL; e = next) {
			struct intent *in = (struct intent *)e;

			next = e->next;
			if (sf->now - in->seen > it) {
				sfn_remove(&sf->intents, e);
				free(e->name);
				free(e);
			}
		}
	}
}

static void
prune_tick(struct serf *sf)
{
	uint64_t next = 0;

	for (size_t i = 0; i < sf->mv_n;) {
		struct smember *sm = sf->mv[i];

		if (sm->prune_at != 0 && sf->now >= sm->prune_at) {
			sm->prune_at = 0;
			/* A member back alive meanwhile stays. */
			if (sm->status != SERF_ALIVE) {
				sf_log(sf, 1, "EventMemberReap (forced): %s",
				    sm->e.name);
				erase(sf, sm);
				continue;
			}
		}
		if (sm->prune_at != 0 && (next == 0 || sm->prune_at < next))
			next = sm->prune_at;
		i++;
	}
	sf->prune_next = next;
}

/* Serf's reconnect: with probability failed / alive, join a random failed
 * member, so that the cluster as a whole tries each one about once per
 * interval. */
static void
reconnect(struct serf *sf)
{
	size_t failed, left, alive, pick;
	double p;

	sfm_counts(sf, &failed, &left);
	if (failed == 0)
		return;
	alive = sf->mv_n - failed - left;
	if (alive == 0)
		alive = 1;
	p = (double)failed / (double)alive;
	if ((double)(sf->ops.rand(sf->arg) >> 11) / (double)(1ULL << 53) > p) {
		sf_log(sf, 2, "forgoing reconnect for random throttling");
		return;
	}
	pick = (size_t)sf_rand(sf, failed);
	for (size_t i = 0; i < sf->mv_n; i++) {
		struct smember *sm = sf->mv[i];

		if (sm->status != SERF_FAILED || pick-- != 0)
			continue;
		sf_log(sf, 1, "attempting reconnect to %s", sm->e.name);
		sf->st.reconnects++;
		if (swim_join(sf->sw, &sm->addr, NULL) != 0)
			sf_log(sf, 0, "reconnect to %s not started",
			    sm->e.name);
		return;
	}
}

void
sfm_tick(struct serf *sf)
{
	if (sf->now >= sf->reap_at) {
		reap(sf);
		sf->reap_at = sf->now + sf->cfg.reap_interval_ms * US_PER_MS;
	}
	if (sf->prune_next != 0 && sf->now >= sf->prune_next)
		prune_tick(sf);
	if (sf->now >= sf->reconnect_at) {
		if (sf->state == SERF_ALIVE)
			reconnect(sf);
		sf->reconnect_at = sf->now +
		    sf->cfg.reconnect_interval_ms * US_PER_MS;
	}
}

uint64_t
sfm_next(const struct serf *sf)
{
	uint64_t t = sf->reap_at < sf->reconnect_at ? sf->reap_at :
	    sf->reconnect_at;

	if (sf->prune_next != 0 && sf->prune_next < t)
		t = sf->prune_next;
	return t;
}
