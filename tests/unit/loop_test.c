/* loop_test.c: the event loop: posted work from other threads runs on
 * the loop thread in order, timers fire in deadline order and can be
 * cancelled and re-armed, the idle hook runs after each batch, and
 * loop_stop ends loop_run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_in_order),
		cmocka_unit_test(test_posts_from_threads),
		cmocka_unit_test(test_defer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
