/* kv_state.h: kvd's replicated state machine for the KV table, with
 * Consul's semantics. Writes are a pure function of (index, command):
 * kv_apply() never consults a clock or randomness, so every server that
 * applies the same commands in the same order holds the same bytes. The
 * last applied index is persisted in the same batch as the data, so a
 * restart resumes exactly after it (raftd later slots in underneath).
 *
 * Layout in the store (all keys prefixed so later tables can share it):
 *   "m:applied"   -> u64 BE last applied index
 *   "m:kvindex"   -> u64 BE highest index that touched the KV table
 *   "k:" key      -> encoded entry (see kv_state.c)
 *   "t:" key      -> u64 BE tombstone (index of the delete)
 *
 * Threading: one owner thread (kvd's loop). */
#ifndef LICTOR_KV_STATE_H
#define LICTOR_KV_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

#define KV_MAX_KEY 4096 /* bytes; Consul has no hard limit, we do */

enum kv_op {
	KV_OP_SET = 1,		/* unconditional write */
	KV_OP_CAS = 2,		/* write if ModifyIndex == index (0: absent) */
	KV_OP_DELETE = 3,	/* delete one key */
	KV_OP_DELETE_CAS = 4,	/* delete if ModifyIndex == index (index>0) */
	KV_OP_DELETE_TREE = 5,	/* delete every key with this prefix */
	KV_OP_TOMBSTONE_REAP = 6, /* drop tombstones with index <= index */
};

struct kv_cmd {
	enum kv_op op;
	const char *key; /* not NUL-terminated necessarily */
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
	uint64_t flags;
	uint64_t index; /* CAS index, or reap bound */
};

/* An entry as read. Owned by the caller after a read; kv_entry_clear()
 * frees its members. */
struct kv_entry {
	char *key; /* NUL-terminated copy */
	size_t key_len;
	uint8_t *value; /* malloc'd, NULL when value_len == 0 */
	size_t value_len;
	uint64_t create_index;
	uint64_t modify_index;
	uint64_t lock_index;
	uint64_t flags;
	char *session; /* NULL when unlocked */
};

void kv_entry_clear(struct kv_entry *e);

struct kv_state;

/* Loads applied/kv indexes from the store. The store is borrowed and must
 * outlive the state. */
int kv_state_open(struct store *s, struct kv_state **out, struct lerr *e);
void kv_state_close(struct kv_state *ks);

uint64_t kv_state_applied(const struct kv_state *ks); /* last applied */
uint64_t kv_state_kv_index(const struct kv_state *ks); /* KV table index */

/* Writes. Apply any number of commands into the open batch, then commit.
 * kv_apply requires index > last applied (in the batch), else -LE_STATE.
 * *result is the Consul answer (true/false). Keys touched by the command
 * are reported through the touched callback (may be NULL) so kvd can wake
 * blocking queries: for a tree delete, once per key deleted and once for
 * the prefix itself. The state's indexes advance on apply; on a failed
 * commit, call kv_state_abort() which reloads them from the store. */
typedef void (*kv_touch_fn)(void *arg, const char *key, size_t klen);
int kv_batch_begin(struct kv_state *ks);
int kv_apply(struct kv_state *ks, uint64_t index, const struct kv_cmd *cmd,
    bool *result, kv_touch_fn touched, void *arg);
int kv_batch_commit(struct kv_state *ks, bool sync);
/* Moves the applied index past an entry that changes nothing here (a
 * Raft no-op or configuration entry, or a command every replica rejects
 * the same way). */
int kv_apply_noop(struct kv_state *ks, uint64_t index);
/* The open batch (NULL when none), for the other tables kvd keeps in the
 * same store (catalog_state.c) so their writes commit with the applied
 * index; such an entry then moves the index with kv_apply_noop(). */
struct store_batch *kv_state_batch(struct kv_state *ks);
/* Re-reads the indexes after the store was replaced under the state (a
 * snapshot restore). */
int kv_state_reload(struct kv_state *ks, struct lerr *e);
void kv_state_abort(struct kv_state *ks);

/* Reads, from committed state only. */
/* 0 with *out filled, or -LE_NOTFOUND. */
int kv_get(struct kv_state *ks, const char *key, size_t klen,
    struct kv_entry *out);
/* Calls fn for each entry whose key starts with prefix, in key order.
 * The entry passed to fn is borrowed for the call only. fn returns 0 to
 * continue, non-zero to stop (returned as-is). */
typedef int (*kv_list_fn)(void *arg, const struct kv_entry *e);
int kv_list(struct kv_state *ks, const char *prefix, size_t plen,
    kv_list_fn fn, void *arg);
/* Consul's ?keys&separator=: each distinct key under prefix, rolled up
 * after the first separator following the prefix (the rolled-up key
 * includes the separator). sep may be NULL/empty for no roll-up. */
typedef int (*kv_key_fn)(void *arg, const char *key, size_t klen);
int kv_keys(struct kv_state *ks, const char *prefix, size_t plen,
    const char *sep, size_t seplen, kv_key_fn fn, void *arg);
/* The index a read reports (X-Consul-Index), as Consul computes it:
 * for one key: its ModifyIndex if it exists, else the KV table index;
 * for a prefix (recurse/keys): the max of ModifyIndex over entries and
 * tombstones under the prefix, or the KV table index if that is 0. */
uint64_t kv_key_index(struct kv_state *ks, const char *key, size_t klen);
uint64_t kv_prefix_index(struct kv_state *ks, const char *prefix,
    size_t plen);
/* The number of tombstones held (a full scan: for stats and tests). */
size_t kv_tombstone_count(struct kv_state *ks);
/* A stable digest (FNV-1a 64) over every entry and tombstone, to compare
 * replicas. */
uint64_t kv_state_digest(struct kv_state *ks);

#endif
