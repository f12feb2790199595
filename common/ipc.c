/* ipc.c: nng req/rep channels carrying proto.h envelopes. */
#include "ipc.h"
#include "gotime.h"
#include "log.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IPC_RECEIVERS 8

static int
nng_sink(void *data, const char *buf, size_t len)
{
	return nng_msg_append(data, buf, len) == 0 ? 0 : -1;
}

static int
le_from_nng(int rv)
{
	switch (rv) {
	case NNG_ETIMEDOUT:
		return -LE_TIMEOUT;
	case NNG_ECLOSED:
		return -LE_CLOSED;
	case NNG_ENOMEM:
		return -LE_NOMEM;
	case NNG_ECONNRESET:
	case NNG_ECONNREFUSED:
	case NNG_ECONNSHUT:
		return -LE_UNAVAIL;
	default:
		return -LE_IO;
	}
}

/* Refuse peers that are not us (or root): the run directory is private
 * already; this is the second lock on the door. */
static void
pipe_check_uid(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	uint64_t uid;

	(void)ev;
	(void)arg;
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) == 0 &&
	    uid != (uint64_t)geteuid() && uid != 0) {
		log_warnx("ipc: refusing a peer with uid %llu",
		    (unsigned long long)uid);
		nng_pipe_close(p);
	}
}

/* ================= servers ================= */

enum sreq_state { SR_RECV, SR_HANDLER, SR_SEND, SR_IDLE };

struct sreq {
	struct ipc_req pub;
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *in;
	nng_msg *out;
	struct mpw w;
	enum sreq_state state;
	struct sreq *next_all;
	struct sreq *next_free;
};

struct ipc_server {
	nng_socket sock;
	struct loop *loop;
	enum ipc_trust trust;
	ipc_handler_fn fn;
	void *arg;
	uint64_t boot;
	pthread_mutex_t mtx;
	struct sreq *all;
	struct sreq *free;
	int receiving;
	bool closing;
	_Atomic uint64_t bad, served, inflight;
};

static void sreq_cb(void *arg);

static struct sreq *
sreq_new(struct ipc_server *s)
{
	struct sreq *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (nng_ctx_open(&r->ctx, s->sock) != 0) {
		free(r);
		return NULL;
	}
	if (nng_aio_alloc(&r->aio, sreq_cb, r) != 0) {
		nng_ctx_close(r->ctx);
		free(r);
		return NULL;
	}
	r->pub.srv = s;
	r->pub.priv = r;
	r->next_all = s->all;
	s->all = r;
	return r;
}

/* Puts one more context into the receiving state; called with mtx. */
static void
srv_add_receiver_locked(struct ipc_server *s)
{
	struct sreq *r;

	if (s->closing)
		return;
	if ((r = s->free) != NULL)
		s->free = r->next_free;
	else if ((r = sreq_new(s)) == NULL) {
		log_warnx("ipc: cannot allocate a receive context");
		return;
	}
	r->state = SR_RECV;
	s->receiving++;
	nng_ctx_recv(r->ctx, r->aio);
}

static void
srv_deliver(void *arg)
{
	struct sreq *r = arg;
	struct ipc_server *s = r->pub.srv;

	if (s->closing)
		return; /* queued before the close; freed by it */
	s->fn(s->arg, &r->pub);
}

static void
sreq_done(struct sreq *r)
{
	struct ipc_server *s = r->pub.srv;

	proto_msg_free(&r->pub.msg);
	if (r->in != NULL) {
		nng_msg_free(r->in);
		r->in = NULL;
	}
	atomic_fetch_sub(&s->inflight, 1);
	pthread_mutex_lock(&s->mtx);
	if (!s->closing && s->receiving < IPC_RECEIVERS) {
		r->state = SR_RECV;
		s->receiving++;
		nng_ctx_recv(r->ctx, r->aio);
	} else {
		r->state = SR_IDLE;
		r->next_free = s->free;
		s->free = r;
	}
	pthread_mutex_unlock(&s->mtx);
}

static void
sreq_cb(void *arg)
{
	struct sreq *r = arg;
	struct ipc_server *s = r->pub.srv;
	struct lerr e;
	int rv = nng_aio_result(r->aio);

	if (r->state == SR_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(r->aio));
			nng_aio_set_msg(r->aio, NULL);
		}
		atomic_fetch_add(&s->served, 1);
		sreq_done(r);
		return;
	}
	/* SR_RECV */
	pthread_mutex_lock(&s->mtx);
	s->receiving--;
	if (rv != 0) {
		if (rv != NNG_ECLOSED && !s->closing) {
			s->receiving++;
			nng_ctx_recv(r->ctx, r->aio);
		} else {
			r->state = SR_IDLE;
		}
		pthread_mutex_unlock(&s->mtx);
		return;
	}
	/* Keep the pool of receivers full while this one is busy. */
	srv_add_receiver_locked(s);
	pthread_mutex_unlock(&s->mtx);
	atomic_fetch_add(&s->inflight, 1);
	r->in = nng_aio_get_msg(r->aio);
	nng_aio_set_msg(r->aio, NULL);
	r->state = SR_HANDLER;
	rv = proto_decode(nng_msg_body(r->in), nng_msg_len(r->in),
	    &r->pub.msg, &e);
	if (rv == 0 && (r->pub.msg.type & PROTO_REPLY) != 0)
		rv = lerr_set(&e, LE_MALFORMED, "a reply sent as a request");
	if (rv != 0) {
		atomic_fetch_add(&s->bad, 1);
		if (s->trust == IPC_SIBLING) {
			/* A sibling sending garbage is a bug: restart. */
			log_error("ipc: malformed message from a sibling "
			    "daemon (%s); exiting for a restart", e.msg);
			exit(EXIT_TEMPORARY);
		}
		log_warnx("ipc: malformed request rejected: %s", e.msg);
		ipc_reply_error(&r->pub, rv, "malformed request: %s", e.msg);
		return;
	}
	loop_post(s->loop, srv_deliver, r);
}

int
ipc_server_open(struct ipc_server **out, const char *url, struct loop *l,
    enum ipc_trust trust, ipc_handler_fn fn, void *arg, uint64_t boot_id,
    struct lerr *e)
{
	struct ipc_server *s = calloc(1, sizeof(*s));
	nng_listener lst;
	int rv;

	if (s == NULL)
		return lerr_set(e, LE_NOMEM, "ipc server");
	s->loop = l;
	s->trust = trust;
	s->fn = fn;
	s->arg = arg;
	s->boot = boot_id;
	pthread_mutex_init(&s->mtx, NULL);
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		free(s);
		return lerr_set(e, LE_IO, "nng_rep0_open: %s",
		    nng_strerror(rv));
	}
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, PROTO_MAX_MSG);
	nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_PRE, pipe_check_uid, NULL);
	if (strncmp(url, "ipc://", 6) == 0)
		unlink(url + 6); /* a stale socket from a killed process */
	if ((rv = nng_listener_create(&lst, s->sock, url)) != 0 ||
	    (rv = nng_listener_set_int(lst, NNG_OPT_IPC_PERMISSIONS,
	    0600)) != 0 || (rv = nng_listener_start(lst, 0)) != 0) {
		nng_close(s->sock);
		free(s);
		return lerr_set(e, LE_IO, "listen on %s: %s", url,
		    nng_strerror(rv));
	}
	pthread_mutex_lock(&s->mtx);
	for (int i = 0; i < IPC_RECEIVERS; i++)
		srv_add_receiver_locked(s);
	pthread_mutex_unlock(&s->mtx);
	*out = s;
	return 0;
}

void
ipc_server_close(struct ipc_server *s)
{
	struct sreq *r, *n;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mtx);
	s->closing = true;
	pthread_mutex_unlock(&s->mtx);
	nng_close(s->sock);
	for (r = s->all; r != NULL; r = r->next_all)
		nng_aio_stop(r->aio);
	/* Requests delivered to the loop but not yet run point at these
	 * contexts: run them out (they see closing) before freeing. */
	loop_drain(s->loop);
	for (r = s->all; r != NULL; r = n) {
		n = r->next_all;
		nng_aio_free(r->aio);
		proto_msg_free(&r->pub.msg);
		if (r->in != NULL)
			nng_msg_free(r->in);
		if (r->out != NULL)
			nng_msg_free(r->out);
		free(r);
	}
	pthread_mutex_destroy(&s->mtx);
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
ipc_server_inflight(const struct ipc_server *s)
{
	return atomic_load(&s->inflight);
}

struct mpw *
ipc_reply_begin(struct ipc_req *pub, uint32_t type)
{
	struct sreq *r = pub->priv;

	if (nng_msg_alloc(&r->out, 0) != 0)
		fatalx("ipc: out of memory");
	mpw_init_sink(&r->w, r->out, nng_sink);
	proto_begin(&r->w, type | PROTO_REPLY, pub->msg.req_id,
	    pub->srv->boot);
	return &r->w;
}

void
ipc_reply_send(struct ipc_req *pub)
{
	struct sreq *r = pub->priv;

	if (r->w.err != 0)
		fatalx("ipc: out of memory encoding a reply");
	mpw_free(&r->w);
	r->state = SR_SEND;
	nng_aio_set_msg(r->aio, r->out);
	r->out = NULL;
	nng_ctx_send(r->ctx, r->aio);
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

/* Calls that completed cleanly keep their nng context and aio for the next
 * call: opening a context and reaping an aio cost locks and a wake of nng's
 * reaper thread on every request, a large share of a KV GET. */
#define CALL_POOL_MAX 256
/* Pipes a client tracks at once (one per live connection to its peer;
 * a restarting peer leaves a few closing ones for a moment). */
#define CLIENT_PIPES_MAX 16

struct ipc_client {
	nng_socket sock;
	nng_dialer dialer;
	uint64_t boot;
	_Atomic int peers;	/* pipes fully added, not yet removed */
	pthread_mutex_t pipes_mu;
	uint32_t pipes[CLIENT_PIPES_MAX];	/* their ids */
	_Atomic uint64_t peer_boot;
	_Atomic uint64_t next_id;
	pthread_mutex_t pool_mu;
	struct ipc_call *pool;	/* linked through ->next */
	int pool_n;
	bool closed;		/* ipc_client_close was called */
	int live;		/* calls not yet recycled; under pool_mu */
	int posted;		/* of those, finished and queued on a loop */
};

enum call_state { CALL_SEND, CALL_RECV };

struct ipc_call {
	struct ipc_client *c;
	uint32_t type;
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *m;
	struct mpw w;
	enum call_state state;
	uint64_t deadline;
	ipc_reply_fn fn;
	void *arg;
	struct loop *loop;	/* deliver on this loop's thread, or NULL */
	int rv;			/* the outcome, held for the loop */
	struct proto_msg reply;
	bool has_reply;
	struct ipc_call *next;	/* in the client's pool */
};

/* Counts the connections that reached ADD_POST. nng also reports
 * REM_POST for a pipe closed before it was fully added (a peer dying
 * while we connect), so a bare counter would go down twice for one up
 * and then read 0 with a live connection: every call would fail fast as
 * if the peer were down. Only a pipe seen added is counted down. */
static void
client_pipe_ev(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ipc_client *c = arg;
	uint32_t id = nng_pipe_id(p);
	unsigned i;

	pthread_mutex_lock(&c->pipes_mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		for (i = 0; i < CLIENT_PIPES_MAX && c->pipes[i] != 0; i++)
			;
		if (i < CLIENT_PIPES_MAX) {
			c->pipes[i] = id;
			atomic_fetch_add(&c->peers, 1);
		} else {
			/* More connections than we track: this one serves
			 * calls, uncounted (the others keep peers > 0). */
			log_warnx("ipc: over %d connections to one peer",
			    CLIENT_PIPES_MAX);
		}
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		for (i = 0; i < CLIENT_PIPES_MAX; i++)
			if (c->pipes[i] == id && id != 0) {
				c->pipes[i] = 0;
				atomic_fetch_sub(&c->peers, 1);
				break;
			}
	}
	pthread_mutex_unlock(&c->pipes_mu);
}

int
ipc_client_open(struct ipc_client **out, const char *url, uint64_t boot_id,
    struct lerr *e)
{
	struct ipc_client *c = calloc(1, sizeof(*c));
	int rv;

	if (c == NULL)
		return lerr_set(e, LE_NOMEM, "ipc client");
	c->boot = boot_id;
	pthread_mutex_init(&c->pool_mu, NULL);
	pthread_mutex_init(&c->pipes_mu, NULL);
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		pthread_mutex_destroy(&c->pipes_mu);
		free(c);
		return lerr_set(e, LE_IO, "nng_req0_open: %s",
		    nng_strerror(rv));
	}
	/* No silent resends: a request whose server died fails at once
	 * (ECONNRESET) instead of running twice. */
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 500);
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, PROTO_MAX_MSG);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, client_pipe_ev, c);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_ev, c);
	if ((rv = nng_dial(c->sock, url, &c->dialer, NNG_FLAG_NONBLOCK)) !=
	    0) {
		nng_close(c->sock);
		pthread_mutex_destroy(&c->pipes_mu);
		free(c);
		return lerr_set(e, LE_IO, "dial %s: %s", url,
		    nng_strerror(rv));
	}
	*out = c;
	return 0;
}

/* Frees the client once it is closed and its last call has finished
 * (a call's reply may still be queued on a loop when the client closes).
 * Called with pool_mu held; unlocks it. */
static void
client_release_locked(struct ipc_client *c)
{
	struct ipc_call *call;
	bool last = c->closed && c->live == 0;

	pthread_mutex_unlock(&c->pool_mu);
	if (!last)
		return;
	while ((call = c->pool) != NULL) {
		c->pool = call->next;
		nng_aio_free(call->aio);
		free(call);
	}
	pthread_mutex_destroy(&c->pool_mu);
	pthread_mutex_destroy(&c->pipes_mu);
	free(c);
}

void
ipc_client_close(struct ipc_client *c)
{
	if (c == NULL)
		return;
	nng_close(c->sock);
	/* Closing fails the calls in flight, but their callbacks run on
	 * nng's threads a little later: wait for them (bounded), so nothing
	 * they hold outlives the process. Calls already queued on a loop are
	 * delivered by the owner's loop_drain. */
	for (int i = 0; i < 2000; i++) {
		int busy;

		pthread_mutex_lock(&c->pool_mu);
		busy = c->live - c->posted;
		pthread_mutex_unlock(&c->pool_mu);
		if (busy <= 0)
			break;
		usleep(1000);
	}
	pthread_mutex_lock(&c->pool_mu);
	c->closed = true;
	client_release_locked(c);
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
	struct ipc_call *call;

	pthread_mutex_lock(&c->pool_mu);
	if ((call = c->pool) != NULL) {
		c->pool = call->next;
		c->pool_n--;
	}
	c->live++;
	pthread_mutex_unlock(&c->pool_mu);
	if (call == NULL && (call = calloc(1, sizeof(*call))) == NULL)
		fatalx("ipc: out of memory");
	call->next = NULL;
	call->m = NULL;
	call->loop = NULL;
	call->has_reply = false;
	if (nng_msg_alloc(&call->m, 0) != 0)
		fatalx("ipc: out of memory");
	call->c = c;
	call->type = type;
	mpw_init_sink(&call->w, call->m, nng_sink);
	proto_begin(&call->w, type, atomic_fetch_add(&c->next_id, 1) + 1,
	    c->boot);
	return call;
}

struct mpw *
ipc_call_writer(struct ipc_call *call)
{
	return &call->w;
}

/* Returns a call to its client's pool, or frees it. */
static void
call_recycle(struct ipc_call *call, int rv)
{
	struct ipc_client *c = call->c;

	if (call->m != NULL)
		nng_msg_free(call->m);
	call->m = NULL;
	pthread_mutex_lock(&c->pool_mu);
	c->live--;
	/* Only a context whose exchange completed is clean: after an error
	 * or a timeout a late reply may still be on its way to it. */
	if (rv == 0 && call->aio != NULL && !c->closed &&
	    c->pool_n < CALL_POOL_MAX) {
		call->next = c->pool;
		c->pool = call;
		c->pool_n++;
		call = NULL;
	}
	client_release_locked(c);
	if (call == NULL)
		return;
	if (call->aio != NULL) {
		nng_aio_reap(call->aio);
		nng_ctx_close(call->ctx);
	}
	free(call);
}

/* On the loop thread: the callback, then the same cleanup. */
static void
call_deliver(void *arg)
{
	struct ipc_call *call = arg;
	int rv = call->rv;

	pthread_mutex_lock(&call->c->pool_mu);
	call->c->posted--;
	pthread_mutex_unlock(&call->c->pool_mu);
	if (call->fn != NULL)
		call->fn(call->arg, rv, call->has_reply ? &call->reply : NULL);
	if (call->has_reply)
		proto_msg_free(&call->reply);
	call->has_reply = false;
	call_recycle(call, rv);
}

static void
call_finish(struct ipc_call *call, int rv, struct proto_msg *reply)
{
	if (call->loop != NULL) {
		call->rv = rv;
		call->has_reply = reply != NULL;
		if (reply != NULL)
			call->reply = *reply; /* still borrows call->m */
		pthread_mutex_lock(&call->c->pool_mu);
		call->c->posted++;
		pthread_mutex_unlock(&call->c->pool_mu);
		loop_post(call->loop, call_deliver, call);
		return;
	}
	if (call->fn != NULL)
		call->fn(call->arg, rv, reply);
	if (reply != NULL)
		proto_msg_free(reply);
	call_recycle(call, rv);
}

static void
call_cb(void *arg)
{
	struct ipc_call *call = arg;
	struct proto_msg reply;
	struct lerr e;
	nng_msg *m;
	uint64_t now;
	int rv = nng_aio_result(call->aio);

	if (rv != 0) {
		if (call->state == CALL_SEND)
			call->m = nng_aio_get_msg(call->aio); /* not sent */
		call_finish(call, le_from_nng(rv), NULL);
		return;
	}
	if (call->state == CALL_SEND) {
		call->m = NULL; /* nng owns it now */
		call->state = CALL_RECV;
		now = mono_ms();
		nng_aio_set_timeout(call->aio, call->deadline > now ?
		    (nng_duration)(call->deadline - now) : 1);
		nng_ctx_recv(call->ctx, call->aio);
		return;
	}
	m = nng_aio_get_msg(call->aio);
	call->m = m; /* freed by call_finish after the callback */
	rv = proto_decode(nng_msg_body(m), nng_msg_len(m), &reply, &e);
	if (rv == 0 && reply.type != (call->type | PROTO_REPLY) &&
	    reply.type != (MSG_ERROR | PROTO_REPLY)) {
		proto_msg_free(&reply);
		rv = lerr_set(&e, LE_MALFORMED, "unexpected reply type");
	}
	if (rv != 0) {
		/* A sibling answering garbage is a bug on its side; we report
		 * it and the caller answers its own client with an error. */
		log_warnx("ipc: bad reply: %s", e.msg);
		call_finish(call, -LE_MALFORMED, NULL);
		return;
	}
	atomic_store(&call->c->peer_boot, reply.boot_id);
	call_finish(call, 0, &reply);
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
	int rv;

	call->fn = fn;
	call->arg = arg;
	if (call->w.err != 0) {
		call_finish(call, -LE_NOMEM, NULL);
		return;
	}
	mpw_free(&call->w);
	if (atomic_load(&call->c->peers) == 0) {
		/* The peer daemon is down (restarting): fail fast. */
		call_finish(call, -LE_UNAVAIL, NULL);
		return;
	}
	if (call->aio == NULL) {
		if ((rv = nng_ctx_open(&call->ctx, call->c->sock)) != 0) {
			call_finish(call, le_from_nng(rv), NULL);
			return;
		}
		if ((rv = nng_aio_alloc(&call->aio, call_cb, call)) != 0) {
			nng_ctx_close(call->ctx);
			call_finish(call, le_from_nng(rv), NULL);
			return;
		}
	}
	call->deadline = mono_ms() + timeout_ms;
	call->state = CALL_SEND;
	nng_aio_set_timeout(call->aio, (nng_duration)timeout_ms);
	nng_aio_set_msg(call->aio, call->m);
	nng_ctx_send(call->ctx, call->aio);
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
