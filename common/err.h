/* err.h: the one error idiom. Functions return 0 on success or a negative
 * code from err.def; le_strerror() names it. Context for humans goes into a
 * caller-supplied buffer (struct lerr) when a function takes one. */
#ifndef LICTOR_ERR_H
#define LICTOR_ERR_H

#include <stddef.h>

enum lerr_code {
	LE_OK = 0,
#define X(name, value, text) name = value,
#include "err.def"
#undef X
};

const char *le_strerror(int code); /* accepts code or -code */

/* A message buffer for errors that need context (file, line, key ...). */
struct lerr {
	char msg[512];
};

/* Formats into e->msg (if e is not NULL) and returns -code. */
int lerr_set(struct lerr *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
