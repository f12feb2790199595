/* mp.h: the one door to msgpack-c. Writers append to a caller-chosen sink
 * (an nng message, a growable buffer); readers walk msgpack_object trees
 * with strict type, length and count checks. Only proto/ includes this. */
#ifndef LICTOR_MP_H
#define LICTOR_MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits applied to every decoded message. */
#define MP_MAX_DEPTH 16
#define MP_MAX_STR (1u << 20)	  /* strings: 1 MiB */
#define MP_MAX_BIN (63u << 20)	  /* bins: 63 MiB (a whole snapshot fits
				     a 64 MiB message); each decoder
				     caps its own fields lower */

typedef int (*mpw_sink_fn)(void *data, const char *buf, size_t len);

struct mpw {
	msgpack_packer pk;
	msgpack_sbuffer sb; /* used when no sink is given */
	bool own;
	int err;
};

/* A writer into its own growable buffer (mpw_data/mpw_len). */
void mpw_init(struct mpw *w);
/* A writer into sink(data, ...). */
void mpw_init_sink(struct mpw *w, void *data, mpw_sink_fn sink);
void mpw_free(struct mpw *w);
const void *mpw_data(const struct mpw *w);
size_t mpw_len(const struct mpw *w);

void mpw_array(struct mpw *w, uint32_t n);
void mpw_map(struct mpw *w, uint32_t n);
void mpw_u64(struct mpw *w, uint64_t v);
void mpw_i64(struct mpw *w, int64_t v);
void mpw_bool(struct mpw *w, bool v);
void mpw_nil(struct mpw *w);
void mpw_str(struct mpw *w, const char *s, size_t len);
void mpw_cstr(struct mpw *w, const char *s); /* NULL -> nil */
void mpw_bin(struct mpw *w, const void *p, size_t len);
void mpw_raw(struct mpw *w, const void *p, size_t len); /* pre-encoded */
/* A decoded object written back out (a forwarded payload, copied as is). */
void mpw_object(struct mpw *w, const msgpack_object *o);

/* Cheap structural pre-scan of raw bytes before msgpack-c sees them:
 * exactly one object, nesting <= MP_MAX_DEPTH, every container count no
 * larger than the bytes left (so a 5-byte message cannot claim 2^32
 * elements), str/bin lengths within limits, no trailing bytes.
 * Returns 0 or -LE_MALFORMED / -LE_TOOBIG. */
int mp_prescan(const void *buf, size_t len, const char **why);
/* The length of the first msgpack object at buf, for a byte stream read
 * piece by piece: 0 with *objlen set, -LE_AGAIN when buf holds only a
 * prefix of it, -LE_MALFORMED / -LE_TOOBIG as mp_prescan (same limits). */
int mp_object_len(const void *buf, size_t len, size_t *objlen,
    const char **why);

/* Typed getters over a decoded object; each returns 0 or -LE_MALFORMED. */
int mp_get_array(const msgpack_object *o, uint32_t min, uint32_t max,
    const msgpack_object **items, uint32_t *n);
int mp_get_u64(const msgpack_object *o, uint64_t *v);
int mp_get_i64(const msgpack_object *o, int64_t *v);
int mp_get_bool(const msgpack_object *o, bool *v);
/* A str (not bin) of at most max bytes; borrowed. */
int mp_get_str(const msgpack_object *o, size_t max, const char **s,
    size_t *len);
/* A str or nil (nil -> *s = NULL, *len = 0). */
int mp_get_str_or_nil(const msgpack_object *o, size_t max, const char **s,
    size_t *len);
/* A bin of at most max bytes; borrowed. */
int mp_get_bin(const msgpack_object *o, size_t max, const void **p,
    size_t *len);

#endif
