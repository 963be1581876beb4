/*
 * tests/unit/test_prefetch.c — the pure parts of the warm standby's
 * receiving end (proxyd/prefetch.c): a peer's key back into this node's
 * cache key (http and https: prefetches of https keys are internal
 * exchanges, no TLS client needed), the checks a key must pass, and what
 * a worker's outcome counts as.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/cache_digest.h"
#include "proxyd/prefetch.h"

static void
test_key(void **state)
{
	char k[64];
	size_t kl = 0;

	(void)state;
	assert_int_equal(prefetch_key(k, sizeof(k), 0, "Example.COM", "/A?B=C", &kl), 0);
	assert_string_equal(k, "http://example.com/A?B=C");       /* host lowercased, target as it is */
	assert_int_equal(kl, strlen(k));
	assert_int_equal(prefetch_key(k, sizeof(k), 1, "WWW.Example.com:8443", "/x", &kl), 0);
	assert_string_equal(k, "https://www.example.com:8443/x");
	assert_int_equal(kl, strlen(k));
	/* Exactly full (the NUL included) fits; one byte more does not. */
	assert_int_equal(prefetch_key(k, 17, 1, "h", "/abcdef", &kl), 0);
	assert_string_equal(k, "https://h/abcdef");
	assert_int_equal(prefetch_key(k, 16, 1, "h", "/abcdef", &kl), -1);
}

/* What the digest's side splits (proxyd/cache_digest.c) comes back whole
 * from prefetch_key(): the key a peer's prefetch stores is the one a client
 * of this node looks up. */
static void
test_round_trip(void **state)
{
	static const char *const keys[] = { "http://a.test/p?q=1", "https://b.test/", "https://127.0.0.1/c/x?cc=max-age%3D600" };
	char k[128], host[64], target[64];
	size_t kl, hl, tl;
	const char *h, *t;
	int https;

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		assert_int_equal(cdig_split_key(keys[i], strlen(keys[i]), &https, &h, &hl, &t, &tl), 0);
		snprintf(host, sizeof(host), "%.*s", (int)hl, h);
		snprintf(target, sizeof(target), "%.*s", (int)tl, t);
		assert_true(prefetch_key_valid("main", host, target));
		assert_int_equal(prefetch_key(k, sizeof(k), https, host, target, &kl), 0);
		assert_string_equal(k, keys[i]);
	}
}

static void
test_valid(void **state)
{
	char longt[PREFETCH_KEY_MAX + 2];

	(void)state;
	assert_true(prefetch_key_valid("main", "a.test", "/"));
	assert_true(prefetch_key_valid("main", "a.test:8080", "/x?y=z"));
	assert_false(prefetch_key_valid("", "a.test", "/"));             /* no cache name */
	assert_false(prefetch_key_valid("main", "", "/"));               /* no host */
	assert_false(prefetch_key_valid("main", "a.test", "x"));         /* not from "/" */
	assert_false(prefetch_key_valid("main", "a.test", "/a b"));      /* a space: a second request line */
	assert_false(prefetch_key_valid("main", "a.test", "/a\r\nX: y")); /* CR LF: a header of its own */
	assert_false(prefetch_key_valid("main", "a.test\r\nX: y", "/"));
	assert_false(prefetch_key_valid("main", "u@a.test", "/"));       /* userinfo */
	assert_false(prefetch_key_valid("main", "a.test/p", "/"));
	assert_false(prefetch_key_valid("main", "a.test?", "/"));
	assert_false(prefetch_key_valid("main", "a\\b", "/"));
	assert_false(prefetch_key_valid("main", "a.test", "/\x7f"));
	memset(longt, 'a', sizeof(longt));
	longt[0] = '/';
	longt[sizeof(longt) - 1] = '\0';
	assert_false(prefetch_key_valid("main", "a.test", longt));       /* PREFETCH_KEY_MAX + 1 bytes */
	longt[PREFETCH_KEY_MAX] = '\0';
	assert_true(prefetch_key_valid("main", "a.test", longt));        /* PREFETCH_KEY_MAX bytes */
}

static void
test_judge(void **state)
{
	(void)state;
	assert_int_equal(prefetch_judge(0, 200, 0), PF_STORED);
	assert_int_equal(prefetch_judge(0, 404, 0), PF_STORED);          /* the store decides; PF_NOT_STORED then */
	assert_int_equal(prefetch_judge(0, 304, 0), PF_STORED);
	assert_int_equal(prefetch_judge(0, 500, 0), PF_ORIGIN_ERROR);
	assert_int_equal(prefetch_judge(0, 503, 0), PF_ORIGIN_ERROR);    /* proxyd's own: no server up */
	assert_int_equal(prefetch_judge(0, 200, 1), PF_ORIGIN_ERROR);    /* a stale object served instead */
	assert_int_equal(prefetch_judge(1, 200, 0), PF_FAILED);          /* aborted mid-body */
	assert_int_equal(prefetch_judge(1, 0, 0), PF_FAILED);
	assert_int_equal(prefetch_judge(0, 0, 0), PF_FAILED);            /* ended with no answer */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_judge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
