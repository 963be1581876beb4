/*
 * proxyd/h2.c — the HTTP/2 client front (h2.h).
 *
 * Reentrancy: nghttp2 calls us back from inside mem_recv (frames received)
 * and mem_send (the body source read). What those callbacks start may come
 * back here (a local answer flushes its response at once, a backend that
 * failed to connect answers 502), and a send may close the stream whose
 * exchange asked for it. So the front's operations never send: they ask
 * (h2_kick), and h2_read, h2_send's own loop or the deferred queue sends.
 * h->depth counts the nghttp2 calls under way; while it is not 0 the
 * session is not freed (h->dead), the outermost caller does it.
 */
#include "proxyd/h2.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "proxyd/client.h"
#include "proxyd/exchange.h"
#include "proxyd/local.h"
#include "proxyd/request.h"
#include "proxyd/tls.h"

/* Frames waiting for the socket: no more are taken from nghttp2 past this,
 * and the client is not read while they wait (a client that does not read
 * what it asks for, PING or SETTINGS, stops being read). */
#define H2_OUT_HIGH (64u * 1024)
/* The connection's receive window: several streams' initial windows, so
 * one stalled stream does not stall the others. */
#define H2_CONN_WINDOW (1 << 20)
/* Fields of one response head (the parser's limit on a backend's, plus
 * what proxyd adds). */
#define H2_MAX_RESP_FIELDS 320

struct h2stream;

struct h2conn {
	nghttp2_session *ss;
	struct conn *c;
	struct buf out;                 /* serialized frames for the socket */
	size_t out_off;                 /* bytes of out already written */
	struct h2stream *streams;       /* every stream we hold state for */
	struct h2stream *drained;       /* streams whose passed body nghttp2 took */
	uint32_t nlive;                 /* streams with an exchange */
	int depth;                      /* nghttp2 calls under way */
	/* Budgets (token buckets, tokens x 1000, refilled per ms). */
	uint64_t rst_tok, ctrl_tok, tok_t;
	unsigned send_again:1, dead:1, draining:1, settings_acked:1, calm:1;
	unsigned noticed:1;             /* drain: shutdown notice sent, final GOAWAY after the PING's ACK */
};

/* The PING that follows a drain's shutdown notice (h2_drain). */
static const uint8_t drain_ping[8] = { 't', 'd', 'm', 'd', 'r', 'a', 'i', 'n' };

static void drain_final(struct h2conn *h);

struct h2stream {
	struct h2stream *next, *prev, *dnext;
	struct h2conn *h;
	struct req *r;                  /* NULL before the head is whole and after the exchange ended */
	int32_t id;
	struct buf in;                  /* the request as HTTP/1.1: head, then body (chunked without content-length) */
	struct buf hb;                  /* regular fields, one "name: value\r\n" line each */
	struct buf ck;                  /* cookie crumbs joined (RFC 9113 §8.2.3) */
	char method[32], scheme[8];
	struct buf path, auth, host;
	size_t hlist;                   /* header list size so far (RFC 9113 §6.5.2) */
	size_t unacked;                 /* DATA bytes not yet given back to flow control */
	struct ev_timer tm;
	int status;                     /* a refusal to answer once the head is whole (431), 0 none */
	unsigned chunked:1, end_recv:1, head_sent:1, eof_sent:1, in_drained:1, has_cl:1, has_auth:1,
	    has_host:1, reset:1;
};

static struct log_ratelimit rl_h2 = LOG_RATELIMIT_INIT(5000);

static const struct exch_front h2_front;

/* ---- budgets ---------------------------------------------------------- */

static void
tok_refill(struct h2conn *h, const struct pd_h2 *cf)
{
	uint64_t now = ev_now(h->c->wk->loop), el = now - h->tok_t;

	if (el == 0)
		return;
	h->tok_t = now;
	h->rst_tok += el * cf->rst_rate;
	if (h->rst_tok > (uint64_t)cf->rst_burst * 1000)
		h->rst_tok = (uint64_t)cf->rst_burst * 1000;
	h->ctrl_tok += el * cf->ctrl_rate;
	if (h->ctrl_tok > (uint64_t)cf->ctrl_burst * 1000)
		h->ctrl_tok = (uint64_t)cf->ctrl_burst * 1000;
}

/* A flood: GOAWAY ENHANCE_YOUR_CALM (RFC 9113 §5.4.1, §10.5) and the
 * connection closes once it is written. */
static void
h2_calm(struct h2conn *h, int kind, const char *why)
{
	char ab[48];

	if (h->calm)
		return;
	h->calm = 1;
	MET_INC(h->c->wk->m->h2_flood[kind]);
	log_rl_warnx(&rl_h2, ev_now(h->c->wk->loop), "conn %llu %s: HTTP/2 %s: GOAWAY", (unsigned long long)h->c->id,
	    conn_peer_str(h->c, ab, sizeof(ab)), why);
	nghttp2_session_terminate_session(h->ss, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* 1 when a token was there, else the connection is told to calm down. */
static int
spend(struct h2conn *h, uint64_t *tok, int kind, const char *why)
{
	tok_refill(h, &h->c->wk->gen->h2);
	if (*tok >= 1000) {
		*tok -= 1000;
		return 1;
	}
	h2_calm(h, kind, why);
	return 0;
}

/* ---- streams ---------------------------------------------------------- */

static void stream_timeout(struct ev_loop *loop, struct ev_timer *t);

static struct h2stream *
stream_new(struct h2conn *h, int32_t id)
{
	struct h2stream *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->h = h;
	st->id = id;
	buf_init(&st->in);
	buf_init(&st->hb);
	buf_init(&st->ck);
	buf_init(&st->path);
	buf_init(&st->auth);
	buf_init(&st->host);
	ev_timer_init(&st->tm, stream_timeout, st);
	st->next = h->streams;
	if (h->streams != NULL)
		h->streams->prev = st;
	h->streams = st;
	return st;
}

/* Gives the DATA bytes the exchange took back to flow control (RFC 9113
 * §6.9): the client may send as much again. */
static void
stream_ack(struct h2stream *st)
{
	if (st->unacked > 0 && !st->h->dead) {
		nghttp2_session_consume(st->h->ss, st->id, st->unacked);
		st->unacked = 0;
	}
}

static void
conn_idle_arm(struct h2conn *h)
{
	const struct pd_h2 *cf = &h->c->wk->gen->h2;

	if (h->nlive == 0 && !h->c->closing)
		ev_timer_start(h->c->wk->loop, &h->c->timer, h->settings_acked ? cf->idle_ms : cf->settings_ms);
}

/* The stream's exchange ends (finished, aborted, or its stream closed). */
static void
stream_unbind(struct h2stream *st)
{
	struct h2conn *h = st->h;

	if (st->r == NULL)
		return;
	st->r = NULL;
	ev_timer_stop(h->c->wk->loop, &st->tm);
	h->nlive--;
	stream_ack(st);
	conn_idle_arm(h);
}

static void
stream_free(struct h2stream *st)
{
	struct h2conn *h = st->h;

	if (st->r != NULL) {
		struct req *r = st->r;
		stream_unbind(st);
		exch_release_req(r);
	}
	if (st->in_drained) {
		struct h2stream **pp = &h->drained;
		while (*pp != st)
			pp = &(*pp)->dnext;
		*pp = st->dnext;
	}
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	buf_fini(&st->in);
	buf_fini(&st->hb);
	buf_fini(&st->ck);
	buf_fini(&st->path);
	buf_fini(&st->auth);
	buf_fini(&st->host);
	free(st);
}

static void
stream_reset(struct h2stream *st, uint32_t code)
{
	if (st->reset || st->h->dead)
		return;
	st->reset = 1;
	MET_INC(st->h->c->wk->m->h2_rst_sent);
	nghttp2_submit_rst_stream(st->h->ss, NGHTTP2_FLAG_NONE, st->id, code);
}

static void h2_send(struct h2conn *h);

/* Frames are waiting for nghttp2 to serialize: written from the loop that
 * runs now (inside h2_read or h2_send), else from the deferred queue of
 * this iteration. Never from here: the exchange that asked may end (and
 * its stream be freed) inside a send. */
static void
h2_kick(struct h2conn *h)
{
	h->send_again = 1;
	if (h->depth == 0 && !h->dead)
		ev_defer(h->c->wk->loop, &h->c->ep.defer);
}

/* ---- the front's operations (exch_front) -------------------------------- */

static int
lower_eq(const uint8_t *p, size_t n, const char *lit)
{
	if (n != strlen(lit))
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (uint8_t)(ch + 32);
		if (ch != (uint8_t)lit[i])
			return 0;
	}
	return 1;
}

/* Connection-specific fields (RFC 9113 §8.2.2) and the HTTP/1 framing
 * proxyd wrote: none of them goes into an HTTP/2 response. */
static int
resp_field_dropped(const uint8_t *n, size_t l)
{
	return lower_eq(n, l, "connection") || lower_eq(n, l, "keep-alive") || lower_eq(n, l, "proxy-connection") ||
	    lower_eq(n, l, "transfer-encoding") || lower_eq(n, l, "upgrade") || lower_eq(n, l, "te");
}

/* The data source of a response stream: what is left of r->rhead after the
 * head (a local answer's body), then the body bytes passed (the filters'
 * output or the source's buffer). The EOF goes with the last byte once the
 * body is done. */
static ssize_t
body_read(nghttp2_session *ss, int32_t id, uint8_t *out, size_t len, uint32_t *flags, nghttp2_data_source *src,
    void *ud)
{
	struct h2stream *st = src->ptr;
	struct h2conn *h = ud;
	struct req *r = st->r;
	size_t n = 0, k;

	(void)ss;
	(void)id;
	if (r == NULL) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		st->eof_sent = 1;
		return 0;
	}
	if (r->rhead_off < buf_len(&r->rhead)) {
		k = buf_len(&r->rhead) - r->rhead_off;
		k = k < len ? k : len;
		memcpy(out, buf_rptr(&r->rhead) + r->rhead_off, k);
		r->rhead_off += k;
		n += k;
	}
	if (r->fc.nbody > 0) {
		k = r->fpass < len - n ? r->fpass : len - n;
		if (k > 0) {
			memcpy(out + n, buf_rptr(&r->fout), k);
			buf_consume(&r->fout, k);
			r->fpass -= k;
			n += k;
		}
	} else if (r->rs.in != NULL) {
		k = r->rs.pass < len - n ? r->rs.pass : len - n;
		if (k > 0) {
			memcpy(out + n, buf_rptr(r->rs.in), k);
			buf_consume(r->rs.in, k);
			r->rs.pass -= k;
			n += k;
		}
	}
	r->bytes_out += n;
	if (r->rhead_off >= buf_len(&r->rhead) && (r->fc.nbody > 0 ? r->fpass : r->rs.pass) == 0) {
		if (r->rs.done) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			st->eof_sent = 1;
		}
		/* The source may go on (or the exchange finish) once the
		 * bytes are out of its buffer: after this mem_send round. */
		if (!st->in_drained) {
			st->in_drained = 1;
			st->dnext = h->drained;
			h->drained = st;
		}
		if (n == 0 && !r->rs.done)
			return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

/* Maps the HTTP/1.1 head at r->rhead + rhead_off to HTTP/2 fields and
 * submits it: interim heads (1xx) as HEADERS, the final one with the body
 * to follow as DATA. 1 the final head went, 0 not whole yet, -1 error. */
static int
submit_head(struct h2stream *st, struct req *r)
{
	struct h2conn *h = st->h;

	while (r->rhead_off < buf_len(&r->rhead)) {
		const uint8_t *p = buf_rptr(&r->rhead) + r->rhead_off, *end = buf_rptr(&r->rhead) + buf_len(&r->rhead);
		const uint8_t *e = memmem(p, (size_t)(end - p), "\r\n\r\n", 4), *q;
		nghttp2_nv nv[H2_MAX_RESP_FIELDS];
		uint8_t low[16384];         /* the names, lower-cased */
		char status[4];
		size_t nn = 0, lo = 0;
		int code, rv;

		if (e == NULL || e - p < 12)
			return e == NULL ? 0 : -1;
		memcpy(status, p + 9, 3);
		status[3] = '\0';
		code = atoi(status);
		nv[nn++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE };
		q = memchr(p, '\n', (size_t)(e - p)) + 1;
		while (q < e + 2) {
			const uint8_t *le = memchr(q, '\r', (size_t)(e + 2 - q)), *colon = memchr(q, ':', (size_t)(le - q));
			size_t nl, i;
			const uint8_t *v;

			if (colon == NULL)
				return -1;
			nl = (size_t)(colon - q);
			v = colon + 1;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			if (!resp_field_dropped(q, nl)) {
				/* RFC 9113 §8.2.1: field names in lower case. More
				 * fields than an HTTP/1 head of ours can carry is a
				 * bug: the stream is reset, never a field dropped. */
				if (nn == H2_MAX_RESP_FIELDS || lo + nl > sizeof(low))
					return -1;
				for (i = 0; i < nl; i++)
					low[lo + i] = (q[i] >= 'A' && q[i] <= 'Z') ? (uint8_t)(q[i] + 32) : q[i];
				nv[nn++] = (nghttp2_nv){ low + lo, (uint8_t *)v, nl, (size_t)(le - v), NGHTTP2_NV_FLAG_NONE };
				lo += nl;
			}
			q = le + 2;
		}
		r->rhead_off = (size_t)(e + 4 - buf_rptr(&r->rhead));
		if (code < 200) {
			/* RFC 9113 §8.1: interim responses are HEADERS without
			 * END_STREAM (101 never comes: no Upgrade reaches a
			 * backend from HTTP/2). */
			if (code != 101 && nghttp2_submit_headers(h->ss, NGHTTP2_FLAG_NONE, st->id, NULL, nv, nn, NULL) != 0)
				return -1;
			continue;
		}
		st->head_sent = 1;
		if (r->rs.done && r->rhead_off >= buf_len(&r->rhead) && (r->fc.nbody > 0 ? r->fpass : r->rs.pass) == 0) {
			st->eof_sent = 1;
			rv = nghttp2_submit_response(h->ss, st->id, nv, nn, NULL);
		} else {
			nghttp2_data_provider dp = { .source.ptr = st, .read_callback = body_read };
			rv = nghttp2_submit_response(h->ss, st->id, nv, nn, &dp);
		}
		return rv == 0 ? 1 : -1;
	}
	return 0;
}

/* flush (exch_front): the head is mapped and submitted, the body handed to
 * nghttp2 as it is read (body_read). 1 once nghttp2 took every byte passed
 * (and the end, when the body is done). */
static int
h2_flush(struct req *r)
{
	struct h2stream *st = r->fctx;
	struct h2conn *h = st->h;

	if (!st->head_sent) {
		int rc = submit_head(st, r);
		if (rc == -1) {
			exch_abort(r, "response head not mappable to HTTP/2");
			return -1;
		}
		if (rc == 0)
			return 0;
	}
	if (st->eof_sent)
		return 1;
	if (r->rhead_off >= buf_len(&r->rhead) && (r->fc.nbody > 0 ? r->fpass : r->rs.pass) == 0 && !r->rs.done)
		return 1;
	nghttp2_session_resume_data(h->ss, st->id);
	h2_kick(h);
	return 0;
}

/* resume (exch_front): the source took every body byte passed: the client
 * gets that much window back. */
static void
h2_resume(struct req *r)
{
	struct h2stream *st = r->fctx;

	stream_ack(st);
	h2_kick(st->h);
}

/* end (exch_front): the response is whole in nghttp2's hands. A request
 * body still coming is read and dropped (RFC 9113 §8.1 lets the server
 * answer before it ended). */
static void
h2_end(struct conn *c, void *fctx, int keep)
{
	struct h2stream *st = fctx;

	(void)c;
	(void)keep;
	stream_unbind(st);
	h2_kick(st->h);
}

/* abort (exch_front): the stream is reset, the connection goes on. */
static void
h2_abort(struct req *r, const char *why)
{
	struct h2stream *st = r->fctx;

	log_debug("conn %llu stream %d: reset: %s", (unsigned long long)r->c->id, (int)st->id, why);
	stream_reset(st, NGHTTP2_INTERNAL_ERROR);
	stream_unbind(st);
	exch_release_req(r);
	h2_kick(st->h);
}

static const struct exch_front h2_front = { "h2", h2_flush, h2_resume, h2_end, h2_abort };

static void
stream_timeout(struct ev_loop *loop, struct ev_timer *t)
{
	struct h2stream *st = t->data;

	(void)loop;
	if (st->r != NULL)
		st->r->src->timeout(st->r);
}

/* ---- request side ----------------------------------------------------- */

/* New request body bytes are in st->in: framed for the exchange and sent
 * on, or dropped when nobody takes them any more. */
static void
body_feed(struct h2stream *st)
{
	struct req *r = st->r;
	int rc;

	if (r == NULL || r->local || r->q_abandon || (r->rq.done && r->rq.pass == 0)) {
		buf_consume(&st->in, buf_len(&st->in));
		stream_ack(st);
		return;
	}
	if ((rc = client_req_advance(r)) < 0) {
		exch_body_error(r, rc);
		return;
	}
	if (r->src->accepts(r))
		r->src->send(r);
}

static int
append_chunk(struct h2stream *st, const uint8_t *p, size_t n)
{
	char hx[24];
	int l = snprintf(hx, sizeof(hx), "%zx\r\n", n);

	return buf_append(&st->in, hx, (size_t)l) | buf_append(&st->in, p, n) | buf_append(&st->in, "\r\n", 2);
}

/* A whole request head: the HTTP/1.1 head written for it goes through the
 * request path (proxyd/request.c) as the exchange of this stream. */
static void
stream_start(struct h2stream *st)
{
	struct h2conn *h = st->h;
	struct conn *c = h->c;
	struct worker *wk = c->wk;
	struct buf *b = &st->in;
	struct http_limits lim;
	struct req *r;

	if (h->draining || h->calm) {
		stream_reset(st, NGHTTP2_REFUSED_STREAM);
		return;
	}
	/* RFC 9113 §8.3.1: :path is origin-form, or "*" for OPTIONS;
	 * CONNECT (§8.5) is not proxied. */
	if (strcmp(st->method, "CONNECT") == 0) {
		stream_reset(st, NGHTTP2_REFUSED_STREAM);
		return;
	}
	if (buf_len(&st->path) == 0 || !(buf_rptr(&st->path)[0] == '/' ||
	    (buf_len(&st->path) == 1 && buf_rptr(&st->path)[0] == '*' && strcmp(st->method, "OPTIONS") == 0))) {
		MET_INC(wk->m->h2_proto_err);
		stream_reset(st, NGHTTP2_PROTOCOL_ERROR);
		return;
	}
	/* §8.3.1: a Host that names another authority makes it malformed. */
	if (st->has_auth && st->has_host && (buf_len(&st->auth) != buf_len(&st->host) ||
	    memcmp(buf_rptr(&st->auth), buf_rptr(&st->host), buf_len(&st->host)) != 0)) {
		MET_INC(wk->m->h2_proto_err);
		stream_reset(st, NGHTTP2_PROTOCOL_ERROR);
		return;
	}
	if ((r = exch_alloc(wk, c)) == NULL) {
		stream_reset(st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	r->front = &h2_front;
	r->fctx = st;
	r->tm = &st->tm;
	r->h2 = 1;
	r->rq.in = b;
	st->r = r;
	h->nlive++;
	ev_timer_stop(wk->loop, &c->timer);
	MET_INC(wk->m->h2_streams);
	if (st->status != 0) {
		/* RFC 9113 §10.5.1: a header list over our limit gets a 431. */
		r->gen = wk->gen;
		worker_gen_acquire(wk, r->gen);
		r->t_start = exch_now_us();
		r->rq.done = 1;
		local_respond(r, st->status, "431 Request Header Fields Too Large\n", NULL, 0);
		return;
	}
	buf_appendf(b, "%s ", st->method);
	buf_append(b, buf_rptr(&st->path), buf_len(&st->path));
	buf_append(b, " HTTP/1.1\r\n", 11);
	if (st->has_auth) {
		buf_append(b, "host: ", 6);
		buf_append(b, buf_rptr(&st->auth), buf_len(&st->auth));
		buf_append(b, "\r\n", 2);
	}
	buf_append(b, buf_rptr(&st->hb), buf_len(&st->hb));
	if (buf_len(&st->ck) > 0) {
		buf_append(b, "cookie: ", 8);
		buf_append(b, buf_rptr(&st->ck), buf_len(&st->ck));
		buf_append(b, "\r\n", 2);
	}
	/* A body of unknown length goes to the backend chunked. */
	if (!st->end_recv && !st->has_cl) {
		st->chunked = 1;
		buf_append(b, "transfer-encoding: chunked\r\n", 28);
	}
	if (buf_append(b, "\r\n", 2) == -1) {
		st->r = NULL;
		h->nlive--;
		exch_free(wk, r);
		stream_reset(st, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	buf_fini(&st->hb);
	buf_fini(&st->ck);
	exch_parser_limits(wk->gen, &lim);
	http_parser_init(&r->h1q.p, 0, &lim);
	exch_timer_arm(r, wk->gen->to.client_header);
	request_parse(c, r);
}

static int
on_begin_headers(nghttp2_session *ss, const nghttp2_frame *f, void *ud)
{
	struct h2conn *h = ud;
	struct h2stream *st;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if ((st = stream_new(h, f->hd.stream_id)) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(ss, f->hd.stream_id, st);
	return 0;
}

static int
copy_field(char *dst, size_t cap, const uint8_t *v, size_t vl)
{
	if (vl == 0 || vl >= cap)
		return -1;
	memcpy(dst, v, vl);
	dst[vl] = '\0';
	return 0;
}

/* One field of a request header block. nghttp2 already enforced RFC 9113
 * §8.2 (lower-case names of token characters, no CR, LF or NUL and no
 * leading or trailing white space in values, no connection-specific field,
 * TE only "trailers", the pseudo-header rules of §8.3); proxyd adds the
 * header list size limit (§6.5.2, §10.5.1), keeps one Host (§8.3.1) and
 * joins cookie crumbs (§8.2.3). */
static int
on_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *n, size_t nl, const uint8_t *v, size_t vl,
    uint8_t flags, void *ud)
{
	struct h2conn *h = ud;
	struct h2stream *st = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id);

	(void)flags;
	if (st == NULL || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (st->r != NULL || st->end_recv)
		return 0;                  /* trailers: not forwarded */
	st->hlist += nl + vl + 32;
	if (st->hlist > h->c->wk->gen->h2.max_header_list) {
		/* Far past the limit: an HPACK bomb expanding a small
		 * block into a huge list; the connection goes. */
		if (st->hlist > 4 * (size_t)h->c->wk->gen->h2.max_header_list) {
			h2_calm(h, MET_H2F_HEADERS, "header list far over the limit (HPACK bomb)");
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		st->status = 431;
		return 0;
	}
	if (st->status != 0)
		return 0;
	if (nl > 0 && n[0] == ':') {
		if (nl == 7 && memcmp(n, ":method", 7) == 0)
			return copy_field(st->method, sizeof(st->method), v, vl) == 0 ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		if (nl == 7 && memcmp(n, ":scheme", 7) == 0)
			return copy_field(st->scheme, sizeof(st->scheme), v, vl) == 0 ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		if (nl == 5 && memcmp(n, ":path", 5) == 0)
			return buf_append(&st->path, v, vl) == 0 ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		if (nl == 10 && memcmp(n, ":authority", 10) == 0) {
			st->has_auth = 1;
			return buf_append(&st->auth, v, vl) == 0 ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	if (nl == 6 && memcmp(n, "cookie", 6) == 0) {
		if (buf_len(&st->ck) > 0)
			buf_append(&st->ck, "; ", 2);
		return buf_append(&st->ck, v, vl) == 0 ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	if (nl == 4 && memcmp(n, "host", 4) == 0) {
		if (st->has_host)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		st->has_host = 1;
		buf_append(&st->host, v, vl);
		if (st->has_auth)
			return 0;          /* :authority is the Host line */
	}
	if (nl == 14 && memcmp(n, "content-length", 14) == 0)
		st->has_cl = 1;
	if (buf_append(&st->hb, n, nl) | buf_append(&st->hb, ": ", 2) | buf_append(&st->hb, v, vl) |
	    buf_append(&st->hb, "\r\n", 2))
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	return 0;
}

static int
on_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *p, size_t n, void *ud)
{
	struct h2stream *st = nghttp2_session_get_stream_user_data(ss, id);

	(void)flags;
	(void)ud;
	if (st == NULL) {
		/* A stream we hold nothing for: the connection's window only. */
		nghttp2_session_consume_connection(ss, n);
		return 0;
	}
	st->unacked += n;
	if (st->r == NULL) {
		stream_ack(st);
		return 0;
	}
	if ((st->chunked ? append_chunk(st, p, n) : buf_append(&st->in, p, n)) != 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	body_feed(st);
	return 0;
}

/* The request's end (END_STREAM on DATA, HEADERS or trailers). */
static void
stream_end_recv(struct h2stream *st)
{
	int had = st->end_recv;

	st->end_recv = 1;
	if (had || st->r == NULL)
		return;
	if (st->chunked)
		buf_append(&st->in, "0\r\n\r\n", 5);
	body_feed(st);
}

static int
on_frame_recv(nghttp2_session *ss, const nghttp2_frame *f, void *ud)
{
	struct h2conn *h = ud;
	struct h2stream *st;

	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if ((st = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id)) == NULL)
			return 0;
		if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
			if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
				st->end_recv = 1;
			stream_start(st);
		} else if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
			stream_end_recv(st);
		}
		return 0;
	case NGHTTP2_DATA:
		if (f->hd.length == 0 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
			(void)spend(h, &h->ctrl_tok, MET_H2F_CONTROL, "empty DATA frames flood");
		if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
		    (st = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id)) != NULL)
			stream_end_recv(st);
		return 0;
	case NGHTTP2_RST_STREAM:
		/* CVE-2023-44487: each reset stream cost us a request. */
		(void)spend(h, &h->rst_tok, MET_H2F_RESET, "RST_STREAM over budget (rapid reset)");
		return 0;
	case NGHTTP2_SETTINGS:
		if (f->hd.flags & NGHTTP2_FLAG_ACK) {
			h->settings_acked = 1;
			conn_idle_arm(h);
		} else {
			(void)spend(h, &h->ctrl_tok, MET_H2F_CONTROL, "SETTINGS flood");
		}
		return 0;
	case NGHTTP2_PING:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
			(void)spend(h, &h->ctrl_tok, MET_H2F_CONTROL, "PING flood");
		else if (h->noticed && !h->draining && memcmp(f->ping.opaque_data, drain_ping, sizeof(drain_ping)) == 0)
			drain_final(h);     /* sent by h2_send once nghttp2 returns */
		return 0;
	case NGHTTP2_PRIORITY:
		(void)spend(h, &h->ctrl_tok, MET_H2F_CONTROL, "PRIORITY flood");
		return 0;
	default:
		return 0;
	}
}

static int
on_stream_close(nghttp2_session *ss, int32_t id, uint32_t code, void *ud)
{
	struct h2stream *st = nghttp2_session_get_stream_user_data(ss, id);

	(void)ud;
	if (st == NULL)
		return 0;
	/* The last DATA frame went out in this very mem_send: the exchange
	 * finishes here (its backend connection pooled), not released. */
	if (st->r != NULL && st->eof_sent && code == NGHTTP2_NO_ERROR)
		exch_finish(st->r);
	stream_free(st);
	return 0;
}

static int
on_frame_send(nghttp2_session *ss, const nghttp2_frame *f, void *ud)
{
	struct h2conn *h = ud;

	(void)ss;
	if (f->hd.type == NGHTTP2_GOAWAY)
		MET_INC(h->c->wk->m->h2_goaway_sent);
	return 0;
}

static int
on_invalid_frame(nghttp2_session *ss, const nghttp2_frame *f, int err, void *ud)
{
	struct h2conn *h = ud;

	(void)ss;
	(void)f;
	(void)err;
	MET_INC(h->c->wk->m->h2_proto_err);
	return 0;
}

/* ---- the connection ----------------------------------------------------- */

int
h2_alpn(const struct conn *c)
{
	const uint8_t *p;
	size_t n = c->ep.ssl != NULL ? tls_conn_alpn(c->ep.ssl, &p) : 0;

	return n == 2 && p[0] == 'h' && p[1] == '2';
}

int
h2_start(struct conn *c)
{
	struct worker *wk = c->wk;
	const struct pd_h2 *cf = &wk->gen->h2;
	struct h2conn *h = calloc(1, sizeof(*h));
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry set[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cf->max_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cf->initial_window },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cf->max_header_list },
		{ NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, cf->header_table },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	int rv;

	if (h == NULL) {
		conn_close(c, "out of memory");
		return -1;
	}
	h->c = c;
	buf_init(&h->out);
	if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0) {
		free(h);
		conn_close(c, "out of memory");
		return -1;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
	/* Flow control is ours: a window opens only as the backend takes
	 * the bytes (stream_ack), so buffering per stream stays bounded. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_continuations(opt, cf->max_continuations);
	/* nghttp2's own guards behind ours (the same budget for resets). */
	nghttp2_option_set_stream_reset_rate_limit(opt, cf->rst_burst, cf->rst_rate);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
	rv = nghttp2_session_server_new2(&h->ss, cb, h, opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	if (rv != 0) {
		free(h);
		conn_close(c, "out of memory");
		return -1;
	}
	h->tok_t = ev_now(wk->loop);
	h->rst_tok = (uint64_t)cf->rst_burst * 1000;
	h->ctrl_tok = (uint64_t)cf->ctrl_burst * 1000;
	nghttp2_submit_settings(h->ss, NGHTTP2_FLAG_NONE, set, sizeof(set) / sizeof(set[0]));
	nghttp2_session_set_local_window_size(h->ss, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);
	c->h2 = h;
	c->state = CONN_PROXY;     /* never idle in HTTP/1's sense: drain and stop go through h2_drain */
	MET_INC(wk->m->h2_conns);
	conn_idle_arm(h);
	return 0;
}

static void
h2_free(struct h2conn *h)
{
	nghttp2_session_del(h->ss);
	buf_fini(&h->out);
	free(h);
}

void
h2_conn_close(struct conn *c)
{
	struct h2conn *h = c->h2;

	while (h->streams != NULL) {
		struct h2stream *st = h->streams;
		nghttp2_session_set_stream_user_data(h->ss, st->id, NULL);
		stream_free(st);
	}
	h->dead = 1;
	if (h->depth == 0) {
		c->h2 = NULL;
		h2_free(h);
	}
}

/* After an nghttp2 call: the session freed if the connection closed under
 * it. 1 when c closed. */
static int
after_call(struct h2conn *h)
{
	struct conn *c = h->c;

	if (!h->dead)
		return 0;
	if (h->depth == 0 && c->h2 == h) {
		c->h2 = NULL;
		h2_free(h);
	}
	return 1;
}

/* Takes frames from nghttp2 and writes them; exchanges whose passed body
 * nghttp2 took move on. Closes c once the session has nothing more to do
 * (after a GOAWAY). */
static void
h2_send(struct h2conn *h)
{
	struct conn *c = h->c;
	size_t zero = 0;

	if (h->depth > 0 || h->dead) {
		h->send_again = 1;
		return;
	}
	for (int round = 0; round < 1024; round++) {
		struct ep_out q = { &h->out, &h->out_off, NULL, &zero };
		size_t hw, bw;
		int blocked = 0;

		int dry = 0;                /* nghttp2 had nothing more to give */

		h->send_again = 0;
		while (buf_len(&h->out) - h->out_off < H2_OUT_HIGH) {
			const uint8_t *p;
			ssize_t n;

			h->depth++;
			n = nghttp2_session_mem_send(h->ss, &p);
			h->depth--;
			if (after_call(h))
				return;
			if (n < 0) {
				conn_close(c, "HTTP/2 session error");
				return;
			}
			if (n == 0) {
				dry = 1;
				break;
			}
			if (buf_append(&h->out, p, (size_t)n) == -1) {
				conn_close(c, "out of memory");
				return;
			}
		}
		if (h->out_off < buf_len(&h->out)) {
			int rc = ep_flush(&c->ep, &q, 0, &hw, &bw);
			if (rc == -1) {
				conn_close(c, "client write error");
				return;
			}
			if (h->out_off >= buf_len(&h->out)) {
				h->out.rpos = h->out.wpos = 0;
				h->out_off = 0;
			}
			blocked = rc == 0;
		}
		/* Exchanges whose passed bytes nghttp2 took go on: the source
		 * reads more, or the exchange finishes. */
		while (h->drained != NULL) {
			struct h2stream *st = h->drained;
			h->drained = st->dnext;
			st->in_drained = 0;
			if (st->r != NULL) {
				h->depth++;
				exch_resp_continue(st->r);
				h->depth--;
				if (after_call(h))
					return;
			}
		}
		if (blocked)
			return;
		if (!h->send_again && dry && h->drained == NULL)
			goto settled;
	}
	/* A bound on one pass: the rest from the deferred queue, so other
	 * connections get their turn. */
	h->send_again = 1;
	ev_defer(c->wk->loop, &c->ep.defer);
	return;
settled:
	/* Reading stopped while frames piled up (h2_read): they are out. */
	if (c->ep.rd_off && buf_len(&h->out) - h->out_off < H2_OUT_HIGH)
		conn_want(c, 1, c->ep.wr_on);
	if (!nghttp2_session_want_read(h->ss) && !nghttp2_session_want_write(h->ss) && h->out_off >= buf_len(&h->out))
		/* Lingering (RFC 9112 §9.6's reason holds here too): a
		 * close with the client's frames unread would reset the
		 * connection and could discard the GOAWAY before it is read. */
		conn_close_linger(c, h->calm ? "HTTP/2 flood: GOAWAY sent" : "HTTP/2 session done");
}

static void h2_input(struct h2conn *h);

static void
h2_read(struct h2conn *h)
{
	struct conn *c = h->c;
	ssize_t n;

	if (buf_len(&h->out) - h->out_off >= H2_OUT_HIGH) {
		/* The client does not read what it asked for: stop reading it. */
		conn_want(c, 0, 1);
		return;
	}
	if (worker_buf_get(c->wk, &c->ep.in) == -1 || buf_reserve(&c->ep.in, 16384) == -1) {
		conn_close(c, "out of memory");
		return;
	}
	n = ep_fill(&c->ep, SIZE_MAX);
	if (n == EP_AGAIN)
		return;
	if (n <= 0) {
		conn_close(c, n == EP_EOF ? "client closed" : "client read error");
		return;
	}
	h2_input(h);
}

/* What is in the connection's buffer goes to nghttp2, then the frames it
 * queued go out. */
static void
h2_input(struct h2conn *h)
{
	struct conn *c = h->c;
	ssize_t rv;

	h->depth++;
	rv = nghttp2_session_mem_recv(h->ss, buf_rptr(&c->ep.in), buf_len(&c->ep.in));
	h->depth--;
	if (after_call(h))
		return;
	c->ep.in.rpos = c->ep.in.wpos = 0;
	if (rv < 0) {
		char ab[48];
		if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS || rv == NGHTTP2_ERR_FLOODED) {
			/* CVE-2024-27316 class, or frames we must answer piling
			 * up unread: ENHANCE_YOUR_CALM (RFC 9113 §10.5). */
			h2_calm(h, rv == NGHTTP2_ERR_FLOODED ? MET_H2F_CONTROL : MET_H2F_CONTINUATION, nghttp2_strerror((int)rv));
		} else if (rv != NGHTTP2_ERR_CALLBACK_FAILURE) {
			MET_INC(c->wk->m->h2_proto_err);
			nghttp2_session_terminate_session(h->ss, NGHTTP2_PROTOCOL_ERROR);
		}
		log_rl_warnx(&rl_h2, ev_now(c->wk->loop), "conn %llu %s: HTTP/2: %s", (unsigned long long)c->id,
		    conn_peer_str(c, ab, sizeof(ab)), nghttp2_strerror((int)rv));
		/* A connection error (RFC 9113 §5.4.1): GOAWAY with the code
		 * nghttp2 chose, if it queued one, then the close. */
		h2_send(h);
		if (!c->closing && c->state != CONN_LINGER)
			conn_close_linger(c, "HTTP/2 connection error");
		return;
	}
	worker_buf_put(c->wk, &c->ep.in);
	/* A connection that reached a draining proxyd after the drain began
	 * (accepted, or still in its TLS handshake, when the worker's sweep
	 * ran: only connections already speaking HTTP/2 get h2_drain there)
	 * is told to go away as soon as its client has opened a stream, as an
	 * HTTP/1 connection is answered with "Connection: close": the streams
	 * taken so far finish, later ones are refused (RFC 9113 §6.8), and the
	 * client's next connection does not land here. Without it the
	 * connection stayed open until the address moved and its next request
	 * met a dead connection. */
	if (c->wk->draining && !h->noticed && !h->draining && nghttp2_session_get_last_proc_stream_id(h->ss) > 0) {
		h2_drain(c);
		return;
	}
	h2_send(h);
}

/* RFC 9113 §3.4: the client connection preface. */
static const char h2_preface_bytes[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int
h2_prior_knowledge(struct conn *c)
{
	size_t n = buf_len(&c->ep.in), want = sizeof(h2_preface_bytes) - 1;

	if (memcmp(buf_rptr(&c->ep.in), h2_preface_bytes, n < want ? n : want) != 0)
		return 0;                  /* HTTP/1.x */
	if (n < want)
		return 1;                  /* the rest of the preface is on its way */
	if (h2_start(c) == -1)
		return 1;
	/* nghttp2 reads the preface itself, and whatever came with it. */
	h2_input(c->h2);
	return 1;
}

void
h2_io(struct conn *c, uint32_t revents)
{
	struct h2conn *h = c->h2;

	if (ep_write_ready(&c->ep, revents)) {
		h2_send(h);
		if (c->closing)
			return;
	}
	if (ep_read_ready(&c->ep, revents))
		h2_read(h);
	if (!c->closing && ep_more(&c->ep))
		ev_defer(c->wk->loop, &c->ep.defer);
}

void
h2_defer(struct conn *c)
{
	if (!c->closing && c->h2->send_again)
		h2_send(c->h2);
	if (c->closing || !ep_more(&c->ep))
		return;
	h2_read(c->h2);
	if (!c->closing && ep_more(&c->ep))
		ev_defer(c->wk->loop, &c->ep.defer);
}

void
h2_timeout(struct conn *c)
{
	struct h2conn *h = c->h2;

	if (!h->settings_acked) {
		/* RFC 9113 §6.5.3: SETTINGS not acknowledged in time. */
		MET_INC(c->wk->m->h2_settings_timeout);
		nghttp2_session_terminate_session(h->ss, NGHTTP2_SETTINGS_TIMEOUT);
		h2_send(h);
		if (!c->closing && c->state != CONN_LINGER)
			conn_close_linger(c, "HTTP/2 SETTINGS timeout");
		return;
	}
	if (h->nlive > 0)
		return;
	nghttp2_session_terminate_session(h->ss, NGHTTP2_NO_ERROR);
	h2_send(h);
	if (!c->closing && c->state != CONN_LINGER)
		conn_close_linger(c, "HTTP/2 idle timeout");
}

void
h2_drain(struct conn *c)
{
	struct h2conn *h = c->h2;

	if (h->noticed || h->draining || c->closing)
		return;
	h->noticed = 1;
	/* RFC 9113 §6.8: a graceful shutdown first sends GOAWAY with
	 * 2^31-1 (no new streams, none refused yet), then, at least a round
	 * trip later, the final GOAWAY with the last stream taken. The round
	 * trip is a PING: its ACK comes after every frame the client sent
	 * before it read the notice (one TCP stream keeps the order), so a
	 * request already on its way when the drain began is answered, not
	 * refused in a race (a refused stream is safe to retry, but some
	 * clients, curl 7.88 among them, fail it instead). A client that
	 * never answers the PING meets the idle timeout. */
	if (nghttp2_submit_shutdown_notice(h->ss) != 0 ||
	    nghttp2_submit_ping(h->ss, NGHTTP2_FLAG_NONE, drain_ping) != 0) {
		drain_final(h);
		h2_send(h);
		if (!c->closing && c->state != CONN_LINGER && h->nlive == 0 && h->out_off >= buf_len(&h->out))
			conn_close_linger(c, "HTTP/2 drained");
		return;
	}
	h2_send(h);
}

/* The final GOAWAY of a drain: the last stream we took; streams after it
 * were not processed and the client may retry them elsewhere (RFC 9113
 * §6.8). The connection closes once the streams taken have finished
 * (h2_send). */
static void
drain_final(struct h2conn *h)
{
	h->draining = 1;
	nghttp2_submit_goaway(h->ss, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ss), NGHTTP2_NO_ERROR,
	    NULL, 0);
}
