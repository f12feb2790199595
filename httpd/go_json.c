/* go_json.c: Go's encoding/json scanner, as far as its verdicts and
 * error texts go (encoding/json/scanner.go, stream.go): a
 * recursive-descent reader that stops where Go's stops and names the
 * same byte and context when it refuses. */
#include "go_json.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 1000	/* below jansson's own limit; Go's is 10000 */

struct sc {
	const unsigned char *p;
	size_t n, i;
	int depth;
	char *err;
	size_t errlen;
};

void
go_json_quote_char(unsigned char c, char *out, size_t outlen)
{
	if (c == '\'') {
		snprintf(out, outlen, "'\\''");
		return;
	}
	if (c == '"') {
		snprintf(out, outlen, "'\"'");
		return;
	}
	/* strconv.Quote(string(rune(c))) without its double quotes */
	switch (c) {
	case '\a': snprintf(out, outlen, "'\\a'"); return;
	case '\b': snprintf(out, outlen, "'\\b'"); return;
	case '\f': snprintf(out, outlen, "'\\f'"); return;
	case '\n': snprintf(out, outlen, "'\\n'"); return;
	case '\r': snprintf(out, outlen, "'\\r'"); return;
	case '\t': snprintf(out, outlen, "'\\t'"); return;
	case '\v': snprintf(out, outlen, "'\\v'"); return;
	case '\\': snprintf(out, outlen, "'\\\\'"); return;
	default:
		break;
	}
	if (c < 0x20 || c == 0x7f)
		snprintf(out, outlen, "'\\x%02x'", c);
	else if (c < 0x80)
		snprintf(out, outlen, "'%c'", c);
	else if (c < 0xa1 || c == 0xad)
		snprintf(out, outlen, "'\\u%04x'", c);	/* not printable */
	else
		snprintf(out, outlen, "'%c%c'", 0xc0 | (c >> 6),
		    0x80 | (c & 0x3f));			/* U+00XX in UTF-8 */
}

static int
bad(struct sc *s, unsigned char c, const char *ctx)
{
	char q[16];

	go_json_quote_char(c, q, sizeof(q));
	snprintf(s->err, s->errlen, "invalid character %s %s", q, ctx);
	return -1;
}

static int
eof(struct sc *s)
{
	snprintf(s->err, s->errlen, "unexpected EOF");
	return -1;
}

static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
ws(struct sc *s)
{
	while (s->i < s->n && is_space(s->p[s->i]))
		s->i++;
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int value(struct sc *s);

static int
string(struct sc *s)
{
	s->i++;	/* the opening quote */
	for (;;) {
		unsigned char c;

		if (s->i >= s->n)
			return eof(s);
		c = s->p[s->i];
		if (c == '"') {
			s->i++;
			return 0;
		}
		if (c == '\\') {
			unsigned char e;

			if (++s->i >= s->n)
				return eof(s);
			e = s->p[s->i];
			if (strchr("bfnrt\\/\"", e) != NULL && e != '\0') {
				s->i++;
				continue;
			}
			if (e != 'u')
				return bad(s, e, "in string escape code");
			s->i++;
			for (int k = 0; k < 4; k++) {
				if (s->i >= s->n)
					return eof(s);
				if (!is_hex(s->p[s->i]))
					return bad(s, s->p[s->i],
					    "in \\u hexadecimal character "
					    "escape");
				s->i++;
			}
			continue;
		}
		if (c < 0x20)
			return bad(s, c, "in string literal");
		s->i++;
	}
}

static int
number(struct sc *s)
{
	unsigned char c = s->p[s->i];

	if (c == '-') {
		if (++s->i >= s->n)
			return eof(s);
		c = s->p[s->i];
		if (!is_digit(c))
			return bad(s, c, "in numeric literal");
	}
	if (c == '0') {
		s->i++;
	} else {
		while (s->i < s->n && is_digit(s->p[s->i]))
			s->i++;
	}
	if (s->i < s->n && s->p[s->i] == '.') {
		if (++s->i >= s->n)
			return eof(s);
		if (!is_digit(s->p[s->i]))
			return bad(s, s->p[s->i],
			    "after decimal point in numeric literal");
		while (s->i < s->n && is_digit(s->p[s->i]))
			s->i++;
	}
	if (s->i < s->n && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
		if (++s->i >= s->n)
			return eof(s);
		if (s->p[s->i] == '+' || s->p[s->i] == '-')
			if (++s->i >= s->n)
				return eof(s);
		if (!is_digit(s->p[s->i]))
			return bad(s, s->p[s->i],
			    "in exponent of numeric literal");
		while (s->i < s->n && is_digit(s->p[s->i]))
			s->i++;
	}
	return 0;
}

static int
literal(struct sc *s, const char *word)
{
	char ctx[64];

	s->i++;	/* the first letter */
	for (const char *w = word + 1; *w; w++) {
		if (s->i >= s->n)
			return eof(s);
		if (s->p[s->i] != (unsigned char)*w) {
			snprintf(ctx, sizeof(ctx), "in literal %s (expecting "
			    "'%c')", word, *w);
			return bad(s, s->p[s->i], ctx);
		}
		s->i++;
	}
	return 0;
}

static int
object(struct sc *s)
{
	s->i++;
	ws(s);
	if (s->i >= s->n)
		return eof(s);
	if (s->p[s->i] == '}') {
		s->i++;
		return 0;
	}
	for (;;) {
		if (s->p[s->i] != '"')
			return bad(s, s->p[s->i],
			    "looking for beginning of object key string");
		if (string(s) != 0)
			return -1;
		ws(s);
		if (s->i >= s->n)
			return eof(s);
		if (s->p[s->i] != ':')
			return bad(s, s->p[s->i], "after object key");
		s->i++;
		if (value(s) != 0)
			return -1;
		ws(s);
		if (s->i >= s->n)
			return eof(s);
		if (s->p[s->i] == '}') {
			s->i++;
			return 0;
		}
		if (s->p[s->i] != ',')
			return bad(s, s->p[s->i],
			    "after object key:value pair");
		s->i++;
		ws(s);
		if (s->i >= s->n)
			return eof(s);
	}
}

static int
array(struct sc *s)
{
	s->i++;
	ws(s);
	if (s->i >= s->n)
		return eof(s);
	if (s->p[s->i] == ']') {
		s->i++;
		return 0;
	}
	for (;;) {
		if (value(s) != 0)
			return -1;
		ws(s);
		if (s->i >= s->n)
			return eof(s);
		if (s->p[s->i] == ']') {
			s->i++;
			return 0;
		}
		if (s->p[s->i] != ',')
			return bad(s, s->p[s->i], "after array element");
		s->i++;
	}
}

static int
value(struct sc *s)
{
	unsigned char c;
	int rv;

	ws(s);
	if (s->i >= s->n)
		return eof(s);
	c = s->p[s->i];
	switch (c) {
	case '{':
	case '[':
		if (++s->depth > MAX_DEPTH) {
			snprintf(s->err, s->errlen, "exceeded max depth");
			return -1;
		}
		rv = c == '{' ? object(s) : array(s);
		s->depth--;
		return rv;
	case '"':
		return string(s);
	case 't':
		return literal(s, "true");
	case 'f':
		return literal(s, "false");
	case 'n':
		return literal(s, "null");
	default:
		if (c == '-' || is_digit(c))
			return number(s);
		return bad(s, c, "looking for beginning of value");
	}
}

int
go_json_scan(const char *buf, size_t len, size_t *end, char *err,
    size_t errlen)
{
	struct sc s = { (const unsigned char *)buf, len, 0, 0, err, errlen };
	unsigned char first;

	ws(&s);
	if (s.i >= s.n) {
		snprintf(err, errlen, "EOF");
		return -1;
	}
	first = s.p[s.i];
	if (value(&s) != 0)
		return -1;
	/* A scalar ends only where the next byte says so: Go's stateEndTop
	 * refuses anything but space right after it. Objects and arrays end
	 * at their closing byte. */
	if (first != '{' && first != '[' && s.i < s.n && !is_space(s.p[s.i]))
		return bad(&s, s.p[s.i], "after top-level value");
	*end = s.i;
	return 0;
}

const char *
go_json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	default:
		return "null";
	}
}

void
go_json_quote(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen < 3) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (size_t i = 0; i < n && o + 8 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (c == '\r') {
			out[o++] = '\\';
			out[o++] = 'r';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

json_t *
go_json_load(const char *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
	    &je);

	if (j == NULL)
		snprintf(err, errlen, "%s", je.text);
	return j;
}
