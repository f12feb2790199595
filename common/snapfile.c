/* snapfile.c: the envelope of a snapshot file (snapfile.h). */
#include "snapfile.h"
#include "util.h"

#include <string.h>

uint64_t
snapfile_get64(const void *p)
{
	const unsigned char *c = p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | c[i];
	return v;
}

int
snapfile_check(const void *buf, size_t len, uint64_t *index,
    struct lerr *e)
{
	const unsigned char *b = buf;
	uint64_t want;

	if (buf == NULL || len < SNAPFILE_HDR + SNAPFILE_TRAILER)
		return lerr_set(e, LE_CORRUPT, "%zu bytes, too short for a "
		    "snapshot", buf == NULL ? 0 : len);
	if (memcmp(b, SNAPFILE_MAGIC, 8) != 0)
		return lerr_set(e, LE_CORRUPT, "not a snapshot (no %s header)",
		    SNAPFILE_MAGIC);
	want = snapfile_get64(b + len - 8);
	if (fnv64(FNV64_OFFSET, b, len - 8) != want)
		return lerr_set(e, LE_CORRUPT, "checksum mismatch over %zu "
		    "bytes", len);
	if (index != NULL)
		*index = snapfile_get64(b + 8);
	return 0;
}
