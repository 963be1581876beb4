/*
 * tests/unit/test_cache_digest.c — what the warm-standby digest takes from
 * a store (proxyd/cache_store.c cache_store_hottest: the protected
 * segment, most recently used first, one entry per key), the freshness
 * check a peer's prefetch makes (cache_store_has_fresh: no hit counted,
 * nothing promoted), and a key split back into scheme, host and target
 * (proxyd/cache_digest.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/cache_digest.h"
#include "proxyd/cache_store.h"

static struct cache_obj *
obj(const char *key, const char *vary, int64_t lifetime)
{
	static const char head[] = "HTTP/1.1 200 OK\r\n\r\n";
	struct cache_obj *o = cache_obj_new(key, strlen(key), vary, vary ? strlen(vary) + 1 : 0, head,
	    sizeof(head) - 1, 16);

	assert_non_null(o);
	assert_int_equal(cache_obj_append(o, "0123456789abcdef", 16, 1024), 0);
	o->response_time = 1000;
	o->initial_age = 0;
	o->lifetime = lifetime;
	return o;
}

static void
hit(struct cache_store *s, const char *key)
{
	int found;
	struct cache_obj *o = cache_store_lookup(s, cache_key_hash(key, strlen(key)), key, strlen(key), NULL, NULL, &found);

	assert_non_null(o);
	cache_store_unref(s, o);
}

struct seen { char keys[8][64]; size_t n; };

static void
collect(void *ctx, const struct cache_obj *o)
{
	struct seen *v = ctx;

	assert_true(v->n < 8);
	snprintf(v->keys[v->n++], 64, "%.*s", (int)o->key_len, (const char *)o->key);
}

static void
test_hottest(void **state)
{
	struct cache_store *s = cache_store_acquire("t-digest", 1 << 20, 4096);
	struct seen v = { .n = 0 };

	(void)state;
	cache_store_insert(s, obj("http://h/a", NULL, 60));
	cache_store_insert(s, obj("http://h/b", NULL, 60));
	cache_store_insert(s, obj("http://h/c", NULL, 60));       /* never hit: not hot */
	cache_store_insert(s, obj("http://h/v", "accept-encoding\0gzip", 60));
	cache_store_insert(s, obj("http://h/v", "accept-encoding\0br", 60));
	assert_int_equal(cache_store_hottest(s, 8, collect, &v), 0);
	hit(s, "http://h/a");
	hit(s, "http://h/b");
	hit(s, "http://h/v");
	hit(s, "http://h/v");                                    /* the other variant (no Vary check) or the same */
	hit(s, "http://h/a");                                    /* a: the most recent */
	assert_true(cache_store_hottest(s, 8, collect, &v) >= 3);
	assert_string_equal(v.keys[0], "http://h/a");
	for (size_t i = 0; i < v.n; i++)
		assert_string_not_equal(v.keys[i], "http://h/c");
	v.n = 0;
	assert_int_equal(cache_store_hottest(s, 1, collect, &v), 1);   /* the bound */
	cache_store_release(s);
}

static void
test_has_fresh(void **state)
{
	struct cache_store *s = cache_store_acquire("t-fresh", 1 << 20, 4096);
	const char *k = "http://h/f", *gone = "http://h/none";
	uint64_t hits;

	(void)state;
	cache_store_insert(s, obj(k, NULL, 60));               /* arrived at 1000, fresh for 60 s */
	hits = atomic_load(&cache_store_stats(s)->hits);
	assert_true(cache_store_has_fresh(s, cache_key_hash(k, strlen(k)), k, strlen(k), 1059));
	assert_false(cache_store_has_fresh(s, cache_key_hash(k, strlen(k)), k, strlen(k), 1060));
	assert_false(cache_store_has_fresh(s, cache_key_hash(gone, strlen(gone)), gone, strlen(gone), 1000));
	assert_int_equal(atomic_load(&cache_store_stats(s)->hits), hits);
	cache_store_release(s);
}

static void
test_split(void **state)
{
	const char *h, *t;
	size_t hl, tl;
	int https;
	const char *k1 = "https://www.example.com:8443/a/b?c=d", *k2 = "http://h/";

	(void)state;
	assert_int_equal(cdig_split_key(k1, strlen(k1), &https, &h, &hl, &t, &tl), 0);
	assert_int_equal(https, 1);
	assert_int_equal(hl, strlen("www.example.com:8443"));
	assert_memory_equal(h, "www.example.com:8443", hl);
	assert_int_equal(tl, strlen("/a/b?c=d"));
	assert_int_equal(cdig_split_key(k2, strlen(k2), &https, &h, &hl, &t, &tl), 0);
	assert_int_equal(https, 0);
	assert_int_equal(tl, 1);
	assert_int_equal(cdig_split_key("http://h", 8, &https, &h, &hl, &t, &tl), -1);      /* no target */
	assert_int_equal(cdig_split_key("http:///x", 9, &https, &h, &hl, &t, &tl), -1);     /* no host */
	assert_int_equal(cdig_split_key("ftp://h/x", 9, &https, &h, &hl, &t, &tl), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hottest),
		cmocka_unit_test(test_has_fresh),
		cmocka_unit_test(test_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
