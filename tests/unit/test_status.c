/*
 * tests/unit/test_status.c — the status page's JSON (proxyd/status.c).
 *
 * Names from the configuration and hacd's view are escaped so the document
 * holds no '<', '>', '&', quote or control byte of theirs; without hacd's
 * view the node and VIP lists are empty and say so; an old view is stale;
 * servers carry their admin state; the compression figures are the
 * workers' pool counters, summed as /metrics sums them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "proxyd/compress.h"
#include "proxyd/config.h"
#include "proxyd/metrics.h"
#include "proxyd/procstate.h"
#include "proxyd/srvstate.h"
#include "proxyd/status.h"

static const char conf[] =
    "node = \"t\";\n"
    "listeners = ( { name = \"a\"; listen = \"127.0.0.1:0\"; } );\n"
    "upstreams = ( { name = \"u<b>\"; servers = ( { name = \"s\\\"&</td>\"; address = \"127.0.0.1:1\"; } ); } );\n"
    "routes = ( { upstream = \"u<b>\"; } );\n";

static char *
render(uint64_t now)
{
	struct buf o;
	char *s;

	buf_init(&o);
	assert_int_equal(status_render_json(&o, now), 0);
	s = strndup((const char *)buf_rptr(&o), buf_len(&o));
	buf_fini(&o);
	assert_non_null(s);
	return s;
}

static int
setup(void **state)
{
	struct conf_err err = { 0 };
	struct pd_config *c = config_load_string("test", conf, &err);

	(void)state;
	if (c == NULL)
		fail_msg("%s", err.msg);
	config_unref(procstate_swap_current(c));
	return 0;
}

static struct compress_pool *pool;   /* a worker's, registered with metrics */

static int
teardown(void **state)
{
	(void)state;
	compress_pool_free(pool);
	config_unref(procstate_swap_current(NULL));
	status_free();
	return 0;
}

static void
test_config_names_escaped(void **state)
{
	char *s;

	(void)state;
	s = render(1000);
	assert_null(strchr(s, '<'));
	assert_null(strchr(s, '>'));
	assert_null(strchr(s, '&'));
	assert_non_null(strstr(s, "\"name\":\"u\\u003cb\\u003e\""));
	assert_non_null(strstr(s, "\"name\":\"s\\u0022\\u0026\\u003c/td\\u003e\""));
	assert_non_null(strstr(s, "\"admin\":\"ready\""));
	/* No view from hacd yet: said so, lists empty. */
	assert_non_null(strstr(s, "\"hacd\":{\"seen\":false}"));
	assert_non_null(strstr(s, "\"nodes\":[]"));
	free(s);
}

static void
test_admin_state_shown(void **state)
{
	char *s;

	(void)state;
	assert_int_equal(srvstate_set("u<b>", "s\"&</td>", PD_SRV_DRAIN, -1), 0);
	s = render(1000);
	assert_non_null(strstr(s, "\"admin\":\"drain\""));
	assert_non_null(strstr(s, "\"effective_weight\":0"));
	free(s);
	assert_int_equal(srvstate_set("u<b>", "s\"&</td>", PD_SRV_READY, -1), 0);
}

static void
test_cluster_view(void **state)
{
	Tandem__ClusterStatus cs = TANDEM__CLUSTER_STATUS__INIT;
	Tandem__NodeStatus n1 = TANDEM__NODE_STATUS__INIT, n2 = TANDEM__NODE_STATUS__INIT;
	Tandem__NodeStatus *np[2] = { &n1, &n2 };
	Tandem__VipStatus v = TANDEM__VIP_STATUS__INIT, *vp[1] = { &v };
	Tandem__HealthObs h1 = TANDEM__HEALTH_OBS__INIT, h2 = TANDEM__HEALTH_OBS__INIT, h3 = TANDEM__HEALTH_OBS__INIT;
	Tandem__HealthObs *hp[3] = { &h1, &h2, &h3 };
	char *s;

	(void)state;
	n1.node = "n1";
	n1.has_self = n1.self = 1;
	n1.has_alive = n1.alive = 1;
	n2.node = "<script>x</script>";
	n2.has_alive = 1;
	n2.alive = 0;
	n2.has_last_heard_ms = 1;
	n2.last_heard_ms = 4500;
	v.name = "web";
	v.owner = "n1";
	v.has_role = 1;
	v.role = TANDEM__VIP_ROLE__VIP_MASTER;
	cs.node = "n1";
	cs.n_nodes = 2;
	cs.nodes = np;
	cs.n_vips = 1;
	cs.vips = vp;
	/* Two nodes' verdicts on the configured server, one on a server this
	 * proxyd does not have (not shown). */
	h1.origin = "n1";
	h1.upstream = "u<b>";
	h1.server = "s\"&</td>";
	h1.has_up = h1.up = 1;
	h2 = h1;
	h2.origin = "n2";
	h2.up = 0;
	h3 = h1;
	h3.server = "other";
	cs.n_health = 3;
	cs.health = hp;
	status_cluster(&cs, 1000);
	s = render(1500);
	assert_null(strchr(s, '<'));
	assert_non_null(strstr(s, "\"hacd\":{\"seen\":true,\"age_ms\":500,\"stale\":false,\"node\":\"n1\"}"));
	assert_non_null(strstr(s, "{\"name\":\"n1\",\"address\":null,\"self\":true,\"alive\":true"));
	assert_non_null(strstr(s, "\"name\":\"\\u003cscript\\u003ex\\u003c/script\\u003e\""));
	assert_non_null(strstr(s, "\"alive\":false"));
	assert_non_null(strstr(s, "\"last_heard_ms\":4500"));
	assert_non_null(strstr(s, "\"owner\":\"n1\",\"role\":\"master\""));
	assert_non_null(strstr(s, "\"by_node\":[{\"node\":\"n1\",\"health\":\"up\"},{\"node\":\"n2\",\"health\":\"down\"}]"));
	free(s);
	/* hacd went quiet: the view is kept but marked stale. */
	s = render(1000 + 3001);
	assert_non_null(strstr(s, "\"stale\":true"));
	free(s);
	/* A VIP nobody owns: null, which the page shows as NO OWNER. */
	v.owner = "";
	status_cluster(&cs, 5000);
	s = render(5000);
	assert_non_null(strstr(s, "\"owner\":null"));
	free(s);
}

static void
test_compression(void **state)
{
	struct wmetrics *m = metrics_worker_new();
	struct compress_stream *cs;
	struct buf out, mo;
	uint8_t in[4096];
	char want[160], *s, *ms;

	(void)state;
	/* No coding yet: zero responses and no ratio. */
	s = render(1000);
	assert_non_null(strstr(s, "\"compression\":{\"codings\":[{\"coding\":\"gzip\",\"responses\":0,"));
	assert_non_null(strstr(s, "\"bytes_out\":0,\"ratio\":null}"));
	free(s);

	assert_non_null(m);
	pool = compress_pool_new(4);
	assert_non_null(pool);
	metrics_worker_compress(m, compress_pool_stats(pool));
	memset(in, 'a', sizeof(in));
	buf_init(&out);
	cs = compress_acquire(pool, COMPRESS_GZIP, 6, -1);
	assert_non_null(cs);
	assert_int_equal(compress_feed(cs, in, sizeof(in), COMPRESS_FINISH, &out), 0);
	assert_true(buf_len(&out) > 0 && buf_len(&out) < sizeof(in));
	/* While the stream is held its coder is busy. */
	s = render(1000);
	assert_non_null(strstr(s, "\"coders_busy\":1,\"coders_idle\":0,"));
	free(s);
	compress_release(cs);
	compress_pool_count_skip(pool, COMPRESS_SKIP_TYPE);
	compress_pool_count_skip(pool, COMPRESS_SKIP_TYPE);
	compress_pool_count_skip(pool, COMPRESS_SKIP_NOT_ACCEPTED);

	s = render(1000);
	snprintf(want, sizeof(want), "{\"coding\":\"gzip\",\"responses\":1,\"bytes_in\":%zu,\"bytes_out\":%zu,\"ratio\":%.2f}",
	    sizeof(in), buf_len(&out), (double)sizeof(in) / (double)buf_len(&out));
	assert_non_null(strstr(s, want));
	assert_non_null(strstr(s, "{\"coding\":\"br\",\"responses\":0,"));
	assert_non_null(strstr(s, "\"type\":2,\"short\":0,\"not_accepted\":1,\"pool_full\":0}"));
	assert_non_null(strstr(s, "\"coders_busy\":0,\"coders_idle\":1,"));
	/* The route default (no compression block): 64 per worker. */
	snprintf(want, sizeof(want), "\"coders_limit\":%llu,\"max_streams_per_worker\":64,",
	    (unsigned long long)procstate_workers() * 64);
	assert_non_null(strstr(s, want));
	assert_non_null(strstr(s, "\"errors\":0}"));
	free(s);

	/* /metrics sums the same counters. */
	buf_init(&mo);
	assert_int_equal(metrics_render(&mo), 0);
	ms = strndup((const char *)buf_rptr(&mo), buf_len(&mo));
	assert_non_null(ms);
	assert_non_null(strstr(ms, "tandem_compress_responses_total{coding=\"gzip\"} 1\n"));
	snprintf(want, sizeof(want), "tandem_compress_bytes_out_total{coding=\"gzip\"} %zu\n", buf_len(&out));
	assert_non_null(strstr(ms, want));
	assert_non_null(strstr(ms, "tandem_compress_skipped_total{reason=\"type\"} 2\n"));
	free(ms);
	buf_fini(&mo);
	buf_fini(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_names_escaped),
		cmocka_unit_test(test_admin_state_shown),
		cmocka_unit_test(test_cluster_view),
		cmocka_unit_test(test_compression),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
