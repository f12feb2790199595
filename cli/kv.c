/* kv.c: `lictor kv`, the client side of Consul's `consul kv`: picks the
 * subcommand the way Consul's CLI library does (help and exit 1 for a
 * missing or unknown one), and holds what the subcommands share: their
 * start-up (help, flags, client), decoding of KV list responses, JSON
 * with unsigned 64-bit numbers, and Go's path.Join for import. */
#include "kv.h"
#include "base64.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct kv_sub {
	const char *name;
	const char *synopsis;
	int (*main)(int, char **);
} kv_subs[] = {
	/* Sorted: the help lists them in this order. */
	{ "delete", "Removes data from the KV store", kv_delete_main },
	{ "export", "Exports a tree from the KV store as JSON", kv_export_main },
	{ "get", "Retrieves or lists data from the KV store", kv_get_main },
	{ "import", "Imports a tree stored as JSON to the KV store",
	  kv_import_main },
	{ "put", "Sets or updates data in the KV store", kv_put_main },
};
#define N_KV_SUBS (sizeof(kv_subs) / sizeof(kv_subs[0]))

static const char kv_help[] =
"Usage: lictor kv <subcommand> [options] [args]\n"
"\n"
"  This command has subcommands for interacting with lictor's key-value\n"
"  store. Here are some simple examples, and more detailed examples are\n"
"  available in the subcommands or the documentation.\n"
"\n"
"  Create or update the key named \"redis/config/connections\" with the value \"5\":\n"
"\n"
"      $ lictor kv put redis/config/connections 5\n"
"\n"
"  Read this value back:\n"
"\n"
"      $ lictor kv get redis/config/connections\n"
"\n"
"  Or get detailed key information:\n"
"\n"
"      $ lictor kv get -detailed redis/config/connections\n"
"\n"
"  Finally, delete the key:\n"
"\n"
"      $ lictor kv delete redis/config/connections\n"
"\n"
"  For more examples, ask for subcommand help or view the documentation.\n";

/* mitchellh/cli's help template: the help, then the subcommands with
 * names padded to the longest full name ("kv delete"). */
static void
print_kv_help(void)
{
	fputs(kv_help, stderr);
	fputs("\nSubcommands:\n", stderr);
	for (size_t i = 0; i < N_KV_SUBS; i++)
		fprintf(stderr, "    %-6s    %s\n", kv_subs[i].name,
		    kv_subs[i].synopsis);
}

int
cli_kv_main(int argc, char **argv)
{
	int rv;

	if (argc > 0) {
		for (size_t i = 0; i < N_KV_SUBS; i++) {
			if (strcmp(argv[0], kv_subs[i].name) == 0) {
				rv = kv_subs[i].main(argc - 1, argv + 1);
				fflush(stdout);
				return rv;
			}
		}
	}
	/* No (known) subcommand: "kv" itself runs, which only shows help;
	 * asked for, that is success, otherwise Consul exits 1. */
	print_kv_help();
	return cli_wants_help(argc, argv) ? 0 : 1;
}

/* ---- subcommand scaffolding ---------------------------------------- */

int
kv_cmd_start(struct kv_cmd *c, const struct flag_def *cmd_defs, int argc,
    char **argv, int *code)
{
	int rest = 0;

	memset(&c->http, 0, sizeof(c->http));
	c->client = NULL;
	c->defs = cli_flags_build(cmd_defs, &c->http, CLI_FL_ALL);
	if (cli_wants_help(argc, argv)) {
		cli_print_help(stderr, c->help, c->defs);
		*code = 0;
		return -1;
	}
	if (cli_parse_flags(c->defs, argc, argv, &rest) != 0) {
		*code = 1;
		return -1;
	}
	c->argc = argc - rest;
	c->argv = argv + rest;
	return 0;
}

int
kv_cmd_client(struct kv_cmd *c)
{
	struct sbuf err;

	sbuf_init(&err);
	if (cli_client_new(&c->http, &c->client, &err) != 0) {
		cli_error("Error connecting to Consul agent: %s", err.s);
		sbuf_free(&err);
		return -1;
	}
	sbuf_free(&err);
	return 0;
}

void
kv_cmd_end(struct kv_cmd *c)
{
	cli_client_free(c->client);
	c->client = NULL;
	cli_http_free(&c->http);
	free(c->defs);
	c->defs = NULL;
}

void
kv_out(const void *p, size_t n)
{
	if (n > 0)
		fwrite(p, 1, n, stdout);
	fputc('\n', stdout);
}

void
kv_api_path(struct sbuf *b, const char *key, size_t klen)
{
	sbuf_adds(b, "/v1/kv/");
	sbuf_add(b, key, klen);
}

/* ---- reading ------------------------------------------------------ */

/* GET /v1/kv/<key> with params; 404 means "nothing", other non-200
 * codes and transport failures print Consul's query error. */
int
kv_query(struct kv_cmd *c, const char *key, struct cli_params *q,
    struct cli_resp *r, bool *found)
{
	struct sbuf path, err;
	int rv = -1;

	sbuf_init(&path);
	sbuf_init(&err);
	if (c->http.stale)
		cli_params_set(q, "stale", "");
	/* Consul's api package trims one more leading '/'. */
	if (key[0] == '/')
		key++;
	kv_api_path(&path, key, strlen(key));
	if (cli_do(c->client, "GET", path.s, path.len, q, NULL, 0, NULL, r,
	    &err) != 0) {
		cli_error("Error querying Consul agent: %s", err.s);
		goto out;
	}
	if (r->status != 200 && r->status != 404) {
		cli_status_error(r, &err);
		cli_error("Error querying Consul agent: %s", err.s);
		goto out;
	}
	*found = r->status == 200;
	rv = 0;
out:
	sbuf_free(&path);
	sbuf_free(&err);
	return rv;
}

int
kv_list(struct kv_cmd *c, const char *key, bool recurse,
    struct kv_pair **pairs, size_t *n)
{
	struct cli_params q = { 0 };
	struct cli_resp r = { 0 };
	struct sbuf err;
	bool found = false;
	int rv = -1;

	*pairs = NULL;
	*n = 0;
	sbuf_init(&err);
	if (recurse)
		cli_params_set(&q, "recurse", "");
	if (kv_query(c, key, &q, &r, &found) != 0)
		goto out;
	if (found && kv_pairs_decode(r.body, r.len, pairs, n, &err) != 0) {
		cli_error("Error querying Consul agent: %s", err.s);
		goto out;
	}
	rv = 0;
out:
	sbuf_free(&err);
	cli_resp_free(&r);
	cli_params_free(&q);
	return rv;
}

/* ---- JSON ---------------------------------------------------------- */

/* The marker jansson sees in place of a number it cannot hold. */
#define U64_MARK "\\u0000u64:"
#define U64_MARK_DECODED "\0u64:"
#define U64_MARK_LEN 5

/*
 * Copies JSON text, turning integer literals outside int64 into marked
 * strings. Only a lexical pass: strings are skipped with their escapes,
 * anything malformed is copied for jansson to reject.
 */
static void
quote_big_ints(struct sbuf *o, const char *s, size_t n)
{
	size_t i = 0, j;

	while (i < n) {
		if (s[i] == '"') {
			for (j = i + 1; j < n && s[j] != '"'; j++)
				if (s[j] == '\\' && j + 1 < n)
					j++;
			if (j < n)
				j++;
			sbuf_add(o, s + i, j - i);
			i = j;
			continue;
		}
		if (s[i] == '-' || isdigit((unsigned char)s[i])) {
			bool integer = true;
			size_t d = s[i] == '-' ? i + 1 : i;

			for (j = i + 1; j < n; j++) {
				char c = s[j];

				if (isdigit((unsigned char)c))
					continue;
				if (c == '.' || c == 'e' || c == 'E' ||
				    c == '+' || c == '-') {
					integer = false;
					continue;
				}
				break;
			}
			if (integer && j > d) {
				char *num = strndup(s + i, j - i), *end;

				if (num == NULL)
					fatalx("out of memory");
				errno = 0;
				(void)strtoll(num, &end, 10);
				if (errno == ERANGE) {
					sbuf_adds(o, "\"" U64_MARK);
					sbuf_add(o, s + i, j - i);
					sbuf_addc(o, '"');
					free(num);
					i = j;
					continue;
				}
				free(num);
			}
			sbuf_add(o, s + i, j - i);
			i = j;
			continue;
		}
		sbuf_addc(o, s[i]);
		i++;
	}
}

json_t *
kv_json_load(const char *text, size_t len, struct sbuf *err)
{
	struct sbuf t;
	json_error_t je;
	json_t *j;
	size_t i;

	for (i = 0; i < len && isspace((unsigned char)text[i]); i++)
		;
	if (i == len) {
		sbuf_adds(err, "unexpected end of JSON input");
		return NULL;
	}
	sbuf_init(&t);
	quote_big_ints(&t, text, len);
	j = json_loadb(t.s, t.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (j == NULL) {
		/* Go names truncation so; other syntax errors keep
		 * jansson's words. */
		if (strstr(je.text, "near end of file") != NULL ||
		    strstr(je.text, "premature end of input") != NULL)
			sbuf_adds(err, "unexpected end of JSON input");
		else
			sbuf_adds(err, je.text);
	}
	sbuf_free(&t);
	return j;
}

void
kv_json_what(const json_t *v, struct sbuf *what)
{
	const char *s;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		sbuf_adds(what, "object");
		break;
	case JSON_ARRAY:
		sbuf_adds(what, "array");
		break;
	case JSON_STRING:
		s = json_string_value(v);
		if (json_string_length(v) > U64_MARK_LEN &&
		    memcmp(s, U64_MARK_DECODED, U64_MARK_LEN) == 0)
			sbuf_printf(what, "number %s", s + U64_MARK_LEN);
		else
			sbuf_adds(what, "string");
		break;
	case JSON_INTEGER:
		sbuf_printf(what, "number %" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		break;
	case JSON_REAL:
		sbuf_printf(what, "number %g", json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		sbuf_adds(what, "bool");
		break;
	case JSON_NULL:
		sbuf_adds(what, "null");
		break;
	}
}

int
kv_json_u64(const json_t *v, uint64_t *out, struct sbuf *what)
{
	const char *s;
	char *end;
	unsigned long long u;

	if (json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && json_string_length(v) > U64_MARK_LEN &&
	    memcmp(json_string_value(v), U64_MARK_DECODED, U64_MARK_LEN) == 0) {
		s = json_string_value(v) + U64_MARK_LEN;
		errno = 0;
		u = strtoull(s, &end, 10);
		if (s[0] != '-' && errno == 0 && *end == '\0') {
			*out = u;
			return 0;
		}
	}
	kv_json_what(v, what);
	return -1;
}

static void
pair_clear(struct kv_pair *p)
{
	free(p->key);
	free(p->value);
	free(p->session);
	memset(p, 0, sizeof(*p));
}

void
kv_pairs_free(struct kv_pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pair_clear(&p[i]);
	free(p);
}

static char *
dup_bytes(const char *s, size_t n)
{
	char *d = xmalloc(n + 1);

	if (n > 0)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* One api.KVPair; Go matches field names without regard to case. */
static int
pair_decode(json_t *o, struct kv_pair *p, struct sbuf *err)
{
	const char *name;
	json_t *v;
	struct sbuf what;
	uint64_t *u;

	sbuf_init(&what);
	json_object_foreach(o, name, v) {
		u = NULL;
		if (strcasecmp(name, "Key") == 0 ||
		    strcasecmp(name, "Session") == 0) {
			bool is_key = strcasecmp(name, "Key") == 0;

			if (json_is_null(v))
				continue;
			if (!json_is_string(v))
				goto type_error;
			if (is_key) {
				free(p->key);
				p->key_len = json_string_length(v);
				p->key = dup_bytes(json_string_value(v),
				    p->key_len);
			} else {
				free(p->session);
				p->session = dup_bytes(json_string_value(v),
				    json_string_length(v));
			}
		} else if (strcasecmp(name, "Value") == 0) {
			size_t n, pos;
			uint8_t *buf;

			if (json_is_null(v))
				continue;
			if (!json_is_string(v))
				goto type_error;
			n = json_string_length(v);
			buf = xmalloc(b64_decoded_maxlen(n) + 1);
			if (b64_decode_pos(json_string_value(v), n, buf,
			    &p->value_len, &pos) != 0) {
				free(buf);
				sbuf_printf(err, "illegal base64 data at input "
				    "byte %zu", pos);
				sbuf_free(&what);
				return -1;
			}
			free(p->value);
			p->value = buf;
		} else if (strcasecmp(name, "Flags") == 0)
			u = &p->flags;
		else if (strcasecmp(name, "CreateIndex") == 0)
			u = &p->create_index;
		else if (strcasecmp(name, "ModifyIndex") == 0)
			u = &p->modify_index;
		else if (strcasecmp(name, "LockIndex") == 0)
			u = &p->lock_index;
		if (u != NULL && kv_json_u64(v, u, &what) != 0) {
			sbuf_printf(err, "json: cannot unmarshal %s into Go "
			    "struct field KVPair.%s of type uint64", what.s,
			    name);
			sbuf_free(&what);
			return -1;
		}
		continue;
type_error:
		kv_json_what(v, &what);
		sbuf_printf(err, "json: cannot unmarshal %s into Go struct "
		    "field KVPair.%s of type string", what.s, name);
		sbuf_free(&what);
		return -1;
	}
	sbuf_free(&what);
	if (p->key == NULL)
		p->key = dup_bytes("", 0);
	if (p->value == NULL)
		p->value = (uint8_t *)dup_bytes("", 0);
	if (p->session == NULL)
		p->session = dup_bytes("", 0);
	return 0;
}

int
kv_pairs_decode(const char *body, size_t len, struct kv_pair **out,
    size_t *n, struct sbuf *err)
{
	struct kv_pair *p;
	struct sbuf what;
	json_t *j, *o;
	size_t i, k = 0;

	*out = NULL;
	*n = 0;
	if ((j = kv_json_load(body, len, err)) == NULL)
		return -1;
	if (json_is_null(j)) {
		json_decref(j);
		return 0;
	}
	if (!json_is_array(j)) {
		sbuf_init(&what);
		kv_json_what(j, &what);
		sbuf_printf(err, "json: cannot unmarshal %s into Go value of "
		    "type []*api.KVPair", what.s);
		sbuf_free(&what);
		json_decref(j);
		return -1;
	}
	p = xcalloc(json_array_size(j) + 1, sizeof(*p));
	json_array_foreach(j, i, o) {
		if (json_is_null(o))
			continue;
		if (!json_is_object(o)) {
			sbuf_init(&what);
			kv_json_what(o, &what);
			sbuf_printf(err, "json: cannot unmarshal %s into Go "
			    "value of type api.KVPair", what.s);
			sbuf_free(&what);
			goto fail;
		}
		if (pair_decode(o, &p[k], err) != 0) {
			k++;
			goto fail;
		}
		k++;
	}
	json_decref(j);
	*out = p;
	*n = k;
	return 0;
fail:
	kv_pairs_free(p, k);
	json_decref(j);
	return -1;
}

/* ---- Go's path.Join ------------------------------------------------ */

/* path.Clean: lexical; "." for an empty result. */
static void
path_clean(struct sbuf *out, const char *p, size_t n)
{
	bool rooted;
	size_t r = 0, dotdot = 0, w;
	char *buf;

	if (n == 0) {
		sbuf_addc(out, '.');
		return;
	}
	buf = xmalloc(n + 1);
	w = 0;
	rooted = p[0] == '/';
	if (rooted) {
		buf[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (p[r] == '/')
			r++;
		else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/'))
			r++;
		else if (p[r] == '.' && r + 1 < n && p[r + 1] == '.' &&
		    (r + 2 == n || p[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && buf[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					buf[w++] = '/';
				buf[w++] = '.';
				buf[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				buf[w++] = '/';
			for (; r < n && p[r] != '/'; r++)
				buf[w++] = p[r];
		}
	}
	if (w == 0)
		sbuf_addc(out, '.');
	else
		sbuf_add(out, buf, w);
	free(buf);
}

void
kv_path_join(struct sbuf *out, const char *prefix, size_t plen,
    const char *key, size_t klen)
{
	struct sbuf j;

	if (plen + klen == 0)
		return;
	sbuf_init(&j);
	sbuf_add(&j, prefix, plen);
	if (klen > 0) {
		if (j.len > 0)
			sbuf_addc(&j, '/');
		sbuf_add(&j, key, klen);
	}
	path_clean(out, j.s, j.len);
	sbuf_free(&j);
}
