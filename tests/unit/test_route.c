/*
 * tests/unit/test_route.c — proxyd/route: matching in declared order, weighted
 * splits and path rewrites, as tables.
 *
 * Routes are built the way proxyd/config.c builds them (route_set_path compiles
 * the regex), over requests described by plain strings; the header condition
 * goes through the same has_header callback shape the proxy uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "proxyd/route.h"

/* ---- host patterns -------------------------------------------------------- */

struct host_case { const char *pat, *host; int want; };

static const struct host_case host_cases[] = {
	{ "example.com", "example.com", 1 },
	{ "example.com", "EXAMPLE.com", 1 },        /* case-insensitive (RFC 9110 §4.2.3) */
	{ "example.com", "www.example.com", 0 },
	{ "example.com", "example.co", 0 },
	{ "example.com", "", 0 },
	{ "*.example.com", "a.example.com", 1 },
	{ "*.example.com", "a.b.example.com", 1 },
	{ "*.example.com", "A.Example.COM", 1 },
	{ "*.example.com", "example.com", 0 },      /* the wildcard needs a label */
	{ "*.example.com", ".example.com", 0 },
	{ "*.example.com", "aexample.com", 0 },
	{ "*.example.com", "a.example.com.evil", 0 },
};

static void
test_host_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
		const struct host_case *c = &host_cases[i];
		int got = route_host_match(c->pat, c->host, strlen(c->host));
		if (got != c->want)
			fail_msg("case %zu: %s vs %s: got %d want %d", i, c->pat, c->host, got, c->want);
	}
}

/* Host values as sent (Host field or absolute-form authority) against patterns,
 * through route_host_key() as proxyd does: the port and one trailing dot never
 * take a request past a host route and its access rules. */
static const struct host_case host_key_cases[] = {
	{ "internal.example.com", "internal.example.com.", 1 },
	{ "internal.example.com", "INTERNAL.Example.com.:8080", 1 },
	{ "internal.example.com", "internal.example.com:", 1 },
	{ "*.example.com", "a.example.com.", 1 },
	{ "*.example.com", "a.example.com.:443", 1 },
	{ "example.com", "example.com..", 0 },      /* the parser refuses it anyway */
	{ "[::1]", "[::1]:80", 1 },
	{ "example.com", "", 0 },
};

static void
test_host_key(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(host_key_cases) / sizeof(host_key_cases[0]); i++) {
		const struct host_case *c = &host_key_cases[i];
		size_t k = route_host_key(c->host, strlen(c->host));
		int got = route_host_match(c->pat, c->host, k);
		if (got != c->want)
			fail_msg("case %zu: %s vs %s (key %zu): got %d want %d", i, c->pat, c->host, k, got, c->want);
	}
	assert_int_equal(route_host_key(".", 1), 1);
}

/* ---- a route table -------------------------------------------------------- */

static char *
xs(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char **
strv(const char *a, const char *b, size_t *n)
{
	char **v = calloc(2, sizeof(char *));
	*n = 0;
	if (a) v[(*n)++] = strdup(a);
	if (b) v[(*n)++] = strdup(b);
	return v;
}

struct rdef {
	const char *name;
	const char *host1, *host2;
	enum route_path_kind pk;
	const char *path;
	const char *m1, *m2;
	const char *hname, *hvalue;
};

/* Declared order matters: "api-post" must win over "api" for POST, and
 * "catch-all" only gets what nothing else took. */
static const struct rdef table[] = {
	{ "exact", "example.com", NULL, ROUTE_PATH_EXACT, "/login", NULL, NULL, NULL, NULL },
	{ "api-post", "*.example.com", NULL, ROUTE_PATH_PREFIX, "/api/", "POST", "PUT", NULL, NULL },
	{ "api", "*.example.com", "example.com", ROUTE_PATH_PREFIX, "/api/", NULL, NULL, NULL, NULL },
	{ "images", NULL, NULL, ROUTE_PATH_REGEX, "^/img/[0-9]+\\.(png|jpg)$", "GET", NULL, NULL, NULL },
	{ "canary", NULL, NULL, ROUTE_PATH_ANY, NULL, NULL, NULL, "x-canary", "1" },
	{ "has-debug", NULL, NULL, ROUTE_PATH_PREFIX, "/debug", NULL, NULL, "x-debug", NULL },
	{ "catch-all", NULL, NULL, ROUTE_PATH_ANY, NULL, NULL, NULL, NULL, NULL },
};
#define NROUTES (sizeof(table) / sizeof(table[0]))

static struct route routes[NROUTES];

static int
setup_routes(void **state)
{
	char err[256];

	(void)state;
	memset(routes, 0, sizeof(routes));
	for (size_t i = 0; i < NROUTES; i++) {
		const struct rdef *d = &table[i];
		struct route *r = &routes[i];
		r->name = xs(d->name);
		if (d->host1)
			r->hosts = strv(d->host1, d->host2, &r->nhosts);
		if (d->m1)
			r->methods = strv(d->m1, d->m2, &r->nmethods);
		if (d->pk != ROUTE_PATH_ANY && route_set_path(r, d->pk, d->path, err, sizeof(err)) == -1)
			fail_msg("route %s: %s", d->name, err);
		if (d->hname) {
			r->hdrs = calloc(1, sizeof(*r->hdrs));
			r->hdrs[0].name = xs(d->hname);
			r->hdrs[0].value = xs(d->hvalue);
			r->nhdrs = 1;
		}
	}
	return 0;
}

static int
teardown_routes(void **state)
{
	(void)state;
	for (size_t i = 0; i < NROUTES; i++)
		route_fini(&routes[i]);
	return 0;
}

/* Request headers as "name: value" lines, names lowercase. */
static int
has_header(void *ctx, const char *name, const char *value)
{
	const char *const *h = ctx;
	size_t nl = strlen(name);

	for (; h != NULL && *h != NULL; h++) {
		const char *colon = strchr(*h, ':');
		if ((size_t)(colon - *h) != nl || strncasecmp(*h, name, nl) != 0)
			continue;
		if (value == NULL || strcmp(colon + 2, value) == 0)
			return 1;
	}
	return 0;
}

struct match_case {
	const char *method, *host, *path;
	const char *h1;
	const char *want;   /* route name, NULL for no match */
};

static const struct match_case match_cases[] = {
	{ "GET", "example.com", "/login", NULL, "exact" },
	{ "GET", "example.com", "/login/", NULL, "catch-all" },       /* exact is exact */
	{ "GET", "other.org", "/login", NULL, "catch-all" },          /* host must match */
	{ "POST", "a.example.com", "/api/users", NULL, "api-post" },
	{ "PUT", "a.example.com", "/api/users", NULL, "api-post" },
	{ "GET", "a.example.com", "/api/users", NULL, "api" },        /* method list */
	{ "POST", "example.com", "/api/users", NULL, "api" },         /* wildcard skips the apex */
	{ "GET", "example.com", "/api", NULL, "catch-all" },          /* prefix "/api/" */
	{ "GET", "x.org", "/img/42.png", NULL, "images" },
	{ "GET", "x.org", "/img/42.gif", NULL, "catch-all" },
	{ "GET", "x.org", "/img/42.png/x", NULL, "catch-all" },       /* anchored regex */
	{ "HEAD", "x.org", "/img/42.png", NULL, "catch-all" },
	{ "GET", "x.org", "/", "x-canary: 1", "canary" },
	{ "GET", "x.org", "/", "x-canary: 2", "catch-all" },           /* header value exact */
	{ "GET", "x.org", "/debug/vars", "x-debug: anything", "has-debug" },
	{ "GET", "x.org", "/debug/vars", NULL, "catch-all" },          /* header presence */
	{ "GET", "", "/", NULL, "catch-all" },
};

static void
test_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		const char *hdrs[2] = { c->h1, NULL };
		struct route_req q = {
			.method = c->method, .method_len = strlen(c->method),
			.host = c->host, .host_len = strlen(c->host),
			.path = c->path, .path_len = strlen(c->path),
			.has_header = has_header, .ctx = (void *)hdrs,
		};
		int got = route_match(routes, NROUTES, &q);
		const char *gname = got < 0 ? NULL : routes[got].name;
		if ((gname == NULL) != (c->want == NULL) || (gname && strcmp(gname, c->want) != 0))
			fail_msg("case %zu: %s %s%s: got %s want %s", i, c->method, c->host, c->path,
			    gname ? gname : "(none)", c->want ? c->want : "(none)");
	}
}

static void
test_no_match(void **state)
{
	struct route_req q = { .method = "GET", .method_len = 3, .host = "x", .host_len = 1,
		.path = "/", .path_len = 1 };

	(void)state;
	/* Without the catch-all nothing takes "/" on host x: -1 means 404. */
	assert_int_equal(route_match(routes, NROUTES - 1, &q), -1);
}

static void
test_regex_not_nul_terminated(void **state)
{
	/* The path points into a request buffer: the byte after it is not NUL. */
	char buf[] = "/img/7.pngXXXX";
	struct route_req q = { .method = "GET", .method_len = 3, .host = "h", .host_len = 1,
		.path = buf, .path_len = 10 };

	(void)state;
	assert_int_equal(route_match(routes, NROUTES, &q), 3);
	q.path_len = 11;
	assert_int_equal(route_match(routes, NROUTES, &q), (int)NROUTES - 1);
}

static void
test_bad_regex(void **state)
{
	struct route r;
	char err[256];

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(route_set_path(&r, ROUTE_PATH_REGEX, "^/(unclosed", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad regex"));
	route_fini(&r);
}

/* ---- weighted split -------------------------------------------------------- */

struct split_case { uint32_t rnd; int want; };

static void
test_split(void **state)
{
	struct route_split sp[3] = { { 0, 90 }, { 1, 10 }, { 2, 0 } };
	struct route r;
	static const struct split_case cases[] = {
		{ 0, 0 }, { 89, 0 }, { 90, 1 }, { 99, 1 }, { 100, 0 }, { 189, 0 }, { 190, 1 },
		{ UINT32_MAX, (int)(UINT32_MAX % 100 < 90 ? 0 : 1) },
	};
	int count[3] = { 0 };

	(void)state;
	memset(&r, 0, sizeof(r));
	r.splits = sp;
	r.nsplits = 3;
	r.split_total = 100;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (route_pick_upstream(&r, cases[i].rnd) != cases[i].want)
			fail_msg("rnd %u: got %d want %d", cases[i].rnd, route_pick_upstream(&r, cases[i].rnd), cases[i].want);
	/* Over a full cycle of rnd the shares are exactly the weights, and a
	 * weight-0 upstream is never chosen. */
	for (uint32_t x = 0; x < 1000; x++)
		count[route_pick_upstream(&r, x)]++;
	assert_int_equal(count[0], 900);
	assert_int_equal(count[1], 100);
	assert_int_equal(count[2], 0);
	/* No weight at all: no upstream. */
	r.split_total = 0;
	assert_int_equal(route_pick_upstream(&r, 5), -1);
}

/* ---- rewrite ---------------------------------------------------------------- */

struct rw_case { const char *prefix, *replace, *in, *want; };

static const struct rw_case rw_cases[] = {
	{ "/api", NULL, "/api/users", "/users" },           /* strip */
	{ "/api", NULL, "/api/users?x=1", "/users?x=1" },   /* the query rides along */
	{ "/api", NULL, "/api", "/" },                      /* never an empty path */
	{ "/api", NULL, "/api?x=1", "/?x=1" },
	{ "/api/", NULL, "/api/users", "/users" },
	{ "/old", "/new", "/old/page", "/new/page" },       /* replace */
	{ "/old", "/new/", "/old/page", "/new/page" },      /* no doubled slash at the seam */
	{ "/old", "new", "/old/page", "/new/page" },        /* a leading slash is added */
	{ "/old", "/", "/old/page", "/page" },
	{ "/old", "/new", "/other/old", NULL },             /* prefix only at the start */
	{ "/old", "/new", "/ol", NULL },
};

static void
test_rewrite(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rw_cases) / sizeof(rw_cases[0]); i++) {
		const struct rw_case *c = &rw_cases[i];
		struct route r;
		char out[256];
		int n;
		memset(&r, 0, sizeof(r));
		r.rw_prefix = (char *)c->prefix;
		r.rw_replace = (char *)c->replace;
		n = route_rewrite(&r, c->in, strlen(c->in), out, sizeof(out));
		if (c->want == NULL) {
			if (n != 0)
				fail_msg("case %zu: %s rewritten to %.*s, want unchanged", i, c->in, n, out);
			continue;
		}
		if (n <= 0 || (size_t)n != strlen(c->want) || memcmp(out, c->want, (size_t)n) != 0)
			fail_msg("case %zu: %s -> %.*s, want %s", i, c->in, n > 0 ? n : 0, out, c->want);
	}
}

static void
test_rewrite_too_small(void **state)
{
	struct route r;
	char out[4];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.rw_prefix = (char *)"/a";
	r.rw_replace = (char *)"/longer";
	assert_int_equal(route_rewrite(&r, "/a/b", 4, out, sizeof(out)), -1);
	/* No rewrite configured: 0, forward unchanged. */
	r.rw_prefix = NULL;
	assert_int_equal(route_rewrite(&r, "/a/b", 4, out, sizeof(out)), 0);
}

/* ---- guards: access control, methods, body size --------------------------- */

struct acl_case {
	const char *allow[3], *deny[3];   /* NULL-terminated prefix lists */
	const char *client;               /* IPv4 or IPv6 literal */
	int want;
};

static const struct acl_case acl_cases[] = {
	{ { NULL }, { NULL }, "192.0.2.1", 1 },                                   /* no lists: everyone */
	{ { NULL }, { "192.0.2.0/24", NULL }, "192.0.2.77", 0 },                  /* denied prefix */
	{ { NULL }, { "192.0.2.0/24", NULL }, "192.0.3.1", 1 },
	{ { "10.0.0.0/8", NULL }, { NULL }, "10.200.1.1", 1 },                    /* allow list */
	{ { "10.0.0.0/8", NULL }, { NULL }, "11.0.0.1", 0 },                      /* not in it */
	{ { "10.0.0.0/8", NULL }, { "10.0.66.0/24", NULL }, "10.0.66.5", 0 },     /* deny wins */
	{ { "10.0.0.0/8", NULL }, { "10.0.66.0/24", NULL }, "10.0.67.5", 1 },
	{ { "2001:db8::/32", NULL }, { NULL }, "2001:db8:1::9", 1 },              /* IPv6 */
	{ { "2001:db8::/32", NULL }, { NULL }, "2001:db9::1", 0 },
	{ { "2001:db8::/32", NULL }, { NULL }, "10.0.0.1", 0 },                   /* family mismatch */
	{ { NULL }, { "::/0", NULL }, "2001:db8::1", 0 },
	{ { NULL }, { "::/0", NULL }, "192.0.2.1", 1 },                           /* v6 prefix, v4 client */
	{ { NULL }, { "0.0.0.0/0", NULL }, "192.0.2.1", 0 },
	{ { "192.0.2.7", NULL }, { NULL }, "192.0.2.7", 1 },                      /* bare address = /32 */
	{ { "192.0.2.7", NULL }, { NULL }, "192.0.2.8", 0 },
};

static void
test_client_acl(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(acl_cases) / sizeof(acl_cases[0]); i++) {
		const struct acl_case *c = &acl_cases[i];
		struct net_cidr allow[3], deny[3];
		struct route r;
		uint8_t addr[16];
		int fam = strchr(c->client, ':') ? AF_INET6 : AF_INET;

		memset(&r, 0, sizeof(r));
		for (; r.nallow < 3 && c->allow[r.nallow]; r.nallow++)
			assert_true(net_cidr_parse(c->allow[r.nallow], &allow[r.nallow]) >= 0);
		for (; r.ndeny < 3 && c->deny[r.ndeny]; r.ndeny++)
			assert_true(net_cidr_parse(c->deny[r.ndeny], &deny[r.ndeny]) >= 0);
		r.allow = allow;
		r.deny = deny;
		assert_int_equal(inet_pton(fam, c->client, addr), 1);
		if (route_client_allowed(&r, fam, addr) != c->want)
			fail_msg("case %zu: client %s: got %d want %d", i, c->client, !c->want, c->want);
	}
}

static void
test_method_allowed(void **state)
{
	char *m[2] = { (char *)"GET", (char *)"HEAD" };
	struct route r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(route_method_allowed(&r, "DELETE", 6), 1);     /* no list: any method */
	r.allow_methods = m;
	r.nallow_methods = 2;
	assert_int_equal(route_method_allowed(&r, "GET", 3), 1);
	assert_int_equal(route_method_allowed(&r, "HEAD", 4), 1);
	assert_int_equal(route_method_allowed(&r, "POST", 4), 0);
	assert_int_equal(route_method_allowed(&r, "get", 3), 0);        /* RFC 9110 §9.1: case-sensitive */
	assert_int_equal(route_method_allowed(&r, "GETX", 3), 1);       /* length given: "GET" */
	assert_int_equal(route_method_allowed(&r, "GE", 2), 0);         /* a prefix is not the method */
}

static void
test_body_limit(void **state)
{
	static const struct { uint64_t limit, seen; int want; } cases[] = {
		{ 0, 0, 0 }, { 0, UINT64_MAX, 0 },        /* no limit */
		{ 1024, 0, 0 }, { 1024, 1024, 0 },        /* at the limit is allowed */
		{ 1024, 1025, 1 }, { 1, 2, 1 }, { 1024, UINT64_MAX, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (route_body_too_large(cases[i].limit, cases[i].seen) != cases[i].want)
			fail_msg("case %zu: limit %llu seen %llu", i, (unsigned long long)cases[i].limit,
			    (unsigned long long)cases[i].seen);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_match),
		cmocka_unit_test(test_host_key),
		cmocka_unit_test_setup_teardown(test_match_table, setup_routes, teardown_routes),
		cmocka_unit_test_setup_teardown(test_no_match, setup_routes, teardown_routes),
		cmocka_unit_test_setup_teardown(test_regex_not_nul_terminated, setup_routes, teardown_routes),
		cmocka_unit_test(test_bad_regex),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_rewrite),
		cmocka_unit_test(test_rewrite_too_small),
		cmocka_unit_test(test_client_acl),
		cmocka_unit_test(test_method_allowed),
		cmocka_unit_test(test_body_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
