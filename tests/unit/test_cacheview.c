/*
 * tests/unit/test_cacheview.c — the bounds hacd puts on cache summaries and
 * warm-standby digests (hacd/cacheview.c): a table of keys a peer may and
 * may not name, a summary's limits, and a node's whole digest split into
 * datagram-sized chunks that each unpack and together list every key once,
 * in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hacd/cacheview.h"
#include "lib/wire.h"

struct kcase {
	const char *cache, *host, *target;
	int ok;
};

static void test_keys(void **state)
{
	static char longt[CV_KEY_MAX + 2], longh[CV_HOST_MAX + 2];
	static const struct kcase cases[] = {
		{ "main", "www.example.com", "/a?b=c", 1 },
		{ "main", "127.0.0.1:8080", "/", 1 },
		{ "main", "[::1]:80", "/x", 1 },
		{ NULL, "h", "/", 0 },                      /* no cache */
		{ "main", "", "/", 0 },                     /* empty host */
		{ "main", "h", "x", 0 },                    /* target not from "/" */
		{ "main", "h", "/a b", 0 },                 /* a space would end the request line */
		{ "main", "h", "/a\r\nX: y", 0 },           /* a field smuggled in */
		{ "main", "h\r\nX: y", "/", 0 },
		{ "main", "h/evil", "/", 0 },               /* a path in the host */
		{ "main", "u@h", "/", 0 },                  /* userinfo */
		{ "ma in", "h", "/", 0 },
		{ "main", "h", "/\x7f", 0 },
		{ "main", "h", "/\xc3\xa9", 0 },            /* not ASCII */
	};
	Tandem__CacheDigestKey k;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tandem__cache_digest_key__init(&k);
		k.cache = (char *)cases[i].cache;
		k.host = (char *)cases[i].host;
		k.target = (char *)cases[i].target;
		if (cv_key_ok(&k) != cases[i].ok)
			fail_msg("case %zu (%s %s): want %d", i, cases[i].host, cases[i].target, cases[i].ok);
	}
	memset(longt, 'a', sizeof(longt) - 1);
	longt[0] = '/';
	k.cache = "main";
	k.host = "h";
	k.target = longt;
	assert_false(cv_key_ok(&k));
	memset(longh, 'h', sizeof(longh) - 1);
	k.host = longh;
	k.target = "/";
	assert_false(cv_key_ok(&k));
	assert_false(cv_key_ok(NULL));
}

static void test_summary(void **state)
{
	Tandem__CacheStats st[CV_MAX_CACHES + 1], *pst[CV_MAX_CACHES + 1];
	Tandem__CacheSummary s = TANDEM__CACHE_SUMMARY__INIT, *back;
	struct cacheview *cv = calloc(1, sizeof(*cv));

	(void)state;
	assert_non_null(cv);
	for (size_t i = 0; i <= CV_MAX_CACHES; i++) {
		tandem__cache_stats__init(&st[i]);
		st[i].name = "main";
		st[i].has_hits = 1;
		st[i].hits = 1000000000ull + i;
		pst[i] = &st[i];
	}
	s.caches = pst;
	s.n_caches = CV_MAX_CACHES + 1;
	assert_false(cv_summary_ok(&s));              /* too many caches */
	assert_int_equal(cv_keep_summary(cv, 1, "n2", &s, 5), -1);
	s.n_caches = CV_MAX_CACHES;
	assert_true(cv_summary_ok(&s));
	s.node = "forged-name";
	assert_int_equal(cv_keep_summary(cv, 1, "n2", &s, 5), 0);
	assert_true(cv->node[1].len > 0 && cv->node[1].len <= CV_SUMMARY_MAX);
	assert_true(cv->node[1].len + 64 <= WIRE_MAX_PAYLOAD);  /* fits a datagram */
	back = tandem__cache_summary__unpack(NULL, cv->node[1].len, cv->node[1].sum);
	assert_non_null(back);
	assert_string_equal(back->node, "n2");        /* the sender's name, not what it claimed */
	assert_int_equal(back->n_caches, CV_MAX_CACHES);
	tandem__cache_summary__free_unpacked(back, NULL);
	st[3].name = "bad\nname";
	assert_false(cv_summary_ok(&s));
	assert_int_equal(cv_keep_summary(cv, HACD_MAX_NODES, "n2", &s, 5), -1);
	free(cv);
}

static void test_chunks(void **state)
{
	enum { N = CV_DIGEST_KEYS };
	Tandem__CacheDigestKey k[N], *pk[N];
	Tandem__CacheDigest d = TANDEM__CACHE_DIGEST__INIT;
	char (*tgt)[96] = calloc(N, 96);
	uint8_t buf[WIRE_MAX_PAYLOAD];
	size_t from = 0, len, seen = 0, chunks = 0;

	(void)state;
	assert_non_null(tgt);
	for (size_t i = 0; i < N; i++) {
		tandem__cache_digest_key__init(&k[i]);
		snprintf(tgt[i], 96, "/static/img/%zu/%0*zu.png?v=3", i, (int)(i % 40), i);
		k[i].cache = "main";
		k[i].host = "www.example.com";
		k[i].target = tgt[i];
		pk[i] = &k[i];
	}
	d.keys = pk;
	d.n_keys = N;
	assert_true(cv_digest_ok(&d));
	while ((len = cv_digest_chunk(&d, "n1", &from, buf, sizeof(buf))) > 0) {
		Tandem__PeerMessage *m = tandem__peer_message__unpack(NULL, len, buf);

		assert_true(len <= CV_CHUNK_BYTES);
		assert_non_null(m);
		assert_int_equal(m->body_case, TANDEM__PEER_MESSAGE__BODY_CACHE_DIGEST);
		assert_string_equal(m->cache_digest->origin, "n1");
		assert_true(cv_digest_ok(m->cache_digest));
		for (size_t i = 0; i < m->cache_digest->n_keys; i++)
			assert_string_equal(m->cache_digest->keys[i]->target, tgt[seen + i]);
		seen += m->cache_digest->n_keys;
		chunks++;
		tandem__peer_message__free_unpacked(m, NULL);
		assert_true(chunks <= N);
	}
	assert_int_equal(seen, N);
	assert_int_equal(from, N);
	/* The largest key the checks allow fits a chunk of its own. */
	{
		static char big[CV_KEY_MAX + 1], name[CV_NAME_MAX + 1], host[CV_HOST_MAX + 1];
		Tandem__CacheDigestKey *one[1] = { &k[0] };
		Tandem__CacheDigest d1 = TANDEM__CACHE_DIGEST__INIT;

		memset(big, 'a', CV_KEY_MAX - CV_HOST_MAX);
		big[0] = '/';
		memset(name, 'c', CV_NAME_MAX);
		memset(host, 'h', CV_HOST_MAX);
		k[0].target = big;
		k[0].cache = name;
		k[0].host = host;
		k[0].has_hits = k[0].has_https = 1;
		k[0].hits = UINT32_MAX;
		d1.keys = one;
		d1.n_keys = 1;
		assert_true(cv_digest_ok(&d1));
		from = 0;
		assert_true(cv_digest_chunk(&d1, "a-long-node-name-x", &from, buf, sizeof(buf)) > 0);
		assert_int_equal(from, 1);
		k[0].cache = "main";
		k[0].host = "www.example.com";
		k[0].target = tgt[0];
	}
	/* Too many keys, or none, or one bad one: the whole digest is refused. */
	d.n_keys = 0;
	assert_false(cv_digest_ok(&d));
	d.n_keys = N;
	k[7].target = "no-slash";
	assert_false(cv_digest_ok(&d));
	free(tgt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_chunks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
