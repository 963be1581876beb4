/*
 * tests/fuzz/fuzz_http_response.c — libFuzzer harness for proxyd's HTTP
 * response parser (proxyd/http_parse.c with is_response set): what an
 * upstream server sends back.
 *
 * The input is a response stream. Each head is parsed whole, then again
 * split in two at every point (at data-derived points past 256 bytes), and
 * again fed a byte more at a time; every way must give the same verdict
 * (result, status, error reason, head length, fields, framing), since a
 * verdict that depends on TCP segmentation lets an upstream desynchronise
 * proxyd from the client. Spans must lie inside the head. Interim 1xx
 * responses are followed by the final one at header_bytes, as
 * proxyd/backend.c does; the body is skipped by the framing
 * http_response_body() picks (for a GET, HEAD and CONNECT request alike the
 * verdicts must be the documented ones), chunked bodies through
 * http_chunked_feed(). Every buffer the parser sees is an exact-size heap
 * copy, so ASan reports any read past the bytes the caller owns.
 *
 * Seeds: tests/fuzz/corpus/http_response/, raw responses recorded from
 * tests/tools/backend (tests/fuzz/corpus/README says how).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyd/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct verdict {
	int rc, status, version_minor, chunked, conn_close, keep_alive, upgrade, has_te;
	const char *reason;
	uint32_t hb;
	uint16_t nh;
	int64_t cl;
};

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_http_response: invariant broken: %s\n", what);
		abort();
	}
}

static uint8_t *copy(const uint8_t *d, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	check(p != NULL, "malloc");
	memcpy(p, d, n);
	return p;
}

static void check_span(struct http_span s, uint32_t hb)
{
	check(s.off <= hb && s.len <= hb - s.off, "span inside the head");
}

static struct verdict verdict_of(const struct http_parser *p, const struct http_msg *m, int rc, size_t n)
{
	struct verdict v;

	memset(&v, 0, sizeof(v));
	v.rc = rc;
	if (rc == HTTP_ERROR) {
		/* A bad upstream response is always a 502 to the client. */
		check(p->status == 502 && p->reason != NULL, "error is 502 with a reason");
		v.reason = p->reason;
		return v;
	}
	check(rc == HTTP_OK || rc == HTTP_AGAIN, "result");
	if (rc == HTTP_AGAIN)
		return v;
	v.status = m->status;
	v.version_minor = m->version_minor;
	v.hb = m->header_bytes;
	v.nh = m->nheaders;
	v.cl = m->content_length;
	v.chunked = m->chunked;
	v.conn_close = m->conn_close;
	v.keep_alive = m->conn_keep_alive;
	v.upgrade = m->conn_upgrade;
	v.has_te = m->has_te;
	check(m->status >= 100 && m->status <= 599, "status 100..599");
	check(m->version_minor == 0 || m->version_minor == 1, "HTTP/1.0 or 1.1");
	check(v.hb > 0 && v.hb <= n, "head length");
	check(m->nheaders <= HTTP_MAX_HEADERS, "header count");
	check(!(m->chunked && m->content_length >= 0), "chunked and Content-Length together");
	for (uint16_t i = 0; i < m->nheaders; i++) {
		check_span(m->headers[i].name, v.hb);
		check_span(m->headers[i].value, v.hb);
		check(m->headers[i].name.len > 0, "empty field name");
	}
	check_span(m->reason, v.hb);
	return v;
}

static int same(const struct verdict *a, const struct verdict *b)
{
	return a->rc == b->rc && a->status == b->status && a->version_minor == b->version_minor &&
	    a->chunked == b->chunked && a->conn_close == b->conn_close && a->keep_alive == b->keep_alive &&
	    a->upgrade == b->upgrade && a->has_te == b->has_te && a->hb == b->hb && a->nh == b->nh &&
	    a->cl == b->cl && (a->reason == b->reason || (a->reason && b->reason && strcmp(a->reason, b->reason) == 0));
}

/* Parse d[0..k) (exact copy), then d[0..n) if that needed more. */
static struct verdict parse_split(const uint8_t *d, size_t n, size_t k)
{
	static struct http_msg m;
	struct http_parser p;
	uint8_t *buf;
	int rc;

	http_parser_init(&p, 1, NULL);
	buf = copy(d, k);
	rc = http_parse(&p, &m, buf, k);
	free(buf);
	if (rc == HTTP_AGAIN && k < n) {
		buf = copy(d, n);
		rc = http_parse(&p, &m, buf, n);
		free(buf);
	}
	return verdict_of(&p, &m, rc, n);
}

/* Feed d[0..n) a byte more at a time (the first 256), then the rest. */
static struct verdict parse_trickle(const uint8_t *d, size_t n)
{
	static struct http_msg m;
	struct http_parser p;
	int rc = HTTP_AGAIN;

	http_parser_init(&p, 1, NULL);
	for (size_t k = 1; k <= n && rc == HTTP_AGAIN; k = k < 256 ? k + 1 : (k == n ? n + 1 : n)) {
		uint8_t *buf = copy(d, k);

		rc = http_parse(&p, &m, buf, k);
		free(buf);
	}
	return verdict_of(&p, &m, rc, n);
}

/* Skip a chunked body in d[0..n); returns bytes it took, or -1. */
static long skip_chunked(const uint8_t *d, size_t n)
{
	struct http_chunked c;
	uint8_t *buf = copy(d, n);
	size_t used = 0;
	int rc;

	http_chunked_init(&c);
	rc = http_chunked_feed(&c, buf, n, &used);
	free(buf);
	check(used <= n && (rc != HTTP_AGAIN || used == n), "chunked consumed");
	return rc == HTTP_DONE ? (long)used : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_msg m;
	size_t off = 0;

	for (int msgs = 0; off < size && msgs < 8; msgs++) {
		const uint8_t *d = data + off;
		size_t n = size - off;
		struct http_parser p;
		struct verdict whole, v;
		uint8_t *buf = copy(d, n);
		enum http_body bget, bhead, bconn;

		http_parser_init(&p, 1, NULL);
		whole = verdict_of(&p, &m, http_parse(&p, &m, buf, n), n);
		free(buf);
		for (size_t k = 0; k <= n; k += n <= 256 ? 1 : 1 + (d[k % n] * 7u + k) % 97) {
			v = parse_split(d, n, k);
			check(same(&whole, &v), "split verdict differs from whole");
		}
		v = parse_trickle(d, n);
		check(same(&whole, &v), "byte-at-a-time verdict differs from whole");
		if (whole.rc != HTTP_OK)
			return 0;

		/* RFC 9110 §6.4.1 / RFC 9112 §6.3: the documented body verdicts. */
		bget = http_response_body(&m, HTTP_M_GET);
		bhead = http_response_body(&m, HTTP_M_HEAD);
		bconn = http_response_body(&m, HTTP_M_CONNECT);
		check(bhead == HTTP_BODY_NONE || (m.status == 101 && bhead == HTTP_BODY_TUNNEL), "HEAD: no body");
		if (m.status == 101)
			check(bget == HTTP_BODY_TUNNEL, "101 is a tunnel");
		else if ((m.status >= 100 && m.status < 200) || m.status == 204 || m.status == 304)
			check(bget == HTTP_BODY_NONE, "1xx, 204, 304: no body");
		if (m.status >= 200 && m.status < 300)
			check(bconn == HTTP_BODY_TUNNEL, "CONNECT 2xx is a tunnel");
		if (bget == HTTP_BODY_CHUNKED)
			check(m.chunked, "chunked framing without Transfer-Encoding: chunked");
		if (bget == HTTP_BODY_LENGTH)
			check(m.content_length > 0, "length framing without a length");

		off += whole.hb;
		switch (bget) {
		case HTTP_BODY_NONE:
			/* An interim 1xx: the final response follows. */
			if (m.status >= 200)
				return 0;
			break;
		case HTTP_BODY_LENGTH:
			if ((uint64_t)m.content_length > size - off)
				return 0;
			off += (size_t)m.content_length;
			break;
		case HTTP_BODY_CHUNKED: {
			long used = skip_chunked(data + off, size - off);

			if (used < 0)
				return 0;
			off += (size_t)used;
			break;
		}
		default:
			return 0;
		}
	}
	return 0;
}
