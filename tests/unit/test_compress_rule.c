/*
 * tests/unit/test_compress_rule.c — proxyd/compress_rule: when a response
 * is compressed, and the head edits that go with it, as tables.
 *
 * The decision table has one row per "never compressed" rule (and the
 * reason it must report, since that is the metric an operator reads),
 * rows where two rules hold at once (the first in the documented order
 * wins), and the Vary flag of each. Then content-type patterns,
 * Cache-Control no-transform, Vary merging and ETag weakening.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/compress_rule.h"

#define I COMPRESS_IDENTITY
#define G COMPRESS_GZIP
#define B COMPRESS_BR
#define Z COMPRESS_ZSTD

static struct compress_route_conf
route_on(void)
{
	struct compress_route_conf rc;

	memset(&rc, 0, sizeof(rc));
	rc.enabled = 1;
	rc.prefer[0] = Z;
	rc.prefer[1] = B;
	rc.prefer[2] = G;
	rc.nprefer = 3;
	rc.level[G] = 6;
	rc.level[B] = 4;
	rc.level[Z] = 3;
	rc.min_length = 256;
	rc.types = compress_default_types;
	rc.ntypes = compress_default_ntypes;
	return rc;
}

/* Request flags for the table. */
#define HEAD   1
#define RANGE  2
#define UPG    4
#define RQ_NT  8
/* Response flags. */
#define ENC    1
#define RS_NT  2
#define UPGD   4

struct decide_case {
	const char *what;
	int off;                 /* route off */
	int accepted;            /* enum compress_alg */
	int rq;                  /* request flags */
	int status;
	int rs;                  /* response flags */
	const char *ctype;       /* NULL: no Content-Type */
	int64_t length;
	int want_alg;
	int want_skip;
	int want_vary;
};

static const struct decide_case decide_cases[] = {
	{ "gzip client, html",          0, G, 0, 200, 0, "text/html", 5000, G, COMPRESS_SKIP_NONE, 1 },
	{ "zstd client, json, chunked", 0, Z, 0, 200, 0, "application/json", -1, Z, COMPRESS_SKIP_NONE, 1 },
	{ "br, 404 page",               0, B, 0, 404, 0, "text/html; charset=utf-8", 1000, B, COMPRESS_SKIP_NONE, 1 },
	{ "500 page",                   0, G, 0, 500, 0, "text/plain", 300, G, COMPRESS_SKIP_NONE, 1 },
	{ "exactly min_length",         0, G, 0, 200, 0, "text/css", 256, G, COMPRESS_SKIP_NONE, 1 },
	/* Each "never compressed" rule. */
	{ "route off",                  1, G, 0, 200, 0, "text/html", 5000, I, COMPRESS_SKIP_OFF, 0 },
	{ "101 switching",              0, G, 0, 101, 0, NULL, -1, I, COMPRESS_SKIP_UPGRADE, 0 },
	{ "upgraded tunnel",            0, G, 0, 200, UPGD, "text/html", -1, I, COMPRESS_SKIP_UPGRADE, 0 },
	{ "request asks to upgrade",    0, G, UPG, 200, 0, "text/html", 5000, I, COMPRESS_SKIP_UPGRADE, 0 },
	{ "100 continue",               0, G, 0, 100, 0, NULL, -1, I, COMPRESS_SKIP_NO_BODY, 0 },
	{ "103 early hints",            0, G, 0, 103, 0, "text/html", -1, I, COMPRESS_SKIP_NO_BODY, 0 },
	{ "204",                        0, G, 0, 204, 0, "text/html", -1, I, COMPRESS_SKIP_NO_BODY, 0 },
	{ "304",                        0, G, 0, 304, 0, "text/html", 5000, I, COMPRESS_SKIP_NO_BODY, 0 },
	{ "HEAD of a compressible page",0, G, HEAD, 200, 0, "text/html", 5000, I, COMPRESS_SKIP_NO_BODY, 1 },
	{ "HEAD of an image",           0, G, HEAD, 200, 0, "image/png", 5000, I, COMPRESS_SKIP_TYPE, 0 },
	{ "206",                        0, G, 0, 206, 0, "text/html", 5000, I, COMPRESS_SKIP_PARTIAL, 0 },
	{ "Range answered 200",         0, G, RANGE, 200, 0, "text/html", 5000, I, COMPRESS_SKIP_PARTIAL, 0 },
	{ "already gzip",               0, G, 0, 200, ENC, "text/html", 5000, I, COMPRESS_SKIP_ENCODED, 0 },
	{ "response no-transform",      0, G, 0, 200, RS_NT, "text/html", 5000, I, COMPRESS_SKIP_NO_TRANSFORM, 0 },
	{ "request no-transform",       0, G, RQ_NT, 200, 0, "text/html", 5000, I, COMPRESS_SKIP_NO_TRANSFORM, 0 },
	{ "no Content-Type",            0, G, 0, 200, 0, NULL, 5000, I, COMPRESS_SKIP_TYPE, 0 },
	{ "image/png",                  0, G, 0, 200, 0, "image/png", 5000, I, COMPRESS_SKIP_TYPE, 0 },
	{ "application/octet-stream",   0, G, 0, 200, 0, "application/octet-stream", 5000, I, COMPRESS_SKIP_TYPE, 0 },
	{ "malformed Content-Type",     0, G, 0, 200, 0, "text", 5000, I, COMPRESS_SKIP_TYPE, 0 },
	{ "short body",                 0, G, 0, 200, 0, "text/html", 255, I, COMPRESS_SKIP_SHORT, 0 },
	{ "empty body",                 0, G, 0, 200, 0, "text/html", 0, I, COMPRESS_SKIP_SHORT, 0 },
	{ "client accepts none",        0, I, 0, 200, 0, "text/html", 5000, I, COMPRESS_SKIP_NOT_ACCEPTED, 1 },
	{ "client coding not offered",  0, COMPRESS_NALG, 0, 200, 0, "text/html", 5000, I, COMPRESS_SKIP_NOT_ACCEPTED, 1 },
	/* Several rules hold: the first in the documented order reports. */
	{ "off beats everything",       1, I, HEAD | RANGE, 206, ENC, NULL, 0, I, COMPRESS_SKIP_OFF, 0 },
	{ "upgrade before no body",     0, G, UPG, 204, 0, NULL, -1, I, COMPRESS_SKIP_UPGRADE, 0 },
	{ "304 before encoded",         0, G, 0, 304, ENC, "text/html", -1, I, COMPRESS_SKIP_NO_BODY, 0 },
	{ "206 before encoded",         0, G, 0, 206, ENC, "text/html", -1, I, COMPRESS_SKIP_PARTIAL, 0 },
	{ "encoded before type",        0, G, 0, 200, ENC, "image/png", -1, I, COMPRESS_SKIP_ENCODED, 0 },
	{ "no-transform before type",   0, G, 0, 200, RS_NT, "image/png", -1, I, COMPRESS_SKIP_NO_TRANSFORM, 0 },
	{ "type before short",          0, G, 0, 200, 0, "image/png", 10, I, COMPRESS_SKIP_TYPE, 0 },
	{ "short before HEAD",          0, G, HEAD, 200, 0, "text/html", 10, I, COMPRESS_SKIP_SHORT, 0 },
	{ "short before not accepted",  0, I, 0, 200, 0, "text/html", 10, I, COMPRESS_SKIP_SHORT, 0 },
	{ "HEAD before not accepted",   0, I, HEAD, 200, 0, "text/html", 5000, I, COMPRESS_SKIP_NO_BODY, 1 },
};

static void
test_decide(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		const struct decide_case *c = &decide_cases[i];
		struct compress_route_conf rc = route_on();
		struct compress_req_facts rq;
		struct compress_resp_facts rs;
		struct compress_decision d;

		memset(&rq, 0, sizeof(rq));
		memset(&rs, 0, sizeof(rs));
		memset(&d, 0xa5, sizeof(d));
		rc.enabled = !c->off;
		rq.accepted = (enum compress_alg)c->accepted;
		rq.head = (c->rq & HEAD) != 0;
		rq.range = (c->rq & RANGE) != 0;
		rq.upgrade = (c->rq & UPG) != 0;
		rq.no_transform = (c->rq & RQ_NT) != 0;
		rs.status = c->status;
		rs.encoded = (c->rs & ENC) != 0;
		rs.no_transform = (c->rs & RS_NT) != 0;
		rs.upgraded = (c->rs & UPGD) != 0;
		rs.ctype = c->ctype;
		rs.ctype_len = c->ctype ? strlen(c->ctype) : 0;
		rs.length = c->length;
		compress_decide(&rc, &rq, &rs, &d);
		if ((int)d.alg != c->want_alg || (int)d.skip != c->want_skip || (int)d.vary != c->want_vary)
			fail_msg("case %zu (%s): alg %d skip %s vary %d; want alg %d skip %s vary %d", i, c->what, d.alg,
			    compress_skip_str(d.skip), d.vary, c->want_alg,
			    compress_skip_str((enum compress_skip)c->want_skip), c->want_vary);
		if (d.alg != COMPRESS_IDENTITY && d.level != rc.level[d.alg])
			fail_msg("case %zu (%s): level %d, want %d", i, c->what, d.level, rc.level[d.alg]);
		if (d.alg == COMPRESS_IDENTITY && d.level != 0)
			fail_msg("case %zu (%s): level %d on a skip", i, c->what, d.level);
	}
}

/* A route whose prefer list leaves a coding out never uses it, even if the
 * caller passes it; min_length 0 still skips an empty body. */
static void
test_decide_route_settings(void **state)
{
	struct compress_route_conf rc = route_on();
	struct compress_req_facts rq = { .accepted = COMPRESS_BR };
	struct compress_resp_facts rs = { .status = 200, .ctype = "text/html", .ctype_len = 9, .length = 1 };
	struct compress_decision d;

	(void)state;
	rc.prefer[0] = G;
	rc.nprefer = 1;
	rc.min_length = 0;
	compress_decide(&rc, &rq, &rs, &d);
	assert_int_equal(d.skip, COMPRESS_SKIP_NOT_ACCEPTED);
	rq.accepted = COMPRESS_GZIP;
	rc.level[G] = 9;
	compress_decide(&rc, &rq, &rs, &d);
	assert_int_equal(d.alg, COMPRESS_GZIP);
	assert_int_equal(d.level, 9);
	rs.length = 0;
	compress_decide(&rc, &rq, &rs, &d);
	assert_int_equal(d.skip, COMPRESS_SKIP_SHORT);
	/* A large min_length against an unknown length: compressed. */
	rc.min_length = 1u << 30;
	rs.length = -1;
	compress_decide(&rc, &rq, &rs, &d);
	assert_int_equal(d.skip, COMPRESS_SKIP_NONE);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(compress_alg_str(COMPRESS_GZIP), "gzip");
	assert_string_equal(compress_alg_str(COMPRESS_BR), "br");
	assert_string_equal(compress_alg_str(COMPRESS_ZSTD), "zstd");
	assert_string_equal(compress_alg_str(COMPRESS_IDENTITY), "identity");
	assert_string_equal(compress_alg_str(COMPRESS_NALG), "?");
	assert_int_equal(compress_alg_from_str("gzip", 4), COMPRESS_GZIP);
	assert_int_equal(compress_alg_from_str("br", 2), COMPRESS_BR);
	assert_int_equal(compress_alg_from_str("zstd", 4), COMPRESS_ZSTD);
	assert_int_equal(compress_alg_from_str("identity", 8), -1);
	assert_int_equal(compress_alg_from_str("GZIP", 4), -1);
	assert_int_equal(compress_alg_from_str("gzi", 3), -1);
	assert_int_equal(compress_alg_from_str("brotli", 6), -1);
	for (int s = 0; s < COMPRESS_SKIP_MAX; s++) {
		const char *n = compress_skip_str((enum compress_skip)s);
		assert_string_not_equal(n, "?");
		for (int t = 0; t < s; t++)
			assert_string_not_equal(n, compress_skip_str((enum compress_skip)t));
	}
	assert_string_equal(compress_skip_str(COMPRESS_SKIP_POOL_FULL), "pool_full");
	assert_string_equal(compress_skip_str(COMPRESS_SKIP_MAX), "?");
}

/* ---- content types ------------------------------------------------------ */

struct type_case { const char *ctype; int want; };

static const struct type_case default_type_cases[] = {
	{ "text/html", 1 },
	{ "text/html; charset=utf-8", 1 },
	{ "TEXT/HTML;charset=UTF-8", 1 },
	{ " text/plain ", 1 },
	{ "text/event-stream", 1 },
	{ "text/css;", 1 },
	{ "application/json", 1 },
	{ "Application/JSON; charset=utf-8", 1 },
	{ "application/javascript", 1 },
	{ "application/xml", 1 },
	{ "image/svg+xml", 1 },
	{ "application/ld+json", 1 },
	{ "application/vnd.api+json", 1 },
	{ "application/atom+xml", 1 },
	{ "application/problem+json; charset=utf-8", 1 },
	{ "image/png", 0 },
	{ "image/jpeg", 0 },
	{ "application/octet-stream", 0 },
	{ "application/gzip", 0 },
	{ "application/zip", 0 },
	{ "video/mp4", 0 },
	{ "application/jsonx", 0 },
	{ "application/json-patch", 0 },
	{ "application/+json", 0 },          /* nothing before the suffix */
	{ "application/xjson", 0 },
	{ "textual/html", 0 },
	{ "tex/html", 0 },
	{ "text", 0 },
	{ "text/", 0 },
	{ "/html", 0 },
	{ "", 0 },
	{ "text/html garbage", 0 },
	{ "text /html", 0 },
	{ "text/ht\"ml", 0 },
};

static void
test_type_match_defaults(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(default_type_cases) / sizeof(default_type_cases[0]); i++) {
		const struct type_case *c = &default_type_cases[i];
		int got = compress_type_match(compress_default_types, compress_default_ntypes, c->ctype, strlen(c->ctype));
		if (got != c->want)
			fail_msg("case %zu \"%s\": %d, want %d", i, c->ctype, got, c->want);
	}
	/* Only len bytes are read. */
	assert_int_equal(compress_type_match(compress_default_types, compress_default_ntypes, "image/pngtext/html", 9), 0);
	assert_int_equal(compress_type_match(compress_default_types, compress_default_ntypes, "text/htmlXX", 9), 1);
}

struct pat_case { const char *s; int ok; int kind; const char *stored; };

static const struct pat_case pat_cases[] = {
	{ "text/html", 1, COMPRESS_PAT_EXACT, "text/html" },
	{ "Application/JSON", 1, COMPRESS_PAT_EXACT, "application/json" },
	{ "text/*", 1, COMPRESS_PAT_TYPE, "text" },
	{ "+json", 1, COMPRESS_PAT_SUFFIX, "+json" },
	{ "+XML", 1, COMPRESS_PAT_SUFFIX, "+xml" },
	{ "*", 0, 0, NULL },
	{ "*/*", 0, 0, NULL },
	{ "*/html", 0, 0, NULL },
	{ "text/h*", 0, 0, NULL },
	{ "text/**", 0, 0, NULL },
	{ "text", 0, 0, NULL },
	{ "text/", 0, 0, NULL },
	{ "/html", 0, 0, NULL },
	{ "+", 0, 0, NULL },
	{ "+a+b", 0, 0, NULL },
	{ "", 0, 0, NULL },
	{ "text/html; charset=utf-8", 0, 0, NULL },
	{ "text/html/x", 0, 0, NULL },
	{ "te xt/html", 0, 0, NULL },
	{ "application/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 0, NULL },
};

static void
test_type_pat_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pat_cases) / sizeof(pat_cases[0]); i++) {
		const struct pat_case *c = &pat_cases[i];
		struct compress_type_pat p;
		int rc;

		memset(&p, 0x5a, sizeof(p));
		rc = compress_type_pat_parse(c->s, &p);
		if ((rc == 0) != c->ok)
			fail_msg("case %zu \"%s\": rc %d", i, c->s, rc);
		if (!c->ok) {
			if (p.len != 0x5a)
				fail_msg("case %zu \"%s\": out written on failure", i, c->s);
			continue;
		}
		if ((int)p.kind != c->kind || p.len != strlen(c->stored) || memcmp(p.s, c->stored, p.len) != 0)
			fail_msg("case %zu \"%s\": kind %d \"%.*s\"", i, c->s, p.kind, (int)p.len, p.s);
	}
}

/* A configured list: exact, type and suffix patterns each match alone. */
static void
test_type_match_custom(void **state)
{
	struct compress_type_pat pats[3];

	(void)state;
	assert_int_equal(compress_type_pat_parse("application/wasm", &pats[0]), 0);
	assert_int_equal(compress_type_pat_parse("font/*", &pats[1]), 0);
	assert_int_equal(compress_type_pat_parse("+yaml", &pats[2]), 0);
	assert_int_equal(compress_type_match(pats, 3, "application/wasm", 16), 1);
	assert_int_equal(compress_type_match(pats, 3, "font/ttf", 8), 1);
	assert_int_equal(compress_type_match(pats, 3, "application/x+yaml", 18), 1);
	assert_int_equal(compress_type_match(pats, 3, "text/html", 9), 0);
	assert_int_equal(compress_type_match(pats, 1, "font/ttf", 8), 0);
	assert_int_equal(compress_type_match(pats, 0, "application/wasm", 16), 0);
}

/* ---- Cache-Control ------------------------------------------------------ */

struct cc_case { const char *v; int want; };

static const struct cc_case cc_cases[] = {
	{ "no-transform", 1 },
	{ "No-Transform", 1 },
	{ "public, no-transform", 1 },
	{ "no-transform, max-age=60", 1 },
	{ "max-age=60,no-transform", 1 },
	{ " \tno-transform\t ", 1 },
	{ "private=\"x\", no-transform", 1 },
	{ "private=\"a,b\", no-transform", 1 },
	{ "no-cache=\"no-transform\"", 0 },          /* inside a quoted argument */
	{ "private=\"x, no-transform\"", 0 },
	{ "private=\"x\\\", no-transform\"", 0 },    /* escaped quote stays inside */
	{ "no-transformx", 0 },
	{ "xno-transform", 0 },
	{ "no-transform=1", 1 },                     /* an argument does not change the name */
	{ "max-age=60", 0 },
	{ "", 0 },
	{ "no-store, must-revalidate", 0 },
	{ "garbage garbage, no-transform", 1 },      /* a broken member is skipped, the next read */
	{ "max-age=\"60, no-transform", 0 },         /* unterminated quote swallows the rest */
};

static void
test_cc_no_transform(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cc_cases) / sizeof(cc_cases[0]); i++) {
		const struct cc_case *c = &cc_cases[i];
		int got = compress_cc_no_transform(c->v, strlen(c->v));
		if (got != c->want)
			fail_msg("case %zu '%s': %d, want %d", i, c->v, got, c->want);
	}
	assert_int_equal(compress_cc_no_transform("no-transform", 11), 0);   /* length bound */
}

/* ---- Vary and ETag ------------------------------------------------------ */

struct vary_case { const char *in; int scan; const char *out; };

static const struct vary_case vary_cases[] = {
	{ "", 0, "Accept-Encoding" },
	{ "  ", 0, "Accept-Encoding" },
	{ "Accept-Encoding", COMPRESS_VARY_AE, "Accept-Encoding" },
	{ "accept-encoding", COMPRESS_VARY_AE, "accept-encoding" },
	{ "Cookie", 0, "Cookie, Accept-Encoding" },
	{ "Cookie, Origin", 0, "Cookie, Origin, Accept-Encoding" },
	{ "Origin,ACCEPT-ENCODING", COMPRESS_VARY_AE, "Origin,ACCEPT-ENCODING" },
	{ "Origin , Accept-Encoding , Cookie", COMPRESS_VARY_AE, "Origin , Accept-Encoding , Cookie" },
	{ "*", COMPRESS_VARY_STAR, "*" },
	{ "Cookie, *", COMPRESS_VARY_STAR, "Cookie, *" },
	{ "Cookie,", 0, "Cookie, Accept-Encoding" },
	{ " Cookie ", 0, "Cookie, Accept-Encoding" },
	{ "Accept-Encodings", 0, "Accept-Encodings, Accept-Encoding" },
	{ "Accept", 0, "Accept, Accept-Encoding" },
	{ "X-Accept-Encoding", 0, "X-Accept-Encoding, Accept-Encoding" },
};

static void
test_vary(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vary_cases) / sizeof(vary_cases[0]); i++) {
		const struct vary_case *c = &vary_cases[i];
		size_t len = strlen(c->in);
		char out[128];
		int n, scan = compress_vary_scan(c->in, len);

		if (scan != c->scan)
			fail_msg("case %zu \"%s\": scan %d, want %d", i, c->in, scan, c->scan);
		n = compress_vary_merge(c->in, len, out, sizeof(out));
		if (n < 0 || (size_t)n != strlen(c->out) || memcmp(out, c->out, (size_t)n) != 0)
			fail_msg("case %zu \"%s\": \"%.*s\", want \"%s\"", i, c->in, n < 0 ? 0 : n, out, c->out);
		/* len + 17 always suffices; one byte short of the result fails. */
		if (compress_vary_merge(c->in, len, out, len + 17) != n)
			fail_msg("case %zu: len + 17 not enough", i);
		if (n > 0 && compress_vary_merge(c->in, len, out, (size_t)n - 1) != -1)
			fail_msg("case %zu: wrote past cap", i);
	}
}

struct etag_case { const char *in; const char *out; };

static const struct etag_case etag_cases[] = {
	{ "\"abc\"", "W/\"abc\"" },
	{ "\"\"", "W/\"\"" },
	{ "W/\"abc\"", "W/\"abc\"" },
	{ " \"abc\" ", "W/\"abc\"" },
	{ "\"5f-1a2b\"", "W/\"5f-1a2b\"" },
	{ "\"caf\xc3\xa9\"", "W/\"caf\xc3\xa9\"" },   /* obs-text */
	{ "abc", NULL },
	{ "\"abc", NULL },
	{ "abc\"", NULL },
	{ "\"", NULL },
	{ "", NULL },
	{ "w/\"abc\"", NULL },                       /* W/ is case-sensitive (§8.8.3) */
	{ "W/abc", NULL },
	{ "\"a\"b\"", NULL },                        /* DQUOTE is not an etagc */
	{ "\"a b\"", NULL },                         /* nor is SP */
	{ "\"a\", \"b\"", NULL },                    /* a list is If-Match syntax, not ETag */
};

static void
test_etag(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(etag_cases) / sizeof(etag_cases[0]); i++) {
		const struct etag_case *c = &etag_cases[i];
		size_t len = strlen(c->in);
		char out[64];
		int n = compress_etag_weaken(c->in, len, out, sizeof(out));

		if (c->out == NULL) {
			if (n != -1)
				fail_msg("case %zu '%s': %d, want -1", i, c->in, n);
			continue;
		}
		if (n < 0 || (size_t)n != strlen(c->out) || memcmp(out, c->out, (size_t)n) != 0)
			fail_msg("case %zu '%s': '%.*s', want '%s'", i, c->in, n < 0 ? 0 : n, out, c->out);
		if (compress_etag_weaken(c->in, len, out, len + 2) != n)
			fail_msg("case %zu: len + 2 not enough", i);
		if (compress_etag_weaken(c->in, len, out, (size_t)n - 1) != -1)
			fail_msg("case %zu: wrote past cap", i);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_decide_route_settings),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_type_match_defaults),
		cmocka_unit_test(test_type_pat_parse),
		cmocka_unit_test(test_type_match_custom),
		cmocka_unit_test(test_cc_no_transform),
		cmocka_unit_test(test_vary),
		cmocka_unit_test(test_etag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
