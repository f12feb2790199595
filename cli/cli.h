/* cli.h: the client side of the lictor binary, Consul's CLI commands
 * talking HTTP to an agent: the `kv` family (kv*.c), operator and
 * leave, the gossip commands (members, join, force-leave, event, keygen;
 * their shared helpers in cli_util.c), and what every such command
 * shares (cli_http.c): Consul's HTTP flags and their environment
 * defaults, a small blocking HTTP client on nng, request escaping as
 * Go's net/url does, Go-like error texts, and help texts in Consul's
 * layout. Output conventions follow mitchellh/cli as Consul uses it:
 * results on stdout, errors and help on stderr, one trailing newline
 * per message. */
#ifndef LICTOR_CLI_H
#define LICTOR_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <regex.h>

#include <jansson.h>

#include "flags.h"
#include "util.h"

/* `lictor kv ...`: argv holds the words after "kv" (argv[0] is the
 * subcommand). Returns the process exit code. */
int cli_kv_main(int argc, char **argv);

/* `lictor operator ...` (operator.c: the Raft peer commands) and
 * `lictor leave` (leave.c): argv holds the words after the command's
 * name. Each returns the process exit code. */
int cli_operator_main(int argc, char **argv);
int cli_leave_main(int argc, char **argv);

/* The gossip commands: `lictor members` (members.c), `join` (join.c),
 * `force-leave` (forceleave.c), `event` (event.c), `keygen`
 * (keygen.c). argv holds the words after the command's name; each
 * returns the process exit code. */
int cli_members_main(int argc, char **argv);
int cli_join_main(int argc, char **argv);
int cli_forceleave_main(int argc, char **argv);
int cli_event_main(int argc, char **argv);
int cli_keygen_main(int argc, char **argv);

/*
 * The HTTP options of Consul's command/flags/http.go. Every string is
 * NULL until its flag is given (flags.h owns and frees previous values;
 * cli_http_free releases them). Environment defaults are applied by
 * cli_client_new, not here, so a flag always wins:
 *   address  -http-addr, else LICTOR_HTTP_ADDR, CONSUL_HTTP_ADDR,
 *            else 127.0.0.1:8500 ("host:port" or "http://host:port[/prefix]";
 *            https:// and unix:// are refused: lictor's CLI speaks plain
 *            HTTP only)
 *   token    -token-file, -token, then LICTOR_/CONSUL_HTTP_TOKEN_FILE,
 *            LICTOR_/CONSUL_HTTP_TOKEN (Consul's precedence); sent as
 *            X-Consul-Token
 *   dc       -datacenter, sent as ?dc= on every request
 *   stale    -stale; commands that read add ?stale themselves
 *   ns, partition: Consul Enterprise's -namespace/-partition (also
 *            CONSUL_NAMESPACE/CONSUL_PARTITION), sent as ?ns=/?partition=
 * The TLS flags are accepted for command-line compatibility and only
 * matter with https, which is refused.
 */
struct cli_http {
	char *addr;
	char *token;
	char *token_file;
	char *ca_file;
	char *ca_path;
	char *client_cert;
	char *client_key;
	char *tls_server_name;
	char *datacenter;
	bool stale;
	char *ns;
	char *partition;
	int timeout_ms;		/* per request; 0 = CLI_HTTP_TIMEOUT_MS */
};

#define CLI_HTTP_TIMEOUT_MS 60000

/* Which groups of HTTP flags a command takes, as Consul merges them. */
#define CLI_FL_CLIENT	0x1	/* -http-addr -token -token-file, TLS */
#define CLI_FL_SERVER	0x2	/* -datacenter -stale */
#define CLI_FL_TENANCY	0x4	/* -namespace -partition */
#define CLI_FL_ALL	0x7

void cli_http_free(struct cli_http *h);

/*
 * Builds one flag table for a command: its own flags (cmd, NULL-name
 * terminated) plus the HTTP groups in `which`, sorted by name as Go's
 * flag package prints them. Returns a malloc'd table terminated by a
 * NULL name; the caller frees it (not the targets).
 */
struct flag_def *cli_flags_build(const struct flag_def *cmd,
    struct cli_http *h, unsigned which);

/* True when argv holds -h, -help or --help before any "--": Consul's
 * CLI library then prints the command's help and exits 0, wherever the
 * flag stands. */
bool cli_wants_help(int argc, char **argv);

/*
 * Parses flags. On a bad flag prints Go's error text and the flag list
 * to stderr and returns -1 (the command exits 1). On success returns 0
 * and sets *rest to the index of the first argument.
 */
int cli_parse_flags(const struct flag_def *defs, int argc, char **argv,
    int *rest);

/*
 * Prints a command's help as Consul's flags.Usage does: the text
 * (trimmed), then "HTTP API Options" and "Command Options" with every
 * flag's usage wrapped at 72 columns, then a newline.
 */
void cli_print_help(FILE *f, const char *text, const struct flag_def *defs);

/* Prints one message and a newline (mitchellh/cli's Ui.Info/Ui.Error). */
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Query parameters of one request; names and values are copied. */
#define CLI_MAX_PARAMS 16
struct cli_params {
	size_t n;
	struct {
		char *name;
		char *value;
	} p[CLI_MAX_PARAMS];
};
/* Sets name=value, replacing an earlier value (url.Values.Set). A
 * present-only flag is value "", sent as "name=" like Go's client. */
void cli_params_set(struct cli_params *q, const char *name,
    const char *value);
void cli_params_free(struct cli_params *q);

/* One response. body is malloc'd and NUL-terminated (it may also hold
 * NUL bytes: use len). */
struct cli_resp {
	int status;
	bool has_index;
	uint64_t index;		/* X-Consul-Index */
	char *body;
	size_t len;
	void *res;		/* nng_http_res, for cli_resp_header */
};
/* A response header (case-insensitive name) or NULL. */
const char *cli_resp_header(const struct cli_resp *r, const char *name);
void cli_resp_free(struct cli_resp *r);

struct cli_client;

/*
 * Resolves the options and environment into a client. On failure
 * returns -1 with the reason in err (the caller prints "Error connecting
 * to Consul agent: <err>", as Consul does when its api client cannot be
 * built: bad scheme, unreadable token file, https).
 */
int cli_client_new(const struct cli_http *h, struct cli_client **out,
    struct sbuf *err);
void cli_client_free(struct cli_client *c);

/*
 * One blocking request. path[0..plen) is the unescaped path
 * ("/v1/kv/" + key, may hold any byte); it is escaped as Go's url.URL
 * does for paths (RFC 3986 unreserved and "$&+,/:;=@" kept, the rest
 * %XX) after the -http-addr path prefix. Parameters are sent sorted,
 * QueryEscape'd, with the client's dc/ns/partition added. body may be
 * NULL (no body); with a body, ctype names it.
 * Returns 0 when any HTTP response arrived (check r->status), or -1 when
 * none did, with Go's text in err:
 *   Get "http://127.0.0.1:8500/v1/kv/a": dial tcp 127.0.0.1:8500:
 *   connect: connection refused
 */
int cli_do(struct cli_client *c, const char *method, const char *path,
    size_t plen, const struct cli_params *q, const void *body, size_t blen,
    const char *ctype, struct cli_resp *r, struct sbuf *err);

/* Go's api.StatusError text: "Unexpected response code: 500 (body)" with
 * the body trimmed of white space. */
void cli_status_error(const struct cli_resp *r, struct sbuf *err);

/* Runes in s[0..n), an invalid byte counting as one (Go's
 * utf8.RuneCount): the width Go's text layout code measures. */
size_t cli_rune_count(const char *s, size_t n);

/* Go's %q of a string (used in the texts above and in flag errors). */
void cli_quote(struct sbuf *b, const char *s, size_t n);

/*
 * Reads a command's DATA argument as Consul's helpers.LoadDataSource:
 * "@file" reads the file, "-" reads stdin, anything else (including
 * "-x") is the data itself. Returns 0 with a malloc'd buffer, or -1 with
 * Go's text in err ("Failed to read file: open x: no such file or
 * directory").
 */
int cli_load_data(const char *arg, char **data, size_t *len,
    struct sbuf *err);

/*
 * ryanuber/columnize's Format as Consul calls it (operator.c): lines of
 * fields joined by '\x1f' in, a table out (columns padded to the widest
 * cell in runes, glued by two spaces, no newline after the last line).
 * list-peers and members print with it.
 */
void op_columnize(const struct sbuf *lines, size_t n, struct sbuf *out);

/* ---- cli_util.c: what the gossip commands share ---- */

/* cli_flags_build with the client flags and Consul's PartitionFlag()
 * (-partition without -namespace). The caller frees the table. */
struct flag_def *cli_flags_build_partition(const struct flag_def *cmd,
    struct cli_http *h);

/* cli_do, then api.requireOK: -1 with Go's text in err when no answer
 * came or the status was not 200. r is the caller's to free either way. */
int cli_request_ok(struct cli_client *c, const char *method,
    const char *path, const struct cli_params *q, const void *body,
    size_t blen, const char *ctype, struct cli_resp *r, struct sbuf *err);

/* One JSON value as the api package's decodeBody reads it; NULL with
 * Go's text ("EOF", "unexpected EOF") or jansson's in err. The caller
 * owns the result. */
json_t *cli_json_load(const char *body, size_t len, struct sbuf *err);
/* How Go's UnmarshalTypeError names a value ("number 7" with literal). */
void cli_json_what(const json_t *v, bool literal, struct sbuf *b);

/*
 * Compiles a filter regexp where Consul uses Go's regexp: POSIX
 * extended syntax (regcomp REG_EXTENDED | REG_NOSUB; so no \d or (?i)).
 * On failure returns -1 with Go's text in err: "error parsing regexp:
 * missing closing ): `(`" (the quoted part follows Go for the common
 * errors, the whole expression otherwise). On success the caller
 * regfree()s re.
 */
int cli_regcomp(regex_t *re, const char *expr, struct sbuf *err);

#endif
