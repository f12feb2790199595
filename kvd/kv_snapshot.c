/* kv_snapshot.c: kvd's whole state as one file, for raftd to compact its
 * log against and to ship to a server that is too far behind.
 *
 * Format (all integers big-endian; the envelope is common/snapfile.h's):
 *   "LICTSNP1"  index(u64)
 *   records:    klen(u32) vlen(u32) key value     (every store key, in order)
 *   trailer:    0xffffffff count(u64) fnv64(u64)  (fnv over every byte before it)
 * The file is written to <path>.tmp, fsync'd and renamed into place. A
 * restore checks the whole file (structure, count, checksum) before it
 * touches the store, then replaces the store's contents in one batch. */
#include "kvd.h"
#include "gotime.h"
#include "log.h"
#include "snapfile.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAP_END SNAPFILE_END
#define SNAP_MAX_KEY (64u << 10)
#define SNAP_MAX_VALUE (64u << 20)

/* Past this much written since the last time, the file's pages are
 * handed to the disk (sync_file_range, not waited for): a snapshot's
 * bytes then reach the device in pieces, instead of all in the final
 * fsync, where they would hold up every log sync behind them (as
 * RocksDB's bytes_per_sync does for its own files). */
#define SNAP_SYNC_EVERY (1u << 20)

struct snap_w {
	FILE *f;
	uint64_t fnv;
	int err;
	uint64_t off, synced;	/* bytes written; handed to the disk */
};

static void
sw_put(struct snap_w *w, const void *p, size_t n)
{
	w->fnv = fnv64(w->fnv, p, n);
	if (w->err == 0 && n > 0 && fwrite(p, 1, n, w->f) != n)
		w->err = -LE_IO;
	w->off += n;
	if (w->err == 0 && w->off - w->synced >= SNAP_SYNC_EVERY) {
		/* A failure here is no error: the final fsync decides. */
		if (fflush(w->f) == 0)
			(void)sync_file_range(fileno(w->f), (off_t)w->synced,
			    (off_t)(w->off - w->synced),
			    SYNC_FILE_RANGE_WRITE);
		w->synced = w->off;
	}
}

static void
be32(unsigned char *b, uint32_t v)
{
	b[0] = v >> 24; b[1] = v >> 16; b[2] = v >> 8; b[3] = v;
}

static void
be64(unsigned char *b, uint64_t v)
{
	be32(b, (uint32_t)(v >> 32));
	be32(b + 4, (uint32_t)v);
}

static uint32_t
get32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
}

/* Writes the state the iterator sees (a point-in-time view: RocksDB
 * iterators are) to path, atomically. Frees the iterator. Runs on the
 * snapshot thread. */
static int
snap_write(struct store_iter *it, const char *path, uint64_t index,
    uint64_t *count, struct lerr *e)
{
	char tmp[RAFT_PATH_MAX + 8];
	struct snap_w w = { NULL, FNV64_OFFSET, 0, 0, 0 };
	const void *key, *val;
	size_t klen, vlen;
	unsigned char hdr[16];
	int rv, fd;

	*count = 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		store_iter_free(it);
		return lerr_set(e, LE_RANGE, "snapshot path too long");
	}
	if ((w.f = fopen(tmp, "wbx")) == NULL && errno == EEXIST) {
		unlink(tmp);
		w.f = fopen(tmp, "wbx");
	}
	if (w.f == NULL) {
		store_iter_free(it);
		return lerr_set(e, LE_IO, "create %s: %s", tmp,
		    strerror(errno));
	}
	memcpy(hdr, SNAPFILE_MAGIC, 8);
	be64(hdr + 8, index);
	sw_put(&w, hdr, 16);
	while ((rv = store_iter_next(it, &key, &klen, &val, &vlen)) == 1) {
		unsigned char lens[8];

		be32(lens, (uint32_t)klen);
		be32(lens + 4, (uint32_t)vlen);
		sw_put(&w, lens, 8);
		sw_put(&w, key, klen);
		sw_put(&w, val, vlen);
		(*count)++;
	}
	store_iter_free(it);
	if (rv < 0 && w.err == 0)
		w.err = rv;
	{
		unsigned char tr[20];
		uint64_t fnv;

		be32(tr, SNAP_END);
		be64(tr + 4, *count);
		sw_put(&w, tr, 12);
		fnv = w.fnv;
		be64(tr + 12, fnv);
		if (w.err == 0 && fwrite(tr + 12, 1, 8, w.f) != 8)
			w.err = -LE_IO;
	}
	if (w.err == 0 && fflush(w.f) != 0)
		w.err = -LE_IO;
	fd = fileno(w.f);
	if (w.err == 0 && fsync(fd) != 0)
		w.err = -LE_IO;
	if (fclose(w.f) != 0 && w.err == 0)
		w.err = -LE_IO;
	if (w.err == 0 && rename(tmp, path) != 0)
		w.err = -LE_IO;
	if (w.err != 0) {
		unlink(tmp);
		return lerr_set(e, -w.err, "writing snapshot %s: %s", path,
		    le_strerror(w.err));
	}
	fsync_dir_of(path);
	return 0;
}

struct snap_job {
	struct kvd *k;
	struct store_iter *it;
	char path[RAFT_PATH_MAX + 1];
	uint64_t index, count, t0;
	int rv;
	struct lerr e;
	kv_snap_done_fn fn;
	void *arg;
};

static void
snap_done(void *arg)
{
	struct snap_job *j = arg;

	if (j->k->snap_running) {
		pthread_join(j->k->snap_thread, NULL);
		j->k->snap_running = false;
	}
	if (j->rv == 0)
		log_info("snapshot at index %llu: %llu records to %s in %llu "
		    "ms (off the loop)", (unsigned long long)j->index,
		    (unsigned long long)j->count, j->path,
		    (unsigned long long)(mono_ms() - j->t0));
	j->fn(j->arg, j->rv, j->index, j->e.msg);
	free(j);
}

static void *
snap_thread(void *arg)
{
	struct snap_job *j = arg;

	j->rv = snap_write(j->it, j->path, j->index, &j->count, &j->e);
	loop_post(j->k->loop, snap_done, j);
	return NULL;
}

int
kv_snapshot_save_async(struct kvd *k, const char *path, kv_snap_done_fn fn,
    void *arg, struct lerr *e)
{
	struct snap_job *j;

	if (k->snap_running)
		return lerr_set(e, LE_STATE, "a snapshot is being written");
	if (strlen(path) > RAFT_PATH_MAX)
		return lerr_set(e, LE_RANGE, "snapshot path too long");
	j = xcalloc(1, sizeof(*j));
	j->k = k;
	j->fn = fn;
	j->arg = arg;
	j->t0 = mono_ms();
	snprintf(j->path, sizeof(j->path), "%s", path);
	/* The view is taken here, on the loop, between two applied batches:
	 * exactly the state at this applied index. */
	j->index = kv_state_applied(k->kv);
	j->it = store_iter_new(k->store, NULL, NULL, 0);
	if (j->it == NULL ||
	    pthread_create(&k->snap_thread, NULL, snap_thread, j) != 0) {
		if (j->it != NULL)
			store_iter_free(j->it);
		free(j);
		return lerr_set(e, LE_NOMEM, "snapshot thread");
	}
	k->snap_running = true;
	return 0;
}

void
kv_snapshot_wait(struct kvd *k)
{
	/* At shutdown: the thread's completion is queued on the loop. */
	if (k->snap_running) {
		pthread_join(k->snap_thread, NULL);
		k->snap_running = false;
		loop_drain(k->loop);
	}
}

/* Reads the whole file into memory and checks it. */
static int
snap_load(const char *path, unsigned char **out, size_t *outlen,
    uint64_t *index, struct lerr *e)
{
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, off, n;
	uint64_t count = 0;
	struct lerr why;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL)
		return lerr_set(e, LE_IO, "open %s: %s", path,
		    strerror(errno));
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			buf = xrealloc(buf, cap);
		}
		if ((n = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return lerr_set(e, LE_IO, "read %s", path);
	}
	fclose(f);
	if (snapfile_check(buf, len, index, &why) != 0) {
		free(buf);
		return lerr_set(e, LE_CORRUPT, "snapshot %s is damaged: %s",
		    path, why.msg);
	}
	off = SNAPFILE_HDR;
	for (;;) {
		uint32_t kl, vl;

		if (len - 8 - off < 4)
			goto corrupt;
		kl = get32(buf + off);
		if (kl == SNAP_END)
			break;
		if (len - 8 - off < 8)
			goto corrupt;
		vl = get32(buf + off + 4);
		if (kl == 0 || kl > SNAP_MAX_KEY || vl > SNAP_MAX_VALUE ||
		    len - 8 - off - 8 < (size_t)kl + vl)
			goto corrupt;
		off += 8 + (size_t)kl + vl;
		count++;
	}
	if (len - 8 - off != 12 || snapfile_get64(buf + off + 4) != count)
		goto corrupt;
	*out = buf;
	*outlen = len;
	return 0;
corrupt:
	free(buf);
	return lerr_set(e, LE_CORRUPT, "snapshot %s is damaged", path);
}

int
kv_snapshot_restore(struct kvd *k, const char *path, uint64_t *index,
    struct lerr *e)
{
	struct store_batch *b;
	struct store_iter *it;
	const void *key, *val;
	unsigned char *buf = NULL;
	size_t len = 0, off, klen, vlen;
	int rv;

	if ((rv = snap_load(path, &buf, &len, index, e)) != 0)
		return rv;
	b = store_batch_new(k->store);
	it = store_iter_new(k->store, NULL, NULL, 0);
	while ((rv = store_iter_next(it, &key, &klen, &val, &vlen)) == 1)
		if ((rv = store_batch_del(b, key, klen)) != 0)
			break;
	store_iter_free(it);
	off = 16;
	while (rv >= 0) {
		uint32_t kl = get32(buf + off), vl;

		if (kl == SNAP_END)
			break;
		vl = get32(buf + off + 4);
		rv = store_batch_put(b, buf + off + 8, kl, buf + off + 8 + kl,
		    vl);
		off += 8 + (size_t)kl + vl;
	}
	if (rv >= 0)
		rv = store_batch_commit(b, true);
	store_batch_free(b);
	free(buf);
	if (rv < 0)
		return lerr_set(e, -rv, "restoring snapshot %s: %s", path,
		    le_strerror(rv));
	if ((rv = kv_state_reload(k->kv, e)) != 0)
		return rv;
	if (kv_state_applied(k->kv) != *index)
		return lerr_set(e, LE_CORRUPT, "snapshot %s says index %llu "
		    "but holds state at %llu", path,
		    (unsigned long long)*index,
		    (unsigned long long)kv_state_applied(k->kv));
	log_info("restored snapshot %s at index %llu", path,
	    (unsigned long long)*index);
	return 0;
}
