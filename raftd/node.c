/* node.c: the Raft core inside raftd. Starts it from what the store
 * holds, drives its clock, carries its messages (wire format below), and
 * implements its callbacks: persistence into the batch the loop's idle
 * hook hands to the persistence thread, the apply stream that kvd pulls
 * through raft.fetch, snapshots, and the outcomes of proposals and reads.
 *
 * Wire form of a core message (proto/raft_wire.h, a[] by type):
 *   VOTE, PREVOTE        a0 last_index, a1 last_term, a2 transfer
 *   VOTE_RESP, PREVOTE_RESP  a0 granted
 *   APPEND               a0 prev_index, a1 prev_term, a2 commit, a3 round,
 *                        entries
 *   APPEND_RESP          a0 success, a1 match, a2 index,
 *                        a3 hint_index, a4 hint_term, a5 round
 *   SNAPSHOT             a0 round, a1 index, a2 term, blob = encoded
 *                        configuration, data = the snapshot's bytes
 *   SNAPSHOT_RESP        as APPEND_RESP
 *   TIMEOUT_NOW          nothing */
#include "raftd.h"
#include "gotime.h"
#include "log.h"
#include "log_store.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PERSIST_BATCH_MAX 8192	/* store operations per batch */

/* ---- identities and addresses ----
 * A server's entry in the configuration carries "ip:port uuid node". */

uint64_t
node_id_of_n(const char *uuid, size_t len)
{
	uint64_t h = fnv64(FNV64_OFFSET, uuid, len);

	return h == 0 ? 1 : h;
}

uint64_t
node_id_of(const char *uuid)
{
	return node_id_of_n(uuid, strlen(uuid));
}

static void
conf_field(const struct raft_server *s, int n, char *out, size_t len)
{
	const char *p = s->addr, *end;

	for (int i = 0; i < n && p != NULL; i++)
		if ((p = strchr(p, ' ')) != NULL)
			p++;
	if (p == NULL) {
		snprintf(out, len, "%s", "");
		return;
	}
	end = strchr(p, ' ');
	snprintf(out, len, "%.*s", (int)(end ? (size_t)(end - p) :
	    strlen(p)), p);
}

void
node_server_addr(const struct raft_server *s, char *out, size_t len)
{
	conf_field(s, 0, out, len);
}

void
node_server_uuid(const struct raft_server *s, char *out, size_t len)
{
	conf_field(s, 1, out, len);
}

void
node_server_name(const struct raft_server *s, char *out, size_t len)
{
	conf_field(s, 2, out, len);
}

bool
node_leader_addr(struct raftd *d, char *out, size_t len)
{
	struct raft_status st;
	struct raft_config c;
	const struct raft_server *s;

	raft_status(d->r, &st);
	if (st.leader == 0)
		return false;
	raft_config_get(d->r, false, &c);
	if ((s = raft_config_find(&c, st.leader)) != NULL)
		node_server_addr(s, out, len);
	else if (!cluster_addr_of(d, st.leader, out, len))
		return false; /* a joiner before the configuration reached it */
	return out[0] != '\0';
}

/* How long kvd may answer default reads from its own state. The core
 * says whether the lease holds now; kvd is told a horizon short enough
 * that the lease (90% of the election timeout after a quorum round) plus
 * the horizon stays under the shortest election timeout of the
 * followers, and is told again before it runs out (serve_fetch_check). */
uint64_t
node_lease_ms(struct raftd *d)
{
	uint64_t idx;

	if (raft_lease_read(d->r, &idx) != 0)
		return 0;
	return RAFTD_LEASE_HORIZON_MS;
}

void
node_send_raw(struct raftd *d, const char *addr, struct mpw *w)
{
	if (w->err != 0) {
		log_warnx("message to %s: encoding failed", addr);
		return;
	}
	if (transport_send(d->tr, addr, mpw_data(w), mpw_len(w)) == 0)
		d->st.wire_out++;
}

/* ---- core callbacks ---- */

static uint64_t
op_now(void *ctx)
{
	(void)ctx;
	return mono_ms();
}

/* Election jitter, drawn at every message from the leader, and the
 * snapshot schedule's: a splitmix64 stream seeded once from the kernel,
 * not a getrandom(2) call each time. */
uint64_t
node_rand(struct raftd *d)
{
	uint64_t z;

	if (d->rng == 0)
		random_bytes(&d->rng, sizeof(d->rng));
	z = (d->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
op_rand(void *ctx)
{
	return node_rand(ctx);
}

/* APPEND_RESP and SNAPSHOT_RESP share a body and its wire form. */
static void
resp_to_wire(const struct raft_append_resp *r, uint64_t a[6])
{
	a[0] = r->success;
	a[1] = r->match;
	a[2] = r->index;
	a[3] = r->hint_index;
	a[4] = r->hint_term;
	a[5] = r->round;
}

static void
resp_from_wire(struct raft_append_resp *r, const uint64_t a[6])
{
	r->success = a[0] != 0;
	r->match = a[1];
	r->index = a[2];
	r->hint_index = a[3];
	r->hint_term = a[4];
	r->round = a[5];
}

/* Where each server is, looked up once per id instead of copying the
 * configuration for every message sent; dropped every tick so an address
 * that changes with the configuration is picked up. */
static bool
addr_cached(struct raftd *d, uint64_t id, char *out, size_t len)
{
	for (size_t i = 0; i < d->naddr_cache; i++)
		if (d->addr_cache[i].id == id) {
			snprintf(out, len, "%s", d->addr_cache[i].addr);
			return true;
		}
	return false;
}

static void
addr_cache_put(struct raftd *d, uint64_t id, const char *addr)
{
	size_t i = d->naddr_cache < RAFT_MAX_SERVERS ? d->naddr_cache++ :
	    (size_t)(id % RAFT_MAX_SERVERS);

	d->addr_cache[i].id = id;
	snprintf(d->addr_cache[i].addr, sizeof(d->addr_cache[i].addr), "%s",
	    addr);
}

/* A snapshot too big for one message goes in pieces, in order, over the
 * one connection to the peer; the core resends the whole if one is lost. */
static void
send_chunks(struct raftd *d, const char *addr, const struct raft_msg *m,
    const void *conf, size_t conf_len)
{
	const struct raft_snapshot *sn = &m->u.snapshot.snap;
	struct rw_snap_chunk c = { .to = m->to, .term = m->term,
		.round = m->u.snapshot.round, .index = sn->index,
		.snap_term = sn->term, .total = sn->len, .conf = conf,
		.conf_len = conf_len };

	if ((uint64_t)sn->len > RW_SNAP_TOTAL_MAX) {
		log_error("snapshot of %zu bytes is over the %llu bytes a "
		    "server accepts", sn->len,
		    (unsigned long long)RW_SNAP_TOTAL_MAX);
		return;
	}
	for (c.offset = 0; c.offset < sn->len; c.offset += c.data_len) {
		struct mpw out;

		c.data = (const uint8_t *)sn->data + c.offset;
		c.data_len = sn->len - c.offset < RW_SNAP_CHUNK_MAX ?
		    sn->len - c.offset : RW_SNAP_CHUNK_MAX;
		mpw_init(&out);
		rw_snap_chunk_enc(&out, d->id, &c);
		node_send_raw(d, addr, &out);
		d->st.snap_chunks_sent++;
		mpw_free(&out);
	}
}

static bool
in_config(struct raftd *d, uint64_t id)
{
	struct raft_config c;

	raft_config_get(d->r, false, &c);
	return raft_config_find(&c, id) != NULL;
}

/* Gathers the pieces of a snapshot; steps the whole InstallSnapshot into
 * the core once complete. One snapshot at a time: pieces of another (a
 * newer one, or a resend) start over. */
static void
snap_rx_chunk(struct raftd *d, uint64_t from, const struct rw_snap_chunk *c)
{
	struct snap_rx *rx = &d->snap_rx;
	struct raft_msg m;
	char addr[RW_ADDR_MAX + 1];

	/* Memory is set aside for the whole snapshot at the first piece:
	 * only for a piece addressed to us by a server we know. */
	if (c->to != d->id || (!addr_cached(d, from, addr, sizeof(addr)) &&
	    !cluster_addr_of(d, from, addr, sizeof(addr)) &&
	    !in_config(d, from))) {
		d->st.wire_bad++;
		return;
	}
	if (rx->buf == NULL || rx->from != from || rx->index != c->index ||
	    rx->snap_term != c->snap_term || rx->total != c->total ||
	    c->offset != rx->got) {
		free(rx->buf);
		memset(rx, 0, sizeof(*rx));
		if (c->offset != 0)
			return; /* joined mid-way: wait for the resend */
		rx->buf = malloc(c->total);
		if (rx->buf == NULL) {
			log_warnx("no memory for a snapshot of %llu bytes",
			    (unsigned long long)c->total);
			return;
		}
		rx->from = from;
		rx->index = c->index;
		rx->snap_term = c->snap_term;
		rx->total = c->total;
	}
	memcpy(rx->buf + rx->got, c->data, c->data_len);
	rx->got += c->data_len;
	d->st.snap_chunks_received++;
	if (rx->got < rx->total)
		return;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_SNAPSHOT;
	m.from = from;
	m.to = c->to;
	m.term = c->term;
	m.u.snapshot.round = c->round;
	m.u.snapshot.snap.index = c->index;
	m.u.snapshot.snap.term = c->snap_term;
	m.u.snapshot.snap.data = rx->buf;
	m.u.snapshot.snap.len = rx->total;
	if (raft_config_decode(c->conf, c->conf_len,
	    &m.u.snapshot.snap.conf) != 0)
		d->st.wire_bad++;
	else if (snapshot_check(d, "a snapshot from the leader", c->index,
	    rx->buf, rx->total))
		(void)raft_step(d->r, &m);
	free(rx->buf);
	memset(rx, 0, sizeof(*rx));
}

static void op_send(void *ctx, const struct raft_msg *m);

/* Test builds: `lictor ctl raftd fault damage-snapshots` flips a byte in
 * the middle of every snapshot this server sends, as a bad disk or
 * memory would; the receiver must refuse them. */
static void
op_send_damaged(struct raftd *d, const struct raft_msg *m)
{
	struct raft_msg c = *m;
	uint8_t *copy = xmalloc(m->u.snapshot.snap.len);

	memcpy(copy, m->u.snapshot.snap.data, m->u.snapshot.snap.len);
	copy[m->u.snapshot.snap.len / 2] ^= 0x20;
	c.u.snapshot.snap.data = copy;
	d->fault_damage_snaps = false;
	op_send(d, &c);
	d->fault_damage_snaps = true;
	free(copy);
}

static void
op_send(void *ctx, const struct raft_msg *m)
{
	struct raftd *d = ctx;
	struct raft_config c;
	const struct raft_server *s;
	struct rw_raft w = { .mtype = m->type, .to = m->to, .term = m->term };
	uint8_t confbuf[RAFT_MAX_SERVERS * (RAFT_ADDR_MAX + 16) + 8];
	char addr[RW_ADDR_MAX + 1];
	struct mpw out;

	if (!addr_cached(d, m->to, addr, sizeof(addr))) {
		raft_config_get(d->r, false, &c);
		if ((s = raft_config_find(&c, m->to)) != NULL)
			node_server_addr(s, addr, sizeof(addr));
		else if (!cluster_addr_of(d, m->to, addr, sizeof(addr)))
			return; /* a server we know nothing of: unreachable */
		addr_cache_put(d, m->to, addr);
	}
	if (d->fault_damage_snaps && m->type == RAFT_MSG_SNAPSHOT &&
	    m->u.snapshot.snap.len > 0) {
		op_send_damaged(d, m);
		return;
	}
	switch (m->type) {
	case RAFT_MSG_VOTE:
	case RAFT_MSG_PREVOTE:
		w.a[0] = m->u.vote.last_index;
		w.a[1] = m->u.vote.last_term;
		w.a[2] = m->u.vote.transfer;
		break;
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_PREVOTE_RESP:
		w.a[0] = m->u.vote_resp.granted;
		break;
	case RAFT_MSG_APPEND:
		w.a[0] = m->u.append.prev_index;
		w.a[1] = m->u.append.prev_term;
		w.a[2] = m->u.append.commit;
		w.a[3] = m->u.append.round;
		w.n_entries = (uint32_t)m->u.append.n;
		break;
	case RAFT_MSG_APPEND_RESP:
		resp_to_wire(&m->u.append_resp, w.a);
		break;
	case RAFT_MSG_SNAPSHOT_RESP:
		resp_to_wire(&m->u.snapshot_resp, w.a);
		break;
	case RAFT_MSG_SNAPSHOT: {
		const struct raft_snapshot *sn = &m->u.snapshot.snap;
		size_t cl = raft_config_encode(&sn->conf, confbuf,
		    sizeof(confbuf));

		if (cl > sizeof(confbuf))
			return;
		if (sn->len > RW_SNAP_CHUNK_MAX) {
			send_chunks(d, addr, m, confbuf, cl);
			return;
		}
		w.a[0] = m->u.snapshot.round;
		w.a[1] = sn->index;
		w.a[2] = sn->term;
		w.blob = confbuf;
		w.blob_len = cl;
		w.data = sn->data;
		w.data_len = sn->len;
		break;
	}
	case RAFT_MSG_TIMEOUT_NOW:
		break;
	default:
		return;
	}
	mpw_init(&out);
	rw_raft_begin(&out, d->id, &w);
	for (size_t i = 0; i < w.n_entries; i++) {
		const struct raft_entry *e = &m->u.append.entries[i];
		struct msg_raft_entry me = { e->index, e->term, e->type,
			e->data, e->len };

		msg_raft_entry_enc(&out, &me);
	}
	node_send_raw(d, addr, &out);
	mpw_free(&out);
}

/* Every store operation goes into the batch of this loop turn. */
static struct store_batch *
batch(struct raftd *d)
{
	if (d->batch == NULL)
		d->batch = store_batch_new(d->store);
	return d->batch;
}

static void
batch_check(struct raftd *d, int rv)
{
	if (rv != 0)
		fatalx("raft log: %s", le_strerror(rv));
	d->batch_ops++;
}

/* This turn's batch leaves d: to the persistence thread, or (inline)
 * back to the caller to commit on the loop thread. */
static struct store_batch *
batch_take(struct raftd *d, uint64_t *seq)
{
	struct store_batch *b = d->batch;

	d->st.persist_batches++;
	if (d->batch_ops > d->st.persist_max_batch)
		d->st.persist_max_batch = d->batch_ops;
	*seq = d->batch_seq;
	d->batch = NULL;
	d->batch_seq = 0;
	d->batch_ops = 0;
	return b;
}

static void
batch_submit(struct raftd *d)
{
	struct store_batch *b;
	uint64_t seq;

	b = batch_take(d, &seq);
	persist_submit(d->persist, b, seq);
}

/* At the end of a persistence request (never inside one: each must be
 * atomic), a batch grown past PERSIST_BATCH_MAX goes to the persistence
 * thread without waiting for the loop's turn to end. Only the store batch
 * moves: this runs inside a core callback, where nothing may call back
 * into the core. */
static void
batch_end_request(struct raftd *d)
{
	if (d->batch != NULL && d->batch_ops >= PERSIST_BATCH_MAX)
		batch_submit(d);
}

static void
op_persist_state(void *ctx, uint64_t seq, uint64_t term, uint64_t vote)
{
	struct raftd *d = ctx;
	char v[24];

	snprintf(v, sizeof(v), "%" PRIu64, vote);
	batch_check(d, ls_put_hardstate(batch(d), term, vote ? v : ""));
	d->batch_seq = seq;
	batch_end_request(d);
}

static void
op_persist_entries(void *ctx, uint64_t seq, uint64_t first,
    const struct raft_entry *e, size_t n)
{
	struct raftd *d = ctx;
	struct store_batch *b = batch(d);

	if (d->ls_last >= first && d->ls_first != 0) {
		batch_check(d, ls_del_entries(b, first > d->ls_first ? first :
		    d->ls_first, d->ls_last));
		d->ls_last = first - 1;
		if (d->ls_last < d->ls_first)
			d->ls_first = d->ls_last = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct ls_entry le = { e[i].index, e[i].term, e[i].type,
			e[i].data, e[i].len };

		batch_check(d, ls_put_entry(b, &le));
		if (d->ls_first == 0)
			d->ls_first = e[i].index;
		d->ls_last = e[i].index;
	}
	d->batch_seq = seq;
	batch_end_request(d);
}

static void
op_persist_snapshot(void *ctx, uint64_t seq, const struct raft_snapshot *s)
{
	struct raftd *d = ctx;
	uint8_t conf[RAFT_MAX_SERVERS * (RAFT_ADDR_MAX + 16) + 8];
	size_t cl = raft_config_encode(&s->conf, conf, sizeof(conf));
	struct lerr e;

	/* The bytes go to their own file first; the metadata that points
	 * at it commits with the batch, atomically with the log's removal. */
	if (cl > sizeof(conf))
		fatalx("snapshot configuration too large");
	if (snapshot_write(d, s->index, s->data, s->len, &e) != 0)
		fatalx("%s", e.msg);
	batch_check(d, ls_put_snap_meta(batch(d), s->index, s->term, conf,
	    cl));
	if (d->ls_first != 0)
		batch_check(d, ls_del_entries(batch(d), d->ls_first,
		    d->ls_last));
	d->ls_first = d->ls_last = 0;
	d->snap_index = s->index;
	d->snap_term = s->term;
	d->snap_damaged = d->snap_heal_now = false;	/* installed over */
	d->batch_seq = seq;
	batch_end_request(d);
}

/* Entries up to index are covered by a snapshot whose metadata is in the
 * batch gathering now: once that batch is handed over, one range delete
 * follows it on the persistence thread (node_flush). Deleting them key by
 * key in the batch cost the loop ~1 us per entry. */
static void
op_compact(void *ctx, uint64_t index)
{
	struct raftd *d = ctx;

	if (d->ls_first == 0 || index < d->ls_first)
		return;
	if (index > d->ls_last)
		index = d->ls_last;
	d->compact_from = d->compact_from ? d->compact_from : d->ls_first;
	d->compact_to = index;
	(void)batch(d); /* the metadata's batch must be handed over first */
	d->ls_first = index + 1;
	if (d->ls_first > d->ls_last)
		d->ls_first = d->ls_last = 0;
}

static void
op_apply(void *ctx, const struct raft_entry *e, size_t n)
{
	struct raftd *d = ctx;

	/* kvd pulls committed entries itself (serve.c); the core only says
	 * how far they go. */
	if (n > 0)
		d->apply_upto = e[n - 1].index;
}

static void
op_restore(void *ctx, const struct raft_snapshot *s)
{
	struct raftd *d = ctx;

	/* The snapshot is durable (persist_snapshot came first); kvd finds
	 * its log compacted at its next fetch and loads the file. */
	d->apply_upto = s->index;
}

static void
op_snapshot(void *ctx, uint64_t index)
{
	snapshot_take(ctx, index);
}

static void
op_result(void *ctx, uint64_t index, uint64_t term, uint8_t type, int status)
{
	(void)type;
	serve_result(ctx, index, term, status);
}

static void
op_read_done(void *ctx, uint64_t id, uint64_t index, int status)
{
	serve_read_done(ctx, id, index, status);
}

static void
op_changed(void *ctx, const struct raft_status *st)
{
	struct raftd *d = ctx;
	static const char *names[] = { "follower", "pre-candidate",
		"candidate", "leader" };

	log_info("raft: %s, term %" PRIu64 ", leader %016" PRIx64,
	    st->state <= 3 ? names[st->state] : "?", st->term, st->leader);
	/* Acted on from the loop: a callback must not call into the core. */
	d->leader_changed = true;
}

static const struct raft_ops node_ops = {
	.now = op_now,
	.rand = op_rand,
	.send = op_send,
	.persist_state = op_persist_state,
	.persist_entries = op_persist_entries,
	.persist_snapshot = op_persist_snapshot,
	.compact = op_compact,
	.apply = op_apply,
	.restore = op_restore,
	.snapshot = op_snapshot,
	.result = op_result,
	.read_done = op_read_done,
	.changed = op_changed,
};

/* ---- persistence ---- */

void
node_persisted(void *arg, int rv, uint64_t seq)
{
	struct raftd *d = arg;

	if (rv != 0)
		fatalx("raft log commit failed: %s", le_strerror(rv));
	if (seq != 0 && !d->stopping)
		raft_persisted(d->r, seq);
	serve_fetch_check(d);
}

/* The batch of the turn that just ended, committed on the loop thread
 * (node_flush): deferred behind the sends of that turn, so the followers
 * and kvd have what it produced before the loop waits for the disk. */
static void
inline_commit(void *arg)
{
	struct raftd *d = arg;
	struct store_batch *b;
	uint64_t seq;
	int rv;

	d->inline_pending = false;
	if (d->batch == NULL)
		return;
	if (d->stopping || persist_inflight(d->persist) != 0 ||
	    d->compact_to != 0) {
		node_flush(d);	/* order first: the thread's queue */
		return;
	}
	b = batch_take(d, &seq);
	if ((rv = persist_commit_now(d->persist, b)) == -LE_STATE)
		fatalx("raft log: inline commit with batches in flight");
	d->st.persist_inline++;
	node_persisted(d, rv, seq);
	/* what the durable batch released: replies, commit, kvd */
	node_flush(d);
}

/* The idle hook: this turn's batch goes to the disk. While the
 * persistence thread works, it queues behind (one batch syncs while the
 * next gathers: group commit); when the thread is idle, the loop commits
 * the batch itself once this turn's sends are out, which on a 2-core host
 * measured +60-80% writes/s at 64 clients (docs/architecture.md). */
void
node_flush(void *arg)
{
	struct raftd *d = arg;

	/* Whatever this turn committed, kvd hears of first: it answers
	 * writes when it applies them, so the entries are on the critical
	 * path and the proposals' replies are not. */
	serve_fetch_check(d);
	if (!d->stopping)
		serve_complete(d);
	if (d->leader_changed && !d->stopping) {
		d->leader_changed = false;
		serve_leader_changed(d);
		serve_complete(d);
	}
	if (d->batch == NULL || (d->inline_pending && !d->stopping))
		return;
	if (!d->stopping && d->compact_to == 0 &&
	    persist_inflight(d->persist) == 0) {
		d->inline_pending = true;
		loop_defer(d->loop, inline_commit, d);
		return;
	}
	batch_submit(d);
	if (d->compact_to != 0) {
		uint8_t from[9], to[9];

		ls_entry_key(from, d->compact_from);
		ls_entry_key(to, d->compact_to + 1);
		persist_delete_range(d->persist, from, 9, to, 9);
		d->compact_from = d->compact_to = 0;
	}
}

/* ---- the wire ---- */

static int
wire_raft(struct raftd *d, const struct rw_msg *w)
{
	const struct rw_raft *r = &w->u.raft;
	struct raft_msg m = { .type = (uint8_t)r->mtype, .from = w->from,
		.to = r->to, .term = r->term };
	struct raft_entry *ents = NULL;
	int rv;

	switch (r->mtype) {
	case RAFT_MSG_VOTE:
	case RAFT_MSG_PREVOTE:
		m.u.vote.last_index = r->a[0];
		m.u.vote.last_term = r->a[1];
		m.u.vote.transfer = r->a[2] != 0;
		break;
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_PREVOTE_RESP:
		m.u.vote_resp.granted = r->a[0] != 0;
		break;
	case RAFT_MSG_APPEND:
		m.u.append.prev_index = r->a[0];
		m.u.append.prev_term = r->a[1];
		m.u.append.commit = r->a[2];
		m.u.append.round = r->a[3];
		m.u.append.n = r->n_entries;
		if (r->n_entries > 0) {
			ents = xcalloc(r->n_entries, sizeof(*ents));
			for (uint32_t i = 0; i < r->n_entries; i++) {
				struct msg_raft_entry me;

				if (msg_raft_entry_dec(&r->entries[i], &me)) {
					free(ents);
					return -LE_MALFORMED;
				}
				ents[i] = (struct raft_entry){ me.index,
					me.term, (uint8_t)me.type, me.data_len,
					me.data_len ? me.data : NULL };
			}
		}
		m.u.append.entries = ents;
		break;
	case RAFT_MSG_APPEND_RESP:
		resp_from_wire(&m.u.append_resp, r->a);
		break;
	case RAFT_MSG_SNAPSHOT:
		m.u.snapshot.round = r->a[0];
		m.u.snapshot.snap.index = r->a[1];
		m.u.snapshot.snap.term = r->a[2];
		if (raft_config_decode(r->blob, r->blob_len,
		    &m.u.snapshot.snap.conf) != 0)
			return -LE_MALFORMED;
		m.u.snapshot.snap.data = r->data;
		m.u.snapshot.snap.len = r->data_len;
		/* Refused whole (the leader sends it again): installing it
		 * would leave kvd nothing it could restore. */
		if (!snapshot_check(d, "a snapshot from the leader", r->a[1],
		    r->data, r->data_len))
			return 0;
		break;
	case RAFT_MSG_SNAPSHOT_RESP:
		resp_from_wire(&m.u.snapshot_resp, r->a);
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		break;
	default:
		return -LE_MALFORMED;
	}
	rv = raft_step(d->r, &m);
	free(ents);
	return rv;
}

void
node_on_wire(void *arg, const void *buf, size_t len)
{
	struct raftd *d = arg;
	struct proto_obj o;
	struct rw_msg m;
	struct lerr e = { "" };
	int rv;

	if (d->stopping)
		return;
	d->st.wire_in++;
	rv = rw_decode(buf, len, &o, &m, &e);
	if (rv == 0) {
		switch (m.type) {
		case RW_RAFT:
			rv = wire_raft(d, &m);
			if (rv == -LE_MALFORMED)
				snprintf(e.msg, sizeof(e.msg),
				    "raft message refused by the core");
			break;
		case RW_HELLO:
			cluster_hello_in(d, &m);
			break;
		case RW_SNAP_CHUNK:
			snap_rx_chunk(d, m.from, &m.u.chunk);
			break;
		case RW_FWD_PROPOSE:
		case RW_FWD_READ:
		case RW_FWD_OP:
			serve_fwd_in(d, &m);
			break;
		case RW_KV_FWD:
			kvfwd_in(d, &m);
			break;
		case RW_KV_FWD_REPLY:
			kvfwd_reply_in(d, &m);
			break;
		default:
			serve_fwd_reply_in(d, &m);
			break;
		}
	}
	if (rv == -LE_MALFORMED || rv == -LE_VERSION || rv == -LE_TOOBIG) {
		d->st.wire_bad++;
		log_debug("dropped a message from the network: %s", e.msg);
	}
	proto_obj_free(&o);
}

/* ---- start, tick, stop ---- */

struct loaded {
	struct raft_entry *e;
	size_t n, cap;
};

static int
load_entry(void *arg, const struct ls_entry *le)
{
	struct loaded *l = arg;
	void *copy = NULL;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->e = xrealloc(l->e, l->cap * sizeof(*l->e));
	}
	if (le->len > 0) {
		copy = xmalloc(le->len);
		memcpy(copy, le->data, le->len);
	}
	l->e[l->n++] = (struct raft_entry){ le->index, le->term, le->type,
		le->len, copy };
	return 0;
}

int
node_start(struct raftd *d, struct lerr *e)
{
	struct raft_options o;
	struct ls_state st;
	struct loaded l = { 0 };
	struct raft_boot b = { 0 };
	struct raft_snapshot snap;
	void *sdata = NULL;
	size_t slen = 0;
	int rv;

	if ((rv = ls_load(d->store, &st, load_entry, &l, e)) != 0)
		return rv;
	b.term = st.term;
	b.vote = st.vote[0] ? strtoull(st.vote, NULL, 10) : 0;
	if (st.snap_index > 0) {
		memset(&snap, 0, sizeof(snap));
		snap.index = st.snap_index;
		snap.term = st.snap_term;
		if (raft_config_decode(st.snap_conf, st.snap_conf_len,
		    &snap.conf) != 0) {
			rv = lerr_set(e, LE_CORRUPT,
			    "snapshot %llu: bad configuration",
			    (unsigned long long)st.snap_index);
			goto out;
		}
		if ((rv = snapshot_load(d, st.snap_index, &sdata, &slen,
		    e)) != 0)
			goto out;
		if (!snapshot_check(d, "the snapshot file", st.snap_index,
		    sdata, slen)) {
			/* kvd's state is normally past it: a new one replaces
			 * it as soon as kvd has applied one more entry, and
			 * till then a server sent this one refuses it. With
			 * kvd's state lost too, kvd cannot start from it
			 * (it says so): the server needs a new data dir. */
			log_warnx("a new snapshot replaces it once kvd has "
			    "applied past index %llu",
			    (unsigned long long)st.snap_index);
			d->snap_damaged = d->snap_heal_now = true;
			d->snap_want = st.snap_index + 1;
		}
		snap.data = sdata;
		snap.len = slen;
		b.snap = &snap;
		d->snap_index = st.snap_index;
		d->snap_term = st.snap_term;
	}
	b.entries = l.e;
	b.n_entries = l.n;
	/* kvd tracks what it applied and asks from there; the core needs
	 * only a floor it may hand out from. */
	b.applied = st.snap_index;
	d->apply_upto = b.applied;
	d->ls_first = st.first;
	d->ls_last = st.last;
	raft_options_default(&o);
	o.election_timeout_ms = d->cfg.dev ? 300 : 500;
	o.heartbeat_ms = d->cfg.dev ? 50 : 100;
	/* Consul waits its CommitTimeout (50 ms); one tick is enough to
	 * spare the followers a wake-up per commit under a client's stream
	 * of writes, and keeps their stale reads fresher. */
	o.commit_timeout_ms = RAFTD_TICK_MS;
	o.snapshot_threshold = (uint64_t)d->cfg.raft_snapshot_threshold;
	o.snapshot_trailing = (uint64_t)d->cfg.raft_trailing_logs;
	o.max_entry_bytes = RAFT_ENTRY_MAX;
	if ((rv = raft_new(d->id, &o, &node_ops, d, &d->r)) != 0) {
		rv = lerr_set(e, -rv, "raft: %s", le_strerror(rv));
		goto out;
	}
	if ((rv = raft_start(d->r, &b)) != 0) {
		rv = lerr_set(e, -rv, "raft state: %s", le_strerror(rv));
		goto out;
	}
	d->bootstrapped = st.last > 0 || st.snap_index > 0;
	log_info("raft: term %llu, log %llu..%llu, snapshot %llu",
	    (unsigned long long)st.term, (unsigned long long)st.first,
	    (unsigned long long)st.last, (unsigned long long)st.snap_index);
out:
	for (size_t i = 0; i < l.n; i++)
		free((void *)l.e[i].data);
	free(l.e);
	free(sdata);
	free(st.snap_conf);
	return rv;
}

void
node_tick(void *arg)
{
	struct raftd *d = arg;

	if (!d->stopping) {
		d->naddr_cache = 0;
		raft_tick(d->r);
		if (d->snap_want > d->snap_index && !d->snap_taking &&
		    d->kvd_applied >= d->snap_want)
			snapshot_take(d, d->snap_want);
		cluster_tick(d);
		cluster_leader_tick(d);
		serve_retry_held(d);
		serve_complete(d);
		serve_expire(d);
		serve_fetch_check(d);
		kvfwd_tick(d);
	}
	loop_timer_arm(d->tick, RAFTD_TICK_MS);
}

void
node_stop(struct raftd *d)
{
	free(d->snap_rx.buf);
	memset(&d->snap_rx, 0, sizeof(d->snap_rx));
	d->stopping = true;
	node_flush(d);
}
