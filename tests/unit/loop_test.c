/* loop_test.c: the event loop: posted work from other threads runs on
 * the loop thread in order, timers fire in deadline order and can be
 * cancelled and re-armed, the idle hook runs after each batch,
 * loop_stop ends loop_run; watched fds: thousands at once, and an event
 * already fetched for a watch that an earlier callback removed (and
 * whose number a new watch took) is never delivered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "gotime.h"
#include "loop.h"

struct ctx {
	struct loop *l;
	int order[16];
	int n;
	int idle;
	pthread_t loop_thread;
	int wrong_thread;
	struct loop_timer *t[4];
};

static void
record(struct ctx *c, int v)
{
	if (!pthread_equal(pthread_self(), c->loop_thread))
		c->wrong_thread++;
	if (c->n < 16)
		c->order[c->n++] = v;
}

static void t1(void *a) { record(a, 1); }
static void t2(void *a) { record(a, 2); }
static void t3(void *a) { record(a, 3); }
static void
t_stop(void *a)
{
	struct ctx *c = a;

	record(c, 9);
	loop_stop(c->l);
}

static void
idle(void *a)
{
	((struct ctx *)a)->idle++;
}

static void *
runner(void *arg)
{
	struct ctx *c = arg;

	c->loop_thread = pthread_self();
	loop_run(c->l);
	return NULL;
}

static void
test_timers_in_order(void **state)
{
	struct ctx c;
	pthread_t th;
	uint64_t t0 = mono_ms();

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(loop_new(&c.l), 0);
	loop_set_idle(c.l, idle, &c);
	c.t[0] = loop_timer_new(c.l, t3, &c);
	c.t[1] = loop_timer_new(c.l, t1, &c);
	c.t[2] = loop_timer_new(c.l, t2, &c);
	c.t[3] = loop_timer_new(c.l, t_stop, &c);
	loop_timer_arm(c.t[0], 60);
	loop_timer_arm(c.t[1], 20);
	loop_timer_arm(c.t[2], 40);
	loop_timer_arm(c.t[3], 100);
	/* re-arming moves a timer; cancelling removes it */
	loop_timer_arm(c.t[2], 30);
	loop_timer_cancel(c.t[0]);
	assert_false(loop_timer_armed(c.t[0]));
	pthread_create(&th, NULL, runner, &c);
	pthread_join(th, NULL);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.order[0], 1);
	assert_int_equal(c.order[1], 2);
	assert_int_equal(c.order[2], 9);
	assert_true(mono_ms() - t0 >= 100);
	assert_true(c.idle >= 3);
	assert_int_equal(c.wrong_thread, 0);
	for (int i = 0; i < 4; i++)
		loop_timer_free(c.t[i]);
	loop_free(c.l);
}

struct poster {
	struct ctx *c;
	int base;
};

static _Atomic int counts[2];

static void
count0(void *a)
{
	(void)a;
	counts[0]++;
}

static void
count1(void *a)
{
	(void)a;
	counts[1]++;
}

static void *
post_many(void *arg)
{
	struct poster *p = arg;

	for (int i = 0; i < 10000; i++)
		loop_post(p->c->l, p->base ? count1 : count0, NULL);
	return NULL;
}

static void
test_posts_from_threads(void **state)
{
	struct ctx c;
	struct poster p0, p1;
	pthread_t th, a, b;
	uint64_t end;

	(void)state;
	memset(&c, 0, sizeof(c));
	counts[0] = counts[1] = 0;
	assert_int_equal(loop_new(&c.l), 0);
	pthread_create(&th, NULL, runner, &c);
	p0.c = p1.c = &c;
	p0.base = 0;
	p1.base = 1;
	pthread_create(&a, NULL, post_many, &p0);
	pthread_create(&b, NULL, post_many, &p1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	end = mono_ms() + 5000;
	while ((counts[0] + counts[1]) < 20000 && mono_ms() < end)
		;
	loop_stop(c.l);
	pthread_join(th, NULL);
	assert_int_equal(counts[0], 10000);
	assert_int_equal(counts[1], 10000);
	loop_free(c.l);
}

/* loop_defer: runs at the end of the iteration that deferred it, after
 * the rest of that iteration's work, in order; at once when the loop is
 * not running. */
struct dctx {
	struct loop *l;
	int order[8];
	int n;
};

static void d_rec(struct dctx *d, int v) { if (d->n < 8) d->order[d->n++] = v; }
static void d_a(void *a) { d_rec(a, 10); }
static void d_b(void *a) { d_rec(a, 11); }
static void d_stop(void *a) { loop_stop(((struct dctx *)a)->l); }

static void
d_timer(void *a)
{
	struct dctx *d = a;

	loop_defer(d->l, d_a, d);
	loop_defer(d->l, d_b, d);
	d_rec(d, 1);		/* still in the timer: before both */
}

static void
d_timer2(void *a)
{
	d_rec(a, 2);		/* same iteration, later timer */
	loop_defer(((struct dctx *)a)->l, d_stop, a);
}

static void
test_defer(void **state)
{
	struct dctx d = { 0 };
	struct loop_timer *t1_, *t2_;

	(void)state;
	assert_int_equal(loop_new(&d.l), 0);
	loop_defer(d.l, d_a, &d);	/* not running: at once */
	assert_int_equal(d.n, 1);
	assert_int_equal(d.order[0], 10);
	d.n = 0;
	t1_ = loop_timer_new(d.l, d_timer, &d);
	t2_ = loop_timer_new(d.l, d_timer2, &d);
	loop_timer_arm(t1_, 20);
	loop_timer_arm(t2_, 20);
	loop_run(d.l);
	assert_int_equal(d.n, 4);
	assert_int_equal(d.order[0], 1);
	assert_int_equal(d.order[1], 2);
	assert_int_equal(d.order[2], 10);
	assert_int_equal(d.order[3], 11);
	loop_timer_free(t1_);
	loop_timer_free(t2_);
	loop_free(d.l);
}

/* Two readable pipes; whichever callback runs first closes the other
 * pipe and watches a fresh, empty one that takes its number. The stale
 * event of the closed pipe must reach neither the old nor the new
 * callback. */
struct fctx {
	struct loop *l;
	int p[2][2];
	int fresh[2];
	int calls[2];
	int fresh_calls;
	int closed;	/* index of the pipe the first callback closed */
};

static void f_fresh(void *a, int fd, short ev)
{
	(void)fd;
	(void)ev;
	((struct fctx *)a)->fresh_calls++;
}

static void
f_ready(struct fctx *f, int me)
{
	int other = !me;

	f->calls[me]++;
	if (f->closed >= 0)
		return;
	f->closed = other;
	loop_unwatch_fd(f->l, f->p[other][0]);
	close(f->p[other][0]);
	close(f->p[other][1]);
	assert_int_equal(pipe(f->fresh), 0);
	/* The lowest free number: the read end just closed. */
	assert_int_equal(f->fresh[0], f->p[other][0]);
	assert_int_equal(loop_watch_fd(f->l, f->fresh[0], POLLIN, f_fresh, f),
	    0);
	loop_unwatch_fd(f->l, f->p[me][0]);
	loop_stop(f->l);
}

static void f_ready0(void *a, int fd, short ev) { (void)fd; (void)ev; f_ready(a, 0); }
static void f_ready1(void *a, int fd, short ev) { (void)fd; (void)ev; f_ready(a, 1); }

static void
test_stale_event_dropped(void **state)
{
	struct fctx f;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.closed = -1;
	assert_int_equal(loop_new(&f.l), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pipe(f.p[i]), 0);
		assert_int_equal(write(f.p[i][1], "x", 1), 1);
	}
	assert_int_equal(loop_watch_fd(f.l, f.p[0][0], POLLIN, f_ready0, &f), 0);
	assert_int_equal(loop_watch_fd(f.l, f.p[1][0], POLLIN, f_ready1, &f), 0);
	loop_run(f.l);
	assert_int_equal(f.calls[0] + f.calls[1], 1);
	assert_int_equal(f.fresh_calls, 0);
	loop_unwatch_fd(f.l, f.fresh[0]);
	close(f.fresh[0]);
	close(f.fresh[1]);
	close(f.p[!f.closed][0]);
	close(f.p[!f.closed][1]);
	loop_free(f.l);
}

/* Far more fds than poll's old table held, all delivered. */
#define MANY 3000

struct mctx {
	struct loop *l;
	int seen;
};

static void
m_ready(void *a, int fd, short ev)
{
	struct mctx *m = a;
	char b;

	assert_true(ev & POLLIN);
	assert_int_equal(read(fd, &b, 1), 1);
	loop_unwatch_fd(m->l, fd);
	if (++m->seen == MANY)
		loop_stop(m->l);
}

static void
m_timeout(void *a)
{
	loop_stop(((struct mctx *)a)->l);
}

static void
test_many_fds(void **state)
{
	static int p[MANY][2];
	struct mctx m = { 0 };
	struct rlimit rl;
	struct loop_timer *t;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 2 * MANY + 64) {
		if (rl.rlim_max < 2 * MANY + 64)
			skip();
		rl.rlim_cur = 2 * MANY + 64;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	assert_int_equal(loop_new(&m.l), 0);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(pipe(p[i]), 0);
		assert_int_equal(loop_watch_fd(m.l, p[i][0], POLLIN, m_ready, &m),
		    0);
	}
	for (int i = MANY - 1; i >= 0; i--)
		assert_int_equal(write(p[i][1], "x", 1), 1);
	t = loop_timer_new(m.l, m_timeout, &m);
	loop_timer_arm(t, 10000);
	loop_run(m.l);
	assert_int_equal(m.seen, MANY);
	for (int i = 0; i < MANY; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	loop_timer_free(t);
	loop_free(m.l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_in_order),
		cmocka_unit_test(test_posts_from_threads),
		cmocka_unit_test(test_defer),
		cmocka_unit_test(test_stale_event_dropped),
		cmocka_unit_test(test_many_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
