/*
 * proxyd/exchange.h — one request/response exchange and its life: taken
 * when the first byte of a request head arrives, given back when the last
 * byte of the response is out (or the client goes away).
 *
 * struct req (proxyd/conn.h) holds the two messages, each a parsed head
 * and a body stream: the request (qp/qm parsed, qbody/qleft/qch framing,
 * qhead the rewritten head, qpass the body bytes ready to go out of the
 * client's buffer) and the response (rp/rm, rbody/rleft/rch, rhead, rpass
 * of the backend's buffer). Its ends: the client front (proxyd/client.c,
 * HTTP/1 today), the backend (proxyd/backend.c: the pool of HTTP/1
 * connections) or the local responder (proxyd/local.c); between the
 * response and the client, the filter chain (proxyd/filter.c). What moves
 * the exchange on lives here: body bytes passed in both directions, the
 * response flushed and continued, the exchange finished (keep-alive,
 * pipelining, pooling) or released.
 */
#ifndef PROXYD_EXCHANGE_H
#define PROXYD_EXCHANGE_H

#include <stdint.h>

#include "lib/ev.h"
#include "proxyd/config.h"
#include "proxyd/conn.h"
#include "proxyd/metrics.h"
#include "proxyd/worker.h"

static inline struct worker *
exch_wk(const struct req *r)
{
	return r->c->wk;
}

static inline struct wslot *
exch_slot(const struct req *r)
{
	return r->gen->wslots[exch_wk(r)->idx];
}

/* Every phase of an exchange has its timeout on the client's one timer. */
static inline void
exch_timer_arm(struct conn *c, uint64_t ms)
{
	ev_timer_start(c->wk->loop, &c->timer, ms);
}

/* Monotonic microseconds (vDSO clock, not a syscall), for latency figures. */
uint64_t exch_now_us(void);

/* A request for c from wk's free list (or the heap): NULL when out of memory. */
struct req *exch_alloc(struct worker *wk, struct conn *c);
/* Back to the free list (oversized head buffers released). */
void exch_free(struct worker *wk, struct req *r);
/* The parser limits of configuration g (NULL: the parser's defaults). */
void exch_parser_limits(const struct pd_config *g, struct http_limits *lim);
/* Connection tokens that named a protected field and were ignored
 * (http_field_protected()), counted by side and class. */
void exch_count_conn_ignored(struct wmetrics *wm, enum met_side side, unsigned bits);
/* Detaches the request's backend connection: pooled if reusable. */
void exch_drop_backend(struct req *r, int reusable);
/* Releases c's request (and its backend connection, closed) when c closes:
 * counted and logged if it had started. */
void exch_release(struct conn *c);

/* Passes newly read request body bytes (RFC 9112 §6.3 framing) out of the
 * client's buffer. 0, -1 malformed chunked body, -2 larger than max_body. */
int exch_req_advance(struct req *r);
/* Passes newly read response body bytes out of the backend's buffer (through
 * the body filters when any is active). 0, or -1 malformed chunked body. */
int exch_resp_advance(struct req *r);
/* A request body error from exch_req_advance(): 400 or 413 while no response
 * began, else the connection closes. */
void exch_body_error(struct req *r, int rc);
/* Flushes the response and moves the exchange on: read more from the
 * backend, or finish it. */
void exch_resp_continue(struct req *r);
/* The response is out: counted, logged, the backend pooled or closed, and
 * the client kept (next or pipelined request) or closed. */
void exch_finish(struct req *r);

#endif
