/* net.c: a gossip pool's UDP socket, TCP listener and TCP streams, all
 * non-blocking on the daemon's loop (see net.h). */
#include "net.h"
#include "gossip_stream.h"
#include "gossip_wire.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM_READ_MAX (GW_STREAM_MAX + 4096)

enum { ST_CONNECTING, ST_WRITING, ST_READING };

struct gstream {
	struct gnet *net;
	struct gstream *prev, *next;
	int fd;
	int state;
	bool inbound;
	bool want_reply;
	bool in_callback;
	bool failed_early;	/* connect failed at once: report from a timer */
	uint8_t *out;
	size_t out_len, out_off;
	uint8_t *in;
	size_t in_len, in_cap;
	gnet_cb cb;
	void *arg;
	struct loop_timer *timer;
	struct sockaddr_storage peer;
};

struct gnet {
	struct loop *loop;
	const struct gnet_ops *ops;
	void *arg;
	int udp, tcp;
	int port;
	uint64_t timeout_ms;
	struct gstream *streams;
	unsigned n_in, n_out;
	struct gnet_stats st;
	uint8_t pkt[GW_UDP_MAX];
};

static socklen_t
addr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

static int
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- streams ---- */

static void stream_io(void *arg, int fd, short revents);

static void
stream_free(struct gstream *s)
{
	struct gnet *n = s->net;

	if (s->fd >= 0) {
		loop_unwatch_fd(n->loop, s->fd);
		close(s->fd);
	}
	loop_timer_free(s->timer);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		n->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	if (s->inbound)
		n->n_in--;
	else
		n->n_out--;
	free(s->out);
	free(s->in);
	free(s);
}

/* Ends a stream; an outbound one reports rv (and its reply) first. */
static void
stream_end(struct gstream *s, int rv)
{
	if (!s->inbound && s->cb != NULL) {
		gnet_cb cb = s->cb;

		s->cb = NULL;
		if (rv == 0 && s->want_reply)
			cb(s->arg, 0, s->in, s->in_len);
		else
			cb(s->arg, rv, NULL, 0);
	}
	stream_free(s);
}

static void
stream_timeout(void *arg)
{
	struct gstream *s = arg;

	if (s->failed_early) {
		s->net->st.tcp_refused++;
		stream_end(s, -LE_IO);
		return;
	}
	s->net->st.tcp_timeouts++;
	stream_end(s, -LE_TIMEOUT);
}

static struct gstream *
stream_new(struct gnet *n, int fd, bool inbound)
{
	struct gstream *s = xcalloc(1, sizeof(*s));

	s->net = n;
	s->fd = fd;
	s->inbound = inbound;
	s->timer = loop_timer_new(n->loop, stream_timeout, s);
	s->next = n->streams;
	if (n->streams != NULL)
		n->streams->prev = s;
	n->streams = s;
	if (inbound)
		n->n_in++;
	else
		n->n_out++;
	return s;
}

/* The message is complete: hand it up (inbound) or report it (outbound). */
static void
stream_got(struct gstream *s, size_t msg_len)
{
	struct gnet *n = s->net;

	s->in_len = msg_len;	/* anything after one message is ignored */
	if (!s->inbound) {
		stream_end(s, 0);
		return;
	}
	s->in_callback = true;
	n->ops->stream(n->arg, s, s->in, s->in_len);
	s->in_callback = false;
	if (s->out == NULL) {
		stream_free(s);
		return;
	}
	s->state = ST_WRITING;
	loop_modify_fd(n->loop, s->fd, POLLOUT);
}

static void
stream_read(struct gstream *s)
{
	struct gnet *n = s->net;
	const char *why = NULL;
	size_t msg_len;
	ssize_t r;
	int rv;

	for (;;) {
		if (s->in_len == s->in_cap) {
			if (s->in_cap >= STREAM_READ_MAX) {
				char peer[64];

				gaddr_str(&s->peer, peer, sizeof(peer));
				n->st.tcp_bad++;
				log_warnx("gossip: stream from %s: message too "
				    "large", peer);
				stream_end(s, -LE_TOOBIG);
				return;
			}
			s->in_cap = s->in_cap ? s->in_cap * 2 : 4096;
			if (s->in_cap > STREAM_READ_MAX)
				s->in_cap = STREAM_READ_MAX;
			s->in = xrealloc(s->in, s->in_cap);
		}
		r = read(s->fd, s->in + s->in_len, s->in_cap - s->in_len);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			/* EOF or reset before a whole message. */
			if (s->inbound && s->in_len == 0) {
				stream_free(s);
				return;
			}
			n->st.tcp_bad++;
			stream_end(s, -LE_IO);
			return;
		}
		s->in_len += (size_t)r;
		n->st.tcp_bytes_in += (uint64_t)r;
		rv = gw_stream_msg_len(s->in, s->in_len, &msg_len, &why);
		if (rv == 0) {
			stream_got(s, msg_len);
			return;
		}
		if (rv != -LE_AGAIN) {
			char peer[64];

			gaddr_str(&s->peer, peer, sizeof(peer));
			n->st.tcp_bad++;
			log_warnx("gossip: bad stream from %s: %s", peer,
			    why ? why : le_strerror(rv));
			stream_end(s, -LE_MALFORMED);
			return;
		}
	}
}

static void
stream_write(struct gstream *s)
{
	struct gnet *n = s->net;

	while (s->out_off < s->out_len) {
		ssize_t w = send(s->fd, s->out + s->out_off,
		    s->out_len - s->out_off, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w < 0) {
			stream_end(s, -LE_IO);
			return;
		}
		s->out_off += (size_t)w;
		n->st.tcp_bytes_out += (uint64_t)w;
	}
	if (s->inbound) {
		stream_free(s);	/* the reply is out: done */
		return;
	}
	if (!s->want_reply) {
		stream_end(s, 0);
		return;
	}
	s->state = ST_READING;
	loop_modify_fd(n->loop, s->fd, POLLIN);
}

static void
stream_io(void *arg, int fd, short revents)
{
	struct gstream *s = arg;

	(void)fd;
	if (s->state == ST_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    err != 0) {
			s->net->st.tcp_refused++;
			stream_end(s, -LE_IO);
			return;
		}
		s->state = ST_WRITING;
	}
	if (s->state == ST_WRITING) {
		if (revents & (POLLERR | POLLNVAL)) {
			stream_end(s, -LE_IO);
			return;
		}
		stream_write(s);
		return;
	}
	stream_read(s);
}

void
gnet_stream_reply(struct gstream *s, const uint8_t *buf, size_t len)
{
	if (!s->in_callback || s->out != NULL || len == 0)
		return;
	s->out = xmalloc(len);
	memcpy(s->out, buf, len);
	s->out_len = len;
}

const struct sockaddr_storage *
gnet_stream_peer(const struct gstream *s)
{
	return &s->peer;
}

int
gnet_request(struct gnet *n, const struct sockaddr_storage *to,
    const uint8_t *req, size_t len, bool want_reply, uint64_t timeout_ms,
    gnet_cb cb, void *arg)
{
	struct gstream *s;
	int fd, one = 1;

	if (len == 0)
		return -LE_INVAL;
	if (n->n_out >= GNET_STREAMS_MAX) {
		n->st.tcp_over_limit++;
		return -LE_UNAVAIL;
	}
	fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -LE_IO;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s = stream_new(n, fd, false);
	s->peer = *to;
	s->want_reply = want_reply;
	s->cb = cb;
	s->arg = arg;
	s->out = xmalloc(len);
	memcpy(s->out, req, len);
	s->out_len = len;
	s->state = ST_CONNECTING;
	n->st.tcp_out++;
	if (connect(fd, (const struct sockaddr *)to, addr_len(to)) != 0 &&
	    errno != EINPROGRESS) {
		/* Report from the loop, never inside the caller's call. */
		s->failed_early = true;
		loop_timer_arm(s->timer, 0);
		return 0;
	}
	if (loop_watch_fd(n->loop, fd, POLLOUT, stream_io, s) != 0) {
		s->failed_early = true;
		loop_timer_arm(s->timer, 0);
		return 0;
	}
	loop_timer_arm(s->timer, timeout_ms ? timeout_ms : n->timeout_ms);
	return 0;
}

static void
tcp_accept(void *arg, int lfd, short revents)
{
	struct gnet *n = arg;

	(void)revents;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct gstream *s;
		int fd = accept4(lfd, (struct sockaddr *)&peer, &plen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		if (n->n_in >= GNET_STREAMS_MAX) {
			n->st.tcp_over_limit++;
			close(fd);
			continue;
		}
		s = stream_new(n, fd, true);
		s->peer = peer;
		s->state = ST_READING;
		n->st.tcp_in++;
		if (loop_watch_fd(n->loop, fd, POLLIN, stream_io, s) != 0) {
			stream_free(s);
			continue;
		}
		loop_timer_arm(s->timer, n->timeout_ms);
	}
}

/* ---- UDP ---- */

static void
udp_read(void *arg, int fd, short revents)
{
	struct gnet *n = arg;

	(void)revents;
	for (int i = 0; i < 64; i++) {	/* bounded: let timers run */
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t r = recvfrom(fd, n->pkt, sizeof(n->pkt), 0,
		    (struct sockaddr *)&from, &flen);

		if (r < 0)
			return;
		n->st.udp_in++;
		n->st.udp_bytes_in += (uint64_t)r;
		if (r == 0)
			continue;	/* memberlist drops empty packets */
		n->ops->packet(n->arg, &from, n->pkt, (size_t)r);
	}
}

int
gnet_sendto(struct gnet *n, const struct sockaddr_storage *to,
    const uint8_t *buf, size_t len)
{
	ssize_t w = sendto(n->udp, buf, len, 0, (const struct sockaddr *)to,
	    addr_len(to));

	if (w < 0) {
		n->st.udp_errors++;
		return -LE_IO;
	}
	n->st.udp_out++;
	n->st.udp_bytes_out += (uint64_t)w;
	return 0;
}

/* ---- setup ---- */

int
gnet_open(struct loop *l, const char *ip, int port,
    const struct gnet_ops *ops, void *arg, uint64_t stream_timeout_ms,
    struct gnet **out, struct lerr *e)
{
	struct sockaddr_storage sa;
	socklen_t slen;
	struct gnet *n;
	int one = 1;

	if (gaddr_parse(ip, port, &sa, e) != 0)
		return -LE_CONFIG;
	n = xcalloc(1, sizeof(*n));
	n->loop = l;
	n->ops = ops;
	n->arg = arg;
	n->timeout_ms = stream_timeout_ms;
	n->udp = n->tcp = -1;
	n->tcp = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (n->tcp < 0)
		goto fail;
	(void)setsockopt(n->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(n->tcp, (struct sockaddr *)&sa, addr_len(&sa)) != 0)
		goto fail;
	slen = sizeof(sa);
	if (getsockname(n->tcp, (struct sockaddr *)&sa, &slen) != 0)
		goto fail;
	n->port = ntohs(sa.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&sa)->sin6_port :
	    ((struct sockaddr_in *)&sa)->sin_port);
	if (listen(n->tcp, 128) != 0 || nonblock(n->tcp) != 0)
		goto fail;
	/* UDP on the same port number as TCP (port 0 took TCP's). */
	n->udp = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->udp < 0)
		goto fail;
	{
		int sz = 2 << 20;	/* room for bursts of gossip */

		(void)setsockopt(n->udp, SOL_SOCKET, SO_RCVBUF, &sz,
		    sizeof(sz));
	}
	if (bind(n->udp, (struct sockaddr *)&sa, addr_len(&sa)) != 0 ||
	    nonblock(n->udp) != 0)
		goto fail;
	if (loop_watch_fd(l, n->udp, POLLIN, udp_read, n) != 0 ||
	    loop_watch_fd(l, n->tcp, POLLIN, tcp_accept, n) != 0)
		goto fail;
	*out = n;
	return 0;
fail:
	lerr_set(e, LE_IO, "gossip: cannot listen on %s:%d: %s", ip, port,
	    strerror(errno));
	loop_unwatch_fd(l, n->udp);
	loop_unwatch_fd(l, n->tcp);
	if (n->udp >= 0)
		close(n->udp);
	if (n->tcp >= 0)
		close(n->tcp);
	free(n);
	return -LE_IO;
}

void
gnet_close(struct gnet *n)
{
	if (n == NULL)
		return;
	while (n->streams != NULL)
		stream_end(n->streams, -LE_CLOSED);
	loop_unwatch_fd(n->loop, n->udp);
	loop_unwatch_fd(n->loop, n->tcp);
	close(n->udp);
	close(n->tcp);
	free(n);
}

int
gnet_port(const struct gnet *n)
{
	return n->port;
}

const struct gnet_stats *
gnet_stats(const struct gnet *n)
{
	return &n->st;
}

/* ---- addresses ---- */

void
gaddr_str(const struct sockaddr_storage *a, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)a;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, cap, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)a;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, cap, "%s:%u", ip, ntohs(s4->sin_port));
	}
}

int
gaddr_parse(const char *s, int default_port, struct sockaddr_storage *out,
    struct lerr *e)
{
	char host[256];
	const char *port = NULL;
	struct addrinfo hints = { 0 }, *res = NULL;
	long p = default_port;
	size_t hl;

	if (s == NULL || *s == '\0')
		return lerr_set(e, LE_INVAL, "empty address");
	if (s[0] == '[') {
		const char *close_br = strchr(s, ']');

		if (close_br == NULL)
			return lerr_set(e, LE_INVAL, "address %s: missing ]",
			    s);
		hl = (size_t)(close_br - s - 1);
		if (close_br[1] == ':')
			port = close_br + 2;
		else if (close_br[1] != '\0')
			return lerr_set(e, LE_INVAL, "address %s: junk after ]",
			    s);
		s++;
	} else {
		const char *c = strchr(s, ':');

		if (c != NULL && strchr(c + 1, ':') == NULL) {
			hl = (size_t)(c - s);
			port = c + 1;
		} else {
			hl = strlen(s);	/* a bare IPv6 address or a host */
		}
	}
	if (hl == 0 || hl >= sizeof(host))
		return lerr_set(e, LE_INVAL, "address %s: bad host", s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (port != NULL) {
		char *end;

		p = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || p < 0 || p > 65535)
			return lerr_set(e, LE_INVAL, "address %s: bad port", s);
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return lerr_set(e, LE_INVAL, "address %s: cannot resolve %s",
		    s, host);
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (out->ss_family == AF_INET6)
		((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)p);
	else
		((struct sockaddr_in *)out)->sin_port = htons((uint16_t)p);
	return 0;
}

int
gaddr_from_ip(const uint8_t *ip, size_t iplen, uint16_t port,
    struct sockaddr_storage *out)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };

	memset(out, 0, sizeof(*out));
	if (iplen == 16 && memcmp(ip, v4mapped, 12) == 0) {
		ip += 12;
		iplen = 4;
	}
	if (iplen == 4) {
		struct sockaddr_in *s4 = (void *)out;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, ip, 4);
		s4->sin_port = htons(port);
		return 0;
	}
	if (iplen == 16) {
		struct sockaddr_in6 *s6 = (void *)out;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, ip, 16);
		s6->sin6_port = htons(port);
		return 0;
	}
	return -LE_MALFORMED;
}

size_t
gaddr_ip(const struct sockaddr_storage *a, uint8_t ip[16], uint16_t *port)
{
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)a;

		memcpy(ip, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
		return 16;
	}
	const struct sockaddr_in *s4 = (const void *)a;

	memcpy(ip, &s4->sin_addr, 4);
	*port = ntohs(s4->sin_port);
	return 4;
}

bool
gaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	uint8_t ia[16], ib[16];
	uint16_t pa, pb;
	size_t la = gaddr_ip(a, ia, &pa), lb = gaddr_ip(b, ib, &pb);

	return la == lb && pa == pb && memcmp(ia, ib, la) == 0;
}
