/*
 * proxyd/cache_rule.h — RFC 9111's rules for a shared cache, pure: no I/O,
 * no clock (times are passed in), no knowledge of the request path. What
 * may be stored (§3), for how long it is fresh (§4.2.1), how old a stored
 * response is (§4.2.3), which request fields select it (Vary, §4.1), and
 * whether a client's conditional request is satisfied by it (RFC 9110
 * §13.1). proxyd/cache.c feeds them the facts of an exchange; the unit test
 * (tests/unit/test_cache_rule.c) drives them as tables.
 */
#ifndef PROXYD_CACHE_RULE_H
#define PROXYD_CACHE_RULE_H

#include <stddef.h>
#include <stdint.h>

/* Cache-Control directives (RFC 9111 §5.2), request or response; several
 * fields accumulate into one. Delta-seconds are -1 when absent. */
struct cache_cc {
	int64_t max_age, s_maxage, min_fresh, max_stale, stale_while_revalidate, stale_if_error;
	unsigned no_store:1, no_cache:1, private_:1, public_:1, must_revalidate:1, proxy_revalidate:1;
	unsigned only_if_cached:1;
};

void cache_cc_init(struct cache_cc *cc);
/* Adds the directives of one Cache-Control field value (len bytes). Unknown
 * directives are ignored (§5.2.3); a malformed delta-seconds counts as
 * absent, except max-age/s-maxage where it counts as 0 (§4.2.1: an invalid
 * freshness value is treated as stale). */
void cache_cc_parse(struct cache_cc *cc, const char *v, size_t len);

/* An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850
 * and asctime forms a recipient must accept) as Unix seconds, or -1. */
int64_t cache_http_date(const char *v, size_t len);

/* Why a response was not stored: the first rule that held, in this order.
 * CACHE_NS_NONE: it may be stored. */
enum cache_nostore {
	CACHE_NS_NONE = 0,
	CACHE_NS_METHOD,        /* not a GET (§3: a method the cache understands as cacheable) */
	CACHE_NS_STATUS,        /* not a final status this cache stores */
	CACHE_NS_REQ_NO_STORE,  /* request no-store (§5.2.1.5) */
	CACHE_NS_NO_STORE,      /* response no-store (§5.2.2.5) */
	CACHE_NS_PRIVATE,       /* private (§5.2.2.7) */
	CACHE_NS_AUTH,          /* request with Authorization, no public/s-maxage/must-revalidate (§3.5) */
	CACHE_NS_SET_COOKIE,    /* Set-Cookie, and the cache is not configured to store it */
	CACHE_NS_VARY_STAR,     /* Vary: * (§4.1: never matches) */
	CACHE_NS_NO_CACHE,      /* no-cache without a validator: every use would go to the origin anyway */
	CACHE_NS_NOT_FRESH,     /* no freshness lifetime (explicit, or heuristic when on), no validator */
	CACHE_NS_TOO_LARGE,     /* over max_object (decided by the caller) */
	CACHE_NS_BODY,          /* a body delimited by the close, or cut short (decided by the caller) */
	CACHE_NS_MAX
};
const char *cache_nostore_str(enum cache_nostore why);

/* What the rules need to know about one exchange. */
struct cache_facts {
	int is_get;                  /* the request method is GET */
	int status;                  /* response status */
	struct cache_cc rq_cc;       /* request Cache-Control (Pragma: no-cache folded in, §5.4) */
	struct cache_cc rs_cc;       /* response Cache-Control */
	int rq_authorization;        /* the request carries Authorization */
	int set_cookie;              /* the response carries Set-Cookie */
	int store_set_cookie;        /* the cache is configured to store such responses */
	int vary_star;               /* Vary lists "*" */
	int has_validator;           /* ETag or Last-Modified: a stale copy can be revalidated */
	int64_t date;                /* response Date, -1 absent or invalid */
	int64_t expires;             /* response Expires: -1 absent; -2 present but invalid */
	int64_t last_modified;       /* -1 absent */
	int64_t response_time;       /* when the response head arrived (Unix seconds) */
	unsigned heuristic_pct;      /* heuristic freshness: percent of (Date - Last-Modified); 0 = off */
};

/* Freshness lifetime in seconds (§4.2.1): s-maxage, then max-age, then
 * Expires - Date, then the heuristic (§4.2.2) when on and allowed; 0
 * when none applies. */
int64_t cache_freshness_lifetime(const struct cache_facts *f);
/* Whether the response may be stored (§3), and if not why. */
enum cache_nostore cache_storable(const struct cache_facts *f);
/* Whether a stored copy may ever be served stale (§4.2.4): not with
 * must-revalidate, proxy-revalidate, s-maxage (§5.2.2.10: it implies
 * proxy-revalidate for a shared cache) or no-cache. */
int cache_may_serve_stale(const struct cache_cc *rs_cc);

/* The response's age when it arrived, as §4.2.3 computes it from its Age
 * field (age_value, -1 absent), Date and the times the request went out
 * and the response came back. */
int64_t cache_initial_age(int64_t age_value, int64_t date, int64_t request_time, int64_t response_time);

/* One Vary field value: calls fn for each field name (lowercased into a
 * scratch buffer, at most 63 bytes; longer names are passed cut, which
 * only makes a match less likely). Returns 1 when "*" is listed, else 0. */
int cache_vary_names(const char *v, size_t len, void (*fn)(void *ctx, const char *name, size_t nlen), void *ctx);

/* Appends the normalised form of one field line's value to out (cap bytes,
 * *olen used): leading and trailing whitespace removed, inner runs of
 * spaces and tabs made one space, lines joined with ", " (§4.1: values
 * normalised so that differences that do not change the meaning do not
 * prevent a match). -1 when out is full. */
int cache_vary_norm_append(char *out, size_t cap, size_t *olen, const char *v, size_t len);

/* An absolute http or https URL as the cache's key for it (what
 * proxyd/cache.c builds from a request): scheme and host lowercased, the
 * path normalised as the request line's is (http_path_normalize()), the
 * query kept. Into out (cap bytes, not NUL-terminated): its length, or -1
 * (not an http(s) URL, no path, a path with no normal form, too long). */
int cache_url_key(const char *url, size_t len, char *out, size_t cap);

/* A client's If-None-Match (RFC 9110 §13.1.2, weak comparison) against
 * the stored ETag: 1 when a listed tag (or "*") matches. */
int cache_inm_match(const char *inm, size_t inm_len, const char *etag, size_t etag_len);

/* Does a stored response head (status line, then "Name: value" lines
 * ending in CRLF or LF) list tag in a field named field (case-insensitive;
 * every field line of that name)? The value is a list of tags separated by
 * spaces, tabs or commas (Surrogate-Key style); tags compare exactly. 1 or 0. */
int cache_head_has_tag(const char *head, size_t len, const char *field, const char *tag);

#endif
