/* gossip_stream.c: where one message ends on a gossip TCP stream.
 * memberlist sends one request (and one reply) per connection with no
 * outer length: the end follows from the layers (§1, §7 of
 * memberlist-wire.md). gossipd reads a stream piece by piece and asks
 * after each read whether the message is complete. */
#include "gossip_stream.h"
#include "gossip_wire.h"
#include "err.h"
#include "mp.h"

#include <string.h>

/* The integer value of key in the msgpack map obj (a complete object of
 * objlen bytes), or 0 when absent. Negative on a malformed map. */
static int
map_uint(const uint8_t *obj, size_t objlen, const char *key, uint64_t *out)
{
	msgpack_zone zone;
	msgpack_object o;
	size_t off = 0;
	int rv = 0;

	*out = 0;
	msgpack_zone_init(&zone, 256);
	if (msgpack_unpack((const char *)obj, objlen, &off, &zone, &o) !=
	    MSGPACK_UNPACK_SUCCESS || o.type != MSGPACK_OBJECT_MAP) {
		msgpack_zone_destroy(&zone);
		return -LE_MALFORMED;
	}
	for (uint32_t i = 0; i < o.via.map.size; i++) {
		const msgpack_object *k = &o.via.map.ptr[i].key;
		const msgpack_object *v = &o.via.map.ptr[i].val;

		if (k->type != MSGPACK_OBJECT_STR ||
		    k->via.str.size != strlen(key) ||
		    memcmp(k->via.str.ptr, key, k->via.str.size) != 0)
			continue;
		if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			*out = v->via.u64;
		else if (v->type != MSGPACK_OBJECT_NIL)
			rv = -LE_MALFORMED;	/* negative or not a number */
	}
	msgpack_zone_destroy(&zone);
	return rv;
}

/* One msgpack object at p: *n its length. */
static int
obj(const uint8_t *p, const uint8_t *end, size_t *n, const char **why)
{
	return mp_object_len(p, (size_t)(end - p), n, why);
}

int
gw_stream_msg_len(const uint8_t *buf, size_t len, size_t *msg_len,
    const char **why)
{
	const uint8_t *p = buf, *end = buf + len;
	const char *dummy;
	size_t n;
	uint64_t v;
	int rv;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (len == 0)
		return -LE_AGAIN;
	if (*p == GW_HAS_LABEL) {
		if (len < 2)
			return -LE_AGAIN;
		if (p[1] == 0) {
			*why = "empty label";
			return -LE_MALFORMED;
		}
		if (len < 2 + (size_t)p[1])
			return -LE_AGAIN;
		p += 2 + p[1];
		if (p == end)
			return -LE_AGAIN;
		if (*p == GW_HAS_LABEL) {
			*why = "two labels";
			return -LE_MALFORMED;
		}
	}
	switch (*p++) {
	case GW_ENCRYPT:
		if (end - p < 4)
			return -LE_AGAIN;
		v = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 |
		    (uint64_t)p[2] << 8 | p[3];
		if (v > GW_STREAM_MAX) {
			*why = "encrypted stream too large";
			return -LE_TOOBIG;
		}
		p += 4;
		if ((uint64_t)(end - p) < v)
			return -LE_AGAIN;
		p += v;
		break;
	case GW_COMPRESS:
	case GW_PING:
	case GW_ACK:
	case GW_ERR:
		if ((rv = obj(p, end, &n, why)) != 0)
			return rv;
		p += n;
		break;
	case GW_USER:
		if ((rv = obj(p, end, &n, why)) != 0)
			return rv;
		if ((rv = map_uint(p, n, "UserMsgLen", &v)) != 0) {
			*why = "bad user message header";
			return rv;
		}
		if (v > GW_USER_MSG_MAX) {
			*why = "user message too large";
			return -LE_TOOBIG;
		}
		p += n;
		if ((uint64_t)(end - p) < v)
			return -LE_AGAIN;
		p += v;
		break;
	case GW_PUSH_PULL: {
		uint64_t nodes, ulen;

		if ((rv = obj(p, end, &n, why)) != 0)
			return rv;
		if (map_uint(p, n, "Nodes", &nodes) != 0 ||
		    map_uint(p, n, "UserStateLen", &ulen) != 0) {
			*why = "bad push/pull header";
			return -LE_MALFORMED;
		}
		if (nodes > GW_PUSH_NODES_MAX || ulen > GW_USER_MSG_MAX) {
			*why = "push/pull too large";
			return -LE_TOOBIG;
		}
		p += n;
		for (uint64_t i = 0; i < nodes; i++) {
			if ((rv = obj(p, end, &n, why)) != 0)
				return rv;
			p += n;
		}
		if ((uint64_t)(end - p) < ulen)
			return -LE_AGAIN;
		p += ulen;
		break;
	}
	default:
		*why = "unknown stream message type";
		return -LE_MALFORMED;
	}
	*msg_len = (size_t)(p - buf);
	return 0;
}
