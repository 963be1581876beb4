/*
 * proxyd/cache_digest.c — the cache summary and the hot-key digest that go
 * up the local channel to hacd (cache_digest.h). hacd keeps the summary for
 * `hactl cache stats` and sends both to its peers, sealed; a peer's proxyd
 * prefetches the digest's keys (proxyd/prefetch.c).
 *
 * The digest is the protected segment of each cache's SLRU, most recently
 * used first (cache_store_hottest): objects a client asked for again after
 * they were stored. Recency rather than a hit count, because the store
 * keeps no per-object count (a counter bumped on every hit would be a
 * write on the hit path for a once-a-second reader), and recency of a
 * second use is what the SLRU already ranks by. A peer's prefetch lands
 * in probation and is not itself hot, so digests do not echo between nodes.
 */
#include "proxyd/cache_digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyd/cache_store.h"
#include "proxyd/prefetch.h"

static uint64_t digests_sent;

int
cdig_split_key(const char *key, size_t klen, int *https, const char **host, size_t *hl,
    const char **target, size_t *tl)
{
	size_t at;
	const char *slash;

	if (klen > 8 && memcmp(key, "https://", 8) == 0) {
		*https = 1;
		at = 8;
	} else if (klen > 7 && memcmp(key, "http://", 7) == 0) {
		*https = 0;
		at = 7;
	} else {
		return -1;
	}
	slash = memchr(key + at, '/', klen - at);
	if (slash == NULL || slash == key + at)
		return -1;
	*host = key + at;
	*hl = (size_t)(slash - (key + at));
	*target = slash;
	*tl = klen - (size_t)(slash - key);
	return 0;
}

/* ---- the summary ------------------------------------------------------------- */

struct sum_ctx {
	Tandem__CacheStats st[16];
	Tandem__CacheStats *pst[16];
	char names[16][CACHE_NAME_MAX];
	size_t n;
};

static void
sum_one(void *arg, struct cache_store *s)
{
	struct sum_ctx *c = arg;
	struct cache_stats *st = cache_store_stats(s);
	Tandem__CacheStats *o;

	if (c->n >= sizeof(c->st) / sizeof(c->st[0]))
		return;
	o = &c->st[c->n];
	tandem__cache_stats__init(o);
	snprintf(c->names[c->n], sizeof(c->names[0]), "%s", cache_store_name(s));
	o->name = c->names[c->n];
	o->has_objects = o->has_bytes = o->has_hits = o->has_misses = 1;
	o->has_stale_served = o->has_stored_bytes = o->has_evicted_bytes = 1;
	o->objects = atomic_load(&st->objects);
	o->bytes = atomic_load(&st->bytes);
	o->hits = atomic_load(&st->hits);
	o->misses = atomic_load(&st->misses);
	o->stale_served = atomic_load(&st->stale_served) + atomic_load(&st->stale_updating);
	o->stored_bytes = atomic_load(&st->stored_bytes);
	o->evicted_bytes = atomic_load(&st->evicted_bytes);
	o->has_prefetched = 1;
	o->prefetched = prefetch_stored(o->name);
	c->pst[c->n] = o;
	c->n++;
}

/* ---- the digest ---------------------------------------------------------------- */

struct dig_ctx {
	const char *cache;
	Tandem__CacheDigestKey *keys;
	char *arena;                 /* host and target copies: no allocation under the store's lock */
	size_t used;
	size_t n, max;
};

#define DIG_ARENA ((size_t)CDIG_MAX_KEYS * (CDIG_KEY_MAX + 2))

static void
dig_one(void *arg, const struct cache_obj *o)
{
	struct dig_ctx *c = arg;
	Tandem__CacheDigestKey *k;
	const char *host, *target;
	size_t hl, tl;
	int https;

	/* Host and target with their NULs: at most CDIG_KEY_MAX + 2 bytes of
	 * the arena, which has room for CDIG_MAX_KEYS of them. */
	if (c->n >= c->max || o->key_len > CDIG_KEY_MAX ||
	    cdig_split_key((const char *)o->key, o->key_len, &https, &host, &hl, &target, &tl) == -1 ||
	    c->used + hl + tl + 2 > DIG_ARENA)
		return;
	k = &c->keys[c->n];
	tandem__cache_digest_key__init(k);
	k->host = c->arena + c->used;
	memcpy(k->host, host, hl);
	k->host[hl] = '\0';
	c->used += hl + 1;
	k->target = c->arena + c->used;
	memcpy(k->target, target, tl);
	k->target[tl] = '\0';
	c->used += tl + 1;
	k->cache = (char *)c->cache;
	k->has_https = 1;
	k->https = https;
	k->has_hits = 1;
	k->hits = (uint32_t)(c->max - c->n);   /* rank: the first is the most recent */
	c->n++;
}

void
cdig_tick(void (*send)(const Tandem__ChannelMessage *m))
{
	struct sum_ctx *sc = calloc(1, sizeof(*sc));
	Tandem__ChannelMessage m = TANDEM__CHANNEL_MESSAGE__INIT;
	Tandem__CacheSummary sum = TANDEM__CACHE_SUMMARY__INIT;
	Tandem__CacheDigest dig = TANDEM__CACHE_DIGEST__INIT;
	Tandem__CacheDigestKey *keys = NULL, **pkeys = NULL;
	struct dig_ctx dc = { 0 };

	if (sc == NULL)
		return;
	cache_store_foreach(sum_one, sc);
	if (sc->n == 0)
		goto out;
	sum.n_caches = sc->n;
	sum.caches = sc->pst;
	m.body_case = TANDEM__CHANNEL_MESSAGE__BODY_CACHE_SUMMARY;
	m.cache_summary = &sum;
	send(&m);

	keys = calloc(CDIG_MAX_KEYS, sizeof(*keys));
	pkeys = calloc(CDIG_MAX_KEYS, sizeof(*pkeys));
	dc.arena = malloc(DIG_ARENA);
	if (keys == NULL || pkeys == NULL || dc.arena == NULL)
		goto out;
	dc.keys = keys;
	/* Every cache gets an equal share of the bound, the last one the rest. */
	for (size_t i = 0; i < sc->n; i++) {
		struct cache_store *s = cache_store_find(sc->names[i]);

		if (s == NULL)
			continue;
		dc.cache = sc->names[i];
		dc.max = dc.n + (CDIG_MAX_KEYS - dc.n) / (sc->n - i);
		cache_store_hottest(s, dc.max - dc.n, dig_one, &dc);
		cache_store_release(s);
	}
	if (dc.n == 0)
		goto out;
	for (size_t i = 0; i < dc.n; i++)
		pkeys[i] = &keys[i];
	dig.n_keys = dc.n;
	dig.keys = pkeys;
	m.body_case = TANDEM__CHANNEL_MESSAGE__BODY_CACHE_DIGEST;
	m.cache_digest = &dig;
	send(&m);
	digests_sent++;
out:
	free(dc.arena);
	free(keys);
	free(pkeys);
	free(sc);
}

void
cdig_render(struct buf *o)
{
	uint64_t rx = prefetch_digests_received();

	if (digests_sent == 0 && rx == 0)
		return;
	buf_appendf(o, "# HELP tandem_cache_digests_total Digests of hot cache keys: sent to hacd (this node's), "
	    "received from hacd (peers' chunks).\n# TYPE tandem_cache_digests_total counter\n"
	    "tandem_cache_digests_total{direction=\"sent\"} %llu\n"
	    "tandem_cache_digests_total{direction=\"received\"} %llu\n",
	    (unsigned long long)digests_sent, (unsigned long long)rx);
	prefetch_render(o);
}
