/*
 * tests/unit/test_balance.c — the load-balancing algorithms of proxyd/balance.c.
 *
 * Everything is deterministic: servers are plain arrays, the random2 PRNG is seeded,
 * and statistical checks (distribution, key movement) run over fixed inputs with
 * bounds wide enough for the algorithm but far from what a broken one produces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/balance.h"

#define NALGO 4
static const enum balance_algo all_algos[NALGO] = { BAL_ROUNDROBIN, BAL_LEASTCONN, BAL_HASH, BAL_RANDOM2 };

/* Servers named "s0", "s1", ... with the given weights, all up and idle. */
static void servers_init(struct bal_server *s, size_t n, const uint32_t *weights)
{
	for (size_t i = 0; i < n; i++) {
		char name[16];
		int len = snprintf(name, sizeof(name), "s%zu", i);

		memset(&s[i], 0, sizeof(s[i]));
		s[i].weight = weights[i];
		s[i].eff_weight = weights[i];
		s[i].id_hash = balance_hash(name, (size_t)len);
	}
}

static uint64_t key_of(uint64_t k)
{
	return balance_hash(&k, sizeof(k));
}

/* --- names --------------------------------------------------------------------------- */

static void test_algo_names(void **state)
{
	static const struct { const char *s; int rc; enum balance_algo a; } t[] = {
		{ "roundrobin", 0, BAL_ROUNDROBIN },
		{ "leastconn", 0, BAL_LEASTCONN },
		{ "hash", 0, BAL_HASH },
		{ "random", 0, BAL_RANDOM2 },
		{ "Random", -1, BAL_ROUNDROBIN },
		{ "random2", -1, BAL_ROUNDROBIN },
		{ "", -1, BAL_ROUNDROBIN },
		{ "round robin", -1, BAL_ROUNDROBIN },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum balance_algo a = BAL_ROUNDROBIN;

		assert_int_equal(balance_algo_parse(t[i].s, &a), t[i].rc);
		assert_int_equal(a, t[i].a);
		if (t[i].rc == 0)
			assert_string_equal(balance_algo_str(a), t[i].s);
	}
	assert_int_equal(balance_algo_parse(NULL, NULL), -1);
	assert_string_equal(balance_algo_str(BAL_ALGO_MAX), "?");
}

static void test_new_rejects(void **state)
{
	struct bal_server s[1];
	uint32_t w[1] = { 1 };

	(void)state;
	servers_init(s, 1, w);
	assert_null(balancer_new(BAL_ALGO_MAX, s, 1, 1));
	assert_null(balancer_new(BAL_ROUNDROBIN, NULL, 1, 1));
	assert_null(balancer_new(BAL_ROUNDROBIN, s, BAL_MAX_SERVERS + 1, 1));
}

/* --- smooth weighted round robin ---------------------------------------------------- */

static void test_swrr_sequence(void **state)
{
	static const struct {
		uint32_t w[4];
		size_t n;
		const char *seq;        /* one cycle, 'a' = server 0 */
	} t[] = {
		{ { 5, 1, 1 }, 3, "aabacaa" },          /* nginx's documented sequence */
		{ { 1, 1, 1 }, 3, "abc" },
		{ { 2, 1 }, 2, "aba" },
		{ { 3, 0, 2 }, 3, "acaca" },            /* weight 0 sits out */
		{ { 4, 2, 1, 1 }, 4, "abacdaba" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bal_server s[4];
		struct balancer *b;
		size_t len = strlen(t[i].seq);

		servers_init(s, t[i].n, t[i].w);
		b = balancer_new(BAL_ROUNDROBIN, s, t[i].n, 1);
		assert_non_null(b);
		/* three cycles: smooth round robin repeats exactly */
		for (size_t k = 0; k < 3 * len; k++) {
			int got = balancer_pick(b, 0, NULL);

			assert_int_equal(got, t[i].seq[k % len] - 'a');
		}
		balancer_free(b);
	}
}

/* A server coming back after being down starts with a clean state, and while it was
 * down the others shared its picks smoothly. */
static void test_swrr_rejoin(void **state)
{
	uint32_t w[3] = { 5, 1, 1 };
	struct bal_server s[3];
	struct balancer *b;
	int counts[3] = { 0 };

	(void)state;
	servers_init(s, 3, w);
	b = balancer_new(BAL_ROUNDROBIN, s, 3, 1);
	assert_non_null(b);
	for (int k = 0; k < 5; k++)
		(void)balancer_pick(b, 0, NULL);
	s[0].eff_weight = 0;
	balancer_update(b);
	assert_int_equal(s[0].cur, 0);
	for (int k = 0; k < 10; k++)
		counts[balancer_pick(b, 0, NULL)]++;
	assert_int_equal(counts[0], 0);
	assert_int_equal(counts[1], 5);
	assert_int_equal(counts[2], 5);
	s[0].eff_weight = 5;
	balancer_update(b);
	memset(counts, 0, sizeof(counts));
	for (int k = 0; k < 70; k++)
		counts[balancer_pick(b, 0, NULL)]++;
	assert_int_equal(counts[0], 50);
	assert_int_equal(counts[1], 10);
	assert_int_equal(counts[2], 10);
	balancer_free(b);
}

/* --- distribution ------------------------------------------------------------------- */

/* Over 10k picks on idle servers every algorithm follows the weights: round robin and
 * leastconn (all tied, so round robin) exactly, hash and random2 within tol per mille. */
static void test_distribution(void **state)
{
	static const struct {
		enum balance_algo a;
		uint32_t w[5];
		size_t n;
		int tol_permille;
	} t[] = {
		{ BAL_ROUNDROBIN, { 5, 1, 1 }, 3, 1 },
		{ BAL_ROUNDROBIN, { 10, 20, 30, 40 }, 4, 1 },
		{ BAL_ROUNDROBIN, { 256, 1, 0, 3 }, 4, 1 },
		{ BAL_LEASTCONN, { 5, 1, 1 }, 3, 1 },
		{ BAL_LEASTCONN, { 10, 20, 30, 40 }, 4, 1 },
		{ BAL_HASH, { 1, 1, 1, 1, 1 }, 5, 30 },
		{ BAL_HASH, { 5, 3, 2 }, 3, 30 },
		{ BAL_HASH, { 100, 200, 100 }, 3, 30 },
		{ BAL_RANDOM2, { 1, 1, 1, 1, 1 }, 5, 20 },
		{ BAL_RANDOM2, { 5, 3, 2 }, 3, 20 },
		{ BAL_RANDOM2, { 256, 1, 0, 3 }, 4, 20 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bal_server s[5];
		struct balancer *b;
		long counts[5] = { 0 }, sum = 0;
		const long picks = 10000;

		servers_init(s, t[i].n, t[i].w);
		for (size_t k = 0; k < t[i].n; k++)
			sum += t[i].w[k];
		b = balancer_new(t[i].a, s, t[i].n, 42);
		assert_non_null(b);
		for (long k = 0; k < picks; k++) {
			int got = balancer_pick(b, key_of((uint64_t)k), NULL);

			assert_true(got >= 0 && (size_t)got < t[i].n);
			counts[got]++;
		}
		for (size_t k = 0; k < t[i].n; k++) {
			long want = picks * t[i].w[k] / sum;
			long diff = labs(counts[k] - want);

			if (diff * 1000 > picks * t[i].tol_permille && diff > 1)
				fail_msg("case %zu (%s) server %zu: %ld picks, want %ld", i,
					 balance_algo_str(t[i].a), k, counts[k], want);
		}
		balancer_free(b);
	}
}

/* --- unusable and excluded servers ------------------------------------------------ */

static void test_never_unusable(void **state)
{
	/* server 1 weight 0, server 3 down (eff 0), server 4 excluded, for every algo */
	uint32_t w[6] = { 3, 0, 1, 4, 2, 1 };

	(void)state;
	for (size_t a = 0; a < NALGO; a++) {
		struct bal_server s[6];
		uint8_t mask[BAL_MASK_BYTES(6)] = { 0 };
		struct balancer *b;
		int counts[6] = { 0 };

		servers_init(s, 6, w);
		s[3].eff_weight = 0;
		bal_mask_set(mask, 4);
		b = balancer_new(all_algos[a], s, 6, 7);
		assert_non_null(b);
		for (int k = 0; k < 2000; k++) {
			int got = balancer_pick(b, key_of((uint64_t)k), mask);

			assert_true(got >= 0 && got < 6);
			counts[got]++;
		}
		assert_int_equal(counts[1], 0);
		assert_int_equal(counts[3], 0);
		assert_int_equal(counts[4], 0);
		assert_true(counts[0] > 0 && counts[2] > 0 && counts[5] > 0);
		/* without the mask server 4 is back, server 3 still down even without update */
		memset(counts, 0, sizeof(counts));
		for (int k = 0; k < 2000; k++)
			counts[balancer_pick(b, key_of((uint64_t)k), NULL)]++;
		assert_int_equal(counts[3], 0);
		assert_true(counts[4] > 0);
		balancer_free(b);
	}
}

static void test_none_available(void **state)
{
	static const struct {
		uint32_t w[3];
		uint32_t eff[3];
		uint8_t mask;           /* bit i excludes server i */
		size_t n;
	} t[] = {
		{ { 1, 1, 1 }, { 0, 0, 0 }, 0x0, 3 },     /* all down */
		{ { 0, 0, 0 }, { 1, 1, 1 }, 0x0, 3 },     /* all weight 0 */
		{ { 1, 2, 3 }, { 1, 2, 3 }, 0x7, 3 },     /* all excluded (a retry ran out) */
		{ { 1, 2, 3 }, { 0, 2, 0 }, 0x2, 3 },     /* the one up is excluded */
		{ { 1 }, { 1 }, 0x0, 0 },                 /* empty upstream */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (size_t a = 0; a < NALGO; a++) {
			struct bal_server s[3];
			uint8_t mask[1] = { t[i].mask };
			struct balancer *b;

			servers_init(s, t[i].n, t[i].w);
			for (size_t k = 0; k < t[i].n; k++)
				s[k].eff_weight = t[i].eff[k];
			b = balancer_new(all_algos[a], s, t[i].n, 3);
			assert_non_null(b);
			for (int k = 0; k < 50; k++)
				assert_int_equal(balancer_pick(b, key_of((uint64_t)k), mask), -1);
			balancer_update(b);
			assert_int_equal(balancer_pick(b, 1, mask), -1);
			balancer_free(b);
		}
	}
}

/* --- least connections -------------------------------------------------------------- */

static void test_leastconn(void **state)
{
	static const struct {
		uint32_t w[4];
		uint32_t active[4];
		size_t n;
		int want;
	} t[] = {
		{ { 1, 1, 1 }, { 3, 1, 2 }, 3, 1 },
		{ { 1, 1, 1 }, { 0, 5, 5 }, 3, 0 },
		{ { 1, 4, 1 }, { 2, 5, 2 }, 3, 1 },       /* 5/4 < 2/1 */
		{ { 1, 4, 1 }, { 1, 5, 2 }, 3, 0 },       /* 1/1 < 5/4 */
		{ { 2, 1, 3 }, { 4, 1, 2 }, 3, 2 },   /* 2/3 < 1/1 < 4/2 */
		{ { 256, 1, 1, 1 }, { 255, 1, 1, 1 }, 4, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bal_server s[4];
		struct balancer *b;

		servers_init(s, t[i].n, t[i].w);
		for (size_t k = 0; k < t[i].n; k++)
			s[k].active = t[i].active[k];
		b = balancer_new(BAL_LEASTCONN, s, t[i].n, 1);
		assert_non_null(b);
		/* the choice does not change `active`, so repeated picks agree */
		for (int k = 0; k < 5; k++)
			assert_int_equal(balancer_pick(b, 0, NULL), t[i].want);
		balancer_free(b);
	}
}

/* Ties go round robin, and a caller that counts its connections spreads load evenly. */
static void test_leastconn_ties_and_load(void **state)
{
	uint32_t w[3] = { 1, 1, 1 };
	struct bal_server s[3];
	struct balancer *b;

	(void)state;
	servers_init(s, 3, w);
	b = balancer_new(BAL_LEASTCONN, s, 3, 1);
	assert_non_null(b);
	assert_int_equal(balancer_pick(b, 0, NULL), 0);
	assert_int_equal(balancer_pick(b, 0, NULL), 1);
	assert_int_equal(balancer_pick(b, 0, NULL), 2);
	for (int k = 0; k < 30; k++)
		s[balancer_pick(b, 0, NULL)].active++;
	assert_int_equal(s[0].active, 10);
	assert_int_equal(s[1].active, 10);
	assert_int_equal(s[2].active, 10);
	/* slow start: a ramping server counts with its effective weight */
	s[1].eff_weight = 1;
	s[0].weight = s[0].eff_weight = 4;
	assert_int_equal(balancer_pick(b, 0, NULL), 0);  /* 10/4 < 10/1 */
	balancer_free(b);
}

/* --- consistent hashing ------------------------------------------------------------- */

static void test_hash_same_key(void **state)
{
	uint32_t w[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct bal_server s[10];
	struct balancer *b1, *b2;

	(void)state;
	servers_init(s, 10, w);
	b1 = balancer_new(BAL_HASH, s, 10, 1);
	b2 = balancer_new(BAL_HASH, s, 10, 999);   /* another worker: same mapping */
	assert_non_null(b1);
	assert_non_null(b2);
	for (uint64_t k = 0; k < 1000; k++) {
		int got = balancer_pick(b1, key_of(k), NULL);

		assert_int_equal(balancer_pick(b1, key_of(k), NULL), got);
		assert_int_equal(balancer_pick(b2, key_of(k), NULL), got);
	}
	balancer_free(b1);
	balancer_free(b2);
}

/*
 * Removing one of N=10 servers (eff_weight 0, then update) moves exactly the keys that
 * were on it, about its share of all keys (1/N for equal weights: [0.05, 0.15] of 100k),
 * and not one key of another server. Checked for every server removed in turn, and for
 * every key coming home when it returns. The unequal weights make the gcd of the
 * usable weights differ from the configured one when the weight-3 server is down: a
 * ring scaled by what is up would move everything.
 */
static void test_hash_removal_stable(void **state)
{
	enum { N = 10, KEYS = 100000 };
	static const uint32_t weights[][N] = {
		{ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
		{ 2, 4, 4, 3, 2, 6, 4, 2, 4, 2 },
	};
	int8_t *before = malloc(KEYS);

	(void)state;
	assert_non_null(before);
	for (size_t t = 0; t < sizeof(weights) / sizeof(weights[0]); t++) {
		struct bal_server s[N];
		struct balancer *b;
		long sum = 0;

		servers_init(s, N, weights[t]);
		for (int i = 0; i < N; i++)
			sum += weights[t][i];
		b = balancer_new(BAL_HASH, s, N, 1);
		assert_non_null(b);
		for (uint64_t k = 0; k < KEYS; k++)
			before[k] = (int8_t)balancer_pick(b, key_of(k), NULL);
		for (int r = 0; r < N; r++) {
			long moved = 0, share = KEYS * (long)weights[t][r] / sum;

			s[r].eff_weight = 0;
			balancer_update(b);
			for (uint64_t k = 0; k < KEYS; k++) {
				int got = balancer_pick(b, key_of(k), NULL);

				assert_int_not_equal(got, r);
				if (got == before[k])
					continue;
				if (before[k] != r)
					fail_msg("weights %zu: key %llu moved from s%d to s%d when s%d went down",
						 t, (unsigned long long)k, before[k], got, r);
				moved++;
			}
			if (moved * 2 < share || moved * 2 > share * 3)
				fail_msg("weights %zu: removing s%d moved %ld of %d keys, share %ld",
					 t, r, moved, KEYS, share);
			s[r].eff_weight = weights[t][r];
			balancer_update(b);
			for (uint64_t k = 0; k < KEYS; k += 7)
				assert_int_equal(balancer_pick(b, key_of(k), NULL), before[k]);
		}
		/* the same holds for a down server the update has not seen yet */
		s[3].eff_weight = 0;
		for (uint64_t k = 0; k < KEYS; k += 3) {
			int got = balancer_pick(b, key_of(k), NULL);

			assert_int_not_equal(got, 3);
			if (before[k] != 3)
				assert_int_equal(got, before[k]);
		}
		balancer_free(b);
	}
	free(before);
}

/* A slow-start ramp (eff_weight below weight) moves no key; a retry that excludes
 * the home server gets the next one on the ring, which is where the key would go
 * if the home server were down. */
static void test_hash_slowstart_and_retry(void **state)
{
	enum { N = 6, KEYS = 5000 };
	uint32_t w[N] = { 2, 2, 1, 1, 3, 1 };
	struct bal_server s[N];
	struct balancer *b;

	(void)state;
	servers_init(s, N, w);
	b = balancer_new(BAL_HASH, s, N, 1);
	assert_non_null(b);
	for (uint64_t k = 0; k < KEYS; k++) {
		int home = balancer_pick(b, key_of(k), NULL);
		uint8_t mask[BAL_MASK_BYTES(N)] = { 0 };
		int retry;

		s[0].eff_weight = 1;                    /* ramping */
		balancer_update(b);
		assert_int_equal(balancer_pick(b, key_of(k), NULL), home);
		s[0].eff_weight = 2;
		balancer_update(b);

		bal_mask_set(mask, (size_t)home);
		retry = balancer_pick(b, key_of(k), mask);
		assert_true(retry >= 0 && retry != home);
		assert_int_equal(balancer_pick(b, key_of(k), mask), retry);
		if (k % 50 == 0) {
			s[home].eff_weight = 0;
			balancer_update(b);
			assert_int_equal(balancer_pick(b, key_of(k), NULL), retry);
			s[home].eff_weight = w[home];
			balancer_update(b);
		}
	}
	balancer_free(b);
}

/* --- power of two random choices ----------------------------------------------------- */

static void test_random2_load(void **state)
{
	static const struct {
		uint32_t w[4];
		uint32_t eff[4];
		uint32_t active[4];
		size_t n;
		uint8_t never;          /* bitmask of servers that must never be picked */
	} t[] = {
		{ { 1, 1 }, { 1, 1 }, { 5, 0 }, 2, 0x1 },           /* two: always the idle one */
		{ { 1, 1, 1 }, { 1, 1, 1 }, { 10, 0, 0 }, 3, 0x1 }, /* the busiest never wins */
		{ { 1, 1, 1, 1 }, { 1, 0, 1, 1 }, { 0, 0, 9, 9 }, 4, 0x2 }, /* down never */
		{ { 4, 1 }, { 4, 1 }, { 7, 1 }, 2, 0x1 },           /* 7/4 > 1/1 */
		{ { 4, 1 }, { 4, 1 }, { 3, 1 }, 2, 0x2 },           /* 3/4 < 1/1 */
		{ { 1, 1, 1, 1 }, { 0, 0, 1, 0 }, { 0, 0, 50, 0 }, 4, 0xb }, /* only one up */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct bal_server s[4];
		struct balancer *b;

		servers_init(s, t[i].n, t[i].w);
		for (size_t k = 0; k < t[i].n; k++) {
			s[k].eff_weight = t[i].eff[k];
			s[k].active = t[i].active[k];
		}
		b = balancer_new(BAL_RANDOM2, s, t[i].n, i + 1);
		assert_non_null(b);
		for (int k = 0; k < 1000; k++) {
			int got = balancer_pick(b, 0, NULL);

			assert_true(got >= 0 && (size_t)got < t[i].n);
			if ((t[i].never >> got) & 1)
				fail_msg("case %zu: picked server %d", i, got);
		}
		balancer_free(b);
	}
}

/* Under a counted load random2 keeps servers close: the spread of `active` after many
 * picks stays small, whereas a uniform random choice drifts apart. */
static void test_random2_balances(void **state)
{
	enum { N = 8 };
	uint32_t w[N] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	struct bal_server s[N];
	struct balancer *b;
	uint32_t lo = UINT32_MAX, hi = 0;

	(void)state;
	servers_init(s, N, w);
	b = balancer_new(BAL_RANDOM2, s, N, 12345);
	assert_non_null(b);
	for (int k = 0; k < 8000; k++)
		s[balancer_pick(b, 0, NULL)].active++;
	for (int k = 0; k < N; k++) {
		lo = s[k].active < lo ? s[k].active : lo;
		hi = s[k].active > hi ? s[k].active : hi;
	}
	/* two choices keep the gap at O(log log n); one random choice gives ~sqrt(1000) */
	assert_true(hi - lo <= 6);
	balancer_free(b);
}

static void test_balance_hash_stable(void **state)
{
	(void)state;
	/* fixed values: every node and every build must agree on them, since the ring
	 * positions of servers and keys are derived from them */
	assert_true(balance_hash("", 0) == 0xf52a15e9a9b5e89bull);
	assert_true(balance_hash("backend-1", 9) == 0x363540f699aea3ceull);
	assert_true(balance_hash("s1", 2) != balance_hash("s2", 2));
	assert_true(balance_hash("", 0) != 0);
	uint8_t mask[BAL_MASK_BYTES(17)] = { 0 };
	assert_int_equal(sizeof(mask), 3);
	bal_mask_set(mask, 16);
	assert_true(bal_mask_test(mask, 16));
	assert_false(bal_mask_test(mask, 15));
	assert_false(bal_mask_test(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_algo_names),
		cmocka_unit_test(test_new_rejects),
		cmocka_unit_test(test_swrr_sequence),
		cmocka_unit_test(test_swrr_rejoin),
		cmocka_unit_test(test_distribution),
		cmocka_unit_test(test_never_unusable),
		cmocka_unit_test(test_none_available),
		cmocka_unit_test(test_leastconn),
		cmocka_unit_test(test_leastconn_ties_and_load),
		cmocka_unit_test(test_hash_same_key),
		cmocka_unit_test(test_hash_removal_stable),
		cmocka_unit_test(test_hash_slowstart_and_retry),
		cmocka_unit_test(test_random2_load),
		cmocka_unit_test(test_random2_balances),
		cmocka_unit_test(test_balance_hash_stable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
