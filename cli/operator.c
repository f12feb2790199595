/* operator.c: `lictor operator` and `lictor operator raft ...`, after
 * Consul's command/operator and command/operator/raft: the group help
 * (mitchellh/cli's, exit 1 unless asked for), list-peers with its
 * columnize table, remove-peer and transfer-leader. The decoding of
 * the Raft configuration and the table are pure functions, tested in
 * tests/unit/cli_operator_test.c. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

/* One api.RaftServer and api.RaftConfiguration. Strings are malloc'd,
 * NUL-terminated, and carry lengths (JSON may hold NULs). */
struct op_str {
	char *s;
	size_t len;
};
struct op_raft_server {
	struct op_str id;
	struct op_str node;
	struct op_str address;
	struct op_str protocol;
	bool leader;
	bool voter;
	uint64_t last_index;
};
struct op_raft_config {
	struct op_raft_server *servers;
	size_t n;
	uint64_t index;
};

/* Not static for tests/unit/cli_operator_test.c, which repeats these
 * prototypes: the pure half of list-peers (a configuration response in,
 * Consul's table or its decode error out), the decoding of
 * transfer-leader's answer, and the column layout. */
int op_peers_render(const char *body, size_t len, struct sbuf *out,
    struct sbuf *err);
int op_transfer_decode(const char *body, size_t len, bool *success,
    struct sbuf *err);
void op_columnize(const struct sbuf *lines, size_t n, struct sbuf *out);

/* ---- help ---------------------------------------------------------- */

static const char operator_help[] =
"Usage: lictor operator <subcommand> [options]\n"
"\n"
"  Provides cluster-level tools for lictor operators, such as interacting with\n"
"  the Raft subsystem. NOTE: Use this command with extreme caution, as improper\n"
"  use could lead to a lictor outage and even loss of data.\n"
"\n"
"  If ACLs are enabled then a token with operator privileges may be required in\n"
"  order to use this command. Requests are forwarded internally to the leader\n"
"  if required, so this can be run from any lictor node in a cluster.\n"
"\n"
"  Run lictor operator <subcommand> with no arguments for help on that\n"
"  subcommand.\n";

static const char raft_help[] =
"Usage: lictor operator raft <subcommand> [options]\n"
"\n"
"The Raft operator command is used to interact with lictor's Raft subsystem. The\n"
"command can be used to verify Raft peers or in rare cases to recover quorum by\n"
"removing invalid peers.\n";

static const char list_peers_help[] =
"Usage: lictor operator raft list-peers [options]\n"
"\n"
"  Displays the current Raft peer configuration.\n";

static const char remove_peer_help[] =
"Usage: lictor operator raft remove-peer [options]\n"
"\n"
"  Remove the lictor server with given -address from the Raft configuration.\n"
"\n"
"  There are rare cases where a peer may be left behind in the Raft quorum even\n"
"  though the server is no longer present and known to the cluster. This command\n"
"  can be used to remove the failed server so that it is no longer affects the Raft\n"
"  quorum. If the server still shows in the output of the \"lictor members\" command,\n"
"  it is preferable to clean up by simply running \"lictor force-leave\" instead of\n"
"  this command.\n";

static const char transfer_leader_help[] =
"Usage: lictor operator raft transfer-leader [options]\n"
"\n"
"  Transfer raft leadership to another node.\n";

struct op_sub {
	const char *name;
	const char *synopsis;
	int (*main)(int, char **);
};

/*
 * mitchellh/cli's help for a command with subcommands: its help, then
 * the subcommands, each name padded to the longest full name ("operator
 * raft transfer-leader") less its own full name. `name` is the group's
 * full name ("operator raft").
 */
static void
print_group_help(const char *help, const char *name,
    const struct op_sub *subs, size_t n)
{
	size_t longest = 0, pad;

	for (size_t i = 0; i < n; i++)
		if (strlen(name) + 1 + strlen(subs[i].name) > longest)
			longest = strlen(name) + 1 + strlen(subs[i].name);
	fputs(help, stderr);
	fputs("\nSubcommands:\n", stderr);
	for (size_t i = 0; i < n; i++) {
		pad = longest - (strlen(name) + 1 + strlen(subs[i].name));
		fprintf(stderr, "    %s%*s    %s\n", subs[i].name, (int)pad, "",
		    subs[i].synopsis);
	}
}

/* Runs the subcommand argv[0] names; with none (or an unknown word, or
 * a flag first) the group shows its help: success when asked for, else
 * Consul's RunResultHelp, exit 1. */
static int
run_group(const char *help, const char *name, const struct op_sub *subs,
    size_t n, int argc, char **argv)
{
	int rv;

	if (argc > 0) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(argv[0], subs[i].name) == 0) {
				rv = subs[i].main(argc - 1, argv + 1);
				fflush(stdout);
				return rv;
			}
		}
	}
	print_group_help(help, name, subs, n);
	return cli_wants_help(argc, argv) ? 0 : 1;
}

/* ---- command scaffolding ------------------------------------------- */

struct raft_cmd {
	const char *help;
	struct flag_def *defs;
	struct cli_http http;
	struct cli_client *client;
};

/*
 * The start of every `operator raft` command: help (-h anywhere, exit
 * 0), flags (client and server HTTP flags, as Consul merges them), the
 * client. Returns -1 with *code set when the command is done.
 */
static int
raft_cmd_start(struct raft_cmd *c, const struct flag_def *cmd_defs,
    int argc, char **argv, int *code)
{
	struct lerr e = { "" };
	struct sbuf err;
	int rest = 0, rv;

	memset(&c->http, 0, sizeof(c->http));
	c->client = NULL;
	c->defs = cli_flags_build(cmd_defs, &c->http,
	    CLI_FL_CLIENT | CLI_FL_SERVER);
	if (cli_wants_help(argc, argv)) {
		cli_print_help(stderr, c->help, c->defs);
		*code = 0;
		return -1;
	}
	if ((rv = flags_parse(c->defs, argc, argv, &rest, &e)) != 0) {
		/* Go's FlagSet prints the error and its usage; a help flag
		 * cli_wants_help missed ("-h=1") is flag.ErrHelp, which
		 * these commands answer with 0. Any other error Consul's
		 * Run repeats. */
		if (e.msg[0] != '\0')
			fprintf(stderr, "%s\n", e.msg);
		fprintf(stderr, "Usage:\n");
		flags_usage(c->defs, stderr);
		if (rv == -LE_STATE && e.msg[0] == '\0') {
			*code = 0;
			return -1;
		}
		cli_error("Failed to parse args: %s", e.msg);
		*code = 1;
		return -1;
	}
	/* Consul ignores arguments after the flags here. */
	sbuf_init(&err);
	if (cli_client_new(&c->http, &c->client, &err) != 0) {
		cli_error("Error initializing client: %s", err.s);
		sbuf_free(&err);
		*code = 1;
		return -1;
	}
	sbuf_free(&err);
	return 0;
}

static void
raft_cmd_end(struct raft_cmd *c)
{
	cli_client_free(c->client);
	c->client = NULL;
	cli_http_free(&c->http);
	free(c->defs);
	c->defs = NULL;
}

/* One request; Go's api client error text in err when it failed or the
 * status was not 200 (requireOK). */
static int
raft_request(struct raft_cmd *c, const char *method, const char *path,
    const struct cli_params *q, struct cli_resp *r, struct sbuf *err)
{
	if (cli_do(c->client, method, path, strlen(path), q, NULL, 0, NULL,
	    r, err) != 0)
		return -1;
	if (r->status != 200) {
		cli_status_error(r, err);
		return -1;
	}
	return 0;
}

/* ---- JSON as Go's api package decodes it ---------------------------- */

/* "json: cannot unmarshal <what> into Go struct field <Struct>.<path>
 * of type <type>" (Go 1.20 and later name the whole path). */
static int
type_error(const json_t *v, bool literal, const char *strct,
    const char *path, const char *type, struct sbuf *err)
{
	sbuf_adds(err, "json: cannot unmarshal ");
	cli_json_what(v, literal, err);
	sbuf_printf(err, " into Go struct field %s.%s of type %s", strct, path,
	    type);
	return -1;
}

static int
value_error(const json_t *v, const char *type, struct sbuf *err)
{
	sbuf_adds(err, "json: cannot unmarshal ");
	cli_json_what(v, false, err);
	sbuf_printf(err, " into Go value of type %s", type);
	return -1;
}

static void
str_set(struct op_str *d, const json_t *v)
{
	free(d->s);
	d->len = json_string_length(v);
	d->s = xmalloc(d->len + 1);
	memcpy(d->s, json_string_value(v), d->len);
	d->s[d->len] = '\0';
}

/* null leaves a Go value alone; so does it here. */
static int
get_str(const json_t *v, struct op_str *d, const char *strct,
    const char *path, struct sbuf *err)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return type_error(v, false, strct, path, "string", err);
	str_set(d, v);
	return 0;
}

static int
get_bool(const json_t *v, bool *d, const char *strct, const char *path,
    struct sbuf *err)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return type_error(v, false, strct, path, "bool", err);
	*d = json_is_true(v);
	return 0;
}

static int
get_u64(const json_t *v, uint64_t *d, const char *strct, const char *path,
    struct sbuf *err)
{
	if (json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*d = (uint64_t)json_integer_value(v);
		return 0;
	}
	return type_error(v, json_is_number(v), strct, path, "uint64", err);
}

/* Go matches JSON names to fields without regard to case. */
static int
server_decode(json_t *o, struct op_raft_server *s, struct sbuf *err)
{
	static const char st[] = "RaftServer";
	const char *name;
	json_t *v;
	int rv = 0;

	json_object_foreach(o, name, v) {
		if (strcasecmp(name, "ID") == 0)
			rv = get_str(v, &s->id, st, "Servers.ID", err);
		else if (strcasecmp(name, "Node") == 0)
			rv = get_str(v, &s->node, st, "Servers.Node", err);
		else if (strcasecmp(name, "Address") == 0)
			rv = get_str(v, &s->address, st, "Servers.Address",
			    err);
		else if (strcasecmp(name, "ProtocolVersion") == 0)
			rv = get_str(v, &s->protocol, st,
			    "Servers.ProtocolVersion", err);
		else if (strcasecmp(name, "Leader") == 0)
			rv = get_bool(v, &s->leader, st, "Servers.Leader", err);
		else if (strcasecmp(name, "Voter") == 0)
			rv = get_bool(v, &s->voter, st, "Servers.Voter", err);
		else if (strcasecmp(name, "LastIndex") == 0)
			rv = get_u64(v, &s->last_index, st, "Servers.LastIndex",
			    err);
		if (rv != 0)
			return -1;
	}
	return 0;
}

static void
str_empty(struct op_str *d)
{
	if (d->s == NULL) {
		d->s = xstrdup("");
		d->len = 0;
	}
}

static void
op_raft_config_free(struct op_raft_config *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->servers[i].id.s);
		free(c->servers[i].node.s);
		free(c->servers[i].address.s);
		free(c->servers[i].protocol.s);
	}
	free(c->servers);
	c->servers = NULL;
	c->n = 0;
}

static int
op_raft_config_decode(const char *body, size_t len,
    struct op_raft_config *out, struct sbuf *err)
{
	static const char st[] = "RaftConfiguration";
	const char *name;
	json_t *j, *v, *sv;
	size_t i, k;
	int rv = -1;

	memset(out, 0, sizeof(*out));
	if ((j = cli_json_load(body, len, err)) == NULL)
		return -1;
	if (json_is_null(j)) {
		json_decref(j);
		return 0;
	}
	if (!json_is_object(j)) {
		value_error(j, "api.RaftConfiguration", err);
		goto out;
	}
	json_object_foreach(j, name, v) {
		if (strcasecmp(name, "Index") == 0) {
			if (get_u64(v, &out->index, st, "Index", err) != 0)
				goto out;
			continue;
		}
		if (strcasecmp(name, "Servers") != 0 || json_is_null(v))
			continue;
		if (!json_is_array(v)) {
			type_error(v, false, st, "Servers",
			    "[]*api.RaftServer", err);
			goto out;
		}
		/* A later "Servers" replaces an earlier one, as in Go. */
		op_raft_config_free(out);
		out->servers = xcalloc(json_array_size(v) + 1,
		    sizeof(*out->servers));
		k = 0;
		json_array_foreach(v, i, sv) {
			/* Consul's CLI would dereference a null entry and
			 * panic; it is skipped here. */
			if (json_is_null(sv))
				continue;
			if (!json_is_object(sv)) {
				type_error(sv, false, st, "Servers",
				    "api.RaftServer", err);
				goto out;
			}
			out->n = ++k;
			if (server_decode(sv, &out->servers[k - 1], err) != 0)
				goto out;
		}
	}
	for (i = 0; i < out->n; i++) {
		str_empty(&out->servers[i].id);
		str_empty(&out->servers[i].node);
		str_empty(&out->servers[i].address);
		str_empty(&out->servers[i].protocol);
	}
	rv = 0;
out:
	if (rv != 0)
		op_raft_config_free(out);
	json_decref(j);
	return rv;
}

int
op_transfer_decode(const char *body, size_t len, bool *success,
    struct sbuf *err)
{
	const char *name;
	json_t *j, *v;
	int rv = -1;

	*success = false;
	if ((j = cli_json_load(body, len, err)) == NULL)
		return -1;
	if (json_is_null(j)) {
		json_decref(j);
		return 0;
	}
	if (!json_is_object(j)) {
		value_error(j, "api.TransferLeaderResponse", err);
		goto out;
	}
	json_object_foreach(j, name, v) {
		if (strcasecmp(name, "Success") == 0 &&
		    get_bool(v, success, "TransferLeaderResponse", "Success",
		    err) != 0)
			goto out;
	}
	rv = 0;
out:
	json_decref(j);
	return rv;
}

/* ---- the table ------------------------------------------------------ */

#define COL_DELIM '\x1f'

/* The length of the Unicode white space at s (n bytes left), or 0: the
 * runes Go's strings.TrimSpace removes. */
static size_t
go_space(const unsigned char *s, size_t n)
{
	if (n >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;
	if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
		return 3;			/* U+1680 */
	/* U+2000-200A, U+2028, U+2029, U+202F */
	if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 &&
	    ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 ||
	    s[2] == 0xaf))
		return 3;
	if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
		return 3;			/* U+205F */
	if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3;			/* U+3000 */
	return 0;
}

/* The end of s[0..n) without its trailing white space. A byte at a
 * time is enough: every white space rune starts with a byte that never
 * continues another rune. */
static size_t
trim_right(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, end = 0, sp;

	while (i < n) {
		if ((sp = go_space(p + i, n - i)) > 0)
			i += sp;
		else
			end = ++i;
	}
	return end;
}

struct field {
	const char *s;
	size_t len;
};

/* ryanuber/columnize's elementsFromLine: split at the delimiter, each
 * piece trimmed. Returns a malloc'd array. */
static struct field *
split_line(const struct sbuf *l, size_t *nf)
{
	struct field *f;
	const char *p = l->s, *end = l->s + l->len, *d;
	size_t n = 1, k = 0, sp;

	for (size_t i = 0; i < l->len; i++)
		if (l->s[i] == COL_DELIM)
			n++;
	f = xcalloc(n, sizeof(*f));
	for (;;) {
		d = memchr(p, COL_DELIM, (size_t)(end - p));
		if (d == NULL)
			d = end;
		while (p < d && (sp = go_space((const unsigned char *)p,
		    (size_t)(d - p))) > 0)
			p += sp;
		f[k].s = p;
		f[k].len = trim_right(p, (size_t)(d - p));
		k++;
		if (d == end)
			break;
		p = d + 1;
	}
	*nf = k;
	return f;
}

/*
 * ryanuber/columnize's Format with Consul's config (Delim "\x1f", Glue
 * "  "): every column but a line's last padded to the widest cell in
 * runes, as Go's %-*s counts; lines end in "\n" except the last.
 */
void
op_columnize(const struct sbuf *lines, size_t n, struct sbuf *out)
{
	struct field **f = xcalloc(n + 1, sizeof(*f));
	size_t *nf = xcalloc(n + 1, sizeof(*nf));
	size_t *w, ncol = 0, r;

	for (size_t i = 0; i < n; i++) {
		f[i] = split_line(&lines[i], &nf[i]);
		if (nf[i] > ncol)
			ncol = nf[i];
	}
	w = xcalloc(ncol + 1, sizeof(*w));
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < nf[i]; c++)
			if ((r = cli_rune_count(f[i][c].s, f[i][c].len)) > w[c])
				w[c] = r;
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < nf[i]; c++) {
			sbuf_add(out, f[i][c].s, f[i][c].len);
			if (c + 1 == nf[i])
				break;
			for (r = cli_rune_count(f[i][c].s, f[i][c].len);
			    r < w[c]; r++)
				sbuf_addc(out, ' ');
			sbuf_adds(out, "  ");
		}
		if (i + 1 < n)
			sbuf_addc(out, '\n');
	}
	for (size_t i = 0; i < n; i++)
		free(f[i]);
	free(f);
	free(nf);
	free(w);
}

/* Go's map from ID to LastIndex: a repeated ID takes the last one. */
static uint64_t
last_index_of(const struct op_raft_config *c, const struct op_str *id)
{
	uint64_t li = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->servers[i].id.len == id->len &&
		    memcmp(c->servers[i].id.s, id->s, id->len) == 0)
			li = c->servers[i].last_index;
	return li;
}

/*
 * Consul's raftListPeers (the release that reads LastIndex from the
 * configuration itself): Node, ID, Address, State, Voter, RaftProtocol,
 * Commit Index, Trails Leader By. The lag is uint64 arithmetic, so a
 * follower ahead of the leader wraps as in Go.
 */
static void
op_peers_table(const struct op_raft_config *c, struct sbuf *out)
{
	struct sbuf *lines = xcalloc(c->n + 1, sizeof(*lines));
	uint64_t leader_last = 0, li, behind;
	const struct op_raft_server *s;

	for (size_t i = 0; i < c->n; i++)
		if (c->servers[i].leader)
			leader_last = last_index_of(c, &c->servers[i].id);
	sbuf_init(&lines[0]);
	sbuf_adds(&lines[0], "Node\x1fID\x1f" "Address\x1fState\x1fVoter"
	    "\x1fRaftProtocol\x1f" "Commit Index\x1fTrails Leader By");
	for (size_t i = 0; i < c->n; i++) {
		struct sbuf *l = &lines[i + 1];

		s = &c->servers[i];
		li = last_index_of(c, &s->id);
		behind = leader_last - li;
		sbuf_init(l);
		sbuf_add(l, s->node.s, s->node.len);
		sbuf_addc(l, COL_DELIM);
		sbuf_add(l, s->id.s, s->id.len);
		sbuf_addc(l, COL_DELIM);
		sbuf_add(l, s->address.s, s->address.len);
		sbuf_printf(l, "\x1f%s\x1f%s\x1f", s->leader ? "leader" :
		    "follower", s->voter ? "true" : "false");
		if (s->protocol.len == 0)
			sbuf_adds(l, "<=1");
		else
			sbuf_add(l, s->protocol.s, s->protocol.len);
		sbuf_printf(l, "\x1f%llu\x1f", (unsigned long long)li);
		if (s->leader)
			sbuf_addc(l, '-');
		else
			sbuf_printf(l, "%llu %s", (unsigned long long)behind,
			    behind == 1 ? "commit" : "commits");
	}
	op_columnize(lines, c->n + 1, out);
	for (size_t i = 0; i < c->n + 1; i++)
		sbuf_free(&lines[i]);
	free(lines);
}

int
op_peers_render(const char *body, size_t len, struct sbuf *out,
    struct sbuf *err)
{
	struct op_raft_config cfg;

	if (op_raft_config_decode(body, len, &cfg, err) != 0)
		return -1;
	op_peers_table(&cfg, out);
	op_raft_config_free(&cfg);
	return 0;
}

/* ---- list-peers ----------------------------------------------------- */

static int
list_peers_main(int argc, char **argv)
{
	struct raft_cmd c = { .help = list_peers_help };
	struct cli_params q = { 0 };
	struct cli_resp r = { 0 };
	struct sbuf err, out;
	int code = 1;
	struct flag_def defs[] = { { .name = NULL } };

	sbuf_init(&err);
	sbuf_init(&out);
	if (raft_cmd_start(&c, defs, argc, argv, &code) != 0)
		goto done;
	code = 1;
	if (c.http.stale)
		cli_params_set(&q, "stale", "");
	if (raft_request(&c, "GET", "/v1/operator/raft/configuration", &q, &r,
	    &err) != 0 || op_peers_render(r.body, r.len, &out, &err) != 0) {
		cli_error("Error getting peers: Failed to retrieve raft "
		    "configuration: %s", err.s);
		goto done;
	}
	fwrite(out.s, 1, out.len, stdout);
	fputc('\n', stdout);
	code = 0;
done:
	sbuf_free(&out);
	sbuf_free(&err);
	cli_resp_free(&r);
	cli_params_free(&q);
	raft_cmd_end(&c);
	return code;
}

/* ---- remove-peer ---------------------------------------------------- */

static int
remove_peer_main(int argc, char **argv)
{
	struct raft_cmd c = { .help = remove_peer_help };
	struct cli_params q = { 0 };
	struct cli_resp r = { 0 };
	struct sbuf err, quoted;
	char *address = NULL, *id = NULL;
	bool by_addr;
	int code = 1;
	struct flag_def defs[] = {
		{ .name = "address", .type = FLAG_STRING, .target = &address,
		  .usage = "The address to remove from the Raft "
		  "configuration." },
		{ .name = "id", .type = FLAG_STRING, .target = &id,
		  .usage = "The ID to remove from the Raft configuration." },
		{ .name = NULL },
	};

	sbuf_init(&err);
	sbuf_init(&quoted);
	if (raft_cmd_start(&c, defs, argc, argv, &code) != 0)
		goto done;
	code = 1;
	by_addr = address != NULL && address[0] != '\0';
	if (!by_addr && (id == NULL || id[0] == '\0')) {
		cli_error("Error removing peer: an address or id is required "
		    "for the peer to remove");
		goto done;
	}
	if (by_addr && id != NULL && id[0] != '\0') {
		cli_error("Error removing peer: cannot give both an address "
		    "and id");
		goto done;
	}
	cli_params_set(&q, by_addr ? "address" : "id", by_addr ? address : id);
	if (raft_request(&c, "DELETE", "/v1/operator/raft/peer", &q, &r,
	    &err) != 0) {
		cli_error("Error removing peer: %s", err.s);
		goto done;
	}
	if (by_addr)
		cli_quote(&quoted, address, strlen(address));
	else
		cli_quote(&quoted, id, strlen(id));
	cli_info("Removed peer with %s %s", by_addr ? "address" : "id",
	    quoted.s);
	code = 0;
done:
	free(address);
	free(id);
	sbuf_free(&quoted);
	sbuf_free(&err);
	cli_resp_free(&r);
	cli_params_free(&q);
	raft_cmd_end(&c);
	return code;
}

/* ---- transfer-leader ------------------------------------------------ */

static int
transfer_leader_main(int argc, char **argv)
{
	struct raft_cmd c = { .help = transfer_leader_help };
	struct cli_params q = { 0 };
	struct cli_resp r = { 0 };
	struct sbuf err;
	char *id = NULL;
	bool success = false;
	int code = 1;
	struct flag_def defs[] = {
		{ .name = "id", .type = FLAG_STRING, .target = &id,
		  .usage = "The ID of the node to transfer leadership to." },
		{ .name = NULL },
	};

	sbuf_init(&err);
	if (raft_cmd_start(&c, defs, argc, argv, &code) != 0)
		goto done;
	code = 1;
	/* Consul sends its query options, -stale included, on this POST. */
	if (c.http.stale)
		cli_params_set(&q, "stale", "");
	if (id != NULL && id[0] != '\0')
		cli_params_set(&q, "id", id);
	if (raft_request(&c, "POST", "/v1/operator/raft/transfer-leader", &q,
	    &r, &err) != 0 ||
	    op_transfer_decode(r.body, r.len, &success, &err) != 0) {
		/* Consul wraps with "%w" after no colon. */
		cli_error("Error transfering leadership: Failed to transfer "
		    "leadership %s", err.s);
		goto done;
	}
	if (!success) {
		cli_error("Error transfering leadership: Failed to transfer "
		    "leadership");
		goto done;
	}
	cli_info("Success");
	code = 0;
done:
	free(id);
	sbuf_free(&err);
	cli_resp_free(&r);
	cli_params_free(&q);
	raft_cmd_end(&c);
	return code;
}

/* ---- the groups ----------------------------------------------------- */

static const struct op_sub raft_subs[] = {
	/* Sorted: the help lists them in this order. */
	{ "list-peers", "Display the current Raft peer configuration",
	  list_peers_main },
	{ "remove-peer", "Remove a lictor server from the Raft configuration",
	  remove_peer_main },
	{ "transfer-leader", "Transfer raft leadership to another node",
	  transfer_leader_main },
};

static int
raft_main(int argc, char **argv)
{
	return run_group(raft_help, "operator raft", raft_subs,
	    sizeof(raft_subs) / sizeof(raft_subs[0]), argc, argv);
}

static const struct op_sub operator_subs[] = {
	{ "raft", "Provides cluster-level tools for lictor operators",
	  raft_main },
};

int
cli_operator_main(int argc, char **argv)
{
	return run_group(operator_help, "operator", operator_subs,
	    sizeof(operator_subs) / sizeof(operator_subs[0]), argc, argv);
}
