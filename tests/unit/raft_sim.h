/* raft_sim.h: a deterministic simulator for the Raft core (raftd/core).
 *
 * One process, fake time, one seeded PRNG: the same seed replays the same
 * run bit for bit. Each simulated server runs a real struct raft and has
 * a simulated disk that keeps only what the core was told is durable
 * (fsync latency leaves writes in flight; a crash keeps a random prefix of
 * them and loses the rest), a state machine that applies entries into a
 * hash chain (with its own durability: after a crash it may keep its state
 * or fall back to the stored snapshot), and snapshots it takes when asked.
 * The network drops, duplicates, delays and reorders messages and can be
 * partitioned into arbitrary groups.
 *
 * After every event the simulator checks election safety (one leader per
 * term over the whole run), log matching (one content and one predecessor
 * per (index, term) ever written), leader completeness (a new leader holds
 * every entry committed in an earlier term), state machine safety (every
 * server applies a gap-free prefix, and the same entry at every index),
 * that the core's durable index is really on the simulated disk, that
 * every proposal reported committed is what gets applied at its index,
 * and that read-index and lease reads are never behind a commit that
 * happened before the read began. The chaos run ends with a liveness
 * check: once the network heals and crashes stop, a leader must commit a
 * new proposal and every member must apply it within a bound. */
#ifndef LICTOR_RAFT_SIM_H
#define LICTOR_RAFT_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "raft.h"

#define SIM_MAX_NODES	8

struct sim_chaos {
	bool fifo;			/* links keep order (TCP-like) */
	unsigned drop_pct;		/* per message */
	unsigned dup_pct;
	uint32_t delay_min_ms;
	uint32_t delay_max_ms;
	unsigned slow_pct;		/* messages held back slow_ms more */
	uint32_t slow_ms;
	uint32_t fsync_min_ms;
	uint32_t fsync_max_ms;
	uint32_t apply_max_ms;
	/* Mean milliseconds between actions; 0 = never. */
	uint32_t crash_every_ms;
	uint32_t down_min_ms;		/* a crashed node restarts after */
	uint32_t down_max_ms;
	unsigned crash_lose_all_pct;	/* crashes that keep no pending write */
	uint32_t partition_every_ms;
	uint32_t member_every_ms;
	uint32_t transfer_every_ms;
	uint32_t client_every_ms;	/* proposals and reads */
};

struct sim_opts {
	uint64_t seed;
	int voters;			/* nodes 0..voters-1 bootstrap */
	int spares;			/* more nodes, started empty */
	struct raft_options ropt;
	struct sim_chaos chaos;
	bool quiet;			/* no report on failure */
	bool verbose;			/* every event to stderr, live */
};

enum sim_prop {
	SIM_PROP_UNKNOWN = 0,
	SIM_PROP_PENDING = 1,
	SIM_PROP_COMMITTED = 2,
	SIM_PROP_LOST = 3,
};

struct sim_stats {
	uint64_t steps;
	uint64_t now;
	uint64_t msgs;
	uint64_t proposals;
	uint64_t committed;
	uint64_t lost;
	uint64_t reads_ok;
	uint64_t lease_ok;
	uint64_t crashes;
	uint64_t partitions;
	uint64_t leaders;
	uint64_t snapshots_installed;
	uint64_t snapshots_taken;
	uint64_t max_commit;
	uint64_t digest;		/* hash over the event trace */
};

struct sim;

/* Defaults: 3 voters, no spares, no chaos, fast timeouts (election 300 ms,
 * heartbeat 50 ms), small snapshot threshold. */
void sim_opts_default(struct sim_opts *o, uint64_t seed);
/* A chaos profile: loss, duplication, reordering, fsync latency, crashes,
 * partitions, membership changes, transfers and a client workload. */
void sim_chaos_default(struct sim_chaos *c);

/* A profile drawn from the seed: network loss and latency, fsync
 * latency, crash/partition/membership/transfer rates, workload, and the
 * core's window, batch and snapshot tuning all vary from seed to seed. */
void sim_opts_random(struct sim_opts *o, uint64_t seed, int voters,
    int spares);

int sim_new(const struct sim_opts *o, struct sim **out);
void sim_free(struct sim *s);

/* Run events up to absolute time t / for ms more. 0, or -1 once a check
 * failed (the run stops there; sim_report tells why). */
int sim_run_until(struct sim *s, uint64_t t);
int sim_run_for(struct sim *s, uint64_t ms);
/* Runs until pred is true (1), max_ms passed (0) or a check failed (-1). */
int sim_run_while(struct sim *s, bool (*pred)(struct sim *, void *),
    void *arg, uint64_t max_ms);

uint64_t sim_now(const struct sim *s);
int sim_nodes(const struct sim *s);
uint64_t sim_id(const struct sim *s, int i);
struct raft *sim_raft(struct sim *s, int i);	/* NULL while crashed */
/* The up node that is leader in the highest term, or -1. */
int sim_leader(struct sim *s);
bool sim_failed(const struct sim *s);
const char *sim_error(const struct sim *s);
void sim_stats(const struct sim *s, struct sim_stats *st);
/* Seed, step, time, error and the last events. */
void sim_report(const struct sim *s, FILE *f);
/* Fails the run with a message (for tests' own checks). */
void sim_fail(struct sim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Network. group[i] per node; messages cross only within a group. */
void sim_partition(struct sim *s, const int *group);
void sim_isolate(struct sim *s, int i);
void sim_heal(struct sim *s);
/* Drops every message for which f returns true (NULL: none). */
void sim_set_filter(struct sim *s,
    bool (*f)(void *arg, const struct raft_msg *m), void *arg);
void sim_set_chaos(struct sim *s, const struct sim_chaos *c);

/* Servers. */
void sim_crash(struct sim *s, int i);
int sim_restart(struct sim *s, int i);
bool sim_up(const struct sim *s, int i);

/* Clients: a proposal with unique data on node i. */
int sim_propose(struct sim *s, int i, uint64_t *idx, uint64_t *term);
enum sim_prop sim_prop_status(struct sim *s, uint64_t idx, uint64_t term);
/* Read-index on node i; sim_read_status: 0 pending, 1 done (*idx set),
 * or the negative status it failed with. */
int sim_read_index(struct sim *s, int i, uint64_t *id);
int sim_read_status(struct sim *s, uint64_t id, uint64_t *idx);

/* State machine of node i: last applied index. */
uint64_t sim_applied(const struct sim *s, int i);
/* Highest commit index any server ever reported. */
uint64_t sim_max_commit(const struct sim *s);
/* True if the logs of all up nodes hold the same term at every index
 * they all hold (beyond their snapshots). */
bool sim_logs_agree(struct sim *s);

/* One chaos run: duration_ms of chaos, then heal, restart everything and
 * check liveness. 0 on success; -1 with the report written to f (unless
 * NULL). st may be NULL. */
int sim_chaos_run(const struct sim_opts *o, uint64_t duration_ms,
    struct sim_stats *st, FILE *f);

#endif
