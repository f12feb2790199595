/* http_agent.c: /v1/status/leader, /v1/status/peers and /v1/agent/self.
 * The leader comes from kvd (which learns it from raftd once raftd
 * exists); the agent's own description comes from its config. */
#include "httpd.h"
#include "gotime.h"
#include "log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum status_kind { ST_LEADER, ST_PEERS };

struct status_call {
	struct hreq *hr;
	enum status_kind kind;
};

static void
on_status(void *arg, int rv, struct proto_msg *m)
{
	struct status_call *sc = arg;
	struct hreq *hr = sc->hr;
	struct msg_kv_status_reply rep;
	struct lerr e;
	struct sbuf b;

	free(sc);
	if (rv != 0) {
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if (m->type != (MSG_KV_STATUS | PROTO_REPLY) ||
	    msg_kv_status_reply_dec(m, &rep, &e) != 0) {
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	sbuf_init(&b);
	if (hr->kv_mode == ST_LEADER) {
		sbuf_json_str(&b, rep.known_leader ? rep.leader : "",
		    rep.known_leader ? rep.leader_len : 0);
	} else {
		sbuf_addc(&b, '[');
		if (rep.known_leader)
			sbuf_json_str(&b, rep.leader, rep.leader_len);
		sbuf_addc(&b, ']');
	}
	hreq_json(hr, 200, &b);
	sbuf_free(&b);
}

static void
status_call(struct hreq *hr, enum status_kind kind)
{
	struct status_call *sc = xcalloc(1, sizeof(*sc));
	struct ipc_call *call;
	struct msg_admin_req none = { "", 0 };

	sc->hr = hr;
	sc->kind = kind;
	hr->kv_mode = (int)kind;
	call = ipc_call_new(hr->h->kvd, MSG_KV_STATUS);
	msg_admin_req_enc(ipc_call_writer(call), &none);
	ipc_call_send(call, 5000, on_status, sc);
}

void
http_status_leader(struct hreq *hr)
{
	status_call(hr, ST_LEADER);
}

void
http_status_peers(struct hreq *hr)
{
	status_call(hr, ST_PEERS);
}

void
http_agent_self(struct hreq *hr)
{
	const struct lictor_config *c = &hr->h->cfg;
	char ttl[32], sport[16], addr[256];
	json_t *root, *cfg, *dbg, *member, *tags, *coord, *vec, *meta;
	char *s;
	struct sbuf b;

	go_duration_format(c->session_ttl_min_ms * 1000000, ttl, sizeof(ttl));
	snprintf(sport, sizeof(sport), "%lld", (long long)c->port_server);
	snprintf(addr, sizeof(addr), "%s",
	    c->advertise_addr && *c->advertise_addr ? c->advertise_addr :
	    c->bind_addr);
	cfg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}",
	    "Datacenter", c->datacenter, "PrimaryDatacenter", c->datacenter,
	    "NodeName", c->node_name, "NodeID", c->node_id ? c->node_id : "",
	    "Revision", "lictor", "Server", c->server, "Version",
	    "1.15.0-lictor" , "BuildDate", "2026-11-24T00:00:00Z",
	    "SessionTTLMin", ttl);
	dbg = json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:I, s:s, s:s}",
	    "Datacenter", c->datacenter, "NodeName", c->node_name,
	    "DataDir", c->data_dir ? c->data_dir : "", "ServerMode",
	    c->server, "Bootstrap", c->bootstrap, "SessionTTLMin", ttl,
	    "KVMaxValueSize", (json_int_t)c->kv_max_value_size,
	    "ClientAddrs", c->client_addr, "BindAddr", c->bind_addr);
	tags = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "role", c->server ? "consul" : "node", "dc", c->datacenter,
	    "id", c->node_id ? c->node_id : "", "vsn", "2", "vsn_min", "2",
	    "vsn_max", "3", "build", "1.15.0-lictor:lictor", "segment", "");
	if (c->server) {
		json_object_set_new(tags, "port", json_string(sport));
		if (c->bootstrap)
			json_object_set_new(tags, "bootstrap", json_string("1"));
	}
	member = json_pack("{s:s, s:s, s:I, s:o, s:i, s:i, s:i, s:i, s:i, "
	    "s:i, s:i}", "Name", c->node_name, "Addr", addr, "Port",
	    (json_int_t)c->port_serf_lan, "Tags", tags, "Status", 1,
	    "ProtocolMin", 1, "ProtocolMax", 5, "ProtocolCur", 2,
	    "DelegateMin", 2, "DelegateMax", 5, "DelegateCur", 4);
	vec = json_pack("[f,f,f,f,f,f,f,f]", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
	    0.0, 0.0);
	coord = json_pack("{s:f, s:f, s:f, s:o}", "Adjustment", 0.0, "Error",
	    1.5, "Height", 1e-05, "Vec", vec);
	meta = json_pack("{s:s}", "consul-network-segment", "");
	root = json_pack("{s:o, s:o, s:o, s:o, s:o}", "Config", cfg,
	    "DebugConfig", dbg, "Coord", coord, "Member", member, "Meta", meta);
	s = root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(root);
	if (s == NULL) {
		hreq_error(hr, 500, "cannot encode agent description");
		return;
	}
	sbuf_init(&b);
	sbuf_adds(&b, s);
	free(s);
	hreq_json(hr, 200, &b);
	sbuf_free(&b);
}
