/* fwd_msgs.c: a client agent's requests forwarded to a server:
 * raft.kv_forward between a client's kvd and raftd, and the check every
 * forwarded payload passes before a daemon that trusts its siblings sees
 * it (the bytes crossed the network). Encoder beside decoder. */
#include "proto.h"
#include "rd.h"

#include <string.h>

#define TEXT_MAX 4096
#define SERVER_MAX 256

bool
kv_fwd_type_ok(uint32_t type)
{
	return type == MSG_KV_READ || type == MSG_KV_WRITE ||
	    type == MSG_CAT_READ || type == MSG_CAT_REGISTER ||
	    type == MSG_CAT_DEREGISTER;
}

bool
kv_fwd_is_read(uint32_t type)
{
	return type == MSG_KV_READ || type == MSG_CAT_READ;
}

/* ---- raft.kv_forward ---- */

void
msg_raft_kv_forward_enc(struct mpw *w, const struct msg_raft_kv_forward *in)
{
	mpw_array(w, 3);
	mpw_u64(w, in->type);
	mpw_bin(w, in->payload, in->payload ? in->payload_len : 0);
	mpw_u64(w, in->timeout_ms);
}

void
msg_raft_kv_forward_enc_msg(struct mpw *w, const struct proto_msg *req,
    uint64_t timeout_ms)
{
	struct msg_raft_kv_forward f = { req->type, NULL, 0, timeout_ms };
	struct mpw p;

	mpw_init(&p);
	mpw_object(&p, req->payload);
	if (p.err != 0)
		w->err = p.err;
	f.payload = mpw_data(&p);
	f.payload_len = mpw_len(&p);
	msg_raft_kv_forward_enc(w, &f);
	mpw_free(&p);
}

int
msg_raft_kv_forward_dec(const struct proto_msg *m,
    struct msg_raft_kv_forward *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 3, "raft.kv_forward", e);
	rd_u32(&r, &out->type);
	rd_bin(&r, KV_FWD_REQ_MAX, &out->payload, &out->payload_len);
	rd_u64(&r, &out->timeout_ms);
	if (rd_end(&r) != 0)
		return r.err;
	if (!kv_fwd_type_ok(out->type))
		return lerr_set(e, LE_MALFORMED,
		    "raft.kv_forward: type %#x is not forwarded", out->type);
	if (out->payload_len == 0)
		return lerr_set(e, LE_MALFORMED, "raft.kv_forward: no payload");
	if (out->timeout_ms == 0 || out->timeout_ms > KV_FWD_TIMEOUT_MAX)
		return lerr_set(e, LE_MALFORMED,
		    "raft.kv_forward: timeout out of range");
	return 0;
}

void
msg_raft_kv_forward_reply_enc(struct mpw *w,
    const struct msg_raft_kv_forward_reply *in)
{
	mpw_array(w, 5);
	mpw_i64(w, in->code);
	mpw_str(w, in->text ? in->text : "", in->text ? in->text_len : 0);
	mpw_u64(w, in->type);
	mpw_bin(w, in->payload, in->payload ? in->payload_len : 0);
	mpw_str(w, in->server ? in->server : "",
	    in->server ? in->server_len : 0);
}

int
msg_raft_kv_forward_reply_dec(const struct proto_msg *m,
    struct msg_raft_kv_forward_reply *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 5, "raft.kv_forward.reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_u32(&r, &out->type);
	rd_bin(&r, KV_FWD_REPLY_MAX, &out->payload, &out->payload_len);
	rd_str(&r, SERVER_MAX, &out->server, &out->server_len);
	if (rd_end(&r) != 0)
		return r.err;
	if (out->code > 0)
		return lerr_set(e, LE_MALFORMED,
		    "raft.kv_forward.reply: positive code");
	if (out->code == 0 && ((out->type & PROTO_REPLY) == 0 ||
	    out->payload_len == 0))
		return lerr_set(e, LE_MALFORMED,
		    "raft.kv_forward.reply: no reply to pass on");
	return 0;
}

/* ---- the check of a forwarded payload ---- */

static int
check_read_reply(const struct proto_msg *m, bool catalog, struct lerr *e)
{
	struct msg_kv_read_reply rep;
	int rv;

	if ((rv = msg_kv_read_reply_dec(m, &rep, e)) != 0)
		return rv;
	for (uint32_t i = 0; i < rep.n_items; i++) {
		const msgpack_object *it = &rep.items[i];
		bool ok;

		if (catalog) {
			struct msg_cat_node n;
			struct msg_cat_check c;

			ok = msg_cat_node_dec(it, &n) == 0 ||
			    msg_cat_check_dec(it, &c) == 0;
		} else {
			struct msg_kv_entry ent;
			const char *k;
			size_t kl;

			ok = msg_kv_entry_dec(it, &ent) == 0 ||
			    msg_kv_key_dec(it, &k, &kl) == 0;
		}
		if (!ok)
			return lerr_set(e, LE_MALFORMED,
			    "forwarded reply: bad item %u", i);
	}
	return 0;
}

static int
check_decoded(const struct proto_msg *m, struct lerr *e)
{
	union {
		struct msg_kv_read kr;
		struct msg_kv_write kw;
		struct msg_cat_read cr;
		struct msg_cat_register reg;
		struct msg_cat_deregister dereg;
		struct msg_kv_write_reply wrep;
		struct msg_error err;
	} u;

	switch (m->type) {
	case MSG_KV_READ:
		return msg_kv_read_dec(m, &u.kr, e);
	case MSG_KV_WRITE:
		return msg_kv_write_dec(m, &u.kw, e);
	case MSG_CAT_READ:
		return msg_cat_read_dec(m, &u.cr, e);
	case MSG_CAT_REGISTER:
		return msg_cat_register_dec(m, &u.reg, e);
	case MSG_CAT_DEREGISTER:
		return msg_cat_deregister_dec(m, &u.dereg, e);
	case MSG_KV_READ | PROTO_REPLY:
		return check_read_reply(m, false, e);
	case MSG_CAT_READ | PROTO_REPLY:
		return check_read_reply(m, true, e);
	case MSG_KV_WRITE | PROTO_REPLY:
	case MSG_CAT_REGISTER | PROTO_REPLY:
	case MSG_CAT_DEREGISTER | PROTO_REPLY:
		return msg_kv_write_reply_dec(m, &u.wrep, e);
	case MSG_ERROR | PROTO_REPLY:
		return msg_error_dec(m, &u.err, e);
	default:
		return lerr_set(e, LE_MALFORMED, "type %#x is not forwarded",
		    m->type);
	}
}

int
kv_fwd_check(uint32_t type, const void *payload, size_t len, struct lerr *e)
{
	struct proto_obj o;
	struct proto_msg m;
	uint32_t base = type & ~PROTO_REPLY;
	int rv;

	if (!kv_fwd_type_ok(base) && type != (MSG_ERROR | PROTO_REPLY))
		return lerr_set(e, LE_MALFORMED, "type %#x is not forwarded",
		    type);
	if (len > ((type & PROTO_REPLY) ? KV_FWD_REPLY_MAX : KV_FWD_REQ_MAX))
		return lerr_set(e, LE_TOOBIG, "forwarded payload of %zu bytes",
		    len);
	if ((rv = proto_obj_decode(payload, len, &o, e)) != 0)
		return rv;
	/* The decoders read the payload only. */
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.payload = o.root;
	rv = check_decoded(&m, e);
	proto_obj_free(&o);
	return rv;
}

/* ---- a blocking read's wait ---- */

/* Decodes a read; with out, writes it again with wait_ms as its wait. */
static int
read_wait(uint32_t type, const void *payload, size_t len, uint64_t *wait_ms,
    struct mpw *out, struct lerr *e)
{
	struct proto_obj o;
	struct proto_msg m;
	struct msg_kv_read kr;
	struct msg_cat_read cr;
	int rv;

	if (!kv_fwd_is_read(type))
		return lerr_set(e, LE_INVAL, "type %#x is not a read", type);
	if ((rv = proto_obj_decode(payload, len, &o, e)) != 0)
		return rv;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.payload = o.root;
	if (type == MSG_KV_READ && (rv = msg_kv_read_dec(&m, &kr, e)) == 0) {
		if (out != NULL) {
			kr.wait_ms = *wait_ms;
			msg_kv_read_enc(out, &kr);
		}
		*wait_ms = kr.min_index > 0 ? kr.wait_ms : 0;
	} else if (type == MSG_CAT_READ &&
	    (rv = msg_cat_read_dec(&m, &cr, e)) == 0) {
		if (out != NULL) {
			cr.wait_ms = *wait_ms;
			msg_cat_read_enc(out, &cr);
		}
		*wait_ms = cr.min_index > 0 ? cr.wait_ms : 0;
	}
	proto_obj_free(&o);
	return rv;
}

int
kv_fwd_read_wait(uint32_t type, const void *payload, size_t len,
    uint64_t *wait_ms, struct lerr *e)
{
	return read_wait(type, payload, len, wait_ms, NULL, e);
}

int
kv_fwd_read_rewait(uint32_t type, const void *payload, size_t len,
    uint64_t wait_ms, struct mpw *out, struct lerr *e)
{
	return read_wait(type, payload, len, &wait_ms, out, e);
}
