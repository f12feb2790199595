/* http_util_test.c: httpd's pure request parsing: percent-decoding,
 * queries with present-only booleans, Go's ParseUint texts, blocking
 * parameters with Consul's defaults, clamping and jitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "http_util.h"

static void
test_url_decode(void **state)
{
	char *out;
	size_t n;

	(void)state;
	assert_int_equal(url_decode("a%2Fb%2fc", 9, false, &out, &n), 0);
	assert_string_equal(out, "a/b/c");
	assert_int_equal(n, 5);
	free(out);
	assert_int_equal(url_decode("a+b", 3, false, &out, &n), 0);
	assert_string_equal(out, "a+b");
	free(out);
	assert_int_equal(url_decode("a+b", 3, true, &out, &n), 0);
	assert_string_equal(out, "a b");
	free(out);
	assert_int_equal(url_decode("%00x", 4, false, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0);
	free(out);
	assert_int_equal(url_decode("%zz", 3, false, &out, &n), -1);
	assert_int_equal(url_decode("abc%", 4, false, &out, &n), -1);
	assert_int_equal(url_decode("abc%4", 5, false, &out, &n), -1);
}

static void
test_query_booleans(void **state)
{
	struct hquery q;

	(void)state;
	assert_int_equal(hquery_parse(&q, "recurse&keys=1&stale=true&"
	    "raw=True&separator=%2F&x=a+b"), 0);
	assert_true(hquery_has(&q, "recurse"));
	assert_string_equal(hquery_get(&q, "recurse"), "");
	assert_string_equal(hquery_get(&q, "keys"), "1");
	assert_string_equal(hquery_get(&q, "stale"), "true");
	assert_string_equal(hquery_get(&q, "raw"), "True");
	assert_string_equal(hquery_get(&q, "separator"), "/");
	assert_string_equal(hquery_get(&q, "x"), "a b");
	assert_false(hquery_has(&q, "consistent"));
	hquery_free(&q);
	assert_int_equal(hquery_parse(&q, "a=%"), -1);
	hquery_free(&q);
	assert_int_equal(hquery_parse(&q, ""), 0);
	assert_int_equal(q.n, 0);
	hquery_free(&q);
}

static void
test_query_encode(void **state)
{
	struct hquery q;
	char out[256];

	(void)state;
	assert_int_equal(hquery_parse(&q, "release=s1&cas=3&acquire=a%20b"),
	    0);
	hquery_encode(&q, out, sizeof(out));
	assert_string_equal(out, "acquire=a+b&cas=3&release=s1");
	hquery_free(&q);
}

static void
test_parse_u64(void **state)
{
	uint64_t v;
	char err[128];

	(void)state;
	assert_int_equal(parse_u64("0", &v, err, sizeof(err)), 0);
	assert_true(v == 0);
	assert_int_equal(parse_u64("18446744073709551615", &v, err,
	    sizeof(err)), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse_u64("18446744073709551616", &v, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "strconv.ParseUint: parsing "
	    "\"18446744073709551616\": value out of range");
	assert_int_equal(parse_u64("abc", &v, err, sizeof(err)), -1);
	assert_string_equal(err,
	    "strconv.ParseUint: parsing \"abc\": invalid syntax");
	assert_int_equal(parse_u64("", &v, err, sizeof(err)), -1);
	assert_int_equal(parse_u64("-1", &v, err, sizeof(err)), -1);
	assert_int_equal(parse_u64("1 ", &v, err, sizeof(err)), -1);
}

static void
test_blocking(void **state)
{
	struct hquery q;
	struct blocking b;
	const char *err = NULL;

	(void)state;
	assert_int_equal(hquery_parse(&q, "index=10&wait=4.91s"), 0);
	assert_int_equal(parse_blocking(&q, 300000, 600000, &b, &err), 0);
	assert_true(b.index == 10);
	assert_true(b.wait_ms == 4910);
	hquery_free(&q);
	assert_int_equal(hquery_parse(&q, "index=10&wait=60000ms"), 0);
	assert_int_equal(parse_blocking(&q, 300000, 600000, &b, &err), 0);
	assert_true(b.wait_ms == 60000);
	hquery_free(&q);
	/* no wait: the default; over the max: clamped */
	assert_int_equal(hquery_parse(&q, "index=1"), 0);
	assert_int_equal(parse_blocking(&q, 300000, 600000, &b, &err), 0);
	assert_true(b.wait_ms == 300000);
	hquery_free(&q);
	assert_int_equal(hquery_parse(&q, "index=1&wait=1h"), 0);
	assert_int_equal(parse_blocking(&q, 300000, 600000, &b, &err), 0);
	assert_true(b.wait_ms == 600000);
	hquery_free(&q);
	assert_int_equal(hquery_parse(&q, "index=x"), 0);
	assert_int_equal(parse_blocking(&q, 300000, 600000, &b, &err), -1);
	assert_string_equal(err, "Invalid index");
	hquery_free(&q);
	assert_int_equal(hquery_parse(&q, "index=1&wait=10"), 0);
	assert_int_equal(parse_blocking(&q, 300000, 600000, &b, &err), -1);
	assert_string_equal(err, "Invalid wait time");
	hquery_free(&q);
	/* jitter: at most wait/16, never past the max */
	for (uint64_t r = 0; r < 1000; r += 7) {
		uint64_t j = blocking_jitter(16000, 600000, r * 7919);

		assert_true(j >= 16000 && j < 17000);
	}
	assert_true(blocking_jitter(600000, 600000, 12345) == 600000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_decode),
		cmocka_unit_test(test_query_booleans),
		cmocka_unit_test(test_query_encode),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_blocking),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
