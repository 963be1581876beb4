/*
 * proxyd/cache_rule.c — RFC 9111's rules for a shared cache (cache_rule.h),
 * pure. Each rule names the section it enforces.
 */
#include "proxyd/cache_rule.h"

#include "proxyd/http_parse.h"

#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const nostore_names[CACHE_NS_MAX] = {
	"none", "method", "status", "request-no-store", "no-store", "private", "authorization", "set-cookie",
	"vary-star", "no-cache", "not-fresh", "too-large", "body",
};

const char *
cache_nostore_str(enum cache_nostore why)
{
	return (unsigned)why < CACHE_NS_MAX ? nostore_names[why] : "?";
}

void
cache_cc_init(struct cache_cc *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->max_age = cc->s_maxage = cc->min_fresh = cc->max_stale = -1;
	cc->stale_while_revalidate = cc->stale_if_error = -1;
}

static int
is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* delta-seconds (§1.2.2): digits only; a value too large to hold is taken
 * as 2^31 ("a cache MUST consider it as 2147483648"). -1 when malformed. */
static int64_t
delta_seconds(const char *v, size_t len)
{
	int64_t x = 0;

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		/* The quoted form is not the one to generate but §5.2 asks
		 * recipients to accept it. */
		v++;
		len -= 2;
	}
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (x < 2147483648LL)
			x = x * 10 + (v[i] - '0');
	}
	return x > 2147483648LL ? 2147483648LL : x;
}

/* 8 bytes lowercased (ASCII; any byte value: a byte's 0x20 bit is set
 * where it is 'A'..'Z' and nothing else changes). */
static uint64_t
lower8(uint64_t w)
{
	uint64_t hi = w & 0x8080808080808080ULL, lo = w & ~0x8080808080808080ULL;
	uint64_t upper = ((lo + 0x3f3f3f3f3f3f3f3fULL) & ~(lo + 0x2525252525252525ULL)) & 0x8080808080808080ULL & ~hi;

	return w | (upper >> 2);
}

/* ASCII case-insensitive equality of n (nl bytes) with a lowercase
 * literal of the same length, a word at a time (overlapping loads of
 * fixed size, no byte loop): every response a cache considers has a
 * Cache-Control to parse. Exact for any bytes (a directive name need not
 * be tchars only). */
static int
lc_eq(const char *n, const char *lit, size_t nl)
{
	uint64_t a, b;
	uint32_t x, y;

	if (nl >= 8) {
		for (size_t i = 0; i + 8 < nl; i += 8) {
			memcpy(&a, n + i, 8);
			memcpy(&b, lit + i, 8);
			if (lower8(a) != b)
				return 0;
		}
		memcpy(&a, n + nl - 8, 8);
		memcpy(&b, lit + nl - 8, 8);
		return lower8(a) == b;
	}
	if (nl >= 4) {
		memcpy(&x, n, 4);
		memcpy(&y, lit, 4);
		if ((uint32_t)lower8(x) != y)
			return 0;
		memcpy(&x, n + nl - 4, 4);
		memcpy(&y, lit + nl - 4, 4);
		return (uint32_t)lower8(x) == y;
	}
	for (size_t i = 0; i < nl; i++)
		if ((n[i] >= 'A' && n[i] <= 'Z' ? (char)(n[i] + 32) : n[i]) != lit[i])
			return 0;
	return 1;
}

/* Directive names compared only against those of their length. */
#define dir_is(n, nl, lit) ((nl) == sizeof(lit) - 1 && lc_eq((n), (lit), sizeof(lit) - 1))

/* The bytes that end a directive's name: '=', ',', SP, HTAB (a table:
 * one load per byte of every Cache-Control a cache parses). */
static const uint8_t name_end[256] = { ['='] = 1, [','] = 1, [' '] = 1, ['\t'] = 1 };

void
cache_cc_parse(struct cache_cc *cc, const char *v, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t ns, ne, vs = 0, ve = 0;
		int has_val = 0, inq = 0;

		while (i < len && (is_ows(v[i]) || v[i] == ','))
			i++;
		ns = i;
		while (i < len && !name_end[(uint8_t)v[i]])
			i++;
		ne = i;
		while (i < len && is_ows(v[i]))
			i++;
		if (i < len && v[i] == '=') {
			i++;
			while (i < len && is_ows(v[i]))
				i++;
			vs = i;
			while (i < len && (inq || v[i] != ',')) {
				if (v[i] == '"')
					inq = !inq;
				else if (v[i] == '\\' && inq && i + 1 < len)
					i++;
				i++;
			}
			ve = i;
			while (ve > vs && is_ows(v[ve - 1]))
				ve--;
			has_val = 1;
		}
		while (i < len && v[i] != ',')
			i++;
		if (ne == ns)
			continue;
		{
			const char *n = v + ns, *val = v + vs;
			size_t nl = ne - ns, vl = ve - vs;
			int64_t d = has_val ? delta_seconds(val, vl) : -1;

			if (dir_is(n, nl, "no-store"))
				cc->no_store = 1;
			else if (dir_is(n, nl, "no-cache"))
				/* Qualified or not: a qualified no-cache lets the
				 * rest be used, but treating it as unqualified is
				 * the safe reading (§5.2.2.4). */
				cc->no_cache = 1;
			else if (dir_is(n, nl, "private"))
				/* Qualified private forbids storing the named
				 * fields; not storing at all is the safe reading
				 * (§5.2.2.7). */
				cc->private_ = 1;
			else if (dir_is(n, nl, "public"))
				cc->public_ = 1;
			else if (dir_is(n, nl, "must-revalidate"))
				cc->must_revalidate = 1;
			else if (dir_is(n, nl, "proxy-revalidate"))
				cc->proxy_revalidate = 1;
			else if (dir_is(n, nl, "only-if-cached"))
				cc->only_if_cached = 1;
			else if (dir_is(n, nl, "max-age"))
				/* §4.2.1: an invalid value means stale (0); with
				 * several, the most restrictive holds. */
				cc->max_age = cc->max_age >= 0 && cc->max_age < (d < 0 ? 0 : d) ? cc->max_age : (d < 0 ? 0 : d);
			else if (dir_is(n, nl, "s-maxage"))
				cc->s_maxage = cc->s_maxage >= 0 && cc->s_maxage < (d < 0 ? 0 : d) ? cc->s_maxage : (d < 0 ? 0 : d);
			else if (dir_is(n, nl, "min-fresh"))
				cc->min_fresh = d;
			else if (dir_is(n, nl, "max-stale"))
				/* §5.2.1.2: without a value, any staleness. */
				cc->max_stale = has_val ? d : 2147483648LL;
			else if (dir_is(n, nl, "stale-while-revalidate"))
				cc->stale_while_revalidate = d;     /* RFC 5861 §3 */
			else if (dir_is(n, nl, "stale-if-error"))
				cc->stale_if_error = d;             /* RFC 5861 §4 */
		}
	}
}

/* ---- HTTP-date (RFC 9110 §5.6.7) ------------------------------------------ */

static int
month_of(const char *m)
{
	static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	/* Compared as 3 bytes, not strncmp(3) twelve times: every Date of
	 * every response a cache considers comes here. Case-sensitive, as
	 * the grammar's month is (RFC 9110 §5.6.7). */
	for (int i = 0; i < 12; i++)
		if (m[0] == names[i * 3] && m[1] == names[i * 3 + 1] && m[2] == names[i * 3 + 2])
			return i;
	return -1;
}

static int
num(const char *s, int n)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	return x;
}

static int64_t
from_tm(int year, int mon, int day, int h, int mi, int s)
{
	int64_t y, era, yoe, doy, doe, m;

	if (mon < 0 || day < 1 || day > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 || year < 1970)
		return -1;
	/* Days since 1970-01-01 in the proleptic Gregorian calendar (Howard
	 * Hinnant's days_from_civil) rather than timegm(3): this runs for
	 * every Date, Expires and Last-Modified of every response a cache
	 * considers, and timegm costs several times the arithmetic. A day
	 * past the month's end rolls over as timegm's does. */
	m = mon + 1;
	y = year - (m <= 2);
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + day - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return ((era * 146097 + doe - 719468) * 24 + h) * 3600 + (int64_t)mi * 60 + s;
}

static int64_t http_date_parse(const char *v, size_t len);

/* The last IMF-fixdate converted, per thread: a response's Date changes
 * once a second, so most Dates a cache considers are the previous one's
 * bytes again (a compare, not a parse). */
static _Thread_local struct { char s[29]; int64_t t; } date_memo = { "", -1 };    /* 29 NULs: not a date (-1) */

int64_t
cache_http_date(const char *v, size_t len)
{
	int64_t t;

	if (len == 29 && memcmp(v, date_memo.s, 29) == 0)
		return date_memo.t;
	t = http_date_parse(v, len);
	if (len == 29 && t >= 0) {
		memcpy(date_memo.s, v, 29);
		date_memo.t = t;
	}
	return t;
}

static int64_t
http_date_parse(const char *v, size_t len)
{
	char b[64];
	const char *p;

	while (len > 0 && is_ows(*v)) {
		v++;
		len--;
	}
	while (len > 0 && is_ows(v[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(b))
		return -1;
	memcpy(b, v, len);
	b[len] = '\0';
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	if (len == 29 && b[3] == ',' && b[4] == ' ' && b[7] == ' ' && b[11] == ' ' && b[16] == ' ' && b[19] == ':' &&
	    b[22] == ':' && strcmp(b + 25, " GMT") == 0)
		return from_tm(num(b + 12, 4), month_of(b + 8), num(b + 5, 2), num(b + 17, 2), num(b + 20, 2), num(b + 23, 2));
	/* asctime: "Sun Nov  6 08:49:37 1994" */
	if (len == 24 && b[3] == ' ' && b[7] == ' ' && b[10] == ' ' && b[13] == ':' && b[16] == ':' && b[19] == ' ')
		return from_tm(num(b + 20, 4), month_of(b + 4), b[8] == ' ' ? num(b + 9, 1) : num(b + 8, 2), num(b + 11, 2),
		    num(b + 14, 2), num(b + 17, 2));
	/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year that
	 * looks more than 50 years ahead is in the past century (§5.6.7). */
	if ((p = strchr(b, ',')) != NULL && strlen(p) == 24 && p[1] == ' ' && p[4] == '-' && p[8] == '-' && p[11] == ' ' &&
	    p[14] == ':' && p[17] == ':' && strcmp(p + 20, " GMT") == 0) {
		int y = num(p + 9, 2);
		if (y < 0)
			return -1;
		y += y < 70 ? 2000 : 1900;
		return from_tm(y, month_of(p + 5), num(p + 2, 2), num(p + 12, 2), num(p + 15, 2), num(p + 18, 2));
	}
	return -1;
}

/* ---- freshness and storability --------------------------------------------- */

/* RFC 9110 §15.1: the status codes heuristically cacheable by default.
 * 206 is left out: this cache stores only whole representations. */
static int
status_heuristic(int st)
{
	switch (st) {
	case 200: case 203: case 204: case 300: case 301: case 308: case 404: case 405: case 410: case 414: case 501:
		return 1;
	}
	return 0;
}

int64_t
cache_freshness_lifetime(const struct cache_facts *f)
{
	/* §5.2.2.4: no-cache, whatever else is said: every use revalidates. */
	if (f->rs_cc.no_cache)
		return 0;
	/* §4.2.1: in a shared cache s-maxage wins over max-age, which wins
	 * over Expires. */
	if (f->rs_cc.s_maxage >= 0)
		return f->rs_cc.s_maxage;
	if (f->rs_cc.max_age >= 0)
		return f->rs_cc.max_age;
	if (f->expires != -1) {
		/* §5.3: an invalid Expires ("0" included) means already
		 * expired. Without Date, the time it arrived stands in for it
		 * (§4.2.1: "the value of response_time"). */
		int64_t date = f->date >= 0 ? f->date : f->response_time;
		if (f->expires < 0 || f->expires <= date)
			return 0;
		return f->expires - date;
	}
	/* §4.2.2: a heuristic only without explicit freshness, only for a
	 * status cacheable by default (or marked public), and only from
	 * Last-Modified: a fraction of the time since it changed. */
	if (f->heuristic_pct > 0 && f->last_modified >= 0 && (status_heuristic(f->status) || f->rs_cc.public_)) {
		int64_t date = f->date >= 0 ? f->date : f->response_time;
		if (date > f->last_modified)
			return (date - f->last_modified) * (int64_t)f->heuristic_pct / 100;
	}
	return 0;
}

enum cache_nostore
cache_storable(const struct cache_facts *f)
{
	/* §3: the method is understood and cacheable; only GET here (HEAD
	 * responses carry no body to answer a GET with). */
	if (!f->is_get)
		return CACHE_NS_METHOD;
	/* §3: a final status the cache understands. Statuses outside the
	 * heuristic set are stored only with explicit freshness (§3 last
	 * bullet: an explicit expiration time, s-maxage or public). */
	if (f->status < 200 || f->status == 206 || f->status == 304 ||
	    (!status_heuristic(f->status) && f->rs_cc.max_age < 0 && f->rs_cc.s_maxage < 0 && f->expires == -1))
		return CACHE_NS_STATUS;
	/* §3, §5.2.1.5: no-store in the request forbids storing its response. */
	if (f->rq_cc.no_store)
		return CACHE_NS_REQ_NO_STORE;
	/* §5.2.2.5 */
	if (f->rs_cc.no_store)
		return CACHE_NS_NO_STORE;
	/* §5.2.2.7: a shared cache must not store a private response. */
	if (f->rs_cc.private_)
		return CACHE_NS_PRIVATE;
	/* §3.5: a request with Authorization is stored by a shared cache only
	 * when the response says so: must-revalidate, public or s-maxage. */
	if (f->rq_authorization && !f->rs_cc.must_revalidate && !f->rs_cc.public_ && f->rs_cc.s_maxage < 0)
		return CACHE_NS_AUTH;
	/* Not an RFC rule but every shared cache's caution (RFC 9111 §7.3
	 * on privacy; nginx and Varnish skip them too): a Set-Cookie usually
	 * belongs to one client. Stored only when the operator says so. */
	if (f->set_cookie && !f->store_set_cookie)
		return CACHE_NS_SET_COOKIE;
	/* §4.1: "Vary: *" always fails to match, so storing is waste. */
	if (f->vary_star)
		return CACHE_NS_VARY_STAR;
	/* §5.2.2.4: no-cache forbids using the response without revalidating
	 * it first (its lifetime is taken as 0); worth storing only when it
	 * can be revalidated with a conditional request (§4.3.1). */
	if (f->rs_cc.no_cache && !f->has_validator)
		return CACHE_NS_NO_CACHE;
	/* Without freshness, a stored copy is only useful to revalidate. */
	if (cache_freshness_lifetime(f) <= 0 && !f->has_validator)
		return CACHE_NS_NOT_FRESH;
	return CACHE_NS_NONE;
}

int
cache_may_serve_stale(const struct cache_cc *rs_cc)
{
	return !rs_cc->must_revalidate && !rs_cc->proxy_revalidate && rs_cc->s_maxage < 0 && !rs_cc->no_cache;
}

int64_t
cache_initial_age(int64_t age_value, int64_t date, int64_t request_time, int64_t response_time)
{
	/* §4.2.3:
	 *   apparent_age = max(0, response_time - date_value);
	 *   response_delay = response_time - request_time;
	 *   corrected_age_value = age_value + response_delay;
	 *   corrected_initial_age = max(apparent_age, corrected_age_value); */
	int64_t apparent = date >= 0 && response_time > date ? response_time - date : 0;
	int64_t delay = response_time > request_time ? response_time - request_time : 0;
	int64_t corrected = (age_value > 0 ? age_value : 0) + delay;

	return apparent > corrected ? apparent : corrected;
}

/* ---- Vary (§4.1) ------------------------------------------------------------ */

int
cache_vary_names(const char *v, size_t len, void (*fn)(void *ctx, const char *name, size_t nlen), void *ctx)
{
	size_t i = 0;
	int star = 0;

	while (i < len) {
		char nm[64];
		size_t n = 0;

		while (i < len && (is_ows(v[i]) || v[i] == ','))
			i++;
		while (i < len && v[i] != ',' && !is_ows(v[i])) {
			char ch = v[i++];
			if (n < sizeof(nm) - 1)
				nm[n++] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
		}
		while (i < len && v[i] != ',')
			i++;
		if (n == 0)
			continue;
		if (n == 1 && nm[0] == '*')
			star = 1;
		else if (fn != NULL)
			fn(ctx, nm, n);
	}
	return star;
}

int
cache_vary_norm_append(char *out, size_t cap, size_t *olen, const char *v, size_t len)
{
	size_t o = *olen;
	int sp = 0;

	while (len > 0 && is_ows(*v)) {
		v++;
		len--;
	}
	while (len > 0 && is_ows(v[len - 1]))
		len--;
	if (o > 0) {
		if (o + 2 > cap)
			return -1;
		out[o++] = ',';
		out[o++] = ' ';
	}
	for (size_t i = 0; i < len; i++) {
		if (is_ows(v[i])) {
			sp = 1;
			continue;
		}
		if (sp) {
			if (o >= cap)
				return -1;
			out[o++] = ' ';
			sp = 0;
		}
		if (o >= cap)
			return -1;
		out[o++] = v[i];
	}
	*olen = o;
	return 0;
}

/* ---- keys ------------------------------------------------------------------------ */

int
cache_url_key(const char *url, size_t len, char *out, size_t cap)
{
	size_t sl, at = 0, pl;
	const char *host, *path, *q;
	int n;

	if (len > 8 && strncasecmp(url, "https://", 8) == 0)
		sl = 8;
	else if (len > 7 && strncasecmp(url, "http://", 7) == 0)
		sl = 7;
	else
		return -1;
	host = url + sl;
	if ((path = memchr(host, '/', len - sl)) == NULL || path == host || sl + (size_t)(path - host) >= cap)
		return -1;
	for (const char *p = url; p < path; p++)
		out[at++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	q = memchr(path, '?', len - (size_t)(path - url));
	pl = q != NULL ? (size_t)(q - path) : len - (size_t)(path - url);
	if ((n = http_path_normalize(path, pl, out + at, cap - at, NULL)) < 0)
		return -1;
	at += (size_t)n;
	if (q != NULL) {
		size_t ql = len - (size_t)(q - url);
		if (at + ql > cap)
			return -1;
		memcpy(out + at, q, ql);
		at += ql;
	}
	return (int)at;
}

/* ---- conditional requests (RFC 9110 §13.1) ------------------------------------ */

/* The opaque part of an entity-tag, without W/ (weak comparison,
 * RFC 9110 §8.8.3.2). */
static void
opaque(const char **p, size_t *n)
{
	if (*n >= 2 && (*p)[0] == 'W' && (*p)[1] == '/') {
		*p += 2;
		*n -= 2;
	}
}

int
cache_inm_match(const char *inm, size_t inm_len, const char *etag, size_t etag_len)
{
	size_t i = 0;

	opaque(&etag, &etag_len);
	if (etag_len == 0)
		return 0;
	while (i < inm_len) {
		size_t s, e;
		while (i < inm_len && (is_ows(inm[i]) || inm[i] == ','))
			i++;
		s = i;
		if (i + 1 < inm_len && inm[i] == 'W' && inm[i + 1] == '/')
			i += 2;
		if (i < inm_len && inm[i] == '"') {
			i++;
			while (i < inm_len && inm[i] != '"')
				i++;
			if (i < inm_len)
				i++;
		} else {
			while (i < inm_len && inm[i] != ',' && !is_ows(inm[i]))
				i++;
		}
		e = i;
		{
			const char *t = inm + s;
			size_t tl = e - s;
			if (tl == 1 && t[0] == '*')
				return 1;     /* §13.1.2: "*" matches any current representation */
			opaque(&t, &tl);
			if (tl == etag_len && memcmp(t, etag, tl) == 0)
				return 1;
		}
		while (i < inm_len && inm[i] != ',')
			i++;
	}
	return 0;
}

/* ---- tags (hactl cache purge --tag) -------------------------------------------- */

static int tag_in_list(const char *v, size_t vl, const char *tag, size_t tl)
{
	size_t i = 0;

	while (i < vl) {
		size_t j;

		while (i < vl && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		j = i;
		while (j < vl && v[j] != ' ' && v[j] != '\t' && v[j] != ',')
			j++;
		if (j > i && j - i == tl && memcmp(v + i, tag, tl) == 0)
			return 1;
		i = j;
	}
	return 0;
}

int
cache_head_has_tag(const char *head, size_t len, const char *field, const char *tag)
{
	size_t fl = strlen(field), tl = strlen(tag), at;
	const char *nl;

	if (fl == 0 || tl == 0 || (nl = memchr(head, '\n', len)) == NULL)
		return 0;
	at = (size_t)(nl - head) + 1;              /* past the status line */
	while (at < len) {
		const char *line = head + at;
		size_t ll, end;

		nl = memchr(line, '\n', len - at);
		end = nl != NULL ? (size_t)(nl - line) : len - at;
		ll = end > 0 && line[end - 1] == '\r' ? end - 1 : end;
		if (ll > fl && line[fl] == ':' && strncasecmp(line, field, fl) == 0 &&
		    tag_in_list(line + fl + 1, ll - fl - 1, tag, tl))
			return 1;
		at += end + 1;
	}
	return 0;
}
