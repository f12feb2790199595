/* gossip_ipc_test.c: the messages between gossipd and its siblings
 * (proto/gossip_msgs.c): every field back as sent, members with tags,
 * events with and without payloads, and malformed payloads refused with
 * an error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "gossip_ipc.h"

static int
decode(struct mpw *w, struct proto_msg *m)
{
	struct lerr e;

	return proto_decode(mpw_data(w), mpw_len(w), m, &e);
}

static void
test_members_round_trip(void **state)
{
	struct msg_gossip_members q = { true, 41, 60000 }, q2;
	const char *k[] = { "role", "dc" }, *v[] = { "consul", "dc1" };
	size_t kl[] = { 4, 2 }, vl[] = { 6, 3 };
	struct msg_gossip_member m = { 0 }, out;
	struct msg_gossip_members_reply rep = { 0 }, rep2;
	struct proto_msg pm;
	struct mpw w;
	struct lerr e;
	const char *tk, *tv;
	size_t tkl, tvl;

	(void)state;
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_MEMBERS, 1, 2);
	msg_gossip_members_enc(&w, &q);
	assert_int_equal(decode(&w, &pm), 0);
	assert_int_equal(msg_gossip_members_dec(&pm, &q2, &e), 0);
	assert_true(q2.wan);
	assert_int_equal(q2.min_version, 41);
	assert_int_equal(q2.wait_ms, 60000);
	proto_msg_free(&pm);
	mpw_free(&w);

	m.name = "s1";
	m.name_len = 2;
	m.addr = "127.0.0.7";
	m.addr_len = 9;
	m.port = 8301;
	m.status = GSTAT_FAILED;
	memcpy(m.vsn, (uint8_t[]){ 1, 5, 2, 2, 5, 4 }, 6);
	m.n_tags = 2;
	m.tag_keys = k;
	m.tag_key_lens = kl;
	m.tag_vals = v;
	m.tag_val_lens = vl;
	rep.version = 7;
	rep.self = "s0";
	rep.self_len = 2;
	rep.n_members = 1;
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_MEMBERS | PROTO_REPLY, 1, 2);
	msg_gossip_members_reply_begin(&w, &rep);
	msg_gossip_member_enc(&w, &m);
	assert_int_equal(decode(&w, &pm), 0);
	assert_int_equal(msg_gossip_members_reply_dec(&pm, &rep2, &e), 0);
	assert_int_equal(rep2.version, 7);
	assert_int_equal(rep2.n_members, 1);
	assert_memory_equal(rep2.self, "s0", 2);
	assert_int_equal(msg_gossip_member_dec(&rep2.members[0], &out), 0);
	assert_int_equal(out.name_len, 2);
	assert_memory_equal(out.name, "s1", 2);
	assert_memory_equal(out.addr, "127.0.0.7", 9);
	assert_int_equal(out.port, 8301);
	assert_int_equal(out.status, GSTAT_FAILED);
	assert_memory_equal(out.vsn, ((uint8_t[]){ 1, 5, 2, 2, 5, 4 }), 6);
	assert_int_equal(out.n_tags, 2);
	msg_gossip_member_tag(&out, 1, &tk, &tkl, &tv, &tvl);
	assert_int_equal(tkl, 2);
	assert_memory_equal(tk, "dc", 2);
	assert_memory_equal(tv, "dc1", 3);
	assert_string_equal(gossip_status_name(out.status), "failed");
	proto_msg_free(&pm);
	mpw_free(&w);
}

static void
test_member_rejects(void **state)
{
	struct msg_gossip_members_reply rep = { 0 }, rep2;
	struct msg_gossip_member out;
	struct proto_msg pm;
	struct mpw w;
	struct lerr e;

	(void)state;
	/* A member whose status is past "failed", and one with 5 vsn. */
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_MEMBERS | PROTO_REPLY, 1, 2);
	rep.n_members = 2;
	msg_gossip_members_reply_begin(&w, &rep);
	mpw_array(&w, 6);
	mpw_str(&w, "a", 1);
	mpw_str(&w, "1.2.3.4", 7);
	mpw_u64(&w, 1);
	mpw_u64(&w, 9);
	mpw_array(&w, 6);
	for (int i = 0; i < 6; i++)
		mpw_u64(&w, 1);
	mpw_array(&w, 0);
	mpw_array(&w, 6);
	mpw_str(&w, "b", 1);
	mpw_str(&w, "1.2.3.4", 7);
	mpw_u64(&w, 70000);
	mpw_u64(&w, 1);
	mpw_array(&w, 5);
	for (int i = 0; i < 5; i++)
		mpw_u64(&w, 1);
	mpw_array(&w, 1);
	mpw_str(&w, "odd", 3);
	assert_int_equal(decode(&w, &pm), 0);
	assert_int_equal(msg_gossip_members_reply_dec(&pm, &rep2, &e), 0);
	assert_int_not_equal(msg_gossip_member_dec(&rep2.members[0], &out), 0);
	assert_int_not_equal(msg_gossip_member_dec(&rep2.members[1], &out), 0);
	proto_msg_free(&pm);
	mpw_free(&w);
	/* A members request with a string where the bool goes. */
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_MEMBERS, 1, 2);
	mpw_array(&w, 3);
	mpw_str(&w, "x", 1);
	mpw_u64(&w, 1);
	mpw_u64(&w, 1);
	assert_int_equal(decode(&w, &pm), 0);
	{
		struct msg_gossip_members q;

		assert_int_not_equal(msg_gossip_members_dec(&pm, &q, &e), 0);
	}
	proto_msg_free(&pm);
	mpw_free(&w);
}

static void
test_join_force_leave_reply(void **state)
{
	struct msg_gossip_join j = { 0 }, j2;
	struct msg_gossip_force_leave f = { "n1", 2, true, true }, f2;
	struct msg_gossip_reply r = { 500, "no", 2, 3, "id", 2 }, r2;
	struct proto_msg pm;
	struct mpw w;
	struct lerr e;

	(void)state;
	j.wan = true;
	j.n_addrs = 2;
	j.addrs[0] = "127.0.0.1:8301";
	j.addr_lens[0] = 14;
	j.addrs[1] = "h";
	j.addr_lens[1] = 1;
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_JOIN, 1, 2);
	msg_gossip_join_enc(&w, &j);
	assert_int_equal(decode(&w, &pm), 0);
	assert_int_equal(msg_gossip_join_dec(&pm, &j2, &e), 0);
	assert_true(j2.wan);
	assert_int_equal(j2.n_addrs, 2);
	assert_memory_equal(j2.addrs[0], "127.0.0.1:8301", 14);
	assert_int_equal(j2.addr_lens[1], 1);
	proto_msg_free(&pm);
	mpw_free(&w);

	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_FORCE_LEAVE, 1, 2);
	msg_gossip_force_leave_enc(&w, &f);
	assert_int_equal(decode(&w, &pm), 0);
	assert_int_equal(msg_gossip_force_leave_dec(&pm, &f2, &e), 0);
	assert_int_equal(f2.node_len, 2);
	assert_true(f2.prune && f2.wan);
	proto_msg_free(&pm);
	mpw_free(&w);

	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_JOIN | PROTO_REPLY, 1, 2);
	msg_gossip_reply_enc(&w, &r);
	assert_int_equal(decode(&w, &pm), 0);
	assert_int_equal(msg_gossip_reply_dec(&pm, &r2, &e), 0);
	assert_int_equal(r2.code, 500);
	assert_int_equal(r2.n, 3);
	assert_memory_equal(r2.text, "no", 2);
	assert_memory_equal(r2.id, "id", 2);
	proto_msg_free(&pm);
	mpw_free(&w);

	/* An empty address in a join is refused. */
	j.n_addrs = 1;
	j.addr_lens[0] = 0;
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_JOIN, 1, 2);
	msg_gossip_join_enc(&w, &j);
	assert_int_equal(decode(&w, &pm), 0);
	assert_int_not_equal(msg_gossip_join_dec(&pm, &j2, &e), 0);
	proto_msg_free(&pm);
	mpw_free(&w);
}

static void
test_events(void **state)
{
	struct msg_gossip_event ev = { 0 }, ev2;
	struct msg_gossip_event_list l = { "deploy", 6, 99, 1000 }, l2;
	struct msg_gossip_event_list_reply rep = { 0 }, rep2;
	struct proto_msg pm;
	struct mpw w;
	struct lerr e;

	(void)state;
	ev.name = "deploy";
	ev.name_len = 6;
	ev.payload = "\0\1";
	ev.payload_len = 2;
	ev.node_filter = "^web";
	ev.node_filter_len = 4;
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_EVENT_FIRE, 1, 2);
	msg_gossip_event_fire_enc(&w, &ev);
	assert_int_equal(decode(&w, &pm), 0);
	assert_int_equal(msg_gossip_event_fire_dec(&pm, &ev2, &e), 0);
	assert_int_equal(ev2.payload_len, 2);
	assert_memory_equal(ev2.payload, "\0\1", 2);
	assert_int_equal(ev2.node_filter_len, 4);
	assert_int_equal(ev2.service_filter_len, 0);
	proto_msg_free(&pm);
	mpw_free(&w);

	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_EVENT_LIST, 1, 2);
	msg_gossip_event_list_enc(&w, &l);
	assert_int_equal(decode(&w, &pm), 0);
	assert_int_equal(msg_gossip_event_list_dec(&pm, &l2, &e), 0);
	assert_int_equal(l2.min_index, 99);
	assert_int_equal(l2.wait_ms, 1000);
	proto_msg_free(&pm);
	mpw_free(&w);

	/* A list reply with one event with no payload (nil, not ""). */
	ev.id = "b54fe110-7af5-cafc-d1fb-afc8ba432b1c";
	ev.id_len = 36;
	ev.payload = NULL;
	ev.payload_len = 0;
	ev.version = 1;
	ev.ltime = 12;
	rep.index = 5;
	rep.n_events = 1;
	mpw_init(&w);
	proto_begin(&w, MSG_GOSSIP_EVENT_LIST | PROTO_REPLY, 1, 2);
	msg_gossip_event_list_reply_begin(&w, &rep);
	msg_gossip_event_enc(&w, &ev);
	assert_int_equal(decode(&w, &pm), 0);
	assert_int_equal(msg_gossip_event_list_reply_dec(&pm, &rep2, &e), 0);
	assert_int_equal(rep2.index, 5);
	assert_int_equal(rep2.n_events, 1);
	assert_int_equal(msg_gossip_event_dec(&rep2.events[0], &ev2), 0);
	assert_null(ev2.payload);
	assert_int_equal(ev2.id_len, 36);
	assert_int_equal(ev2.ltime, 12);
	assert_int_equal(ev2.version, 1);
	proto_msg_free(&pm);
	mpw_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_members_round_trip),
		cmocka_unit_test(test_member_rejects),
		cmocka_unit_test(test_join_force_leave_reply),
		cmocka_unit_test(test_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
