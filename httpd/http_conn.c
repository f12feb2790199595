/* http_conn.c: httpd's HTTP/1.1 server, on httpd's loop. Listening
 * sockets and connections are watched by the loop; Debian's http-parser
 * (nodejs/http-parser 2.9) parses requests; a complete request becomes an
 * hreq handed to http_handle(), whose handlers answer from the loop too
 * (IPC replies come on it), so no request crosses a thread.
 *
 * A connection carries one request at a time. Bytes that arrive behind it
 * (pipelining) wait, parsed only once its response is queued; while it
 * runs the socket is still read (up to PEND_MAX) so a client that hangs
 * up is noticed: a parked blocking query is then dropped at once, as Go
 * cancels its request context. Limits, each answered as Consul's Go
 * server answers it: headers over 1 MiB (431), a body over the largest
 * this agent accepts (413), an HTTP version other than 1.x (505), more
 * than limits.http_max_conns_per_client connections from one address
 * (429, Consul's text), a request that stalls half-read for 30 s (closed),
 * and at the process's fd limit the quietest idle connection makes room. */
#include "httpd.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Go's http.DefaultMaxHeaderBytes, which Consul keeps. */
#define HDR_MAX		(1u << 20)
/* Bytes held for the request after the one in flight. */
#define PEND_MAX	(64u << 10)
/* A request that stops halfway: closed after this long without a byte.
 * (A unit test builds this file with a shorter one.) */
#ifndef HTTP_STALL_MS
#define HTTP_STALL_MS	30000
#endif
#define STALL_MS	HTTP_STALL_MS
/* Reads and accepts per wake-up, so one busy socket cannot starve others. */
#define READS_PER_WAKE	4
#define ACCEPTS_PER_WAKE 16
#define SWEEP_MS	500
#define LINGER_MS	500
#define EMFILE_REST_MS	100
/* A stopping httpd lets requests in flight finish for this long. */
#define STOP_GRACE_MS	1000
#define IP_BUCKETS	1024

struct hconn;

struct hlisten {
	struct hsrv *srv;
	int fd;
	bool resting;
};

/* Connections per client address. */
struct ipcount {
	struct ipcount *next;
	uint8_t addr[16];
	uint32_t n;
};

struct hsrv {
	struct httpd *h;
	struct hlisten *ls;
	size_t nls;
	struct loop_timer *sweep, *rest, *grace;
	struct hconn *all;		/* every connection */
	struct hconn *idle_head, *idle_tail; /* no request in flight, LRU */
	size_t nconns, maxconns, busy;
	size_t maxbody;
	uint32_t per_ip;		/* 0: no limit */
	struct ipcount *ips[IP_BUCKETS];
	bool stopping;
	char date[40];
	time_t date_at;
};

/* C_CLOSING: the last answer is being written. C_LINGER: written, our
 * side shut, reading and dropping what the client still sends for up to
 * LINGER_MS, so that closing with its bytes unread (a reset) does not
 * destroy the answer before it reads it (Go waits the same way). C_DEAD:
 * closed, freed by the flush still queued for it. */
enum { C_READ, C_BUSY, C_CLOSING, C_LINGER, C_DEAD };

struct hconn {
	struct hsrv *srv;
	struct hconn *prev, *next;		/* all */
	struct hconn *iprev, *inext;		/* idle list, when not busy */
	int fd;
	uint8_t addr[16];
	int state;
	bool watching_in, watching_out, in_idle;
	bool mid;		/* a request partly read */
	bool hdr_value;		/* the last header callback was a value */
	bool peer_eof;
	bool flush_queued;
	bool ip_counted;	/* in its address's count (not a refused one) */
	bool keep_alive;
	int fail;		/* status to answer a request refused while read */
	http_parser p;
	struct sbuf url, hdrs, body;
	struct hreq *hr;	/* the request in flight */
	struct hreq *ready;	/* parsed, not yet handed over */
	struct sbuf pend;	/* bytes behind the request in flight */
	struct sbuf out;
	size_t out_off;
	uint64_t last_ms;
};

static http_parser_settings settings;

static void conn_close(struct hconn *c);
static void conn_update_watch(struct hconn *c);
static void conn_queue_flush(struct hconn *c);
static void conn_parse(struct hconn *c, const char *data, size_t len);

/* ---- per-address counts ---- */

static struct ipcount **
ip_slot(struct hsrv *s, const uint8_t addr[16])
{
	uint32_t hsh = 2166136261u;
	struct ipcount **pp;

	for (int i = 0; i < 16; i++)
		hsh = (hsh ^ addr[i]) * 16777619u;
	for (pp = &s->ips[hsh % IP_BUCKETS]; *pp != NULL; pp = &(*pp)->next)
		if (memcmp((*pp)->addr, addr, 16) == 0)
			break;
	return pp;
}

static uint32_t
ip_count(struct hsrv *s, const uint8_t addr[16])
{
	struct ipcount **pp = ip_slot(s, addr);

	return *pp != NULL ? (*pp)->n : 0;
}

static void
ip_add(struct hsrv *s, const uint8_t addr[16], int d)
{
	struct ipcount **pp = ip_slot(s, addr), *e = *pp;

	if (e == NULL) {
		if (d < 0 || (e = calloc(1, sizeof(*e))) == NULL)
			return;
		memcpy(e->addr, addr, 16);
		*pp = e;
	}
	e->n += (uint32_t)d;
	if (e->n == 0) {
		*pp = e->next;
		free(e);
	}
}

static void
addr_key(const struct sockaddr_storage *ss, uint8_t out[16])
{
	memset(out, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		/* As an IPv4-mapped IPv6 address, so both families share. */
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		memcpy(out, &in6->sin6_addr, 16);
	}
}

/* ---- the idle list (LRU: the quietest first) ---- */

static void
idle_remove(struct hconn *c)
{
	struct hsrv *s = c->srv;

	if (!c->in_idle)
		return;
	if (c->iprev != NULL)
		c->iprev->inext = c->inext;
	else
		s->idle_head = c->inext;
	if (c->inext != NULL)
		c->inext->iprev = c->iprev;
	else
		s->idle_tail = c->iprev;
	c->iprev = c->inext = NULL;
	c->in_idle = false;
}

static void
idle_touch(struct hconn *c)
{
	struct hsrv *s = c->srv;

	c->last_ms = loop_now_ms(s->h->loop);
	idle_remove(c);
	if (c->state != C_READ && c->state != C_LINGER)
		return;
	c->iprev = s->idle_tail;
	if (s->idle_tail != NULL)
		s->idle_tail->inext = c;
	else
		s->idle_head = c;
	s->idle_tail = c;
	c->in_idle = true;
}

/* ---- responses ---- */

static const char *
http_date(struct hsrv *s)
{
	time_t now = time(NULL);

	if (now != s->date_at) {
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT",
		    &tm);
		s->date_at = now;
	}
	return s->date;
}

static const char *
status_text(unsigned status)
{
	switch (status) {
	/* Go's texts where http-parser's differ. */
	case 413: return "Request Entity Too Large";
	case 414: return "Request URI Too Long";
	case 416: return "Requested Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	default: return http_status_str((enum http_status)status);
	}
}

/* Appends a whole response to c->out. head: the request was HEAD (the
 * body is left out, its length kept). */
static void
conn_put_response(struct hconn *c, unsigned status, const char *ctype,
    const struct sbuf *extra, const void *body, size_t len, bool head)
{
	struct sbuf *o = &c->out;

	sbuf_printf(o, "HTTP/1.1 %u %s\r\n", status, status_text(status));
	if (extra != NULL && extra->len > 0)
		sbuf_add(o, extra->s, extra->len);
	if (ctype != NULL)
		sbuf_printf(o, "Content-Type: %s\r\n", ctype);
	sbuf_printf(o, "Date: %s\r\nContent-Length: %zu\r\n", http_date(c->srv),
	    len);
	if (!c->keep_alive)
		sbuf_adds(o, "Connection: close\r\n");
	sbuf_adds(o, "\r\n");
	if (!head && len > 0)
		sbuf_add(o, body, len);
}

/* A request refused before any handler ran: a short text answer, then
 * the connection closes (what follows on it cannot be trusted). */
static void
conn_refuse(struct hconn *c, unsigned status, const char *text)
{
	struct sbuf b;

	sbuf_init(&b);
	sbuf_printf(&b, "%u %s", status, status_text(status));
	if (text != NULL && *text != '\0')
		sbuf_printf(&b, ": %s", text);
	sbuf_addc(&b, '\n');
	c->keep_alive = false;
	conn_put_response(c, status, "text/plain; charset=utf-8", NULL, b.s,
	    b.len, false);
	sbuf_free(&b);
	c->state = C_CLOSING;
	idle_remove(c);
	atomic_fetch_add(&c->srv->h->errors_4xx, status < 500);
	atomic_fetch_add(&c->srv->h->errors_5xx, status >= 500);
	atomic_fetch_add(&c->srv->h->bad_requests, 1);
	conn_queue_flush(c);
}

void
hconn_respond(struct hreq *hr, unsigned status, const char *ctype,
    const void *body, size_t len)
{
	struct hconn *c = hr->conn;
	struct hsrv *s;

	if (c == NULL)
		return;		/* the client went away */
	s = c->srv;
	c->hr = NULL;
	hr->conn = NULL;
	s->busy--;
	if (s->stopping)
		c->keep_alive = false;
	conn_put_response(c, status, ctype, &hr->resp_hdrs, body, len,
	    strcmp(hr->method, "HEAD") == 0);
	/* After a half-close, requests read before it are still answered
	 * (as Go does); the EOF is seen again once they are. */
	c->state = c->keep_alive && (!c->peer_eof || c->pend.len > 0) ?
	    C_READ : C_CLOSING;
	idle_touch(c);
	conn_queue_flush(c);
	if (s->stopping && s->busy == 0)
		loop_stop(s->h->loop);
}

/* Writes what is queued; then closes, or goes on with the bytes that
 * came behind the request just answered. */
static void
conn_flush(struct hconn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.s + c->out_off,
		    c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_close(c);		/* EPIPE, ECONNRESET ... */
		return;
	}
	if (c->out_off == c->out.len) {
		sbuf_reset(&c->out);
		c->out_off = 0;
		if (c->state == C_CLOSING) {
			if (c->peer_eof || shutdown(c->fd, SHUT_WR) != 0) {
				conn_close(c);
				return;
			}
			c->state = C_LINGER;
			idle_touch(c);
		}
		if (c->state == C_READ && c->pend.len > 0) {
			/* Pipelined bytes: parse them now. */
			struct sbuf p = c->pend;

			sbuf_init(&c->pend);
			idle_touch(c);
			conn_parse(c, p.s, p.len);
			sbuf_free(&p);
			return;
		}
	}
	conn_update_watch(c);
}

static void
conn_flush_deferred(void *arg)
{
	struct hconn *c = arg;

	c->flush_queued = false;
	if (c->state == C_DEAD)
		free(c);
	else
		conn_flush(c);
}

/* What one loop iteration queues on a connection leaves in one send. */
static void
conn_queue_flush(struct hconn *c)
{
	if (c->flush_queued)
		return;
	c->flush_queued = true;
	loop_defer(c->srv->h->loop, conn_flush_deferred, c);
}

/* ---- parsing ---- */

static int
on_message_begin(http_parser *p)
{
	struct hconn *c = p->data;

	sbuf_reset(&c->url);
	sbuf_reset(&c->hdrs);
	sbuf_reset(&c->body);
	c->hdr_value = false;
	c->mid = true;
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	sbuf_add(&((struct hconn *)p->data)->url, at, len);
	return 0;
}

/* Headers are kept as "name\0value\0" pairs, names lowercased. */
static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct hconn *c = p->data;

	if (c->hdr_value) {
		sbuf_addc(&c->hdrs, '\0');
		c->hdr_value = false;
	}
	for (size_t i = 0; i < len; i++) {
		char ch = at[i];

		sbuf_addc(&c->hdrs, ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct hconn *c = p->data;

	if (!c->hdr_value) {
		sbuf_addc(&c->hdrs, '\0');
		c->hdr_value = true;
	}
	sbuf_add(&c->hdrs, at, len);
	return 0;
}

static const char *
hdrs_get(const struct sbuf *hdrs, const char *name)
{
	const char *s = hdrs->s, *end;

	if (s == NULL)
		return NULL;	/* no header at all */
	end = s + hdrs->len;
	while (s < end) {
		const char *v = s + strlen(s) + 1;

		if (v > end)
			break;
		if (strcasecmp(s, name) == 0)
			return v;
		s = v + strlen(v) + 1;
	}
	return NULL;
}

static int
on_headers_complete(http_parser *p)
{
	struct hconn *c = p->data;
	struct hsrv *s = c->srv;
	const char *expect;
	bool has_body;

	if (c->hdr_value)
		sbuf_addc(&c->hdrs, '\0');
	if (p->http_major != 1) {
		c->fail = 505;
		return -1;
	}
	has_body = (p->flags & F_CHUNKED) ||
	    (p->content_length > 0 && p->content_length != ULLONG_MAX);
	if (has_body && !(p->flags & F_CHUNKED) &&
	    p->content_length > s->maxbody) {
		c->fail = 413;
		return -1;
	}
	if ((expect = hdrs_get(&c->hdrs, "expect")) != NULL) {
		if (strcasecmp(expect, "100-continue") != 0) {
			c->fail = 417;
			return -1;
		}
		/* Go sends it when the handler reads the body; every handler
		 * here reads it, so at once. */
		if (has_body && p->http_minor >= 1) {
			sbuf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
			conn_queue_flush(c);
		}
	}
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct hconn *c = p->data;

	if (c->body.len + len > c->srv->maxbody) {
		c->fail = 413;
		return -1;
	}
	sbuf_add(&c->body, at, len);
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct hconn *c = p->data;
	struct hreq *hr = calloc(1, sizeof(*hr));

	if (hr == NULL) {
		c->fail = 503;
		return -1;
	}
	hr->h = c->srv->h;
	hr->conn = c;
	hr->method = http_method_str((enum http_method)p->method);
	hr->uri = sbuf_take(&c->url, NULL);
	if (hr->uri == NULL)
		hr->uri = strdup("/");
	hr->hdrs = c->hdrs;
	sbuf_init(&c->hdrs);
	hr->body = c->body;
	sbuf_init(&c->body);
	c->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	c->ready = hr;
	c->mid = false;
	/* One request at a time: the rest waits until this one's answer. */
	http_parser_pause(p, 1);
	return 0;
}

/* Feeds bytes to the parser; a request it completes is handed over. */
static void
conn_parse(struct hconn *c, const char *data, size_t len)
{
	struct hsrv *s = c->srv;
	size_t n = http_parser_execute(&c->p, &settings, data, len);
	enum http_errno err = HTTP_PARSER_ERRNO(&c->p);
	struct hreq *hr;

	if (err == HPE_PAUSED) {
		http_parser_pause(&c->p, 0);
		if (n < len)
			sbuf_add(&c->pend, data + n, len - n);
	} else if (err != HPE_OK ||
	    (c->p.upgrade && c->ready == NULL && !c->mid)) {
		/* (An Upgrade request whose body is still coming is mid.) */
		if (c->fail == 0)
			c->fail = err == HPE_HEADER_OVERFLOW ? 431 : 400;
		if (c->ready != NULL) {
			free(c->ready->uri);
			sbuf_free(&c->ready->hdrs);
			sbuf_free(&c->ready->body);
			free(c->ready);
			c->ready = NULL;
		}
		conn_refuse(c, (unsigned)c->fail, c->fail == 400 ?
		    http_errno_description(err) : c->fail == 431 ?
		    "request headers over 1 MiB" : c->fail == 413 ?
		    "request body too large" : c->fail == 417 ?
		    "unknown Expect header" : c->fail == 505 ?
		    "unsupported protocol version" : "out of memory");
		return;
	}
	if ((hr = c->ready) == NULL) {
		conn_update_watch(c);
		return;
	}
	c->ready = NULL;
	c->hr = hr;
	c->state = C_BUSY;
	idle_remove(c);
	s->busy++;
	conn_update_watch(c);
	http_handle(hr);	/* may answer at once (hconn_respond) */
}

/* ---- sockets ---- */

/* Whether bytes read now must wait in pend: a request runs, or an
 * answer or earlier bytes are still queued (they go first, in order;
 * conn_flush parses pend once the answer is written). */
static bool
conn_holds(const struct hconn *c)
{
	return c->state == C_BUSY || c->pend.len > 0 ||
	    c->out_off < c->out.len;
}

static void
conn_update_watch(struct hconn *c)
{
	bool in, out = c->out_off < c->out.len;
	short ev;

	/* Bytes are parsed as they come only while nothing waits ahead of
	 * them; while a request runs, or an answer or earlier bytes wait,
	 * read on (to notice a hang-up) only until PEND_MAX bytes wait. */
	if (c->state == C_LINGER || (c->state == C_READ && !conn_holds(c)))
		in = true;
	else
		in = (c->state == C_READ || c->state == C_BUSY) &&
		    !c->peer_eof && c->pend.len < PEND_MAX;
	if (in == c->watching_in && out == c->watching_out)
		return;
	ev = (short)((in ? POLLIN : 0) | (out ? POLLOUT : 0));
	loop_modify_fd(c->srv->h->loop, c->fd, ev);
	c->watching_in = in;
	c->watching_out = out;
}

static void
conn_io(void *arg, int fd, short revents)
{
	static char buf[64 << 10];
	struct hconn *c = arg;

	(void)fd;
	if ((revents & POLLOUT) || ((revents & (POLLERR | POLLHUP)) &&
	    c->out_off < c->out.len)) {
		conn_flush(c);
		return;		/* conn_flush may have closed c */
	}
	for (int i = 0; i < READS_PER_WAKE; i++) {
		ssize_t n;

		if (c->state == C_CLOSING)
			return;
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (c->state == C_LINGER) {
			if (n == 0 || (n < 0 && errno != EINTR &&
			    errno != EAGAIN && errno != EWOULDBLOCK))
				conn_close(c);
			if (n <= 0)
				return;
			continue;	/* dropped */
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* EOF or an error. A request in flight that is a
			 * blocking query is dropped (nobody waits for it);
			 * another one, and complete requests read behind it,
			 * are answered into the half-closed socket, then the
			 * connection closes. With nothing queued, it closes
			 * now (a half-read request can never complete). */
			c->peer_eof = true;
			if (n < 0 || (c->hr != NULL && c->hr->blk.index != 0) ||
			    (c->state == C_READ && c->pend.len == 0 &&
			    c->out_off == c->out.len)) {
				conn_close(c);
				return;
			}
			if (c->state == C_READ && c->pend.len == 0)
				c->state = C_CLOSING; /* once answered */
			conn_update_watch(c);
			return;
		}
		if (conn_holds(c)) {
			sbuf_add(&c->pend, buf, (size_t)n);
			conn_update_watch(c);
			if (c->pend.len >= PEND_MAX)
				return;
			continue;
		}
		idle_touch(c);
		conn_parse(c, buf, (size_t)n);
		if (c->state != C_READ || (size_t)n < sizeof(buf))
			return;
	}
}

static void
conn_close(struct hconn *c)
{
	struct hsrv *s = c->srv;

	if (c->hr != NULL) {
		/* Its IPC call finishes later and finds no connection; a
		 * parked blocking query is let go now, not when its wait
		 * ends (not while stopping: the loop is done). */
		struct hreq *hr = c->hr;

		if (hr->cancel_to != NULL && loop_running_here(s->h->loop)) {
			ipc_cancel(hr->cancel_to, hr->cancel_id);
			atomic_fetch_add(&s->h->blocking_canceled, 1);
		}
		hr->cancel_to = NULL;
		hr->conn = NULL;
		c->hr = NULL;
		s->busy--;
	}
	idle_remove(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->all = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->ip_counted)
		ip_add(s, c->addr, -1);
	s->nconns--;
	atomic_store(&s->h->conns, s->nconns);
	loop_unwatch_fd(s->h->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	sbuf_free(&c->url);
	sbuf_free(&c->hdrs);
	sbuf_free(&c->body);
	sbuf_free(&c->pend);
	sbuf_free(&c->out);
	if (c->flush_queued)
		c->state = C_DEAD;	/* the queued flush frees it */
	else
		free(c);
	if (s->stopping && s->busy == 0)
		loop_stop(s->h->loop);
}

#define TOO_MANY_MSG "Your IP is issuing too many concurrent connections, " \
	"please rate limit your calls\n"
#define TOO_MANY_RESP "HTTP/1.1 429 Too Many Requests\r\n" \
	"Content-Type: text/plain\r\nContent-Length: 81\r\n" \
	"Connection: close\r\n\r\n" TOO_MANY_MSG

_Static_assert(sizeof(TOO_MANY_MSG) - 1 == 81, "429 body length");

static void
conn_new(struct hsrv *s, int fd, const struct sockaddr_storage *ss)
{
	struct httpd *h = s->h;
	struct hconn *c;
	uint8_t key[16];
	int one = 1;
	bool over;

	addr_key(ss, key);
	over = s->per_ip > 0 && ip_count(s, key) >= s->per_ip;
	if (s->nconns >= s->maxconns) {
		/* At the fd limit: the quietest idle connection makes
		 * room; with none idle, the new one is refused. */
		struct hconn *q = s->idle_head;

		while (q != NULL && q->mid)
			q = q->inext;
		if (q == NULL) {
			atomic_fetch_add(&h->conns_refused, 1);
			close(fd);
			return;
		}
		conn_close(q);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	memcpy(c->addr, key, 16);
	c->state = C_READ;
	c->keep_alive = true;
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	sbuf_init(&c->url);
	sbuf_init(&c->hdrs);
	sbuf_init(&c->body);
	sbuf_init(&c->pend);
	sbuf_init(&c->out);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (loop_watch_fd(h->loop, fd, POLLIN, conn_io, c) != 0) {
		close(fd);
		free(c);
		return;
	}
	c->watching_in = true;
	c->next = s->all;
	if (s->all != NULL)
		s->all->prev = c;
	s->all = c;
	s->nconns++;
	atomic_store(&h->conns, s->nconns);
	if (over) {
		/* As Consul: 429 with its text, then close (lingering, so
		 * the client reads it). It is not counted against its
		 * address: Consul's limiter closes it at once, so while it
		 * lingers here a connection that leaves makes room. */
		atomic_fetch_add(&h->conns_refused, 1);
		sbuf_adds(&c->out, TOO_MANY_RESP);
		c->keep_alive = false;
		c->state = C_CLOSING;
		conn_queue_flush(c);
		return;
	}
	ip_add(s, key, 1);
	c->ip_counted = true;
	idle_touch(c);
}

static void
listen_rest_over(void *arg)
{
	struct hsrv *s = arg;

	for (size_t i = 0; i < s->nls; i++) {
		if (s->ls[i].resting && !s->stopping) {
			s->ls[i].resting = false;
			loop_modify_fd(s->h->loop, s->ls[i].fd, POLLIN);
		}
	}
}

static void
on_accept(void *arg, int fd, short revents)
{
	struct hlisten *l = arg;
	struct hsrv *s = l->srv;

	(void)revents;
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: rest rather than spin on
				 * a backlog that stays readable. */
				log_warn("HTTP accept");
				l->resting = true;
				loop_modify_fd(s->h->loop, fd, 0);
				loop_timer_arm(s->rest, EMFILE_REST_MS);
			}
			return;
		}
		conn_new(s, cfd, &ss);
	}
}

/* Closes requests that stalled halfway, and lingering connections. */
static void
sweep(void *arg)
{
	struct hsrv *s = arg;
	uint64_t now = loop_now_ms(s->h->loop);
	struct hconn *c, *n;

	for (c = s->idle_head; c != NULL && c->last_ms + LINGER_MS <= now;
	    c = n) {
		n = c->inext;
		if (c->state == C_LINGER) {
			conn_close(c);
		} else if (c->mid && c->last_ms + STALL_MS <= now) {
			atomic_fetch_add(&s->h->conns_stalled, 1);
			conn_close(c);
		}
	}
	loop_timer_arm(s->sweep, SWEEP_MS);
}

static int
listen_on(struct hsrv *s, const char *addr, int port, struct lerr *e)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;
	struct hlisten *ls;

	struct sockaddr_in6 *in6 = (void *)&ss;
	struct sockaddr_in *in = (void *)&ss;
	bool v6 = strchr(addr, ':') != NULL;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = v6 ? AF_INET6 : AF_INET;
	if (inet_pton(ss.ss_family, addr, v6 ? (void *)&in6->sin6_addr :
	    (void *)&in->sin_addr) != 1)
		return lerr_set(e, LE_CONFIG, "bad HTTP address %s "
		    "(client_addr takes IP addresses)", addr);
	if (v6)
		in6->sin6_port = htons((uint16_t)port);
	else
		in->sin_port = htons((uint16_t)port);
	sl = v6 ? sizeof(*in6) : sizeof(*in);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return lerr_set(e, LE_IO, "HTTP socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
	    listen(fd, 4096) != 0) {
		int err = errno;

		close(fd);
		return lerr_set(e, LE_IO, "listen on %s:%d: %s", addr, port,
		    strerror(err));
	}
	ls = realloc(s->ls, (s->nls + 1) * sizeof(*ls));
	if (ls == NULL) {
		close(fd);
		return lerr_set(e, LE_NOMEM, "out of memory");
	}
	s->ls = ls;
	/* The array moved: the watches point into it. */
	for (size_t i = 0; i < s->nls; i++)
		loop_watch_fd(s->h->loop, s->ls[i].fd, POLLIN, on_accept,
		    &s->ls[i]);
	ls[s->nls].srv = s;
	ls[s->nls].fd = fd;
	ls[s->nls].resting = false;
	if (loop_watch_fd(s->h->loop, fd, POLLIN, on_accept,
	    &ls[s->nls]) != 0) {
		close(fd);
		return lerr_set(e, LE_IO, "HTTP listener: cannot watch");
	}
	s->nls++;
	log_info("HTTP API on http://%s%s%s:%d", strchr(addr, ':') ? "[" : "",
	    addr, strchr(addr, ':') ? "]" : "", port);
	return 0;
}

int
httpd_start(struct httpd *h, struct lerr *e)
{
	char addrs[512], *save = NULL, *a;
	struct rlimit rl;
	struct hsrv *s;

	settings.on_message_begin = on_message_begin;
	settings.on_url = on_url;
	settings.on_header_field = on_header_field;
	settings.on_header_value = on_header_value;
	settings.on_headers_complete = on_headers_complete;
	settings.on_body = on_body;
	settings.on_message_complete = on_message_complete;
	http_parser_set_max_header_size(HDR_MAX);

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return lerr_set(e, LE_NOMEM, "out of memory");
	h->srv = s;
	s->h = h;
	/* The KV limit (413 with Consul's text) is the handler's; the
	 * server's own limit sits well above it, for the other bodies
	 * (catalog registrations, events). */
	s->maxbody = (size_t)h->cfg.kv_max_value_size * 4 + 65536;
	if (s->maxbody < (16u << 20))
		s->maxbody = 16u << 20;
	s->per_ip = (uint32_t)h->cfg.http_max_conns_per_client;
	/* Keep descriptors for the IPC clients, the admin socket, logs. */
	s->maxconns = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		s->maxconns = rl.rlim_cur > 192 ? rl.rlim_cur - 128 : 64;
	s->sweep = loop_timer_new(h->loop, sweep, s);
	s->rest = loop_timer_new(h->loop, listen_rest_over, s);
	loop_timer_arm(s->sweep, SWEEP_MS);
	snprintf(addrs, sizeof(addrs), "%s", h->cfg.client_addr);
	/* -client may list several addresses separated by spaces. */
	for (a = strtok_r(addrs, " ", &save); a != NULL;
	    a = strtok_r(NULL, " ", &save))
		if (listen_on(s, a, (int)h->cfg.port_http, e) != 0)
			return -1;
	return 0;
}

static void
listeners_close(struct hsrv *s)
{
	for (size_t i = 0; i < s->nls; i++) {
		loop_unwatch_fd(s->h->loop, s->ls[i].fd);
		close(s->ls[i].fd);
	}
	s->nls = 0;
}

static void
grace_over(void *arg)
{
	loop_stop(((struct hsrv *)arg)->h->loop);
}

bool
httpd_begin_stop(struct httpd *h)
{
	struct hsrv *s = h->srv;
	struct hconn *c, *n;

	atomic_store(&h->stopping, true);
	if (s == NULL || s->stopping)
		return true;
	s->stopping = true;
	listeners_close(s);
	/* Idle connections close now, parked blocking queries too (their
	 * clients retry); an answer already queued is still written (once,
	 * as far as the socket takes it); other requests get STOP_GRACE_MS
	 * to finish. */
	for (c = s->all; c != NULL; c = n) {
		n = c->next;
		c->keep_alive = false;
		if (c->state == C_BUSY && c->hr != NULL &&
		    c->hr->blk.index == 0)
			continue;
		if (c->state != C_BUSY && c->state != C_LINGER &&
		    c->out_off < c->out.len) {
			c->state = C_CLOSING;
			idle_remove(c);
			conn_queue_flush(c);
			continue;
		}
		conn_close(c);
	}
	if (s->busy == 0)
		return true;
	s->grace = loop_timer_new(h->loop, grace_over, s);
	loop_timer_arm(s->grace, STOP_GRACE_MS);
	return false;
}

void
httpd_stop(struct httpd *h)
{
	struct hsrv *s = h->srv;

	atomic_store(&h->stopping, true);
	if (s == NULL)
		return;
	s->stopping = true;
	listeners_close(s);
	while (s->all != NULL)
		conn_close(s->all);
}

void
httpd_free(struct httpd *h)
{
	struct hsrv *s = h->srv;

	if (s == NULL)
		return;
	loop_timer_free(s->sweep);
	loop_timer_free(s->rest);
	loop_timer_free(s->grace);
	for (int i = 0; i < IP_BUCKETS; i++) {
		while (s->ips[i] != NULL) {
			struct ipcount *e = s->ips[i];

			s->ips[i] = e->next;
			free(e);
		}
	}
	free(s->ls);
	free(s);
	h->srv = NULL;
}

const char *
hreq_header(const struct hreq *hr, const char *name)
{
	return hdrs_get(&hr->hdrs, name);
}
