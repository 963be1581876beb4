/*
 * proxyd/cache_conf-t.h — a named cache's configuration (the "caches" list of
 * proxyd.conf, proxyd/cache_conf.c), as the generation holds it. The store
 * itself (proxyd/cache_store.h) outlives generations.
 */
#ifndef PROXYD_CACHE_CONF_T_H
#define PROXYD_CACHE_CONF_T_H

#include <stdint.h>

struct cache_store;

struct pd_cache {
	char *name;
	uint64_t size;                  /* bytes the store may hold (objects, keys, heads, bodies) */
	uint64_t max_object;            /* a larger body is streamed through, not stored */
	int store_set_cookie;           /* responses with Set-Cookie may be stored */
	unsigned heuristic_pct;         /* RFC 9111 §4.2.2 heuristic freshness, percent; 0 = off */
	uint64_t stale_if_error_ms;     /* how long past expiry an object may answer when the origin
	                                   fails or no server is up (RFC 5861 §4 for every response); 0 = only
	                                   as the response's own stale-if-error allows */
	char *tag_header;               /* response field whose tags hactl cache purge --tag matches; NULL = none */
	uint64_t coalesce_wait_ms;      /* how long a miss waits for another request's fetch of its key; 0: no coalescing */
	uint32_t prefetch_rate;         /* peers' hot keys fetched per second (proxyd/prefetch.c); 0 = none */
	struct cache_store *store;      /* one reference */
};

#endif
