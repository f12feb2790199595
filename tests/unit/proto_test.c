/* proto_test.c: round trips of every message and rejection of malformed
 * input: wrong types, missing and extra fields, oversize values,
 * truncation, trailing bytes, bad version, unknown type, hostile counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static void
enc_read(struct mpw *w, uint32_t type, const struct msg_kv_read *q)
{
	mpw_init(w);
	proto_begin(w, type, 42, 0xabcdef);
	msg_kv_read_enc(w, q);
}

static void
test_kv_read_roundtrip(void **state)
{
	struct msg_kv_read q = { KVR_KEYS, "a/b", 3, "/", 1, 17, 5000,
		CONS_STALE }, o;
	struct proto_msg m;
	struct lerr e;
	struct mpw w;

	(void)state;
	enc_read(&w, MSG_KV_READ, &q);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(m.type, MSG_KV_READ);
	assert_int_equal(m.req_id, 42);
	assert_int_equal(m.boot_id, 0xabcdef);
	assert_int_equal(msg_kv_read_dec(&m, &o, &e), 0);
	assert_int_equal(o.mode, KVR_KEYS);
	assert_int_equal(o.key_len, 3);
	assert_memory_equal(o.key, "a/b", 3);
	assert_int_equal(o.sep_len, 1);
	assert_int_equal(o.min_index, 17);
	assert_int_equal(o.wait_ms, 5000);
	assert_int_equal(o.consistency, CONS_STALE);
	proto_msg_free(&m);
	mpw_free(&w);
}

static void
test_kv_write_roundtrip_binary(void **state)
{
	uint8_t val[256];
	struct msg_kv_write wr = { KVW_CAS, "k", 1, val, sizeof(val),
		UINT64_MAX, 99, NULL, 0 }, o;
	struct proto_msg m;
	struct lerr e;
	struct mpw w;

	(void)state;
	for (int i = 0; i < 256; i++)
		val[i] = (uint8_t)i;
	mpw_init(&w);
	proto_begin(&w, MSG_KV_WRITE, 1, 1);
	msg_kv_write_enc(&w, &wr);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(msg_kv_write_dec(&m, &o, &e), 0);
	assert_int_equal(o.op, KVW_CAS);
	assert_int_equal(o.value_len, 256);
	assert_memory_equal(o.value, val, 256);
	assert_true(o.flags == UINT64_MAX);
	assert_int_equal(o.index, 99);
	assert_null(o.session);
	proto_msg_free(&m);
	mpw_free(&w);
}

static void
test_read_reply_entries(void **state)
{
	struct msg_kv_read_reply rep = { 0, NULL, 0, 7, true, 0, 2, NULL }, o;
	struct msg_kv_entry e1 = { "x", 1, "", 0, 1, 2, 3, 4, NULL, 0 }, oe;
	struct msg_kv_entry e2 = { "y", 1, "v", 1, 5, 6, 7, 8, "sess", 4 };
	struct proto_msg m;
	struct lerr e;
	struct mpw w;

	(void)state;
	mpw_init(&w);
	proto_begin(&w, MSG_KV_READ | PROTO_REPLY, 1, 1);
	msg_kv_read_reply_begin(&w, &rep);
	msg_kv_entry_enc(&w, &e1);
	msg_kv_entry_enc(&w, &e2);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(msg_kv_read_reply_dec(&m, &o, &e), 0);
	assert_int_equal(o.index, 7);
	assert_true(o.known_leader);
	assert_int_equal(o.n_items, 2);
	assert_int_equal(msg_kv_entry_dec(&o.items[0], &oe), 0);
	assert_int_equal(oe.value_len, 0);
	assert_null(oe.session);
	assert_int_equal(msg_kv_entry_dec(&o.items[1], &oe), 0);
	assert_int_equal(oe.session_len, 4);
	assert_int_equal(oe.flags, 8);
	/* an entry is not a key */
	{
		const char *k;
		size_t kl;

		assert_int_not_equal(msg_kv_key_dec(&o.items[0], &k, &kl), 0);
	}
	proto_msg_free(&m);
	mpw_free(&w);
}

static void
test_admin_and_ctl(void **state)
{
	struct msg_ctl_status_reply rep = { 0 }, o;
	struct proto_msg m;
	struct lerr e;
	struct mpw w;

	(void)state;
	rep.n = 2;
	rep.d[0] = (struct msg_ctl_daemon){ "kvd", 3, 100, "running", 7, 5,
		1, 0 };
	rep.d[1] = (struct msg_ctl_daemon){ "httpd", 5, 0, "backoff", 7, 0,
		2, -9 };
	mpw_init(&w);
	proto_begin(&w, MSG_CTL_STATUS | PROTO_REPLY, 1, 1);
	msg_ctl_status_reply_enc(&w, &rep);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_equal(msg_ctl_status_reply_dec(&m, &o, &e), 0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.d[1].last_exit, -9);
	assert_memory_equal(o.d[1].state, "backoff", 7);
	proto_msg_free(&m);
	mpw_free(&w);
}

/* Decodes bytes and expects the envelope or the payload to fail. */
static int
decode_kv_read(const void *buf, size_t len)
{
	struct proto_msg m;
	struct msg_kv_read o;
	struct lerr e;
	int rv;

	if ((rv = proto_decode(buf, len, &m, &e)) != 0)
		return rv;
	rv = msg_kv_read_dec(&m, &o, &e);
	proto_msg_free(&m);
	return rv;
}

static void
test_truncated_and_trailing(void **state)
{
	struct msg_kv_read q = { KVR_GET, "key", 3, NULL, 0, 0, 0, 0 };
	struct mpw w;
	char *buf;
	size_t n;

	(void)state;
	enc_read(&w, MSG_KV_READ, &q);
	n = mpw_len(&w);
	for (size_t cut = 0; cut < n; cut++)
		assert_int_not_equal(decode_kv_read(mpw_data(&w), cut), 0);
	assert_int_equal(decode_kv_read(mpw_data(&w), n), 0);
	buf = malloc(n + 1);
	memcpy(buf, mpw_data(&w), n);
	buf[n] = 0x00;
	assert_int_equal(decode_kv_read(buf, n + 1), -LE_MALFORMED);
	free(buf);
	mpw_free(&w);
}

static void
test_wrong_types_and_fields(void **state)
{
	struct lerr e;
	struct mpw w;
	struct proto_msg m;
	struct msg_kv_read o;

	(void)state;
	/* key as bin instead of str */
	mpw_init(&w);
	proto_begin(&w, MSG_KV_READ, 1, 1);
	mpw_array(&w, 6);
	mpw_u64(&w, KVR_GET);
	mpw_bin(&w, "k", 1);
	mpw_nil(&w);
	mpw_u64(&w, 0);
	mpw_u64(&w, 0);
	mpw_u64(&w, 0);
	assert_int_equal(decode_kv_read(mpw_data(&w), mpw_len(&w)),
	    -LE_MALFORMED);
	mpw_free(&w);
	/* one field missing */
	mpw_init(&w);
	proto_begin(&w, MSG_KV_READ, 1, 1);
	mpw_array(&w, 5);
	mpw_u64(&w, KVR_GET);
	mpw_cstr(&w, "k");
	mpw_nil(&w);
	mpw_u64(&w, 0);
	mpw_u64(&w, 0);
	assert_int_equal(decode_kv_read(mpw_data(&w), mpw_len(&w)),
	    -LE_MALFORMED);
	mpw_free(&w);
	/* an extra field */
	mpw_init(&w);
	proto_begin(&w, MSG_KV_READ, 1, 1);
	mpw_array(&w, 7);
	mpw_u64(&w, KVR_GET);
	mpw_cstr(&w, "k");
	mpw_nil(&w);
	mpw_u64(&w, 0);
	mpw_u64(&w, 0);
	mpw_u64(&w, 0);
	mpw_u64(&w, 0);
	assert_int_equal(decode_kv_read(mpw_data(&w), mpw_len(&w)),
	    -LE_MALFORMED);
	mpw_free(&w);
	/* a bad mode value */
	mpw_init(&w);
	proto_begin(&w, MSG_KV_READ, 1, 1);
	mpw_array(&w, 6);
	mpw_u64(&w, 9);
	mpw_cstr(&w, "k");
	mpw_nil(&w);
	mpw_u64(&w, 0);
	mpw_u64(&w, 0);
	mpw_u64(&w, 0);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e), 0);
	assert_int_not_equal(msg_kv_read_dec(&m, &o, &e), 0);
	assert_non_null(strstr(e.msg, "mode"));
	proto_msg_free(&m);
	mpw_free(&w);
}

static void
test_oversize_key(void **state)
{
	char *key = malloc(KV_MAX_KEY_WIRE + 1);
	struct msg_kv_read q = { KVR_GET, key, KV_MAX_KEY_WIRE + 1, NULL, 0,
		0, 0, 0 };
	struct mpw w;

	(void)state;
	memset(key, 'a', KV_MAX_KEY_WIRE + 1);
	enc_read(&w, MSG_KV_READ, &q);
	assert_int_equal(decode_kv_read(mpw_data(&w), mpw_len(&w)),
	    -LE_TOOBIG);
	mpw_free(&w);
	free(key);
}

static void
test_version_and_type(void **state)
{
	struct proto_msg m;
	struct lerr e;
	struct mpw w;

	(void)state;
	mpw_init(&w);
	mpw_array(&w, 5);
	mpw_u64(&w, PROTO_VERSION + 1);
	mpw_u64(&w, MSG_KV_READ);
	mpw_u64(&w, 1);
	mpw_u64(&w, 1);
	mpw_nil(&w);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e),
	    -LE_VERSION);
	assert_non_null(strstr(e.msg, "version"));
	mpw_free(&w);
	mpw_init(&w);
	mpw_array(&w, 5);
	mpw_u64(&w, PROTO_VERSION);
	mpw_u64(&w, 0x7777);
	mpw_u64(&w, 1);
	mpw_u64(&w, 1);
	mpw_nil(&w);
	assert_int_equal(proto_decode(mpw_data(&w), mpw_len(&w), &m, &e),
	    -LE_MALFORMED);
	mpw_free(&w);
	assert_string_equal(proto_type_name(MSG_KV_WRITE), "kv.write");
	assert_string_equal(proto_type_name(MSG_KV_WRITE | PROTO_REPLY),
	    "kv.write.reply");
}

static void
test_hostile_counts(void **state)
{
	/* array32 claiming 4 billion elements in a 5-byte message */
	const uint8_t big[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	/* str32 claiming 4 GiB */
	const uint8_t bigstr[] = { 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' };
	/* deep nesting */
	uint8_t deep[64];
	/* ext type */
	const uint8_t ext[] = { 0xd4, 0x01, 0x02 };
	/* reserved 0xc1 */
	const uint8_t c1[] = { 0xc1 };
	struct proto_msg m;
	struct lerr e;

	(void)state;
	memset(deep, 0x91, sizeof(deep));
	deep[63] = 0xc0;
	assert_int_equal(proto_decode(big, sizeof(big), &m, &e), -LE_MALFORMED);
	assert_int_not_equal(proto_decode(bigstr, sizeof(bigstr), &m, &e), 0);
	assert_int_equal(proto_decode(deep, sizeof(deep), &m, &e),
	    -LE_MALFORMED);
	assert_int_equal(proto_decode(ext, sizeof(ext), &m, &e), -LE_MALFORMED);
	assert_int_equal(proto_decode(c1, sizeof(c1), &m, &e), -LE_MALFORMED);
	assert_int_equal(proto_decode("", 0, &m, &e), -LE_MALFORMED);
}

static void
test_garbage_never_crashes(void **state)
{
	uint8_t buf[128];
	uint64_t x = 88172645463325252ULL;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(i % sizeof(buf));

		for (size_t j = 0; j < n; j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[j] = (uint8_t)x;
		}
		if (n > 0 && (i & 1))
			buf[0] = 0x95; /* look like an envelope */
		(void)decode_kv_read(buf, n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_read_roundtrip),
		cmocka_unit_test(test_kv_write_roundtrip_binary),
		cmocka_unit_test(test_read_reply_entries),
		cmocka_unit_test(test_admin_and_ctl),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_wrong_types_and_fields),
		cmocka_unit_test(test_oversize_key),
		cmocka_unit_test(test_version_and_type),
		cmocka_unit_test(test_hostile_counts),
		cmocka_unit_test(test_garbage_never_crashes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
