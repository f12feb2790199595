/* mp.c: msgpack-c behind one file: writers into sinks, a structural
 * pre-scan of untrusted bytes, and strict typed getters. */
#include "mp.h"

#include <string.h>

#include "err.h"

static int
mpw_sbuf_write(void *data, const char *buf, size_t len)
{
	return msgpack_sbuffer_write(data, buf, len);
}

void
mpw_init(struct mpw *w)
{
	memset(w, 0, sizeof(*w));
	msgpack_sbuffer_init(&w->sb);
	msgpack_packer_init(&w->pk, &w->sb, mpw_sbuf_write);
	w->own = true;
}

void
mpw_init_sink(struct mpw *w, void *data, mpw_sink_fn sink)
{
	memset(w, 0, sizeof(*w));
	msgpack_packer_init(&w->pk, data, sink);
	w->own = false;
}

void
mpw_free(struct mpw *w)
{
	if (w->own)
		msgpack_sbuffer_destroy(&w->sb);
	memset(w, 0, sizeof(*w));
}

const void *
mpw_data(const struct mpw *w)
{
	return w->sb.data;
}

size_t
mpw_len(const struct mpw *w)
{
	return w->sb.size;
}

#define MPW_CHECK(w, expr)              \
	do {                            \
		if ((expr) != 0)        \
			(w)->err = -LE_NOMEM; \
	} while (0)

void
mpw_array(struct mpw *w, uint32_t n)
{
	MPW_CHECK(w, msgpack_pack_array(&w->pk, n));
}

void
mpw_map(struct mpw *w, uint32_t n)
{
	MPW_CHECK(w, msgpack_pack_map(&w->pk, n));
}

void
mpw_u64(struct mpw *w, uint64_t v)
{
	MPW_CHECK(w, msgpack_pack_uint64(&w->pk, v));
}

void
mpw_i64(struct mpw *w, int64_t v)
{
	MPW_CHECK(w, msgpack_pack_int64(&w->pk, v));
}

void
mpw_bool(struct mpw *w, bool v)
{
	MPW_CHECK(w, v ? msgpack_pack_true(&w->pk) : msgpack_pack_false(&w->pk));
}

void
mpw_nil(struct mpw *w)
{
	MPW_CHECK(w, msgpack_pack_nil(&w->pk));
}

void
mpw_str(struct mpw *w, const char *s, size_t len)
{
	MPW_CHECK(w, msgpack_pack_str(&w->pk, len));
	if (len > 0)
		MPW_CHECK(w, msgpack_pack_str_body(&w->pk, s, len));
}

void
mpw_cstr(struct mpw *w, const char *s)
{
	if (s == NULL)
		mpw_nil(w);
	else
		mpw_str(w, s, strlen(s));
}

void
mpw_bin(struct mpw *w, const void *p, size_t len)
{
	MPW_CHECK(w, msgpack_pack_bin(&w->pk, len));
	if (len > 0)
		MPW_CHECK(w, msgpack_pack_bin_body(&w->pk, p, len));
}

void
mpw_raw(struct mpw *w, const void *p, size_t len)
{
	if (len > 0)
		MPW_CHECK(w, w->pk.callback(w->pk.data, p, len));
}

void
mpw_object(struct mpw *w, const msgpack_object *o)
{
	MPW_CHECK(w, msgpack_pack_object(&w->pk, *o));
}

/* Big-endian readers for the pre-scan. */
static uint64_t
be_read(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Walks the first object of buf. partial: the bytes may be a prefix of a
 * stream, so running out is -LE_AGAIN (not malformed) and counts are not
 * checked against the bytes present; *used gets the object's length. */
static int
mp_scan(const void *buf, size_t len, bool partial, size_t *used,
    const char **why)
{
	const uint8_t *p = buf, *end = p + len;
	uint64_t stack[MP_MAX_DEPTH + 1];
	int depth = 0;
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	/* One top-level object. */
	stack[0] = 1;
	for (;;) {
		uint8_t b;
		uint64_t n = 0, skip = 0;
		int kind = 0; /* 0 scalar, 1 array, 2 map */
		size_t hdr;

		while (depth >= 0 && stack[depth] == 0)
			depth--;
		if (depth < 0)
			break;
		stack[depth]--;
		if (p >= end) {
			*why = "truncated";
			return partial ? -LE_AGAIN : -LE_MALFORMED;
		}
		b = *p;
		hdr = 1;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 ||
		    b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b >= 0x80 && b <= 0x8f) {
			kind = 2;
			n = b & 0x0f;
		} else if (b >= 0x90 && b <= 0x9f) {
			kind = 1;
			n = b & 0x0f;
		} else if (b >= 0xa0 && b <= 0xbf) {
			skip = b & 0x1f;
		} else {
			size_t w;

			switch (b) {
			case 0xc4: case 0xd9: w = 1; break; /* bin8 str8 */
			case 0xc5: case 0xda: w = 2; break;
			case 0xc6: case 0xdb: w = 4; break;
			case 0xca: skip = 4; w = 0; break;  /* float32 */
			case 0xcb: skip = 8; w = 0; break;  /* float64 */
			case 0xcc: case 0xd0: skip = 1; w = 0; break;
			case 0xcd: case 0xd1: skip = 2; w = 0; break;
			case 0xce: case 0xd2: skip = 4; w = 0; break;
			case 0xcf: case 0xd3: skip = 8; w = 0; break;
			case 0xdc: kind = 1; w = 2; break;
			case 0xdd: kind = 1; w = 4; break;
			case 0xde: kind = 2; w = 2; break;
			case 0xdf: kind = 2; w = 4; break;
			default:
				*why = "unsupported type (ext or reserved)";
				return -LE_MALFORMED;
			}
			if (w > 0) {
				if ((size_t)(end - p) < 1 + w) {
					*why = "truncated";
					return partial ? -LE_AGAIN :
					    -LE_MALFORMED;
				}
				n = be_read(p + 1, w);
				hdr += w;
				if (kind == 0) {
					uint64_t max = (b == 0xc4 || b == 0xc5 ||
					    b == 0xc6) ? MP_MAX_BIN : MP_MAX_STR;
					if (n > max) {
						*why = "string or bin too long";
						return -LE_TOOBIG;
					}
					skip = n;
					n = 0;
				}
			}
		}
		p += hdr;
		if ((uint64_t)(end - p) < skip) {
			*why = "truncated";
			return partial ? -LE_AGAIN : -LE_MALFORMED;
		}
		p += skip;
		if (kind != 0) {
			uint64_t elems = kind == 2 ? n * 2 : n;

			/* Every element takes at least one byte. */
			if (!partial && elems > (uint64_t)(end - p)) {
				*why = "container count exceeds message";
				return -LE_MALFORMED;
			}
			if (depth + 1 > MP_MAX_DEPTH) {
				*why = "nesting too deep";
				return -LE_MALFORMED;
			}
			stack[++depth] = elems;
		}
	}
	*used = (size_t)(p - (const uint8_t *)buf);
	return 0;
}

int
mp_prescan(const void *buf, size_t len, const char **why)
{
	const char *dummy;
	size_t used;
	int rv;

	if (why == NULL)
		why = &dummy;
	if ((rv = mp_scan(buf, len, false, &used, why)) != 0)
		return rv;
	if (used != len) {
		*why = "trailing bytes after message";
		return -LE_MALFORMED;
	}
	return 0;
}

int
mp_object_len(const void *buf, size_t len, size_t *objlen, const char **why)
{
	const char *dummy;

	return mp_scan(buf, len, true, objlen, why != NULL ? why : &dummy);
}

int
mp_get_array(const msgpack_object *o, uint32_t min, uint32_t max,
    const msgpack_object **items, uint32_t *n)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY)
		return -LE_MALFORMED;
	if (o->via.array.size < min || o->via.array.size > max)
		return -LE_MALFORMED;
	*items = o->via.array.ptr;
	*n = o->via.array.size;
	return 0;
}

int
mp_get_u64(const msgpack_object *o, uint64_t *v)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -LE_MALFORMED;
	*v = o->via.u64;
	return 0;
}

int
mp_get_i64(const msgpack_object *o, int64_t *v)
{
	if (o == NULL)
		return -LE_MALFORMED;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return 0;
	}
	return -LE_MALFORMED;
}

int
mp_get_bool(const msgpack_object *o, bool *v)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
		return -LE_MALFORMED;
	*v = o->via.boolean;
	return 0;
}

int
mp_get_str(const msgpack_object *o, size_t max, const char **s, size_t *len)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return -LE_MALFORMED;
	if (o->via.str.size > max)
		return -LE_TOOBIG;
	*s = o->via.str.ptr;
	*len = o->via.str.size;
	return 0;
}

int
mp_get_str_or_nil(const msgpack_object *o, size_t max, const char **s,
    size_t *len)
{
	if (o != NULL && o->type == MSGPACK_OBJECT_NIL) {
		*s = NULL;
		*len = 0;
		return 0;
	}
	return mp_get_str(o, max, s, len);
}

int
mp_get_bin(const msgpack_object *o, size_t max, const void **p, size_t *len)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_BIN)
		return -LE_MALFORMED;
	if (o->via.bin.size > max)
		return -LE_TOOBIG;
	*p = o->via.bin.ptr;
	*len = o->via.bin.size;
	return 0;
}
