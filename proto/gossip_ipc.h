/* gossip_ipc.h: messages between gossipd and its siblings (httpd, raftd,
 * kvd, the CLI through httpd) on <rundir>/gossip.sock, req/rep. Included
 * by proto.h users that talk to gossipd; the types are in msgs.def
 * (0x05xx). Encoders beside decoders in gossip_msgs.c.
 *
 * Membership is pulled, not pushed: gossip.members with min_version
 * parks in gossipd until the pool's membership version passes it (or
 * wait_ms ends), the way kvd's raft.fetch parks in raftd. raftd (server
 * discovery) and kvd (the leader's catalog reconcile) each keep one
 * parked, so no change is missed even when a subscriber restarts: it asks
 * again from version 0 and gets the whole list.
 *
 * Ownership: decoded structs borrow from the proto_msg. */
#ifndef LICTOR_GOSSIP_IPC_H
#define LICTOR_GOSSIP_IPC_H

#include "proto.h"

#define GOSSIP_NAME_MAX 512
#define GOSSIP_TAGS_MAX 64
#define GOSSIP_TAG_MAX 512
#define GOSSIP_MEMBERS_MAX 100000
#define GOSSIP_ADDRS_MAX 64
#define GOSSIP_EVENT_PAYLOAD_MAX 9216	/* Serf's hard cap, 9 KiB */
#define GOSSIP_EVENTS_MAX 256		/* Consul keeps the last 256 */

/* Consul's member status numbers (/v1/agent/members "Status"). */
enum gossip_status {
	GSTAT_NONE = 0,
	GSTAT_ALIVE = 1,
	GSTAT_LEAVING = 2,
	GSTAT_LEFT = 3,
	GSTAT_FAILED = 4,
};
const char *gossip_status_name(uint32_t status); /* "alive", ... */

/* gossip.members: [wan, min_version, wait_ms] */
struct msg_gossip_members {
	bool wan;
	uint64_t min_version;	/* park until version > this (0: answer) */
	uint64_t wait_ms;
};
void msg_gossip_members_enc(struct mpw *w, const struct msg_gossip_members *in);
int msg_gossip_members_dec(const struct proto_msg *m,
    struct msg_gossip_members *out, struct lerr *e);

/* One member: [name, addr, port, status, vsn(6 ints), [k, v, k, v...]] */
struct msg_gossip_member {
	const char *name;
	size_t name_len;
	const char *addr;	/* IP as text */
	size_t addr_len;
	uint32_t port;
	uint32_t status;	/* enum gossip_status */
	uint8_t vsn[6];		/* pmin pmax pcur dmin dmax dcur */
	uint32_t n_tags;
	/* encoding: tag_keys/tag_vals; decoding: msg_gossip_member_tag() */
	const char *const *tag_keys;
	const size_t *tag_key_lens;
	const char *const *tag_vals;
	const size_t *tag_val_lens;
	const msgpack_object *tags;
};
/* Reply: [code, text, version, self_name, [member...]] */
struct msg_gossip_members_reply {
	int32_t code;
	const char *text;
	size_t text_len;
	uint64_t version;
	const char *self;	/* this agent's member name in the pool */
	size_t self_len;
	uint32_t n_members;
	const msgpack_object *members;	/* decoding side */
};
void msg_gossip_members_reply_begin(struct mpw *w,
    const struct msg_gossip_members_reply *in);
void msg_gossip_member_enc(struct mpw *w, const struct msg_gossip_member *in);
int msg_gossip_members_reply_dec(const struct proto_msg *m,
    struct msg_gossip_members_reply *out, struct lerr *e);
int msg_gossip_member_dec(const msgpack_object *o,
    struct msg_gossip_member *out);
/* Tag i of a decoded member (i < n_tags). */
void msg_gossip_member_tag(const struct msg_gossip_member *mb, uint32_t i,
    const char **k, size_t *klen, const char **v, size_t *vlen);

/* gossip.join: [wan, [addr...]] -> [code, text, n_joined] */
struct msg_gossip_join {
	bool wan;
	uint32_t n_addrs;
	const char *addrs[GOSSIP_ADDRS_MAX];
	size_t addr_lens[GOSSIP_ADDRS_MAX];
};
void msg_gossip_join_enc(struct mpw *w, const struct msg_gossip_join *in);
int msg_gossip_join_dec(const struct proto_msg *m, struct msg_gossip_join *out,
    struct lerr *e);

/* Replies of join, leave, force_leave, event_fire: [code, text, n, id]
 * (n: members joined or the event's Lamport time; id: the event's ID). */
struct msg_gossip_reply {
	int32_t code;
	const char *text;
	size_t text_len;
	uint64_t n;
	const char *id;
	size_t id_len;
};
void msg_gossip_reply_enc(struct mpw *w, const struct msg_gossip_reply *in);
int msg_gossip_reply_dec(const struct proto_msg *m,
    struct msg_gossip_reply *out, struct lerr *e);

/* gossip.leave: [] ; gossip.force_leave: [node, prune, wan] */
struct msg_gossip_force_leave {
	const char *node;
	size_t node_len;
	bool prune;
	bool wan;
};
void msg_gossip_force_leave_enc(struct mpw *w,
    const struct msg_gossip_force_leave *in);
int msg_gossip_force_leave_dec(const struct proto_msg *m,
    struct msg_gossip_force_leave *out, struct lerr *e);

/* A Consul user event: gossip.event_fire's request
 * [name, payload|nil, node_filter, service_filter, tag_filter] and, with
 * id, version and ltime, an item of gossip.event_list's reply. */
struct msg_gossip_event {
	const char *id;
	size_t id_len;
	const char *name;
	size_t name_len;
	const void *payload;	/* NULL: none */
	size_t payload_len;
	const char *node_filter;
	size_t node_filter_len;
	const char *service_filter;
	size_t service_filter_len;
	const char *tag_filter;
	size_t tag_filter_len;
	uint64_t version;
	uint64_t ltime;
};
void msg_gossip_event_fire_enc(struct mpw *w, const struct msg_gossip_event *in);
int msg_gossip_event_fire_dec(const struct proto_msg *m,
    struct msg_gossip_event *out, struct lerr *e);

/* gossip.event_list: [name, min_index, wait_ms] ->
 * [code, text, index, [event...]] (index: Consul's, from the newest ID) */
struct msg_gossip_event_list {
	const char *name;	/* "" for all */
	size_t name_len;
	uint64_t min_index;
	uint64_t wait_ms;
};
void msg_gossip_event_list_enc(struct mpw *w,
    const struct msg_gossip_event_list *in);
int msg_gossip_event_list_dec(const struct proto_msg *m,
    struct msg_gossip_event_list *out, struct lerr *e);
struct msg_gossip_event_list_reply {
	int32_t code;
	const char *text;
	size_t text_len;
	uint64_t index;
	uint32_t n_events;
	const msgpack_object *events;	/* decoding side */
};
void msg_gossip_event_list_reply_begin(struct mpw *w,
    const struct msg_gossip_event_list_reply *in);
void msg_gossip_event_enc(struct mpw *w, const struct msg_gossip_event *in);
int msg_gossip_event_list_reply_dec(const struct proto_msg *m,
    struct msg_gossip_event_list_reply *out, struct lerr *e);
int msg_gossip_event_dec(const msgpack_object *o, struct msg_gossip_event *out);

#endif
