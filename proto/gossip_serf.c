/* gossip_serf.c: Serf's messages (§10) in go-msgpack's dialect: intents,
 * user events, queries and their responses, relays, filters, the push/pull
 * user state with its walkers, the conflict answer and node tags. See the
 * "Serf messages" section of gossip_wire.h; the msgpack subset is
 * gossip_mp.h's. Field tables list keys in byte-wise sorted order, which
 * is how go-msgpack writes Go structs. */
#include "gossip_wire.h"
#include "gossip_mp.h"

#include <string.h>

#include "err.h"

#define OFF(t, m) ((uint16_t)offsetof(struct t, m))
#define NF(a) ((unsigned)(sizeof(a) / sizeof((a)[0])))

static int
set_why(const char **why, const char *text, int rc)
{
	if (why)
		*why = text;
	return rc;
}

/* --- simple messages ----------------------------------------------------- */

static const struct gm_field leave_f[] = {
	{ "LTime", GM_U64, 0, OFF(gs_leave, ltime), 0 },
	{ "Node", GM_STR, 0, OFF(gs_leave, node), GW_NAME_MAX },
	{ "Prune", GM_BOOL, 0, OFF(gs_leave, prune), 0 },
};

static const struct gm_field join_f[] = {
	{ "LTime", GM_U64, 0, OFF(gs_join, ltime), 0 },
	{ "Node", GM_STR, 0, OFF(gs_join, node), GW_NAME_MAX },
};

static const struct gm_field event_f[] = {
	{ "CC", GM_BOOL, 0, OFF(gs_user_event, cc), 0 },
	{ "LTime", GM_U64, 0, OFF(gs_user_event, ltime), 0 },
	{ "Name", GM_STR, 0, OFF(gs_user_event, name), GS_EVENT_MAX },
	{ "Payload", GM_BYTES, 0, OFF(gs_user_event, payload), GS_EVENT_MAX },
};

static const struct gm_field resp_f[] = {
	{ "Flags", GM_U32, 0, OFF(gs_query_response, flags), 0 },
	{ "From", GM_STR, 0, OFF(gs_query_response, from), GW_NAME_MAX },
	{ "ID", GM_U32, 0, OFF(gs_query_response, id), 0 },
	{ "LTime", GM_U64, 0, OFF(gs_query_response, ltime), 0 },
	{ "Payload", GM_BYTES, 0, OFF(gs_query_response, payload), GW_UDP_MAX },
};

/* --- query --------------------------------------------------------------- */

/* Filters: [][]byte, nil or an array of byte strings. */
static int
filters_enc(struct gm_w *w, const void *s)
{
	const struct gs_query *q = s;

	if (q->n_filters > GS_FILTER_MAX)
		return -LE_INVAL;
	if (q->n_filters == 0) {
		/* Go's nil slice: no filters given. */
		gm_nil(w);
		return 0;
	}
	gm_array(w, q->n_filters);
	for (unsigned i = 0; i < q->n_filters; i++) {
		if (q->filters[i].p == NULL || q->filters[i].len == 0)
			return -LE_INVAL;
		gm_bytes(w, q->filters[i]);
	}
	return 0;
}

static int
filters_dec(struct gm_r *r, void *s)
{
	struct gs_query *q = s;
	uint32_t n;
	bool nil;
	int rc;

	if ((rc = gm_read_array(r, &n, &nil)) < 0)
		return rc;
	if (n > GS_FILTER_MAX)
		return gm_fail(r, -LE_TOOBIG, "too many query filters");
	for (uint32_t i = 0; i < n; i++)
		if ((rc = gm_read_bytes(r, GW_UDP_MAX, &q->filters[i])) < 0)
			return rc;
	q->n_filters = n;
	return 0;
}

static const struct gm_field query_f[] = {
	{ "Addr", GM_BYTES, GM_ADDR, OFF(gs_query, addr), 16 },
	{ "Filters", GM_CUSTOM, 0, 0, 0, filters_enc, filters_dec },
	{ "Flags", GM_U32, 0, OFF(gs_query, flags), 0 },
	{ "ID", GM_U32, 0, OFF(gs_query, id), 0 },
	{ "LTime", GM_U64, 0, OFF(gs_query, ltime), 0 },
	{ "Name", GM_STR, 0, OFF(gs_query, name), GW_UDP_MAX },
	{ "Payload", GM_BYTES, 0, OFF(gs_query, payload), GW_UDP_MAX },
	{ "Port", GM_U16, 0, OFF(gs_query, port), 0 },
	{ "RelayFactor", GM_U8, 0, OFF(gs_query, relay_factor), 0 },
	{ "SourceNode", GM_STR, 0, OFF(gs_query, source_node), GW_NAME_MAX },
	{ "Timeout", GM_INT, 0, OFF(gs_query, timeout_ns), 0 },
};

/* --- relay --------------------------------------------------------------- */

/* net.UDPAddr: {IP net.IP, Port int, Zone string}. */
struct udp_addr {
	struct gw_bytes ip;
	int64_t port;
	struct gw_bytes zone;
};
static const struct gm_field udp_addr_f[] = {
	{ "IP", GM_BYTES, GM_ADDR, OFF(udp_addr, ip), 16 },
	{ "Port", GM_INT, 0, OFF(udp_addr, port), 0 },
	{ "Zone", GM_STR, 0, OFF(udp_addr, zone), 255 },
};

static int
dest_enc(struct gm_w *w, const void *s)
{
	const struct gs_relay *rl = s;
	struct udp_addr a = { rl->dest_ip, rl->dest_port, rl->dest_zone };

	return gm_write_struct(w, udp_addr_f, NF(udp_addr_f), &a);
}

static int
dest_dec(struct gm_r *r, void *s)
{
	struct gs_relay *rl = s;
	struct udp_addr a;
	int rc;

	memset(&a, 0, sizeof(a));
	if ((rc = gm_read_struct(r, udp_addr_f, NF(udp_addr_f), &a)) < 0)
		return rc;
	if (a.port < 0 || a.port > UINT16_MAX)
		return gm_fail(r, -LE_MALFORMED, "relay port out of range");
	rl->dest_ip = a.ip;
	rl->dest_port = (uint16_t)a.port;
	rl->dest_zone = a.zone;
	return 0;
}

static const struct gm_field relay_f[] = {
	{ "DestAddr", GM_CUSTOM, 0, 0, 0, dest_enc, dest_dec },
	{ "DestName", GM_STR, 0, OFF(gs_relay, dest_name), GW_NAME_MAX },
};

/* --- push/pull ------------------------------------------------------------ */

static const struct gm_field one_event_f[] = {
	{ "Name", GM_STR, 0, OFF(gs_event, name), GS_EVENT_MAX },
	{ "Payload", GM_BYTES, 0, OFF(gs_event, payload), GS_EVENT_MAX },
};

/* One ring slot {Events: [...], LTime}; nil handled by the caller. Checks
 * every event when check is set, else only finds the array. */
static int
slot_read(struct gm_r *r, struct gs_user_events *evs, bool check)
{
	uint32_t cnt, n = 0;
	bool nil, seen_events = false;
	int rc;

	memset(evs, 0, sizeof(*evs));
	if ((rc = gm_read_map(r, &cnt)) < 0)
		return rc;
	for (uint32_t k = 0; k < cnt; k++) {
		struct gw_bytes key;

		if ((rc = gm_read_str(r, SIZE_MAX, &key)) < 0)
			return gm_fail(r, rc, "bad map key");
		if (gm_key_eq(key, "LTime")) {
			if ((rc = gm_read_uint(r, UINT64_MAX, &evs->ltime)) < 0)
				return rc;
		} else if (gm_key_eq(key, "Events")) {
			const uint8_t *at;

			if ((rc = gm_read_array(r, &n, &nil)) < 0)
				return rc;
			at = r->p;
			for (uint32_t i = 0; i < n; i++) {
				struct gs_event ev;

				memset(&ev, 0, sizeof(ev));
				rc = check ? gm_read_struct(r, one_event_f,
				    NF(one_event_f), &ev) : gm_skip(r);
				if (rc < 0)
					return rc;
			}
			evs->at = at;
			evs->end = r->p;
			evs->n = n;
			seen_events = true;
		} else if ((rc = gm_skip(r)) < 0) {
			return rc;
		}
	}
	if (!seen_events)
		evs->n = 0;
	return 0;
}

static int
pp_decode(struct gm_r *r, struct gs_push_pull *pp)
{
	uint32_t cnt, n;
	bool nil;
	int rc;

	if ((rc = gm_read_map(r, &cnt)) < 0)
		return rc;
	for (uint32_t k = 0; k < cnt; k++) {
		struct gw_bytes key;

		if ((rc = gm_read_str(r, SIZE_MAX, &key)) < 0)
			return gm_fail(r, rc, "bad map key");
		if (gm_key_eq(key, "LTime")) {
			rc = gm_read_uint(r, UINT64_MAX, &pp->ltime);
		} else if (gm_key_eq(key, "EventLTime")) {
			rc = gm_read_uint(r, UINT64_MAX, &pp->event_ltime);
		} else if (gm_key_eq(key, "QueryLTime")) {
			rc = gm_read_uint(r, UINT64_MAX, &pp->query_ltime);
		} else if (gm_key_eq(key, "LeftMembers")) {
			if ((rc = gm_read_array(r, &n, &nil)) < 0)
				return rc;
			pp->left_at = r->p;
			pp->n_left = n;
			for (uint32_t i = 0; i < n && rc == 0; i++) {
				struct gw_bytes s;

				rc = gm_read_str(r, GW_NAME_MAX, &s);
			}
		} else if (gm_key_eq(key, "StatusLTimes")) {
			if (gm_is_nil(r)) {
				r->p++;
				n = 0;
			} else if ((rc = gm_read_map(r, &n)) < 0) {
				return rc;
			}
			if (n > GW_PUSH_NODES_MAX)
				return gm_fail(r, -LE_TOOBIG,
				    "too many status times");
			pp->status_at = r->p;
			pp->n_status = n;
			for (uint32_t i = 0; i < n && rc == 0; i++) {
				struct gw_bytes s;
				uint64_t v;

				if ((rc = gm_read_str(r, GW_NAME_MAX, &s)) == 0)
					rc = gm_read_uint(r, UINT64_MAX, &v);
			}
		} else if (gm_key_eq(key, "Events")) {
			if ((rc = gm_read_array(r, &n, &nil)) < 0)
				return rc;
			pp->events_at = r->p;
			pp->n_events = n;
			for (uint32_t i = 0; i < n && rc == 0; i++) {
				struct gs_user_events evs;

				if (gm_is_nil(r))
					r->p++;
				else
					rc = slot_read(r, &evs, true);
			}
		} else {
			rc = gm_skip(r);
		}
		if (rc < 0)
			return rc;
	}
	pp->end = r->p;
	return 0;
}

int
gs_push_next_left(struct gs_push_pull *pp, unsigned *i, struct gw_bytes *name,
    const char **why)
{
	struct gm_r r;
	int rc;

	if (*i >= pp->n_left)
		return 0;
	gm_r_init(&r, pp->left_at, (size_t)(pp->end - pp->left_at));
	if ((rc = gm_read_str(&r, GW_NAME_MAX, name)) < 0)
		return set_why(why, r.why, rc);
	pp->left_at = r.p;
	(*i)++;
	return 1;
}

int
gs_push_next_status(struct gs_push_pull *pp, unsigned *i,
    struct gs_status_ltime *st, const char **why)
{
	struct gm_r r;
	int rc;

	if (*i >= pp->n_status)
		return 0;
	gm_r_init(&r, pp->status_at, (size_t)(pp->end - pp->status_at));
	if ((rc = gm_read_str(&r, GW_NAME_MAX, &st->name)) < 0 ||
	    (rc = gm_read_uint(&r, UINT64_MAX, &st->ltime)) < 0)
		return set_why(why, r.why, rc);
	pp->status_at = r.p;
	(*i)++;
	return 1;
}

int
gs_push_next_events(struct gs_push_pull *pp, unsigned *i,
    struct gs_user_events *evs, const char **why)
{
	struct gm_r r;
	int rc;

	gm_r_init(&r, pp->events_at, (size_t)(pp->end - pp->events_at));
	while (*i < pp->n_events && gm_is_nil(&r)) {
		r.p++;
		(*i)++;
	}
	pp->events_at = r.p;
	if (*i >= pp->n_events)
		return 0;
	if ((rc = slot_read(&r, evs, false)) < 0)
		return set_why(why, r.why, rc);
	pp->events_at = r.p;
	(*i)++;
	return 1;
}

int
gs_slot_next_event(struct gs_user_events *evs, struct gs_event *ev,
    const char **why)
{
	struct gm_r r;
	int rc;

	if (evs->n == 0 || evs->at == NULL)
		return 0;
	memset(ev, 0, sizeof(*ev));
	gm_r_init(&r, evs->at, (size_t)(evs->end - evs->at));
	if ((rc = gm_read_struct(&r, one_event_f, NF(one_event_f), ev)) < 0)
		return set_why(why, r.why, rc);
	evs->at = r.p;
	evs->n--;
	return 1;
}

int
gs_push_encode(struct gw_buf *out, uint64_t ltime, uint64_t event_ltime,
    uint64_t query_ltime, const struct gs_status_ltime *status,
    unsigned n_status, const struct gw_bytes *left, unsigned n_left,
    const struct gs_user_events *events, unsigned n_events)
{
	struct gm_w w;

	gm_w_init(&w, out);
	gm_byte(&w, GS_PUSH_PULL);
	gm_map(&w, 6);
	gm_cstr(&w, "EventLTime");
	gm_uint(&w, event_ltime);
	gm_cstr(&w, "Events");
	gm_array(&w, n_events);
	for (unsigned i = 0; i < n_events && w.err == 0; i++) {
		const struct gs_user_events *e = &events[i];

		if (e->n == 0) {
			gm_nil(&w);
			continue;
		}
		gm_map(&w, 2);
		gm_cstr(&w, "Events");
		gm_array(&w, e->n);
		for (unsigned k = 0; k < e->n && w.err == 0; k++) {
			if (e->ev[k].name.len > GS_EVENT_MAX ||
			    e->ev[k].payload.len > GS_EVENT_MAX)
				w.err = -LE_INVAL;
			gm_write_struct(&w, one_event_f, NF(one_event_f),
			    &e->ev[k]);
		}
		gm_cstr(&w, "LTime");
		gm_uint(&w, e->ltime);
	}
	gm_cstr(&w, "LTime");
	gm_uint(&w, ltime);
	gm_cstr(&w, "LeftMembers");
	gm_array(&w, n_left);
	for (unsigned i = 0; i < n_left && w.err == 0; i++) {
		if (left[i].len > GW_NAME_MAX)
			w.err = -LE_INVAL;
		gm_str(&w, left[i]);
	}
	gm_cstr(&w, "QueryLTime");
	gm_uint(&w, query_ltime);
	gm_cstr(&w, "StatusLTimes");
	gm_map(&w, n_status);
	for (unsigned i = 0; i < n_status && w.err == 0; i++) {
		if (status[i].name.len > GW_NAME_MAX)
			w.err = -LE_INVAL;
		gm_str(&w, status[i].name);
		gm_uint(&w, status[i].ltime);
	}
	return gm_w_end(&w);
}

/* --- conflict answer ------------------------------------------------------ */

int
gs_conflict_encode(struct gw_buf *out, const struct gs_member *m)
{
	static const char *const vsn_keys[GW_VSN_LEN] = { "ProtocolMin",
	    "ProtocolMax", "ProtocolCur", "DelegateMin", "DelegateMax",
	    "DelegateCur" };
	struct gm_w w;

	gm_w_init(&w, out);
	gm_byte(&w, GS_CONFLICT_RESPONSE);
	if (m == NULL) {
		gm_nil(&w);
		return gm_w_end(&w);
	}
	if (m->name.len > GW_NAME_MAX ||
	    (m->addr.len != 4 && m->addr.len != 16))
		return -LE_INVAL;
	gm_map(&w, 11);
	gm_cstr(&w, "Addr");
	gm_bytes(&w, m->addr);
	/* Sorted: Delegate{Cur,Max,Min}, Name, Port, Protocol{Cur,Max,Min},
	 * Status, Tags. */
	for (int k = GW_VSN_DCUR; k >= GW_VSN_DMIN; k--) {
		gm_cstr(&w, vsn_keys[k]);
		gm_uint(&w, m->vsn[k]);
	}
	gm_cstr(&w, "Name");
	gm_str(&w, m->name);
	gm_cstr(&w, "Port");
	gm_uint(&w, m->port);
	for (int k = GW_VSN_PCUR; k >= GW_VSN_PMIN; k--) {
		gm_cstr(&w, vsn_keys[k]);
		gm_uint(&w, m->vsn[k]);
	}
	gm_cstr(&w, "Status");
	gm_int(&w, m->status);
	gm_cstr(&w, "Tags");
	gm_map(&w, m->n_tags);
	for (unsigned i = 0; i < m->n_tags; i++) {
		gm_str(&w, m->tag_keys[i]);
		gm_str(&w, m->tag_vals[i]);
	}
	return gm_w_end(&w);
}

/* --- whole messages ------------------------------------------------------- */

static const struct gm_field *
serf_fields(enum gw_serf_type t, unsigned *n)
{
	switch (t) {
	case GS_LEAVE: *n = NF(leave_f); return leave_f;
	case GS_JOIN: *n = NF(join_f); return join_f;
	case GS_USER_EVENT: *n = NF(event_f); return event_f;
	case GS_QUERY: *n = NF(query_f); return query_f;
	case GS_QUERY_RESPONSE: *n = NF(resp_f); return resp_f;
	case GS_RELAY: *n = NF(relay_f); return relay_f;
	default: *n = 0; return NULL;
	}
}

int
gs_decode(const uint8_t *buf, size_t len, struct gs_msg *m, const char **why)
{
	const struct gm_field *f;
	struct gm_r r;
	unsigned n;
	int rc;

	memset(m, 0, sizeof(*m));
	if (why)
		*why = NULL;
	if (buf == NULL || len == 0)
		return set_why(why, "empty Serf message", -LE_MALFORMED);
	m->type = (enum gw_serf_type)buf[0];
	gm_r_init(&r, buf + 1, len - 1);
	switch (buf[0]) {
	case GS_CONFLICT_RESPONSE:
	case GS_KEY_REQUEST:
	case GS_KEY_RESPONSE:
		m->u.raw.p = buf + 1;
		m->u.raw.len = len - 1;
		return 0;
	case GS_PUSH_PULL:
		if ((rc = pp_decode(&r, &m->u.pp)) < 0)
			return set_why(why, r.why, rc);
		break;
	default:
		if ((f = serf_fields(m->type, &n)) == NULL)
			return set_why(why, "unknown Serf message type",
			    -LE_MALFORMED);
		if ((rc = gm_read_struct(&r, f, n, &m->u)) < 0)
			return set_why(why, r.why, rc);
		if (m->type == GS_RELAY) {
			/* The rest is the message to forward. */
			if (gm_left(&r) == 0)
				return set_why(why, "relay without a message",
				    -LE_MALFORMED);
			m->u.relay.inner.p = r.p;
			m->u.relay.inner.len = gm_left(&r);
			if (m->u.relay.dest_ip.len == 0)
				return set_why(why, "relay without an address",
				    -LE_MALFORMED);
			return 0;
		}
		break;
	}
	if (gm_left(&r) != 0)
		return set_why(why, "trailing bytes after Serf message",
		    -LE_MALFORMED);
	return 0;
}

int
gs_encode(struct gw_buf *out, const struct gs_msg *m)
{
	const struct gm_field *f;
	struct gm_w w;
	unsigned n;

	gm_w_init(&w, out);
	switch (m->type) {
	case GS_CONFLICT_RESPONSE:
	case GS_KEY_REQUEST:
	case GS_KEY_RESPONSE:
		gm_byte(&w, (uint8_t)m->type);
		if (m->u.raw.p)
			gm_raw(&w, m->u.raw.p, m->u.raw.len);
		return gm_w_end(&w);
	case GS_PUSH_PULL:
		/* Built from arrays with gs_push_encode. */
		return -LE_INVAL;
	default:
		break;
	}
	if ((f = serf_fields(m->type, &n)) == NULL)
		return -LE_INVAL;
	if (m->type == GS_RELAY && (m->u.relay.inner.p == NULL ||
	    m->u.relay.inner.len == 0))
		return -LE_INVAL;
	gm_byte(&w, (uint8_t)m->type);
	gm_write_struct(&w, f, n, &m->u);
	if (m->type == GS_RELAY && w.err == 0)
		gm_raw(&w, m->u.relay.inner.p, m->u.relay.inner.len);
	return gm_w_end(&w);
}

/* --- filters -------------------------------------------------------------- */

static const struct gm_field tag_filter_f[] = {
	{ "Expr", GM_STR, 0, OFF(gs_filter, expr), GW_UDP_MAX },
	{ "Tag", GM_STR, 0, OFF(gs_filter, tag), GW_UDP_MAX },
};

int
gs_filter_decode(struct gw_bytes f, struct gs_filter *out, const char **why)
{
	struct gm_r r;
	uint32_t n;
	bool nil;
	int rc;

	memset(out, 0, sizeof(*out));
	if (why)
		*why = NULL;
	if (f.p == NULL || f.len == 0)
		return set_why(why, "empty filter", -LE_MALFORMED);
	gm_r_init(&r, f.p + 1, f.len - 1);
	out->type = f.p[0];
	switch (f.p[0]) {
	case GS_FILTER_NODE:
		if ((rc = gm_read_array(&r, &n, &nil)) < 0)
			return set_why(why, r.why, rc);
		if (n > GS_FILTER_NODES_MAX)
			return set_why(why, "node filter too long", -LE_TOOBIG);
		for (uint32_t i = 0; i < n; i++)
			if ((rc = gm_read_str(&r, GW_NAME_MAX,
			    &out->nodes[i])) < 0)
				return set_why(why, r.why, rc);
		out->n_nodes = n;
		break;
	case GS_FILTER_TAG:
		if ((rc = gm_read_struct(&r, tag_filter_f, NF(tag_filter_f),
		    out)) < 0)
			return set_why(why, r.why, rc);
		break;
	default:
		return set_why(why, "unknown filter type", -LE_UNSUPPORTED);
	}
	if (gm_left(&r) != 0)
		return set_why(why, "trailing bytes after filter",
		    -LE_MALFORMED);
	return 0;
}

int
gs_filter_encode(struct gw_buf *out, const struct gs_filter *f)
{
	struct gm_w w;

	gm_w_init(&w, out);
	switch (f->type) {
	case GS_FILTER_NODE:
		if (f->n_nodes > GS_FILTER_NODES_MAX)
			return -LE_INVAL;
		gm_byte(&w, GS_FILTER_NODE);
		gm_array(&w, f->n_nodes);
		for (unsigned i = 0; i < f->n_nodes; i++)
			gm_str(&w, f->nodes[i]);
		break;
	case GS_FILTER_TAG:
		gm_byte(&w, GS_FILTER_TAG);
		gm_write_struct(&w, tag_filter_f, NF(tag_filter_f), f);
		break;
	default:
		return -LE_INVAL;
	}
	return gm_w_end(&w);
}

/* --- key rotation -------------------------------------------------------- */

struct key_req {
	struct gw_bytes key;
};
static const struct gm_field key_req_f[] = {
	{ "Key", GM_BYTES, 0, OFF(key_req, key), 64 },
};

int
gs_key_request_encode(struct gw_buf *out, struct gw_bytes key)
{
	struct key_req k = { key };
	struct gm_w w;

	if (key.len > 64)
		return -LE_INVAL;
	gm_w_init(&w, out);
	gm_byte(&w, GS_KEY_REQUEST);
	gm_write_struct(&w, key_req_f, NF(key_req_f), &k);
	return gm_w_end(&w);
}

int
gs_key_request_decode(struct gw_bytes payload, struct gw_bytes *key,
    const char **why)
{
	struct key_req k = { { NULL, 0 } };
	struct gm_r r;
	int rc;

	if (why)
		*why = NULL;
	if (payload.p == NULL || payload.len == 0 ||
	    payload.p[0] != GS_KEY_REQUEST)
		return set_why(why, "not a key request", -LE_MALFORMED);
	gm_r_init(&r, payload.p + 1, payload.len - 1);
	if ((rc = gm_read_struct(&r, key_req_f, NF(key_req_f), &k)) < 0)
		return set_why(why, r.why, rc);
	if (gm_left(&r) != 0)
		return set_why(why, "trailing bytes after key request",
		    -LE_MALFORMED);
	*key = k.key;
	return 0;
}

static int
keys_enc(struct gm_w *w, const void *s)
{
	const struct gs_key_response *r = s;

	if (r->n_keys > GS_KEYS_MAX)
		return -LE_INVAL;
	if (r->n_keys == 0 && r->keys_nil) {
		gm_nil(w);
		return 0;
	}
	gm_array(w, r->n_keys);
	for (unsigned i = 0; i < r->n_keys; i++)
		gm_str(w, r->keys[i]);
	return 0;
}

static int
keys_dec(struct gm_r *r, void *s)
{
	struct gs_key_response *kr = s;
	uint32_t n;
	bool nil;
	int rc;

	if ((rc = gm_read_array(r, &n, &nil)) < 0)
		return rc;
	if (n > GS_KEYS_MAX)
		return gm_fail(r, -LE_TOOBIG, "too many keys");
	for (uint32_t i = 0; i < n; i++)
		if ((rc = gm_read_str(r, 256, &kr->keys[i])) < 0)
			return rc;
	kr->n_keys = n;
	kr->keys_nil = nil;
	return 0;
}

static const struct gm_field key_resp_f[] = {
	{ "Keys", GM_CUSTOM, 0, 0, 0, keys_enc, keys_dec },
	{ "Message", GM_STR, 0, OFF(gs_key_response, message), GW_UDP_MAX },
	{ "PrimaryKey", GM_STR, 0, OFF(gs_key_response, primary), 256 },
	{ "Result", GM_BOOL, 0, OFF(gs_key_response, result), 0 },
};

int
gs_key_response_encode(struct gw_buf *out, const struct gs_key_response *r)
{
	struct gm_w w;

	gm_w_init(&w, out);
	gm_byte(&w, GS_KEY_RESPONSE);
	gm_write_struct(&w, key_resp_f, NF(key_resp_f), r);
	return gm_w_end(&w);
}

int
gs_key_response_decode(struct gw_bytes payload, struct gs_key_response *r,
    const char **why)
{
	struct gm_r rd;
	int rc;

	memset(r, 0, sizeof(*r));
	r->keys_nil = true;
	if (why)
		*why = NULL;
	if (payload.p == NULL || payload.len == 0 ||
	    payload.p[0] != GS_KEY_RESPONSE)
		return set_why(why, "not a key response", -LE_MALFORMED);
	gm_r_init(&rd, payload.p + 1, payload.len - 1);
	if ((rc = gm_read_struct(&rd, key_resp_f, NF(key_resp_f), r)) < 0)
		return set_why(why, rd.why, rc);
	if (gm_left(&rd) != 0)
		return set_why(why, "trailing bytes after key response",
		    -LE_MALFORMED);
	return 0;
}

/* --- tags (§10.2) -------------------------------------------------------- */

#define TAG_MAGIC 0xFF

int
gs_tags_encode(struct gw_buf *out, const struct gw_bytes *keys,
    const struct gw_bytes *vals, unsigned n)
{
	struct gm_w w;

	gm_w_init(&w, out);
	gm_byte(&w, TAG_MAGIC);
	gm_map(&w, n);
	for (unsigned i = 0; i < n; i++) {
		gm_str(&w, keys[i]);
		gm_str(&w, vals[i]);
	}
	return gm_w_end(&w);
}

int
gs_tags_decode(struct gw_bytes meta,
    int (*each)(void *arg, struct gw_bytes key, struct gw_bytes val),
    void *arg, const char **why)
{
	struct gm_r r;
	uint32_t n;
	int rc;

	if (why)
		*why = NULL;
	/* Serf protocol < 3 (or no magic byte): the whole meta is the
	 * role, even when empty, as Serf's decodeTags has it. */
	if (meta.p == NULL || meta.len == 0 || meta.p[0] != TAG_MAGIC) {
		static const uint8_t role[] = "role";
		struct gw_bytes k = { role, 4 };
		struct gw_bytes v = { meta.p ? meta.p : role, meta.p ?
		    meta.len : 0 };

		return each(arg, k, v);
	}
	gm_r_init(&r, meta.p + 1, meta.len - 1);
	if ((rc = gm_read_map(&r, &n)) < 0)
		return set_why(why, r.why, rc);
	for (uint32_t i = 0; i < n; i++) {
		struct gw_bytes k, v;

		if ((rc = gm_read_bytes(&r, GW_META_MAX, &k)) < 0 ||
		    (rc = gm_read_bytes(&r, GW_META_MAX, &v)) < 0)
			return set_why(why, r.why, rc);
		if (k.p == NULL)
			k.p = meta.p;	/* nil key: "" */
		if (v.p == NULL)
			v.p = meta.p;
		if ((rc = each(arg, k, v)) != 0)
			return rc;
	}
	if (gm_left(&r) != 0)
		return set_why(why, "trailing bytes after tags",
		    -LE_MALFORMED);
	return 0;
}
