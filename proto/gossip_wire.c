/* gossip_wire.c: memberlist's messages (§3, §5), compound packets (§6.1)
 * and the push/pull and user-message streams (§7), plus the go-msgpack
 * subset they are written in (gossip_mp.h). See gossip_wire.h. */
#include "gossip_wire.h"
#include "gossip_mp.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* --- buffers ------------------------------------------------------------- */

void
gw_buf_free(struct gw_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int
gw_buf_reserve(struct gw_buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (n > SIZE_MAX / 2 - b->len)
		return -LE_NOMEM;
	if (b->len + n <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -LE_NOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int
gw_buf_append(struct gw_buf *b, const void *p, size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	if ((rc = gw_buf_reserve(b, n)) < 0)
		return rc;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* --- msgpack writer ------------------------------------------------------ */

void
gm_w_init(struct gm_w *w, struct gw_buf *b)
{
	w->b = b;
	w->start = b->len;
	w->err = 0;
}

int
gm_w_end(struct gm_w *w)
{
	if (w->err < 0)
		w->b->len = w->start;
	return w->err;
}

void
gm_raw(struct gm_w *w, const void *p, size_t n)
{
	int rc;

	if (w->err < 0)
		return;
	if ((rc = gw_buf_append(w->b, p, n)) < 0)
		w->err = rc;
}

void
gm_byte(struct gm_w *w, uint8_t v)
{
	gm_raw(w, &v, 1);
}

void
gm_be16(struct gm_w *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	gm_raw(w, b, 2);
}

void
gm_be32(struct gm_w *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
		(uint8_t)(v >> 8), (uint8_t)v };

	gm_raw(w, b, 4);
}

static void
be64(struct gm_w *w, uint64_t v)
{
	gm_be32(w, (uint32_t)(v >> 32));
	gm_be32(w, (uint32_t)v);
}

/* Container and str headers: fix form, then 16 and 32 bits; go-msgpack
 * never writes the 8-bit forms without WriteExt (§4). */
static void
container(struct gm_w *w, uint8_t fix, uint32_t fixmax, uint8_t b16,
    uint64_t n)
{
	if (n < fixmax) {
		gm_byte(w, (uint8_t)(fix | n));
	} else if (n < 65536) {
		gm_byte(w, b16);
		gm_be16(w, (uint16_t)n);
	} else if (n <= UINT32_MAX) {
		gm_byte(w, (uint8_t)(b16 + 1));
		gm_be32(w, (uint32_t)n);
	} else if (w->err == 0) {
		w->err = -LE_TOOBIG;
	}
}

void
gm_map(struct gm_w *w, uint32_t n)
{
	container(w, 0x80, 16, 0xde, n);
}

void
gm_array(struct gm_w *w, uint32_t n)
{
	container(w, 0x90, 16, 0xdc, n);
}

void
gm_nil(struct gm_w *w)
{
	gm_byte(w, 0xc0);
}

void
gm_bool(struct gm_w *w, bool v)
{
	gm_byte(w, v ? 0xc3 : 0xc2);
}

void
gm_uint(struct gm_w *w, uint64_t v)
{
	if (v <= 0x7f) {
		gm_byte(w, (uint8_t)v);
	} else if (v <= 0xff) {
		gm_byte(w, 0xcc);
		gm_byte(w, (uint8_t)v);
	} else if (v <= 0xffff) {
		gm_byte(w, 0xcd);
		gm_be16(w, (uint16_t)v);
	} else if (v <= 0xffffffffu) {
		gm_byte(w, 0xce);
		gm_be32(w, (uint32_t)v);
	} else {
		gm_byte(w, 0xcf);
		be64(w, v);
	}
}

void
gm_int(struct gm_w *w, int64_t v)
{
	if (v >= 0) {
		gm_uint(w, (uint64_t)v);
	} else if (v >= -32) {
		gm_byte(w, (uint8_t)(int8_t)v);
	} else if (v >= INT8_MIN) {
		gm_byte(w, 0xd0);
		gm_byte(w, (uint8_t)(int8_t)v);
	} else if (v >= INT16_MIN) {
		gm_byte(w, 0xd1);
		gm_be16(w, (uint16_t)(int16_t)v);
	} else if (v >= INT32_MIN) {
		gm_byte(w, 0xd2);
		gm_be32(w, (uint32_t)(int32_t)v);
	} else {
		gm_byte(w, 0xd3);
		be64(w, (uint64_t)v);
	}
}

void
gm_f64(struct gm_w *w, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	gm_byte(w, 0xcb);
	be64(w, u);
}

void
gm_str(struct gm_w *w, struct gw_bytes s)
{
	size_t n = s.p ? s.len : 0;

	container(w, 0xa0, 32, 0xda, n);
	if (n > 0)
		gm_raw(w, s.p, n);
}

void
gm_cstr(struct gm_w *w, const char *s)
{
	gm_str(w, (struct gw_bytes){ (const uint8_t *)s, s ? strlen(s) : 0 });
}

void
gm_bytes(struct gm_w *w, struct gw_bytes s)
{
	if (s.p == NULL)
		gm_nil(w);
	else
		gm_str(w, s);
}

void
gm_str_ext(struct gm_w *w, struct gw_bytes s)
{
	size_t n = s.p ? s.len : 0;

	if (n >= 32 && n < 256) {
		gm_byte(w, 0xd9);
		gm_byte(w, (uint8_t)n);
	} else {
		container(w, 0xa0, 32, 0xda, n);
	}
	if (n > 0)
		gm_raw(w, s.p, n);
}

void
gm_bytes_ext(struct gm_w *w, struct gw_bytes s)
{
	if (s.p == NULL) {
		gm_nil(w);
		return;
	}
	if (s.len < 256) {
		gm_byte(w, 0xc4);
		gm_byte(w, (uint8_t)s.len);
	} else {
		container(w, 0xc4, 0, 0xc5, s.len);
	}
	if (s.len > 0)
		gm_raw(w, s.p, s.len);
}

/* --- msgpack reader ------------------------------------------------------ */

int
gm_fail(struct gm_r *r, int code, const char *why)
{
	r->why = why;
	return code;
}

int
gm_take(struct gm_r *r, size_t n, const uint8_t **p)
{
	if (gm_left(r) < n)
		return gm_fail(r, -LE_MALFORMED, "truncated");
	*p = r->p;
	r->p += n;
	return 0;
}

static uint64_t
be_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* A length of w bytes after the type byte. */
static int
len_field(struct gm_r *r, size_t w, uint64_t *n)
{
	const uint8_t *p;
	int rc;

	r->p++;
	if ((rc = gm_take(r, w, &p)) < 0)
		return rc;
	*n = be_get(p, w);
	return 0;
}

bool
gm_is_nil(const struct gm_r *r)
{
	return r->p < r->end && *r->p == 0xc0;
}

int
gm_read_map(struct gm_r *r, uint32_t *n)
{
	uint64_t v;
	int rc;

	if (r->p >= r->end)
		return gm_fail(r, -LE_MALFORMED, "truncated");
	if ((*r->p & 0xf0) == 0x80) {
		v = *r->p++ & 0x0f;
	} else if (*r->p == 0xde || *r->p == 0xdf) {
		if ((rc = len_field(r, *r->p == 0xde ? 2 : 4, &v)) < 0)
			return rc;
	} else {
		return gm_fail(r, -LE_MALFORMED, "expected a map");
	}
	/* Every key and value takes at least a byte. */
	if (v * 2 > gm_left(r))
		return gm_fail(r, -LE_MALFORMED, "map count exceeds message");
	*n = (uint32_t)v;
	return 0;
}

int
gm_read_array(struct gm_r *r, uint32_t *n, bool *nil)
{
	uint64_t v;
	int rc;

	if (nil)
		*nil = false;
	if (r->p >= r->end)
		return gm_fail(r, -LE_MALFORMED, "truncated");
	if (*r->p == 0xc0 && nil) {
		r->p++;
		*nil = true;
		*n = 0;
		return 0;
	}
	if ((*r->p & 0xf0) == 0x90) {
		v = *r->p++ & 0x0f;
	} else if (*r->p == 0xdc || *r->p == 0xdd) {
		if ((rc = len_field(r, *r->p == 0xdc ? 2 : 4, &v)) < 0)
			return rc;
	} else {
		return gm_fail(r, -LE_MALFORMED, "expected an array");
	}
	if (v > gm_left(r))
		return gm_fail(r, -LE_MALFORMED, "array count exceeds message");
	*n = (uint32_t)v;
	return 0;
}

/* str (and with bin, the bin family) or nil. */
static int
read_raw(struct gm_r *r, size_t max, bool bin, struct gw_bytes *s)
{
	uint8_t b;
	uint64_t n;
	int rc;

	if (r->p >= r->end)
		return gm_fail(r, -LE_MALFORMED, "truncated");
	b = *r->p;
	if (b == 0xc0) {
		r->p++;
		s->p = NULL;
		s->len = 0;
		return 0;
	}
	if (b >= 0xa0 && b <= 0xbf) {
		n = b & 0x1f;
		r->p++;
	} else if (b >= 0xd9 && b <= 0xdb) {
		if ((rc = len_field(r, b == 0xd9 ? 1 : b == 0xda ? 2 : 4,
		    &n)) < 0)
			return rc;
	} else if (bin && b >= 0xc4 && b <= 0xc6) {
		if ((rc = len_field(r, b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4,
		    &n)) < 0)
			return rc;
	} else {
		return gm_fail(r, -LE_MALFORMED,
		    bin ? "expected bytes" : "expected a string");
	}
	if (n > gm_left(r))
		return gm_fail(r, -LE_MALFORMED, "truncated string");
	if (n > max)
		return gm_fail(r, -LE_TOOBIG, "string too long");
	s->p = r->p;
	s->len = (size_t)n;
	r->p += n;
	return 0;
}

int
gm_read_str(struct gm_r *r, size_t max, struct gw_bytes *s)
{
	return read_raw(r, max, false, s);
}

int
gm_read_bytes(struct gm_r *r, size_t max, struct gw_bytes *s)
{
	return read_raw(r, max, true, s);
}

/* Any integer: *neg tells which of *u (>= 0) or *i (< 0) holds it. */
static int
read_num(struct gm_r *r, bool *neg, uint64_t *u, int64_t *i)
{
	uint8_t b;
	const uint8_t *p;
	size_t w;
	int rc;

	if (r->p >= r->end)
		return gm_fail(r, -LE_MALFORMED, "truncated");
	b = *r->p;
	if (b <= 0x7f) {
		r->p++;
		*neg = false;
		*u = b;
		return 0;
	}
	if (b >= 0xe0) {
		r->p++;
		*neg = true;
		*i = (int8_t)b;
		return 0;
	}
	switch (b) {
	case 0xcc: case 0xd0: w = 1; break;
	case 0xcd: case 0xd1: w = 2; break;
	case 0xce: case 0xd2: w = 4; break;
	case 0xcf: case 0xd3: w = 8; break;
	default:
		return gm_fail(r, -LE_MALFORMED, "expected an integer");
	}
	r->p++;
	if ((rc = gm_take(r, w, &p)) < 0)
		return rc;
	if (b >= 0xcc && b <= 0xcf) {
		*neg = false;
		*u = be_get(p, w);
		return 0;
	}
	{
		uint64_t v = be_get(p, w);
		int64_t s;

		/* Sign-extend from w bytes. */
		if (w < 8 && (v >> (w * 8 - 1)) & 1)
			v |= ~UINT64_C(0) << (w * 8);
		memcpy(&s, &v, sizeof(s));
		*neg = s < 0;
		if (s < 0)
			*i = s;
		else
			*u = (uint64_t)s;
	}
	return 0;
}

int
gm_read_uint(struct gm_r *r, uint64_t max, uint64_t *v)
{
	bool neg;
	uint64_t u = 0;
	int64_t i;
	int rc;

	if ((rc = read_num(r, &neg, &u, &i)) < 0)
		return rc;
	if (neg)
		return gm_fail(r, -LE_MALFORMED, "negative value");
	if (u > max)
		return gm_fail(r, -LE_MALFORMED, "integer out of range");
	*v = u;
	return 0;
}

int
gm_read_int(struct gm_r *r, int64_t *v)
{
	bool neg;
	uint64_t u = 0;
	int64_t i = 0;
	int rc;

	if ((rc = read_num(r, &neg, &u, &i)) < 0)
		return rc;
	if (neg) {
		*v = i;
		return 0;
	}
	if (u > INT64_MAX)
		return gm_fail(r, -LE_MALFORMED, "integer out of range");
	*v = (int64_t)u;
	return 0;
}

int
gm_read_bool(struct gm_r *r, bool *v)
{
	if (r->p >= r->end)
		return gm_fail(r, -LE_MALFORMED, "truncated");
	switch (*r->p) {
	case 0xc2: case 0x00: *v = false; break;
	case 0xc3: case 0x01: *v = true; break;
	default:
		return gm_fail(r, -LE_MALFORMED, "expected a bool");
	}
	r->p++;
	return 0;
}

int
gm_read_f64(struct gm_r *r, double *v)
{
	const uint8_t *p;
	int rc;

	if (r->p >= r->end)
		return gm_fail(r, -LE_MALFORMED, "truncated");
	if (*r->p == 0xcb) {
		uint64_t u;

		r->p++;
		if ((rc = gm_take(r, 8, &p)) < 0)
			return rc;
		u = be_get(p, 8);
		memcpy(v, &u, sizeof(*v));
		return 0;
	}
	if (*r->p == 0xca) {
		uint32_t u;
		float f;

		r->p++;
		if ((rc = gm_take(r, 4, &p)) < 0)
			return rc;
		u = (uint32_t)be_get(p, 4);
		memcpy(&f, &u, sizeof(f));
		*v = f;
		return 0;
	}
	{
		bool neg;
		uint64_t u = 0;
		int64_t i = 0;

		if ((rc = read_num(r, &neg, &u, &i)) < 0)
			return gm_fail(r, rc, "expected a float");
		*v = neg ? (double)i : (double)u;
	}
	return 0;
}

/* Iterative: a count of objects still to skip, never a recursion; each
 * container's count is checked against the bytes left first. */
int
gm_skip(struct gm_r *r)
{
	uint64_t pending = 1;
	int rc;

	while (pending > 0) {
		uint8_t b;
		uint64_t n = 0, skip = 0, items = 0;

		pending--;
		if (r->p >= r->end)
			return gm_fail(r, -LE_MALFORMED, "truncated");
		b = *r->p;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 ||
		    b == 0xc3) {
			r->p++;
		} else if (b <= 0x8f) {
			r->p++;
			items = (uint64_t)(b & 0x0f) * 2;
		} else if (b <= 0x9f) {
			r->p++;
			items = b & 0x0f;
		} else if (b <= 0xbf) {
			r->p++;
			skip = b & 0x1f;
		} else {
			switch (b) {
			case 0xc4: case 0xd9: case 0xc7:
				rc = len_field(r, 1, &n);
				skip = n + (b == 0xc7);
				break;
			case 0xc5: case 0xda: case 0xc8:
				rc = len_field(r, 2, &n);
				skip = n + (b == 0xc8);
				break;
			case 0xc6: case 0xdb: case 0xc9:
				rc = len_field(r, 4, &n);
				skip = n + (b == 0xc9);
				break;
			case 0xca: r->p++; skip = 4; rc = 0; break;
			case 0xcb: r->p++; skip = 8; rc = 0; break;
			case 0xcc: case 0xd0: r->p++; skip = 1; rc = 0; break;
			case 0xcd: case 0xd1: r->p++; skip = 2; rc = 0; break;
			case 0xce: case 0xd2: r->p++; skip = 4; rc = 0; break;
			case 0xcf: case 0xd3: r->p++; skip = 8; rc = 0; break;
			case 0xd4: r->p++; skip = 2; rc = 0; break;
			case 0xd5: r->p++; skip = 3; rc = 0; break;
			case 0xd6: r->p++; skip = 5; rc = 0; break;
			case 0xd7: r->p++; skip = 9; rc = 0; break;
			case 0xd8: r->p++; skip = 17; rc = 0; break;
			case 0xdc: rc = len_field(r, 2, &items); break;
			case 0xdd: rc = len_field(r, 4, &items); break;
			case 0xde: rc = len_field(r, 2, &n); items = n * 2;
				break;
			case 0xdf: rc = len_field(r, 4, &n); items = n * 2;
				break;
			default:
				return gm_fail(r, -LE_MALFORMED,
				    "reserved msgpack byte");
			}
			if (rc < 0)
				return rc;
		}
		if (skip > gm_left(r))
			return gm_fail(r, -LE_MALFORMED, "truncated");
		r->p += skip;
		pending += items;
		if (pending > gm_left(r))
			return gm_fail(r, -LE_MALFORMED,
			    "container count exceeds message");
	}
	return 0;
}

bool
gm_key_eq(struct gw_bytes k, const char *name)
{
	size_t n = strlen(name);

	return k.len == n && k.p != NULL && memcmp(k.p, name, n) == 0;
}

/* --- struct tables ------------------------------------------------------- */

static bool
field_empty(const struct gm_field *f, const void *s)
{
	const char *at = (const char *)s + f->off;

	switch (f->kind) {
	case GM_STR: case GM_BYTES:
		return ((const struct gw_bytes *)at)->p == NULL ||
		    ((const struct gw_bytes *)at)->len == 0;
	case GM_BOOL: return !*(const bool *)at;
	case GM_U8: return *(const uint8_t *)at == 0;
	case GM_U16: return *(const uint16_t *)at == 0;
	case GM_U32: return *(const uint32_t *)at == 0;
	case GM_U64: return *(const uint64_t *)at == 0;
	case GM_INT: return *(const int64_t *)at == 0;
	default: return false;
	}
}

static bool
addr_ok(size_t len, uint8_t flags)
{
	if (len == 0)
		return !(flags & GM_NONEMPTY);
	return len == 4 || len == 16;
}

int
gm_write_struct(struct gm_w *w, const struct gm_field *f, unsigned n,
    const void *s)
{
	unsigned cnt = 0;
	int rc;

	for (unsigned i = 0; i < n; i++)
		if (!(f[i].flags & GM_OMITEMPTY) || !field_empty(&f[i], s))
			cnt++;
	gm_map(w, cnt);
	for (unsigned i = 0; i < n && w->err == 0; i++) {
		const char *at = (const char *)s + f[i].off;
		const struct gw_bytes *b = (const struct gw_bytes *)at;

		if ((f[i].flags & GM_OMITEMPTY) && field_empty(&f[i], s))
			continue;
		gm_cstr(w, f[i].name);
		switch (f[i].kind) {
		case GM_STR:
		case GM_BYTES:
			/* Never send what we would refuse to read. */
			if ((b->p && b->len > f[i].max) ||
			    ((f[i].flags & GM_ADDR) &&
			    !addr_ok(b->p ? b->len : 0, f[i].flags))) {
				w->err = -LE_INVAL;
				break;
			}
			if (f[i].kind == GM_STR)
				gm_str(w, *b);
			else
				gm_bytes(w, *b);
			break;
		case GM_BOOL: gm_bool(w, *(const bool *)at); break;
		case GM_U8: gm_uint(w, *(const uint8_t *)at); break;
		case GM_U16: gm_uint(w, *(const uint16_t *)at); break;
		case GM_U32: gm_uint(w, *(const uint32_t *)at); break;
		case GM_U64: gm_uint(w, *(const uint64_t *)at); break;
		case GM_INT: gm_int(w, *(const int64_t *)at); break;
		case GM_VSN:
			gm_str(w, (struct gw_bytes){ (const uint8_t *)at,
			    GW_VSN_LEN });
			break;
		case GM_CUSTOM:
			if ((rc = f[i].enc(w, s)) < 0 && w->err == 0)
				w->err = rc;
			break;
		}
	}
	return w->err;
}

static int
read_field(struct gm_r *r, const struct gm_field *f, void *s)
{
	char *at = (char *)s + f->off;
	struct gw_bytes *b = (struct gw_bytes *)at;
	uint64_t u;
	int rc;

	switch (f->kind) {
	case GM_STR:
		return gm_read_str(r, f->max, b);
	case GM_BYTES:
		if ((rc = gm_read_bytes(r, f->max, b)) < 0)
			return rc;
		if ((f->flags & GM_ADDR) && !addr_ok(b->len, f->flags))
			return gm_fail(r, -LE_MALFORMED,
			    "address must be 4 or 16 bytes");
		return 0;
	case GM_BOOL:
		return gm_read_bool(r, (bool *)at);
	case GM_U8:
		if ((rc = gm_read_uint(r, UINT8_MAX, &u)) == 0)
			*(uint8_t *)at = (uint8_t)u;
		return rc;
	case GM_U16:
		if ((rc = gm_read_uint(r, UINT16_MAX, &u)) == 0)
			*(uint16_t *)at = (uint16_t)u;
		return rc;
	case GM_U32:
		if ((rc = gm_read_uint(r, UINT32_MAX, &u)) == 0)
			*(uint32_t *)at = (uint32_t)u;
		return rc;
	case GM_U64:
		return gm_read_uint(r, UINT64_MAX, (uint64_t *)at);
	case GM_INT:
		return gm_read_int(r, (int64_t *)at);
	case GM_VSN: {
		struct gw_bytes v;

		if ((rc = gm_read_bytes(r, GW_VSN_LEN, &v)) < 0)
			return gm_fail(r, rc, "Vsn must be 6 bytes");
		if (v.len != 0 && v.len != GW_VSN_LEN)
			return gm_fail(r, -LE_MALFORMED, "Vsn must be 6 bytes");
		memset(at, 0, GW_VSN_LEN);
		if (v.len)
			memcpy(at, v.p, GW_VSN_LEN);
		return 0;
	}
	case GM_CUSTOM:
		return f->dec(r, s);
	}
	return gm_fail(r, -LE_INVAL, "bad field table");
}

int
gm_read_struct(struct gm_r *r, const struct gm_field *f, unsigned n, void *s)
{
	uint32_t cnt;
	int rc;

	if ((rc = gm_read_map(r, &cnt)) < 0)
		return rc;
	for (uint32_t k = 0; k < cnt; k++) {
		struct gw_bytes key;
		unsigned i;

		if ((rc = gm_read_str(r, SIZE_MAX, &key)) < 0)
			return gm_fail(r, rc, "bad map key");
		for (i = 0; i < n; i++)
			if (gm_key_eq(key, f[i].name))
				break;
		rc = i < n ? read_field(r, &f[i], s) : gm_skip(r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* --- memberlist messages ------------------------------------------------- */

#define OFF(t, m) ((uint16_t)offsetof(struct t, m))
#define NF(a) ((unsigned)(sizeof(a) / sizeof((a)[0])))

static const struct gm_field ping_f[] = {
	{ "Node", GM_STR, 0, OFF(gw_ping, node), GW_NAME_MAX },
	{ "SeqNo", GM_U32, 0, OFF(gw_ping, seq_no), 0 },
	{ "SourceAddr", GM_BYTES, GM_OMITEMPTY | GM_ADDR,
	  OFF(gw_ping, source_addr), 16 },
	{ "SourceNode", GM_STR, GM_OMITEMPTY, OFF(gw_ping, source_node),
	  GW_NAME_MAX },
	{ "SourcePort", GM_U16, GM_OMITEMPTY, OFF(gw_ping, source_port), 0 },
};

static const struct gm_field iping_f[] = {
	{ "Nack", GM_BOOL, 0, OFF(gw_indirect_ping, nack), 0 },
	{ "Node", GM_STR, 0, OFF(gw_indirect_ping, node), GW_NAME_MAX },
	{ "Port", GM_U16, 0, OFF(gw_indirect_ping, port), 0 },
	{ "SeqNo", GM_U32, 0, OFF(gw_indirect_ping, seq_no), 0 },
	{ "SourceAddr", GM_BYTES, GM_OMITEMPTY | GM_ADDR,
	  OFF(gw_indirect_ping, source_addr), 16 },
	{ "SourceNode", GM_STR, GM_OMITEMPTY,
	  OFF(gw_indirect_ping, source_node), GW_NAME_MAX },
	{ "SourcePort", GM_U16, GM_OMITEMPTY,
	  OFF(gw_indirect_ping, source_port), 0 },
	{ "Target", GM_BYTES, GM_ADDR | GM_NONEMPTY,
	  OFF(gw_indirect_ping, target), 16 },
};

static const struct gm_field ack_f[] = {
	{ "Payload", GM_BYTES, 0, OFF(gw_ack, payload), GW_UDP_MAX },
	{ "SeqNo", GM_U32, 0, OFF(gw_ack, seq_no), 0 },
};

static const struct gm_field nack_f[] = {
	{ "SeqNo", GM_U32, 0, OFF(gw_nack, seq_no), 0 },
};

static const struct gm_field suspect_f[] = {
	{ "From", GM_STR, 0, OFF(gw_suspect, from), GW_NAME_MAX },
	{ "Incarnation", GM_U32, 0, OFF(gw_suspect, incarnation), 0 },
	{ "Node", GM_STR, 0, OFF(gw_suspect, node), GW_NAME_MAX },
};

static const struct gm_field alive_f[] = {
	{ "Addr", GM_BYTES, GM_ADDR | GM_NONEMPTY, OFF(gw_alive, addr), 16 },
	{ "Incarnation", GM_U32, 0, OFF(gw_alive, incarnation), 0 },
	{ "Meta", GM_BYTES, 0, OFF(gw_alive, meta), GW_META_MAX },
	{ "Node", GM_STR, 0, OFF(gw_alive, node), GW_NAME_MAX },
	{ "Port", GM_U16, 0, OFF(gw_alive, port), 0 },
	{ "Vsn", GM_VSN, 0, OFF(gw_alive, vsn), 0 },
};

static const struct gm_field err_f[] = {
	{ "Error", GM_STR, 0, OFF(gw_err, error), GW_UDP_MAX },
};

static const struct gm_field push_node_f[] = {
	{ "Addr", GM_BYTES, GM_ADDR, OFF(gw_push_node, addr), 16 },
	{ "Incarnation", GM_U32, 0, OFF(gw_push_node, incarnation), 0 },
	{ "Meta", GM_BYTES, 0, OFF(gw_push_node, meta), GW_META_MAX },
	{ "Name", GM_STR, 0, OFF(gw_push_node, name), GW_NAME_MAX },
	{ "Port", GM_U16, 0, OFF(gw_push_node, port), 0 },
	{ "State", GM_U8, 0, OFF(gw_push_node, state), 0 },
	{ "Vsn", GM_VSN, 0, OFF(gw_push_node, vsn), 0 },
};

/* pushPullHeader and userMsgHeader carry Go ints. */
struct push_hdr {
	bool join;
	int64_t nodes, user_state_len;
};
static const struct gm_field push_hdr_f[] = {
	{ "Join", GM_BOOL, 0, OFF(push_hdr, join), 0 },
	{ "Nodes", GM_INT, 0, OFF(push_hdr, nodes), 0 },
	{ "UserStateLen", GM_INT, 0, OFF(push_hdr, user_state_len), 0 },
};

struct user_hdr {
	int64_t len;
};
static const struct gm_field user_hdr_f[] = {
	{ "UserMsgLen", GM_INT, 0, OFF(user_hdr, len), 0 },
};

/* The field table of a message type, or NULL for types with no msgpack
 * body of their own. */
static const struct gm_field *
msg_fields(enum gw_type t, unsigned *n)
{
	switch (t) {
	case GW_PING: *n = NF(ping_f); return ping_f;
	case GW_INDIRECT_PING: *n = NF(iping_f); return iping_f;
	case GW_ACK: *n = NF(ack_f); return ack_f;
	case GW_NACK: *n = NF(nack_f); return nack_f;
	case GW_SUSPECT: case GW_DEAD: *n = NF(suspect_f); return suspect_f;
	case GW_ALIVE: *n = NF(alive_f); return alive_f;
	case GW_ERR: *n = NF(err_f); return err_f;
	default: *n = 0; return NULL;
	}
}

static int
set_why(const char **why, const char *text, int rc)
{
	if (why)
		*why = text;
	return rc;
}

int
gw_decode_msg(const uint8_t *buf, size_t len, struct gw_msg *m,
    const char **why)
{
	const struct gm_field *f;
	struct gm_r r;
	unsigned n;
	int rc;

	memset(m, 0, sizeof(*m));
	if (why)
		*why = NULL;
	if (buf == NULL || len == 0)
		return set_why(why, "empty message", -LE_MALFORMED);
	m->type = (enum gw_type)buf[0];
	switch (buf[0]) {
	case GW_USER:
		m->u.user.p = buf + 1;
		m->u.user.len = len - 1;
		return 0;
	case GW_PUSH_PULL:
	case GW_COMPOUND:
	case GW_COMPRESS:
	case GW_ENCRYPT:
	case GW_HAS_CRC:
	case GW_HAS_LABEL:
		return set_why(why, "a framing layer or stream, not a message",
		    -LE_MALFORMED);
	}
	if ((f = msg_fields(m->type, &n)) == NULL)
		return set_why(why, "unknown message type", -LE_MALFORMED);
	gm_r_init(&r, buf + 1, len - 1);
	/* The union's members all start at its address. */
	if ((rc = gm_read_struct(&r, f, n, &m->u)) < 0)
		return set_why(why, r.why, rc);
	if (gm_left(&r) != 0)
		return set_why(why, "trailing bytes after message",
		    -LE_MALFORMED);
	/* A missing key reads as zero; an alive or indirect ping without an
	 * address is of no use to anyone. */
	if ((m->type == GW_ALIVE && m->u.alive.addr.len == 0) ||
	    (m->type == GW_INDIRECT_PING && m->u.iping.target.len == 0))
		return set_why(why, "no address", -LE_MALFORMED);
	return 0;
}

int
gw_encode_msg(struct gw_buf *out, const struct gw_msg *m)
{
	const struct gm_field *f = NULL;
	struct gm_w w;
	unsigned n;

	if (m->type != GW_USER && (f = msg_fields(m->type, &n)) == NULL)
		return -LE_INVAL;
	gm_w_init(&w, out);
	gm_byte(&w, (uint8_t)m->type);
	if (m->type == GW_USER) {
		if (m->u.user.p)
			gm_raw(&w, m->u.user.p, m->u.user.len);
	} else {
		gm_write_struct(&w, f, n, &m->u);
	}
	return gm_w_end(&w);
}

/* --- compound (§6.1) ----------------------------------------------------- */

int
gw_compound_encode(struct gw_buf *out, const struct gw_bytes *parts,
    unsigned n)
{
	struct gm_w w;

	if (n > GW_COMPOUND_MAX)
		return -LE_INVAL;
	for (unsigned i = 0; i < n; i++)
		if (parts[i].len > UINT16_MAX)
			return -LE_INVAL;
	gm_w_init(&w, out);
	gm_byte(&w, GW_COMPOUND);
	gm_byte(&w, (uint8_t)n);
	for (unsigned i = 0; i < n; i++)
		gm_be16(&w, (uint16_t)parts[i].len);
	for (unsigned i = 0; i < n; i++)
		if (parts[i].len)
			gm_raw(&w, parts[i].p, parts[i].len);
	return gm_w_end(&w);
}

int
gw_compound_split(const uint8_t *buf, size_t len, struct gw_bytes *parts,
    unsigned max, unsigned *n, unsigned *truncated, const char **why)
{
	unsigned cnt;
	size_t off;

	*n = 0;
	*truncated = 0;
	if (why)
		*why = NULL;
	if (len < 1)
		return set_why(why, "missing compound length byte",
		    -LE_MALFORMED);
	cnt = buf[0];
	if (len - 1 < (size_t)cnt * 2)
		return set_why(why, "truncated len slice", -LE_MALFORMED);
	if (cnt > max)
		return set_why(why, "too many compound parts", -LE_TOOBIG);
	off = 1 + (size_t)cnt * 2;
	for (unsigned i = 0; i < cnt; i++) {
		size_t plen = ((size_t)buf[1 + i * 2] << 8) | buf[2 + i * 2];

		if (len - off < plen) {
			/* The rest is lost, the complete parts still count. */
			*truncated = cnt - i;
			return 0;
		}
		parts[i].p = buf + off;
		parts[i].len = plen;
		off += plen;
		(*n)++;
	}
	if (off != len) {
		*n = 0;
		return set_why(why, "trailing bytes after compound parts",
		    -LE_MALFORMED);
	}
	return 0;
}

/* --- push/pull (§7.1) ---------------------------------------------------- */

int
gw_push_next_node(struct gw_push_reader *rd, struct gw_push_node *n,
    const char **why)
{
	struct gm_r r;
	int rc;

	memset(n, 0, sizeof(*n));
	if (rd->left == 0)
		return set_why(why, "no more node states", -LE_NOTFOUND);
	gm_r_init(&r, rd->p, (size_t)(rd->end - rd->p));
	if ((rc = gm_read_struct(&r, push_node_f, NF(push_node_f), n)) < 0)
		return set_why(why, r.why, rc);
	rd->p = r.p;
	rd->left--;
	return 0;
}

int
gw_push_decode(const uint8_t *buf, size_t len, struct gw_push_header *hdr,
    struct gw_push_reader *rd, struct gw_bytes *user_state, const char **why)
{
	struct push_hdr h = { 0 };
	struct gw_push_reader scan;
	struct gw_push_node node;
	struct gm_r r;
	int rc;

	memset(hdr, 0, sizeof(*hdr));
	memset(rd, 0, sizeof(*rd));
	user_state->p = NULL;
	user_state->len = 0;
	if (why)
		*why = NULL;
	gm_r_init(&r, buf, len);
	if ((rc = gm_read_struct(&r, push_hdr_f, NF(push_hdr_f), &h)) < 0)
		return set_why(why, r.why, rc);
	if (h.nodes < 0 || h.user_state_len < 0)
		return set_why(why, "negative count in push/pull header",
		    -LE_MALFORMED);
	if (h.nodes > GW_PUSH_NODES_MAX || h.user_state_len > GW_USER_MSG_MAX)
		return set_why(why, "push/pull state too large", -LE_TOOBIG);
	/* Each node state is a map of at least one byte. */
	if ((uint64_t)h.nodes + (uint64_t)h.user_state_len > gm_left(&r))
		return set_why(why, "push/pull counts exceed message",
		    -LE_MALFORMED);
	rd->p = r.p;
	rd->end = r.end;
	rd->left = (uint32_t)h.nodes;
	/* Check every node now, so walking them later cannot fail. */
	scan = *rd;
	while (scan.left > 0)
		if ((rc = gw_push_next_node(&scan, &node, why)) < 0)
			return rc;
	if ((uint64_t)(scan.end - scan.p) != (uint64_t)h.user_state_len)
		return set_why(why, (uint64_t)(scan.end - scan.p) <
		    (uint64_t)h.user_state_len ? "truncated user state" :
		    "trailing bytes after user state", -LE_MALFORMED);
	if (h.user_state_len > 0) {
		user_state->p = scan.p;
		user_state->len = (size_t)h.user_state_len;
	}
	hdr->join = h.join;
	hdr->nodes = (uint32_t)h.nodes;
	hdr->user_state_len = (uint32_t)h.user_state_len;
	return 0;
}

int
gw_push_encode(struct gw_buf *out, bool join, const struct gw_push_node *nodes,
    uint32_t n, struct gw_bytes user_state)
{
	struct push_hdr h = { join, n, user_state.p ? (int64_t)user_state.len :
		0 };
	struct gm_w w;

	if (n > GW_PUSH_NODES_MAX || h.user_state_len > GW_USER_MSG_MAX)
		return -LE_INVAL;
	gm_w_init(&w, out);
	gm_byte(&w, GW_PUSH_PULL);
	gm_write_struct(&w, push_hdr_f, NF(push_hdr_f), &h);
	for (uint32_t i = 0; i < n && w.err == 0; i++)
		gm_write_struct(&w, push_node_f, NF(push_node_f), &nodes[i]);
	if (h.user_state_len > 0)
		gm_raw(&w, user_state.p, user_state.len);
	return gm_w_end(&w);
}

/* --- reliable user message (§7.2) ---------------------------------------- */

int
gw_stream_user_decode(const uint8_t *buf, size_t len, struct gw_bytes *msg,
    const char **why)
{
	struct user_hdr h = { 0 };
	struct gm_r r;
	int rc;

	msg->p = NULL;
	msg->len = 0;
	if (why)
		*why = NULL;
	gm_r_init(&r, buf, len);
	if ((rc = gm_read_struct(&r, user_hdr_f, NF(user_hdr_f), &h)) < 0)
		return set_why(why, r.why, rc);
	if (h.len < 0)
		return set_why(why, "negative user message length",
		    -LE_MALFORMED);
	if (h.len > GW_USER_MSG_MAX)
		return set_why(why, "user message too large", -LE_TOOBIG);
	if ((uint64_t)h.len != gm_left(&r))
		return set_why(why, (uint64_t)h.len > gm_left(&r) ?
		    "truncated user message" : "trailing bytes after user message",
		    -LE_MALFORMED);
	if (h.len > 0) {
		msg->p = r.p;
		msg->len = (size_t)h.len;
	}
	return 0;
}

int
gw_stream_user_encode(struct gw_buf *out, const uint8_t *msg, size_t len)
{
	struct user_hdr h = { (int64_t)len };
	struct gm_w w;

	if (len > GW_USER_MSG_MAX)
		return -LE_INVAL;
	gm_w_init(&w, out);
	gm_byte(&w, GW_USER);
	gm_write_struct(&w, user_hdr_f, NF(user_hdr_f), &h);
	if (len)
		gm_raw(&w, msg, len);
	return gm_w_end(&w);
}
