/*
 * proxyd/prefetch.h — the warm standby's receiving end (docs/cache.md):
 * peers' digests of hot keys (hacd passes them down the local channel)
 * are fetched from the origin into this node's cache, at each cache's
 * prefetch_rate, so that a failover to this node does not start cold.
 * Control thread only. Module prefix: prefetch_.
 */
#ifndef PROXYD_PREFETCH_H
#define PROXYD_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/ev.h"
#include "proxyd/prefetch_handoff.h"   /* PREFETCH_KEY_MAX, PREFETCH_PARALLEL, PREFETCH_TIMEOUT_MS */
#include "proto/tandem.pb-c.h"

#define PREFETCH_QUEUE     1024    /* keys waiting; more are dropped (counted) */
#define PREFETCH_PAUSE_MS  10000   /* after an origin error, no prefetch for that cache this long */

/* What became of a peer's hot key (tandem_cache_prefetches_total{result}). */
enum pf_result {
	PF_STORED = 0,      /* fetched, and stored fresh */
	PF_NOT_STORED,      /* fetched, not stored (the origin's answer was not storable) */
	PF_FRESH,           /* already stored fresh: not fetched */
	PF_NO_CACHE,        /* no such cache here, or its prefetch_rate is 0 */
	PF_ORIGIN_ERROR,    /* 5xx or stale served: the cache's prefetching paused */
	PF_PAUSED,          /* dropped: its cache is paused after an origin error */
	PF_FAILED,          /* no whole answer (aborted, timed out), or no worker took it */
	PF_DROPPED,         /* the queue was full, or the key was malformed */
	PF_HELD,            /* fetched lately without being stored: not again for a while */
	PF_RESULT_MAX
};

/* Pure, for the unit tests. The cache key of a peer's key (the scheme,
 * the host lowercased as proxyd/cache.c keys it, the target) into k of
 * cap bytes: 0 and *klen, or -1 when it does not fit. */
int prefetch_key(char *k, size_t cap, int https, const char *host, const char *target, size_t *klen);
/* 1 when a digest key's parts are usable: printable ASCII without spaces,
 * within bounds, a target from "/", a host without "/@?#\\". */
int prefetch_key_valid(const char *cache, const char *host, const char *target);
/* A handed-off request's outcome from what its worker saw (failed: no
 * whole answer; status: the answer's, 0 none; stale: a stale object was
 * served): stored (to be confirmed in the store), origin-error or failed. */
enum pf_result prefetch_judge(int failed, int status, int stale);

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
