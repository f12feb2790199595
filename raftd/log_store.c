/* log_store.c: the encoding of raftd's durable state; see log_store.h. */
#include "log_store.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const char K_TERM[] = "h:term";
static const char K_VOTE[] = "h:vote";
static const char K_SNAP[] = "s:meta";

void
ls_entry_key(uint8_t k[9], uint64_t index)
{
	k[0] = 'e';
	be_put(k + 1, 8, index);
}

static int
get_u64(struct store *s, const char *key, uint64_t *v)
{
	void *val;
	size_t len;
	int rv;

	*v = 0;
	if ((rv = store_get(s, key, strlen(key), &val, &len)) == -LE_NOTFOUND)
		return 0;
	if (rv != 0)
		return rv;
	rv = len == 8 ? 0 : -LE_CORRUPT;
	if (rv == 0)
		*v = be_get(val, 8);
	free(val);
	return rv;
}

int
ls_load(struct store *s, struct ls_state *st, ls_entry_fn fn, void *arg,
    struct lerr *e)
{
	struct store_iter *it;
	const void *key, *val;
	size_t klen, vlen;
	void *v;
	size_t len;
	int rv;

	memset(st, 0, sizeof(*st));
	if ((rv = get_u64(s, K_TERM, &st->term)) != 0)
		return lerr_set(e, -rv, "raft state: term: %s",
		    le_strerror(rv));
	rv = store_get(s, K_VOTE, strlen(K_VOTE), &v, &len);
	if (rv == 0) {
		if (len > LS_MAX_ID) {
			free(v);
			return lerr_set(e, LE_CORRUPT, "raft state: vote");
		}
		memcpy(st->vote, v, len);
		st->vote[len] = '\0';
		free(v);
	} else if (rv != -LE_NOTFOUND) {
		return lerr_set(e, -rv, "raft state: vote: %s",
		    le_strerror(rv));
	}
	rv = store_get(s, K_SNAP, strlen(K_SNAP), &v, &len);
	if (rv == 0) {
		if (len < 16) {
			free(v);
			return lerr_set(e, LE_CORRUPT,
			    "raft state: snapshot metadata");
		}
		st->snap_index = be_get(v, 8);
		st->snap_term = be_get((uint8_t *)v + 8, 8);
		st->snap_conf_len = len - 16;
		st->snap_conf = malloc(st->snap_conf_len ? st->snap_conf_len :
		    1);
		if (st->snap_conf == NULL) {
			free(v);
			return lerr_set(e, LE_NOMEM, "raft state");
		}
		memcpy(st->snap_conf, (uint8_t *)v + 16, st->snap_conf_len);
		free(v);
	} else if (rv != -LE_NOTFOUND) {
		return lerr_set(e, -rv, "raft state: snapshot: %s",
		    le_strerror(rv));
	}
	it = store_iter_new(s, NULL, "e", 1);
	rv = 0;
	while (store_iter_next(it, &key, &klen, &val, &vlen) == 1) {
		struct ls_entry ent;

		if (klen != 9 || vlen < 9) {
			rv = lerr_set(e, LE_CORRUPT, "raft log: bad record");
			break;
		}
		ent.index = be_get((const uint8_t *)key + 1, 8);
		ent.term = be_get(val, 8);
		ent.type = ((const uint8_t *)val)[8];
		ent.data = (const uint8_t *)val + 9;
		ent.len = vlen - 9;
		if (ent.index == 0 || (st->last != 0 &&
		    ent.index != st->last + 1)) {
			rv = lerr_set(e, LE_CORRUPT, "raft log: entry %llu "
			    "after %llu", (unsigned long long)ent.index,
			    (unsigned long long)st->last);
			break;
		}
		if (st->first == 0)
			st->first = ent.index;
		st->last = ent.index;
		if (fn != NULL && (rv = fn(arg, &ent)) != 0) {
			rv = lerr_set(e, rv < 0 ? -rv : LE_CORRUPT,
			    "raft log: entry %llu rejected",
			    (unsigned long long)ent.index);
			break;
		}
	}
	store_iter_free(it);
	if (rv != 0) {
		free(st->snap_conf);
		st->snap_conf = NULL;
	}
	return rv;
}

int
ls_put_hardstate(struct store_batch *b, uint64_t term, const char *vote)
{
	uint8_t v[8];
	int rv;

	be_put(v, 8, term);
	if ((rv = store_batch_put(b, K_TERM, strlen(K_TERM), v, 8)) != 0)
		return rv;
	return store_batch_put(b, K_VOTE, strlen(K_VOTE), vote ? vote : "",
	    vote ? strlen(vote) : 0);
}

int
ls_put_entry(struct store_batch *b, const struct ls_entry *ent)
{
	uint8_t k[9], *v;
	int rv;

	if (ent->len > LS_MAX_ENTRY)
		return -LE_TOOBIG;
	ls_entry_key(k, ent->index);
	if ((v = malloc(9 + ent->len)) == NULL)
		return -LE_NOMEM;
	be_put(v, 8, ent->term);
	v[8] = ent->type;
	if (ent->len > 0)
		memcpy(v + 9, ent->data, ent->len);
	rv = store_batch_put(b, k, 9, v, 9 + ent->len);
	free(v);
	return rv;
}

int
ls_del_entries(struct store_batch *b, uint64_t from, uint64_t to)
{
	uint8_t k[9];
	int rv;

	for (uint64_t i = from; i != 0 && i <= to; i++) {
		ls_entry_key(k, i);
		if ((rv = store_batch_del(b, k, 9)) != 0)
			return rv;
	}
	return 0;
}

int
ls_put_snap_meta(struct store_batch *b, uint64_t index, uint64_t term,
    const void *conf, size_t conf_len)
{
	uint8_t *v;
	int rv;

	if ((v = malloc(16 + conf_len)) == NULL)
		return -LE_NOMEM;
	be_put(v, 8, index);
	be_put(v + 8, 8, term);
	if (conf_len > 0)
		memcpy(v + 16, conf, conf_len);
	rv = store_batch_put(b, K_SNAP, strlen(K_SNAP), v, 16 + conf_len);
	free(v);
	return rv;
}
