/* members.c: the member table and the rules that change it, as
 * memberlist's aliveNode, suspectNode, deadNode, refute and resetNodes do
 * (§9.4).
 *
 * The table is memberlist's pair: s->nodes is the list probed round-robin
 * (its length is the n of every formula: suspicion timeouts, retransmit
 * limits, push/pull scaling) and the hash table finds a record by name.
 * A node is new in the list at a random position, so that newcomers are
 * not all probed last. Dead nodes leave the list at a wrap-around of the
 * probe cycle once dead for GossipToTheDeadTime; after that the protocol
 * knows nothing of them (an alive makes them new again), but the record
 * may stay readable for cfg.dead_retain_ms (marked reaped) for the Serf
 * layer, which keeps failed members for days.
 *
 * Precedence: an alive needs a strictly higher incarnation (for others);
 * suspect and dead need one at least as high; dead and left nodes ignore
 * suspicion; an address may move only away from a left node or one dead
 * longer than DeadNodeReclaimTime. Accusations about ourselves are
 * refuted with a higher incarnation, and an alive about ourselves that
 * differs from what we are (a restart with other meta) is too. */
#include <stdlib.h>
#include <string.h>

#include "swim_int.h"

static uint32_t
name_hash(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

struct node *
mem_find(const struct swim *s, const void *name, size_t len)
{
	uint32_t h;

	if (s->hcap == 0)
		return NULL;
	h = name_hash(name, len);
	for (struct node *n = s->htab[h & (s->hcap - 1)]; n != NULL;
	    n = n->hnext)
		if (n->hash == h && sw_bytes_eq(n->name, n->name_len, name, len))
			return n;
	return NULL;
}

struct node *
mem_live(const struct swim *s, const void *name, size_t len)
{
	struct node *n = mem_find(s, name, len);

	return n != NULL && !n->reaped ? n : NULL;
}

bool
mem_is_self(const struct swim *s, const struct node *n)
{
	return sw_bytes_eq(n->name, n->name_len, s->name, s->name_len);
}

static void
event(struct swim *s, enum swim_event ev, const struct node *n,
    const struct swim_member *other)
{
	struct swim_member m;

	if (s->ops.event == NULL)
		return;
	sw_member_view(n, &m);
	s->ops.event(s->arg, ev, &m, other);
}

static int
htab_grow(struct swim *s)
{
	size_t cap = s->hcap ? s->hcap * 2 : 64;
	struct node **t = calloc(cap, sizeof(*t));

	if (t == NULL)
		return -LE_NOMEM;
	for (size_t b = 0; b < s->hcap; b++) {
		struct node *n, *next;

		for (n = s->htab[b]; n != NULL; n = next) {
			next = n->hnext;
			n->hnext = t[n->hash & (cap - 1)];
			t[n->hash & (cap - 1)] = n;
		}
	}
	free(s->htab);
	s->htab = t;
	s->hcap = cap;
	return 0;
}

static void
htab_del(struct swim *s, struct node *n)
{
	struct node **pp = &s->htab[n->hash & (s->hcap - 1)];

	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	s->hcount--;
}

static void
node_free(struct node *n)
{
	free(n->name);
	free(n->meta);
	free(n);
}

static int
set_meta(struct node *n, struct gw_bytes meta)
{
	uint8_t *p = NULL;

	if (meta.len > 0) {
		if ((p = malloc(meta.len)) == NULL)
			return -LE_NOMEM;
		memcpy(p, meta.p, meta.len);
	}
	free(n->meta);
	n->meta = p;
	n->meta_len = meta.len;
	return 0;
}

/* Puts n into the probe list at a random position: append, then swap
 * with a random earlier slot (memberlist's randomOffset). */
static int
list_insert(struct swim *s, struct node *n)
{
	size_t off;

	if (s->n_nodes == s->cap_nodes) {
		size_t cap = s->cap_nodes ? s->cap_nodes * 2 : 16;
		struct node **v = realloc(s->nodes, cap * sizeof(*v));

		if (v == NULL)
			return -LE_NOMEM;
		s->nodes = v;
		s->cap_nodes = cap;
	}
	off = (size_t)sw_rand(s, s->n_nodes);
	s->nodes[s->n_nodes] = n;
	n->idx = s->n_nodes++;
	if (off != n->idx) {
		struct node *o = s->nodes[off];

		s->nodes[off] = n;
		s->nodes[n->idx] = o;
		o->idx = n->idx;
		n->idx = off;
	}
	n->reaped = false;
	return 0;
}

/* A record for a node we did not know: dead at incarnation 0 until the
 * alive that made it is applied, as memberlist creates them. */
static int
node_new(struct swim *s, const struct gw_alive *a, struct node **out)
{
	struct node *n;
	int rc;

	if (s->hcount >= s->hcap && (rc = htab_grow(s)) != 0)
		return rc;
	if ((n = calloc(1, sizeof(*n))) == NULL ||
	    (n->name = malloc(a->node.len + 1)) == NULL) {
		free(n);
		return -LE_NOMEM;
	}
	memcpy(n->name, a->node.p, a->node.len);
	n->name[a->node.len] = '\0';
	n->name_len = a->node.len;
	n->hash = name_hash(n->name, n->name_len);
	n->state = SWIM_DEAD;
	n->reaped = true;
	if ((rc = list_insert(s, n)) != 0) {
		node_free(n);
		return rc;
	}
	n->hnext = s->htab[n->hash & (s->hcap - 1)];
	s->htab[n->hash & (s->hcap - 1)] = n;
	s->hcount++;
	*out = n;
	return 0;
}

static bool
vsn_present(const uint8_t *v)
{
	for (int i = 0; i < GW_VSN_LEN; i++)
		if (v[i] != 0)
			return true;
	return false;
}

/* Takes the node's identity from an alive that introduces it (new, or
 * back after the protocol forgot it). */
static int
node_fill(struct swim *s, struct node *n, const struct gw_alive *a)
{
	int rc;

	if ((rc = sw_addr_from(&n->addr, a->addr, a->port)) != 0)
		return rc;
	if ((rc = set_meta(n, a->meta)) != 0)
		return rc;
	memset(n->vsn, 0, GW_VSN_LEN);
	if (vsn_present(a->vsn))
		memcpy(n->vsn, a->vsn, GW_VSN_LEN);
	n->state = SWIM_DEAD;
	n->inc = 0;
	n->state_change = 0;
	return 0;
}

int
mem_refute(struct swim *s, uint32_t accused)
{
	struct node *me = s->self;
	struct gw_msg m;
	uint32_t inc = ++s->incarnation;

	if (accused >= inc)
		inc = accused + 1;
	s->incarnation = inc;
	me->inc = inc;
	aw_delta(s, 1);
	s->st.refutes++;
	memset(&m, 0, sizeof(m));
	m.type = GW_ALIVE;
	m.u.alive.incarnation = inc;
	m.u.alive.node.p = (const uint8_t *)me->name;
	m.u.alive.node.len = me->name_len;
	m.u.alive.addr.p = me->addr.ip;
	m.u.alive.addr.len = me->addr.len;
	m.u.alive.port = me->addr.port;
	m.u.alive.meta.p = me->meta;
	m.u.alive.meta.len = me->meta_len;
	memcpy(m.u.alive.vsn, me->vsn, GW_VSN_LEN);
	/* memberlist keys this broadcast by our address string, a slip;
	 * keyed by name it also replaces a queued older alive of ours. */
	return bq_queue(s, me->name, me->name_len, &m, BN_NONE);
}

/* Another address claims n's name: tell the user, keep what we have. */
static void
conflict(struct swim *s, struct node *n, const struct gw_alive *a)
{
	struct swim_member other;

	s->st.conflicts++;
	sw_log(s, 0, "conflicting address for %s (state %s)", n->name,
	    swim_state_name(n->state));
	memset(&other, 0, sizeof(other));
	other.name = a->node;
	sw_addr_from(&other.addr, a->addr, a->port);
	other.meta = a->meta;
	memcpy(other.vsn, a->vsn, GW_VSN_LEN);
	other.incarnation = a->incarnation;
	event(s, SWIM_EV_CONFLICT, n, &other);
}

int
mem_alive(struct swim *s, const struct gw_alive *a, uint8_t note,
    bool bootstrap)
{
	struct swim_addr addr;
	struct node *n;
	struct gw_msg m;
	bool local, updates = false, meta_changed;
	uint8_t old_state;
	int rc;

	if (a->node.len == 0 || a->node.len > GW_NAME_MAX ||
	    a->meta.len > GW_META_MAX ||
	    sw_addr_from(&addr, a->addr, a->port) != 0)
		return -LE_MALFORMED;
	/* A leave in progress must not be undone by a late alive of ours. */
	if (s->left && sw_bytes_eq(a->node.p, a->node.len, s->name,
	    s->name_len))
		return 0;
	if (vsn_present(a->vsn) && (a->vsn[GW_VSN_PMIN] == 0 ||
	    a->vsn[GW_VSN_PMAX] == 0 ||
	    a->vsn[GW_VSN_PMIN] > a->vsn[GW_VSN_PMAX])) {
		sw_log(s, 0, "ignoring alive with protocol versions %u..%u",
		    a->vsn[GW_VSN_PMIN], a->vsn[GW_VSN_PMAX]);
		return 0;
	}
	n = mem_find(s, a->node.p, a->node.len);
	if (n == NULL) {
		if ((rc = node_new(s, a, &n)) != 0)
			return rc;
		if ((rc = node_fill(s, n, a)) != 0)
			return rc;
	} else if (n->reaped) {
		if ((rc = list_insert(s, n)) != 0)
			return rc;
		if ((rc = node_fill(s, n, a)) != 0)
			return rc;
	} else if (!sw_addr_eq(&n->addr, &addr)) {
		bool reclaim = s->cfg.dead_reclaim_ms > 0 &&
		    s->now - n->state_change >
		    s->cfg.dead_reclaim_ms * US_PER_MS;

		if (n->state == SWIM_LEFT ||
		    (n->state == SWIM_DEAD && reclaim)) {
			updates = true;
		} else {
			conflict(s, n, a);
			return 0;
		}
	}
	local = mem_is_self(s, n);
	if (a->incarnation <= n->inc && !local && !updates)
		return 0;
	if (a->incarnation < n->inc && local)
		return 0;
	susp_stop(s, n);
	old_state = n->state;
	meta_changed = !sw_bytes_eq(n->meta, n->meta_len, a->meta.p,
	    a->meta.len);
	if (!bootstrap && local) {
		/* Same incarnation and same content: an echo of our own
		 * alive. Anything else (a previous life of ours with other
		 * meta or versions) must be overruled. */
		if (a->incarnation == n->inc && !meta_changed &&
		    memcmp(a->vsn, n->vsn, GW_VSN_LEN) == 0)
			return 0;
		sw_log(s, 0, "refuting an alive about us (incarnation %u)",
		    a->incarnation);
		return mem_refute(s, a->incarnation);
	}
	memset(&m, 0, sizeof(m));
	m.type = GW_ALIVE;
	m.u.alive = *a;
	if ((rc = bq_queue(s, n->name, n->name_len, &m, note)) != 0)
		return rc;
	if (vsn_present(a->vsn))
		memcpy(n->vsn, a->vsn, GW_VSN_LEN);
	n->inc = a->incarnation;
	if (meta_changed && (rc = set_meta(n, a->meta)) != 0)
		return rc;
	n->addr = addr;
	if (n->state != SWIM_ALIVE) {
		n->state = SWIM_ALIVE;
		n->state_change = s->now;
	}
	if (old_state == SWIM_DEAD || old_state == SWIM_LEFT)
		event(s, SWIM_EV_JOIN, n, NULL);
	else if (meta_changed)
		event(s, SWIM_EV_UPDATE, n, NULL);
	return 0;
}

int
mem_suspect(struct swim *s, const struct gw_suspect *sm)
{
	struct node *n = mem_live(s, sm->node.p, sm->node.len);
	struct gw_msg m;
	int rc;

	if (n == NULL || sm->incarnation < n->inc)
		return 0;
	memset(&m, 0, sizeof(m));
	m.type = GW_SUSPECT;
	m.u.suspect = *sm;
	/* Already suspect: a new accuser is an independent confirmation,
	 * worth passing on; a known one is not. */
	if (n->susp != NULL) {
		if (susp_confirm(s, n, sm->from))
			return bq_queue(s, n->name, n->name_len, &m, BN_NONE);
		return 0;
	}
	if (n->state != SWIM_ALIVE)
		return 0;
	if (n == s->self) {
		sw_log(s, 0, "refuting a suspicion (from %.*s)",
		    (int)sm->from.len, (const char *)sm->from.p);
		return mem_refute(s, sm->incarnation);
	}
	if ((rc = bq_queue(s, n->name, n->name_len, &m, BN_NONE)) != 0)
		return rc;
	n->inc = sm->incarnation;
	n->state = SWIM_SUSPECT;
	n->state_change = s->now;
	s->st.suspects++;
	return susp_start(s, n, sm->from);
}

int
mem_dead(struct swim *s, const struct gw_suspect *dm)
{
	struct node *n = mem_live(s, dm->node.p, dm->node.len);
	struct gw_msg m;
	bool left;
	int rc;

	if (n == NULL || dm->incarnation < n->inc)
		return 0;
	susp_stop(s, n);
	if (n->state == SWIM_DEAD || n->state == SWIM_LEFT)
		return 0;
	memset(&m, 0, sizeof(m));
	m.type = GW_DEAD;
	m.u.suspect = *dm;
	if (n == s->self) {
		if (!s->left) {
			sw_log(s, 0, "refuting a death (from %.*s)",
			    (int)dm->from.len, (const char *)dm->from.p);
			return mem_refute(s, dm->incarnation);
		}
		rc = bq_queue(s, n->name, n->name_len, &m, BN_LEAVE);
	} else {
		rc = bq_queue(s, n->name, n->name_len, &m, BN_NONE);
	}
	if (rc != 0)
		return rc;
	left = sw_bytes_eq(dm->node.p, dm->node.len, dm->from.p, dm->from.len);
	n->inc = dm->incarnation;
	n->state = left ? SWIM_LEFT : SWIM_DEAD;
	n->state_change = s->now;
	event(s, left ? SWIM_EV_LEAVE : SWIM_EV_FAIL, n, NULL);
	return 0;
}

/* Takes n out of the protocol list (order of the rest kept). */
static void
list_remove(struct swim *s, struct node *n)
{
	size_t i = n->idx;

	memmove(&s->nodes[i], &s->nodes[i + 1],
	    (s->n_nodes - i - 1) * sizeof(*s->nodes));
	s->n_nodes--;
	for (; i < s->n_nodes; i++)
		s->nodes[i]->idx = i;
	if (s->probe_index > n->idx)
		s->probe_index--;
	n->reaped = true;
	n->reaped_at = s->now;
}

static void
record_drop(struct swim *s, struct node *n)
{
	htab_del(s, n);
	node_free(n);
}

static bool
reapable(const struct swim *s, const struct node *n)
{
	if (n->state != SWIM_DEAD && !(n->state == SWIM_LEFT &&
	    s->cfg.reap_left))
		return false;
	return s->now - n->state_change > s->cfg.gossip_to_dead_ms * US_PER_MS;
}

void
mem_reset(struct swim *s)
{
	size_t keep = 0;

	/* Reap: memberlist forgets nodes dead for GossipToTheDeadTime. */
	for (size_t i = 0; i < s->n_nodes; i++) {
		struct node *n = s->nodes[i];

		if (!reapable(s, n)) {
			n->idx = keep;
			s->nodes[keep++] = n;
			continue;
		}
		n->reaped = true;
		n->reaped_at = s->now;
		event(s, SWIM_EV_REAP, n, NULL);
		if (s->cfg.dead_retain_ms == 0)
			record_drop(s, n);
	}
	s->n_nodes = keep;
	/* Drop reaped records whose retention is over. */
	if (s->cfg.dead_retain_ms != 0 && s->cfg.dead_retain_ms != UINT64_MAX) {
		for (size_t b = 0; b < s->hcap; b++) {
			struct node *n = s->htab[b], *next;

			for (; n != NULL; n = next) {
				next = n->hnext;
				if (n->reaped && s->now - n->reaped_at >=
				    s->cfg.dead_retain_ms * US_PER_MS)
					record_drop(s, n);
			}
		}
	}
	/* Fisher-Yates, as Go's rand.Shuffle. */
	for (size_t i = s->n_nodes; i > 1; i--) {
		size_t j = (size_t)sw_rand(s, i);
		struct node *t = s->nodes[i - 1];

		s->nodes[i - 1] = s->nodes[j];
		s->nodes[j] = t;
	}
	for (size_t i = 0; i < s->n_nodes; i++)
		s->nodes[i]->idx = i;
}

size_t
mem_random(struct swim *s, size_t k, struct node **out,
    bool (*skip)(struct swim *s, const struct node *n, void *arg), void *arg)
{
	size_t got = 0, n = s->n_nodes;

	/* memberlist's kRandomNodes: up to 3n random draws, which is
	 * exhaustive enough for small n and cheap for large n. */
	for (size_t i = 0; i < 3 * n && got < k; i++) {
		struct node *c = s->nodes[sw_rand(s, n)];
		size_t j;

		if (skip != NULL && skip(s, c, arg))
			continue;
		for (j = 0; j < got && out[j] != c; j++)
			;
		if (j == got)
			out[got++] = c;
	}
	return got;
}

bool
mem_any_alive(const struct swim *s)
{
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct node *n = s->nodes[i];

		if (n != s->self && n->state != SWIM_DEAD &&
		    n->state != SWIM_LEFT)
			return true;
	}
	return false;
}

int
mem_forget(struct swim *s, struct node *n)
{
	if (n == s->self || n->state == SWIM_ALIVE ||
	    n->state == SWIM_SUSPECT)
		return -LE_STATE;
	if (!n->reaped) {
		list_remove(s, n);
		event(s, SWIM_EV_REAP, n, NULL);
	}
	record_drop(s, n);
	return 0;
}

void
mem_free_all(struct swim *s)
{
	susp_free_all(s);
	for (size_t b = 0; b < s->hcap; b++) {
		struct node *n, *next;

		for (n = s->htab[b]; n != NULL; n = next) {
			next = n->hnext;
			node_free(n);
		}
	}
	free(s->htab);
	free(s->nodes);
	s->htab = NULL;
	s->nodes = NULL;
	s->hcap = s->hcount = s->n_nodes = 0;
}
