/* rd.h: a field cursor over a payload array, shared by the decoders in
 * proto/. Each getter checks the field's type and bounds; the first
 * failure sticks, and rd_end() also fails if fields are left over (the
 * "at end of message" check). Internal to proto/. */
#ifndef LICTOR_PROTO_RD_H
#define LICTOR_PROTO_RD_H

#include "mp.h"
#include "err.h"

struct rd {
	const msgpack_object *it;
	uint32_t n, i;
	int err;
	const char *what;
	struct lerr *e;
};

int rd_open(struct rd *r, const msgpack_object *o, uint32_t n,
    const char *what, struct lerr *e);
void rd_u64(struct rd *r, uint64_t *v);
void rd_u32(struct rd *r, uint32_t *v);
void rd_i32(struct rd *r, int32_t *v);
void rd_i64(struct rd *r, int64_t *v);
void rd_bool(struct rd *r, bool *v);
void rd_str(struct rd *r, size_t max, const char **s, size_t *len);
void rd_str_or_nil(struct rd *r, size_t max, const char **s, size_t *len);
void rd_bin(struct rd *r, size_t max, const void **p, size_t *len);
/* The next field must be an array of at most max items. */
void rd_array(struct rd *r, uint32_t max, const msgpack_object **items,
    uint32_t *n);
int rd_end(struct rd *r);

#endif
