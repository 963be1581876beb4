/*
 * proxyd/h1_head.c — the HTTP/1 heads proxyd writes (h1_head.h).
 */
#include "proxyd/h1_head.h"

#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "lib/net.h"
#include "proxyd/exchange.h"
#include "proxyd/filter.h"
#include "proxyd/h1_frame.h"
#include "proxyd/route.h"
#include "proxyd/sticky.h"

/* An absolute-form target with an empty path becomes "/" (RFC 9112 §3.2.1:
 * the origin form needs a leading slash), also when a query follows
 * ("http://a?x=1" -> "/?x=1"); that one case is copied into `scratch`. */
int
h1_target_parts(const struct req *r, const uint8_t *d, const char **t, size_t *tl,
    char *scratch, size_t scratch_len)
{
	const struct http_msg *m = &r->rq.head;

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
			MET_INC(exch_wk(r)->m->sticky_pinned);
		else
			MET_INC(exch_wk(r)->m->sticky_unknown);
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

int
h1_request_head(struct req *r, const uint8_t *d)
{
	const struct http_msg *m = &r->rq.head;
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
	if (h1_target_parts(r, d, &t, &tl, tgt, sizeof(tgt)) == -1)
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
	/* An internal exchange (a prefetch) is proxyd's own request: its
	 * client is this host. */
	if (c != NULL)
		conn_peer_str(c, ip, sizeof(ip));
	else
		memcpy(ip, "127.0.0.1", sizeof("127.0.0.1"));
	if (m->target_form == HTTP_TF_ABSOLUTE) {
		buf_append(h, "Host: ", 6);
		buf_append(h, d + m->authority.off, m->authority.len);
		buf_append(h, "\r\n", 2);
	}
	for (int i = 0; i < m->nheaders; i++) {
		struct http_span n = m->headers[i].name, v = m->headers[i].value;
		/* Upgrade is named by Connection when upgrading: forwarded then. */
		if (h1_hop_masked(m, i) && !(r->upgrade && m->upgrade_idx == i))
			continue;
		switch (n.len) {
		case 2:
			if (H1_SPAN_IS(d, n, "te"))
				continue;
			break;
		case 4:
			if (m->target_form == HTTP_TF_ABSOLUTE && H1_SPAN_IS(d, n, "host"))
				continue;
			break;
		case 6:
			if (stk != NULL && H1_SPAN_IS(d, n, "cookie") && sticky_cookie(r, stk, d, n, v))
				continue;
			break;
		case 7:
			if (H1_SPAN_IS(d, n, "trailer") || (H1_SPAN_IS(d, n, "upgrade") && !r->upgrade))
				continue;
			break;
		case 9:
			if (g->hdr_real_ip && H1_SPAN_IS(d, n, "x-real-ip"))
				continue;
			break;
		case 10:
			if (H1_SPAN_IS(d, n, "connection") || H1_SPAN_IS(d, n, "keep-alive"))
				continue;
			break;
		case 12:
			if (g->hdr_request_id && H1_SPAN_IS(d, n, "x-request-id"))
				continue;
			break;
		case 14:
			/* Content-Length is re-emitted below from what was
			 * parsed. HTTP2-Settings belongs to "Upgrade: h2c"
			 * (RFC 9113 §3.2.1, hop-by-hop), which is never
			 * forwarded: proxyd speaks HTTP/1.1 to its backends. */
			if (H1_SPAN_IS(d, n, "content-length") || H1_SPAN_IS(d, n, "http2-settings"))
				continue;
			break;
		case 15:
			if (g->hdr_xff && H1_SPAN_IS(d, n, "x-forwarded-for")) {
				if (nxff < 8)
					xff_idx[nxff++] = i;
				continue;
			}
			break;
		case 16:
			if (H1_SPAN_IS(d, n, "proxy-connection"))
				continue;
			break;
		case 17:
			if (H1_SPAN_IS(d, n, "transfer-encoding") ||
			    (g->hdr_xfp && H1_SPAN_IS(d, n, "x-forwarded-proto")))
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
		if (c != NULL && getsockname(c->ep.io.fd, (struct sockaddr *)&ss, &sl) == 0)
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
		if (exch_https(r))
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
		buf_appendf(h, c == NULL || c->family == 2 ? "Forwarded: for=%s;proto=%s\r\n" :
		    "Forwarded: for=\"[%s]\";proto=%s\r\n", ip, exch_https(r) ? "https" : "http");
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
	/* The body client_req_advance() passes is exactly this framing's. */
	h1_append_framing(h, m->chunked, m->content_length);
	if (r->upgrade)
		buf_append(h, "Connection: upgrade\r\n", 21);
	else if (m->version_minor == 0)
		buf_append(h, "Connection: keep-alive\r\n", 24);
	if (buf_append(h, "\r\n", 2) == -1)
		return -1;
	return 0;
}

void
h1_response_head(struct req *r, const uint8_t *d)
{
	const struct http_msg *m = &r->rs.head;
	const struct pd_config *g = r->gen;
	struct buf *h = &r->rhead;
	int tunnel = r->rs.body == HTTP_BODY_TUNNEL;

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
		if (h1_hop_masked(m, i) && !(tunnel && H1_SPAN_IS(d, n, "upgrade")))
			continue;
		switch (n.len) {
		case 2:
			if (H1_SPAN_IS(d, n, "te"))
				continue;
			break;
		case 6:
			if (H1_SPAN_IS(d, n, "server") && g->server_hdr != PD_SERVER_PASS)
				continue;
			break;
		case 7:
			if (H1_SPAN_IS(d, n, "trailer") || (H1_SPAN_IS(d, n, "upgrade") && !tunnel))
				continue;
			break;
		case 10:
			if (H1_SPAN_IS(d, n, "connection") || H1_SPAN_IS(d, n, "keep-alive"))
				continue;
			break;
		case 14:
			/* Re-emitted below from what was parsed. */
			if (H1_SPAN_IS(d, n, "content-length"))
				continue;
			break;
		case 16:
			if (H1_SPAN_IS(d, n, "proxy-connection"))
				continue;
			break;
		case 25:
			/* Ours replaces the backend's (RFC 6797 §8.1: a UA
			 * heeds only the first). */
			if (r->c != NULL && r->c->lo != NULL && r->c->lo->hsts_len > 0 && H1_SPAN_IS(d, n, "strict-transport-security"))
				continue;
			break;
		case 17:
			/* Re-emitted below from what was parsed. */
			if (H1_SPAN_IS(d, n, "transfer-encoding"))
				continue;
			break;
		}
		if (r->fc.ndrop > 0 && filter_hdr_drop(r, (const char *)d + n.off, n.len))
			continue;
		buf_append(h, d + n.off, n.len);
		buf_append(h, ": ", 2);
		buf_append(h, d + v.off, v.len);
		buf_append(h, "\r\n", 2);
	}
	if (g->server_hdr == PD_SERVER_REPLACE)
		buf_appendf(h, "Server: %s\r\n", g->server_value);
	/* RFC 6797 §7.2: only over TLS, which is the only kind of listener
	 * that can carry hsts. */
	if (r->c != NULL && r->c->lo != NULL && r->c->lo->hsts_len > 0)
		buf_append(h, r->c->lo->hsts, r->c->lo->hsts_len);
	if (r->fc.n > 0)
		filter_hdr_add(r, h);
	if (r->sticky && r->srv_idx + 1 != r->sticky_srv) {
		/* Pin the client to the server that answered (proxyd/sticky.c). */
		const struct sticky_conf *sc = g->upstreams[r->up_idx].sticky;
		buf_append(h, sc->set_cookie[r->srv_idx], sc->set_cookie_len[r->srv_idx]);
	}
	if (r->fc.nbody > 0) {
		/* Body filters change the length: chunked to an HTTP/1.1
		 * client, close-delimited to an HTTP/1.0 one (filter.h). */
		if (r->rq.head.version_minor == 1)
			h1_append_framing(h, 1, -1);
	} else switch (r->rs.body) {
	case HTTP_BODY_CHUNKED:
		/* A chunked body to an HTTP/1.0 client (the backend ignored
		 * our HTTP/1.0 request line) goes out de-chunked and
		 * delimited by the close (RFC 9112 §6.1). */
		if (!r->dechunk)
			h1_append_framing(h, 1, -1);
		break;
	case HTTP_BODY_LENGTH:
		h1_append_framing(h, 0, m->content_length);
		break;
	case HTTP_BODY_NONE:
		/* No body follows, but a HEAD or 304 answer's length
		 * describes the representation (RFC 9110 §8.6), and an
		 * explicit "Content-Length: 0" is kept; 1xx and 204 carry
		 * neither (RFC 9110 §8.6, RFC 9112 §6.1). */
		if (m->status >= 200 && m->status != 204)
			h1_append_framing(h, m->chunked && r->rq.head.version_minor == 1, m->content_length);
		break;
	case HTTP_BODY_UNTIL_CLOSE:
	case HTTP_BODY_TUNNEL:
		break;
	}
	if (tunnel)
		buf_append(h, "Connection: upgrade\r\n\r\n", 23);
	else if (!r->keep_client)
		buf_append(h, "Connection: close\r\n\r\n", 21);
	else if (r->rq.head.version_minor == 0)
		buf_append(h, "Connection: keep-alive\r\n\r\n", 26);
	else
		buf_append(h, "\r\n", 2);
}
