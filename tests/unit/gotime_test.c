/* gotime_test.c: Go duration parsing and formatting, checked against the
 * tables of Go's own src/time/time_test.go (parseDurationTests,
 * parseDurationErrorTests, durationTests) plus the forms Consul configs
 * use, and the monotonic clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "gotime.h"

#define NS	1LL
#define US	(1000 * NS)
#define MS	(1000 * US)
#define SEC	(1000 * MS)
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)

static const struct {
	const char *in;
	int64_t want;
} good[] = {
	{ "0", 0 },
	{ "5s", 5 * SEC },
	{ "30s", 30 * SEC },
	{ "1478s", 1478 * SEC },
	{ "-5s", -5 * SEC },
	{ "+5s", 5 * SEC },
	{ "-0", 0 },
	{ "+0", 0 },
	{ "5.0s", 5 * SEC },
	{ "5.6s", 5 * SEC + 600 * MS },
	{ "5.s", 5 * SEC },
	{ ".5s", 500 * MS },
	{ "1.0s", 1 * SEC },
	{ "1.00s", 1 * SEC },
	{ "1.004s", 1 * SEC + 4 * MS },
	{ "1.0040s", 1 * SEC + 4 * MS },
	{ "100.00100s", 100 * SEC + 1 * MS },
	{ "10ns", 10 * NS },
	{ "11us", 11 * US },
	{ "12\xc2\xb5s", 12 * US },	/* U+00B5 */
	{ "12\xce\xbcs", 12 * US },	/* U+03BC */
	{ "13ms", 13 * MS },
	{ "14s", 14 * SEC },
	{ "15m", 15 * MIN },
	{ "16h", 16 * HOUR },
	{ "3h30m", 3 * HOUR + 30 * MIN },
	{ "10.5s4m", 4 * MIN + 10 * SEC + 500 * MS },
	{ "-2m3.4s", -(2 * MIN + 3 * SEC + 400 * MS) },
	{ "1h2m3s4ms5us6ns", HOUR + 2 * MIN + 3 * SEC + 4 * MS + 5 * US +
	  6 * NS },
	{ "39h9m14.425s", 39 * HOUR + 9 * MIN + 14 * SEC + 425 * MS },
	{ "52763797000ns", 52763797000 * NS },
	{ "0.3333333333333333333h", 20 * MIN },
	{ "9007199254740993ns", (1LL << 53) + 1 },
	{ "9223372036854775807ns", INT64_MAX },
	{ "9223372036854775.807us", INT64_MAX },
	{ "9223372036s854ms775us807ns", INT64_MAX },
	{ "-9223372036854775808ns", INT64_MIN },
	{ "-9223372036854775.808us", INT64_MIN },
	{ "-9223372036s854ms775us808ns", INT64_MIN },
	{ "-2562047h47m16.854775808s", INT64_MIN },
	{ "0.100000000000000000000h", 6 * MIN },
	{ "0.830103483285477580700h", 49 * MIN + 48 * SEC + 372539827 * NS },
	/* The forms the brief names. */
	{ "4.91s", 4910 * MS },
	{ "1.5h", 90 * MIN },
	{ "-1.5h", -90 * MIN },
	{ "2h45m", 2 * HOUR + 45 * MIN },
	{ "300ms", 300 * MS },
	{ "60000ms", 60 * SEC },
	{ "1us", US },
	{ "300s", 300 * SEC },
};

static const char *const syntax_errors[] = {
	"", "3", "1", "-", "s", ".", "-.", ".s", "+.s", "1d", "\x85\x85",
	"\xff" "ff", "hello \xff" "ff world", "\xef\xbf\xbd",
	"\xef\xbf\xbd hello \xef\xbf\xbd world", "1s ", " 1s", "1S", "1 s",
	"1.5", "5s3", "1e3s", "--1s",
};

static const char *const range_errors[] = {
	"9223372036854775810ns", "9223372036854775808ns",
	"-9223372036854775809ns", "9223372036854776us", "3000000h",
	"9223372036854775.808us", "9223372036854ms775us808ns",
	"99999999999999999999s",
};

static void
test_parse_good(void **state)
{
	size_t i;
	int64_t ns;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ns = 12345;
		if (go_duration_parse(good[i].in, &ns) != 0 ||
		    ns != good[i].want)
			fail_msg("%s: got %lld want %lld", good[i].in,
			    (long long)ns, (long long)good[i].want);
	}
}

static void
test_parse_errors(void **state)
{
	size_t i;
	int64_t ns;

	for (i = 0; i < sizeof(syntax_errors) / sizeof(*syntax_errors); i++)
		if (go_duration_parse(syntax_errors[i], &ns) != -LE_INVAL)
			fail_msg("\"%s\" should be -LE_INVAL",
			    syntax_errors[i]);
	for (i = 0; i < sizeof(range_errors) / sizeof(range_errors[0]); i++)
		if (go_duration_parse(range_errors[i], &ns) != -LE_RANGE)
			fail_msg("\"%s\" should be -LE_RANGE", range_errors[i]);
	assert_int_equal(go_duration_parse(NULL, &ns), -LE_INVAL);
}

static const struct {
	const char *str;
	int64_t d;
} formats[] = {
	{ "0s", 0 },
	{ "1ns", 1 * NS },
	{ "1.1\xc2\xb5s", 1100 * NS },
	{ "2.2ms", 2200 * US },
	{ "3.3s", 3300 * MS },
	{ "4m5s", 4 * MIN + 5 * SEC },
	{ "4m5.001s", 4 * MIN + 5001 * MS },
	{ "5h6m7.001s", 5 * HOUR + 6 * MIN + 7001 * MS },
	{ "8m0.000000001s", 8 * MIN + 1 * NS },
	{ "2562047h47m16.854775807s", INT64_MAX },
	{ "-2562047h47m16.854775808s", INT64_MIN },
	{ "5m0s", 300 * SEC },
	{ "10m0s", 600 * SEC },
	{ "1h0m0s", HOUR },
	{ "1h30m0s", 90 * MIN },
	{ "-1h30m0s", -90 * MIN },
	{ "4.91s", 4910 * MS },
	{ "999ns", 999 },
	{ "-1ms", -MS },
	{ "1m0s", MIN },
};

static void
test_format(void **state)
{
	char buf[64];
	size_t i;
	int64_t back;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		go_duration_format(formats[i].d, buf, sizeof(buf));
		assert_string_equal(buf, formats[i].str);
		/* What Go prints, Go parses back. */
		assert_int_equal(go_duration_parse(buf, &back), 0);
		assert_true(back == formats[i].d);
	}
}

static void
test_format_truncates(void **state)
{
	char buf[5];

	memset(buf, 'x', sizeof(buf));
	go_duration_format(HOUR + 30 * MIN, buf, sizeof(buf));
	assert_string_equal(buf, "1h30");
	go_duration_format(HOUR, buf, 1);
	assert_string_equal(buf, "");
	buf[0] = 'x';
	go_duration_format(HOUR, buf, 0);	/* writes nothing */
	assert_int_equal(buf[0], 'x');
}

static void
test_mono(void **state)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	uint64_t a, b, an, bn;

	a = mono_ms();
	an = mono_ns();
	nanosleep(&ts, NULL);
	b = mono_ms();
	bn = mono_ns();
	assert_true(b >= a + 19);
	assert_true(b < a + 5000);
	assert_true(bn - an >= 19 * 1000 * 1000ULL);
	/* Both read the same clock. */
	assert_true(mono_ns() / 1000000 >= b);
}

int
main(void)
{
	const struct CMUnitTest TESTS[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_truncates),
		cmocka_unit_test(test_mono),
	};

	return cmocka_run_group_tests(TESTS, NULL, NULL);
}
