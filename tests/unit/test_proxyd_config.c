/*
 * tests/unit/test_proxyd_config.c — proxyd/config: the shipped example loads,
 * and every kind of mistake is refused with "file:line: message".
 *
 * The good case loads etc/proxyd.conf itself (tests run from the repository
 * root), since that is the file the lab and the demo use. The bad cases are a
 * table of (snippet) -> (expected "t.conf:LINE:" prefix, expected words); the
 * line is part of the contract: it is what an operator's editor jumps to.
 */
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "proxyd/config.h"
#include "proxyd/conn.h"
#include "proxyd/ratelimit.h"
#include "proxyd/tls.h"

static void
test_example_file(void **state)
{
	struct conf_err err;
	struct pd_config *c;
	int app;

	(void)state;
	c = config_load("etc/proxyd.conf", &err);
	if (c == NULL)
		fail_msg("etc/proxyd.conf: %s", err.msg);
	assert_int_equal(c->nlisteners, 1);
	assert_string_equal(c->listeners[0].address, "*:80");
	app = config_upstream_index(c, "app");
	assert_true(app >= 0);
	assert_int_equal(c->upstreams[app].nservers, 3);
	assert_string_equal(c->upstreams[app].servers[0].address, "10.99.0.21:8080");
	assert_string_equal(c->upstreams[app].servers[2].address, "10.99.0.23:8080");
	assert_non_null(c->admin_listen);
	assert_string_equal(c->admin_listen, "127.0.0.1:9901");
	assert_true(c->nroutes >= 1);
	/* The last route forwards everything else to "app". */
	assert_int_equal(c->routes[c->nroutes - 1].action, ROUTE_FORWARD);
	assert_int_equal(c->routes[c->nroutes - 1].splits[0].upstream, app);
	config_unref(c);
}

#define BASE \
	"listeners = ( { name = \"l\"; listen = \"127.0.0.1:18080\"; } );\n" \
	"upstreams = ( { name = \"a\"; servers = ( { name = \"s1\"; address = \"127.0.0.1:18101\"; } ); } );\n"

static void
test_good_snippets(void **state)
{
	struct conf_err err;
	struct pd_config *c;

	(void)state;
	/* Without routes, the only upstream takes everything. */
	c = config_load_string("t.conf", BASE, &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->nroutes, 1);
	assert_int_equal(c->routes[0].action, ROUTE_FORWARD);
	assert_int_equal(c->to.connect, 3000);
	config_unref(c);

	c = config_load_string("t.conf", BASE
	    "timeouts = { connect = \"250ms\"; response = \"2s\"; };\n"
	    "routes = ( { name = \"r\"; match = { host = [\"*.Example.com\"]; path_regex = \"^/x/[0-9]+$\";"
	    " methods = [\"GET\"]; headers = ( { name = \"X-A\"; value = \"1\"; } ); };"
	    " split = ( { upstream = \"a\"; weight = 3; } ); rewrite = { prefix = \"/x\"; replace = \"/y\"; }; } );\n",
	    &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->to.connect, 250);
	assert_int_equal(c->upstreams[0].response_ms, 2000);   /* upstream default from timeouts */
	assert_string_equal(c->routes[0].hosts[0], "*.example.com");   /* lowercased */
	assert_string_equal(c->routes[0].hdrs[0].name, "x-a");
	assert_int_equal(c->routes[0].split_total, 3);
	config_unref(c);

	/* The guards' keys: checks, ejection, rate limits, route guards, limits. */
	c = config_load_string("t.conf",
	    "listeners = ( { name = \"l\"; listen = \"127.0.0.1:18080\"; } );\n"
	    "upstreams = ( { name = \"a\"; slow_start = \"10s\"; panic_threshold = 50;\n"
	    "  check = { type = \"http\"; path = \"/health\"; host = \"h.example\"; expect_status = \"200-204\";\n"
	    "            expect_body = \"ok\"; interval = \"500ms\"; timeout = \"200ms\"; rise = 3; fall = 4; };\n"
	    "  eject = { after = 7; base = \"1s\"; max = \"1m\"; };\n"
	    "  servers = ( { name = \"s1\"; address = \"127.0.0.1:18101\"; } ); },\n"
	    "  { name = \"t\"; check = { type = \"tcp\"; };\n"
	    "  servers = ( { name = \"s1\"; address = \"127.0.0.1:18102\"; } ); } );\n"
	    "limits = { max_connections_per_ip = 10; max_connections_total = 1000; max_body = \"1m\"; per_ip_ipv6_prefix = 56;\n"
	    "           min_body_rate = \"1k\"; min_body_window = \"3s\"; };\n"
	    "ratelimits = ( { name = \"per-ip\"; key = \"ip\"; ipv6_prefix = 56; rate = 100; period = \"1s\"; burst = 20;\n"
	    "                 max_keys = 5000; ban = { after = 5; within = \"1m\"; duration = \"10m\"; }; },\n"
	    "               { name = \"per-key\"; key = \"header:X-Api-Key\"; rate = 10; period = \"1m\"; scope = \"cluster\";\n"
	    "                 partition = \"share\"; } );\n"
	    "routes = ( { name = \"api\"; upstream = \"a\"; ratelimit = \"per-key\"; allow = [ \"10.0.0.0/8\", \"::1\" ];\n"
	    "             deny = \"10.0.66.0/24\"; allow_methods = [ \"GET\", \"POST\" ]; max_body = \"4k\"; },\n"
	    "           { name = \"rest\"; upstream = \"t\"; } );\n", &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->upstreams[0].check.type, PD_CHECK_HTTP);
	assert_string_equal(c->upstreams[0].check.path, "/health");
	assert_string_equal(c->upstreams[0].check.method, "GET");
	assert_int_equal(c->upstreams[0].check.status_lo, 200);
	assert_int_equal(c->upstreams[0].check.status_hi, 204);
	assert_int_equal(c->upstreams[0].check.interval_ms, 500);
	assert_int_equal(c->upstreams[0].check.rise, 3);
	assert_int_equal(c->upstreams[0].check.fall, 4);
	assert_int_equal(c->upstreams[0].eject_after, 7);
	assert_int_equal(c->upstreams[0].eject_max_ms, 60000);
	assert_int_equal(c->upstreams[0].slow_start_ms, 10000);
	assert_int_equal(c->upstreams[0].panic_pct, 50);
	assert_int_equal(c->upstreams[1].check.type, PD_CHECK_TCP);
	assert_int_equal(c->max_connections_per_ip, 10);
	assert_int_equal(c->per_ip_v6_prefix, 56);
	assert_int_equal(c->per_ip_v4_prefix, 32);          /* default */
	assert_int_equal(c->max_body, 1048576);
	assert_int_equal(c->min_body_rate, 1024);
	assert_int_equal(c->nrlimits, 2);
	assert_int_equal(c->rlimits[0].key, RL_KEY_IP);
	assert_int_equal(c->rlimits[0].v6_prefix, 56);
	assert_non_null(c->rlimits[0].t);
	assert_int_equal(c->rlimits[1].key, RL_KEY_HEADER);
	assert_string_equal(c->rlimits[1].header, "x-api-key");
	assert_int_equal(c->rlimits[1].cluster, 1);
	assert_int_equal(c->rlimits[1].partition_share, 1);
	assert_int_equal(c->rlimits[0].partition_share, 0);
	assert_int_equal(c->routes[0].rl_idx, 1);
	assert_int_equal(c->routes[0].nallow, 2);
	assert_int_equal(c->routes[0].ndeny, 1);
	assert_string_equal(c->routes[0].allow_hdr, "GET, POST");
	assert_int_equal(c->routes[0].max_body, 4096);
	assert_int_equal(c->routes[1].rl_idx, -1);
	assert_int_equal(c->routes[1].max_body, -1);
	{
		/* A reload with the same limit keeps its table (counters, bans). */
		struct pd_config *c2 = config_load_string("t.conf",
		    BASE "ratelimits = ( { name = \"per-ip\"; key = \"ip\"; ipv6_prefix = 56; rate = 100; period = \"1s\";"
		    " burst = 20; max_keys = 5000; ban = { after = 5; within = \"1m\"; duration = \"10m\"; }; } );\n", &err);
		if (c2 == NULL)
			fail_msg("%s", err.msg);
		assert_ptr_equal(c2->rlimits[0].t, c->rlimits[0].t);
		config_unref(c2);
	}
	config_unref(c);
}

struct bad_case {
	const char *text;
	const char *prefix;   /* "t.conf:LINE:" */
	const char *words;    /* must appear in the message */
};

static const struct bad_case bad_cases[] = {
	/* unknown keys, at every level */
	{ BASE "bogus = 1;\n", "t.conf:3:", "bogus" },
	{ BASE "limits = { per_ip_ipv6_prefix = 8; };\n", "t.conf:3:", "per_ip_ipv6_prefix" },
	{ BASE "limits = { per_ip_ipv4_prefix = 33; };\n", "t.conf:3:", "per_ip_ipv4_prefix" },
	{ BASE "timeouts = {\n  connnect = \"1s\";\n};\n", "t.conf:4:", "connnect" },
	{ "listeners = ( { listen = \"127.0.0.1:1\"; port = 80; } );\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:1:", "port" },
	{ BASE "routes = (\n { upstream = \"a\";\n   match = { pathprefix = \"/x\"; }; }\n);\n", "t.conf:5:", "pathprefix" },
	/* bad values */
	{ BASE "timeouts = {\n  connect = \"5x\";\n};\n", "t.conf:4:", "connect" },
	{ BASE "log = { level = \"loud\"; };\n", "t.conf:3:", "loud" },
	{ BASE "limits = { header_size = \"1\"; };\n", "t.conf:3:", "header_size" },
	{ BASE "threads = -1;\n", "t.conf:3:", "threads" },
	/* addresses */
	{ "listeners = ( { listen = \"localhost:80\"; } );\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:1:", "bad address" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = ( { name = \"a\";\n servers = ( { address = \"10.0.0.1\"; } ); } );\n", "t.conf:3:", "bad address" },
	{ BASE "admin = { listen = \"127.0.0.1:99999\"; };\n", "t.conf:3:", "bad address" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; allow = [ \"10.0.0.0/33\" ]; } );\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:1:", "allow" },
	/* references and duplicates */
	{ BASE "routes = (\n  { name = \"r\"; upstream = \"nope\"; }\n);\n", "t.conf:4:", "unknown upstream \"nope\"" },
	{ BASE "routes = (\n  { split = (\n    { upstream = \"a\"; weight = 1; },\n    { upstream = \"b\"; } ); }\n);\n",
	  "t.conf:6:", "unknown upstream \"b\"" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = (\n  { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); },\n"
	  "  { name = \"a\"; servers = ( { address = \"127.0.0.1:3\"; } ); }\n);\n", "t.conf:4:", "defined twice" },
	{ BASE "routes = (\n  { name = \"r\"; upstream = \"a\"; },\n  { name = \"r\"; upstream = \"a\"; }\n);\n",
	  "t.conf:5:", "defined twice" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = ( { name = \"a\"; servers = (\n { name = \"x\"; address = \"127.0.0.1:2\"; },\n"
	  " { name = \"x\"; address = \"127.0.0.1:3\"; } ); } );\n", "t.conf:4:", "defined twice" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = (\n  { name = \"@node\"; servers = ( { address = \"127.0.0.1:2\"; } ); }\n);\n",
	  "t.conf:3:", "may not start with '@'" },
	{ "listeners = (\n { listen = \"127.0.0.1:80\"; },\n { listen = \"127.0.0.1:80\"; }\n);\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:3:", "127.0.0.1:80" },
	/* regex and path */
	{ BASE "routes = (\n  { upstream = \"a\";\n    match = { path_regex = \"^/(x\"; }; }\n);\n", "t.conf:5:", "bad regex" },
	{ BASE "routes = ( { upstream = \"a\"; match = { path = \"x\"; }; } );\n", "t.conf:3:", "must start with '/'" },
	{ BASE "routes = ( { upstream = \"a\"; match = { path = \"/x\"; path_prefix = \"/y\"; }; } );\n", "t.conf:3:", "only one" },
	/* requests are matched normalised: another spelling would never match */
	{ BASE "routes = ( { upstream = \"a\"; match = { path_prefix = \"/%69nternal/\"; }; } );\n", "t.conf:3:",
	  "write \"/internal/\"" },
	{ BASE "routes = ( { upstream = \"a\"; match = { path = \"/a//b\"; }; } );\n", "t.conf:3:", "write \"/a/b\"" },
	{ BASE "routes = ( { upstream = \"a\"; match = { path = \"/caf%c3%a9\"; }; } );\n", "t.conf:3:", "/caf%C3%A9" },
	{ BASE "routes = ( { upstream = \"a\"; match = { path_prefix = \"/a%2Fb\"; }; } );\n", "t.conf:3:", "encoded-slash" },
	{ BASE "routes = ( { upstream = \"a\"; match = { path_prefix = \"/a/../b\"; }; } );\n", "t.conf:3:", "dot-segment" },
	{ BASE "routes = ( { upstream = \"a\"; match = { path_prefix = \"/a/\"; };\n"
	  "  rewrite = { prefix = \"/a/\"; replace = \"/b c/\"; }; } );\n", "t.conf:4:", "byte 0x20" },
	{ BASE "routes = ( { upstream = \"a\"; match = { path_prefix = \"/a/\"; };\n"
	  "  rewrite = { strip_prefix = \"//a\"; }; } );\n", "t.conf:4:", "write \"/a\"" },
	{ BASE "routes = ( { upstream = \"a\"; match = { host = \"a.*.com\"; }; } );\n", "t.conf:3:", "host" },
	/* actions */
	{ BASE "routes = (\n  { name = \"r\"; match = { path = \"/\"; }; }\n);\n", "t.conf:4:", "needs one of" },
	{ BASE "routes = (\n  { upstream = \"a\"; respond = { status = 200; }; }\n);\n", "t.conf:4:", "only one of" },
	{ BASE "routes = ( { redirect = { status = 200; location = \"/\"; }; } );\n", "t.conf:3:", "status" },
	{ BASE "routes = ( { upstream = \"a\"; request_headers = { set = [ \"NoColon\" ]; }; } );\n", "t.conf:3:", "Name: value" },
	{ BASE "routes = ( { upstream = \"a\"; request_headers = { set = [ \"Bad Name: v\" ]; }; } );\n", "t.conf:3:", "invalid header" },
	/* A header edit must not touch the framing proxyd forwards by. */
	{ BASE "routes = ( { upstream = \"a\"; request_headers = { set = [ \"Content-Length: 0\" ]; }; } );\n", "t.conf:3:", "framing" },
	{ BASE "routes = ( { upstream = \"a\"; request_headers = { remove = [ \"transfer-encoding\" ]; }; } );\n", "t.conf:3:", "framing" },
	{ BASE "routes = ( { upstream = \"a\"; response_headers = { remove = [ \"Content-Length\" ]; }; } );\n", "t.conf:3:", "framing" },
	{ BASE "routes = ( { upstream = \"a\"; response_headers = { set = [ \"Connection: close\" ]; }; } );\n", "t.conf:3:", "framing" },
	{ BASE "routes = ( { upstream = \"a\"; request_headers = { set = [ \"Upgrade: h2c\" ]; }; } );\n", "t.conf:3:", "framing" },
	{ BASE "routes = ( { respond = { status = 200; }; rewrite = { strip_prefix = \"/a\"; }; } );\n", "t.conf:3:", "rewrite" },
	/* structure */
	{ "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:", "listeners" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\nupstreams = ( { name = \"a\";\n servers = ( ); } );\n",
	  "t.conf:3:", "at least one server" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n", "t.conf:", "routes" },
	{ BASE "threads = = 2;\n", "t.conf:3:", "" },
	/* guards */
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { type = \"udp\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "udp" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { expect_status = \"299-200\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "expect_status" },
	{ "listeners = ( { name = \"l\"; listen = \"127.0.0.1:1\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { expect_status = \"200x\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "expect_status" },
	{ "listeners = ( { name = \"l\"; listen = \"127.0.0.1:1\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { expect_status = \"+200\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "expect_status" },
	{ "listeners = ( { name = \"l\"; listen = \"127.0.0.1:1\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { expect_status = \"200-\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "expect_status" },
	{ "listeners = ( { name = \"l\"; listen = \"127.0.0.1:1\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { expect_status = \"200-30\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "expect_status" },
	{ "listeners = ( { name = \"l\"; listen = \"127.0.0.1:1\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { expect_status = \"2000\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "expect_status" },
	{ "listeners = ( { name = \"l\"; listen = \"127.0.0.1:1\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { expect_status = \" 200\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "expect_status" },
	{ "listeners = ( { name = \"l\"; listen = \"127.0.0.1:1\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { expect_status = \"200 -300\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "expect_status" },
	{ "listeners = ( { name = \"l\"; listen = \"127.0.0.1:1\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { expect_status = \"-200\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "expect_status" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = ( { name = \"a\";\n check = { interval = \"1s\"; timeout = \"2s\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "timeout" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = ( { name = \"a\";\n eject = { base = \"10s\"; max = \"1s\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "max" },
	{ BASE "ratelimits = (\n { name = \"x\"; key = \"cookie\"; rate = 1; }\n);\n", "t.conf:4:", "cookie" },
	{ BASE "ratelimits = (\n { name = \"x\"; }\n);\n", "t.conf:4:", "rate" },
	{ BASE "ratelimits = (\n { name = \"x\"; rate = 1; },\n { name = \"x\"; rate = 2; }\n);\n", "t.conf:5:", "defined twice" },
	{ BASE "ratelimits = ( { name = \"x\"; rate = 1; ipv4_prefix = 33; } );\n", "t.conf:3:", "ipv4_prefix" },
	{ BASE "ratelimits = (\n { name = \"x\"; rate = 1; scope = \"cluster\";\n partition = \"half\"; }\n);\n", "t.conf:5:", "full, share" },
	{ BASE "ratelimits = (\n { name = \"x\"; rate = 1;\n partition = \"share\"; }\n);\n", "t.conf:5:", "only for scope" },
	{ BASE "routes = (\n { upstream = \"a\"; ratelimit = \"nope\"; }\n);\n", "t.conf:4:", "unknown limit" },
	{ BASE "routes = (\n { upstream = \"a\"; deny = [ \"10.0.0.0/40\" ]; }\n);\n", "t.conf:4:", "deny" },
	{ BASE "routes = (\n { upstream = \"a\"; allow_methods = [ \"G T\" ]; }\n);\n", "t.conf:4:", "allow_methods" },
	{ BASE "routes = (\n { upstream = \"a\"; max_body = \"lots\"; }\n);\n", "t.conf:4:", "max_body" },
	{ BASE "limits = { min_body_window = \"10ms\"; };\n", "t.conf:3:", "min_body_window" },   /* syntax error: libconfig's own message, still file:line */
	/* TLS settings checked before any file is read */
	{ BASE "tls_tickets = { rotate = \"1h\"; lifetime = \"1h\"; };\n", "t.conf:3:", "lifetime" },
	/* TLS to upstreams */
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = ( { name = \"a\";\n tls = { ca = \"/nonexistent/ca.crt\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "/nonexistent/ca.crt" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = ( { name = \"a\";\n tls = { verify = false;\n ca = \"/x.crt\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:4:", "verify = false" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = ( { name = \"a\"; tls = { verify = false; };\n check = { type = \"http\"; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "tcp" },
	{ "listeners = ( { listen = \"127.0.0.1:80\"; } );\n"
	  "upstreams = ( { name = \"a\";\n tls = { sni = \"a b\"; verify = false; };\n servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
	  "t.conf:3:", "sni" },
	{ BASE "tls_tickets = { rotate = \"1h\"; period = \"1h\"; };\n", "t.conf:3:", "period" },
	{ "listeners = (\n { listen = \"127.0.0.1:80\";\n   tls = { alpn = \"http/1.1\"; }; }\n);\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:3:", "certificates" },
	{ "listeners = (\n { listen = \"127.0.0.1:80\";\n   tls = { certificates = ( { cert = \"/x.crt\"; } ); }; }\n);\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:3:", "key" },
	{ "listeners = (\n { listen = \"127.0.0.1:80\";\n   tls = { certificates = ( { cert = \"/x\"; key = \"/y\"; } );\n"
	  "   client_cert = \"required\"; }; }\n);\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:4:", "client_ca" },
	{ "listeners = (\n { listen = \"127.0.0.1:80\";\n   tls = { certificates = ( { cert = \"/x\"; key = \"/y\"; } );\n"
	  "   client_cert = \"maybe\"; }; }\n);\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:4:", "client_cert" },
	{ "listeners = (\n { listen = \"127.0.0.1:80\";\n   tls = { certificates = ( { cert = \"/x\"; key = \"/y\"; } );\n"
	  "   hsts = \"\"; }; }\n);\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:4:", "hsts" },
	{ "listeners = (\n { listen = \"127.0.0.1:80\"; redirect_https = true;\n   tls = { certificates = ( { cert = \"/x\"; key = \"/y\"; } ); }; }\n);\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:2:", "redirect_https" },
	{ "listeners = (\n { listen = \"127.0.0.1:80\";\n   tls = { certificates = ( { cert = \"/nonexistent/x.crt\"; key = \"/y\"; } ); }; }\n);\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:3:", "/nonexistent/x.crt" },
	{ "listeners = (\n { listen = \"127.0.0.1:80\"; redirect_https = true; redirect_https_port = 0; }\n);\n"
	  "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n", "t.conf:2:", "redirect_https_port" },
	/* compression: the block and a route's setting, located */
	{ BASE "compression = {\n  prefer = [ \"deflate\" ];\n};\n", "t.conf:4:", "unknown coding \"deflate\"" },
	{ BASE "compression = { max_streams = -1; };\n", "t.conf:3:", "max_streams" },
	{ BASE "compression = { speed = 1; };\n", "t.conf:3:", "speed" },
	{ BASE "routes = ( { name = \"r\"; upstream = \"a\";\n  compress = { levels = { br = 12; }; }; } );\n",
	  "t.conf:4:", "route \"r\": compress.levels.br: 12 is out of range [0, 11]" },
	{ BASE "routes = ( { name = \"r\"; upstream = \"a\"; compress = \"yes\"; } );\n", "t.conf:3:", "compress" },
	{ BASE "routes = ( { name = \"r\"; upstream = \"a\"; compress = { types = [ \"*/*\" ]; }; } );\n",
	  "t.conf:3:", "types" },
	{ BASE "routes = ( { name = \"r\"; respond = { status = 200; body = \"x\"; };\n  compress = true; } );\n",
	  "t.conf:4:", "only forwarding routes compress" },
};

static void
test_bad_snippets(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct conf_err err;
		struct pd_config *cfg;
		memset(&err, 0, sizeof(err));
		cfg = config_load_string("t.conf", c->text, &err);
		if (cfg != NULL) {
			config_unref(cfg);
			fail_msg("case %zu accepted:\n%s", i, c->text);
		}
		if (strncmp(err.msg, c->prefix, strlen(c->prefix)) != 0 || strstr(err.msg, c->words) == NULL)
			fail_msg("case %zu: got \"%s\", want prefix \"%s\" with \"%s\"", i, err.msg, c->prefix, c->words);
	}
}

static void
test_quick_mode(void **state)
{
	struct conf_err err;
	struct pd_config *c;

	(void)state;
	c = config_quick("127.0.0.1:18080", "127.0.0.1:18101,127.0.0.1:18102", 2, &err);
	assert_non_null(c);
	assert_int_equal(c->threads, 2);
	assert_int_equal(c->upstreams[0].nservers, 2);
	assert_int_equal(c->upstreams[0].algo, BAL_ROUNDROBIN);
	assert_true(c->upstreams[0].keepalive > 0);
	assert_true(c->hdr_xff);
	config_unref(c);
	assert_null(config_quick("127.0.0.1:18080", "127.0.0.1:18101,backend:80", 1, &err));
	assert_non_null(strstr(err.msg, "backend:80"));
	assert_null(config_quick("nowhere", "127.0.0.1:1", 1, &err));
	assert_non_null(strstr(err.msg, "--listen"));
}

/* --compress: the default route compresses with the defaults of
 * docs/compression.md, built through the parser like the rest of quick
 * mode; without it nothing compresses. */
static void
test_quick_mode_compress(void **state)
{
	struct conf_err err;
	struct pd_config *c;
	const struct compress_route_conf *rc;

	(void)state;
	c = config_quick_tls("127.0.0.1:18080", NULL, NULL, NULL, "127.0.0.1:18101", 1, 1, &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->nroutes, 1);
	assert_string_equal(c->routes[0].name, "default");
	assert_int_equal(c->routes[0].action, ROUTE_FORWARD);
	assert_int_equal(c->routes[0].splits[0].upstream, 0);
	rc = &c->routes[0].compress;
	assert_true(rc->enabled);
	assert_int_equal(rc->nprefer, 3);
	assert_int_equal(rc->prefer[0], COMPRESS_ZSTD);
	assert_int_equal(rc->prefer[2], COMPRESS_GZIP);
	assert_int_equal(rc->level[COMPRESS_GZIP], COMPRESS_DEFAULT_GZIP_LEVEL);
	assert_int_equal(rc->min_length, COMPRESS_DEFAULT_MIN_LENGTH);
	assert_true(rc->ntypes > 0);
	assert_int_equal(c->compress.max_streams, COMPRESS_DEFAULT_MAX_STREAMS);
	config_unref(c);
	c = config_quick("127.0.0.1:18080", "127.0.0.1:18101", 1, &err);
	assert_non_null(c);
	assert_int_equal(c->nroutes, 1);
	assert_false(c->routes[0].compress.enabled);
	config_unref(c);
}

/* The compression block and a route's compress setting reach the
 * generation: the block's defaults under a route's own keys. */
/* The http2 block: defaults, values, refusals with file:line. */
static void
test_http2_settings(void **state)
{
	static const char text[] = BASE
	    "http2 = { max_concurrent_streams = 10; max_header_list_size = \"8k\"; initial_window_size = \"1m\";\n"
	    "  idle_timeout = \"5s\"; max_resets = 7; resets_per_second = 2; max_continuations = 3; };\n"
	    "routes = ( { upstream = \"a\"; } );\n";
	static const struct { const char *block, *words; } bad[] = {
		{ "http2 = { max_concurrent_streams = 0; };", "max_concurrent_streams" },
		{ "http2 = { initial_window_size = \"4g\"; };", "initial_window_size" },
		{ "http2 = { idle_timeout = \"0s\"; };", "more than 0" },
		{ "http2 = { streams = 5; };", "streams" },
	};
	struct conf_err err;
	struct pd_config *c;
	char t2[1024];

	(void)state;
	if ((c = config_load_string("t.conf", BASE "routes = ( { upstream = \"a\"; } );\n", &err)) == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->h2.max_streams, 100);
	assert_int_equal(c->h2.initial_window, 65535);
	assert_int_equal(c->h2.max_header_list, 16384);
	config_unref(c);
	if ((c = config_load_string("t.conf", text, &err)) == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->h2.max_streams, 10);
	assert_int_equal(c->h2.max_header_list, 8192);
	assert_int_equal(c->h2.initial_window, 1 << 20);
	assert_int_equal(c->h2.idle_ms, 5000);
	assert_int_equal(c->h2.rst_burst, 7);
	assert_int_equal(c->h2.rst_rate, 2);
	assert_int_equal(c->h2.max_continuations, 3);
	assert_int_equal(c->h2.header_table, 4096);
	config_unref(c);
	/* HTTP/2 with prior knowledge: a plain listener's option. */
	c = config_load_string("t.conf", "listeners = ( { listen = \"127.0.0.1:18080\"; http2_prior_knowledge = true; } );\n"
	    "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:18101\"; } ); } );\n"
	    "routes = ( { upstream = \"a\"; } );\n", &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_non_null(c->listeners[0].opts);
	assert_int_equal(c->listeners[0].opts->h2c, 1);
	assert_int_equal(c->listeners[0].opts->redirect_https, 0);
	config_unref(c);
	c = config_load_string("t.conf", "listeners = ( { listen = \"127.0.0.1:18080\";\n"
	    "  redirect_https = true; http2_prior_knowledge = true; } );\n"
	    "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:18101\"; } ); } );\n"
	    "routes = ( { upstream = \"a\"; } );\n", &err);
	if (c != NULL) {
		config_unref(c);
		fail_msg("http2_prior_knowledge with redirect_https accepted");
	}
	if (strncmp(err.msg, "t.conf:2:", 9) != 0 || strstr(err.msg, "http2_prior_knowledge") == NULL)
		fail_msg("http2_prior_knowledge with redirect_https: got \"%s\"", err.msg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(t2, sizeof(t2), BASE "%s\nroutes = ( { upstream = \"a\"; } );\n", bad[i].block);
		if ((c = config_load_string("t.conf", t2, &err)) != NULL) {
			config_unref(c);
			fail_msg("http2 case %zu accepted", i);
		}
		if (strncmp(err.msg, "t.conf:", 7) != 0 || strstr(err.msg, bad[i].words) == NULL)
			fail_msg("http2 case %zu: got \"%s\"", i, err.msg);
	}
}

static void
test_compress_settings(void **state)
{
	static const char text[] = BASE
	    "compression = { max_streams = 3; prefer = [ \"gzip\", \"zstd\" ]; min_length = \"2k\";\n"
	    "  levels = { gzip = 4; }; };\n"
	    "routes = ( { name = \"api\"; match = { path_prefix = \"/api/\"; }; upstream = \"a\";\n"
	    "             compress = { prefer = [ \"br\" ]; types = [ \"+json\" ]; levels = { br = 5; }; }; },\n"
	    "           { name = \"on\"; match = { path_prefix = \"/on/\"; }; upstream = \"a\"; compress = true; },\n"
	    "           { name = \"off\"; upstream = \"a\"; compress = { enabled = false; }; } );\n";
	struct conf_err err;
	struct pd_config *c;
	const struct compress_route_conf *api, *on, *off;

	(void)state;
	if ((c = config_load_string("t.conf", text, &err)) == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->compress.max_streams, 3);
	api = &c->routes[0].compress;
	on = &c->routes[1].compress;
	off = &c->routes[2].compress;
	assert_true(api->enabled);
	assert_int_equal(api->nprefer, 1);
	assert_int_equal(api->prefer[0], COMPRESS_BR);
	assert_int_equal(api->ntypes, 1);
	assert_int_equal(api->level[COMPRESS_BR], 5);
	assert_int_equal(api->level[COMPRESS_GZIP], 4);      /* from the block */
	assert_int_equal(api->min_length, 2048);
	assert_true(on->enabled);
	assert_int_equal(on->nprefer, 2);
	assert_int_equal(on->prefer[0], COMPRESS_GZIP);
	assert_ptr_equal(on->types, c->compress.defaults.types);
	assert_false(off->enabled);
	config_unref(c);
}

/* compression.enabled: the default of every forwarding route that says
 * nothing, so a file without routes can compress its implicit route; a
 * route's own setting wins, and routes that answer locally stay off
 * rather than being refused. */
static void
test_compress_enabled_default(void **state)
{
	struct conf_err err;
	struct pd_config *c;

	(void)state;
	if ((c = config_load_string("t.conf", BASE "compression = { enabled = true; };\n", &err)) == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->nroutes, 1);
	assert_true(c->routes[0].compress.enabled);
	config_unref(c);
	if ((c = config_load_string("t.conf", BASE "compression = { enabled = true; };\n"
	    "routes = ( { name = \"quiet\"; match = { path_prefix = \"/q/\"; }; upstream = \"a\"; compress = false; },\n"
	    "           { name = \"gone\"; match = { path_prefix = \"/g/\"; }; respond = { status = 410; body = \"x\"; }; },\n"
	    "           { name = \"rest\"; upstream = \"a\"; } );\n", &err)) == NULL)
		fail_msg("%s", err.msg);
	assert_false(c->routes[0].compress.enabled);
	assert_false(c->routes[1].compress.enabled);
	assert_true(c->routes[2].compress.enabled);
	config_unref(c);
	/* Without the key, nothing changes: a file without routes is off. */
	if ((c = config_load_string("t.conf", BASE, &err)) == NULL)
		fail_msg("%s", err.msg);
	assert_false(c->routes[0].compress.enabled);
	config_unref(c);
}

/* Quick mode goes through the file parser's checks: a request's exclude
 * mask holds PD_MAX_SERVERS bits, so a 513th server (which a retry would
 * mark past the end of the mask) is refused with the parser's message, the
 * same as in a file; 512 are fine. */
static void
test_quick_mode_server_bound(void **state)
{
	struct conf_err err;
	struct pd_config *c;
	size_t cap = (PD_MAX_SERVERS + 1) * 24;
	char *to = malloc(cap);
	size_t off = 0;

	(void)state;
	assert_non_null(to);
	for (unsigned i = 0; i < PD_MAX_SERVERS + 1; i++)
		off += (size_t)snprintf(to + off, cap - off, "%s127.0.%u.%u:80", i ? "," : "", i / 250, i % 250 + 1);
	c = config_quick("127.0.0.1:18080", to, 1, &err);
	assert_null(c);
	if (strstr(err.msg, "servers: at most 512") == NULL || strncmp(err.msg, "command line: ", 14) != 0)
		fail_msg("got \"%s\"", err.msg);
	/* Drop the last server: 512 are accepted. */
	*strrchr(to, ',') = '\0';
	c = config_quick("127.0.0.1:18080", to, 1, &err);
	if (c == NULL)
		fail_msg("512 servers: %s", err.msg);
	assert_int_equal(c->upstreams[0].nservers, PD_MAX_SERVERS);
	config_unref(c);
	/* A server named twice is refused, as in a file. */
	assert_null(config_quick("127.0.0.1:18080", "127.0.0.1:1,127.0.0.1:1", 1, &err));
	assert_non_null(strstr(err.msg, "defined twice"));
	assert_null(config_quick("127.0.0.1:18080", ",,", 1, &err));
	assert_non_null(strstr(err.msg, "no server"));
	free(to);
}

/* ---- TLS listeners: a real PKI from tests/tools/mkcerts.sh ----- */

static char pki[64];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int
pki_setup(void **state)
{
	char cmd[256];

	(void)state;
	if (access("tests/tools/mkcerts.sh", R_OK) != 0) {
		fprintf(stderr, "test_proxyd_config: run from the repository root (tests/tools/mkcerts.sh)\n");
		return -1;
	}
	snprintf(pki, sizeof(pki), "/tmp/tandem-pdconf-XXXXXX");
	if (mkdtemp(pki) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "sh tests/tools/mkcerts.sh '%s'", pki);
	return system(cmd) == 0 ? 0 : -1;
}

static int
pki_teardown(void **state)
{
	(void)state;
	if (pki[0] != '\0')
		nftw(pki, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* A configuration whose second listener has `tls = { TLS }`; each '@' in
 * TLS stands for the PKI directory. */
static struct pd_config *
load_tls(const char *tls, struct conf_err *err)
{
	char body[2048], text[4096];
	size_t o = 0;

	for (const char *p = tls; *p != '\0' && o + sizeof(pki) + 1 < sizeof(body); p++) {
		if (*p == '@') {
			memcpy(body + o, pki, strlen(pki));
			o += strlen(pki);
		} else {
			body[o++] = *p;
		}
	}
	body[o] = '\0';
	snprintf(text, sizeof(text),
	    "listeners = (\n"
	    " { name = \"http\"; listen = \"127.0.0.1:18080\"; redirect_https = true; redirect_https_port = 18443; },\n"
	    " { name = \"https\"; listen = \"127.0.0.1:18443\";\n"
	    "   tls = {\n%s\n   }; }\n);\n"
	    "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:18101\"; } ); } );\n"
	    "tls_tickets = { rotate = \"10m\"; lifetime = \"30m\"; };\n", body);
	memset(err, 0, sizeof(*err));
	return config_load_string("t.conf", text, err);
}

static void
test_tls_listeners(void **state)
{
	static const struct { const char *tls; const char *prefix; const char *words; } bad[] = {
		/* the key of another certificate; line 4 is "tls = {" */
		{ "certificates = ( { cert = \"@/a-ecdsa.crt\"; key = \"@/mismatch.key\"; } );",
		  "t.conf:4:", "does not match" },
		{ "certificates = ( { cert = \"@/expired.crt\"; key = \"@/expired.key\"; } );",
		  "t.conf:4:", "expired" },
		{ "certificates = ( { cert = \"@/notyet.crt\"; key = \"@/notyet.key\"; } );",
		  "t.conf:4:", "notyet.crt" },
		{ "certificates = ( { cert = \"@/a-ecdsa.crt\"; key = \"@/a-ecdsa.key\"; ocsp = \"@/a-ecdsa.crt\"; } );",
		  "t.conf:4:", "OCSP" },
		{ "certificates = ( { cert = \"@/a-ecdsa.crt\"; key = \"@/a-ecdsa.key\"; } ); client_ca = \"@/nope.crt\";",
		  "t.conf:4:", "nope.crt" },
		{ "certificates = ( { cert = \"@/a-ecdsa.crt\"; key = \"@/a-ecdsa.key\"; } ); alpn = \"h2,,x\";",
		  "t.conf:4:", "" },
		{ "certificates = ( { cert = \"@/a-ecdsa.crt\"; key = \"@/a-ecdsa.key\"; } ); http2 = false; alpn = \"h2,http/1.1\";",
		  "t.conf:", "needs http2 = true" },
	};
	struct conf_err err;
	struct pd_config *c;
	const char *names[8];

	(void)state;
	c = load_tls("certificates = (\n"
	    "  { cert = \"@/a-ecdsa.crt\"; key = \"@/a-ecdsa.key\"; ocsp = \"@/a-ecdsa.ocsp\"; },\n"
	    "  { cert = \"@/a-rsa.crt\"; key = \"@/a-rsa.key\"; },\n"
	    "  { cert = \"@/b-wild.crt\"; key = \"@/b-wild.key\"; } );\n"
	    " client_ca = \"@/clientca.crt\"; client_cert = \"optional\";\n"
	    " alpn = \"http/1.1\"; session_timeout = \"2h\"; hsts = \"max-age=63072000\";", &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_true(c->has_tls);
	assert_int_equal(c->tls_rotate_ms, 600000);
	assert_int_equal(c->tls_lifetime_ms, 1800000);
	/* The plain listener redirects and carries no TLS. */
	assert_null(c->listeners[0].tls);
	assert_non_null(c->listeners[0].opts);
	assert_true(c->listeners[0].opts->redirect_https);
	assert_int_equal(c->listeners[0].opts->redirect_port, 18443);
	assert_int_equal(c->listeners[0].opts->hsts_len, 0);
	/* The TLS listener: both names, exact before wildcard; HSTS ready to send. */
	assert_non_null(c->listeners[1].tls);
	assert_int_equal(tls_server_names(c->listeners[1].tls, names, 8), 2);
	assert_string_equal(names[0], "a.test");
	assert_string_equal(names[1], "*.b.test");
	assert_non_null(c->listeners[1].opts);
	assert_string_equal(c->listeners[1].opts->hsts, "Strict-Transport-Security: max-age=63072000\r\n");
	assert_int_equal(c->listeners[1].opts->hsts_len, strlen(c->listeners[1].opts->hsts));
	assert_non_null(tls_tickets_shared());
	config_unref(c);

	/* An upstream over TLS, verified against the test root with SNI. */
	{
		char text[1024];
		snprintf(text, sizeof(text),
		    "listeners = ( { listen = \"127.0.0.1:18080\"; } );\n"
		    "upstreams = ( { name = \"a\"; tls = { ca = \"%s/root.crt\"; sni = \"a.test\"; };\n"
		    "  check = { type = \"tcp\"; }; servers = ( { address = \"127.0.0.1:18101\"; } ); } );\n", pki);
		c = config_load_string("t.conf", text, &err);
		if (c == NULL)
			fail_msg("%s", err.msg);
		assert_non_null(c->upstreams[0].tls);
		assert_false(c->has_tls);
		config_unref(c);
	}

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = load_tls(bad[i].tls, &err);
		if (c != NULL) {
			config_unref(c);
			fail_msg("TLS case %zu accepted", i);
		}
		if (strncmp(err.msg, bad[i].prefix, strlen(bad[i].prefix)) != 0 || strstr(err.msg, bad[i].words) == NULL)
			fail_msg("TLS case %zu: got \"%s\", want prefix \"%s\" with \"%s\"", i, err.msg, bad[i].prefix,
			    bad[i].words);
	}
}

static void
test_quick_mode_tls(void **state)
{
	struct conf_err err;
	struct pd_config *c;
	char crt[128], key[128], bad[128];

	(void)state;
	snprintf(crt, sizeof(crt), "%s/a-ecdsa.crt", pki);
	snprintf(key, sizeof(key), "%s/a-ecdsa.key", pki);
	snprintf(bad, sizeof(bad), "%s/mismatch.key", pki);
	/* TLS alone, and beside a plain listener. */
	c = config_quick_tls(NULL, "127.0.0.1:18443", crt, key, "127.0.0.1:18101", 1, 0, &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->nlisteners, 1);
	assert_non_null(c->listeners[0].tls);
	assert_true(c->has_tls);
	config_unref(c);
	c = config_quick_tls("127.0.0.1:18080", "127.0.0.1:18443", crt, key, "127.0.0.1:18101", 1, 0, &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(c->nlisteners, 2);
	assert_null(c->listeners[0].tls);
	assert_non_null(c->listeners[1].tls);
	config_unref(c);
	assert_null(config_quick_tls(NULL, "127.0.0.1:18443", crt, bad, "127.0.0.1:18101", 1, 0, &err));
	assert_non_null(strstr(err.msg, "quick-tls"));
	assert_non_null(strstr(err.msg, "does not match"));
	assert_null(config_quick_tls(NULL, "127.0.0.1:18443", NULL, NULL, "127.0.0.1:18101", 1, 0, &err));
	assert_non_null(strstr(err.msg, "--cert"));
	assert_null(config_quick_tls("127.0.0.1:18443", "127.0.0.1:18443", crt, key, "127.0.0.1:18101", 1, 0, &err));
	assert_non_null(strstr(err.msg, "same address"));
	assert_null(config_quick_tls(NULL, NULL, NULL, NULL, "127.0.0.1:18101", 1, 0, &err));
}

static void
test_admin_shared_state(void **state)
{
	struct conf_err err;
	struct pd_config *c1, *c2;

	(void)state;
	c1 = config_load_string("t.conf", BASE, &err);
	assert_non_null(c1);
	/* Operator state outlives a reload: the same server in the next
	 * generation shares it. */
	assert_int_equal(srvstate_set("a", "s1", PD_SRV_DRAIN, 7), 0);
	c2 = config_load_string("t.conf", BASE, &err);
	assert_non_null(c2);
	assert_ptr_equal(c1->upstreams[0].servers[0].shared, c2->upstreams[0].servers[0].shared);
	assert_int_equal(atomic_load(&c2->upstreams[0].servers[0].shared->state), PD_SRV_DRAIN);
	assert_int_equal(atomic_load(&c2->upstreams[0].servers[0].shared->weight_override), 7);
	assert_int_equal(srvstate_set("a", "nope", PD_SRV_READY, -1), -1);
	assert_int_equal(srvstate_set("a", "s1", PD_SRV_READY, -1), 0);
	config_unref(c1);
	config_unref(c2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_good_snippets),
		cmocka_unit_test(test_bad_snippets),
		cmocka_unit_test(test_quick_mode),
		cmocka_unit_test(test_quick_mode_server_bound),
		cmocka_unit_test(test_quick_mode_compress),
		cmocka_unit_test(test_compress_settings),
		cmocka_unit_test(test_compress_enabled_default),
		cmocka_unit_test(test_http2_settings),
		cmocka_unit_test(test_admin_shared_state),
		cmocka_unit_test(test_tls_listeners),
		cmocka_unit_test(test_quick_mode_tls),
	};
	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
