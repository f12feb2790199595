/* raftd.h: raftd's context, passed to every function. raftd runs the Raft
 * core (core/raft.h) for a server: it persists the core's log and state
 * in RocksDB (log_store.c) on a persistence thread (persist.c), carries
 * its messages to other servers (transport.c, wire.c), forwards
 * proposals and read-index requests from a follower to the leader
 * (forward.c), finds the other servers and bootstraps or joins a cluster
 * (cluster.c), serves kvd and httpd over raft.sock (serve.c), and keeps
 * snapshots as files taken by kvd (snapshot.c). One loop thread owns all
 * of it; the core's callbacks run inside raft_* calls on that thread. */
#ifndef LICTOR_RAFTD_H
#define LICTOR_RAFTD_H

#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>

#include "admin.h"
#include "config.h"
#include "ipc.h"
#include "loop.h"
#include "persist.h"
#include "proto.h"
#include "raft.h"
#include "raft_wire.h"
#include "store.h"
#include "transport.h"

#define RAFTD_TICK_MS 20
#define RAFTD_HOLD_MS 5000	/* how long a request waits for a leader */
#define RAFTD_LEASE_HORIZON_MS 30 /* see node_lease_ms */

struct waiter;		/* a request waiting on the core: serve.c */

/* A snapshot arriving in pieces (node.c). */
struct snap_rx {
	uint64_t from, index, snap_term, total, got;
	uint8_t *buf;
};
struct known_server;	/* cluster.c */
struct kvfwd;		/* kv_forward.c */

struct raftd_stats {
	uint64_t proposals, proposals_forwarded, proposals_failed;
	uint64_t reads, reads_forwarded, lease_reads;
	uint64_t fetches, entries_served;
	uint64_t wire_bad, wire_in, wire_out;
	uint64_t persist_batches, persist_max_batch, persist_inline;
	uint64_t hellos;
	uint64_t snap_chunks_sent, snap_chunks_received;
	uint64_t apply_held;	/* a follower's entries held for company */
	uint64_t apply_wanted;	/* answered at once: kvd waited on them */
	uint64_t snaps_refused;	/* damaged: received, or read back */
};

struct raftd {
	struct lictor_config cfg;
	const char *rundir;
	uint64_t boot;
	struct loop *loop;
	struct store *store;
	struct persist *persist;
	struct transport *tr;
	struct ipc_server *srv;		/* raft.sock: kvd and httpd */
	struct ipc_client *kvd;		/* kvd.sock: snapshots */
	struct admin *admin;
	struct raft *r;
	struct loop_timer *tick;
	bool stopping;
	/* Test builds (`lictor ctl raftd fault mute-kvd`): our own kvd's
	 * fetch and its proposals' and reads' outcomes go unanswered, as if
	 * raftd died before it could answer them (what other servers
	 * forward is still answered). */
	bool fault_mute_kvd;
	bool fault_damage_snaps;	/* ... damage-snapshots: every one sent */
	bool leader_changed;		/* the core said so; acted on later */

	/* who we are */
	uint64_t id;			/* fnv64 of the node id, never 0 */
	uint64_t rng;			/* op_rand's state; 0: not seeded */
	char addr[RW_ADDR_MAX + 1];	/* "ip:port" others reach us at */
	char conf_addr[RAFT_ADDR_MAX + 1]; /* "ip:port uuid node" */
	struct { uint64_t id; char addr[RW_ADDR_MAX + 1]; }
	    addr_cache[RAFT_MAX_SERVERS];	/* node.c: op_send */
	size_t naddr_cache;

	/* persistence: the batch gathering this turn */
	struct store_batch *batch;
	uint64_t batch_seq;		/* highest seq in it; 0: none */
	size_t batch_ops;
	bool inline_pending;		/* inline_commit is deferred */
	uint64_t ls_first, ls_last;	/* entries in the store (w/ batch) */
	uint64_t compact_from, compact_to; /* range to drop after the batch */

	/* the apply stream handed to kvd through raft.fetch */
	uint64_t apply_upto;		/* highest index the core applied */
	uint64_t kvd_applied;		/* what kvd said it applied */
	struct ipc_req *fetch;		/* kvd's parked fetch, or NULL */
	uint64_t fetch_from, fetch_max, fetch_deadline;
	uint64_t fetch_lease_sent;	/* lease end last told to kvd */
	int fetch_leader_sent;		/* known-leader last told to kvd */
	uint64_t kvd_wants;		/* an index kvd was answered and waits
					 * to apply (its proposal's, read's) */
	uint64_t fetch_hold_until;	/* a follower's entries wait till then;
					 * 0: none waiting */

	/* snapshots */
	uint64_t snap_index, snap_term;	/* latest durable snapshot */
	bool snap_taking;		/* kvd is writing one, or it loads */
	bool snap_loading;		/* snap_thread runs (snapshot.c) */
	pthread_t snap_thread;
	uint64_t snap_want;		/* index the core asked for */
	uint64_t snap_next_ms;		/* none is started before (mono) */
	bool snap_damaged;		/* the one loaded at start failed its
					 * check: replace it */
	bool snap_heal_now;		/* ... without waiting out the
					 * interval (the first try only) */
	struct snap_rx snap_rx;

	/* requests waiting on the core or on the leader (serve.c) */
	struct waiter *waiters;
	uint64_t next_req;		/* ids for reads and forwards */

	/* cluster formation (cluster.c) */
	struct known_server *known;
	size_t nknown;
	/* servers gossip shows (discover.c): "ip:port" each */
	struct ipc_client *gossip;
	char (*gossip_servers)[RW_ADDR_MAX + 1];
	size_t ngossip_servers;
	uint64_t discover_version;
	bool discover_inflight;
	bool members_seen;	/* gossipd has answered once */
	uint64_t started_ms;	/* mono_ms() at start */
	struct loop_timer *discover_timer;
	uint64_t hello_next_ms;
	bool bootstrapped;
	bool leaving;

	/* a client's requests forwarded to a server, a server's side of
	 * them (kv_forward.c) */
	struct kvfwd *kvfwd;

	struct raftd_stats st;
};

/* node.c: the core and its callbacks */
int node_start(struct raftd *d, struct lerr *e);
void node_stop(struct raftd *d);
void node_tick(void *arg);
void node_flush(void *arg);		/* the loop's idle hook */
void node_persisted(void *arg, int rv, uint64_t seq);
void node_on_wire(void *arg, const void *buf, size_t len);
/* The address part ("ip:port") of a server in the configuration. */
void node_server_addr(const struct raft_server *s, char *out, size_t len);
void node_server_uuid(const struct raft_server *s, char *out, size_t len);
void node_server_name(const struct raft_server *s, char *out, size_t len);
uint64_t node_id_of(const char *uuid);
uint64_t node_id_of_n(const char *uuid, size_t len);
bool node_leader_addr(struct raftd *d, char *out, size_t len);
/* Sends one encoded wire message to "ip:port". */
void node_send_raw(struct raftd *d, const char *addr, struct mpw *w);
uint64_t node_lease_ms(struct raftd *d);
uint64_t node_rand(struct raftd *d);

/* serve.c: raft.sock requests, and everything that waits */
void serve_handle(void *arg, struct ipc_req *r);
void serve_fetch_check(struct raftd *d);
void serve_result(struct raftd *d, uint64_t index, uint64_t term, int status);
void serve_read_done(struct raftd *d, uint64_t id, uint64_t index,
    int status);
void serve_leader_changed(struct raftd *d);
void serve_complete(struct raftd *d);
void serve_retry_held(struct raftd *d);
void serve_expire(struct raftd *d);
void serve_fail_all(struct raftd *d, int code, const char *text);
/* forwarded requests arriving from followers, and their replies */
void serve_fwd_in(struct raftd *d, const struct rw_msg *m);
void serve_fwd_reply_in(struct raftd *d, const struct rw_msg *m);

/* cluster.c */
/* discover.c: the servers gossip knows */
int discover_start(struct raftd *d, const char *rundir, struct lerr *e);
void discover_stop(struct raftd *d);
void discover_free(struct raftd *d);

void cluster_start(struct raftd *d);
void cluster_tick(struct raftd *d);
void cluster_hello_in(struct raftd *d, const struct rw_msg *m);
bool cluster_addr_of(struct raftd *d, uint64_t id, char *out, size_t len);
/* The leader's membership chores: add servers that asked, promote
 * caught-up non-voters. */
void cluster_leader_tick(struct raftd *d);
int cluster_op(struct raftd *d, uint32_t op, const char *arg,
    size_t arg_len, char *text, size_t text_len, uint64_t *index);

/* kv_forward.c: a client agent's kvd requests, carried to a server */
/* A client agent (no -server): no Raft, requests go to a server. */
bool raftd_client(const struct raftd *d);
void kvfwd_start(struct raftd *d);
void kvfwd_free(struct raftd *d);
/* raft.kv_forward from our kvd (clients) */
void kvfwd_handle(struct raftd *d, struct ipc_req *r,
    const struct msg_raft_kv_forward *m);
void kvfwd_in(struct raftd *d, const struct rw_msg *m);	/* servers */
void kvfwd_reply_in(struct raftd *d, const struct rw_msg *m); /* clients */
void kvfwd_tick(struct raftd *d);
void kvfwd_fail_all(struct raftd *d, int code, const char *text);
void kvfwd_stats(struct raftd *d, struct sbuf *out);

/* snapshot.c */
void snapshot_path(struct raftd *d, uint64_t index, char *out, size_t len);
int snapshot_load(struct raftd *d, uint64_t index, void **data, size_t *len,
    struct lerr *e);
int snapshot_write(struct raftd *d, uint64_t index, const void *data,
    size_t len, struct lerr *e);
void snapshot_take(struct raftd *d, uint64_t index);
void snapshot_schedule(struct raftd *d);
bool snapshot_check(struct raftd *d, const char *what, uint64_t index,
    const void *data, size_t len);
void snapshot_prune(struct raftd *d);
void snapshot_wait(struct raftd *d);

#endif
