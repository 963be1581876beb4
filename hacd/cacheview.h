/*
 * hacd/cacheview.h — the cache's cluster view on hacd (docs/cache.md):
 * each node's cache summary (its proxyd's counters, for `hactl cache
 * stats`) and the warm-standby digest of hot keys. What this node's proxyd
 * reports over the channel goes to every peer in sealed datagrams (hacd/
 * peer.c's receive ladder checks them like any peer message: forged and
 * replayed ones never get here); a peer's summary is kept, a peer's digest
 * goes on to this node's proxyd, which prefetches it (proxyd/prefetch.c).
 * Validation is here, pure (tests/unit/test_cacheview.c); the sending is
 * hacd/repl.c's. Module prefix: cv_.
 */
#ifndef TANDEM_HACD_CACHEVIEW_H
#define TANDEM_HACD_CACHEVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "hacd/config.h"
#include "proto/tandem.pb-c.h"

#define CV_MAX_CACHES    16         /* caches in one node's summary */
#define CV_NAME_MAX      63         /* bytes of a cache's name (proxyd's CACHE_NAME_MAX - 1) */
#define CV_SUMMARY_MAX   1200       /* packed bytes of one node's summary: one datagram */
#define CV_DIGEST_KEYS   256        /* keys in one node's digest (proxyd's CDIG_MAX_KEYS) */
#define CV_HOST_MAX      255
#define CV_KEY_MAX       1024       /* host + target bytes (proxyd's CDIG_KEY_MAX) */
#define CV_CHUNK_BYTES   1200       /* a digest chunk's packed PeerMessage, under WIRE_MAX_PAYLOAD; one key of
                                       CV_KEY_MAX with a cache name of CV_NAME_MAX always fits */

struct cv_node {
	uint8_t sum[CV_SUMMARY_MAX];     /* the newest CacheSummary, packed */
	size_t len;                      /* 0: none yet */
	uint64_t at_ms;                  /* loop time it arrived */
};

struct cacheview {
	struct cv_node node[HACD_MAX_NODES];
	uint64_t sum_tx, sum_rx, sum_bad;        /* summaries to peers, from peers, refused */
	uint64_t dig_tx, dig_rx, dig_bad;        /* digest chunks to peers, from peers, refused */
	uint64_t dig_keys_tx, dig_keys_rx;       /* keys in them */
	uint64_t dig_fwd, dig_unsent;            /* chunks passed to proxyd; not (proxyd not connected) */
	uint64_t chan_bad;                       /* malformed summaries or digests from proxyd */
};

/* A summary's or a digest's shape is within the bounds above: 1, else 0. */
int cv_summary_ok(const Tandem__CacheSummary *s);
int cv_key_ok(const Tandem__CacheDigestKey *k);
int cv_digest_ok(const Tandem__CacheDigest *d);

/* Keeps s as node's newest summary, named node_name, at now_ms. 0, or -1
 * when it does not fit (counted by the caller). */
int cv_keep_summary(struct cacheview *cv, size_t node, const char *node_name, const Tandem__CacheSummary *s,
    uint64_t now_ms);

/* Packs d's keys [*from, ...) as one PeerMessage digest chunk from origin
 * into buf (cap bytes, at most CV_CHUNK_BYTES used); *from moves past the
 * keys packed. The packed length, or 0 when nothing is left (or one key
 * alone does not fit: it is skipped). */
size_t cv_digest_chunk(const Tandem__CacheDigest *d, const char *origin, size_t *from, uint8_t *buf, size_t cap);

#endif
