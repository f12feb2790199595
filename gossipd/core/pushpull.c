/* pushpull.c: anti-entropy and joins (§7.1, §8, §9.6), memberlist's
 * pushPull, sendLocalState, verifyProtocol, mergeRemoteState and
 * mergeState. The core decides when and with whom; the daemon runs the
 * TCP exchange (ops->push_pull) and hands the reply back
 * (swim_push_pull_done), or serves a remote's exchange
 * (swim_push_pull_serve).
 *
 * Merging is deliberately weaker than gossip: a remote's alive is an
 * alive, its left is a leave, but its dead or suspect only makes us
 * suspect the node (with us as accuser), so one confused peer cannot
 * kill nodes by anti-entropy; the suspicion timer and the node's chance
 * to refute decide. Before anything is merged every node, local and
 * remote, must speak versions inside the window all alive nodes
 * understand, or the exchange (and so a join) fails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "swim_int.h"

#define PP_SCALE_NODES	32	/* push/pull slows down past this many */

uint64_t
pp_interval_us(const struct swim *s)
{
	uint64_t base = s->cfg.push_pull_interval_ms * US_PER_MS;
	double mult;

	if (s->n_nodes <= PP_SCALE_NODES)
		return base;
	mult = ceil(log2((double)s->n_nodes) - log2(PP_SCALE_NODES)) + 1.0;
	return (uint64_t)mult * base;
}

int
pp_local_state(struct swim *s, bool join, struct gw_buf *out)
{
	struct gw_push_node *v = NULL;
	struct gw_buf user = { 0 };
	struct gw_bytes us = { NULL, 0 };
	int rc = 0;

	if (s->n_nodes > 0 &&
	    (v = calloc(s->n_nodes, sizeof(*v))) == NULL)
		return -LE_NOMEM;
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct node *n = s->nodes[i];

		v[i].name.p = (const uint8_t *)n->name;
		v[i].name.len = n->name_len;
		v[i].addr.p = n->addr.ip;
		v[i].addr.len = n->addr.len;
		v[i].port = n->addr.port;
		v[i].meta.p = n->meta;
		v[i].meta.len = n->meta_len;
		v[i].incarnation = n->inc;
		v[i].state = n->state;
		memcpy(v[i].vsn, n->vsn, GW_VSN_LEN);
	}
	if (s->ops.local_state != NULL)
		rc = s->ops.local_state(s->arg, join, &user);
	if (rc == 0) {
		if (user.len > 0) {
			us.p = user.p;
			us.len = user.len;
		}
		rc = gw_push_encode(out, join, v, (uint32_t)s->n_nodes, us);
	}
	gw_buf_free(&user);
	free(v);
	return rc;
}

static bool
vsn_set(const uint8_t *v)
{
	for (int i = 0; i < GW_VSN_LEN; i++)
		if (v[i] != 0)
			return true;
	return false;
}

struct window {
	uint8_t pmin, pmax, dmin, dmax;
};

static void
window_add(struct window *w, const uint8_t *v)
{
	if (v[GW_VSN_PMIN] > w->pmin)
		w->pmin = v[GW_VSN_PMIN];
	if (v[GW_VSN_PMAX] < w->pmax)
		w->pmax = v[GW_VSN_PMAX];
	if (v[GW_VSN_DMIN] > w->dmin)
		w->dmin = v[GW_VSN_DMIN];
	if (v[GW_VSN_DMAX] < w->dmax)
		w->dmax = v[GW_VSN_DMAX];
}

static bool
window_ok(const struct window *w, const uint8_t *v)
{
	return v[GW_VSN_PCUR] >= w->pmin && v[GW_VSN_PCUR] <= w->pmax &&
	    v[GW_VSN_DCUR] >= w->dmin && v[GW_VSN_DCUR] <= w->dmax;
}

/* memberlist's verifyProtocol: the window comes from alive nodes only,
 * but every node, in any state, must speak inside it. */
static int
verify(struct swim *s, const struct gw_push_node *r, size_t n)
{
	struct window w = { 0, 255, 0, 255 };

	for (size_t i = 0; i < n; i++)
		if (r[i].state == GW_STATE_ALIVE && vsn_set(r[i].vsn))
			window_add(&w, r[i].vsn);
	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i]->state == SWIM_ALIVE)
			window_add(&w, s->nodes[i]->vsn);
	for (size_t i = 0; i < n; i++) {
		if (!window_ok(&w, r[i].vsn)) {
			sw_log(s, 0, "node '%.*s' protocol version (%u/%u) is "
			    "incompatible: [%u, %u]/[%u, %u]",
			    (int)r[i].name.len, (const char *)r[i].name.p,
			    r[i].vsn[GW_VSN_PCUR], r[i].vsn[GW_VSN_DCUR],
			    w.pmin, w.pmax, w.dmin, w.dmax);
			return -LE_VERSION;
		}
	}
	for (size_t i = 0; i < s->n_nodes; i++)
		if (!window_ok(&w, s->nodes[i]->vsn))
			return -LE_VERSION;
	return 0;
}

static int
merge_one(struct swim *s, const struct gw_push_node *r)
{
	struct gw_alive a;
	struct gw_suspect sm;

	switch (r->state) {
	case GW_STATE_ALIVE:
		memset(&a, 0, sizeof(a));
		a.incarnation = r->incarnation;
		a.node = r->name;
		a.addr = r->addr;
		a.port = r->port;
		a.meta = r->meta;
		memcpy(a.vsn, r->vsn, GW_VSN_LEN);
		return mem_alive(s, &a, BN_NONE, false);
	case GW_STATE_LEFT:
		memset(&sm, 0, sizeof(sm));
		sm.incarnation = r->incarnation;
		sm.node = sm.from = r->name;
		return mem_dead(s, &sm);
	case GW_STATE_DEAD:
	case GW_STATE_SUSPECT:
		memset(&sm, 0, sizeof(sm));
		sm.incarnation = r->incarnation;
		sm.node = r->name;
		sm.from.p = (const uint8_t *)s->name;
		sm.from.len = s->name_len;
		return mem_suspect(s, &sm);
	default:
		return 0;		/* memberlist ignores other states */
	}
}

int
pp_decode(struct swim *s, const uint8_t *msg, size_t len,
    struct gw_push_header *hdr, struct gw_push_reader *rd, struct gw_bytes *us)
{
	if (len < 1 || msg[0] != GW_PUSH_PULL ||
	    gw_push_decode(msg + 1, len - 1, hdr, rd, us, NULL) != 0) {
		s->st.msgs_bad++;
		return -LE_MALFORMED;
	}
	return 0;
}

int
pp_merge(struct swim *s, bool join, struct gw_push_reader rd,
    struct gw_bytes us)
{
	struct gw_push_node *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	/* gw_push_decode checked every node: the walk cannot fail, and the
	 * array grows with what is really there, not with the header. */
	for (;;) {
		struct gw_push_node node;

		if ((rc = gw_push_next_node(&rd, &node, NULL)) == -LE_NOTFOUND)
			break;
		if (rc != 0)
			goto out;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct gw_push_node *nv = realloc(v, nc * sizeof(*nv));

			if (nv == NULL) {
				rc = -LE_NOMEM;
				goto out;
			}
			v = nv;
			cap = nc;
		}
		v[n++] = node;
	}
	if ((rc = verify(s, v, n)) != 0)
		goto out;
	if (join && s->ops.merge_check != NULL &&
	    s->ops.merge_check(s->arg, v, n, true) != 0) {
		rc = -LE_PERM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int r1 = merge_one(s, &v[i]);

		/* One bad node state does not spoil the others. */
		if (r1 == -LE_MALFORMED)
			s->st.msgs_bad++;
		else if (r1 != 0 && rc == 0)
			rc = r1;
	}
	if (us.p != NULL && s->ops.merge_remote_state != NULL)
		s->ops.merge_remote_state(s->arg, us.p, us.len, join);
out:
	free(v);
	return rc;
}

int
pp_start(struct swim *s, const struct swim_addr *to, bool join,
    bool periodic, uint64_t *id)
{
	struct gw_buf out = { 0 };
	struct pp_out *o;
	int rc;

	if (s->pp_n == PP_OUT_MAX)
		return -LE_UNAVAIL;
	if ((rc = pp_local_state(s, join, &out)) != 0) {
		gw_buf_free(&out);
		return rc;
	}
	o = &s->pp[s->pp_n++];
	o->id = ++s->pp_id;
	o->join = join;
	o->periodic = periodic;
	if (id != NULL)
		*id = o->id;
	s->st.push_pulls++;
	s->ops.push_pull(s->arg, o->id, to, join, out.p, out.len);
	gw_buf_free(&out);
	return 0;
}

static bool
pp_skip(struct swim *s, const struct node *n, void *arg)
{
	return n == s->self || n->state != SWIM_ALIVE;
}

void
pp_tick(struct swim *s)
{
	struct node *peer;
	bool busy = false;

	s->pp_at = s->now + pp_interval_us(s);
	/* memberlist's push/pull loop waits for its exchange to end. */
	for (unsigned i = 0; i < s->pp_n; i++)
		busy |= s->pp[i].periodic;
	if (busy || mem_random(s, 1, &peer, pp_skip, NULL) == 0)
		return;
	pp_start(s, &peer->addr, false, true, NULL);
}
