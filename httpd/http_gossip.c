/* http_gossip.c: what gossipd knows: GET /v1/agent/members, PUT
 * /v1/agent/join/<addr>, PUT /v1/agent/force-leave/<node>, PUT
 * /v1/agent/leave (a server leaves Raft first, through raftd), PUT
 * /v1/event/fire/<name> and GET /v1/event/list, in Consul's JSON. */
#include "httpd.h"
#include "gossip_ipc.h"
#include "log.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOSSIP_RPC_TIMEOUT_MS 10000
/* A leave waits for Serf's broadcast timeouts and propagation delay. */
#define GOSSIP_LEAVE_TIMEOUT_MS 20000

static bool
query_bool(struct hreq *hr, const char *name)
{
	const char *v = hquery_get(&hr->q, name);

	return v != NULL && strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
}

/* ---- /v1/agent/members ---- */

static void
member_json(struct sbuf *b, const struct msg_gossip_member *m)
{
	sbuf_adds(b, "{\"Name\":");
	sbuf_json_str(b, m->name, m->name_len);
	sbuf_adds(b, ",\"Addr\":");
	sbuf_json_str(b, m->addr, m->addr_len);
	sbuf_printf(b, ",\"Port\":%u,\"Tags\":{", m->port);
	for (uint32_t i = 0; i < m->n_tags; i++) {
		const char *k, *v;
		size_t kl, vl;

		msg_gossip_member_tag(m, i, &k, &kl, &v, &vl);
		if (i > 0)
			sbuf_addc(b, ',');
		sbuf_json_str(b, k, kl);
		sbuf_addc(b, ':');
		sbuf_json_str(b, v, vl);
	}
	sbuf_printf(b, "},\"Status\":%u,\"ProtocolMin\":%u,\"ProtocolMax\":%u,"
	    "\"ProtocolCur\":%u,\"DelegateMin\":%u,\"DelegateMax\":%u,"
	    "\"DelegateCur\":%u}", m->status, m->vsn[0], m->vsn[1], m->vsn[2],
	    m->vsn[3], m->vsn[4], m->vsn[5]);
}

static void
on_members(void *arg, int rv, struct proto_msg *m)
{
	struct hreq *hr = arg;
	struct msg_gossip_members_reply rep;
	struct msg_gossip_member mb;
	struct lerr e;
	struct sbuf b;

	if (rv != 0) {
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if (m->type == (MSG_ERROR | PROTO_REPLY)) {
		/* A client asked for the WAN pool: Consul lists none. */
		sbuf_init(&b);
		sbuf_adds(&b, "[]");
		hreq_json(hr, 200, &b);
		sbuf_free(&b);
		return;
	}
	if (m->type != (MSG_GOSSIP_MEMBERS | PROTO_REPLY) ||
	    msg_gossip_members_reply_dec(m, &rep, &e) != 0) {
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	sbuf_init(&b);
	sbuf_addc(&b, '[');
	for (uint32_t i = 0; i < rep.n_members; i++) {
		if (msg_gossip_member_dec(&rep.members[i], &mb) != 0) {
			sbuf_free(&b);
			hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
			return;
		}
		if (i > 0)
			sbuf_addc(&b, ',');
		member_json(&b, &mb);
	}
	sbuf_addc(&b, ']');
	hreq_json(hr, 200, &b);
	sbuf_free(&b);
}

void
http_agent_members(struct hreq *hr)
{
	struct msg_gossip_members q = { query_bool(hr, "wan"), 0, 0 };
	const char *seg = hquery_get(&hr->q, "segment");
	struct ipc_call *call;

	if (seg != NULL && *seg != '\0' && strcmp(seg, "_all") != 0) {
		/* Network segments are Enterprise; the default one is "". */
		hreq_error(hr, 400, "Network segments are not supported");
		return;
	}
	hr->peer = "gossipd";
	call = ipc_call_new(hr->h->gossip, MSG_GOSSIP_MEMBERS);
	msg_gossip_members_enc(ipc_call_writer(call), &q);
	ipc_call_send_loop(call, GOSSIP_RPC_TIMEOUT_MS, hr->h->loop,
	    on_members, hr);
}

/* ---- join, force-leave, leave ---- */

static void
on_simple(void *arg, int rv, struct proto_msg *m)
{
	struct hreq *hr = arg;
	struct msg_gossip_reply rep;
	struct msg_admin_reply err;
	struct lerr e;

	if (rv != 0) {
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if (m->type == (MSG_ERROR | PROTO_REPLY) &&
	    msg_admin_reply_dec(m, &err, &e) == 0) {
		hreq_error(hr, 500, "%.*s", (int)err.text_len, err.text);
		return;
	}
	if ((m->type & PROTO_REPLY) == 0 ||
	    msg_gossip_reply_dec(m, &rep, &e) != 0) {
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	if (rep.code != 0) {
		hreq_error(hr, rep.code >= 400 && rep.code < 600 ?
		    (uint16_t)rep.code : 500, "%.*s", (int)rep.text_len,
		    rep.text);
		return;
	}
	hreq_finish(hr, 200, NULL, NULL, 0);
}

void
http_agent_join(struct hreq *hr, const char *addr)
{
	struct msg_gossip_join q = { 0 };
	struct ipc_call *call;

	if (*addr == '\0') {
		hreq_error(hr, 400, "Missing address to join");
		return;
	}
	q.wan = query_bool(hr, "wan");
	q.n_addrs = 1;
	q.addrs[0] = addr;
	q.addr_lens[0] = strlen(addr);
	hr->peer = "gossipd";
	call = ipc_call_new(hr->h->gossip, MSG_GOSSIP_JOIN);
	msg_gossip_join_enc(ipc_call_writer(call), &q);
	ipc_call_send_loop(call, GOSSIP_RPC_TIMEOUT_MS * 3, hr->h->loop,
	    on_simple, hr);
}

void
http_agent_force_leave(struct hreq *hr, const char *node)
{
	struct msg_gossip_force_leave q = { 0 };
	struct ipc_call *call;

	if (*node == '\0') {
		hreq_error(hr, 400, "Missing node name");
		return;
	}
	q.node = node;
	q.node_len = strlen(node);
	q.prune = query_bool(hr, "prune");
	q.wan = query_bool(hr, "wan");
	hr->peer = "gossipd";
	call = ipc_call_new(hr->h->gossip, MSG_GOSSIP_FORCE_LEAVE);
	msg_gossip_force_leave_enc(ipc_call_writer(call), &q);
	ipc_call_send_loop(call, GOSSIP_RPC_TIMEOUT_MS, hr->h->loop, on_simple,
	    hr);
}

static void
gossip_leave(struct hreq *hr)
{
	struct ipc_call *call;
	struct mpw *w;

	hr->peer = "gossipd";
	call = ipc_call_new(hr->h->gossip, MSG_GOSSIP_LEAVE);
	w = ipc_call_writer(call);
	mpw_array(w, 0);
	ipc_call_send_loop(call, GOSSIP_LEAVE_TIMEOUT_MS, hr->h->loop,
	    on_simple, hr);
}

/* The gossip half of PUT /v1/agent/leave (after raftd's, on a server);
 * gossipd answers once Serf's leave has spread, then stops the agent. */
void
http_agent_leave_gossip(struct hreq *hr)
{
	gossip_leave(hr);
}

/* ---- /v1/event/fire, /v1/event/list ---- */

static void
event_json(struct sbuf *b, const struct msg_gossip_event *ev)
{
	sbuf_adds(b, "{\"ID\":");
	sbuf_json_str(b, ev->id, ev->id_len);
	sbuf_adds(b, ",\"Name\":");
	sbuf_json_str(b, ev->name, ev->name_len);
	sbuf_adds(b, ",\"Payload\":");
	if (ev->payload == NULL || ev->payload_len == 0) {
		sbuf_adds(b, "null");
	} else {
		sbuf_addc(b, '"');
		sbuf_base64(b, ev->payload, ev->payload_len);
		sbuf_addc(b, '"');
	}
	sbuf_adds(b, ",\"NodeFilter\":");
	sbuf_json_str(b, ev->node_filter, ev->node_filter_len);
	sbuf_adds(b, ",\"ServiceFilter\":");
	sbuf_json_str(b, ev->service_filter, ev->service_filter_len);
	sbuf_adds(b, ",\"TagFilter\":");
	sbuf_json_str(b, ev->tag_filter, ev->tag_filter_len);
	sbuf_printf(b, ",\"Version\":%llu,\"LTime\":%llu}",
	    (unsigned long long)ev->version, (unsigned long long)ev->ltime);
}

struct fire_ctx {
	struct msg_gossip_event ev;
	char *name, *nf, *sf, *tf;
	void *payload;
};

static void
fire_free(struct fire_ctx *f)
{
	free(f->name);
	free(f->nf);
	free(f->sf);
	free(f->tf);
	free(f);
}

static void
on_fire(void *arg, int rv, struct proto_msg *m)
{
	struct hreq *hr = arg;
	struct fire_ctx *f = hr->ctx;
	struct msg_gossip_reply rep;
	struct lerr e;
	struct sbuf b;

	hr->ctx = NULL;
	if (rv != 0) {
		fire_free(f);
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if ((m->type != (MSG_GOSSIP_EVENT_FIRE | PROTO_REPLY)) ||
	    msg_gossip_reply_dec(m, &rep, &e) != 0) {
		fire_free(f);
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	if (rep.code != 0) {
		fire_free(f);
		/* Consul answers every failure of UserEvent with 500. */
		hreq_error(hr, 500, "%.*s", (int)rep.text_len, rep.text);
		return;
	}
	f->ev.id = rep.id;
	f->ev.id_len = rep.id_len;
	f->ev.version = 1;
	f->ev.ltime = 0;
	sbuf_init(&b);
	event_json(&b, &f->ev);
	fire_free(f);
	hreq_json(hr, 200, &b);
	sbuf_free(&b);
}

static char *
dup_param(struct hreq *hr, const char *name)
{
	const char *v = hquery_get(&hr->q, name);

	return xstrdup(v ? v : "");
}

void
http_event_fire(struct hreq *hr, const char *name)
{
	struct fire_ctx *f;
	struct ipc_call *call;
	const char *dc = hquery_get(&hr->q, "dc");
	void *body;
	size_t blen;

	if (*name == '\0') {
		hreq_error(hr, 400, "Missing name");
		return;
	}
	if (dc != NULL && *dc != '\0' && strcmp(dc, hr->h->cfg.datacenter)) {
		hreq_error(hr, 500, "No path to datacenter");
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(name);
	f->nf = dup_param(hr, "node");
	f->sf = dup_param(hr, "service");
	f->tf = dup_param(hr, "tag");
	hreq_body(hr, &body, &blen);
	f->ev.name = f->name;
	f->ev.name_len = strlen(f->name);
	f->ev.payload = blen > 0 ? body : NULL;
	f->ev.payload_len = blen;
	f->ev.node_filter = f->nf;
	f->ev.node_filter_len = strlen(f->nf);
	f->ev.service_filter = f->sf;
	f->ev.service_filter_len = strlen(f->sf);
	f->ev.tag_filter = f->tf;
	f->ev.tag_filter_len = strlen(f->tf);
	hr->ctx = f;
	hr->peer = "gossipd";
	call = ipc_call_new(hr->h->gossip, MSG_GOSSIP_EVENT_FIRE);
	msg_gossip_event_fire_enc(ipc_call_writer(call), &f->ev);
	ipc_call_send_loop(call, GOSSIP_RPC_TIMEOUT_MS, hr->h->loop, on_fire,
	    hr);
}

static bool
matches(const char *re, const char *s, size_t len)
{
	regex_t r;
	char *c;
	bool ok;

	if (re == NULL || *re == '\0')
		return true;
	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	c = xstrndup(s, len);
	ok = regexec(&r, c, 0, NULL, 0) == 0;
	free(c);
	regfree(&r);
	return ok;
}

static void
on_event_list(void *arg, int rv, struct proto_msg *m)
{
	struct hreq *hr = arg;
	struct msg_gossip_event_list_reply rep;
	struct msg_gossip_event ev;
	const char *nf = hquery_get(&hr->q, "node");
	const char *sf = hquery_get(&hr->q, "service");
	const char *tf = hquery_get(&hr->q, "tag");
	struct lerr e;
	struct sbuf b;
	bool first = true;
	char idx[32];

	if (rv != 0) {
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if (m->type != (MSG_GOSSIP_EVENT_LIST | PROTO_REPLY) ||
	    msg_gossip_event_list_reply_dec(m, &rep, &e) != 0) {
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	snprintf(idx, sizeof(idx), "%llu", (unsigned long long)rep.index);
	hreq_set_header(hr, "X-Consul-Index", idx);
	sbuf_init(&b);
	sbuf_addc(&b, '[');
	for (uint32_t i = 0; i < rep.n_events; i++) {
		if (msg_gossip_event_dec(&rep.events[i], &ev) != 0) {
			sbuf_free(&b);
			hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
			return;
		}
		/* Consul's list filters: by the event's own filters. */
		if (!matches(nf, ev.node_filter, ev.node_filter_len) ||
		    !matches(sf, ev.service_filter, ev.service_filter_len) ||
		    !matches(tf, ev.tag_filter, ev.tag_filter_len))
			continue;
		if (!first)
			sbuf_addc(&b, ',');
		first = false;
		event_json(&b, &ev);
	}
	sbuf_addc(&b, ']');
	hreq_json(hr, 200, &b);
	sbuf_free(&b);
}

void
http_event_list(struct hreq *hr)
{
	struct msg_gossip_event_list q = { 0 };
	const char *name = hquery_get(&hr->q, "name");
	const char *err;
	struct ipc_call *call;
	uint64_t r;

	if (parse_blocking(&hr->q, hr->h->cfg.default_query_time_ms,
	    hr->h->cfg.max_query_time_ms, &hr->blk, &err) != 0) {
		hreq_error(hr, 400, "%s", err);
		return;
	}
	q.name = name ? name : "";
	q.name_len = strlen(q.name);
	q.min_index = hr->blk.index;
	random_bytes(&r, sizeof(r));
	q.wait_ms = hr->blk.index ? blocking_jitter(hr->blk.wait_ms,
	    hr->h->cfg.max_query_time_ms, r) : 0;
	hr->peer = "gossipd";
	call = ipc_call_new(hr->h->gossip, MSG_GOSSIP_EVENT_LIST);
	msg_gossip_event_list_enc(ipc_call_writer(call), &q);
	hreq_cancellable(hr, hr->h->gossip, call);
	ipc_call_send_loop(call, q.wait_ms + GOSSIP_RPC_TIMEOUT_MS,
	    hr->h->loop, on_event_list, hr);
}
