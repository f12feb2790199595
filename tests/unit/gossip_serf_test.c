/* gossip_serf_test.c: Serf's message codec (proto/gossip_serf.c) against
 * bytes produced by Serf's own Go encoders (tests/golden/serf/vectors.inc,
 * made by tests/golden/serf/gen/gen.sh from Debian's serf 0.9.4 sources):
 * every vector decodes to the values the generator put in and re-encodes
 * to the same bytes; every truncation and a trailing byte are refused
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

struct vec {
	const char *name;
	const char *hex;
};

static const struct vec vectors[] = {
#define V(n, h) { #n, h },
#include "../golden/serf/vectors.inc"
#undef V
};

#define NVEC (sizeof(vectors) / sizeof(vectors[0]))

/* The vector's bytes (malloc'd, *len set). */
static uint8_t *
vec(const char *name, size_t *len)
{
	for (size_t i = 0; i < NVEC; i++) {
		const char *h = vectors[i].hex;
		size_t n = strlen(h) / 2;
		uint8_t *b;

		if (strcmp(vectors[i].name, name) != 0)
			continue;
		b = malloc(n ? n : 1);
		assert_non_null(b);
		for (size_t k = 0; k < n; k++) {
			unsigned v;

			assert_int_equal(sscanf(h + 2 * k, "%2x", &v), 1);
			b[k] = (uint8_t)v;
		}
		*len = n;
		return b;
	}
	fail_msg("no vector %s", name);
	return NULL;
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
assert_same(const struct gw_buf *b, const uint8_t *want, size_t n)
{
	if (b->len != n || memcmp(b->p, want, n) != 0) {
		fprintf(stderr, "got  ");
		for (size_t i = 0; i < b->len; i++)
			fprintf(stderr, "%02x", b->p[i]);
		fprintf(stderr, "\nwant ");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%02x", want[i]);
		fprintf(stderr, "\n");
		fail();
	}
}

/* Decoded messages borrow from their bytes: keep the vectors that
 * roundtrip decoded until the test ends (released by the teardown). */
static uint8_t *held[64];
static unsigned nheld;

static int
release(void **state)
{
	(void)state;
	while (nheld > 0)
		free(held[--nheld]);
	return 0;
}

/* Decodes vector name as a whole Serf message, re-encodes it with
 * gs_encode and compares. */
static void
roundtrip(const char *name, struct gs_msg *m)
{
	struct gw_buf out = { 0 };
	const char *why = NULL;
	size_t len;
	uint8_t *b = vec(name, &len);
	int rc = gs_decode(b, len, m, &why);

	assert_true(nheld < 64);
	held[nheld++] = b;
	if (rc != 0)
		fail_msg("%s: %s (%s)", name, le_strerror(rc), why ? why : "");
	assert_int_equal(gs_encode(&out, m), 0);
	assert_same(&out, b, len);
	gw_buf_free(&out);
}

static void
test_intents(void **state)
{
	struct gs_msg m;

	(void)state;
	roundtrip("join", &m);
	assert_int_equal(m.type, GS_JOIN);
	assert_int_equal(m.u.join.ltime, 7);
	assert_true(beq(m.u.join.node, "n1"));
	roundtrip("leave", &m);
	assert_int_equal(m.type, GS_LEAVE);
	assert_int_equal(m.u.leave.ltime, 300);
	assert_true(beq(m.u.leave.node, "node-two"));
	assert_false(m.u.leave.prune);
	roundtrip("leave_prune", &m);
	assert_int_equal(m.u.leave.ltime, 70000);
	assert_true(m.u.leave.prune);
}

static void
test_user_events(void **state)
{
	struct gs_msg m;

	(void)state;
	roundtrip("event", &m);
	assert_int_equal(m.type, GS_USER_EVENT);
	assert_int_equal(m.u.event.ltime, 5);
	assert_true(beq(m.u.event.name, "deploy"));
	assert_true(beq(m.u.event.payload, "v1.2"));
	assert_true(m.u.event.cc);
	roundtrip("event_nil_payload", &m);
	assert_null(m.u.event.payload.p);
	assert_false(m.u.event.cc);
	roundtrip("event_str16", &m);
	assert_int_equal(m.u.event.ltime, 4294967296ULL);
	assert_int_equal(m.u.event.payload.len, 40);
}

static void
test_queries(void **state)
{
	struct gs_msg m;
	struct gs_filter *f = calloc(1, sizeof(*f));
	struct gw_buf out = { 0 };
	size_t len;
	uint8_t *b;

	(void)state;
	assert_non_null(f);
	roundtrip("query", &m);
	assert_int_equal(m.type, GS_QUERY);
	assert_int_equal(m.u.query.ltime, 3);
	assert_int_equal(m.u.query.id, 0x12345678);
	assert_int_equal(m.u.query.addr.len, 4);
	assert_int_equal(m.u.query.addr.p[3], 42);
	assert_int_equal(m.u.query.port, 8301);
	assert_true(beq(m.u.query.source_node, "n1"));
	assert_int_equal(m.u.query.flags, GS_QUERY_ACK);
	assert_int_equal(m.u.query.relay_factor, 2);
	assert_int_equal(m.u.query.timeout_ns, 3000000000LL);
	assert_true(beq(m.u.query.name, "ask"));
	assert_true(beq(m.u.query.payload, "?"));
	assert_int_equal(m.u.query.n_filters, 2);
	/* The filters inside are Go's encodeFilter output. */
	assert_int_equal(gs_filter_decode(m.u.query.filters[0], f, NULL), 0);
	assert_int_equal(f->type, GS_FILTER_NODE);
	assert_int_equal(f->n_nodes, 2);
	assert_true(beq(f->nodes[1], "n2"));
	assert_int_equal(gs_filter_decode(m.u.query.filters[1], f, NULL), 0);
	assert_int_equal(f->type, GS_FILTER_TAG);
	assert_true(beq(f->tag, "role"));
	assert_true(beq(f->expr, "^web$"));
	assert_int_equal(gs_filter_encode(&out, f), 0);
	b = vec("filter_tag", &len);
	assert_same(&out, b, len);
	free(b);
	out.len = 0;
	memset(f, 0, sizeof(*f));
	f->type = GS_FILTER_NODE;
	f->n_nodes = 2;
	f->nodes[0] = B("n1");
	f->nodes[1] = B("n2");
	assert_int_equal(gs_filter_encode(&out, f), 0);
	b = vec("filter_node", &len);
	assert_same(&out, b, len);
	free(b);
	/* Unknown filter types are not ours to guess. */
	{
		uint8_t odd[] = { 7, 0x90 };

		assert_int_equal(gs_filter_decode((struct gw_bytes){ odd, 2 },
		    f, NULL), -LE_UNSUPPORTED);
		assert_int_equal(gs_filter_decode((struct gw_bytes){ odd, 0 },
		    f, NULL), -LE_MALFORMED);
	}
	roundtrip("query_nofilter", &m);
	assert_int_equal(m.u.query.n_filters, 0);
	assert_int_equal(m.u.query.flags, GS_QUERY_NO_BROADCAST);
	assert_true(beq(m.u.query.name, "_serf_ping"));
	assert_null(m.u.query.payload.p);
	roundtrip("query_ack", &m);
	assert_int_equal(m.type, GS_QUERY_RESPONSE);
	assert_int_equal(m.u.resp.flags, 1);
	assert_true(beq(m.u.resp.from, "n2"));
	assert_null(m.u.resp.payload.p);
	roundtrip("query_response", &m);
	assert_int_equal(m.u.resp.flags, 0);
	assert_true(beq(m.u.resp.payload, "answer"));
	gw_buf_free(&out);
	free(f);
}

static void
test_relay(void **state)
{
	struct gs_msg m, inner;

	(void)state;
	roundtrip("relay", &m);
	assert_int_equal(m.type, GS_RELAY);
	assert_int_equal(m.u.relay.dest_ip.len, 4);
	assert_int_equal(m.u.relay.dest_port, 8301);
	assert_int_equal(m.u.relay.dest_zone.len, 0);
	assert_true(beq(m.u.relay.dest_name, "n1"));
	assert_int_equal(gs_decode(m.u.relay.inner.p, m.u.relay.inner.len,
	    &inner, NULL), 0);
	assert_int_equal(inner.type, GS_QUERY_RESPONSE);
	assert_int_equal(inner.u.resp.id, 0x12345678);
}

struct tagv {
	unsigned n;
	char k[8][32], v[8][32];
};

static int
tag_each(void *arg, struct gw_bytes k, struct gw_bytes v)
{
	struct tagv *t = arg;

	assert_true(t->n < 8 && k.len < 32 && v.len < 32);
	memcpy(t->k[t->n], k.p, k.len);
	t->k[t->n][k.len] = 0;
	memcpy(t->v[t->n], v.p, v.len);
	t->v[t->n][v.len] = 0;
	t->n++;
	return 0;
}

static void
test_tags(void **state)
{
	struct gw_bytes k = B("role"), v = B("consul");
	struct gw_buf out = { 0 };
	struct tagv t;
	size_t len;
	uint8_t *b;

	(void)state;
	b = vec("tags", &len);
	memset(&t, 0, sizeof(t));
	assert_int_equal(gs_tags_decode((struct gw_bytes){ b, len }, tag_each,
	    &t, NULL), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.k[0], "role");
	assert_string_equal(t.v[0], "consul");
	assert_int_equal(gs_tags_encode(&out, &k, &v, 1), 0);
	assert_same(&out, b, len);
	free(b);
	out.len = 0;
	b = vec("tags_empty", &len);
	memset(&t, 0, sizeof(t));
	assert_int_equal(gs_tags_decode((struct gw_bytes){ b, len }, tag_each,
	    &t, NULL), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(gs_tags_encode(&out, NULL, NULL, 0), 0);
	assert_same(&out, b, len);
	free(b);
	/* Protocol 2: the meta is the bare role. */
	b = vec("tags_v2_role", &len);
	memset(&t, 0, sizeof(t));
	assert_int_equal(gs_tags_decode((struct gw_bytes){ b, len }, tag_each,
	    &t, NULL), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.k[0], "role");
	assert_string_equal(t.v[0], "web");
	free(b);
	/* Empty meta is an empty role, as Go's decodeTags makes it. */
	memset(&t, 0, sizeof(t));
	assert_int_equal(gs_tags_decode((struct gw_bytes){ NULL, 0 }, tag_each,
	    &t, NULL), 0);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.v[0], "");
	/* Garbage after the magic byte is an error. */
	{
		uint8_t bad[] = { 0xff, 0x81, 0xa1, 'k' };
		uint8_t trail[] = { 0xff, 0x80, 0x00 };

		assert_int_not_equal(gs_tags_decode((struct gw_bytes){ bad,
		    sizeof(bad) }, tag_each, &t, NULL), 0);
		assert_int_equal(gs_tags_decode((struct gw_bytes){ trail,
		    sizeof(trail) }, tag_each, &t, NULL), -LE_MALFORMED);
	}
	gw_buf_free(&out);
}

/* Walks a decoded push/pull into arrays and re-encodes it. */
static void
pp_reencode(const struct gs_push_pull *in, struct gw_buf *out)
{
	struct gs_push_pull pp = *in;
	struct gs_status_ltime st[8];
	struct gw_bytes left[8];
	struct gs_user_events slots[8];
	struct gs_event evs[8][4];
	struct gs_user_events e;
	unsigned i = 0, ns = 0, nl = 0, nslot;
	int rc;

	while ((rc = gs_push_next_status(&pp, &i, &st[ns], NULL)) == 1)
		assert_true(++ns < 8);
	assert_int_equal(rc, 0);
	i = 0;
	while ((rc = gs_push_next_left(&pp, &i, &left[nl], NULL)) == 1)
		assert_true(++nl < 8);
	assert_int_equal(rc, 0);
	/* Slots: nil ones are skipped by the walker; rebuild the ring's
	 * shape from the index it reports. */
	i = 0;
	memset(slots, 0, sizeof(slots));
	for (;;) {
		unsigned k = 0;

		if ((rc = gs_push_next_events(&pp, &i, &e, NULL)) != 1)
			break;
		assert_true(i <= 8);
		slots[i - 1].ltime = e.ltime;
		while ((rc = gs_slot_next_event(&e, &evs[i - 1][k], NULL)) == 1)
			assert_true(++k < 4);
		assert_int_equal(rc, 0);
		slots[i - 1].n = k;
		slots[i - 1].ev = evs[i - 1];
	}
	assert_int_equal(rc, 0);
	nslot = in->n_events;
	assert_int_equal(gs_push_encode(out, in->ltime, in->event_ltime,
	    in->query_ltime, st, ns, left, nl, slots, nslot), 0);
}

static void
test_push_pull(void **state)
{
	struct gs_msg m;
	struct gw_buf out = { 0 };
	struct gs_push_pull pp;
	struct gs_status_ltime st;
	struct gs_user_events e;
	struct gs_event ev;
	struct gw_bytes name;
	unsigned i = 0;
	size_t len;
	uint8_t *b;

	(void)state;
	b = vec("push_pull", &len);
	assert_int_equal(gs_decode(b, len, &m, NULL), 0);
	assert_int_equal(m.type, GS_PUSH_PULL);
	pp = m.u.pp;
	assert_int_equal(pp.ltime, 10);
	assert_int_equal(pp.event_ltime, 8);
	assert_int_equal(pp.query_ltime, 1);
	assert_int_equal(pp.n_status, 1);
	assert_int_equal(pp.n_left, 1);
	assert_int_equal(pp.n_events, 4);
	assert_int_equal(gs_push_next_status(&pp, &i, &st, NULL), 1);
	assert_true(beq(st.name, "n1"));
	assert_int_equal(st.ltime, 2);
	assert_int_equal(gs_push_next_status(&pp, &i, &st, NULL), 0);
	i = 0;
	assert_int_equal(gs_push_next_left(&pp, &i, &name, NULL), 1);
	assert_true(beq(name, "gone"));
	i = 0;
	assert_int_equal(gs_push_next_events(&pp, &i, &e, NULL), 1);
	assert_int_equal(i, 2);		/* slot 0 was nil */
	assert_int_equal(e.ltime, 5);
	assert_int_equal(e.n, 2);
	assert_int_equal(gs_slot_next_event(&e, &ev, NULL), 1);
	assert_true(beq(ev.name, "a"));
	assert_true(beq(ev.payload, "x"));
	assert_int_equal(gs_slot_next_event(&e, &ev, NULL), 1);
	assert_true(beq(ev.name, "b"));
	assert_null(ev.payload.p);
	assert_int_equal(gs_slot_next_event(&e, &ev, NULL), 0);
	assert_int_equal(gs_push_next_events(&pp, &i, &e, NULL), 1);
	assert_int_equal(e.ltime, 7);
	assert_int_equal(gs_slot_next_event(&e, &ev, NULL), 1);
	assert_non_null(ev.payload.p);	/* empty, not nil */
	assert_int_equal(ev.payload.len, 0);
	assert_int_equal(gs_push_next_events(&pp, &i, &e, NULL), 0);
	pp_reencode(&m.u.pp, &out);
	assert_same(&out, b, len);
	free(b);
	out.len = 0;
	b = vec("push_pull_empty", &len);
	assert_int_equal(gs_decode(b, len, &m, NULL), 0);
	assert_int_equal(m.u.pp.n_events, 2);
	i = 0;
	pp = m.u.pp;
	assert_int_equal(gs_push_next_events(&pp, &i, &e, NULL), 0);
	pp_reencode(&m.u.pp, &out);
	assert_same(&out, b, len);
	free(b);
	gw_buf_free(&out);
	/* gs_encode does not take a push/pull (gs_push_encode does). */
	m.type = GS_PUSH_PULL;
	assert_int_equal(gs_encode(&out, &m), -LE_INVAL);
	assert_int_equal(out.len, 0);
}

static void
test_conflict(void **state)
{
	static const uint8_t ip[] = { 127, 0, 0, 43 };
	struct gw_bytes k = B("role"), v = B("node");
	struct gs_member mb = {
		.name = B("n2"), .addr = { ip, 4 }, .port = 8301,
		.tag_keys = &k, .tag_vals = &v, .n_tags = 1, .status = 1,
		.vsn = { 1, 5, 2, 2, 5, 4 },
	};
	struct gw_buf out = { 0 };
	struct gs_msg m;
	size_t len;
	uint8_t *b;

	(void)state;
	assert_int_equal(gs_conflict_encode(&out, &mb), 0);
	b = vec("conflict", &len);
	assert_same(&out, b, len);
	assert_int_equal(gs_decode(b, len, &m, NULL), 0);
	assert_int_equal(m.type, GS_CONFLICT_RESPONSE);
	assert_int_equal(m.u.raw.len, len - 1);
	free(b);
	out.len = 0;
	assert_int_equal(gs_conflict_encode(&out, NULL), 0);
	b = vec("conflict_nil", &len);
	assert_same(&out, b, len);
	free(b);
	gw_buf_free(&out);
}

static void
test_keys(void **state)
{
	struct gs_key_response *r = calloc(1, sizeof(*r));
	struct gw_buf out = { 0 };
	struct gw_bytes key;
	size_t len;
	uint8_t *b;

	(void)state;
	assert_non_null(r);
	b = vec("key_request", &len);
	assert_int_equal(gs_key_request_decode((struct gw_bytes){ b, len },
	    &key, NULL), 0);
	assert_int_equal(key.len, 16);
	assert_int_equal(key.p[15], 15);
	assert_int_equal(gs_key_request_encode(&out, key), 0);
	assert_same(&out, b, len);
	assert_int_not_equal(gs_key_request_decode((struct gw_bytes){ b,
	    len - 1 }, &key, NULL), 0);
	free(b);
	out.len = 0;
	b = vec("key_response_list", &len);
	assert_int_equal(gs_key_response_decode((struct gw_bytes){ b, len }, r,
	    NULL), 0);
	assert_true(r->result);
	assert_int_equal(r->n_keys, 2);
	assert_true(beq(r->keys[1], "qrvM3e7/ABEiM0RVZneImQ=="));
	assert_true(beq(r->primary, "AAECAwQFBgcICQoLDA0ODw=="));
	assert_int_equal(r->message.len, 0);
	assert_int_equal(gs_key_response_encode(&out, r), 0);
	assert_same(&out, b, len);
	free(b);
	out.len = 0;
	b = vec("key_response_err", &len);
	assert_int_equal(gs_key_response_decode((struct gw_bytes){ b, len }, r,
	    NULL), 0);
	assert_false(r->result);
	assert_true(r->keys_nil);
	assert_true(beq(r->message,
	    "No keyring to modify (encryption not enabled)"));
	assert_int_equal(gs_key_response_encode(&out, r), 0);
	assert_same(&out, b, len);
	/* Truncated anywhere: refused. */
	for (size_t n = 0; n < len; n++)
		assert_int_not_equal(gs_key_response_decode((struct gw_bytes){
		    b, n }, r, NULL), 0);
	free(b);
	gw_buf_free(&out);
	free(r);
}

/* Every proper prefix of every message vector fails to decode (with an
 * error, not a crash: ASan watches), and so does one byte too many. */
static void
test_truncated_and_trailing(void **state)
{
	static const char *const msgs[] = { "join", "leave", "leave_prune",
	    "event", "event_nil_payload", "event_str16", "query",
	    "query_nofilter", "query_ack", "query_response", "push_pull",
	    "push_pull_empty" };
	struct gs_msg m;

	(void)state;
	for (size_t v = 0; v < sizeof(msgs) / sizeof(msgs[0]); v++) {
		size_t len;
		uint8_t *b = vec(msgs[v], &len);
		uint8_t *big = malloc(len + 1);

		for (size_t n = 0; n < len; n++) {
			/* Exact-size copies so ASan sees any over-read. */
			uint8_t *c = malloc(n ? n : 1);
			const char *why = NULL;
			int rc;

			memcpy(c, b, n);
			rc = gs_decode(c, n, &m, &why);
			if (rc == 0)
				fail_msg("%s: prefix of %zu/%zu bytes decoded",
				    msgs[v], n, len);
			assert_true(rc == -LE_MALFORMED || rc == -LE_TOOBIG);
			free(c);
		}
		memcpy(big, b, len);
		big[len] = 0xc0;
		assert_int_equal(gs_decode(big, len + 1, &m, NULL),
		    -LE_MALFORMED);
		free(big);
		free(b);
	}
	/* A relay cut anywhere inside its header fails; a relay with its
	 * header but no message fails too. */
	{
		size_t len;
		uint8_t *b = vec("relay", &len);

		for (size_t n = 0; n < 40; n++)
			assert_int_not_equal(gs_decode(b, n, &m, NULL), 0);
		free(b);
	}
}

static void
test_refusals(void **state)
{
	struct gs_msg m;
	struct gw_buf out = { 0 };
	uint8_t unknown[] = { 42, 0x80 };
	/* A join whose LTime is negative: Go's decoder refuses it for a
	 * uint64, so do we. */
	uint8_t neg[] = { 1, 0x81, 0xa5, 'L', 'T', 'i', 'm', 'e', 0xff };
	/* Unknown keys are skipped, as go-msgpack does. */
	uint8_t extra[] = { 1, 0x82, 0xa1, 'X', 0x93, 1, 2, 3, 0xa5, 'L', 'T',
	    'i', 'm', 'e', 9 };
	/* A name longer than we keep. */
	uint8_t *longname;
	size_t ln = 1 + 1 + 5 + 3 + GW_NAME_MAX + 1;

	(void)state;
	assert_int_equal(gs_decode(unknown, sizeof(unknown), &m, NULL),
	    -LE_MALFORMED);
	assert_int_equal(gs_decode(neg, sizeof(neg), &m, NULL), -LE_MALFORMED);
	assert_int_equal(gs_decode(extra, sizeof(extra), &m, NULL), 0);
	assert_int_equal(m.u.join.ltime, 9);
	assert_int_equal(gs_decode(NULL, 0, &m, NULL), -LE_MALFORMED);
	longname = calloc(1, ln);
	longname[0] = 1;
	longname[1] = 0x81;
	memcpy(longname + 2, "\xa4Node", 5);
	longname[7] = 0xda;
	longname[8] = (GW_NAME_MAX + 1) >> 8;
	longname[9] = (GW_NAME_MAX + 1) & 0xff;
	assert_int_equal(gs_decode(longname, ln, &m, NULL), -LE_TOOBIG);
	free(longname);
	/* Encoders refuse what we would refuse to read, leaving out alone. */
	memset(&m, 0, sizeof(m));
	m.type = GS_RELAY;
	assert_int_equal(gs_encode(&out, &m), -LE_INVAL);
	m.type = 77;
	assert_int_equal(gs_encode(&out, &m), -LE_INVAL);
	memset(&m, 0, sizeof(m));
	m.type = GS_QUERY;
	m.u.query.n_filters = 1;		/* an empty filter */
	assert_int_equal(gs_encode(&out, &m), -LE_INVAL);
	assert_int_equal(out.len, 0);
	gw_buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_intents, release),
		cmocka_unit_test_teardown(test_user_events, release),
		cmocka_unit_test_teardown(test_queries, release),
		cmocka_unit_test_teardown(test_relay, release),
		cmocka_unit_test_teardown(test_tags, release),
		cmocka_unit_test_teardown(test_push_pull, release),
		cmocka_unit_test_teardown(test_conflict, release),
		cmocka_unit_test_teardown(test_keys, release),
		cmocka_unit_test_teardown(test_truncated_and_trailing, release),
		cmocka_unit_test_teardown(test_refusals, release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
