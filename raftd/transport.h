/* transport.h: messages between servers' raftds over TCP. Each raftd
 * listens on its server address (-server-port, 8300) and sends through
 * one connection per peer address, dialed on first use and redialed with
 * backoff (50 ms .. 1 s). The bytes are nng's SP wire protocol for the
 * pipeline pattern (we push, the listener pulls), driven by raftd's own
 * loop (transport.c says why). Sends never block: when a peer is down or
 * slow and its queue is full the message is dropped and counted; Raft
 * retransmits. Messages arrive on the loop thread.
 *
 * Messages from the network are untrusted: the receiver decodes and
 * validates them (raft_wire.c) and counts what it drops. */
#ifndef LICTOR_RAFTD_TRANSPORT_H
#define LICTOR_RAFTD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "loop.h"

struct transport;

/* Called on the loop thread with a message's bytes, borrowed for the
 * call. */
typedef void (*transport_msg_fn)(void *arg, const void *buf, size_t len);

/* Listens on host:port ("127.0.0.1", 8300). */
int transport_open(struct transport **out, struct loop *loop,
    const char *host, int64_t port, transport_msg_fn fn, void *arg,
    struct lerr *e);
void transport_close(struct transport *t);
/* Sends to "ip:port" (or "[v6]:port": an address, never a host name,
 * which would need a blocking lookup); copies buf. Returns 0, or
 * -LE_UNAVAIL when the message was dropped (queue full, bad address). */
int transport_send(struct transport *t, const char *addr, const void *buf,
    size_t len);
/* Drops the connection to a peer no longer in the configuration, and
 * what is queued for it. */
void transport_forget(struct transport *t, const char *addr);
/* Closes the connections nothing was sent on for idle_ms (a client a
 * server answered that went away would be redialed forever); a later
 * send dials again. */
void transport_forget_idle(struct transport *t, uint64_t idle_ms);
/* The connection to "host:port" (dialed now if dial and it is not): *up
 * says a connection is established; *lost counts the connections to it
 * lost (and forgets) so far, so that a sender that saw it up when it
 * sent and sees the count move knows its message may never have
 * arrived. Returns 0, or -LE_UNAVAIL for an address that cannot be
 * dialed (or, without dial, was never dialed). */
int transport_peer(struct transport *t, const char *addr, bool dial,
    bool *up, uint64_t *lost);

struct transport_stats {
	uint64_t sent, dropped, received, peers;
};
void transport_stats(struct transport *t, struct transport_stats *st);

#endif
