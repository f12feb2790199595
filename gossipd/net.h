/* net.h: one gossip pool's sockets. memberlist uses one port number for a
 * UDP socket (probes, gossip) and a TCP listener (push/pull, fallback
 * pings, reliable user messages); TCP carries one request and at most one
 * reply per connection. Everything runs on the daemon's loop: sockets are
 * non-blocking and every stream has a deadline.
 *
 * These are not nng sockets: memberlist's streams are plain TCP with its
 * own framing, which nng's SP protocols cannot speak (docs/architecture.md).
 *
 * Ownership: buffers passed in are copied; buffers passed to callbacks are
 * borrowed for the call. */
#ifndef LICTOR_GOSSIPD_NET_H
#define LICTOR_GOSSIPD_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "err.h"
#include "loop.h"

#define GNET_STREAMS_MAX 64	/* each way; memberlist allows 128 in */

struct gnet;
struct gstream;

struct gnet_ops {
	/* A UDP packet (from its source address: UDP is sent from the
	 * sender's gossip port, so this is the sender's gossip address). */
	void (*packet)(void *arg, const struct sockaddr_storage *from,
	    const uint8_t *buf, size_t len);
	/* An inbound stream delivered its one message. The handler may call
	 * gnet_stream_reply() during the call; the stream closes after the
	 * reply is written, or at once if there is none. */
	void (*stream)(void *arg, struct gstream *s, const uint8_t *msg,
	    size_t len);
};

struct gnet_stats {
	uint64_t udp_in, udp_out, udp_bytes_in, udp_bytes_out, udp_errors;
	uint64_t tcp_in, tcp_out, tcp_bytes_in, tcp_bytes_out;
	uint64_t tcp_bad, tcp_timeouts, tcp_refused, tcp_over_limit;
};

/* Binds UDP and TCP on ip:port (ip "0.0.0.0", "::" or an address; port 0
 * picks one, read it back with gnet_port). */
int gnet_open(struct loop *l, const char *ip, int port,
    const struct gnet_ops *ops, void *arg, uint64_t stream_timeout_ms,
    struct gnet **out, struct lerr *e);
/* Closes the sockets; outbound requests still open complete with
 * -LE_CLOSED first. */
void gnet_close(struct gnet *n);
int gnet_port(const struct gnet *n);
const struct gnet_stats *gnet_stats(const struct gnet *n);

int gnet_sendto(struct gnet *n, const struct sockaddr_storage *to,
    const uint8_t *buf, size_t len);

/* An outbound stream: connect to `to`, write req, then (want_reply) read
 * one message back. cb runs exactly once, from the loop and never inside
 * this call: rv 0 with the reply (NULL, 0 without want_reply), or
 * -LE_TIMEOUT, -LE_IO (refused, reset), -LE_MALFORMED, -LE_CLOSED. */
typedef void (*gnet_cb)(void *arg, int rv, const uint8_t *reply, size_t len);
int gnet_request(struct gnet *n, const struct sockaddr_storage *to,
    const uint8_t *req, size_t len, bool want_reply, uint64_t timeout_ms,
    gnet_cb cb, void *arg);

/* The reply to an inbound stream's message (during the stream callback). */
void gnet_stream_reply(struct gstream *s, const uint8_t *buf, size_t len);
/* Where the inbound stream came from (not a gossip address: TCP comes
 * from an ephemeral port). */
const struct sockaddr_storage *gnet_stream_peer(const struct gstream *s);

/* "ip:port" of an address, for logs and the API. */
void gaddr_str(const struct sockaddr_storage *a, char *buf, size_t cap);
/* Parses "host[:port]" (IPv4, [IPv6] or a name resolved once) with
 * default_port when none is given. */
int gaddr_parse(const char *s, int default_port, struct sockaddr_storage *out,
    struct lerr *e);
/* Builds an address from raw IP bytes (4 or 16) and a port. */
int gaddr_from_ip(const uint8_t *ip, size_t iplen, uint16_t port,
    struct sockaddr_storage *out);
/* Raw IP bytes (4 for IPv4, else 16) and port of an address. */
size_t gaddr_ip(const struct sockaddr_storage *a, uint8_t ip[16],
    uint16_t *port);
bool gaddr_equal(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b);

#endif
