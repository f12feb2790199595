/* hop_floor: the least a replicated write can cost on this machine with
 * lictor's shape of processes, doing nothing but pass its messages and
 * sync its log. A client and seven processes, each a single-threaded
 * epoll loop as the daemons are, with no parsing, no RocksDB, no Raft:
 *
 *   client -tcp-> httpd -unix-> kvd -unix-> raftd -tcp-> raftd f1, f2
 *
 * The leader's raftd sends the append to both followers, writes and
 * fdatasyncs its own log file inline, and commits once its copy and one
 * follower's are durable (the followers write and fdatasync, then ack);
 * it answers kvd, then tells the followers, whose raftds pass the commit
 * to their own kvds (each writes the entry without a sync, as an apply
 * does). kvd "applies" (a write without a sync) and answers httpd, which
 * answers the client. The client sends the next request when the answer
 * is in: one client, like `wrk -c1`.
 *
 *   hop_floor DIR [ROUNDS] [MODE]
 *
 * MODE "cluster" (the default) is the above; "single" has no followers
 * (a one-server agent); "direct" sends httpd's request to raftd without
 * kvd on the way in (kvd still applies and answers), the shape that
 * would save one hop; "merged" has no httpd or kvd (the leader's process
 * takes the client's request, applies and answers), the shape of a
 * single-process server such as etcd. Prints the percentiles of the client's round trip.
 * A benchmark aid (bench/raft_bench.sh runs it), not a test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQ_BYTES	300	/* a PUT of a small value, as raft_bench's */
#define ACK_BYTES	48
#define WARMUP		200

enum { M_REQ = 1, M_APPEND, M_ACK, M_COMMIT, M_REPLY };

enum mode { MODE_CLUSTER, MODE_SINGLE, MODE_DIRECT, MODE_MERGED };

struct msg {
	uint32_t len;	/* of what follows */
	uint8_t type;
	uint32_t seq;
	char pad[REQ_BYTES];
} __attribute__((packed));

static void
die(const char *what)
{
	fprintf(stderr, "hop_floor: %s: %s\n", what, strerror(errno));
	_exit(1);
}

static void
send_msg(int fd, int type, uint32_t seq, size_t bytes)
{
	struct msg m;
	size_t n = sizeof(m.len) + bytes;

	memset(&m, 0, sizeof(m));
	m.len = (uint32_t)bytes;
	m.type = (uint8_t)type;
	m.seq = seq;
	if (send(fd, &m, n, MSG_NOSIGNAL) != (ssize_t)n)
		die("send");
}

/* One whole message (they are small: a blocking read finishes it).
 * -1 at the end of the stream, on a timeout or on a malformed length. */
static int
recv_msg(int fd, struct msg *m)
{
	if (recv(fd, &m->len, sizeof(m->len), MSG_WAITALL) !=
	    (ssize_t)sizeof(m->len) || m->len < 5 ||
	    m->len > sizeof(*m) - sizeof(m->len))
		return -1;
	if (recv(fd, &m->type, m->len, MSG_WAITALL) != (ssize_t)m->len)
		return -1;
	return 0;
}

static void
log_append(int fd, int sync)
{
	char rec[REQ_BYTES];

	memset(rec, 'x', sizeof(rec));
	if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
		die("write");
	if (sync && fdatasync(fd) != 0)
		die("fdatasync");
}

static int
open_log(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/hop_floor.%s.%ld", dir, name,
	    (long)getpid());
	if ((fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC,
	    0600)) < 0)
		die(path);
	unlink(path);
	return fd;
}

static void
nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A connected loopback TCP pair, as raftd's transport and HTTP use. */
static void
tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(l, 1) != 0 || getsockname(l, (struct sockaddr *)&a,
	    &al) != 0)
		die("listen");
	if ((sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(sv[0], (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    (sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
		die("connect");
	close(l);
	nodelay(sv[0]);
	nodelay(sv[1]);
}

static void
unix_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair");
}

/* A process's loop: wait on its sockets, hand each message to step(). */
typedef void (*step_fn)(int fd, struct msg *m, void *ctx);

static void
loop(const int *fds, int n, step_fn step, void *ctx)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev[8];
	struct msg m;

	if (ep < 0)
		die("epoll");
	for (int i = 0; i < n; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.fd = fds[i] };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e) != 0)
			die("epoll_ctl");
	}
	for (;;) {
		int k = epoll_wait(ep, ev, 8, -1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("epoll_wait");
		for (int i = 0; i < k; i++) {
			if (recv_msg(ev[i].data.fd, &m) != 0)
				_exit(0);	/* a neighbour is gone */
			step(ev[i].data.fd, &m, ctx);
		}
	}
}

struct httpd { int client, kvd, raftd; enum mode mode; };

static void
httpd_step(int fd, struct msg *m, void *ctx)
{
	struct httpd *h = ctx;

	if (fd == h->client)
		send_msg(h->mode == MODE_DIRECT ? h->raftd : h->kvd, M_REQ,
		    m->seq, REQ_BYTES);
	else
		send_msg(h->client, M_REPLY, m->seq, ACK_BYTES);
}

struct kvd { int httpd, raftd, log; };

static void
kvd_step(int fd, struct msg *m, void *ctx)
{
	struct kvd *k = ctx;

	if (fd == k->httpd) {
		send_msg(k->raftd, M_REQ, m->seq, REQ_BYTES);
		return;
	}
	/* a committed entry: apply it, answer its request */
	log_append(k->log, 0);
	if (k->httpd >= 0)
		send_msg(k->httpd, M_REPLY, m->seq, ACK_BYTES);
}

struct leader {
	int kvd, f[2], nf, log;
	int apply_log;	/* "merged": the leader applies and answers */
	uint32_t seq;	/* in flight */
	int acks, synced;
};

static void
leader_commit_check(struct leader *l)
{
	if (!l->synced || (l->nf > 0 && l->acks == 0))
		return;
	l->synced = 0;
	l->acks = -1;	/* the slower follower's ack is not waited for */
	if (l->apply_log >= 0) {
		log_append(l->apply_log, 0);
		send_msg(l->kvd, M_REPLY, l->seq, ACK_BYTES);
	} else {
		send_msg(l->kvd, M_COMMIT, l->seq, REQ_BYTES);
	}
	for (int i = 0; i < l->nf; i++)
		send_msg(l->f[i], M_COMMIT, l->seq, ACK_BYTES);
}

static void
leader_step(int fd, struct msg *m, void *ctx)
{
	struct leader *l = ctx;

	if (m->type == M_ACK) {
		if (m->seq == l->seq && l->acks == 0) {
			l->acks = 1;
			leader_commit_check(l);
		}
		return;
	}
	(void)fd;
	l->seq = m->seq;
	l->acks = 0;
	for (int i = 0; i < l->nf; i++)
		send_msg(l->f[i], M_APPEND, m->seq, REQ_BYTES);
	log_append(l->log, 1);
	l->synced = 1;
	leader_commit_check(l);
}

struct follower { int leader, kvd, log; };

static void
follower_step(int fd, struct msg *m, void *ctx)
{
	struct follower *f = ctx;

	(void)fd;
	if (m->type == M_APPEND) {
		log_append(f->log, 1);
		send_msg(f->leader, M_ACK, m->seq, ACK_BYTES);
	} else {
		send_msg(f->kvd, M_COMMIT, m->seq, REQ_BYTES);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static pid_t kids[16];
static int nkids;

/* Forks a process that closes every descriptor but its own and loops. */
static void
spawn(const int *keep, int nkeep, const int *fds, int nfds, step_fn step,
    void *ctx)
{
	pid_t p = fork();

	if (p < 0)
		die("fork");
	if (p > 0) {
		kids[nkids++] = p;
		return;
	}
	for (int fd = 3; fd < 1024; fd++) {
		int mine = 0;

		for (int i = 0; i < nkeep; i++)
			mine |= keep[i] == fd;
		if (!mine)
			close(fd);
	}
	loop(fds, nfds, step, ctx);
}

int
main(int argc, char **argv)
{
	int c_h[2], h_k[2], k_r[2], h_r[2], r_f[2][2], f_k[2][2], c_r[2];
	int rounds = 3000, nf, failed = 0;
	enum mode mode = MODE_CLUSTER;
	double *rt;
	char *end;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: hop_floor DIR [ROUNDS] "
		    "[cluster|single|direct|merged]\n");
		return 2;
	}
	if (argc > 2) {
		long v = strtol(argv[2], &end, 10);

		if (*end != '\0' || v < 1 || v > 1000000) {
			fprintf(stderr, "hop_floor: ROUNDS must be a whole "
			    "number from 1 to 1000000, not \"%s\"\n", argv[2]);
			return 2;
		}
		rounds = (int)v;
	}
	if (argc > 3) {
		if (strcmp(argv[3], "single") == 0)
			mode = MODE_SINGLE;
		else if (strcmp(argv[3], "direct") == 0)
			mode = MODE_DIRECT;
		else if (strcmp(argv[3], "merged") == 0)
			mode = MODE_MERGED;
		else if (strcmp(argv[3], "cluster") != 0) {
			fprintf(stderr, "hop_floor: MODE must be cluster, "
			    "single, direct or merged, not \"%s\"\n", argv[3]);
			return 2;
		}
	}
	nf = mode == MODE_SINGLE ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	tcp_pair(c_h);
	tcp_pair(c_r);
	unix_pair(h_k);
	unix_pair(k_r);
	unix_pair(h_r);
	for (int i = 0; i < 2; i++) {
		tcp_pair(r_f[i]);
		unix_pair(f_k[i]);
	}

	if (mode != MODE_MERGED) {
		struct httpd h = { c_h[1], h_k[0], h_r[0], mode };
		int fds[] = { c_h[1], h_k[0], h_r[0] };
		struct kvd k = { h_k[1], k_r[0], open_log(argv[1], "kv") };
		int kfds[] = { h_k[1], k_r[0], k.log };

		spawn(fds, 3, fds, 3, httpd_step, &h);
		spawn(kfds, 3, kfds, 2, kvd_step, &k);
		close(k.log);
	}
	{
		/* requests from kvd, or httpd ("direct"), or the client
		 * ("merged", where the leader also applies and answers) */
		int merged = mode == MODE_MERGED;
		struct leader l = { .kvd = merged ? c_r[1] : k_r[1],
			.f = { r_f[0][0], r_f[1][0] }, .nf = nf,
			.log = open_log(argv[1], "raft0"),
			.apply_log = merged ? open_log(argv[1], "kv") : -1 };
		int direct = mode == MODE_DIRECT;
		/* watched first: requests (and kvd), the followers, then
		 * httpd's socket, which only "direct" uses */
		int fds[] = { l.kvd, r_f[0][0], r_f[1][0], h_r[1], l.log,
			l.apply_log };

		spawn(fds, 6, fds, 1 + nf + direct, leader_step, &l);
		close(l.log);
		if (l.apply_log >= 0)
			close(l.apply_log);
	}
	for (int i = 0; i < nf; i++) {
		struct follower f = { r_f[i][1], f_k[i][0],
			open_log(argv[1], i ? "raft2" : "raft1") };
		struct kvd k = { -1, -1, open_log(argv[1], i ? "kv2" : "kv1") };
		int ffds[] = { r_f[i][1], f_k[i][0], f.log };
		int kfds[] = { f_k[i][1], k.log };

		spawn(ffds, 3, ffds, 1, follower_step, &f);
		spawn(kfds, 2, kfds, 1, kvd_step, &k);
		close(f.log);
		close(k.log);
	}

	/* Only the children hold the inner sockets now: when one of them
	 * dies its neighbours see the end of the stream and leave in turn,
	 * down to the client, whose read then fails instead of waiting. */
	{
		int *inner[] = { c_h, h_k, k_r, h_r, r_f[0], r_f[1], f_k[0],
			f_k[1], c_r };
		struct timeval tv = { .tv_sec = 30 };

		for (size_t i = 0; i < sizeof(inner) / sizeof(inner[0]); i++) {
			if (inner[i] != c_h && inner[i] != c_r)
				close(inner[i][0]);
			close(inner[i][1]);
		}
		setsockopt(c_h[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(c_r[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	if ((rt = calloc((size_t)rounds, sizeof(double))) == NULL)
		die("calloc");
	for (int i = 0; i < WARMUP + rounds; i++) {
		struct msg m;
		int c = mode == MODE_MERGED ? c_r[0] : c_h[0];
		double t = now_ms();

		send_msg(c, M_REQ, (uint32_t)i, REQ_BYTES);
		if (recv_msg(c, &m) != 0 || m.seq != (uint32_t)i) {
			fprintf(stderr, "hop_floor: no answer to request %d "
			    "(a process died or stalled 30 s)\n", i);
			failed = 1;
			break;
		}
		if (i >= WARMUP)
			rt[i - WARMUP] = now_ms() - t;
	}
	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGTERM);
	while (wait(NULL) > 0)
		;
	if (failed)
		return 1;
	qsort(rt, (size_t)rounds, sizeof(*rt), cmp_double);
	printf("hop floor (%s, %d rounds, %d B requests, one client): "
	    "p50 %.3f  p90 %.3f  p99 %.3f ms\n",
	    mode == MODE_SINGLE ? "single server" : mode == MODE_DIRECT ?
	    "3 servers, httpd to raftd direct" : mode == MODE_MERGED ?
	    "3 servers, one process each" : "3 servers, lictor's hops",
	    rounds, REQ_BYTES, rt[rounds / 2], rt[rounds * 9 / 10],
	    rt[rounds * 99 / 100]);
	free(rt);
	return 0;
}
