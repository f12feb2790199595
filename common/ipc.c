/* ipc.c: request/reply channels between lictor's daemons over unix
 * sockets, speaking nng's SP wire protocol for req0/rep0 over ipc://.
 *
 * The wire: each side first sends an 8-byte header ("\0SP\0", its
 * protocol number, two zero bytes); then every message is a byte 0x01, a
 * 64-bit big-endian length and the body. A request's body starts with
 * the requester's 32-bit request id (high bit set), which the reply
 * carries back (rep0's backtrace); then comes the proto.h envelope. nng's
 * req0 and rep0 sockets interoperate with these (lictor ctl and the
 * tests talk to daemons through nng), but the daemons' own channels no
 * longer run through nng's poller and task threads: a server reads and
 * answers on its loop's thread, and a client writes from the calling
 * thread and reads replies on one I/O thread of its own. Each message
 * between two daemons now costs one wake-up on each side instead of
 * several thread hand-offs (docs/architecture.md). */
#include "ipc.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdatomic.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define SP_HDR_LEN 8
#define SP_REQ0 0x30		/* nng's NNI_PROTO(3, 0) */
#define SP_REP0 0x31		/* NNI_PROTO(3, 1) */
#define FRAME_HDR 9		/* 0x01 and a 64-bit length */
#define REQ_ID_LEN 4
#define BACKTRACE_MAX 8		/* rep0's hop limit (words of 4 bytes) */
#define FRAME_MAX (PROTO_MAX_MSG + BACKTRACE_MAX * 4)
#define SERVER_CONNS_MAX 128
#define ACCEPTS_PER_WAKE 16	/* then the loop serves the others */
#define SERVER_OQ_MAX (16u << 20) /* unsent reply bytes before we stop
				   * reading a client's requests */
#define RX_CHUNK 65536
#define HANDSHAKE_MS 2000
#define REDIAL_MIN_MS 50
#define REDIAL_MAX_MS 500
#define IPC_CANCEL_TIMEOUT_MS 2000	/* a cancel's own reply: ignored */

/* ---- shared pieces ---- */

/* A growable output buffer, the sink of an mpw writer. */
struct obuf {
	uint8_t *p;
	size_t len, cap;
};

static void
obuf_reserve(struct obuf *o, size_t more)
{
	size_t want = o->len + more;

	if (want <= o->cap)
		return;
	o->cap = o->cap < 256 ? 256 : o->cap;
	while (o->cap < want)
		o->cap *= 2;
	if ((o->p = realloc(o->p, o->cap)) == NULL)
		fatalx("ipc: out of memory");
}

static int
obuf_sink(void *data, const char *buf, size_t len)
{
	struct obuf *o = data;

	obuf_reserve(o, len);
	memcpy(o->p + o->len, buf, len);
	o->len += len;
	return 0;
}

/* Writes the frame header into the first FRAME_HDR bytes of o. */
static void
obuf_seal(struct obuf *o)
{
	uint64_t n = o->len - FRAME_HDR;

	o->p[0] = 1;
	be_put(o->p + 1, 8, n);
}

/* Bytes waiting to be written on a connection. */
struct outq_item {
	struct outq_item *next;
	uint8_t *p;
	size_t len, off;
	const void *tag;	/* the call it carries (clients), or NULL */
};

struct outq {
	struct outq_item *head, *tail;
	size_t bytes;		/* not yet written */
};

static void
outq_push(struct outq *q, uint8_t *p, size_t len, size_t off,
    const void *tag)
{
	struct outq_item *it = malloc(sizeof(*it));

	if (it == NULL)
		fatalx("ipc: out of memory");
	it->next = NULL;
	it->p = p;
	it->len = len;
	it->off = off;
	it->tag = tag;
	q->bytes += len - off;
	if (q->tail != NULL)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
}

static void
outq_clear(struct outq *q)
{
	struct outq_item *it;

	while ((it = q->head) != NULL) {
		q->head = it->next;
		free(it->p);
		free(it);
	}
	q->tail = NULL;
	q->bytes = 0;
}

/* Takes out the message of tag if none of it was written yet (a call
 * that timed out must not run later). */
static void
outq_cancel(struct outq *q, const void *tag)
{
	struct outq_item **pp, *prev = NULL;

	for (pp = &q->head; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
		struct outq_item *it = *pp;

		if (it->tag != tag || it->off != 0)
			continue;
		*pp = it->next;
		if (q->tail == it)
			q->tail = prev;
		q->bytes -= it->len;
		free(it->p);
		free(it);
		return;
	}
}

/* Writes what is queued, many messages per system call; 0 when all
 * went, 1 when the socket is full, -1 when the connection broke. */
static int
outq_flush(struct outq *q, int fd)
{
	struct iovec iov[64];
	struct msghdr mh = { .msg_iov = iov };
	struct outq_item *it;

	while (q->head != NULL) {
		size_t n = 0;
		ssize_t w;

		for (it = q->head; it != NULL && n < 64; it = it->next) {
			iov[n].iov_base = it->p + it->off;
			iov[n++].iov_len = it->len - it->off;
		}
		mh.msg_iovlen = n;
		w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return 1;
		if (w < 0)
			return -1;
		q->bytes -= (size_t)w;
		while (w > 0) {
			it = q->head;
			if ((size_t)w < it->len - it->off) {
				it->off += (size_t)w;
				break;
			}
			w -= (ssize_t)(it->len - it->off);
			q->head = it->next;
			if (q->head == NULL)
				q->tail = NULL;
			free(it->p);
			free(it);
		}
	}
	return 0;
}

/* Sends buf (taking it) at once if nothing waits before it, queueing
 * what the socket does not take; 0, 1 (queued, wait for POLLOUT) or -1. */
static int
send_or_queue(struct outq *q, int fd, uint8_t *buf, size_t len,
    const void *tag)
{
	ssize_t n = 0;

	if (q->head == NULL) {
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			free(buf);
			return -1;
		}
		if (n < 0)
			n = 0;
		if ((size_t)n == len) {
			free(buf);
			return 0;
		}
	}
	outq_push(q, buf, len, (size_t)n, tag);
	return 1;
}

static void
sp_header(uint8_t out[SP_HDR_LEN], uint16_t proto)
{
	memcpy(out, "\0SP\0", 4);
	out[4] = (uint8_t)(proto >> 8);
	out[5] = (uint8_t)proto;
	out[6] = 0;
	out[7] = 0;
}

static int
url_path(const char *url, struct sockaddr_un *sa, struct lerr *e)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strncmp(url, "ipc://", 6) != 0)
		return lerr_set(e, LE_INVAL, "not an ipc:// address: %s", url);
	if (strlen(url + 6) >= sizeof(sa->sun_path))
		return lerr_set(e, LE_RANGE, "socket path too long: %s",
		    url + 6);
	memcpy(sa->sun_path, url + 6, strlen(url + 6));
	return 0;
}

/* A read buffer that whole frames are cut from. */
struct rbuf {
	uint8_t *p;
	size_t len, cap;
};

/* Reads what the socket has into r: 2 read something and the socket is
 * drained (a short read: no second recv(2) only to hear EAGAIN; the fd is
 * level-triggered, so what arrives later wakes the loop again), 1 read a
 * full buffer (more may wait), 0 nothing more for now, -1 closed or
 * broken. */
static int
rbuf_fill(struct rbuf *r, int fd)
{
	size_t room;
	ssize_t n;

	if (r->cap - r->len < RX_CHUNK / 4) {
		r->cap = r->cap < RX_CHUNK ? RX_CHUNK : r->cap * 2;
		if ((r->p = realloc(r->p, r->cap)) == NULL)
			fatalx("ipc: out of memory");
	}
	room = r->cap - r->len;
	n = recv(fd, r->p + r->len, room, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	r->len += (size_t)n;
	return (size_t)n < room ? 2 : 1;
}

/* The next whole frame at off in r: 1 with *body and *len set (valid until
 * rbuf_consume), 0 when incomplete, -1 for a bad frame (*why). */
static int
rbuf_frame(struct rbuf *r, size_t off, const uint8_t **body, size_t *len,
    const char **why)
{
	uint64_t n;

	if (r->len - off < FRAME_HDR)
		return 0;
	if (r->p[off] != 1) {
		*why = "not an SP message frame";
		return -1;
	}
	n = be_get(r->p + off + 1, 8);
	if (n > FRAME_MAX) {
		*why = "message over the size limit";
		return -1;
	}
	if (r->len - off - FRAME_HDR < n)
		return 0;
	*body = r->p + off + FRAME_HDR;
	*len = (size_t)n;
	return 1;
}

/* Drops the first off bytes; then makes room for the whole frame that
 * has begun, so that it is read in few calls. */
static void
rbuf_consume(struct rbuf *r, size_t off)
{
	if (off > 0) {
		memmove(r->p, r->p + off, r->len - off);
		r->len -= off;
	}
	if (r->len == 0 && r->cap > 4 * RX_CHUNK) {
		free(r->p);
		r->p = NULL;
		r->cap = 0;
	} else if (r->len >= FRAME_HDR) {
		uint64_t n = be_get(r->p + 1, 8);

		if (n <= FRAME_MAX && r->cap < FRAME_HDR + n + RX_CHUNK / 4) {
			r->cap = FRAME_HDR + (size_t)n + RX_CHUNK / 4;
			if ((r->p = realloc(r->p, r->cap)) == NULL)
				fatalx("ipc: out of memory");
		}
	}
}

static void *
xdup(const void *p, size_t n)
{
	void *q = malloc(n > 0 ? n : 1);

	if (q == NULL)
		fatalx("ipc: out of memory");
	memcpy(q, p, n);
	return q;
}

/* ================= servers ================= */

struct sconn {
	struct ipc_server *s;
	struct sconn *next, *prev;
	int fd;
	bool handshaken;
	bool dead;
	uint8_t hin[SP_HDR_LEN];
	size_t hin_got;
	struct rbuf rb;
	struct outq oq;
	bool pollout;		/* the socket was full: waiting for room */
	bool paused;		/* not reading: too many replies unsent */
	size_t oq_bytes;	/* queued reply bytes */
	uint64_t since_ms;	/* accepted at */
	uint64_t last_ms;	/* last request read */
	int refs;		/* 1 while open, + 1 per request not answered */
};

struct sreq {
	struct ipc_req pub;
	struct sconn *conn;
	struct sreq *next, *prev;	/* the server's unanswered requests */
	uint8_t *in;			/* the request's bytes (msg borrows) */
	uint8_t bt[BACKTRACE_MAX * REQ_ID_LEN];
	size_t bt_len;
	struct obuf out;
	struct mpw w;
	ipc_cancel_fn on_cancel;	/* a parked request its caller may end */
	void *cancel_arg;
};

struct ipc_server {
	struct loop *loop;
	enum ipc_trust trust;
	ipc_handler_fn fn;
	void *arg;
	uint64_t boot;
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sconn *conns;
	int nconns;
	struct sreq *reqs;
	bool closing;
	bool flush_due;		/* srv_flush is deferred to the iteration's end */
	struct loop_timer *timer;	/* handshake deadlines, accept retry */
	bool accept_paused;	/* out of fds: the listener rests a moment */
	_Atomic uint64_t bad, served, inflight, canceled;
};

static void
sconn_unref(struct sconn *c)
{
	if (--c->refs > 0)
		return;
	free(c->rb.p);
	outq_clear(&c->oq);
	free(c);
}

static void
sconn_close(struct sconn *c)
{
	struct ipc_server *s = c->s;

	if (c->dead)
		return;
	c->dead = true;
	loop_unwatch_fd(s->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	outq_clear(&c->oq);
	sconn_unref(c);
}

static void
sreq_unlink(struct sreq *r)
{
	struct ipc_server *s = r->pub.srv;

	if (r->prev != NULL)
		r->prev->next = r->next;
	else if (s->reqs == r)
		s->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
}

static void
sreq_free(struct sreq *r)
{
	proto_msg_free(&r->pub.msg);
	free(r->in);
	free(r->out.p);
	sconn_unref(r->conn);
	free(r);
}

/* A request that does not decode: from a sibling a bug (exit for a
 * restart), from a user an error reply. */
static void
srv_malformed(struct sreq *r, int rv, const struct lerr *e)
{
	struct ipc_server *s = r->pub.srv;

	atomic_fetch_add(&s->bad, 1);
	if (s->trust == IPC_SIBLING) {
		log_error("ipc: malformed message from a sibling daemon (%s); "
		    "exiting for a restart", e->msg);
		exit(EXIT_TEMPORARY);
	}
	log_warnx("ipc: malformed request rejected: %s", e->msg);
	ipc_reply_error(&r->pub, rv, "malformed request: %s", e->msg);
}

/* MSG_IPC_CANCEL: the request it names, if it came on the same
 * connection and its handler parked it with a hook, is answered by the
 * hook now. A scan of the unanswered requests: cancels are rare (a
 * client hanging up on a blocking query). */
static void
srv_cancel(struct sreq *r)
{
	struct ipc_server *s = r->pub.srv;
	struct msg_ipc_cancel q;
	struct sreq *t;
	struct lerr e;
	int rv;

	if ((rv = msg_ipc_cancel_dec(&r->pub.msg, &q, &e)) != 0) {
		srv_malformed(r, rv, &e);
		return;
	}
	for (t = s->reqs; t != NULL; t = t->next)
		if (t != r && t->conn == r->conn && t->on_cancel != NULL &&
		    t->pub.msg.req_id == q.req_id)
			break;
	msg_ipc_cancel_reply_enc(ipc_reply_begin(&r->pub, MSG_IPC_CANCEL),
	    t != NULL);
	ipc_reply_send(&r->pub);
	if (t != NULL) {
		ipc_cancel_fn fn = t->on_cancel;

		t->on_cancel = NULL;
		atomic_fetch_add(&s->canceled, 1);
		fn(t->cancel_arg, &t->pub);
	}
}

void
ipc_req_on_cancel(struct ipc_req *pub, ipc_cancel_fn fn, void *arg)
{
	struct sreq *r = pub->priv;

	if (!loop_on_thread(pub->srv->loop))
		fatalx("ipc: a cancel hook set off the server's loop");
	r->on_cancel = fn;
	r->cancel_arg = arg;
}

void
ipc_reply_canceled(struct ipc_req *pub)
{
	ipc_reply_error(pub, -LE_CANCELED, "blocking query canceled: its "
	    "caller went away");
}

/* One request frame from c. Returns false when the connection must be
 * dropped. */
static bool
srv_request(struct sconn *c, const uint8_t *body, size_t len)
{
	struct ipc_server *s = c->s;
	struct sreq *r;
	struct lerr e;
	size_t bt = 0;
	int rv;

	c->last_ms = loop_now_ms(s->loop);
	/* rep0's backtrace: words up to one with the high bit set. */
	for (;;) {
		if (len - bt < REQ_ID_LEN || bt / REQ_ID_LEN >= BACKTRACE_MAX) {
			atomic_fetch_add(&s->bad, 1);
			log_warnx("ipc: a request without a request id; "
			    "dropping the connection");
			return false;
		}
		bt += REQ_ID_LEN;
		if (body[bt - REQ_ID_LEN] & 0x80)
			break;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		fatalx("ipc: out of memory");
	r->pub.srv = s;
	r->pub.priv = r;
	r->conn = c;
	c->refs++;
	memcpy(r->bt, body, bt);
	r->bt_len = bt;
	r->in = xdup(body + bt, len - bt);
	r->next = s->reqs;
	if (s->reqs != NULL)
		s->reqs->prev = r;
	s->reqs = r;
	atomic_fetch_add(&s->inflight, 1);
	rv = proto_decode(r->in, len - bt, &r->pub.msg, &e);
	if (rv == 0 && (r->pub.msg.type & PROTO_REPLY) != 0)
		rv = lerr_set(&e, LE_MALFORMED, "a reply sent as a request");
	if (rv != 0) {
		srv_malformed(r, rv, &e);
		return true;
	}
	if (r->pub.msg.type == MSG_IPC_CANCEL)
		srv_cancel(r);
	else
		s->fn(s->arg, &r->pub);
	return true;
}

static void sconn_read(struct sconn *c, int fd);

/* What to watch on a connection: its requests, unless too many replies
 * wait unsent (a client that does not read them must not make us queue
 * without bound), and room to write when the socket is full. */
static void
sconn_resume(void *arg)
{
	struct sconn *c = arg;

	if (!c->dead && !c->paused)
		sconn_read(c, c->fd);
	sconn_unref(c);
}

static void
sconn_events(struct sconn *c)
{
	bool was = c->paused;

	c->paused = c->oq.bytes > SERVER_OQ_MAX;
	loop_modify_fd(c->s->loop, c->fd, (c->paused ? 0 : POLLIN) |
	    (c->pollout ? POLLOUT : 0));
	if (was && !c->paused && c->rb.len > 0) {
		/* Requests read before the pause wait in the buffer: no
		 * new bytes may come to wake us for them. */
		c->refs++;
		loop_defer(c->s->loop, sconn_resume, c);
	}
}

static void
sconn_io(void *arg, int fd, short revents)
{
	struct sconn *c = arg;
	int rv;

	if (revents & POLLOUT) {
		if ((rv = outq_flush(&c->oq, fd)) < 0) {
			sconn_close(c);
			return;
		}
		c->pollout = rv > 0;
		sconn_events(c);
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	if (c->paused) {
		/* Not reading its requests for now; a hang-up or an error
		 * (reported whatever we watch) ends it. */
		if (revents & (POLLHUP | POLLERR))
			sconn_close(c);
		return;
	}
	/* A handler's reply may drop the connection (a write error): hold
	 * it until the reading is done. */
	c->refs++;
	sconn_read(c, fd);
	sconn_unref(c);
}

/* Serves the whole requests waiting in c's buffer, while the replies
 * queued stay under the bound: 0, or -1 for bad framing (*why), -2 when
 * the connection must go. */
static int
sconn_parse(struct sconn *c, const char **why)
{
	const uint8_t *body;
	size_t len, off = 0;
	int rv = 0;

	while (c->oq.bytes <= SERVER_OQ_MAX && (rv = rbuf_frame(&c->rb, off,
	    &body, &len, why)) == 1) {
		off += FRAME_HDR + len;
		if (!srv_request(c, body, len))
			return -2;
		if (c->dead)
			return 0;
	}
	if (rv < 0)
		return -1;
	rbuf_consume(&c->rb, off);
	return 0;
}

static void
sconn_read(struct sconn *c, int fd)
{
	const char *why = NULL;
	int rv, filled;

	/* What an earlier pause left in the buffer goes first. */
	if (c->handshaken && c->rb.len > 0) {
		if ((rv = sconn_parse(c, &why)) == -1)
			goto bad;
		if (rv == -2)
			goto drop;
	}
	/* Bounded reading, so one busy client cannot starve the loop. */
	for (int rounds = 0; rounds < 8 && !c->dead; rounds++) {
		if (c->oq.bytes > SERVER_OQ_MAX) {
			sconn_events(c);	/* paused until it reads */
			return;
		}
		if (!c->handshaken) {
			ssize_t n = recv(fd, c->hin + c->hin_got,
			    SP_HDR_LEN - c->hin_got, MSG_DONTWAIT);
			uint8_t want[SP_HDR_LEN];

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n <= 0)
				goto drop;
			c->hin_got += (size_t)n;
			if (c->hin_got < SP_HDR_LEN)
				continue;
			sp_header(want, SP_REQ0);
			if (memcmp(c->hin, want, SP_HDR_LEN) != 0) {
				why = "not an SP req0 peer";
				goto bad;
			}
			c->handshaken = true;
		}
		if ((filled = rbuf_fill(&c->rb, fd)) == 0)
			return;
		if (filled < 0)
			goto drop;
		if ((rv = sconn_parse(c, &why)) == -1)
			goto bad;
		if (rv == -2)
			goto drop;
		if (filled == 2)
			break;		/* drained */
	}
	/* Requests left in the buffer behind a full reply queue: pause, so
	 * that the queue draining resumes them (the socket may have nothing
	 * more to wake us with). */
	if (!c->dead && c->oq.bytes > SERVER_OQ_MAX)
		sconn_events(c);
	return;
bad:
	atomic_fetch_add(&c->s->bad, 1);
	log_warnx("ipc: %s; dropping the connection", why);
drop:
	sconn_close(c);
}

/* Closes the connection heard from least recently (to make room). */
static void
srv_evict(struct ipc_server *s)
{
	struct sconn *c, *old = s->conns;

	for (c = s->conns; c != NULL; c = c->next)
		if (c->last_ms < old->last_ms)
			old = c;
	if (old != NULL) {
		log_warnx("ipc: over %d connections on %s; closing the one "
		    "quiet longest", SERVER_CONNS_MAX, s->path);
		sconn_close(old);
	}
}

static void srv_timer_arm(struct ipc_server *s);

static void
srv_accept(void *arg, int lfd, short revents)
{
	struct ipc_server *s = arg;
	uint8_t hdr[SP_HDR_LEN];

	(void)revents;
	for (int n = 0; n < ACCEPTS_PER_WAKE; n++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		struct sconn *c;

		if (fd < 0 && (errno == EAGAIN || errno == EINTR ||
		    errno == ECONNABORTED))
			return;
		if (fd < 0) {
			/* Out of fds or memory: the connection stays in
			 * the backlog; rest the listener instead of
			 * spinning on it. */
			log_warnx("ipc: accept on %s: %s", s->path,
			    strerror(errno));
			loop_unwatch_fd(s->loop, lfd);
			s->accept_paused = true;
			srv_timer_arm(s);
			return;
		}
		/* Refuse peers that are not us (or root): the run directory
		 * is private already; this is the second lock on the door. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 &&
		    cred.uid != geteuid() && cred.uid != 0) {
			log_warnx("ipc: refusing a peer with uid %u",
			    (unsigned)cred.uid);
			close(fd);
			continue;
		}
		if (s->nconns >= SERVER_CONNS_MAX)
			srv_evict(s);
		sp_header(hdr, SP_REP0);
		if (send(fd, hdr, SP_HDR_LEN, MSG_NOSIGNAL | MSG_DONTWAIT) !=
		    SP_HDR_LEN) {
			close(fd);
			continue;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL)
			fatalx("ipc: out of memory");
		c->s = s;
		c->fd = fd;
		c->refs = 1;
		c->since_ms = c->last_ms = loop_now_ms(s->loop);
		if (loop_watch_fd(s->loop, fd, POLLIN, sconn_io, c) != 0) {
			log_warnx("ipc: no room to watch a connection");
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
		srv_timer_arm(s);
	}
}

/* Drops connections that did not say their SP header in time, and
 * brings a rested listener back. */
static void
srv_timer(void *arg)
{
	struct ipc_server *s = arg;
	uint64_t now = loop_now_ms(s->loop);
	struct sconn *c, *next;

	if (s->accept_paused) {
		s->accept_paused = false;
		if (loop_watch_fd(s->loop, s->lfd, POLLIN, srv_accept, s) != 0)
			s->accept_paused = true;
	}
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (!c->handshaken && now - c->since_ms >= HANDSHAKE_MS) {
			atomic_fetch_add(&s->bad, 1);
			log_warnx("ipc: no SP header from a peer of %s in %d "
			    "ms; dropping it", s->path, HANDSHAKE_MS);
			sconn_close(c);
		}
	}
	srv_timer_arm(s);
}

static void
srv_timer_arm(struct ipc_server *s)
{
	uint64_t now = loop_now_ms(s->loop), until = UINT64_MAX;

	if (s->closing || s->timer == NULL)
		return;
	if (s->accept_paused)
		until = now + 100;
	for (struct sconn *c = s->conns; c != NULL; c = c->next)
		if (!c->handshaken && c->since_ms + HANDSHAKE_MS < until)
			until = c->since_ms + HANDSHAKE_MS;
	if (until == UINT64_MAX)
		loop_timer_cancel(s->timer);
	else
		loop_timer_arm(s->timer, until > now ? until - now : 0);
}

int
ipc_server_open(struct ipc_server **out, const char *url, struct loop *l,
    enum ipc_trust trust, ipc_handler_fn fn, void *arg, uint64_t boot_id,
    struct lerr *e)
{
	struct sockaddr_un sa;
	struct ipc_server *s;
	int fd, rv;

	if ((rv = url_path(url, &sa, e)) != 0)
		return rv;
	unlink(sa.sun_path); /* a stale socket from a killed process */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return lerr_set(e, LE_IO, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(sa.sun_path, 0600) != 0 || listen(fd, 128) != 0) {
		rv = errno;
		close(fd);
		return lerr_set(e, LE_IO, "listen on %s: %s", url,
		    strerror(rv));
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		close(fd);
		return lerr_set(e, LE_NOMEM, "ipc server");
	}
	s->loop = l;
	s->trust = trust;
	s->fn = fn;
	s->arg = arg;
	s->boot = boot_id;
	s->lfd = fd;
	snprintf(s->path, sizeof(s->path), "%s", sa.sun_path);
	s->timer = loop_timer_new(l, srv_timer, s);
	if (loop_watch_fd(l, fd, POLLIN, srv_accept, s) != 0) {
		loop_timer_free(s->timer);
		close(fd);
		free(s);
		return lerr_set(e, LE_IO, "listen on %s: no room in the loop",
		    url);
	}
	*out = s;
	return 0;
}

void
ipc_server_close(struct ipc_server *s)
{
	struct sreq *r;

	if (s == NULL)
		return;
	if (!s->accept_paused)
		loop_unwatch_fd(s->loop, s->lfd);
	close(s->lfd);
	unlink(s->path);
	loop_timer_free(s->timer);
	s->timer = NULL;
	/* Replies handed to the loop (from other threads, or while it was
	 * stopping) go out first; then what no one answered is freed. */
	loop_drain(s->loop);
	s->closing = true;
	while (s->conns != NULL)
		sconn_close(s->conns);
	while ((r = s->reqs) != NULL) {
		sreq_unlink(r);
		sreq_free(r);
	}
	free(s);
}

uint64_t
ipc_server_bad(const struct ipc_server *s)
{
	return atomic_load(&s->bad);
}

uint64_t
ipc_server_served(const struct ipc_server *s)
{
	return atomic_load(&s->served);
}

uint64_t
ipc_server_canceled(const struct ipc_server *s)
{
	return atomic_load(&s->canceled);
}

uint64_t
ipc_server_inflight(const struct ipc_server *s)
{
	return atomic_load(&s->inflight);
}

struct mpw *
ipc_reply_begin(struct ipc_req *pub, uint32_t type)
{
	struct sreq *r = pub->priv;

	r->out.len = 0;
	obuf_reserve(&r->out, FRAME_HDR + r->bt_len + 128);
	r->out.len = FRAME_HDR;
	memcpy(r->out.p + r->out.len, r->bt, r->bt_len);
	r->out.len += r->bt_len;
	mpw_init_sink(&r->w, &r->out, obuf_sink);
	proto_begin(&r->w, type | PROTO_REPLY, pub->msg.req_id,
	    pub->srv->boot);
	return &r->w;
}

/* At the end of the loop's iteration: every connection's replies of
 * this iteration go out together, one system call for many (kvd answers
 * a whole committed batch of writes at once). */
static void
srv_flush(void *arg)
{
	struct ipc_server *s = arg;
	struct sconn *c, *next;
	int rv;

	s->flush_due = false;
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (c->oq.head == NULL || c->pollout)
			continue;
		if ((rv = outq_flush(&c->oq, c->fd)) < 0) {
			sconn_close(c);
			continue;
		}
		c->pollout = rv > 0;
		if (c->pollout || c->paused)
			sconn_events(c);
	}
}

/* On the loop thread: queues the reply (if its client is still there)
 * and frees the request. */
static void
reply_now(struct sreq *r)
{
	struct ipc_server *s = r->pub.srv;
	struct sconn *c = r->conn;
	uint8_t *buf = r->out.p;
	size_t len = r->out.len;

	r->out.p = NULL;
	sreq_unlink(r);
	atomic_fetch_sub(&s->inflight, 1);
	if (!c->dead && !s->closing) {
		outq_push(&c->oq, buf, len, 0, NULL);
		atomic_fetch_add(&s->served, 1);
		if (!c->pollout && !s->flush_due) {
			s->flush_due = true;
			loop_defer(s->loop, srv_flush, s);
		}
	} else {
		free(buf);
	}
	sreq_free(r);
}

static void
reply_posted(void *arg)
{
	reply_now(arg);
}

void
ipc_reply_send(struct ipc_req *pub)
{
	struct sreq *r = pub->priv;

	if (r->w.err != 0)
		fatalx("ipc: out of memory encoding a reply");
	if (r->on_cancel != NULL) {
		/* Its loop's thread, running or stopped (a daemon answers
		 * what is left after its loop returns); only that thread
		 * reads the hook. */
		if (!loop_on_thread(pub->srv->loop))
			fatalx("ipc: a cancellable request answered off its "
			    "loop");
		r->on_cancel = NULL;
	}
	mpw_free(&r->w);
	if (r->out.len - FRAME_HDR - r->bt_len > PROTO_MAX_MSG) {
		/* The client would drop the connection, and every call on
		 * it, for this one reply: it gets an error instead. */
		log_warnx("ipc: a %zu-byte reply is over the message limit",
		    r->out.len - FRAME_HDR - r->bt_len);
		ipc_reply_error(pub, -LE_TOOBIG, "reply too large");
		return;
	}
	obuf_seal(&r->out);
	/* Only the thread running the loop writes; any other (a worker, or
	 * anyone while the loop is stopped) hands the reply to the loop,
	 * which sends it when it runs or drains (ipc_server_close). */
	if (loop_running_here(pub->srv->loop))
		reply_now(r);
	else
		loop_post(pub->srv->loop, reply_posted, r);
}

void
ipc_reply_error(struct ipc_req *pub, int code, const char *fmt, ...)
{
	char text[512];
	struct msg_error me;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	me.code = code > 0 ? -code : code;
	me.text = text;
	me.text_len = strlen(text);
	msg_error_enc(ipc_reply_begin(pub, MSG_ERROR), &me);
	ipc_reply_send(pub);
}

/* ================= clients ================= */

struct ipc_call {
	struct ipc_client *c;
	uint32_t type;
	uint32_t id;		/* SP request id, high bit set */
	uint64_t env_id;	/* the envelope's request id */
	struct obuf out;
	struct mpw w;
	uint64_t deadline;
	size_t heap_idx;	/* in the client's deadline heap */
	struct ipc_call *hnext;	/* in the client's id table */
	ipc_reply_fn fn;
	void *arg;
	struct loop *loop;	/* deliver on this loop's thread, or NULL */
	int rv;			/* the outcome */
	struct proto_msg reply;
	bool has_reply;
	uint8_t *rbytes;	/* what reply borrows from */
	struct ipc_call *done_next;
};

struct ipc_client {
	struct sockaddr_un sa;
	uint64_t boot;
	pthread_t thr;
	int wakefd;
	pthread_mutex_t mu;	/* everything below */
	int fd;			/* -1 when not connected */
	bool up;		/* connected and handshaken */
	bool closing;
	uint64_t planned_wake;	/* when the I/O thread wakes by itself */
	struct outq oq;
	uint32_t next_id;
	struct ipc_call **tab;	/* calls in flight by id */
	size_t tab_cap, tab_n;
	struct ipc_call **heap;	/* the same calls by deadline */
	size_t heap_n, heap_cap;
	_Atomic int peers;
	_Atomic uint64_t peer_boot;
	_Atomic uint64_t next_env_id;
	/* The owner's reference and one per call not yet freed: a callback
	 * that runs after ipc_client_close (a reply already queued on a
	 * loop) may make a new call, which then fails with -LE_CLOSED. */
	_Atomic int refs;
	/* Loop mode (ipc_client_open_loop): no I/O thread; the socket,
	 * the deadlines and the redials are the loop's. */
	struct loop *loop;
	struct loop_timer *timer;
	bool handshaking;
	uint8_t hin[SP_HDR_LEN];
	size_t hin_got;
	struct rbuf rb;
	uint64_t redial_at, backoff, handshake_end;
};

static void client_unref(struct ipc_client *c);
static void lc_arm(struct ipc_client *c);

/* ---- the table of calls in flight (under mu) ---- */

static size_t
tab_slot(const struct ipc_client *c, uint32_t id)
{
	return (id * 2654435761u) & (c->tab_cap - 1);
}

static void
tab_insert(struct ipc_client *c, struct ipc_call *call)
{
	if (c->tab_n + 1 > c->tab_cap) {
		size_t ncap = c->tab_cap ? c->tab_cap * 2 : 64;
		struct ipc_call **nt = calloc(ncap, sizeof(*nt));
		size_t old = c->tab_cap;

		if (nt == NULL)
			fatalx("ipc: out of memory");
		c->tab_cap = ncap;
		for (size_t i = 0; i < old; i++) {
			struct ipc_call *x, *n;

			for (x = c->tab[i]; x != NULL; x = n) {
				n = x->hnext;
				x->hnext = nt[tab_slot(c, x->id)];
				nt[tab_slot(c, x->id)] = x;
			}
		}
		free(c->tab);
		c->tab = nt;
	}
	call->hnext = c->tab[tab_slot(c, call->id)];
	c->tab[tab_slot(c, call->id)] = call;
	c->tab_n++;
}

static struct ipc_call *
tab_find(struct ipc_client *c, uint32_t id, bool remove)
{
	struct ipc_call **pp;

	if (c->tab_cap == 0)
		return NULL;
	for (pp = &c->tab[tab_slot(c, id)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		struct ipc_call *x = *pp;

		if (x->id != id)
			continue;
		if (remove) {
			*pp = x->hnext;
			x->hnext = NULL;
			c->tab_n--;
		}
		return x;
	}
	return NULL;
}

/* ---- the deadline heap (under mu) ---- */

static void
heap_swap(struct ipc_client *c, size_t a, size_t b)
{
	struct ipc_call *t = c->heap[a];

	c->heap[a] = c->heap[b];
	c->heap[b] = t;
	c->heap[a]->heap_idx = a;
	c->heap[b]->heap_idx = b;
}

static void
heap_up(struct ipc_client *c, size_t i)
{
	while (i > 0 && c->heap[(i - 1) / 2]->deadline > c->heap[i]->deadline) {
		heap_swap(c, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct ipc_client *c, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < c->heap_n && c->heap[l]->deadline < c->heap[m]->deadline)
			m = l;
		if (r < c->heap_n && c->heap[r]->deadline < c->heap[m]->deadline)
			m = r;
		if (m == i)
			return;
		heap_swap(c, i, m);
		i = m;
	}
}

static void
heap_push(struct ipc_client *c, struct ipc_call *call)
{
	if (c->heap_n == c->heap_cap) {
		c->heap_cap = c->heap_cap ? c->heap_cap * 2 : 64;
		c->heap = realloc(c->heap, c->heap_cap * sizeof(*c->heap));
		if (c->heap == NULL)
			fatalx("ipc: out of memory");
	}
	call->heap_idx = c->heap_n;
	c->heap[c->heap_n++] = call;
	heap_up(c, call->heap_idx);
}

static void
heap_remove(struct ipc_client *c, struct ipc_call *call)
{
	size_t i = call->heap_idx;

	if (--c->heap_n != i) {
		c->heap[i] = c->heap[c->heap_n];
		c->heap[i]->heap_idx = i;
		heap_down(c, i);
		heap_up(c, i);
	}
}

/* ---- completing calls ---- */

static void
call_free(struct ipc_call *call)
{
	struct ipc_client *c = call->c;

	if (call->has_reply)
		proto_msg_free(&call->reply);
	free(call->rbytes);
	free(call->out.p);
	free(call);
	client_unref(c);
}

/* On the owner's loop thread. */
static void
call_deliver(void *arg)
{
	struct ipc_call *call = arg;

	if (call->fn != NULL)
		call->fn(call->arg, call->rv,
		    call->has_reply ? &call->reply : NULL);
	call_free(call);
}

/* Runs (or hands to its loop) the callback of a call no longer in the
 * client's table; never with mu held. */
static void
call_finish(struct ipc_call *call)
{
	if (call->loop != NULL) {
		loop_post(call->loop, call_deliver, call);
		return;
	}
	call_deliver(call);
}

/* Takes every call in flight out of the client (under mu), to be
 * finished with rv once mu is released. */
static struct ipc_call *
take_all_locked(struct ipc_client *c, int rv)
{
	struct ipc_call *list = NULL;

	for (size_t i = 0; i < c->heap_n; i++) {
		struct ipc_call *x = c->heap[i];

		tab_find(c, x->id, true);
		x->rv = rv;
		x->done_next = list;
		list = x;
	}
	c->heap_n = 0;
	return list;
}

static void
finish_list(struct ipc_call *list)
{
	struct ipc_call *n;

	for (; list != NULL; list = n) {
		n = list->done_next;
		call_finish(list);
	}
}

static void
wake(struct ipc_client *c)
{
	uint64_t one = 1;

	if (c->loop != NULL) {
		lc_arm(c);	/* on the loop thread: no one to wake */
		return;
	}
	if (write(c->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warnx("ipc: wake: %s", strerror(errno));
}

/* ---- the I/O thread ---- */

/* Drops the connection (under mu); the calls in flight fail: a request
 * whose server died is never sent again, since it may have run. */
static struct ipc_call *
disconnect_locked(struct ipc_client *c)
{
	if (c->fd >= 0 && c->loop != NULL)
		loop_unwatch_fd(c->loop, c->fd);
	if (c->fd >= 0)
		close(c->fd);
	c->handshaking = false;
	c->rb.len = 0;
	c->fd = -1;
	c->up = false;
	atomic_store(&c->peers, 0);
	outq_clear(&c->oq);
	return take_all_locked(c, -LE_UNAVAIL);
}

/* Connects and does the SP handshake (without mu: nobody sends while
 * up is false). Returns the fd or -1. */
static int
dial(struct ipc_client *c)
{
	uint8_t hdr[SP_HDR_LEN], want[SP_HDR_LEN];
	size_t got = 0;
	uint64_t end;
	int fd;

	/* Non-blocking: a server whose backlog is full (its loop stalled)
	 * makes connect fail with EAGAIN, retried later, not block. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&c->sa, sizeof(c->sa)) != 0) {
		close(fd);
		return -1;
	}
	sp_header(hdr, SP_REQ0);
	if (send(fd, hdr, SP_HDR_LEN, MSG_NOSIGNAL) != SP_HDR_LEN) {
		close(fd);
		return -1;
	}
	end = mono_ms() + HANDSHAKE_MS;
	while (got < SP_HDR_LEN) {
		struct pollfd p[2] = { { fd, POLLIN, 0 },
		    { c->wakefd, POLLIN, 0 } };
		uint64_t now = mono_ms();
		ssize_t n;
		int pr;

		if (now >= end) {
			close(fd);
			return -1;
		}
		pr = poll(p, 2, (int)(end - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0 || (p[1].revents & POLLIN)) {
			/* Timed out, or woken: maybe closing; the caller's
			 * loop decides (it redials if still wanted). */
			close(fd);
			return -1;
		}
		n = recv(fd, hdr + got, SP_HDR_LEN - got, MSG_DONTWAIT);
		if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
			close(fd);
			return -1;
		}
		if (n > 0)
			got += (size_t)n;
	}
	sp_header(want, SP_REP0);
	if (memcmp(hdr, want, SP_HDR_LEN) != 0) {
		log_warnx("ipc: %s is not a lictor daemon's socket (SP "
		    "handshake)", c->sa.sun_path);
		close(fd);
		return -1;
	}
	return fd;
}

/* One reply frame (under mu): the call it answers, out of the table and
 * ready to finish, or NULL (late or unknown). */
static struct ipc_call *
take_reply_locked(struct ipc_client *c, const uint8_t *body, size_t len)
{
	struct ipc_call *call;
	struct lerr e;
	uint32_t id;
	int rv;

	if (len < REQ_ID_LEN)
		return NULL;
	id = (uint32_t)be_get(body, 4);
	if ((call = tab_find(c, id, true)) == NULL)
		return NULL; /* timed out already */
	heap_remove(c, call);
	call->rbytes = xdup(body + REQ_ID_LEN, len - REQ_ID_LEN);
	rv = proto_decode(call->rbytes, len - REQ_ID_LEN, &call->reply, &e);
	if (rv == 0 && call->reply.type != (call->type | PROTO_REPLY) &&
	    call->reply.type != (MSG_ERROR | PROTO_REPLY)) {
		proto_msg_free(&call->reply);
		rv = lerr_set(&e, LE_MALFORMED, "unexpected reply type");
	}
	if (rv != 0) {
		/* A sibling answering garbage is a bug on its side; we report
		 * it and the caller answers its own client with an error. */
		log_warnx("ipc: bad reply: %s", e.msg);
		call->rv = -LE_MALFORMED;
		return call;
	}
	atomic_store(&c->peer_boot, call->reply.boot_id);
	call->has_reply = true;
	call->rv = 0;
	return call;
}

static void *
client_thread(void *arg)
{
	struct ipc_client *c = arg;
	struct rbuf rb = { 0 };
	uint64_t redial_at = 0, backoff = REDIAL_MIN_MS;

	pthread_mutex_lock(&c->mu);
	while (!c->closing) {
		struct ipc_call *done = NULL, *call;
		struct pollfd pfd[2];
		uint64_t now = mono_ms(), until = now + 60000;
		int nfd = 1, timeout, fd;

		if (c->fd < 0 && now >= redial_at) {
			pthread_mutex_unlock(&c->mu);
			fd = dial(c);
			pthread_mutex_lock(&c->mu);
			if (fd >= 0 && c->closing) {
				close(fd);
				break;
			}
			if (fd >= 0) {
				c->fd = fd;
				c->up = true;
				rb.len = 0;
				backoff = REDIAL_MIN_MS;
				atomic_store(&c->peers, 1);
			} else {
				redial_at = mono_ms() + backoff;
				backoff = backoff * 2 > REDIAL_MAX_MS ?
				    REDIAL_MAX_MS : backoff * 2;
			}
			now = mono_ms();
		}
		/* Calls past their deadline fail, and what of them was not
		 * sent yet is not sent. */
		while (c->heap_n > 0 && c->heap[0]->deadline <= now) {
			call = c->heap[0];
			heap_remove(c, call);
			tab_find(c, call->id, true);
			outq_cancel(&c->oq, call);
			call->rv = -LE_TIMEOUT;
			call->done_next = done;
			done = call;
		}
		if (c->heap_n > 0 && c->heap[0]->deadline < until)
			until = c->heap[0]->deadline;
		if (c->fd < 0 && redial_at < until)
			until = redial_at;
		c->planned_wake = until;
		pfd[0].fd = c->wakefd;
		pfd[0].events = POLLIN;
		if ((fd = c->fd) >= 0) {
			pfd[1].fd = fd;
			pfd[1].events = POLLIN |
			    (c->oq.head != NULL ? POLLOUT : 0);
			nfd = 2;
		}
		pthread_mutex_unlock(&c->mu);
		finish_list(done);
		done = NULL;
		timeout = until > now ? (int)(until - now) : 0;
		if (poll(pfd, (nfds_t)nfd, timeout) < 0 && errno != EINTR)
			fatal("ipc: poll");
		if (pfd[0].revents & POLLIN) {
			uint64_t v;

			while (read(c->wakefd, &v, sizeof(v)) > 0)
				;
		}
		pthread_mutex_lock(&c->mu);
		if (nfd < 2 || c->fd != fd)
			continue;
		if ((pfd[1].revents & POLLOUT) && outq_flush(&c->oq, fd) < 0) {
			done = disconnect_locked(c);
			redial_at = mono_ms() + REDIAL_MIN_MS;
		} else if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			const uint8_t *body;
			const char *why = NULL;
			size_t len, off = 0;
			int rv;

			/* Reading needs no lock on rb (this thread's own);
			 * the calls it completes do. */
			rv = rbuf_fill(&rb, fd);
			while (rv > 0 && (rv = rbuf_frame(&rb, off, &body,
			    &len, &why)) == 1) {
				off += FRAME_HDR + len;
				if ((call = take_reply_locked(c, body,
				    len)) != NULL) {
					call->done_next = done;
					done = call;
				}
			}
			if (rv < 0) {
				if (why != NULL)
					log_warnx("ipc: %s from %s", why,
					    c->sa.sun_path);
				/* Replies already cut out are delivered;
				 * the others fail with the connection. */
				call = disconnect_locked(c);
				while (call != NULL) {
					struct ipc_call *n = call->done_next;

					call->done_next = done;
					done = call;
					call = n;
				}
				rb.len = 0;
				off = 0;
				redial_at = mono_ms() + REDIAL_MIN_MS;
			}
			rbuf_consume(&rb, off);
		}
		if (done != NULL) {
			pthread_mutex_unlock(&c->mu);
			finish_list(done);
			pthread_mutex_lock(&c->mu);
		}
	}
	pthread_mutex_unlock(&c->mu);
	free(rb.p);
	return NULL;
}


/* ---- loop mode: the owner's loop drives the socket ---- */

/* Runs the callbacks of calls done while reading or on a timer (never
 * inside ipc_call_send): on this loop at once, elsewhere posted. */
static void
lc_deliver(struct ipc_client *c, struct ipc_call *list)
{
	struct ipc_call *n;

	for (; list != NULL; list = n) {
		n = list->done_next;
		if (list->loop == NULL || list->loop == c->loop)
			call_deliver(list);
		else
			loop_post(list->loop, call_deliver, list);
	}
}

static void lc_io(void *arg, int fd, short revents);

/* Starts a connection (non-blocking; a unix socket connects at once or
 * fails at once); the SP handshake completes in lc_io. */
static void
lc_dial(struct ipc_client *c)
{
	uint8_t hdr[SP_HDR_LEN];
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sp_header(hdr, SP_REQ0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&c->sa,
	    sizeof(c->sa)) != 0 || send(fd, hdr, SP_HDR_LEN,
	    MSG_NOSIGNAL) != SP_HDR_LEN || loop_watch_fd(c->loop, fd, POLLIN,
	    lc_io, c) != 0) {
		if (fd >= 0)
			close(fd);
		c->redial_at = loop_now_ms(c->loop) + c->backoff;
		c->backoff = c->backoff * 2 > REDIAL_MAX_MS ? REDIAL_MAX_MS :
		    c->backoff * 2;
		return;
	}
	c->fd = fd;
	c->handshaking = true;
	c->hin_got = 0;
	c->handshake_end = loop_now_ms(c->loop) + HANDSHAKE_MS;
}

static void
lc_timer(void *arg)
{
	struct ipc_client *c = arg;
	struct ipc_call *done = NULL, *call;
	uint64_t now = mono_ms();

	pthread_mutex_lock(&c->mu);
	if (c->fd >= 0 && c->handshaking && now >= c->handshake_end) {
		log_warnx("ipc: no SP handshake from %s", c->sa.sun_path);
		done = disconnect_locked(c);
		c->redial_at = now + c->backoff;
	}
	while (c->heap_n > 0 && c->heap[0]->deadline <= now) {
		call = c->heap[0];
		heap_remove(c, call);
		tab_find(c, call->id, true);
		outq_cancel(&c->oq, call);
		call->rv = -LE_TIMEOUT;
		call->done_next = done;
		done = call;
	}
	if (c->fd < 0 && !c->closing && now >= c->redial_at)
		lc_dial(c);
	pthread_mutex_unlock(&c->mu);
	lc_deliver(c, done);
	lc_arm(c);
}

/* Arms the timer for the next deadline, redial or handshake limit. */
static void
lc_arm(struct ipc_client *c)
{
	uint64_t now = loop_now_ms(c->loop), until = UINT64_MAX;

	if (c->closing)
		return;
	pthread_mutex_lock(&c->mu);
	if (c->heap_n > 0)
		until = c->heap[0]->deadline;
	if (c->fd < 0 && c->redial_at < until)
		until = c->redial_at;
	if (c->fd >= 0 && c->handshaking && c->handshake_end < until)
		until = c->handshake_end;
	c->planned_wake = until;
	pthread_mutex_unlock(&c->mu);
	if (until == UINT64_MAX)
		loop_timer_cancel(c->timer);
	else
		loop_timer_arm(c->timer, until > now ? until - now : 0);
}

static void
lc_io(void *arg, int fd, short revents)
{
	struct ipc_client *c = arg;
	struct ipc_call *done = NULL, *call;
	const uint8_t *body;
	const char *why = NULL;
	size_t len, off = 0;
	int rv = 0;

	pthread_mutex_lock(&c->mu);
	if (fd != c->fd)
		goto out;
	if (c->handshaking) {
		uint8_t want[SP_HDR_LEN];
		ssize_t n = recv(fd, c->hin + c->hin_got,
		    SP_HDR_LEN - c->hin_got, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			goto out;
		if (n <= 0)
			goto lost;
		c->hin_got += (size_t)n;
		if (c->hin_got < SP_HDR_LEN)
			goto out;
		sp_header(want, SP_REP0);
		if (memcmp(c->hin, want, SP_HDR_LEN) != 0) {
			log_warnx("ipc: %s is not a lictor daemon's socket "
			    "(SP handshake)", c->sa.sun_path);
			goto lost;
		}
		c->handshaking = false;
		c->up = true;
		c->backoff = REDIAL_MIN_MS;
		atomic_store(&c->peers, 1);
		goto out;
	}
	if ((revents & POLLOUT) && (rv = outq_flush(&c->oq, fd)) < 0)
		goto lost;
	if (revents & POLLOUT)
		loop_modify_fd(c->loop, fd, POLLIN | (rv ? POLLOUT : 0));
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		goto out;
	for (int rounds = 0; rounds < 8; rounds++) {
		int filled;

		if ((rv = filled = rbuf_fill(&c->rb, fd)) <= 0)
			break;
		while ((rv = rbuf_frame(&c->rb, off, &body, &len, &why)) ==
		    1) {
			off += FRAME_HDR + len;
			if ((call = take_reply_locked(c, body, len)) != NULL) {
				call->done_next = done;
				done = call;
			}
		}
		if (rv < 0)
			break;
		rbuf_consume(&c->rb, off);
		off = 0;
		if (filled == 2)
			break;		/* drained */
	}
	if (rv < 0) {
		if (why != NULL)
			log_warnx("ipc: %s from %s", why, c->sa.sun_path);
		goto lost;
	}
	goto out;
lost:
	call = disconnect_locked(c);
	while (call != NULL) {
		struct ipc_call *n = call->done_next;

		call->done_next = done;
		done = call;
		call = n;
	}
	c->redial_at = loop_now_ms(c->loop) + REDIAL_MIN_MS;
out:
	pthread_mutex_unlock(&c->mu);
	/* Replies in the order they came (the list is newest first). */
	{
		struct ipc_call *rev = NULL, *n;

		for (; done != NULL; done = n) {
			n = done->done_next;
			done->done_next = rev;
			rev = done;
		}
		lc_deliver(c, rev);
	}
	lc_arm(c);
}

int
ipc_client_open_loop(struct ipc_client **out, const char *url,
    uint64_t boot_id, struct loop *loop, struct lerr *e)
{
	struct ipc_client *c = calloc(1, sizeof(*c));
	int rv;

	if (c == NULL)
		return lerr_set(e, LE_NOMEM, "ipc client");
	if ((rv = url_path(url, &c->sa, e)) != 0) {
		free(c);
		return rv;
	}
	c->boot = boot_id;
	c->fd = -1;
	c->wakefd = -1;
	c->loop = loop;
	c->backoff = REDIAL_MIN_MS;
	c->planned_wake = UINT64_MAX;
	atomic_store(&c->refs, 1);
	c->next_id = (uint32_t)mono_ms();
	pthread_mutex_init(&c->mu, NULL);
	c->timer = loop_timer_new(loop, lc_timer, c);
	lc_dial(c);
	lc_arm(c);
	*out = c;
	return 0;
}

int
ipc_client_open(struct ipc_client **out, const char *url, uint64_t boot_id,
    struct lerr *e)
{
	struct ipc_client *c = calloc(1, sizeof(*c));
	int rv;

	if (c == NULL)
		return lerr_set(e, LE_NOMEM, "ipc client");
	if ((rv = url_path(url, &c->sa, e)) != 0) {
		free(c);
		return rv;
	}
	c->boot = boot_id;
	c->fd = -1;
	atomic_store(&c->refs, 1);
	c->next_id = (uint32_t)mono_ms();
	pthread_mutex_init(&c->mu, NULL);
	if ((c->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		free(c);
		return lerr_set(e, LE_IO, "eventfd: %s", strerror(errno));
	}
	if ((rv = pthread_create(&c->thr, NULL, client_thread, c)) != 0) {
		close(c->wakefd);
		free(c);
		return lerr_set(e, LE_IO, "thread: %s", strerror(rv));
	}
	*out = c;
	return 0;
}

static void
client_unref(struct ipc_client *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	if (c->wakefd >= 0)
		close(c->wakefd);
	free(c->tab);
	free(c->heap);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void
ipc_client_close(struct ipc_client *c)
{
	struct ipc_call *list;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->closing = true;
	pthread_mutex_unlock(&c->mu);
	if (c->loop != NULL) {
		/* On the owner's thread, its loop no longer running. */
		loop_timer_free(c->timer);
		c->timer = NULL;
	} else {
		wake(c);
		pthread_join(c->thr, NULL);
	}
	/* Calls still in flight fail now; those for a loop are delivered
	 * by the owner's loop_drain. */
	pthread_mutex_lock(&c->mu);
	list = take_all_locked(c, -LE_CLOSED);
	if (c->fd >= 0 && c->loop != NULL)
		loop_unwatch_fd(c->loop, c->fd);
	if (c->fd >= 0)
		close(c->fd);
	free(c->rb.p);
	c->rb.p = NULL;
	c->fd = -1;
	c->up = false;
	atomic_store(&c->peers, 0);
	outq_clear(&c->oq);
	pthread_mutex_unlock(&c->mu);
	finish_list(list);
	client_unref(c);
}

int
ipc_client_peers(const struct ipc_client *c)
{
	return atomic_load(&c->peers);
}

uint64_t
ipc_client_peer_boot(const struct ipc_client *c)
{
	return atomic_load(&c->peer_boot);
}

struct ipc_call *
ipc_call_new(struct ipc_client *c, uint32_t type)
{
	struct ipc_call *call = calloc(1, sizeof(*call));

	if (call == NULL)
		fatalx("ipc: out of memory");
	atomic_fetch_add(&c->refs, 1);
	call->c = c;
	call->type = type;
	obuf_reserve(&call->out, 256);
	call->out.len = FRAME_HDR + REQ_ID_LEN;
	mpw_init_sink(&call->w, &call->out, obuf_sink);
	call->env_id = atomic_fetch_add(&c->next_env_id, 1) + 1;
	proto_begin(&call->w, type, call->env_id, c->boot);
	return call;
}

struct mpw *
ipc_call_writer(struct ipc_call *call)
{
	return &call->w;
}

uint64_t
ipc_call_id(const struct ipc_call *call)
{
	return call->env_id;
}

static void
cancel_sent(void *arg, int rv, struct proto_msg *reply)
{
	/* Nothing to do: the cancelled call gets its own answer. */
	(void)arg;
	(void)rv;
	(void)reply;
}

void
ipc_cancel(struct ipc_client *c, uint64_t call_id)
{
	struct msg_ipc_cancel q = { .req_id = call_id };
	struct ipc_call *call = ipc_call_new(c, MSG_IPC_CANCEL);

	msg_ipc_cancel_enc(ipc_call_writer(call), &q);
	if (c->loop != NULL)
		ipc_call_send_loop(call, IPC_CANCEL_TIMEOUT_MS, c->loop,
		    cancel_sent, NULL);
	else
		ipc_call_send(call, IPC_CANCEL_TIMEOUT_MS, cancel_sent, NULL);
}

void
ipc_call_send_loop(struct ipc_call *call, uint64_t timeout_ms,
    struct loop *loop, ipc_reply_fn fn, void *arg)
{
	call->loop = loop;
	ipc_call_send(call, timeout_ms, fn, arg);
}

void
ipc_call_send(struct ipc_call *call, uint64_t timeout_ms, ipc_reply_fn fn,
    void *arg)
{
	struct ipc_client *c = call->c;
	struct ipc_call *failed = NULL;
	uint8_t *buf;
	size_t len;
	bool kick;
	int rv;

	call->fn = fn;
	call->arg = arg;
	if (call->w.err != 0) {
		mpw_free(&call->w);
		call->rv = -LE_NOMEM;
		call_finish(call);
		return;
	}
	mpw_free(&call->w);
	if (call->out.len - FRAME_HDR - REQ_ID_LEN > PROTO_MAX_MSG) {
		/* The server would drop the connection, and every call on
		 * it (a sibling would even exit): refused here. */
		call->rv = -LE_TOOBIG;
		call_finish(call);
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (c->closing || !c->up) {
		/* The peer daemon is down (restarting): fail fast. */
		call->rv = c->closing ? -LE_CLOSED : -LE_UNAVAIL;
		pthread_mutex_unlock(&c->mu);
		call_finish(call);
		return;
	}
	do {
		c->next_id = (c->next_id + 1) & 0x7fffffffu;
		call->id = c->next_id | 0x80000000u;
	} while (tab_find(c, call->id, false) != NULL);
	be_put(call->out.p + FRAME_HDR, 4, call->id);
	obuf_seal(&call->out);
	call->deadline = mono_ms() + timeout_ms;
	tab_insert(c, call);
	heap_push(c, call);
	/* The bytes go now, from this thread; the I/O thread only hears of
	 * it when it must watch for room or wake sooner. */
	buf = call->out.p;
	len = call->out.len;
	call->out.p = NULL;
	kick = call->deadline < c->planned_wake;
	rv = send_or_queue(&c->oq, c->fd, buf, len, call);
	if (rv < 0 && c->loop == NULL) {
		/* The connection broke under this call: it fails here; the
		 * I/O thread sees the broken socket and fails the others on
		 * its own thread, as ipc.h promises. */
		tab_find(c, call->id, true);
		heap_remove(c, call);
		shutdown(c->fd, SHUT_RDWR);
		call->rv = -LE_UNAVAIL;
		call->done_next = NULL;
		failed = call;
		kick = true;
	} else if (rv < 0) {
		failed = disconnect_locked(c);
		kick = true;
	} else if (rv > 0) {
		kick = true;
	}
	if (c->loop != NULL) {
		if (!loop_on_thread(c->loop))
			fatalx("ipc: a loop client called off its loop");
		if (rv < 0)
			c->redial_at = loop_now_ms(c->loop) + REDIAL_MIN_MS;
		else if (rv > 0)
			loop_modify_fd(c->loop, c->fd, POLLIN | POLLOUT);
		kick = call->deadline < c->planned_wake || rv < 0;
		if (kick)
			c->planned_wake = call->deadline;
		pthread_mutex_unlock(&c->mu);
		if (kick)
			lc_arm(c);
		finish_list(failed);	/* posted: never inside the send */
		return;
	}
	if (kick)
		c->planned_wake = 0;
	pthread_mutex_unlock(&c->mu);
	if (kick)
		wake(c);
	finish_list(failed);
}

/* ================= one-shot requests (command-line tools) ================= */

/* The tools still use nng's own req0 socket: it speaks the same wire. */
static int
nng_sink(void *data, const char *buf, size_t len)
{
	return nng_msg_append(data, buf, len) == 0 ? 0 : -1;
}

int
ipc_request_sync(const char *url, uint32_t type,
    void (*write_payload)(struct mpw *w, void *arg), void *arg,
    uint64_t timeout_ms, struct proto_msg *reply, void **keep,
    struct lerr *e)
{
	nng_socket sock;
	nng_msg *m = NULL;
	struct mpw w;
	int rv;

	*keep = NULL;
	if ((rv = nng_req0_open(&sock)) != 0)
		return lerr_set(e, LE_IO, "nng_req0_open: %s",
		    nng_strerror(rv));
	nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, (nng_duration)timeout_ms);
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, (nng_duration)timeout_ms);
	nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, PROTO_MAX_MSG);
	if ((rv = nng_dial(sock, url, NULL, 0)) != 0) {
		nng_close(sock);
		return lerr_set(e, LE_UNAVAIL, "cannot reach %s: %s", url,
		    nng_strerror(rv));
	}
	if (nng_msg_alloc(&m, 0) != 0) {
		nng_close(sock);
		return lerr_set(e, LE_NOMEM, "message");
	}
	mpw_init_sink(&w, m, nng_sink);
	proto_begin(&w, type, 1, 0);
	write_payload(&w, arg);
	mpw_free(&w);
	if ((rv = nng_sendmsg(sock, m, 0)) != 0) {
		nng_msg_free(m);
		nng_close(sock);
		return lerr_set(e, LE_UNAVAIL, "send to %s: %s", url,
		    nng_strerror(rv));
	}
	if ((rv = nng_recvmsg(sock, &m, 0)) != 0) {
		nng_close(sock);
		return lerr_set(e, rv == NNG_ETIMEDOUT ? LE_TIMEOUT :
		    LE_UNAVAIL, "no answer from %s: %s", url,
		    nng_strerror(rv));
	}
	nng_close(sock);
	if ((rv = proto_decode(nng_msg_body(m), nng_msg_len(m), reply, e)) !=
	    0) {
		nng_msg_free(m);
		return rv;
	}
	*keep = m;
	return 0;
}

void
ipc_buf_free(void *keep)
{
	if (keep != NULL)
		nng_msg_free(keep);
}
