/* kv_forward.c: a client agent's KV and catalog requests, carried to a
 * server as Consul's client agents send their RPCs; and a server's side
 * of them.
 *
 * On a client (no -server), kvd holds no state: it hands each request
 * from httpd to raftd as raft.kv_forward. raftd picks a server among the
 * alive ones gossip shows (discover.c), at random, and keeps it while it
 * works. The request goes out (RW_KV_FWD) once a connection to that
 * server is up, and kvd gets the server kvd's reply as it was sent. A
 * request moves to another server only when it cannot have run there:
 * no connection within CONNECT_MS, the server's raftd answering that its
 * kvd is not there (-LE_UNAVAIL), or a read whose connection broke. A
 * write whose connection broke, or that got no answer in time, may have
 * run: it is answered with an error ("rpc error making call: ...") and
 * not sent again. A server that failed is avoided for FAILED_QUIET_MS.
 * With no server known at all: "No known Consul servers", at once.
 *
 * On a server, RW_KV_FWD becomes one call to our kvd with the type and
 * payload as sent (rw_decode checked the payload as kvd will decode it),
 * and kvd's reply goes back as RW_KV_FWD_REPLY. */
#include "raftd.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLACK_MS 1000		/* past the server kvd's own timeout */
#define CONNECT_MS 1000		/* a server we cannot reach: the next */
#define FAILED_QUIET_MS 30000	/* a failed server is avoided this long */
#define MAX_TRIES 8		/* servers one request may try */
#define MEMBERS_WAIT_MS 3000	/* for gossipd's first list, at start */
#define MAX_PENDING 65536	/* a client's requests in flight */
#define MAX_SERVING 65536	/* a server's forwarded requests in flight */
#define IDLE_PEER_MS 300000	/* a server closes idle connections */

enum fr_state {
	FR_IDLE,		/* needs a server */
	FR_CONNECTING,		/* waiting for a connection to it */
	FR_SENT,		/* sent: waiting for its reply */
};

/* A request of our kvd, on a client. */
struct fwd_req {
	struct fwd_req *next;
	struct ipc_req *req;
	uint64_t id;
	uint32_t type;
	void *payload;
	size_t len;
	uint64_t timeout_ms;	/* the server's kvd call */
	uint64_t wait_end;	/* a blocking read's wait ends then; or 0 */
	uint64_t deadline;	/* answered by then, whatever happens */
	uint64_t conn_deadline;
	enum fr_state state;
	char server[RW_ADDR_MAX + 1];
	uint64_t picked_ms;	/* when server was chosen */
	uint64_t lost;		/* the connection's losses when sent */
	uint64_t tried[MAX_TRIES];
	unsigned ntried;
	char why[300];		/* the last failure, for the answer */
};

/* A client's request being served by our kvd, on a server. */
struct fwd_serve {
	struct raftd *d;
	uint64_t req_id;
	char reply_addr[RW_ADDR_MAX + 1];
};

struct failed_server {
	char addr[RW_ADDR_MAX + 1];
	uint64_t at_ms;
};

struct kvfwd {
	struct fwd_req *reqs;
	size_t npending;
	size_t nserving;
	char current[RW_ADDR_MAX + 1];	/* the server we keep; "" none */
	struct failed_server failed[RW_MAX_KNOWN];
	size_t nfailed;
	uint64_t rng, counter;
	uint64_t idle_check_ms;
	struct {
		uint64_t requests, sent, answered, retries, failovers;
		uint64_t no_servers, timeouts, lost_writes, errors, late;
		uint64_t served, refused;
	} st;
};

bool
raftd_client(const struct raftd *d)
{
	return !d->cfg.server && !d->cfg.dev;
}

void
kvfwd_start(struct raftd *d)
{
	d->kvfwd = xcalloc(1, sizeof(*d->kvfwd));
	random_bytes(&d->kvfwd->rng, sizeof(d->kvfwd->rng));
	d->kvfwd->rng |= 1;
}

void
kvfwd_free(struct raftd *d)
{
	free(d->kvfwd);
	d->kvfwd = NULL;
}

static uint64_t
rnd(struct kvfwd *f)
{
	/* xorshift64*: server choice and request ids, nothing secret. */
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 0x2545f4914f6cdd1dULL;
}

/* ---- servers: which to use, which failed ---- */

static const struct failed_server *
failed_find(const struct kvfwd *f, const char *addr)
{
	for (size_t i = 0; i < f->nfailed; i++)
		if (strcmp(f->failed[i].addr, addr) == 0)
			return &f->failed[i];
	return NULL;
}

/* Marked failed after since (by another request, once this one chose
 * it). */
static bool
failed_since(const struct kvfwd *f, const char *addr, uint64_t since)
{
	const struct failed_server *fs = failed_find(f, addr);

	return fs != NULL && fs->at_ms > since;
}

static bool
failed_recently(const struct kvfwd *f, const char *addr, uint64_t now)
{
	const struct failed_server *fs = failed_find(f, addr);

	return fs != NULL && now - fs->at_ms < FAILED_QUIET_MS;
}

static void
mark_failed(struct raftd *d, const char *addr, const char *why)
{
	struct kvfwd *f = d->kvfwd;
	struct failed_server *fs = NULL;
	uint64_t now = mono_ms();

	for (size_t i = 0; i < f->nfailed; i++)
		if (strcmp(f->failed[i].addr, addr) == 0)
			fs = &f->failed[i];
	if (fs == NULL && f->nfailed < RW_MAX_KNOWN)
		fs = &f->failed[f->nfailed++];
	if (fs == NULL) {
		/* Full: reuse the oldest mark. */
		fs = &f->failed[0];
		for (size_t i = 1; i < f->nfailed; i++)
			if (f->failed[i].at_ms < fs->at_ms)
				fs = &f->failed[i];
	}
	snprintf(fs->addr, sizeof(fs->addr), "%s", addr);
	fs->at_ms = now;
	if (strcmp(f->current, addr) == 0) {
		f->current[0] = '\0';
		f->st.failovers++;
		log_info("kv forward: server %s failed (%s); moving to another",
		    addr, why);
	}
	/* Nothing queued for it goes later: a request we gave up on must
	 * not run after we answered. */
	transport_forget(d->tr, addr);
}

static bool
tried(const struct fwd_req *fr, uint64_t h)
{
	for (unsigned i = 0; i < fr->ntried; i++)
		if (fr->tried[i] == h)
			return true;
	return false;
}

/* The current server if it is still a candidate, else one at random
 * among those that did not fail lately; if all did, the one that failed
 * longest ago (the one that just died is still alive in gossip for a
 * few seconds). */
static bool
pick(struct raftd *d, struct fwd_req *fr)
{
	struct kvfwd *f = d->kvfwd;
	size_t cand[RW_MAX_KNOWN], ncand = 0, good[RW_MAX_KNOWN], ngood = 0;
	uint64_t now = mono_ms();
	size_t i, c;

	for (i = 0; i < d->ngossip_servers && ncand < RW_MAX_KNOWN; i++) {
		if (tried(fr, node_id_of(d->gossip_servers[i])))
			continue;
		if (f->current[0] != '\0' &&
		    strcmp(d->gossip_servers[i], f->current) == 0 &&
		    !failed_recently(f, f->current, now)) {
			c = i;
			goto chosen;
		}
		cand[ncand++] = i;
		if (!failed_recently(f, d->gossip_servers[i], now))
			good[ngood++] = i;
	}
	if (ncand == 0)
		return false;
	if (ngood > 0) {
		c = good[rnd(f) % ngood];
	} else {
		c = cand[0];
		for (i = 1; i < ncand; i++)
			if (failed_find(f, d->gossip_servers[cand[i]])->at_ms <
			    failed_find(f, d->gossip_servers[c])->at_ms)
				c = cand[i];
	}
chosen:
	snprintf(fr->server, sizeof(fr->server), "%s", d->gossip_servers[c]);
	fr->tried[fr->ntried++] = node_id_of(fr->server);
	fr->picked_ms = now;
	return true;
}

/* ---- answers to kvd ---- */

static void
fr_free(struct raftd *d, struct fwd_req *fr)
{
	struct fwd_req **pp;

	for (pp = &d->kvfwd->reqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == fr) {
			*pp = fr->next;
			d->kvfwd->npending--;
			break;
		}
	free(fr->payload);
	free(fr);
}

static void
answer(struct raftd *d, struct fwd_req *fr, int code, const char *text,
    uint32_t type, const void *payload, size_t len)
{
	struct msg_raft_kv_forward_reply rep = { code, text,
		text ? strlen(text) : 0, type, payload, len, fr->server,
		strlen(fr->server) };

	if (code != 0)
		d->kvfwd->st.errors++;
	d->kvfwd->st.answered++;
	msg_raft_kv_forward_reply_enc(ipc_reply_begin(fr->req,
	    MSG_RAFT_KV_FORWARD), &rep);
	ipc_reply_send(fr->req);
	fr_free(d, fr);
}

static void
answer_error(struct raftd *d, struct fwd_req *fr, int code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
answer_error(struct raftd *d, struct fwd_req *fr, int code, const char *fmt,
    ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	answer(d, fr, code, text, 0, NULL, 0);
}

/* ---- a request's way to a server ---- */

/* Sends the request to fr->server. Sent again (its first server lost
 * it), it gets what is left of its time: a blocking read's wait is cut to
 * end when it would have on the first server, so it is answered by its
 * deadline. */
static int
send_req(struct raftd *d, struct fwd_req *fr)
{
	struct rw_kv_fwd m = { fr->id, d->addr, strlen(d->addr), fr->type,
		fr->payload, fr->len, fr->timeout_ms };
	uint64_t now = mono_ms();
	struct mpw w, p;
	struct lerr e;
	int rv;

	mpw_init(&p);
	if (fr->ntried > 1) {
		m.timeout_ms = fr->deadline > now + SLACK_MS ?
		    fr->deadline - SLACK_MS - now : 1;
		if (fr->wait_end != 0 && kv_fwd_read_rewait(fr->type,
		    fr->payload, fr->len, fr->wait_end > now ?
		    fr->wait_end - now : 0, &p, &e) == 0 && p.err == 0) {
			m.payload = mpw_data(&p);
			m.payload_len = mpw_len(&p);
		}
	}
	mpw_init(&w);
	rw_kv_fwd_enc(&w, d->id, &m);
	rv = w.err != 0 ? w.err : transport_send(d->tr, fr->server,
	    mpw_data(&w), mpw_len(&w));
	mpw_free(&w);
	mpw_free(&p);
	if (rv == 0)
		d->st.wire_out++;
	return rv;
}

/* Moves a request on as far as it can go now; it may be answered (and
 * freed) on the way. */
static void
advance(struct raftd *d, struct fwd_req *fr)
{
	struct kvfwd *f = d->kvfwd;
	uint64_t now = mono_ms(), lost;
	bool up;

	for (;;) {
		switch (fr->state) {
		case FR_IDLE:
			if (now >= fr->deadline) {
				f->st.timeouts++;
				answer_error(d, fr, -LE_TIMEOUT, "rpc error "
				    "making call: timed out (%s)", fr->why[0] ?
				    fr->why : "no server answered");
				return;
			}
			if (fr->ntried >= MAX_TRIES || !pick(d, fr)) {
				if (fr->ntried == 0 && !d->members_seen &&
				    now - d->started_ms < MEMBERS_WAIT_MS)
					return; /* just started: the tick
						 * looks again */
				if (fr->ntried == 0) {
					f->st.no_servers++;
					answer_error(d, fr, -LE_UNAVAIL,
					    "No known Consul servers");
				} else {
					answer_error(d, fr, -LE_UNAVAIL,
					    "rpc error making call: %s",
					    fr->why);
				}
				return;
			}
			fr->state = FR_CONNECTING;
			fr->conn_deadline = now + CONNECT_MS;
			continue;
		case FR_CONNECTING:
			if (failed_since(f, fr->server, fr->picked_ms)) {
				/* Another request found it down meanwhile. */
				fr->state = FR_IDLE;
				f->st.retries++;
				continue;
			}
			if (transport_peer(d->tr, fr->server, true, &up,
			    &lost) != 0) {
				snprintf(fr->why, sizeof(fr->why),
				    "cannot dial server %s", fr->server);
			} else if (!up && now < fr->conn_deadline) {
				return; /* the tick looks again */
			} else if (!up) {
				snprintf(fr->why, sizeof(fr->why), "no "
				    "connection to server %s", fr->server);
			} else if (send_req(d, fr) != 0) {
				snprintf(fr->why, sizeof(fr->why), "could not "
				    "send to server %s", fr->server);
			} else {
				fr->lost = lost;
				fr->state = FR_SENT;
				f->st.sent++;
				return;
			}
			/* It cannot have run there. */
			mark_failed(d, fr->server, fr->why);
			fr->state = FR_IDLE;
			f->st.retries++;
			continue;
		case FR_SENT:
			if (transport_peer(d->tr, fr->server, false, &up,
			    &lost) == 0 && lost == fr->lost) {
				if (now < fr->deadline)
					return;
				f->st.timeouts++;
				mark_failed(d, fr->server, "timed out");
				answer_error(d, fr, -LE_TIMEOUT, "rpc error "
				    "making call: timed out waiting for server "
				    "%s", fr->server);
				return;
			}
			snprintf(fr->why, sizeof(fr->why), "connection to "
			    "server %s lost", fr->server);
			mark_failed(d, fr->server, fr->why);
			if (kv_fwd_is_read(fr->type)) {
				/* A read may run twice: ask another. */
				fr->state = FR_IDLE;
				f->st.retries++;
				continue;
			}
			f->st.lost_writes++;
			answer_error(d, fr, -LE_IO, "rpc error making call: "
			    "EOF (connection to server %s lost; the write may "
			    "or may not have been applied)", fr->server);
			return;
		}
	}
}

void
kvfwd_handle(struct raftd *d, struct ipc_req *r,
    const struct msg_raft_kv_forward *m)
{
	struct kvfwd *f = d->kvfwd;
	struct fwd_req *fr;
	uint64_t wait = 0;
	struct lerr e;

	if (!raftd_client(d)) {
		ipc_reply_error(r, -LE_STATE, "raft.kv_forward on a server");
		return;
	}
	if (f->npending >= MAX_PENDING) {
		ipc_reply_error(r, -LE_UNAVAIL, "too many requests waiting "
		    "for a server");
		return;
	}
	fr = xcalloc(1, sizeof(*fr));
	fr->req = r;
	fr->id = rnd(f) ^ ++f->counter;
	fr->type = m->type;
	fr->payload = xmalloc(m->payload_len);
	memcpy(fr->payload, m->payload, m->payload_len);
	fr->len = m->payload_len;
	fr->timeout_ms = m->timeout_ms;
	fr->deadline = mono_ms() + m->timeout_ms + SLACK_MS;
	if (kv_fwd_is_read(m->type) && kv_fwd_read_wait(m->type, m->payload,
	    m->payload_len, &wait, &e) == 0 && wait > 0)
		fr->wait_end = mono_ms() + wait;
	fr->next = f->reqs;
	f->reqs = fr;
	f->npending++;
	f->st.requests++;
	advance(d, fr);
}

void
kvfwd_reply_in(struct raftd *d, const struct rw_msg *m)
{
	const struct rw_kv_fwd_reply *r = &m->u.kv_reply;
	struct kvfwd *f = d->kvfwd;
	struct fwd_req *fr;

	for (fr = f->reqs; fr != NULL; fr = fr->next)
		if (fr->id == r->req_id && fr->state == FR_SENT)
			break;
	if (fr == NULL) {
		f->st.late++; /* answered or given up on already */
		return;
	}
	if (r->code == 0) {
		if (r->mtype != (fr->type | PROTO_REPLY) &&
		    r->mtype != (MSG_ERROR | PROTO_REPLY)) {
			d->st.wire_bad++;
			log_warnx("kv forward: server %s answered %s with %s",
			    fr->server, proto_type_name(fr->type),
			    proto_type_name(r->mtype));
			mark_failed(d, fr->server, "a reply of another type");
			answer_error(d, fr, -LE_MALFORMED, "rpc error making "
			    "call: server %s sent a reply of another type",
			    fr->server);
			return;
		}
		if (strcmp(f->current, fr->server) != 0) {
			if (f->current[0] == '\0')
				log_info("kv forward: using server %s",
				    fr->server);
			snprintf(f->current, sizeof(f->current), "%s",
			    fr->server);
		}
		answer(d, fr, 0, NULL, r->mtype, r->payload, r->payload_len);
		return;
	}
	snprintf(fr->why, sizeof(fr->why), "%.*s", (int)r->text_len,
	    r->text);
	if (r->code == -LE_UNAVAIL || (kv_fwd_is_read(fr->type) &&
	    r->code != -LE_TIMEOUT && r->code != -LE_TOOBIG)) {
		/* The server's raftd did not hand it to a kvd; or a read
		 * failed there (its kvd died under it), which may run
		 * again. */
		mark_failed(d, fr->server, fr->why);
		fr->state = FR_IDLE;
		f->st.retries++;
		advance(d, fr);
		return;
	}
	/* It reached the server's kvd, or may have: its outcome stands. */
	mark_failed(d, fr->server, fr->why);
	answer_error(d, fr, r->code == -LE_TIMEOUT ? -LE_TIMEOUT : -LE_IO,
	    "rpc error making call: %s", fr->why);
}

void
kvfwd_tick(struct raftd *d)
{
	struct fwd_req *fr, *next;
	uint64_t now = mono_ms();

	/* A server answers clients at their addresses; once one is gone, do
	 * not redial it forever. (Raft peers are never idle that long.) */
	if (!raftd_client(d) && now >= d->kvfwd->idle_check_ms) {
		d->kvfwd->idle_check_ms = now + 10000;
		transport_forget_idle(d->tr, IDLE_PEER_MS);
	}

	for (fr = d->kvfwd->reqs; fr != NULL; fr = next) {
		next = fr->next;
		advance(d, fr);	/* frees fr alone, if anything */
	}
}

void
kvfwd_fail_all(struct raftd *d, int code, const char *text)
{
	while (d->kvfwd != NULL && d->kvfwd->reqs != NULL)
		answer(d, d->kvfwd->reqs, code, text, 0, NULL, 0);
}

/* ---- a server's side ---- */

static void
send_reply(struct raftd *d, const char *addr, uint64_t req_id, int code,
    const char *text, uint32_t mtype, const void *payload, size_t len)
{
	struct rw_kv_fwd_reply r = { req_id, code, text,
		text ? strlen(text) : 0, mtype, payload, len };
	struct mpw w;

	mpw_init(&w);
	rw_kv_fwd_reply_enc(&w, d->id, &r);
	node_send_raw(d, addr, &w);
	mpw_free(&w);
}

static void
on_served(void *arg, int rv, struct proto_msg *m)
{
	struct fwd_serve *s = arg;
	struct raftd *d = s->d;
	struct mpw p;

	d->kvfwd->nserving--;
	if (d->stopping) {
		free(s);
		return;
	}
	if (rv != 0) {
		/* Sent to kvd: whether it ran is not known. */
		send_reply(d, s->reply_addr, s->req_id, rv == -LE_TIMEOUT ?
		    -LE_TIMEOUT : -LE_IO, rv == -LE_TIMEOUT ? "the server's "
		    "kvd did not answer in time" : "the server's kvd failed "
		    "while serving it", 0, NULL, 0);
		free(s);
		return;
	}
	mpw_init(&p);
	mpw_object(&p, m->payload);
	if (p.err != 0 || mpw_len(&p) > KV_FWD_REPLY_MAX)
		send_reply(d, s->reply_addr, s->req_id, -LE_TOOBIG,
		    "the reply is too large to forward", 0, NULL, 0);
	else
		send_reply(d, s->reply_addr, s->req_id, 0, NULL, m->type,
		    mpw_data(&p), mpw_len(&p));
	mpw_free(&p);
	free(s);
}

void
kvfwd_in(struct raftd *d, const struct rw_msg *m)
{
	const struct rw_kv_fwd *f = &m->u.kv_fwd;
	struct kvfwd *kf = d->kvfwd;
	char addr[RW_ADDR_MAX + 1];
	struct fwd_serve *s;
	struct ipc_call *call;
	const char *refuse = NULL;

	snprintf(addr, sizeof(addr), "%.*s", (int)f->reply_addr_len,
	    f->reply_addr);
	if (raftd_client(d))
		refuse = "not a server";
	else if (ipc_client_peers(d->kvd) == 0)
		refuse = "the server's kvd is not available";
	else if (kf->nserving >= MAX_SERVING)
		refuse = "too many forwarded requests";
	if (refuse != NULL) {
		/* Not handed to kvd: the client may try another server. */
		kf->st.refused++;
		send_reply(d, addr, f->req_id, -LE_UNAVAIL, refuse, 0, NULL, 0);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->req_id = f->req_id;
	snprintf(s->reply_addr, sizeof(s->reply_addr), "%s", addr);
	kf->nserving++;
	kf->st.served++;
	call = ipc_call_new(d->kvd, f->mtype);
	mpw_raw(ipc_call_writer(call), f->payload, f->payload_len);
	ipc_call_send_loop(call, f->timeout_ms, d->loop, on_served, s);
}

void
kvfwd_stats(struct raftd *d, struct sbuf *out)
{
	struct kvfwd *f = d->kvfwd;

	sbuf_printf(out, "kvfwd.server %s\nkvfwd.servers_known %zu\n"
	    "kvfwd.pending %zu\nkvfwd.requests %" PRIu64 "\nkvfwd.sent %"
	    PRIu64 "\nkvfwd.answered %" PRIu64 "\nkvfwd.retries %" PRIu64
	    "\nkvfwd.failovers %" PRIu64 "\nkvfwd.no_servers %" PRIu64
	    "\nkvfwd.timeouts %" PRIu64 "\nkvfwd.lost_writes %" PRIu64
	    "\nkvfwd.errors %" PRIu64 "\nkvfwd.late %" PRIu64
	    "\nkvfwd.served %" PRIu64 "\nkvfwd.serving %zu\nkvfwd.refused %"
	    PRIu64 "\nkvfwd.kvd_connected %d\n",
	    f->current[0] ? f->current : "-",
	    raftd_client(d) ? d->ngossip_servers : 0, f->npending,
	    f->st.requests, f->st.sent, f->st.answered, f->st.retries,
	    f->st.failovers, f->st.no_servers, f->st.timeouts,
	    f->st.lost_writes, f->st.errors, f->st.late, f->st.served,
	    f->nserving, f->st.refused, ipc_client_peers(d->kvd));
}
