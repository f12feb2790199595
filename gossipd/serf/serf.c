/* serf.c: the Serf layer's life (new, start, free), its configuration,
 * the hooks it sets in the SWIM core, the timer loop (serf_tick runs the
 * core's too), the join, leave and tag operations with their completions,
 * and the read-only accessors. Every mutating entry point reads the clock
 * once and marks the instance busy; the core's hooks mark it busy too, so
 * the daemon's callbacks cannot re-enter a mutating call (-LE_STATE). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serf_int.h"

/* ---- name tables ---- */

uint32_t
sfn_hash(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

struct nent *
sfn_find(const struct ntab *t, const void *name, size_t len)
{
	uint32_t h;

	if (t->cap == 0)
		return NULL;
	h = sfn_hash(name, len);
	for (struct nent *e = t->b[h & (t->cap - 1)]; e != NULL; e = e->next)
		if (e->hash == h && e->len == len &&
		    memcmp(e->name, name, len) == 0)
			return e;
	return NULL;
}

static int
sfn_grow(struct ntab *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64;
	struct nent **b = calloc(cap, sizeof(*b));

	if (b == NULL)
		return -LE_NOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		struct nent *e = t->b[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (cap - 1)];
			b[e->hash & (cap - 1)] = e;
		}
	}
	free(t->b);
	t->b = b;
	t->cap = cap;
	return 0;
}

int
sfn_insert(struct ntab *t, struct nent *e)
{
	int rc;

	if (t->count + 1 > t->cap / 2 * 1 + t->cap / 4 &&
	    (rc = sfn_grow(t)) != 0)
		return rc;
	e->next = t->b[e->hash & (t->cap - 1)];
	t->b[e->hash & (t->cap - 1)] = e;
	t->count++;
	return 0;
}

void
sfn_remove(struct ntab *t, struct nent *e)
{
	struct nent **pp;

	if (t->cap == 0)
		return;
	for (pp = &t->b[e->hash & (t->cap - 1)]; *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			t->count--;
			return;
		}
	}
}

int
sfn_name(struct nent *e, const void *name, size_t len)
{
	if ((e->name = malloc(len + 1)) == NULL)
		return -LE_NOMEM;
	memcpy(e->name, name, len);
	e->name[len] = '\0';
	e->len = len;
	e->hash = sfn_hash(name, len);
	return 0;
}

void
sfn_free(struct ntab *t)
{
	free(t->b);
	t->b = NULL;
	t->cap = t->count = 0;
}

/* ---- helpers ---- */

void
sf_log(struct serf *sf, int level, const char *fmt, ...)
{
	char buf[300];
	va_list ap;

	if (sf->ops.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sf->ops.log(sf->arg, level, buf);
}

uint64_t
sf_rand(struct serf *sf, uint64_t n)
{
	return n == 0 ? 0 : sf->ops.rand(sf->arg) % n;
}

void
sf_done(struct serf *sf, uint8_t op, uint64_t token, int status, unsigned n)
{
	if (sf->done_n == sf->done_cap) {
		size_t cap = sf->done_cap ? sf->done_cap * 2 : 8;
		struct done_ev *v = realloc(sf->dones, cap * sizeof(*v));

		if (v == NULL) {
			sf_log(sf, 0, "out of memory: a completion is lost");
			return;
		}
		sf->dones = v;
		sf->done_cap = cap;
	}
	sf->dones[sf->done_n++] = (struct done_ev){ op, token, status, n };
}

void
sf_send(struct serf *sf, const struct swim_addr *to, const uint8_t *msg,
    size_t len)
{
	struct gw_buf b = { 0 };
	uint8_t t = GW_USER;

	if (gw_buf_append(&b, &t, 1) == 0 && gw_buf_append(&b, msg, len) == 0)
		sf->ops.send_udp(sf->arg, to, 0, b.p, b.len);
	gw_buf_free(&b);
}

bool
sf_is_self(const struct serf *sf, const void *name, size_t len)
{
	return len == sf->name_len && memcmp(name, sf->name, len) == 0;
}

static int
encode_meta(const struct serf *sf, const struct serf_tag *tags, unsigned n,
    struct gw_buf *out)
{
	struct gw_bytes *k, *v;
	int rc;

	out->len = 0;
	if (sf->cfg.protocol < 3) {
		/* Before tags, the meta was the bare role (§10.2). */
		for (unsigned i = 0; i < n; i++)
			if (tags[i].key.len == 4 &&
			    memcmp(tags[i].key.p, "role", 4) == 0)
				return gw_buf_append(out, tags[i].val.p,
				    tags[i].val.len);
		return 0;
	}
	k = calloc(n ? n : 1, sizeof(*k));
	v = calloc(n ? n : 1, sizeof(*v));
	if (k == NULL || v == NULL) {
		free(k);
		free(v);
		return -LE_NOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		k[i] = tags[i].key;
		v[i] = tags[i].val;
	}
	rc = gs_tags_encode(out, k, v, n);
	free(k);
	free(v);
	if (rc == 0 && out->len > GW_META_MAX)
		rc = -LE_TOOBIG;
	return rc;
}

static void
tags_free(struct serf_tag *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free((void *)t[i].key.p);
		free((void *)t[i].val.p);
	}
	free(t);
}

/* Owned copies of tags (NUL-terminated, for regex filters). */
static int
tags_copy(const struct serf_tag *in, unsigned n, struct serf_tag **out)
{
	struct serf_tag *t = calloc(n ? n : 1, sizeof(*t));

	if (t == NULL)
		return -LE_NOMEM;
	for (unsigned i = 0; i < n; i++) {
		char *k = malloc(in[i].key.len + 1), *v = malloc(in[i].val.len + 1);

		if (k == NULL || v == NULL) {
			free(k);
			free(v);
			tags_free(t, i);
			return -LE_NOMEM;
		}
		if (in[i].key.len)
			memcpy(k, in[i].key.p, in[i].key.len);
		if (in[i].val.len)
			memcpy(v, in[i].val.p, in[i].val.len);
		k[in[i].key.len] = v[in[i].val.len] = '\0';
		t[i].key = (struct gw_bytes){ (uint8_t *)k, in[i].key.len };
		t[i].val = (struct gw_bytes){ (uint8_t *)v, in[i].val.len };
	}
	*out = t;
	return 0;
}

/* ---- busy guard ---- */

static int
enter(struct serf *sf)
{
	if (sf->busy)
		return -LE_STATE;
	sf->busy = true;
	sf->now = sf->ops.now(sf->arg);
	return 0;
}

static int
leave_call(struct serf *sf, int rc)
{
	sf->busy = false;
	return rc;
}

/* Hooks may run inside our own calls or inside the daemon's calls into
 * the core: keep the outer state, mark busy for the duration. */
#define HOOK_IN(sf) bool was_busy_ = (sf)->busy; (sf)->busy = true; \
	(sf)->now = (sf)->ops.now((sf)->arg)
#define HOOK_OUT(sf) ((sf)->busy = was_busy_)

/* ---- the core's ops: passed through, or Serf's ---- */

static uint64_t
h_now(void *arg)
{
	struct serf *sf = arg;

	return sf->ops.now(sf->arg);
}

static uint64_t
h_rand(void *arg)
{
	struct serf *sf = arg;

	return sf->ops.rand(sf->arg);
}

static void
h_send_udp(void *arg, const struct swim_addr *to, uint8_t pmax,
    const uint8_t *pkt, size_t len)
{
	struct serf *sf = arg;

	sf->ops.send_udp(sf->arg, to, pmax, pkt, len);
}

static void
h_tcp_ping(void *arg, uint32_t seq, const struct swim_addr *to,
    const uint8_t *msg, size_t len, uint64_t deadline_us)
{
	struct serf *sf = arg;

	sf->ops.tcp_ping(sf->arg, seq, to, msg, len, deadline_us);
}

static void
h_push_pull(void *arg, uint64_t id, const struct swim_addr *to, bool join,
    const uint8_t *msg, size_t len)
{
	struct serf *sf = arg;

	sf->ops.push_pull(sf->arg, id, to, join, msg, len);
}

static void
h_log(void *arg, int level, const char *msg)
{
	struct serf *sf = arg;

	if (sf->ops.log != NULL)
		sf->ops.log(sf->arg, level, msg);
}

static void
h_event(void *arg, enum swim_event ev, const struct swim_member *m,
    const struct swim_member *other)
{
	struct serf *sf = arg;
	HOOK_IN(sf);

	if (ev == SWIM_EV_CONFLICT && other != NULL)
		sf_log(sf, 0, "name conflict for '%.*s': both %u.%u.%u.%u:%u "
		    "and another address claim it (names must be unique)",
		    (int)m->name.len, (const char *)m->name.p, m->addr.ip[0],
		    m->addr.ip[1], m->addr.ip[2], m->addr.ip[3], m->addr.port);
	else
		sfm_on_swim(sf, ev, m);
	HOOK_OUT(sf);
}

static void
h_done(void *arg, enum swim_wait what, int status)
{
	struct serf *sf = arg;
	HOOK_IN(sf);

	if (what == SWIM_WAIT_LEAVE) {
		if (sf->leave.step == LS_SWIM || sf->leave.step == LS_SWIM_WAIT) {
			if (status == 0) {
				sf->leave.step = LS_PROPAGATE;
				sf->leave.deadline = sf->now +
				    sf->cfg.leave_propagate_delay_ms * US_PER_MS;
			} else {
				sf->leave.step = LS_STUCK;
				sf_done(sf, SERF_OP_LEAVE, sf->leave.token,
				    status, 0);
			}
		}
	} else if (what == SWIM_WAIT_META && sf->tags_wait.active) {
		/* Waits end in the order they began (a newer meta ends the
		 * older one's wait first). */
		sf_done(sf, SERF_OP_TAGS, sf->tags_wait.token, status, 0);
		sf->tags_wait.active = sf->tags_wait.n_more > 0;
		if (sf->tags_wait.n_more > 0) {
			sf->tags_wait.token = sf->tags_wait.more;
			sf->tags_wait.n_more = 0;
		}
	}
	HOOK_OUT(sf);
}

static void
h_get_broadcasts(void *arg, size_t overhead, size_t limit,
    struct swim_sink *k)
{
	struct serf *sf = arg;
	HOOK_IN(sf);

	sfq_get(sf, overhead, limit, k);
	HOOK_OUT(sf);
}

/* Serf's NotifyMsg: one Serf message from a memberlist user message. */
static void
h_notify_user(void *arg, const uint8_t *msg, size_t len)
{
	struct serf *sf = arg;
	struct gs_msg m;
	const char *why = NULL;
	struct tlq *q = &sf->intent_q;
	bool rebroadcast = false;
	int rc;
	HOOK_IN(sf);

	sf->st.msgs_in++;
	if ((rc = gs_decode(msg, len, &m, &why)) != 0) {
		sf->st.msgs_bad++;
		sf_log(sf, 0, "bad Serf message (type %u): %s", len ? msg[0] : 0,
		    why ? why : le_strerror(rc));
		HOOK_OUT(sf);
		return;
	}
	switch (m.type) {
	case GS_LEAVE:
		sf->st.intents_in++;
		rebroadcast = sfm_leave_intent(sf, &m.u.leave);
		break;
	case GS_JOIN:
		sf->st.intents_in++;
		rebroadcast = sfm_join_intent(sf, &m.u.join);
		break;
	case GS_USER_EVENT:
		rebroadcast = sfe_handle(sf, &m.u.event);
		q = &sf->event_q;
		break;
	case GS_QUERY:
		rebroadcast = sfr_handle(sf, &m.u.query);
		q = &sf->query_q;
		break;
	case GS_QUERY_RESPONSE:
		sfr_response(sf, &m.u.resp);
		break;
	case GS_RELAY:
		sfr_relay(sf, &m.u.relay);
		break;
	default:
		sf_log(sf, 2, "ignoring Serf message of type %u", m.type);
		break;
	}
	if (rebroadcast)
		sfq_push(sf, q, msg, len, 0);
	HOOK_OUT(sf);
}

static int
h_local_state(void *arg, bool join, struct gw_buf *out)
{
	struct serf *sf = arg;
	int rc;
	HOOK_IN(sf);

	(void)join;
	rc = sfe_local_state(sf, out);
	HOOK_OUT(sf);
	return rc;
}

static void
h_merge_remote_state(void *arg, const uint8_t *buf, size_t len, bool join)
{
	struct serf *sf = arg;
	struct gs_msg m;
	const char *why = NULL;
	int rc;
	HOOK_IN(sf);

	if ((rc = gs_decode(buf, len, &m, &why)) != 0 ||
	    m.type != GS_PUSH_PULL) {
		sf->st.msgs_bad++;
		sf_log(sf, 0, "bad remote Serf state: %s", rc ? (why ? why :
		    le_strerror(rc)) : "not a push/pull");
	} else {
		sfe_merge_state(sf, &m.u.pp, join);
	}
	HOOK_OUT(sf);
}

static int
h_merge_check(void *arg, const struct gw_push_node *nodes, size_t n,
    bool join)
{
	struct serf *sf = arg;

	return sf->ops.merge_check ? sf->ops.merge_check(sf->arg, nodes, n,
	    join) : 0;
}

static int
h_ack_payload(void *arg, struct gw_buf *out)
{
	struct serf *sf = arg;

	return sf->ops.ack_payload ? sf->ops.ack_payload(sf->arg, out) : 0;
}

static void
h_ping_complete(void *arg, const struct swim_member *m, uint64_t rtt_us,
    struct gw_bytes payload)
{
	struct serf *sf = arg;

	if (sf->ops.ping_complete)
		sf->ops.ping_complete(sf->arg, m, rtt_us, payload);
}

/* ---- configuration and life ---- */

void
serf_config_default(struct serf_config *c)
{
	memset(c, 0, sizeof(*c));
	swim_config_lan(&c->swim);
	c->protocol = 4;
	c->broadcast_timeout_ms = 5000;
	c->leave_propagate_delay_ms = 1000;
	c->reap_interval_ms = 15000;
	c->reconnect_interval_ms = 30000;
	c->reconnect_timeout_ms = 24ULL * 3600 * 1000;
	c->tombstone_timeout_ms = 24ULL * 3600 * 1000;
	c->recent_intent_timeout_ms = 5ULL * 60 * 1000;
	c->queue_check_interval_ms = 30000;
	c->max_queue_depth = 4096;
	c->event_buffer = GS_EVENT_BUFFER;
	c->query_buffer = 512;
	c->query_timeout_mult = 16;
	c->query_size_limit = 1024;
	c->query_response_size_limit = 1024;
	c->user_event_size_limit = 512;
}

static void
snap_log(void *arg, int level, const char *msg)
{
	sf_log(arg, level, "snapshot: %s", msg);
}

int
serf_new(const struct serf_config *c, const struct serf_ops *ops, void *arg,
    struct serf **out)
{
	struct swim_ops so = {
		.now = h_now, .rand = h_rand, .send_udp = h_send_udp,
		.push_pull = h_push_pull, .log = h_log, .event = h_event,
		.done = h_done, .get_broadcasts = h_get_broadcasts,
		.notify_user = h_notify_user, .local_state = h_local_state,
		.merge_remote_state = h_merge_remote_state,
		.merge_check = h_merge_check, .ack_payload = h_ack_payload,
		.ping_complete = h_ping_complete,
	};
	struct swim_config scfg;
	struct swim_self self;
	struct serf *sf;
	struct gw_buf meta = { 0 };
	int rc;

	*out = NULL;
	if (c->name == NULL || c->name[0] == '\0' ||
	    strlen(c->name) > GW_NAME_MAX || c->protocol < SERF_PMIN ||
	    c->protocol > SERF_PMAX || c->event_buffer == 0 ||
	    c->query_buffer == 0 || c->user_event_size_limit > GS_EVENT_MAX ||
	    c->reap_interval_ms == 0 || c->reconnect_interval_ms == 0 ||
	    c->queue_check_interval_ms == 0 || c->query_timeout_mult == 0 ||
	    (c->n_tags > 0 && c->tags == NULL))
		return -LE_INVAL;
	if (ops->now == NULL || ops->rand == NULL || ops->send_udp == NULL ||
	    ops->push_pull == NULL)
		return -LE_INVAL;
	if ((sf = calloc(1, sizeof(*sf))) == NULL)
		return -LE_NOMEM;
	sf->cfg = *c;
	sf->cfg.snapshot_path = NULL;
	sf->cfg.tags = NULL;
	sf->ops = *ops;
	sf->arg = arg;
	sf->state = SERF_ALIVE;
	sf->name_len = strlen(c->name);
	if ((sf->name = malloc(sf->name_len + 1)) == NULL) {
		serf_free(sf);
		return -LE_NOMEM;
	}
	memcpy(sf->name, c->name, sf->name_len + 1);
	sf->cfg.name = sf->name;
	if ((rc = tags_copy(c->tags, c->n_tags, &sf->tags)) != 0) {
		serf_free(sf);
		return rc;
	}
	sf->n_tags = c->n_tags;
	if ((rc = encode_meta(sf, sf->tags, sf->n_tags, &meta)) != 0) {
		gw_buf_free(&meta);
		serf_free(sf);
		return rc;
	}
	sf->meta = meta.p;
	sf->meta_len = meta.len;
	sf->ring = calloc(c->event_buffer, sizeof(*sf->ring));
	sf->qring = calloc(c->query_buffer, sizeof(*sf->qring));
	if (sf->ring == NULL || sf->qring == NULL) {
		serf_free(sf);
		return -LE_NOMEM;
	}
	/* At least 1, so that a join LTime of 0 means nothing. */
	lc_inc(&sf->clock);
	lc_inc(&sf->event_clock);
	lc_inc(&sf->query_clock);
	if (c->snapshot_path != NULL) {
		if ((rc = snap_open(c->snapshot_path, c->rejoin_after_leave,
		    SNAP_MIN_COMPACT, snap_log, sf, &sf->snap)) != 0) {
			serf_free(sf);
			return rc;
		}
		lc_witness(&sf->clock, snap_last_clock(sf->snap));
		lc_witness(&sf->event_clock, snap_last_event_clock(sf->snap));
		lc_witness(&sf->query_clock, snap_last_query_clock(sf->snap));
		sf->event_min_time = snap_last_event_clock(sf->snap) + 1;
		sf->query_min_time = snap_last_query_clock(sf->snap) + 1;
	}
	scfg = c->swim;
	scfg.vsn[GW_VSN_PMIN] = 1;
	scfg.vsn[GW_VSN_PMAX] = 5;
	scfg.vsn[GW_VSN_PCUR] = 2;	/* Serf's ProtocolVersionMap */
	scfg.vsn[GW_VSN_DMIN] = SERF_PMIN;
	scfg.vsn[GW_VSN_DMAX] = SERF_PMAX;
	scfg.vsn[GW_VSN_DCUR] = c->protocol;
	if (ops->tcp_ping != NULL)
		so.tcp_ping = h_tcp_ping;
	memset(&self, 0, sizeof(self));
	self.name = sf->name;
	self.name_len = sf->name_len;
	self.addr = c->addr;
	self.meta = sf->meta;
	self.meta_len = sf->meta_len;
	sf->cfg.swim = scfg;
	if ((rc = swim_new(&scfg, &self, &so, sf, &sf->sw)) != 0) {
		serf_free(sf);
		return rc;
	}
	*out = sf;
	return 0;
}

void
serf_free(struct serf *sf)
{
	if (sf == NULL)
		return;
	swim_free(sf->sw);
	sfm_free_all(sf);
	sfq_free(&sf->intent_q);
	sfq_free(&sf->event_q);
	sfq_free(&sf->query_q);
	sfe_free_all(sf);
	sfr_free_all(sf);
	if (sf->snap != NULL) {
		snap_clock(sf->snap, lc_time(&sf->clock));
		snap_close(sf->snap);
	}
	snap_prev_free(sf->rejoin.prev, sf->rejoin.n);
	tags_free(sf->tags, sf->n_tags);
	free(sf->meta);
	free(sf->name);
	free(sf->dones);
	gw_buf_free(&sf->scratch);
	free(sf);
}

/* Serf's handleRejoin: the snapshot's members one at a time until one
 * answers. */
static void
rejoin_end(struct serf *sf)
{
	sf->rejoin.active = false;
	snap_prev_free(sf->rejoin.prev, sf->rejoin.n);
	sf->rejoin.prev = NULL;
	sf->rejoin.n = sf->rejoin.next = 0;
}

static void
rejoin_next(struct serf *sf)
{
	while (sf->rejoin.next < sf->rejoin.n) {
		struct snap_prev *p = &sf->rejoin.prev[sf->rejoin.next++];

		if (strcmp(p->name, sf->name) == 0)
			continue;
		sf_log(sf, 1, "attempting re-join to previously known node "
		    "%s", p->name);
		if (swim_join(sf->sw, &p->addr, &sf->rejoin.id) == 0) {
			sf->rejoin.active = true;
			return;
		}
	}
	/* Only a snapshot naming others is worth a warning. */
	for (size_t i = 0; i < sf->rejoin.n; i++)
		if (strcmp(sf->rejoin.prev[i].name, sf->name) != 0) {
			sf_log(sf, 0, "failed to re-join any previously known "
			    "node");
			break;
		}
	rejoin_end(sf);
}

int
serf_start(struct serf *sf)
{
	int rc;

	if ((rc = enter(sf)) != 0)
		return rc;
	if (sf->started)
		return leave_call(sf, -LE_STATE);
	if ((rc = swim_start(sf->sw)) != 0)
		return leave_call(sf, rc);
	sf->started = true;
	sf->reap_at = sf->now + sf->cfg.reap_interval_ms * US_PER_MS;
	sf->reconnect_at = sf->now + sf->cfg.reconnect_interval_ms * US_PER_MS;
	sf->queue_check_at = sf->now +
	    sf->cfg.queue_check_interval_ms * US_PER_MS;
	sf->snap_clock_at = sf->now + 500 * US_PER_MS;
	if (sf->snap != NULL &&
	    snap_alive(sf->snap, &sf->rejoin.prev, &sf->rejoin.n) == 0) {
		/* Serf shuffles the known nodes. */
		for (size_t i = sf->rejoin.n; i > 1; i--) {
			size_t j = (size_t)sf_rand(sf, i);
			struct snap_prev t = sf->rejoin.prev[i - 1];

			sf->rejoin.prev[i - 1] = sf->rejoin.prev[j];
			sf->rejoin.prev[j] = t;
		}
		rejoin_next(sf);
	}
	return leave_call(sf, 0);
}

struct swim *
serf_swim(struct serf *sf)
{
	return sf->sw;
}

/* ---- broadcasts that somebody waits for ---- */

static int
wait_new(struct serf *sf, uint8_t op, uint64_t token)
{
	for (int i = 0; i < WAITS_MAX; i++) {
		if (!sf->waits[i].active) {
			sf->waits[i] = (struct bwait){ true, false, op, token,
			    sf->now + sf->cfg.broadcast_timeout_ms * US_PER_MS };
			return i + 1;
		}
	}
	return -LE_UNAVAIL;
}

/* A waited-for broadcast was sent its last time (or dropped). */
void
sf_wait_sent(struct serf *sf, int wait)
{
	struct bwait *w;

	if (wait <= 0 || wait > WAITS_MAX || !(w = &sf->waits[wait - 1])->active)
		return;
	w->sent = true;
	if (w->op == SERF_OP_FORCE_LEAVE) {
		sf_done(sf, w->op, w->token, 0, 0);
		w->active = false;
	}
}

static void
waits_tick(struct serf *sf)
{
	for (int i = 0; i < WAITS_MAX; i++) {
		struct bwait *w = &sf->waits[i];

		if (!w->active || w->op != SERF_OP_FORCE_LEAVE ||
		    sf->now < w->deadline)
			continue;
		w->active = false;
		sf_done(sf, w->op, w->token, -LE_TIMEOUT, 0);
	}
}

/* ---- leave ---- */

static void
leave_tick(struct serf *sf)
{
	struct bwait *w;
	int rc;

	switch (sf->leave.step) {
	case LS_INTENT:
		w = &sf->waits[sf->leave.wait - 1];
		if (w->sent) {
			w->active = false;
			sf->leave.step = LS_SWIM;
		} else if (sf->now >= w->deadline) {
			/* Serf returns "timeout while waiting for graceful
			 * leave" and stays leaving. */
			w->active = false;
			sf->leave.step = LS_STUCK;
			sf_done(sf, SERF_OP_LEAVE, sf->leave.token,
			    -LE_TIMEOUT, 0);
			return;
		} else {
			return;
		}
		/* FALLTHROUGH */
	case LS_SWIM:
		sf->leave.step = LS_SWIM_WAIT;
		if ((rc = swim_leave(sf->sw, sf->cfg.broadcast_timeout_ms)) != 0) {
			sf->leave.step = LS_STUCK;
			sf_done(sf, SERF_OP_LEAVE, sf->leave.token, rc, 0);
		}
		break;
	case LS_PROPAGATE:
		if (sf->now >= sf->leave.deadline) {
			sf->state = SERF_LEFT;
			sf->leave.step = LS_DONE;
			sf_done(sf, SERF_OP_LEAVE, sf->leave.token, 0, 0);
		}
		break;
	default:
		break;
	}
}

int
serf_leave(struct serf *sf, uint64_t token)
{
	struct gs_msg m;
	int rc;

	if ((rc = enter(sf)) != 0)
		return rc;
	if (!sf->started)
		return leave_call(sf, -LE_STATE);
	if (sf->state == SERF_LEFT) {
		sf_done(sf, SERF_OP_LEAVE, token, 0, 0);
		return leave_call(sf, 0);
	}
	if (sf->state == SERF_LEAVING)
		return leave_call(sf, -LE_STATE);
	sf->state = SERF_LEAVING;
	sf->leave.token = token;
	if (sf->snap != NULL)
		snap_leave(sf->snap);
	memset(&m, 0, sizeof(m));
	m.type = GS_LEAVE;
	m.u.leave.ltime = lc_time(&sf->clock);
	m.u.leave.node = (struct gw_bytes){ (uint8_t *)sf->name,
	    sf->name_len };
	lc_inc(&sf->clock);
	sfm_leave_intent(sf, &m.u.leave);
	sf->leave.step = LS_SWIM;
	/* Only worth waiting for if someone else is alive to hear it. */
	if (sfm_any_alive(sf)) {
		int w = wait_new(sf, SERF_OP_LEAVE, token);

		sf->scratch.len = 0;
		if (w < 0 || (rc = gs_encode(&sf->scratch, &m)) != 0 ||
		    (rc = sfq_push(sf, &sf->intent_q, sf->scratch.p,
		    sf->scratch.len, w)) != 0) {
			if (w > 0)
				sf->waits[w - 1].active = false;
			sf->state = SERF_ALIVE;
			sf->leave.step = LS_NONE;
			return leave_call(sf, w < 0 ? w : rc);
		}
		sf->leave.wait = w;
		sf->leave.step = LS_INTENT;
	}
	return leave_call(sf, 0);
}

/* Serf's forceLeave: the intent is processed here first (a failed member
 * becomes left, prune erases it), then gossiped if anyone can hear it. */
int
serf_force_leave(struct serf *sf, struct gw_bytes node, bool prune,
    uint64_t token)
{
	struct gs_msg m;
	int rc, w;

	if (node.p == NULL || node.len == 0 || node.len > GW_NAME_MAX)
		return -LE_INVAL;
	if ((rc = enter(sf)) != 0)
		return rc;
	if (!sf->started)
		return leave_call(sf, -LE_STATE);
	memset(&m, 0, sizeof(m));
	m.type = GS_LEAVE;
	m.u.leave.ltime = lc_time(&sf->clock);
	m.u.leave.node = node;
	m.u.leave.prune = prune;
	lc_inc(&sf->clock);
	sfm_leave_intent(sf, &m.u.leave);
	if (!sfm_any_alive(sf)) {
		sf_done(sf, SERF_OP_FORCE_LEAVE, token, 0, 0);
		return leave_call(sf, 0);
	}
	if ((w = wait_new(sf, SERF_OP_FORCE_LEAVE, token)) < 0)
		return leave_call(sf, w);
	sf->scratch.len = 0;
	if ((rc = gs_encode(&sf->scratch, &m)) != 0 ||
	    (rc = sfq_push(sf, &sf->intent_q, sf->scratch.p, sf->scratch.len,
	    w)) != 0) {
		sf->waits[w - 1].active = false;
		return leave_call(sf, rc);
	}
	return leave_call(sf, 0);
}

enum serf_status
serf_state(const struct serf *sf)
{
	return (enum serf_status)sf->state;
}

/* ---- join ---- */

int
sf_broadcast_join(struct serf *sf, uint64_t ltime)
{
	struct gs_msg m;
	int rc;

	memset(&m, 0, sizeof(m));
	m.type = GS_JOIN;
	m.u.join.ltime = ltime;
	m.u.join.node = (struct gw_bytes){ (uint8_t *)sf->name, sf->name_len };
	lc_witness(&sf->clock, ltime);
	sfm_join_intent(sf, &m.u.join);
	sf->scratch.len = 0;
	if ((rc = gs_encode(&sf->scratch, &m)) == 0)
		rc = sfq_push(sf, &sf->intent_q, sf->scratch.p, sf->scratch.len,
		    0);
	if (rc != 0)
		sf_log(sf, 0, "failed to broadcast join intent: %s",
		    le_strerror(rc));
	return rc;
}

static void
join_finish(struct serf *sf)
{
	int status = sf->join.ok > 0 ? 0 : sf->join.last_err;

	sf->join.active = false;
	sf->join_ignore = false;
	if (sf->join.ok > 0)
		sf_broadcast_join(sf, lc_time(&sf->clock));
	sf_done(sf, SERF_OP_JOIN, sf->join.token, status, sf->join.ok);
}

int
serf_join(struct serf *sf, const struct swim_addr *addrs, unsigned n,
    bool ignore_old, uint64_t token)
{
	int rc;

	if (n == 0 || n > JOIN_MAX)
		return -LE_INVAL;
	if ((rc = enter(sf)) != 0)
		return rc;
	if (!sf->started || sf->state != SERF_ALIVE || sf->join.active)
		return leave_call(sf, -LE_STATE);
	memset(&sf->join, 0, sizeof(sf->join));
	sf->join.active = true;
	sf->join.token = token;
	sf->join.last_err = -LE_IO;
	sf->join_ignore = ignore_old;
	for (unsigned i = 0; i < n; i++) {
		uint64_t id;

		if ((rc = swim_join(sf->sw, &addrs[i], &id)) != 0)
			sf->join.last_err = rc;
		else
			sf->join.ids[sf->join.pending++] = id;
	}
	sf->join.n = sf->join.pending;
	if (sf->join.pending == 0)
		join_finish(sf);
	return leave_call(sf, 0);
}

int
serf_push_pull_done(struct serf *sf, uint64_t id, int status,
    const uint8_t *msg, size_t len)
{
	int rc;

	if (sf->busy)
		return -LE_STATE;
	sf->busy = true;
	sf->now = sf->ops.now(sf->arg);
	rc = swim_push_pull_done(sf->sw, id, status, msg, len);
	if (sf->join.active) {
		for (unsigned i = 0; i < sf->join.pending; i++) {
			if (sf->join.ids[i] != id)
				continue;
			sf->join.ids[i] = sf->join.ids[--sf->join.pending];
			if (status == 0 && rc == 0)
				sf->join.ok++;
			else
				sf->join.last_err = status < 0 ? status : rc;
			if (sf->join.pending == 0)
				join_finish(sf);
			break;
		}
	}
	if (sf->rejoin.active && id == sf->rejoin.id) {
		if (status == 0 && rc == 0) {
			sf_log(sf, 1, "re-joined to a previously known node");
			rejoin_end(sf);
		} else {
			rejoin_next(sf);
		}
	}
	return leave_call(sf, rc);
}

/* ---- tags ---- */

int
serf_set_tags(struct serf *sf, const struct serf_tag *tags, unsigned n,
    uint64_t token)
{
	struct gw_buf meta = { 0 };
	struct serf_tag *copy;
	int rc;

	if (n > 0 && tags == NULL)
		return -LE_INVAL;
	if ((rc = enter(sf)) != 0)
		return rc;
	if (!sf->started || sf->state != SERF_ALIVE)
		return leave_call(sf, -LE_STATE);
	if ((rc = encode_meta(sf, tags, n, &meta)) != 0) {
		gw_buf_free(&meta);
		return leave_call(sf, rc);
	}
	if ((rc = tags_copy(tags, n, &copy)) != 0) {
		gw_buf_free(&meta);
		return leave_call(sf, rc);
	}
	/* The core's wait for the older meta ends inside swim_set_meta;
	 * ours starts after it. */
	if (sf->tags_wait.active) {
		sf->tags_wait.more = token;
		sf->tags_wait.n_more = 1;
	} else {
		sf->tags_wait.active = true;
		sf->tags_wait.token = token;
	}
	if ((rc = swim_set_meta(sf->sw, meta.p, meta.len,
	    sf->cfg.broadcast_timeout_ms)) != 0) {
		if (sf->tags_wait.n_more)
			sf->tags_wait.n_more = 0;
		else if (sf->tags_wait.token == token)
			sf->tags_wait.active = false;
		tags_free(copy, n);
		gw_buf_free(&meta);
		return leave_call(sf, rc);
	}
	tags_free(sf->tags, sf->n_tags);
	sf->tags = copy;
	sf->n_tags = n;
	free(sf->meta);
	sf->meta = meta.p;
	sf->meta_len = meta.len;
	return leave_call(sf, 0);
}

/* ---- timers ---- */

static void
queue_check(struct serf *sf)
{
	size_t max = sf->cfg.max_queue_depth;
	struct tlq *qs[3] = { &sf->intent_q, &sf->event_q, &sf->query_q };

	if (sf->cfg.min_queue_depth > 0) {
		max = 2 * sf->mv_n;
		if (max < sf->cfg.min_queue_depth)
			max = sf->cfg.min_queue_depth;
	}
	for (int i = 0; i < 3; i++) {
		if (qs[i]->n <= max)
			continue;
		sf_log(sf, 0, "queue depth (%zu) exceeds limit (%zu), "
		    "dropping messages", qs[i]->n, max);
		sf->st.queue_pruned += qs[i]->n - max;
		sfq_prune(sf, qs[i], max);
	}
}

static void
deliver_dones(struct serf *sf)
{
	/* Report in order; a done may start new operations, whose own
	 * completions wait for the next tick. */
	size_t n = sf->done_n;
	struct done_ev *v;

	if (n == 0)
		return;
	v = sf->dones;
	sf->dones = NULL;
	sf->done_n = sf->done_cap = 0;
	for (size_t i = 0; i < n; i++)
		if (sf->ops.done != NULL)
			sf->ops.done(sf->arg, (enum serf_op)v[i].op, v[i].token,
			    v[i].status, v[i].n);
	free(v);
}

int
serf_tick(struct serf *sf)
{
	int rc;

	if ((rc = enter(sf)) != 0)
		return rc;
	if (!sf->started)
		return leave_call(sf, -LE_STATE);
	if (swim_next_deadline(sf->sw) <= sf->now)
		swim_tick(sf->sw);
	sf->now = sf->ops.now(sf->arg);
	sfm_tick(sf);
	sfr_tick(sf);
	waits_tick(sf);
	leave_tick(sf);
	if (sf->now >= sf->queue_check_at) {
		queue_check(sf);
		sf->queue_check_at = sf->now +
		    sf->cfg.queue_check_interval_ms * US_PER_MS;
	}
	if (sf->snap != NULL && sf->now >= sf->snap_clock_at) {
		snap_clock(sf->snap, lc_time(&sf->clock));
		snap_tick(sf->snap, sf->now);
		sf->snap_clock_at = sf->now + 500 * US_PER_MS;
	}
	leave_call(sf, 0);
	deliver_dones(sf);
	return 0;
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t
serf_next_deadline(const struct serf *sf)
{
	uint64_t t;

	if (!sf->started)
		return UINT64_MAX;
	if (sf->done_n > 0 || sf->leave.step == LS_SWIM)
		return 0;
	t = swim_next_deadline(sf->sw);
	t = min_u64(t, sfm_next(sf));
	t = min_u64(t, sfr_next(sf));
	t = min_u64(t, sf->queue_check_at);
	if (sf->snap != NULL)
		t = min_u64(t, sf->snap_clock_at);
	for (int i = 0; i < WAITS_MAX; i++)
		if (sf->waits[i].active)
			t = min_u64(t, sf->waits[i].sent ? 0 :
			    sf->waits[i].deadline);
	if (sf->leave.step == LS_PROPAGATE)
		t = min_u64(t, sf->leave.deadline);
	return t;
}

/* ---- accessors ---- */

struct gw_bytes
serf_member_tag(const struct serf_member *m, const char *key)
{
	size_t n = strlen(key);

	for (unsigned i = 0; i < m->n_tags; i++)
		if (m->tags[i].key.len == n &&
		    memcmp(m->tags[i].key.p, key, n) == 0)
			return m->tags[i].val;
	return (struct gw_bytes){ NULL, 0 };
}

int
serf_member(const struct serf *sf, struct gw_bytes name,
    struct serf_member *out)
{
	const struct smember *m = sfm_get(sf, name.p, name.len);

	if (m == NULL)
		return -LE_NOTFOUND;
	sfm_view(m, out);
	return 0;
}

size_t
serf_members_each(const struct serf *sf,
    void (*each)(void *arg, const struct serf_member *m), void *arg)
{
	struct serf_member v;
	size_t n = sf->mv_n;

	for (size_t i = 0; i < n && i < sf->mv_n; i++) {
		sfm_view(sf->mv[i], &v);
		each(arg, &v);
	}
	return n;
}

size_t
serf_num_members(const struct serf *sf)
{
	return sf->mv_n;
}

int
serf_local_member(const struct serf *sf, struct serf_member *out)
{
	return serf_member(sf, (struct gw_bytes){ (uint8_t *)sf->name,
	    sf->name_len }, out);
}

void
serf_stats(const struct serf *sf, struct serf_stats *out)
{
	*out = sf->st;
	out->members = sf->mv_n;
	sfm_counts(sf, &out->failed, &out->left);
	out->member_time = lc_time(&sf->clock);
	out->event_time = lc_time(&sf->event_clock);
	out->query_time = lc_time(&sf->query_clock);
	out->intent_queue = sf->intent_q.n;
	out->event_queue = sf->event_q.n;
	out->query_queue = sf->query_q.n;
}

const char *
serf_status_name(uint8_t status)
{
	static const char *const names[] = { "none", "alive", "leaving",
	    "left", "failed" };

	return status < 5 ? names[status] : "unknown";
}
