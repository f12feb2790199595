/* catalog_msgs_test.c: the catalog's messages and records (proto/
 * catalog_msgs.c): round trips of register, deregister and read, nil
 * versus empty maps and lists, the register and deregister commands
 * inside a Raft entry, and rejection of malformed payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define S(x) x, sizeof(x) - 1
#define SET(o, f, lit) ((o).f = (lit), (o).f##_len = sizeof(lit) - 1)

static const char *tk[] = { "lan", "wan" };
static const size_t tkl[] = { 3, 3 };
static const char *tv[] = { "10.0.0.1", "1.2.3.4" };
static const size_t tvl[] = { 8, 7 };
static const char *tags[] = { "a", "b,c" };
static const size_t tagl[] = { 1, 3 };

static struct msg_cat_check
check_fixture(void)
{
	struct msg_cat_check c = { 0 };

	c.node = "n1"; c.node_len = 2;
	SET(c, check_id, "serfHealth");
	SET(c, name, "Serf Health Status");
	SET(c, status, "passing");
	SET(c, output, "Agent alive and reachable");
	c.service_tags = (struct msg_cat_strlist){ true, 2, tags, tagl, NULL };
	SET(c, type, "ttl");
	SET(c, interval, "10s");
	c.exposed_port = 21500;
	SET(c, definition, "{}");
	c.create_index = 3;
	c.modify_index = 9;
	return c;
}

static void
encode(struct mpw *w, uint32_t type, void (*fn)(struct mpw *, const void *),
    const void *arg)
{
	mpw_init(w);
	proto_begin(w, type, 7, 11);
	fn(w, arg);
}

static void
reg_enc(struct mpw *w, const void *a)
{
	msg_cat_register_enc(w, a);
}

static void
test_register_roundtrip(void **state)
{
	struct msg_cat_check chk = check_fixture(), oc;
	struct msg_cat_register r = { 0 }, o;
	struct proto_msg m;
	struct lerr e;
	struct mpw w;
	const char *k, *v;
	size_t kl, vl;

	(void)state;
	SET(r.node, id, "40e4a748-2192-161a-0510-9bf59fe950b5");
	SET(r.node, node, "n1");
	SET(r.node, address, "10.0.0.1");
	SET(r.node, dc, "dc1");
	r.node.tagged = (struct msg_cat_strmap){ true, 2, tk, tkl, tv, tvl,
		NULL };
	r.node.meta = (struct msg_cat_strmap){ true, 0, NULL, NULL, NULL,
		NULL, NULL };
	r.skip_node_update = true;
	r.n_checks = 1;
	r.checks = &chk;
	encode(&w, MSG_CAT_REGISTER, reg_enc, &r);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(msg_cat_register_dec(&m, &o, &e), 0);
	assert_int_equal(o.node.id_len, 36);
	assert_memory_equal(o.node.node, "n1", 2);
	assert_memory_equal(o.node.dc, "dc1", 3);
	assert_true(o.node.tagged.present);
	assert_int_equal(o.node.tagged.n, 2);
	msg_cat_strmap_at(&o.node.tagged, 1, &k, &kl, &v, &vl);
	assert_int_equal(kl, 3);
	assert_memory_equal(k, "wan", 3);
	assert_memory_equal(v, "1.2.3.4", vl);
	/* An empty map is not nil. */
	assert_true(o.node.meta.present);
	assert_int_equal(o.node.meta.n, 0);
	assert_true(o.skip_node_update);
	assert_int_equal(o.n_checks, 1);
	msg_cat_register_check(&o, 0, &oc);
	assert_int_equal(oc.check_id_len, 10);
	assert_memory_equal(oc.check_id, "serfHealth", 10);
	assert_memory_equal(oc.output, "Agent alive and reachable",
	    oc.output_len);
	assert_true(oc.service_tags.present);
	assert_int_equal(oc.service_tags.n, 2);
	msg_cat_strlist_at(&oc.service_tags, 1, &k, &kl);
	assert_int_equal(kl, 3);
	assert_memory_equal(k, "b,c", 3);
	assert_int_equal(oc.exposed_port, 21500);
	assert_int_equal(oc.create_index, 3);
	assert_int_equal(oc.modify_index, 9);
	assert_memory_equal(oc.definition, "{}", 2);
	proto_msg_free(&m);
	mpw_free(&w);
}

/* kvd proposes the registration httpd sent, decoded: the encoders take
 * the decoded side as well. */
static void
test_reencode_decoded(void **state)
{
	struct msg_cat_check chk = check_fixture(), oc;
	struct msg_cat_register r = { 0 }, o, o2;
	struct proto_msg m;
	struct proto_obj ob;
	struct lerr e;
	struct mpw w, w2;
	const char *k, *v;
	size_t kl, vl;

	(void)state;
	SET(r.node, node, "n1");
	SET(r.node, address, "a");
	r.node.tagged = (struct msg_cat_strmap){ true, 2, tk, tkl, tv, tvl,
		NULL };
	r.n_checks = 1;
	r.checks = &chk;
	encode(&w, MSG_CAT_REGISTER, reg_enc, &r);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(msg_cat_register_dec(&m, &o, &e), 0);
	mpw_init(&w2);
	msg_cat_register_enc(&w2, &o);
	assert_int_equal(proto_obj_decode(mpw_data(&w2), mpw_len(&w2), &ob,
	    &e), 0);
	assert_int_equal(msg_cat_register_dec_obj(ob.root, &o2, &e), 0);
	assert_int_equal(o2.node.tagged.n, 2);
	msg_cat_strmap_at(&o2.node.tagged, 0, &k, &kl, &v, &vl);
	assert_memory_equal(v, "10.0.0.1", vl);
	msg_cat_register_check(&o2, 0, &oc);
	assert_int_equal(oc.service_tags.n, 2);
	assert_memory_equal(oc.check_id, "serfHealth", oc.check_id_len);
	proto_obj_free(&ob);
	mpw_free(&w2);
	proto_msg_free(&m);
	mpw_free(&w);
}

static void
test_nil_maps_stay_nil(void **state)
{
	struct msg_cat_node n = { 0 }, o;
	struct proto_obj ob;
	struct lerr e;
	struct mpw w;

	(void)state;
	SET(n, node, "x");
	mpw_init(&w);
	msg_cat_node_enc(&w, &n);
	assert_int_equal(proto_obj_decode(mpw_data(&w), mpw_len(&w), &ob, &e),
	    0);
	assert_int_equal(msg_cat_node_dec(ob.root, &o), 0);
	assert_false(o.tagged.present);
	assert_false(o.meta.present);
	assert_int_equal(o.id_len, 0);
	proto_obj_free(&ob);
	mpw_free(&w);
}

static void
dereg_enc(struct mpw *w, const void *a)
{
	msg_cat_deregister_enc(w, a);
}

static void
read_enc(struct mpw *w, const void *a)
{
	msg_cat_read_enc(w, a);
}

static void
test_deregister_and_read_roundtrip(void **state)
{
	struct msg_cat_deregister d = { S("n1"), "", 0, S("c1") }, od;
	static const char *fk[] = { "env" }, *fv[] = { "prod" };
	static const size_t fkl[] = { 3 }, fvl[] = { 4 };
	struct msg_cat_read q = { CATR_NODES, "", 0, { true, 1, fk, fkl, fv,
		fvl, NULL }, 5, 1000, CONS_STALE }, oq;
	struct proto_msg m;
	struct lerr e;
	struct mpw w;
	const char *k, *v;
	size_t kl, vl;

	(void)state;
	encode(&w, MSG_CAT_DEREGISTER, dereg_enc, &d);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(msg_cat_deregister_dec(&m, &od, &e), 0);
	assert_int_equal(od.service_id_len, 0);
	assert_memory_equal(od.check_id, "c1", 2);
	proto_msg_free(&m);
	mpw_free(&w);

	encode(&w, MSG_CAT_READ, read_enc, &q);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(msg_cat_read_dec(&m, &oq, &e), 0);
	assert_int_equal(oq.what, CATR_NODES);
	assert_int_equal(oq.filter.n, 1);
	msg_cat_strmap_at(&oq.filter, 0, &k, &kl, &v, &vl);
	assert_memory_equal(v, "prod", 4);
	assert_int_equal(oq.min_index, 5);
	assert_int_equal(oq.consistency, CONS_STALE);
	proto_msg_free(&m);
	mpw_free(&w);

	q.what = 9;
	encode(&w, MSG_CAT_READ, read_enc, &q);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_not_equal(msg_cat_read_dec(&m, &oq, &e), 0);
	proto_msg_free(&m);
	mpw_free(&w);
}

/* The catalog's commands inside a Raft entry, next to a KV one. */
static void
test_sm_commands(void **state)
{
	struct msg_cat_check chk = check_fixture(), oc;
	struct msg_sm_cmd c = { 0 }, o;
	struct proto_obj ob;
	struct lerr e;
	struct mpw w;

	(void)state;
	c.type = SMC_CATALOG_REGISTER;
	c.origin = 77;
	c.seq = 5;
	SET(c.reg.node, node, "n1");
	SET(c.reg.node, address, "a");
	c.reg.n_checks = 1;
	c.reg.checks = &chk;
	mpw_init(&w);
	msg_sm_cmd_enc(&w, &c);
	assert_int_equal(proto_obj_decode(mpw_data(&w), mpw_len(&w), &ob, &e),
	    0);
	assert_int_equal(msg_sm_cmd_dec(ob.root, &o, &e), 0);
	assert_int_equal(o.type, SMC_CATALOG_REGISTER);
	assert_int_equal(o.origin, 77);
	assert_int_equal(o.seq, 5);
	assert_memory_equal(o.reg.node.node, "n1", 2);
	msg_cat_register_check(&o.reg, 0, &oc);
	assert_memory_equal(oc.name, "Serf Health Status", oc.name_len);
	proto_obj_free(&ob);
	mpw_free(&w);

	memset(&c, 0, sizeof(c));
	c.type = SMC_CATALOG_DEREGISTER;
	SET(c.dereg, node, "n2");
	mpw_init(&w);
	msg_sm_cmd_enc(&w, &c);
	assert_int_equal(proto_obj_decode(mpw_data(&w), mpw_len(&w), &ob, &e),
	    0);
	assert_int_equal(msg_sm_cmd_dec(ob.root, &o, &e), 0);
	assert_int_equal(o.type, SMC_CATALOG_DEREGISTER);
	assert_memory_equal(o.dereg.node, "n2", 2);
	proto_obj_free(&ob);
	mpw_free(&w);

	memset(&c, 0, sizeof(c));
	c.type = SMC_KV;
	c.kv.op = KVW_SET;
	c.kv.key = "k";
	c.kv.key_len = 1;
	mpw_init(&w);
	msg_sm_cmd_enc(&w, &c);
	assert_int_equal(proto_obj_decode(mpw_data(&w), mpw_len(&w), &ob, &e),
	    0);
	assert_int_equal(msg_sm_cmd_dec(ob.root, &o, &e), 0);
	assert_int_equal(o.kv.op, KVW_SET);
	proto_obj_free(&ob);
	mpw_free(&w);
}

/* Hand-built payloads a decoder must refuse. */
static void
expect_bad_register(void (*build)(struct mpw *))
{
	struct msg_cat_register o;
	struct proto_msg m;
	struct lerr e;
	struct mpw w;

	mpw_init(&w);
	proto_begin(&w, MSG_CAT_REGISTER, 1, 1);
	build(&w);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_not_equal(msg_cat_register_dec(&m, &o, &e), 0);
	proto_msg_free(&m);
	mpw_free(&w);
}

static void
node_prefix(struct mpw *w, int n)
{
	mpw_array(w, (uint32_t)n);
	mpw_str(w, "", 0);
	mpw_str(w, "n", 1);
	mpw_str(w, "a", 1);
	mpw_str(w, "dc1", 3);
}

static void
bad_odd_map(struct mpw *w)
{
	mpw_array(w, 3);
	node_prefix(w, 8);
	mpw_array(w, 3);	/* an odd map */
	mpw_str(w, "a", 1);
	mpw_str(w, "b", 1);
	mpw_str(w, "c", 1);
	mpw_nil(w);
	mpw_u64(w, 0);
	mpw_u64(w, 0);
	mpw_bool(w, false);
	mpw_array(w, 0);
}

static void
bad_map_value(struct mpw *w)
{
	mpw_array(w, 3);
	node_prefix(w, 8);
	mpw_array(w, 2);
	mpw_str(w, "a", 1);
	mpw_u64(w, 5);		/* not a string */
	mpw_nil(w);
	mpw_u64(w, 0);
	mpw_u64(w, 0);
	mpw_bool(w, false);
	mpw_array(w, 0);
}

static void
bad_short_node(struct mpw *w)
{
	mpw_array(w, 3);
	node_prefix(w, 4);
	mpw_bool(w, false);
	mpw_array(w, 0);
}

static void
bad_check(struct mpw *w)
{
	mpw_array(w, 3);
	node_prefix(w, 8);
	mpw_nil(w);
	mpw_nil(w);
	mpw_u64(w, 0);
	mpw_u64(w, 0);
	mpw_bool(w, false);
	mpw_array(w, 1);
	mpw_array(w, 2);	/* a check of two fields */
	mpw_str(w, "n", 1);
	mpw_str(w, "c", 1);
}

static void
bad_extra(struct mpw *w)
{
	mpw_array(w, 4);
	node_prefix(w, 8);
	mpw_nil(w);
	mpw_nil(w);
	mpw_u64(w, 0);
	mpw_u64(w, 0);
	mpw_bool(w, false);
	mpw_array(w, 0);
	mpw_nil(w);
}

static void
test_malformed(void **state)
{
	struct msg_sm_cmd o;
	struct proto_obj ob;
	struct lerr e;
	struct mpw w;

	(void)state;
	expect_bad_register(bad_odd_map);
	expect_bad_register(bad_map_value);
	expect_bad_register(bad_short_node);
	expect_bad_register(bad_check);
	expect_bad_register(bad_extra);

	/* A command of an unknown type. */
	mpw_init(&w);
	mpw_array(&w, 4);
	mpw_u64(&w, 99);
	mpw_u64(&w, 0);
	mpw_u64(&w, 0);
	mpw_array(&w, 0);
	assert_int_equal(proto_obj_decode(mpw_data(&w), mpw_len(&w), &ob, &e),
	    0);
	assert_int_not_equal(msg_sm_cmd_dec(ob.root, &o, &e), 0);
	proto_obj_free(&ob);
	mpw_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_roundtrip),
		cmocka_unit_test(test_reencode_decoded),
		cmocka_unit_test(test_nil_maps_stay_nil),
		cmocka_unit_test(test_deregister_and_read_roundtrip),
		cmocka_unit_test(test_sm_commands),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
