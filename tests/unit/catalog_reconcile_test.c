/* catalog_reconcile_test.c: the leader's reconcile of gossip into the
 * catalog, its pure parts (kvd/catalog_diff.c): decoding gossipd's
 * gossip.members reply (tags picked out, server tags checked, malformed
 * replies refused) and the diff against Consul's leader.go: alive members
 * registered unless in step, failed ones marked critical, left and
 * reaped ones deregistered (never ourselves), other datacenters and
 * malformed servers ignored, names without case, the round's cap, and a
 * catalog brought in step yielding nothing more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_reconcile.h"
#include "gossip_ipc.h"

/* ---- decoding ---- */

struct gm {
	const char *name, *addr;
	uint32_t status;
	const char *tags[16];	/* key, value, key, value..., NULL */
};

static void
enc_reply(struct mpw *w, int32_t code, uint64_t version, const char *self,
    const struct gm *ms, uint32_t n)
{
	struct msg_gossip_members_reply rep = { code, code ? "boom" : "",
		code ? 4 : 0, version, self, strlen(self), n, NULL };

	mpw_init(w);
	proto_begin(w, MSG_GOSSIP_MEMBERS | PROTO_REPLY, 1, 2);
	msg_gossip_members_reply_begin(w, &rep);
	for (uint32_t i = 0; i < n; i++) {
		const char *k[8], *v[8];
		size_t kl[8], vl[8];
		struct msg_gossip_member m = { 0 };
		uint32_t t = 0;

		while (ms[i].tags[2 * t] != NULL) {
			k[t] = ms[i].tags[2 * t];
			v[t] = ms[i].tags[2 * t + 1];
			kl[t] = strlen(k[t]);
			vl[t] = strlen(v[t]);
			t++;
		}
		m.name = ms[i].name;
		m.name_len = strlen(ms[i].name);
		m.addr = ms[i].addr;
		m.addr_len = strlen(ms[i].addr);
		m.port = 8301;
		m.status = ms[i].status;
		m.n_tags = t;
		m.tag_keys = k;
		m.tag_key_lens = kl;
		m.tag_vals = v;
		m.tag_val_lens = vl;
		msg_gossip_member_enc(w, &m);
	}
}

static int
decode(struct mpw *w, struct rc_members *out, struct lerr *e)
{
	struct proto_msg m;
	int rv;

	assert_int_equal(proto_decode(mpw_data(w), mpw_len(w), &m, e), 0);
	rv = rc_members_decode(&m, out, e);
	proto_msg_free(&m);	/* the members were copied */
	return rv;
}

static void
test_decode_members(void **state)
{
	const struct gm ms[] = {
		{ "s1", "10.0.0.1", GSTAT_ALIVE, { "role", "consul", "dc",
		    "dc1", "id", "11111111-2222-3333-4444-555555555555",
		    "port", "8300", "vsn", "2", "segment", "", "build",
		    "1.15.0:x", NULL } },
		{ "c1", "10.0.0.2", GSTAT_FAILED, { "role", "node", "dc",
		    "dc1", NULL } },
		{ "s2", "10.0.0.3", GSTAT_LEFT, { "role", "consul", "dc",
		    "dc1", "port", "83x0", "vsn", "2", NULL } },
		{ "bare", "10.0.0.4", GSTAT_LEAVING, { NULL } },
	};
	struct rc_members out;
	struct lerr e;
	struct mpw w;

	(void)state;
	enc_reply(&w, 0, 42, "s1", ms, 4);
	assert_int_equal(decode(&w, &out, &e), 0);
	mpw_free(&w);
	assert_int_equal(out.n, 4);
	assert_int_equal(out.version, 42);
	assert_string_equal(out.self, "s1");
	assert_string_equal(out.m[0].name, "s1");
	assert_string_equal(out.m[0].addr, "10.0.0.1");
	assert_string_equal(out.m[0].id,
	    "11111111-2222-3333-4444-555555555555");
	assert_string_equal(out.m[0].role, "consul");
	assert_string_equal(out.m[0].dc, "dc1");
	assert_int_equal(out.m[0].status, GSTAT_ALIVE);
	assert_true(out.m[0].server_tags_ok);
	assert_string_equal(out.m[1].role, "node");
	assert_string_equal(out.m[1].id, "");
	assert_int_equal(out.m[1].status, GSTAT_FAILED);
	/* A port that is not a number: not a server Consul would know. */
	assert_false(out.m[2].server_tags_ok);
	/* No tags at all: empty strings, never NULL. */
	assert_string_equal(out.m[3].role, "");
	assert_string_equal(out.m[3].dc, "");
	assert_string_equal(out.m[3].segment, "");
	assert_int_equal(out.m[3].status, GSTAT_LEAVING);
	rc_members_free(&out);
	assert_int_equal(out.n, 0);
}

static void
test_decode_refusals(void **state)
{
	const struct gm nul[] = {
		{ "a\0b", "10.0.0.1", GSTAT_ALIVE, { NULL } },
	};
	struct rc_members out;
	struct lerr e;
	struct mpw w;

	(void)state;
	/* gossipd said no */
	enc_reply(&w, -LE_UNAVAIL, 1, "s", NULL, 0);
	assert_int_not_equal(decode(&w, &out, &e), 0);
	assert_non_null(strstr(e.msg, "boom"));
	mpw_free(&w);

	/* a member with an odd tag list */
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_MEMBERS | PROTO_REPLY, 1, 2);
	mpw_array(&w, 5);
	mpw_i64(&w, 0);
	mpw_str(&w, "", 0);
	mpw_u64(&w, 3);
	mpw_str(&w, "s", 1);
	mpw_array(&w, 1);
	mpw_array(&w, 6);
	mpw_str(&w, "n", 1);
	mpw_str(&w, "1.2.3.4", 7);
	mpw_u64(&w, 8301);
	mpw_u64(&w, GSTAT_ALIVE);
	mpw_array(&w, 6);
	for (int i = 0; i < 6; i++)
		mpw_u64(&w, 1);
	mpw_array(&w, 3);
	mpw_str(&w, "role", 4);
	mpw_str(&w, "node", 4);
	mpw_str(&w, "dc", 2);
	assert_int_not_equal(decode(&w, &out, &e), 0);
	mpw_free(&w);

	/* a status past failed */
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_MEMBERS | PROTO_REPLY, 1, 2);
	mpw_array(&w, 5);
	mpw_i64(&w, 0);
	mpw_str(&w, "", 0);
	mpw_u64(&w, 3);
	mpw_str(&w, "s", 1);
	mpw_array(&w, 1);
	mpw_array(&w, 6);
	mpw_str(&w, "n", 1);
	mpw_str(&w, "1.2.3.4", 7);
	mpw_u64(&w, 8301);
	mpw_u64(&w, 9);
	mpw_array(&w, 6);
	for (int i = 0; i < 6; i++)
		mpw_u64(&w, 1);
	mpw_array(&w, 0);
	assert_int_not_equal(decode(&w, &out, &e), 0);
	mpw_free(&w);

	/* a NUL inside a name */
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_MEMBERS | PROTO_REPLY, 1, 2);
	{
		struct msg_gossip_members_reply rep = { 0, "", 0, 1, "s", 1, 1,
			NULL };
		struct msg_gossip_member m = { 0 };

		msg_gossip_members_reply_begin(&w, &rep);
		m.name = nul[0].name;
		m.name_len = 3;
		m.addr = nul[0].addr;
		m.addr_len = strlen(nul[0].addr);
		m.status = GSTAT_ALIVE;
		msg_gossip_member_enc(&w, &m);
	}
	assert_int_not_equal(decode(&w, &out, &e), 0);
	mpw_free(&w);
}

/* ---- the diff ---- */

#define ID "11111111-2222-3333-4444-555555555555"

static struct rc_member
mb(const char *name, const char *addr, uint32_t status, const char *role,
    const char *dc)
{
	struct rc_member m = { 0 };

	m.name = (char *)name;
	m.addr = (char *)addr;
	m.id = (char *)ID;
	m.dc = (char *)dc;
	m.role = (char *)role;
	m.segment = (char *)"";
	m.status = status;
	m.server_tags_ok = true;
	return m;
}

static size_t
diff(const struct rc_member *m, size_t nm, const struct rc_node *n,
    size_t nn, struct rc_cmd *out)
{
	return rc_diff(m, nm, n, nn, "leader", "dc1", out, 64);
}

static void
test_alive(void **state)
{
	struct rc_member m[] = {
		mb("new", "10.0.0.1", GSTAT_ALIVE, "node", "dc1"),
		mb("ok", "10.0.0.2", GSTAT_ALIVE, "node", "dc1"),
		mb("moved", "10.0.0.3", GSTAT_ALIVE, "consul", "dc1"),
		mb("back", "10.0.0.4", GSTAT_ALIVE, "node", "dc1"),
		mb("nocheck", "10.0.0.5", GSTAT_ALIVE, "node", "dc1"),
		mb("warn", "10.0.0.6", GSTAT_ALIVE, "node", "dc1"),
	};
	struct rc_node n[] = {
		{ "ok", "10.0.0.2", RC_SERF_PASSING },
		{ "moved", "10.9.9.9", RC_SERF_PASSING },
		{ "back", "10.0.0.4", RC_SERF_CRITICAL },
		{ "nocheck", "10.0.0.5", RC_SERF_NONE },
		{ "warn", "10.0.0.6", RC_SERF_OTHER },
	};
	struct rc_cmd out[64];
	size_t k;

	(void)state;
	k = diff(m, 6, n, 5, out);
	assert_int_equal(k, 5);
	assert_int_equal(out[0].action, RC_ALIVE);
	assert_int_equal(out[0].member, 0);
	assert_int_equal(out[0].node, SIZE_MAX);
	/* "ok" is in step: nothing for it */
	assert_int_equal(out[1].member, 2);
	assert_int_equal(out[1].node, 1);
	assert_int_equal(out[1].action, RC_ALIVE);
	assert_int_equal(out[2].member, 3);
	assert_int_equal(out[3].member, 4);
	assert_int_equal(out[4].member, 5);
	for (size_t i = 0; i < k; i++)
		assert_int_equal(out[i].action, RC_ALIVE);
}

static void
test_failed(void **state)
{
	struct rc_member m[] = {
		mb("unknown", "10.0.0.1", GSTAT_FAILED, "node", "dc1"),
		mb("live", "10.0.0.2", GSTAT_FAILED, "node", "dc1"),
		mb("dead", "10.0.0.3", GSTAT_FAILED, "node", "dc1"),
		mb("deadmoved", "10.0.0.4", GSTAT_FAILED, "node", "dc1"),
		mb("ext", "10.0.0.5", GSTAT_FAILED, "node", "dc1"),
	};
	struct rc_node n[] = {
		{ "live", "10.0.0.2", RC_SERF_PASSING },
		{ "dead", "10.0.0.3", RC_SERF_CRITICAL },
		{ "deadmoved", "10.8.8.8", RC_SERF_CRITICAL },
		{ "ext", "10.0.0.5", RC_SERF_NONE },
	};
	struct rc_cmd out[64];
	size_t k;

	(void)state;
	k = diff(m, 5, n, 4, out);
	/* unknown: the catalog has nothing to mark; dead: already critical,
	 * wherever it is (the registration would skip the node) */
	assert_int_equal(k, 2);
	assert_int_equal(out[0].action, RC_FAILED);
	assert_int_equal(out[0].member, 1);
	assert_int_equal(out[0].node, 0);
	assert_int_equal(out[1].action, RC_FAILED);
	assert_int_equal(out[1].member, 4);
}

static void
test_left_leaving_and_self(void **state)
{
	struct rc_member m[] = {
		mb("gone", "10.0.0.1", GSTAT_LEFT, "node", "dc1"),
		mb("Leader", "10.0.0.2", GSTAT_LEFT, "consul", "dc1"),
		mb("never", "10.0.0.3", GSTAT_LEFT, "node", "dc1"),
		mb("going", "10.0.0.4", GSTAT_LEAVING, "node", "dc1"),
		mb("nostatus", "10.0.0.5", GSTAT_NONE, "node", "dc1"),
	};
	struct rc_node n[] = {
		{ "gone", "10.0.0.1", RC_SERF_PASSING },
		{ "leader", "10.0.0.2", RC_SERF_PASSING },
		{ "going", "10.0.0.4", RC_SERF_PASSING },
		{ "nostatus", "10.0.0.5", RC_SERF_PASSING },
	};
	struct rc_cmd out[64];
	size_t k;

	(void)state;
	k = diff(m, 5, n, 4, out);
	assert_int_equal(k, 1);
	assert_int_equal(out[0].action, RC_DEREGISTER);
	assert_int_equal(out[0].member, 0);
	assert_int_equal(out[0].node, 0);
}

static void
test_reaped(void **state)
{
	struct rc_member m[] = {
		mb("Here", "10.0.0.1", GSTAT_ALIVE, "node", "dc1"),
		mb("far", "10.1.0.1", GSTAT_ALIVE, "node", "dc2"),
	};
	struct rc_node n[] = {
		{ "here", "10.0.0.1", RC_SERF_PASSING },
		{ "forgotten", "10.0.0.2", RC_SERF_CRITICAL },
		{ "external", "10.0.0.3", RC_SERF_NONE },
		{ "leader", "10.0.0.4", RC_SERF_PASSING },
		{ "far", "10.1.0.1", RC_SERF_PASSING },
		{ "alsogone", "10.0.0.5", RC_SERF_PASSING },
	};
	struct rc_cmd out[64];
	size_t k;

	(void)state;
	k = diff(m, 2, n, 6, out);
	/* forgotten and alsogone: gossip knows them no more. external has
	 * no serfHealth (registered through the API), the leader is us, far
	 * is known (in another datacenter). */
	assert_int_equal(k, 2);
	assert_int_equal(out[0].action, RC_DEREGISTER);
	assert_int_equal(out[0].member, SIZE_MAX);
	assert_int_equal(out[0].node, 1);
	assert_int_equal(out[1].node, 5);
}

static void
test_members_ignored(void **state)
{
	struct rc_member m[] = {
		mb("otherdc", "10.0.0.1", GSTAT_ALIVE, "node", "dc2"),
		mb("norole", "10.0.0.2", GSTAT_ALIVE, "", "dc1"),
		mb("badserver", "10.0.0.3", GSTAT_ALIVE, "consul", "dc1"),
		mb("segmented", "10.0.0.4", GSTAT_ALIVE, "consul", "dc1"),
		mb("goodserver", "10.0.0.5", GSTAT_ALIVE, "consul", "dc1"),
	};
	struct rc_cmd out[64];
	size_t k;

	(void)state;
	m[2].server_tags_ok = false;
	m[3].segment = (char *)"alpha";
	k = diff(m, 5, NULL, 0, out);
	assert_int_equal(k, 1);
	assert_int_equal(out[0].member, 4);
}

static void
test_round_cap(void **state)
{
	struct rc_member m[10];
	char names[10][8];
	struct rc_cmd out[4];

	(void)state;
	for (int i = 0; i < 10; i++) {
		snprintf(names[i], sizeof(names[i]), "n%d", i);
		m[i] = mb(names[i], "10.0.0.1", GSTAT_ALIVE, "node", "dc1");
	}
	assert_int_equal(rc_diff(m, 10, NULL, 0, "x", "dc1", out, 4), 4);
	assert_int_equal(out[3].member, 3);
	assert_int_equal(rc_diff(m, 10, NULL, 0, "x", "dc1", out, 0), 0);
}

/* Applying a round's commands to a model catalog, the next diff is
 * empty: the reconcile settles, with no write per poll. */
struct model {
	struct rc_node n[32];
	char name[32][16], addr[32][16];
	size_t len;
};

static size_t
model_find(struct model *c, const char *name)
{
	for (size_t i = 0; i < c->len; i++)
		if (strcasecmp(c->n[i].name, name) == 0)
			return i;
	return SIZE_MAX;
}

static void
model_apply(struct model *c, const struct rc_member *m,
    const struct rc_cmd *cmd, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		const char *name = cmd[i].member != SIZE_MAX ?
		    m[cmd[i].member].name : c->n[cmd[i].node].name;
		size_t at = model_find(c, name);

		switch (cmd[i].action) {
		case RC_ALIVE:
			if (at == SIZE_MAX) {
				at = c->len++;
				snprintf(c->name[at], 16, "%s", name);
				c->n[at].name = c->name[at];
			}
			snprintf(c->addr[at], 16, "%s", m[cmd[i].member].addr);
			c->n[at].address = c->addr[at];
			c->n[at].serf = RC_SERF_PASSING;
			break;
		case RC_FAILED:
			assert_true(at != SIZE_MAX);
			c->n[at].serf = RC_SERF_CRITICAL;
			break;
		case RC_DEREGISTER:
			assert_true(at != SIZE_MAX);
			c->n[at] = c->n[c->len - 1];
			memcpy(c->name[at], c->name[c->len - 1], 16);
			memcpy(c->addr[at], c->addr[c->len - 1], 16);
			c->n[at].name = c->name[at];
			c->n[at].address = c->addr[at];
			c->len--;
			break;
		}
	}
}

static void
test_settles(void **state)
{
	struct rc_member m[] = {
		mb("a", "10.0.0.1", GSTAT_ALIVE, "node", "dc1"),
		mb("b", "10.0.0.2", GSTAT_FAILED, "node", "dc1"),
		mb("c", "10.0.0.3", GSTAT_LEFT, "node", "dc1"),
		mb("leader", "10.0.0.9", GSTAT_ALIVE, "consul", "dc1"),
	};
	struct model c = { .len = 0 };
	struct rc_cmd out[64];
	size_t k;
	const char *seed[] = { "b", "c", "zombie" };

	(void)state;
	for (int i = 0; i < 3; i++) {
		snprintf(c.name[i], 16, "%s", seed[i]);
		snprintf(c.addr[i], 16, "10.0.0.%d", i + 2);
		c.n[i] = (struct rc_node){ c.name[i], c.addr[i],
			RC_SERF_PASSING };
	}
	c.len = 3;
	k = diff(m, 4, c.n, c.len, out);
	/* a and leader join, b fails, c left, zombie was reaped */
	assert_int_equal(k, 5);
	model_apply(&c, m, out, k);
	assert_int_equal(diff(m, 4, c.n, c.len, out), 0);
	assert_int_equal(c.len, 3);	/* a, b, leader */
	/* A member moving to a new address: one command, then quiet. */
	m[0].addr = (char *)"10.0.0.77";
	k = diff(m, 4, c.n, c.len, out);
	assert_int_equal(k, 1);
	model_apply(&c, m, out, k);
	assert_int_equal(diff(m, 4, c.n, c.len, out), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_members),
		cmocka_unit_test(test_decode_refusals),
		cmocka_unit_test(test_alive),
		cmocka_unit_test(test_failed),
		cmocka_unit_test(test_left_leaving_and_self),
		cmocka_unit_test(test_reaped),
		cmocka_unit_test(test_members_ignored),
		cmocka_unit_test(test_round_cap),
		cmocka_unit_test(test_settles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
