/*
 * proxyd/worker.c — worker threads and configuration generations.
 *
 * main.c opens the listening sockets (one SO_REUSEPORT socket per worker and
 * listener, so the kernel spreads connections without a shared accept lock),
 * then starts the workers here. Each worker runs its own lib/ev loop and owns
 * every connection it accepts until it is reaped.
 *
 * Generations: the control thread builds and validates a generation, prepares
 * its per-worker runtime (struct wslot: balancers and pools per upstream) and
 * publishes it with worker_publish(); each worker picks it up from its
 * ev_async callback, switches its listener watchers by diff, and holds one
 * reference on each generation it still uses — the current one, and older ones
 * while requests that started on them are in flight. Request counts per
 * generation are plain per-worker integers (struct wslot.inflight), so a
 * request costs no atomic operation on a shared counter.
 */
#include "proxyd/worker.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/net.h"
#include "proxyd/accesslog.h"
#include "proxyd/compress.h"
#include "proxyd/conn.h"
#include "proxyd/prefetch_front.h"
#include "proxyd/prefetch_handoff.h"
#include "proxyd/listener.h"
#include "proxyd/metrics.h"
#include "proxyd/procstate.h"
#include "proxyd/upstream.h"

static struct worker *workers;
static int nworkers;

int
worker_count(void)
{
	return nworkers;
}

static void
wslot_free(struct pd_config *g, void *p)
{
	struct wslot *s = p;

	(void)g;
	for (size_t i = 0; i < s->nups; i++)
		up_rt_fini(&s->ups[i]);
	free(s->ups);
	free(s);
}

int
worker_prepare_gen(struct pd_config *gen, int n)
{
	if ((gen->wslots = calloc((size_t)n, sizeof(void *))) == NULL)
		return -1;
	gen->nworkers = n;
	gen->wslot_free = wslot_free;
	for (int w = 0; w < n; w++) {
		struct wslot *s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		gen->wslots[w] = s;
		if (gen->nupstreams > 0 && (s->ups = calloc(gen->nupstreams, sizeof(*s->ups))) == NULL)
			return -1;
		for (size_t u = 0; u < gen->nupstreams; u++) {
			if (up_rt_init(&s->ups[u], &gen->upstreams[u], (uint64_t)(w + 1) * 0x9e3779b97f4a7c15ull ^ gen->generation) == -1)
				return -1;
			s->nups = u + 1;
		}
	}
	/* Metrics series: one per route and upstream it can send to. */
	size_t total = 0;
	for (size_t i = 0; i < gen->nroutes; i++)
		total += gen->routes[i].nsplits > 0 ? gen->routes[i].nsplits : 1;
	gen->route_series = calloc(total + 1, sizeof(*gen->route_series));
	gen->route_series_off = calloc(gen->nroutes + 1, sizeof(*gen->route_series_off));
	if (gen->route_series == NULL || gen->route_series_off == NULL)
		return -1;
	total = 0;
	for (size_t i = 0; i < gen->nroutes; i++) {
		const struct route *r = &gen->routes[i];
		gen->route_series_off[i] = total;
		if (r->nsplits == 0) {
			int id = metrics_series(r->name, "-");
			gen->route_series[total++] = (uint16_t)(id < 0 ? 0 : id);
		}
		for (size_t j = 0; j < r->nsplits; j++) {
			int id = metrics_series(r->name, gen->upstreams[r->splits[j].upstream].name);
			gen->route_series[total++] = (uint16_t)(id < 0 ? 0 : id);
		}
	}
	return 0;
}

void
worker_publish(struct pd_config *gen)
{
	config_unref(procstate_swap_current(gen));
	worker_kick_all();
}

void
worker_kick_all(void)
{
	for (int i = 0; i < nworkers; i++)
		ev_async_send(&workers[i].async);
}

void
worker_kick(int i)
{
	if (i >= 0 && i < nworkers)
		ev_async_send(&workers[i].async);
}

/* ---- caches ------------------------------------------------------------- */

int
worker_buf_get(struct worker *wk, struct buf *b)
{
	if (b->data != NULL)
		return 0;
	if (wk->nbufs > 0) {
		wk_cache_take(&wk->nbufs, &wk->low_bufs);
		b->data = wk->bufs[wk->nbufs];
	} else if ((b->data = malloc(WK_BUF_SIZE)) == NULL) {
		return -1;
	}
	b->cap = WK_BUF_SIZE;
	b->rpos = b->wpos = 0;
	return 0;
}

void
worker_buf_put(struct worker *wk, struct buf *b)
{
	if (b->data == NULL || buf_len(b) != 0)
		return;
	if (b->cap == WK_BUF_SIZE && wk->nbufs < WK_BUF_CACHE)
		wk->bufs[wk->nbufs++] = b->data;
	else
		free(b->data);
	b->data = NULL;
	b->cap = b->rpos = b->wpos = 0;
}

/* How many of a cache's n entries a trim keeps: those used since the last
 * trim (the low-water mark low says how many sat idle throughout), at most
 * cap. */
static int
trim_keep(int n, int low, int cap)
{
	int used = n - (low < n ? low : n);

	return used < cap ? used : cap;
}

/* The free lists are walked with their own types (one loop each): a
 * generic walk through void ** would break C's aliasing rules. Each keeps
 * its first keep entries (the most recently used: the lists are LIFO) and
 * frees the rest; the bytes freed add to *n. */
static void
trim_conns(struct conn **head, int keep, size_t *n)
{
	while (*head != NULL && keep-- > 0)
		head = &(*head)->next;
	while (*head != NULL) {
		struct conn *c = *head;
		*head = c->next;
		free(c);
		*n += sizeof(*c);
	}
}

static void
trim_bconns(struct bconn **head, int keep, size_t *n)
{
	while (*head != NULL && keep-- > 0)
		head = &(*head)->next;
	while (*head != NULL) {
		struct bconn *b = *head;
		*head = b->next;
		free(b);
		*n += sizeof(*b);
	}
}

/* A free-listed exchange keeps its head buffers (up to 64 KiB each). */
static void
trim_reqs(struct req **head, int keep, size_t *n)
{
	while (*head != NULL && keep-- > 0)
		head = &(*head)->next_free;
	while (*head != NULL) {
		struct req *r = *head;
		*head = r->next_free;
		*n += sizeof(*r) + r->qhead.cap + r->rhead.cap + r->fout.cap + r->fmid.cap;
		buf_fini(&r->qhead);
		buf_fini(&r->rhead);
		buf_fini(&r->fout);
		buf_fini(&r->fmid);
		free(r->cache_spare);
		free(r);
	}
}

size_t
worker_trim_caches(struct worker *wk, int keep_bufs, int keep)
{
	size_t n = 0;
	int k;

	k = trim_keep(wk->nbufs, wk->low_bufs, keep_bufs);
	while (wk->nbufs > k) {
		free(wk->bufs[--wk->nbufs]);
		n += WK_BUF_SIZE;
	}
	wk->nfree_conns = wk->low_conns = trim_keep(wk->nfree_conns, wk->low_conns, keep);
	trim_conns(&wk->free_conns, wk->nfree_conns, &n);
	wk->nfree_bconns = wk->low_bconns = trim_keep(wk->nfree_bconns, wk->low_bconns, keep);
	trim_bconns(&wk->free_bconns, wk->nfree_bconns, &n);
	wk->nfree_reqs = wk->low_reqs = trim_keep(wk->nfree_reqs, wk->low_reqs, keep);
	trim_reqs(&wk->free_reqs, wk->nfree_reqs, &n);
	wk->low_bufs = wk->nbufs;
	if (wk->conns == NULL && wk->cpool != NULL)
		compress_pool_trim(wk->cpool);
	return n;
}

uint32_t
worker_rand(struct worker *wk)
{
	uint64_t x = wk->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	wk->rng = x;
	return (uint32_t)(x >> 32);
}

/* ---- generations -------------------------------------------------------- */

static struct wslot *
slot_of(struct worker *wk, struct pd_config *g)
{
	return g->wslots[wk->idx];
}

void
worker_gen_acquire(struct worker *wk, struct pd_config *g)
{
	slot_of(wk, g)->inflight++;
}

/* Lets go of an old generation here: its pooled connections are closed (they
 * point into its runtime) and the worker's reference dropped. */
static void
wk_gen_drop(struct worker *wk, struct pd_config *g)
{
	struct wslot *s = slot_of(wk, g);

	for (size_t i = 0; i < s->nups; i++)
		up_rt_close_idle(wk, &s->ups[i]);
	for (int i = 0; i < wk->nold; i++) {
		if (wk->old[i] == g) {
			wk->old[i] = wk->old[--wk->nold];
			break;
		}
	}
	s->held = 0;
	config_unref(g);
}

void
worker_gen_release(struct worker *wk, struct pd_config *g)
{
	struct wslot *s = slot_of(wk, g);

	if (--s->inflight == 0 && g != wk->gen)
		wk_gen_drop(wk, g);
}

static void accept_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents);

static void
listeners_sync(struct worker *wk, struct pd_config *g)
{
	struct wlisten keep[PD_MAX_LISTENERS];
	int nkeep = 0;

	/* Stop the watchers of sockets the new generation does not have. */
	for (int i = 0; i < wk->nlis; i++) {
		int found = 0;
		for (size_t j = 0; g != NULL && j < g->nlisteners; j++)
			if (g->listeners[j].ls == wk->lis[i].ls)
				found = 1;
		if (!found || procstate_stopping) {
			ev_io_stop(wk->loop, &wk->lis[i].io);
			if (procstate_stopping) {
				/* Close our socket of the group now, so the kernel stops
				 * queueing connections nobody will accept. */
				int fd = atomic_exchange(&wk->lis[i].ls->fds[wk->idx], -1);
				if (fd >= 0)
					close(fd);
			}
		}
	}
	for (size_t j = 0; g != NULL && !procstate_stopping && j < g->nlisteners; j++) {
		struct pd_lsock *ls = g->listeners[j].ls;
		int i;
		for (i = 0; i < wk->nlis; i++)
			if (wk->lis[i].ls == ls)
				break;
		keep[nkeep].ls = ls;
		keep[nkeep].lis = &g->listeners[j];
		keep[nkeep].wk = wk;
		if (i < wk->nlis) {
			keep[nkeep].io = wk->lis[i].io;
			ev_io_stop(wk->loop, &wk->lis[i].io);
		} else {
			keep[nkeep].io.fd = -1;
		}
		nkeep++;
	}
	/* Watchers are embedded: re-register at their new address. */
	wk->nlis = nkeep;
	for (int i = 0; i < nkeep; i++) {
		int fd = atomic_load(&keep[i].ls->fds[wk->idx]);
		wk->lis[i] = keep[i];
		if (fd < 0)
			continue;
		ev_io_init(&wk->lis[i].io, fd, accept_cb, &wk->lis[i]);
		if (ev_io_start(wk->loop, &wk->lis[i].io, EV_READ) == -1)
			log_warn("worker %d: cannot watch listener %s", wk->idx, keep[i].lis->name);
	}
}

static void
close_idle_conns(struct worker *wk)
{
	struct conn *c, *next;

	for (c = wk->conns; c != NULL; c = next) {
		next = c->next;
		conn_close_if_idle(c);
	}
}

static void
stop_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct worker *wk = t->data;
	struct conn *c, *next;

	(void)loop;
	if (wk->conns != NULL)
		log_info("worker %d: shutdown deadline reached, closing %llu connections", wk->idx,
		    (unsigned long long)wk->nconns);
	for (c = wk->conns; c != NULL; c = next) {
		next = c->next;
		conn_close(c, "shutdown deadline");
	}
}

static void
check_stopped(struct worker *wk)
{
	if (wk->stopping && wk->conns == NULL) {
		accesslog_flush(wk);
		ev_stop(wk->loop);
	}
}

static void
async_cb(struct ev_loop *loop, struct ev_async *a)
{
	struct worker *wk = a->data;
	struct pd_config *g;

	(void)loop;
	if (atomic_load(&procstate_stopping) && !wk->stopping) {
		wk->stopping = 1;
		wk->draining = 1;
		listeners_sync(wk, NULL);
		close_idle_conns(wk);
		pfx_stop(wk);
		ev_timer_start(wk->loop, &wk->stop_timer, wk->gen ? wk->gen->to.shutdown : 15000);
		check_stopped(wk);
		return;
	}
	if (wk->stopping)
		return;
	wk->draining = atomic_load(&procstate_draining);
	if (wk->draining) {
		struct conn *c;

		for (c = wk->conns; c != NULL; c = c->next)
			conn_drain_idle(c, CONN_DRAIN_IDLE_GRACE_MS);
	}
	/* Prefetches handed to this worker (proxyd/prefetch_front.c). */
	pfx_run(wk);
	g = procstate_current();
	if (g == NULL)
		return;
	if (g == wk->gen) {
		config_unref(g);
		return;
	}
	/* Adopt g (its reference from procstate_current is the worker's). */
	listeners_sync(wk, g);
	/* A lower max_streams frees idle coders now, busy ones as their
	 * responses end; a higher one lets more be made. */
	compress_pool_set_limit(wk->cpool, g->compress.max_streams);
	slot_of(wk, g)->held = 1;
	if (wk->gen != NULL) {
		struct pd_config *old = wk->gen;
		wk->gen = g;
		if (slot_of(wk, old)->inflight == 0) {
			wk_gen_drop(wk, old);
		} else if (wk->nold < (int)(sizeof(wk->old) / sizeof(wk->old[0]))) {
			wk->old[wk->nold++] = old;
			/* Its idle pooled connections are of no further use. */
			struct wslot *s = slot_of(wk, old);
			for (size_t i = 0; i < s->nups; i++)
				up_rt_close_idle(wk, &s->ups[i]);
		} else {
			/* Too many generations in flight: keep the reference forever
			 * rather than free what requests still use. */
			log_warnx("worker %d: too many old generations in use", wk->idx);
		}
	} else {
		wk->gen = g;
	}
	log_debug("worker %d: now on generation %llu", wk->idx, (unsigned long long)g->generation);
}

static void
accept_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct wlisten *wl = w->data;
	struct worker *wk = wl->wk;

	(void)loop;
	(void)revents;
	/* Bounded batch per wakeup so one busy listener cannot starve the loop. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = net_accept(w->fd, &ss, &len);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED)
				log_warn("worker %d: accept on %s", wk->idx, wl->lis->name);
			return;
		}
		conn_accept(wk, fd, &ss, wl->lis);
	}
}

static void
reap_cb(struct ev_loop *loop, struct ev_defer *d);

static void
alog_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct worker *wk = t->data;

	accesslog_flush(wk);
	ev_timer_start(loop, t, 200);
}

/*
 * glibc's malloc_trim, except under a sanitizer: there the allocator is the
 * sanitizer's, glibc's heap is never set up, and two workers trimming at once
 * probably race in glibc's lazy set-up (a SEGV inside malloc_trim was seen
 * once under ASan, with two workers). There is nothing of glibc's to trim.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WK_UNDER_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WK_UNDER_SANITIZER 1
#endif

static void
heap_trim(void)
{
#ifndef WK_UNDER_SANITIZER
	malloc_trim(0);
#endif
}

static void
trim_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct worker *wk = t->data;

	/* free() leaves the pages of a burst resident (glibc returns only the
	 * top of a heap): after a trim that freed a buffer's worth or more (a
	 * burst's leftovers: its connections' TLS state went back to the
	 * heap with them), hand the free pages back. */
	if (worker_trim_caches(wk, WK_TRIM_KEEP_BUFS, WK_TRIM_KEEP) >= WK_TRIM_RELEASE)
		heap_trim();
	ev_timer_start(loop, t, WK_TRIM_MS);
}

static void *
worker_main(void *arg)
{
	struct worker *wk = arg;

	ev_timer_start(wk->loop, &wk->alog_timer, 200);
	ev_timer_start(wk->loop, &wk->trim_timer, WK_TRIM_MS);
	if (ev_run(wk->loop) == -1)
		log_warn("worker %d: event loop failed", wk->idx);
	accesslog_flush(wk);
	worker_trim_caches(wk, 0, 0);
	atomic_fetch_sub(&procstate_running, 1);
	return NULL;
}

void
worker_reap_schedule(struct worker *wk)
{
	ev_defer(wk->loop, &wk->reap_defer);
}

void
worker_conn_reaped(struct worker *wk)
{
	check_stopped(wk);
}

static void
reap_cb(struct ev_loop *loop, struct ev_defer *d)
{
	struct worker *wk = d->data;

	(void)loop;
	while (wk->reap != NULL) {
		struct conn *c = wk->reap;
		wk->reap = c->next;
		c->next = wk->free_conns;
		wk->free_conns = c;
		wk->nfree_conns++;
	}
	while (wk->reap_b != NULL) {
		struct bconn *b = wk->reap_b;
		wk->reap_b = b->next;
		b->next = wk->free_bconns;
		wk->free_bconns = b;
		wk->nfree_bconns++;
	}
	check_stopped(wk);
}

int
worker_start_all(int n, struct pd_config *gen)
{
	if ((workers = calloc((size_t)n, sizeof(*workers))) == NULL)
		return -1;
	nworkers = n;
	procstate_set_workers(n);
	config_unref(procstate_swap_current(gen));
	for (int i = 0; i < n; i++) {
		struct worker *wk = &workers[i];
		wk->idx = i;
		wk->rng = 0x853c49e6748fea9bull ^ ((uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull) ^ (uint64_t)getpid();
		if ((wk->loop = ev_loop_new()) == NULL || (wk->m = metrics_worker_new()) == NULL ||
		    (wk->cpool = compress_pool_new(gen->compress.max_streams)) == NULL ||
		    ev_async_init(wk->loop, &wk->async, async_cb, wk) == -1)
			return -1;
		/* /metrics reads the pool's counters through the worker's. */
		metrics_worker_compress(wk->m, compress_pool_stats(wk->cpool));
		ev_defer_init(&wk->reap_defer, reap_cb, wk);
		ev_timer_init(&wk->alog_timer, alog_timer_cb, wk);
		ev_timer_init(&wk->stop_timer, stop_timer_cb, wk);
		ev_timer_init(&wk->trim_timer, trim_timer_cb, wk);
		buf_init(&wk->scratch);
		buf_init(&wk->alog);
		/* Adopt the first generation synchronously: no request can come
		 * before the loop runs. */
		config_ref(gen);
		wk->gen = gen;
		slot_of(wk, gen)->held = 1;
		listeners_sync(wk, gen);
	}
	atomic_store(&procstate_running, n);
	/* Every worker's ev_async exists from here: others may wake them. */
	procstate_set_kick(worker_kick_all);
	pfx_set_workers(n, worker_kick);
	for (int i = 0; i < n; i++) {
		int rc = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
		if (rc != 0) {
			errno = rc;
			return -1;
		}
	}
	return 0;
}

void
worker_join_all(void)
{
	pfx_set_workers(0, NULL);     /* no prefetch handed to a stopping worker */
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i].thread, NULL);
}
