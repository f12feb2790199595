/* snapfile.h: the envelope of a snapshot file. kvd writes its whole
 * state as one (kvd/kv_snapshot.c has the records' format); raftd keeps
 * the newest, reads it back, ships it to servers that fell behind and
 * receives theirs. Both check the envelope of every file they read or
 * receive, so that a damaged copy is refused where it is found instead
 * of being installed and failing every restore after it.
 *
 * Layout (integers big-endian):
 *   "LICTSNP1"  index(u64)
 *   records
 *   trailer:    0xffffffff count(u64) fnv64(u64)
 * where fnv64 is FNV-1a (64-bit, util.h's fnv64) over every byte before it. */
#ifndef LICTOR_SNAPFILE_H
#define LICTOR_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SNAPFILE_MAGIC "LICTSNP1"
#define SNAPFILE_HDR 16		/* magic, index */
#define SNAPFILE_TRAILER 20	/* end mark, count, fnv64 */
#define SNAPFILE_END 0xffffffffu

/* The big-endian u64 at p. */
uint64_t snapfile_get64(const void *p);

/* Checks magic, size and checksum of a whole file's bytes; *index gets
 * the index its header names. -LE_CORRUPT with e saying what is wrong. */
int snapfile_check(const void *buf, size_t len, uint64_t *index,
    struct lerr *e);

#endif
