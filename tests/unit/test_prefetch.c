/*
 * tests/unit/test_prefetch.c — the pure parts of the warm standby's
 * receiving end (proxyd/prefetch.c): a peer's key back into this node's
 * cache key (http and https: prefetches of https keys are internal
 * exchanges, no TLS client needed), the checks a key must pass, what
 * a worker's outcome counts as, and the hand-off tables between the
 * control thread and the workers (proxyd/prefetch_handoff.c: bounded,
 * round robin, each request taken once).
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
#include "proxyd/prefetch_handoff.h"

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

static int kicked[4], nkicks;

static void
kick(int idx)
{
	kicked[idx]++;
	nkicks++;
}

static void
test_handoff(void **state)
{
	struct pfx_job j[16];
	struct pfx_result res[100];
	char longhost[300];
	size_t n0, n1;

	(void)state;
	pfx_set_workers(0, NULL);
	assert_int_equal(pfx_submit(1, 0, "a.test", "/"), -1);          /* no worker yet */
	pfx_set_workers(2, kick);
	/* The table holds twice the requests in flight; then it is full. */
	for (uint32_t id = 1; id <= PREFETCH_PARALLEL * 2; id++)
		assert_int_equal(pfx_submit(id, (int)(id & 1), "a.test", "/x"), 0);
	assert_int_equal(pfx_submit(99, 0, "a.test", "/x"), -1);
	assert_int_equal(nkicks, PREFETCH_PARALLEL * 2);
	assert_int_equal(kicked[0], PREFETCH_PARALLEL);                   /* round robin */
	assert_int_equal(kicked[1], PREFETCH_PARALLEL);
	n0 = pfx_take(0, j, 16);
	assert_int_equal(n0, PREFETCH_PARALLEL);
	assert_string_equal(j[0].host, "a.test");
	assert_string_equal(j[0].target, "/x");
	assert_int_equal(pfx_take(0, j, 16), 0);                          /* taken once */
	n1 = pfx_take(1, j, 1);                                           /* at most max */
	assert_int_equal(n1, 1);
	assert_int_equal(pfx_take(1, j, 16), PREFETCH_PARALLEL - 1);
	assert_int_equal(pfx_take(2, j, 16), 0);
	/* Too long for a request head: refused, not cut. */
	memset(longhost, 'h', sizeof(longhost));
	longhost[sizeof(longhost) - 1] = '\0';
	assert_int_equal(pfx_submit(5, 0, longhost, "/"), -1);
	/* Results in order, bounded: the ones beyond the table are lost (the
	 * control thread's backstop frees their slots). */
	for (uint32_t id = 1; id <= 70; id++)
		pfx_report(id, 200, 0, 0);
	assert_int_equal(pfx_collect(res, 10), 10);
	assert_int_equal(res[0].id, 1);
	assert_int_equal(res[9].id, 10);
	assert_int_equal(res[0].status, 200);
	assert_int_equal(pfx_collect(res, 100), 54);
	assert_int_equal(res[0].id, 11);
	assert_int_equal(res[53].id, 64);
	assert_int_equal(pfx_collect(res, 100), 0);
	pfx_set_workers(0, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_handoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
