/* events.c: user events (§10.5) and Serf's push/pull user state (§10.7).
 * Events are stamped with the event clock, delivered once per (LTime,
 * name, payload) thanks to a ring of event_buffer slots indexed by LTime,
 * and dropped when older than the ring or than eventMinTime (set by an
 * ignore-old join or a snapshot). The push/pull state carries the member
 * clock with every member's intent time, the left members, the event
 * clock with the whole ring, and the query clock; merging replays it as
 * intents and events (never rebroadcast). */
#include <stdlib.h>
#include <string.h>

#include "serf_int.h"

static bool
bytes_eq(struct gw_bytes a, struct gw_bytes b)
{
	/* Go's bytes.Compare: nil equals empty. */
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static void
slot_clear(struct evslot *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		free((void *)s->ev[i].name.p);
		free((void *)s->ev[i].payload.p);
	}
	s->n = 0;
}

void
sfe_free_all(struct serf *sf)
{
	if (sf->ring == NULL)
		return;
	for (unsigned i = 0; i < sf->cfg.event_buffer; i++) {
		slot_clear(&sf->ring[i]);
		free(sf->ring[i].ev);
	}
	free(sf->ring);
	sf->ring = NULL;
}

static int
dup_bytes(struct gw_bytes in, struct gw_bytes *out)
{
	uint8_t *p;

	if (in.p == NULL) {
		*out = (struct gw_bytes){ NULL, 0 };
		return 0;
	}
	if ((p = malloc(in.len ? in.len : 1)) == NULL)
		return -LE_NOMEM;
	if (in.len)
		memcpy(p, in.p, in.len);
	*out = (struct gw_bytes){ p, in.len };
	return 0;
}

/* Serf's handleUserEvent: true if new (deliver and rebroadcast). */
bool
sfe_handle(struct serf *sf, const struct gs_user_event *e)
{
	uint64_t cur, size = sf->cfg.event_buffer;
	struct evslot *s;
	struct gs_event *ev;

	lc_witness(&sf->event_clock, e->ltime);
	if (e->ltime < sf->event_min_time)
		return false;
	cur = lc_time(&sf->event_clock);
	if (cur > size && e->ltime < cur - size) {
		sf->st.events_old++;
		sf_log(sf, 0, "received old event %.*s from time %llu "
		    "(current: %llu)", (int)e->name.len,
		    (const char *)e->name.p, (unsigned long long)e->ltime,
		    (unsigned long long)cur);
		return false;
	}
	s = &sf->ring[e->ltime % size];
	if (s->used && s->ltime == e->ltime) {
		for (unsigned i = 0; i < s->n; i++)
			if (bytes_eq(s->ev[i].name, e->name) &&
			    bytes_eq(s->ev[i].payload, e->payload))
				return false;
	} else {
		slot_clear(s);
		s->used = true;
		s->ltime = e->ltime;
	}
	if (s->n == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 2;
		struct gs_event *v = realloc(s->ev, cap * sizeof(*v));

		if (v == NULL)
			return false;
		s->ev = v;
		s->cap = cap;
	}
	ev = &s->ev[s->n];
	if (dup_bytes(e->name.p ? e->name : (struct gw_bytes){
	    (const uint8_t *)"", 0 }, &ev->name) != 0 ||
	    dup_bytes(e->payload, &ev->payload) != 0) {
		free((void *)ev->name.p);
		return false;
	}
	s->n++;
	sf->st.events_in++;
	if (sf->snap != NULL)
		snap_event_clock(sf->snap, e->ltime);
	if (sf->ops.user_event != NULL) {
		struct serf_user_event u = { e->ltime, e->name, e->payload,
		    e->cc };

		sf->ops.user_event(sf->arg, &u);
	}
	return true;
}

int
serf_user_event(struct serf *sf, struct gw_bytes name, struct gw_bytes payload,
    bool coalesce, uint64_t *ltime)
{
	struct gs_msg m;
	size_t before = name.len + payload.len;
	int rc;

	if (sf->busy)
		return -LE_STATE;
	if (!sf->started || sf->state != SERF_ALIVE)
		return -LE_STATE;
	/* Serf checks the size before and after encoding. */
	if (before > sf->cfg.user_event_size_limit || before > GS_EVENT_MAX)
		return -LE_TOOBIG;
	sf->busy = true;
	sf->now = sf->ops.now(sf->arg);
	memset(&m, 0, sizeof(m));
	m.type = GS_USER_EVENT;
	m.u.event.ltime = lc_time(&sf->event_clock);
	m.u.event.name = name.p ? name : (struct gw_bytes){
	    (const uint8_t *)"", 0 };
	m.u.event.payload = payload;
	m.u.event.cc = coalesce;
	sf->scratch.len = 0;
	if ((rc = gs_encode(&sf->scratch, &m)) != 0) {
		sf->busy = false;
		return rc;
	}
	if (sf->scratch.len > sf->cfg.user_event_size_limit ||
	    sf->scratch.len > GS_EVENT_MAX) {
		sf->busy = false;
		return -LE_TOOBIG;
	}
	lc_inc(&sf->event_clock);
	if (ltime != NULL)
		*ltime = m.u.event.ltime;
	sfe_handle(sf, &m.u.event);
	rc = sfq_push(sf, &sf->event_q, sf->scratch.p, sf->scratch.len, 0);
	sf->busy = false;
	return rc;
}

/* ---- push/pull user state ---- */

int
sfe_local_state(struct serf *sf, struct gw_buf *out)
{
	struct gs_status_ltime *st = NULL;
	struct gw_bytes *left = NULL;
	struct gs_user_events *slots = NULL;
	unsigned nl = 0, ne = sf->cfg.event_buffer;
	int rc = -LE_NOMEM;

	st = calloc(sf->mv_n ? sf->mv_n : 1, sizeof(*st));
	left = calloc(sf->mv_n ? sf->mv_n : 1, sizeof(*left));
	slots = calloc(ne, sizeof(*slots));
	if (st == NULL || left == NULL || slots == NULL)
		goto out;
	for (size_t i = 0; i < sf->mv_n; i++) {
		const struct smember *sm = sf->mv[i];

		st[i].name = (struct gw_bytes){ (uint8_t *)sm->e.name,
		    sm->e.len };
		st[i].ltime = sm->status_ltime;
		if (sm->status == SERF_LEFT)
			left[nl++] = st[i].name;
	}
	/* The whole ring, empty slots as nil, as Serf sends it. */
	for (unsigned i = 0; i < ne; i++) {
		const struct evslot *s = &sf->ring[i];

		if (!s->used || s->n == 0)
			continue;
		slots[i].ltime = s->ltime;
		slots[i].n = s->n;
		slots[i].ev = s->ev;
	}
	rc = gs_push_encode(out, lc_time(&sf->clock),
	    lc_time(&sf->event_clock), lc_time(&sf->query_clock), st,
	    (unsigned)sf->mv_n, left, nl, slots, ne);
out:
	free(st);
	free(left);
	free(slots);
	if (rc != 0)
		sf_log(sf, 0, "failed to encode local state: %s",
		    le_strerror(rc));
	return rc;
}

/* A small lookup of the remote's status times by name. */
struct stab {
	struct gs_status_ltime *v;
	bool *left;
	uint32_t *slot;			/* index + 1, open addressing */
	size_t n, cap;
};

static int
stab_build(struct stab *t, struct gs_push_pull pp)
{
	unsigned i = 0;
	int rc;

	memset(t, 0, sizeof(*t));
	t->cap = 16;
	while (t->cap < (size_t)pp.n_status * 2)
		t->cap *= 2;
	t->v = calloc(pp.n_status ? pp.n_status : 1, sizeof(*t->v));
	t->left = calloc(pp.n_status ? pp.n_status : 1, sizeof(*t->left));
	t->slot = calloc(t->cap, sizeof(*t->slot));
	if (t->v == NULL || t->left == NULL || t->slot == NULL)
		return -LE_NOMEM;
	while ((rc = gs_push_next_status(&pp, &i, &t->v[t->n], NULL)) == 1) {
		size_t h = sfn_hash(t->v[t->n].name.p, t->v[t->n].name.len) &
		    (t->cap - 1);

		while (t->slot[h] != 0)
			h = (h + 1) & (t->cap - 1);
		t->slot[h] = (uint32_t)++t->n;
	}
	return rc;
}

/* The index of name's entry, or -1. */
static long
stab_find(const struct stab *t, struct gw_bytes name)
{
	size_t h = sfn_hash(name.p, name.len) & (t->cap - 1);

	for (; t->slot[h] != 0; h = (h + 1) & (t->cap - 1)) {
		const struct gs_status_ltime *s = &t->v[t->slot[h] - 1];

		if (s->name.len == name.len &&
		    memcmp(s->name.p, name.p, name.len) == 0)
			return (long)t->slot[h] - 1;
	}
	return -1;
}

/* Serf's MergeRemoteState. */
void
sfe_merge_state(struct serf *sf, struct gs_push_pull *in, bool join)
{
	struct gs_push_pull pp = *in;
	struct stab t;
	struct gw_bytes name;
	struct gs_user_events slot;
	unsigned i = 0;
	int rc;

	/* No message with the remote's current time was sent yet. */
	if (pp.ltime > 0)
		lc_witness(&sf->clock, pp.ltime - 1);
	if (pp.event_ltime > 0)
		lc_witness(&sf->event_clock, pp.event_ltime - 1);
	if (pp.query_ltime > 0)
		lc_witness(&sf->query_clock, pp.query_ltime - 1);
	if (stab_build(&t, pp) < 0) {
		sf_log(sf, 0, "out of memory merging remote state");
		goto out;
	}
	/* Left members first, as leave intents one past their join time
	 * (the leave was accepted after it). */
	while ((rc = gs_push_next_left(&pp, &i, &name, NULL)) == 1) {
		long k = stab_find(&t, name);
		struct gs_leave l = { (k >= 0 ? t.v[k].ltime : 0) + 1, name,
		    false };

		if (k >= 0)
			t.left[k] = true;
		sfm_leave_intent(sf, &l);
	}
	/* Then everyone else's time as a join intent. */
	for (size_t k = 0; k < t.n; k++) {
		struct gs_join j = { t.v[k].ltime, t.v[k].name };

		if (!t.left[k])
			sfm_join_intent(sf, &j);
	}
	/* Joining with "ignore old events": nothing before the remote's
	 * event time is delivered. */
	if (join && sf->join_ignore && pp.event_ltime > sf->event_min_time)
		sf->event_min_time = pp.event_ltime;
	i = 0;
	while ((rc = gs_push_next_events(&pp, &i, &slot, NULL)) == 1) {
		struct gs_event e;

		while (gs_slot_next_event(&slot, &e, NULL) == 1) {
			struct gs_user_event ue = { slot.ltime, e.name,
			    e.payload, false };

			sfe_handle(sf, &ue);
		}
	}
out:
	free(t.v);
	free(t.left);
	free(t.slot);
}
