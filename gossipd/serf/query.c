/* query.c: Serf's queries (§10.6). Outgoing: stamped with the query
 * clock, gossiped on the query queue and processed locally; acks and
 * responses come back by UDP (directly or relayed) and are reported once
 * per node until the timeout. Incoming: deduplicated by (LTime, ID) in a
 * ring, filtered (node list, tag regex), acked at once if asked, then
 * delivered to the daemon with a handle for its one response, or answered
 * here when internal (_serf_ping, _serf_conflict; the key-rotation
 * queries are counted and left unanswered). Relays: a response copy sent
 * through relay_factor random members, each forwarding it to the querier.
 * Go's RE2 regexes are matched with POSIX extended regexes, which agree on
 * the simple patterns filters use (literals, ^$, ., *, +, ?, [], |, ()). */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serf_int.h"

#define INTERNAL_PREFIX "_serf_"
/* Delivered queries awaiting an answer: Go keeps none (the Query object
 * travels with the event); we keep a handle until the deadline, so their
 * number is bounded and the oldest goes first. */
#define QIN_MAX 4096

static int
addr_from(struct swim_addr *a, struct gw_bytes ip, uint16_t port)
{
	if (ip.p == NULL || (ip.len != 4 && ip.len != 16))
		return -LE_MALFORMED;
	memset(a, 0, sizeof(*a));
	memcpy(a->ip, ip.p, ip.len);
	a->len = (uint8_t)ip.len;
	a->port = port;
	return 0;
}

static uint64_t
ns_to_us(int64_t ns)
{
	return ns <= 0 ? 0 : (uint64_t)ns / 1000;
}

uint64_t
serf_default_query_timeout_ms(const struct serf *sf)
{
	size_t alive = 0;
	double scale;

	swim_num_members(sf->sw, &alive);
	scale = ceil(log10((double)alive + 1.0));
	return (uint64_t)sf->cfg.swim.gossip_interval_ms *
	    sf->cfg.query_timeout_mult * (uint64_t)scale;
}

/* ---- filters ---- */

/* Go's regexp.MatchString(expr, value): a search, not anchored. */
static bool
regex_match(struct serf *sf, struct gw_bytes expr, struct gw_bytes value)
{
	char *e = malloc(expr.len + 1), *v = malloc(value.len + 1);
	regex_t re;
	bool ok = false;

	if (e == NULL || v == NULL)
		goto out;
	if (expr.len)
		memcpy(e, expr.p, expr.len);
	if (value.len)
		memcpy(v, value.p, value.len);
	e[expr.len] = v[value.len] = '\0';
	if (strlen(e) != expr.len || strlen(v) != value.len)
		goto out;		/* NUL inside: not for POSIX */
	if (regcomp(&re, e, REG_EXTENDED | REG_NOSUB) != 0) {
		sf_log(sf, 0, "failed to compile filter regex (%s)", e);
		goto out;
	}
	ok = regexec(&re, v, 0, NULL, 0) == 0;
	regfree(&re);
out:
	free(e);
	free(v);
	return ok;
}

static struct gw_bytes
own_tag(const struct serf *sf, struct gw_bytes key)
{
	for (unsigned i = 0; i < sf->n_tags; i++)
		if (sf->tags[i].key.len == key.len &&
		    memcmp(sf->tags[i].key.p, key.p, key.len) == 0)
			return sf->tags[i].val;
	return (struct gw_bytes){ (const uint8_t *)"", 0 };
}

/* Serf's shouldProcessQuery: every filter must let us in; an unknown or
 * undecodable one keeps us out. */
static bool
should_process(struct serf *sf, const struct gs_query *q)
{
	struct gs_filter *f;
	bool ok = true;

	if (q->n_filters == 0)
		return true;
	if ((f = malloc(sizeof(*f))) == NULL)
		return false;
	for (unsigned i = 0; i < q->n_filters && ok; i++) {
		const char *why = NULL;

		if (gs_filter_decode(q->filters[i], f, &why) != 0) {
			sf_log(sf, 0, "query filter refused: %s",
			    why ? why : "bad filter");
			ok = false;
			break;
		}
		if (f->type == GS_FILTER_NODE) {
			bool found = false;

			for (unsigned k = 0; k < f->n_nodes && !found; k++)
				found = sf_is_self(sf, f->nodes[k].p,
				    f->nodes[k].len);
			ok = found;
		} else {
			ok = regex_match(sf, f->expr, own_tag(sf, f->tag));
		}
	}
	free(f);
	return ok;
}

/* ---- responses ---- */

static int
encode_resp(struct serf *sf, uint64_t ltime, uint32_t id, uint32_t flags,
    struct gw_bytes payload, struct gw_buf *out)
{
	struct gs_msg m;

	memset(&m, 0, sizeof(m));
	m.type = GS_QUERY_RESPONSE;
	m.u.resp.ltime = ltime;
	m.u.resp.id = id;
	m.u.resp.from = (struct gw_bytes){ (uint8_t *)sf->name, sf->name_len };
	m.u.resp.flags = flags;
	m.u.resp.payload = payload;
	return gs_encode(out, &m);
}

/* Serf's kRandomMembers over live members that speak protocol 5 (relays
 * need it), not us; up to 3n draws. */
static size_t
relay_members(struct serf *sf, unsigned k, struct smember **out)
{
	size_t n = sf->mv_n, got = 0;

	for (size_t i = 0; i < 3 * n && got < k; i++) {
		struct smember *m = sf->mv[sf_rand(sf, n)];
		bool dup = false;

		if (m->status != SERF_ALIVE || m->vsn[GW_VSN_PMAX] < 5 ||
		    sf_is_self(sf, m->e.name, m->e.len))
			continue;
		for (size_t j = 0; j < got && !dup; j++)
			dup = out[j] == m;
		if (!dup)
			out[got++] = m;
	}
	return got;
}

/* Serf's relayResponse: resp (an encoded response) wrapped in a relay
 * message to relay_factor random members. */
static void
relay_response(struct serf *sf, uint8_t factor, const struct swim_addr *to,
    struct gw_bytes dest_name, const uint8_t *resp, size_t len)
{
	struct smember *pick[256];
	struct gw_buf b = { 0 };
	struct gs_msg m;
	size_t n;

	if (factor == 0 || sf->mv_n < (size_t)factor + 1)
		return;
	memset(&m, 0, sizeof(m));
	m.type = GS_RELAY;
	m.u.relay.dest_ip = (struct gw_bytes){ to->ip, to->len };
	m.u.relay.dest_port = to->port;
	m.u.relay.dest_zone = (struct gw_bytes){ (const uint8_t *)"", 0 };
	m.u.relay.dest_name = dest_name;
	m.u.relay.inner = (struct gw_bytes){ resp, len };
	if (gs_encode(&b, &m) != 0)
		goto out;
	if (b.len > sf->cfg.query_response_size_limit) {
		sf_log(sf, 0, "relayed response exceeds limit of %zu bytes",
		    sf->cfg.query_response_size_limit);
		goto out;
	}
	n = relay_members(sf, factor, pick);
	for (size_t i = 0; i < n; i++)
		sf_send(sf, &pick[i]->addr, b.p, b.len);
out:
	gw_buf_free(&b);
}

/* Sends one response (or ack) for query (ltime, id) to its source. */
static int
respond(struct serf *sf, uint64_t ltime, uint32_t id, uint32_t flags,
    struct gw_bytes payload, const struct swim_addr *to,
    struct gw_bytes source, uint8_t relay_factor)
{
	struct gw_buf b = { 0 };
	int rc;

	if ((rc = encode_resp(sf, ltime, id, flags, payload, &b)) != 0)
		goto out;
	if (b.len > sf->cfg.query_response_size_limit) {
		rc = -LE_TOOBIG;
		goto out;
	}
	sf_send(sf, to, b.p, b.len);
	relay_response(sf, relay_factor, to, source, b.p, b.len);
out:
	gw_buf_free(&b);
	return rc;
}

/* ---- incoming queries ---- */

static bool
seen_before(struct serf *sf, uint64_t ltime, uint32_t id)
{
	struct qslot *s = &sf->qring[ltime % sf->cfg.query_buffer];

	if (s->used && s->ltime == ltime) {
		for (unsigned i = 0; i < s->n; i++)
			if (s->ids[i] == id)
				return true;
	} else {
		s->used = true;
		s->ltime = ltime;
		s->n = 0;
	}
	if (s->n == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 2;
		uint32_t *v = realloc(s->ids, cap * sizeof(*v));

		if (v == NULL)
			return true;	/* cannot remember it: drop it */
		s->ids = v;
		s->cap = cap;
	}
	s->ids[s->n++] = id;
	return false;
}

/* ---- key rotation (Serf's serfQueries key handlers) ---- */

static size_t
b64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 |
		    (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
		    (i + 2 < n ? in[i + 2] : 0);

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	return o;
}

/* Answers a key query; -LE_NOTFOUND when it is not one we serve. */
static int
key_query(struct serf *sf, const struct gs_query *q, struct gw_bytes name,
    const struct swim_addr *from)
{
	static const struct { const char *name; enum serf_key_op op; } ops[] = {
		{ "install-key", SERF_KEY_INSTALL },
		{ "use-key", SERF_KEY_USE },
		{ "remove-key", SERF_KEY_REMOVE },
		{ "list-keys", SERF_KEY_LIST },
	};
	struct gs_key_response *r;
	struct serf_keys keys;
	struct gw_bytes key = { NULL, 0 };
	char (*enc)[48] = NULL, msg[128];
	const char *text = NULL;
	struct gw_buf b = { 0 };
	enum serf_key_op op = 0;
	int rc;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (name.len == strlen(ops[i].name) &&
		    memcmp(name.p, ops[i].name, name.len) == 0)
			op = ops[i].op;
	if (op == 0 || sf->ops.keyring == NULL)
		return -LE_NOTFOUND;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (enc = calloc(SERF_KEYS_MAX, sizeof(*enc))) == NULL) {
		free(r);
		return -LE_NOMEM;
	}
	r->keys_nil = true;
	memset(&keys, 0, sizeof(keys));
	/* A request Serf cannot decode is answered with Result false and
	 * no message, as Go's goto SEND does. */
	if (op != SERF_KEY_LIST &&
	    gs_key_request_decode(q->payload, &key, NULL) != 0)
		goto send;
	rc = sf->ops.keyring(sf->arg, op, key, &keys, &text);
	if (rc == -LE_UNSUPPORTED) {
		text = op == SERF_KEY_LIST ?
		    "Keyring is empty (encryption not enabled)" :
		    "No keyring to modify (encryption not enabled)";
	} else if (rc != 0) {
		if (text == NULL)
			text = le_strerror(rc);
	} else {
		r->result = true;
		text = NULL;
		for (unsigned i = 0; op == SERF_KEY_LIST && i < keys.n &&
		    i < SERF_KEYS_MAX; i++) {
			if (keys.key[i].len > 32)
				continue;
			r->keys[r->n_keys].p = (const uint8_t *)enc[i];
			r->keys[r->n_keys].len = b64(keys.key[i].p,
			    keys.key[i].len, enc[i]);
			r->n_keys++;
			r->keys_nil = false;
		}
		if (op == SERF_KEY_LIST && r->n_keys > 0)
			r->primary = r->keys[0];
	}
send:
	if (text != NULL) {
		snprintf(msg, sizeof(msg), "%s", text);
		r->message = (struct gw_bytes){ (const uint8_t *)msg,
		    strlen(msg) };
	}
	/* list-keys: drop keys from the end until the response fits, saying
	 * so (Serf's keyListResponseWithCorrectSize). */
	for (unsigned total = r->n_keys;;) {
		struct gw_buf resp = { 0 };
		size_t rlen;

		b.len = 0;
		if ((rc = gs_key_response_encode(&b, r)) != 0)
			break;
		rc = encode_resp(sf, q->ltime, q->id, 0, (struct gw_bytes){ b.p,
		    b.len }, &resp);
		rlen = resp.len;
		gw_buf_free(&resp);
		if (rc != 0 || rlen <= sf->cfg.query_response_size_limit ||
		    r->n_keys == 0)
			break;
		r->n_keys--;
		snprintf(msg, sizeof(msg), "truncated key list response, "
		    "showing first %u of %u keys", r->n_keys, total);
		r->message = (struct gw_bytes){ (const uint8_t *)msg,
		    strlen(msg) };
	}
	if (rc == 0 && (rc = respond(sf, q->ltime, q->id, 0,
	    (struct gw_bytes){ b.p, b.len }, from, q->source_node,
	    q->relay_factor)) != 0)
		sf_log(sf, 0, "failed to respond to key query: %s",
		    le_strerror(rc));
	gw_buf_free(&b);
	free(enc);
	free(r);
	return 0;
}

static void
internal_query(struct serf *sf, const struct gs_query *q,
    const struct swim_addr *from)
{
	struct gw_bytes name = { q->name.p + strlen(INTERNAL_PREFIX),
	    q->name.len - strlen(INTERNAL_PREFIX) };

	if (name.len == 4 && memcmp(name.p, "ping", 4) == 0)
		return;			/* the ack is the answer */
	if (name.len == 8 && memcmp(name.p, "conflict", 8) == 0) {
		/* Our view of the named member, for its name conflict. */
		struct smember *m;
		struct gs_member gm, *gp = NULL;
		struct gw_bytes *k = NULL, *v = NULL;
		struct gw_buf b = { 0 };

		if (sf_is_self(sf, q->payload.p, q->payload.len) || from == NULL)
			return;
		if ((m = sfm_get(sf, q->payload.p, q->payload.len)) != NULL) {
			k = calloc(m->n_tags + 1, sizeof(*k));
			v = calloc(m->n_tags + 1, sizeof(*v));
			if (k == NULL || v == NULL)
				goto out;
			for (unsigned i = 0; i < m->n_tags; i++) {
				k[i] = m->tags[i].key;
				v[i] = m->tags[i].val;
			}
			memset(&gm, 0, sizeof(gm));
			gm.name = (struct gw_bytes){ (uint8_t *)m->e.name,
			    m->e.len };
			gm.addr = (struct gw_bytes){ m->addr.ip, m->addr.len };
			gm.port = m->addr.port;
			gm.tag_keys = k;
			gm.tag_vals = v;
			gm.n_tags = m->n_tags;
			gm.status = m->status;
			memcpy(gm.vsn, m->vsn, GW_VSN_LEN);
			gp = &gm;
		}
		if (gs_conflict_encode(&b, gp) == 0)
			respond(sf, q->ltime, q->id, 0, (struct gw_bytes){ b.p,
			    b.len }, from, q->source_node, q->relay_factor);
out:
		gw_buf_free(&b);
		free(k);
		free(v);
		return;
	}
	if (from != NULL && key_query(sf, q, name, from) == 0)
		return;
	sf->st.queries_unanswered++;
	sf_log(sf, 0, "unhandled internal query '%.*s'", (int)q->name.len,
	    (const char *)q->name.p);
}

/* Serf's handleQuery: true if new (rebroadcast unless flagged). */
bool
sfr_handle(struct serf *sf, const struct gs_query *q)
{
	uint64_t cur, size = sf->cfg.query_buffer;
	struct swim_addr from;
	bool have_from, rebroadcast;
	struct qin *in;

	lc_witness(&sf->query_clock, q->ltime);
	if (q->ltime < sf->query_min_time)
		return false;
	cur = lc_time(&sf->query_clock);
	if (cur > size && q->ltime < cur - size) {
		sf_log(sf, 0, "received old query %.*s from time %llu "
		    "(current: %llu)", (int)q->name.len,
		    (const char *)q->name.p, (unsigned long long)q->ltime,
		    (unsigned long long)cur);
		return false;
	}
	if (seen_before(sf, q->ltime, q->id))
		return false;
	rebroadcast = !(q->flags & GS_QUERY_NO_BROADCAST);
	if (!should_process(sf, q)) {
		/* New to us: pass it on even if it is not for us. */
		sf->st.queries_filtered++;
		return rebroadcast;
	}
	sf->st.queries_in++;
	have_from = addr_from(&from, q->addr, q->port) == 0;
	if ((q->flags & GS_QUERY_ACK) && have_from)
		respond(sf, q->ltime, q->id, GS_QUERY_ACK,
		    (struct gw_bytes){ NULL, 0 }, &from, q->source_node,
		    q->relay_factor);
	if (sf->snap != NULL)
		snap_query_clock(sf->snap, q->ltime);
	if (q->name.len >= strlen(INTERNAL_PREFIX) &&
	    memcmp(q->name.p, INTERNAL_PREFIX, strlen(INTERNAL_PREFIX)) == 0) {
		internal_query(sf, q, have_from ? &from : NULL);
		return rebroadcast;
	}
	if (sf->ops.query == NULL || !have_from)
		return rebroadcast;
	if ((in = calloc(1, sizeof(*in))) == NULL ||
	    (in->source = malloc(q->source_node.len + 1)) == NULL) {
		free(in);
		return rebroadcast;
	}
	memcpy(in->source, q->source_node.p ? (const void *)q->source_node.p :
	    "", q->source_node.len);
	in->source[q->source_node.len] = '\0';
	in->source_len = q->source_node.len;
	in->handle = ++sf->next_handle;
	in->ltime = q->ltime;
	in->id = q->id;
	in->from = from;
	in->relay_factor = q->relay_factor;
	in->deadline = sf->now + ns_to_us(q->timeout_ns);
	in->next = sf->qins;
	sf->qins = in;
	if (++sf->n_qins > QIN_MAX) {
		struct qin **pp = &sf->qins;

		while ((*pp)->next != NULL)
			pp = &(*pp)->next;
		free((*pp)->source);
		free(*pp);
		*pp = NULL;
		sf->n_qins--;
	}
	{
		struct serf_query_in qi = { in->handle, q->ltime, q->name,
		    q->payload, q->source_node, in->deadline };

		sf->ops.query(sf->arg, &qi);
	}
	return rebroadcast;
}

int
serf_query_respond(struct serf *sf, uint64_t handle, struct gw_bytes payload)
{
	struct qin *in;
	int rc;

	if (sf->busy)
		return -LE_STATE;
	sf->busy = true;
	sf->now = sf->ops.now(sf->arg);
	for (in = sf->qins; in != NULL && in->handle != handle; in = in->next)
		;
	if (in == NULL || sf->now > in->deadline)
		rc = -LE_NOTFOUND;
	else if (in->responded)
		rc = -LE_EXISTS;
	else if ((rc = respond(sf, in->ltime, in->id, 0, payload, &in->from,
	    (struct gw_bytes){ (uint8_t *)in->source, in->source_len },
	    in->relay_factor)) == 0)
		in->responded = true;
	sf->busy = false;
	return rc;
}

/* ---- outgoing queries ---- */

static void
qout_free(struct qout *o)
{
	struct ntab *t[2] = { &o->acks, &o->resps };

	for (int k = 0; k < 2; k++) {
		for (size_t b = 0; b < t[k]->cap; b++) {
			struct nent *e = t[k]->b[b], *next;

			for (; e != NULL; e = next) {
				next = e->next;
				free(e->name);
				free(e);
			}
		}
		sfn_free(t[k]);
	}
	free(o);
}

/* True the first time name is added. */
static bool
name_once(struct ntab *t, struct gw_bytes name)
{
	struct nent *e;

	if (sfn_find(t, name.p, name.len) != NULL)
		return false;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return false;
	if (sfn_name(e, name.p ? name.p : (const uint8_t *)"", name.len) != 0 ||
	    sfn_insert(t, e) != 0) {
		free(e->name);
		free(e);
		return false;
	}
	return true;
}

void
sfr_response(struct serf *sf, const struct gs_query_response *r)
{
	struct qout *o;

	sf->st.responses_in++;
	for (o = sf->qouts; o != NULL && o->ltime != r->ltime; o = o->next)
		;
	if (o == NULL) {
		sf_log(sf, 0, "reply for non-running query (LTime: %llu, ID: "
		    "%u) from %.*s", (unsigned long long)r->ltime, r->id,
		    (int)r->from.len, (const char *)r->from.p);
		return;
	}
	if (o->id != r->id) {
		sf_log(sf, 0, "query reply ID mismatch (local: %u, "
		    "response: %u)", o->id, r->id);
		return;
	}
	if (sf->now > o->deadline)
		return;
	if (r->flags & GS_QUERY_ACK) {
		/* Acks for a query that asked none are dropped, as Go's
		 * nil channel does. */
		if (o->want_acks && name_once(&o->acks, r->from) &&
		    sf->ops.query_ack != NULL)
			sf->ops.query_ack(sf->arg, o->qid, r->from);
	} else if (name_once(&o->resps, r->from) &&
	    sf->ops.query_response != NULL) {
		sf->ops.query_response(sf->arg, o->qid, r->from, r->payload);
	}
}

/* A response to forward to the querier (Serf only relays responses; other
 * inner types are refused so we cannot be used to bounce anything else). */
void
sfr_relay(struct serf *sf, const struct gs_relay *r)
{
	struct swim_addr to;

	if (r->inner.len == 0 || r->inner.p[0] != GS_QUERY_RESPONSE ||
	    addr_from(&to, r->dest_ip, r->dest_port) != 0) {
		sf->st.msgs_bad++;
		return;
	}
	sf->st.relays++;
	sf_send(sf, &to, r->inner.p, r->inner.len);
}

static int
add_filter(struct gs_query *q, struct gw_buf *store, size_t *offs,
    const struct gs_filter *f)
{
	int rc;

	if (q->n_filters == GS_FILTER_MAX)
		return -LE_TOOBIG;
	offs[q->n_filters] = store->len;
	if ((rc = gs_filter_encode(store, f)) != 0)
		return rc;
	q->filters[q->n_filters].len = store->len - offs[q->n_filters];
	q->n_filters++;
	return 0;
}

int
serf_query(struct serf *sf, struct gw_bytes name, struct gw_bytes payload,
    const struct serf_query_params *p, uint64_t *qid)
{
	static const struct serf_query_params none;
	struct gw_buf fbuf = { 0 };
	size_t offs[GS_FILTER_MAX];
	struct gs_filter *f = NULL;
	struct gs_msg m;
	struct qout *o = NULL;
	uint64_t timeout_ms;
	int rc;

	if (p == NULL)
		p = &none;
	if (sf->busy)
		return -LE_STATE;
	if (!sf->started)
		return -LE_STATE;
	if (sf->cfg.protocol < 4)
		return -LE_UNSUPPORTED;
	if (p->n_filter_nodes > GS_FILTER_NODES_MAX ||
	    (p->n_filter_nodes > 0 && p->filter_nodes == NULL) ||
	    (p->n_filter_tags > 0 && p->filter_tags == NULL))
		return -LE_INVAL;
	sf->busy = true;
	sf->now = sf->ops.now(sf->arg);
	memset(&m, 0, sizeof(m));
	m.type = GS_QUERY;
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		rc = -LE_NOMEM;
		goto out;
	}
	if (p->n_filter_nodes > 0) {
		f->type = GS_FILTER_NODE;
		f->n_nodes = p->n_filter_nodes;
		memcpy(f->nodes, p->filter_nodes,
		    p->n_filter_nodes * sizeof(*f->nodes));
		if ((rc = add_filter(&m.u.query, &fbuf, offs, f)) != 0)
			goto out;
	}
	for (unsigned i = 0; i < p->n_filter_tags; i++) {
		char *e = malloc(p->filter_tags[i].val.len + 1);
		regex_t re;
		int bad;

		if (e == NULL) {
			rc = -LE_NOMEM;
			goto out;
		}
		memcpy(e, p->filter_tags[i].val.p ? (const void *)
		    p->filter_tags[i].val.p : "", p->filter_tags[i].val.len);
		e[p->filter_tags[i].val.len] = '\0';
		bad = strlen(e) != p->filter_tags[i].val.len ||
		    regcomp(&re, e, REG_EXTENDED | REG_NOSUB) != 0;
		if (!bad)
			regfree(&re);
		free(e);
		if (bad) {
			rc = -LE_INVAL;
			goto out;
		}
		memset(f, 0, sizeof(*f));
		f->type = GS_FILTER_TAG;
		f->tag = p->filter_tags[i].key;
		f->expr = p->filter_tags[i].val;
		if ((rc = add_filter(&m.u.query, &fbuf, offs, f)) != 0)
			goto out;
	}
	for (unsigned i = 0; i < m.u.query.n_filters; i++)
		m.u.query.filters[i].p = fbuf.p + offs[i];
	timeout_ms = p->timeout_ms ? p->timeout_ms :
	    serf_default_query_timeout_ms(sf);
	m.u.query.ltime = lc_time(&sf->query_clock);
	m.u.query.id = (uint32_t)(sf->ops.rand(sf->arg) & 0x7fffffff);
	m.u.query.addr = (struct gw_bytes){ sf->cfg.addr.ip, sf->cfg.addr.len };
	m.u.query.port = sf->cfg.addr.port;
	m.u.query.source_node = (struct gw_bytes){ (uint8_t *)sf->name,
	    sf->name_len };
	m.u.query.flags = p->request_ack ? GS_QUERY_ACK : 0;
	m.u.query.relay_factor = p->relay_factor;
	m.u.query.timeout_ns = (int64_t)(timeout_ms * 1000000ULL);
	m.u.query.name = name.p ? name : (struct gw_bytes){
	    (const uint8_t *)"", 0 };
	m.u.query.payload = payload;
	sf->scratch.len = 0;
	if ((rc = gs_encode(&sf->scratch, &m)) != 0)
		goto out;
	if (sf->scratch.len > sf->cfg.query_size_limit) {
		rc = -LE_TOOBIG;
		goto out;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		rc = -LE_NOMEM;
		goto out;
	}
	o->qid = ++sf->next_qid;
	o->ltime = m.u.query.ltime;
	o->id = m.u.query.id;
	o->deadline = sf->now + timeout_ms * US_PER_MS;
	o->want_acks = p->request_ack;
	o->next = sf->qouts;
	sf->qouts = o;
	if (qid != NULL)
		*qid = o->qid;
	if ((rc = sfq_push(sf, &sf->query_q, sf->scratch.p, sf->scratch.len,
	    0)) != 0)
		goto out;
	/* Processed here too: we may match our own filters. */
	sfr_handle(sf, &m.u.query);
out:
	free(f);
	gw_buf_free(&fbuf);
	sf->busy = false;
	return rc;
}

int
serf_query_close(struct serf *sf, uint64_t qid)
{
	struct qout **pp;

	if (sf->busy)
		return -LE_STATE;
	for (pp = &sf->qouts; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->qid == qid) {
			struct qout *o = *pp;

			*pp = o->next;
			qout_free(o);
			return 0;
		}
	}
	return -LE_NOTFOUND;
}

/* ---- timers ---- */

void
sfr_tick(struct serf *sf)
{
	struct qout **po = &sf->qouts;
	struct qin **pi = &sf->qins;

	while (*po != NULL) {
		struct qout *o = *po;

		if (sf->now < o->deadline) {
			po = &o->next;
			continue;
		}
		*po = o->next;
		if (sf->ops.query_done != NULL)
			sf->ops.query_done(sf->arg, o->qid);
		qout_free(o);
	}
	while (*pi != NULL) {
		struct qin *in = *pi;

		if (sf->now <= in->deadline) {
			pi = &in->next;
			continue;
		}
		*pi = in->next;
		free(in->source);
		free(in);
		sf->n_qins--;
	}
}

uint64_t
sfr_next(const struct serf *sf)
{
	uint64_t t = UINT64_MAX;

	for (const struct qout *o = sf->qouts; o != NULL; o = o->next)
		if (o->deadline < t)
			t = o->deadline;
	for (const struct qin *in = sf->qins; in != NULL; in = in->next)
		if (in->deadline + 1 < t)
			t = in->deadline + 1;
	return t;
}

void
sfr_free_all(struct serf *sf)
{
	while (sf->qouts != NULL) {
		struct qout *o = sf->qouts;

		sf->qouts = o->next;
		qout_free(o);
	}
	while (sf->qins != NULL) {
		struct qin *in = sf->qins;

		sf->qins = in->next;
		free(in->source);
		free(in);
	}
	if (sf->qring != NULL) {
		for (unsigned i = 0; i < sf->cfg.query_buffer; i++)
			free(sf->qring[i].ids);
		free(sf->qring);
		sf->qring = NULL;
	}
}
