/*
 * proxyd/route.h — request routing: which route of a configuration generation
 * handles a request, and what that route does to it.
 *
 * Pure: no I/O, no clock, no allocation on the matching path. A route table is
 * built once by proxyd/config.c when a generation is loaded and is immutable
 * afterwards, so every worker thread matches against it without locks.
 */
#ifndef PROXYD_ROUTE_H
#define PROXYD_ROUTE_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/net.h"
#include "proxyd/compress-t.h"

enum route_path_kind { ROUTE_PATH_ANY = 0, ROUTE_PATH_EXACT, ROUTE_PATH_PREFIX, ROUTE_PATH_REGEX };

enum route_action {
	ROUTE_FORWARD = 0,   /* to one upstream, or a weighted split between several */
	ROUTE_REDIRECT,      /* status + Location */
	ROUTE_RESPOND        /* fixed status + body */
};

/* A header condition: the request has a field `name` (case-insensitive) whose
 * value equals `value` exactly; value NULL means "present with any value". */
struct route_hdr_match { char *name; char *value; };

/* A header operation: set (replace every field of that name) when value != NULL,
 * remove when value == NULL. */
struct route_hdr_op { char *name; size_t name_len; char *value; };

struct route_split { int upstream; uint32_t weight; };

struct pd_cache;

struct route {
	char *name;
	/* match */
	char **hosts;  size_t nhosts;     /* exact (lowercase) or "*.suffix"; none = any host */
	enum route_path_kind path_kind;
	char *path;                       /* exact path or prefix; regex source for REGEX */
	regex_t re;                       /* compiled when path_kind == ROUTE_PATH_REGEX */
	char **methods; size_t nmethods;  /* uppercase tokens; none = any method */
	struct route_hdr_match *hdrs; size_t nhdrs;
	/* action */
	enum route_action action;
	struct route_split *splits; size_t nsplits; uint32_t split_total;
	int status;                       /* redirect / respond */
	char *location;                   /* redirect */
	char *body;                       /* respond */
	char *rw_prefix; char *rw_replace;/* rewrite: a path starting with rw_prefix gets it replaced */
	struct route_hdr_op *req_ops; size_t nreq_ops;
	struct route_hdr_op *resp_ops; size_t nresp_ops;
	/* guards, checked after the route matched, before forwarding */
	struct net_cidr *allow; size_t nallow;   /* client must be in one, when any (else 403) */
	struct net_cidr *deny;  size_t ndeny;    /* client in one -> 403 (deny wins over allow) */
	char **allow_methods; size_t nallow_methods; /* uppercase; none = any (else 405) */
	char *allow_hdr;                  /* "GET, HEAD" for the 405's Allow header */
	int64_t max_body;                 /* request body limit in bytes; -1 = the global one */
	int rl_idx;                       /* index into the generation's ratelimits, -1 = none */
	/* response compression (proxyd/compress_conf.h; off unless the route
	 * says compress); its type list may be borrowed from the generation */
	struct compress_route_conf compress;
	/* the route's cache (proxyd/cache.h); NULL: none */
	const struct pd_cache *cache;
};

/* What the router needs to know about a request. Strings are not NUL-terminated. */
struct route_req {
	const char *method; size_t method_len;
	const char *host;   size_t host_len;    /* route_host_key() of Host; may be empty */
	const char *path;   size_t path_len;    /* normalised path (http_target_normalize()), without the query */
	/* Returns 1 when the request has field `name` (lowercase) with the given
	 * value (or any value when value == NULL), else 0. */
	int (*has_header)(void *ctx, const char *name, const char *value);
	void *ctx;
};

/* Compiles and stores a path condition on r (r->path takes a strdup of pattern).
 * Returns 0, or -1 with a message in err (bad regex, or ENOMEM). */
int route_set_path(struct route *r, enum route_path_kind kind, const char *pattern, char *err, size_t errlen);

/* Frees everything a route owns (not r itself). */
void route_fini(struct route *r);

/* 1 if host pattern pat ("example.com" or "*.example.com") matches host
 * (case-insensitive; "*.example.com" matches "a.example.com" and
 * "a.b.example.com", never "example.com"), else 0. */
int route_host_match(const char *pat, const char *host, size_t host_len);

/* The part of a Host value or absolute-form authority (len bytes, as the
 * parser accepted it) that host patterns match: the port is dropped (RFC 9110
 * §7.2) and so is one trailing dot, since "example.com." is the same name
 * fully qualified (RFC 1034 §3.1) and backends (nginx) serve it as
 * "example.com": a host route with an access rule must not miss it. Case is
 * left alone (route_host_match() ignores it). Returns the key's length; the
 * key starts at host. */
size_t route_host_key(const char *host, size_t len);

/* 1 if route r matches the request, else 0. */
int route_matches(const struct route *r, const struct route_req *q);

/* Index of the first route of routes[0..n) (declared order) that matches q, or -1. */
int route_match(const struct route *routes, size_t n, const struct route_req *q);

/* For a ROUTE_FORWARD route: the upstream index for random value rnd (any 32-bit
 * value; the same rnd always gives the same answer, which the tests rely on).
 * Splits are weighted: upstream i is chosen for rnd % total in its weight's slice.
 * -1 if the route has no split with weight > 0. */
int route_pick_upstream(const struct route *r, uint32_t rnd);

/* Access control of a route (RFC 9110 §15.5.4): 1 when a client at addr
 * (family AF_INET with 4 bytes or AF_INET6 with 16) may use r, else 0. A
 * client in a deny prefix is refused; with an allow list, only a client in
 * one of its prefixes is accepted; no lists accept everyone. */
int route_client_allowed(const struct route *r, int family, const void *addr);

/* 1 when method (len bytes, case-sensitive as RFC 9110 §9.1 says) is in r's
 * allow_methods, or the route has none; 0 otherwise (the caller answers 405
 * with r->allow_hdr as Allow, RFC 9110 §15.5.6). */
int route_method_allowed(const struct route *r, const char *method, size_t len);

/* Body size decision for a request body limit (0 = none): 1 when
 * `seen` body bytes (so far, or announced by Content-Length) exceed limit
 * (413, RFC 9110 §15.5.14), else 0. */
static inline int
route_body_too_large(uint64_t limit, uint64_t seen)
{
	return limit > 0 && seen > limit;
}

/* Applies r's rewrite to the request target (path and optional query). Writes the
 * new target to out (cap bytes, not NUL-terminated) and returns its length; returns
 * 0 when the route has no rewrite or the path does not start with the prefix (the
 * caller then forwards the target unchanged); -1 when out is too small. A result
 * that would not start with '/' gets one prepended. */
int route_rewrite(const struct route *r, const char *target, size_t len, char *out, size_t cap);

#endif
