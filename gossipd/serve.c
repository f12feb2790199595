/* serve.c: gossip.sock. Membership is pulled: gossip.members answers at
 * once when the caller's version is behind the pool's, else parks until
 * a member changes or wait_ms passes (kvd's leader and raftd keep one
 * parked each; httpd asks with min_version 0). Joins answer when every
 * address has answered its push/pull; a leave when Serf's leave has been
 * gossiped; events at once. */
#include "gossipd.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBERS_WAIT_MAX_MS 600000

/* ---- gossip.members ---- */

struct member_write {
	struct mpw *w;
	uint32_t n;
};

static void
member_write(void *arg, const struct serf_member *sm)
{
	struct member_write *mw = arg;
	struct msg_gossip_member m = { 0 };
	const char *k[GOSSIP_TAGS_MAX], *v[GOSSIP_TAGS_MAX];
	size_t kl[GOSSIP_TAGS_MAX], vl[GOSSIP_TAGS_MAX];
	struct sockaddr_storage ss;
	char ip[128], *colon;
	unsigned n = sm->n_tags < GOSSIP_TAGS_MAX ? sm->n_tags :
	    GOSSIP_TAGS_MAX;

	for (unsigned i = 0; i < n; i++) {
		k[i] = (const char *)sm->tags[i].key.p;
		kl[i] = sm->tags[i].key.len;
		v[i] = (const char *)sm->tags[i].val.p;
		vl[i] = sm->tags[i].val.len;
	}
	pool_addr_to_ss(&sm->addr, &ss);
	gaddr_str(&ss, ip, sizeof(ip));
	/* "ip:port" or "[ip6]:port": keep the IP only. */
	if ((colon = strrchr(ip, ':')) != NULL)
		*colon = '\0';
	if (ip[0] == '[') {
		memmove(ip, ip + 1, strlen(ip));
		ip[strlen(ip) - 1] = '\0';
	}
	m.name = (const char *)sm->name.p;
	m.name_len = sm->name.len;
	m.addr = ip;
	m.addr_len = strlen(ip);
	m.port = sm->addr.port;
	m.status = sm->status;
	memcpy(m.vsn, sm->vsn, sizeof(m.vsn));
	m.n_tags = n;
	m.tag_keys = k;
	m.tag_key_lens = kl;
	m.tag_vals = v;
	m.tag_val_lens = vl;
	msg_gossip_member_enc(mw->w, &m);
	mw->n++;
}

static void
members_reply(struct pool *p, struct ipc_req *r)
{
	struct msg_gossip_members_reply rep = { 0 };
	struct member_write mw;
	struct mpw *w;

	rep.version = p->version;
	rep.self = p->name;
	rep.self_len = strlen(p->name);
	rep.n_members = (uint32_t)pool_member_count(p);
	w = ipc_reply_begin(r, MSG_GOSSIP_MEMBERS);
	msg_gossip_members_reply_begin(w, &rep);
	mw.w = w;
	mw.n = 0;
	pool_members_each(p, member_write, &mw);
	if (mw.n != rep.n_members)
		fatalx("gossip: member count changed while listing");
	ipc_reply_send(r);
}

static void
members_request(struct gossipd *d, struct ipc_req *r)
{
	struct msg_gossip_members q;
	struct lerr e = { "" };
	struct pool *p;
	struct parked *pk;

	if (msg_gossip_members_dec(&r->msg, &q, &e) != 0) {
		ipc_reply_error(r, -LE_MALFORMED, "%s", e.msg);
		return;
	}
	if (q.wan && d->npools < 2) {
		ipc_reply_error(r, -LE_UNAVAIL,
		    "this agent is not in the WAN pool (not a server)");
		return;
	}
	p = &d->pools[q.wan ? POOL_WAN : POOL_LAN];
	if (q.min_version == 0 || p->version > q.min_version ||
	    q.wait_ms == 0) {
		members_reply(p, r);
		return;
	}
	if (q.wait_ms > MEMBERS_WAIT_MAX_MS)
		q.wait_ms = MEMBERS_WAIT_MAX_MS;
	pk = xcalloc(1, sizeof(*pk));
	pk->req = r;
	pk->min_version = q.min_version;
	pk->deadline_ms = mono_ms() + q.wait_ms;
	pk->next = p->parked;
	p->parked = pk;
}

void
serve_members_wake(struct pool *p, bool all)
{
	struct parked **pp = &p->parked, *pk;
	uint64_t now = mono_ms();

	while ((pk = *pp) != NULL) {
		if (all || p->version > pk->min_version ||
		    now >= pk->deadline_ms) {
			*pp = pk->next;
			members_reply(p, pk->req);
			free(pk);
		} else {
			pp = &pk->next;
		}
	}
}

/* ---- join, leave, force-leave ---- */

static void
join_request(struct gossipd *d, struct ipc_req *r)
{
	struct msg_gossip_join q;
	struct lerr e = { "" };

	if (msg_gossip_join_dec(&r->msg, &q, &e) != 0) {
		ipc_reply_error(r, -LE_MALFORMED, "%s", e.msg);
		return;
	}
	if (q.wan && d->npools < 2) {
		ipc_reply_error(r, -LE_UNAVAIL, "Must be a server to join WAN "
		    "cluster");
		return;
	}
	if (q.n_addrs == 0) {
		ipc_reply_error(r, -LE_INVAL, "no address to join");
		return;
	}
	pool_join(&d->pools[q.wan ? POOL_WAN : POOL_LAN], q.addrs,
	    q.addr_lens, q.n_addrs, r, false);
}

void
serve_reply(struct ipc_req *r, uint32_t type, int code, const char *text,
    uint64_t n, const char *id)
{
	struct msg_gossip_reply rep = { 0 };

	rep.code = code;
	rep.text = text;
	rep.text_len = text ? strlen(text) : 0;
	rep.n = n;
	rep.id = id;
	rep.id_len = id ? strlen(id) : 0;
	msg_gossip_reply_enc(ipc_reply_begin(r, type), &rep);
	ipc_reply_send(r);
}

static void
leave_request(struct gossipd *d, struct ipc_req *r)
{
	int rv;

	for (int i = d->npools - 1; i >= 0; i--)
		if ((rv = pool_leave(&d->pools[i])) != 0 && rv != -LE_STATE)
			log_warnx("gossip %s: leave: %s",
			    d->pools[i].label_name, le_strerror(rv));
	/* Serf's leave gossips the intent and waits for it to spread
	 * (LeavePropagateDelay); the reply says it has been sent. */
	d->leave_req = r;
	pool_leave_check(d);
}

static void
force_leave_request(struct gossipd *d, struct ipc_req *r)
{
	struct msg_gossip_force_leave q;
	struct lerr e = { "" };
	struct pool *p;
	int rv;

	if (msg_gossip_force_leave_dec(&r->msg, &q, &e) != 0) {
		ipc_reply_error(r, -LE_MALFORMED, "%s", e.msg);
		return;
	}
	if (q.wan && d->npools < 2) {
		ipc_reply_error(r, -LE_UNAVAIL, "this agent is not in the WAN "
		    "pool (not a server)");
		return;
	}
	p = &d->pools[q.wan ? POOL_WAN : POOL_LAN];
	rv = serf_force_leave(p->serf, (struct gw_bytes){
	    (const uint8_t *)q.node, q.node_len }, q.prune, ++p->next_token);
	pool_rearm(p);
	if (rv == -LE_NOTFOUND) {
		char text[GOSSIP_NAME_MAX + 64];

		/* Consul answers this with a 500 and its text. */
		snprintf(text, sizeof(text), "agent: No node found with name "
		    "'%.*s'", (int)q.node_len, q.node);
		serve_reply(r, MSG_GOSSIP_FORCE_LEAVE, 500, text, 0, NULL);
		return;
	}
	if (rv != 0) {
		serve_reply(r, MSG_GOSSIP_FORCE_LEAVE, 500, le_strerror(rv), 0,
		    NULL);
		return;
	}
	serve_reply(r, MSG_GOSSIP_FORCE_LEAVE, 0, "", 0, NULL);
}

/* ---- user events ---- */

static void
event_fire_request(struct gossipd *d, struct ipc_req *r)
{
	struct msg_gossip_event q;
	struct lerr e = { "" };
	char id[40];
	int rv;

	if (msg_gossip_event_fire_dec(&r->msg, &q, &e) != 0) {
		ipc_reply_error(r, -LE_MALFORMED, "%s", e.msg);
		return;
	}
	if ((rv = event_fire(d, &q, id, &e)) != 0) {
		serve_reply(r, MSG_GOSSIP_EVENT_FIRE, rv == -LE_INVAL ?
		    400 : 500, e.msg, 0, NULL);
		return;
	}
	serve_reply(r, MSG_GOSSIP_EVENT_FIRE, 0, "", 0, id);
}

static void
event_write(struct mpw *w, const struct uevent *u)
{
	struct msg_gossip_event ev = { 0 };

	ev.id = u->id;
	ev.id_len = strlen(u->id);
	ev.name = u->name;
	ev.name_len = strlen(u->name);
	ev.payload = u->has_payload ? (u->payload ? u->payload :
	    (const uint8_t *)"") : NULL;
	ev.payload_len = u->payload_len;
	ev.node_filter = u->node_filter;
	ev.node_filter_len = u->node_filter ? strlen(u->node_filter) : 0;
	ev.service_filter = u->service_filter;
	ev.service_filter_len = u->service_filter ?
	    strlen(u->service_filter) : 0;
	ev.tag_filter = u->tag_filter;
	ev.tag_filter_len = u->tag_filter ? strlen(u->tag_filter) : 0;
	ev.version = u->version;
	ev.ltime = u->ltime;
	msg_gossip_event_enc(w, &ev);
}

static bool
event_named(const struct uevent *u, const char *name)
{
	return *name == '\0' || strcmp(u->name, name) == 0;
}

/* Consul's index of an event list: the newest matching event's ID
 * folded to 64 bits, or 1 when none matches (never 0, which would make
 * a blocking client spin). */
static uint64_t
events_index(struct gossipd *d, const char *name)
{
	unsigned start = (d->ev_head + GOSSIP_EVENTS_MAX - d->ev_count) %
	    GOSSIP_EVENTS_MAX;

	for (unsigned i = d->ev_count; i > 0; i--) {
		const struct uevent *u =
		    &d->events[(start + i - 1) % GOSSIP_EVENTS_MAX];

		if (event_named(u, name))
			return event_index_of(u->id);
	}
	return 1;
}

/* Oldest first, as Consul's UserEvents(); filtered by name. */
static void
events_reply(struct gossipd *d, struct ipc_req *r, const char *name)
{
	struct msg_gossip_event_list_reply rep = { 0 };
	unsigned start = (d->ev_head + GOSSIP_EVENTS_MAX - d->ev_count) %
	    GOSSIP_EVENTS_MAX;
	struct mpw *w;

	for (unsigned i = 0; i < d->ev_count; i++)
		if (event_named(&d->events[(start + i) % GOSSIP_EVENTS_MAX],
		    name))
			rep.n_events++;
	rep.index = events_index(d, name);
	w = ipc_reply_begin(r, MSG_GOSSIP_EVENT_LIST);
	msg_gossip_event_list_reply_begin(w, &rep);
	for (unsigned i = 0; i < d->ev_count; i++) {
		const struct uevent *u =
		    &d->events[(start + i) % GOSSIP_EVENTS_MAX];

		if (event_named(u, name))
			event_write(w, u);
	}
	ipc_reply_send(r);
}

struct ev_parked {
	struct ev_parked *next;
	struct ipc_req *req;
	char *name;
	uint64_t index;
	uint64_t deadline_ms;
};

static struct ev_parked *ev_waiters;

/* httpd's client hung up on the blocking event list: answered now. */
static void
event_list_cancel(void *arg, struct ipc_req *r)
{
	struct ev_parked **pp = &ev_waiters, *w;

	while ((w = *pp) != NULL && w != arg)
		pp = &w->next;
	if (w == NULL)
		return;
	*pp = w->next;
	ipc_reply_canceled(r);
	free(w->name);
	free(w);
}

static void
event_list_request(struct gossipd *d, struct ipc_req *r)
{
	struct msg_gossip_event_list q;
	struct lerr e = { "" };
	struct ev_parked *w;
	char *name;

	if (msg_gossip_event_list_dec(&r->msg, &q, &e) != 0) {
		ipc_reply_error(r, -LE_MALFORMED, "%s", e.msg);
		return;
	}
	/* Consul's blocking event list: wait while the newest event's
	 * index is still the one the caller has seen. */
	name = xstrndup(q.name, q.name_len);
	if (q.min_index == 0 || q.wait_ms == 0 ||
	    q.min_index != events_index(d, name)) {
		events_reply(d, r, name);
		free(name);
		return;
	}
	if (q.wait_ms > MEMBERS_WAIT_MAX_MS)
		q.wait_ms = MEMBERS_WAIT_MAX_MS;
	w = xcalloc(1, sizeof(*w));
	w->req = r;
	w->name = name;
	w->index = q.min_index;
	w->deadline_ms = mono_ms() + q.wait_ms;
	w->next = ev_waiters;
	ev_waiters = w;
	ipc_req_on_cancel(r, event_list_cancel, w);
}

void
serve_events_wake(struct gossipd *d, bool all)
{
	struct ev_parked **pp = &ev_waiters, *w;
	uint64_t now = mono_ms();

	while ((w = *pp) != NULL) {
		if (all || w->index != events_index(d, w->name) ||
		    now >= w->deadline_ms) {
			*pp = w->next;
			events_reply(d, w->req, w->name);
			free(w->name);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

size_t
serve_events_parked(void)
{
	size_t n = 0;

	for (struct ev_parked *w = ev_waiters; w != NULL; w = w->next)
		n++;
	return n;
}

void
serve_tick(struct gossipd *d)
{
	for (int i = 0; i < d->npools; i++)
		serve_members_wake(&d->pools[i], false);
	serve_events_wake(d, false);
}

void
serve_fail_all(struct gossipd *d)
{
	for (int i = 0; i < d->npools; i++)
		serve_members_wake(&d->pools[i], true);
	serve_events_wake(d, true);
	if (d->leave_req != NULL) {
		serve_reply(d->leave_req, MSG_GOSSIP_LEAVE, 500,
		    "gossipd is stopping", 0, NULL);
		d->leave_req = NULL;
	}
}

void
serve_handle(void *arg, struct ipc_req *r)
{
	struct gossipd *d = arg;

	switch (r->msg.type) {
	case MSG_GOSSIP_MEMBERS:
		members_request(d, r);
		break;
	case MSG_GOSSIP_JOIN:
		join_request(d, r);
		break;
	case MSG_GOSSIP_LEAVE:
		if (d->leave_req != NULL) {
			serve_reply(r, MSG_GOSSIP_LEAVE, 409,
			    "a leave is already in progress", 0, NULL);
			break;
		}
		leave_request(d, r);
		break;
	case MSG_GOSSIP_FORCE_LEAVE:
		force_leave_request(d, r);
		break;
	case MSG_GOSSIP_EVENT_FIRE:
		event_fire_request(d, r);
		break;
	case MSG_GOSSIP_EVENT_LIST:
		event_list_request(d, r);
		break;
	default:
		ipc_reply_error(r, -LE_UNSUPPORTED, "gossipd: unexpected "
		    "message %s", proto_type_name(r->msg.type));
		break;
	}
}
