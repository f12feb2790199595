/* swim_sim.h: a deterministic simulator for the SWIM core (gossipd/core).
 *
 * One process, fake time (microseconds), one seeded PRNG: the same seed
 * replays the same run bit for bit. Each simulated node runs a real
 * struct swim with its own address; every UDP packet a core sends is
 * checked against the packet budget, carried as bytes, and decoded on
 * arrival through the real codec (compound split, gw_decode_msg) before
 * swim_recv sees it; push/pull exchanges and TCP fallback pings are
 * carried as bytes too, served by the target's core. The network loses,
 * duplicates, delays and reorders packets and can be partitioned into
 * groups; TCP exchanges fail with their own probability, are refused by
 * crashed nodes and time out across a partition. Nodes crash (silent at
 * once, state lost) and restart (a new core under the same name and
 * address that joins a live node).
 *
 * The simulator records every member event into a view matrix
 * (observer x subject), and can play Serf's part that memberlist leaves
 * out: periodic reconnects (a join to a random failed member every
 * ReconnectInterval, with Serf's probability numFailed / numAlive), which
 * is what heals a partition once the sides have forgotten each other,
 * and Consul's retry_join for restarted nodes (they remember nobody).
 *
 * Built-in checks, failing the run with a report: every packet decodes
 * and fits the budget; no conflict events (every name has one address);
 * with check_false_fail, no node is ever declared failed while it is up
 * (loss-only runs). Tests add their own through the event hook and
 * ssim_fail. */
#ifndef LICTOR_SWIM_SIM_H
#define LICTOR_SWIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "swim.h"

#define SSIM_MAX_NODES	1024

struct ssim_net {
	unsigned drop_pm;		/* UDP loss, per mille */
	unsigned dup_pm;		/* UDP duplication, per mille */
	uint32_t delay_min_us;		/* one way, uniform in [min, max] */
	uint32_t delay_max_us;
	unsigned tcp_fail_pm;		/* a TCP exchange fails */
};

/* A stack on top of the core (the Serf layer): when ssim_opts.layer is
 * set, each node is booted, started, ticked, joined, left and freed
 * through these instead of the bare core's calls, and push/pull outcomes
 * go to push_pull_done; the network still reaches the core returned by
 * boot (swim_recv, swim_push_pull_serve, TCP pings). boot gets the
 * simulator's ops table and arg for the core's I/O; the core's own event
 * and done callbacks then belong to the layer, so the view matrix,
 * ssim_converged and ssim_leave_status are the layer's business. join
 * sets *id to 0 when its outcome is not a single push/pull (a restarted
 * node is then not retried). */
struct ssim_layer {
	int (*boot)(void *arg, int i, const struct swim_config *cfg,
	    const struct swim_self *self, const struct swim_ops *ops,
	    void *ops_arg, struct swim **sw);
	void (*down)(void *arg, int i);	/* crash or ssim_free */
	int (*start)(void *arg, int i);
	int (*tick)(void *arg, int i);
	uint64_t (*next_deadline)(void *arg, int i);
	int (*push_pull_done)(void *arg, int i, uint64_t id, int status,
	    const uint8_t *msg, size_t len);
	int (*join)(void *arg, int i, const struct swim_addr *to,
	    uint64_t *id);
	int (*leave)(void *arg, int i, uint32_t timeout_ms);
};

struct ssim_opts {
	uint64_t seed;
	int nodes;
	struct swim_config cfg;
	struct ssim_net net;
	bool check_false_fail;
	bool serf_reconnect;		/* play Serf's reconnects */
	uint32_t reconnect_ms;		/* ReconnectInterval, 30 s */
	/* Consul's retry_join: a restarted node joins one of nodes
	 * 0 .. retry_join - 1 (its configured servers), again every
	 * retry_ms until a join succeeds (0: it joins a random up node
	 * it can reach, once). */
	int retry_join;
	uint32_t retry_ms;
	size_t meta_len;		/* bytes of meta per node (tags) */
	bool quiet;			/* no report on failure */
	bool verbose;			/* every event to stderr */
	const struct ssim_layer *layer;	/* NULL: bare cores */
	void *layer_arg;
};

/* Defaults: LAN profile, nodes as given, 0.2-1 ms delay, no loss,
 * retry_join to nodes 0-2, no Serf reconnects. */
void ssim_opts_default(struct ssim_opts *o, uint64_t seed, int nodes);

/* Called for every member event: observer, event, subject (-1 if the
 * name is not a node's), the member as the core reported it. */
typedef void (*ssim_event_fn)(void *arg, int obs, enum swim_event ev,
    int subj, const struct swim_member *m);

struct ssim;

int ssim_new(const struct ssim_opts *o, struct ssim **out);
void ssim_free(struct ssim *s);

/* Starts every node: node 0 now, the others spread over spread_ms, each
 * joining a random node started before it. */
int ssim_start_all(struct ssim *s, uint32_t spread_ms);

/* 0, or -1 once a check failed (the run stops there). */
int ssim_run_until(struct ssim *s, uint64_t t_us);
int ssim_run_for(struct ssim *s, uint64_t ms);
/* Runs until pred is true (1), max_ms passed (0) or a check failed (-1). */
int ssim_run_while(struct ssim *s, bool (*pred)(struct ssim *, void *),
    void *arg, uint64_t max_ms);

uint64_t ssim_now(const struct ssim *s);	/* us */
int ssim_nodes(const struct ssim *s);
struct swim *ssim_swim(struct ssim *s, int i);	/* NULL while down */
bool ssim_up(const struct ssim *s, int i);
const char *ssim_name(const struct ssim *s, int i);
struct swim_addr ssim_addr(const struct ssim *s, int i);
void ssim_set_event_hook(struct ssim *s, ssim_event_fn fn, void *arg);

/* What observer obs believes of subj from its events: -1 unknown, else
 * enum swim_state (suspicion is not an event: see swim_member). */
int ssim_view(const struct ssim *s, int obs, int subj);
/* Every up node sees every up node alive and every down one dead/left
 * or forgotten (only up observers in the same group count). */
bool ssim_converged(struct ssim *s);

/* After a test calls into node i's stack directly: its next timer. */
void ssim_resched(struct ssim *s, int i);

void ssim_crash(struct ssim *s, int i);
int ssim_restart(struct ssim *s, int i);
/* Graceful leave; ssim_left_done tells when the core reported done. */
int ssim_leave(struct ssim *s, int i, uint32_t timeout_ms);
int ssim_leave_status(const struct ssim *s, int i);	/* 1 pending */

/* group[i] per node; UDP and TCP cross only within a group. */
void ssim_partition(struct ssim *s, const int *group);
void ssim_heal(struct ssim *s);
void ssim_set_net(struct ssim *s, const struct ssim_net *n);

/* Delivers m to node `to` now, as if node `from` had sent it by UDP
 * (encoded and decoded like any packet). */
int ssim_inject(struct ssim *s, int to, int from, const struct gw_msg *m);

struct ssim_stats {
	uint64_t events;
	uint64_t packets;		/* UDP sent */
	uint64_t bytes;			/* UDP bytes sent */
	uint64_t dropped;
	uint64_t tcp;			/* push/pulls and TCP pings carried */
	uint64_t tcp_bytes;
	uint64_t crashes;
	uint64_t digest;		/* hash over the event trace */
};
void ssim_stats(const struct ssim *s, struct ssim_stats *st);
/* UDP bytes sent by node i since it started. */
uint64_t ssim_node_bytes(const struct ssim *s, int i);

bool ssim_failed(const struct ssim *s);
const char *ssim_error(const struct ssim *s);
void ssim_report(const struct ssim *s, FILE *f);
/* Lists up to max (observer, subject) pairs that keep ssim_converged
 * false. */
void ssim_dump_unconverged(struct ssim *s, FILE *f, int max);
void ssim_fail(struct ssim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
