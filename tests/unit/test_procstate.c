/*
 * tests/unit/test_procstate.c — process-wide state (proxyd/procstate.c) and
 * the per-worker counters metrics keeps for itself (proxyd/metrics.c).
 *
 * The current generation is handed over with its reference: a reader's
 * reference keeps it alive after a swap, and the swap returns the old one
 * for its caller to drop. A kick before the workers installed theirs must
 * be harmless. metrics renders and totals every worker's counters without
 * knowing struct worker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "proxyd/config.h"
#include "proxyd/metrics.h"
#include "proxyd/procstate.h"

static const char conf[] =
    "node = \"t\";\n"
    "listeners = ( { name = \"a\"; listen = \"127.0.0.1:0\"; } );\n"
    "upstreams = ( { name = \"u\"; servers = ( { address = \"127.0.0.1:1\"; } ); } );\n"
    "routes = ( { upstream = \"u\"; } );\n";

static struct pd_config *
load(void)
{
	struct conf_err err = { 0 };
	struct pd_config *c = config_load_string("test", conf, &err);

	if (c == NULL)
		fail_msg("%s", err.msg);
	return c;
}

static int kicks;

static void
count_kick(void)
{
	kicks++;
}

static void
test_current_generation(void **state)
{
	struct pd_config *g1 = load(), *g2 = load(), *r;

	(void)state;
	assert_null(procstate_current());
	assert_null(procstate_swap_current(g1));   /* g1's reference passes in */
	r = procstate_current();
	assert_ptr_equal(r, g1);
	assert_int_equal(atomic_load(&g1->refs), 2);
	/* Swapped out while a reader holds it: the reader's reference stays. */
	assert_ptr_equal(procstate_swap_current(g2), g1);
	config_unref(g1);                           /* the one the swap returned */
	assert_int_equal(atomic_load(&r->refs), 1);
	config_unref(r);
	r = procstate_current();
	assert_ptr_equal(r, g2);
	config_unref(r);
	config_unref(procstate_swap_current(NULL));
	assert_null(procstate_current());
}

static void
test_kick_hook(void **state)
{
	(void)state;
	procstate_kick();                           /* nobody to wake: no-op */
	procstate_set_kick(count_kick);
	procstate_kick();
	procstate_kick();
	assert_int_equal(kicks, 2);
	procstate_set_kick(NULL);
	procstate_kick();
	assert_int_equal(kicks, 2);
	procstate_set_workers(3);
	assert_int_equal(procstate_workers(), 3);
}

static void
test_metrics_totals_every_worker(void **state)
{
	struct wmetrics *a = metrics_worker_new(), *b = metrics_worker_new();
	uint64_t cls[5] = { 0 }, conns = 0;
	struct buf out;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	metrics_request(a, 0, 200, 10);
	metrics_request(b, 0, 204, 10);
	metrics_request(b, 0, 503, 10);
	MET_ADD(a->conns_total, 4);
	MET_ADD(b->conns_total, 5);
	metrics_totals(cls, &conns);
	assert_int_equal(cls[1], 2);
	assert_int_equal(cls[4], 1);
	assert_int_equal(conns, 9);

	MET_INC(b->guard[MET_G_ROUTE_ACL]);
	atomic_store(&metrics_admin_refused, 7);
	buf_init(&out);
	assert_int_equal(metrics_render(&out), 0);
	assert_int_equal(buf_append(&out, "", 1), 0);
	assert_non_null(strstr((const char *)buf_rptr(&out), "tandem_connections_total 9\n"));
	assert_non_null(strstr((const char *)buf_rptr(&out), "reason=\"admin_max_connections\"} 7\n"));
	buf_fini(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_generation),
		cmocka_unit_test(test_kick_hook),
		cmocka_unit_test(test_metrics_totals_every_worker),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
