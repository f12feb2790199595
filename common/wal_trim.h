/* wal_trim.h: cuts RocksDB's write-ahead log files back to their intact
 * records before the database opens, so that raftd's store can reuse
 * its log files (recycle_log_file_num) with Debian 12's RocksDB 7.8.
 *
 * Why: a sync that overwrites blocks already on the disk skips the inode
 * write that an appending sync pays (docs/architecture.md, "The log's
 * disk writes"). RocksDB 7.8 reuses log files only in its
 * kSkipAnyCorruptedRecords recovery mode, whose reader spins forever on
 * a record torn across a block whose older contents came from the file's
 * previous life (facebook/rocksdb#11968) and would replay a stale record
 * left by a file written before reuse was turned on (#12591). Cutting
 * each file at the end of its last whole record of its own life leaves
 * the reader nothing to skip: what it replays is what point-in-time
 * recovery would replay, and a crash image recovers instead of hanging.
 *
 * The format (RocksDB's db/log_format.h, stable since 2015): 32 KiB
 * blocks of physical records; a header of crc32c (masked, 4 bytes, over
 * the type, the log number if any, and the payload), length (2), type
 * (1), and for the reusable types 5-8 the low 32 bits of the file's
 * number (4); FULL, or FIRST MIDDLE* LAST, make one logical record; a
 * block's last bytes, too few for a header, are padding. */
#ifndef LICTOR_WAL_TRIM_H
#define LICTOR_WAL_TRIM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The prefix's verdict. */
enum wal_scan {
	WAL_SCAN_OK = 0,	/* prefix is the intact records' length */
	WAL_SCAN_UNKNOWN,	/* a checksummed record of a type this code
				 * does not know: leave the file alone */
};

struct wal_prefix {
	size_t len;		/* bytes of whole, intact records */
	uint64_t records;	/* logical records in them */
	enum wal_scan verdict;
};

/* Scans a log file's bytes. lognum is the number in the file's name. */
struct wal_prefix wal_intact_prefix(const uint8_t *buf, size_t len,
    uint64_t lognum);

/* What wal_trim_dir did. */
struct wal_trim_stats {
	unsigned files;		/* log files looked at */
	unsigned cut;		/* of them, cut */
	uint64_t bytes_cut;	/* bytes removed from their ends */
	unsigned unknown;	/* left alone: records this code cannot read */
};

/* Cuts every <number>.log in the database directory dir to its intact
 * prefix and syncs it, holding the database's LOCK file meanwhile (a
 * database open in another process is refused with LE_STATE). A missing
 * dir is not an error (nothing to do). 0 or a negative code. */
int wal_trim_dir(const char *dir, struct wal_trim_stats *st,
    struct lerr *e);

/* CRC-32C (Castagnoli), as RocksDB's util/crc32c computes it. */
uint32_t wal_crc32c(uint32_t crc, const uint8_t *p, size_t len);

#endif
