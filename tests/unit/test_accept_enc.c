/*
 * tests/unit/test_accept_enc.c — proxyd/accept_enc: Accept-Encoding
 * (RFC 9110 §12.5.3) negotiation as tables.
 *
 * Each row is the field lines a client sends (NUL-separated, "" for one
 * empty line, NULL for no field at all), the server's preference order, and
 * the coding that must be chosen. A second table pins the effective
 * q-values, so a rule that chose right for the wrong reason still fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/accept_enc.h"

#define I COMPRESS_IDENTITY
#define G COMPRESS_GZIP
#define B COMPRESS_BR
#define Z COMPRESS_ZSTD

/* Server preference orders used below. */
static const uint8_t P_ZBG[] = { Z, B, G };   /* the default */
static const uint8_t P_GBZ[] = { G, B, Z };
static const uint8_t P_G[] = { G };
static const uint8_t P_BZ[] = { B, Z };

struct choose_case {
	const char *lines;         /* field values separated by "\n"; NULL: no field */
	const uint8_t *prefer;
	size_t nprefer;
	int want;
	unsigned malformed;        /* members the parser must have ignored */
};
#define PR(p) p, sizeof(p)

static const struct choose_case choose_cases[] = {
	/* No field: identity only (proxyd compresses for clients that ask). */
	{ NULL, PR(P_ZBG), I, 0 },
	/* An empty field: "no coding wanted" (§12.5.3). */
	{ "", PR(P_ZBG), I, 0 },
	{ "   ", PR(P_ZBG), I, 0 },
	/* Plain lists: server preference breaks the tie. */
	{ "gzip", PR(P_ZBG), G, 0 },
	{ "gzip, deflate, br, zstd", PR(P_ZBG), Z, 0 },      /* Chrome 123+ */
	{ "gzip, deflate, br, zstd", PR(P_GBZ), G, 0 },
	{ "gzip, deflate, br", PR(P_ZBG), B, 0 },            /* Firefox, Safari */
	{ "gzip, deflate", PR(P_ZBG), G, 0 },
	{ "deflate", PR(P_ZBG), I, 0 },                      /* a coding we do not make */
	{ "compress, x-compress", PR(P_ZBG), I, 0 },
	{ "br", PR(P_G), I, 0 },                             /* not offered by this route */
	{ "gzip, br", PR(P_BZ), B, 0 },
	/* q-values: the client's order wins over the server's. */
	{ "zstd;q=0.5, gzip;q=0.8", PR(P_ZBG), G, 0 },
	{ "zstd;q=0.8, gzip;q=0.5", PR(P_GBZ), Z, 0 },
	{ "zstd;q=0.5, gzip;q=0.5", PR(P_GBZ), G, 0 },        /* equal: server order */
	{ "br;q=1.0, gzip;q=0.999", PR(P_GBZ), B, 0 },
	{ "br;q=0.001", PR(P_ZBG), B, 0 },                   /* tiny but above zero */
	/* q=0 excludes, in every spelling. */
	{ "gzip;q=0", PR(P_ZBG), I, 0 },
	{ "gzip;q=0.0", PR(P_ZBG), I, 0 },
	{ "gzip;q=0.000", PR(P_ZBG), I, 0 },
	{ "gzip;q=0.", PR(P_ZBG), I, 0 },
	{ "gzip, zstd;q=0", PR(P_ZBG), G, 0 },
	/* Named twice: the lowest weight holds, so a q=0 anywhere excludes. */
	{ "gzip, gzip;q=0", PR(P_ZBG), I, 0 },
	{ "gzip;q=0, gzip", PR(P_ZBG), I, 0 },
	{ "gzip;q=0.3, br;q=0.5, gzip;q=0.9", PR(P_GBZ), B, 0 },
	/* "*": every coding not named. */
	{ "*", PR(P_ZBG), Z, 0 },
	{ "*", PR(P_GBZ), G, 0 },
	{ "*;q=0", PR(P_ZBG), I, 0 },
	{ "*;q=0, gzip", PR(P_ZBG), G, 0 },
	{ "gzip;q=0, *", PR(P_GBZ), B, 0 },
	{ "*;q=0.5, br;q=0.1", PR(P_BZ), Z, 0 },             /* zstd via "*" beats a low br */
	{ "zstd;q=0, *", PR(P_ZBG), B, 0 },
	/* identity: competes only when the client weighed it. */
	{ "identity", PR(P_ZBG), I, 0 },
	{ "gzip;q=0.5", PR(P_ZBG), G, 0 },                   /* implicit identity does not outrank */
	{ "identity;q=1, gzip;q=0.5", PR(P_ZBG), I, 0 },
	{ "identity;q=0.5, gzip;q=0.5", PR(P_ZBG), G, 0 },   /* tie: compress */
	{ "identity;q=0, gzip;q=0.1", PR(P_ZBG), G, 0 },
	{ "identity;q=0", PR(P_ZBG), I, 0 },                 /* nothing acceptable: identity anyway */
	{ "identity;q=0, *;q=0", PR(P_ZBG), I, 0 },
	/* Case, whitespace, empty members, several lines. */
	{ "GZIP", PR(P_ZBG), G, 0 },
	{ "Br;Q=0.9, ZsTd;q=0.8", PR(P_ZBG), B, 0 },
	{ "\t gzip \t ; \t q=0.7 \t", PR(P_ZBG), G, 0 },
	{ ",,gzip,,", PR(P_ZBG), G, 0 },
	{ " , ,", PR(P_ZBG), I, 0 },
	{ "gzip\nbr", PR(P_ZBG), B, 0 },                      /* two field lines: one list */
	{ "br;q=0\nbr", PR(P_ZBG), I, 0 },
	{ "x-gzip", PR(P_ZBG), G, 0 },                       /* §8.4.1.3 */
	{ "X-GZIP;q=0, gzip", PR(P_ZBG), I, 0 },             /* the same coding */
	/* Malformed members are ignored and never accept anything. */
	{ "gzip;q=2", PR(P_ZBG), I, 1 },
	{ "gzip;q=1.5", PR(P_ZBG), I, 1 },
	{ "gzip;q=1.001", PR(P_ZBG), I, 1 },
	{ "gzip;q=0.1234", PR(P_ZBG), I, 1 },
	{ "gzip;q=.5", PR(P_ZBG), I, 1 },
	{ "gzip;q=-1", PR(P_ZBG), I, 1 },
	{ "gzip;q=", PR(P_ZBG), I, 1 },
	{ "gzip;q", PR(P_ZBG), I, 1 },
	{ "gzip;", PR(P_ZBG), I, 1 },
	{ "gzip;q = 0.5", PR(P_ZBG), I, 1 },                 /* no blanks around "=" (§12.4.2) */
	{ "gzip;level=9", PR(P_ZBG), I, 1 },                 /* Accept-Encoding has no parameters */
	{ "gzip;q=0.5;x=1", PR(P_ZBG), I, 1 },
	{ "gzip br", PR(P_ZBG), I, 1 },                      /* two tokens, no comma */
	{ "gz\"ip\"", PR(P_ZBG), I, 1 },
	{ "\"gzip\"", PR(P_ZBG), I, 1 },
	{ "gzip;q=2, br", PR(P_ZBG), B, 1 },                 /* one bad member, one good */
	{ "zstd;q=0.5x, gzip", PR(P_ZBG), G, 1 },
	{ "gz\x01ip, br", PR(P_ZBG), B, 1 },                 /* control byte */
	{ "gzip\xff", PR(P_ZBG), I, 1 },                     /* obs-text is not a tchar */
	{ ";q=1", PR(P_ZBG), I, 1 },
	/* An empty preference list offers nothing. */
	{ "gzip", P_ZBG, 0, I, 0 },
};

static void
parse_lines(struct accept_enc *ae, const char *lines)
{
	accept_enc_init(ae);
	if (lines == NULL)
		return;
	for (;;) {
		const char *nl = strchr(lines, '\n');
		size_t n = nl ? (size_t)(nl - lines) : strlen(lines);
		accept_enc_parse(ae, lines, n);
		if (nl == NULL)
			break;
		lines = nl + 1;
	}
}

static void
test_choose(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(choose_cases) / sizeof(choose_cases[0]); i++) {
		const struct choose_case *c = &choose_cases[i];
		struct accept_enc ae;
		int got;

		parse_lines(&ae, c->lines);
		got = accept_enc_choose(&ae, c->prefer, c->nprefer);
		if (got != c->want)
			fail_msg("case %zu \"%s\": chose %d, want %d", i, c->lines ? c->lines : "(none)", got, c->want);
		if (ae.malformed != c->malformed)
			fail_msg("case %zu \"%s\": %u malformed, want %u", i, c->lines ? c->lines : "(none)",
			    ae.malformed, c->malformed);
	}
}

/* Effective q-values in thousandths: identity, gzip, br, zstd. */
struct q_case { const char *lines; int q[COMPRESS_NALG]; };

static const struct q_case q_cases[] = {
	{ NULL,                          { 1000, 0, 0, 0 } },
	{ "",                            { 1000, 0, 0, 0 } },
	{ "gzip",                        { 1000, 1000, 0, 0 } },
	{ "gzip;q=0.5",                  { 1000, 500, 0, 0 } },
	{ "gzip;q=0.05",                 { 1000, 50, 0, 0 } },
	{ "gzip;q=0.005",                { 1000, 5, 0, 0 } },
	{ "gzip;q=1.",                   { 1000, 1000, 0, 0 } },
	{ "gzip;q=1.000",                { 1000, 1000, 0, 0 } },
	{ "*;q=0.3",                     { 300, 300, 300, 300 } },
	{ "*;q=0",                       { 0, 0, 0, 0 } },
	{ "*;q=0, identity",             { 1000, 0, 0, 0 } },
	{ "identity;q=0",                { 0, 0, 0, 0 } },
	{ "br;q=0.7, *;q=0.2",           { 200, 200, 700, 200 } },
	{ "zstd;q=0.9, zstd;q=0.4",      { 1000, 0, 0, 400 } },
	{ "gzip;q=9",                    { 1000, 0, 0, 0 } },
};

static void
test_q(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(q_cases) / sizeof(q_cases[0]); i++) {
		const struct q_case *c = &q_cases[i];
		struct accept_enc ae;

		parse_lines(&ae, c->lines);
		for (int a = 0; a < COMPRESS_NALG; a++) {
			int got = accept_enc_q(&ae, (enum compress_alg)a);
			if (got != c->q[a])
				fail_msg("case %zu \"%s\": q[%d] = %d, want %d", i, c->lines ? c->lines : "(none)", a, got,
				    c->q[a]);
		}
	}
	/* Out of range coding: 0, never an index past the array. */
	{
		struct accept_enc ae;
		parse_lines(&ae, "*");
		assert_int_equal(accept_enc_q(&ae, COMPRESS_NALG), 0);
	}
}

/* The value is read only within its length: bytes after it (here "br")
 * must not count, and a value cut mid-token is just a shorter token. */
static void
test_length_bound(void **state)
{
	static const char v[] = "gzip;q=0.5, brXXXX";
	struct accept_enc ae;

	(void)state;
	accept_enc_init(&ae);
	accept_enc_parse(&ae, v, 10);                  /* "gzip;q=0.5" */
	assert_int_equal(accept_enc_q(&ae, COMPRESS_GZIP), 500);
	assert_int_equal(accept_enc_q(&ae, COMPRESS_BR), 0);
	accept_enc_init(&ae);
	accept_enc_parse(&ae, v, 14);                  /* "gzip;q=0.5, br" */
	assert_int_equal(accept_enc_q(&ae, COMPRESS_BR), 1000);
	accept_enc_init(&ae);
	accept_enc_parse(&ae, v, 0);
	assert_int_equal(accept_enc_choose(&ae, P_ZBG, sizeof(P_ZBG)), COMPRESS_IDENTITY);
}

/* A long header of many members: linear, and the malformed counter
 * saturates instead of wrapping. */
static void
test_many_members(void **state)
{
	static char v[400000];
	struct accept_enc ae;
	size_t n = 0;

	(void)state;
	while (n + 4 < sizeof(v)) {
		memcpy(v + n, "@@@,", 4);
		n += 4;
	}
	memcpy(v + n - 4, "br  ", 4);
	accept_enc_init(&ae);
	accept_enc_parse(&ae, v, n);
	assert_int_equal(ae.malformed, (n / 4 - 1) > UINT16_MAX ? UINT16_MAX : n / 4 - 1);
	assert_int_equal(accept_enc_choose(&ae, P_ZBG, sizeof(P_ZBG)), COMPRESS_BR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_q),
		cmocka_unit_test(test_length_bound),
		cmocka_unit_test(test_many_members),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
