/*
 * proxyd/exchange.c — an exchange's life and the body bytes it moves
 * (exchange.h).
 *
 * Data moves in two directions, each with the same shape: a source buffer
 * (the client endpoint's `in` for the request, the backend endpoint's `in`
 * for the response), a rewritten head waiting in front of it (req->qhead /
 * req->rhead), and a count of bytes at the front of the source buffer that
 * have been validated as body and may go out (qpass / rpass). A flush writes
 * head and passable bytes with one writev(2) (ep_flush()). A side is read
 * only when nothing read from it is still waiting to go out, which is the
 * whole backpressure scheme: with level-triggered epoll a side we do not
 * want to read is removed from the interest set lazily, on its first
 * unwanted event, so the common exchange makes no epoll_ctl call at all
 * (EV_WRITE is armed only after EAGAIN).
 *
 * Steady state with keep-alive on both sides is four syscalls per request:
 * read(client), writev(backend), read(backend), writev(client), plus a share
 * of epoll_wait. Bodies are never buffered whole: Content-Length bodies are
 * counted, chunked ones validated by http_chunked_feed() as they stream
 * (RFC 9112 §7.1), and forwarded verbatim, unless a body filter is active
 * on the response (proxyd/filter.h): then the response body goes through
 * the filters into a buffer of its own, re-framed.
 */
#include "proxyd/exchange.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxyd/accesslog.h"
#include "proxyd/backend.h"
#include "proxyd/client.h"
#include "proxyd/filter.h"
#include "proxyd/h1_frame.h"
#include "proxyd/local.h"
#include "proxyd/tls.h"
#include "proxyd/upstream.h"

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
	} else {
		if ((r = malloc(sizeof(*r))) == NULL)
			return NULL;
		buf_init(&r->qhead);
		buf_init(&r->rhead);
		buf_init(&r->fout);
		buf_init(&r->fmid);
	}
	memset(r, 0, offsetof(struct req, qhead));
	r->qhead.rpos = r->qhead.wpos = 0;
	r->rhead.rpos = r->rhead.wpos = 0;
	r->c = c;
	r->up_idx = r->srv_idx = -1;
	return r;
}

void
exch_free(struct worker *wk, struct req *r)
{
	if (r->fc.n > 0)
		filter_end(r);
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
}

void
exch_parser_limits(const struct pd_config *g, struct http_limits *lim)
{
	lim->max_request_line = g ? g->max_request_line : 0;
	lim->max_header_bytes = g ? g->max_header_bytes : 0;
	lim->max_headers = (uint16_t)(g ? g->max_headers : 0);
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

/* Detaches the request's backend connection: pooled if reusable. */
void
exch_drop_backend(struct req *r, int reusable)
{
	struct bconn *b = r->b;

	if (b == NULL)
		return;
	r->b = NULL;
	b->req = NULL;
	up_release(b, reusable);
}

void
exch_release(struct conn *c)
{
	struct req *r = c->req;

	if (r == NULL)
		return;
	exch_drop_backend(r, 0);
	if (r->gen != NULL) {
		if (r->status == 0 && r->t_start != 0)
			r->status = 499;     /* client went away first (nginx's convention) */
		if (r->rt != NULL || r->status != 0) {
			metrics_request(c->wk->m, r->series, r->status, exch_now_us() - r->t_start);
			accesslog_end(c->wk, r);
		}
		worker_gen_release(c->wk, r->gen);
	}
	c->req = NULL;
	exch_free(c->wk, r);
}

/* dechunk() on the `used` validated bytes after rpass in b->ep.in; the bytes
 * after them move down. Returns the data bytes to pass. */
static size_t
dechunk_in_place(struct req *r, struct buf *in, size_t used)
{
	uint8_t *p = buf_rptr(in) + r->rpass;
	size_t kept = h1_dechunk(&r->dc, p, used), tail = buf_len(in) - r->rpass - used;

	if (kept < used) {
		memmove(p + kept, p + used, tail);
		in->wpos -= used - kept;
	}
	return kept;
}

/* Body filters active: the bytes passed so far go through the body stages
 * into r->fout, framed for the client, and out of the backend's buffer;
 * the client is written from fout (client_flush()). The end of the body
 * ends the stages too. Each backend read is one pass: what the stages emit
 * for it goes out before the next read. */
static int
resp_filter_pass(struct req *r)
{
	struct buf *in = &r->b->ep.in;

	if (r->fpass == 0)
		r->fout.rpos = r->fout.wpos = 0;
	if (r->rpass > 0 || r->rdone) {
		if (filter_body(r, buf_rptr(in), r->rpass, &r->fout, r->rdone ? FILTER_LAST : 0) == -1)
			return -1;
		buf_consume(in, r->rpass);
		r->rpass = 0;
	}
	r->fpass = buf_len(&r->fout);
	return 0;
}

int
exch_resp_advance(struct req *r)
{
	struct buf *in = &r->b->ep.in;
	size_t avail = buf_len(in) - r->rpass, used;
	int end;

	switch (r->rbody) {
	case HTTP_BODY_NONE:
		r->rdone = 1;
		break;
	case HTTP_BODY_LENGTH:
	case HTTP_BODY_CHUNKED:
		end = h1_body_frame(r->rbody, &r->rleft, &r->rch, buf_rptr(in) + r->rpass, avail, &used);
		if (end == -1) {
			metrics_parse_error(exch_wk(r)->m, r->rch.reason);
			return -1;
		}
		if (r->rbody == HTTP_BODY_CHUNKED && r->dechunk && used > 0)
			used = dechunk_in_place(r, in, used);
		r->rpass += used;
		if (end)
			r->rdone = 1;
		break;
	case HTTP_BODY_UNTIL_CLOSE:
	case HTTP_BODY_TUNNEL:
		r->rpass += avail;
		break;
	}
	if (r->fc.nbody > 0 && resp_filter_pass(r) == -1)
		return -2;
	return 0;
}

int
exch_req_advance(struct req *r)
{
	struct buf *in = &r->c->ep.in;
	size_t avail = buf_len(in) - r->qpass, used;
	int end;

	if (r->c->state == CONN_TUNNEL) {
		r->qpass += avail;
		return 0;
	}
	switch (r->qbody) {
	case HTTP_BODY_LENGTH:
	case HTTP_BODY_CHUNKED:
		end = h1_body_frame(r->qbody, &r->qleft, &r->qch, buf_rptr(in) + r->qpass, avail, &used);
		if (end == -1) {
			metrics_parse_error(exch_wk(r)->m, r->qch.reason);
			return -1;
		}
		r->qpass += used;
		if (end)
			r->qdone = 1;
		/* A chunked body has no size up front: the limit is enforced
		 * as it streams (chunk framing counted). */
		if (r->qbody == HTTP_BODY_CHUNKED && route_body_too_large(r->max_body, r->qch.body_bytes))
			return -2;
		break;
	default:
		r->qdone = 1;
		break;
	}
	return 0;
}

/* A request body error from exch_req_advance(): -1 malformed chunked body (400),
 * -2 larger than max_body (413). Once a response began, only closing is left. */
void
exch_body_error(struct req *r, int rc)
{
	if (rc == -2)
		MET_INC(exch_wk(r)->m->guard[MET_G_BODY_SIZE]);
	if (r->status != 0 || r->rhead_done)
		conn_close(r->c, rc == -2 ? "request body too large" : "malformed request body");
	else if (rc == -2)
		local_respond(r, 413, "413 Content Too Large\n", NULL, 0);
	else
		local_respond(r, 400, "400 Bad Request: malformed chunked body\n", NULL, 0);
}

/* Flushes the response and moves the exchange on: read more from the backend,
 * or finish it. */
void
exch_resp_continue(struct req *r)
{
	int rc = client_flush(r);

	if (rc != 1)
		return;
	if (r->rdone && r->c->state != CONN_TUNNEL) {
		exch_finish(r);
		return;
	}
	if (r->b != NULL && r->b->ep.rd_off)
		ep_want(&r->b->ep, 1, r->b->ep.wr_on);
	if (r->c->state == CONN_TUNNEL && r->c->ep.rd_off && r->qpass == 0)
		conn_want(r->c, 1, r->c->ep.wr_on);
	if (r->c->state == CONN_TUNNEL && r->qpass > 0 && r->b != NULL)
		backend_send(r);
}

void
exch_finish(struct req *r)
{
	struct conn *c = r->c;
	struct worker *wk = c->wk;
	int keep;

	if (!r->qdone)
		r->q_abandon = 1;
	keep = r->keep_client && !r->q_abandon && r->qdone && !wk->draining;

	if (r->b != NULL) {
		int reusable = !r->q_abandon && r->qdone && r->rdone && r->rbody != HTTP_BODY_UNTIL_CLOSE &&
		    r->rbody != HTTP_BODY_TUNNEL && http_keep_alive(&r->rm) && buf_len(&r->b->ep.in) == 0 && r->fpass == 0 &&
		    (r->b->ep.ssl == NULL || !tls_pending(r->b->ep.ssl));
		exch_drop_backend(r, reusable);
	}
	metrics_request(wk->m, r->series, r->status, exch_now_us() - r->t_start);
	accesslog_end(wk, r);
	worker_gen_release(wk, r->gen);
	r->gen = NULL;
	c->req = NULL;
	exch_free(wk, r);
	if (!keep) {
		/* The response is out: FIN after it, and the client's unread
		 * bytes drained, so no reset cuts it off (RFC 9112 §9.6). */
		conn_close_linger(c, "not keep-alive");
		return;
	}
	c->nreq++;
	if (buf_len(&c->ep.in) > 0) {
		/* A pipelined request is already here (RFC 9112 §9.3.2): answer
		 * it after this one, from the deferred queue so that a burst of
		 * them does not recurse. */
		c->state = CONN_HEAD;
		if (c->ep.rd_off)
			conn_want(c, 1, c->ep.wr_on);
		exch_timer_arm(c, wk->gen->to.client_header);
		ev_defer(wk->loop, &c->ep.defer);
		return;
	}
	conn_set_idle(c);
}
