/* log_store.h: raftd's durable state in RocksDB (through common/store.h):
 * the log entries, the hard state (term, vote) and the last snapshot's
 * metadata. Encoding only: raftd decides when a batch is committed, and
 * with fsync, on its persistence thread (persist.c).
 *
 * Layout:
 *   "e" index(u64 BE)  -> term(u64 BE) type(u8) data
 *   "h:term"           -> u64 BE
 *   "h:vote"           -> the voted-for server id (may be empty)
 *   "s:meta"           -> index(u64 BE) term(u64 BE) configuration bytes
 *
 * Threading: open/load on the loop thread before anything else runs; a
 * batch is built on the loop thread and may then be committed on one
 * other thread, which owns it from then on. */
#ifndef LICTOR_RAFTD_LOG_STORE_H
#define LICTOR_RAFTD_LOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

#define LS_MAX_ENTRY (64u << 20)
#define LS_MAX_ID 128

struct ls_entry {
	uint64_t index;
	uint64_t term;
	uint8_t type;
	const void *data; /* borrowed for the callback only */
	size_t len;
};

struct ls_state {
	uint64_t term;
	char vote[LS_MAX_ID + 1]; /* "" when none */
	uint64_t snap_index, snap_term;
	void *snap_conf; /* malloc'd; the caller frees */
	size_t snap_conf_len;
	uint64_t first, last; /* entries held: first..last; 0,0 when none */
};

/* Calls fn for each stored entry in index order; stops at a gap or a
 * non-zero return. Fails with -LE_CORRUPT on a damaged entry. */
typedef int (*ls_entry_fn)(void *arg, const struct ls_entry *e);
int ls_load(struct store *s, struct ls_state *st, ls_entry_fn fn, void *arg,
    struct lerr *e);

/* Batch builders over a store_batch. Each returns 0 or a negative code. */
int ls_put_hardstate(struct store_batch *b, uint64_t term, const char *vote);
int ls_put_entry(struct store_batch *b, const struct ls_entry *ent);
/* The 9-byte key of entry index (for range deletes). */
void ls_entry_key(uint8_t k[9], uint64_t index);
/* Deletes entries [from, to] (inclusive), as known to the caller. */
int ls_del_entries(struct store_batch *b, uint64_t from, uint64_t to);
int ls_put_snap_meta(struct store_batch *b, uint64_t index, uint64_t term,
    const void *conf, size_t conf_len);

#endif
