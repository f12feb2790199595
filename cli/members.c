/* members.c: `lictor members`, after Consul 1.15's command/members:
 * GET /v1/agent/members[?wan=1]&segment=, the member list as Consul's
 * table (Node Address Status Type Build Protocol DC Partition Segment,
 * or Node Address Status Tags with -detailed), filtered by a regexp on
 * the status name, exit 2 when nothing is left. Decoding and the table
 * are pure (members.h), tested in tests/unit/cli_gossip_test.c. */
#include "cli.h"
#include "members.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char members_help[] =
"Usage: lictor members [options]\n"
"\n"
"  Outputs the members of a running lictor agent.\n";

/* ---- decoding ------------------------------------------------------- */

void
members_free(struct member *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].addr);
		for (size_t t = 0; t < m[i].n_tags; t++) {
			free(m[i].tags[t].key);
			free(m[i].tags[t].val);
		}
		free(m[i].tags);
	}
	free(m);
}

static char *
dup_bytes(const char *s, size_t n, size_t *len)
{
	char *d = xmalloc(n + 1);

	if (n > 0)
		memcpy(d, s, n);
	d[n] = '\0';
	if (len != NULL)
		*len = n;
	return d;
}

static int
field_error(const json_t *v, bool literal, const char *field,
    const char *type, struct sbuf *err)
{
	sbuf_adds(err, "json: cannot unmarshal ");
	cli_json_what(v, literal, err);
	sbuf_printf(err, " into Go struct field AgentMember.%s of type %s",
	    field, type);
	return -1;
}

/* A tag: a later duplicate replaces the value, as a Go map does. */
static void
tag_set(struct member *m, const char *key, const char *val, size_t vlen)
{
	struct member_tag *t;
	size_t i;

	for (i = 0; i < m->n_tags; i++)
		if (strcmp(m->tags[i].key, key) == 0)
			break;
	if (i == m->n_tags) {
		m->tags = xrealloc(m->tags, (m->n_tags + 1) * sizeof(*m->tags));
		m->tags[i].key = xstrdup(key);
		m->tags[i].val = NULL;
		m->n_tags++;
	}
	t = &m->tags[i];
	free(t->val);
	t->val = dup_bytes(val, vlen, &t->val_len);
}

static const struct member_tag *
tag_get(const struct member *m, const char *key)
{
	for (size_t i = 0; i < m->n_tags; i++)
		if (strcmp(m->tags[i].key, key) == 0)
			return &m->tags[i];
	return NULL;
}

static int
tags_decode(json_t *o, struct member *m, struct sbuf *err)
{
	const char *key;
	json_t *v;

	if (json_is_null(o))
		return 0;
	if (!json_is_object(o))
		return field_error(o, false, "Tags", "map[string]string",
		    err);
	json_object_foreach(o, key, v) {
		/* null stores the zero value, as Go does in a map. */
		if (json_is_null(v))
			tag_set(m, key, "", 0);
		else if (json_is_string(v))
			tag_set(m, key, json_string_value(v),
			    json_string_length(v));
		else
			return field_error(v, false, "Tags", "string", err);
	}
	return 0;
}

static int
member_decode(json_t *o, struct member *m, struct sbuf *err)
{
	const char *name;
	json_t *v;

	/* Go matches field names without regard to case; null leaves a
	 * field alone. */
	json_object_foreach(o, name, v) {
		if (json_is_null(v) && strcasecmp(name, "Tags") != 0)
			continue;
		if (strcasecmp(name, "Name") == 0 ||
		    strcasecmp(name, "Addr") == 0) {
			bool is_name = strcasecmp(name, "Name") == 0;

			if (!json_is_string(v))
				return field_error(v, false, is_name ? "Name" :
				    "Addr", "string", err);
			if (is_name) {
				free(m->name);
				m->name = dup_bytes(json_string_value(v),
				    json_string_length(v), &m->name_len);
			} else {
				free(m->addr);
				m->addr = dup_bytes(json_string_value(v),
				    json_string_length(v), &m->addr_len);
			}
		} else if (strcasecmp(name, "Port") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > UINT16_MAX)
				return field_error(v, json_is_number(v), "Port",
				    "uint16", err);
			m->port = (uint16_t)json_integer_value(v);
		} else if (strcasecmp(name, "Status") == 0) {
			if (!json_is_integer(v))
				return field_error(v, json_is_number(v),
				    "Status", "int", err);
			if (json_integer_value(v) < MEMBER_NONE ||
			    json_integer_value(v) > MEMBER_FAILED) {
				sbuf_printf(err, "unknown MemberStatus: %"
				    JSON_INTEGER_FORMAT, json_integer_value(v));
				return -1;
			}
			m->status = (int)json_integer_value(v);
		} else if (strcasecmp(name, "Tags") == 0) {
			if (tags_decode(v, m, err) != 0)
				return -1;
		}
	}
	if (m->name == NULL)
		m->name = dup_bytes("", 0, &m->name_len);
	if (m->addr == NULL)
		m->addr = dup_bytes("", 0, &m->addr_len);
	return 0;
}

int
members_decode(const char *body, size_t len, struct member **out,
    size_t *n, struct sbuf *err)
{
	struct member *m = NULL;
	json_t *j, *o;
	size_t i, k = 0;
	int rv = -1;

	*out = NULL;
	*n = 0;
	if ((j = cli_json_load(body, len, err)) == NULL)
		return -1;
	if (json_is_null(j)) {
		json_decref(j);
		return 0;
	}
	if (!json_is_array(j)) {
		sbuf_adds(err, "json: cannot unmarshal ");
		cli_json_what(j, false, err);
		sbuf_adds(err, " into Go value of type []*api.AgentMember");
		goto out;
	}
	m = xcalloc(json_array_size(j) + 1, sizeof(*m));
	json_array_foreach(j, i, o) {
		/* Consul's CLI would dereference a null entry and panic. */
		if (json_is_null(o))
			continue;
		if (!json_is_object(o)) {
			sbuf_adds(err, "json: cannot unmarshal ");
			cli_json_what(o, false, err);
			sbuf_adds(err,
			    " into Go value of type api.AgentMember");
			goto out;
		}
		if (member_decode(o, &m[k++], err) != 0)
			goto out;
	}
	*out = m;
	*n = k;
	m = NULL;
	rv = 0;
out:
	if (m != NULL)
		members_free(m, k);
	json_decref(j);
	return rv;
}

/* ---- the table ------------------------------------------------------ */

const char *
member_status_name(int status)
{
	static const char *const names[] = { "none", "alive", "leaving",
	    "left", "failed" };

	if (status < MEMBER_NONE || status > MEMBER_FAILED)
		return "unknown";
	return names[status];
}

/* Go's net.IP.String() of an IPv6 address that is not IPv4-mapped: the
 * first longest run of two or more zero groups becomes "::", groups in
 * lower-case hex without leading zeros. */
static void
ipv6_string(struct sbuf *b, const unsigned char *p)
{
	int e0 = -1, e1 = -1, i, j;

	for (i = 0; i < 16; i += 2) {
		j = i;
		while (j < 16 && p[j] == 0 && p[j + 1] == 0)
			j += 2;
		if (j > i && j - i > e1 - e0) {
			e0 = i;
			e1 = j;
			i = j;
		}
	}
	if (e1 - e0 <= 2)
		e0 = e1 = -1;
	for (i = 0; i < 16; i += 2) {
		if (i == e0) {
			sbuf_adds(b, "::");
			i = e1;
			if (i >= 16)
				break;
		} else if (i > 0)
			sbuf_addc(b, ':');
		sbuf_printf(b, "%x", (unsigned)(p[i] << 8 | p[i + 1]));
	}
}

void
member_addr(struct sbuf *b, const char *addr, size_t len, unsigned port)
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };
	unsigned char ip[16];
	char *s = dup_bytes(addr, len, NULL);

	/* Go's ParseIP: dotted quads (no leading zeros) or IPv6, no zone.
	 * An address that does not parse prints as nothing. */
	if (strlen(s) == len && inet_pton(AF_INET, s, ip) == 1)
		sbuf_printf(b, "%u.%u.%u.%u:%u", ip[0], ip[1], ip[2], ip[3],
		    port);
	else if (strlen(s) == len && inet_pton(AF_INET6, s, ip) == 1) {
		if (memcmp(ip, v4mapped, sizeof(v4mapped)) == 0)
			sbuf_printf(b, "%u.%u.%u.%u:%u", ip[12], ip[13], ip[14],
			    ip[15], port);
		else {
			sbuf_addc(b, '[');
			ipv6_string(b, ip);
			sbuf_printf(b, "]:%u", port);
		}
	} else
		sbuf_printf(b, ":%u", port);
	free(s);
}

/* The tags Consul sorts and prints by; "" when absent. */
struct row {
	struct member *m;
	const struct member_tag *role;
	const struct member_tag *segment;
	const struct member_tag *partition;
	const struct member_tag *dc;
};

/* Go's string comparison: bytes, then length. */
static int
bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl;
}

static int
tag_cmp(const struct member_tag *a, const struct member_tag *b)
{
	return bytes_cmp(a != NULL ? a->val : "", a != NULL ? a->val_len : 0,
	    b != NULL ? b->val : "", b != NULL ? b->val_len : 0);
}

static bool
tag_is(const struct member_tag *t, const char *s)
{
	if (t == NULL)
		return s[0] == '\0';
	return t->val_len == strlen(s) && memcmp(t->val, s, t->val_len) == 0;
}

static bool
is_default_partition(const struct member_tag *t)
{
	return tag_is(t, "") || tag_is(t, "default");
}

/* Consul's ByMemberNamePartitionAndSegment. */
static int
row_cmp(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;
	bool sa = tag_is(a->role, "consul"), sb = tag_is(b->role, "consul");
	bool da = is_default_partition(a->partition);
	bool db = is_default_partition(b->partition);
	int c;

	if (sa != sb)
		return sa ? -1 : 1;
	if (da != db)
		return da ? -1 : 1;
	if ((c = tag_cmp(a->segment, b->segment)) != 0)
		return c;
	if ((c = tag_cmp(a->partition, b->partition)) != 0)
		return c;
	return bytes_cmp(a->m->name, a->m->name_len, b->m->name,
	    b->m->name_len);
}

static void
add_tag_val(struct sbuf *l, const struct member_tag *t)
{
	if (t != NULL)
		sbuf_add(l, t->val, t->val_len);
}

static void
standard_line(struct sbuf *l, const struct row *r)
{
	const struct member_tag *build = tag_get(r->m, "build");
	const struct member_tag *vsn = tag_get(r->m, "vsn");
	const char *colon;
	bool server = tag_is(r->role, "consul");

	sbuf_add(l, r->m->name, r->m->name_len);
	sbuf_addc(l, '\x1f');
	member_addr(l, r->m->addr, r->m->addr_len, r->m->port);
	sbuf_printf(l, "\x1f%s\x1f", member_status_name(r->m->status));
	if (!server && !tag_is(r->role, "node")) {
		sbuf_adds(l, "unknown\x1f\x1f\x1f\x1f\x1f");
		return;
	}
	sbuf_adds(l, server ? "server\x1f" : "client\x1f");
	/* The build before its ':' (the version, not the commit). */
	if (build == NULL || build->val_len == 0)
		sbuf_adds(l, "< 0.3");
	else if ((colon = memchr(build->val, ':', build->val_len)) != NULL)
		sbuf_add(l, build->val, (size_t)(colon - build->val));
	else
		add_tag_val(l, build);
	sbuf_addc(l, '\x1f');
	add_tag_val(l, vsn);
	sbuf_addc(l, '\x1f');
	add_tag_val(l, r->dc);
	sbuf_addc(l, '\x1f');
	add_tag_val(l, r->partition);
	sbuf_addc(l, '\x1f');
	add_tag_val(l, r->segment);
}

static int
key_cmp(const void *pa, const void *pb)
{
	const struct member_tag *const *a = pa, *const *b = pb;

	return strcmp((*a)->key, (*b)->key);
}

/* The tags as k=v, sorted by key, joined by ','. */
static void
detailed_line(struct sbuf *l, const struct row *r)
{
	const struct member_tag **t;
	size_t n = r->m->n_tags;

	sbuf_add(l, r->m->name, r->m->name_len);
	sbuf_addc(l, '\x1f');
	member_addr(l, r->m->addr, r->m->addr_len, r->m->port);
	sbuf_printf(l, "\x1f%s\x1f", member_status_name(r->m->status));
	t = xcalloc(n + 1, sizeof(*t));
	for (size_t i = 0; i < n; i++)
		t[i] = &r->m->tags[i];
	qsort(t, n, sizeof(*t), key_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			sbuf_addc(l, ',');
		sbuf_printf(l, "%s=", t[i]->key);
		sbuf_add(l, t[i]->val, t[i]->val_len);
	}
	free(t);
}

/* What Consul's Run writes into each member's tags before filtering
 * (OSS: every partition is the default one). */
static void
complete_tags(struct member *m, const char *segment)
{
	const struct member_tag *t;

	t = tag_get(m, "partition");
	if (t == NULL || t->val_len == 0)
		tag_set(m, "partition", "default", 7);
	t = tag_get(m, "segment");
	if (strcmp(segment, "_all") == 0 && tag_is(tag_get(m, "role"),
	    "consul"))
		tag_set(m, "segment", "<all>", 5);
	else if (t == NULL || t->val_len == 0)
		tag_set(m, "segment", "<default>", 9);
}

size_t
members_render(struct member *m, size_t n, const struct members_view *v,
    struct sbuf *out)
{
	const char *segment = v->segment != NULL ? v->segment : "_all";
	struct row *rows = xcalloc(n + 1, sizeof(*rows));
	struct sbuf *lines;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		complete_tags(&m[i], segment);
		if (v->status != NULL && regexec(v->status,
		    member_status_name(m[i].status), 0, NULL, 0) != 0)
			continue;
		rows[k++].m = &m[i];
	}
	if (k == 0) {
		free(rows);
		return 0;
	}
	/* Looked up after every tag is set: tag_set may move the array. */
	for (size_t i = 0; i < k; i++) {
		rows[i].role = tag_get(rows[i].m, "role");
		rows[i].segment = tag_get(rows[i].m, "segment");
		rows[i].partition = tag_get(rows[i].m, "partition");
		rows[i].dc = tag_get(rows[i].m, "dc");
	}
	qsort(rows, k, sizeof(*rows), row_cmp);
	lines = xcalloc(k + 1, sizeof(*lines));
	for (size_t i = 0; i <= k; i++)
		sbuf_init(&lines[i]);
	sbuf_adds(&lines[0], v->detailed ? "Node\x1f" "Address\x1fStatus\x1f"
	    "Tags" : "Node\x1f" "Address\x1fStatus\x1fType\x1f" "Build\x1f"
	    "Protocol\x1f" "DC\x1fPartition\x1fSegment");
	for (size_t i = 0; i < k; i++) {
		if (v->detailed)
			detailed_line(&lines[i + 1], &rows[i]);
		else
			standard_line(&lines[i + 1], &rows[i]);
	}
	op_columnize(lines, k + 1, out);
	for (size_t i = 0; i <= k; i++)
		sbuf_free(&lines[i]);
	free(lines);
	free(rows);
	return k;
}

/* ---- the command ---------------------------------------------------- */

int
cli_members_main(int argc, char **argv)
{
	struct cli_http http;
	struct cli_client *client = NULL;
	struct cli_params q = { 0 };
	struct cli_resp r = { 0 };
	struct member *m = NULL;
	struct members_view view = { 0 };
	struct flag_def *defs;
	struct sbuf err, out;
	regex_t status_re;
	bool detailed = false, wan = false, have_re = false;
	char *status = NULL, *segment = NULL;
	size_t n = 0;
	int rest = 0, code = 1;
	struct flag_def cmd[] = {
		{ "detailed", FLAG_BOOL, &detailed,
		  "Provides detailed information about nodes.", NULL },
		{ "wan", FLAG_BOOL, &wan,
		  "If the agent is in server mode, this can be used to return "
		  "the other peers in the WAN pool.", NULL },
		{ "status", FLAG_STRING, &status,
		  "If provided, output is filtered to only nodes matching the "
		  "regular expression for status.", NULL },
		/* Consul's text, a missing space included. */
		{ "segment", FLAG_STRING, &segment,
		  "(Enterprise-only) If provided, output is filtered to only "
		  "nodes inthe given segment.", NULL },
		{ NULL, 0, NULL, NULL, NULL },
	};

	memset(&http, 0, sizeof(http));
	sbuf_init(&err);
	sbuf_init(&out);
	defs = cli_flags_build_partition(cmd, &http);
	if (cli_wants_help(argc, argv)) {
		cli_print_help(stderr, members_help, defs);
		code = 0;
		goto done;
	}
	/* Consul ignores arguments after the flags. */
	if (cli_parse_flags(defs, argc, argv, &rest) != 0)
		goto done;
	if (cli_regcomp(&status_re, status != NULL ? status : ".*",
	    &err) != 0) {
		cli_error("Failed to compile status regexp: %s", err.s);
		goto done;
	}
	have_re = true;
	if (cli_client_new(&http, &client, &err) != 0) {
		cli_error("Error connecting to Consul agent: %s", err.s);
		goto done;
	}
	cli_params_set(&q, "segment", segment != NULL ? segment : "_all");
	if (wan)
		cli_params_set(&q, "wan", "1");
	if (cli_request_ok(client, "GET", "/v1/agent/members", &q, NULL, 0,
	    NULL, &r, &err) != 0 ||
	    members_decode(r.body, r.len, &m, &n, &err) != 0) {
		cli_error("Error retrieving members: %s", err.s);
		goto done;
	}
	view.detailed = detailed;
	view.segment = segment != NULL ? segment : "_all";
	view.status = &status_re;
	if (members_render(m, n, &view, &out) == 0) {
		/* Nothing matched: no output, exit 2. */
		code = 2;
		goto done;
	}
	/* Ui.Output: the table and a newline (names may hold NULs). */
	fwrite(out.s, 1, out.len, stdout);
	fputc('\n', stdout);
	code = 0;
done:
	fflush(stdout);
	if (have_re)
		regfree(&status_re);
	members_free(m, n);
	cli_resp_free(&r);
	cli_params_free(&q);
	sbuf_free(&out);
	sbuf_free(&err);
	cli_client_free(client);
	cli_http_free(&http);
	free(status);
	free(segment);
	free(defs);
	return code;
}
