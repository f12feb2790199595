/* go_json_test.c: httpd's reading of request bodies as Go's
 * encoding/json reads them (httpd/go_json.c): where a value ends (and
 * that what follows an object is not read), and Go's exact error texts
 * for empty and truncated bodies and for each scanner context. The
 * expected texts are what Go 1.x's json.Decoder answers for the same
 * bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "go_json.h"

struct ok_case {
	const char *in;
	size_t end;
};

struct bad_case {
	const char *in;
	const char *err;
};

static void
test_accepts(void **state)
{
	static const struct ok_case cases[] = {
		{ "{}", 2 },
		{ "  {\"a\":1}  trailing garbage", 9 },
		{ "{\"a\":[1,2.5e-3,-0,true,false,null,\"x\\u00e9\\n\"]}", 47 },
		{ "[]", 2 },
		{ "[{}]x", 4 },
		{ "null", 4 },
		{ "123", 3 },
		{ "123 ", 3 },
		{ "\"s\"\n", 3 },
		{ "{\"k\":{\"k\":{\"k\":{}}}}", 20 },
		{ "{\"\\\"\\\\\\/\\b\\f\\n\\r\\t\":0}", 22 },
	};
	char err[256];
	size_t end;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		end = 0;
		if (go_json_scan(cases[i].in, strlen(cases[i].in), &end, err,
		    sizeof(err)) != 0)
			fail_msg("%s: refused: %s", cases[i].in, err);
		assert_int_equal(end, cases[i].end);
	}
}

static void
test_refuses_with_go_texts(void **state)
{
	static const struct bad_case cases[] = {
		{ "", "EOF" },
		{ "  \n\t", "EOF" },
		{ "{", "unexpected EOF" },
		{ "{\"Node\":", "unexpected EOF" },
		{ "{\"Node\":\"x", "unexpected EOF" },
		{ "[1,", "unexpected EOF" },
		{ "tru", "unexpected EOF" },
		{ "-", "unexpected EOF" },
		{ "1.", "unexpected EOF" },
		{ "{bad}", "invalid character 'b' looking for beginning of "
		    "object key string" },
		{ "{\"a\" 1}", "invalid character '1' after object key" },
		{ "{\"a\":1 \"b\":2}", "invalid character '\"' after object "
		    "key:value pair" },
		{ "{\"a\":1,}", "invalid character '}' looking for beginning "
		    "of object key string" },
		{ "[1 2]", "invalid character '2' after array element" },
		{ "[1,]", "invalid character ']' looking for beginning of "
		    "value" },
		{ "x", "invalid character 'x' looking for beginning of value" },
		{ "{\"a\":x}", "invalid character 'x' looking for beginning "
		    "of value" },
		{ "{'a':1}", "invalid character '\\'' looking for beginning "
		    "of object key string" },
		{ "{\"a\":\"\x01\"}", "invalid character '\\x01' in string "
		    "literal" },
		{ "{\"a\":\"\n\"}", "invalid character '\\n' in string "
		    "literal" },
		{ "{\"a\":\"\\q\"}", "invalid character 'q' in string escape "
		    "code" },
		{ "{\"a\":\"\\u12g4\"}", "invalid character 'g' in \\u "
		    "hexadecimal character escape" },
		{ "{\"a\":-x}", "invalid character 'x' in numeric literal" },
		{ "{\"a\":1.x}", "invalid character 'x' after decimal point "
		    "in numeric literal" },
		{ "{\"a\":1ex}", "invalid character 'x' in exponent of "
		    "numeric literal" },
		{ "{\"a\":01}", "invalid character '1' after object key:value "
		    "pair" },
		{ "{\"a\":nul}", "invalid character '}' in literal null "
		    "(expecting 'l')" },
		{ "{\"a\":trUe}", "invalid character 'U' in literal true "
		    "(expecting 'u')" },
		{ "01", "invalid character '1' after top-level value" },
		{ "\"a\"b", "invalid character 'b' after top-level value" },
		{ "\xff", "invalid character '\xc3\xbf' looking for beginning "
		    "of value" },
		{ "\x85", "invalid character '\\u0085' looking for beginning "
		    "of value" },
	};
	char err[256];
	size_t end;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (go_json_scan(cases[i].in, strlen(cases[i].in), &end, err,
		    sizeof(err)) == 0)
			fail_msg("%s: accepted", cases[i].in);
		if (strcmp(err, cases[i].err) != 0)
			fail_msg("%s: %s (want %s)", cases[i].in, err,
			    cases[i].err);
	}
}

static void
test_depth_and_nul(void **state)
{
	char *deep = malloc(4002), err[256];
	size_t end;

	(void)state;
	memset(deep, '[', 2000);
	memset(deep + 2000, ']', 2000);
	deep[4000] = '\0';
	assert_int_equal(go_json_scan(deep, 4000, &end, err, sizeof(err)), -1);
	assert_string_equal(err, "exceeded max depth");
	free(deep);
	/* A NUL byte is a control character inside a string, and no value
	 * begins with one. */
	assert_int_equal(go_json_scan("\"a\0\"", 4, &end, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "invalid character '\\x00' in string "
	    "literal");
}

static void
test_quote_and_kind(void **state)
{
	char q[32];
	json_t *v;

	(void)state;
	go_json_quote("Fo\"o\n", 5, q, sizeof(q));
	assert_string_equal(q, "\"Fo\\\"o\\n\"");
	go_json_quote_char('"', q, sizeof(q));
	assert_string_equal(q, "'\"'");
	go_json_quote_char('\t', q, sizeof(q));
	assert_string_equal(q, "'\\t'");
	v = go_json_load("[1, 2.5, \"s\", true, {}, []]", 27, q, sizeof(q));
	assert_non_null(v);
	assert_string_equal(go_json_kind(json_array_get(v, 0)), "number");
	assert_string_equal(go_json_kind(json_array_get(v, 1)), "number");
	assert_string_equal(go_json_kind(json_array_get(v, 2)), "string");
	assert_string_equal(go_json_kind(json_array_get(v, 3)), "bool");
	assert_string_equal(go_json_kind(json_array_get(v, 4)), "object");
	assert_string_equal(go_json_kind(json_array_get(v, 5)), "array");
	json_decref(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_refuses_with_go_texts),
		cmocka_unit_test(test_depth_and_nul),
		cmocka_unit_test(test_quote_and_kind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
