/*
 * proxyd/guard.c — a route's guards on a request (guard.h).
 */
#include "proxyd/guard.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxyd/exchange.h"
#include "proxyd/local.h"
#include "proxyd/ratelimit.h"
#include "proxyd/route.h"

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
		int i = http_find_header(&r->rq.head, d, L->header);
		if (i >= 0)
			return rl_key_bytes(RL_KEY_HEADER, d + r->rq.head.headers[i].value.off, r->rq.head.headers[i].value.len, key);
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

int
guard_check(struct conn *c, struct req *r, const uint8_t *d)
{
	const struct route *rt = r->rt;
	const struct http_msg *m = &r->rq.head;
	struct wmetrics *wm = c->wk->m;
	char extra[96];

	if ((rt->nallow | rt->ndeny) != 0 &&
	    !route_client_allowed(rt, c->family == 2 ? AF_INET : AF_INET6, c->peer)) {
		MET_INC(wm->guard[MET_G_ROUTE_ACL]);
		buf_consume(r->rq.in, m->header_bytes);
		local_respond(r, 403, "403 Forbidden\n", NULL, 1);
		return -1;
	}
	if (rt->nallow_methods != 0 && !route_method_allowed(rt, (const char *)d + m->method_s.off, m->method_s.len)) {
		/* RFC 9110 §15.5.6: a 405 carries Allow. */
		MET_INC(wm->guard[MET_G_METHOD]);
		buf_consume(r->rq.in, m->header_bytes);
		snprintf(extra, sizeof(extra), "Allow: %.80s\r\n", rt->allow_hdr);
		local_respond_x(r, 405, "405 Method Not Allowed\n", NULL, 1, extra);
		return -1;
	}
	r->max_body = rt->max_body >= 0 ? (uint64_t)rt->max_body : r->gen->max_body;
	if (r->rq.body == HTTP_BODY_LENGTH && route_body_too_large(r->max_body, (uint64_t)m->content_length)) {
		/* RFC 9110 §15.5.14; the body is not read, so the connection
		 * closes after the answer (local_respond keeps only finished requests). */
		MET_INC(wm->guard[MET_G_BODY_SIZE]);
		buf_consume(r->rq.in, m->header_bytes);
		local_respond(r, 413, "413 Content Too Large\n", NULL, 0);
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
			buf_consume(r->rq.in, m->header_bytes);
			snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", ra);
			local_respond_x(r, 429, v == RL_BANNED ? "429 Too Many Requests: banned\n" : "429 Too Many Requests\n",
			    NULL, v != RL_BANNED, extra);
			return -1;
		}
	}
	if (r->rq.body != HTTP_BODY_NONE && r->gen->min_body_rate > 0)
		r->rate_t0 = ev_now(c->wk->loop);
	if (m->expect_other) {
		/* RFC 9110 §10.1.1: an expectation proxyd cannot meet. */
		buf_consume(r->rq.in, m->header_bytes);
		local_respond(r, 417, "417 Expectation Failed\n", NULL, 0);
		return -1;
	}
	return 0;
}
