/*
 * tests/unit/test_hcheck.c — the verdict of an HTTP health check
 * (proxyd/hcheck.c hc_judge_http) as a table: (answer bytes, eof, expected
 * status range, expected body) -> pass / fail / read more.
 *
 * The checker itself (connects, timers, publication to workers) runs against
 * real backends in tests/integration/test_proxyd_guard.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/hcheck.h"

struct judge_case {
	const char *answer;
	int eof;
	uint16_t lo, hi;
	const char *body;      /* expect_body, NULL = any */
	int want;              /* 1 pass, 0 fail, -1 read more */
	const char *why;       /* part of the reason for a fail */
};

static const struct judge_case cases[] = {
	{ "HTTP/1.1 200 OK\r\n", 0, 200, 399, NULL, 1, NULL },               /* status line is enough */
	{ "HTTP/1.0 302 Found\r\n", 0, 200, 399, NULL, 1, NULL },
	{ "HTTP/1.1 503 Service Unavailable\r\n", 0, 200, 399, NULL, 0, "status 503" },
	{ "HTTP/1.1 199 X\r\n", 0, 200, 399, NULL, 0, "status 199" },
	{ "HTTP/1.1 204 No Content\r\n", 0, 204, 204, NULL, 1, NULL },         /* a single status */
	{ "HTTP/1.1 200 OK", 0, 200, 399, NULL, -1, NULL },                  /* line not complete */
	{ "HTTP/1.1 200 OK", 1, 200, 399, NULL, 0, "no status line" },       /* ... and never will be */
	{ "", 1, 200, 399, NULL, 0, "closed without an answer" },
	{ "HTTP/2 200\r\n", 0, 200, 399, NULL, 0, "malformed" },
	{ "HTTP/1.1 2000 OK\r\n", 0, 200, 399, NULL, 0, "malformed" },
	{ "HTTP/1.1 200OK\r\n", 0, 200, 399, NULL, 0, "malformed" },
	{ "HTTP/1.1 200\r\n", 0, 200, 399, NULL, 1, NULL },                   /* no reason phrase */
	{ "SSH-2.0-OpenSSH\r\n", 0, 200, 399, NULL, 0, "malformed" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, 200, 399, "ok", 1, NULL },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nstatus: ", 0, 200, 399, "ok", -1, NULL },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nstatus: bad", 1, 200, 399, "ok", 0, "body without" },
	{ "HTTP/1.1 200 OK\r\nX-State: ok\r\n\r\nbad", 1, 200, 399, "ok", 0, "body without" }, /* headers don't count */
	{ "HTTP/1.1 200 OK\r\nX: y\r\n", 0, 200, 399, "ok", -1, NULL },      /* head not complete */
	{ "HTTP/1.1 200 OK\r\nX: y\r\n", 1, 200, 399, "ok", 0, "truncated" },
	{ "HTTP/1.1 500 Oops\r\n\r\nok", 1, 200, 399, "ok", 0, "status 500" }, /* status first */
	/* Strict digits: sscanf's %u took a sign and skipped blanks. */
	{ "HTTP/1.1 +20 OK\r\n", 0, 100, 599, NULL, 0, "malformed" },
	{ "HTTP/1.1  200 OK\r\n", 0, 200, 399, NULL, 0, "malformed" },
	{ "HTTP/1.1 -200 OK\r\n", 0, 0, 599, NULL, 0, "malformed" },
	{ "HTTP/1.x 200 OK\r\n", 0, 200, 399, NULL, 0, "malformed" },
	{ "HTTP/1.1 200\tOK\r\n", 0, 200, 399, NULL, 0, "malformed" },
	{ "HTTP/1.1 20\r\n", 0, 0, 599, NULL, 0, "malformed" },
	{ "HTTP/1.1\r\n200 OK\r\n", 0, 200, 399, NULL, 0, "malformed" },
	{ "HTTP/1.1 200 \r\n", 0, 200, 399, NULL, 1, NULL },                 /* empty reason */
	{ "HTTP/1.1 200", 1, 200, 399, NULL, 0, "no status line" },          /* ends at the edge */
	/* Blanks up to the end of the line and of the buffer: sscanf's " "
	 * skipped the CRLF and went on reading past the last byte. */
	{ "HTTP/1.1      \r\n", 0, 200, 399, NULL, 0, "malformed" },
	{ "HTTP/1.1 200 OK\r\n  \r\n", 0, 200, 399, NULL, 1, NULL },
};

static void
test_judge_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct judge_case *c = &cases[i];
		struct pd_check k;
		char why[80] = "";
		int got;

		memset(&k, 0, sizeof(k));
		k.type = PD_CHECK_HTTP;
		k.status_lo = c->lo;
		k.status_hi = c->hi;
		k.expect_body = (char *)c->body;
		/* The answer sits in a buffer of exactly its length with no
		 * NUL after it, as the probe's input buffer holds it: a parser
		 * that reads on to a NUL (sscanf, strtol) trips ASan here. */
		size_t len = strlen(c->answer);
		char *edge = malloc(len ? len : 1);
		assert_non_null(edge);
		memcpy(edge, c->answer, len);
		got = hc_judge_http(&k, edge, len, c->eof, why, sizeof(why));
		free(edge);
		if (got != c->want)
			fail_msg("case %zu: got %d want %d (%s)", i, got, c->want, why);
		if (c->why != NULL && strstr(why, c->why) == NULL)
			fail_msg("case %zu: reason \"%s\", want \"%s\"", i, why, c->why);
	}
}

static void
test_judge_bounded(void **state)
{
	/* A server that streams forever without the expected body: decided
	 * once HC_MAX_READ bytes are in, never "read more" past that. */
	size_t head = strlen("HTTP/1.1 200 OK\r\n\r\n");
	char *big = malloc(HC_MAX_READ);
	struct pd_check k;
	char why[80];

	(void)state;
	assert_non_null(big);
	memset(big, 'x', HC_MAX_READ);
	memcpy(big, "HTTP/1.1 200 OK\r\n\r\n", head);
	memset(&k, 0, sizeof(k));
	k.status_lo = 200;
	k.status_hi = 399;
	k.expect_body = (char *)"needle";
	assert_int_equal(hc_judge_http(&k, big, HC_MAX_READ - 1, 0, why, sizeof(why)), -1);
	assert_int_equal(hc_judge_http(&k, big, HC_MAX_READ, 0, why, sizeof(why)), 0);
	memcpy(big + HC_MAX_READ - 6, "needle", 6);
	assert_int_equal(hc_judge_http(&k, big, HC_MAX_READ, 0, why, sizeof(why)), 1);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge_table),
		cmocka_unit_test(test_judge_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
