/* flood.c: Consul's flood join. A server joins the WAN pool through the
 * LAN: every server of our datacenter that the LAN pool shows alive
 * (role=consul, dc, wan_join_port tags) and the WAN pool does not, is
 * joined on the WAN at its LAN address and wan_join_port, so the WAN
 * pool of a datacenter's servers forms without any -join-wan. Checked
 * when the LAN membership changed and every FLOOD_EVERY_MS. */
#include "gossipd.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOOD_EVERY_MS 30000

struct flood_ctx {
	struct gossipd *d;
	char addrs[GOSSIPD_JOIN_MAX][128];
	const char *ap[GOSSIPD_JOIN_MAX];
	size_t lens[GOSSIPD_JOIN_MAX];
	unsigned n;
};

static void
flood_member(void *arg, const struct serf_member *m)
{
	struct flood_ctx *c = arg;
	struct pool *wan = &c->d->pools[POOL_WAN];
	struct gw_bytes role = serf_member_tag(m, "role");
	struct gw_bytes dc = serf_member_tag(m, "dc");
	struct gw_bytes port = serf_member_tag(m, "wan_join_port");
	const char *mydc = c->d->cfg.datacenter;
	char name[GOSSIPD_NAME_MAX + 64], ip[96], *colon;
	struct serf_member wm;
	struct sockaddr_storage ss;
	uint64_t p;

	if (m->status != SERF_ALIVE || c->n >= GOSSIPD_JOIN_MAX ||
	    role.len != 6 || memcmp(role.p, "consul", 6) != 0 ||
	    dc.len != strlen(mydc) || memcmp(dc.p, mydc, dc.len) != 0 ||
	    port.p == NULL || port.len == 0 || port.len > 5)
		return;
	snprintf(name, sizeof(name), "%.*s.%s", (int)m->name.len,
	    (const char *)m->name.p, mydc);
	if (serf_member(wan->serf, (struct gw_bytes){ (const uint8_t *)name,
	    strlen(name) }, &wm) == 0 && wm.status == SERF_ALIVE)
		return;
	p = strtoull(strndupa((const char *)port.p, port.len), NULL, 10);
	if (p == 0 || p > 65535)
		return;
	pool_addr_to_ss(&m->addr, &ss);
	gaddr_str(&ss, ip, sizeof(ip));
	if ((colon = strrchr(ip, ':')) != NULL)
		*colon = '\0';
	snprintf(c->addrs[c->n], sizeof(c->addrs[c->n]), "%s:%u", ip,
	    (unsigned)p);
	c->ap[c->n] = c->addrs[c->n];
	c->lens[c->n] = strlen(c->addrs[c->n]);
	c->n++;
}

void
flood_check(struct gossipd *d)
{
	struct pool *lan = &d->pools[POOL_LAN], *wan = &d->pools[POOL_WAN];
	struct flood_ctx *c;
	uint64_t now = mono_ms();

	if (d->npools < 2 || wan->left || wan->leaving || wan->joins != NULL)
		return;
	if (lan->version == d->flood_version && now < d->flood_next_ms)
		return;
	d->flood_version = lan->version;
	d->flood_next_ms = now + FLOOD_EVERY_MS;
	c = xcalloc(1, sizeof(*c));
	c->d = d;
	pool_members_each(lan, flood_member, c);
	if (c->n > 0) {
		log_info("gossip wan: flood joining %u server(s) of %s seen "
		    "on the LAN", c->n, d->cfg.datacenter);
		pool_join(wan, c->ap, c->lens, c->n, NULL, false);
	}
	free(c);
}
