/* kvd_client.c: kvd on a client agent (no -server). A client holds no
 * state, as in Consul: no store, no apply loop, no catalog reconcile.
 * Each request httpd sends (kv.read, kv.write, catalog.*) goes, type and
 * payload unchanged, to a server through our raftd (raft.kv_forward;
 * raftd picks the server, raftd/kv_forward.c), and the server kvd's
 * reply goes back to httpd as it came: its X-Consul-Index, KnownLeader
 * and LastContact are the server's. A blocking query stays parked on the
 * server; the hop gives up at the query's wait plus FWD_TIMEOUT_MS. */
#include "kvd.h"
#include "daemon.h"
#include "log.h"
#include "rundir.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a server's kvd gets to answer, past a blocking query's wait
 * (Consul's RPC hold timeout); raftd answers within a second more, and
 * httpd waits 10 s (plus the wait) for us. */
#define FWD_TIMEOUT_MS 7000
#define FWD_MIN_MS 1000		/* the least a held request still gets */
#define RAFT_SLACK_MS 2000

bool
kvd_is_client(const struct lictor_config *cfg)
{
	return !cfg->server && !cfg->dev;
}

/* A request on its way, or held while our raftd is down (init
 * restarting it): held ones go when it is back, or fail after
 * RAFTD_HOLD_MS. A read whose forward raftd dropped is held and sent
 * again; a write is not, as the server may have applied it. */
struct fwd_call {
	struct kvd *k;
	struct ipc_req *r;
	struct fwd_call *next;	/* on k->fwd_held */
	uint64_t since_ms;
	uint64_t wait_ms;
	uint64_t hold_until;	/* held since; 0 when not held */
	bool write;
};

static void send_forward(struct kvd *k, struct fwd_call *c);

static void
hold_forward(struct kvd *k, struct fwd_call *c)
{
	if (c->hold_until == 0) {
		c->hold_until = loop_now_ms(k->loop) + RAFTD_HOLD_MS;
		k->st.fwd_held++;
	}
	c->next = k->fwd_held;
	k->fwd_held = c;
	kvd_hold_arm(k);
}

/* The hold timer: the held requests go, or fail, or were cancelled. */
static void
client_hold_tick(void *arg)
{
	struct kvd *k = arg;
	struct fwd_call *c, *list = k->fwd_held;
	uint64_t now = loop_now_ms(k->loop);

	/* Oldest first: the list is newest first. */
	k->fwd_held = NULL;
	for (c = list, list = NULL; c != NULL; ) {
		struct fwd_call *n = c->next;

		c->next = list;
		list = c;
		c = n;
	}
	while ((c = list) != NULL) {
		list = c->next;
		if (c->r == NULL) {
			free(c);	/* cancelled: answered already */
		} else if (now >= c->hold_until) {
			k->st.fwd_errors++;
			k->st.fwd_expired++;
			ipc_reply_error(c->r, -LE_UNAVAIL, "rpc error making "
			    "call: raftd is not available");
			free(c);
		} else {
			send_forward(k, c);
		}
	}
}

static void
fail_held(struct kvd *k)
{
	struct fwd_call *c;

	while ((c = k->fwd_held) != NULL) {
		k->fwd_held = c->next;
		if (c->r != NULL)
			ipc_reply_error(c->r, -LE_UNAVAIL, "kvd is stopping");
		free(c);
	}
}

static void
on_forwarded(void *arg, int rv, struct proto_msg *m)
{
	struct fwd_call *c = arg;
	struct kvd *k = c->k;
	struct ipc_req *r = c->r;
	struct msg_raft_kv_forward_reply rep;
	struct lerr e;
	struct mpw *w;

	if (rv == -LE_UNAVAIL && r != NULL && !c->write) {
		hold_forward(k, c);	/* raftd went away: ask again */
		return;
	}
	free(c);
	if (r == NULL)
		return;		/* cancelled: httpd's client went away */
	if (rv != 0) {
		k->st.fwd_errors++;
		ipc_reply_error(r, -LE_UNAVAIL, "rpc error making call: %s",
		    rv == -LE_TIMEOUT ? "timed out" :
		    "raftd is not available");
		return;
	}
	if (m->type == (MSG_ERROR | PROTO_REPLY)) {
		struct msg_error me;

		if (msg_error_dec(m, &me, &e) != 0)
			fatalx("raft.kv_forward: bad error reply: %s", e.msg);
		k->st.fwd_errors++;
		ipc_reply_error(r, me.code ? me.code : -LE_UNAVAIL, "%.*s",
		    (int)me.text_len, me.text);
		return;
	}
	if (msg_raft_kv_forward_reply_dec(m, &rep, &e) != 0)
		fatalx("raft.kv_forward reply from raftd: %s", e.msg);
	if (rep.code != 0) {
		k->st.fwd_errors++;
		ipc_reply_error(r, rep.code, "%.*s", (int)rep.text_len,
		    rep.text);
		return;
	}
	if (rep.type != (r->msg.type | PROTO_REPLY) &&
	    rep.type != (MSG_ERROR | PROTO_REPLY))
		fatalx("raft.kv_forward: %s answered with %s",
		    proto_type_name(r->msg.type), proto_type_name(rep.type));
	/* raftd checked it as httpd will read it. */
	w = ipc_reply_begin(r, rep.type & ~PROTO_REPLY);
	mpw_raw(w, rep.payload, rep.payload_len);
	ipc_reply_send(r);
}

/* httpd's client hung up on a forwarded blocking query: httpd is
 * answered now; the server keeps its own parked copy until its wait
 * ends (the cancel does not cross the network), and its answer, when it
 * comes, is dropped. */
static void
forward_cancel(void *arg, struct ipc_req *r)
{
	struct fwd_call *c = arg;

	c->k->st.canceled++;
	c->r = NULL;
	ipc_reply_canceled(r);
}

static void
send_forward(struct kvd *k, struct fwd_call *c)
{
	struct ipc_call *call;
	uint64_t held = loop_now_ms(k->loop) - c->since_ms, timeout;

	if (ipc_client_peers(k->raft) == 0) {
		hold_forward(k, c);
		return;
	}
	/* The time held comes off the server's share, and off a blocking
	 * query's wait, so that httpd (10 s plus the wait) still hears
	 * from us first. */
	timeout = FWD_TIMEOUT_MS - (held < FWD_TIMEOUT_MS - FWD_MIN_MS ?
	    held : FWD_TIMEOUT_MS - FWD_MIN_MS);
	if (c->wait_ms > 0)
		timeout += c->wait_ms > held ? c->wait_ms - held : 0;
	c->hold_until = 0;	/* sent: should raftd go away again, a new
				 * hold starts */
	call = ipc_call_new(k->raft, MSG_RAFT_KV_FORWARD);
	msg_raft_kv_forward_enc_msg(ipc_call_writer(call), &c->r->msg,
	    timeout);
	ipc_call_send_loop(call, timeout + RAFT_SLACK_MS, k->loop, on_forwarded,
	    c);
}

static void
forward(struct kvd *k, struct ipc_req *r, uint64_t wait_ms, bool write)
{
	struct fwd_call *c = xcalloc(1, sizeof(*c));

	if (wait_ms > KV_FWD_TIMEOUT_MAX - FWD_TIMEOUT_MS)
		wait_ms = KV_FWD_TIMEOUT_MAX - FWD_TIMEOUT_MS;
	c->k = k;
	c->r = r;
	c->since_ms = loop_now_ms(k->loop);
	c->wait_ms = wait_ms;
	c->write = write;
	k->st.fwd++;
	if (wait_ms > 0)
		ipc_req_on_cancel(r, forward_cancel, c);
	send_forward(k, c);
}

static void
client_status(struct ipc_req *r)
{
	struct msg_kv_status_reply rep = { 0 };

	msg_kv_status_reply_enc(ipc_reply_begin(r, MSG_KV_STATUS), &rep);
	ipc_reply_send(r);
}

/* Requests are decoded (garbage from httpd is a bug: exit) only to learn
 * a blocking query's wait; they go on as they came. */
static void
kvd_client_handle(void *arg, struct ipc_req *r)
{
	struct kvd *k = arg;
	struct lerr e;

	switch (r->msg.type) {
	case MSG_KV_READ: {
		struct msg_kv_read q;

		if (msg_kv_read_dec(&r->msg, &q, &e) != 0)
			fatalx("kv.read from httpd: %s", e.msg);
		k->st.reads++;
		forward(k, r, q.min_index > 0 ? q.wait_ms : 0, false);
		break;
	}
	case MSG_KV_WRITE: {
		struct msg_kv_write w;

		if (msg_kv_write_dec(&r->msg, &w, &e) != 0)
			fatalx("kv.write from httpd: %s", e.msg);
		k->st.writes++;
		forward(k, r, 0, true);
		break;
	}
	case MSG_CAT_READ: {
		struct msg_cat_read q;

		if (msg_cat_read_dec(&r->msg, &q, &e) != 0)
			fatalx("catalog.read from httpd: %s", e.msg);
		k->st.cat_reads++;
		forward(k, r, q.min_index > 0 ? q.wait_ms : 0, false);
		break;
	}
	case MSG_CAT_REGISTER: {
		struct msg_cat_register q;

		if (msg_cat_register_dec(&r->msg, &q, &e) != 0)
			fatalx("catalog.register from httpd: %s", e.msg);
		k->st.cat_writes++;
		forward(k, r, 0, true);
		break;
	}
	case MSG_CAT_DEREGISTER: {
		struct msg_cat_deregister q;

		if (msg_cat_deregister_dec(&r->msg, &q, &e) != 0)
			fatalx("catalog.deregister from httpd: %s", e.msg);
		k->st.cat_writes++;
		forward(k, r, 0, true);
		break;
	}
	case MSG_KV_STATUS: {
		struct msg_admin_req none;

		if (msg_admin_req_dec(&r->msg, &none, &e) != 0)
			fatalx("kv.status from httpd: %s", e.msg);
		client_status(r);
		break;
	}
	default:
		fatalx("unexpected %s on a client's kvd.sock",
		    proto_type_name(r->msg.type));
	}
}

static void
client_stats(void *arg, struct sbuf *out)
{
	struct kvd *k = arg;

	sbuf_printf(out, "kvd.mode client\nkv.reads %llu\nkv.writes %llu\n"
	    "catalog.reads %llu\ncatalog.writes %llu\nkvfwd.forwarded %llu\n"
	    "kvfwd.errors %llu\nkvfwd.canceled %llu\nkvfwd.held %llu\n"
	    "kvfwd.expired %llu\nipc.bad %llu\n"
	    "ipc.inflight %llu\n",
	    (unsigned long long)k->st.reads, (unsigned long long)k->st.writes,
	    (unsigned long long)k->st.cat_reads,
	    (unsigned long long)k->st.cat_writes,
	    (unsigned long long)k->st.fwd,
	    (unsigned long long)k->st.fwd_errors,
	    (unsigned long long)k->st.canceled,
	    (unsigned long long)k->st.fwd_held,
	    (unsigned long long)k->st.fwd_expired,
	    (unsigned long long)ipc_server_bad(k->srv),
	    (unsigned long long)ipc_server_inflight(k->srv));
}

static const struct admin_ops client_admin_ops = {
	.stats = client_stats,
};

int
kvd_client_run(struct kvd *k, struct daemon_args *args)
{
	char url[300];
	struct lerr e = { "" };

	k->hold = loop_timer_new(k->loop, client_hold_tick, k);
	rundir_url(args->rundir, "raft", url, sizeof(url));
	if (ipc_client_open_loop(&k->raft, url, k->boot, k->loop, &e) != 0)
		fatalx("%s", e.msg);
	rundir_url(args->rundir, "kvd", url, sizeof(url));
	if (ipc_server_open(&k->srv, url, k->loop, IPC_SIBLING,
	    kvd_client_handle, k, k->boot, &e) != 0)
		fatalx("%s", e.msg);
	if (admin_open(&k->admin, args->rundir, "kvd", k->loop,
	    &client_admin_ops, k, k->boot, &e) != 0)
		fatalx("%s", e.msg);
	log_info("ready: client agent, requests go to a server");
	notify_ready();
	loop_run(k->loop);
	/* Forwards in flight fail into the loop and are answered there,
	 * before kvd.sock closes. */
	ipc_client_close(k->raft);
	loop_drain(k->loop);
	fail_held(k);
	loop_timer_free(k->hold);
	admin_close(k->admin);
	ipc_server_close(k->srv);
	loop_drain(k->loop);
	loop_free(k->loop);
	config_free(&k->cfg);
	daemon_args_free(args);
	return 0;
}
