/* catalog_msgs.c: the catalog's payloads (httpd -> kvd), its Raft
 * commands' payloads, and the records kvd stores, which are the same
 * bytes; encoder beside decoder. */
#include "proto.h"
#include "rd.h"

#include <string.h>

#define ID_MAX CAT_ID_MAX
#define SHORT_MAX CAT_SHORT_MAX
#define ADDR_MAX CAT_ADDR_MAX

static void
enc_str(struct mpw *w, const char *s, size_t len)
{
	mpw_str(w, s != NULL ? s : "", s != NULL ? len : 0);
}

/* ---- string maps and lists ---- */

static void
strmap_enc(struct mpw *w, const struct msg_cat_strmap *m)
{
	if (!m->present) {
		mpw_nil(w);
		return;
	}
	mpw_array(w, m->n * 2);
	for (uint32_t i = 0; i < m->n; i++) {
		const char *k, *v;
		size_t kl, vl;

		msg_cat_strmap_at(m, i, &k, &kl, &v, &vl);
		mpw_str(w, k, kl);
		mpw_str(w, v, vl);
	}
}

/* nil, or an array of 2n strings. */
static int
strmap_dec(const msgpack_object *o, struct msg_cat_strmap *m)
{
	uint32_t n;

	memset(m, 0, sizeof(*m));
	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (mp_get_array(o, 0, CAT_MAP_MAX * 2, &m->items, &n) != 0 ||
	    n % 2 != 0)
		return -LE_MALFORMED;
	for (uint32_t i = 0; i < n; i++) {
		const char *s;
		size_t l;

		if (mp_get_str(&m->items[i], CAT_TEXT_MAX, &s, &l) != 0)
			return -LE_MALFORMED;
	}
	m->present = true;
	m->n = n / 2;
	return 0;
}

void
msg_cat_strmap_at(const struct msg_cat_strmap *m, uint32_t i,
    const char **k, size_t *klen, const char **v, size_t *vlen)
{
	if (m->items != NULL) {
		/* Checked by strmap_dec: every item is a string. */
		(void)mp_get_str(&m->items[2 * i], CAT_TEXT_MAX, k, klen);
		(void)mp_get_str(&m->items[2 * i + 1], CAT_TEXT_MAX, v, vlen);
		return;
	}
	*k = m->keys[i];
	*klen = m->klens[i];
	*v = m->vals[i];
	*vlen = m->vlens[i];
}

static void
strlist_enc(struct mpw *w, const struct msg_cat_strlist *l)
{
	if (!l->present) {
		mpw_nil(w);
		return;
	}
	mpw_array(w, l->n);
	for (uint32_t i = 0; i < l->n; i++) {
		const char *str;
		size_t len;

		msg_cat_strlist_at(l, i, &str, &len);
		mpw_str(w, str, len);
	}
}

static int
strlist_dec(const msgpack_object *o, struct msg_cat_strlist *l)
{
	memset(l, 0, sizeof(*l));
	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (mp_get_array(o, 0, CAT_MAP_MAX, &l->items, &l->n) != 0)
		return -LE_MALFORMED;
	for (uint32_t i = 0; i < l->n; i++) {
		const char *s;
		size_t len;

		if (mp_get_str(&l->items[i], CAT_TEXT_MAX, &s, &len) != 0)
			return -LE_MALFORMED;
	}
	l->present = true;
	return 0;
}

void
msg_cat_strlist_at(const struct msg_cat_strlist *l, uint32_t i,
    const char **s, size_t *len)
{
	if (l->items != NULL) {
		(void)mp_get_str(&l->items[i], CAT_TEXT_MAX, s, len);
		return;
	}
	*s = l->s[i];
	*len = l->lens[i];
}

/* The cursor hands out typed fields only; maps and lists take any
 * object, checked by their own decoders. */
static const msgpack_object *
rd_any(struct rd *r)
{
	if (r->err != 0)
		return NULL;
	if (r->i >= r->n) {
		r->err = lerr_set(r->e, LE_MALFORMED, "%s: too few fields",
		    r->what);
		return NULL;
	}
	return &r->it[r->i++];
}

static void
rd_strmap(struct rd *r, struct msg_cat_strmap *m)
{
	const msgpack_object *o = rd_any(r);

	if (o != NULL && strmap_dec(o, m) != 0)
		r->err = lerr_set(r->e, LE_MALFORMED, "%s: field %u: bad map",
		    r->what, r->i - 1);
}

static void
rd_strlist(struct rd *r, struct msg_cat_strlist *l)
{
	const msgpack_object *o = rd_any(r);

	if (o != NULL && strlist_dec(o, l) != 0)
		r->err = lerr_set(r->e, LE_MALFORMED,
		    "%s: field %u: bad list", r->what, r->i - 1);
}

/* ---- records ---- */

void
msg_cat_node_enc(struct mpw *w, const struct msg_cat_node *in)
{
	mpw_array(w, 8);
	enc_str(w, in->id, in->id_len);
	enc_str(w, in->node, in->node_len);
	enc_str(w, in->address, in->address_len);
	enc_str(w, in->dc, in->dc_len);
	strmap_enc(w, &in->tagged);
	strmap_enc(w, &in->meta);
	mpw_u64(w, in->create_index);
	mpw_u64(w, in->modify_index);
}

static int
node_dec(const msgpack_object *o, struct msg_cat_node *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, o, 8, "catalog node", e);
	rd_str(&r, ID_MAX, &out->id, &out->id_len);
	rd_str(&r, CAT_NAME_MAX, &out->node, &out->node_len);
	rd_str(&r, ADDR_MAX, &out->address, &out->address_len);
	rd_str(&r, SHORT_MAX, &out->dc, &out->dc_len);
	rd_strmap(&r, &out->tagged);
	rd_strmap(&r, &out->meta);
	rd_u64(&r, &out->create_index);
	rd_u64(&r, &out->modify_index);
	return rd_end(&r);
}

int
msg_cat_node_dec(const msgpack_object *o, struct msg_cat_node *out)
{
	return node_dec(o, out, NULL);
}

void
msg_cat_check_enc(struct mpw *w, const struct msg_cat_check *in)
{
	mpw_array(w, 16);
	enc_str(w, in->node, in->node_len);
	enc_str(w, in->check_id, in->check_id_len);
	enc_str(w, in->name, in->name_len);
	enc_str(w, in->status, in->status_len);
	enc_str(w, in->notes, in->notes_len);
	enc_str(w, in->output, in->output_len);
	enc_str(w, in->service_id, in->service_id_len);
	enc_str(w, in->service_name, in->service_name_len);
	strlist_enc(w, &in->service_tags);
	enc_str(w, in->type, in->type_len);
	enc_str(w, in->interval, in->interval_len);
	enc_str(w, in->timeout, in->timeout_len);
	mpw_i64(w, in->exposed_port);
	enc_str(w, in->definition, in->definition_len);
	mpw_u64(w, in->create_index);
	mpw_u64(w, in->modify_index);
}

static int
check_dec(const msgpack_object *o, struct msg_cat_check *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, o, 16, "catalog check", e);
	rd_str(&r, CAT_NAME_MAX, &out->node, &out->node_len);
	rd_str(&r, CAT_NAME_MAX, &out->check_id, &out->check_id_len);
	rd_str(&r, CAT_TEXT_MAX, &out->name, &out->name_len);
	rd_str(&r, SHORT_MAX, &out->status, &out->status_len);
	rd_str(&r, CAT_TEXT_MAX, &out->notes, &out->notes_len);
	rd_str(&r, CAT_TEXT_MAX, &out->output, &out->output_len);
	rd_str(&r, CAT_NAME_MAX, &out->service_id, &out->service_id_len);
	rd_str(&r, CAT_NAME_MAX, &out->service_name,
	    &out->service_name_len);
	rd_strlist(&r, &out->service_tags);
	rd_str(&r, SHORT_MAX, &out->type, &out->type_len);
	rd_str(&r, SHORT_MAX, &out->interval, &out->interval_len);
	rd_str(&r, SHORT_MAX, &out->timeout, &out->timeout_len);
	rd_i64(&r, &out->exposed_port);
	rd_str(&r, CAT_TEXT_MAX, &out->definition, &out->definition_len);
	rd_u64(&r, &out->create_index);
	rd_u64(&r, &out->modify_index);
	return rd_end(&r);
}

int
msg_cat_check_dec(const msgpack_object *o, struct msg_cat_check *out)
{
	return check_dec(o, out, NULL);
}

/* ---- catalog.register ---- */

void
msg_cat_register_enc(struct mpw *w, const struct msg_cat_register *in)
{
	mpw_array(w, 3);
	msg_cat_node_enc(w, &in->node);
	mpw_bool(w, in->skip_node_update);
	mpw_array(w, in->n_checks);
	for (uint32_t i = 0; i < in->n_checks; i++) {
		struct msg_cat_check c;

		/* Either side: a decoded registration is proposed as is. */
		msg_cat_register_check(in, i, &c);
		msg_cat_check_enc(w, &c);
	}
}

int
msg_cat_register_dec_obj(const msgpack_object *o,
    struct msg_cat_register *out, struct lerr *e)
{
	struct msg_cat_check c;
	struct rd r;
	const msgpack_object *node;
	int rv;

	memset(out, 0, sizeof(*out));
	rd_open(&r, o, 3, "catalog.register", e);
	node = rd_any(&r);
	rd_bool(&r, &out->skip_node_update);
	rd_array(&r, CAT_CHECKS_MAX, &out->check_items, &out->n_checks);
	if (rd_end(&r) != 0)
		return r.err;
	if ((rv = node_dec(node, &out->node, e)) != 0)
		return rv;
	for (uint32_t i = 0; i < out->n_checks; i++)
		if ((rv = check_dec(&out->check_items[i], &c, e)) != 0)
			return rv;
	return 0;
}

int
msg_cat_register_dec(const struct proto_msg *m, struct msg_cat_register *out,
    struct lerr *e)
{
	return msg_cat_register_dec_obj(m->payload, out, e);
}

void
msg_cat_register_check(const struct msg_cat_register *r, uint32_t i,
    struct msg_cat_check *out)
{
	if (r->check_items != NULL)
		(void)check_dec(&r->check_items[i], out, NULL);
	else
		*out = r->checks[i];
}

/* ---- catalog.deregister ---- */

void
msg_cat_deregister_enc(struct mpw *w, const struct msg_cat_deregister *in)
{
	mpw_array(w, 3);
	enc_str(w, in->node, in->node_len);
	enc_str(w, in->service_id, in->service_id_len);
	enc_str(w, in->check_id, in->check_id_len);
}

int
msg_cat_deregister_dec_obj(const msgpack_object *o,
    struct msg_cat_deregister *out, struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, o, 3, "catalog.deregister", e);
	rd_str(&r, CAT_NAME_MAX, &out->node, &out->node_len);
	rd_str(&r, CAT_NAME_MAX, &out->service_id, &out->service_id_len);
	rd_str(&r, CAT_NAME_MAX, &out->check_id, &out->check_id_len);
	return rd_end(&r);
}

int
msg_cat_deregister_dec(const struct proto_msg *m,
    struct msg_cat_deregister *out, struct lerr *e)
{
	return msg_cat_deregister_dec_obj(m->payload, out, e);
}

/* ---- catalog.read ---- */

void
msg_cat_read_enc(struct mpw *w, const struct msg_cat_read *in)
{
	mpw_array(w, 6);
	mpw_u64(w, in->what);
	enc_str(w, in->node, in->node_len);
	strmap_enc(w, &in->filter);
	mpw_u64(w, in->min_index);
	mpw_u64(w, in->wait_ms);
	mpw_u64(w, in->consistency);
}

int
msg_cat_read_dec(const struct proto_msg *m, struct msg_cat_read *out,
    struct lerr *e)
{
	struct rd r;

	memset(out, 0, sizeof(*out));
	rd_open(&r, m->payload, 6, "catalog.read", e);
	rd_u32(&r, &out->what);
	rd_str(&r, CAT_NAME_MAX, &out->node, &out->node_len);
	rd_strmap(&r, &out->filter);
	rd_u64(&r, &out->min_index);
	rd_u64(&r, &out->wait_ms);
	rd_u32(&r, &out->consistency);
	if (rd_end(&r) != 0)
		return r.err;
	if (out->what < CATR_NODES || out->what > CATR_NODE_CHECKS)
		return lerr_set(e, LE_MALFORMED, "catalog.read: bad what %u",
		    out->what);
	if (out->consistency > CONS_CONSISTENT)
		return lerr_set(e, LE_MALFORMED,
		    "catalog.read: bad consistency");
	return 0;
}
