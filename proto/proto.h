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
#define PROTO_VERSION 6

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

/* A standalone msgpack object (a Raft entry's bytes, a snapshot record),
 * checked like an envelope: prescan, one object, no trailing bytes. */
struct proto_obj {
	msgpack_unpacked up;
	const msgpack_object *root;
};
int proto_obj_decode(const void *buf, size_t len, struct proto_obj *o,
    struct lerr *e);
void proto_obj_free(struct proto_obj *o);

/* ---- generic error reply (MSG_ERROR), and every reply's status ---- */
struct msg_error {
	int32_t code;	   /* negative lerr code */
	const char *text;
	size_t text_len;
};
void msg_error_enc(struct mpw *w, const struct msg_error *in);
int msg_error_dec(const struct proto_msg *m, struct msg_error *out,
    struct lerr *e);

/* ---- MSG_IPC_CANCEL (any client -> the server it called) ---- */
/* The caller no longer waits for its request req_id (on the same
 * connection): [req_id]. ipc.c answers it itself; the reply's payload is
 * [found] (bool: a parked request was cancelled). */
struct msg_ipc_cancel {
	uint64_t req_id;
};
void msg_ipc_cancel_enc(struct mpw *w, const struct msg_ipc_cancel *in);
int msg_ipc_cancel_dec(const struct proto_msg *m, struct msg_ipc_cancel *out,
    struct lerr *e);
void msg_ipc_cancel_reply_enc(struct mpw *w, bool found);
int msg_ipc_cancel_reply_dec(const struct proto_msg *m, bool *found,
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

/* kv.snapshot (raftd -> kvd): [path] -> [code, text, index]. kvd writes
 * its whole state, as of its applied index, to path (atomically). */
struct msg_kv_snapshot {
	const char *path;
	size_t path_len;
};
void msg_kv_snapshot_enc(struct mpw *w, const struct msg_kv_snapshot *in);
int msg_kv_snapshot_dec(const struct proto_msg *m,
    struct msg_kv_snapshot *out, struct lerr *e);
/* The reply is msg_raft_index_reply (below). */

/* ---- catalog (httpd -> kvd; catalog_msgs.c) ----
 * The catalog's records travel and rest in one encoding: kvd stores a
 * node or check exactly as msg_cat_node_enc / msg_cat_check_enc write it
 * (with its indexes), so a read copies stored bytes into the reply. String
 * maps (TaggedAddresses, Meta) are nil or a flat [k, v, k, v...] array in
 * key order; string lists (ServiceTags) are nil or an array: nil and empty
 * stay distinct, as Go's nil and empty maps do in Consul. */
#define CAT_NAME_MAX 1024	/* node names, check and service IDs */
#define CAT_ID_MAX 128		/* node IDs */
#define CAT_ADDR_MAX 1024	/* addresses */
#define CAT_SHORT_MAX 256	/* statuses, types, durations, datacenters */
#define CAT_TEXT_MAX (1u << 20)	/* notes, output, a definition's JSON */
#define CAT_MAP_MAX 1024	/* entries of a map, items of a list */
#define CAT_CHECKS_MAX 1024	/* checks in one registration */

struct msg_cat_strmap {
	bool present;		/* false: nil */
	uint32_t n;
	/* encoding: */
	const char *const *keys;
	const size_t *klens;
	const char *const *vals;
	const size_t *vlens;
	/* decoding: 2n strings (checked by the decoder) */
	const msgpack_object *items;
};
/* Entry i of either side; the encoders take either side too. */
void msg_cat_strmap_at(const struct msg_cat_strmap *m, uint32_t i,
    const char **k, size_t *klen, const char **v, size_t *vlen);

struct msg_cat_strlist {
	bool present;		/* false: nil */
	uint32_t n;
	const char *const *s;	/* encoding */
	const size_t *lens;
	const msgpack_object *items;	/* decoding */
};
void msg_cat_strlist_at(const struct msg_cat_strlist *l, uint32_t i,
    const char **s, size_t *len);

/* A node: [id, node, address, datacenter, tagged, meta, create, modify] */
struct msg_cat_node {
	const char *id;		/* "" when the node has none */
	size_t id_len;
	const char *node;
	size_t node_len;
	const char *address;
	size_t address_len;
	const char *dc;
	size_t dc_len;
	struct msg_cat_strmap tagged;
	struct msg_cat_strmap meta;
	uint64_t create_index;
	uint64_t modify_index;
};
void msg_cat_node_enc(struct mpw *w, const struct msg_cat_node *in);
int msg_cat_node_dec(const msgpack_object *o, struct msg_cat_node *out);

/* A check: [node, check_id, name, status, notes, output, service_id,
 * service_name, service_tags, type, interval, timeout, exposed_port,
 * definition, create, modify]; definition is the JSON object Consul
 * renders ("{}" when empty), kept as text. */
struct msg_cat_check {
	const char *node;
	size_t node_len;
	const char *check_id;
	size_t check_id_len;
	const char *name;
	size_t name_len;
	const char *status;
	size_t status_len;
	const char *notes;
	size_t notes_len;
	const char *output;
	size_t output_len;
	const char *service_id;
	size_t service_id_len;
	const char *service_name;
	size_t service_name_len;
	struct msg_cat_strlist service_tags;
	const char *type;
	size_t type_len;
	const char *interval;
	size_t interval_len;
	const char *timeout;
	size_t timeout_len;
	int64_t exposed_port;
	const char *definition;
	size_t definition_len;
	uint64_t create_index;
	uint64_t modify_index;
};
void msg_cat_check_enc(struct mpw *w, const struct msg_cat_check *in);
int msg_cat_check_dec(const msgpack_object *o, struct msg_cat_check *out);

/* catalog.register and the SMC_CATALOG_REGISTER command:
 * [node, skip_node_update, [check...]]. Consul's RegisterRequest after its
 * server endpoint's defaults (a check's Node and CheckID filled in); the
 * node's indexes are 0. */
struct msg_cat_register {
	struct msg_cat_node node;
	bool skip_node_update;
	uint32_t n_checks;
	const struct msg_cat_check *checks;	/* encoding */
	const msgpack_object *check_items;	/* decoding */
};
void msg_cat_register_enc(struct mpw *w, const struct msg_cat_register *in);
int msg_cat_register_dec(const struct proto_msg *m,
    struct msg_cat_register *out, struct lerr *e);
int msg_cat_register_dec_obj(const msgpack_object *o,
    struct msg_cat_register *out, struct lerr *e);
/* Check i of a decoded registration (checked by the decoder). */
void msg_cat_register_check(const struct msg_cat_register *r, uint32_t i,
    struct msg_cat_check *out);

/* catalog.deregister and SMC_CATALOG_DEREGISTER: [node, service_id,
 * check_id] ("" when absent). A service ID wins over a check ID; neither
 * removes the whole node, as in Consul's FSM. */
struct msg_cat_deregister {
	const char *node;
	size_t node_len;
	const char *service_id;
	size_t service_id_len;
	const char *check_id;
	size_t check_id_len;
};
void msg_cat_deregister_enc(struct mpw *w,
    const struct msg_cat_deregister *in);
int msg_cat_deregister_dec(const struct proto_msg *m,
    struct msg_cat_deregister *out, struct lerr *e);
int msg_cat_deregister_dec_obj(const msgpack_object *o,
    struct msg_cat_deregister *out, struct lerr *e);
/* Both writes are answered with msg_kv_write_reply (result unused). */

/* catalog.read: [what, node, filter, min_index, wait_ms, consistency];
 * filter is node-meta (a string map; nil: none). Answered with the
 * kv.read reply layout (msg_kv_read_reply): items are node records (all
 * nodes, or the one node: none when it is unknown) or check records. */
enum cat_read_what {
	CATR_NODES = 1,		/* /v1/catalog/nodes */
	CATR_NODE = 2,		/* /v1/catalog/node/<node> */
	CATR_NODE_CHECKS = 3,	/* /v1/health/node/<node> */
};
struct msg_cat_read {
	uint32_t what;
	const char *node;
	size_t node_len;
	struct msg_cat_strmap filter;
	uint64_t min_index;
	uint64_t wait_ms;
	uint32_t consistency;
};
void msg_cat_read_enc(struct mpw *w, const struct msg_cat_read *in);
int msg_cat_read_dec(const struct proto_msg *m, struct msg_cat_read *out,
    struct lerr *e);

/* ---- state machine commands: the bytes of a Raft entry ----
 * [type, origin, seq, payload]. origin is the boot id of the kvd that
 * proposed it (0 for internal commands such as tombstone reaping) and seq
 * its sequence there, so that kvd recognises its own commands as they are
 * applied and answers the client that sent them with their result. */
enum sm_cmd_type {
	SMC_KV = 1,			/* payload: a msg_kv_write */
	SMC_CATALOG_REGISTER = 2,	/* payload: a msg_cat_register */
	SMC_CATALOG_DEREGISTER = 3,	/* payload: a msg_cat_deregister */
};
struct msg_sm_cmd {
	uint32_t type;
	uint64_t origin;
	uint64_t seq;
	struct msg_kv_write kv;			/* SMC_KV */
	struct msg_cat_register reg;		/* SMC_CATALOG_REGISTER */
	struct msg_cat_deregister dereg;	/* SMC_CATALOG_DEREGISTER */
};
void msg_sm_cmd_enc(struct mpw *w, const struct msg_sm_cmd *in);
int msg_sm_cmd_dec(const msgpack_object *o, struct msg_sm_cmd *out,
    struct lerr *e);

/* ---- raft (kvd, httpd -> raftd) ---- */
#define RAFT_ENTRY_MAX (KV_MAX_VALUE_WIRE + 65536)
#define RAFT_PATH_MAX 1024

/* raft.propose: [data] -> msg_raft_index_reply once the last entry of
 * the batch committed (index = its index). data is a batch: a msgpack
 * array of 1..RAFT_BATCH_MAX bins, each a state machine command that
 * becomes one Raft entry. raftd forwards the batch to the leader as is. */
#define RAFT_BATCH_MAX 4096
struct msg_raft_propose {
	const void *data;
	size_t data_len;
};
void msg_raft_propose_enc(struct mpw *w, const struct msg_raft_propose *in);
int msg_raft_propose_dec(const struct proto_msg *m,
    struct msg_raft_propose *out, struct lerr *e);
/* Opens a batch: *n commands, read with msg_raft_batch_item. */
int msg_raft_batch_open(const void *buf, size_t len, struct proto_obj *o,
    uint32_t *n, struct lerr *e);
int msg_raft_batch_item(const struct proto_obj *o, uint32_t i,
    const void **data, size_t *len);

/* The reply of propose, read_index and kv.snapshot:
 * [code, text, index, known_leader, last_contact_ms]. */
struct msg_raft_index_reply {
	int32_t code;
	const char *text;
	size_t text_len;
	uint64_t index;
	bool known_leader;
	uint64_t last_contact_ms;
};
void msg_raft_index_reply_enc(struct mpw *w,
    const struct msg_raft_index_reply *in);
int msg_raft_index_reply_dec(const struct proto_msg *m,
    struct msg_raft_index_reply *out, struct lerr *e);

/* raft.read_index: [consistency] -> msg_raft_index_reply: the index kvd
 * must have applied before it answers a read in that mode. */
struct msg_raft_read_index {
	uint32_t consistency;
};
void msg_raft_read_index_enc(struct mpw *w,
    const struct msg_raft_read_index *in);
int msg_raft_read_index_dec(const struct proto_msg *m,
    struct msg_raft_read_index *out, struct lerr *e);

/* raft.fetch: [from, max_bytes, wait_ms]: committed entries from index
 * `from` on, at most max_bytes of data (at least one entry), waiting up
 * to wait_ms for one to commit. kvd asks from its applied index + 1, so
 * every entry is applied once, in order, across restarts of either side.
 * Reply: [code, text, commit, known_leader, last_contact_ms, lease_until,
 * snap_index, snap_path, entries]: code -LE_SNAPSHOT when `from` is
 * compacted away (kvd then loads the snapshot at snap_path, taken at
 * snap_index); entries are [index, term, type, data]. lease_until > 0
 * says this server leads under a lease: kvd may answer default reads from
 * its own state until that time (CLOCK_MONOTONIC ms, the one clock both
 * daemons on a host share: no transit or queueing time stretches it).
 * raftd also answers a parked fetch early when leadership or the lease
 * moves. */
struct msg_raft_fetch {
	uint64_t from;
	uint64_t max_bytes;
	uint64_t wait_ms;
};
void msg_raft_fetch_enc(struct mpw *w, const struct msg_raft_fetch *in);
int msg_raft_fetch_dec(const struct proto_msg *m, struct msg_raft_fetch *out,
    struct lerr *e);
enum msg_raft_entry_type {
	RAFT_ENT_COMMAND = 1,
	RAFT_ENT_CONFIG = 2,
	RAFT_ENT_NOOP = 3,
};
struct msg_raft_entry {
	uint64_t index;
	uint64_t term;
	uint32_t type;
	const void *data;
	size_t data_len;
};
struct msg_raft_fetch_reply {
	int32_t code;
	const char *text;
	size_t text_len;
	uint64_t commit;
	bool known_leader;
	uint64_t last_contact_ms;
	uint64_t lease_until_ms;
	uint64_t snap_index;
	const char *snap_path;
	size_t snap_path_len;
	uint32_t n_entries;
	const msgpack_object *entries; /* decoded side only */
};
/* Encoding: header, then n_entries msg_raft_entry_enc by the caller. */
void msg_raft_fetch_reply_begin(struct mpw *w,
    const struct msg_raft_fetch_reply *in);
void msg_raft_entry_enc(struct mpw *w, const struct msg_raft_entry *in);
int msg_raft_fetch_reply_dec(const struct proto_msg *m,
    struct msg_raft_fetch_reply *out, struct lerr *e);
int msg_raft_entry_dec(const msgpack_object *o, struct msg_raft_entry *out);

/* raft.status: [] -> [code, text, state, term, leader_id, leader_addr,
 * commit, applied, last_index, known_leader, last_contact_ms, servers]
 * with servers [id, node, address, voter, last_index] (a follower's
 * last_index as the leader knows it; 0 when this server does not). */
#define RAFT_STATUS_MAX_SERVERS 64
struct msg_raft_server {
	const char *id;
	size_t id_len;
	const char *node;
	size_t node_len;
	const char *address;
	size_t address_len;
	bool voter;
	uint64_t last_index;
};
struct msg_raft_status_reply {
	int32_t code;
	const char *text;
	size_t text_len;
	const char *state; /* "leader", "follower", "candidate", ... */
	size_t state_len;
	uint64_t term;
	const char *leader_id;
	size_t leader_id_len;
	const char *leader_addr;
	size_t leader_addr_len;
	uint64_t commit;
	uint64_t applied;
	uint64_t last_index;
	bool known_leader;
	uint64_t last_contact_ms;
	uint32_t n_servers;
	struct msg_raft_server servers[RAFT_STATUS_MAX_SERVERS];
};
void msg_raft_status_reply_enc(struct mpw *w,
    const struct msg_raft_status_reply *in);
int msg_raft_status_reply_dec(const struct proto_msg *m,
    struct msg_raft_status_reply *out, struct lerr *e);

/* raft.operator: [op, arg] -> msg_admin_reply. ops: remove-peer (arg: an
 * address or id), leave (this server leaves the configuration), join
 * (arg: an address to join), transfer-leader (arg: id or empty). */
enum raft_operator_op {
	RAFT_OP_REMOVE_PEER = 1,
	RAFT_OP_LEAVE = 2,
	RAFT_OP_JOIN = 3,
	RAFT_OP_TRANSFER = 4,
	/* Server to server only (RW_FWD_OP): the leader's view of every
	 * server's last log index, answered in the reply's text as
	 * "<uuid>=<index> ...", with its commit index as the index. */
	RAFT_OP_STATUS = 5,
};
struct msg_raft_operator {
	uint32_t op;
	const char *arg;
	size_t arg_len;
};
void msg_raft_operator_enc(struct mpw *w, const struct msg_raft_operator *in);
int msg_raft_operator_dec(const struct proto_msg *m,
    struct msg_raft_operator *out, struct lerr *e);

/* raft.kv_forward (a client agent's kvd -> its raftd; proto/fwd_msgs.c):
 * [type, payload, timeout_ms] -> [code, text, type, payload, server]. A
 * client agent holds no state: its kvd hands each request from httpd
 * (kv.read, kv.write, catalog.*), type and payload unchanged, to raftd,
 * which carries it to a server's raftd (RW_KV_FWD) and that server's kvd.
 * The reply's type and payload are the server kvd's answer (its type has
 * PROTO_REPLY set: the request's, or MSG_ERROR's) when code is 0;
 * otherwise the hop failed and text says why. server names the server
 * that answered. timeout_ms bounds the server's kvd call. */
#define KV_FWD_REQ_MAX RAFT_ENTRY_MAX		/* a request's payload */
#define KV_FWD_REPLY_MAX (48u << 20)		/* a reply's payload */
#define KV_FWD_TIMEOUT_MAX (3600u * 1000)	/* an hour */
struct msg_raft_kv_forward {
	uint32_t type;
	const void *payload;	/* one msgpack object, encoded */
	size_t payload_len;
	uint64_t timeout_ms;
};
void msg_raft_kv_forward_enc(struct mpw *w,
    const struct msg_raft_kv_forward *in);
/* The same with the payload of a decoded request, copied as is. */
void msg_raft_kv_forward_enc_msg(struct mpw *w, const struct proto_msg *req,
    uint64_t timeout_ms);
int msg_raft_kv_forward_dec(const struct proto_msg *m,
    struct msg_raft_kv_forward *out, struct lerr *e);
struct msg_raft_kv_forward_reply {
	int32_t code;
	const char *text;
	size_t text_len;
	uint32_t type;		/* code 0: the server kvd's reply type */
	const void *payload;
	size_t payload_len;
	const char *server;
	size_t server_len;
};
void msg_raft_kv_forward_reply_enc(struct mpw *w,
    const struct msg_raft_kv_forward_reply *in);
int msg_raft_kv_forward_reply_dec(const struct proto_msg *m,
    struct msg_raft_kv_forward_reply *out, struct lerr *e);
/* The requests a client forwards, and which of them are reads (safe to
 * send to another server when the first one may have seen them). */
bool kv_fwd_type_ok(uint32_t type);
bool kv_fwd_is_read(uint32_t type);
/* Checks a forwarded payload as its receiver will decode it: type is a
 * forwardable request's, or a reply's (a forwardable request's type |
 * PROTO_REPLY, or MSG_ERROR | PROTO_REPLY), and payload must pass that
 * type's decoder, items included. Forwarded bytes cross the network: a
 * server's raftd checks a request before its kvd sees it (kvd exits on
 * garbage from a sibling), a client's raftd checks a reply. */
int kv_fwd_check(uint32_t type, const void *payload, size_t len,
    struct lerr *e);
/* A forwarded read's blocking wait (*wait_ms 0 when it does not block),
 * and the same read re-encoded into out with another wait: what is left
 * of it, when a client sends the read again to another server. Other
 * types: -LE_INVAL. */
int kv_fwd_read_wait(uint32_t type, const void *payload, size_t len,
    uint64_t *wait_ms, struct lerr *e);
int kv_fwd_read_rewait(uint32_t type, const void *payload, size_t len,
    uint64_t wait_ms, struct mpw *out, struct lerr *e);

#endif
