/*
 * tests/fuzz/fuzz_http_parse.c — libFuzzer harness for proxyd/http_parse.c,
 * the parser every client and upstream byte goes through.
 *
 * Each input is used as a request stream (messages parsed one after another,
 * bodies skipped by their framing, as proxyd's pipelining does), as a
 * response, and as a chunked body. Besides the sanitizers, the harness
 * checks that every span and offset stays inside the head, and does a
 * differential check: the same bytes cut in two at a point derived from the
 * data must get the same verdict as in one piece (abort() otherwise), since
 * a verdict that depends on TCP segmentation is a smuggling vector.
 * Every buffer handed to the parser is an exact-size heap copy, so ASan sees
 * any read past the bytes the caller owns.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyd/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct head_v { int rc, status; uint32_t hb; uint16_t nh; int64_t cl; int chunked, ign, ws; };

static uint8_t *copy(const uint8_t *d, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	memcpy(p, d, n);
	return p;
}

static void check_span(struct http_span s, uint32_t hb)
{
	if (s.off > hb || s.len > hb - s.off)
		abort();
}

static struct head_v verdict(const struct http_parser *p, const struct http_msg *m, int rc,
                             const uint8_t *d, size_t n)
{
	struct head_v v;

	memset(&v, 0, sizeof(v));
	v.rc = rc;
	if (rc == HTTP_ERROR) {
		v.status = p->status;
		if (p->reason == NULL || (v.status != 400 && v.status != 414 && v.status != 431 &&
		                          v.status != 501 && v.status != 505 && v.status != 502))
			abort();
	} else if (rc == HTTP_OK) {
		v.hb = m->header_bytes;
		v.nh = m->nheaders;
		v.cl = m->content_length;
		v.chunked = m->chunked;
		v.ign = m->conn_ignored;
		v.ws = m->upgrade_ws;
		if (v.hb > n || v.nh > HTTP_MAX_HEADERS || (m->chunked && m->content_length >= 0))
			abort();
		for (uint16_t i = 0; i < m->nheaders; i++) {
			check_span(m->headers[i].name, v.hb);
			check_span(m->headers[i].value, v.hb);
			/* A Connection token never makes framing, Host or a
			 * field proxyd sets hop-by-hop (request smuggling). */
			if (((m->conn_hop_mask[i / 32] >> (i % 32)) & 1u) &&
			    http_field_protected(d + m->headers[i].name.off, m->headers[i].name.len))
				abort();
		}
		check_span(m->target, v.hb);
		check_span(m->method_s, v.hb);
		check_span(m->reason, v.hb);
	} else if (rc != HTTP_AGAIN) {
		abort();
	}
	return v;
}

/* A request the parser accepted has a normal form (http_target_normalize()
 * cannot fail), no longer than the target, and that form is a fixed point:
 * normalising it again changes nothing. Works on a copy of the bytes. */
static void check_normalize(const uint8_t *buf, size_t n, const struct http_msg *m)
{
	static struct http_msg mc;
	uint8_t *c = copy(buf, n);
	const char *t, *pe, *why;
	size_t pl;
	int k;

	mc = *m;
	if (http_target_normalize(&mc, c) != 0 || mc.target.len > m->target.len || mc.target.off != m->target.off)
		abort();
	t = (const char *)c + mc.target.off;
	if (mc.target_form == HTTP_TF_ABSOLUTE)
		t = (const char *)c + mc.authority.off + mc.authority.len;
	pl = (size_t)((const char *)c + mc.target.off + mc.target.len - t);
	if (mc.target_form <= HTTP_TF_ABSOLUTE && pl > 0 && t[0] == '/') {
		pe = memchr(t, '?', pl);
		pl = pe != NULL ? (size_t)(pe - t) : pl;
		char *o = (char *)copy((const uint8_t *)t, pl);
		k = http_path_normalize(t, pl, o, pl, &why);
		if (k != (int)pl || memcmp(o, t, pl) != 0)
			abort();
		free(o);
	}
	free(c);
}

/* Parse d[0..n) whole, and again as d[0..k) then d[0..n); both must agree. */
static struct head_v parse_head(const uint8_t *d, size_t n, size_t k, int is_response,
                                const struct http_limits *lim, struct http_msg *m)
{
	static struct http_msg m2;
	struct http_parser p, p2;
	struct head_v a, b;
	uint8_t *buf = copy(d, n), *part;
	int rc;

	http_parser_init(&p, is_response, lim);
	a = verdict(&p, m, http_parse(&p, m, buf, n), buf, n);
	if (a.rc == HTTP_OK && !is_response)
		check_normalize(buf, n, m);

	http_parser_init(&p2, is_response, lim);
	part = copy(d, k);
	rc = http_parse(&p2, &m2, part, k);
	free(part);
	if (rc == HTTP_AGAIN)
		rc = http_parse(&p2, &m2, buf, n);
	b = verdict(&p2, &m2, rc, buf, n);
	free(buf);
	if (memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	return a;
}

/* Feed d[0..n) as a chunked body, whole and split at k; both must agree. */
static int parse_chunked(const uint8_t *d, size_t n, size_t k, size_t *used)
{
	struct http_chunked c, c2;
	size_t u1, u2a = 0, u2b = 0;
	uint8_t *buf = copy(d, n), *part;
	int rc1, rc2;

	http_chunked_init(&c);
	rc1 = http_chunked_feed(&c, buf, n, &u1);
	if (u1 > n || (rc1 == HTTP_AGAIN && u1 != n))
		abort();

	http_chunked_init(&c2);
	part = copy(d, k);
	rc2 = http_chunked_feed(&c2, part, k, &u2a);
	free(part);
	if (rc2 == HTTP_AGAIN) {
		part = copy(d + k, n - k);
		rc2 = http_chunked_feed(&c2, part, n - k, &u2b);
		free(part);
	}
	free(buf);
	if (rc1 != rc2 || u1 != u2a + u2b || c.body_bytes != c2.body_bytes)
		abort();
	*used = u1;
	return rc1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits small = { 64, 256, 8 };
	static struct http_msg m;
	const struct http_limits *lim;
	struct head_v v;
	size_t off, used, k;
	int i;

	if (size == 0)
		return 0;
	/* Split point and limits come from the last byte, so the message
	 * itself still starts at data[0] where the seeds put it. */
	k = (data[size - 1] * 131u + size) % (size + 1);
	lim = (data[size - 1] & 1) ? &small : NULL;

	/* A request stream: parse, skip the body, go on, as pipelining does. */
	for (off = 0, i = 0; off < size && i < 16; i++) {
		size_t n = size - off;

		v = parse_head(data + off, n, k % (n + 1), 0, lim, &m);
		if (v.rc != HTTP_OK)
			break;
		off += v.hb;
		switch (http_request_body(&m)) {
		case HTTP_BODY_LENGTH:
			if ((uint64_t)m.content_length > size - off)
				return 0;
			off += (size_t)m.content_length;
			break;
		case HTTP_BODY_CHUNKED:
			if (parse_chunked(data + off, size - off, k % (size - off + 1), &used) != HTTP_DONE)
				return 0;
			off += used;
			break;
		default:
			break;
		}
	}

	v = parse_head(data, size, k, 1, lim, &m);
	if (v.rc == HTTP_OK)
		(void)http_response_body(&m, (enum http_method)(data[0] % 10));

	(void)parse_chunked(data, size, k, &used);
	return 0;
}
