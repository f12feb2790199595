/* gossipd.h: the gossip daemon. One pool (LAN, and WAN on servers) is a
 * SWIM instance under Serf's layer, bound to one UDP socket and one TCP
 * listener on the same port (net.h), with memberlist's framing and
 * encryption (gossip_wire.h) around every packet and stream. The loop
 * owns everything; no locks.
 *
 * Siblings read membership through gossip.sock (gossip_ipc.h): the
 * member list with a version, parked until it changes (raftd finds the
 * servers there, kvd's leader keeps the catalog in step with it, httpd
 * answers /v1/agent/members). */
#ifndef LICTOR_GOSSIPD_H
#define LICTOR_GOSSIPD_H

#include <stdbool.h>
#include <stdint.h>

#include "admin.h"
#include "config.h"
#include "gossip_ipc.h"
#include "gossip_wire.h"
#include "ipc.h"
#include "loop.h"
#include "net.h"
#include "serf.h"
#include "swim.h"
#include "util.h"

#define POOL_LAN 0
#define POOL_WAN 1
#define POOL_MAX 2
#define GOSSIPD_NAME_MAX 256
#define GOSSIPD_JOIN_MAX 64

struct gossipd;

/* A gossip.members request parked until the pool's version passes
 * min_version or its time is up. */
struct parked {
	struct parked *next;
	struct ipc_req *req;
	uint64_t min_version;
	uint64_t deadline_ms;
};

/* A join in progress (serf runs one at a time; the rest wait here). */
struct join_op {
	struct join_op *next;
	struct pool *p;
	struct ipc_req *req;		/* NULL for -join / -retry-join */
	uint64_t token;
	struct swim_addr *addrs;
	unsigned n;
	bool started;
	bool retry;			/* an attempt of the retry loop */
	char err[200];
};

/* A push/pull that could not even start: serf hears of it from the
 * loop, never inside its own call. */
struct deferred_fail {
	struct pool *p;
	uint64_t id;
};

/* The last Serf user events of a pool, for the admin dump. */
#define RAW_EVENTS 32
struct raw_event {
	char *name;
	uint64_t ltime;
	size_t payload_len;
};

struct pool {
	struct gossipd *d;
	int which;			/* POOL_LAN, POOL_WAN */
	const char *label_name;		/* "lan", "wan" for logs */
	char name[GOSSIPD_NAME_MAX];	/* our member name in this pool */
	struct sockaddr_storage adv;	/* advertised address */
	struct gnet *net;
	struct serf *serf;
	struct swim *swim;		/* serf's */
	struct gw_keyring kr;
	char keyring_path[4200];	/* "" in dev mode */
	struct gw_sec sec;
	struct loop_timer *timer;
	uint32_t tcp_timeout_ms;
	uint64_t version;		/* bumps on every member change */
	bool dirty;			/* changed since the last wake */
	struct parked *parked;
	uint64_t next_token;
	struct join_op *joins;		/* the first one runs */
	/* -retry-join and -join: both retried until one join works */
	const struct strlist *retry, *retry2;
	int64_t retry_interval_ms;
	int64_t retry_max;
	unsigned retry_attempts;
	bool retry_done;
	struct loop_timer *retry_timer;
	struct raw_event raw[RAW_EVENTS];
	unsigned raw_head;
	uint64_t raw_total;
	/* counters */
	uint64_t pkts_bad, pkts_decrypt_fail, pkts_crc_bad;
	uint64_t msgs_bad, streams_bad, compound_truncated, stream_user_msgs;
	uint64_t push_pulls_refused;
	char last_join_err[256];	/* the last push/pull that failed */
	bool leaving, left;
};

/* A Consul user event as the agent keeps it (/v1/event/list). */
struct uevent {
	char id[40];
	char *name;
	uint8_t *payload;
	size_t payload_len;
	bool has_payload;
	char *node_filter, *service_filter, *tag_filter;
	uint64_t version, ltime;
};

struct gossipd {
	struct lictor_config cfg;
	const char *rundir;
	struct loop *loop;
	uint64_t boot;
	struct pool pools[POOL_MAX];
	int npools;
	struct ipc_server *srv;
	struct admin *admin;
	struct loop_timer *tick;
	/* Consul's user events: the last GOSSIP_EVENTS_MAX, a ring. */
	struct uevent events[GOSSIP_EVENTS_MAX];
	unsigned ev_head, ev_count;
	uint64_t ev_index;		/* of the newest, Consul's uuid fold */
	uint64_t events_received, events_filtered;
	struct ipc_req *leave_req;	/* the API's leave, answered when
					   every pool has left */
	uint64_t leave_at_ms;		/* then stop the agent */
	uint64_t flood_version, flood_next_ms;	/* flood.c */
	struct loop_timer *stop_timer;	/* a stop signal's leave */
	uint64_t stop_deadline_ms;
};

/* pool.c */
int pool_open(struct gossipd *d, int which, struct lerr *e);
void pool_start(struct pool *p);
void pool_close(struct pool *p);
void pool_rearm(struct pool *p);
/* Queues a join through each address ("host[:port]"); req (may be NULL)
 * gets the reply. */
void pool_join(struct pool *p, const char *const *addrs, const size_t *lens,
    unsigned n, struct ipc_req *req, bool retry);
int pool_leave(struct pool *p);
bool pool_leave_pending(struct gossipd *d);
void pool_leave_check(struct gossipd *d);
size_t pool_member_count(struct pool *p);
void pool_members_each(struct pool *p,
    void (*fn)(void *arg, const struct serf_member *m), void *arg);
void pool_defer_push_pull_fail(struct pool *p, uint64_t id);
void pool_stats(struct pool *p, struct sbuf *out);
void pool_dump(struct pool *p, struct sbuf *out);

/* pool_io.c */
uint64_t pool_now_us(void *arg);
uint64_t pool_rand(void *arg);
void pool_addr_to_ss(const struct swim_addr *a, struct sockaddr_storage *ss);
void pool_ss_to_addr(const struct sockaddr_storage *ss, struct swim_addr *a);
void pool_send_udp(void *arg, const struct swim_addr *to, uint8_t pmax,
    const uint8_t *pkt, size_t len);
void pool_tcp_ping(void *arg, uint32_t seq, const struct swim_addr *to,
    const uint8_t *msg, size_t len, uint64_t deadline_us);
void pool_push_pull(void *arg, uint64_t id, const struct swim_addr *to,
    bool join, const uint8_t *msg, size_t len);
void pool_on_packet(void *arg, const struct sockaddr_storage *from,
    const uint8_t *buf, size_t len);
void pool_on_stream(void *arg, struct gstream *s, const uint8_t *buf,
    size_t len);

/* serve.c */
void serve_handle(void *arg, struct ipc_req *req);
void serve_reply(struct ipc_req *r, uint32_t type, int code, const char *text,
    uint64_t n, const char *id);
void serve_members_wake(struct pool *p, bool all);
void serve_events_wake(struct gossipd *d, bool all);
/* Blocking event lists parked now. */
size_t serve_events_parked(void);
void serve_tick(struct gossipd *d);
void serve_fail_all(struct gossipd *d);

/* flood.c: servers join the WAN pool through the LAN, as Consul's. */
void flood_check(struct gossipd *d);

/* events.c: Consul's user events over Serf ("consul:event:<name>"). */
int event_fire(struct gossipd *d, const struct msg_gossip_event *ev,
    char id_out[40], struct lerr *e);
void event_received(struct gossipd *d, uint64_t ltime, const uint8_t *name,
    size_t name_len, const uint8_t *payload, size_t len);
uint64_t event_index_of(const char *uuid);
void events_free(struct gossipd *d);

/* tags.c: the tags Consul sets on its members (the strings live in t or
 * in c). */
#define TAGS_MAX 16
struct tagset {
	struct serf_tag t[TAGS_MAX];
	char store[TAGS_MAX][64];
	unsigned n;
};
void tags_build(const struct lictor_config *c, int which, struct tagset *t);

#endif
