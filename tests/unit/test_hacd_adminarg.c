/*
 * tests/unit/test_hacd_adminarg.c — the server admin commands' arguments
 * (hacd/adminarg.c), as hactl and hacd/ctl.c both parse them.
 *
 * A table: (verb, arguments) -> (accepted with upstream, server, state and
 * weight) or (refused, with a substring of the reason).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hacd/adminarg.h"

#define DRAIN TANDEM__ADMIN_STATE__ADMIN_DRAIN
#define READY TANDEM__ADMIN_STATE__ADMIN_READY
#define MAINT TANDEM__ADMIN_STATE__ADMIN_MAINT

static const char long65[] =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/s";   /* 65-byte upstream */
static const char long64[] =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/s";    /* 64: the limit */

static const struct {
	const char *verb;
	size_t argc;
	const char *argv[3];
	const char *why;           /* NULL: accepted */
	const char *upstream, *server;
	int state;
	int64_t weight;
} cases[] = {
	{ "drain",  1, { "app/app2" },       NULL, "app", "app2", DRAIN, -1 },
	{ "enable", 1, { "app/app2" },       NULL, "app", "app2", READY, -1 },
	{ "maint",  1, { "api-v2/b_1.x" },   NULL, "api-v2", "b_1.x", MAINT, -1 },
	{ "weight", 2, { "app/app3", "5" },  NULL, "app", "app3", -1, 5 },
	{ "weight", 2, { "app/app3", "0" },  NULL, "app", "app3", -1, 0 },
	{ "weight", 2, { "app/app3", "256" }, NULL, "app", "app3", -1, 256 },
	{ "drain",  1, { long64 },           NULL, NULL, "s", DRAIN, -1 },
	{ "drain",  1, { long65 },           "names are", NULL, NULL, 0, 0 },
	{ "weight", 2, { "app/app3", "257" }, "a number 0..256", NULL, NULL, 0, 0 },
	{ "weight", 2, { "app/app3", "-1" }, "a number 0..256", NULL, NULL, 0, 0 },
	{ "weight", 2, { "app/app3", "+5" }, "a number 0..256", NULL, NULL, 0, 0 },
	{ "weight", 2, { "app/app3", "5x" }, "a number 0..256", NULL, NULL, 0, 0 },
	{ "weight", 2, { "app/app3", "" },   "a number 0..256", NULL, NULL, 0, 0 },
	{ "weight", 2, { "app/app3", "99999999999999999999" }, "a number 0..256", NULL, NULL, 0, 0 },
	{ "weight", 1, { "app/app3" },       "usage: weight UPSTREAM/SERVER N", NULL, NULL, 0, 0 },
	{ "drain",  0, { NULL },             "usage: drain UPSTREAM/SERVER", NULL, NULL, 0, 0 },
	{ "drain",  2, { "app/a", "x" },     "usage: drain UPSTREAM/SERVER", NULL, NULL, 0, 0 },
	{ "drain",  1, { "app" },            "expected UPSTREAM/SERVER", NULL, NULL, 0, 0 },
	{ "drain",  1, { "/app2" },          "names are", NULL, NULL, 0, 0 },
	{ "drain",  1, { "app/" },           "names are", NULL, NULL, 0, 0 },
	{ "drain",  1, { "a/b/c" },          "one '/'", NULL, NULL, 0, 0 },
	/* hacd's own entries (hactl drain NODE): no server command sets them. */
	{ "drain",  1, { "@node/n3" },       "hacd's", NULL, NULL, 0, 0 },
	{ "enable", 1, { "@x/y" },           "hacd's", NULL, NULL, 0, 0 },
	{ "drain",  1, { "a b/c" },          "names are", NULL, NULL, 0, 0 },
	{ "drain",  1, { "a/c\x01" },        "names are", NULL, NULL, 0, 0 },
	{ "drain",  1, { "a/c\xc3\xa9" },    "names are", NULL, NULL, 0, 0 },
	{ "ready",  1, { "app/app2" },       "unknown admin command", NULL, NULL, 0, 0 },
	{ NULL,     1, { "app/app2" },       "unknown admin command", NULL, NULL, 0, 0 },
};

static void test_table(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct adminarg a;
		char msg[300] = "";
		int rc = adminarg_parse(cases[i].verb, cases[i].argc, (char *const *)cases[i].argv, &a,
		    msg, sizeof(msg));

		if (cases[i].why != NULL) {
			if (rc != -1)
				fail_msg("case %zu (%s %s): accepted, want \"%s\"", i, cases[i].verb ? cases[i].verb : "NULL",
				    cases[i].argv[0] ? cases[i].argv[0] : "", cases[i].why);
			if (strstr(msg, cases[i].why) == NULL)
				fail_msg("case %zu: message \"%s\", want \"%s\"", i, msg, cases[i].why);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu (%s %s): refused: %s", i, cases[i].verb, cases[i].argv[0], msg);
		if (cases[i].upstream != NULL)
			assert_string_equal(a.upstream, cases[i].upstream);
		assert_string_equal(a.server, cases[i].server);
		assert_int_equal(a.state, cases[i].state);
		assert_int_equal(a.weight, cases[i].weight);
	}
}

static void test_verbs_and_names(void **unused)
{
	(void)unused;
	assert_true(adminarg_is_verb("drain"));
	assert_true(adminarg_is_verb("enable"));
	assert_true(adminarg_is_verb("maint"));
	assert_true(adminarg_is_verb("weight"));
	assert_false(adminarg_is_verb("admin"));
	assert_false(adminarg_is_verb("status"));
	assert_false(adminarg_is_verb(NULL));
	assert_string_equal(adminarg_state_str(READY), "ready");
	assert_string_equal(adminarg_state_str(DRAIN), "drain");
	assert_string_equal(adminarg_state_str(MAINT), "maint");
	assert_string_equal(adminarg_state_str(-1), "?");
	assert_string_equal(adminarg_state_str(3), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_verbs_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
