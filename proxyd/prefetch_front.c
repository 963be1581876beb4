/*
 * proxyd/prefetch_front.c — prefetches as internal exchanges on a worker
 * (prefetch_front.h).
 *
 * The control thread put the request in the hand-off table and woke this
 * worker (proxyd/prefetch_handoff.c). The worker writes the request head
 * into a buffer of the exchange's own and parses it as a client's head
 * (request_parse() with no connection): the route is found by host and
 * path, the cache looked up, and on a miss the upstream the route names
 * is asked with whatever connection kind that upstream uses, so an https
 * key needs no TLS client of this proxyd. No listener is involved: no ACL,
 * no rate limit, no access log line, no request metrics (the exchange has
 * no connection; proxyd/prefetch.c counts the outcome).
 *
 * The front is a sink: every response byte is taken and dropped, after
 * the cache's tap (proxyd/backend.c cache_tap()) stored it on its way.
 * Each exchange has its own timer (the source's phase timeouts) and a
 * deadline of PREFETCH_TIMEOUT_MS, after which it is aborted.
 */
#include "proxyd/prefetch_front.h"

#include <stdlib.h>

#include "lib/log.h"
#include "proxyd/cache.h"
#include "proxyd/exchange.h"
#include "proxyd/prefetch_handoff.h"
#include "proxyd/request.h"
#include "proxyd/worker.h"

/* One running prefetch exchange (worker-owned). */
struct pfx {
	struct pfx *prev, *next;      /* the worker's running ones */
	struct worker *wk;
	struct req *r;
	struct ev_timer tm;           /* the exchange's timer (r->tm) */
	struct ev_timer deadline;     /* PREFETCH_TIMEOUT_MS from the start */
	struct buf in;                /* the request head (r->rq.in) */
	uint32_t id;
	int status, stale;
};

/* Per worker, its running exchanges (each worker touches only its own). */
static struct pfx *running[PD_MAX_WORKERS];

/* The exchange is over (r given back already): reported, unlinked, freed. */
static void
pfx_done(struct pfx *x, int failed)
{
	struct worker *wk = x->wk;

	pfx_report(x->id, x->status, x->stale, failed);
	ev_timer_stop(wk->loop, &x->tm);
	ev_timer_stop(wk->loop, &x->deadline);
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		running[wk->idx] = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	buf_fini(&x->in);
	free(x);
}

/* flush (exch_front): everything passed is taken and dropped. The cache
 * stored the body as the source decoded it (cache_tap()), before it was
 * passed here. */
static int
pfx_flush(struct req *r)
{
	struct pfx *x = r->fctx;

	r->rhead_off = buf_len(&r->rhead);
	if (r->fc.nbody > 0) {
		buf_consume(&r->fout, r->fpass);
		r->fpass = 0;
	} else if (r->rs.pass > 0) {
		buf_consume(r->rs.in, r->rs.pass);
		r->rs.pass = 0;
	}
	x->status = r->status;
	/* A stale object served (stale-if-error, RFC 5861 §4) means the
	 * origin failed, like a 5xx. */
	x->stale = cache_served_stale(r);
	return 1;
}

/* resume (exch_front): a GET without a body: nothing more to read. */
static void
pfx_resume(struct req *r)
{
	(void)r;
}

/* end (exch_front): the whole answer went through. */
static void
pfx_end(struct conn *c, void *fctx, int keep)
{
	(void)c;
	(void)keep;
	pfx_done(fctx, 0);
}

/* abort (exch_front): the exchange cannot go on. */
static void
pfx_abort(struct req *r, const char *why)
{
	struct pfx *x = r->fctx;

	log_debug("prefetch: exchange aborted: %s", why);
	exch_release_req(r);
	pfx_done(x, 1);
}

static const struct exch_front pfx_front = { "prefetch", pfx_flush, pfx_resume, pfx_end, pfx_abort };

/* The exchange's timer: the phase is the source's (connect, response,
 * body), as on a client connection. */
static void
pfx_timeout(struct ev_loop *loop, struct ev_timer *t)
{
	struct pfx *x = t->data;

	(void)loop;
	x->r->src->timeout(x->r);
}

static void
pfx_deadline(struct ev_loop *loop, struct ev_timer *t)
{
	struct pfx *x = t->data;

	(void)loop;
	exch_abort(x->r, "prefetch took too long");
}

static void
start(struct worker *wk, const struct pfx_job *j)
{
	struct pfx *x = calloc(1, sizeof(*x));
	struct http_limits lim;
	struct req *r;

	if (x == NULL) {
		pfx_report(j->id, 0, 0, 1);
		return;
	}
	buf_init(&x->in);
	/* The target and host were checked printable, without spaces, by
	 * hacd and by proxyd/prefetch.c: the head parses as a client's. */
	if (buf_appendf(&x->in, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tandem-prefetch\r\n\r\n", j->target,
	    j->host) == -1 || (r = exch_alloc(wk, NULL)) == NULL) {
		buf_fini(&x->in);
		free(x);
		pfx_report(j->id, 0, 0, 1);
		return;
	}
	x->wk = wk;
	x->r = r;
	x->id = j->id;
	r->front = &pfx_front;
	r->fctx = x;
	r->tm = &x->tm;
	r->https = j->https != 0;
	r->rq.in = &x->in;
	ev_timer_init(&x->tm, pfx_timeout, x);
	ev_timer_init(&x->deadline, pfx_deadline, x);
	x->next = running[wk->idx];
	if (x->next != NULL)
		x->next->prev = x;
	running[wk->idx] = x;
	ev_timer_start(wk->loop, &x->deadline, PREFETCH_TIMEOUT_MS);
	exch_parser_limits(wk->gen, &lim);
	http_parser_init(&r->h1q.p, 0, &lim);
	/* x may be gone when this returns (answered at once: a hit, a 404). */
	request_parse(NULL, r);
}

void
pfx_run(struct worker *wk)
{
	struct pfx_job mine[PREFETCH_PARALLEL * 2];
	size_t n;

	while ((n = pfx_take(wk->idx, mine, sizeof(mine) / sizeof(mine[0]))) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (wk->gen == NULL || wk->draining || wk->stopping)
				pfx_report(mine[i].id, 0, 0, 1);
			else
				start(wk, &mine[i]);
		}
	}
}

void
pfx_stop(struct worker *wk)
{
	int n = 0;

	/* Each abort unlinks the first one. */
	for (; running[wk->idx] != NULL && n < 1024; n++)
		exch_abort(running[wk->idx]->r, "stopping");
	if (n > 0)
		log_info("worker %d: stopping: %d prefetch%s in flight aborted", wk->idx, n, n == 1 ? "" : "es");
}
