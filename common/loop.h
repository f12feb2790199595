/* loop.h: the single owner of a daemon's state. nng completion callbacks
 * (which run on nng's threads) hand work to the loop with loop_post();
 * everything else (timers, fds, signals) runs on the loop's own thread, so
 * daemon state needs no locks.
 *
 * Thread rules: loop_post() and loop_stop() may be called from any
 * thread. Every other function is for the loop thread only (or before
 * loop_run starts). */
#ifndef LICTOR_LOOP_H
#define LICTOR_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_timer;
typedef void (*loop_fn)(void *arg);
typedef void (*loop_fd_fn)(void *arg, int fd, short revents);
typedef void (*loop_sig_fn)(void *arg, int signo);

int loop_new(struct loop **out);
void loop_free(struct loop *l);

/* Runs fn(arg) on the loop thread soon. Never fails (aborts on OOM). */
void loop_post(struct loop *l, loop_fn fn, void *arg);

/* Called once after each batch of posted work and fired timers, before
 * the loop sleeps: where kvd commits a group of writes. */
void loop_set_idle(struct loop *l, loop_fn fn, void *arg);

/* Runs fn(arg) on the loop thread at the end of this iteration (after
 * the fd callbacks and timers, and again after the idle function): how
 * the sockets gather what one iteration writes into one system call.
 * Loop thread only; while the loop is not running, runs fn at once. */
void loop_defer(struct loop *l, loop_fn fn, void *arg);

/* One-shot timers on the monotonic clock. A timer is re-armable. */
struct loop_timer *loop_timer_new(struct loop *l, loop_fn fn, void *arg);
void loop_timer_arm(struct loop_timer *t, uint64_t delay_ms);
void loop_timer_cancel(struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);
void loop_timer_free(struct loop_timer *t); /* cancels first */

/* Watch an fd (a socket, pipe, eventfd...: not a regular file) for
 * POLLIN/POLLOUT, level-triggered; as many as the process may open. A
 * callback may unwatch (and close) any fd, its own included; an owner
 * unwatches an fd before closing it. */
int loop_watch_fd(struct loop *l, int fd, short events, loop_fd_fn fn,
    void *arg);
/* Changes the events watched on fd: 0, or -1 if fd is not watched. */
int loop_modify_fd(struct loop *l, int fd, short events);
void loop_unwatch_fd(struct loop *l, int fd);

/* Delivers the given signals through a signalfd. Blocks them in the
 * calling thread: call before any thread (nng) starts so every thread
 * inherits the mask. */
int loop_signals(struct loop *l, const int *sigs, int n, loop_sig_fn fn,
    void *arg);

void loop_run(struct loop *l);
/* After loop_run returned and every nng socket that posts here is closed:
 * runs the work still queued, so what it carries is released. */
void loop_drain(struct loop *l);
void loop_stop(struct loop *l);
/* True on the loop's own thread, or while the loop is not running (its
 * owner then holds its state). Any thread may ask. */
bool loop_on_thread(struct loop *l);
/* True only on the thread inside loop_run. */
bool loop_running_here(struct loop *l);
/* The loop's cached monotonic time in ms (refreshed every iteration). */
uint64_t loop_now_ms(struct loop *l);

#endif
