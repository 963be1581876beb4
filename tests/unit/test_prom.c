/*
 * tests/unit/test_prom.c — lib/prom.c, the exposition writer both daemons'
 * /metrics use: (calls) -> (exact text), escaping included, since a label
 * value comes from a configuration file and must never break a line.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/prom.h"

static void expect_text(struct buf *b, const char *want)
{
	size_t n = buf_len(b);
	char *got = malloc(n + 1);

	assert_non_null(got);
	memcpy(got, buf_rptr(b), n);
	got[n] = '\0';
	assert_string_equal(got, want);
	free(got);
	buf_consume(b, n);
}

static void test_family(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	prom_family(&b, "tandem_x_total", PROM_COUNTER, "Things.");
	expect_text(&b, "# HELP tandem_x_total Things.\n# TYPE tandem_x_total counter\n");
	prom_family(&b, "tandem_y", PROM_GAUGE, "a\\b\nc \"q\"");
	expect_text(&b, "# HELP tandem_y a\\\\b\\nc \"q\"\n# TYPE tandem_y gauge\n");
	prom_family(&b, "tandem_h_seconds", PROM_HISTOGRAM, "");
	expect_text(&b, "# HELP tandem_h_seconds \n# TYPE tandem_h_seconds histogram\n");
	buf_fini(&b);
}

static void test_samples(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	prom_u64(&b, "m", 0, NULL);
	expect_text(&b, "m 0\n");
	prom_u64(&b, "m", UINT64_MAX, "a", "x", NULL);
	expect_text(&b, "m{a=\"x\"} 18446744073709551615\n");
	prom_u64(&b, "m", 7, "a", "x", "b", "y", "c", NULL, NULL);
	expect_text(&b, "m{a=\"x\",b=\"y\",c=\"\"} 7\n");
	/* A value with every character the format escapes. */
	prom_u64(&b, "m", 1, "v", "q\"b\\n\nend", NULL);
	expect_text(&b, "m{v=\"q\\\"b\\\\n\\nend\"} 1\n");
	buf_fini(&b);
}

static void test_floats(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	prom_f64(&b, "s", prom_ms_to_s(20), NULL);
	expect_text(&b, "s 0.02\n");
	prom_f64(&b, "s", prom_ms_to_s(123456), "k", "v", NULL);
	expect_text(&b, "s{k=\"v\"} 123.456\n");
	prom_f64(&b, "s", NAN, NULL);
	expect_text(&b, "s NaN\n");
	prom_f64(&b, "s", INFINITY, NULL);
	expect_text(&b, "s +Inf\n");
	prom_f64(&b, "s", -INFINITY, NULL);
	expect_text(&b, "s -Inf\n");
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family),
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_floats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
