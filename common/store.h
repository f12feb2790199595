/* store.h: the one door to durable bytes. An ops table with a RocksDB
 * implementation (store_rocks.c) and an in-memory one (store_mem.c) that
 * unit and simulation tests use. Keys and values are opaque byte strings,
 * ordered bytewise (memcmp, shorter first on a tie).
 *
 * Threading: a store and its batches/iterators belong to one thread.
 *
 * Ownership: values returned by store_get()/store_batch_get() are malloc'd
 * and the caller frees them. Pointers returned by store_iter_next() borrow
 * from the iterator and stay valid only until the next call or free. */
#ifndef LICTOR_STORE_H
#define LICTOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct store;
struct store_batch;
struct store_iter;

/* Opens (creating if missing) a RocksDB database at path. */
int store_open_rocks(const char *path, struct store **out, struct lerr *e);

/* How a RocksDB store is tuned beyond the defaults. */
struct store_rocks_opts {
	/* Reuse write-ahead log files, so that a synced write overwrites
	 * blocks on the disk instead of growing a file: for a store whose
	 * writes are small and synced one by one (raftd's log). The logs
	 * are cut back to their intact records before the open
	 * (wal_trim.h); memtables are smaller so that reuse starts soon. */
	bool reuse_log;
};
int store_open_rocks_opts(const char *path, const struct store_rocks_opts *o,
    struct store **out, struct lerr *e);
/* Opens an empty in-memory store. */
int store_open_mem(struct store **out);
void store_close(struct store *s);

/* 0 with the value in *val and its length in *vlen (always a valid
 * malloc'd pointer, even for an empty value), -LE_NOTFOUND, or another
 * negative code. */
int store_get(struct store *s, const void *key, size_t klen, void **val,
    size_t *vlen);

/* A write batch that can be read through (read-your-writes). */
struct store_batch *store_batch_new(struct store *s);
int store_batch_put(struct store_batch *b, const void *key, size_t klen,
    const void *val, size_t vlen);
int store_batch_del(struct store_batch *b, const void *key, size_t klen);
/* Like store_get, but sees the batch's own puts and deletes first. */
int store_batch_get(struct store_batch *b, const void *key, size_t klen,
    void **val, size_t *vlen);
/* Applies the batch atomically; sync=true waits for the write-ahead log
 * to reach the disk. The batch stays allocated; free it afterwards. */
int store_batch_commit(struct store_batch *b, bool sync);
void store_batch_free(struct store_batch *b);
/* Number of operations in the batch so far. */
size_t store_batch_count(struct store_batch *b);

/* Iterates keys starting with prefix (plen may be 0 = all), in order.
 * With b != NULL the iteration sees the batch merged over the store. */
struct store_iter *store_iter_new(struct store *s, struct store_batch *b,
    const void *prefix, size_t plen);
/* Seeks to the first key >= key (still bounded by the prefix). */
void store_iter_seek(struct store_iter *it, const void *key, size_t klen);
/* 1 and the entry, 0 at the end, or a negative code. */
int store_iter_next(struct store_iter *it, const void **key, size_t *klen,
    const void **val, size_t *vlen);
void store_iter_free(struct store_iter *it);

/* Deletes every key in [from, to), at once and without fsync, outside any
 * batch: for dropping what is already covered by durable state (raftd's
 * compacted log). */
int store_delete_range(struct store *s, const void *from, size_t flen,
    const void *to, size_t tlen);

#endif
