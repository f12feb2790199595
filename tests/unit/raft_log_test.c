/* raft_log_test.c: the core's in-memory log window (raftd/core/log.c),
 * and above all its deferred freeing: compaction moves the head and
 * leaves the data of the passed entries to rlog_reap, a bounded amount at
 * a time. Checked: entries read back right across compactions, reaping,
 * truncation and the array's relayout (slide and growth) with compacted
 * entries still unfreed; the byte count; and, in the ASan build, that no
 * entry's data leaks or is freed twice on any of those paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

/* Entry i carries "e<i>" and term 1 + i / 100. */
static void
append_n(struct rlog *l, uint64_t first, size_t n)
{
	struct raft_entry *e = calloc(n, sizeof(*e));
	char (*txt)[24] = calloc(n, sizeof(*txt));

	assert_non_null(e);
	assert_non_null(txt);
	for (size_t i = 0; i < n; i++) {
		uint64_t idx = first + i;

		snprintf(txt[i], sizeof(txt[i]), "e%llu",
		    (unsigned long long)idx);
		e[i] = (struct raft_entry){ idx, 1 + idx / 100,
			RAFT_ENTRY_NORMAL, strlen(txt[i]), txt[i] };
	}
	assert_int_equal(rlog_append(l, e, n, first, 0), 0);
	free(txt);
	free(e);
}

static size_t
data_bytes(uint64_t from, uint64_t to)
{
	char buf[24];
	size_t b = 0;

	for (uint64_t i = from; i <= to; i++)
		b += (size_t)snprintf(buf, sizeof(buf), "e%llu",
		    (unsigned long long)i);
	return b;
}

/* The window holds exactly (lo, hi], each entry as append_n made it. */
static void
check_window(const struct rlog *l, uint64_t lo, uint64_t hi)
{
	char want[24];
	uint64_t t;

	assert_int_equal(l->offset, lo);
	assert_int_equal(rlog_last(l), hi);
	assert_null(rlog_get(l, lo));
	assert_null(rlog_get(l, hi + 1));
	for (uint64_t i = lo + 1; i <= hi; i++) {
		const struct raft_entry *e = rlog_get(l, i);

		assert_non_null(e);
		snprintf(want, sizeof(want), "e%llu", (unsigned long long)i);
		assert_int_equal(e->index, i);
		assert_int_equal(e->term, 1 + i / 100);
		assert_int_equal(e->len, strlen(want));
		assert_memory_equal(e->data, want, e->len);
	}
	assert_true(rlog_term(l, lo, &t));
	if (hi > lo)
		assert_int_equal(rlog_last_term(l), 1 + hi / 100);
	assert_int_equal(l->bytes, data_bytes(lo + 1, hi));
}

/* Compaction frees nothing; reaping frees in bounded steps and then
 * nothing more. */
static void
test_compact_then_reap(void **state)
{
	struct rlog l;

	(void)state;
	rlog_init(&l);
	append_n(&l, 1, 1000);
	rlog_compact(&l, 900);
	check_window(&l, 900, 1000);
	assert_int_equal(rlog_dead(&l), 900);
	assert_int_equal(rlog_reap(&l, 256), 256);
	assert_int_equal(rlog_dead(&l), 644);
	check_window(&l, 900, 1000);
	assert_int_equal(rlog_reap(&l, 1000), 644);
	assert_int_equal(rlog_reap(&l, 1000), 0);
	assert_int_equal(rlog_dead(&l), 0);
	check_window(&l, 900, 1000);
	append_n(&l, 1001, 10);
	check_window(&l, 900, 1010);
	rlog_free(&l);
}

/* The whole window compacted: appends go on behind the dead slots, and
 * the head only returns to 0 once they are freed. */
static void
test_compact_all(void **state)
{
	struct rlog l;

	(void)state;
	rlog_init(&l);
	append_n(&l, 1, 300);
	rlog_compact(&l, 300);
	check_window(&l, 300, 300);
	assert_int_equal(rlog_dead(&l), 300);
	append_n(&l, 301, 5);
	check_window(&l, 300, 305);
	rlog_truncate(&l, 301);		/* empty again, dead still held */
	check_window(&l, 300, 300);
	assert_int_equal(rlog_dead(&l), 300);
	assert_int_equal(rlog_reap(&l, 10000), 300);
	assert_int_equal(l.head, 0);
	append_n(&l, 301, 3);
	check_window(&l, 300, 303);
	rlog_free(&l);
}

/* Appends that need the array laid out again (slide down or grow) free
 * what compaction left first; nothing is lost or freed twice. */
static void
test_relayout_with_dead(void **state)
{
	struct rlog l;
	uint64_t last;

	(void)state;
	rlog_init(&l);
	append_n(&l, 1, 64);		/* the first array holds 64 */
	rlog_compact(&l, 60);
	assert_int_equal(rlog_dead(&l), 60);
	append_n(&l, 65, 10);		/* slides: 4 live + 10 <= 64 */
	assert_int_equal(rlog_dead(&l), 0);
	assert_int_equal(l.head, 0);
	check_window(&l, 60, 74);
	/* growth with dead slots: compact, partly reap, then overflow */
	append_n(&l, 75, 40);
	rlog_compact(&l, 100);
	assert_int_equal(rlog_reap(&l, 7), 7);
	append_n(&l, 115, 200);
	assert_int_equal(rlog_dead(&l), 0);
	check_window(&l, 100, 314);
	/* many rounds of append, compact, partial reap */
	last = 314;
	for (int round = 0; round < 200; round++) {
		append_n(&l, last + 1, 37 + (size_t)round % 50);
		last = rlog_last(&l);
		if (round % 3 == 0)
			rlog_compact(&l, last - 20);
		rlog_reap(&l, (size_t)round % 40);
	}
	check_window(&l, l.offset, last);
	rlog_free(&l);		/* frees the dead and the live */
}

/* A reset (an installed snapshot) frees dead and live at once. */
static void
test_reset_with_dead(void **state)
{
	struct rlog l;

	(void)state;
	rlog_init(&l);
	append_n(&l, 1, 500);
	rlog_compact(&l, 400);
	rlog_reap(&l, 50);
	rlog_reset(&l, 1000, 11);
	assert_int_equal(rlog_dead(&l), 0);
	assert_int_equal(l.bytes, 0);
	assert_int_equal(rlog_last(&l), 1000);
	append_n(&l, 1001, 2);
	check_window(&l, 1000, 1002);
	rlog_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compact_then_reap),
		cmocka_unit_test(test_compact_all),
		cmocka_unit_test(test_relayout_with_dead),
		cmocka_unit_test(test_reset_with_dead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
