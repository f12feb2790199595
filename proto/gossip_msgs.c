/* gossip_msgs.c: payloads between gossipd and its siblings; encoder beside
 * decoder (gossip_ipc.h). */
#include "gossip_ipc.h"
#include "rd.h"

#include <string.h>

#define TEXT_MAX 4096
#define ADDR_MAX 256
#define ID_MAX 64
#define FILTER_MAX 1024

const char *
gossip_status_name(uint32_t status)
{
	switch (status) {
	case GSTAT_ALIVE:
		return "alive";
	case GSTAT_LEAVING:
		return "leaving";
	case GSTAT_LEFT:
		return "left";
	case GSTAT_FAILED:
		return "failed";
	default:
		return "none";
	}
}

static void
enc_text(struct mpw *w, const char *s, size_t len)
{
	mpw_str(w, s != NULL ? s : "", s != NULL ? len : 0);
}

/* ---- gossip.members ---- */

void
msg_gossip_members_enc(struct mpw *w, const struct msg_gossip_members *in)
{
	mpw_array(w, 3);
	mpw_bool(w, in->wan);
	mpw_u64(w, in->min_version);
	mpw_u64(w, in->wait_ms);
}

int
msg_gossip_members_dec(const struct proto_msg *m,
    struct msg_gossip_members *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 3, "gossip.members", e);
	rd_bool(&r, &out->wan);
	rd_u64(&r, &out->min_version);
	rd_u64(&r, &out->wait_ms);
	return rd_end(&r);
}

void
msg_gossip_members_reply_begin(struct mpw *w,
    const struct msg_gossip_members_reply *in)
{
	mpw_array(w, 5);
	mpw_i64(w, in->code);
	enc_text(w, in->text, in->text_len);
	mpw_u64(w, in->version);
	enc_text(w, in->self, in->self_len);
	mpw_array(w, in->n_members);
}

void
msg_gossip_member_enc(struct mpw *w, const struct msg_gossip_member *in)
{
	mpw_array(w, 6);
	mpw_str(w, in->name, in->name_len);
	mpw_str(w, in->addr, in->addr_len);
	mpw_u64(w, in->port);
	mpw_u64(w, in->status);
	mpw_array(w, 6);
	for (int i = 0; i < 6; i++)
		mpw_u64(w, in->vsn[i]);
	mpw_array(w, in->n_tags * 2);
	for (uint32_t i = 0; i < in->n_tags; i++) {
		mpw_str(w, in->tag_keys[i], in->tag_key_lens[i]);
		mpw_str(w, in->tag_vals[i], in->tag_val_lens[i]);
	}
}

int
msg_gossip_members_reply_dec(const struct proto_msg *m,
    struct msg_gossip_members_reply *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 5, "gossip.members.reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_u64(&r, &out->version);
	rd_str(&r, GOSSIP_NAME_MAX, &out->self, &out->self_len);
	rd_array(&r, GOSSIP_MEMBERS_MAX, &out->members, &out->n_members);
	return rd_end(&r);
}

int
msg_gossip_member_dec(const msgpack_object *o, struct msg_gossip_member *out)
{
	struct rd r;
	const msgpack_object *vsn;
	uint32_t nv, nt;
	uint64_t port, status;

	memset(out, 0, sizeof(*out));
	rd_open(&r, o, 6, "gossip member", NULL);
	rd_str(&r, GOSSIP_NAME_MAX, &out->name, &out->name_len);
	rd_str(&r, ADDR_MAX, &out->addr, &out->addr_len);
	rd_u64(&r, &port);
	rd_u64(&r, &status);
	rd_array(&r, 6, &vsn, &nv);
	rd_array(&r, GOSSIP_TAGS_MAX * 2, &out->tags, &nt);
	if (rd_end(&r) != 0)
		return r.err;
	if (port > 65535 || status > GSTAT_FAILED || nv != 6 || nt % 2 != 0)
		return -LE_MALFORMED;
	out->port = (uint32_t)port;
	out->status = (uint32_t)status;
	for (uint32_t i = 0; i < 6; i++) {
		uint64_t v;

		if (mp_get_u64(&vsn[i], &v) != 0 || v > 255)
			return -LE_MALFORMED;
		out->vsn[i] = (uint8_t)v;
	}
	for (uint32_t i = 0; i < nt; i++) {
		const char *s;
		size_t l;

		if (mp_get_str(&out->tags[i], GOSSIP_TAG_MAX, &s, &l) != 0)
			return -LE_MALFORMED;
	}
	out->n_tags = nt / 2;
	return 0;
}

void
msg_gossip_member_tag(const struct msg_gossip_member *mb, uint32_t i,
    const char **k, size_t *klen, const char **v, size_t *vlen)
{
	/* Checked by msg_gossip_member_dec: both are strings. */
	(void)mp_get_str(&mb->tags[2 * i], GOSSIP_TAG_MAX, k, klen);
	(void)mp_get_str(&mb->tags[2 * i + 1], GOSSIP_TAG_MAX, v, vlen);
}

/* ---- gossip.join ---- */

void
msg_gossip_join_enc(struct mpw *w, const struct msg_gossip_join *in)
{
	mpw_array(w, 2);
	mpw_bool(w, in->wan);
	mpw_array(w, in->n_addrs);
	for (uint32_t i = 0; i < in->n_addrs; i++)
		mpw_str(w, in->addrs[i], in->addr_lens[i]);
}

int
msg_gossip_join_dec(const struct proto_msg *m, struct msg_gossip_join *out,
    struct lerr *e)
{
	struct rd r;
	const msgpack_object *a;
	uint32_t n;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 2, "gossip.join", e);
	rd_bool(&r, &out->wan);
	rd_array(&r, GOSSIP_ADDRS_MAX, &a, &n);
	if (rd_end(&r) != 0)
		return r.err;
	for (uint32_t i = 0; i < n; i++) {
		if (mp_get_str(&a[i], ADDR_MAX, &out->addrs[i],
		    &out->addr_lens[i]) != 0 || out->addr_lens[i] == 0)
			return lerr_set(e, LE_MALFORMED,
			    "gossip.join: address %u is not a string", i);
	}
	out->n_addrs = n;
	return 0;
}

/* ---- replies ---- */

void
msg_gossip_reply_enc(struct mpw *w, const struct msg_gossip_reply *in)
{
	mpw_array(w, 4);
	mpw_i64(w, in->code);
	enc_text(w, in->text, in->text_len);
	mpw_u64(w, in->n);
	enc_text(w, in->id, in->id_len);
}

int
msg_gossip_reply_dec(const struct proto_msg *m, struct msg_gossip_reply *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 4, "gossip reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_u64(&r, &out->n);
	rd_str(&r, ID_MAX, &out->id, &out->id_len);
	return rd_end(&r);
}

/* ---- gossip.force_leave ---- */

void
msg_gossip_force_leave_enc(struct mpw *w,
    const struct msg_gossip_force_leave *in)
{
	mpw_array(w, 3);
	mpw_str(w, in->node, in->node_len);
	mpw_bool(w, in->prune);
	mpw_bool(w, in->wan);
}

int
msg_gossip_force_leave_dec(const struct proto_msg *m,
    struct msg_gossip_force_leave *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 3, "gossip.force_leave", e);
	rd_str(&r, GOSSIP_NAME_MAX, &out->node, &out->node_len);
	rd_bool(&r, &out->prune);
	rd_bool(&r, &out->wan);
	return rd_end(&r);
}

/* ---- events ---- */

static void
enc_payload(struct mpw *w, const void *p, size_t len)
{
	if (p != NULL)
		mpw_bin(w, p, len);
	else
		mpw_nil(w);
}

static void
rd_payload(struct rd *r, const void **p, size_t *len)
{
	if (r->err == 0 && r->i < r->n &&
	    r->it[r->i].type == MSGPACK_OBJECT_NIL) {
		r->i++;
		*p = NULL;
		*len = 0;
		return;
	}
	rd_bin(r, GOSSIP_EVENT_PAYLOAD_MAX, p, len);
}

void
msg_gossip_event_fire_enc(struct mpw *w, const struct msg_gossip_event *in)
{
	mpw_array(w, 5);
	mpw_str(w, in->name, in->name_len);
	enc_payload(w, in->payload, in->payload_len);
	enc_text(w, in->node_filter, in->node_filter_len);
	enc_text(w, in->service_filter, in->service_filter_len);
	enc_text(w, in->tag_filter, in->tag_filter_len);
}

int
msg_gossip_event_fire_dec(const struct proto_msg *m,
    struct msg_gossip_event *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 5, "gossip.event_fire", e);
	rd_str(&r, GOSSIP_NAME_MAX, &out->name, &out->name_len);
	rd_payload(&r, &out->payload, &out->payload_len);
	rd_str(&r, FILTER_MAX, &out->node_filter, &out->node_filter_len);
	rd_str(&r, FILTER_MAX, &out->service_filter,
	    &out->service_filter_len);
	rd_str(&r, FILTER_MAX, &out->tag_filter, &out->tag_filter_len);
	return rd_end(&r);
}

void
msg_gossip_event_list_enc(struct mpw *w,
    const struct msg_gossip_event_list *in)
{
	mpw_array(w, 3);
	enc_text(w, in->name, in->name_len);
	mpw_u64(w, in->min_index);
	mpw_u64(w, in->wait_ms);
}

int
msg_gossip_event_list_dec(const struct proto_msg *m,
    struct msg_gossip_event_list *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 3, "gossip.event_list", e);
	rd_str(&r, GOSSIP_NAME_MAX, &out->name, &out->name_len);
	rd_u64(&r, &out->min_index);
	rd_u64(&r, &out->wait_ms);
	return rd_end(&r);
}

void
msg_gossip_event_list_reply_begin(struct mpw *w,
    const struct msg_gossip_event_list_reply *in)
{
	mpw_array(w, 4);
	mpw_i64(w, in->code);
	enc_text(w, in->text, in->text_len);
	mpw_u64(w, in->index);
	mpw_array(w, in->n_events);
}

void
msg_gossip_event_enc(struct mpw *w, const struct msg_gossip_event *in)
{
	mpw_array(w, 8);
	enc_text(w, in->id, in->id_len);
	mpw_str(w, in->name, in->name_len);
	enc_payload(w, in->payload, in->payload_len);
	enc_text(w, in->node_filter, in->node_filter_len);
	enc_text(w, in->service_filter, in->service_filter_len);
	enc_text(w, in->tag_filter, in->tag_filter_len);
	mpw_u64(w, in->version);
	mpw_u64(w, in->ltime);
}

int
msg_gossip_event_list_reply_dec(const struct proto_msg *m,
    struct msg_gossip_event_list_reply *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 4, "gossip.event_list.reply", e);
	rd_i32(&r, &out->code);
	rd_str(&r, TEXT_MAX, &out->text, &out->text_len);
	rd_u64(&r, &out->index);
	rd_array(&r, GOSSIP_EVENTS_MAX, &out->events, &out->n_events);
	return rd_end(&r);
}

int
msg_gossip_event_dec(const msgpack_object *o, struct msg_gossip_event *out)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, o, 8, "gossip event", NULL);
	rd_str(&r, ID_MAX, &out->id, &out->id_len);
	rd_str(&r, GOSSIP_NAME_MAX, &out->name, &out->name_len);
	rd_payload(&r, &out->payload, &out->payload_len);
	rd_str(&r, FILTER_MAX, &out->node_filter, &out->node_filter_len);
	rd_str(&r, FILTER_MAX, &out->service_filter,
	    &out->service_filter_len);
	rd_str(&r, FILTER_MAX, &out->tag_filter, &out->tag_filter_len);
	rd_u64(&r, &out->version);
	rd_u64(&r, &out->ltime);
	return rd_end(&r);
}
