/* loop.c: epoll(7) over an eventfd (posted work), a signalfd and watched
 * fds, and a binary heap of timers. Watches live in a table indexed by fd;
 * each carries a generation in its epoll data, so an event that was
 * already fetched for a watch removed since (by a callback earlier in the
 * same batch) is dropped, never delivered to the fd's next owner. */
#include "loop.h"
#include "gotime.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* Events fetched per epoll_wait; more wait for the next iteration. */
#define LOOP_BATCH 256
/* epoll data of the loop's own fds (a watch's is gen << 32 | fd). */
#define TAG_POSTS	UINT64_MAX
#define TAG_SIGNALS	(UINT64_MAX - 1)

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
	short events;
	bool on;
	uint32_t gen;
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
	int epfd;
	struct fdwatch *fdt;	/* indexed by fd */
	int capfd;
	uint32_t gen;
	int sfd;
	loop_sig_fn sig_fn;
	void *sig_arg;
	struct post *defer_head, *defer_tail;	/* loop thread only */
	pthread_t runner;	/* the thread in loop_run, while running */
	_Atomic bool running;
};

static int
epoll_add(int epfd, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int
loop_new(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -1;
	pthread_mutex_init(&l->mtx, NULL);
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->sfd = -1;
	if (l->efd < 0 || l->epfd < 0 ||
	    epoll_add(l->epfd, l->efd, EPOLLIN, TAG_POSTS) != 0) {
		if (l->efd >= 0)
			close(l->efd);
		if (l->epfd >= 0)
			close(l->epfd);
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
	close(l->epfd);
	if (l->sfd >= 0)
		close(l->sfd);
	free(l->fdt);
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

static struct epoll_event
watch_event(const struct loop *l, int fd)
{
	struct epoll_event ev;

	/* POLLIN, POLLOUT, POLLERR and POLLHUP have epoll's values. */
	ev.events = (uint32_t)(l->fdt[fd].events & (POLLIN | POLLOUT));
	ev.data.u64 = (uint64_t)l->fdt[fd].gen << 32 | (uint32_t)fd;
	return ev;
}

int
loop_watch_fd(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg)
{
	struct epoll_event ev;
	int op;

	if (fd < 0)
		return -1;
	if (fd >= l->capfd) {
		int cap = l->capfd ? l->capfd : 64;
		struct fdwatch *t;

		while (cap <= fd)
			cap *= 2;
		if ((t = realloc(l->fdt, (size_t)cap * sizeof(*t))) == NULL)
			return -1;
		memset(t + l->capfd, 0, (size_t)(cap - l->capfd) * sizeof(*t));
		l->fdt = t;
		l->capfd = cap;
	}
	/* Watching a watched fd again replaces its callback. */
	op = l->fdt[fd].on ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	l->fdt[fd].on = true;
	l->fdt[fd].events = events;
	l->fdt[fd].fn = fn;
	l->fdt[fd].arg = arg;
	l->fdt[fd].gen = ++l->gen;
	ev = watch_event(l, fd);
	/* The set may disagree with the table when an owner closed an fd
	 * without unwatching it and the number came back: follow the set. */
	if (epoll_ctl(l->epfd, op, fd, &ev) != 0 &&
	    !(errno == EEXIST &&
	    epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) &&
	    !(errno == ENOENT &&
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)) {
		l->fdt[fd].on = false;
		return -1;
	}
	return 0;
}

int
loop_modify_fd(struct loop *l, int fd, short events)
{
	struct epoll_event ev;

	if (fd < 0 || fd >= l->capfd || !l->fdt[fd].on)
		return -1;
	if (l->fdt[fd].events == events)
		return 0;
	l->fdt[fd].events = events;
	ev = watch_event(l, fd);
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : -1;
}

void
loop_unwatch_fd(struct loop *l, int fd)
{
	if (fd < 0 || fd >= l->capfd || !l->fdt[fd].on)
		return;
	l->fdt[fd].on = false;
	l->fdt[fd].gen = ++l->gen;
	/* EBADF when the owner closed it first: already out of the set. */
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
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
	if (epoll_add(l->epfd, l->sfd, EPOLLIN, TAG_SIGNALS) != 0) {
		close(l->sfd);
		l->sfd = -1;
		return -1;
	}
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

static void
run_fd_events(struct loop *l, const struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;
		int fd = (int)(uint32_t)tag;
		struct fdwatch *w;

		if (tag == TAG_POSTS || tag == TAG_SIGNALS)
			continue;
		/* The watch may be gone, or replaced, since the batch was
		 * fetched: an earlier callback may have closed it. */
		if (fd >= l->capfd || !(w = &l->fdt[fd])->on ||
		    w->gen != (uint32_t)(tag >> 32))
			continue;
		w->fn(w->arg, fd, (short)(ev[i].events &
		    (POLLIN | POLLOUT | POLLERR | POLLHUP)));
	}
}

void
loop_run(struct loop *l)
{
	struct epoll_event ev[LOOP_BATCH];

	l->runner = pthread_self();
	atomic_store(&l->running, true);
	while (!l->stop) {
		int n, timeout = -1;
		bool posts = false, sigs = false;

		l->now = mono_ms();
		if (l->nheap > 0) {
			uint64_t d = l->heap[0]->deadline;

			timeout = d <= l->now ? 0 :
			    (int)(d - l->now > 60000 ? 60000 : d - l->now);
		}
		n = epoll_wait(l->epfd, ev, LOOP_BATCH, timeout);
		if (n < 0) {
			if (errno != EINTR)
				fatal("epoll_wait");
			n = 0;
		}
		l->now = mono_ms();
		for (int i = 0; i < n; i++) {
			posts |= ev[i].data.u64 == TAG_POSTS;
			sigs |= ev[i].data.u64 == TAG_SIGNALS;
		}
		/* Posted work first, then signals, then the fds, as before. */
		if (posts)
			run_posts(l);
		if (sigs)
			run_signals(l);
		run_fd_events(l, ev, n);
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
