/* gotime.c: Go's time.Duration text form, parsed and printed exactly as
 * Go's time.ParseDuration and Duration.String() do (the algorithms are
 * transcribed from Go's src/time/time.go so that edge cases such as
 * fractions of hours, "-9223372036854775808ns" and "1.s" agree), and the
 * monotonic clock every timeout in lictor is measured with. */
#include "gotime.h"
#include "err.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#define NS_US	1000ULL
#define NS_MS	1000000ULL
#define NS_S	1000000000ULL
#define NS_M	(60 * NS_S)
#define NS_H	(60 * NS_M)
#define BIT63	(1ULL << 63)

static const struct {
	const char *name;
	uint64_t ns;
} units[] = {
	{ "ns", 1 },
	{ "us", NS_US },
	{ "\xc2\xb5s", NS_US },	/* U+00B5 micro sign */
	{ "\xce\xbcs", NS_US },	/* U+03BC Greek small letter mu */
	{ "ms", NS_MS },
	{ "s", NS_S },
	{ "m", NS_M },
	{ "h", NS_H },
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Go's leadingInt: [0-9]*, failing on overflow past 1<<63. */
static int
leading_int(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t x = 0;

	for (; is_digit(*s); s++) {
		if (x > BIT63 / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
		if (x > BIT63)
			return -1;
	}
	*sp = s;
	*out = x;
	return 0;
}

/* Go's leadingFraction: [0-9]*, silently dropping precision it cannot
 * hold instead of failing. */
static void
leading_fraction(const char **sp, uint64_t *out, double *scale)
{
	const char *s = *sp;
	uint64_t x = 0, y;
	bool overflow = false;

	*scale = 1;
	for (; is_digit(*s); s++) {
		if (overflow)
			continue;
		if (x > (BIT63 - 1) / 10) {
			overflow = true;
			continue;
		}
		y = x * 10 + (uint64_t)(*s - '0');
		if (y > BIT63) {
			overflow = true;
			continue;
		}
		x = y;
		*scale *= 10;
	}
	*sp = s;
	*out = x;
}

int
go_duration_parse(const char *s, int64_t *ns)
{
	uint64_t d = 0, v, f, unit;
	double scale;
	const char *start;
	size_t ulen, i;
	bool neg = false, pre, post;

	if (s == NULL)
		return -LE_INVAL;
	if (*s == '-' || *s == '+') {
		neg = *s == '-';
		s++;
	}
	/* A bare "0" is the only number allowed without a unit. */
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	if (*s == '\0')
		return -LE_INVAL;
	while (*s != '\0') {
		f = 0;
		scale = 1;
		if (!(*s == '.' || is_digit(*s)))
			return -LE_INVAL;
		start = s;
		if (leading_int(&s, &v) != 0)
			return -LE_RANGE;
		pre = s != start;
		post = false;
		if (*s == '.') {
			s++;
			start = s;
			leading_fraction(&s, &f, &scale);
			post = s != start;
		}
		if (!pre && !post)	/* ".s" */
			return -LE_INVAL;
		for (ulen = 0; s[ulen] != '\0' && s[ulen] != '.' &&
		    !is_digit(s[ulen]); ulen++)
			;
		if (ulen == 0)		/* missing unit */
			return -LE_INVAL;
		unit = 0;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].name) == ulen &&
			    memcmp(units[i].name, s, ulen) == 0)
				unit = units[i].ns;
		if (unit == 0)		/* unknown unit */
			return -LE_INVAL;
		s += ulen;
		if (v > BIT63 / unit)
			return -LE_RANGE;
		v *= unit;
		if (f > 0) {
			/* float64 keeps fractions of hours nanosecond exact. */
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > BIT63)
				return -LE_RANGE;
		}
		d += v;
		if (d > BIT63)
			return -LE_RANGE;
	}
	if (neg) {
		*ns = (int64_t)(0 - d);
		return 0;
	}
	if (d > BIT63 - 1)
		return -LE_RANGE;
	*ns = (int64_t)d;
	return 0;
}

/* Go's fmtFrac: v/10^prec's fraction without trailing zeros, written
 * backwards ending at buf[w]; returns the new w and v/10^prec. */
static size_t
fmt_frac(char *buf, size_t w, uint64_t *v, int prec)
{
	bool print = false;
	int i;

	for (i = 0; i < prec; i++) {
		uint64_t digit = *v % 10;

		print = print || digit != 0;
		if (print)
			buf[--w] = (char)('0' + digit);
		*v /= 10;
	}
	if (print)
		buf[--w] = '.';
	return w;
}

static size_t
fmt_int(char *buf, size_t w, uint64_t v)
{
	if (v == 0)
		buf[--w] = '0';
	while (v > 0) {
		buf[--w] = (char)('0' + v % 10);
		v /= 10;
	}
	return w;
}

void
go_duration_format(int64_t ns, char *out, size_t len)
{
	char buf[32];	/* longest is "-2562047h47m16.854775808s" */
	size_t w = sizeof(buf), n;
	uint64_t u = (uint64_t)ns;
	bool neg = ns < 0;

	if (len == 0)
		return;
	if (neg)
		u = 0 - u;
	if (u < NS_S) {
		int prec = 0;

		buf[--w] = 's';
		if (u == 0) {
			buf[--w] = '0';
			goto done;
		} else if (u < NS_US) {
			buf[--w] = 'n';
		} else if (u < NS_MS) {
			prec = 3;
			buf[--w] = '\xb5';	/* U+00B5, as Go prints */
			buf[--w] = '\xc2';
		} else {
			prec = 6;
			buf[--w] = 'm';
		}
		w = fmt_frac(buf, w, &u, prec);
		w = fmt_int(buf, w, u);
	} else {
		buf[--w] = 's';
		w = fmt_frac(buf, w, &u, 9);
		w = fmt_int(buf, w, u % 60);
		u /= 60;
		if (u > 0) {
			buf[--w] = 'm';
			w = fmt_int(buf, w, u % 60);
			u /= 60;
			/* Hours are the largest unit: days vary in length. */
			if (u > 0) {
				buf[--w] = 'h';
				w = fmt_int(buf, w, u);
			}
		}
	}
done:
	if (neg)
		buf[--w] = '-';
	n = sizeof(buf) - w;
	if (n >= len)
		n = len - 1;	/* truncate like snprintf */
	memcpy(out, buf + w, n);
	out[n] = '\0';
}

uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_S + (uint64_t)ts.tv_nsec;
}

uint64_t
mono_ms(void)
{
	return mono_ns() / NS_MS;
}
