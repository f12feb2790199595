/* tags.c: the Serf tags Consul puts on its members (§11.1 of the wire
 * reference), encoded into memberlist's Meta ([0xFF][msgpack map]). A
 * Consul server recognises another server only when role=consul and port,
 * vsn and build parse, and refuses a LAN merge with a member of another
 * dc or a duplicate id, so these are not decoration. */
#include "gossipd.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

static void
tag(struct tagset *t, const char *k, const char *v)
{
	t->t[t->n].key = (struct gw_bytes){ (const uint8_t *)k, strlen(k) };
	t->t[t->n].val = (struct gw_bytes){ (const uint8_t *)v, strlen(v) };
	t->n++;
}

static void
tagi(struct tagset *t, const char *k, long long v)
{
	snprintf(t->store[t->n], sizeof(t->store[t->n]), "%lld", v);
	tag(t, k, t->store[t->n]);
}

void
tags_build(const struct lictor_config *c, int which, struct tagset *t)
{
	t->n = 0;

	tag(t, "role", c->server ? "consul" : "node");
	tag(t, "dc", c->datacenter);
	if (which == POOL_LAN)
		tag(t, "segment", "");
	tag(t, "id", c->node_id ? c->node_id : "");
	tag(t, "vsn", "2");
	tag(t, "vsn_min", "2");
	tag(t, "vsn_max", "3");
	tag(t, "build", LICTOR_CONSUL_BUILD);
	if (c->server) {
		tag(t, "raft_vsn", "3");
		tagi(t, "port", c->port_server);
		if (which == POOL_LAN && c->port_serf_wan > 0)
			tagi(t, "wan_join_port", c->port_serf_wan);
		if (c->bootstrap || c->dev)
			tag(t, "bootstrap", "1");
		if (c->bootstrap_expect > 0)
			tagi(t, "expect", c->bootstrap_expect);
		tag(t, "acls", "0");
	}
}
