/* http_server.c: nng's HTTP server behind httpd: one tree handler takes
 * every method and path, parses the request once and routes it; helpers
 * write responses with Consul's headers and error texts. */
#include "httpd.h"
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
hreq_free(struct hreq *hr)
{
	hquery_free(&hr->q);
	free(hr->path);
	free(hr->key);
	atomic_fetch_sub(&hr->h->inflight, 1);
	free(hr);
}

void
hreq_set_header(struct hreq *hr, const char *name, const char *value)
{
	nng_http_res_set_header(hr->res, name, value);
}

void
hreq_finish(struct hreq *hr, uint16_t status, const char *ctype,
    const void *body, size_t len)
{
	struct httpd *h = hr->h;

	if (status >= 500)
		atomic_fetch_add(&h->errors_5xx, 1);
	else if (status >= 400)
		atomic_fetch_add(&h->errors_4xx, 1);
	nng_http_res_set_status(hr->res, status);
	if (ctype != NULL)
		nng_http_res_set_header(hr->res, "Content-Type", ctype);
	if (len > 0)
		nng_http_res_copy_data(hr->res, body, len);
	else
		nng_http_res_set_data(hr->res, NULL, 0);
	nng_aio_set_output(hr->aio, 0, hr->res);
	nng_aio_finish(hr->aio, 0);
	hreq_free(hr);
}

void
hreq_error(struct hreq *hr, uint16_t status, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	hreq_finish(hr, status, "text/plain; charset=utf-8", buf, (size_t)n);
}

void
hreq_json(struct hreq *hr, uint16_t status, struct sbuf *body)
{
	if (hr->pretty) {
		json_error_t err;
		json_t *j = json_loadb(body->s, body->len,
		    JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

		if (j != NULL) {
			char *s = json_dumps(j, JSON_INDENT(4) |
			    JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

			json_decref(j);
			if (s != NULL) {
				struct sbuf p;

				sbuf_init(&p);
				sbuf_adds(&p, s);
				sbuf_addc(&p, '\n');
				free(s);
				hreq_finish(hr, status, "application/json",
				    p.s, p.len);
				sbuf_free(&p);
				return;
			}
		}
	}
	hreq_finish(hr, status, "application/json", body->s, body->len);
}

void
hreq_read_headers(struct hreq *hr, uint64_t index, bool known_leader,
    uint64_t last_contact_ms)
{
	char buf[32];
	static const char *cons[] = { "leader", "stale", "consistent" };

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)index);
	hreq_set_header(hr, "X-Consul-Index", buf);
	hreq_set_header(hr, "X-Consul-KnownLeader",
	    known_leader ? "true" : "false");
	snprintf(buf, sizeof(buf), "%llu",
	    (unsigned long long)last_contact_ms);
	hreq_set_header(hr, "X-Consul-LastContact", buf);
	hreq_set_header(hr, "X-Consul-Effective-Consistency",
	    cons[hr->consistency <= 2 ? hr->consistency : 0]);
}

void
hreq_ipc_error(struct hreq *hr, int rv, const char *text, size_t len)
{
	const char *peer = hr->peer != NULL ? hr->peer : "kvd";

	if (text == NULL && rv != -LE_UNAVAIL && rv != -LE_TIMEOUT &&
	    rv != -LE_CLOSED && rv != -LE_MALFORMED) {
		text = le_strerror(rv);
		len = strlen(text);
	}

	if (text == NULL && (rv == -LE_UNAVAIL || rv == -LE_TIMEOUT ||
	    rv == -LE_CLOSED || rv == -LE_MALFORMED)) {
		/* The call itself failed: no daemon answered. */
		atomic_fetch_add(&hr->h->kvd_unavailable, 1);
		hreq_error(hr, 500, "rpc error: %s %s", peer,
		    rv == -LE_TIMEOUT ? "did not answer in time" :
		    rv == -LE_MALFORMED ? "sent a malformed answer" :
		    "is not available (restarting?)");
		return;
	}
	if (text != NULL && len > 0 && rv != -LE_INVAL && rv != -LE_TOOBIG &&
	    rv != -LE_PERM && rv != -LE_NOTFOUND) {
		/* An answer that says what went wrong, from kvd or raftd. */
		hreq_error(hr, 500, "%.*s", (int)len, text);
		return;
	}
	switch (rv) {
	case -LE_INVAL:
		hreq_error(hr, 400, "%.*s", (int)len, text);
		return;
	case -LE_TOOBIG:
		hreq_error(hr, 413, "%.*s", (int)len, text);
		return;
	case -LE_PERM:
		hreq_error(hr, 403, "Permission denied");
		return;
	case -LE_NOLEADER:
		hreq_error(hr, 500, "No cluster leader");
		return;
	default:
		hreq_error(hr, 500, "%.*s", (int)len, text);
	}
}

int
hreq_consistency(struct hreq *hr)
{
	bool stale = hquery_has(&hr->q, "stale");
	bool consistent = hquery_has(&hr->q, "consistent");

	if (stale && consistent) {
		hreq_error(hr, 400, "Cannot specify ?stale with ?consistent, "
		    "conflicting semantics.");
		return -1;
	}
	hr->consistency = stale ? CONS_STALE : consistent ? CONS_CONSISTENT :
	    CONS_DEFAULT;
	return 0;
}

static bool
path_is(const struct hreq *hr, const char *p)
{
	return strcmp(hr->path, p) == 0;
}

static void
method_not_allowed(struct hreq *hr, const char *allow)
{
	hreq_set_header(hr, "Allow", allow);
	hreq_error(hr, 405, "method %s not allowed", hr->method);
}

static void
route(struct hreq *hr)
{
	bool get = strcmp(hr->method, "GET") == 0 ||
	    strcmp(hr->method, "HEAD") == 0;

	if (strncmp(hr->path, "/v1/kv/", 7) == 0) {
		http_kv(hr, hr->path + 7, hr->path_len - 7);
	} else if (strncmp(hr->path, "/v1/catalog/", 12) == 0 ||
	    strncmp(hr->path, "/v1/health/node/", 16) == 0) {
		http_catalog(hr);
	} else if (path_is(hr, "/v1/status/leader")) {
		if (!get)
			method_not_allowed(hr, "GET");
		else
			http_status_leader(hr);
	} else if (path_is(hr, "/v1/status/peers")) {
		if (!get)
			method_not_allowed(hr, "GET");
		else
			http_status_peers(hr);
	} else if (path_is(hr, "/v1/operator/raft/configuration")) {
		if (!get)
			method_not_allowed(hr, "GET");
		else
			http_raft_configuration(hr);
	} else if (path_is(hr, "/v1/operator/raft/peer")) {
		if (strcmp(hr->method, "DELETE") != 0)
			method_not_allowed(hr, "DELETE");
		else
			http_raft_remove_peer(hr);
	} else if (path_is(hr, "/v1/operator/raft/transfer-leader")) {
		if (strcmp(hr->method, "POST") != 0 &&
		    strcmp(hr->method, "PUT") != 0)
			method_not_allowed(hr, "POST");
		else
			http_raft_transfer_leader(hr);
	} else if (path_is(hr, "/v1/agent/leave")) {
		if (strcmp(hr->method, "PUT") != 0)
			method_not_allowed(hr, "PUT");
		else
			http_agent_leave(hr);
	} else if (path_is(hr, "/v1/agent/members")) {
		if (!get)
			method_not_allowed(hr, "GET");
		else
			http_agent_members(hr);
	} else if (strncmp(hr->path, "/v1/agent/join/", 15) == 0) {
		if (strcmp(hr->method, "PUT") != 0)
			method_not_allowed(hr, "PUT");
		else
			http_agent_join(hr, hr->path + 15);
	} else if (strncmp(hr->path, "/v1/agent/force-leave/", 22) == 0) {
		if (strcmp(hr->method, "PUT") != 0)
			method_not_allowed(hr, "PUT");
		else
			http_agent_force_leave(hr, hr->path + 22);
	} else if (strncmp(hr->path, "/v1/event/fire/", 15) == 0) {
		if (strcmp(hr->method, "PUT") != 0)
			method_not_allowed(hr, "PUT");
		else
			http_event_fire(hr, hr->path + 15);
	} else if (path_is(hr, "/v1/event/list")) {
		if (!get)
			method_not_allowed(hr, "GET");
		else
			http_event_list(hr);
	} else if (path_is(hr, "/v1/agent/self")) {
		if (!get)
			method_not_allowed(hr, "GET");
		else
			http_agent_self(hr);
	} else {
		hreq_error(hr, 404, "404 page not found\n");
	}
}

static void http_handle(struct hreq *hr);

static void
http_cb(nng_aio *aio)
{
	nng_http_handler *hh = nng_aio_get_input(aio, 1);
	struct httpd *h = nng_http_handler_get_data(hh);
	struct hreq *hr;

	atomic_fetch_add(&h->in_handler, 1);
	if (atomic_load(&h->stopping)) {
		nng_aio_finish(aio, NNG_ECLOSED);
	} else if ((hr = calloc(1, sizeof(*hr))) == NULL ||
	    nng_http_res_alloc(&hr->res) != 0) {
		free(hr);
		nng_aio_finish(aio, NNG_ENOMEM);
	} else {
		hr->h = h;
		hr->aio = aio;
		http_handle(hr);
	}
	atomic_fetch_sub(&h->in_handler, 1);
}

static void
http_handle(struct hreq *hr)
{
	struct httpd *h = hr->h;
	nng_aio *aio = hr->aio;
	const char *uri, *qm;
	size_t plen;

	atomic_fetch_add(&h->requests, 1);
	atomic_fetch_add(&h->inflight, 1);
	hr->req = nng_aio_get_input(aio, 0);
	hr->method = nng_http_req_get_method(hr->req);
	nng_http_res_set_header(hr->res, "X-Consul-Default-Acl-Policy",
	    "allow");
	uri = nng_http_req_get_uri(hr->req);
	/* An absolute-form request target: keep the path only. */
	if (strncmp(uri, "http://", 7) == 0) {
		const char *s = strchr(uri + 7, '/');

		uri = s ? s : "/";
	}
	qm = strchr(uri, '?');
	plen = qm ? (size_t)(qm - uri) : strlen(uri);
	if (url_decode(uri, plen, false, &hr->path, &hr->path_len) != 0) {
		hreq_error(hr, 400, "invalid URL escape in path");
		return;
	}
	if (memchr(hr->path, '\0', hr->path_len) != NULL) {
		hreq_error(hr, 400, "invalid NUL byte in path");
		return;
	}
	/* Consul rejects a path with a newline (%0a) everywhere: such names
	 * break line-oriented tools and logs. */
	if (memchr(hr->path, '\n', hr->path_len) != NULL ||
	    memchr(hr->path, '\r', hr->path_len) != NULL) {
		hreq_error(hr, 400, "Invalid URL path: contains a newline");
		return;
	}
	if (qm != NULL && hquery_parse(&hr->q, qm + 1) != 0) {
		hreq_error(hr, 400, "invalid URL query");
		return;
	}
	hr->pretty = hquery_has(&hr->q, "pretty");
	route(hr);
}

/* The largest request body httpd reads; larger ones get nng's 400. */
#define HTTP_MAX_BODY (16u << 20)
#define HTTP_400_PAGE "Bad request: malformed HTTP request, or a request " \
	"body over 16 MiB (the KV value limit is kv_max_value_size)\n"
#define HTTP_505_PAGE "Bad request: malformed request line (only " \
	"HTTP/1.0 and HTTP/1.1 are served)\n"

int
httpd_start(struct httpd *h, struct lerr *e)
{
	char url[300], addrs[512], *save = NULL, *a;
	nng_http_handler *hh;
	nng_url *u;
	size_t maxbody;
	int rv;

	/* nng collects a body up to maxbody and answers 400 above it, before
	 * any handler runs; the KV limit (413) is checked by the handler, so
	 * maxbody sits well above it and nng's 400 page says why. */
	maxbody = (size_t)h->cfg.kv_max_value_size * 4 + 65536;
	if (maxbody < HTTP_MAX_BODY)
		maxbody = HTTP_MAX_BODY;
	snprintf(addrs, sizeof(addrs), "%s", h->cfg.client_addr);
	/* -client may list several addresses separated by spaces. */
	for (a = strtok_r(addrs, " ", &save); a != NULL;
	    a = strtok_r(NULL, " ", &save)) {
		nng_http_server *srv;

		if (strchr(a, ':') != NULL)
			snprintf(url, sizeof(url), "http://[%s]:%lld", a,
			    (long long)h->cfg.port_http);
		else
			snprintf(url, sizeof(url), "http://%s:%lld", a,
			    (long long)h->cfg.port_http);
		if ((rv = nng_url_parse(&u, url)) != 0)
			return lerr_set(e, LE_CONFIG, "bad HTTP address %s: %s",
			    url, nng_strerror(rv));
		rv = nng_http_server_hold(&srv, u);
		nng_url_free(u);
		if (rv != 0)
			return lerr_set(e, LE_IO, "HTTP server %s: %s", url,
			    nng_strerror(rv));
		if ((rv = nng_http_handler_alloc(&hh, "/", http_cb)) != 0 ||
		    (rv = nng_http_handler_set_method(hh, NULL)) != 0 ||
		    (rv = nng_http_handler_set_tree(hh)) != 0 ||
		    (rv = nng_http_handler_collect_body(hh, true,
		    maxbody)) != 0 ||
		    (rv = nng_http_handler_set_data(hh, h, NULL)) != 0 ||
		    (rv = nng_http_server_add_handler(srv, hh)) != 0)
			return lerr_set(e, LE_IO, "HTTP handler: %s",
			    nng_strerror(rv));
		if ((rv = nng_http_server_set_error_page(srv, 400,
		    HTTP_400_PAGE)) != 0 ||
		    (rv = nng_http_server_set_error_page(srv, 505,
		    HTTP_505_PAGE)) != 0)
			return lerr_set(e, LE_IO, "HTTP error pages: %s",
			    nng_strerror(rv));
		if ((rv = nng_http_server_start(srv)) != 0)
			return lerr_set(e, LE_IO, "listen on %s: %s", url,
			    nng_strerror(rv));
		log_info("HTTP API on %s", url);
		h->srv = srv; /* the last one; all are released at exit */
	}
	return 0;
}

/* Waits up to about limit_ms for *counter to reach 0. */
static void
wait_zero(_Atomic int *counter, int limit_ms)
{
	for (int i = 0; i < limit_ms && atomic_load(counter) > 0; i++)
		usleep(1000);
}

void
httpd_stop(struct httpd *h)
{
	atomic_store(&h->stopping, true);
	if (h->srv != NULL)
		nng_http_server_stop(h->srv);
	/* A handler that started before the flag may still be calling a
	 * sibling: the IPC clients must outlive it. */
	wait_zero(&h->in_handler, 5000);
}

void
httpd_drain(struct httpd *h)
{
	/* Closing the IPC clients failed every call in flight; their
	 * callbacks finish the requests on nng's threads. */
	for (int i = 0; i < 5000 && atomic_load(&h->inflight) > 0; i++)
		usleep(1000);
}
