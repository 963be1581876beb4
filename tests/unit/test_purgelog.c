/*
 * tests/unit/test_purgelog.c — the cluster's cache purge log
 * (hacd/purgelog.c): verdicts on (origin, epoch, seq) as a table, the
 * ring's bound and order, and the catch-up of a rejoining node: a peer's
 * log replayed in order applies each missed purge once and sees a gap only
 * when the oldest it needed has left the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hacd/purgelog.h"

#define U "http://h/x"

struct vcase {
	uint64_t epoch, seq;
	const char *url;
	enum purge_verdict want;
};

/* One origin (node 1), in order: what each arrival means. */
static void test_verdicts(void **state)
{
	static const struct vcase cases[] = {
		{ 100, 1, U, PURGE_NEW },          /* first heard: seq 1 of an epoch */
		{ 100, 1, U, PURGE_DUP },          /* its second copy */
		{ 100, 2, U, PURGE_NEW },
		{ 100, 4, U, PURGE_NEW_GAP },      /* 3 was missed */
		{ 100, 3, U, PURGE_DUP },          /* late: covered by the gap's purge of everything */
		{ 99, 9, U, PURGE_DUP },           /* an older epoch */
		{ 200, 1, U, PURGE_NEW },          /* the origin restarted */
		{ 300, 2, U, PURGE_NEW_GAP },      /* restarted again; its seq 1 was missed */
		{ 300, 3, "", PURGE_BAD },         /* no URL */
		{ 300, 0, U, PURGE_BAD },          /* seq 0 */
		{ 0, 5, U, PURGE_BAD },            /* epoch 0 */
		{ 300, 3, U, PURGE_NEW },          /* the bad ones moved nothing */
	};
	struct purgelog l;

	(void)state;
	purgelog_init(&l, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum purge_verdict v = purgelog_take(&l, 1, "n2", cases[i].epoch, cases[i].seq, cases[i].url, 0, 7);

		if (v != cases[i].want)
			fail_msg("case %zu (epoch %llu seq %llu): verdict %d, want %d", i,
			    (unsigned long long)cases[i].epoch, (unsigned long long)cases[i].seq, v, cases[i].want);
	}
	assert_int_equal(l.n, 6);          /* the new ones only */
}

static void test_refused(void **state)
{
	struct purgelog l;
	char big[PURGE_URL_MAX + 2];

	(void)state;
	purgelog_init(&l, 1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(purgelog_take(&l, 1, "n2", 1, 1, big, 0, 0), PURGE_BAD);
	assert_int_equal(purgelog_take(&l, 1, "", 1, 1, U, 0, 0), PURGE_BAD);
	assert_int_equal(purgelog_take(&l, 1, NULL, 1, 1, U, 0, 0), PURGE_BAD);
	assert_int_equal(purgelog_take(&l, HACD_MAX_NODES, "n2", 1, 1, U, 0, 0), PURGE_BAD);
	assert_int_equal(purgelog_take(&l, 1, "n2", 1, 1, U, PURGE_KIND_TAG + 1, 0), PURGE_BAD);
	assert_int_equal(purgelog_take(&l, 1, "n2", 1, 1, U, -1, 0), PURGE_BAD);
	assert_null(purgelog_add_own(&l, 0, "n1", U, PURGE_KIND_TAG + 1, 0));
	assert_null(purgelog_add_own(&l, 0, "n1", big, 0, 0));
	assert_null(purgelog_add_own(&l, 0, "n1", "", 0, 0));
	assert_int_equal(l.n, 0);
}

/* The ring holds the newest PURGELOG_MAX, oldest first. */
static void test_ring(void **state)
{
	struct purgelog l;
	const struct purge_entry *e;

	(void)state;
	purgelog_init(&l, 5);
	for (int i = 0; i < PURGELOG_MAX + 10; i++) {
		e = purgelog_add_own(&l, 0, "n1", U, i & 1, 0);
		assert_non_null(e);
		assert_int_equal(e->seq, (uint64_t)i + 1);
		assert_int_equal(e->epoch, 5);
	}
	assert_int_equal(l.n, PURGELOG_MAX);
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(purgelog_at(&l, i)->seq, 11 + i);
}

/* A node that missed k purges replays the sender's log in order. */
static void catch_up(size_t missed, int want_gap)
{
	struct purgelog a, b;
	size_t news = 0, gaps = 0;

	purgelog_init(&a, 10);
	purgelog_init(&b, 20);
	/* b heard a's first 3 purges live. */
	for (int i = 0; i < 3; i++) {
		const struct purge_entry *e = purgelog_add_own(&a, 0, "n1", U, 0, 0);

		assert_int_equal(purgelog_take(&b, 0, e->origin, e->epoch, e->seq, e->url, 0, 0), PURGE_NEW);
	}
	/* Then was away for missed more. */
	for (size_t i = 0; i < missed; i++)
		assert_non_null(purgelog_add_own(&a, 0, "n1", U, 0, 0));
	for (size_t i = 0; i < a.n; i++) {
		const struct purge_entry *e = purgelog_at(&a, i);

		switch (purgelog_take(&b, 0, e->origin, e->epoch, e->seq, e->url, e->kind, e->at)) {
		case PURGE_NEW: news++; break;
		case PURGE_NEW_GAP: gaps++; break;
		default: break;
		}
	}
	assert_int_equal(news + gaps, missed < PURGELOG_MAX ? missed : PURGELOG_MAX);
	assert_int_equal(gaps, want_gap ? 1 : 0);
	assert_int_equal(b.hi[0], 3 + missed);
}

static void test_catch_up(void **state)
{
	(void)state;
	catch_up(0, 0);
	catch_up(5, 0);
	catch_up(PURGELOG_MAX, 0);         /* the log still holds seq 4, the first missed */
	catch_up(PURGELOG_MAX + 1, 1);     /* it does not: purge everything */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_catch_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
