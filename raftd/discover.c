/* discover.c: servers find each other through gossip, as in Consul. raftd
 * keeps one gossip.members request parked in gossipd; every answer lists
 * the LAN members, and each alive one tagged role=consul in our
 * datacenter with a server port is a server to greet (cluster.c's hellos
 * then agree on -bootstrap-expect and membership). So -join and
 * -retry-join take gossip addresses, any agent's, as Consul's do. A
 * client agent's raftd keeps the same list to forward its kvd's requests
 * to (kv_forward.c) but greets nobody: clients are not Raft members. */
#include "raftd.h"
#include "gossip_ipc.h"
#include "log.h"
#include "rundir.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISCOVER_WAIT_MS 60000
#define DISCOVER_RETRY_MS 1000

static void discover_ask(void *arg);

static bool
tag_is(const char *v, size_t vl, const char *s)
{
	return vl == strlen(s) && memcmp(v, s, vl) == 0;
}

static void
server_of(struct raftd *d, const struct msg_gossip_member *m)
{
	const char *k, *v, *port = NULL, *dc = NULL;
	size_t kl, vl, port_len = 0, dc_len = 0;
	bool server = false;
	char addr[RW_ADDR_MAX + 1];
	int n;

	if (m->status != GSTAT_ALIVE)
		return;
	for (uint32_t i = 0; i < m->n_tags; i++) {
		msg_gossip_member_tag(m, i, &k, &kl, &v, &vl);
		if (tag_is(k, kl, "role"))
			server = tag_is(v, vl, "consul");
		else if (tag_is(k, kl, "port")) {
			port = v;
			port_len = vl;
		} else if (tag_is(k, kl, "dc")) {
			dc = v;
			dc_len = vl;
		}
	}
	if (!server || port == NULL || port_len == 0 || port_len > 5 ||
	    dc == NULL || !tag_is(dc, dc_len, d->cfg.datacenter))
		return;
	n = snprintf(addr, sizeof(addr), memchr(m->addr, ':', m->addr_len) ?
	    "[%.*s]:%.*s" : "%.*s:%.*s", (int)m->addr_len, m->addr,
	    (int)port_len, port);
	if (n < 0 || (size_t)n >= sizeof(addr) || strcmp(addr, d->addr) == 0)
		return;
	if (d->ngossip_servers >= RW_MAX_KNOWN)
		return;
	d->gossip_servers = xrealloc(d->gossip_servers,
	    (d->ngossip_servers + 1) * sizeof(*d->gossip_servers));
	snprintf(d->gossip_servers[d->ngossip_servers++], RW_ADDR_MAX + 1,
	    "%s", addr);
}

static void
on_members(void *arg, int rv, struct proto_msg *m)
{
	struct raftd *d = arg;
	struct msg_gossip_members_reply rep;
	struct msg_gossip_member mb;
	struct lerr e;
	size_t before = d->ngossip_servers;

	d->discover_inflight = false;
	if (d->stopping)
		return;
	if (rv != 0 || m->type != (MSG_GOSSIP_MEMBERS | PROTO_REPLY) ||
	    msg_gossip_members_reply_dec(m, &rep, &e) != 0) {
		/* gossipd restarting: ask again from the start. */
		d->discover_version = 0;
		loop_timer_arm(d->discover_timer, DISCOVER_RETRY_MS);
		return;
	}
	d->ngossip_servers = 0;
	for (uint32_t i = 0; i < rep.n_members; i++)
		if (msg_gossip_member_dec(&rep.members[i], &mb) == 0)
			server_of(d, &mb);
	if (d->ngossip_servers != before)
		log_info("cluster: gossip shows %zu other server(s)",
		    d->ngossip_servers);
	d->discover_version = rep.version;
	d->members_seen = true;
	/* Greet the new ones now rather than at the next hello round. */
	d->hello_next_ms = 0;
	discover_ask(d);
}

static void
discover_ask(void *arg)
{
	struct raftd *d = arg;
	struct msg_gossip_members q = { false, d->discover_version,
		DISCOVER_WAIT_MS };
	struct ipc_call *call;

	if (d->stopping || d->discover_inflight)
		return;
	d->discover_inflight = true;
	call = ipc_call_new(d->gossip, MSG_GOSSIP_MEMBERS);
	msg_gossip_members_enc(ipc_call_writer(call), &q);
	ipc_call_send_loop(call, DISCOVER_WAIT_MS + 5000, d->loop, on_members,
	    d);
}

int
discover_start(struct raftd *d, const char *rundir, struct lerr *e)
{
	char url[300];

	rundir_url(rundir, "gossip", url, sizeof(url));
	if (ipc_client_open_loop(&d->gossip, url, d->boot, d->loop, e) != 0)
		return -LE_IO;
	d->discover_timer = loop_timer_new(d->loop, discover_ask, d);
	discover_ask(d);
	return 0;
}

void
discover_stop(struct raftd *d)
{
	if (d->gossip != NULL)
		ipc_client_close(d->gossip);
	d->gossip = NULL;
}

void
discover_free(struct raftd *d)
{
	if (d->discover_timer != NULL)
		loop_timer_free(d->discover_timer);
	free(d->gossip_servers);
}
