/* raft_msgs.c: payloads between kvd/httpd and raftd, and the state
 * machine commands that Raft entries carry; encoder beside decoder. */
#include "proto.h"
#include "rd.h"

#include <string.h>

#define TEXT_MAX 4096
#define ID_MAX 128
#define ADDR_MAX 256
#define SESSION_MAX 64
#define FETCH_MAX_ENTRIES (1u << 20)

static void
enc_text(struct mpw *w, const char *text, size_t len)
{
	mpw_str(w, text ? text : "", text ? len : 0);
}

int
proto_obj_decode(const void *buf, size_t len, struct proto_obj *o,
    struct lerr *e)
{
	const char *why;
	size_t off = 0;
	int rv;

	memset(o, 0, sizeof(*o));
	if (len == 0)
		return lerr_set(e, LE_MALFORMED, "empty object");
	if ((rv = mp_prescan(buf, len, &why)) != 0)
		return lerr_set(e, -rv, "bad msgpack: %s", why);
	msgpack_unpacked_init(&o->up);
	if (msgpack_unpack_next(&o->up, buf, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != len) {
		msgpack_unpacked_destroy(&o->up);
		memset(o, 0, sizeof(*o));
		return lerr_set(e, LE_MALFORMED, "bad msgpack");
	}
	o->root = &o->up.data;
	return 0;
}

void
proto_obj_free(struct proto_obj *o)
{
	if (o->root != NULL)
		msgpack_unpacked_destroy(&o->up);
	memset(o, 0, sizeof(*o));
}

/* ---- kv.snapshot ---- */

void
msg_kv_snapshot_enc(struct mpw *w, const struct msg_kv_snapshot *in)
{
	mpw_array(w, 1);
	mpw_str(w, in->path, in->path_len);
}

int
msg_kv_snapshot_dec(const struct proto_msg *m, struct msg_kv_snapshot *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 1, "kv.snapshot", e);
	rd_str(&r, RAFT_PATH_MAX, &out->path, &out->path_len);
	if (rd_end(&r) != 0)
		return r.err;
	if (out->path_len == 0 || out->path[0] != '/')
		return lerr_set(e, LE_MALFORMED,
		    "kv.snapshot: path must be absolute");
	return 0;
}

/* ---- state machine commands ---- */

void
msg_sm_cmd_enc(struct mpw *w, const struct msg_sm_cmd *in)
{
	mpw_array(w, 4);
	mpw_u64(w, in->type);
	mpw_u64(w, in->origin);
	mpw_u64(w, in->seq);
	switch (in->type) {
	case SMC_CATALOG_REGISTER:
		msg_cat_register_enc(w, &in->reg);
		return;
	case SMC_CATALOG_DEREGISTER:
		msg_cat_deregister_enc(w, &in->dereg);
		return;
	default:
		break;
	}
	mpw_array(w, 6);
	mpw_u64(w, in->kv.op);
	mpw_str(w, in->kv.key, in->kv.key_len);
	mpw_bin(w, in->kv.value, in->kv.value_len);
	mpw_u64(w, in->kv.flags);
	mpw_u64(w, in->kv.index);
	if (in->kv.session != NULL)
		mpw_str(w, in->kv.session, in->kv.session_len);
	else
		mpw_nil(w);
}

static int
kv_cmd_dec(const msgpack_object *o, struct msg_kv_write *kv, struct lerr *e)
{
	struct rd k;

	rd_open(&k, o, 6, "kv command", e);
	rd_u32(&k, &kv->op);
	rd_str(&k, KV_MAX_KEY_WIRE, &kv->key, &kv->key_len);
	rd_bin(&k, KV_MAX_VALUE_WIRE, &kv->value, &kv->value_len);
	rd_u64(&k, &kv->flags);
	rd_u64(&k, &kv->index);
	rd_str_or_nil(&k, SESSION_MAX, &kv->session, &kv->session_len);
	if (rd_end(&k) != 0)
		return k.err;
	if (kv->op < KVW_SET || kv->op > KVW_TOMBSTONE_REAP)
		return lerr_set(e, LE_MALFORMED, "kv command: bad op %u",
		    kv->op);
	return 0;
}

int
msg_sm_cmd_dec(const msgpack_object *o, struct msg_sm_cmd *out,
    struct lerr *e)
{
	const msgpack_object *items;
	struct rd r;
	uint32_t n;

	memset(out, 0, sizeof(*out));
	rd_open(&r, o, 4, "command", e);
	rd_u32(&r, &out->type);
	rd_u64(&r, &out->origin);
	rd_u64(&r, &out->seq);
	/* Every payload is an array; its own decoder checks the rest. */
	rd_array(&r, 16, &items, &n);
	if (rd_end(&r) != 0)
		return r.err;
	switch (out->type) {
	case SMC_KV:
		return kv_cmd_dec(&o->via.array.ptr[3], &out->kv, e);
	case SMC_CATALOG_REGISTER:
		return msg_cat_register_dec_obj(&o->via.array.ptr[3],
		    &out->reg, e);
	case SMC_CATALOG_DEREGISTER:
		return msg_cat_deregister_dec_obj(&o->via.array.ptr[3],
		    &out->dereg, e);
	default:
		return lerr_set(e, LE_MALFORMED, "command: unknown type %u",
		    out->type);
	}
}

/* ---- raft.propose ---- */

void
msg_raft_propose_enc(struct mpw *w, const struct msg_raft_propose *in)
{
	mpw_array(w, 1);
	mpw_bin(w, in->data, in->data_len);
}

int
msg_raft_propose_dec(const struct proto_msg *m, struct msg_raft_propose *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 1, "raft.propose", e);
	rd_bin(&r, MP_MAX_BIN, &out->data, &out->data_len);
	if (rd_end(&r) != 0)
		return r.err;
	if (out->data_len == 0)
		return lerr_set(e, LE_MALFORMED, "raft.propose: empty data");
	return 0;
}

int
msg_raft_batch_open(const void *buf, size_t len, struct proto_obj *o,
    uint32_t *n, struct lerr *e)
{
	const msgpack_object *it;
	const void *d;
	size_t dl;
	int rv;

	if ((rv = proto_obj_decode(buf, len, o, e)) != 0)
		return rv;
	if (mp_get_array(o->root, 1, RAFT_BATCH_MAX, &it, n) != 0)
		return lerr_set(e, LE_MALFORMED, "proposal: not a batch");
	for (uint32_t i = 0; i < *n; i++)
		if (mp_get_bin(&it[i], RAFT_ENTRY_MAX, &d, &dl) != 0 ||
		    dl == 0)
			return lerr_set(e, LE_MALFORMED,
			    "proposal: command %u is not a bin", i);
	return 0;
}

int
msg_raft_batch_item(const struct proto_obj *o, uint32_t i, const void **data,
    size_t *len)
{
	return mp_get_bin(&o->root->via.array.ptr[i], RAFT_ENTRY_MAX, data,
	    len);
}

void
msg_raft_index_reply_enc(struct mpw *w, const struct msg_raft_index_reply *in)
{
	mpw_array(w, 5);
	mpw_i64(w, in->code);
	enc_text(w, in->text, in->text_len);
	mpw_u64(w, in->index);
	mpw_bool(w, in->known_leader);
	mpw_u64(w, in->last_contact_ms);
}

int
msg_raft_index_reply_dec(const struct proto_msg *m,
    struct msg_raft_index_reply *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 5, "raft.index.reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_u64(&r, &out->index);
	rd_bool(&r, &out->known_leader);
	rd_u64(&r, &out->last_contact_ms);
	return rd_end(&r);
}

/* ---- raft.read_index ---- */

void
msg_raft_read_index_enc(struct mpw *w, const struct msg_raft_read_index *in)
{
	mpw_array(w, 1);
	mpw_u64(w, in->consistency);
}

int
msg_raft_read_index_dec(const struct proto_msg *m,
    struct msg_raft_read_index *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 1, "raft.read_index", e);
	rd_u32(&r, &out->consistency);
	if (rd_end(&r) != 0)
		return r.err;
	if (out->consistency > CONS_CONSISTENT)
		return lerr_set(e, LE_MALFORMED,
		    "raft.read_index: bad consistency %u", out->consistency);
	return 0;
}

/* ---- raft.fetch ---- */

void
msg_raft_fetch_enc(struct mpw *w, const struct msg_raft_fetch *in)
{
	mpw_array(w, 3);
	mpw_u64(w, in->from);
	mpw_u64(w, in->max_bytes);
	mpw_u64(w, in->wait_ms);
}

int
msg_raft_fetch_dec(const struct proto_msg *m, struct msg_raft_fetch *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 3, "raft.fetch", e);
	rd_u64(&r, &out->from);
	rd_u64(&r, &out->max_bytes);
	rd_u64(&r, &out->wait_ms);
	if (rd_end(&r) != 0)
		return r.err;
	if (out->from == 0)
		return lerr_set(e, LE_MALFORMED, "raft.fetch: index 0");
	return 0;
}

void
msg_raft_fetch_reply_begin(struct mpw *w,
    const struct msg_raft_fetch_reply *in)
{
	mpw_array(w, 9);
	mpw_i64(w, in->code);
	enc_text(w, in->text, in->text_len);
	mpw_u64(w, in->commit);
	mpw_bool(w, in->known_leader);
	mpw_u64(w, in->last_contact_ms);
	mpw_u64(w, in->lease_until_ms);
	mpw_u64(w, in->snap_index);
	enc_text(w, in->snap_path, in->snap_path_len);
	mpw_array(w, in->n_entries);
}

void
msg_raft_entry_enc(struct mpw *w, const struct msg_raft_entry *in)
{
	mpw_array(w, 4);
	mpw_u64(w, in->index);
	mpw_u64(w, in->term);
	mpw_u64(w, in->type);
	mpw_bin(w, in->data, in->data_len);
}

int
msg_raft_fetch_reply_dec(const struct proto_msg *m,
    struct msg_raft_fetch_reply *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 9, "raft.fetch.reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_u64(&r, &out->commit);
	rd_bool(&r, &out->known_leader);
	rd_u64(&r, &out->last_contact_ms);
	rd_u64(&r, &out->lease_until_ms);
	rd_u64(&r, &out->snap_index);
	rd_str(&r, RAFT_PATH_MAX, &out->snap_path, &out->snap_path_len);
	rd_array(&r, FETCH_MAX_ENTRIES, &out->entries, &out->n_entries);
	return rd_end(&r);
}

int
msg_raft_entry_dec(const msgpack_object *o, struct msg_raft_entry *out)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, o, 4, "raft entry", NULL);
	rd_u64(&r, &out->index);
	rd_u64(&r, &out->term);
	rd_u32(&r, &out->type);
	rd_bin(&r, RAFT_ENTRY_MAX, &out->data, &out->data_len);
	if (rd_end(&r) != 0)
		return r.err;
	if (out->type < RAFT_ENT_COMMAND || out->type > RAFT_ENT_NOOP)
		return -LE_MALFORMED;
	return 0;
}

/* ---- raft.status ---- */

void
msg_raft_status_reply_enc(struct mpw *w,
    const struct msg_raft_status_reply *in)
{
	mpw_array(w, 12);
	mpw_i64(w, in->code);
	enc_text(w, in->text, in->text_len);
	enc_text(w, in->state, in->state_len);
	mpw_u64(w, in->term);
	enc_text(w, in->leader_id, in->leader_id_len);
	enc_text(w, in->leader_addr, in->leader_addr_len);
	mpw_u64(w, in->commit);
	mpw_u64(w, in->applied);
	mpw_u64(w, in->last_index);
	mpw_bool(w, in->known_leader);
	mpw_u64(w, in->last_contact_ms);
	mpw_array(w, in->n_servers);
	for (uint32_t i = 0; i < in->n_servers; i++) {
		const struct msg_raft_server *s = &in->servers[i];

		mpw_array(w, 5);
		enc_text(w, s->id, s->id_len);
		enc_text(w, s->node, s->node_len);
		enc_text(w, s->address, s->address_len);
		mpw_bool(w, s->voter);
		mpw_u64(w, s->last_index);
	}
}

int
msg_raft_status_reply_dec(const struct proto_msg *m,
    struct msg_raft_status_reply *out, struct lerr *e)
{
	const msgpack_object *srv;
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 12, "raft.status.reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_str(&r, 32, &out->state, &out->state_len);
	rd_u64(&r, &out->term);
	rd_str(&r, ID_MAX, &out->leader_id, &out->leader_id_len);
	rd_str(&r, ADDR_MAX, &out->leader_addr, &out->leader_addr_len);
	rd_u64(&r, &out->commit);
	rd_u64(&r, &out->applied);
	rd_u64(&r, &out->last_index);
	rd_bool(&r, &out->known_leader);
	rd_u64(&r, &out->last_contact_ms);
	rd_array(&r, RAFT_STATUS_MAX_SERVERS, &srv, &out->n_servers);
	if (rd_end(&r) != 0)
		return r.err;
	for (uint32_t i = 0; i < out->n_servers; i++) {
		struct msg_raft_server *s = &out->servers[i];
		struct rd q;

		rd_open(&q, &srv[i], 5, "raft server", e);
		rd_str(&q, ID_MAX, &s->id, &s->id_len);
		rd_str(&q, ID_MAX, &s->node, &s->node_len);
		rd_str(&q, ADDR_MAX, &s->address, &s->address_len);
		rd_bool(&q, &s->voter);
		rd_u64(&q, &s->last_index);
		if (rd_end(&q) != 0)
			return q.err;
	}
	return 0;
}

/* ---- raft.operator ---- */

void
msg_raft_operator_enc(struct mpw *w, const struct msg_raft_operator *in)
{
	mpw_array(w, 2);
	mpw_u64(w, in->op);
	enc_text(w, in->arg, in->arg_len);
}

int
msg_raft_operator_dec(const struct proto_msg *m,
    struct msg_raft_operator *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 2, "raft.operator", e);
	rd_u32(&r, &out->op);
	rd_str(&r, ADDR_MAX, &out->arg, &out->arg_len);
	if (rd_end(&r) != 0)
		return r.err;
	if (out->op < RAFT_OP_REMOVE_PEER || out->op > RAFT_OP_TRANSFER)
		return lerr_set(e, LE_MALFORMED, "raft.operator: bad op %u",
		    out->op);
	return 0;
}
