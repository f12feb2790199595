/* kvd_serve.c: answering httpd: KV reads (immediate or parked as
 * blocking queries) and dispatching writes into the group commit. */
#include "kvd.h"
#include "log.h"
#include "util.h"

#include <string.h>

/* The index a read reports. Like Consul, never 0: clients treat 0 as "no
 * blocking" and an empty store would make them spin. */
uint64_t
kvd_read_index(struct kvd *k, const struct msg_kv_read *q)
{
	uint64_t idx;

	if (q->mode == KVR_GET)
		idx = kv_key_index(k->kv, q->key, q->key_len);
	else
		idx = kv_prefix_index(k->kv, q->key, q->key_len);
	return idx > 0 ? idx : 1;
}

struct collect {
	struct mpw w;
	uint32_t n;
};

static int
collect_entry(void *arg, const struct kv_entry *e)
{
	struct collect *c = arg;
	struct msg_kv_entry me = {
		.key = e->key, .key_len = e->key_len,
		.value = e->value, .value_len = e->value_len,
		.create_index = e->create_index,
		.modify_index = e->modify_index,
		.lock_index = e->lock_index, .flags = e->flags,
		.session = e->session,
		.session_len = e->session ? strlen(e->session) : 0,
	};

	msg_kv_entry_enc(&c->w, &me);
	c->n++;
	return 0;
}

static int
collect_key(void *arg, const char *key, size_t klen)
{
	struct collect *c = arg;

	mpw_str(&c->w, key, klen);
	c->n++;
	return 0;
}

void
kvd_reply_read(struct kvd *k, struct ipc_req *r, const struct msg_kv_read *q)
{
	struct msg_kv_read_reply rep = { 0 };
	struct collect c;
	struct kv_entry ent;
	struct mpw *w;
	int rv = 0;

	k->st.reads++;
	mpw_init(&c.w);
	c.n = 0;
	rep.index = kvd_read_index(k, q);
	rep.known_leader = k->known_leader;
	rep.last_contact_ms = kvd_last_contact(k);
	switch (q->mode) {
	case KVR_GET:
		rv = kv_get(k->kv, q->key, q->key_len, &ent);
		if (rv == 0) {
			collect_entry(&c, &ent);
			kv_entry_clear(&ent);
		}
		break;
	case KVR_RECURSE:
		rv = kv_list(k->kv, q->key, q->key_len, collect_entry, &c);
		break;
	case KVR_KEYS:
		rv = kv_keys(k->kv, q->key, q->key_len, q->sep, q->sep_len,
		    collect_key, &c);
		break;
	}
	if (rv == 0 && c.n == 0)
		rv = -LE_NOTFOUND;
	if (rv != 0 && rv != -LE_NOTFOUND) {
		log_warnx("read failed: %s", le_strerror(rv));
		rep.text = le_strerror(rv);
		rep.text_len = strlen(rep.text);
		c.n = 0;
	}
	rep.code = rv;
	rep.n_items = rv == 0 ? c.n : 0;
	w = ipc_reply_begin(r, MSG_KV_READ);
	msg_kv_read_reply_begin(w, &rep);
	if (rep.n_items > 0)
		mpw_raw(w, mpw_data(&c.w), mpw_len(&c.w));
	mpw_free(&c.w);
	ipc_reply_send(r);
}

static void
kvd_status(struct kvd *k, struct ipc_req *r)
{
	struct msg_kv_status_reply rep = { 0 };
	char leader[300];

	snprintf(leader, sizeof(leader), "%s:%lld",
	    k->cfg.advertise_addr && *k->cfg.advertise_addr ?
	    k->cfg.advertise_addr : k->cfg.bind_addr,
	    (long long)k->cfg.port_server);
	rep.applied = kv_state_applied(k->kv);
	rep.known_leader = k->known_leader;
	rep.leader = leader;
	rep.leader_len = strlen(leader);
	msg_kv_status_reply_enc(ipc_reply_begin(r, MSG_KV_STATUS), &rep);
	ipc_reply_send(r);
}

/* Parks a blocking query or answers now. */
void
kvd_serve_read(struct kvd *k, struct ipc_req *r, const struct msg_kv_read *q)
{
	if (q->min_index > 0 && kvd_read_index(k, q) <= q->min_index &&
	    q->wait_ms > 0)
		kv_watch_park(k->watch, r, q);
	else
		kvd_reply_read(k, r, q);
}

static void
snapshot_written(void *arg, int rv, uint64_t index, const char *err)
{
	struct ipc_req *r = arg;
	struct msg_raft_index_reply rep = { .code = rv, .index = index };

	if (rv != 0) {
		log_warnx("%s", err);
		rep.text = err;
		rep.text_len = strlen(err);
	}
	msg_raft_index_reply_enc(ipc_reply_begin(r, MSG_KV_SNAPSHOT), &rep);
	ipc_reply_send(r);
}

static void
kvd_snapshot(struct kvd *k, struct ipc_req *r, const struct msg_kv_snapshot *s)
{
	char path[RAFT_PATH_MAX + 1];
	struct lerr e = { "" };

	memcpy(path, s->path, s->path_len);
	path[s->path_len] = '\0';
	if (kv_snapshot_save_async(k, path, snapshot_written, r, &e) != 0) {
		snapshot_written(r, -LE_STATE, 0, e.msg);
		return;
	}
	k->st.snapshots_saved++;
}

void
kvd_handle(void *arg, struct ipc_req *r)
{
	struct kvd *k = arg;
	struct msg_kv_read q;
	struct msg_kv_write wr;
	struct lerr e;

	switch (r->msg.type) {
	case MSG_KV_READ:
		if (msg_kv_read_dec(&r->msg, &q, &e) != 0)
			fatalx("kv.read from httpd: %s", e.msg);
		if (q.consistency == CONS_STALE ||
		    (q.consistency == CONS_DEFAULT && kvd_lease_valid(k))) {
			if (q.consistency == CONS_DEFAULT)
				k->st.lease_reads++;
			kvd_serve_read(k, r, &q);
		} else {
			kvd_ask_read_index(k, r, &q);
		}
		break;
	case MSG_KV_WRITE:
		if (msg_kv_write_dec(&r->msg, &wr, &e) != 0)
			fatalx("kv.write from httpd: %s", e.msg);
		kvd_write(k, r, &wr);
		break;
	case MSG_KV_STATUS: {
		struct msg_admin_req none;

		if (msg_admin_req_dec(&r->msg, &none, &e) != 0)
			fatalx("kv.status from httpd: %s", e.msg);
		kvd_status(k, r);
		break;
	}
	case MSG_CAT_READ:
	case MSG_CAT_REGISTER:
	case MSG_CAT_DEREGISTER:
		cat_handle(k, r);
		break;
	case MSG_KV_SNAPSHOT: {
		struct msg_kv_snapshot snap;

		if (msg_kv_snapshot_dec(&r->msg, &snap, &e) != 0)
			fatalx("kv.snapshot from raftd: %s", e.msg);
		kvd_snapshot(k, r, &snap);
		break;
	}
	default:
		/* A sibling sending a type it should not is a bug. */
		fatalx("unexpected %s from httpd",
		    proto_type_name(r->msg.type));
	}
}
