/* catalog_state.c: the catalog's nodes and checks as Consul's state store
 * keeps them (agent/consul/state/catalog.go). A command is worked out
 * against an overlay of its own pending writes over kv_state's batch and
 * reaches the batch only once all of it succeeded, so a refused
 * registration (a node name another live node holds, a check for
 * another node) leaves nothing behind, as a memdb transaction that
 * aborts does. */
#include "catalog_state.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char KEY_NODES_IDX[] = "m:cat.nodes";
static const char KEY_CHECKS_IDX[] = "m:cat.checks";

#define KEY_MAX (8 + 2 * CAT_NAME_MAX)

struct cat_state {
	struct store *s;	/* borrowed */
};

struct ckey {
	char b[KEY_MAX];
	size_t len;
};

/* ---- small helpers ---- */

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool
cat_name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

static bool
str_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

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
key_add_lc(struct ckey *k, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		k->b[k->len++] = lower(s[i]);
}

/* A name usable in a key: bounded, no NUL (the separator). */
static bool
name_ok(const char *s, size_t n)
{
	return n <= CAT_NAME_MAX && (n == 0 || memchr(s, '\0', n) == NULL);
}

static void
mk_key(struct ckey *k, const char *tag, const char *a, size_t alen,
    const char *b, size_t blen, bool two)
{
	k->len = 0;
	memcpy(k->b, tag, 4);
	k->len = 4;
	key_add_lc(k, a, alen);
	if (two) {
		k->b[k->len++] = '\0';
		key_add_lc(k, b, blen);
	}
}

static void
node_key(struct ckey *k, const char *node, size_t n)
{
	mk_key(k, "c:n:", node, n, NULL, 0, false);
}

static void
id_key(struct ckey *k, const char *id, size_t n)
{
	mk_key(k, "c:i:", id, n, NULL, 0, false);
}

static void
nidx_key(struct ckey *k, const char *node, size_t n)
{
	mk_key(k, "c:x:", node, n, NULL, 0, false);
}

static void
check_key(struct ckey *k, const char *node, size_t n, const char *id,
    size_t idlen)
{
	mk_key(k, "c:c:", node, n, id, idlen, true);
}

/* Go's %q for the names in error texts: quotes and backslashes escaped,
 * control bytes as \xNN. */
static void
quote(char *out, size_t outlen, const char *s, size_t n)
{
	size_t o = 0;

	if (outlen < 3) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (size_t i = 0; i < n && o + 6 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

int
cat_uuid_check(const char *s, size_t n, char *err, size_t errlen)
{
	static const int dash[] = { 8, 13, 18, 23 };

	if (n != 36) {
		snprintf(err, errlen, "uuid string is wrong length");
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		if (s[dash[i]] != '-') {
			snprintf(err, errlen, "uuid is improperly formatted");
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23)
			continue;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F'))) {
			/* encoding/hex's InvalidByteError */
			if (c >= 0x20 && c < 0x7f && c != '\'')
				snprintf(err, errlen, "encoding/hex: invalid "
				    "byte: U+%04X '%c'", c, c);
			else
				snprintf(err, errlen, "encoding/hex: invalid "
				    "byte: U+%04X", c);
			return -1;
		}
	}
	return 0;
}

/* ---- records ---- */

/* A decoded record. The decoded strings point into raw, which the
 * record owns: rec_free() releases both. */
struct rnode {
	void *raw;
	struct proto_obj o;
	struct msg_cat_node n;
};

struct rcheck {
	void *raw;
	struct proto_obj o;
	struct msg_cat_check c;
};

/* Takes raw (freed on failure too). */
static int
rnode_decode(void *raw, size_t len, struct rnode *r)
{
	struct lerr e;

	r->raw = raw;
	if (proto_obj_decode(raw, len, &r->o, &e) != 0) {
		free(raw);
		return -LE_CORRUPT;
	}
	if (msg_cat_node_dec(r->o.root, &r->n) != 0) {
		proto_obj_free(&r->o);
		free(raw);
		return -LE_CORRUPT;
	}
	return 0;
}

static int
rcheck_decode(void *raw, size_t len, struct rcheck *r)
{
	struct lerr e;

	r->raw = raw;
	if (proto_obj_decode(raw, len, &r->o, &e) != 0) {
		free(raw);
		return -LE_CORRUPT;
	}
	if (msg_cat_check_dec(r->o.root, &r->c) != 0) {
		proto_obj_free(&r->o);
		free(raw);
		return -LE_CORRUPT;
	}
	return 0;
}

static void
rnode_free(struct rnode *r)
{
	proto_obj_free(&r->o);
	free(r->raw);
	r->raw = NULL;
}

static void
rcheck_free(struct rcheck *r)
{
	proto_obj_free(&r->o);
	free(r->raw);
	r->raw = NULL;
}

/* A string map in key order with later duplicates winning (Go's map
 * assignment), so equal maps encode to equal bytes. */
struct nmap {
	struct msg_cat_strmap m;
	const char **k, **v;
	size_t *kl, *vl;
};

struct mentry {
	const char *k, *v;
	size_t kl, vl;
	uint32_t pos;
};

static int
mentry_cmp(const void *a, const void *b)
{
	const struct mentry *x = a, *y = b;
	size_t n = x->kl < y->kl ? x->kl : y->kl;
	int c = n ? memcmp(x->k, y->k, n) : 0;

	if (c != 0)
		return c;
	if (x->kl != y->kl)
		return x->kl < y->kl ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int
nmap_init(struct nmap *nm, const struct msg_cat_strmap *in)
{
	struct mentry *ent = NULL;
	uint32_t n = 0;

	memset(nm, 0, sizeof(*nm));
	nm->m.present = in->present;
	if (!in->present || in->n == 0)
		return 0;
	if ((ent = calloc(in->n, sizeof(*ent))) == NULL ||
	    (nm->k = calloc(in->n, sizeof(*nm->k))) == NULL ||
	    (nm->v = calloc(in->n, sizeof(*nm->v))) == NULL ||
	    (nm->kl = calloc(in->n, sizeof(*nm->kl))) == NULL ||
	    (nm->vl = calloc(in->n, sizeof(*nm->vl))) == NULL) {
		free(ent);
		return -LE_NOMEM;
	}
	for (uint32_t i = 0; i < in->n; i++) {
		msg_cat_strmap_at(in, i, &ent[i].k, &ent[i].kl, &ent[i].v,
		    &ent[i].vl);
		ent[i].pos = i;
	}
	qsort(ent, in->n, sizeof(*ent), mentry_cmp);
	for (uint32_t i = 0; i < in->n; i++) {
		if (i + 1 < in->n && str_eq(ent[i].k, ent[i].kl, ent[i + 1].k,
		    ent[i + 1].kl))
			continue;	/* a later one with this key wins */
		nm->k[n] = ent[i].k;
		nm->kl[n] = ent[i].kl;
		nm->v[n] = ent[i].v;
		nm->vl[n] = ent[i].vl;
		n++;
	}
	free(ent);
	nm->m.n = n;
	nm->m.keys = nm->k;
	nm->m.klens = nm->kl;
	nm->m.vals = nm->v;
	nm->m.vlens = nm->vl;
	return 0;
}

static void
nmap_free(struct nmap *nm)
{
	free(nm->k);
	free(nm->v);
	free(nm->kl);
	free(nm->vl);
}

/* Both sides in key order without duplicates (a normalized request, a
 * stored record): Go's reflect.DeepEqual, nil and empty apart. */
static bool
map_eq(const struct msg_cat_strmap *a, const struct msg_cat_strmap *b)
{
	if (a->present != b->present || a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		const char *ak, *av, *bk, *bv;
		size_t akl, avl, bkl, bvl;

		msg_cat_strmap_at(a, i, &ak, &akl, &av, &avl);
		msg_cat_strmap_at(b, i, &bk, &bkl, &bv, &bvl);
		if (!str_eq(ak, akl, bk, bkl) || !str_eq(av, avl, bv, bvl))
			return false;
	}
	return true;
}

static bool
list_eq(const struct msg_cat_strlist *a, const struct msg_cat_strlist *b)
{
	if (a->present != b->present || a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		const char *x, *y;
		size_t xl, yl;

		msg_cat_strlist_at(a, i, &x, &xl);
		msg_cat_strlist_at(b, i, &y, &yl);
		if (!str_eq(x, xl, y, yl))
			return false;
	}
	return true;
}

/* structs.Node.IsSame (and RegisterRequest.ChangesNode): every field but
 * the indexes. */
static bool
node_same(const struct msg_cat_node *a, const struct msg_cat_node *b)
{
	return str_eq(a->id, a->id_len, b->id, b->id_len) &&
	    str_eq(a->node, a->node_len, b->node, b->node_len) &&
	    str_eq(a->address, a->address_len, b->address, b->address_len) &&
	    str_eq(a->dc, a->dc_len, b->dc, b->dc_len) &&
	    map_eq(&a->tagged, &b->tagged) && map_eq(&a->meta, &b->meta);
}

/* structs.HealthCheck.IsSame: Type, Interval, Timeout and ExposedPort
 * are not compared, so a change to them alone is not written. */
static bool
check_same(const struct msg_cat_check *a, const struct msg_cat_check *b)
{
#define EQ(f) str_eq(a->f, a->f##_len, b->f, b->f##_len)
	return EQ(node) && EQ(check_id) && EQ(name) && EQ(status) &&
	    EQ(notes) && EQ(output) && EQ(service_id) && EQ(service_name) &&
	    list_eq(&a->service_tags, &b->service_tags) && EQ(definition);
#undef EQ
}

/* ---- the overlay: one command's pending writes ---- */

struct op {
	char *key;
	size_t klen;
	uint8_t *val;		/* NULL: delete */
	size_t vlen;
};

struct touch {
	int topic;
	char lc[CAT_NAME_MAX];
	size_t len;
};

struct ov {
	struct cat_state *cs;
	struct store_batch *b;
	struct op *ops;
	size_t n, cap;
	struct touch *t;
	size_t nt, capt;
	uint64_t idx;
};

static int
ov_add(struct ov *ov, const void *key, size_t klen, const void *val,
    size_t vlen, bool del)
{
	struct op *o;

	if (ov->n == ov->cap) {
		size_t cap = ov->cap ? ov->cap * 2 : 16;
		struct op *p = realloc(ov->ops, cap * sizeof(*p));

		if (p == NULL)
			return -LE_NOMEM;
		ov->ops = p;
		ov->cap = cap;
	}
	o = &ov->ops[ov->n];
	memset(o, 0, sizeof(*o));
	if ((o->key = malloc(klen ? klen : 1)) == NULL)
		return -LE_NOMEM;
	memcpy(o->key, key, klen);
	o->klen = klen;
	if (!del) {
		if ((o->val = malloc(vlen ? vlen : 1)) == NULL) {
			free(o->key);
			return -LE_NOMEM;
		}
		if (vlen)
			memcpy(o->val, val, vlen);
		o->vlen = vlen;
	}
	ov->n++;
	return 0;
}

static int
ov_put(struct ov *ov, const struct ckey *k, const void *val, size_t vlen)
{
	return ov_add(ov, k->b, k->len, val, vlen, false);
}

static int
ov_del(struct ov *ov, const struct ckey *k)
{
	return ov_add(ov, k->b, k->len, NULL, 0, true);
}

static int
ov_put_u64(struct ov *ov, const char *key, uint64_t v)
{
	uint8_t b[8];

	put_u64(b, v);
	return ov_add(ov, key, strlen(key), b, 8, false);
}

/* The newest pending write for key: 1 (put, *val borrowed), 0 (delete),
 * -1 (none). */
static int
ov_find(const struct ov *ov, const void *key, size_t klen,
    const uint8_t **val, size_t *vlen)
{
	for (size_t i = ov->n; i-- > 0;) {
		const struct op *o = &ov->ops[i];

		if (o->klen == klen && memcmp(o->key, key, klen) == 0) {
			if (o->val == NULL)
				return 0;
			*val = o->val;
			*vlen = o->vlen;
			return 1;
		}
	}
	return -1;
}

/* Reads through the overlay, then the batch: 0 with a malloc'd copy,
 * -LE_NOTFOUND, or a store error. */
static int
ov_get(struct ov *ov, const struct ckey *k, void **val, size_t *vlen)
{
	const uint8_t *p;
	size_t n;
	int f = ov_find(ov, k->b, k->len, &p, &n);

	if (f == 0)
		return -LE_NOTFOUND;
	if (f == 1) {
		if ((*val = malloc(n ? n : 1)) == NULL)
			return -LE_NOMEM;
		if (n)
			memcpy(*val, p, n);
		*vlen = n;
		return 0;
	}
	return store_batch_get(ov->b, k->b, k->len, val, vlen);
}

static int
ov_touch(struct ov *ov, int topic, const char *name, size_t n)
{
	struct touch *t;

	if (ov->nt == ov->capt) {
		size_t cap = ov->capt ? ov->capt * 2 : 8;
		struct touch *p = realloc(ov->t, cap * sizeof(*p));

		if (p == NULL)
			return -LE_NOMEM;
		ov->t = p;
		ov->capt = cap;
	}
	t = &ov->t[ov->nt++];
	t->topic = topic;
	t->len = n;
	for (size_t i = 0; i < n; i++)
		t->lc[i] = lower(name[i]);
	return 0;
}

static int
ov_flush(struct ov *ov)
{
	int rv = 0;

	for (size_t i = 0; i < ov->n && rv == 0; i++) {
		const struct op *o = &ov->ops[i];

		rv = o->val != NULL ?
		    store_batch_put(ov->b, o->key, o->klen, o->val, o->vlen) :
		    store_batch_del(ov->b, o->key, o->klen);
	}
	return rv;
}

static void
ov_free(struct ov *ov)
{
	for (size_t i = 0; i < ov->n; i++) {
		free(ov->ops[i].key);
		free(ov->ops[i].val);
	}
	free(ov->ops);
	free(ov->t);
}

/* Loads the node stored under name through the overlay: 0 and *found. */
static int
load_node(struct ov *ov, const char *name, size_t n, struct rnode *r,
    bool *found)
{
	struct ckey k;
	void *raw;
	size_t len;
	int rv;

	*found = false;
	node_key(&k, name, n);
	rv = ov_get(ov, &k, &raw, &len);
	if (rv == -LE_NOTFOUND)
		return 0;
	if (rv != 0)
		return rv;
	rv = rnode_decode(raw, len, r);
	if (rv != 0) {
		log_warnx("catalog: corrupt record for node %.*s", (int)n,
		    name);
		return rv;
	}
	*found = true;
	return 0;
}

static int
load_check(struct ov *ov, const char *node, size_t n, const char *id,
    size_t idlen, struct rcheck *r, bool *found)
{
	struct ckey k;
	void *raw;
	size_t len;
	int rv;

	*found = false;
	check_key(&k, node, n, id, idlen);
	rv = ov_get(ov, &k, &raw, &len);
	if (rv == -LE_NOTFOUND)
		return 0;
	if (rv != 0)
		return rv;
	rv = rcheck_decode(raw, len, r);
	if (rv != 0) {
		log_warnx("catalog: corrupt check record on node %.*s",
		    (int)n, node);
		return rv;
	}
	*found = true;
	return 0;
}

static int
bump_node_index(struct ov *ov, const char *node, size_t n)
{
	struct ckey k;
	uint8_t b[8];

	nidx_key(&k, node, n);
	put_u64(b, ov->idx);
	return ov_put(ov, &k, b, 8);
}

static int
put_node(struct ov *ov, const struct msg_cat_node *n)
{
	struct ckey k;
	struct mpw w;
	int rv;

	node_key(&k, n->node, n->node_len);
	mpw_init(&w);
	msg_cat_node_enc(&w, n);
	rv = w.err != 0 ? -LE_NOMEM : ov_put(ov, &k, mpw_data(&w),
	    mpw_len(&w));
	mpw_free(&w);
	return rv;
}

static int
put_check(struct ov *ov, const struct msg_cat_check *c)
{
	struct ckey k;
	struct mpw w;
	int rv;

	check_key(&k, c->node, c->node_len, c->check_id, c->check_id_len);
	mpw_init(&w);
	msg_cat_check_enc(&w, c);
	rv = w.err != 0 ? -LE_NOMEM : ov_put(ov, &k, mpw_data(&w),
	    mpw_len(&w));
	mpw_free(&w);
	return rv;
}

/* ---- deleting ---- */

struct keylist {
	char **k;
	size_t *len;
	size_t n, cap;
};

static int
keylist_add(struct keylist *l, const void *key, size_t klen)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **k = realloc(l->k, cap * sizeof(*k));
		size_t *len;

		if (k == NULL)
			return -LE_NOMEM;
		l->k = k;
		if ((len = realloc(l->len, cap * sizeof(*len))) == NULL)
			return -LE_NOMEM;
		l->len = len;
		l->cap = cap;
	}
	if ((l->k[l->n] = malloc(klen ? klen : 1)) == NULL)
		return -LE_NOMEM;
	memcpy(l->k[l->n], key, klen);
	l->len[l->n++] = klen;
	return 0;
}

static void
keylist_free(struct keylist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->k[i]);
	free(l->k);
	free(l->len);
}

/* The keys of a node's checks, through the batch. The overlay holds no
 * check of this node at the points this runs (a command deletes a node
 * before it writes any check), so deletes are all it must honour. */
static int
node_check_keys(struct ov *ov, const char *node, size_t n,
    struct keylist *l)
{
	struct ckey p;
	struct store_iter *it;
	const void *key, *val;
	const uint8_t *pv;
	size_t klen, vlen, pl;
	int rv;

	check_key(&p, node, n, NULL, 0);
	if ((it = store_iter_new(ov->cs->s, ov->b, p.b, p.len)) == NULL)
		return -LE_NOMEM;
	while ((rv = store_iter_next(it, &key, &klen, &val, &vlen)) == 1) {
		if (ov_find(ov, key, klen, &pv, &pl) == 0)
			continue;
		if ((rv = keylist_add(l, key, klen)) != 0)
			break;
	}
	store_iter_free(it);
	return rv;
}

/* deleteNodeTxn: the node, its checks (services later), its ID and its
 * own index. */
static int
delete_node(struct ov *ov, const char *name, size_t n)
{
	struct keylist l = { 0 };
	struct rnode old;
	struct ckey k;
	bool found;
	int rv;

	if ((rv = load_node(ov, name, n, &old, &found)) != 0 || !found)
		return rv;
	if ((rv = node_check_keys(ov, name, n, &l)) != 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		struct ckey ck;

		ck.len = l.len[i];
		memcpy(ck.b, l.k[i], l.len[i]);
		if ((rv = ov_del(ov, &ck)) != 0)
			goto out;
	}
	if (l.n > 0 && ((rv = ov_put_u64(ov, KEY_CHECKS_IDX, ov->idx)) != 0 ||
	    (rv = ov_touch(ov, CAT_TOPIC_CHECKS, name, n)) != 0))
		goto out;
	node_key(&k, name, n);
	if ((rv = ov_del(ov, &k)) != 0)
		goto out;
	if (old.n.id_len > 0) {
		void *v;
		size_t vl;

		/* Only while the ID still points at this node. */
		id_key(&k, old.n.id, old.n.id_len);
		if ((rv = ov_get(ov, &k, &v, &vl)) == 0) {
			bool mine = cat_name_eq(v, vl, name, n);

			free(v);
			if (mine && (rv = ov_del(ov, &k)) != 0)
				goto out;
		} else if (rv != -LE_NOTFOUND) {
			goto out;
		}
		rv = 0;
	}
	nidx_key(&k, name, n);
	if ((rv = ov_del(ov, &k)) != 0 ||
	    (rv = ov_put_u64(ov, KEY_NODES_IDX, ov->idx)) != 0 ||
	    (rv = ov_touch(ov, CAT_TOPIC_NODES, "", 0)) != 0 ||
	    (rv = ov_touch(ov, CAT_TOPIC_NODE, name, n)) != 0)
		goto out;
out:
	keylist_free(&l);
	rnode_free(&old);
	return rv;
}

/* ---- registering ---- */

/* ensureNoNodeWithSimilarNameTxn: another node holding this name (and
 * another ID) may be replaced only if it is not alive as far as gossip
 * says (no serfHealth check, or a critical one), or, when allowed, if it
 * has no ID. 0, -LE_EXISTS with the reason in msg, or a store error. */
static int
similar_name(struct ov *ov, const struct msg_cat_node *node,
    bool allow_clash_without_id, char *msg, size_t msglen)
{
	struct rnode en;
	struct rcheck serf;
	bool found, sfound, healthy;
	int rv;

	if ((rv = load_node(ov, node->node, node->node_len, &en, &found)) != 0
	    || !found)
		return rv;
	if (str_eq(en.n.id, en.n.id_len, node->id, node->id_len)) {
		rnode_free(&en);
		return 0;
	}
	rv = load_check(ov, en.n.node, en.n.node_len, CAT_SERF_CHECK_ID,
	    sizeof(CAT_SERF_CHECK_ID) - 1, &serf, &sfound);
	if (rv != 0) {
		rnode_free(&en);
		return rv;
	}
	healthy = sfound && !str_eq(serf.c.status, serf.c.status_len,
	    "critical", 8);
	if (sfound)
		rcheck_free(&serf);
	if (!(en.n.id_len == 0 && allow_clash_without_id) && healthy) {
		snprintf(msg, msglen, "Node name %.*s is reserved by node %.*s "
		    "with name %.*s (%.*s)", (int)node->node_len, node->node,
		    (int)en.n.id_len, en.n.id, (int)en.n.node_len, en.n.node,
		    (int)en.n.address_len, en.n.address);
		rv = -LE_EXISTS;
	}
	rnode_free(&en);
	return rv;
}

/* ensureNodeTxn for a node whose maps are normalized. */
static int
ensure_node(struct ov *ov, struct msg_cat_node *node, struct lerr *e)
{
	struct rnode n, cur;
	struct ckey k;
	bool have = false, found;
	char msg[4 * CAT_NAME_MAX], qid[300];
	void *v;
	size_t vl;
	int rv;

	quote(qid, sizeof(qid), node->id, node->id_len);
	if (node->id_len > 0) {
		id_key(&k, node->id, node->id_len);
		rv = ov_get(ov, &k, &v, &vl);
		if (rv != 0 && rv != -LE_NOTFOUND)
			return rv;
		if (rv == 0) {
			rv = load_node(ov, v, vl, &n, &have);
			free(v);
			if (rv != 0)
				return rv;
		}
		if (have && !cat_name_eq(n.n.node, n.n.node_len, node->node,
		    node->node_len)) {
			/* A rename: the name must be free. */
			rv = similar_name(ov, node, false, msg, sizeof(msg));
			if (rv == -LE_EXISTS) {
				lerr_set(e, LE_INVAL, "failed inserting node: "
				    "Error while renaming Node ID: %s (%.*s): "
				    "%s", qid, (int)node->address_len,
				    node->address, msg);
				rv = -LE_INVAL;
				goto fail;
			}
			if (rv != 0 || (rv = delete_node(ov, n.n.node,
			    n.n.node_len)) != 0)
				goto fail;
		} else if (!have) {
			rv = similar_name(ov, node, true, msg, sizeof(msg));
			if (rv == -LE_EXISTS) {
				lerr_set(e, LE_INVAL, "failed inserting node: "
				    "Error while renaming Node ID: %s: %s",
				    qid, msg);
				return -LE_INVAL;
			}
			if (rv != 0)
				return rv;
		}
	}
	if (!have && (rv = load_node(ov, node->node, node->node_len, &n,
	    &have)) != 0)
		return rv;
	if (have) {
		node->create_index = n.n.create_index;
		node->modify_index = n.n.modify_index;
		if (node_same(node, &n.n)) {
			rnode_free(&n);
			return 0;
		}
		node->modify_index = ov->idx;
		rnode_free(&n);
	} else {
		node->create_index = node->modify_index = ov->idx;
	}
	/* Whatever holds this name now gives up its ID. */
	if ((rv = load_node(ov, node->node, node->node_len, &cur,
	    &found)) != 0)
		return rv;
	if (found) {
		if (cur.n.id_len > 0 && !str_eq(cur.n.id, cur.n.id_len,
		    node->id, node->id_len)) {
			id_key(&k, cur.n.id, cur.n.id_len);
			rv = ov_del(ov, &k);
		}
		rnode_free(&cur);
		if (rv != 0)
			return rv;
	}
	if ((rv = put_node(ov, node)) != 0)
		return rv;
	if (node->id_len > 0) {
		char lc[CAT_NAME_MAX];

		for (size_t i = 0; i < node->node_len; i++)
			lc[i] = lower(node->node[i]);
		id_key(&k, node->id, node->id_len);
		if ((rv = ov_put(ov, &k, lc, node->node_len)) != 0)
			return rv;
	}
	if ((rv = ov_put_u64(ov, KEY_NODES_IDX, ov->idx)) != 0 ||
	    (rv = bump_node_index(ov, node->node, node->node_len)) != 0 ||
	    (rv = ov_touch(ov, CAT_TOPIC_NODES, "", 0)) != 0 ||
	    (rv = ov_touch(ov, CAT_TOPIC_NODE, node->node,
	    node->node_len)) != 0)
		return rv;
	return 0;
fail:
	rnode_free(&n);
	return rv;
}

/* ensureCheckTxn. */
static int
ensure_check(struct ov *ov, const struct msg_cat_check *in, struct lerr *e)
{
	struct msg_cat_check c = *in;
	struct rcheck old;
	struct rnode node;
	bool found, nfound;
	char qn[CAT_NAME_MAX + 8];
	int rv;

	if (c.status_len == 0) {
		c.status = "critical";
		c.status_len = 8;
	}
	quote(qn, sizeof(qn), c.node, c.node_len);
	if ((rv = load_node(ov, c.node, c.node_len, &node, &nfound)) != 0)
		return rv;
	if (!nfound)
		return lerr_set(e, LE_INVAL, "failed inserting check on node "
		    "%s: Missing node registration", qn);
	rnode_free(&node);
	if (c.service_id_len > 0) {
		/* No service can be registered yet, so none can match. */
		return lerr_set(e, LE_INVAL, "failed inserting check on node "
		    "%s: Missing service registration", qn);
	}
	if ((rv = load_check(ov, c.node, c.node_len, c.check_id,
	    c.check_id_len, &old, &found)) != 0)
		return rv;
	if (found) {
		bool same = check_same(&old.c, &c);

		c.create_index = old.c.create_index;
		rcheck_free(&old);
		if (same)
			return 0;
	} else {
		c.create_index = ov->idx;
	}
	c.modify_index = ov->idx;
	if ((rv = put_check(ov, &c)) != 0 ||
	    (rv = ov_put_u64(ov, KEY_CHECKS_IDX, ov->idx)) != 0 ||
	    (rv = bump_node_index(ov, c.node, c.node_len)) != 0 ||
	    (rv = ov_touch(ov, CAT_TOPIC_CHECKS, c.node, c.node_len)) != 0)
		return rv;
	return 0;
}

static void
report(struct ov *ov, cat_touch_fn touched, void *arg)
{
	if (touched == NULL)
		return;
	for (size_t i = 0; i < ov->nt; i++)
		touched(arg, ov->t[i].topic, ov->t[i].lc, ov->t[i].len);
}

int
cat_apply_register(struct cat_state *cs, struct store_batch *b,
    uint64_t index, const struct msg_cat_register *r, cat_touch_fn touched,
    void *arg, struct lerr *e)
{
	struct ov ov = { cs, b, NULL, 0, 0, NULL, 0, 0, index };
	struct msg_cat_node node = r->node;
	struct nmap tagged, meta;
	struct rnode ex;
	bool found, changes;
	char err[160];
	int rv;

	if (b == NULL)
		return -LE_STATE;
	if (node.node_len == 0)
		return lerr_set(e, LE_INVAL, "Must provide node");
	if (!name_ok(node.node, node.node_len))
		return lerr_set(e, LE_INVAL, "Invalid node name");
	if (node.id_len > 0 && cat_uuid_check(node.id, node.id_len, err,
	    sizeof(err)) != 0)
		return lerr_set(e, LE_INVAL, "Bad node ID: %s", err);
	for (uint32_t i = 0; i < r->n_checks; i++) {
		struct msg_cat_check c;
		char qa[CAT_NAME_MAX + 8], qb[CAT_NAME_MAX + 8];

		msg_cat_register_check(r, i, &c);
		if (!name_ok(c.check_id, c.check_id_len))
			return lerr_set(e, LE_INVAL, "Invalid check ID");
		if (!cat_name_eq(c.node, c.node_len, node.node,
		    node.node_len)) {
			quote(qa, sizeof(qa), c.node, c.node_len);
			quote(qb, sizeof(qb), node.node, node.node_len);
			return lerr_set(e, LE_INVAL, "check node %s does not "
			    "match node %s", qa, qb);
		}
	}
	if ((rv = nmap_init(&tagged, &node.tagged)) != 0)
		return rv;
	if ((rv = nmap_init(&meta, &node.meta)) != 0) {
		nmap_free(&tagged);
		return rv;
	}
	node.tagged = tagged.m;
	node.meta = meta.m;
	node.create_index = node.modify_index = 0;
	if ((rv = load_node(&ov, node.node, node.node_len, &ex, &found)) != 0)
		goto out;
	/* RegisterRequest.ChangesNode: skip the node when nothing in it
	 * changes (no write, no index bump, no watch fires). */
	changes = !found || (!r->skip_node_update && !node_same(&node, &ex.n));
	if (found)
		rnode_free(&ex);
	if (changes && (rv = ensure_node(&ov, &node, e)) != 0)
		goto out;
	for (uint32_t i = 0; i < r->n_checks; i++) {
		struct msg_cat_check c;

		msg_cat_register_check(r, i, &c);
		if ((rv = ensure_check(&ov, &c, e)) != 0)
			goto out;
	}
	if ((rv = ov_flush(&ov)) == 0)
		report(&ov, touched, arg);
out:
	nmap_free(&tagged);
	nmap_free(&meta);
	ov_free(&ov);
	return rv;
}

int
cat_apply_deregister(struct cat_state *cs, struct store_batch *b,
    uint64_t index, const struct msg_cat_deregister *d,
    cat_touch_fn touched, void *arg, struct lerr *e)
{
	struct ov ov = { cs, b, NULL, 0, 0, NULL, 0, 0, index };
	struct rnode n;
	struct ckey k;
	void *v;
	size_t vl;
	bool found;
	int rv = 0;

	if (b == NULL)
		return -LE_STATE;
	if (d->node_len == 0)
		return lerr_set(e, LE_INVAL, "Must provide node");
	if (!name_ok(d->node, d->node_len) ||
	    !name_ok(d->check_id, d->check_id_len))
		return lerr_set(e, LE_INVAL, "Invalid node name or check ID");
	if (d->service_id_len > 0) {
		/* DeleteService: there are no services yet, so nothing to
		 * delete, which Consul answers with success. */
		return 0;
	}
	if (d->check_id_len > 0) {
		check_key(&k, d->node, d->node_len, d->check_id,
		    d->check_id_len);
		rv = ov_get(&ov, &k, &v, &vl);
		if (rv == -LE_NOTFOUND)
			return 0;
		if (rv != 0)
			return rv;
		free(v);
		if ((rv = ov_del(&ov, &k)) != 0 ||
		    (rv = ov_put_u64(&ov, KEY_CHECKS_IDX, index)) != 0 ||
		    (rv = ov_touch(&ov, CAT_TOPIC_CHECKS, d->node,
		    d->node_len)) != 0)
			goto out;
		if ((rv = load_node(&ov, d->node, d->node_len, &n,
		    &found)) != 0)
			goto out;
		if (found) {
			rnode_free(&n);
			if ((rv = bump_node_index(&ov, d->node,
			    d->node_len)) != 0)
				goto out;
		}
	} else if ((rv = delete_node(&ov, d->node, d->node_len)) != 0) {
		goto out;
	}
	if ((rv = ov_flush(&ov)) == 0)
		report(&ov, touched, arg);
out:
	ov_free(&ov);
	return rv;
}

/* ---- reads ---- */

int
cat_state_open(struct store *s, struct cat_state **out)
{
	struct cat_state *cs;

	*out = NULL;
	if (s == NULL)
		return -LE_INVAL;
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return -LE_NOMEM;
	cs->s = s;
	*out = cs;
	return 0;
}

void
cat_state_close(struct cat_state *cs)
{
	free(cs);
}

static uint64_t
read_u64(struct cat_state *cs, const void *key, size_t klen)
{
	void *v;
	size_t vl;
	uint64_t x = 0;

	if (store_get(cs->s, key, klen, &v, &vl) != 0)
		return 0;
	if (vl == 8)
		x = get_u64(v);
	free(v);
	return x;
}

uint64_t
cat_table_index(struct cat_state *cs, enum cat_table t)
{
	const char *k = t == CAT_TABLE_NODES ? KEY_NODES_IDX : KEY_CHECKS_IDX;

	return read_u64(cs, k, strlen(k));
}

uint64_t
cat_node_index(struct cat_state *cs, const char *node, size_t len)
{
	struct ckey k;

	if (!name_ok(node, len))
		return 0;
	nidx_key(&k, node, len);
	return read_u64(cs, k.b, k.len);
}

int
cat_node_get(struct cat_state *cs, const char *node, size_t len, void **rec,
    size_t *reclen)
{
	struct ckey k;

	if (len == 0 || !name_ok(node, len))
		return -LE_NOTFOUND;
	node_key(&k, node, len);
	return store_get(cs->s, k.b, k.len, rec, reclen);
}

int
cat_check_get(struct cat_state *cs, const char *node, size_t nlen,
    const char *check_id, size_t clen, void **rec, size_t *reclen)
{
	struct ckey k;

	if (!name_ok(node, nlen) || !name_ok(check_id, clen))
		return -LE_NOTFOUND;
	check_key(&k, node, nlen, check_id, clen);
	return store_get(cs->s, k.b, k.len, rec, reclen);
}

static int
walk(struct cat_state *cs, const struct ckey *prefix, cat_rec_fn fn,
    void *arg)
{
	struct store_iter *it;
	const void *key, *val;
	size_t klen, vlen;
	int rv;

	if ((it = store_iter_new(cs->s, NULL, prefix->b, prefix->len)) == NULL)
		return -LE_NOMEM;
	while ((rv = store_iter_next(it, &key, &klen, &val, &vlen)) == 1)
		if ((rv = fn(arg, val, vlen)) != 0)
			break;
	store_iter_free(it);
	return rv;
}

int
cat_walk_nodes(struct cat_state *cs, cat_rec_fn fn, void *arg)
{
	struct ckey p;

	node_key(&p, NULL, 0);
	return walk(cs, &p, fn, arg);
}

int
cat_walk_node_checks(struct cat_state *cs, const char *node, size_t len,
    cat_rec_fn fn, void *arg)
{
	struct ckey p;

	if (len == 0 || !name_ok(node, len))
		return 0;
	check_key(&p, node, len, NULL, 0);
	return walk(cs, &p, fn, arg);
}

static uint64_t
digest_prefix(struct cat_state *cs, const char *prefix, uint64_t h)
{
	struct store_iter *it;
	const void *key, *val;
	size_t klen, vlen;
	uint8_t len[8];

	if ((it = store_iter_new(cs->s, NULL, prefix, strlen(prefix))) == NULL)
		return h;
	while (store_iter_next(it, &key, &klen, &val, &vlen) == 1) {
		put_u64(len, klen);
		h = fnv64(fnv64(h, len, 8), key, klen);
		put_u64(len, vlen);
		h = fnv64(fnv64(h, len, 8), val, vlen);
	}
	store_iter_free(it);
	return h;
}

uint64_t
cat_state_digest(struct cat_state *cs, uint64_t h)
{
	return digest_prefix(cs, "m:cat.", digest_prefix(cs, "c:", h));
}
