/* gossip_net_test.c: where a message ends on a gossip TCP stream
 * (gw_stream_msg_len, fed byte by byte), and gossipd's sockets on
 * loopback: UDP packets, a stream request with its reply, a request
 * without one, a refused connection, a peer that never answers (timeout)
 * and a garbage stream (dropped and counted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "gossip_stream.h"
#include "gossip_wire.h"
#include "loop.h"
#include "net.h"

/* ---- framing ---- */

/* Every proper prefix needs more bytes; the whole message is complete
 * with the right length even with bytes after it. */
static void
check_prefixes(const uint8_t *msg, size_t len)
{
	uint8_t buf[4096];
	size_t n;

	assert_true(len + 3 <= sizeof(buf));
	for (size_t i = 0; i < len; i++)
		assert_int_equal(gw_stream_msg_len(msg, i, &n, NULL), -LE_AGAIN);
	assert_int_equal(gw_stream_msg_len(msg, len, &n, NULL), 0);
	assert_int_equal(n, len);
	memcpy(buf, msg, len);
	memcpy(buf + len, "\x01\x02\x03", 3);
	assert_int_equal(gw_stream_msg_len(buf, len + 3, &n, NULL), 0);
	assert_int_equal(n, len);
}

static void
test_frame_ping(void **state)
{
	/* A ping from memberlist-wire.md §5's capture. */
	static const uint8_t ping[] = { 0x00, 0x85, 0xa4, 'N', 'o', 'd', 'e',
		0xa2, 'n', '3', 0xa5, 'S', 'e', 'q', 'N', 'o', 0x01, 0xaa,
		'S', 'o', 'u', 'r', 'c', 'e', 'A', 'd', 'd', 'r', 0xa4, 0x7f,
		0x00, 0x00, 0x2a, 0xaa, 'S', 'o', 'u', 'r', 'c', 'e', 'N', 'o',
		'd', 'e', 0xa2, 'n', '1', 0xaa, 'S', 'o', 'u', 'r', 'c', 'e',
		'P', 'o', 'r', 't', 0xcd, 0x46, 0x1a };

	(void)state;
	check_prefixes(ping, sizeof(ping));
}

static void
test_frame_push_pull(void **state)
{
	/* [6] {Join: true, Nodes: 2, UserStateLen: 3} {..} {..} "abc" */
	uint8_t m[256];
	size_t n = 0;
	static const uint8_t hdr[] = { 0x83, 0xa4, 'J', 'o', 'i', 'n', 0xc3,
		0xa5, 'N', 'o', 'd', 'e', 's', 0x02, 0xac, 'U', 's', 'e', 'r',
		'S', 't', 'a', 't', 'e', 'L', 'e', 'n', 0x03 };
	static const uint8_t node[] = { 0x82, 0xa4, 'N', 'a', 'm', 'e', 0xa1,
		'a', 0xa4, 'P', 'o', 'r', 't', 0xcd, 0x1f, 0x90 };

	(void)state;
	m[n++] = GW_PUSH_PULL;
	memcpy(m + n, hdr, sizeof(hdr));
	n += sizeof(hdr);
	memcpy(m + n, node, sizeof(node));
	n += sizeof(node);
	memcpy(m + n, node, sizeof(node));
	n += sizeof(node);
	memcpy(m + n, "abc", 3);
	n += 3;
	check_prefixes(m, n);
}

static void
test_frame_user_encrypted_label(void **state)
{
	/* [244][2]"lb" [10][len 5][5 bytes] */
	static const uint8_t enc[] = { 244, 2, 'l', 'b', 10, 0, 0, 0, 5,
		1, 2, 3, 4, 5 };
	/* [8]{UserMsgLen: 2} "hi" */
	static const uint8_t user[] = { 8, 0x81, 0xaa, 'U', 's', 'e', 'r',
		'M', 's', 'g', 'L', 'e', 'n', 0x02, 'h', 'i' };

	(void)state;
	check_prefixes(enc, sizeof(enc));
	check_prefixes(user, sizeof(user));
}

static void
test_frame_bad(void **state)
{
	static const uint8_t unknown[] = { 77, 0x80 };
	static const uint8_t huge[] = { 10, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t badhdr[] = { 6, 0x81, 0xa5, 'N', 'o', 'd', 'e',
		's', 0xd0, 0x80 };	/* Nodes: -128 */
	static const uint8_t nolabel[] = { 244, 0 };
	static const uint8_t ext[] = { 0, 0xd4, 0, 0 };	/* fixext 1 */
	size_t n;
	const char *why = NULL;

	(void)state;
	assert_int_equal(gw_stream_msg_len(unknown, sizeof(unknown), &n,
	    &why), -LE_MALFORMED);
	assert_non_null(why);
	assert_int_equal(gw_stream_msg_len(huge, sizeof(huge), &n, NULL),
	    -LE_TOOBIG);
	assert_int_equal(gw_stream_msg_len(badhdr, sizeof(badhdr), &n, NULL),
	    -LE_MALFORMED);
	assert_int_equal(gw_stream_msg_len(nolabel, sizeof(nolabel), &n,
	    NULL), -LE_MALFORMED);
	assert_int_equal(gw_stream_msg_len(ext, sizeof(ext), &n, NULL),
	    -LE_MALFORMED);
}

/* ---- sockets ---- */

struct side {
	struct gnet *net;
	int packets;
	uint8_t last[64];
	size_t last_len;
	int streams;
	bool reply;
};

struct run {
	struct loop *l;
	struct side a, b;
	int done, rv[8];
	uint8_t reply[64];
	size_t reply_len;
	struct loop_timer *guard;
};

static void
on_packet(void *arg, const struct sockaddr_storage *from, const uint8_t *buf,
    size_t len)
{
	struct side *s = arg;

	(void)from;
	s->packets++;
	if (len <= sizeof(s->last)) {
		memcpy(s->last, buf, len);
		s->last_len = len;
	}
}

static void
on_stream(void *arg, struct gstream *st, const uint8_t *msg, size_t len)
{
	struct side *s = arg;
	/* An ack, as a reply to the fallback ping. */
	static const uint8_t ack[] = { 2, 0x82, 0xa7, 'P', 'a', 'y', 'l', 'o',
		'a', 'd', 0xc0, 0xa5, 'S', 'e', 'q', 'N', 'o', 0x07 };

	(void)msg;
	(void)len;
	s->streams++;
	if (s->reply)
		gnet_stream_reply(st, ack, sizeof(ack));
}

static const struct gnet_ops test_ops = { on_packet, on_stream };

static void
stop(void *arg)
{
	loop_stop(((struct run *)arg)->l);
}

static void
on_result(void *arg, int rv, const uint8_t *reply, size_t len)
{
	struct run *r = arg;

	r->rv[r->done++] = rv;
	if (rv == 0 && reply != NULL && len <= sizeof(r->reply)) {
		memcpy(r->reply, reply, len);
		r->reply_len = len;
	}
	loop_stop(r->l);
}

static void
setup_run(struct run *r)
{
	struct lerr e = { "" };

	memset(r, 0, sizeof(*r));
	assert_int_equal(loop_new(&r->l), 0);
	assert_int_equal(gnet_open(r->l, "127.0.0.1", 0, &test_ops, &r->a,
	    2000, &r->a.net, &e), 0);
	assert_int_equal(gnet_open(r->l, "127.0.0.1", 0, &test_ops, &r->b,
	    2000, &r->b.net, &e), 0);
	assert_true(gnet_port(r->a.net) > 0);
	r->guard = loop_timer_new(r->l, stop, r);
	loop_timer_arm(r->guard, 5000);
}

static void
teardown_run(struct run *r)
{
	gnet_close(r->a.net);
	gnet_close(r->b.net);
	loop_timer_free(r->guard);
	loop_free(r->l);
}

static void
addr_of(struct gnet *n, struct sockaddr_storage *sa)
{
	char s[32];
	struct lerr e = { "" };

	snprintf(s, sizeof(s), "127.0.0.1:%d", gnet_port(n));
	assert_int_equal(gaddr_parse(s, 0, sa, &e), 0);
}

static void
test_udp(void **state)
{
	struct run r;
	struct sockaddr_storage to;
	static const uint8_t pkt[] = "hello";

	(void)state;
	setup_run(&r);
	addr_of(r.b.net, &to);
	assert_int_equal(gnet_sendto(r.a.net, &to, pkt, 5), 0);
	loop_timer_arm(r.guard, 200);
	loop_run(r.l);
	assert_int_equal(r.b.packets, 1);
	assert_int_equal(r.b.last_len, 5);
	assert_memory_equal(r.b.last, "hello", 5);
	assert_int_equal(gnet_stats(r.a.net)->udp_out, 1);
	teardown_run(&r);
}

static const uint8_t ping[] = { 0x00, 0x82, 0xa4, 'N', 'o', 'd', 'e', 0xa1,
	'b', 0xa5, 'S', 'e', 'q', 'N', 'o', 0x07 };

static void
test_request_reply(void **state)
{
	struct run r;
	struct sockaddr_storage to;

	(void)state;
	setup_run(&r);
	r.b.reply = true;
	addr_of(r.b.net, &to);
	assert_int_equal(gnet_request(r.a.net, &to, ping, sizeof(ping), true,
	    0, on_result, &r), 0);
	assert_int_equal(r.done, 0);	/* never inside the call */
	loop_run(r.l);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.rv[0], 0);
	assert_int_equal(r.b.streams, 1);
	assert_int_equal(r.reply_len, 18);
	assert_int_equal(r.reply[0], 2);
	/* Without a reply wanted: done once written. */
	assert_int_equal(gnet_request(r.a.net, &to, ping, sizeof(ping), false,
	    0, on_result, &r), 0);
	loop_run(r.l);
	assert_int_equal(r.done, 2);
	assert_int_equal(r.rv[1], 0);
	teardown_run(&r);
}

static void
test_refused_and_timeout(void **state)
{
	struct run r;
	struct sockaddr_storage to;
	int fd;
	struct lerr e = { "" };

	(void)state;
	setup_run(&r);
	/* A port nobody listens on: take one and close it. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t sl = sizeof(sa);
		char s[32];

		sa.sin_addr.s_addr = htonl(0x7f000001);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)),
		    0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl),
		    0);
		snprintf(s, sizeof(s), "127.0.0.1:%d", ntohs(sa.sin_port));
		close(fd);
		assert_int_equal(gaddr_parse(s, 0, &to, &e), 0);
	}
	assert_int_equal(gnet_request(r.a.net, &to, ping, sizeof(ping), true,
	    0, on_result, &r), 0);
	loop_run(r.l);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.rv[0], -LE_IO);
	/* A listener that accepts but never answers: b without a reply
	 * closes at once, so use a raw listening socket instead. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t sl = sizeof(sa);
		char s[32];

		sa.sin_addr.s_addr = htonl(0x7f000001);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)),
		    0);
		assert_int_equal(listen(fd, 4), 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl),
		    0);
		snprintf(s, sizeof(s), "127.0.0.1:%d", ntohs(sa.sin_port));
		assert_int_equal(gaddr_parse(s, 0, &to, &e), 0);
	}
	assert_int_equal(gnet_request(r.a.net, &to, ping, sizeof(ping), true,
	    150, on_result, &r), 0);
	loop_run(r.l);
	close(fd);
	assert_int_equal(r.done, 2);
	assert_int_equal(r.rv[1], -LE_TIMEOUT);
	assert_int_equal(gnet_stats(r.a.net)->tcp_timeouts, 1);
	teardown_run(&r);
}

static void
test_garbage_stream(void **state)
{
	struct run r;
	struct sockaddr_storage to;
	static const uint8_t junk[] = { 0x4d, 0x80 };

	(void)state;
	setup_run(&r);
	addr_of(r.b.net, &to);
	/* b reads garbage, counts it and hangs up: a sees the reset. */
	assert_int_equal(gnet_request(r.a.net, &to, junk, sizeof(junk), true,
	    0, on_result, &r), 0);
	loop_run(r.l);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.rv[0], -LE_IO);
	assert_int_equal(r.b.streams, 0);
	assert_int_equal(gnet_stats(r.b.net)->tcp_bad, 1);
	teardown_run(&r);
}

static void
test_addr_parse(void **state)
{
	struct sockaddr_storage a, b;
	struct lerr e = { "" };
	char s[64];
	uint8_t ip[16];
	uint16_t port;

	(void)state;
	assert_int_equal(gaddr_parse("127.0.0.5", 8301, &a, &e), 0);
	gaddr_str(&a, s, sizeof(s));
	assert_string_equal(s, "127.0.0.5:8301");
	assert_int_equal(gaddr_parse("[::1]:99", 8301, &a, &e), 0);
	gaddr_str(&a, s, sizeof(s));
	assert_string_equal(s, "[::1]:99");
	assert_int_equal(gaddr_parse("::1", 7, &a, &e), 0);
	assert_int_equal(gaddr_ip(&a, ip, &port), 16);
	assert_int_equal(port, 7);
	assert_int_not_equal(gaddr_parse("1.2.3.4:70000", 1, &a, &e), 0);
	assert_non_null(strstr(e.msg, "bad port"));
	assert_int_not_equal(gaddr_parse("", 1, &a, &e), 0);
	assert_int_not_equal(gaddr_parse("[::1", 1, &a, &e), 0);
	/* IPv4-mapped IPv6 bytes are IPv4. */
	{
		static const uint8_t m[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0xff, 0xff, 10, 0, 0, 1 };

		assert_int_equal(gaddr_from_ip(m, 16, 5, &a), 0);
		assert_int_equal(gaddr_parse("10.0.0.1:5", 0, &b, &e), 0);
		assert_true(gaddr_equal(&a, &b));
	}
	assert_int_equal(gaddr_from_ip(ip, 5, 1, &a), -LE_MALFORMED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_ping),
		cmocka_unit_test(test_frame_push_pull),
		cmocka_unit_test(test_frame_user_encrypted_label),
		cmocka_unit_test(test_frame_bad),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_request_reply),
		cmocka_unit_test(test_refused_and_timeout),
		cmocka_unit_test(test_garbage_stream),
		cmocka_unit_test(test_addr_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
