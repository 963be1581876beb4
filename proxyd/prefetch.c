/*
 * proxyd/prefetch.c — peers' hot keys fetched into this node's cache
 * (prefetch.h).
 *
 * A digest key names a cache, a host and a target: a GET for them is made
 * through this proxyd's own first plain-HTTP listener (a wildcard address
 * is reached on loopback), so it takes the route, the upstream, the
 * balancing, the health checks and the store filter a client's request
 * takes, and nothing here decides storability or freshness. The issue
 * preferred an exchange with no client connection on a worker; that needs
 * a front with no connection and a hand-off to a worker thread, which the
 * exchange does not have yet (exch_wk() is the connection's worker), so
 * this takes the listener, whose cost is a loopback connection per key at
 * a rate of at most prefetch_rate per second.
 *
 * What keeps it bounded and harmless:
 *   - a key is fetched only when its cache exists here with a non-zero
 *     prefetch_rate, and no variant of it is stored fresh (checked when
 *     it is queued and again when it is sent);
 *   - each cache has a token bucket of prefetch_rate per second (burst
 *     one second's worth); at most PREFETCH_PARALLEL requests in flight,
 *     PREFETCH_QUEUE keys waiting (more are dropped and counted);
 *   - never while the origin is failing: an answer of 5xx (the origin's,
 *     or proxyd's own 502/503/504 when no server is up) or a stale object
 *     served (Cache-Status fwd=stale) pauses that cache's prefetching for
 *     PREFETCH_PAUSE_MS and drops its queued keys;
 *   - https keys are skipped (counted unsupported): the request would have
 *     to be a TLS client of this proxyd's own certificate;
 *   - the key's parts were checked by hacd (hacd/cacheview.c) and are
 *     checked again here: printable, no space, target from "/".
 */
#include "proxyd/prefetch.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/net.h"
#include "proxyd/cache_conf.h"
#include "proxyd/cache_store.h"
#include "proxyd/config.h"
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

enum pf_result {
	PF_STORED = 0,      /* fetched, and stored fresh */
	PF_NOT_STORED,      /* fetched, not stored (the origin's answer was not storable) */
	PF_FRESH,           /* already stored fresh: not fetched */
	PF_NO_CACHE,        /* no such cache here, or its prefetch_rate is 0 */
	PF_UNSUPPORTED,     /* https key, or no plain-HTTP listener */
	PF_ORIGIN_ERROR,    /* 5xx or stale served: the cache's prefetching paused */
	PF_PAUSED,          /* dropped: its cache is paused after an origin error */
	PF_FAILED,          /* connect, write, read failure or timeout */
	PF_DROPPED,         /* the queue was full, or the key was malformed */
	PF_HELD,            /* fetched lately without being stored: not again for a while */
	PF_RESULT_MAX
};

static const char *const pf_result_name[PF_RESULT_MAX] = {
	"stored", "not-stored", "fresh", "no-cache", "unsupported", "origin-error", "paused", "failed", "dropped", "held",
};

struct pf_item {
	char cache[CACHE_NAME_MAX];
	char *host, *target;
};

struct pf_conn {
	int fd;                       /* -1 free */
	struct ev_io io;
	char cache[CACHE_NAME_MAX];
	char *key;                    /* "http://host/target", for the freshness check */
	size_t klen;
	char out[PREFETCH_KEY_MAX + 256];
	size_t olen, opos;
	int connected;
	char head[1024];              /* the first bytes of the answer: status line, fields */
	size_t hlen;
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

static int
build_key(char *k, size_t cap, const char *host, const char *target, size_t *klen)
{
	int n = snprintf(k, cap, "http://%s%s", host, target);

	if (n < 0 || (size_t)n >= cap)
		return -1;
	/* The key's host is lowercase (proxyd/cache.c make_key). */
	for (char *p = k + 7; *p != '\0' && *p != '/'; p++)
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
		int dup = 0;

		pf.keys_rx++;
		if (k == NULL || !printable(k->cache, CACHE_NAME_MAX - 1) || !printable(k->host, 255) ||
		    !printable(k->target, PREFETCH_KEY_MAX) || k->target[0] != '/' || strpbrk(k->host, "/@?#\\") != NULL ||
		    build_key(key, sizeof(key), k->host, k->target, &klen) == -1) {
			pf.res[PF_DROPPED]++;
			continue;
		}
		if (k->has_https && k->https) {
			pf.res[PF_UNSUPPORTED]++;
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

			dup = q->host != NULL && strcmp(q->target, k->target) == 0 && strcmp(q->host, k->host) == 0 &&
			    strcmp(q->cache, k->cache) == 0;
		}
		if (dup)
			continue;
		if (pf.qn == PREFETCH_QUEUE) {
			pf.res[PF_DROPPED]++;
			continue;
		}
		it = &pf.q[(pf.qhead + pf.qn) % PREFETCH_QUEUE];
		snprintf(it->cache, sizeof(it->cache), "%s", k->cache);
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

/* The first plain-HTTP listener's address; a wildcard one on loopback. */
static int
listener_addr(const struct pd_config *g, struct sockaddr_storage *ss, socklen_t *len)
{
	for (size_t i = 0; g != NULL && i < g->nlisteners; i++) {
		const struct pd_listener *l = &g->listeners[i];

		if (l->tls != NULL)
			continue;
		memcpy(ss, &l->addr, l->addrlen);
		*len = l->addrlen;
		if (ss->ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)ss;

			if (in->sin_addr.s_addr == htonl(INADDR_ANY))
				in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		} else if (ss->ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

			if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
				in6->sin6_addr = in6addr_loopback;
		}
		return 0;
	}
	return -1;
}

static void
conn_end(struct pf_conn *c, enum pf_result res)
{
	struct pf_bucket *b = bucket(c->cache);

	ev_io_stop(pf.loop, &c->io);
	close(c->fd);
	c->fd = -1;
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

/* The answer so far decides: a 5xx, or a stale object (Cache-Status
 * fwd=stale with a fwd-status of 5xx, RFC 9211 §2), is the origin failing. */
static enum pf_result
judge(const struct pf_conn *c)
{
	char h[sizeof(c->head) + 1];
	int status;

	memcpy(h, c->head, c->hlen);
	h[c->hlen] = '\0';
	if (sscanf(h, "HTTP/1.%*d %d", &status) != 1)
		return PF_FAILED;
	if (status >= 500 || strstr(h, "fwd-status=5") != NULL || strstr(h, "detail=stale-if-error") != NULL)
		return PF_ORIGIN_ERROR;
	return PF_STORED;
}

static void
conn_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct pf_conn *c = w->data;
	char tmp[16384];
	ssize_t n;

	(void)loop;
	if (!c->connected && (revents & EV_WRITE)) {
		if (net_connect_result(c->fd) == -1) {
			conn_end(c, PF_FAILED);
			return;
		}
		c->connected = 1;
	}
	if (c->connected && c->opos < c->olen) {
		n = write(c->fd, c->out + c->opos, c->olen - c->opos);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_end(c, PF_FAILED);
			return;
		}
		if (n > 0)
			c->opos += (size_t)n;
		if (c->opos == c->olen)
			ev_io_start(pf.loop, &c->io, EV_READ);
		return;
	}
	if (!(revents & EV_READ))
		return;
	/* Connection: close: the answer ends with the connection; the body
	 * only goes through (the cache stores it on its way). */
	for (int k = 0; k < 8; k++) {
		n = read(c->fd, tmp, sizeof(tmp));
		if (n > 0) {
			size_t take = sizeof(c->head) - c->hlen < (size_t)n ? sizeof(c->head) - c->hlen : (size_t)n;

			memcpy(c->head + c->hlen, tmp, take);
			c->hlen += take;
			continue;
		}
		if (n == 0) {
			conn_end(c, judge(c));
			return;
		}
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_end(c, PF_FAILED);
		return;
	}
}

static void
start_one(struct pf_conn *c, const struct pd_config *g, struct pf_item *it)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char key[PREFETCH_KEY_MAX + 16];
	size_t klen;
	int n;

	if (build_key(key, sizeof(key), it->host, it->target, &klen) == -1) {
		pf.res[PF_DROPPED]++;
		return;
	}
	if (stored_fresh(it->cache, key, klen)) {
		pf.res[PF_FRESH]++;
		return;
	}
	if (listener_addr(g, &ss, &sl) == -1) {
		pf.res[PF_UNSUPPORTED]++;
		return;
	}
	n = snprintf(c->out, sizeof(c->out), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tandem-prefetch\r\n"
	    "Connection: close\r\n\r\n", it->target, it->host);
	if (n < 0 || (size_t)n >= sizeof(c->out) || (c->key = strdup(key)) == NULL) {
		pf.res[PF_DROPPED]++;
		return;
	}
	if ((c->fd = net_connect_tcp((struct sockaddr *)&ss, sl)) == -1) {
		free(c->key);
		c->key = NULL;
		pf.res[PF_FAILED]++;
		return;
	}
	c->klen = klen;
	c->olen = (size_t)n;
	c->opos = c->hlen = 0;
	c->connected = 0;
	c->started = ev_now(pf.loop);
	snprintf(c->cache, sizeof(c->cache), "%s", it->cache);
	ev_io_init(&c->io, c->fd, conn_io, c);
	ev_io_start(pf.loop, &c->io, EV_WRITE);
}

static void
tick_cb(struct ev_loop *loop, struct ev_timer *t)
{
	uint64_t now = ev_now(loop);
	struct pd_config *g = procstate_current();
	size_t scanned = 0;

	for (size_t i = 0; i < PREFETCH_PARALLEL; i++)
		if (pf.c[i].fd != -1 && now - pf.c[i].started > PREFETCH_TIMEOUT_MS)
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
			if (pf.c[i].fd == -1)
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
			start_one(c, g, &it);
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
	for (size_t i = 0; i < PREFETCH_PARALLEL; i++)
		pf.c[i].fd = -1;
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
		if (pf.c[i].fd != -1)
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
