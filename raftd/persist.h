/* persist.h: raftd's persistence thread. The loop thread fills a batch
 * (log entries, hard state, snapshot metadata) during a turn and hands it
 * over in its idle hook; the thread commits it with one fsync and posts
 * the completion back to the loop. While one batch syncs, the next one
 * gathers: group commit. Batches complete in the order they were handed
 * over. When the thread is idle, raftd commits on its loop thread instead
 * (persist_commit_now): measured, that beats the hand-offs (architecture.md). */
#ifndef LICTOR_RAFTD_PERSIST_H
#define LICTOR_RAFTD_PERSIST_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"
#include "store.h"

struct persist;

/* Called on the loop thread when a batch is durable; rv != 0 if the
 * commit failed. token is what persist_submit was given. */
typedef void (*persist_done_fn)(void *arg, int rv, uint64_t token);

int persist_start(struct persist **out, struct loop *loop, struct store *s,
    bool sync, persist_done_fn fn, void *arg);
/* Stops the thread after the batches already handed over. */
void persist_stop(struct persist *p);
/* Hands a batch over (the thread owns and frees it). */
void persist_submit(struct persist *p, struct store_batch *b, uint64_t token);
/* After the batches handed over so far: delete keys [from, to) (no
 * fsync; for what durable state already covers). Completes like a batch
 * with token 0. */
void persist_delete_range(struct persist *p, const void *from, size_t flen,
    const void *to, size_t tlen);
/* Batches handed over and not yet completed. */
int persist_inflight(struct persist *p);
/* Commits b on the calling thread, with the same sync as the thread's,
 * and frees it; returns the commit's result. Only while nothing is in
 * flight (else -LE_STATE, and b is left to the caller), so batches still
 * reach the disk in order. Where the loop would only wait for the thread
 * anyway, this saves two thread hand-offs per batch. */
int persist_commit_now(struct persist *p, struct store_batch *b);

#endif
