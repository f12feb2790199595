/* store_impl.h: private to store_mem.c and store_rocks.c. The ops table
 * behind store.h's functions: each implementation's objects begin with
 * the base struct below, and the public store_* functions (in
 * store_mem.c) dispatch through s->ops. Nothing else includes this. */
#ifndef LICTOR_STORE_IMPL_H
#define LICTOR_STORE_IMPL_H

#include "store.h"

struct store_ops {
	const char *name;
	void (*close)(struct store *s);
	int (*get)(struct store *s, const void *key, size_t klen, void **val,
	    size_t *vlen);
	struct store_batch *(*batch_new)(struct store *s);
	int (*batch_put)(struct store_batch *b, const void *key, size_t klen,
	    const void *val, size_t vlen);
	int (*batch_del)(struct store_batch *b, const void *key, size_t klen);
	int (*batch_get)(struct store_batch *b, const void *key, size_t klen,
	    void **val, size_t *vlen);
	int (*batch_commit)(struct store_batch *b, bool sync);
	void (*batch_free)(struct store_batch *b);
	size_t (*batch_count)(struct store_batch *b);
	struct store_iter *(*iter_new)(struct store *s, struct store_batch *b,
	    const void *prefix, size_t plen);
	void (*iter_seek)(struct store_iter *it, const void *key, size_t klen);
	int (*iter_next)(struct store_iter *it, const void **key,
	    size_t *klen, const void **val, size_t *vlen);
	void (*iter_free)(struct store_iter *it);
	/* Optional; store_delete_range falls back to deleting key by key. */
	int (*delete_range)(struct store *s, const void *from, size_t flen,
	    const void *to, size_t tlen);
};

/* The first member of every implementation's object. */
struct store {
	const struct store_ops *ops;
};

struct store_batch {
	struct store *s;
};

struct store_iter {
	struct store *s;
};

#endif
