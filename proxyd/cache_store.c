/*
 * proxyd/cache_store.c — the shared RAM store of a named cache
 * (cache_store.h): registry, hash table, segmented LRU, byte bound.
 */
#include "proxyd/cache_store.h"
#include "proxyd/cache_rule.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>


/* The protected segment's share of the bound (SLRU): objects hit at least
 * twice keep 80% of the room, new ones compete for the rest. */
#define PROTECTED_PCT 80

/* Buckets of the fetches under way (a power of two). */
#define PENDING_BUCKETS 64

struct seg {
	struct cache_obj *head, *tail;     /* head: most recently used */
	uint64_t bytes;
};

struct cache_store {
	struct cache_store *next;          /* registry */
	int refs;                          /* registry lock */
	char name[CACHE_NAME_MAX];
	pthread_mutex_t mu;
	uint64_t size;
	_Atomic uint64_t max_object;       /* read by workers without the lock */
	struct seg seg[3];                 /* indexed by CACHE_SEG_*; [0] unused */
	uint64_t bytes;
	struct cache_obj **tab;
	size_t nbuckets, count;
	/* Fetches under way, by key hash: a miss looks for its key's among
	 * them, and there are as many as concurrent misses. */
	struct cache_pending *pending[PENDING_BUCKETS];
	uint64_t seq;                      /* objects inserted */
	struct { _Atomic uint64_t hash; _Atomic int64_t until; } pass[CACHE_PASS_SLOTS];
	struct cache_stats st;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cache_store *reg_head;
static uint8_t hash_key[16];
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;
static _Atomic int hash_ready;

static void
hash_key_init(void)
{
	if (getrandom(hash_key, sizeof(hash_key), 0) != (ssize_t)sizeof(hash_key))
		memset(hash_key, 0x5a, sizeof(hash_key));
	atomic_store_explicit(&hash_ready, 1, memory_order_release);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3) \
	do { \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* SipHash-1-3 (Aumasson and Bernstein; the round counts Rust's and
 * Python's hash tables use): still keyed with a secret drawn at start, so
 * a client cannot pick URLs that pile into one bucket, at about half the
 * cost of libsodium's SipHash-2-4 on the miss path, where this runs for
 * every request. */
uint64_t
cache_key_hash(const void *key, size_t len)
{
	const uint8_t *p = key, *end;
	uint64_t k0, k1, v0, v1, v2, v3, m, b = (uint64_t)len << 56;

	/* One load once the key is drawn, not a call per request. */
	if (!atomic_load_explicit(&hash_ready, memory_order_acquire))
		pthread_once(&hash_once, hash_key_init);
	k0 = le64(hash_key);
	k1 = le64(hash_key + 8);
	v0 = k0 ^ 0x736f6d6570736575ULL;
	v1 = k1 ^ 0x646f72616e646f6dULL;
	v2 = k0 ^ 0x6c7967656e657261ULL;
	v3 = k1 ^ 0x7465646279746573ULL;
	for (end = p + (len & ~(size_t)7); p != end; p += 8) {
		m = le64(p);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	switch (len & 7) {    /* the last 0-7 bytes, as the reference code takes them */
	case 7: b |= (uint64_t)p[6] << 48; /* fall through */
	case 6: b |= (uint64_t)p[5] << 40; /* fall through */
	case 5: b |= (uint64_t)p[4] << 32; /* fall through */
	case 4: b |= (uint64_t)p[3] << 24; /* fall through */
	case 3: b |= (uint64_t)p[2] << 16; /* fall through */
	case 2: b |= (uint64_t)p[1] << 8; /* fall through */
	case 1: b |= (uint64_t)p[0]; break;
	case 0: break;
	}
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static int pass_marked(struct cache_store *s, uint64_t hash, int64_t now);

/* ---- objects -------------------------------------------------------------- */

struct cache_obj *
cache_obj_new(const void *key, size_t klen, const void *vary, size_t vlen, const void *head, size_t hlen,
    size_t body_hint)
{
	return cache_obj_new_aux(cache_key_hash(key, klen), key, klen, vary, vlen, head, hlen, NULL, 0, body_hint);
}

struct cache_obj *
cache_obj_new_aux(uint64_t hash, const void *key, size_t klen, const void *vary, size_t vlen, const void *head,
    size_t hlen, const void *aux, size_t alen, size_t body_hint)
{
	/* aux first, where mem is aligned. A body of known length goes in
	 * the same allocation, after the head: one malloc per stored
	 * response, not two, and nothing to shrink at insertion. */
	size_t apad = (alen + 7) & ~(size_t)7;
	struct cache_obj *o = malloc(sizeof(*o) + apad + klen + vlen + hlen + body_hint);
	uint8_t *p;

	if (o == NULL)
		return NULL;
	/* Not calloc: the bytes after the fields are all written below. */
	memset(o, 0, sizeof(*o));
	p = o->mem;
	if (alen > 0)
		memcpy(p, aux, alen);
	o->aux = p;
	o->aux_len = (uint32_t)alen;
	p += apad;
	memcpy(p, key, klen);
	o->key = p;
	p += klen;
	if (vlen > 0)
		memcpy(p, vary, vlen);
	o->vary = p;
	p += vlen;
	memcpy(p, head, hlen);
	o->head = p;
	o->key_len = (uint32_t)klen;
	o->vary_len = (uint32_t)vlen;
	o->head_len = (uint32_t)hlen;
	o->hash = hash;
	if (body_hint > 0) {
		o->body = p + hlen;
		o->body_cap = body_hint;
		o->body_inline = 1;
	}
	return o;
}

int
cache_obj_append(struct cache_obj *o, const void *p, size_t n, size_t max)
{
	if (n == 0)
		return 0;
	if (o->body_len + n > max)
		return -1;
	if (o->body_len + n > o->body_cap) {
		size_t cap = o->body_cap ? o->body_cap : 4096;
		uint8_t *nb;
		while (cap < o->body_len + n)
			cap *= 2;
		if (cap > max)
			cap = max;
		if (o->body_inline) {
			/* More than the length said: a block of its own. */
			if ((nb = malloc(cap)) == NULL)
				return -1;
			memcpy(nb, o->body, o->body_len);
			o->body_inline = 0;
		} else if ((nb = realloc(o->body, cap)) == NULL) {
			return -1;
		}
		o->body = nb;
		o->body_cap = cap;
	}
	memcpy(o->body + o->body_len, p, n);
	o->body_len += n;
	return 0;
}

void
cache_obj_free(struct cache_obj *o)
{
	if (o == NULL)
		return;
	if (!o->body_inline)
		free(o->body);
	free(o);
}

/* ---- segments ------------------------------------------------------------- */

static void
seg_unlink(struct cache_store *s, struct cache_obj *o)
{
	struct seg *g = &s->seg[o->seg];

	if (o->prev != NULL)
		o->prev->next = o->next;
	else
		g->head = o->next;
	if (o->next != NULL)
		o->next->prev = o->prev;
	else
		g->tail = o->prev;
	g->bytes -= o->cost;
	o->prev = o->next = NULL;
	o->seg = CACHE_SEG_NONE;
}

static void
seg_push(struct cache_store *s, struct cache_obj *o, uint8_t which)
{
	struct seg *g = &s->seg[which];

	o->seg = which;
	o->prev = NULL;
	o->next = g->head;
	if (g->head != NULL)
		g->head->prev = o;
	else
		g->tail = o;
	g->head = o;
	g->bytes += o->cost;
}

/* ---- the table ------------------------------------------------------------ */

static int
same_vary(const struct cache_obj *a, const struct cache_obj *b)
{
	return a->vary_len == b->vary_len && memcmp(a->vary, b->vary, a->vary_len) == 0;
}

static int
same_key(const struct cache_obj *o, uint64_t hash, const void *key, size_t klen)
{
	return o->hash == hash && o->key_len == klen && memcmp(o->key, key, klen) == 0;
}

/* O(1), through o->hprev: the eviction's unlink reads nothing but the
 * victim (walking its bucket from the head read objects that are in no
 * CPU cache). */
static void
tab_unlink(struct cache_store *s, struct cache_obj *o)
{
	if (o->hprev != NULL) {
		*o->hprev = o->hnext;
		if (o->hnext != NULL)
			o->hnext->hprev = o->hprev;
		s->count--;
	}
	o->hnext = NULL;
	o->hprev = NULL;
}

static void
tab_push(struct cache_obj **slot, struct cache_obj *o)
{
	o->hnext = *slot;
	if (*slot != NULL)
		(*slot)->hprev = &o->hnext;
	*slot = o;
	o->hprev = slot;
}

static void
tab_grow(struct cache_store *s)
{
	size_t n = s->nbuckets ? s->nbuckets * 2 : 1024;
	struct cache_obj **t = calloc(n, sizeof(*t));

	if (t == NULL)
		return;    /* longer chains, still correct */
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct cache_obj *o = s->tab[i], *nx;
		for (; o != NULL; o = nx) {
			nx = o->hnext;
			tab_push(&t[o->hash & (n - 1)], o);
		}
	}
	free(s->tab);
	/* Atomic stores: cache_store_prefetch() reads the two without the
	 * lock (a mismatched pair only prefetches the wrong line). */
	__atomic_store_n(&s->tab, t, __ATOMIC_RELAXED);
	__atomic_store_n(&s->nbuckets, n, __ATOMIC_RELAXED);
}

/* Takes o out of the table and its segment; frees it unless a request
 * still holds it (the last unref frees it then). Store lock held. */
static void
drop(struct cache_store *s, struct cache_obj *o)
{
	tab_unlink(s, o);
	seg_unlink(s, o);
	s->bytes -= o->cost;
	atomic_store_explicit(&s->st.objects, s->count, memory_order_relaxed);
	atomic_store_explicit(&s->st.bytes, s->bytes, memory_order_relaxed);
	if (o->refs == 0)
		cache_obj_free(o);
}

static void
evict_to(struct cache_store *s, uint64_t bound)
{
	while (s->bytes > bound) {
		struct cache_obj *v = s->seg[CACHE_SEG_PROBATION].tail;
		if (v == NULL)
			v = s->seg[CACHE_SEG_PROTECTED].tail;
		if (v == NULL)
			break;
		atomic_fetch_add_explicit(&s->st.evicted, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->st.evicted_bytes, v->cost, memory_order_relaxed);
		drop(s, v);
	}
}

/* The protected segment over its share: its least recently used go back
 * to probation (most recently used end), where they get one more chance. */
static void
protected_trim(struct cache_store *s)
{
	uint64_t cap = s->size / 100 * PROTECTED_PCT;

	while (s->seg[CACHE_SEG_PROTECTED].bytes > cap && s->seg[CACHE_SEG_PROTECTED].tail != NULL) {
		struct cache_obj *o = s->seg[CACHE_SEG_PROTECTED].tail;
		seg_unlink(s, o);
		seg_push(s, o, CACHE_SEG_PROBATION);
	}
}

static void unlead_locked(struct cache_store *s, struct cache_pending *p);

/* Store lock held: o into the table (0), or -1 when it cannot be (too
 * large for the bound, no table): then the caller frees it unless held. */
static int
insert_locked(struct cache_store *s, struct cache_obj *o)
{
	struct cache_obj **pp;

	if (o->cost > s->size || o->body_len > s->max_object) {
		atomic_fetch_add_explicit(&s->st.not_stored[CACHE_NS_TOO_LARGE], 1, memory_order_relaxed);
		return -1;
	}
	if (s->count >= s->nbuckets)
		tab_grow(s);
	if (s->nbuckets == 0)
		return -1;
	/* A newer response replaces the stored one for the same key and
	 * Vary values: RFC 9111 §4 has a cache use the most recent of several
	 * suitable responses, so the older one is dead weight. And a key
	 * keeps at most CACHE_MAX_VARIANTS: a lookup walks its variants under
	 * the lock, comparing request fields, so a client varying a field
	 * the origin's Vary names (User-Agent, say) must not grow that walk
	 * without bound; the oldest goes. */
	{
		struct cache_obj *oldest = NULL, *same = NULL;
		unsigned variants = 0;
		for (pp = &s->tab[o->hash & (s->nbuckets - 1)]; *pp != NULL; pp = &(*pp)->hnext) {
			if (!same_key(*pp, o->hash, o->key, o->key_len))
				continue;
			if (same == NULL && same_vary(*pp, o))
				same = *pp;
			variants++;
			if (oldest == NULL || (*pp)->seq < oldest->seq)
				oldest = *pp;
		}
		if (same != NULL) {
			atomic_fetch_add_explicit(&s->st.replaced, 1, memory_order_relaxed);
			drop(s, same);
		} else if (variants >= CACHE_MAX_VARIANTS) {
			atomic_fetch_add_explicit(&s->st.replaced, 1, memory_order_relaxed);
			drop(s, oldest);
		}
	}
	if (pass_marked(s, o->hash, 1))
		atomic_store_explicit(&s->pass[o->hash % CACHE_PASS_SLOTS].until, 0, memory_order_relaxed);  /* storable again */
	o->seq = ++s->seq;
	tab_push(&s->tab[o->hash & (s->nbuckets - 1)], o);
	s->count++;
	s->bytes += o->cost;
	seg_push(s, o, CACHE_SEG_PROBATION);
	atomic_fetch_add_explicit(&s->st.stored, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->st.stored_bytes, o->cost, memory_order_relaxed);
	evict_to(s, s->size);
	atomic_store_explicit(&s->st.objects, s->count, memory_order_relaxed);
	atomic_store_explicit(&s->st.bytes, s->bytes, memory_order_relaxed);
	return 0;
}

void
cache_store_insert(struct cache_store *s, struct cache_obj *o)
{
	cache_store_insert_unlead(s, o, NULL);
}

void
cache_store_insert_unlead(struct cache_store *s, struct cache_obj *o, struct cache_pending *p)
{
	int rc;

	if (!o->body_inline && o->body_cap > o->body_len && o->body_len > 0) {
		/* Give back what a growing body over-reserved. */
		uint8_t *nb = realloc(o->body, o->body_len);
		if (nb != NULL) {
			o->body = nb;
			o->body_cap = o->body_len;
		}
	}
	o->cost = sizeof(*o) + o->aux_len + o->key_len + o->vary_len + o->head_len + o->body_cap;
	/* One lock for the insertion and the end of the fetch: the waiters
	 * find the object when they see the fetch gone. */
	pthread_mutex_lock(&s->mu);
	rc = insert_locked(s, o);
	if (p != NULL)
		unlead_locked(s, p);
	pthread_mutex_unlock(&s->mu);
	if (rc == -1 && o->refs == 0)
		cache_obj_free(o);    /* else the holder's unref frees it */
}

static int lead_locked(struct cache_store *s, struct cache_pending *p, int64_t now, int may_lead);

/* Store lock held. */
static struct cache_obj *
lookup_locked(struct cache_store *s, uint64_t hash, const void *key, size_t klen,
    int (*vary_ok)(void *ctx, const struct cache_obj *o), void *ctx, int *key_found)
{
	struct cache_obj *o;

	*key_found = 0;
	if (s->nbuckets == 0)
		return NULL;
	for (o = s->tab[hash & (s->nbuckets - 1)]; o != NULL; o = o->hnext) {
		if (!same_key(o, hash, key, klen))
			continue;
		*key_found = 1;
		if (vary_ok == NULL || vary_ok(ctx, o))
			break;
	}
	if (o != NULL) {
		o->refs++;
		/* SLRU: a second use earns the protected segment. */
		seg_unlink(s, o);
		seg_push(s, o, CACHE_SEG_PROTECTED);
		protected_trim(s);
	}
	return o;
}

struct cache_obj *
cache_store_lookup(struct cache_store *s, uint64_t hash, const void *key, size_t klen,
    int (*vary_ok)(void *ctx, const struct cache_obj *o), void *ctx, int *key_found)
{
	struct cache_obj *o;

	pthread_mutex_lock(&s->mu);
	o = lookup_locked(s, hash, key, klen, vary_ok, ctx, key_found);
	pthread_mutex_unlock(&s->mu);
	return o;
}

struct cache_obj *
cache_store_lookup_lead(struct cache_store *s, uint64_t hash, const void *key, size_t klen,
    int (*vary_ok)(void *ctx, const struct cache_obj *o), void *ctx, int *key_found, struct cache_pending *p,
    int64_t now, int may_lead, int *how)
{
	struct cache_obj *o;

	/* A miss takes the lock once, not once to look and again to lead;
	 * and no other request can store or lead the key in between. */
	pthread_mutex_lock(&s->mu);
	o = lookup_locked(s, hash, key, klen, vary_ok, ctx, key_found);
	*how = o == NULL && p != NULL ? lead_locked(s, p, now, may_lead) : CACHE_ALONE;
	/* A miss that leads probably stores, and storing into a full store
	 * evicts probation's least recently used: its header is fetched now,
	 * a backend's answer ahead of the eviction that reads it. */
	if (*how == CACHE_LEAD && s->seg[CACHE_SEG_PROBATION].tail != NULL)
		__builtin_prefetch(s->seg[CACHE_SEG_PROBATION].tail, 1);
	pthread_mutex_unlock(&s->mu);
	return o;
}

void
cache_store_unref(struct cache_store *s, struct cache_obj *o)
{
	int dead;

	pthread_mutex_lock(&s->mu);
	o->refs--;
	dead = o->refs == 0 && o->seg == CACHE_SEG_NONE;
	pthread_mutex_unlock(&s->mu);
	if (dead)
		cache_obj_free(o);
}

void
cache_store_mark_pass(struct cache_store *s, uint64_t hash, int64_t now, int64_t ttl)
{
	size_t i = hash % CACHE_PASS_SLOTS;

	/* Two fields, two stores: a reader between them sees a mark for
	 * the wrong key at worst, which only changes coalescing. */
	atomic_store_explicit(&s->pass[i].until, now + ttl, memory_order_relaxed);
	atomic_store_explicit(&s->pass[i].hash, hash, memory_order_relaxed);
}

static int
pass_marked(struct cache_store *s, uint64_t hash, int64_t now)
{
	size_t i = hash % CACHE_PASS_SLOTS;

	return atomic_load_explicit(&s->pass[i].hash, memory_order_relaxed) == hash &&
	    atomic_load_explicit(&s->pass[i].until, memory_order_relaxed) > now;
}

int
cache_store_is_pass(struct cache_store *s, uint64_t hash, int64_t now)
{
	return pass_marked(s, hash, now);
}

void
cache_store_prefetch(struct cache_store *s, uint64_t hash)
{
	struct cache_obj **t = __atomic_load_n(&s->tab, __ATOMIC_RELAXED);
	size_t n = __atomic_load_n(&s->nbuckets, __ATOMIC_RELAXED);

	/* A prefetch never faults: a table freed meanwhile is harmless. */
	if (n > 0)
		__builtin_prefetch(&t[hash & (n - 1)]);
}

static struct cache_pending *
pending_find(struct cache_store *s, uint64_t hash, const void *key, size_t klen)
{
	struct cache_pending *p;

	for (p = s->pending[hash & (PENDING_BUCKETS - 1)]; p != NULL; p = p->next)
		if (p->hash == hash && p->klen == klen && memcmp(p->key, key, klen) == 0)
			return p;
	return NULL;
}

static int
lead_locked(struct cache_store *s, struct cache_pending *p, int64_t now, int may_lead)
{
	struct cache_pending **head = &s->pending[p->hash & (PENDING_BUCKETS - 1)];

	if (*head != NULL && pending_find(s, p->hash, p->key, p->klen) != NULL)
		return CACHE_FOLLOW;
	if (may_lead && !pass_marked(s, p->hash, now)) {
		p->next = *head;
		if (p->next != NULL)
			p->next->pprev = &p->next;
		p->pprev = head;
		*head = p;
		p->linked = 1;
		return CACHE_LEAD;
	}
	return CACHE_ALONE;
}

int
cache_store_lead(struct cache_store *s, struct cache_pending *p, int64_t now, int may_lead)
{
	int how;

	pthread_mutex_lock(&s->mu);
	how = lead_locked(s, p, now, may_lead);
	pthread_mutex_unlock(&s->mu);
	return how;
}

static void
unlead_locked(struct cache_store *s, struct cache_pending *p)
{
	(void)s;
	if (!p->linked)
		return;
	*p->pprev = p->next;
	if (p->next != NULL)
		p->next->pprev = p->pprev;
	p->linked = 0;
}

void
cache_store_unlead(struct cache_store *s, struct cache_pending *p)
{
	if (!p->linked)
		return;
	pthread_mutex_lock(&s->mu);
	unlead_locked(s, p);
	pthread_mutex_unlock(&s->mu);
}

int
cache_store_pending(struct cache_store *s, uint64_t hash, const void *key, size_t klen)
{
	int yes;

	pthread_mutex_lock(&s->mu);
	yes = pending_find(s, hash, key, klen) != NULL;
	pthread_mutex_unlock(&s->mu);
	return yes;
}

size_t
cache_store_remove(struct cache_store *s, uint64_t hash, const void *key, size_t klen)
{
	size_t n = 0;

	pthread_mutex_lock(&s->mu);
	if (s->nbuckets > 0) {
		struct cache_obj *o = s->tab[hash & (s->nbuckets - 1)], *nx;
		for (; o != NULL; o = nx) {
			nx = o->hnext;
			if (same_key(o, hash, key, klen)) {
				drop(s, o);
				n++;
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---- registry ------------------------------------------------------------- */

struct cache_store *
cache_store_acquire(const char *name, uint64_t size, uint64_t max_object)
{
	struct cache_store *s;

	pthread_mutex_lock(&reg_mu);
	for (s = reg_head; s != NULL; s = s->next)
		if (strcmp(s->name, name) == 0)
			break;
	if (s != NULL) {
		s->refs++;
		pthread_mutex_unlock(&reg_mu);
		pthread_mutex_lock(&s->mu);
		s->size = size;
		s->max_object = max_object;
		protected_trim(s);
		evict_to(s, s->size);
		pthread_mutex_unlock(&s->mu);
		return s;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		pthread_mutex_unlock(&reg_mu);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	pthread_mutex_init(&s->mu, NULL);
	s->size = size;
	s->max_object = max_object;
	s->refs = 1;
	s->next = reg_head;
	reg_head = s;
	pthread_mutex_unlock(&reg_mu);
	return s;
}

void
cache_store_release(struct cache_store *s)
{
	struct cache_store **pp;

	if (s == NULL)
		return;
	pthread_mutex_lock(&reg_mu);
	if (--s->refs > 0) {
		pthread_mutex_unlock(&reg_mu);
		return;
	}
	for (pp = &reg_head; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&reg_mu);
	/* The last generation naming it is gone, and with it every request
	 * that could hold an object. */
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct cache_obj *o = s->tab[i], *nx;
		for (; o != NULL; o = nx) {
			nx = o->hnext;
			cache_obj_free(o);
		}
	}
	free(s->tab);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

struct cache_store *
cache_store_find(const char *name)
{
	struct cache_store *s;

	pthread_mutex_lock(&reg_mu);
	for (s = reg_head; s != NULL; s = s->next)
		if (strcmp(s->name, name) == 0) {
			s->refs++;
			break;
		}
	pthread_mutex_unlock(&reg_mu);
	return s;
}

/* Drop every object match() accepts; how many. The whole table under the
 * store's lock: operators' purges, not the request path. */
static size_t
purge_where(struct cache_store *s, int (*match)(const struct cache_obj *o, const void *a, const void *b, size_t n),
    const void *a, const void *b, size_t n)
{
	size_t dropped = 0;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct cache_obj *o = s->tab[i], *nx;
		for (; o != NULL; o = nx) {
			nx = o->hnext;
			if (match(o, a, b, n)) {
				drop(s, o);
				dropped++;
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
	return dropped;
}

static int
key_has_prefix(const struct cache_obj *o, const void *prefix, const void *unused, size_t plen)
{
	(void)unused;
	return o->key_len >= plen && memcmp(o->key, prefix, plen) == 0;
}

static int
head_has_tag(const struct cache_obj *o, const void *field, const void *tag, size_t unused)
{
	(void)unused;
	return cache_head_has_tag((const char *)o->head, o->head_len, field, tag);
}

size_t
cache_store_purge_prefix(struct cache_store *s, const void *prefix, size_t plen)
{
	return purge_where(s, key_has_prefix, prefix, NULL, plen);
}

size_t
cache_store_purge_tag(struct cache_store *s, const char *field, const char *tag)
{
	return purge_where(s, head_has_tag, field, tag, 0);
}

const char *
cache_store_name(const struct cache_store *s)
{
	return s->name;
}

uint64_t
cache_store_max_object(const struct cache_store *s)
{
	return s->max_object;
}

struct cache_stats *
cache_store_stats(struct cache_store *s)
{
	return &s->st;
}

void
cache_store_foreach(void (*fn)(void *ctx, struct cache_store *s), void *ctx)
{
	pthread_mutex_lock(&reg_mu);
	for (struct cache_store *s = reg_head; s != NULL; s = s->next)
		fn(ctx, s);
	pthread_mutex_unlock(&reg_mu);
}

/* ---- metrics ---------------------------------------------------------------- */

struct render_ctx { struct buf *o; int fam; };

enum { F_REQ, F_STORED, F_STORED_B, F_EVICT, F_EVICT_B, F_REPLACED, F_NOT, F_REVAL, F_STALE, F_COAL, F_OBJ, F_BYTES, F_SIZE,
	F_MAX };

static const char *const fam_head[F_MAX] = {
	"# HELP tandem_cache_requests_total GET and HEAD requests on routes with a cache, by result: hit, miss, or pass "
	"(the key's last response was not storable: not looked up).\n"
	"# TYPE tandem_cache_requests_total counter\n",
	"# HELP tandem_cache_stored_total Responses put into the cache.\n# TYPE tandem_cache_stored_total counter\n",
	"# HELP tandem_cache_stored_bytes_total Bytes put into the cache (objects with their keys and heads).\n"
	"# TYPE tandem_cache_stored_bytes_total counter\n",
	"# HELP tandem_cache_evicted_total Objects evicted to keep the cache within its size.\n"
	"# TYPE tandem_cache_evicted_total counter\n",
	"# HELP tandem_cache_evicted_bytes_total Bytes evicted to keep the cache within its size.\n"
	"# TYPE tandem_cache_evicted_bytes_total counter\n",
	"# HELP tandem_cache_replaced_total Stored objects replaced by a newer response for the same key and Vary values.\n"
	"# TYPE tandem_cache_replaced_total counter\n",
	"# HELP tandem_cache_not_stored_total Responses on routes with a cache that were not stored, by the first rule that held.\n"
	"# TYPE tandem_cache_not_stored_total counter\n",
	"# HELP tandem_cache_revalidated_total Stale objects the origin confirmed with a 304 (RFC 9111 §4.3.4), then served.\n"
	"# TYPE tandem_cache_revalidated_total counter\n",
	"# HELP tandem_cache_stale_served_total Stale objects served, by reason: the origin failed or no server was up "
	"(error: stale-if-error), or another request was revalidating the object (revalidating: stale-while-revalidate).\n"
	"# TYPE tandem_cache_stale_served_total counter\n",
	"# HELP tandem_cache_coalesced_total Misses that waited for another request's fetch of the same key, by outcome: "
	"answered from it, or gone to the origin themselves (not stored, or the wait ran out).\n"
	"# TYPE tandem_cache_coalesced_total counter\n",
	"# HELP tandem_cache_objects Objects in the cache.\n# TYPE tandem_cache_objects gauge\n",
	"# HELP tandem_cache_bytes Bytes the cache's objects take.\n# TYPE tandem_cache_bytes gauge\n",
	"# HELP tandem_cache_size_bytes The cache's configured size.\n# TYPE tandem_cache_size_bytes gauge\n",
};

#define LD(x) (unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed)

static void
render_one(void *ctx, struct cache_store *s)
{
	struct render_ctx *x = ctx;
	struct cache_stats *st = &s->st;
	const char *n = s->name;

	switch (x->fam) {
	case F_REQ:
		buf_appendf(x->o, "tandem_cache_requests_total{cache=\"%s\",result=\"hit\"} %llu\n"
		    "tandem_cache_requests_total{cache=\"%s\",result=\"miss\"} %llu\n"
		    "tandem_cache_requests_total{cache=\"%s\",result=\"pass\"} %llu\n", n, LD(st->hits), n, LD(st->misses), n,
		    LD(st->passes));
		break;
	case F_STORED: buf_appendf(x->o, "tandem_cache_stored_total{cache=\"%s\"} %llu\n", n, LD(st->stored)); break;
	case F_STORED_B: buf_appendf(x->o, "tandem_cache_stored_bytes_total{cache=\"%s\"} %llu\n", n, LD(st->stored_bytes)); break;
	case F_EVICT: buf_appendf(x->o, "tandem_cache_evicted_total{cache=\"%s\"} %llu\n", n, LD(st->evicted)); break;
	case F_EVICT_B: buf_appendf(x->o, "tandem_cache_evicted_bytes_total{cache=\"%s\"} %llu\n", n, LD(st->evicted_bytes)); break;
	case F_REPLACED: buf_appendf(x->o, "tandem_cache_replaced_total{cache=\"%s\"} %llu\n", n, LD(st->replaced)); break;
	case F_NOT:
		for (int i = 1; i < CACHE_NS_MAX; i++)
			buf_appendf(x->o, "tandem_cache_not_stored_total{cache=\"%s\",reason=\"%s\"} %llu\n", n,
			    cache_nostore_str((enum cache_nostore)i), LD(st->not_stored[i]));
		break;
	case F_REVAL: buf_appendf(x->o, "tandem_cache_revalidated_total{cache=\"%s\"} %llu\n", n, LD(st->revalidated)); break;
	case F_STALE:
		buf_appendf(x->o, "tandem_cache_stale_served_total{cache=\"%s\",reason=\"error\"} %llu\n"
		    "tandem_cache_stale_served_total{cache=\"%s\",reason=\"revalidating\"} %llu\n", n, LD(st->stale_served), n,
		    LD(st->stale_updating));
		break;
	case F_COAL:
		buf_appendf(x->o, "tandem_cache_coalesced_total{cache=\"%s\",result=\"answered\"} %llu\n"
		    "tandem_cache_coalesced_total{cache=\"%s\",result=\"forwarded\"} %llu\n", n, LD(st->coalesced), n,
		    LD(st->coalesce_gave_up));
		break;
	case F_OBJ: buf_appendf(x->o, "tandem_cache_objects{cache=\"%s\"} %llu\n", n, LD(st->objects)); break;
	case F_BYTES: buf_appendf(x->o, "tandem_cache_bytes{cache=\"%s\"} %llu\n", n, LD(st->bytes)); break;
	case F_SIZE:
		pthread_mutex_lock(&s->mu);
		buf_appendf(x->o, "tandem_cache_size_bytes{cache=\"%s\"} %llu\n", n, (unsigned long long)s->size);
		pthread_mutex_unlock(&s->mu);
		break;
	}
}

static void
count_one(void *ctx, struct cache_store *s)
{
	(void)s;
	(*(int *)ctx)++;
}

void
cache_store_render(struct buf *o)
{
	struct render_ctx x = { o, 0 };
	int n = 0;

	cache_store_foreach(count_one, &n);
	if (n == 0)
		return;     /* no cache configured: no families */
	for (x.fam = 0; x.fam < F_MAX; x.fam++) {
		buf_append(o, fam_head[x.fam], strlen(fam_head[x.fam]));
		cache_store_foreach(render_one, &x);
	}
}

/* ---- the warm-standby digest (proxyd/cache_digest.c, proxyd/prefetch.c) ---- */

size_t
cache_store_hottest(struct cache_store *s, size_t max, void (*fn)(void *ctx, const struct cache_obj *o), void *ctx)
{
	size_t n = 0;
	const struct cache_obj *prev = NULL;

	pthread_mutex_lock(&s->mu);
	/* The protected segment from its most recently used end: objects hit
	 * at least once after they were stored, the latest first. Probation
	 * is left out: a one-hit scan, or a peer's prefetch no client asked
	 * for yet, is not hot. Variants of one key are adjacent only by
	 * chance; the caller skips a key it already listed. */
	for (const struct cache_obj *o = s->seg[CACHE_SEG_PROTECTED].head; o != NULL && n < max; o = o->next) {
		if (prev != NULL && prev->key_len == o->key_len && memcmp(prev->key, o->key, o->key_len) == 0)
			continue;
		fn(ctx, o);
		prev = o;
		n++;
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

int
cache_store_has_fresh(struct cache_store *s, uint64_t hash, const void *key, size_t klen, int64_t now)
{
	int fresh = 0;

	pthread_mutex_lock(&s->mu);
	if (s->nbuckets > 0)
		for (const struct cache_obj *o = s->tab[hash & (s->nbuckets - 1)]; o != NULL && !fresh; o = o->hnext)
			/* §4.2: fresh while the lifetime exceeds the current age
			 * (§4.2.3: the age it arrived with plus the time since). */
			if (same_key(o, hash, key, klen) && o->lifetime > o->initial_age + (now - o->response_time))
				fresh = 1;
	pthread_mutex_unlock(&s->mu);
	return fresh;
}
