/*
 * tests/unit/test_compress_conf.c — proxyd/compress_conf: the compression
 * settings of proxyd.conf, good and bad.
 *
 * Snippets are loaded with lib/conf as proxyd/config.c loads a file, the
 * "compression" block read from the root and each route's "compress" from
 * its group, the way config.c will call them. Bad snippets must be refused
 * with "t.conf:LINE:" and the words that say what is wrong: the line is
 * part of the contract (an operator's editor jumps to it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/compress_conf.h"
#include "proxyd/compress_rule.h"

#define MAXR 4

struct parsed {
	struct conf cf;
	struct compress_global_conf g;
	struct compress_route_conf r[MAXR];
	int nr;
	struct conf_err err;
};

/* Parse text; 0 or -1 (p->err set). Everything is freed by done(). */
static int
parse(struct parsed *p, const char *text)
{
	const config_setting_t *routes;

	memset(p, 0, sizeof(*p));
	if (conf_load_string(&p->cf, "t.conf", text, &p->err) == -1)
		fail_msg("syntax: %s", p->err.msg);
	if (compress_conf_parse_global(&p->g, conf_root(&p->cf), &p->err) == -1)
		return -1;
	routes = config_setting_get_member(conf_root(&p->cf), "routes");
	for (int i = 0; routes != NULL && i < config_setting_length(routes) && i < MAXR; i++) {
		const config_setting_t *r = config_setting_get_elem(routes, (unsigned)i);
		const char *name = "unnamed";
		config_setting_lookup_string(r, "name", &name);
		p->nr = i + 1;
		if (compress_conf_parse_route(&p->r[i], &p->g, r, name, &p->err) == -1)
			return -1;
	}
	return 0;
}

static void
done(struct parsed *p)
{
	for (int i = 0; i < p->nr; i++)
		compress_route_conf_fini(&p->r[i]);
	compress_global_conf_fini(&p->g);
	conf_free(&p->cf);
}

static void
test_defaults(void **state)
{
	struct parsed p;

	(void)state;
	assert_int_equal(parse(&p, "routes = ( { name = \"a\"; }, { name = \"b\"; compress = true; },\n"
	    "{ name = \"c\"; compress = false; } );\n"), 0);
	assert_int_equal(p.g.max_streams, COMPRESS_DEFAULT_MAX_STREAMS);
	assert_int_equal(p.g.defaults.nprefer, 3);
	assert_int_equal(p.g.defaults.prefer[0], COMPRESS_ZSTD);
	assert_int_equal(p.g.defaults.prefer[1], COMPRESS_BR);
	assert_int_equal(p.g.defaults.prefer[2], COMPRESS_GZIP);
	assert_int_equal(p.r[0].enabled, 0);                 /* absent: off */
	assert_int_equal(p.r[1].enabled, 1);
	assert_int_equal(p.r[2].enabled, 0);
	assert_int_equal(p.r[1].level[COMPRESS_GZIP], 6);
	assert_int_equal(p.r[1].level[COMPRESS_BR], 4);
	assert_int_equal(p.r[1].level[COMPRESS_ZSTD], 3);
	assert_int_equal(p.r[1].min_length, 256);
	assert_ptr_equal(p.r[1].types, compress_default_types);
	assert_int_equal(p.r[1].ntypes, compress_default_ntypes);
	done(&p);
}

/* A global block sets the defaults every route starts from; a route's
 * block overrides key by key. */
static void
test_global_and_route(void **state)
{
	static const char text[] =
	    "compression = {\n"
	    "  prefer = [ \"br\", \"gzip\" ];\n"
	    "  max_streams = 8;\n"
	    "  types = [ \"text/*\", \"application/wasm\" ];\n"
	    "  min_length = \"1k\";\n"
	    "  levels = { gzip = 5; br = 3; };\n"
	    "};\n"
	    "routes = (\n"
	    "  { name = \"plain\"; compress = true; },\n"
	    "  { name = \"api\"; compress = { prefer = [ \"zstd\", \"gzip\" ]; levels = { zstd = 7; };\n"
	    "      types = [ \"+json\" ]; min_length = 0; }; },\n"
	    "  { name = \"off\"; compress = { enabled = false; }; }\n"
	    ");\n";
	struct parsed p;

	(void)state;
	if (parse(&p, text) == -1)
		fail_msg("%s", p.err.msg);
	assert_int_equal(p.g.max_streams, 8);
	/* plain: the global block's settings */
	assert_int_equal(p.r[0].enabled, 1);
	assert_int_equal(p.r[0].nprefer, 2);
	assert_int_equal(p.r[0].prefer[0], COMPRESS_BR);
	assert_int_equal(p.r[0].prefer[1], COMPRESS_GZIP);
	assert_int_equal(p.r[0].level[COMPRESS_GZIP], 5);
	assert_int_equal(p.r[0].level[COMPRESS_BR], 3);
	assert_int_equal(p.r[0].level[COMPRESS_ZSTD], 3);   /* untouched default */
	assert_int_equal(p.r[0].min_length, 1024);
	assert_int_equal(p.r[0].ntypes, 2);
	assert_true(compress_type_match(p.r[0].types, p.r[0].ntypes, "application/wasm", 16));
	assert_false(compress_type_match(p.r[0].types, p.r[0].ntypes, "application/json", 16));
	/* api: its own */
	assert_int_equal(p.r[1].enabled, 1);
	assert_int_equal(p.r[1].nprefer, 2);
	assert_int_equal(p.r[1].prefer[0], COMPRESS_ZSTD);
	assert_int_equal(p.r[1].level[COMPRESS_ZSTD], 7);
	assert_int_equal(p.r[1].level[COMPRESS_GZIP], 5);    /* from the global block */
	assert_int_equal(p.r[1].min_length, 0);
	assert_int_equal(p.r[1].ntypes, 1);
	assert_true(compress_type_match(p.r[1].types, p.r[1].ntypes, "application/ld+json", 19));
	assert_false(compress_type_match(p.r[1].types, p.r[1].ntypes, "text/html", 9));
	/* off */
	assert_int_equal(p.r[2].enabled, 0);
	done(&p);
}

struct bad_case { const char *text; const char *prefix; const char *words; };

static const struct bad_case bad_cases[] = {
	{ "compression = {\n  prefer = [ \"gzip\", \"deflate\" ];\n};\n", "t.conf:2:", "unknown coding \"deflate\"" },
	{ "compression = {\n  prefer = [ \"gzip\", \"gzip\" ];\n};\n", "t.conf:2:", "named twice" },
	{ "compression = {\n  prefer = [ ];\n};\n", "t.conf:2:", "compression.prefer: empty list" },
	{ "compression = {\n  prefer = [ 1 ];\n};\n", "t.conf:2:", "expected a string" },
	{ "compression = {\n  prefer = \"gzip\";\n};\n", "t.conf:2:", "expected a list" },
	{ "compression = {\n  max_streams = -1;\n};\n", "t.conf:2:", "out of range" },
	{ "compression = {\n  max_streams = 1000000;\n};\n", "t.conf:2:", "out of range" },
	{ "compression = {\n  level = 5;\n};\n", "t.conf:2:", "unknown setting \"level\"" },
	{ "compression = {\n  levels = { gzip = 10; };\n};\n", "t.conf:2:", "compression.levels.gzip: 10 is out of range [1, 9]" },
	{ "compression = {\n  levels = { gzip = 0; };\n};\n", "t.conf:2:", "out of range" },
	{ "compression = {\n  levels = { br = 12; };\n};\n", "t.conf:2:", "levels.br: 12 is out of range [0, 11]" },
	{ "compression = {\n  levels = { zstd = 20; };\n};\n", "t.conf:2:", "levels.zstd: 20 is out of range [1, 19]" },
	{ "compression = {\n  levels = { zstd = \"3\"; };\n};\n", "t.conf:2:", "expected an integer" },
	{ "compression = {\n  levels = { deflate = 3; };\n};\n", "t.conf:2:", "unknown setting \"deflate\"" },
	{ "compression = {\n  types = [ \"*/*\" ];\n};\n", "t.conf:2:", "bad pattern \"*/*\"" },
	{ "compression = {\n  types = [ \"text\" ];\n};\n", "t.conf:2:", "bad pattern" },
	{ "compression = {\n  types = [ ];\n};\n", "t.conf:2:", "types: empty list" },
	{ "compression = {\n  min_length = \"1x\";\n};\n", "t.conf:2:", "min_length" },
	{ "compression = true;\n", "t.conf:1:", "expected a group" },
	{ "routes = (\n  { name = \"r\";\n    compress = 1; }\n);\n", "t.conf:3:",
	  "route \"r\": compress: expected true, false or a group" },
	{ "routes = (\n  { name = \"r\";\n    compress = { gzip = 5; }; }\n);\n", "t.conf:3:", "unknown setting \"gzip\"" },
	{ "routes = (\n  { name = \"r\"; compress = {\n    levels = { br = 99; }; }; }\n);\n", "t.conf:3:",
	  "route \"r\": compress.levels.br: 99 is out of range" },
	{ "routes = (\n  { name = \"r\"; compress = {\n    prefer = [ \"lzma\" ]; }; }\n);\n", "t.conf:3:",
	  "route \"r\": compress.prefer: unknown coding \"lzma\"" },
	{ "routes = (\n  { name = \"r\"; compress = {\n    types = [ \"image/*\", \"*\" ]; }; }\n);\n", "t.conf:3:",
	  "route \"r\": compress.types: bad pattern \"*\"" },
	{ "routes = (\n  { name = \"r\"; compress = {\n    enabled = \"yes\"; }; }\n);\n", "t.conf:3:", "expected a boolean" },
};

static void
test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct parsed p;

		if (parse(&p, c->text) == 0)
			fail_msg("case %zu: accepted:\n%s", i, c->text);
		if (strncmp(p.err.msg, c->prefix, strlen(c->prefix)) != 0 || strstr(p.err.msg, c->words) == NULL)
			fail_msg("case %zu: \"%s\", want %s ... %s", i, p.err.msg, c->prefix, c->words);
		done(&p);
	}
}

/* A route's own type list is its memory: fini frees it (ASan checks), and
 * a failed parse after it was set frees it too. */
static void
test_fini(void **state)
{
	struct parsed p;

	(void)state;
	assert_int_equal(parse(&p, "compression = { types = [ \"text/*\" ]; };\n"
	    "routes = ( { name = \"a\"; compress = { types = [ \"+json\" ]; min_length = \"1x\"; }; } );\n"), -1);
	done(&p);
	assert_int_equal(parse(&p, "compression = { types = [ \"text/*\" ]; };\n"
	    "routes = ( { name = \"a\"; compress = { types = [ \"+json\" ]; }; } );\n"), 0);
	assert_non_null(p.r[0].types_owned);
	assert_non_null(p.g.defaults.types_owned);
	done(&p);
	assert_int_equal(p.r[0].enabled, 0);
	assert_null(p.r[0].types_owned);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_global_and_route),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_fini),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
