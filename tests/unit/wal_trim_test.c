/* wal_trim_test.c: RocksDB's reused log files cut back to their intact
 * records (common/wal_trim.c), and a store that reuses its logs
 * recovering crash images (common/store_rocks.c).
 *
 * The scanner is checked on records this file writes in RocksDB's
 * format, and on files the real RocksDB wrote. The crash images are made
 * the way a crash makes them: a store writes synced batches until its
 * live log is a reused file (its size no longer grows), and the log's
 * bytes are saved before and after each of the last few batches; an
 * image is the database's files with the live log's bytes from some
 * offset inside a batch's record taken from before that batch (its
 * write reached the disk only up to there) or zeroed. Each image is
 * opened in a child process with a time limit, as raftd opens its store,
 * and must hold exactly the batches before the torn one: no torn batch,
 * no stale record of the file's previous life, no hang (RocksDB 7.8's
 * reader, left to itself, spins forever on a record torn at a block
 * boundary: facebook/rocksdb#11968; WAL_TRIM_TEST_NO_TRIM=1 opens the
 * images without the cut to show it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "store.h"
#include "wal_trim.h"

#define BLOCK		32768u
#define NTEAR		6	/* batches whose log bytes are kept */
#define BIG_VALUE	40000u	/* spans two block boundaries */

/* ---- records in RocksDB's log format, for the scanner's own tests ---- */

struct wbuf {
	uint8_t *b;
	size_t len, cap;
};

static void
wput(struct wbuf *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2 + 64;
		w->b = realloc(w->b, w->cap);
		assert_non_null(w->b);
	}
	memcpy(w->b + w->len, p, n);
	w->len += n;
}

static void
physical(struct wbuf *w, unsigned type, const uint8_t *p, size_t n,
    bool reusable, uint32_t lognum)
{
	uint8_t h[11];
	size_t hsz = reusable ? 11 : 7;
	uint32_t c;

	h[4] = (uint8_t)n;
	h[5] = (uint8_t)(n >> 8);
	h[6] = (uint8_t)type;
	h[7] = (uint8_t)lognum;
	h[8] = (uint8_t)(lognum >> 8);
	h[9] = (uint8_t)(lognum >> 16);
	h[10] = (uint8_t)(lognum >> 24);
	c = wal_crc32c(wal_crc32c(0, h + 6, hsz - 6), p, n);
	c = ((c >> 15) | (c << 17)) + 0xa282ead8u;
	h[0] = (uint8_t)c;
	h[1] = (uint8_t)(c >> 8);
	h[2] = (uint8_t)(c >> 16);
	h[3] = (uint8_t)(c >> 24);
	wput(w, h, hsz);
	wput(w, p, n);
}

/* A logical record as RocksDB's log::Writer::AddRecord emits it. */
static void
record(struct wbuf *w, const uint8_t *p, size_t n, bool reusable,
    uint32_t lognum)
{
	size_t hsz = reusable ? 11 : 7;
	bool begin = true;

	do {
		size_t left = BLOCK - w->len % BLOCK, avail, frag;
		unsigned t;

		if (left < hsz) {
			static const uint8_t zeros[11];

			wput(w, zeros, left);
			left = BLOCK;
		}
		avail = left - hsz;
		frag = n < avail ? n : avail;
		if (begin && frag == n)
			t = 1;
		else if (begin)
			t = 2;
		else if (frag == n)
			t = 4;
		else
			t = 3;
		physical(w, reusable ? t + 4 : t, p, frag, reusable, lognum);
		p += frag;
		n -= frag;
		begin = false;
	} while (n > 0);
}

static uint8_t *
pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n + 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131 + seed * 7919) >> 3) | 1;
	return p;
}

static void
test_crc32c(void **state)
{
	(void)state;
	/* The check value of CRC-32C (RFC 3720, B.4). */
	assert_int_equal(wal_crc32c(0, (const uint8_t *)"123456789", 9),
	    0xe3069283u);
	assert_int_equal(wal_crc32c(wal_crc32c(0, (const uint8_t *)"1234", 4),
	    (const uint8_t *)"56789", 5), 0xe3069283u);
}

static void
test_prefix_records(void **state)
{
	struct wbuf w = { 0 };
	uint8_t *big = pattern(3 * BLOCK, 1), *small = pattern(100, 2);
	struct wal_prefix p;
	size_t ends[4];

	(void)state;
	p = wal_intact_prefix(NULL, 0, 7);
	assert_int_equal(p.len, 0);
	assert_int_equal(p.verdict, WAL_SCAN_OK);

	record(&w, small, 100, true, 7);
	ends[0] = w.len;
	record(&w, big, 2 * BLOCK + 5, true, 7);	/* FIRST MIDDLE LAST */
	ends[1] = w.len;
	/* End the block with fewer bytes than a header: padding. */
	record(&w, big, BLOCK - w.len % BLOCK - 11 - 5, true, 7);
	ends[2] = w.len;
	record(&w, small, 0, true, 7);			/* an empty record */
	ends[3] = w.len;
	assert_int_equal(ends[3] % BLOCK, 11);		/* after the padding */

	p = wal_intact_prefix(w.b, w.len, 7);
	assert_int_equal(p.verdict, WAL_SCAN_OK);
	assert_int_equal(p.len, ends[3]);
	assert_int_equal(p.records, 4);
	/* Every cut inside a record ends the prefix before that record. */
	for (size_t cut = 0; cut < w.len; cut += 997) {
		size_t want = 0;

		for (int i = 0; i < 4; i++)
			if (ends[i] <= cut)
				want = ends[i];
		assert_int_equal(wal_intact_prefix(w.b, cut, 7).len, want);
	}
	/* The same bytes read as another file's: nothing of its own. */
	assert_int_equal(wal_intact_prefix(w.b, w.len, 8).len, 0);
	/* A flipped payload bit fails the record's checksum. */
	w.b[ends[0] + 11 + 40] ^= 0x10;
	p = wal_intact_prefix(w.b, w.len, 7);
	assert_int_equal(p.len, ends[0]);
	assert_int_equal(p.records, 1);
	free(w.b);
	free(big);
	free(small);
}

static void
test_prefix_previous_life(void **state)
{
	struct wbuf w = { 0 }, old = { 0 };
	uint8_t *v = pattern(5000, 3);
	size_t end;

	(void)state;
	/* The file's previous life (log 3) under its new one (log 9). */
	for (int i = 0; i < 20; i++)
		record(&old, v, 5000, true, 3);
	record(&w, v, 1000, true, 9);
	record(&w, v, 1000, true, 9);
	end = w.len;
	wput(&w, old.b + end, old.len - end);
	assert_int_equal(wal_intact_prefix(w.b, w.len, 9).len, end);

	/* A file first written before reuse was on (legacy records) and
	 * reused since: its old records check out but are not its own. */
	free(old.b);
	memset(&old, 0, sizeof(old));
	for (int i = 0; i < 20; i++)
		record(&old, v, 5000, false, 0);
	w.len = 0;
	record(&w, v, 1000, true, 9);
	end = w.len;
	/* Align the old bytes so that a legacy record starts right here. */
	{
		struct wbuf mix = { 0 };

		wput(&mix, w.b, end);
		record(&mix, v, 4000, false, 0);
		assert_int_equal(wal_intact_prefix(mix.b, mix.len, 9).len,
		    end);
		/* The same legacy records alone are a legacy file, whole. */
		assert_int_equal(wal_intact_prefix(old.b, old.len, 0).len,
		    old.len);
		free(mix.b);
	}
	free(w.b);
	free(old.b);
	free(v);
}

static void
test_prefix_sequence(void **state)
{
	struct wbuf w = { 0 };
	uint8_t *v = pattern(64, 4);
	size_t end;

	(void)state;
	record(&w, v, 64, true, 5);
	end = w.len;
	physical(&w, 7, v, 10, true, 5);		/* MIDDLE, no FIRST */
	assert_int_equal(wal_intact_prefix(w.b, w.len, 5).len, end);
	w.len = end;
	physical(&w, 6, v, 10, true, 5);		/* FIRST */
	physical(&w, 5, v, 10, true, 5);		/* FULL inside it */
	assert_int_equal(wal_intact_prefix(w.b, w.len, 5).len, end);
	w.len = end;
	physical(&w, 8, v, 10, true, 5);		/* LAST, no FIRST */
	assert_int_equal(wal_intact_prefix(w.b, w.len, 5).len, end);
	w.len = end;
	physical(&w, 6, v, 10, true, 5);		/* FIRST, then the end */
	assert_int_equal(wal_intact_prefix(w.b, w.len, 5).len, end);
	/* Zeros (a preallocated region) end the records. */
	w.len = end;
	{
		static const uint8_t zeros[64];

		wput(&w, zeros, sizeof(zeros));
	}
	assert_int_equal(wal_intact_prefix(w.b, w.len, 5).len, end);
	/* A length past the block's end is not a record. */
	w.len = end;
	physical(&w, 5, v, 10, true, 5);
	w.b[end + 4] = 0xff;
	w.b[end + 5] = 0xff;
	assert_int_equal(wal_intact_prefix(w.b, w.len, 5).len, end);
	free(w.b);
	free(v);
}

static void
test_prefix_unknown_kind(void **state)
{
	struct wbuf w = { 0 };
	uint8_t *v = pattern(64, 5);
	struct wal_prefix p;
	size_t end;

	(void)state;
	record(&w, v, 64, true, 5);
	end = w.len;
	/* A checksummed record of a type this code does not know (a later
	 * RocksDB's): the file is left alone, not cut. */
	physical(&w, 9, v, 4, false, 0);
	p = wal_intact_prefix(w.b, w.len, 5);
	assert_int_equal(p.verdict, WAL_SCAN_UNKNOWN);
	assert_int_equal(p.len, end);
	/* The same type with a bad checksum is garbage: cut. */
	w.b[end] ^= 1;
	p = wal_intact_prefix(w.b, w.len, 5);
	assert_int_equal(p.verdict, WAL_SCAN_OK);
	assert_int_equal(p.len, end);
	free(w.b);
	free(v);
}

/* ---- files on disk ---- */

struct fx {
	char dir[1024];		/* scratch: db, images */
	char db[1100];
};

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/wal_trim.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static uint8_t *
read_file(const char *path, size_t *len)
{
	struct stat sb;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	b = malloc((size_t)sb.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, (size_t)sb.st_size), sb.st_size);
	close(fd);
	*len = (size_t)sb.st_size;
	return b;
}

static void
write_file(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

/* The newest log file of a database: its name and size. */
static uint64_t
live_log(const char *db, char *name, size_t cap, off_t *size)
{
	uint64_t best = 0;
	struct dirent *de;
	DIR *d = opendir(db);
	bool any = false;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char *end;
		unsigned long long n = strtoull(de->d_name, &end, 10);

		if (end == de->d_name || strcmp(end, ".log") != 0)
			continue;
		if (!any || n > best) {
			best = n;
			any = true;
			snprintf(name, cap, "%s/%s", db, de->d_name);
		}
	}
	closedir(d);
	assert_true(any);
	if (size != NULL) {
		struct stat sb;

		assert_int_equal(stat(name, &sb), 0);
		*size = sb.st_size;
	}
	return best;
}

static void
copy_dir(const char *from, const char *to)
{
	struct dirent *de;
	DIR *d = opendir(from);

	assert_non_null(d);
	assert_int_equal(mkdir(to, 0700), 0);
	while ((de = readdir(d)) != NULL) {
		char a[2048], b[2048];
		uint8_t *buf;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, de->d_name);
		buf = read_file(a, &len);
		write_file(b, buf, len);
		free(buf);
	}
	closedir(d);
}

/* Batch i: key "e/<i>" with a value only i gives, and "last" = i. */
static size_t
value_len(uint64_t i)
{
	return 3000 + (size_t)(i * 2654435761u % 14000);
}

static void
put_batch(struct store *s, uint64_t i, size_t vlen)
{
	struct store_batch *b = store_batch_new(s);
	uint8_t *v = pattern(vlen, (unsigned)i);
	char key[32];

	assert_non_null(b);
	snprintf(key, sizeof(key), "e/%010llu", (unsigned long long)i);
	assert_int_equal(store_batch_put(b, key, strlen(key), v, vlen), 0);
	assert_int_equal(store_batch_put(b, "last", 4, &i, sizeof(i)), 0);
	assert_int_equal(store_batch_commit(b, true), 0);
	store_batch_free(b);
	free(v);
}

/* In a child: opens the image as raftd would and checks that it holds
 * batches 0..want-1, whole, and nothing else. Exit status 0 if so. */
static int
check_image(const char *db, uint64_t want, const size_t *lens, bool trim)
{
	struct store *s;
	struct store_iter *it;
	struct lerr e;
	const void *k, *v;
	size_t kl, vl, n = 0;
	void *lv;
	size_t lvl;

	alarm(30);
	if (trim) {
		struct store_rocks_opts o = { .reuse_log = true };

		if (store_open_rocks_opts(db, &o, &s, &e) != 0) {
			fprintf(stderr, "open %s: %s\n", db, e.msg);
			return 2;
		}
	} else {
		/* What RocksDB 7.8 does with the same options, uncut. */
		rocksdb_options_t *o = rocksdb_options_create();
		char *err = NULL;
		rocksdb_t *db_;

		rocksdb_options_set_recycle_log_file_num(o, 4);
		rocksdb_options_set_wal_recovery_mode(o, 3);
		rocksdb_options_set_compression(o, rocksdb_lz4_compression);
		db_ = rocksdb_open(o, db, &err);
		if (db_ == NULL) {
			fprintf(stderr, "open %s: %s\n", db, err);
			return 2;
		}
		rocksdb_close(db_);
		rocksdb_options_destroy(o);
		if (store_open_rocks_opts(db, &(struct store_rocks_opts){
		    .reuse_log = true }, &s, &e) != 0)
			return 2;
	}
	if (store_get(s, "last", 4, &lv, &lvl) != 0 || lvl != 8) {
		fprintf(stderr, "%s: no last key\n", db);
		return 3;
	}
	if (memcmp(lv, &(uint64_t){ want - 1 }, 8) != 0) {
		uint64_t got;

		memcpy(&got, lv, 8);
		fprintf(stderr, "%s: last batch %llu, want %llu\n", db,
		    (unsigned long long)got, (unsigned long long)want - 1);
		return 4;
	}
	free(lv);
	it = store_iter_new(s, NULL, "e/", 2);
	while (store_iter_next(it, &k, &kl, &v, &vl) == 1) {
		uint8_t *exp = pattern(lens[n], (unsigned)n);
		char key[32];

		snprintf(key, sizeof(key), "e/%010zu", n);
		if (kl != strlen(key) || memcmp(k, key, kl) != 0 ||
		    vl != lens[n] || memcmp(v, exp, vl) != 0) {
			fprintf(stderr, "%s: entry %zu wrong\n", db, n);
			return 5;
		}
		free(exp);
		n++;
	}
	store_iter_free(it);
	store_close(s);
	if (n != want) {
		fprintf(stderr, "%s: %zu entries, want %llu\n", db, n,
		    (unsigned long long)want);
		return 6;
	}
	return 0;
}

static void
expect_image(const char *db, uint64_t want, const size_t *lens)
{
	bool trim = getenv("WAL_TRIM_TEST_NO_TRIM") == NULL;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(check_image(db, want, lens, trim));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("%s: recovery %s (signal %d)", db,
		    WTERMSIG(status) == SIGALRM ? "hung" : "crashed",
		    WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

struct torn {
	uint8_t *pre, *post;	/* the live log before and after the batch */
	size_t prelen, postlen;
	size_t start, end;	/* where the batch's record lies */
};

static size_t
first_diff(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t i = 0;

	while (i < al && i < bl && a[i] == b[i])
		i++;
	return i;
}

static size_t
last_diff(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t i = al > bl ? al : bl;

	while (i > 0 && i <= al && i <= bl && a[i - 1] == b[i - 1])
		i--;
	return i;
}

/* An image of the database (made in img) with the live log torn at off
 * inside batch t's record: the bytes from off on are what was there
 * before the batch (the write reached the disk only up to off), or
 * zeros (a region never written before). */
static void
make_image(const char *img, const char *base, const char *logname,
    const struct torn *t, size_t off, bool zeros)
{
	char log[4200];
	uint8_t *b = calloc(1, t->postlen);

	assert_non_null(b);
	assert_int_equal(t->prelen, t->postlen);	/* a reused file */
	copy_dir(base, img);
	snprintf(log, sizeof(log), "%s/%s", img, strrchr(logname, '/') + 1);
	memcpy(b, t->post, off);
	if (!zeros)
		memcpy(b + off, t->pre + off, t->prelen - off);
	write_file(log, b, t->postlen);
	free(b);
}

/* Writes synced batches until the live log is a reused file (its size
 * stays put across a write) with room for NTEAR big batches. */
static uint64_t
until_reused(struct store *s, const char *db, uint64_t i, size_t *lens,
    size_t cap)
{
	char name[2048];
	off_t before, after;

	for (;; i++) {
		uint64_t n0 = live_log(db, name, sizeof(name), &before);

		assert_true(i + NTEAR < cap);
		lens[i] = value_len(i);
		put_batch(s, i, lens[i]);
		if (live_log(db, name, sizeof(name), &after) == n0 &&
		    after == before && after > (off_t)(1u << 20)) {
			size_t len;
			uint8_t *b = read_file(name, &len);
			struct wal_prefix p = wal_intact_prefix(b, len, n0);

			free(b);
			/* Room for the torn batches before the file ends. */
			if (p.len + NTEAR * (BIG_VALUE + 2 * BLOCK) < len)
				return i + 1;
		}
	}
}

static void
test_crash_images(void **state)
{
	struct fx *f = *state;
	struct store_rocks_opts o = { .reuse_log = true };
	size_t cap = 40000, *lens = calloc(cap, sizeof(*lens));
	struct torn t[NTEAR];
	char logname[2048], base[2048], img[2048];
	struct store *s;
	struct lerr e;
	uint64_t n, lognum;
	int images = 0;

	assert_non_null(lens);
	/* A while without reuse first: a database from before it was on,
	 * whose logs (records without the log number) are then reused. */
	assert_int_equal(store_open_rocks(f->db, &s, &e), 0);
	for (n = 0; n < 300; n++) {
		lens[n] = value_len(n);
		put_batch(s, n, lens[n]);
	}
	store_close(s);
	assert_int_equal(store_open_rocks_opts(f->db, &o, &s, &e), 0);

restart:
	n = until_reused(s, f->db, n, lens, cap);
	lognum = live_log(f->db, logname, sizeof(logname), NULL);
	for (int k = 0; k < NTEAR; k++) {
		t[k].pre = read_file(logname, &t[k].prelen);
		lens[n + (uint64_t)k] = BIG_VALUE + (size_t)k * 1000;
		put_batch(s, n + (uint64_t)k, lens[n + (uint64_t)k]);
		t[k].post = read_file(logname, &t[k].postlen);
		t[k].start = first_diff(t[k].pre, t[k].prelen, t[k].post,
		    t[k].postlen);
		t[k].end = last_diff(t[k].pre, t[k].prelen, t[k].post,
		    t[k].postlen);
	}
	if (live_log(f->db, logname, sizeof(logname), NULL) != lognum) {
		/* A flush switched logs meanwhile: again, further on. */
		for (int k = 0; k < NTEAR; k++) {
			free(t[k].pre);
			free(t[k].post);
		}
		n += NTEAR;
		goto restart;
	}
	/* The database's files as they are now: every batch on the disk. */
	snprintf(base, sizeof(base), "%s/base", f->dir);
	copy_dir(f->db, base);
	store_close(s);

	for (int k = 0; k < NTEAR; k++) {
		struct torn *tk = &t[k];
		/* The first block boundary inside the record: a FIRST
		 * fragment whole, the rest from the file's previous life. */
		size_t edge = (tk->start / BLOCK + 1) * BLOCK;
		/* The last: the record's last byte (where it differs from
		 * the old bytes; zeroed, a byte of the value, never 0). */
		size_t offs[] = { tk->start + 1, tk->start + 11,
		    tk->start + 5000, edge, edge + 3, tk->end - 1 };
		size_t zlast = tk->end - 100;

		assert_true(tk->start < tk->end);
		assert_true(edge < tk->end);
		for (size_t j = 0; j < sizeof(offs) / sizeof(offs[0]); j++) {
			for (int z = 0; z < 2; z++) {
				snprintf(img, sizeof(img), "%s/img%d_%zu_%d",
				    f->dir, k, j, z);
				make_image(img, base, logname, tk,
				    z == 1 && j == 5 ? zlast : offs[j],
				    z == 1);
				expect_image(img, n + (uint64_t)k, lens);
				images++;
			}
		}
	}
	/* Nothing torn: every batch. */
	expect_image(base, n + NTEAR, lens);
	print_message("wal_trim: %d crash images of log %llu, %llu batches "
	    "before them\n", images, (unsigned long long)lognum,
	    (unsigned long long)n);
	for (int k = 0; k < NTEAR; k++) {
		free(t[k].pre);
		free(t[k].post);
	}
	free(lens);
}

/* Cutting a directory: what it reports, and the lock. */
static void
test_trim_dir(void **state)
{
	struct fx *f = *state;
	struct store_rocks_opts o = { .reuse_log = true };
	struct wal_trim_stats st;
	struct store *s;
	struct lerr e;
	char logname[2048];
	size_t len, *lens = calloc(100, sizeof(*lens));
	uint8_t *b;
	pid_t pid;
	int status, pfd[2];

	assert_non_null(lens);
	/* No directory: nothing to do. */
	assert_int_equal(wal_trim_dir(f->db, &st, &e), 0);
	assert_int_equal(st.files, 0);

	assert_int_equal(store_open_rocks_opts(f->db, &o, &s, &e), 0);
	for (uint64_t i = 0; i < 50; i++) {
		lens[i] = value_len(i);
		put_batch(s, i, lens[i]);
	}
	live_log(f->db, logname, sizeof(logname), NULL);

	/* Open in another process: refused, naming it. */
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rv = wal_trim_dir(f->db, &st, &e);

		dprintf(pfd[1], "%s", rv == -LE_STATE ? e.msg : "not refused");
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(pfd[1]);
	{
		char msg[600] = { 0 };

		assert_true(read(pfd[0], msg, sizeof(msg) - 1) > 0);
		assert_non_null(strstr(msg, "open in another process"));
		close(pfd[0]);
	}
	store_close(s);

	/* A clean close leaves whole records: nothing cut. */
	assert_int_equal(wal_trim_dir(f->db, &st, &e), 0);
	assert_true(st.files >= 1);
	assert_int_equal(st.cut, 0);
	/* Garbage after them is cut, and only it. */
	b = read_file(logname, &len);
	b = realloc(b, len + 5000);
	assert_non_null(b);
	memset(b + len, 0xa5, 5000);
	write_file(logname, b, len + 5000);
	assert_int_equal(wal_trim_dir(f->db, &st, &e), 0);
	assert_int_equal(st.cut, 1);
	assert_int_equal(st.bytes_cut, 5000);
	free(b);
	{
		struct stat sb;

		assert_int_equal(stat(logname, &sb), 0);
		assert_int_equal((size_t)sb.st_size, len);
	}
	expect_image(f->db, 50, lens);
	free(lens);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_prefix_records),
		cmocka_unit_test(test_prefix_previous_life),
		cmocka_unit_test(test_prefix_sequence),
		cmocka_unit_test(test_prefix_unknown_kind),
		cmocka_unit_test_setup_teardown(test_trim_dir, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_crash_images, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
