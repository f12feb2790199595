/* fuzz_http_conn.c: libFuzzer target for httpd's HTTP/1.1 server
 * (httpd/http_conn.c) with the real routing and handlers: the input is
 * written into a real TCP connection to a real server on its own loop,
 * the loop runs a few rounds between pieces (the answers are read and
 * dropped), the client half-closes or not, then closes. The IPC clients
 * dial sockets nobody listens on, so every routed call fails fast and
 * the handlers' parameter parsing and error paths run too.
 *
 * The first input byte shapes the run: bits 0-1, the number of pieces
 * the rest is written in (1 to 4); bit 2, a half-close before reading the
 * answers. The server must answer or drop whatever comes without
 * crashing, leaking or hanging, and every connection must be gone a few
 * rounds after the client closed (else a connection leaked: abort). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct httpd H;
static struct loop_timer *stopper;
static struct sockaddr_in sa;
static char dir[64];
static bool ready;

static void
stop(void *arg)
{
	(void)arg;
	loop_stop(H.loop);
}

/* A few loop iterations: accept, read, answer, see the close. */
static void
turn(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		loop_timer_arm(stopper, 0);
		loop_run(H.loop);
	}
}

/* Reads and drops what the server sent, without blocking. */
static void
drain(int fd)
{
	char buf[16384];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void
cleanup(void)
{
	rmdir(dir);
}

static void
setup(void)
{
	char tmpl[] = "/tmp/fuzz-http.XXXXXX", url[200];
	struct lerr e = { "" };
	socklen_t sl = sizeof(sa);
	int fd;

	signal(SIGPIPE, SIG_IGN);
	log_setlevel(LOG_LVL_ERROR);
	if (mkdtemp(tmpl) == NULL || loop_new(&H.loop) != 0)
		abort();
	snprintf(dir, sizeof(dir), "%s", tmpl);
	atexit(cleanup);
	stopper = loop_timer_new(H.loop, stop, NULL);
	config_defaults(&H.cfg);
	free(H.cfg.client_addr);
	H.cfg.client_addr = xstrdup("127.0.0.1");
	/* Nothing listens on these: every call fails fast. */
	snprintf(url, sizeof(url), "ipc://%s/kvd.sock", dir);
	if (ipc_client_open_loop(&H.kvd, url, 1, H.loop, &e) != 0)
		abort();
	snprintf(url, sizeof(url), "ipc://%s/raft.sock", dir);
	if (ipc_client_open_loop(&H.raft, url, 1, H.loop, &e) != 0)
		abort();
	snprintf(url, sizeof(url), "ipc://%s/gossip.sock", dir);
	if (ipc_client_open_loop(&H.gossip, url, 1, H.loop, &e) != 0)
		abort();
	/* a free port */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
		abort();
	close(fd);
	H.cfg.port_http = ntohs(sa.sin_port);
	if (httpd_start(&H, &e) != 0) {
		fprintf(stderr, "httpd_start: %s\n", e.msg);
		abort();
	}
	ready = true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd, pieces, rounds;
	bool half_close;
	size_t off = 0;

	if (!ready)
		setup();
	if (size < 1)
		return 0;
	pieces = (data[0] & 3) + 1;
	half_close = (data[0] & 4) != 0;
	data++;
	size--;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		abort();
	turn(1);
	for (int i = 0; i < pieces && off < size; i++) {
		size_t piece = i == pieces - 1 ? size - off : size / pieces;

		while (piece > 0) {
			ssize_t n = send(fd, data + off, piece,
			    MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n <= 0)
				break;	/* the server stopped reading us */
			off += (size_t)n;
			piece -= (size_t)n;
		}
		turn(2);
		drain(fd);
	}
	if (half_close)
		shutdown(fd, SHUT_WR);
	for (int i = 0; i < 3; i++) {
		turn(2);
		drain(fd);
	}
	close(fd);
	/* Every connection goes once its client closed. */
	for (rounds = 0; rounds < 200 && atomic_load(&H.conns) != 0;
	    rounds++)
		turn(1);
	if (atomic_load(&H.conns) != 0) {
		fprintf(stderr, "fuzz_http_conn: %llu connections left open\n",
		    (unsigned long long)atomic_load(&H.conns));
		abort();
	}
	return 0;
}
