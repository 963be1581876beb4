/*
 * proxyd/prefetch.h — the warm standby's receiving end (docs/cache.md):
 * peers' digests of hot keys (hacd passes them down the local channel)
 * are fetched from the origin into this node's cache, at each cache's
 * prefetch_rate, so that a failover to this node does not start cold.
 * Control thread only. Module prefix: prefetch_.
 */
#ifndef PROXYD_PREFETCH_H
#define PROXYD_PREFETCH_H

#include <stdint.h>

#include "lib/buf.h"
#include "lib/ev.h"
#include "proto/tandem.pb-c.h"

#define PREFETCH_KEY_MAX   1024    /* host + target bytes (proxyd/cache_digest.h CDIG_KEY_MAX) */
#define PREFETCH_QUEUE     1024    /* keys waiting; more are dropped (counted) */
#define PREFETCH_PARALLEL  4       /* requests in flight */
#define PREFETCH_TIMEOUT_MS 10000  /* one request, connect to last byte */
#define PREFETCH_PAUSE_MS  10000   /* after an origin error, no prefetch for that cache this long */

void prefetch_start(struct ev_loop *loop);
void prefetch_stop(void);
/* A peer's digest (or one chunk of it): its keys queued. */
void prefetch_digest(const Tandem__CacheDigest *d);
/* Objects stored by prefetches for cache name (hactl cache stats). */
uint64_t prefetch_stored(const char *cache);
/* Digest chunks received from hacd. */
uint64_t prefetch_digests_received(void);
/* tandem_cache_prefetch* families and the keys received (cdig_render). */
void prefetch_render(struct buf *o);

#endif
