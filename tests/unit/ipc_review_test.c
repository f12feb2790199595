/* ipc_review_test.c: one test per bug a review of common/ipc.c found
 * (2026-12-04), each failing against the code before its fix: a dial
 * spinning on a stale EINTR or blocking on a full backlog, replies queued
 * without bound for a client that does not read, timed-out requests sent
 * later, idle connections locking clients out, replies from workers
 * while the loop is stopped, other calls failed on a caller's thread,
 * oversized messages breaking a connection (or a sibling), accept storms
 * and a loop spinning without fds. Reuses ipc_stress_test.c's helpers. */
#define main stress_main
#include "ipc_stress_test.c"
#undef main

#include <sys/resource.h>
#include <sys/wait.h>
#ifndef BUG6_T
#define BUG6_T 4
#endif

static void
sun_set(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	assert_true(n < sizeof(sa->sun_path));
	memcpy(sa->sun_path, path, n + 1);
}

static void
on_usr1(int sig)
{
	(void)sig;
}

struct closer {
	struct ipc_client *c;
	_Atomic bool done;
};

static void *
closer_main(void *arg)
{
	struct closer *cl = arg;

	ipc_client_close(cl->c);
	atomic_store(&cl->done, true);
	return NULL;
}

static bool
closer_done(void *arg)
{
	return atomic_load(&((struct closer *)arg)->done);
}

/* B1: one EINTR while dial() waits for the server's SP header leaves
 * errno == EINTR; when the wait then times out (poll returns 0, errno
 * untouched) dial's "errno == EINTR: continue" spins for ever (now >=
 * end on every turn), never looking at c->closing: ipc_client_close
 * hangs and the I/O thread burns a CPU. */
static void
test_bug_dial_eintr_spin(void **state)
{
	struct srv *sv = *state;
	char path[400], url[420];
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t set;
	struct closer cl = { 0 };
	pthread_t thr;
	struct lerr e;
	int lfd;

	snprintf(path, sizeof(path), "%s/fake.sock", sv->dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	lfd = listen_at(path, 16);	/* never accepts: no SP header */
	sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	/* only the client's I/O thread takes SIGUSR1 (main() blocked it
	 * for every other thread) */
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	assert_int_equal(ipc_client_open(&cl.c, url, 9, &e), 0);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	usleep(200000);			/* in dial's poll by now */
	kill(getpid(), SIGUSR1);
	usleep(2500000);		/* past HANDSHAKE_MS */
	pthread_create(&thr, NULL, closer_main, &cl);
	if (!wait_for(closer_done, &cl, 3000))
		fail_msg("ipc_client_close hangs (dial spins on a stale "
		    "EINTR)");
	pthread_join(thr, NULL);
	close(lfd);
	unlink(path);
}

/* B2: dial() connects with a blocking socket: when the server's listen
 * backlog is full (its loop stalled) connect() blocks for ever, and
 * ipc_client_close (which waits for the I/O thread) with it. */
static void
test_bug_dial_blocks_on_full_backlog(void **state)
{
	struct srv *sv = *state;
	char path[400], url[420];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct closer cl = { 0 };
	pthread_t thr;
	struct lerr e;
	int lfd, filler;
	bool ok;

	snprintf(path, sizeof(path), "%s/fake.sock", sv->dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	lfd = listen_at(path, 0);	/* never accepts */
	sun_set(&sa, path);
	filler = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(connect(filler, (struct sockaddr *)&sa,
	    sizeof(sa)), 0);		/* the backlog is now full */
	assert_int_equal(ipc_client_open(&cl.c, url, 9, &e), 0);
	usleep(300000);			/* the I/O thread sits in connect */
	pthread_create(&thr, NULL, closer_main, &cl);
	ok = wait_for(closer_done, &cl, 4000);
	close(lfd);			/* wakes the connect: no hang here */
	pthread_join(thr, NULL);
	close(filler);
	unlink(path);
	if (!ok)
		fail_msg("ipc_client_close blocked while dial() sat in a "
		    "blocking connect()");
}

/* B3: the server has no back-pressure: it keeps reading requests from a
 * peer that never reads its replies, queueing every reply in the
 * connection's outq without bound (here 100 MiB for one local peer). */
static void
test_bug_server_outq_unbounded(void **state)
{
	struct srv *sv = *state;
	enum { N = 100, REPLY = 1 << 20 };
	int fd = raw_client(sv->path);
	uint32_t id = 0x80000001u;
	uint64_t handled;

	for (int i = 0; i < N; i++) {
		struct mpw w;
		uint8_t *f;
		size_t flen;

		mpw_init(&w);
		proto_begin(&w, MSG_ADMIN_STATUS, (uint64_t)i + 1, 5);
		mpw_array(&w, 4);
		mpw_u64(&w, OP_BIG);
		mpw_u64(&w, (uint64_t)i + 1);
		mpw_u64(&w, REPLY);
		mpw_bin(&w, "", 0);
		f = build_frame(&id, 1, mpw_data(&w), mpw_len(&w), &flen);
		mpw_free(&w);
		write_all(fd, f, flen);	/* small: never blocks */
		free(f);
	}
	/* we read nothing; see how much the server took on */
	wait_ctr(&sv->handled, N, 3000);
	handled = (uint64_t)atomic_load(&sv->handled);
	close(fd);
	print_message("server queued %llu MiB of replies for a peer that "
	    "reads nothing\n", (unsigned long long)(handled * REPLY >> 20));
	assert_true(handled * REPLY <= (32u << 20));
}

/* B4: a call that times out leaves its bytes in the client's outq: while
 * the server does not read (stalled), every timed-out request stays
 * queued (memory grows without bound) and is delivered, and run, once
 * the server reads again, although its caller was told -LE_TIMEOUT. */
static void
test_bug_timed_out_requests_still_sent(void **state)
{
	struct srv *sv = *state;
	enum { N = 200, SZ = 256 << 10 };
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, N, 1);
	char path[400], url[420];
	struct ipc_client *c;
	struct lerr e;
	uint8_t *big = pat_buf(1, SZ);
	int lfd, fd, got = 0;
	uint64_t end;

	snprintf(path, sizeof(path), "%s/fake.sock", sv->dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	lfd = listen_at(path, 16);
	assert_int_equal(ipc_client_open(&c, url, 9, &e), 0);
	fd = fake_accept(lfd);		/* then reads nothing for a while */
	assert_true(wait_for(peers_up, c, WAIT_MS));
	for (int i = 0; i < N; i++) {
		s[i].want_len = SZ;
		ipc_call_send(make_call(c, OP_ECHO, &s[i], 0, big, SZ), 10,
		    on_slot, &s[i]);
	}
	assert_true(wait_total(&t, N, WAIT_MS));
	for (int i = 0; i < N; i++)
		assert_int_equal(atomic_load(&s[i].rv), -LE_TIMEOUT);
	/* the server reads again: count the requests that still arrive */
	end = mono_ms() + 3000;
	while (mono_ms() < end) {
		struct pollfd p = { fd, POLLIN, 0 };
		size_t len;
		uint8_t *b;

		if (poll(&p, 1, 200) <= 0)
			break;
		if ((b = read_frame(fd, &len)) == NULL)
			break;
		free(b);
		got++;
	}
	print_message("%d of %d timed-out requests were sent afterwards\n",
	    got, N);
	ipc_client_close(c);
	close(fd);
	close(lfd);
	unlink(path);
	free(big);
	free(s);
	assert_true(got <= 10);
}

/* B5: a connection that never sends its SP header is kept for ever (the
 * server has no handshake deadline), and past SERVER_CONNS_MAX (128) new
 * connections are refused, not the idle ones: 128 idle sockets from one
 * local process lock every client out, sibling daemons included. */
static void
test_bug_idle_connections_lock_out(void **state)
{
	struct srv *sv = *state;
	int fds[128];
	struct ipc_client *c;
	struct lerr e;
	bool up;

	for (int i = 0; i < 128; i++) {
		uint8_t hdr[8];

		fds[i] = raw_connect(sv->path);
		assert_int_equal(read_all(fds[i], hdr, 8), 0); /* accepted */
	}
	assert_int_equal(ipc_client_open(&c, sv->url, 9, &e), 0);
	up = wait_for(peers_up, c, 6000);
	ipc_client_close(c);
	for (int i = 0; i < 128; i++)
		close(fds[i]);
	if (!up)
		fail_msg("128 idle, never-handshaken connections lock every "
		    "client out");
}

/* B6: ipc_reply_send from a worker thread while the loop is not running
 * (after loop_run returned, before ipc_server_close) calls reply_now on
 * the worker's thread, because loop_on_thread() is true for every thread
 * then: two workers replying at once race on s->reqs, the connection's
 * refs and outq (ASan: use-after-free / double free; or a conn leaked). */
struct replier {
	struct ipc_req **r;
	int n;
};

static void *
replier_main(void *arg)
{
	struct replier *rp = arg;

	for (int i = 0; i < rp->n; i++)
		echo_req(rp->r[i]);
	return NULL;
}

static void
test_bug_concurrent_replies_loop_stopped(void **state)
{
	struct srv *sv = *state;
	enum { N = 8000, T = BUG6_T };
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, N, 1);
	struct ipc_client *c = client_up(sv->url);
	struct replier rp[T];
	pthread_t thr[T];
	int ok = 0;

	for (int i = 0; i < N; i++)
		call_echo(c, OP_PARK, &s[i], 20000);
	assert_true(wait_ctr(&sv->parked_n, N, WAIT_MS));
	loop_stop(sv->loop);		/* a daemon shutting down */
	pthread_join(sv->thr, NULL);
	for (int i = 0; i < T; i++) {
		rp[i] = (struct replier){ sv->parked + i * (N / T), N / T };
		pthread_create(&thr[i], NULL, replier_main, &rp[i]);
	}
	for (int i = 0; i < T; i++)
		pthread_join(thr[i], NULL);
	sv->nparked = 0;
	atomic_store(&sv->parked_n, 0);
	wait_total(&t, N, 3000);
	for (int i = 0; i < N; i++)
		if (atomic_load(&s[i].count) == 1 &&
		    atomic_load(&s[i].rv) == 0)
			ok++;
	ipc_server_close(sv->s);
	loop_free(sv->loop);
	sv->running = false;
	ipc_client_close(c);
	free(s);
	print_message("%d of %d replies arrived\n", ok, N);
	/* Since ccbd1f4 (srv_flush run at once by loop_defer when the loop
	 * is not running) this segfaults in outq_flush in a plain build and
	 * ASan reports heap-use-after-free (outq_flush <- srv_flush <-
	 * reply_now on two workers); before it, LeakSanitizer reported the
	 * leaked sconn (refs lost decrements) and outq items. With one
	 * replier (-DBUG6_T=1) it is clean: the race is the bug. Run it
	 * alone (IPCS_FILTER=...): it takes the process down. */
}

/* B7: a send that fails on the caller's thread (EPIPE: the server died
 * and the I/O thread has not noticed yet) fails every other call in
 * flight right there: their callbacks run on the caller's thread, inside
 * its ipc_call_send, concurrently with a callback still running on the
 * I/O thread. ipc.h: callbacks run on the I/O thread, or on the caller's
 * only for the call that failed before it was sent. */
struct blocker {
	_Atomic bool in;
	_Atomic bool release;
};

static void
on_block(void *arg, int rv, struct proto_msg *m)
{
	struct blocker *b = arg;
	uint64_t end = mono_ms() + 8000;

	(void)rv;
	(void)m;
	atomic_store(&b->in, true);
	while (!atomic_load(&b->release) && mono_ms() < end)
		usleep(1000);
}

static bool
blocker_in(void *arg)
{
	return atomic_load(&((struct blocker *)arg)->in);
}

static void
test_bug_other_callbacks_on_caller_thread(void **state)
{
	struct srv *sv = *state;
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, 2, 1);
	struct ipc_client *c = client_up(sv->url);
	struct blocker b = { 0 };
	pthread_t me = pthread_self();
	bool on_me;

	call_echo(c, OP_PARK, &s[0], 20000);		/* B: parked */
	assert_true(wait_ctr(&sv->parked_n, 1, WAIT_MS));
	ipc_call_send(make_call(c, OP_ECHO, &s[1], 0, "", 0), 5000, on_block,
	    &b);					/* A: blocks I/O */
	assert_true(wait_for(blocker_in, &b, WAIT_MS));
	workers_stop(sv);
	srv_stop(sv);					/* server dies */
	usleep(50000);
	s[1].seq = 99;
	call_echo(c, OP_ECHO, &s[1], 5000);		/* C: EPIPE */
	on_me = atomic_load(&s[0].count) == 1 &&
	    pthread_equal(s[0].thr, me);
	atomic_store(&b.release, true);
	assert_true(wait_total(&t, 2, WAIT_MS));
	ipc_client_close(c);
	free(s);
	if (on_me)
		fail_msg("a parked call's callback ran on another caller's "
		    "thread, inside its ipc_call_send");
}

/* B8: nothing refuses an oversized message at the sender: a request over
 * the frame limit is written whole, the server drops the connection as
 * bad framing, and every other call on it (here a parked one) fails with
 * -LE_UNAVAIL; the big call itself gets -LE_UNAVAIL, not a size error.
 * (On an IPC_SIBLING server, an envelope between PROTO_MAX_MSG and the
 * frame limit makes the server exit(111) instead.) */
static void
test_bug_oversize_request_kills_connection(void **state)
{
	struct srv *sv = *state;
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, 2, 1);
	struct ipc_client *c = client_up(sv->url);
	struct ipc_call *call;
	struct mpw *w;
	uint8_t *big = calloc(1, 40u << 20);
	int rv_big, parked_done;

	call_echo(c, OP_PARK, &s[0], 20000);
	assert_true(wait_ctr(&sv->parked_n, 1, WAIT_MS));
	call = ipc_call_new(c, MSG_ADMIN_STATUS);
	w = ipc_call_writer(call);
	mpw_array(w, 2);
	mpw_bin(w, big, 40u << 20);
	mpw_bin(w, big, 26u << 20);			/* 66 MiB */
	free(big);
	ipc_call_send(call, 10000, on_slot, &s[1]);
	assert_true(wait_ctr(&s[1].count, 1, 2 * WAIT_MS));
	rv_big = atomic_load(&s[1].rv);
	usleep(200000);
	parked_done = atomic_load(&s[0].count);
	print_message("oversize call: rv %d; parked call done: %d (rv %d)\n",
	    rv_big, parked_done, atomic_load(&s[0].rv));
	loop_post(sv->loop, answer_parked, sv);
	wait_total(&t, 2, WAIT_MS);
	ipc_client_close(c);
	free(s);
	assert_true(rv_big != 0 && rv_big != -LE_UNAVAIL); /* -LE_TOOBIG */
	assert_int_equal(parked_done, 0);
}

/* B8c: the reply side: a handler's reply over the frame limit is written
 * whole; the client drops the connection as bad framing and every call
 * on it fails -LE_UNAVAIL (here a parked one), the big call too, instead
 * of that call alone failing with a size error. */
static void
test_bug_oversize_reply_kills_connection(void **state)
{
	struct srv *sv = *state;
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, 2, 1);
	struct ipc_client *c = client_up(sv->url);
	int rv_big, parked_done;

	call_echo(c, OP_PARK, &s[0], 20000);
	assert_true(wait_ctr(&sv->parked_n, 1, WAIT_MS));
	s[1].want_len = 65u << 20;
	ipc_call_send(make_call(c, OP_BIG, &s[1], 65u << 20, "", 0), 10000,
	    on_slot, &s[1]);
	assert_true(wait_ctr(&s[1].count, 1, 2 * WAIT_MS));
	rv_big = atomic_load(&s[1].rv);
	usleep(200000);
	parked_done = atomic_load(&s[0].count);
	print_message("oversize reply: rv %d; parked call done: %d (rv %d)\n",
	    rv_big, parked_done, atomic_load(&s[0].rv));
	if (parked_done == 0)
		loop_post(sv->loop, answer_parked, sv);
	wait_total(&t, 2, WAIT_MS);
	ipc_client_close(c);
	free(s);
	/* the big call alone fails: an error reply (MSG_ERROR, too large) */
	assert_int_equal(rv_big, 0);
	assert_int_equal(atomic_load(&t.errors), 1);
	assert_int_equal(parked_done, 0);
}

/* B8b: the same on a sibling socket, with an envelope of PROTO_MAX_MSG + 8
 * bytes (its frame is within FRAME_MAX): the server decodes it, gets
 * -LE_TOOBIG and, as for any malformed sibling message, exits 111. The
 * client should have refused to send it. */
static void
sibling_handler(void *arg, struct ipc_req *r)
{
	(void)arg;
	ipc_reply_error(r, LE_INVAL, "unexpected");
}

static void
test_bug_oversize_envelope_kills_sibling(void **state)
{
	struct srv *sv = *state;
	char path[400], url[420];
	struct ipc_client *c;
	struct ipc_call *call;
	struct tally t = { 0 };
	struct slot *s = slots_new(&t, 1, 1);
	size_t d1 = 40u << 20, d2 = PROTO_MAX_MSG + 8 - 18 - d1;
	uint8_t *big = calloc(1, d1);
	struct mpw w;
	struct lerr e;
	int status = 0;
	pid_t pid, got = 0;
	uint64_t end;

	/* check the envelope's size */
	mpw_init(&w);
	proto_begin(&w, MSG_ADMIN_STATUS, 1, 9);
	mpw_array(&w, 2);
	mpw_bin(&w, big, d1);
	mpw_bin(&w, big, d2);
	assert_int_equal(mpw_len(&w), PROTO_MAX_MSG + 8);
	mpw_free(&w);
	snprintf(path, sizeof(path), "%s/sib.sock", sv->dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	if ((pid = fork()) == 0) {
		struct loop *l;
		struct ipc_server *srv;

		if (loop_new(&l) != 0 || ipc_server_open(&srv, url, l,
		    IPC_SIBLING, sibling_handler, NULL, 1, &e) != 0)
			_exit(2);
		loop_run(l);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(ipc_client_open(&c, url, 9, &e), 0);
	assert_true(wait_for(peers_up, c, WAIT_MS));
	call = ipc_call_new(c, MSG_ADMIN_STATUS);	/* env req_id 1 */
	mpw_array(ipc_call_writer(call), 2);
	mpw_bin(ipc_call_writer(call), big, d1);
	mpw_bin(ipc_call_writer(call), big, d2);
	free(big);
	ipc_call_send(call, 5000, on_slot, &s[0]);
	wait_total(&t, 1, 2 * WAIT_MS);
	end = mono_ms() + 1000;
	while (got == 0 && mono_ms() < end) {
		got = waitpid(pid, &status, WNOHANG);
		usleep(10000);
	}
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	print_message("oversize call: rv %d; sibling server %s (status "
	    "%d)\n", atomic_load(&s[0].rv), got ? "exited" : "survived",
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ipc_client_close(c);
	unlink(path);
	free(s);
	assert_int_equal(got, 0);
}

/* B9: srv_accept accepts until EAGAIN with no bound, before the loop
 * looks at any connection: a peer that connects, writes a request and
 * closes, in a loop (never more than one connection open), keeps the
 * loop inside srv_accept (its next connection is already waiting when
 * the header of the last one went out); the EOFs of the closed ones
 * are not read, they pile up to SERVER_CONNS_MAX and the peer's (and
 * everyone's) new connections are refused. */
struct storm_peer {
	const char *path;
	_Atomic bool stop;
	_Atomic int conns;
	_Atomic int refused;
};

static void *
storm_peer_main(void *arg)
{
	struct storm_peer *sp = arg;
	struct mpw w;
	uint32_t id = 0x80000001u;
	uint8_t *f;
	size_t flen;

	env_req(&w, MSG_ADMIN_STATUS, 1, "x");
	f = build_frame(&id, 1, mpw_data(&w), mpw_len(&w), &flen);
	mpw_free(&w);
	while (!atomic_load(&sp->stop)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct timeval tv = { 1, 0 };
		uint8_t hdr[8];
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		sun_set(&sa, sp->path);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    send(fd, REQ0_HDR, 8, MSG_NOSIGNAL) == 8) {
			if (recv(fd, hdr, 8, MSG_WAITALL) != 8)
				atomic_fetch_add(&sp->refused, 1);
			else
				(void)!send(fd, f, flen, MSG_NOSIGNAL);
		}
		close(fd);
		atomic_fetch_add(&sp->conns, 1);
	}
	free(f);
	return NULL;
}

struct ping {
	_Atomic uint64_t ran_at;
};

static void
ping_fn(void *arg)
{
	atomic_store(&((struct ping *)arg)->ran_at, mono_ms());
}

static void
test_bug_accept_storm(void **state)
{
	struct srv *sv = *state;
	struct storm_peer sp = { .path = sv->path };
	pthread_t thr[6];
	struct ping p;
	uint64_t end, worst = 0;

	for (int i = 0; i < 6; i++)
		pthread_create(&thr[i], NULL, storm_peer_main, &sp);
	end = mono_ms() + 1500;
	while (mono_ms() < end) {	/* how long posted work waits */
		uint64_t t0 = mono_ms();

		atomic_store(&p.ran_at, 0);
		loop_post(sv->loop, ping_fn, &p);
		while (atomic_load(&p.ran_at) == 0 && mono_ms() < t0 + 5000)
			usleep(200);
		if (mono_ms() - t0 > worst)
			worst = mono_ms() - t0;
		if (atomic_load(&p.ran_at) == 0)
			break;
		usleep(5000);
	}
	atomic_store(&sp.stop, true);
	for (int i = 0; i < 6; i++)
		pthread_join(thr[i], NULL);
	while (atomic_load(&p.ran_at) == 0)	/* p is on our stack */
		usleep(1000);
	print_message("%d connections, at most 6 open at once: %d refused; "
	    "posted work waited up to %llu ms\n", atomic_load(&sp.conns),
	    atomic_load(&sp.refused), (unsigned long long)worst);
	assert_int_equal(atomic_load(&sp.refused), 0);
}

/* B10: when accept4 fails for want of fds (EMFILE/ENFILE), srv_accept
 * returns with the connection still pending: the listener stays readable
 * and the loop spins at 100% CPU until an fd frees up. */
static _Atomic uint64_t idles;

static void
count_idle(void *arg)
{
	(void)arg;
	atomic_fetch_add(&idles, 1);
}

static void
set_idle(void *arg)
{
	loop_set_idle(arg, count_idle, NULL);
}

static void
test_bug_emfile_busy_loop(void **state)
{
	struct srv *sv = *state;
	struct rlimit old, lim;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, dups[256], nd = 0;
	uint64_t n0, n1;

	loop_post(sv->loop, set_idle, sv->loop);
	usleep(50000);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	sun_set(&sa, sv->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	lim = old;
	lim.rlim_cur = (rlim_t)count_fds() + 100;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	while (nd < 256) {
		int d = dup(fd);

		if (d < 0)
			break;
		dups[nd++] = d;
	}
	/* no fd left: this connection waits in the backlog */
	(void)!connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	usleep(50000);
	n0 = atomic_load(&idles);
	usleep(300000);
	n1 = atomic_load(&idles);
	for (int i = 0; i < nd; i++)
		close(dups[i]);
	setrlimit(RLIMIT_NOFILE, &old);
	close(fd);
	print_message("loop iterations in 300 ms without fds: %llu\n",
	    (unsigned long long)(n1 - n0));
	assert_true(n1 - n0 < 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_bug_dial_blocks_on_full_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bug_server_outq_unbounded,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bug_timed_out_requests_still_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bug_idle_connections_lock_out, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bug_concurrent_replies_loop_stopped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bug_other_callbacks_on_caller_thread, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_bug_oversize_request_kills_connection, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_bug_oversize_reply_kills_connection, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_bug_oversize_envelope_kills_sibling, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_bug_accept_storm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bug_emfile_busy_loop,
		    setup, teardown),
		/* last: it leaves a thread spinning */
		cmocka_unit_test_setup_teardown(test_bug_dial_eintr_spin,
		    setup, teardown),
	};
	sigset_t set;

	(void)stress_main;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (getenv("IPCS_FILTER") != NULL)
		cmocka_set_test_filter(getenv("IPCS_FILTER"));
	log_setlevel(getenv("IPCS_VERBOSE") != NULL ? LOG_LVL_DEBUG :
	    LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
