/* loop.c: poll(2) over an eventfd (posted work), a signalfd, watched fds
 * and a binary heap of timers. */
#include "loop.h"
#include "gotime.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define LOOP_MAX_FDS 1024

struct post {
	struct post *next;
	loop_fn fn;
	void *arg;
};

struct loop_timer {
	struct loop *l;
	loop_fn fn;
	void *arg;
	uint64_t deadline;
	size_t heap_idx; /* SIZE_MAX when not armed */
};

struct fdwatch {
	int fd;
	short events;
	loop_fd_fn fn;
	void *arg;
};

struct loop {
	pthread_mutex_t mtx;
	struct post *head, *tail;
	int efd;
	volatile int stop;
	uint64_t now;
	loop_fn idle_fn;
	void *idle_arg;
	struct loop_timer **heap;
	size_t nheap, capheap;
	struct fdwatch fds[LOOP_MAX_FDS];
	int nfds;
	int sfd;
	loop_sig_fn sig_fn;
	void *sig_arg;
	struct post *defer_head, *defer_tail;	/* loop thread only */
	pthread_t runner;	/* the thread in loop_run, while running */
	_Atomic bool running;
};

int
loop_new(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -1;
	pthread_mutex_init(&l->mtx, NULL);
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->sfd = -1;
	if (l->efd < 0) {
		free(l);
		return -1;
	}
	l->now = mono_ms();
	*out = l;
	return 0;
}

void
loop_free(struct loop *l)
{
	struct post *p, *n;

	if (l == NULL)
		return;
	for (p = l->head; p != NULL; p = n) {
		n = p->next;
		free(p);
	}
	close(l->efd);
	if (l->sfd >= 0)
		close(l->sfd);
	free(l->heap);
	pthread_mutex_destroy(&l->mtx);
	free(l);
}

void
loop_post(struct loop *l, loop_fn fn, void *arg)
{
	struct post *p = malloc(sizeof(*p));
	uint64_t one = 1;
	bool wake;

	if (p == NULL)
		fatalx("loop_post: out of memory");
	p->next = NULL;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&l->mtx);
	wake = l->head == NULL;
	if (l->tail != NULL)
		l->tail->next = p;
	else
		l->head = p;
	l->tail = p;
	pthread_mutex_unlock(&l->mtx);
	if (wake)
		(void)!write(l->efd, &one, sizeof(one));
}

void
loop_set_idle(struct loop *l, loop_fn fn, void *arg)
{
	l->idle_fn = fn;
	l->idle_arg = arg;
}

/* ---- timer heap ---- */

static void
heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->heap_idx = a;
	l->heap[b]->heap_idx = b;
}

static void
heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->heap[p]->deadline <= l->heap[i]->deadline)
			break;
		heap_swap(l, p, i);
		i = p;
	}
}

static void
heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;

		if (c < l->nheap && l->heap[c]->deadline < l->heap[m]->deadline)
			m = c;
		if (c + 1 < l->nheap &&
		    l->heap[c + 1]->deadline < l->heap[m]->deadline)
			m = c + 1;
		if (m == i)
			break;
		heap_swap(l, i, m);
		i = m;
	}
}

static void
heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->heap_idx;

	if (i == SIZE_MAX)
		return;
	l->nheap--;
	if (i != l->nheap) {
		l->heap[i] = l->heap[l->nheap];
		l->heap[i]->heap_idx = i;
		heap_down(l, i);
		heap_up(l, i);
	}
	t->heap_idx = SIZE_MAX;
}

struct loop_timer *
loop_timer_new(struct loop *l, loop_fn fn, void *arg)
{
	struct loop_timer *t = calloc(1, sizeof(*t));

	if (t == NULL)
		fatalx("loop_timer_new: out of memory");
	t->l = l;
	t->fn = fn;
	t->arg = arg;
	t->heap_idx = SIZE_MAX;
	return t;
}

void
loop_timer_arm(struct loop_timer *t, uint64_t delay_ms)
{
	struct loop *l = t->l;

	heap_remove(l, t);
	if (l->nheap == l->capheap) {
		size_t cap = l->capheap ? l->capheap * 2 : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));

		if (h == NULL)
			fatalx("loop_timer_arm: out of memory");
		l->heap = h;
		l->capheap = cap;
	}
	t->deadline = mono_ms() + delay_ms;
	t->heap_idx = l->nheap;
	l->heap[l->nheap++] = t;
	heap_up(l, t->heap_idx);
}

void
loop_timer_cancel(struct loop_timer *t)
{
	heap_remove(t->l, t);
}

bool
loop_timer_armed(const struct loop_timer *t)
{
	return t->heap_idx != SIZE_MAX;
}

void
loop_timer_free(struct loop_timer *t)
{
	if (t == NULL)
		return;
	heap_remove(t->l, t);
	free(t);
}

/* ---- fds and signals ---- */

int
loop_watch_fd(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg)
{
	if (l->nfds >= LOOP_MAX_FDS)
		return -1;
	l->fds[l->nfds].fd = fd;
	l->fds[l->nfds].events = events;
	l->fds[l->nfds].fn = fn;
	l->fds[l->nfds].arg = arg;
	l->nfds++;
	return 0;
}

int
loop_modify_fd(struct loop *l, int fd, short events)
{
	for (int i = 0; i < l->nfds; i++) {
		if (l->fds[i].fd == fd) {
			l->fds[i].events = events;
			return 0;
		}
	}
	return -1;
}

void
loop_unwatch_fd(struct loop *l, int fd)
{
	for (int i = 0; i < l->nfds; i++) {
		if (l->fds[i].fd == fd) {
			l->fds[i] = l->fds[--l->nfds];
			return;
		}
	}
}

int
loop_signals(struct loop *l, const int *sigs, int n, loop_sig_fn fn,
    void *arg)
{
	sigset_t set;

	sigemptyset(&set);
	for (int i = 0; i < n; i++)
		sigaddset(&set, sigs[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	if ((l->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return -1;
	l->sig_fn = fn;
	l->sig_arg = arg;
	return 0;
}

/* ---- running ---- */

static void
run_posts(struct loop *l)
{
	struct post *p, *n;
	uint64_t v;

	(void)!read(l->efd, &v, sizeof(v));
	pthread_mutex_lock(&l->mtx);
	p = l->head;
	l->head = l->tail = NULL;
	pthread_mutex_unlock(&l->mtx);
	for (; p != NULL; p = n) {
		n = p->next;
		p->fn(p->arg);
		free(p);
	}
}

void
loop_drain(struct loop *l)
{
	/* Posted work may post more; a bound keeps a bug from spinning. */
	for (int i = 0; i < 64; i++) {
		bool empty;

		pthread_mutex_lock(&l->mtx);
		empty = l->head == NULL;
		pthread_mutex_unlock(&l->mtx);
		if (empty)
			return;
		run_posts(l);
	}
}

void
loop_defer(struct loop *l, loop_fn fn, void *arg)
{
	struct post *p;

	if (!atomic_load(&l->running)) {
		fn(arg);	/* no iteration to wait for */
		return;
	}
	if ((p = malloc(sizeof(*p))) == NULL)
		fatalx("loop: out of memory");
	p->next = NULL;
	p->fn = fn;
	p->arg = arg;
	if (l->defer_tail != NULL)
		l->defer_tail->next = p;
	else
		l->defer_head = p;
	l->defer_tail = p;
}

static void
run_deferred(struct loop *l)
{
	struct post *p;

	while ((p = l->defer_head) != NULL) {
		l->defer_head = p->next;
		if (l->defer_head == NULL)
			l->defer_tail = NULL;
		p->fn(p->arg);
		free(p);
	}
}

static void
run_timers(struct loop *l)
{
	while (l->nheap > 0 && l->heap[0]->deadline <= l->now) {
		struct loop_timer *t = l->heap[0];

		heap_remove(l, t);
		t->fn(t->arg);
	}
}

static void
run_signals(struct loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		l->sig_fn(l->sig_arg, (int)si.ssi_signo);
}

void
loop_run(struct loop *l)
{
	struct pollfd pfd[LOOP_MAX_FDS + 2];
	struct fdwatch snap[LOOP_MAX_FDS];

	l->runner = pthread_self();
	atomic_store(&l->running, true);
	while (!l->stop) {
		int n = 0, nw, timeout = -1, rv;

		pfd[n].fd = l->efd;
		pfd[n++].events = POLLIN;
		if (l->sfd >= 0) {
			pfd[n].fd = l->sfd;
			pfd[n++].events = POLLIN;
		}
		nw = l->nfds;
		memcpy(snap, l->fds, sizeof(snap[0]) * (size_t)nw);
		for (int i = 0; i < nw; i++) {
			pfd[n].fd = snap[i].fd;
			pfd[n++].events = snap[i].events;
		}
		l->now = mono_ms();
		if (l->nheap > 0) {
			uint64_t d = l->heap[0]->deadline;

			timeout = d <= l->now ? 0 :
			    (int)(d - l->now > 60000 ? 60000 : d - l->now);
		}
		rv = poll(pfd, (nfds_t)n, timeout);
		if (rv < 0 && errno != EINTR)
			fatal("poll");
		l->now = mono_ms();
		if (rv > 0) {
			int k = 0;

			if (pfd[k++].revents & POLLIN)
				run_posts(l);
			if (l->sfd >= 0 && (pfd[k++].revents & POLLIN))
				run_signals(l);
			for (int i = 0; i < nw; i++, k++) {
				bool still = false;

				if (pfd[k].revents == 0)
					continue;
				/* The callback set may change under us. */
				for (int j = 0; j < l->nfds; j++)
					if (l->fds[j].fd == snap[i].fd &&
					    l->fds[j].fn == snap[i].fn &&
					    l->fds[j].arg == snap[i].arg)
						still = true;
				if (still)
					snap[i].fn(snap[i].arg, snap[i].fd,
					    pfd[k].revents);
			}
		}
		run_timers(l);
		run_deferred(l);
		if (l->idle_fn != NULL)
			l->idle_fn(l->idle_arg);
		run_deferred(l);
	}
	run_deferred(l);
	atomic_store(&l->running, false);
	l->stop = 0;	/* a loop may run again (tests do) */
}

void
loop_stop(struct loop *l)
{
	uint64_t one = 1;

	l->stop = 1;
	(void)!write(l->efd, &one, sizeof(one));
}

uint64_t
loop_now_ms(struct loop *l)
{
	return l->now;
}

bool
loop_on_thread(struct loop *l)
{
	return !atomic_load(&l->running) ||
	    pthread_equal(l->runner, pthread_self());
}

bool
loop_running_here(struct loop *l)
{
	return atomic_load(&l->running) &&
	    pthread_equal(l->runner, pthread_self());
}
