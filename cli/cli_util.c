/* cli_util.c: what the gossip commands (members, join, force-leave,
 * event) share beyond cli_http.c: the flag set with Consul's
 * PartitionFlag() alone, one request with api.requireOK's error, JSON
 * decoded as the api package's decodeBody reports failures, and filter
 * regexps compiled with POSIX regcomp where Consul uses Go's regexp,
 * failing with Go's words. */
#include "cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct flag_def *
cli_flags_build_partition(const struct flag_def *cmd, struct cli_http *h)
{
	struct flag_def *defs;
	size_t i, j;

	defs = cli_flags_build(cmd, h, CLI_FL_CLIENT | CLI_FL_TENANCY);
	for (i = j = 0; defs[i].name != NULL; i++)
		if (strcmp(defs[i].name, "namespace") != 0)
			defs[j++] = defs[i];
	defs[j].name = NULL;
	return defs;
}

int
cli_request_ok(struct cli_client *c, const char *method, const char *path,
    const struct cli_params *q, const void *body, size_t blen,
    const char *ctype, struct cli_resp *r, struct sbuf *err)
{
	if (cli_do(c, method, path, strlen(path), q, body, blen, ctype, r,
	    err) != 0)
		return -1;
	if (r->status != 200) {
		cli_status_error(r, err);
		return -1;
	}
	return 0;
}

json_t *
cli_json_load(const char *body, size_t len, struct sbuf *err)
{
	json_error_t je;
	json_t *j;
	size_t i;

	for (i = 0; i < len; i++)
		if (strchr(" \t\r\n", body[i]) == NULL)
			break;
	if (i == len) {
		sbuf_adds(err, "EOF");
		return NULL;
	}
	/* json.Decoder reads one value and leaves the rest alone. */
	j = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL |
	    JSON_DISABLE_EOF_CHECK, &je);
	if (j == NULL) {
		if (strstr(je.text, "near end of file") != NULL ||
		    strstr(je.text, "premature end of input") != NULL)
			sbuf_adds(err, "unexpected EOF");
		else
			sbuf_adds(err, je.text);
	}
	return j;
}

void
cli_json_what(const json_t *v, bool literal, struct sbuf *b)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		sbuf_adds(b, "object");
		break;
	case JSON_ARRAY:
		sbuf_adds(b, "array");
		break;
	case JSON_STRING:
		sbuf_adds(b, "string");
		break;
	case JSON_INTEGER:
		if (literal)
			sbuf_printf(b, "number %" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
		else
			sbuf_adds(b, "number");
		break;
	case JSON_REAL:
		if (literal)
			sbuf_printf(b, "number %.17g", json_real_value(v));
		else
			sbuf_adds(b, "number");
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		sbuf_adds(b, "bool");
		break;
	case JSON_NULL:
		sbuf_adds(b, "null");
		break;
	}
}

/* ---- regexps -------------------------------------------------------- */

/* The end of the bracket expression opening at p (just after its ']'),
 * or NULL when it never closes. A ']' first (after '^') is a member,
 * and "[:alpha:]", "[.x.]", "[=x=]" are read whole. */
static const char *
bracket_end(const char *p)
{
	const char *q = p + 1, *e;
	char close[3] = { 0, ']', 0 };

	if (*q == '^')
		q++;
	if (*q == ']')
		q++;
	for (; *q != '\0'; q++) {
		if (*q == ']')
			return q + 1;
		if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
			close[0] = q[1];
			if ((e = strstr(q + 2, close)) == NULL)
				return NULL;
			q = e + 1;
		}
	}
	return NULL;
}

/* Where the character class that never closes starts (Go quotes the
 * expression from there), or NULL when every one closes. */
static const char *
open_bracket(const char *expr)
{
	const char *p = expr, *e;

	while (*p != '\0') {
		if (*p == '\\' && p[1] != '\0')
			p += 2;
		else if (*p == '[') {
			if ((e = bracket_end(p)) == NULL)
				return p;
			p = e;
		} else
			p++;
	}
	return NULL;
}

/* The repetition operator with nothing to repeat (at the start, or
 * after '(' or '|'); Go quotes the operator alone ("{1}" whole). */
static void
bad_repeat(const char *expr, struct sbuf *arg)
{
	const char *p, *e;

	for (p = expr; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (strchr("*+?{", *p) == NULL ||
		    (p > expr && p[-1] != '(' && p[-1] != '|'))
			continue;
		if (*p == '{' && (e = strchr(p, '}')) != NULL)
			sbuf_add(arg, p, (size_t)(e - p + 1));
		else
			sbuf_addc(arg, *p);
		return;
	}
	sbuf_adds(arg, expr);
}

int
cli_regcomp(regex_t *re, const char *expr, struct sbuf *err)
{
	struct sbuf arg;
	const char *code, *bracket;
	char buf[128];
	int rv;

	if ((rv = regcomp(re, expr, REG_EXTENDED | REG_NOSUB)) == 0)
		return 0;
	/* glibc calls a '[' with nothing after it a bad pattern. */
	if (rv == REG_BADPAT && open_bracket(expr) != NULL)
		rv = REG_EBRACK;
	sbuf_init(&arg);
	switch (rv) {
	case REG_EPAREN:
		code = "missing closing )";
		sbuf_adds(&arg, expr);
		break;
	case REG_EBRACK:
		code = "missing closing ]";
		if ((bracket = open_bracket(expr)) == NULL)
			bracket = expr;
		sbuf_adds(&arg, bracket);
		break;
	case REG_BADRPT:
		code = "missing argument to repetition operator";
		bad_repeat(expr, &arg);
		break;
	case REG_ERANGE:
	case REG_ECTYPE:
		code = "invalid character class range";
		sbuf_adds(&arg, expr);
		break;
	case REG_EESCAPE:
		/* Go quotes nothing here. */
		code = "trailing backslash at end of expression";
		break;
	case REG_ESUBREG:
		code = "invalid escape sequence";
		sbuf_adds(&arg, expr);
		break;
	case REG_BADBR:
		code = "invalid repeat count";
		sbuf_adds(&arg, expr);
		break;
	default:
		/* No Go counterpart (POSIX refuses what Go takes as a
		 * literal, such as "a{2"): regerror's words, lower-cased
		 * as Go writes its codes. */
		regerror(rv, NULL, buf, sizeof(buf));
		buf[0] = (char)tolower((unsigned char)buf[0]);
		code = buf;
		sbuf_adds(&arg, expr);
		break;
	}
	sbuf_printf(err, "error parsing regexp: %s: `%s`", code,
	    arg.s != NULL ? arg.s : "");
	sbuf_free(&arg);
	return -1;
}
