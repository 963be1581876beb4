/*
 * proxyd/cache.h — a route's cache on the request path (docs/cache.md):
 * the cache as a source that answers (a fresh stored response, HEAD from a
 * stored GET, a client's conditional request answered 304) and as a
 * response filter that stores (the backend's response, as the origin sent
 * it, into the route's store: proxyd/cache_store.h). The rules of RFC 9111
 * are cache_rule.c's.
 *
 * Where the store sits: it takes the body as the backend sent it, after
 * the framing is removed and before any body filter, so what is stored is
 * the origin's representation (identity, unless the origin itself coded
 * it, in which case its Vary: Accept-Encoding selects the variant like any
 * other Vary). A hit goes through the same filter chain as a backend
 * response: the route's header edits and compression apply to it per
 * client, so one stored object serves gzip, br, zstd and identity clients
 * alike, instead of one copy per coding.
 *
 * Nothing here runs unless the route names a cache: r->cache stays NULL
 * and the hot path pays one test per request (request.c, exchange.c) and
 * one per backend read (backend.c).
 */
#ifndef PROXYD_CACHE_H
#define PROXYD_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct req;

/* Forwarding routes with a cache, just before the request is forwarded
 * (its head bytes d still in the client's buffer): a fresh stored response
 * is served (1: answered, the exchange goes on from the cache source),
 * else the request goes on to the backend with what the store filter will
 * need (0). -1 out of memory (the request goes on uncached). A key marked
 * pass sets r->cache_pass and no state (r->cache stays NULL): the other
 * hooks below do not run for it, only cache_filter_pass (its
 * Cache-Status) and the log's cache_log_field(). */
int cache_request(struct req *r, const uint8_t *d);
/* The backend request head is in r->qhead: a stale object's validators
 * are added to it (If-None-Match, If-Modified-Since: RFC 9111 §4.3.1). */
void cache_request_head(struct req *r);
/* The backend's final response head (bytes rd, parsed into r->rs.head)
 * arrived: a 304 to the cache's own revalidation is answered from the
 * freshened object, a 5xx from a stale one when stale-if-error allows
 * (RFC 5861 §4). 1 when answered that way (the backend is released), else
 * 0. */
int cache_backend_head(struct req *r, const uint8_t *rd);
/* proxyd is about to answer status (>= 500) itself (connect failure,
 * timeout, no server up): 1 when a stale object answers instead. */
int cache_stale_on_error(struct req *r, int status);
/* From filter_select() (r->cache set): the cache's header stage (Age,
 * Cache-Status) and, on a storable backend response, the store (its body
 * stage only when the body is chunked, so that the framing is removed
 * before the tap). how, rd: as filter_select(). */
void cache_filter_select(struct req *r, unsigned how, const uint8_t *rd);
/* A backend response to a request with r->cache_pass: its Cache-Status
 * (filter_select() adds it). */
struct filter;
extern const struct filter cache_filter_pass;
/* The backend passed n body bytes at p (framing removed); end: the body is
 * complete. Stores them in the object being built; at the end the object
 * goes into the store. */
void cache_tap(struct req *r, const uint8_t *p, size_t n, int end);
/* The exchange is given back: the object held released, one being built
 * and not finished thrown away. */
void cache_req_end(struct req *r);
/* RFC 9211's outcome in one word for the access log: "hit", "miss",
 * "stale", "bypass", ...; "-" when the route has no cache. */
const char *cache_log_str(const struct req *r);
/* r was answered with a stale object because the origin failed
 * (stale-if-error, RFC 5861 §4). */
int cache_served_stale(const struct req *r);
/* The same as the combined log line's " cache=WORD" (*len bytes); the
 * route has a cache (r->cache set, or r->cache_pass). */
const char *cache_log_field(const struct req *r, size_t *len);

#endif
