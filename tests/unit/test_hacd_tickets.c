/*
 * tests/unit/test_hacd_tickets.c — the cluster's ticket-key schedule
 * (hacd/tickets.c): when the next key is due and the times it carries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hacd/tickets.h"

#define H 3600000ull

static void test_plan_table(void **state)
{
	static const struct {
		const char *what;
		int have;
		uint64_t newest, now, rotate;
		int due;
		uint64_t created;           /* when due */
	} cases[] = {
		{ "no key: one now",                   0, 0,        1000 * H, H,  1, 1000 * H },
		{ "fresh key: nothing due",            1, 1000 * H, 1000 * H + 60000, H, 0, 0 },
		{ "just before the lead: not yet",     1, 1000 * H, 1001 * H - 10001, H, 0, 0 },
		{ "inside the lead: next, in future",  1, 1000 * H, 1001 * H - 10000, H, 1, 1001 * H },
		{ "overdue: next seals now",           1, 1000 * H, 1003 * H, H, 1, 1003 * H },
		{ "short rotation: lead is half",      1, 1000000,  1000000 + 2000, 4000, 1, 1004000 },
		{ "short rotation: before half",       1, 1000000,  1000000 + 1999, 4000, 0, 0 },
		{ "rotation off",                      0, 0,        1000 * H, 0,  0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tickets_plan p = { 0, 0 };
		int due = tickets_plan_next(cases[i].have, cases[i].newest, cases[i].now, cases[i].rotate, &p);

		if (due != cases[i].due)
			fail_msg("%s: due %d, want %d", cases[i].what, due, cases[i].due);
		if (!due)
			continue;
		if (p.created_unix_ms != cases[i].created)
			fail_msg("%s: created %llu, want %llu", cases[i].what, (unsigned long long)p.created_unix_ms,
			    (unsigned long long)cases[i].created);
		/* Seals one period, decrypts one more plus the lead. */
		assert_int_equal(p.expires_unix_ms,
		    p.created_unix_ms + 2 * cases[i].rotate + tickets_lead_ms(cases[i].rotate));
	}
}

static void test_lead(void **state)
{
	(void)state;
	assert_int_equal(tickets_lead_ms(H), TICKETS_MAX_LEAD_MS);
	assert_int_equal(tickets_lead_ms(4000), 2000);
	assert_int_equal(tickets_lead_ms(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_table),
		cmocka_unit_test(test_lead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
