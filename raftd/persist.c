/* persist.c: see persist.h. */
#include "persist.h"
#include "log.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct job {
	struct job *next;
	struct store_batch *b;	/* or, when NULL, a range to delete: */
	void *from, *to;
	size_t flen, tlen;
	uint64_t token;
	int rv;
	struct persist *p;
};

struct persist {
	struct loop *loop;
	struct store *s;
	bool sync;
	persist_done_fn fn;
	void *arg;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	bool stopping;
	_Atomic int inflight;
};

static void
done(void *arg)
{
	struct job *j = arg;
	struct persist *p = j->p;

	atomic_fetch_sub(&p->inflight, 1);
	p->fn(p->arg, j->rv, j->token);
	free(j);
}

static void *
run(void *arg)
{
	struct persist *p = arg;
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->head == NULL && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if ((j = p->head) == NULL) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		p->head = j->next;
		if (p->head == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		if (j->b != NULL) {
			j->rv = store_batch_commit(j->b, p->sync);
			store_batch_free(j->b);
			j->b = NULL;
		} else {
			j->rv = store_delete_range(p->s, j->from, j->flen, j->to,
			    j->tlen);
			free(j->from);
			free(j->to);
		}
		loop_post(p->loop, done, j);
	}
	return NULL;
}

int
persist_start(struct persist **out, struct loop *loop, struct store *s,
    bool sync, persist_done_fn fn, void *arg)
{
	struct persist *p = xcalloc(1, sizeof(*p));

	p->loop = loop;
	p->s = s;
	p->sync = sync;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (pthread_create(&p->thr, NULL, run, p) != 0) {
		free(p);
		return -LE_NOMEM;
	}
	*out = p;
	return 0;
}

void
persist_stop(struct persist *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thr, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

static void
enqueue(struct persist *p, struct job *j)
{
	j->p = p;
	atomic_fetch_add(&p->inflight, 1);
	pthread_mutex_lock(&p->mu);
	if (p->tail != NULL)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void
persist_submit(struct persist *p, struct store_batch *b, uint64_t token)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->b = b;
	j->token = token;
	enqueue(p, j);
}

void
persist_delete_range(struct persist *p, const void *from, size_t flen,
    const void *to, size_t tlen)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->from = xmalloc(flen ? flen : 1);
	memcpy(j->from, from, flen);
	j->flen = flen;
	j->to = xmalloc(tlen ? tlen : 1);
	memcpy(j->to, to, tlen);
	j->tlen = tlen;
	enqueue(p, j);
}

int
persist_inflight(struct persist *p)
{
	return atomic_load(&p->inflight);
}

int
persist_commit_now(struct persist *p, struct store_batch *b)
{
	int rv;

	if (atomic_load(&p->inflight) != 0)
		return -LE_STATE;
	rv = store_batch_commit(b, p->sync);
	store_batch_free(b);
	return rv;
}
