/*
 * tests/fuzz/fuzz_accept_encoding.c — libFuzzer harness for the header
 * values the compression filter reads: Accept-Encoding (proxyd/accept_enc.c)
 * first, then Cache-Control, Vary, ETag and Content-Type through
 * proxyd/compress_rule.c's helpers.
 *
 * Input: the first byte picks the server's preference order (a subset and
 * order of gzip, br, zstd); the rest is Accept-Encoding field lines
 * separated by LF. A reference model written here from RFC 9110 §12.5.3
 * and §12.4.2 (split at commas, trim OWS, token, optional ";q=" with a
 * qvalue of "0"-"0.999" or "1"-"1.000", nothing else; a coding named twice
 * keeps its lowest weight) predicts the q-value of each coding, which
 * accept_enc must match exactly, and the choice must be the coding of the
 * highest q-value in preference order (ties to the earlier), or identity.
 * The whole value is also parsed as one line with its LFs turned into
 * commas: the same list, the same result (RFC 9110 §5.3).
 *
 * The same bytes then go to the other helpers, which must stay within
 * their output bounds and keep their documented shape (a merged Vary lists
 * Accept-Encoding or "*"; a weakened ETag starts with W/").
 *
 * Seeds: tests/fuzz/corpus/accept_encoding/, what browsers, curl and
 * crawlers send (tests/fuzz/corpus/README).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyd/accept_enc.h"
#include "proxyd/compress_rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_accept_encoding: invariant broken: %s\n", what);
		abort();
	}
}

/* ---- the reference model --------------------------------------------------- */

struct model { int q[COMPRESS_NALG]; int star; int present; };

static int m_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int m_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* qvalue text -> thousandths, -1 if not a qvalue. */
static int m_qvalue(const uint8_t *p, size_t n)
{
	int v = 0, digits = 0;

	if (n == 0 || n > 5 || (p[0] != '0' && p[0] != '1'))
		return -1;
	if (n >= 2 && p[1] != '.')
		return -1;
	for (size_t i = 2; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
		digits++;
	}
	while (digits++ < 3)
		v *= 10;
	if (p[0] == '1')
		return v == 0 ? 1000 : -1;
	return v;
}

static int m_is(const uint8_t *t, size_t n, const char *lit)
{
	if (strlen(lit) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = t[i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		if (c != (uint8_t)lit[i])
			return 0;
	}
	return 1;
}

static void m_member(struct model *m, const uint8_t *p, size_t n)
{
	size_t a = 0, b = n, t;
	int q = 1000, *slot;

	while (a < b && m_ows(p[a]))
		a++;
	while (b > a && m_ows(p[b - 1]))
		b--;
	if (a == b)
		return;
	for (t = a; t < b && m_tchar(p[t]); t++)
		;
	if (t == a)
		return;
	if (t < b) {
		size_t k = t;
		while (k < b && m_ows(p[k]))
			k++;
		if (k == b || p[k] != ';')
			return;
		k++;
		while (k < b && m_ows(p[k]))
			k++;
		if (b - k < 2 || (p[k] != 'q' && p[k] != 'Q') || p[k + 1] != '=')
			return;
		if ((q = m_qvalue(p + k + 2, b - k - 2)) < 0)
			return;
	}
	if (t - a == 1 && p[a] == '*')
		slot = &m->star;
	else if (m_is(p + a, t - a, "gzip") || m_is(p + a, t - a, "x-gzip"))
		slot = &m->q[COMPRESS_GZIP];
	else if (m_is(p + a, t - a, "br"))
		slot = &m->q[COMPRESS_BR];
	else if (m_is(p + a, t - a, "zstd"))
		slot = &m->q[COMPRESS_ZSTD];
	else if (m_is(p + a, t - a, "identity"))
		slot = &m->q[COMPRESS_IDENTITY];
	else
		return;
	if (*slot < 0 || q < *slot)
		*slot = q;
}

static void m_parse(struct model *m, const uint8_t *p, size_t n)
{
	size_t s = 0;

	m->present = 1;
	for (size_t i = 0; i <= n; i++)
		if (i == n || p[i] == ',' || p[i] == '\n') {
			m_member(m, p + s, i - s);
			s = i + 1;
		}
}

static int m_q(const struct model *m, int a)
{
	if (!m->present)
		return a == COMPRESS_IDENTITY ? 1000 : 0;
	if (m->q[a] >= 0)
		return m->q[a];
	if (m->star >= 0)
		return m->star;
	return a == COMPRESS_IDENTITY ? 1000 : 0;
}

/* ---- the harness ----------------------------------------------------------- */

static void parse_lines(struct accept_enc *ae, const uint8_t *p, size_t n)
{
	size_t s = 0;

	accept_enc_init(ae);
	for (size_t i = 0; i <= n; i++)
		if (i == n || p[i] == '\n') {
			accept_enc_parse(ae, (const char *)p + s, i - s);
			s = i + 1;
		}
}

static void helpers(const uint8_t *p, size_t n)
{
	char *out = malloc(n + 17), *again;
	int r, scan;

	if (out == NULL)
		return;
	(void)compress_cc_no_transform((const char *)p, n);
	(void)compress_type_match(compress_default_types, compress_default_ntypes, (const char *)p, n);
	scan = compress_vary_scan((const char *)p, n);
	r = compress_vary_merge((const char *)p, n, out, n + 17);
	check(r >= 0 && (size_t)r <= n + 17, "vary merge fits len + 17");
	check(compress_vary_scan(out, (size_t)r) != 0, "merged Vary lists Accept-Encoding or *");
	if (scan != 0)
		check((size_t)r == n && memcmp(out, p, n) == 0, "a Vary that has it is left alone");
	r = compress_etag_weaken((const char *)p, n, out, n + 2);
	if (r >= 0) {
		check((size_t)r <= n + 2 && r >= 4 && out[0] == 'W' && out[1] == '/' && out[2] == '"' && out[r - 1] == '"',
		    "weak ETag shape");
		if ((again = malloc((size_t)r + 2)) != NULL) {
			check(compress_etag_weaken(out, (size_t)r, again, (size_t)r + 2) == r &&
			    memcmp(again, out, (size_t)r) == 0, "weakening a weak ETag changes nothing");
			free(again);
		}
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t algs[3] = { COMPRESS_GZIP, COMPRESS_BR, COMPRESS_ZSTD };
	uint8_t prefer[3], *joined;
	size_t np = 0;
	struct accept_enc ae, ae1;
	struct model m;
	int best = COMPRESS_IDENTITY, best_q = 0, got;

	if (size == 0)
		return 0;
	/* Preference: bits 0-2 choose which codings, bits 3-5 rotate them. */
	for (int i = 0; i < 3; i++) {
		int a = algs[(i + (data[0] >> 3)) % 3];
		if (data[0] & (1 << ((i + (data[0] >> 3)) % 3)))
			prefer[np++] = (uint8_t)a;
	}
	data++;
	size--;

	parse_lines(&ae, data, size);
	memset(&m, 0xff, sizeof(m));
	m.star = -1;
	for (int a = 0; a < COMPRESS_NALG; a++)
		m.q[a] = -1;
	m_parse(&m, data, size);
	for (int a = 0; a < COMPRESS_NALG; a++) {
		int q = accept_enc_q(&ae, (enum compress_alg)a);
		check(q >= 0 && q <= 1000, "q within 0..1000");
		check(q == m_q(&m, a), "q-value matches the model");
	}
	got = accept_enc_choose(&ae, prefer, np);
	for (size_t i = 0; i < np; i++)
		if (m_q(&m, prefer[i]) > best_q) {
			best = prefer[i];
			best_q = m_q(&m, prefer[i]);
		}
	if (best != COMPRESS_IDENTITY && m.q[COMPRESS_IDENTITY] > best_q)
		best = COMPRESS_IDENTITY;
	check(got == best, "choice matches the model");
	check(got == COMPRESS_IDENTITY || accept_enc_q(&ae, (enum compress_alg)got) > 0, "never a coding at q=0");

	/* One line with commas for LFs: the same list. */
	if ((joined = malloc(size ? size : 1)) != NULL) {
		for (size_t i = 0; i < size; i++)
			joined[i] = data[i] == '\n' ? ',' : data[i];
		accept_enc_init(&ae1);
		accept_enc_parse(&ae1, (const char *)joined, size);
		for (int a = 0; a < COMPRESS_NALG; a++)
			check(accept_enc_q(&ae1, (enum compress_alg)a) == accept_enc_q(&ae, (enum compress_alg)a),
			    "several lines = one comma list");
		free(joined);
	}

	helpers(data, size);
	return 0;
}
