/* httpd.h: the HTTP API front. httpd holds no replicated state: each
 * request becomes one IPC call to kvd (parked there if it is a blocking
 * query) and its completion writes the HTTP response, on nng's threads.
 * The loop thread only owns signals and the admin socket. Counters are
 * atomics. */
#ifndef LICTOR_HTTPD_H
#define LICTOR_HTTPD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

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
	nng_http_server *srv;
	_Atomic uint64_t requests, errors_4xx, errors_5xx, kvd_unavailable;
	_Atomic uint64_t inflight, blocking;
	/* Handlers running now on nng's threads, and whether the daemon
	 * stops: a stopping httpd answers 503 without calling a sibling,
	 * and its IPC clients close only once no handler runs. */
	_Atomic int in_handler;
	_Atomic bool stopping;
	_Atomic uint64_t kvd_boot_seen;
};

/* One HTTP request in flight. Everything it allocates is freed by
 * hreq_finish(), which sends the response. */
struct hreq {
	struct httpd *h;
	nng_aio *aio;
	nng_http_req *req;
	nng_http_res *res;
	const char *method;
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
};

/* http_server.c */
int httpd_start(struct httpd *h, struct lerr *e);
void httpd_stop(struct httpd *h);
/* After the IPC clients closed: waits (bounded) for the requests they
 * were serving to finish. */
void httpd_drain(struct httpd *h);
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
