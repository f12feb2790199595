/* transport.c: see transport.h. */
#include "transport.h"
#include "gotime.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER_SENDBUF 1024	/* messages queued per peer */
#define ADDR_MAX 256

/* A peer's struct lives until transport_close, even once forgotten: nng
 * may still run its pipe callbacks for a socket being closed. */
struct peer {
	struct peer *next;
	char addr[ADDR_MAX];
	nng_socket sock;
	bool open;
	uint64_t last_send_ms;		/* loop thread */
	_Atomic uint32_t sock_id;	/* the socket counted below; 0: none */
	_Atomic int up;			/* its connected pipes */
	_Atomic uint64_t lost;		/* connections lost or closed */
};

struct transport {
	struct loop *loop;
	nng_socket pull;
	nng_aio *rx;
	transport_msg_fn fn;
	void *arg;
	struct peer *peers;	/* loop thread only */
	_Atomic uint64_t sent, dropped, received;
	uint64_t npeers;
	_Atomic int closing;
};

struct delivery {
	struct transport *t;
	nng_msg *m;
};

static void
deliver(void *arg)
{
	struct delivery *d = arg;

	if (!atomic_load(&d->t->closing))
		d->t->fn(d->t->arg, nng_msg_body(d->m), nng_msg_len(d->m));
	nng_msg_free(d->m);
	free(d);
}

static void
rx_cb(void *arg)
{
	struct transport *t = arg;
	struct delivery *d;
	int rv = nng_aio_result(t->rx);

	if (atomic_load(&t->closing) || rv == NNG_ECLOSED) {
		/* A message that arrived as we close is ours to free. */
		if (rv == 0)
			nng_msg_free(nng_aio_get_msg(t->rx));
		return;
	}
	if (rv == 0) {
		d = xmalloc(sizeof(*d));
		d->t = t;
		d->m = nng_aio_get_msg(t->rx);
		atomic_fetch_add(&t->received, 1);
		loop_post(t->loop, deliver, d);
	}
	nng_recv_aio(t->pull, t->rx);
}

int
transport_open(struct transport **out, struct loop *loop, const char *host,
    int64_t port, transport_msg_fn fn, void *arg, struct lerr *e)
{
	struct transport *t = xcalloc(1, sizeof(*t));
	char url[ADDR_MAX + 16];
	int rv;

	t->loop = loop;
	t->fn = fn;
	t->arg = arg;
	if (strchr(host, ':') != NULL)
		snprintf(url, sizeof(url), "tcp://[%s]:%lld", host,
		    (long long)port);
	else
		snprintf(url, sizeof(url), "tcp://%s:%lld", host,
		    (long long)port);
	if ((rv = nng_pull0_open(&t->pull)) != 0) {
		free(t);
		return lerr_set(e, LE_IO, "nng_pull0_open: %s",
		    nng_strerror(rv));
	}
	nng_socket_set_size(t->pull, NNG_OPT_RECVMAXSZ, PROTO_MAX_MSG);
	nng_socket_set_int(t->pull, NNG_OPT_RECVBUF, 1024);
	if ((rv = nng_listen(t->pull, url, NULL, 0)) != 0) {
		nng_close(t->pull);
		free(t);
		return lerr_set(e, LE_IO, "listen on %s: %s", url,
		    nng_strerror(rv));
	}
	if ((rv = nng_aio_alloc(&t->rx, rx_cb, t)) != 0) {
		nng_close(t->pull);
		free(t);
		return lerr_set(e, LE_NOMEM, "aio");
	}
	nng_recv_aio(t->pull, t->rx);
	log_info("server RPC (raft) on %s", url);
	*out = t;
	return 0;
}

void
transport_close(struct transport *t)
{
	struct peer *p;

	if (t == NULL)
		return;
	atomic_store(&t->closing, 1);
	nng_close(t->pull);
	nng_aio_free(t->rx);
	loop_drain(t->loop); /* deliveries already posted free their msgs */
	while ((p = t->peers) != NULL) {
		t->peers = p->next;
		if (p->open)
			nng_close(p->sock);
		free(p);
	}
	free(t);
}

/* "host:port" or "[v6]:port" -> "tcp://..." */
static int
addr_url(const char *addr, char *url, size_t len)
{
	const char *colon = strrchr(addr, ':');

	if (colon == NULL || colon == addr || colon[1] == '\0')
		return -LE_INVAL;
	return (size_t)snprintf(url, len, "tcp://%s", addr) < len ? 0 :
	    -LE_RANGE;
}

/* On nng's threads. */
static void
peer_pipe_ev(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	struct peer *p = arg;

	if ((uint32_t)nng_socket_id(nng_pipe_socket(pipe)) !=
	    atomic_load(&p->sock_id))
		return; /* a socket closed since */
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&p->up, 1);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&p->up, 1);
		atomic_fetch_add(&p->lost, 1);
	}
}

static int
peer_open(struct peer *p, const char *url)
{
	int rv;

	if ((rv = nng_push0_open(&p->sock)) != 0)
		return rv;
	nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, PEER_SENDBUF);
	nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 1000);
	atomic_store(&p->up, 0);
	atomic_store(&p->sock_id, (uint32_t)nng_socket_id(p->sock));
	nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_POST, peer_pipe_ev, p);
	nng_pipe_notify(p->sock, NNG_PIPE_EV_REM_POST, peer_pipe_ev, p);
	if ((rv = nng_dial(p->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("dial %s: %s", url, nng_strerror(rv));
		atomic_store(&p->sock_id, 0);
		nng_close(p->sock);
		return rv;
	}
	p->open = true;
	p->last_send_ms = mono_ms();
	return 0;
}

static struct peer *
peer_get(struct transport *t, const char *addr)
{
	struct peer *p;
	char url[ADDR_MAX + 16];

	for (p = t->peers; p != NULL; p = p->next)
		if (strcmp(p->addr, addr) == 0)
			break;
	if (p != NULL && p->open)
		return p;
	if (strlen(addr) >= ADDR_MAX || addr_url(addr, url, sizeof(url)) != 0)
		return NULL;
	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		snprintf(p->addr, sizeof(p->addr), "%s", addr);
		p->next = t->peers;
		t->peers = p;
	}
	if (peer_open(p, url) != 0)
		return NULL;
	t->npeers++;
	return p;
}

int
transport_send(struct transport *t, const char *addr, const void *buf,
    size_t len)
{
	struct peer *p = peer_get(t, addr);
	nng_msg *m;

	if (p == NULL || nng_msg_alloc(&m, 0) != 0 ||
	    nng_msg_append(m, buf, len) != 0) {
		atomic_fetch_add(&t->dropped, 1);
		return -LE_UNAVAIL;
	}
	p->last_send_ms = mono_ms();
	if (nng_sendmsg(p->sock, m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);
		atomic_fetch_add(&t->dropped, 1);
		return -LE_UNAVAIL;
	}
	atomic_fetch_add(&t->sent, 1);
	return 0;
}

void
transport_forget(struct transport *t, const char *addr)
{
	struct peer *p;

	for (p = t->peers; p != NULL; p = p->next) {
		if (strcmp(p->addr, addr) == 0 && p->open) {
			atomic_store(&p->sock_id, 0);
			nng_close(p->sock);	/* drops what is queued */
			p->open = false;
			atomic_store(&p->up, 0);
			atomic_fetch_add(&p->lost, 1);
			t->npeers--;
			return;
		}
	}
}

void
transport_forget_idle(struct transport *t, uint64_t idle_ms)
{
	uint64_t now = mono_ms();

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
	*up = atomic_load(&p->up) > 0;
	*lost = atomic_load(&p->lost);
	return 0;
}

void
transport_stats(struct transport *t, struct transport_stats *st)
{
	st->sent = atomic_load(&t->sent);
	st->dropped = atomic_load(&t->dropped);
	st->received = atomic_load(&t->received);
	st->peers = t->npeers;
}
