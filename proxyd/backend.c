/*
 * proxyd/backend.c — the backend end of an exchange (backend.h).
 */
#include "proxyd/backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "lib/net.h"
#include "proxyd/cache.h"
#include "proxyd/exchange.h"
#include "proxyd/filter.h"
#include "proxyd/h1_head.h"
#include "proxyd/hcheck.h"
#include "proxyd/local.h"
#include "proxyd/tls.h"
#include "proxyd/upstream.h"

static struct log_ratelimit rl_up = LOG_RATELIMIT_INIT(2000);

void
backend_abort(struct req *r, enum met_uperr e, const char *why)
{
	unsigned long long id;
	char ab[48];
	const char *peer = exch_who(r, &id, ab, sizeof(ab));

	MET_INC(exch_wk(r)->m->up_err[e]);
	log_rl_warnx(&rl_up, ev_now(exch_wk(r)->loop), "conn %llu %s: upstream %s: %s", id, peer,
	    r->up_idx >= 0 ? r->gen->upstreams[r->up_idx].name : "-", why);
	exch_abort(r, why);
}

void
backend_fail(struct req *r, int status, enum met_uperr e, const char *why, int stale)
{
	const struct pd_upstream *u = &r->gen->upstreams[r->up_idx];
	enum http_method m = r->rq.head.method;
	int idem = m == HTTP_M_GET || m == HTTP_M_HEAD || m == HTTP_M_PUT || m == HTTP_M_DELETE ||
	    m == HTTP_M_OPTIONS || m == HTTP_M_TRACE;
	char ab[48];
	unsigned long long id;
	const char *peer = exch_who(r, &id, ab, sizeof(ab));

	MET_INC(exch_wk(r)->m->up_err[e]);
	if (!stale && e != MET_UP_ABORTED)
		hc_passive(u, r->srv_idx, 1);
	exch_drop_source(r);
	if (idem && !r->body_sent_any && !r->upgrade && (stale ? r->attempts < u->retries + 3 : r->attempts <= u->retries)) {
		/* A pooled connection the server closed while idle is not the
		 * server's fault: try again without excluding it. */
		if (!stale && r->srv_idx >= 0 && (size_t)r->srv_idx < sizeof(r->exclude) * 8)
			bal_mask_set(r->exclude, (size_t)r->srv_idx);
		MET_INC(exch_wk(r)->m->up_err[MET_UP_RETRY]);
		/* If no other server is left, the client hears about this
		 * failure, not about an empty upstream. */
		r->fail_status = status;
		snprintf(r->fail_why, sizeof(r->fail_why), "%s", why);
		log_debug("conn %llu: upstream %s server %s: %s, retrying", id, u->name,
		    u->servers[r->srv_idx].name, why);
		r->qhead_off = 0;
		r->head_sent_any = 0;
		backend_connect(r);
		return;
	}
	log_rl_warnx(&rl_up, ev_now(exch_wk(r)->loop), "conn %llu %s: upstream %s server %s: %s",
	    id, peer, u->name,
	    r->srv_idx >= 0 ? u->servers[r->srv_idx].name : "-", why);
	char body[160];
	snprintf(body, sizeof(body), "%d %s: %s\n", status, http_status_text(status), why);
	local_respond(r, status, body, NULL, 1);
}

/* A complete response head is in b->ep.in. 0 continue, -1 handled (stop). */
static int
on_response_head(struct req *r)
{
	struct bconn *b = r->b;
	const uint8_t *d = buf_rptr(&b->ep.in);
	int st = r->rs.head.status;

	if (st >= 100 && st < 200 && st != 101) {
		/* Interim response (RFC 9110 §15.2): pass 100 Continue on to a
		 * client that asked for it, drop the others. */
		size_t hb = r->rs.head.header_bytes;
		struct http_limits lim;
		if (st == 100 && r->client_100 && r->rq.head.version_minor == 1) {
			buf_append(&r->rhead, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			r->client_100 = 0;
		}
		/* The client may have waited for this before sending its body:
		 * min_body_rate measures from here. */
		if (r->rate_t0 != 0) {
			r->rate_t0 = ev_now(exch_wk(r)->loop);
			r->rate_bytes = 0;
		}
		buf_consume(&b->ep.in, hb);
		exch_parser_limits(r->gen, &lim);
		http_parser_init(&r->b->rp, 1, &lim);
		return 0;
	}
	/* A switch proxyd did not ask for, or to another protocol than the
	 * WebSocket it forwarded (RFC 9110 §7.8: the server names the
	 * protocol it switches to, one the client asked for), would turn
	 * the connection into a tunnel nobody checks. */
	if (st == 101 && (!r->upgrade || !r->rs.head.upgrade_ws)) {
		backend_fail(r, 502, MET_UP_BAD_RESPONSE, "unexpected 101 from upstream", 0);
		return -1;
	}
	if (r->rs.head.conn_ignored != 0)
		exch_count_conn_ignored(exch_wk(r)->m, MET_SIDE_RESPONSE, r->rs.head.conn_ignored);
	hc_passive(&r->gen->upstreams[r->up_idx], r->srv_idx, st >= 500);
	/* A route's cache may answer instead: its revalidation confirmed,
	 * or a stale object in place of an error (proxyd/cache.h). */
	if (r->cache != NULL && cache_backend_head(r, d) == 1)
		return -1;
	r->rs.body = http_response_body(&r->rs.head, r->rq.head.method);
	if (r->rs.body == HTTP_BODY_CHUNKED && (r->rq.head.version_minor == 0 || r->h2)) {
		/* HTTP/2 frames the body itself (RFC 9113 §8.2.2: no
		 * Transfer-Encoding). */
		r->keep_client = r->h2 && r->keep_client;
		r->dechunk = 1;
		h1_dechunk_init(&r->b->dc);
	}
	if (r->rs.body == HTTP_BODY_UNTIL_CLOSE)
		r->keep_client = 0;
	/* A final answer may come before the request body ended (a server
	 * streaming an echo, or refusing early): the body keeps flowing while
	 * the response streams; exch_finish() reuses neither connection if
	 * the request was still incomplete when the response ended. */
	if (exch_wk(r)->draining)
		r->keep_client = 0;
	r->status = st;
	r->rhead_done = 1;
	if (r->rs.body == HTTP_BODY_TUNNEL) {
		r->keep_client = 0;
		r->tunnel = 1;
	}
	filter_select(r, FILTER_SEL_BACKEND | (r->rs.body != HTTP_BODY_NONE && r->rs.body != HTTP_BODY_TUNNEL ? FILTER_SEL_BODY : 0), d);
	if (r->fc.nbody > 0) {
		/* Body stages see the data only, and change the length
		 * (filter.h): an HTTP/1.0 client's body is delimited by the
		 * close. */
		if (r->rq.head.version_minor == 0)
			r->keep_client = 0;
		if (r->rs.body == HTTP_BODY_CHUNKED && !r->dechunk) {
			r->dechunk = 1;
			h1_dechunk_init(&r->b->dc);
		}
	}
	h1_response_head(r, d);
	buf_consume(&b->ep.in, r->rs.head.header_bytes);
	r->rs.left = r->rs.body == HTTP_BODY_LENGTH ? (uint64_t)r->rs.head.content_length : 0;
	if (r->rs.body == HTTP_BODY_CHUNKED)
		http_chunked_init(&r->b->rch);
	if (r->rs.body == HTTP_BODY_TUNNEL) {
		r->rq.pass = buf_len(r->rq.in);
		exch_timer_arm(r, r->gen->to.tunnel_idle);
	} else {
		exch_timer_arm(r, r->gen->upstreams[r->up_idx].idle_ms);
	}
	return 0;
}

/* dechunk() on the `used` validated bytes after rs.pass in b->ep.in; the
 * bytes after them move down. Returns the data bytes to pass. */
static size_t
dechunk_in_place(struct req *r, struct buf *in, size_t used)
{
	uint8_t *p = buf_rptr(in) + r->rs.pass;
	size_t kept = h1_dechunk(&r->b->dc, p, used), tail = buf_len(in) - r->rs.pass - used;

	if (kept < used) {
		memmove(p + kept, p + used, tail);
		in->wpos -= used - kept;
	}
	return kept;
}

/* Passes newly read response body bytes (RFC 9112 §6.3 framing, decoded
 * with b->rch) into r->rs, then through the body filters when any is
 * active (flush: the backend has nothing more to read for now). 0, -1
 * malformed chunked body, -2 a body filter failed. */
static int
resp_advance(struct req *r, int flush)
{
	struct bconn *b = r->b;
	struct buf *in = &b->ep.in;
	size_t avail = buf_len(in) - r->rs.pass, used;
	int end;

	switch (r->rs.body) {
	case HTTP_BODY_NONE:
		r->rs.done = 1;
		break;
	case HTTP_BODY_LENGTH:
	case HTTP_BODY_CHUNKED:
		end = h1_body_frame(r->rs.body, &r->rs.left, &b->rch, buf_rptr(in) + r->rs.pass, avail, &used);
		if (end == -1) {
			metrics_parse_error(exch_wk(r)->m, b->rch.reason);
			return -1;
		}
		if (r->rs.body == HTTP_BODY_CHUNKED && r->dechunk && used > 0)
			used = dechunk_in_place(r, in, used);
		/* The store sees data only: a chunked body it stores is
		 * de-chunked (proxyd/cache.c's body stage asks for it). */
		if (r->cache != NULL)
			cache_tap(r, buf_rptr(in) + r->rs.pass, used, end);
		r->rs.pass += used;
		if (end)
			r->rs.done = 1;
		break;
	case HTTP_BODY_UNTIL_CLOSE:
	case HTTP_BODY_TUNNEL:
		r->rs.pass += avail;
		break;
	}
	if (r->fc.nbody > 0 && exch_resp_filter(r, flush) == -1)
		return -2;
	return 0;
}

/*
 * For a response whose body stages hold output back (a compressor: struct
 * filter's holds), reads of at most BACKEND_HOLD_READ bytes, up to
 * BACKEND_HOLD_RUN of them in one wake-up (backend_read_on()), and a flush
 * only when a read finds the socket empty (EP_AGAIN) or the body ends; for
 * every other response, one read of what the buffer holds, a short one
 * flushing. Measured with `scripts/bench-compress ab` (gzip 6, 1 MiB
 * bodies, proxyd and nginx at the same time): 6% less CPU per MB than 32
 * KiB reads one per wake-up flushed when short, level with nginx, and the
 * coded bytes equal to nginx's (no flushed block where a read happened to
 * come back short while the origin was still sending). Neither half alone
 * gains as much, and 8 KiB reads one per wake-up cost 3% more: the steps
 * are in docs/compression.md ("CPU"). Why the smaller reads help is not
 * established (a read's bytes still in the first-level cache when deflate
 * takes them is the likely part). A run stops early when the client
 * cannot take more; its bound keeps one fast backend from holding the
 * worker for more than 256 KiB of coding per turn (about 9 ms of gzip 6
 * on the 2-core development machine).
 */
#define BACKEND_HOLD_READ 8192u
#define BACKEND_HOLD_RUN  32

/* Whether r's previous bytes are still going out to the client (or its
 * body is all read): no read for it then. */
static int
resp_busy(const struct req *r)
{
	return r->rs.pass > 0 || r->fpass > 0 || r->rhead_off < buf_len(&r->rhead) || r->rs.done;
}

static void
backend_read(struct req *r)
{
	struct bconn *b = r->b;
	size_t room, max = r->fc.nhold > 0 ? BACKEND_HOLD_READ : SIZE_MAX;
	ssize_t n;
	int rc;

	if (resp_busy(r)) {
		/* Previous bytes still going out to the client: stop reading. */
		ep_want(&b->ep, 0, b->ep.wr_on);
		return;
	}
	if (worker_buf_get(exch_wk(r), &b->ep.in) == -1 || buf_reserve(&b->ep.in, 4096) == -1) {
		backend_abort(r, MET_UP_ABORTED, "out of memory");
		return;
	}
	room = buf_avail(&b->ep.in);     /* what a short read is short of (max only bounds holding stages') */
	if ((n = ep_fill(&b->ep, max)) == EP_AGAIN) {
		/* Nothing more for now: what the body stages kept back goes
		 * out, or an event would wait for the backend's next bytes. */
		if (r->fheld) {
			if (exch_resp_filter(r, 1) == -1) {
				backend_abort(r, MET_UP_ABORTED, "response filter failed");
				return;
			}
			exch_resp_continue(r);
		}
		return;
	}
	if (n <= 0 && b->ep.ssl != NULL) {
		if (n == EP_ERROR) {
			char why[128];
			log_debug("upstream TLS read: %s", ep_tls_error(&b->ep, why, sizeof(why)));
		} else if (r->rhead_done && r->rs.body == HTTP_BODY_UNTIL_CLOSE && !tls_close_notify_received(b->ep.ssl)) {
			/* A close-delimited body over TLS ends with close_notify; a
			 * bare TCP FIN may be a truncation (RFC 9112 §9.8): the
			 * client gets no clean end either. */
			backend_abort(r, MET_UP_ABORTED, "upstream TLS closed without close_notify (truncated?)");
			return;
		}
	}
	if (n <= 0) {
		const char *why = n == 0 ? "upstream closed the connection" : "upstream connection reset";
		if (n == 0 && r->rhead_done && r->rs.body == HTTP_BODY_UNTIL_CLOSE) {
			r->rs.done = 1;
			if (r->fc.nbody > 0 && exch_resp_filter(r, 1) < 0) {
				backend_abort(r, MET_UP_ABORTED, "response filter failed");
				return;
			}
			exch_resp_continue(r);
			return;
		}
		if (!r->rhead_done && b->rx == 0) {
			backend_fail(r, 502, MET_UP_CONNECT_FAIL, why, b->reused);
			return;
		}
		if (!r->rhead_done && r->status == 0) {
			backend_fail(r, 502, MET_UP_BAD_RESPONSE, "truncated response head", 0);
			return;
		}
		if (r->rs.body == HTTP_BODY_TUNNEL) {
			exch_abort(r, "tunnel closed by upstream");
			return;
		}
		backend_abort(r, MET_UP_ABORTED, "upstream closed mid-response");
		return;
	}
	b->rx += (uint64_t)n;
	while (!r->rhead_done) {
		rc = http_parse(&r->b->rp, &r->rs.head, buf_rptr(&b->ep.in), buf_len(&b->ep.in));
		if (rc == HTTP_AGAIN) {
			/* An interim response may be waiting: send it on now. */
			if (r->rhead_off < buf_len(&r->rhead))
				r->front->flush(r);
			return;
		}
		if (rc == HTTP_ERROR) {
			char msg[96];
			metrics_parse_error(exch_wk(r)->m, r->b->rp.reason);
			snprintf(msg, sizeof(msg), "bad response from upstream (%s)", r->b->rp.reason ? r->b->rp.reason : "?");
			backend_fail(r, 502, MET_UP_BAD_RESPONSE, msg, 0);
			return;
		}
		if (on_response_head(r) == -1)
			return;
	}
	/* A read shorter than the room it had probably emptied the socket:
	 * flush the body stages now. A full one probably left more: they
	 * may keep output back (a compressor's block goes on filling, rather
	 * than a flushed block per read), and src_resume() queues the next
	 * read at once, which flushes if it finds nothing (EP_AGAIN above).
	 * Holding stages are flushed by that read only (see above). */
	if ((rc = resp_advance(r, r->fc.nhold == 0 && (size_t)n < room)) < 0) {
		if (rc == -1)
			backend_abort(r, MET_UP_BAD_RESPONSE, "malformed chunked response body");
		else
			backend_abort(r, MET_UP_ABORTED, "response filter failed");
		return;
	}
	if (r->rs.body != HTTP_BODY_TUNNEL)
		exch_timer_arm(r, r->gen->upstreams[r->up_idx].idle_ms);
	else
		exch_timer_arm(r, r->gen->to.tunnel_idle);
	exch_resp_continue(r);
}

/*
 * backend_read() again, up to BACKEND_HOLD_RUN reads in one wake-up, while
 * a holding body stage keeps output back (r->fheld: the last read brought
 * data and found no end of it) and the client took everything the stages
 * emitted. A compressor then codes a run of one response's reads before
 * the worker turns to the next connection. A read that finds the socket
 * empty flushes and ends the run; a client that cannot take more ends it
 * too (output stays bounded by one read's worth); past the bound the
 * deferred queue goes on with the rest after the other connections had
 * their turn. Any other response: one read per wake-up.
 */
static void
backend_read_on(struct bconn *b, struct req *r)
{
	int n = 0;

	do
		backend_read(r);
	/* r only while b->req still points at it (backend_io()). */
	while (++n < BACKEND_HOLD_RUN && b->req == r && b->state == BC_ACTIVE && r->fheld && r->fc.nhold > 0 &&
	    !resp_busy(r) && !b->ep.rd_off);
}

/* A failed write to the backend: retry, 502 or abort. Returns -1. */
static int
q_write_failed(struct req *r)
{
	struct bconn *b = r->b;

	if (r->tunnel)
		exch_abort(r, "tunnel closed by upstream");
	else if (!r->rhead_done && !r->body_sent_any)
		backend_fail(r, 502, MET_UP_CONNECT_FAIL, "upstream write failed", b->reused && !r->head_sent_any);
	else
		backend_abort(r, MET_UP_ABORTED, "upstream write failed");
	return -1;
}

/* Writes pending request bytes to the backend. 1 all out, 0 EAGAIN, -1 error
 * (handled here: retry, 502 or abort). */
static int
q_flush(struct req *r)
{
	struct bconn *b = r->b;
	struct ep_out q = { &r->qhead, &r->qhead_off, r->rq.in, &r->rq.pass };
	size_t hw, bw;
	int rc;

	if (r->q_abandon)
		return 1;
	rc = ep_flush(&b->ep, &q, 0, &hw, &bw);
	if (hw + bw > 0)
		r->head_sent_any = 1;
	if (bw > 0)
		r->body_sent_any = 1;
	if (rc == -1) {
		if (b->ep.ssl != NULL) {
			char why[128];
			log_debug("upstream TLS write: %s", ep_tls_error(&b->ep, why, sizeof(why)));
		}
		return q_write_failed(r);
	}
	return rc;
}

void
backend_send(struct req *r)
{
	if (q_flush(r) != 1)
		return;
	if (r->tunnel) {
		r->front->resume(r);
		exch_timer_arm(r, r->gen->to.tunnel_idle);
		return;
	}
	if (!r->rq.done) {
		/* More body to come from the client. */
		r->front->resume(r);
		exch_timer_arm(r, r->gen->to.client_body);
	} else if (!r->rhead_done) {
		exch_timer_arm(r, r->gen->upstreams[r->up_idx].response_ms);
	}
}

void
backend_connect(struct req *r)
{
	struct worker *wk = exch_wk(r);
	struct wslot *s = exch_slot(r);
	struct up_rt *rt = &s->ups[r->up_idx];
	int limited = 0, srv;
	struct bconn *b;
	struct http_limits lim;

	r->attempts++;
	/* Upstreams without sticky never set sticky_srv: one predictable branch. */
	srv = r->sticky_srv == 0 ? up_pick(wk, rt, r->key_hash, r->exclude, &limited) :
	    up_pick_prefer(wk, rt, r->sticky_srv - 1, r->key_hash, r->exclude, &limited);
	if (srv < 0 && r->fail_status != 0) {
		char body[160];
		snprintf(body, sizeof(body), "%d %s: %s\n", r->fail_status, http_status_text(r->fail_status), r->fail_why);
		r->srv_idx = -1;
		local_respond(r, r->fail_status, body, NULL, 1);
		return;
	}
	if (srv < 0) {
		char body[128];
		MET_INC(wk->m->up_err[MET_UP_NO_SERVER]);
		snprintf(body, sizeof(body), "503 Service Unavailable: %s in upstream %s\n",
		    limited ? "connection limit reached" : "no server available", rt->cfg->name);
		r->srv_idx = -1;
		local_respond(r, 503, body, NULL, 1);
		return;
	}
	r->srv_idx = srv;
	exch_attach(r, &backend_source);
	b = up_get(wk, rt, srv, r);
	if (b == NULL) {
		char why[96];
		snprintf(why, sizeof(why), "connect failed: %s", strerror(errno));
		backend_fail(r, 502, MET_UP_CONNECT_FAIL, why, 0);
		return;
	}
	r->b = b;
	b->req = r;
	b->rx = 0;
	r->rs.in = &b->ep.in;
	exch_parser_limits(r->gen, &lim);
	http_parser_init(&b->rp, 1, &lim);
	if (b->state == BC_CONNECTING) {
		exch_timer_arm(r, rt->cfg->connect_ms);
		return;
	}
	backend_send(r);
}

/* The source's operations (exchange.h). */
static void
src_send(struct req *r)
{
	if (r->b != NULL)
		backend_send(r);
}

static void
src_resume(struct req *r)
{
	if (r->b == NULL)
		return;
	if (r->b->ep.rd_off)
		ep_want(&r->b->ep, 1, r->b->ep.wr_on);
	/* Filter output held back: read now rather than on an event, which
	 * an idle backend would never raise (backend_defer()). */
	if (r->fheld)
		ev_defer(r->b->ep.loop, &r->b->ep.defer);
}

static int
src_accepts(const struct req *r)
{
	return r->b != NULL && r->b->state == BC_ACTIVE;
}

static void
src_timeout(struct req *r)
{
	if (r->b != NULL && r->b->state == BC_CONNECTING) {
		backend_fail(r, 504, MET_UP_CONNECT_TIMEOUT, "connect timeout", 0);
		return;
	}
	if (!r->rhead_done && r->rq.done && r->status == 0) {
		/* Never retried: the server may have acted on the request. */
		r->attempts = 255;
		backend_fail(r, 504, MET_UP_RESPONSE_TIMEOUT, "upstream response timeout", 0);
		return;
	}
	if (!r->rq.done && r->status == 0) {
		local_respond(r, 408, "408 Request Timeout: request body not received in time\n", NULL, 0);
		return;
	}
	backend_abort(r, MET_UP_ABORTED, "idle timeout while streaming");
}

/* The connection goes back to the pool when the exchange ended clean, the
 * server keeps it alive, and nothing more of it was read. */
static void
src_release(struct req *r, int clean)
{
	struct bconn *b = r->b;

	if (b == NULL)
		return;
	clean = clean && http_keep_alive(&r->rs.head) && buf_len(&b->ep.in) == 0 &&
	    (b->ep.ssl == NULL || !tls_pending(b->ep.ssl));
	r->b = NULL;
	r->rs.in = NULL;
	r->rs.pass = 0;
	b->req = NULL;
	up_release(b, clean);
}

const struct exch_source backend_source = { "backend", src_send, src_resume, src_accepts, src_timeout, src_release };

void
backend_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct bconn *b = w->data;
	struct req *r = b->req;

	if (r == NULL) {
		/* Idle in the pool: the server closed it or sent garbage. Over
		 * TLS it may also be housekeeping (a TLS 1.3 NewSessionTicket)
		 * that OpenSSL consumes without any data: still idle then. */
		if (b->ep.ssl != NULL && b->state == BC_IDLE) {
			uint8_t x;
			if (tls_read(b->ep.ssl, &x, 1) == TLS_AGAIN_READ)
				return;
		}
		up_release(b, 0);
		return;
	}
	if (b->state == BC_CONNECTING) {
		/* Over TLS the connection stays BC_CONNECTING until the
		 * handshake is done, so the connect timeout covers both. */
		if (!(b->ep.flags & EP_TCP_UP)) {
			if (net_connect_result(b->ep.io.fd) == -1) {
				char why[96];
				snprintf(why, sizeof(why), "connect failed: %s", strerror(errno));
				backend_fail(r, 502, MET_UP_CONNECT_FAIL, why, 0);
				return;
			}
			if (b->ep.ssl != NULL)
				b->ep.flags |= EP_TCP_UP;
		}
		if (b->ep.ssl != NULL) {
			int rc = ep_handshake(&b->ep);
			if (rc == TLS_AGAIN_READ || rc == TLS_AGAIN_WRITE) {
				ep_want(&b->ep, rc == TLS_AGAIN_READ, rc == TLS_AGAIN_WRITE);
				return;
			}
			if (rc != TLS_OK) {
				char why[160], e[128];
				snprintf(why, sizeof(why), "TLS handshake failed: %s", ep_tls_error(&b->ep, e, sizeof(e)));
				backend_fail(r, 502, MET_UP_CONNECT_FAIL, why, 0);
				return;
			}
		}
		b->state = BC_ACTIVE;
		ep_want(&b->ep, 1, 0);
		backend_send(r);
		return;
	}
	/* As client_io(): each event retries what waits for it. */
	if (ep_write_ready(&b->ep, revents)) {
		backend_send(r);
		if (r->b != b || (r->c != NULL && r->c->closing))
			return;
	}
	if (ep_read_ready(&b->ep, revents))
		backend_read_on(b, r);
	/* b stays valid until the reap after this pass; r only while b->req
	 * still points at it. */
	if (b->req == r && b->state == BC_ACTIVE && ep_more(&b->ep))
		ev_defer(loop, &b->ep.defer);
}

void
backend_defer(struct ev_loop *loop, struct ev_defer *d)
{
	struct bconn *b = d->data;
	struct req *r = b->req;

	if (r == NULL || b->state != BC_ACTIVE || !(ep_more(&b->ep) || r->fheld))
		return;
	backend_read_on(b, r);
	/* b stays valid until the reap after this pass; r only while b->req
	 * still points at it. */
	if (b->req == r && b->state == BC_ACTIVE && ep_more(&b->ep))
		ev_defer(loop, &b->ep.defer);
}
