/*
 * proxyd/cache_digest.h — what this node's caches tell the cluster through
 * hacd (docs/cache.md): a summary of every cache's counters (hactl cache
 * stats), and a bounded digest of the hottest keys, which the other nodes
 * prefetch (proxyd/prefetch.c) so that a failover does not start cold.
 * Control thread only. Module prefix: cdig_.
 */
#ifndef PROXYD_CACHE_DIGEST_H
#define PROXYD_CACHE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "proto/tandem.pb-c.h"

#define CDIG_MAX_KEYS   256        /* keys in one node's digest, every cache together */
#define CDIG_KEY_MAX    1024       /* bytes of one key (scheme, host, target): longer ones are not shared */
#define CDIG_INTERVAL_MS 1000      /* how often the summary and the digest go to hacd */

/* Sends the summary and the digest through send (proxyd/channel.c's
 * chan_send) when a cache is configured; nothing otherwise. */
void cdig_tick(void (*send)(const Tandem__ChannelMessage *m));

/* Splits a key "http[s]://host/target" into its parts (pointers into key):
 * 0, or -1 when it has no such shape. */
int cdig_split_key(const char *key, size_t klen, int *https, const char **host, size_t *hl,
    const char **target, size_t *tl);

/* The tandem_cache_digests_total family and the prefetch's (prefetch_render)
 * for proxyd's /metrics; nothing while no digest went either way.
 * Control thread (metrics.c). */
void cdig_render(struct buf *o);

#endif
