/* ipc.h: every channel between lictor's processes, on nng req/rep over
 * ipc:// sockets in the agent's run directory. nng frames each message;
 * the body is a proto.h envelope. Servers keep a few receive contexts
 * open and hand each decoded request to the daemon's loop; the handler
 * may answer at once or park the request (a blocking query) and answer
 * much later: a parked request costs one nng context and aio, no thread.
 *
 * Trust: IPC_SIBLING channels carry messages from our own daemons; a
 * malformed one is a bug, so the daemon logs it and exits 111 for init
 * to restart it. IPC_USER channels (admin and control sockets, reached
 * by `lictor ctl`) answer a malformed request with MSG_ERROR, count it,
 * and carry on. Peers with another uid than ours (or root) are refused.
 *
 * Ownership: an ipc_req belongs to the handler from delivery until it
 * calls ipc_reply_send()/ipc_reply_error(), after which it must not be
 * touched. A reply passed to an ipc_call callback is valid only during
 * the callback. */
#ifndef LICTOR_IPC_H
#define LICTOR_IPC_H

#include <stdatomic.h>
#include <stdint.h>

#include "err.h"
#include "loop.h"
#include "proto.h"

enum ipc_trust {
	IPC_SIBLING,
	IPC_USER,
};

struct ipc_server;
struct ipc_req {
	struct ipc_server *srv;
	struct proto_msg msg; /* decoded request */
	/* private */
	void *priv;
};

typedef void (*ipc_handler_fn)(void *arg, struct ipc_req *req);

/* Listens on url ("ipc:///path"); the socket file is made 0600. */
int ipc_server_open(struct ipc_server **out, const char *url,
    struct loop *l, enum ipc_trust trust, ipc_handler_fn fn, void *arg,
    uint64_t boot_id, struct lerr *e);
void ipc_server_close(struct ipc_server *s);
/* Counters, readable from any thread. */
uint64_t ipc_server_bad(const struct ipc_server *s);
uint64_t ipc_server_served(const struct ipc_server *s);
uint64_t ipc_server_inflight(const struct ipc_server *s);

/* Starts a reply of the given type (PROTO_REPLY is or'ed in); the caller
 * writes exactly one payload object, then sends. */
struct mpw *ipc_reply_begin(struct ipc_req *r, uint32_t type);
void ipc_reply_send(struct ipc_req *r);
/* Replies MSG_ERROR {code, text}. */
void ipc_reply_error(struct ipc_req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- clients ---- */
struct ipc_client;
struct ipc_call;
/* reply == NULL when rv != 0 (-LE_TIMEOUT, -LE_UNAVAIL, -LE_CLOSED,
 * -LE_MALFORMED ...). Runs on an nng thread. */
typedef void (*ipc_reply_fn)(void *arg, int rv, struct proto_msg *reply);

/* Dials url and keeps redialing (100 ms .. 1 s) when the peer restarts. */
int ipc_client_open(struct ipc_client **out, const char *url,
    uint64_t boot_id, struct lerr *e);
void ipc_client_close(struct ipc_client *c);
/* Number of connected peers (0 while the server daemon is down). */
int ipc_client_peers(const struct ipc_client *c);
/* The boot id of the server as seen in its last reply (0: none yet). */
uint64_t ipc_client_peer_boot(const struct ipc_client *c);

struct ipc_call *ipc_call_new(struct ipc_client *c, uint32_t type);
struct mpw *ipc_call_writer(struct ipc_call *call);
/* Sends; fn is called exactly once. timeout_ms bounds the whole call. */
void ipc_call_send(struct ipc_call *call, uint64_t timeout_ms,
    ipc_reply_fn fn, void *arg);
/* The same, with fn run on loop's thread (the reply stays valid until fn
 * returns). For daemons whose state the loop owns. */
void ipc_call_send_loop(struct ipc_call *call, uint64_t timeout_ms,
    struct loop *loop, ipc_reply_fn fn, void *arg);

/* A blocking one-shot request for command-line tools. *reply must be
 * freed with proto_msg_free(); *keep holds the bytes it borrows from and
 * must be freed with ipc_buf_free(). */
int ipc_request_sync(const char *url, uint32_t type,
    void (*write_payload)(struct mpw *w, void *arg), void *arg,
    uint64_t timeout_ms, struct proto_msg *reply, void **keep,
    struct lerr *e);
void ipc_buf_free(void *keep);

#endif
