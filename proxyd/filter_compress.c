/*
 * proxyd/filter_compress.c — response compression, a filter of the chain
 * (filter_compress.h).
 *
 * The decisions are compress_rule.c's (pure), the coders compress.c's; this
 * file only gathers the facts from the two heads, writes the head edits and
 * drives a coder over the body. Its place in the exchange:
 *
 *   request head   filter_request() -> filter_compress_request(): facts kept in r->cz
 *   response head  filter_select()  -> filter_compress_select(): decide, take a coder
 *                  h1_response_head(): the header stage below (drop, add)
 *   each read      filter_body()    -> compress_body(): WRITE, FLUSH when the
 *                  backend has nothing more for now, FINISH at the end
 *   end            filter_end()     -> compress_end(): the coder back to the pool
 *
 * When to flush is the source's call (backend.c: a read that did not fill
 * its buffer, or one that found nothing): each flush ends a block and costs
 * size (about 1% for gzip and 3% for zstd on a 1 MiB body flushed every
 * 16 KiB), so a bulk body read in full buffers is not flushed per read;
 * output is never held while the backend is quiet, which keeps server-sent
 * events and long polls moving.
 *
 * The hot path allocates nothing: the coder and its memory come from the
 * worker's pool (reused), the coded bytes go into the request's filter
 * buffers, which keep their storage for the whole response.
 */
#include "proxyd/filter_compress.h"

#include <string.h>
#include <strings.h>

#include "proxyd/accept_enc.h"
#include "proxyd/compress.h"
#include "proxyd/conn.h"
#include "proxyd/exchange.h"
#include "proxyd/h1_frame.h"
#include "proxyd/route.h"
#include "proxyd/worker.h"

static int compress_hdr_drop(const struct req *r, const char *name, size_t len);
static void compress_hdr_add(const struct req *r, struct buf *h);
static int compress_body(struct req *r, void *st, const uint8_t *in, size_t n, struct buf *out, unsigned flags);
static void compress_end(struct req *r, void *st);

/* Compressing: header and body stages, per-response state the coder. */
static const struct filter filter_compress = {
	.name = "compress",
	.hdr_drop = compress_hdr_drop,
	.hdr_add = compress_hdr_add,
	.body = compress_body,
	.holds = 1,
	.end = compress_end,
};

/* Not compressing this response, which would have been compressed for
 * another request (another Accept-Encoding, GET instead of HEAD, a free
 * coder): the header stage only, for Vary. */
static const struct filter filter_compress_vary = {
	.name = "compress-vary",
	.hdr_drop = compress_hdr_drop,
	.hdr_add = compress_hdr_add,
};

/* ---- the request ----------------------------------------------------------- */

void
filter_compress_request(struct req *r, const uint8_t *d)
{
	const struct compress_route_conf *rc = &r->rt->compress;
	const struct http_msg *m = &r->rq.head;
	struct compress_req_facts *q = &r->cz.q;
	struct accept_enc ae;

	if (!rc->enabled)
		return;
	accept_enc_init(&ae);
	for (int i = 0; i < m->nheaders; i++) {
		struct http_span n = m->headers[i].name, v = m->headers[i].value;

		switch (n.len) {
		case 5:
			/* Byte ranges count bytes of the uncoded representation
			 * (RFC 9110 §14.1): whatever the backend answers, not coded. */
			if (H1_SPAN_IS(d, n, "range"))
				q->range = 1;
			break;
		case 13:
			/* RFC 9111 §5.2.1.6: the client asks intermediaries not to
			 * transform the content. */
			if (H1_SPAN_IS(d, n, "cache-control") && compress_cc_no_transform((const char *)d + v.off, v.len))
				q->no_transform = 1;
			break;
		case 15:
			/* Several lines form one list (RFC 9110 §5.3). */
			if (H1_SPAN_IS(d, n, "accept-encoding"))
				accept_enc_parse(&ae, (const char *)d + v.off, v.len);
			break;
		}
	}
	q->accepted = accept_enc_choose(&ae, rc->prefer, rc->nprefer);
	q->head = m->method == HTTP_M_HEAD;
	/* Only a WebSocket handshake becomes a tunnel (request.c); another
	 * Upgrade is stripped and its answer is an ordinary response. */
	q->upgrade = r->upgrade;
	r->cz.on = 1;
}

/* ---- the response head --------------------------------------------------------- */

/* 1 when a filter before compression in r's chain drops the response field
 * name: the route's header edits act on the response first, so a Vary or
 * an ETag they removed is not brought back here. */
static int
dropped_before(const struct req *r, const char *name, size_t len)
{
	const struct filter_chain *fc = &r->fc;

	for (unsigned i = 0; i < fc->n; i++) {
		if (fc->f[i] == &filter_compress || fc->f[i] == &filter_compress_vary)
			break;
		if (fc->f[i]->hdr_drop != NULL && fc->f[i]->hdr_drop(r, name, len))
			return 1;
	}
	return 0;
}

void
filter_compress_select(struct req *r, int body, const uint8_t *rd)
{
	struct compress_pool *p = exch_wk(r)->cpool;
	const struct compress_route_conf *rc = &r->rt->compress;
	const struct http_msg *m = &r->rs.head;
	struct compress_resp_facts rs;
	struct compress_decision d;
	struct compress_stream *s = NULL;
	unsigned vflags = 0;
	size_t vlen = 0;
	int nvary = 0, netag = 0;

	r->cz.alg = COMPRESS_IDENTITY;
	r->cz.vary = FILTER_COMPRESS_VARY_NONE;
	r->cz.etag = 0;
	r->cz.rd = rd;
	if (!rc->enabled || !r->cz.on) {
		r->cz.skip = COMPRESS_SKIP_OFF;
		if (p != NULL)
			compress_pool_count_skip(p, COMPRESS_SKIP_OFF);
		return;
	}
	memset(&rs, 0, sizeof(rs));
	rs.status = m->status;
	rs.upgraded = m->status == 101 || r->rs.body == HTTP_BODY_TUNNEL;
	rs.length = m->chunked ? -1 : m->content_length;
	for (int i = 0; i < m->nheaders; i++) {
		struct http_span n = m->headers[i].name, v = m->headers[i].value;
		const char *vp = (const char *)rd + v.off;

		switch (n.len) {
		case 4:
			if (H1_SPAN_IS(rd, n, "vary") && !dropped_before(r, "vary", 4)) {
				vflags |= (unsigned)compress_vary_scan(vp, v.len);
				vlen += v.len + 2;
				nvary++;
			} else if (H1_SPAN_IS(rd, n, "etag")) {
				netag++;
			}
			break;
		case 12:
			if (rs.ctype == NULL && H1_SPAN_IS(rd, n, "content-type")) {
				rs.ctype = vp;
				rs.ctype_len = v.len;
			}
			break;
		case 13:
			if (H1_SPAN_IS(rd, n, "cache-control") && compress_cc_no_transform(vp, v.len))
				rs.no_transform = 1;
			break;
		case 16:
			if (H1_SPAN_IS(rd, n, "content-encoding"))
				rs.encoded = 1;
			break;
		}
	}
	compress_decide(rc, &r->cz.q, &rs, &d);
	if (d.skip == COMPRESS_SKIP_NONE && !body) {
		/* Nothing to code (Content-Length: 0 with min_length 0): an
		 * empty body stays empty rather than becoming a coded frame. */
		d.skip = COMPRESS_SKIP_SHORT;
		d.alg = COMPRESS_IDENTITY;
	}
	if (d.skip == COMPRESS_SKIP_NONE) {
		/* The length only when the framing guarantees it: the coder may
		 * record it (zstd's frame header), and a body that ends short
		 * is cut off anyway. */
		s = p != NULL ? compress_acquire(p, d.alg, d.level, r->rs.body == HTTP_BODY_LENGTH ? m->content_length : -1) : NULL;
		if (s == NULL) {
			/* Counted by the pool (pool_full, or an error on ENOMEM). */
			d.skip = COMPRESS_SKIP_POOL_FULL;
		} else if (filter_add(r, &filter_compress, s) == -1) {
			compress_release(s);
			s = NULL;
			d.skip = COMPRESS_SKIP_POOL_FULL;
			compress_pool_count_skip(p, d.skip);
		}
	} else if (p != NULL) {
		compress_pool_count_skip(p, d.skip);
	}
	r->cz.skip = (uint8_t)d.skip;
	if (s != NULL) {
		r->cz.alg = (uint8_t)d.alg;
		r->cz.etag = netag > 0;
	}
	if (d.vary && !(vflags & (COMPRESS_VARY_AE | COMPRESS_VARY_STAR))) {
		if (nvary == 0 || vlen + 17 > FILTER_COMPRESS_VARY_MAX)
			r->cz.vary = FILTER_COMPRESS_VARY_ADD;
		else
			r->cz.vary = FILTER_COMPRESS_VARY_MERGE;
		if (s == NULL)
			(void)filter_add(r, &filter_compress_vary, NULL);
	}
}

/* ---- the header stage ------------------------------------------------------------ */

static int
compress_hdr_drop(const struct req *r, const char *name, size_t len)
{
	switch (len) {
	case 4:
		if (strncasecmp(name, "vary", 4) == 0)
			return r->cz.vary == FILTER_COMPRESS_VARY_MERGE;
		if (strncasecmp(name, "etag", 4) == 0)
			return r->cz.etag;
		break;
	case 13:
		/* Ranges of the coded body are not served: a client that read
		 * "Accept-Ranges: bytes" here would ask for bytes of a
		 * representation proxyd never lets a range reach. */
		if (strncasecmp(name, "accept-ranges", 13) == 0)
			return r->cz.alg != COMPRESS_IDENTITY;
		break;
	}
	return 0;
}

/* The merged Vary line: the response's Vary values (those no earlier filter
 * dropped) joined, with Accept-Encoding appended. */
static void
add_vary_merged(const struct req *r, struct buf *h)
{
	const struct http_msg *m = &r->rs.head;
	const uint8_t *rd = r->cz.rd;
	char cat[FILTER_COMPRESS_VARY_MAX], out[FILTER_COMPRESS_VARY_MAX + 20];
	size_t len = 0;
	int n;

	for (int i = 0; i < m->nheaders; i++) {
		struct http_span nm = m->headers[i].name, v = m->headers[i].value;

		if (nm.len != 4 || !H1_SPAN_IS(rd, nm, "vary") || dropped_before(r, "vary", 4))
			continue;
		/* select measured these: they fit. */
		if (len > 0) {
			memcpy(cat + len, ", ", 2);
			len += 2;
		}
		memcpy(cat + len, rd + v.off, v.len);
		len += v.len;
	}
	if ((n = compress_vary_merge(cat, len, out, sizeof(out))) <= 0)
		return;
	buf_append(h, "Vary: ", 6);
	buf_append(h, out, (size_t)n);
	buf_append(h, "\r\n", 2);
}

/* The response's ETag lines for the coded representation: a strong tag
 * made weak (RFC 9110 §8.8.1: a strong validator names exact bytes, and
 * the coded bytes differ; If-None-Match compares weakly, so revalidation
 * still works), a malformed one left out. */
static void
add_etag_weak(const struct req *r, struct buf *h)
{
	const struct http_msg *m = &r->rs.head;
	const uint8_t *rd = r->cz.rd;

	for (int i = 0; i < m->nheaders; i++) {
		struct http_span nm = m->headers[i].name, v = m->headers[i].value;
		size_t at = h->wpos;
		int n;

		if (nm.len != 4 || !H1_SPAN_IS(rd, nm, "etag") || dropped_before(r, "etag", 4))
			continue;
		if (buf_reserve(h, v.len + 10) == -1)
			return;
		buf_append(h, "ETag: ", 6);
		if ((n = compress_etag_weaken((const char *)rd + v.off, v.len, (char *)buf_wptr(h), buf_avail(h))) < 0) {
			h->wpos = at;
			continue;
		}
		buf_produce(h, (size_t)n);
		buf_append(h, "\r\n", 2);
	}
}

static void
compress_hdr_add(const struct req *r, struct buf *h)
{
	if (r->cz.alg != COMPRESS_IDENTITY) {
		buf_append(h, "Content-Encoding: ", 18);
		buf_append(h, compress_alg_str((enum compress_alg)r->cz.alg), strlen(compress_alg_str((enum compress_alg)r->cz.alg)));
		buf_append(h, "\r\n", 2);
	}
	if (r->cz.vary == FILTER_COMPRESS_VARY_ADD)
		buf_append(h, "Vary: Accept-Encoding\r\n", 23);
	else if (r->cz.vary == FILTER_COMPRESS_VARY_MERGE)
		add_vary_merged(r, h);
	if (r->cz.etag)
		add_etag_weak(r, h);
}

/* ---- the body stage ---------------------------------------------------------------- */

static int
compress_body(struct req *r, void *st, const uint8_t *in, size_t n, struct buf *out, unsigned flags)
{
	(void)r;
	/* A coder error leaves a coded stream that cannot be completed: -1
	 * makes the chain's caller close the connection (compress_feed
	 * counted the error). */
	return compress_feed(st, in, n, (flags & FILTER_LAST) ? COMPRESS_FINISH :
	    (flags & FILTER_FLUSH) ? COMPRESS_FLUSH : COMPRESS_WRITE, out);
}

static void
compress_end(struct req *r, void *st)
{
	(void)r;
	compress_release(st);
}
