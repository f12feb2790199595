/* catalog_state_test.c: kvd's catalog tables against Consul's semantics
 * (agent/consul/state/catalog.go): registration with and without checks,
 * unchanged data keeping ModifyIndex and the table indexes, renames by ID
 * and the refusal of a name a live node holds, checks for another node or
 * an unknown service refused whole, SkipNodeUpdate, deregistration of a
 * check and of a node with its checks, names matched without case, nil
 * versus empty maps, map order, what blocking queries are told, the
 * replica digest, corrupt stored bytes, and the applied index committed
 * with the data (RocksDB, across a reopen). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog_state.h"
#include "kv_state.h"

#define ID1 "11111111-2222-3333-4444-555555555555"
#define ID2 "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

struct fx {
	struct store *s;
	struct kv_state *ks;
	struct cat_state *cs;
	char touched[2048];	/* "topic:node," per touch */
	struct lerr e;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct lerr e;

	if (f == NULL || store_open_mem(&f->s) != 0 ||
	    kv_state_open(f->s, &f->ks, &e) != 0 ||
	    cat_state_open(f->s, &f->cs) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	cat_state_close(f->cs);
	kv_state_close(f->ks);
	store_close(f->s);
	free(f);
	return 0;
}

static void
on_touch(void *arg, int topic, const char *lc, size_t len)
{
	struct fx *f = arg;
	size_t o = strlen(f->touched);

	snprintf(f->touched + o, sizeof(f->touched) - o, "%d:%.*s,", topic,
	    (int)len, lc);
}

/* ---- building requests ---- */

struct req {
	struct msg_cat_register r;
	struct msg_cat_check checks[4];
	const char *tk[4], *tv[4], *mk[4], *mv[4];
	size_t tkl[4], tvl[4], mkl[4], mvl[4];
};

#define L(s) ((s) ? strlen(s) : 0)

static void
req_node(struct req *q, const char *id, const char *node, const char *addr)
{
	memset(q, 0, sizeof(*q));
	q->r.node.id = id ? id : "";
	q->r.node.id_len = L(id);
	q->r.node.node = node;
	q->r.node.node_len = L(node);
	q->r.node.address = addr ? addr : "";
	q->r.node.address_len = L(addr);
	q->r.node.dc = "dc1";
	q->r.node.dc_len = 3;
	q->r.checks = q->checks;
}

static void
req_tag(struct req *q, const char *k, const char *v)
{
	struct msg_cat_strmap *m = &q->r.node.tagged;
	uint32_t i = m->n;

	q->tk[i] = k; q->tkl[i] = strlen(k);
	q->tv[i] = v; q->tvl[i] = strlen(v);
	m->present = true;
	m->n = i + 1;
	m->keys = q->tk; m->klens = q->tkl;
	m->vals = q->tv; m->vlens = q->tvl;
}

static void
req_meta_empty(struct req *q)
{
	q->r.node.meta.present = true;
	q->r.node.meta.n = 0;
}

static struct msg_cat_check *
req_check(struct req *q, const char *node, const char *id,
    const char *status, const char *output)
{
	struct msg_cat_check *c = &q->checks[q->r.n_checks++];

	memset(c, 0, sizeof(*c));
	c->node = node; c->node_len = L(node);
	c->check_id = id; c->check_id_len = L(id);
	c->name = id; c->name_len = L(id);
	c->status = status ? status : ""; c->status_len = L(status);
	c->output = output ? output : ""; c->output_len = L(output);
	c->definition = "{}"; c->definition_len = 2;
	return c;
}

/* One command in a batch of its own, as kvd applies entries. */
static int
reg(struct fx *f, uint64_t index, const struct req *q)
{
	int rv;

	assert_int_equal(kv_batch_begin(f->ks), 0);
	rv = cat_apply_register(f->cs, kv_state_batch(f->ks), index, &q->r,
	    on_touch, f, &f->e);
	assert_int_equal(kv_apply_noop(f->ks, index), 0);
	assert_int_equal(kv_batch_commit(f->ks, false), 0);
	return rv;
}

static int
dereg(struct fx *f, uint64_t index, const char *node, const char *check,
    const char *svc)
{
	struct msg_cat_deregister d = { node, L(node), svc ? svc : "",
		L(svc), check ? check : "", L(check) };
	int rv;

	assert_int_equal(kv_batch_begin(f->ks), 0);
	rv = cat_apply_deregister(f->cs, kv_state_batch(f->ks), index, &d,
	    on_touch, f, &f->e);
	assert_int_equal(kv_apply_noop(f->ks, index), 0);
	assert_int_equal(kv_batch_commit(f->ks, false), 0);
	return rv;
}

/* ---- reading back ---- */

/* proto_obj borrows from the buffer: keep the buffer with it. */
struct got {
	void *raw;
	struct proto_obj o;
	struct msg_cat_node n;
	struct msg_cat_check c;
};

static bool
node_of(struct fx *f, const char *name, struct got *g)
{
	size_t len;
	struct lerr e;

	memset(g, 0, sizeof(*g));
	if (cat_node_get(f->cs, name, strlen(name), &g->raw, &len) != 0)
		return false;
	assert_int_equal(proto_obj_decode(g->raw, len, &g->o, &e), 0);
	assert_int_equal(msg_cat_node_dec(g->o.root, &g->n), 0);
	return true;
}

static bool
check_of(struct fx *f, const char *node, const char *id, struct got *g)
{
	size_t len;
	struct lerr e;

	memset(g, 0, sizeof(*g));
	if (cat_check_get(f->cs, node, strlen(node), id, strlen(id), &g->raw,
	    &len) != 0)
		return false;
	assert_int_equal(proto_obj_decode(g->raw, len, &g->o, &e), 0);
	assert_int_equal(msg_cat_check_dec(g->o.root, &g->c), 0);
	return true;
}

static void
got_free(struct got *g)
{
	proto_obj_free(&g->o);
	free(g->raw);
}

static bool
field_is(const char *p, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

static int
count_one(void *arg, const void *rec, size_t len)
{
	(*(int *)arg)++;
	return 0;
}

static int
nodes_count(struct fx *f)
{
	int n = 0;

	assert_int_equal(cat_walk_nodes(f->cs, count_one, &n), 0);
	return n;
}

static int
checks_count(struct fx *f, const char *node)
{
	int n = 0;

	assert_int_equal(cat_walk_node_checks(f->cs, node, strlen(node),
	    count_one, &n), 0);
	return n;
}

/* ---- tests ---- */

static void
test_register_node(void **state)
{
	struct fx *f = *state;
	struct req q;
	struct got g;

	req_node(&q, ID1, "n1", "10.0.0.1");
	req_tag(&q, "lan", "10.0.0.1");
	assert_int_equal(reg(f, 5, &q), 0);
	assert_string_equal(f->touched, "1:,2:n1,");
	assert_true(node_of(f, "n1", &g));
	assert_true(field_is(g.n.id, g.n.id_len, ID1));
	assert_true(field_is(g.n.address, g.n.address_len, "10.0.0.1"));
	assert_true(field_is(g.n.dc, g.n.dc_len, "dc1"));
	assert_int_equal(g.n.create_index, 5);
	assert_int_equal(g.n.modify_index, 5);
	assert_true(g.n.tagged.present);
	assert_false(g.n.meta.present);
	got_free(&g);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_NODES), 5);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_CHECKS), 0);
	assert_int_equal(cat_node_index(f->cs, "n1", 2), 5);
	assert_int_equal(kv_state_applied(f->ks), 5);
	/* The KV table did not move. */
	assert_int_equal(kv_state_kv_index(f->ks), 0);
}

/* Consul skips a registration that changes nothing: no write, the same
 * ModifyIndex, no table index bump, no watch fires. */
static void
test_unchanged_keeps_indexes(void **state)
{
	struct fx *f = *state;
	struct req q;
	struct got g;

	req_node(&q, ID1, "n1", "10.0.0.1");
	req_check(&q, "n1", "web", "passing", "ok");
	assert_int_equal(reg(f, 5, &q), 0);
	f->touched[0] = '\0';
	assert_int_equal(reg(f, 6, &q), 0);
	assert_string_equal(f->touched, "");
	assert_true(node_of(f, "n1", &g));
	assert_int_equal(g.n.modify_index, 5);
	got_free(&g);
	assert_true(check_of(f, "n1", "web", &g));
	assert_int_equal(g.c.create_index, 5);
	assert_int_equal(g.c.modify_index, 5);
	got_free(&g);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_NODES), 5);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_CHECKS), 5);
	assert_int_equal(kv_state_applied(f->ks), 6);

	/* A new address moves the node only. */
	q.r.node.address = "10.0.0.2";
	assert_int_equal(reg(f, 7, &q), 0);
	assert_string_equal(f->touched, "1:,2:n1,");
	assert_true(node_of(f, "n1", &g));
	assert_int_equal(g.n.create_index, 5);
	assert_int_equal(g.n.modify_index, 7);
	got_free(&g);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_NODES), 7);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_CHECKS), 5);

	/* New output moves the check and the node's own index. */
	f->touched[0] = '\0';
	q.checks[0].output = "still ok";
	q.checks[0].output_len = 8;
	assert_int_equal(reg(f, 8, &q), 0);
	assert_string_equal(f->touched, "3:n1,");
	assert_true(check_of(f, "n1", "web", &g));
	assert_int_equal(g.c.create_index, 5);
	assert_int_equal(g.c.modify_index, 8);
	got_free(&g);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_NODES), 7);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_CHECKS), 8);
	assert_int_equal(cat_node_index(f->cs, "n1", 2), 8);

	/* HealthCheck.IsSame ignores Type, Interval, Timeout, ExposedPort. */
	f->touched[0] = '\0';
	q.checks[0].type = "ttl";
	q.checks[0].type_len = 3;
	q.checks[0].exposed_port = 99;
	assert_int_equal(reg(f, 9, &q), 0);
	assert_string_equal(f->touched, "");
	assert_true(check_of(f, "n1", "web", &g));
	assert_int_equal(g.c.modify_index, 8);
	assert_int_equal(g.c.type_len, 0);
	got_free(&g);
}

static void
test_check_defaults_and_order(void **state)
{
	struct fx *f = *state;
	struct req q;
	struct got g;

	req_node(&q, NULL, "n1", "10.0.0.1");
	req_check(&q, "n1", "Zed", NULL, NULL);
	req_check(&q, "N1", "alpha", "warning", "w");
	assert_int_equal(reg(f, 3, &q), 0);
	/* No status: critical, as ensureCheckTxn defaults it. */
	assert_true(check_of(f, "n1", "zed", &g));
	assert_true(field_is(g.c.status, g.c.status_len, "critical"));
	assert_true(field_is(g.c.check_id, g.c.check_id_len, "Zed"));
	got_free(&g);
	/* A check may name its node in another case. */
	assert_true(check_of(f, "N1", "ALPHA", &g));
	assert_true(field_is(g.c.node, g.c.node_len, "N1"));
	got_free(&g);
	assert_int_equal(checks_count(f, "n1"), 2);
}

/* Walks in check ID order, case folded (Consul's lowercase index). */
struct order {
	char ids[256];
};

static int
collect_id(void *arg, const void *rec, size_t len)
{
	struct order *o = arg;
	struct proto_obj ob;
	struct msg_cat_check c;
	struct lerr e;
	size_t at = strlen(o->ids);

	assert_int_equal(proto_obj_decode(rec, len, &ob, &e), 0);
	assert_int_equal(msg_cat_check_dec(ob.root, &c), 0);
	snprintf(o->ids + at, sizeof(o->ids) - at, "%.*s,",
	    (int)c.check_id_len, c.check_id);
	proto_obj_free(&ob);
	return 0;
}

static void
test_walk_order(void **state)
{
	struct fx *f = *state;
	struct order o = { "" };
	struct req q;

	req_node(&q, NULL, "n1", "a");
	req_check(&q, "n1", "b", NULL, NULL);
	req_check(&q, "n1", "C", NULL, NULL);
	req_check(&q, "n1", "a", NULL, NULL);
	assert_int_equal(reg(f, 3, &q), 0);
	req_node(&q, NULL, "n10", "a");
	req_check(&q, "n10", "x", NULL, NULL);
	assert_int_equal(reg(f, 4, &q), 0);
	/* n1's checks only, not n10's. */
	assert_int_equal(cat_walk_node_checks(f->cs, "N1", 2, collect_id, &o),
	    0);
	assert_string_equal(o.ids, "a,b,C,");
	assert_int_equal(nodes_count(f), 2);
}

static void
serf_node(struct fx *f, uint64_t idx, const char *id, const char *name,
    const char *addr, const char *status)
{
	struct req q;

	req_node(&q, id, name, addr);
	req_check(&q, name, CAT_SERF_CHECK_ID, status, "x");
	assert_int_equal(reg(f, idx, &q), 0);
}

/* A name held by a node gossip says is alive cannot be taken by another
 * ID; nothing of the refused command is written. */
static void
test_rename_refused(void **state)
{
	struct fx *f = *state;
	struct req q;
	struct got g;

	serf_node(f, 5, ID1, "n1", "10.0.0.1", "passing");
	f->touched[0] = '\0';
	req_node(&q, ID2, "n1", "10.0.0.9");
	req_check(&q, "n1", "other", "passing", NULL);
	assert_int_equal(reg(f, 6, &q), -LE_INVAL);
	assert_string_equal(f->e.msg, "failed inserting node: Error while "
	    "renaming Node ID: \"" ID2 "\": Node name n1 is reserved by node "
	    ID1 " with name n1 (10.0.0.1)");
	assert_string_equal(f->touched, "");
	assert_true(node_of(f, "n1", &g));
	assert_true(field_is(g.n.id, g.n.id_len, ID1));
	assert_int_equal(g.n.modify_index, 5);
	got_free(&g);
	assert_false(check_of(f, "n1", "other", &g));
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_NODES), 5);
	/* The entry still consumed its index. */
	assert_int_equal(kv_state_applied(f->ks), 6);

	/* Renaming ID2's node (another name) onto n1 is refused too, with
	 * the address in the text. */
	req_node(&q, ID2, "n2", "10.0.0.9");
	assert_int_equal(reg(f, 7, &q), 0);
	req_node(&q, ID2, "N1", "10.0.0.9");
	assert_int_equal(reg(f, 8, &q), -LE_INVAL);
	assert_string_equal(f->e.msg, "failed inserting node: Error while "
	    "renaming Node ID: \"" ID2 "\" (10.0.0.9): Node name N1 is "
	    "reserved by node " ID1 " with name n1 (10.0.0.1)");
	assert_true(node_of(f, "n2", &g));
	got_free(&g);
}

/* A node that gossip says failed (or that has no serfHealth check) can
 * be replaced by another ID; the ID index follows. */
static void
test_rename_over_dead_node(void **state)
{
	struct fx *f = *state;
	struct req q;
	struct got g;

	serf_node(f, 5, ID1, "n1", "10.0.0.1", "critical");
	req_node(&q, ID2, "n1", "10.0.0.2");
	assert_int_equal(reg(f, 6, &q), 0);
	assert_true(node_of(f, "n1", &g));
	assert_true(field_is(g.n.id, g.n.id_len, ID2));
	assert_int_equal(g.n.create_index, 5);
	assert_int_equal(g.n.modify_index, 6);
	got_free(&g);
	/* Its checks stay: they belong to the name. */
	assert_int_equal(checks_count(f, "n1"), 1);
	/* ID1 is free again: a new node may carry it. */
	req_node(&q, ID1, "n3", "10.0.0.3");
	assert_int_equal(reg(f, 7, &q), 0);
	assert_int_equal(nodes_count(f), 2);

	/* No serfHealth at all: an external node, safe to replace. */
	req_node(&q, NULL, "ext", "1.1.1.1");
	assert_int_equal(reg(f, 8, &q), 0);
	req_node(&q, "cccccccc-bbbb-cccc-dddd-eeeeeeeeeeee", "ext", "1.1.1.2");
	assert_int_equal(reg(f, 9, &q), 0);
}

/* The same ID under a new name: the old name and its checks go, the node
 * keeps its CreateIndex. */
static void
test_rename_by_id(void **state)
{
	struct fx *f = *state;
	struct req q;
	struct got g;

	serf_node(f, 5, ID1, "old", "10.0.0.1", "passing");
	f->touched[0] = '\0';
	req_node(&q, ID1, "new", "10.0.0.1");
	assert_int_equal(reg(f, 6, &q), 0);
	assert_false(node_of(f, "old", &g));
	assert_int_equal(checks_count(f, "old"), 0);
	assert_true(node_of(f, "new", &g));
	assert_int_equal(g.n.create_index, 5);
	assert_int_equal(g.n.modify_index, 6);
	got_free(&g);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_CHECKS), 6);
	assert_int_equal(cat_node_index(f->cs, "old", 3), 0);
	assert_string_equal(f->touched, "3:old,1:,2:old,1:,2:new,");
	/* A case-only rename keeps the key and updates the name. */
	req_node(&q, ID1, "NEW", "10.0.0.1");
	assert_int_equal(reg(f, 7, &q), 0);
	assert_true(node_of(f, "new", &g));
	assert_true(field_is(g.n.node, g.n.node_len, "NEW"));
	assert_int_equal(g.n.create_index, 5);
	got_free(&g);
	assert_int_equal(nodes_count(f), 1);
}

static void
test_check_refusals_write_nothing(void **state)
{
	struct fx *f = *state;
	struct req q;
	struct got g;

	req_node(&q, NULL, "n1", "10.0.0.1");
	req_check(&q, "n1", "ok", "passing", NULL);
	req_check(&q, "n2", "bad", "passing", NULL);
	assert_int_equal(reg(f, 3, &q), -LE_INVAL);
	assert_string_equal(f->e.msg,
	    "check node \"n2\" does not match node \"n1\"");
	assert_false(node_of(f, "n1", &g));

	req_node(&q, NULL, "n1", "10.0.0.1");
	req_check(&q, "n1", "ok", "passing", NULL);
	req_check(&q, "n1", "svc", "passing", NULL)->service_id = "web";
	q.checks[1].service_id_len = 3;
	assert_int_equal(reg(f, 4, &q), -LE_INVAL);
	assert_string_equal(f->e.msg, "failed inserting check on node "
	    "\"n1\": Missing service registration");
	assert_false(node_of(f, "n1", &g));
	assert_false(check_of(f, "n1", "ok", &g));
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_NODES), 0);
	assert_int_equal(kv_state_applied(f->ks), 4);
}

static void
test_bad_requests(void **state)
{
	struct fx *f = *state;
	struct req q;

	req_node(&q, NULL, "", "a");
	assert_int_equal(reg(f, 1, &q), -LE_INVAL);
	assert_string_equal(f->e.msg, "Must provide node");
	req_node(&q, "nope", "n", "a");
	assert_int_equal(reg(f, 2, &q), -LE_INVAL);
	assert_string_equal(f->e.msg, "Bad node ID: uuid string is wrong "
	    "length");
	req_node(&q, "11111111x2222-3333-4444-555555555555", "n", "a");
	assert_int_equal(reg(f, 3, &q), -LE_INVAL);
	assert_string_equal(f->e.msg, "Bad node ID: uuid is improperly "
	    "formatted");
	req_node(&q, "1111111g-2222-3333-4444-555555555555", "n", "a");
	assert_int_equal(reg(f, 4, &q), -LE_INVAL);
	assert_string_equal(f->e.msg, "Bad node ID: encoding/hex: invalid "
	    "byte: U+0067 'g'");
	q.r.node.id = "";
	q.r.node.id_len = 0;
	q.r.node.node = "a\0b";
	q.r.node.node_len = 3;
	assert_int_equal(reg(f, 5, &q), -LE_INVAL);
	assert_int_equal(dereg(f, 6, "", NULL, NULL), -LE_INVAL);
	assert_string_equal(f->e.msg, "Must provide node");
	assert_int_equal(nodes_count(f), 0);
	assert_int_equal(kv_state_applied(f->ks), 6);
}

static void
test_skip_node_update(void **state)
{
	struct fx *f = *state;
	struct req q;
	struct got g;

	serf_node(f, 5, ID1, "n1", "10.0.0.1", "passing");
	req_node(&q, ID1, "n1", "10.9.9.9");
	q.r.skip_node_update = true;
	req_check(&q, "n1", CAT_SERF_CHECK_ID, "critical", "down");
	assert_int_equal(reg(f, 6, &q), 0);
	assert_true(node_of(f, "n1", &g));
	assert_true(field_is(g.n.address, g.n.address_len, "10.0.0.1"));
	assert_int_equal(g.n.modify_index, 5);
	got_free(&g);
	assert_true(check_of(f, "n1", CAT_SERF_CHECK_ID, &g));
	assert_true(field_is(g.c.status, g.c.status_len, "critical"));
	got_free(&g);
	/* An unknown node is still created. */
	req_node(&q, NULL, "n2", "10.0.0.2");
	q.r.skip_node_update = true;
	assert_int_equal(reg(f, 7, &q), 0);
	assert_true(node_of(f, "n2", &g));
	got_free(&g);
}

static void
test_deregister(void **state)
{
	struct fx *f = *state;
	struct req q;
	struct got g;

	req_node(&q, ID1, "n1", "10.0.0.1");
	req_check(&q, "n1", "a", "passing", NULL);
	req_check(&q, "n1", "b", "passing", NULL);
	assert_int_equal(reg(f, 5, &q), 0);
	req_node(&q, NULL, "n2", "10.0.0.2");
	assert_int_equal(reg(f, 6, &q), 0);

	/* One check. */
	f->touched[0] = '\0';
	assert_int_equal(dereg(f, 7, "N1", "A", NULL), 0);
	assert_string_equal(f->touched, "3:n1,");
	assert_false(check_of(f, "n1", "a", &g));
	assert_int_equal(checks_count(f, "n1"), 1);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_CHECKS), 7);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_NODES), 6);
	assert_int_equal(cat_node_index(f->cs, "n1", 2), 7);

	/* Missing things: success, nothing moves. A service ID wins over a
	 * check ID (and no service exists). */
	f->touched[0] = '\0';
	assert_int_equal(dereg(f, 8, "n1", "nope", NULL), 0);
	assert_int_equal(dereg(f, 9, "ghost", NULL, NULL), 0);
	assert_int_equal(dereg(f, 10, "n1", "b", "web"), 0);
	assert_string_equal(f->touched, "");
	assert_int_equal(checks_count(f, "n1"), 1);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_CHECKS), 7);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_NODES), 6);

	/* The whole node, with its checks and its ID. */
	assert_int_equal(dereg(f, 11, "n1", NULL, NULL), 0);
	assert_string_equal(f->touched, "3:n1,1:,2:n1,");
	assert_false(node_of(f, "n1", &g));
	assert_int_equal(checks_count(f, "n1"), 0);
	assert_int_equal(cat_node_index(f->cs, "n1", 2), 0);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_CHECKS), 11);
	assert_int_equal(cat_table_index(f->cs, CAT_TABLE_NODES), 11);
	assert_int_equal(nodes_count(f), 1);
	/* Its ID can name another node without a rename. */
	serf_node(f, 12, ID1, "n3", "10.0.0.3", "passing");
	assert_true(node_of(f, "n3", &g));
	assert_int_equal(g.n.create_index, 12);
	got_free(&g);
	assert_int_equal(kv_state_applied(f->ks), 12);
}

/* Go keeps a nil map apart from an empty one (reflect.DeepEqual), and map
 * order never matters; a later duplicate key wins. */
static void
test_maps(void **state)
{
	struct fx *f = *state;
	struct req q;
	struct got g;
	const char *k, *v;
	size_t kl, vl;

	req_node(&q, NULL, "n1", "a");
	assert_int_equal(reg(f, 3, &q), 0);
	req_meta_empty(&q);
	assert_int_equal(reg(f, 4, &q), 0);
	assert_true(node_of(f, "n1", &g));
	assert_int_equal(g.n.modify_index, 4);
	assert_true(g.n.meta.present);
	got_free(&g);

	req_node(&q, NULL, "n1", "a");
	req_meta_empty(&q);
	req_tag(&q, "wan", "2");
	req_tag(&q, "lan", "0");
	req_tag(&q, "lan", "1");
	assert_int_equal(reg(f, 5, &q), 0);
	assert_true(node_of(f, "n1", &g));
	assert_int_equal(g.n.tagged.n, 2);
	msg_cat_strmap_at(&g.n.tagged, 0, &k, &kl, &v, &vl);
	assert_true(field_is(k, kl, "lan") && field_is(v, vl, "1"));
	msg_cat_strmap_at(&g.n.tagged, 1, &k, &kl, &v, &vl);
	assert_true(field_is(k, kl, "wan") && field_is(v, vl, "2"));
	got_free(&g);

	req_node(&q, NULL, "n1", "a");
	req_meta_empty(&q);
	req_tag(&q, "lan", "1");
	req_tag(&q, "wan", "2");
	assert_int_equal(reg(f, 6, &q), 0);
	assert_true(node_of(f, "n1", &g));
	assert_int_equal(g.n.modify_index, 5);
	got_free(&g);
}

static void
replay(struct fx *f)
{
	struct req q;

	serf_node(f, 3, ID1, "n1", "10.0.0.1", "passing");
	req_node(&q, NULL, "n2", "10.0.0.2");
	req_tag(&q, "lan", "10.0.0.2");
	req_check(&q, "n2", "c", "warning", "out");
	assert_int_equal(reg(f, 4, &q), 0);
	assert_int_equal(dereg(f, 5, "n1", CAT_SERF_CHECK_ID, NULL), 0);
}

static void
test_digest(void **state)
{
	struct fx *f = *state, *g2;
	uint64_t seed = 0x1234, d1, d2;
	struct req q;

	assert_int_equal(cat_state_digest(f->cs, seed), seed);
	replay(f);
	d1 = cat_state_digest(f->cs, seed);
	assert_true(d1 != seed);
	assert_int_equal(setup((void **)&g2), 0);
	replay(g2);
	d2 = cat_state_digest(g2->cs, seed);
	assert_true(d1 == d2);
	req_node(&q, NULL, "n2", "10.0.0.3");
	assert_int_equal(reg(g2, 6, &q), 0);
	assert_true(cat_state_digest(g2->cs, seed) != d1);
	teardown((void **)&g2);
}

/* Damaged stored bytes are a store failure, never a refusal. */
static void
test_corrupt_record(void **state)
{
	struct fx *f = *state;
	struct store_batch *b = store_batch_new(f->s);
	struct req q;

	assert_non_null(b);
	assert_int_equal(store_batch_put(b, "c:n:n1", 6, "\x93\x01", 2), 0);
	assert_int_equal(store_batch_commit(b, false), 0);
	store_batch_free(b);
	req_node(&q, NULL, "n1", "a");
	assert_int_equal(kv_batch_begin(f->ks), 0);
	assert_int_equal(cat_apply_register(f->cs, kv_state_batch(f->ks), 1,
	    &q.r, NULL, NULL, &f->e), -LE_CORRUPT);
	kv_state_abort(f->ks);
	assert_int_equal(dereg(f, 2, "n1", NULL, NULL), -LE_CORRUPT);
}

/* ---- RocksDB: the catalog commits with the applied index ---- */

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void
test_rocks_reopen(void **state)
{
	char dir[] = "/tmp/catalog_state_testXXXXXX";
	const char *tmp = getenv("TMPDIR");
	char path[512];
	struct fx f = { 0 };
	struct lerr e;
	struct got g;

	(void)state;
	if (tmp != NULL && strlen(tmp) < 400)
		snprintf(path, sizeof(path), "%s/catalog_stateXXXXXX", tmp);
	else
		snprintf(path, sizeof(path), "%s", dir);
	assert_non_null(mkdtemp(path));
	assert_int_equal(store_open_rocks(path, &f.s, &e), 0);
	assert_int_equal(kv_state_open(f.s, &f.ks, &e), 0);
	assert_int_equal(cat_state_open(f.s, &f.cs), 0);
	serf_node(&f, 9, ID1, "n1", "10.0.0.1", "passing");
	cat_state_close(f.cs);
	kv_state_close(f.ks);
	store_close(f.s);

	assert_int_equal(store_open_rocks(path, &f.s, &e), 0);
	assert_int_equal(kv_state_open(f.s, &f.ks, &e), 0);
	assert_int_equal(cat_state_open(f.s, &f.cs), 0);
	assert_int_equal(kv_state_applied(f.ks), 9);
	assert_true(node_of(&f, "n1", &g));
	assert_int_equal(g.n.create_index, 9);
	got_free(&g);
	assert_int_equal(checks_count(&f, "n1"), 1);
	assert_int_equal(cat_table_index(f.cs, CAT_TABLE_CHECKS), 9);
	cat_state_close(f.cs);
	kv_state_close(f.ks);
	store_close(f.s);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_register_node),
		T(test_unchanged_keeps_indexes),
		T(test_check_defaults_and_order),
		T(test_walk_order),
		T(test_rename_refused),
		T(test_rename_over_dead_node),
		T(test_rename_by_id),
		T(test_check_refusals_write_nothing),
		T(test_bad_requests),
		T(test_skip_node_update),
		T(test_deregister),
		T(test_maps),
		T(test_digest),
		T(test_corrupt_record),
#undef T
		cmocka_unit_test(test_rocks_reopen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
