/* flags_test.c: Go flag package semantics: the accepted syntaxes, where
 * parsing stops, strconv's base-0 integers, booleans that never take the
 * next argument, repeatable lists, and Go's exact error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "flags.h"

struct vals {
	bool b, b_seen, i_seen;
	int64_t i, d;
	uint64_t u;
	char *s;
	struct strlist l;
	struct flag_def defs[8];
};

static int
setup(void **state)
{
	struct vals *v = calloc(1, sizeof(*v));
	struct flag_def defs[] = {
		{ "b", FLAG_BOOL, &v->b, "a boolean", &v->b_seen },
		{ "int", FLAG_INT, &v->i, "an integer", &v->i_seen },
		{ "uint", FLAG_UINT, &v->u, "an unsigned integer" },
		{ "str", FLAG_STRING, &v->s, "the `path` to use" },
		{ "list", FLAG_STRLIST, &v->l, "repeatable" },
		{ "dur", FLAG_DURATION, &v->d, "a duration" },
		{ NULL },
	};

	memcpy(v->defs, defs, sizeof(defs));
	*state = v;
	return 0;
}

static int
teardown(void **state)
{
	struct vals *v = *state;

	free(v->s);
	strlist_free(&v->l);
	free(v);
	return 0;
}

/* Parses a NULL-terminated argument list. */
static int
parse(struct vals *v, int *rest, struct lerr *e, ...)
{
	char *argv[32];
	va_list ap;
	int argc = 0;

	va_start(ap, e);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	memset(e->msg, 'x', sizeof(e->msg) - 1);
	e->msg[sizeof(e->msg) - 1] = '\0';
	return flags_parse(v->defs, argc, argv, rest, e);
}

static void
expect_err(struct vals *v, const char *want, ...)
{
	char *argv[32];
	struct lerr e;
	va_list ap;
	int argc = 0, rest = -1;

	va_start(ap, want);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	assert_int_equal(flags_parse(v->defs, argc, argv, &rest, &e),
	    -LE_INVAL);
	assert_string_equal(e.msg, want);
}

static void
test_syntaxes(void **state)
{
	struct vals *v = *state;
	struct lerr e;
	int rest;

	assert_int_equal(parse(v, &rest, &e, "-int", "5", "--str=a",
	    "-uint=7", "--dur", "1.5h", "-b", "x", "-int", "9", NULL), 0);
	assert_int_equal(rest, 7);	/* stops at the first non-flag */
	assert_true(v->b);
	assert_true(v->b_seen);
	assert_true(v->i_seen);
	assert_int_equal(v->i, 5);
	assert_int_equal(v->u, 7);
	assert_string_equal(v->s, "a");
	assert_true(v->d == 90LL * 60 * 1000000000);
}

static void
test_bool_forms(void **state)
{
	struct vals *v = *state;
	struct lerr e;
	int rest;

	assert_int_equal(parse(v, &rest, &e, "-b=true", NULL), 0);
	assert_true(v->b);
	assert_int_equal(parse(v, &rest, &e, "--b=false", NULL), 0);
	assert_false(v->b);
	assert_int_equal(parse(v, &rest, &e, "-b=T", NULL), 0);
	assert_true(v->b);
	assert_int_equal(parse(v, &rest, &e, "-b=0", NULL), 0);
	assert_false(v->b);
	/* "-b false": false is the first argument, b is true. */
	assert_int_equal(parse(v, &rest, &e, "-b", "false", NULL), 0);
	assert_true(v->b);
	assert_int_equal(rest, 1);
	expect_err(v, "invalid boolean value \"maybe\" for -b: parse error",
	    "-b=maybe", NULL);
	expect_err(v, "invalid boolean value \"\" for -b: parse error",
	    "-b=", NULL);
	expect_err(v, "invalid boolean value \"yes\" for -b: parse error",
	    "--b=yes", NULL);
}

static void
test_ints(void **state)
{
	static const struct {
		const char *in;
		int64_t want;
	} ok[] = {
		{ "0", 0 }, { "-5", -5 }, { "+5", 5 }, { "0x10", 16 },
		{ "0X1f", 31 }, { "010", 8 }, { "0o17", 15 }, { "0b101", 5 },
		{ "1_000", 1000 }, { "0x_ff", 255 },
		{ "9223372036854775807", INT64_MAX },
		{ "-9223372036854775808", INT64_MIN },
	};
	static const char *const bad[] = { "x", "", "08", "0x", "1.5", "1e3",
		"1__0", "_1", "1_", "--1", " 1", "0b2", "5s" };
	struct vals *v = *state;
	char arg[64], want[128];
	struct lerr e;
	size_t i;
	int rest;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(arg, sizeof(arg), "-int=%s", ok[i].in);
		assert_int_equal(parse(v, &rest, &e, arg, NULL), 0);
		if (v->i != ok[i].want)
			fail_msg("%s: got %lld", ok[i].in, (long long)v->i);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(arg, sizeof(arg), "-int=%s", bad[i]);
		snprintf(want, sizeof(want), "invalid value \"%s\" for flag "
		    "-int: parse error", bad[i]);
		expect_err(v, want, arg, NULL);
	}
	expect_err(v, "invalid value \"9223372036854775808\" for flag -int: "
	    "value out of range", "-int", "9223372036854775808", NULL);
	expect_err(v, "invalid value \"-9223372036854775809\" for flag -int: "
	    "value out of range", "-int", "-9223372036854775809", NULL);
	/* Overflow is reported before a later bad digit, as strconv does. */
	expect_err(v, "invalid value \"99999999999999999999x\" for flag -int: "
	    "value out of range", "-int", "99999999999999999999x", NULL);
}

static void
test_uints(void **state)
{
	struct vals *v = *state;
	struct lerr e;
	int rest;

	assert_int_equal(parse(v, &rest, &e, "-uint", "18446744073709551615",
	    NULL), 0);
	assert_true(v->u == UINT64_MAX);
	assert_int_equal(parse(v, &rest, &e, "-uint", "0xff", NULL), 0);
	assert_int_equal(v->u, 255);
	expect_err(v, "invalid value \"18446744073709551616\" for flag -uint: "
	    "value out of range", "-uint", "18446744073709551616", NULL);
	expect_err(v, "invalid value \"-1\" for flag -uint: parse error",
	    "-uint", "-1", NULL);
	expect_err(v, "invalid value \"+1\" for flag -uint: parse error",
	    "-uint", "+1", NULL);
}

static void
test_strings_and_lists(void **state)
{
	struct vals *v = *state;
	struct lerr e;
	int rest;

	/* A repeated string keeps the last value (ASan checks the free). */
	assert_int_equal(parse(v, &rest, &e, "-str", "a", "-str", "b",
	    "-str=", NULL), 0);
	assert_string_equal(v->s, "");
	assert_int_equal(parse(v, &rest, &e, "-list", "a", "--list=b",
	    "-list", "-c", NULL), 0);
	assert_int_equal(v->l.n, 3);
	assert_string_equal(v->l.v[0], "a");
	assert_string_equal(v->l.v[1], "b");
	assert_string_equal(v->l.v[2], "-c");	/* a value may start with - */
	/* "=" splits at the first one only. */
	assert_int_equal(parse(v, &rest, &e, "-str=a=b", NULL), 0);
	assert_string_equal(v->s, "a=b");
}

static void
test_durations(void **state)
{
	struct vals *v = *state;
	struct lerr e;
	int rest;

	assert_int_equal(parse(v, &rest, &e, "-dur", "300ms", NULL), 0);
	assert_int_equal(v->d, 300000000);
	assert_int_equal(parse(v, &rest, &e, "-dur=-1.5h", NULL), 0);
	assert_true(v->d == -90LL * 60 * 1000000000);
	assert_int_equal(parse(v, &rest, &e, "-dur=0", NULL), 0);
	assert_int_equal(v->d, 0);
	expect_err(v, "invalid value \"5\" for flag -dur: parse error",
	    "-dur", "5", NULL);
	expect_err(v, "invalid value \"9999999999h\" for flag -dur: parse "
	    "error", "-dur", "9999999999h", NULL);
}

static void
test_errors(void **state)
{
	struct vals *v = *state;

	expect_err(v, "flag provided but not defined: -nope", "-nope", NULL);
	expect_err(v, "flag provided but not defined: -nope", "--nope=1",
	    NULL);
	expect_err(v, "flag provided but not defined: -B", "-B", NULL);
	expect_err(v, "flag needs an argument: -str", "-str", NULL);
	expect_err(v, "flag needs an argument: -int", "-b", "--int", NULL);
	expect_err(v, "bad flag syntax: ---x", "---x", NULL);
	expect_err(v, "bad flag syntax: -=x", "-=x", NULL);
	expect_err(v, "bad flag syntax: --=x", "--=x", NULL);
}

static void
test_help(void **state)
{
	struct vals *v = *state;
	static const char *const forms[] = { "-h", "-help", "--help", "--h",
		"-help=1" };
	struct lerr e;
	size_t i;
	int rest;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		assert_int_equal(parse(v, &rest, &e, "-b", (char *)forms[i],
		    NULL), -LE_STATE);
		assert_string_equal(e.msg, "");
	}
}

static void
test_terminators(void **state)
{
	struct vals *v = *state;
	struct lerr e;
	int rest;

	/* "--" is consumed; what follows is not parsed. */
	assert_int_equal(parse(v, &rest, &e, "-int", "1", "--", "-int", "2",
	    NULL), 0);
	assert_int_equal(rest, 3);
	assert_int_equal(v->i, 1);
	/* A lone "-" is an argument. */
	assert_int_equal(parse(v, &rest, &e, "-b", "-", "-int", "3", NULL), 0);
	assert_int_equal(rest, 1);
	assert_int_equal(v->i, 1);
	/* Nothing at all. */
	assert_int_equal(parse(v, &rest, &e, NULL), 0);
	assert_int_equal(rest, 0);
	assert_int_equal(parse(v, &rest, &e, "cmd", "-b", NULL), 0);
	assert_int_equal(rest, 0);
	/* NULL rest and NULL lerr are allowed. */
	assert_int_equal(flags_parse(v->defs, 0, NULL, NULL, NULL), 0);
}

static void
test_usage(void **state)
{
	struct vals *v = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	v->i = 7;
	v->d = 5LL * 60 * 1000000000;
	assert_non_null(f = open_memstream(&buf, &len));
	flags_usage(v->defs, f);
	fclose(f);
	/* Sorted, Go's layout, defaults only when not zero. */
	assert_string_equal(buf,
	    "  -b\ta boolean\n"
	    "  -dur duration\n    \ta duration (default 5m0s)\n"
	    "  -int int\n    \tan integer (default 7)\n"
	    "  -list value\n    \trepeatable\n"
	    "  -str path\n    \tthe path to use\n"
	    "  -uint uint\n    \tan unsigned integer\n");
	free(buf);
}

static void
test_strlist(void **state)
{
	struct strlist l = { NULL, 0 };
	int i;

	for (i = 0; i < 100; i++)
		strlist_push(&l, i % 2 ? "odd" : "even");
	assert_int_equal(l.n, 100);
	assert_string_equal(l.v[99], "odd");
	strlist_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
	strlist_free(&l);	/* twice is harmless */
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest TESTS[] = {
		T(test_syntaxes),
		T(test_bool_forms),
		T(test_ints),
		T(test_uints),
		T(test_strings_and_lists),
		T(test_durations),
		T(test_errors),
		T(test_help),
		T(test_terminators),
		T(test_usage),
		cmocka_unit_test(test_strlist),
	};

	return cmocka_run_group_tests(TESTS, NULL, NULL);
}
