/* envelope.c: the message envelope, type names, and the field cursor the
 * payload decoders share. */
#include "proto.h"
#include "rd.h"

#include <string.h>

static const struct {
	uint32_t type;
	const char *name;
	const char *reply;
} proto_names[] = {
#define X(name, value, str) { value, str, str ".reply" },
#include "msgs.def"
#undef X
};

const char *
proto_type_name(uint32_t type)
{
	bool reply = (type & PROTO_REPLY) != 0;
	uint32_t base = type & ~PROTO_REPLY;

	for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]);
	    i++)
		if (proto_names[i].type == base)
			return reply ? proto_names[i].reply :
			    proto_names[i].name;
	return "unknown";
}

bool
proto_type_known(uint32_t type)
{
	return strcmp(proto_type_name(type), "unknown") != 0;
}

void
proto_begin(struct mpw *w, uint32_t type, uint64_t req_id, uint64_t boot_id)
{
	mpw_array(w, 5);
	mpw_u64(w, PROTO_VERSION);
	mpw_u64(w, type);
	mpw_u64(w, req_id);
	mpw_u64(w, boot_id);
}

int
proto_decode(const void *buf, size_t len, struct proto_msg *m,
    struct lerr *e)
{
	const char *why;
	size_t off = 0;
	const msgpack_object *it;
	uint32_t n;
	uint64_t v, t;
	int rv;

	memset(m, 0, sizeof(*m));
	if (len == 0)
		return lerr_set(e, LE_MALFORMED, "empty message");
	if (len > PROTO_MAX_MSG)
		return lerr_set(e, LE_TOOBIG, "message of %zu bytes", len);
	if ((rv = mp_prescan(buf, len, &why)) != 0)
		return lerr_set(e, -rv, "bad msgpack: %s", why);
	msgpack_unpacked_init(&m->up);
	if (msgpack_unpack_next(&m->up, buf, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != len) {
		msgpack_unpacked_destroy(&m->up);
		return lerr_set(e, LE_MALFORMED, "bad msgpack");
	}
	if (mp_get_array(&m->up.data, 5, 5, &it, &n) != 0) {
		rv = lerr_set(e, LE_MALFORMED, "envelope is not a 5-array");
		goto fail;
	}
	if (mp_get_u64(&it[0], &v) != 0 || v > UINT32_MAX) {
		rv = lerr_set(e, LE_MALFORMED, "bad envelope version");
		goto fail;
	}
	if (v != PROTO_VERSION) {
		rv = lerr_set(e, LE_VERSION,
		    "protocol version %llu, want %d: daemons from different "
		    "builds?", (unsigned long long)v, PROTO_VERSION);
		goto fail;
	}
	m->version = (uint32_t)v;
	if (mp_get_u64(&it[1], &t) != 0 || t > UINT32_MAX ||
	    !proto_type_known((uint32_t)t)) {
		rv = lerr_set(e, LE_MALFORMED, "unknown message type");
		goto fail;
	}
	m->type = (uint32_t)t;
	if (mp_get_u64(&it[2], &m->req_id) != 0 ||
	    mp_get_u64(&it[3], &m->boot_id) != 0) {
		rv = lerr_set(e, LE_MALFORMED, "bad envelope ids");
		goto fail;
	}
	m->payload = &it[4];
	return 0;
fail:
	msgpack_unpacked_destroy(&m->up);
	memset(m, 0, sizeof(*m));
	return rv;
}

void
proto_msg_free(struct proto_msg *m)
{
	if (m->payload != NULL || m->type != 0)
		msgpack_unpacked_destroy(&m->up);
	memset(m, 0, sizeof(*m));
}

/* ---- the field cursor ---- */

int
rd_open(struct rd *r, const msgpack_object *o, uint32_t n, const char *what,
    struct lerr *e)
{
	memset(r, 0, sizeof(*r));
	r->what = what;
	r->e = e;
	if (mp_get_array(o, n, n, &r->it, &r->n) != 0)
		r->err = lerr_set(e, LE_MALFORMED, "%s: want a %u-field array",
		    what, n);
	return r->err;
}

static const msgpack_object *
rd_next(struct rd *r)
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
rd_fail(struct rd *r, int rv)
{
	if (r->err == 0 && rv != 0)
		r->err = lerr_set(r->e, -rv, "%s: field %u: %s", r->what,
		    r->i - 1, rv == -LE_TOOBIG ? "too long" : "wrong type");
}

void
rd_u64(struct rd *r, uint64_t *v)
{
	const msgpack_object *o = rd_next(r);

	if (o != NULL)
		rd_fail(r, mp_get_u64(o, v));
}

void
rd_u32(struct rd *r, uint32_t *v)
{
	uint64_t x = 0;

	rd_u64(r, &x);
	if (r->err == 0 && x > UINT32_MAX)
		rd_fail(r, -LE_MALFORMED);
	*v = (uint32_t)x;
}

void
rd_i64(struct rd *r, int64_t *v)
{
	const msgpack_object *o = rd_next(r);

	if (o != NULL)
		rd_fail(r, mp_get_i64(o, v));
}

void
rd_i32(struct rd *r, int32_t *v)
{
	int64_t x = 0;

	rd_i64(r, &x);
	if (r->err == 0 && (x < INT32_MIN || x > INT32_MAX))
		rd_fail(r, -LE_MALFORMED);
	*v = (int32_t)x;
}

void
rd_bool(struct rd *r, bool *v)
{
	const msgpack_object *o = rd_next(r);

	if (o != NULL)
		rd_fail(r, mp_get_bool(o, v));
}

void
rd_str(struct rd *r, size_t max, const char **s, size_t *len)
{
	const msgpack_object *o = rd_next(r);

	if (o != NULL)
		rd_fail(r, mp_get_str(o, max, s, len));
}

void
rd_str_or_nil(struct rd *r, size_t max, const char **s, size_t *len)
{
	const msgpack_object *o = rd_next(r);

	if (o != NULL)
		rd_fail(r, mp_get_str_or_nil(o, max, s, len));
}

void
rd_bin(struct rd *r, size_t max, const void **p, size_t *len)
{
	const msgpack_object *o = rd_next(r);

	if (o != NULL)
		rd_fail(r, mp_get_bin(o, max, p, len));
}

void
rd_array(struct rd *r, uint32_t max, const msgpack_object **items,
    uint32_t *n)
{
	const msgpack_object *o = rd_next(r);

	if (o != NULL)
		rd_fail(r, mp_get_array(o, 0, max, items, n));
}

int
rd_end(struct rd *r)
{
	if (r->err == 0 && r->i != r->n)
		r->err = lerr_set(r->e, LE_MALFORMED,
		    "%s: not at end of message", r->what);
	return r->err;
}
