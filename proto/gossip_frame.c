/* gossip_frame.c: the framing around memberlist's messages (§1, §6): CRC
 * and label headers, and the whole layer stack of a UDP packet and of a
 * stream message, sealed and opened in memberlist's order. The layers
 * themselves live in gossip_wire.c (compound), gossip_lzw.c (compression)
 * and gossip_crypt.c (encryption). */
#include "gossip_wire.h"

#include <string.h>

#include "err.h"

/* --- CRC-32 (§6.3) --------------------------------------------------------- */

/* IEEE 802.3, reflected (Go's crc32.ChecksumIEEE), four bits at a time. */
static const uint32_t crc_nibble[16] = {
	0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac,
	0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
	0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
	0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

uint32_t
gw_crc32(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		c = (c >> 4) ^ crc_nibble[c & 15];
		c = (c >> 4) ^ crc_nibble[c & 15];
	}
	return ~c;
}

int
gw_crc_wrap(struct gw_buf *out, const uint8_t *msg, size_t len)
{
	uint32_t c = gw_crc32(msg, len);
	uint8_t hdr[5] = { GW_HAS_CRC, (uint8_t)(c >> 24), (uint8_t)(c >> 16),
		(uint8_t)(c >> 8), (uint8_t)c };
	size_t start = out->len;
	int rc;

	if ((rc = gw_buf_append(out, hdr, sizeof(hdr))) < 0 ||
	    (rc = gw_buf_append(out, msg, len)) < 0)
		out->len = start;
	return rc;
}

/* --- label (§6.4) ---------------------------------------------------------- */

int
gw_label_wrap(struct gw_buf *out, const char *label, size_t label_len)
{
	uint8_t hdr[2] = { GW_HAS_LABEL, (uint8_t)label_len };
	size_t start = out->len;
	int rc;

	if (label_len == 0)
		return 0;
	if (label_len > GW_LABEL_MAX)
		return -LE_INVAL;
	if ((rc = gw_buf_append(out, hdr, sizeof(hdr))) < 0 ||
	    (rc = gw_buf_append(out, label, label_len)) < 0)
		out->len = start;
	return rc;
}

static int
set_why(const char **why, const char *text, int rc)
{
	if (why)
		*why = text;
	return rc;
}

/* Split an optional label header off buf (upstream's
 * RemoveLabelHeaderFromPacket and ...FromStream, same refusals). */
static int
label_split(const uint8_t **buf, size_t *len, struct gw_bytes *label,
    const char **why)
{
	const uint8_t *p = *buf;

	label->p = NULL;
	label->len = 0;
	if (*len == 0 || p[0] != GW_HAS_LABEL)
		return 0;
	if (*len < 2)
		return set_why(why, "cannot decode label; packet has been "
		    "truncated", -LE_MALFORMED);
	if (p[1] == 0)
		return set_why(why, "label header cannot be empty when present",
		    -LE_MALFORMED);
	if (*len < 2 + (size_t)p[1])
		return set_why(why, "cannot decode label; packet has been "
		    "truncated", -LE_MALFORMED);
	label->p = p + 2;
	label->len = p[1];
	*buf = p + 2 + p[1];
	*len -= 2 + (size_t)p[1];
	return 0;
}

static bool
label_eq(struct gw_bytes a, struct gw_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool
sec_encrypts(const struct gw_sec *sec)
{
	return sec->kr != NULL && sec->kr->n > 0;
}

static int
sec_check(const struct gw_sec *sec)
{
	if (sec->label.len > GW_LABEL_MAX ||
	    (sec->label.len > 0 && sec->label.p == NULL))
		return -LE_INVAL;
	return 0;
}

/* --- UDP (§1) --------------------------------------------------------------- */

int
gw_udp_seal(const struct gw_sec *sec, const uint8_t *msg, size_t len,
    bool crc, struct gw_buf *out)
{
	struct gw_buf z = { 0 }, c = { 0 }, e = { 0 };
	const uint8_t *p = msg;
	size_t n = len, start = out->len;
	int rc;

	if (len == 0 || (rc = sec_check(sec)) < 0)
		return -LE_INVAL;
	/* Compression only when it pays, as rawSendMsgPacket. */
	if (sec->compress) {
		if ((rc = gw_compress_wrap(&z, p, n)) < 0)
			goto out;
		if (z.len < n) {
			p = z.p;
			n = z.len;
		}
	}
	if (crc) {
		if ((rc = gw_crc_wrap(&c, p, n)) < 0)
			goto out;
		p = c.p;
		n = c.len;
	}
	if (sec_encrypts(sec) && sec->verify_outgoing) {
		if ((rc = gw_seal_udp(sec->kr, p, n, sec->label, &e)) < 0)
			goto out;
		p = e.p;
		n = e.len;
	}
	if ((sec->label.len ? 2 + sec->label.len : 0) + n > GW_UDP_MAX) {
		rc = -LE_INVAL;		/* no receiver reads that much */
		goto out;
	}
	if ((rc = gw_label_wrap(out, (const char *)sec->label.p,
	    sec->label.len)) < 0 || (rc = gw_buf_append(out, p, n)) < 0)
		out->len = start;
out:
	gw_buf_free(&z);
	gw_buf_free(&c);
	gw_buf_free(&e);
	return rc;
}

/* One walk over an opened packet. */
struct udp_walk {
	int (*each)(void *arg, const uint8_t *msg, size_t len);
	void *arg;
	struct gw_udp_stats *st;
	size_t budget;		/* decompressed bytes still allowed */
	const char *why;
};

/* The memberlist message types delivered to the caller. */
static bool
plain_type(uint8_t t)
{
	return t <= GW_ERR && t != GW_COMPOUND && t != GW_COMPRESS &&
	    t != GW_ENCRYPT && t != GW_HAS_CRC;
}

/* A failure of the layer at hand. Returns the error when it is on the
 * packet's own chain of layers (top), or counts the compound part it is
 * in as dropped and carries on, as memberlist logs and drops one bad part
 * of a compound and handles the others. */
static int
walk_fail(struct udp_walk *w, bool top, const char *why, int rc)
{
	w->why = why;
	if (top)
		return rc;
	w->st->dropped++;
	w->st->drop_why = why;
	return 0;
}

static int
walk(struct udp_walk *w, const uint8_t *p, size_t n, unsigned depth, bool top)
{
	struct gw_bytes parts[GW_COMPOUND_MAX];
	struct gw_buf z = { 0 };
	unsigned k, trunc;
	const char *why = NULL;
	uint32_t want;
	int rc;

	if (n == 0)
		return walk_fail(w, top, "empty message", -LE_MALFORMED);
	if (depth >= GW_UDP_DEPTH_MAX)
		return walk_fail(w, top, "layers nested too deep",
		    -LE_MALFORMED);
	switch (p[0]) {
	case GW_HAS_CRC:
		if (n < 5)
			return walk_fail(w, top, "truncated crc header",
			    -LE_MALFORMED);
		want = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 8 | p[4];
		if (gw_crc32(p + 5, n - 5) != want) {
			w->st->crc_bad++;
			return walk_fail(w, top, "invalid checksum",
			    -LE_MALFORMED);
		}
		return walk(w, p + 5, n - 5, depth + 1, top);
	case GW_COMPRESS:
		rc = gw_compress_unwrap(p + 1, n - 1, w->budget, &z, &why);
		if (rc < 0) {
			gw_buf_free(&z);
			return walk_fail(w, top, why ? why :
			    "bad compressed message", rc);
		}
		/* The budget is for the whole packet, so nesting cannot
		 * multiply it. */
		w->budget -= z.len;
		rc = walk(w, z.p, z.len, depth + 1, top);
		gw_buf_free(&z);
		return rc;
	case GW_COMPOUND:
		rc = gw_compound_split(p + 1, n - 1, parts, GW_COMPOUND_MAX, &k,
		    &trunc, &why);
		if (rc < 0)
			return walk_fail(w, top, why ? why :
			    "bad compound message", rc);
		w->st->truncated += trunc;
		for (unsigned i = 0; i < k; i++)
			if ((rc = walk(w, parts[i].p, parts[i].len, depth + 1,
			    false)) < 0)
				return rc;
		return 0;
	default:
		if (!plain_type(p[0]))
			return walk_fail(w, top, p[0] == GW_ENCRYPT ||
			    p[0] == GW_HAS_LABEL ? "encryption or label "
			    "inside a packet" : "unknown message type",
			    -LE_MALFORMED);
		if ((rc = w->each(w->arg, p, n)) < 0) {
			w->why = "refused by the message handler";
			return rc;
		}
		return 0;
	}
}

int
gw_udp_open(const struct gw_sec *sec, const uint8_t *pkt, size_t len,
    int (*each)(void *arg, const uint8_t *msg, size_t len), void *arg,
    struct gw_udp_stats *stats, const char **why)
{
	struct gw_udp_stats local;
	struct udp_walk w = { each, arg, stats ? stats : &local,
		GW_UDP_DECOMPRESS_MAX, NULL };
	struct gw_bytes label;
	struct gw_buf plain = { 0 };
	const char *dwhy = NULL;
	int rc;

	memset(w.st, 0, sizeof(*w.st));
	if (why)
		*why = NULL;
	if (sec_check(sec) < 0)
		return set_why(why, "bad security settings", -LE_INVAL);
	if (len == 0)
		return set_why(why, "empty packet", -LE_MALFORMED);
	if (len > GW_UDP_MAX)
		return set_why(why, "packet too large", -LE_TOOBIG);
	if ((rc = label_split(&pkt, &len, &label, why)) < 0)
		return rc;
	if (!label_eq(label, sec->label))
		return set_why(why, "discarding packet with unacceptable label",
		    -LE_PERM);
	if (len == 0)
		return set_why(why, "empty packet", -LE_MALFORMED);
	if (sec_encrypts(sec)) {
		rc = gw_open_udp(sec->kr, pkt, len, sec->label, &plain, &dwhy);
		if (rc == 0) {
			w.st->decrypted = true;
			pkt = plain.p;
			len = plain.len;
		} else if (sec->verify_incoming || rc == -LE_NOMEM) {
			gw_buf_free(&plain);
			return set_why(why, dwhy, rc);
		} else {
			/* Key rollout: what no key opens may be plaintext. */
			w.st->plaintext_fallback = true;
		}
	}
	rc = walk(&w, pkt, len, 0, true);
	gw_buf_free(&plain);
	if (rc < 0)
		return set_why(why, w.why, rc);
	return 0;
}

/* --- streams (§1, §7) ------------------------------------------------------ */

static int
stream_seal(const struct gw_sec *sec, const uint8_t *msg, size_t len,
    bool label_hdr, struct gw_buf *out)
{
	struct gw_buf z = { 0 };
	const uint8_t *p = msg;
	size_t n = len, start = out->len;
	int rc;

	if (len == 0 || (rc = sec_check(sec)) < 0)
		return -LE_INVAL;
	if (label_hdr && (rc = gw_label_wrap(out, (const char *)sec->label.p,
	    sec->label.len)) < 0)
		return rc;
	/* Streams are always compressed when compression is on. */
	if (sec->compress) {
		if ((rc = gw_compress_wrap(&z, p, n)) < 0)
			goto fail;
		p = z.p;
		n = z.len;
	}
	if (sec_encrypts(sec) && sec->verify_outgoing)
		rc = gw_seal_stream(sec->kr, p, n, sec->label, out);
	else
		rc = gw_buf_append(out, p, n);
	if (rc < 0)
		goto fail;
	gw_buf_free(&z);
	return 0;
fail:
	out->len = start;
	gw_buf_free(&z);
	return rc;
}

int
gw_stream_seal(const struct gw_sec *sec, const uint8_t *msg, size_t len,
    struct gw_buf *out)
{
	return stream_seal(sec, msg, len, true, out);
}

int
gw_stream_seal_reply(const struct gw_sec *sec, const uint8_t *msg,
    size_t len, struct gw_buf *out)
{
	return stream_seal(sec, msg, len, false, out);
}

static bool
stream_type(uint8_t t)
{
	return t == GW_PING || t == GW_ACK || t == GW_ERR || t == GW_USER ||
	    t == GW_PUSH_PULL;
}

static int
stream_open(const struct gw_sec *sec, const uint8_t *buf, size_t len,
    bool reply, struct gw_buf *plain, const char **why)
{
	struct gw_buf dec = { 0 }, unz = { 0 };
	struct gw_bytes label;
	const uint8_t *p = buf;
	size_t n = len, start = plain->len;
	int rc;

	if (why)
		*why = NULL;
	if (sec_check(sec) < 0)
		return set_why(why, "bad security settings", -LE_INVAL);
	if ((rc = label_split(&p, &n, &label, why)) < 0)
		return rc;
	if (reply && label.p != NULL)
		return set_why(why, "label header on a reply", -LE_MALFORMED);
	/* A reply carries no header but is sealed with the dialer's label. */
	if (!reply && !label_eq(label, sec->label))
		return set_why(why, "discarding stream with unacceptable label",
		    -LE_PERM);
	if (n == 0)
		return set_why(why, "empty stream", -LE_MALFORMED);
	if (p[0] == GW_ENCRYPT) {
		if (!sec_encrypts(sec))
			return set_why(why, "Remote state is encrypted and "
			    "encryption is not configured", -LE_PERM);
		if ((rc = gw_open_stream(sec->kr, p, n, sec->label, &dec,
		    why)) < 0)
			goto out;
		p = dec.p;
		n = dec.len;
		if (n == 0) {
			rc = set_why(why, "empty decrypted message",
			    -LE_MALFORMED);
			goto out;
		}
	} else if (sec_encrypts(sec) && sec->verify_incoming) {
		return set_why(why, "Encryption is configured but remote state "
		    "is not encrypted", -LE_PERM);
	}
	if (p[0] == GW_COMPRESS) {
		if ((rc = gw_compress_unwrap(p + 1, n - 1, GW_DECOMPRESS_MAX,
		    &unz, why)) < 0)
			goto out;
		p = unz.p;
		n = unz.len;
		if (n == 0) {
			rc = set_why(why, "decompressed message is empty",
			    -LE_MALFORMED);
			goto out;
		}
	}
	if (!stream_type(p[0])) {
		rc = set_why(why, "unknown stream message type", -LE_MALFORMED);
		goto out;
	}
	if ((rc = gw_buf_append(plain, p, n)) < 0)
		set_why(why, "out of memory", rc);
out:
	if (rc < 0)
		plain->len = start;
	gw_buf_free(&dec);
	gw_buf_free(&unz);
	return rc;
}

int
gw_stream_open(const struct gw_sec *sec, const uint8_t *buf, size_t len,
    struct gw_buf *plain, const char **why)
{
	return stream_open(sec, buf, len, false, plain, why);
}

int
gw_stream_open_reply(const struct gw_sec *sec, const uint8_t *buf,
    size_t len, struct gw_buf *plain, const char **why)
{
	return stream_open(sec, buf, len, true, plain, why);
}
