/*
 * proxyd/client.c — the HTTP/1 client front of an exchange (client.h).
 */
#include "proxyd/client.h"

#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "proxyd/exchange.h"
#include "proxyd/h1_frame.h"
#include "proxyd/h2.h"
#include "proxyd/local.h"
#include "proxyd/request.h"
#include "proxyd/tls.h"

static struct log_ratelimit rl_tls = LOG_RATELIMIT_INIT(5000);

/* The front's flush (exch_front): the response head, then its body out of
 * the source's buffer, or, body filters active, out of their output. */
static int
client_flush(struct req *r)
{
	struct conn *c = r->c;
	struct ep_out q = r->fc.nbody == 0 ?
	    (struct ep_out){ &r->rhead, &r->rhead_off, r->rs.in, &r->rs.pass } :
	    (struct ep_out){ &r->rhead, &r->rhead_off, &r->fout, &r->fpass };
	size_t hw, bw;
	int rc = ep_flush(&c->ep, &q, EP_COALESCE, &hw, &bw);

	r->bytes_out += hw + bw;
	if (rc == -1) {
		if (c->ep.ssl != NULL) {
			char why[128];
			log_debug("conn %llu: TLS write: %s", (unsigned long long)c->id, ep_tls_error(&c->ep, why, sizeof(why)));
			conn_close(c, "client write error (TLS)");
		} else {
			conn_close(c, "client write error");
		}
	}
	return rc;
}

/* The front's resume (exch_front): the source took the request bytes passed
 * so far; read more if reading had stopped. */
static void
client_resume(struct req *r)
{
	struct conn *c = r->c;

	if (!c->ep.rd_off)
		return;
	conn_want(c, 1, c->ep.wr_on);
	/* We stopped reading (backpressure from the source): that time is
	 * not the client's slowness. */
	if (r->rate_t0 != 0 && !r->tunnel) {
		r->rate_t0 = ev_now(c->wk->loop);
		r->rate_bytes = 0;
	}
}

/* The front's end (exch_front): the exchange on c was given back. */
static void
client_end(struct conn *c, void *fctx, int keep)
{
	struct worker *wk = c->wk;

	(void)fctx;
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
		ev_timer_start(wk->loop, &c->timer, wk->gen->to.client_header);
		ev_defer(wk->loop, &c->ep.defer);
		return;
	}
	conn_set_idle(c);
}

/* The front's abort (exch_front): one exchange per connection, so the
 * connection goes. */
static void
client_abort(struct req *r, const char *why)
{
	conn_close(r->c, why);
}

const struct exch_front client_front = { "http/1", client_flush, client_resume, client_end, client_abort };

int
client_req_advance(struct req *r)
{
	struct conn *c = r->c;
	struct buf *in = r->rq.in;
	size_t avail = buf_len(in) - r->rq.pass, used;
	int end;

	if (r->tunnel) {
		r->rq.pass += avail;
		return 0;
	}
	switch (r->rq.body) {
	case HTTP_BODY_LENGTH:
	case HTTP_BODY_CHUNKED:
		end = h1_body_frame(r->rq.body, &r->rq.left, &r->h1q.ch, buf_rptr(in) + r->rq.pass, avail, &used);
		if (end == -1) {
			metrics_parse_error(c->wk->m, r->h1q.ch.reason);
			return -1;
		}
		r->rq.pass += used;
		if (end)
			r->rq.done = 1;
		/* A chunked body has no size up front: the limit is enforced
		 * as it streams (chunk framing counted). */
		if (r->rq.body == HTTP_BODY_CHUNKED && route_body_too_large(r->max_body, r->h1q.ch.body_bytes))
			return -2;
		break;
	default:
		r->rq.done = 1;
		break;
	}
	return 0;
}

/* Reads what the client sent. Bytes read, 0 nothing yet, -1 when the
 * connection was closed here. */
static ssize_t
client_fill(struct conn *c)
{
	ssize_t n;

	if (worker_buf_get(c->wk, &c->ep.in) == -1 || buf_reserve(&c->ep.in, 2048) == -1) {
		conn_close(c, "out of memory");
		return -1;
	}
	n = ep_fill(&c->ep, SIZE_MAX);
	if (n > 0)
		return n;
	if (n == EP_AGAIN)
		return 0;
	if (n == EP_EOF) {
		conn_close(c, "client closed");
	} else if (c->ep.ssl != NULL) {
		char why[128];
		log_debug("conn %llu: TLS read: %s", (unsigned long long)c->id, ep_tls_error(&c->ep, why, sizeof(why)));
		conn_close(c, "client read error (TLS)");
	} else {
		conn_close(c, "client read error");
	}
	return -1;
}

/* min_body_rate: n more body bytes arrived. 1 when the rate over the last
 * full window fell below the minimum (slowloris on the body), else 0. */
static int
body_too_slow(struct req *r, uint64_t n)
{
	const struct pd_config *g = r->gen;
	uint64_t now = ev_now(exch_wk(r)->loop), el;

	r->rate_bytes += n;
	el = now - r->rate_t0;
	if (el < g->min_body_window_ms)
		return 0;
	if (r->rate_bytes * 1000u < g->min_body_rate * el)
		return 1;
	r->rate_t0 = now;
	r->rate_bytes = 0;
	return 0;
}

static void
client_read(struct conn *c)
{
	struct req *r = c->req;
	ssize_t n;
	int rc;

	switch (c->state) {
	case CONN_IDLE:
	case CONN_HEAD:
		if (client_fill(c) <= 0)
			return;
		/* A plain listener may take HTTP/2 with prior knowledge
		 * (http2_prior_knowledge), on the first bytes only. */
		if (c->lo != NULL && c->lo->h2c && c->nreq == 0 && c->req == NULL && h2_prior_knowledge(c)) {
			if (c->h2 != NULL && !c->closing && ep_more(&c->ep))
				ev_defer(c->wk->loop, &c->ep.defer);
			return;
		}
		request_head(c);
		return;
	case CONN_PROXY:
		if (r->tunnel) {
			/* After 101 Switching Protocols: bytes both ways. */
			if (r->rq.pass > 0 || !r->src->accepts(r)) {
				conn_want(c, 0, c->ep.wr_on);
				return;
			}
			if (client_fill(c) <= 0)
				return;
			client_req_advance(r);
			r->src->send(r);
			return;
		}
		if (r->rq.done || r->q_abandon || r->rq.pass > 0 || !r->src->accepts(r) ||
		    r->qhead_off < buf_len(&r->qhead)) {
			conn_want(c, 0, c->ep.wr_on);
			return;
		}
		if ((n = client_fill(c)) <= 0)
			return;
		if ((rc = client_req_advance(r)) < 0) {
			exch_body_error(r, rc);
			return;
		}
		if (r->rate_t0 != 0 && !r->rq.done && body_too_slow(r, (uint64_t)n)) {
			MET_INC(c->wk->m->guard[MET_G_SLOW_BODY]);
			if (r->status == 0)
				local_respond(r, 408, "408 Request Timeout: request body too slow\n", NULL, 0);
			else
				conn_close(c, "request body too slow");
			return;
		}
		r->src->send(r);
		return;
	case CONN_LINGER:
		conn_linger_read(c);
		return;
	default:
		conn_want(c, 0, c->ep.wr_on);
		return;
	}
}

void
client_defer(struct ev_loop *loop, struct ev_defer *d)
{
	struct conn *c = d->data;

	if (c->h2 != NULL && c->state != CONN_LINGER) {
		h2_defer(c);
		return;
	}
	if (c->state == CONN_HEAD && c->req == NULL && buf_len(&c->ep.in) > 0)
		request_head(c);
	if (!c->closing && ep_more(&c->ep)) {
		client_read(c);
		/* Each pass reads, or stops reading, or finds the end: this
		 * comes back only while there is progress to make. */
		if (!c->closing && ep_more(&c->ep))
			ev_defer(loop, &c->ep.defer);
	}
}

/* The TLS handshake of a client connection, under the client_header timer
 * armed at accept. 1 done, 0 waiting, -1 failed (closed here). */
static int
client_handshake(struct ev_loop *loop, struct conn *c)
{
	int rc = ep_handshake(&c->ep);

	if (rc == TLS_AGAIN_READ) {
		if (c->ep.rd_off || c->ep.wr_on)
			conn_want(c, 1, 0);
		return 0;
	}
	if (rc == TLS_AGAIN_WRITE) {
		conn_want(c, 0, 1);
		return 0;
	}
	if (rc != TLS_OK) {
		char why[128], ab[48];
		/* Counted by reason in tls.c (tandem_tls_handshake_failures_total). */
		log_rl_warnx(&rl_tls, ev_now(loop), "conn %llu %s: TLS handshake failed: %s",
		    (unsigned long long)c->id, conn_peer_str(c, ab, sizeof(ab)),
		    ep_tls_error(&c->ep, why, sizeof(why)));
		conn_close(c, "TLS handshake failed");
		return -1;
	}
	if (c->ep.rd_off || c->ep.wr_on)
		conn_want(c, 1, 0);
	return 1;
}

/* Client socket events. Since OpenSSL may need the other direction to
 * finish an operation (proxyd/tls.h), an event retries every operation that
 * waits for it (ep_write_ready(), ep_read_ready()); on a plain socket those
 * are the event itself. */
void
client_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct conn *c = w->data;

	if (c->state == CONN_LINGER) {
		conn_linger_read(c);
		return;
	}
	if (c->ep.ssl != NULL && !(c->ep.flags & EP_TLS_READY)) {
		if (client_handshake(loop, c) != 1)
			return;
		/* ALPN chose h2 (offered only where tls.http2 is on). */
		if (h2_alpn(c) && h2_start(c) == -1)
			return;
		/* The request may have come with the client's Finished. */
		revents = EV_READ;
	}
	if (c->h2 != NULL) {
		h2_io(c, revents);
		return;
	}
	if (ep_write_ready(&c->ep, revents) && c->req != NULL) {
		exch_resp_continue(c->req);
		if (c->closing)
			return;
	}
	if (ep_read_ready(&c->ep, revents))
		client_read(c);
	if (!c->closing && ep_more(&c->ep))
		ev_defer(loop, &c->ep.defer);
}

void
client_timeout(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;
	struct req *r = c->req;

	(void)loop;
	if (c->h2 != NULL && c->state != CONN_LINGER) {
		h2_timeout(c);
		return;
	}
	switch (c->state) {
	case CONN_IDLE:
		if (c->nreq == 0)   /* connected, never sent a byte: client_header ran out */
			MET_INC(c->wk->m->guard[MET_G_HEADER_TIMEOUT]);
		conn_close(c, c->nreq == 0 ? "header timeout" : "idle timeout");
		return;
	case CONN_HEAD:
		/* RFC 9110 §15.5.9; slowloris: the whole head must arrive
		 * within client_header, however slowly its bytes trickle. */
		MET_INC(c->wk->m->guard[MET_G_HEADER_TIMEOUT]);
		if (r != NULL && buf_len(&c->ep.in) > 0) {
			r->gen = c->wk->gen;
			worker_gen_acquire(c->wk, r->gen);
			r->t_start = exch_now_us();
			buf_consume(&c->ep.in, buf_len(&c->ep.in));
			c->state = CONN_PROXY;
			local_respond(r, 408, "408 Request Timeout: request head not received in time\n", NULL, 0);
		} else {
			conn_close(c, "header timeout");
		}
		return;
	case CONN_PROXY:
		if (r->tunnel) {
			MET_INC(c->wk->m->guard[MET_G_TUNNEL_IDLE]);
			conn_close(c, "tunnel idle timeout");
			return;
		}
		/* The phase is the source's: connect, response, body,
		 * streaming (the local responder's: writing its answer). */
		r->src->timeout(r);
		return;
	case CONN_LINGER:
		MET_INC(c->wk->m->linger[MET_LINGER_TIMEOUT]);
		conn_close(c, "lingering close: time up");
		return;
	default:
		conn_close(c, "timeout");
		return;
	}
}
