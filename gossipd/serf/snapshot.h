/* snapshot.h: Serf's snapshot file (serf/snapshot.go), the only I/O of
 * the Serf layer. One line per fact, appended as it happens:
 *   alive: <name> <ip:port>      a member joined
 *   not-alive: <name>            it left or failed
 *   clock: N / event-clock: N / query-clock: N
 *   leave                        we left (forget all, unless rejoining
 *                                after a leave is allowed)
 *   coordinate: ... and # lines  ignored
 * Replayed on open: the last clocks and the alive members to rejoin.
 * Compacted (rewritten from memory, then renamed over) when it grows past
 * max(128 KiB, 2 x 128 bytes per alive member). Lines are buffered and
 * flushed every 500 ms (snap_tick), at leave and at close (with fsync).
 * Write errors are logged through the callback and retried by compacting
 * at most every 30 s, as Serf does; the layer never stops for them. */
#ifndef LICTOR_SERF_SNAPSHOT_H
#define LICTOR_SERF_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "swim.h"

struct serf_snap;

/* A member to rejoin. */
struct snap_prev {
	char *name;
	struct swim_addr addr;
};

#define SNAP_MIN_COMPACT	(128 * 1024)

/* Opens (creating, mode 0600) and replays path. log may be NULL. Lines
 * that do not parse are skipped with a warning, as Serf does. -LE_IO. */
int snap_open(const char *path, bool rejoin_after_leave, size_t min_compact,
    void (*log)(void *arg, int level, const char *msg), void *log_arg,
    struct serf_snap **out);
/* Flushes, fsyncs and closes. */
void snap_close(struct serf_snap *s);

uint64_t snap_last_clock(const struct serf_snap *s);
uint64_t snap_last_event_clock(const struct serf_snap *s);
uint64_t snap_last_query_clock(const struct serf_snap *s);
/* The alive members as replayed, in file order of their last alive line
 * (the caller shuffles). *out is malloc'd (free with snap_prev_free). */
int snap_alive(const struct serf_snap *s, struct snap_prev **out, size_t *n);
void snap_prev_free(struct snap_prev *p, size_t n);

/* What Serf's snapshotter records. member_clock is the member clock's
 * current time (the snapshot keeps time - 1, the last one seen). After
 * snap_leave nothing more is recorded. */
void snap_alive_member(struct serf_snap *s, const char *name,
    const struct swim_addr *a);
void snap_not_alive(struct serf_snap *s, const char *name);
void snap_clock(struct serf_snap *s, uint64_t member_clock);
void snap_event_clock(struct serf_snap *s, uint64_t ltime);
void snap_query_clock(struct serf_snap *s, uint64_t ltime);
void snap_leave(struct serf_snap *s);
/* Flushes buffered lines if 500 ms passed since the last flush. */
void snap_tick(struct serf_snap *s, uint64_t now_us);
size_t snap_size(const struct serf_snap *s);	/* bytes written */

/* "ip:port" as Go's net.TCPAddr prints it ([v6]:port) and back. */
int snap_addr_format(const struct swim_addr *a, char *buf, size_t len);
int snap_addr_parse(const char *s, struct swim_addr *a);

#endif
