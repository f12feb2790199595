/* persist.h: raftd's persistence thread. The loop thread fills a batch
 * (log entries, hard state, snapshot metadata) during a turn and hands it
 * over in its idle hook; the thread commits it with one fsync and posts
 * the completion back to the loop. While one batch syncs, the next one
 * gathers: group commit, and the loop never waits for the disk. Batches
 * complete in the order they were handed over. */
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

#endif
