/* serf_node.c: a bare-bones gossip node for interop tests of the Serf
 * layer (gossipd/serf) against real Go Serf nodes (serfpeer, serf agent
 * from tools/serf-peer). Not gossipd: one thread, blocking TCP
 * with short timeouts, no encryption, plain poll(2); just enough I/O to
 * put gossipd/serf and gossipd/core on the wire through proto's framing.
 *
 * Usage: serf_node -name N -bind IP -port P [-tags k=v,...] [-join H:P]
 *                  [-encrypt BASE64KEY] [-max-runtime SECONDS]
 * With -encrypt the keyring also answers Serf's key rotation queries.
 * Commands on stdin (one per line):
 *   event NAME [PAYLOAD] | query NAME [PAYLOAD] | members | tags k=v,...
 *   join H:P | leave | quit
 * Output on stdout, one line per thing seen:
 *   ready NAME
 *   member-join|member-leave|member-failed|member-update|member-reap
 *       NAME STATUS k=v,...
 *   user NAME PAYLOAD LTIME        query NAME PAYLOAD (answered NODE:PAYLOAD)
 *   ack FROM | response FROM PAYLOAD | query-done
 *   done join|leave|tags|force-leave STATUS N
 *   member NAME STATUS k=v,... (answer to members, then "members-end") */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gossip_stream.h"
#include "gossip_wire.h"
#include "serf.h"

#define TCP_TIMEOUT_MS 3000
#define JOBS_MAX 64

struct job {
	uint64_t id;
	struct swim_addr to;
	uint8_t *msg;
	size_t len;
};

static struct {
	const char *name;
	struct serf *sf;
	int udp, tcp;
	struct gw_sec sec;
	struct gw_keyring kr;
	struct job jobs[JOBS_MAX];
	unsigned njobs;
	uint64_t pending[64];
	unsigned npending;
	char pending_pl[64][128];
} g;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
to_sa(const struct swim_addr *a, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	memcpy(&sa->sin_addr, a->len == 16 ? a->ip + 12 : a->ip, 4);
	sa->sin_port = htons(a->port);
}

static int
parse_hostport(const char *s, struct swim_addr *a)
{
	char host[64];
	const char *c = strrchr(s, ':');

	if (c == NULL || (size_t)(c - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, host, a->ip) != 1)
		return -1;
	a->len = 4;
	a->port = (uint16_t)atoi(c + 1);
	return 0;
}

/* k=v,k=v into tags pointing into s (modified). */
static unsigned
parse_tags(char *s, struct serf_tag *t, unsigned max)
{
	unsigned n = 0;

	for (char *tok = strtok(s, ","); tok && n < max;
	    tok = strtok(NULL, ",")) {
		char *eq = strchr(tok, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		t[n].key = (struct gw_bytes){ (uint8_t *)tok, strlen(tok) };
		t[n].val = (struct gw_bytes){ (uint8_t *)eq + 1,
		    strlen(eq + 1) };
		n++;
	}
	return n;
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding; returns the length or -1. */
static int
b64dec(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (; *s && *s != '='; s++) {
		int v = b64val((unsigned char)*s);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (n == max)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return (int)n;
}

/* ---- ops ---- */

static uint64_t
o_now(void *arg)
{
	(void)arg;
	return now_us();
}

static uint64_t
o_rand(void *arg)
{
	(void)arg;
	return ((uint64_t)random() << 32) ^ (uint64_t)random();
}

static void
o_send_udp(void *arg, const struct swim_addr *to, uint8_t pmax,
    const uint8_t *pkt, size_t len)
{
	struct gw_buf out = { 0 };
	struct sockaddr_in sa;

	(void)arg;
	if (gw_udp_seal(&g.sec, pkt, len, pmax >= 5, &out) == 0) {
		to_sa(to, &sa);
		sendto(g.udp, out.p, out.len, 0, (struct sockaddr *)&sa,
		    sizeof(sa));
	}
	gw_buf_free(&out);
}

static void
o_push_pull(void *arg, uint64_t id, const struct swim_addr *to, bool join,
    const uint8_t *msg, size_t len)
{
	struct job *j;

	(void)arg;
	(void)join;
	if (g.njobs == JOBS_MAX)
		return;
	j = &g.jobs[g.njobs++];
	j->id = id;
	j->to = *to;
	j->msg = malloc(len);
	memcpy(j->msg, msg, len);
	j->len = len;
}

static void
o_log(void *arg, int level, const char *msg)
{
	(void)arg;
	if (getenv("SERF_NODE_VERBOSE") || level == 0)
		fprintf(stderr, "serf_node %s: %s\n", g.name, msg);
}

static void
print_member(const char *what, const struct serf_member *m)
{
	printf("%s %.*s %s ", what, (int)m->name.len, (const char *)m->name.p,
	    serf_status_name(m->status));
	for (unsigned i = 0; i < m->n_tags; i++)
		printf("%s%.*s=%.*s", i ? "," : "", (int)m->tags[i].key.len,
		    (const char *)m->tags[i].key.p, (int)m->tags[i].val.len,
		    (const char *)m->tags[i].val.p);
	printf(" vsn=%u,%u,%u,%u,%u,%u\n", m->vsn[0], m->vsn[1], m->vsn[2],
	    m->vsn[3], m->vsn[4], m->vsn[5]);
}

static void
o_member(void *arg, enum serf_event ev, const struct serf_member *m)
{
	static const char *const names[] = { "", "member-join",
	    "member-leave", "member-failed", "member-update", "member-reap" };

	(void)arg;
	print_member(names[ev], m);
}

static void
o_user(void *arg, const struct serf_user_event *e)
{
	(void)arg;
	printf("user %.*s %.*s %llu\n", (int)e->name.len,
	    (const char *)e->name.p, (int)e->payload.len,
	    e->payload.p ? (const char *)e->payload.p : "",
	    (unsigned long long)e->ltime);
}

static void
o_query(void *arg, const struct serf_query_in *q)
{
	(void)arg;
	printf("query %.*s %.*s\n", (int)q->name.len, (const char *)q->name.p,
	    (int)q->payload.len, q->payload.p ? (const char *)q->payload.p :
	    "");
	if (g.npending < 64) {
		snprintf(g.pending_pl[g.npending], 128, "%s:%.*s", g.name,
		    (int)q->payload.len, q->payload.p ?
		    (const char *)q->payload.p : "");
		g.pending[g.npending++] = q->handle;
	}
}

static void
o_ack(void *arg, uint64_t qid, struct gw_bytes from)
{
	(void)arg;
	(void)qid;
	printf("ack %.*s\n", (int)from.len, (const char *)from.p);
}

static void
o_resp(void *arg, uint64_t qid, struct gw_bytes from, struct gw_bytes pl)
{
	(void)arg;
	(void)qid;
	printf("response %.*s %.*s\n", (int)from.len, (const char *)from.p,
	    (int)pl.len, pl.p ? (const char *)pl.p : "");
}

static void
o_qdone(void *arg, uint64_t qid)
{
	(void)arg;
	(void)qid;
	printf("query-done\n");
}

/* memberlist's Keyring behind Serf's key queries. */
static int
o_keyring(void *arg, enum serf_key_op op, struct gw_bytes key,
    struct serf_keys *out, const char **msg)
{
	int rc;

	(void)arg;
	if (g.kr.n == 0)
		return -LE_UNSUPPORTED;
	switch (op) {
	case SERF_KEY_INSTALL:
		if ((rc = gw_keyring_add(&g.kr, key.p, key.len)) == -LE_INVAL)
			*msg = "key size must be 16, 24 or 32 bytes";
		return rc;
	case SERF_KEY_USE:
		if ((rc = gw_keyring_use(&g.kr, key.p, key.len)) != 0)
			*msg = "Requested key is not in the keyring";
		return rc;
	case SERF_KEY_REMOVE:
		rc = gw_keyring_remove(&g.kr, key.p, key.len);
		if (rc == -LE_STATE)
			*msg = "Removing the primary key is not allowed";
		return rc == -LE_NOTFOUND ? 0 : rc;
	case SERF_KEY_LIST:
		out->n = g.kr.n;
		for (unsigned i = 0; i < g.kr.n && i < SERF_KEYS_MAX; i++)
			out->key[i] = (struct gw_bytes){ g.kr.key[i],
			    g.kr.len[i] };
		return 0;
	}
	return -LE_INVAL;
}

static void
o_done(void *arg, enum serf_op op, uint64_t token, int status, unsigned n)
{
	static const char *const names[] = { "", "join", "leave",
	    "force-leave", "tags" };

	(void)arg;
	(void)token;
	printf("done %s %d %u\n", names[op], status, n);
}

/* ---- TCP ---- */

static int
wait_fd(int fd, short ev, uint64_t deadline)
{
	struct pollfd p = { fd, ev, 0 };
	uint64_t now = now_us();

	if (now >= deadline)
		return -1;
	return poll(&p, 1, (int)((deadline - now) / 1000) + 1) == 1 ? 0 : -1;
}

static int
write_all(int fd, const uint8_t *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) != 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one stream unit (gw_stream_msg_len decides where it ends). */
static int
read_unit(int fd, struct gw_buf *b, uint64_t deadline)
{
	for (;;) {
		size_t need;
		const char *why;
		int rc = gw_stream_msg_len(b->p, b->len, &need, &why);
		ssize_t r;

		if (rc == 0)
			return (int)need;
		if (rc != -LE_AGAIN)
			return -1;
		if (gw_buf_reserve(b, 65536) != 0 ||
		    wait_fd(fd, POLLIN, deadline) != 0)
			return -1;
		r = read(fd, b->p + b->len, 65536);
		if (r <= 0)
			return -1;
		b->len += (size_t)r;
	}
}

static void
run_job(struct job *j)
{
	struct gw_buf out = { 0 }, in = { 0 }, plain = { 0 };
	struct sockaddr_in sa;
	uint64_t deadline = now_us() + TCP_TIMEOUT_MS * 1000ULL;
	const char *why = NULL;
	int fd, n, status = -LE_IO;

	to_sa(&j->to, &sa);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto out;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    errno != EINPROGRESS)
		goto out;
	if (wait_fd(fd, POLLOUT, deadline) != 0)
		goto out;
	{
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0 || err)
			goto out;
	}
	if (gw_stream_seal(&g.sec, j->msg, j->len, &out) != 0 ||
	    write_all(fd, out.p, out.len, deadline) != 0)
		goto out;
	if ((n = read_unit(fd, &in, deadline)) < 0 ||
	    gw_stream_open_reply(&g.sec, in.p, (size_t)n, &plain, &why) != 0)
		goto out;
	if (plain.len > 0 && plain.p[0] == GW_PUSH_PULL)
		status = 0;
out:
	if (fd >= 0)
		close(fd);
	if (status != 0 && why)
		fprintf(stderr, "serf_node: push/pull: %s\n", why);
	serf_push_pull_done(g.sf, j->id, status, status ? NULL : plain.p,
	    status ? 0 : plain.len);
	gw_buf_free(&out);
	gw_buf_free(&in);
	gw_buf_free(&plain);
	free(j->msg);
}

static void
serve_tcp(int fd)
{
	struct gw_buf in = { 0 }, plain = { 0 }, reply = { 0 }, out = { 0 };
	uint64_t deadline = now_us() + TCP_TIMEOUT_MS * 1000ULL;
	const char *why = NULL;
	int n;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	if ((n = read_unit(fd, &in, deadline)) < 0 ||
	    gw_stream_open(&g.sec, in.p, (size_t)n, &plain, &why) != 0 ||
	    plain.len == 0)
		goto out;
	if (plain.p[0] == GW_PUSH_PULL) {
		swim_push_pull_serve(serf_swim(g.sf), plain.p, plain.len,
		    &reply);
	} else if (plain.p[0] == GW_PING) {
		struct gw_msg m;

		if (gw_decode_msg(plain.p, plain.len, &m, NULL) == 0)
			swim_tcp_ping_serve(serf_swim(g.sf), &m, &reply);
	}
	if (reply.len > 0 && gw_stream_seal_reply(&g.sec, reply.p, reply.len,
	    &out) == 0)
		write_all(fd, out.p, out.len, deadline);
out:
	close(fd);
	gw_buf_free(&in);
	gw_buf_free(&plain);
	gw_buf_free(&reply);
	gw_buf_free(&out);
}

/* ---- UDP ---- */

static struct swim_addr udp_from;

static int
each_msg(void *arg, const uint8_t *msg, size_t len)
{
	struct gw_msg m;

	(void)arg;
	if (gw_decode_msg(msg, len, &m, NULL) == 0)
		swim_recv(serf_swim(g.sf), &udp_from, &m);
	return 0;
}

static void
read_udp(void)
{
	static uint8_t buf[65536];
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	ssize_t n;

	while ((n = recvfrom(g.udp, buf, sizeof(buf), 0, (struct sockaddr *)&sa,
	    &sl)) > 0) {
		memset(&udp_from, 0, sizeof(udp_from));
		udp_from.len = 4;
		memcpy(udp_from.ip, &sa.sin_addr, 4);
		udp_from.port = ntohs(sa.sin_port);
		gw_udp_open(&g.sec, buf, (size_t)n, each_msg, NULL, NULL, NULL);
		sl = sizeof(sa);
	}
}

/* ---- commands ---- */

static void
print_member_cb(void *arg, const struct serf_member *m)
{
	(void)arg;
	print_member("member", m);
}

static uint64_t token;

static int
command(char *line)
{
	char *cmd = strtok(line, " \n"), *a1 = strtok(NULL, " \n"),
	    *a2 = strtok(NULL, "\n");
	int rc = 0;

	if (cmd == NULL)
		return 0;
	if (strcmp(cmd, "quit") == 0)
		return 1;
	if (strcmp(cmd, "event") == 0 && a1) {
		rc = serf_user_event(g.sf, (struct gw_bytes){ (uint8_t *)a1,
		    strlen(a1) }, (struct gw_bytes){ (uint8_t *)(a2 ? a2 : ""),
		    a2 ? strlen(a2) : 0 }, false, NULL);
	} else if (strcmp(cmd, "query") == 0 && a1) {
		struct serf_query_params p = { .request_ack = true,
		    .timeout_ms = 3000 };
		uint64_t qid;

		rc = serf_query(g.sf, (struct gw_bytes){ (uint8_t *)a1,
		    strlen(a1) }, (struct gw_bytes){ (uint8_t *)(a2 ? a2 : ""),
		    a2 ? strlen(a2) : 0 }, &p, &qid);
	} else if (strcmp(cmd, "members") == 0) {
		serf_members_each(g.sf, print_member_cb, NULL);
		printf("members-end\n");
	} else if (strcmp(cmd, "tags") == 0 && a1) {
		struct serf_tag t[32];
		unsigned n = parse_tags(a1, t, 32);

		rc = serf_set_tags(g.sf, t, n, ++token);
	} else if (strcmp(cmd, "join") == 0 && a1) {
		struct swim_addr a;

		rc = parse_hostport(a1, &a) ? -LE_INVAL :
		    serf_join(g.sf, &a, 1, false, ++token);
	} else if (strcmp(cmd, "force-leave") == 0 && a1) {
		rc = serf_force_leave(g.sf, (struct gw_bytes){ (uint8_t *)a1,
		    strlen(a1) }, false, ++token);
	} else if (strcmp(cmd, "leave") == 0) {
		rc = serf_leave(g.sf, ++token);
	} else {
		rc = -LE_INVAL;
	}
	if (rc != 0)
		printf("error %s %s\n", cmd, le_strerror(rc));
	return 0;
}

static int
bind_sockets(const char *ip, int port)
{
	struct sockaddr_in sa;
	int one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		return -1;
	g.udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	g.tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (g.udp < 0 || g.tcp < 0)
		return -1;
	setsockopt(g.tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(g.udp, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    bind(g.tcp, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(g.tcp, 16) != 0)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct serf_ops ops = {
		.now = o_now, .rand = o_rand, .send_udp = o_send_udp,
		.push_pull = o_push_pull, .log = o_log,
		.member_event = o_member, .user_event = o_user,
		.query = o_query, .query_ack = o_ack, .query_response = o_resp,
		.query_done = o_qdone, .done = o_done, .keyring = o_keyring,
	};
	const char *bind_ip = "127.0.0.1", *join = NULL;
	char *tags = NULL;
	struct serf_tag t[32];
	struct serf_config c;
	int port = 7946, rc;
	double max_runtime = 120;
	uint64_t end;
	char line[1024];
	size_t llen = 0;

	g.name = "lictor";
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-name") == 0)
			g.name = argv[i + 1];
		else if (strcmp(argv[i], "-bind") == 0)
			bind_ip = argv[i + 1];
		else if (strcmp(argv[i], "-port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "-tags") == 0)
			tags = argv[i + 1];
		else if (strcmp(argv[i], "-join") == 0)
			join = argv[i + 1];
		else if (strcmp(argv[i], "-max-runtime") == 0)
			max_runtime = atof(argv[i + 1]);
		else if (strcmp(argv[i], "-encrypt") == 0) {
			uint8_t k[64];
			int n = b64dec(argv[i + 1], k, sizeof(k));

			if (n < 0 || gw_keyring_add(&g.kr, k, (size_t)n) != 0) {
				fprintf(stderr, "serf_node: bad key\n");
				return 1;
			}
			g.sec.kr = &g.kr;
		}
	}
	srandom((unsigned)now_us() ^ (unsigned)getpid());
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (bind_sockets(bind_ip, port) != 0) {
		perror("serf_node: bind");
		return 1;
	}
	g.sec.verify_incoming = g.sec.verify_outgoing = true;
	g.sec.compress = true;
	serf_config_default(&c);
	c.name = g.name;
	memset(&c.addr, 0, sizeof(c.addr));
	inet_pton(AF_INET, bind_ip, c.addr.ip);
	c.addr.len = 4;
	c.addr.port = (uint16_t)port;
	if (tags != NULL) {
		c.n_tags = parse_tags(tags, t, 32);
		c.tags = t;
	}
	if ((rc = serf_new(&c, &ops, NULL, &g.sf)) != 0 ||
	    (rc = serf_start(g.sf)) != 0) {
		fprintf(stderr, "serf_node: %s\n", le_strerror(rc));
		return 1;
	}
	printf("ready %s\n", g.name);
	if (join != NULL) {
		struct swim_addr a;

		if (parse_hostport(join, &a) == 0)
			serf_join(g.sf, &a, 1, false, ++token);
	}
	end = now_us() + (uint64_t)(max_runtime * 1e6);
	fcntl(0, F_SETFL, O_NONBLOCK);
	while (now_us() < end) {
		struct pollfd p[3] = { { g.udp, POLLIN, 0 },
		    { g.tcp, POLLIN, 0 }, { 0, POLLIN, 0 } };
		uint64_t dl = serf_next_deadline(g.sf), now = now_us();
		int timeout = dl <= now ? 0 : dl - now > 100000 ? 100 :
		    (int)((dl - now) / 1000) + 1;

		poll(p, 3, g.njobs ? 0 : timeout);
		if (p[0].revents & POLLIN)
			read_udp();
		if (p[1].revents & POLLIN) {
			int fd = accept(g.tcp, NULL, NULL);

			if (fd >= 0)
				serve_tcp(fd);
		}
		if (p[2].revents & (POLLIN | POLLHUP)) {
			ssize_t r = read(0, line + llen, sizeof(line) - 1 -
			    llen);
			char *nl;

			if (r == 0 && llen == 0)
				p[2].fd = -1;
			if (r > 0)
				llen += (size_t)r;
			line[llen] = '\0';
			while ((nl = strchr(line, '\n')) != NULL) {
				*nl = '\0';
				if (command(line) == 1)
					goto done;
				llen -= (size_t)(nl + 1 - line);
				memmove(line, nl + 1, llen + 1);
			}
		}
		while (g.njobs > 0) {
			struct job j = g.jobs[0];

			memmove(&g.jobs[0], &g.jobs[1], --g.njobs *
			    sizeof(g.jobs[0]));
			run_job(&j);
		}
		if (serf_next_deadline(g.sf) <= now_us())
			serf_tick(g.sf);
		for (unsigned k = 0; k < g.npending; k++)
			serf_query_respond(g.sf, g.pending[k],
			    (struct gw_bytes){ (uint8_t *)g.pending_pl[k],
			    strlen(g.pending_pl[k]) });
		g.npending = 0;
	}
done:
	serf_free(g.sf);
	return 0;
}
