/* wal_trim.c: RocksDB's write-ahead log files cut back to their intact
 * records (see wal_trim.h for why). */
#include "wal_trim.h"
#include "log.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAL_BLOCK	32768u
#define WAL_HDR		7u	/* crc, length, type */
#define WAL_RHDR	11u	/* and the log number: the reusable types */

enum {
	WT_ZERO = 0,		/* padding of a preallocated region */
	WT_FULL = 1, WT_FIRST, WT_MIDDLE, WT_LAST,
	WT_RFULL = 5, WT_RFIRST, WT_RMIDDLE, WT_RLAST,
};

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
		crc_table[i] = c;
	}
}

uint32_t
wal_crc32c(uint32_t crc, const uint8_t *p, size_t len)
{
	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len-- > 0)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* RocksDB stores crc32c's of data that may hold crc32c's masked. */
static bool
crc_matches(const uint8_t *hdr, size_t hsz, size_t n)
{
	uint32_t c = wal_crc32c(0, hdr + 6, hsz - 6 + n);

	c = ((c >> 15) | (c << 17)) + 0xa282ead8u;
	return c == le32(hdr);
}

struct wal_prefix
wal_intact_prefix(const uint8_t *buf, size_t len, uint64_t lognum)
{
	struct wal_prefix r = { 0, 0, WAL_SCAN_OK };
	size_t pos = 0;
	int reusable = -1;	/* the file's format, from its first record */
	bool in_record = false;	/* between a FIRST and its LAST */

	for (;;) {
		size_t hsz = reusable == 0 ? WAL_HDR : WAL_RHDR;
		size_t room = WAL_BLOCK - pos % WAL_BLOCK;
		const uint8_t *h = buf + pos;
		size_t n, need;
		unsigned t;

		if (room < hsz) {	/* the block's padding */
			if (len - pos <= room)
				break;
			pos += room;
			continue;
		}
		if (len - pos < WAL_HDR)
			break;
		n = (size_t)h[4] | (size_t)h[5] << 8;
		t = h[6];
		if (t > WT_RLAST) {
			/* A checksummed record of a later RocksDB's kind
			 * (compression, timestamps) is not garbage. */
			if ((WAL_HDR + n <= room && WAL_HDR + n <= len - pos &&
			    crc_matches(h, WAL_HDR, n)) ||
			    (WAL_RHDR + n <= room && WAL_RHDR + n <= len - pos &&
			    crc_matches(h, WAL_RHDR, n)))
				r.verdict = WAL_SCAN_UNKNOWN;
			break;
		}
		if (t == WT_ZERO)
			break;
		if (reusable == -1)
			reusable = t >= WT_RFULL;
		else if ((t >= WT_RFULL) != (reusable == 1))
			break;	/* a record from before the file's reuse */
		hsz = reusable ? WAL_RHDR : WAL_HDR;
		need = hsz + n;
		if (need > room || need > len - pos)
			break;
		if (reusable && le32(h + 7) != (uint32_t)lognum)
			break;	/* the file's previous life */
		if (!crc_matches(h, hsz, n))
			break;
		switch (reusable ? t - 4 : t) {
		case WT_FULL:
		case WT_FIRST:
			if (in_record)
				return r;
			in_record = t == WT_FIRST || t == WT_RFIRST;
			break;
		case WT_MIDDLE:
			if (!in_record)
				return r;
			break;
		default:	/* WT_LAST */
			if (!in_record)
				return r;
			in_record = false;
			break;
		}
		pos += need;
		if (!in_record) {
			r.len = pos;
			r.records++;
		}
	}
	return r;
}

/* "<digits>.log", RocksDB's name for a write-ahead log file. */
static bool
wal_name(const char *name, uint64_t *num)
{
	const char *p = name;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (strcmp(p, ".log") != 0)
		return false;
	*num = v;
	return true;
}

static int
trim_file(int dfd, const char *dir, const char *name, uint64_t num,
    struct wal_trim_stats *st, struct lerr *e)
{
	struct wal_prefix p;
	struct stat sb;
	void *map;
	int fd, rv = 0;

	if ((fd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return lerr_set(e, LE_IO, "rocksdb log %s/%s: open: %s", dir,
		    name, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rv = lerr_set(e, LE_IO, "rocksdb log %s/%s: not a regular file",
		    dir, name);
		goto out;
	}
	st->files++;
	if (sb.st_size == 0)
		goto out;
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		rv = lerr_set(e, LE_IO, "rocksdb log %s/%s: mmap: %s", dir,
		    name, strerror(errno));
		goto out;
	}
	p = wal_intact_prefix(map, (size_t)sb.st_size, num);
	munmap(map, (size_t)sb.st_size);
	if (p.verdict == WAL_SCAN_UNKNOWN) {
		st->unknown++;
		log_warnx("rocksdb log %s/%s: a record of a kind this build "
		    "does not know after %zu bytes; left as it is", dir, name,
		    p.len);
		goto out;
	}
	if (p.len == (size_t)sb.st_size)
		goto out;
	if (ftruncate(fd, (off_t)p.len) != 0 || fsync(fd) != 0) {
		rv = lerr_set(e, LE_IO, "rocksdb log %s/%s: cutting to %zu "
		    "bytes: %s", dir, name, p.len, strerror(errno));
		goto out;
	}
	st->cut++;
	st->bytes_cut += (uint64_t)sb.st_size - p.len;
	log_info("rocksdb log %s/%s: kept %llu whole records (%zu bytes), "
	    "cut the %llu bytes after them", dir, name,
	    (unsigned long long)p.records, p.len,
	    (unsigned long long)((uint64_t)sb.st_size - p.len));
out:
	close(fd);
	return rv;
}

/* RocksDB holds an fcntl write lock on LOCK while the database is open.
 * Closing any descriptor of the file drops this process's locks on it,
 * so this must not run while this process has the database open. */
static int
lock_db(int dfd, const char *dir, int *lfd, struct lerr *e)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	*lfd = openat(dfd, "LOCK", O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (*lfd < 0) {
		if (errno == ENOENT)
			return 0;	/* never opened: no logs to read */
		return lerr_set(e, LE_IO, "rocksdb %s/LOCK: %s", dir,
		    strerror(errno));
	}
	if (fcntl(*lfd, F_SETLK, &fl) == 0)
		return 0;
	if (errno == EACCES || errno == EAGAIN) {
		struct flock who = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		long pid = fcntl(*lfd, F_GETLK, &who) == 0 ? who.l_pid : 0;

		close(*lfd);
		*lfd = -1;
		return lerr_set(e, LE_STATE, "rocksdb %s is open in another "
		    "process (pid %ld)", dir, pid);
	}
	close(*lfd);
	*lfd = -1;
	return lerr_set(e, LE_IO, "rocksdb %s/LOCK: lock: %s", dir,
	    strerror(errno));
}

int
wal_trim_dir(const char *dir, struct wal_trim_stats *st, struct lerr *e)
{
	struct dirent *de;
	DIR *d;
	int dfd, lfd = -1, rv;

	memset(st, 0, sizeof(*st));
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		return lerr_set(e, LE_IO, "rocksdb %s: %s", dir,
		    strerror(errno));
	}
	dfd = dirfd(d);
	if ((rv = lock_db(dfd, dir, &lfd, e)) != 0 || lfd < 0) {
		closedir(d);
		return rv;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t num;

		if (!wal_name(de->d_name, &num))
			continue;
		if ((rv = trim_file(dfd, dir, de->d_name, num, st, e)) != 0)
			break;
	}
	close(lfd);
	closedir(d);
	return rv;
}
