/* fuzz_snapfile.c: libFuzzer target for the envelope check of snapshot
 * files (common/snapfile.c), run on every snapshot raftd loads from its
 * disk or receives from a leader, and by kvd before a restore: the bytes
 * are untrusted. Input: the file's bytes. With the first byte's low bit
 * set, the rest gets a correct checksum appended, so that accepted files
 * are reached too. Checks: what is accepted is at least a header and a
 * trailer long, starts with the magic and carries its own checksum; the
 * index handed back is the header's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "snapfile.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lerr e;
	uint8_t *b;
	size_t len;
	uint64_t idx = 0, h, want = 0;

	if (size == 0)
		return 0;
	len = size - 1;
	b = malloc(len + 8 + 1);
	if (b == NULL)
		return 0;
	memcpy(b, data + 1, len);
	if (data[0] & 1) {
		h = fnv64(FNV64_OFFSET, b, len);
		for (int i = 7; i >= 0; i--, h >>= 8)
			b[len + (size_t)i] = (uint8_t)h;
		len += 8;
	}
	if (snapfile_check(b, len, &idx, &e) == 0) {
		if (len < SNAPFILE_HDR + SNAPFILE_TRAILER ||
		    memcmp(b, SNAPFILE_MAGIC, 8) != 0)
			abort();
		for (size_t i = 0; i < 8; i++)
			want = want << 8 | b[8 + i];
		if (want != idx)
			abort();
		h = 0;
		for (size_t i = 0; i < 8; i++)
			h = h << 8 | b[len - 8 + i];
		if (h != fnv64(FNV64_OFFSET, b, len - 8))
			abort();
	} else if (e.msg[0] == '\0') {
		abort();	/* a refusal always says why */
	}
	free(b);
	return 0;
}
