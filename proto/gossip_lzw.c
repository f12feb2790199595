/* gossip_lzw.c: LZW exactly as Go's compress/lzw with LSB bit order and
 * 8-bit literals (§6.2), and memberlist's compression wrapper
 * [9][{Algo, Buf}]. The encoder mirrors Go's Writer code for code, so its
 * output is byte-identical to Go's; the decoder mirrors Go's Reader,
 * including its table freeze at 12 bits, and never trusts a code. */
#include "gossip_wire.h"
#include "gossip_mp.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

#define LIT_WIDTH	8
#define CLEAR		(1u << LIT_WIDTH)	/* 256 */
#define EOF_CODE	(CLEAR + 1)		/* 257 */
#define MAX_WIDTH	12
#define MAX_CODE	((1u << MAX_WIDTH) - 1)	/* 4095 */
/* Go's writer hash table: entries are key << 12 | code, key = prefix
 * code << 8 | literal; 0 is free (no real entry has code 0). */
#define TABLE_SIZE	(4u << MAX_WIDTH)
#define TABLE_MASK	(TABLE_SIZE - 1)

struct lzw_w {
	struct gm_w *w;
	uint32_t bits;
	unsigned nbits, width;
	uint32_t hi, overflow;
	uint32_t *table;
};

static void
put_code(struct lzw_w *z, uint32_t c)
{
	z->bits |= c << z->nbits;
	z->nbits += z->width;
	while (z->nbits >= 8) {
		gm_byte(z->w, (uint8_t)z->bits);
		z->bits >>= 8;
		z->nbits -= 8;
	}
}

/* Go's incHi: the next code, a wider code at a power of two, and a clear
 * code with a fresh table once 4095 is reached (then returns true). */
static bool
inc_hi(struct lzw_w *z)
{
	z->hi++;
	if (z->hi == z->overflow) {
		z->width++;
		z->overflow <<= 1;
	}
	if (z->hi == MAX_CODE) {
		put_code(z, CLEAR);
		z->width = LIT_WIDTH + 1;
		z->hi = CLEAR + 1;
		z->overflow = CLEAR << 1;
		memset(z->table, 0, TABLE_SIZE * sizeof(*z->table));
		return true;
	}
	return false;
}

int
gw_lzw_compress(const uint8_t *in, size_t len, struct gw_buf *out)
{
	struct gm_w w;
	struct lzw_w z = { &w, 0, 0, LIT_WIDTH + 1, CLEAR + 1, CLEAR << 1,
		NULL };
	uint32_t code;

	if ((z.table = calloc(TABLE_SIZE, sizeof(*z.table))) == NULL)
		return -LE_NOMEM;
	gm_w_init(&w, out);
	put_code(&z, CLEAR);
	if (len > 0) {
		code = in[0];
		for (size_t i = 1; i < len; i++) {
			uint32_t key = code << 8 | in[i];
			uint32_t hash = ((key >> 12) ^ key) & TABLE_MASK;
			uint32_t h = hash, t;
			bool hit = false;

			for (t = z.table[h]; t != 0; t = z.table[h]) {
				if (key == t >> 12) {
					code = t & MAX_CODE;
					hit = true;
					break;
				}
				h = (h + 1) & TABLE_MASK;
			}
			if (hit)
				continue;
			put_code(&z, code);
			code = in[i];
			if (inc_hi(&z))
				continue;
			while (z.table[hash] != 0)
				hash = (hash + 1) & TABLE_MASK;
			z.table[hash] = key << 12 | z.hi;
		}
		put_code(&z, code);
		(void)inc_hi(&z);
	} else {
		/* Go's Close writes the clear code Write did not; ours is
		 * already out, so an empty input is clear, end. */
	}
	put_code(&z, EOF_CODE);
	if (z.nbits > 0)
		gm_byte(&w, (uint8_t)z.bits);
	free(z.table);
	return gm_w_end(&w);
}

static int
lzw_fail(struct gw_buf *out, size_t start, const char **why, const char *text,
    int rc)
{
	out->len = start;
	if (why)
		*why = text;
	return rc;
}

int
gw_lzw_decompress(const uint8_t *in, size_t len, size_t max_out,
    struct gw_buf *out, const char **why)
{
	uint8_t suffix[1u << MAX_WIDTH], stack[1u << MAX_WIDTH];
	uint16_t prefix[1u << MAX_WIDTH];
	const uint16_t invalid = 0xffff;
	uint32_t bits = 0;
	unsigned nbits = 0, width = LIT_WIDTH + 1;
	uint32_t hi = EOF_CODE, overflow = 1u << width;
	uint16_t last = invalid;
	size_t pos = 0, start = out->len;
	int rc;

	memset(suffix, 0, sizeof(suffix));
	memset(prefix, 0, sizeof(prefix));
	if (why)
		*why = NULL;
	for (;;) {
		uint32_t code;
		size_t i = sizeof(stack);

		while (nbits < width) {
			if (pos >= len)
				return lzw_fail(out, start, why,
				    "lzw: unexpected end of data", -LE_MALFORMED);
			bits |= (uint32_t)in[pos++] << nbits;
			nbits += 8;
		}
		code = bits & ((1u << width) - 1);
		bits >>= width;
		nbits -= width;
		if (code == CLEAR) {
			width = LIT_WIDTH + 1;
			hi = EOF_CODE;
			overflow = 1u << width;
			last = invalid;
			continue;
		}
		if (code == EOF_CODE)
			break;
		if (code > hi)
			return lzw_fail(out, start, why, "lzw: invalid code",
			    -LE_MALFORMED);
		if (code < CLEAR) {
			stack[--i] = (uint8_t)code;
		} else {
			uint32_t c = code;

			if (code == hi && last != invalid) {
				/* The last expansion plus its own head. */
				c = last;
				while (c >= CLEAR)
					c = prefix[c];
				stack[--i] = (uint8_t)c;
				c = last;
			}
			/* Prefixes always point at smaller codes, so this
			 * ends; the bound on i is a second guard. */
			while (c >= CLEAR) {
				if (i <= 1)
					return lzw_fail(out, start, why,
					    "lzw: invalid code chain",
					    -LE_MALFORMED);
				stack[--i] = suffix[c];
				c = prefix[c];
			}
			stack[--i] = (uint8_t)c;
		}
		if (sizeof(stack) - i > max_out - (out->len - start))
			return lzw_fail(out, start, why,
			    "decompressed size exceeds limit", -LE_TOOBIG);
		if ((rc = gw_buf_append(out, stack + i, sizeof(stack) - i)) < 0)
			return lzw_fail(out, start, why, "out of memory", rc);
		if (last != invalid) {
			suffix[hi] = stack[i];
			prefix[hi] = last;
		}
		last = (uint16_t)code;
		hi++;
		if (hi >= overflow) {
			if (width == MAX_WIDTH) {
				/* Go freezes the full table until a clear. */
				last = invalid;
				hi--;
			} else {
				width++;
				overflow = 1u << width;
			}
		}
	}
	/* Go's writer ends with the end code and its last partial byte.
	 * Go's reader stops at the end code and ignores what follows; no Go
	 * writer puts anything there, so we refuse it. */
	if (pos != len)
		return lzw_fail(out, start, why,
		    "trailing bytes after lzw end code", -LE_MALFORMED);
	return 0;
}

/* --- the compression wrapper --------------------------------------------- */

struct compress {
	uint8_t algo;
	struct gw_bytes buf;
};

static const struct gm_field compress_f[] = {
	{ "Algo", GM_U8, 0, offsetof(struct compress, algo), 0, NULL, NULL },
	{ "Buf", GM_BYTES, 0, offsetof(struct compress, buf), GW_STREAM_MAX,
	  NULL, NULL },
};

int
gw_compress_wrap(struct gw_buf *out, const uint8_t *msg, size_t len)
{
	struct gw_buf z = { 0 };
	struct compress c = { 0, { NULL, 0 } };
	struct gm_w w;
	int rc;

	if ((rc = gw_lzw_compress(msg, len, &z)) < 0)
		return rc;
	c.buf.p = z.p;
	c.buf.len = z.len;
	if (z.len > GW_STREAM_MAX) {
		gw_buf_free(&z);
		return -LE_TOOBIG;
	}
	gm_w_init(&w, out);
	gm_byte(&w, GW_COMPRESS);
	gm_write_struct(&w, compress_f, 2, &c);
	rc = gm_w_end(&w);
	gw_buf_free(&z);
	return rc;
}

int
gw_compress_unwrap(const uint8_t *buf, size_t len, size_t max_out,
    struct gw_buf *out, const char **why)
{
	struct compress c = { 0, { NULL, 0 } };
	struct gm_r r;
	int rc;

	if (why)
		*why = NULL;
	gm_r_init(&r, buf, len);
	if ((rc = gm_read_struct(&r, compress_f, 2, &c)) < 0) {
		if (why)
			*why = r.why;
		return rc;
	}
	if (gm_left(&r) != 0) {
		if (why)
			*why = "trailing bytes after compressed message";
		return -LE_MALFORMED;
	}
	if (c.algo != 0) {
		if (why)
			*why = "Cannot decompress unknown algorithm";
		return -LE_MALFORMED;
	}
	return gw_lzw_decompress(c.buf.p, c.buf.len, max_out, out, why);
}
