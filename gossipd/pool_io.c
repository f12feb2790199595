/* pool_io.c: a pool's packets and streams. Between the SWIM core (which
 * speaks whole memberlist messages) and the sockets (net.c) sit
 * memberlist's layers: label, encryption, CRC, compression, compound
 * (gossip_wire.h). Every packet or stream that fails a layer is dropped
 * and counted by reason; a stream that cannot be read is answered with
 * memberlist's err message, as a Go peer expects. */
#include "gossipd.h"
#include "log.h"
#include "util.h"

#include <string.h>
#include <time.h>

uint64_t
pool_now_us(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xoshiro256** seeded from getrandom: swim's randomness (probe order,
 * gossip targets), not secrets. */
uint64_t
pool_rand(void *arg)
{
	static uint64_t s[4];
	static bool seeded;
	uint64_t r, t;

	(void)arg;
	if (!seeded) {
		random_bytes(s, sizeof(s));
		if ((s[0] | s[1] | s[2] | s[3]) == 0)
			s[0] = 1;
		seeded = true;
	}
	r = s[1] * 5;
	r = ((r << 7) | (r >> 57)) * 9;
	t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return r;
}

void
pool_addr_to_ss(const struct swim_addr *a, struct sockaddr_storage *ss)
{
	if (gaddr_from_ip(a->ip, a->len, a->port, ss) != 0)
		memset(ss, 0, sizeof(*ss));
}

void
pool_ss_to_addr(const struct sockaddr_storage *ss, struct swim_addr *a)
{
	uint16_t port = 0;

	memset(a, 0, sizeof(*a));
	a->len = (uint8_t)gaddr_ip(ss, a->ip, &port);
	a->port = port;
}

void
pool_send_udp(void *arg, const struct swim_addr *to, uint8_t pmax,
    const uint8_t *pkt, size_t len)
{
	struct pool *p = arg;
	struct sockaddr_storage ss;
	struct gw_buf out = { 0 };

	pool_addr_to_ss(to, &ss);
	if (gw_udp_seal(&p->sec, pkt, len, pmax >= 5, &out) != 0) {
		p->pkts_bad++;
		gw_buf_free(&out);
		return;
	}
	(void)gnet_sendto(p->net, &ss, out.p, out.len);
	gw_buf_free(&out);
}

struct udp_walk {
	struct pool *p;
	struct swim_addr from;
};

static int
on_udp_msg(void *arg, const uint8_t *msg, size_t len)
{
	struct udp_walk *w = arg;
	struct gw_msg m;
	const char *why = "";
	int rv;

	if ((rv = gw_decode_msg(msg, len, &m, &why)) != 0) {
		w->p->msgs_bad++;
		log_debug("gossip %s: dropped a message (type %u): %s",
		    w->p->label_name, len ? msg[0] : 0, why);
		return 0;	/* the others in a compound still count */
	}
	(void)swim_recv(w->p->swim, &w->from, &m);
	return 0;
}

void
pool_on_packet(void *arg, const struct sockaddr_storage *from,
    const uint8_t *buf, size_t len)
{
	struct pool *p = arg;
	struct udp_walk w = { .p = p };
	struct gw_udp_stats st = { 0 };
	const char *why = "";
	char a[128];
	int rv;

	if (p->left)
		return;
	pool_ss_to_addr(from, &w.from);
	rv = gw_udp_open(&p->sec, buf, len, on_udp_msg, &w, &st, &why);
	p->compound_truncated += st.truncated;
	p->pkts_crc_bad += st.crc_bad;
	p->msgs_bad += st.dropped;
	if (rv != 0) {
		if (rv == -LE_PERM)
			p->pkts_decrypt_fail++;
		else
			p->pkts_bad++;
		gaddr_str(from, a, sizeof(a));
		log_debug("gossip %s: dropped a packet from %s: %s",
		    p->label_name, a, why);
	}
	pool_rearm(p);
}

/* ---- outbound streams: the TCP fallback ping and push/pull ---- */

struct out_req {
	struct pool *p;
	bool push_pull;
	uint64_t id;		/* push/pull id, or ping seq */
	char to[128];		/* "ip:port", for errors */
};

static const char *
stream_err_text(int rv)
{
	switch (rv) {
	case -LE_IO:
		return "connection refused or reset";
	case -LE_TIMEOUT:
		return "i/o timeout";
	case -LE_CLOSED:
		return "gossipd is stopping";
	default:
		return le_strerror(rv);
	}
}

static void
ping_reply(void *arg, int rv, const uint8_t *reply, size_t len)
{
	struct out_req *o = arg;
	struct pool *p = o->p;
	struct gw_buf plain = { 0 };
	struct gw_msg m;
	const char *why = "";
	bool ok = false;

	if (rv == 0 &&
	    gw_stream_open_reply(&p->sec, reply, len, &plain, &why) == 0 &&
	    plain.len > 0 && plain.p[0] == GW_ACK &&
	    gw_decode_msg(plain.p, plain.len, &m, &why) == 0)
		ok = true;
	if (p->swim != NULL)
		(void)swim_tcp_ping_done(p->swim, (uint32_t)o->id,
		    ok ? &m : NULL);
	gw_buf_free(&plain);
	free(o);
	pool_rearm(p);
}

void
pool_tcp_ping(void *arg, uint32_t seq, const struct swim_addr *to,
    const uint8_t *msg, size_t len, uint64_t deadline_us)
{
	struct pool *p = arg;
	struct sockaddr_storage ss;
	struct gw_buf out = { 0 };
	struct out_req *o;
	uint64_t now = pool_now_us(NULL), ms;

	ms = deadline_us > now ? (deadline_us - now) / 1000 : 1;
	if (ms == 0)
		ms = 1;
	pool_addr_to_ss(to, &ss);
	o = xcalloc(1, sizeof(*o));
	o->p = p;
	o->id = seq;
	if (gw_stream_seal(&p->sec, msg, len, &out) != 0 ||
	    gnet_request(p->net, &ss, out.p, out.len, true, ms, ping_reply,
	    o) != 0) {
		/* Answered from the loop, never inside swim's call. */
		free(o);
		p->streams_bad++;
	}
	gw_buf_free(&out);
}

static void
push_pull_reply(void *arg, int rv, const uint8_t *reply, size_t len)
{
	struct out_req *o = arg;
	struct pool *p = o->p;
	struct gw_buf plain = { 0 };
	const char *why = "";
	char err[200];

	err[0] = '\0';
	if (rv == 0 &&
	    gw_stream_open_reply(&p->sec, reply, len, &plain, &why) != 0) {
		snprintf(err, sizeof(err), "%s", why);
		rv = -LE_MALFORMED;
	} else if (rv == 0 && (plain.len == 0 || plain.p[0] != GW_PUSH_PULL)) {
		struct gw_msg m;

		if (plain.len > 0 && plain.p[0] == GW_ERR &&
		    gw_decode_msg(plain.p, plain.len, &m, &why) == 0) {
			snprintf(err, sizeof(err), "%.*s",
			    (int)m.u.err.error.len,
			    (const char *)m.u.err.error.p);
			rv = -LE_PERM;
		} else {
			snprintf(err, sizeof(err), "not a push/pull reply");
			rv = -LE_MALFORMED;
		}
	}
	if (rv != 0) {
		snprintf(p->last_join_err, sizeof(p->last_join_err),
		    "Failed to join %s: %s", o->to, err[0] ? err :
		    stream_err_text(rv));
		log_warnx("gossip %s: push/pull: %s", p->label_name,
		    p->last_join_err);
	}
	if (p->serf != NULL)
		(void)serf_push_pull_done(p->serf, o->id, rv,
		    rv == 0 ? plain.p : NULL, rv == 0 ? plain.len : 0);
	gw_buf_free(&plain);
	free(o);
	pool_rearm(p);
}

void
pool_push_pull(void *arg, uint64_t id, const struct swim_addr *to, bool join,
    const uint8_t *msg, size_t len)
{
	struct pool *p = arg;
	struct sockaddr_storage ss;
	struct gw_buf out = { 0 };
	struct out_req *o;

	(void)join;
	pool_addr_to_ss(to, &ss);
	o = xcalloc(1, sizeof(*o));
	o->p = p;
	o->push_pull = true;
	o->id = id;
	gaddr_str(&ss, o->to, sizeof(o->to));
	if (gw_stream_seal(&p->sec, msg, len, &out) != 0 ||
	    gnet_request(p->net, &ss, out.p, out.len, true,
	    p->tcp_timeout_ms, push_pull_reply, o) != 0) {
		/* swim needs its answer; give it from the loop. */
		p->streams_bad++;
		pool_defer_push_pull_fail(p, id);
		free(o);
	}
	gw_buf_free(&out);
}

/* ---- inbound streams ---- */

static void
stream_err(struct pool *p, struct gstream *s, const char *text)
{
	struct gw_msg m = { .type = GW_ERR };
	struct gw_buf msg = { 0 }, out = { 0 };

	m.u.err.error = (struct gw_bytes){ (const uint8_t *)text,
	    strlen(text) };
	if (gw_encode_msg(&msg, &m) == 0 &&
	    gw_stream_seal_reply(&p->sec, msg.p, msg.len, &out) == 0)
		gnet_stream_reply(s, out.p, out.len);
	gw_buf_free(&msg);
	gw_buf_free(&out);
}

static void
stream_send(struct pool *p, struct gstream *s, const struct gw_buf *reply)
{
	struct gw_buf out = { 0 };

	if (gw_stream_seal_reply(&p->sec, reply->p, reply->len, &out) == 0)
		gnet_stream_reply(s, out.p, out.len);
	gw_buf_free(&out);
}

void
pool_on_stream(void *arg, struct gstream *s, const uint8_t *buf, size_t len)
{
	struct pool *p = arg;
	struct gw_buf plain = { 0 }, reply = { 0 };
	struct gw_msg m;
	struct gw_bytes user;
	const char *why = "";
	char a[128];
	int rv;

	if (p->left)
		return;
	if ((rv = gw_stream_open(&p->sec, buf, len, &plain, &why)) != 0 ||
	    plain.len == 0) {
		p->streams_bad++;
		if (rv == -LE_PERM)
			p->pkts_decrypt_fail++;
		gaddr_str(gnet_stream_peer(s), a, sizeof(a));
		log_warnx("gossip %s: stream from %s: %s", p->label_name, a,
		    why);
		stream_err(p, s, why);
		goto out;
	}
	switch (plain.p[0]) {
	case GW_PING:
		if (gw_decode_msg(plain.p, plain.len, &m, &why) != 0) {
			p->streams_bad++;
			break;
		}
		if (swim_tcp_ping_serve(p->swim, &m, &reply) == 0 &&
		    reply.len > 0)
			stream_send(p, s, &reply);
		break;
	case GW_PUSH_PULL:
		rv = swim_push_pull_serve(p->swim, plain.p, plain.len, &reply);
		if (reply.len > 0)
			stream_send(p, s, &reply);
		else if (rv == -LE_MALFORMED) {
			p->streams_bad++;
			stream_err(p, s, "malformed push/pull");
		}
		if (rv != 0) {
			/* A version outside ours, a vetoed merge (another
			 * datacenter, our node ID under another name) or
			 * garbage: nothing of it was merged. */
			p->push_pulls_refused++;
			gaddr_str(gnet_stream_peer(s), a, sizeof(a));
			log_warnx("gossip %s: push/pull from %s refused: %s",
			    p->label_name, a, rv == -LE_VERSION ?
			    "incompatible protocol versions" : rv == -LE_PERM ?
			    "the merge was vetoed" : le_strerror(rv));
		}
		break;
	case GW_USER:
		if (gw_stream_user_decode(plain.p + 1, plain.len - 1, &user,
		    &why) != 0) {
			p->streams_bad++;
			break;
		}
		/* Serf sends everything by UDP; a reliable user message
		 * is memberlist's, with no Serf meaning: counted only. */
		p->stream_user_msgs++;
		break;
	default:
		p->streams_bad++;
		gaddr_str(gnet_stream_peer(s), a, sizeof(a));
		log_warnx("gossip %s: stream from %s: unknown type %u",
		    p->label_name, a, plain.p[0]);
		stream_err(p, s, "unknown stream message type");
		break;
	}
out:
	gw_buf_free(&plain);
	gw_buf_free(&reply);
	pool_rearm(p);
}
