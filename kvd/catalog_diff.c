/* catalog_diff.c: the reconcile's decisions, with no I/O
 * (catalog_reconcile.h), after Consul's leader.go. */
#include "catalog_reconcile.h"
#include "gossip_ipc.h"

#include <stdlib.h>
#include <string.h>

static char *
dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		if (n)
			memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static bool
is_eq(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* Go's strconv.Atoi on a tag value: an optional sign, then digits. */
static bool
atoi_ok(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	if (*s == '\0' || strlen(s) > 18)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

void
rc_members_free(struct rc_members *ms)
{
	for (size_t i = 0; i < ms->n; i++) {
		struct rc_member *m = &ms->m[i];

		free(m->name);
		free(m->addr);
		free(m->id);
		free(m->dc);
		free(m->role);
		free(m->segment);
	}
	free(ms->m);
	free(ms->self);
	memset(ms, 0, sizeof(*ms));
}

static int
member_copy(const struct msg_gossip_member *g, struct rc_member *m)
{
	const char *port = NULL, *vsn = NULL, *expect = NULL, *raft = NULL;
	char *vals[4] = { NULL, NULL, NULL, NULL };
	bool ok = true;

	memset(m, 0, sizeof(*m));
	m->status = g->status;
	if ((m->name = dupn(g->name, g->name_len)) == NULL ||
	    (m->addr = dupn(g->addr, g->addr_len)) == NULL)
		return -LE_NOMEM;
	for (uint32_t i = 0; i < g->n_tags; i++) {
		const char *k, *v;
		size_t kl, vl;
		char **dst = NULL;

		msg_gossip_member_tag(g, i, &k, &kl, &v, &vl);
		if (is_eq(k, kl, "id"))
			dst = &m->id;
		else if (is_eq(k, kl, "dc"))
			dst = &m->dc;
		else if (is_eq(k, kl, "role"))
			dst = &m->role;
		else if (is_eq(k, kl, "segment"))
			dst = &m->segment;
		else if (is_eq(k, kl, "port"))
			dst = &vals[0];
		else if (is_eq(k, kl, "vsn"))
			dst = &vals[1];
		else if (is_eq(k, kl, "expect"))
			dst = &vals[2];
		else if (is_eq(k, kl, "raft_vsn"))
			dst = &vals[3];
		if (dst == NULL)
			continue;
		free(*dst);	/* a repeated tag: the last one counts */
		if ((*dst = dupn(v, vl)) == NULL) {
			ok = false;
			break;
		}
	}
	port = vals[0];
	vsn = vals[1];
	expect = vals[2];
	raft = vals[3];
	if (ok)
		m->server_tags_ok = port != NULL && atoi_ok(port) &&
		    vsn != NULL && atoi_ok(vsn) &&
		    (expect == NULL || atoi_ok(expect)) &&
		    (raft == NULL || atoi_ok(raft));
	for (int i = 0; i < 4; i++)
		free(vals[i]);
	if (ok && ((m->id == NULL && (m->id = dupn("", 0)) == NULL) ||
	    (m->dc == NULL && (m->dc = dupn("", 0)) == NULL) ||
	    (m->role == NULL && (m->role = dupn("", 0)) == NULL) ||
	    (m->segment == NULL && (m->segment = dupn("", 0)) == NULL)))
		ok = false;
	return ok ? 0 : -LE_NOMEM;
}

int
rc_members_decode(const struct proto_msg *reply, struct rc_members *out,
    struct lerr *e)
{
	struct msg_gossip_members_reply rep;
	int rv;

	memset(out, 0, sizeof(*out));
	if ((rv = msg_gossip_members_reply_dec(reply, &rep, e)) != 0)
		return rv;
	if (rep.code != 0)
		return lerr_set(e, LE_STATE, "gossip.members: %.*s",
		    (int)rep.text_len, rep.text);
	out->version = rep.version;
	if ((out->self = dupn(rep.self, rep.self_len)) == NULL)
		return lerr_set(e, LE_NOMEM, "out of memory");
	if (rep.n_members > 0 &&
	    (out->m = calloc(rep.n_members, sizeof(*out->m))) == NULL) {
		rc_members_free(out);
		return lerr_set(e, LE_NOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < rep.n_members; i++) {
		struct msg_gossip_member g;

		if (msg_gossip_member_dec(&rep.members[i], &g) != 0) {
			rc_members_free(out);
			return lerr_set(e, LE_MALFORMED,
			    "gossip.members: member %u is malformed", i);
		}
		out->n = i + 1;
		if (memchr(g.name, '\0', g.name_len) != NULL ||
		    memchr(g.addr, '\0', g.addr_len) != NULL) {
			rc_members_free(out);
			return lerr_set(e, LE_MALFORMED,
			    "gossip.members: member %u: NUL in a name", i);
		}
		if ((rv = member_copy(&g, &out->m[i])) != 0) {
			rc_members_free(out);
			return lerr_set(e, -rv, "out of memory");
		}
	}
	return 0;
}

/* ---- the diff ---- */

static int
casecmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y || x == '\0')
			return x - y;
	}
}

struct named {
	const char *name;
	size_t ix;
};

static int
named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = casecmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->ix < y->ix ? -1 : x->ix > y->ix;
}

/* The index of the first entry named name (any case), or SIZE_MAX. */
static size_t
lookup(const struct named *tab, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (casecmp(tab[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && casecmp(tab[lo].name, name) == 0 ? tab[lo].ix :
	    SIZE_MAX;
}

/* shouldHandleMember: a client ("node") or a server of our datacenter
 * (and, for a server, the default segment and well-formed tags). */
static bool
should_handle(const struct rc_member *m, const char *dc)
{
	if (strcmp(m->dc, dc) != 0)
		return false;
	if (strcmp(m->role, "node") == 0)
		return true;
	return strcmp(m->role, "consul") == 0 && m->server_tags_ok &&
	    m->segment[0] == '\0';
}

size_t
rc_diff(const struct rc_member *m, size_t nm, const struct rc_node *n,
    size_t nn, const char *self, const char *dc, struct rc_cmd *out,
    size_t max)
{
	struct named *nodes = NULL, *members = NULL;
	size_t k = 0;

	if (max == 0)
		return 0;
	if ((nn > 0 && (nodes = calloc(nn, sizeof(*nodes))) == NULL) ||
	    (nm > 0 && (members = calloc(nm, sizeof(*members))) == NULL)) {
		free(nodes);
		return 0;
	}
	for (size_t i = 0; i < nn; i++)
		nodes[i] = (struct named){ n[i].name, i };
	for (size_t i = 0; i < nm; i++)
		members[i] = (struct named){ m[i].name, i };
	if (nn > 0)
		qsort(nodes, nn, sizeof(*nodes), named_cmp);
	if (nm > 0)
		qsort(members, nm, sizeof(*members), named_cmp);

	for (size_t i = 0; i < nm && k < max; i++) {
		const struct rc_member *mb = &m[i];
		size_t ni = lookup(nodes, nn, mb->name);
		const struct rc_node *nd = ni != SIZE_MAX ? &n[ni] : NULL;

		if (!should_handle(mb, dc))
			continue;
		switch (mb->status) {
		case GSTAT_ALIVE:
			/* handleAliveMember: in step when the address is
			 * the member's and serfHealth passes. */
			if (nd != NULL && strcmp(nd->address, mb->addr) == 0 &&
			    nd->serf == RC_SERF_PASSING)
				break;
			out[k++] = (struct rc_cmd){ RC_ALIVE, i, ni };
			break;
		case GSTAT_FAILED:
			/* handleFailedMember: only a node the catalog has;
			 * the registration skips the node itself, so a
			 * critical serfHealth is all there is to write. */
			if (nd == NULL || nd->serf == RC_SERF_CRITICAL)
				break;
			out[k++] = (struct rc_cmd){ RC_FAILED, i, ni };
			break;
		case GSTAT_LEFT:
			/* handleLeftMember: never ourselves. */
			if (nd == NULL || casecmp(mb->name, self) == 0)
				break;
			out[k++] = (struct rc_cmd){ RC_DEREGISTER, i, ni };
			break;
		default:
			/* leaving (and none): wait for left or failed */
			break;
		}
	}
	/* reconcileReaped: nodes with a serfHealth check that gossip no
	 * longer knows at all (any status, any datacenter). */
	for (size_t i = 0; i < nn && k < max; i++) {
		if (n[i].serf == RC_SERF_NONE)
			continue;
		if (lookup(members, nm, n[i].name) != SIZE_MAX)
			continue;
		if (casecmp(n[i].name, self) == 0)
			continue;
		out[k++] = (struct rc_cmd){ RC_DEREGISTER, SIZE_MAX, i };
	}
	free(nodes);
	free(members);
	return k;
}
