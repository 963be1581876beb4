/*
 * tests/unit/test_filter_compress.c — proxyd/filter_compress: compression
 * as a filter of the response chain, without sockets.
 *
 * A table of (route setting, request head, response head) -> (the coding
 * sent, the skip reason counted, the head the client would get: which
 * fields were dropped, which added), through the same calls the exchange
 * makes: filter_request() on the request head, filter_select() on the
 * response head, then the header stage as h1_response_head() applies it.
 * Then bodies through the chain's body stage, fed in pieces and decoded
 * byte for byte: chunked for HTTP/1.1, raw for HTTP/1.0, the end of the
 * stream only at FILTER_LAST.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <zlib.h>
#include <zstd.h>

#include "proxyd/compress.h"
#include "proxyd/compress_conf.h"
#include "proxyd/conn.h"
#include "proxyd/filter.h"
#include "proxyd/filter_compress.h"
#include "proxyd/route.h"
#include "proxyd/worker.h"

struct fx {
	struct worker wk;
	struct conn c;
	struct route rt;
	struct compress_global_conf g;
	struct req *r;
	struct http_parser qp, rp;
	char reqbuf[2048], respbuf[2048];
};

static struct fx *
fx_new(uint32_t max_streams)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_non_null(f->r = calloc(1, sizeof(*f->r)));
	assert_non_null(f->wk.cpool = compress_pool_new(max_streams));
	compress_conf_global_defaults(&f->g);
	f->rt.compress = f->g.defaults;
	f->rt.compress.enabled = 1;
	f->c.wk = &f->wk;
	f->r->c = &f->c;
	f->r->wk = &f->wk;
	f->r->rt = &f->rt;
	buf_init(&f->r->fmid);
	return f;
}

static void
fx_free(struct fx *f)
{
	filter_end(f->r);
	buf_fini(&f->r->fmid);
	compress_pool_free(f->wk.cpool);
	free(f->r);
	free(f);
}

/* The request head "METHOD / HTTP/1.x" with the given field lines
 * ("Name: value\r\n" each), then the response head "HTTP/1.1 STATUS X" with
 * its field lines; both parsed and handed to the chain as the exchange
 * does. body: the response has a body the chain may transform. */
static void
fx_run(struct fx *f, const char *method, int minor, const char *qfields, int status, const char *rfields)
{
	struct req *r = f->r;
	int n;

	/* A new exchange on the same struct req, as exch_alloc makes it. */
	filter_end(r);
	memset(r, 0, offsetof(struct req, qhead));
	r->c = &f->c;
	r->wk = &f->wk;
	r->rt = &f->rt;
	n = snprintf(f->reqbuf, sizeof(f->reqbuf), "%s / HTTP/1.%d\r\nHost: t\r\n%s\r\n", method, minor, qfields);
	http_parser_init(&f->qp, 0, NULL);
	assert_int_equal(http_parse(&f->qp, &r->rq.head, (const uint8_t *)f->reqbuf, (size_t)n), HTTP_OK);
	r->upgrade = r->rq.head.upgrade_ws && r->rq.head.conn_upgrade;
	filter_request(r, (const uint8_t *)f->reqbuf);
	n = snprintf(f->respbuf, sizeof(f->respbuf), "HTTP/1.1 %d X\r\n%s\r\n", status, rfields);
	http_parser_init(&f->rp, 1, NULL);
	assert_int_equal(http_parse(&f->rp, &r->rs.head, (const uint8_t *)f->respbuf, (size_t)n), HTTP_OK);
	r->rs.body = http_response_body(&r->rs.head, r->rq.head.method);
	filter_select(r, FILTER_SEL_BACKEND | (r->rs.body != HTTP_BODY_NONE && r->rs.body != HTTP_BODY_TUNNEL ? FILTER_SEL_BODY : 0),
	    (const uint8_t *)f->respbuf);
}

/* The response's fields as the header stage leaves them (those the chain
 * drops left out, its own added after), "Name: value\r\n" each. The framing
 * is h1_response_head's and not shown. */
static void
fx_head(struct fx *f, struct buf *h)
{
	const struct http_msg *m = &f->r->rs.head;
	const uint8_t *d = (const uint8_t *)f->respbuf;

	h->rpos = h->wpos = 0;
	for (int i = 0; i < m->nheaders; i++) {
		struct http_span n = m->headers[i].name, v = m->headers[i].value;
		if (filter_hdr_drop(f->r, (const char *)d + n.off, n.len))
			continue;
		buf_append(h, d + n.off, n.len);
		buf_append(h, ": ", 2);
		buf_append(h, d + v.off, v.len);
		buf_append(h, "\r\n", 2);
	}
	filter_hdr_add(f->r, h);
	buf_append(h, "", 1);
}

#define HTML "Content-Type: text/html; charset=utf-8\r\nContent-Length: 5000\r\n"

struct head_case {
	const char *name;
	const char *method;
	const char *qfields;
	int status;
	const char *rfields;
	enum compress_alg alg;
	enum compress_skip skip;
	const char *want;       /* lines the head must hold, '|' between them */
	const char *never;      /* lines it must not hold, '|' between them; NULL: none */
};

static const struct head_case head_cases[] = {
	{ "gzip: Vary merged, ETag weakened, Accept-Ranges dropped", "GET", "Accept-Encoding: gzip\r\n", 200,
	  HTML "Vary: Cookie\r\nETag: \"v1\"\r\nAccept-Ranges: bytes\r\n", COMPRESS_GZIP, COMPRESS_SKIP_NONE,
	  "Content-Encoding: gzip\r\n|Vary: Cookie, Accept-Encoding\r\n|ETag: W/\"v1\"\r\n",
	  "Vary: Cookie\r\n|ETag: \"v1\"|Accept-Ranges" },
	{ "two Vary lines merged into one", "GET", "Accept-Encoding: br\r\n", 200,
	  HTML "Vary: Cookie\r\nVary: User-Agent\r\n", COMPRESS_BR, COMPRESS_SKIP_NONE,
	  "Content-Encoding: br\r\n|Vary: Cookie, User-Agent, Accept-Encoding\r\n", "Vary: Cookie\r\n|Vary: User-Agent\r\n" },
	{ "Vary already naming it: left as sent", "GET", "Accept-Encoding: zstd\r\n", 200,
	  HTML "Vary: accept-encoding, Origin\r\n", COMPRESS_ZSTD, COMPRESS_SKIP_NONE,
	  "Content-Encoding: zstd\r\n|Vary: accept-encoding, Origin\r\n", "Vary: Accept-Encoding" },
	{ "Vary: * left alone", "GET", "Accept-Encoding: gzip\r\n", 200, HTML "Vary: *\r\n", COMPRESS_GZIP,
	  COMPRESS_SKIP_NONE, "Content-Encoding: gzip\r\n|Vary: *\r\n", "Accept-Encoding" },
	{ "a weak ETag stays, a malformed one goes", "GET", "Accept-Encoding: gzip\r\n", 200,
	  HTML "ETag: W/\"w\"\r\nETag: bare\r\n", COMPRESS_GZIP, COMPRESS_SKIP_NONE, "ETag: W/\"w\"\r\n", "bare" },
	{ "server order breaks a tie; several Accept-Encoding lines are one list", "GET",
	  "Accept-Encoding: gzip\r\nAccept-Encoding: br;q=1, zstd;q=0.5\r\n", 200, HTML, COMPRESS_BR,
	  COMPRESS_SKIP_NONE, "Content-Encoding: br\r\n|Vary: Accept-Encoding\r\n", NULL },
	{ "no Accept-Encoding: identity with Vary, ETag as sent", "GET", "", 200, HTML "ETag: \"v1\"\r\n",
	  COMPRESS_IDENTITY, COMPRESS_SKIP_NOT_ACCEPTED, "Vary: Accept-Encoding\r\n|ETag: \"v1\"\r\n", "Content-Encoding" },
	{ "HEAD: not coded, Vary as GET would get", "HEAD", "Accept-Encoding: gzip\r\n", 200, HTML,
	  COMPRESS_IDENTITY, COMPRESS_SKIP_NO_BODY, "Vary: Accept-Encoding\r\n", "Content-Encoding" },
	{ "Range: not coded, no Vary", "GET", "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n", 200, HTML,
	  COMPRESS_IDENTITY, COMPRESS_SKIP_PARTIAL, "", "Content-Encoding|Vary" },
	{ "206", "GET", "Accept-Encoding: gzip\r\n", 206, HTML "Accept-Ranges: bytes\r\n", COMPRESS_IDENTITY,
	  COMPRESS_SKIP_PARTIAL, "Accept-Ranges: bytes\r\n", "Content-Encoding|Vary" },
	{ "already coded by the backend", "GET", "Accept-Encoding: gzip, br\r\n", 200, HTML "Content-Encoding: br\r\n",
	  COMPRESS_IDENTITY, COMPRESS_SKIP_ENCODED, "Content-Encoding: br\r\n", "Vary|gzip" },
	{ "no-transform from the backend", "GET", "Accept-Encoding: gzip\r\n", 200,
	  HTML "Cache-Control: public, No-Transform\r\n", COMPRESS_IDENTITY, COMPRESS_SKIP_NO_TRANSFORM, "", "Content-Encoding|Vary" },
	{ "no-transform from the client", "GET", "Accept-Encoding: gzip\r\nCache-Control: no-transform\r\n", 200, HTML,
	  COMPRESS_IDENTITY, COMPRESS_SKIP_NO_TRANSFORM, "", "Content-Encoding|Vary" },
	{ "a type not listed", "GET", "Accept-Encoding: gzip\r\n", 200, "Content-Type: image/png\r\nContent-Length: 5000\r\n",
	  COMPRESS_IDENTITY, COMPRESS_SKIP_TYPE, "", "Content-Encoding|Vary" },
	{ "shorter than min_length", "GET", "Accept-Encoding: gzip\r\n", 200,
	  "Content-Type: text/plain\r\nContent-Length: 255\r\n", COMPRESS_IDENTITY, COMPRESS_SKIP_SHORT, "", "Content-Encoding|Vary" },
	{ "chunked, length unknown: coded", "GET", "Accept-Encoding: gzip\r\n", 200,
	  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", COMPRESS_GZIP, COMPRESS_SKIP_NONE,
	  "Content-Encoding: gzip\r\n", NULL },
	{ "304", "GET", "Accept-Encoding: gzip\r\n", 304, "ETag: \"v1\"\r\nContent-Type: text/html\r\n", COMPRESS_IDENTITY,
	  COMPRESS_SKIP_NO_BODY, "ETag: \"v1\"\r\n", "Vary|Content-Encoding" },
	{ "204", "GET", "Accept-Encoding: gzip\r\n", 204, "Content-Type: text/html\r\n", COMPRESS_IDENTITY,
	  COMPRESS_SKIP_NO_BODY, "", "Vary|Content-Encoding" },
};

/* Every '|'-separated piece of list found in s (want) or none (!want). */
static void
check_lines(const char *name, const char *s, const char *list, int want)
{
	char tmp[512], *save = NULL;

	if (list == NULL || *list == '\0')
		return;
	snprintf(tmp, sizeof(tmp), "%s", list);
	for (char *p = strtok_r(tmp, "|", &save); p != NULL; p = strtok_r(NULL, "|", &save))
		if ((strstr(s, p) != NULL) != want)
			fail_msg("%s: \"%s\" %s in\n%s", name, p, want ? "missing" : "present", s);
}

static void
test_head_table(void **state)
{
	struct buf h;

	(void)state;
	buf_init(&h);
	for (size_t i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++) {
		const struct head_case *k = &head_cases[i];
		struct fx *f = fx_new(4);
		const struct compress_stats *st = compress_pool_stats(f->wk.cpool);

		fx_run(f, k->method, 1, k->qfields, k->status, k->rfields);
		if (f->r->cz.alg != k->alg || f->r->cz.skip != k->skip)
			fail_msg("%s: coding %s skip %s, want %s %s", k->name, compress_alg_str((enum compress_alg)f->r->cz.alg),
			    compress_skip_str((enum compress_skip)f->r->cz.skip), compress_alg_str(k->alg), compress_skip_str(k->skip));
		/* A body stage exactly when coding; the skip counted once. */
		assert_int_equal(f->r->fc.nbody, k->alg != COMPRESS_IDENTITY);
		if (k->skip != COMPRESS_SKIP_NONE)
			assert_int_equal(atomic_load(&st->skipped[k->skip]), 1);
		fx_head(f, &h);
		check_lines(k->name, (const char *)buf_rptr(&h), k->want, 1);
		check_lines(k->name, (const char *)buf_rptr(&h), k->never, 0);
		fx_free(f);
	}
	buf_fini(&h);
}

/* The route's own header edits run first: a Vary or an ETag they remove
 * is not brought back by compression. */
static void
test_route_edits_first(void **state)
{
	struct route_hdr_op ops[2] = { { "Vary", 4, NULL }, { "ETag", 4, NULL } };
	struct fx *f = fx_new(4);
	struct buf h;

	(void)state;
	buf_init(&h);
	f->rt.resp_ops = ops;
	f->rt.nresp_ops = 2;
	fx_run(f, "GET", 1, "Accept-Encoding: gzip\r\n", 200, HTML "Vary: Cookie\r\nETag: \"v1\"\r\n");
	assert_int_equal(f->r->cz.alg, COMPRESS_GZIP);
	fx_head(f, &h);
	check_lines("route edits", (const char *)buf_rptr(&h), "Content-Encoding: gzip\r\n|Vary: Accept-Encoding\r\n", 1);
	check_lines("route edits", (const char *)buf_rptr(&h), "Cookie|ETag", 0);
	buf_fini(&h);
	fx_free(f);
}

/* A route without compress: nothing added, nothing coded, counted "off";
 * a local answer (no backend head) never reaches compression. */
static void
test_off(void **state)
{
	struct fx *f = fx_new(4);
	const struct compress_stats *st = compress_pool_stats(f->wk.cpool);

	(void)state;
	f->rt.compress.enabled = 0;
	fx_run(f, "GET", 1, "Accept-Encoding: gzip\r\n", 200, HTML);
	assert_int_equal(f->r->fc.n, 0);
	assert_int_equal(f->r->cz.skip, COMPRESS_SKIP_OFF);
	assert_int_equal(atomic_load(&st->skipped[COMPRESS_SKIP_OFF]), 1);
	f->rt.compress.enabled = 1;
	filter_select(f->r, 0, NULL);
	assert_int_equal(f->r->fc.n, 0);
	fx_free(f);
}

/* No coder free (max_streams 1, the one busy): identity with Vary, counted
 * pool_full; the coder given back at the end serves the next response. */
static void
test_pool_full(void **state)
{
	struct fx *a = fx_new(1), *b;
	const struct compress_stats *st;
	struct compress_pool *p = a->wk.cpool;
	struct buf h;

	(void)state;
	buf_init(&h);
	fx_run(a, "GET", 1, "Accept-Encoding: gzip\r\n", 200, HTML);
	assert_int_equal(a->r->cz.alg, COMPRESS_GZIP);
	b = fx_new(1);
	compress_pool_free(b->wk.cpool);
	b->wk.cpool = p;                      /* the same worker */
	st = compress_pool_stats(p);
	fx_run(b, "GET", 1, "Accept-Encoding: gzip\r\n", 200, HTML);
	assert_int_equal(b->r->cz.alg, COMPRESS_IDENTITY);
	assert_int_equal(b->r->cz.skip, COMPRESS_SKIP_POOL_FULL);
	assert_int_equal(atomic_load(&st->skipped[COMPRESS_SKIP_POOL_FULL]), 1);
	fx_head(b, &h);
	check_lines("pool full", (const char *)buf_rptr(&h), "Vary: Accept-Encoding\r\n", 1);
	check_lines("pool full", (const char *)buf_rptr(&h), "Content-Encoding", 0);
	filter_end(a->r);                     /* the first response ends */
	fx_run(b, "GET", 1, "Accept-Encoding: gzip\r\n", 200, HTML);
	assert_int_equal(b->r->cz.alg, COMPRESS_GZIP);
	filter_end(b->r);
	b->wk.cpool = NULL;                   /* a's to free */
	fx_free(b);
	fx_free(a);
	buf_fini(&h);
}

/* De-chunks out (HTTP/1.1 framing) into data; 1 when the last chunk was seen. */
static int
unchunk(const struct buf *out, struct buf *data)
{
	const char *p = (const char *)buf_rptr(out), *end = p + buf_len(out);

	while (p < end) {
		char *e;
		unsigned long n = strtoul(p, &e, 16);
		assert_true(e + 2 <= end && e[0] == '\r' && e[1] == '\n');
		p = e + 2;
		if (n == 0) {
			assert_true(p + 2 == end && p[0] == '\r' && p[1] == '\n');
			return 1;
		}
		assert_true(p + n + 2 <= end);
		buf_append(data, p, n);
		p += n + 2;
	}
	return 0;
}

/* A body through the chain in pieces of every size in cuts[], each piece
 * one backend read: what each read emits decodes at once (the flush), and
 * the whole decodes to the body. */
static void
run_body(enum compress_alg alg, int minor)
{
	static const size_t cuts[] = { 1, 7, 300, 4093, 32768 };
	static uint8_t body[200000];
	struct fx *f = fx_new(4);
	struct buf out, coded, plain;
	const char *ae = alg == COMPRESS_GZIP ? "Accept-Encoding: gzip\r\n" : "Accept-Encoding: zstd\r\n";
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(body); i++) {
		x = x * 1103515245u + 12345u;
		body[i] = (uint8_t)("abcdefgh <>/\n"[(x >> 16) % 13]);
	}
	buf_init(&out);
	buf_init(&coded);
	buf_init(&plain);
	fx_run(f, "GET", minor, ae, 200, "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n");
	assert_int_equal(f->r->cz.alg, alg);
	for (size_t off = 0, k = 0; off < sizeof(body); k++) {
		size_t n = cuts[k % (sizeof(cuts) / sizeof(cuts[0]))];
		if (n > sizeof(body) - off)
			n = sizeof(body) - off;
		out.rpos = out.wpos = 0;
		assert_int_equal(filter_body(f->r, body + off, n, &out, 0), 0);
		off += n;
		if (minor == 1)
			assert_int_equal(unchunk(&out, &coded), 0);
		else
			buf_append(&coded, buf_rptr(&out), buf_len(&out));
	}
	out.rpos = out.wpos = 0;
	assert_int_equal(filter_body(f->r, NULL, 0, &out, FILTER_LAST), 0);
	if (minor == 1)
		assert_int_equal(unchunk(&out, &coded), 1);
	else
		buf_append(&coded, buf_rptr(&out), buf_len(&out));
	assert_int_equal(buf_reserve(&plain, sizeof(body) + 16), 0);
	if (alg == COMPRESS_GZIP) {
		z_stream z;
		memset(&z, 0, sizeof(z));
		assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
		z.next_in = buf_rptr(&coded);
		z.avail_in = (uInt)buf_len(&coded);
		z.next_out = buf_wptr(&plain);
		z.avail_out = (uInt)buf_avail(&plain);
		assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
		buf_produce(&plain, buf_avail(&plain) - z.avail_out);
		inflateEnd(&z);
	} else {
		size_t n = ZSTD_decompress(buf_wptr(&plain), buf_avail(&plain), buf_rptr(&coded), buf_len(&coded));
		assert_false(ZSTD_isError(n));
		buf_produce(&plain, n);
	}
	assert_int_equal(buf_len(&plain), sizeof(body));
	assert_memory_equal(buf_rptr(&plain), body, sizeof(body));
	assert_true(buf_len(&coded) < sizeof(body) * 3 / 4);
	buf_fini(&out);
	buf_fini(&coded);
	buf_fini(&plain);
	fx_free(f);
}

static void
test_body_gzip_chunked(void **state)
{
	(void)state;
	run_body(COMPRESS_GZIP, 1);
}

static void
test_body_zstd_http10(void **state)
{
	(void)state;
	run_body(COMPRESS_ZSTD, 0);
}

/* inflate what out holds (chunked) into plain: the bytes decoded so far. */
static size_t
decoded_so_far(struct buf *out, char *plain, size_t cap)
{
	struct buf coded;
	z_stream z;
	size_t n;

	buf_init(&coded);
	assert_int_equal(unchunk(out, &coded), 0);
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = buf_rptr(&coded);
	z.avail_in = (uInt)buf_len(&coded);
	z.next_out = (Bytef *)plain;
	z.avail_out = (uInt)cap;
	(void)inflate(&z, Z_SYNC_FLUSH);
	n = cap - z.avail_out;
	inflateEnd(&z);
	buf_fini(&coded);
	return n;
}

/* Without FILTER_FLUSH the stage may keep a read's output back (the source
 * had more waiting); FILTER_FLUSH, even with no new bytes, emits it all:
 * the output then decodes to everything read (what a server-sent event
 * needs). */
static void
test_flush_when_asked(void **state)
{
	static const char ev[] = "event: tick\ndata: hello, hello, hello, hello\n\n";
	struct fx *f = fx_new(4);
	struct buf out;
	char plain[256];

	(void)state;
	buf_init(&out);
	fx_run(f, "GET", 1, "Accept-Encoding: gzip\r\n", 200, "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n");
	assert_int_equal(f->r->cz.alg, COMPRESS_GZIP);
	assert_int_equal(filter_body(f->r, (const uint8_t *)ev, sizeof(ev) - 1, &out, 0), 0);
	assert_true(decoded_so_far(&out, plain, sizeof(plain)) < sizeof(ev) - 1);
	assert_int_equal(filter_body(f->r, NULL, 0, &out, FILTER_FLUSH), 0);
	assert_int_equal(decoded_so_far(&out, plain, sizeof(plain)), sizeof(ev) - 1);
	assert_memory_equal(plain, ev, sizeof(ev) - 1);
	buf_fini(&out);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_table),
		cmocka_unit_test(test_route_edits_first),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_pool_full),
		cmocka_unit_test(test_body_gzip_chunked),
		cmocka_unit_test(test_body_zstd_http10),
		cmocka_unit_test(test_flush_when_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
