/* ipc_test.c: the IPC layer over real nng ipc:// sockets and a real
 * loop thread: request/reply, a parked request answered later, a fast
 * failure while the server is down, a server restart failing a parked
 * call (no silent resend), and a malformed request on a user socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
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
};

static void *
loop_thread(void *arg)
{
	loop_run(arg);
	return NULL;
}

/* Echoes an admin request's arg as the reply text, or parks it when the
 * arg is "park". */
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
		res->type = m->type;
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

static void
send_arg(struct ipc_client *c, const char *arg, uint64_t timeout,
    struct result *res)
{
	struct ipc_call *call = ipc_call_new(c, MSG_ADMIN_STATUS);
	struct msg_admin_req req = { arg, strlen(arg) };

	msg_admin_req_enc(ipc_call_writer(call), &req);
	ipc_call_send(call, timeout, on_reply, res);
}

static void
wait_peers(struct ipc_client *c)
{
	uint64_t end = mono_ms() + 5000;

	while (ipc_client_peers(c) == 0 && mono_ms() < end)
		usleep(2000);
	assert_true(ipc_client_peers(c) > 0);
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
	};

	log_setlevel(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
