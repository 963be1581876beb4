/*
 * proxyd/cache.c — a route's cache on the request path (cache.h): the
 * lookup before forwarding, the cache as an exchange source serving a hit,
 * the store filter on the backend's response, Age and Cache-Status.
 */
#include "proxyd/cache.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proxyd/cache_rule.h"
#include "proxyd/cache_store.h"
#include "proxyd/conn.h"
#include "proxyd/exchange.h"
#include "proxyd/filter.h"
#include "proxyd/h1_frame.h"
#include "proxyd/h1_head.h"
#include "proxyd/local.h"
#include "proxyd/request.h"
#include "proxyd/route.h"

/* RFC 9211 §2: how a request went, as its Cache-Status says. */
enum cache_fwd {
	FWD_HIT = 0,          /* answered from the cache */
	FWD_URI_MISS,         /* nothing stored for the key */
	FWD_VARY_MISS,        /* stored, but for other values of the Vary fields */
	FWD_STALE,            /* stored, no longer fresh */
	FWD_REQUEST,          /* the request asked not to be answered from the cache (no-cache, max-age) */
	FWD_METHOD,           /* a method the cache does not answer */
	FWD_BYPASS,           /* not looked up (a GET with a body, a key too long) */
};
static const char *const fwd_names[] = { "hit", "uri-miss", "vary-miss", "stale", "request", "method", "bypass" };
/* A forwarded response's Cache-Status up to its fwd-status value, per
 * enum cache_fwd (hdr_add()). */
#define FWD_HEAD(w) { "Cache-Status: tandem; fwd=" w "; fwd-status=", sizeof("Cache-Status: tandem; fwd=" w "; fwd-status=") - 1 }
#define FWD_HEAD_ROOM 64    /* each padded to this: copied whole, a fixed size */
static const struct { char s[FWD_HEAD_ROOM]; size_t len; } fwd_heads[] = {
	FWD_HEAD("hit"), FWD_HEAD("uri-miss"), FWD_HEAD("vary-miss"), FWD_HEAD("stale"), FWD_HEAD("request"),
	FWD_HEAD("method"), FWD_HEAD("bypass"),
};

/* The longest normalised value of a Vary field kept per name, and of the
 * key: longer ones are not stored. */
#define VARY_VALUE_MAX 512
#define KEY_MAX 8448

/* How a response from the cache came about. */
enum { SERVED_HIT = 0, SERVED_REVALIDATED, SERVED_STALE, SERVED_COLLAPSED, SERVED_SWR };

/* A miss waiting for another request's fetch of its key looks again after
 * 1 ms, then twice as long each time up to this. */
#define POLL_MAX_MS 32

/* How long a key whose response was not storable skips coalescing
 * (cache_store_mark_pass()), seconds. */
#define PASS_TTL 60

/* Room after a struct cache_req for the key and the request head's copy
 * when it is kept for the next request (r->cache_spare): most requests
 * fit, and one allocation per struct req replaces one per request, a
 * tenth of the miss path's overhead. Larger ones get their own. */
#define CQ_ROOM 2048

/* Room for the conditional fields of a revalidation. */
#define COND_MAX 512

/* What the cache needs of a request head, in one pass over its fields. */
struct rq_facts {
	struct cache_cc cc;             /* Cache-Control, Pragma: no-cache folded in (§5.4) */
	unsigned authorization:1;
	unsigned conditional:1;         /* any precondition field (RFC 9110 §13.1) */
	unsigned if_range:1;
	int16_t inm, ims, range;        /* index of If-None-Match, If-Modified-Since, Range; -1 none */
};

struct cache_req {
	struct cache_store *store;
	const struct pd_cache *cf;
	struct cache_obj *hit;             /* held while a hit is served */
	struct cache_obj *stale;           /* a stale stored object, held: to revalidate, or for stale-if-error */
	struct cache_obj *build;           /* the response being stored */
	struct buf body;                   /* a hit's body, borrowed from hit->body */
	uint8_t fwd;                       /* enum cache_fwd */
	uint8_t why;                       /* enum cache_nostore: why the response was not stored */
	unsigned stored:1;                 /* the response went (or is going) into the store */
	unsigned is_get:1;
	unsigned invalidate:1;             /* an unsafe method: invalidate on success (§4.4) */
	unsigned not_modified:1;           /* a hit answered 304 */
	uint8_t served;                    /* SERVED_*, while hit is set */
	int fwd_status;                    /* SERVED_REVALIDATED/STALE: what the origin (or proxyd) answered */
	uint16_t cond_len;
	struct cache_pending pend;         /* linked while this request's fetch is the key's one */
	uint64_t wait_start;               /* a follower: when it began waiting (ev ms) */
	size_t range_first, range_last;    /* a 206 from a stored 200: the bytes served */
	unsigned partial:1;
	uint32_t poll_ms;
	int64_t request_time;              /* Unix seconds the request was forwarded */
	int64_t age, ttl;                  /* a hit's Age and remaining freshness */
	uint8_t *qcopy;                    /* the request head (its fields' spans in r->rq.head), for Vary */
	struct rq_facts rq;                /* what the request says (scan_request()) */
	uint64_t hash;                     /* of the key */
	size_t klen;
	unsigned pooled:1;                 /* CQ_ROOM bytes after the struct: may be kept as r->cache_spare */
	/* Not zeroed at the start (cq_new()). */
	char cond[COND_MAX];               /* If-None-Match / If-Modified-Since for the origin */
	char key[];                        /* then the request head's copy (qcopy) */
};

static int64_t
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec;
}

/* Whether span s of d names lowercase literal lit, ASCII case-insensitive,
 * 8 bytes at a time: a field name is tchars only (the parser's, RFC 9110
 * §5.6.2), and for a tchar c, c | 0x20 equals a lowercase letter, a digit
 * or '-' exactly when c is that character or (a letter) its uppercase —
 * so one OR and one compare per word, where strncasecmp(3) is a call per
 * field. The request and response scans below run for every miss. */
static inline int
span_is(const uint8_t *d, struct http_span s, const char *lit, size_t len)
{
	const uint8_t *p = d + s.off;
	uint64_t a, b;
	uint32_t x, y;

	if (s.len != len)
		return 0;
	if (len >= 8) {
		for (size_t i = 0; i + 8 < len; i += 8) {
			memcpy(&a, p + i, 8);
			memcpy(&b, lit + i, 8);
			if ((a | 0x2020202020202020ULL) != b)
				return 0;
		}
		/* The last 8 bytes (overlapping the loop's when len is not
		 * a multiple of 8). */
		memcpy(&a, p + len - 8, 8);
		memcpy(&b, lit + len - 8, 8);
		return (a | 0x2020202020202020ULL) == b;
	}
	if (len >= 4) {
		memcpy(&x, p, 4);
		memcpy(&y, lit, 4);
		if ((x | 0x20202020u) != y)
			return 0;
		memcpy(&x, p + len - 4, 4);
		memcpy(&y, lit + len - 4, 4);
		return (x | 0x20202020u) == y;
	}
	for (size_t i = 0; i < len; i++)
		if ((uint8_t)(p[i] | 0x20) != (uint8_t)lit[i])
			return 0;
	return 1;
}
#define SPAN_IS(d, s, lit) span_is((d), (s), lit, sizeof(lit) - 1)

/* Runs fn over every field named lname (lowercase) of m (bytes at d). */
static void
each_field(const struct http_msg *m, const uint8_t *d, const char *lname, void (*fn)(void *ctx, const char *v, size_t n),
    void *ctx)
{
	size_t nl = strlen(lname);

	for (int i = 0; i < m->nheaders; i++) {
		struct http_span n = m->headers[i].name, v = m->headers[i].value;
		if (n.len == nl && strncasecmp((const char *)d + n.off, lname, nl) == 0)
			fn(ctx, (const char *)d + v.off, v.len);
	}
}

struct flag { int set; };

static void
pragma_field(void *ctx, const char *v, size_t n)
{
	/* §5.4: Pragma: no-cache counts as Cache-Control: no-cache when the
	 * request has no Cache-Control. */
	for (size_t i = 0; i + 8 <= n; i++)
		if (strncasecmp(v + i, "no-cache", 8) == 0)
			((struct flag *)ctx)->set = 1;
}

static void
scan_request(const struct http_msg *m, const uint8_t *d, struct rq_facts *q)
{
	struct flag pragma = { 0 };
	int has_cc = 0;

	cache_cc_init(&q->cc);
	q->authorization = q->conditional = q->if_range = 0;
	q->inm = q->ims = q->range = -1;
	for (int i = 0; i < m->nheaders; i++) {
		struct http_span n = m->headers[i].name, v = m->headers[i].value;
		const char *vp = (const char *)d + v.off;
		switch (n.len) {
		case 5:
			if (SPAN_IS(d, n, "range") && q->range < 0)
				q->range = (int16_t)i;
			break;
		case 6:
			if (SPAN_IS(d, n, "pragma"))
				pragma_field(&pragma, vp, v.len);
			break;
		case 8:
			if (SPAN_IS(d, n, "if-match")) {
				q->conditional = 1;
			} else if (SPAN_IS(d, n, "if-range")) {
				q->conditional = 1;
				q->if_range = 1;
			}
			break;
		case 13:
			if (SPAN_IS(d, n, "cache-control")) {
				cache_cc_parse(&q->cc, vp, v.len);
				has_cc = 1;
			} else if (SPAN_IS(d, n, "authorization")) {
				q->authorization = 1;
			} else if (SPAN_IS(d, n, "if-none-match")) {
				q->conditional = 1;
				if (q->inm < 0)
					q->inm = (int16_t)i;
			}
			break;
		case 17:
			if (SPAN_IS(d, n, "if-modified-since")) {
				q->conditional = 1;
				if (q->ims < 0)
					q->ims = (int16_t)i;
			}
			break;
		case 19:
			if (SPAN_IS(d, n, "if-unmodified-since"))
				q->conditional = 1;
			break;
		}
	}
	if (!has_cc && pragma.set)
		q->cc.no_cache = 1;
}

struct norm { char *out; size_t cap, len; int over; };

static void
norm_field(void *ctx, const char *v, size_t n)
{
	struct norm *x = ctx;

	if (cache_vary_norm_append(x->out, x->cap, &x->len, v, n) == -1)
		x->over = 1;
}

/* The request's normalised value of field lname (§4.1); -1 when too long. */
static int
req_value(const struct http_msg *m, const uint8_t *d, const char *lname, char *out, size_t cap, size_t *len)
{
	struct norm x = { out, cap, 0, 0 };

	each_field(m, d, lname, norm_field, &x);
	*len = x.len;
	return x.over ? -1 : 0;
}

/* ---- lookup ----------------------------------------------------------------- */

struct vary_ctx { const struct http_msg *m; const uint8_t *d; };

/* §4.1: a stored response matches when every field its Vary names has the
 * same normalised value in this request as in the one that got it (a
 * field absent from both matches). Store lock held: only string work. */
static int
vary_ok(void *ctx, const struct cache_obj *o)
{
	const struct vary_ctx *x = ctx;
	const char *p = (const char *)o->vary, *end = p + o->vary_len;

	while (p < end) {
		const char *name = p, *val = name + strlen(name) + 1;
		size_t vl = strlen(val), len;
		char cur[VARY_VALUE_MAX];

		if (req_value(x->m, x->d, name, cur, sizeof(cur), &len) == -1 || len != vl || memcmp(cur, val, vl) != 0)
			return 0;
		p = val + vl + 1;
	}
	return 1;
}

/* The key: scheme, host (lowercased) and the normalised target with its
 * query (RFC 9111 §2: the target URI). -1 when it does not fit. */
static int
make_key(const struct req *r, const uint8_t *d, char *k, size_t cap, size_t *klen)
{
	const struct http_msg *m = &r->rq.head;
	const char *t = (const char *)d + m->target.off, *host = "";
	size_t tl = m->target.len, hl = 0, at;
	char scratch[8192];

	/* The origin form (nearly every request) is the target as it is;
	 * the absolute form's path is after its authority. */
	if (m->target_form == HTTP_TF_ABSOLUTE && h1_target_parts(r, d, &t, &tl, scratch, sizeof(scratch)) == -1)
		return -1;
	if (m->target_form == HTTP_TF_ABSOLUTE) {
		host = (const char *)d + m->authority.off;
		hl = m->authority.len;
	} else if (m->host_idx >= 0) {
		host = (const char *)d + m->headers[m->host_idx].value.off;
		hl = m->headers[m->host_idx].value.len;
	}
	if (exch_https(r)) {
		memcpy(k, "https://", 8);
		at = 8;
	} else {
		memcpy(k, "http://", 7);
		at = 7;
	}
	if (at + hl + tl >= cap)
		return -1;
	{
		/* Lowercased 8 bytes at a time (SWAR: a byte's 0x20 bit set
		 * where it is 'A'..'Z'), not byte by byte: every request on a
		 * route with a cache has its key built. */
		size_t i = 0;
		for (; i + 8 <= hl; i += 8) {
			uint64_t w, hi, upper;
			memcpy(&w, host + i, 8);
			hi = w & 0x8080808080808080ULL;
			w &= ~0x8080808080808080ULL;
			upper = ((w + 0x3f3f3f3f3f3f3f3fULL) & ~(w + 0x2525252525252525ULL)) & 0x8080808080808080ULL;
			w = (w | hi) | ((upper & ~hi) >> 2);
			memcpy(k + at + i, &w, 8);
		}
		if (hl >= 8 && i < hl) {
			/* The last 8 bytes again, overlapping: lowercasing
			 * twice changes nothing. */
			uint64_t w, hi, upper;
			memcpy(&w, host + hl - 8, 8);
			hi = w & 0x8080808080808080ULL;
			w &= ~0x8080808080808080ULL;
			upper = ((w + 0x3f3f3f3f3f3f3f3fULL) & ~(w + 0x2525252525252525ULL)) & 0x8080808080808080ULL;
			w = (w | hi) | ((upper & ~hi) >> 2);
			memcpy(k + at + hl - 8, &w, 8);
			i = hl;
		}
		for (; i < hl; i++)
			k[at + i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] - 'A' + 'a' : host[i]);
		at += hl;
	}
	memcpy(k + at, t, tl);
	at += tl;
	*klen = at;
	return 0;
}

/* ---- a stored head, parsed once --------------------------------------------------
 * An object keeps its head as parsed when it was stored (the spans are
 * offsets into its head bytes), packed: the fields before the header
 * table, the headers in use, the fields after it. A hit copies it back
 * instead of parsing the head again. */

#define MSG_PRE offsetof(struct http_msg, headers)
#define MSG_POST offsetof(struct http_msg, nheaders)

static size_t
msg_pack(const struct http_msg *m, uint8_t *out)
{
	size_t hl = (size_t)m->nheaders * sizeof(m->headers[0]);

	memcpy(out, m, MSG_PRE);
	memcpy(out + MSG_PRE, m->headers, hl);
	memcpy(out + MSG_PRE + hl, (const uint8_t *)m + MSG_POST, sizeof(*m) - MSG_POST);
	return MSG_PRE + hl + sizeof(*m) - MSG_POST;
}

/* -1 when o holds no packed head (then it is parsed). */
static int
msg_unpack(struct http_msg *m, const struct cache_obj *o)
{
	size_t hl;

	if (o->aux_len < MSG_PRE + sizeof(*m) - MSG_POST)
		return -1;
	hl = o->aux_len - MSG_PRE - (sizeof(*m) - MSG_POST);
	memcpy(m, o->aux, MSG_PRE);
	memcpy(m->headers, o->aux + MSG_PRE, hl);
	memcpy((uint8_t *)m + MSG_POST, o->aux + MSG_PRE + hl, sizeof(*m) - MSG_POST);
	return 0;
}

/* ---- the cache as a source --------------------------------------------------- */

static void
src_nothing(struct req *r)
{
	(void)r;
}

/* The front drained what was passed: the whole body was, so this is only
 * progress on a slow client; the idle timer starts again. */
static void
src_resume(struct req *r)
{
	exch_timer_arm(r, r->gen->to.client_idle);
}

static int
src_accepts(const struct req *r)
{
	(void)r;
	return 0;
}

static void
src_timeout(struct req *r)
{
	exch_abort(r, "timeout writing a cached response");
}

/* The object stays held until the exchange is given back
 * (cache_req_end()): the access log line, written after the release,
 * still reads how it was served. */
static void
src_release(struct req *r, int clean)
{
	(void)clean;
	r->rs.in = NULL;
	r->rs.pass = 0;
}

static const struct exch_source cache_source = { "cache", src_nothing, src_resume, src_accepts, src_timeout, src_release };

/* The stored value of field lname in a hit's head (first one), or NULL. */
static const char *
stored_field(const struct req *r, const uint8_t *h, const char *lname, size_t *len)
{
	int i = http_find_header(&r->rs.head, h, lname);

	if (i < 0)
		return NULL;
	*len = r->rs.head.headers[i].value.len;
	return (const char *)h + r->rs.head.headers[i].value.off;
}

/* RFC 9110 §13.1.1-§13.1.3, §13.2.2: a GET or HEAD with If-None-Match is
 * answered 304 when a tag matches (weak comparison), and If-Modified-Since
 * is looked at only without If-None-Match. */
static int
not_modified(const struct req *r, const uint8_t *d, const uint8_t *h)
{
	const struct http_msg *m = &r->rq.head;
	int i = r->cache->rq.inm;
	const char *sv;
	size_t sl;

	if (i >= 0) {
		if ((sv = stored_field(r, h, "etag", &sl)) == NULL)
			return 0;
		return cache_inm_match((const char *)d + m->headers[i].value.off, m->headers[i].value.len, sv, sl);
	}
	if ((i = r->cache->rq.ims) >= 0) {
		int64_t ims = cache_http_date((const char *)d + m->headers[i].value.off, m->headers[i].value.len), lm;
		if (ims < 0 || (sv = stored_field(r, h, "last-modified", &sl)) == NULL || (lm = cache_http_date(sv, sl)) < 0)
			return 0;
		return lm <= ims;
	}
	return 0;
}

/* RFC 9110 §14.1.2: a Range of one byte range over len bytes ("bytes=a-b",
 * "bytes=a-", "bytes=-n"), satisfiable, and no If-Range (its validator
 * is not compared here: the whole representation is the safe answer,
 * §13.1.5). 1 with the inclusive bounds; 0 to send the whole (several
 * ranges, none satisfiable, anything else: §14.2 lets a server ignore
 * Range). */
static int
one_range(const struct req *r, const uint8_t *d, size_t len, size_t *first, size_t *last)
{
	const struct http_msg *m = &r->rq.head;
	int i = r->cache->rq.range;
	const char *v, *e;
	uint64_t a = 0, b = 0;
	int has_a = 0, has_b = 0;

	if (i < 0 || len == 0 || r->cache->rq.if_range)
		return 0;
	v = (const char *)d + m->headers[i].value.off;
	e = v + m->headers[i].value.len;
	if (e - v < 6 || strncasecmp(v, "bytes=", 6) != 0)
		return 0;
	for (v += 6; v < e && *v >= '0' && *v <= '9' && a < (1ull << 60); v++, has_a = 1)
		a = a * 10 + (uint64_t)(*v - '0');
	if (v >= e || *v++ != '-')
		return 0;
	for (; v < e && *v >= '0' && *v <= '9' && b < (1ull << 60); v++, has_b = 1)
		b = b * 10 + (uint64_t)(*v - '0');
	if (v != e || (!has_a && !has_b))
		return 0;
	if (!has_a) {
		/* A suffix: the last b bytes. */
		if (b == 0)
			return 0;
		*first = b >= len ? 0 : len - (size_t)b;
		*last = len - 1;
		return 1;
	}
	if (a >= len || (has_b && b < a))
		return 0;
	*first = (size_t)a;
	*last = !has_b || b >= len ? len - 1 : (size_t)b;
	return 1;
}

/* Serves the held object cq->hit: its head re-parsed into r->rs.head (the
 * spans point into the object, which the reference keeps), the filter
 * chain chosen as for a backend's response, the body passed whole.
 * in_client: the request head d is still in the client's buffer (a hit
 * found before forwarding: it is consumed here); else d is the copy kept
 * while the request was forwarded. 0, or -1 (the head does not parse). */
static int
serve(struct req *r, const uint8_t *d, int in_client)
{
	struct cache_req *cq = r->cache;
	struct cache_obj *o = cq->hit;
	struct http_parser p;
	struct http_limits lim;
	int body;

	if (msg_unpack(&r->rs.head, o) == -1) {
		exch_parser_limits(r->gen, &lim);
		http_parser_init(&p, 1, &lim);
		if (http_parse(&p, &r->rs.head, o->head, o->head_len) != HTTP_OK)
			return -1;
	}
	if (in_client) {
		filter_request(r, d);
		buf_consume(r->rq.in, r->rq.head.header_bytes);
	}
	cq->not_modified = cq->served != SERVED_STALE && not_modified(r, d, o->head);
	exch_attach(r, &cache_source);
	/* The stored head's framing is the origin's; the client's is
	 * written from these (h1_response_head). */
	r->rs.head.content_length = (int64_t)o->body_len;
	r->rs.head.chunked = 0;
	if (cq->not_modified) {
		r->rs.head.status = 304;
		r->rs.head.reason.len = 0;
	}
	body = !r->is_head && !cq->not_modified && r->rs.head.status != 204;
	if (body && r->rs.head.status == 200 && one_range(r, d, o->body_len, &cq->range_first, &cq->range_last)) {
		/* RFC 9110 §14.2, §15.3.7: one range of the stored whole
		 * representation, as a 206 with its Content-Range. */
		cq->partial = 1;
		r->rs.head.status = 206;
		r->rs.head.reason.len = 0;
		r->rs.head.content_length = (int64_t)(cq->range_last - cq->range_first + 1);
	}
	r->rs.body = body ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	r->status = r->rs.head.status;
	r->rhead_done = 1;
	r->srv_idx = -1;
	r->fpass = 0;
	filter_select(r, FILTER_SEL_BACKEND | (body && o->body_len > 0 ? FILTER_SEL_BODY : 0), o->head);
	if (r->fc.nbody > 0 && r->rq.head.version_minor == 0)
		r->keep_client = 0;    /* coded: delimited by the close (filter.h) */
	if (exch_wk(r)->draining)
		r->keep_client = 0;
	h1_response_head(r, o->head);
	cq->body.data = o->body;
	cq->body.cap = o->body_len;
	cq->body.rpos = cq->partial ? cq->range_first : 0;
	cq->body.wpos = !body ? 0 : cq->partial ? cq->range_last + 1 : o->body_len;
	r->rs.in = &cq->body;
	r->rs.pass = buf_len(&cq->body);
	r->rs.left = 0;
	r->rs.done = 1;
	if (r->fc.nbody > 0 && exch_resp_filter(r, 1) == -1) {
		exch_abort(r, "response filter failed");
		return 0;
	}
	exch_timer_arm(r, r->gen->to.client_idle);
	exch_resp_continue(r);
	return 0;
}

/* §4.2.3: current_age = corrected_initial_age + resident_time. */
static int64_t
current_age(const struct cache_obj *o, int64_t now)
{
	return o->initial_age + (now > o->response_time ? now - o->response_time : 0);
}

/* The conditional fields that revalidate stale object o (§4.3.1): its
 * ETag as If-None-Match, its Last-Modified as If-Modified-Since. Nothing
 * when it has neither (or one too long to keep). */
static void
make_conditional(struct req *r, struct cache_obj *o)
{
	struct cache_req *cq = r->cache;
	struct http_msg m;
	struct http_parser p;
	struct http_limits lim;
	const char *v;
	size_t vl;
	int i, n;

	exch_parser_limits(r->gen, &lim);
	http_parser_init(&p, 1, &lim);
	if (http_parse(&p, &m, o->head, o->head_len) != HTTP_OK)
		return;
	cq->cond_len = 0;
	if ((i = http_find_header(&m, o->head, "etag")) >= 0) {
		v = (const char *)o->head + m.headers[i].value.off;
		vl = m.headers[i].value.len;
		n = snprintf(cq->cond, sizeof(cq->cond), "If-None-Match: %.*s\r\n", (int)vl, v);
		if (n > 0 && (size_t)n < sizeof(cq->cond))
			cq->cond_len = (uint16_t)n;
	}
	if ((i = http_find_header(&m, o->head, "last-modified")) >= 0) {
		v = (const char *)o->head + m.headers[i].value.off;
		vl = m.headers[i].value.len;
		n = snprintf(cq->cond + cq->cond_len, sizeof(cq->cond) - cq->cond_len, "If-Modified-Since: %.*s\r\n", (int)vl, v);
		if (n > 0 && (size_t)n < sizeof(cq->cond) - cq->cond_len)
			cq->cond_len = (uint16_t)(cq->cond_len + n);
	}
}

/* The stored object for r's request (head bytes d), Vary matched, held;
 * NULL when none. *found: some object had the key. */
static struct cache_obj *
lookup(struct req *r, const uint8_t *d, int *found)
{
	struct cache_req *cq = r->cache;
	struct vary_ctx vx = { &r->rq.head, d };

	return cache_store_lookup(cq->store, cq->hash, cq->key, cq->klen, vary_ok, &vx, found);
}

/* §4.2: fresh while the lifetime exceeds the age; the client's max-age
 * and min-fresh narrow it (§5.2.1.1, §5.2.1.3). */
static int
fresh_for(const struct cache_obj *o, const struct cache_cc *rq, int64_t *age)
{
	*age = current_age(o, wall_now());
	return o->lifetime > *age && (rq->max_age < 0 || *age <= rq->max_age) &&
	    (rq->min_fresh < 0 || o->lifetime - *age >= rq->min_fresh);
}

/* Whether the stale object may answer while another request revalidates
 * it: within the response's stale-while-revalidate (RFC 5861 §3), never
 * where serving stale is forbidden (§4.2.4). */
static int
swr_usable(const struct cache_req *cq)
{
	const struct cache_obj *o = cq->stale;

	return !o->no_stale && o->stale_while_revalidate > 0 &&
	    current_age(o, wall_now()) - o->lifetime <= o->stale_while_revalidate;
}

/* ---- waiting for another request's fetch (request coalescing) ------------------ */

static void
wait_nothing(struct req *r)
{
	(void)r;
}

static void
wait_release(struct req *r, int clean)
{
	(void)r;
	(void)clean;
}

/* The exchange's timer, while r waits: the key's object is there (served
 * from it), or the fetch ended without one, or the wait ran out (r goes
 * to the origin itself, not as a new leader: a response that was not
 * stored would otherwise send the waiters one at a time); else look again
 * a little later. */
static void
wait_poll(struct req *r)
{
	struct cache_req *cq = r->cache;
	const uint8_t *d = buf_rptr(r->rq.in);
	struct cache_stats *st = cache_store_stats(cq->store);
	struct cache_obj *o;
	int found;
	int64_t age;

	if ((o = lookup(r, d, &found)) != NULL) {
		if (fresh_for(o, &cq->rq.cc, &age)) {
			if (cq->stale != NULL) {
				cache_store_unref(cq->store, cq->stale);
				cq->stale = NULL;
			}
			cq->hit = o;
			cq->served = SERVED_COLLAPSED;
			cq->age = age;
			cq->ttl = o->lifetime - age;
			atomic_fetch_add_explicit(&st->coalesced, 1, memory_order_relaxed);
			if (serve(r, d, 1) == 0)
				return;
			cq->hit = NULL;
		}
		cache_store_unref(cq->store, o);
	}
	if (cache_store_pending(cq->store, cq->pend.hash, cq->key, cq->klen) &&
	    ev_now(exch_wk(r)->loop) - cq->wait_start < cq->cf->coalesce_wait_ms) {
		cq->poll_ms = cq->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : cq->poll_ms * 2;
		exch_timer_arm(r, cq->poll_ms);
		return;
	}
	atomic_fetch_add_explicit(&st->coalesce_gave_up, 1, memory_order_relaxed);
	exch_drop_source(r);
	request_forward(r, d);
}

static const struct exch_source wait_source = { "cache-wait", wait_nothing, wait_nothing, src_accepts, wait_poll, wait_release };

int
cache_request(struct req *r, const uint8_t *d)
{
	const struct pd_cache *cf = r->rt->cache;
	const struct http_msg *m = &r->rq.head;
	struct cache_req *cq;
	struct cache_cc *rq;
	char key[KEY_MAX];
	size_t klen;
	int found = 0, led = 0, how = CACHE_ALONE, in_spare;
	uint64_t hash;
	int64_t now = wall_now();

	/* The key is built in the previous request's state when it fits
	 * (not copied there afterwards). */
	cq = r->cache_spare;
	in_spare = cq != NULL && m->header_bytes < CQ_ROOM && make_key(r, d, cq->key, CQ_ROOM - m->header_bytes, &klen) == 0;
	if (!in_spare && make_key(r, d, key, sizeof(key), &klen) == -1)
		return 0;
	hash = cache_key_hash(in_spare ? cq->key : key, klen);
	/* The bucket the lookup reads comes in while the pass mark and the
	 * request's fields are looked at below. */
	cache_store_prefetch(cf->store, hash);
	if ((m->method == HTTP_M_GET || m->method == HTTP_M_HEAD) && cache_store_is_pass(cf->store, hash, now)) {
		/* The key's last answer was not storable (Varnish's
		 * hit-for-pass): straight to the origin, nothing looked up,
		 * copied, waited for or stored until the mark runs out. Decided
		 * before any state is set up: the request goes on as on a
		 * route without a cache but for its Cache-Status and log
		 * field (r->cache stays NULL, so no other hook runs). */
		r->cache_pass = 1;
		atomic_fetch_add_explicit(&cache_store_stats(cf->store)->passes, 1, memory_order_relaxed);
		return 0;
	}
	/* One allocation: the state, the key, room for the head's copy;
	 * the previous request's when it fits. */
	if (in_spare) {
		r->cache_spare = NULL;
	} else {
		if ((cq = malloc(sizeof(*cq) + (klen + m->header_bytes <= CQ_ROOM ? CQ_ROOM : klen + m->header_bytes))) == NULL)
			return -1;
		memcpy(cq->key, key, klen);
	}
	memset(cq, 0, offsetof(struct cache_req, cond));
	cq->pooled = klen + m->header_bytes <= CQ_ROOM;
	r->cache = cq;
	cq->store = cf->store;
	cq->cf = cf;
	cq->klen = klen;
	cq->hash = hash;
	cq->request_time = now;
	cq->why = CACHE_NS_NONE;
	if (m->method != HTTP_M_GET && m->method != HTTP_M_HEAD) {
		/* §4.4: an unsafe method's success invalidates the target URI.
		 * OPTIONS and TRACE are safe (RFC 9110 §9.2.1). */
		cq->invalidate = m->method != HTTP_M_OPTIONS && m->method != HTTP_M_TRACE;
		cq->fwd = FWD_METHOD;
		return 0;
	}
	cq->is_get = m->method == HTTP_M_GET;
	if (r->rq.body != HTTP_BODY_NONE) {
		/* A GET with a body: its meaning is not defined (RFC 9110
		 * §9.3.1), so the cache neither answers nor stores it. */
		cq->fwd = FWD_BYPASS;
		cq->is_get = 0;
		return 0;
	}
	scan_request(m, d, &cq->rq);
	rq = &cq->rq.cc;
	if (rq->no_cache || rq->max_age == 0) {
		/* §5.2.1.4, §5.2.1.1: the client wants a response validated by
		 * the origin; what comes back may still be stored. */
		cq->fwd = FWD_REQUEST;
	} else {
		struct vary_ctx vx = { m, d };
		struct cache_obj *o;
		/* A miss that may coalesce registers its fetch (or finds
		 * another's) under the lookup's lock. Only a GET leads (a
		 * HEAD's answer has no body to store), but a HEAD may wait for
		 * a GET's. only-if-cached never goes to the origin. */
		if (cf->coalesce_wait_ms > 0 && !rq->only_if_cached) {
			cq->pend.hash = cq->hash;
			cq->pend.key = cq->key;
			cq->pend.klen = cq->klen;
			o = cache_store_lookup_lead(cq->store, cq->hash, cq->key, cq->klen, vary_ok, &vx, &found, &cq->pend,
			    cq->request_time, cq->is_get, &how);
			led = o == NULL;
		} else {
			o = cache_store_lookup(cq->store, cq->hash, cq->key, cq->klen, vary_ok, &vx, &found);
		}
		if (o != NULL) {
			int64_t age;
			if (fresh_for(o, rq, &age)) {
				cq->hit = o;
				cq->served = SERVED_HIT;
				cq->age = age;
				cq->ttl = o->lifetime - age;
				cq->fwd = FWD_HIT;
				atomic_fetch_add_explicit(&cache_store_stats(cq->store)->hits, 1, memory_order_relaxed);
				if (serve(r, d, 1) == 0)
					return 1;
				/* A stored head that does not parse cannot happen
				 * (it parsed when stored): forward. */
				cq->hit = NULL;
			}
			/* Kept: revalidated by the origin's 304 (§4.3), or
			 * served if the origin fails (RFC 5861 §4). */
			cq->stale = o;
			cq->fwd = FWD_STALE;
			/* RFC 9110 §13.1: a client's own precondition goes
			 * to the origin as it is (and its 304 back to it). */
			if (!cq->rq.conditional)
				make_conditional(r, o);
		} else {
			cq->fwd = found ? FWD_VARY_MISS : FWD_URI_MISS;
		}
	}
	atomic_fetch_add_explicit(&cache_store_stats(cq->store)->misses, 1, memory_order_relaxed);
	if (rq->only_if_cached && cq->stale == NULL) {
		/* §5.2.1.7: nothing usable stored: 504, not the origin. */
		buf_consume(r->rq.in, m->header_bytes);
		local_respond(r, 504, "504 Gateway Timeout: not in cache (only-if-cached)\n", NULL, 1);
		return 1;
	}
	/* Vary is known only from the response, and a stale object may be
	 * served after it: by then the request's bytes have left the
	 * client's buffer. */
	cq->qcopy = (uint8_t *)cq->key + klen;
	memcpy(cq->qcopy, d, m->header_bytes);
	if (cf->coalesce_wait_ms > 0 && cq->fwd != FWD_REQUEST && !rq->only_if_cached) {
		/* A stale object was found: the lookup did not lead. */
		if (!led)
			how = cache_store_lead(cq->store, &cq->pend, wall_now(), cq->is_get);
		if (how == CACHE_FOLLOW) {
			if (cq->stale != NULL && swr_usable(cq)) {
				/* RFC 5861 §3: another request is revalidating
				 * the object; within its stale-while-revalidate
				 * this one is answered with it at once. */
				cq->hit = cq->stale;
				cq->stale = NULL;
				cq->served = SERVED_SWR;
				cq->age = current_age(cq->hit, wall_now());
				cq->ttl = cq->hit->lifetime - cq->age;
				atomic_fetch_add_explicit(&cache_store_stats(cq->store)->stale_updating, 1, memory_order_relaxed);
				if (serve(r, d, 1) == 0)
					return 1;
				cq->stale = cq->hit;
				cq->hit = NULL;
			}
			/* Another request is fetching this key: wait for its
			 * response (bounded) rather than send the origin the
			 * same request again. The head stays in the client's
			 * buffer until then. */
			exch_attach(r, &wait_source);
			cq->wait_start = ev_now(exch_wk(r)->loop);
			cq->poll_ms = 1;
			exch_timer_arm(r, cq->poll_ms);
			return 1;
		}
	}
	return 0;
}

void
cache_request_head(struct req *r)
{
	struct cache_req *cq = r->cache;
	struct buf *h = &r->qhead;

	if (cq->cond_len == 0 || buf_len(h) < 2)
		return;
	/* Before the head's final CRLF. */
	h->wpos -= 2;
	buf_append(h, cq->cond, cq->cond_len);
	buf_append(h, "\r\n", 2);
}

/* RFC 9111 §3.2: the stored head updated with the fields of a 304 — each
 * field the 304 carries replaces the stored ones of that name — except
 * the framing and hop-by-hop fields (§3.1) and Content-Length. Appended to
 * out; -1 out of memory. */
static int
merge_head(const struct cache_obj *o, const struct http_msg *nm, const uint8_t *nd, const struct http_limits *lim,
    struct buf *out)
{
	struct http_msg sm;
	struct http_parser p;
	const uint8_t *sd = o->head;
	const uint8_t *eol = memchr(sd, '\n', o->head_len);
	int rc = 0;

	http_parser_init(&p, 1, lim);
	if (eol == NULL || http_parse(&p, &sm, sd, o->head_len) != HTTP_OK)
		return -1;
	rc |= buf_append(out, sd, (size_t)(eol - sd) + 1);
	for (int i = 0; i < sm.nheaders; i++) {
		struct http_span n = sm.headers[i].name, v = sm.headers[i].value;
		int replaced = 0;
		for (int j = 0; j < nm->nheaders && !replaced; j++)
			replaced = nm->headers[j].name.len == n.len &&
			    strncasecmp((const char *)nd + nm->headers[j].name.off, (const char *)sd + n.off, n.len) == 0 &&
			    !h1_hop_masked(nm, j);
		if (replaced && !H1_SPAN_IS(sd, n, "content-length") && !H1_SPAN_IS(sd, n, "transfer-encoding") &&
		    !H1_SPAN_IS(sd, n, "content-encoding"))
			continue;
		rc |= buf_append(out, sd + n.off, n.len);
		rc |= buf_append(out, ": ", 2);
		rc |= buf_append(out, sd + v.off, v.len);
		rc |= buf_append(out, "\r\n", 2);
	}
	for (int j = 0; j < nm->nheaders; j++) {
		struct http_span n = nm->headers[j].name, v = nm->headers[j].value;
		if (h1_hop_masked(nm, j) || H1_SPAN_IS(nd, n, "content-length") || H1_SPAN_IS(nd, n, "transfer-encoding") ||
		    H1_SPAN_IS(nd, n, "content-encoding") || H1_SPAN_IS(nd, n, "connection") ||
		    H1_SPAN_IS(nd, n, "keep-alive") || H1_SPAN_IS(nd, n, "proxy-connection") || H1_SPAN_IS(nd, n, "te") ||
		    H1_SPAN_IS(nd, n, "trailer") || H1_SPAN_IS(nd, n, "upgrade"))
			continue;
		rc |= buf_append(out, nd + n.off, n.len);
		rc |= buf_append(out, ": ", 2);
		rc |= buf_append(out, nd + v.off, v.len);
		rc |= buf_append(out, "\r\n", 2);
	}
	rc |= buf_append(out, "\r\n", 2);
	return rc == 0 ? 0 : -1;
}

static void fill_facts(struct req *r, const struct http_msg *rs, const uint8_t *rd, struct cache_facts *f, int64_t *age,
    int *vary);
static void not_stored(struct cache_req *cq, enum cache_nostore why);

/* The origin's 304 to a revalidation (head at rd): the stored object with
 * its head updated (§4.3.4) and its freshness taken from the new head,
 * stored in place of the old one, and held as cq->hit. -1 when it cannot
 * be built (out of memory): the stale object is served as it is. */
static int
freshen(struct req *r, const uint8_t *rd)
{
	struct cache_req *cq = r->cache;
	struct cache_obj *old = cq->stale, *o;
	struct http_limits lim;
	struct buf h;
	struct http_msg *nm;
	struct http_parser p;
	struct cache_facts f;
	int64_t age;
	enum cache_nostore why;
	uint8_t packed[sizeof(struct http_msg)];

	buf_init(&h);
	exch_parser_limits(r->gen, &lim);
	if (merge_head(old, &r->rs.head, rd, &lim, &h) == -1 || (nm = malloc(sizeof(*nm))) == NULL) {
		buf_fini(&h);
		return -1;
	}
	http_parser_init(&p, 1, &lim);
	if (http_parse(&p, nm, buf_rptr(&h), buf_len(&h)) != HTTP_OK ||
	    (o = cache_obj_new_aux(old->hash, old->key, old->key_len, old->vary, old->vary_len, buf_rptr(&h), buf_len(&h), packed,
	    msg_pack(nm, packed), old->body_len)) == NULL) {
		free(nm);
		buf_fini(&h);
		return -1;
	}
	(void)cache_obj_append(o, old->body, old->body_len, old->body_len);
	fill_facts(r, nm, o->head, &f, &age, NULL);
	f.status = nm->status;
	o->response_time = f.response_time;
	o->initial_age = cache_initial_age(age, f.date, cq->request_time, f.response_time);
	o->lifetime = cache_freshness_lifetime(&f);
	o->stale_if_error = f.rs_cc.stale_if_error;
	o->stale_while_revalidate = f.rs_cc.stale_while_revalidate;
	o->no_stale = !cache_may_serve_stale(&f.rs_cc);
	why = cache_storable(&f);
	free(nm);
	buf_fini(&h);
	/* Held by this request, whether the store keeps it or not. */
	o->refs = 1;
	cq->hit = o;
	cq->served = SERVED_REVALIDATED;
	cq->age = current_age(o, f.response_time);
	cq->ttl = o->lifetime > cq->age ? o->lifetime - cq->age : 0;
	if (why == CACHE_NS_NONE) {
		cache_store_insert(cq->store, o);
		cq->stored = 1;
	} else {
		/* The 304 made it unstorable (no-store, private ...): the old
		 * copy must not be used again either. This one goes with the
		 * request's reference. */
		(void)cache_store_remove(cq->store, old->hash, old->key, old->key_len);
		not_stored(cq, why);
	}
	return 0;
}

/* Whether the stale object may answer now that the origin failed (RFC
 * 5861 §4; RFC 9111 §4.2.4 forbids it under must-revalidate and the
 * like): within the response's stale-if-error or the cache's. */
static int
stale_usable(const struct cache_req *cq)
{
	const struct cache_obj *o = cq->stale;
	int64_t over, allowed = (int64_t)(cq->cf->stale_if_error_ms / 1000);

	if (o == NULL || o->no_stale)
		return 0;
	if (o->stale_if_error > allowed)
		allowed = o->stale_if_error;
	over = current_age(o, wall_now()) - o->lifetime;
	return over <= allowed;
}

/* Serves the stale object in place of a failed answer (status). */
static void
serve_stale(struct req *r, int status)
{
	struct cache_req *cq = r->cache;

	cache_store_unlead(cq->store, &cq->pend);
	cq->hit = cq->stale;
	cq->stale = NULL;
	cq->served = SERVED_STALE;
	cq->fwd_status = status;
	cq->age = current_age(cq->hit, wall_now());
	cq->ttl = cq->hit->lifetime - cq->age;
	atomic_fetch_add_explicit(&cache_store_stats(cq->store)->stale_served, 1, memory_order_relaxed);
	if (serve(r, cq->qcopy, 0) == -1)
		exch_abort(r, "stored response unusable");
}

int
cache_backend_head(struct req *r, const uint8_t *rd)
{
	struct cache_req *cq = r->cache;
	int st = r->rs.head.status;

	if (cq->stale == NULL || cq->qcopy == NULL)
		return 0;
	if (st == 304 && cq->cond_len > 0) {
		/* The origin's answer to our own conditional: the client
		 * gets the stored response, freshened (read from rd before
		 * the backend connection and its buffer are let go). */
		cq->fwd_status = 304;
		atomic_fetch_add_explicit(&cache_store_stats(cq->store)->revalidated, 1, memory_order_relaxed);
		if (freshen(r, rd) == -1) {
			cq->hit = cq->stale;
			cq->stale = NULL;
			cq->served = SERVED_REVALIDATED;
		} else {
			cache_store_unref(cq->store, cq->stale);
			cq->stale = NULL;
		}
		cache_store_unlead(cq->store, &cq->pend);
		/* The 304 has no body: the backend connection is clean. */
		buf_consume(r->rs.in, r->rs.head.header_bytes);
		r->rs.done = 1;
		r->rs.body = HTTP_BODY_NONE;
		r->src->release(r, r->rq.done);
		r->src = &exch_no_source;
		if (serve(r, cq->qcopy, 0) == -1)
			exch_abort(r, "stored response unusable");
		return 1;
	}
	if (st >= 500 && stale_usable(cq)) {
		/* RFC 5861 §4: an error from the origin, a stale answer
		 * instead. The error's body is not read: the connection
		 * closes. */
		exch_drop_source(r);
		serve_stale(r, st);
		return 1;
	}
	return 0;
}

int
cache_stale_on_error(struct req *r, int status)
{
	struct cache_req *cq = r->cache;

	if (status < 500 || cq->stale == NULL || cq->qcopy == NULL || r->rhead_done || !stale_usable(cq))
		return 0;
	serve_stale(r, status);
	return 1;
}

/* ---- the store filter -------------------------------------------------------- */

/* Appenders into a line being assembled (t, at most HDR_MAX bytes): the
 * header stage's fields go out with one buf_append(). */
#define HDR_MAX 320

static size_t
put_s(char *t, size_t at, const char *s)
{
	size_t n = strlen(s);

	if (at + n > HDR_MAX)
		return at;
	memcpy(t + at, s, n);
	return at + n;
}

/* A string literal: its length known at compile time. The miss branch's
 * pieces fit HDR_MAX whatever the order (a status, a reason's name). */
#define put_lit(t, at, s) (memcpy((t) + (at), (s), sizeof(s) - 1), (at) + sizeof(s) - 1)

static size_t
put_num(char *t, size_t at, int64_t v)
{
	char d[24];
	int n = sizeof(d);
	uint64_t u = v < 0 ? (uint64_t)-v : (uint64_t)v;

	do
		d[--n] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		d[--n] = '-';
	if (at + sizeof(d) - (size_t)n > HDR_MAX)
		return at;
	memcpy(t + at, d + n, sizeof(d) - (size_t)n);
	return at + sizeof(d) - (size_t)n;
}

static int
hdr_drop(const struct req *r, const char *name, size_t len)
{
	const struct cache_req *cq = r->cache;

	if (cq->hit == NULL)
		return 0;
	/* Ours replaces the stored Age (§4.2.3: the age is the cache's to
	 * compute). A 304 carries no representation metadata (RFC 9110
	 * §15.4.5). */
	if (len == 3 && strncasecmp(name, "age", 3) == 0)
		return 1;
	if (cq->not_modified && ((len == 12 && strncasecmp(name, "content-type", 12) == 0) ||
	    (len == 16 && strncasecmp(name, "content-encoding", 16) == 0) ||
	    (len == 16 && strncasecmp(name, "content-language", 16) == 0)))
		return 1;
	return 0;
}

static void
hdr_add(const struct req *r, struct buf *h)
{
	const struct cache_req *cq = r->cache;
	char *t;
	size_t at = 0;

	/* Assembled without printf, in place at the head's end: this runs
	 * for every response of a route with a cache, hit or miss. */
	if (h->cap - h->wpos < HDR_MAX && buf_reserve(h, HDR_MAX) == -1)
		return;
	t = (char *)h->data + h->wpos;
	if (cq->partial) {
		at = put_s(t, at, "Content-Range: bytes ");
		at = put_num(t, at, (int64_t)cq->range_first);
		at = put_s(t, at, "-");
		at = put_num(t, at, (int64_t)cq->range_last);
		at = put_s(t, at, "/");
		at = put_num(t, at, (int64_t)cq->hit->body_len);
		at = put_s(t, at, "\r\n");
	}
	if (cq->hit != NULL) {
		at = put_s(t, at, "Age: ");
		at = put_num(t, at, cq->age);
		if (cq->served == SERVED_HIT || cq->served == SERVED_SWR) {
			/* A stale one has a negative ttl (RFC 9211 §2.5). */
			at = put_s(t, at, "\r\nCache-Status: tandem; hit");
		} else if (cq->served == SERVED_COLLAPSED) {
			/* RFC 9211 §2.7: answered by another request's fetch. */
			at = put_s(t, at, "\r\nCache-Status: tandem; fwd=");
			at = put_s(t, at, fwd_names[cq->fwd]);
			at = put_s(t, at, "; collapsed");
		} else {
			/* RFC 9211 §2.2: forwarded because stale; the origin's
			 * 304 freshened it, or its failure (or none up:
			 * proxyd's own status) made it answer stale (RFC 5861
			 * §4). */
			at = put_s(t, at, "\r\nCache-Status: tandem; fwd=stale; fwd-status=");
			at = put_num(t, at, cq->fwd_status);
		}
		at = put_s(t, at, "; ttl=");
		at = put_num(t, at, cq->ttl);
		at = put_s(t, at, cq->served == SERVED_STALE ? "; detail=stale-if-error\r\n" :
		    cq->served == SERVED_SWR ? "; detail=stale-while-revalidate\r\n" : "\r\n");
		h->wpos += at;
		return;
	}
	/* RFC 9211 §2.2-§2.6: forwarded, why, the origin's status, and
	 * whether the response was stored (or the reason it was not). The
	 * field up to the status is one piece of known length. */
	memcpy(t, fwd_heads[cq->fwd].s, FWD_HEAD_ROOM);    /* HDR_MAX reserved: the padding is overwritten */
	at = fwd_heads[cq->fwd].len;
	if (r->status >= 100 && r->status <= 999) {
		/* Every status has three digits (RFC 9110 §15). */
		unsigned st = (unsigned)r->status, hundreds = st / 100, rest = st - hundreds * 100, tens = rest / 10;
		t[at++] = (char)('0' + hundreds);
		t[at++] = (char)('0' + tens);
		t[at++] = (char)('0' + rest - tens * 10);
	} else {
		at = put_num(t, at, r->status);
	}
	if (cq->stored) {
		at = put_lit(t, at, "; stored\r\n");
	} else if (cq->why != CACHE_NS_NONE) {
		at = put_s(t, at, "; detail=");
		at = put_s(t, at, cache_nostore_str((enum cache_nostore)cq->why));
		at = put_lit(t, at, "\r\n");
	} else {
		at = put_lit(t, at, "\r\n");
	}
	h->wpos += at;
}

/* Chunked responses only: the stage makes the backend remove the framing
 * (filter.h), so the tap sees the data; the bytes go on as they came. */
static int
body_pass(struct req *r, void *st, const uint8_t *in, size_t n, struct buf *out, unsigned flags)
{
	(void)r;
	(void)st;
	(void)flags;
	return n > 0 ? buf_append(out, in, n) : 0;
}

static const struct filter filter_cache = { .name = "cache", .hdr_drop = hdr_drop, .hdr_add = hdr_add };
/* A response not from the store (no hit by the time filters are chosen:
 * hits are set before filter_select()) has nothing to drop: not asked
 * about every field. */
static const struct filter filter_cache_fwd = { .name = "cache", .hdr_add = hdr_add };
/* RFC 9211 §2.2, §2.8: a key marked pass, forwarded without being looked
 * up ("bypass"), with the origin's status. The whole field is one piece
 * but for the status's three digits. */
static void
hdr_add_pass(const struct req *r, struct buf *h)
{
	static const char f[] = "Cache-Status: tandem; fwd=bypass; fwd-status=000; detail=pass\r\n";
	const size_t at = sizeof("Cache-Status: tandem; fwd=bypass; fwd-status=") - 1;
	unsigned st = (unsigned)r->status, hundreds, rest, tens;
	char *t;

	if (st < 100 || st > 999)
		return;    /* a status has three digits (RFC 9110 §15): cannot happen */
	/* The head writer reserved room for its own fields, usually ours
	 * too: buf_reserve() only when not. */
	if (h->cap - h->wpos < sizeof(f) && buf_reserve(h, sizeof(f)) == -1)
		return;
	t = (char *)h->data + h->wpos;
	memcpy(t, f, sizeof(f) - 1);
	hundreds = st / 100;
	rest = st - hundreds * 100;
	tens = rest / 10;
	t[at] = (char)('0' + hundreds);
	t[at + 1] = (char)('0' + tens);
	t[at + 2] = (char)('0' + rest - tens * 10);
	h->wpos += sizeof(f) - 1;
}

/* filter.c adds it for a key marked pass (r->cache_pass, no state): the
 * response is not looked at, and a local answer (proxyd's own error)
 * carries no Cache-Status. */
const struct filter cache_filter_pass = { .name = "cache", .hdr_add = hdr_add_pass };
static const struct filter filter_cache_store = { .name = "cache-store", .hdr_drop = hdr_drop, .hdr_add = hdr_add,
	.body = body_pass };

static void
not_stored(struct cache_req *cq, enum cache_nostore why)
{
	cq->why = (uint8_t)why;
	atomic_fetch_add_explicit(&cache_store_stats(cq->store)->not_stored[why], 1, memory_order_relaxed);
	/* The response itself said no (not this request's Authorization or
	 * no-store): the key's next misses go straight to the origin. */
	if (why != CACHE_NS_REQ_NO_STORE && why != CACHE_NS_AUTH && why != CACHE_NS_METHOD)
		cache_store_mark_pass(cq->store, cq->hash, wall_now(), PASS_TTL);
}

struct vary_build { const struct http_msg *m; const uint8_t *d; char *out; size_t cap, len; int over; };

static void
vary_name(void *ctx, const char *name, size_t nlen)
{
	struct vary_build *x = ctx;
	char lname[64], val[VARY_VALUE_MAX];
	size_t vl;

	memcpy(lname, name, nlen);
	lname[nlen] = '\0';
	/* The same name twice needs one pair. */
	for (size_t at = 0; at < x->len;) {
		size_t l = strlen(x->out + at);
		if (l == nlen && memcmp(x->out + at, lname, nlen) == 0)
			return;
		at += l + 1;
		at += strlen(x->out + at) + 1;
	}
	if (req_value(x->m, x->d, lname, val, sizeof(val), &vl) == -1 || x->len + nlen + vl + 2 > x->cap) {
		x->over = 1;
		return;
	}
	memcpy(x->out + x->len, lname, nlen + 1);
	x->len += nlen + 1;
	memcpy(x->out + x->len, val, vl);
	x->out[x->len + vl] = '\0';
	x->len += vl + 1;
}

struct vary_walk { struct vary_build *b; int star; };

static void
vary_field(void *ctx, const char *v, size_t n)
{
	struct vary_walk *w = ctx;

	if (cache_vary_names(v, n, vary_name, w->b))
		w->star = 1;
}

static void
date_field(void *ctx, const char *v, size_t n)
{
	int64_t *t = ctx;

	/* A second field of the same name makes it invalid (-2). */
	*t = *t == -1 ? cache_http_date(v, n) : -2;
	if (*t == -1)
		*t = -2;
}

/* The facts of response head rs (bytes at rd) and of the request (its
 * copy) for the rules; *age the response's Age (-1 none). Vary is the
 * caller's: *vary (when not NULL) says whether there is one. */
static void
fill_facts(struct req *r, const struct http_msg *rs, const uint8_t *rd, struct cache_facts *f, int64_t *age,
    int *vary)
{
	struct cache_req *cq = r->cache;

	memset(f, 0, sizeof(*f));
	f->is_get = 1;
	f->status = rs->status;
	f->response_time = wall_now();
	f->rq_cc = cq->rq.cc;
	f->rq_authorization = cq->rq.authorization;
	cache_cc_init(&f->rs_cc);
	f->store_set_cookie = cq->cf->store_set_cookie;
	f->heuristic_pct = cq->cf->heuristic_pct;
	f->date = f->expires = f->last_modified = -1;
	*age = -1;
	for (int i = 0; i < rs->nheaders; i++) {
		struct http_span n = rs->headers[i].name, v = rs->headers[i].value;
		const char *vp = (const char *)rd + v.off;
		switch (n.len) {
		case 3:
			if (SPAN_IS(rd, n, "age")) {
				int64_t a = 0;
				for (size_t k = 0; k < v.len && vp[k] >= '0' && vp[k] <= '9' && a < 2147483648LL; k++)
					a = a * 10 + (vp[k] - '0');
				*age = a;
			}
			break;
		case 4:
			if (SPAN_IS(rd, n, "date"))
				date_field(&f->date, vp, v.len);
			else if (SPAN_IS(rd, n, "etag"))
				f->has_validator = 1;
			else if (vary != NULL && SPAN_IS(rd, n, "vary"))
				*vary = 1;
			break;
		case 7:
			if (SPAN_IS(rd, n, "expires"))
				date_field(&f->expires, vp, v.len);
			break;
		case 10:
			if (SPAN_IS(rd, n, "set-cookie"))
				f->set_cookie = 1;
			break;
		case 13:
			if (SPAN_IS(rd, n, "cache-control"))
				cache_cc_parse(&f->rs_cc, vp, v.len);
			else if (SPAN_IS(rd, n, "last-modified"))
				date_field(&f->last_modified, vp, v.len);
			break;
		}
	}
	if (f->date < 0)
		f->date = -1;
	if (f->expires < -1)
		f->expires = -2;
	if (f->last_modified != -1)
		f->has_validator = 1;
	if (f->last_modified < 0)
		f->last_modified = -1;
}

/* A backend response (head bytes rd): whether to store it, and if so the
 * object to build. */
static void
consider_store(struct req *r, const uint8_t *rd)
{
	struct cache_req *cq = r->cache;
	const struct http_msg *rs = &r->rs.head, *rq = &r->rq.head;
	struct cache_facts f;
	char vary[2048];
	struct vary_build vb = { rq, cq->qcopy, vary, sizeof(vary), 0, 0 };
	struct vary_walk vw = { &vb, 0 };
	int64_t age;
	size_t hint = 0;
	uint8_t packed[sizeof(struct http_msg)];
	enum cache_nostore why;
	int has_vary = 0;

	fill_facts(r, rs, rd, &f, &age, &has_vary);
	if (has_vary)
		each_field(rs, rd, "vary", vary_field, &vw);
	f.vary_star = vw.star;
	if ((why = cache_storable(&f)) != CACHE_NS_NONE) {
		not_stored(cq, why);
		return;
	}
	if (vb.over) {
		/* A Vary value too long to keep: not stored rather than
		 * stored under a value that could match another request. */
		not_stored(cq, CACHE_NS_VARY_STAR);
		return;
	}
	switch (r->rs.body) {
	case HTTP_BODY_LENGTH:
		if ((uint64_t)rs->content_length > cache_store_max_object(cq->store)) {
			not_stored(cq, CACHE_NS_TOO_LARGE);
			return;
		}
		hint = (size_t)rs->content_length;
		break;
	case HTTP_BODY_NONE:
	case HTTP_BODY_CHUNKED:
		break;
	default:
		not_stored(cq, CACHE_NS_BODY);
		return;
	}
	if ((cq->build = cache_obj_new_aux(cq->hash, cq->key, cq->klen, vary, vb.len, rd, rs->header_bytes, packed, msg_pack(rs, packed),
	    hint)) == NULL)
		return;
	cq->build->response_time = f.response_time;
	cq->build->initial_age = cache_initial_age(age, f.date, cq->request_time, f.response_time);
	cq->build->lifetime = cache_freshness_lifetime(&f);
	cq->build->stale_if_error = f.rs_cc.stale_if_error;
	cq->build->stale_while_revalidate = f.rs_cc.stale_while_revalidate;
	cq->build->no_stale = !cache_may_serve_stale(&f.rs_cc);
	cq->stored = 1;
	if (r->rs.body == HTTP_BODY_NONE)
		cache_tap(r, NULL, 0, 1);
}

/* §4.4: a URI in the answer's Location or Content-Location (value v)
 * is invalidated too, when it has the request's origin: a path, or an
 * absolute URI whose scheme and authority are the key's. */
static void
invalidate_uri(struct cache_req *cq, const char *v, size_t vl)
{
	const char *auth = (const char *)memmem(cq->key, cq->klen, "://", 3) + 3;    /* the key starts "http(s)://" */
	const char *origin_end = memchr(auth, '/', cq->klen - (size_t)(auth - cq->key));
	size_t ol = origin_end != NULL ? (size_t)(origin_end - cq->key) : cq->klen, pl;
	const char *path = v, *q;
	char key[KEY_MAX];

	while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (vl > ol && strncasecmp(v, cq->key, ol) == 0 && v[ol] == '/')
		path = v + ol;                       /* same scheme and authority */
	else if (vl == 0 || v[0] != '/' || (vl > 1 && v[1] == '/'))
		return;                              /* another origin, or not a path */
	vl -= (size_t)(path - v);
	q = memchr(path, '?', vl);
	pl = q != NULL ? (size_t)(q - path) : vl;
	if (ol + vl > sizeof(key))
		return;
	memcpy(key, cq->key, ol);
	{
		/* The key holds the normalised path (as the request line's). */
		int n = http_path_normalize(path, pl, key + ol, sizeof(key) - ol, NULL);
		if (n < 0 || ol + (size_t)n + (vl - pl) > sizeof(key))
			return;
		memcpy(key + ol + n, path + pl, vl - pl);
		(void)cache_store_remove(cq->store, cache_key_hash(key, ol + (size_t)n + (vl - pl)), key, ol + (size_t)n + (vl - pl));
	}
}

void
cache_filter_select(struct req *r, unsigned how, const uint8_t *rd)
{
	struct cache_req *cq = r->cache;

	if (cq->build != NULL) {
		/* A local answer (an error) in place of the response that was
		 * being stored. */
		cache_obj_free(cq->build);
		cq->build = NULL;
		cq->stored = 0;
	}
	if (!(how & FILTER_SEL_BACKEND) || rd == NULL) {
		cache_store_unlead(cq->store, &cq->pend);
		return;
	}
	if (cq->hit == NULL) {
		if (cq->invalidate && r->rs.head.status < 400) {
			/* §4.4: a non-error answer to an unsafe method
			 * invalidates what is stored for its target, and for
			 * the same-origin URIs in Location and
			 * Content-Location. */
			int i;
			(void)cache_store_remove(cq->store, cq->hash, cq->key, cq->klen);
			if ((i = http_find_header(&r->rs.head, rd, "location")) >= 0)
				invalidate_uri(cq, (const char *)rd + r->rs.head.headers[i].value.off, r->rs.head.headers[i].value.len);
			if ((i = http_find_header(&r->rs.head, rd, "content-location")) >= 0)
				invalidate_uri(cq, (const char *)rd + r->rs.head.headers[i].value.off, r->rs.head.headers[i].value.len);
		}
		if (cq->is_get && cq->qcopy != NULL && cq->fwd != FWD_BYPASS)
			consider_store(r, rd);
		/* Not stored: whoever waits for this fetch goes to the origin. */
		if (cq->build == NULL)
			cache_store_unlead(cq->store, &cq->pend);
	}
	(void)filter_add(r, cq->build != NULL && r->rs.body == HTTP_BODY_CHUNKED ? &filter_cache_store :
	    cq->hit != NULL ? &filter_cache : &filter_cache_fwd, NULL);
}

void
cache_tap(struct req *r, const uint8_t *p, size_t n, int end)
{
	struct cache_req *cq = r->cache;
	struct cache_obj *o = cq->build;

	if (o == NULL)
		return;
	if (cache_obj_append(o, p, n, (size_t)cache_store_max_object(cq->store)) == -1) {
		/* Over max_object (a chunked body has no length up front):
		 * the rest streams through, nothing is stored. */
		cache_obj_free(o);
		cq->build = NULL;
		cq->stored = 0;
		not_stored(cq, CACHE_NS_TOO_LARGE);
		cache_store_unlead(cq->store, &cq->pend);
		return;
	}
	if (end) {
		cq->build = NULL;
		/* The fetch ends in the same lock: the waiters that look
		 * again find the object. */
		cache_store_insert_unlead(cq->store, o, &cq->pend);
	}
}

void
cache_req_end(struct req *r)
{
	struct cache_req *cq = r->cache;

	cache_store_unlead(cq->store, &cq->pend);
	if (cq->hit != NULL)
		cache_store_unref(cq->store, cq->hit);
	if (cq->stale != NULL)
		cache_store_unref(cq->store, cq->stale);
	if (cq->build != NULL) {
		/* The body never ended (client or backend gone): a partial
		 * response is never stored. */
		cache_obj_free(cq->build);
		not_stored(cq, CACHE_NS_BODY);
	}
	if (cq->pooled && r->cache_spare == NULL)
		r->cache_spare = cq;
	else
		free(cq);
	r->cache = NULL;
}

/* The access log's words, each with its " cache=" in front and its
 * length: the combined line appends one known-length piece. The first
 * ones are fwd_names' in enum cache_fwd order. */
#define LOG_FIELD(w) { " cache=" w, sizeof(" cache=" w) - 1 }
static const struct { const char *s; size_t len; } log_fields[] = {
	LOG_FIELD("hit"), LOG_FIELD("uri-miss"), LOG_FIELD("vary-miss"), LOG_FIELD("stale"), LOG_FIELD("request"),
	LOG_FIELD("method"), LOG_FIELD("bypass"), LOG_FIELD("hit-304"), LOG_FIELD("revalidated"),
	LOG_FIELD("stale-if-error"), LOG_FIELD("collapsed"), LOG_FIELD("stale-while-revalidate"),
};

static unsigned
log_index(const struct cache_req *cq)
{
	if (cq->hit != NULL && cq->served == SERVED_REVALIDATED)
		return 8;
	if (cq->hit != NULL && cq->served == SERVED_STALE)
		return 9;
	if (cq->hit != NULL && cq->served == SERVED_COLLAPSED)
		return 10;
	if (cq->hit != NULL && cq->served == SERVED_SWR)
		return 11;
	if (cq->fwd == FWD_HIT)
		return cq->not_modified ? 7 : 0;
	return cq->fwd;
}

int
cache_served_stale(const struct req *r)
{
	return r->cache != NULL && r->cache->hit != NULL && r->cache->served == SERVED_STALE;
}

const char *
cache_log_str(const struct req *r)
{
	if (r->cache == NULL)
		return r->cache_pass ? "bypass" : "-";
	return log_fields[log_index(r->cache)].s + 7;
}

const char *
cache_log_field(const struct req *r, size_t *len)
{
	unsigned i = r->cache == NULL ? FWD_BYPASS : log_index(r->cache);

	*len = log_fields[i].len;
	return log_fields[i].s;
}
