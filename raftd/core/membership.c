/* membership.c: configurations. The codec for configuration entries, the
 * history of configurations still in the log (a configuration takes effect
 * when appended, so truncating the log can bring an older one back), and
 * single-server changes: add (as voter or non-voter), assign a role
 * (promote/demote) and remove, one uncommitted change at a time. A leader
 * whose removal commits steps down, handing off with TimeoutNow. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

#define CONF_VERSION	1

int
raft_config_check(const struct raft_config *c)
{
	uint32_t i, j;

	if (c == NULL || c->n > RAFT_MAX_SERVERS)
		return -LE_MALFORMED;
	for (i = 0; i < c->n; i++) {
		const struct raft_server *s = &c->servers[i];

		if (s->id == 0 || (s->role != RAFT_VOTER &&
		    s->role != RAFT_NONVOTER))
			return -LE_MALFORMED;
		if (memchr(s->addr, '\0', sizeof(s->addr)) == NULL)
			return -LE_MALFORMED;
		for (j = 0; j < i; j++)
			if (c->servers[j].id == s->id)
				return -LE_MALFORMED;
	}
	return 0;
}

size_t
raft_config_encode(const struct raft_config *c, uint8_t *buf, size_t cap)
{
	size_t need = 2, off, alen;
	uint32_t i;
	int k;

	for (i = 0; i < c->n; i++)
		need += 10 + strlen(c->servers[i].addr);
	if (buf == NULL || cap < need)
		return need;
	buf[0] = CONF_VERSION;
	buf[1] = (uint8_t)c->n;
	off = 2;
	for (i = 0; i < c->n; i++) {
		const struct raft_server *s = &c->servers[i];

		for (k = 7; k >= 0; k--)
			buf[off++] = (uint8_t)(s->id >> (k * 8));
		buf[off++] = s->role;
		alen = strlen(s->addr);
		buf[off++] = (uint8_t)alen;
		memcpy(buf + off, s->addr, alen);
		off += alen;
	}
	return need;
}

int
raft_config_decode(const void *buf, size_t len, struct raft_config *c)
{
	const uint8_t *p = buf;
	size_t off = 2, alen;
	uint32_t i;
	int k;

	if (p == NULL || len < 2 || p[0] != CONF_VERSION ||
	    p[1] > RAFT_MAX_SERVERS)
		return -LE_MALFORMED;
	memset(c, 0, sizeof(*c));
	c->n = p[1];
	for (i = 0; i < c->n; i++) {
		struct raft_server *s = &c->servers[i];

		if (len - off < 10)
			return -LE_MALFORMED;
		for (k = 0; k < 8; k++)
			s->id = (s->id << 8) | p[off++];
		s->role = p[off++];
		alen = p[off++];
		if (len - off < alen || memchr(p + off, '\0', alen) != NULL)
			return -LE_MALFORMED;
		memcpy(s->addr, p + off, alen);
		off += alen;
	}
	if (off != len)
		return -LE_MALFORMED;
	return raft_config_check(c);
}

const struct raft_server *
raft_config_find(const struct raft_config *c, uint64_t id)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->servers[i].id == id)
			return &c->servers[i];
	return NULL;
}

bool
raft_config_is_voter(const struct raft_config *c, uint64_t id)
{
	const struct raft_server *s = raft_config_find(c, id);

	return s != NULL && s->role == RAFT_VOTER;
}

/* ---- history ---- */

static const struct raft_config empty_conf;

void
confs_init(struct confs *c)
{
	memset(c, 0, sizeof(*c));
}

void
confs_free(struct confs *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
}

int
confs_reserve(struct confs *c, size_t extra)
{
	struct conf_rec *nv;
	size_t ncap;

	if (c->n + extra <= c->cap)
		return 0;
	ncap = c->cap ? c->cap * 2 : 4;
	while (ncap < c->n + extra)
		ncap *= 2;
	if ((nv = realloc(c->v, ncap * sizeof(*nv))) == NULL)
		return -LE_NOMEM;
	c->v = nv;
	c->cap = ncap;
	return 0;
}

/* The caller reserved room. */
void
confs_push(struct confs *c, uint64_t idx, const struct raft_config *conf)
{
	if (c->n >= c->cap)
		return;
	c->v[c->n].idx = idx;
	c->v[c->n].conf = *conf;
	c->n++;
}

void
confs_truncate(struct confs *c, uint64_t from)
{
	while (c->n > 0 && c->v[c->n - 1].idx >= from)
		c->n--;
}

/* Keeps the configuration in effect at upto as the base record. */
void
confs_compact(struct confs *c, uint64_t upto)
{
	size_t k = 0;

	while (k + 1 < c->n && c->v[k + 1].idx <= upto)
		k++;
	if (k > 0) {
		memmove(c->v, c->v + k, (c->n - k) * sizeof(*c->v));
		c->n -= k;
	}
}

void
confs_reset(struct confs *c, uint64_t idx, const struct raft_config *conf)
{
	c->n = 0;
	confs_push(c, idx, conf);
}

const struct raft_config *
confs_latest(const struct confs *c)
{
	return c->n > 0 ? &c->v[c->n - 1].conf : &empty_conf;
}

uint64_t
confs_latest_idx(const struct confs *c)
{
	return c->n > 0 ? c->v[c->n - 1].idx : 0;
}

const struct raft_config *
confs_at(const struct confs *c, uint64_t idx)
{
	for (size_t i = c->n; i > 0; i--)
		if (c->v[i - 1].idx <= idx)
			return &c->v[i - 1].conf;
	return &empty_conf;
}

bool
r_is_voter(const struct raft *r, uint64_t id)
{
	return raft_config_is_voter(confs_latest(&r->confs), id);
}

void
raft_config_get(const struct raft *r, bool committed, struct raft_config *out)
{
	*out = committed ? *confs_at(&r->confs, r->commit) :
	    *confs_latest(&r->confs);
}

/* ---- changes ---- */

static int
change(struct raft *r, const struct raft_config *nc, uint64_t *idx)
{
	struct raft_entry e;
	uint8_t buf[2 + RAFT_MAX_SERVERS * (10 + RAFT_ADDR_MAX)];
	size_t len;
	int rc;

	if (raft_config_check(nc) != 0)
		return -LE_INVAL;
	len = raft_config_encode(nc, buf, sizeof(buf));
	memset(&e, 0, sizeof(e));
	e.type = RAFT_ENTRY_CONFIG;
	e.len = len;
	e.data = buf;
	if ((rc = repl_leader_append(r, &e, 1)) != 0)
		return rc;
	if (idx != NULL)
		*idx = rlog_last(&r->log);
	return 0;
}

/* One change at a time, and only after the leader committed an entry of
 * its own term: otherwise a change from a previous term still in flight
 * could combine with ours into two disjoint majorities. */
static int
change_allowed(struct raft *r)
{
	if (r->state != RAFT_LEADER)
		return -RAFT_E_NOTLEADER;
	if (r->transfer_to != 0)
		return -RAFT_E_BUSY;
	if (confs_latest_idx(&r->confs) > r->commit ||
	    r->commit < r->term_start)
		return -RAFT_E_BUSY;
	return 0;
}

int
raft_add_server(struct raft *r, uint64_t id, const char *addr, uint8_t role,
    uint64_t *idx)
{
	struct raft_config nc;
	struct raft_server *s;
	int rc;

	if (id == 0 || addr == NULL || strlen(addr) > RAFT_ADDR_MAX ||
	    (role != RAFT_VOTER && role != RAFT_NONVOTER))
		return -LE_INVAL;
	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if ((rc = change_allowed(r)) != 0)
		return r_api_exit(r, rc);
	nc = *confs_latest(&r->confs);
	if (raft_config_find(&nc, id) != NULL)
		return r_api_exit(r, -LE_EXISTS);
	if (nc.n >= RAFT_MAX_SERVERS)
		return r_api_exit(r, -LE_TOOBIG);
	s = &nc.servers[nc.n++];
	memset(s, 0, sizeof(*s));
	s->id = id;
	s->role = role;
	memcpy(s->addr, addr, strlen(addr));
	return r_api_exit(r, change(r, &nc, idx));
}

static uint32_t
count_voters(const struct raft_config *c)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < c->n; i++)
		n += c->servers[i].role == RAFT_VOTER;
	return n;
}

int
raft_assign(struct raft *r, uint64_t id, uint8_t role, uint64_t *idx)
{
	struct raft_config nc;
	struct raft_server *s;
	int rc;

	if (role != RAFT_VOTER && role != RAFT_NONVOTER)
		return -LE_INVAL;
	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if ((rc = change_allowed(r)) != 0)
		return r_api_exit(r, rc);
	nc = *confs_latest(&r->confs);
	if ((s = (struct raft_server *)raft_config_find(&nc, id)) == NULL)
		return r_api_exit(r, -LE_NOTFOUND);
	if (s->role == role)
		return r_api_exit(r, -LE_EXISTS);
	if (role == RAFT_NONVOTER && count_voters(&nc) == 1)
		return r_api_exit(r, -LE_INVAL);
	s->role = role;
	return r_api_exit(r, change(r, &nc, idx));
}

int
raft_remove_server(struct raft *r, uint64_t id, uint64_t *idx)
{
	struct raft_config nc;
	uint32_t i;
	int rc;

	if ((rc = r_api_enter(r)) != 0)
		return rc;
	if ((rc = change_allowed(r)) != 0)
		return r_api_exit(r, rc);
	nc = *confs_latest(&r->confs);
	for (i = 0; i < nc.n && nc.servers[i].id != id; i++)
		;
	if (i == nc.n)
		return r_api_exit(r, -LE_NOTFOUND);
	if (nc.servers[i].role == RAFT_VOTER && count_voters(&nc) == 1)
		return r_api_exit(r, -LE_INVAL);
	memmove(&nc.servers[i], &nc.servers[i + 1],
	    (nc.n - i - 1) * sizeof(nc.servers[0]));
	nc.n--;
	return r_api_exit(r, change(r, &nc, idx));
}

/* A leader that is no longer a voter keeps leading until the change
 * commits (the new configuration's majority decides without it), then
 * steps down and lets the most up-to-date voter campaign at once. */
void
memb_after_commit(struct raft *r)
{
	const struct progress *best = NULL;
	struct raft_msg m;
	uint64_t to = 0;

	if (r->state != RAFT_LEADER || confs_latest_idx(&r->confs) > r->commit)
		return;
	if (r_is_voter(r, r->id))
		return;
	for (uint32_t i = 0; i < r->nprs; i++) {
		const struct progress *p = &r->prs[i];

		if (p->voter && (best == NULL || p->match > best->match))
			best = p;
	}
	if (best != NULL && best->match == rlog_last(&r->log))
		to = best->id;
	elect_become_follower(r, r->term, 0);
	if (to != 0) {
		memset(&m, 0, sizeof(m));
		m.type = RAFT_MSG_TIMEOUT_NOW;
		m.to = to;
		r_send(r, &m);
	}
}
