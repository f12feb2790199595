/* log.h: the one log API, after OpenBSD's log.h. Every line carries the
 * daemon's name (log_procinit) and a level; "x" variants omit errno.
 * Output goes to stderr, which init points at the agent's log sink.
 * Thread-safe: one write(2) per line. */
#ifndef LICTOR_LOG_H
#define LICTOR_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_TRACE = 0,
	LOG_LVL_DEBUG = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_WARN = 3,
	LOG_LVL_ERROR = 4,
};

void log_procinit(const char *name);
const char *log_procname(void);
void log_setlevel(enum log_level lvl);
enum log_level log_getlevel(void);
/* Parses "trace", "debug", "info", "warn", "err"/"error" (any case).
 * Returns 0 and sets *out, or -LE_INVAL. */
int log_parse_level(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);

void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* fatal: log with errno and exit(111) so init restarts us.
 * fatalx: log without errno. */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Exit codes after s6: 100 = permanent (config/usage; do not restart),
 * 111 = temporary (restart). */
#define EXIT_PERMANENT 100
#define EXIT_TEMPORARY 111

#endif
