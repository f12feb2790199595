/* snapshot.c: Serf's snapshot file (see snapshot.h), the Serf layer's only
 * I/O: small appends to a local file, flushed every 500 ms, synced at
 * leave and close, rewritten when it grows. Serf's snapshotter runs on a
 * goroutine; here the writes are plain buffered stdio calls on the loop,
 * a few dozen bytes per membership change. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "snapshot.h"

#define FLUSH_US		500000ULL
#define RECOVER_US		(30ULL * 1000000)	/* compaction retry */
#define BYTES_PER_NODE		128
#define COMPACT_FACTOR		2
#define LINE_MAX_LEN		4096

struct alive {
	char *name;
	char *addr;
	uint64_t order;
	struct alive *next;
};

struct serf_snap {
	char *path;
	FILE *fh;
	bool rejoin_after_leave;
	bool leaving;
	size_t min_compact;
	size_t offset;
	uint64_t last_clock, last_event_clock, last_query_clock;
	struct alive **tab;
	size_t cap, count;
	uint64_t order;
	uint64_t now, last_flush, last_compact_try;
	bool dirty;
	void (*log)(void *arg, int level, const char *msg);
	void *log_arg;
};

static void
slog(struct serf_snap *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
slog(struct serf_snap *s, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (s->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->log(s->log_arg, level, buf);
}

/* ---- the alive map ---- */

static uint32_t
hash_str(const char *p)
{
	uint32_t h = 2166136261u;

	for (; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 16777619u;
	}
	return h;
}

static struct alive **
slot(struct serf_snap *s, const char *name)
{
	struct alive **pp;

	if (s->cap == 0)
		return NULL;
	for (pp = &s->tab[hash_str(name) & (s->cap - 1)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0)
			return pp;
	return pp;
}

static void
alive_clear(struct serf_snap *s)
{
	for (size_t b = 0; b < s->cap; b++) {
		struct alive *a = s->tab[b], *next;

		for (; a != NULL; a = next) {
			next = a->next;
			free(a->name);
			free(a->addr);
			free(a);
		}
		s->tab[b] = NULL;
	}
	s->count = 0;
}

static int
alive_grow(struct serf_snap *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	struct alive **t = calloc(cap, sizeof(*t));

	if (t == NULL)
		return -LE_NOMEM;
	for (size_t b = 0; b < s->cap; b++) {
		struct alive *a = s->tab[b], *next;

		for (; a != NULL; a = next) {
			next = a->next;
			a->next = t[hash_str(a->name) & (cap - 1)];
			t[hash_str(a->name) & (cap - 1)] = a;
		}
	}
	free(s->tab);
	s->tab = t;
	s->cap = cap;
	return 0;
}

static void
alive_set(struct serf_snap *s, const char *name, const char *addr)
{
	struct alive **pp, *a;
	char *ad;

	if (s->count + 1 > s->cap / 2 && alive_grow(s) != 0)
		return;
	pp = slot(s, name);
	if ((ad = strdup(addr)) == NULL)
		return;
	if (*pp != NULL) {
		free((*pp)->addr);
		(*pp)->addr = ad;
		(*pp)->order = ++s->order;
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->name = strdup(name)) == NULL) {
		free(a);
		free(ad);
		return;
	}
	a->addr = ad;
	a->order = ++s->order;
	*pp = a;
	s->count++;
}

static void
alive_del(struct serf_snap *s, const char *name)
{
	struct alive **pp = slot(s, name), *a;

	if (pp == NULL || (a = *pp) == NULL)
		return;
	*pp = a->next;
	free(a->name);
	free(a->addr);
	free(a);
	s->count--;
}

/* ---- addresses ---- */

int
snap_addr_format(const struct swim_addr *a, char *buf, size_t len)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (a->len == 4 || (a->len == 16 && memcmp(a->ip, v4mapped, 12) == 0)) {
		const uint8_t *p = a->len == 4 ? a->ip : a->ip + 12;

		n = snprintf(buf, len, "%u.%u.%u.%u:%u", p[0], p[1], p[2],
		    p[3], a->port);
	} else if (a->len == 16 && inet_ntop(AF_INET6, a->ip, ip,
	    sizeof(ip)) != NULL) {
		n = snprintf(buf, len, "[%s]:%u", ip, a->port);
	} else {
		return -LE_INVAL;
	}
	return n < 0 || (size_t)n >= len ? -LE_TOOBIG : 0;
}

int
snap_addr_parse(const char *str, struct swim_addr *a)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(str, ':');
	size_t hl;
	char *end;
	unsigned long port;

	memset(a, 0, sizeof(*a));
	if (colon == NULL || colon == str || colon[1] == '\0')
		return -LE_INVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || errno != 0 || port > 65535)
		return -LE_INVAL;
	hl = (size_t)(colon - str);
	if (str[0] == '[') {
		if (hl < 2 || str[hl - 1] != ']' || hl - 2 >= sizeof(host))
			return -LE_INVAL;
		memcpy(host, str + 1, hl - 2);
		host[hl - 2] = '\0';
		if (inet_pton(AF_INET6, host, a->ip) != 1)
			return -LE_INVAL;
		a->len = 16;
	} else {
		if (hl >= sizeof(host))
			return -LE_INVAL;
		memcpy(host, str, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET, host, a->ip) != 1)
			return -LE_INVAL;
		a->len = 4;
	}
	a->port = (uint16_t)port;
	return 0;
}

/* ---- the file ---- */

static int
open_append(struct serf_snap *s)
{
	int fd = open(s->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -LE_IO;
	if ((s->fh = fdopen(fd, "a+")) == NULL) {
		close(fd);
		return -LE_IO;
	}
	return 0;
}

static int
flush(struct serf_snap *s, bool sync)
{
	if (s->fh == NULL)
		return -LE_IO;
	if (fflush(s->fh) != 0)
		return -LE_IO;
	s->dirty = false;
	s->last_flush = s->now;
	if (sync && fsync(fileno(s->fh)) != 0)
		return -LE_IO;
	return 0;
}

static size_t
max_size(const struct serf_snap *s)
{
	size_t t = s->count * BYTES_PER_NODE * COMPACT_FACTOR;

	return t < s->min_compact ? s->min_compact : t;
}

/* Rewrites the file from memory: the alive members and the clocks. */
static int
compact(struct serf_snap *s)
{
	size_t plen = strlen(s->path) + sizeof(".compact");
	char *tmp = malloc(plen);
	FILE *f = NULL;
	long off;
	int fd, rc = -LE_IO;

	if (tmp == NULL)
		return -LE_NOMEM;
	snprintf(tmp, plen, "%s.compact", s->path);
	if ((fd = open(tmp, O_RDWR | O_TRUNC | O_CREAT | O_CLOEXEC, 0600)) < 0)
		goto out;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		goto out;
	}
	for (size_t b = 0; b < s->cap; b++)
		for (struct alive *a = s->tab[b]; a != NULL; a = a->next)
			fprintf(f, "alive: %s %s\n", a->name, a->addr);
	fprintf(f, "clock: %" PRIu64 "\n", s->last_clock);
	fprintf(f, "event-clock: %" PRIu64 "\n", s->last_event_clock);
	fprintf(f, "query-clock: %" PRIu64 "\n", s->last_query_clock);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 ||
	    (off = ftell(f)) < 0) {
		fclose(f);
		goto out;
	}
	fclose(f);
	if (s->fh != NULL) {
		fflush(s->fh);
		fclose(s->fh);
		s->fh = NULL;
	}
	if (rename(tmp, s->path) != 0) {
		slog(s, 0, "failed to install new snapshot: %s",
		    strerror(errno));
		open_append(s);
		goto out;
	}
	if ((rc = open_append(s)) == 0) {
		s->offset = (size_t)off;
		s->last_flush = s->now;
	}
out:
	free(tmp);
	return rc;
}

/* Serf's tryAppend: on a failed write, compaction is the recovery, tried
 * at most every 30 s. */
static void
append(struct serf_snap *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
append(struct serf_snap *s, const char *fmt, ...)
{
	va_list ap;
	int n = -1;

	if (s->fh != NULL) {
		va_start(ap, fmt);
		n = vfprintf(s->fh, fmt, ap);
		va_end(ap);
	}
	if (n >= 0) {
		s->dirty = true;
		s->offset += (size_t)n;
		if (s->offset > max_size(s) && compact(s) != 0)
			slog(s, 0, "compaction failed");
		return;
	}
	slog(s, 0, "failed to update snapshot");
	if (s->last_compact_try == 0 ||
	    s->now - s->last_compact_try > RECOVER_US) {
		s->last_compact_try = s->now ? s->now : 1;
		slog(s, 1, "attempting compaction to recover from error");
		if (compact(s) != 0)
			slog(s, 0, "compaction failed, will retry in 30 s");
	}
}

static bool
prefix(const char *line, const char *p, const char **rest)
{
	size_t n = strlen(p);

	if (strncmp(line, p, n) != 0)
		return false;
	*rest = line + n;
	return true;
}

static bool
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static void
replay(struct serf_snap *s)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	const char *rest;

	rewind(s->fh);
	while ((n = getline(&line, &cap, s->fh)) > 0) {
		uint64_t v;

		/* Go's ReadString drops a last line without its newline. */
		if (line[n - 1] != '\n')
			break;
		line[n - 1] = '\0';
		if (prefix(line, "alive: ", &rest)) {
			const char *sp = strrchr(rest, ' ');
			char *name;

			if (sp == NULL) {
				slog(s, 0, "failed to parse address: %s", line);
				continue;
			}
			if ((name = strndup(rest, (size_t)(sp - rest))) != NULL) {
				alive_set(s, name, sp + 1);
				free(name);
			}
		} else if (prefix(line, "not-alive: ", &rest)) {
			alive_del(s, rest);
		} else if (prefix(line, "clock: ", &rest)) {
			if (parse_u64(rest, &v))
				s->last_clock = v;
			else
				slog(s, 0, "failed to convert clock time: %s",
				    rest);
		} else if (prefix(line, "event-clock: ", &rest)) {
			if (parse_u64(rest, &v))
				s->last_event_clock = v;
			else
				slog(s, 0, "failed to convert event clock "
				    "time: %s", rest);
		} else if (prefix(line, "query-clock: ", &rest)) {
			if (parse_u64(rest, &v))
				s->last_query_clock = v;
			else
				slog(s, 0, "failed to convert query clock "
				    "time: %s", rest);
		} else if (prefix(line, "coordinate: ", &rest) ||
		    line[0] == '#') {
			continue;
		} else if (strcmp(line, "leave") == 0) {
			if (s->rejoin_after_leave) {
				slog(s, 1, "ignoring previous leave in "
				    "snapshot");
				continue;
			}
			alive_clear(s);
			s->last_clock = s->last_event_clock =
			    s->last_query_clock = 0;
		} else {
			slog(s, 0, "unrecognized snapshot line: %.80s", line);
		}
	}
	free(line);
	fseek(s->fh, 0, SEEK_END);
}

int
snap_open(const char *path, bool rejoin_after_leave, size_t min_compact,
    void (*log)(void *arg, int level, const char *msg), void *log_arg,
    struct serf_snap **out)
{
	struct serf_snap *s;
	struct stat st;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -LE_NOMEM;
	s->log = log;
	s->log_arg = log_arg;
	s->rejoin_after_leave = rejoin_after_leave;
	s->min_compact = min_compact;
	if ((s->path = strdup(path)) == NULL || alive_grow(s) != 0) {
		snap_close(s);
		return -LE_NOMEM;
	}
	if (open_append(s) != 0 || fstat(fileno(s->fh), &st) != 0) {
		slog(s, 0, "failed to open snapshot %s: %s", path,
		    strerror(errno));
		snap_close(s);
		return -LE_IO;
	}
	s->offset = (size_t)st.st_size;
	replay(s);
	*out = s;
	return 0;
}

void
snap_close(struct serf_snap *s)
{
	if (s == NULL)
		return;
	if (s->fh != NULL) {
		if (flush(s, true) != 0)
			slog(s, 0, "failed to sync snapshot");
		fclose(s->fh);
	}
	alive_clear(s);
	free(s->tab);
	free(s->path);
	free(s);
}

uint64_t
snap_last_clock(const struct serf_snap *s)
{
	return s->last_clock;
}

uint64_t
snap_last_event_clock(const struct serf_snap *s)
{
	return s->last_event_clock;
}

uint64_t
snap_last_query_clock(const struct serf_snap *s)
{
	return s->last_query_clock;
}

static int
by_order(const void *a, const void *b)
{
	const struct alive *x = *(const struct alive *const *)a;
	const struct alive *y = *(const struct alive *const *)b;

	return x->order < y->order ? -1 : x->order > y->order;
}

int
snap_alive(const struct serf_snap *s, struct snap_prev **out, size_t *n)
{
	struct snap_prev *v;
	struct alive **all;
	size_t k = 0, m = 0;

	*out = NULL;
	*n = 0;
	if (s->count == 0)
		return 0;
	v = calloc(s->count, sizeof(*v));
	all = calloc(s->count, sizeof(*all));
	if (v == NULL || all == NULL) {
		free(v);
		free(all);
		return -LE_NOMEM;
	}
	for (size_t b = 0; b < s->cap; b++)
		for (struct alive *a = s->tab[b]; a != NULL; a = a->next)
			all[m++] = a;
	/* In the order they were last seen alive. */
	qsort(all, m, sizeof(*all), by_order);
	for (size_t i = 0; i < m; i++) {
		if (snap_addr_parse(all[i]->addr, &v[k].addr) != 0)
			continue;	/* not an address we can dial */
		if ((v[k].name = strdup(all[i]->name)) == NULL)
			continue;
		k++;
	}
	free(all);
	*out = v;
	*n = k;
	return 0;
}

void
snap_prev_free(struct snap_prev *p, size_t n)
{
	for (size_t i = 0; i < n && p != NULL; i++)
		free(p[i].name);
	free(p);
}

void
snap_alive_member(struct serf_snap *s, const char *name,
    const struct swim_addr *a)
{
	char addr[64];

	if (s->leaving || snap_addr_format(a, addr, sizeof(addr)) != 0)
		return;
	alive_set(s, name, addr);
	append(s, "alive: %s %s\n", name, addr);
}

void
snap_not_alive(struct serf_snap *s, const char *name)
{
	if (s->leaving)
		return;
	alive_del(s, name);
	append(s, "not-alive: %s\n", name);
}

void
snap_clock(struct serf_snap *s, uint64_t member_clock)
{
	uint64_t seen = member_clock ? member_clock - 1 : 0;

	if (seen > s->last_clock) {
		s->last_clock = seen;
		append(s, "clock: %" PRIu64 "\n", seen);
	}
}

void
snap_event_clock(struct serf_snap *s, uint64_t ltime)
{
	if (s->leaving || ltime <= s->last_event_clock)
		return;
	s->last_event_clock = ltime;
	append(s, "event-clock: %" PRIu64 "\n", ltime);
}

void
snap_query_clock(struct serf_snap *s, uint64_t ltime)
{
	if (s->leaving || ltime <= s->last_query_clock)
		return;
	s->last_query_clock = ltime;
	append(s, "query-clock: %" PRIu64 "\n", ltime);
}

void
snap_leave(struct serf_snap *s)
{
	s->leaving = true;
	if (!s->rejoin_after_leave)
		alive_clear(s);
	append(s, "leave\n");
	if (flush(s, true) != 0)
		slog(s, 0, "failed to sync leave to snapshot");
}

void
snap_tick(struct serf_snap *s, uint64_t now_us)
{
	s->now = now_us;
	if (s->dirty && now_us - s->last_flush >= FLUSH_US &&
	    flush(s, false) != 0)
		slog(s, 0, "failed to flush snapshot");
}

size_t
snap_size(const struct serf_snap *s)
{
	return s->offset;
}
