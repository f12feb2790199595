/* ipc_test.c: the IPC layer over real unix sockets and a real
 * loop thread: request/reply, a parked request answered later, a fast
 * failure while the server is down, a server restart failing a parked
 * call (no silent resend), a malformed request on a user socket, both
 * directions against nng's own req0/rep0 sockets, concurrent callers,
 * deadlines, bad SP framing, and cancels (a parked request its caller
 * takes back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "gotime.h"
#include "ipc.h"
#include "log.h"
#include "loop.h"

struct fixture {
	char dir[256];
	char url[300];
	struct loop *loop;
	pthread_t thr;
	struct ipc_server *srv;
	struct ipc_req *parked;
	int handled;
	int cancels;	/* cancel hooks run */
};

static void *
loop_thread(void *arg)
{
	loop_run(arg);
	return NULL;
}

static void
on_cancel(void *arg, struct ipc_req *r)
{
	struct fixture *f = arg;

	assert_ptr_equal(r, f->parked);
	f->cancels++;
	f->parked = NULL;
	ipc_reply_canceled(r);
}

/* Echoes an admin request's arg as the reply text, or parks it when the
 * arg is "park" ("parkc": with a cancel hook). */
static void
handler(void *arg, struct ipc_req *r)
{
	struct fixture *f = arg;
	struct msg_admin_req req;
	struct msg_admin_reply rep;
	struct lerr e;

	f->handled++;
	assert_int_equal(msg_admin_req_dec(&r->msg, &req, &e), 0);
	if (req.arg_len == 4 && memcmp(req.arg, "park", 4) == 0) {
		f->parked = r;
		return;
	}
	if (req.arg_len == 5 && memcmp(req.arg, "parkc", 5) == 0) {
		/* parked, and its caller may take it back */
		f->parked = r;
		ipc_req_on_cancel(r, on_cancel, f);
		return;
	}
	rep.code = 0;
	rep.text = req.arg;
	rep.text_len = req.arg_len;
	msg_admin_reply_enc(ipc_reply_begin(r, r->msg.type), &rep);
	ipc_reply_send(r);
}

static void
answer_parked(void *arg)
{
	struct fixture *f = arg;
	struct msg_admin_reply rep = { 0, "late", 4 };

	msg_admin_reply_enc(ipc_reply_begin(f->parked, MSG_ADMIN_STATUS),
	    &rep);
	ipc_reply_send(f->parked);
	f->parked = NULL;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct lerr e;
	const char *tmp = getenv("TMPDIR");

	snprintf(f->dir, sizeof(f->dir), "%s/ipct.XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof(f->url), "ipc://%s/t.sock", f->dir);
	assert_int_equal(loop_new(&f->loop), 0);
	assert_int_equal(ipc_server_open(&f->srv, f->url, f->loop, IPC_USER,
	    handler, f, 7, &e), 0);
	pthread_create(&f->thr, NULL, loop_thread, f->loop);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[400];

	loop_stop(f->loop);
	pthread_join(f->thr, NULL);
	ipc_server_close(f->srv);
	loop_free(f->loop);
	snprintf(path, sizeof(path), "%s/t.sock", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

struct result {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int done;
	int rv;
	char text[64];
	uint32_t type;
	int32_t code;	/* an error reply's */
};

static void
on_reply(void *arg, int rv, struct proto_msg *m)
{
	struct result *res = arg;
	struct msg_admin_reply rep;
	struct lerr e;

	pthread_mutex_lock(&res->mtx);
	res->rv = rv;
	if (rv == 0) {
		struct msg_error me;

		res->type = m->type;
		if (m->type == (MSG_ERROR | PROTO_REPLY) &&
		    msg_error_dec(m, &me, &e) == 0)
			res->code = me.code;
		if (m->type != (MSG_ERROR | PROTO_REPLY) &&
		    msg_admin_reply_dec(m, &rep, &e) == 0)
			snprintf(res->text, sizeof(res->text), "%.*s",
			    (int)rep.text_len, rep.text);
	}
	res->done = 1;
	pthread_cond_signal(&res->cv);
	pthread_mutex_unlock(&res->mtx);
}

static void
result_init(struct result *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mtx, NULL);
	pthread_cond_init(&r->cv, NULL);
}

static int
result_wait(struct result *r, uint64_t ms)
{
	uint64_t end = mono_ms() + ms;

	pthread_mutex_lock(&r->mtx);
	while (!r->done && mono_ms() < end) {
		pthread_mutex_unlock(&r->mtx);
		usleep(2000);
		pthread_mutex_lock(&r->mtx);
	}
	pthread_mutex_unlock(&r->mtx);
	return r->done;
}

/* Returns the call's id (for ipc_cancel). */
static uint64_t
send_arg(struct ipc_client *c, const char *arg, uint64_t timeout,
    struct result *res)
{
	struct ipc_call *call = ipc_call_new(c, MSG_ADMIN_STATUS);
	struct msg_admin_req req = { arg, strlen(arg) };
	uint64_t id = ipc_call_id(call);

	msg_admin_req_enc(ipc_call_writer(call), &req);
	ipc_call_send(call, timeout, on_reply, res);
	return id;
}

static _Atomic uint64_t x_last_id;	/* send_arg_loop's last call, on its loop */

static void
send_arg_loop(struct ipc_client *c, const char *arg, uint64_t timeout,
    struct loop *l, struct result *res)
{
	struct ipc_call *call = ipc_call_new(c, MSG_ADMIN_STATUS);
	struct msg_admin_req req = { arg, strlen(arg) };

	msg_admin_req_enc(ipc_call_writer(call), &req);
	x_last_id = ipc_call_id(call);
	ipc_call_send_loop(call, timeout, l, on_reply, res);
}

static void
wait_peers(struct ipc_client *c)
{
	uint64_t end = mono_ms() + 5000;

	while (ipc_client_peers(c) == 0 && mono_ms() < end)
		usleep(2000);
	assert_true(ipc_client_peers(c) > 0);
}

/* A thread-mode client of the fixture's server, connected. */
static struct ipc_client *
open_client(struct fixture *f)
{
	struct ipc_client *c;
	struct lerr e;

	assert_int_equal(ipc_client_open(&c, f->url, 9, &e), 0);
	wait_peers(c);
	return c;
}

static void
test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c;
	struct result res;
	struct lerr e;

	assert_int_equal(ipc_client_open(&c, f->url, 9, &e), 0);
	wait_peers(c);
	result_init(&res);
	send_arg(c, "hello", 2000, &res);
	assert_true(result_wait(&res, 3000));
	assert_int_equal(res.rv, 0);
	assert_string_equal(res.text, "hello");
	assert_true(ipc_client_peer_boot(c) == 7);
	ipc_client_close(c);
}

static void
test_parked_answered_later(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c;
	struct result res, res2;
	struct lerr e;

	assert_int_equal(ipc_client_open(&c, f->url, 9, &e), 0);
	wait_peers(c);
	result_init(&res);
	send_arg(c, "park", 5000, &res);
	usleep(100000);
	assert_false(res.done);
	/* other requests still flow while one is parked */
	result_init(&res2);
	send_arg(c, "other", 2000, &res2);
	assert_true(result_wait(&res2, 3000));
	assert_string_equal(res2.text, "other");
	loop_post(f->loop, answer_parked, f);
	assert_true(result_wait(&res, 3000));
	assert_int_equal(res.rv, 0);
	assert_string_equal(res.text, "late");
	ipc_client_close(c);
}

static void
test_down_fails_fast(void **state)
{
	struct ipc_client *c;
	struct result res;
	struct lerr e;
	uint64_t t0;

	(void)state;
	assert_int_equal(ipc_client_open(&c, "ipc:///tmp/lictor-no-such.sock",
	    9, &e), 0);
	result_init(&res);
	t0 = mono_ms();
	send_arg(c, "x", 5000, &res);
	assert_true(result_wait(&res, 1000));
	assert_int_equal(res.rv, -LE_UNAVAIL);
	assert_true(mono_ms() - t0 < 1000);
	ipc_client_close(c);
}

static void
test_restart_fails_parked(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c;
	struct result res;
	struct lerr e;

	assert_int_equal(ipc_client_open(&c, f->url, 9, &e), 0);
	wait_peers(c);
	result_init(&res);
	send_arg(c, "park", 10000, &res);
	usleep(100000);
	assert_false(res.done);
	/* the server goes away with the request parked */
	loop_stop(f->loop);
	pthread_join(f->thr, NULL);
	ipc_server_close(f->srv);
	assert_true(result_wait(&res, 3000));
	assert_int_not_equal(res.rv, 0);
	/* a new server on the same path serves the same client */
	loop_free(f->loop);
	assert_int_equal(loop_new(&f->loop), 0);
	f->parked = NULL;
	assert_int_equal(ipc_server_open(&f->srv, f->url, f->loop, IPC_USER,
	    handler, f, 8, &e), 0);
	pthread_create(&f->thr, NULL, loop_thread, f->loop);
	wait_peers(c);
	result_init(&res);
	send_arg(c, "again", 3000, &res);
	assert_true(result_wait(&res, 4000));
	assert_int_equal(res.rv, 0);
	assert_string_equal(res.text, "again");
	assert_true(ipc_client_peer_boot(c) == 8);
	ipc_client_close(c);
}

static void
test_garbage_on_user_socket(void **state)
{
	struct fixture *f = *state;
	nng_socket s;
	nng_msg *m;
	struct proto_msg pm;
	struct lerr e;

	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000);
	assert_int_equal(nng_dial(s, f->url, NULL, 0), 0);
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	nng_msg_append(m, "\xde\xad\xbe\xef garbage", 12);
	assert_int_equal(nng_sendmsg(s, m, 0), 0);
	assert_int_equal(nng_recvmsg(s, &m, 0), 0);
	assert_int_equal(proto_decode(nng_msg_body(m), nng_msg_len(m), &pm,
	    &e), 0);
	assert_int_equal(pm.type, MSG_ERROR | PROTO_REPLY);
	proto_msg_free(&pm);
	nng_msg_free(m);
	nng_close(s);
	assert_true(ipc_server_bad(f->srv) == 1);
	assert_int_equal(f->handled, 0);
}

/* nng's own req0 socket through ipc_request_sync (what `lictor ctl`
 * uses) gets a proper answer from our server. */
static void
write_arg(struct mpw *w, void *arg)
{
	struct msg_admin_req req = { arg, strlen(arg) };

	msg_admin_req_enc(w, &req);
}

static void
test_nng_req_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct proto_msg m;
	struct msg_admin_reply rep;
	void *keep;
	struct lerr e;

	for (int i = 0; i < 20; i++) {
		char arg[32];

		snprintf(arg, sizeof(arg), "nng-%d", i);
		assert_int_equal(ipc_request_sync(f->url, MSG_ADMIN_STATUS,
		    write_arg, arg, 3000, &m, &keep, &e), 0);
		assert_int_equal(m.type, MSG_ADMIN_STATUS | PROTO_REPLY);
		assert_int_equal(msg_admin_reply_dec(&m, &rep, &e), 0);
		assert_int_equal((int)rep.text_len, (int)strlen(arg));
		assert_memory_equal(rep.text, arg, rep.text_len);
		proto_msg_free(&m);
		ipc_buf_free(keep);
	}
	assert_true(ipc_server_served(f->srv) >= 20);
}

/* Our client against nng's own rep0 socket: nng strips and restores the
 * request id, so a well-formed exchange proves the framing matches. */
struct nng_echo {
	nng_socket s;
	int served;
};

static void *
nng_echo_thread(void *arg)
{
	struct nng_echo *ne = arg;
	nng_msg *m;

	while (nng_recvmsg(ne->s, &m, 0) == 0) {
		struct proto_msg pm;
		struct msg_admin_req req;
		struct msg_admin_reply rep;
		struct lerr e;
		struct mpw w;
		nng_msg *out;

		assert_int_equal(proto_decode(nng_msg_body(m), nng_msg_len(m),
		    &pm, &e), 0);
		assert_int_equal(msg_admin_req_dec(&pm, &req, &e), 0);
		mpw_init(&w);
		proto_begin(&w, pm.type | PROTO_REPLY, pm.req_id, 42);
		rep.code = 0;
		rep.text = req.arg;
		rep.text_len = req.arg_len;
		msg_admin_reply_enc(&w, &rep);
		assert_int_equal(nng_msg_alloc(&out, 0), 0);
		nng_msg_append(out, mpw_data(&w), mpw_len(&w));
		mpw_free(&w);
		proto_msg_free(&pm);
		nng_msg_free(m);
		assert_int_equal(nng_sendmsg(ne->s, out, 0), 0);
		ne->served++;
	}
	return NULL;
}

static void
test_client_against_nng_rep(void **state)
{
	struct fixture *f = *state;
	struct nng_echo ne = { 0 };
	struct ipc_client *c;
	struct result res;
	pthread_t thr;
	char url[400];
	struct lerr e;

	snprintf(url, sizeof(url), "ipc://%s/nng.sock", f->dir);
	assert_int_equal(nng_rep0_open(&ne.s), 0);
	assert_int_equal(nng_listen(ne.s, url, NULL, 0), 0);
	pthread_create(&thr, NULL, nng_echo_thread, &ne);
	assert_int_equal(ipc_client_open(&c, url, 9, &e), 0);
	wait_peers(c);
	for (int i = 0; i < 50; i++) {
		char arg[32];

		snprintf(arg, sizeof(arg), "to-nng-%d", i);
		result_init(&res);
		send_arg(c, arg, 3000, &res);
		assert_true(result_wait(&res, 4000));
		assert_int_equal(res.rv, 0);
		assert_string_equal(res.text, arg);
	}
	assert_true(ipc_client_peer_boot(c) == 42);
	ipc_client_close(c);
	nng_close(ne.s);
	pthread_join(thr, NULL);
	assert_int_equal(ne.served, 50);
	snprintf(url, sizeof(url), "%s/nng.sock", f->dir);
	unlink(url);
}

/* Many calls from several threads at once, some parked: every one gets
 * its own answer, and the parked one its late answer. */
struct burst {
	struct ipc_client *c;
	int id;
	int ok;
};

static void *
burst_thread(void *arg)
{
	struct burst *b = arg;

	for (int i = 0; i < 200; i++) {
		struct result res;
		char a[32];

		snprintf(a, sizeof(a), "t%d-%d", b->id, i);
		result_init(&res);
		send_arg(b->c, a, 5000, &res);
		if (result_wait(&res, 6000) && res.rv == 0 &&
		    strcmp(res.text, a) == 0)
			b->ok++;
	}
	return NULL;
}

static void
test_concurrent_callers(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c;
	struct burst b[4];
	pthread_t thr[4];
	struct lerr e;

	assert_int_equal(ipc_client_open(&c, f->url, 9, &e), 0);
	wait_peers(c);
	for (int i = 0; i < 4; i++) {
		b[i] = (struct burst){ c, i, 0 };
		pthread_create(&thr[i], NULL, burst_thread, &b[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(thr[i], NULL);
		assert_int_equal(b[i].ok, 200);
	}
	ipc_client_close(c);
}

/* A call whose server never answers fails with a timeout at its
 * deadline, not before and not much after. */
static void
test_call_timeout(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c;
	struct result res;
	struct lerr e;
	uint64_t t0, dt;

	assert_int_equal(ipc_client_open(&c, f->url, 9, &e), 0);
	wait_peers(c);
	result_init(&res);
	t0 = mono_ms();
	send_arg(c, "park", 300, &res);
	assert_true(result_wait(&res, 3000));
	dt = mono_ms() - t0;
	assert_int_equal(res.rv, -LE_TIMEOUT);
	assert_true(dt >= 290);
	assert_true(dt < 2000);
	/* The late answer to the timed-out call is dropped quietly and
	 * the connection goes on serving. */
	loop_post(f->loop, answer_parked, f);
	result_init(&res);
	send_arg(c, "after", 2000, &res);
	assert_true(result_wait(&res, 3000));
	assert_int_equal(res.rv, 0);
	assert_string_equal(res.text, "after");
	ipc_client_close(c);
}

/* Bad framing on a sibling socket's wire: a connection that is not SP,
 * or sends a frame over the limit, is dropped and counted; the server
 * keeps serving others. */
static void
test_bad_framing_dropped(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const uint8_t req_hdr[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	uint8_t big[9] = { 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t buf[64];
	struct ipc_client *c;
	struct result res;
	struct lerr e;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->url + 6);
	/* not SP at all */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	assert_int_equal(read(fd, buf, 8), 8);	/* the server's header */
	/* then EOF, or a reset for the bytes it did not read */
	assert_true(read(fd, buf, sizeof(buf)) <= 0);
	close(fd);
	/* SP, then a frame over the limit */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req_hdr, 8), 8);
	assert_int_equal(write(fd, big, 9), 9);
	assert_int_equal(read(fd, buf, 8), 8);
	assert_true(read(fd, buf, sizeof(buf)) <= 0);
	close(fd);
	assert_true(ipc_server_bad(f->srv) == 2);
	assert_int_equal(f->handled, 0);
	assert_int_equal(ipc_client_open(&c, f->url, 9, &e), 0);
	wait_peers(c);
	result_init(&res);
	send_arg(c, "still", 2000, &res);
	assert_true(result_wait(&res, 3000));
	assert_string_equal(res.text, "still");
	ipc_client_close(c);
}

/* A reply queued on a loop when the client closes is delivered by the
 * owner's loop_drain, and a call its callback makes then fails with
 * -LE_CLOSED instead of touching a freed client (kvd's fetch does this
 * at stop). */
struct again {
	struct ipc_client *c;
	int first_rv;
	int second_rv;
	int calls;
};

static void
on_again_second(void *arg, int rv, struct proto_msg *m)
{
	struct again *a = arg;

	(void)m;
	a->second_rv = rv;
	a->calls++;
}

static void
on_again_first(void *arg, int rv, struct proto_msg *m)
{
	struct again *a = arg;
	struct ipc_call *call;
	struct msg_admin_req req = { "x", 1 };

	(void)m;
	a->first_rv = rv;
	a->calls++;
	call = ipc_call_new(a->c, MSG_ADMIN_STATUS);
	msg_admin_req_enc(ipc_call_writer(call), &req);
	ipc_call_send_loop(call, 1000, NULL, on_again_second, a);
}

static void
test_call_after_close(void **state)
{
	struct fixture *f = *state;
	struct loop *own;
	struct again a = { 0 };
	struct ipc_call *call;
	struct msg_admin_req req = { "hi", 2 };
	struct lerr e;

	assert_int_equal(loop_new(&own), 0);	/* never run: only drained */
	assert_int_equal(ipc_client_open(&a.c, f->url, 9, &e), 0);
	wait_peers(a.c);
	call = ipc_call_new(a.c, MSG_ADMIN_STATUS);
	msg_admin_req_enc(ipc_call_writer(call), &req);
	ipc_call_send_loop(call, 2000, own, on_again_first, &a);
	usleep(300000);		/* the reply is queued on `own` by now */
	ipc_client_close(a.c);
	assert_int_equal(a.calls, 0);
	loop_drain(own);
	assert_int_equal(a.calls, 2);
	assert_int_equal(a.first_rv, 0);
	assert_int_equal(a.second_rv, -LE_CLOSED);
	loop_free(own);
}

/* A loop-mode client (no I/O thread): calls made on its loop's thread,
 * replies read and delivered by that loop; deadlines, a server restart
 * failing a parked call, and the redial after it. */
struct lc {
	struct loop *l;
	pthread_t thr;
	struct ipc_client *c;
	const char *arg;
	uint64_t timeout;
	struct result *res;
};

static void
lc_send(void *arg)
{
	struct lc *x = arg;

	send_arg_loop(x->c, x->arg, x->timeout, x->l, x->res);
}

static void
lc_call(struct lc *x, const char *a, uint64_t timeout, struct result *res)
{
	x->arg = a;
	x->timeout = timeout;
	x->res = res;
	result_init(res);
	loop_post(x->l, lc_send, x);
}

static void
test_loop_client(void **state)
{
	struct fixture *f = *state;
	struct lc x = { 0 };
	struct result res, res2;
	struct lerr e;
	uint64_t t0;

	assert_int_equal(loop_new(&x.l), 0);
	assert_int_equal(ipc_client_open_loop(&x.c, f->url, 9, x.l, &e), 0);
	pthread_create(&x.thr, NULL, loop_thread, x.l);
	wait_peers(x.c);
	lc_call(&x, "hello", 2000, &res);
	assert_true(result_wait(&res, 3000));
	assert_int_equal(res.rv, 0);
	assert_string_equal(res.text, "hello");
	assert_true(ipc_client_peer_boot(x.c) == 7);
	/* a deadline */
	t0 = mono_ms();
	lc_call(&x, "park", 300, &res);
	assert_true(result_wait(&res, 3000));
	assert_int_equal(res.rv, -LE_TIMEOUT);
	assert_true(mono_ms() - t0 >= 290);
	loop_post(f->loop, answer_parked, f);	/* late answer: dropped */
	/* many in a row, in order */
	for (int i = 0; i < 100; i++) {
		char a[16];

		snprintf(a, sizeof(a), "n%d", i);
		lc_call(&x, a, 2000, &res);
		assert_true(result_wait(&res, 3000));
		assert_string_equal(res.text, a);
	}
	/* the server goes away with a call parked, then comes back */
	lc_call(&x, "park", 10000, &res2);
	usleep(100000);
	assert_false(res2.done);
	loop_stop(f->loop);
	pthread_join(f->thr, NULL);
	ipc_server_close(f->srv);
	assert_true(result_wait(&res2, 3000));
	assert_int_not_equal(res2.rv, 0);
	loop_free(f->loop);
	assert_int_equal(loop_new(&f->loop), 0);
	f->parked = NULL;
	assert_int_equal(ipc_server_open(&f->srv, f->url, f->loop, IPC_USER,
	    handler, f, 8, &e), 0);
	pthread_create(&f->thr, NULL, loop_thread, f->loop);
	wait_peers(x.c);
	lc_call(&x, "again", 2000, &res);
	assert_true(result_wait(&res, 3000));
	assert_int_equal(res.rv, 0);
	assert_string_equal(res.text, "again");
	assert_true(ipc_client_peer_boot(x.c) == 8);
	/* a call parked at close fails with -LE_CLOSED through the drain */
	lc_call(&x, "park", 10000, &res2);
	usleep(100000);
	loop_stop(x.l);
	pthread_join(x.thr, NULL);
	ipc_client_close(x.c);
	loop_drain(x.l);
	assert_true(res2.done);
	assert_int_equal(res2.rv, -LE_CLOSED);
	loop_free(x.l);
}

/* A parked request with a hook is answered when its caller cancels it:
 * at once, through the hook, and only once. */
static void
test_cancel_parked(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c;
	struct result res, res2;
	uint64_t id, t0;

	c = open_client(f);
	result_init(&res);
	id = send_arg(c, "parkc", 10000, &res);
	usleep(100000);
	assert_false(res.done);
	assert_int_equal(ipc_server_inflight(f->srv), 1);
	t0 = mono_ms();
	ipc_cancel(c, id);
	assert_true(result_wait(&res, 3000));
	assert_true(mono_ms() - t0 < 2000);
	assert_int_equal(res.rv, 0);
	assert_int_equal(res.type, MSG_ERROR | PROTO_REPLY);
	assert_int_equal(res.code, -LE_CANCELED);
	assert_int_equal(f->cancels, 1);
	assert_int_equal(ipc_server_canceled(f->srv), 1);
	/* a second cancel of the same id, and one of an id never sent,
	 * change nothing; calls still flow */
	ipc_cancel(c, id);
	ipc_cancel(c, id + 1000);
	result_init(&res2);
	send_arg(c, "after", 2000, &res2);
	assert_true(result_wait(&res2, 3000));
	assert_string_equal(res2.text, "after");
	assert_int_equal(f->cancels, 1);
	assert_int_equal(ipc_server_canceled(f->srv), 1);
	assert_int_equal(ipc_server_inflight(f->srv), 0);
	ipc_client_close(c);
}

/* A request parked without a hook is not cancelled; a cancel from
 * another connection does not reach a request it did not send; a
 * cancel after the answer is a no-op. */
static void
test_cancel_scope(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *a, *b;
	struct result res, res2;
	uint64_t id;

	a = open_client(f);
	b = open_client(f);
	/* no hook: stays parked until answered */
	result_init(&res);
	id = send_arg(a, "park", 10000, &res);
	usleep(100000);
	ipc_cancel(a, id);
	usleep(200000);
	assert_false(res.done);
	loop_post(f->loop, answer_parked, f);
	assert_true(result_wait(&res, 3000));
	assert_string_equal(res.text, "late");
	ipc_cancel(a, id);	/* answered already */
	/* another connection's cancel: not for it */
	result_init(&res);
	id = send_arg(a, "parkc", 10000, &res);
	usleep(100000);
	ipc_cancel(b, id);
	result_init(&res2);
	send_arg(b, "sync", 2000, &res2);	/* the cancel was read */
	assert_true(result_wait(&res2, 3000));
	usleep(100000);
	assert_false(res.done);
	assert_int_equal(f->cancels, 0);
	ipc_cancel(a, id);
	assert_true(result_wait(&res, 3000));
	assert_int_equal(res.code, -LE_CANCELED);
	assert_int_equal(f->cancels, 1);
	ipc_client_close(a);
	ipc_client_close(b);
}

/* A cancel whose payload does not decode, on a user socket: an error
 * reply, counted, and the server carries on. */
static void
test_cancel_malformed(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c;
	struct ipc_call *call;
	struct msg_admin_req req = { "not an id", 9 };
	struct result res;

	c = open_client(f);
	result_init(&res);
	call = ipc_call_new(c, MSG_IPC_CANCEL);
	msg_admin_req_enc(ipc_call_writer(call), &req);
	ipc_call_send(call, 2000, on_reply, &res);
	assert_true(result_wait(&res, 3000));
	assert_int_equal(res.rv, 0);
	assert_int_equal(res.type, MSG_ERROR | PROTO_REPLY);
	assert_int_equal(res.code, -LE_MALFORMED);
	assert_int_equal(ipc_server_bad(f->srv), 1);
	result_init(&res);
	send_arg(c, "still", 2000, &res);
	assert_true(result_wait(&res, 3000));
	assert_string_equal(res.text, "still");
	ipc_client_close(c);
}

/* A daemon answers what is left parked after its loop returned (gossipd
 * its event lists, kvd through its drain): a hooked request answered on
 * the owner's thread while the loop is stopped is sent once the loop
 * runs again (or drains), never a fatal error. */
static void
test_cancel_hook_answered_after_stop(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c;
	struct result res;

	c = open_client(f);
	result_init(&res);
	send_arg(c, "parkc", 10000, &res);
	usleep(100000);
	assert_non_null(f->parked);
	loop_stop(f->loop);
	pthread_join(f->thr, NULL);
	answer_parked(f);		/* the owner's thread, loop stopped */
	pthread_create(&f->thr, NULL, loop_thread, f->loop);
	assert_true(result_wait(&res, 3000));
	assert_int_equal(res.rv, 0);
	assert_string_equal(res.text, "late");
	assert_int_equal(f->cancels, 0);
	ipc_client_close(c);
}

struct lc_cancel {
	struct ipc_client *c;
	uint64_t id;
};

static void
lc_cancel_now(void *arg)
{
	struct lc_cancel *x = arg;

	ipc_cancel(x->c, x->id);
}

/* A loop client cancels from its loop's thread, as httpd does. */
static void
test_cancel_loop_client(void **state)
{
	struct fixture *f = *state;
	struct lc x = { 0 };
	struct lc_cancel xc;
	struct result res;
	struct lerr e;

	assert_int_equal(loop_new(&x.l), 0);
	assert_int_equal(ipc_client_open_loop(&x.c, f->url, 9, x.l, &e), 0);
	pthread_create(&x.thr, NULL, loop_thread, x.l);
	wait_peers(x.c);
	lc_call(&x, "parkc", 10000, &res);
	usleep(100000);
	assert_false(res.done);
	xc.c = x.c;
	xc.id = x_last_id;
	loop_post(x.l, lc_cancel_now, &xc);
	assert_true(result_wait(&res, 3000));
	assert_int_equal(res.code, -LE_CANCELED);
	assert_int_equal(f->cancels, 1);
	loop_stop(x.l);
	pthread_join(x.thr, NULL);
	ipc_client_close(x.c);
	loop_drain(x.l);
	loop_free(x.l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parked_answered_later,
		    setup, teardown),
		cmocka_unit_test(test_down_fails_fast),
		cmocka_unit_test_setup_teardown(test_restart_fails_parked,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_on_user_socket,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_nng_req_roundtrip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_against_nng_rep,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_callers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_framing_dropped,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_after_close, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loop_client, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel_parked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel_scope, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel_malformed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel_loop_client, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_cancel_hook_answered_after_stop, setup, teardown),
	};

	log_setlevel(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
