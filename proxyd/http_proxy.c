/*
 * proxyd/http_proxy.c — the request path: from the bytes of a request head in
 * a client connection's buffer to the last byte of the response written back.
 *
 * Data moves in two directions, each with the same shape: a source buffer
 * (the client's `in` for the request, the backend's `in` for the response), a
 * rewritten head waiting in front of it (req->qhead / req->rhead), and a count
 * of bytes at the front of the source buffer that have been validated as body
 * and may go out (qpass / rpass). A flush writes head and passable bytes with
 * one writev(2). A side is read only when nothing read from it is still
 * waiting to go out, which is the whole backpressure scheme: with level-
 * triggered epoll a side we do not want to read is removed from the interest
 * set lazily, on its first unwanted event, so the common exchange makes no
 * epoll_ctl call at all (EV_WRITE is armed only after EAGAIN).
 *
 * Steady state with keep-alive on both sides is four syscalls per request:
 * read(client), writev(backend), read(backend), writev(client), plus a share
 * of epoll_wait. Request and response heads are parsed by proxyd/http_parse.c
 * (RFC 9112), bodies are never buffered whole: Content-Length bodies are
 * counted, chunked ones validated by http_chunked_feed() as they stream
 * (RFC 9112 §7.1), and forwarded verbatim. The framing header in front of
 * them is always proxyd's own (append_framing()), written from what was
 * parsed, never the peer's passed through: a peer that could drop or alter
 * it (a Connection token naming it, say) would make the next hop read the
 * body as another message.
 *
 * TLS (proxyd/tls.h) sits under the same scheme on either side: a
 * connection with an SSL object reads with tls_read and writes with
 * tls_write instead of read/writev, tested once per call with a predictable
 * `if (c->ep.ssl)`, so the plaintext path is what it was. What TLS adds lives
 * in the *_tls helpers: an operation may wait for the other direction
 * (EP_TLS_WR_WANTS_RD ...), a write is retried with the same bytes in
 * front, and plaintext left inside OpenSSL (EP_TLS_MORE) is read from the
 * deferred queue because epoll cannot see it.
 *
 * Errors produced here carry a short plain-text body saying which:
 * 502 connect failure or bad upstream response, 503 no server available or
 * connection limit, 504 connect or response timeout. Idempotent requests
 * (RFC 9110 §9.2.2) whose body has not started are retried on another server.
 */
#include "proxyd/http_proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/ev.h"
#include "lib/log.h"
#include "lib/net.h"
#include "proxyd/accesslog.h"
#include "proxyd/conn.h"
#include "proxyd/hcheck.h"
#include "proxyd/metrics.h"
#include "proxyd/ratelimit.h"
#include "proxyd/sticky.h"
#include "proxyd/tls.h"
#include "proxyd/upstream.h"
#include "proxyd/worker.h"

static struct log_ratelimit rl_parse = LOG_RATELIMIT_INIT(5000);
static struct log_ratelimit rl_rewrite = LOG_RATELIMIT_INIT(5000);
static struct log_ratelimit rl_up = LOG_RATELIMIT_INIT(2000);
static struct log_ratelimit rl_tls = LOG_RATELIMIT_INIT(5000);

static void process_head(struct conn *c);
static void connect_backend(struct req *r);
static void send_request(struct req *r);
static void r_flush_and_continue(struct req *r);
static void finish_exchange(struct req *r);
static void body_error(struct req *r, int rc);
static void client_read(struct conn *c);

/* ---- small helpers ------------------------------------------------------- */

uint64_t
http_proxy_now_us(void)
{
	struct timespec ts;

	/* vDSO: no system call. Only for latency figures; timers use ev_now(). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct worker *
req_wk(const struct req *r)
{
	return r->c->wk;
}

static struct wslot *
req_slot(const struct req *r)
{
	return r->gen->wslots[req_wk(r)->idx];
}

static int
span_is(const uint8_t *data, struct http_span s, const char *lname, size_t llen)
{
	return s.len == llen && strncasecmp((const char *)data + s.off, lname, llen) == 0;
}
#define SPAN_IS(d, s, lit) span_is((d), (s), lit, sizeof(lit) - 1)

static int
hop_masked(const struct http_msg *m, int i)
{
	return (m->conn_hop_mask[i / 32] >> (i % 32)) & 1u;
}

/*
 * The framing header of a forwarded message: the one proxyd framed it by
 * (RFC 9112 §6.3), never the peer's field passed through. The peer's
 * Content-Length and Transfer-Encoding lines are dropped from every forwarded
 * head and this line stands in for them, so whatever the peer did to its own
 * framing fields (a Connection token naming them, say) the next hop reads the
 * body proxyd counted or validated and nothing more. cl < 0: none.
 */
static void
append_framing(struct buf *h, int chunked, int64_t cl)
{
	char num[24];
	int n = (int)sizeof(num);

	if (chunked) {
		buf_append(h, "Transfer-Encoding: chunked\r\n", 28);
		return;
	}
	if (cl < 0)
		return;
	/* Hot path: no printf. The parser caps Content-Length at 18 digits. */
	do {
		num[--n] = (char)('0' + cl % 10);
		cl /= 10;
	} while (cl > 0);
	buf_append(h, "Content-Length: ", 16);
	buf_append(h, num + n, sizeof(num) - (size_t)n);
	buf_append(h, "\r\n", 2);
}

/* Connection tokens that named a protected field and were ignored
 * (http_field_protected()), counted by side and class. */
static void
count_conn_ignored(struct wmetrics *wm, enum met_side side, unsigned bits)
{
	if (bits & HTTP_CONN_IGN_FRAMING)
		MET_INC(wm->conn_tok_ignored[side][MET_CT_FRAMING]);
	if (bits & HTTP_CONN_IGN_HOST)
		MET_INC(wm->conn_tok_ignored[side][MET_CT_HOST]);
	if (bits & HTTP_CONN_IGN_PROXY)
		MET_INC(wm->conn_tok_ignored[side][MET_CT_PROXY]);
}

static void
timer_arm(struct conn *c, uint64_t ms)
{
	ev_timer_start(c->wk->loop, &c->timer, ms);
}

static struct req *
req_alloc(struct worker *wk, struct conn *c)
{
	struct req *r = wk->free_reqs;

	if (r != NULL) {
		wk->free_reqs = r->next_free;
	} else {
		if ((r = malloc(sizeof(*r))) == NULL)
			return NULL;
		buf_init(&r->qhead);
		buf_init(&r->rhead);
	}
	memset(r, 0, offsetof(struct req, qhead));
	r->qhead.rpos = r->qhead.wpos = 0;
	r->rhead.rpos = r->rhead.wpos = 0;
	r->c = c;
	r->up_idx = r->srv_idx = -1;
	return r;
}

static void
req_free(struct worker *wk, struct req *r)
{
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

static void
parser_limits(const struct pd_config *g, struct http_limits *lim)
{
	lim->max_request_line = g ? g->max_request_line : 0;
	lim->max_header_bytes = g ? g->max_header_bytes : 0;
	lim->max_headers = (uint16_t)(g ? g->max_headers : 0);
}

/* Detaches the request's backend connection: pooled if reusable. */
static void
drop_backend(struct req *r, int reusable)
{
	struct bconn *b = r->b;

	if (b == NULL)
		return;
	r->b = NULL;
	b->req = NULL;
	up_release(b, reusable);
}

void
http_proxy_conn_release(struct conn *c)
{
	struct req *r = c->req;

	if (r == NULL)
		return;
	drop_backend(r, 0);
	if (r->gen != NULL) {
		if (r->status == 0 && r->t_start != 0)
			r->status = 499;     /* client went away first (nginx's convention) */
		if (r->rt != NULL || r->status != 0) {
			metrics_request(c->wk->m, r->series, r->status, http_proxy_now_us() - r->t_start);
			accesslog_end(c->wk, r);
		}
		worker_gen_release(c->wk, r->gen);
	}
	c->req = NULL;
	req_free(c->wk, r);
}

/* ---- locally generated responses --------------------------------------- */

/* Answers r with status and a short body (text/plain), or an empty body with
 * a Location for redirects; extra (may be NULL) is more header lines, each
 * ending in CRLF. Closes the client afterwards unless keep is set and the
 * request was fully read. */
static void
send_local_x(struct req *r, int status, const char *body, const char *location, int keep, const char *extra)
{
	struct conn *c = r->c;
	struct buf *h = &r->rhead;
	size_t blen = body ? strlen(body) : 0;

	drop_backend(r, 0);
	r->keep_client = keep && r->keep_client && r->qdone && !c->wk->draining;
	if (c->state != CONN_TUNNEL && r->qpass > 0) {
		/* Body bytes that never went out belong to this request, not
		 * to the next one. */
		buf_consume(&c->ep.in, r->qpass);
		r->qpass = 0;
	}
	h->rpos = h->wpos = 0;
	r->rhead_off = 0;
	r->rpass = 0;
	buf_appendf(h, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n", status,
	    http_status_text(status), blen);
	if (location != NULL)
		buf_appendf(h, "Location: %s\r\n", location);
	if (extra != NULL)
		buf_append(h, extra, strlen(extra));
	/* response_headers applies to every route, fixed responses included. */
	if (r->rt != NULL)
		for (size_t k = 0; k < r->rt->nresp_ops; k++)
			if (r->rt->resp_ops[k].value != NULL)
				buf_appendf(h, "%s: %s\r\n", r->rt->resp_ops[k].name, r->rt->resp_ops[k].value);
	if (r->reqid[0] != '\0')
		buf_appendf(h, "X-Request-Id: %s\r\n", r->reqid);
	if (c->lo != NULL && c->lo->hsts_len > 0)
		buf_append(h, c->lo->hsts, c->lo->hsts_len);
	buf_appendf(h, "Connection: %s\r\n\r\n", r->keep_client ? "keep-alive" : "close");
	if (blen > 0 && !r->is_head)
		buf_append(h, body, blen);
	r->status = status;
	r->local = 1;
	r->rhead_done = 1;
	r->rdone = 1;
	c->state = CONN_RESPOND;
	timer_arm(c, r->gen ? r->gen->to.client_idle : 10000);
	r_flush_and_continue(r);
}

static void
send_local(struct req *r, int status, const char *body, const char *location, int keep)
{
	send_local_x(r, status, body, location, keep, NULL);
}

/* ---- response side ------------------------------------------------------- */

/* Writes pending response bytes to the client. 1 all out, 0 EAGAIN (EV_WRITE
 * armed), -1 the client is gone (connection closed here). */
static int
r_flush(struct req *r)
{
	struct conn *c = r->c;
	struct ep_out q = { &r->rhead, &r->rhead_off, r->b != NULL ? &r->b->ep.in : NULL, &r->rpass };
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

enum { DC_SIZE = 0, DC_DATA, DC_DATA_CRLF, DC_TRAILER, DC_DONE };

/* Removes the chunked framing (RFC 9112 §7.1) from n bytes at p that
 * http_chunked_feed() has already validated, in place; returns how many data
 * bytes are left at p. The state lives in r, so chunks may be split
 * anywhere between calls. Used for HTTP/1.0 clients, which must not get a
 * chunked body (RFC 9112 §6.1): theirs ends when the connection closes. */
static size_t
dechunk(struct req *r, uint8_t *p, size_t n)
{
	size_t i = 0, o = 0, k;

	while (i < n) {
		uint8_t ch = p[i];
		switch (r->dc_state) {
		case DC_SIZE:
			i++;
			if (ch == '\n') {
				r->dc_state = r->dc_left > 0 ? DC_DATA : DC_TRAILER;
				r->dc_ext = 0;
				r->dc_empty = 1;
			} else if (!r->dc_ext && ((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f'))) {
				r->dc_left = r->dc_left * 16 + (uint64_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
			} else {
				r->dc_ext = 1;   /* chunk extension, BWS or CR: not size digits */
			}
			break;
		case DC_DATA:
			k = n - i < r->dc_left ? n - i : (size_t)r->dc_left;
			memmove(p + o, p + i, k);
			o += k;
			i += k;
			r->dc_left -= k;
			if (r->dc_left == 0)
				r->dc_state = DC_DATA_CRLF;
			break;
		case DC_DATA_CRLF:
			i++;
			if (ch == '\n')
				r->dc_state = DC_SIZE;
			break;
		case DC_TRAILER:
			i++;
			if (ch == '\n') {
				if (r->dc_empty)
					r->dc_state = DC_DONE;
				r->dc_empty = 1;
			} else if (ch != '\r') {
				r->dc_empty = 0;
			}
			break;
		default:
			i = n;
			break;
		}
	}
	return o;
}

/* dechunk() on the `used` validated bytes after rpass in b->ep.in; the bytes
 * after them move down. Returns the data bytes to pass. */
static size_t
dechunk_in_place(struct req *r, struct buf *in, size_t used)
{
	uint8_t *p = buf_rptr(in) + r->rpass;
	size_t kept = dechunk(r, p, used), tail = buf_len(in) - r->rpass - used;

	if (kept < used) {
		memmove(p + kept, p + used, tail);
		in->wpos -= used - kept;
	}
	return kept;
}

/* The body framing both directions share (RFC 9112 §6.3): how many of the
 * avail bytes at p belong to a Content-Length (kind HTTP_BODY_LENGTH, *left
 * bytes to go) or chunked (validated by ch) body, in *used. 1 when the body
 * ends with them, 0 when more is to come, -1 for a malformed chunked body. */
static int
body_frame(enum http_body kind, uint64_t *left, struct http_chunked *ch, const uint8_t *p, size_t avail,
    size_t *used)
{
	*used = 0;
	if (kind == HTTP_BODY_LENGTH) {
		*used = avail < *left ? avail : (size_t)*left;
		*left -= *used;
		return *left == 0;
	}
	if (avail == 0)
		return 0;
	switch (http_chunked_feed(ch, p, avail, used)) {
	case HTTP_DONE:
		return 1;
	case HTTP_AGAIN:
		return 0;
	default:
		return -1;
	}
}

/* Passes newly read response body bytes (RFC 9112 §6.3 framing). 0, or -1 on
 * a malformed chunked body. */
static int
r_advance(struct req *r)
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
		end = body_frame(r->rbody, &r->rleft, &r->rch, buf_rptr(in) + r->rpass, avail, &used);
		if (end == -1) {
			metrics_parse_error(req_wk(r)->m, r->rch.reason);
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
	return 0;
}

static void
build_response_head(struct req *r, const uint8_t *d)
{
	const struct http_msg *m = &r->rm;
	const struct pd_config *g = r->gen;
	struct buf *h = &r->rhead;
	int tunnel = r->rbody == HTTP_BODY_TUNNEL;

	if (r->rhead_off >= buf_len(h)) {
		/* Nothing of an interim response left to send: start afresh. */
		h->rpos = h->wpos = 0;
		r->rhead_off = 0;
	}
	buf_reserve(h, m->header_bytes + 256);
	{
		/* Hot path: no printf. status is 100..599 (the parser checks). */
		char sl[13] = "HTTP/1.1 000 ";
		sl[9] = (char)('0' + m->status / 100);
		sl[10] = (char)('0' + m->status / 10 % 10);
		sl[11] = (char)('0' + m->status % 10);
		buf_append(h, sl, 13);
		buf_append(h, d + m->reason.off, m->reason.len);
		buf_append(h, "\r\n", 2);
	}
	for (int i = 0; i < m->nheaders; i++) {
		struct http_span n = m->headers[i].name, v = m->headers[i].value;
		if (hop_masked(m, i) && !(tunnel && SPAN_IS(d, n, "upgrade")))
			continue;
		switch (n.len) {
		case 2:
			if (SPAN_IS(d, n, "te"))
				continue;
			break;
		case 6:
			if (SPAN_IS(d, n, "server") && g->server_hdr != PD_SERVER_PASS)
				continue;
			break;
		case 7:
			if (SPAN_IS(d, n, "trailer") || (SPAN_IS(d, n, "upgrade") && !tunnel))
				continue;
			break;
		case 10:
			if (SPAN_IS(d, n, "connection") || SPAN_IS(d, n, "keep-alive"))
				continue;
			break;
		case 14:
			/* Re-emitted below from what was parsed. */
			if (SPAN_IS(d, n, "content-length"))
				continue;
			break;
		case 16:
			if (SPAN_IS(d, n, "proxy-connection"))
				continue;
			break;
		case 25:
			/* Ours replaces the backend's (RFC 6797 §8.1: a UA
			 * heeds only the first). */
			if (r->c->lo != NULL && r->c->lo->hsts_len > 0 && SPAN_IS(d, n, "strict-transport-security"))
				continue;
			break;
		case 17:
			/* Re-emitted below from what was parsed. */
			if (SPAN_IS(d, n, "transfer-encoding"))
				continue;
			break;
		}
		if (r->rt != NULL && r->rt->nresp_ops > 0) {
			size_t k;
			for (k = 0; k < r->rt->nresp_ops; k++)
				if (r->rt->resp_ops[k].name_len == n.len &&
				    strncasecmp(r->rt->resp_ops[k].name, (const char *)d + n.off, n.len) == 0)
					break;
			if (k < r->rt->nresp_ops)
				continue;
		}
		buf_append(h, d + n.off, n.len);
		buf_append(h, ": ", 2);
		buf_append(h, d + v.off, v.len);
		buf_append(h, "\r\n", 2);
	}
	if (g->server_hdr == PD_SERVER_REPLACE)
		buf_appendf(h, "Server: %s\r\n", g->server_value);
	/* RFC 6797 §7.2: only over TLS, which is the only kind of listener
	 * that can carry hsts. */
	if (r->c->lo != NULL && r->c->lo->hsts_len > 0)
		buf_append(h, r->c->lo->hsts, r->c->lo->hsts_len);
	if (r->rt != NULL)
		for (size_t k = 0; k < r->rt->nresp_ops; k++)
			if (r->rt->resp_ops[k].value != NULL)
				buf_appendf(h, "%s: %s\r\n", r->rt->resp_ops[k].name, r->rt->resp_ops[k].value);
	if (r->sticky && r->srv_idx + 1 != r->sticky_srv) {
		/* Pin the client to the server that answered (proxyd/sticky.c). */
		const struct sticky_conf *sc = g->upstreams[r->up_idx].sticky;
		buf_append(h, sc->set_cookie[r->srv_idx], sc->set_cookie_len[r->srv_idx]);
	}
	switch (r->rbody) {
	case HTTP_BODY_CHUNKED:
		/* A chunked body to an HTTP/1.0 client (the backend ignored
		 * our HTTP/1.0 request line) goes out de-chunked and
		 * delimited by the close (RFC 9112 §6.1). */
		if (!r->dechunk)
			append_framing(h, 1, -1);
		break;
	case HTTP_BODY_LENGTH:
		append_framing(h, 0, m->content_length);
		break;
	case HTTP_BODY_NONE:
		/* No body follows, but a HEAD or 304 answer's length
		 * describes the representation (RFC 9110 §8.6), and an
		 * explicit "Content-Length: 0" is kept; 1xx and 204 carry
		 * neither (RFC 9110 §8.6, RFC 9112 §6.1). */
		if (m->status >= 200 && m->status != 204)
			append_framing(h, m->chunked && r->qm.version_minor == 1, m->content_length);
		break;
	case HTTP_BODY_UNTIL_CLOSE:
	case HTTP_BODY_TUNNEL:
		break;
	}
	if (tunnel)
		buf_append(h, "Connection: upgrade\r\n\r\n", 23);
	else if (!r->keep_client)
		buf_append(h, "Connection: close\r\n\r\n", 21);
	else if (r->qm.version_minor == 0)
		buf_append(h, "Connection: keep-alive\r\n\r\n", 26);
	else
		buf_append(h, "\r\n", 2);
}

static void
abort_exchange(struct req *r, enum met_uperr e, const char *why)
{
	struct conn *c = r->c;
	char ab[48];

	MET_INC(req_wk(r)->m->up_err[e]);
	log_rl_warnx(&rl_up, ev_now(c->wk->loop), "conn %llu %s: upstream %s: %s",
	    (unsigned long long)c->id, conn_peer_str(c, ab, sizeof(ab)),
	    r->up_idx >= 0 ? r->gen->upstreams[r->up_idx].name : "-", why);
	conn_close(c, why);
}

/* Before any response byte: retry on another server when allowed, else answer
 * status with a body naming the cause. */
static void
fail_backend(struct req *r, int status, enum met_uperr e, const char *why, int stale)
{
	struct conn *c = r->c;
	const struct pd_upstream *u = &r->gen->upstreams[r->up_idx];
	enum http_method m = r->qm.method;
	int idem = m == HTTP_M_GET || m == HTTP_M_HEAD || m == HTTP_M_PUT || m == HTTP_M_DELETE ||
	    m == HTTP_M_OPTIONS || m == HTTP_M_TRACE;
	char ab[48];

	MET_INC(req_wk(r)->m->up_err[e]);
	if (!stale && e != MET_UP_ABORTED)
		hc_passive(u, r->srv_idx, 1);
	drop_backend(r, 0);
	if (idem && !r->body_sent_any && !r->upgrade && (stale ? r->attempts < u->retries + 3 : r->attempts <= u->retries)) {
		/* A pooled connection the server closed while idle is not the
		 * server's fault: try again without excluding it. */
		if (!stale && r->srv_idx >= 0 && (size_t)r->srv_idx < sizeof(r->exclude) * 8)
			bal_mask_set(r->exclude, (size_t)r->srv_idx);
		MET_INC(req_wk(r)->m->up_err[MET_UP_RETRY]);
		/* If no other server is left, the client hears about this
		 * failure, not about an empty upstream. */
		r->fail_status = status;
		snprintf(r->fail_why, sizeof(r->fail_why), "%s", why);
		log_debug("conn %llu: upstream %s server %s: %s, retrying", (unsigned long long)c->id, u->name,
		    u->servers[r->srv_idx].name, why);
		r->qhead_off = 0;
		r->head_sent_any = 0;
		connect_backend(r);
		return;
	}
	log_rl_warnx(&rl_up, ev_now(c->wk->loop), "conn %llu %s: upstream %s server %s: %s",
	    (unsigned long long)c->id, conn_peer_str(c, ab, sizeof(ab)), u->name,
	    r->srv_idx >= 0 ? u->servers[r->srv_idx].name : "-", why);
	char body[160];
	snprintf(body, sizeof(body), "%d %s: %s\n", status, http_status_text(status), why);
	send_local(r, status, body, NULL, 1);
}

/* A complete response head is in b->ep.in. 0 continue, -1 handled (stop). */
static int
on_response_head(struct req *r)
{
	struct bconn *b = r->b;
	const uint8_t *d = buf_rptr(&b->ep.in);
	int st = r->rm.status;

	if (st >= 100 && st < 200 && st != 101) {
		/* Interim response (RFC 9110 §15.2): pass 100 Continue on to a
		 * client that asked for it, drop the others. */
		size_t hb = r->rm.header_bytes;
		struct http_limits lim;
		if (st == 100 && r->client_100 && r->qm.version_minor == 1) {
			buf_append(&r->rhead, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			r->client_100 = 0;
		}
		/* The client may have waited for this before sending its body:
		 * min_body_rate measures from here. */
		if (r->rate_t0 != 0) {
			r->rate_t0 = ev_now(req_wk(r)->loop);
			r->rate_bytes = 0;
		}
		buf_consume(&b->ep.in, hb);
		parser_limits(r->gen, &lim);
		http_parser_init(&r->rp, 1, &lim);
		return 0;
	}
	/* A switch proxyd did not ask for, or to another protocol than the
	 * WebSocket it forwarded (RFC 9110 §7.8: the server names the
	 * protocol it switches to, one the client asked for), would turn
	 * the connection into a tunnel nobody checks. */
	if (st == 101 && (!r->upgrade || !r->rm.upgrade_ws)) {
		fail_backend(r, 502, MET_UP_BAD_RESPONSE, "unexpected 101 from upstream", 0);
		return -1;
	}
	if (r->rm.conn_ignored != 0)
		count_conn_ignored(req_wk(r)->m, MET_SIDE_RESPONSE, r->rm.conn_ignored);
	hc_passive(&r->gen->upstreams[r->up_idx], r->srv_idx, st >= 500);
	r->rbody = http_response_body(&r->rm, r->qm.method);
	if (r->rbody == HTTP_BODY_CHUNKED && r->qm.version_minor == 0) {
		r->keep_client = 0;
		r->dechunk = 1;
		r->dc_state = DC_SIZE;
		r->dc_left = 0;
		r->dc_ext = 0;
	}
	if (r->rbody == HTTP_BODY_UNTIL_CLOSE)
		r->keep_client = 0;
	/* A final answer may come before the request body ended (a server
	 * streaming an echo, or refusing early): the body keeps flowing while
	 * the response streams; finish_exchange() reuses neither connection if
	 * the request was still incomplete when the response ended. */
	if (req_wk(r)->draining)
		r->keep_client = 0;
	r->status = st;
	r->rhead_done = 1;
	if (r->rbody == HTTP_BODY_TUNNEL) {
		r->keep_client = 0;
		r->c->state = CONN_TUNNEL;
	}
	build_response_head(r, d);
	buf_consume(&b->ep.in, r->rm.header_bytes);
	r->rleft = r->rbody == HTTP_BODY_LENGTH ? (uint64_t)r->rm.content_length : 0;
	if (r->rbody == HTTP_BODY_CHUNKED)
		http_chunked_init(&r->rch);
	if (r->rbody == HTTP_BODY_TUNNEL) {
		r->qpass = buf_len(&r->c->ep.in);
		timer_arm(r->c, r->gen->to.tunnel_idle);
	} else {
		timer_arm(r->c, r->gen->upstreams[r->up_idx].idle_ms);
	}
	return 0;
}

static void
backend_read(struct req *r)
{
	struct bconn *b = r->b;
	ssize_t n;

	if (r->rpass > 0 || r->rhead_off < buf_len(&r->rhead) || r->rdone) {
		/* Previous bytes still going out to the client: stop reading. */
		ep_want(&b->ep, 0, b->ep.wr_on);
		return;
	}
	if (worker_buf_get(req_wk(r), &b->ep.in) == -1 || buf_reserve(&b->ep.in, 4096) == -1) {
		abort_exchange(r, MET_UP_ABORTED, "out of memory");
		return;
	}
	if ((n = ep_fill(&b->ep)) == EP_AGAIN)
		return;
	if (n <= 0 && b->ep.ssl != NULL) {
		if (n == EP_ERROR) {
			char why[128];
			log_debug("upstream TLS read: %s", ep_tls_error(&b->ep, why, sizeof(why)));
		} else if (r->rhead_done && r->rbody == HTTP_BODY_UNTIL_CLOSE && !tls_close_notify_received(b->ep.ssl)) {
			/* A close-delimited body over TLS ends with close_notify; a
			 * bare TCP FIN may be a truncation (RFC 9112 §9.8): the
			 * client gets no clean end either. */
			abort_exchange(r, MET_UP_ABORTED, "upstream TLS closed without close_notify (truncated?)");
			return;
		}
	}
	if (n <= 0) {
		const char *why = n == 0 ? "upstream closed the connection" : "upstream connection reset";
		if (n == 0 && r->rhead_done && r->rbody == HTTP_BODY_UNTIL_CLOSE) {
			r->rdone = 1;
			r_flush_and_continue(r);
			return;
		}
		if (!r->rhead_done && b->rx == 0) {
			fail_backend(r, 502, MET_UP_CONNECT_FAIL, why, b->reused);
			return;
		}
		if (!r->rhead_done && r->status == 0) {
			fail_backend(r, 502, MET_UP_BAD_RESPONSE, "truncated response head", 0);
			return;
		}
		if (r->rbody == HTTP_BODY_TUNNEL) {
			conn_close(r->c, "tunnel closed by upstream");
			return;
		}
		abort_exchange(r, MET_UP_ABORTED, "upstream closed mid-response");
		return;
	}
	b->rx += (uint64_t)n;
	while (!r->rhead_done) {
		int rc = http_parse(&r->rp, &r->rm, buf_rptr(&b->ep.in), buf_len(&b->ep.in));
		if (rc == HTTP_AGAIN) {
			/* An interim response may be waiting: send it on now. */
			if (r->rhead_off < buf_len(&r->rhead))
				r_flush(r);
			return;
		}
		if (rc == HTTP_ERROR) {
			char msg[96];
			metrics_parse_error(req_wk(r)->m, r->rp.reason);
			snprintf(msg, sizeof(msg), "bad response from upstream (%s)", r->rp.reason ? r->rp.reason : "?");
			fail_backend(r, 502, MET_UP_BAD_RESPONSE, msg, 0);
			return;
		}
		if (on_response_head(r) == -1)
			return;
	}
	if (r_advance(r) == -1) {
		abort_exchange(r, MET_UP_BAD_RESPONSE, "malformed chunked response body");
		return;
	}
	if (r->rbody != HTTP_BODY_TUNNEL)
		timer_arm(r->c, r->gen->upstreams[r->up_idx].idle_ms);
	else
		timer_arm(r->c, r->gen->to.tunnel_idle);
	r_flush_and_continue(r);
}

/* Flushes the response and moves the exchange on: read more from the backend,
 * or finish it. */
static void
r_flush_and_continue(struct req *r)
{
	int rc = r_flush(r);

	if (rc != 1)
		return;
	if (r->rdone && r->c->state != CONN_TUNNEL) {
		finish_exchange(r);
		return;
	}
	if (r->b != NULL && r->b->ep.rd_off)
		ep_want(&r->b->ep, 1, r->b->ep.wr_on);
	if (r->c->state == CONN_TUNNEL && r->c->ep.rd_off && r->qpass == 0)
		conn_want(r->c, 1, r->c->ep.wr_on);
	if (r->c->state == CONN_TUNNEL && r->qpass > 0 && r->b != NULL)
		send_request(r);
}

static void
finish_exchange(struct req *r)
{
	struct conn *c = r->c;
	struct worker *wk = c->wk;
	int keep;

	if (!r->qdone)
		r->q_abandon = 1;
	keep = r->keep_client && !r->q_abandon && r->qdone && !wk->draining;

	if (r->b != NULL) {
		int reusable = !r->q_abandon && r->qdone && r->rdone && r->rbody != HTTP_BODY_UNTIL_CLOSE &&
		    r->rbody != HTTP_BODY_TUNNEL && http_keep_alive(&r->rm) && buf_len(&r->b->ep.in) == 0 &&
		    (r->b->ep.ssl == NULL || !tls_pending(r->b->ep.ssl));
		drop_backend(r, reusable);
	}
	metrics_request(wk->m, r->series, r->status, http_proxy_now_us() - r->t_start);
	accesslog_end(wk, r);
	worker_gen_release(wk, r->gen);
	r->gen = NULL;
	c->req = NULL;
	req_free(wk, r);
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
		timer_arm(c, wk->gen->to.client_header);
		ev_defer(wk->loop, &c->ep.defer);
		return;
	}
	conn_set_idle(c);
}

/* ---- request side ------------------------------------------------------- */

static int
q_advance(struct req *r)
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
		end = body_frame(r->qbody, &r->qleft, &r->qch, buf_rptr(in) + r->qpass, avail, &used);
		if (end == -1) {
			metrics_parse_error(req_wk(r)->m, r->qch.reason);
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

/* A failed write to the backend: retry, 502 or abort. Returns -1. */
static int
q_write_failed(struct req *r)
{
	struct bconn *b = r->b;

	if (r->c->state == CONN_TUNNEL)
		conn_close(r->c, "tunnel closed by upstream");
	else if (!r->rhead_done && !r->body_sent_any)
		fail_backend(r, 502, MET_UP_CONNECT_FAIL, "upstream write failed", b->reused && !r->head_sent_any);
	else
		abort_exchange(r, MET_UP_ABORTED, "upstream write failed");
	return -1;
}

/* Writes pending request bytes to the backend. 1 all out, 0 EAGAIN, -1 error
 * (handled here: retry, 502 or abort). */
static int
q_flush(struct req *r)
{
	struct bconn *b = r->b;
	struct ep_out q = { &r->qhead, &r->qhead_off, &r->c->ep.in, &r->qpass };
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

/* Sends what can be sent of the request and arms the right timer. */
static void
send_request(struct req *r)
{
	struct conn *c = r->c;

	if (q_flush(r) != 1)
		return;
	if (c->state == CONN_TUNNEL) {
		if (c->ep.rd_off)
			conn_want(c, 1, c->ep.wr_on);
		timer_arm(c, r->gen->to.tunnel_idle);
		return;
	}
	if (!r->qdone) {
		/* More body to come from the client. */
		if (c->ep.rd_off) {
			conn_want(c, 1, c->ep.wr_on);
			/* We stopped reading (backpressure from the backend):
			 * that time is not the client's slowness. */
			if (r->rate_t0 != 0) {
				r->rate_t0 = ev_now(c->wk->loop);
				r->rate_bytes = 0;
			}
		}
		timer_arm(c, r->gen->to.client_body);
	} else if (!r->rhead_done) {
		timer_arm(c, r->gen->upstreams[r->up_idx].response_ms);
	}
}

static uint64_t
hash_key(const struct req *r, const struct pd_upstream *u, const uint8_t *d)
{
	const struct conn *c = r->c;

	switch (u->hash_key) {
	case PD_HASH_HOST:
		if (r->qm.host_idx >= 0) {
			struct http_span v = r->qm.headers[r->qm.host_idx].value;
			return balance_hash(d + v.off, v.len);
		}
		return 0;
	case PD_HASH_URI:
		return balance_hash(d + r->qm.target.off, r->qm.target.len);
	case PD_HASH_CLIENT_IP:
		break;
	}
	return balance_hash(c->peer, c->family == 2 ? 4 : 16);
}

static void
connect_backend(struct req *r)
{
	struct conn *c = r->c;
	struct wslot *s = req_slot(r);
	struct up_rt *rt = &s->ups[r->up_idx];
	int limited = 0, srv;
	struct bconn *b;

	r->attempts++;
	/* Upstreams without sticky never set sticky_srv: one predictable branch. */
	srv = r->sticky_srv == 0 ? up_pick(c->wk, rt, r->key_hash, r->exclude, &limited) :
	    up_pick_prefer(c->wk, rt, r->sticky_srv - 1, r->key_hash, r->exclude, &limited);
	if (srv < 0 && r->fail_status != 0) {
		char body[160];
		snprintf(body, sizeof(body), "%d %s: %s\n", r->fail_status, http_status_text(r->fail_status), r->fail_why);
		r->srv_idx = -1;
		send_local(r, r->fail_status, body, NULL, 1);
		return;
	}
	if (srv < 0) {
		char body[128];
		MET_INC(c->wk->m->up_err[MET_UP_NO_SERVER]);
		snprintf(body, sizeof(body), "503 Service Unavailable: %s in upstream %s\n",
		    limited ? "connection limit reached" : "no server available", rt->cfg->name);
		r->srv_idx = -1;
		send_local(r, 503, body, NULL, 1);
		return;
	}
	r->srv_idx = srv;
	b = up_get(c->wk, rt, srv, r);
	if (b == NULL) {
		char why[96];
		snprintf(why, sizeof(why), "connect failed: %s", strerror(errno));
		fail_backend(r, 502, MET_UP_CONNECT_FAIL, why, 0);
		return;
	}
	r->b = b;
	b->req = r;
	b->rx = 0;
	if (b->state == BC_CONNECTING) {
		timer_arm(c, rt->cfg->connect_ms);
		return;
	}
	send_request(r);
}

/* Request target to forward: origin-form path (absolute-form reduced to it,
 * RFC 9112 §3.2.2), rewritten by the route. An absolute-form target with an
 * empty path becomes "/" (RFC 9112 §3.2.1: the origin form needs a leading
 * slash), also when a query follows ("http://a?x=1" -> "/?x=1"); that one
 * case is copied into `scratch`. -1 when it does not fit. */
static int
target_parts(const struct req *r, const uint8_t *d, const char **t, size_t *tl,
    char *scratch, size_t scratch_len)
{
	const struct http_msg *m = &r->qm;

	*t = (const char *)d + m->target.off;
	*tl = m->target.len;
	if (m->target_form == HTTP_TF_ABSOLUTE) {
		size_t skip = (m->authority.off + m->authority.len) - m->target.off;
		*t += skip;
		*tl -= skip;
		if (*tl == 0) {
			*t = "/";
			*tl = 1;
		} else if (**t == '?') {
			if (*tl + 1 > scratch_len)
				return -1;
			scratch[0] = '/';
			memcpy(scratch + 1, *t, *tl);
			*t = scratch;
			*tl += 1;
		}
	}
	return 0;
}

/* A Cookie header of a request to a sticky upstream: note the server our
 * cookie names (the first one seen wins, RFC 6265 §5.4 puts the most
 * specific first) and forward the header without our cookie, which means
 * nothing to the application (HAProxy's "indirect"). Returns 1 when the
 * header was handled here (written stripped, or dropped because nothing was
 * left), 0 when the caller forwards it as usual (no cookie of ours in it, or
 * a route header operation owns Cookie). */
static int
sticky_cookie(struct req *r, const struct sticky_conf *sc, const uint8_t *d, struct http_span n, struct http_span v)
{
	const char *cv = (const char *)d + v.off, *val;
	size_t vlen, sl;
	uint64_t tok;
	struct buf *h = &r->qhead;
	uint8_t *w;

	if (!sticky_cookie_find(cv, v.len, sc->name, sc->name_len, &val, &vlen))
		return 0;
	/* An unknown or malformed value (a removed server, an old token) is
	 * not an error: the balancer picks and the answer re-pins. */
	if (r->sticky_srv == 0) {
		if (sticky_token_parse(val, vlen, &tok) == 0)
			r->sticky_srv = sticky_server(sc, tok) + 1;
		if (r->sticky_srv != 0)
			MET_INC(req_wk(r)->m->sticky_pinned);
		else
			MET_INC(req_wk(r)->m->sticky_unknown);
	}
	for (size_t k = 0; k < r->rt->nreq_ops; k++)
		if (r->rt->req_ops[k].name_len == 6 && strcasecmp(r->rt->req_ops[k].name, "cookie") == 0)
			return 0;
	if (buf_reserve(h, n.len + v.len + 4) == -1)
		return 0;
	w = buf_wptr(h);
	memcpy(w, d + n.off, n.len);
	memcpy(w + n.len, ": ", 2);
	sl = sticky_cookie_strip(cv, v.len, sc->name, sc->name_len, (char *)w + n.len + 2);
	if (sl == 0)
		return 1;
	memcpy(w + n.len + 2 + sl, "\r\n", 2);
	buf_produce(h, n.len + 4 + sl);
	return 1;
}

/* The head to send to the backend, into r->qhead. 0, -1 when out of memory,
 * -2 when the route's rewrite of the target does not fit. */
static int
build_request_head(struct req *r, const uint8_t *d)
{
	const struct http_msg *m = &r->qm;
	const struct pd_config *g = r->gen;
	const struct route *rt = r->rt;
	struct conn *c = r->c;
	struct buf *h = &r->qhead;
	const char *t;
	size_t tl;
	char ip[48], rw[8192], tgt[8192];
	int xff_idx[8], nxff = 0, rwl;
	const struct sticky_conf *stk = g->upstreams[r->up_idx].sticky;

	r->sticky = stk != NULL;
	h->rpos = h->wpos = 0;
	r->qhead_off = 0;
	if (buf_reserve(h, m->header_bytes + 512) == -1)
		return -1;
	if (target_parts(r, d, &t, &tl, tgt, sizeof(tgt)) == -1)
		return -1;
	rwl = route_rewrite(rt, t, tl, rw, sizeof(rw));
	if (rwl < 0)
		return -2;   /* never the original target in its place */
	if (rwl > 0) {
		t = rw;
		tl = (size_t)rwl;
	}
	buf_append(h, d + m->method_s.off, m->method_s.len);
	buf_append(h, " ", 1);
	buf_append(h, t, tl);
	buf_append(h, m->version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n", 11);
	conn_peer_str(c, ip, sizeof(ip));
	if (m->target_form == HTTP_TF_ABSOLUTE) {
		buf_append(h, "Host: ", 6);
		buf_append(h, d + m->authority.off, m->authority.len);
		buf_append(h, "\r\n", 2);
	}
	for (int i = 0; i < m->nheaders; i++) {
		struct http_span n = m->headers[i].name, v = m->headers[i].value;
		/* Upgrade is named by Connection when upgrading: forwarded then. */
		if (hop_masked(m, i) && !(r->upgrade && m->upgrade_idx == i))
			continue;
		switch (n.len) {
		case 2:
			if (SPAN_IS(d, n, "te"))
				continue;
			break;
		case 4:
			if (m->target_form == HTTP_TF_ABSOLUTE && SPAN_IS(d, n, "host"))
				continue;
			break;
		case 6:
			if (stk != NULL && SPAN_IS(d, n, "cookie") && sticky_cookie(r, stk, d, n, v))
				continue;
			break;
		case 7:
			if (SPAN_IS(d, n, "trailer") || (SPAN_IS(d, n, "upgrade") && !r->upgrade))
				continue;
			break;
		case 9:
			if (g->hdr_real_ip && SPAN_IS(d, n, "x-real-ip"))
				continue;
			break;
		case 10:
			if (SPAN_IS(d, n, "connection") || SPAN_IS(d, n, "keep-alive"))
				continue;
			break;
		case 12:
			if (g->hdr_request_id && SPAN_IS(d, n, "x-request-id"))
				continue;
			break;
		case 14:
			/* Content-Length is re-emitted below from what was
			 * parsed. HTTP2-Settings belongs to "Upgrade: h2c"
			 * (RFC 9113 §3.2.1, hop-by-hop), which is never
			 * forwarded: proxyd speaks HTTP/1.1 to its backends. */
			if (SPAN_IS(d, n, "content-length") || SPAN_IS(d, n, "http2-settings"))
				continue;
			break;
		case 15:
			if (g->hdr_xff && SPAN_IS(d, n, "x-forwarded-for")) {
				if (nxff < 8)
					xff_idx[nxff++] = i;
				continue;
			}
			break;
		case 16:
			if (SPAN_IS(d, n, "proxy-connection"))
				continue;
			break;
		case 17:
			if (SPAN_IS(d, n, "transfer-encoding") ||
			    (g->hdr_xfp && SPAN_IS(d, n, "x-forwarded-proto")))
				continue;
			break;
		}
		if (rt->nreq_ops > 0) {
			size_t k;
			for (k = 0; k < rt->nreq_ops; k++)
				if (rt->req_ops[k].name_len == n.len &&
				    strncasecmp(rt->req_ops[k].name, (const char *)d + n.off, n.len) == 0)
					break;
			if (k < rt->nreq_ops)
				continue;
		}
		buf_append(h, d + n.off, n.len);
		buf_append(h, ": ", 2);
		buf_append(h, d + v.off, v.len);
		buf_append(h, "\r\n", 2);
	}
	if (m->target_form != HTTP_TF_ABSOLUTE && m->host_idx < 0) {
		/* An HTTP/1.0 client may omit Host; the origin still needs one
		 * (RFC 9112 §3.2): the address the client connected to. Rare,
		 * so the getsockname(2) is not on the common path. */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char ab[NET_ADDRSTRLEN];
		if (getsockname(c->ep.io.fd, (struct sockaddr *)&ss, &sl) == 0)
			buf_appendf(h, "Host: %s\r\n", net_addr_str((struct sockaddr *)&ss, ab, sizeof(ab)));
		else
			buf_append(h, "Host: \r\n", 8);
	}
	if (g->hdr_xff) {
		/* RFC 7239 §5.2's older cousin: append the client to the list. */
		buf_append(h, "X-Forwarded-For: ", 17);
		for (int k = 0; k < nxff; k++) {
			struct http_span v = m->headers[xff_idx[k]].value;
			buf_append(h, d + v.off, v.len);
			buf_append(h, ", ", 2);
		}
		buf_append(h, ip, strlen(ip));
		buf_append(h, "\r\n", 2);
	}
	if (g->hdr_xfp) {
		if (c->ep.ssl != NULL)
			buf_append(h, "X-Forwarded-Proto: https\r\n", 26);
		else
			buf_append(h, "X-Forwarded-Proto: http\r\n", 25);
	}
	if (g->hdr_real_ip) {
		buf_append(h, "X-Real-IP: ", 11);
		buf_append(h, ip, strlen(ip));
		buf_append(h, "\r\n", 2);
	}
	if (g->hdr_forwarded)
		buf_appendf(h, c->family == 2 ? "Forwarded: for=%s;proto=%s\r\n" : "Forwarded: for=\"[%s]\";proto=%s\r\n", ip,
		    c->ep.ssl != NULL ? "https" : "http");
	if (g->hdr_via)
		buf_appendf(h, "Via: 1.%d tandem\r\n", m->version_minor);
	if (g->hdr_request_id) {
		buf_append(h, "X-Request-Id: ", 14);
		buf_append(h, r->reqid, strlen(r->reqid));
		buf_append(h, "\r\n", 2);
	}
	for (size_t k = 0; k < rt->nreq_ops; k++)
		if (rt->req_ops[k].value != NULL)
			buf_appendf(h, "%s: %s\r\n", rt->req_ops[k].name, rt->req_ops[k].value);
	/* The body q_advance() forwards is exactly this framing's. */
	append_framing(h, m->chunked, m->content_length);
	if (r->upgrade)
		buf_append(h, "Connection: upgrade\r\n", 21);
	else if (m->version_minor == 0)
		buf_append(h, "Connection: keep-alive\r\n", 24);
	if (buf_append(h, "\r\n", 2) == -1)
		return -1;
	return 0;
}

struct hdr_ctx { const struct http_msg *m; const uint8_t *d; };

static int
has_header(void *ctx, const char *name, const char *value)
{
	const struct hdr_ctx *x = ctx;
	size_t nl = strlen(name), vl = value ? strlen(value) : 0;

	for (int i = 0; i < x->m->nheaders; i++) {
		struct http_span n = x->m->headers[i].name, v = x->m->headers[i].value;
		if (!span_is(x->d, n, name, nl))
			continue;
		if (value == NULL || (v.len == vl && memcmp(x->d + v.off, value, vl) == 0))
			return 1;
	}
	return 0;
}

static void
make_request_id(struct req *r, const uint8_t *d)
{
	static const char hex[] = "0123456789abcdef";
	int i = r->gen->hdr_request_id ? http_find_header(&r->qm, d, "x-request-id") : -1;

	if (i >= 0) {
		struct http_span v = r->qm.headers[i].value;
		size_t k;
		/* Keep the client's id only if it is short and plain. */
		for (k = 0; k < v.len && k < sizeof(r->reqid) - 1; k++) {
			char ch = (char)d[v.off + k];
			if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_' || ch == '.'))
				break;
		}
		if (v.len > 0 && k == v.len) {
			memcpy(r->reqid, d + v.off, v.len);
			r->reqid[v.len] = '\0';
			return;
		}
	}
	for (int k = 0; k < 4; k++) {
		uint32_t x = worker_rand(req_wk(r));
		for (int j = 0; j < 8; j++)
			r->reqid[k * 8 + j] = hex[(x >> (j * 4)) & 15];
	}
	r->reqid[32] = '\0';
}

/* The rate-limit key of a request for limit L (proxyd/ratelimit.h). A
 * request without the header a header-keyed limit names is keyed by its
 * client address instead, so leaving the header out does not escape it. */
static int
rl_key(const struct req *r, const struct pd_rlimit *L, const uint8_t *d, uint8_t key[RL_KEY_MAX])
{
	const struct conn *c = r->c;
	struct sockaddr_storage ss;

	if (L->key == RL_KEY_ROUTE)
		return rl_key_bytes(RL_KEY_ROUTE, r->rt->name, strlen(r->rt->name), key);
	if (L->key == RL_KEY_HEADER) {
		int i = http_find_header(&r->qm, d, L->header);
		if (i >= 0)
			return rl_key_bytes(RL_KEY_HEADER, d + r->qm.headers[i].value.off, r->qm.headers[i].value.len, key);
	}
	memset(&ss, 0, sizeof(ss));
	if (c->family == 2) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, c->peer, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, c->peer, 16);
	}
	return rl_key_ip((const struct sockaddr *)&ss, L->v4_prefix, L->v6_prefix, key);
}

/* The route's guards, in order: access control (403), allowed methods (405),
 * body size announced by Content-Length (413), rate limit (429). 0 to go on,
 * -1 when the request was answered here. Routes without guards cost a few
 * compares: no lock, no syscall, no allocation. */
static int
guard_request(struct conn *c, struct req *r, const uint8_t *d)
{
	const struct route *rt = r->rt;
	const struct http_msg *m = &r->qm;
	struct wmetrics *wm = c->wk->m;
	char extra[96];

	if ((rt->nallow | rt->ndeny) != 0 &&
	    !route_client_allowed(rt, c->family == 2 ? AF_INET : AF_INET6, c->peer)) {
		MET_INC(wm->guard[MET_G_ROUTE_ACL]);
		buf_consume(&c->ep.in, m->header_bytes);
		send_local(r, 403, "403 Forbidden\n", NULL, 1);
		return -1;
	}
	if (rt->nallow_methods != 0 && !route_method_allowed(rt, (const char *)d + m->method_s.off, m->method_s.len)) {
		/* RFC 9110 §15.5.6: a 405 carries Allow. */
		MET_INC(wm->guard[MET_G_METHOD]);
		buf_consume(&c->ep.in, m->header_bytes);
		snprintf(extra, sizeof(extra), "Allow: %.80s\r\n", rt->allow_hdr);
		send_local_x(r, 405, "405 Method Not Allowed\n", NULL, 1, extra);
		return -1;
	}
	r->max_body = rt->max_body >= 0 ? (uint64_t)rt->max_body : r->gen->max_body;
	if (r->qbody == HTTP_BODY_LENGTH && route_body_too_large(r->max_body, (uint64_t)m->content_length)) {
		/* RFC 9110 §15.5.14; the body is not read, so the connection
		 * closes after the answer (send_local keeps only finished requests). */
		MET_INC(wm->guard[MET_G_BODY_SIZE]);
		buf_consume(&c->ep.in, m->header_bytes);
		send_local(r, 413, "413 Content Too Large\n", NULL, 0);
		return -1;
	}
	if (rt->rl_idx >= 0 && (size_t)rt->rl_idx < r->gen->nrlimits) {
		const struct pd_rlimit *L = &r->gen->rlimits[rt->rl_idx];
		uint8_t key[RL_KEY_MAX];
		uint32_t ra = 1;
		int klen = rl_key(r, L, d, key);
		enum rl_verdict v = klen > 0 ? rl_check(L->t, key, (size_t)klen, ev_wall_ms(), &ra) : RL_ALLOW;
		if (v != RL_ALLOW) {
			/* RFC 6585 §4: 429 with Retry-After (RFC 9110 §10.2.3). A
			 * banned client also loses its connection: it must come
			 * back through accept, which costs it more than us. */
			MET_INC(wm->guard[v == RL_BANNED ? MET_G_RATE_BANNED : MET_G_RATE_LIMITED]);
			buf_consume(&c->ep.in, m->header_bytes);
			snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", ra);
			send_local_x(r, 429, v == RL_BANNED ? "429 Too Many Requests: banned\n" : "429 Too Many Requests\n",
			    NULL, v != RL_BANNED, extra);
			return -1;
		}
	}
	if (r->qbody != HTTP_BODY_NONE && r->gen->min_body_rate > 0)
		r->rate_t0 = ev_now(c->wk->loop);
	return 0;
}

/* A plain listener with redirect_https: every request is answered with a
 * 301 to the same host and target over https (RFC 9110 §15.4.2), before
 * routing. The host comes from the request (validated by the parser: no
 * CR, LF or other control characters can reach the Location line). */
static void
redirect_https(struct conn *c, struct req *r, const char *host, size_t host_len, const char *t, size_t tl)
{
	char loc[8192 + 320], port[8] = "";
	int n;

	buf_consume(&c->ep.in, r->qm.header_bytes);
	if (host_len == 0 || host_len > 255) {
		send_local(r, 400, "400 Bad Request: no usable Host to redirect to\n", NULL, 0);
		return;
	}
	if (c->lo->redirect_port != 0 && c->lo->redirect_port != 443)
		snprintf(port, sizeof(port), ":%u", (unsigned)c->lo->redirect_port);
	n = snprintf(loc, sizeof(loc), "https://%.*s%s%.*s", (int)host_len, host, port, (int)tl, t);
	if (n < 0 || (size_t)n >= sizeof(loc)) {
		send_local(r, 414, "414 URI Too Long\n", NULL, 1);
		return;
	}
	send_local(r, 301, NULL, loc, 1);
}

static void
start_request(struct conn *c, struct req *r)
{
	struct worker *wk = c->wk;
	const uint8_t *d = buf_rptr(&c->ep.in);
	const struct http_msg *m = &r->qm;
	struct route_req q;
	struct hdr_ctx hx = { m, d };
	const char *t;
	size_t tl;
	char tgt[8192];
	int ri, rc;

	r->gen = wk->gen;
	worker_gen_acquire(wk, r->gen);
	r->t_start = http_proxy_now_us();
	c->state = CONN_PROXY;
	make_request_id(r, d);
	accesslog_begin(r, c, d);
	r->is_head = m->method == HTTP_M_HEAD;
	r->keep_client = http_keep_alive(m) && !wk->draining;
	r->qbody = http_request_body(m);
	r->qleft = r->qbody == HTTP_BODY_LENGTH ? (uint64_t)m->content_length : 0;
	if (r->qbody == HTTP_BODY_CHUNKED)
		http_chunked_init(&r->qch);
	r->client_100 = m->expect_continue;
	/* Only a WebSocket handshake (RFC 6455 §4.1: GET, no body,
	 * "Upgrade: websocket" named by Connection) becomes a tunnel. Any
	 * other Upgrade (h2c with HTTP2-Settings, or anything else) is
	 * stripped and the request forwarded as a plain HTTP/1.1 one, as
	 * RFC 9110 §7.8 lets a server ignore Upgrade: a backend that
	 * switched to a protocol proxyd does not parse would let the client
	 * speak past every check here. Stripping, not refusing, because the
	 * client must fall back to HTTP/1.1 anyway (h2c clients do). */
	r->upgrade = m->upgrade_ws && m->conn_upgrade && m->method == HTTP_M_GET && r->qbody == HTTP_BODY_NONE;
	if (m->has_upgrade_hdr && !r->upgrade)
		MET_INC(wk->m->upgrade_stripped);
	if (m->conn_ignored != 0)
		count_conn_ignored(wk->m, MET_SIDE_REQUEST, m->conn_ignored);

	/* Route on Host (without port) and the path (without query). */
	memset(&q, 0, sizeof(q));
	q.method = (const char *)d + m->method_s.off;
	q.method_len = m->method_s.len;
	if (m->target_form == HTTP_TF_ABSOLUTE) {
		q.host = (const char *)d + m->authority.off;
		q.host_len = m->authority.len;
	} else if (m->host_idx >= 0) {
		q.host = (const char *)d + m->headers[m->host_idx].value.off;
		q.host_len = m->headers[m->host_idx].value.len;
	} else {
		q.host = "";
	}
	q.host_len = route_host_key(q.host, q.host_len);
	if (target_parts(r, d, &t, &tl, tgt, sizeof(tgt)) == -1) {
		MET_INC(wk->m->guard[MET_G_URI_TOO_LONG]);
		buf_consume(&c->ep.in, m->header_bytes);
		send_local(r, 414, "414 URI Too Long\n", NULL, 1);
		return;
	}
	if (c->lo != NULL && c->lo->redirect_https) {
		redirect_https(c, r, q.host, q.host_len, t, tl);
		return;
	}
	q.path = t;
	q.path_len = tl;
	{
		const char *qm = memchr(t, '?', tl);
		if (qm != NULL)
			q.path_len = (size_t)(qm - t);
	}
	q.has_header = has_header;
	q.ctx = &hx;
	ri = route_match(r->gen->routes, r->gen->nroutes, &q);
	if (r->qbody == HTTP_BODY_NONE)
		r->qdone = 1;
	if (ri < 0) {
		buf_consume(&c->ep.in, m->header_bytes);
		send_local(r, 404, "404 Not Found: no route\n", NULL, 1);
		return;
	}
	r->rt = &r->gen->routes[ri];
	r->series = r->gen->route_series[r->gen->route_series_off[ri]];
	if (guard_request(c, r, d) == -1)
		return;
	if (m->expect_other) {
		buf_consume(&c->ep.in, m->header_bytes);
		send_local(r, 417, "417 Expectation Failed\n", NULL, 0);
		return;
	}
	if (r->rt->action == ROUTE_REDIRECT) {
		buf_consume(&c->ep.in, m->header_bytes);
		send_local(r, r->rt->status, NULL, r->rt->location, 1);
		return;
	}
	if (r->rt->action == ROUTE_RESPOND) {
		buf_consume(&c->ep.in, m->header_bytes);
		send_local(r, r->rt->status, r->rt->body, NULL, 1);
		return;
	}
	{
		uint32_t rnd = r->rt->nsplits > 1 ? worker_rand(wk) : 0;
		size_t j;
		r->up_idx = route_pick_upstream(r->rt, rnd);
		for (j = 0; j < r->rt->nsplits; j++)
			if (r->rt->splits[j].upstream == r->up_idx)
				break;
		r->series = r->gen->route_series[r->gen->route_series_off[ri] + (j < r->rt->nsplits ? j : 0)];
	}
	if (r->up_idx < 0) {
		buf_consume(&c->ep.in, m->header_bytes);
		send_local(r, 503, "503 Service Unavailable: no upstream\n", NULL, 1);
		return;
	}
	if ((rc = build_request_head(r, d)) < 0) {
		buf_consume(&c->ep.in, m->header_bytes);
		if (rc == -2) {
			/* The rewritten target does not fit: fail the request. Sending
			 * the original would reach the backend with a path the route's
			 * rewrite was meant to hide or move. RFC 9110 §15.5.15: the
			 * client's target is too long to be served once rewritten. */
			MET_INC(wk->m->guard[MET_G_REWRITE_OVERFLOW]);
			log_rl_warnx(&rl_rewrite, ev_now(wk->loop), "conn %llu: route %s: rewritten target too long, 414",
			    (unsigned long long)c->id, r->rt->name);
			send_local(r, 414, "414 URI Too Long: rewritten target too long\n", NULL, 1);
			return;
		}
		send_local(r, 500, "500 Internal Server Error: out of memory\n", NULL, 0);
		return;
	}
	r->key_hash = r->gen->upstreams[r->up_idx].algo == BAL_HASH ? hash_key(r, &r->gen->upstreams[r->up_idx], d) : 0;
	buf_consume(&c->ep.in, m->header_bytes);
	if ((rc = q_advance(r)) < 0) {
		body_error(r, rc);
		return;
	}
	connect_backend(r);
}

static void
process_head(struct conn *c)
{
	struct worker *wk = c->wk;
	struct req *r = c->req;
	int rc;

	if (r == NULL) {
		struct http_limits lim;
		if ((r = c->req = req_alloc(wk, c)) == NULL) {
			conn_close(c, "out of memory");
			return;
		}
		parser_limits(wk->gen, &lim);
		http_parser_init(&r->qp, 0, &lim);
		http_parser_init(&r->rp, 1, &lim);
		if (c->state == CONN_IDLE) {
			c->state = CONN_HEAD;
			timer_arm(c, wk->gen->to.client_header);
		}
	}
	rc = http_parse(&r->qp, &r->qm, buf_rptr(&c->ep.in), buf_len(&c->ep.in));
	if (rc == HTTP_AGAIN)
		return;
	/* Everything after this point (routes, guards, rewrite, the forwarded
	 * request line, the access log) sees the normalised path, so what was
	 * matched is what the backend gets. The parser refused every path
	 * without a normal form; -1 here would be a parser bug, still a 400. */
	if (rc == HTTP_OK && http_target_normalize(&r->qm, buf_rptr(&c->ep.in)) == -1) {
		r->qp.status = 400;
		r->qp.reason = "bad-path";
		rc = HTTP_ERROR;
	}
	if (rc == HTTP_ERROR) {
		char ab[48], body[128];
		metrics_parse_error(wk->m, r->qp.reason);
		log_rl_warnx(&rl_parse, ev_now(wk->loop), "conn %llu %s: bad request: %s (%d)",
		    (unsigned long long)c->id, conn_peer_str(c, ab, sizeof(ab)), r->qp.reason ? r->qp.reason : "?", r->qp.status);
		r->gen = wk->gen;
		worker_gen_acquire(wk, r->gen);
		r->t_start = http_proxy_now_us();
		r->keep_client = 0;
		/* Nothing of the request can be trusted: drop what was read. */
		buf_consume(&c->ep.in, buf_len(&c->ep.in));
		snprintf(body, sizeof(body), "%d %s: %s\n", r->qp.status, http_status_text(r->qp.status),
		    r->qp.reason ? r->qp.reason : "malformed request");
		send_local(r, r->qp.status, body, NULL, 0);
		return;
	}
	start_request(c, r);
}

void
http_proxy_client_defer(struct ev_loop *loop, struct ev_defer *d)
{
	struct conn *c = d->data;

	if (c->state == CONN_HEAD && c->req == NULL && buf_len(&c->ep.in) > 0)
		process_head(c);
	if (!c->closing && ep_more(&c->ep)) {
		client_read(c);
		/* Each pass reads, or stops reading, or finds the end: this
		 * comes back only while there is progress to make. */
		if (!c->closing && ep_more(&c->ep))
			ev_defer(loop, &c->ep.defer);
	}
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
	n = ep_fill(&c->ep);
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

/* A request body error from q_advance: -1 malformed chunked body (400),
 * -2 larger than max_body (413). Once a response began, only closing is left. */
static void
body_error(struct req *r, int rc)
{
	if (rc == -2)
		MET_INC(req_wk(r)->m->guard[MET_G_BODY_SIZE]);
	if (r->status != 0 || r->rhead_done)
		conn_close(r->c, rc == -2 ? "request body too large" : "malformed request body");
	else if (rc == -2)
		send_local(r, 413, "413 Content Too Large\n", NULL, 0);
	else
		send_local(r, 400, "400 Bad Request: malformed chunked body\n", NULL, 0);
}

/* min_body_rate: n more body bytes arrived. 1 when the rate over the last
 * full window fell below the minimum (slowloris on the body), else 0. */
static int
body_too_slow(struct req *r, uint64_t n)
{
	const struct pd_config *g = r->gen;
	uint64_t now = ev_now(req_wk(r)->loop), el;

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
		process_head(c);
		return;
	case CONN_PROXY:
		if (r->qdone || r->q_abandon || r->qpass > 0 || r->b == NULL || r->b->state != BC_ACTIVE ||
		    r->qhead_off < buf_len(&r->qhead)) {
			conn_want(c, 0, c->ep.wr_on);
			return;
		}
		if ((n = client_fill(c)) <= 0)
			return;
		if ((rc = q_advance(r)) < 0) {
			body_error(r, rc);
			return;
		}
		if (r->rate_t0 != 0 && !r->qdone && body_too_slow(r, (uint64_t)n)) {
			MET_INC(c->wk->m->guard[MET_G_SLOW_BODY]);
			if (r->status == 0)
				send_local(r, 408, "408 Request Timeout: request body too slow\n", NULL, 0);
			else
				conn_close(c, "request body too slow");
			return;
		}
		send_request(r);
		return;
	case CONN_TUNNEL:
		if (r->qpass > 0 || r->b == NULL) {
			conn_want(c, 0, c->ep.wr_on);
			return;
		}
		if (client_fill(c) <= 0)
			return;
		q_advance(r);
		send_request(r);
		return;
	case CONN_LINGER:
		conn_linger_read(c);
		return;
	default:
		conn_want(c, 0, c->ep.wr_on);
		return;
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
http_proxy_client_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct conn *c = w->data;

	if (c->state == CONN_LINGER) {
		conn_linger_read(c);
		return;
	}
	if (c->ep.ssl != NULL && !(c->ep.flags & EP_TLS_READY)) {
		if (client_handshake(loop, c) != 1)
			return;
		/* The request may have come with the client's Finished. */
		revents = EV_READ;
	}
	if (ep_write_ready(&c->ep, revents) && c->req != NULL) {
		r_flush_and_continue(c->req);
		if (c->closing)
			return;
	}
	if (ep_read_ready(&c->ep, revents))
		client_read(c);
	if (!c->closing && ep_more(&c->ep))
		ev_defer(loop, &c->ep.defer);
}

void
http_proxy_backend_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
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
				fail_backend(r, 502, MET_UP_CONNECT_FAIL, why, 0);
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
				fail_backend(r, 502, MET_UP_CONNECT_FAIL, why, 0);
				return;
			}
		}
		b->state = BC_ACTIVE;
		ep_want(&b->ep, 1, 0);
		send_request(r);
		return;
	}
	/* As http_proxy_client_io(): each event retries what waits for it. */
	if (ep_write_ready(&b->ep, revents)) {
		send_request(r);
		if (r->b != b || r->c->closing)
			return;
	}
	if (ep_read_ready(&b->ep, revents))
		backend_read(r);
	/* b stays valid until the reap after this pass; r only while b->req
	 * still points at it. */
	if (b->req == r && b->state == BC_ACTIVE && ep_more(&b->ep))
		ev_defer(loop, &b->ep.defer);
}

void
http_proxy_backend_defer(struct ev_loop *loop, struct ev_defer *d)
{
	struct bconn *b = d->data;
	struct req *r = b->req;

	if (r == NULL || b->state != BC_ACTIVE || !ep_more(&b->ep))
		return;
	backend_read(r);
	/* b stays valid until the reap after this pass; r only while b->req
	 * still points at it. */
	if (b->req == r && b->state == BC_ACTIVE && ep_more(&b->ep))
		ev_defer(loop, &b->ep.defer);
}

void
http_proxy_client_timeout(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;
	struct req *r = c->req;

	(void)loop;
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
			r->t_start = http_proxy_now_us();
			buf_consume(&c->ep.in, buf_len(&c->ep.in));
			send_local(r, 408, "408 Request Timeout: request head not received in time\n", NULL, 0);
		} else {
			conn_close(c, "header timeout");
		}
		return;
	case CONN_PROXY:
		if (r->b != NULL && r->b->state == BC_CONNECTING) {
			fail_backend(r, 504, MET_UP_CONNECT_TIMEOUT, "connect timeout", 0);
			return;
		}
		if (!r->rhead_done && r->qdone && r->status == 0) {
			/* Never retried: the server may have acted on the request. */
			r->attempts = 255;
			fail_backend(r, 504, MET_UP_RESPONSE_TIMEOUT, "upstream response timeout", 0);
			return;
		}
		if (!r->qdone && r->status == 0) {
			send_local(r, 408, "408 Request Timeout: request body not received in time\n", NULL, 0);
			return;
		}
		abort_exchange(r, MET_UP_ABORTED, "idle timeout while streaming");
		return;
	case CONN_TUNNEL:
		MET_INC(c->wk->m->guard[MET_G_TUNNEL_IDLE]);
		conn_close(c, "tunnel idle timeout");
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
