/* store_test.c: the store contract (store.h), every case run against
 * both implementations: the in-memory map and RocksDB in a scratch
 * directory under $TMPDIR that teardown removes. Reads through a batch
 * see its puts and deletes, iterators merge the batch over the store in
 * key order inside the prefix, empty values and binary keys survive, and
 * (RocksDB) data survives a close and reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

struct fx {
	struct store *s;
	bool rocks;
	char dir[1024];
	char path[1100];
};

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static void
rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
setup_mem(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || store_open_mem(&f->s) != 0)
		return -1;
	*state = f;
	return 0;
}

/* A fresh directory per test; $TMPDIR is meson's build dir. */
static int
mkscratch(char *dir, size_t n, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, n, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
setup_rocks(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct lerr e = { "" };

	if (f == NULL || mkscratch(f->dir, sizeof(f->dir), "store_test") != 0)
		return -1;
	f->rocks = true;
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	if (store_open_rocks(f->path, &f->s, &e) != 0) {
		fprintf(stderr, "open: %s\n", e.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	if (f->rocks)
		rm_tree(f->dir);
	free(f);
	return 0;
}

static void
put(struct store *s, const char *k, const char *v)
{
	struct store_batch *b = store_batch_new(s);

	assert_non_null(b);
	assert_int_equal(store_batch_put(b, k, strlen(k), v, strlen(v)), 0);
	assert_int_equal(store_batch_commit(b, false), 0);
	store_batch_free(b);
}

/* Asserts a value, read through b when given. */
static void
expect(struct store *s, struct store_batch *b, const char *k, const char *v)
{
	void *val = NULL;
	size_t n = 0;
	int rv = b ? store_batch_get(b, k, strlen(k), &val, &n) :
	    store_get(s, k, strlen(k), &val, &n);

	if (v == NULL) {
		assert_int_equal(rv, -LE_NOTFOUND);
		return;
	}
	assert_int_equal(rv, 0);
	assert_non_null(val);
	assert_int_equal(n, strlen(v));
	assert_memory_equal(val, v, n);
	free(val);
}

static void
esc(char *out, size_t *o, size_t cap, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n && *o + 5 < cap; i++) {
		if (b[i] >= 0x20 && b[i] < 0x7f)
			out[(*o)++] = (char)b[i];
		else
			*o += (size_t)snprintf(out + *o, cap - *o, "\\x%02x",
			    b[i]);
	}
}

/* Lists "k=v;" for every entry the iteration yields, escaped. */
static void
list(struct store *s, struct store_batch *b, const void *prefix,
    size_t plen, char *out, size_t cap)
{
	struct store_iter *it = store_iter_new(s, b, prefix, plen);
	const void *k, *v;
	size_t kl, vl, o = 0;
	int rv;

	assert_non_null(it);
	while ((rv = store_iter_next(it, &k, &kl, &v, &vl)) == 1) {
		esc(out, &o, cap, k, kl);
		out[o++] = '=';
		esc(out, &o, cap, v, vl);
		out[o++] = ';';
	}
	assert_int_equal(rv, 0);
	out[o] = '\0';
	/* The end stays the end. */
	assert_int_equal(store_iter_next(it, &k, &kl, &v, &vl), 0);
	store_iter_free(it);
}

static void
test_get_missing(void **state)
{
	struct fx *f = *state;
	char out[64];

	expect(f->s, NULL, "nope", NULL);
	list(f->s, NULL, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "");
}

static void
test_commit_makes_visible(void **state)
{
	struct fx *f = *state;
	struct store_batch *b = store_batch_new(f->s);

	assert_non_null(b);
	assert_int_equal(store_batch_count(b), 0);
	assert_int_equal(store_batch_put(b, "a", 1, "1", 1), 0);
	assert_int_equal(store_batch_put(b, "b", 1, "2", 1), 0);
	assert_int_equal(store_batch_count(b), 2);
	expect(f->s, NULL, "a", NULL);
	expect(f->s, b, "a", "1");
	assert_int_equal(store_batch_commit(b, true), 0);
	expect(f->s, NULL, "a", "1");
	expect(f->s, NULL, "b", "2");
	/* The batch is empty after a commit and reads the store through. */
	assert_int_equal(store_batch_count(b), 0);
	expect(f->s, b, "b", "2");
	assert_int_equal(store_batch_commit(b, false), 0);
	store_batch_free(b);
	expect(f->s, NULL, "a", "1");
}

static void
test_batch_read_your_writes(void **state)
{
	struct fx *f = *state;
	struct store_batch *b;

	put(f->s, "base", "old");
	b = store_batch_new(f->s);
	assert_int_equal(store_batch_put(b, "new", 3, "x", 1), 0);
	assert_int_equal(store_batch_del(b, "new", 3), 0);
	expect(f->s, b, "new", NULL);
	assert_int_equal(store_batch_del(b, "base", 4), 0);
	expect(f->s, b, "base", NULL);
	expect(f->s, NULL, "base", "old");
	assert_int_equal(store_batch_put(b, "base", 4, "newer", 5), 0);
	assert_int_equal(store_batch_put(b, "base", 4, "newest", 6), 0);
	expect(f->s, b, "base", "newest");
	expect(f->s, NULL, "base", "old");
	assert_int_equal(store_batch_count(b), 5);
	/* Deleting a key that exists nowhere is fine. */
	assert_int_equal(store_batch_del(b, "ghost", 5), 0);
	assert_int_equal(store_batch_commit(b, false), 0);
	store_batch_free(b);
	expect(f->s, NULL, "base", "newest");
	expect(f->s, NULL, "new", NULL);
	expect(f->s, NULL, "ghost", NULL);
}

static void
test_uncommitted_batch_dropped(void **state)
{
	struct fx *f = *state;
	struct store_batch *b = store_batch_new(f->s);

	assert_int_equal(store_batch_put(b, "k", 1, "v", 1), 0);
	store_batch_free(b);
	expect(f->s, NULL, "k", NULL);
}

static void
test_empty_value(void **state)
{
	struct fx *f = *state;
	struct store_batch *b = store_batch_new(f->s);
	void *val = NULL;
	size_t n = 99;
	char out[64];

	assert_int_equal(store_batch_put(b, "e", 1, NULL, 0), 0);
	assert_int_equal(store_batch_get(b, "e", 1, &val, &n), 0);
	assert_non_null(val);
	assert_int_equal(n, 0);
	free(val);
	list(f->s, b, "e", 1, out, sizeof(out));
	assert_string_equal(out, "e=;");
	assert_int_equal(store_batch_commit(b, false), 0);
	store_batch_free(b);
	val = NULL;
	n = 99;
	assert_int_equal(store_get(f->s, "e", 1, &val, &n), 0);
	assert_non_null(val);
	assert_int_equal(n, 0);
	free(val);
	list(f->s, NULL, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "e=;");
}

static void
test_binary_keys_values(void **state)
{
	struct fx *f = *state;
	static const struct { const char *k; size_t kl; } keys[] = {
		{ "\xff\xff", 2 }, { "a\xff", 2 }, { "\x00", 1 },
		{ "a\x00" "b", 3 }, { "\xff", 1 }, { "\x00\x00", 2 },
	};
	const uint8_t val[] = { 0x00, 0xff, 0x00, 0x7f, 0x80, 0xff };
	struct store_batch *b = store_batch_new(f->s);
	void *got;
	size_t n;
	char out[256];

	for (size_t i = 0; i < 6; i++)
		assert_int_equal(store_batch_put(b, keys[i].k, keys[i].kl,
		    val, i + 1), 0);
	assert_int_equal(store_batch_commit(b, false), 0);
	store_batch_free(b);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(store_get(f->s, keys[i].k, keys[i].kl, &got,
		    &n), 0);
		assert_int_equal(n, i + 1);
		assert_memory_equal(got, val, n);
		free(got);
	}
	/* Bytewise, shorter first on a tie. */
	list(f->s, NULL, NULL, 0, out, sizeof(out));
	assert_string_equal(out,
	    "\\x00=\\x00\\xff\\x00;"
	    "\\x00\\x00=\\x00\\xff\\x00\\x7f\\x80\\xff;"
	    "a\\x00b=\\x00\\xff\\x00\\x7f;"
	    "a\\xff=\\x00\\xff;"
	    "\\xff=\\x00\\xff\\x00\\x7f\\x80;"
	    "\\xff\\xff=\\x00;");
	/* A prefix of all 0xff has no upper bound; one ending in 0xff
	 * stops before the next byte value. */
	list(f->s, NULL, "\xff", 1, out, sizeof(out));
	assert_string_equal(out,
	    "\\xff=\\x00\\xff\\x00\\x7f\\x80;\\xff\\xff=\\x00;");
	list(f->s, NULL, "a", 1, out, sizeof(out));
	assert_string_equal(out,
	    "a\\x00b=\\x00\\xff\\x00\\x7f;a\\xff=\\x00\\xff;");
	list(f->s, NULL, "\x00", 1, out, sizeof(out));
	assert_string_equal(out,
	    "\\x00=\\x00\\xff\\x00;\\x00\\x00=\\x00\\xff\\x00\\x7f\\x80\\xff;");
}

static void
test_iter_merge_order(void **state)
{
	struct fx *f = *state;
	struct store_batch *b;
	char out[256];

	put(f->s, "a", "1");
	put(f->s, "c", "3");
	put(f->s, "e", "5");
	put(f->s, "g", "7");
	b = store_batch_new(f->s);
	assert_int_equal(store_batch_put(b, "b", 1, "2", 1), 0);
	assert_int_equal(store_batch_del(b, "c", 1), 0);
	assert_int_equal(store_batch_put(b, "e", 1, "55", 2), 0);
	assert_int_equal(store_batch_put(b, "h", 1, "8", 1), 0);
	assert_int_equal(store_batch_del(b, "x", 1), 0);
	assert_int_equal(store_batch_del(b, "g", 1), 0);
	assert_int_equal(store_batch_put(b, "g", 1, "77", 2), 0);
	assert_int_equal(store_batch_put(b, "0", 1, "0", 1), 0);
	assert_int_equal(store_batch_del(b, "0", 1), 0);
	list(f->s, b, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "a=1;b=2;e=55;g=77;h=8;");
	list(f->s, NULL, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "a=1;c=3;e=5;g=7;");
	assert_int_equal(store_batch_commit(b, false), 0);
	store_batch_free(b);
	list(f->s, NULL, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "a=1;b=2;e=55;g=77;h=8;");
}

static void
test_prefix_bounds(void **state)
{
	struct fx *f = *state;
	struct store_batch *b;
	char out[256];

	put(f->s, "a", "0");
	put(f->s, "ab", "1");
	put(f->s, "abc", "2");
	put(f->s, "ac", "3");
	put(f->s, "b", "4");
	b = store_batch_new(f->s);
	assert_int_equal(store_batch_put(b, "aa", 2, "x", 1), 0);
	assert_int_equal(store_batch_put(b, "abd", 3, "y", 1), 0);
	assert_int_equal(store_batch_put(b, "ac2", 3, "z", 1), 0);
	assert_int_equal(store_batch_del(b, "abc", 3), 0);
	list(f->s, b, "ab", 2, out, sizeof(out));
	assert_string_equal(out, "ab=1;abd=y;");
	list(f->s, NULL, "ab", 2, out, sizeof(out));
	assert_string_equal(out, "ab=1;abc=2;");
	list(f->s, b, "ac", 2, out, sizeof(out));
	assert_string_equal(out, "ac=3;ac2=z;");
	list(f->s, b, "zz", 2, out, sizeof(out));
	assert_string_equal(out, "");
	list(f->s, b, "abcd", 4, out, sizeof(out));
	assert_string_equal(out, "");
	list(f->s, b, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "a=0;aa=x;ab=1;abd=y;ac=3;ac2=z;b=4;");
	store_batch_free(b);
}

static void
test_seek(void **state)
{
	struct fx *f = *state;
	struct store_batch *b;
	struct store_iter *it;
	const void *k, *v;
	size_t kl, vl;

	put(f->s, "a", "-");
	put(f->s, "k1", "1");
	put(f->s, "k3", "3");
	put(f->s, "k5", "5");
	put(f->s, "l", "-");
	b = store_batch_new(f->s);
	assert_int_equal(store_batch_put(b, "k4", 2, "4", 1), 0);
	assert_int_equal(store_batch_del(b, "k3", 2), 0);
	it = store_iter_new(f->s, b, "k", 1);
	assert_non_null(it);
	store_iter_seek(it, "k2", 2);
	assert_int_equal(store_iter_next(it, &k, &kl, &v, &vl), 1);
	assert_memory_equal(k, "k4", 2);
	assert_int_equal(store_iter_next(it, &k, &kl, &v, &vl), 1);
	assert_memory_equal(k, "k5", 2);
	assert_int_equal(store_iter_next(it, &k, &kl, &v, &vl), 0);
	/* Below the prefix: its start. */
	store_iter_seek(it, "a", 1);
	assert_int_equal(store_iter_next(it, &k, &kl, &v, &vl), 1);
	assert_int_equal(kl, 2);
	assert_memory_equal(k, "k1", 2);
	/* Exactly on a key, then past the prefix. */
	store_iter_seek(it, "k5", 2);
	assert_int_equal(store_iter_next(it, &k, &kl, &v, &vl), 1);
	assert_memory_equal(k, "k5", 2);
	store_iter_seek(it, "k6", 2);
	assert_int_equal(store_iter_next(it, &k, &kl, &v, &vl), 0);
	store_iter_free(it);
	store_batch_free(b);
}

static void
test_many_keys(void **state)
{
	struct fx *f = *state;
	struct store_iter *it;
	struct store_batch *b;
	const void *k, *v;
	size_t kl, vl, n = 0;
	char key[32], prev[32] = "";
	int rv;

	/* 2000 distinct keys in a scrambled order, over four batches. */
	for (int round = 0; round < 4; round++) {
		b = store_batch_new(f->s);
		for (int i = 0; i < 500; i++) {
			unsigned id = (unsigned)(round * 500 + i) * 7919u % 2000u;

			snprintf(key, sizeof(key), "key/%05u", id);
			assert_int_equal(store_batch_put(b, key, strlen(key),
			    key, strlen(key)), 0);
		}
		assert_int_equal(store_batch_commit(b, false), 0);
		store_batch_free(b);
	}
	/* Delete the odd ones in one batch, checked before commit. */
	b = store_batch_new(f->s);
	for (unsigned id = 1; id < 2000; id += 2) {
		snprintf(key, sizeof(key), "key/%05u", id);
		assert_int_equal(store_batch_del(b, key, strlen(key)), 0);
	}
	for (int pass = 0; pass < 2; pass++) {
		it = store_iter_new(f->s, pass ? NULL : b, "key/", 4);
		n = 0;
		prev[0] = '\0';
		while ((rv = store_iter_next(it, &k, &kl, &v, &vl)) == 1) {
			assert_true(kl < sizeof(key));
			memcpy(key, k, kl);
			key[kl] = '\0';
			assert_true(strcmp(prev, key) < 0);
			assert_memory_equal(k, v, kl);
			strcpy(prev, key);
			n++;
		}
		assert_int_equal(rv, 0);
		assert_int_equal(n, pass ? 2000 : 1000);
		store_iter_free(it);
	}
	assert_int_equal(store_batch_commit(b, false), 0);
	store_batch_free(b);
	expect(f->s, NULL, "key/01998", "key/01998");
	expect(f->s, NULL, "key/01999", NULL);
}

static void
test_foreign_batch(void **state)
{
	struct fx *f = *state;
	struct store *other;
	struct store_batch *b;

	assert_int_equal(store_open_mem(&other), 0);
	b = store_batch_new(other);
	assert_null(store_iter_new(f->s, b, NULL, 0));
	store_batch_free(b);
	store_close(other);
}

static void
test_reopen_persists(void **state)
{
	struct fx *f = *state;
	struct store_batch *b;
	struct lerr e = { "" };
	char out[256];

	assert_true(f->rocks);
	b = store_batch_new(f->s);
	assert_int_equal(store_batch_put(b, "x", 1, "1", 1), 0);
	assert_int_equal(store_batch_put(b, "y", 1, NULL, 0), 0);
	assert_int_equal(store_batch_put(b, "z\x00", 2, "\xff\x00", 2), 0);
	assert_int_equal(store_batch_commit(b, true), 0);
	assert_int_equal(store_batch_del(b, "x", 1), 0);
	assert_int_equal(store_batch_commit(b, false), 0);
	store_batch_free(b);
	/* Uncommitted at close: gone after reopen. */
	b = store_batch_new(f->s);
	assert_int_equal(store_batch_put(b, "lost", 4, "1", 1), 0);
	store_batch_free(b);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open_rocks(f->path, &f->s, &e), 0);
	list(f->s, NULL, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "y=;z\\x00=\\xff\\x00;");
}

static void
test_open_error(void **state)
{
	struct fx *f = *state;
	struct store *s = (struct store *)1;
	struct lerr e = { "" };
	char file[1200];
	FILE *fp;

	assert_true(f->rocks);
	/* A regular file where the database directory should be. */
	snprintf(file, sizeof(file), "%s/file", f->dir);
	assert_non_null(fp = fopen(file, "w"));
	fclose(fp);
	assert_int_equal(store_open_rocks(file, &s, &e), -LE_IO);
	assert_null(s);
	assert_true(strlen(e.msg) > 0);
	/* The directory is locked by the open store. */
	assert_int_equal(store_open_rocks(f->path, &s, &e), -LE_IO);
	assert_null(s);
	assert_non_null(strstr(e.msg, "lock"));
}

/* [from, to) goes, at once; keys outside it and the bounds' neighbours
 * stay; an empty or inverted range deletes nothing. */
static void
test_delete_range(void **state)
{
	struct fx *f = *state;
	struct store_batch *b = store_batch_new(f->s);
	char out[256];

	assert_non_null(b);
	assert_int_equal(store_batch_put(b, "a", 1, "0", 1), 0);
	assert_int_equal(store_batch_put(b, "e1", 2, "1", 1), 0);
	assert_int_equal(store_batch_put(b, "e2", 2, "2", 1), 0);
	assert_int_equal(store_batch_put(b, "e3", 2, "3", 1), 0);
	assert_int_equal(store_batch_put(b, "e4", 2, "4", 1), 0);
	assert_int_equal(store_batch_put(b, "z", 1, "9", 1), 0);
	assert_int_equal(store_batch_commit(b, true), 0);
	store_batch_free(b);
	assert_int_equal(store_delete_range(f->s, "e2", 2, "e4", 2), 0);
	list(f->s, NULL, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "a=0;e1=1;e4=4;z=9;");
	assert_int_equal(store_delete_range(f->s, "e4", 2, "e4", 2), 0);
	assert_int_equal(store_delete_range(f->s, "z", 1, "a", 1), 0);
	list(f->s, NULL, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "a=0;e1=1;e4=4;z=9;");
	assert_int_equal(store_delete_range(f->s, "e", 1, "f", 1), 0);
	list(f->s, NULL, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "a=0;z=9;");
}

#define MEM(fn)		{ "mem/" #fn, fn, setup_mem, teardown, NULL }
#define ROCKS(fn)	{ "rocks/" #fn, fn, setup_rocks, teardown, NULL }
#define BOTH(fn)	MEM(fn), ROCKS(fn)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_get_missing),
		BOTH(test_commit_makes_visible),
		BOTH(test_batch_read_your_writes),
		BOTH(test_uncommitted_batch_dropped),
		BOTH(test_empty_value),
		BOTH(test_binary_keys_values),
		BOTH(test_iter_merge_order),
		BOTH(test_prefix_bounds),
		BOTH(test_seek),
		BOTH(test_many_keys),
		BOTH(test_foreign_batch),
		BOTH(test_delete_range),
		ROCKS(test_reopen_persists),
		ROCKS(test_open_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
