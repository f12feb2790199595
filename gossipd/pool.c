/* pool.c: one gossip pool (LAN or WAN): its Serf instance configured as
 * Consul configures its own, the timer that drives it, joins (from the
 * API, -join and -retry-join), leave, Consul's merge checks, and the
 * member list handed to the siblings. Packets and streams are in
 * pool_io.c. */
#include "gossipd.h"
#include "base64.h"
#include "gossip_mp.h"
#include "gotime.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#define CONSUL_DEAD_RECLAIM_MS 30000
#define CONSUL_LEAVE_PROPAGATE_MS 3000
#define CONSUL_MIN_QUEUE_DEPTH 4096
#define JOINS_QUEUED_MAX 32

/* ---- the loop timer ---- */

static void
pool_timer(void *arg)
{
	struct pool *p = arg;

	if (p->serf != NULL)
		(void)serf_tick(p->serf);
	pool_rearm(p);
}

/* Re-arms the timer at Serf's next deadline and answers what the last
 * call changed. Called after every call into serf or its core. */
void
pool_rearm(struct pool *p)
{
	uint64_t now, dl, ms;

	if (p->serf == NULL)
		return;
	if (p->dirty) {
		p->dirty = false;
		serve_members_wake(p, false);
	}
	now = pool_now_us(NULL);
	dl = serf_next_deadline(p->serf);
	ms = dl > now ? (dl - now + 999) / 1000 : 0;
	if (ms > 1000)
		ms = 1000;
	loop_timer_arm(p->timer, ms);
}

static void
push_pull_fail_post(void *arg)
{
	struct deferred_fail *f = arg;

	if (f->p->serf != NULL)
		(void)serf_push_pull_done(f->p->serf, f->id, -LE_IO, NULL, 0);
	pool_rearm(f->p);
	free(f);
}

void
pool_defer_push_pull_fail(struct pool *p, uint64_t id)
{
	struct deferred_fail *f = xmalloc(sizeof(*f));

	f->p = p;
	f->id = id;
	loop_post(p->d->loop, push_pull_fail_post, f);
}

/* ---- Serf's callbacks ---- */

static void
on_log(void *arg, int level, const char *msg)
{
	struct pool *p = arg;

	if (level == 0)
		log_warnx("gossip %s: %s", p->label_name, msg);
	else if (level == 1)
		log_info("gossip %s: %s", p->label_name, msg);
	else
		log_debug("gossip %s: %s", p->label_name, msg);
}

static void
on_member(void *arg, enum serf_event ev, const struct serf_member *m)
{
	struct pool *p = arg;
	static const char *names[] = { "", "join", "leave", "failed",
		"update", "reap" };
	char a[128];
	struct sockaddr_storage ss;

	p->version++;
	p->dirty = true;
	pool_addr_to_ss(&m->addr, &ss);
	gaddr_str(&ss, a, sizeof(a));
	if (ev == SERF_EV_UPDATE)
		log_debug("gossip %s: member %s: %.*s %s", p->label_name,
		    names[ev], (int)m->name.len, (const char *)m->name.p, a);
	else
		log_info("gossip %s: member %s: %.*s %s", p->label_name,
		    ev < 6 ? names[ev] : "?", (int)m->name.len,
		    (const char *)m->name.p, a);
}

static void
on_user_event(void *arg, const struct serf_user_event *ev)
{
	struct pool *p = arg;
	struct raw_event *r = &p->raw[p->raw_head];

	free(r->name);
	r->name = xstrndup((const char *)ev->name.p, ev->name.len);
	r->ltime = ev->ltime;
	r->payload_len = ev->payload.len;
	p->raw_head = (p->raw_head + 1) % RAW_EVENTS;
	p->raw_total++;
	if (p->which == POOL_LAN)
		event_received(p->d, ev->ltime, ev->name.p, ev->name.len,
		    ev->payload.p, ev->payload.len);
}

static struct join_op *
join_find(struct pool *p, uint64_t token)
{
	for (struct join_op *j = p->joins; j != NULL; j = j->next)
		if (j->token == token)
			return j;
	return NULL;
}

static void join_next(struct pool *p);

static void
join_finished(struct pool *p, struct join_op *j, int status, unsigned n)
{
	struct join_op **jp;

	for (jp = &p->joins; *jp != NULL; jp = &(*jp)->next)
		if (*jp == j) {
			*jp = j->next;
			break;
		}
	if (j->retry) {
		if (n > 0) {
			log_info("gossip %s: retry join: joined %u nodes",
			    p->label_name, n);
			p->retry_done = true;
		} else {
			log_warnx("gossip %s: join cluster failed, will retry "
			    "in %" PRId64 " ms (attempt %u): %s",
			    p->label_name, p->retry_interval_ms,
			    p->retry_attempts, j->err[0] ? j->err :
			    p->last_join_err[0] ? p->last_join_err :
			    le_strerror(status));
			if (p->retry_max > 0 &&
			    (int64_t)p->retry_attempts >= p->retry_max) {
				log_error("gossip %s: retry join: giving up "
				    "after %u attempts", p->label_name,
				    p->retry_attempts);
				p->retry_done = true;
			} else {
				loop_timer_arm(p->retry_timer,
				    (uint64_t)p->retry_interval_ms);
			}
		}
	}
	if (j->req != NULL) {
		char text[300];

		if (n > 0)
			serve_reply(j->req, MSG_GOSSIP_JOIN, 0, "", n, NULL);
		else {
			snprintf(text, sizeof(text), "%s", j->err[0] ?
			    j->err : p->last_join_err[0] ? p->last_join_err :
			    le_strerror(status ? status : -LE_UNAVAIL));
			serve_reply(j->req, MSG_GOSSIP_JOIN, 500, text, 0,
			    NULL);
		}
	}
	free(j->addrs);
	free(j);
	join_next(p);
}

static void
on_done(void *arg, enum serf_op op, uint64_t token, int status, unsigned n)
{
	struct pool *p = arg;
	struct join_op *j;

	switch (op) {
	case SERF_OP_JOIN:
		if ((j = join_find(p, token)) != NULL)
			join_finished(p, j, status, n);
		break;
	case SERF_OP_LEAVE:
		p->leaving = false;
		p->left = true;
		log_info("gossip %s: left the pool%s", p->label_name,
		    status != 0 ? " (not every message was sent)" : "");
		break;
	default:
		break;
	}
	p->dirty = true;
}

struct merge_tags {
	struct gw_bytes dc, id, role, port, vsn, build;
};

static int
merge_tag(void *arg, struct gw_bytes k, struct gw_bytes v)
{
	struct merge_tags *t = arg;

	if (gm_key_eq(k, "dc"))
		t->dc = v;
	else if (gm_key_eq(k, "id"))
		t->id = v;
	else if (gm_key_eq(k, "role"))
		t->role = v;
	else if (gm_key_eq(k, "port"))
		t->port = v;
	else if (gm_key_eq(k, "vsn"))
		t->vsn = v;
	else if (gm_key_eq(k, "build"))
		t->build = v;
	return 0;
}

static bool
bytes_is(struct gw_bytes b, const char *s)
{
	return b.len == strlen(s) && memcmp(b.p, s, b.len) == 0;
}

/* Consul's merge delegates (§11.3): on the LAN, no member of another
 * datacenter and no other name with our node ID; on the WAN, servers
 * only. A refused merge fails the join or push/pull. */
static int
on_merge_check(void *arg, const struct gw_push_node *nodes, size_t n,
    bool join)
{
	struct pool *p = arg;
	const char *dc = p->d->cfg.datacenter;
	const char *id = p->d->cfg.node_id;

	(void)join;
	for (size_t i = 0; i < n; i++) {
		struct merge_tags t = { 0 };
		const char *why = "";

		if (nodes[i].meta.len == 0 || gs_tags_decode(nodes[i].meta,
		    merge_tag, &t, &why) != 0)
			continue;	/* a plain Serf node has no Consul tags */
		if (p->which == POOL_LAN) {
			if (t.dc.p != NULL && !bytes_is(t.dc, dc)) {
				log_warnx("gossip lan: refusing to merge with "
				    "%.*s of datacenter %.*s (we are %s)",
				    (int)nodes[i].name.len,
				    (const char *)nodes[i].name.p,
				    (int)t.dc.len, (const char *)t.dc.p, dc);
				return -LE_PERM;
			}
			if (t.id.p != NULL && t.id.len == strlen(id) &&
			    strncasecmp((const char *)t.id.p, id,
			    t.id.len) == 0 && !(nodes[i].name.len ==
			    strlen(p->name) && memcmp(nodes[i].name.p,
			    p->name, nodes[i].name.len) == 0)) {
				log_warnx("gossip lan: refusing to merge: "
				    "member %.*s has our node ID %s",
				    (int)nodes[i].name.len,
				    (const char *)nodes[i].name.p, id);
				return -LE_PERM;
			}
		} else if (!bytes_is(t.role, "consul") || t.port.p == NULL ||
		    t.vsn.p == NULL || t.build.p == NULL) {
			log_warnx("gossip wan: refusing to merge with %.*s: "
			    "not a server", (int)nodes[i].name.len,
			    (const char *)nodes[i].name.p);
			return -LE_PERM;
		}
	}
	return 0;
}

/* ---- joins ---- */

/* Starts the first queued join when none is running. */
static void
join_next(struct pool *p)
{
	struct join_op *j;
	int rv;

	for (j = p->joins; j != NULL && j->started; j = j->next)
		;
	if (j == NULL || p->joins != j)
		return;		/* nothing queued, or one running */
	j->started = true;
	p->last_join_err[0] = '\0';
	rv = serf_join(p->serf, j->addrs, j->n, false, j->token);
	if (rv != 0) {
		snprintf(j->err, sizeof(j->err), "join: %s", le_strerror(rv));
		join_finished(p, j, rv, 0);
	}
}

void
pool_join(struct pool *p, const char *const *addrs, const size_t *lens,
    unsigned n, struct ipc_req *req, bool retry)
{
	struct join_op *j, **jp;
	int port = (int)(p->which == POOL_LAN ? p->d->cfg.port_serf_lan :
	    p->d->cfg.port_serf_wan);
	struct lerr e = { "" };
	unsigned queued = 0;

	/* Serf runs one join at a time: the queue behind it is bounded. */
	for (j = p->joins; j != NULL; j = j->next)
		queued++;
	if (queued >= JOINS_QUEUED_MAX) {
		if (req != NULL)
			serve_reply(req, MSG_GOSSIP_JOIN, 500, "too many joins "
			    "in progress; try again", 0, NULL);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->p = p;
	j->req = req;
	j->retry = retry;
	j->token = ++p->next_token;
	j->addrs = xcalloc(n ? n : 1, sizeof(*j->addrs));
	for (unsigned i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		char *s = xstrndup(addrs[i], lens[i]);

		if (gaddr_parse(s, port, &ss, &e) != 0) {
			snprintf(j->err, sizeof(j->err), "%s", e.msg);
			log_warnx("gossip %s: join: %s", p->label_name, e.msg);
		} else {
			pool_ss_to_addr(&ss, &j->addrs[j->n++]);
		}
		free(s);
	}
	for (jp = &p->joins; *jp != NULL; jp = &(*jp)->next)
		;
	*jp = j;
	if (j->n == 0) {
		join_finished(p, j, -LE_INVAL, 0);
		return;
	}
	join_next(p);
	pool_rearm(p);
}

static void
retry_timer(void *arg)
{
	struct pool *p = arg;
	const char *a[GOSSIPD_JOIN_MAX];
	size_t l[GOSSIPD_JOIN_MAX];
	unsigned n = 0;

	if (p->retry_done || p->left || p->leaving)
		return;
	for (size_t i = 0; i < p->retry->n && n < GOSSIPD_JOIN_MAX; i++) {
		a[n] = p->retry->v[i];
		l[n] = strlen(p->retry->v[i]);
		n++;
	}
	for (size_t i = 0; p->retry2 && i < p->retry2->n &&
	    n < GOSSIPD_JOIN_MAX; i++) {
		a[n] = p->retry2->v[i];
		l[n] = strlen(p->retry2->v[i]);
		n++;
	}
	p->retry_attempts++;
	pool_join(p, a, l, n, NULL, true);
}

/* ---- leave ---- */

int
pool_leave(struct pool *p)
{
	int rv;

	if (p->left || p->leaving)
		return 0;
	p->leaving = true;
	rv = serf_leave(p->serf, ++p->next_token);
	if (rv != 0 && rv != -LE_STATE) {
		p->leaving = false;
		return rv;
	}
	pool_rearm(p);
	return 0;
}

bool
pool_leave_pending(struct gossipd *d)
{
	for (int i = 0; i < d->npools; i++)
		if (d->pools[i].leaving)
			return true;
	return false;
}

/* Answers the API's leave once every pool has left; the agent then
 * stops, as `consul leave` does. */
void
pool_leave_check(struct gossipd *d)
{
	if (d->leave_req == NULL || pool_leave_pending(d))
		return;
	serve_reply(d->leave_req, MSG_GOSSIP_LEAVE, 0, "", 0, NULL);
	d->leave_req = NULL;
	d->leave_at_ms = mono_ms() + 300;
}

/* ---- members for the siblings ---- */

struct each_ctx {
	void (*fn)(void *, const struct serf_member *);
	void *arg;
};

size_t
pool_member_count(struct pool *p)
{
	return serf_num_members(p->serf);
}

void
pool_members_each(struct pool *p,
    void (*fn)(void *arg, const struct serf_member *m), void *arg)
{
	(void)serf_members_each(p->serf, fn, arg);
}

/* ---- the keyring ---- */

/* Consul keeps each pool's keyring in <data_dir>/serf/local.keyring
 * (remote.keyring for the WAN): a JSON array of base64 keys, primary
 * first. Written when -encrypt first gives a key and after every
 * rotation; once it exists it wins over -encrypt, as in Consul. */
static int
keyring_save(struct pool *p)
{
	char tmp[sizeof(p->keyring_path) + 8];
	json_t *a;
	FILE *f;
	int rv = -LE_IO;

	if (p->keyring_path[0] == '\0')
		return 0;
	if ((a = json_array()) == NULL)
		return -LE_NOMEM;
	for (unsigned i = 0; i < p->kr.n; i++) {
		char b[b64_encoded_len(32) + 1];

		b64_encode(p->kr.key[i], p->kr.len[i], b);
		json_array_append_new(a, json_string(b));
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->keyring_path);
	if ((f = fopen(tmp, "w")) != NULL) {
		(void)fchmod(fileno(f), 0600);
		if (json_dumpf(a, f, JSON_COMPACT) == 0 && fflush(f) == 0 &&
		    fsync(fileno(f)) == 0)
			rv = 0;
		if (fclose(f) != 0)
			rv = -LE_IO;
		if (rv == 0 && rename(tmp, p->keyring_path) != 0)
			rv = -LE_IO;
	}
	json_decref(a);
	if (rv != 0)
		log_warnx("gossip %s: cannot write %s", p->label_name,
		    p->keyring_path);
	return rv;
}

static int
key_decode(const char *k, uint8_t key[64], size_t *len, struct lerr *e,
    const char *what)
{
	if (strlen(k) > 64 || b64_decode(k, strlen(k), key, len) != 0)
		return lerr_set(e, LE_CONFIG, "%s: the key is not valid "
		    "base64", what);
	if (*len != 16 && *len != 24 && *len != 32)
		return lerr_set(e, LE_CONFIG, "%s: the key must be 16, 24 or "
		    "32 bytes (it is %zu)", what, *len);
	return 0;
}

static int
keyring_load(struct pool *p, struct lerr *e)
{
	const struct lictor_config *c = &p->d->cfg;
	const char *k = c->encrypt;
	uint8_t key[64];
	size_t len = 0;
	json_t *a, *v;
	json_error_t je;
	size_t i;
	int rv;

	memset(&p->kr, 0, sizeof(p->kr));
	if (c->data_dir != NULL && !c->dev)
		snprintf(p->keyring_path, sizeof(p->keyring_path),
		    "%s/serf/%s", c->data_dir, p->which == POOL_LAN ?
		    "local.keyring" : "remote.keyring");
	if (p->keyring_path[0] != '\0' &&
	    access(p->keyring_path, F_OK) == 0) {
		if ((a = json_load_file(p->keyring_path, 0, &je)) == NULL ||
		    !json_is_array(a) || json_array_size(a) == 0) {
			json_decref(a);
			return lerr_set(e, LE_CONFIG, "%s: not a JSON array of "
			    "keys (%s)", p->keyring_path, je.text);
		}
		json_array_foreach(a, i, v) {
			if (!json_is_string(v) || (rv = key_decode(
			    json_string_value(v), key, &len, e,
			    p->keyring_path)) != 0 ||
			    gw_keyring_add(&p->kr, key, len) != 0) {
				json_decref(a);
				return json_is_string(v) ? lerr_set(e,
				    LE_CONFIG, "%s: key %zu unusable",
				    p->keyring_path, i) : lerr_set(e,
				    LE_CONFIG, "%s: key %zu is not a string",
				    p->keyring_path, i);
			}
		}
		json_decref(a);
		if (k != NULL && *k != '\0')
			log_info("gossip %s: loaded the keyring from %s; "
			    "ignoring -encrypt", p->label_name,
			    p->keyring_path);
		return 0;
	}
	if (k == NULL || *k == '\0')
		return 0;
	if ((rv = key_decode(k, key, &len, e, "encrypt")) != 0)
		return rv;
	if (gw_keyring_add(&p->kr, key, len) != 0)
		return lerr_set(e, LE_CONFIG, "encrypt: cannot use the key");
	return 0;
}

/* Serf's key rotation queries (`consul keyring`, `serf keys`). */
static int
on_keyring(void *arg, enum serf_key_op op, struct gw_bytes key,
    struct serf_keys *out, const char **msg)
{
	struct pool *p = arg;
	int rc;

	if (p->kr.n == 0)
		return -LE_UNSUPPORTED;
	switch (op) {
	case SERF_KEY_INSTALL:
		if ((rc = gw_keyring_add(&p->kr, key.p, key.len)) == -LE_INVAL)
			*msg = "key size must be 16, 24 or 32 bytes";
		break;
	case SERF_KEY_USE:
		if ((rc = gw_keyring_use(&p->kr, key.p, key.len)) != 0)
			*msg = "Requested key is not in the keyring";
		break;
	case SERF_KEY_REMOVE:
		rc = gw_keyring_remove(&p->kr, key.p, key.len);
		if (rc == -LE_STATE)
			*msg = "Removing the primary key is not allowed";
		if (rc == -LE_NOTFOUND)
			rc = 0;
		break;
	case SERF_KEY_LIST:
		out->n = p->kr.n < SERF_KEYS_MAX ? p->kr.n : SERF_KEYS_MAX;
		for (unsigned i = 0; i < out->n; i++)
			out->key[i] = (struct gw_bytes){ p->kr.key[i],
			    p->kr.len[i] };
		return 0;
	default:
		return -LE_INVAL;
	}
	if (rc == 0) {
		log_info("gossip %s: keyring %s", p->label_name,
		    op == SERF_KEY_INSTALL ? "key installed" :
		    op == SERF_KEY_USE ? "primary key changed" : "key removed");
		(void)keyring_save(p);
	}
	return rc;
}

/* ---- opening ---- */

static void
apply_tuning(struct swim_config *s, int64_t nodes, int64_t interval,
    int64_t probe, int64_t probe_timeout, int64_t smult, int64_t rmult)
{
	if (nodes > 0)
		s->gossip_nodes = (unsigned)nodes;
	if (interval > 0)
		s->gossip_interval_ms = (uint32_t)interval;
	if (probe > 0)
		s->probe_interval_ms = (uint32_t)probe;
	if (probe_timeout > 0)
		s->probe_timeout_ms = (uint32_t)probe_timeout;
	if (smult > 0)
		s->suspicion_mult = (unsigned)smult;
	if (rmult > 0)
		s->retransmit_mult = (unsigned)rmult;
}

static int
advertise(struct pool *p, int port, struct lerr *e)
{
	const struct lictor_config *c = &p->d->cfg;
	const char *host = c->advertise_addr && *c->advertise_addr ?
	    c->advertise_addr : c->bind_addr;
	char buf[300];

	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
		log_warnx("gossip %s: bind address %s: advertising 127.0.0.1; "
		    "set -advertise for a cluster", p->label_name, host);
		host = "127.0.0.1";
	}
	snprintf(buf, sizeof(buf), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
	    host, port);
	return gaddr_parse(buf, port, &p->adv, e);
}

static const struct gnet_ops pool_net_ops = {
	.packet = pool_on_packet,
	.stream = pool_on_stream,
};

static const struct serf_ops pool_serf_ops = {
	.now = pool_now_us,
	.rand = pool_rand,
	.send_udp = pool_send_udp,
	.tcp_ping = pool_tcp_ping,
	.push_pull = pool_push_pull,
	.log = on_log,
	.merge_check = on_merge_check,
	.member_event = on_member,
	.user_event = on_user_event,
	.keyring = on_keyring,
	.done = on_done,
};

int
pool_open(struct gossipd *d, int which, struct lerr *e)
{
	struct pool *p = &d->pools[which];
	const struct lictor_config *c = &d->cfg;
	struct serf_config sc;
	struct tagset tags;
	char snap[4200], dir[4100];
	int port, rv;

	p->d = d;
	p->which = which;
	p->label_name = which == POOL_LAN ? "lan" : "wan";
	port = (int)(which == POOL_LAN ? c->port_serf_lan : c->port_serf_wan);
	if (which == POOL_LAN)
		snprintf(p->name, sizeof(p->name), "%s", c->node_name);
	else
		snprintf(p->name, sizeof(p->name), "%s.%s", c->node_name,
		    c->datacenter);
	if (c->data_dir != NULL && !c->dev) {
		snprintf(dir, sizeof(dir), "%s/serf", c->data_dir);
		if (mkdir_p(dir, 0700) != 0)
			return lerr_set(e, LE_IO, "cannot create %s", dir);
	}
	if ((rv = keyring_load(p, e)) != 0)
		return rv;
	if (p->kr.n > 0 && p->keyring_path[0] != '\0' &&
	    access(p->keyring_path, F_OK) != 0 && keyring_save(p) != 0)
		return lerr_set(e, LE_IO, "cannot write %s", p->keyring_path);
	p->sec.kr = &p->kr;
	p->sec.verify_incoming = c->encrypt_verify_incoming;
	p->sec.verify_outgoing = c->encrypt_verify_outgoing;
	p->sec.compress = true;
	p->timer = loop_timer_new(d->loop, pool_timer, p);
	p->retry_timer = loop_timer_new(d->loop, retry_timer, p);

	serf_config_default(&sc);
	if (which == POOL_LAN) {
		swim_config_lan(&sc.swim);
		apply_tuning(&sc.swim, c->gossip_lan_nodes,
		    c->gossip_lan_interval_ms, c->gossip_lan_probe_ms,
		    c->gossip_lan_probe_timeout_ms,
		    c->gossip_lan_suspicion_mult,
		    c->gossip_lan_retransmit_mult);
		sc.reconnect_timeout_ms = (uint64_t)c->reconnect_timeout_ms;
		p->retry = &c->retry_join;
		p->retry2 = &c->start_join;
		p->retry_interval_ms = c->retry_interval_ms;
	} else {
		swim_config_wan(&sc.swim);
		apply_tuning(&sc.swim, c->gossip_wan_nodes,
		    c->gossip_wan_interval_ms, c->gossip_wan_probe_ms,
		    c->gossip_wan_probe_timeout_ms,
		    c->gossip_wan_suspicion_mult,
		    c->gossip_wan_retransmit_mult);
		sc.reconnect_timeout_ms =
		    (uint64_t)c->reconnect_timeout_wan_ms;
		p->retry = &c->retry_join_wan;
		p->retry2 = &c->start_join_wan;
		p->retry_interval_ms = c->retry_interval_wan_ms;
	}
	p->retry_max = c->retry_max;
	p->tcp_timeout_ms = sc.swim.tcp_timeout_ms;
	sc.swim.dead_reclaim_ms = CONSUL_DEAD_RECLAIM_MS;
	sc.swim.layer_overhead = 5 + (p->kr.n > 0 &&
	    p->sec.verify_outgoing ? 29 : 0);
	sc.name = p->name;
	sc.protocol = 4;
	sc.leave_propagate_delay_ms = CONSUL_LEAVE_PROPAGATE_MS;
	sc.min_queue_depth = CONSUL_MIN_QUEUE_DEPTH;
	sc.rejoin_after_leave = c->rejoin_after_leave;
	tags_build(c, which, &tags);
	sc.tags = tags.t;
	sc.n_tags = tags.n;
	if (c->data_dir != NULL && !c->dev) {
		snprintf(snap, sizeof(snap), "%s/%s", dir, which == POOL_LAN ?
		    "local.snapshot" : "remote.snapshot");
		sc.snapshot_path = snap;
	}
	if ((rv = gnet_open(d->loop, c->bind_addr, port, &pool_net_ops, p,
	    sc.swim.tcp_timeout_ms, &p->net, e)) != 0)
		return rv;
	if (port == 0)
		port = gnet_port(p->net);
	if ((rv = advertise(p, port, e)) != 0) {
		gnet_close(p->net);
		return rv;
	}
	pool_ss_to_addr(&p->adv, &sc.addr);
	if ((rv = serf_new(&sc, &pool_serf_ops, p, &p->serf)) != 0) {
		gnet_close(p->net);
		p->net = NULL;
		return lerr_set(e, rv, "gossip %s: %s", p->label_name,
		    rv == -LE_IO ? "cannot open the snapshot file" :
		    le_strerror(rv));
	}
	p->swim = serf_swim(p->serf);
	return 0;
}

void
pool_start(struct pool *p)
{
	int rv;

	if ((rv = serf_start(p->serf)) != 0)
		log_warnx("gossip %s: start: %s", p->label_name,
		    le_strerror(rv));
	if (p->retry->n > 0 || (p->retry2 != NULL && p->retry2->n > 0))
		loop_timer_arm(p->retry_timer, 0);
	pool_rearm(p);
}

void
pool_close(struct pool *p)
{
	struct join_op *j;

	if (p->d == NULL)
		return;
	/* Outbound streams answer -LE_CLOSED into serf first. */
	if (p->net != NULL)
		gnet_close(p->net);
	p->net = NULL;
	while ((j = p->joins) != NULL) {
		p->joins = j->next;
		if (j->req != NULL)
			serve_reply(j->req, MSG_GOSSIP_JOIN, 500,
			    "gossipd is stopping", 0, NULL);
		free(j->addrs);
		free(j);
	}
	if (p->serf != NULL)
		serf_free(p->serf);
	p->serf = NULL;
	p->swim = NULL;
	loop_timer_free(p->timer);
	loop_timer_free(p->retry_timer);
	for (unsigned i = 0; i < RAW_EVENTS; i++)
		free(p->raw[i].name);
	memset(&p->kr, 0, sizeof(p->kr));
}

void
pool_stats(struct pool *p, struct sbuf *out)
{
	const struct gnet_stats *ns = gnet_stats(p->net);
	const struct swim_stats *ws = swim_stats(p->swim);
	struct serf_stats ss;
	const char *l = p->label_name;

	serf_stats(p->serf, &ss);
	sbuf_printf(out, "%s.members %zu\n%s.failed %zu\n%s.left %zu\n"
	    "%s.version %" PRIu64 "\n%s.member_time %" PRIu64 "\n"
	    "%s.event_time %" PRIu64 "\n%s.health %d\n",
	    l, ss.members, l, ss.failed, l, ss.left, l, p->version, l,
	    ss.member_time, l, ss.event_time, l, swim_health(p->swim));
	sbuf_printf(out, "%s.udp_in %" PRIu64 "\n%s.udp_out %" PRIu64 "\n"
	    "%s.udp_bytes_in %" PRIu64 "\n%s.udp_bytes_out %" PRIu64 "\n"
	    "%s.tcp_in %" PRIu64 "\n%s.tcp_out %" PRIu64 "\n"
	    "%s.tcp_bytes_in %" PRIu64 "\n%s.tcp_bytes_out %" PRIu64 "\n"
	    "%s.tcp_bad %" PRIu64 "\n%s.tcp_timeouts %" PRIu64 "\n",
	    l, ns->udp_in, l, ns->udp_out, l, ns->udp_bytes_in, l,
	    ns->udp_bytes_out, l, ns->tcp_in, l, ns->tcp_out, l,
	    ns->tcp_bytes_in, l, ns->tcp_bytes_out, l, ns->tcp_bad, l,
	    ns->tcp_timeouts);
	sbuf_printf(out, "%s.packets_bad %" PRIu64 "\n%s.packets_decrypt_"
	    "failed %" PRIu64 "\n%s.packets_crc_bad %" PRIu64 "\n"
	    "%s.msgs_bad %" PRIu64 "\n%s.streams_bad %" PRIu64 "\n"
	    "%s.compound_truncated %" PRIu64 "\n%s.core_msgs_bad %" PRIu64
	    "\n%s.serf_msgs_bad %" PRIu64 "\n%s.push_pulls_refused %" PRIu64
	    "\n",
	    l, p->pkts_bad, l, p->pkts_decrypt_fail, l, p->pkts_crc_bad, l,
	    p->msgs_bad, l, p->streams_bad, l, p->compound_truncated, l,
	    ws->msgs_bad, l, ss.msgs_bad, l, p->push_pulls_refused);
	sbuf_printf(out, "%s.probes %" PRIu64 "\n%s.probes_failed %" PRIu64
	    "\n%s.suspects %" PRIu64 "\n%s.deaths %" PRIu64 "\n"
	    "%s.refutes %" PRIu64 "\n%s.push_pulls %" PRIu64 "\n"
	    "%s.push_pulls_failed %" PRIu64 "\n%s.push_pulls_served %" PRIu64
	    "\n%s.events_in %" PRIu64 "\n%s.queries_in %" PRIu64 "\n"
	    "%s.reconnects %" PRIu64 "\n%s.reaped %" PRIu64 "\n",
	    l, ws->probes, l, ws->probes_failed, l, ws->suspects, l,
	    ws->deaths, l, ws->refutes, l, ws->push_pulls, l,
	    ws->push_pulls_failed, l, ws->push_pulls_served, l, ss.events_in,
	    l, ss.queries_in, l, ss.reconnects, l, ss.reaped);
}

struct dump_ctx {
	struct sbuf *out;
	const char *label;
};

static void
dump_member(void *arg, const struct serf_member *m)
{
	struct dump_ctx *c = arg;
	struct sockaddr_storage ss;
	char a[128];

	pool_addr_to_ss(&m->addr, &ss);
	gaddr_str(&ss, a, sizeof(a));
	sbuf_printf(c->out, "%s member %.*s %s %s", c->label, (int)m->name.len,
	    (const char *)m->name.p, a, serf_status_name(m->status));
	for (unsigned i = 0; i < m->n_tags; i++)
		sbuf_printf(c->out, " %.*s=%.*s", (int)m->tags[i].key.len,
		    (const char *)m->tags[i].key.p, (int)m->tags[i].val.len,
		    (const char *)m->tags[i].val.p);
	sbuf_addc(c->out, '\n');
}

/* Members, and the last Serf user events by name (a Serf peer's events
 * are not Consul's and appear only here). */
void
pool_dump(struct pool *p, struct sbuf *out)
{
	struct dump_ctx c = { out, p->label_name };
	unsigned n = p->raw_total < RAW_EVENTS ? (unsigned)p->raw_total :
	    RAW_EVENTS;

	pool_members_each(p, dump_member, &c);
	for (unsigned i = 0; i < n; i++) {
		const struct raw_event *r =
		    &p->raw[(p->raw_head + RAW_EVENTS - n + i) % RAW_EVENTS];

		sbuf_printf(out, "%s event %s ltime %" PRIu64 " payload %zu\n",
		    p->label_name, r->name, r->ltime, r->payload_len);
	}
}
