/* raft_persist_test.c: raftd's persistence (raftd/persist.c) on a real
 * RocksDB in a scratch directory. A batch handed to the thread completes
 * on the loop, in order, with its token; persist_commit_now commits on the
 * calling thread, but never past a batch still in flight (the order the
 * disk sees is the order raftd acknowledges in); a range delete queues
 * behind the batches before it; what either path committed survives a
 * close and reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "persist.h"
#include "store.h"

struct fx {
	char dir[1024];
	struct loop *l;
	struct store *s;
	struct persist *p;
	uint64_t tokens[8];		/* completions, in order */
	int rvs[8];
	size_t ndone, want;
	struct loop_timer *guard;
	bool timed_out;
};

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static void
on_done(void *arg, int rv, uint64_t token)
{
	struct fx *f = arg;

	if (f->ndone < 8) {
		f->tokens[f->ndone] = token;
		f->rvs[f->ndone] = rv;
	}
	if (++f->ndone >= f->want)
		loop_stop(f->l);
}

static void
on_guard(void *arg)
{
	struct fx *f = arg;

	f->timed_out = true;
	loop_stop(f->l);
}

/* Runs the loop until want completions in all (or 10 s: a failure). */
static void
wait_done(struct fx *f, size_t want)
{
	f->want = want;
	if (f->ndone >= want)
		return;
	loop_timer_arm(f->guard, 10000);
	loop_run(f->l);
	loop_timer_cancel(f->guard);
	assert_false(f->timed_out);
	assert_int_equal(f->ndone, want);
}

static void
open_all(struct fx *f)
{
	struct lerr e;

	assert_int_equal(store_open_rocks(f->dir, &f->s, &e), 0);
	assert_int_equal(persist_start(&f->p, f->l, f->s, true, on_done, f),
	    0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/raft_persist.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL || loop_new(&f->l) != 0)
		return -1;
	f->guard = loop_timer_new(f->l, on_guard, f);
	open_all(f);
	*state = f;
	return 0;
}

static void
close_all(struct fx *f)
{
	persist_stop(f->p);
	loop_drain(f->l);
	store_close(f->s);
	f->p = NULL;
	f->s = NULL;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->p != NULL)
		close_all(f);
	loop_timer_free(f->guard);
	loop_free(f->l);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct store_batch *
batch_of(struct store *s, const char *k, const char *v)
{
	struct store_batch *b = store_batch_new(s);

	assert_int_equal(store_batch_put(b, k, strlen(k), v, strlen(v)), 0);
	return b;
}

static void
assert_value(struct store *s, const char *k, const char *want)
{
	void *v = NULL;
	size_t vl = 0;
	int rv = store_get(s, k, strlen(k), &v, &vl);

	if (want == NULL) {
		assert_int_equal(rv, -LE_NOTFOUND);
		return;
	}
	assert_int_equal(rv, 0);
	assert_int_equal(vl, strlen(want));
	assert_memory_equal(v, want, vl);
	free(v);
}

/* Batches handed to the thread complete on the loop, in the order they
 * were handed over, each with its own token. */
static void
test_thread_order(void **state)
{
	struct fx *f = *state;

	persist_submit(f->p, batch_of(f->s, "k", "1"), 11);
	persist_submit(f->p, batch_of(f->s, "k", "2"), 12);
	persist_submit(f->p, batch_of(f->s, "j", "3"), 13);
	assert_int_equal(persist_inflight(f->p), 3);
	wait_done(f, 3);
	assert_int_equal(persist_inflight(f->p), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(f->tokens[i], 11 + (uint64_t)i);
		assert_int_equal(f->rvs[i], 0);
	}
	assert_value(f->s, "k", "2");
	assert_value(f->s, "j", "3");
}

/* With nothing in flight, the caller's thread commits: the data is in
 * the store when the call returns, and no completion is posted (the
 * caller already knows). */
static void
test_commit_now(void **state)
{
	struct fx *f = *state;

	assert_int_equal(persist_commit_now(f->p, batch_of(f->s, "a", "x")),
	    0);
	assert_value(f->s, "a", "x");
	assert_int_equal(persist_inflight(f->p), 0);
	assert_int_equal(f->ndone, 0);
}

/* While a batch is in flight (even one the thread has already written:
 * its completion has not reached the loop), commit_now refuses and
 * leaves the batch to the caller, so a later batch can never reach the
 * disk, or be acknowledged, before an earlier one. */
static void
test_commit_now_waits_for_inflight(void **state)
{
	struct fx *f = *state;
	struct store_batch *b;

	persist_submit(f->p, batch_of(f->s, "k", "first"), 21);
	b = batch_of(f->s, "k", "second");
	assert_int_equal(persist_commit_now(f->p, b), -LE_STATE);
	wait_done(f, 1);
	assert_int_equal(f->tokens[0], 21);
	assert_value(f->s, "k", "first");
	/* the same batch, still the caller's, goes through now */
	assert_int_equal(persist_commit_now(f->p, b), 0);
	assert_value(f->s, "k", "second");
}

/* A range delete is a job like a batch: it counts as in flight, runs
 * after the batches before it, and completes with token 0. */
static void
test_delete_range_in_order(void **state)
{
	struct fx *f = *state;
	struct store_batch *b = store_batch_new(f->s);
	struct store_batch *late;

	for (char c = 'a'; c <= 'e'; c++) {
		char k[2] = { c, 0 };

		assert_int_equal(store_batch_put(b, k, 1, "v", 1), 0);
	}
	persist_submit(f->p, b, 31);
	persist_delete_range(f->p, "b", 1, "d", 1);
	assert_int_equal(persist_inflight(f->p), 2);
	late = batch_of(f->s, "z", "z");
	assert_int_equal(persist_commit_now(f->p, late), -LE_STATE);
	store_batch_free(late);	/* refused: still the caller's */
	wait_done(f, 2);
	assert_int_equal(f->tokens[0], 31);
	assert_int_equal(f->tokens[1], 0);
	assert_value(f->s, "a", "v");
	assert_value(f->s, "b", NULL);
	assert_value(f->s, "c", NULL);
	assert_value(f->s, "d", "v");
	assert_value(f->s, "e", "v");
}

/* What the thread committed and what commit_now committed both survive
 * a close and a reopen of the database. */
static void
test_survives_reopen(void **state)
{
	struct fx *f = *state;

	persist_submit(f->p, batch_of(f->s, "t", "thread"), 41);
	wait_done(f, 1);
	assert_int_equal(persist_commit_now(f->p,
	    batch_of(f->s, "n", "now")), 0);
	close_all(f);
	open_all(f);
	assert_value(f->s, "t", "thread");
	assert_value(f->s, "n", "now");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_thread_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commit_now, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_commit_now_waits_for_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_range_in_order,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_survives_reopen, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
