/* cli_http.c: what every HTTP-speaking CLI command shares: Consul's HTTP
 * flags (command/flags/http.go) with their environment defaults, help
 * texts laid out as Consul's flags.Usage does, a blocking HTTP client on
 * nng's HTTP client, and the escaping and error texts of Go's net/url
 * and net/http, because operators' scripts match Consul's messages. */
#include "cli.h"
#include "base64.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#ifndef LICTOR_VERSION
#define LICTOR_VERSION "dev"
#endif

/* ---- flags -------------------------------------------------------- */

static const struct http_flag {
	const char *name;
	enum flag_type type;
	size_t off;
	unsigned group;
	const char *usage;
} http_flags[] = {
	{ "http-addr", FLAG_STRING, offsetof(struct cli_http, addr),
	  CLI_FL_CLIENT,
	  "The `address` and port of the lictor HTTP agent. The value can be "
	  "an IP address or DNS address, but it must also include the port. "
	  "This can also be specified via the LICTOR_HTTP_ADDR or "
	  "CONSUL_HTTP_ADDR environment variable. The default value is "
	  "http://127.0.0.1:8500. HTTPS is not supported by lictor's CLI." },
	{ "token", FLAG_STRING, offsetof(struct cli_http, token),
	  CLI_FL_CLIENT,
	  "ACL token to use in the request. This can also be specified via "
	  "the LICTOR_HTTP_TOKEN or CONSUL_HTTP_TOKEN environment variable. "
	  "If unspecified, the query will default to the token of the agent "
	  "at the HTTP address." },
	{ "token-file", FLAG_STRING, offsetof(struct cli_http, token_file),
	  CLI_FL_CLIENT,
	  "File containing the ACL token to use in the request instead of "
	  "one specified via the -token argument or CONSUL_HTTP_TOKEN "
	  "environment variable. This can also be specified via the "
	  "LICTOR_HTTP_TOKEN_FILE or CONSUL_HTTP_TOKEN_FILE environment "
	  "variable." },
	{ "ca-file", FLAG_STRING, offsetof(struct cli_http, ca_file),
	  CLI_FL_CLIENT,
	  "Path to a CA file to use for TLS when communicating with the "
	  "agent. Accepted for compatibility with Consul; lictor's CLI does "
	  "not speak HTTPS." },
	{ "ca-path", FLAG_STRING, offsetof(struct cli_http, ca_path),
	  CLI_FL_CLIENT,
	  "Path to a directory of CA certificates to use for TLS when "
	  "communicating with the agent. Accepted for compatibility with "
	  "Consul; lictor's CLI does not speak HTTPS." },
	{ "client-cert", FLAG_STRING, offsetof(struct cli_http, client_cert),
	  CLI_FL_CLIENT,
	  "Path to a client cert file to use for TLS when 'verify_incoming' "
	  "is enabled. Accepted for compatibility with Consul; lictor's CLI "
	  "does not speak HTTPS." },
	{ "client-key", FLAG_STRING, offsetof(struct cli_http, client_key),
	  CLI_FL_CLIENT,
	  "Path to a client key file to use for TLS when 'verify_incoming' "
	  "is enabled. Accepted for compatibility with Consul; lictor's CLI "
	  "does not speak HTTPS." },
	{ "tls-server-name", FLAG_STRING,
	  offsetof(struct cli_http, tls_server_name), CLI_FL_CLIENT,
	  "The server name to use as the SNI host when connecting via TLS. "
	  "Accepted for compatibility with Consul; lictor's CLI does not "
	  "speak HTTPS." },
	{ "datacenter", FLAG_STRING, offsetof(struct cli_http, datacenter),
	  CLI_FL_SERVER,
	  "Name of the datacenter to query. If unspecified, this will "
	  "default to the datacenter of the queried agent." },
	{ "stale", FLAG_BOOL, offsetof(struct cli_http, stale), CLI_FL_SERVER,
	  "Permit any server (non-leader) to respond to this request. This "
	  "allows for lower latency and higher throughput, but can result in "
	  "stale data. This option has no effect on non-read operations. The "
	  "default value is false." },
	{ "namespace", FLAG_STRING, offsetof(struct cli_http, ns),
	  CLI_FL_TENANCY,
	  "Specifies the namespace to query. If not provided, the namespace "
	  "will be inferred from the request's ACL token, or will default to "
	  "the `default` namespace. Namespaces are a Consul Enterprise "
	  "feature." },
	{ "partition", FLAG_STRING, offsetof(struct cli_http, partition),
	  CLI_FL_TENANCY,
	  "Specifies the admin partition to query. If not provided, the admin "
	  "partition will be inferred from the request's ACL token, or will "
	  "default to the `default` admin partition. Admin Partitions are a "
	  "Consul Enterprise feature." },
};
#define N_HTTP_FLAGS (sizeof(http_flags) / sizeof(http_flags[0]))

static const struct http_flag *
http_flag_find(const char *name)
{
	for (size_t i = 0; i < N_HTTP_FLAGS; i++)
		if (strcmp(http_flags[i].name, name) == 0)
			return &http_flags[i];
	return NULL;
}

void
cli_http_free(struct cli_http *h)
{
	for (size_t i = 0; i < N_HTTP_FLAGS; i++) {
		if (http_flags[i].type == FLAG_STRING) {
			char **p = (char **)((char *)h + http_flags[i].off);

			free(*p);
			*p = NULL;
		}
	}
}

static int
def_cmp(const void *a, const void *b)
{
	const struct flag_def *x = a, *y = b;

	return strcmp(x->name, y->name);
}

struct flag_def *
cli_flags_build(const struct flag_def *cmd, struct cli_http *h,
    unsigned which)
{
	struct flag_def *defs;
	size_t n = 0, ncmd = 0;

	while (cmd != NULL && cmd[ncmd].name != NULL)
		ncmd++;
	defs = xcalloc(ncmd + N_HTTP_FLAGS + 1, sizeof(*defs));
	for (size_t i = 0; i < ncmd; i++)
		defs[n++] = cmd[i];
	for (size_t i = 0; i < N_HTTP_FLAGS; i++) {
		if ((http_flags[i].group & which) == 0)
			continue;
		defs[n].name = http_flags[i].name;
		defs[n].type = http_flags[i].type;
		defs[n].target = (char *)h + http_flags[i].off;
		defs[n].usage = http_flags[i].usage;
		n++;
	}
	/* Go's flag package lists flags sorted by name. */
	qsort(defs, n, sizeof(*defs), def_cmp);
	defs[n].name = NULL;
	return defs;
}

bool
cli_wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "-help") == 0 ||
		    strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

int
cli_parse_flags(const struct flag_def *defs, int argc, char **argv,
    int *rest)
{
	struct lerr e = { "" };

	if (flags_parse(defs, argc, argv, rest, &e) == 0)
		return 0;
	/* Go's FlagSet with ContinueOnError: the error, then its usage. */
	if (e.msg[0] != '\0')
		fprintf(stderr, "%s\n", e.msg);
	fprintf(stderr, "Usage:\n");
	flags_usage(defs, stderr);
	return -1;
}

/* ---- help --------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at p (n bytes left), or 0.
 * Go's rules: no overlongs, no surrogates, nothing past U+10FFFF. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len > n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if (p[k] < 0x80 || p[k] > 0xbf)
			return 0;
	return len;
}

size_t
cli_rune_count(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, r = 0, len;

	while (i < n) {
		len = utf8_seq(p + i, n - i);
		i += len > 0 ? len : 1;
		r++;
	}
	return r;
}

/*
 * Writes s wrapped at lim columns, each line prefixed by pad spaces, with
 * the minimum-raggedness algorithm of github.com/kr/text (Wrap), which
 * Consul's help uses: words split on single spaces, cost is the square
 * of each line's slack, overlong lines pay an extra penalty.
 */
static void
wrap_text(FILE *f, const char *s, int lim, int pad)
{
	const long long pen = 100000;
	size_t n = 0, i, j, start, end;
	const char **w;
	size_t *wl, *wid, *nbrk;
	long long *cost;
	char *t;

	/* TrimSpace, then newlines become spaces. */
	while (*s != '\0' && isspace((unsigned char)*s))
		s++;
	end = strlen(s);
	while (end > 0 && isspace((unsigned char)s[end - 1]))
		end--;
	t = xmalloc(end + 1);
	memcpy(t, s, end);
	t[end] = '\0';
	for (i = 0; i < end; i++)
		if (t[i] == '\n')
			t[i] = ' ';
	for (i = 0, n = 1; i < end; i++)
		if (t[i] == ' ')
			n++;
	w = xcalloc(n, sizeof(*w));
	wl = xcalloc(n, sizeof(*wl));
	wid = xcalloc(n, sizeof(*wid));
	nbrk = xcalloc(n, sizeof(*nbrk));
	cost = xcalloc(n, sizeof(*cost));
	for (i = 0, j = 0, start = 0; i <= end; i++) {
		if (i == end || t[i] == ' ') {
			w[j] = t + start;
			wl[j] = i - start;
			wid[j] = cli_rune_count(t + start, i - start);
			j++;
			start = i + 1;
		}
	}
	for (size_t a = n; a-- > 0;) {
		long long len = 0;

		for (size_t b = a; b < n; b++)
			len += (long long)wid[b] + (b > a ? 1 : 0);
		cost[a] = 0x7fffffff;
		if (len <= lim || a == n - 1) {
			cost[a] = 0;
			nbrk[a] = n;
			continue;
		}
		len = 0;
		for (size_t b = a + 1; b < n; b++) {
			long long d, c;

			/* len = width of words a..b-1 on one line */
			len += (long long)wid[b - 1] + (b - 1 > a ? 1 : 0);
			d = lim - len;
			c = d * d + cost[b];
			if (len > lim)
				c += pen;
			if (c < cost[a]) {
				cost[a] = c;
				nbrk[a] = b;
			}
		}
	}
	for (i = 0; i < n;) {
		fprintf(f, "%*s", pad, "");
		for (j = i; j < nbrk[i]; j++) {
			if (j > i)
				fputc(' ', f);
			fwrite(w[j], 1, wl[j], f);
		}
		i = nbrk[i];
		if (i < n)
			fputc('\n', f);
	}
	free(w);
	free(wl);
	free(wid);
	free(nbrk);
	free(cost);
	free(t);
}

/* The "<example>" of a flag, as Go's flag.UnquoteUsage names it. */
static void
flag_example(const struct flag_def *d, char *buf, size_t len)
{
	const char *a, *b;

	buf[0] = '\0';
	if ((a = strchr(d->usage, '`')) != NULL &&
	    (b = strchr(a + 1, '`')) != NULL) {
		snprintf(buf, len, "%.*s", (int)(b - a - 1), a + 1);
		return;
	}
	if (d->type == FLAG_BOOL)
		return;
	/* Consul's HTTP flags are custom flag.Values: Go calls them
	 * "value". */
	if (http_flag_find(d->name) != NULL) {
		snprintf(buf, len, "value");
		return;
	}
	switch (d->type) {
	case FLAG_INT:
		snprintf(buf, len, "int");
		break;
	case FLAG_UINT:
		snprintf(buf, len, "uint");
		break;
	case FLAG_STRING:
		snprintf(buf, len, "string");
		break;
	case FLAG_DURATION:
		snprintf(buf, len, "duration");
		break;
	default:
		snprintf(buf, len, "value");
		break;
	}
}

static void
print_flag(FILE *f, const struct flag_def *d)
{
	char ex[64];

	flag_example(d, ex, sizeof(ex));
	if (ex[0] != '\0')
		fprintf(f, "  -%s=<%s>\n", d->name, ex);
	else
		fprintf(f, "  -%s\n", d->name);
	wrap_text(f, d->usage != NULL ? d->usage : "", 72 - 5, 5);
	fprintf(f, "\n\n");
}

static bool
is_http_api_flag(const char *name)
{
	const struct http_flag *hf = http_flag_find(name);

	return hf != NULL && (hf->group & (CLI_FL_CLIENT | CLI_FL_SERVER));
}

void
cli_print_help(FILE *f, const char *text, const struct flag_def *defs)
{
	struct sbuf b;
	FILE *m;
	char *out = NULL;
	size_t outlen = 0, end;
	bool any;

	/* Rendered into memory first: Consul trims trailing newlines off
	 * the whole text, then the CLI library adds one. */
	if ((m = open_memstream(&out, &outlen)) == NULL)
		fatalx("out of memory");
	sbuf_init(&b);
	sbuf_adds(&b, text);
	while (b.len > 0 && isspace((unsigned char)b.s[b.len - 1]))
		b.len--;
	end = 0;
	while (end < b.len && isspace((unsigned char)b.s[end]))
		end++;
	fwrite(b.s + end, 1, b.len - end, m);
	fprintf(m, "\n\n");
	sbuf_free(&b);
	if (defs != NULL) {
		any = false;
		for (const struct flag_def *d = defs; d->name != NULL; d++) {
			if (!is_http_api_flag(d->name))
				continue;
			if (!any)
				fprintf(m, "HTTP API Options\n\n");
			any = true;
			print_flag(m, d);
		}
		any = false;
		for (const struct flag_def *d = defs; d->name != NULL; d++) {
			if (is_http_api_flag(d->name))
				continue;
			if (!any)
				fprintf(m, "Command Options\n\n");
			any = true;
			print_flag(m, d);
		}
	}
	fclose(m);
	while (outlen > 0 && out[outlen - 1] == '\n')
		outlen--;
	fwrite(out, 1, outlen, f);
	fputc('\n', f);
	free(out);
}

void
cli_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	/* Keep stdout's earlier lines ahead of the error. */
	fflush(stdout);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- parameters and escaping --------------------------------------- */

void
cli_params_set(struct cli_params *q, const char *name, const char *value)
{
	for (size_t i = 0; i < q->n; i++) {
		if (strcmp(q->p[i].name, name) == 0) {
			free(q->p[i].value);
			q->p[i].value = xstrdup(value);
			return;
		}
	}
	if (q->n == CLI_MAX_PARAMS)
		fatalx("cli: too many query parameters");
	q->p[q->n].name = xstrdup(name);
	q->p[q->n].value = xstrdup(value);
	q->n++;
}

void
cli_params_free(struct cli_params *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->p[i].name);
		free(q->p[i].value);
	}
	q->n = 0;
}

static bool
is_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static void
pct(struct sbuf *b, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3] = { '%', hex[c >> 4], hex[c & 15] };

	sbuf_add(b, e, 3);
}

/* Go's url.URL.EscapedPath(): RFC 3986 allows these reserved
 * characters in a path, and Go leaves them alone (only '?' is
 * escaped). */
static void
escape_path(struct sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (c != '\0' && strchr("$&+,/:;=@", c)))
			sbuf_addc(b, (char)c);
		else
			pct(b, c);
	}
}

/* Go's url.QueryEscape(): space becomes '+'. */
static void
escape_query(struct sbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (is_unreserved(c))
			sbuf_addc(b, (char)c);
		else if (c == ' ')
			sbuf_addc(b, '+');
		else
			pct(b, c);
	}
}

static int
param_cmp(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;

	return strcmp(x[0], y[0]);
}

/* url.Values.Encode(): sorted by name. */
static void
encode_query(struct sbuf *b, const struct cli_params *q)
{
	const char **kv;

	if (q->n == 0)
		return;
	kv = xcalloc(q->n * 2, sizeof(*kv));
	for (size_t i = 0; i < q->n; i++) {
		kv[2 * i] = q->p[i].name;
		kv[2 * i + 1] = q->p[i].value;
	}
	qsort(kv, q->n, 2 * sizeof(*kv), param_cmp);
	for (size_t i = 0; i < q->n; i++) {
		if (i > 0)
			sbuf_addc(b, '&');
		escape_query(b, kv[2 * i]);
		sbuf_addc(b, '=');
		escape_query(b, kv[2 * i + 1]);
	}
	free(kv);
}

void
cli_quote(struct sbuf *b, const char *s, size_t n)
{
	sbuf_addc(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t r;

		switch (c) {
		case '"':
			sbuf_adds(b, "\\\"");
			break;
		case '\\':
			sbuf_adds(b, "\\\\");
			break;
		case '\a':
			sbuf_adds(b, "\\a");
			break;
		case '\b':
			sbuf_adds(b, "\\b");
			break;
		case '\f':
			sbuf_adds(b, "\\f");
			break;
		case '\n':
			sbuf_adds(b, "\\n");
			break;
		case '\r':
			sbuf_adds(b, "\\r");
			break;
		case '\t':
			sbuf_adds(b, "\\t");
			break;
		case '\v':
			sbuf_adds(b, "\\v");
			break;
		default:
			if (c >= 0x20 && c < 0x7f) {
				sbuf_addc(b, (char)c);
				break;
			}
			/* Printable runes stay; a valid UTF-8 sequence is
			 * taken as printable. */
			if (c >= 0x80 && (r = utf8_seq((const unsigned char *)s +
			    i, n - i)) > 0) {
				sbuf_add(b, s + i, r);
				i += r;
				continue;
			}
			sbuf_printf(b, "\\x%02x", c);
			break;
		}
		i++;
	}
	sbuf_addc(b, '"');
}

/* ---- the client ---------------------------------------------------- */

struct cli_client {
	nng_url *url;
	nng_http_client *hc;
	char *host;		/* host[:port] as written */
	char *dial;		/* host:port, for dial error texts */
	char *lookup;		/* host name alone */
	char *prefix;		/* path prefix, "" or "/x" */
	char *token;
	char *auth;		/* Authorization header value or NULL */
	char *dc;
	char *ns;
	char *partition;
	int timeout_ms;
};

static const char *
env2(const char *a, const char *b)
{
	const char *v;

	if ((v = getenv(a)) != NULL && v[0] != '\0')
		return v;
	if ((v = getenv(b)) != NULL && v[0] != '\0')
		return v;
	return NULL;
}

/* Go's strconv.ParseBool true values. */
static bool
env_true(const char *v)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true",
	    "True" };

	if (v == NULL)
		return false;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(v, t[i]) == 0)
			return true;
	return false;
}

/* Go's text for an errno: strerror with a lower-case first letter. */
static void
go_errno(struct sbuf *b, int err)
{
	const char *s = strerror(err);

	if (s[0] != '\0') {
		sbuf_addc(b, (char)tolower((unsigned char)s[0]));
		sbuf_adds(b, s + 1);
	}
}

/* Reads a whole file; errors in Go's os.ReadFile form. */
static int
read_file(const char *path, char **data, size_t *len, struct sbuf *err)
{
	struct sbuf b;
	char buf[8192];
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		sbuf_printf(err, "open %s: ", path);
		go_errno(err, errno);
		return -1;
	}
	sbuf_init(&b);
	sbuf_add(&b, "", 0);
	for (;;) {
		r = read(fd, buf, sizeof(buf));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			sbuf_printf(err, "read %s: ", path);
			go_errno(err, errno);
			sbuf_free(&b);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		sbuf_add(&b, buf, (size_t)r);
	}
	close(fd);
	*data = sbuf_take(&b, len);
	return 0;
}

static int
read_stdin(char **data, size_t *len, struct sbuf *err)
{
	struct sbuf b;
	char buf[8192];
	ssize_t r;

	sbuf_init(&b);
	sbuf_add(&b, "", 0);
	for (;;) {
		r = read(STDIN_FILENO, buf, sizeof(buf));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			sbuf_adds(err, "read /dev/stdin: ");
			go_errno(err, errno);
			sbuf_free(&b);
			return -1;
		}
		if (r == 0)
			break;
		sbuf_add(&b, buf, (size_t)r);
	}
	*data = sbuf_take(&b, len);
	return 0;
}

int
cli_load_data(const char *arg, char **data, size_t *len, struct sbuf *err)
{
	if (arg[0] == '@') {
		struct sbuf e;

		sbuf_init(&e);
		if (read_file(arg + 1, data, len, &e) != 0) {
			sbuf_printf(err, "Failed to read file: %s", e.s);
			sbuf_free(&e);
			return -1;
		}
		sbuf_free(&e);
		return 0;
	}
	if (strcmp(arg, "-") == 0) {
		struct sbuf e;

		sbuf_init(&e);
		if (read_stdin(data, len, &e) != 0) {
			sbuf_printf(err, "Failed to read stdin: %s", e.s);
			sbuf_free(&e);
			return -1;
		}
		sbuf_free(&e);
		return 0;
	}
	*len = strlen(arg);
	*data = xstrdup(arg);
	return 0;
}

/* Trims white space off both ends, in place. */
static char *
trim(char *s, size_t *len)
{
	size_t n = *len;

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	s[n] = '\0';
	while (*s != '\0' && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	*len = n;
	return s;
}

/* A token file as Consul's api.NewClient reads it: trimmed; an empty
 * file leaves *tok alone. */
static int
load_token_file(const char *path, char **tok, struct sbuf *err)
{
	char *data, *t;
	size_t len;
	struct sbuf e;

	sbuf_init(&e);
	if (read_file(path, &data, &len, &e) != 0) {
		sbuf_printf(err, "Error loading token file %s : %s", path, e.s);
		sbuf_free(&e);
		return -1;
	}
	sbuf_free(&e);
	t = trim(data, &len);
	if (len > 0) {
		free(*tok);
		*tok = xstrdup(t);
	}
	free(data);
	return 0;
}

static const char *
nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Splits the address as api.NewClient does. */
static int
client_addr(struct cli_client *c, const struct cli_http *h,
    struct sbuf *err)
{
	const char *addr, *sep, *slash;
	bool https;
	struct sbuf u;
	int rv;

	if ((addr = nonempty(h->addr)) == NULL &&
	    (addr = env2("LICTOR_HTTP_ADDR", "CONSUL_HTTP_ADDR")) == NULL)
		addr = "127.0.0.1:8500";
	https = env_true(env2("LICTOR_HTTP_SSL", "CONSUL_HTTP_SSL"));
	if ((sep = strstr(addr, "://")) != NULL) {
		size_t sl = (size_t)(sep - addr);

		if (sl == 5 && strncmp(addr, "https", 5) == 0)
			https = true;
		else if (sl == 4 && strncmp(addr, "unix", 4) == 0) {
			sbuf_adds(err, "unix socket addresses are not supported "
			    "by lictor's CLI; use an http:// address");
			return -1;
		} else if (!(sl == 4 && strncmp(addr, "http", 4) == 0)) {
			sbuf_printf(err, "Unknown protocol scheme: %.*s",
			    (int)sl, addr);
			return -1;
		}
		addr = sep + 3;
	}
	/* A path after the address is a reverse proxy's prefix. Consul
	 * honours it only after a scheme; without one Go rejects the Host
	 * header, so taking it as a prefix there too costs nothing. */
	if ((slash = strchr(addr, '/')) != NULL) {
		c->prefix = xstrdup(slash);
		c->host = strndup(addr, (size_t)(slash - addr));
		if (c->host == NULL)
			fatalx("out of memory");
	}
	if (https) {
		sbuf_adds(err, "HTTPS is not supported by lictor's CLI; use an "
		    "http:// address");
		return -1;
	}
	if (c->host == NULL)
		c->host = xstrdup(addr);
	if (c->prefix == NULL)
		c->prefix = xstrdup("");
	sbuf_init(&u);
	sbuf_printf(&u, "http://%s", c->host);
	rv = nng_url_parse(&c->url, u.s);
	sbuf_free(&u);
	if (rv != 0 || c->url->u_hostname == NULL ||
	    c->url->u_hostname[0] == '\0') {
		sbuf_printf(err, "invalid HTTP address \"%s\"", c->host);
		return -1;
	}
	sbuf_init(&u);
	if (strchr(c->url->u_hostname, ':') != NULL)
		sbuf_printf(&u, "[%s]:%s", c->url->u_hostname, c->url->u_port);
	else
		sbuf_printf(&u, "%s:%s", c->url->u_hostname, c->url->u_port);
	c->dial = sbuf_take(&u, NULL);
	c->lookup = xstrdup(c->url->u_hostname);
	if ((rv = nng_http_client_alloc(&c->hc, c->url)) != 0) {
		sbuf_printf(err, "%s", nng_strerror(rv));
		return -1;
	}
	return 0;
}

/* Consul's token precedence: -token-file, -token,
 * CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_TOKEN (LICTOR_ first). */
static int
client_token(struct cli_client *c, const struct cli_http *h,
    struct sbuf *err)
{
	const char *v;

	if (nonempty(h->token_file) != NULL) {
		if ((v = nonempty(h->token)) != NULL ||
		    (v = env2("LICTOR_HTTP_TOKEN", "CONSUL_HTTP_TOKEN")) != NULL)
			c->token = xstrdup(v);
		return load_token_file(h->token_file, &c->token, err);
	}
	if ((v = nonempty(h->token)) != NULL) {
		c->token = xstrdup(v);
		return 0;
	}
	if ((v = env2("LICTOR_HTTP_TOKEN", "CONSUL_HTTP_TOKEN")) != NULL)
		c->token = xstrdup(v);
	if ((v = env2("LICTOR_HTTP_TOKEN_FILE", "CONSUL_HTTP_TOKEN_FILE")) !=
	    NULL)
		return load_token_file(v, &c->token, err);
	return 0;
}

/* CONSUL_HTTP_AUTH="user[:password]" becomes HTTP basic auth. */
static void
client_auth(struct cli_client *c)
{
	const char *v;
	char *enc;
	size_t n;

	if ((v = env2("LICTOR_HTTP_AUTH", "CONSUL_HTTP_AUTH")) == NULL)
		return;
	n = strlen(v);
	if (strchr(v, ':') == NULL) {
		char *t = xmalloc(n + 2);

		memcpy(t, v, n);
		t[n] = ':';
		t[n + 1] = '\0';
		enc = xmalloc(b64_encoded_len(n + 1) + 1);
		b64_encode((const uint8_t *)t, n + 1, enc);
		free(t);
	} else {
		enc = xmalloc(b64_encoded_len(n) + 1);
		b64_encode((const uint8_t *)v, n, enc);
	}
	c->auth = xmalloc(strlen(enc) + 7);
	sprintf(c->auth, "Basic %s", enc);
	free(enc);
}

int
cli_client_new(const struct cli_http *h, struct cli_client **out,
    struct sbuf *err)
{
	struct cli_client *c = xcalloc(1, sizeof(*c));
	const char *v;

	*out = NULL;
	if (client_addr(c, h, err) != 0 || client_token(c, h, err) != 0) {
		cli_client_free(c);
		return -1;
	}
	client_auth(c);
	if ((v = nonempty(h->datacenter)) != NULL)
		c->dc = xstrdup(v);
	if ((v = nonempty(h->ns)) != NULL ||
	    (v = env2("LICTOR_NAMESPACE", "CONSUL_NAMESPACE")) != NULL)
		c->ns = xstrdup(v);
	if ((v = nonempty(h->partition)) != NULL ||
	    (v = env2("LICTOR_PARTITION", "CONSUL_PARTITION")) != NULL)
		c->partition = xstrdup(v);
	c->timeout_ms = h->timeout_ms > 0 ? h->timeout_ms : CLI_HTTP_TIMEOUT_MS;
	*out = c;
	return 0;
}

void
cli_client_free(struct cli_client *c)
{
	if (c == NULL)
		return;
	if (c->hc != NULL)
		nng_http_client_free(c->hc);
	if (c->url != NULL)
		nng_url_free(c->url);
	free(c->host);
	free(c->dial);
	free(c->lookup);
	free(c->prefix);
	free(c->token);
	free(c->auth);
	free(c->dc);
	free(c->ns);
	free(c->partition);
	free(c);
}

/* Go's http.Client error for a request that got no response:
 * `Put "http://host/v1/kv/a": dial tcp host: connect: connection
 * refused`. */
static void
transport_error(struct cli_client *c, const char *method, const char *uri,
    int rv, struct sbuf *err)
{
	struct sbuf u;

	sbuf_addc(err, method[0]);
	for (const char *m = method + 1; *m != '\0'; m++)
		sbuf_addc(err, (char)tolower((unsigned char)*m));
	sbuf_addc(err, ' ');
	sbuf_init(&u);
	sbuf_printf(&u, "http://%s%s", c->host, uri);
	cli_quote(err, u.s, u.len);
	sbuf_free(&u);
	sbuf_adds(err, ": ");
	switch (rv) {
	case NNG_ECONNREFUSED:
		sbuf_printf(err, "dial tcp %s: connect: connection refused",
		    c->dial);
		break;
	case NNG_EUNREACHABLE:
		sbuf_printf(err, "dial tcp %s: connect: network is unreachable",
		    c->dial);
		break;
	case NNG_EADDRINVAL:
		sbuf_printf(err, "dial tcp: lookup %s: no such host",
		    c->lookup);
		break;
	case NNG_ETIMEDOUT:
		sbuf_adds(err, "net/http: request canceled (Client.Timeout "
		    "exceeded while awaiting headers)");
		break;
	case NNG_ECONNRESET:
		sbuf_printf(err, "read tcp %s: read: connection reset by peer",
		    c->dial);
		break;
	case NNG_ECLOSED:
	case NNG_ECONNSHUT:
		sbuf_adds(err, "EOF");
		break;
	case NNG_EPROTO:
		sbuf_adds(err, "malformed HTTP response");
		break;
	default:
		sbuf_adds(err, nng_strerror(rv));
		break;
	}
}

int
cli_do(struct cli_client *c, const char *method, const char *path,
    size_t plen, const struct cli_params *q, const void *body, size_t blen,
    const char *ctype, struct cli_resp *r, struct sbuf *err)
{
	struct cli_params all = { 0 };
	struct sbuf uri;
	nng_http_req *req = NULL;
	nng_http_res *res = NULL;
	nng_aio *aio = NULL;
	const char *ix;
	void *data;
	size_t dlen;
	int rv;

	memset(r, 0, sizeof(*r));
	/* The client's own parameters first; the request's win, as
	 * url.Values.Set does in Consul's api package. */
	if (c->dc != NULL)
		cli_params_set(&all, "dc", c->dc);
	if (c->ns != NULL)
		cli_params_set(&all, "ns", c->ns);
	if (c->partition != NULL)
		cli_params_set(&all, "partition", c->partition);
	for (size_t i = 0; q != NULL && i < q->n; i++)
		cli_params_set(&all, q->p[i].name, q->p[i].value);
	sbuf_init(&uri);
	escape_path(&uri, c->prefix, strlen(c->prefix));
	escape_path(&uri, path, plen);
	if (all.n > 0) {
		sbuf_addc(&uri, '?');
		encode_query(&uri, &all);
	}
	cli_params_free(&all);

	if ((rv = nng_http_req_alloc(&req, c->url)) != 0 ||
	    (rv = nng_http_req_set_method(req, method)) != 0 ||
	    (rv = nng_http_req_set_uri(req, uri.s)) != 0 ||
	    (rv = nng_http_req_set_header(req, "User-Agent",
	    "lictor/" LICTOR_VERSION)) != 0 ||
	    (c->token != NULL &&
	    (rv = nng_http_req_set_header(req, "X-Consul-Token", c->token)) != 0) ||
	    (c->auth != NULL &&
	    (rv = nng_http_req_set_header(req, "Authorization", c->auth)) != 0) ||
	    (body != NULL && ctype != NULL &&
	    (rv = nng_http_req_set_header(req, "Content-Type", ctype)) != 0) ||
	    (body != NULL && (rv = nng_http_req_set_data(req, body, blen)) != 0) ||
	    (rv = nng_http_res_alloc(&res)) != 0 ||
	    (rv = nng_aio_alloc(&aio, NULL, NULL)) != 0)
		goto fail;
	nng_aio_set_timeout(aio, c->timeout_ms);
	nng_http_client_transact(c->hc, req, res, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		goto fail;
	nng_aio_free(aio);
	nng_http_req_free(req);

	r->status = nng_http_res_get_status(res);
	if ((ix = nng_http_res_get_header(res, "X-Consul-Index")) != NULL) {
		char *end;

		errno = 0;
		r->index = strtoull(ix, &end, 10);
		r->has_index = errno == 0 && end != ix && *end == '\0' &&
		    ix[0] != '-';
		if (!r->has_index)
			r->index = 0;
	}
	nng_http_res_get_data(res, &data, &dlen);
	r->body = xmalloc(dlen + 1);
	if (dlen > 0)
		memcpy(r->body, data, dlen);
	r->body[dlen] = '\0';
	r->len = dlen;
	r->res = res;
	sbuf_free(&uri);
	return 0;

fail:
	transport_error(c, method, uri.s, rv, err);
	if (aio != NULL)
		nng_aio_free(aio);
	if (res != NULL)
		nng_http_res_free(res);
	if (req != NULL)
		nng_http_req_free(req);
	sbuf_free(&uri);
	return -1;
}

const char *
cli_resp_header(const struct cli_resp *r, const char *name)
{
	if (r->res == NULL)
		return NULL;
	return nng_http_res_get_header(r->res, name);
}

void
cli_resp_free(struct cli_resp *r)
{
	if (r->res != NULL)
		nng_http_res_free(r->res);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

void
cli_status_error(const struct cli_resp *r, struct sbuf *err)
{
	size_t a = 0, b = r->len;

	while (a < b && isspace((unsigned char)r->body[a]))
		a++;
	while (b > a && isspace((unsigned char)r->body[b - 1]))
		b--;
	sbuf_printf(err, "Unexpected response code: %d (%.*s)", r->status,
	    (int)(b - a), r->body + a);
}
