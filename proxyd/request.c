/*
 * proxyd/request.c — a request head's three stages (request.h): route
 * query, guards (proxyd/guard.c), action.
 */
#include "proxyd/request.h"

#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "proxyd/accesslog.h"
#include "proxyd/backend.h"
#include "proxyd/cache.h"
#include "proxyd/client.h"
#include "proxyd/exchange.h"
#include "proxyd/filter.h"
#include "proxyd/guard.h"
#include "proxyd/h1_frame.h"
#include "proxyd/h1_head.h"
#include "proxyd/local.h"
#include "proxyd/route.h"

static struct log_ratelimit rl_parse = LOG_RATELIMIT_INIT(5000);
static struct log_ratelimit rl_rewrite = LOG_RATELIMIT_INIT(5000);

struct hdr_ctx { const struct http_msg *m; const uint8_t *d; };

static int
has_header(void *ctx, const char *name, const char *value)
{
	const struct hdr_ctx *x = ctx;
	size_t nl = strlen(name), vl = value ? strlen(value) : 0;

	for (int i = 0; i < x->m->nheaders; i++) {
		struct http_span n = x->m->headers[i].name, v = x->m->headers[i].value;
		if (!h1_span_is(x->d, n, name, nl))
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
	int i = r->gen->hdr_request_id ? http_find_header(&r->rq.head, d, "x-request-id") : -1;

	if (i >= 0) {
		struct http_span v = r->rq.head.headers[i].value;
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
		uint32_t x = worker_rand(exch_wk(r));
		for (int j = 0; j < 8; j++)
			r->reqid[k * 8 + j] = hex[(x >> (j * 4)) & 15];
	}
	r->reqid[32] = '\0';
}

static uint64_t
hash_key(const struct req *r, const struct pd_upstream *u, const uint8_t *d)
{
	static const uint8_t self[4] = { 127, 0, 0, 1 };
	const struct conn *c = r->c;

	switch (u->hash_key) {
	case PD_HASH_HOST:
		if (r->rq.head.host_idx >= 0) {
			struct http_span v = r->rq.head.headers[r->rq.head.host_idx].value;
			return balance_hash(d + v.off, v.len);
		}
		return 0;
	case PD_HASH_URI:
		return balance_hash(d + r->rq.head.target.off, r->rq.head.target.len);
	case PD_HASH_CLIENT_IP:
		break;
	}
	/* An internal exchange's client is this host (h1_request_head). */
	if (c == NULL)
		return balance_hash(self, sizeof(self));
	return balance_hash(c->peer, c->family == 2 ? 4 : 16);
}

/* The exchange starts: configuration generation held, request id, access
 * log fields, the request's framing and whether it may become a tunnel.
 * c NULL (an internal exchange): no access log line. */
static void
request_begin(struct conn *c, struct req *r, const uint8_t *d)
{
	struct worker *wk = r->wk;
	const struct http_msg *m = &r->rq.head;

	r->gen = wk->gen;
	worker_gen_acquire(wk, r->gen);
	r->t_start = exch_now_us();
	if (c != NULL)
		c->state = CONN_PROXY;
	make_request_id(r, d);
	if (c != NULL)
		accesslog_begin(r, c, d);
	r->is_head = m->method == HTTP_M_HEAD;
	r->keep_client = http_keep_alive(m) && !wk->draining;
	r->rq.body = http_request_body(m);
	r->rq.left = r->rq.body == HTTP_BODY_LENGTH ? (uint64_t)m->content_length : 0;
	if (r->rq.body == HTTP_BODY_CHUNKED)
		http_chunked_init(&r->h1q.ch);
	r->client_100 = m->expect_continue;
	/* Only a WebSocket handshake (RFC 6455 §4.1: GET, no body,
	 * "Upgrade: websocket" named by Connection) becomes a tunnel. Any
	 * other Upgrade (h2c with HTTP2-Settings, or anything else) is
	 * stripped and the request forwarded as a plain HTTP/1.1 one, as
	 * RFC 9110 §7.8 lets a server ignore Upgrade: a backend that
	 * switched to a protocol proxyd does not parse would let the client
	 * speak past every check here. Stripping, not refusing, because the
	 * client must fall back to HTTP/1.1 anyway (h2c clients do). */
	r->upgrade = m->upgrade_ws && m->conn_upgrade && m->method == HTTP_M_GET && r->rq.body == HTTP_BODY_NONE;
	if (m->has_upgrade_hdr && !r->upgrade)
		MET_INC(wk->m->upgrade_stripped);
	if (m->conn_ignored != 0)
		exch_count_conn_ignored(wk->m, MET_SIDE_REQUEST, m->conn_ignored);
}

/* The route query: on Host (without port), the path (without query), the
 * method and headers. Sets r->rt and the metrics series; returns the
 * route's index, or -1 when the request was answered here (414, the
 * listener's redirect to https, 404 without a route). */
static int
route_query(struct conn *c, struct req *r, const uint8_t *d)
{
	struct worker *wk = r->wk;
	const struct http_msg *m = &r->rq.head;
	struct route_req q;
	struct hdr_ctx hx = { m, d };
	const char *t;
	size_t tl;
	char tgt[8192];
	int ri;

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
	if (h1_target_parts(r, d, &t, &tl, tgt, sizeof(tgt)) == -1) {
		MET_INC(wk->m->guard[MET_G_URI_TOO_LONG]);
		buf_consume(r->rq.in, m->header_bytes);
		local_respond(r, 414, "414 URI Too Long\n", NULL, 1);
		return -1;
	}
	if (c != NULL && c->lo != NULL && c->lo->redirect_https) {
		local_redirect_https(c, r, q.host, q.host_len, t, tl);
		return -1;
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
	if (r->rq.body == HTTP_BODY_NONE)
		r->rq.done = 1;
	if (ri < 0) {
		buf_consume(r->rq.in, m->header_bytes);
		local_respond(r, 404, "404 Not Found: no route\n", NULL, 1);
		return -1;
	}
	r->rt = &r->gen->routes[ri];
	r->series = r->gen->route_series[r->gen->route_series_off[ri]];
	return ri;
}

/* The route's action: a redirect or a fixed response from the local
 * responder, or proxying (split to an upstream, the head rewritten, the
 * backend connected). */
static void
request_action(struct req *r, const uint8_t *d, int ri)
{
	struct worker *wk = r->wk;
	const struct http_msg *m = &r->rq.head;

	if (r->rt->action == ROUTE_REDIRECT) {
		buf_consume(r->rq.in, m->header_bytes);
		local_respond(r, r->rt->status, NULL, r->rt->location, 1);
		return;
	}
	if (r->rt->action == ROUTE_RESPOND) {
		buf_consume(r->rq.in, m->header_bytes);
		local_respond(r, r->rt->status, r->rt->body, NULL, 1);
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
		buf_consume(r->rq.in, m->header_bytes);
		local_respond(r, 503, "503 Service Unavailable: no upstream\n", NULL, 1);
		return;
	}
	/* A route with a cache answers a fresh stored response itself (or
	 * waits for the response another request is fetching). */
	if (r->rt->cache != NULL && cache_request(r, d) == 1)
		return;
	request_forward(r, d);
}

void
request_forward(struct req *r, const uint8_t *d)
{
	struct worker *wk = r->wk;
	const struct http_msg *m = &r->rq.head;
	int rc;

	if ((rc = h1_request_head(r, d)) < 0) {
		buf_consume(r->rq.in, m->header_bytes);
		if (rc == -2) {
			/* The rewritten target does not fit: fail the request. Sending
			 * the original would reach the backend with a path the route's
			 * rewrite was meant to hide or move. RFC 9110 §15.5.15: the
			 * client's target is too long to be served once rewritten. */
			MET_INC(wk->m->guard[MET_G_REWRITE_OVERFLOW]);
			log_rl_warnx(&rl_rewrite, ev_now(wk->loop), "conn %llu: route %s: rewritten target too long, 414",
			    r->c != NULL ? (unsigned long long)r->c->id : 0, r->rt->name);
			local_respond(r, 414, "414 URI Too Long: rewritten target too long\n", NULL, 1);
			return;
		}
		local_respond(r, 500, "500 Internal Server Error: out of memory\n", NULL, 0);
		return;
	}
	if (r->cache != NULL)
		cache_request_head(r);
	r->key_hash = r->gen->upstreams[r->up_idx].algo == BAL_HASH ? hash_key(r, &r->gen->upstreams[r->up_idx], d) : 0;
	filter_request(r, d);
	buf_consume(r->rq.in, m->header_bytes);
	if ((rc = client_req_advance(r)) < 0) {
		exch_body_error(r, rc);
		return;
	}
	backend_connect(r);
}

/* A whole request head is in c's buffer: route query, guards, action.
 * The guards are the listener's and the client's (ACLs, rate limits, body
 * limits): an internal exchange has neither, and its request is one proxyd
 * made itself, so it takes none of them. */
static void
start_request(struct conn *c, struct req *r)
{
	const uint8_t *d = buf_rptr(r->rq.in);
	int ri;

	request_begin(c, r, d);
	if ((ri = route_query(c, r, d)) < 0)
		return;
	if (c != NULL && guard_check(c, r, d) == -1)
		return;
	request_action(r, d, ri);
}

void
request_head(struct conn *c)
{
	struct worker *wk = c->wk;
	struct req *r = c->req;

	if (r == NULL) {
		struct http_limits lim;
		if ((r = c->req = exch_alloc(wk, c)) == NULL) {
			conn_close(c, "out of memory");
			return;
		}
		r->front = &client_front;
		r->rq.in = &c->ep.in;
		exch_parser_limits(wk->gen, &lim);
		http_parser_init(&r->h1q.p, 0, &lim);
		if (c->state == CONN_IDLE) {
			c->state = CONN_HEAD;
			exch_timer_arm(r, wk->gen->to.client_header);
		}
	}
	request_parse(c, r);
}

void
request_parse(struct conn *c, struct req *r)
{
	struct worker *wk = r->wk;
	int rc;

	rc = http_parse(&r->h1q.p, &r->rq.head, buf_rptr(r->rq.in), buf_len(r->rq.in));
	if (rc == HTTP_AGAIN)
		return;
	/* Everything after this point (routes, guards, rewrite, the forwarded
	 * request line, the access log) sees the normalised path, so what was
	 * matched is what the backend gets. The parser refused every path
	 * without a normal form; -1 here would be a parser bug, still a 400. */
	if (rc == HTTP_OK && http_target_normalize(&r->rq.head, buf_rptr(r->rq.in)) == -1) {
		r->h1q.p.status = 400;
		r->h1q.p.reason = "bad-path";
		rc = HTTP_ERROR;
	}
	if (rc == HTTP_ERROR) {
		char ab[48], body[128];
		unsigned long long id;
		const char *peer = exch_who(r, &id, ab, sizeof(ab));
		metrics_parse_error(wk->m, r->h1q.p.reason);
		log_rl_warnx(&rl_parse, ev_now(wk->loop), "conn %llu %s: bad request: %s (%d)", id, peer,
		    r->h1q.p.reason ? r->h1q.p.reason : "?", r->h1q.p.status);
		r->gen = wk->gen;
		worker_gen_acquire(wk, r->gen);
		r->t_start = exch_now_us();
		r->keep_client = 0;
		if (c != NULL)
			c->state = CONN_PROXY;
		/* Nothing of the request can be trusted: drop what was read. */
		buf_consume(r->rq.in, buf_len(r->rq.in));
		snprintf(body, sizeof(body), "%d %s: %s\n", r->h1q.p.status, http_status_text(r->h1q.p.status),
		    r->h1q.p.reason ? r->h1q.p.reason : "malformed request");
		local_respond(r, r->h1q.p.status, body, NULL, 0);
		return;
	}
	start_request(c, r);
}
