/* raft_wire.c: the server-to-server messages; see raft_wire.h. */
#include "raft_wire.h"
#include "rd.h"

#include <string.h>

#define RW_MAX_ENTRIES 65536
#define RW_UUID_MAX 64
#define RW_NODE_MAX 128
#define RW_DC_MAX 64

static void
head(struct mpw *w, uint32_t n, uint32_t type, uint64_t from)
{
	mpw_array(w, 3 + n);
	mpw_u64(w, RAFT_WIRE_VERSION);
	mpw_u64(w, type);
	mpw_u64(w, from);
}

static void
enc_str(struct mpw *w, const char *s, size_t len)
{
	mpw_str(w, s ? s : "", s ? len : 0);
}

void
rw_raft_begin(struct mpw *w, uint64_t from, const struct rw_raft *r)
{
	head(w, 7, RW_RAFT, from);
	mpw_u64(w, r->mtype);
	mpw_u64(w, r->to);
	mpw_u64(w, r->term);
	mpw_array(w, 6);
	for (int i = 0; i < 6; i++)
		mpw_u64(w, r->a[i]);
	mpw_bin(w, r->blob, r->blob ? r->blob_len : 0);
	mpw_bin(w, r->data, r->data ? r->data_len : 0);
	mpw_array(w, r->n_entries);
}

static void
enc_server(struct mpw *w, const struct rw_server *s)
{
	mpw_array(w, 5);
	enc_str(w, s->uuid, s->uuid_len);
	enc_str(w, s->node, s->node_len);
	enc_str(w, s->addr, s->addr_len);
	mpw_u64(w, s->expect);
	mpw_bool(w, s->has_state);
}

void
rw_hello_enc(struct mpw *w, uint64_t from, const struct rw_hello *h)
{
	head(w, 3, RW_HELLO, from);
	enc_str(w, h->dc, h->dc_len);
	enc_server(w, &h->self);
	mpw_array(w, h->n_known);
	for (uint32_t i = 0; i < h->n_known; i++)
		enc_server(w, &h->known[i]);
}

void
rw_fwd_enc(struct mpw *w, uint32_t type, uint64_t from,
    const struct rw_fwd *f)
{
	head(w, 4, type, from);
	mpw_u64(w, f->req_id);
	enc_str(w, f->reply_addr, f->reply_addr_len);
	mpw_u64(w, f->num);
	mpw_bin(w, f->data, f->data ? f->data_len : 0);
}

void
rw_fwd_reply_enc(struct mpw *w, uint32_t type, uint64_t from,
    const struct rw_fwd_reply *r)
{
	head(w, 4, type, from);
	mpw_u64(w, r->req_id);
	mpw_i64(w, r->code);
	mpw_u64(w, r->index);
	enc_str(w, r->text, r->text_len);
}

void
rw_snap_chunk_enc(struct mpw *w, uint64_t from, const struct rw_snap_chunk *c)
{
	head(w, 9, RW_SNAP_CHUNK, from);
	mpw_u64(w, c->to);
	mpw_u64(w, c->term);
	mpw_u64(w, c->round);
	mpw_u64(w, c->index);
	mpw_u64(w, c->snap_term);
	mpw_u64(w, c->offset);
	mpw_u64(w, c->total);
	mpw_bin(w, c->conf, c->conf_len);
	mpw_bin(w, c->data, c->data_len);
}

void
rw_kv_fwd_enc(struct mpw *w, uint64_t from, const struct rw_kv_fwd *f)
{
	head(w, 5, RW_KV_FWD, from);
	mpw_u64(w, f->req_id);
	enc_str(w, f->reply_addr, f->reply_addr_len);
	mpw_u64(w, f->mtype);
	mpw_bin(w, f->payload, f->payload ? f->payload_len : 0);
	mpw_u64(w, f->timeout_ms);
}

void
rw_kv_fwd_reply_enc(struct mpw *w, uint64_t from,
    const struct rw_kv_fwd_reply *r)
{
	head(w, 5, RW_KV_FWD_REPLY, from);
	mpw_u64(w, r->req_id);
	mpw_i64(w, r->code);
	enc_str(w, r->text, r->text_len);
	mpw_u64(w, r->mtype);
	mpw_bin(w, r->payload, r->payload ? r->payload_len : 0);
}

static int
dec_kv_fwd(const msgpack_object *it, uint32_t n, struct rw_kv_fwd *f,
    struct lerr *e)
{
	uint64_t t;
	int rv;

	if (n != 8 || mp_get_u64(&it[3], &f->req_id) != 0 ||
	    mp_get_str(&it[4], RW_ADDR_MAX, &f->reply_addr,
	    &f->reply_addr_len) != 0 || f->reply_addr_len == 0 ||
	    mp_get_u64(&it[5], &t) != 0 || t > UINT32_MAX ||
	    mp_get_bin(&it[6], KV_FWD_REQ_MAX, &f->payload,
	    &f->payload_len) != 0 ||
	    mp_get_u64(&it[7], &f->timeout_ms) != 0 || f->timeout_ms == 0 ||
	    f->timeout_ms > KV_FWD_TIMEOUT_MAX)
		return lerr_set(e, LE_MALFORMED, "bad kv forward");
	f->mtype = (uint32_t)t;
	if (!kv_fwd_type_ok(f->mtype))
		return lerr_set(e, LE_MALFORMED, "kv forward of type %#x",
		    f->mtype);
	if ((rv = kv_fwd_check(f->mtype, f->payload, f->payload_len, e)) != 0)
		return rv == -LE_TOOBIG ? rv : -LE_MALFORMED;
	return 0;
}

static int
dec_kv_fwd_reply(const msgpack_object *it, uint32_t n,
    struct rw_kv_fwd_reply *r, struct lerr *e)
{
	int64_t code;
	uint64_t t;
	int rv;

	if (n != 8 || mp_get_u64(&it[3], &r->req_id) != 0 ||
	    mp_get_i64(&it[4], &code) != 0 || code > 0 || code < -1000 ||
	    mp_get_str(&it[5], RW_TEXT_MAX, &r->text, &r->text_len) != 0 ||
	    mp_get_u64(&it[6], &t) != 0 || t > UINT32_MAX ||
	    mp_get_bin(&it[7], KV_FWD_REPLY_MAX, &r->payload,
	    &r->payload_len) != 0)
		return lerr_set(e, LE_MALFORMED, "bad kv forward reply");
	r->code = (int32_t)code;
	r->mtype = (uint32_t)t;
	if (code != 0) {
		if (r->mtype != 0 || r->payload_len != 0)
			return lerr_set(e, LE_MALFORMED,
			    "kv forward error with a payload");
		return 0;
	}
	if ((r->mtype & PROTO_REPLY) == 0)
		return lerr_set(e, LE_MALFORMED, "kv forward reply of type %#x",
		    r->mtype);
	if ((rv = kv_fwd_check(r->mtype, r->payload, r->payload_len, e)) != 0)
		return rv == -LE_TOOBIG ? rv : -LE_MALFORMED;
	return 0;
}

static int
dec_server(const msgpack_object *o, struct rw_server *s, struct lerr *e)
{
	struct rd r;

	rd_open(&r, o, 5, "server", e);
	rd_str(&r, RW_UUID_MAX, &s->uuid, &s->uuid_len);
	rd_str(&r, RW_NODE_MAX, &s->node, &s->node_len);
	rd_str(&r, RW_ADDR_MAX, &s->addr, &s->addr_len);
	rd_u64(&r, &s->expect);
	rd_bool(&r, &s->has_state);
	return rd_end(&r);
}

int
rw_decode(const void *buf, size_t len, struct proto_obj *o, struct rw_msg *m,
    struct lerr *e)
{
	const msgpack_object *it, *arr;
	uint32_t n, na;
	uint64_t v, t;
	int rv;

	memset(m, 0, sizeof(*m));
	if (len > PROTO_MAX_MSG)
		return lerr_set(e, LE_TOOBIG, "message of %zu bytes", len);
	if ((rv = proto_obj_decode(buf, len, o, e)) != 0)
		return rv;
	if (mp_get_array(o->root, 3, 16, &it, &n) != 0)
		return lerr_set(e, LE_MALFORMED, "not a message array");
	if (mp_get_u64(&it[0], &v) != 0 || v != RAFT_WIRE_VERSION)
		return lerr_set(e, LE_VERSION, "wire version %llu, want %d",
		    (unsigned long long)v, RAFT_WIRE_VERSION);
	if (mp_get_u64(&it[1], &t) != 0 || t < RW_RAFT ||
	    t > RW_KV_FWD_REPLY)
		return lerr_set(e, LE_MALFORMED, "unknown message type");
	m->type = (uint32_t)t;
	if (mp_get_u64(&it[2], &m->from) != 0 || m->from == 0)
		return lerr_set(e, LE_MALFORMED, "bad sender id");
	switch (m->type) {
	case RW_RAFT: {
		struct rw_raft *r = &m->u.raft;

		if (n != 10 || mp_get_u64(&it[3], &v) != 0 || v > 255 ||
		    mp_get_u64(&it[4], &r->to) != 0 ||
		    mp_get_u64(&it[5], &r->term) != 0 ||
		    mp_get_array(&it[6], 6, 6, &arr, &na) != 0 ||
		    mp_get_bin(&it[7], MP_MAX_BIN, &r->blob, &r->blob_len) ||
		    mp_get_bin(&it[8], MP_MAX_BIN, &r->data, &r->data_len) ||
		    mp_get_array(&it[9], 0, RW_MAX_ENTRIES, &r->entries,
		    &r->n_entries) != 0)
			return lerr_set(e, LE_MALFORMED, "bad raft message");
		r->mtype = (uint32_t)v;
		for (int i = 0; i < 6; i++)
			if (mp_get_u64(&arr[i], &r->a[i]) != 0)
				return lerr_set(e, LE_MALFORMED,
				    "bad raft message field");
		return 0;
	}
	case RW_HELLO: {
		struct rw_hello *h = &m->u.hello;

		if (n != 6 ||
		    mp_get_str(&it[3], RW_DC_MAX, &h->dc, &h->dc_len) != 0 ||
		    dec_server(&it[4], &h->self, e) != 0 ||
		    mp_get_array(&it[5], 0, RW_MAX_KNOWN, &arr, &h->n_known))
			return lerr_set(e, LE_MALFORMED, "bad hello");
		for (uint32_t i = 0; i < h->n_known; i++)
			if (dec_server(&arr[i], &h->known[i], e) != 0)
				return lerr_set(e, LE_MALFORMED, "bad hello");
		return 0;
	}
	case RW_FWD_PROPOSE:
	case RW_FWD_READ:
	case RW_FWD_OP: {
		struct rw_fwd *f = &m->u.fwd;

		if (n != 7 || mp_get_u64(&it[3], &f->req_id) != 0 ||
		    mp_get_str(&it[4], RW_ADDR_MAX, &f->reply_addr,
		    &f->reply_addr_len) != 0 ||
		    mp_get_u64(&it[5], &f->num) != 0 ||
		    mp_get_bin(&it[6], RAFT_ENTRY_MAX, &f->data,
		    &f->data_len) != 0)
			return lerr_set(e, LE_MALFORMED, "bad forward");
		return 0;
	}
	case RW_SNAP_CHUNK: {
		struct rw_snap_chunk *c = &m->u.chunk;

		if (n != 12 || mp_get_u64(&it[3], &c->to) != 0 ||
		    mp_get_u64(&it[4], &c->term) != 0 ||
		    mp_get_u64(&it[5], &c->round) != 0 ||
		    mp_get_u64(&it[6], &c->index) != 0 ||
		    mp_get_u64(&it[7], &c->snap_term) != 0 ||
		    mp_get_u64(&it[8], &c->offset) != 0 ||
		    mp_get_u64(&it[9], &c->total) != 0 ||
		    mp_get_bin(&it[10], 65536, &c->conf, &c->conf_len) != 0 ||
		    mp_get_bin(&it[11], RW_SNAP_CHUNK_MAX, &c->data,
		    &c->data_len) != 0)
			return lerr_set(e, LE_MALFORMED, "bad snapshot chunk");
		if (c->total == 0 || c->total > RW_SNAP_TOTAL_MAX ||
		    c->offset > c->total || c->data_len > c->total - c->offset ||
		    c->data_len == 0)
			return lerr_set(e, LE_MALFORMED,
			    "snapshot chunk out of bounds");
		return 0;
	}
	case RW_KV_FWD:
		return dec_kv_fwd(it, n, &m->u.kv_fwd, e);
	case RW_KV_FWD_REPLY:
		return dec_kv_fwd_reply(it, n, &m->u.kv_reply, e);
	default: {
		struct rw_fwd_reply *r = &m->u.reply;
		int64_t code;

		if (n != 7 || mp_get_u64(&it[3], &r->req_id) != 0 ||
		    mp_get_i64(&it[4], &code) != 0 || code > 0 ||
		    code < -1000 || mp_get_u64(&it[5], &r->index) != 0 ||
		    mp_get_str(&it[6], RW_TEXT_MAX, &r->text,
		    &r->text_len) != 0)
			return lerr_set(e, LE_MALFORMED, "bad forward reply");
		r->code = (int32_t)code;
		return 0;
	}
	}
}
