/* fwd_msgs_test.c: a client agent's forwarded requests (proto/
 * fwd_msgs.c and the RW_KV_FWD messages of proto/raft_wire.c): the
 * request's payload copied as is into raft.kv_forward and back, replies
 * with and without a server's answer, the check every forwarded payload
 * passes (each forwarded type, replies, MSG_ERROR), and malformed or
 * oversized input refused with an error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "raft_wire.h"

#define S(x) x, sizeof(x) - 1

/* The payload of a message alone (what a forward carries). */
static void
kv_write_payload(struct mpw *w, const char *key)
{
	struct msg_kv_write kw = { KVW_SET, key, strlen(key), "v\0x", 3, 42,
		0, NULL, 0 };

	mpw_init(w);
	msg_kv_write_enc(w, &kw);
}

static void
kv_read_payload(struct mpw *w, uint32_t mode)
{
	struct msg_kv_read q = { mode, S("a/b"), NULL, 0, 17, 5000,
		CONS_STALE };

	mpw_init(w);
	msg_kv_read_enc(w, &q);
}

static void
test_forward_round_trip(void **state)
{
	struct mpw req, p, w;
	struct proto_msg m, fm;
	struct msg_raft_kv_forward f;
	struct msg_kv_write kw;
	struct lerr e;

	(void)state;
	/* A kv.write as httpd sends it... */
	mpw_init(&req);
	proto_begin(&req, MSG_KV_WRITE, 3, 4);
	kv_write_payload(&p, "k/1");
	mpw_raw(&req, mpw_data(&p), mpw_len(&p));
	assert_int_equal(proto_decode(mpw_data(&req), mpw_len(&req), &m, &e),
	    0);
	/* ...goes to raftd with its payload byte for byte. */
	mpw_init(&w);
	proto_begin(&w, MSG_RAFT_KV_FORWARD, 5, 6);
	msg_raft_kv_forward_enc_msg(&w, &m, 7000);
	assert_int_equal(w.err, 0);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &fm, &e), 0);
	assert_int_equal(msg_raft_kv_forward_dec(&fm, &f, &e), 0);
	assert_int_equal(f.type, MSG_KV_WRITE);
	assert_int_equal(f.timeout_ms, 7000);
	assert_int_equal(f.payload_len, mpw_len(&p));
	assert_memory_equal(f.payload, mpw_data(&p), mpw_len(&p));
	assert_int_equal(kv_fwd_check(f.type, f.payload, f.payload_len, &e), 0);
	{
		/* and decodes as the original did. */
		struct proto_obj o;
		struct proto_msg pm = { 0 };

		assert_int_equal(proto_obj_decode(f.payload, f.payload_len,
		    &o, &e), 0);
		pm.payload = o.root;
		assert_int_equal(msg_kv_write_dec(&pm, &kw, &e), 0);
		assert_int_equal(kw.flags, 42);
		assert_int_equal(kw.value_len, 3);
		assert_memory_equal(kw.value, "v\0x", 3);
		proto_obj_free(&o);
	}
	proto_msg_free(&fm);
	proto_msg_free(&m);
	mpw_free(&w);
	mpw_free(&p);
	mpw_free(&req);
}

static int
forward_dec(const struct msg_raft_kv_forward *in)
{
	struct mpw w;
	struct proto_msg m;
	struct msg_raft_kv_forward f;
	struct lerr e;
	int rv;

	mpw_init(&w);
	proto_begin(&w, MSG_RAFT_KV_FORWARD, 1, 2);
	msg_raft_kv_forward_enc(&w, in);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	rv = msg_raft_kv_forward_dec(&m, &f, &e);
	proto_msg_free(&m);
	mpw_free(&w);
	return rv;
}

static void
test_forward_refusals(void **state)
{
	struct mpw p;
	struct msg_raft_kv_forward f;

	(void)state;
	kv_read_payload(&p, KVR_GET);
	f = (struct msg_raft_kv_forward){ MSG_KV_READ, mpw_data(&p),
		mpw_len(&p), 1000 };
	assert_int_equal(forward_dec(&f), 0);
	/* Only kvd's client requests are forwarded: not a snapshot. */
	f.type = MSG_KV_SNAPSHOT;
	assert_int_equal(forward_dec(&f), -LE_MALFORMED);
	f.type = MSG_KV_READ | PROTO_REPLY;
	assert_int_equal(forward_dec(&f), -LE_MALFORMED);
	f.type = MSG_KV_READ;
	f.timeout_ms = 0;
	assert_int_equal(forward_dec(&f), -LE_MALFORMED);
	f.timeout_ms = KV_FWD_TIMEOUT_MAX + 1;
	assert_int_equal(forward_dec(&f), -LE_MALFORMED);
	f.timeout_ms = 1000;
	f.payload_len = 0;
	assert_int_equal(forward_dec(&f), -LE_MALFORMED);
	mpw_free(&p);
}

static void
test_forward_reply(void **state)
{
	struct msg_raft_kv_forward_reply in = { 0, NULL, 0,
		MSG_KV_WRITE | PROTO_REPLY, "\x94\x00\xa0\xc3\x05", 5,
		S("127.0.0.1:8300") }, out;
	struct mpw w;
	struct proto_msg m;
	struct lerr e;

	(void)state;
	mpw_init(&w);
	proto_begin(&w, MSG_RAFT_KV_FORWARD | PROTO_REPLY, 1, 2);
	msg_raft_kv_forward_reply_enc(&w, &in);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(msg_raft_kv_forward_reply_dec(&m, &out, &e), 0);
	assert_int_equal(out.code, 0);
	assert_int_equal(out.type, MSG_KV_WRITE | PROTO_REPLY);
	assert_int_equal(out.payload_len, 5);
	assert_memory_equal(out.payload, "\x94\x00\xa0\xc3\x05", 5);
	assert_int_equal(out.server_len, 14);
	assert_int_equal(kv_fwd_check(out.type, out.payload, out.payload_len,
	    &e), 0);
	proto_msg_free(&m);
	mpw_free(&w);
	/* Success must carry a reply to pass on. */
	in.type = MSG_KV_WRITE;
	mpw_init(&w);
	proto_begin(&w, MSG_RAFT_KV_FORWARD | PROTO_REPLY, 1, 2);
	msg_raft_kv_forward_reply_enc(&w, &in);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(msg_raft_kv_forward_reply_dec(&m, &out, &e),
	    -LE_MALFORMED);
	proto_msg_free(&m);
	mpw_free(&w);
	/* A failed hop: code and text only. */
	in = (struct msg_raft_kv_forward_reply){ -LE_UNAVAIL,
		S("No known Consul servers"), 0, NULL, 0, NULL, 0 };
	mpw_init(&w);
	proto_begin(&w, MSG_RAFT_KV_FORWARD | PROTO_REPLY, 1, 2);
	msg_raft_kv_forward_reply_enc(&w, &in);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(msg_raft_kv_forward_reply_dec(&m, &out, &e), 0);
	assert_int_equal(out.code, -LE_UNAVAIL);
	assert_int_equal(out.text_len, 23);
	proto_msg_free(&m);
	mpw_free(&w);
}

static void
test_check_each_type(void **state)
{
	struct mpw p;
	struct lerr e;
	struct msg_cat_read cr = { CATR_NODES, NULL, 0, { 0 }, 3, 100,
		CONS_DEFAULT };
	struct msg_cat_deregister dr = { S("n1"), S(""), S("c1") };
	struct msg_cat_register reg = { 0 };
	struct msg_error me = { -LE_NOLEADER, S("No cluster leader") };

	(void)state;
	kv_read_payload(&p, KVR_KEYS);
	assert_int_equal(kv_fwd_check(MSG_KV_READ, mpw_data(&p), mpw_len(&p),
	    &e), 0);
	/* A payload checked as another type's is refused. */
	assert_int_equal(kv_fwd_check(MSG_KV_WRITE, mpw_data(&p),
	    mpw_len(&p), &e), -LE_MALFORMED);
	/* Trailing bytes after the object: refused. */
	mpw_raw(&p, "\xc0", 1);
	assert_int_equal(kv_fwd_check(MSG_KV_READ, mpw_data(&p), mpw_len(&p),
	    &e), -LE_MALFORMED);
	mpw_free(&p);
	/* A mode kvd does not know would make it exit: refused here. */
	kv_read_payload(&p, 9);
	assert_int_equal(kv_fwd_check(MSG_KV_READ, mpw_data(&p), mpw_len(&p),
	    &e), -LE_MALFORMED);
	mpw_free(&p);
	mpw_init(&p);
	msg_cat_read_enc(&p, &cr);
	assert_int_equal(kv_fwd_check(MSG_CAT_READ, mpw_data(&p),
	    mpw_len(&p), &e), 0);
	mpw_free(&p);
	mpw_init(&p);
	msg_cat_deregister_enc(&p, &dr);
	assert_int_equal(kv_fwd_check(MSG_CAT_DEREGISTER, mpw_data(&p),
	    mpw_len(&p), &e), 0);
	mpw_free(&p);
	reg.node.node = "n1";
	reg.node.node_len = 2;
	reg.node.address = "10.0.0.1";
	reg.node.address_len = 8;
	reg.node.dc = "dc1";
	reg.node.dc_len = 3;
	mpw_init(&p);
	msg_cat_register_enc(&p, &reg);
	assert_int_equal(kv_fwd_check(MSG_CAT_REGISTER, mpw_data(&p),
	    mpw_len(&p), &e), 0);
	/* Not forwarded: a snapshot request, a status, garbage types. */
	assert_int_equal(kv_fwd_check(MSG_KV_SNAPSHOT, mpw_data(&p),
	    mpw_len(&p), &e), -LE_MALFORMED);
	assert_int_equal(kv_fwd_check(MSG_KV_STATUS, mpw_data(&p),
	    mpw_len(&p), &e), -LE_MALFORMED);
	assert_int_equal(kv_fwd_check(MSG_ERROR, mpw_data(&p),
	    mpw_len(&p), &e), -LE_MALFORMED);
	mpw_free(&p);
	mpw_init(&p);
	msg_error_enc(&p, &me);
	assert_int_equal(kv_fwd_check(MSG_ERROR | PROTO_REPLY, mpw_data(&p),
	    mpw_len(&p), &e), 0);
	mpw_free(&p);
	/* Too large for a request before anything is decoded. */
	assert_int_equal(kv_fwd_check(MSG_KV_WRITE, "", KV_FWD_REQ_MAX + 1,
	    &e), -LE_TOOBIG);
}

static void
read_reply_payload(struct mpw *w, int bad_item)
{
	struct msg_kv_read_reply rep = { 0, NULL, 0, 12, true, 0, 2, NULL };
	struct msg_kv_entry ent = { S("a/b"), "xy", 2, 3, 12, 0, 0, NULL, 0 };

	mpw_init(w);
	msg_kv_read_reply_begin(w, &rep);
	msg_kv_entry_enc(w, &ent);
	if (bad_item)
		mpw_u64(w, 7);		/* neither an entry nor a key */
	else
		mpw_str(w, S("a/c"));
}

static void
test_check_replies(void **state)
{
	struct mpw p;
	struct lerr e;

	(void)state;
	read_reply_payload(&p, 0);
	assert_int_equal(kv_fwd_check(MSG_KV_READ | PROTO_REPLY, mpw_data(&p),
	    mpw_len(&p), &e), 0);
	/* A KV entry is no catalog record. */
	assert_int_equal(kv_fwd_check(MSG_CAT_READ | PROTO_REPLY, mpw_data(&p),
	    mpw_len(&p), &e), -LE_MALFORMED);
	mpw_free(&p);
	read_reply_payload(&p, 1);
	assert_int_equal(kv_fwd_check(MSG_KV_READ | PROTO_REPLY, mpw_data(&p),
	    mpw_len(&p), &e), -LE_MALFORMED);
	mpw_free(&p);
}

static void
test_read_rewait(void **state)
{
	struct mpw p, out;
	struct lerr e;
	uint64_t wait = 99;
	struct proto_obj o;
	struct proto_msg m = { 0 };
	struct msg_kv_read q;
	struct msg_cat_read cq = { CATR_NODE, S("n1"), { 0 }, 0, 4000,
		CONS_STALE };

	(void)state;
	/* kv_read_payload: min_index 17, wait 5000. */
	kv_read_payload(&p, KVR_RECURSE);
	assert_int_equal(kv_fwd_read_wait(MSG_KV_READ, mpw_data(&p),
	    mpw_len(&p), &wait, &e), 0);
	assert_int_equal(wait, 5000);
	mpw_init(&out);
	assert_int_equal(kv_fwd_read_rewait(MSG_KV_READ, mpw_data(&p),
	    mpw_len(&p), 1234, &out, &e), 0);
	assert_int_equal(proto_obj_decode(mpw_data(&out), mpw_len(&out), &o,
	    &e), 0);
	m.payload = o.root;
	assert_int_equal(msg_kv_read_dec(&m, &q, &e), 0);
	/* Only the wait changed. */
	assert_int_equal(q.wait_ms, 1234);
	assert_int_equal(q.min_index, 17);
	assert_int_equal(q.mode, KVR_RECURSE);
	assert_int_equal(q.consistency, CONS_STALE);
	assert_int_equal(q.key_len, 3);
	assert_memory_equal(q.key, "a/b", 3);
	proto_obj_free(&o);
	mpw_free(&out);
	/* Writes have no wait. */
	assert_int_equal(kv_fwd_read_wait(MSG_KV_WRITE, mpw_data(&p),
	    mpw_len(&p), &wait, &e), -LE_INVAL);
	mpw_free(&p);
	/* A catalog read without an index does not block. */
	mpw_init(&p);
	msg_cat_read_enc(&p, &cq);
	wait = 99;
	assert_int_equal(kv_fwd_read_wait(MSG_CAT_READ, mpw_data(&p),
	    mpw_len(&p), &wait, &e), 0);
	assert_int_equal(wait, 0);
	mpw_free(&p);
}

/* ---- the server wire ---- */

static int
wire(struct mpw *w, struct rw_msg *m, struct proto_obj *o)
{
	struct lerr e;

	return rw_decode(mpw_data(w), mpw_len(w), o, m, &e);
}

static void
test_wire_kv_fwd(void **state)
{
	struct mpw p, w;
	struct rw_kv_fwd f;
	struct rw_msg m;
	struct proto_obj o;
	struct lerr e;

	(void)state;
	kv_write_payload(&p, "a");
	f = (struct rw_kv_fwd){ 77, S("127.0.0.1:9300"), MSG_KV_WRITE,
		mpw_data(&p), mpw_len(&p), 7000 };
	mpw_init(&w);
	rw_kv_fwd_enc(&w, 5, &f);
	assert_int_equal(wire(&w, &m, &o), 0);
	assert_int_equal(m.type, RW_KV_FWD);
	assert_int_equal(m.from, 5);
	assert_int_equal(m.u.kv_fwd.req_id, 77);
	assert_int_equal(m.u.kv_fwd.reply_addr_len, 14);
	assert_memory_equal(m.u.kv_fwd.reply_addr, "127.0.0.1:9300", 14);
	assert_int_equal(m.u.kv_fwd.mtype, MSG_KV_WRITE);
	assert_int_equal(m.u.kv_fwd.timeout_ms, 7000);
	assert_int_equal(m.u.kv_fwd.payload_len, mpw_len(&p));
	assert_memory_equal(m.u.kv_fwd.payload, mpw_data(&p), mpw_len(&p));
	proto_obj_free(&o);
	/* Truncated: refused. */
	assert_int_not_equal(rw_decode(mpw_data(&w), mpw_len(&w) - 1, &o, &m,
	    &e), 0);
	proto_obj_free(&o);
	mpw_free(&w);
	/* A payload kvd would not decode as that type is refused on the
	 * wire, before any sibling sees it. */
	f.mtype = MSG_CAT_DEREGISTER;
	mpw_init(&w);
	rw_kv_fwd_enc(&w, 5, &f);
	assert_int_equal(wire(&w, &m, &o), -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	/* Types outside the forwarded set. */
	f.mtype = MSG_RAFT_PROPOSE;
	mpw_init(&w);
	rw_kv_fwd_enc(&w, 5, &f);
	assert_int_equal(wire(&w, &m, &o), -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	f.mtype = MSG_KV_WRITE;
	/* No reply address, no timeout, a timeout past the bound. */
	f.reply_addr_len = 0;
	mpw_init(&w);
	rw_kv_fwd_enc(&w, 5, &f);
	assert_int_equal(wire(&w, &m, &o), -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	f.reply_addr_len = 14;
	f.timeout_ms = 0;
	mpw_init(&w);
	rw_kv_fwd_enc(&w, 5, &f);
	assert_int_equal(wire(&w, &m, &o), -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	f.timeout_ms = (uint64_t)KV_FWD_TIMEOUT_MAX + 1;
	mpw_init(&w);
	rw_kv_fwd_enc(&w, 5, &f);
	assert_int_equal(wire(&w, &m, &o), -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	mpw_free(&p);
}

static void
test_wire_kv_fwd_big(void **state)
{
	size_t n = KV_FWD_REQ_MAX + 1;
	char *big = calloc(1, n);
	struct rw_kv_fwd f = { 1, S("127.0.0.1:1"), MSG_KV_WRITE, big, n,
		1000 };
	struct rw_msg m;
	struct proto_obj o;
	struct mpw w;

	(void)state;
	assert_non_null(big);
	mpw_init(&w);
	rw_kv_fwd_enc(&w, 5, &f);
	assert_int_equal(w.err, 0);
	assert_int_equal(wire(&w, &m, &o), -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	free(big);
}

static void
test_wire_kv_fwd_reply(void **state)
{
	struct mpw p, w;
	struct rw_kv_fwd_reply r;
	struct rw_msg m;
	struct proto_obj o;

	(void)state;
	read_reply_payload(&p, 0);
	r = (struct rw_kv_fwd_reply){ 77, 0, NULL, 0,
		MSG_KV_READ | PROTO_REPLY, mpw_data(&p), mpw_len(&p) };
	mpw_init(&w);
	rw_kv_fwd_reply_enc(&w, 9, &r);
	assert_int_equal(wire(&w, &m, &o), 0);
	assert_int_equal(m.type, RW_KV_FWD_REPLY);
	assert_int_equal(m.u.kv_reply.req_id, 77);
	assert_int_equal(m.u.kv_reply.code, 0);
	assert_int_equal(m.u.kv_reply.mtype, MSG_KV_READ | PROTO_REPLY);
	assert_memory_equal(m.u.kv_reply.payload, mpw_data(&p), mpw_len(&p));
	proto_obj_free(&o);
	mpw_free(&w);
	/* A request's type where a reply's belongs. */
	r.mtype = MSG_KV_READ;
	mpw_init(&w);
	rw_kv_fwd_reply_enc(&w, 9, &r);
	assert_int_equal(wire(&w, &m, &o), -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	/* A reply that would not render. */
	mpw_free(&p);
	read_reply_payload(&p, 1);
	r.mtype = MSG_KV_READ | PROTO_REPLY;
	r.payload = mpw_data(&p);
	r.payload_len = mpw_len(&p);
	mpw_init(&w);
	rw_kv_fwd_reply_enc(&w, 9, &r);
	assert_int_equal(wire(&w, &m, &o), -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	/* An error: code and text, nothing else. */
	r = (struct rw_kv_fwd_reply){ 78, -LE_UNAVAIL, S("kvd is not "
		"available"), 0, NULL, 0 };
	mpw_init(&w);
	rw_kv_fwd_reply_enc(&w, 9, &r);
	assert_int_equal(wire(&w, &m, &o), 0);
	assert_int_equal(m.u.kv_reply.code, -LE_UNAVAIL);
	assert_int_equal(m.u.kv_reply.text_len, 20);
	proto_obj_free(&o);
	mpw_free(&w);
	r.payload = mpw_data(&p);
	r.payload_len = mpw_len(&p);
	mpw_init(&w);
	rw_kv_fwd_reply_enc(&w, 9, &r);
	assert_int_equal(wire(&w, &m, &o), -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	/* A positive code. */
	r = (struct rw_kv_fwd_reply){ 78, 3, S("x"), 0, NULL, 0 };
	mpw_init(&w);
	rw_kv_fwd_reply_enc(&w, 9, &r);
	assert_int_equal(wire(&w, &m, &o), -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	mpw_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_round_trip),
		cmocka_unit_test(test_forward_refusals),
		cmocka_unit_test(test_forward_reply),
		cmocka_unit_test(test_check_each_type),
		cmocka_unit_test(test_check_replies),
		cmocka_unit_test(test_read_rewait),
		cmocka_unit_test(test_wire_kv_fwd),
		cmocka_unit_test(test_wire_kv_fwd_big),
		cmocka_unit_test(test_wire_kv_fwd_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
