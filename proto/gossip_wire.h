/* gossip_wire.h: the gossip wire protocol, memberlist's and Serf's
 * messages as HashiCorp's Go code puts them on the network, so that real
 * Serf (and Consul) nodes and lictor's gossipd understand each other.
 * ../shared/reference/memberlist-wire.md (copied into docs/gossip.md's
 * sources) is the specification; section numbers below refer to it.
 *
 * Everything decoded here comes from the network: decoders validate every
 * type, count and length, never trust a prefix, reject trailing bytes, and
 * return -LE_MALFORMED (truncated, wrong type, bad count, trailing bytes),
 * -LE_TOOBIG (a length past our limit) or -LE_PERM (no key could decrypt)
 * with a reason in *why when why is not NULL (a static string). Unknown map
 * keys are skipped and missing ones left zero, as go-msgpack does. Strings
 * decode from the str family or nil; byte slices also from bin. Encoders
 * return 0, -LE_INVAL (a field we would refuse to read back, a count past a
 * limit) or -LE_NOMEM, and on error leave the output buffer as it was.
 * Encoders write
 * go-msgpack's dialect exactly (§4): structs as maps with keys in byte-wise
 * sorted order, every string and byte slice in the raw str family
 * (fixstr/str16/str32, never str8 or bin), non-negative integers in the
 * unsigned forms, nil for absent byte slices.
 *
 * OWNERSHIP. Decoded structs borrow: every struct gw_bytes points into the
 * buffer that was decoded and is valid only while that buffer is. Encoders
 * append to a struct gw_buf the caller owns (gw_buf_free releases it).
 *
 * TYPE BYTES. Encoders write the leading type byte of what they encode.
 * Decoders of whole messages (gw_decode_msg, gs_decode) take it too;
 * decoders of one layer or stream message (gw_compound_split,
 * gw_push_decode, gw_stream_user_decode, gw_compress_unwrap) take the bytes
 * after it, as memberlist's handlers do.
 *
 * Layout of this header: byte strings and buffers; memberlist messages
 * (§3, §5); push/pull streams (§7.1); framing layers (§6: compound,
 * compression, CRC, encryption, label); Serf messages (§10). */
#ifndef LICTOR_GOSSIP_WIRE_H
#define LICTOR_GOSSIP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A byte string or Go string on the wire. p == NULL means msgpack nil
 * (Go's nil slice); p != NULL with len 0 is an empty string. */
struct gw_bytes {
	const uint8_t *p;
	size_t len;
};

/* A growable output buffer; zero-initialised it is empty. */
struct gw_buf {
	uint8_t *p;
	size_t len, cap;
};
void gw_buf_free(struct gw_buf *b);
/* Room for n more bytes / append n bytes: 0 or -LE_NOMEM. */
int gw_buf_reserve(struct gw_buf *b, size_t n);
int gw_buf_append(struct gw_buf *b, const void *p, size_t n);

/* Limits (§2, §7.5, §10). */
#define GW_UDP_BUDGET		1400	/* what a sender packs in a packet */
#define GW_UDP_MAX		65536	/* what a receiver reads */
#define GW_META_MAX		512	/* node meta (Serf tags) */
#define GW_NAME_MAX		512	/* node names: memberlist has no cap;
					   ours keeps tables bounded */
#define GW_STREAM_MAX		(20u << 20)	/* encrypted stream */
#define GW_DECOMPRESS_MAX	(40u << 20)
#define GW_PUSH_NODES_MAX	(1u << 20)
#define GW_USER_MSG_MAX		(20u << 20)
#define GW_COMPOUND_MAX		255

/* --- memberlist messages (§3, §5) --------------------------------------- */

enum gw_type {
	GW_PING = 0,
	GW_INDIRECT_PING = 1,
	GW_ACK = 2,
	GW_SUSPECT = 3,
	GW_ALIVE = 4,
	GW_DEAD = 5,
	GW_PUSH_PULL = 6,
	GW_COMPOUND = 7,
	GW_USER = 8,
	GW_COMPRESS = 9,
	GW_ENCRYPT = 10,
	GW_NACK = 11,
	GW_HAS_CRC = 12,
	GW_ERR = 13,
	GW_HAS_LABEL = 244,
};

/* Vsn: pmin, pmax, pcur, dmin, dmax, dcur (§8). */
enum { GW_VSN_PMIN, GW_VSN_PMAX, GW_VSN_PCUR, GW_VSN_DMIN, GW_VSN_DMAX,
       GW_VSN_DCUR, GW_VSN_LEN };

struct gw_ping {
	uint32_t seq_no;		/* SeqNo */
	struct gw_bytes node;		/* Node: the intended target's name */
	struct gw_bytes source_addr;	/* omitempty: p == NULL or len 0 */
	struct gw_bytes source_node;	/* omitempty */
	uint16_t source_port;		/* omitempty: 0 */
};

struct gw_indirect_ping {
	uint32_t seq_no;
	struct gw_bytes target;		/* Target: raw IP, 4 or 16 bytes */
	uint16_t port;
	struct gw_bytes node;
	bool nack;
	struct gw_bytes source_addr;	/* omitempty */
	struct gw_bytes source_node;	/* omitempty */
	uint16_t source_port;		/* omitempty */
};

struct gw_ack {
	uint32_t seq_no;
	struct gw_bytes payload;	/* nil or Serf's [1][coordinate] */
};

struct gw_nack {
	uint32_t seq_no;
};

/* suspect and dead share a shape; dead with from == node is a leave. */
struct gw_suspect {
	uint32_t incarnation;
	struct gw_bytes node;
	struct gw_bytes from;
};

struct gw_alive {
	uint32_t incarnation;
	struct gw_bytes node;
	struct gw_bytes addr;		/* raw IP, 4 or 16 bytes */
	uint16_t port;
	struct gw_bytes meta;		/* <= GW_META_MAX */
	uint8_t vsn[GW_VSN_LEN];
};

struct gw_err {
	struct gw_bytes error;
};

/* One decoded memberlist message (the type byte and its body). For
 * GW_USER the body is raw: user holds the bytes after the type byte. */
struct gw_msg {
	enum gw_type type;
	union {
		struct gw_ping ping;
		struct gw_indirect_ping iping;
		struct gw_ack ack;
		struct gw_nack nack;
		struct gw_suspect suspect;	/* GW_SUSPECT, GW_DEAD */
		struct gw_alive alive;
		struct gw_err err;
		struct gw_bytes user;
	} u;
};

/* Decode one message [type][body]: ping, indirect ping, ack, nack,
 * suspect, alive, dead, err and user (raw). Framing layers (compound,
 * compress, crc, encrypt, label) are peeled by gw_udp_open below, and
 * push/pull by gw_push_decode; given here they are -LE_MALFORMED, as are
 * unknown types (memberlist logs and drops those). Checks: names <=
 * GW_NAME_MAX, meta <= GW_META_MAX, addresses 4 or 16 bytes (source
 * addresses may be absent), Vsn 6 bytes or absent (then all zero). */
int gw_decode_msg(const uint8_t *buf, size_t len, struct gw_msg *m,
    const char **why);
/* Append [type][body] for m to out. */
int gw_encode_msg(struct gw_buf *out, const struct gw_msg *m);

/* --- push/pull (§7.1) ---------------------------------------------------- */

enum gw_node_state { GW_STATE_ALIVE = 0, GW_STATE_SUSPECT = 1,
		     GW_STATE_DEAD = 2, GW_STATE_LEFT = 3 };

struct gw_push_header {
	bool join;
	uint32_t nodes;
	uint32_t user_state_len;
};

struct gw_push_node {
	struct gw_bytes name;
	struct gw_bytes addr;		/* 4 or 16 bytes, or none */
	uint16_t port;
	struct gw_bytes meta;
	uint32_t incarnation;
	uint8_t state;			/* enum gw_node_state; memberlist
					   ignores other values, so do */
	uint8_t vsn[GW_VSN_LEN];
};

/* A push/pull message after its type byte: header, nodes, user state.
 * gw_push_decode checks the whole message (every node state, the user
 * state's length exactly to the end of buf), fills hdr and user_state
 * (p == NULL when empty) and sets rd at the first node state;
 * gw_push_next_node then walks them one at a time so a reply with many
 * nodes needs no array: 0 with a node, -LE_NOTFOUND after the last. */
struct gw_push_reader {
	const uint8_t *p, *end;
	uint32_t left;			/* node states not yet read */
};
int gw_push_decode(const uint8_t *buf, size_t len, struct gw_push_header *hdr,
    struct gw_push_reader *rd, struct gw_bytes *user_state, const char **why);
int gw_push_next_node(struct gw_push_reader *rd, struct gw_push_node *n,
    const char **why);
/* Append [6][header][nodes...][user_state] to out. */
int gw_push_encode(struct gw_buf *out, bool join, const struct gw_push_node *nodes,
    uint32_t n, struct gw_bytes user_state);

/* A reliable user message on a stream: [8][{UserMsgLen}][bytes] (§7.2).
 * Decode takes the bytes after the [8]. */
int gw_stream_user_decode(const uint8_t *buf, size_t len, struct gw_bytes *msg,
    const char **why);
int gw_stream_user_encode(struct gw_buf *out, const uint8_t *msg, size_t len);

/* --- framing (§6) -------------------------------------------------------- */

/* Compound: [7][n][n x u16 BE len][msgs]. gw_compound_encode packs parts
 * (each a complete [type][body]) and fails with -LE_INVAL past 255 parts
 * or a part over 65535 bytes. gw_compound_split takes the bytes after the
 * [7], fills parts[] (-LE_TOOBIG if more than max) and sets *n;
 * *truncated counts parts whose bytes ran out (they are dropped and the
 * complete ones kept, as memberlist does). Bytes after the last part are
 * -LE_MALFORMED. */
int gw_compound_encode(struct gw_buf *out, const struct gw_bytes *parts,
    unsigned n);
int gw_compound_split(const uint8_t *buf, size_t len, struct gw_bytes *parts,
    unsigned max, unsigned *n, unsigned *truncated, const char **why);

/* Compression: [9][{Algo: 0, Buf: LZW}] with Go's compress/lzw, LSB first,
 * 8-bit literals (§6.2). Decompression is capped at max_out bytes. */
int gw_lzw_compress(const uint8_t *in, size_t len, struct gw_buf *out);
int gw_lzw_decompress(const uint8_t *in, size_t len, size_t max_out,
    struct gw_buf *out, const char **why);
int gw_compress_wrap(struct gw_buf *out, const uint8_t *msg, size_t len);
int gw_compress_unwrap(const uint8_t *buf, size_t len, size_t max_out,
    struct gw_buf *out, const char **why);

/* CRC: [12][CRC-32 IEEE BE of the rest][rest] (§6.3). gw_crc32 is Go's
 * crc32.ChecksumIEEE. */
uint32_t gw_crc32(const uint8_t *p, size_t len);
int gw_crc_wrap(struct gw_buf *out, const uint8_t *msg, size_t len);

/* Label: [244][len 1..255][label] (§6.4). label_len 0 appends nothing (no
 * label, no header); over GW_LABEL_MAX is -LE_INVAL. */
#define GW_LABEL_MAX 255
int gw_label_wrap(struct gw_buf *out, const char *label, size_t label_len);

/* Encryption (§6.5): a keyring of AES-GCM keys (16, 24 or 32 bytes), the
 * first one primary. UDP envelope: [vsn][nonce 12][ct][tag 16] with AAD =
 * label; stream: [10][u32 BE len][envelope] with AAD = those 5 bytes +
 * label. Open tries every key and accepts envelope versions 0 (PKCS#7
 * padded) and 1; seal writes version 1. */
#define GW_KEYS_MAX 16
struct gw_keyring {
	unsigned n;
	uint8_t len[GW_KEYS_MAX];
	uint8_t key[GW_KEYS_MAX][32];
};
/* Install a key (zero-initialised ring: empty; the first key installed is
 * the primary): 0, also when it is already there (as memberlist's
 * AddKey); -LE_INVAL for a length other than 16, 24 or 32; -LE_TOOBIG
 * when GW_KEYS_MAX are installed. */
int gw_keyring_add(struct gw_keyring *kr, const uint8_t *key, size_t len);
/* Make an installed key the primary (UseKey), or remove one (RemoveKey;
 * the primary cannot be removed: -LE_STATE). -LE_NOTFOUND if absent. */
int gw_keyring_use(struct gw_keyring *kr, const uint8_t *key, size_t len);
int gw_keyring_remove(struct gw_keyring *kr, const uint8_t *key, size_t len);
/* Seal with the primary key and a fresh random nonce (getrandom(2)),
 * appending to out; -LE_INVAL with no key, -LE_IO without randomness.
 * Open appends the plaintext to out; refusals (reason in *why, the texts
 * of memberlist's decryptPayload): -LE_MALFORMED for an empty, too short
 * or unknown-version envelope, -LE_PERM "No installed keys could decrypt
 * the message", -LE_MALFORMED for bad PKCS#7 padding in version 0
 * (memberlist does not check it). gw_open_stream takes one complete frame
 * [10][len][envelope] and refuses lengths over GW_STREAM_MAX (-LE_TOOBIG)
 * and a frame that is not exactly that long. */
int gw_seal_udp(const struct gw_keyring *kr, const uint8_t *msg, size_t len,
    struct gw_bytes label, struct gw_buf *out);
int gw_open_udp(const struct gw_keyring *kr, const uint8_t *pkt, size_t len,
    struct gw_bytes label, struct gw_buf *out, const char **why);
int gw_seal_stream(const struct gw_keyring *kr, const uint8_t *msg, size_t len,
    struct gw_bytes label, struct gw_buf *out);
int gw_open_stream(const struct gw_keyring *kr, const uint8_t *frame,
    size_t len, struct gw_bytes label, struct gw_buf *out, const char **why);
/* One envelope [vsn][nonce][ct][tag] with the caller's key, version (0:
 * PKCS#7 padded, 1: not) and nonce, AAD = aad. FOR TESTS AND GOLDEN
 * VECTORS ONLY: traffic goes through gw_seal_udp / gw_seal_stream, which
 * draw a fresh nonce (a nonce used twice under one key breaks GCM). */
int gw_envelope_seal(const uint8_t *key, size_t key_len, uint8_t vsn,
    const uint8_t nonce[12], const uint8_t *msg, size_t len,
    const uint8_t *aad, size_t aad_len, struct gw_buf *out);

/* --- the layer stack (§1) ------------------------------------------------ */

/* A pool's security settings (Consul's encrypt, encrypt_verify_incoming,
 * encrypt_verify_outgoing; memberlist's Label and EnableCompression). The
 * keyring is borrowed for the call. */
struct gw_sec {
	const struct gw_keyring *kr;	/* NULL or n == 0: no encryption */
	bool verify_incoming, verify_outgoing;
	struct gw_bytes label;		/* len 0: none; at most GW_LABEL_MAX */
	bool compress;			/* EnableCompression */
};

/* Outgoing UDP. msg is one [type][body] or a compound. Appends to out,
 * outermost first: label, encryption (when kr has keys and
 * verify_outgoing; AAD = label), CRC (when crc is true: the peer's pmax >=
 * 5), compression (when sec->compress and it makes the packet smaller),
 * msg. -LE_INVAL for an empty msg, a bad label or a packet over
 * GW_UDP_MAX; out is left as it was on error. */
int gw_udp_seal(const struct gw_sec *sec, const uint8_t *msg, size_t len,
    bool crc, struct gw_buf *out);

/* Incoming UDP. In order: the label (a packet with a label we do not
 * have, or without ours: -LE_PERM "discarding packet with unacceptable
 * label"; a bad header: -LE_MALFORMED), decryption when we have keys
 * (every key tried; when none opens it, -LE_PERM/-LE_MALFORMED with
 * verify_incoming, else the packet is taken as plaintext and
 * stats->plaintext_fallback set), then recursively CRC [12] (checked;
 * mismatch counted in crc_bad and dropped), compression [9] (at most
 * GW_UDP_DECOMPRESS_MAX bytes decompressed over the whole packet: a Go
 * sender compresses only packets it built, under 64 KiB), compound [7]
 * (complete parts kept, truncated ones counted in truncated), and
 * each(arg, msg, len) for every plain message: types 0-6, 8, 11, 13
 * (memberlist drops push/pull and err on UDP; the caller decides). msg
 * points into pkt or into a scratch buffer valid during the call only.
 *
 * Returns 0 when the packet was accepted. A failure on the packet's own
 * chain of layers (anything not inside a compound part: label,
 * decryption, bad CRC, bad compression, bad compound header, unknown
 * type, nesting past GW_UDP_DEPTH_MAX, an empty packet or one over
 * GW_UDP_MAX) returns a negative LE_ code with *why naming it, and no
 * message was delivered. A compound part that fails the same way is
 * dropped and counted in stats->dropped (last reason in drop_why) while
 * the other parts are still delivered, as memberlist handles compounds.
 * each returns 0 to go on; a negative value stops the walk and is
 * returned. stats may be NULL. */
#define GW_UDP_DECOMPRESS_MAX	(1u << 20)
#define GW_UDP_DEPTH_MAX	8
struct gw_udp_stats {
	unsigned truncated, crc_bad;
	bool decrypted, plaintext_fallback;
	unsigned dropped;		/* bad compound parts */
	const char *drop_why;		/* the last one's reason */
};
int gw_udp_open(const struct gw_sec *sec, const uint8_t *pkt, size_t len,
    int (*each)(void *arg, const uint8_t *msg, size_t len), void *arg,
    struct gw_udp_stats *stats, const char **why);

/* Streams (TCP). Seal one stream message ([type]...), appending to out:
 * the label header, then compression ALWAYS when sec->compress, then
 * encryption [10][u32 len][envelope] (AAD = those 5 bytes + label) when
 * kr has keys and verify_outgoing. The label header goes only at the start
 * of a connection we dial: gw_stream_seal_reply seals an answer on a
 * connection we accepted, with no header but the label still in the AAD,
 * as upstream memberlist answers. -LE_INVAL for an empty message, a bad
 * label or an encrypted frame over GW_STREAM_MAX. */
int gw_stream_seal(const struct gw_sec *sec, const uint8_t *msg, size_t len,
    struct gw_buf *out);
int gw_stream_seal_reply(const struct gw_sec *sec, const uint8_t *msg,
    size_t len, struct gw_buf *out);

/* Open one complete stream unit (gw_stream_msg_len said where it ends)
 * down to the plain message, appended to plain: label check (as above,
 * "discarding stream with unacceptable label"), [10] decryption (with
 * keys, an unencrypted stream is refused "Encryption is configured but
 * remote state is not encrypted" unless verify_incoming is false; without
 * keys an encrypted one "Remote state is encrypted and encryption is not
 * configured", both -LE_PERM; a wrong key "No installed keys could decrypt
 * the message"; memberlist 0.2.2's texts), [9] decompression (at most
 * GW_DECOMPRESS_MAX as upstream), to a message starting with ping, ack,
 * err, user or push/pull (anything else, including a second [9] or [10],
 * is -LE_MALFORMED). gw_stream_open_reply opens the answer on a
 * connection we dialled: no label header (one is refused), the label
 * still in the AAD. plain is left as it was on error. */
int gw_stream_open(const struct gw_sec *sec, const uint8_t *buf, size_t len,
    struct gw_buf *plain, const char **why);
int gw_stream_open_reply(const struct gw_sec *sec, const uint8_t *buf,
    size_t len, struct gw_buf *plain, const char **why);

/* --- Serf messages (§10): a memberlist user message [8][serf type][body] */

enum gw_serf_type {
	GS_LEAVE = 0,
	GS_JOIN = 1,
	GS_PUSH_PULL = 2,
	GS_USER_EVENT = 3,
	GS_QUERY = 4,
	GS_QUERY_RESPONSE = 5,
	GS_CONFLICT_RESPONSE = 6,
	GS_KEY_REQUEST = 7,
	GS_KEY_RESPONSE = 8,
	GS_RELAY = 9,
};

struct gs_leave {
	uint64_t ltime;
	struct gw_bytes node;
	bool prune;
};

struct gs_join {
	uint64_t ltime;
	struct gw_bytes node;
};

struct gs_user_event {
	uint64_t ltime;
	struct gw_bytes name;
	struct gw_bytes payload;
	bool cc;
};

#define GS_QUERY_ACK		1u	/* Flags: ack requested */
#define GS_QUERY_NO_BROADCAST	2u
#define GS_FILTER_MAX		64
enum { GS_FILTER_NODE = 0, GS_FILTER_TAG = 1 };

struct gs_query {
	uint64_t ltime;
	uint32_t id;
	struct gw_bytes addr;
	uint16_t port;
	struct gw_bytes source_node;
	unsigned n_filters;
	struct gw_bytes filters[GS_FILTER_MAX];	/* [filter type][msgpack] */
	uint32_t flags;
	uint8_t relay_factor;
	int64_t timeout_ns;
	struct gw_bytes name;
	struct gw_bytes payload;
};

struct gs_query_response {
	uint64_t ltime;
	uint32_t id;
	struct gw_bytes from;
	uint32_t flags;			/* 1: this is an ack */
	struct gw_bytes payload;
};

/* Filters inside a query (each filters[i] decodes to one of these). */
#define GS_FILTER_NODES_MAX 256
struct gs_filter {
	int type;			/* GS_FILTER_NODE or GS_FILTER_TAG */
	unsigned n_nodes;
	struct gw_bytes nodes[GS_FILTER_NODES_MAX];
	struct gw_bytes tag, expr;
};
int gs_filter_decode(struct gw_bytes f, struct gs_filter *out, const char **why);
int gs_filter_encode(struct gw_buf *out, const struct gs_filter *f);

/* Relay: [9][{DestAddr: {IP, Port, Zone}, DestName}][inner serf msg]. */
struct gs_relay {
	struct gw_bytes dest_ip;
	uint16_t dest_port;
	struct gw_bytes dest_zone;
	struct gw_bytes dest_name;
	struct gw_bytes inner;		/* a complete [serf type][body] */
};

/* Serf's push/pull user state (type 2, §10.1, §10.7). gs_decode checks
 * the whole message; the lists are then walked with gs_push_next_* (the
 * reader state lives in *pp, so walk a copy to walk twice). */
#define GS_EVENT_BUFFER 512
#define GS_EVENT_MAX	9216	/* UserEventSizeLimit's hard cap: name or
				   payload longer than this is refused */
struct gs_push_pull {
	uint64_t ltime, event_ltime, query_ltime;
	unsigned n_left;
	const uint8_t *left_at;		/* LeftMembers */
	unsigned n_status;
	const uint8_t *status_at;	/* StatusLTimes {name: ltime} */
	unsigned n_events;
	const uint8_t *events_at;	/* Events: [nil or {Events, LTime}] */
	const uint8_t *end;
};
struct gs_status_ltime {
	struct gw_bytes name;
	uint64_t ltime;
};
struct gs_event {
	struct gw_bytes name, payload;
};
/* One slot of the event ring: the events seen at one Lamport time.
 * Encoding: ev[0..n) (n == 0: a nil slot, as Go sends empty ones).
 * Decoding: gs_push_next_events fills ltime and n, then
 * gs_slot_next_event walks the n events. */
struct gs_user_events {
	uint64_t ltime;
	unsigned n;
	const struct gs_event *ev;	/* encoding */
	const uint8_t *at, *end;	/* decoding */
};
struct gs_msg {
	enum gw_serf_type type;
	union {
		struct gs_leave leave;
		struct gs_join join;
		struct gs_user_event event;
		struct gs_query query;
		struct gs_query_response resp;
		struct gs_relay relay;
		struct gs_push_pull pp;
		struct gw_bytes raw;	/* conflict and key messages */
	} u;
};

/* Decode [serf type][body]. */
int gs_decode(const uint8_t *buf, size_t len, struct gs_msg *m,
    const char **why);
/* Append [serf type][body] (no memberlist [8] prefix). */
int gs_encode(struct gw_buf *out, const struct gs_msg *m);

/* Walk the push/pull's lists (each returns 1 with an item, 0 at the end,
 * or a negative error). *i counts the items read (start at 0). Nil slots
 * of the event ring are skipped. */
int gs_push_next_left(struct gs_push_pull *pp, unsigned *i,
    struct gw_bytes *name, const char **why);
int gs_push_next_status(struct gs_push_pull *pp, unsigned *i,
    struct gs_status_ltime *st, const char **why);
int gs_push_next_events(struct gs_push_pull *pp, unsigned *i,
    struct gs_user_events *evs, const char **why);
int gs_slot_next_event(struct gs_user_events *evs, struct gs_event *ev,
    const char **why);
/* Encoding a push/pull takes plain arrays (a [2] type byte first). */
int gs_push_encode(struct gw_buf *out, uint64_t ltime, uint64_t event_ltime,
    uint64_t query_ltime, const struct gs_status_ltime *status, unsigned n_status,
    const struct gw_bytes *left, unsigned n_left,
    const struct gs_user_events *events, unsigned n_events);

/* A Serf Member (the answer to _serf_conflict, type 6): m == NULL
 * encodes Go's nil pointer. */
struct gs_member {
	struct gw_bytes name;
	struct gw_bytes addr;		/* 4 or 16 bytes */
	uint16_t port;
	const struct gw_bytes *tag_keys, *tag_vals;
	unsigned n_tags;
	int64_t status;
	uint8_t vsn[GW_VSN_LEN];	/* ProtocolMin..DelegateCur */
};
int gs_conflict_encode(struct gw_buf *out, const struct gs_member *m);

/* Key rotation (the _serf_*-key queries): the request payload is
 * [7][{Key}] with the raw key; each node answers [8][{Keys, Message,
 * PrimaryKey, Result}] with keys in standard base64. Decoders take the
 * whole payload, type byte included. */
#define GS_KEYS_MAX 256
struct gs_key_response {
	bool result;
	struct gw_bytes message;
	unsigned n_keys;		/* 0 with keys_nil: Go's nil slice */
	bool keys_nil;
	struct gw_bytes keys[GS_KEYS_MAX];
	struct gw_bytes primary;
};
int gs_key_request_encode(struct gw_buf *out, struct gw_bytes key);
int gs_key_request_decode(struct gw_bytes payload, struct gw_bytes *key,
    const char **why);
int gs_key_response_encode(struct gw_buf *out, const struct gs_key_response *r);
int gs_key_response_decode(struct gw_bytes payload, struct gs_key_response *r,
    const char **why);

/* Tags in Meta: [0xFF][msgpack map str->str] (§10.2); a Meta without the
 * 0xFF prefix is a bare role. Decoding calls each(key, value) per tag. */
int gs_tags_encode(struct gw_buf *out, const struct gw_bytes *keys,
    const struct gw_bytes *vals, unsigned n);
int gs_tags_decode(struct gw_bytes meta,
    int (*each)(void *arg, struct gw_bytes key, struct gw_bytes val),
    void *arg, const char **why);

#endif
