/*
 * tests/unit/test_quorum.c — majority votes and the witness's vote
 * (hacd/quorum.c) as tables: every partition shape the integration test
 * cuts (tests/integration/test_quorum.sh), counted from each side.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hacd/quorum.h"

static const char *const names[] = { "n1", "n2", "n3", "n4", "n5", "w" };

/* alive: a bit per node as self sees it; witness: index of the witness or
 * -1; vote: the node the witness votes for. */
static struct quorum_count count(size_t n, size_t self, unsigned alive, int witness, int vote)
{
	struct quorum_voter v[6];
	struct quorum_count q;

	for (size_t i = 0; i < n; i++) {
		v[i].name = names[i];
		v[i].alive = (alive >> i) & 1;
		v[i].witness = (int)i == witness;
		v[i].votes_for_self = (int)i == witness && vote == (int)self;
		v[i].claims = 0;
	}
	quorum_count(v, n, self, &q);
	return q;
}

static void test_majority(void **unused)
{
	struct quorum_count q;

	(void)unused;
	/* Five nodes cut 3+2: {n1,n2,n3} | {n4,n5}. */
	q = count(5, 0, 0x07, -1, -1);
	assert_int_equal(q.seen, 3);
	assert_int_equal(q.needed, 3);
	assert_true(q.quorate);
	q = count(5, 3, 0x18, -1, -1);
	assert_int_equal(q.seen, 2);
	assert_false(q.quorate);
	/* 2+2+1: nobody has three. */
	assert_false(count(5, 0, 0x03, -1, -1).quorate);
	assert_false(count(5, 2, 0x0c, -1, -1).quorate);
	assert_false(count(5, 4, 0x10, -1, -1).quorate);
	/* Four nodes 2+2: needed 3, nobody. */
	assert_int_equal(count(4, 0, 0x03, -1, -1).needed, 3);
	assert_false(count(4, 0, 0x03, -1, -1).quorate);
	/* A pair: both must see each other. */
	assert_true(count(2, 0, 0x03, -1, -1).quorate);
	assert_false(count(2, 0, 0x01, -1, -1).quorate);
	/* Self counts even if the caller marks it dead. */
	assert_int_equal(count(3, 1, 0x00, -1, -1).seen, 1);
}

static void test_witness_counts_only_its_vote(void **unused)
{
	(void)unused;
	/* n1, n2 and the witness (index 2); the pair's link is cut and both
	 * still hear the witness, which votes for n1. */
	assert_true(count(3, 0, 0x05, 2, 0).quorate);
	assert_false(count(3, 1, 0x06, 2, 0).quorate);
	/* The same from the other side when it votes for n2. */
	assert_false(count(3, 0, 0x05, 2, 1).quorate);
	assert_true(count(3, 1, 0x06, 2, 1).quorate);
	/* A witness voting for nobody (starting) grants nothing. */
	assert_false(count(3, 0, 0x05, 2, -1).quorate);
	/* The pair sees each other: quorate whatever the witness says. */
	assert_true(count(3, 1, 0x03, 2, 0).quorate);
	/* A dead witness's last vote does not count. */
	assert_false(count(3, 0, 0x01, 2, 0).quorate);
}

static int vote(size_t n, unsigned alive, const unsigned *claims, int current)
{
	struct quorum_voter v[6];

	for (size_t i = 0; i < n; i++) {
		v[i].name = names[i];
		v[i].alive = (alive >> i) & 1;
		v[i].witness = i == n - 1;
		v[i].votes_for_self = 0;
		v[i].claims = claims[i];
	}
	return quorum_witness_vote(v, n, current);
}

static void test_witness_vote(void **unused)
{
	/* nodes n1, n2; the witness is the last entry (index 2). */
	const unsigned none[3] = { 0, 0, 0 }, n2holds[3] = { 0, 1, 0 }, split[3] = { 1, 1, 0 },
	    n2both[3] = { 0, 2, 0 };

	(void)unused;
	assert_int_equal(vote(3, 0x07, none, -1), 0);      /* nobody holds: the first name */
	assert_int_equal(vote(3, 0x07, n2holds, -1), 1);   /* the owner */
	assert_int_equal(vote(3, 0x07, n2holds, 0), 1);    /* follows the owner */
	assert_int_equal(vote(3, 0x07, split, 1), 1);      /* a tie keeps the vote where it is */
	assert_int_equal(vote(3, 0x07, split, -1), 0);     /* ... or goes to the first name */
	assert_int_equal(vote(3, 0x05, n2both, 1), 0);     /* its holder died: to the survivor */
	assert_int_equal(vote(3, 0x04, none, 0), -1);      /* nobody alive */
	assert_int_equal(vote(3, 0x07, none, 2), 0);       /* never to a witness */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_majority),
		cmocka_unit_test(test_witness_counts_only_its_vote),
		cmocka_unit_test(test_witness_vote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
