/* gotime.h: Go's time.Duration syntax, which Consul uses everywhere in
 * its API and config: "300ms", "1.5h", "2h45m", "-1.5h", "10s", "4.91s",
 * "60000ms", "1us", "1µs", "0". Units ns, us, µs (U+00B5 and U+03BC), ms,
 * s, m, h. A unitless number other than 0 is an error, as in Go. */
#ifndef LICTOR_GOTIME_H
#define LICTOR_GOTIME_H

#include <stddef.h>
#include <stdint.h>

/* 0 and *ns, or -LE_INVAL (syntax) / -LE_RANGE (overflow). */
int go_duration_parse(const char *s, int64_t *ns);
/* Formats as Go's Duration.String(): "1h2m3.5s", "1.5s", "300ms", "0s". */
void go_duration_format(int64_t ns, char *buf, size_t len);

/* Monotonic clock in milliseconds / nanoseconds. */
uint64_t mono_ms(void);
uint64_t mono_ns(void);

#endif
