/* util.h: small shared helpers: a growable string buffer, boot ids,
 * readiness notification, directories. */
#ifndef LICTOR_UTIL_H
#define LICTOR_UTIL_H

/* The Consul version lictor answers as (/v1/agent/self) and the build tag
 * its members carry (Consul parses the version out of "build"). */
#define LICTOR_CONSUL_VERSION "1.15.0-lictor"
#define LICTOR_CONSUL_BUILD LICTOR_CONSUL_VERSION ":lictor"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A growable byte buffer, always NUL-terminated. Aborts on OOM. */
struct sbuf {
	char *s;
	size_t len;
	size_t cap;
};
void sbuf_init(struct sbuf *b);
void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b);
void sbuf_add(struct sbuf *b, const void *p, size_t n);
void sbuf_addc(struct sbuf *b, char c);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends a JSON string literal (with quotes), escaping as Go's
 * encoding/json does (<, >, & as \u003c etc.; invalid UTF-8 as \ufffd). */
void sbuf_json_str(struct sbuf *b, const char *s, size_t n);
/* Appends base64 (standard alphabet, padded). */
void sbuf_base64(struct sbuf *b, const void *p, size_t n);
/* Takes the buffer; the caller frees the returned pointer. */
char *sbuf_take(struct sbuf *b, size_t *len);

/* A random 64-bit id, distinct per process start (never 0). */
uint64_t boot_id_new(void);
/* Random bytes from getrandom(2). */
void random_bytes(void *p, size_t n);

/* Tells the supervisor we are ready: writes "\n" to the fd named by
 * LICTOR_NOTIFY_FD (s6 style) and READY=1 to NOTIFY_SOCKET (systemd). */
void notify_ready(void);

/* mkdir -p with the given mode for created directories. */
int mkdir_p(const char *path, mode_t mode);
/* Removes a directory tree (for -dev's throwaway data dir). */
int rm_rf(const char *path);

char *xstrdup(const char *s);
/* The first n bytes of s (which need not be terminated), terminated. */
char *xstrndup(const char *s, size_t n);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
/* FNV-1a (64-bit) over n bytes, continuing from h (FNV64_OFFSET to
 * start): node ids, run directory names, replica digests and the
 * snapshot files' checksum all use this one. */
#define FNV64_OFFSET 0xcbf29ce484222325ULL
uint64_t fnv64(uint64_t h, const void *p, size_t n);

/* fsync of the directory holding path (after a rename into it). */
void fsync_dir_of(const char *path);

/* Big-endian unsigned integers of n bytes (n <= 8), as on the wire and
 * in store keys. */
static inline uint64_t
be_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void
be_put(uint8_t *p, int n, uint64_t v)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

#endif
