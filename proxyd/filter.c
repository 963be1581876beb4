/*
 * proxyd/filter.c — the response filter chain (filter.h) and its first
 * filter, the route's response header edits; compression
 * (filter_compress.c) is chosen from here too.
 */
#include "proxyd/filter.h"

#include <string.h>
#include <strings.h>

#include "proxyd/cache.h"
#include "proxyd/conn.h"
#include "proxyd/filter_compress.h"
#include "proxyd/h1_frame.h"
#include "proxyd/route.h"

/* ---- the route's response header edits ----------------------------------- */

static int
route_hdr_drop(const struct req *r, const char *name, size_t len)
{
	const struct route *rt = r->rt;

	for (size_t k = 0; k < rt->nresp_ops; k++)
		if (rt->resp_ops[k].name_len == len && strncasecmp(rt->resp_ops[k].name, name, len) == 0)
			return 1;
	return 0;
}

static void
route_hdr_add(const struct req *r, struct buf *h)
{
	const struct route *rt = r->rt;

	for (size_t k = 0; k < rt->nresp_ops; k++)
		if (rt->resp_ops[k].value != NULL)
			buf_appendf(h, "%s: %s\r\n", rt->resp_ops[k].name, rt->resp_ops[k].value);
}

const struct filter filter_route_headers = {
	.name = "route-headers",
	.hdr_drop = route_hdr_drop,
	.hdr_add = route_hdr_add,
};

/* ---- the chain ------------------------------------------------------------ */

int
filter_add(struct req *r, const struct filter *f, void *st)
{
	struct filter_chain *fc = &r->fc;

	if (fc->n >= FILTER_MAX)
		return -1;
	fc->f[fc->n] = f;
	fc->st[fc->n] = st;
	fc->n++;
	if (f->body != NULL)
		fc->nbody++;
	if (f->holds)
		fc->nhold++;
	if (f->hdr_drop != NULL)
		fc->ndrop++;
	return 0;
}

void
filter_request(struct req *r, const uint8_t *d)
{
	if (r->rt != NULL && r->rt->compress.enabled)
		filter_compress_request(r, d);
}

/*
 * The order is the order the stages run in: the route's header edits act
 * on the backend's response first, compression on the result (it neither
 * brings back a field the route removed nor codes what it cannot see).
 */
void
filter_select(struct req *r, unsigned how, const uint8_t *rd)
{
	if (r->fc.n > 0)
		filter_end(r);   /* a local answer after a backend's head was chosen for */
	r->cz.alg = COMPRESS_IDENTITY;    /* what the access log reports: nothing coded yet */
	if (r->rt == NULL)
		return;
	if (r->rt->nresp_ops > 0)
		(void)filter_add(r, &filter_route_headers, NULL);
	/* The cache before compression: its store sees the origin's bytes,
	 * and a hit is coded per client like a backend's response. */
	if (r->cache != NULL)
		cache_filter_select(r, how, rd);
	else if (r->cache_pass && (how & FILTER_SEL_BACKEND) && rd != NULL)
		(void)filter_add(r, &cache_filter_pass, NULL);    /* its Cache-Status only (cache.h) */
	if ((how & FILTER_SEL_BACKEND) && rd != NULL)
		filter_compress_select(r, (how & FILTER_SEL_BODY) != 0, rd);
}

int
filter_hdr_drop(const struct req *r, const char *name, size_t len)
{
	const struct filter_chain *fc = &r->fc;

	for (unsigned i = 0; i < fc->n; i++)
		if (fc->f[i]->hdr_drop != NULL && fc->f[i]->hdr_drop(r, name, len))
			return 1;
	return 0;
}

void
filter_hdr_add(const struct req *r, struct buf *h)
{
	const struct filter_chain *fc = &r->fc;

	for (unsigned i = 0; i < fc->n; i++)
		if (fc->f[i]->hdr_add != NULL)
			fc->f[i]->hdr_add(r, h);
}

/*
 * Each body stage reads the previous one's output: the first reads `in`,
 * later ones read r->fmid, which the stage before wrote into r->fout's place
 * and is swapped. The last stage's output is then framed onto out.
 */
int
filter_body(struct req *r, const uint8_t *in, size_t n, struct buf *out, unsigned flags)
{
	struct filter_chain *fc = &r->fc;
	struct buf stage[2], *src = NULL;
	int cur = 0, chunked = r->rq.head.version_minor == 1 && !r->h2;

	stage[0] = r->fmid;
	buf_init(&stage[1]);
	for (unsigned i = 0; i < fc->n; i++) {
		struct buf *dst;
		if (fc->f[i]->body == NULL)
			continue;
		dst = &stage[cur];
		dst->rpos = dst->wpos = 0;
		if (fc->f[i]->body(r, fc->st[i], src ? buf_rptr(src) : in, src ? buf_len(src) : n, dst, flags) == -1) {
			r->fmid = stage[0];
			buf_fini(&stage[1]);
			return -1;
		}
		src = dst;
		cur ^= 1;
	}
	{
		/* No body stage after all: the bytes go on as they are. */
		const uint8_t *p = src != NULL ? buf_rptr(src) : in;
		size_t len = src != NULL ? buf_len(src) : n;
		int rc = chunked ? h1_chunk_append(out, p, len) : (len > 0 ? buf_append(out, p, len) : 0);

		if (rc == 0 && chunked && (flags & FILTER_LAST))
			rc = h1_chunk_last(out);
		r->fmid = stage[0];
		buf_fini(&stage[1]);
		return rc;
	}
}

void
filter_end(struct req *r)
{
	struct filter_chain *fc = &r->fc;

	for (unsigned i = 0; i < fc->n; i++)
		if (fc->f[i]->end != NULL)
			fc->f[i]->end(r, fc->st[i]);
	fc->n = fc->nbody = fc->nhold = fc->ndrop = 0;
}
