/* transport.c: see transport.h.
 *
 * The sockets are plain non-blocking TCP sockets on raftd's own loop,
 * speaking nng's SP-over-TCP wire protocol for the pipeline pattern: each
 * side first sends an 8-byte header ("\0SP\0", its protocol number, two
 * zero bytes), then every message is a 64-bit big-endian length and the
 * body. An nng push socket can still talk to our listener and an nng pull
 * socket can still take our messages. nng's own aio machinery used to
 * carry these bytes; it passes every message through a poller thread and
 * a task thread before our loop sees it, which cost about a dozen
 * context switches per round trip between two servers (docs/status.md,
 * docs/architecture.md). Here a message is read and written by the loop
 * thread itself. */
#include "transport.h"
#include "gotime.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define PEER_SENDBUF 1024	/* messages queued per peer */
#define ADDR_MAX 256
/* Connections accepted at once: the other servers and every client agent
 * that forwards through us. Past it the connection heard from least
 * recently is closed for the new one, so that silent or half-open
 * connections cannot lock the port. */
#define INBOUND_MAX 400
#define SP_HDR_LEN 8
#define ACCEPTS_PER_WAKE 16	/* then the loop serves the others */
#define SP_PUSH0 0x50		/* nng's NNI_PROTO(5, 0) */
#define SP_PULL0 0x51		/* NNI_PROTO(5, 1) */
#define RX_CHUNK 65536
#define REDIAL_MIN_MS 50
#define REDIAL_MAX_MS 1000
#define HANDSHAKE_MS 5000

/* A frame queued for a peer: length prefix and body in one block. */
struct frame {
	struct frame *next;
	size_t len;		/* 8 + body */
	uint8_t data[];
};

enum conn_state { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_UP };

/* An outbound connection to one peer (we push). */
struct peer {
	struct peer *next;
	struct transport *t;
	char addr[ADDR_MAX];
	bool open;		/* wanted: dialed, redialed when lost */
	int fd;			/* -1 when not connected */
	enum conn_state state;
	uint8_t hdr_in[SP_HDR_LEN];
	size_t hdr_in_got;
	size_t hdr_out_sent;
	struct frame *q_head, *q_tail;
	size_t q_len;
	size_t head_off;	/* bytes of q_head already written */
	uint64_t last_send_ms;
	uint64_t redial_ms;
	uint64_t handshake_deadline;
	struct loop_timer *timer;	/* redial or handshake deadline */
	bool up;
	uint64_t lost;		/* connections lost or closed */
};

/* An inbound connection (the peer pushes, we pull). */
struct inbound {
	struct inbound *next, *prev;
	struct transport *t;
	int fd;
	bool handshaken;
	uint8_t hdr_in[SP_HDR_LEN];
	size_t hdr_in_got;
	size_t hdr_out_sent;
	uint8_t *buf;		/* bytes read, not yet a whole message */
	size_t len, cap;
	uint64_t deadline;	/* for the handshake */
	uint64_t last_rx_ms;	/* when it last sent us anything */
};

struct transport {
	struct loop *loop;
	int lfd;
	transport_msg_fn fn;
	void *arg;
	struct peer *peers;
	struct inbound *in;
	int nin;
	struct loop_timer *in_timer;	/* closes stalled handshakes */
	_Atomic uint64_t sent, dropped, received;
	_Atomic uint64_t npeers;
	bool flush_due;		/* t_flush deferred to the iteration's end */
	bool accept_paused;	/* out of fds: the listener rests */
};

static void sp_header(uint8_t out[SP_HDR_LEN], uint16_t proto)
{
	out[0] = 0;
	out[1] = 'S';
	out[2] = 'P';
	out[3] = 0;
	out[4] = (uint8_t)(proto >> 8);
	out[5] = (uint8_t)proto;
	out[6] = 0;
	out[7] = 0;
}

static bool
sp_header_ok(const uint8_t h[SP_HDR_LEN], uint16_t want)
{
	uint8_t exp[SP_HDR_LEN];

	sp_header(exp, want);
	return memcmp(h, exp, SP_HDR_LEN) == 0;
}

static void
nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- inbound ---- */

static void
inbound_free(struct inbound *c)
{
	struct transport *t = c->t;

	loop_unwatch_fd(t->loop, c->fd);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		t->in = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	t->nin--;
	free(c->buf);
	free(c);
}

/* Delivers every whole message in c->buf; false if the stream is bad. */
static bool
inbound_parse(struct inbound *c)
{
	struct transport *t = c->t;
	size_t off = 0;

	while (c->len - off >= 8) {
		uint64_t n = be_get(c->buf + off, 8);

		if (n > PROTO_MAX_MSG) {
			log_warnx("raft transport: a %llu-byte message "
			    "(over %u); closing the connection",
			    (unsigned long long)n, (unsigned)PROTO_MAX_MSG);
			return false;
		}
		if (c->len - off - 8 < n) {
			if (c->cap < n + 8) {
				/* Make room for the whole message once. */
				memmove(c->buf, c->buf + off, c->len - off);
				c->len -= off;
				off = 0;
				c->cap = n + 8;
				c->buf = xrealloc(c->buf, c->cap);
			}
			break;
		}
		atomic_fetch_add(&t->received, 1);
		t->fn(t->arg, c->buf + off + 8, (size_t)n);
		off += 8 + (size_t)n;
	}
	if (off > 0) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
	return true;
}

static void
inbound_io(void *arg, int fd, short revents)
{
	struct inbound *c = arg;
	ssize_t n;

	(void)revents;
	if (!c->handshaken) {
		uint8_t ours[SP_HDR_LEN];

		sp_header(ours, SP_PULL0);
		while (c->hdr_out_sent < SP_HDR_LEN) {
			n = send(fd, ours + c->hdr_out_sent,
			    SP_HDR_LEN - c->hdr_out_sent, MSG_NOSIGNAL);
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0)
				goto drop;
			c->hdr_out_sent += (size_t)n;
		}
		while (c->hdr_in_got < SP_HDR_LEN) {
			n = read(fd, c->hdr_in + c->hdr_in_got,
			    SP_HDR_LEN - c->hdr_in_got);
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0)
				goto drop;
			c->hdr_in_got += (size_t)n;
		}
		if (c->hdr_in_got < SP_HDR_LEN ||
		    c->hdr_out_sent < SP_HDR_LEN) {
			loop_modify_fd(c->t->loop, fd, POLLIN |
			    (c->hdr_out_sent < SP_HDR_LEN ? POLLOUT : 0));
			return;
		}
		if (!sp_header_ok(c->hdr_in, SP_PUSH0)) {
			log_debug("raft transport: a connection that is not "
			    "an SP push0 peer; closing it");
			goto drop;
		}
		c->handshaken = true;
		loop_modify_fd(c->t->loop, fd, POLLIN);
	}
	/* Read what is there (bounded, so one busy peer cannot starve the
	 * loop), delivering messages as they complete. */
	for (int rounds = 0; rounds < 16; rounds++) {
		size_t room;

		if (c->cap - c->len < RX_CHUNK / 4) {
			c->cap = c->cap < RX_CHUNK ? RX_CHUNK : c->cap * 2;
			c->buf = xrealloc(c->buf, c->cap);
		}
		room = c->cap - c->len;
		n = read(fd, c->buf + c->len, room);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			goto drop;
		c->len += (size_t)n;
		c->last_rx_ms = loop_now_ms(c->t->loop);
		if (!inbound_parse(c))
			goto drop;
		/* Keep a long-idle connection from holding a large buffer. */
		if (c->len == 0 && c->cap > 4 * RX_CHUNK) {
			free(c->buf);
			c->buf = NULL;
			c->cap = 0;
		}
		/* A short read drained the socket: no second read only to
		 * hear EAGAIN (the fd is level-triggered). */
		if ((size_t)n < room)
			return;
	}
	return;
drop:
	inbound_free(c);
}

static void
accept_cb(void *arg, int lfd, short revents)
{
	struct transport *t = arg;

	(void)revents;
	for (int n = 0; n < ACCEPTS_PER_WAKE; n++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct inbound *c;

		if (fd < 0 && (errno == EAGAIN || errno == EINTR ||
		    errno == ECONNABORTED))
			return;
		if (fd < 0) {
			/* Out of fds or memory: rest the listener a moment
			 * rather than spin on the pending connection. */
			log_warnx("raft transport: accept: %s", strerror(errno));
			loop_unwatch_fd(t->loop, lfd);
			t->accept_paused = true;
			loop_timer_arm(t->in_timer, 100);
			return;
		}
		if (t->nin >= INBOUND_MAX) {
			struct inbound *x, *oldest = t->in;

			for (x = t->in; x != NULL; x = x->next)
				if (x->last_rx_ms < oldest->last_rx_ms)
					oldest = x;
			log_warnx("raft transport: over %d inbound "
			    "connections; closing the one quiet longest",
			    INBOUND_MAX);
			inbound_free(oldest);
		}
		nodelay(fd);
		c = xcalloc(1, sizeof(*c));
		c->t = t;
		c->fd = fd;
		c->deadline = loop_now_ms(t->loop) + HANDSHAKE_MS;
		c->last_rx_ms = loop_now_ms(t->loop);
		if (loop_watch_fd(t->loop, fd, POLLIN | POLLOUT, inbound_io,
		    c) != 0) {
			log_warnx("raft transport: no room to watch a "
			    "connection");
			close(fd);
			free(c);
			continue;
		}
		c->next = t->in;
		if (t->in != NULL)
			t->in->prev = c;
		t->in = c;
		t->nin++;
		if (!loop_timer_armed(t->in_timer))
			loop_timer_arm(t->in_timer, HANDSHAKE_MS);
	}
}

/* Closes inbound connections that did not finish the handshake in time
 * (someone connected and said nothing). */
static void
in_timer_cb(void *arg)
{
	struct transport *t = arg;
	uint64_t now = loop_now_ms(t->loop);
	struct inbound *c, *next;
	bool waiting = false;

	if (t->accept_paused) {
		t->accept_paused = false;
		if (loop_watch_fd(t->loop, t->lfd, POLLIN, accept_cb, t) != 0)
			t->accept_paused = true;
		waiting = t->accept_paused;
	}

	for (c = t->in; c != NULL; c = next) {
		next = c->next;
		if (c->handshaken)
			continue;
		if (now >= c->deadline)
			inbound_free(c);
		else
			waiting = true;
	}
	if (waiting)
		loop_timer_arm(t->in_timer, HANDSHAKE_MS / 5);
}

/* ---- outbound ---- */

static void peer_io(void *arg, int fd, short revents);
static void peer_dial(struct peer *p);

static void
queue_drop_all(struct peer *p)
{
	struct frame *f;

	while ((f = p->q_head) != NULL) {
		p->q_head = f->next;
		free(f);
	}
	p->q_tail = NULL;
	p->q_len = 0;
	p->head_off = 0;
}

/* Closes the connection; redials later if the peer is still wanted. A
 * message partly written is sent again whole on the next connection (the
 * receiver dropped the part with the old one). */
static void
peer_disconnect(struct peer *p, bool redial)
{
	if (p->fd >= 0) {
		loop_unwatch_fd(p->t->loop, p->fd);
		close(p->fd);
		p->fd = -1;
	}
	if (p->up)
		p->lost++;
	p->up = false;
	p->state = C_IDLE;
	p->head_off = 0;
	loop_timer_cancel(p->timer);
	if (redial && p->open) {
		loop_timer_arm(p->timer, p->redial_ms);
		p->redial_ms = p->redial_ms * 2 > REDIAL_MAX_MS ?
		    REDIAL_MAX_MS : p->redial_ms * 2;
	}
}

static void
peer_timer_cb(void *arg)
{
	struct peer *p = arg;

	if (p->state == C_IDLE) {
		peer_dial(p);
	} else if (p->state != C_UP) {
		log_debug("raft transport: %s did not answer the handshake",
		    p->addr);
		peer_disconnect(p, true);
	}
}

/* Writes what is queued; false on a broken connection. */
static bool
peer_flush(struct peer *p)
{
	struct iovec iov[64];

	while (p->q_head != NULL) {
		struct frame *f = p->q_head;
		int n = 0;
		ssize_t w;

		iov[n].iov_base = f->data + p->head_off;
		iov[n++].iov_len = f->len - p->head_off;
		for (f = f->next; f != NULL && n < 64; f = f->next) {
			iov[n].iov_base = f->data;
			iov[n++].iov_len = f->len;
		}
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };

		/* sendmsg, not writev: a peer gone mid-write must not raise
		 * SIGPIPE (nng used to suppress it for us). */
		w = sendmsg(p->fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (w < 0)
			return false;
		while (w > 0) {
			f = p->q_head;
			if ((size_t)w < f->len - p->head_off) {
				p->head_off += (size_t)w;
				break;
			}
			w -= (ssize_t)(f->len - p->head_off);
			p->head_off = 0;
			p->q_head = f->next;
			if (p->q_head == NULL)
				p->q_tail = NULL;
			p->q_len--;
			free(f);
		}
	}
	loop_modify_fd(p->t->loop, p->fd, POLLIN |
	    (p->q_head != NULL ? POLLOUT : 0));
	return true;
}

static void
peer_io(void *arg, int fd, short revents)
{
	struct peer *p = arg;
	uint8_t junk[256];
	ssize_t n;

	if (p->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			log_debug("raft transport: connect to %s: %s",
			    p->addr, strerror(err));
			peer_disconnect(p, true);
			return;
		}
		p->state = C_HANDSHAKE;
	}
	if (p->state == C_HANDSHAKE) {
		uint8_t ours[SP_HDR_LEN];

		sp_header(ours, SP_PUSH0);
		while (p->hdr_out_sent < SP_HDR_LEN) {
			n = send(fd, ours + p->hdr_out_sent,
			    SP_HDR_LEN - p->hdr_out_sent, MSG_NOSIGNAL);
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0)
				goto lost;
			p->hdr_out_sent += (size_t)n;
		}
		while (p->hdr_in_got < SP_HDR_LEN) {
			n = read(fd, p->hdr_in + p->hdr_in_got,
			    SP_HDR_LEN - p->hdr_in_got);
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0)
				goto lost;
			p->hdr_in_got += (size_t)n;
		}
		if (p->hdr_in_got < SP_HDR_LEN ||
		    p->hdr_out_sent < SP_HDR_LEN) {
			loop_modify_fd(p->t->loop, fd, POLLIN |
			    (p->hdr_out_sent < SP_HDR_LEN ? POLLOUT : 0));
			return;
		}
		if (!sp_header_ok(p->hdr_in, SP_PULL0)) {
			log_warnx("raft transport: %s is not a raft server "
			    "port (SP handshake refused)", p->addr);
			goto lost;
		}
		loop_timer_cancel(p->timer);
		p->state = C_UP;
		p->up = true;
		p->redial_ms = REDIAL_MIN_MS;
		if (!peer_flush(p))
			goto lost;
		return;
	}
	/* Up: the pull side sends nothing after its header, so readable
	 * means closed (or a peer breaking the protocol). */
	if (revents & POLLIN) {
		n = read(fd, junk, sizeof(junk));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
		    n > 0)
			goto lost;
	}
	if (revents & (POLLERR | POLLHUP))
		goto lost;
	if ((revents & POLLOUT) && !peer_flush(p))
		goto lost;
	return;
lost:
	peer_disconnect(p, true);
}

/* "ip:port" or "[v6]:port" into host and port strings. Servers are
 * known by address (gossip carries addresses), so a host name is refused
 * here rather than resolved with a blocking lookup on the loop. */
static int
split_addr(const char *addr, char *host, size_t hlen, char *port,
    size_t plen)
{
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = { 0 }, *ai = NULL;
	char *end;
	long pn;
	size_t n;

	if (colon == NULL || colon == addr || colon[1] == '\0')
		return -LE_INVAL;
	pn = strtol(colon + 1, &end, 10);
	if (*end != '\0' || pn < 1 || pn > 65535)
		return -LE_INVAL;
	n = (size_t)(colon - addr);
	if (addr[0] == '[' && n >= 2 && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	if (n >= hlen || strlen(colon + 1) >= plen)
		return -LE_RANGE;
	memcpy(host, addr, n);
	host[n] = '\0';
	snprintf(port, plen, "%ld", pn);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -LE_INVAL;
	freeaddrinfo(ai);
	return 0;
}

static void
peer_dial(struct peer *p)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	char host[ADDR_MAX], port[16];
	int fd, rv;

	if (!p->open || p->state != C_IDLE)
		return;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (split_addr(p->addr, host, sizeof(host), port, sizeof(port)) != 0 ||
	    (rv = getaddrinfo(host, port, &hints, &ai)) != 0) {
		log_debug("raft transport: cannot resolve %s", p->addr);
		peer_disconnect(p, true);
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		freeaddrinfo(ai);
		peer_disconnect(p, true);
		return;
	}
	nodelay(fd);
	rv = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rv != 0 && errno != EINPROGRESS) {
		close(fd);
		peer_disconnect(p, true);
		return;
	}
	if (loop_watch_fd(p->t->loop, fd, POLLOUT | POLLIN, peer_io, p) !=
	    0) {
		log_warnx("raft transport: no room to watch a connection");
		close(fd);
		peer_disconnect(p, true);
		return;
	}
	p->fd = fd;
	p->state = C_CONNECTING;
	p->hdr_in_got = 0;
	p->hdr_out_sent = 0;
	/* Connect and handshake must finish in time. */
	loop_timer_arm(p->timer, HANDSHAKE_MS);
}

static struct peer *
peer_get(struct transport *t, const char *addr)
{
	struct peer *p;
	char host[ADDR_MAX], port[16];

	for (p = t->peers; p != NULL; p = p->next)
		if (strcmp(p->addr, addr) == 0)
			break;
	if (p != NULL && p->open)
		return p;
	if (strlen(addr) >= ADDR_MAX ||
	    split_addr(addr, host, sizeof(host), port, sizeof(port)) != 0)
		return NULL;
	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		p->t = t;
		p->fd = -1;
		snprintf(p->addr, sizeof(p->addr), "%s", addr);
		p->timer = loop_timer_new(t->loop, peer_timer_cb, p);
		p->next = t->peers;
		t->peers = p;
	}
	p->open = true;
	p->redial_ms = REDIAL_MIN_MS;
	p->last_send_ms = loop_now_ms(t->loop);
	atomic_fetch_add(&t->npeers, 1);
	peer_dial(p);
	return p;
}

/* ---- the interface ---- */

int
transport_open(struct transport **out, struct loop *loop, const char *host,
    int64_t port, transport_msg_fn fn, void *arg, struct lerr *e)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct transport *t;
	char ps[16];
	int fd, one = 1, rv;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%lld", (long long)port);
	if ((rv = getaddrinfo(host, ps, &hints, &ai)) != 0)
		return lerr_set(e, LE_CONFIG, "server address %s: %s", host,
		    gai_strerror(rv));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		freeaddrinfo(ai);
		return lerr_set(e, LE_IO, "socket: %s", strerror(errno));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, 128) != 0) {
		rv = errno;
		freeaddrinfo(ai);
		close(fd);
		return lerr_set(e, LE_IO, "listen on %s:%lld: %s", host,
		    (long long)port, strerror(rv));
	}
	freeaddrinfo(ai);
	t = xcalloc(1, sizeof(*t));
	t->loop = loop;
	t->lfd = fd;
	t->fn = fn;
	t->arg = arg;
	t->in_timer = loop_timer_new(loop, in_timer_cb, t);
	if (loop_watch_fd(loop, fd, POLLIN, accept_cb, t) != 0) {
		loop_timer_free(t->in_timer);
		close(fd);
		free(t);
		return lerr_set(e, LE_IO, "no room to watch the server port");
	}
	if (strchr(host, ':') != NULL)
		log_info("server RPC (raft) on tcp://[%s]:%lld", host,
		    (long long)port);
	else
		log_info("server RPC (raft) on tcp://%s:%lld", host,
		    (long long)port);
	*out = t;
	return 0;
}

void
transport_close(struct transport *t)
{
	struct peer *p;

	if (t == NULL)
		return;
	if (!t->accept_paused)
		loop_unwatch_fd(t->loop, t->lfd);
	close(t->lfd);
	while (t->in != NULL)
		inbound_free(t->in);
	loop_timer_free(t->in_timer);
	while ((p = t->peers) != NULL) {
		t->peers = p->next;
		p->open = false;
		peer_disconnect(p, false);
		queue_drop_all(p);
		loop_timer_free(p->timer);
		free(p);
	}
	free(t);
}

static void
t_flush(void *arg)
{
	struct transport *t = arg;

	t->flush_due = false;
	for (struct peer *p = t->peers; p != NULL; p = p->next)
		if (p->state == C_UP && p->q_head != NULL && !peer_flush(p))
			peer_disconnect(p, true);
}

int
transport_send(struct transport *t, const char *addr, const void *buf,
    size_t len)
{
	struct peer *p = peer_get(t, addr);
	struct frame *f;

	if (p == NULL || p->q_len >= PEER_SENDBUF) {
		atomic_fetch_add(&t->dropped, 1);
		return -LE_UNAVAIL;
	}
	f = xmalloc(sizeof(*f) + 8 + len);
	f->next = NULL;
	f->len = 8 + len;
	be_put(f->data, 8, len);
	memcpy(f->data + 8, buf, len);
	if (p->q_tail != NULL)
		p->q_tail->next = f;
	else
		p->q_head = f;
	p->q_tail = f;
	p->q_len++;
	p->last_send_ms = loop_now_ms(t->loop);
	atomic_fetch_add(&t->sent, 1);
	/* Written at the end of this loop iteration, together with what
	 * else the iteration sends to the same peer (an append and the
	 * commit that follows it): one system call for them all. */
	if (p->state == C_UP && !t->flush_due) {
		t->flush_due = true;
		loop_defer(t->loop, t_flush, t);
	}
	return 0;
}

void
transport_forget(struct transport *t, const char *addr)
{
	for (struct peer *p = t->peers; p != NULL; p = p->next) {
		if (strcmp(p->addr, addr) == 0 && p->open) {
			p->open = false;
			if (!p->up)
				p->lost++;	/* counted as lost all the same */
			peer_disconnect(p, false);
			queue_drop_all(p);
			atomic_fetch_sub(&t->npeers, 1);
			return;
		}
	}
}

void
transport_forget_idle(struct transport *t, uint64_t idle_ms)
{
	uint64_t now = loop_now_ms(t->loop);

	for (struct peer *p = t->peers; p != NULL; p = p->next)
		if (p->open && now - p->last_send_ms > idle_ms) {
			log_debug("closing the idle connection to %s", p->addr);
			transport_forget(t, p->addr);
		}
}

int
transport_peer(struct transport *t, const char *addr, bool dial, bool *up,
    uint64_t *lost)
{
	struct peer *p;

	*up = false;
	*lost = 0;
	if (dial) {
		p = peer_get(t, addr);
	} else {
		for (p = t->peers; p != NULL; p = p->next)
			if (strcmp(p->addr, addr) == 0)
				break;
	}
	if (p == NULL)
		return -LE_UNAVAIL;
	*up = p->up;
	*lost = p->lost;
	return 0;
}

void
transport_stats(struct transport *t, struct transport_stats *st)
{
	st->sent = atomic_load(&t->sent);
	st->dropped = atomic_load(&t->dropped);
	st->received = atomic_load(&t->received);
	st->peers = atomic_load(&t->npeers);
}
