/* util.c: string buffers, ids, readiness, directories. */
#include "util.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatalx("out of memory");
	return p;
}

void *
xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (p == NULL)
		fatalx("out of memory");
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (p == NULL)
		fatalx("out of memory");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s ? s : "", s ? n : 0);

	if (p == NULL)
		fatalx("out of memory");
	return p;
}

void
sbuf_init(struct sbuf *b)
{
	b->s = NULL;
	b->len = b->cap = 0;
}

void
sbuf_free(struct sbuf *b)
{
	free(b->s);
	sbuf_init(b);
}

void
sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->s != NULL)
		b->s[0] = '\0';
}

static void
sbuf_grow(struct sbuf *b, size_t n)
{
	size_t cap;
	char *s;

	if (b->len + n + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	if ((s = realloc(b->s, cap)) == NULL)
		fatalx("out of memory");
	b->s = s;
	b->cap = cap;
}

void
sbuf_add(struct sbuf *b, const void *p, size_t n)
{
	sbuf_grow(b, n);
	if (n > 0)
		memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
sbuf_addc(struct sbuf *b, char c)
{
	sbuf_grow(b, 1);
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
}

void
sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t avail;
	int n;

	sbuf_grow(b, 64);
	avail = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, avail, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->s[b->len] = '\0';
		return;
	}
	if ((size_t)n >= avail) {
		sbuf_grow(b, (size_t)n);
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->s[b->len] = '\0';
			return;
		}
	}
	b->len += (size_t)n;
}

/* Length of a valid UTF-8 sequence at p (max n bytes), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void
sbuf_json_str(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run;

	sbuf_grow(b, n + 2);
	sbuf_addc(b, '"');
	while (i < n) {
		unsigned char c = p[i];

		/* Copy runs of safe bytes in one go. */
		run = i;
		while (run < n && p[run] >= 0x20 && p[run] < 0x80 &&
		    p[run] != '"' && p[run] != '\\' && p[run] != '<' &&
		    p[run] != '>' && p[run] != '&')
			run++;
		if (run > i) {
			sbuf_add(b, p + i, run - i);
			i = run;
			continue;
		}
		c = p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };

			sbuf_add(b, esc, 2);
			i++;
		} else if (c == '\n') {
			sbuf_add(b, "\\n", 2);
			i++;
		} else if (c == '\r') {
			sbuf_add(b, "\\r", 2);
			i++;
		} else if (c == '\t') {
			sbuf_add(b, "\\t", 2);
			i++;
		} else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4],
				hex[c & 15] };

			sbuf_add(b, u, 6);
			i++;
		} else {
			size_t l = utf8_len(p + i, n - i);

			if (l == 0) {
				sbuf_add(b, "\\ufffd", 6);
				i++;
			} else if (l == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 &&
			    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
				/* U+2028/2029, escaped by Go */
				sbuf_add(b, p[i + 2] == 0xa8 ? "\\u2028" :
				    "\\u2029", 6);
				i += 3;
			} else {
				sbuf_add(b, p + i, l);
				i += l;
			}
		}
	}
	sbuf_addc(b, '"');
}

void
sbuf_base64(struct sbuf *b, const void *data, size_t n)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t out = ((n + 2) / 3) * 4, i;
	char *d;

	sbuf_grow(b, out);
	d = b->s + b->len;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		    p[i + 2];

		*d++ = tbl[v >> 18];
		*d++ = tbl[(v >> 12) & 63];
		*d++ = tbl[(v >> 6) & 63];
		*d++ = tbl[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		*d++ = tbl[v >> 18];
		*d++ = tbl[(v >> 12) & 63];
		*d++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		*d++ = '=';
	}
	b->len += out;
	b->s[b->len] = '\0';
}

char *
sbuf_take(struct sbuf *b, size_t *len)
{
	char *s = b->s;

	if (s == NULL)
		s = xstrdup("");
	if (len != NULL)
		*len = b->len;
	sbuf_init(b);
	return s;
}

void
random_bytes(void *p, size_t n)
{
	unsigned char *c = p;

	while (n > 0) {
		ssize_t r = getrandom(c, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal("getrandom");
		}
		c += r;
		n -= (size_t)r;
	}
}

uint64_t
boot_id_new(void)
{
	uint64_t v = 0;

	while (v == 0)
		random_bytes(&v, sizeof(v));
	return v;
}

void
notify_ready(void)
{
	const char *fdstr = getenv("LICTOR_NOTIFY_FD");
	const char *sock = getenv("NOTIFY_SOCKET");

	if (fdstr != NULL && *fdstr != '\0') {
		int fd = atoi(fdstr);

		if (fd > 2) {
			(void)!write(fd, "\n", 1);
			close(fd);
		}
		unsetenv("LICTOR_NOTIFY_FD");
	}
	if (sock != NULL && (sock[0] == '/' || sock[0] == '@')) {
		struct sockaddr_un sun;
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		size_t l = strlen(sock);

		if (fd >= 0 && l < sizeof(sun.sun_path)) {
			memset(&sun, 0, sizeof(sun));
			sun.sun_family = AF_UNIX;
			memcpy(sun.sun_path, sock, l);
			if (sun.sun_path[0] == '@')
				sun.sun_path[0] = '\0';
			(void)!sendto(fd, "READY=1", 7, 0,
			    (struct sockaddr *)&sun,
			    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l));
		}
		if (fd >= 0)
			close(fd);
	}
}

int
mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int
rm_rf(const char *path)
{
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		fatalx("out of memory");
	return q;
}

uint64_t
fnv64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void
fsync_dir_of(const char *path)
{
	char dir[4096];
	char *slash;
	int fd;

	if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
		return;
	if ((slash = strrchr(dir, '/')) == NULL)
		return;
	*slash = '\0';
	if ((fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY)) < 0)
		return;
	(void)fsync(fd);
	close(fd);
}
