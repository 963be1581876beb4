/*
 * tests/unit/test_hash.c — lib/hash: the table and its SipHash.
 *
 * hash_siphash is checked against the reference vectors of the SipHash
 * paper, so a wrong byte order or a swapped argument cannot pass.  The table
 * runs (operation, key) -> (result) tables, 100k keys, binary keys with NULs,
 * iteration with and without deletion, and shows that two tables order the
 * same keys differently (each has its own random key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "lib/hash.h"

#define V(n) ((void *)(uintptr_t)(n))

/* SipHash-2-4, key 00..0f, message 00..(len-1): Aumasson & Bernstein,
 * "SipHash: a fast short-input PRF", appendix A / vectors.h. */
static void test_siphash_vectors(void **state)
{
	static const struct { size_t len; uint64_t want; } vec[] = {
		{ 0,  0x726fdb47dd0e0e31ull },
		{ 1,  0x74f839c593dc67fdull },
		{ 8,  0x93f5f5799a932462ull },
		{ 15, 0xa129ca6149be45e5ull },
		{ 63, 0x958a324ceb064572ull },
	};
	uint8_t key[16], msg[64];

	(void)state;
	assert_int_not_equal(sodium_init(), -1);
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++)
		if (hash_siphash(key, msg, vec[i].len) != vec[i].want)
			fail_msg("len %zu: got %016llx want %016llx", vec[i].len,
			    (unsigned long long)hash_siphash(key, msg, vec[i].len), (unsigned long long)vec[i].want);
}

/* The same bytes under two different keys hash differently. */
static void test_siphash_keys_differ(void **state)
{
	uint8_t k1[16] = { 0 }, k2[16] = { 0 };

	(void)state;
	k2[15] = 1;
	assert_int_not_equal(sodium_init(), -1);
	assert_true(hash_siphash(k1, "tandem", 6) != hash_siphash(k2, "tandem", 6));
	assert_true(hash_siphash(k1, "tandem", 6) == hash_siphash(k1, "tandem", 6));
}

enum op { PUT, GET, DEL, COUNT };
struct step { enum op op; const char *key; size_t klen; uintptr_t val; uintptr_t want; };

/* put/get/replace/del, with keys that differ only after a NUL byte. */
static const struct step steps[] = {
	{ GET,   "a", 1, 0, 0 },
	{ PUT,   "a", 1, 1, 0 },
	{ GET,   "a", 1, 0, 1 },
	{ COUNT, NULL, 0, 0, 1 },
	{ PUT,   "a", 1, 2, 0 },		/* replace */
	{ GET,   "a", 1, 0, 2 },
	{ COUNT, NULL, 0, 0, 1 },
	{ PUT,   "a\0b", 3, 3, 0 },
	{ PUT,   "a\0c", 3, 4, 0 },
	{ PUT,   "", 0, 5, 0 },		/* the empty key is a key */
	{ PUT,   "\0", 1, 6, 0 },
	{ PUT,   "\0\0", 2, 7, 0 },
	{ COUNT, NULL, 0, 0, 6 },
	{ GET,   "a", 1, 0, 2 },
	{ GET,   "a\0b", 3, 0, 3 },
	{ GET,   "a\0c", 3, 0, 4 },
	{ GET,   "a\0d", 3, 0, 0 },
	{ GET,   "a\0", 2, 0, 0 },
	{ GET,   "", 0, 0, 5 },
	{ GET,   "\0", 1, 0, 6 },
	{ GET,   "\0\0", 2, 0, 7 },
	{ GET,   "\0\0\0", 3, 0, 0 },
	{ DEL,   "a\0b", 3, 0, 3 },
	{ DEL,   "a\0b", 3, 0, 0 },		/* already gone */
	{ GET,   "a\0c", 3, 0, 4 },
	{ DEL,   "", 0, 0, 5 },
	{ GET,   "\0", 1, 0, 6 },
	{ DEL,   "zz", 2, 0, 0 },
	{ COUNT, NULL, 0, 0, 4 },
	{ DEL,   "a", 1, 0, 2 },
	{ DEL,   "a\0c", 3, 0, 4 },
	{ DEL,   "\0", 1, 0, 6 },
	{ DEL,   "\0\0", 2, 0, 7 },
	{ COUNT, NULL, 0, 0, 0 },
	{ GET,   "a", 1, 0, 0 },
};

static void test_steps(void **state)
{
	struct htab *h = htab_new(0);

	(void)state;
	assert_non_null(h);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *s = &steps[i];
		uintptr_t got = 0;

		switch (s->op) {
		case PUT:   got = (uintptr_t)htab_put(h, s->key, s->klen, V(s->val)); break;
		case GET:   got = (uintptr_t)htab_get(h, s->key, s->klen); break;
		case DEL:   got = (uintptr_t)htab_del(h, s->key, s->klen); break;
		case COUNT: got = htab_count(h); break;
		}
		if (got != s->want)
			fail_msg("step %zu: got %ju want %ju", i, (uintmax_t)got, (uintmax_t)s->want);
	}
	htab_free(h, NULL);
}

#define MANY 100000

static int key_of(int i, char *buf)
{
	return sprintf(buf, "key-%d", i);
}

static void test_many(void **state)
{
	struct htab *h = htab_new(16);
	char k[32];

	(void)state;
	assert_non_null(h);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(htab_put(h, k, (size_t)key_of(i, k), V(i + 1)), 0);
	assert_int_equal(htab_count(h), MANY);
	for (int i = 0; i < MANY; i++)
		assert_ptr_equal(htab_get(h, k, (size_t)key_of(i, k)), V(i + 1));
	assert_null(htab_get(h, "key-100000", 10));
	for (int i = 0; i < MANY; i += 2)
		assert_ptr_equal(htab_del(h, k, (size_t)key_of(i, k)), V(i + 1));
	assert_int_equal(htab_count(h), MANY / 2);
	for (int i = 0; i < MANY; i++)
		assert_ptr_equal(htab_get(h, k, (size_t)key_of(i, k)), i % 2 ? V(i + 1) : NULL);
	htab_free(h, NULL);
}

/* Iterate, optionally deleting each returned entry (or every other one);
 * every key must be seen exactly once either way. */
static void iterate_and_check(int del_every)
{
	enum { N = 5000 };
	static unsigned char seen[N];
	struct htab *h = htab_new(0);
	struct htab_iter it;
	const void *key;
	size_t klen, visits = 0;
	void *val;
	char k[32];

	assert_non_null(h);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < N; i++)
		assert_int_equal(htab_put(h, k, (size_t)key_of(i, k), V(i + 1)), 0);
	htab_iter_init(&it, h);
	while (htab_next(&it, &key, &klen, &val)) {
		int i = (int)(uintptr_t)val - 1;

		assert_true(i >= 0 && i < N);
		assert_int_equal(klen, (size_t)key_of(i, k));
		assert_memory_equal(key, k, klen);
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		visits++;
		if (del_every && i % del_every == 0)
			assert_ptr_equal(htab_del(h, key, klen), val);	/* key dies here */
		else
			assert_int_equal(htab_put(h, k, klen, V(i + 1)), 0);	/* replace: allowed */
	}
	assert_int_equal(visits, N);
	assert_int_equal(htab_count(h), del_every ? N - (N + del_every - 1) / del_every : N);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(htab_get(h, k, (size_t)key_of(i, k)), del_every && i % del_every == 0 ? NULL : V(i + 1));
	htab_free(h, NULL);
}

static void test_iter_once(void **state)
{
	(void)state;
	iterate_and_check(0);
}

static void test_iter_delete_all(void **state)
{
	(void)state;
	iterate_and_check(1);
}

static void test_iter_delete_some(void **state)
{
	(void)state;
	iterate_and_check(3);
}

static void test_iter_empty(void **state)
{
	struct htab *h = htab_new(100);
	struct htab_iter it;

	(void)state;
	htab_iter_init(&it, h);
	assert_int_equal(htab_next(&it, NULL, NULL, NULL), 0);
	assert_int_equal(htab_next(&it, NULL, NULL, NULL), 0);
	htab_free(h, NULL);
}

/*
 * Two tables draw two SipHash keys, so the same keys land in different
 * buckets and iterate in a different order.  With 1000 keys an identical
 * order by chance is out of the question; a fixed or shared key makes it
 * certain.
 */
static void test_tables_keyed_apart(void **state)
{
	enum { N = 1000 };
	struct htab *a = htab_new(N), *b = htab_new(N);
	struct htab_iter ia, ib;
	void *va, *vb;
	int same = 0;
	char k[32];

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	for (int i = 0; i < N; i++) {
		assert_int_equal(htab_put(a, k, (size_t)key_of(i, k), V(i + 1)), 0);
		assert_int_equal(htab_put(b, k, (size_t)key_of(i, k), V(i + 1)), 0);
	}
	htab_iter_init(&ia, a);
	htab_iter_init(&ib, b);
	while (htab_next(&ia, NULL, NULL, &va)) {
		assert_int_equal(htab_next(&ib, NULL, NULL, &vb), 1);
		same += va == vb;
	}
	assert_int_equal(htab_next(&ib, NULL, NULL, &vb), 0);
	assert_true(same < N);
	htab_free(a, NULL);
	htab_free(b, NULL);
}

static int freed;
static void count_free(void *v)
{
	freed++;
	free(v);
}

static void test_free_values(void **state)
{
	struct htab *h = htab_new(0);
	char k[32];

	(void)state;
	freed = 0;
	for (int i = 0; i < 100; i++)
		assert_int_equal(htab_put(h, k, (size_t)key_of(i, k), malloc(8)), 0);
	free(htab_del(h, "key-7", 5));
	htab_free(h, count_free);
	assert_int_equal(freed, 99);
	htab_free(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_siphash_keys_differ),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_iter_once),
		cmocka_unit_test(test_iter_delete_all),
		cmocka_unit_test(test_iter_delete_some),
		cmocka_unit_test(test_iter_empty),
		cmocka_unit_test(test_tables_keyed_apart),
		cmocka_unit_test(test_free_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
