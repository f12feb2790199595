/* ipc.h: every channel between lictor's processes: request/reply over
 * unix sockets in the agent's run directory, in nng's SP wire protocol
 * for req0/rep0 (so nng's own sockets interoperate; the command-line
 * tools use one). The body of each message is a proto.h envelope.
 * Servers read, decode and hand each request to the handler on the
 * daemon's loop thread; the handler may answer at once or park the
 * request (a blocking query) and answer much later: a parked request
 * costs its bytes, no thread. Clients write from the calling thread and
 * read replies on one I/O thread each (ipc.c says why).
 *
 * Trust: IPC_SIBLING channels carry messages from our own daemons; a
 * malformed one is a bug, so the daemon logs it and exits 111 for init
 * to restart it. IPC_USER channels (admin and control sockets, reached
 * by `lictor ctl`) answer a malformed request with MSG_ERROR, count it,
 * and carry on. A connection that breaks the SP framing itself (bad
 * handshake, a frame over the size limit, a request without a request
 * id) is dropped and counted on either kind. Peers with another uid than
 * ours (or root) are refused.
 *
 * Ownership: an ipc_req belongs to the handler from delivery until it
 * calls ipc_reply_send()/ipc_reply_error(), after which it must not be
 * touched. A reply may be sent from any thread (off the loop thread it is
 * handed to the loop). A reply passed to an ipc_call callback is valid
 * only during the callback. */
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

/* Listens on url ("ipc:///path"); the socket file is made 0600. The
 * loop must be running (or about to run) for requests to be served. */
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

/* A handler that parks a request (a blocking query) lets its caller take
 * it back: when the client that sent it calls ipc_cancel() with its id
 * (httpd, when its HTTP client hangs up), fn runs on the loop thread and
 * answers the request at once (ipc_reply_error(-LE_CANCELED), say), so
 * it stops holding memory and a timer until its wait ends. Only for
 * requests set and answered on the loop thread; fn NULL removes it. A
 * request that was never given one is not cancelled. */
typedef void (*ipc_cancel_fn)(void *arg, struct ipc_req *req);
void ipc_req_on_cancel(struct ipc_req *r, ipc_cancel_fn fn, void *arg);
/* What a cancel hook answers: MSG_ERROR -LE_CANCELED. */
void ipc_reply_canceled(struct ipc_req *r);
uint64_t ipc_server_canceled(const struct ipc_server *s);

/* ---- clients ---- */
struct ipc_client;
struct ipc_call;
/* reply == NULL when rv != 0 (-LE_TIMEOUT, -LE_UNAVAIL, -LE_CLOSED,
 * -LE_MALFORMED ...). Runs on the client's I/O thread (or, when the
 * call fails before it is sent, on the caller's). */
typedef void (*ipc_reply_fn)(void *arg, int rv, struct proto_msg *reply);

/* Dials url and keeps redialing (50 ms .. 0.5 s) when the peer restarts.
 * Calls made after ipc_client_close (from a callback it ran or that was
 * queued on a loop) fail with -LE_CLOSED; the client is freed once the
 * last one is. */
int ipc_client_open(struct ipc_client **out, const char *url,
    uint64_t boot_id, struct lerr *e);
/* The same for a client used only from loop's thread (with
 * ipc_call_send_loop on that loop): no I/O thread; the loop reads the
 * replies and runs their callbacks as they come, one wake-up fewer per
 * reply. ipc_client_close must then run on the owner's thread once the
 * loop stopped, followed by loop_drain. */
int ipc_client_open_loop(struct ipc_client **out, const char *url,
    uint64_t boot_id, struct loop *loop, struct lerr *e);
void ipc_client_close(struct ipc_client *c);
/* Number of connected peers (0 while the server daemon is down). */
int ipc_client_peers(const struct ipc_client *c);
/* The boot id of the server as seen in its last reply (0: none yet). */
uint64_t ipc_client_peer_boot(const struct ipc_client *c);

struct ipc_call *ipc_call_new(struct ipc_client *c, uint32_t type);
struct mpw *ipc_call_writer(struct ipc_call *call);
/* The call's request id (the envelope's), for ipc_cancel; read it before
 * sending: the call is not the caller's afterwards. */
uint64_t ipc_call_id(const struct ipc_call *call);
/* Tells the server the caller no longer waits for the call with this id:
 * if it parked the request with a cancel hook, it answers now (the
 * call's callback still runs once, with that answer). Fire and forget:
 * nothing happens if the request was answered already or the connection
 * was made again since. A loop client's on its loop's thread. */
void ipc_cancel(struct ipc_client *c, uint64_t call_id);
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
