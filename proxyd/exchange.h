/*
 * proxyd/exchange.h — one request/response exchange and its life: taken
 * when the first byte of a request head arrives, given back when the last
 * byte of the response is out (or the client goes away).
 *
 * struct req (proxyd/conn.h) holds the two messages (struct xmsg: a parsed
 * head and a body stream each) and what joins them: the rewritten heads,
 * the response filter chain (proxyd/filter.c) and the exchange's two ends,
 * each reached through a small table of operations so that the exchange
 * never depends on how an end frames its bytes:
 *
 *   - the front, where the request came in and the response goes out:
 *     the HTTP/1 client front (proxyd/client.c) today, an HTTP/2 front
 *     next. It parses the request head, decodes the request body's
 *     framing into r->rq, and writes the response.
 *   - the source, which produces the response: the HTTP/1 backend pool
 *     (proxyd/backend.c), the local responder (proxyd/local.c: errors,
 *     redirects, fixed responses), the cache (proxyd/cache.c). It decodes the response
 *     body's framing into r->rs. A source attaches itself when it starts
 *     (backend_connect(), local_respond()): what each needs to start
 *     differs.
 *
 * What moves the exchange on lives here: the response body through the
 * body filters, the response flushed and continued, the exchange finished
 * (keep-alive, pipelining, pooling) or released.
 */
#ifndef PROXYD_EXCHANGE_H
#define PROXYD_EXCHANGE_H

#include <stdint.h>

#include "lib/ev.h"
#include "proxyd/config.h"
#include "proxyd/conn.h"
#include "proxyd/metrics.h"
#include "proxyd/worker.h"

/* The front of an exchange: where the request came from and the response
 * goes. Every operation is called with the exchange live. */
struct exch_front {
	const char *name;
	/* Writes what is pending of the response: r->rhead from rhead_off,
	 * then the body (r->fout when body filters are active, else
	 * r->rs.pass bytes of *r->rs.in). 1 all out, 0 waiting (the front
	 * calls exch_resp_continue() once it can write again), -1 the client
	 * is gone (closed there). */
	int (*flush)(struct req *r);
	/* The source took every request body byte passed so far: read more
	 * of the request (or of a tunnel) when reading had stopped. */
	void (*resume)(struct req *r);
	/* The exchange on c ended and was given back (fctx: its r->fctx);
	 * keep: the connection goes on to the next request (pipelined or
	 * idle), else it closes after the response. */
	void (*end)(struct conn *c, void *fctx, int keep);
	/* The exchange cannot go on (a source gave up after the response
	 * began, a timeout, a broken body): HTTP/1 closes the connection,
	 * HTTP/2 resets the stream. r is released here. */
	void (*abort)(struct req *r, const char *why);
};

/* The source of an exchange's response. */
struct exch_source {
	const char *name;
	/* Request bytes are ready for the source: r->qhead from qhead_off,
	 * then r->rq.pass bytes of *r->rq.in. */
	void (*send)(struct req *r);
	/* The front took every response byte passed so far: produce more. */
	void (*resume)(struct req *r);
	/* 1 when the source can take request body bytes now (a backend
	 * connection is up), else 0: the front stops reading the body. */
	int (*accepts)(const struct req *r);
	/* The exchange's timer ran out while the request is proxied: the
	 * source knows which phase that was (connect, response, body,
	 * streaming) and answers or closes. */
	void (*timeout)(struct req *r);
	/* Detaches the source from r. clean: both messages ended complete and
	 * nothing of the response is left over, so what stands behind the
	 * source (a backend connection) may serve another exchange. */
	void (*release)(struct req *r, int clean);
};

/* No source yet (or no more): every operation does nothing. */
extern const struct exch_source exch_no_source;

static inline struct worker *
exch_wk(const struct req *r)
{
	return r->wk;
}

/* The request came over TLS (or, an internal exchange with no connection,
 * is for an https URL): the cache key's scheme, X-Forwarded-Proto. */
static inline int
exch_https(const struct req *r)
{
	return r->c != NULL ? r->c->ep.ssl != NULL : r->https;
}

/* Who r is for, in log lines: its client connection's id (*id) and peer
 * (written into ab), or 0 and "prefetch" for an internal exchange
 * (proxyd/prefetch_front.c). */
static inline const char *
exch_who(const struct req *r, unsigned long long *id, char *ab, size_t len)
{
	*id = r->c != NULL ? (unsigned long long)r->c->id : 0;
	return r->c != NULL ? conn_peer_str(r->c, ab, len) : "prefetch";
}

static inline struct wslot *
exch_slot(const struct req *r)
{
	return r->gen->wslots[exch_wk(r)->idx];
}

/* Every phase of an exchange has its timeout on the exchange's timer: the
 * client connection's one timer (HTTP/1), the stream's (HTTP/2). */
static inline void
exch_timer_arm(struct req *r, uint64_t ms)
{
	ev_timer_start(exch_wk(r)->loop, r->tm, ms);
}

/* The exchange gives up (the front closes or resets): r is released. */
static inline void
exch_abort(struct req *r, const char *why)
{
	r->front->abort(r, why);
}

/* Monotonic microseconds (vDSO clock, not a syscall), for latency figures. */
uint64_t exch_now_us(void);

/* A request for c from wk's free list (or the heap): NULL when out of memory.
 * c NULL: an internal exchange (proxyd/prefetch_front.c), neither counted
 * as a client request nor access-logged. */
struct req *exch_alloc(struct worker *wk, struct conn *c);
/* Back to the free list (oversized head buffers released). */
void exch_free(struct worker *wk, struct req *r);
/* The parser limits of configuration g (NULL: the parser's defaults).
 * Inline: taken for every request head and every backend response. */
static inline void
exch_parser_limits(const struct pd_config *g, struct http_limits *lim)
{
	lim->max_request_line = g ? g->max_request_line : 0;
	lim->max_header_bytes = g ? g->max_header_bytes : 0;
	lim->max_headers = (uint16_t)(g ? g->max_headers : 0);
}
/* Connection tokens that named a protected field and were ignored
 * (http_field_protected()), counted by side and class. */
void exch_count_conn_ignored(struct wmetrics *wm, enum met_side side, unsigned bits);
/* Source src starts producing r's response: the one before is released. */
void exch_attach(struct req *r, const struct exch_source *src);
/* Releases r's source (not clean: nothing behind it is reused). */
void exch_drop_source(struct req *r);
/* Releases c's request (and its backend connection, closed) when c closes:
 * counted and logged if it had started. */
void exch_release(struct conn *c);
/* The same for one exchange r (HTTP/2: a stream reset or its connection
 * gone); c->req is cleared if it is r. */
void exch_release_req(struct req *r);

/* Body filters active: the r->rs.pass bytes the source passed (and the
 * end of the body, once r->rs.done) go through the body stages into
 * r->fout, out of the source's buffer. flush: the source has nothing more
 * to read for now, so the stages emit everything they hold (FILTER_FLUSH);
 * else they may keep input back (r->fheld then says so, and the source
 * must call again with flush once a read would block). 0, or -1 a stage
 * failed. */
int exch_resp_filter(struct req *r, int flush);
/* A request body error from the front's framing (-1 malformed chunked
 * body, -2 larger than max_body): 400 or 413 while no response began,
 * else the connection closes. */
void exch_body_error(struct req *r, int rc);
/* Flushes the response and moves the exchange on: read more from the
 * backend, or finish it. */
void exch_resp_continue(struct req *r);
/* The response is out: counted, logged, the backend pooled or closed, and
 * the client kept (next or pipelined request) or closed. */
void exch_finish(struct req *r);

#endif
