/* http_util.c: pure request-parsing helpers. */
#include "http_util.h"
#include "gotime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
url_decode(const char *src, size_t n, bool plus_space, char **out,
    size_t *outlen)
{
	char *d = malloc(n + 1);
	size_t j = 0;

	if (d == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = src[i];

		if (c == '%') {
			int h, l;

			if (i + 2 >= n) {
				free(d);
				return -1;
			}
			h = hexval(src[i + 1]);
			l = hexval(src[i + 2]);
			if (h < 0 || l < 0) {
				free(d);
				return -1;
			}
			d[j++] = (char)(h * 16 + l);
			i += 2;
		} else if (c == '+' && plus_space) {
			d[j++] = ' ';
		} else {
			d[j++] = c;
		}
	}
	d[j] = '\0';
	*out = d;
	if (outlen != NULL)
		*outlen = j;
	return 0;
}

int
hquery_parse(struct hquery *q, const char *raw)
{
	const char *p = raw;

	memset(q, 0, sizeof(*q));
	while (p != NULL && *p != '\0') {
		const char *amp = strchr(p, '&'), *end, *eq;
		size_t len;

		if (amp == NULL)
			amp = strchr(p, ';'); /* Go also splits on ';' (old) */
		end = amp ? amp : p + strlen(p);
		len = (size_t)(end - p);
		if (len > 0) {
			if (q->n >= HQ_MAX_PARAMS)
				return -1;
			eq = memchr(p, '=', len);
			if (url_decode(p, eq ? (size_t)(eq - p) : len, true,
			    &q->p[q->n].name, NULL) != 0)
				return -1;
			if (eq != NULL) {
				if (url_decode(eq + 1, (size_t)(end - eq - 1),
				    true, &q->p[q->n].value, NULL) != 0) {
					free(q->p[q->n].name);
					return -1;
				}
				q->p[q->n].has_value = true;
			} else {
				q->p[q->n].value = strdup("");
			}
			q->n++;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

void
hquery_free(struct hquery *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->p[i].name);
		free(q->p[i].value);
	}
	q->n = 0;
}

const char *
hquery_get(const struct hquery *q, const char *name)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->p[i].name, name) == 0)
			return q->p[i].value;
	return NULL;
}

bool
hquery_has(const struct hquery *q, const char *name)
{
	return hquery_get(q, name) != NULL;
}

static void
query_escape(const char *s, char *out, size_t len, size_t *pos)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s && *pos + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		    c == '~')
			out[(*pos)++] = (char)c;
		else if (c == ' ')
			out[(*pos)++] = '+';
		else {
			out[(*pos)++] = '%';
			out[(*pos)++] = hex[c >> 4];
			out[(*pos)++] = hex[c & 15];
		}
	}
	out[*pos] = '\0';
}

void
hquery_encode(const struct hquery *q, char *out, size_t len)
{
	size_t idx[HQ_MAX_PARAMS], pos = 0;

	if (len == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < q->n; i++)
		idx[i] = i;
	/* insertion sort by name, stable for repeated names */
	for (size_t i = 1; i < q->n; i++)
		for (size_t j = i; j > 0 && strcmp(q->p[idx[j - 1]].name,
		    q->p[idx[j]].name) > 0; j--) {
			size_t t = idx[j];

			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	for (size_t i = 0; i < q->n && pos + 4 < len; i++) {
		if (i > 0)
			out[pos++] = '&';
		query_escape(q->p[idx[i]].name, out, len, &pos);
		if (pos + 2 < len)
			out[pos++] = '=';
		out[pos] = '\0';
		query_escape(q->p[idx[i]].value, out, len, &pos);
	}
}

int
parse_u64(const char *s, uint64_t *v, char *errtext, size_t errlen)
{
	uint64_t x = 0;
	const char *p = s;

	if (*p == '\0')
		goto syntax;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			goto syntax;
		if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
			snprintf(errtext, errlen, "strconv.ParseUint: parsing "
			    "\"%.64s\": value out of range", s);
			return -1;
		}
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	return 0;
syntax:
	snprintf(errtext, errlen, "strconv.ParseUint: parsing \"%.64s\": "
	    "invalid syntax", s);
	return -1;
}

int
parse_blocking(const struct hquery *q, int64_t default_ms, int64_t max_ms,
    struct blocking *b, const char **errmsg)
{
	const char *wait = hquery_get(q, "wait");
	const char *idx = hquery_get(q, "index");
	char tmp[128];
	int64_t ns = 0;

	b->index = 0;
	b->wait_ms = 0;
	if (wait != NULL && *wait != '\0') {
		if (go_duration_parse(wait, &ns) != 0 || ns < 0) {
			*errmsg = "Invalid wait time";
			return -1;
		}
	}
	if (idx != NULL && *idx != '\0') {
		if (parse_u64(idx, &b->index, tmp, sizeof(tmp)) != 0) {
			*errmsg = "Invalid index";
			return -1;
		}
	}
	/* As Consul: no wait means the default; above max is clamped. */
	b->wait_ms = (uint64_t)(ns / 1000000);
	if (b->wait_ms == 0)
		b->wait_ms = (uint64_t)default_ms;
	if (b->wait_ms > (uint64_t)max_ms)
		b->wait_ms = (uint64_t)max_ms;
	return 0;
}

uint64_t
blocking_jitter(uint64_t wait_ms, int64_t max_ms, uint64_t r)
{
	uint64_t j = wait_ms / 16;

	if (j > 0)
		wait_ms += r % j;
	if (wait_ms > (uint64_t)max_ms)
		wait_ms = (uint64_t)max_ms;
	return wait_ms;
}
