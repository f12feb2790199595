/* fsync_floor: what the disk alone costs one replicated write, measured
 * the way a 3-server cluster on one machine pays it. Three threads, one
 * file each (a leader and two followers), start each round together,
 * append a record and fdatasync it; a write commits once the leader's
 * copy and one follower's are durable, so the round's commit time is
 * max(leader, fastest follower). Prints the percentiles of one appender
 * alone, of the commit rule, and of the slowest of the three.
 *
 *   fsync_floor DIR [ROUNDS] [RECORD_BYTES]
 *
 * A benchmark aid (bench/raft_bench.sh runs it on the clusters' disk),
 * not a test: it fails only if it cannot write. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WRITERS 3

struct writer {
	int fd;
	double *ms;	/* per round */
	const char *rec;
	size_t rec_len;
	int rounds;
	int err;
};

static pthread_barrier_t start_bar, end_bar;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *
run(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < w->rounds; i++) {
		double t;

		pthread_barrier_wait(&start_bar);
		t = now_ms();
		if (w->err == 0 &&
		    (write(w->fd, w->rec, w->rec_len) != (ssize_t)w->rec_len ||
		    fdatasync(w->fd) != 0))
			w->err = errno ? errno : EIO;
		w->ms[i] = now_ms() - t;
		pthread_barrier_wait(&end_bar);
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf("  %-34s p50 %6.3f  p90 %6.3f  p99 %6.3f ms\n", what,
	    v[n / 2], v[n * 9 / 10], v[n * 99 / 100]);
}

static double
max2(double a, double b)
{
	return a > b ? a : b;
}

static double
min2(double a, double b)
{
	return a < b ? a : b;
}

int
main(int argc, char **argv)
{
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	char path[4096], *rec, *end;
	double *alone, *commit, *second, *slowest;
	int rounds = 2000, rc = 0;
	long rec_len = 300;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: fsync_floor DIR [ROUNDS] "
		    "[RECORD_BYTES]\n");
		return 2;
	}
	if (argc > 2) {
		errno = 0;
		rounds = (int)strtol(argv[2], &end, 10);
		if (errno != 0 || *end != '\0' || rounds < 100 ||
		    rounds > 1000000) {
			fprintf(stderr, "fsync_floor: ROUNDS must be a whole "
			    "number from 100 to 1000000, not \"%s\"\n",
			    argv[2]);
			return 2;
		}
	}
	if (argc > 3) {
		errno = 0;
		rec_len = strtol(argv[3], &end, 10);
		if (errno != 0 || *end != '\0' || rec_len < 1 ||
		    rec_len > (1 << 20)) {
			fprintf(stderr, "fsync_floor: RECORD_BYTES must be a "
			    "whole number from 1 to 1048576, not \"%s\"\n",
			    argv[3]);
			return 2;
		}
	}
	if ((rec = malloc((size_t)rec_len)) == NULL)
		return 1;
	memset(rec, 'r', (size_t)rec_len);
	pthread_barrier_init(&start_bar, NULL, WRITERS);
	pthread_barrier_init(&end_bar, NULL, WRITERS);
	for (int i = 0; i < WRITERS; i++) {
		snprintf(path, sizeof(path), "%s/fsync_floor.%d.%ld", argv[1],
		    i, (long)getpid());
		w[i] = (struct writer){ .rec = rec, .rec_len = (size_t)rec_len,
			.rounds = rounds };
		w[i].fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC,
		    0600);
		w[i].ms = calloc((size_t)rounds, sizeof(double));
		if (w[i].fd < 0 || w[i].ms == NULL) {
			fprintf(stderr, "fsync_floor: %s: %s\n", path,
			    strerror(errno));
			return 1;
		}
		/* The name goes at once: nothing is left behind on a kill. */
		unlink(path);
	}
	for (int i = 0; i < WRITERS; i++)
		if (pthread_create(&th[i], NULL, run, &w[i]) != 0) {
			/* the others wait on the barrier: leave now */
			fprintf(stderr, "fsync_floor: cannot start a thread\n");
			_exit(1);
		}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < WRITERS; i++) {
		if (w[i].err != 0) {
			fprintf(stderr, "fsync_floor: write or fdatasync: "
			    "%s\n", strerror(w[i].err));
			rc = 1;
		}
		close(w[i].fd);
	}
	if (rc != 0)
		return rc;
	alone = calloc((size_t)rounds, sizeof(double));
	commit = calloc((size_t)rounds, sizeof(double));
	second = calloc((size_t)rounds, sizeof(double));
	slowest = calloc((size_t)rounds, sizeof(double));
	if (alone == NULL || commit == NULL || second == NULL ||
	    slowest == NULL)
		return 1;
	for (int i = 0; i < rounds; i++) {
		double l = w[0].ms[i], f1 = w[1].ms[i], f2 = w[2].ms[i];

		alone[i] = l;
		commit[i] = max2(l, min2(f1, f2));
		/* The second of three to finish: any two copies. */
		second[i] = max2(min2(l, f1), min2(max2(l, f1), f2));
		slowest[i] = max2(l, max2(f1, f2));
	}
	printf("disk floor: %d rounds of 3 appenders (%ld B + fdatasync "
	    "each, started together) in %s\n", rounds, rec_len, argv[1]);
	report("one appender (the leader)", alone, rounds);
	report("commit: max(leader, 1st follower)", commit, rounds);
	report("any two of three (second to sync)", second, rounds);
	report("slowest of the three", slowest, rounds);
	for (int i = 0; i < WRITERS; i++)
		free(w[i].ms);
	free(alone);
	free(commit);
	free(second);
	free(slowest);
	free(rec);
	return 0;
}
