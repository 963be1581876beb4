/*
 * tests/unit/test_proxyd_cluster.c — proxyd/cluster: the readiness wait for
 * the cluster's first TLS ticket key, on an injected clock.
 *
 * The wait is once per process (its state is the module's), so one test
 * walks the whole life: no hacd yet (ready), the channel up (not ready until
 * the view), a view saying hacd hands out keys (still not ready), the bound
 * (ready, logged, counted as a timeout), and nothing re-arms it after. The
 * path where the key arrives is test_cluster.sh's cold-start case, with real
 * daemons. A proxyd without TLS listeners never waits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "proto/tandem.pb-c.h"
#include "proxyd/cluster.h"

static int metric_has(const char *line)
{
	struct buf o;
	int found;

	buf_init(&o);
	cluster_render(&o);
	assert_int_equal(buf_append(&o, "", 1), 0);
	found = strstr((const char *)buf_rptr(&o), line) != NULL;
	buf_fini(&o);
	return found;
}

static void test_ticket_wait_bounded(void **state)
{
	Tandem__ClusterView v = TANDEM__CLUSTER_VIEW__INIT;
	const uint64_t t0 = 50000;

	(void)state;
	/* Standalone (no channel yet): ready. */
	assert_int_equal(cluster_tickets_awaited(t0), 0);
	/* No TLS listener: the channel coming up starts no wait. */
	cluster_channel_up(0, t0);
	assert_int_equal(cluster_tickets_awaited(t0), 0);
	/* TLS: not ready until hacd's view says whether keys come. */
	cluster_channel_up(1, t0);
	assert_int_equal(cluster_tickets_awaited(t0), 1);
	assert_true(metric_has("tandem_cluster_ticket_wait 1\n"));
	v.node = (char *)"n1";
	v.has_tickets = 1;
	v.tickets = 1;
	cluster_view(&v);
	assert_int_equal(cluster_tickets_awaited(t0 + 9999), 1);
	/* A second connection (hacd restarted) does not extend the bound. */
	cluster_channel_up(1, t0 + 5000);
	assert_int_equal(cluster_tickets_awaited(t0 + 9999), 1);
	/* The bound: ready with the node's own key, counted once. */
	assert_int_equal(cluster_tickets_awaited(t0 + 10000), 0);
	assert_true(metric_has("tandem_cluster_ticket_wait_total{result=\"timeout\"} 1\n"));
	assert_true(metric_has("tandem_cluster_ticket_wait 0\n"));
	assert_int_equal(cluster_tickets_awaited(t0 + 10001), 0);
	/* Once per process: nothing waits again. */
	cluster_channel_up(1, t0 + 20000);
	cluster_view(&v);
	assert_int_equal(cluster_tickets_awaited(t0 + 20000), 0);
	assert_true(metric_has("tandem_cluster_ticket_wait_total{result=\"timeout\"} 1\n"));
	assert_true(metric_has("tandem_cluster_ticket_wait_total{result=\"key\"} 0\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ticket_wait_bounded),
	};

	return cmocka_run_group_tests_name("proxyd_cluster", tests, NULL, NULL);
}
