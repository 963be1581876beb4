/*
 * tests/unit/test_conf.c — lib/conf: unit parsers and line-numbered errors.
 *
 * The parsers run from (string) -> (value | rejected) tables.  The loader
 * cases write real files into a mkdtemp directory and compare the whole
 * error message, "DIR/FILE:LINE: message", because the file:line prefix is
 * the contract operators and editors depend on.  The process changes to "/"
 * first so that @include can only work relative to the config's directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/conf.h"

/* ---- pure parsers --------------------------------------------------------- */

struct parse_case { const char *in; int ok; uint64_t want; };

static const struct parse_case duration_cases[] = {
	{ "0", 1, 0 },
	{ "250", 1, 250 },		/* bare number = ms */
	{ "50ms", 1, 50 },
	{ "2s", 1, 2000 },
	{ "1.5s", 1, 1500 },
	{ "0.001s", 1, 1 },
	{ "1.25m", 1, 75000 },
	{ "1m", 1, 60000 },
	{ "1h", 1, 3600000 },
	{ "1d", 1, 86400000 },
	{ "007s", 1, 7000 },
	{ "18446744073709551615", 1, UINT64_MAX },
	{ "18446744073709551615ms", 1, UINT64_MAX },
	{ "213503982334d", 1, 213503982334ull * 86400000ull },
	{ "", 0, 0 },			/* empty */
	{ "-1s", 0, 0 },		/* negative */
	{ "+1s", 0, 0 },
	{ " 1s", 0, 0 },
	{ "1s ", 0, 0 },		/* trailing junk */
	{ "1 s", 0, 0 },
	{ "1s2", 0, 0 },
	{ "5x", 0, 0 },			/* unknown unit */
	{ "5S", 0, 0 },			/* units are lower case */
	{ "1sec", 0, 0 },
	{ "1us", 0, 0 },
	{ "ms", 0, 0 },			/* no number */
	{ "0.5ms", 0, 0 },		/* finer than 1 ms */
	{ "1.0001s", 0, 0 },
	{ "1.", 0, 0 },
	{ ".5s", 0, 0 },
	{ "1.1234567s", 0, 0 },		/* more than 6 fraction digits */
	{ "1e3", 0, 0 },
	{ "0x10", 0, 0 },
	{ "18446744073709551616", 0, 0 },	/* overflow */
	{ "18446744073709551616ms", 0, 0 },
	{ "213503982335d", 0, 0 },		/* overflow after scaling */
	{ "99999999999999999999999s", 0, 0 },
};

static const struct parse_case size_cases[] = {
	{ "0", 1, 0 },
	{ "512", 1, 512 },
	{ "16k", 1, 16384 },
	{ "16K", 1, 16384 },
	{ "16KiB", 1, 16384 },
	{ "16kib", 1, 16384 },
	{ "4m", 1, 4u << 20 },
	{ "4MiB", 1, 4u << 20 },
	{ "1g", 1, 1u << 30 },
	{ "1GiB", 1, 1u << 30 },
	{ "2t", 1, 2ull << 40 },
	{ "1.5k", 1, 1536 },
	{ "0.5m", 1, 512 * 1024 },
	{ "17179869183g", 1, 17179869183ull << 30 },
	{ "18446744073709551615", 1, UINT64_MAX },
	{ "", 0, 0 },			/* empty */
	{ "-1", 0, 0 },			/* negative */
	{ "-1k", 0, 0 },
	{ "16kb", 0, 0 },		/* ambiguous 1000/1024 */
	{ "16KB", 0, 0 },
	{ "16 k", 0, 0 },
	{ "16k ", 0, 0 },		/* trailing junk */
	{ "1kk", 0, 0 },
	{ "k", 0, 0 },
	{ "1x", 0, 0 },			/* unknown unit */
	{ "1p", 0, 0 },
	{ "1.5", 0, 0 },		/* half a byte */
	{ "0.1k", 0, 0 },		/* 102.4 bytes */
	{ "17179869184g", 0, 0 },	/* overflow */
	{ "18446744073709551616", 0, 0 },
	{ "16777216t", 0, 0 },
};

static void run_parse_table(const struct parse_case *t, size_t n, int (*parse)(const char *, uint64_t *))
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 12345;
		int r = parse(t[i].in, &v);

		if (r != (t[i].ok ? 0 : -1) || (t[i].ok && v != t[i].want) || (!t[i].ok && v != 12345))
			fail_msg("\"%s\": got r=%d v=%llu, want %s %llu", t[i].in, r,
			    (unsigned long long)v, t[i].ok ? "ok" : "rejected", (unsigned long long)t[i].want);
	}
}

static void test_parse_duration(void **state)
{
	(void)state;
	run_parse_table(duration_cases, sizeof(duration_cases) / sizeof(duration_cases[0]), conf_parse_duration);
}

static void test_parse_size(void **state)
{
	(void)state;
	run_parse_table(size_cases, sizeof(size_cases) / sizeof(size_cases[0]), conf_parse_size);
}

/* ---- files -------------------------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_conf.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* Includes must resolve against the config's directory, not the cwd. */
	return chdir("/");
}

static int teardown_dir(void **state)
{
	const char *names[] = { "main.conf", "inc.conf", NULL };
	char path[256];

	(void)state;
	for (const char **n = names; *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, *n);
		unlink(path);
	}
	return rmdir(tmpdir);
}

/* What a case does with the loaded file: the getter under test. */
enum op {
	OP_LOAD,	/* conf_load itself must fail */
	OP_KEYS,	/* conf_check_keys(root, {port, timeout, server}) */
	OP_SERVER_KEYS,	/* conf_check_keys(server, {port, name}) */
	OP_PORT,	/* conf_get_int(root, "port", required, 1, 65535) */
	OP_SERVER_PORT,	/* conf_get_group(root, "server") then required "port" */
	OP_TIMEOUT,	/* conf_get_duration(root, "timeout", required) */
	OP_BUFSIZE,	/* conf_get_size(root, "bufsize", required) */
	OP_BIG,		/* conf_get_int(root, "big", required, INT64_MIN, INT64_MAX) */
	OP_ON,		/* conf_get_bool(root, "on", required) */
	OP_NAME,	/* conf_get_str(root, "name", required) */
	OP_LIST,	/* conf_get_list(root, "servers", required) */
};

struct load_case {
	const char *desc;
	const char *main;	/* main.conf */
	const char *inc;	/* inc.conf, or NULL */
	enum op op;
	const char *want_err;	/* message after "DIR/", NULL = success */
	int64_t want;		/* value on success */
};

static const struct load_case load_cases[] = {
	{ "syntax error", "port = 80;\nname = ;\n", NULL, OP_LOAD, "main.conf:2: syntax error", 0 },
	{ "duplicate key", "port = 80;\n\nport = 81;\n", NULL, OP_LOAD, "main.conf:3: duplicate setting name", 0 },
	{ "syntax error in include", "port = 80;\n@include \"inc.conf\"\n", "# sub\nname = \"a\"\nbad bad;\n", OP_LOAD,
	    "inc.conf:3: syntax error", 0 },
	{ "unknown key", "port = 80;\ntimeout = 5;\n  bogus = 1;\n", NULL, OP_KEYS, "main.conf:3: unknown setting \"bogus\"", 0 },
	{ "known keys", "port = 80;\nserver = { port = 1; };\n", NULL, OP_KEYS, NULL, 0 },
	{ "unknown key in group", "server = {\n  port = 1;\n  nmae = \"x\";\n};\n", NULL, OP_SERVER_KEYS,
	    "main.conf:3: unknown setting \"nmae\"", 0 },
	{ "unknown key in include", "port = 80;\n@include \"inc.conf\"\n", "\n\nextra = 1;\n", OP_KEYS,
	    "inc.conf:3: unknown setting \"extra\"", 0 },
	{ "type error", "\n\nport = \"80\";\n", NULL, OP_PORT, "main.conf:3: port: expected an integer, got a string", 0 },
	{ "type error in include", "@include \"inc.conf\"\n", "\nport = 8.5;\n", OP_PORT,
	    "inc.conf:2: port: expected an integer, got a float", 0 },
	{ "int ok", "port = 8080;\n", NULL, OP_PORT, NULL, 8080 },
	{ "int hex ok", "port = 0x50;\n", NULL, OP_PORT, NULL, 80 },
	{ "int out of range", "port = 70000;\n", NULL, OP_PORT, "main.conf:1: port: 70000 is out of range [1, 65535]", 0 },
	{ "int zero out of range", "x = 1;\nport = 0;\n", NULL, OP_PORT, "main.conf:2: port: 0 is out of range [1, 65535]", 0 },
	{ "int truncated by libconfig", "port = 4294967376;\n", NULL, OP_PORT,
	    "main.conf:1: port: integer does not fit in 32 bits; write it with an L suffix (5000000000L)", 0 },
	{ "int64 with L", "big = 5000000000L;\n", NULL, OP_BIG, NULL, 5000000000LL },
	{ "int64 without L", "a = 1; big = 5000000000;\n", NULL, OP_BIG,
	    "main.conf:1: big: integer does not fit in 32 bits; write it with an L suffix (5000000000L)", 0 },
	{ "negative int ok", "big = -7;\n", NULL, OP_BIG, NULL, -7 },
	{ "missing required (root)", "name = \"x\";\n", NULL, OP_PORT, "main.conf:1: missing required setting \"port\"", 0 },
	{ "missing required in group", "port = 1;\n\nserver = {\n  name = \"x\";\n};\n", NULL, OP_SERVER_PORT,
	    "main.conf:3: missing required setting \"port\"", 0 },
	{ "group ok", "server = {\n  port = 9;\n};\n", NULL, OP_SERVER_PORT, NULL, 9 },
	{ "group wrong type", "server = 5;\n", NULL, OP_SERVER_PORT,
	    "main.conf:1: server: expected a group { ... }, got an integer", 0 },
	{ "bad unit", "\ntimeout = \"5x\";\n", NULL, OP_TIMEOUT,
	    "main.conf:2: timeout: bad duration \"5x\" (use ms, s, m, h, d)", 0 },
	{ "bad unit in include", "@include \"inc.conf\"\n", "timeout = \"1 s\";\n", OP_TIMEOUT,
	    "inc.conf:1: timeout: bad duration \"1 s\" (use ms, s, m, h, d)", 0 },
	{ "duration too large", "timeout = \"99999999999999999999s\";\n", NULL, OP_TIMEOUT,
	    "main.conf:1: timeout: duration \"99999999999999999999s\" is too large", 0 },
	{ "duration negative int", "timeout = -5;\n", NULL, OP_TIMEOUT,
	    "main.conf:1: timeout: duration must not be negative, got -5", 0 },
	{ "duration float", "timeout = 1.5;\n", NULL, OP_TIMEOUT,
	    "main.conf:1: timeout: expected a duration (use ms, s, m, h, d), got a float", 0 },
	{ "duration string", "timeout = \"1.5s\";\n", NULL, OP_TIMEOUT, NULL, 1500 },
	{ "duration int is ms", "timeout = 250;\n", NULL, OP_TIMEOUT, NULL, 250 },
	{ "duration int64", "timeout = 5000000000L;\n", NULL, OP_TIMEOUT, NULL, 5000000000LL },
	{ "size string", "bufsize = \"16k\";\n", NULL, OP_BUFSIZE, NULL, 16384 },
	{ "size int", "bufsize = 512;\n", NULL, OP_BUFSIZE, NULL, 512 },
	{ "bad size", "bufsize = \"16kb\";\n", NULL, OP_BUFSIZE,
	    "main.conf:1: bufsize: bad size \"16kb\" (use k, m, g, t: powers of 1024)", 0 },
	{ "size negative", "bufsize = -1;\n", NULL, OP_BUFSIZE, "main.conf:1: bufsize: size must not be negative, got -1", 0 },
	{ "bool ok", "on = true;\n", NULL, OP_ON, NULL, 1 },
	{ "bool false", "on = false;\n", NULL, OP_ON, NULL, 0 },
	{ "bool given int", "on = 1;\n", NULL, OP_ON, "main.conf:1: on: expected a boolean (true or false), got an integer", 0 },
	{ "bool given string", "on = \"yes\";\n", NULL, OP_ON,
	    "main.conf:1: on: expected a boolean (true or false), got a string", 0 },
	{ "string ok", "name = \"abc\";\n", NULL, OP_NAME, NULL, 3 },
	{ "string given group", "name = { };\n", NULL, OP_NAME, "main.conf:1: name: expected a string, got a group", 0 },
	{ "list ok", "servers = ( { port = 1; }, { port = 2; } );\n", NULL, OP_LIST, NULL, 2 },
	{ "array ok", "servers = [ \"a\", \"b\", \"c\" ];\n", NULL, OP_LIST, NULL, 3 },
	{ "list wrong type", "servers = \"a\";\n", NULL, OP_LIST,
	    "main.conf:1: servers: expected a list ( ... ) or an array [ ... ], got a string", 0 },
	{ "missing include", "port = 1;\n@include \"nope.conf\"\n", NULL, OP_LOAD, "main.conf:2: cannot open include file", 0 },
};

static int run_op(const struct load_case *lc, const struct conf *c, int64_t *v, struct conf_err *err)
{
	static const char *const root_keys[] = { "port", "timeout", "server", NULL };
	static const char *const server_keys[] = { "port", "name", NULL };
	const config_setting_t *root = conf_root(c), *g = NULL;
	uint64_t u = 0;
	const char *s = NULL;
	int b = -1, r;

	switch (lc->op) {
	case OP_LOAD:
		fail_msg("%s: load succeeded", lc->desc);
		return -1;
	case OP_KEYS:
		return conf_check_keys(root, root_keys, err);
	case OP_SERVER_KEYS:
		if (conf_get_group(root, "server", 1, &g, err) == -1)
			return -1;
		return conf_check_keys(g, server_keys, err);
	case OP_PORT:
		return conf_get_int(root, "port", 1, 1, 65535, v, err);
	case OP_SERVER_PORT:
		if (conf_get_group(root, "server", 1, &g, err) == -1)
			return -1;
		return conf_get_int(g, "port", 1, 1, 65535, v, err);
	case OP_TIMEOUT:
		r = conf_get_duration(root, "timeout", 1, &u, err);
		*v = (int64_t)u;
		return r;
	case OP_BUFSIZE:
		r = conf_get_size(root, "bufsize", 1, &u, err);
		*v = (int64_t)u;
		return r;
	case OP_BIG:
		return conf_get_int(root, "big", 1, INT64_MIN, INT64_MAX, v, err);
	case OP_ON:
		r = conf_get_bool(root, "on", 1, &b, err);
		*v = b;
		return r;
	case OP_NAME:
		if ((r = conf_get_str(root, "name", 1, &s, err)) == 0)
			*v = (int64_t)strlen(s);
		return r;
	case OP_LIST:
		if ((r = conf_get_list(root, "servers", 1, &g, err)) == 0)
			*v = config_setting_length(g);
		return r;
	}
	return -1;
}

static void test_load_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]); i++) {
		const struct load_case *lc = &load_cases[i];
		char path[256], want[512];
		struct conf c;
		struct conf_err err = { "" };
		int64_t v = 0;
		int r;

		write_file("main.conf", lc->main);
		write_file("inc.conf", lc->inc ? lc->inc : "");
		snprintf(path, sizeof(path), "%s/main.conf", tmpdir);
		if (lc->want_err)
			snprintf(want, sizeof(want), "%s/%s", tmpdir, lc->want_err);

		r = conf_load(&c, path, &err);
		if (r == 0) {
			r = run_op(lc, &c, &v, &err);
			conf_free(&c);
		} else if (lc->op != OP_LOAD) {
			fail_msg("%s: load failed: %s", lc->desc, err.msg);
		}
		if (lc->want_err == NULL) {
			if (r != 0)
				fail_msg("%s: want success, got %s", lc->desc, err.msg);
			if (v != lc->want)
				fail_msg("%s: want %lld, got %lld", lc->desc, (long long)lc->want, (long long)v);
		} else {
			if (r != -1)
				fail_msg("%s: want error, got success", lc->desc);
			if (strcmp(err.msg, want) != 0)
				fail_msg("%s:\n  want \"%s\"\n  got  \"%s\"", lc->desc, want, err.msg);
		}
	}
}

/* An absent optional setting leaves the caller's default in place. */
static void test_optional_absent(void **state)
{
	struct conf c;
	struct conf_err err = { "" };
	int64_t i = 42;
	uint64_t d = 7, sz = 8;
	int b = 3;
	const char *s = "dflt";
	const config_setting_t *g = NULL;

	(void)state;
	assert_int_equal(conf_load_string(&c, "mem.conf", "x = 1;\n", &err), 0);
	assert_int_equal(conf_get_int(conf_root(&c), "port", 0, 1, 2, &i, &err), 0);
	assert_int_equal(conf_get_duration(conf_root(&c), "t", 0, &d, &err), 0);
	assert_int_equal(conf_get_size(conf_root(&c), "s", 0, &sz, &err), 0);
	assert_int_equal(conf_get_bool(conf_root(&c), "b", 0, &b, &err), 0);
	assert_int_equal(conf_get_str(conf_root(&c), "n", 0, &s, &err), 0);
	assert_int_equal(conf_get_group(conf_root(&c), "g", 0, &g, &err), 0);
	assert_int_equal(conf_get_int(NULL, "port", 0, 1, 2, &i, &err), 0);
	assert_int_equal(i, 42);
	assert_int_equal(d, 7);
	assert_int_equal(sz, 8);
	assert_int_equal(b, 3);
	assert_string_equal(s, "dflt");
	assert_null(g);
	assert_int_equal(conf_check_keys(NULL, (const char *const[]){ NULL }, &err), 0);
	conf_free(&c);
	conf_free(&c);	/* idempotent */
}

static void test_load_string_errors(void **state)
{
	struct conf c;
	struct conf_err err = { "" };
	int64_t v;

	(void)state;
	assert_int_equal(conf_load_string(&c, "<stdin>", "a = 1;\nb = = 2;\n", &err), -1);
	assert_string_equal(err.msg, "<stdin>:2: syntax error");
	conf_free(&c);	/* harmless after a failed load */

	assert_int_equal(conf_load_string(&c, "<stdin>", "a = 1;\ng = {\n  port = \"x\";\n};\n", &err), 0);
	assert_int_equal(conf_get_int(config_setting_get_member(conf_root(&c), "g"), "port", 1, 0, 9, &v, &err), -1);
	assert_string_equal(err.msg, "<stdin>:3: port: expected an integer, got a string");
	conf_free(&c);
}

static void test_load_missing_file(void **state)
{
	struct conf c;
	struct conf_err err = { "" };
	char path[256], want[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_int_equal(conf_load(&c, path, &err), -1);
	assert_string_equal(err.msg, want);
	conf_free(&c);
}

static void test_errorf(void **state)
{
	struct conf c;
	struct conf_err err = { "" };
	const config_setting_t *s;

	(void)state;
	write_file("main.conf", "a = 1;\n\nb = [ 1, 2 ];\n");
	{
		char path[256], want[512];

		snprintf(path, sizeof(path), "%s/main.conf", tmpdir);
		assert_int_equal(conf_load(&c, path, &err), 0);
		s = config_setting_get_member(conf_root(&c), "b");
		assert_non_null(s);
		assert_int_equal(conf_errorf(&err, s, "b has %d elements", config_setting_length(s)), -1);
		snprintf(want, sizeof(want), "%s:3: b has 2 elements", path);
		assert_string_equal(err.msg, want);
	}
	assert_int_equal(conf_errorf(&err, NULL, "no location %s", "here"), -1);
	assert_string_equal(err.msg, "no location here");
	conf_free(&c);
}

/* Nested includes from a subdirectory: every path is relative to the main
 * file's directory, and the message names the innermost file by that path. */
static void test_nested_include(void **state)
{
	struct conf c;
	struct conf_err err = { "" };
	char path[256], want[512];
	int64_t v;

	(void)state;
	snprintf(path, sizeof(path), "%s/sub", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	write_file("main.conf", "name = \"x\";\n@include \"sub/a.conf\"\n");
	write_file("sub/a.conf", "@include \"sub/b.conf\"\n");
	write_file("sub/b.conf", "\nport = \"80\";\n");
	snprintf(path, sizeof(path), "%s/main.conf", tmpdir);
	assert_int_equal(conf_load(&c, path, &err), 0);
	assert_int_equal(conf_get_int(conf_root(&c), "port", 1, 1, 65535, &v, &err), -1);
	snprintf(want, sizeof(want), "%s/sub/b.conf:2: port: expected an integer, got a string", tmpdir);
	assert_string_equal(err.msg, want);
	conf_free(&c);

	write_file("sub/b.conf", "\nport = = 80;\n");
	write_file("sub/a.conf", "@include \"sub/b.conf\"\nname2 = 1;\n");
	assert_int_equal(conf_load(&c, path, &err), -1);
	snprintf(want, sizeof(want), "%s/sub/b.conf:2: syntax error", tmpdir);
	assert_string_equal(err.msg, want);

	for (const char *const *n = (const char *const[]){ "sub/a.conf", "sub/b.conf", "sub", NULL }; *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, *n);
		assert_int_equal(remove(path), 0);
	}
}

/* libconfig 1.5 exits the process when an @include names a directory; the
 * loader must refuse such a file with file:line instead (a reload must never
 * kill a running daemon). Also through a nested include. */
static void test_include_directory(void **state)
{
	struct conf c;
	struct conf_err err = { "" };
	char path[256], want[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/adir", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	write_file("main.conf", "name = \"x\";\n  @include \"adir\"\n");
	snprintf(path, sizeof(path), "%s/main.conf", tmpdir);
	assert_int_equal(conf_load(&c, path, &err), -1);
	snprintf(want, sizeof(want), "%s/main.conf:2: @include \"adir\": not a regular file", tmpdir);
	assert_string_equal(err.msg, want);

	write_file("inc.conf", "a = 1;\n\n@include \"adir\"\n");
	write_file("main.conf", "@include \"inc.conf\"\n");
	assert_int_equal(conf_load(&c, path, &err), -1);
	snprintf(want, sizeof(want), "%s/inc.conf:3: @include \"adir\": not a regular file", tmpdir);
	assert_string_equal(err.msg, want);

	/* A regular include still loads. */
	write_file("inc.conf", "a = 1;\n");
	assert_int_equal(conf_load(&c, path, &err), 0);
	conf_free(&c);

	for (const char *const *n = (const char *const[]){ "inc.conf", "main.conf", "adir", NULL }; *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, *n);
		assert_int_equal(remove(path), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_load_table),
		cmocka_unit_test(test_optional_absent),
		cmocka_unit_test(test_load_string_errors),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_errorf),
		cmocka_unit_test(test_nested_include),
		cmocka_unit_test(test_include_directory),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
