/* http_kv.c: /v1/kv/<key> with Consul's semantics: GET (?recurse, ?keys,
 * ?separator, ?raw, blocking ?index/?wait, consistency modes), PUT (raw
 * body, ?flags, ?cas) and DELETE (?recurse, ?cas), answered from kvd. */
#include "httpd.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV_RPC_TIMEOUT_MS 10000
/* A parked query gets its wait plus this much before httpd gives up. */
#define KV_BLOCK_SLACK_MS 15000

/* ---- GET ---- */

static void
render_entry(struct sbuf *b, const struct msg_kv_entry *e)
{
	sbuf_printf(b, "{\"LockIndex\":%llu,\"Key\":",
	    (unsigned long long)e->lock_index);
	sbuf_json_str(b, e->key, e->key_len);
	sbuf_printf(b, ",\"Flags\":%llu,\"Value\":",
	    (unsigned long long)e->flags);
	if (e->value_len == 0) {
		sbuf_adds(b, "null");
	} else {
		sbuf_addc(b, '"');
		sbuf_base64(b, e->value, e->value_len);
		sbuf_addc(b, '"');
	}
	if (e->session != NULL) {
		sbuf_adds(b, ",\"Session\":");
		sbuf_json_str(b, e->session, e->session_len);
	}
	sbuf_printf(b, ",\"CreateIndex\":%llu,\"ModifyIndex\":%llu}",
	    (unsigned long long)e->create_index,
	    (unsigned long long)e->modify_index);
}

static void
on_read_reply(void *arg, int rv, struct proto_msg *m)
{
	struct hreq *hr = arg;
	struct msg_kv_read_reply rep;
	struct msg_kv_entry ent;
	struct lerr e;
	struct sbuf b;

	if (hr->blk.index > 0)
		atomic_fetch_sub(&hr->h->blocking, 1);
	if (rv != 0) {
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if (m->type == (MSG_ERROR | PROTO_REPLY)) {
		struct msg_error me;

		if (msg_error_dec(m, &me, &e) != 0)
			hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		else
			hreq_ipc_error(hr, me.code, me.text, me.text_len);
		return;
	}
	if (msg_kv_read_reply_dec(m, &rep, &e) != 0) {
		log_warnx("kv.read reply: %s", e.msg);
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	if (rep.code != 0 && rep.code != -LE_NOTFOUND) {
		hreq_ipc_error(hr, rep.code, rep.text, rep.text_len);
		return;
	}
	hreq_read_headers(hr, rep.index, rep.known_leader,
	    rep.last_contact_ms);
	if (rep.code == -LE_NOTFOUND || rep.n_items == 0) {
		/* Keys under the root are an empty list, not a 404. */
		if (hr->kv_mode == KVR_KEYS && hr->key[0] == '\0') {
			hreq_finish(hr, 200, "application/json", "[]", 2);
			return;
		}
		hreq_finish(hr, 404, NULL, NULL, 0);
		return;
	}
	if (hr->raw && hr->kv_mode == KVR_GET) {
		if (msg_kv_entry_dec(&rep.items[0], &ent) != 0) {
			hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
			return;
		}
		hreq_set_header(hr, "X-Content-Type-Options", "nosniff");
		hreq_set_header(hr, "Content-Security-Policy", "sandbox");
		hreq_finish(hr, 200, "text/plain", ent.value, ent.value_len);
		return;
	}
	sbuf_init(&b);
	sbuf_addc(&b, '[');
	for (uint32_t i = 0; i < rep.n_items; i++) {
		if (i > 0)
			sbuf_addc(&b, ',');
		if (hr->kv_mode == KVR_KEYS) {
			const char *k;
			size_t kl;

			if (msg_kv_key_dec(&rep.items[i], &k, &kl) != 0)
				goto bad;
			sbuf_json_str(&b, k, kl);
		} else {
			if (msg_kv_entry_dec(&rep.items[i], &ent) != 0)
				goto bad;
			render_entry(&b, &ent);
		}
	}
	sbuf_addc(&b, ']');
	hreq_json(hr, 200, &b);
	sbuf_free(&b);
	return;
bad:
	sbuf_free(&b);
	hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
}

static void
kv_get(struct hreq *hr, const char *key, size_t klen)
{
	struct httpd *h = hr->h;
	struct msg_kv_read q = { 0 };
	struct ipc_call *call;
	const char *err, *sep = NULL;
	uint64_t timeout = KV_RPC_TIMEOUT_MS, r;

	if (hreq_consistency(hr) != 0)
		return;
	if (parse_blocking(&hr->q, h->cfg.default_query_time_ms,
	    h->cfg.max_query_time_ms, &hr->blk, &err) != 0) {
		hreq_error(hr, 400, "%s", err);
		return;
	}
	if (hquery_has(&hr->q, "keys")) {
		hr->kv_mode = KVR_KEYS;
		/* Both spellings, as Consul (a historic typo). */
		if ((sep = hquery_get(&hr->q, "separator")) == NULL)
			sep = hquery_get(&hr->q, "seperator");
	} else if (hquery_has(&hr->q, "recurse")) {
		hr->kv_mode = KVR_RECURSE;
	} else {
		hr->kv_mode = KVR_GET;
		if (klen == 0) {
			hreq_error(hr, 400, "Missing key name");
			return;
		}
	}
	hr->raw = hquery_has(&hr->q, "raw");
	q.mode = (uint32_t)hr->kv_mode;
	q.key = key;
	q.key_len = klen;
	if (sep != NULL && *sep != '\0') {
		q.sep = sep;
		q.sep_len = strlen(sep);
	}
	q.consistency = hr->consistency;
	if (hr->blk.index > 0) {
		random_bytes(&r, sizeof(r));
		q.min_index = hr->blk.index;
		q.wait_ms = blocking_jitter(hr->blk.wait_ms,
		    h->cfg.max_query_time_ms, r);
		timeout = q.wait_ms + KV_BLOCK_SLACK_MS;
		atomic_fetch_add(&h->blocking, 1);
	}
	call = ipc_call_new(h->kvd, MSG_KV_READ);
	msg_kv_read_enc(ipc_call_writer(call), &q);
	hreq_cancellable(hr, h->kvd, call);
	ipc_call_send_loop(call, timeout, hr->h->loop, on_read_reply, hr);
}

/* ---- PUT and DELETE ---- */

static void
on_write_reply(void *arg, int rv, struct proto_msg *m)
{
	struct hreq *hr = arg;
	struct msg_kv_write_reply rep;
	struct lerr e;

	if (rv != 0) {
		hreq_ipc_error(hr, rv, NULL, 0);
		return;
	}
	if (m->type == (MSG_ERROR | PROTO_REPLY)) {
		struct msg_error me;

		if (msg_error_dec(m, &me, &e) != 0)
			hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		else
			hreq_ipc_error(hr, me.code, me.text, me.text_len);
		return;
	}
	if (msg_kv_write_reply_dec(m, &rep, &e) != 0) {
		hreq_ipc_error(hr, -LE_MALFORMED, NULL, 0);
		return;
	}
	if (rep.code != 0) {
		hreq_ipc_error(hr, rep.code, rep.text, rep.text_len);
		return;
	}
	/* Plain set and delete always answer true, as Consul does. */
	if (rep.result || (hr->kv_mode != KVW_CAS &&
	    hr->kv_mode != KVW_DELETE_CAS))
		hreq_finish(hr, 200, "application/json", "true", 4);
	else
		hreq_finish(hr, 200, "application/json", "false", 5);
}

/* Consul answers non-composable flags with the query re-encoded. */
static bool
conflicting(struct hreq *hr, const char *a, const char *b, const char *c)
{
	char enc[1024];
	int n = hquery_has(&hr->q, a) + hquery_has(&hr->q, b) +
	    (c != NULL && hquery_has(&hr->q, c));

	if (n < 2)
		return false;
	hquery_encode(&hr->q, enc, sizeof(enc));
	hreq_error(hr, 400, "Conflicting flags: %s\n", enc);
	return true;
}

static int
query_u64(struct hreq *hr, const char *name, uint64_t *v, bool *present)
{
	const char *s = hquery_get(&hr->q, name);
	char err[160];

	*present = s != NULL;
	*v = 0;
	if (s == NULL)
		return 0;
	if (parse_u64(s, v, err, sizeof(err)) != 0) {
		hreq_error(hr, 400, "%s", err);
		return -1;
	}
	return 0;
}

static void
kv_put(struct hreq *hr, const char *key, size_t klen)
{
	struct httpd *h = hr->h;
	struct msg_kv_write w = { 0 };
	struct ipc_call *call;
	void *body;
	size_t blen;
	bool has_flags, has_cas;
	const char *sess;

	if (klen == 0) {
		hreq_error(hr, 400, "Missing key name");
		return;
	}
	if (conflicting(hr, "cas", "acquire", "release"))
		return;
	if (query_u64(hr, "flags", &w.flags, &has_flags) != 0 ||
	    query_u64(hr, "cas", &w.index, &has_cas) != 0)
		return;
	if ((sess = hquery_get(&hr->q, "acquire")) != NULL ||
	    (sess = hquery_get(&hr->q, "release")) != NULL) {
		/* Sessions arrive with a later issue; until then no session
		 * exists, and Consul answers an unknown one this way. */
		hreq_error(hr, 500, "Invalid session \"%.64s\"", sess);
		return;
	}
	hreq_body(hr, &body, &blen);
	if (blen > (size_t)h->cfg.kv_max_value_size) {
		hreq_error(hr, 413, "Request body(%zu bytes) too large, max "
		    "size: %lld bytes. See https://developer.hashicorp.com/"
		    "docs/agent/config/config-files#kv_max_value_size.", blen,
		    (long long)h->cfg.kv_max_value_size);
		return;
	}
	w.op = has_cas ? KVW_CAS : KVW_SET;
	hr->kv_mode = (int)w.op;
	w.key = key;
	w.key_len = klen;
	w.value = body;
	w.value_len = blen;
	call = ipc_call_new(h->kvd, MSG_KV_WRITE);
	msg_kv_write_enc(ipc_call_writer(call), &w);
	ipc_call_send_loop(call, KV_RPC_TIMEOUT_MS, hr->h->loop,
	    on_write_reply, hr);
}

static void
kv_delete(struct hreq *hr, const char *key, size_t klen)
{
	struct httpd *h = hr->h;
	struct msg_kv_write w = { 0 };
	struct ipc_call *call;
	bool has_cas;

	if (conflicting(hr, "recurse", "cas", NULL))
		return;
	if (query_u64(hr, "cas", &w.index, &has_cas) != 0)
		return;
	if (has_cas)
		w.op = KVW_DELETE_CAS;
	else if (hquery_has(&hr->q, "recurse"))
		w.op = KVW_DELETE_TREE;
	else if (klen == 0) {
		hreq_error(hr, 400, "Missing key name");
		return;
	} else
		w.op = KVW_DELETE;
	hr->kv_mode = (int)w.op;
	w.key = key;
	w.key_len = klen;
	call = ipc_call_new(h->kvd, MSG_KV_WRITE);
	msg_kv_write_enc(ipc_call_writer(call), &w);
	ipc_call_send_loop(call, KV_RPC_TIMEOUT_MS, hr->h->loop,
	    on_write_reply, hr);
}

void
http_kv(struct hreq *hr, const char *key, size_t klen)
{
	hr->key = xmalloc(klen + 1);
	memcpy(hr->key, key, klen);
	hr->key[klen] = '\0';
	if (klen > KV_MAX_KEY_WIRE) {
		hreq_error(hr, 400, "Key too long (%zu bytes, max %u)", klen,
		    KV_MAX_KEY_WIRE);
		return;
	}
	if (strcmp(hr->method, "GET") == 0 || strcmp(hr->method, "HEAD") == 0)
		kv_get(hr, hr->key, klen);
	else if (strcmp(hr->method, "PUT") == 0)
		kv_put(hr, hr->key, klen);
	else if (strcmp(hr->method, "DELETE") == 0)
		kv_delete(hr, hr->key, klen);
	else {
		hreq_set_header(hr, "Allow", "GET,PUT,DELETE");
		hreq_error(hr, 405, "method %s not allowed", hr->method);
	}
}
