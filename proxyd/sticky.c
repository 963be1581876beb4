/*
 * proxyd/sticky.c — cookie stickiness: which server a returning client's
 * cookie names, and the Set-Cookie that pins a new one.
 *
 * An upstream with `sticky` keeps a client on one server across requests
 * (session state held in the server's memory, warm per-user caches). The
 * request path (proxyd/h1_head.c) asks sticky_cookie_find() for our cookie
 * while it copies the request head, maps the value to a server with
 * sticky_server(), and prefers that server over the balancer when it is
 * usable (up_pick_prefer() in proxyd/upstream.c); the cookie itself is cut
 * out of the Cookie header sent to the backend (HAProxy's "indirect"), since
 * it means nothing to the application. When the answer comes from a server
 * other than the one named (no cookie, unknown token, server down, drained,
 * ejected or full, or a retry moved the request), the response carries the
 * precomputed Set-Cookie line of the server that answered.
 *
 * The cookie value is a token, not the server's name or address: 16 hex
 * digits of balance_hash(name). It is stable (every worker, every reload and
 * every cluster node computes the same one) and opaque enough not to publish
 * the backend topology. It is not a secret and not authenticated: a client
 * can pick a server by forging it, exactly as with HAProxy's cookies, and can
 * never reach a server that is unavailable or outside the upstream.
 *
 * Everything here is pure and unit-tested (tests/unit/test_sticky.c).
 */
#include "proxyd/sticky.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyd/balance.h"

uint64_t
sticky_token(const char *server_name)
{
	return balance_hash(server_name, strlen(server_name));
}

void
sticky_token_str(uint64_t tok, char out[STICKY_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = STICKY_TOKEN_LEN - 1; i >= 0; i--) {
		out[i] = hex[tok & 0xf];
		tok >>= 4;
	}
	out[STICKY_TOKEN_LEN] = '\0';
}

int
sticky_token_parse(const char *s, size_t len, uint64_t *tok)
{
	uint64_t v = 0;

	if (len != STICKY_TOKEN_LEN)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		unsigned d;

		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			d = ch - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*tok = v;
	return 0;
}

/* RFC 9110 §5.6.2 tchar. */
static int
is_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int
ent_cmp(const void *pa, const void *pb)
{
	const struct sticky_ent *a = pa, *b = pb;

	return a->token < b->token ? -1 : a->token > b->token;
}

void
sticky_conf_free(struct sticky_conf *sc)
{
	if (sc == NULL)
		return;
	if (sc->set_cookie != NULL)
		for (size_t i = 0; i < sc->nservers; i++)
			free(sc->set_cookie[i]);
	free(sc->set_cookie);
	free(sc->set_cookie_len);
	free(sc->by_token);
	free(sc->name);
	free(sc);
}

struct sticky_conf *
sticky_conf_new(const char *name, const char *path, uint64_t max_age_s, int httponly, int secure,
    const char *const *names, size_t n, char *err, size_t errlen)
{
	struct sticky_conf *sc;
	size_t nl = strlen(name), pl = strlen(path);

	if (nl == 0 || nl > STICKY_NAME_MAX) {
		snprintf(err, errlen, "cookie: name must be 1 to %d bytes", STICKY_NAME_MAX);
		return NULL;
	}
	for (size_t i = 0; i < nl; i++)
		if (!is_tchar((unsigned char)name[i])) {
			snprintf(err, errlen, "cookie: \"%s\" is not a token (RFC 6265 §4.1.1)", name);
			return NULL;
		}
	/* RFC 6265 §4.1.1: path-value is any CHAR except CTLs or ";". */
	if (pl == 0 || pl > STICKY_PATH_MAX || path[0] != '/') {
		snprintf(err, errlen, "path: must start with '/' and be at most %d bytes", STICKY_PATH_MAX);
		return NULL;
	}
	for (size_t i = 0; i < pl; i++)
		if ((unsigned char)path[i] < 0x20 || (unsigned char)path[i] >= 0x7f || path[i] == ';') {
			snprintf(err, errlen, "path: no control character, non-ASCII byte or ';' allowed");
			return NULL;
		}
	if (max_age_s > STICKY_MAX_AGE_MAX) {
		snprintf(err, errlen, "max_age: at most 400d");
		return NULL;
	}
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		goto oom;
	sc->nservers = n;
	sc->name_len = nl;
	if ((sc->name = strdup(name)) == NULL ||
	    (sc->by_token = calloc(n ? n : 1, sizeof(*sc->by_token))) == NULL ||
	    (sc->set_cookie = calloc(n ? n : 1, sizeof(*sc->set_cookie))) == NULL ||
	    (sc->set_cookie_len = calloc(n ? n : 1, sizeof(*sc->set_cookie_len))) == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		char tok[STICKY_TOKEN_LEN + 1], age[40] = "";
		int len;

		sc->by_token[i].token = sticky_token(names[i]);
		sc->by_token[i].idx = (uint32_t)i;
		sticky_token_str(sc->by_token[i].token, tok);
		if (max_age_s > 0)
			snprintf(age, sizeof(age), "; Max-Age=%llu", (unsigned long long)max_age_s);
		len = asprintf(&sc->set_cookie[i], "Set-Cookie: %s=%s; Path=%s%s%s%s\r\n", name, tok, path, age,
		    httponly ? "; HttpOnly" : "", secure ? "; Secure" : "");
		if (len < 0) {
			sc->set_cookie[i] = NULL;
			goto oom;
		}
		sc->set_cookie_len[i] = (size_t)len;
	}
	if (n > 1)
		qsort(sc->by_token, n, sizeof(*sc->by_token), ent_cmp);
	for (size_t i = 1; i < n; i++)
		if (sc->by_token[i].token == sc->by_token[i - 1].token) {
			/* 64-bit hashes of distinct names: practically never; a
			 * rename fixes it. */
			snprintf(err, errlen, "servers \"%s\" and \"%s\" have the same sticky token; rename one",
			    names[sc->by_token[i - 1].idx], names[sc->by_token[i].idx]);
			sticky_conf_free(sc);
			return NULL;
		}
	return sc;
oom:
	snprintf(err, errlen, "out of memory");
	sticky_conf_free(sc);
	return NULL;
}

int
sticky_conf_parse(const config_setting_t *ug, const char *upstream, const char *const *names, size_t n,
    struct sticky_conf **out, struct conf_err *err)
{
	static const char *const keys[] = { "cookie", "max_age", "path", "httponly", "secure", NULL };
	const config_setting_t *g = config_setting_get_member(ug, "sticky");
	const char *name = "TNDSRV", *path = "/";
	uint64_t age_ms = 0;
	int httponly = 1, secure = 0;
	char msg[256];

	*out = NULL;
	if (g == NULL)
		return 0;
	if (!config_setting_is_group(g))
		return conf_errorf(err, g, "upstream \"%s\": sticky must be a group { cookie = ...; ... }", upstream);
	if (conf_check_keys(g, keys, err) == -1 || conf_get_str(g, "cookie", 0, &name, err) == -1 ||
	    conf_get_str(g, "path", 0, &path, err) == -1 || conf_get_duration(g, "max_age", 0, &age_ms, err) == -1 ||
	    conf_get_bool(g, "httponly", 0, &httponly, err) == -1 || conf_get_bool(g, "secure", 0, &secure, err) == -1)
		return -1;
	if (config_setting_get_member(g, "max_age") != NULL && (age_ms < 1000 || age_ms % 1000 != 0))
		return conf_errorf(err, config_setting_get_member(g, "max_age"),
		    "upstream \"%s\": sticky.max_age: a whole number of seconds, at least 1s", upstream);
	*out = sticky_conf_new(name, path, age_ms / 1000, httponly, secure, names, n, msg, sizeof(msg));
	if (*out == NULL) {
		/* Point at the member the message is about, else the group. */
		const config_setting_t *at = NULL;
		if (strncmp(msg, "cookie:", 7) == 0)
			at = config_setting_get_member(g, "cookie");
		else if (strncmp(msg, "path:", 5) == 0)
			at = config_setting_get_member(g, "path");
		else if (strncmp(msg, "max_age:", 8) == 0)
			at = config_setting_get_member(g, "max_age");
		return conf_errorf(err, at != NULL ? at : g, "upstream \"%s\": sticky.%s", upstream, msg);
	}
	return 0;
}

int
sticky_server(const struct sticky_conf *sc, uint64_t tok)
{
	size_t lo = 0, hi = sc->nservers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sc->by_token[mid].token < tok)
			lo = mid + 1;
		else if (sc->by_token[mid].token > tok)
			hi = mid;
		else
			return (int)sc->by_token[mid].idx;
	}
	return -1;
}

static int
is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Does the pair seg[0..len) carry the name `name`? On a match, its value
 * (trimmed, one pair of DQUOTEs removed) in *val and *vlen when val != NULL. */
static int
pair_is(const char *seg, size_t len, const char *name, size_t nlen, const char **val, size_t *vlen)
{
	const char *a = seg, *b = seg + len, *eq;

	while (a < b && is_ows(*a))
		a++;
	while (b > a && is_ows(b[-1]))
		b--;
	eq = memchr(a, '=', (size_t)(b - a));
	if (eq == NULL)
		return 0;
	{
		const char *ne = eq;
		while (ne > a && is_ows(ne[-1]))
			ne--;
		if ((size_t)(ne - a) != nlen || memcmp(a, name, nlen) != 0)
			return 0;
	}
	if (val != NULL) {
		const char *v = eq + 1;
		while (v < b && is_ows(*v))
			v++;
		/* RFC 6265 §4.1.1: cookie-value may be wrapped in DQUOTEs. */
		if (b - v >= 2 && *v == '"' && b[-1] == '"') {
			v++;
			b--;
		}
		*val = v;
		*vlen = (size_t)(b - v);
	}
	return 1;
}

int
sticky_cookie_find(const char *v, size_t len, const char *name, size_t nlen, const char **val, size_t *vlen)
{
	size_t off = 0;

	while (off < len) {
		const char *semi = memchr(v + off, ';', len - off);
		size_t end = semi != NULL ? (size_t)(semi - v) : len;

		if (pair_is(v + off, end - off, name, nlen, val, vlen))
			return 1;
		off = end + 1;
	}
	return 0;
}

size_t
sticky_cookie_strip(const char *v, size_t len, const char *name, size_t nlen, char *out)
{
	size_t off = 0, o = 0;
	int found = 0, first = 1;

	for (;;) {
		const char *semi = memchr(v + off, ';', len - off);
		size_t end = semi != NULL ? (size_t)(semi - v) : len;

		if (pair_is(v + off, end - off, name, nlen, NULL, NULL)) {
			found = 1;
		} else {
			const char *s = v + off;
			size_t sl = end - off;
			if (first) {
				while (sl > 0 && is_ows(*s)) {
					s++;
					sl--;
				}
			} else {
				out[o++] = ';';
			}
			memcpy(out + o, s, sl);
			o += sl;
			first = 0;
		}
		if (semi == NULL)
			break;
		off = end + 1;
	}
	return found ? o : (size_t)-1;
}
