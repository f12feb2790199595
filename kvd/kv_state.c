/* kv_state.c: the KV table as Consul's state store keeps it (kvs.go):
 * entries, tombstones, the table index and the last applied index, all
 * in the store behind store.h. kv_apply() reads through the open batch
 * (so later commands of one group commit see earlier ones) and reads for
 * clients see committed state only.
 *
 * Entry encoding, the value of "k:" key (big-endian):
 *   u8  version (1)
 *   u64 CreateIndex, u64 ModifyIndex, u64 LockIndex, u64 Flags
 *   u32 session length (0: unlocked), session bytes
 *   value bytes (the rest; may be empty)
 * Stored bytes are untrusted input: decoding checks every length and
 * answers -LE_CORRUPT, never reads past the end.
 *
 * A command validates and does all its reads before its first write, so
 * an error leaves the batch as it was; only a failed allocation while
 * writing into an in-memory batch can leave it half done (then abort). */
#include "kv_state.h"
#include "log.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_V1	1
#define ENTRY_HDR	(1 + 4 * 8 + 4)
#define KV_MAX_SESSION	256	/* Consul's session IDs are 36-byte UUIDs */

static const char KEY_APPLIED[] = "m:applied";
static const char KEY_KVINDEX[] = "m:kvindex";

struct kv_state {
	struct store *s;		/* borrowed */
	struct store_batch *b;		/* the open batch, or NULL */
	uint64_t applied;		/* including the open batch */
	uint64_t kvindex;
	uint64_t c_applied;		/* committed: what reads report */
	uint64_t c_kvindex;
};

/* A store key: one tag byte, ':', then the KV key. */
struct skey {
	uint8_t b[2 + KV_MAX_KEY];
	size_t len;
};

/* An entry decoded in place: pointers into the stored bytes. */
struct ent {
	uint64_t create;
	uint64_t modify;
	uint64_t lock;
	uint64_t flags;
	const uint8_t *session;
	size_t slen;
	const uint8_t *value;
	size_t vlen;
};

/* A growable buffer: scratch space, or a list of store keys collected
 * before a multi-key write (writing into a batch while iterating it is
 * not allowed), as records of (size_t length, bytes). */
struct buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t n;	/* records */
};

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
mkkey(struct skey *k, char tag, const void *key, size_t klen)
{
	k->b[0] = (uint8_t)tag;
	k->b[1] = ':';
	if (klen)
		memcpy(k->b + 2, key, klen);
	k->len = 2 + klen;
}

/* Whether a key or prefix can name anything: bounded, no NUL. */
static bool
key_ok(const char *key, size_t klen)
{
	return klen <= KV_MAX_KEY && (klen == 0 ||
	    (key != NULL && memchr(key, '\0', klen) == NULL));
}

static int
ent_decode(const void *buf, size_t n, struct ent *e)
{
	const uint8_t *p = buf;
	uint32_t slen;

	if (n < ENTRY_HDR || p[0] != ENTRY_V1)
		return -LE_CORRUPT;
	e->create = get_u64(p + 1);
	e->modify = get_u64(p + 9);
	e->lock = get_u64(p + 17);
	e->flags = get_u64(p + 25);
	slen = (uint32_t)p[33] << 24 | (uint32_t)p[34] << 16 |
	    (uint32_t)p[35] << 8 | p[36];
	/* Indexes start at 1 and only grow: anything else is damage. */
	if (e->create == 0 || e->modify < e->create ||
	    slen > KV_MAX_SESSION || slen > n - ENTRY_HDR)
		return -LE_CORRUPT;
	e->session = p + ENTRY_HDR;
	e->slen = slen;
	if (memchr(e->session, '\0', slen) != NULL)
		return -LE_CORRUPT;
	e->value = p + ENTRY_HDR + slen;
	e->vlen = n - ENTRY_HDR - slen;
	return 0;
}

/* Encodes e with the value (val, vlen) into a malloc'd buffer. */
static int
ent_encode(const struct ent *e, const void *val, size_t vlen, uint8_t **out,
    size_t *n)
{
	size_t len = ENTRY_HDR + e->slen + vlen;
	uint8_t *p = malloc(len);

	if (p == NULL)
		return -LE_NOMEM;
	p[0] = ENTRY_V1;
	put_u64(p + 1, e->create);
	put_u64(p + 9, e->modify);
	put_u64(p + 17, e->lock);
	put_u64(p + 25, e->flags);
	p[33] = (uint8_t)(e->slen >> 24);
	p[34] = (uint8_t)(e->slen >> 16);
	p[35] = (uint8_t)(e->slen >> 8);
	p[36] = (uint8_t)e->slen;
	if (e->slen)
		memcpy(p + ENTRY_HDR, e->session, e->slen);
	if (vlen)
		memcpy(p + ENTRY_HDR + e->slen, val, vlen);
	*out = p;
	*n = len;
	return 0;
}

void
kv_entry_clear(struct kv_entry *e)
{
	if (e == NULL)
		return;
	free(e->key);
	free(e->value);
	free(e->session);
	memset(e, 0, sizeof(*e));
}

static char *
dupz(const void *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		if (n)
			memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* Fills out with its own copies of everything. */
static int
entry_fill(struct kv_entry *out, const void *key, size_t klen,
    const struct ent *e)
{
	memset(out, 0, sizeof(*out));
	out->key = dupz(key, klen);
	out->value = e->vlen ? (uint8_t *)dupz(e->value, e->vlen) : NULL;
	out->session = e->slen ? dupz(e->session, e->slen) : NULL;
	if (out->key == NULL || (e->vlen && out->value == NULL) ||
	    (e->slen && out->session == NULL)) {
		kv_entry_clear(out);
		return -LE_NOMEM;
	}
	out->key_len = klen;
	out->value_len = e->vlen;
	out->create_index = e->create;
	out->modify_index = e->modify;
	out->lock_index = e->lock;
	out->flags = e->flags;
	return 0;
}

/* Keys are any bytes but NUL, newlines too: log a tame copy. */
static void
warn_corrupt(const void *key, size_t klen)
{
	char buf[80];
	size_t n = klen < sizeof(buf) - 1 ? klen : sizeof(buf) - 1;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = ((const uint8_t *)key)[i];

		buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[n] = '\0';
	log_warnx("kv: corrupt entry for key \"%s\"%s", buf,
	    n < klen ? "..." : "");
}

/* Reads a u64 meta value: 0 when absent. */
static int
read_u64(struct store *s, const char *key, uint64_t *v)
{
	void *val;
	size_t vlen;
	int rv;

	*v = 0;
	rv = store_get(s, key, strlen(key), &val, &vlen);
	if (rv == -LE_NOTFOUND)
		return 0;
	if (rv != 0)
		return rv;
	if (vlen == 8)
		*v = get_u64(val);
	free(val);
	return vlen == 8 ? 0 : -LE_CORRUPT;
}

static int
load_indexes(struct kv_state *ks, struct lerr *e)
{
	uint64_t applied, kvindex;
	int rv;

	if ((rv = read_u64(ks->s, KEY_APPLIED, &applied)) != 0)
		return lerr_set(e, rv, "reading %s: %s", KEY_APPLIED,
		    le_strerror(rv));
	if ((rv = read_u64(ks->s, KEY_KVINDEX, &kvindex)) != 0)
		return lerr_set(e, rv, "reading %s: %s", KEY_KVINDEX,
		    le_strerror(rv));
	if (kvindex > applied)
		return lerr_set(e, LE_CORRUPT, "KV index %llu is past the "
		    "applied index %llu", (unsigned long long)kvindex,
		    (unsigned long long)applied);
	ks->applied = ks->c_applied = applied;
	ks->kvindex = ks->c_kvindex = kvindex;
	return 0;
}

int
kv_state_open(struct store *s, struct kv_state **out, struct lerr *e)
{
	struct kv_state *ks;
	int rv;

	*out = NULL;
	if (s == NULL)
		return lerr_set(e, LE_INVAL, "no store");
	if ((ks = calloc(1, sizeof(*ks))) == NULL)
		return lerr_set(e, LE_NOMEM, "out of memory");
	ks->s = s;
	if ((rv = load_indexes(ks, e)) != 0) {
		free(ks);
		return rv;
	}
	*out = ks;
	return 0;
}

void
kv_state_close(struct kv_state *ks)
{
	if (ks == NULL)
		return;
	store_batch_free(ks->b);	/* uncommitted writes are dropped */
	free(ks);
}

uint64_t
kv_state_applied(const struct kv_state *ks)
{
	return ks->applied;
}

uint64_t
kv_state_kv_index(const struct kv_state *ks)
{
	return ks->kvindex;
}

int
kv_batch_begin(struct kv_state *ks)
{
	if (ks->b != NULL)
		return -LE_STATE;
	if ((ks->b = store_batch_new(ks->s)) == NULL)
		return -LE_NOMEM;
	return 0;
}

/* Commits and frees the batch; on failure the indexes fall back to the
 * committed ones (kv_state_abort then re-reads them from the store). */
int
kv_batch_commit(struct kv_state *ks, bool sync)
{
	uint8_t v[8];
	int rv;

	if (ks->b == NULL)
		return -LE_STATE;
	/* The indexes the batch moved, written with it: one record each per
	 * batch rather than per command. */
	put_u64(v, ks->applied);
	rv = ks->applied == ks->c_applied ? 0 : store_batch_put(ks->b,
	    KEY_APPLIED, strlen(KEY_APPLIED), v, sizeof(v));
	put_u64(v, ks->kvindex);
	if (rv == 0 && ks->kvindex != ks->c_kvindex)
		rv = store_batch_put(ks->b, KEY_KVINDEX, strlen(KEY_KVINDEX),
		    v, sizeof(v));
	if (rv == 0)
		rv = store_batch_commit(ks->b, sync);
	store_batch_free(ks->b);
	ks->b = NULL;
	if (rv == 0) {
		ks->c_applied = ks->applied;
		ks->c_kvindex = ks->kvindex;
	} else {
		ks->applied = ks->c_applied;
		ks->kvindex = ks->c_kvindex;
	}
	return rv;
}

void
kv_state_abort(struct kv_state *ks)
{
	struct lerr e;

	store_batch_free(ks->b);
	ks->b = NULL;
	if (load_indexes(ks, &e) != 0) {
		log_warnx("kv state: %s; keeping the last committed indexes",
		    e.msg);
		ks->applied = ks->c_applied;
		ks->kvindex = ks->c_kvindex;
	}
}

static int
buf_room(struct buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	uint8_t *p;

	if (b->cap - b->len >= need)
		return 0;
	while (cap - b->len < need)
		cap *= 2;
	if ((p = realloc(b->p, cap)) == NULL)
		return -LE_NOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int
keylist_add(struct buf *l, const void *key, size_t klen)
{
	if (buf_room(l, sizeof(size_t) + klen) != 0)
		return -LE_NOMEM;
	memcpy(l->p + l->len, &klen, sizeof(size_t));
	memcpy(l->p + l->len + sizeof(size_t), key, klen);
	l->len += sizeof(size_t) + klen;
	l->n++;
	return 0;
}

/* Walks the list: *off starts at 0; returns false at the end. */
static bool
keylist_next(const struct buf *l, size_t *off, const uint8_t **key,
    size_t *klen)
{
	if (*off >= l->len)
		return false;
	memcpy(klen, l->p + *off, sizeof(size_t));
	*key = l->p + *off + sizeof(size_t);
	*off += sizeof(size_t) + *klen;
	return true;
}

/* Reads the entry at k, through b when given: 0 and *found, or an
 * error. The caller frees *raw (NULL unless found). */
static int
read_entry(struct kv_state *ks, struct store_batch *b, const struct skey *k,
    bool decode, void **raw, struct ent *e, bool *found)
{
	size_t n;
	int rv;

	*found = false;
	*raw = NULL;
	rv = b ? store_batch_get(b, k->b, k->len, raw, &n) :
	    store_get(ks->s, k->b, k->len, raw, &n);
	if (rv == -LE_NOTFOUND)
		return 0;
	if (rv != 0)
		return rv;
	if (decode && (rv = ent_decode(*raw, n, e)) != 0) {
		warn_corrupt(k->b + 2, k->len - 2);
		free(*raw);
		*raw = NULL;
		return rv;
	}
	*found = true;
	return 0;
}

/* SET and CAS (kvsSetTxn, kvsSetCASTxn). */
static int
apply_set(struct kv_state *ks, uint64_t index, const struct kv_cmd *cmd,
    bool cas, bool *result, bool *changed)
{
	struct skey k, t;
	struct ent old, ne;
	void *raw, *traw = NULL;
	uint8_t *enc;
	size_t elen;
	bool found, tfound = false;
	int rv;

	mkkey(&k, 'k', cmd->key, cmd->key_len);
	mkkey(&t, 't', cmd->key, cmd->key_len);
	if ((rv = read_entry(ks, ks->b, &k, true, &raw, &old, &found)) != 0)
		return rv;
	if (cas && (cmd->index == 0 ? found :
	    (!found || old.modify != cmd->index))) {
		free(raw);
		return 0;
	}
	*result = true;
	/* Consul skips a write that changes nothing: the ModifyIndex and
	 * the table index stay, no watch fires. Session and LockIndex are
	 * kept from the entry, so value and flags decide. */
	if (found && old.flags == cmd->flags && old.vlen == cmd->value_len &&
	    (old.vlen == 0 || memcmp(old.value, cmd->value, old.vlen) == 0)) {
		free(raw);
		return 0;
	}
	if (!found) {
		/* A re-created key's tombstone has done its job. */
		rv = read_entry(ks, ks->b, &t, false, &traw, NULL, &tfound);
		free(traw);
		if (rv != 0)
			return rv;
	}
	memset(&ne, 0, sizeof(ne));
	ne.create = found ? old.create : index;
	ne.modify = index;
	ne.lock = found ? old.lock : 0;
	ne.flags = cmd->flags;
	if (found) {
		ne.session = old.session;
		ne.slen = old.slen;
	}
	rv = ent_encode(&ne, cmd->value, cmd->value_len, &enc, &elen);
	free(raw);
	if (rv != 0)
		return rv;
	rv = store_batch_put(ks->b, k.b, k.len, enc, elen);
	free(enc);
	if (rv == 0 && tfound)
		rv = store_batch_del(ks->b, t.b, t.len);
	if (rv == 0)
		*changed = true;
	return rv;
}

static int
put_tombstone(struct kv_state *ks, const void *key, size_t klen,
    uint64_t index)
{
	struct skey k, t;
	uint8_t v[8];
	int rv;

	mkkey(&k, 'k', key, klen);
	mkkey(&t, 't', key, klen);
	put_u64(v, index);
	if ((rv = store_batch_del(ks->b, k.b, k.len)) != 0)
		return rv;
	return store_batch_put(ks->b, t.b, t.len, v, sizeof(v));
}

/* DELETE and DELETE_CAS (kvsDeleteTxn, kvsDeleteCASTxn). A missing key
 * is success for both, as in Consul: nothing to delete, nothing
 * written, no tombstone. */
static int
apply_delete(struct kv_state *ks, uint64_t index, const struct kv_cmd *cmd,
    bool cas, bool *result, bool *changed)
{
	struct skey k;
	struct ent old;
	void *raw;
	bool found;
	int rv;

	mkkey(&k, 'k', cmd->key, cmd->key_len);
	if ((rv = read_entry(ks, ks->b, &k, cas, &raw, &old, &found)) != 0)
		return rv;
	free(raw);
	if (!found) {
		*result = true;
		return 0;
	}
	if (cas && old.modify != cmd->index)
		return 0;
	if ((rv = put_tombstone(ks, cmd->key, cmd->key_len, index)) != 0)
		return rv;
	*result = true;
	*changed = true;
	return 0;
}

/* Calls fn for each store entry under tag ':' prefix in key order, with
 * the KV key (tag stripped); through b when given. Returns 0, a store
 * error, or fn's non-zero. */
typedef int (*walk_fn)(void *arg, const char *key, size_t klen,
    const void *val, size_t vlen);

static int
walk(struct kv_state *ks, struct store_batch *b, char tag,
    const char *prefix, size_t plen, walk_fn fn, void *arg)
{
	struct store_iter *it;
	struct skey p;
	const void *key, *val;
	size_t klen, vlen;
	int rv;

	mkkey(&p, tag, prefix, plen);
	if ((it = store_iter_new(ks->s, b, p.b, p.len)) == NULL)
		return -LE_NOMEM;
	while ((rv = store_iter_next(it, &key, &klen, &val, &vlen)) == 1)
		if ((rv = fn(arg, (const char *)key + 2, klen - 2, val,
		    vlen)) != 0)
			break;
	store_iter_free(it);
	return rv;
}

static int
collect_key(void *arg, const char *key, size_t klen, const void *val,
    size_t vlen)
{
	return keylist_add(arg, key, klen);
}

struct reap {
	struct buf l;
	uint64_t bound;
};

static int
collect_stone(void *arg, const char *key, size_t klen, const void *val,
    size_t vlen)
{
	struct reap *r = arg;

	if (vlen != 8)
		return -LE_CORRUPT;
	return get_u64(val) <= r->bound ? keylist_add(&r->l, key, klen) : 0;
}

/* DELETE_TREE: a tombstone per deleted key (Consul before 1.x did the
 * same; later versions keep one for the prefix, which answers the
 * prefix's index less exactly). */
static int
apply_tree(struct kv_state *ks, uint64_t index, const struct kv_cmd *cmd,
    bool *result, bool *changed, struct buf *l)
{
	const uint8_t *key;
	size_t klen, off = 0;
	int rv;

	if ((rv = walk(ks, ks->b, 'k', cmd->key, cmd->key_len, collect_key,
	    l)) != 0)
		return rv;
	while (keylist_next(l, &off, &key, &klen))
		if ((rv = put_tombstone(ks, key, klen, index)) != 0)
			return rv;
	*result = true;
	*changed = l->n > 0;
	return 0;
}

/* TOMBSTONE_REAP: the table index does not move (Consul's graveyard
 * ReapTxn touches no index), so prefix indexes may go back after it;
 * that is why reaping waits out the longest blocking query. */
static int
apply_reap(struct kv_state *ks, const struct kv_cmd *cmd, bool *result)
{
	struct reap r = { { 0 }, cmd->index };
	struct skey t;
	const uint8_t *key;
	size_t klen, off = 0;
	int rv;

	if ((rv = walk(ks, ks->b, 't', NULL, 0, collect_stone, &r)) == 0) {
		while (keylist_next(&r.l, &off, &key, &klen)) {
			mkkey(&t, 't', key, klen);
			if ((rv = store_batch_del(ks->b, t.b, t.len)) != 0)
				break;
		}
	}
	free(r.l.p);
	if (rv == 0)
		*result = true;
	return rv;
}

static int
cmd_check(const struct kv_cmd *cmd)
{
	switch (cmd->op) {
	case KV_OP_SET:
	case KV_OP_CAS:
	case KV_OP_DELETE:
	case KV_OP_DELETE_CAS:
		if (cmd->key_len == 0)
			return -LE_INVAL;
		/* FALLTHROUGH */
	case KV_OP_DELETE_TREE:
		if (cmd->key_len > KV_MAX_KEY)
			return -LE_TOOBIG;
		if (!key_ok(cmd->key, cmd->key_len))
			return -LE_INVAL;
		break;
	case KV_OP_TOMBSTONE_REAP:
		return 0;
	default:
		return -LE_INVAL;
	}
	if (cmd->value_len > 0 && cmd->value == NULL)
		return -LE_INVAL;
	if (cmd->value_len > SIZE_MAX / 2)
		return -LE_TOOBIG;
	return 0;
}

int
kv_apply(struct kv_state *ks, uint64_t index, const struct kv_cmd *cmd,
    bool *result, kv_touch_fn touched, void *arg)
{
	struct buf l = { 0 };
	const uint8_t *key;
	size_t klen, off = 0;
	bool changed = false, res = false;
	int rv;

	if (result != NULL)
		*result = false;
	if (ks->b == NULL || index <= ks->applied)
		return -LE_STATE;
	if (cmd == NULL || (rv = cmd_check(cmd)) != 0)
		return cmd == NULL ? -LE_INVAL : rv;
	switch (cmd->op) {
	case KV_OP_SET:
	case KV_OP_CAS:
		rv = apply_set(ks, index, cmd, cmd->op == KV_OP_CAS, &res,
		    &changed);
		break;
	case KV_OP_DELETE:
	case KV_OP_DELETE_CAS:
		rv = apply_delete(ks, index, cmd, cmd->op == KV_OP_DELETE_CAS,
		    &res, &changed);
		break;
	case KV_OP_DELETE_TREE:
		rv = apply_tree(ks, index, cmd, &res, &changed, &l);
		break;
	case KV_OP_TOMBSTONE_REAP:
		rv = apply_reap(ks, cmd, &res);
		break;
	}
	/* Every command moves the applied index, a false CAS too: it is a
	 * log position, not a change count. Both indexes reach the store
	 * once per batch, in the same atomic write (kv_batch_commit). */
	if (rv != 0) {
		free(l.p);
		return rv;
	}
	ks->applied = index;
	if (changed)
		ks->kvindex = index;
	if (result != NULL)
		*result = res;
	if (changed && touched != NULL) {
		if (cmd->op == KV_OP_DELETE_TREE) {
			while (keylist_next(&l, &off, &key, &klen))
				touched(arg, (const char *)key, klen);
		}
		/* The empty prefix may come as NULL: hand out "". */
		touched(arg, cmd->key_len ? cmd->key : "", cmd->key_len);
	}
	free(l.p);
	return 0;
}

int
kv_apply_noop(struct kv_state *ks, uint64_t index)
{
	if (ks->b == NULL || index <= ks->applied)
		return -LE_STATE;
	ks->applied = index;	/* stored by kv_batch_commit */
	return 0;
}

struct store_batch *
kv_state_batch(struct kv_state *ks)
{
	return ks->b;
}

int
kv_state_reload(struct kv_state *ks, struct lerr *e)
{
	if (ks->b != NULL)
		return lerr_set(e, LE_STATE, "a batch is open");
	return load_indexes(ks, e);
}

int
kv_get(struct kv_state *ks, const char *key, size_t klen,
    struct kv_entry *out)
{
	struct skey k;
	struct ent e;
	void *raw;
	bool found;
	int rv;

	memset(out, 0, sizeof(*out));
	/* Such a key could never have been written. */
	if (klen == 0 || !key_ok(key, klen))
		return -LE_NOTFOUND;
	mkkey(&k, 'k', key, klen);
	if ((rv = read_entry(ks, NULL, &k, true, &raw, &e, &found)) != 0)
		return rv;
	rv = found ? entry_fill(out, key, klen, &e) : -LE_NOTFOUND;
	free(raw);
	return rv;
}

struct list_walk {
	kv_list_fn fn;
	void *arg;
	struct buf sc;
};

/* Lends each entry to the caller: key and session are copied for their
 * NUL terminators, the value comes straight from the iterator. */
static int
list_one(void *arg, const char *key, size_t klen, const void *val,
    size_t vlen)
{
	struct list_walk *w = arg;
	struct kv_entry ke;
	struct ent e;
	int rv;

	if ((rv = ent_decode(val, vlen, &e)) != 0) {
		warn_corrupt(key, klen);
		return rv;
	}
	if ((rv = buf_room(&w->sc, klen + 1 + e.slen + 1)) != 0)
		return rv;
	memset(&ke, 0, sizeof(ke));
	ke.key = (char *)w->sc.p;
	memcpy(ke.key, key, klen);
	ke.key[klen] = '\0';
	ke.key_len = klen;
	if (e.slen) {
		ke.session = (char *)w->sc.p + klen + 1;
		memcpy(ke.session, e.session, e.slen);
		ke.session[e.slen] = '\0';
	}
	ke.value = e.vlen ? (uint8_t *)(uintptr_t)e.value : NULL;
	ke.value_len = e.vlen;
	ke.create_index = e.create;
	ke.modify_index = e.modify;
	ke.lock_index = e.lock;
	ke.flags = e.flags;
	return w->fn(w->arg, &ke);
}

int
kv_list(struct kv_state *ks, const char *prefix, size_t plen,
    kv_list_fn fn, void *arg)
{
	struct list_walk w = { fn, arg, { 0 } };
	int rv;

	if (!key_ok(prefix, plen))
		return 0;
	rv = walk(ks, NULL, 'k', prefix, plen, list_one, &w);
	free(w.sc.p);
	return rv;
}

struct keys_walk {
	kv_key_fn fn;
	void *arg;
	size_t plen;
	const char *sep;
	size_t seplen;
	struct buf last;	/* the last rolled-up key handed out */
	bool have_last;
};

static const char *
find_sep(const char *s, size_t n, const char *sep, size_t seplen)
{
	for (size_t i = 0; seplen <= n && i <= n - seplen; i++)
		if (memcmp(s + i, sep, seplen) == 0)
			return s + i;
	return NULL;
}

/* Consul's KVSListKeys: a roll-up is compared with the last one only,
 * which is enough because keys sharing a rolled-up prefix are
 * contiguous in key order. */
static int
keys_one(void *arg, const char *key, size_t klen, const void *val,
    size_t vlen)
{
	struct keys_walk *w = arg;
	const char *at = NULL;
	size_t rlen;
	int rv;

	if (w->seplen)
		at = find_sep(key + w->plen, klen - w->plen, w->sep,
		    w->seplen);
	if (at == NULL)
		return w->fn(w->arg, key, klen);
	rlen = (size_t)(at - key) + w->seplen;
	if (w->have_last && rlen == w->last.len &&
	    memcmp(w->last.p, key, rlen) == 0)
		return 0;
	w->last.len = 0;
	if ((rv = buf_room(&w->last, rlen)) != 0)
		return rv;
	memcpy(w->last.p, key, rlen);
	w->last.len = rlen;
	w->have_last = true;
	return w->fn(w->arg, key, rlen);
}

int
kv_keys(struct kv_state *ks, const char *prefix, size_t plen,
    const char *sep, size_t seplen, kv_key_fn fn, void *arg)
{
	struct keys_walk w = { fn, arg, plen, sep, sep ? seplen : 0, { 0 },
		false };
	int rv;

	if (!key_ok(prefix, plen))
		return 0;
	rv = walk(ks, NULL, 'k', prefix, plen, keys_one, &w);
	free(w.last.p);
	return rv;
}

uint64_t
kv_key_index(struct kv_state *ks, const char *key, size_t klen)
{
	struct skey k;
	struct ent e;
	void *raw;
	bool found;
	uint64_t idx = ks->c_kvindex;

	if (klen == 0 || !key_ok(key, klen))
		return idx;
	mkkey(&k, 'k', key, klen);
	if (read_entry(ks, NULL, &k, true, &raw, &e, &found) == 0 && found)
		idx = e.modify;
	free(raw);
	return idx;
}

/* Max index and count over entries ('k') or tombstones ('t').
 * Undecodable bytes count as index 0: a read's index is a hint for
 * blocking, and the read itself reports the damage. */
struct scan {
	char tag;
	uint64_t max;
	size_t n;
};

static int
scan_one(void *arg, const char *key, size_t klen, const void *val,
    size_t vlen)
{
	struct scan *sc = arg;
	struct ent e;
	uint64_t v = 0;

	if (sc->tag == 't' && vlen == 8)
		v = get_u64(val);
	else if (sc->tag == 'k' && ent_decode(val, vlen, &e) == 0)
		v = e.modify;
	if (v > sc->max)
		sc->max = v;
	sc->n++;
	return 0;
}

/* kvsListTxn: the empty prefix reports the table index outright, as
 * Consul does ("we are listing everything"). */
uint64_t
kv_prefix_index(struct kv_state *ks, const char *prefix, size_t plen)
{
	struct scan k = { 'k', 0, 0 }, t = { 't', 0, 0 };

	if (plen == 0 || !key_ok(prefix, plen))
		return ks->c_kvindex;
	(void)walk(ks, NULL, 'k', prefix, plen, scan_one, &k);
	(void)walk(ks, NULL, 't', prefix, plen, scan_one, &t);
	if (t.max > k.max)
		k.max = t.max;
	return k.max != 0 ? k.max : ks->c_kvindex;
}

size_t
kv_tombstone_count(struct kv_state *ks)
{
	struct scan t = { 't', 0, 0 };

	(void)walk(ks, NULL, 't', NULL, 0, scan_one, &t);
	return t.n;
}

/* Over the stored bytes of every entry and tombstone in key order: they
 * hold all of an entry (indexes, flags, session, value) and are a pure
 * function of the commands applied, so equal replicas hash equal.
 * Lengths go in too, so that no two different states feed the same
 * byte stream. */
uint64_t
kv_state_digest(struct kv_state *ks)
{
	struct store_iter *it;
	const void *key, *val;
	size_t klen, vlen;
	uint8_t len[8];
	uint64_t h = FNV64_OFFSET;

	if ((it = store_iter_new(ks->s, NULL, NULL, 0)) == NULL)
		return 0;
	while (store_iter_next(it, &key, &klen, &val, &vlen) == 1) {
		if (klen < 2 || (memcmp(key, "k:", 2) != 0 &&
		    memcmp(key, "t:", 2) != 0))
			continue;
		put_u64(len, klen);
		h = fnv64(fnv64(h, len, 8), key, klen);
		put_u64(len, vlen);
		h = fnv64(fnv64(h, len, 8), val, vlen);
	}
	store_iter_free(it);
	return h;
}
