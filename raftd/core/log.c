/* log.c: the in-memory log window. Entries (offset, offset + n] live in one
 * array with a moving head, so compaction at the front and truncation at
 * the back are both cheap and any run of entries is contiguous (AppendEntries,
 * persist and apply hand out pointers straight into it). offset/offset_term
 * describe the entry just before the window: the snapshot's last entry, or
 * a trailing entry kept after it. The window owns every entry's data.
 *
 * Compaction only moves the head: the slots it passes, [dead, head), keep
 * their data until rlog_reap frees a bounded number of them (the core
 * does on every tick). A snapshot compacts everything written since the
 * last one, 100,000 entries and more under load, and freeing them all at
 * once held the loop for tens of milliseconds. Before the array is laid
 * out again (reserve), whatever is still dead is freed. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

void
rlog_init(struct rlog *l)
{
	memset(l, 0, sizeof(*l));
}

static void
free_range(struct rlog *l, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		l->bytes -= l->ents[i].len;
		free((void *)l->ents[i].data);
		l->ents[i].data = NULL;
	}
}

/* Frees the data of compacted slots [dead, to) (already out of bytes). */
static void
free_dead(struct rlog *l, size_t to)
{
	for (size_t i = l->dead; i < to; i++) {
		free((void *)l->ents[i].data);
		l->ents[i].data = NULL;
	}
	l->dead = to;
}

size_t
rlog_reap(struct rlog *l, size_t max)
{
	size_t from = l->dead, to;

	to = l->head - l->dead > max ? l->dead + max : l->head;
	free_dead(l, to);
	if (l->n == 0 && l->dead == l->head)
		l->head = l->dead = 0;
	return to - from;
}

size_t
rlog_dead(const struct rlog *l)
{
	return l->head - l->dead;
}

void
rlog_free(struct rlog *l)
{
	free_dead(l, l->head);
	free_range(l, l->head, l->head + l->n);
	free(l->ents);
	memset(l, 0, sizeof(*l));
}

uint64_t
rlog_last(const struct rlog *l)
{
	return l->offset + l->n;
}

uint64_t
rlog_last_term(const struct rlog *l)
{
	return l->n > 0 ? l->ents[l->head + l->n - 1].term : l->offset_term;
}

const struct raft_entry *
rlog_get(const struct rlog *l, uint64_t idx)
{
	if (idx <= l->offset || idx > l->offset + l->n)
		return NULL;
	return &l->ents[l->head + (size_t)(idx - l->offset - 1)];
}

bool
rlog_term(const struct rlog *l, uint64_t idx, uint64_t *term)
{
	const struct raft_entry *e;

	if (idx == l->offset) {
		*term = l->offset_term;
		return true;
	}
	if ((e = rlog_get(l, idx)) == NULL)
		return false;
	*term = e->term;
	return true;
}

/* Room for extra more entries at the back: slide down first when the dead
 * space at the front is at least as large as the live part. */
static int
reserve(struct rlog *l, size_t extra)
{
	struct raft_entry *ne;
	size_t need, ncap;

	if (l->head + l->n + extra <= l->cap)
		return 0;
	/* The slots move: what compaction left goes first. */
	free_dead(l, l->head);
	if (l->head > 0 && l->head >= l->n && l->n + extra <= l->cap) {
		memmove(l->ents, l->ents + l->head, l->n * sizeof(*l->ents));
		l->head = l->dead = 0;
		return 0;
	}
	need = l->n + extra;
	ncap = l->cap ? l->cap : 64;
	while (ncap < need)
		ncap *= 2;
	if ((ne = malloc(ncap * sizeof(*ne))) == NULL)
		return -LE_NOMEM;
	if (l->n > 0)
		memcpy(ne, l->ents + l->head, l->n * sizeof(*ne));
	free(l->ents);
	l->ents = ne;
	l->cap = ncap;
	l->head = l->dead = 0;
	return 0;
}

int
rlog_append(struct rlog *l, const struct raft_entry *e, size_t n,
    uint64_t first, uint64_t term)
{
	size_t i, base;
	void *p;

	if (n == 0)
		return 0;
	if (first != rlog_last(l) + 1)
		return -LE_INVAL;
	if (reserve(l, n) != 0)
		return -LE_NOMEM;
	base = l->head + l->n;
	for (i = 0; i < n; i++) {
		struct raft_entry *d = &l->ents[base + i];

		p = NULL;
		if (e[i].len > 0) {
			if ((p = malloc(e[i].len)) == NULL)
				goto nomem;
			memcpy(p, e[i].data, e[i].len);
		}
		d->index = first + i;
		d->term = term != 0 ? term : e[i].term;
		d->type = e[i].type;
		d->len = e[i].len;
		d->data = p;
	}
	for (i = 0; i < n; i++)
		l->bytes += l->ents[base + i].len;
	l->n += n;
	return 0;
nomem:
	while (i-- > 0)
		free((void *)l->ents[base + i].data);
	return -LE_NOMEM;
}

void
rlog_truncate(struct rlog *l, uint64_t from)
{
	size_t keep;

	if (from <= l->offset)
		from = l->offset + 1;
	if (from > rlog_last(l))
		return;
	keep = (size_t)(from - l->offset - 1);
	free_range(l, l->head + keep, l->head + l->n);
	l->n = keep;
	if (l->n == 0 && l->dead == l->head)
		l->head = l->dead = 0;
}

void
rlog_compact(struct rlog *l, uint64_t upto)
{
	size_t k;
	uint64_t t;

	if (upto <= l->offset)
		return;
	if (upto > rlog_last(l))
		upto = rlog_last(l);
	if (!rlog_term(l, upto, &t))
		return;
	k = (size_t)(upto - l->offset);
	for (size_t i = l->head; i < l->head + k; i++)
		l->bytes -= l->ents[i].len;
	l->head += k;	/* the data goes in rlog_reap */
	l->n -= k;
	l->offset = upto;
	l->offset_term = t;
}

void
rlog_reset(struct rlog *l, uint64_t idx, uint64_t term)
{
	free_dead(l, l->head);
	free_range(l, l->head, l->head + l->n);
	l->head = l->dead = 0;
	l->n = 0;
	l->offset = idx;
	l->offset_term = term;
}

/* Terms never decrease along a log, so a binary search finds the last
 * entry of a term <= term. */
uint64_t
rlog_find_le_term(const struct rlog *l, uint64_t hi, uint64_t term)
{
	uint64_t lo = l->offset, mid, t;

	if (hi > rlog_last(l))
		hi = rlog_last(l);
	if (hi <= lo)
		return lo;
	rlog_term(l, hi, &t);
	if (t <= term)
		return hi;
	/* Invariant: term(lo) <= term or lo == offset; term(hi) > term. */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		rlog_term(l, mid, &t);
		if (t <= term)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}
