/*
 * tests/unit/test_fresh.c — hacd/fresh.c, the per-peer proof of freshness.
 *
 * A table of steps: either "build a heartbeat" (fresh_challenge with given
 * random bytes: which nonce goes out, if any) or "a datagram arrived"
 * (fresh_input with an epoch and an echo: the verdict), each followed by
 * the state it must leave. The cases are the attack (a recording replayed
 * after a restart echoes nothing, or an old nonce) and the normal life of
 * a pair (start, proof, the peer restarting).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hacd/fresh.h"

enum op { END = 0, CHALLENGE, INPUT };

/* Nonces by number: N(0) means "none", N(k) sixteen bytes of k. */
struct step {
	enum op op;
	int rnd;                 /* CHALLENGE: random bytes handed in */
	int want_nonce;          /* CHALLENGE: nonce sent, 0 = NULL */
	uint64_t epoch;          /* INPUT */
	int echo;                /* INPUT: echo carried, 0 = none, -1 = a short one */
	enum fresh_verdict want; /* INPUT */
	enum fresh_state state;  /* after the step */
};

static const struct fresh_case {
	const char *name;
	struct step steps[10];
} cases[] = {
	{ "after a restart nothing counts without an echo (the replayed recording)", {
		{ INPUT, 0, 0, 5, 0, FRESH_V_UNPROVEN, FRESH_UNPROVEN },
		{ INPUT, 0, 0, 5, 0, FRESH_V_UNPROVEN, FRESH_UNPROVEN },
		{ CHALLENGE, 1, 1, 0, 0, FRESH_V_ACCEPT, FRESH_CHALLENGED },
		{ INPUT, 0, 0, 5, 0, FRESH_V_UNPROVEN, FRESH_CHALLENGED },
		{ END } } },
	{ "a recording's echo of an older nonce is refused", {
		{ INPUT, 0, 0, 5, 9, FRESH_V_BAD_ECHO, FRESH_UNPROVEN },
		{ CHALLENGE, 1, 1, 0, 0, FRESH_V_ACCEPT, FRESH_CHALLENGED },
		{ INPUT, 0, 0, 5, 9, FRESH_V_BAD_ECHO, FRESH_CHALLENGED },
		{ INPUT, 0, 0, 5, -1, FRESH_V_BAD_ECHO, FRESH_CHALLENGED },
		{ END } } },
	{ "the live peer echoes: proven, then accepted in its epoch", {
		{ CHALLENGE, 1, 1, 0, 0, FRESH_V_ACCEPT, FRESH_CHALLENGED },
		{ CHALLENGE, 2, 1, 0, 0, FRESH_V_ACCEPT, FRESH_CHALLENGED },   /* the same challenge repeats */
		{ INPUT, 0, 0, 5, 1, FRESH_V_PROVED, FRESH_PROVEN },
		{ INPUT, 0, 0, 5, 0, FRESH_V_ACCEPT, FRESH_PROVEN },
		{ INPUT, 0, 0, 5, 1, FRESH_V_ACCEPT, FRESH_PROVEN }, /* a late echo changes nothing */
		{ CHALLENGE, 3, 0, 0, 0, FRESH_V_ACCEPT, FRESH_PROVEN },        /* no challenge once proven */
		{ END } } },
	{ "the peer restarts (new epoch): unproven again, a new nonce", {
		{ CHALLENGE, 1, 1, 0, 0, FRESH_V_ACCEPT, FRESH_CHALLENGED },
		{ INPUT, 0, 0, 5, 1, FRESH_V_PROVED, FRESH_PROVEN },
		{ INPUT, 0, 0, 6, 0, FRESH_V_UNPROVEN, FRESH_UNPROVEN },
		{ INPUT, 0, 0, 6, 1, FRESH_V_BAD_ECHO, FRESH_UNPROVEN }, /* the old nonce is spent */
		{ CHALLENGE, 2, 2, 0, 0, FRESH_V_ACCEPT, FRESH_CHALLENGED },
		{ INPUT, 0, 0, 6, 1, FRESH_V_BAD_ECHO, FRESH_CHALLENGED },
		{ INPUT, 0, 0, 6, 2, FRESH_V_PROVED, FRESH_PROVEN },
		{ INPUT, 0, 0, 6, 0, FRESH_V_ACCEPT, FRESH_PROVEN },
		{ END } } },
	{ "a proof in one epoch is no proof of the next", {
		{ CHALLENGE, 1, 1, 0, 0, FRESH_V_ACCEPT, FRESH_CHALLENGED },
		{ INPUT, 0, 0, 5, 1, FRESH_V_PROVED, FRESH_PROVEN },
		{ INPUT, 0, 0, 7, 1, FRESH_V_BAD_ECHO, FRESH_UNPROVEN },
		{ END } } },
	{ "the echo may arrive in a later epoch than the challenge was sent in", {
		{ CHALLENGE, 4, 4, 0, 0, FRESH_V_ACCEPT, FRESH_CHALLENGED },
		{ INPUT, 0, 0, 5, 0, FRESH_V_UNPROVEN, FRESH_CHALLENGED },
		{ INPUT, 0, 0, 6, 4, FRESH_V_PROVED, FRESH_PROVEN },
		{ INPUT, 0, 0, 6, 0, FRESH_V_ACCEPT, FRESH_PROVEN },
		{ END } } },
};

static void fill(uint8_t *b, int k)
{
	memset(b, k, FRESH_NONCE_LEN);
}

static void test_fresh_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fresh_case *c = &cases[i];
		struct fresh f;

		fresh_init(&f);
		assert_int_equal(f.state, FRESH_UNPROVEN);
		for (size_t j = 0; c->steps[j].op != END; j++) {
			const struct step *st = &c->steps[j];
			uint8_t rnd[FRESH_NONCE_LEN], echo[FRESH_NONCE_LEN], want[FRESH_NONCE_LEN];

			if (st->op == CHALLENGE) {
				const uint8_t *n;

				fill(rnd, st->rnd);
				n = fresh_challenge(&f, rnd);
				if (st->want_nonce == 0 && n != NULL)
					fail_msg("case \"%s\" step %zu: a challenge went out", c->name, j);
				if (st->want_nonce != 0) {
					fill(want, st->want_nonce);
					if (n == NULL || memcmp(n, want, sizeof(want)) != 0)
						fail_msg("case \"%s\" step %zu: wrong or no nonce", c->name, j);
				}
			} else {
				enum fresh_verdict v;

				fill(echo, st->echo);
				v = fresh_input(&f, st->epoch, st->echo == 0 ? NULL : echo,
				    st->echo < 0 ? FRESH_NONCE_LEN - 1 : FRESH_NONCE_LEN);
				if (v != st->want)
					fail_msg("case \"%s\" step %zu: verdict %d, want %d", c->name, j, (int)v,
					    (int)st->want);
			}
			if (f.state != st->state)
				fail_msg("case \"%s\" step %zu: state %s, want %s", c->name, j,
				    fresh_state_str(f.state), fresh_state_str(st->state));
		}
	}
}

static void test_fresh_names(void **state)
{
	(void)state;
	assert_string_equal(fresh_state_str(FRESH_UNPROVEN), "unproven");
	assert_string_equal(fresh_state_str(FRESH_CHALLENGED), "challenged");
	assert_string_equal(fresh_state_str(FRESH_PROVEN), "proven");
	assert_string_equal(fresh_state_str((enum fresh_state)7), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_table),
		cmocka_unit_test(test_fresh_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
