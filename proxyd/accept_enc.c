/*
 * proxyd/accept_enc.c — Accept-Encoding (RFC 9110 §12.5.3) for the
 * compression filter.
 *
 * The response filter asks two questions of the request: which codings the
 * client takes, and which one to use. The grammar is
 *
 *   Accept-Encoding = #( codings [ weight ] )
 *   codings         = content-coding / "identity" / "*"
 *   weight          = OWS ";" OWS "q=" qvalue                  (§12.4.2)
 *   qvalue          = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 *
 * Its weak spots are what a careless parser gets wrong: a q=0 that excludes,
 * "*" standing for every coding not named, identity being acceptable unless
 * excluded, case, and whitespace. Input that breaks the grammar is ignored
 * member by member: the worst a broken header can do is to cost the client
 * compression, never to make proxyd send a coding the client did not ask
 * for. Pure and allocation-free; called once per request on the worker.
 */
#include "proxyd/accept_enc.h"
#include "proxyd/http_chars.h"

void
accept_enc_init(struct accept_enc *ae)
{
	for (int i = 0; i < COMPRESS_NALG; i++)
		ae->q[i] = AE_UNSET;
	ae->star = AE_UNSET;
	ae->present = 0;
	ae->malformed = 0;
}

/* Token [t, t+n) equals the lower-case literal lit, ignoring case. */
static int
tok_eq(const char *t, size_t n, const char *lit)
{
	size_t i = 0;

	for (; i < n && lit[i] != '\0'; i++)
		if (http_lower((unsigned char)t[i]) != (unsigned char)lit[i])
			return 0;
	return i == n && lit[i] == '\0';
}

/*
 * qvalue (RFC 9110 §12.4.2) in [p, p+n), already trimmed. Returns 0..1000,
 * or -1 when it breaks the grammar: "1.5", ".5", "0.1234", "1.001", a sign
 * or anything else is refused rather than rounded.
 */
static int
parse_qvalue(const char *p, size_t n)
{
	int v, scale = 100;

	if (n == 0 || (p[0] != '0' && p[0] != '1'))
		return -1;
	v = (p[0] - '0') * 1000;
	if (n == 1)
		return v;
	if (p[1] != '.' || n > 5)
		return -1;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (p[0] == '1' && p[i] != '0')
			return -1;
		v += (p[i] - '0') * scale;
	}
	return v;
}

/* Record q for the coding named by token [t, t+n); unknown codings are
 * dropped. The lowest q wins when a coding is named twice. */
static void
record(struct accept_enc *ae, const char *t, size_t n, int q)
{
	int16_t *slot;

	if (n == 1 && t[0] == '*')
		slot = &ae->star;
	else if (tok_eq(t, n, "gzip") || tok_eq(t, n, "x-gzip"))
		slot = &ae->q[COMPRESS_GZIP];
	else if (tok_eq(t, n, "br"))
		slot = &ae->q[COMPRESS_BR];
	else if (tok_eq(t, n, "zstd"))
		slot = &ae->q[COMPRESS_ZSTD];
	else if (tok_eq(t, n, "identity"))
		slot = &ae->q[COMPRESS_IDENTITY];
	else
		return;
	if (*slot == AE_UNSET || q < *slot)
		*slot = (int16_t)q;
}

/*
 * One list member [p, p+n) (between commas, not trimmed). Returns 0 when it
 * was empty or recorded (or named a coding we ignore), -1 when malformed.
 */
static int
parse_member(struct accept_enc *ae, const char *p, size_t n)
{
	size_t i = 0, t0, tn, q0, qn;
	int q = AE_Q_MAX;

	while (i < n && http_ows((unsigned char)p[i]))
		i++;
	while (n > i && http_ows((unsigned char)p[n - 1]))
		n--;
	if (i == n)
		return 0;                       /* empty member: allowed, skipped (§5.6.1) */
	t0 = i;
	while (i < n && http_tchar((unsigned char)p[i]))
		i++;
	tn = i - t0;
	if (tn == 0)
		return -1;
	while (i < n && http_ows((unsigned char)p[i]))
		i++;
	if (i < n) {
		/* weight = OWS ";" OWS "q=" qvalue; no other parameter exists for
		 * Accept-Encoding, so one is a malformed member. */
		if (p[i] != ';')
			return -1;
		i++;
		while (i < n && http_ows((unsigned char)p[i]))
			i++;
		if (n - i < 2 || http_lower((unsigned char)p[i]) != 'q' || p[i + 1] != '=')
			return -1;
		q0 = i + 2;
		qn = n - q0;
		if ((q = parse_qvalue(p + q0, qn)) < 0)
			return -1;
	}
	record(ae, p + t0, tn, q);
	return 0;
}

void
accept_enc_parse(struct accept_enc *ae, const char *v, size_t len)
{
	size_t start = 0;

	ae->present = 1;
	for (size_t i = 0; i <= len; i++) {
		/* A comma inside a quoted string could only occur in a parameter,
		 * which Accept-Encoding does not have: such a member is malformed
		 * whichever way it is cut, so a plain split is safe. */
		if (i == len || v[i] == ',') {
			if (parse_member(ae, v + start, i - start) == -1 && ae->malformed < UINT16_MAX)
				ae->malformed++;
			start = i + 1;
		}
	}
}

int
accept_enc_q(const struct accept_enc *ae, enum compress_alg a)
{
	if ((unsigned)a >= COMPRESS_NALG)
		return 0;
	if (!ae->present)
		return a == COMPRESS_IDENTITY ? AE_Q_MAX : 0;
	if (ae->q[a] != AE_UNSET)
		return ae->q[a];
	if (ae->star != AE_UNSET)
		return ae->star;
	/* §12.5.3: identity is acceptable unless excluded by name or by "*". */
	return a == COMPRESS_IDENTITY ? AE_Q_MAX : 0;
}

enum compress_alg
accept_enc_choose(const struct accept_enc *ae, const uint8_t *prefer, size_t n)
{
	enum compress_alg best = COMPRESS_IDENTITY;
	int best_q = 0;

	if (!ae->present)
		return COMPRESS_IDENTITY;
	for (size_t i = 0; i < n; i++) {
		enum compress_alg a = (enum compress_alg)prefer[i];
		int q;
		if (a == COMPRESS_IDENTITY || (unsigned)a >= COMPRESS_NALG)
			continue;
		q = accept_enc_q(ae, a);
		if (q > best_q) {
			best = a;
			best_q = q;
		}
	}
	/* Only an identity the client weighed itself competes: the implicit
	 * acceptability of identity says nothing about preference. */
	if (best != COMPRESS_IDENTITY && ae->q[COMPRESS_IDENTITY] != AE_UNSET && ae->q[COMPRESS_IDENTITY] > best_q)
		return COMPRESS_IDENTITY;
	return best;
}
