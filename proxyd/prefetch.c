/*
 * proxyd/prefetch.c — peers' hot keys fetched into this node's cache
 * (prefetch.h).
 *
 * A digest key names a cache, a scheme, a host and a target: a GET for
 * them is handed to a worker and run there as an internal exchange
 * (proxyd/prefetch_front.c): it takes the route, the cache, the upstream,
 * the balancing, the health checks and the store filter a client's
 * request for that host and path takes, and nothing here decides
 * storability or freshness. No listener is involved, so a TLS-only
 * deployment prefetches its https keys, and a listener's ACLs, rate
 * limits, access log and request metrics never see a prefetch.
 *
 * What keeps it bounded and harmless:
 *   - a key is fetched only when its cache exists here with a non-zero
 *     prefetch_rate, and no variant of it is stored fresh (checked when
 *     it is queued and again when it is sent);
 *   - each cache has a token bucket of prefetch_rate per second (burst
 *     one second's worth); at most PREFETCH_PARALLEL requests in flight,
 *     PREFETCH_QUEUE keys waiting (more are dropped and counted), each
 *     request aborted after PREFETCH_TIMEOUT_MS;
 *   - never while the origin is failing: an answer of 5xx (the origin's,
 *     or proxyd's own 502/503/504 when no server is up) or a stale object
 *     served pauses that cache's prefetching for PREFETCH_PAUSE_MS and
 *     drops its queued keys;
 *   - the key's parts were checked by hacd (hacd/cacheview.c) and are
 *     checked again here: printable, no space, target from "/".
 */
#include "proxyd/prefetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "proxyd/cache_conf.h"
#include "proxyd/cache_store.h"
#include "proxyd/config.h"
#include "proxyd/prefetch_handoff.h"
#include "proxyd/procstate.h"

#define PF_TICK_MS   50
#define PF_MAX_CACHES 16
/* A key fetched without being stored (its answer not storable here, or
 * its route here has no cache) or that failed is not fetched again for
 * PF_HOLD_MS, though every digest names it: otherwise it would cost the
 * origin a request per digest. A fixed table by key hash, like the
 * store's pass marks: a collision only ends a hold early. */
#define PF_HOLD_SLOTS 1024
#define PF_HOLD_MS   60000

static const char *const pf_result_name[PF_RESULT_MAX] = {
	"stored", "not-stored", "fresh", "no-cache", "origin-error", "paused", "failed", "dropped", "held",
};

struct pf_item {
	char cache[CACHE_NAME_MAX];
	int https;
	char *host, *target;
};

/* A request handed to a worker (proxyd/prefetch_front.c). */
struct pf_conn {
	uint32_t id;                  /* 0 free; else its result's id */
	char cache[CACHE_NAME_MAX];
	char *key;                    /* "http(s)://host/target", for the freshness check */
	size_t klen;
	uint64_t started;
};

struct pf_bucket {
	char name[CACHE_NAME_MAX];
	double tokens;
	uint64_t last_ms, paused_until;
	uint64_t stored;
};

static struct {
	struct ev_loop *loop;
	struct ev_timer tick;
	struct pf_item q[PREFETCH_QUEUE];
	size_t qhead, qn;
	struct pf_conn c[PREFETCH_PARALLEL];
	struct pf_bucket b[PF_MAX_CACHES];
	uint32_t next_id;
	size_t nb;
	struct { uint64_t hash, until; } hold[PF_HOLD_SLOTS];
	uint64_t digests_rx, keys_rx;
	uint64_t res[PF_RESULT_MAX];
	struct log_ratelimit rl;
	int started;
} pf = { .rl = LOG_RATELIMIT_INIT(10000) };

static int64_t
wall_s(void)
{
	return (int64_t)time(NULL);
}

static struct pf_bucket *
bucket(const char *name)
{
	for (size_t i = 0; i < pf.nb; i++)
		if (strcmp(pf.b[i].name, name) == 0)
			return &pf.b[i];
	if (pf.nb == PF_MAX_CACHES)
		return NULL;
	memset(&pf.b[pf.nb], 0, sizeof(pf.b[0]));
	snprintf(pf.b[pf.nb].name, sizeof(pf.b[0].name), "%s", name);
	return &pf.b[pf.nb++];
}

/* The cache's prefetch_rate in the current generation; 0 when it has no
 * such cache. */
static uint32_t
cache_rate(const struct pd_config *g, const char *name)
{
	for (size_t i = 0; g != NULL && i < g->ncaches; i++)
		if (strcmp(g->caches[i].name, name) == 0)
			return g->caches[i].prefetch_rate;
	return 0;
}

int
prefetch_key(char *k, size_t cap, int https, const char *host, const char *target, size_t *klen)
{
	int n = snprintf(k, cap, "%s://%s%s", https ? "https" : "http", host, target);

	if (n < 0 || (size_t)n >= cap)
		return -1;
	/* The key's host is lowercase (proxyd/cache.c make_key). */
	for (char *p = k + (https ? 8 : 7); *p != '\0' && *p != '/'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	*klen = (size_t)n;
	return 0;
}

static int
stored_fresh(const char *cache, const char *key, size_t klen)
{
	struct cache_store *s = cache_store_find(cache);
	int fresh;

	if (s == NULL)
		return 0;
	fresh = cache_store_has_fresh(s, cache_key_hash(key, klen), key, klen, wall_s());
	cache_store_release(s);
	return fresh;
}

static int
held(const char *key, size_t klen)
{
	uint64_t h = cache_key_hash(key, klen);

	return pf.hold[h % PF_HOLD_SLOTS].hash == h && pf.hold[h % PF_HOLD_SLOTS].until > ev_now(pf.loop);
}

static void
hold(const char *key, size_t klen)
{
	uint64_t h = cache_key_hash(key, klen);

	pf.hold[h % PF_HOLD_SLOTS].hash = h;
	pf.hold[h % PF_HOLD_SLOTS].until = ev_now(pf.loop) + PF_HOLD_MS;
}

static int
printable(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= max || (unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return 0;
	return 1;
}

int
prefetch_key_valid(const char *cache, const char *host, const char *target)
{
	return printable(cache, CACHE_NAME_MAX - 1) && printable(host, 255) && printable(target, PREFETCH_KEY_MAX) &&
	    target[0] == '/' && strpbrk(host, "/@?#\\") == NULL;
}

void
prefetch_digest(const Tandem__CacheDigest *d)
{
	struct pd_config *g = procstate_current();
	char key[PREFETCH_KEY_MAX + 16];
	size_t klen;

	pf.digests_rx++;
	for (size_t i = 0; i < d->n_keys; i++) {
		const Tandem__CacheDigestKey *k = d->keys[i];
		struct pf_bucket *b;
		struct pf_item *it;
		int dup = 0, https;

		pf.keys_rx++;
		https = k != NULL && k->has_https && k->https;
		if (k == NULL || !prefetch_key_valid(k->cache, k->host, k->target) ||
		    prefetch_key(key, sizeof(key), https, k->host, k->target, &klen) == -1) {
			pf.res[PF_DROPPED]++;
			continue;
		}
		if (cache_rate(g, k->cache) == 0 || (b = bucket(k->cache)) == NULL) {
			pf.res[PF_NO_CACHE]++;
			continue;
		}
		if (b->paused_until > ev_now(pf.loop)) {
			pf.res[PF_PAUSED]++;
			continue;
		}
		if (stored_fresh(k->cache, key, klen)) {
			pf.res[PF_FRESH]++;
			continue;
		}
		if (held(key, klen)) {
			pf.res[PF_HELD]++;
			continue;
		}
		/* A key queued already (the previous digest named it too). */
		for (size_t j = 0; j < pf.qn && !dup; j++) {
			const struct pf_item *q = &pf.q[(pf.qhead + j) % PREFETCH_QUEUE];

			dup = q->host != NULL && q->https == https && strcmp(q->target, k->target) == 0 &&
			    strcmp(q->host, k->host) == 0 && strcmp(q->cache, k->cache) == 0;
		}
		/* Or being fetched now: a key whose origin is slow would
		 * otherwise take every slot, one digest after another. */
		for (size_t j = 0; j < PREFETCH_PARALLEL && !dup; j++)
			dup = pf.c[j].id != 0 && pf.c[j].klen == klen && memcmp(pf.c[j].key, key, klen) == 0 &&
			    strcmp(pf.c[j].cache, k->cache) == 0;
		if (dup)
			continue;
		if (pf.qn == PREFETCH_QUEUE) {
			pf.res[PF_DROPPED]++;
			continue;
		}
		it = &pf.q[(pf.qhead + pf.qn) % PREFETCH_QUEUE];
		snprintf(it->cache, sizeof(it->cache), "%s", k->cache);
		it->https = https;
		it->host = strdup(k->host);
		it->target = strdup(k->target);
		if (it->host == NULL || it->target == NULL) {
			free(it->host);
			free(it->target);
			pf.res[PF_DROPPED]++;
			continue;
		}
		pf.qn++;
	}
	config_unref(g);
}

static void
conn_end(struct pf_conn *c, enum pf_result res)
{
	struct pf_bucket *b = bucket(c->cache);

	c->id = 0;
	if (res == PF_STORED && !stored_fresh(c->cache, c->key, c->klen))
		res = PF_NOT_STORED;
	if (res == PF_NOT_STORED || res == PF_FAILED)
		hold(c->key, c->klen);
	pf.res[res]++;
	if (res == PF_STORED && b != NULL)
		b->stored++;
	if (res == PF_ORIGIN_ERROR && b != NULL) {
		b->paused_until = ev_now(pf.loop) + PREFETCH_PAUSE_MS;
		log_rl_warnx(&pf.rl, ev_now(pf.loop), "prefetch: cache %s: the origin failed for %.200s: "
		    "peers' hot keys not fetched for %d s", c->cache, c->key, PREFETCH_PAUSE_MS / 1000);
		/* Its queued keys go: by the time the pause ends a newer
		 * digest will have named what is still hot. */
		for (size_t j = 0; j < pf.qn; j++) {
			struct pf_item *q = &pf.q[(pf.qhead + j) % PREFETCH_QUEUE];

			if (strcmp(q->cache, c->cache) == 0 && q->host != NULL) {
				free(q->host);
				free(q->target);
				q->host = q->target = NULL;   /* skipped when its turn comes */
				pf.res[PF_PAUSED]++;
			}
		}
	}
	free(c->key);
	c->key = NULL;
}

/* What the worker saw decides: a 5xx, or a stale object served instead
 * (stale-if-error, RFC 5861 §4), is the origin failing. */
enum pf_result
prefetch_judge(int failed, int status, int stale)
{
	if (failed || status == 0)
		return PF_FAILED;
	if (status >= 500 || stale)
		return PF_ORIGIN_ERROR;
	return PF_STORED;
}

static void
start_one(struct pf_conn *c, struct pf_item *it)
{
	char key[PREFETCH_KEY_MAX + 16];
	size_t klen;

	if (prefetch_key(key, sizeof(key), it->https, it->host, it->target, &klen) == -1) {
		pf.res[PF_DROPPED]++;
		return;
	}
	if (stored_fresh(it->cache, key, klen)) {
		pf.res[PF_FRESH]++;
		return;
	}
	if ((c->key = strdup(key)) == NULL) {
		pf.res[PF_DROPPED]++;
		return;
	}
	if (++pf.next_id == 0)
		pf.next_id = 1;
	if (pfx_submit(pf.next_id, it->https, it->host, it->target) == -1) {
		free(c->key);
		c->key = NULL;
		pf.res[PF_FAILED]++;
		return;
	}
	c->id = pf.next_id;
	c->klen = klen;
	c->started = ev_now(pf.loop);
	snprintf(c->cache, sizeof(c->cache), "%s", it->cache);
}

/* The workers' results: each ends its slot (one whose slot was given up
 * on already is ignored). */
static void
collect(void)
{
	struct pfx_result x[PREFETCH_PARALLEL * 4];
	size_t n = pfx_collect(x, sizeof(x) / sizeof(x[0]));

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < PREFETCH_PARALLEL; j++)
			if (pf.c[j].id != 0 && pf.c[j].id == x[i].id)
				conn_end(&pf.c[j], prefetch_judge(x[i].failed, x[i].status, x[i].stale));
}

static void
tick_cb(struct ev_loop *loop, struct ev_timer *t)
{
	uint64_t now = ev_now(loop);
	struct pd_config *g = procstate_current();
	size_t scanned = 0;

	collect();
	/* The worker aborts a request at PREFETCH_TIMEOUT_MS; a result that
	 * never came (its worker stopped) frees the slot here, later. */
	for (size_t i = 0; i < PREFETCH_PARALLEL; i++)
		if (pf.c[i].id != 0 && now - pf.c[i].started > 2 * PREFETCH_TIMEOUT_MS)
			conn_end(&pf.c[i], PF_FAILED);
	for (size_t i = 0; i < pf.nb; i++) {
		struct pf_bucket *b = &pf.b[i];
		uint32_t rate = cache_rate(g, b->name);

		if (b->last_ms != 0)
			b->tokens += (double)rate * (double)(now - b->last_ms) / 1000.0;
		if (b->tokens > (double)(rate ? rate : 1))
			b->tokens = (double)(rate ? rate : 1);
		b->last_ms = now;
	}
	/* FIFO; a key whose cache has no token now is put back at the end,
	 * each key looked at once per tick. */
	while (pf.qn > 0 && scanned++ < PREFETCH_QUEUE) {
		struct pf_item it = pf.q[pf.qhead];
		struct pf_conn *c = NULL;
		struct pf_bucket *b;

		for (size_t i = 0; i < PREFETCH_PARALLEL && c == NULL; i++)
			if (pf.c[i].id == 0)
				c = &pf.c[i];
		if (c == NULL)
			break;
		pf.qhead = (pf.qhead + 1) % PREFETCH_QUEUE;
		pf.qn--;
		if (it.host == NULL)
			continue;       /* dropped by a pause */
		b = bucket(it.cache);
		if (b == NULL || cache_rate(g, it.cache) == 0) {
			pf.res[PF_NO_CACHE]++;
		} else if (b->paused_until > now) {
			pf.res[PF_PAUSED]++;
		} else if (b->tokens < 1.0) {
			pf.q[(pf.qhead + pf.qn) % PREFETCH_QUEUE] = it;
			pf.qn++;
			continue;
		} else {
			b->tokens -= 1.0;
			start_one(c, &it);
		}
		free(it.host);
		free(it.target);
	}
	config_unref(g);
	ev_timer_start(loop, t, PF_TICK_MS);
}

void
prefetch_start(struct ev_loop *loop)
{
	if (pf.started)
		return;
	pf.loop = loop;
	ev_timer_init(&pf.tick, tick_cb, NULL);
	ev_timer_start(loop, &pf.tick, PF_TICK_MS);
	pf.started = 1;
}

void
prefetch_stop(void)
{
	if (!pf.started)
		return;
	ev_timer_stop(pf.loop, &pf.tick);
	for (size_t i = 0; i < PREFETCH_PARALLEL; i++)
		if (pf.c[i].id != 0)
			conn_end(&pf.c[i], PF_FAILED);
	for (; pf.qn > 0; pf.qn--, pf.qhead = (pf.qhead + 1) % PREFETCH_QUEUE) {
		free(pf.q[pf.qhead].host);
		free(pf.q[pf.qhead].target);
	}
	pf.started = 0;
}

uint64_t
prefetch_stored(const char *cache)
{
	for (size_t i = 0; i < pf.nb; i++)
		if (strcmp(pf.b[i].name, cache) == 0)
			return pf.b[i].stored;
	return 0;
}

uint64_t
prefetch_digests_received(void)
{
	return pf.digests_rx;
}

void
prefetch_render(struct buf *o)
{
	if (pf.digests_rx == 0)
		return;
	buf_appendf(o, "# HELP tandem_cache_digest_keys_received_total Keys in peers' digests.\n"
	    "# TYPE tandem_cache_digest_keys_received_total counter\ntandem_cache_digest_keys_received_total %llu\n",
	    (unsigned long long)pf.keys_rx);
	buf_appendf(o, "# HELP tandem_cache_prefetches_total Peers' hot keys, by what became of them.\n"
	    "# TYPE tandem_cache_prefetches_total counter\n");
	for (int i = 0; i < PF_RESULT_MAX; i++)
		buf_appendf(o, "tandem_cache_prefetches_total{result=\"%s\"} %llu\n", pf_result_name[i],
		    (unsigned long long)pf.res[i]);
	buf_appendf(o, "# HELP tandem_cache_prefetch_queue Peers' hot keys waiting to be fetched.\n"
	    "# TYPE tandem_cache_prefetch_queue gauge\ntandem_cache_prefetch_queue %zu\n", pf.qn);
}
