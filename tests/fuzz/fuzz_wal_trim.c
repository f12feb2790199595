/* fuzz_wal_trim.c: libFuzzer target for the scanner that decides where
 * a RocksDB log file's intact records end (common/wal_trim.c): the file
 * on disk is untrusted. Input: a mode byte, an offset byte, four bytes
 * of log number, then the file's bytes. With the mode's low bit set the
 * bytes follow a valid record that ends 0-63 bytes before a 32 KiB
 * block's end, so that the block padding and records crossing into the
 * next block are reached within libFuzzer's short inputs. Checks: the prefix is within
 * the bytes, and the prefix alone scans to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wal_trim.h"

#define BLOCK 32768u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A valid FULL record (reusable format) of n payload bytes at b. */
static void
full_record(uint8_t *b, size_t n, uint32_t lognum)
{
	uint32_t c;

	memset(b + 11, 0x5a, n);
	b[4] = (uint8_t)n;
	b[5] = (uint8_t)(n >> 8);
	b[6] = 5;
	memcpy(b + 7, &lognum, 4);	/* little-endian, as on x86 */
	c = wal_crc32c(0, b + 6, 5 + n);
	c = ((c >> 15) | (c << 17)) + 0xa282ead8u;
	memcpy(b, &c, 4);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wal_prefix p, q;
	uint32_t lognum;
	size_t pre = 0, len;
	uint8_t *buf;

	if (size < 6)
		return 0;
	memcpy(&lognum, data + 2, 4);
	if (data[0] & 1)
		pre = BLOCK - data[1] % 64;	/* 0..63 bytes short */
	len = pre + size - 6;
	if ((buf = malloc(len + 1)) == NULL)
		return 0;
	if (pre > 0)
		full_record(buf, pre - 11, lognum);
	memcpy(buf + pre, data + 6, size - 6);

	p = wal_intact_prefix(buf, len, lognum);
	if (p.len > len || (pre > 0 && p.len < pre))
		abort();
	q = wal_intact_prefix(buf, p.len, lognum);
	if (q.len != p.len || q.records != p.records)
		abort();
	free(buf);
	return 0;
}
