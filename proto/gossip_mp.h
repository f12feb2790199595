/* gossip_mp.h: the msgpack subset of go-msgpack's dialect (§4) shared by
 * the gossip_*.c files; private to proto/. A hand-written codec, not
 * msgpack-c: the gossip wire needs the raw str family for byte slices and
 * a cursor over a stream of back-to-back objects (push/pull), and the
 * subset is small.
 *
 * Writer: gm_w appends to a struct gw_buf with a sticky error; gm_w_end
 * returns it and, on error, cuts the buffer back to where writing began,
 * so a failed encoder leaves the caller's buffer as it was.
 *
 * Reader: gm_r walks [p, end). Every function checks the type byte, that
 * the bytes it needs are there, and the caller's maximum; on error it
 * returns a negative LE_* code and leaves a reason in r->why. Truncation
 * and wrong types are -LE_MALFORMED, lengths past a maximum -LE_TOOBIG.
 *
 * Structs go through field tables (struct gm_field) listed in byte-wise
 * sorted key order, which is the order go-msgpack writes them in. */
#ifndef LICTOR_GOSSIP_MP_H
#define LICTOR_GOSSIP_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip_wire.h"

/* --- writer -------------------------------------------------------------- */

struct gm_w {
	struct gw_buf *b;
	size_t start;
	int err;
};

void gm_w_init(struct gm_w *w, struct gw_buf *b);
int gm_w_end(struct gm_w *w);
void gm_raw(struct gm_w *w, const void *p, size_t n);
void gm_byte(struct gm_w *w, uint8_t v);
void gm_be16(struct gm_w *w, uint16_t v);
void gm_be32(struct gm_w *w, uint32_t v);
void gm_map(struct gm_w *w, uint32_t n);
void gm_array(struct gm_w *w, uint32_t n);
void gm_nil(struct gm_w *w);
void gm_bool(struct gm_w *w, bool v);
void gm_uint(struct gm_w *w, uint64_t v);
void gm_int(struct gm_w *w, int64_t v);
void gm_f64(struct gm_w *w, double v);
/* A Go string: fixstr/str16/str32; p == NULL writes "". */
void gm_str(struct gm_w *w, struct gw_bytes s);
void gm_cstr(struct gm_w *w, const char *s);
/* A Go []byte: the same str forms; p == NULL writes nil. */
void gm_bytes(struct gm_w *w, struct gw_bytes s);
/* The same under a handle with WriteExt (Consul's for its user events):
 * a string may take str8, a []byte is bin8/16/32 (nil when p == NULL). */
void gm_str_ext(struct gm_w *w, struct gw_bytes s);
void gm_bytes_ext(struct gm_w *w, struct gw_bytes s);

/* --- reader -------------------------------------------------------------- */

struct gm_r {
	const uint8_t *p, *end;
	const char *why;
};

static inline void
gm_r_init(struct gm_r *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->end = p + len;
	r->why = NULL;
}

static inline size_t
gm_left(const struct gm_r *r)
{
	return (size_t)(r->end - r->p);
}

int gm_fail(struct gm_r *r, int code, const char *why);
int gm_take(struct gm_r *r, size_t n, const uint8_t **p);
int gm_read_map(struct gm_r *r, uint32_t *n);
/* An array, or nil (*n = 0, *nil = true). nil may be NULL: nil refused. */
int gm_read_array(struct gm_r *r, uint32_t *n, bool *nil);
bool gm_is_nil(const struct gm_r *r);
/* A string: str family or nil (p = NULL). */
int gm_read_str(struct gm_r *r, size_t max, struct gw_bytes *s);
/* A []byte: str family, bin family or nil (p = NULL). */
int gm_read_bytes(struct gm_r *r, size_t max, struct gw_bytes *s);
/* Any integer form; unsigned fields refuse negatives and values > max. */
int gm_read_uint(struct gm_r *r, uint64_t max, uint64_t *v);
int gm_read_int(struct gm_r *r, int64_t *v);
/* bool; go-msgpack also takes fixint 0 and 1. */
int gm_read_bool(struct gm_r *r, bool *v);
/* float64 or float32 (coordinates). */
int gm_read_f64(struct gm_r *r, double *v);
/* Skip one object of any type (unknown map values). */
int gm_skip(struct gm_r *r);
bool gm_key_eq(struct gw_bytes k, const char *name);

/* --- struct tables ------------------------------------------------------- */

enum gm_kind {
	GM_STR,		/* struct gw_bytes, Go string */
	GM_BYTES,	/* struct gw_bytes, Go []byte */
	GM_BOOL,	/* bool */
	GM_U8,		/* uint8_t */
	GM_U16,		/* uint16_t */
	GM_U32,		/* uint32_t */
	GM_U64,		/* uint64_t */
	GM_INT,		/* int64_t (Go int, time.Duration) */
	GM_VSN,		/* uint8_t[GW_VSN_LEN] as a 6-byte str */
	GM_CUSTOM,	/* enc/dec below */
};

#define GM_OMITEMPTY	0x01	/* left out when zero */
#define GM_ADDR		0x02	/* GM_BYTES: 4 or 16 bytes (or none) */
#define GM_NONEMPTY	0x04	/* GM_ADDR: nil and empty refused */

struct gm_field {
	const char *name;
	uint8_t kind;
	uint8_t flags;
	uint16_t off;
	uint32_t max;		/* strings and bytes: longest accepted */
	int (*enc)(struct gm_w *w, const void *s);
	int (*dec)(struct gm_r *r, void *s);
};

int gm_write_struct(struct gm_w *w, const struct gm_field *f, unsigned n,
    const void *s);
/* Reads one map into *s (which the caller zeroed): known keys by the
 * table, unknown keys skipped, missing keys left zero. */
int gm_read_struct(struct gm_r *r, const struct gm_field *f, unsigned n,
    void *s);

#endif
