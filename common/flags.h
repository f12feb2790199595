/* flags.h: command-line flags parsed as Go's flag package does, since
 * operators paste Consul command lines: "-name value", "-name=value",
 * "--name" and "--name=value"; a boolean is "-flag", "-flag=true" or
 * "-flag=false" (never "-flag false"); parsing stops at the first
 * non-flag argument or after "--". Repeatable flags (FLAG_STRLIST)
 * accumulate. Errors use Go's texts ("flag provided but not defined:
 * -foo", "invalid value \"x\" for flag -port: parse error", "flag needs
 * an argument: -node"). */
#ifndef LICTOR_FLAGS_H
#define LICTOR_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum flag_type {
	FLAG_BOOL,	/* bool * */
	FLAG_INT,	/* int64_t *; accepts decimal, 0x hex, leading -, as Go */
	FLAG_UINT,	/* uint64_t * */
	FLAG_STRING,	/* char ** (malloc'd; previous value freed) */
	FLAG_STRLIST,	/* struct strlist * (appends) */
	FLAG_DURATION,	/* int64_t * nanoseconds, Go duration syntax */
};

struct strlist {
	char **v;
	size_t n;
};
void strlist_push(struct strlist *l, const char *s); /* copies s; aborts on OOM */
void strlist_free(struct strlist *l);

struct flag_def {
	const char *name;	/* without dashes */
	enum flag_type type;
	void *target;
	const char *usage;	/* one line for -help */
	bool *seen;		/* optional: set true when given */
};

/* Parses argv[0..argc) (argv[0] is NOT skipped: pass argv+1 for a
 * program). On success returns 0 and sets *rest to the index of the first
 * non-flag argument. "-h"/"-help"/"--help" return -LE_STATE with e->msg
 * empty so the caller prints usage. */
int flags_parse(const struct flag_def *defs, int argc, char **argv,
    int *rest, struct lerr *e);
/* Prints "  -name\n    \tusage" lines like Go, to stream f (a FILE *). */
void flags_usage(const struct flag_def *defs, void *f);

#endif
