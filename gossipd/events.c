/* events.c: Consul's user events. `consul event` / PUT /v1/event/fire
 * makes a UserEvent {ID, n, p, nf, sf, tf, v}, msgpack-encodes it and
 * broadcasts it as the Serf user event "consul:event:<name>" on the LAN
 * pool; every agent decodes it, applies the node/service/tag filters and
 * keeps the last 256 that pass for /v1/event/list, whose index is the
 * newest event's ID folded to 64 bits (agent/event_endpoint.go).
 *
 * Consul fires through a server over RPC so that ACLs are checked first;
 * without ACLs the effect is the same gossip, so the agent fires it
 * itself. Services do not exist yet, so an event with a service filter
 * matches no agent, as in Consul on an agent without that service. */
#include "gossipd.h"
#include "gossip_mp.h"
#include "log.h"
#include "util.h"

#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_PREFIX "consul:event:"
#define EVENT_VERSION 1

/* Go's uuid.GenerateUUID: 16 random bytes as 8-4-4-4-12 hex. */
static void
uuid_new(char out[40])
{
	uint8_t b[16];

	random_bytes(b, sizeof(b));
	snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Consul's uuidToUint64: the first 16 hex digits xor the last 16. */
uint64_t
event_index_of(const char *u)
{
	char lo[17], hi[17];

	if (strlen(u) != 36)
		return 0;
	memcpy(lo, u, 8);
	memcpy(lo + 8, u + 9, 4);
	memcpy(lo + 12, u + 14, 4);
	lo[16] = '\0';
	memcpy(hi, u + 19, 4);
	memcpy(hi + 4, u + 24, 12);
	hi[16] = '\0';
	return strtoull(lo, NULL, 16) ^ strtoull(hi, NULL, 16);
}

static int
regex_check(const char *what, const char *re, size_t len, struct lerr *e)
{
	regex_t r;
	char *s;
	int rv;

	if (len == 0)
		return 0;
	s = xstrndup(re, len);
	rv = regcomp(&r, s, REG_EXTENDED | REG_NOSUB);
	free(s);
	if (rv != 0)
		return lerr_set(e, -LE_INVAL, "Invalid %s filter: error parsing "
		    "regexp", what);
	regfree(&r);
	return 0;
}

static bool
regex_match(const char *re, const char *s)
{
	regex_t r;
	bool ok;

	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

/* Consul encodes its UserEvent with a handle of its own (RawToString,
 * WriteExt: agent/user_event.go msgpackHandleUserEvent), not memberlist's:
 * str8 for 32..255-byte strings (the ID) and bin for the payload. */
static void
put_kv_str(struct gm_w *w, const char *k, const char *v, size_t len)
{
	gm_cstr(w, k);
	gm_str_ext(w, (struct gw_bytes){ (const uint8_t *)v, len });
}

int
event_fire(struct gossipd *d, const struct msg_gossip_event *ev,
    char id[40], struct lerr *e)
{
	struct gw_buf body = { 0 }, name = { 0 };
	struct gm_w w;
	unsigned n;
	int rv;

	if (ev->name_len == 0)
		return lerr_set(e, -LE_INVAL, "User event missing name");
	if (ev->tag_filter_len > 0 && ev->service_filter_len == 0)
		return lerr_set(e, -LE_INVAL,
		    "Cannot provide tag filter without service filter");
	if ((rv = regex_check("node", ev->node_filter, ev->node_filter_len,
	    e)) != 0 || (rv = regex_check("service", ev->service_filter,
	    ev->service_filter_len, e)) != 0 || (rv = regex_check("tag",
	    ev->tag_filter, ev->tag_filter_len, e)) != 0)
		return rv;
	uuid_new(id);
	n = 3 + (ev->payload != NULL && ev->payload_len > 0) +
	    (ev->node_filter_len > 0) + (ev->service_filter_len > 0) +
	    (ev->tag_filter_len > 0);
	gm_w_init(&w, &body);
	gm_map(&w, n);
	put_kv_str(&w, "ID", id, 36);
	put_kv_str(&w, "n", ev->name, ev->name_len);
	if (ev->payload != NULL && ev->payload_len > 0) {
		gm_cstr(&w, "p");
		gm_bytes_ext(&w, (struct gw_bytes){ ev->payload,
		    ev->payload_len });
	}
	if (ev->node_filter_len > 0)
		put_kv_str(&w, "nf", ev->node_filter, ev->node_filter_len);
	if (ev->service_filter_len > 0)
		put_kv_str(&w, "sf", ev->service_filter,
		    ev->service_filter_len);
	if (ev->tag_filter_len > 0)
		put_kv_str(&w, "tf", ev->tag_filter, ev->tag_filter_len);
	gm_cstr(&w, "v");
	gm_uint(&w, EVENT_VERSION);
	if ((rv = gm_w_end(&w)) != 0) {
		gw_buf_free(&body);
		return lerr_set(e, rv, "UserEvent encoding failed");
	}
	if (gw_buf_append(&name, EVENT_PREFIX, strlen(EVENT_PREFIX)) != 0 ||
	    gw_buf_append(&name, ev->name, ev->name_len) != 0) {
		gw_buf_free(&body);
		gw_buf_free(&name);
		return lerr_set(e, -LE_NOMEM, "out of memory");
	}
	rv = serf_user_event(d->pools[POOL_LAN].serf,
	    (struct gw_bytes){ name.p, name.len },
	    (struct gw_bytes){ body.p, body.len }, false, NULL);
	if (rv == -LE_TOOBIG)
		lerr_set(e, rv, "user event exceeds configured limit of %d "
		    "bytes before encoding", 512);
	else if (rv != 0)
		lerr_set(e, rv, "UserEvent failed: %s", le_strerror(rv));
	gw_buf_free(&body);
	gw_buf_free(&name);
	if (rv == 0)
		pool_rearm(&d->pools[POOL_LAN]);
	return rv;
}

static void
uevent_clear(struct uevent *u)
{
	free(u->name);
	free(u->payload);
	free(u->node_filter);
	free(u->service_filter);
	free(u->tag_filter);
	memset(u, 0, sizeof(*u));
}

void
events_free(struct gossipd *d)
{
	for (unsigned i = 0; i < GOSSIP_EVENTS_MAX; i++)
		uevent_clear(&d->events[i]);
}

/* Decodes Consul's UserEvent (any key order, str or bin, unknown keys
 * skipped, as go-msgpack does). */
static int
uevent_decode(const uint8_t *p, size_t len, struct uevent *u,
    const char **why)
{
	struct gm_r r;
	uint32_t n;
	struct gw_bytes k, s;
	uint64_t v;
	int rv;

	gm_r_init(&r, p, len);
	if ((rv = gm_read_map(&r, &n)) != 0) {
		*why = "event payload is not a map";
		return rv;
	}
	for (uint32_t i = 0; i < n; i++) {
		if ((rv = gm_read_str(&r, 64, &k)) != 0)
			goto bad;
		if (gm_key_eq(k, "ID") || gm_key_eq(k, "n") ||
		    gm_key_eq(k, "nf") || gm_key_eq(k, "sf") ||
		    gm_key_eq(k, "tf")) {
			if ((rv = gm_read_str(&r, GOSSIP_EVENT_PAYLOAD_MAX,
			    &s)) != 0)
				goto bad;
			char *c = xstrndup((const char *)(s.p ? s.p :
			    (const uint8_t *)""), s.len);
			if (gm_key_eq(k, "ID")) {
				snprintf(u->id, sizeof(u->id), "%s", c);
				free(c);
			} else if (gm_key_eq(k, "n")) {
				free(u->name);
				u->name = c;
			} else if (gm_key_eq(k, "nf")) {
				free(u->node_filter);
				u->node_filter = c;
			} else if (gm_key_eq(k, "sf")) {
				free(u->service_filter);
				u->service_filter = c;
			} else {
				free(u->tag_filter);
				u->tag_filter = c;
			}
		} else if (gm_key_eq(k, "p")) {
			if ((rv = gm_read_bytes(&r, GOSSIP_EVENT_PAYLOAD_MAX,
			    &s)) != 0)
				goto bad;
			free(u->payload);
			u->payload = NULL;
			u->has_payload = s.p != NULL;
			u->payload_len = s.len;
			if (s.len > 0) {
				u->payload = xmalloc(s.len);
				memcpy(u->payload, s.p, s.len);
			}
		} else if (gm_key_eq(k, "v")) {
			if ((rv = gm_read_uint(&r, UINT32_MAX, &v)) != 0)
				goto bad;
			u->version = v;
		} else if ((rv = gm_skip(&r)) != 0) {
			goto bad;
		}
	}
	if (gm_left(&r) != 0) {
		*why = "bytes after the event";
		return -LE_MALFORMED;
	}
	if (u->name == NULL) {
		*why = "event without a name";
		return -LE_MALFORMED;
	}
	return 0;
bad:
	*why = "malformed event payload";
	return rv;
}

static bool
passes_filters(struct gossipd *d, const struct uevent *u)
{
	if (u->node_filter && *u->node_filter &&
	    !regex_match(u->node_filter, d->cfg.node_name))
		return false;
	/* No services are registered on an agent yet: a service filter
	 * (and the tag filter that needs one) matches nothing here. */
	if (u->service_filter && *u->service_filter)
		return false;
	return true;
}

void
event_received(struct gossipd *d, uint64_t ltime, const uint8_t *name,
    size_t name_len, const uint8_t *payload, size_t len)
{
	struct uevent u = { .ltime = ltime };
	const char *why = "";
	size_t plen = strlen(EVENT_PREFIX);
	struct uevent *slot;

	d->events_received++;
	if (name_len <= plen || memcmp(name, EVENT_PREFIX, plen) != 0)
		return;		/* not a Consul event (a Serf peer's own) */
	if (uevent_decode(payload, len, &u, &why) != 0) {
		log_warnx("event %.*s: cannot decode: %s", (int)name_len, name,
		    why);
		uevent_clear(&u);
		return;
	}
	if (u.version > EVENT_VERSION)
		log_warnx("event version %" PRIu64 " may have unsupported "
		    "features (%s)", u.version, u.name);
	if (!passes_filters(d, &u)) {
		d->events_filtered++;
		uevent_clear(&u);
		return;
	}
	log_debug("new event: %s (%s)", u.name, u.id);
	slot = &d->events[d->ev_head];
	uevent_clear(slot);
	*slot = u;
	d->ev_head = (d->ev_head + 1) % GOSSIP_EVENTS_MAX;
	if (d->ev_count < GOSSIP_EVENTS_MAX)
		d->ev_count++;
	d->ev_index = event_index_of(slot->id);
	serve_events_wake(d, false);
}
