/*
 * tests/unit/test_cache_rule.c — proxyd/cache_rule: RFC 9111's rules as
 * tables. Storability has one row per rule (and the reason it must
 * report: the metric an operator reads), rows where two hold (the first in
 * the documented order wins) and rows that turn a rule off (public,
 * s-maxage, must-revalidate with Authorization; store_set_cookie).
 * Freshness: s-maxage over max-age over Expires over the heuristic, an
 * invalid Expires, no Date. Then Cache-Control parsing, HTTP-dates in the
 * three forms, the age calculation, Vary names and values, If-None-Match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/cache_rule.h"

#define NOW 1700000000LL

/* A response's facts from its Cache-Control and a few flags. */
struct row {
	const char *name;
	int is_get, status;
	const char *rq_cc, *rs_cc;
	int auth, cookie, store_cookie, vary_star;
	int64_t expires_in;          /* 0: no Expires; -1000: invalid */
	int64_t lm_ago;              /* 0: no Last-Modified */
	unsigned heuristic;
	enum cache_nostore want;
	int64_t lifetime;            /* expected freshness lifetime */
	int validator;               /* ETag or Last-Modified present */
};

static struct cache_facts
facts(const struct row *r)
{
	struct cache_facts f;

	memset(&f, 0, sizeof(f));
	f.is_get = r->is_get;
	f.status = r->status;
	cache_cc_init(&f.rq_cc);
	cache_cc_init(&f.rs_cc);
	if (r->rq_cc)
		cache_cc_parse(&f.rq_cc, r->rq_cc, strlen(r->rq_cc));
	if (r->rs_cc)
		cache_cc_parse(&f.rs_cc, r->rs_cc, strlen(r->rs_cc));
	f.rq_authorization = r->auth;
	f.set_cookie = r->cookie;
	f.store_set_cookie = r->store_cookie;
	f.vary_star = r->vary_star;
	f.has_validator = r->validator;
	f.date = NOW;
	f.response_time = NOW;
	f.expires = r->expires_in == 0 ? -1 : r->expires_in == -1000 ? -2 : NOW + r->expires_in;
	f.last_modified = r->lm_ago ? NOW - r->lm_ago : -1;
	f.heuristic_pct = r->heuristic;
	return f;
}

static const struct row rows[] = {
	/* name                         get st   rq_cc         rs_cc                         au ck sc vs exp  lm  heur want                   life */
	{ "max-age",                     1, 200, NULL,         "max-age=60",                 0, 0, 0, 0, 0,   0,  0, CACHE_NS_NONE,         60, 0 },
	{ "s-maxage wins over max-age",  1, 200, NULL,         "max-age=60, s-maxage=5",     0, 0, 0, 0, 0,   0,  0, CACHE_NS_NONE,          5, 0 },
	{ "max-age wins over Expires",   1, 200, NULL,         "max-age=60",                 0, 0, 0, 0, 999, 0,  0, CACHE_NS_NONE,         60, 0 },
	{ "Expires - Date",              1, 200, NULL,         NULL,                         0, 0, 0, 0, 30,  0,  0, CACHE_NS_NONE,         30, 0 },
	{ "invalid Expires: stale",      1, 200, NULL,         NULL,                         0, 0, 0, 0, -1000, 0, 0, CACHE_NS_NOT_FRESH,   0, 0 },
	{ "Expires in the past",         1, 200, NULL,         NULL,                         0, 0, 0, 0, -30, 0,  0, CACHE_NS_NOT_FRESH,    0, 0 },
	{ "nothing: not fresh",          1, 200, NULL,         NULL,                         0, 0, 0, 0, 0,   0,  0, CACHE_NS_NOT_FRESH,    0, 0 },
	{ "heuristic off by default",    1, 200, NULL,         NULL,                         0, 0, 0, 0, 0,   1000, 0, CACHE_NS_NOT_FRESH,  0, 0 },
	{ "heuristic 10%",               1, 200, NULL,         NULL,                         0, 0, 0, 0, 0,   1000, 10, CACHE_NS_NONE,    100, 0 },
	{ "heuristic not for 302",       1, 302, NULL,         NULL,                         0, 0, 0, 0, 0,   1000, 10, CACHE_NS_STATUS,    0, 0 },
	{ "max-age=0",                   1, 200, NULL,         "max-age=0",                  0, 0, 0, 0, 0,   0,  0, CACHE_NS_NOT_FRESH,    0, 0 },
	{ "bad max-age is stale",        1, 200, NULL,         "max-age=abc",                0, 0, 0, 0, 0,   0,  0, CACHE_NS_NOT_FRESH,    0, 0 },
	{ "HEAD not stored",             0, 200, NULL,         "max-age=60",                 0, 0, 0, 0, 0,   0,  0, CACHE_NS_METHOD,      60, 0 },
	{ "206 not stored",              1, 206, NULL,         "max-age=60",                 0, 0, 0, 0, 0,   0,  0, CACHE_NS_STATUS,      60, 0 },
	{ "304 not stored",              1, 304, NULL,         "max-age=60",                 0, 0, 0, 0, 0,   0,  0, CACHE_NS_STATUS,      60, 0 },
	{ "302 with max-age stored",     1, 302, NULL,         "max-age=60",                 0, 0, 0, 0, 0,   0,  0, CACHE_NS_NONE,        60, 0 },
	{ "302 without freshness",       1, 302, NULL,         NULL,                         0, 0, 0, 0, 0,   0,  0, CACHE_NS_STATUS,       0, 0 },
	{ "404 max-age stored",          1, 404, NULL,         "max-age=60",                 0, 0, 0, 0, 0,   0,  0, CACHE_NS_NONE,        60, 0 },
	{ "request no-store",            1, 200, "no-store",   "max-age=60",                 0, 0, 0, 0, 0,   0,  0, CACHE_NS_REQ_NO_STORE, 60, 0 },
	{ "no-store",                    1, 200, NULL,         "max-age=60, no-store",       0, 0, 0, 0, 0,   0,  0, CACHE_NS_NO_STORE,    60, 0 },
	{ "no-store before private",     1, 200, NULL,         "private, no-store",          0, 0, 0, 0, 0,   0,  0, CACHE_NS_NO_STORE,     0, 0 },
	{ "private",                     1, 200, NULL,         "private, max-age=60",        0, 0, 0, 0, 0,   0,  0, CACHE_NS_PRIVATE,     60, 0 },
	{ "qualified private",           1, 200, NULL,         "private=\"x-a, x-b\", max-age=60", 0, 0, 0, 0, 0, 0, 0, CACHE_NS_PRIVATE, 60, 0 },
	{ "Authorization",               1, 200, NULL,         "max-age=60",                 1, 0, 0, 0, 0,   0,  0, CACHE_NS_AUTH,        60, 0 },
	{ "Authorization + public",      1, 200, NULL,         "public, max-age=60",         1, 0, 0, 0, 0,   0,  0, CACHE_NS_NONE,        60, 0 },
	{ "Authorization + s-maxage",    1, 200, NULL,         "s-maxage=60",                1, 0, 0, 0, 0,   0,  0, CACHE_NS_NONE,        60, 0 },
	{ "Authorization + must-reval",  1, 200, NULL,         "must-revalidate, max-age=60", 1, 0, 0, 0, 0,  0,  0, CACHE_NS_NONE,        60, 0 },
	{ "Set-Cookie",                  1, 200, NULL,         "max-age=60",                 0, 1, 0, 0, 0,   0,  0, CACHE_NS_SET_COOKIE,  60, 0 },
	{ "Set-Cookie, configured",      1, 200, NULL,         "max-age=60",                 0, 1, 1, 0, 0,   0,  0, CACHE_NS_NONE,        60, 0 },
	{ "Vary: *",                     1, 200, NULL,         "max-age=60",                 0, 0, 0, 1, 0,   0,  0, CACHE_NS_VARY_STAR,   60, 0 },
	{ "no-cache",                    1, 200, NULL,         "no-cache, max-age=60",       0, 0, 0, 0, 0,   0,  0, CACHE_NS_NO_CACHE,     0, 0 },
	{ "qualified no-cache",          1, 200, NULL,         "no-cache=\"set-cookie\", max-age=60", 0, 0, 0, 0, 0, 0, 0, CACHE_NS_NO_CACHE, 0, 0 },
	{ "no-cache with a validator",   1, 200, NULL,         "no-cache, max-age=60",       0, 0, 0, 0, 0,   0,  0, CACHE_NS_NONE,         0, 1 },
	{ "no freshness, a validator",   1, 200, NULL,         NULL,                         0, 0, 0, 0, 0,   0,  0, CACHE_NS_NONE,         0, 1 },
	{ "no-store beats a validator",  1, 200, NULL,         "no-store",                   0, 0, 0, 0, 0,   0,  0, CACHE_NS_NO_STORE,     0, 1 },
	{ "case-insensitive",            1, 200, NULL,         "Max-Age=60, PRIVATE",        0, 0, 0, 0, 0,   0,  0, CACHE_NS_PRIVATE,     60, 0 },
	{ "must-revalidate stored",      1, 200, NULL,         "must-revalidate, max-age=60", 0, 0, 0, 0, 0,  0,  0, CACHE_NS_NONE,        60, 0 },
	{ "proxy-revalidate stored",     1, 200, NULL,         "proxy-revalidate, max-age=60", 0, 0, 0, 0, 0, 0,  0, CACHE_NS_NONE,        60, 0 },
	{ "smallest of two max-age",     1, 200, NULL,         "max-age=60, max-age=10",     0, 0, 0, 0, 0,   0,  0, CACHE_NS_NONE,        10, 0 },
	{ "quoted max-age accepted",     1, 200, NULL,         "max-age=\"20\"",             0, 0, 0, 0, 0,   0,  0, CACHE_NS_NONE,        20, 0 },
};

static void
test_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cache_facts f = facts(&rows[i]);
		enum cache_nostore got = cache_storable(&f);
		int64_t life = cache_freshness_lifetime(&f);
		if (got != rows[i].want || life != rows[i].lifetime) {
			print_error("row \"%s\": storable %s (want %s), lifetime %lld (want %lld)\n", rows[i].name,
			    cache_nostore_str(got), cache_nostore_str(rows[i].want), (long long)life, (long long)rows[i].lifetime);
			fail();
		}
	}
}

static void
test_may_serve_stale(void **state)
{
	static const struct { const char *cc; int want; } t[] = {
		{ "max-age=60", 1 }, { "max-age=60, stale-if-error=30", 1 }, { "must-revalidate, max-age=60", 0 },
		{ "proxy-revalidate", 0 }, { "s-maxage=60", 0 }, { "no-cache", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cache_cc cc;
		cache_cc_init(&cc);
		cache_cc_parse(&cc, t[i].cc, strlen(t[i].cc));
		if (cache_may_serve_stale(&cc) != t[i].want)
			fail_msg("\"%s\": want %d", t[i].cc, t[i].want);
	}
}

static void
test_expires_without_date(void **state)
{
	struct cache_facts f;

	(void)state;
	memset(&f, 0, sizeof(f));
	cache_cc_init(&f.rq_cc);
	cache_cc_init(&f.rs_cc);
	f.is_get = 1;
	f.status = 200;
	f.date = -1;
	f.last_modified = -1;
	f.response_time = NOW;
	f.expires = NOW + 40;
	/* §4.2.1: without Date, the time the response arrived stands in. */
	assert_int_equal(cache_freshness_lifetime(&f), 40);
}

static void
test_cc_parse(void **state)
{
	struct cache_cc cc;
	const char *v = " max-age=5 ,no-cache=\"a, b\", stale-while-revalidate=30,stale-if-error=60, x-ext=\"q,q\", "
	    "max-stale, min-fresh=3, only-if-cached";

	(void)state;
	cache_cc_init(&cc);
	cache_cc_parse(&cc, v, strlen(v));
	assert_int_equal(cc.max_age, 5);
	assert_true(cc.no_cache);
	assert_false(cc.private_);
	assert_int_equal(cc.stale_while_revalidate, 30);
	assert_int_equal(cc.stale_if_error, 60);
	assert_int_equal(cc.max_stale, 2147483648LL);
	assert_int_equal(cc.min_fresh, 3);
	assert_true(cc.only_if_cached);
	assert_int_equal(cc.s_maxage, -1);
	/* Overflow saturates at 2^31 (§1.2.2). */
	cache_cc_init(&cc);
	cache_cc_parse(&cc, "max-age=99999999999999999999", 28);
	assert_int_equal(cc.max_age, 2147483648LL);
	/* Several fields accumulate. */
	cache_cc_init(&cc);
	cache_cc_parse(&cc, "public", 6);
	cache_cc_parse(&cc, "s-maxage=7", 10);
	assert_true(cc.public_);
	assert_int_equal(cc.s_maxage, 7);
	/* Directive names of every length the parser knows, in any case
	 * (compared a word at a time), and near misses that are not them. */
	{
		const char *w = "PUBLIC, Must-Revalidate, PROXY-REVALIDATE, No-Store, S-MAXAGE=9, Stale-While-Revalidate=4, "
		    "STALE-IF-ERROR=8, Min-Fresh=2, MAX-STALE=6";
		cache_cc_init(&cc);
		cache_cc_parse(&cc, w, strlen(w));
		assert_true(cc.public_ && cc.must_revalidate && cc.proxy_revalidate && cc.no_store);
		assert_int_equal(cc.s_maxage, 9);
		assert_int_equal(cc.stale_while_revalidate, 4);
		assert_int_equal(cc.stale_if_error, 8);
		assert_int_equal(cc.min_fresh, 2);
		assert_int_equal(cc.max_stale, 6);
	}
	cache_cc_init(&cc);
	{
		const char *x = "max_age=5, max-agf=5, no-stor, publik, no\rstore, private2";
		cache_cc_parse(&cc, x, strlen(x));
	}
	assert_int_equal(cc.max_age, -1);
	assert_false(cc.no_store || cc.public_ || cc.private_);
}

static void
test_dates(void **state)
{
	(void)state;
	/* RFC 9110 §5.6.7's three examples are one instant. */
	assert_int_equal(cache_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29), 784111777);
	assert_int_equal(cache_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 30), 784111777);
	assert_int_equal(cache_http_date("Sun Nov  6 08:49:37 1994", 24), 784111777);
	assert_int_equal(cache_http_date(" Sun, 06 Nov 1994 08:49:37 GMT ", 31), 784111777);
	assert_int_equal(cache_http_date("0", 1), -1);
	assert_int_equal(cache_http_date("Sun, 06 Nov 1994 08:49:37 UTC", 29), -1);
	assert_int_equal(cache_http_date("Sun, 06 Foo 1994 08:49:37 GMT", 29), -1);
	assert_int_equal(cache_http_date("Sun, 06 Nov 1994 25:49:37 GMT", 29), -1);
	/* The last IMF-fixdate is remembered: the same bytes again, then
	 * another date, then an invalid one of the same length. */
	assert_int_equal(cache_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29), 784111777);
	assert_int_equal(cache_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29), 784111777);
	assert_int_equal(cache_http_date("Sun, 06 Nov 1994 08:49:38 GMT", 29), 784111778);
	assert_int_equal(cache_http_date("Sun, 06 Nov 1994 08:49:3x GMT", 29), -1);
	assert_int_equal(cache_http_date("Sun, 06 Nov 1994 08:49:38 GMT", 29), 784111778);
	assert_int_equal(cache_http_date("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 29), -1);
}

static void
test_age(void **state)
{
	(void)state;
	/* §4.2.3: the larger of apparent age and Age + response delay. */
	assert_int_equal(cache_initial_age(-1, NOW, NOW, NOW), 0);
	assert_int_equal(cache_initial_age(-1, NOW - 10, NOW, NOW), 10);
	assert_int_equal(cache_initial_age(30, NOW - 10, NOW - 2, NOW), 32);
	assert_int_equal(cache_initial_age(-1, NOW + 100, NOW, NOW), 0);   /* a Date in the future */
}

struct names { char got[256]; size_t len; };

static void
collect(void *ctx, const char *name, size_t n)
{
	struct names *x = ctx;

	memcpy(x->got + x->len, name, n);
	x->len += n;
	x->got[x->len++] = '|';
	x->got[x->len] = '\0';
}

static void
test_vary(void **state)
{
	struct names x = { "", 0 };
	char out[64];
	size_t ol = 0;
	const char *v = " Accept-Encoding,ACCEPT-language , x-a";

	(void)state;
	assert_int_equal(cache_vary_names(v, strlen(v), collect, &x), 0);
	assert_string_equal(x.got, "accept-encoding|accept-language|x-a|");
	assert_int_equal(cache_vary_names("accept, *", 9, NULL, NULL), 1);
	/* Values: whitespace trimmed and collapsed, lines joined. */
	assert_int_equal(cache_vary_norm_append(out, sizeof(out), &ol, "  gzip,   br ", 13), 0);
	assert_int_equal(cache_vary_norm_append(out, sizeof(out), &ol, "zstd", 4), 0);
	assert_int_equal(ol, strlen("gzip, br, zstd"));
	assert_memory_equal(out, "gzip, br, zstd", ol);
	ol = 0;
	assert_int_equal(cache_vary_norm_append(out, 4, &ol, "toolong", 7), -1);
}

static void
test_inm(void **state)
{
	(void)state;
	assert_true(cache_inm_match("\"a\"", 3, "\"a\"", 3));
	assert_true(cache_inm_match("\"x\", W/\"a\"", 10, "\"a\"", 3));    /* weak comparison (RFC 9110 §8.8.3.2) */
	assert_true(cache_inm_match("\"a\"", 3, "W/\"a\"", 5));
	assert_true(cache_inm_match("*", 1, "\"z\"", 3));
	assert_false(cache_inm_match("\"b\"", 3, "\"a\"", 3));
	assert_false(cache_inm_match("\"ab\"", 4, "\"a\"", 3));
	assert_false(cache_inm_match("", 0, "\"a\"", 3));
}

static void
test_url_key(void **state)
{
	static const struct { const char *url, *want; } t[] = {
		{ "http://Example.COM:8080/a/b?X=1", "http://example.com:8080/a/b?X=1" },
		{ "HTTPS://h/%7euser//x", "https://h/~user/x" },        /* unreserved decoded, slashes merged */
		{ "http://h/", "http://h/" },
		{ "http://h", NULL },                                     /* no path */
		{ "ftp://h/x", NULL },
		{ "http:///x", NULL },                                    /* no host */
		{ "http://h/a/../b", NULL },                              /* no normal form */
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int n = cache_url_key(t[i].url, strlen(t[i].url), out, sizeof(out));
		if (t[i].want == NULL) {
			if (n != -1)
				fail_msg("%s: accepted as %.*s", t[i].url, n, out);
			continue;
		}
		if (n != (int)strlen(t[i].want) || memcmp(out, t[i].want, (size_t)n) != 0)
			fail_msg("%s: %.*s, want %s", t[i].url, n < 0 ? 0 : n, out, t[i].want);
	}
}

/* hactl cache purge --tag: the stored head's tag field, as a table. */
static void
test_head_tag(void **state)
{
	static const struct { const char *head, *tag; int want; } t[] = {
		{ "HTTP/1.1 200 OK\r\nSurrogate-Key: red blue\r\n\r\n", "blue", 1 },
		{ "HTTP/1.1 200 OK\r\nSurrogate-Key: red blue\r\n\r\n", "red", 1 },
		{ "HTTP/1.1 200 OK\r\nsurrogate-key:\tred,blue\r\n", "blue", 1 },   /* name any case, tab, comma */
		{ "HTTP/1.1 200 OK\r\nSurrogate-Key: red blues\r\n", "blue", 0 },   /* whole tags only */
		{ "HTTP/1.1 200 OK\r\nSurrogate-Key: Blue\r\n", "blue", 0 },         /* tags compare exactly */
		{ "HTTP/1.1 200 OK\r\nX-Surrogate-Key: blue\r\n", "blue", 0 },       /* another field */
		{ "HTTP/1.1 200 OK\r\nSurrogate-Keys: blue\r\n", "blue", 0 },
		{ "HTTP/1.1 200 OK\r\nA: 1\r\nSurrogate-Key: a\r\nSurrogate-Key: b\r\n", "b", 1 }, /* every line */
		{ "Surrogate-Key: blue\r\nA: 1\r\n", "blue", 0 },                   /* the status line is not a field */
		{ "HTTP/1.1 200 OK\nSurrogate-Key: blue", "blue", 1 },               /* LF only, no final newline */
		{ "HTTP/1.1 200 OK\r\nSurrogate-Key: \r\n", "blue", 0 },
		{ "HTTP/1.1 200 OK\r\nSurrogate-Key: blue\r\n", "", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (cache_head_has_tag(t[i].head, strlen(t[i].head), "Surrogate-Key", t[i].tag) != t[i].want)
			fail_msg("case %zu (%s): want %d", i, t[i].tag, t[i].want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_may_serve_stale),
		cmocka_unit_test(test_expires_without_date),
		cmocka_unit_test(test_cc_parse),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_vary),
		cmocka_unit_test(test_inm),
		cmocka_unit_test(test_url_key),
		cmocka_unit_test(test_head_tag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
