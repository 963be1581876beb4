/*
 * tests/unit/test_cache_store.c — proxyd/cache_store: the byte bound, the
 * segmented LRU's resistance to a one-hit scan, replacement of a key's
 * object by a newer one with the same Vary values (and not by one with
 * other values), an object held by a request outliving its eviction,
 * removal of every variant, and the registry sharing a store by name;
 * the fetches under way (lead, follow, end) looked up and ended under the
 * lookup's and the insertion's lock; a body longer than its object was
 * made for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/cache_store.h"

static struct cache_obj *
obj(const char *key, const char *vary, size_t vlen, size_t body)
{
	static const char head[] = "HTTP/1.1 200 OK\r\n\r\n";
	static uint8_t bytes[8192];
	struct cache_obj *o = cache_obj_new(key, strlen(key), vary, vlen, head, sizeof(head) - 1, body);

	assert_non_null(o);
	assert_int_equal(cache_obj_append(o, bytes, body, sizeof(bytes)), 0);
	return o;
}

static struct cache_obj *
get(struct cache_store *s, const char *key)
{
	int found;
	struct cache_obj *o = cache_store_lookup(s, cache_key_hash(key, strlen(key)), key, strlen(key), NULL, NULL, &found);

	if (o != NULL)
		cache_store_unref(s, o);
	return o;
}

static void
test_bound_and_scan(void **state)
{
	struct cache_store *s = cache_store_acquire("t-scan", 64 * 1024, 8192);
	struct cache_stats *st = cache_store_stats(s);
	char k[32];

	(void)state;
	/* A hot set, each hit twice: promoted to the protected segment. */
	for (int i = 0; i < 4; i++) {
		snprintf(k, sizeof(k), "hot%d", i);
		cache_store_insert(s, obj(k, NULL, 0, 4000));
		assert_non_null(get(s, k));
	}
	/* A scan of 200 one-hit objects, far more than the bound. */
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "scan%d", i);
		cache_store_insert(s, obj(k, NULL, 0, 4000));
		assert_true(atomic_load(&st->bytes) <= 64 * 1024);
	}
	for (int i = 0; i < 4; i++) {
		snprintf(k, sizeof(k), "hot%d", i);
		assert_non_null(get(s, k));
	}
	assert_null(get(s, "scan0"));
	assert_non_null(get(s, "scan199"));
	assert_true(atomic_load(&st->evicted) > 150);
	cache_store_release(s);
}

struct want_vary { const char *v; size_t n; };

static int
vary_is(void *ctx, const struct cache_obj *o)
{
	const struct want_vary *w = ctx;

	return o->vary_len == w->n && memcmp(o->vary, w->v, w->n) == 0;
}

/* Whether key "k" has the variant "x-a" = i. */
static int
has_variant(struct cache_store *s, int i)
{
	char v[32];
	struct want_vary w = { v, (size_t)snprintf(v, sizeof(v), "x-a%c%d%c", 0, i, 0) };
	int found;
	struct cache_obj *o = cache_store_lookup(s, cache_key_hash("k", 1), "k", 1, vary_is, &w, &found);

	if (o != NULL)
		cache_store_unref(s, o);
	return o != NULL;
}

static void
test_replace_and_vary(void **state)
{
	struct cache_store *s = cache_store_acquire("t-vary", 1 << 20, 8192);
	static const char va[] = "accept-encoding\0gzip\0", vb[] = "accept-encoding\0br\0";
	int found;
	struct cache_obj *o;

	(void)state;
	cache_store_insert(s, obj("k", va, sizeof(va) - 1, 10));
	cache_store_insert(s, obj("k", vb, sizeof(vb) - 1, 20));
	assert_int_equal(atomic_load(&cache_store_stats(s)->objects), 2);   /* two variants */
	cache_store_insert(s, obj("k", va, sizeof(va) - 1, 30));
	assert_int_equal(atomic_load(&cache_store_stats(s)->objects), 2);   /* the gzip one replaced */
	assert_int_equal(atomic_load(&cache_store_stats(s)->replaced), 1);
	o = cache_store_lookup(s, cache_key_hash("k", 1), "k", 1, NULL, NULL, &found);
	assert_non_null(o);
	assert_true(found);
	cache_store_unref(s, o);
	assert_int_equal(cache_store_remove(s, cache_key_hash("k", 1), "k", 1), 2);
	/* At most CACHE_MAX_VARIANTS per key: the oldest goes. */
	for (int i = 0; i < CACHE_MAX_VARIANTS + 10; i++) {
		char v[32];
		int n = snprintf(v, sizeof(v), "x-a%c%d%c", 0, i, 0);
		cache_store_insert(s, obj("k", v, (size_t)n, 10));
	}
	assert_int_equal(atomic_load(&cache_store_stats(s)->objects), CACHE_MAX_VARIANTS);
	assert_false(has_variant(s, 0));
	assert_false(has_variant(s, 9));
	assert_true(has_variant(s, 10));
	assert_true(has_variant(s, CACHE_MAX_VARIANTS + 9));
	assert_int_equal(cache_store_remove(s, cache_key_hash("k", 1), "k", 1), CACHE_MAX_VARIANTS);
	assert_null(cache_store_lookup(s, cache_key_hash("k", 1), "k", 1, NULL, NULL, &found));
	assert_false(found);
	cache_store_release(s);
}

static void
test_held_object_outlives_eviction(void **state)
{
	struct cache_store *s = cache_store_acquire("t-held", 64 * 1024, 8192);
	struct cache_obj *o;
	int found;
	char k[32];

	(void)state;
	cache_store_insert(s, obj("held", NULL, 0, 5000));
	o = cache_store_lookup(s, cache_key_hash("held", 4), "held", 4, NULL, NULL, &found);
	assert_non_null(o);
	assert_int_equal(cache_store_remove(s, cache_key_hash("held", 4), "held", 4), 1);
	for (int i = 0; i < 50; i++) {
		snprintf(k, sizeof(k), "x%d", i);
		cache_store_insert(s, obj(k, NULL, 0, 4000));
	}
	/* Still readable (ASan would see a use after free). */
	assert_int_equal(o->body_len, 5000);
	assert_int_equal(o->key_len, 4);
	cache_store_unref(s, o);
	cache_store_release(s);
}

static void
test_too_large_and_registry(void **state)
{
	struct cache_store *a = cache_store_acquire("t-reg", 64 * 1024, 1000), *b;

	(void)state;
	cache_store_insert(a, obj("big", NULL, 0, 2000));     /* over max_object */
	assert_null(get(a, "big"));
	assert_int_equal(atomic_load(&cache_store_stats(a)->not_stored[CACHE_NS_TOO_LARGE]), 1);
	cache_store_insert(a, obj("small", NULL, 0, 500));
	/* A reload naming the same cache gets the same store and its objects. */
	b = cache_store_acquire("t-reg", 128 * 1024, 4000);
	assert_ptr_equal(a, b);
	assert_int_equal(cache_store_max_object(b), 4000);
	assert_non_null(get(b, "small"));
	cache_store_release(a);
	assert_non_null(get(b, "small"));
	cache_store_release(b);
}

static void
pend_init(struct cache_pending *p, const char *key)
{
	memset(p, 0, sizeof(*p));
	p->key = key;
	p->klen = strlen(key);
	p->hash = cache_key_hash(key, p->klen);
}

static struct cache_obj *
lookup_lead(struct cache_store *s, struct cache_pending *p, int may_lead, int *how)
{
	int found;

	return cache_store_lookup_lead(s, p->hash, p->key, p->klen, NULL, NULL, &found, p, 100, may_lead, how);
}

static void
test_lead_follow_end(void **state)
{
	struct cache_store *s = cache_store_acquire("t-lead", 1024 * 1024, 8192);
	static struct cache_pending many[300];
	static char keys[300][16];
	struct cache_pending p1, p2, p3;
	struct cache_obj *o;
	int how;

	(void)state;
	/* A miss leads; the next miss for the key follows; a HEAD (may
	 * not lead) for another key goes alone. */
	pend_init(&p1, "k1");
	pend_init(&p2, "k1");
	pend_init(&p3, "k3");
	assert_null(lookup_lead(s, &p1, 1, &how));
	assert_int_equal(how, CACHE_LEAD);
	assert_true(p1.linked);
	assert_null(lookup_lead(s, &p2, 1, &how));
	assert_int_equal(how, CACHE_FOLLOW);
	assert_false(p2.linked);
	assert_null(lookup_lead(s, &p3, 0, &how));
	assert_int_equal(how, CACHE_ALONE);
	/* Many fetches at once (more than the buckets), ended in another
	 * order than they began: each is found until it ends, and only it. */
	for (int i = 0; i < 300; i++) {
		snprintf(keys[i], sizeof(keys[i]), "m%d", i);
		pend_init(&many[i], keys[i]);
		assert_null(lookup_lead(s, &many[i], 1, &how));
		assert_int_equal(how, CACHE_LEAD);
	}
	for (int i = 0; i < 300; i += 2)
		cache_store_unlead(s, &many[i]);
	for (int i = 0; i < 300; i++)
		assert_int_equal(cache_store_pending(s, many[i].hash, many[i].key, many[i].klen), i % 2);
	for (int i = 299; i > 0; i -= 2)
		cache_store_unlead(s, &many[i]);
	for (int i = 0; i < 300; i++)
		assert_false(cache_store_pending(s, many[i].hash, many[i].key, many[i].klen));
	/* The leader's object goes in and its fetch ends in one step: the
	 * follower finds the object, not a fetch. */
	assert_true(cache_store_pending(s, p1.hash, p1.key, p1.klen));
	cache_store_insert_unlead(s, obj("k1", NULL, 0, 10), &p1);
	assert_false(p1.linked);
	assert_false(cache_store_pending(s, p1.hash, p1.key, p1.klen));
	o = lookup_lead(s, &p2, 1, &how);
	assert_non_null(o);
	assert_int_equal(how, CACHE_ALONE);
	assert_false(p2.linked);
	cache_store_unref(s, o);
	/* A key marked pass neither leads nor follows. */
	cache_store_mark_pass(s, p3.hash, 100, 60);
	assert_null(lookup_lead(s, &p3, 1, &how));
	assert_int_equal(how, CACHE_ALONE);
	cache_store_release(s);
}

static void
test_body_past_its_length(void **state)
{
	struct cache_store *s = cache_store_acquire("t-body", 1024 * 1024, 8192);
	struct cache_obj *o = cache_obj_new("kb", 2, NULL, 0, "HTTP/1.1 200 OK\r\n\r\n", 19, 4);
	static const char body[] = "0123456789abcdefghij";
	int found;

	(void)state;
	/* Made for 4 bytes (in the object's own block), given 20: the body
	 * moves to a block of its own, whole. */
	assert_non_null(o);
	assert_int_equal(cache_obj_append(o, body, 3, 8192), 0);
	assert_int_equal(cache_obj_append(o, body + 3, 17, 8192), 0);
	assert_int_equal(o->body_len, 20);
	assert_memory_equal(o->body, body, 20);
	cache_store_insert(s, o);
	o = cache_store_lookup(s, cache_key_hash("kb", 2), "kb", 2, NULL, NULL, &found);
	assert_non_null(o);
	assert_memory_equal(o->body, body, 20);
	cache_store_unref(s, o);
	/* Over the limit: refused, the object still whole. */
	o = cache_obj_new("kc", 2, NULL, 0, "HTTP/1.1 200 OK\r\n\r\n", 19, 4);
	assert_int_equal(cache_obj_append(o, body, 4, 8), 0);
	assert_int_equal(cache_obj_append(o, body, 5, 8), -1);
	cache_obj_free(o);
	cache_store_release(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound_and_scan),
		cmocka_unit_test(test_replace_and_vary),
		cmocka_unit_test(test_held_object_outlives_eviction),
		cmocka_unit_test(test_too_large_and_registry),
		cmocka_unit_test(test_lead_follow_end),
		cmocka_unit_test(test_body_past_its_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
