/*
 * proxyd/compress_rule.h — when a response is compressed, and the header
 * edits that go with it: the pure half of the compression filter.
 *
 * Pure: no I/O, no allocation, no clock. The response filter's header stage
 * gathers the facts below from the request and response heads, asks
 * compress_decide(), and on "compress" rewrites the head with the helpers at
 * the end (Content-Encoding, Vary, ETag; Content-Length replaced by the
 * filter's framing).
 */
#ifndef PROXYD_COMPRESS_RULE_H
#define PROXYD_COMPRESS_RULE_H

#include <stddef.h>
#include <stdint.h>

#include "proxyd/compress-t.h"

/* Registry names for Content-Encoding and the metrics label:
 * "identity", "gzip", "br", "zstd"; "?" out of range. */
const char *compress_alg_str(enum compress_alg a);
/* The coding named s (len bytes; "gzip", "br", "zstd", exact case as in a
 * configuration file), or -1. identity is not a coding one configures. */
int compress_alg_from_str(const char *s, size_t len);
/* Metrics label of a skip reason: "off", "upgrade", "no_body", "partial",
 * "encoded", "no_transform", "type", "short", "not_accepted", "pool_full";
 * "none" for COMPRESS_SKIP_NONE, "?" out of range. */
const char *compress_skip_str(enum compress_skip s);

/* What the request says (filled from its head once per request). */
struct compress_req_facts {
	enum compress_alg accepted;   /* accept_enc_choose() over the route's prefer list */
	unsigned head:1;              /* method HEAD */
	unsigned range:1;             /* a Range field is present (RFC 9110 §14.2) */
	unsigned upgrade:1;           /* the request asks to upgrade (Upgrade + Connection: upgrade) */
	unsigned no_transform:1;      /* Cache-Control: no-transform (RFC 9111 §5.2.1.6) */
};

/* What the response says (filled from the backend's head). */
struct compress_resp_facts {
	int status;
	unsigned encoded:1;           /* a Content-Encoding field is present, whatever its value */
	unsigned no_transform:1;      /* Cache-Control: no-transform (RFC 9111 §5.2.2.6) */
	unsigned upgraded:1;          /* the connection became a tunnel (101) */
	const char *ctype;            /* the Content-Type value as sent; NULL when absent */
	size_t ctype_len;
	int64_t length;               /* Content-Length; -1 when unknown (chunked, until close) */
};

struct compress_decision {
	enum compress_alg alg;        /* COMPRESS_IDENTITY unless compressing */
	enum compress_skip skip;      /* COMPRESS_SKIP_NONE when compressing */
	int level;                    /* the route's level for alg; 0 when not compressing */
	/* Merge "Vary: Accept-Encoding" (compress_vary_merge) into this
	 * response: set when it is compressed and when the same response would
	 * have been compressed for another request (the client accepted no
	 * coding; HEAD; the worker's compressor pool was full at acquire, which
	 * the caller learns later and which leaves vary set), so that a shared
	 * cache keys it by Accept-Encoding (RFC 9110 §12.5.5). */
	unsigned vary:1;
};

/*
 * Decide for one response. The rules, checked in this order, the first that
 * holds naming the skip reason:
 *   route off                                                -> OFF
 *   response 101 or upgraded, or the request asked to upgrade -> UPGRADE
 *   status 1xx, 204 or 304: no content (RFC 9110 §6.4.1)      -> NO_BODY
 *   status 206, or the request has Range: compressing would
 *     change what the byte ranges count (RFC 9110 §14.1)      -> PARTIAL
 *   Content-Encoding present: never coded twice              -> ENCODED
 *   Cache-Control: no-transform in request or response       -> NO_TRANSFORM
 *   Content-Type absent or not in the route's list           -> TYPE
 *   Content-Length known and below min_length (0 included)   -> SHORT
 *   HEAD (the same Vary as GET's answer, §9.3.2; no body)    -> NO_BODY, vary
 *   the client accepts none of the route's codings           -> NOT_ACCEPTED, vary
 * otherwise alg = accepted with the route's level, vary set.
 * rc, rq, rs and d must not be NULL. Never fails.
 */
void compress_decide(const struct compress_route_conf *rc, const struct compress_req_facts *rq,
    const struct compress_resp_facts *rs, struct compress_decision *d);

/* 1 when the Content-Type value (len bytes; parameters after ';' ignored,
 * case-insensitive, RFC 9110 §8.3.1) matches one of the n patterns. An
 * empty or malformed value (no '/', bad token) matches nothing. */
int compress_type_match(const struct compress_type_pat *pats, size_t n, const char *ctype, size_t len);

/* Parse one configured pattern: "type/subtype", a type with a star for
 * its subtype ("text/" then "*"), or "+suffix"; tokens only, any case
 * (stored lower case). 0, or -1 (out untouched) for anything else, a star
 * alone or for the type included: a list that compresses everything,
 * images and archives too, is a mistake. */
int compress_type_pat_parse(const char *s, struct compress_type_pat *out);

/* The default content-type list: every text/ type, application/json,
 * application/javascript, application/xml, image/svg+xml, +json, +xml. */
extern const struct compress_type_pat compress_default_types[];
extern const size_t compress_default_ntypes;

/* 1 when a Cache-Control value (len bytes) holds the no-transform
 * directive (RFC 9111 §5.2), case-insensitive, outside quoted strings; a
 * directive named inside another's quoted argument does not count. */
int compress_cc_no_transform(const char *v, size_t len);

/* Vary (RFC 9110 §12.5.5). compress_vary_scan: bit COMPRESS_VARY_AE when
 * the value lists Accept-Encoding (any case), COMPRESS_VARY_STAR for "*". */
#define COMPRESS_VARY_AE   1
#define COMPRESS_VARY_STAR 2
int compress_vary_scan(const char *v, size_t len);

/*
 * The Vary value to send, given the one the response has (len 0 when it
 * has none): the same value when it already lists Accept-Encoding or is
 * "*" (which varies on everything already), else the value with
 * ", Accept-Encoding" appended, or "Accept-Encoding" alone for an empty
 * one. Written to out (cap bytes, not NUL-terminated; out must not overlap
 * v). Returns the length, or -1 when cap is too small (len + 17 always
 * suffices). With several Vary lines, scan them all and merge into one.
 */
int compress_vary_merge(const char *v, size_t len, char *out, size_t cap);

/*
 * An ETag value for the compressed representation: a strong entity-tag
 * "x" becomes the weak W/"x" (RFC 9110 §8.8.1: a strong validator names
 * exact bytes, and the coded bytes differ; weak comparison still lets
 * If-None-Match revalidate). A weak one is copied unchanged. Written to
 * out (cap bytes, not NUL-terminated; no overlap). Returns the length;
 * -1 when v is not an entity-tag (§8.8.3; the caller then removes the
 * field, since what it means is unknown) or when cap < len + 2.
 */
int compress_etag_weaken(const char *v, size_t len, char *out, size_t cap);

#endif /* PROXYD_COMPRESS_RULE_H */
