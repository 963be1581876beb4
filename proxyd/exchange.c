/*
 * proxyd/exchange.c — an exchange's life and the body bytes it moves
 * (exchange.h).
 *
 * Data moves in two directions, each with the same shape: a message's body
 * stream (r->rq, r->rs: the receiving end's buffer and a count of bytes at
 * its front that were validated as body and may go out), with a rewritten
 * head waiting in front of it (req->qhead / req->rhead). The receiving
 * end decodes the framing (the HTTP/1 front for the request, the HTTP/1
 * backend for the response); the writing end flushes head and passable
 * bytes with one writev(2) (ep_flush()). A side is read only when nothing
 * read from it is still waiting to go out, which is the whole backpressure
 * scheme: with level-triggered epoll a side we do not want to read is
 * removed from the interest set lazily, on its first unwanted event, so
 * the common exchange makes no epoll_ctl call at all (EV_WRITE is armed
 * only after EAGAIN).
 *
 * Steady state with keep-alive on both sides is four syscalls per request:
 * read(client), writev(backend), read(backend), writev(client), plus a share
 * of epoll_wait. Bodies are never buffered whole: they stream, forwarded
 * verbatim, unless a body filter is active on the response
 * (proxyd/filter.h): then the response body goes through the filters into
 * a buffer of its own, re-framed by the front.
 *
 * This file reaches the ends only through r->front and r->src (the
 * operation tables in exchange.h), and starts the local responder for the
 * errors it answers itself.
 */
#include "proxyd/exchange.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxyd/accesslog.h"
#include "proxyd/cache.h"
#include "proxyd/filter.h"
#include "proxyd/local.h"

uint64_t
exch_now_us(void)
{
	struct timespec ts;

	/* vDSO: no system call. Only for latency figures; timers use ev_now(). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct req *
exch_alloc(struct worker *wk, struct conn *c)
{
	struct req *r = wk->free_reqs;

	if (r != NULL) {
		wk->free_reqs = r->next_free;
		wk_cache_take(&wk->nfree_reqs, &wk->low_reqs);
	} else {
		if ((r = malloc(sizeof(*r))) == NULL)
			return NULL;
		buf_init(&r->qhead);
		buf_init(&r->rhead);
		buf_init(&r->fout);
		buf_init(&r->fmid);
		r->cache_spare = NULL;
	}
	memset(r, 0, offsetof(struct req, qhead));
	memset(&r->rq, 0, offsetof(struct xmsg, head));
	memset(&r->rs, 0, offsetof(struct xmsg, head));
	r->src = &exch_no_source;
	r->qhead.rpos = r->qhead.wpos = 0;
	r->rhead.rpos = r->rhead.wpos = 0;
	r->c = c;
	r->wk = wk;
	/* HTTP/1's timer is the connection's; the HTTP/2 front sets its
	 * stream's. No connection (the worker-cache unit test): none. */
	r->tm = c != NULL ? &c->timer : NULL;
	r->up_idx = r->srv_idx = -1;
	return r;
}

void
exch_free(struct worker *wk, struct req *r)
{
	if (r->fc.n > 0)
		filter_end(r);
	if (r->cache != NULL)
		cache_req_end(r);
	if (r->fout.cap > 0) {
		/* Only responses through body filters use these. */
		buf_fini(&r->fout);
		buf_init(&r->fout);
		buf_fini(&r->fmid);
		buf_init(&r->fmid);
	}
	if (r->qhead.cap > 65536) {
		buf_fini(&r->qhead);
		buf_init(&r->qhead);
	}
	if (r->rhead.cap > 65536) {
		buf_fini(&r->rhead);
		buf_init(&r->rhead);
	}
	r->next_free = wk->free_reqs;
	wk->free_reqs = r;
	wk->nfree_reqs++;
}

/* Connection tokens that named a protected field and were ignored
 * (http_field_protected()), counted by side and class. */
void
exch_count_conn_ignored(struct wmetrics *wm, enum met_side side, unsigned bits)
{
	if (bits & HTTP_CONN_IGN_FRAMING)
		MET_INC(wm->conn_tok_ignored[side][MET_CT_FRAMING]);
	if (bits & HTTP_CONN_IGN_HOST)
		MET_INC(wm->conn_tok_ignored[side][MET_CT_HOST]);
	if (bits & HTTP_CONN_IGN_PROXY)
		MET_INC(wm->conn_tok_ignored[side][MET_CT_PROXY]);
}

static void
no_op(struct req *r)
{
	(void)r;
}

static void
no_release(struct req *r, int clean)
{
	(void)r;
	(void)clean;
}

static int
no_accepts(const struct req *r)
{
	(void)r;
	return 0;
}

static void
no_timeout(struct req *r)
{
	exch_abort(r, "timeout");
}

const struct exch_source exch_no_source = { "none", no_op, no_op, no_accepts, no_timeout, no_release };

void
exch_attach(struct req *r, const struct exch_source *src)
{
	r->src->release(r, 0);
	r->src = src;
}

void
exch_drop_source(struct req *r)
{
	r->src->release(r, 0);
	r->src = &exch_no_source;
}

void
exch_release(struct conn *c)
{
	if (c->req != NULL)
		exch_release_req(c->req);
}

void
exch_release_req(struct req *r)
{
	struct conn *c = r->c;
	struct worker *wk = r->wk;

	exch_drop_source(r);
	if (r->gen != NULL) {
		if (r->status == 0 && r->t_start != 0)
			r->status = 499;     /* client went away first (nginx's convention) */
		if (c != NULL && (r->rt != NULL || r->status != 0)) {
			metrics_request(wk->m, r->series, r->status, exch_now_us() - r->t_start);
			accesslog_end(wk, r);
		}
		worker_gen_release(wk, r->gen);
	}
	if (c != NULL && c->req == r)
		c->req = NULL;
	exch_free(wk, r);
}

int
exch_resp_filter(struct req *r, int flush)
{
	struct buf *in = r->rs.in;

	if (r->fpass == 0)
		r->fout.rpos = r->fout.wpos = 0;
	if (r->rs.pass > 0 || r->rs.done || (flush && r->fheld)) {
		unsigned flags = r->rs.done ? FILTER_LAST : flush ? FILTER_FLUSH : 0;

		if (filter_body(r, in != NULL ? buf_rptr(in) : NULL, r->rs.pass, &r->fout, flags) == -1)
			return -1;
		if (in != NULL)
			buf_consume(in, r->rs.pass);
		r->fheld = flags == 0 && (r->fheld || r->rs.pass > 0);
		r->rs.pass = 0;
	}
	r->fpass = buf_len(&r->fout);
	return 0;
}

/* A request body error from the front's framing: -1 malformed chunked body (400),
 * -2 larger than max_body (413). Once a response began, only closing is left. */
void
exch_body_error(struct req *r, int rc)
{
	if (rc == -2)
		MET_INC(exch_wk(r)->m->guard[MET_G_BODY_SIZE]);
	if (r->status != 0 || r->rhead_done)
		exch_abort(r, rc == -2 ? "request body too large" : "malformed request body");
	else if (rc == -2)
		local_respond(r, 413, "413 Content Too Large\n", NULL, 0);
	else
		local_respond(r, 400, "400 Bad Request: malformed chunked body\n", NULL, 0);
}

/* Flushes the response and moves the exchange on: read more from the source,
 * or finish it. */
void
exch_resp_continue(struct req *r)
{
	int rc = r->front->flush(r);

	if (rc != 1)
		return;
	if (r->rs.done && !r->tunnel) {
		exch_finish(r);
		return;
	}
	r->src->resume(r);
	if (r->tunnel) {
		/* Both ways: what the client sent goes on once the source
		 * took the bytes before it. */
		if (r->rq.pass == 0)
			r->front->resume(r);
		else
			r->src->send(r);
	}
}

void
exch_finish(struct req *r)
{
	struct conn *c = r->c;
	struct worker *wk = r->wk;
	const struct exch_front *front = r->front;
	void *fctx = r->fctx;
	int keep;

	if (!r->rq.done)
		r->q_abandon = 1;
	keep = r->keep_client && !r->q_abandon && r->rq.done && !wk->draining;
	r->src->release(r, !r->q_abandon && r->rq.done && r->rs.done && r->rs.body != HTTP_BODY_UNTIL_CLOSE &&
	    r->rs.body != HTTP_BODY_TUNNEL && r->fpass == 0);
	r->src = &exch_no_source;
	/* An internal exchange is counted by its front (the prefetch metrics). */
	if (c != NULL) {
		metrics_request(wk->m, r->series, r->status, exch_now_us() - r->t_start);
		accesslog_end(wk, r);
	}
	worker_gen_release(wk, r->gen);
	r->gen = NULL;
	if (c != NULL && c->req == r)
		c->req = NULL;
	exch_free(wk, r);
	front->end(c, fctx, keep);
}
