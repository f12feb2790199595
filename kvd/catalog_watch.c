/* catalog_watch.c: parked blocking queries on the catalog. Waiters of the
 * same read (what, node, node-meta filter) share one set; a set is woken
 * by the writes that touch what it reads, as Consul's memdb watch sets
 * are: the node list by any node's change, a node's record by that
 * node's, a node's checks by its checks'. A woken set computes its answer
 * once and copies it to every waiter whose index is behind; a waiter's
 * timer answers it with the current state when its wait ends. */
#include "kvd.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct cwaiter {
	struct cwaiter *next, *prev;
	struct cset *set;
	struct ipc_req *req;
	uint64_t min_index;
	struct loop_timer *timer;
	struct cat_watch *w;
};

struct cset {
	struct cset *hnext;
	uint32_t what;
	char *node;		/* lowercased; "" for the node list */
	size_t node_len;
	/* the filter, owned */
	uint32_t nf;
	char **fk, **fv;
	size_t *fkl, *fvl;
	struct cwaiter *head;
	size_t n;
};

struct cat_watch {
	struct kvd *k;
	struct cset **tab;	/* by (what, node) */
	size_t nbuckets;
	size_t nsets;
	size_t parked;
};

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static size_t
bucket_of(const struct cat_watch *w, uint32_t what, const char *lcnode,
    size_t len)
{
	uint64_t h = fnv64(fnv64(FNV64_OFFSET, &what, sizeof(what)), lcnode,
	    len);

	return (size_t)(h & (w->nbuckets - 1));
}

struct cat_watch *
cat_watch_new(struct kvd *k)
{
	struct cat_watch *w = xcalloc(1, sizeof(*w));

	w->k = k;
	w->nbuckets = 256;
	w->tab = xcalloc(w->nbuckets, sizeof(*w->tab));
	return w;
}

static void
cset_free(struct cset *s)
{
	for (uint32_t i = 0; i < s->nf; i++) {
		free(s->fk[i]);
		free(s->fv[i]);
	}
	free(s->fk);
	free(s->fv);
	free(s->fkl);
	free(s->fvl);
	free(s->node);
	free(s);
}

/* The set's read as a query (borrowing from the set). */
static void
query_of(const struct cset *s, struct msg_cat_read *q)
{
	memset(q, 0, sizeof(*q));
	q->what = s->what;
	q->node = s->node;
	q->node_len = s->node_len;
	q->filter.present = s->nf > 0;
	q->filter.n = s->nf;
	q->filter.keys = (const char *const *)s->fk;
	q->filter.klens = s->fkl;
	q->filter.vals = (const char *const *)s->fv;
	q->filter.vlens = s->fvl;
}

static bool
cset_matches(const struct cset *s, const struct msg_cat_read *q,
    const char *lc, size_t len)
{
	if (s->what != q->what || s->node_len != len ||
	    memcmp(s->node, lc, len) != 0 || s->nf != q->filter.n)
		return false;
	for (uint32_t i = 0; i < s->nf; i++) {
		const char *k, *v;
		size_t kl, vl;

		msg_cat_strmap_at(&q->filter, i, &k, &kl, &v, &vl);
		if (kl != s->fkl[i] || vl != s->fvl[i] ||
		    memcmp(k, s->fk[i], kl) != 0 ||
		    memcmp(v, s->fv[i], vl) != 0)
			return false;
	}
	return true;
}

static void
grow(struct cat_watch *w)
{
	size_t nb = w->nbuckets * 2, old = w->nbuckets;
	struct cset **tab = xcalloc(nb, sizeof(*tab));

	w->nbuckets = nb;
	for (size_t i = 0; i < old; i++) {
		struct cset *s = w->tab[i], *n;

		for (; s != NULL; s = n) {
			size_t b = bucket_of(w, s->what, s->node, s->node_len);

			n = s->hnext;
			s->hnext = tab[b];
			tab[b] = s;
		}
	}
	free(w->tab);
	w->tab = tab;
}

static struct cset *
cset_get(struct cat_watch *w, const struct msg_cat_read *q)
{
	char lc[CAT_NAME_MAX];
	size_t len = q->what == CATR_NODES ? 0 : q->node_len, b;
	struct cset *s;

	for (size_t i = 0; i < len; i++)
		lc[i] = lower(q->node[i]);
	b = bucket_of(w, q->what, lc, len);
	for (s = w->tab[b]; s != NULL; s = s->hnext)
		if (cset_matches(s, q, lc, len))
			return s;
	if (w->nsets >= w->nbuckets) {
		grow(w);
		b = bucket_of(w, q->what, lc, len);
	}
	s = xcalloc(1, sizeof(*s));
	s->what = q->what;
	s->node = xmalloc(len + 1);
	memcpy(s->node, lc, len);
	s->node[len] = '\0';
	s->node_len = len;
	s->nf = q->filter.n;
	if (s->nf > 0) {
		s->fk = xcalloc(s->nf, sizeof(*s->fk));
		s->fv = xcalloc(s->nf, sizeof(*s->fv));
		s->fkl = xcalloc(s->nf, sizeof(*s->fkl));
		s->fvl = xcalloc(s->nf, sizeof(*s->fvl));
		for (uint32_t i = 0; i < s->nf; i++) {
			const char *k, *v;
			size_t kl, vl;

			msg_cat_strmap_at(&q->filter, i, &k, &kl, &v, &vl);
			s->fk[i] = xstrndup(k, kl);
			s->fkl[i] = kl;
			s->fv[i] = xstrndup(v, vl);
			s->fvl[i] = vl;
		}
	}
	s->hnext = w->tab[b];
	w->tab[b] = s;
	w->nsets++;
	return s;
}

static void
cset_unlink_if_empty(struct cat_watch *w, struct cset *s)
{
	struct cset **pp;

	if (s->head != NULL)
		return;
	pp = &w->tab[bucket_of(w, s->what, s->node, s->node_len)];
	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			w->nsets--;
			cset_free(s);
			return;
		}
	}
}

static void
waiter_unlink(struct cwaiter *wt)
{
	struct cset *s = wt->set;

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
waiter_timeout(void *arg)
{
	struct cwaiter *wt = arg;
	struct cat_watch *w = wt->w;
	struct cset *s = wt->set;
	struct msg_cat_read q;

	query_of(s, &q);
	w->k->st.timeouts++;
	cat_reply_read(w->k, wt->req, &q);
	waiter_unlink(wt);
	free(wt);
	cset_unlink_if_empty(w, s);
}

/* The caller went away (httpd's client hung up): answered at once, with
 * no read, instead of when the wait ends. */
static void
waiter_cancel(void *arg, struct ipc_req *r)
{
	struct cwaiter *wt = arg;
	struct cat_watch *w = wt->w;
	struct cset *s = wt->set;

	w->k->st.canceled++;
	ipc_reply_canceled(r);
	waiter_unlink(wt);
	free(wt);
	cset_unlink_if_empty(w, s);
}

void
cat_watch_park(struct cat_watch *w, struct ipc_req *r,
    const struct msg_cat_read *q)
{
	struct cset *s = cset_get(w, q);
	struct cwaiter *wt = xcalloc(1, sizeof(*wt));

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

/* Answers every waiter of s that is behind, the answer built once. */
static void
cset_wake(struct cat_watch *w, struct cset *s)
{
	struct msg_cat_read q;
	struct msg_kv_read_reply rep;
	struct mpw body;
	struct cwaiter *wt, *next;
	bool built = false;
	uint64_t index;

	query_of(s, &q);
	index = cat_read_index(w->k, &q);
	for (wt = s->head; wt != NULL; wt = next) {
		next = wt->next;
		if (index <= wt->min_index)
			continue;
		if (!built) {
			cat_answer_encode(w->k, &q, &rep, &body);
			built = true;
		}
		w->k->st.wakeups++;
		w->k->st.cat_reads++;
		cat_reply_with(wt->req, &rep, &body);
		waiter_unlink(wt);
		free(wt);
	}
	if (built)
		mpw_free(&body);
	cset_unlink_if_empty(w, s);
}

void
cat_watch_touch(struct cat_watch *w, int topic, const char *lcnode,
    size_t len)
{
	uint32_t what;
	struct cset *s, *next;

	if (w->parked == 0)
		return;
	switch (topic) {
	case CAT_TOPIC_NODES:
		what = CATR_NODES;
		len = 0;
		break;
	case CAT_TOPIC_NODE:
		what = CATR_NODE;
		break;
	case CAT_TOPIC_CHECKS:
		what = CATR_NODE_CHECKS;
		break;
	default:
		return;
	}
	for (s = w->tab[bucket_of(w, what, lcnode, len)]; s != NULL;
	    s = next) {
		next = s->hnext;
		if (s->what == what && s->node_len == len &&
		    memcmp(s->node, lcnode, len) == 0)
			cset_wake(w, s);
	}
}

/* After a snapshot restore anything may have changed. */
void
cat_watch_touch_all(struct cat_watch *w)
{
	for (size_t i = 0; i < w->nbuckets && w->parked > 0; i++) {
		struct cset *s = w->tab[i], *next;

		for (; s != NULL; s = next) {
			next = s->hnext;
			cset_wake(w, s);
		}
	}
}

size_t
cat_watch_parked(const struct cat_watch *w)
{
	return w->parked;
}

void
cat_watch_free(struct cat_watch *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->nbuckets; i++) {
		struct cset *s = w->tab[i], *n;

		for (; s != NULL; s = n) {
			struct cwaiter *wt, *wn;

			n = s->hnext;
			for (wt = s->head; wt != NULL; wt = wn) {
				wn = wt->next;
				loop_timer_free(wt->timer);
				free(wt);
			}
			cset_free(s);
		}
	}
	free(w->tab);
	free(w);
}
