/* catalog_state.h: the catalog's tables in kvd's store (nodes and checks
 * now, services next), with Consul's semantics (agent/consul/state/
 * catalog.go: EnsureRegistration, DeleteNode, DeleteCheck). Like
 * kv_state, writes are a pure function of (index, command): no clock, no
 * randomness, so every server holds the same bytes; they go into the
 * batch kv_state opened, so they commit atomically with the applied index.
 *
 * Layout in the store. Names are matched case-insensitively, as Consul's
 * memdb indexes do, so keys hold the ASCII-lowercased name (lc) and the
 * record holds the name as registered:
 *   "c:n:" lc(node)                      -> node record (msg_cat_node_enc)
 *   "c:i:" lc(node ID)                   -> lc(node): the ID index
 *   "c:c:" lc(node) NUL lc(check ID)     -> check record (msg_cat_check_enc)
 *   "c:x:" lc(node)                      -> u64 BE: the node's own index,
 *                                           the last change to the node,
 *                                           its checks (and services)
 *   "m:cat.nodes", "m:cat.checks"        -> u64 BE: table indexes
 * Reserved for services: "c:s:" lc(node) NUL lc(service ID) -> service,
 * "c:S:" lc(name) NUL lc(node) NUL lc(ID) -> by name, "m:cat.services";
 * a check's ServiceID then names a "c:s:" key of its node, and deleting a
 * service deletes the checks that name it, as Consul does.
 *
 * Records are stored in their proto encoding, so a read copies stored
 * bytes into its reply. Stored bytes are still untrusted: every record is
 * decoded with proto's checked decoders before use.
 *
 * Threading: one owner thread (kvd's loop). */
#ifndef LICTOR_CATALOG_STATE_H
#define LICTOR_CATALOG_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "proto.h"
#include "store.h"

/* Consul's names for the gossip health check the leader maintains. */
#define CAT_SERF_CHECK_ID "serfHealth"
#define CAT_SERF_CHECK_NAME "Serf Health Status"
#define CAT_SERF_ALIVE_OUTPUT "Agent alive and reachable"
#define CAT_SERF_FAILED_OUTPUT "Agent not live or unreachable"

enum cat_table {
	CAT_TABLE_NODES = 1,
	CAT_TABLE_CHECKS = 2,
};

/* What a write touched, for blocking queries: the node list, one node's
 * record, one node's checks. lcnode is the lowercased node name. */
enum cat_topic {
	CAT_TOPIC_NODES = 1,
	CAT_TOPIC_NODE = 2,
	CAT_TOPIC_CHECKS = 3,
};
typedef void (*cat_touch_fn)(void *arg, int topic, const char *lcnode,
    size_t len);

struct cat_state;

/* The store is borrowed and must outlive the state. */
int cat_state_open(struct store *s, struct cat_state **out);
void cat_state_close(struct cat_state *cs);

/* ---- writes ----
 * Into batch b (kv_state's open batch), as of Raft index `index`. A
 * command either applies whole or not at all: 0, or -LE_INVAL with
 * Consul's error text in e (the batch untouched; the entry still consumes
 * its index), or another negative code when the store failed. touched
 * (may be NULL) hears what changed, after the command succeeded. */
int cat_apply_register(struct cat_state *cs, struct store_batch *b,
    uint64_t index, const struct msg_cat_register *r, cat_touch_fn touched,
    void *arg, struct lerr *e);
int cat_apply_deregister(struct cat_state *cs, struct store_batch *b,
    uint64_t index, const struct msg_cat_deregister *d,
    cat_touch_fn touched, void *arg, struct lerr *e);

/* ---- reads, from committed state ---- */
/* A table's index (0 while nothing was written to it). */
uint64_t cat_table_index(struct cat_state *cs, enum cat_table t);
/* The node's own index (0: unknown node). */
uint64_t cat_node_index(struct cat_state *cs, const char *node, size_t len);
/* The stored record of a node or a check: 0 and a malloc'd copy the
 * caller frees, or -LE_NOTFOUND. */
int cat_node_get(struct cat_state *cs, const char *node, size_t len,
    void **rec, size_t *reclen);
int cat_check_get(struct cat_state *cs, const char *node, size_t nlen,
    const char *check_id, size_t clen, void **rec, size_t *reclen);
/* Calls fn with each node record in name order (lowercased), or with each
 * check record of one node in check ID order. The record is borrowed for
 * the call. fn returns 0 to go on; its non-zero stops the walk and is
 * returned. */
typedef int (*cat_rec_fn)(void *arg, const void *rec, size_t len);
int cat_walk_nodes(struct cat_state *cs, cat_rec_fn fn, void *arg);
int cat_walk_node_checks(struct cat_state *cs, const char *node,
    size_t len, cat_rec_fn fn, void *arg);
/* FNV-1a 64 over every catalog key and value, continuing from h (so an
 * empty catalog leaves h as it is): kvd's replica digest. */
uint64_t cat_state_digest(struct cat_state *cs, uint64_t h);

/* ---- helpers shared with kvd's write path ---- */
/* go-uuid's ParseUUID: 0, or -1 with its error text in err. */
int cat_uuid_check(const char *s, size_t n, char *err, size_t errlen);
/* ASCII case-insensitive equality (Consul's strings.EqualFold on the
 * names it meets in practice). */
bool cat_name_eq(const char *a, size_t alen, const char *b, size_t blen);

#endif
