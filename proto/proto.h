/* proto.h: lictor's inter-process messages. nng frames every message, so
 * there is no length prefix here: a message is one msgpack array, the
 * envelope [proto_version, type, request_id, sender_boot_id, payload].
 * Each message type's payload has an encoder and a decoder side by side
 * (kv_msgs.c, admin_msgs.c, ctl_msgs.c). Decoders check array lengths,
 * element types, string/bin lengths against maxima, counts before any
 * allocation, and that nothing is left over.
 *
 * Ownership: a decoded struct borrows strings and bins from the
 * proto_msg it came from; they stay valid until proto_msg_free(). */
#ifndef LICTOR_PROTO_H
#define LICTOR_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "mp.h"

/* Bump whenever msgs.def or any payload layout changes. */
#define PROTO_VERSION 1

/* Largest message any daemon accepts (set as NNG_OPT_RECVMAXSZ too). */
#define PROTO_MAX_MSG (64u << 20)

enum proto_type {
#define X(name, value, str) name = value,
#include "msgs.def"
#undef X
};

#define PROTO_REPLY 0x8000u
const char *proto_type_name(uint32_t type); /* "kv.read", "kv.read.reply" */
bool proto_type_known(uint32_t type);

struct proto_msg {
	msgpack_unpacked up; /* owns every borrowed pointer */
	uint32_t version;
	uint32_t type;
	uint64_t req_id;
	uint64_t boot_id;
	const msgpack_object *payload;
};

/* Decodes and validates the envelope. On error nothing is left to free
 * and e->msg says what was wrong. -LE_VERSION for a version mismatch. */
int proto_decode(const void *buf, size_t len, struct proto_msg *m,
    struct lerr *e);
void proto_msg_free(struct proto_msg *m);
/* Writes the envelope header; the caller then writes exactly one payload
 * object. */
void proto_begin(struct mpw *w, uint32_t type, uint64_t req_id,
    uint64_t boot_id);

/* ---- generic error reply (MSG_ERROR), and every reply's status ---- */
struct msg_error {
	int32_t code;	   /* negative lerr code */
	const char *text;
	size_t text_len;
};
void msg_error_enc(struct mpw *w, const struct msg_error *in);
int msg_error_dec(const struct proto_msg *m, struct msg_error *out,
    struct lerr *e);

/* ---- admin (any -> a daemon's admin socket) ---- */
/* Request payload for every MSG_ADMIN_*: [arg] (str; may be empty). */
struct msg_admin_req {
	const char *arg;
	size_t arg_len;
};
void msg_admin_req_enc(struct mpw *w, const struct msg_admin_req *in);
int msg_admin_req_dec(const struct proto_msg *m, struct msg_admin_req *out,
    struct lerr *e);
/* Reply payload: [code, text]. */
struct msg_admin_reply {
	int32_t code;
	const char *text;
	size_t text_len;
};
void msg_admin_reply_enc(struct mpw *w, const struct msg_admin_reply *in);
int msg_admin_reply_dec(const struct proto_msg *m,
    struct msg_admin_reply *out, struct lerr *e);

/* ---- ctl (lictor ctl -> init) ---- */
/* Requests reuse msg_admin_req (arg = daemon name for restart). */
#define CTL_MAX_DAEMONS 16
struct msg_ctl_daemon {
	const char *name;
	size_t name_len;
	int64_t pid;	      /* 0 when not running */
	const char *state;    /* "starting", "running", "backoff", ... */
	size_t state_len;
	uint64_t uptime_ms;
	uint64_t restarts;
	int64_t last_exit;    /* wait status summary: exit code or -signal */
};
struct msg_ctl_status_reply {
	int32_t code;
	const char *text;
	size_t text_len;
	uint32_t n;
	struct msg_ctl_daemon d[CTL_MAX_DAEMONS];
};
void msg_ctl_status_reply_enc(struct mpw *w,
    const struct msg_ctl_status_reply *in);
int msg_ctl_status_reply_dec(const struct proto_msg *m,
    struct msg_ctl_status_reply *out, struct lerr *e);

/* ---- kv (httpd -> kvd) ---- */
#define KV_MAX_KEY_WIRE 4096
#define KV_MAX_VALUE_WIRE (16u << 20)

enum kv_read_mode {
	KVR_GET = 1,	 /* one key */
	KVR_RECURSE = 2, /* every entry under the prefix */
	KVR_KEYS = 3,	 /* key names under the prefix, rolled up at sep */
};
enum consistency {
	CONS_DEFAULT = 0,
	CONS_STALE = 1,
	CONS_CONSISTENT = 2,
};
struct msg_kv_read {
	uint32_t mode;
	const char *key;
	size_t key_len;
	const char *sep; /* NULL: no separator */
	size_t sep_len;
	uint64_t min_index; /* block until index > min_index; 0 = no */
	uint64_t wait_ms;   /* with min_index */
	uint32_t consistency;
};
void msg_kv_read_enc(struct mpw *w, const struct msg_kv_read *in);
int msg_kv_read_dec(const struct proto_msg *m, struct msg_kv_read *out,
    struct lerr *e);

/* Reply header; items follow as an array of entries (RECURSE, GET) or
 * of key strings (KEYS). */
struct msg_kv_read_reply {
	int32_t code; /* 0, -LE_NOTFOUND, or an error */
	const char *text;
	size_t text_len;
	uint64_t index;
	bool known_leader;
	uint64_t last_contact_ms;
	uint32_t n_items;
	const msgpack_object *items; /* decoded side only */
};
struct msg_kv_entry {
	const char *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	uint64_t create_index;
	uint64_t modify_index;
	uint64_t lock_index;
	uint64_t flags;
	const char *session; /* NULL: unlocked */
	size_t session_len;
};
/* Encoding: header, then n_items entries (msg_kv_entry_enc) or keys
 * (mpw_str) written by the caller. */
void msg_kv_read_reply_begin(struct mpw *w,
    const struct msg_kv_read_reply *in);
void msg_kv_entry_enc(struct mpw *w, const struct msg_kv_entry *in);
int msg_kv_read_reply_dec(const struct proto_msg *m,
    struct msg_kv_read_reply *out, struct lerr *e);
int msg_kv_entry_dec(const msgpack_object *o, struct msg_kv_entry *out);
int msg_kv_key_dec(const msgpack_object *o, const char **key,
    size_t *len);

/* KV write operations (kvd's enum kv_op has the same values). */
enum kv_write_op {
	KVW_SET = 1,
	KVW_CAS = 2,
	KVW_DELETE = 3,
	KVW_DELETE_CAS = 4,
	KVW_DELETE_TREE = 5,
	KVW_TOMBSTONE_REAP = 6,
};
struct msg_kv_write {
	uint32_t op; /* enum kv_write_op */
	const char *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	uint64_t flags;
	uint64_t index;
	const char *session;
	size_t session_len;
};
void msg_kv_write_enc(struct mpw *w, const struct msg_kv_write *in);
int msg_kv_write_dec(const struct proto_msg *m, struct msg_kv_write *out,
    struct lerr *e);
struct msg_kv_write_reply {
	int32_t code;
	const char *text;
	size_t text_len;
	bool result;
	uint64_t index;
};
void msg_kv_write_reply_enc(struct mpw *w,
    const struct msg_kv_write_reply *in);
int msg_kv_write_reply_dec(const struct proto_msg *m,
    struct msg_kv_write_reply *out, struct lerr *e);

/* kv.status: [] -> [code, text, applied index, known_leader, leader addr] */
struct msg_kv_status_reply {
	int32_t code;
	const char *text;
	size_t text_len;
	uint64_t applied;
	bool known_leader;
	const char *leader;
	size_t leader_len;
};
void msg_kv_status_reply_enc(struct mpw *w,
    const struct msg_kv_status_reply *in);
int msg_kv_status_reply_dec(const struct proto_msg *m,
    struct msg_kv_status_reply *out, struct lerr *e);

#endif
