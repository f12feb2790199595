/* store_rocks.c: the RocksDB store, the one file that includes
 * rocksdb/c.h. Batches are WriteBatchWithIndex so that reads and
 * iterators through a batch see its own writes merged over the database
 * (kv_apply reads what earlier commands of the same group commit wrote).
 *
 * Every char *err that RocksDB hands back is freed here; its text goes
 * into the caller's struct lerr where there is one, else to the log. */
#include "store.h"
#include "store_impl.h"
#include "log.h"
#include "wal_trim.h"

#include <rocksdb/c.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ROCKS_CACHE_BYTES	(64u << 20)	/* block cache (LRU) */
#define ROCKS_WRITE_BUFFER	(32u << 20)	/* memtable size */
#define ROCKS_BLOOM_BITS	10		/* ~1% false positives */
/* A store that reuses its log files: how many it keeps for reuse, and a
 * memtable (and so a log file) small enough that reuse starts within a
 * few MiB of writes; its flushes sync 1 MiB at a time so that they do
 * not hold the device in one long request while the log syncs. */
#define ROCKS_REUSE_LOGS	4
#define ROCKS_REUSE_BUFFER	(8u << 20)
#define ROCKS_REUSE_SYNC_BYTES	(1u << 20)
/* RocksDB's WALRecoveryMode::kSkipAnyCorruptedRecords, the only mode in
 * which 7.8 reuses log files; wal_trim_dir leaves it nothing to skip. */
#define ROCKS_WAL_SKIP_ANY	3

struct rocks_store {
	struct store base;
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *topts;
	rocksdb_cache_t *cache;
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wsync;
	rocksdb_writeoptions_t *wnosync;
};

struct rocks_batch {
	struct store_batch base;
	rocksdb_writebatch_wi_t *wb;
};

struct rocks_iter {
	struct store_iter base;
	rocksdb_iterator_t *it;
	rocksdb_readoptions_t *ropts;	/* holds a pointer to upper */
	uint8_t *prefix;
	size_t plen;
	uint8_t *upper;			/* first key past the prefix */
	size_t ulen;
	bool advance;	/* the current entry was returned: step first */
};

static const struct store_ops rocks_ops;
static int rocks_delete_range(struct store *s, const void *from, size_t flen,
    const void *to, size_t tlen);

/* RocksDB's Status::ToString() starts with the code's name. */
static int
rocks_code(const char *err)
{
	return strncmp(err, "Corruption", 10) == 0 ? LE_CORRUPT : LE_IO;
}

/* Maps, reports and frees a RocksDB error. */
static int
rocks_err(char *err, struct lerr *e, const char *what)
{
	int code = rocks_code(err);

	if (e != NULL)
		lerr_set(e, code, "rocksdb %s: %s", what, err);
	else
		log_warnx("rocksdb %s: %s", what, err);
	rocksdb_free(err);
	return -code;
}

static void
rocks_free_handles(struct rocks_store *rs)
{
	if (rs->db != NULL)
		rocksdb_close(rs->db);
	if (rs->ropts != NULL)
		rocksdb_readoptions_destroy(rs->ropts);
	if (rs->wsync != NULL)
		rocksdb_writeoptions_destroy(rs->wsync);
	if (rs->wnosync != NULL)
		rocksdb_writeoptions_destroy(rs->wnosync);
	if (rs->opts != NULL)
		rocksdb_options_destroy(rs->opts);
	if (rs->topts != NULL)
		rocksdb_block_based_options_destroy(rs->topts);
	if (rs->cache != NULL)
		rocksdb_cache_destroy(rs->cache);
	free(rs);
}

int
store_open_rocks(const char *path, struct store **out, struct lerr *e)
{
	return store_open_rocks_opts(path, NULL, out, e);
}

int
store_open_rocks_opts(const char *path, const struct store_rocks_opts *o,
    struct store **out, struct lerr *e)
{
	bool reuse = o != NULL && o->reuse_log;
	struct rocks_store *rs;
	char *err = NULL;

	*out = NULL;
	if (path == NULL || *path == '\0')
		return lerr_set(e, LE_INVAL, "rocksdb: empty path");
	if (reuse) {
		struct wal_trim_stats st;
		int rv;

		if ((rv = wal_trim_dir(path, &st, e)) != 0)
			return rv;
	}
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return lerr_set(e, LE_NOMEM, "rocksdb: out of memory");
	rs->base.ops = &rocks_ops;
	rs->opts = rocksdb_options_create();
	rs->topts = rocksdb_block_based_options_create();
	rs->cache = rocksdb_cache_create_lru(ROCKS_CACHE_BYTES);
	rs->ropts = rocksdb_readoptions_create();
	rs->wsync = rocksdb_writeoptions_create();
	rs->wnosync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(rs->wsync, 1);
	rocksdb_writeoptions_set_sync(rs->wnosync, 0);

	rocksdb_block_based_options_set_block_cache(rs->topts, rs->cache);
	/* The table options take ownership of the filter policy. */
	rocksdb_block_based_options_set_filter_policy(rs->topts,
	    rocksdb_filterpolicy_create_bloom_full(ROCKS_BLOOM_BITS));
	rocksdb_options_set_block_based_table_factory(rs->opts, rs->topts);
	rocksdb_options_set_create_if_missing(rs->opts, 1);
	rocksdb_options_increase_parallelism(rs->opts, 2);
	rocksdb_options_set_write_buffer_size(rs->opts, ROCKS_WRITE_BUFFER);
	rocksdb_options_set_max_write_buffer_number(rs->opts, 3);
	/* RocksDB's own LOG files stay small and few. */
	rocksdb_options_set_keep_log_file_num(rs->opts, 4);
	rocksdb_options_set_max_log_file_size(rs->opts, 4u << 20);
	rocksdb_options_set_compression(rs->opts, rocksdb_lz4_compression);
	if (reuse) {
		rocksdb_options_set_write_buffer_size(rs->opts,
		    ROCKS_REUSE_BUFFER);
		rocksdb_options_set_recycle_log_file_num(rs->opts,
		    ROCKS_REUSE_LOGS);
		rocksdb_options_set_wal_recovery_mode(rs->opts,
		    ROCKS_WAL_SKIP_ANY);
		rocksdb_options_set_bytes_per_sync(rs->opts,
		    ROCKS_REUSE_SYNC_BYTES);
	}

	rs->db = rocksdb_open(rs->opts, path, &err);
	if (rs->db == NULL && err != NULL && strstr(err, "ompression")) {
		/* A build without LZ4: store uncompressed instead. */
		log_info("rocksdb: LZ4 unavailable (%s), no compression", err);
		rocksdb_free(err);
		err = NULL;
		rocksdb_options_set_compression(rs->opts,
		    rocksdb_no_compression);
		rs->db = rocksdb_open(rs->opts, path, &err);
	}
	if (rs->db == NULL) {
		int rv = err != NULL ? rocks_err(err, e, "open") :
		    lerr_set(e, LE_IO, "rocksdb open %s failed", path);

		rocks_free_handles(rs);
		return rv;
	}
	*out = &rs->base;
	return 0;
}

static void
rocks_close(struct store *s)
{
	rocks_free_handles((struct rocks_store *)s);
}

static int
rocks_get(struct store *s, const void *key, size_t klen, void **val,
    size_t *vlen)
{
	struct rocks_store *rs = (struct rocks_store *)s;
	rocksdb_pinnableslice_t *ps;
	const char *p;
	char *err = NULL;
	size_t n;
	void *copy;

	/* Pinned: tells "absent" from "empty" without relying on what
	 * malloc(0) returns inside RocksDB. */
	ps = rocksdb_get_pinned(rs->db, rs->ropts, key, klen, &err);
	if (err != NULL)
		return rocks_err(err, NULL, "get");
	if (ps == NULL)
		return -LE_NOTFOUND;
	p = rocksdb_pinnableslice_value(ps, &n);
	if ((copy = malloc(n ? n : 1)) == NULL) {
		rocksdb_pinnableslice_destroy(ps);
		return -LE_NOMEM;
	}
	if (n)
		memcpy(copy, p, n);
	rocksdb_pinnableslice_destroy(ps);
	*val = copy;
	*vlen = n;
	return 0;
}

static struct store_batch *
rocks_batch_new(struct store *s)
{
	struct rocks_batch *rb = calloc(1, sizeof(*rb));

	if (rb == NULL)
		return NULL;
	rb->base.s = s;
	/* overwrite_keys: one index entry per key, which the merged
	 * iterator needs to hide a key's older writes in the batch. */
	rb->wb = rocksdb_writebatch_wi_create(0, 1);
	return &rb->base;
}

static int
rocks_batch_put(struct store_batch *b, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	rocksdb_writebatch_wi_put(((struct rocks_batch *)b)->wb, key, klen,
	    vlen ? val : "", vlen);
	return 0;
}

static int
rocks_batch_del(struct store_batch *b, const void *key, size_t klen)
{
	rocksdb_writebatch_wi_delete(((struct rocks_batch *)b)->wb, key,
	    klen);
	return 0;
}

static int
rocks_batch_get(struct store_batch *b, const void *key, size_t klen,
    void **val, size_t *vlen)
{
	struct rocks_batch *rb = (struct rocks_batch *)b;
	struct rocks_store *rs = (struct rocks_store *)b->s;
	char *err = NULL, *p;
	size_t n = 0;
	void *copy;

	p = rocksdb_writebatch_wi_get_from_batch_and_db(rb->wb, rs->db,
	    rs->ropts, key, klen, &n, &err);
	if (err != NULL) {
		rocksdb_free(p);
		return rocks_err(err, NULL, "batch get");
	}
	/* No pinned variant here: RocksDB copies with malloc(n), which
	 * glibc answers with a unique non-NULL pointer even for n == 0,
	 * so NULL without an error means absent. */
	if (p == NULL)
		return -LE_NOTFOUND;
	if ((copy = malloc(n ? n : 1)) == NULL) {
		rocksdb_free(p);
		return -LE_NOMEM;
	}
	if (n)
		memcpy(copy, p, n);
	rocksdb_free(p);
	*val = copy;
	*vlen = n;
	return 0;
}

/* Writes the batch atomically and then empties it, so that reading
 * through it afterwards sees the database as it now is. */
static int
rocks_batch_commit(struct store_batch *b, bool sync)
{
	struct rocks_batch *rb = (struct rocks_batch *)b;
	struct rocks_store *rs = (struct rocks_store *)b->s;
	char *err = NULL;

	rocksdb_write_writebatch_wi(rs->db, sync ? rs->wsync : rs->wnosync,
	    rb->wb, &err);
	if (err != NULL)
		return rocks_err(err, NULL, "write");
	rocksdb_writebatch_wi_clear(rb->wb);
	return 0;
}

static void
rocks_batch_free(struct store_batch *b)
{
	struct rocks_batch *rb = (struct rocks_batch *)b;

	rocksdb_writebatch_wi_destroy(rb->wb);
	free(rb);
}

static size_t
rocks_batch_count(struct store_batch *b)
{
	int n = rocksdb_writebatch_wi_count(((struct rocks_batch *)b)->wb);

	return n > 0 ? (size_t)n : 0;
}

static void
rocks_iter_release(struct rocks_iter *ri)
{
	/* The iterator reads ri->ropts and ri->upper: destroy it first. */
	if (ri->it != NULL)
		rocksdb_iter_destroy(ri->it);
	if (ri->ropts != NULL)
		rocksdb_readoptions_destroy(ri->ropts);
	free(ri->prefix);
	free(ri->upper);
	free(ri);
}

static int
keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static struct store_iter *
rocks_iter_new(struct store *s, struct store_batch *b, const void *prefix,
    size_t plen)
{
	struct rocks_store *rs = (struct rocks_store *)s;
	struct rocks_iter *ri = calloc(1, sizeof(*ri));
	rocksdb_iterator_t *base;

	if (ri == NULL)
		return NULL;
	ri->base.s = s;
	ri->plen = plen;
	if (plen) {
		if ((ri->prefix = malloc(plen)) == NULL ||
		    (ri->upper = malloc(plen)) == NULL) {
			rocks_iter_release(ri);
			return NULL;
		}
		memcpy(ri->prefix, prefix, plen);
		/* The bound is the prefix with its last byte below 0xff
		 * incremented; a prefix of all 0xff has none. */
		memcpy(ri->upper, prefix, plen);
		ri->ulen = plen;
		while (ri->ulen > 0 && ri->upper[ri->ulen - 1] == 0xff)
			ri->ulen--;
		if (ri->ulen > 0)
			ri->upper[ri->ulen - 1]++;
	}
	ri->ropts = rocksdb_readoptions_create();
	/* The bound only spares the base iterator from walking past the
	 * prefix (over deleted entries too); next() checks the prefix on
	 * every key anyway, since the batch side ignores the bound. */
	if (ri->ulen > 0)
		rocksdb_readoptions_set_iterate_upper_bound(ri->ropts,
		    (const char *)ri->upper, ri->ulen);
	base = rocksdb_create_iterator(rs->db, ri->ropts);
	if (b != NULL) {
		/* Takes base over: destroying the result destroys both. */
		ri->it = rocksdb_writebatch_wi_create_iterator_with_base(
		    ((struct rocks_batch *)b)->wb, base);
	} else
		ri->it = base;
	if (plen)
		rocksdb_iter_seek(ri->it, prefix, plen);
	else
		rocksdb_iter_seek_to_first(ri->it);
	return &ri->base;
}

static void
rocks_iter_seek(struct store_iter *it, const void *key, size_t klen)
{
	struct rocks_iter *ri = (struct rocks_iter *)it;

	if (keycmp(key, klen, ri->prefix, ri->plen) < 0)
		rocksdb_iter_seek(ri->it, (const char *)ri->prefix, ri->plen);
	else
		rocksdb_iter_seek(ri->it, key, klen);
	ri->advance = false;
}

static int
rocks_iter_next(struct store_iter *it, const void **key, size_t *klen,
    const void **val, size_t *vlen)
{
	struct rocks_iter *ri = (struct rocks_iter *)it;
	char *err = NULL;
	const char *k;
	size_t n;

	if (ri->advance && rocksdb_iter_valid(ri->it))
		rocksdb_iter_next(ri->it);
	ri->advance = true;
	if (!rocksdb_iter_valid(ri->it)) {
		rocksdb_iter_get_error(ri->it, &err);
		if (err != NULL)
			return rocks_err(err, NULL, "iterate");
		return 0;
	}
	k = rocksdb_iter_key(ri->it, &n);
	if (n < ri->plen || (ri->plen && memcmp(k, ri->prefix, ri->plen))) {
		/* Past the prefix: stay here, so later calls end too. */
		ri->advance = false;
		return 0;
	}
	*key = k;
	*klen = n;
	*val = rocksdb_iter_value(ri->it, vlen);
	return 1;
}

static void
rocks_iter_free(struct store_iter *it)
{
	rocks_iter_release((struct rocks_iter *)it);
}

static const struct store_ops rocks_ops = {
	.name = "rocksdb",
	.close = rocks_close,
	.get = rocks_get,
	.batch_new = rocks_batch_new,
	.batch_put = rocks_batch_put,
	.batch_del = rocks_batch_del,
	.batch_get = rocks_batch_get,
	.batch_commit = rocks_batch_commit,
	.batch_free = rocks_batch_free,
	.batch_count = rocks_batch_count,
	.iter_new = rocks_iter_new,
	.iter_seek = rocks_iter_seek,
	.iter_next = rocks_iter_next,
	.iter_free = rocks_iter_free,
	.delete_range = rocks_delete_range,
};

static int
rocks_delete_range(struct store *s, const void *from, size_t flen,
    const void *to, size_t tlen)
{
	struct rocks_store *rs = (struct rocks_store *)s;
	rocksdb_writebatch_t *wb;
	char *err = NULL;
	int c = memcmp(from, to, flen < tlen ? flen : tlen);

	/* RocksDB refuses an inverted range; an empty one deletes nothing. */
	if (c > 0 || (c == 0 && flen >= tlen))
		return 0;
	wb = rocksdb_writebatch_create();
	rocksdb_writebatch_delete_range(wb, from, flen, to, tlen);
	rocksdb_write(rs->db, rs->wnosync, wb, &err);
	rocksdb_writebatch_destroy(wb);
	if (err != NULL) {
		log_warnx("store: delete range: %s", err);
		free(err);
		return -LE_IO;
	}
	return 0;
}
