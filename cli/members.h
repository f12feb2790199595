/* members.h: private to members.c and tests/unit/cli_gossip_test.c: one
 * member of GET /v1/agent/members as Consul's api.AgentMember, and the
 * pure half of `lictor members` (decode, then Consul's table). */
#ifndef LICTOR_CLI_MEMBERS_H
#define LICTOR_CLI_MEMBERS_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Serf's member statuses, as the API numbers them. */
enum member_status {
	MEMBER_NONE = 0,
	MEMBER_ALIVE = 1,
	MEMBER_LEAVING = 2,
	MEMBER_LEFT = 3,
	MEMBER_FAILED = 4,
};

/* Strings are malloc'd and NUL-terminated; values carry lengths (JSON
 * may hold NULs). */
struct member_tag {
	char *key;
	char *val;
	size_t val_len;
};
struct member {
	char *name;
	size_t name_len;
	char *addr;
	size_t addr_len;
	uint16_t port;
	int status;			/* enum member_status */
	struct member_tag *tags;	/* keys unique, in answer order */
	size_t n_tags;
};

/*
 * Decodes a members answer (a JSON array, or null for none) as the api
 * package would; null entries are skipped. Returns 0 with *out (free
 * with members_free) or -1 with Go's text in err; a status Serf does not
 * know is an error too ("unknown MemberStatus: 7", where Consul's CLI
 * panics).
 */
int members_decode(const char *body, size_t len, struct member **out,
    size_t *n, struct sbuf *err);
void members_free(struct member *m, size_t n);

/* Serf's MemberStatus.String(): "none", "alive", "leaving", "left",
 * "failed". */
const char *member_status_name(int status);

/* Go's net.TCPAddr{IP: net.ParseIP(addr), Port: port}.String():
 * "1.2.3.4:8301", "[::1]:8301", ":8301" when addr is no IP. */
void member_addr(struct sbuf *b, const char *addr, size_t len,
    unsigned port);

/* What the command line asks of the table. */
struct members_view {
	bool detailed;		/* -detailed: Node Address Status Tags */
	const char *segment;	/* -segment; Consul's default "_all" */
	const regex_t *status;	/* -status; NULL matches every member */
};

/*
 * Consul 1.15's members table (OSS): first each member's tags are
 * completed as Consul does, in place (partition "default" when empty;
 * segment "<all>" for a server when -segment is "_all", else "<default>"
 * when empty), then members whose status name the regexp does not match
 * are left out, the rest sorted (servers first, then by segment,
 * partition and name) and written to out as columnize lays them out,
 * without a final newline. Returns how many members are shown; with
 * none, nothing is written (the command exits 2).
 */
size_t members_render(struct member *m, size_t n,
    const struct members_view *v, struct sbuf *out);

#endif
