/*
 * tests/fuzz/fuzz_conf.c — libFuzzer harness for the configuration loader:
 * lib/conf's conf_load_string() over libconfig, then every typed getter on
 * every setting the input produced, as proxyd's and hacd's config code walks
 * its file.
 *
 * Operators, not attackers, write these files, but a reload of a bad file
 * must be refused with a message, never crash the running daemon, so the
 * loader and the getters are held to the same standard as the wire parsers.
 * Besides the sanitizers, the harness checks what the contracts in
 * lib/conf.h promise: a refused input or value leaves a NUL-terminated
 * "NAME:..." message; an accepted integer lies within the requested range;
 * the pure duration/size parsers agree with the getters on string values.
 *
 * Inputs that contain "@include" are skipped: conf_load_string resolves
 * includes against the current directory (and libconfig accepts absolute
 * paths there), so the fuzzer would read arbitrary files such as /dev/zero.
 * Built by `make fuzz-build` like every harness.  Seeds: tests/fuzz/corpus/conf/, small proxyd/hacd-like
 * files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/*
 * libconfig 1.5 leaks the scanner's buffer for a string token that is
 * discarded during error recovery (hyperrealm/libconfig#142, fixed by #155
 * in 1.7.3): `a = 1, "x")` loses "x".  A few bytes per refused reload, not
 * ours to fix.  Suppressed by the two scanner functions that allocate
 * token strings (an empty one comes from yylex itself), so that any other
 * leak, including a loaded configuration we fail to free, still fails.
 */
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

#define NAME      "fuzz.conf"
#define MAX_DEPTH 32

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_conf: invariant broken: %s\n", what);
		abort();
	}
}

/* A refusal must leave a terminated message that says where: "fuzz.conf:..."
 * (a NULL group has no location, so its messages carry none). */
static int located = 1;

static void check_err(const struct conf_err *err)
{
	check(memchr(err->msg, '\0', sizeof(err->msg)) != NULL, "error message terminated");
	check(err->msg[0] != '\0', "error message not empty");
	if (located)
		check(strncmp(err->msg, NAME, strlen(NAME)) == 0, "error message names the file");
}

static const char *const allowed_keys[] = { "listen", "workers", "upstream", "server", "route",
					    "timeout", "weight", "name", NULL };

/* Every getter on member `name` of grp, required and optional. */
static void getters(const config_setting_t *grp, const char *name)
{
	struct conf_err err;
	const char *str = NULL;
	int64_t i = 0;
	int b = 0;
	uint64_t ms = 0, bytes = 0;
	const config_setting_t *sub = NULL;

	for (int req = 0; req < 2; req++) {
		memset(&err, 0, sizeof(err));
		if (conf_get_str(grp, name, req, &str, &err) == -1) {
			check_err(&err);
		} else if (str != NULL) {
			uint64_t v1, v2;
			int r1 = conf_parse_duration(str, &v1), r2 = conf_parse_size(str, &v2);

			check(r1 == 0 || r1 == -1, "parse_duration result");
			check(r2 == 0 || r2 == -1, "parse_size result");
			check(strlen(str) < 1u << 20, "string length");
		}
		memset(&err, 0, sizeof(err));
		i = 12345;
		if (conf_get_int(grp, name, req, -1000, 1000, &i, &err) == -1)
			check_err(&err);
		else
			check(i == 12345 || (i >= -1000 && i <= 1000), "integer within range");
		memset(&err, 0, sizeof(err));
		if (conf_get_int(grp, name, req, INT64_MIN, INT64_MAX, &i, &err) == -1)
			check_err(&err);
		memset(&err, 0, sizeof(err));
		b = 7;
		if (conf_get_bool(grp, name, req, &b, &err) == -1)
			check_err(&err);
		else
			check(b == 7 || b == 0 || b == 1, "bool is 0 or 1");
		memset(&err, 0, sizeof(err));
		if (conf_get_duration(grp, name, req, &ms, &err) == -1)
			check_err(&err);
		memset(&err, 0, sizeof(err));
		if (conf_get_size(grp, name, req, &bytes, &err) == -1)
			check_err(&err);
		memset(&err, 0, sizeof(err));
		if (conf_get_group(grp, name, req, &sub, &err) == -1)
			check_err(&err);
		memset(&err, 0, sizeof(err));
		if (conf_get_list(grp, name, req, &sub, &err) == -1)
			check_err(&err);
	}
}

/* A string value the getters accepted as a duration must parse the same
 * way through the pure parser (the getter adds only the integer form). */
static void agree(const config_setting_t *grp, const char *name)
{
	const config_setting_t *s = config_setting_get_member(grp, name);
	struct conf_err err;
	uint64_t a = 0, b = 0;

	if (s == NULL || config_setting_type(s) != CONFIG_TYPE_STRING)
		return;
	memset(&err, 0, sizeof(err));
	if (conf_get_duration(grp, name, 0, &a, &err) == 0)
		check(conf_parse_duration(config_setting_get_string(s), &b) == 0 && a == b,
		      "duration getter agrees with the parser");
	memset(&err, 0, sizeof(err));
	if (conf_get_size(grp, name, 0, &a, &err) == 0)
		check(conf_parse_size(config_setting_get_string(s), &b) == 0 && a == b,
		      "size getter agrees with the parser");
}

static void walk(const config_setting_t *s, int depth)
{
	struct conf_err err;
	int n;

	if (s == NULL || depth > MAX_DEPTH)
		return;
	memset(&err, 0, sizeof(err));
	check(conf_errorf(&err, s, "probe %d", depth) == -1, "conf_errorf returns -1");
	check_err(&err);
	if (!config_setting_is_aggregate(s))
		return;
	if (config_setting_is_group(s)) {
		memset(&err, 0, sizeof(err));
		if (conf_check_keys(s, allowed_keys, &err) == -1)
			check_err(&err);
		/* Absent names too: the optional form must leave outputs alone. */
		getters(s, "no-such-setting");
	}
	n = config_setting_length(s);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *name = e != NULL ? config_setting_name(e) : NULL;

		if (name != NULL && config_setting_is_group(s)) {
			getters(s, name);
			agree(s, name);
		}
		walk(e, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c;
	struct conf_err err;
	char *text;

	if (memmem(data, size, "@include", 8) != NULL)
		return 0;
	text = malloc(size + 1);
	check(text != NULL, "malloc");
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&err, 0, sizeof(err));
	if (conf_load_string(&c, NAME, text, &err) == -1) {
		check_err(&err);
		conf_free(&c);            /* harmless after a failed load */
	} else {
		check(conf_root(&c) != NULL, "root after a successful load");
		walk(conf_root(&c), 0);
		located = 0;
		getters(NULL, "anything");  /* NULL group = empty group */
		located = 1;
		conf_free(&c);
		conf_free(&c);            /* idempotent */
	}
	free(text);
	return 0;
}
