/* serf_sim_test.c: Serf's layer (gossipd/serf) in clusters of simulated
 * nodes: each node is a real struct serf over a real SWIM core, run by
 * the deterministic simulator of swim_sim.c through its layer hook (fake
 * time, lossy network, partitions, crashes). Checks what Serf promises:
 * tags everywhere, graceful leave seen as left (never failed), crashes
 * failed then reaped, reconnect after a partition, user events delivered
 * exactly once despite loss and duplicates and old ones ignored, intents
 * that arrive before their member, queries answered by exactly the nodes
 * their filters select, force-leave with and without prune, and the
 * snapshot file (restored clocks, rejoin without a join, "leave").
 * Every run prints its seed on failure (SWIM_SIM_SEED replays it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serf.h"
#include "snapshot.h"
#include "swim_sim.h"

#define MAXN 128
#define MAXEV 256

struct rec_event {
	uint64_t ltime;
	char name[64];
	char payload[64];
	unsigned count;
};

struct hnode {
	struct harness *h;
	int i;
	struct serf *sf;
	struct swim_ops sim;		/* the simulator's I/O */
	void *sim_arg;
	/* what this node's member events said about each node */
	int8_t status[MAXN];		/* enum serf_status, -1 unknown */
	unsigned n_join[MAXN], n_leave[MAXN], n_failed[MAXN], n_update[MAXN],
	    n_reap[MAXN];
	uint8_t join_status[MAXN];	/* status carried by the last join */
	struct rec_event ev[MAXEV];
	unsigned n_ev;
	unsigned n_queries;
	uint64_t pending[64];		/* query handles to answer */
	unsigned n_pending;
	char last_query[64];
	/* completions */
	int done_status[5];
	unsigned done_n[5];
	unsigned done_count[5];
	bool no_join;			/* restarts without a join */
	unsigned rejoin_failed;		/* "failed to re-join" logged */
	uint8_t keys[8][16];		/* a fake keyring, primary first */
	unsigned n_keys;
	bool no_crypto;
	char snap[320];			/* snapshot path or "" */
	unsigned tag_set;		/* which tag set boot uses */
};

struct qrec {
	int node;			/* the querier */
	uint64_t qid;			/* its serf's id */
	char acks[MAXN][16];
	unsigned n_acks;
	char resps[MAXN][16];
	unsigned n_resps;
	unsigned dup;
	unsigned conflicts;
	unsigned key_ok, key_fail;
	char key_msg[128];
	char key_list[256];		/* one list-keys answer, joined */
	bool done;
};

struct harness {
	struct ssim *sim;
	int n;
	struct hnode nd[MAXN];
	struct serf_config base;
	bool respond;			/* answer every delivered query */
	struct qrec q[16];
	unsigned nq;
};

static uint64_t
seed_for(uint64_t dflt)
{
	const char *e = getenv("SWIM_SIM_SEED");

	return e ? strtoull(e, NULL, 10) : dflt;
}

static int
subject(struct gw_bytes name)
{
	int i = 0;

	if (name.len < 2 || name.p[0] != 'n')
		return -1;
	for (size_t k = 1; k < name.len; k++)
		i = i * 10 + (name.p[k] - '0');
	return i < MAXN ? i : -1;
}

/* ---- serf ops: I/O through the simulator, events recorded ---- */

static uint64_t
w_now(void *arg)
{
	struct hnode *n = arg;

	return n->sim.now(n->sim_arg);
}

static uint64_t
w_rand(void *arg)
{
	struct hnode *n = arg;

	return n->sim.rand(n->sim_arg);
}

static void
w_send_udp(void *arg, const struct swim_addr *to, uint8_t pmax,
    const uint8_t *pkt, size_t len)
{
	struct hnode *n = arg;

	n->sim.send_udp(n->sim_arg, to, pmax, pkt, len);
}

static void
w_tcp_ping(void *arg, uint32_t seq, const struct swim_addr *to,
    const uint8_t *msg, size_t len, uint64_t deadline_us)
{
	struct hnode *n = arg;

	n->sim.tcp_ping(n->sim_arg, seq, to, msg, len, deadline_us);
}

static void
w_push_pull(void *arg, uint64_t id, const struct swim_addr *to, bool join,
    const uint8_t *msg, size_t len)
{
	struct hnode *n = arg;

	n->sim.push_pull(n->sim_arg, id, to, join, msg, len);
}

static void
w_log(void *arg, int level, const char *msg)
{
	struct hnode *n = arg;

	if (strstr(msg, "failed to re-join") != NULL)
		n->rejoin_failed++;
	if (getenv("SERF_SIM_VERBOSE"))
		fprintf(stderr, "%.6f n%04d: %s\n",
		    ssim_now(n->h->sim) / 1e6, n->i, msg);
	(void)level;
}

static void
w_member_event(void *arg, enum serf_event ev, const struct serf_member *m)
{
	struct hnode *n = arg;
	int j = subject(m->name);

	if (j < 0) {
		ssim_fail(n->h->sim, "n%04d: event about %.*s", n->i,
		    (int)m->name.len, (const char *)m->name.p);
		return;
	}
	switch (ev) {
	case SERF_EV_JOIN:
		n->n_join[j]++;
		n->join_status[j] = m->status;
		break;
	case SERF_EV_LEAVE:
		n->n_leave[j]++;
		break;
	case SERF_EV_FAILED:
		n->n_failed[j]++;
		break;
	case SERF_EV_UPDATE:
		n->n_update[j]++;
		break;
	case SERF_EV_REAP:
		n->n_reap[j]++;
		n->status[j] = -1;
		return;
	}
	n->status[j] = (int8_t)m->status;
}

static void
w_user_event(void *arg, const struct serf_user_event *e)
{
	struct hnode *n = arg;
	char name[64], payload[64];

	snprintf(name, sizeof(name), "%.*s", (int)e->name.len,
	    (const char *)e->name.p);
	snprintf(payload, sizeof(payload), "%.*s", (int)e->payload.len,
	    e->payload.p ? (const char *)e->payload.p : "");
	for (unsigned k = 0; k < n->n_ev; k++) {
		if (n->ev[k].ltime == e->ltime &&
		    strcmp(n->ev[k].name, name) == 0 &&
		    strcmp(n->ev[k].payload, payload) == 0) {
			n->ev[k].count++;
			return;
		}
	}
	if (n->n_ev == MAXEV) {
		ssim_fail(n->h->sim, "too many events");
		return;
	}
	n->ev[n->n_ev].ltime = e->ltime;
	strcpy(n->ev[n->n_ev].name, name);
	strcpy(n->ev[n->n_ev].payload, payload);
	n->ev[n->n_ev].count = 1;
	n->n_ev++;
}

static void
w_query(void *arg, const struct serf_query_in *q)
{
	struct hnode *n = arg;

	n->n_queries++;
	snprintf(n->last_query, sizeof(n->last_query), "%.*s",
	    (int)q->name.len, (const char *)q->name.p);
	if (n->h->respond && n->n_pending < 64)
		n->pending[n->n_pending++] = q->handle;
}

static struct qrec *
qrec(struct harness *h, int node, uint64_t qid)
{
	for (unsigned k = 0; k < h->nq; k++)
		if (h->q[k].node == node && h->q[k].qid == qid)
			return &h->q[k];
	return NULL;
}

static void
w_query_ack(void *arg, uint64_t qid, struct gw_bytes from)
{
	struct hnode *n = arg;
	struct qrec *r = qrec(n->h, n->i, qid);

	if (r == NULL || r->n_acks == MAXN) {
		ssim_fail(n->h->sim, "ack for unknown query %llu",
		    (unsigned long long)qid);
		return;
	}
	for (unsigned k = 0; k < r->n_acks; k++)
		if (strlen(r->acks[k]) == from.len &&
		    memcmp(r->acks[k], from.p, from.len) == 0)
			r->dup++;
	snprintf(r->acks[r->n_acks++], 16, "%.*s", (int)from.len,
	    (const char *)from.p);
}

static void
w_query_response(void *arg, uint64_t qid, struct gw_bytes from,
    struct gw_bytes payload)
{
	struct hnode *n = arg;
	struct qrec *r = qrec(n->h, n->i, qid);
	char want[32];

	if (r == NULL || r->n_resps == MAXN) {
		ssim_fail(n->h->sim, "response for unknown query");
		return;
	}
	snprintf(want, sizeof(want), "ok:%.*s", (int)from.len,
	    (const char *)from.p);
	if (payload.len > 0 && payload.p[0] == GS_KEY_RESPONSE) {
		struct gs_key_response *kr = calloc(1, sizeof(*kr));

		assert_non_null(kr);
		if (gs_key_response_decode(payload, kr, NULL) != 0) {
			ssim_fail(n->h->sim, "bad key response");
		} else {
			if (kr->result)
				r->key_ok++;
			else
				r->key_fail++;
			if (kr->message.len)
				snprintf(r->key_msg, sizeof(r->key_msg), "%.*s",
				    (int)kr->message.len,
				    (const char *)kr->message.p);
			if (kr->n_keys) {
				size_t o = 0;

				for (unsigned k = 0; k < kr->n_keys; k++)
					o += (size_t)snprintf(r->key_list + o,
					    sizeof(r->key_list) - o, "%s%.*s",
					    k ? "," : "", (int)kr->keys[k].len,
					    (const char *)kr->keys[k].p);
				snprintf(r->key_list + o, sizeof(r->key_list) -
				    o, " primary %.*s", (int)kr->primary.len,
				    (const char *)kr->primary.p);
			}
		}
		free(kr);
	} else if (payload.len > 0 && payload.p[0] == GS_CONFLICT_RESPONSE) {
		/* _serf_conflict: the responder's view of the member. */
		struct gs_msg m;

		if (gs_decode(payload.p, payload.len, &m, NULL) != 0 ||
		    m.type != GS_CONFLICT_RESPONSE || m.u.raw.len < 20)
			ssim_fail(n->h->sim, "bad conflict response");
		r->conflicts++;
	} else if (payload.len != strlen(want) || memcmp(payload.p, want,
	    payload.len) != 0)
		ssim_fail(n->h->sim, "response from %.*s carries the wrong "
		    "payload", (int)from.len, (const char *)from.p);
	for (unsigned k = 0; k < r->n_resps; k++)
		if (strlen(r->resps[k]) == from.len &&
		    memcmp(r->resps[k], from.p, from.len) == 0)
			r->dup++;
	snprintf(r->resps[r->n_resps++], 16, "%.*s", (int)from.len,
	    (const char *)from.p);
}

static void
w_query_done(void *arg, uint64_t qid)
{
	struct hnode *n = arg;
	struct qrec *r = qrec(n->h, n->i, qid);

	if (r != NULL)
		r->done = true;
}

static void
w_done(void *arg, enum serf_op op, uint64_t token, int status, unsigned cnt)
{
	struct hnode *n = arg;

	(void)token;
	n->done_status[op] = status;
	n->done_n[op] = cnt;
	n->done_count[op]++;
}

/* A keyring as memberlist's: add is a no-op for a known key, use needs
 * the key, the primary cannot be removed. */
static int
w_keyring(void *arg, enum serf_key_op op, struct gw_bytes key,
    struct serf_keys *out, const char **msg)
{
	struct hnode *n = arg;
	unsigned i;

	if (n->no_crypto)
		return -LE_UNSUPPORTED;
	if (op == SERF_KEY_LIST) {
		out->n = n->n_keys;
		for (i = 0; i < n->n_keys; i++)
			out->key[i] = (struct gw_bytes){ n->keys[i], 16 };
		return 0;
	}
	if (key.len != 16) {
		*msg = "key size must be 16, 24 or 32 bytes";
		return -LE_INVAL;
	}
	for (i = 0; i < n->n_keys; i++)
		if (memcmp(n->keys[i], key.p, 16) == 0)
			break;
	switch (op) {
	case SERF_KEY_INSTALL:
		if (i == n->n_keys && n->n_keys < 8)
			memcpy(n->keys[n->n_keys++], key.p, 16);
		return 0;
	case SERF_KEY_USE:
		if (i == n->n_keys) {
			*msg = "Requested key is not in the keyring";
			return -LE_NOTFOUND;
		}
		memcpy(n->keys[i], n->keys[0], 16);
		memcpy(n->keys[0], key.p, 16);
		return 0;
	case SERF_KEY_REMOVE:
		if (i == 0) {
			*msg = "Removing the primary key is not allowed";
			return -LE_PERM;
		}
		if (i < n->n_keys)
			memmove(n->keys[i], n->keys[i + 1],
			    (n->n_keys-- - i - 1) * 16);
		return 0;
	default:
		return -LE_INVAL;
	}
}

/* ---- the layer hook ---- */

static const struct serf_tag tagsets[3][3] = {
	{ { { (const uint8_t *)"role", 4 }, { (const uint8_t *)"web", 3 } },
	  { { (const uint8_t *)"dc", 2 }, { (const uint8_t *)"dc1", 3 } } },
	{ { { (const uint8_t *)"role", 4 }, { (const uint8_t *)"db", 2 } },
	  { { (const uint8_t *)"dc", 2 }, { (const uint8_t *)"dc1", 3 } } },
	{ { { (const uint8_t *)"role", 4 }, { (const uint8_t *)"cache", 5 } },
	  { { (const uint8_t *)"dc", 2 }, { (const uint8_t *)"dc2", 3 } },
	  { { (const uint8_t *)"zone", 4 }, { (const uint8_t *)"b", 1 } } },
};
static const unsigned tagset_n[3] = { 2, 2, 3 };

static int
l_boot(void *arg, int i, const struct swim_config *cfg,
    const struct swim_self *self, const struct swim_ops *ops, void *ops_arg,
    struct swim **sw)
{
	struct harness *h = arg;
	struct hnode *n = &h->nd[i];
	struct serf_config c = h->base;
	struct serf_ops so = {
		.now = w_now, .rand = w_rand, .send_udp = w_send_udp,
		.tcp_ping = w_tcp_ping, .push_pull = w_push_pull,
		.log = w_log, .member_event = w_member_event,
		.user_event = w_user_event, .query = w_query,
		.query_ack = w_query_ack, .query_response = w_query_response,
		.query_done = w_query_done, .done = w_done,
		.keyring = w_keyring,
	};
	int rc;

	n->h = h;
	n->i = i;
	n->sim = *ops;
	n->sim_arg = ops_arg;
	/* What a life saw: a restarted node starts over (its Serf does). */
	memset(n->status, -1, sizeof(n->status));
	memset(n->n_join, 0, sizeof(n->n_join));
	memset(n->n_leave, 0, sizeof(n->n_leave));
	memset(n->n_failed, 0, sizeof(n->n_failed));
	memset(n->n_update, 0, sizeof(n->n_update));
	memset(n->n_reap, 0, sizeof(n->n_reap));
	n->n_ev = 0;
	n->n_queries = 0;
	n->n_pending = 0;
	memset(n->done_count, 0, sizeof(n->done_count));
	c.swim = *cfg;
	c.name = self->name;
	c.addr = self->addr;
	c.tags = tagsets[n->tag_set];
	c.n_tags = tagset_n[n->tag_set];
	c.snapshot_path = n->snap[0] ? n->snap : NULL;
	if ((rc = serf_new(&c, &so, n, &n->sf)) != 0)
		return rc;
	*sw = serf_swim(n->sf);
	return 0;
}

static void
l_down(void *arg, int i)
{
	struct harness *h = arg;

	serf_free(h->nd[i].sf);
	h->nd[i].sf = NULL;
}

static int
l_start(void *arg, int i)
{
	return serf_start(((struct harness *)arg)->nd[i].sf);
}

static int
l_tick(void *arg, int i)
{
	return serf_tick(((struct harness *)arg)->nd[i].sf);
}

static uint64_t
l_next(void *arg, int i)
{
	return serf_next_deadline(((struct harness *)arg)->nd[i].sf);
}

static int
l_pp_done(void *arg, int i, uint64_t id, int status, const uint8_t *msg,
    size_t len)
{
	return serf_push_pull_done(((struct harness *)arg)->nd[i].sf, id,
	    status, msg, len);
}

static int
l_join(void *arg, int i, const struct swim_addr *to, uint64_t *id)
{
	struct harness *h = arg;

	*id = 0;
	if (h->nd[i].no_join)
		return 0;
	return serf_join(h->nd[i].sf, to, 1, false, (uint64_t)i);
}

static int
l_leave(void *arg, int i, uint32_t timeout_ms)
{
	(void)timeout_ms;
	return serf_leave(((struct harness *)arg)->nd[i].sf, (uint64_t)i);
}

static const struct ssim_layer serf_layer = {
	.boot = l_boot, .down = l_down, .start = l_start, .tick = l_tick,
	.next_deadline = l_next, .push_pull_done = l_pp_done,
	.join = l_join, .leave = l_leave,
};

/* ---- harness ---- */

static struct harness *
harness_new(uint64_t seed, int n, void (*tune)(struct ssim_opts *,
    struct serf_config *))
{
	struct harness *h = calloc(1, sizeof(*h));
	struct ssim_opts o;

	assert_non_null(h);
	assert_true(n <= MAXN);
	h->n = n;
	ssim_opts_default(&o, seed_for(seed), n);
	o.retry_join = 0;
	o.layer = &serf_layer;
	o.layer_arg = h;
	serf_config_default(&h->base);
	for (int i = 0; i < n; i++)
		h->nd[i].tag_set = (unsigned)(i % 2);
	if (tune != NULL)
		tune(&o, &h->base);
	assert_int_equal(ssim_new(&o, &h->sim), 0);
	return h;
}

static void
harness_free(struct harness *h)
{
	ssim_free(h->sim);
	free(h);
}

/* Answers the queries the nodes were given (outside any callback). */
static void
pump(struct harness *h)
{
	for (int i = 0; i < h->n; i++) {
		struct hnode *n = &h->nd[i];
		char pl[32];

		if (n->sf == NULL || !ssim_up(h->sim, i)) {
			n->n_pending = 0;
			continue;
		}
		snprintf(pl, sizeof(pl), "ok:n%04d", i);
		for (unsigned k = 0; k < n->n_pending; k++)
			assert_int_equal(serf_query_respond(n->sf,
			    n->pending[k], (struct gw_bytes){
			    (const uint8_t *)pl, strlen(pl) }), 0);
		if (n->n_pending)
			ssim_resched(h->sim, i);
		n->n_pending = 0;
	}
}

struct until {
	struct harness *h;
	bool (*pred)(struct harness *, void *);
	void *arg;
};

static bool
until_pred(struct ssim *s, void *arg)
{
	struct until *u = arg;

	(void)s;
	pump(u->h);
	return u->pred(u->h, u->arg);
}

/* Runs until pred holds; fails the test after max_ms. */
static void
run_until(struct harness *h, bool (*pred)(struct harness *, void *),
    void *arg, uint64_t max_ms, const char *what)
{
	struct until u = { h, pred, arg };
	int rc = ssim_run_while(h->sim, until_pred, &u, max_ms);

	if (rc != 1) {
		ssim_report(h->sim, stderr);
		fail_msg("%s: not reached in %llu ms (%s)", what,
		    (unsigned long long)max_ms, rc < 0 ?
		    ssim_error(h->sim) : "timeout");
	}
}

static void
run_for(struct harness *h, uint64_t ms)
{
	struct until u = { h, NULL, NULL };

	for (uint64_t t = 0; t < ms; t += 10) {
		pump(u.h);
		if (ssim_run_for(h->sim, 10) != 0) {
			ssim_report(h->sim, stderr);
			fail_msg("run failed: %s", ssim_error(h->sim));
		}
	}
}

static int
status_of(struct harness *h, int obs, int subj)
{
	struct serf_member m;
	char name[16];

	snprintf(name, sizeof(name), "n%04d", subj);
	if (serf_member(h->nd[obs].sf, (struct gw_bytes){
	    (const uint8_t *)name, strlen(name) }, &m) != 0)
		return -1;
	return m.status;
}

/* Every up node sees every up node alive (in its table and its events)
 * and every down one as `down` (-1: gone from the table). */
struct conv {
	int down;
	const bool *ignore;
};

static bool
converged(struct harness *h, void *arg)
{
	const struct conv *c = arg;

	for (int o = 0; o < h->n; o++) {
		if (!ssim_up(h->sim, o) || (c && c->ignore && c->ignore[o]))
			continue;
		for (int j = 0; j < h->n; j++) {
			int want = ssim_up(h->sim, j) ? SERF_ALIVE :
			    c ? c->down : -1;
			int have = status_of(h, o, j);

			if (c && c->ignore && c->ignore[j])
				continue;
			if (have != want)
				return false;
			if (j != o && h->nd[o].status[j] != want)
				return false;
		}
	}
	return true;
}

static struct gw_bytes
B(const char *s)
{
	return (struct gw_bytes){ (const uint8_t *)s, strlen(s) };
}

static bool
all_up(struct harness *h, void *arg)
{
	(void)arg;
	for (int i = 0; i < h->n; i++)
		if (!ssim_up(h->sim, i))
			return false;
	return true;
}

static struct harness *
cluster(uint64_t seed, int n, void (*tune)(struct ssim_opts *,
    struct serf_config *))
{
	struct harness *h = harness_new(seed, n, tune);

	assert_int_equal(ssim_start_all(h->sim, 2000), 0);
	run_until(h, all_up, NULL, 3000, "all started");
	run_until(h, converged, NULL, 60000, "initial convergence");
	return h;
}

/* ---- tests ---- */

static bool
tags_seen(struct harness *h, void *arg)
{
	int want3 = *(int *)arg;

	for (int o = 0; o < h->n; o++) {
		for (int j = 0; j < h->n; j++) {
			struct serf_member m;
			char name[16];
			unsigned ts = j == 3 ? (unsigned)want3 : (unsigned)(j % 2);
			struct gw_bytes role, dc, zone;

			snprintf(name, sizeof(name), "n%04d", j);
			if (serf_member(h->nd[o].sf, B(name), &m) != 0)
				return false;
			role = serf_member_tag(&m, "role");
			dc = serf_member_tag(&m, "dc");
			zone = serf_member_tag(&m, "zone");
			if (m.n_tags != tagset_n[ts] ||
			    role.len != tagsets[ts][0].val.len ||
			    memcmp(role.p, tagsets[ts][0].val.p, role.len) ||
			    dc.len != tagsets[ts][1].val.len ||
			    memcmp(dc.p, tagsets[ts][1].val.p, dc.len) ||
			    (ts == 2) != (zone.p != NULL))
				return false;
			/* Consul's protocol: 1,5,2 over 2,5,4. */
			if (m.vsn[GW_VSN_DCUR] != 4 || m.vsn[GW_VSN_PCUR] != 2)
				return false;
		}
	}
	return true;
}

static void
test_tags_everywhere(void **state)
{
	struct harness *h = cluster(11, 8, NULL);
	int want = 1;
	unsigned upd_before = h->nd[5].n_update[3];

	(void)state;
	/* Every node but the first joined one other through serf_join. */
	for (int i = 1; i < h->n; i++) {
		assert_int_equal(h->nd[i].done_count[SERF_OP_JOIN], 1);
		assert_int_equal(h->nd[i].done_status[SERF_OP_JOIN], 0);
		assert_int_equal(h->nd[i].done_n[SERF_OP_JOIN], 1);
	}
	run_until(h, tags_seen, &want, 10000, "tags everywhere");
	/* New tags for n0003 reach everyone as an update. */
	assert_int_equal(serf_set_tags(h->nd[3].sf, tagsets[2], 3, 77), 0);
	ssim_resched(h->sim, 3);
	want = 2;
	run_until(h, tags_seen, &want, 10000, "new tags everywhere");
	assert_true(h->nd[5].n_update[3] > upd_before);
	run_for(h, 3000);
	assert_int_equal(h->nd[3].done_count[SERF_OP_TAGS], 1);
	assert_int_equal(h->nd[3].done_status[SERF_OP_TAGS], 0);
	/* Tags too big for the meta are refused. */
	{
		static uint8_t big[600];
		struct serf_tag t = { B("k"), { big, sizeof(big) } };

		assert_int_equal(serf_set_tags(h->nd[3].sf, &t, 1, 78),
		    -LE_TOOBIG);
	}
	harness_free(h);
}

static bool
left_everywhere(struct harness *h, void *arg)
{
	int j = *(int *)arg;

	for (int o = 0; o < h->n; o++)
		if (o != j && (status_of(h, o, j) != SERF_LEFT ||
		    h->nd[o].status[j] != SERF_LEFT))
			return false;
	return true;
}

static void
tune_short_tombstone(struct ssim_opts *o, struct serf_config *c)
{
	(void)o;
	c->tombstone_timeout_ms = 60000;
	c->reconnect_timeout_ms = 120000;
}

static bool
reaped_everywhere(struct harness *h, void *arg)
{
	int j = *(int *)arg;

	for (int o = 0; o < h->n; o++)
		if (o != j && ssim_up(h->sim, o) &&
		    (status_of(h, o, j) != -1 || h->nd[o].n_reap[j] != 1))
			return false;
	return true;
}

static void
test_leave_is_left(void **state)
{
	struct harness *h = cluster(12, 6, tune_short_tombstone);
	int j = 2;
	struct serf_stats st;

	(void)state;
	assert_int_equal(ssim_leave(h->sim, j, 0), 0);
	assert_int_equal(serf_state(h->nd[j].sf), SERF_LEAVING);
	assert_int_equal(serf_leave(h->nd[j].sf, 9), -LE_STATE);
	run_until(h, left_everywhere, &j, 10000, "left everywhere");
	run_for(h, 8000);
	assert_int_equal(h->nd[j].done_count[SERF_OP_LEAVE], 1);
	assert_int_equal(h->nd[j].done_status[SERF_OP_LEAVE], 0);
	assert_int_equal(serf_state(h->nd[j].sf), SERF_LEFT);
	for (int o = 0; o < h->n; o++) {
		if (o == j)
			continue;
		assert_int_equal(h->nd[o].n_failed[j], 0);
		assert_int_equal(h->nd[o].n_leave[j], 1);
	}
	serf_stats(h->nd[0].sf, &st);
	assert_int_equal(st.left, 1);
	/* The leaver stops; the tombstone goes after TombstoneTimeout (60 s
	 * here) plus at most one ReapInterval, and not before. */
	ssim_crash(h->sim, j);
	run_for(h, 50000);
	assert_int_equal(status_of(h, 0, j), SERF_LEFT);
	run_until(h, reaped_everywhere, &j, 30000, "tombstones reaped");
	harness_free(h);
}

static bool
failed_everywhere(struct harness *h, void *arg)
{
	int j = *(int *)arg;

	for (int o = 0; o < h->n; o++)
		if (ssim_up(h->sim, o) && (status_of(h, o, j) != SERF_FAILED ||
		    h->nd[o].status[j] != SERF_FAILED))
			return false;
	return true;
}

static void
test_crash_failed_then_reaped(void **state)
{
	struct harness *h = cluster(13, 6, tune_short_tombstone);
	int j = 4;
	uint64_t t0;
	struct serf_stats st;
	uint64_t reconnects = 0;

	(void)state;
	ssim_crash(h->sim, j);
	t0 = ssim_now(h->sim);
	run_until(h, failed_everywhere, &j, 30000, "failed everywhere");
	/* Not reaped before ReconnectTimeout (120 s here)... */
	run_for(h, 100000);
	assert_int_equal(status_of(h, 0, j), SERF_FAILED);
	/* ...and meanwhile the survivors tried to reconnect. */
	for (int o = 0; o < h->n; o++) {
		if (o == j)
			continue;
		serf_stats(h->nd[o].sf, &st);
		reconnects += st.reconnects;
		assert_int_equal(h->nd[o].n_leave[j], 0);
	}
	assert_true(reconnects > 0);
	run_until(h, reaped_everywhere, &j, 40000, "failed reaped");
	assert_true(ssim_now(h->sim) - t0 > 120000000ULL);
	harness_free(h);
}

static void
test_partition_reconnect(void **state)
{
	struct harness *h = cluster(14, 6, NULL);
	int groups[6] = { 0, 0, 0, 1, 1, 1 };
	struct conv c = { SERF_FAILED, NULL };

	(void)state;
	ssim_partition(h->sim, groups);
	/* Long enough for each side to declare the other failed and for
	 * memberlist to forget the dead (GossipToTheDeadTime 30 s): only
	 * Serf's reconnects can bring them back. */
	run_for(h, 90000);
	for (int o = 0; o < 3; o++)
		for (int j = 3; j < 6; j++)
			assert_int_equal(status_of(h, o, j), SERF_FAILED);
	for (int j = 0; j < 6; j++) {
		struct swim_member m;
		char name[16];

		snprintf(name, sizeof(name), "n%04d", j);
		if (j >= 3 && swim_member(serf_swim(h->nd[0].sf), name,
		    strlen(name), &m) == 0)
			assert_true(m.state == SWIM_DEAD);
	}
	ssim_heal(h->sim);
	run_until(h, converged, &c, 240000, "healed by reconnects");
	harness_free(h);
}

static void
tune_lossy(struct ssim_opts *o, struct serf_config *c)
{
	(void)c;
	o->net.drop_pm = 100;
	o->net.dup_pm = 50;
}

static bool
events_everywhere(struct harness *h, void *arg)
{
	unsigned want = *(unsigned *)arg;

	for (int o = 0; o < h->n; o++)
		if (h->nd[o].n_ev < want)
			return false;
	return true;
}

static void
test_user_events_exactly_once(void **state)
{
	struct harness *h = harness_new(15, 10, tune_lossy);
	unsigned want = 0;
	char name[32], pl[32];

	(void)state;
	assert_int_equal(ssim_start_all(h->sim, 2000), 0);
	run_for(h, 20000);
	/* 30 events from random senders, some with one name and payloads
	 * that differ, some fired at the same instant from two nodes. */
	for (int k = 0; k < 30; k++) {
		int from = (k * 7) % h->n;
		uint64_t lt;

		snprintf(name, sizeof(name), k % 3 ? "deploy" : "ev-%d", k);
		snprintf(pl, sizeof(pl), "p%d", k);
		assert_int_equal(serf_user_event(h->nd[from].sf, B(name),
		    B(pl), k % 2, &lt), 0);
		ssim_resched(h->sim, from);
		want++;
		if (k % 5 == 0) {
			/* Same name and payload from another node: a
			 * distinct event unless the ltimes collide. */
			int other = (from + 1) % h->n;

			assert_int_equal(serf_user_event(h->nd[other].sf,
			    B(name), B(pl), false, NULL), 0);
			ssim_resched(h->sim, other);
		}
		run_for(h, 300);
	}
	/* Distinct (ltime, name, payload) triples the senders made. */
	want = h->nd[0].n_ev;
	for (int o = 0; o < h->n; o++)
		if (h->nd[o].n_ev > want)
			want = h->nd[o].n_ev;
	assert_true(want >= 30);
	/* Gossip plus the push/pull's event ring reach everyone. */
	run_until(h, events_everywhere, &want, 120000, "events everywhere");
	run_for(h, 40000);
	for (int o = 0; o < h->n; o++) {
		assert_int_equal(h->nd[o].n_ev, want);
		for (unsigned k = 0; k < h->nd[o].n_ev; k++)
			if (h->nd[o].ev[k].count != 1)
				fail_msg("n%04d got %s/%s %u times", o,
				    h->nd[o].ev[k].name, h->nd[o].ev[k].payload,
				    h->nd[o].ev[k].count);
	}
	/* Size limits as Serf's: name + payload over 512 is refused. */
	{
		static uint8_t big[500];

		memset(big, 'x', sizeof(big));
		assert_int_equal(serf_user_event(h->nd[0].sf, B("0123456789abc"),
		    (struct gw_bytes){ big, sizeof(big) }, false, NULL),
		    -LE_TOOBIG);
		/* Under the raw limit but over it once encoded. */
		assert_int_equal(serf_user_event(h->nd[0].sf, B("n"),
		    (struct gw_bytes){ big, 490 }, false, NULL), -LE_TOOBIG);
		assert_int_equal(serf_user_event(h->nd[0].sf, B("n"),
		    (struct gw_bytes){ big, 400 }, false, NULL), 0);
	}
	harness_free(h);
}

static void
tune_small_ring(struct ssim_opts *o, struct serf_config *c)
{
	(void)o;
	c->event_buffer = 8;
}

/* A user event as node `from` would gossip it, delivered to node `to`. */
static void
inject_event(struct harness *h, int to, int from, uint64_t ltime,
    const char *name, const char *payload)
{
	struct gs_msg m;
	struct gw_buf b = { 0 };
	struct gw_msg um;

	memset(&m, 0, sizeof(m));
	m.type = GS_USER_EVENT;
	m.u.event.ltime = ltime;
	m.u.event.name = B(name);
	m.u.event.payload = B(payload);
	assert_int_equal(gs_encode(&b, &m), 0);
	memset(&um, 0, sizeof(um));
	um.type = GW_USER;
	um.u.user.p = b.p;
	um.u.user.len = b.len;
	assert_int_equal(ssim_inject(h->sim, to, from, &um), 0);
	gw_buf_free(&b);
}

static void
test_old_events_ignored(void **state)
{
	struct harness *h = cluster(16, 3, tune_small_ring);
	struct serf_stats st;
	unsigned before;

	(void)state;
	/* Move the event clock to 21 everywhere. */
	for (int k = 0; k < 20; k++) {
		assert_int_equal(serf_user_event(h->nd[0].sf, B("tick"), B("x"),
		    false, NULL), 0);
		ssim_resched(h->sim, 0);
		run_for(h, 50);
	}
	run_for(h, 3000);
	serf_stats(h->nd[1].sf, &st);
	assert_true(st.event_time >= 21);
	before = h->nd[1].n_ev;
	/* Older than the 8-slot ring: dropped and counted. */
	inject_event(h, 1, 2, 5, "late", "x");
	assert_int_equal(h->nd[1].n_ev, before);
	serf_stats(h->nd[1].sf, &st);
	assert_int_equal(st.events_old, 1);
	/* Inside the window and new: delivered once. */
	inject_event(h, 1, 2, st.event_time - 3, "fresh", "y");
	inject_event(h, 1, 2, st.event_time - 3, "fresh", "y");
	assert_int_equal(h->nd[1].n_ev, before + 1);
	assert_int_equal(h->nd[1].ev[before].count, 1);
	/* A replay of one it already has: nothing. */
	inject_event(h, 1, 2, h->nd[1].ev[before - 1].ltime,
	    h->nd[1].ev[before - 1].name, h->nd[1].ev[before - 1].payload);
	assert_int_equal(h->nd[1].ev[before - 1].count, 1);
	harness_free(h);
}

static void
inject_intent(struct harness *h, int to, int from, enum gw_serf_type t,
    uint64_t ltime, const char *node)
{
	struct gs_msg m;
	struct gw_buf b = { 0 };
	struct gw_msg um;

	memset(&m, 0, sizeof(m));
	m.type = t;
	if (t == GS_JOIN) {
		m.u.join.ltime = ltime;
		m.u.join.node = B(node);
	} else {
		m.u.leave.ltime = ltime;
		m.u.leave.node = B(node);
	}
	assert_int_equal(gs_encode(&b, &m), 0);
	memset(&um, 0, sizeof(um));
	um.type = GW_USER;
	um.u.user.p = b.p;
	um.u.user.len = b.len;
	assert_int_equal(ssim_inject(h->sim, to, from, &um), 0);
	gw_buf_free(&b);
}

static bool
table_alive(struct harness *h, void *arg)
{
	(void)arg;
	for (int o = 0; o < h->n; o++)
		for (int j = 0; j < h->n; j++)
			if (status_of(h, o, j) != SERF_ALIVE)
				return false;
	return true;
}

static bool
known(struct harness *h, void *arg)
{
	int j = *(int *)arg;

	return status_of(h, 1, j) >= 0;
}

static void
test_intents_before_alive(void **state)
{
	struct harness *h = harness_new(17, 4, NULL);
	struct serf_member m;
	int j;

	(void)state;
	/* n0002 starts at 20 s, n0003 at 30 s. */
	assert_int_equal(ssim_start_all(h->sim, 40000), 0);
	run_for(h, 12000);
	assert_int_equal(status_of(h, 1, 2), -1);
	inject_intent(h, 1, 0, GS_JOIN, 50, "n0002");
	inject_intent(h, 1, 0, GS_LEAVE, 60, "n0003");
	j = 2;
	run_until(h, known, &j, 20000, "n0002 known");
	assert_int_equal(serf_member(h->nd[1].sf, B("n0002"), &m), 0);
	assert_true(m.status_ltime >= 50);
	assert_int_equal(h->nd[1].join_status[2], SERF_ALIVE);
	j = 3;
	run_until(h, known, &j, 20000, "n0003 known");
	/* The buffered leave made it "leaving" on arrival... */
	assert_int_equal(h->nd[1].join_status[3], SERF_LEAVING);
	/* ...and n0003's own join intent, stamped after it witnessed the
	 * cluster's clock (past 60), makes it alive again (a status change
	 * without an event, as in Serf). */
	run_until(h, table_alive, NULL, 60000, "join intent wins");
	assert_int_equal(serf_member(h->nd[1].sf, B("n0003"), &m), 0);
	assert_true(m.status_ltime > 60);
	assert_int_equal(h->nd[1].n_failed[3], 0);
	harness_free(h);
}

static bool
join_reported(struct harness *h, void *arg)
{
	return h->nd[0].done_count[SERF_OP_JOIN] == *(unsigned *)arg;
}

static void
test_join_outcomes(void **state)
{
	struct harness *h = cluster(22, 4, NULL);
	struct swim_addr a[2] = { ssim_addr(h->sim, 3), ssim_addr(h->sim, 1) };
	unsigned want;
	struct serf_member m;
	uint64_t lt;

	(void)state;
	ssim_crash(h->sim, 3);
	/* One dead address, one live: one node contacted, success, and a
	 * fresh join intent (our status time moves on everywhere). */
	assert_int_equal(serf_member(h->nd[2].sf, B("n0000"), &m), 0);
	lt = m.status_ltime;
	assert_int_equal(serf_join(h->nd[0].sf, a, 2, true, 40), 0);
	assert_int_equal(serf_join(h->nd[0].sf, a, 1, false, 41), -LE_STATE);
	ssim_resched(h->sim, 0);
	want = 1;
	run_until(h, join_reported, &want, 15000, "join reported");
	assert_int_equal(h->nd[0].done_status[SERF_OP_JOIN], 0);
	assert_int_equal(h->nd[0].done_n[SERF_OP_JOIN], 1);
	run_for(h, 3000);
	assert_int_equal(serf_member(h->nd[2].sf, B("n0000"), &m), 0);
	assert_true(m.status_ltime > lt);
	/* Nobody there: an error and no node. */
	assert_int_equal(serf_join(h->nd[0].sf, a, 1, false, 42), 0);
	ssim_resched(h->sim, 0);
	want = 2;
	run_until(h, join_reported, &want, 15000, "failed join reported");
	assert_true(h->nd[0].done_status[SERF_OP_JOIN] < 0);
	assert_int_equal(h->nd[0].done_n[SERF_OP_JOIN], 0);
	assert_int_equal(serf_join(h->nd[0].sf, a, 0, false, 43), -LE_INVAL);
	harness_free(h);
}

static bool
query_done(struct harness *h, void *arg)
{
	return ((struct qrec *)arg)->done;
}

static struct qrec *
start_query(struct harness *h, int from, const char *name,
    const struct serf_query_params *p)
{
	uint64_t qid;

	assert_true(h->nq < 16);
	assert_int_equal(serf_query(h->nd[from].sf, B(name), B("?"), p, &qid),
	    0);
	ssim_resched(h->sim, from);
	h->q[h->nq].node = from;
	h->q[h->nq].qid = qid;
	return &h->q[h->nq++];
}

static bool
has(const char (*names)[16], unsigned n, const char *name)
{
	for (unsigned k = 0; k < n; k++)
		if (strcmp(names[k], name) == 0)
			return true;
	return false;
}

static void
test_query_filters(void **state)
{
	struct harness *h = cluster(18, 8, NULL);
	struct gw_bytes nodes[4] = { B("n0002"), B("n0004"), B("n0005"),
	    B("n0000") };
	struct serf_tag tf = { B("role"), B("^w.b$") };
	struct serf_query_params p;
	struct qrec *r;
	uint64_t qid;
	unsigned delivered = 0;

	(void)state;
	h->respond = true;
	memset(&p, 0, sizeof(p));
	p.filter_nodes = nodes;
	p.n_filter_nodes = 4;
	p.filter_tags = &tf;
	p.n_filter_tags = 1;
	p.request_ack = true;
	p.timeout_ms = 3000;
	r = start_query(h, 0, "who", &p);
	run_until(h, query_done, r, 5000, "query 1 done");
	/* Even nodes are web; of the listed ones 0, 2, 4. */
	assert_int_equal(r->n_acks, 3);
	assert_int_equal(r->n_resps, 3);
	assert_int_equal(r->dup, 0);
	assert_true(has(r->acks, 3, "n0000") && has(r->acks, 3, "n0002") &&
	    has(r->acks, 3, "n0004"));
	assert_true(has(r->resps, 3, "n0000") && has(r->resps, 3, "n0002") &&
	    has(r->resps, 3, "n0004"));
	for (int o = 0; o < h->n; o++) {
		bool sel = o == 0 || o == 2 || o == 4;

		assert_int_equal(h->nd[o].n_queries, sel ? 1 : 0);
		delivered += h->nd[o].n_queries;
	}
	assert_int_equal(delivered, 3);
	/* No filters, relayed responses: each node once, never twice. */
	memset(&p, 0, sizeof(p));
	p.relay_factor = 2;
	p.timeout_ms = 3000;
	r = start_query(h, 5, "all", &p);
	run_until(h, query_done, r, 5000, "query 2 done");
	assert_int_equal(r->n_resps, 8);
	assert_int_equal(r->n_acks, 0);
	assert_int_equal(r->dup, 0);
	{
		uint64_t relays = 0;
		struct serf_stats st;

		for (int o = 0; o < h->n; o++) {
			serf_stats(h->nd[o].sf, &st);
			relays += st.relays;
		}
		/* Two relayed copies per response (the querier's own one
		 * included), each forwarded once. */
		assert_int_equal(relays, 16);
	}
	/* _serf_ping: acks from everyone, handled inside Serf. */
	memset(&p, 0, sizeof(p));
	p.request_ack = true;
	p.timeout_ms = 2000;
	delivered = 0;
	for (int o = 0; o < h->n; o++)
		delivered += h->nd[o].n_queries;
	r = start_query(h, 3, "_serf_ping", &p);
	run_until(h, query_done, r, 5000, "ping done");
	assert_int_equal(r->n_acks, 8);
	assert_int_equal(r->n_resps, 0);
	for (int o = 0; o < h->n; o++)
		delivered -= h->nd[o].n_queries;
	assert_int_equal(delivered, 0);
	/* _serf_conflict about n0002: everyone else answers with its view
	 * of n0002 (a Serf Member), n0002 stays silent. */
	memset(&p, 0, sizeof(p));
	p.timeout_ms = 2000;
	assert_true(h->nq < 16);
	assert_int_equal(serf_query(h->nd[6].sf, B("_serf_conflict"),
	    B("n0002"), &p, &h->q[h->nq].qid), 0);
	ssim_resched(h->sim, 6);
	h->q[h->nq].node = 6;
	r = &h->q[h->nq++];
	run_until(h, query_done, r, 5000, "conflict done");
	assert_int_equal(r->n_resps, 7);
	assert_int_equal(r->conflicts, 7);
	assert_false(has(r->resps, r->n_resps, "n0002"));
	/* Responding by hand: once, not twice, not too big, not late. */
	h->respond = false;
	memset(&p, 0, sizeof(p));
	p.timeout_ms = 1000;
	for (int o = 0; o < h->n; o++)
		h->nd[o].n_queries = 0;
	r = start_query(h, 1, "manual", &p);
	run_for(h, 300);
	assert_int_equal(h->nd[2].n_queries, 1);
	h->respond = true;
	pump(h);		/* nothing pending: respond was off */
	h->respond = false;
	{
		static uint8_t big[1100];
		uint64_t hd;

		/* Handles count from 1 per node, in delivery order. */
		for (hd = 1; hd < 100; hd++)
			if (serf_query_respond(h->nd[2].sf, hd, B("ok:n0002"))
			    == 0)
				break;
		assert_true(hd < 100);
		assert_int_equal(serf_query_respond(h->nd[2].sf, hd,
		    B("ok:n0002")), -LE_EXISTS);
		assert_int_equal(serf_query_respond(h->nd[2].sf, 999,
		    B("x")), -LE_NOTFOUND);
		for (hd = 1; hd < 100; hd++)
			if (serf_query_respond(h->nd[3].sf, hd, (struct gw_bytes){
			    big, sizeof(big) }) == -LE_TOOBIG)
				break;
		assert_true(hd < 100);
		ssim_resched(h->sim, 2);
		run_for(h, 1500);
		assert_int_equal(serf_query_respond(h->nd[3].sf, hd,
		    B("ok:n0003")), -LE_NOTFOUND);
	}
	assert_int_equal(r->n_resps, 1);
	assert_true(has(r->resps, 1, "n0002"));
	/* A regex that does not compile is refused up front. */
	tf.val = B("(");
	memset(&p, 0, sizeof(p));
	p.filter_tags = &tf;
	p.n_filter_tags = 1;
	assert_int_equal(serf_query(h->nd[0].sf, B("x"), B(""), &p, &qid),
	    -LE_INVAL);
	harness_free(h);
}

static bool
left_or_gone(struct harness *h, void *arg)
{
	int j = *(int *)arg;
	bool prune = j >= 100;

	j %= 100;
	for (int o = 0; o < h->n; o++) {
		if (!ssim_up(h->sim, o))
			continue;
		if (status_of(h, o, j) != (prune ? -1 : SERF_LEFT))
			return false;
	}
	return true;
}

static void
test_force_leave(void **state)
{
	struct harness *h = cluster(19, 6, NULL);
	int j = 3, arg;

	(void)state;
	ssim_crash(h->sim, j);
	run_until(h, failed_everywhere, &j, 30000, "failed");
	assert_int_equal(serf_force_leave(h->nd[0].sf, B("n0003"), false, 5),
	    0);
	ssim_resched(h->sim, 0);
	arg = j;
	run_until(h, left_or_gone, &arg, 10000, "force-left everywhere");
	run_for(h, 6000);
	assert_int_equal(h->nd[0].done_count[SERF_OP_FORCE_LEAVE], 1);
	assert_int_equal(h->nd[0].done_status[SERF_OP_FORCE_LEAVE], 0);
	for (int o = 0; o < h->n; o++)
		if (o != j)
			assert_int_equal(h->nd[o].n_leave[j], 1);
	/* With prune the member is erased everywhere (a reap event). */
	j = 4;
	ssim_crash(h->sim, j);
	run_until(h, failed_everywhere, &j, 30000, "failed");
	assert_int_equal(serf_force_leave(h->nd[1].sf, B("n0004"), true, 6),
	    0);
	ssim_resched(h->sim, 1);
	arg = 100 + j;
	run_until(h, left_or_gone, &arg, 10000, "pruned everywhere");
	for (int o = 0; o < h->n; o++)
		if (ssim_up(h->sim, o))
			assert_int_equal(h->nd[o].n_reap[j], 1);
	harness_free(h);
}

static void
tune_small_queue(struct ssim_opts *o, struct serf_config *c)
{
	(void)o;
	c->max_queue_depth = 5;
	c->queue_check_interval_ms = 1000;
}

/* Serf's checkQueueDepth: a queue past its limit loses the messages that
 * were sent most (then the smallest, the oldest). */
static void
test_queue_prune(void **state)
{
	struct harness *h = cluster(23, 1, tune_small_queue);
	struct serf_stats st;

	(void)state;
	for (int k = 0; k < 20; k++)
		assert_int_equal(serf_user_event(h->nd[0].sf, B("e"), B("p"),
		    false, NULL), 0);
	serf_stats(h->nd[0].sf, &st);
	assert_int_equal(st.event_queue, 20);	/* alone: nobody to send to */
	ssim_resched(h->sim, 0);
	run_for(h, 1500);
	serf_stats(h->nd[0].sf, &st);
	assert_int_equal(st.event_queue, 5);
	assert_int_equal(st.queue_pruned, 15);
	harness_free(h);
}

static struct qrec *
key_query(struct harness *h, int from, const char *name, const uint8_t *key)
{
	struct serf_query_params p = { .timeout_ms = 2000 };
	struct gw_buf b = { 0 };
	struct qrec *r;

	assert_true(h->nq < 16);
	r = &h->q[h->nq++];
	r->node = from;
	if (key != NULL)
		assert_int_equal(gs_key_request_encode(&b, (struct gw_bytes){
		    key, 16 }), 0);
	assert_int_equal(serf_query(h->nd[from].sf, B(name), (struct gw_bytes){
	    b.p, b.len }, &p, &r->qid), 0);
	gw_buf_free(&b);
	ssim_resched(h->sim, from);
	run_until(h, query_done, r, 5000, name);
	return r;
}

/* The key rotation queries answered through the keyring op: install on
 * all (a node without encryption says so), list (base64, primary first),
 * use of a missing key and of the new one, a refused removal of the
 * primary, then the old key's removal. */
static void
test_key_queries(void **state)
{
	struct harness *h = cluster(25, 5, NULL);
	static const uint8_t k1[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	    12, 13, 14, 15 };
	static const uint8_t k2[16] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0,
	    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99 };
	static const uint8_t k3[16] = { 3 };
	struct qrec *r;

	(void)state;
	for (int i = 0; i < h->n; i++) {
		memcpy(h->nd[i].keys[0], k1, 16);
		h->nd[i].n_keys = 1;
	}
	h->nd[4].no_crypto = true;
	r = key_query(h, 0, "_serf_install-key", k2);
	assert_int_equal(r->key_ok, 4);
	assert_int_equal(r->key_fail, 1);
	assert_string_equal(r->key_msg,
	    "No keyring to modify (encryption not enabled)");
	for (int i = 0; i < 4; i++)
		assert_int_equal(h->nd[i].n_keys, 2);
	/* n0004 gets encryption and the key by other means. */
	h->nd[4].no_crypto = false;
	memcpy(h->nd[4].keys[1], k2, 16);
	h->nd[4].n_keys = 2;
	r = key_query(h, 1, "_serf_list-keys", NULL);
	assert_int_equal(r->key_ok, 5);
	assert_string_equal(r->key_list, "AAECAwQFBgcICQoLDA0ODw==,"
	    "qrvM3e7/ABEiM0RVZneImQ== primary AAECAwQFBgcICQoLDA0ODw==");
	r = key_query(h, 2, "_serf_use-key", k3);
	assert_int_equal(r->key_fail, 5);
	assert_string_equal(r->key_msg, "Requested key is not in the keyring");
	r = key_query(h, 2, "_serf_use-key", k2);
	assert_int_equal(r->key_ok, 5);
	for (int i = 0; i < h->n; i++)
		assert_int_equal(memcmp(h->nd[i].keys[0], k2, 16), 0);
	r = key_query(h, 3, "_serf_remove-key", k2);
	assert_int_equal(r->key_fail, 5);
	assert_string_equal(r->key_msg,
	    "Removing the primary key is not allowed");
	r = key_query(h, 0, "_serf_remove-key", k1);
	assert_int_equal(r->key_ok, 5);
	for (int i = 0; i < h->n; i++)
		assert_int_equal(h->nd[i].n_keys, 1);
	harness_free(h);
}

static void
inject_raw(struct harness *h, int to, int from, const uint8_t *p, size_t len)
{
	struct gw_msg um;

	memset(&um, 0, sizeof(um));
	um.type = GW_USER;
	um.u.user.p = p;
	um.u.user.len = len;
	assert_int_equal(ssim_inject(h->sim, to, from, &um), 0);
}

static void
inject_serf(struct harness *h, int to, int from, const struct gs_msg *m)
{
	struct gw_buf b = { 0 };

	assert_int_equal(gs_encode(&b, m), 0);
	inject_raw(h, to, from, b.p, b.len);
	gw_buf_free(&b);
}

/* What a confused or hostile peer may send: garbage, filters nobody
 * knows, a relay of something that is not a response, a leave about a
 * live node (it refutes), a time at the top of the clock. Nothing
 * crashes, nothing is delivered that should not be, the cluster stays
 * whole. */
static void
test_hostile_input(void **state)
{
	struct harness *h = cluster(26, 4, NULL);
	static const uint8_t garbage[] = { GS_QUERY, 0x85, 0xa1, 'x' };
	static const uint8_t odd_filter[] = { 9, 0x90 };
	static const uint8_t ip[4] = { 10, 1, 0, 3 };
	struct serf_stats st, st2;
	struct serf_member m;
	struct gs_msg g;
	uint64_t lt;

	(void)state;
	serf_stats(h->nd[1].sf, &st);
	inject_raw(h, 1, 0, garbage, sizeof(garbage));
	serf_stats(h->nd[1].sf, &st2);
	assert_int_equal(st2.msgs_bad, st.msgs_bad + 1);
	/* A query with a filter type nobody knows: not for anyone. */
	memset(&g, 0, sizeof(g));
	g.type = GS_QUERY;
	g.u.query.ltime = st2.query_time;
	g.u.query.id = 7;
	g.u.query.addr = (struct gw_bytes){ ip, 4 };
	g.u.query.port = 7946;
	g.u.query.source_node = B("n0003");
	g.u.query.n_filters = 1;
	g.u.query.filters[0] = (struct gw_bytes){ odd_filter,
	    sizeof(odd_filter) };
	g.u.query.timeout_ns = 1000000000;
	g.u.query.name = B("q");
	h->respond = true;
	inject_serf(h, 1, 0, &g);
	run_for(h, 2000);
	for (int o = 0; o < h->n; o++)
		assert_int_equal(h->nd[o].n_queries, 0);
	/* A tag filter whose regex does not compile: not for anyone. */
	{
		struct gs_filter f;
		struct gw_buf fb = { 0 };

		memset(&f, 0, sizeof(f));
		f.type = GS_FILTER_TAG;
		f.tag = B("role");
		f.expr = B("(web");
		assert_int_equal(gs_filter_encode(&fb, &f), 0);
		g.u.query.id = 8;
		g.u.query.filters[0] = (struct gw_bytes){ fb.p, fb.len };
		inject_serf(h, 2, 0, &g);
		gw_buf_free(&fb);
	}
	run_for(h, 2000);
	for (int o = 0; o < h->n; o++)
		assert_int_equal(h->nd[o].n_queries, 0);
	/* A relay of a join intent is refused, not forwarded. */
	{
		struct gw_buf inner = { 0 };
		struct gs_msg j;

		memset(&j, 0, sizeof(j));
		j.type = GS_JOIN;
		j.u.join.ltime = 1;
		j.u.join.node = B("n0000");
		assert_int_equal(gs_encode(&inner, &j), 0);
		memset(&g, 0, sizeof(g));
		g.type = GS_RELAY;
		g.u.relay.dest_ip = (struct gw_bytes){ ip, 4 };
		g.u.relay.dest_port = 7946;
		g.u.relay.dest_name = B("n0003");
		g.u.relay.inner = (struct gw_bytes){ inner.p, inner.len };
		serf_stats(h->nd[1].sf, &st);
		inject_serf(h, 1, 0, &g);
		serf_stats(h->nd[1].sf, &st2);
		assert_int_equal(st2.relays, st.relays);
		assert_int_equal(st2.msgs_bad, st.msgs_bad + 1);
		gw_buf_free(&inner);
	}
	/* A leave intent about n0002, alive: it hears it and refutes with
	 * a newer join intent; nobody ever sees it leave or fail. */
	serf_stats(h->nd[0].sf, &st);
	inject_intent(h, 0, 1, GS_LEAVE, st.member_time + 10, "n0002");
	assert_int_equal(status_of(h, 0, 2), SERF_LEAVING);
	run_until(h, table_alive, NULL, 10000, "leave intent refuted");
	assert_int_equal(serf_member(h->nd[3].sf, B("n0002"), &m), 0);
	assert_true(m.status_ltime > st.member_time + 10);
	/* The top of the clock: the event clock stays there, no wrap. */
	inject_event(h, 3, 0, UINT64_MAX, "top", "x");
	serf_stats(h->nd[3].sf, &st);
	assert_true(st.event_time == UINT64_MAX);
	assert_int_equal(serf_user_event(h->nd[3].sf, B("after"), B("y"),
	    false, &lt), 0);
	serf_stats(h->nd[3].sf, &st);
	assert_true(lt == UINT64_MAX && st.event_time == UINT64_MAX);
	run_for(h, 5000);
	for (int o = 0; o < h->n; o++) {
		assert_int_equal(h->nd[o].n_failed[2], 0);
		assert_int_equal(h->nd[o].n_leave[2], 0);
	}
	run_until(h, converged, NULL, 10000, "still whole");
	harness_free(h);
}

/* ---- snapshot ---- */

static char tmpdir[200];

static void
make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/serf_sim_XXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
test_snapshot_file(void **state)
{
	char path[320];
	struct serf_snap *s;
	struct snap_prev *prev;
	size_t n;
	struct swim_addr a;
	char buf[64];
	FILE *f;

	(void)state;
	make_tmpdir();
	snprintf(path, sizeof(path), "%s/local.snapshot", tmpdir);
	/* Go's own lines, including ones we skip. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("alive: n1 127.0.0.1:8301\nalive: n2 127.0.0.2:8301\n"
	    "alive: with space 10.0.0.1:1\nnot-alive: n1\nclock: 7\n"
	    "event-clock: 3\nquery-clock: 2\ncoordinate: {\"x\":1}\n"
	    "# comment\nbogus line\nclock: nope\n"
	    "alive: v6 [::1]:8302\nalive: partial 1.2.3.4:5", f);
	fclose(f);
	assert_int_equal(snap_open(path, false, 1024, NULL, NULL, &s), 0);
	assert_int_equal(snap_last_clock(s), 7);
	assert_int_equal(snap_last_event_clock(s), 3);
	assert_int_equal(snap_last_query_clock(s), 2);
	assert_int_equal(snap_alive(s, &prev, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(prev[0].name, "n2");
	assert_int_equal(prev[0].addr.ip[3], 2);
	assert_int_equal(prev[0].addr.port, 8301);
	assert_string_equal(prev[1].name, "with space");
	assert_string_equal(prev[2].name, "v6");
	assert_int_equal(prev[2].addr.len, 16);
	assert_int_equal(prev[2].addr.ip[15], 1);
	snap_prev_free(prev, n);
	/* Appends, compaction past the threshold, and the round trip. */
	memset(&a, 0, sizeof(a));
	a.len = 4;
	a.ip[0] = 10;
	a.port = 7946;
	for (int k = 0; k < 100; k++) {
		snprintf(buf, sizeof(buf), "m%d", k % 5);
		a.ip[3] = (uint8_t)k;
		snap_alive_member(s, buf, &a);
		snap_clock(s, 100 + (uint64_t)k);
		snap_event_clock(s, 50 + (uint64_t)k);
	}
	snap_not_alive(s, "m4");
	assert_true(snap_size(s) < 1024 + 64);
	snap_close(s);
	assert_int_equal(snap_open(path, false, 1024, NULL, NULL, &s), 0);
	assert_int_equal(snap_last_clock(s), 198);
	assert_int_equal(snap_last_event_clock(s), 149);
	assert_int_equal(snap_alive(s, &prev, &n), 0);
	assert_int_equal(n, 7);		/* n2, with space, v6, m0..m3 */
	for (size_t k = 0; k < n; k++)
		if (strcmp(prev[k].name, "m3") == 0)
			assert_int_equal(prev[k].addr.ip[3], 98);
	snap_prev_free(prev, n);
	/* A leave forgets everything unless rejoining after leave. */
	snap_leave(s);
	snap_close(s);
	assert_int_equal(snap_open(path, true, 1024, NULL, NULL, &s), 0);
	assert_int_equal(snap_alive(s, &prev, &n), 0);
	assert_int_equal(n, 7);
	snap_prev_free(prev, n);
	snap_close(s);
	assert_int_equal(snap_open(path, false, 1024, NULL, NULL, &s), 0);
	assert_int_equal(snap_alive(s, &prev, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(snap_last_clock(s), 0);
	snap_close(s);
	/* Addresses as Go prints them. */
	assert_int_equal(snap_addr_parse("[fe80::1]:1", &a), 0);
	assert_int_equal(snap_addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[fe80::1]:1");
	assert_int_not_equal(snap_addr_parse("1.2.3.4", &a), 0);
	assert_int_not_equal(snap_addr_parse("1.2.3.4:70000", &a), 0);
	assert_int_not_equal(snap_addr_parse("host:80", &a), 0);
	unlink(path);
	rmdir(tmpdir);
}

static void
tune_snapshot(struct ssim_opts *o, struct serf_config *c)
{
	(void)o;
	(void)c;
}

static bool
sees_all(struct harness *h, void *arg)
{
	int o = *(int *)arg;

	for (int j = 0; j < h->n; j++)
		if (status_of(h, o, j) != SERF_ALIVE || status_of(h, j, o) !=
		    SERF_ALIVE)
			return false;
	return true;
}

static void
test_snapshot_rejoin(void **state)
{
	struct harness *h;
	char *text;
	int j = 1;
	struct serf_stats st, st2;
	unsigned ev_before;

	(void)state;
	make_tmpdir();
	h = harness_new(20, 4, tune_snapshot);
	snprintf(h->nd[j].snap, sizeof(h->nd[j].snap), "%s/n1.snapshot",
	    tmpdir);
	assert_int_equal(ssim_start_all(h->sim, 2000), 0);
	run_until(h, all_up, NULL, 3000, "all started");
	run_until(h, converged, NULL, 30000, "converged");
	for (int k = 0; k < 5; k++) {
		assert_int_equal(serf_user_event(h->nd[2].sf, B("e"),
		    B(k % 2 ? "a" : "b"), false, NULL), 0);
		ssim_resched(h->sim, 2);
		run_for(h, 100);
	}
	run_for(h, 3000);
	serf_stats(h->nd[j].sf, &st);
	ev_before = h->nd[j].n_ev;
	assert_int_equal(ev_before, 5);
	/* Crash (the file is closed as by a kill: what was flushed). */
	ssim_crash(h->sim, j);
	text = slurp(h->nd[j].snap);
	assert_non_null(strstr(text, "alive: n0000 10.1.0.0:7946\n"));
	assert_non_null(strstr(text, "alive: n0003 10.1.0.3:7946\n"));
	assert_non_null(strstr(text, "event-clock: "));
	free(text);
	/* Restarted with no join at all: it rejoins from the snapshot, its
	 * clocks restored, and the old events are not delivered again. */
	memset(h->nd[j].ev, 0, sizeof(h->nd[j].ev));
	h->nd[j].n_ev = 0;
	h->nd[j].no_join = true;
	run_for(h, 5000);
	assert_int_equal(ssim_restart(h->sim, j), 0);
	serf_stats(h->nd[j].sf, &st2);
	assert_true(st2.event_time > st.event_time - 1);
	assert_true(st2.member_time >= st.member_time - 1);
	run_until(h, sees_all, &j, 30000, "rejoined from snapshot");
	assert_int_equal(h->nd[j].rejoin_failed, 0);
	run_for(h, 35000);		/* a push/pull carries the ring */
	assert_int_equal(h->nd[j].n_ev, 0);
	/* After a graceful leave the snapshot says "leave": no rejoin. */
	assert_int_equal(ssim_leave(h->sim, j, 0), 0);
	run_for(h, 10000);
	assert_int_equal(serf_state(h->nd[j].sf), SERF_LEFT);
	ssim_crash(h->sim, j);
	text = slurp(h->nd[j].snap);
	assert_non_null(strstr(text, "\nleave\n"));
	free(text);
	run_for(h, 1000);
	assert_int_equal(ssim_restart(h->sim, j), 0);
	run_for(h, 20000);
	assert_int_equal(serf_num_members(h->nd[j].sf), 1);
	ssim_crash(h->sim, j);
	unlink(h->nd[j].snap);
	rmdir(tmpdir);
	harness_free(h);
}

static bool
all_events(struct harness *h, void *arg)
{
	for (int o = 0; o < h->n; o++)
		if (h->nd[o].n_ev < *(unsigned *)arg)
			return false;
	return true;
}

/* A bigger cluster: 100 nodes converge, an event reaches all. */
static void
test_hundred(void **state)
{
	struct harness *h = harness_new(24, 100, NULL);
	unsigned want = 1;

	(void)state;
	assert_int_equal(ssim_start_all(h->sim, 10000), 0);
	run_until(h, all_up, NULL, 11000, "all started");
	run_until(h, converged, NULL, 120000, "100 converged");
	assert_int_equal(serf_user_event(h->nd[7].sf, B("big"), B("x"), false,
	    NULL), 0);
	ssim_resched(h->sim, 7);
	run_until(h, all_events, &want, 10000, "event everywhere");
	harness_free(h);
}

/* Serf's Join(ignoreOld): events from before the join are not delivered
 * to the joiner; without it the push/pull's ring brings them. */
static void
test_join_ignore_old(void **state)
{
	struct harness *h = cluster(27, 4, NULL);
	struct swim_addr a = ssim_addr(h->sim, 0);
	int j = 3;

	(void)state;
	for (int k = 0; k < 3; k++) {
		assert_int_equal(serf_user_event(h->nd[1].sf, B("old"),
		    B(k == 0 ? "a" : k == 1 ? "b" : "c"), false, NULL), 0);
		ssim_resched(h->sim, 1);
		run_for(h, 200);
	}
	run_for(h, 3000);
	assert_int_equal(h->nd[j].n_ev, 3);
	for (int pass = 0; pass < 2; pass++) {
		bool ignore = pass == 0;

		ssim_crash(h->sim, j);
		run_for(h, 1000);
		h->nd[j].no_join = true;
		assert_int_equal(ssim_restart(h->sim, j), 0);
		assert_int_equal(serf_join(h->nd[j].sf, &a, 1, ignore, 1), 0);
		ssim_resched(h->sim, j);
		run_until(h, sees_all, &j, 20000, "rejoined");
		run_for(h, 35000);	/* a periodic push/pull too */
		assert_int_equal(h->nd[j].n_ev, ignore ? 0 : 3);
	}
	/* New events reach it either way. */
	assert_int_equal(serf_user_event(h->nd[2].sf, B("new"), B("d"), false,
	    NULL), 0);
	ssim_resched(h->sim, 2);
	run_for(h, 3000);
	assert_int_equal(h->nd[j].n_ev, 4);
	harness_free(h);
}

/* Up nodes see up nodes alive; down ones failed, left or forgotten. */
static bool
settled(struct harness *h, void *arg)
{
	(void)arg;
	for (int o = 0; o < h->n; o++) {
		if (!ssim_up(h->sim, o))
			continue;
		for (int j = 0; j < h->n; j++) {
			int st = status_of(h, o, j);

			if (ssim_up(h->sim, j) ? st != SERF_ALIVE :
			    st == SERF_ALIVE || st == SERF_LEAVING)
				return false;
		}
	}
	return true;
}

static void
tune_churn(struct ssim_opts *o, struct serf_config *c)
{
	o->net.drop_pm = 50;
	o->net.dup_pm = 20;
	c->reconnect_interval_ms = 10000;
}

/* Churn: crashes, restarts, graceful leaves, a partition, events fired
 * throughout, under loss and duplicates; then quiet. Nothing breaks
 * (ASan watches), no event is delivered twice within one life of a node,
 * and the views settle: up nodes alive everywhere, the rest failed, left
 * or forgotten. */
static void
test_churn(void **state)
{
	static const uint64_t seeds[] = { 31, 32, 33 };

	(void)state;
	for (size_t s_i = 0; s_i < sizeof(seeds) / sizeof(seeds[0]); s_i++) {
		struct harness *h = cluster(seeds[s_i], 8, tune_churn);
		uint64_t x = seeds[s_i];
		int groups[8] = { 0, 0, 0, 0, 1, 1, 1, 1 };
		char pl[16];

		for (int step = 0; step < 60; step++) {
			int i;

			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			i = 1 + (int)((x >> 33) % 7);	/* n0000 stays up */
			switch ((x >> 40) % 8) {
			case 0:
				ssim_crash(h->sim, i);
				break;
			case 1:
				if (!ssim_up(h->sim, i))
					assert_int_equal(ssim_restart(h->sim, i),
					    0);
				break;
			case 2:
				if (ssim_up(h->sim, i) &&
				    serf_state(h->nd[i].sf) == SERF_ALIVE)
					assert_int_equal(ssim_leave(h->sim, i,
					    0), 0);
				break;
			case 3:
				if (step == 20)
					ssim_partition(h->sim, groups);
				if (step == 30)
					ssim_heal(h->sim);
				break;
			default:
				if (ssim_up(h->sim, i) &&
				    serf_state(h->nd[i].sf) == SERF_ALIVE) {
					snprintf(pl, sizeof(pl), "s%d", step);
					assert_int_equal(serf_user_event(
					    h->nd[i].sf, B("churn"), B(pl),
					    false, NULL), 0);
					ssim_resched(h->sim, i);
				}
				break;
			}
			run_for(h, 2000);
		}
		ssim_heal(h->sim);
		/* Nodes that left stay down; the rest come back. */
		for (int i = 0; i < h->n; i++) {
			if (ssim_up(h->sim, i) &&
			    serf_state(h->nd[i].sf) != SERF_ALIVE)
				ssim_crash(h->sim, i);
		}
		run_until(h, settled, NULL, 240000, "settled after churn");
		for (int o = 0; o < h->n; o++)
			for (unsigned k = 0; k < h->nd[o].n_ev; k++)
				if (h->nd[o].ev[k].count != 1)
					fail_msg("seed %llu: n%04d got %s %u "
					    "times", (unsigned long long)seeds[s_i],
					    o, h->nd[o].ev[k].payload,
					    h->nd[o].ev[k].count);
		harness_free(h);
	}
}

/* The same seed gives the same run. */
static void
test_deterministic(void **state)
{
	uint64_t d[2];

	(void)state;
	for (int r = 0; r < 2; r++) {
		struct harness *h = cluster(21, 5, tune_lossy);
		struct ssim_stats st;

		assert_int_equal(serf_user_event(h->nd[1].sf, B("x"), B("y"),
		    false, NULL), 0);
		ssim_resched(h->sim, 1);
		run_for(h, 5000);
		ssim_stats(h->sim, &st);
		d[r] = st.digest;
		harness_free(h);
	}
	assert_true(d[0] == d[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tags_everywhere),
		cmocka_unit_test(test_leave_is_left),
		cmocka_unit_test(test_crash_failed_then_reaped),
		cmocka_unit_test(test_partition_reconnect),
		cmocka_unit_test(test_user_events_exactly_once),
		cmocka_unit_test(test_old_events_ignored),
		cmocka_unit_test(test_intents_before_alive),
		cmocka_unit_test(test_query_filters),
		cmocka_unit_test(test_force_leave),
		cmocka_unit_test(test_join_outcomes),
		cmocka_unit_test(test_queue_prune),
		cmocka_unit_test(test_key_queries),
		cmocka_unit_test(test_hostile_input),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_join_ignore_old),
		cmocka_unit_test(test_hundred),
		cmocka_unit_test(test_snapshot_file),
		cmocka_unit_test(test_snapshot_rejoin),
		cmocka_unit_test(test_deterministic),
	};

	/* SERF_SIM_ONLY=test_name runs one test. */
	if (getenv("SERF_SIM_ONLY") != NULL)
		cmocka_set_test_filter(getenv("SERF_SIM_ONLY"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
