/*
 * tests/unit/test_cache_conf.c — proxyd/cache_conf through config_load_string
 * and quick mode: the "caches" list (defaults, sizes, the object limit's
 * default following a small size), a route's "cache", and each refusal
 * with its file:line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/cache_conf.h"
#include "proxyd/cache_store.h"
#include "proxyd/config.h"

#define BASE \
	"listeners = ( { name = \"l\"; listen = \"127.0.0.1:18080\"; } );\n" \
	"upstreams = ( { name = \"a\"; servers = ( { name = \"s1\"; address = \"127.0.0.1:18101\"; } ); } );\n"

static void
test_good(void **state)
{
	struct conf_err err;
	struct pd_config *c;

	(void)state;
	c = config_load_string("t.conf", BASE
	    "caches = ( { name = \"main\"; size = \"8m\"; max_object = \"2m\"; store_set_cookie = true; heuristic = 10;\n"
	    "             tag_header = \"\"; prefetch_rate = 0; },\n"
	    "           { name = \"small\"; size = \"256k\"; } );\n"
	    "routes = ( { match = { path_prefix = \"/s/\"; }; upstream = \"a\"; cache = \"main\"; },\n"
	    "           { upstream = \"a\"; } );\n", &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->ncaches, 2);
	assert_int_equal(c->caches[0].size, 8u << 20);
	assert_int_equal(c->caches[0].max_object, 2u << 20);
	assert_true(c->caches[0].store_set_cookie);
	assert_int_equal(c->caches[0].heuristic_pct, 10);
	assert_string_equal(cache_store_name(c->caches[0].store), "main");
	/* The default object limit (1m) is held to half of a small size. */
	assert_int_equal(c->caches[1].max_object, 128u << 10);
	assert_int_equal(c->caches[1].heuristic_pct, 0);
	assert_false(c->caches[1].store_set_cookie);
	/* Tags: Surrogate-Key unless set; "" = none. */
	assert_null(c->caches[0].tag_header);
	assert_string_equal(c->caches[1].tag_header, "Surrogate-Key");
	/* The warm standby's prefetch: a modest default, 0 = none. */
	assert_int_equal(c->caches[0].prefetch_rate, 0);
	assert_int_equal(c->caches[1].prefetch_rate, CACHE_DEFAULT_PREFETCH_RATE);
	assert_ptr_equal(c->routes[0].cache, &c->caches[0]);
	assert_null(c->routes[1].cache);
	config_unref(c);
}

static void
test_quick(void **state)
{
	struct conf_err err;
	struct pd_config *c;

	(void)state;
	c = config_quick_cache("127.0.0.1:18080", NULL, NULL, NULL, "127.0.0.1:18101", 1, 0, "32m", &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->ncaches, 1);
	assert_string_equal(c->caches[0].name, "quick");
	assert_int_equal(c->caches[0].size, 32u << 20);
	assert_int_equal(c->nroutes, 1);
	assert_ptr_equal(c->routes[0].cache, &c->caches[0]);
	assert_false(c->routes[0].compress.enabled);
	config_unref(c);
	/* Without --cache nothing changes. */
	c = config_quick_cache("127.0.0.1:18080", NULL, NULL, NULL, "127.0.0.1:18101", 1, 0, NULL, &err);
	assert_non_null(c);
	assert_int_equal(c->ncaches, 0);
	assert_null(c->routes[0].cache);
	config_unref(c);
	assert_null(config_quick_cache("127.0.0.1:18080", NULL, NULL, NULL, "127.0.0.1:18101", 1, 0, "lots", &err));
}

static const struct { const char *text, *where, *what; } bad[] = {
	{ BASE "caches = ( { size = \"1m\"; } );\n", "t.conf:3", "name" },
	{ BASE "caches = ( { name = \"c\"; sise = \"1m\"; } );\n", "t.conf:3", "sise" },
	{ BASE "caches = ( { name = \"c\"; size = \"1k\"; } );\n", "t.conf:3", "at least 64k" },
	{ BASE "caches = ( { name = \"c\"; size = \"1m\"; max_object = \"1m\"; } );\n", "t.conf:3", "half of size" },
	{ BASE "caches = ( { name = \"c\"; heuristic = 101; } );\n", "t.conf:3", "heuristic" },
	{ BASE "caches = ( { name = \"c\"; }, { name = \"c\"; } );\n", "t.conf:3", "defined twice" },
	{ BASE "caches = ( { name = \"c\"; tag_header = \"Surrogate Key\"; } );\n", "t.conf:3", "tag_header" },
	{ BASE "caches = ( { name = \"c\"; tag_header = \"X:\"; } );\n", "t.conf:3", "tag_header" },
	{ BASE "caches = ( { name = \"c\"; prefetch_rate = -1; } );\n", "t.conf:3", "prefetch_rate" },
	{ BASE "routes = ( { upstream = \"a\"; cache = \"nope\"; } );\n", "t.conf:3", "unknown cache \"nope\"" },
	{ BASE "caches = ( { name = \"c\"; } );\nroutes = ( { respond = { status = 200; body = \"x\"; }; cache = \"c\"; } );\n",
	  "t.conf:4", "only forwarding routes cache" },
};

static void
test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct conf_err err;
		struct pd_config *c = config_load_string("t.conf", bad[i].text, &err);
		if (c != NULL)
			fail_msg("case %zu accepted", i);
		if (strstr(err.msg, bad[i].where) == NULL || strstr(err.msg, bad[i].what) == NULL)
			fail_msg("case %zu: \"%s\" (want %s ... %s)", i, err.msg, bad[i].where, bad[i].what);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_quick),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
