/* kv_state_test.c: kvd's KV state machine against Consul's semantics
 * (agent/consul/state/kvs.go): set, CAS, delete, CAS delete, tree delete
 * with tombstones, reaping, the indexes reads report, key roll-up, the
 * applied index across restarts, bad input and corrupt stored bytes, and
 * the replica digest. On the in-memory store, plus RocksDB for a close
 * and reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_state.h"
#include "log.h"

struct fx {
	struct store *s;
	struct kv_state *ks;
	char touched[1024];	/* "key," per touch */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct lerr e;

	if (f == NULL || store_open_mem(&f->s) != 0 ||
	    kv_state_open(f->s, &f->ks, &e) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	kv_state_close(f->ks);
	store_close(f->s);
	free(f);
	return 0;
}

static void
on_touch(void *arg, const char *key, size_t klen)
{
	struct fx *f = arg;
	size_t o = strlen(f->touched);

	snprintf(f->touched + o, sizeof(f->touched) - o, "%.*s,", (int)klen,
	    key);
}

/* One command in a batch of its own. */
static int
run(struct kv_state *ks, struct fx *f, uint64_t index, enum kv_op op,
    const char *key, const char *val, uint64_t flags, uint64_t cas,
    bool *result)
{
	struct kv_cmd c = { op, key, key ? strlen(key) : 0,
		(const uint8_t *)val, val ? strlen(val) : 0, flags, cas };
	bool r = false;
	int rv;

	assert_int_equal(kv_batch_begin(ks), 0);
	rv = kv_apply(ks, index, &c, &r, f ? on_touch : NULL, f);
	assert_int_equal(kv_batch_commit(ks, false), 0);
	if (result != NULL)
		*result = r;
	return rv;
}

static bool
ok(struct fx *f, uint64_t index, enum kv_op op, const char *key,
    const char *val, uint64_t flags, uint64_t cas)
{
	bool r;

	f->touched[0] = '\0';
	assert_int_equal(run(f->ks, f, index, op, key, val, flags, cas, &r),
	    0);
	return r;
}

static void
set(struct fx *f, uint64_t index, const char *key, const char *val)
{
	assert_true(ok(f, index, KV_OP_SET, key, val, 0, 0));
}

/* Asserts an entry's fields (val NULL: absent). */
static void
expect(struct kv_state *ks, const char *key, const char *val,
    uint64_t create, uint64_t modify, uint64_t flags)
{
	struct kv_entry e;
	int rv = kv_get(ks, key, strlen(key), &e);

	if (val == NULL) {
		assert_int_equal(rv, -LE_NOTFOUND);
		return;
	}
	assert_int_equal(rv, 0);
	assert_string_equal(e.key, key);
	assert_int_equal(e.key_len, strlen(key));
	assert_int_equal(e.value_len, strlen(val));
	if (e.value_len)
		assert_memory_equal(e.value, val, e.value_len);
	else
		assert_null(e.value);
	assert_int_equal(e.create_index, create);
	assert_int_equal(e.modify_index, modify);
	assert_int_equal(e.lock_index, 0);
	assert_int_equal(e.flags, flags);
	assert_null(e.session);
	kv_entry_clear(&e);
}

static int
add_key(void *arg, const char *key, size_t klen)
{
	char *out = arg;
	size_t o = strlen(out);

	snprintf(out + o, 512 - o, "%.*s|", (int)klen, key);
	return 0;
}

static void
keys(struct kv_state *ks, const char *prefix, const char *sep, char *out)
{
	out[0] = '\0';
	assert_int_equal(kv_keys(ks, prefix, strlen(prefix), sep,
	    sep ? strlen(sep) : 0, add_key, out), 0);
}

static int
add_entry(void *arg, const struct kv_entry *e)
{
	char *out = arg;
	size_t o = strlen(out);

	assert_int_equal(strlen(e->key), e->key_len);
	snprintf(out + o, 512 - o, "%s=%.*s@%llu/%llu|", e->key,
	    (int)e->value_len, e->value ? (const char *)e->value : "",
	    (unsigned long long)e->create_index,
	    (unsigned long long)e->modify_index);
	return 0;
}

static uint64_t
pidx(struct kv_state *ks, const char *prefix)
{
	return kv_prefix_index(ks, prefix, strlen(prefix));
}

static uint64_t
kidx(struct kv_state *ks, const char *key)
{
	return kv_key_index(ks, key, strlen(key));
}

static void
test_set_creates_then_updates(void **state)
{
	struct fx *f = *state;

	assert_int_equal(kidx(f->ks, "foo"), 0);
	set(f, 5, "foo", "bar");
	assert_string_equal(f->touched, "foo,");
	expect(f->ks, "foo", "bar", 5, 5, 0);
	assert_true(ok(f, 6, KV_OP_SET, "foo", "baz", 42, 0));
	expect(f->ks, "foo", "baz", 5, 6, 42);
	assert_int_equal(kv_state_applied(f->ks), 6);
	assert_int_equal(kv_state_kv_index(f->ks), 6);
	assert_int_equal(kidx(f->ks, "foo"), 6);
	set(f, 9, "other", "x");
	/* A key's index is its own; a missing key reports the table's. */
	assert_int_equal(kidx(f->ks, "foo"), 6);
	assert_int_equal(kidx(f->ks, "nope"), 9);
}

static void
test_set_empty_value(void **state)
{
	struct fx *f = *state;
	char out[512] = "";

	set(f, 1, "empty", "");
	expect(f->ks, "empty", "", 1, 1, 0);
	assert_int_equal(kv_list(f->ks, "", 0, add_entry, out), 0);
	assert_string_equal(out, "empty=@1/1|");
	set(f, 2, "empty", "now");
	set(f, 3, "empty", "");
	expect(f->ks, "empty", "", 1, 3, 0);
}

static void
test_set_unchanged_is_noop(void **state)
{
	struct fx *f = *state;

	assert_true(ok(f, 1, KV_OP_SET, "k", "v", 7, 0));
	set(f, 2, "x", "y");
	/* Same value and flags: true, but nothing written (Consul's
	 * kvsSetTxn skips it), the table index stays, no wakeup. */
	assert_true(ok(f, 3, KV_OP_SET, "k", "v", 7, 0));
	assert_string_equal(f->touched, "");
	expect(f->ks, "k", "v", 1, 1, 7);
	assert_int_equal(kv_state_applied(f->ks), 3);
	assert_int_equal(kv_state_kv_index(f->ks), 2);
	assert_true(ok(f, 4, KV_OP_SET, "k", "v", 8, 0));
	expect(f->ks, "k", "v", 1, 4, 8);
	assert_true(ok(f, 5, KV_OP_CAS, "k", "v", 8, 4));
	expect(f->ks, "k", "v", 1, 4, 8);
}

static void
test_cas(void **state)
{
	struct fx *f = *state;

	/* Index 0: only when absent. */
	assert_true(ok(f, 10, KV_OP_CAS, "k", "a", 0, 0));
	assert_string_equal(f->touched, "k,");
	expect(f->ks, "k", "a", 10, 10, 0);
	assert_false(ok(f, 11, KV_OP_CAS, "k", "b", 0, 0));
	assert_string_equal(f->touched, "");
	expect(f->ks, "k", "a", 10, 10, 0);
	/* A false CAS still advances the applied index, not the table's. */
	assert_int_equal(kv_state_applied(f->ks), 11);
	assert_int_equal(kv_state_kv_index(f->ks), 10);
	/* Index N: only when ModifyIndex == N. */
	assert_false(ok(f, 12, KV_OP_CAS, "k", "b", 0, 9));
	assert_false(ok(f, 13, KV_OP_CAS, "k", "b", 0, 11));
	assert_true(ok(f, 14, KV_OP_CAS, "k", "b", 3, 10));
	expect(f->ks, "k", "b", 10, 14, 3);
	assert_false(ok(f, 15, KV_OP_CAS, "k", "c", 0, 10));
	assert_false(ok(f, 16, KV_OP_CAS, "absent", "c", 0, 14));
	expect(f->ks, "absent", NULL, 0, 0, 0);
	assert_int_equal(kv_state_kv_index(f->ks), 14);
	assert_int_equal(kv_state_applied(f->ks), 16);
}

static void
test_delete(void **state)
{
	struct fx *f = *state;

	set(f, 1, "a", "1");
	set(f, 2, "b", "2");
	assert_true(ok(f, 3, KV_OP_DELETE, "a", NULL, 0, 0));
	assert_string_equal(f->touched, "a,");
	expect(f->ks, "a", NULL, 0, 0, 0);
	expect(f->ks, "b", "2", 2, 2, 0);
	assert_int_equal(kv_tombstone_count(f->ks), 1);
	assert_int_equal(kv_state_kv_index(f->ks), 3);
	assert_int_equal(kidx(f->ks, "a"), 3);
	assert_int_equal(pidx(f->ks, "a"), 3);
	/* A missing key: true, and nothing changes (kvsDeleteTxn). */
	assert_true(ok(f, 4, KV_OP_DELETE, "zzz", NULL, 0, 0));
	assert_string_equal(f->touched, "");
	assert_int_equal(kv_tombstone_count(f->ks), 1);
	assert_int_equal(kv_state_kv_index(f->ks), 3);
	assert_int_equal(kv_state_applied(f->ks), 4);
	assert_true(ok(f, 5, KV_OP_DELETE, "a", NULL, 0, 0));
	assert_int_equal(pidx(f->ks, "a"), 3);
}

static void
test_delete_cas(void **state)
{
	struct fx *f = *state;

	set(f, 4, "k", "v");
	assert_false(ok(f, 5, KV_OP_DELETE_CAS, "k", NULL, 0, 0));
	assert_false(ok(f, 6, KV_OP_DELETE_CAS, "k", NULL, 0, 3));
	assert_string_equal(f->touched, "");
	expect(f->ks, "k", "v", 4, 4, 0);
	assert_int_equal(kv_tombstone_count(f->ks), 0);
	assert_true(ok(f, 7, KV_OP_DELETE_CAS, "k", NULL, 0, 4));
	assert_string_equal(f->touched, "k,");
	expect(f->ks, "k", NULL, 0, 0, 0);
	assert_int_equal(kv_tombstone_count(f->ks), 1);
	assert_int_equal(kv_state_kv_index(f->ks), 7);
	/* Absent: Consul's kvsDeleteCASTxn answers true, changes nothing. */
	assert_true(ok(f, 8, KV_OP_DELETE_CAS, "k", NULL, 0, 7));
	assert_true(ok(f, 9, KV_OP_DELETE_CAS, "never", NULL, 0, 0));
	assert_int_equal(kv_state_kv_index(f->ks), 7);
	assert_int_equal(kv_tombstone_count(f->ks), 1);
}

static void
test_delete_tree(void **state)
{
	struct fx *f = *state;
	char out[512];

	set(f, 1, "web/a", "1");
	set(f, 2, "web/b/c", "2");
	set(f, 3, "web/b/d", "3");
	set(f, 4, "webx", "4");
	set(f, 5, "other", "5");
	assert_int_equal(pidx(f->ks, "web/"), 3);
	assert_true(ok(f, 6, KV_OP_DELETE_TREE, "web/", NULL, 0, 0));
	assert_string_equal(f->touched, "web/a,web/b/c,web/b/d,web/,");
	keys(f->ks, "", NULL, out);
	assert_string_equal(out, "other|webx|");
	assert_int_equal(kv_tombstone_count(f->ks), 3);
	assert_int_equal(kv_state_kv_index(f->ks), 6);
	/* The prefix index does not go back after the delete, nor when
	 * other keys change; tombstones carry it. */
	assert_int_equal(pidx(f->ks, "web/"), 6);
	assert_int_equal(pidx(f->ks, "web/b/"), 6);
	set(f, 7, "other", "55");
	assert_int_equal(pidx(f->ks, "web/"), 6);
	assert_int_equal(pidx(f->ks, "web"), 6);
	assert_int_equal(pidx(f->ks, "webx"), 4);
	/* Nothing under the prefix: true, nothing changes. */
	assert_true(ok(f, 8, KV_OP_DELETE_TREE, "nothing/", NULL, 0, 0));
	assert_string_equal(f->touched, "");
	assert_int_equal(kv_state_kv_index(f->ks), 7);
	/* The empty prefix is everything. */
	assert_true(ok(f, 9, KV_OP_DELETE_TREE, NULL, NULL, 0, 0));
	assert_string_equal(f->touched, "other,webx,,");
	keys(f->ks, "", NULL, out);
	assert_string_equal(out, "");
	assert_int_equal(kv_tombstone_count(f->ks), 5);
	assert_int_equal(pidx(f->ks, ""), 9);
	assert_int_equal(pidx(f->ks, "other"), 9);
}

static void
test_reap(void **state)
{
	struct fx *f = *state;

	set(f, 1, "foo", "foo");
	set(f, 2, "foo/bar", "bar");
	set(f, 3, "foo/baz", "bar");
	set(f, 4, "foo/moo", "bar");
	set(f, 5, "foo/zoo", "bar");
	assert_true(ok(f, 6, KV_OP_DELETE, "foo/baz", NULL, 0, 0));
	assert_true(ok(f, 7, KV_OP_DELETE, "foo/moo", NULL, 0, 0));
	assert_int_equal(pidx(f->ks, "foo/"), 7);
	/* Consul's TestStateStore_ReapTombstones. */
	assert_true(ok(f, 8, KV_OP_TOMBSTONE_REAP, NULL, NULL, 0, 6));
	assert_string_equal(f->touched, "");
	assert_int_equal(kv_tombstone_count(f->ks), 1);
	assert_int_equal(pidx(f->ks, "foo/"), 7);
	assert_true(ok(f, 9, KV_OP_TOMBSTONE_REAP, NULL, NULL, 0, 7));
	assert_int_equal(kv_tombstone_count(f->ks), 0);
	assert_int_equal(pidx(f->ks, "foo/"), 5);
	/* Reaping moves the applied index only. */
	assert_int_equal(kv_state_applied(f->ks), 9);
	assert_int_equal(kv_state_kv_index(f->ks), 7);
	assert_int_equal(pidx(f->ks, ""), 7);
	/* No match at all: the table index. */
	assert_int_equal(pidx(f->ks, "zzz"), 7);
	assert_int_equal(run(f->ks, f, 10, KV_OP_TOMBSTONE_REAP, NULL, NULL,
	    0, 100, NULL), 0);
}

static void
test_set_clears_tombstone(void **state)
{
	struct fx *f = *state;

	set(f, 1, "k", "v");
	assert_true(ok(f, 2, KV_OP_DELETE, "k", NULL, 0, 0));
	assert_int_equal(kv_tombstone_count(f->ks), 1);
	set(f, 3, "k", "again");
	assert_int_equal(kv_tombstone_count(f->ks), 0);
	expect(f->ks, "k", "again", 3, 3, 0);
}

static void
test_keys_rollup(void **state)
{
	struct fx *f = *state;
	char out[512];
	static const char *ks[] = { "foo", "foo/bar", "foo/bar/baz",
		"foo/bar/zip", "foo/bar/zip/zam", "foo/bar/zip/zorp",
		"some/other/prefix", "web/a", "web/b/c", "web/b/d", "x::y::z",
		"x::w" };

	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
		set(f, i + 1, ks[i], "v");
	keys(f->ks, "web/", "/", out);
	assert_string_equal(out, "web/a|web/b/|");
	/* Consul's TestStateStore_KVSListKeys. */
	keys(f->ks, "foo/bar/", "/", out);
	assert_string_equal(out, "foo/bar/baz|foo/bar/zip|foo/bar/zip/|");
	keys(f->ks, "foo", "", out);
	assert_string_equal(out, "foo|foo/bar|foo/bar/baz|foo/bar/zip|"
	    "foo/bar/zip/zam|foo/bar/zip/zorp|");
	keys(f->ks, "foo", NULL, out);
	assert_string_equal(out, "foo|foo/bar|foo/bar/baz|foo/bar/zip|"
	    "foo/bar/zip/zam|foo/bar/zip/zorp|");
	keys(f->ks, "", "/", out);
	assert_string_equal(out, "foo|foo/|some/|web/|x::w|x::y::z|");
	keys(f->ks, "x", "::", out);
	assert_string_equal(out, "x::|");
	keys(f->ks, "nothing", "/", out);
	assert_string_equal(out, "");
	assert_int_equal(pidx(f->ks, "foo/bar/"), 6);
}

static int
stop_at_second(void *arg, const struct kv_entry *e)
{
	int *n = arg;

	(void)e;
	return ++*n == 2 ? 77 : 0;
}

static void
test_list(void **state)
{
	struct fx *f = *state;
	char out[512] = "";
	int n = 0;

	set(f, 1, "b/2", "two");
	set(f, 2, "b/1", "one");
	set(f, 3, "a", "zero");
	set(f, 4, "b", "bee");
	assert_true(ok(f, 5, KV_OP_SET, "b/1", "uno", 0, 0));
	assert_int_equal(kv_list(f->ks, "b", 1, add_entry, out), 0);
	assert_string_equal(out, "b=bee@4/4|b/1=uno@2/5|b/2=two@1/1|");
	assert_int_equal(pidx(f->ks, "b"), 5);
	assert_int_equal(pidx(f->ks, "b/2"), 1);
	out[0] = '\0';
	assert_int_equal(kv_list(f->ks, "c", 1, add_entry, out), 0);
	assert_string_equal(out, "");
	/* The callback's non-zero stops the walk and comes back as is. */
	assert_int_equal(kv_list(f->ks, "", 0, stop_at_second, &n), 77);
	assert_int_equal(n, 2);
}

static void
test_order_and_state_errors(void **state)
{
	struct fx *f = *state;
	struct kv_cmd c = { KV_OP_SET, "k", 1, (const uint8_t *)"v", 1, 0, 0 };
	bool r = true;

	set(f, 5, "k", "v");
	assert_int_equal(kv_apply(f->ks, 6, &c, &r, NULL, NULL), -LE_STATE);
	assert_int_equal(kv_batch_commit(f->ks, false), -LE_STATE);
	assert_int_equal(kv_batch_begin(f->ks), 0);
	assert_int_equal(kv_batch_begin(f->ks), -LE_STATE);
	assert_int_equal(kv_apply(f->ks, 5, &c, &r, NULL, NULL), -LE_STATE);
	assert_int_equal(kv_apply(f->ks, 4, &c, &r, NULL, NULL), -LE_STATE);
	assert_false(r);
	assert_int_equal(kv_apply(f->ks, 6, &c, &r, NULL, NULL), 0);
	/* In the batch, the bar moves with each apply. */
	assert_int_equal(kv_apply(f->ks, 6, &c, &r, NULL, NULL), -LE_STATE);
	assert_int_equal(kv_apply(f->ks, 8, &c, &r, NULL, NULL), 0);
	assert_int_equal(kv_state_applied(f->ks), 8);
	assert_int_equal(kv_batch_commit(f->ks, false), 0);
	assert_int_equal(kv_state_applied(f->ks), 8);
}

static void
test_bad_commands(void **state)
{
	struct fx *f = *state;
	char *big = malloc(KV_MAX_KEY + 2);
	struct kv_cmd c = { KV_OP_SET, big, KV_MAX_KEY + 1, NULL, 0, 0, 0 };
	struct kv_entry e;
	bool r;

	memset(big, 'k', KV_MAX_KEY + 1);
	big[KV_MAX_KEY + 1] = '\0';
	assert_int_equal(kv_batch_begin(f->ks), 0);
	assert_int_equal(kv_apply(f->ks, 1, &c, &r, NULL, NULL), -LE_TOOBIG);
	c.op = KV_OP_DELETE_TREE;
	assert_int_equal(kv_apply(f->ks, 1, &c, &r, NULL, NULL), -LE_TOOBIG);
	c.op = KV_OP_SET;
	c.key = "a\0b";
	c.key_len = 3;
	assert_int_equal(kv_apply(f->ks, 1, &c, &r, NULL, NULL), -LE_INVAL);
	c.key_len = 0;
	assert_int_equal(kv_apply(f->ks, 1, &c, &r, NULL, NULL), -LE_INVAL);
	c.op = KV_OP_DELETE;
	assert_int_equal(kv_apply(f->ks, 1, &c, &r, NULL, NULL), -LE_INVAL);
	c.op = (enum kv_op)99;
	c.key_len = 1;
	assert_int_equal(kv_apply(f->ks, 1, &c, &r, NULL, NULL), -LE_INVAL);
	/* Refused commands leave the state as it was. */
	assert_int_equal(kv_state_applied(f->ks), 0);
	assert_int_equal(kv_batch_commit(f->ks, false), 0);
	assert_int_equal(kv_state_applied(f->ks), 0);
	/* The longest key, and any bytes but NUL. */
	big[KV_MAX_KEY] = '\0';
	set(f, 1, big, "max");
	assert_int_equal(kv_get(f->ks, big, KV_MAX_KEY, &e), 0);
	assert_int_equal(e.key_len, KV_MAX_KEY);
	kv_entry_clear(&e);
	set(f, 2, "\xff\x01 \t\n/\xc3", "odd");
	expect(f->ks, "\xff\x01 \t\n/\xc3", "odd", 2, 2, 0);
	assert_int_equal(kv_get(f->ks, big, KV_MAX_KEY + 1, &e),
	    -LE_NOTFOUND);
	assert_int_equal(kv_get(f->ks, "a\0b", 3, &e), -LE_NOTFOUND);
	free(big);
}

static void
test_reads_see_committed_only(void **state)
{
	struct fx *f = *state;
	struct kv_cmd c = { KV_OP_SET, "new", 3, (const uint8_t *)"v", 1, 0,
		0 };
	struct kv_cmd cas = { KV_OP_CAS, "new", 3, (const uint8_t *)"w", 1, 0,
		2 };
	struct kv_cmd tree = { KV_OP_DELETE_TREE, "n", 1, NULL, 0, 0, 0 };
	struct kv_entry e;
	bool r;

	set(f, 1, "old", "v");
	assert_int_equal(kv_batch_begin(f->ks), 0);
	assert_int_equal(kv_apply(f->ks, 2, &c, &r, NULL, NULL), 0);
	/* The batch's own later commands see it ... */
	assert_int_equal(kv_apply(f->ks, 3, &cas, &r, NULL, NULL), 0);
	assert_true(r);
	/* ... readers do not. */
	assert_int_equal(kv_get(f->ks, "new", 3, &e), -LE_NOTFOUND);
	assert_int_equal(kidx(f->ks, "new"), 1);
	assert_int_equal(pidx(f->ks, ""), 1);
	assert_int_equal(kv_tombstone_count(f->ks), 0);
	assert_int_equal(kv_state_applied(f->ks), 3);
	f->touched[0] = '\0';
	assert_int_equal(kv_apply(f->ks, 4, &tree, &r, on_touch, f), 0);
	assert_string_equal(f->touched, "new,n,");
	assert_int_equal(kv_batch_commit(f->ks, false), 0);
	expect(f->ks, "new", NULL, 0, 0, 0);
	assert_int_equal(kv_tombstone_count(f->ks), 1);
	assert_int_equal(pidx(f->ks, "n"), 4);
}

static void
test_abort_and_restart(void **state)
{
	struct fx *f = *state;
	struct kv_cmd c = { KV_OP_SET, "lost", 4, NULL, 0, 0, 0 };
	struct lerr e;
	bool r;

	set(f, 3, "a", "1");
	assert_true(ok(f, 4, KV_OP_DELETE, "a", NULL, 0, 0));
	assert_false(ok(f, 5, KV_OP_CAS, "a", "x", 0, 99));
	assert_int_equal(kv_batch_begin(f->ks), 0);
	assert_int_equal(kv_apply(f->ks, 6, &c, &r, NULL, NULL), 0);
	assert_int_equal(kv_state_applied(f->ks), 6);
	kv_state_abort(f->ks);
	assert_int_equal(kv_state_applied(f->ks), 5);
	assert_int_equal(kv_state_kv_index(f->ks), 4);
	expect(f->ks, "lost", NULL, 0, 0, 0);
	/* A restart resumes after the last applied index, dropping what
	 * was never committed. */
	assert_int_equal(kv_batch_begin(f->ks), 0);
	assert_int_equal(kv_apply(f->ks, 6, &c, &r, NULL, NULL), 0);
	kv_state_close(f->ks);
	assert_int_equal(kv_state_open(f->s, &f->ks, &e), 0);
	assert_int_equal(kv_state_applied(f->ks), 5);
	assert_int_equal(kv_state_kv_index(f->ks), 4);
	assert_int_equal(kv_tombstone_count(f->ks), 1);
	assert_int_equal(run(f->ks, f, 5, KV_OP_SET, "b", "", 0, 0, NULL),
	    -LE_STATE);
	assert_int_equal(run(f->ks, f, 6, KV_OP_SET, "b", "", 0, 0, NULL), 0);
	/* One batch of several commands stores both indexes once, as of
	 * its last command: a change at 7, a false CAS at 8, a no-op at 9. */
	{
		struct kv_cmd c7 = { KV_OP_SET, "c", 1,
		    (const uint8_t *)"v", 1, 0, 0 };
		struct kv_cmd c8 = { KV_OP_CAS, "c", 1,
		    (const uint8_t *)"w", 1, 0, 99 };

		assert_int_equal(kv_batch_begin(f->ks), 0);
		assert_int_equal(kv_apply(f->ks, 7, &c7, &r, NULL, NULL), 0);
		assert_int_equal(kv_apply(f->ks, 8, &c8, &r, NULL, NULL), 0);
		assert_false(r);
		assert_int_equal(kv_apply_noop(f->ks, 9), 0);
		assert_int_equal(kv_batch_commit(f->ks, false), 0);
		kv_state_close(f->ks);
		assert_int_equal(kv_state_open(f->s, &f->ks, &e), 0);
		assert_int_equal(kv_state_applied(f->ks), 9);
		assert_int_equal(kv_state_kv_index(f->ks), 7);
		expect(f->ks, "c", "v", 7, 7, 0);
	}
}

/* Writes raw bytes under a store key, bypassing kv_state. */
static void
poke(struct store *s, const char *key, const void *val, size_t vlen)
{
	struct store_batch *b = store_batch_new(s);

	assert_int_equal(store_batch_put(b, key, strlen(key), val, vlen), 0);
	assert_int_equal(store_batch_commit(b, false), 0);
	store_batch_free(b);
}

static void
test_corrupt_entries(void **state)
{
	struct fx *f = *state;
	/* version 1, create 1, modify 1, lock 0, flags 0, session len */
	uint8_t good[37 + 2] = { 1, 0, 0, 0, 0, 0, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t bad[64];
	struct kv_entry e;
	char out[512] = "";
	uint64_t idx = 10, d;
	bool r;

	set(f, 9, "fine", "v");
	/* The well-formed bytes decode. */
	memcpy(bad, good, 37);
	poke(f->s, "k:bad", bad, 37);
	assert_int_equal(kv_get(f->ks, "bad", 3, &e), 0);
	kv_entry_clear(&e);
	for (int v = 0; v < 8; v++) {
		size_t n = 37;

		memcpy(bad, good, sizeof(good));
		switch (v) {
		case 0: n = 0; break;
		case 1: n = 36; break;			/* short header */
		case 2: bad[0] = 2; break;		/* unknown version */
		case 3: bad[36] = 1; break;		/* session past end */
		case 4: bad[33] = 0x80; n = 39; break;	/* huge session */
		case 5: bad[8] = 0; break;		/* create 0 */
		case 6: bad[8] = 2; break;		/* modify < create */
		case 7: bad[36] = 2; n = 39; bad[38] = 0; bad[37] = 'x';
			break;				/* NUL in session */
		}
		poke(f->s, "k:bad", bad, n);
		assert_int_equal(kv_get(f->ks, "bad", 3, &e), -LE_CORRUPT);
		assert_int_equal(kv_list(f->ks, "", 0, add_entry, out),
		    -LE_CORRUPT);
		/* Reads fall back to the table index. */
		assert_int_equal(kidx(f->ks, "bad"),
		    kv_state_kv_index(f->ks));
		assert_int_equal(pidx(f->ks, "bad"),
		    kv_state_kv_index(f->ks));
		d = kv_state_digest(f->ks);
		(void)d;
		assert_int_equal(run(f->ks, f, idx, KV_OP_SET, "bad", "x", 0,
		    0, &r), -LE_CORRUPT);
		assert_int_equal(run(f->ks, f, idx, KV_OP_CAS, "bad", "x", 0,
		    1, &r), -LE_CORRUPT);
		assert_int_equal(run(f->ks, f, idx, KV_OP_DELETE_CAS, "bad",
		    NULL, 0, 1, &r), -LE_CORRUPT);
		/* Nothing was applied by the failed commands. */
		assert_int_equal(kv_state_applied(f->ks), idx - 1);
		/* A plain delete needs no decoding: it clears the damage. */
		assert_int_equal(run(f->ks, f, idx++, KV_OP_DELETE, "bad",
		    NULL, 0, 0, &r), 0);
		assert_true(r);
	}
	/* Tombstones and meta values of the wrong size. */
	poke(f->s, "t:x", "abc", 3);
	assert_int_equal(run(f->ks, f, idx, KV_OP_TOMBSTONE_REAP, NULL, NULL,
	    0, 100, &r), -LE_CORRUPT);
	(void)kv_state_digest(f->ks);
	(void)pidx(f->ks, "x");
}

static void
test_random_bytes_never_crash(void **state)
{
	struct fx *f = *state;
	struct kv_entry e;
	uint8_t buf[80];
	uint32_t x = 2463534242u;
	int decoded = 0, rv;

	for (int i = 0; i < 3000; i++) {
		size_t n = (size_t)(i % 80);

		for (size_t j = 0; j < n; j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[j] = (uint8_t)x;
		}
		/* Mostly-valid headers reach the deeper checks. */
		if (n > 0 && i % 2)
			buf[0] = 1;
		if (n > 36 && i % 4 == 1)
			buf[33] = buf[34] = buf[35] = 0;
		poke(f->s, "k:r", buf, n);
		rv = kv_get(f->ks, "r", 1, &e);
		assert_true(rv == 0 || rv == -LE_CORRUPT);
		if (rv == 0) {
			decoded++;
			assert_true(e.modify_index >= e.create_index);
			kv_entry_clear(&e);
		}
		(void)kv_state_digest(f->ks);
	}
	assert_true(decoded > 0);
}

static void
test_corrupt_meta(void **state)
{
	struct fx *f = *state;
	struct kv_state *ks = NULL;
	struct lerr e = { "" };

	poke(f->s, "m:applied", "\x00\x01", 2);
	assert_int_equal(kv_state_open(f->s, &ks, &e), -LE_CORRUPT);
	assert_null(ks);
	assert_non_null(strstr(e.msg, "m:applied"));
	poke(f->s, "m:applied", "\0\0\0\0\0\0\0\x05", 8);
	poke(f->s, "m:kvindex", "\0\0\0\0\0\0\0\x09", 8);
	assert_int_equal(kv_state_open(f->s, &ks, &e), -LE_CORRUPT);
	poke(f->s, "m:kvindex", "\0\0\0\0\0\0\0\x04", 8);
	assert_int_equal(kv_state_open(f->s, &ks, &e), 0);
	assert_int_equal(kv_state_applied(ks), 5);
	assert_int_equal(kv_state_kv_index(ks), 4);
	kv_state_close(ks);
}

/* The same commands on any store give the same digest. */
static void
feed(struct kv_state *ks, uint64_t *i)
{
	assert_int_equal(run(ks, NULL, ++*i, KV_OP_SET, "a", "1", 0, 0, NULL),
	    0);
	assert_int_equal(run(ks, NULL, ++*i, KV_OP_SET, "b/c", "", 5, 0,
	    NULL), 0);
	assert_int_equal(run(ks, NULL, ++*i, KV_OP_CAS, "a", "2", 0, 1, NULL),
	    0);
	assert_int_equal(run(ks, NULL, ++*i, KV_OP_SET, "b/d", "x", 0, 0,
	    NULL), 0);
	assert_int_equal(run(ks, NULL, ++*i, KV_OP_DELETE, "b/c", NULL, 0, 0,
	    NULL), 0);
	assert_int_equal(run(ks, NULL, ++*i, KV_OP_SET, "z\xff", "\xff", 1,
	    0, NULL), 0);
	assert_int_equal(run(ks, NULL, ++*i, KV_OP_DELETE_TREE, "b/", NULL,
	    0, 0, NULL), 0);
	/* One group commit whose tree delete sees its own earlier sets. */
	assert_int_equal(kv_batch_begin(ks), 0);
	for (int n = 0; n < 3; n++) {
		struct kv_cmd c = { n < 2 ? KV_OP_SET : KV_OP_DELETE_TREE,
			n == 0 ? "x/1" : n == 1 ? "x/2" : "x/", 3 - (n == 2),
			(const uint8_t *)"v", n < 2, 0, 0 };
		bool r = false;

		assert_int_equal(kv_apply(ks, ++*i, &c, &r, NULL, NULL), 0);
		assert_true(r);
	}
	assert_int_equal(kv_batch_commit(ks, true), 0);
}

static void
test_digest(void **state)
{
	struct fx *f = *state;
	struct store *s2;
	struct kv_state *k2;
	struct lerr e;
	uint64_t i = 0, j = 0, d0 = kv_state_digest(f->ks);

	assert_int_equal(store_open_mem(&s2), 0);
	assert_int_equal(kv_state_open(s2, &k2, &e), 0);
	assert_int_equal(kv_state_digest(k2), d0);
	feed(f->ks, &i);
	feed(k2, &j);
	assert_int_not_equal(kv_state_digest(f->ks), d0);
	assert_int_equal(kv_state_digest(f->ks), kv_state_digest(k2));
	/* Flags alone differ. */
	assert_int_equal(run(f->ks, NULL, ++i, KV_OP_SET, "q", "v", 1, 0,
	    NULL), 0);
	assert_int_equal(run(k2, NULL, ++j, KV_OP_SET, "q", "v", 2, 0, NULL),
	    0);
	assert_int_not_equal(kv_state_digest(f->ks), kv_state_digest(k2));
	assert_int_equal(run(k2, NULL, ++j, KV_OP_SET, "q", "v", 1, 0, NULL),
	    0);
	/* Same content, different ModifyIndex: different. */
	assert_int_not_equal(kv_state_digest(f->ks), kv_state_digest(k2));
	kv_state_close(k2);
	store_close(s2);
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static void
test_rocks_reopen(void **state)
{
	struct fx *f = *state;
	const char *tmp = getenv("TMPDIR");
	char dir[1024], path[1100], out[512] = "", out2[512] = "";
	struct store *rs;
	struct kv_state *rk;
	struct lerr e = { "" };
	uint64_t i = 0, j = 0, digest;

	snprintf(dir, sizeof(dir), "%s/kv_state_test.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/kv", dir);
	assert_int_equal(store_open_rocks(path, &rs, &e), 0);
	assert_int_equal(kv_state_open(rs, &rk, &e), 0);
	feed(rk, &i);
	feed(f->ks, &j);
	assert_int_equal(run(rk, NULL, ++i, KV_OP_SET, "keep", "me", 3, 0,
	    NULL), 0);
	assert_int_equal(run(f->ks, NULL, ++j, KV_OP_SET, "keep", "me", 3, 0,
	    NULL), 0);
	assert_false(ok(f, ++j, KV_OP_CAS, "keep", "no", 0, 1));
	assert_int_equal(run(rk, NULL, ++i, KV_OP_CAS, "keep", "no", 0, 1,
	    NULL), 0);
	/* RocksDB and the in-memory map hold the same state. */
	digest = kv_state_digest(rk);
	assert_int_equal(digest, kv_state_digest(f->ks));
	assert_int_equal(kv_list(rk, "", 0, add_entry, out), 0);
	kv_state_close(rk);
	store_close(rs);

	assert_int_equal(store_open_rocks(path, &rs, &e), 0);
	assert_int_equal(kv_state_open(rs, &rk, &e), 0);
	assert_int_equal(kv_state_applied(rk), i);
	assert_int_equal(kv_state_kv_index(rk), i - 1);
	assert_int_equal(kv_state_digest(rk), digest);
	assert_int_equal(kv_list(rk, "", 0, add_entry, out2), 0);
	assert_string_equal(out, out2);
	assert_string_equal(out, "a=2@1/3|keep=me@11/11|z\xff=\xff@6/6|");
	assert_int_equal(kv_tombstone_count(rk), 4);
	assert_int_equal(pidx(rk, "x/"), 10);
	assert_int_equal(pidx(rk, "b/"), 7);
	expect(rk, "keep", "me", 11, 11, 3);
	assert_int_equal(run(rk, NULL, i, KV_OP_SET, "x", "y", 0, 0, NULL),
	    -LE_STATE);
	assert_int_equal(run(rk, NULL, i + 1, KV_OP_SET, "x", "y", 0, 0,
	    NULL), 0);
	kv_state_close(rk);
	store_close(rs);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#define T(fn)	{ #fn, fn, setup, teardown, NULL }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_set_creates_then_updates),
		T(test_set_empty_value),
		T(test_set_unchanged_is_noop),
		T(test_cas),
		T(test_delete),
		T(test_delete_cas),
		T(test_delete_tree),
		T(test_reap),
		T(test_set_clears_tombstone),
		T(test_keys_rollup),
		T(test_list),
		T(test_order_and_state_errors),
		T(test_bad_commands),
		T(test_reads_see_committed_only),
		T(test_abort_and_restart),
		T(test_corrupt_entries),
		T(test_random_bytes_never_crash),
		T(test_corrupt_meta),
		T(test_digest),
		T(test_rocks_reopen),
	};

	/* The corrupt-data cases warn by design; keep the output short. */
	log_setlevel(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
