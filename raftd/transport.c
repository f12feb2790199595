/* transport.c: see transport.h. */
#include "transport.h"
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

struct peer {
	struct peer *next;
	char addr[ADDR_MAX];
	nng_socket sock;
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

	if (rv == NNG_ECLOSED || atomic_load(&t->closing))
		return;
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

static struct peer *
peer_get(struct transport *t, const char *addr)
{
	struct peer *p;
	char url[ADDR_MAX + 16];
	int rv;

	for (p = t->peers; p != NULL; p = p->next)
		if (strcmp(p->addr, addr) == 0)
			return p;
	if (strlen(addr) >= ADDR_MAX || addr_url(addr, url, sizeof(url)) != 0)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	if ((rv = nng_push0_open(&p->sock)) != 0) {
		free(p);
		return NULL;
	}
	nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, PEER_SENDBUF);
	nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 1000);
	if ((rv = nng_dial(p->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		log_warnx("dial %s: %s", url, nng_strerror(rv));
		nng_close(p->sock);
		free(p);
		return NULL;
	}
	p->next = t->peers;
	t->peers = p;
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
	struct peer **pp, *p;

	for (pp = &t->peers; (p = *pp) != NULL; pp = &p->next) {
		if (strcmp(p->addr, addr) == 0) {
			*pp = p->next;
			nng_close(p->sock);
			free(p);
			t->npeers--;
			return;
		}
	}
}

void
transport_stats(struct transport *t, struct transport_stats *st)
{
	st->sent = atomic_load(&t->sent);
	st->dropped = atomic_load(&t->dropped);
	st->received = atomic_load(&t->received);
	st->peers = t->npeers;
}
