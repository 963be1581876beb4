/*
 * tests/unit/test_httpget.c — the request line of the admin HTTP listeners
 * (lib/httpget.c httpget_parse, proxyd's and hacd's) as a table: (bytes) -> path or refusal.
 *
 * Every input sits in a heap buffer of exactly its length with no NUL after
 * it, as the listener's input buffer holds it, so a parser that reads past
 * the bytes it was given (sscanf, strchr) trips ASan in the SAN build.
 * The listener itself runs in tests/integration/test_proxyd_guard.sh (proxyd)
 * and test_ha.sh (hacd).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/httpget.h"

struct get_case {
	const char *in;
	size_t len;            /* 0: strlen(in) */
	const char *path;      /* NULL: refused */
};

static const struct get_case cases[] = {
	{ "GET /metrics HTTP/1.1\r\n\r\n", 0, "/metrics" },
	{ "GET /readyz HTTP/1.0\n\n", 0, "/readyz" },
	{ "GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 0, "/healthz" },
	{ "GET /metrics HTTP/1.1\r\n", 0, "/metrics" },          /* line ends at the edge */
	{ "GET /metrics HTTP/1.1\n", 0, "/metrics" },
	{ "GET /metrics HTTP/1.1", 0, NULL },                    /* no end of line at all */
	{ "GET /metrics\r\n\r\n", 0, NULL },                     /* no version */
	{ "GET /metrics HTTP/2.0\r\n\r\n", 0, NULL },
	{ "GET /metrics HTTP/1.11\r\n\r\n", 0, NULL },
	{ "GET /metrics HTTP/1.1 x\r\n\r\n", 0, NULL },
	{ "POST /metrics HTTP/1.1\r\n\r\n", 0, NULL },
	{ "GET  /metrics HTTP/1.1\r\n\r\n", 0, NULL },           /* empty target */
	{ "GET metrics HTTP/1.1\r\n\r\n", 0, NULL },             /* not origin-form */
	{ "GET /\0metrics HTTP/1.1\r\n\r\n", 26, NULL },         /* NUL in the target */
	{ "GET /", 0, NULL },
	{ "G", 0, NULL },
	{ "\n", 0, NULL },
};

static void
test_get_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct get_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		char *edge = malloc(len);
		char path[256] = "";
		int rc;

		assert_non_null(edge);
		memcpy(edge, c->in, len);
		rc = httpget_parse(edge, len, path, sizeof(path));
		free(edge);
		if (c->path == NULL && rc != -1)
			fail_msg("case %zu: accepted as \"%s\"", i, path);
		if (c->path != NULL && (rc != 0 || strcmp(path, c->path) != 0))
			fail_msg("case %zu: rc %d path \"%s\", want \"%s\"", i, rc, path, c->path);
	}
}

static void
test_get_long_path(void **state)
{
	/* A target that fills the path buffer is refused, not cut short. */
	char in[600], path[256];
	size_t n;

	(void)state;
	memcpy(in, "GET /", 5);
	memset(in + 5, 'a', 300);
	n = 305;
	memcpy(in + n, " HTTP/1.1\r\n\r\n", 13);
	n += 13;
	assert_int_equal(httpget_parse(in, n, path, sizeof(path)), -1);
	/* 255 bytes fit. */
	n = 5 + 254;
	memcpy(in + n, " HTTP/1.1\r\n\r\n", 13);
	n += 13;
	assert_int_equal(httpget_parse(in, n, path, sizeof(path)), 0);
	assert_int_equal(strlen(path), 255);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_table),
		cmocka_unit_test(test_get_long_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
