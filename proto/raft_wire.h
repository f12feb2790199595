/* raft_wire.h: messages between servers' raftds over the network (the
 * server RPC port). Unlike the IPC messages in proto.h, these come from
 * other machines: every decoder validates everything and never trusts a
 * count or a length; a bad message is an error for the caller to count
 * and drop. A message is one msgpack array:
 *   [RAFT_WIRE_VERSION, type, from_id, ...fields of the type]
 *
 * Ownership: decoded strings, bins and entry arrays borrow from the
 * proto_obj they were decoded from. */
#ifndef LICTOR_RAFT_WIRE_H
#define LICTOR_RAFT_WIRE_H

#include "proto.h"

#define RAFT_WIRE_VERSION 1
#define RW_MAX_KNOWN 64
#define RW_ADDR_MAX 255
#define RW_TEXT_MAX 1024

enum rw_type {
	RW_RAFT = 1,		/* a Raft core message */
	RW_HELLO = 2,		/* discovery: who I am, whom I know */
	RW_FWD_PROPOSE = 3,	/* follower -> leader: append this command */
	RW_FWD_PROPOSE_REPLY = 4,
	RW_FWD_READ = 5,	/* follower -> leader: a read index, please */
	RW_FWD_READ_REPLY = 6,
	RW_FWD_OP = 7,		/* membership operations for the leader */
	RW_FWD_OP_REPLY = 8,
	RW_SNAP_CHUNK = 9,	/* a piece of an InstallSnapshot too big
				   for one message */
	RW_KV_FWD = 10,		/* a client agent -> a server: a request
				   for the server's kvd */
	RW_KV_FWD_REPLY = 11,
};

/* One piece of a snapshot: the receiver gathers the pieces of (from,
 * index, snap_term) in order and steps the whole InstallSnapshot once
 * offset + len reaches total. conf rides on every piece (it is small). */
#define RW_SNAP_CHUNK_MAX (4u << 20)
#define RW_SNAP_TOTAL_MAX (UINT64_C(1) << 30)	/* 1 GiB */
struct rw_snap_chunk {
	uint64_t to, term, round, index, snap_term, offset, total;
	const void *conf;
	size_t conf_len;
	const void *data;
	size_t data_len;
};

/* A Raft core message, flattened: a[] carries the type's numbers (see
 * raftd/wire.c for the mapping), blob the snapshot's configuration,
 * entries (APPEND) or data (SNAPSHOT) the payload. */
struct rw_raft {
	uint32_t mtype;
	uint64_t to;
	uint64_t term;
	uint64_t a[6];
	const void *blob;
	size_t blob_len;
	uint32_t n_entries;
	const msgpack_object *entries; /* msg_raft_entry_dec each */
	const void *data;
	size_t data_len;
};

struct rw_server {
	const char *uuid;
	size_t uuid_len;
	const char *node;
	size_t node_len;
	const char *addr;
	size_t addr_len;
	uint64_t expect;	/* its -bootstrap-expect (0: none) */
	bool has_state;		/* it holds a Raft log or snapshot */
};

struct rw_hello {
	const char *dc;
	size_t dc_len;
	struct rw_server self;
	uint32_t n_known;
	struct rw_server known[RW_MAX_KNOWN];
};

/* FWD_*: req_id pairs a reply with its request; reply_addr is where the
 * reply goes. */
struct rw_fwd {
	uint64_t req_id;
	const char *reply_addr;
	size_t reply_addr_len;
	uint64_t num;		/* FWD_READ: consistency; FWD_OP: op */
	const void *data;	/* FWD_PROPOSE: the command; FWD_OP: its arg */
	size_t data_len;
};

struct rw_fwd_reply {
	uint64_t req_id;
	int32_t code;
	uint64_t index;
	const char *text;
	size_t text_len;
};

/* KV_FWD: a kvd request (kv.read, kv.write, catalog.*) from a client
 * agent, its type and payload as httpd wrote them; the decoder checks the
 * payload as kvd will (kv_fwd_check). timeout_ms bounds the server's call
 * to its kvd (1..KV_FWD_TIMEOUT_MAX). */
struct rw_kv_fwd {
	uint64_t req_id;
	const char *reply_addr;
	size_t reply_addr_len;
	uint32_t mtype;
	const void *payload;
	size_t payload_len;
	uint64_t timeout_ms;
};

/* KV_FWD_REPLY: code 0 with the server kvd's reply (mtype has
 * PROTO_REPLY set; payload checked as httpd will read it), or a negative
 * code with text and neither: -LE_UNAVAIL says the request did not reach
 * a kvd (the client may try another server); anything else, that its
 * outcome is unknown. */
struct rw_kv_fwd_reply {
	uint64_t req_id;
	int32_t code;
	const char *text;
	size_t text_len;
	uint32_t mtype;
	const void *payload;
	size_t payload_len;
};

struct rw_msg {
	uint32_t type;
	uint64_t from;
	union {
		struct rw_raft raft;
		struct rw_hello hello;
		struct rw_fwd fwd;
		struct rw_fwd_reply reply;
		struct rw_snap_chunk chunk;
		struct rw_kv_fwd kv_fwd;
		struct rw_kv_fwd_reply kv_reply;
	} u;
};

/* Decodes buf into m, borrowing from *o (freed by the caller with
 * proto_obj_free even on failure). */
int rw_decode(const void *buf, size_t len, struct proto_obj *o,
    struct rw_msg *m, struct lerr *e);

/* Encoders write one whole message. entries are written by the caller
 * after rw_raft_begin when n_entries > 0 (msg_raft_entry_enc each). */
void rw_raft_begin(struct mpw *w, uint64_t from, const struct rw_raft *r);
void rw_hello_enc(struct mpw *w, uint64_t from, const struct rw_hello *h);
void rw_fwd_enc(struct mpw *w, uint32_t type, uint64_t from,
    const struct rw_fwd *f);
void rw_fwd_reply_enc(struct mpw *w, uint32_t type, uint64_t from,
    const struct rw_fwd_reply *r);
void rw_snap_chunk_enc(struct mpw *w, uint64_t from,
    const struct rw_snap_chunk *c);
void rw_kv_fwd_enc(struct mpw *w, uint64_t from, const struct rw_kv_fwd *f);
void rw_kv_fwd_reply_enc(struct mpw *w, uint64_t from,
    const struct rw_kv_fwd_reply *r);

#endif
