/* snapfile_test.c: common/snapfile.c, the envelope check raftd and kvd
 * run over every snapshot they read or receive. FNV-1a is checked
 * against its published test vectors; a file built the way kvd writes it
 * passes, and every single flipped byte, a cut anywhere, or a wrong
 * header is refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "snapfile.h"
#include "util.h"

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* A file as kvd writes it: header, n records of 3-byte keys and
 * 5-byte values, trailer. Returns its length. */
static size_t
build(unsigned char *b, uint64_t index, unsigned n)
{
	size_t off = 0;

	memcpy(b, SNAPFILE_MAGIC, 8);
	put64(b + 8, index);
	off = SNAPFILE_HDR;
	for (unsigned i = 0; i < n; i++) {
		b[off] = b[off + 1] = b[off + 2] = 0;
		b[off + 3] = 3;
		b[off + 4] = b[off + 5] = b[off + 6] = 0;
		b[off + 7] = 5;
		memcpy(b + off + 8, "k", 1);
		b[off + 9] = (unsigned char)('a' + i);
		b[off + 10] = '/';
		memcpy(b + off + 11, "value", 5);
		off += 16;
	}
	b[off] = b[off + 1] = b[off + 2] = b[off + 3] = 0xff;
	put64(b + off + 4, n);
	off += 12;
	put64(b + off, fnv64(FNV64_OFFSET, b, off));
	return off + 8;
}

static void
test_fnv_vectors(void **state)
{
	(void)state;
	/* FNV-1a 64 of "", "a" and "foobar" (Fowler, Noll and Vo). */
	assert_true(fnv64(FNV64_OFFSET, "", 0) ==
	    0xcbf29ce484222325ULL);
	assert_true(fnv64(FNV64_OFFSET, "a", 1) ==
	    0xaf63dc4c8601ec8cULL);
	assert_true(fnv64(FNV64_OFFSET, "foobar", 6) ==
	    0x85944171f73967e8ULL);
	/* In pieces, the same. */
	assert_true(fnv64(fnv64(FNV64_OFFSET, "foo", 3),
	    "bar", 3) == 0x85944171f73967e8ULL);
}

static void
test_whole_file_passes(void **state)
{
	unsigned char b[512];
	struct lerr e;
	uint64_t idx = 0;
	size_t len;

	(void)state;
	len = build(b, 217233, 7);
	assert_int_equal(snapfile_check(b, len, &idx, &e), 0);
	assert_true(idx == 217233);
	len = build(b, 1, 0);	/* an empty state */
	assert_int_equal(len, SNAPFILE_HDR + SNAPFILE_TRAILER);
	assert_int_equal(snapfile_check(b, len, NULL, &e), 0);
}

static void
test_every_flipped_byte_refused(void **state)
{
	unsigned char b[512];
	struct lerr e;
	uint64_t idx;
	size_t len;

	(void)state;
	len = build(b, 42, 5);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			b[i] ^= (unsigned char)(1u << bit);
			idx = 999;
			assert_int_equal(snapfile_check(b, len, &idx, &e),
			    -LE_CORRUPT);
			assert_true(idx == 999);	/* untouched */
			assert_true(strlen(e.msg) > 0);
			b[i] ^= (unsigned char)(1u << bit);
		}
	}
	assert_int_equal(snapfile_check(b, len, &idx, &e), 0);
}

static void
test_cut_or_foreign_refused(void **state)
{
	unsigned char b[512];
	struct lerr e;
	size_t len;

	(void)state;
	len = build(b, 42, 5);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(snapfile_check(b, cut, NULL, &e),
		    -LE_CORRUPT);
	assert_non_null(strstr(e.msg, "checksum"));
	assert_int_equal(snapfile_check(b, 10, NULL, &e), -LE_CORRUPT);
	assert_non_null(strstr(e.msg, "too short"));
	assert_int_equal(snapfile_check(NULL, 0, NULL, &e), -LE_CORRUPT);
	/* A right checksum over the wrong header: not ours. */
	memcpy(b, "LICTSNP2", 8);
	put64(b + len - 8, fnv64(FNV64_OFFSET, b, len - 8));
	assert_int_equal(snapfile_check(b, len, NULL, &e), -LE_CORRUPT);
	assert_non_null(strstr(e.msg, "LICTSNP1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fnv_vectors),
		cmocka_unit_test(test_whole_file_passes),
		cmocka_unit_test(test_every_flipped_byte_refused),
		cmocka_unit_test(test_cut_or_foreign_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
