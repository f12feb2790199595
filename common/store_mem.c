/* store_mem.c: the in-memory store (unit and simulation tests), and the
 * public store_* functions that dispatch through the ops table to it or
 * to store_rocks.c.
 *
 * The map is a sorted array searched by binary search. A batch is a
 * second sorted array of puts and deletes that overlays the map until
 * commit merges the two in one pass. Iterators remember the last key they
 * returned (a copy) and search again on every step, so a put into the map
 * or batch between steps cannot leave them pointing at freed memory. */
#include "store.h"
#include "store_impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ment {
	uint8_t *buf;	/* key bytes then value bytes, one allocation */
	size_t klen;
	size_t vlen;
	bool del;	/* in a batch: a delete */
};

struct mmap {
	struct ment *v;
	size_t n;
	size_t cap;
};

struct mem_store {
	struct store base;
	struct mmap map;
};

struct mem_batch {
	struct store_batch base;
	struct mmap ops;
	size_t count;	/* every put and delete, as RocksDB counts them */
};

struct mem_iter {
	struct store_iter base;
	struct mem_batch *b;
	uint8_t *prefix;
	size_t plen;
	uint8_t *pos;	/* the next entry is the first >= (or >) pos */
	size_t poslen;
	size_t poscap;
	bool inclusive;
};

static const struct store_ops mem_ops;

/* Bytewise order, shorter first on a tie: what RocksDB's default
 * comparator does, so both stores list keys alike. */
static int
keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* The first index whose key is >= key (> key when !inclusive). */
static size_t
mmap_bound(const struct mmap *m, const void *key, size_t klen,
    bool inclusive)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = keycmp(m->v[mid].buf, m->v[mid].klen, key, klen);

		if (c < 0 || (c == 0 && !inclusive))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct ment *
mmap_find(const struct mmap *m, const void *key, size_t klen)
{
	size_t i = mmap_bound(m, key, klen, true);

	if (i < m->n && keycmp(m->v[i].buf, m->v[i].klen, key, klen) == 0)
		return &m->v[i];
	return NULL;
}

static void
mmap_clear(struct mmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].buf);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* Sets key to (val, del) in m, replacing an existing entry. */
static int
mmap_set(struct mmap *m, const void *key, size_t klen, const void *val,
    size_t vlen, bool del)
{
	size_t i = mmap_bound(m, key, klen, true);
	uint8_t *buf;

	if (klen > SIZE_MAX / 2 || vlen > SIZE_MAX / 2)
		return -LE_TOOBIG;
	if ((buf = malloc(klen + vlen + 1)) == NULL)
		return -LE_NOMEM;
	if (klen)
		memcpy(buf, key, klen);
	if (vlen)
		memcpy(buf + klen, val, vlen);
	if (i < m->n && keycmp(m->v[i].buf, m->v[i].klen, key, klen) == 0) {
		free(m->v[i].buf);
	} else {
		if (m->n == m->cap) {
			size_t cap = m->cap ? m->cap * 2 : 16;
			struct ment *v = realloc(m->v, cap * sizeof(*v));

			if (v == NULL) {
				free(buf);
				return -LE_NOMEM;
			}
			m->v = v;
			m->cap = cap;
		}
		memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
		m->n++;
	}
	m->v[i].buf = buf;
	m->v[i].klen = klen;
	m->v[i].vlen = vlen;
	m->v[i].del = del;
	return 0;
}

static int
copy_out(const struct ment *e, void **val, size_t *vlen)
{
	/* Never malloc(0): the contract promises a valid pointer. */
	uint8_t *p = malloc(e->vlen ? e->vlen : 1);

	if (p == NULL)
		return -LE_NOMEM;
	if (e->vlen)
		memcpy(p, e->buf + e->klen, e->vlen);
	*val = p;
	*vlen = e->vlen;
	return 0;
}

int
store_open_mem(struct store **out)
{
	struct mem_store *ms = calloc(1, sizeof(*ms));

	*out = NULL;
	if (ms == NULL)
		return -LE_NOMEM;
	ms->base.ops = &mem_ops;
	*out = &ms->base;
	return 0;
}

static void
mem_close(struct store *s)
{
	struct mem_store *ms = (struct mem_store *)s;

	mmap_clear(&ms->map);
	free(ms);
}

static int
mem_get(struct store *s, const void *key, size_t klen, void **val,
    size_t *vlen)
{
	struct mem_store *ms = (struct mem_store *)s;
	struct ment *e = mmap_find(&ms->map, key, klen);

	if (e == NULL)
		return -LE_NOTFOUND;
	return copy_out(e, val, vlen);
}

static struct store_batch *
mem_batch_new(struct store *s)
{
	struct mem_batch *mb = calloc(1, sizeof(*mb));

	if (mb == NULL)
		return NULL;
	mb->base.s = s;
	return &mb->base;
}

static int
mem_batch_put(struct store_batch *b, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	struct mem_batch *mb = (struct mem_batch *)b;
	int rv;

	if ((rv = mmap_set(&mb->ops, key, klen, val, vlen, false)) == 0)
		mb->count++;
	return rv;
}

static int
mem_batch_del(struct store_batch *b, const void *key, size_t klen)
{
	struct mem_batch *mb = (struct mem_batch *)b;
	int rv;

	if ((rv = mmap_set(&mb->ops, key, klen, NULL, 0, true)) == 0)
		mb->count++;
	return rv;
}

static int
mem_batch_get(struct store_batch *b, const void *key, size_t klen,
    void **val, size_t *vlen)
{
	struct mem_batch *mb = (struct mem_batch *)b;
	struct ment *e = mmap_find(&mb->ops, key, klen);

	if (e == NULL)
		return mem_get(b->s, key, klen, val, vlen);
	if (e->del)
		return -LE_NOTFOUND;
	return copy_out(e, val, vlen);
}

/* Merges the batch into the map in one pass. The only allocation comes
 * first, so a failure leaves both untouched: the commit is atomic. The
 * batch's buffers move into the map and the batch is left empty, as the
 * RocksDB side clears its batch after a write. */
static int
mem_batch_commit(struct store_batch *b, bool sync)
{
	struct mem_batch *mb = (struct mem_batch *)b;
	struct mem_store *ms = (struct mem_store *)b->s;
	struct mmap *base = &ms->map, *ops = &mb->ops;
	struct ment *nv;
	size_t i = 0, j = 0, k = 0, cap;

	(void)sync;
	if (ops->n == 0) {
		mb->count = 0;
		return 0;
	}
	cap = base->n + ops->n;
	if ((nv = malloc(cap * sizeof(*nv))) == NULL)
		return -LE_NOMEM;
	while (i < base->n || j < ops->n) {
		struct ment *be = i < base->n ? &base->v[i] : NULL;
		struct ment *oe = j < ops->n ? &ops->v[j] : NULL;
		int c;

		if (be == NULL)
			c = 1;
		else if (oe == NULL)
			c = -1;
		else
			c = keycmp(be->buf, be->klen, oe->buf, oe->klen);
		if (c < 0) {
			nv[k++] = *be;
			i++;
			continue;
		}
		if (c == 0) {
			free(be->buf);
			i++;
		}
		if (oe->del)
			free(oe->buf);
		else
			nv[k++] = *oe;
		j++;
	}
	free(base->v);
	base->v = nv;
	base->n = k;
	base->cap = cap;
	free(ops->v);
	memset(ops, 0, sizeof(*ops));
	mb->count = 0;
	return 0;
}

static void
mem_batch_free(struct store_batch *b)
{
	struct mem_batch *mb = (struct mem_batch *)b;

	mmap_clear(&mb->ops);
	free(mb);
}

static size_t
mem_batch_count(struct store_batch *b)
{
	return ((struct mem_batch *)b)->count;
}

static int
iter_setpos(struct mem_iter *mi, const void *key, size_t klen,
    bool inclusive)
{
	if (klen > mi->poscap) {
		uint8_t *p = realloc(mi->pos, klen);

		if (p == NULL)
			return -LE_NOMEM;
		mi->pos = p;
		mi->poscap = klen;
	}
	if (klen)
		memcpy(mi->pos, key, klen);
	mi->poslen = klen;
	mi->inclusive = inclusive;
	return 0;
}

static struct store_iter *
mem_iter_new(struct store *s, struct store_batch *b, const void *prefix,
    size_t plen)
{
	struct mem_iter *mi = calloc(1, sizeof(*mi));

	if (mi == NULL)
		return NULL;
	mi->base.s = s;
	mi->b = (struct mem_batch *)b;
	if (plen && (mi->prefix = malloc(plen)) == NULL) {
		free(mi);
		return NULL;
	}
	if (plen)
		memcpy(mi->prefix, prefix, plen);
	mi->plen = plen;
	if (iter_setpos(mi, prefix, plen, true) != 0) {
		free(mi->prefix);
		free(mi);
		return NULL;
	}
	return &mi->base;
}

static void
mem_iter_seek(struct store_iter *it, const void *key, size_t klen)
{
	struct mem_iter *mi = (struct mem_iter *)it;

	/* Below the prefix means at its start. On ENOMEM the position
	 * stays where it was; next() then still answers consistently. */
	if (keycmp(key, klen, mi->prefix, mi->plen) < 0)
		(void)iter_setpos(mi, mi->prefix, mi->plen, true);
	else
		(void)iter_setpos(mi, key, klen, true);
}

static int
mem_iter_next(struct store_iter *it, const void **key, size_t *klen,
    const void **val, size_t *vlen)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	struct mmap *base = &((struct mem_store *)it->s)->map;
	struct mmap *ops = mi->b ? &mi->b->ops : NULL;

	for (;;) {
		size_t i = mmap_bound(base, mi->pos, mi->poslen,
		    mi->inclusive);
		size_t j = ops ? mmap_bound(ops, mi->pos, mi->poslen,
		    mi->inclusive) : 0;
		struct ment *be = i < base->n ? &base->v[i] : NULL;
		struct ment *oe = ops && j < ops->n ? &ops->v[j] : NULL;
		struct ment *cur;
		int rv;

		if (be == NULL && oe == NULL)
			return 0;
		/* On equal keys the batch shadows the map. */
		if (oe != NULL && (be == NULL || keycmp(oe->buf, oe->klen,
		    be->buf, be->klen) <= 0))
			cur = oe;
		else
			cur = be;
		if (cur->klen < mi->plen ||
		    (mi->plen && memcmp(cur->buf, mi->prefix, mi->plen) != 0))
			return 0;
		if ((rv = iter_setpos(mi, cur->buf, cur->klen, false)) != 0)
			return rv;
		if (cur->del)
			continue;
		*key = cur->buf;
		*klen = cur->klen;
		*val = cur->buf + cur->klen;
		*vlen = cur->vlen;
		return 1;
	}
}

static void
mem_iter_free(struct store_iter *it)
{
	struct mem_iter *mi = (struct mem_iter *)it;

	free(mi->prefix);
	free(mi->pos);
	free(mi);
}

static const struct store_ops mem_ops = {
	.name = "mem",
	.close = mem_close,
	.get = mem_get,
	.batch_new = mem_batch_new,
	.batch_put = mem_batch_put,
	.batch_del = mem_batch_del,
	.batch_get = mem_batch_get,
	.batch_commit = mem_batch_commit,
	.batch_free = mem_batch_free,
	.batch_count = mem_batch_count,
	.iter_new = mem_iter_new,
	.iter_seek = mem_iter_seek,
	.iter_next = mem_iter_next,
	.iter_free = mem_iter_free,
};

/*
 * The public functions: argument checks once, then the ops table.
 */

void
store_close(struct store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

int
store_get(struct store *s, const void *key, size_t klen, void **val,
    size_t *vlen)
{
	if (s == NULL || (key == NULL && klen) || val == NULL || vlen == NULL)
		return -LE_INVAL;
	return s->ops->get(s, key, klen, val, vlen);
}

struct store_batch *
store_batch_new(struct store *s)
{
	return s != NULL ? s->ops->batch_new(s) : NULL;
}

int
store_batch_put(struct store_batch *b, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	if (b == NULL || (key == NULL && klen) || (val == NULL && vlen))
		return -LE_INVAL;
	return b->s->ops->batch_put(b, key, klen, val, vlen);
}

int
store_batch_del(struct store_batch *b, const void *key, size_t klen)
{
	if (b == NULL || (key == NULL && klen))
		return -LE_INVAL;
	return b->s->ops->batch_del(b, key, klen);
}

int
store_batch_get(struct store_batch *b, const void *key, size_t klen,
    void **val, size_t *vlen)
{
	if (b == NULL || (key == NULL && klen) || val == NULL || vlen == NULL)
		return -LE_INVAL;
	return b->s->ops->batch_get(b, key, klen, val, vlen);
}

int
store_batch_commit(struct store_batch *b, bool sync)
{
	if (b == NULL)
		return -LE_INVAL;
	return b->s->ops->batch_commit(b, sync);
}

void
store_batch_free(struct store_batch *b)
{
	if (b != NULL)
		b->s->ops->batch_free(b);
}

size_t
store_batch_count(struct store_batch *b)
{
	return b != NULL ? b->s->ops->batch_count(b) : 0;
}

struct store_iter *
store_iter_new(struct store *s, struct store_batch *b, const void *prefix,
    size_t plen)
{
	/* A batch of another store cannot be merged over this one. */
	if (s == NULL || (b != NULL && b->s != s) || (prefix == NULL && plen))
		return NULL;
	return s->ops->iter_new(s, b, prefix, plen);
}

void
store_iter_seek(struct store_iter *it, const void *key, size_t klen)
{
	if (it != NULL && (key != NULL || klen == 0))
		it->s->ops->iter_seek(it, key, klen);
}

int
store_iter_next(struct store_iter *it, const void **key, size_t *klen,
    const void **val, size_t *vlen)
{
	if (it == NULL || key == NULL || klen == NULL || val == NULL ||
	    vlen == NULL)
		return -LE_INVAL;
	return it->s->ops->iter_next(it, key, klen, val, vlen);
}

void
store_iter_free(struct store_iter *it)
{
	if (it != NULL)
		it->s->ops->iter_free(it);
}

static int
cmp_bytes(const void *a, size_t al, const void *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c != 0 ? c : (al > bl) - (al < bl);
}

int
store_delete_range(struct store *s, const void *from, size_t flen,
    const void *to, size_t tlen)
{
	struct store_batch *b;
	struct store_iter *it;
	const void *k, *v;
	size_t kl, vl;
	int rv;

	if (s == NULL)
		return -LE_INVAL;
	if (s->ops->delete_range != NULL)
		return s->ops->delete_range(s, from, flen, to, tlen);
	if ((b = store_batch_new(s)) == NULL)
		return -LE_NOMEM;
	it = store_iter_new(s, NULL, NULL, 0);
	store_iter_seek(it, from, flen);
	while ((rv = store_iter_next(it, &k, &kl, &v, &vl)) == 1 &&
	    cmp_bytes(k, kl, to, tlen) < 0)
		if ((rv = store_batch_del(b, k, kl)) != 0)
			break;
	store_iter_free(it);
	if (rv >= 0)
		rv = store_batch_commit(b, false);
	store_batch_free(b);
	return rv < 0 ? rv : 0;
}
