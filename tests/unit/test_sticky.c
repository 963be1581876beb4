/*
 * tests/unit/test_sticky.c — proxyd/sticky: finding our cookie in a Cookie
 * header, cutting it out byte-exactly, the token <-> server mapping, and the
 * `sticky` group of an upstream in proxyd.conf (good and bad, with file:line).
 *
 * The header cases are a table of (Cookie value, name) -> (found?, value,
 * header forwarded to the backend): quoting, whitespace, several cookies, a
 * name that is a prefix or a suffix of ours, absent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/balance.h"
#include "proxyd/config.h"
#include "proxyd/sticky.h"

struct cookie_case {
	const char *header;   /* one Cookie header value */
	const char *name;
	int found;
	const char *value;    /* when found */
	const char *strip;    /* forwarded value; NULL = unchanged (no pair of ours) */
};

static const struct cookie_case cookie_cases[] = {
	{ "TNDSRV=0123456789abcdef", "TNDSRV", 1, "0123456789abcdef", "" },
	{ "a=1; TNDSRV=x; b=2", "TNDSRV", 1, "x", "a=1; b=2" },
	{ "TNDSRV=x; a=1", "TNDSRV", 1, "x", "a=1" },
	{ "a=1; TNDSRV=x", "TNDSRV", 1, "x", "a=1" },
	{ "a=1;TNDSRV=x;b=2", "TNDSRV", 1, "x", "a=1;b=2" },
	/* RFC 6265 §4.1.1: a DQUOTE-wrapped value. */
	{ "TNDSRV=\"abc\"", "TNDSRV", 1, "abc", "" },
	{ "TNDSRV=\"", "TNDSRV", 1, "\"", "" },
	/* Tolerated whitespace around the pair, the name and the value. */
	{ "a=1;   TNDSRV = x  ; b=2", "TNDSRV", 1, "x", "a=1; b=2" },
	{ "\tTNDSRV=x\t", "TNDSRV", 1, "x", "" },
	{ "TNDSRV=", "TNDSRV", 1, "", "" },
	/* The first of two wins; both are cut. */
	{ "TNDSRV=one; a=1; TNDSRV=two", "TNDSRV", 1, "one", "a=1" },
	/* Other cookies keep their bytes exactly, odd spacing and all. */
	{ "x=\"q; r\"; TNDSRV=t; y= 2 ;z", "TNDSRV", 1, "t", "x=\"q; r\"; y= 2 ;z" },
	/* Names are case-sensitive and matched whole. */
	{ "tndsrv=x; b=2", "TNDSRV", 0, NULL, NULL },
	{ "TNDSRV2=x; XTNDSRV=y", "TNDSRV", 0, NULL, NULL },
	{ "TNDSRV; a=TNDSRV=x", "TNDSRV", 0, NULL, NULL },
	{ "a=1; b=2", "TNDSRV", 0, NULL, NULL },
	{ "", "TNDSRV", 0, NULL, NULL },
	{ ";;;", "TNDSRV", 0, NULL, NULL },
	/* The value may contain '=': only the first one splits. */
	{ "TNDSRV=a=b; c=d", "TNDSRV", 1, "a=b", "c=d" },
	{ "c=d; TNDSRV=v;", "TNDSRV", 1, "v", "c=d;" },
};

static void
test_cookie_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cookie_cases) / sizeof(cookie_cases[0]); i++) {
		const struct cookie_case *c = &cookie_cases[i];
		size_t len = strlen(c->header), vlen = 0, sl;
		/* Exactly len bytes, not NUL-terminated: no read past the span. */
		char *in = malloc(len ? len : 1), *out = malloc(len ? len : 1);
		const char *val = NULL;
		int f;

		assert_non_null(in);
		assert_non_null(out);
		memcpy(in, c->header, len);
		f = sticky_cookie_find(in, len, c->name, strlen(c->name), &val, &vlen);
		if (f != c->found)
			fail_msg("case %zu \"%s\": found %d, want %d", i, c->header, f, c->found);
		if (f && (vlen != strlen(c->value) || memcmp(val, c->value, vlen) != 0))
			fail_msg("case %zu \"%s\": value \"%.*s\", want \"%s\"", i, c->header, (int)vlen, val, c->value);
		sl = sticky_cookie_strip(in, len, c->name, strlen(c->name), out);
		if (c->strip == NULL) {
			if (sl != (size_t)-1)
				fail_msg("case %zu \"%s\": stripped to \"%.*s\", want unchanged", i, c->header, (int)sl, out);
		} else if (sl == (size_t)-1 || sl != strlen(c->strip) || memcmp(out, c->strip, sl) != 0) {
			fail_msg("case %zu \"%s\": stripped to \"%.*s\", want \"%s\"", i, c->header,
			    sl == (size_t)-1 ? 4 : (int)sl, sl == (size_t)-1 ? "none" : out, c->strip);
		}
		free(in);
		free(out);
	}
}

struct token_case { const char *text; int ok; uint64_t v; };

static const struct token_case token_cases[] = {
	{ "0123456789abcdef", 1, 0x0123456789abcdefull },
	{ "FFFFFFFFFFFFFFFF", 1, UINT64_MAX },
	{ "0000000000000000", 1, 0 },
	{ "0123456789abcde", 0, 0 },        /* short */
	{ "0123456789abcdef0", 0, 0 },      /* long */
	{ "0123456789abcdeg", 0, 0 },       /* not hex */
	{ "0x23456789abcdef", 0, 0 },
	{ " 123456789abcdef", 0, 0 },
	{ "", 0, 0 },
};

static void
test_token_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(token_cases) / sizeof(token_cases[0]); i++) {
		const struct token_case *c = &token_cases[i];
		uint64_t v = 42;
		int rc = sticky_token_parse(c->text, strlen(c->text), &v);
		if ((rc == 0) != c->ok)
			fail_msg("token case %zu \"%s\": rc %d", i, c->text, rc);
		if (c->ok)
			assert_true(v == c->v);
		else
			assert_true(v == 42);
	}
}

static void
test_token_mapping(void **state)
{
	static const char *const names[] = { "b1", "b2", "b3", "web-04", "a-much-longer-server-name" };
	const size_t n = sizeof(names) / sizeof(names[0]);
	char err[256], hex[STICKY_TOKEN_LEN + 1];
	struct sticky_conf *sc;

	(void)state;
	sc = sticky_conf_new("TNDSRV", "/", 3600, 1, 0, names, n, err, sizeof(err));
	if (sc == NULL)
		fail_msg("%s", err);
	for (size_t i = 0; i < n; i++) {
		uint64_t tok = sticky_token(names[i]), back = 0;
		char want[128];

		/* The token is the balancer's id_hash of the name: stable. */
		assert_true(tok == balance_hash(names[i], strlen(names[i])));
		sticky_token_str(tok, hex);
		assert_int_equal(strlen(hex), STICKY_TOKEN_LEN);
		assert_int_equal(sticky_token_parse(hex, STICKY_TOKEN_LEN, &back), 0);
		assert_true(back == tok);
		assert_int_equal(sticky_server(sc, tok), (int)i);
		snprintf(want, sizeof(want), "Set-Cookie: TNDSRV=%s; Path=/; Max-Age=3600; HttpOnly\r\n", hex);
		assert_string_equal(sc->set_cookie[i], want);
		assert_int_equal(sc->set_cookie_len[i], strlen(want));
	}
	/* A token of no server, and the neighbours of real ones. */
	assert_int_equal(sticky_server(sc, sticky_token("b4")), -1);
	assert_int_equal(sticky_server(sc, sticky_token("b1") + 1), -1);
	assert_int_equal(sticky_server(sc, 0), -1);
	assert_int_equal(sticky_server(sc, UINT64_MAX), -1);
	sticky_conf_free(sc);

	/* Session cookie (no Max-Age), Secure, no HttpOnly, another path. */
	sc = sticky_conf_new("S", "/app", 0, 0, 1, names, 1, err, sizeof(err));
	assert_non_null(sc);
	sticky_token_str(sticky_token("b1"), hex);
	{
		char want[128];
		snprintf(want, sizeof(want), "Set-Cookie: S=%s; Path=/app; Secure\r\n", hex);
		assert_string_equal(sc->set_cookie[0], want);
	}
	sticky_conf_free(sc);

	/* Bad names and paths. */
	assert_null(sticky_conf_new("a b", "/", 0, 1, 0, names, n, err, sizeof(err)));
	assert_non_null(strstr(err, "token"));
	assert_null(sticky_conf_new("", "/", 0, 1, 0, names, n, err, sizeof(err)));
	assert_null(sticky_conf_new("a;b", "/", 0, 1, 0, names, n, err, sizeof(err)));
	assert_null(sticky_conf_new("a", "x", 0, 1, 0, names, n, err, sizeof(err)));
	assert_null(sticky_conf_new("a", "/x;y", 0, 1, 0, names, n, err, sizeof(err)));
	assert_null(sticky_conf_new("a", "/x\ny", 0, 1, 0, names, n, err, sizeof(err)));
	assert_null(sticky_conf_new("a", "/", STICKY_MAX_AGE_MAX + 1, 1, 0, names, n, err, sizeof(err)));
	sticky_conf_free(NULL);
}

#define UP_HEAD \
	"listeners = ( { name = \"l\"; listen = \"127.0.0.1:18080\"; } );\n" \
	"upstreams = ( { name = \"a\";\n" \
	"  servers = ( { name = \"b1\"; address = \"127.0.0.1:18101\"; },\n" \
	"              { name = \"b2\"; address = \"127.0.0.1:18102\"; } );\n"

static void
test_config_good(void **state)
{
	struct conf_err err;
	struct pd_config *c;
	char hex[STICKY_TOKEN_LEN + 1], want[160];

	(void)state;
	c = config_load_string("t.conf", UP_HEAD
	    "  sticky = { cookie = \"SRV\"; max_age = \"1h\"; path = \"/x\"; httponly = false; secure = true; };\n"
	    "} );\n", &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	assert_non_null(c->upstreams[0].sticky);
	assert_int_equal(c->upstreams[0].sticky->nservers, 2);
	sticky_token_str(sticky_token("b2"), hex);
	snprintf(want, sizeof(want), "Set-Cookie: SRV=%s; Path=/x; Max-Age=3600; Secure\r\n", hex);
	assert_string_equal(c->upstreams[0].sticky->set_cookie[1], want);
	config_unref(c);

	/* An empty group enables it with the defaults. */
	c = config_load_string("t.conf", UP_HEAD "  sticky = { };\n} );\n", &err);
	if (c == NULL)
		fail_msg("%s", err.msg);
	sticky_token_str(sticky_token("b1"), hex);
	snprintf(want, sizeof(want), "Set-Cookie: TNDSRV=%s; Path=/; HttpOnly\r\n", hex);
	assert_string_equal(c->upstreams[0].sticky->set_cookie[0], want);
	config_unref(c);

	/* Absent: off. */
	c = config_load_string("t.conf", UP_HEAD "} );\n", &err);
	assert_non_null(c);
	assert_null(c->upstreams[0].sticky);
	config_unref(c);
}

struct bad_case { const char *snippet; const char *prefix; const char *words; };

static const struct bad_case bad_cases[] = {
	{ "  sticky = { cookee = \"x\"; };\n", "t.conf:5:", "cookee" },
	{ "  sticky = true;\n", "t.conf:5:", "group" },
	{ "  sticky = { cookie = \"a b\"; };\n", "t.conf:5:", "token" },
	{ "  sticky = {\n    cookie = 5; };\n", "t.conf:6:", "cookie" },
	{ "  sticky = {\n    max_age = \"0s\"; };\n", "t.conf:6:", "max_age" },
	{ "  sticky = {\n    max_age = \"1500ms\"; };\n", "t.conf:6:", "max_age" },
	{ "  sticky = {\n    max_age = \"401d\"; };\n", "t.conf:6:", "max_age" },
	{ "  sticky = {\n    max_age = \"soon\"; };\n", "t.conf:6:", "max_age" },
	{ "  sticky = {\n    path = \"app\"; };\n", "t.conf:6:", "path" },
	{ "  sticky = {\n    path = \"/a;b\"; };\n", "t.conf:6:", "path" },
	{ "  sticky = {\n    httponly = \"yes\"; };\n", "t.conf:6:", "httponly" },
	{ "  sticky = {\n    secure = 1; };\n", "t.conf:6:", "secure" },
};

static void
test_config_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char text[1024];
		struct conf_err err;
		struct pd_config *cfg;

		snprintf(text, sizeof(text), "%s%s} );\n", UP_HEAD, c->snippet);
		memset(&err, 0, sizeof(err));
		cfg = config_load_string("t.conf", text, &err);
		if (cfg != NULL) {
			config_unref(cfg);
			fail_msg("case %zu accepted:\n%s", i, text);
		}
		if (strncmp(err.msg, c->prefix, strlen(c->prefix)) != 0 || strstr(err.msg, c->words) == NULL)
			fail_msg("case %zu: got \"%s\", want prefix \"%s\" with \"%s\"", i, err.msg, c->prefix, c->words);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cookie_table),
		cmocka_unit_test(test_token_parse),
		cmocka_unit_test(test_token_mapping),
		cmocka_unit_test(test_config_good),
		cmocka_unit_test(test_config_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
