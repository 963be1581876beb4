/*
 * proxyd/compress_rule.c — the rules of the compression filter: which
 * responses are coded, and how the head changes when one is.
 *
 * A proxy that compresses rewrites the representation a client receives, so
 * the rules are about what may not be rewritten (a response already coded,
 * one that forbids it with no-transform, byte ranges whose offsets would
 * stop meaning anything, tunnels, bodiless answers) and about what caches
 * must learn (Vary) and what validators must stop claiming (a strong ETag
 * names exact bytes). They are pure functions of facts the header stage
 * collects, so each rule is a row in tests/unit/test_compress_rule.c.
 */
#include "proxyd/compress_rule.h"
#include "proxyd/http_chars.h"

#include <string.h>

const char *
compress_alg_str(enum compress_alg a)
{
	static const char *const names[COMPRESS_NALG] = { "identity", "gzip", "br", "zstd" };

	return (unsigned)a < COMPRESS_NALG ? names[a] : "?";
}

int
compress_alg_from_str(const char *s, size_t len)
{
	for (int a = COMPRESS_GZIP; a < COMPRESS_NALG; a++) {
		const char *n = compress_alg_str((enum compress_alg)a);
		if (strlen(n) == len && memcmp(n, s, len) == 0)
			return a;
	}
	return -1;
}

const char *
compress_skip_str(enum compress_skip s)
{
	static const char *const names[COMPRESS_SKIP_MAX] = { "none", "off", "upgrade", "no_body", "partial",
		"encoded", "no_transform", "type", "short", "not_accepted", "pool_full" };

	return (unsigned)s < COMPRESS_SKIP_MAX ? names[s] : "?";
}

/* ---- small lexical helpers (RFC 9110 §5.6) ------------------------------ */

/* [a, a+n) equals the lower-case bytes lit[0..n), ignoring case in a. */
static int
eq_lower(const char *a, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (http_lower((unsigned char)a[i]) != (unsigned char)lit[i])
			return 0;
	return 1;
}

/* ---- content types ------------------------------------------------------ */

#define PAT(k, str) { k, sizeof(str) - 1, str }
const struct compress_type_pat compress_default_types[] = {
	PAT(COMPRESS_PAT_TYPE, "text"),
	PAT(COMPRESS_PAT_EXACT, "application/json"),
	PAT(COMPRESS_PAT_EXACT, "application/javascript"),
	PAT(COMPRESS_PAT_EXACT, "application/xml"),
	PAT(COMPRESS_PAT_EXACT, "image/svg+xml"),
	PAT(COMPRESS_PAT_SUFFIX, "+json"),
	PAT(COMPRESS_PAT_SUFFIX, "+xml"),
};
#undef PAT
const size_t compress_default_ntypes = sizeof(compress_default_types) / sizeof(compress_default_types[0]);

int
compress_type_pat_parse(const char *s, struct compress_type_pat *out)
{
	size_t n = strlen(s), slash = n, i;
	struct compress_type_pat p;

	memset(&p, 0, sizeof(p));
	if (n == 0 || n >= COMPRESS_PAT_MAX)
		return -1;
	if (s[0] == '+') {
		/* "+suffix": a structured syntax suffix (RFC 6838 §4.2.8). */
		if (n < 2)
			return -1;
		for (i = 1; i < n; i++)
			if (!http_tchar((unsigned char)s[i]) || s[i] == '*' || s[i] == '+')
				return -1;
		p.kind = COMPRESS_PAT_SUFFIX;
	} else {
		for (i = 0; i < n; i++)
			if (s[i] == '/') {
				slash = i;
				break;
			}
		if (slash == 0 || slash == n || slash + 1 == n)
			return -1;
		for (i = 0; i < slash; i++)
			if (!http_tchar((unsigned char)s[i]) || s[i] == '*')
				return -1;
		if (n == slash + 2 && s[slash + 1] == '*') {
			p.kind = COMPRESS_PAT_TYPE;
			n = slash;
		} else {
			for (i = slash + 1; i < n; i++)
				if (!http_tchar((unsigned char)s[i]) || s[i] == '*')
					return -1;
			p.kind = COMPRESS_PAT_EXACT;
		}
	}
	for (i = 0; i < n; i++)
		p.s[i] = (char)http_lower((unsigned char)s[i]);
	p.len = (uint8_t)n;
	*out = p;
	return 0;
}

int
compress_type_match(const struct compress_type_pat *pats, size_t n, const char *ct, size_t len)
{
	size_t i = 0, t0, slash, end;

	/* media-type = type "/" subtype parameters (RFC 9110 §8.3.1). */
	while (i < len && http_ows((unsigned char)ct[i]))
		i++;
	t0 = i;
	while (i < len && http_tchar((unsigned char)ct[i]))
		i++;
	if (i == t0 || i == len || ct[i] != '/')
		return 0;
	slash = i++;
	while (i < len && http_tchar((unsigned char)ct[i]))
		i++;
	if (i == slash + 1)
		return 0;
	end = i;
	while (i < len && http_ows((unsigned char)ct[i]))
		i++;
	if (i < len && ct[i] != ';')
		return 0;
	for (size_t k = 0; k < n; k++) {
		const struct compress_type_pat *p = &pats[k];
		size_t plen = p->len;
		switch (p->kind) {
		case COMPRESS_PAT_EXACT:
			if (end - t0 == plen && eq_lower(ct + t0, p->s, plen))
				return 1;
			break;
		case COMPRESS_PAT_TYPE:
			if (slash - t0 == plen && eq_lower(ct + t0, p->s, plen))
				return 1;
			break;
		case COMPRESS_PAT_SUFFIX:
			/* The subtype must have something before its suffix. */
			if (end - (slash + 1) > plen && eq_lower(ct + end - plen, p->s, plen))
				return 1;
			break;
		}
	}
	return 0;
}

/* ---- the decision ------------------------------------------------------- */

static int
route_offers(const struct compress_route_conf *rc, enum compress_alg a)
{
	for (size_t i = 0; i < rc->nprefer; i++)
		if (rc->prefer[i] == a)
			return 1;
	return 0;
}

/* The skip reason of the first rule that holds (compress_rule.h lists
 * them), COMPRESS_SKIP_NONE when none does; *vary set as documented. */
static enum compress_skip
first_rule(const struct compress_route_conf *rc, const struct compress_req_facts *rq,
    const struct compress_resp_facts *rs, int *vary)
{
	int st = rs->status;

	*vary = 0;
	if (!rc->enabled)
		return COMPRESS_SKIP_OFF;
	if (st == 101 || rs->upgraded || rq->upgrade)
		return COMPRESS_SKIP_UPGRADE;
	if ((st >= 100 && st < 200) || st == 204 || st == 304)
		return COMPRESS_SKIP_NO_BODY;
	if (st == 206 || rq->range)
		return COMPRESS_SKIP_PARTIAL;
	if (rs->encoded)
		return COMPRESS_SKIP_ENCODED;
	if (rs->no_transform || rq->no_transform)
		return COMPRESS_SKIP_NO_TRANSFORM;
	if (rs->ctype == NULL || !compress_type_match(rc->types, rc->ntypes, rs->ctype, rs->ctype_len))
		return COMPRESS_SKIP_TYPE;
	if (rs->length == 0 || (rs->length > 0 && (uint64_t)rs->length < rc->min_length))
		return COMPRESS_SKIP_SHORT;
	/* From here on the same URL would be coded for some request: caches
	 * must key the answer by Accept-Encoding. */
	*vary = 1;
	if (rq->head)
		return COMPRESS_SKIP_NO_BODY;
	if (rq->accepted == COMPRESS_IDENTITY || (unsigned)rq->accepted >= COMPRESS_NALG ||
	    !route_offers(rc, rq->accepted))
		return COMPRESS_SKIP_NOT_ACCEPTED;
	return COMPRESS_SKIP_NONE;
}

void
compress_decide(const struct compress_route_conf *rc, const struct compress_req_facts *rq,
    const struct compress_resp_facts *rs, struct compress_decision *d)
{
	int vary = 0;

	d->skip = first_rule(rc, rq, rs, &vary);
	d->vary = vary ? 1 : 0;
	if (d->skip == COMPRESS_SKIP_NONE) {
		d->alg = rq->accepted;
		d->level = rc->level[rq->accepted];
	} else {
		d->alg = COMPRESS_IDENTITY;
		d->level = 0;
	}
}

/* ---- Cache-Control ------------------------------------------------------ */

int
compress_cc_no_transform(const char *v, size_t len)
{
	size_t i = 0;

	/* cache-directive = token [ "=" ( token / quoted-string ) ], in a
	 * comma list (RFC 9111 §5.2). Any member that breaks this is skipped
	 * up to the next comma outside a quoted string. */
	while (i < len) {
		size_t t0, tn;
		int bad = 0;

		while (i < len && (http_ows((unsigned char)v[i]) || v[i] == ','))
			i++;
		t0 = i;
		while (i < len && http_tchar((unsigned char)v[i]))
			i++;
		tn = i - t0;
		while (i < len && http_ows((unsigned char)v[i]))
			i++;
		if (i < len && v[i] == '=') {
			i++;
			while (i < len && http_ows((unsigned char)v[i]))
				i++;
			if (i < len && v[i] == '"') {
				for (i++; i < len && v[i] != '"'; i++)
					if (v[i] == '\\')
						i++;
				i++;
			} else {
				while (i < len && http_tchar((unsigned char)v[i]))
					i++;
			}
			while (i < len && http_ows((unsigned char)v[i]))
				i++;
		}
		if (i < len && v[i] != ',')
			bad = 1;
		if (!bad && tn == 12 && eq_lower(v + t0, "no-transform", 12))
			return 1;
		/* Resynchronise at the next comma outside a quoted string. */
		while (i < len && v[i] != ',') {
			if (v[i] == '"')
				for (i++; i < len && v[i] != '"'; i++)
					if (v[i] == '\\')
						i++;
			i++;
		}
	}
	return 0;
}

/* ---- Vary --------------------------------------------------------------- */

int
compress_vary_scan(const char *v, size_t len)
{
	int r = 0;
	size_t i = 0;

	while (i < len) {
		size_t t0, tn;

		while (i < len && (http_ows((unsigned char)v[i]) || v[i] == ','))
			i++;
		t0 = i;
		while (i < len && v[i] != ',' && !http_ows((unsigned char)v[i]))
			i++;
		tn = i - t0;
		if (tn == 1 && v[t0] == '*')
			r |= COMPRESS_VARY_STAR;
		else if (tn == 15 && eq_lower(v + t0, "accept-encoding", 15))
			r |= COMPRESS_VARY_AE;
		while (i < len && v[i] != ',')
			i++;
	}
	return r;
}

int
compress_vary_merge(const char *v, size_t len, char *out, size_t cap)
{
	static const char ae[] = "Accept-Encoding";
	size_t s = 0, e = len;

	while (s < e && http_ows((unsigned char)v[s]))
		s++;
	while (e > s && (http_ows((unsigned char)v[e - 1]) || v[e - 1] == ','))
		e--;
	if (s == e) {
		if (cap < sizeof(ae) - 1)
			return -1;
		memcpy(out, ae, sizeof(ae) - 1);
		return (int)(sizeof(ae) - 1);
	}
	if (compress_vary_scan(v, len) != 0) {
		if (cap < len || len > INT32_MAX)
			return -1;
		memcpy(out, v, len);
		return (int)len;
	}
	if (cap < (e - s) + 2 + sizeof(ae) - 1 || e - s > INT32_MAX - 32)
		return -1;
	memcpy(out, v + s, e - s);
	memcpy(out + (e - s), ", ", 2);
	memcpy(out + (e - s) + 2, ae, sizeof(ae) - 1);
	return (int)((e - s) + 2 + sizeof(ae) - 1);
}

/* ---- ETag --------------------------------------------------------------- */

int
compress_etag_weaken(const char *v, size_t len, char *out, size_t cap)
{
	size_t s = 0, e = len, o;
	int weak = 0;

	while (s < e && http_ows((unsigned char)v[s]))
		s++;
	while (e > s && http_ows((unsigned char)v[e - 1]))
		e--;
	if (e - s >= 2 && v[s] == 'W' && v[s + 1] == '/') {
		weak = 1;
		o = s + 2;
	} else {
		o = s;
	}
	/* opaque-tag = DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text */
	if (e - o < 2 || v[o] != '"' || v[e - 1] != '"')
		return -1;
	for (size_t i = o + 1; i < e - 1; i++) {
		unsigned char c = (unsigned char)v[i];
		if (!(c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80))
			return -1;
	}
	if (e - s > INT32_MAX - 2 || cap < (e - s) + (weak ? 0 : 2))
		return -1;
	if (weak) {
		memcpy(out, v + s, e - s);
		return (int)(e - s);
	}
	out[0] = 'W';
	out[1] = '/';
	memcpy(out + 2, v + s, e - s);
	return (int)(e - s + 2);
}
