/* catalog_reconcile.h: what the Raft leader does to keep the catalog in
 * step with gossip, as Consul's leader does (agent/consul/leader.go:
 * reconcileMember, handleAliveMember, handleFailedMember,
 * handleDeregisterMember, reconcileReaped), split in two:
 *
 *  - catalog_diff.c, pure functions with no I/O: the members gossipd
 *    reports (decoded from its gossip.members reply) and a view of the
 *    catalog in, the commands to propose out;
 *  - catalog_reconcile.c, kvd's side: one gossip.members long-poll parked
 *    in gossipd while this server leads, the catalog view, proposals and
 *    their pacing (on each membership change, on becoming leader, every
 *    60 s; one round in flight at a time).
 *
 * Ownership: rc_members_decode() copies what it keeps (the reply may be
 * freed afterwards); rc_members_free() releases it. */
#ifndef LICTOR_CATALOG_RECONCILE_H
#define LICTOR_CATALOG_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "proto.h"

/* One LAN member, as the reconcile needs it (NUL-terminated copies). */
struct rc_member {
	char *name;
	char *addr;
	char *id;		/* tag "id", "" when absent */
	char *dc;		/* tag "dc" */
	char *role;		/* tag "role": "consul" or "node" */
	char *segment;		/* tag "segment" */
	uint32_t status;	/* enum gossip_status */
	bool server_tags_ok;	/* port, vsn (and expect, raft_vsn when
				   present) are integers, as
				   metadata.IsConsulServer demands */
};

struct rc_members {
	struct rc_member *m;
	size_t n;
	uint64_t version;	/* gossipd's membership version */
	char *self;		/* gossipd's own member name */
};

/* Decodes a gossip.members reply (code 0) and copies the members: 0, or
 * -LE_MALFORMED with the reason in e. */
int rc_members_decode(const struct proto_msg *reply, struct rc_members *out,
    struct lerr *e);
void rc_members_free(struct rc_members *ms);

/* A catalog node as the diff sees it. */
enum rc_serf {
	RC_SERF_NONE = 0,	/* no serfHealth check */
	RC_SERF_PASSING = 1,
	RC_SERF_CRITICAL = 2,
	RC_SERF_OTHER = 3,	/* warning, maintenance, anything else */
};
struct rc_node {
	const char *name;
	const char *address;
	int serf;		/* enum rc_serf */
};

enum rc_action {
	RC_ALIVE = 1,		/* register the node with serfHealth passing */
	RC_FAILED = 2,		/* serfHealth critical, the node left as is */
	RC_DEREGISTER = 3,	/* the node and everything on it */
};
struct rc_cmd {
	int action;		/* enum rc_action */
	size_t member;		/* index into members; SIZE_MAX for a node
				   gossip forgot (reaped) */
	size_t node;		/* index into nodes; SIZE_MAX: not in the
				   catalog */
};

/* Compares members with the catalog's nodes and writes at most max
 * commands to out; returns how many. self is this server's node name
 * (never deregistered: a follower that takes over does it), dc its
 * datacenter (members of others are ignored). Members first, in their
 * order, then reaped nodes in the nodes' order. Only differences yield
 * commands, so a catalog in step with gossip yields none. */
size_t rc_diff(const struct rc_member *m, size_t nm, const struct rc_node *n,
    size_t nn, const char *self, const char *dc, struct rc_cmd *out,
    size_t max);

#endif
