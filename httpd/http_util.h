/* http_util.h: request parsing helpers for httpd, pure functions with no
 * I/O: percent-decoding, query strings (with Consul's present-only
 * booleans), unsigned integers as Go's strconv.ParseUint, and the
 * blocking-query parameters. Unit-tested in tests/unit/http_util_test.c. */
#ifndef LICTOR_HTTP_UTIL_H
#define LICTOR_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HQ_MAX_PARAMS 64

struct hquery {
	size_t n;
	struct {
		char *name;  /* decoded, malloc'd */
		char *value; /* decoded, malloc'd; "" when absent */
		bool has_value;
	} p[HQ_MAX_PARAMS];
};

/* Percent-decodes src[0..n) into a new malloc'd NUL-terminated string.
 * plus_space: '+' becomes ' ' (query strings). A '%' not followed by two
 * hex digits is an error (-1), as Go's url package does. *outlen is the
 * decoded length (the string may contain NUL bytes from %00). */
int url_decode(const char *src, size_t n, bool plus_space, char **out,
    size_t *outlen);

/* Parses a raw query string (after '?'). Returns 0, or -1 on a bad
 * escape (Go rejects those with 400) or too many parameters. */
int hquery_parse(struct hquery *q, const char *raw);
void hquery_free(struct hquery *q);
/* The first value of name, or NULL when absent. A present-only "?name"
 * returns "". */
const char *hquery_get(const struct hquery *q, const char *name);
bool hquery_has(const struct hquery *q, const char *name);

/* Go's url.Values.Encode(): sorted by name, "name=value" pairs escaped
 * as QueryEscape does, joined by '&'. Truncated to fit len. */
void hquery_encode(const struct hquery *q, char *out, size_t len);

/* Go's strconv.ParseUint(s, 10, 64). 0 or -1; errtext gets Go's message
 * ("strconv.ParseUint: parsing \"x\": invalid syntax" / "value out of
 * range"). */
int parse_u64(const char *s, uint64_t *v, char *errtext, size_t errlen);

/* Consul's blocking-query parameters. On error returns -1 and sets
 * *errmsg to Consul's text ("Invalid wait time", "Invalid index"). */
struct blocking {
	uint64_t index;	  /* 0: not blocking */
	uint64_t wait_ms; /* after default/max clamping, before jitter */
};
int parse_blocking(const struct hquery *q, int64_t default_ms,
    int64_t max_ms, struct blocking *b, const char **errmsg);
/* Adds Consul's jitter: up to wait/16, capped at max. r is a random
 * 64-bit value. */
uint64_t blocking_jitter(uint64_t wait_ms, int64_t max_ms, uint64_t r);

#endif
