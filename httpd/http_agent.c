/* http_agent.c: /v1/agent/self, the agent's own description, from its
 * config. */
#include "httpd.h"
#include "gotime.h"
#include "log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
	    LICTOR_CONSUL_VERSION, "BuildDate", "2026-11-24T00:00:00Z",
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
	    "vsn_max", "3", "build", LICTOR_CONSUL_BUILD, "segment", "");
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
