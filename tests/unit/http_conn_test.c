/* http_conn_test.c: httpd's HTTP/1.1 server (httpd/http_conn.c) with the
 * real routing and handlers (http_server.c, http_kv.c ...) on a real loop
 * thread, driven by real TCP clients on loopback. The IPC clients dial
 * either nothing (every routed call fails fast: 500 "rpc error: kvd is
 * not available") or a fake kvd: an ipc_server on the same loop that
 * answers MSG_KV_WRITE (recording the value) and MSG_KV_READ, and parks
 * a blocking read (min_index > 0) or a write to a key starting "park"
 * until the test answers it.
 *
 * Covered: keep-alive; HTTP/1.0 and Connection: close; pipelining (three
 * in one write; over 64 KiB of them mixing answers given at once and
 * answers given by a later IPC reply; a client that reads its answers
 * late); chunked bodies (and one over the limit); an Upgrade request
 * whose body comes in two pieces; Expect: 100-continue and an unknown
 * Expect; HEAD; refusals (garbage, HTTP/7.3, headers over 1 MiB read back
 * without a reset, a body over the limit, a bad Content-Length);
 * limits.http_max_conns_per_client (Consul's exact 429, served again once
 * connections close, 0 = no limit); the fd limit (the quietest idle
 * connection makes room); a request stalled halfway (HTTP_STALL_MS is
 * shortened for this test by meson); a client that half-closes, after
 * one request or two pipelined; a client that leaves with a blocking
 * query parked (kvd answering later, or the IPC call timing out) or a
 * write parked; httpd_begin_stop / httpd_stop / httpd_free with requests
 * in flight (answered in the grace, or not). Leaks and use-after-free are
 * the ASan build's to catch: every test ends with the teardown main.c
 * does.
 *
 * Every wait is bounded: client sockets carry 5 s timeouts and server
 * state is polled with a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gotime.h"
#include "httpd.h"
#include "log.h"

#ifndef HTTP_STALL_MS
#error "the test target sets HTTP_STALL_MS (tests/unit/meson.build)"
#endif

#define IO_TIMEOUT_MS 5000
#define MAX_PARKED 16

/* ---- the fixture: httpd on a loop thread, maybe a fake kvd ---- */

struct opts {
	bool kvd;		/* a fake kvd answers (else nothing listens) */
	int per_ip;		/* limits.http_max_conns_per_client */
	int nofile;		/* RLIMIT_NOFILE for httpd_start (0: as is) */
};

struct fx {
	struct opts o;
	struct rlimit rl_saved;
	char dir[256];
	struct httpd h;
	pthread_t thr;
	bool started;
	_Atomic bool thread_done;
	int port;
	struct ipc_server *kv;
	/* fake kvd state: parked on the loop thread, counted for the test */
	struct ipc_req *parked[MAX_PARKED];
	int nparked;
	_Atomic int parked_n;
	_Atomic int kv_reads, kv_writes;
	pthread_mutex_t mu;
	char value[256];	/* the last value written */
	size_t value_len;
	bool value_set;
	uint64_t last_min_index;
};

static void *
loop_thread(void *arg)
{
	struct fx *f = arg;

	loop_run(f->h.loop);
	atomic_store(&f->thread_done, true);
	return NULL;
}

static void
reply_write(struct ipc_req *r)
{
	struct msg_kv_write_reply rep = { 0 };

	rep.result = true;
	rep.index = 11;
	msg_kv_write_reply_enc(ipc_reply_begin(r, r->msg.type), &rep);
	ipc_reply_send(r);
}

static void
reply_read(struct ipc_req *r, uint64_t index)
{
	struct msg_kv_read_reply rep = { 0 };

	rep.code = -LE_NOTFOUND;
	rep.index = index;
	rep.known_leader = true;
	msg_kv_read_reply_begin(ipc_reply_begin(r, r->msg.type), &rep);
	ipc_reply_send(r);
}

static void
kvd_handler(void *arg, struct ipc_req *r)
{
	struct fx *f = arg;
	struct lerr e;

	if (r->msg.type == MSG_KV_WRITE) {
		struct msg_kv_write w;

		atomic_fetch_add(&f->kv_writes, 1);
		if (msg_kv_write_dec(&r->msg, &w, &e) != 0) {
			ipc_reply_error(r, -LE_INVAL, "fake kvd: %s", e.msg);
			return;
		}
		pthread_mutex_lock(&f->mu);
		f->value_len = w.value_len < sizeof(f->value) ? w.value_len :
		    sizeof(f->value);
		if (f->value_len > 0)
			memcpy(f->value, w.value, f->value_len);
		f->value_set = true;
		pthread_mutex_unlock(&f->mu);
		if (w.key_len >= 4 && memcmp(w.key, "park", 4) == 0 &&
		    f->nparked < MAX_PARKED) {
			f->parked[f->nparked++] = r;
			atomic_fetch_add(&f->parked_n, 1);
			return;
		}
		reply_write(r);
	} else if (r->msg.type == MSG_KV_READ) {
		struct msg_kv_read q;

		atomic_fetch_add(&f->kv_reads, 1);
		if (msg_kv_read_dec(&r->msg, &q, &e) != 0) {
			ipc_reply_error(r, -LE_INVAL, "fake kvd: %s", e.msg);
			return;
		}
		pthread_mutex_lock(&f->mu);
		f->last_min_index = q.min_index;
		pthread_mutex_unlock(&f->mu);
		if (q.min_index > 0 && f->nparked < MAX_PARKED) {
			f->parked[f->nparked++] = r;
			atomic_fetch_add(&f->parked_n, 1);
			return;
		}
		reply_read(r, 9);
	} else {
		ipc_reply_error(r, -LE_INVAL, "fake kvd: type %u",
		    (unsigned)r->msg.type);
	}
}

/* Loop thread: answers every parked request. */
static void
answer_parked(void *arg)
{
	struct fx *f = arg;

	for (int i = 0; i < f->nparked; i++) {
		struct ipc_req *r = f->parked[i];

		if (r->msg.type == MSG_KV_READ)
			reply_read(r, 42);
		else
			reply_write(r);
	}
	f->nparked = 0;
	atomic_store(&f->parked_n, 0);
}

/* Loop thread: what main.c's signal handler does. */
static void
begin_stop(void *arg)
{
	struct fx *f = arg;

	if (httpd_begin_stop(&f->h))
		loop_stop(f->h.loop);
}

/* A port free right now on 127.0.0.1 (taken and released). */
static int
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

typedef bool (*cond_fn)(struct fx *f, uint64_t arg);

/* Polls cond every 5 ms for up to max_ms. */
static bool
wait_for(struct fx *f, cond_fn cond, uint64_t arg, uint64_t max_ms)
{
	uint64_t end = mono_ms() + max_ms;

	for (;;) {
		if (cond(f, arg))
			return true;
		if (mono_ms() >= end)
			return false;
		usleep(5000);
	}
}

static bool
conns_are(struct fx *f, uint64_t n)
{
	return atomic_load(&f->h.conns) == n;
}

static bool
parked_are(struct fx *f, uint64_t n)
{
	return (uint64_t)atomic_load(&f->parked_n) == n;
}

static bool
idle_server(struct fx *f, uint64_t n)
{
	(void)n;
	return atomic_load(&f->h.inflight) == 0 &&
	    atomic_load(&f->h.blocking) == 0;
}

static bool
thread_done(struct fx *f, uint64_t n)
{
	(void)n;
	return atomic_load(&f->thread_done);
}

static bool
kvd_up(struct fx *f, uint64_t n)
{
	(void)n;
	return ipc_client_peers(f->h.kvd) > 0;
}

static int
setup(void **state)
{
	struct opts *o = *state;
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct lerr e = { "" };
	char url[400];
	int rv = -1;

	assert_non_null(f);
	if (o != NULL)
		f->o = *o;
	pthread_mutex_init(&f->mu, NULL);
	snprintf(f->dir, sizeof(f->dir), "%s/httpct.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	config_defaults(&f->h.cfg);
	free(f->h.cfg.client_addr);
	f->h.cfg.client_addr = xstrdup("127.0.0.1");
	f->h.cfg.http_max_conns_per_client = f->o.per_ip;
	f->h.rundir = f->dir;
	f->h.boot = 77;
	assert_int_equal(loop_new(&f->h.loop), 0);
	snprintf(url, sizeof(url), "ipc://%s/kvd.sock", f->dir);
	if (f->o.kvd)
		assert_int_equal(ipc_server_open(&f->kv, url, f->h.loop,
		    IPC_SIBLING, kvd_handler, f, 5, &e), 0);
	assert_int_equal(ipc_client_open_loop(&f->h.kvd, url, f->h.boot,
	    f->h.loop, &e), 0);
	snprintf(url, sizeof(url), "ipc://%s/raft.sock", f->dir);
	assert_int_equal(ipc_client_open_loop(&f->h.raft, url, f->h.boot,
	    f->h.loop, &e), 0);
	snprintf(url, sizeof(url), "ipc://%s/gossip.sock", f->dir);
	assert_int_equal(ipc_client_open_loop(&f->h.gossip, url, f->h.boot,
	    f->h.loop, &e), 0);
	if (f->o.nofile > 0) {
		struct rlimit rl;

		assert_int_equal(getrlimit(RLIMIT_NOFILE, &f->rl_saved), 0);
		rl = f->rl_saved;
		rl.rlim_cur = (rlim_t)f->o.nofile;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	/* A port taken between free_port and the bind: try another. */
	for (int i = 0; i < 5 && rv != 0; i++) {
		f->port = free_port();
		f->h.cfg.port_http = f->port;
		httpd_free(&f->h);
		rv = httpd_start(&f->h, &e);
	}
	if (rv != 0)
		fprintf(stderr, "httpd_start: %s\n", e.msg);
	assert_int_equal(rv, 0);
	assert_int_equal(pthread_create(&f->thr, NULL, loop_thread, f), 0);
	f->started = true;
	if (f->o.kvd)
		assert_true(wait_for(f, kvd_up, 0, 5000));
	*state = f;
	return 0;
}

/* As main.c after its loop: stop the server, close the IPC clients (their
 * calls fail through the drain), free. */
static int
teardown(void **state)
{
	struct fx *f = *state;
	char path[400];

	if (f == NULL)
		return 0;
	if (f->started) {
		loop_stop(f->h.loop);
		pthread_join(f->thr, NULL);
	}
	httpd_stop(&f->h);
	ipc_server_close(f->kv);
	ipc_client_close(f->h.kvd);
	ipc_client_close(f->h.raft);
	ipc_client_close(f->h.gossip);
	loop_drain(f->h.loop);
	assert_int_equal(atomic_load(&f->h.inflight), 0);
	httpd_free(&f->h);
	loop_free(f->h.loop);
	config_free(&f->h.cfg);
	pthread_mutex_destroy(&f->mu);
	if (f->o.nofile > 0)
		(void)setrlimit(RLIMIT_NOFILE, &f->rl_saved);
	snprintf(path, sizeof(path), "%s/kvd.sock", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- a client ---- */

struct cli {
	int fd;
	char *buf;
	size_t len, cap;
};

struct resp {
	int status;
	char head[8192];	/* status line and headers */
	char *body;		/* NUL-terminated */
	size_t body_len;
	long clen;		/* -1: no Content-Length */
};

static int
cli_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { IO_TIMEOUT_MS / 1000, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static struct cli *
cli_open(struct fx *f)
{
	struct cli *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->fd = cli_connect(f->port);
	assert_true(c->fd >= 0);
	return c;
}

static void
cli_close(struct cli *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

static void
cli_sendn(struct cli *c, const void *p, size_t len)
{
	const char *s = p;

	while (len > 0) {
		ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fprintf(stderr, "send: %s\n", strerror(errno));
		assert_true(n > 0);
		s += n;
		len -= (size_t)n;
	}
}

static void
cli_send(struct cli *c, const char *s)
{
	cli_sendn(c, s, strlen(s));
}

/* One recv into the buffer: bytes read, 0 at EOF, -errno on error. */
static ssize_t
cli_fill(struct cli *c)
{
	ssize_t n;

	if (c->cap - c->len < 65536) {
		c->cap = c->cap * 2 + 65536;
		c->buf = realloc(c->buf, c->cap + 1);
		assert_non_null(c->buf);
	}
	do {
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return n;
}

static void
cli_consume(struct cli *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	c->buf[c->len] = '\0';
}

/* Reads exactly len bytes (they must be what arrives next). */
static void
cli_expect(struct cli *c, const char *want)
{
	size_t len = strlen(want);

	while (c->len < len) {
		ssize_t n = cli_fill(c);

		if (n <= 0)
			fprintf(stderr, "want %zu bytes, have %zu (%zd): %.*s\n",
			    len, c->len, n, (int)c->len, c->buf);
		assert_true(n > 0);
	}
	if (memcmp(c->buf, want, len) != 0)
		fprintf(stderr, "got:  %.*s\nwant: %s\n", (int)len, c->buf,
		    want);
	assert_memory_equal(c->buf, want, len);
	cli_consume(c, len);
}

static const char *
resp_header(const struct resp *r, const char *name)
{
	static char val[1024];
	size_t nl = strlen(name);
	const char *p = strstr(r->head, "\r\n");

	while (p != NULL && p[2] != '\0') {
		const char *line = p + 2, *eol = strstr(line, "\r\n");

		if (eol == NULL)
			break;
		if ((size_t)(eol - line) > nl && line[nl] == ':' &&
		    strncasecmp(line, name, nl) == 0) {
			const char *v = line + nl + 1;

			while (*v == ' ')
				v++;
			snprintf(val, sizeof(val), "%.*s", (int)(eol - v), v);
			return val;
		}
		p = eol;
	}
	return NULL;
}

/* Reads one response; head: it answers a HEAD (no body follows). */
static void
cli_resp(struct cli *c, struct resp *r, bool head)
{
	char *end;
	size_t hl;
	const char *cl;

	memset(r, 0, sizeof(*r));
	while ((end = strstr(c->buf != NULL ? c->buf : "", "\r\n\r\n")) ==
	    NULL) {
		ssize_t n = cli_fill(c);

		if (n <= 0)
			fprintf(stderr, "no response head (%zd), have: %.*s\n",
			    n, (int)c->len, c->buf != NULL ? c->buf : "");
		assert_true(n > 0);
	}
	hl = (size_t)(end - c->buf) + 4;
	assert_true(hl < sizeof(r->head));
	memcpy(r->head, c->buf, hl);
	r->head[hl] = '\0';
	cli_consume(c, hl);
	assert_int_equal(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1);
	cl = resp_header(r, "Content-Length");
	r->clen = cl != NULL ? atol(cl) : -1;
	if (head || r->clen <= 0) {
		r->body = calloc(1, 1);
		return;
	}
	while (c->len < (size_t)r->clen) {
		ssize_t n = cli_fill(c);

		assert_true(n > 0);
	}
	r->body = malloc((size_t)r->clen + 1);
	memcpy(r->body, c->buf, (size_t)r->clen);
	r->body[r->clen] = '\0';
	r->body_len = (size_t)r->clen;
	cli_consume(c, (size_t)r->clen);
}

static void
resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* The next thing on the connection is a clean EOF (no reset, no bytes). */
static void
cli_expect_eof(struct cli *c)
{
	ssize_t n;

	assert_int_equal(c->len, 0);
	n = cli_fill(c);
	if (n != 0)
		fprintf(stderr, "want EOF, got %zd: %.*s\n", n, (int)c->len,
		    c->buf);
	assert_int_equal(n, 0);
}

/* The server has not closed (nor written): a recv would block. */
static void
cli_expect_open(struct cli *c)
{
	struct pollfd p = { c->fd, POLLIN, 0 };

	assert_int_equal(c->len, 0);
	assert_int_equal(poll(&p, 1, 100), 0);
}

/* Sends one request and reads its response. */
static void
cli_req(struct cli *c, const char *req, struct resp *r)
{
	cli_send(c, req);
	cli_resp(c, r, strncmp(req, "HEAD ", 5) == 0);
}

static const char RPC_ERR[] = "rpc error: kvd is not available (restarting?)";
static const char NOT_FOUND[] = "404 page not found\n";

static void
assert_resp(const struct resp *r, int status, const char *body)
{
	if (r->status != status || (body != NULL && strcmp(r->body, body)))
		fprintf(stderr, "response: %s%s\n", r->head, r->body);
	assert_int_equal(r->status, status);
	if (body != NULL) {
		assert_string_equal(r->body, body);
		assert_int_equal(r->clen, (long)strlen(body));
	}
}

/* ---- tests ---- */

static void
test_keepalive(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;

	/* two requests on one connection: one routed (its IPC call fails
	 * fast), one not */
	cli_req(c, "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	assert_resp(&r, 500, RPC_ERR);
	assert_null(resp_header(&r, "Connection"));
	assert_string_equal(resp_header(&r, "Content-Type"),
	    "text/plain; charset=utf-8");
	assert_string_equal(resp_header(&r, "X-Consul-Default-Acl-Policy"),
	    "allow");
	assert_non_null(resp_header(&r, "Date"));
	resp_free(&r);
	cli_req(c, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	assert_resp(&r, 404, NOT_FOUND);
	assert_null(resp_header(&r, "Connection"));
	resp_free(&r);
	cli_expect_open(c);
	assert_true(wait_for(f, conns_are, 1, 2000));
	assert_true(atomic_load(&f->h.requests) == 2);
	cli_close(c);
	assert_true(wait_for(f, conns_are, 0, 2000));

	/* HTTP/1.0: answered, then closed */
	c = cli_open(f);
	cli_req(c, "GET /nope HTTP/1.0\r\n\r\n", &r);
	assert_resp(&r, 404, NOT_FOUND);
	assert_string_equal(resp_header(&r, "Connection"), "close");
	resp_free(&r);
	cli_expect_eof(c);
	cli_close(c);

	/* Connection: close */
	c = cli_open(f);
	cli_req(c, "GET /v1/kv/a HTTP/1.1\r\nConnection: close\r\n\r\n", &r);
	assert_resp(&r, 500, RPC_ERR);
	assert_string_equal(resp_header(&r, "Connection"), "close");
	resp_free(&r);
	cli_expect_eof(c);
	cli_close(c);
	assert_true(wait_for(f, conns_are, 0, 2000));
}

static void
test_pipelining(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;

	/* three in one write: answered later (IPC), at once, and HEAD */
	cli_send(c, "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\n\r\n"
	    "PUT /v1/kv/k?flags=x1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
	    "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n");
	cli_resp(c, &r, false);
	assert_resp(&r, 500, RPC_ERR);
	resp_free(&r);
	cli_resp(c, &r, false);
	assert_resp(&r, 400,
	    "strconv.ParseUint: parsing \"x1\": invalid syntax");
	resp_free(&r);
	cli_resp(c, &r, true);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.clen, (long)strlen(NOT_FOUND));
	resp_free(&r);
	cli_expect_open(c);
	cli_close(c);
}

/* Over 64 KiB of pipelined requests in one write (more than one read of
 * the server's), mixing answers given at once and answers given by a
 * later IPC reply: every one answered, in order. */
static void
test_pipelining_large(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct sbuf b;
	struct resp r;
	const int N = 900;
	char pad[200], want[128];

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	sbuf_init(&b);
	for (int i = 0; i < N; i++) {
		if (i % 3 == 2)
			sbuf_printf(&b, "GET /v1/kv/a?x=%s HTTP/1.1\r\n"
			    "Host: x\r\n\r\n", pad);
		else
			sbuf_printf(&b, "PUT /v1/kv/k?flags=x%d&p=%s "
			    "HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
			    i, pad);
	}
	assert_true(b.len > (3u << 16));
	cli_sendn(c, b.s, b.len);
	sbuf_free(&b);
	for (int i = 0; i < N; i++) {
		cli_resp(c, &r, false);
		if (i % 3 == 2) {
			assert_resp(&r, 500, RPC_ERR);
		} else {
			snprintf(want, sizeof(want), "strconv.ParseUint: "
			    "parsing \"x%d\": invalid syntax", i);
			assert_resp(&r, 400, want);
		}
		resp_free(&r);
	}
	cli_expect_open(c);
	cli_close(c);
}

/* A client that sends requests without reading the answers: the server
 * stops reading (its buffers stay bounded) and carries on once the
 * client reads; every answer arrives, in order. */
static void
test_pipelining_slow_reader(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct sbuf b;
	struct resp r;
	const int N = 6000;
	char want[128];
	size_t off = 0;

	sbuf_init(&b);
	for (int i = 0; i < N; i++)
		sbuf_printf(&b, "PUT /v1/kv/k?flags=x%d HTTP/1.1\r\n"
		    "Content-Length: 0\r\n\r\n", i);
	/* Writes while it can (the server stops reading at some point). */
	while (off < b.len) {
		ssize_t n = send(c->fd, b.s + off, b.len - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n <= 0) {
			assert_true(n < 0 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK));
			break;
		}
		off += (size_t)n;
	}
	for (int i = 0; i < N; i++) {
		/* the rest goes as the answers are read */
		while (off < b.len) {
			ssize_t n = send(c->fd, b.s + off, b.len - off,
			    MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
		cli_resp(c, &r, false);
		snprintf(want, sizeof(want), "strconv.ParseUint: parsing "
		    "\"x%d\": invalid syntax", i);
		assert_resp(&r, 400, want);
		resp_free(&r);
	}
	assert_int_equal(off, b.len);
	sbuf_free(&b);
	cli_expect_open(c);
	cli_close(c);
}

static bool
value_is(struct fx *f, const char *want)
{
	bool ok;

	pthread_mutex_lock(&f->mu);
	ok = f->value_set && f->value_len == strlen(want) &&
	    memcmp(f->value, want, f->value_len) == 0;
	if (!ok)
		fprintf(stderr, "fake kvd value: %.*s\n", (int)f->value_len,
		    f->value);
	f->value_set = false;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

static void
test_chunked(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;

	/* chunks across writes, an extension and a trailer */
	cli_send(c, "PUT /v1/kv/ck HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\r\nhel");
	usleep(20000);
	cli_send(c, "lo\r\n6;ext=1\r\n world\r\n");
	usleep(20000);
	cli_send(c, "0\r\nX-Trailer: t\r\n\r\n");
	cli_resp(c, &r, false);
	assert_resp(&r, 200, "true");
	assert_string_equal(resp_header(&r, "Content-Type"),
	    "application/json");
	resp_free(&r);
	assert_true(value_is(f, "hello world"));
	assert_int_equal(atomic_load(&f->kv_writes), 1);
	/* the next request on the same connection, in one write */
	cli_req(c, "PUT /v1/kv/ck2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n3\r\nabc\r\n0\r\n\r\n", &r);
	assert_resp(&r, 200, "true");
	resp_free(&r);
	assert_true(value_is(f, "abc"));
	/* a read reaches kvd and its answer comes back */
	cli_req(c, "GET /v1/kv/ck HTTP/1.1\r\n\r\n", &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(resp_header(&r, "X-Consul-Index"), "9");
	resp_free(&r);
	/* a bad chunk size: 400, closed */
	cli_req(c, "PUT /v1/kv/ck HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	    "\r\nzz\r\n", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(resp_header(&r, "Connection"), "close");
	resp_free(&r);
	cli_expect_eof(c);
	cli_close(c);
	assert_int_equal(atomic_load(&f->kv_writes), 2);
}

static void
test_expect_continue(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;

	cli_send(c, "PUT /v1/kv/e HTTP/1.1\r\nHost: x\r\n"
	    "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
	/* the 100 comes before any body byte is sent */
	cli_expect(c, "HTTP/1.1 100 Continue\r\n\r\n");
	cli_expect_open(c);
	cli_send(c, "abcde");
	cli_resp(c, &r, false);
	assert_resp(&r, 200, "true");
	resp_free(&r);
	assert_true(value_is(f, "abcde"));
	/* no body: no 100 */
	cli_req(c, "GET /v1/kv/e HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
	    &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	cli_expect_open(c);
	/* an unknown expectation */
	cli_req(c, "PUT /v1/kv/e HTTP/1.1\r\nExpect: 200-ok\r\n"
	    "Content-Length: 1\r\n\r\n", &r);
	assert_int_equal(r.status, 417);
	assert_true(strncmp(r.head, "HTTP/1.1 417 Expectation Failed\r\n",
	    33) == 0);
	assert_string_equal(resp_header(&r, "Connection"), "close");
	resp_free(&r);
	cli_expect_eof(c);
	cli_close(c);
	assert_int_equal(atomic_load(&f->kv_writes), 1);
}

static void
test_head(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;

	cli_req(c, "HEAD /nope HTTP/1.1\r\n\r\n", &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.clen, (long)strlen(NOT_FOUND));
	resp_free(&r);
	/* no body bytes came: the next answer starts right away */
	cli_expect_open(c);
	cli_req(c, "HEAD /v1/kv/a HTTP/1.1\r\n\r\n", &r);
	assert_int_equal(r.status, 500);
	assert_int_equal(r.clen, (long)strlen(RPC_ERR));
	resp_free(&r);
	cli_send(c, "GET /nope HTTP/1.1\r\n\r\n");
	cli_expect(c, "HTTP/1.1 404 Not Found\r\n");
	cli_close(c);
}

/* Sends req, expects status with Connection: close, then a clean EOF. */
static void
refused(struct fx *f, const char *req, int status, const char *line)
{
	struct cli *c = cli_open(f);
	struct resp r;

	cli_req(c, req, &r);
	if (r.status != status)
		fprintf(stderr, "for %s: %s%s\n", req, r.head, r.body);
	assert_int_equal(r.status, status);
	assert_true(strncmp(r.head, line, strlen(line)) == 0);
	assert_string_equal(resp_header(&r, "Connection"), "close");
	assert_true(r.body_len > 0);
	resp_free(&r);
	cli_expect_eof(c);
	cli_close(c);
}

static void
test_bad_requests(void **state)
{
	struct fx *f = *state;
	uint64_t bad0 = atomic_load(&f->h.bad_requests);

	refused(f, "GARBAGE\r\n\r\n", 400, "HTTP/1.1 400 Bad Request\r\n");
	refused(f, "GET / HTTP/7.3\r\n\r\n", 505,
	    "HTTP/1.1 505 HTTP Version Not Supported\r\n");
	refused(f, "PUT /v1/kv/a HTTP/1.1\r\nContent-Length: 17000000\r\n\r\n",
	    413, "HTTP/1.1 413 Request Entity Too Large\r\n");
	refused(f, "PUT /v1/kv/a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400,
	    "HTTP/1.1 400 Bad Request\r\n");
	refused(f, "PUT /v1/kv/a HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400,
	    "HTTP/1.1 400 Bad Request\r\n");
	refused(f, "PUT /v1/kv/a HTTP/1.1\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\n", 400, "HTTP/1.1 400 Bad Request\r\n");
	assert_true(atomic_load(&f->h.bad_requests) == bad0 + 6);
	assert_true(wait_for(f, conns_are, 0, 2000));
	/* the server goes on serving */
	{
		struct cli *c = cli_open(f);
		struct resp r;

		cli_req(c, "GET /nope HTTP/1.1\r\n\r\n", &r);
		assert_resp(&r, 404, NOT_FOUND);
		resp_free(&r);
		cli_close(c);
	}
}

/* A request with Upgrade (not one httpd speaks) and a body that comes in
 * two pieces is served like one whose body came at once. */
static void
test_upgrade_with_body(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;

	cli_req(c, "PUT /v1/kv/up HTTP/1.1\r\nConnection: Upgrade\r\n"
	    "Upgrade: foo/1\r\nContent-Length: 5\r\n\r\nabcde", &r);
	assert_resp(&r, 200, "true");
	resp_free(&r);
	assert_true(value_is(f, "abcde"));
	cli_close(c);
	c = cli_open(f);
	cli_send(c, "PUT /v1/kv/up HTTP/1.1\r\nConnection: Upgrade\r\n"
	    "Upgrade: foo/1\r\nContent-Length: 5\r\n\r\nab");
	usleep(50000);
	cli_send(c, "cde");
	cli_resp(c, &r, false);
	assert_resp(&r, 200, "true");
	resp_free(&r);
	assert_true(value_is(f, "abcde"));
	cli_close(c);
}

/* At the fd limit (RLIMIT_NOFILE 180: room for 64 connections) the
 * quietest idle connection makes room; with none idle (all halfway
 * through a request), a new one is closed unanswered. */
static void
test_fd_limit(void **state)
{
	struct fx *f = *state;
	struct cli *c[64], *x, *y;
	struct resp r;

	for (int i = 0; i < 64; i++) {
		c[i] = cli_open(f);
		cli_req(c[i], "GET /nope HTTP/1.1\r\n\r\n", &r);
		assert_resp(&r, 404, NOT_FOUND);
		resp_free(&r);
	}
	assert_true(wait_for(f, conns_are, 64, 2000));
	/* c[0] used again: c[1] is now the quietest */
	cli_req(c[0], "GET /nope HTTP/1.1\r\n\r\n", &r);
	resp_free(&r);
	x = cli_open(f);
	cli_req(x, "GET /nope HTTP/1.1\r\n\r\n", &r);
	assert_resp(&r, 404, NOT_FOUND);
	resp_free(&r);
	cli_expect_eof(c[1]);
	cli_expect_open(c[0]);
	cli_close(c[1]);
	c[1] = x;
	assert_true(atomic_load(&f->h.conns) == 64);
	/* every one halfway through a request: none can make room */
	for (int i = 0; i < 64; i++)
		cli_send(c[i], "GET /nope HTTP/1.1\r\nHost: x\r\n");
	usleep(100000);
	y = cli_open(f);
	cli_send(y, "GET /nope HTTP/1.1\r\n\r\n");
	/* closed unanswered: EOF, or a reset (its request was unread) */
	{
		ssize_t n = cli_fill(y);

		assert_true(n == 0 || n == -ECONNRESET);
		assert_int_equal(y->len, 0);
	}
	cli_close(y);
	assert_true(atomic_load(&f->h.conns_refused) == 1);
	/* the 64 are intact */
	for (int i = 0; i < 64; i++) {
		cli_req(c[i], "\r\n", &r);
		assert_resp(&r, 404, NOT_FOUND);
		resp_free(&r);
		cli_close(c[i]);
	}
}

/* A chunked body over the server's limit: 413 once it passes. */
static void
test_chunked_too_large(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;
	char *chunk = malloc(1 << 20);
	char hdr[32];
	ssize_t n;
	int i;

	memset(chunk, 'v', 1 << 20);
	cli_send(c, "PUT /v1/kv/big HTTP/1.1\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n");
	snprintf(hdr, sizeof(hdr), "%x\r\n", 1 << 20);
	/* 17 MiB, until the server stops us */
	for (i = 0; i < 17; i++) {
		cli_send(c, hdr);
		n = send(c->fd, chunk, 1 << 20, MSG_NOSIGNAL);
		if (n != 1 << 20)
			break;
		cli_send(c, "\r\n");
	}
	free(chunk);
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 413);
	assert_string_equal(resp_header(&r, "Connection"), "close");
	resp_free(&r);
	cli_close(c);
	assert_int_equal(atomic_load(&f->h.requests), 0);
}

/* Headers over 1 MiB: 431, which the client reads whole after sending
 * all it had (the server drains instead of resetting). */
static void
test_headers_too_large(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct sbuf b;
	struct resp r;

	sbuf_init(&b);
	sbuf_adds(&b, "GET /nope HTTP/1.1\r\n");
	while (b.len < (3u << 19))
		sbuf_adds(&b, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	sbuf_adds(&b, "\r\n");
	cli_sendn(c, b.s, b.len);
	sbuf_free(&b);
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 431);
	assert_true(strncmp(r.head, "HTTP/1.1 431 Request Header Fields Too "
	    "Large\r\n", 46) == 0);
	assert_string_equal(resp_header(&r, "Connection"), "close");
	resp_free(&r);
	cli_expect_eof(c);
	cli_close(c);
	/* just under the limit is fine */
	c = cli_open(f);
	sbuf_init(&b);
	sbuf_adds(&b, "GET /nope HTTP/1.1\r\n");
	while (b.len < (1u << 20) - 200)
		sbuf_adds(&b, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	sbuf_adds(&b, "\r\n");
	cli_sendn(c, b.s, b.len);
	sbuf_free(&b);
	cli_resp(c, &r, false);
	assert_resp(&r, 404, NOT_FOUND);
	resp_free(&r);
	cli_close(c);
}

static const char TOO_MANY[] = "HTTP/1.1 429 Too Many Requests\r\n"
    "Content-Type: text/plain\r\nContent-Length: 81\r\n"
    "Connection: close\r\n\r\n"
    "Your IP is issuing too many concurrent connections, please rate "
    "limit your calls\n";

static void
test_per_client_limit(void **state)
{
	struct fx *f = *state;
	struct cli *c[3], *x;
	struct resp r;

	for (int i = 0; i < 3; i++) {
		c[i] = cli_open(f);
		cli_req(c[i], "GET /nope HTTP/1.1\r\n\r\n", &r);
		assert_resp(&r, 404, NOT_FOUND);
		resp_free(&r);
	}
	/* the fourth: Consul's answer, byte for byte, then EOF */
	x = cli_open(f);
	cli_send(x, "GET /nope HTTP/1.1\r\n\r\n");
	cli_expect(x, TOO_MANY);
	cli_expect_eof(x);
	cli_close(x);
	/* the same without a request sent */
	x = cli_open(f);
	cli_expect(x, TOO_MANY);
	cli_expect_eof(x);
	cli_close(x);
	assert_true(atomic_load(&f->h.conns_refused) == 2);
	/* the three still work */
	for (int i = 0; i < 3; i++) {
		cli_req(c[i], "GET /nope HTTP/1.1\r\n\r\n", &r);
		assert_resp(&r, 404, NOT_FOUND);
		resp_free(&r);
	}
	/* one leaves: a new one is served */
	cli_close(c[0]);
	assert_true(wait_for(f, conns_are, 2, 2000));
	c[0] = cli_open(f);
	cli_req(c[0], "GET /nope HTTP/1.1\r\n\r\n", &r);
	assert_resp(&r, 404, NOT_FOUND);
	resp_free(&r);
	assert_true(atomic_load(&f->h.conns_refused) == 2);
	/* a refused one that lingers (its client has not closed) does not
	 * hold a place: one leaving makes room at once, as in Consul */
	x = cli_open(f);
	cli_expect(x, TOO_MANY);
	cli_close(c[0]);
	assert_true(wait_for(f, conns_are, 3, 2000));
	c[0] = cli_open(f);
	cli_req(c[0], "GET /nope HTTP/1.1\r\n\r\n", &r);
	assert_resp(&r, 404, NOT_FOUND);
	resp_free(&r);
	assert_true(atomic_load(&f->h.conns_refused) == 3);
	cli_close(x);
	for (int i = 0; i < 3; i++)
		cli_close(c[i]);
	assert_true(wait_for(f, conns_are, 0, 2000));
}

static void
test_per_client_no_limit(void **state)
{
	struct fx *f = *state;
	struct cli *c[40];
	struct resp r;

	for (int i = 0; i < 40; i++)
		c[i] = cli_open(f);
	for (int i = 0; i < 40; i++) {
		cli_req(c[i], "GET /nope HTTP/1.1\r\n\r\n", &r);
		assert_resp(&r, 404, NOT_FOUND);
		resp_free(&r);
	}
	assert_true(wait_for(f, conns_are, 40, 2000));
	assert_true(atomic_load(&f->h.conns_refused) == 0);
	for (int i = 0; i < 40; i++)
		cli_close(c[i]);
}

static void
test_stall(void **state)
{
	struct fx *f = *state;
	struct cli *idle = cli_open(f), *c;
	struct resp r;
	uint64_t t0;

	/* an idle keep-alive connection is not a stalled one */
	cli_req(idle, "GET /nope HTTP/1.1\r\n\r\n", &r);
	resp_free(&r);
	c = cli_open(f);
	t0 = mono_ms();
	cli_send(c, "GET /nope HTTP/1.1\r\nHost: x\r\nX-Half");
	cli_expect_eof(c);
	assert_true(mono_ms() - t0 >= HTTP_STALL_MS - 100);
	assert_true(mono_ms() - t0 < HTTP_STALL_MS + 2000);
	assert_true(atomic_load(&f->h.conns_stalled) == 1);
	cli_close(c);
	/* a body that stops halfway too */
	c = cli_open(f);
	t0 = mono_ms();
	cli_send(c, "PUT /v1/kv/a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
	cli_expect_eof(c);
	assert_true(mono_ms() - t0 >= HTTP_STALL_MS - 100);
	assert_true(atomic_load(&f->h.conns_stalled) == 2);
	cli_close(c);
	/* a slow client that keeps sending is not cut */
	c = cli_open(f);
	cli_send(c, "GET /nope HTTP/1.1\r\n");
	for (int i = 0; i < 4; i++) {
		usleep(HTTP_STALL_MS * 1000 / 2);
		cli_send(c, "X-Slow: 1\r\n");
	}
	cli_req(c, "\r\n", &r);
	assert_resp(&r, 404, NOT_FOUND);
	resp_free(&r);
	cli_close(c);
	cli_expect_open(idle);
	cli_req(idle, "GET /nope HTTP/1.1\r\n\r\n", &r);
	assert_resp(&r, 404, NOT_FOUND);
	resp_free(&r);
	cli_close(idle);
	assert_true(atomic_load(&f->h.conns_stalled) == 2);
}

static void
test_half_close(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;

	/* answered later (IPC) */
	cli_send(c, "GET /v1/kv/a HTTP/1.1\r\n\r\n");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	cli_resp(c, &r, false);
	assert_resp(&r, 500, RPC_ERR);
	resp_free(&r);
	cli_expect_eof(c);
	cli_close(c);
	/* answered at once */
	c = cli_open(f);
	cli_send(c, "GET /nope HTTP/1.1\r\n\r\n");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	cli_resp(c, &r, false);
	assert_resp(&r, 404, NOT_FOUND);
	resp_free(&r);
	cli_expect_eof(c);
	cli_close(c);
	/* half a request, then EOF: closed without an answer */
	c = cli_open(f);
	cli_send(c, "GET /nope HTTP/1.1\r\nHo");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	cli_expect_eof(c);
	cli_close(c);
	assert_true(wait_for(f, conns_are, 0, 2000));
}

/* Two pipelined requests, then a half-close: both answered, as Go's
 * server does (the second was read before the EOF). */
static void
test_half_close_pipelined(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;

	cli_send(c, "GET /v1/kv/a HTTP/1.1\r\n\r\n"
	    "GET /v1/kv/b HTTP/1.1\r\n\r\n");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	cli_resp(c, &r, false);
	assert_resp(&r, 500, RPC_ERR);
	resp_free(&r);
	cli_resp(c, &r, false);
	assert_resp(&r, 500, RPC_ERR);
	resp_free(&r);
	cli_expect_eof(c);
	cli_close(c);
	assert_true(wait_for(f, conns_are, 0, 2000));
}

/* A client leaves while its blocking query is parked in kvd: the server
 * closes at once, and the late kvd answer finds no connection. */
static void
test_blocking_disconnect(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f), *k;
	struct resp r;
	uint64_t min_index;

	cli_send(c, "GET /v1/kv/b?index=5&wait=30s HTTP/1.1\r\n\r\n");
	assert_true(wait_for(f, parked_are, 1, 3000));
	pthread_mutex_lock(&f->mu);
	min_index = f->last_min_index;
	pthread_mutex_unlock(&f->mu);
	assert_true(min_index == 5);
	assert_true(atomic_load(&f->h.blocking) == 1);
	assert_true(atomic_load(&f->h.conns) == 1);
	cli_close(c);
	assert_true(wait_for(f, conns_are, 0, 2000));
	assert_true(atomic_load(&f->h.inflight) == 1);
	loop_post(f->h.loop, answer_parked, f);
	assert_true(wait_for(f, idle_server, 0, 3000));

	/* the same answered while the client waits */
	c = cli_open(f);
	cli_send(c, "GET /v1/kv/b?index=5 HTTP/1.1\r\n\r\n");
	assert_true(wait_for(f, parked_are, 1, 3000));
	cli_expect_open(c);
	loop_post(f->h.loop, answer_parked, f);
	cli_resp(c, &r, false);
	assert_int_equal(r.status, 404);
	assert_string_equal(resp_header(&r, "X-Consul-Index"), "42");
	resp_free(&r);

	/* a write parked: a client leaving does not drop it; the
	 * connection closes once it is answered */
	k = cli_open(f);
	cli_send(k, "PUT /v1/kv/park-1 HTTP/1.1\r\nContent-Length: 1\r\n\r\n"
	    "v");
	assert_true(wait_for(f, parked_are, 1, 3000));
	cli_close(k);
	assert_true(wait_for(f, conns_are, 2, 2000));
	usleep(100000);
	assert_true(atomic_load(&f->h.conns) == 2);
	loop_post(f->h.loop, answer_parked, f);
	assert_true(wait_for(f, conns_are, 1, 3000));
	assert_true(wait_for(f, idle_server, 0, 3000));
	cli_expect_open(c);
	cli_close(c);
	assert_true(wait_for(f, conns_are, 0, 2000));
}

/* A client leaves while its blocking query is parked, and kvd never
 * answers: the IPC call times out (its wait plus httpd's 15 s slack) and
 * the request is freed; kvd's answer after that is dropped. */
static void
test_blocking_disconnect_timeout(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;

	cli_send(c, "GET /v1/kv/b?index=5&wait=1ms HTTP/1.1\r\n\r\n");
	assert_true(wait_for(f, parked_are, 1, 3000));
	cli_close(c);
	assert_true(wait_for(f, conns_are, 0, 2000));
	assert_true(atomic_load(&f->h.inflight) == 1);
	assert_true(wait_for(f, idle_server, 0, 25000));
	assert_true(atomic_load(&f->h.kvd_unavailable) == 1);
	loop_post(f->h.loop, answer_parked, f);
	/* still serving */
	c = cli_open(f);
	cli_req(c, "GET /v1/kv/b HTTP/1.1\r\n\r\n", &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	cli_close(c);
}

/* A blocking query parked when the IPC client goes away (the IPC call
 * fails at teardown): nothing leaks (ASan). */
static void
test_blocking_left_at_teardown(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f), *d = cli_open(f);

	cli_send(c, "GET /v1/kv/b?index=5 HTTP/1.1\r\n\r\n");
	cli_send(d, "PUT /v1/kv/park-2 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	assert_true(wait_for(f, parked_are, 2, 3000));
	cli_close(c);
	assert_true(wait_for(f, conns_are, 1, 2000));
	assert_true(atomic_load(&f->h.inflight) == 2);
	cli_close(d);
	/* the teardown stops httpd and closes the IPC clients with both
	 * calls in flight, and checks inflight is 0 after the drain */
}

/* SIGTERM's path with requests in flight, answered in the grace. */
static void
test_stop_inflight(void **state)
{
	struct fx *f = *state;
	struct cli *idle = cli_open(f), *blk = cli_open(f), *w = cli_open(f);
	struct resp r;

	cli_req(idle, "GET /nope HTTP/1.1\r\n\r\n", &r);
	resp_free(&r);
	cli_send(blk, "GET /v1/kv/b?index=5 HTTP/1.1\r\n\r\n");
	cli_send(w, "PUT /v1/kv/park-3 HTTP/1.1\r\nContent-Length: 2\r\n\r\n"
	    "ab");
	assert_true(wait_for(f, parked_are, 2, 3000));
	loop_post(f->h.loop, begin_stop, f);
	/* idle and parked blocking queries close at once */
	cli_expect_eof(idle);
	cli_expect_eof(blk);
	assert_true(wait_for(f, conns_are, 1, 2000));
	/* no more connections */
	assert_true(cli_connect(f->port) < 0);
	cli_expect_open(w);
	assert_false(atomic_load(&f->thread_done));
	/* the write is answered: it gets its response, closed; the loop
	 * stops as nothing is left */
	loop_post(f->h.loop, answer_parked, f);
	cli_resp(w, &r, false);
	assert_resp(&r, 200, "true");
	assert_string_equal(resp_header(&r, "Connection"), "close");
	resp_free(&r);
	cli_expect_eof(w);
	assert_true(wait_for(f, thread_done, 0, 3000));
	cli_close(idle);
	cli_close(blk);
	cli_close(w);
}

/* The same, nobody answering: the loop stops after the grace, and
 * httpd_stop closes the request still in flight. */
static void
test_stop_grace_over(void **state)
{
	struct fx *f = *state;
	struct cli *w = cli_open(f);
	uint64_t t0;

	cli_send(w, "PUT /v1/kv/park-4 HTTP/1.1\r\nContent-Length: 2\r\n\r\n"
	    "ab");
	assert_true(wait_for(f, parked_are, 1, 3000));
	t0 = mono_ms();
	loop_post(f->h.loop, begin_stop, f);
	assert_true(wait_for(f, thread_done, 0, 5000));
	assert_true(mono_ms() - t0 >= 900);
	cli_expect_open(w);
	/* teardown-like: stop, then the request's call fails */
	pthread_join(f->thr, NULL);
	f->started = false;
	httpd_stop(&f->h);
	assert_true(atomic_load(&f->h.conns) == 0);
	cli_expect_eof(w);
	cli_close(w);
}

/* httpd_begin_stop with nothing in flight: true at once. */
static void
test_stop_idle(void **state)
{
	struct fx *f = *state;
	struct cli *c = cli_open(f);
	struct resp r;

	cli_req(c, "GET /nope HTTP/1.1\r\n\r\n", &r);
	resp_free(&r);
	loop_post(f->h.loop, begin_stop, f);
	cli_expect_eof(c);
	assert_true(wait_for(f, thread_done, 0, 3000));
	cli_close(c);
}

int
main(void)
{
	static struct opts none = { false, 0, 0 };
	static struct opts kvd = { true, 0, 0 };
	static struct opts lim3 = { false, 3, 0 };
	static struct opts nofile = { false, 0, 180 };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate_setup_teardown(test_keepalive,
		    setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(test_pipelining,
		    setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(
		    test_pipelining_large, setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(
		    test_pipelining_slow_reader, setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(test_chunked,
		    setup, teardown, &kvd),
		cmocka_unit_test_prestate_setup_teardown(
		    test_upgrade_with_body, setup, teardown, &kvd),
		cmocka_unit_test_prestate_setup_teardown(test_fd_limit,
		    setup, teardown, &nofile),
		cmocka_unit_test_prestate_setup_teardown(test_chunked_too_large,
		    setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(test_expect_continue,
		    setup, teardown, &kvd),
		cmocka_unit_test_prestate_setup_teardown(test_head,
		    setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(test_bad_requests,
		    setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(test_headers_too_large,
		    setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(test_per_client_limit,
		    setup, teardown, &lim3),
		cmocka_unit_test_prestate_setup_teardown(
		    test_per_client_no_limit, setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(test_stall,
		    setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(test_half_close,
		    setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(
		    test_half_close_pipelined, setup, teardown, &none),
		cmocka_unit_test_prestate_setup_teardown(
		    test_blocking_disconnect, setup, teardown, &kvd),
		cmocka_unit_test_prestate_setup_teardown(
		    test_blocking_disconnect_timeout, setup, teardown, &kvd),
		cmocka_unit_test_prestate_setup_teardown(
		    test_blocking_left_at_teardown, setup, teardown, &kvd),
		cmocka_unit_test_prestate_setup_teardown(test_stop_inflight,
		    setup, teardown, &kvd),
		cmocka_unit_test_prestate_setup_teardown(test_stop_grace_over,
		    setup, teardown, &kvd),
		cmocka_unit_test_prestate_setup_teardown(test_stop_idle,
		    setup, teardown, &none),
	};

	signal(SIGPIPE, SIG_IGN);
	log_setlevel(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
