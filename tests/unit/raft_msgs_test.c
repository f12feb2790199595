/* raft_msgs_test.c: round trips and rejections of the messages kvd and
 * httpd exchange with raftd (proto/raft_msgs.c) and of the server-to-
 * server wire (proto/raft_wire.c): every field back as sent, a batch of
 * commands, a state machine command inside an entry, and malformed
 * input refused with an error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "raft_wire.h"

static int
decode(struct mpw *w, struct proto_msg *m)
{
	struct lerr e;

	return proto_decode(mpw_data(w), mpw_len(w), m, &e);
}

static void
test_propose_batch_and_command(void **state)
{
	struct msg_sm_cmd cmd = { .type = SMC_KV, .origin = 7, .seq = 9,
		.kv = { KVW_CAS, "a/b", 3, "\0v\xff", 3, 5, 11, NULL, 0 } };
	struct mpw c, blob, w;
	struct msg_raft_propose p = { 0 };
	struct proto_msg m;
	struct proto_obj o, co;
	struct msg_sm_cmd out;
	const void *d;
	size_t dl;
	uint32_t n;
	struct lerr e;

	(void)state;
	mpw_init(&c);
	msg_sm_cmd_enc(&c, &cmd);
	mpw_init(&blob);
	mpw_array(&blob, 2);
	mpw_bin(&blob, mpw_data(&c), mpw_len(&c));
	mpw_bin(&blob, mpw_data(&c), mpw_len(&c));
	p.data = mpw_data(&blob);
	p.data_len = mpw_len(&blob);
	mpw_init(&w);
	proto_begin(&w, MSG_RAFT_PROPOSE, 1, 2);
	msg_raft_propose_enc(&w, &p);
	assert_int_equal(decode(&w, &m), 0);
	assert_int_equal(msg_raft_propose_dec(&m, &p, &e), 0);
	assert_int_equal(msg_raft_batch_open(p.data, p.data_len, &o, &n, &e),
	    0);
	assert_int_equal(n, 2);
	assert_int_equal(msg_raft_batch_item(&o, 1, &d, &dl), 0);
	assert_int_equal(proto_obj_decode(d, dl, &co, &e), 0);
	assert_int_equal(msg_sm_cmd_dec(co.root, &out, &e), 0);
	assert_int_equal(out.origin, 7);
	assert_int_equal(out.seq, 9);
	assert_int_equal(out.kv.op, KVW_CAS);
	assert_int_equal(out.kv.value_len, 3);
	assert_memory_equal(out.kv.value, "\0v\xff", 3);
	assert_int_equal(out.kv.index, 11);
	proto_obj_free(&co);
	proto_obj_free(&o);
	proto_msg_free(&m);
	/* A batch must be an array of 1.. bins. */
	assert_int_not_equal(msg_raft_batch_open(mpw_data(&c), mpw_len(&c),
	    &o, &n, &e), 0);
	proto_obj_free(&o);
	mpw_free(&w);
	mpw_free(&blob);
	mpw_free(&c);
}

static void
test_fetch_reply_entries(void **state)
{
	struct msg_raft_fetch_reply rep = { .code = -LE_SNAPSHOT,
		.commit = 40, .known_leader = true, .last_contact_ms = 12,
		.lease_until_ms = 123456, .snap_index = 30,
		.snap_path = "/d/s.snap", .snap_path_len = 9, .n_entries = 2 },
	    out;
	struct msg_raft_entry e1 = { 31, 2, RAFT_ENT_COMMAND, "x", 1 },
	    e2 = { 32, 2, RAFT_ENT_NOOP, NULL, 0 }, oe;
	struct proto_msg m;
	struct lerr e;
	struct mpw w;

	(void)state;
	mpw_init(&w);
	proto_begin(&w, MSG_RAFT_FETCH | PROTO_REPLY, 3, 4);
	msg_raft_fetch_reply_begin(&w, &rep);
	msg_raft_entry_enc(&w, &e1);
	msg_raft_entry_enc(&w, &e2);
	assert_int_equal(decode(&w, &m), 0);
	assert_int_equal(msg_raft_fetch_reply_dec(&m, &out, &e), 0);
	assert_int_equal(out.code, -LE_SNAPSHOT);
	assert_int_equal(out.lease_until_ms, 123456);
	assert_int_equal(out.snap_index, 30);
	assert_int_equal(out.n_entries, 2);
	assert_int_equal(msg_raft_entry_dec(&out.entries[0], &oe), 0);
	assert_int_equal(oe.index, 31);
	assert_memory_equal(oe.data, "x", 1);
	assert_int_equal(msg_raft_entry_dec(&out.entries[1], &oe), 0);
	assert_int_equal(oe.type, RAFT_ENT_NOOP);
	proto_msg_free(&m);
	mpw_free(&w);
}

static void
test_status_and_operator(void **state)
{
	struct msg_raft_status_reply *rep = calloc(1, sizeof(*rep)),
	    *out = calloc(1, sizeof(*out));
	struct msg_raft_operator op = { RAFT_OP_REMOVE_PEER, "1.2.3.4:8300",
		12 }, oop;
	struct proto_msg m;
	struct lerr e;
	struct mpw w;

	(void)state;
	rep->state = "leader";
	rep->state_len = 6;
	rep->n_servers = 1;
	rep->servers[0] = (struct msg_raft_server){ "id", 2, "n1", 2,
		"127.0.0.1:8300", 14, true, 77 };
	mpw_init(&w);
	proto_begin(&w, MSG_RAFT_STATUS | PROTO_REPLY, 1, 1);
	msg_raft_status_reply_enc(&w, rep);
	assert_int_equal(decode(&w, &m), 0);
	assert_int_equal(msg_raft_status_reply_dec(&m, out, &e), 0);
	assert_int_equal(out->n_servers, 1);
	assert_int_equal(out->servers[0].last_index, 77);
	assert_true(out->servers[0].voter);
	proto_msg_free(&m);
	mpw_free(&w);
	mpw_init(&w);
	proto_begin(&w, MSG_RAFT_OPERATOR, 1, 1);
	msg_raft_operator_enc(&w, &op);
	assert_int_equal(decode(&w, &m), 0);
	assert_int_equal(msg_raft_operator_dec(&m, &oop, &e), 0);
	assert_int_equal(oop.op, RAFT_OP_REMOVE_PEER);
	proto_msg_free(&m);
	mpw_free(&w);
	/* An operator op out of range is refused. */
	op.op = 99;
	mpw_init(&w);
	proto_begin(&w, MSG_RAFT_OPERATOR, 1, 1);
	msg_raft_operator_enc(&w, &op);
	assert_int_equal(decode(&w, &m), 0);
	assert_int_equal(msg_raft_operator_dec(&m, &oop, &e), -LE_MALFORMED);
	proto_msg_free(&m);
	mpw_free(&w);
	free(rep);
	free(out);
}

static void
test_wire_messages(void **state)
{
	struct rw_raft r = { .mtype = 5, .to = 9, .term = 3,
		.a = { 1, 2, 3, 4, 5, 6 }, .n_entries = 1 };
	struct msg_raft_entry ent = { 4, 3, RAFT_ENT_COMMAND, "abc", 3 };
	struct rw_snap_chunk c = { .to = 9, .term = 3, .round = 1,
		.index = 100, .snap_term = 2, .offset = 0, .total = 8,
		.conf = "c", .conf_len = 1, .data = "12345678", .data_len = 8 };
	struct rw_msg m;
	struct proto_obj o;
	struct lerr e;
	struct mpw w;

	(void)state;
	mpw_init(&w);
	rw_raft_begin(&w, 7, &r);
	msg_raft_entry_enc(&w, &ent);
	assert_int_equal(rw_decode(mpw_data(&w), mpw_len(&w), &o, &m, &e), 0);
	assert_int_equal(m.type, RW_RAFT);
	assert_int_equal(m.from, 7);
	assert_int_equal(m.u.raft.a[5], 6);
	assert_int_equal(m.u.raft.n_entries, 1);
	proto_obj_free(&o);
	/* Truncated by one byte: refused. */
	assert_int_not_equal(rw_decode(mpw_data(&w), mpw_len(&w) - 1, &o, &m,
	    &e), 0);
	proto_obj_free(&o);
	mpw_free(&w);
	mpw_init(&w);
	rw_snap_chunk_enc(&w, 7, &c);
	assert_int_equal(rw_decode(mpw_data(&w), mpw_len(&w), &o, &m, &e), 0);
	assert_int_equal(m.type, RW_SNAP_CHUNK);
	assert_int_equal(m.u.chunk.total, 8);
	proto_obj_free(&o);
	mpw_free(&w);
	/* A piece past its total is refused. */
	c.offset = 4;
	mpw_init(&w);
	rw_snap_chunk_enc(&w, 7, &c);
	assert_int_equal(rw_decode(mpw_data(&w), mpw_len(&w), &o, &m, &e),
	    -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
	/* Sender id 0 is refused. */
	mpw_init(&w);
	rw_raft_begin(&w, 0, &r);
	msg_raft_entry_enc(&w, &ent);
	assert_int_equal(rw_decode(mpw_data(&w), mpw_len(&w), &o, &m, &e),
	    -LE_MALFORMED);
	proto_obj_free(&o);
	mpw_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_propose_batch_and_command),
		cmocka_unit_test(test_fetch_reply_entries),
		cmocka_unit_test(test_status_and_operator),
		cmocka_unit_test(test_wire_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
