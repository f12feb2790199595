/* flags.c: command-line flags with the syntax, number parsing and error
 * texts of Go's flag package (src/flag/flag.go, strconv.ParseInt/
 * ParseUint with base 0, strconv.ParseBool, time.ParseDuration), because
 * operators paste Consul command lines and compare its messages. Also
 * the string list that repeatable flags and the config share. */
#include "flags.h"
#include "gotime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
strlist_push(struct strlist *l, const char *s)
{
	char **v, *d;

	if ((d = strdup(s)) == NULL)
		abort();
	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL)
		abort();
	v[l->n++] = d;
	l->v = v;
}

void
strlist_free(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* strconv's outcomes, which flag.go maps to its own two texts. */
#define NUM_SYNTAX	1
#define NUM_RANGE	2

static char
lower(char c)
{
	return (char)(c | ('x' - 'X'));
}

/* strconv.underscoreOK: "_" only between digits or after a base prefix. */
static int
underscore_ok(const char *s)
{
	char saw = '^';
	int hex = 0;
	size_t i = 0;

	if (*s == '-' || *s == '+')
		s++;
	if (strlen(s) >= 2 && s[0] == '0' && (lower(s[1]) == 'b' ||
	    lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
		i = 2;
		saw = '0';
		hex = lower(s[1]) == 'x';
	}
	for (; s[i] != '\0'; i++) {
		if ((s[i] >= '0' && s[i] <= '9') ||
		    (hex && lower(s[i]) >= 'a' && lower(s[i]) <= 'f')) {
			saw = '0';
			continue;
		}
		if (s[i] == '_') {
			if (saw != '0')
				return 0;
			saw = '_';
			continue;
		}
		if (saw == '_')
			return 0;
		saw = '!';
	}
	return saw != '_';
}

/* strconv.ParseUint(s, 0, 64). */
static int
parse_uint(const char *s, uint64_t *out)
{
	const char *s0 = s;
	uint64_t n = 0, n1, base = 10, cutoff;
	int underscores = 0;

	*out = 0;
	if (*s == '\0')
		return NUM_SYNTAX;
	if (s[0] == '0') {
		size_t len = strlen(s);

		if (len >= 3 && lower(s[1]) == 'b') {
			base = 2;
			s += 2;
		} else if (len >= 3 && lower(s[1]) == 'o') {
			base = 8;
			s += 2;
		} else if (len >= 3 && lower(s[1]) == 'x') {
			base = 16;
			s += 2;
		} else {
			base = 8;
			s++;
		}
	}
	cutoff = UINT64_MAX / base + 1;
	for (; *s != '\0'; s++) {
		uint64_t d;

		if (*s == '_') {
			underscores = 1;
			continue;
		} else if (*s >= '0' && *s <= '9')
			d = (uint64_t)(*s - '0');
		else if (lower(*s) >= 'a' && lower(*s) <= 'z')
			d = (uint64_t)(lower(*s) - 'a' + 10);
		else
			return NUM_SYNTAX;
		if (d >= base)
			return NUM_SYNTAX;
		if (n >= cutoff)
			return NUM_RANGE;
		n *= base;
		n1 = n + d;
		if (n1 < n)
			return NUM_RANGE;
		n = n1;
	}
	if (underscores && !underscore_ok(s0))
		return NUM_SYNTAX;
	*out = n;
	return 0;
}

/* strconv.ParseInt(s, 0, 64). */
static int
parse_int(const char *s, int64_t *out)
{
	uint64_t un;
	int neg = 0, rv;

	*out = 0;
	if (*s == '\0')
		return NUM_SYNTAX;
	if (*s == '+')
		s++;
	else if (*s == '-') {
		neg = 1;
		s++;
	}
	rv = parse_uint(s, &un);
	if (rv == NUM_SYNTAX)
		return rv;
	if (rv == NUM_RANGE)
		return NUM_RANGE;
	if (!neg && un >= (1ULL << 63))
		return NUM_RANGE;
	if (neg && un > (1ULL << 63))
		return NUM_RANGE;
	*out = neg ? (int64_t)(0 - un) : (int64_t)un;
	return 0;
}

/* strconv.ParseBool. */
static int
parse_bool(const char *s, bool *out)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true",
		"True" };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false",
		"False" };
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(s, t[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, f[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return NUM_SYNTAX;
}

static const char *
num_error(int rv)
{
	return rv == NUM_RANGE ? "value out of range" : "parse error";
}

static const struct flag_def *
lookup(const struct flag_def *defs, const char *name, size_t len)
{
	for (; defs->name != NULL; defs++)
		if (strlen(defs->name) == len &&
		    memcmp(defs->name, name, len) == 0)
			return defs;
	return NULL;
}

/* flag.Value.Set for the non-boolean kinds. */
static int
set_value(const struct flag_def *d, const char *value)
{
	int64_t i;
	uint64_t u;
	char *s;
	int rv;

	switch (d->type) {
	case FLAG_INT:
		if ((rv = parse_int(value, &i)) != 0)
			return rv;
		*(int64_t *)d->target = i;
		break;
	case FLAG_UINT:
		if ((rv = parse_uint(value, &u)) != 0)
			return rv;
		*(uint64_t *)d->target = u;
		break;
	case FLAG_STRING:
		if ((s = strdup(value)) == NULL)
			abort();
		free(*(char **)d->target);
		*(char **)d->target = s;
		break;
	case FLAG_STRLIST:
		strlist_push(d->target, value);
		break;
	case FLAG_DURATION:
		/* flag.durationValue maps every failure to errParse. */
		if (go_duration_parse(value, &i) != 0)
			return NUM_SYNTAX;
		*(int64_t *)d->target = i;
		break;
	case FLAG_BOOL:
		break;
	}
	return 0;
}

/* flag.(*FlagSet).parseOne: 1 if a flag was consumed, 0 at the end of
 * the flags, or a negative error. */
static int
parse_one(const struct flag_def *defs, int argc, char **argv, int *i,
    struct lerr *e)
{
	const struct flag_def *d;
	const char *s = argv[*i], *name, *eq, *value = NULL;
	size_t nlen;
	bool b;
	int rv;

	if (strlen(s) < 2 || s[0] != '-')
		return 0;
	name = s + 1;
	if (s[1] == '-') {
		if (s[2] == '\0') {	/* "--" ends the flags */
			(*i)++;
			return 0;
		}
		name++;
	}
	if (*name == '\0' || *name == '-' || *name == '=')
		return lerr_set(e, LE_INVAL, "bad flag syntax: %s", s);
	(*i)++;
	if ((eq = strchr(name, '=')) != NULL) {
		nlen = (size_t)(eq - name);
		value = eq + 1;
	} else
		nlen = strlen(name);
	if ((d = lookup(defs, name, nlen)) == NULL) {
		if ((nlen == 1 && name[0] == 'h') ||
		    (nlen == 4 && memcmp(name, "help", 4) == 0)) {
			if (e != NULL)
				e->msg[0] = '\0';
			return -LE_STATE;
		}
		return lerr_set(e, LE_INVAL,
		    "flag provided but not defined: -%.*s", (int)nlen, name);
	}
	if (d->type == FLAG_BOOL) {
		/* A boolean never takes the next argument. */
		if (value == NULL)
			b = true;
		else if (parse_bool(value, &b) != 0)
			return lerr_set(e, LE_INVAL, "invalid boolean value "
			    "\"%s\" for -%s: parse error", value, d->name);
		*(bool *)d->target = b;
	} else {
		if (value == NULL && *i < argc)
			value = argv[(*i)++];
		if (value == NULL)
			return lerr_set(e, LE_INVAL,
			    "flag needs an argument: -%s", d->name);
		if ((rv = set_value(d, value)) != 0)
			return lerr_set(e, LE_INVAL, "invalid value \"%s\" for "
			    "flag -%s: %s", value, d->name, num_error(rv));
	}
	if (d->seen != NULL)
		*d->seen = true;
	return 1;
}

int
flags_parse(const struct flag_def *defs, int argc, char **argv,
    int *rest, struct lerr *e)
{
	int i = 0, rv;

	while (i < argc) {
		if ((rv = parse_one(defs, argc, argv, &i, e)) < 0)
			return rv;
		if (rv == 0)
			break;
	}
	if (rest != NULL)
		*rest = i;
	return 0;
}

static int
cmp_defs(const void *a, const void *b)
{
	const struct flag_def *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* flag.UnquoteUsage: a `backquoted` word in the usage names the value. */
static void
print_one(FILE *f, const struct flag_def *d)
{
	static const char *const tnames[] = { "", "int", "uint", "string",
		"value", "duration" };
	const char *usage = d->usage ? d->usage : "", *q1, *q2, *p;
	char head[256], dur[40];
	int n;

	q1 = strchr(usage, '`');
	q2 = q1 ? strchr(q1 + 1, '`') : NULL;
	if (q2 != NULL)
		n = snprintf(head, sizeof(head), "  -%s %.*s", d->name,
		    (int)(q2 - q1 - 1), q1 + 1);
	else
		n = snprintf(head, sizeof(head), "  -%s%s%s", d->name,
		    *tnames[d->type] ? " " : "", tnames[d->type]);
	/* Go puts a one-letter boolean's usage on the same line. */
	fprintf(f, "%s%s", head, n <= 4 ? "\t" : "\n    \t");
	for (p = usage; *p != '\0'; p++) {
		if (q2 != NULL && (p == q1 || p == q2))
			continue;
		if (*p == '\n')
			fputs("\n    \t", f);
		else
			fputc(*p, f);
	}
	/* Go shows a default only when it is not the zero value. */
	switch (d->type) {
	case FLAG_BOOL:
		if (*(bool *)d->target)
			fputs(" (default true)", f);
		break;
	case FLAG_INT:
		if (*(int64_t *)d->target != 0)
			fprintf(f, " (default %lld)",
			    (long long)*(int64_t *)d->target);
		break;
	case FLAG_UINT:
		if (*(uint64_t *)d->target != 0)
			fprintf(f, " (default %llu)", (unsigned long long)
			    *(uint64_t *)d->target);
		break;
	case FLAG_STRING:
		if (*(char **)d->target != NULL && **(char **)d->target)
			fprintf(f, " (default \"%s\")", *(char **)d->target);
		break;
	case FLAG_DURATION:
		if (*(int64_t *)d->target != 0) {
			go_duration_format(*(int64_t *)d->target, dur,
			    sizeof(dur));
			fprintf(f, " (default %s)", dur);
		}
		break;
	case FLAG_STRLIST:
		break;
	}
	fputc('\n', f);
}

void
flags_usage(const struct flag_def *defs, void *fp)
{
	const struct flag_def **v;
	size_t n = 0, i;

	while (defs[n].name != NULL)
		n++;
	if (n == 0)
		return;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		abort();
	for (i = 0; i < n; i++)
		v[i] = &defs[i];
	/* Go's PrintDefaults lists flags in lexical order. */
	qsort(v, n, sizeof(*v), cmp_defs);
	for (i = 0; i < n; i++)
		print_one(fp, v[i]);
	free(v);
}
