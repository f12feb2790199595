/* snapshot.c: snapshots as files under <data_dir>/raft/snapshots, named
 * by the index they cover. kvd writes them (it owns the state); raftd
 * keeps the latest two, hands their bytes to the core to send to lagging
 * followers, and writes the ones followers receive. */
#include "raftd.h"
#include "gotime.h"
#include "log.h"
#include "log_store.h"
#include "snapfile.h"
#include "util.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_KEEP 2
#define SNAP_RPC_TIMEOUT_MS 120000

static void
snap_dir(struct raftd *d, char *out, size_t len)
{
	snprintf(out, len, "%s/raft/snapshots", d->cfg.data_dir);
}

void
snapshot_path(struct raftd *d, uint64_t index, char *out, size_t len)
{
	snprintf(out, len, "%s/raft/snapshots/%020" PRIu64 ".snap",
	    d->cfg.data_dir, index);
}

/* Reads a snapshot file whole; touches nothing but its arguments, so the
 * snapshot thread uses it too. */
static int
load_file(const char *path, void **data, size_t *len, struct lerr *e)
{
	struct stat sb;
	unsigned char *buf;
	size_t off = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return lerr_set(e, LE_IO, "snapshot %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &sb) != 0 || sb.st_size <= 0 ||
	    (uint64_t)sb.st_size > PROTO_MAX_MSG) {
		close(fd);
		return lerr_set(e, LE_CORRUPT, "snapshot %s: bad size", path);
	}
	buf = xmalloc((size_t)sb.st_size);
	while (off < (size_t)sb.st_size &&
	    (n = read(fd, buf + off, (size_t)sb.st_size - off)) > 0)
		off += (size_t)n;
	close(fd);
	if (off != (size_t)sb.st_size) {
		free(buf);
		return lerr_set(e, LE_IO, "snapshot %s: short read", path);
	}
	*data = buf;
	*len = off;
	return 0;
}

/* Whether a snapshot's bytes are whole (common/snapfile.h) and name the
 * index they are for; logs what is wrong with them if not. It touches
 * nothing but its arguments, so snap_thread calls it too. */
static bool
check_bytes(const char *what, uint64_t index, const void *data, size_t len)
{
	struct lerr e;
	uint64_t named;

	if (snapfile_check(data, len, &named, &e) != 0) {
		log_warnx("%s (index %llu) is damaged: %s", what,
		    (unsigned long long)index, e.msg);
		return false;
	}
	if (named != index) {
		log_warnx("%s is for index %llu but names %llu", what,
		    (unsigned long long)index, (unsigned long long)named);
		return false;
	}
	return true;
}

/* The same on the loop, counted in raftd.snapshots_refused. */
bool
snapshot_check(struct raftd *d, const char *what, uint64_t index,
    const void *data, size_t len)
{
	if (check_bytes(what, index, data, len))
		return true;
	d->st.snaps_refused++;
	return false;
}

int
snapshot_load(struct raftd *d, uint64_t index, void **data, size_t *len,
    struct lerr *e)
{
	char path[RAFT_PATH_MAX];

	snapshot_path(d, index, path, sizeof(path));
	return load_file(path, data, len, e);
}

int
snapshot_write(struct raftd *d, uint64_t index, const void *data, size_t len,
    struct lerr *e)
{
	char dir[RAFT_PATH_MAX], path[RAFT_PATH_MAX], tmp[RAFT_PATH_MAX + 8];
	size_t off = 0;
	ssize_t n;
	int fd;

	snap_dir(d, dir, sizeof(dir));
	if (mkdir_p(dir, 0700) != 0)
		return lerr_set(e, LE_IO, "mkdir %s: %s", dir,
		    strerror(errno));
	snapshot_path(d, index, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		return lerr_set(e, LE_IO, "create %s: %s", tmp,
		    strerror(errno));
	while (off < len && (n = write(fd, (const char *)data + off,
	    len - off)) > 0)
		off += (size_t)n;
	if (off != len || (!d->cfg.dev && fsync(fd) != 0)) {
		close(fd);
		unlink(tmp);
		return lerr_set(e, LE_IO, "write %s: %s", tmp,
		    strerror(errno));
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return lerr_set(e, LE_IO, "rename %s: %s", tmp,
		    strerror(errno));
	}
	fsync_dir_of(path);
	return 0;
}

/* Removes all but the newest SNAP_KEEP snapshot files. */
void
snapshot_prune(struct raftd *d)
{
	char dir[RAFT_PATH_MAX], path[RAFT_PATH_MAX + 300];
	uint64_t keep[SNAP_KEEP] = { 0 };
	struct dirent *de;
	DIR *dh;

	snap_dir(d, dir, sizeof(dir));
	if ((dh = opendir(dir)) == NULL)
		return;
	while ((de = readdir(dh)) != NULL) {
		uint64_t idx;
		char *end;

		idx = strtoull(de->d_name, &end, 10);
		if (strcmp(end, ".snap") != 0)
			continue;
		for (int i = 0; i < SNAP_KEEP; i++)
			if (idx > keep[i]) {
				memmove(keep + i + 1, keep + i,
				    (SNAP_KEEP - i - 1) * sizeof(keep[0]));
				keep[i] = idx;
				break;
			}
	}
	rewinddir(dh);
	while ((de = readdir(dh)) != NULL) {
		uint64_t idx;
		char *end;
		bool kept = false;

		idx = strtoull(de->d_name, &end, 10);
		if (strcmp(end, ".snap") != 0 && strcmp(end, ".snap.tmp") != 0)
			continue;
		for (int i = 0; i < SNAP_KEEP; i++)
			kept |= idx == keep[i] && strcmp(end, ".snap") == 0;
		if (!kept && idx != d->snap_index) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	}
	closedir(dh);
}

/* A snapshot kvd wrote, on its way in: the file work (the rename, making
 * it durable, reading it back for the core to send) runs on a thread, as
 * it held raftd's loop for 10-25 ms with 3 MB under load. */
struct snap_job {
	struct raftd *d;
	uint64_t index, t0, t_loaded;
	char taking[RAFT_PATH_MAX], path[RAFT_PATH_MAX];
	void *data;
	size_t len;
	int rv;
	bool damaged;
	struct lerr e;
};

/* Back on the loop: metadata, then the core takes the bytes and
 * compacts. */
static void
snap_loaded(void *arg)
{
	struct snap_job *j = arg;
	struct raftd *d = j->d;
	uint8_t conf[RAFT_MAX_SERVERS * (RAFT_ADDR_MAX + 16) + 8];
	struct raft_snapshot meta;
	uint64_t t0 = mono_ms();
	size_t cl;

	if (d->snap_loading) {	/* else snapshot_wait joined it */
		pthread_join(d->snap_thread, NULL);
		d->snap_loading = false;
	}
	d->snap_taking = false;
	if (d->stopping) {
		free(j->data);
		free(j);
		return;
	}
	if (j->rv != 0) {
		log_warnx("snapshot at index %llu: %s",
		    (unsigned long long)j->index, j->e.msg);
		if (j->damaged)
			d->st.snaps_refused++;
		free(j);
		return;
	}
	/* Meanwhile an installed snapshot may have overtaken it (the file
	 * is then pruned with the others). */
	if (j->index <= d->snap_index ||
	    raft_snapshot_meta(d->r, j->index, &meta) != 0) {
		free(j->data);
		free(j);
		return;
	}
	/* Metadata first (the configuration as of the snapshot's index), in
	 * the same batch as the compaction the core is about to ask for. */
	cl = raft_config_encode(&meta.conf, conf, sizeof(conf));
	if (d->batch == NULL)
		d->batch = store_batch_new(d->store);
	if (cl > sizeof(conf) || ls_put_snap_meta(d->batch, j->index,
	    meta.term, conf, cl) != 0)
		fatalx("snapshot metadata");
	d->snap_index = j->index;
	d->snap_term = meta.term;
	if (raft_snapshot_done_take(d->r, j->index, j->data, j->len) != 0)
		log_warnx("snapshot at index %llu refused by the core",
		    (unsigned long long)j->index);
	else if (d->snap_damaged) {
		log_warnx("snapshot at index %llu replaces the damaged one",
		    (unsigned long long)j->index);
		d->snap_damaged = false;
	}
	snapshot_prune(d);
	log_info("snapshot at index %llu (%zu bytes): kvd's reply to loaded "
	    "%llu ms (off the loop), then %llu ms on the loop",
	    (unsigned long long)j->index, j->len,
	    (unsigned long long)(j->t_loaded - j->t0),
	    (unsigned long long)(mono_ms() - t0));
	free(j);
}

static void *
snap_thread(void *arg)
{
	struct snap_job *j = arg;

	if (rename(j->taking, j->path) != 0) {
		j->rv = lerr_set(&j->e, LE_IO, "rename %s: %s", j->taking,
		    strerror(errno));
	} else {
		/* The rename must be durable before the metadata naming
		 * it is (written on the loop, after this). */
		fsync_dir_of(j->path);
		j->rv = load_file(j->path, &j->data, &j->len, &j->e);
		/* What kvd wrote, as the disk gave it back: a damaged file
		 * would be shipped to every server that needs a snapshot. */
		if (j->rv == 0 && !check_bytes(j->path, j->index, j->data,
		    j->len)) {
			free(j->data);
			j->data = NULL;
			if (unlink(j->path) == 0)
				fsync_dir_of(j->path);
			j->damaged = true;
			j->rv = lerr_set(&j->e, LE_CORRUPT, "%s is damaged; "
			    "removed, the next one is taken later", j->path);
		}
	}
	j->t_loaded = mono_ms();
	loop_post(j->d->loop, snap_loaded, j);
	return NULL;
}

static void
on_kv_snapshot(void *arg, int rv, struct proto_msg *m)
{
	struct raftd *d = arg;
	struct msg_raft_index_reply rep;
	struct raft_snapshot meta;
	struct snap_job *j;
	struct lerr e;

	if (d->stopping) {
		d->snap_taking = false;
		return;
	}
	if (rv != 0 || m->type != (MSG_KV_SNAPSHOT | PROTO_REPLY) ||
	    msg_raft_index_reply_dec(m, &rep, &e) != 0 || rep.code != 0) {
		d->snap_taking = false;
		log_warnx("kvd could not take a snapshot (%s); will retry",
		    rv != 0 ? le_strerror(rv) : "error reply");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->index = rep.index;
	j->t0 = mono_ms();
	snprintf(j->taking, sizeof(j->taking),
	    "%s/raft/snapshots/taking.snap", d->cfg.data_dir);
	snapshot_path(d, rep.index, j->path, sizeof(j->path));
	if (rep.index <= d->snap_index ||
	    raft_snapshot_meta(d->r, rep.index, &meta) != 0) {
		d->snap_taking = false;
		unlink(j->taking);
		free(j);
		return;
	}
	/* snap_taking stays set until snap_loaded: one at a time. */
	if (pthread_create(&d->snap_thread, NULL, snap_thread, j) != 0) {
		d->snap_taking = false;
		log_warnx("snapshot at index %llu: no thread to load it; "
		    "will retry", (unsigned long long)rep.index);
		free(j);
		return;
	}
	d->snap_loading = true;
}

/* At shutdown, after the loop stopped: the thread's completion is queued
 * on the loop (loop_drain runs it, and it frees what it carries). */
void
snapshot_wait(struct raftd *d)
{
	if (d->snap_loading) {
		pthread_join(d->snap_thread, NULL);
		d->snap_loading = false;
	}
}

/* When the next snapshot may start: raft_snapshot_interval from now
 * plus a random part of one more, as hashicorp/raft checks at a random
 * time between one and two intervals, so that the servers of a cluster,
 * started together, do not all write theirs at once (each costs the
 * disk and the CPUs tens of milliseconds). */
void
snapshot_schedule(struct raftd *d)
{
	uint64_t iv = (uint64_t)d->cfg.raft_snapshot_interval_ms;

	d->snap_next_ms = mono_ms() + iv + (iv > 0 ? node_rand(d) % iv : 0);
}

/* The core wants a snapshot at index or later: kvd writes it. */
void
snapshot_take(struct raftd *d, uint64_t index)
{
	struct msg_kv_snapshot s;
	struct ipc_call *call;
	char dir[RAFT_PATH_MAX], taking[RAFT_PATH_MAX];

	d->snap_want = index;
	/* As Consul: past the threshold, a snapshot once per one to two
	 * raft_snapshot_interval (snapshot_schedule). The tick asks again. */
	if (d->snap_taking || d->kvd_applied < index ||
	    (!d->snap_heal_now && mono_ms() < d->snap_next_ms))
		return;
	snap_dir(d, dir, sizeof(dir));
	if (mkdir_p(dir, 0700) != 0) {
		log_warn("mkdir %s", dir);
		return;
	}
	if ((size_t)snprintf(taking, sizeof(taking), "%s/taking.snap", dir) >=
	    sizeof(taking)) {
		log_warnx("snapshot path too long");
		return;
	}
	s.path = taking;
	s.path_len = strlen(taking);
	d->snap_heal_now = false;	/* a failed try waits the interval */
	d->snap_taking = true;
	snapshot_schedule(d);
	call = ipc_call_new(d->kvd, MSG_KV_SNAPSHOT);
	msg_kv_snapshot_enc(ipc_call_writer(call), &s);
	ipc_call_send_loop(call, SNAP_RPC_TIMEOUT_MS, d->loop, on_kv_snapshot,
	    d);
}
