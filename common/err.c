/* err.c: error code names and the context buffer. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *
le_strerror(int code)
{
	if (code < 0)
		code = -code;
	switch (code) {
	case 0:
		return "success";
#define X(name, value, text) \
	case value:              \
		return text;
#include "err.def"
#undef X
	default:
		return "unknown error";
	}
}

int
lerr_set(struct lerr *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e != NULL) {
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return code > 0 ? -code : code;
}
