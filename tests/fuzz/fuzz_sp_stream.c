/* fuzz_sp_stream.c: libFuzzer target for the two stream readers that
 * speak nng's SP wire protocol on a daemon's own loop: an IPC server
 * (common/ipc.c: handshake, 0x01+length frames, req0's request id,
 * then the envelope) and raftd's server port (raftd/transport.c:
 * handshake, 64-bit length frames). The first input byte picks one; the
 * rest is written into a real connection, the loop runs a few rounds,
 * and the connection closes. The servers must drop or answer whatever
 * comes, without crashing, leaking or hanging (the IPC server is a user
 * one: a sibling's garbage would end the process by design). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "loop.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct loop *L;
static struct loop_timer *stopper;
static struct ipc_server *S;
static struct transport *T;
static struct sockaddr_un ipc_sa;
static struct sockaddr_in tcp_sa;
static uint64_t delivered;

/* Requests of type kv.read are parked with a cancel hook (as kvd parks
 * blocking queries), so that ipc.cancel frames find something to end;
 * what is left parked is answered once the input is done. */
#define PARK_MAX 64
static struct ipc_req *parked[PARK_MAX];
static int nparked;

static void
on_cancel(void *arg, struct ipc_req *r)
{
	int i = (int)(intptr_t)arg;

	if (parked[i] != r)
		abort();
	parked[i] = NULL;
	ipc_reply_canceled(r);
}

static void
handler(void *arg, struct ipc_req *r)
{
	(void)arg;
	if (r->msg.type == MSG_KV_READ && nparked < PARK_MAX) {
		parked[nparked] = r;
		ipc_req_on_cancel(r, on_cancel, (void *)(intptr_t)nparked);
		nparked++;
		return;
	}
	ipc_reply_error(r, -LE_INVAL, "fuzz: %u", (unsigned)r->msg.type);
}

static void
answer_parked(void *arg)
{
	(void)arg;
	for (int i = 0; i < nparked; i++)
		if (parked[i] != NULL) {
			ipc_reply_error(parked[i], -LE_INVAL, "fuzz: late");
			parked[i] = NULL;
		}
	nparked = 0;
}

static void
on_msg(void *arg, const void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	delivered += len;
}

static void
stop(void *arg)
{
	(void)arg;
	loop_stop(L);
}

/* A few loop iterations: accept, read, answer, see the close. */
static void
turn(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		loop_timer_arm(stopper, 0);
		loop_run(L);
	}
}

static char sockdir[64];

static void
cleanup(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/s.sock", sockdir);
	unlink(p);
	rmdir(sockdir);
}

static void
setup(void)
{
	char dir[] = "/tmp/fuzz-sp.XXXXXX", url[200];
	struct lerr e;
	int port, fd;
	socklen_t sl = sizeof(tcp_sa);

	log_setlevel(LOG_LVL_ERROR);
	if (loop_new(&L) != 0 || mkdtemp(dir) == NULL)
		abort();
	snprintf(sockdir, sizeof(sockdir), "%s", dir);
	atexit(cleanup);
	stopper = loop_timer_new(L, stop, NULL);
	snprintf(url, sizeof(url), "ipc://%s/s.sock", dir);
	if (ipc_server_open(&S, url, L, IPC_USER, handler, NULL, 1, &e) != 0)
		abort();
	ipc_sa.sun_family = AF_UNIX;
	snprintf(ipc_sa.sun_path, sizeof(ipc_sa.sun_path), "%s/s.sock", dir);
	/* a free port for the raft listener */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	tcp_sa.sin_family = AF_INET;
	tcp_sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&tcp_sa, sizeof(tcp_sa)) ||
	    getsockname(fd, (struct sockaddr *)&tcp_sa, &sl) != 0)
		abort();
	port = ntohs(tcp_sa.sin_port);
	close(fd);
	if (transport_open(&T, L, "127.0.0.1", port, on_msg, NULL, &e) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd;
	size_t off = 0;

	if (L == NULL)
		setup();
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&tcp_sa,
		    sizeof(tcp_sa)) != 0)
			abort();
	} else {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&ipc_sa,
		    sizeof(ipc_sa)) != 0)
			abort();
	}
	data++;
	size--;
	/* Written in two pieces, so that a frame can straddle reads. */
	while (off < size) {
		size_t piece = off == 0 ? size / 2 + 1 : size - off;
		ssize_t n = send(fd, data + off, piece > size - off ?
		    size - off : piece, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n <= 0)
			break;	/* the server dropped us: fine */
		off += (size_t)n;
		turn(2);
	}
	shutdown(fd, SHUT_WR);
	turn(3);
	close(fd);
	turn(2);
	loop_post(L, answer_parked, NULL);	/* run by the loop, as kvd */
	turn(1);
	return 0;
}
