/* cluster.c: how servers form one cluster. Every raftd greets (RW_HELLO)
 * the servers gossip shows (discover.c) and every server it has heard of,
 * saying
 * who it is, its -bootstrap-expect, whether it holds Raft state, and whom
 * it knows; so knowledge spreads to all. A server with -bootstrap (or
 * -dev) and no state bootstraps alone. With -bootstrap-expect N, once a
 * server knows N servers expecting N and none of them holds state, it
 * bootstraps with exactly those N, sorted: all N do the same with the
 * same set. A server without state that greets an existing cluster is
 * added by the leader as a non-voter and promoted once it caught up, as
 * Consul's autopilot does. */
#include "raftd.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELLO_EVERY_MS 1000
#define KNOWN_FORGET_MS 30000	/* silent this long: not re-added */
#define REMOVED_QUIET_MS 30000	/* removed: not re-added for this long */
#define LEADER_CHORES_MS 200

struct known_server {
	char uuid[64];
	char node[128];
	char addr[RW_ADDR_MAX + 1];
	uint64_t expect;
	bool has_state;
	uint64_t seen_ms;	/* 0 for ourselves and hearsay */
	uint64_t removed_ms;
};

static struct known_server *
known_find(struct raftd *d, const char *uuid, size_t len)
{
	for (size_t i = 0; i < d->nknown; i++)
		if (strlen(d->known[i].uuid) == len &&
		    memcmp(d->known[i].uuid, uuid, len) == 0)
			return &d->known[i];
	return NULL;
}

static struct known_server *
known_upsert(struct raftd *d, const struct rw_server *s, bool direct)
{
	struct known_server *k;

	if (s->uuid_len == 0 || s->uuid_len >= sizeof(k->uuid) ||
	    s->node_len >= sizeof(k->node) || s->addr_len == 0 ||
	    s->addr_len >= sizeof(k->addr))
		return NULL;
	if ((k = known_find(d, s->uuid, s->uuid_len)) == NULL) {
		if (d->nknown >= RW_MAX_KNOWN)
			return NULL;
		d->known = xrealloc(d->known, (d->nknown + 1) *
		    sizeof(*d->known));
		k = &d->known[d->nknown++];
		memset(k, 0, sizeof(*k));
		memcpy(k->uuid, s->uuid, s->uuid_len);
		log_info("cluster: learned of server %.*s at %.*s",
		    (int)s->node_len, s->node, (int)s->addr_len, s->addr);
	}
	if (direct || k->seen_ms == 0) {
		snprintf(k->node, sizeof(k->node), "%.*s", (int)s->node_len,
		    s->node);
		snprintf(k->addr, sizeof(k->addr), "%.*s", (int)s->addr_len,
		    s->addr);
		k->expect = s->expect;
		k->has_state = s->has_state;
	}
	if (direct)
		k->seen_ms = mono_ms();
	return k;
}

static bool
has_state(struct raftd *d)
{
	struct raft_status st;

	raft_status(d->r, &st);
	return st.last_index > 0 || st.snapshot_index > 0;
}

static void
self_server(struct raftd *d, struct rw_server *s)
{
	s->uuid = d->cfg.node_id;
	s->uuid_len = strlen(d->cfg.node_id);
	s->node = d->cfg.node_name;
	s->node_len = strlen(d->cfg.node_name);
	s->addr = d->addr;
	s->addr_len = strlen(d->addr);
	s->expect = d->cfg.bootstrap_expect > 0 ?
	    (uint64_t)d->cfg.bootstrap_expect : 0;
	s->has_state = has_state(d);
}

static void
send_hello(struct raftd *d, const char *addr)
{
	struct rw_hello *h = xcalloc(1, sizeof(*h));
	struct mpw w;

	h->dc = d->cfg.datacenter;
	h->dc_len = strlen(d->cfg.datacenter);
	self_server(d, &h->self);
	for (size_t i = 0; i < d->nknown && h->n_known < RW_MAX_KNOWN; i++) {
		struct rw_server *s = &h->known[h->n_known++];
		const struct known_server *k = &d->known[i];

		s->uuid = k->uuid;
		s->uuid_len = strlen(k->uuid);
		s->node = k->node;
		s->node_len = strlen(k->node);
		s->addr = k->addr;
		s->addr_len = strlen(k->addr);
		s->expect = k->expect;
		s->has_state = k->has_state;
	}
	mpw_init(&w);
	rw_hello_enc(&w, d->id, h);
	node_send_raw(d, addr, &w);
	mpw_free(&w);
	free(h);
}

/* "host" or "host:port" from -join: the server port is Consul's 8300
 * when none is given. */
static void
join_addr(struct raftd *d, const char *a, char *out, size_t len)
{
	const char *colon = strrchr(a, ':');

	if (colon != NULL && strchr(a, ']') <= colon)
		snprintf(out, len, "%s", a);
	else
		snprintf(out, len, "%s:%lld", a, (long long)d->cfg.port_server);
}

static void
conf_entry(const char *addr, const char *uuid, const char *node,
    struct raft_server *s, uint8_t role)
{
	int n;

	s->id = node_id_of(uuid);
	s->role = role;
	n = snprintf(s->addr, sizeof(s->addr), "%s %s %s", addr, uuid, node);
	if (n < 0 || (size_t)n >= sizeof(s->addr))
		log_warnx("cluster: server %s: address, id and name too long "
		    "for the configuration; name cut", node);
}

static int
cmp_server(const void *a, const void *b)
{
	const struct raft_server *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void
bootstrap(struct raftd *d, struct raft_config *c)
{
	int rv;

	qsort(c->servers, c->n, sizeof(c->servers[0]), cmp_server);
	if ((rv = raft_bootstrap(d->r, c)) != 0) {
		log_warnx("raft: bootstrap failed: %s", le_strerror(rv));
		return;
	}
	d->bootstrapped = true;
	log_info("raft: bootstrapped a cluster of %u server%s", c->n,
	    c->n == 1 ? "" : "s");
}

void
cluster_start(struct raftd *d)
{
	struct rw_server self;
	struct raft_config c = { 0 };

	self_server(d, &self);
	known_upsert(d, &self, false);
	if (d->bootstrapped || has_state(d))
		return;
	if (d->cfg.bootstrap || d->cfg.dev) {
		c.n = 1;
		conf_entry(d->addr, d->cfg.node_id, d->cfg.node_name,
		    &c.servers[0], RAFT_VOTER);
		bootstrap(d, &c);
	}
}

static void
maybe_bootstrap_expect(struct raftd *d)
{
	struct raft_config c = { 0 };
	uint64_t n = (uint64_t)d->cfg.bootstrap_expect;

	if (n == 0 || d->bootstrapped || has_state(d))
		return;
	for (size_t i = 0; i < d->nknown; i++) {
		const struct known_server *k = &d->known[i];

		if (k->has_state)
			return; /* a cluster exists: wait to be added */
		if (k->expect != n)
			continue;
		if (c.n >= RAFT_MAX_SERVERS)
			return;
		conf_entry(k->addr, k->uuid, k->node, &c.servers[c.n++],
		    RAFT_VOTER);
	}
	if (c.n < n)
		return;
	if (c.n > n)
		log_warnx("cluster: %u servers expect %llu; bootstrapping "
		    "with all of them", c.n, (unsigned long long)n);
	bootstrap(d, &c);
}

void
cluster_tick(struct raftd *d)
{
	uint64_t now = mono_ms();

	if (now < d->hello_next_ms || raftd_client(d))
		return; /* a client greets nobody: it joins no Raft cluster */
	d->hello_next_ms = now + HELLO_EVERY_MS;
	for (size_t i = 0; i < d->ngossip_servers; i++)
		send_hello(d, d->gossip_servers[i]);
	for (size_t i = 0; i < d->nknown; i++)
		if (strcmp(d->known[i].addr, d->addr) != 0)
			send_hello(d, d->known[i].addr);
	maybe_bootstrap_expect(d);
}

void
cluster_hello_in(struct raftd *d, const struct rw_msg *m)
{
	const struct rw_hello *h = &m->u.hello;
	struct known_server *k;
	char from_addr[RW_ADDR_MAX + 1];
	bool knew_us = false;

	d->st.hellos++;
	if (raftd_client(d))
		return; /* not a server: nothing to learn, nobody to add */
	if (h->dc_len != strlen(d->cfg.datacenter) ||
	    memcmp(h->dc, d->cfg.datacenter, h->dc_len) != 0)
		return; /* another datacenter's server: not ours */
	if (node_id_of_n(h->self.uuid, h->self.uuid_len) != m->from)
		return;
	if ((k = known_upsert(d, &h->self, true)) == NULL)
		return;
	/* known_upsert may move the table: keep the address, not k. */
	snprintf(from_addr, sizeof(from_addr), "%s", k->addr);
	for (uint32_t i = 0; i < h->n_known; i++) {
		if (h->known[i].uuid_len == strlen(d->cfg.node_id) &&
		    memcmp(h->known[i].uuid, d->cfg.node_id,
		    h->known[i].uuid_len) == 0) {
			knew_us = true;
			continue;
		}
		known_upsert(d, &h->known[i], false);
	}
	if (!knew_us)
		send_hello(d, from_addr);
	maybe_bootstrap_expect(d);
}

static bool
in_config(const struct raft_config *c, uint64_t id)
{
	return raft_config_find(c, id) != NULL;
}

/* Leader: one membership change at a time (the core refuses more). */
void
cluster_leader_tick(struct raftd *d)
{
	static uint64_t next;
	struct raft_status st;
	struct raft_config c;
	uint64_t now = mono_ms();

	if (now < next)
		return;
	next = now + LEADER_CHORES_MS;
	raft_status(d->r, &st);
	if (st.state != RAFT_LEADER)
		return;
	raft_config_get(d->r, false, &c);
	/* Promote a non-voter that caught up. */
	for (uint32_t i = 0; i < c.n; i++) {
		uint64_t match, contact;

		if (c.servers[i].role != RAFT_NONVOTER)
			continue;
		if (raft_progress(d->r, c.servers[i].id, &match,
		    &contact) == 0 && match >= st.commit && contact < 2000) {
			if (raft_assign(d->r, c.servers[i].id, RAFT_VOTER,
			    NULL) == 0)
				log_info("cluster: promoted %s to voter",
				    c.servers[i].addr);
			return;
		}
	}
	/* Add a server that greeted us lately and is not a member. */
	for (size_t i = 0; i < d->nknown; i++) {
		struct known_server *k = &d->known[i];
		uint64_t id = node_id_of(k->uuid);

		if (id == d->id || k->seen_ms == 0 ||
		    now - k->seen_ms > KNOWN_FORGET_MS || in_config(&c, id) ||
		    (k->removed_ms && now - k->removed_ms < REMOVED_QUIET_MS))
			continue;
		if (k->has_state)
			continue; /* holds another history: refuse */
		{
			struct raft_server s;

			conf_entry(k->addr, k->uuid, k->node, &s, 0);
			if (raft_add_server(d->r, id, s.addr, RAFT_NONVOTER,
			    NULL) == 0)
				log_info("cluster: adding %s (%s) as a "
				    "non-voter", k->node, k->addr);
		}
		return;
	}
}

static const struct raft_server *
find_peer(const struct raft_config *c, const char *arg, size_t len)
{
	char a[RW_ADDR_MAX + 1], u[64];

	for (uint32_t i = 0; i < c->n; i++) {
		node_server_addr(&c->servers[i], a, sizeof(a));
		node_server_uuid(&c->servers[i], u, sizeof(u));
		if ((strlen(a) == len && memcmp(a, arg, len) == 0) ||
		    (strlen(u) == len && memcmp(u, arg, len) == 0))
			return &c->servers[i];
	}
	return NULL;
}

int
cluster_op(struct raftd *d, uint32_t op, const char *arg, size_t arg_len,
    char *text, size_t text_len, uint64_t *index)
{
	const struct raft_server *s;
	struct raft_config c;
	char addr[RW_ADDR_MAX + 1];
	int rv;

	*index = 0;
	raft_config_get(d->r, false, &c);
	switch (op) {
	case RAFT_OP_REMOVE_PEER:
		if ((s = find_peer(&c, arg, arg_len)) == NULL) {
			snprintf(text, text_len, "address \"%.*s\" was not "
			    "found in the Raft configuration", (int)arg_len,
			    arg);
			return -LE_NOTFOUND;
		}
		for (size_t i = 0; i < d->nknown; i++)
			if (node_id_of(d->known[i].uuid) == s->id)
				d->known[i].removed_ms = mono_ms();
		rv = raft_remove_server(d->r, s->id, index);
		if (rv != 0)
			snprintf(text, text_len, "%s", rv == -RAFT_E_BUSY ?
			    "a configuration change is under way; try again" :
			    le_strerror(rv));
		return rv;
	case RAFT_OP_LEAVE:
		/* As leader, remove ourselves: the core steps down once the
		 * removal commits. */
		for (size_t i = 0; i < d->nknown; i++)
			if (node_id_of(d->known[i].uuid) == d->id)
				d->known[i].removed_ms = mono_ms();
		if (!raft_config_is_voter(&c, d->id) &&
		    raft_config_find(&c, d->id) == NULL)
			return 0;
		d->leaving = true;
		return raft_remove_server(d->r, d->id, index);
	case RAFT_OP_JOIN:
		snprintf(text, text_len, "%.*s", (int)arg_len, arg);
		join_addr(d, text, addr, sizeof(addr));
		text[0] = '\0';
		send_hello(d, addr);
		return 0;
	case RAFT_OP_TRANSFER:
		if (arg_len == 0)
			return raft_transfer(d->r, 0);
		if ((s = find_peer(&c, arg, arg_len)) == NULL) {
			snprintf(text, text_len, "server id \"%.*s\" was not "
			    "found in the Raft configuration", (int)arg_len,
			    arg);
			return -LE_NOTFOUND;
		}
		return raft_transfer(d->r, s->id);
	}
	return -LE_INVAL;
}

/* A server's address from what greetings taught us: a server that is not
 * in our configuration yet (we are new, or it is) still gets answers. */
bool
cluster_addr_of(struct raftd *d, uint64_t id, char *out, size_t len)
{
	for (size_t i = 0; i < d->nknown; i++)
		if (node_id_of(d->known[i].uuid) == id) {
			snprintf(out, len, "%s", d->known[i].addr);
			return true;
		}
	return false;
}
