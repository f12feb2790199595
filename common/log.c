/* log.c: timestamped, levelled log lines, one write(2) each. */
#include "log.h"
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_name = "lictor";
static volatile int log_level = LOG_LVL_INFO;

void
log_procinit(const char *name)
{
	log_name = name;
}

const char *
log_procname(void)
{
	return log_name;
}

void
log_setlevel(enum log_level lvl)
{
	log_level = lvl;
}

enum log_level
log_getlevel(void)
{
	return log_level;
}

static const char *level_names[] = { "TRACE", "DEBUG", "INFO", "WARN",
	"ERROR" };

const char *
log_level_name(enum log_level lvl)
{
	if ((unsigned)lvl > LOG_LVL_ERROR)
		return "?";
	return level_names[lvl];
}

int
log_parse_level(const char *s, enum log_level *out)
{
	if (s == NULL)
		return -LE_INVAL;
	if (strcasecmp(s, "trace") == 0)
		*out = LOG_LVL_TRACE;
	else if (strcasecmp(s, "debug") == 0)
		*out = LOG_LVL_DEBUG;
	else if (strcasecmp(s, "info") == 0)
		*out = LOG_LVL_INFO;
	else if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
		*out = LOG_LVL_WARN;
	else if (strcasecmp(s, "err") == 0 || strcasecmp(s, "error") == 0)
		*out = LOG_LVL_ERROR;
	else
		return -LE_INVAL;
	return 0;
}

static void log_vemit(enum log_level, int, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
log_vemit(enum log_level lvl, int errnum, const char *fmt, va_list ap)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int r;

	if ((int)lvl < log_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03dZ [%s] %*s%s: ",
	    (int)(tv.tv_usec / 1000), level_names[lvl],
	    (int)(5 - strlen(level_names[lvl])), "", log_name);
	if (r > 0)
		n += (size_t)r;
	if (n < sizeof(line)) {
		r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (r > 0)
			n += (size_t)r;
	}
	if (n >= sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (errnum != 0) {
		r = snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(errnum));
		if (r > 0)
			n += (size_t)r;
		if (n >= sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

#define LOG_FN(fname, lvl, witherr)                    \
	void fname(const char *fmt, ...)               \
	{                                              \
		int saved = errno;                     \
		va_list ap;                            \
		va_start(ap, fmt);                     \
		log_vemit(lvl, witherr ? saved : 0, fmt, ap); \
		va_end(ap);                            \
		errno = saved;                         \
	}

LOG_FN(log_trace, LOG_LVL_TRACE, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(EXIT_TEMPORARY);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(EXIT_TEMPORARY);
}
