/* kv_watch.c: parked blocking queries. Waiters for the same read (mode,
 * key or prefix, separator) share one watch set, so a write that touches
 * a key wakes each distinct read once, however many clients wait on it:
 * the answer is computed once and copied to every waiter. A parked query
 * costs its nng context (held by ipc.c), a waiter and a timer. */
#include "kvd.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct waiter {
	struct waiter *next, *prev;
	struct wset *set;
	struct ipc_req *req;
	uint64_t min_index;
	struct loop_timer *timer;
	struct kv_watch *w;
};

struct wset {
	struct wset *hnext;	/* hash chain */
	uint32_t mode;
	char *key;
	size_t key_len;
	char *sep;		/* NULL: none */
	size_t sep_len;
	struct waiter *head;
	size_t n;
};

struct kv_watch {
	struct kvd *k;
	struct wset **tab;	/* by (mode, key, sep) */
	size_t nbuckets;
	size_t nsets;
	size_t parked;
};

/* Sets are found by the key alone (any mode) when a key is touched, so
 * the bucket is chosen by the key bytes only. */
static size_t
bucket_of(const struct kv_watch *w, const char *key, size_t klen)
{
	return (size_t)(fnv64(FNV64_OFFSET, key, klen) &
	    (w->nbuckets - 1));
}

struct kv_watch *
kv_watch_new(struct kvd *k)
{
	struct kv_watch *w = xcalloc(1, sizeof(*w));

	w->k = k;
	w->nbuckets = 1024;
	w->tab = xcalloc(w->nbuckets, sizeof(*w->tab));
	return w;
}

static void
wset_free(struct wset *s)
{
	free(s->key);
	free(s->sep);
	free(s);
}

static void
grow(struct kv_watch *w)
{
	size_t nb = w->nbuckets * 2;
	struct wset **tab = xcalloc(nb, sizeof(*tab));

	for (size_t i = 0; i < w->nbuckets; i++) {
		struct wset *s = w->tab[i], *n;

		for (; s != NULL; s = n) {
			size_t b = (size_t)(fnv64(FNV64_OFFSET,
			    s->key, s->key_len) & (nb - 1));

			n = s->hnext;
			s->hnext = tab[b];
			tab[b] = s;
		}
	}
	free(w->tab);
	w->tab = tab;
	w->nbuckets = nb;
}

static struct wset *
wset_get(struct kv_watch *w, const struct msg_kv_read *q, bool create)
{
	size_t b = bucket_of(w, q->key, q->key_len);
	struct wset *s;

	for (s = w->tab[b]; s != NULL; s = s->hnext) {
		if (s->mode == q->mode && s->key_len == q->key_len &&
		    memcmp(s->key, q->key, q->key_len) == 0 &&
		    (s->sep == NULL) == (q->sep == NULL) &&
		    (s->sep == NULL || (s->sep_len == q->sep_len &&
		    memcmp(s->sep, q->sep, q->sep_len) == 0)))
			return s;
	}
	if (!create)
		return NULL;
	if (w->nsets >= w->nbuckets) {
		grow(w);
		b = bucket_of(w, q->key, q->key_len);
	}
	s = xcalloc(1, sizeof(*s));
	s->mode = q->mode;
	s->key = xmalloc(q->key_len + 1);
	memcpy(s->key, q->key, q->key_len);
	s->key[q->key_len] = '\0';
	s->key_len = q->key_len;
	if (q->sep != NULL) {
		s->sep = xmalloc(q->sep_len + 1);
		memcpy(s->sep, q->sep, q->sep_len);
		s->sep[q->sep_len] = '\0';
		s->sep_len = q->sep_len;
	}
	s->hnext = w->tab[b];
	w->tab[b] = s;
	w->nsets++;
	return s;
}

static void
wset_unlink_if_empty(struct kv_watch *w, struct wset *s)
{
	size_t b;
	struct wset **pp;

	if (s->head != NULL)
		return;
	b = bucket_of(w, s->key, s->key_len);
	for (pp = &w->tab[b]; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			w->nsets--;
			wset_free(s);
			return;
		}
	}
}

static void
waiter_unlink(struct waiter *wt)
{
	struct wset *s = wt->set;

	if (wt->prev != NULL)
		wt->prev->next = wt->next;
	else
		s->head = wt->next;
	if (wt->next != NULL)
		wt->next->prev = wt->prev;
	s->n--;
	wt->w->parked--;
	loop_timer_free(wt->timer);
}

static void
query_of(const struct wset *s, struct msg_kv_read *q)
{
	memset(q, 0, sizeof(*q));
	q->mode = s->mode;
	q->key = s->key;
	q->key_len = s->key_len;
	q->sep = s->sep;
	q->sep_len = s->sep_len;
}

static void
waiter_timeout(void *arg)
{
	struct waiter *wt = arg;
	struct kv_watch *w = wt->w;
	struct wset *s = wt->set;
	struct msg_kv_read q;

	/* The wait ended: answer with the current state and index. */
	query_of(s, &q);
	w->k->st.timeouts++;
	kvd_reply_read(w->k, wt->req, &q);
	waiter_unlink(wt);
	free(wt);
	wset_unlink_if_empty(w, s);
}

/* The caller went away (httpd's client hung up): answered at once, with
 * no read, instead of when the wait ends. */
static void
waiter_cancel(void *arg, struct ipc_req *r)
{
	struct waiter *wt = arg;
	struct kv_watch *w = wt->w;
	struct wset *s = wt->set;

	w->k->st.canceled++;
	ipc_reply_canceled(r);
	waiter_unlink(wt);
	free(wt);
	wset_unlink_if_empty(w, s);
}

void
kv_watch_park(struct kv_watch *w, struct ipc_req *r,
    const struct msg_kv_read *q)
{
	struct wset *s = wset_get(w, q, true);
	struct waiter *wt = xcalloc(1, sizeof(*wt));

	wt->w = w;
	wt->set = s;
	wt->req = r;
	wt->min_index = q->min_index;
	wt->next = s->head;
	if (s->head != NULL)
		s->head->prev = wt;
	s->head = wt;
	s->n++;
	w->parked++;
	w->k->st.blocked_total++;
	wt->timer = loop_timer_new(w->k->loop, waiter_timeout, wt);
	loop_timer_arm(wt->timer, q->wait_ms);
	ipc_req_on_cancel(r, waiter_cancel, wt);
}

/* Re-evaluates a set after a change: every waiter whose index is now
 * behind gets the answer. */
static void
wset_wake(struct kv_watch *w, struct wset *s)
{
	struct msg_kv_read q;
	struct waiter *wt, *next;
	uint64_t index;

	query_of(s, &q);
	index = kvd_read_index(w->k, &q);
	for (wt = s->head; wt != NULL; wt = next) {
		next = wt->next;
		if (index <= wt->min_index)
			continue;
		w->k->st.wakeups++;
		kvd_reply_read(w->k, wt->req, &q);
		waiter_unlink(wt);
		free(wt);
	}
	wset_unlink_if_empty(w, s);
}

/* A key changed: wake the sets reading that key exactly and the sets
 * reading any prefix of it (including the empty prefix). */
void
kv_watch_touched(struct kv_watch *w, const char *key, size_t klen)
{
	if (w->parked == 0)
		return;
	for (size_t l = 0; l <= klen; l++) {
		size_t b = bucket_of(w, key, l);
		struct wset *s, *next;

		for (s = w->tab[b]; s != NULL; s = next) {
			next = s->hnext;
			if (s->key_len != l || memcmp(s->key, key, l) != 0)
				continue;
			if (s->mode == KVR_GET && l != klen)
				continue;
			wset_wake(w, s);
		}
	}
}

size_t
kv_watch_parked(const struct kv_watch *w)
{
	return w->parked;
}

size_t
kv_watch_sets(const struct kv_watch *w)
{
	return w->nsets;
}

void
kv_watch_free(struct kv_watch *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->nbuckets; i++) {
		struct wset *s = w->tab[i], *n;

		for (; s != NULL; s = n) {
			struct waiter *wt, *wn;

			n = s->hnext;
			for (wt = s->head; wt != NULL; wt = wn) {
				wn = wt->next;
				loop_timer_free(wt->timer);
				free(wt);
			}
			wset_free(s);
		}
	}
	free(w->tab);
	free(w);
}
