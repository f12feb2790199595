/* gossip_frame_test.c: the gossip framing layers (proto/gossip_lzw.c,
 * gossip_frame.c, gossip_crypt.c): byte-for-byte against vectors written by
 * Go's own code (tests/golden/lzw.vec and frame.vec, from
 * tests/golden/gen.sh; Go is not needed here), round trips, limits, and every kind of refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gossip_wire.h"

#ifndef LICTOR_SOURCE_ROOT
#define LICTOR_SOURCE_ROOT "."
#endif

/* --- golden vector files ---------------------------------------------------- */

/* A record: "vector NAME" then "key value" lines (see gen/main.go). */
#define VEC_KEYS 48
struct vec {
	const char *name;
	unsigned n;
	const char *key[VEC_KEYS], *val[VEC_KEYS];
};

struct vecfile {
	char *text;
	unsigned n;
	struct vec *v;
};

static void
vec_load(struct vecfile *f, const char *file)
{
	char path[512];
	FILE *fp;
	long size;
	char *line, *next;

	snprintf(path, sizeof(path), "%s/tests/golden/%s", LICTOR_SOURCE_ROOT,
	    file);
	fp = fopen(path, "rb");
	if (fp == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	size = ftell(fp);
	assert_true(size > 0);
	rewind(fp);
	f->text = malloc((size_t)size + 1);
	assert_non_null(f->text);
	assert_int_equal(fread(f->text, 1, (size_t)size, fp), (size_t)size);
	f->text[size] = '\0';
	fclose(fp);
	f->n = 0;
	f->v = NULL;
	for (line = f->text; line && *line; line = next) {
		char *sp;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '#' || *line == '\0')
			continue;
		if ((sp = strchr(line, ' ')) != NULL)
			*sp++ = '\0';
		else
			sp = line + strlen(line);
		if (strcmp(line, "vector") == 0) {
			f->v = realloc(f->v, (f->n + 1) * sizeof(*f->v));
			assert_non_null(f->v);
			memset(&f->v[f->n], 0, sizeof(*f->v));
			f->v[f->n++].name = sp;
			continue;
		}
		assert_true(f->n > 0);
		assert_true(f->v[f->n - 1].n < VEC_KEYS);
		f->v[f->n - 1].key[f->v[f->n - 1].n] = line;
		f->v[f->n - 1].val[f->v[f->n - 1].n++] = sp;
	}
}

static void
vec_free(struct vecfile *f)
{
	free(f->v);
	free(f->text);
}

/* The idx-th value of key, or NULL. */
static const char *
vec_get(const struct vec *v, const char *key, unsigned idx)
{
	for (unsigned i = 0; i < v->n; i++)
		if (strcmp(v->key[i], key) == 0 && idx-- == 0)
			return v->val[i];
	return NULL;
}

static struct gw_buf
unhex(const char *s)
{
	struct gw_buf b = { 0 };
	size_t n = strlen(s);

	assert_int_equal(n % 2, 0);
	assert_int_equal(gw_buf_reserve(&b, n / 2 + 1), 0);
	for (size_t i = 0; i < n; i += 2) {
		unsigned x;

		assert_int_equal(sscanf(s + i, "%2x", &x), 1);
		b.p[b.len++] = (uint8_t)x;
	}
	return b;
}

static uint64_t
splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The input described by a spec of gen/main.go's input(). */
static struct gw_buf
vec_input(const char *spec)
{
	struct gw_buf b = { 0 };
	unsigned long long seed, n, a;
	char hexs[64];

	if (strcmp(spec, "hex") == 0)
		return b;
	if (strncmp(spec, "hex ", 4) == 0)
		return unhex(spec + 4);
	if (sscanf(spec, "repeat %llu %63s", &n, hexs) == 2) {
		struct gw_buf unit = unhex(hexs);

		for (unsigned long long i = 0; i < n; i++)
			assert_int_equal(gw_buf_append(&b, unit.p, unit.len), 0);
		gw_buf_free(&unit);
		return b;
	}
	if (sscanf(spec, "prng %llu %llu %llu", &seed, &n, &a) == 3) {
		uint64_t s = seed;

		assert_int_equal(gw_buf_reserve(&b, n + 1), 0);
		for (unsigned long long i = 0; i < n; i++) {
			uint8_t c = (uint8_t)((splitmix(&s) >> 32) % a);

			b.p[b.len++] = (uint8_t)(a < 256 ? c + 'a' : c);
		}
		return b;
	}
	if (sscanf(spec, "debruijn %llu", &n) == 1) {
		assert_int_equal(gw_buf_reserve(&b, 65536), 0);
		for (unsigned x = 0; x < 256; x++) {
			b.p[b.len++] = (uint8_t)x;
			for (unsigned y = x + 1; y < 256; y++) {
				b.p[b.len++] = (uint8_t)x;
				b.p[b.len++] = (uint8_t)y;
			}
		}
		assert_int_equal(b.len, 65536);
		assert_true(n <= b.len);
		b.len = n;
		return b;
	}
	fail_msg("unknown input spec %s", spec);
	return b;
}

static void
assert_bytes(const uint8_t *p, size_t n, const uint8_t *want, size_t wn)
{
	assert_int_equal(n, wn);
	if (n)
		assert_memory_equal(p, want, n);
}

/* --- LZW (§6.2) --------------------------------------------------------------- */

/* Our encoder writes Go's bytes (or, for big outputs, Go's length and
 * FNV-1a), decodes Go's bytes and its own back to the input, and the
 * [9][{Algo, Buf}] wrapper matches memberlist's compressPayload. */
static void
test_lzw_golden(void **state)
{
	struct vecfile f;
	unsigned full = 0, hashed = 0, wrapped = 0;

	(void)state;
	vec_load(&f, "lzw.vec");
	assert_true(f.n >= 20);
	for (unsigned i = 0; i < f.n; i++) {
		const struct vec *v = &f.v[i];
		struct gw_buf in = vec_input(vec_get(v, "input", 0));
		struct gw_buf z = { 0 }, back = { 0 };
		const char *why = NULL, *s;

		assert_int_equal(gw_lzw_compress(in.p, in.len, &z), 0);
		if ((s = vec_get(v, "lzw", 0)) != NULL) {
			struct gw_buf go = unhex(s);

			assert_bytes(z.p, z.len, go.p, go.len);
			assert_int_equal(gw_lzw_decompress(go.p, go.len, in.len,
			    &back, &why), 0);
			assert_bytes(back.p, back.len, in.p, in.len);
			gw_buf_free(&go);
			full++;
		} else {
			unsigned long long len, h;

			assert_int_equal(sscanf(vec_get(v, "lzw-len", 0), "%llu",
			    &len), 1);
			assert_int_equal(sscanf(vec_get(v, "lzw-fnv", 0), "%llx",
			    &h), 1);
			assert_int_equal(z.len, len);
			assert_true(fnv1a(z.p, z.len) == h);
			hashed++;
		}
		back.len = 0;
		assert_int_equal(gw_lzw_decompress(z.p, z.len, in.len, &back,
		    &why), 0);
		assert_bytes(back.p, back.len, in.p, in.len);
		if ((s = vec_get(v, "wrap", 0)) != NULL) {
			struct gw_buf go = unhex(s), w = { 0 };

			assert_int_equal(gw_compress_wrap(&w, in.p, in.len), 0);
			assert_bytes(w.p, w.len, go.p, go.len);
			back.len = 0;
			assert_int_equal(go.p[0], GW_COMPRESS);
			assert_int_equal(gw_compress_unwrap(go.p + 1, go.len - 1,
			    GW_DECOMPRESS_MAX, &back, &why), 0);
			assert_bytes(back.p, back.len, in.p, in.len);
			gw_buf_free(&go);
			gw_buf_free(&w);
			wrapped++;
		}
		gw_buf_free(&in);
		gw_buf_free(&z);
		gw_buf_free(&back);
	}
	/* The files hold both kinds; a generator change that dropped one
	 * would silently weaken this test. */
	assert_true(full >= 10 && hashed >= 3 && wrapped >= 4);
	vec_free(&f);
}

static void
round_trip_lzw(const uint8_t *p, size_t n)
{
	struct gw_buf z = { 0 }, back = { 0 };
	const char *why = NULL;

	assert_int_equal(gw_lzw_compress(p, n, &z), 0);
	/* Exactly n fits; one byte less does not. */
	assert_int_equal(gw_lzw_decompress(z.p, z.len, n, &back, &why), 0);
	assert_bytes(back.p, back.len, p, n);
	if (n > 0) {
		back.len = 0;
		assert_int_equal(gw_lzw_decompress(z.p, z.len, n - 1, &back,
		    &why), -LE_TOOBIG);
		assert_int_equal(back.len, 0);
		assert_non_null(why);
	}
	gw_buf_free(&z);
	gw_buf_free(&back);
}

static void
test_lzw_round_trips(void **state)
{
	static const size_t sizes[] = { 0, 1, 2, 3, 7, 255, 256, 257, 511,
		512, 1400, 4094, 4095, 4096, 4097, 8191, 65535, 65536, 200000 };
	struct gw_buf b = { 0 };
	uint64_t s = 42;

	(void)state;
	assert_int_equal(gw_buf_reserve(&b, 1u << 20), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		/* Random bytes: about one code per byte, many table resets. */
		for (size_t j = 0; j < n; j++)
			b.p[j] = (uint8_t)(splitmix(&s) >> 56);
		round_trip_lzw(b.p, n);
		/* One byte repeated: codes that are their own prefix + 1. */
		memset(b.p, 'z', n);
		round_trip_lzw(b.p, n);
		/* Two letters at random: long strings and table resets. */
		for (size_t j = 0; j < n; j++)
			b.p[j] = (uint8_t)('a' + (splitmix(&s) >> 63));
		round_trip_lzw(b.p, n);
		/* A period of 300: repeats across a full table. */
		for (size_t j = 0; j < n; j++)
			b.p[j] = (uint8_t)(j % 300 * 7);
		round_trip_lzw(b.p, n);
	}
	/* Every length up to 600 of one random text. */
	for (size_t j = 0; j < 600; j++)
		b.p[j] = (uint8_t)(splitmix(&s) >> 61);
	for (size_t n = 0; n <= 600; n++)
		round_trip_lzw(b.p, n);
	/* One megabyte of mixed content. */
	for (size_t j = 0; j < (1u << 20); j++)
		b.p[j] = (j / 4096) % 2 ? (uint8_t)(splitmix(&s) >> 56) :
		    (uint8_t)(j % 13);
	round_trip_lzw(b.p, 1u << 20);
	gw_buf_free(&b);
}

/* A code stream written by hand: LSB first, with the decoder's widths
 * (9 bits after a clear, one more each time the next code reaches a power
 * of two, frozen at 12). */
struct codes {
	struct gw_buf b;
	uint32_t bits;
	unsigned nbits, width, hi;
	bool after_clear;
};

static void
codes_init(struct codes *c)
{
	memset(c, 0, sizeof(*c));
	c->width = 9;
	c->hi = 257;
}

static void
codes_put(struct codes *c, unsigned code)
{
	c->bits |= (uint32_t)code << c->nbits;
	c->nbits += c->width;
	while (c->nbits >= 8) {
		uint8_t byte = (uint8_t)c->bits;

		assert_int_equal(gw_buf_append(&c->b, &byte, 1), 0);
		c->bits >>= 8;
		c->nbits -= 8;
	}
	if (code == 256) {
		c->width = 9;
		c->hi = 257;
		return;
	}
	if (code == 257)
		return;
	c->hi++;
	if (c->hi >= (1u << c->width)) {
		if (c->width == 12)
			c->hi--;
		else
			c->width++;
	}
}

static void
codes_end(struct codes *c)
{
	if (c->nbits > 0) {
		uint8_t byte = (uint8_t)c->bits;

		assert_int_equal(gw_buf_append(&c->b, &byte, 1), 0);
	}
}

static void
test_lzw_malformed(void **state)
{
	struct gw_buf out = { 0 }, z = { 0 };
	struct codes c;
	const char *why;
	const uint8_t junk[] = { 0x00 };

	(void)state;
	/* Nothing at all: the end code is missing. */
	why = NULL;
	assert_int_equal(gw_lzw_decompress(junk, 0, 100, &out, &why),
	    -LE_MALFORMED);
	assert_string_equal(why, "lzw: unexpected end of data");

	/* A code past the table: 258 right after a clear. */
	codes_init(&c);
	codes_put(&c, 256);
	codes_put(&c, 258);
	codes_put(&c, 257);
	codes_end(&c);
	why = NULL;
	assert_int_equal(gw_lzw_decompress(c.b.p, c.b.len, 100, &out, &why),
	    -LE_MALFORMED);
	assert_string_equal(why, "lzw: invalid code");
	gw_buf_free(&c.b);

	/* A code two past the last one defined. */
	codes_init(&c);
	codes_put(&c, 'a');
	codes_put(&c, 'b');
	codes_put(&c, 260);	/* hi is 259 */
	codes_put(&c, 257);
	codes_end(&c);
	assert_int_equal(gw_lzw_decompress(c.b.p, c.b.len, 100, &out, &why),
	    -LE_MALFORMED);
	gw_buf_free(&c.b);

	/* The same stream with 259 (KwKwK: "b" + "b") is fine, and the
	 * output already in out stays in front. */
	assert_int_equal(gw_buf_append(&out, "xy", 2), 0);
	codes_init(&c);
	codes_put(&c, 'a');
	codes_put(&c, 'b');
	codes_put(&c, 259);
	codes_put(&c, 258);
	codes_put(&c, 257);
	codes_end(&c);
	assert_int_equal(gw_lzw_decompress(c.b.p, c.b.len, 100, &out, &why), 0);
	assert_bytes(out.p, out.len, (const uint8_t *)"xyabbbab", 8);
	/* A failure leaves those two bytes and nothing else. */
	out.len = 2;
	assert_int_equal(gw_lzw_decompress(c.b.p, c.b.len, 3, &out, &why),
	    -LE_TOOBIG);
	assert_int_equal(out.len, 2);
	gw_buf_free(&c.b);
	out.len = 0;

	/* Truncated: no strict prefix of a stream decodes, and bytes after
	 * the end code are refused. */
	assert_int_equal(gw_lzw_compress((const uint8_t *)
	    "memberlist memberlist memberlist", 32, &z), 0);
	for (size_t i = 0; i < z.len; i++) {
		why = NULL;
		assert_int_equal(gw_lzw_decompress(z.p, i, 1000, &out, &why),
		    -LE_MALFORMED);
		assert_int_equal(out.len, 0);
		assert_non_null(why);
	}
	assert_int_equal(gw_buf_append(&z, junk, 1), 0);
	assert_int_equal(gw_lzw_decompress(z.p, z.len, 1000, &out, &why),
	    -LE_MALFORMED);
	assert_string_equal(why, "trailing bytes after lzw end code");
	gw_buf_free(&z);

	/* Go's reader keeps going with a full table (no clear at 4095 codes,
	 * which Go's writer never omits, but other writers may): ours too. */
	codes_init(&c);
	for (unsigned i = 0; i < 5000; i++)
		codes_put(&c, 'a');
	assert_int_equal(c.width, 12);
	codes_put(&c, 4095);	/* the last entry, frozen */
	codes_put(&c, 'q');
	codes_put(&c, 257);
	codes_end(&c);
	out.len = 0;
	assert_int_equal(gw_lzw_decompress(c.b.p, c.b.len, 1u << 20, &out,
	    &why), 0);
	/* 5000 a's, then entry 4095 ("aa": 'a' then the literal after it). */
	assert_int_equal(out.len, 5000 + 2 + 1);
	assert_int_equal(out.p[5002], 'q');
	for (size_t i = 0; i < 5002; i++)
		assert_int_equal(out.p[i], 'a');
	gw_buf_free(&c.b);
	gw_buf_free(&out);
}

/* A few hundred bytes that expand to megabytes are cut at the cap, and
 * the wrapper refuses what memberlist refuses. */
static void
test_lzw_caps_and_wrapper(void **state)
{
	struct gw_buf big = { 0 }, w = { 0 }, out = { 0 };
	const char *why;
	size_t n = 8u << 20;

	(void)state;
	assert_int_equal(gw_buf_reserve(&big, n), 0);
	memset(big.p, 0, n);
	big.len = n;
	assert_int_equal(gw_compress_wrap(&w, big.p, big.len), 0);
	assert_true(w.len < 8000);
	why = NULL;
	assert_int_equal(gw_compress_unwrap(w.p + 1, w.len - 1, 1u << 20, &out,
	    &why), -LE_TOOBIG);
	assert_string_equal(why, "decompressed size exceeds limit");
	assert_int_equal(out.len, 0);
	assert_int_equal(gw_compress_unwrap(w.p + 1, w.len - 1, n, &out, &why),
	    0);
	assert_int_equal(out.len, n);
	out.len = 0;

	/* Algo 1 is not LZW. */
	w.p[7] = 1;	/* 09 82 a4 "Algo" [00] */
	assert_int_equal(w.p[1], 0x82);
	assert_int_equal(gw_compress_unwrap(w.p + 1, w.len - 1, n, &out, &why),
	    -LE_MALFORMED);
	assert_string_equal(why, "Cannot decompress unknown algorithm");
	w.p[7] = 0;
	/* Bytes after the map. */
	assert_int_equal(gw_buf_append(&w, "\x00", 1), 0);
	assert_int_equal(gw_compress_unwrap(w.p + 1, w.len - 1, n, &out, &why),
	    -LE_MALFORMED);
	/* Not a map, and a map without Buf (nil: no end code). */
	assert_int_equal(gw_compress_unwrap((const uint8_t *)"\x01", 1, n, &out,
	    &why), -LE_MALFORMED);
	assert_int_equal(gw_compress_unwrap((const uint8_t *)"\x81\xa4" "Algo"
	    "\x00", 7, n, &out, &why), -LE_MALFORMED);
	assert_int_equal(out.len, 0);
	gw_buf_free(&big);
	gw_buf_free(&w);
	gw_buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lzw_golden),
		cmocka_unit_test(test_lzw_round_trips),
		cmocka_unit_test(test_lzw_malformed),
		cmocka_unit_test(test_lzw_caps_and_wrapper),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
