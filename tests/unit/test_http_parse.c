/*
 * tests/unit/test_http_parse.c — proxyd/http_parse.c, the strict HTTP/1.1
 * head parser and chunked validator that stands between clients, proxyd and
 * upstreams.
 *
 * Mostly tables of (bytes) -> (rc, status, reason). Every row is also parsed
 * split at every byte boundary and fed one byte at a time: an incremental
 * parser that answers differently depending on how TCP cut the stream would
 * itself be a smuggling vector. Inputs are copied to exact-size heap blocks
 * so that the sanitizer build catches any read past what the caller gave.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/http_parse.h"

#define S(x) x, sizeof(x) - 1
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Exact-size heap copy of b[0..n) (at least one byte so malloc(0) is moot). */
static uint8_t *dup_exact(const char *b, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	memcpy(p, b, n);
	return p;
}

struct verdict { int rc; int status; const char *reason; uint32_t header_bytes; };

static struct verdict parse_once(const char *b, size_t n, int is_response, const struct http_limits *lim)
{
	static struct http_msg m;
	struct http_parser p;
	struct verdict v;
	uint8_t *d = dup_exact(b, n);

	http_parser_init(&p, is_response, lim);
	v.rc = http_parse(&p, &m, d, n);
	v.status = v.rc == HTTP_ERROR ? p.status : 0;
	v.reason = v.rc == HTTP_ERROR ? p.reason : NULL;
	v.header_bytes = v.rc == HTTP_OK ? m.header_bytes : 0;
	free(d);
	return v;
}

/* Parse b[0..k) then (if AGAIN) b[0..n), each in an exact-size buffer. */
static struct verdict parse_split(const char *b, size_t n, size_t k, int is_response,
                                  const struct http_limits *lim)
{
	static struct http_msg m;
	struct http_parser p;
	struct verdict v;
	uint8_t *d = dup_exact(b, k);

	http_parser_init(&p, is_response, lim);
	v.rc = http_parse(&p, &m, d, k);
	free(d);
	if (v.rc == HTTP_AGAIN) {
		d = dup_exact(b, n);
		v.rc = http_parse(&p, &m, d, n);
		free(d);
	}
	v.status = v.rc == HTTP_ERROR ? p.status : 0;
	v.reason = v.rc == HTTP_ERROR ? p.reason : NULL;
	v.header_bytes = v.rc == HTTP_OK ? m.header_bytes : 0;
	return v;
}

/* Feed 1, 2, ... n bytes; stop at the first answer that is not AGAIN. */
static struct verdict parse_bytewise(const char *b, size_t n, int is_response,
                                     const struct http_limits *lim)
{
	static struct http_msg m;
	struct http_parser p;
	struct verdict v = { HTTP_AGAIN, 0, NULL, 0 };
	size_t k;

	http_parser_init(&p, is_response, lim);
	for (k = 0; k <= n && v.rc == HTTP_AGAIN; k++) {
		uint8_t *d = dup_exact(b, k);

		v.rc = http_parse(&p, &m, d, k);
		free(d);
	}
	v.status = v.rc == HTTP_ERROR ? p.status : 0;
	v.reason = v.rc == HTTP_ERROR ? p.reason : NULL;
	v.header_bytes = v.rc == HTTP_OK ? m.header_bytes : 0;
	return v;
}

static void expect_same(const char *name, struct verdict want, struct verdict got, size_t k)
{
	if (want.rc != got.rc || want.status != got.status || want.header_bytes != got.header_bytes) {
		print_error("%s split at %zu: rc %d/%d status %d/%d hb %u/%u\n", name, k,
		            want.rc, got.rc, want.status, got.status, want.header_bytes, got.header_bytes);
		fail();
	}
}

/* Check a row whole, at every split point and byte by byte. */
static void check_row(const char *name, const char *b, size_t n, int is_response,
                      const struct http_limits *lim, int rc, int status, const char *reason)
{
	struct verdict w = parse_once(b, n, is_response, lim);
	size_t k;

	if (w.rc != rc || w.status != status) {
		print_error("%s: got rc %d status %d (%s), want rc %d status %d\n", name,
		            w.rc, w.status, w.reason ? w.reason : "-", rc, status);
		fail();
	}
	if (reason != NULL && (w.reason == NULL || strcmp(w.reason, reason) != 0)) {
		print_error("%s: reason %s, want %s\n", name, w.reason ? w.reason : "-", reason);
		fail();
	}
	for (k = 0; k <= n; k++)
		expect_same(name, w, parse_split(b, n, k, is_response, lim), k);
	expect_same(name, w, parse_bytewise(b, n, is_response, lim), n);
}

struct row { const char *name; const char *b; size_t n; int rc; int status; const char *reason; };

/* --- requests ------------------------------------------------------------------------- */

static const struct row req_rows[] = {
	/* valid */
	{ "get", S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "get-10-no-host", S("GET / HTTP/1.0\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "query", S("GET /a/b?c=d&e=%20 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "absolute", S("GET http://example.com:8080/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n"), HTTP_OK, 0, NULL },
	/* dots that are not dot-segments */
	{ "dots-in-names", S("GET /a.b/..c/...d/.e/f.. HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "dots-in-query", S("GET /a?x=/../b&y=. HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "encoded-dot-in-name", S("GET /a%2eb/%2e%2e%2e HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "absolute-https-noslash", S("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "options-asterisk", S("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "post-cl", S("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"), HTTP_OK, 0, NULL },
	{ "post-cl-leading-zeros", S("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "post-chunked", S("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "te-case", S("POST /p HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  ChUnKeD \r\n\r\n"), HTTP_OK, 0, NULL },
	{ "empty-value", S("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Ows: \t \r\n\r\n"), HTTP_OK, 0, NULL },
	{ "value-inner-ws", S("GET / HTTP/1.1\r\nHost: a\r\nX: a \t b\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "obs-text", S("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "host-ipv6-port", S("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "host-empty-port", S("GET / HTTP/1.1\r\nHost: a.example:\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "host-trailing-dot", S("GET / HTTP/1.1\r\nHost: a.example.:80\r\n\r\n"), HTTP_OK, 0, NULL },
	/* paths that normalise (test_normalize_table has what they become) */
	{ "path-pct-unreserved", S("GET /%69nternal/%7Ex HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "path-double-slash", S("GET //internal//x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "path-pct-8bit", S("GET /caf%c3%a9 HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "path-pct-reserved", S("GET /a%3fb%25c HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "query-not-checked", S("GET /a?x=%2F&y=%00&z=%zz&w=\\ HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "leading-crlf", S("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "two-leading-crlf", S("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "other-method", S("PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "expect", S("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "upgrade", S("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "connection-list", S("GET / HTTP/1.1\r\nHost: a\r\nConnection: , close ,, x-foo,\r\nX-Foo: 1\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "cl-zero", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "cl-max-digits", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n"), HTTP_OK, 0, NULL },
	/* incomplete */
	{ "empty", S(""), HTTP_AGAIN, 0, NULL },
	{ "partial-line", S("GET / HTT"), HTTP_AGAIN, 0, NULL },
	{ "no-final-crlf", S("GET / HTTP/1.1\r\nHost: a\r\n"), HTTP_AGAIN, 0, NULL },
	{ "final-cr-only", S("GET / HTTP/1.1\r\nHost: a\r\n\r"), HTTP_AGAIN, 0, NULL },
	/* framing: RFC 9112 §6.3 */
	{ "cl-and-te", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTP_ERROR, 400, "cl-and-te" },
	{ "te-and-cl", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), HTTP_ERROR, 400, "cl-and-te" },
	{ "dup-cl-equal", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), HTTP_ERROR, 400, "dup-content-length" },
	{ "dup-cl-differ", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n"), HTTP_ERROR, 400, "dup-content-length" },
	{ "cl-list", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), HTTP_ERROR, 400, "bad-content-length" },
	{ "cl-neg", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), HTTP_ERROR, 400, "bad-content-length" },
	{ "cl-plus", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n"), HTTP_ERROR, 400, "bad-content-length" },
	{ "cl-empty", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"), HTTP_ERROR, 400, "bad-content-length" },
	{ "cl-hex", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"), HTTP_ERROR, 400, "bad-content-length" },
	{ "cl-inner-space", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n"), HTTP_ERROR, 400, "bad-content-length" },
	{ "cl-overflow", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"), HTTP_ERROR, 400, "bad-content-length" },
	{ "te-gzip", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), HTTP_ERROR, 400, "bad-transfer-encoding" },
	{ "te-gzip-chunked", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), HTTP_ERROR, 400, "bad-transfer-encoding" },
	{ "te-chunked-chunked", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), HTTP_ERROR, 400, "bad-transfer-encoding" },
	{ "te-two-fields", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTP_ERROR, 400, "dup-transfer-encoding" },
	{ "te-identity", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"), HTTP_ERROR, 400, "bad-transfer-encoding" },
	{ "te-chunked-x", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n"), HTTP_ERROR, 400, "bad-transfer-encoding" },
	{ "te-empty", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"), HTTP_ERROR, 400, "bad-transfer-encoding" },
	{ "te-http10", S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTP_ERROR, 400, "te-in-http10" },
	/* line syntax: RFC 9112 §2.2, §5 */
	{ "obs-fold", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), HTTP_ERROR, 400, "obs-fold" },
	{ "obs-fold-tab", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n"), HTTP_ERROR, 400, "obs-fold" },
	{ "ws-after-start-line", S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), HTTP_ERROR, 400, "ws-after-start-line" },
	{ "bare-lf-reqline", S("GET / HTTP/1.1\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bare-lf" },
	{ "bare-lf-field", S("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), HTTP_ERROR, 400, "bare-lf" },
	{ "bare-lf-end", S("GET / HTTP/1.1\r\nHost: a\r\n\n"), HTTP_ERROR, 400, "bare-lf" },
	{ "bare-lf-first", S("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bare-lf" },
	{ "bare-cr-value", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), HTTP_ERROR, 400, "bare-cr" },
	{ "bare-cr-name", S("GET / HTTP/1.1\r\nHost: a\r\nX\r: b\r\n\r\n"), HTTP_ERROR, 400, "bad-field-name" },
	{ "bare-cr-reqline", S("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-target" },
	{ "nul-value", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), HTTP_ERROR, 400, "bad-field-value" },
	{ "ctl-value", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n"), HTTP_ERROR, 400, "bad-field-value" },
	{ "del-value", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), HTTP_ERROR, 400, "bad-field-value" },
	{ "esc-value", S("GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n"), HTTP_ERROR, 400, "bad-field-value" },
	{ "bad-name-char", S("GET / HTTP/1.1\r\nHost: a\r\nX@Y: b\r\n\r\n"), HTTP_ERROR, 400, "bad-field-name" },
	{ "name-with-space", S("GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n"), HTTP_ERROR, 400, "ws-before-colon" },
	{ "ws-before-colon", S("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n"), HTTP_ERROR, 400, "ws-before-colon" },
	{ "tab-before-colon", S("GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n"), HTTP_ERROR, 400, "ws-before-colon" },
	{ "empty-name", S("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"), HTTP_ERROR, 400, "empty-field-name" },
	{ "no-colon", S("GET / HTTP/1.1\r\nHost: a\r\nXYZ\r\n\r\n"), HTTP_ERROR, 400, "bad-field-name" },
	{ "nul-name", S("GET / HTTP/1.1\r\nHost: a\r\nX\0: b\r\n\r\n"), HTTP_ERROR, 400, "bad-field-name" },
	{ "three-leading-crlf", S("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "leading-empty-line" },
	/* request line: RFC 9112 §3 */
	{ "method-bad-char", S("G@T / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-method" },
	{ "method-empty", S(" / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-method" },
	{ "method-tab", S("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-method" },
	{ "two-spaces", S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-target" },
	{ "space-before-version", S("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-version" },
	{ "trailing-space", S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-version" },
	{ "no-version", S("GET /\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-target" },
	{ "lower-http", S("GET / http/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-version" },
	{ "version-short", S("GET / HTTP/1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-version" },
	{ "version-long", S("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-version" },
	{ "target-space", S("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-version" },
	{ "target-ctl", S("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-target" },
	{ "target-tab", S("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-target" },
	/* dot-segments: routing would see one path, a normalising backend another */
	{ "dotdot", S("GET /public/../admin HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "dot-segment" },
	{ "dot", S("GET /./admin HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "dot-segment" },
	{ "dotdot-end", S("GET /public/.. HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "dot-segment" },
	{ "dot-end-query", S("GET /a/.?x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "dot-segment" },
	{ "dotdot-encoded", S("GET /public/%2e%2e/admin HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "dot-segment" },
	{ "dotdot-mixed-case", S("GET /public/.%2E/admin HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "dot-segment" },
	{ "dotdot-absolute", S("GET http://a/x/../y HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "dot-segment" },
	/* dot-segments appearing once decoded or merged */
	{ "dotdot-all-encoded", S("GET /%2e%2e/internal HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "dot-segment" },
	{ "dot-after-slashes", S("GET /a//.//b HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "dot-segment" },
	{ "dotdot-upper-encoded", S("GET /a/%2E%2E HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "dot-segment" },
	/* escapes a decoding backend would read as another path */
	{ "encoded-slash", S("GET /internal%2Fx HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "encoded-slash" },
	{ "encoded-slash-lower", S("GET /internal%2fx HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "encoded-slash" },
	{ "encoded-slash-absolute", S("GET http://a/x%2Fy HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "encoded-slash" },
	{ "encoded-backslash", S("GET /a%5cb HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "encoded-backslash" },
	{ "backslash", S("GET /a\\..\\internal HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "backslash" },
	{ "encoded-nul", S("GET /a%00.html HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "encoded-ctl" },
	{ "encoded-crlf", S("GET /a%0d%0aX:%20y HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "encoded-ctl" },
	{ "encoded-del", S("GET /a%7f HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "encoded-ctl" },
	{ "bad-escape-hex", S("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-escape" },
	{ "bad-escape-short", S("GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-escape" },
	{ "bad-escape-before-query", S("GET /a%?x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-escape" },
	{ "target-nul", S("GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-target" },
	{ "target-8bit", S("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-target" },
	{ "target-fragment", S("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-target" },
	{ "target-relative", S("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-target-form" },
	{ "target-ftp", S("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-target-form" },
	{ "absolute-empty-authority", S("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-authority" },
	{ "absolute-userinfo", S("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-authority" },
	{ "asterisk-get", S("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "asterisk-form" },
	{ "connect", S("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), HTTP_ERROR, 501, "connect" },
	{ "version-12", S("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), HTTP_ERROR, 505, NULL },
	{ "version-20", S("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), HTTP_ERROR, 505, NULL },
	{ "version-09", S("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), HTTP_ERROR, 505, NULL },
	{ "h2-preface", S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), HTTP_ERROR, 505, "version-not-supported" },
	/* Host: RFC 9112 §3.2, RFC 9110 §7.2 */
	{ "missing-host", S("GET / HTTP/1.1\r\nX: a\r\n\r\n"), HTTP_ERROR, 400, "missing-host" },
	{ "missing-host-absolute", S("GET http://a/ HTTP/1.1\r\n\r\n"), HTTP_ERROR, 400, "missing-host" },
	{ "dup-host", S("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), HTTP_ERROR, 400, "dup-host" },
	{ "dup-host-10", S("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), HTTP_ERROR, 400, "dup-host" },
	{ "host-empty", S("GET / HTTP/1.1\r\nHost: \r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-space", S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-userinfo", S("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-slash", S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-port-big", S("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-port-alpha", S("GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-port-only", S("GET / HTTP/1.1\r\nHost: :80\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-v6-open", S("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	/* another spelling of a host name than host routes match */
	{ "host-pct", S("GET / HTTP/1.1\r\nHost: a%41b\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-pct-absolute", S("GET http://%69nternal/ HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 400, "bad-authority" },
	{ "host-double-dot", S("GET / HTTP/1.1\r\nHost: a.example..\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-leading-dot", S("GET / HTTP/1.1\r\nHost: .a.example\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-bad-pct", S("GET / HTTP/1.1\r\nHost: a%4\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "host-two-values", S("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"), HTTP_ERROR, 400, "bad-host" },
	{ "connection-bad", S("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, x@y\r\n\r\n"), HTTP_ERROR, 400, "bad-connection" },
	{ "connection-space-in-token", S("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep alive\r\n\r\n"), HTTP_ERROR, 400, "bad-connection" },
};

static void test_request_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(req_rows); i++)
		check_row(req_rows[i].name, req_rows[i].b, req_rows[i].n, 0, NULL,
		          req_rows[i].rc, req_rows[i].status, req_rows[i].reason);
}

/* --- path normalisation --------------------------------------------------------------- */

/* (request-target as sent) -> (target after http_target_normalize()), for targets
 * the parser accepts: what routing, rules and the backend all see. */
static const struct { const char *in, *out; } norm_rows[] = {
	{ "/", "/" },
	{ "/a/b?c=d", "/a/b?c=d" },
	{ "/%69nternal/x", "/internal/x" },
	{ "/%49%6E%74ernal/x", "/Internal/x" },
	{ "//internal/x", "/internal/x" },
	{ "/internal//x", "/internal/x" },
	{ "///a////b///", "/a/b/" },
	{ "/%2D%2e%5f%7e%41%7A%30%39", "/-._~Az09" },
	{ "/a%2eb/%2e%2e%2e", "/a.b/..." },
	{ "/caf%c3%a9", "/caf%C3%A9" },
	{ "/a%3fb%25c%2b%20d", "/a%3Fb%25c%2B%20d" },
	{ "/%2569nternal", "/%2569nternal" },                 /* decoded once, never twice */
	{ "//a?x=%2f&y=//%69", "/a?x=%2f&y=//%69" },           /* the query as sent */
	{ "/a?", "/a?" },
	{ "http://h//%69nternal//x?q=//", "http://h/internal/x?q=//" },
	{ "http://h", "http://h" },
	{ "http://h?x=//", "http://h?x=//" },
	{ "*", "*" },
};

static void test_normalize_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(norm_rows); i++) {
		const char *method = norm_rows[i].in[0] == '*' ? "OPTIONS" : "GET";
		char req[512];
		struct http_msg m;
		struct http_parser p;
		int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: h\r\nX: after\r\n\r\n", method, norm_rows[i].in);
		uint8_t *d = dup_exact(req, (size_t)n);

		http_parser_init(&p, 0, NULL);
		if (http_parse(&p, &m, d, (size_t)n) != HTTP_OK) {
			print_error("%s: parse failed (%s)\n", norm_rows[i].in, p.reason ? p.reason : "?");
			fail();
		}
		assert_int_equal(http_target_normalize(&m, d), 0);
		if (m.target.len != strlen(norm_rows[i].out) || memcmp(d + m.target.off, norm_rows[i].out, m.target.len) != 0) {
			print_error("%s: got \"%.*s\", want \"%s\"\n", norm_rows[i].in, (int)m.target.len,
			    (const char *)d + m.target.off, norm_rows[i].out);
			fail();
		}
		/* No other span moved. */
		assert_int_equal(m.nheaders, 2);
		assert_memory_equal(d + m.headers[1].value.off, "after", 5);
		free(d);
	}
}

/* The exported form, as configuration checks use it. */
static void test_path_normalize(void **state)
{
	char out[64];
	const char *why = NULL;

	(void)state;
	assert_int_equal(http_path_normalize("/%69nternal//x", 14, out, sizeof(out), &why), 11);
	assert_memory_equal(out, "/internal/x", 11);
	/* In place. */
	memcpy(out, "//a%7e", 6);
	assert_int_equal(http_path_normalize(out, 6, out, 6, NULL), 3);
	assert_memory_equal(out, "/a~", 3);
	assert_int_equal(http_path_normalize("/a/%2e%2E", 9, out, sizeof(out), &why), -1);
	assert_string_equal(why, "dot-segment");
	assert_int_equal(http_path_normalize("/a%2Fb", 6, out, sizeof(out), &why), -1);
	assert_string_equal(why, "encoded-slash");
	assert_int_equal(http_path_normalize("a", 1, out, sizeof(out), &why), -1);
	assert_string_equal(why, "not-a-path");
	assert_int_equal(http_path_normalize("/abc", 4, out, 3, &why), -1);
	assert_string_equal(why, "too-long");
}

/* --- responses ------------------------------------------------------------------------ */

static const struct row resp_rows[] = {
	{ "200", S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), HTTP_OK, 0, NULL },
	{ "200-no-reason-sp", S("HTTP/1.1 200 \r\n\r\n"), HTTP_OK, 0, NULL },
	{ "200-no-reason", S("HTTP/1.1 200\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "reason-spaces", S("HTTP/1.1 404 Not  Found \t\r\nServer: x\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "http10", S("HTTP/1.0 200 OK\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "chunked", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "no-host-needed", S("HTTP/1.1 204 No Content\r\nX: y\r\n\r\n"), HTTP_OK, 0, NULL },
	{ "partial", S("HTTP/1.1 200 OK\r\n"), HTTP_AGAIN, 0, NULL },
	{ "cl-and-te", S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTP_ERROR, 502, "cl-and-te" },
	{ "dup-cl", S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), HTTP_ERROR, 502, "dup-content-length" },
	{ "bad-cl", S("HTTP/1.1 200 OK\r\nContent-Length: 5a\r\n\r\n"), HTTP_ERROR, 502, "bad-content-length" },
	{ "te-gzip", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), HTTP_ERROR, 502, "bad-transfer-encoding" },
	{ "te-http10", S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTP_ERROR, 502, "te-in-http10" },
	{ "status-2-digits", S("HTTP/1.1 20 OK\r\n\r\n"), HTTP_ERROR, 502, "bad-status-line" },
	{ "status-4-digits", S("HTTP/1.1 2000 OK\r\n\r\n"), HTTP_ERROR, 502, "bad-status-line" },
	{ "status-099", S("HTTP/1.1 099 X\r\n\r\n"), HTTP_ERROR, 502, "bad-status-code" },
	{ "status-600", S("HTTP/1.1 600 X\r\n\r\n"), HTTP_ERROR, 502, "bad-status-code" },
	{ "status-alpha", S("HTTP/1.1 2x0 OK\r\n\r\n"), HTTP_ERROR, 502, "bad-status-line" },
	{ "two-spaces", S("HTTP/1.1  200 OK\r\n\r\n"), HTTP_ERROR, 502, "bad-status-line" },
	{ "http2", S("HTTP/2 200 OK\r\n\r\n"), HTTP_ERROR, 502, NULL },
	{ "http11-lower", S("http/1.1 200 OK\r\n\r\n"), HTTP_ERROR, 502, "bad-version" },
	{ "version-12", S("HTTP/1.2 200 OK\r\n\r\n"), HTTP_ERROR, 502, "version-not-supported" },
	{ "reason-ctl", S("HTTP/1.1 200 O\x01K\r\n\r\n"), HTTP_ERROR, 502, "bad-reason" },
	{ "bare-lf", S("HTTP/1.1 200 OK\nX: y\r\n\r\n"), HTTP_ERROR, 502, "bare-lf" },
	{ "bare-lf-end", S("HTTP/1.1 200 OK\r\n\n"), HTTP_ERROR, 502, "bare-lf" },
	{ "obs-fold", S("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), HTTP_ERROR, 502, "obs-fold" },
	{ "ws-before-colon", S("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), HTTP_ERROR, 502, "ws-before-colon" },
	{ "leading-crlf", S("\r\nHTTP/1.1 200 OK\r\n\r\n"), HTTP_ERROR, 502, "leading-empty-line" },
	{ "nul-value", S("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n"), HTTP_ERROR, 502, "bad-field-value" },
};

static void test_response_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(resp_rows); i++)
		check_row(resp_rows[i].name, resp_rows[i].b, resp_rows[i].n, 1, NULL,
		          resp_rows[i].rc, resp_rows[i].status, resp_rows[i].reason);
}

/* --- limits --------------------------------------------------------------------------- */

static void test_limits(void **state)
{
	static const struct http_limits small = { 16, 64, 2 };
	static const struct {
		const char *name; const char *b; size_t n; int rc; int status;
	} t[] = {
		/* "GET /ab HTTP/1.1" is exactly 16 bytes: the limit is inclusive. */
		{ "line-at-limit", S("GET /ab HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_OK, 0 },
		{ "line-over", S("GET /abc HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_ERROR, 414 },
		/* Incomplete lines fail as soon as they are over the limit. */
		{ "line-over-incomplete", S("GET /abcdefghijkl"), HTTP_ERROR, 414 },
		{ "line-at-limit-cr", S("GET /ab HTTP/1.1\r"), HTTP_AGAIN, 0 },
		{ "line-over-no-cr", S("GET /ab HTTP/1.1x"), HTTP_ERROR, 414 },
		{ "line-over-bare-lf", S("GET /abc HTTP/1.1\n"), HTTP_ERROR, 414 },
		{ "two-headers", S("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\r\n"), HTTP_OK, 0 },
		{ "three-headers", S("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\nY: c\r\n\r\n"), HTTP_ERROR, 431 },
		/* 64 bytes exactly, then 65. */
		{ "head-at-limit", S("GET / HTTP/1.1\r\nHost: a\r\nX: 01234567890123456789012345678901\r\n\r\n"), HTTP_OK, 0 },
		{ "head-over", S("GET / HTTP/1.1\r\nHost: a\r\nX: 012345678901234567890123456789012\r\n\r\n"), HTTP_ERROR, 431 },
		{ "head-over-incomplete", S("GET / HTTP/1.1\r\nHost: a\r\nX: 01234567890123456789012345678901234567890"), HTTP_ERROR, 431 },
	};
	(void)state;
	assert_int_equal(sizeof("GET / HTTP/1.1\r\nHost: a\r\nX: 01234567890123456789012345678901\r\n\r\n") - 1, 64);
	for (size_t i = 0; i < N(t); i++)
		check_row(t[i].name, t[i].b, t[i].n, 0, &small, t[i].rc, t[i].status, NULL);
}

static void test_default_limits(void **state)
{
	static char buf[40000];
	size_t n;
	int i;

	(void)state;
	/* Request line of 8192 bytes is fine, 8193 is 414. */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "GET /", 5);
	memcpy(buf + 8192 - 9, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
	check_row("8192", buf, 8192 + 14, 0, NULL, HTTP_OK, 0, NULL);
	memcpy(buf + 8192 - 9, "a HTTP/1.1\r\nHost: a\r\n\r\n", 24);
	assert_int_equal(parse_once(buf, 8193 + 14, 0, NULL).status, 414);
	assert_int_equal(parse_once(buf, 8200, 0, NULL).status, 414);
	assert_int_equal(parse_once(buf, 8193, 0, NULL).status, 414);
	assert_int_equal(parse_once(buf, 8192, 0, NULL).rc, HTTP_AGAIN);

	/* 100 fields pass, 101 are 431. */
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < 100; i++)
		n += (size_t)sprintf(buf + n, "X-%d: v\r\n", i);
	n += (size_t)sprintf(buf + n, "\r\n");
	assert_int_equal(parse_once(buf, n, 0, NULL).rc, HTTP_OK);
	n -= 2;
	n += (size_t)sprintf(buf + n, "X-100: v\r\n\r\n");
	assert_int_equal(parse_once(buf, n, 0, NULL).status, 431);

	/* A head over 32 KiB in long fields is 431, even before it ends. */
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < 9; i++) {
		n += (size_t)sprintf(buf + n, "X-%d: ", i);
		memset(buf + n, 'v', 4000);
		n += 4000;
		n += (size_t)sprintf(buf + n, "\r\n");
	}
	assert_true(n > 32768);
	assert_int_equal(parse_once(buf, n, 0, NULL).status, 431);
	assert_int_equal(parse_once(buf, 32769, 0, NULL).status, 431);
	assert_int_equal(parse_once(buf, 32768, 0, NULL).rc, HTTP_AGAIN);
}

/* --- what a successful parse records ---------------------------------------------------- */

static int span_is(const uint8_t *d, struct http_span s, const char *want)
{
	return s.len == strlen(want) && memcmp(d + s.off, want, s.len) == 0;
}

static void test_fields(void **state)
{
	static const char req[] =
		"\r\nPOST http://Example.com:81/up?x=1 HTTP/1.1\r\n"
		"Host: example.com:81\r\n"
		"Content-Length: 12\r\n"
		"X-Pad:   spaced value \t \r\n"
		"Connection: keep-alive, X-Hop ,Upgrade\r\n"
		"x-hop: 1\r\n"
		"Keep-Alive: timeout=5\r\n"
		"Upgrade: h2c\r\n"
		"Expect: 100-continue\r\n"
		"\r\nhello world!";
	static struct http_msg m;
	struct http_parser p;
	const uint8_t *d = (const uint8_t *)req;
	int i;

	(void)state;
	http_parser_init(&p, 0, NULL);
	assert_int_equal(http_parse(&p, &m, d, sizeof(req) - 1), HTTP_OK);
	assert_int_equal(m.method, HTTP_M_POST);
	assert_true(span_is(d, m.method_s, "POST"));
	assert_true(span_is(d, m.target, "http://Example.com:81/up?x=1"));
	assert_int_equal(m.target_form, HTTP_TF_ABSOLUTE);
	assert_true(span_is(d, m.authority, "Example.com:81"));
	assert_int_equal(m.version_minor, 1);
	assert_int_equal(m.nheaders, 8);
	assert_int_equal(m.host_idx, 0);
	assert_true(span_is(d, m.headers[0].value, "example.com:81"));
	assert_true(span_is(d, m.headers[2].name, "X-Pad"));
	assert_true(span_is(d, m.headers[2].value, "spaced value"));
	assert_int_equal(m.content_length, 12);
	assert_false(m.chunked);
	assert_true(m.conn_keep_alive);
	assert_true(m.conn_upgrade);
	assert_false(m.conn_close);
	assert_true(m.has_upgrade_hdr);
	assert_int_equal(m.upgrade_idx, 6);
	assert_true(m.expect_continue);
	assert_false(m.expect_other);
	/* x-hop (4), Keep-Alive (5) and Upgrade (6) are named by Connection. */
	assert_int_equal(m.conn_hop_mask[0], (1u << 4) | (1u << 5) | (1u << 6));
	assert_int_equal(m.conn_hop_mask[1] | m.conn_hop_mask[2] | m.conn_hop_mask[3], 0);
	assert_int_equal(m.header_bytes, sizeof(req) - 1 - 12);
	assert_string_equal((const char *)d + m.header_bytes, "hello world!");
	assert_int_equal(http_request_body(&m), HTTP_BODY_LENGTH);
	assert_int_equal(http_keep_alive(&m), 1);

	assert_int_equal(http_find_header(&m, d, "x-hop"), 4);
	assert_int_equal(http_find_header(&m, d, "keep-alive"), 5);
	assert_int_equal(http_find_header(&m, d, "content-length"), 1);
	assert_int_equal(http_find_header(&m, d, "x-missing"), -1);
	assert_int_equal(http_find_header(&m, d, "x-ho"), -1);

	/* Done is sticky and cheap. */
	assert_int_equal(http_parse(&p, &m, d, sizeof(req) - 1), HTTP_OK);
	for (i = 0; i < m.nheaders; i++)
		assert_true(m.headers[i].name.off + m.headers[i].name.len < m.header_bytes);
}

static void test_flags(void **state)
{
	static const struct {
		const char *b; size_t n; int is_resp; int minor; int keep; int close; int expect_other;
		int chunked; int64_t cl;
	} t[] = {
		{ S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0, 1, 1, 0, 0, 0, -1 },
		{ S("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 0, 1, 0, 1, 0, 0, -1 },
		{ S("GET / HTTP/1.0\r\n\r\n"), 0, 0, 0, 0, 0, 0, -1 },
		{ S("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0, 0, 1, 0, 0, 0, -1 },
		{ S("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), 0, 0, 0, 1, 0, 0, -1 },
		{ S("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"), 0, 1, 1, 0, 1, 0, -1 },
		{ S("PUT / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n"), 0, 0, 0, 0, 0, 0, -1 },
		{ S("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), 0, 1, 1, 0, 0, 1, -1 },
		{ S("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"), 1, 1, 0, 1, 0, 0, 0 },
		{ S("HTTP/1.0 200 OK\r\n\r\n"), 1, 0, 0, 0, 0, 0, -1 },
	};
	static struct http_msg m;
	struct http_parser p;

	(void)state;
	for (size_t i = 0; i < N(t); i++) {
		http_parser_init(&p, t[i].is_resp, NULL);
		assert_int_equal(http_parse(&p, &m, (const uint8_t *)t[i].b, t[i].n), HTTP_OK);
		assert_int_equal(m.version_minor, t[i].minor);
		assert_int_equal(http_keep_alive(&m), t[i].keep);
		assert_int_equal(m.conn_close, t[i].close);
		assert_int_equal(m.expect_other, t[i].expect_other);
		assert_int_equal(m.chunked, t[i].chunked);
		assert_int_equal(m.content_length, t[i].cl);
	}
}

static void test_status_line_fields(void **state)
{
	static const char r[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop";
	static struct http_msg m;
	struct http_parser p;
	const uint8_t *d = (const uint8_t *)r;

	(void)state;
	http_parser_init(&p, 1, NULL);
	assert_int_equal(http_parse(&p, &m, d, sizeof(r) - 1), HTTP_OK);
	assert_int_equal(m.status, 404);
	assert_true(span_is(d, m.reason, "Not Found"));
	assert_int_equal(m.header_bytes, sizeof(r) - 1 - 3);
	assert_int_equal(m.host_idx, -1);
}

/* Every byte value at every offset of a long value and a long target: the
 * word-at-a-time scans must agree with the per-byte rules (RFC 9110 §5.5
 * field-vchar / obs-text / SP / HTAB in values; VCHAR except '#' in targets). */
static int value_byte_ok(unsigned c)
{
	return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

/* In a path: also not a lone '%' (a malformed escape, since 't' follows)
 * or a '\\' (refused; see path_norm() in proxyd/http_parse.c). */
static int target_byte_ok(unsigned c)
{
	return c >= 0x21 && c <= 0x7e && c != '#' && c != '%' && c != '\\';
}

static void test_every_byte(void **state)
{
	char buf[128];
	int n, pos, rc;
	unsigned c;

	(void)state;
	for (c = 0; c < 256; c++) {
		for (pos = 0; pos < 24; pos++) {
			/* Value: 24 bytes between non-OWS letters, so OWS trimming
			 * never hides the byte under test. */
			n = sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\nX: a");
			memset(buf + n, 'v', 24);
			buf[n + pos] = (char)c;
			n += 24;
			n += sprintf(buf + n, "z\r\n\r\n");
			rc = parse_once(buf, (size_t)n, 0, NULL).rc;
			if (c == '\n') {
				assert_int_equal(rc, HTTP_ERROR);   /* a bare LF, whatever else */
			} else if ((rc == HTTP_OK) != value_byte_ok(c)) {
				print_error("value byte 0x%02x at %d: rc %d\n", c, pos, rc);
				fail();
			}
			/* Target: "/" then 24 bytes. */
			n = sprintf(buf, "GET /");
			memset(buf + n, 't', 24);
			buf[n + pos] = (char)c;
			n += 24;
			n += sprintf(buf + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
			rc = parse_once(buf, (size_t)n, 0, NULL).rc;
			if (c == '\n') {
				assert_int_equal(rc, HTTP_ERROR);
			} else if ((rc == HTTP_OK) != target_byte_ok(c)) {
				print_error("target byte 0x%02x at %d: rc %d\n", c, pos, rc);
				fail();
			}
			/* Reason phrase: same alphabet as a value. */
			n = sprintf(buf, "HTTP/1.1 200 ");
			memset(buf + n, 'r', 24);
			buf[n + pos] = (char)c;
			n += 24;
			n += sprintf(buf + n, "\r\n\r\n");
			rc = parse_once(buf, (size_t)n, 1, NULL).rc;
			if (c != '\n' && (rc == HTTP_OK) != value_byte_ok(c)) {
				print_error("reason byte 0x%02x at %d: rc %d\n", c, pos, rc);
				fail();
			}
		}
	}
}

/* --- pipelining ----------------------------------------------------------------------- */

static void test_pipeline(void **state)
{
	/* Three requests back to back, with bodies of each framing kind; each
	 * parse starts where the previous message ended. */
	static const char pipe[] =
		"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
		"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
		"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
		"\r\nHEAD /4 HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char *targets[] = { "/1", "/2", "/3", "/4" };
	static const enum http_body kinds[] = { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED, HTTP_BODY_NONE };
	static struct http_msg m;
	struct http_parser p;
	struct http_chunked c;
	const uint8_t *d = (const uint8_t *)pipe;
	size_t off = 0, n = sizeof(pipe) - 1, used;

	(void)state;
	for (int i = 0; i < 4; i++) {
		http_parser_init(&p, 0, NULL);
		assert_int_equal(http_parse(&p, &m, d + off, n - off), HTTP_OK);
		assert_true(span_is(d + off, m.target, targets[i]));
		assert_int_equal(http_request_body(&m), kinds[i]);
		off += m.header_bytes;
		if (kinds[i] == HTTP_BODY_LENGTH) {
			off += (size_t)m.content_length;
		} else if (kinds[i] == HTTP_BODY_CHUNKED) {
			http_chunked_init(&c);
			assert_int_equal(http_chunked_feed(&c, d + off, n - off, &used), HTTP_DONE);
			assert_int_equal(used, 13);
			off += used;
		}
	}
	assert_int_equal(off, n);
}

/* An interim 100 Continue, then the final response on the same bytes: the
 * caller re-inits the parser at header_bytes, as for pipelined requests. */
static void test_interim_then_final(void **state)
{
	static const char r[] =
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	static const int want[] = { 100, 103, 200 };
	static struct http_msg m;
	struct http_parser p;
	const uint8_t *d = (const uint8_t *)r;
	size_t off = 0;

	(void)state;
	for (int i = 0; i < 3; i++) {
		http_parser_init(&p, 1, NULL);
		assert_int_equal(http_parse(&p, &m, d + off, sizeof(r) - 1 - off), HTTP_OK);
		assert_int_equal(m.status, want[i]);
		assert_int_equal(http_response_body(&m, HTTP_M_PUT), i < 2 ? HTTP_BODY_NONE : HTTP_BODY_LENGTH);
		off += m.header_bytes;
	}
	assert_int_equal(off + 2, sizeof(r) - 1);
}

/* Connection tokens naming fields past index 31 land in the right word. */
static void test_hop_mask_high_index(void **state)
{
	static char buf[4096];
	static struct http_msg m;
	struct http_parser p;
	size_t n;
	int i;

	(void)state;
	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < 70; i++)
		n += (size_t)sprintf(buf + n, "X-%d: v\r\n", i);
	n += (size_t)sprintf(buf + n, "Connection: x-33, X-64 , x-1\r\n\r\n");
	http_parser_init(&p, 0, NULL);
	assert_int_equal(http_parse(&p, &m, (const uint8_t *)buf, n), HTTP_OK);
	assert_int_equal(m.nheaders, 71);
	assert_int_equal(m.conn_hop_mask[0], 1u << 1);
	assert_int_equal(m.conn_hop_mask[1], 1u << 1);    /* header 33 */
	assert_int_equal(m.conn_hop_mask[2], 1u << 0);    /* header 64 */
	assert_int_equal(m.conn_hop_mask[3], 0);
	assert_false(m.conn_close || m.conn_keep_alive || m.conn_upgrade);
}

/* --- Connection nominations of protected fields ----------------------------------------- */

/*
 * A Connection token that names the framing (Content-Length,
 * Transfer-Encoding), Host or a field proxyd sets is ignored, not obeyed:
 * obeying it let a client delete Content-Length while its body, a whole
 * second request, was still forwarded. (bytes) -> (ignored classes, headers
 * marked hop-by-hop, framing, lone WebSocket Upgrade).
 */
static void test_conn_protected(void **state)
{
	static const struct {
		const char *name, *b; size_t n; int resp;
		unsigned ignored; uint32_t mask; int64_t cl; int chunked, ws;
	} t[] = {
		{ "cl-named", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: content-length\r\n\r\n"),
		  0, HTTP_CONN_IGN_FRAMING, 0, 5, 0, 0 },
		{ "te-named", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: Transfer-Encoding, keep-alive\r\n\r\n"),
		  0, HTTP_CONN_IGN_FRAMING, 0, -1, 1, 0 },
		{ "te-named-first", S("POST / HTTP/1.1\r\nConnection: transfer-encoding\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
		  0, HTTP_CONN_IGN_FRAMING, 0, -1, 1, 0 },
		{ "host-named", S("GET / HTTP/1.1\r\nHost: a\r\nConnection: HOST\r\n\r\n"),
		  0, HTTP_CONN_IGN_HOST, 0, -1, 0, 0 },
		{ "proxy-set-named", S("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1\r\nVia: x\r\n"
		  "Connection: x-forwarded-for, X-Real-IP, forwarded, via, x-request-id, x-forwarded-proto, expect\r\n\r\n"),
		  0, HTTP_CONN_IGN_PROXY, 0, -1, 0, 0 },
		{ "other-still-hop", S("GET / HTTP/1.1\r\nHost: a\r\nX-Hop: 1\r\nConnection: x-hop, content-length, host\r\n\r\n"),
		  0, HTTP_CONN_IGN_FRAMING | HTTP_CONN_IGN_HOST, 1u << 1, -1, 0, 0 },
		{ "two-connection-fields", S("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: via\r\n\r\n"),
		  0, HTTP_CONN_IGN_PROXY, 0, -1, 0, 0 },
		{ "near-names", S("GET / HTTP/1.1\r\nHost: a\r\nContent-Lengthx: 1\r\nConnection: content-lengthx, hos\r\n\r\n"),
		  0, 0, 1u << 1, -1, 0, 0 },
		{ "resp-cl-named", S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: Content-Length\r\n\r\n"),
		  1, HTTP_CONN_IGN_FRAMING, 0, 5, 0, 0 },
		{ "resp-te-named", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close, transfer-encoding\r\n\r\n"),
		  1, HTTP_CONN_IGN_FRAMING, 0, -1, 1, 0 },
		{ "ws", S("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"),
		  0, 0, 1u << 1, -1, 0, 1 },
		{ "ws-case", S("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n"),
		  0, 0, 1u << 1, -1, 0, 1 },
		{ "h2c", S("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQ\r\n"
		  "Connection: Upgrade, HTTP2-Settings\r\n\r\n"),
		  0, 0, (1u << 1) | (1u << 2), -1, 0, 0 },
		{ "upgrade-list", S("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket, h2c\r\nConnection: upgrade\r\n\r\n"),
		  0, 0, 1u << 1, -1, 0, 0 },
		{ "upgrade-twice", S("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"),
		  0, 0, (1u << 1) | (1u << 2), -1, 0, 0 },
		{ "upgrade-version", S("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket/13\r\nConnection: upgrade\r\n\r\n"),
		  0, 0, 1u << 1, -1, 0, 0 },
		{ "resp-101-ws", S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"),
		  1, 0, 1u << 0, -1, 0, 1 },
		{ "resp-101-h2c", S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n"),
		  1, 0, 1u << 0, -1, 0, 0 },
	};
	static struct http_msg m;
	struct http_parser p;

	(void)state;
	for (size_t i = 0; i < N(t); i++) {
		uint8_t *d = dup_exact(t[i].b, t[i].n);

		http_parser_init(&p, t[i].resp, NULL);
		if (http_parse(&p, &m, d, t[i].n) != HTTP_OK) {
			print_error("%s: %s\n", t[i].name, p.reason);
			fail();
		}
		if (m.conn_ignored != t[i].ignored || m.conn_hop_mask[0] != t[i].mask ||
		    m.content_length != t[i].cl || m.chunked != (unsigned)t[i].chunked ||
		    m.upgrade_ws != (unsigned)t[i].ws) {
			print_error("%s: ignored %#x/%#x mask %#x/%#x cl %lld/%lld chunked %u/%d ws %u/%d\n",
			    t[i].name, m.conn_ignored, t[i].ignored, m.conn_hop_mask[0], t[i].mask,
			    (long long)m.content_length, (long long)t[i].cl, m.chunked, t[i].chunked,
			    m.upgrade_ws, t[i].ws);
			fail();
		}
		free(d);
		/* The verdict does not depend on how the bytes arrived. */
		check_row(t[i].name, t[i].b, t[i].n, t[i].resp, NULL, HTTP_OK, 0, NULL);
	}
}

static void test_field_protected(void **state)
{
	static const struct { const char *n; int cls; } t[] = {
		{ "Content-Length", HTTP_CONN_IGN_FRAMING }, { "TRANSFER-ENCODING", HTTP_CONN_IGN_FRAMING },
		{ "host", HTTP_CONN_IGN_HOST }, { "X-Forwarded-For", HTTP_CONN_IGN_PROXY },
		{ "x-forwarded-proto", HTTP_CONN_IGN_PROXY }, { "X-Real-IP", HTTP_CONN_IGN_PROXY },
		{ "Forwarded", HTTP_CONN_IGN_PROXY }, { "via", HTTP_CONN_IGN_PROXY },
		{ "X-Request-Id", HTTP_CONN_IGN_PROXY }, { "Expect", HTTP_CONN_IGN_PROXY },
		{ "content-lengt", 0 }, { "content-lengths", 0 }, { "hosts", 0 }, { "x-hop", 0 },
		{ "keep-alive", 0 }, { "upgrade", 0 }, { "te", 0 }, { "x-forwarded-fox", 0 },
	};

	(void)state;
	for (size_t i = 0; i < N(t); i++)
		assert_int_equal(http_field_protected((const uint8_t *)t[i].n, strlen(t[i].n)), t[i].cls);
}

/* --- body framing ----------------------------------------------------------------------- */

static void test_response_body_kinds(void **state)
{
	static const struct {
		const char *b; size_t n; enum http_method req; enum http_body want;
	} t[] = {
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), HTTP_M_GET, HTTP_BODY_LENGTH },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), HTTP_M_HEAD, HTTP_BODY_NONE },
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTP_M_HEAD, HTTP_BODY_NONE },
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), HTTP_M_GET, HTTP_BODY_CHUNKED },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), HTTP_M_GET, HTTP_BODY_NONE },
		{ S("HTTP/1.1 200 OK\r\n\r\n"), HTTP_M_GET, HTTP_BODY_UNTIL_CLOSE },
		{ S("HTTP/1.0 200 OK\r\n\r\n"), HTTP_M_POST, HTTP_BODY_UNTIL_CLOSE },
		{ S("HTTP/1.1 204 No Content\r\n\r\n"), HTTP_M_GET, HTTP_BODY_NONE },
		{ S("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"), HTTP_M_GET, HTTP_BODY_NONE },
		{ S("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"), HTTP_M_GET, HTTP_BODY_NONE },
		{ S("HTTP/1.1 100 Continue\r\n\r\n"), HTTP_M_PUT, HTTP_BODY_NONE },
		{ S("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"), HTTP_M_GET, HTTP_BODY_NONE },
		{ S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), HTTP_M_GET, HTTP_BODY_TUNNEL },
		{ S("HTTP/1.1 200 OK\r\n\r\n"), HTTP_M_CONNECT, HTTP_BODY_TUNNEL },
		{ S("HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n"), HTTP_M_CONNECT, HTTP_BODY_LENGTH },
		{ S("HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\n"), HTTP_M_DELETE, HTTP_BODY_LENGTH },
	};
	static struct http_msg m;
	struct http_parser p;

	(void)state;
	for (size_t i = 0; i < N(t); i++) {
		http_parser_init(&p, 1, NULL);
		assert_int_equal(http_parse(&p, &m, (const uint8_t *)t[i].b, t[i].n), HTTP_OK);
		if (http_response_body(&m, t[i].req) != t[i].want) {
			print_error("row %zu: body %d want %d\n", i, http_response_body(&m, t[i].req), t[i].want);
			fail();
		}
	}
}

/* --- chunked bodies ----------------------------------------------------------------------- */

struct crow { const char *name; const char *b; size_t n; int rc; size_t consumed; const char *reason; };

static const struct crow chunk_rows[] = {
	{ "simple", S("5\r\nhello\r\n0\r\n\r\n"), HTTP_DONE, 15, NULL },
	{ "two-chunks-then-next", S("3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), HTTP_DONE, 28, NULL },
	{ "empty-body", S("0\r\n\r\n"), HTTP_DONE, 5, NULL },
	{ "leading-zeros", S("0005\r\nhello\r\n000\r\n\r\n"), HTTP_DONE, 20, NULL },
	{ "ext", S("5;name=value;flag\r\nhello\r\n0;x=\"q s\"\r\n\r\n"), HTTP_DONE, 39, NULL },
	{ "ext-bws", S("5 \t; a = b\r\nhello\r\n0\r\n\r\n"), HTTP_DONE, 24, NULL },
	{ "trailers", S("1\r\nx\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\nrest"), HTTP_DONE, 25, NULL },
	{ "upper-hex", S("A\r\n0123456789\r\n0\r\n\r\n"), HTTP_DONE, 20, NULL },
	{ "max-size-ok", S("4000000000000000\r\n"), HTTP_AGAIN, 18, NULL },
	{ "sixteen-digits", S("0000000000000001\r\nx\r\n0\r\n\r\n"), HTTP_DONE, 26, NULL },
	{ "partial", S("5\r\nhel"), HTTP_AGAIN, 6, NULL },
	{ "partial-trailer", S("0\r\nX: y\r\n"), HTTP_AGAIN, 9, NULL },
	{ "size-over-2^62", S("4000000000000001\r\n"), HTTP_ERROR, 15, "chunk-size-overflow" },
	{ "size-64bit", S("FFFFFFFFFFFFFFFF\r\n"), HTTP_ERROR, 15, "chunk-size-overflow" },
	{ "seventeen-digits", S("00000000000000001\r\n"), HTTP_ERROR, 16, "chunk-size-overflow" },
	{ "no-size", S("\r\n"), HTTP_ERROR, 0, "bad-chunk-size" },
	{ "bad-hex", S("g\r\n"), HTTP_ERROR, 0, "bad-chunk-size" },
	{ "neg-size", S("-1\r\n"), HTTP_ERROR, 0, "bad-chunk-size" },
	{ "hex-prefix", S("0x5\r\nhello\r\n"), HTTP_ERROR, 1, "bad-chunk-size" },
	{ "size-space-garbage", S("5 x\r\nhello\r\n"), HTTP_ERROR, 2, "bad-chunk-ext" },
	{ "size-bare-lf", S("5\nhello\r\n0\r\n\r\n"), HTTP_ERROR, 1, "bad-chunk-size" },
	{ "size-bare-cr", S("5\rhello\r\n"), HTTP_ERROR, 2, "bare-cr" },
	{ "data-overrun", S("5\r\nhelloX\r\n0\r\n\r\n"), HTTP_ERROR, 8, "chunk-data-overrun" },
	{ "data-bare-lf", S("5\r\nhello\n0\r\n\r\n"), HTTP_ERROR, 8, "bare-lf" },
	{ "data-cr-only", S("5\r\nhello\r0\r\n\r\n"), HTTP_ERROR, 9, "bare-cr" },
	{ "ext-ctl", S("5;a\x01\r\nhello\r\n"), HTTP_ERROR, 3, "bad-chunk-ext" },
	{ "ext-bare-lf", S("5;a\nhello\r\n"), HTTP_ERROR, 3, "bad-chunk-ext" },
	/* RFC 9112 §7.1.1: an extension is ";" token [ "=" ( token / quoted-string ) ];
	 * anything else is refused, not forwarded for the next hop to guess at. */
	{ "ext-bare-semicolon", S("5;\r\nhello\r\n0\r\n\r\n"), HTTP_ERROR, 2, "bad-chunk-ext" },
	{ "ext-double-semicolon", S("5;;a\r\nhello\r\n"), HTTP_ERROR, 2, "bad-chunk-ext" },
	{ "ext-empty-name", S("5;=x\r\nhello\r\n"), HTTP_ERROR, 2, "bad-chunk-ext" },
	{ "ext-name-not-token", S("5;a@b\r\nhello\r\n"), HTTP_ERROR, 3, "bad-chunk-ext" },
	{ "ext-empty-value", S("5;a=\r\nhello\r\n"), HTTP_ERROR, 4, "bad-chunk-ext" },
	{ "ext-space-in-value", S("5;a=b c\r\nhello\r\n"), HTTP_ERROR, 6, "bad-chunk-ext" },
	{ "ext-trailing-bws", S("5;a \r\nhello\r\n"), HTTP_ERROR, 4, "bad-chunk-ext" },
	{ "ext-unclosed-quote", S("5;a=\"b\r\nhello\r\n"), HTTP_ERROR, 6, "bad-chunk-ext" },
	{ "ext-after-quote", S("5;a=\"b\"c\r\nhello\r\n"), HTTP_ERROR, 7, "bad-chunk-ext" },
	{ "ext-quoted-pair", S("5;a=\"b\\\"; c\";d\r\nhello\r\n0\r\n\r\n"), HTTP_DONE, 28, NULL },
	{ "trailer-obs-fold", S("0\r\nX: a\r\n b\r\n\r\n"), HTTP_ERROR, 9, "obs-fold" },
	{ "trailer-bare-lf", S("0\r\nX: a\n\r\n"), HTTP_ERROR, 7, "bare-lf" },
	{ "trailer-ws-colon", S("0\r\nX : a\r\n\r\n"), HTTP_ERROR, 4, "ws-before-colon" },
	{ "trailer-nul", S("0\r\nX: \0\r\n\r\n"), HTTP_ERROR, 6, "bad-trailer" },
	{ "end-bare-lf", S("0\r\n\n"), HTTP_ERROR, 3, "bare-lf" },
	{ "end-cr-x", S("0\r\n\rx"), HTTP_ERROR, 4, "bare-cr" },
	/* RFC 9110 §6.5.1: framing, routing and the fields proxyd sets are
	 * never trailers (a backend that merges trailers would act on them). */
	{ "trailer-content-length", S("0\r\nContent-Length: 5\r\n\r\n"), HTTP_ERROR, 17, "forbidden-trailer" },
	{ "trailer-te-upper", S("0\r\nTRANSFER-ENCODING: chunked\r\n\r\n"), HTTP_ERROR, 20, "forbidden-trailer" },
	{ "trailer-host", S("0\r\nhost:x\r\n\r\n"), HTTP_ERROR, 7, "forbidden-trailer" },
	{ "trailer-xff", S("1\r\nx\r\n0\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n"), HTTP_ERROR, 24, "forbidden-trailer" },
	{ "trailer-second-expect", S("0\r\nX-Sum: 1\r\nExpect: 100-continue\r\n\r\n"), HTTP_ERROR, 19, "forbidden-trailer" },
	{ "trailer-longer-name-ok", S("0\r\nContent-Length-X: 5\r\n\r\n"), HTTP_DONE, 26, NULL },
	{ "trailer-18-byte-name-ok", S("0\r\nTransfer-Encodingx: a\r\n\r\n"), HTTP_DONE, 28, NULL },
};

/* Feed b in the pieces [0,k) and [k,n); returns the last rc, total consumed. */
static int chunk_split(const char *b, size_t n, size_t k, size_t *total, const char **reason)
{
	struct http_chunked c;
	size_t used = 0;
	uint8_t *d;
	int rc;

	http_chunked_init(&c);
	d = dup_exact(b, k);
	rc = http_chunked_feed(&c, d, k, &used);
	free(d);
	*total = used;
	if (rc == HTTP_AGAIN) {
		assert_int_equal(used, k);
		d = dup_exact(b + k, n - k);
		rc = http_chunked_feed(&c, d, n - k, &used);
		free(d);
		*total += used;
	}
	assert_int_equal(c.body_bytes, *total);
	*reason = c.reason;
	return rc;
}

static void test_chunked_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(chunk_rows); i++) {
		const struct crow *r = &chunk_rows[i];

		for (size_t k = 0; k <= r->n; k++) {
			size_t total;
			const char *why;
			int rc = chunk_split(r->b, r->n, k, &total, &why);

			if (rc != r->rc || total != r->consumed ||
			    (r->reason != NULL && (why == NULL || strcmp(why, r->reason) != 0))) {
				print_error("%s split %zu: rc %d consumed %zu (%s), want %d %zu (%s)\n",
				            r->name, k, rc, total, why ? why : "-", r->rc, r->consumed,
				            r->reason ? r->reason : "-");
				fail();
			}
		}
	}
}

static void test_chunked_bytewise_and_sticky(void **state)
{
	static const char body[] = "4;x=y\r\nwiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\nNEXT";
	struct http_chunked c;
	size_t i, used, n = sizeof(body) - 1;
	int rc = HTTP_AGAIN;

	(void)state;
	http_chunked_init(&c);
	for (i = 0; i < n && rc == HTTP_AGAIN; i++) {
		rc = http_chunked_feed(&c, (const uint8_t *)body + i, 1, &used);
		assert_int_equal(used, 1);
	}
	assert_int_equal(rc, HTTP_DONE);
	assert_int_equal(i, n - 4);
	assert_int_equal(c.body_bytes, n - 4);
	/* After the end, nothing more is taken. */
	assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"x", 1, &used), HTTP_DONE);
	assert_int_equal(used, 0);

	/* Errors are sticky too. */
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"z", 1, &used), HTTP_ERROR);
	assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n", 5, &used), HTTP_ERROR);
	assert_int_equal(used, 0);
}

static void test_chunked_limits(void **state)
{
	static char buf[HTTP_CHUNK_MAX_TRAILER + 64];
	struct http_chunked c;
	size_t used, n;

	(void)state;
	/* A chunk-size line at the limit passes; one byte more fails. */
	memset(buf, 'a', sizeof(buf));
	buf[0] = '1';
	buf[1] = ';';
	memcpy(buf + HTTP_CHUNK_MAX_LINE - 1, "\r\n", 2);
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, (const uint8_t *)buf, HTTP_CHUNK_MAX_LINE + 1, &used), HTTP_AGAIN);
	memset(buf, 'a', sizeof(buf));
	buf[0] = '1';
	buf[1] = ';';
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, (const uint8_t *)buf, HTTP_CHUNK_MAX_LINE + 1, &used), HTTP_ERROR);
	assert_string_equal(c.reason, "chunk-line-too-long");
	assert_int_equal(used, HTTP_CHUNK_MAX_LINE);

	/* An endless trailer field is refused once over the bound. */
	memcpy(buf, "0\r\nX: ", 6);
	memset(buf + 6, 'v', sizeof(buf) - 6);
	n = sizeof(buf);
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, (const uint8_t *)buf, n, &used), HTTP_ERROR);
	assert_string_equal(c.reason, "trailer-too-large");
	assert_int_equal(used, 3 + HTTP_CHUNK_MAX_TRAILER);

	/* A large declared chunk is skipped in O(1) per feed. */
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, (const uint8_t *)"3FFFFFFFFFFFFFFF\r\n", 18, &used), HTTP_AGAIN);
	assert_int_equal(http_chunked_feed(&c, (const uint8_t *)buf, sizeof(buf), &used), HTTP_AGAIN);
	assert_int_equal(used, sizeof(buf));
}

/* --- strings and sticky errors -------------------------------------------------------- */

static void test_strings(void **state)
{
	(void)state;
	assert_string_equal(http_method_str(HTTP_M_GET), "GET");
	assert_string_equal(http_method_str(HTTP_M_PATCH), "PATCH");
	assert_string_equal(http_method_str(HTTP_M_OTHER), "OTHER");
	assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
	assert_string_equal(http_status_text(505), "HTTP Version Not Supported");
	assert_string_equal(http_status_text(799), "Unknown");
}

static void test_methods(void **state)
{
	static const struct { const char *b; size_t n; enum http_method m; } t[] = {
		{ S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_M_GET },
		{ S("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_M_HEAD },
		{ S("POST / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_M_POST },
		{ S("PUT / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_M_PUT },
		{ S("DELETE / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_M_DELETE },
		{ S("OPTIONS / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_M_OPTIONS },
		{ S("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_M_TRACE },
		{ S("PATCH / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_M_PATCH },
		{ S("get / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_M_OTHER },   /* case-sensitive, RFC 9110 §9.1 */
		{ S("GETS / HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_M_OTHER },
	};
	static struct http_msg m;
	struct http_parser p;

	(void)state;
	for (size_t i = 0; i < N(t); i++) {
		http_parser_init(&p, 0, NULL);
		assert_int_equal(http_parse(&p, &m, (const uint8_t *)t[i].b, t[i].n), HTTP_OK);
		assert_int_equal(m.method, t[i].m);
	}
}

static void test_error_sticky(void **state)
{
	static const char bad[] = "GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n";
	static const char good[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	static struct http_msg m;
	struct http_parser p;

	(void)state;
	http_parser_init(&p, 0, NULL);
	assert_int_equal(http_parse(&p, &m, (const uint8_t *)bad, sizeof(bad) - 1), HTTP_ERROR);
	assert_int_equal(http_parse(&p, &m, (const uint8_t *)good, sizeof(good) - 1), HTTP_ERROR);
	assert_int_equal(p.status, 400);
	assert_string_equal(p.reason, "ws-before-colon");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_table),
		cmocka_unit_test(test_response_table),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_default_limits),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_status_line_fields),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_normalize_table),
		cmocka_unit_test(test_path_normalize),
		cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_interim_then_final),
		cmocka_unit_test(test_hop_mask_high_index),
		cmocka_unit_test(test_conn_protected),
		cmocka_unit_test(test_field_protected),
		cmocka_unit_test(test_response_body_kinds),
		cmocka_unit_test(test_chunked_table),
		cmocka_unit_test(test_chunked_bytewise_and_sticky),
		cmocka_unit_test(test_chunked_limits),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_error_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
