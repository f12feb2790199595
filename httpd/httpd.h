/* httpd.h: the HTTP API front. httpd holds no replicated state: each
 * request becomes one IPC call to kvd, raftd or gossipd (parked in kvd if
 * it is a blocking query) and its reply writes the HTTP response. All of
 * it runs on httpd's loop: the HTTP server (http_conn.c), the handlers
 * and the IPC clients. Counters are atomics, read by the admin socket. */
#ifndef LICTOR_HTTPD_H
#define LICTOR_HTTPD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "admin.h"
#include "config.h"
#include "http_util.h"
#include "ipc.h"
#include "loop.h"
#include "util.h"

struct httpd {
	struct lictor_config cfg;
	const char *rundir;
	uint64_t boot;
	struct loop *loop;
	struct ipc_client *kvd;
	struct ipc_client *raft;	/* raftd, for status and operator calls */
	struct ipc_client *gossip;	/* gossipd: members, joins, events */
	struct admin *admin;
	struct hsrv *srv;	/* http_conn.c */
	_Atomic uint64_t requests, errors_4xx, errors_5xx, kvd_unavailable;
	_Atomic uint64_t inflight, blocking;
	/* Connections open, refused (per-address limit, fd limit), closed
	 * half-read after a stall; requests refused before any handler. */
	_Atomic uint64_t conns, conns_refused, conns_stalled, bad_requests;
	/* Blocking queries let go because their client hung up. */
	_Atomic uint64_t blocking_canceled;
	_Atomic bool stopping;
	_Atomic uint64_t kvd_boot_seen;
};

/* One HTTP request in flight. Everything it allocates is freed by
 * hreq_finish(), which sends the response. */
struct hreq {
	struct httpd *h;
	struct hconn *conn;	/* NULL once the client is gone */
	const char *method;	/* "GET", "PUT" ... (static) */
	char *uri;		/* the request target as sent */
	struct sbuf hdrs;	/* "name\0value\0" pairs, names lowercased */
	struct sbuf body;
	struct sbuf resp_hdrs;	/* "Name: value\r\n" lines */
	char *path;		/* percent-decoded path */
	size_t path_len;
	struct hquery q;
	bool pretty;
	bool is_read;		/* set X-Consul-* read headers */
	uint32_t consistency;
	struct blocking blk;
	int kv_mode;		/* KV request details for the reply */
	bool raw;
	char *key;		/* for messages */
	const char *peer;	/* daemon called, for errors ("kvd") */
	void *ctx;		/* a handler's state between call and reply */
	/* A blocking query's call, cancelled if the client hangs up. */
	struct ipc_client *cancel_to;
	uint64_t cancel_id;
};

/* http_conn.c: the HTTP/1.1 server on h->loop. */
int httpd_start(struct httpd *h, struct lerr *e);
/* On SIGTERM: stops listening and closes idle connections; true when
 * nothing is left in flight, else the loop is stopped once the last
 * request is answered, or after a short grace. */
bool httpd_begin_stop(struct httpd *h);
/* After the loop: closes every connection (requests still in flight
 * find no connection when their IPC call ends). */
void httpd_stop(struct httpd *h);
void httpd_free(struct httpd *h);
/* Queues hr's response on its connection (nothing if the client left). */
void hconn_respond(struct hreq *hr, unsigned status, const char *ctype,
    const void *body, size_t len);
/* A request header (name case-insensitive), or NULL. */
const char *hreq_header(const struct hreq *hr, const char *name);
/* http_server.c: routing and responses. */
void http_handle(struct hreq *hr);
/* The request body. */
void hreq_body(struct hreq *hr, void **body, size_t *len);
/* Sends a response: status, content type (NULL: none), body. Frees hr. */
void hreq_finish(struct hreq *hr, uint16_t status, const char *ctype,
    const void *body, size_t len);
/* Plain-text error as Consul writes them. */
void hreq_error(struct hreq *hr, uint16_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* JSON body (minified, or indented with ?pretty). */
void hreq_json(struct hreq *hr, uint16_t status, struct sbuf *body);
void hreq_set_header(struct hreq *hr, const char *name, const char *value);
/* X-Consul-Index, X-Consul-KnownLeader, X-Consul-LastContact,
 * X-Consul-Effective-Consistency. */
void hreq_read_headers(struct hreq *hr, uint64_t index, bool known_leader,
    uint64_t last_contact_ms);
/* Before sending a blocking query's call (hr->blk.index set): if the
 * client hangs up while it is parked, the daemon is told to let it go
 * (ipc_cancel) instead of holding it until its wait ends. */
void hreq_cancellable(struct hreq *hr, struct ipc_client *to,
    const struct ipc_call *call);
/* Maps an IPC failure or an error reply to Consul's status and text. */
void hreq_ipc_error(struct hreq *hr, int rv, const char *text, size_t len);
/* Parses ?stale/?consistent/?leader; -1 after answering 400. */
int hreq_consistency(struct hreq *hr);

/* http_kv.c */
void http_kv(struct hreq *hr, const char *key, size_t klen);
/* http_catalog.c: /v1/catalog/..., /v1/health/node/... */
void http_catalog(struct hreq *hr);
/* http_operator.c */
void http_status_leader(struct hreq *hr);
void http_raft_configuration(struct hreq *hr);
void http_raft_remove_peer(struct hreq *hr);
void http_raft_transfer_leader(struct hreq *hr);
void http_agent_leave(struct hreq *hr);
/* http_gossip.c */
void http_agent_members(struct hreq *hr);
void http_agent_join(struct hreq *hr, const char *addr);
void http_agent_force_leave(struct hreq *hr, const char *node);
void http_agent_leave_gossip(struct hreq *hr);
void http_event_fire(struct hreq *hr, const char *name);
void http_event_list(struct hreq *hr);
/* http_agent.c */
void http_status_peers(struct hreq *hr);
void http_agent_self(struct hreq *hr);

#endif
