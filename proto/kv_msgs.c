/* kv_msgs.c: payloads between httpd and kvd; encoder beside decoder. */
#include "proto.h"
#include "rd.h"

#include <string.h>

#define TEXT_MAX 4096
#define SESSION_MAX 64
#define KV_MAX_ITEMS (16u << 20)

void
msg_kv_read_enc(struct mpw *w, const struct msg_kv_read *in)
{
	mpw_array(w, 6);
	mpw_u64(w, in->mode);
	mpw_str(w, in->key, in->key_len);
	if (in->sep != NULL)
		mpw_str(w, in->sep, in->sep_len);
	else
		mpw_nil(w);
	mpw_u64(w, in->min_index);
	mpw_u64(w, in->wait_ms);
	mpw_u64(w, in->consistency);
}

int
msg_kv_read_dec(const struct proto_msg *m, struct msg_kv_read *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 6, "kv.read", e);
	rd_u32(&r, &out->mode);
	rd_str(&r, KV_MAX_KEY_WIRE, &out->key, &out->key_len);
	rd_str_or_nil(&r, 256, &out->sep, &out->sep_len);
	rd_u64(&r, &out->min_index);
	rd_u64(&r, &out->wait_ms);
	rd_u32(&r, &out->consistency);
	if (rd_end(&r) != 0)
		return r.err;
	if (out->mode < KVR_GET || out->mode > KVR_KEYS)
		return lerr_set(e, LE_MALFORMED, "kv.read: bad mode %u",
		    out->mode);
	if (out->consistency > CONS_CONSISTENT)
		return lerr_set(e, LE_MALFORMED, "kv.read: bad consistency");
	return 0;
}

void
msg_kv_read_reply_begin(struct mpw *w, const struct msg_kv_read_reply *in)
{
	mpw_array(w, 6);
	mpw_i64(w, in->code);
	mpw_str(w, in->text ? in->text : "", in->text ? in->text_len : 0);
	mpw_u64(w, in->index);
	mpw_bool(w, in->known_leader);
	mpw_u64(w, in->last_contact_ms);
	mpw_array(w, in->n_items);
	/* the caller writes n_items items */
}

void
msg_kv_entry_enc(struct mpw *w, const struct msg_kv_entry *in)
{
	mpw_array(w, 7);
	mpw_str(w, in->key, in->key_len);
	mpw_bin(w, in->value, in->value_len);
	mpw_u64(w, in->create_index);
	mpw_u64(w, in->modify_index);
	mpw_u64(w, in->lock_index);
	mpw_u64(w, in->flags);
	if (in->session != NULL)
		mpw_str(w, in->session, in->session_len);
	else
		mpw_nil(w);
}

int
msg_kv_read_reply_dec(const struct proto_msg *m,
    struct msg_kv_read_reply *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 6, "kv.read.reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_u64(&r, &out->index);
	rd_bool(&r, &out->known_leader);
	rd_u64(&r, &out->last_contact_ms);
	rd_array(&r, KV_MAX_ITEMS, &out->items, &out->n_items);
	return rd_end(&r);
}

int
msg_kv_entry_dec(const msgpack_object *o, struct msg_kv_entry *out)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, o, 7, "kv entry", NULL);
	rd_str(&r, KV_MAX_KEY_WIRE, &out->key, &out->key_len);
	rd_bin(&r, KV_MAX_VALUE_WIRE, &out->value, &out->value_len);
	rd_u64(&r, &out->create_index);
	rd_u64(&r, &out->modify_index);
	rd_u64(&r, &out->lock_index);
	rd_u64(&r, &out->flags);
	rd_str_or_nil(&r, SESSION_MAX, &out->session, &out->session_len);
	return rd_end(&r);
}

int
msg_kv_key_dec(const msgpack_object *o, const char **key, size_t *len)
{
	return mp_get_str(o, KV_MAX_KEY_WIRE, key, len);
}

void
msg_kv_write_enc(struct mpw *w, const struct msg_kv_write *in)
{
	mpw_array(w, 6);
	mpw_u64(w, in->op);
	mpw_str(w, in->key, in->key_len);
	mpw_bin(w, in->value, in->value_len);
	mpw_u64(w, in->flags);
	mpw_u64(w, in->index);
	if (in->session != NULL)
		mpw_str(w, in->session, in->session_len);
	else
		mpw_nil(w);
}

int
msg_kv_write_dec(const struct proto_msg *m, struct msg_kv_write *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 6, "kv.write", e);
	rd_u32(&r, &out->op);
	rd_str(&r, KV_MAX_KEY_WIRE, &out->key, &out->key_len);
	rd_bin(&r, KV_MAX_VALUE_WIRE, &out->value, &out->value_len);
	rd_u64(&r, &out->flags);
	rd_u64(&r, &out->index);
	rd_str_or_nil(&r, SESSION_MAX, &out->session, &out->session_len);
	if (rd_end(&r) != 0)
		return r.err;
	if (out->op < 1 || out->op > 6)
		return lerr_set(e, LE_MALFORMED, "kv.write: bad op %u",
		    out->op);
	return 0;
}

void
msg_kv_write_reply_enc(struct mpw *w, const struct msg_kv_write_reply *in)
{
	mpw_array(w, 4);
	mpw_i64(w, in->code);
	mpw_str(w, in->text ? in->text : "", in->text ? in->text_len : 0);
	mpw_bool(w, in->result);
	mpw_u64(w, in->index);
}

int
msg_kv_write_reply_dec(const struct proto_msg *m,
    struct msg_kv_write_reply *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 4, "kv.write.reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_bool(&r, &out->result);
	rd_u64(&r, &out->index);
	return rd_end(&r);
}

void
msg_kv_status_reply_enc(struct mpw *w, const struct msg_kv_status_reply *in)
{
	mpw_array(w, 5);
	mpw_i64(w, in->code);
	mpw_str(w, in->text ? in->text : "", in->text ? in->text_len : 0);
	mpw_u64(w, in->applied);
	mpw_bool(w, in->known_leader);
	mpw_str(w, in->leader ? in->leader : "", in->leader ? in->leader_len : 0);
}

int
msg_kv_status_reply_dec(const struct proto_msg *m,
    struct msg_kv_status_reply *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 5, "kv.status.reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_u64(&r, &out->applied);
	rd_bool(&r, &out->known_leader);
	rd_str(&r, 256, &out->leader, &out->leader_len);
	return rd_end(&r);
}
