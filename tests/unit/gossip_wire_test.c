/* gossip_wire_test.c: the gossip wire codec (proto/gossip_*.c) against
 * the capture vectors of the specification (§5), round trips of every
 * message and framing layer, and malformed input of every class refused
 * with an error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gossip_wire.h"

/* Bytes from the notation of the specification: hex pairs, and text in
 * double quotes for its bytes. */
static size_t
spec(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (*s) {
		if (*s == ' ') {
			s++;
		} else if (*s == '"') {
			for (s++; *s && *s != '"'; s++) {
				assert_true(n < max);
				out[n++] = (uint8_t)*s;
			}
			assert_int_equal(*s, '"');
			s++;
		} else {
			unsigned v;

			assert_int_equal(sscanf(s, "%2x", &v), 1);
			assert_true(n < max);
			out[n++] = (uint8_t)v;
			s += 2;
		}
	}
	return n;
}

static struct gw_bytes
B(const char *s)
{
	return (struct gw_bytes){ (const uint8_t *)s, strlen(s) };
}

static bool
beq(struct gw_bytes b, const char *s)
{
	return b.p != NULL && b.len == strlen(s) && memcmp(b.p, s, b.len) == 0;
}

static void
assert_buf(const struct gw_buf *b, const uint8_t *want, size_t n)
{
	assert_int_equal(b->len, n);
	assert_memory_equal(b->p, want, n);
}

/* Encode m into a (emptied first), decode the bytes back into *back
 * (which borrows from a) and encode again: the same bytes. */
static struct gw_buf a;

static void
round_trip(const struct gw_msg *m, struct gw_msg *back)
{
	struct gw_buf b = { 0 };
	const char *why = NULL;

	a.len = 0;
	assert_int_equal(gw_encode_msg(&a, m), 0);
	assert_int_equal(gw_decode_msg(a.p, a.len, back, &why), 0);
	assert_int_equal(back->type, m->type);
	assert_int_equal(gw_encode_msg(&b, back), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	/* Every strict prefix is refused (the body ends exactly). */
	for (size_t i = 0; i < a.len && m->type != GW_USER; i++)
		assert_true(gw_decode_msg(a.p, i, back, &why) < 0);
	gw_buf_free(&b);
	assert_int_equal(gw_decode_msg(a.p, a.len, back, &why), 0);
}

/* --- capture vectors (§5) ------------------------------------------------ */

static void
test_capture_ping(void **state)
{
	uint8_t pkt[128];
	size_t n = spec("00 85 a4 \"Node\" a2 \"n3\" a5 \"SeqNo\" 01 "
	    "aa \"SourceAddr\" a4 7f00002a aa \"SourceNode\" a2 \"n1\" "
	    "aa \"SourcePort\" cd 461a", pkt, sizeof(pkt));
	struct gw_msg m;
	struct gw_buf out = { 0 };
	const char *why;
	static const uint8_t ip[4] = { 127, 0, 0, 42 };

	(void)state;
	assert_int_equal(gw_decode_msg(pkt, n, &m, &why), 0);
	assert_int_equal(m.type, GW_PING);
	assert_true(beq(m.u.ping.node, "n3"));
	assert_int_equal(m.u.ping.seq_no, 1);
	assert_int_equal(m.u.ping.source_addr.len, 4);
	assert_memory_equal(m.u.ping.source_addr.p, ip, 4);
	assert_true(beq(m.u.ping.source_node, "n1"));
	assert_int_equal(m.u.ping.source_port, 0x461a);
	assert_int_equal(gw_encode_msg(&out, &m), 0);
	assert_buf(&out, pkt, n);
	gw_buf_free(&out);
}

static void
test_capture_suspect_body(void **state)
{
	uint8_t pkt[128];
	size_t n = spec("03 83 a4 \"From\" a2 \"n2\" ab \"Incarnation\" 01 "
	    "a4 \"Node\" a2 \"n3\"", pkt, sizeof(pkt));
	struct gw_msg m;
	struct gw_buf out = { 0 };

	(void)state;
	assert_int_equal(gw_decode_msg(pkt, n, &m, NULL), 0);
	assert_int_equal(m.type, GW_SUSPECT);
	assert_true(beq(m.u.suspect.from, "n2"));
	assert_true(beq(m.u.suspect.node, "n3"));
	assert_int_equal(m.u.suspect.incarnation, 1);
	assert_int_equal(gw_encode_msg(&out, &m), 0);
	assert_buf(&out, pkt, n);
	gw_buf_free(&out);
}

/* --- round trips ----------------------------------------------------------- */

static const uint8_t ip4[4] = { 127, 0, 0, 42 };
static const uint8_t ip6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
	10, 1, 2, 3 };

static void
test_round_trip_all(void **state)
{
	struct gw_msg m, back;
	uint8_t payload[200];

	(void)state;
	memset(payload, 0x5a, sizeof(payload));

	memset(&m, 0, sizeof(m));
	m.type = GW_PING;
	m.u.ping.seq_no = 0xffffffffu;
	m.u.ping.node = B("node-a");
	round_trip(&m, &back);
	assert_int_equal(back.u.ping.seq_no, 0xffffffffu);
	assert_null(back.u.ping.source_addr.p);
	assert_int_equal(back.u.ping.source_port, 0);

	memset(&m, 0, sizeof(m));
	m.type = GW_INDIRECT_PING;
	m.u.iping.seq_no = 300;
	m.u.iping.target = (struct gw_bytes){ ip6, 16 };
	m.u.iping.port = 7946;
	m.u.iping.node = B("target");
	m.u.iping.nack = true;
	m.u.iping.source_addr = (struct gw_bytes){ ip4, 4 };
	m.u.iping.source_node = B("me");
	m.u.iping.source_port = 8301;
	round_trip(&m, &back);
	assert_true(back.u.iping.nack);
	assert_int_equal(back.u.iping.target.len, 16);
	assert_int_equal(back.u.iping.port, 7946);
	assert_int_equal(back.u.iping.source_port, 8301);
	assert_true(beq(back.u.iping.source_node, "me"));

	memset(&m, 0, sizeof(m));
	m.type = GW_ACK;
	m.u.ack.seq_no = 70000;
	m.u.ack.payload = (struct gw_bytes){ payload, sizeof(payload) };
	round_trip(&m, &back);
	assert_int_equal(back.u.ack.payload.len, sizeof(payload));
	m.u.ack.payload = (struct gw_bytes){ NULL, 0 };
	round_trip(&m, &back);
	assert_null(back.u.ack.payload.p);

	memset(&m, 0, sizeof(m));
	m.type = GW_NACK;
	m.u.nack.seq_no = 65536;
	round_trip(&m, &back);
	assert_int_equal(back.u.nack.seq_no, 65536);

	memset(&m, 0, sizeof(m));
	m.type = GW_DEAD;
	m.u.suspect.incarnation = 9;
	m.u.suspect.node = B("x");
	m.u.suspect.from = B("x");
	round_trip(&m, &back);
	assert_int_equal(back.type, GW_DEAD);
	assert_true(beq(back.u.suspect.from, "x"));

	memset(&m, 0, sizeof(m));
	m.type = GW_ALIVE;
	m.u.alive.incarnation = 3;
	m.u.alive.node = B("a-node-name-that-is-longer-than-32-bytes");
	m.u.alive.addr = (struct gw_bytes){ ip4, 4 };
	m.u.alive.port = 7946;
	m.u.alive.meta = (struct gw_bytes){ payload, 100 };
	memcpy(m.u.alive.vsn, (uint8_t[]){ 1, 5, 2, 2, 5, 4 }, 6);
	round_trip(&m, &back);
	assert_memory_equal(back.u.alive.vsn, m.u.alive.vsn, 6);
	assert_true(beq(back.u.alive.node,
	    "a-node-name-that-is-longer-than-32-bytes"));

	memset(&m, 0, sizeof(m));
	m.type = GW_ERR;
	m.u.err.error = B("No installed keys could decrypt the message");
	round_trip(&m, &back);
	assert_true(beq(back.u.err.error,
	    "No installed keys could decrypt the message"));

	memset(&m, 0, sizeof(m));
	m.type = GW_USER;
	m.u.user = B("\x03user bytes");
	round_trip(&m, &back);
	assert_true(beq(back.u.user, "\x03user bytes"));
	gw_buf_free(&a);
}

/* The dialect: str16 from 32 bytes, Vsn as a str, unsigned forms. */
static void
test_dialect_forms(void **state)
{
	struct gw_msg m;
	struct gw_buf out = { 0 };
	char name[40];
	uint8_t want[200];
	size_t n;

	(void)state;
	memset(name, 'a', 32);
	name[32] = '\0';
	memset(&m, 0, sizeof(m));
	m.type = GW_ALIVE;
	m.u.alive.incarnation = 128;
	m.u.alive.node = B(name);
	m.u.alive.addr = (struct gw_bytes){ ip4, 4 };
	m.u.alive.port = 65535;
	memcpy(m.u.alive.vsn, (uint8_t[]){ 1, 5, 2, 2, 5, 4 }, 6);
	assert_int_equal(gw_encode_msg(&out, &m), 0);
	n = spec("04 86 a4 \"Addr\" a4 7f00002a ab \"Incarnation\" cc 80 "
	    "a4 \"Meta\" c0 a4 \"Node\" da 0020 "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" a4 \"Port\" cd ffff "
	    "a3 \"Vsn\" a6 010502020504", want, sizeof(want));
	assert_buf(&out, want, n);
	gw_buf_free(&out);
}

/* Go may send str8, bin, any integer width, keys in any order, unknown
 * keys; missing keys are zero. */
static void
test_decode_lenient_forms(void **state)
{
	uint8_t pkt[200];
	size_t n;
	struct gw_msg m;

	(void)state;
	n = spec("02 84 a5 \"SeqNo\" cf 00000000 00000007 a5 \"Extra\" "
	    "92 81 a1 \"k\" c4 01 00 d9 02 \"xy\" a7 \"Payload\" c4 03 010203 "
	    "a6 \"Other2\" c7 02 05 aabb", pkt, sizeof(pkt));
	assert_int_equal(gw_decode_msg(pkt, n, &m, NULL), 0);
	assert_int_equal(m.u.ack.seq_no, 7);
	assert_int_equal(m.u.ack.payload.len, 3);
	n = spec("03 81 a4 \"Node\" d9 02 \"n1\"", pkt, sizeof(pkt));
	assert_int_equal(gw_decode_msg(pkt, n, &m, NULL), 0);
	assert_true(beq(m.u.suspect.node, "n1"));
	assert_null(m.u.suspect.from.p);
	assert_int_equal(m.u.suspect.incarnation, 0);
	/* Nack as fixint 1, signed int forms for non-negatives. */
	n = spec("01 84 a4 \"Nack\" 01 a5 \"SeqNo\" d2 00000005 "
	    "a6 \"Target\" a4 0a000001 a4 \"Port\" d1 1f1a", pkt, sizeof(pkt));
	assert_int_equal(gw_decode_msg(pkt, n, &m, NULL), 0);
	assert_true(m.u.iping.nack);
	assert_int_equal(m.u.iping.seq_no, 5);
	assert_int_equal(m.u.iping.port, 0x1f1a);
}

static void
expect_bad(const char *s, int code)
{
	uint8_t pkt[300];
	size_t n = spec(s, pkt, sizeof(pkt));
	struct gw_msg m;
	const char *why = NULL;

	assert_int_equal(gw_decode_msg(pkt, n, &m, &why), code);
	assert_non_null(why);
}

static void
test_decode_malformed(void **state)
{
	(void)state;
	expect_bad("", -LE_MALFORMED);
	expect_bad("0b", -LE_MALFORMED);			/* no body */
	expect_bad("0b 81 a5 \"SeqNo\"", -LE_MALFORMED);	/* no value */
	expect_bad("0b 81 a5 \"SeqNo\" 01 00", -LE_MALFORMED); /* trailing */
	expect_bad("0b 91 01", -LE_MALFORMED);		/* not a map */
	expect_bad("0b 81 a5 \"SeqNo\" a1 \"x\"", -LE_MALFORMED);
	expect_bad("0b 81 a5 \"SeqNo\" ff", -LE_MALFORMED);	/* negative */
	expect_bad("0b 81 a5 \"SeqNo\" cf 0000000100000000", -LE_MALFORMED);
	expect_bad("0b 81 01 01", -LE_MALFORMED);		/* int key */
	expect_bad("0b df ffffffff", -LE_MALFORMED);		/* count */
	expect_bad("0b 81 a5 \"Other\" dd ffffffff", -LE_MALFORMED);
	expect_bad("0b 81 a5 \"Other\" c1", -LE_MALFORMED);	/* reserved */
	expect_bad("0b 81 a5 \"Other\" db ffffffff 00", -LE_MALFORMED);
	expect_bad("0b 81 a5 \"Other\" c9 00000010 01", -LE_MALFORMED);
	expect_bad("0e 80", -LE_MALFORMED);			/* unknown type */
	expect_bad("07 00", -LE_MALFORMED);			/* framing */
	expect_bad("06 80", -LE_MALFORMED);			/* stream */
	expect_bad("03 81 a4 \"Node\" c4 01 \"x\"", -LE_MALFORMED); /* bin
								      string */
	/* alive: a 5-byte address, a 5-byte Vsn, no address at all. */
	expect_bad("04 81 a4 \"Addr\" a5 0102030405", -LE_MALFORMED);
	expect_bad("04 82 a4 \"Addr\" a4 01020304 a3 \"Vsn\" a5 0102030405",
	    -LE_MALFORMED);
	expect_bad("04 81 a4 \"Node\" a1 \"x\"", -LE_MALFORMED);
	expect_bad("01 81 a4 \"Port\" ce 00010000", -LE_MALFORMED);
	expect_bad("01 81 a4 \"Nack\" 02", -LE_MALFORMED);
}

static void
test_decode_oversize(void **state)
{
	uint8_t pkt[700];
	struct gw_msg m;
	const char *why;

	(void)state;
	/* Meta of 513 bytes. */
	pkt[0] = GW_ALIVE;
	pkt[1] = 0x82;
	memcpy(pkt + 2, "\xa4" "Addr" "\xa4\x01\x02\x03\x04", 10);
	memcpy(pkt + 12, "\xa4" "Meta" "\xda\x02\x01", 8);
	memset(pkt + 20, 'm', 513);
	assert_int_equal(gw_decode_msg(pkt, 20 + 513, &m, &why), -LE_TOOBIG);
	pkt[19] = 0x00;	/* 512 is fine, but then 1 byte is left over */
	assert_int_equal(gw_decode_msg(pkt, 20 + 513, &m, &why),
	    -LE_MALFORMED);
	assert_int_equal(gw_decode_msg(pkt, 20 + 512, &m, &why), 0);
	assert_int_equal(m.u.alive.meta.len, 512);
}

static void
test_encode_refuses(void **state)
{
	struct gw_msg m;
	struct gw_buf out = { 0 };
	uint8_t big[GW_META_MAX + 1] = { 0 };

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = GW_ALIVE;
	m.u.alive.addr = (struct gw_bytes){ ip4, 3 };
	assert_int_equal(gw_encode_msg(&out, &m), -LE_INVAL);
	m.u.alive.addr = (struct gw_bytes){ ip4, 4 };
	m.u.alive.meta = (struct gw_bytes){ big, sizeof(big) };
	assert_int_equal(gw_encode_msg(&out, &m), -LE_INVAL);
	assert_int_equal(out.len, 0);
	m.type = GW_COMPOUND;
	assert_int_equal(gw_encode_msg(&out, &m), -LE_INVAL);
	gw_buf_free(&out);
}

/* --- compound ------------------------------------------------------------- */

static void
test_compound(void **state)
{
	struct gw_buf out = { 0 };
	struct gw_bytes parts[3] = { B("\x0b\x81\xa5SeqNo\x01"), B("\x08xyz"),
		{ (const uint8_t *)"", 0 } }, got[255];
	unsigned n, trunc;
	const char *why;

	(void)state;
	assert_int_equal(gw_compound_encode(&out, parts, 3), 0);
	assert_int_equal(out.p[0], GW_COMPOUND);
	assert_int_equal(out.p[1], 3);
	assert_int_equal(out.len, 2 + 6 + parts[0].len + 4);
	assert_int_equal(gw_compound_split(out.p + 1, out.len - 1, got, 255,
	    &n, &trunc, &why), 0);
	assert_int_equal(n, 3);
	assert_int_equal(trunc, 0);
	assert_int_equal(got[0].len, parts[0].len);
	assert_memory_equal(got[1].p, "\x08xyz", 4);
	assert_int_equal(got[2].len, 0);
	/* Cut into the second part: the first survives, two are lost. */
	assert_int_equal(gw_compound_split(out.p + 1, 1 + 6 + parts[0].len + 2,
	    got, 255, &n, &trunc, &why), 0);
	assert_int_equal(n, 1);
	assert_int_equal(trunc, 2);
	/* Lengths cut off, no count, trailing bytes, too many parts. */
	assert_int_equal(gw_compound_split(out.p + 1, 4, got, 255, &n, &trunc,
	    &why), -LE_MALFORMED);
	assert_int_equal(gw_compound_split(out.p + 1, 0, got, 255, &n, &trunc,
	    &why), -LE_MALFORMED);
	assert_int_equal(gw_buf_append(&out, "x", 1), 0);
	assert_int_equal(gw_compound_split(out.p + 1, out.len - 1, got, 255,
	    &n, &trunc, &why), -LE_MALFORMED);
	assert_int_equal(gw_compound_split(out.p + 1, out.len - 2, got, 2,
	    &n, &trunc, &why), -LE_TOOBIG);
	/* Encoder limits. */
	assert_int_equal(gw_compound_encode(&out, got, 256), -LE_INVAL);
	parts[0].len = 65536;
	assert_int_equal(gw_compound_encode(&out, parts, 1), -LE_INVAL);
	gw_buf_free(&out);
}

/* --- push/pull ------------------------------------------------------------ */

static void
test_push_pull(void **state)
{
	struct gw_push_node nodes[3], n;
	struct gw_push_header hdr;
	struct gw_push_reader rd;
	struct gw_bytes us;
	struct gw_buf out = { 0 };
	const char *why;

	(void)state;
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i < 3; i++) {
		nodes[i].name = B(i == 0 ? "n1" : i == 1 ? "n2" : "n3");
		nodes[i].addr = (struct gw_bytes){ ip4, 4 };
		nodes[i].port = (uint16_t)(7946 + i);
		nodes[i].meta = B("\xff\x81\xa4role\xa4node");
		nodes[i].incarnation = (uint32_t)i;
		nodes[i].state = (uint8_t)i;
		memcpy(nodes[i].vsn, (uint8_t[]){ 1, 5, 2, 2, 5, 4 }, 6);
	}
	assert_int_equal(gw_push_encode(&out, true, nodes, 3, B("user-state")),
	    0);
	assert_int_equal(out.p[0], GW_PUSH_PULL);
	assert_int_equal(gw_push_decode(out.p + 1, out.len - 1, &hdr, &rd, &us,
	    &why), 0);
	assert_true(hdr.join);
	assert_int_equal(hdr.nodes, 3);
	assert_int_equal(hdr.user_state_len, 10);
	assert_true(beq(us, "user-state"));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(gw_push_next_node(&rd, &n, &why), 0);
		assert_true(beq(n.name, i == 0 ? "n1" : i == 1 ? "n2" : "n3"));
		assert_int_equal(n.port, 7946 + i);
		assert_int_equal(n.state, i);
		assert_int_equal(n.incarnation, i);
		assert_memory_equal(n.vsn, nodes[i].vsn, 6);
	}
	assert_int_equal(gw_push_next_node(&rd, &n, &why), -LE_NOTFOUND);
	/* Every strict prefix and one byte more are refused. */
	for (size_t i = 1; i < out.len; i++)
		assert_true(gw_push_decode(out.p + 1, i - 1, &hdr, &rd, &us,
		    &why) < 0);
	assert_int_equal(gw_buf_append(&out, "!", 1), 0);
	assert_int_equal(gw_push_decode(out.p + 1, out.len - 1, &hdr, &rd, &us,
	    &why), -LE_MALFORMED);
	out.len = 0;
	/* No nodes, no user state. */
	assert_int_equal(gw_push_encode(&out, false, NULL, 0,
	    (struct gw_bytes){ NULL, 0 }), 0);
	assert_int_equal(gw_push_decode(out.p + 1, out.len - 1, &hdr, &rd, &us,
	    &why), 0);
	assert_int_equal(hdr.nodes, 0);
	assert_null(us.p);
	gw_buf_free(&out);
}

static void
test_push_pull_bad_counts(void **state)
{
	uint8_t pkt[200];
	size_t n;
	struct gw_push_header hdr;
	struct gw_push_reader rd;
	struct gw_bytes us;
	const char *why;

	(void)state;
	n = spec("83 a4 \"Join\" c2 a5 \"Nodes\" ce 7fffffff "
	    "ac \"UserStateLen\" 00", pkt, sizeof(pkt));
	assert_int_equal(gw_push_decode(pkt, n, &hdr, &rd, &us, &why),
	    -LE_TOOBIG);
	n = spec("83 a4 \"Join\" c2 a5 \"Nodes\" 05 ac \"UserStateLen\" 00 "
	    "80", pkt, sizeof(pkt));
	assert_int_equal(gw_push_decode(pkt, n, &hdr, &rd, &us, &why),
	    -LE_MALFORMED);
	n = spec("83 a4 \"Join\" c2 a5 \"Nodes\" ff ac \"UserStateLen\" 00",
	    pkt, sizeof(pkt));
	assert_int_equal(gw_push_decode(pkt, n, &hdr, &rd, &us, &why),
	    -LE_MALFORMED);
	n = spec("83 a4 \"Join\" c2 a5 \"Nodes\" 01 ac \"UserStateLen\" 00 "
	    "81 a4 \"Name\" 05", pkt, sizeof(pkt));
	assert_int_equal(gw_push_decode(pkt, n, &hdr, &rd, &us, &why),
	    -LE_MALFORMED);
	/* One node state with only a name: fine, the rest is zero. */
	n = spec("83 a4 \"Join\" c2 a5 \"Nodes\" 01 ac \"UserStateLen\" 02 "
	    "81 a4 \"Name\" a2 \"n1\" 0203", pkt, sizeof(pkt));
	assert_int_equal(gw_push_decode(pkt, n, &hdr, &rd, &us, &why), 0);
	assert_int_equal(us.len, 2);
}

static void
test_stream_user(void **state)
{
	struct gw_buf out = { 0 };
	struct gw_bytes msg;
	const char *why;

	(void)state;
	assert_int_equal(gw_stream_user_encode(&out, (const uint8_t *)"abc", 3),
	    0);
	assert_int_equal(out.p[0], GW_USER);
	assert_int_equal(gw_stream_user_decode(out.p + 1, out.len - 1, &msg,
	    &why), 0);
	assert_true(beq(msg, "abc"));
	assert_int_equal(gw_stream_user_decode(out.p + 1, out.len - 2, &msg,
	    &why), -LE_MALFORMED);
	gw_buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture_ping),
		cmocka_unit_test(test_capture_suspect_body),
		cmocka_unit_test(test_round_trip_all),
		cmocka_unit_test(test_dialect_forms),
		cmocka_unit_test(test_decode_lenient_forms),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_oversize),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_compound),
		cmocka_unit_test(test_push_pull),
		cmocka_unit_test(test_push_pull_bad_counts),
		cmocka_unit_test(test_stream_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
