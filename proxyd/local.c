/*
 * proxyd/local.c — the local responder (local.h): a source of the exchange
 * whose whole response (head and short body) is written into r->rhead at
 * once, so there is nothing to resume, no request body to take (what the
 * client still sends is dropped) and nothing to release.
 */
#include "proxyd/local.h"

#include <stdio.h>
#include <string.h>

#include "proxyd/cache.h"
#include "proxyd/exchange.h"
#include "proxyd/filter.h"

static void
local_nothing(struct req *r)
{
	(void)r;
}

static int
local_accepts(const struct req *r)
{
	(void)r;
	return 0;
}

static void
local_timeout(struct req *r)
{
	exch_abort(r, "timeout");
}

static void
local_release(struct req *r, int clean)
{
	(void)r;
	(void)clean;
}

const struct exch_source local_source = { "local", local_nothing, local_nothing, local_accepts, local_timeout, local_release };

/* Answers r with status and a short body (text/plain), or an empty body with
 * a Location for redirects; extra (may be NULL) is more header lines, each
 * ending in CRLF. Closes the client afterwards unless keep is set and the
 * request was fully read. */
void
local_respond_x(struct req *r, int status, const char *body, const char *location, int keep, const char *extra)
{
	struct conn *c = r->c;
	struct buf *h = &r->rhead;
	size_t blen = body ? strlen(body) : 0;

	/* An error the route's cache can answer with a stale object
	 * (stale-if-error, RFC 5861 §4). */
	if (r->cache != NULL && status >= 500 && cache_stale_on_error(r, status))
		return;
	exch_attach(r, &local_source);
	r->keep_client = keep && r->keep_client && r->rq.done && !exch_wk(r)->draining;
	if (!r->tunnel && r->rq.pass > 0) {
		/* Body bytes that never went out belong to this request, not
		 * to the next one. */
		buf_consume(r->rq.in, r->rq.pass);
		r->rq.pass = 0;
	}
	h->rpos = h->wpos = 0;
	r->rhead_off = 0;
	r->rs.in = NULL;
	r->rs.pass = 0;
	r->fpass = 0;
	buf_appendf(h, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n", status,
	    http_status_text(status), blen);
	if (location != NULL)
		buf_appendf(h, "Location: %s\r\n", location);
	if (extra != NULL)
		buf_append(h, extra, strlen(extra));
	/* The header stage of the response filters applies to every answer,
	 * fixed responses included (route response_headers). */
	filter_select(r, 0, NULL);
	if (r->fc.n > 0)
		filter_hdr_add(r, h);
	if (r->reqid[0] != '\0')
		buf_appendf(h, "X-Request-Id: %s\r\n", r->reqid);
	if (c != NULL && c->lo != NULL && c->lo->hsts_len > 0)
		buf_append(h, c->lo->hsts, c->lo->hsts_len);
	buf_appendf(h, "Connection: %s\r\n\r\n", r->keep_client ? "keep-alive" : "close");
	if (blen > 0 && !r->is_head)
		buf_append(h, body, blen);
	r->status = status;
	r->local = 1;
	r->rhead_done = 1;
	r->rs.done = 1;
	exch_timer_arm(r, r->gen ? r->gen->to.client_idle : 10000);
	exch_resp_continue(r);
}

void
local_respond(struct req *r, int status, const char *body, const char *location, int keep)
{
	local_respond_x(r, status, body, location, keep, NULL);
}

void
local_redirect_https(struct conn *c, struct req *r, const char *host, size_t host_len, const char *t, size_t tl)
{
	char loc[8192 + 320], port[8] = "";
	int n;

	buf_consume(r->rq.in, r->rq.head.header_bytes);
	if (host_len == 0 || host_len > 255) {
		local_respond(r, 400, "400 Bad Request: no usable Host to redirect to\n", NULL, 0);
		return;
	}
	if (c->lo->redirect_port != 0 && c->lo->redirect_port != 443)
		snprintf(port, sizeof(port), ":%u", (unsigned)c->lo->redirect_port);
	n = snprintf(loc, sizeof(loc), "https://%.*s%s%.*s", (int)host_len, host, port, (int)tl, t);
	if (n < 0 || (size_t)n >= sizeof(loc)) {
		local_respond(r, 414, "414 URI Too Long\n", NULL, 1);
		return;
	}
	local_respond(r, 301, NULL, loc, 1);
}
