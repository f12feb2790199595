/* ipc_stress_test.c: common/ipc.c under load and against hostile peers,
 * over real unix sockets and real loop threads.
 *
 * Every call made here is counted: its callback must run exactly once
 * (with reply != NULL exactly when rv == 0) whatever happens: server
 * restarts under concurrent callers, deadlines of 0..3 ms racing the
 * replies, ipc_client_close with calls in flight from other threads,
 * ipc_call_send_loop deliveries on a running loop and through loop_drain
 * after close, replies written by worker threads off the loop, messages
 * of several MiB both ways, a server closing with parked requests, and
 * 10,000 requests parked on one connection whose client then goes away
 * (the handler still owns them; answering them later frees them).
 *
 * Peers played by hand: a request written one byte at a time (and two
 * in one write; the socket file is 0600); a server that accepts but never sends its SP header (the
 * client must neither hang nor call out); a storm of connections closed
 * at once (no fd leak); bad framing (empty frame, no request id, a
 * backtrace of 9 words, a frame over the limit, not a message frame, a
 * wrong protocol in the header), each dropped and counted while an
 * 8-word backtrace is served and echoed whole; garbage and reply-typed
 * envelopes answered with MSG_ERROR on a user socket, the connection
 * kept; a peer closing before its answer (no SIGPIPE); and a hand-played
 * rep0 server answering with unknown ids, empty frames, garbage, the
 * wrong type and a frame over the limit.
 *
 * Loop-mode clients (ipc_client_open_loop): calls issued from the owner
 * loop's timer under server restarts, every callback once and on the
 * loop; against a server that never sends its header (it redials after
 * the handshake limit) and a full listen backlog, nothing blocks.
 *
 * Every wait is bounded (a few seconds), so nothing hangs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "gotime.h"
#include "ipc.h"
#include "log.h"
#include "loop.h"
#include "mp.h"
#include "proto.h"

#define WAIT_MS 5000
#define FRAME_LIMIT ((uint64_t)PROTO_MAX_MSG + 8 * 4)

static const uint8_t REQ0_HDR[8] = { 0, 'S', 'P', 0, 0x00, 0x30, 0, 0 };
static const uint8_t REP0_HDR[8] = { 0, 'S', 'P', 0, 0x00, 0x31, 0, 0 };

/* ---- small helpers ---- */

static bool
wait_for(bool (*pred)(void *), void *arg, uint64_t ms)
{
	uint64_t end = mono_ms() + ms;

	while (!pred(arg)) {
		if (mono_ms() >= end)
			return pred(arg);
		usleep(1000);
	}
	return true;
}

static uint8_t
pat(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 17u + i * 31u + (i >> 10) * 7u);
}

static uint8_t *
pat_buf(uint64_t seq, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = pat(seq, i);
	return p;
}

static bool
pat_ok(uint64_t seq, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pat(seq, i))
			return false;
	return true;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char p[300], t[300];
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%s", de->d_name);
		n = readlink(p, t, sizeof(t) - 1);
		t[n > 0 ? n : 0] = 0;
		print_message("fd %s -> %s\n", de->d_name, t);
	}
	closedir(d);
}

/* ---- the server side: a loop thread and a handler ---- */

/* Request payload: [op, seq, n, bin]; reply payload: [seq, bin]. */
enum {
	OP_ECHO = 1,	/* reply with the bin */
	OP_PARK,	/* keep the request; answered on demand */
	OP_WORKER,	/* answered (echo) by a worker thread */
	OP_BIG,		/* reply with n pattern bytes */
};

struct srv {
	char dir[256];
	char path[300];
	char url[320];
	struct loop *loop;
	pthread_t thr;
	bool running;
	struct ipc_server *s;
	enum ipc_trust trust;
	uint64_t boot;
	_Atomic int handled;
	/* parked requests: the loop thread's (or anyone's once stopped) */
	struct ipc_req **parked;
	size_t nparked, capparked;
	_Atomic int parked_n;
	_Atomic int answered_parked;
	/* worker threads answering OP_WORKER off the loop */
	pthread_mutex_t wmu;
	pthread_cond_t wcv;
	struct ipc_req **wq;
	size_t wn, wcap;
	bool wstop;
	pthread_t wthr[4];
	int nworkers;
};

static void
reply_data(struct ipc_req *r, uint64_t seq, const void *p, size_t len)
{
	struct mpw *w = ipc_reply_begin(r, r->msg.type);

	mpw_array(w, 2);
	mpw_u64(w, seq);
	mpw_bin(w, p, len);
	ipc_reply_send(r);
}

static int
req_decode(struct ipc_req *r, uint64_t *op, uint64_t *seq, uint64_t *n,
    const void **p, size_t *len)
{
	const msgpack_object *it;
	uint32_t cnt;

	if (r->msg.payload == NULL ||
	    mp_get_array(r->msg.payload, 4, 4, &it, &cnt) != 0 ||
	    mp_get_u64(&it[0], op) != 0 || mp_get_u64(&it[1], seq) != 0 ||
	    mp_get_u64(&it[2], n) != 0 ||
	    mp_get_bin(&it[3], MP_MAX_BIN, p, len) != 0)
		return -1;
	return 0;
}

static void
echo_req(struct ipc_req *r)
{
	uint64_t op, seq, n;
	const void *p;
	size_t len;

	if (req_decode(r, &op, &seq, &n, &p, &len) != 0) {
		ipc_reply_error(r, LE_MALFORMED, "bad test payload");
		return;
	}
	reply_data(r, seq, p, len);
}

static void
handler(void *arg, struct ipc_req *r)
{
	struct srv *sv = arg;
	uint64_t op, seq, n;
	const void *p;
	size_t len;

	atomic_fetch_add(&sv->handled, 1);
	if (req_decode(r, &op, &seq, &n, &p, &len) != 0) {
		ipc_reply_error(r, LE_MALFORMED, "bad test payload");
		return;
	}
	switch (op) {
	case OP_PARK:
		if (sv->nparked == sv->capparked) {
			sv->capparked = sv->capparked ? sv->capparked * 2 : 64;
			sv->parked = realloc(sv->parked,
			    sv->capparked * sizeof(*sv->parked));
			assert_non_null(sv->parked);
		}
		sv->parked[sv->nparked++] = r;
		atomic_fetch_add(&sv->parked_n, 1);
		return;
	case OP_WORKER:
		pthread_mutex_lock(&sv->wmu);
		if (sv->wn == sv->wcap) {
			sv->wcap = sv->wcap ? sv->wcap * 2 : 64;
			sv->wq = realloc(sv->wq, sv->wcap * sizeof(*sv->wq));
			assert_non_null(sv->wq);
		}
		sv->wq[sv->wn++] = r;
		pthread_cond_signal(&sv->wcv);
		pthread_mutex_unlock(&sv->wmu);
		return;
	case OP_BIG: {
		uint8_t *b = pat_buf(seq, (size_t)n);

		reply_data(r, seq, b, (size_t)n);
		free(b);
		return;
	}
	default:
		reply_data(r, seq, p, len);
		return;
	}
}

static void *
worker_main(void *arg)
{
	struct srv *sv = arg;

	pthread_mutex_lock(&sv->wmu);
	for (;;) {
		struct ipc_req *r;

		while (sv->wn == 0 && !sv->wstop)
			pthread_cond_wait(&sv->wcv, &sv->wmu);
		if (sv->wn == 0)
			break;
		r = sv->wq[--sv->wn];
		pthread_mutex_unlock(&sv->wmu);
		if ((random() & 3) == 0)
			usleep(100);
		echo_req(r);
		pthread_mutex_lock(&sv->wmu);
	}
	pthread_mutex_unlock(&sv->wmu);
	return NULL;
}

static void
workers_start(struct srv *sv, int n)
{
	sv->wstop = false;
	sv->nworkers = n;
	for (int i = 0; i < n; i++)
		pthread_create(&sv->wthr[i], NULL, worker_main, sv);
}

static void
workers_stop(struct srv *sv)
{
	pthread_mutex_lock(&sv->wmu);
	sv->wstop = true;
	pthread_cond_broadcast(&sv->wcv);
	pthread_mutex_unlock(&sv->wmu);
	for (int i = 0; i < sv->nworkers; i++)
		pthread_join(sv->wthr[i], NULL);
	sv->nworkers = 0;
}

static void *
loop_main(void *arg)
{
	loop_run(arg);
	return NULL;
}

static void
srv_start(struct srv *sv)
{
	struct lerr e;

	assert_int_equal(loop_new(&sv->loop), 0);
	assert_int_equal(ipc_server_open(&sv->s, sv->url, sv->loop, sv->trust,
	    handler, sv, sv->boot, &e), 0);
	pthread_create(&sv->thr, NULL, loop_main, sv->loop);
	sv->running = true;
}

static void
srv_stop(struct srv *sv)
{
	if (!sv->running)
		return;
	loop_stop(sv->loop);
	pthread_join(sv->thr, NULL);
	ipc_server_close(sv->s);	/* frees the parked requests too */
	pthread_mutex_lock(&sv->wmu);
	sv->wn = 0;	/* and those no worker took */
	pthread_mutex_unlock(&sv->wmu);
	loop_free(sv->loop);
	sv->s = NULL;
	sv->loop = NULL;
	sv->nparked = 0;
	atomic_store(&sv->parked_n, 0);
	sv->running = false;
}

/* On the loop thread: answers every parked request. */
static void
answer_parked(void *arg)
{
	struct srv *sv = arg;
	size_t n = sv->nparked;

	for (size_t i = 0; i < n; i++)
		echo_req(sv->parked[i]);
	sv->nparked = 0;
	atomic_store(&sv->parked_n, 0);
	atomic_fetch_add(&sv->answered_parked, (int)n);
}

static int
setup(void **state)
{
	struct srv *sv = calloc(1, sizeof(*sv));
	const char *tmp = getenv("TMPDIR");

	assert_non_null(sv);
	snprintf(sv->dir, sizeof(sv->dir), "%s/ipcs.XXXXXX", tmp ? tmp :
	    "/tmp");
	assert_non_null(mkdtemp(sv->dir));
	snprintf(sv->path, sizeof(sv->path), "%s/s.sock", sv->dir);
	snprintf(sv->url, sizeof(sv->url), "ipc://%s", sv->path);
	sv->trust = IPC_USER;
	sv->boot = 77;
	pthread_mutex_init(&sv->wmu, NULL);
	pthread_cond_init(&sv->wcv, NULL);
	srv_start(sv);
	*state = sv;
	return 0;
}

static int
teardown(void **state)
{
	struct srv *sv = *state;
	char p[400];

	workers_stop(sv);
	srv_stop(sv);
	free(sv->parked);
	free(sv->wq);
	pthread_mutex_destroy(&sv->wmu);
	pthread_cond_destroy(&sv->wcv);
	unlink(sv->path);
	snprintf(p, sizeof(p), "%s/fake.sock", sv->dir);
	unlink(p);
	rmdir(sv->dir);
	free(sv);
	return 0;
}

/* ---- the client side: counted calls ---- */

struct tally {
	_Atomic int total;
	_Atomic int mismatch;	/* a wrong reply, or reply/rv disagreeing */
	_Atomic int errors;	/* MSG_ERROR replies */
};

struct slot {
	struct tally *t;
	uint64_t seq;
	size_t want_len;	/* reply bin length expected */
	bool check_pat;		/* reply bin is pat(seq, i) */
	_Atomic int count;
	_Atomic int rv;
	pthread_t thr;
};

static void
on_slot(void *arg, int rv, struct proto_msg *m)
{
	struct slot *s = arg;
	struct tally *t = s->t;

	if (rv == 0 && m == NULL)
		atomic_fetch_add(&t->mismatch, 1);
	if (rv != 0 && m != NULL)
		atomic_fetch_add(&t->mismatch, 1);
	if (rv == 0 && m != NULL) {
		const msgpack_object *it;
		uint32_t n;
		uint64_t seq;
		const void *p;
		size_t len;

		if (m->type == (MSG_ERROR | PROTO_REPLY))
			atomic_fetch_add(&t->errors, 1);
		else if (m->type != (MSG_ADMIN_STATUS | PROTO_REPLY) ||
		    mp_get_array(m->payload, 2, 2, &it, &n) != 0 ||
		    mp_get_u64(&it[0], &seq) != 0 ||
		    mp_get_bin(&it[1], MP_MAX_BIN, &p, &len) != 0 ||
		    seq != s->seq || len != s->want_len ||
		    (s->check_pat && !pat_ok(seq, p, len)))
			atomic_fetch_add(&t->mismatch, 1);
	}
	atomic_store(&s->rv, rv);
	s->thr = pthread_self();
	atomic_fetch_add(&s->count, 1);
	atomic_fetch_add(&t->total, 1);	/* last: the slot may go now */
}

static struct ipc_call *
make_call(struct ipc_client *c, uint64_t op, struct slot *s, uint64_t n,
    const void *p, size_t len)
{
	struct ipc_call *call = ipc_call_new(c, MSG_ADMIN_STATUS);
	struct mpw *w = ipc_call_writer(call);

	mpw_array(w, 4);
	mpw_u64(w, op);
	mpw_u64(w, s->seq);
	mpw_u64(w, n);
	mpw_bin(w, p, len);
	return call;
}

/* An echo-style call: the reply carries the seq and the same bytes. */
static void
call_echo(struct ipc_client *c, uint64_t op, struct slot *s,
    uint64_t timeout)
{
	uint8_t small[16];
	size_t len = s->seq % sizeof(small);

	for (size_t i = 0; i < len; i++)
		small[i] = pat(s->seq, i);
	s->want_len = len;
	s->check_pat = true;
	ipc_call_send(make_call(c, op, s, 0, small, len), timeout, on_slot, s);
}

static struct slot *
slots_new(struct tally *t, int n, uint64_t seq0)
{
	struct slot *s = calloc((size_t)n, sizeof(*s));

	assert_non_null(s);
	for (int i = 0; i < n; i++) {
		s[i].t = t;
		s[i].seq = seq0 + (uint64_t)i;
	}
	return s;
}

struct want {
	struct tally *t;
	int n;
};

static bool
tally_reached(void *arg)
{
	struct want *w = arg;

	return atomic_load(&w->t->total) >= w->n;
}

static bool
wait_total(struct tally *t, int n, uint64_t ms)
{
	struct want w = { t, n };

	return wait_for(tally_reached, &w, ms);
}

static void
assert_once(struct slot *s, int n)
{
	for (int i = 0; i < n; i++)
		if (atomic_load(&s[i].count) != 1)
			fail_msg("call %d: callback ran %d times", i,
			    atomic_load(&s[i].count));
}

static bool
peers_up(void *arg)
{
	return ipc_client_peers(arg) > 0;
}

static struct ipc_client *
client_up(const char *url)
{
	struct ipc_client *c;
	struct lerr e;

	assert_int_equal(ipc_client_open(&c, url, 9, &e), 0);
	assert_true(wait_for(peers_up, c, WAIT_MS));
	return c;
}

struct ctr_at_least {
	_Atomic int *v;
	int n;
};

static bool
ctr_reached(void *arg)
{
	struct ctr_at_least *a = arg;

	return atomic_load(a->v) >= a->n;
}

static bool
wait_ctr(_Atomic int *v, int n, uint64_t ms)
{
	struct ctr_at_least a = { v, n };

	return wait_for(ctr_reached, &a, ms);
}

struct u64_eq {
	const struct ipc_server *s;
	uint64_t (*get)(const struct ipc_server *);
	uint64_t n;
};

static bool
u64_reached(void *arg)
{
	struct u64_eq *a = arg;

	return a->get(a->s) == a->n;
}

static bool
wait_srv(const struct ipc_server *s, uint64_t (*get)(
    const struct ipc_server *), uint64_t n, uint64_t ms)
{
	struct u64_eq a = { s, get, n };

	return wait_for(u64_reached, &a, ms);
}

/* ---- hand-played peers ---- */

static int
raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 3, 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len > 0) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		b += n;
		len -= (size_t)n;
	}
}

/* 0 when all came, -1 on EOF, error or time-out. */
static int
read_all(int fd, void *p, size_t len)
{
	uint8_t *b = p;

	while (len > 0) {
		ssize_t n = recv(fd, b, len, 0);

		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
raw_client(const char *path)
{
	int fd = raw_connect(path);
	uint8_t hdr[8];

	write_all(fd, REQ0_HDR, 8);
	if (read_all(fd, hdr, 8) != 0)
		fail_msg("no SP header from the server: %s", strerror(errno));
	assert_memory_equal(hdr, REP0_HDR, 8);
	return fd;
}

static void
frame_hdr(uint8_t h[9], uint64_t n)
{
	h[0] = 1;
	for (int i = 0; i < 8; i++)
		h[1 + i] = (uint8_t)(n >> (56 - 8 * i));
}

/* A frame: header, backtrace words, envelope. Caller frees. */
static uint8_t *
build_frame(const uint32_t *bt, int nbt, const void *env, size_t envlen,
    size_t *outlen)
{
	size_t body = (size_t)nbt * 4 + envlen;
	uint8_t *f = malloc(9 + body);

	assert_non_null(f);
	frame_hdr(f, body);
	for (int i = 0; i < nbt; i++)
		for (int j = 0; j < 4; j++)
			f[9 + 4 * i + j] = (uint8_t)(bt[i] >> (24 - 8 * j));
	if (envlen > 0)
		memcpy(f + 9 + 4 * nbt, env, envlen);
	*outlen = 9 + body;
	return f;
}

/* An envelope for a request [op, seq, 0, bin]. */
static void
env_req(struct mpw *w, uint32_t type, uint64_t seq, const char *s)
{
	mpw_init(w);
	proto_begin(w, type, seq, 5);
	mpw_array(w, 4);
	mpw_u64(w, OP_ECHO);
	mpw_u64(w, seq);
	mpw_u64(w, 0);
	mpw_bin(w, s, strlen(s));
}

/* Reads one frame (body malloc'd), NULL on EOF/time-out. */
static uint8_t *
read_frame(int fd, size_t *len)
{
	uint8_t h[9];
	uint64_t n = 0;
	uint8_t *b;

	if (read_all(fd, h, 9) != 0)
		return NULL;
	assert_int_equal(h[0], 1);
	for (int i = 0; i < 8; i++)
		n = n << 8 | h[1 + i];
	assert_true(n < (64u << 20));
	b = malloc(n ? n : 1);
	assert_non_null(b);
	if (read_all(fd, b, n) != 0) {
		free(b);
		return NULL;
	}
	*len = n;
	return b;
}

/* The reply to our raw request: nbt backtrace words echoed, then an
 * envelope of type want carrying [seq, bin == s]. */
static void
check_raw_reply(int fd, const uint32_t *bt, int nbt, uint64_t seq,
    const char *s, uint32_t want)
{
	size_t len;
	uint8_t *b = read_frame(fd, &len);
	struct proto_msg m;
	struct lerr e;

	assert_non_null(b);
	assert_true(len >= (size_t)nbt * 4);
	for (int i = 0; i < nbt; i++) {
		uint32_t w = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1]
		    << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];

		assert_int_equal(w, bt[i]);
	}
	assert_int_equal(proto_decode(b + 4 * nbt, len - 4 * (size_t)nbt, &m,
	    &e), 0);
	assert_int_equal(m.type, want);
	if (want == (MSG_ADMIN_STATUS | PROTO_REPLY)) {
		const msgpack_object *it;
		uint32_t n;
		uint64_t v;
		const void *p;
		size_t plen;

		assert_int_equal(m.req_id, seq);
		assert_int_equal(mp_get_array(m.payload, 2, 2, &it, &n), 0);
		assert_int_equal(mp_get_u64(&it[0], &v), 0);
		assert_int_equal(v, seq);
		assert_int_equal(mp_get_bin(&it[1], 1024, &p, &plen), 0);
		assert_int_equal(plen, strlen(s));
		assert_memory_equal(p, s, plen);
	}
	proto_msg_free(&m);
	free(b);
}

/* The server dropped us: EOF (or a reset) within a few seconds, after
 * whatever it had sent. */
static bool
dropped(int fd)
{
	uint8_t buf[256];
	uint64_t end = mono_ms() + WAIT_MS;

	while (mono_ms() < end) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

/* ================= tests ================= */

/* Four threads call as fast as they can (echo, parked, tiny deadlines)
 * while the server restarts ten times: every callback exactly once, and
 * every successful reply is the right one. */
struct storm {
	struct ipc_client *c;
	struct slot *s;
	int cap;
	int n;			/* calls made */
	_Atomic bool *stop;
};

static void *
storm_thread(void *arg)
{
	struct storm *st = arg;
	int i;

	for (i = 0; i < st->cap && !atomic_load(st->stop); i++) {
		struct slot *s = &st->s[i];
		int k = (int)(s->seq % 11);
		uint64_t op = k == 0 ? OP_PARK : k == 1 ? OP_WORKER : OP_ECHO;
		uint64_t timeout = k == 0 ? 40 : k == 2 ? 1 : k == 3 ? 0 : 2000;

		call_echo(st->c, op, s, timeout);
		if (ipc_client_peers(st->c) == 0)
			usleep(500);	/* down: the calls fail at once */
		/* keep at most ~64 of ours in flight */
		if (i % 64 == 63) {
			uint64_t end = mono_ms() + WAIT_MS;

			for (int j = i - 63; j <= i && mono_ms() < end; j++)
				while (atomic_load(&st->s[j].count) == 0 &&
				    mono_ms() < end)
					usleep(200);
		}
	}
	st->n = i;
	return NULL;
}

static void
test_restart_storm(void **state)
{
	struct srv *sv = *state;
	enum { T = 4, CAP = 30000 };
	struct tally t = { 0 };
	struct storm st[T];
	pthread_t thr[T];
	struct ipc_client *c = client_up(sv->url);
	int ok = 0, unavail = 0, timeout = 0, other = 0, total = 0;
	struct slot *all = slots_new(&t, T * CAP, 1000);
	_Atomic bool stop = false;

	workers_start(sv, 2);
	for (int i = 0; i < T; i++) {
		st[i] = (struct storm){ c, all + i * CAP, CAP, 0, &stop };
		pthread_create(&thr[i], NULL, storm_thread, &st[i]);
	}
	for (int r = 0; r < 15; r++) {
		usleep(80000);
		workers_stop(sv);	/* answers what they hold first */
		srv_stop(sv);
		usleep((useconds_t)(r % 3) * 20000);
		srv_start(sv);
		workers_start(sv, 2);
	}
	usleep(50000);
	atomic_store(&stop, true);
	for (int i = 0; i < T; i++) {
		pthread_join(thr[i], NULL);
		total += st[i].n;
	}
	/* parked ones fail with the server's close */
	workers_stop(sv);
	srv_stop(sv);
	assert_true(wait_total(&t, total, WAIT_MS));
	ipc_client_close(c);
	assert_int_equal(atomic_load(&t.total), total);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	assert_int_equal(atomic_load(&t.errors), 0);
	for (int i = 0; i < T; i++) {
		assert_once(st[i].s, st[i].n);
		for (int j = 0; j < st[i].n; j++) {
			int rv = atomic_load(&st[i].s[j].rv);

			if (rv == 0)
				ok++;
			else if (rv == -LE_UNAVAIL)
				unavail++;
			else if (rv == -LE_TIMEOUT)
				timeout++;
			else
				other++;
		}
	}
	print_message("restart storm: %d ok, %d unavailable, %d timed out\n",
	    ok, unavail, timeout);
	assert_int_equal(other, 0);
	assert_true(ok > 0);
	free(all);
}

/* Deadlines of 0..3 ms racing the replies, from two threads: exactly one
 * callback each, rv 0 (with the right reply) or -LE_TIMEOUT; and the
 * connection keeps serving afterwards. */
struct race {
	struct ipc_client *c;
	struct slot *s;
	int n;
};

static void *
race_thread(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < r->n; i++) {
		call_echo(r->c, (i & 7) == 0 ? OP_WORKER : OP_ECHO, &r->s[i],
		    (uint64_t)(i % 4));
		if (i % 128 == 127)
			usleep(2000);
	}
	return NULL;
}

static void
test_tiny_timeouts(void **state)
{
	struct srv *sv = *state;
	enum { T = 2, N = 4000 };
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, T * N, 1);
	struct race r[T];
	pthread_t thr[T];
	struct ipc_client *c = client_up(sv->url);
	int ok = 0, to = 0;
	struct slot last;

	workers_start(sv, 2);
	for (int i = 0; i < T; i++) {
		r[i] = (struct race){ c, s + i * N, N };
		pthread_create(&thr[i], NULL, race_thread, &r[i]);
	}
	for (int i = 0; i < T; i++)
		pthread_join(thr[i], NULL);
	assert_true(wait_total(&t, T * N, WAIT_MS));
	assert_once(s, T * N);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	for (int i = 0; i < T * N; i++) {
		int rv = atomic_load(&s[i].rv);

		if (rv == 0)
			ok++;
		else if (rv == -LE_TIMEOUT)
			to++;
		else
			fail_msg("call %d: rv %d", i, rv);
	}
	print_message("tiny deadlines: %d answered, %d timed out\n", ok, to);
	/* late replies were dropped quietly: the connection still serves */
	memset(&last, 0, sizeof(last));
	last.t = &t;
	last.seq = 999999;
	call_echo(c, OP_ECHO, &last, 2000);
	assert_true(wait_total(&t, T * N + 1, WAIT_MS));
	assert_int_equal(atomic_load(&last.rv), 0);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	ipc_client_close(c);
	free(s);
}

/* Calls parked by the server, sent earlier by four threads, when the
 * client closes: each fails once with -LE_CLOSED before close returns;
 * those sent with ipc_call_send_loop to a loop that is not running are
 * delivered by loop_drain afterwards. The server still holds the parked
 * requests (the handler owns them); answering them frees them. */
struct parker {
	struct ipc_client *c;
	struct slot *s;
	int n;
	struct loop *own;	/* every other call for this loop */
};

static void *
parker_thread(void *arg)
{
	struct parker *p = arg;

	for (int i = 0; i < p->n; i++) {
		struct slot *s = &p->s[i];
		struct ipc_call *call = make_call(p->c, OP_PARK, s, 0, "", 0);

		if (i & 1)
			ipc_call_send_loop(call, 20000, p->own, on_slot, s);
		else
			ipc_call_send(call, 20000, on_slot, s);
	}
	return NULL;
}

static void
test_close_with_calls_in_flight(void **state)
{
	struct srv *sv = *state;
	enum { T = 4, N = 200 };
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, T * N, 1);
	struct parker p[T];
	pthread_t thr[T];
	struct ipc_client *c = client_up(sv->url);
	struct loop *own;
	pthread_t me = pthread_self();

	assert_int_equal(loop_new(&own), 0);	/* never run: drained */
	for (int i = 0; i < T; i++) {
		p[i] = (struct parker){ c, s + i * N, N, own };
		pthread_create(&thr[i], NULL, parker_thread, &p[i]);
	}
	for (int i = 0; i < T; i++)
		pthread_join(thr[i], NULL);
	assert_true(wait_ctr(&sv->parked_n, T * N, WAIT_MS));
	assert_int_equal(atomic_load(&t.total), 0);
	assert_true(ipc_server_inflight(sv->s) == T * N);
	ipc_client_close(c);
	/* the direct ones are done when close returns */
	assert_int_equal(atomic_load(&t.total), T * N / 2);
	loop_drain(own);
	assert_int_equal(atomic_load(&t.total), T * N);
	assert_once(s, T * N);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	for (int i = 0; i < T * N; i++) {
		assert_int_equal(atomic_load(&s[i].rv), -LE_CLOSED);
		assert_true(pthread_equal(s[i].thr, me));
	}
	loop_free(own);
	/* the client is gone; the handler still owns what it parked */
	assert_true(ipc_server_inflight(sv->s) == T * N);
	loop_post(sv->loop, answer_parked, sv);
	assert_true(wait_srv(sv->s, ipc_server_inflight, 0, WAIT_MS));
	free(s);
}

/* ipc_call_send_loop: callbacks on the owner loop's thread while it runs
 * (answered, timed out, failed at once while down); after the loop stops
 * and the client closes, loop_drain delivers the rest exactly once. */
static void
test_send_loop(void **state)
{
	struct srv *sv = *state;
	enum { N = 600 };
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, N, 1);
	struct ipc_client *c = client_up(sv->url);
	struct loop *own;
	pthread_t othr;
	int on_loop = 0;

	assert_int_equal(loop_new(&own), 0);
	pthread_create(&othr, NULL, loop_main, own);
	for (int i = 0; i < N / 2; i++) {
		struct ipc_call *call;
		uint64_t op = i % 3 == 0 ? OP_PARK : OP_ECHO;

		s[i].want_len = 0;
		call = make_call(c, op, &s[i], 0, "", 0);
		ipc_call_send_loop(call, op == OP_PARK ? 100 : 3000, own,
		    on_slot, &s[i]);
	}
	assert_true(wait_total(&t, N / 2, WAIT_MS));
	for (int i = 0; i < N / 2; i++) {
		assert_true(pthread_equal(s[i].thr, othr));
		on_loop++;
		assert_int_equal(atomic_load(&s[i].rv), i % 3 == 0 ?
		    -LE_TIMEOUT : 0);
	}
	/* server down: fail fast, still on the loop */
	workers_stop(sv);
	srv_stop(sv);
	{
		uint64_t end = mono_ms() + WAIT_MS;

		while (ipc_client_peers(c) != 0 && mono_ms() < end)
			usleep(1000);
		assert_int_equal(ipc_client_peers(c), 0);
	}
	for (int i = N / 2; i < N / 2 + 50; i++)
		ipc_call_send_loop(make_call(c, OP_ECHO, &s[i], 0, "", 0),
		    3000, own, on_slot, &s[i]);
	assert_true(wait_total(&t, N / 2 + 50, WAIT_MS));
	for (int i = N / 2; i < N / 2 + 50; i++) {
		assert_true(pthread_equal(s[i].thr, othr));
		assert_int_equal(atomic_load(&s[i].rv), -LE_UNAVAIL);
	}
	/* back up; calls whose replies may still sit on the loop's queue
	 * when it stops */
	srv_start(sv);
	assert_true(wait_for(peers_up, c, WAIT_MS));
	for (int i = N / 2 + 50; i < N; i++)
		ipc_call_send_loop(make_call(c, i % 2 ? OP_PARK : OP_ECHO,
		    &s[i], 0, "", 0), 10000, own, on_slot, &s[i]);
	usleep(20000);
	loop_stop(own);
	pthread_join(othr, NULL);
	ipc_client_close(c);
	loop_drain(own);
	assert_int_equal(atomic_load(&t.total), N);
	assert_once(s, N);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	for (int i = N / 2 + 50; i < N; i++) {
		int rv = atomic_load(&s[i].rv);

		if (i % 2)
			assert_int_equal(rv, -LE_CLOSED);
		else
			assert_true(rv == 0 || rv == -LE_CLOSED);
	}
	loop_free(own);
	assert_true(on_loop == N / 2);
	free(s);
}

/* Replies written from worker threads (ipc_reply_send off the loop, as
 * the contract allows) under load from three caller threads. */
struct wcaller {
	struct ipc_client *c;
	struct slot *s;
	int n;
};

static void *
wcaller_thread(void *arg)
{
	struct wcaller *w = arg;

	for (int i = 0; i < w->n; i++) {
		call_echo(w->c, OP_WORKER, &w->s[i], 5000);
		if (i % 100 == 99)
			usleep(1000);
	}
	return NULL;
}

static void
test_reply_off_loop(void **state)
{
	struct srv *sv = *state;
	enum { T = 3, N = 2000 };
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, T * N, 1);
	struct wcaller w[T];
	pthread_t thr[T];
	struct ipc_client *c = client_up(sv->url);

	workers_start(sv, 3);
	for (int i = 0; i < T; i++) {
		w[i] = (struct wcaller){ c, s + i * N, N };
		pthread_create(&thr[i], NULL, wcaller_thread, &w[i]);
	}
	for (int i = 0; i < T; i++)
		pthread_join(thr[i], NULL);
	assert_true(wait_total(&t, T * N, 2 * WAIT_MS));
	assert_once(s, T * N);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	for (int i = 0; i < T * N; i++)
		assert_int_equal(atomic_load(&s[i].rv), 0);
	assert_true(wait_srv(sv->s, ipc_server_inflight, 0, WAIT_MS));
	assert_true(ipc_server_served(sv->s) == T * N);
	workers_stop(sv);
	ipc_client_close(c);
	free(s);
}

/* Messages of several MiB both ways, three at once next to small ones:
 * a 6 MiB request echoed, a small request answered with 12 MiB. */
static void
test_large_messages(void **state)
{
	struct srv *sv = *state;
	enum { BIG = 6 << 20 };
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, 40, 1);
	struct ipc_client *c = client_up(sv->url);

	for (int i = 0; i < 40; i++) {
		struct ipc_call *call;

		if (i % 10 == 0) {
			uint8_t *b = pat_buf(s[i].seq, BIG);

			s[i].want_len = BIG;
			s[i].check_pat = true;
			call = make_call(c, OP_ECHO, &s[i], 0, b, BIG);
			free(b);
		} else if (i % 10 == 5) {
			s[i].want_len = 2 * BIG;
			s[i].check_pat = true;
			call = make_call(c, OP_BIG, &s[i], 2 * BIG, "", 0);
		} else {
			call_echo(c, OP_ECHO, &s[i], 10000);
			continue;
		}
		ipc_call_send(call, 10000, on_slot, &s[i]);
	}
	assert_true(wait_total(&t, 40, 3 * WAIT_MS));
	assert_once(s, 40);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(atomic_load(&s[i].rv), 0);
	ipc_client_close(c);
	free(s);
}

/* A peer writing its header and a request one byte at a time, then two
 * requests in one write: all answered, the backtrace echoed. */
static void
test_byte_by_byte(void **state)
{
	struct srv *sv = *state;
	int fd = raw_connect(sv->path);
	uint32_t id = 0x80000001u, id2 = 0x80000002u, id3 = 0x80000003u;
	struct stat st;
	uint8_t hdr[8], *f, *f2, *both;
	size_t flen, f2len;
	struct mpw w;

	/* ipc.h: the socket file is made 0600 */
	assert_int_equal(stat(sv->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	for (int i = 0; i < 8; i++) {
		write_all(fd, REQ0_HDR + i, 1);
		usleep(300);
	}
	assert_int_equal(read_all(fd, hdr, 8), 0);
	assert_memory_equal(hdr, REP0_HDR, 8);
	env_req(&w, MSG_ADMIN_STATUS, 11, "one byte at a time");
	f = build_frame(&id, 1, mpw_data(&w), mpw_len(&w), &flen);
	mpw_free(&w);
	for (size_t i = 0; i < flen; i++) {
		write_all(fd, f + i, 1);
		usleep(200);
	}
	check_raw_reply(fd, &id, 1, 11, "one byte at a time",
	    MSG_ADMIN_STATUS | PROTO_REPLY);
	free(f);
	env_req(&w, MSG_ADMIN_STATUS, 12, "first");
	f = build_frame(&id2, 1, mpw_data(&w), mpw_len(&w), &flen);
	mpw_free(&w);
	env_req(&w, MSG_ADMIN_STATUS, 13, "second");
	f2 = build_frame(&id3, 1, mpw_data(&w), mpw_len(&w), &f2len);
	mpw_free(&w);
	both = malloc(flen + f2len);
	memcpy(both, f, flen);
	memcpy(both + flen, f2, f2len);
	/* two requests, cut in the middle of the second's header */
	write_all(fd, both, flen + 4);
	usleep(20000);
	write_all(fd, both + flen + 4, f2len - 4);
	check_raw_reply(fd, &id2, 1, 12, "first",
	    MSG_ADMIN_STATUS | PROTO_REPLY);
	check_raw_reply(fd, &id3, 1, 13, "second",
	    MSG_ADMIN_STATUS | PROTO_REPLY);
	free(both);
	free(f);
	free(f2);
	close(fd);
	assert_true(ipc_server_bad(sv->s) == 0);
}

/* Three requests for 16 MiB each in one small write: the first reply alone
 * takes the server's reply queue past its bound, so the other two wait,
 * already read (the socket drained). The first flush brings the queue
 * back under the bound; the waiting requests must then be served though
 * no new bytes come to wake the server. */
static void
test_pipelined_behind_full_queue(void **state)
{
	struct srv *sv = *state;
	enum { N = 3, BIGREPLY = 16 << 20 };
	uint32_t bt[N];
	uint8_t *all = NULL;
	size_t alllen = 0;
	int fd = raw_client(sv->path);

	for (int i = 0; i < N; i++) {
		struct mpw w;
		uint8_t *f;
		size_t flen;

		bt[i] = 0x80000100u + (uint32_t)i;
		mpw_init(&w);
		proto_begin(&w, MSG_ADMIN_STATUS, 100 + (uint64_t)i, 5);
		mpw_array(&w, 4);
		mpw_u64(&w, OP_BIG);
		mpw_u64(&w, 100 + (uint64_t)i);
		mpw_u64(&w, BIGREPLY);
		mpw_bin(&w, "", 0);
		f = build_frame(&bt[i], 1, mpw_data(&w), mpw_len(&w), &flen);
		mpw_free(&w);
		all = realloc(all, alllen + flen);
		assert_non_null(all);
		memcpy(all + alllen, f, flen);
		alllen += flen;
		free(f);
	}
	write_all(fd, all, alllen);
	free(all);
	usleep(100000);		/* let the server read all three and stall */
	for (int i = 0; i < N; i++) {
		size_t len;
		uint8_t *b = read_frame(fd, &len);
		struct proto_msg m;
		struct lerr e;
		const msgpack_object *it;
		uint32_t n;
		const void *p;
		size_t plen;

		if (b == NULL)
			fail_msg("reply %d of %d never came", i + 1, N);
		assert_true(len > 4);
		assert_int_equal((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
		    (uint32_t)b[2] << 8 | b[3], bt[i]);
		assert_int_equal(proto_decode(b + 4, len - 4, &m, &e), 0);
		assert_int_equal(mp_get_array(m.payload, 2, 2, &it, &n), 0);
		assert_int_equal(mp_get_bin(&it[1], BIGREPLY, &p, &plen), 0);
		assert_int_equal(plen, BIGREPLY);
		assert_true(pat_ok(100 + (uint64_t)i, p, plen));
		proto_msg_free(&m);
		free(b);
	}
	close(fd);
	assert_true(ipc_server_bad(sv->s) == 0);
}

/* A server that accepts but never sends its SP header: opening returns at
 * once, calls fail at once (-LE_UNAVAIL, never called twice), nothing
 * waits on the missing header except close (at most the client's 2 s
 * handshake limit). */
struct mute {
	int lfd;
	_Atomic bool stop;
	int held[64];
	int nheld;
	_Atomic int accepted;
};

static void *
mute_thread(void *arg)
{
	struct mute *m = arg;

	while (!atomic_load(&m->stop)) {
		struct pollfd p = { m->lfd, POLLIN, 0 };
		int fd;

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept(m->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		atomic_fetch_add(&m->accepted, 1);
		if (m->nheld < 64)
			m->held[m->nheld++] = fd;
		else
			close(fd);
	}
	for (int i = 0; i < m->nheld; i++)
		close(m->held[i]);
	return NULL;
}

static int
listen_at(const char *path, int backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

static void
test_server_never_handshakes(void **state)
{
	struct srv *sv = *state;
	struct mute m = { 0 };
	char path[400], url[420];
	struct ipc_client *c;
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, 20, 1);
	pthread_t thr;
	struct lerr e;
	uint64_t t0;

	snprintf(path, sizeof(path), "%s/fake.sock", sv->dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	m.lfd = listen_at(path, 16);
	pthread_create(&thr, NULL, mute_thread, &m);
	t0 = mono_ms();
	assert_int_equal(ipc_client_open(&c, url, 9, &e), 0);
	assert_true(mono_ms() - t0 < 200);
	assert_true(wait_ctr(&m.accepted, 1, WAIT_MS));
	for (int i = 0; i < 20; i++) {
		t0 = mono_ms();
		call_echo(c, OP_ECHO, &s[i], 5000);
		assert_true(mono_ms() - t0 < 200);
		usleep(50000);
	}
	assert_true(wait_total(&t, 20, 1000));
	assert_once(s, 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(atomic_load(&s[i].rv), -LE_UNAVAIL);
	assert_int_equal(ipc_client_peers(c), 0);
	t0 = mono_ms();
	ipc_client_close(c);
	assert_true(mono_ms() - t0 < 3000);
	atomic_store(&m.stop, true);
	pthread_join(thr, NULL);
	close(m.lfd);
	unlink(path);
	free(s);
}

/* Peers that connect and go at once, or after half a header, or half a
 * frame: the server keeps no fd and serves the next client. */
static void
test_connect_close_storm(void **state)
{
	struct srv *sv = *state;
	struct ipc_client *c;
	struct tally t = { 0 };
	struct slot one = { .t = &t, .seq = 5 };
	int base;
	uint64_t end;

	/* warm up what the first client/connection allocates */
	c = client_up(sv->url);
	ipc_client_close(c);
	usleep(50000);
	base = count_fds();
	for (int i = 0; i < 3000; i++) {
		int fd = raw_connect(sv->path);

		if (i % 3 == 1)
			write_all(fd, REQ0_HDR, 3);
		else if (i % 3 == 2) {
			uint8_t h[9];

			write_all(fd, REQ0_HDR, 8);
			frame_hdr(h, 100);
			write_all(fd, h, 9);
			write_all(fd, "\x80\0\0\1", 4);
		}
		close(fd);
	}
	/* the server may still be accepting (and dropping) the last ones
	 * from its backlog: wait for the count to stay at base 300 ms */
	end = mono_ms() + 2 * WAIT_MS;
	for (uint64_t calm = mono_ms(); mono_ms() < end; usleep(2000)) {
		if (count_fds() > base)
			calm = mono_ms();
		else if (mono_ms() - calm >= 300)
			break;
	}
	if (count_fds() != base)
		list_fds();
	assert_int_equal(count_fds(), base);
	assert_true(ipc_server_bad(sv->s) == 0);
	c = client_up(sv->url);
	call_echo(c, OP_ECHO, &one, 2000);
	assert_true(wait_total(&t, 1, WAIT_MS));
	assert_int_equal(atomic_load(&one.rv), 0);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	ipc_client_close(c);
}

/* Bad framing on a user socket: each connection dropped and counted
 * once; an 8-word backtrace is served and echoed whole; garbage and a
 * reply-typed envelope get MSG_ERROR on a connection that stays; a peer
 * closing before its answer does not SIGPIPE us. */
static void
test_hostile_frames(void **state)
{
	struct srv *sv = *state;
	uint32_t bt8[8], bt9[9], id = 0x80000077u;
	uint8_t h[9], *f;
	size_t flen;
	uint64_t bad0 = ipc_server_bad(sv->s);
	struct mpw w;
	int fd;

	/* an empty frame */
	fd = raw_client(sv->path);
	frame_hdr(h, 0);
	write_all(fd, h, 9);
	assert_true(dropped(fd));
	close(fd);
	assert_true(wait_srv(sv->s, ipc_server_bad, bad0 + 1, WAIT_MS));
	/* 3 bytes: no room for a request id */
	fd = raw_client(sv->path);
	frame_hdr(h, 3);
	write_all(fd, h, 9);
	write_all(fd, "\x80\0\1", 3);
	assert_true(dropped(fd));
	close(fd);
	assert_true(wait_srv(sv->s, ipc_server_bad, bad0 + 2, WAIT_MS));
	/* a backtrace of 9 hops (none with the high bit in the first 8) */
	for (int i = 0; i < 9; i++)
		bt9[i] = (uint32_t)i + 1;
	bt9[8] |= 0x80000000u;
	env_req(&w, MSG_ADMIN_STATUS, 1, "nine");
	f = build_frame(bt9, 9, mpw_data(&w), mpw_len(&w), &flen);
	mpw_free(&w);
	fd = raw_client(sv->path);
	write_all(fd, f, flen);
	free(f);
	assert_true(dropped(fd));
	close(fd);
	assert_true(wait_srv(sv->s, ipc_server_bad, bad0 + 3, WAIT_MS));
	/* a frame one byte over the limit (only its header is sent) */
	fd = raw_client(sv->path);
	frame_hdr(h, FRAME_LIMIT + 1);
	write_all(fd, h, 9);
	assert_true(dropped(fd));
	close(fd);
	assert_true(wait_srv(sv->s, ipc_server_bad, bad0 + 4, WAIT_MS));
	/* not a message frame */
	fd = raw_client(sv->path);
	frame_hdr(h, 10);
	h[0] = 2;
	write_all(fd, h, 9);
	assert_true(dropped(fd));
	close(fd);
	assert_true(wait_srv(sv->s, ipc_server_bad, bad0 + 5, WAIT_MS));
	/* a rep0 peer (the wrong protocol) */
	fd = raw_connect(sv->path);
	write_all(fd, REP0_HDR, 8);
	assert_true(dropped(fd));
	close(fd);
	assert_true(wait_srv(sv->s, ipc_server_bad, bad0 + 6, WAIT_MS));
	/* a frame exactly at the limit is not refused for its size: the
	 * server waits for the rest (we go away instead) */
	fd = raw_client(sv->path);
	frame_hdr(h, FRAME_LIMIT);
	write_all(fd, h, 9);
	write_all(fd, "\x80\0\0\1", 4);
	usleep(50000);
	close(fd);
	/* an 8-word backtrace (the last with the high bit) is served and
	 * all 8 words come back; garbage and a reply type get MSG_ERROR on
	 * the same connection, which then still serves */
	for (int i = 0; i < 8; i++)
		bt8[i] = (uint32_t)i + 100;
	bt8[7] |= 0x80000000u;
	fd = raw_client(sv->path);
	env_req(&w, MSG_ADMIN_STATUS, 21, "eight hops");
	f = build_frame(bt8, 8, mpw_data(&w), mpw_len(&w), &flen);
	mpw_free(&w);
	write_all(fd, f, flen);
	free(f);
	check_raw_reply(fd, bt8, 8, 21, "eight hops",
	    MSG_ADMIN_STATUS | PROTO_REPLY);
	f = build_frame(&id, 1, "\xc1garbage", 8, &flen);
	write_all(fd, f, flen);
	free(f);
	check_raw_reply(fd, &id, 1, 0, NULL, MSG_ERROR | PROTO_REPLY);
	env_req(&w, MSG_ADMIN_STATUS | PROTO_REPLY, 22, "a reply");
	f = build_frame(&id, 1, mpw_data(&w), mpw_len(&w), &flen);
	mpw_free(&w);
	write_all(fd, f, flen);
	free(f);
	check_raw_reply(fd, &id, 1, 0, NULL, MSG_ERROR | PROTO_REPLY);
	env_req(&w, MSG_ADMIN_STATUS, 23, "still here");
	f = build_frame(&id, 1, mpw_data(&w), mpw_len(&w), &flen);
	mpw_free(&w);
	write_all(fd, f, flen);
	free(f);
	check_raw_reply(fd, &id, 1, 23, "still here",
	    MSG_ADMIN_STATUS | PROTO_REPLY);
	close(fd);
	assert_true(wait_srv(sv->s, ipc_server_bad, bad0 + 8, WAIT_MS));
	/* peers that send a request and close at once (the answer meets a
	 * closed socket: EPIPE, not SIGPIPE) */
	for (int i = 0; i < 200; i++) {
		fd = raw_client(sv->path);
		env_req(&w, MSG_ADMIN_STATUS, 30, "gone");
		f = build_frame(&id, 1, mpw_data(&w), mpw_len(&w), &flen);
		mpw_free(&w);
		write_all(fd, f, flen);
		free(f);
		close(fd);
		/* not back to back: srv_accept accepts without bound before
		 * it reads any EOF, so a tight loop of these can pile closed
		 * connections up to the 128 cap and be refused */
		usleep(500);
	}
	/* the server is fine */
	fd = raw_client(sv->path);
	env_req(&w, MSG_ADMIN_STATUS, 31, "fine");
	f = build_frame(&id, 1, mpw_data(&w), mpw_len(&w), &flen);
	mpw_free(&w);
	write_all(fd, f, flen);
	free(f);
	check_raw_reply(fd, &id, 1, 31, "fine", MSG_ADMIN_STATUS | PROTO_REPLY);
	close(fd);
	assert_true(ipc_server_bad(sv->s) == bad0 + 8);
}

/* The server closes with many requests parked: each call fails once
 * (-LE_UNAVAIL) at once, not at its deadline; a new server on the same
 * path serves the same client. */
static void
test_server_close_with_parked(void **state)
{
	struct srv *sv = *state;
	enum { N = 300 };
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, N + 1, 1);
	struct ipc_client *c = client_up(sv->url);
	uint64_t t0;

	for (int i = 0; i < N; i++)
		call_echo(c, OP_PARK, &s[i], 30000);
	assert_true(wait_ctr(&sv->parked_n, N, WAIT_MS));
	t0 = mono_ms();
	srv_stop(sv);
	assert_true(wait_total(&t, N, WAIT_MS));
	assert_true(mono_ms() - t0 < 3000);
	assert_once(s, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(atomic_load(&s[i].rv), -LE_UNAVAIL);
	srv_start(sv);
	assert_true(wait_for(peers_up, c, WAIT_MS));
	call_echo(c, OP_ECHO, &s[N], 2000);
	assert_true(wait_total(&t, N + 1, WAIT_MS));
	assert_int_equal(atomic_load(&s[N].rv), 0);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	ipc_client_close(c);
	free(s);
}

/* 10,000 requests parked on one connection, then the client closes: the
 * calls fail once each; the server keeps the requests (inflight stays:
 * the handler owns them until it answers), and answering them all later
 * frees them without writing to the dead connection. */
static void
test_many_parked_client_gone(void **state)
{
	struct srv *sv = *state;
	enum { N = 10000 };
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, N, 1);
	struct ipc_client *c = client_up(sv->url);
	uint64_t served0 = ipc_server_served(sv->s);

	for (int i = 0; i < N; i++)
		call_echo(c, OP_PARK, &s[i], 60000);
	assert_true(wait_ctr(&sv->parked_n, N, 2 * WAIT_MS));
	assert_true(ipc_server_inflight(sv->s) == N);
	ipc_client_close(c);
	assert_int_equal(atomic_load(&t.total), N);
	assert_once(s, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(atomic_load(&s[i].rv), -LE_CLOSED);
	usleep(100000);
	assert_true(ipc_server_inflight(sv->s) == N);
	loop_post(sv->loop, answer_parked, sv);
	assert_true(wait_srv(sv->s, ipc_server_inflight, 0, WAIT_MS));
	assert_true(ipc_server_served(sv->s) == served0);
	free(s);
}

/* A rep0 server played by hand: a reply with an unknown id and an empty
 * frame are ignored (the call then times out), garbage and the wrong
 * type give -LE_MALFORMED, a frame over the limit drops the connection
 * (the calls on it fail -LE_UNAVAIL) and the client dials again. */
static int
fake_accept(int lfd)
{
	struct pollfd p = { lfd, POLLIN, 0 };
	struct timeval tv = { 3, 0 };
	uint8_t hdr[8];
	int fd;

	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	assert_int_equal(read_all(fd, hdr, 8), 0);
	assert_memory_equal(hdr, REQ0_HDR, 8);
	write_all(fd, REP0_HDR, 8);
	return fd;
}

/* Reads a request; returns its id, fills its envelope req_id. */
static uint32_t
fake_read_req(int fd, uint64_t *req_id, uint32_t *type)
{
	size_t len;
	uint8_t *b = read_frame(fd, &len);
	struct proto_msg m;
	struct lerr e;
	uint32_t id;

	assert_non_null(b);
	assert_true(len > 4);
	id = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	assert_true(id & 0x80000000u);
	assert_int_equal(proto_decode(b + 4, len - 4, &m, &e), 0);
	*req_id = m.req_id;
	*type = m.type;
	proto_msg_free(&m);
	free(b);
	return id;
}

static void
fake_reply(int fd, uint32_t id, uint32_t type, uint64_t seq,
    const char *s)
{
	struct mpw w;
	uint8_t *f;
	size_t flen;

	mpw_init(&w);
	proto_begin(&w, type, seq, 123);
	mpw_array(&w, 2);
	mpw_u64(&w, seq);
	mpw_bin(&w, s, strlen(s));
	f = build_frame(&id, 1, mpw_data(&w), mpw_len(&w), &flen);
	mpw_free(&w);
	write_all(fd, f, flen);
	free(f);
}

static void
test_hostile_server(void **state)
{
	struct srv *sv = *state;
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, 8, 100);
	char path[400], url[420];
	struct ipc_client *c;
	struct lerr e;
	uint64_t rid;
	uint32_t id, type;
	uint8_t h[9];
	int lfd, fd;

	snprintf(path, sizeof(path), "%s/fake.sock", sv->dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	lfd = listen_at(path, 16);
	assert_int_equal(ipc_client_open(&c, url, 9, &e), 0);
	fd = fake_accept(lfd);
	assert_true(wait_for(peers_up, c, WAIT_MS));
	/* 0: an unknown id and an empty frame, then silence: times out */
	s[0].want_len = 0;
	ipc_call_send(make_call(c, OP_ECHO, &s[0], 0, "", 0), 300, on_slot,
	    &s[0]);
	id = fake_read_req(fd, &rid, &type);
	fake_reply(fd, id ^ 0x1234, type | PROTO_REPLY, s[0].seq, "");
	frame_hdr(h, 0);
	write_all(fd, h, 9);
	assert_true(wait_total(&t, 1, WAIT_MS));
	assert_int_equal(atomic_load(&s[0].rv), -LE_TIMEOUT);
	/* 1: the right id, garbage envelope */
	ipc_call_send(make_call(c, OP_ECHO, &s[1], 0, "", 0), 3000, on_slot,
	    &s[1]);
	id = fake_read_req(fd, &rid, &type);
	{
		uint8_t *f;
		size_t flen;

		f = build_frame(&id, 1, "\x93\x01\x02", 3, &flen);
		write_all(fd, f, flen);
		free(f);
	}
	assert_true(wait_total(&t, 2, WAIT_MS));
	assert_int_equal(atomic_load(&s[1].rv), -LE_MALFORMED);
	/* 2: the wrong reply type */
	ipc_call_send(make_call(c, OP_ECHO, &s[2], 0, "", 0), 3000, on_slot,
	    &s[2]);
	id = fake_read_req(fd, &rid, &type);
	fake_reply(fd, id, MSG_ADMIN_STATS | PROTO_REPLY, s[2].seq, "");
	assert_true(wait_total(&t, 3, WAIT_MS));
	assert_int_equal(atomic_load(&s[2].rv), -LE_MALFORMED);
	/* 3: a good one; its boot id is seen */
	s[3].want_len = 2;
	ipc_call_send(make_call(c, OP_ECHO, &s[3], 0, "ok", 2), 3000, on_slot,
	    &s[3]);
	id = fake_read_req(fd, &rid, &type);
	fake_reply(fd, id, type | PROTO_REPLY, s[3].seq, "ok");
	assert_true(wait_total(&t, 4, WAIT_MS));
	assert_int_equal(atomic_load(&s[3].rv), 0);
	assert_true(ipc_client_peer_boot(c) == 123);
	/* 4, 5: in flight when a frame over the limit comes */
	ipc_call_send(make_call(c, OP_ECHO, &s[4], 0, "", 0), 10000, on_slot,
	    &s[4]);
	ipc_call_send(make_call(c, OP_ECHO, &s[5], 0, "", 0), 10000, on_slot,
	    &s[5]);
	(void)fake_read_req(fd, &rid, &type);
	(void)fake_read_req(fd, &rid, &type);
	frame_hdr(h, FRAME_LIMIT + 1);
	write_all(fd, h, 9);
	assert_true(wait_total(&t, 6, WAIT_MS));
	assert_int_equal(atomic_load(&s[4].rv), -LE_UNAVAIL);
	assert_int_equal(atomic_load(&s[5].rv), -LE_UNAVAIL);
	assert_true(dropped(fd));
	close(fd);
	/* it dials again */
	fd = fake_accept(lfd);
	assert_true(wait_for(peers_up, c, WAIT_MS));
	s[6].want_len = 3;
	ipc_call_send(make_call(c, OP_ECHO, &s[6], 0, "yes", 3), 3000,
	    on_slot, &s[6]);
	id = fake_read_req(fd, &rid, &type);
	fake_reply(fd, id, type | PROTO_REPLY, s[6].seq, "yes");
	assert_true(wait_total(&t, 7, WAIT_MS));
	assert_int_equal(atomic_load(&s[6].rv), 0);
	/* the server goes away with a call in flight */
	ipc_call_send(make_call(c, OP_ECHO, &s[7], 0, "", 0), 10000, on_slot,
	    &s[7]);
	(void)fake_read_req(fd, &rid, &type);
	close(fd);
	assert_true(wait_total(&t, 8, WAIT_MS));
	assert_int_equal(atomic_load(&s[7].rv), -LE_UNAVAIL);
	assert_once(s, 8);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	ipc_client_close(c);
	close(lfd);
	unlink(path);
	free(s);
}

/* ---- loop-mode clients (ipc_client_open_loop) ---- */

/* A driver on the owner loop's thread: every 2 ms a timer issues a batch
 * of calls (echo, parked, off-loop answered, 0-1 ms deadlines) with
 * ipc_call_send_loop, until all slots are used. */
struct lcdrive {
	struct ipc_client *c;
	struct loop *l;
	struct loop_timer *tm;
	struct slot *s;
	int n, next;
	_Atomic bool all_sent;
};

static void
lcdrive_tick(void *arg)
{
	struct lcdrive *d = arg;

	if (!loop_on_thread(d->l))
		atomic_fetch_add(&d->s[0].t->mismatch, 1);
	for (int k = 0; k < 16 && d->next < d->n; k++, d->next++) {
		struct slot *s = &d->s[d->next];
		int m = (int)(s->seq % 9);
		uint64_t op = m == 0 ? OP_PARK : m == 1 ? OP_WORKER : OP_ECHO;
		uint8_t small[16];
		size_t len = s->seq % sizeof(small);

		for (size_t i = 0; i < len; i++)
			small[i] = pat(s->seq, i);
		s->want_len = len;
		s->check_pat = true;
		ipc_call_send_loop(make_call(d->c, op, s, 0, small, len),
		    m == 0 ? 30 : m == 2 ? 0 : m == 3 ? 1 : 2000, d->l,
		    on_slot, s);
	}
	if (d->next < d->n)
		loop_timer_arm(d->tm, 2);
	else
		atomic_store(&d->all_sent, true);
}

static bool
lcdrive_sent(void *arg)
{
	return atomic_load(&((struct lcdrive *)arg)->all_sent);
}

static void
test_loop_client_storm(void **state)
{
	struct srv *sv = *state;
	enum { N = 6000 };
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, N, 1);
	struct lcdrive d = { 0 };
	pthread_t othr;
	struct lerr e;
	int ok = 0, unavail = 0, to = 0, on_loop = 0;

	assert_int_equal(loop_new(&d.l), 0);
	assert_int_equal(ipc_client_open_loop(&d.c, sv->url, 9, d.l, &e), 0);
	d.s = s;
	d.n = N;
	d.tm = loop_timer_new(d.l, lcdrive_tick, &d);
	pthread_create(&othr, NULL, loop_main, d.l);
	assert_true(wait_for(peers_up, d.c, WAIT_MS));
	workers_start(sv, 2);
	loop_post(d.l, lcdrive_tick, &d);
	for (int r = 0; r < 8 && !lcdrive_sent(&d); r++) {
		usleep(60000);
		workers_stop(sv);
		srv_stop(sv);
		usleep((useconds_t)(r % 2) * 30000);
		srv_start(sv);
		workers_start(sv, 2);
	}
	assert_true(wait_for(lcdrive_sent, &d, 3 * WAIT_MS));
	assert_true(wait_total(&t, N, WAIT_MS));
	loop_stop(d.l);
	pthread_join(othr, NULL);
	loop_timer_free(d.tm);
	ipc_client_close(d.c);		/* owner's thread, loop stopped */
	loop_drain(d.l);
	loop_free(d.l);
	assert_int_equal(atomic_load(&t.total), N);
	assert_once(s, N);
	assert_int_equal(atomic_load(&t.mismatch), 0);
	assert_int_equal(atomic_load(&t.errors), 0);
	for (int i = 0; i < N; i++) {
		int rv = atomic_load(&s[i].rv);

		if (pthread_equal(s[i].thr, othr))
			on_loop++;
		if (rv == 0)
			ok++;
		else if (rv == -LE_UNAVAIL)
			unavail++;
		else if (rv == -LE_TIMEOUT)
			to++;
		else
			fail_msg("call %d: rv %d", i, rv);
	}
	print_message("loop client storm: %d ok, %d unavailable, %d timed "
	    "out\n", ok, unavail, to);
	assert_int_equal(on_loop, N);
	assert_true(ok > 0);
	free(s);
}

/* A loop-mode client against a server that never sends its SP header,
 * and against a full listen backlog: opening and closing never block
 * (its connect is non-blocking), calls fail at once, and it gives up on
 * the header after its 2 s limit and dials again. */
struct mute_caller {
	struct ipc_client *c;
	struct loop *l;
	struct slot *s;
	int next;
};

static void
mute_call(void *arg)
{
	struct mute_caller *mc = arg;
	struct slot *s = &mc->s[mc->next++];

	ipc_call_send_loop(make_call(mc->c, OP_ECHO, s, 0, "", 0), 5000,
	    mc->l, on_slot, s);
}

static void
test_loop_client_mute_server(void **state)
{
	struct srv *sv = *state;
	struct mute_caller mc = { 0 };
	struct mute m = { 0 };
	char path[400], url[420];
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, 10, 1);
	struct ipc_client *c;
	struct loop *l;
	pthread_t lthr, mthr;
	struct lerr e;
	uint64_t t0;
	int filler, lfd0;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(path, sizeof(path), "%s/fake.sock", sv->dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	m.lfd = listen_at(path, 16);
	pthread_create(&mthr, NULL, mute_thread, &m);
	assert_int_equal(loop_new(&l), 0);
	t0 = mono_ms();
	assert_int_equal(ipc_client_open_loop(&c, url, 9, l, &e), 0);
	assert_true(mono_ms() - t0 < 200);
	pthread_create(&lthr, NULL, loop_main, l);
	mc.c = c;
	mc.l = l;
	mc.s = s;
	for (int i = 0; i < 10; i++) {
		loop_post(l, mute_call, &mc);	/* calls from its loop */
		usleep(10000);
	}
	assert_true(wait_total(&t, 10, 1000));
	assert_once(s, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(atomic_load(&s[i].rv), -LE_UNAVAIL);
	/* the header never comes: after 2 s it dials again */
	assert_true(wait_ctr(&m.accepted, 2, 4000));
	assert_int_equal(ipc_client_peers(c), 0);
	loop_stop(l);
	pthread_join(lthr, NULL);
	t0 = mono_ms();
	ipc_client_close(c);
	loop_drain(l);
	assert_true(mono_ms() - t0 < 100);
	loop_free(l);
	atomic_store(&m.stop, true);
	pthread_join(mthr, NULL);
	close(m.lfd);
	/* a full backlog: the non-blocking connect fails, nothing blocks */
	lfd0 = listen_at(path, 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	filler = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(connect(filler, (struct sockaddr *)&sa, sizeof(sa)),
	    0);
	assert_int_equal(loop_new(&l), 0);
	t0 = mono_ms();
	assert_int_equal(ipc_client_open_loop(&c, url, 9, l, &e), 0);
	ipc_client_close(c);
	loop_drain(l);
	assert_true(mono_ms() - t0 < 200);
	loop_free(l);
	close(filler);
	close(lfd0);
	unlink(path);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restart_storm, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tiny_timeouts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_with_calls_in_flight,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reply_off_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_large_messages, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_byte_by_byte, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_pipelined_behind_full_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_never_handshakes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_close_storm,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_frames, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_server_close_with_parked,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_parked_client_gone,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_server, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loop_client_storm, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loop_client_mute_server,
		    setup, teardown),
	};

	/* A write to a vanished peer must never raise SIGPIPE. */
	signal(SIGPIPE, SIG_DFL);
	if (getenv("IPCS_FILTER") != NULL)
		cmocka_set_test_filter(getenv("IPCS_FILTER"));
	log_setlevel(getenv("IPCS_VERBOSE") != NULL ? LOG_LVL_DEBUG :
	    LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
