/*
 * proxyd/balance.c — how a worker chooses the server for a request.
 *
 * The upstream module keeps, per worker thread, an array of struct bal_server (one per
 * configured server) and a struct balancer over it. Health checks, outlier ejection,
 * admin drain and slow start all reduce to one number, eff_weight, which the upstream
 * code writes; this file only reads it, so an unusable server is skipped by every
 * algorithm the same way. Nothing here does I/O, reads a clock or takes a lock: a
 * balancer belongs to one worker and its picks are plain arithmetic, unit-tested in
 * tests/unit/test_balance.c.
 *
 * Consistent hashing is a ring of virtual points (as in ketama and nginx's
 * hash ... consistent), chosen over the alternatives for one property the design asks
 * for: when a server goes down, only the keys it held move, and every other key stays
 * where it was. A server's points depend on its own id_hash and configured weight
 * only, never on the other servers, so removing a server removes exactly its points
 * and a key on any other server finds the same first point clockwise. Jump hash cannot
 * remove a server from the middle of the list, and Maglev's table reshuffles a small
 * fraction of the other servers' keys on every change, which would break affinity
 * (caches, sessions) for clients whose server never failed. Points are placed from the
 * configured weight, not eff_weight, so a slow-start ramp does not move keys either.
 */
#include "proxyd/balance.h"

#include <stdlib.h>
#include <string.h>

/* ~160 points per unit of weight keeps each server's share of the ring within a few
 * percent of its weight (ketama's figure); the ring is capped so a large upstream with
 * large weights stays at a few megabytes per worker. */
#define RING_POINTS_PER_UNIT 160u
#define RING_MAX_POINTS      (1u << 17)

struct ring_point {
	uint64_t h;
	uint32_t idx;
};

struct balancer {
	enum balance_algo algo;
	struct bal_server *srv;
	size_t n;
	uint64_t rng;               /* xorshift64* state, never 0 */
	/* BAL_HASH: the ring over the servers usable at the last update, sorted by h */
	struct ring_point *ring;
	size_t nring;
	uint32_t *snap_weight;      /* configured weight seen at the last ring build */
	uint8_t *snap_up;           /* usable (weight and eff_weight > 0) at the last build */
	int ring_built;
};

const char *balance_algo_str(enum balance_algo a)
{
	switch (a) {
	case BAL_ROUNDROBIN: return "roundrobin";
	case BAL_LEASTCONN:  return "leastconn";
	case BAL_HASH:       return "hash";
	case BAL_RANDOM2:    return "random";
	case BAL_ALGO_MAX:   break;
	}
	return "?";
}

int balance_algo_parse(const char *s, enum balance_algo *out)
{
	if (s == NULL)
		return -1;
	for (int a = 0; a < BAL_ALGO_MAX; a++) {
		if (strcmp(s, balance_algo_str((enum balance_algo)a)) == 0) {
			*out = (enum balance_algo)a;
			return 0;
		}
	}
	return -1;
}

/* splitmix64's finalizer: a bijection that spreads every input bit over the output,
 * so weak caller hashes (sequential ids, short keys) still land uniformly on the ring. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

uint64_t balance_hash(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a 64 offset basis */

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return mix64(h);
}

static int usable(const struct bal_server *s)
{
	return s->weight > 0 && s->eff_weight > 0;
}

static int available(const struct balancer *b, size_t i, const uint8_t *mask)
{
	return usable(&b->srv[i]) && !bal_mask_test(mask, i);
}

/* xorshift64* (Marsaglia, Vigna): fast, per-worker, good enough to choose servers. */
static uint64_t rng_next(struct balancer *b)
{
	uint64_t x = b->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	b->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, bound) without modulo bias worth measuring: Lemire's multiply-shift. */
static uint64_t rng_below(struct balancer *b, uint64_t bound)
{
	return (uint64_t)(((unsigned __int128)rng_next(b) * bound) >> 64);
}

/* --- smooth weighted round robin ------------------------------------------------ */

/*
 * nginx's smooth weighted round robin (ngx_http_upstream_get_peer): every candidate's
 * cur grows by its weight, the largest cur wins and pays back the total. Over one
 * cycle each server is picked in proportion to its weight, and picks of a heavy
 * server are spread out rather than bunched ({5,1,1} gives a a b a c a a).
 * `only_load` restricts the candidates to the servers whose active/eff_weight equals
 * load_a/load_w: leastconn uses it to break ties by round robin.
 */
static int swrr_pick(struct balancer *b, const uint8_t *mask, int only_load,
		     uint64_t load_a, uint64_t load_w)
{
	int64_t total = 0;
	int best = -1;

	for (size_t i = 0; i < b->n; i++) {
		struct bal_server *s = &b->srv[i];

		if (!available(b, i, mask))
			continue;
		if (only_load && (uint64_t)s->active * load_w != load_a * s->eff_weight)
			continue;
		s->cur += (int32_t)s->eff_weight;
		total += s->eff_weight;
		if (best < 0 || s->cur > b->srv[best].cur)
			best = (int)i;
	}
	if (best >= 0)
		b->srv[best].cur -= (int32_t)total;
	return best;
}

/* --- least connections ------------------------------------------------------------ */

/* Fewest in-flight connections per unit of (effective) weight; ratios are compared by
 * cross-multiplication so no division or rounding decides a tie. */
static int leastconn_pick(struct balancer *b, const uint8_t *mask)
{
	int best = -1;

	for (size_t i = 0; i < b->n; i++) {
		const struct bal_server *s = &b->srv[i];

		if (!available(b, i, mask))
			continue;
		if (best < 0 || (uint64_t)s->active * b->srv[best].eff_weight <
				(uint64_t)b->srv[best].active * s->eff_weight)
			best = (int)i;
	}
	if (best < 0)
		return -1;
	return swrr_pick(b, mask, 1, b->srv[best].active, b->srv[best].eff_weight);
}

/* --- power of two random choices ------------------------------------------------ */

/* Index of the server where the weighted draw r (in [0, sum of available eff_weight
 * except `skip`)) falls. */
static int weighted_at(const struct balancer *b, const uint8_t *mask, uint64_t r, int skip)
{
	for (size_t i = 0; i < b->n; i++) {
		if ((int)i == skip || !available(b, i, mask))
			continue;
		if (r < b->srv[i].eff_weight)
			return (int)i;
		r -= b->srv[i].eff_weight;
	}
	return -1;
}

/*
 * Two distinct servers drawn in proportion to eff_weight, the one with fewer
 * active/eff_weight wins (Mitzenmacher, "The Power of Two Choices"). Weighted draws
 * make an idle upstream follow the weights; the comparison avoids herding on the
 * single least loaded server that every worker would see at once under leastconn.
 */
static int random2_pick(struct balancer *b, const uint8_t *mask)
{
	uint64_t total = 0;
	int a, c;

	for (size_t i = 0; i < b->n; i++)
		if (available(b, i, mask))
			total += b->srv[i].eff_weight;
	if (total == 0)
		return -1;
	a = weighted_at(b, mask, rng_below(b, total), -1);
	if (total == b->srv[a].eff_weight)
		return a;                       /* the only available server */
	c = weighted_at(b, mask, rng_below(b, total - b->srv[a].eff_weight), a);
	if ((uint64_t)b->srv[c].active * b->srv[a].eff_weight <
	    (uint64_t)b->srv[a].active * b->srv[c].eff_weight)
		return c;
	return a;
}

/* --- consistent hashing ring --------------------------------------------------- */

static uint64_t gcd64(uint64_t x, uint64_t y)
{
	while (y != 0) {
		uint64_t t = x % y;
		x = y;
		y = t;
	}
	return x;
}

static int point_cmp(const void *pa, const void *pb)
{
	const struct ring_point *x = pa, *y = pb;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	/* equal hashes (astronomically rare): order by index so every worker agrees */
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Points per server: its configured weight divided by the gcd of ALL configured
 * weights (usable or not), times RING_POINTS_PER_UNIT, scaled down only if the whole
 * upstream would exceed RING_MAX_POINTS. Both factors depend on configuration alone,
 * never on which servers are up, so a server's points are the same in every build.
 */
static int ring_build(struct balancer *b)
{
	uint64_t g = 0, units = 0, per_unit, npoints = 0;
	struct ring_point *ring;
	size_t k = 0;

	for (size_t i = 0; i < b->n; i++)
		if (b->srv[i].weight > 0)
			g = gcd64(g, b->srv[i].weight);
	for (size_t i = 0; i < b->n; i++)
		if (b->srv[i].weight > 0)
			units += b->srv[i].weight / g;
	per_unit = RING_POINTS_PER_UNIT;
	if (units > 0 && units * per_unit > RING_MAX_POINTS)
		per_unit = RING_MAX_POINTS / units > 0 ? RING_MAX_POINTS / units : 1;
	for (size_t i = 0; i < b->n; i++)
		if (usable(&b->srv[i]))
			npoints += b->srv[i].weight / g * per_unit;

	ring = NULL;
	if (npoints > 0) {
		ring = malloc(npoints * sizeof(*ring));
		if (ring == NULL)
			return -1;      /* keep the old ring: stale beats none */
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct bal_server *s = &b->srv[i];
		uint64_t np;

		b->snap_weight[i] = s->weight;
		b->snap_up[i] = (uint8_t)usable(s);
		if (!usable(s))
			continue;
		np = s->weight / g * per_unit;
		for (uint64_t j = 0; j < np; j++) {
			ring[k].h = mix64(s->id_hash ^ mix64(j + 1));
			ring[k].idx = (uint32_t)i;
			k++;
		}
	}
	if (k > 1)
		qsort(ring, k, sizeof(*ring), point_cmp);
	free(b->ring);
	b->ring = ring;
	b->nring = k;
	b->ring_built = 1;
	return 0;
}

static int ring_stale(const struct balancer *b)
{
	if (!b->ring_built)
		return 1;
	for (size_t i = 0; i < b->n; i++)
		if (b->snap_weight[i] != b->srv[i].weight ||
		    b->snap_up[i] != (uint8_t)usable(&b->srv[i]))
			return 1;
	return 0;
}

/* First point clockwise from the key, skipping servers that went down since the last
 * build or that the caller excludes; a full turn without a usable point means none. */
static int hash_pick(struct balancer *b, uint64_t key_hash, const uint8_t *mask)
{
	uint64_t h = mix64(key_hash);
	size_t lo = 0, hi = b->nring;

	if (b->nring == 0)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->ring[mid].h < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t step = 0; step < b->nring; step++) {
		size_t i = b->ring[(lo + step) % b->nring].idx;

		if (available(b, i, mask))
			return (int)i;
	}
	return -1;
}

/* --- public ------------------------------------------------------------------- */

struct balancer *balancer_new(enum balance_algo a, struct bal_server *servers, size_t n, uint64_t seed)
{
	struct balancer *b;

	if ((unsigned)a >= BAL_ALGO_MAX || n > BAL_MAX_SERVERS || (servers == NULL && n > 0))
		return NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->algo = a;
	b->srv = servers;
	b->n = n;
	/* xorshift has an all-zero fixed point; mixing also decorrelates seeds 1, 2, 3... */
	b->rng = mix64(seed ^ 0x9e3779b97f4a7c15ull);
	if (b->rng == 0)
		b->rng = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < n; i++)
		servers[i].cur = 0;
	if (a == BAL_HASH) {
		b->snap_weight = calloc(n ? n : 1, sizeof(*b->snap_weight));
		b->snap_up = calloc(n ? n : 1, sizeof(*b->snap_up));
		if (b->snap_weight == NULL || b->snap_up == NULL || ring_build(b) == -1)
			goto fail;
	}
	return b;
fail:
	balancer_free(b);
	return NULL;
}

void balancer_free(struct balancer *b)
{
	if (b == NULL)
		return;
	free(b->ring);
	free(b->snap_weight);
	free(b->snap_up);
	free(b);
}

int balancer_pick(struct balancer *b, uint64_t key_hash, const uint8_t *exclude_mask)
{
	switch (b->algo) {
	case BAL_ROUNDROBIN: return swrr_pick(b, exclude_mask, 0, 0, 0);
	case BAL_LEASTCONN:  return leastconn_pick(b, exclude_mask);
	case BAL_HASH:       return hash_pick(b, key_hash, exclude_mask);
	case BAL_RANDOM2:    return random2_pick(b, exclude_mask);
	case BAL_ALGO_MAX:   break;
	}
	return -1;
}

void balancer_update(struct balancer *b)
{
	/* A server that was out of rotation rejoins with a clean swrr state: a cur frozen
	 * at a large value would otherwise give it a burst of consecutive picks. */
	for (size_t i = 0; i < b->n; i++)
		if (!usable(&b->srv[i]))
			b->srv[i].cur = 0;
	if (b->algo == BAL_HASH && ring_stale(b))
		(void)ring_build(b);    /* on ENOMEM the old ring still skips down servers */
}

enum balance_algo balancer_algo(const struct balancer *b)
{
	return b->algo;
}

size_t balancer_count(const struct balancer *b)
{
	return b->n;
}
