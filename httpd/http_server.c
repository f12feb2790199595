/* http_server.c: what httpd does with a request that http_conn.c read:
 * parses its target once and routes it; helpers write responses with
 * Consul's headers and error texts. */
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
	free(hr->uri);
	sbuf_free(&hr->hdrs);
	sbuf_free(&hr->body);
	sbuf_free(&hr->resp_hdrs);
	atomic_fetch_sub(&hr->h->inflight, 1);
	free(hr);
}

void
hreq_body(struct hreq *hr, void **body, size_t *len)
{
	*body = hr->body.s;
	*len = hr->body.len;
}

/* Sets a response header, replacing one of the same name. */
void
hreq_set_header(struct hreq *hr, const char *name, const char *value)
{
	struct sbuf *b = &hr->resp_hdrs;
	size_t nl = strlen(name);

	for (size_t i = 0; i < b->len;) {
		char *eol = strstr(b->s + i, "\r\n");
		size_t end = eol != NULL ? (size_t)(eol - b->s) + 2 : b->len;

		if (end - i > nl && b->s[i + nl] == ':' &&
		    strncasecmp(b->s + i, name, nl) == 0) {
			memmove(b->s + i, b->s + end, b->len - end + 1);
			b->len -= end - i;
			continue;
		}
		i = end;
	}
	/* A value cannot carry a line break into the response. */
	sbuf_printf(b, "%s: ", name);
	for (const char *v = value; *v != '\0'; v++)
		sbuf_addc(b, *v == '\r' || *v == '\n' ? ' ' : *v);
	sbuf_adds(b, "\r\n");
}

void
hreq_finish(struct hreq *hr, uint16_t status, const char *ctype,
    const void *body, size_t len)
{
	struct httpd *h = hr->h;

	/* Responses sent are counted; none goes to a client that left (a
	 * cancelled blocking query's answer, say). */
	if (hr->conn != NULL && status >= 500)
		atomic_fetch_add(&h->errors_5xx, 1);
	else if (hr->conn != NULL && status >= 400)
		atomic_fetch_add(&h->errors_4xx, 1);
	hconn_respond(hr, status, ctype, body, len);
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
hreq_cancellable(struct hreq *hr, struct ipc_client *to,
    const struct ipc_call *call)
{
	if (hr->blk.index == 0)
		return;
	hr->cancel_to = to;
	hr->cancel_id = ipc_call_id(call);
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

void
http_handle(struct hreq *hr)
{
	struct httpd *h = hr->h;
	const char *uri, *qm;
	size_t plen;

	atomic_fetch_add(&h->requests, 1);
	atomic_fetch_add(&h->inflight, 1);
	hreq_set_header(hr, "X-Consul-Default-Acl-Policy", "allow");
	uri = hr->uri;
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
