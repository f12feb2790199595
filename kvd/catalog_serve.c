/* catalog_serve.c: the catalog's requests from httpd. Reads answer from
 * committed state (now, or parked as blocking queries in
 * catalog_watch.c) with the indexes Consul reports; writes are checked as
 * Consul's Catalog.Register/Deregister endpoints check them before Raft,
 * then proposed like any write (kvd_write.c) and answered once applied,
 * with the state's verdict. */
#include "kvd.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* The index a read reports, as Consul computes it, never 0: the nodes
 * table for the node list, nodes and services for one node (services come
 * later), the checks table for a node's checks. */
uint64_t
cat_read_index(struct kvd *k, const struct msg_cat_read *q)
{
	uint64_t idx;

	switch (q->what) {
	case CATR_NODE_CHECKS:
		idx = cat_table_index(k->cat, CAT_TABLE_CHECKS);
		break;
	default:
		idx = cat_table_index(k->cat, CAT_TABLE_NODES);
		break;
	}
	return idx > 0 ? idx : 1;
}

/* structs.SatisfiesMetaFilters: every filter pair present with its
 * value. */
static bool
meta_matches(const struct msg_cat_node *n, const struct msg_cat_strmap *f)
{
	for (uint32_t i = 0; i < f->n; i++) {
		const char *fk, *fv;
		size_t fkl, fvl;
		bool ok = false;

		msg_cat_strmap_at(f, i, &fk, &fkl, &fv, &fvl);
		for (uint32_t j = 0; j < n->meta.n && !ok; j++) {
			const char *mk, *mv;
			size_t mkl, mvl;

			msg_cat_strmap_at(&n->meta, j, &mk, &mkl, &mv, &mvl);
			ok = mkl == fkl && memcmp(mk, fk, fkl) == 0 &&
			    mvl == fvl && memcmp(mv, fv, fvl) == 0;
		}
		if (!ok)
			return false;
	}
	return true;
}

struct collect {
	struct mpw w;
	uint32_t n;
	const struct msg_cat_strmap *filter;
	int corrupt;
};

static int
collect_rec(void *arg, const void *rec, size_t len)
{
	struct collect *c = arg;

	if (c->filter != NULL && c->filter->present && c->filter->n > 0) {
		struct msg_cat_node n;
		struct proto_obj o;
		struct lerr e;
		bool keep;

		if (proto_obj_decode(rec, len, &o, &e) != 0 ||
		    msg_cat_node_dec(o.root, &n) != 0) {
			proto_obj_free(&o);
			c->corrupt++;
			return 0;
		}
		keep = meta_matches(&n, c->filter);
		proto_obj_free(&o);
		if (!keep)
			return 0;
	}
	mpw_raw(&c->w, rec, len);
	c->n++;
	return 0;
}

/* Encodes the answer's items into body (the caller frees it) and fills
 * the reply header: once per read, or once for every waiter of a parked
 * read (catalog_watch.c). */
void
cat_answer_encode(struct kvd *k, const struct msg_cat_read *q,
    struct msg_kv_read_reply *rep, struct mpw *body)
{
	struct collect c = { .filter = &q->filter };
	void *rec;
	size_t len;
	int rv = 0;

	memset(rep, 0, sizeof(*rep));
	mpw_init(&c.w);
	rep->index = cat_read_index(k, q);
	rep->known_leader = k->known_leader;
	rep->last_contact_ms = kvd_last_contact(k);
	switch (q->what) {
	case CATR_NODES:
		rv = cat_walk_nodes(k->cat, collect_rec, &c);
		break;
	case CATR_NODE:
		c.filter = NULL;
		rv = cat_node_get(k->cat, q->node, q->node_len, &rec, &len);
		if (rv == 0) {
			collect_rec(&c, rec, len);
			free(rec);
		} else if (rv == -LE_NOTFOUND) {
			rv = 0;
		}
		break;
	case CATR_NODE_CHECKS:
		c.filter = NULL;
		rv = cat_walk_node_checks(k->cat, q->node, q->node_len,
		    collect_rec, &c);
		break;
	}
	if (c.corrupt > 0)
		log_warnx("catalog: %d corrupt node records skipped", c.corrupt);
	if (rv != 0) {
		log_warnx("catalog read failed: %s", le_strerror(rv));
		rep->code = rv;
		rep->text = le_strerror(rv);
		rep->text_len = strlen(rep->text);
		c.n = 0;
		mpw_free(&c.w);
		mpw_init(&c.w);
	}
	rep->n_items = c.n;
	*body = c.w;
}

void
cat_reply_with(struct ipc_req *r, const struct msg_kv_read_reply *rep,
    const struct mpw *body)
{
	struct mpw *w = ipc_reply_begin(r, MSG_CAT_READ);

	msg_kv_read_reply_begin(w, rep);
	if (rep->n_items > 0)
		mpw_raw(w, mpw_data(body), mpw_len(body));
	ipc_reply_send(r);
}

void
cat_reply_read(struct kvd *k, struct ipc_req *r, const struct msg_cat_read *q)
{
	struct msg_kv_read_reply rep;
	struct mpw body;

	k->st.cat_reads++;
	cat_answer_encode(k, q, &rep, &body);
	cat_reply_with(r, &rep, &body);
	mpw_free(&body);
}

void
cat_serve_read(struct kvd *k, struct ipc_req *r, const struct msg_cat_read *q)
{
	if (q->min_index > 0 && q->wait_ms > 0 &&
	    cat_read_index(k, q) <= q->min_index)
		cat_watch_park(k->cwatch, r, q);
	else
		cat_reply_read(k, r, q);
}

/* ---- writes ---- */

static void
refuse(struct ipc_req *r, int code, const char *text)
{
	struct msg_kv_write_reply rep = { code, text, strlen(text), false, 0 };

	msg_kv_write_reply_enc(ipc_reply_begin(r, r->msg.type), &rep);
	ipc_reply_send(r);
}

/* Catalog.Register's checks before Raft (agent/consul/catalog_endpoint.go);
 * the state applies the rest. */
static void
cat_register(struct kvd *k, struct ipc_req *r, const struct msg_cat_register *reg)
{
	struct msg_sm_cmd cmd = { .type = SMC_CATALOG_REGISTER, .reg = *reg };
	char err[160], text[200];

	k->st.cat_writes++;
	if (reg->node.node_len == 0) {
		refuse(r, -LE_INVAL, "Must provide node");
		return;
	}
	if (reg->node.address_len == 0 && !reg->skip_node_update) {
		refuse(r, -LE_INVAL,
		    "Must provide address if SkipNodeUpdate is not set");
		return;
	}
	if (reg->node.id_len > 0 && cat_uuid_check(reg->node.id,
	    reg->node.id_len, err, sizeof(err)) != 0) {
		snprintf(text, sizeof(text), "Bad node ID: %s", err);
		refuse(r, -LE_INVAL, text);
		return;
	}
	if (memchr(reg->node.node, '\0', reg->node.node_len) != NULL) {
		refuse(r, -LE_INVAL, "Invalid node name: contains a NUL byte");
		return;
	}
	kvd_propose(k, r, &cmd);
}

static void
cat_deregister(struct kvd *k, struct ipc_req *r,
    const struct msg_cat_deregister *d)
{
	struct msg_sm_cmd cmd = { .type = SMC_CATALOG_DEREGISTER, .dereg = *d };

	k->st.cat_writes++;
	if (d->node_len == 0) {
		refuse(r, -LE_INVAL, "Must provide node");
		return;
	}
	kvd_propose(k, r, &cmd);
}

void
cat_handle(struct kvd *k, struct ipc_req *r)
{
	struct msg_cat_read q;
	struct msg_cat_register reg;
	struct msg_cat_deregister d;
	struct lerr e;

	switch (r->msg.type) {
	case MSG_CAT_READ:
		if (msg_cat_read_dec(&r->msg, &q, &e) != 0)
			fatalx("catalog.read from httpd: %s", e.msg);
		if (q.consistency == CONS_STALE ||
		    (q.consistency == CONS_DEFAULT && kvd_lease_valid(k))) {
			if (q.consistency == CONS_DEFAULT)
				k->st.lease_reads++;
			cat_serve_read(k, r, &q);
		} else {
			kvd_ask_read_index_cat(k, r, &q);
		}
		break;
	case MSG_CAT_REGISTER:
		if (msg_cat_register_dec(&r->msg, &reg, &e) != 0)
			fatalx("catalog.register from httpd: %s", e.msg);
		cat_register(k, r, &reg);
		break;
	case MSG_CAT_DEREGISTER:
		if (msg_cat_deregister_dec(&r->msg, &d, &e) != 0)
			fatalx("catalog.deregister from httpd: %s", e.msg);
		cat_deregister(k, r, &d);
		break;
	default:
		fatalx("unexpected %s from httpd",
		    proto_type_name(r->msg.type));
	}
}
